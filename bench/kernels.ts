// Kernel micro-benchmark: GEMM GFLOP/s at the W1/W4 shapes and LSTM sequence tokens/s, for the
// reference, wasm-simd and wasm-relaxed-simd backends, one benchmark at a time (the machine is
// shared: never run two benchmarks concurrently).
//
//   npm run bench:kernels                  all backends
//   node dist/bench/kernels.js wasm-simd   only the named backends (reference|wasm-simd|wasm-relaxed-simd)
//   node dist/bench/kernels.js --quick     fewer repetitions
//
// On Node 20 relaxed SIMD needs --experimental-wasm-relaxed-simd; when it is missing and Node
// accepts the flag (< 22), this script re-executes itself with it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { referenceBackend } from '../src/kernels/reference.js';
import { allocCache, gateWidth, type Backend } from '../src/kernels/types.js';
import { relaxedSimdSupported, tryLoadWasmBackend, unavailableReason } from '../src/kernels/wasm/backend.js';

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
const only = args.filter((a) => !a.startsWith('--'));
const names = ['reference', 'wasm-simd', 'wasm-relaxed-simd'] as const;
const backends: Backend[] = [];
for (const name of names) {
  if (only.length > 0 && !only.includes(name)) continue;
  if (name === 'reference') { backends.push(referenceBackend); continue; }
  const b = tryLoadWasmBackend(name);
  if (b) backends.push(b);
  else console.log(`${name}: not available (${unavailableReason(name)})`);
}

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
 */
function time(fn: () => void, minSeconds: number, minReps: number): { best: number; median: number } {
  fn();
  const ts: number[] = [];
  const start = performance.now();
  while (ts.length < minReps || (performance.now() - start) / 1000 < minSeconds) {
    const t0 = performance.now();
    fn();
    ts.push((performance.now() - t0) / 1000);
    if (ts.length >= 400) break;
  }
  ts.sort((a, b) => a - b);
  return { best: ts[0]!, median: ts[ts.length >> 1]! };
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
  { M: 2048, N: 64, K: 1024, tA: false, tB: false, what: 'W1 dX = dxg·W_ih' },
];

console.log(`Node ${process.version}, ${quick ? 'quick' : 'full'} run; best (median) of repeated runs`);
console.log('\nGEMM C = op(A)·op(B), GFLOP/s = 2MNK / time');
for (const s of shapes) {
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
    const t = time(run, slow || quick ? 0 : 1.5, slow ? 1 : quick ? 3 : 5);
    cells.push(`${be.name} ${fmt(flops / t.best / 1e9)} (${fmt(flops / t.median / 1e9)})`);
  }
  const tag = `${s.M}x${s.N}x${s.K} ${s.tA ? 'T' : 'N'}${s.tB ? 'T' : 'N'}`;
  console.log(`  ${tag.padEnd(18)} ${s.what.padEnd(30)} ${cells.join('  ')}`);
}

// ---- LSTM sequence: W1 shape ----
function lstmBench(be: Backend, I: number, H: number, B: number, T: number, withBackward: boolean) {
  const kind = 'lstm' as const, G = gateWidth(kind, H), TB = T * B;
  const x = rand(TB * I), wih = rand(G * I, 1 / Math.sqrt(I)), whh = rand(G * H, 1 / Math.sqrt(H));
  const xg = new Float32Array(TB * G), out = new Float32Array(TB * H);
  const h0 = new Float32Array(B * H), c0 = new Float32Array(B * H);
  const cache = allocCache((n) => new Float32Array(n), kind, T, B, H);
  const dOut = rand(TB * H, 0.1), dxg = new Float32Array(TB * G), dx = new Float32Array(TB * I);
  const dwih = new Float32Array(G * I), dwhh = new Float32Array(G * H);
  const dh0 = new Float32Array(B * H), dc0 = new Float32Array(B * H);
  const shape = { kind, resetAfter: false, T, B, H, lengths: null, reverse: false };
  const forward = (): void => {
    be.gemm(false, true, TB, G, I, x, I, wih, I, xg, G, false); // xg = x·W_ihᵀ
    be.seqForward({ ...shape, xg, whh, bhn: null, h0, c0, out, outOffset: 0, ldOut: H, cache });
  };
  const backward = (): void => {
    be.seqBackward({
      ...shape, whh, bhn: null, cache, dOut, dOutOffset: 0, ldDOut: H, dhN: null, dcN: null,
      dxg, dgh: dxg, dh0, dc0,
    });
    be.gemm(false, false, TB, I, G, dxg, G, wih, I, dx, I, false); // dx = dxg·W_ih
    be.gemm(true, false, G, I, TB, dxg, G, x, I, dwih, I, true); // dW_ih += dxgᵀ·x
    be.gemm(true, false, G, H, TB, dxg, G, cache.h, H, dwhh, H, true); // dW_hh += dghᵀ·Hprev
  };
  const slow = be === referenceBackend;
  const reps = slow ? 1 : quick ? 3 : 5, secs = slow || quick ? 0 : 3;
  const tf = time(forward, secs, reps);
  const tb = withBackward ? time(backward, secs, reps) : null;
  return { tf, tb, tokens: TB };
}

console.log('\nLSTM I=64 H=256 B=32 T=64 (W1 layer), tokens/s = B·T / time; forward includes x·W_ihᵀ,');
console.log('backward includes dx, dW_ih and dW_hh products');
for (const be of backends) {
  const r = lstmBench(be, 64, 256, 32, 64, true);
  const f = r.tokens / r.tf.best, b = r.tokens / r.tb!.best;
  const fb = r.tokens / (r.tf.best + r.tb!.best);
  const fbm = r.tokens / (r.tf.median + r.tb!.median);
  console.log(
    `  ${be.name.padEnd(18)} forward ${fmt(f, 0).padStart(8)}  backward ${fmt(b, 0).padStart(8)}  ` +
    `forward+backward ${fmt(fb, 0).padStart(8)} (median ${fmt(fbm, 0)})`,
  );
}

console.log('\nLSTM inference latency I=64 H=256 B=1 T=64 (W5a), ms per sequence, forward only');
for (const be of backends) {
  const r = lstmBench(be, 64, 256, 1, 64, false);
  console.log(`  ${be.name.padEnd(18)} ${fmt(r.tf.best * 1e3, 3)} ms (median ${fmt(r.tf.median * 1e3, 3)})`);
}
