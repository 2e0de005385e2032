// Kernel micro-benchmark: GEMM GFLOP/s at the W1/W4 shapes (each call packing its op(B), and the
// per-step products also as the sequence loops run them, W_hh packed once) and LSTM sequence
// tokens/s, for the
// reference, wasm-simd and wasm-relaxed-simd backends and the two-thread build of the best
// variant (wasm-relaxed-simd-threads, src/kernels/wasm/threaded.ts), one benchmark at a time (the
// machine is shared: never run two benchmarks concurrently). Rows with both one and two threads
// print the ratio two/one threads. One-thread WebAssembly rows also give the product's share of
// the multiply-add peak (asm fma_peak: 12 independent f32x4 chains, no memory traffic) timed in
// alternation with it, since this VM's clock drifts. LSTM rows also give tokens/s by the main thread's CPU time
// (Linux), the figure for a machine with a core per thread: under a scheduler's per-session fair
// share a busy shared machine gives the process the same CPU with one thread or two.
//
//   npm run bench:kernels                  all backends
//   node dist/bench/kernels.js wasm-simd   only the named backends (reference|wasm-simd|wasm-relaxed-simd|
//                                          wasm-simd-threads|wasm-relaxed-simd-threads)
//   node dist/bench/kernels.js --threads 2 only the best variant, on one and on two threads
//   node dist/bench/kernels.js --quick     fewer repetitions
//   node dist/bench/kernels.js --w4        also the W4 LSTM layer (I=H=512, B=64, T=64; slow)
//   node dist/bench/kernels.js --gemm W3   only the GEMM rows whose description contains the text
//
// On Node 20 relaxed SIMD needs --experimental-wasm-relaxed-simd; when it is missing and Node
// accepts the flag (< 22), this script re-executes itself with it.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { layerBackward, layerForward } from '../src/kernels/layer-ops.js';
import { referenceBackend } from '../src/kernels/reference.js';
import { allocCache, gateWidth, type Backend } from '../src/kernels/types.js';
import { relaxedSimdSupported, tryLoadWasmBackend, unavailableReason, type WasmVariant } from '../src/kernels/wasm/backend.js';
import { ThreadedWasmBackend, threadedUnavailableReason } from '../src/kernels/wasm/threaded.js';

const nodeMajor = Number(process.versions.node.split('.')[0]);
if (!relaxedSimdSupported() && nodeMajor < 22 && !process.env.RNNKIT_BENCH_REEXEC) {
  const r = spawnSync(
    process.execPath,
    ['--experimental-wasm-relaxed-simd', fileURLToPath(import.meta.url), ...process.argv.slice(2)],
    { stdio: 'inherit', env: { ...process.env, RNNKIT_BENCH_REEXEC: '1' } },
  );
  process.exit(r.status ?? 1);
}

const args = process.argv.slice(2);
const quick = args.includes('--quick');
const withW4 = args.includes('--w4');
const threadsArg = args.indexOf('--threads');
const threadsOnly = threadsArg >= 0 && args[threadsArg + 1] === '2';
if (threadsArg >= 0 && !['1', '2'].includes(args[threadsArg + 1] ?? '')) throw new Error('--threads: expected 1 or 2');
const gemmArg = args.indexOf('--gemm');
const gemmOnly = gemmArg >= 0 ? args[gemmArg + 1] : undefined;
if (gemmArg >= 0 && (!gemmOnly || gemmOnly.startsWith('--'))) throw new Error('--gemm: expected a text to look for in the GEMM rows\' descriptions, e.g. --gemm W3');
const only = args.filter((a, i) => !a.startsWith('--') && (threadsArg < 0 || i !== threadsArg + 1) && (gemmArg < 0 || i !== gemmArg + 1));
const best: WasmVariant = unavailableReason('wasm-relaxed-simd') === null ? 'wasm-relaxed-simd' : 'wasm-simd';
const names = ['reference', 'wasm-simd', 'wasm-relaxed-simd', 'wasm-simd-threads', 'wasm-relaxed-simd-threads'] as const;
const wanted = (name: string): boolean => {
  if (only.length > 0) return only.includes(name);
  if (threadsOnly) return name === best || name === `${best}-threads`;
  return name !== 'wasm-simd-threads' && (name !== 'wasm-relaxed-simd-threads' || best === 'wasm-relaxed-simd');
};
const backends: Backend[] = [];
for (const name of names) {
  if (!wanted(name)) continue;
  if (name === 'reference') { backends.push(referenceBackend); continue; }
  if (name.endsWith('-threads')) {
    const variant = name.slice(0, -'-threads'.length) as WasmVariant;
    const why = threadedUnavailableReason(variant);
    if (why) { console.log(`${name}: not available (${why})`); continue; }
    backends.push(ThreadedWasmBackend.createSync({ variant }));
    continue;
  }
  const b = tryLoadWasmBackend(name as WasmVariant);
  if (b) backends.push(b);
  else console.log(`${name}: not available (${unavailableReason(name as WasmVariant)})`);
}
/** The one-thread backend of a two-thread one, when both are benchmarked (for the ratio). */
const singleOf = (be: Backend): Backend | undefined =>
  be instanceof ThreadedWasmBackend ? backends.find((b) => b.name === be.variant) : undefined;

function rand(n: number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  let s = 12345;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    a[i] = ((s >>> 8) / 16777216 * 2 - 1) * scale;
  }
  return a;
}

/**
 * Runs fn repeatedly (after one warm-up run) until `minSeconds` have passed and at least
 * `minReps` runs were timed; returns the best and the median time in seconds. On a shared,
 * noisy machine the best of many runs is the stable figure; the median shows the noise.
 * `alongside` (timed too, best in bestAlongside) runs after each run of fn: a reference that
 * sees the same machine speed as fn, minute by minute.
 */
function time(fn: () => void, minSeconds: number, minReps: number, alongside?: () => void): { best: number; median: number; bestAlongside?: number } {
  fn();
  const ts: number[] = [], along: number[] = [];
  const start = performance.now();
  while (ts.length < minReps || (performance.now() - start) / 1000 < minSeconds) {
    const t0 = performance.now();
    fn();
    const t1 = performance.now();
    ts.push((t1 - t0) / 1000);
    if (alongside) { alongside(); along.push((performance.now() - t1) / 1000); }
    if (ts.length >= 400) break;
  }
  ts.sort((a, b) => a - b);
  return { best: ts[0]!, median: ts[ts.length >> 1]!, ...(alongside ? { bestAlongside: Math.min(...along) } : {}) };
}

/**
 * CPU time in ms of this process's main thread and of all its other threads (Linux /proc; null
 * elsewhere). On a shared machine the scheduler (autogroup fair share) gives a process about the
 * same CPU whatever its thread count, so wall times cannot show what a second thread gains; the
 * main thread's CPU time per run — it computes or spins, never idles — is what the run would take
 * with a core to itself.
 */
function cpuMs(): { main: number; others: number } | null {
  if (!existsSync('/proc/self/task')) return null;
  const tick = 10; // USER_HZ = 100
  let main = 0, others = 0;
  for (const t of readdirSync('/proc/self/task')) {
    let stat: string;
    try { stat = readFileSync(`/proc/self/task/${t}/stat`, 'utf8'); } catch { continue; }
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const ms = (Number(f[11]) + Number(f[12])) * tick;
    if (Number(t) === process.pid) main += ms; else others += ms;
  }
  return { main, others };
}

const fmt = (x: number, d = 1): string => x.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

// ---- GEMM ----
interface GemmShape { M: number; N: number; K: number; tA: boolean; tB: boolean; what: string }
const shapes: GemmShape[] = [
  { M: 2048, N: 1024, K: 64, tA: false, tB: true, what: 'W1 input projection x·W_ihᵀ' },
  { M: 2048, N: 1024, K: 256, tA: false, tB: true, what: 'H=256 projection' },
  { M: 4096, N: 2048, K: 512, tA: false, tB: true, what: 'W4 input projection' },
  { M: 32, N: 1024, K: 256, tA: false, tB: true, what: 'W1 per-step h·W_hhᵀ' },
  { M: 64, N: 2048, K: 512, tA: false, tB: true, what: 'W4 per-step h·W_hhᵀ' },
  { M: 1024, N: 256, K: 2048, tA: true, tB: false, what: 'W1 dW_hh = dghᵀ·H' },
  { M: 1024, N: 64, K: 2048, tA: true, tB: false, what: 'W1 dW_ih = dxgᵀ·X' },
  { M: 2048, N: 64, K: 1024, tA: false, tB: false, what: 'W1 dX = dxg·W_ih' },
  { M: 2048, N: 512, K: 4096, tA: true, tB: false, what: 'W4 dW_hh = dghᵀ·H' },
  { M: 4096, N: 512, K: 2048, tA: false, tB: false, what: 'W4 dX = dxg·W_ih' },
  // W3 (H = 128, E = 64, T·B = 12,800; ~7,200 distinct token rows per batch of random ids)
  { M: 512, N: 128, K: 12800, tA: true, tB: false, what: 'W3 dW_hh = dghᵀ·H' },
  { M: 512, N: 64, K: 7200, tA: true, tB: false, what: 'W3 dW_ih = Sᵀ·E (table rows)' },
  { M: 7200, N: 512, K: 64, tA: false, tB: true, what: 'W3 table projection E·W_ihᵀ' },
  { M: 7200, N: 64, K: 512, tA: false, tB: false, what: 'W3 table gradient S·W_ih' },
];

console.log(`Node ${process.version}, ${quick ? 'quick' : 'full'} run; best (median) of repeated runs`);

// ---- The multiply-add peak of each single-thread build (fma_peak: 12 independent f32x4 chains,
// no memory traffic), timed alongside each product — its calls alternate with the product's — so
// that "% of peak" compares rates under the same machine speed (a shared VM's clock drifts). ----
interface PeakKernels { fma_peak?(n: number, x: number, y: number): number }
const PEAK_ROUNDS = 100_000; // 9.6 Mflop per call
function peakRunner(be: Backend): (() => void) | undefined {
  const k = (be as { kernels?: PeakKernels }).kernels;
  if (!k?.fma_peak || be instanceof ThreadedWasmBackend) return undefined;
  return () => { k.fma_peak!(PEAK_ROUNDS, 0.99999994, 1e-7); };
}
/** " NN%": a product's best rate as a share of the peak timed alongside it. */
const ofPeak = (gflops: number, bestAlongside?: number): string =>
  (bestAlongside === undefined ? '' : ` ${Math.round(100 * gflops / (96 * PEAK_ROUNDS / bestAlongside / 1e9))}%`);
{
  const cells = backends.flatMap((be) => {
    const run = peakRunner(be);
    if (!run) return [];
    const t = time(run, quick ? 0.2 : 0.5, 9);
    return [`${be.name} ${fmt(96 * PEAK_ROUNDS / t.best / 1e9)}`];
  });
  if (cells.length) console.log(`\nMultiply-add peak (12 independent f32x4 chains, no memory traffic), one thread, GFLOP/s: ${cells.join('  ')}`);
}

console.log('\nGEMM C = op(A)·op(B), GFLOP/s = 2MNK / time; %: of the multiply-add peak timed alongside');
const bestTime = new Map<Backend, number>();
for (const s of shapes) {
  if (gemmOnly !== undefined && !s.what.includes(gemmOnly)) continue;
  bestTime.clear();
  const A = rand((s.tA ? s.K : s.M) * (s.tA ? s.M : s.K));
  const B = rand(s.K * s.N);
  const C = new Float32Array(s.M * s.N);
  const flops = 2 * s.M * s.N * s.K;
  const cells: string[] = [];
  for (const be of backends) {
    const lda = s.tA ? s.M : s.K, ldb = s.tB ? s.K : s.N;
    const run = (): void => be.gemm(s.tA, s.tB, s.M, s.N, s.K, A, lda, B, ldb, C, s.N, false);
    // The reference runs at well under 1 GFLOP/s: time it once, and not at all on the largest
    // shapes (seconds to tens of seconds each).
    const slow = be === referenceBackend;
    if (slow && flops > 1.5e9) { cells.push(`${be.name} (skipped)`); continue; }
    const t = time(run, slow || quick ? 0 : 1.5, slow ? 1 : quick ? 3 : 5, peakRunner(be));
    bestTime.set(be, t.best);
    const one = singleOf(be), tOne = one ? bestTime.get(one) : undefined;
    cells.push(`${be.name} ${fmt(flops / t.best / 1e9)}${ofPeak(flops / t.best / 1e9, t.bestAlongside)} (${fmt(flops / t.median / 1e9)})${tOne ? ` x${fmt(tOne / t.best, 2)}` : ''}`);
  }
  const tag = `${s.M}x${s.N}x${s.K} ${s.tA ? 'T' : 'N'}${s.tB ? 'T' : 'N'}`;
  console.log(`  ${tag.padEnd(18)} ${s.what.padEnd(30)} ${cells.join('  ')}`);
}

if (gemmOnly !== undefined) {
  for (const be of backends) if (be instanceof ThreadedWasmBackend) be.terminate();
  process.exit(0);
}

// ---- Per-step products as the sequence loops run them: W_hh packed once per call ----
// The rows above pack op(B) in every call; the loops pack W_hh once and then run T products on
// it (gemm_packed). One thread; the raw kernel exports on memory beyond the backend's region.
interface PackedKernels {
  memory: WebAssembly.Memory;
  pack_b_nr8(transB: number, K: number, N: number, B: number, ldb: number, P: number): void;
  packed_bytes(K: number, N: number): number;
  gemm_packed(...a: number[]): void;
  __setArgumentsLength?(n: number): void;
}
const stepShapes = shapes.filter((s) => s.what.includes('per-step'));
console.log('\nPer-step products with W_hh packed once (as the sequence loops run them), GFLOP/s; % of the peak timed alongside');
for (const s of stepShapes) {
  const cells: string[] = [];
  for (const be of backends) {
    const k = (be as { kernels?: PackedKernels }).kernels;
    if (!k || be instanceof ThreadedWasmBackend) continue;
    const mem = k.memory, base = Math.ceil(mem.buffer.byteLength / 64) * 64;
    const pA = base, pW = pA + s.M * s.K * 4, pP = pW + s.N * s.K * 4, pC = pP + k.packed_bytes(s.K, s.N);
    const need = pC + s.M * s.N * 4 - mem.buffer.byteLength;
    if (need > 0) mem.grow(Math.ceil(need / 65536));
    const f32 = new Float32Array(mem.buffer);
    f32.set(rand(s.M * s.K), pA >> 2);
    f32.set(rand(s.N * s.K, 1 / Math.sqrt(s.K)), pW >> 2);
    k.pack_b_nr8(1, s.K, s.N, pW, s.K, pP);
    const T = 64;
    const run = (): void => {
      for (let t = 0; t < T; t++) {
        k.__setArgumentsLength?.(12);
        k.gemm_packed(s.M, s.N, s.K, pA, s.K * 4, 4, pP, s.K * 32, pC, s.N, 0, 0);
      }
    };
    const t = time(run, quick ? 0 : 1.5, quick ? 3 : 5, peakRunner(be));
    const flops = 2 * s.M * s.N * s.K * T;
    cells.push(`${be.name} ${fmt(flops / t.best / 1e9)}${ofPeak(flops / t.best / 1e9, t.bestAlongside)} (${fmt(flops / t.median / 1e9)})`);
  }
  const tag = `${s.M}x${s.N}x${s.K} NT`;
  console.log(`  ${tag.padEnd(18)} ${s.what.padEnd(30)} ${cells.join('  ')}`);
}

// ---- LSTM layer (one direction): W1 shape ----
function lstmBench(be: Backend, I: number, H: number, B: number, T: number, withBackward: boolean) {
  const kind = 'lstm' as const, G = gateWidth(kind, H), TB = T * B;
  const x = rand(TB * I), wih = rand(G * I, 1 / Math.sqrt(I)), whh = rand(G * H, 1 / Math.sqrt(H));
  const bih = rand(G, 0.1), bhh = rand(G, 0.1);
  const out = new Float32Array(TB * H);
  const h0 = new Float32Array(B * H), c0 = new Float32Array(B * H), hN = new Float32Array(B * H), cN = new Float32Array(B * H);
  const cache = allocCache((n) => new Float32Array(n), kind, T, B, H);
  const dOut = rand(TB * H, 0.1), dx = new Float32Array(TB * I);
  const dwih = new Float32Array(G * I), dwhh = new Float32Array(G * H), dbih = new Float32Array(G), dbhh = new Float32Array(G);
  const dh0 = new Float32Array(B * H), dc0 = new Float32Array(B * H);
  const shape = { kind, resetAfter: false, T, B, H, I, lengths: null, reverse: false };
  // One direction of a layer as the library runs it (src/kernels/layer-ops.ts): fused into one
  // call on the WebAssembly backends, composed from gemm + sequence loop on the reference.
  const forward = (): void => {
    layerForward(be, { ...shape, x, wih, whh, bih, bhh, h0, c0, out, outOffset: 0, ldOut: H, cache: withBackward ? cache : null, hN, cN });
  };
  const backward = (): void => {
    layerBackward(be, {
      ...shape, x, wih, whh, bhh, cache, dOut, dOutOffset: 0, ldDOut: H, dhN: null, dcN: null,
      dx, accumulateDx: false, dWih: dwih, dWhh: dwhh, dbih, dbhh, dh0, dc0,
    });
  };
  const slow = be === referenceBackend;
  const reps = slow ? 1 : quick ? 3 : 5, secs = slow || quick ? 0 : 3;
  const tf = time(forward, secs, reps);
  const tb = withBackward ? time(backward, secs, reps) : null;
  // CPU time per forward+backward, over a separate loop of at least 2 s (10 ms clock ticks).
  let cpu: { main: number; others: number } | null = null;
  const cpuStart = withBackward && !slow ? cpuMs() : null;
  if (cpuStart) {
    let n = 0;
    const t0 = performance.now();
    while (n < 3 || performance.now() - t0 < (quick ? 1000 : 2500)) { forward(); backward(); n++; }
    const cpuEnd = cpuMs()!;
    cpu = { main: (cpuEnd.main - cpuStart.main) / n, others: (cpuEnd.others - cpuStart.others) / n };
  }
  return { tf, tb, tokens: TB, cpu };
}

function lstmRows(I: number, H: number, B: number, T: number, skipReference: boolean): void {
  const fbBest = new Map<Backend, number>();
  for (const be of backends) {
    if (skipReference && be === referenceBackend) { console.log(`  ${be.name.padEnd(26)} (skipped)`); continue; }
    const r = lstmBench(be, I, H, B, T, true);
    const f = r.tokens / r.tf.best, b = r.tokens / r.tb!.best;
    const fb = r.tokens / (r.tf.best + r.tb!.best);
    const fbm = r.tokens / (r.tf.median + r.tb!.median);
    fbBest.set(be, fb);
    const one = singleOf(be), fbOne = one ? fbBest.get(one) : undefined;
    console.log(
      `  ${be.name.padEnd(26)} forward ${fmt(f, 0).padStart(8)}  backward ${fmt(b, 0).padStart(8)}  ` +
      `forward+backward ${fmt(fb, 0).padStart(8)} (median ${fmt(fbm, 0)})${fbOne ? `  x${fmt(fb / fbOne, 2)}` : ''}`,
    );
    if (r.cpu) {
      const byCpu = r.tokens / (r.cpu.main / 1000);
      cpuBest.set(be, byCpu);
      const cpuOne = one ? cpuBest.get(one) : undefined;
      console.log(
        `  ${''.padEnd(26)} by main-thread CPU time: forward+backward ${fmt(byCpu, 0).padStart(8)} tokens/s` +
        ` (${fmt(r.cpu.main, 1)} ms main, ${fmt(r.cpu.others, 1)} ms other threads per step)` +
        `${cpuOne ? `  x${fmt(byCpu / cpuOne, 2)}` : ''}`,
      );
    }
  }
}
const cpuBest = new Map<Backend, number>();

console.log('\nLSTM I=64 H=256 B=32 T=64 (W1 layer, one direction), tokens/s = B·T / time; forward includes');
console.log('x·W_ihᵀ + b, backward the dx, dW_ih, dW_hh products and bias sums (one call each on WebAssembly)');
lstmRows(64, 256, 32, 64, false);
if (withW4) {
  console.log('\nLSTM I=512 H=512 B=64 T=64 (W4 layer), same as above');
  lstmRows(512, 512, 64, 64, true);
}

console.log('\nLSTM inference latency I=64 H=256 B=1 T=64 (W5a), ms per sequence, forward only, nothing kept for backward');
for (const be of backends) {
  const r = lstmBench(be, 64, 256, 1, 64, false);
  console.log(`  ${be.name.padEnd(26)} ${fmt(r.tf.best * 1e3, 3)} ms (median ${fmt(r.tf.median * 1e3, 3)})`);
}
for (const be of backends) if (be instanceof ThreadedWasmBackend) be.terminate();
