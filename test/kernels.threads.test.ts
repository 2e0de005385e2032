// The two-thread WebAssembly backend (src/kernels/wasm/threaded.ts) against the reference (within
// the tolerances of kernels.test.ts) and against the single-threaded WebAssembly backend of the
// same variant — bit for bit: the threaded kernels compute every output element with the same
// code in the same order. Shapes and tails as in kernels.test.ts, with threads forced on every
// problem size (gates at 0), plus the default size gates on both sides of their thresholds, a
// whole LSTM/GRU layer, a worker lost mid-way (the call is recomputed on one thread; no hang),
// and clean process exit with an idle worker. Every test has a timeout.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { availableParallelism } from 'node:os';
import { gemmRef } from '../src/kernels/reference.js';
import { allocCache, gateWidth, type Backend, type CellKind, type SeqCache } from '../src/kernels/types.js';
import { loadWasmBackend, wasmVariants, type WasmBackend, type WasmVariant } from '../src/kernels/wasm/backend.js';
import { measuredShare, rowSplit, ThreadedWasmBackend, threadedUnavailableReason, WorkerLost } from '../src/kernels/wasm/threaded.js';
import { S_ABORT, S_CLAIM_LO, S_CLAIM_PHASE, S_DONE } from '../src/kernels/wasm/threads-protocol.js';
import { ActivationSlot, getBackend, getThreads, referenceBackend, setBackend, setThreads, withFixedWeights } from '../src/kernels/index.js';
import { addRowsAt, denseBackward, denseForward, gatherRows, layerForward, softmaxRows } from '../src/kernels/layer-ops.js';
import { GRU, LSTM, RNN } from '../src/layers/recurrent.js';
import { getOptimizer } from '../src/optim/index.js';
import { clipGate } from '../src/optim/clip.js';
import { Tensor } from '../src/tensor/tensor.js';
import { layers, sequential } from '../src/browser.js';
import { assertWithin, gemmTolerance, nanArray, prng, randArray } from './kernel-helpers.js';

const TIMEOUT = { timeout: 60_000 };

// ---------------------------------------------------------------------------------------------
// Backends under test
// ---------------------------------------------------------------------------------------------

interface Setup { variant: WasmVariant; single: WasmBackend; forced: ThreadedWasmBackend; gated: ThreadedWasmBackend }
const setups: Setup[] = [];
for (const variant of wasmVariants) {
  const why = threadedUnavailableReason(variant);
  if (why !== null) {
    // Relaxed SIMD is switched on at run time on Node 20 (backend.ts); only engines without it skip.
    const allow = variant === 'wasm-relaxed-simd' && process.env.RNNKIT_ALLOW_MISSING_RELAXED === '1';
    test(`${variant} threaded backend loads`, { skip: allow ? `${why} (RNNKIT_ALLOW_MISSING_RELAXED=1)` : false }, () => {
      assert.fail(`${variant} threaded backend cannot run here: ${why}`);
    });
    continue;
  }
  setups.push({
    variant,
    single: loadWasmBackend(variant),
    // Every call on two threads, however small (the kernels handle a thread with no rows/units).
    forced: ThreadedWasmBackend.createSync({ variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20_000 }),
    gated: ThreadedWasmBackend.createSync({ variant }),
  });
}
after(() => {
  for (const s of setups) { s.forced.terminate(); s.gated.terminate(); }
});

// ---------------------------------------------------------------------------------------------
// Helpers (the shared ones are in kernel-helpers.ts)
// ---------------------------------------------------------------------------------------------

/** Bit-identical (NaN bit patterns aside): the threaded kernels must equal the single-threaded ones. */
function assertSame(got: Float32Array, want: Float32Array, what: string, names = ['two threads', 'one thread']): void {
  assert.equal(got.length, want.length, `${what}: length`);
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w))) continue;
    assert.fail(`${what}[${i}]: ${names[0]} ${g}, ${names[1]} ${w}`);
  }
}

// ---------------------------------------------------------------------------------------------
// GEMM
// ---------------------------------------------------------------------------------------------

/** Waits (up to 10 s) until the backend's worker has gone to sleep after its last call. */
function untilAsleep(be: ThreadedWasmBackend): void {
  const cell = new Int32Array(new SharedArrayBuffer(4));
  for (let i = 0; i < 10_000 && be.workerAwake; i++) Atomics.wait(cell, 0, 0, 1);
  assert.ok(!be.workerAwake, 'the worker went to sleep');
}

const SIZES = [1, 3, 4, 5, 8, 17, 64];

function gemmCheck(
  s: Setup, be: ThreadedWasmBackend, transA: boolean, transB: boolean, M: number, N: number, K: number,
  accumulate: boolean, pad: number, rnd: () => number, withRef = true,
): void {
  const lda = (transA ? M : K) + pad, ldb = (transB ? K : N) + pad, ldc = N + pad;
  const A = randArray((transA ? K : M) * lda + 3, rnd), B = randArray((transB ? N : K) * ldb + 3, rnd);
  const Cw = nanArray(M * ldc + 5);
  if (accumulate) for (let i = 0; i < M; i++) for (let j = 0; j < N; j++) Cw[i * ldc + j] = rnd() * 2 - 1;
  const C0 = Cw.slice(), Cs = Cw.slice(), Cr = Cw.slice();
  const tag = `gemm(${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}, M=${M} N=${N} K=${K}, acc=${accumulate}, pad=${pad})`;
  s.single.gemm(transA, transB, M, N, K, A, lda, B, ldb, Cs, ldc, accumulate);
  be.gemm(transA, transB, M, N, K, A, lda, B, ldb, Cw, ldc, accumulate);
  assertSame(Cw, Cs, `${tag} C vs one thread`);
  if (!withRef) return;
  gemmRef(transA, transB, M, N, K, A, lda, B, ldb, Cr, ldc, accumulate);
  assertWithin(Cw, Cr, gemmTolerance(transA, transB, K, A, lda, B, ldb, ldc, accumulate ? C0 : null), `${tag} C vs reference`);
}

/**
 * The full grids run on the first variant (relaxed SIMD where available, the default); the other
 * variant, whose threaded code differs only in the multiply-add, runs smaller ones. Hand-overs to
 * a worker cost ~0.5 ms each on a heavily loaded 2-core machine, which bounds the test sizes.
 */
const full = (s: Setup): boolean => s === setups[0];

for (const s of setups) {
  const sizes = full(s) ? SIZES : [1, 4, 5, 17, 64];
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      const tag = `${transA ? 'T' : 'N'}${transB ? 'T' : 'N'}`;
      test(`${s.variant} two threads: gemm ${tag}, all tails M,N,K in {${sizes}}, accumulate, padded strides`, TIMEOUT, () => {
        const rnd = prng(0x51ed ^ (+transA * 2 + +transB));
        const before = s.forced.calls.threaded;
        for (const M of sizes) for (const N of sizes) for (const K of sizes) {
          for (const accumulate of [false, true]) {
            // Strides padded or not, alternating over the grid.
            const pad = (M + N + K + +accumulate) % 2 === 0 ? 0 : 3;
            gemmCheck(s, s.forced, transA, transB, M, N, K, accumulate, pad, rnd);
          }
        }
        assert.ok(s.forced.calls.threaded > before, 'the calls ran on two threads');
        assert.ok(s.forced.threaded, `the worker is alive (${s.forced.lostReason})`);
        assert.ok(s.forced.workerChunks > 0, 'the worker computed some of the chunks');
      });
      test(`${s.variant} two threads: gemm ${tag}, K = 0, K and M blocks with tails`, TIMEOUT, () => {
        const rnd = prng(177 + +transA * 2 + +transB);
        gemmCheck(s, s.forced, transA, transB, 5, 9, 0, false, 2, rnd);
        gemmCheck(s, s.forced, transA, transB, 5, 9, 0, true, 0, rnd);
        gemmCheck(s, s.forced, transA, transB, 70, 21, 300, false, 1, rnd);
        gemmCheck(s, s.forced, transA, transB, 133, 40, 520, true, 0, rnd);
        gemmCheck(s, s.forced, transA, transB, 261, 67, 1100, true, 1, rnd, false);
      });
    }
  }

  test(`${s.variant} two threads: gemm of one or two rows by Bᵀ (by gemv, blocks of 128 columns) equals one thread bit for bit`, TIMEOUT, () => {
    const rnd = prng(0x6e37);
    const before = s.forced.workerChunks;
    for (const M of [1, 2]) for (const N of [129, 300, 1030]) for (const K of [5, 64, 259]) {
      for (const accumulate of [false, true]) gemmCheck(s, s.forced, false, true, M, N, K, accumulate, (N + K) % 2 ? 3 : 0, rnd);
    }
    assert.ok(s.forced.workerChunks > before, 'the worker computed some of the column blocks');
  });

  test(`${s.variant} two threads: Dense products of 1-4 rows by packed panels (inside fixedWeights), split by columns, equal one thread bit for bit (N's tails, two K blocks, bias or none, a late worker)`, TIMEOUT, () => {
    const rnd = prng(0x1e4);
    // A worker that sleeps at every wait comes late: its partner takes part of its half.
    const sleepy = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, spin: 1, timeoutMs: 20_000 });
    try {
      const before = [s.forced.workerChunks, sleepy.workerChunks], calls = [s.forced.calls.threaded, sleepy.calls.threaded];
      for (const rows of [1, 2, 3, 4]) for (const U of [1, 7, 24, 25, 65, 200, 769]) for (const K of [1, 5, 192, 700]) {
        const x = randArray(rows * K, rnd), w = randArray(K * U, rnd), b = (rows + U + K) % 2 ? randArray(U, rnd) : null;
        // The first call in a scope packs W in the product's scratch; the next ones read it packed once.
        const run = (be: WasmBackend | ThreadedWasmBackend): Float32Array[] => be.fixedWeights!(() => [0, 1, 2].map(() => {
          const z = nanArray(rows * U);
          denseForward(be, { rows, K, U, x, w, b, z });
          return z;
        }));
        const want = run(s.single);
        for (const [name, be] of [['forced', s.forced], ['late worker', sleepy]] as const) {
          run(be).forEach((z, i) => assertSame(z, want[i]!, `${name}: dense rows=${rows} K=${K} U=${U} bias=${b !== null}, call ${i + 1}`));
        }
      }
      assert.ok(s.forced.calls.threaded > calls[0]! && sleepy.calls.threaded > calls[1]!, 'ran on two threads');
      assert.ok(s.forced.workerChunks > before[0]! && sleepy.workerChunks > before[1]!, 'the worker computed some of the column blocks');
      assert.ok(s.forced.threaded && sleepy.threaded, 'the workers are alive');
    } finally {
      sleepy.terminate();
    }
  });

  test(`${s.variant} two threads: gemm size gate (default ${s.gated.options.gemmMinWork} = M·N·K), both sides`, TIMEOUT, () => {
    const rnd = prng(3);
    const { gemmMinWork } = s.gated.options;
    let t = s.gated.calls.threaded, one = s.gated.calls.single;
    untilAsleep(s.gated);
    gemmCheck(s, s.gated, false, true, 128, 128, 128, false, 0, rnd, false); // 2^21 < gate
    assert.equal(s.gated.calls.single, one + 1, 'below the gate, the worker asleep: one thread');
    assert.ok(128 ** 3 < gemmMinWork);
    gemmCheck(s, s.gated, false, true, 256, 256, 256, false, 0, rnd, false); // 2^24 >= gate
    assert.equal(s.gated.calls.threaded, t + 1, 'above the gate: two threads');
    assert.ok(256 ** 3 >= gemmMinWork);
    // A worker still spinning after its last call takes products from gemmMinWorkAwake (2^21).
    const { gemmMinWorkAwake } = s.gated.options;
    assert.ok(gemmMinWorkAwake <= 128 ** 3 && 64 ** 3 < gemmMinWorkAwake);
    const spinning = ThreadedWasmBackend.createSync({ variant: s.variant, spin: 2 ** 30 });
    try {
      gemmCheck(s, spinning, false, true, 256, 256, 256, false, 0, rnd, false);
      assert.ok(spinning.workerAwake, 'the worker spins after a call');
      one = spinning.calls.single; t = spinning.calls.threaded;
      gemmCheck(s, spinning, false, true, 128, 128, 128, false, 0, rnd, false);
      assert.equal(spinning.calls.threaded, t + 1, 'the worker awake, from gemmMinWorkAwake: two threads');
      gemmCheck(s, spinning, false, true, 64, 64, 64, false, 0, rnd, false);
      assert.equal(spinning.calls.single, one + 1, 'below gemmMinWorkAwake: one thread');
      // A Dense layer's kernel inside withFixedWeights (packed once): from a quarter of it.
      const rows = 16, K = 192, U = 256, x = randArray(rows * K, rnd), w = randArray(K * U, rnd), b = randArray(U, rnd);
      assert.ok(rows * K * U >= gemmMinWorkAwake / 4 && rows * K * U < gemmMinWorkAwake);
      const dense = (be: WasmBackend | ThreadedWasmBackend): Float32Array => {
        const z = nanArray(rows * U);
        denseForward(be, { rows, K, U, x, w, b, z });
        return z;
      };
      const want = dense(s.single);
      one = spinning.calls.single; t = spinning.calls.threaded;
      assertSame(dense(spinning), want, 'dense, weights not fixed');
      assert.equal(spinning.calls.single, one + 1, 'a Dense product packing its kernel, below gemmMinWorkAwake: one thread');
      spinning.fixedWeights!(() => { for (let i = 0; i < 2; i++) assertSame(dense(spinning), want, `dense inside fixedWeights, call ${i + 1}`); });
      assert.equal(spinning.calls.threaded, t + 2, 'inside fixedWeights, from a quarter of gemmMinWorkAwake: two threads');
    } finally {
      spinning.terminate();
    }
    const low = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 5000 });
    low.terminate();
    assert.equal(low.options.gemmMinWorkAwake, 5000, 'never above gemmMinWork');
    one = s.gated.calls.single; t = s.gated.calls.threaded;
    gemmCheck(s, s.gated, true, false, 7, 1024, 1024, true, 1, rnd, false); // 5-7 rows: one thread
    assert.equal(s.gated.calls.single, one + 1, '5 to 7 rows: one thread');
    gemmCheck(s, s.gated, true, false, 1024, 256, 640, true, 1, rnd, false);
    gemmCheck(s, s.gated, false, false, 640, 64, 1024, false, 0, rnd, false);
    assert.equal(s.gated.calls.threaded, t + 2);
    // One or two rows times Bᵀ run by gemv: split from seqMinWork multiply-adds; other one-row
    // products keep to one thread (fewer than 8 rows).
    const { seqMinWork } = s.gated.options;
    one = s.gated.calls.single; t = s.gated.calls.threaded;
    gemmCheck(s, s.gated, false, true, 1, 1024, 256, false, 0, rnd, false);
    gemmCheck(s, s.gated, false, true, 2, 512, 256, true, 1, rnd, false);
    assert.ok(1024 * 256 >= seqMinWork && 2 * 512 * 256 >= seqMinWork);
    assert.equal(s.gated.calls.threaded, t + 2, 'one or two rows by gemv, at least seqMinWork: two threads');
    gemmCheck(s, s.gated, false, true, 1, 256, 256, false, 0, rnd, false);
    assert.ok(256 * 256 < seqMinWork);
    assert.equal(s.gated.calls.single, one + 1, 'by gemv below seqMinWork: one thread');
    // Other products of 1-4 rows: by columns on two threads from fewRowsMinWork multiply-adds.
    const { fewRowsMinWork } = s.gated.options;
    one = s.gated.calls.single; t = s.gated.calls.threaded;
    gemmCheck(s, s.gated, false, false, 1, 192, 192, false, 0, rnd, false);
    gemmCheck(s, s.gated, true, true, 2, 1024, 1024, false, 0, rnd, false);
    gemmCheck(s, s.gated, false, false, 4, 96, 96, true, 1, rnd, false);
    assert.ok(192 * 192 >= fewRowsMinWork && 4 * 96 * 96 >= fewRowsMinWork);
    assert.equal(s.gated.calls.threaded, t + 3, '1-4 rows packed, at least fewRowsMinWork: two threads');
    gemmCheck(s, s.gated, false, false, 1, 128, 128, false, 0, rnd, false);
    gemmCheck(s, s.gated, true, false, 3, 64, 128, true, 0, rnd, false);
    assert.ok(128 * 128 < fewRowsMinWork && 3 * 64 * 128 < fewRowsMinWork);
    assert.equal(s.gated.calls.single, one + 2, '1-4 rows packed, below fewRowsMinWork: one thread');
    const a = new Float64Array(4);
    assert.throws(() => s.gated.gemm(false, false, 2, 2, 2, a, 2, a, 2, a, 2, false), /float32 only/);
  });
}

// ---------------------------------------------------------------------------------------------
// Whole-sequence forward / backward
// ---------------------------------------------------------------------------------------------

interface CellConfig { kind: CellKind; resetAfter: boolean; label: string; hardSigmoid?: boolean }
const CELLS: CellConfig[] = [
  { kind: 'lstm', resetAfter: false, label: 'lstm' },
  { kind: 'gru', resetAfter: true, label: 'gru resetAfter' },
  { kind: 'gru', resetAfter: false, label: 'gru !resetAfter' },
  { kind: 'rnn_tanh', resetAfter: false, label: 'rnn_tanh' },
  { kind: 'rnn_relu', resetAfter: false, label: 'rnn_relu' },
  // The gates as hard sigmoids, clip(0.2·x + 0.5, 0, 1) (TF.js's default recurrent activation).
  { kind: 'lstm', resetAfter: false, hardSigmoid: true, label: 'lstm hardSigmoid' },
  { kind: 'gru', resetAfter: true, hardSigmoid: true, label: 'gru resetAfter hardSigmoid' },
  { kind: 'gru', resetAfter: false, hardSigmoid: true, label: 'gru !resetAfter hardSigmoid' },
];
const B_DIMS = [1, 3, 5, 8, 17];
// Units are split at multiples of 8: H <= 8 leaves the worker without units, 17 and 33 leave tails.
const H_DIMS = [1, 5, 8, 17, 24, 33];
type LengthMode = 'null' | 'with0' | 'partial' | 'full';
const LENGTH_MODES: LengthMode[] = ['null', 'with0', 'partial', 'full'];

function makeLengths(mode: LengthMode, B: number, T: number, rnd: () => number): Int32Array | null {
  if (mode === 'null') return null;
  const l = new Int32Array(B);
  for (let b = 0; b < B; b++) {
    if (mode === 'full') l[b] = T;
    else if (mode === 'partial') l[b] = b % 3 === 2 ? T : 1 + Math.floor(rnd() * (T - 1));
    else l[b] = b % 2 === 0 ? 0 : Math.floor(rnd() * (T + 1));
  }
  return l;
}

const FWD_TOL = 1e-5;
const BWD_TOL = 4e-5;
const rel = (scale: number) => (_i: number, w: number): number => scale * (1 + Math.abs(w));

interface SeqCase {
  cell: CellConfig; T: number; B: number; H: number; lengths: Int32Array | null; reverse: boolean; withRef: boolean;
  /** Recurrent dropout: a mask of zeros and 1/0.7 (kept with probability 0.7). */
  masked?: boolean;
}

function seqCheck(s: Setup, be: ThreadedWasmBackend, c: SeqCase, rnd: () => number): void {
  const { cell, T, B, H, lengths, reverse } = c;
  const { kind, resetAfter, hardSigmoid } = cell;
  const G = gateWidth(kind, H), BH = B * H;
  const name = `${cell.label} T=${T} B=${B} H=${H} reverse=${reverse} lengths=${lengths ? `[${lengths}]` : 'null'}${c.masked ? ' masked' : ''}`;
  const hMask = c.masked ? Float32Array.from({ length: BH }, () => (rnd() < 0.7 ? 1 / 0.7 : 0)) : null;
  const xg = randArray(T * B * G, rnd);
  const whh = randArray(G * H, rnd, 1 / Math.sqrt(H));
  const bhn = kind === 'gru' && rnd() < 0.75 ? randArray(H, rnd, 0.5) : null;
  const h0 = randArray(BH, rnd, 0.8), c0 = kind === 'lstm' ? randArray(BH, rnd, 1.5) : null;
  const ldOut = H + 2, outOffset = 3;
  const outLen = outOffset + T * B * ldOut + 1;
  const fwd = (b: Backend): { out: Float32Array; cache: SeqCache<Float32Array> } => {
    const out = nanArray(outLen);
    const cache = allocCache((n) => new Float32Array(n), kind, T, B, H);
    for (const a of [cache.h, cache.c, cache.gates, cache.aux]) a.fill(NaN);
    b.seqForward({ kind, resetAfter, hardSigmoid, T, B, H, lengths, reverse, hMask, xg, whh, bhn, h0, c0, out, outOffset, ldOut, cache });
    return { out, cache };
  };
  const w = fwd(be), one = fwd(s.single);
  for (const k of ['h', 'c', 'gates', 'aux'] as const) assertSame(w.cache[k], one.cache[k], `${name}: cache.${k}`);
  assertSame(w.out, one.out, `${name}: out`);
  let cache = one.cache;
  if (c.withRef) {
    const r = fwd(referenceBackend);
    assertWithin(w.out, r.out, rel(FWD_TOL), `${name}: out vs reference`);
    assertWithin(w.cache.h, r.cache.h, rel(FWD_TOL), `${name}: cache.h vs reference`);
    assertWithin(w.cache.c, r.cache.c, rel(FWD_TOL), `${name}: cache.c vs reference`);
    cache = r.cache;
    for (const a of [cache.gates, cache.aux]) for (let i = 0; i < a.length; i++) if (Number.isNaN(a[i]!)) a[i] = 0;
  }

  const ldDOut = H + 1, dOutOffset = 2;
  const dOut = rnd() < 0.85 ? randArray(dOutOffset + T * B * ldDOut, rnd) : null;
  const dhN = rnd() < 0.6 ? randArray(BH, rnd) : null;
  const dcN = kind === 'lstm' && rnd() < 0.6 ? randArray(BH, rnd) : null;
  const sameDgh = kind !== 'gru' && rnd() < 0.5;
  const bwd = (b: Backend) => {
    const dxg = nanArray(T * B * G), dgh = sameDgh ? dxg : nanArray(T * B * G);
    const dh0 = nanArray(BH), dc0 = kind === 'lstm' ? nanArray(BH) : null;
    b.seqBackward({
      kind, resetAfter, hardSigmoid, T, B, H, lengths, reverse, hMask, whh, bhn, cache, dOut, dOutOffset, ldDOut, dhN, dcN, dxg, dgh, dh0, dc0,
    });
    return { dxg, dgh, dh0, dc0 };
  };
  const wb = bwd(be), ob = bwd(s.single);
  assertSame(wb.dxg, ob.dxg, `${name}: dxg`);
  assertSame(wb.dgh, ob.dgh, `${name}: dgh`);
  assertSame(wb.dh0, ob.dh0, `${name}: dh0`);
  if (ob.dc0) assertSame(wb.dc0!, ob.dc0, `${name}: dc0`);
  if (c.withRef) {
    const rb = bwd(referenceBackend);
    assertWithin(wb.dxg, rb.dxg, rel(BWD_TOL), `${name}: dxg vs reference`);
    assertWithin(wb.dgh, rb.dgh, rel(BWD_TOL), `${name}: dgh vs reference`);
    assertWithin(wb.dh0, rb.dh0, rel(BWD_TOL), `${name}: dh0 vs reference`);
    if (rb.dc0) assertWithin(wb.dc0!, rb.dc0, rel(BWD_TOL), `${name}: dc0 vs reference`);
  }
}

/** The host internals the lost-call tests reach. */
interface LossHost {
  memory: WebAssembly.Memory;
  k: { packed_whh_bytes(kind: number, H: number): number };
  weightSlots: { inPlace: boolean; ptr: number; pack: { ptr: number } | null }[];
}

/**
 * A batch-1 LSTM whose weights lie in `be`'s memory; after `warm` calls, `weight` is changed in
 * place and the next two-thread call of `method` is lost once, after writing the changed weights
 * into the kernels' copy (where `copyAt()` says, given the call's arguments) but before packing
 * them — as a worker dying between the two would. The call redone on one thread, and the next,
 * must give one thread's results. Terminates `be`.
 */
function lostAfterCopy(
  s: Setup, be: ThreadedWasmBackend, weight: 'weight_hh_l0' | 'weight_ih_l0', method: 'runSeqForward' | 'runGemmChecked', warm: number,
  locate: (inner: LossHost, w: Float32Array) => (args: number[]) => number,
): void {
  const inner = be as unknown as LossHost & Record<typeof method, (mt: boolean, args: number[], before?: () => void) => void>;
  const real = inner[method].bind(be);
  const prev = getBackend();
  const onWarning = (): void => {};
  process.on('warning', onWarning);
  try {
    setBackend(be);
    const lstm = new LSTM({ inputSize: 224, hiddenSize: 60, batchFirst: true, seed: 51 });
    lstm.eval();
    const w = lstm.params.value(weight) as Float32Array;
    const x = new Tensor(randArray(3 * 224, prng(52)), [1, 3, 224]);
    const run = (on: Backend): Float32Array => { setBackend(on); return Float32Array.from(lstm.forward(x, { grad: false }).output.data as Float32Array); };
    for (let i = 0; i < warm; i++) assertSame(run(be), run(s.single), `call ${i + 1}`);
    const copyAt = locate(inner, w);
    w[7] = w[7]! + 1;
    let lost = false;
    inner[method] = (mt, args, before) => {
      if (mt && !lost) {
        lost = true;
        new Float32Array(inner.memory.buffer, copyAt(args), w.length).set(w);
        throw new WorkerLost('simulated: lost between the copy and the packing');
      }
      real(mt, args, before);
    };
    const got = run(be);
    assert.ok(lost, `${method} ran on two threads and was lost once`);
    assertSame(got, run(s.single), 'the call redone on one thread', ['redone', 'one thread']);
    assertSame(run(be), run(s.single), 'the next call', ['next', 'one thread']);
  } finally {
    setBackend(prev);
    process.off('warning', onWarning);
    be.terminate();
  }
}

for (const s of setups) {
  const bDims = full(s) ? B_DIMS : [1, 5, 17], hDims = full(s) ? H_DIMS : [5, 17, 33];
  for (const cell of CELLS) {
    test(`${s.variant} two threads: seqForward/seqBackward ${cell.label}, reverse x lengths x B in {${bDims}}, H in {${hDims}}`, TIMEOUT, () => {
      const rnd = prng(4321 + CELLS.indexOf(cell));
      const before = s.forced.calls.threaded;
      for (const reverse of [false, true]) for (const mode of LENGTH_MODES) {
        for (const B of bDims) for (const H of hDims) {
          seqCheck(s, s.forced, { cell, T: 5, B, H, lengths: makeLengths(mode, B, 5, rnd), reverse, withRef: true }, rnd);
        }
      }
      // T = 1, a longer sequence, a wider layer.
      for (const reverse of [false, true]) {
        seqCheck(s, s.forced, { cell, T: 1, B: 3, H: 17, lengths: makeLengths('partial', 3, 1, rnd), reverse, withRef: true }, rnd);
        seqCheck(s, s.forced, { cell, T: 12, B: 8, H: 40, lengths: makeLengths('with0', 8, 12, rnd), reverse, withRef: true }, rnd);
        seqCheck(s, s.forced, { cell, T: 4, B: 9, H: 100, lengths: makeLengths('partial', 9, 4, rnd), reverse, withRef: false }, rnd);
        // Batch 1 with full blocks of W_hh's packing before and after the mixed chunks (b1_plan).
        seqCheck(s, s.forced, { cell, T: 3, B: 1, H: 100, lengths: makeLengths('partial', 1, 3, rnd), reverse, withRef: true }, rnd);
      }
      assert.ok(s.forced.calls.threaded > before, 'the calls ran on two threads');
      assert.ok(s.forced.threaded, `the worker is alive (${s.forced.lostReason})`);
      assert.ok(s.forced.workerChunks > 0, 'the worker computed some of the chunks');
    });
  }

  test(`${s.variant} two threads: recurrent dropout (hMask) in every cell's loops: two threads = one thread bit for bit, and the reference (batch 1, unit chunks, row groups)`, TIMEOUT, () => {
    const rnd = prng(97);
    const before = s.forced.calls.threaded;
    for (const cell of CELLS) {
      for (const reverse of [false, true]) for (const mode of ['null', 'partial'] as LengthMode[]) {
        for (const B of [1, 3, 8, 17]) for (const H of [5, 17, 33]) {
          seqCheck(s, s.forced, { cell, T: 5, B, H, lengths: makeLengths(mode, B, 5, rnd), reverse, withRef: true, masked: true }, rnd);
        }
      }
      seqCheck(s, s.forced, { cell, T: 3, B: 1, H: 100, lengths: null, reverse: false, withRef: true, masked: true }, rnd);
    }
    assert.ok(s.forced.calls.threaded > before, 'the calls ran on two threads');
  });

  test(`${s.variant} two threads: sequence size gate (B·G·H >= ${s.gated.options.seqMinWork}, H >= 16), both sides`, TIMEOUT, () => {
    const rnd = prng(11);
    const lstm = CELLS[0]!, gruRb = CELLS[2]!;
    const one = s.gated.calls.single;
    seqCheck(s, s.gated, { cell: lstm, T: 3, B: 2, H: 16, lengths: null, reverse: false, withRef: true }, rnd); // 2048 < gate
    seqCheck(s, s.gated, { cell: lstm, T: 3, B: 64, H: 12, lengths: null, reverse: false, withRef: true }, rnd); // H < 16
    assert.equal(s.gated.calls.single, one + 4, 'below the gates: one thread (forward and backward)');
    const t = s.gated.calls.threaded;
    seqCheck(s, s.gated, { cell: lstm, T: 6, B: 32, H: 64, lengths: makeLengths('partial', 32, 6, rnd), reverse: true, withRef: true }, rnd);
    seqCheck(s, s.gated, { cell: gruRb, T: 6, B: 32, H: 80, lengths: null, reverse: false, withRef: true }, rnd);
    assert.equal(s.gated.calls.threaded, t + 4, 'above the gates: two threads');
  });
}

// ---------------------------------------------------------------------------------------------
// Row groups split by the threads' measured speeds
// ---------------------------------------------------------------------------------------------

test('row groups: rowSplit gives the multiple of 4 that finishes first at a speed share; measuredShare reads a loop\'s end', () => {
  assert.equal(rowSplit(32, 0.5), 16);
  assert.equal(rowSplit(64, 0.5), 32);
  assert.equal(rowSplit(32, 0.6), 20, 'thread 0 faster: more rows');
  assert.equal(rowSplit(32, 0.4), 12);
  assert.equal(rowSplit(32, 0.54), 16, 'within a tile of balance: halves');
  assert.equal(rowSplit(32, 0.2), 4, '4 rows: max(4 / 0.2, 28 / 0.8) = 35, against 40 for 8');
  assert.equal(rowSplit(8, 0.9), 4, 'at least 4 rows each');
  assert.equal(rowSplit(17, 0.5), 8);
  for (const B of [8, 9, 17, 32, 33, 64, 100]) {
    for (const sh of [0.2, 0.35, 0.5, 0.65, 0.8]) {
      const r = rowSplit(B, sh);
      assert.ok(r % 4 === 0 && r >= 4 && B - r >= 4, `B=${B} share ${sh}: ${r}`);
    }
  }
  // Thread 0 finished its 16 rows x 64 steps while thread 1 had run 48 of its 16: 64 / (64 + 48).
  assert.equal(measuredShare(16, 32, 64, 48, 64), 64 / 112);
  // Thread 1 first, thread 0 at 32 of 64 steps with 20 rows against 12: 20·32 / (20·32 + 12·64).
  assert.equal(measuredShare(20, 32, 64, 64, 32), 640 / (640 + 768));
  assert.equal(measuredShare(16, 32, 64, 64, 64), 0.5, 'both done together: the split was right');
  assert.equal(measuredShare(12, 32, 64, 64, 64), 12 / 32);
  assert.equal(measuredShare(16, 32, 64, 0, 64), null, 'a partner that had not begun: a late start, not a speed');
});

for (const s of setups) {
  test(`${s.variant} two threads: sequence loops with row groups split unevenly (rowShare 0.3, 0.7; H = 256, K in two blocks backward) equal one thread bit for bit`, TIMEOUT, () => {
    assert.throws(() => ThreadedWasmBackend.createSync({ variant: s.variant, rowShare: 1 }), /rowShare must be below 1 \(0: measured\), got 1/);
    for (const share of [0.3, 0.7]) {
      const be = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 0, seqMinWork: 0, seqMinHidden: 1, rowShare: share, timeoutMs: 20_000 });
      try {
        const rnd = prng(Math.round(share * 100));
        for (const cell of [CELLS[0]!, CELLS[1]!, CELLS[2]!, CELLS[3]!]) {
          seqCheck(s, be, { cell, T: 4, B: 32, H: cell.kind === 'rnn_tanh' ? 40 : 256, lengths: makeLengths('partial', 32, 4, rnd), reverse: share > 0.5, withRef: false }, rnd);
          seqCheck(s, be, { cell, T: 5, B: 17, H: 33, lengths: null, reverse: false, withRef: true, masked: true }, rnd);
        }
        assert.equal(be.rowShareEstimate, 0.5, 'a fixed share: nothing measured');
        assert.ok(be.calls.threaded >= 16, 'two threads');
      } finally {
        be.terminate();
      }
    }
  });
}

// A thread that has run its row group and finds none left takes the upper half of the rows its
// partner runs, from the partner's next step on (give_rows in asm/kernels-threads.ts); the partner
// may take part of those back in turn. With a fifth of the rows on one thread, that thread is out
// of rows early in every call. B = 46: the rows given include the partial tile (rows 44, 45); the
// LSTM's H = 160 puts the backward product's K = 640 in two blocks, where a row moved into
// another kind of tile would change its bits.
for (const s of setups) {
  test(`${s.variant} two threads: a thread out of row groups takes half of its partner's remaining rows (rowShare 0.2, 0.8; spinning and sleeping threads; training and inference loops), and every result keeps one thread's bits`, TIMEOUT, () => {
    for (const spin of [200_000, 1]) {
      for (const share of [0.2, 0.8]) {
        const be = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 0, seqMinWork: 0, seqMinHidden: 1, rowShare: share, spin, timeoutMs: 20_000 });
        try {
          const rnd = prng(share * 10 + (spin === 1 ? 1 : 0));
          const [T, B, I] = [48, 46, 8];
          for (const cell of CELLS.slice(0, 4)) {
            const H = cell.kind === 'lstm' ? 160 : cell.kind === 'rnn_tanh' ? 128 : 64;
            const lengths = makeLengths('partial', B, T, rnd);
            seqCheck(s, be, { cell, T, B, H, lengths, reverse: share > 0.5, withRef: false, masked: cell.kind === 'gru' }, rnd);
            // Inference: the loop keeps two state slots used in turn, nothing for a backward pass.
            const G = gateWidth(cell.kind, H);
            const x = randArray(T * B * I, rnd), wih = randArray(G * I, rnd, 0.3), whh = randArray(G * H, rnd, 1 / Math.sqrt(H));
            const bih = randArray(G, rnd, 0.1), bhh = randArray(G, rnd, 0.1), h0 = randArray(B * H, rnd), c0 = randArray(B * H, rnd);
            const infer = (b: Backend) => {
              const out = nanArray(T * B * H), hN = nanArray(B * H), cN = nanArray(B * H);
              layerForward(b, { kind: cell.kind, resetAfter: cell.resetAfter, T, B, H, I, lengths, reverse: false, batchFirst: false, x, wih, whh, bih, bhh, h0, c0: cell.kind === 'lstm' ? c0 : null, out, outOffset: 0, ldOut: H, cache: null, hN, cN: cell.kind === 'lstm' ? cN : null });
              return { out, hN, cN };
            };
            const two = infer(be), one = infer(s.single);
            assertSame(two.out, one.out, `${cell.label} inference: out`);
            assertSame(two.hN, one.hN, `${cell.label} inference: hN`);
            if (cell.kind === 'lstm') assertSame(two.cN, one.cN, `${cell.label} inference: cN`);
          }
          assert.ok(be.calls.threaded >= 12, 'two threads');
          assert.ok(be.rangesTaken > 0, `rows taken from the partner (rowShare ${share}, spin ${spin}): ${be.rangesTaken}`);
        } finally {
          be.terminate();
        }
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Whole layers: two threads equal one thread, bit for bit
// ---------------------------------------------------------------------------------------------

function layerRun(be: Backend, make: () => LSTM | GRU, B: number, T: number, I: number) {
  const prev = getBackend();
  setBackend(be);
  try {
    const layer = make();
    const rnd = prng(99);
    const x = new Tensor(randArray(B * T * I, rnd), [B, T, I]);
    const lengths = Array.from({ length: B }, (_, b) => (b % 4 === 3 ? T - 2 : T));
    const res = layer.forward(x, { lengths });
    const dy = new Tensor(randArray(res.output.data.length, rnd), res.output.shape);
    layer.zeroGrad();
    const back = layer.backward(dy);
    return { y: res.output.data as Float32Array, hN: res.hN.data as Float32Array, dx: back.dx.data as Float32Array, grads: layer.gradients() };
  } finally {
    setBackend(prev);
  }
}

for (const s of setups) {
  test(`${s.variant} two threads: LSTM and GRU layers (2 layers, bidirectional, lengths), forward + backward equal one thread`, TIMEOUT, () => {
    const cases: [string, () => LSTM | GRU, number, number, number][] = [
      ['lstm', () => new LSTM({ inputSize: 24, hiddenSize: 40, numLayers: 2, bidirectional: true, batchFirst: true, seed: 7 }), 12, 9, 24],
      ['gru', () => new GRU({ inputSize: 16, hiddenSize: 33, batchFirst: true, resetAfter: false, seed: 8 }), 10, 7, 16],
      ['lstm W1-like', () => new LSTM({ inputSize: 64, hiddenSize: 256, batchFirst: true, seed: 9 }), 32, 8, 64],
    ];
    for (const [label, make, B, T, I] of cases) {
      const before = s.forced.calls.threaded;
      const one = layerRun(s.single, make, B, T, I), two = layerRun(s.forced, make, B, T, I);
      assert.ok(s.forced.calls.threaded > before, `${label}: ran on two threads`);
      assertSame(two.y, one.y, `${label}: output`);
      assertSame(two.hN, one.hN, `${label}: hN`);
      assertSame(two.dx, one.dx, `${label}: dx`);
      for (const [k, g] of Object.entries(one.grads)) assertSame(two.grads[k] as Float32Array, g as Float32Array, `${label}: grad ${k}`);
    }
  });
}

for (const s of setups) {
  test(`${s.variant}: a layer's W_hh lying in the backend's memory is read there; at batch 1 the loop checks its packing against a copy and follows every in-place change (full block, both mixed chunks, GRU's n rows, H no multiple of 4; one thread and two), trusted only inside fixedWeights`, TIMEOUT, () => {
    type Host = { weightSlots: { inPlace: boolean; ptr: number; off: number }[] };
    const cases: [string, () => LSTM | GRU, number][] = [
      // H = 60: units [0, 28) a full block of each gate block, [28, 60) the two mixed chunks.
      // (Inputs wide enough for the parameters to be resident: residentArray's 65,536 floats.)
      ['lstm', () => new LSTM({ inputSize: 224, hiddenSize: 60, batchFirst: true, seed: 31 }), 60],
      ['gru !resetAfter', () => new GRU({ inputSize: 300, hiddenSize: 61, batchFirst: true, resetAfter: false, seed: 32 }), 61],
    ];
    const prev = getBackend();
    try {
      for (const be of [s.forced, s.gated]) {
        for (const [label, make, H] of cases) {
          const what = `${label} on ${be === s.forced ? 'two threads' : 'one thread (gated)'}`;
          setBackend(be);
          const layer = make();
          layer.eval();
          const whh = layer.params.value('weight_hh_l0') as Float32Array;
          const x = new Tensor(randArray(4 * layer.inputSize, prng(33)), [1, 4, layer.inputSize]);
          const run = (on: Backend): Float32Array => {
            setBackend(on);
            return Float32Array.from(layer.forward(x, { grad: false }).output.data as Float32Array);
          };
          const threadedBefore = be.calls.threaded;
          let last = run(be);
          assertSame(last, run(s.single), `${what}: first call`);
          if (be === s.forced) assert.ok(be.calls.threaded > threadedBefore, `${what}: ran on two threads`);
          const slots = (be as unknown as Host).weightSlots;
          assert.ok(slots.some((w) => w.inPlace && w.ptr === whh.byteOffset), `${what}: W_hh read where it lies (an in-place slot)`);
          assert.ok(!slots.some((w) => !w.inPlace && w.off === whh.byteOffset), `${what}: no copy slot for W_hh`);
          // One unit in each chunk (0: a full block; H/2: the first mixed chunk; H - 1: the last),
          // in the first gate block and in the last (GRU: the n rows, the other gate set).
          const blocks = whh.length / H / H;
          for (const [unit, block] of [[0, 0], [H >> 1, blocks - 1], [H - 1, 0], [H - 1, blocks - 1]] as const) {
            const i = (block * H + unit) * H + H - 1;
            whh[i] = whh[i]! + 0.75;
            const now = run(be);
            assertSame(now, run(s.single), `${what}: after a change of unit ${unit} in gate block ${block}`);
            assert.notDeepEqual(now, last, `${what}: the change of unit ${unit} in gate block ${block} reaches the outputs`);
            last = now;
          }
          // W_ih, whose panels are current by now: the projection checks them itself
          // (gemm_checked), a block of 8 rows at a time; a change in the first row and in the last.
          const wih = layer.params.value('weight_ih_l0') as Float32Array;
          const inner = be as unknown as { runGemmChecked: (mt: boolean, args: number[], before?: () => void) => void };
          const checkedGemm = inner.runGemmChecked;
          let checkedCalls = 0;
          inner.runGemmChecked = function (this: unknown, mt, args, before) { checkedCalls++; return checkedGemm.call(this, mt, args, before); };
          try {
            for (const row of [0, wih.length / layer.inputSize - 1]) {
              wih[row * layer.inputSize + 3] = wih[row * layer.inputSize + 3]! + 0.5;
              const now = run(be);
              assertSame(now, run(s.single), `${what}: after a change of W_ih's row ${row}`);
              assert.notDeepEqual(now, last, `${what}: the change of W_ih's row ${row} reaches the outputs`);
              last = now;
            }
            assert.equal(checkedCalls, 2, `${what}: both projections checked W_ih themselves`);
          } finally {
            delete (inner as { runGemmChecked?: unknown }).runGemmChecked;
          }
          // fixedWeights: a change before the scope's first use is seen, one after it is not, and
          // the next call after the scope sees it.
          whh[1] = whh[1]! - 0.5;
          const kept = be.fixedWeights!(() => {
            const first = run(be);
            assertSame(first, run(s.single), `${what}: a change before the scope's first use`);
            whh[H + 2] = whh[H + 2]! + 1;
            assertSame(run(be), first, `${what}: a change after the first use in the scope is not seen`);
            return first;
          });
          const after = run(be);
          assert.notDeepEqual(after, kept, `${what}: the scope ended: the change is seen`);
          assertSame(after, run(s.single), `${what}: after the scope`);
        }
      }
      // In-place slots (their packing and copy) count against the slot limits: with room for one,
      // each new W_hh's (seqForward: no W_ih copy made) pushes the last one out, and an evicted
      // W_hh is packed anew, right.
      const host = s.forced as unknown as Host & { maxWeightSlots: number };
      const limit = host.maxWeightSlots;
      try {
        host.maxWeightSlots = 1;
        const H = 60, G = 4 * H, rnd = prng(41);
        const xg = randArray(3 * G, rnd), h0 = randArray(H, rnd), c0 = randArray(H, rnd);
        const seq = (on: Backend, whh: Float32Array): Float32Array => {
          const out = nanArray(3 * H);
          on.seqForward({ kind: 'lstm', resetAfter: false, T: 3, B: 1, H, lengths: null, reverse: false, xg, whh, bhn: null, h0, c0, out, outOffset: 0, ldOut: H, cache: allocCache((n) => new Float32Array(n), 'lstm', 3, 1, H) });
          return out;
        };
        const arrays = [0, 1, 2].map(() => { const w = s.forced.activationBuffer!(G * H); w.set(randArray(G * H, rnd, 0.1)); return w; });
        for (const w of arrays) seq(s.forced, w);
        const inPlace = host.weightSlots.filter((w) => w.inPlace).length;
        assert.ok(inPlace <= 1, `in-place slots kept: ${inPlace}, limit 1`);
        arrays[0]![5] = arrays[0]![5]! + 1;
        assertSame(seq(s.forced, arrays[0]!), seq(s.single, Float32Array.from(arrays[0]!)), 'a W_hh whose in-place slot was evicted, changed since');
      } finally {
        host.maxWeightSlots = limit;
      }
    } finally {
      setBackend(prev);
    }
  });
}

for (const s of setups) {
  test(`${s.variant}: one row's input projection inside fixedWeights runs by W_ih packed for batch 1 (b1_project): the bits of a row of a batch's 4-row tile for every cell (mixed chunks, GRU's sets), one thread and two; packed once per scope, a change seen at the next scope`, TIMEOUT, () => {
    type Host = { runB1Project: (mt: boolean, args: number[]) => void };
    const cases: [string, () => LSTM | GRU | RNN][] = [
      // H = 60, 61, 100: full blocks of 28 units and the two mixed chunks; inputs wide enough for
      // the parameters to be resident (residentArray's 65,536 floats), I no multiple of 4 too; G =
      // 183 and 100, no multiples of 8 (the tiles' edge columns); I = 563 > KC (two K blocks).
      ['lstm', () => new LSTM({ inputSize: 224, hiddenSize: 60, batchFirst: true, seed: 51 })],
      ['gru', () => new GRU({ inputSize: 301, hiddenSize: 61, batchFirst: true, seed: 52 })],
      ['gru !resetAfter', () => new GRU({ inputSize: 300, hiddenSize: 61, batchFirst: true, resetAfter: false, seed: 53 })],
      ['rnn', () => new RNN({ inputSize: 563, hiddenSize: 100, batchFirst: true, seed: 54 })],
    ];
    const prev = getBackend();
    try {
      const results = new Map<string, Float32Array>();
      for (const be of [s.forced, s.gated]) {
        const host = be as unknown as Host;
        const project = host.runB1Project;
        let projected = 0;
        host.runB1Project = function (this: unknown, mt, args) { projected++; return project.call(this, mt, args); };
        try {
          for (const [label, make] of cases) {
            const what = `${label} on ${be === s.forced ? 'two threads' : 'one thread (gated)'}`;
            setBackend(be);
            const layer = make();
            layer.eval();
            const I = layer.inputSize, H = layer.hiddenSize, rnd = prng(55);
            // One sequence of one step, and a batch of four (a 4-row group of the tiles) whose first
            // row is that sequence.
            const x4 = randArray(4 * I, rnd), h4 = randArray(4 * H, rnd), c4 = randArray(4 * H, rnd);
            const lstm = layer instanceof LSTM;
            const step = (B: number): Float32Array => Float32Array.from(layer.forward(new Tensor(x4.subarray(0, B * I), [B, 1, I]), {
              grad: false, h0: new Tensor(h4.subarray(0, B * H), [1, B, H]), ...(lstm ? { c0: new Tensor(c4.subarray(0, B * H), [1, B, H]) } : {}),
            }).output.data as Float32Array);
            const before = projected;
            const [one, row] = withFixedWeights(() => [step(1), step(4).subarray(0, H)]);
            assert.equal(projected - before, 1, `${what}: the one-row call projected by b1_project`);
            assertSame(one, row, `${what}: one row, and the first row of a batch of four`, ['one row', 'batch row']);
            const key = label;
            if (results.has(key)) assertSame(one, results.get(key)!, `${what}: as on two threads`, ['one thread', 'two threads']);
            else results.set(key, one);
            // Packed once per scope: a change after the scope's first call is not seen there; the
            // next scope checks the packing against its copy and sees it (a unit of a mixed chunk
            // in the last gate block).
            const wih = layer.params.value('weight_ih_l0') as Float32Array;
            const r = (wih.length / I - 1) - (H >> 1), i = r * I + (I >> 1);
            withFixedWeights(() => {
              const first = step(1);
              wih[i] = wih[i]! + 0.75;
              assertSame(step(1), first, `${what}: a change after the scope's first use is not seen`, ['after', 'before']);
            });
            const [next, nextRow] = withFixedWeights(() => [step(1), step(4).subarray(0, H)]);
            assert.notDeepEqual(next, one, `${what}: the next scope sees the change`);
            assertSame(next, nextRow, `${what}: after the change`, ['one row', 'batch row']);
          }
        } finally {
          delete (host as { runB1Project?: unknown }).runB1Project;
        }
      }
    } finally {
      setBackend(prev);
    }
  });
}

for (const s of setups) {
  test(`${s.variant} two threads: an input projection that starts before W_ih is compared sees an in-place change (projected again), and training keeps comparing first`, TIMEOUT, () => {
    // The threaded host's projections, counted by wrapping its runGemm.
    const host = s.forced as unknown as { runGemm: (mt: boolean, args: number[], before?: () => void) => void };
    const own = Object.getOwnPropertyDescriptor(host, 'runGemm');
    const run = host.runGemm;
    let projections = 0;
    host.runGemm = function (this: unknown, mt: boolean, args: number[], before?: () => void) {
      projections++;
      return run.call(this, mt, args, before);
    };
    const prev = getBackend();
    try {
      const lstm = new LSTM({ inputSize: 12, hiddenSize: 20, batchFirst: true, seed: 21 });
      lstm.eval();
      const rnd = prng(22);
      const x = new Tensor(randArray(3 * 5 * 12, rnd), [3, 5, 12]);
      const wih = lstm.params.value('weight_ih_l0') as Float32Array;
      // One forward on each backend; `count` projections on two threads, the same bits as one.
      const check = (what: string, count: number) => {
        setBackend(s.single);
        const want = lstm.forward(x, { grad: false }).output.data as Float32Array;
        setBackend(s.forced);
        projections = 0;
        const got = lstm.forward(x, { grad: false }).output.data as Float32Array;
        assert.equal(projections, count, `${what}: projections`);
        assertSame(got, want, what);
      };
      check('first call (a fresh copy)', 1);
      check('unchanged (the compare runs beside the projection)', 1);
      wih[wih.length - 1] = -wih[wih.length - 1]! + 0.5;
      check('W_ih changed in place after unchanged calls: projected again', 2);
      wih[0] = wih[0]! * 3;
      check('changed again: compared before the projection', 1);
      check('unchanged once more: still compared first (the last check found a change)', 1);
      check('unchanged after that: beside the projection again', 1);
      // In a withFixedWeights scope the copy is trusted: never a second projection.
      setBackend(s.forced);
      projections = 0;
      wih[1] = wih[1]! + 1; // before the scope's first use: seen
      const inScope = withFixedWeights(() => lstm.forward(x, { grad: false }).output.data as Float32Array);
      setBackend(s.single);
      const want = lstm.forward(x, { grad: false }).output.data as Float32Array;
      assert.equal(projections, 2, 'a change before the scope is seen (projected again)');
      assertSame(inScope, want, 'in a withFixedWeights scope');
    } finally {
      setBackend(prev);
      if (own) Object.defineProperty(host, 'runGemm', own); else delete (host as { runGemm?: unknown }).runGemm;
    }
  });
}

for (const s of setups) {
  test(`${s.variant}: W_ih kept packed for the input projection is used while unchanged and packed again after any change (one thread and two)`, TIMEOUT, () => {
    // Which projections read W_ih packed from an earlier call (gemm's PB, the 15th argument).
    type Host = { runGemm: (mt: boolean, args: number[], before?: () => void) => void };
    const cfg = { inputSize: 12, hiddenSize: 20, batchFirst: true, seed: 31 };
    const rnd = prng(32);
    const x = new Tensor(randArray(3 * 5 * 12, rnd), [3, 5, 12]);
    const prev = getBackend();
    for (const be of [s.single, s.forced] as Backend[]) {
      const host = be as unknown as Host, own = Object.getOwnPropertyDescriptor(host, 'runGemm'), run = host.runGemm;
      const used: boolean[] = [];
      host.runGemm = function (this: unknown, mt: boolean, args: number[], before?: () => void) {
        used.push(args[14] !== 0);
        return run.call(this, mt, args, before);
      };
      try {
        setBackend(be);
        const lstm = new LSTM(cfg);
        lstm.eval();
        const wih = lstm.params.value('weight_ih_l0') as Float32Array;
        // The reference: a new layer with the same weights in new arrays (a fresh copy, packed from it).
        const fresh = () => {
          const m = new LSTM(cfg);
          m.eval();
          for (const k of Object.keys(lstm.gradients())) (m.params.value(k) as Float32Array).set(lstm.params.value(k) as Float32Array);
          return m.forward(x, { grad: false }).output.data as Float32Array;
        };
        const check = (what: string, panels: boolean[]) => {
          used.length = 0;
          const got = lstm.forward(x, { grad: false }).output.data as Float32Array;
          assert.deepEqual(used, panels, `${be.name} ${what}: projections reading the kept panels`);
          used.length = 0;
          assertSame(got, fresh(), `${be.name} ${what}`, ['kept panels', 'fresh copy']);
        };
        // Packed once a check has found the first call's copy unchanged: by one thread before the
        // projection; by two threads, which compare beside it, after it.
        const two = be === s.forced;
        check('first call', [false]);
        check('unchanged', [!two]);
        check('unchanged again', [true]);
        wih[5] = wih[5]! - 0.75;
        // Two threads project first (with the old panels) and compare beside: projected again.
        check('W_ih changed in place', two ? [true, false] : [false]);
        check('unchanged after the change', [true]);
        wih.fill(0.01);
        check('W_ih rewritten', two ? [true, false] : [false]);
        check('unchanged after that', [true]);
        check('still unchanged', [true]);
      } finally {
        setBackend(prev);
        if (own) Object.defineProperty(host, 'runGemm', own); else delete (host as { runGemm?: unknown }).runGemm;
      }
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Activation buffers: arrays in the backend's own memory that its calls use where they lie
// ---------------------------------------------------------------------------------------------

/** `n` floats as an ordinary array or (act) an activation buffer of `be`, holding `v` if given. */
function arrayOf(be: Backend, act: boolean, n: number, v?: Float32Array): Float32Array {
  const a = act ? be.activationBuffer!(n) : new Float32Array(n);
  assert.equal(a.length, n);
  if (act) assert.ok(a.every((e) => e === 0), 'an activation buffer starts zeroed');
  if (v) a.set(v);
  return a;
}

/**
 * A dense layer's forward, softmax and backward with x, z, y, dz and dx ordinary arrays or
 * activation buffers (read and written in place): the results must be the same bits.
 */
function denseInPlaceCheck(be: Backend, rnd: () => number, what: string): void {
  const rows = 37, K = 20, U = 13;
  const x = randArray(rows * K, rnd), w = randArray(K * U, rnd), b = randArray(U, rnd), dz = randArray(rows * U, rnd);
  const run = (act: boolean) => {
    const xa = arrayOf(be, act, rows * K, x), z = arrayOf(be, act, rows * U), y = arrayOf(be, act, rows * U);
    const dza = arrayOf(be, act, rows * U, dz), dx = arrayOf(be, act, rows * K), lse = new Float64Array(rows);
    const dW = new Float32Array(K * U).fill(0.5), db = new Float32Array(U).fill(0.25);
    denseForward(be, { rows, K, U, x: xa, w, b, z });
    softmaxRows(be, z, y, rows, U, lse);
    denseBackward(be, { rows, K, U, x: xa, w, dz: dza, dW, db, dx });
    assertSame(xa, x, `${what}: dense x unchanged`, ['after', 'before']);
    assertSame(dza, dz, `${what}: dense dz unchanged`, ['after', 'before']);
    return { z: z.slice(), y: y.slice(), lse, dW, db, dx: dx.slice() };
  };
  const plain = run(false), inPlace = run(true);
  for (const k of ['z', 'y', 'dW', 'db', 'dx'] as const) assertSame(inPlace[k], plain[k], `${what}: dense ${k}`, ['in place', 'copied']);
  assert.deepEqual(inPlace.lse, plain.lse, `${what}: softmax log-sum-exp`);
}

/**
 * A bidirectional LSTM layer whose output (each direction written with a stride, beside the
 * other's) and output gradient are activation buffers, against ordinary arrays.
 */
function layerInPlaceCheck(be: Backend, rnd: () => number, what: string): void {
  const B = 6, T = 5, I = 7, H = 12, n = B * T * 2 * H;
  const x = new Tensor(randArray(B * T * I, rnd), [B, T, I]), dy = randArray(n, rnd);
  const prev = getBackend();
  setBackend(be);
  try {
    const run = (act: boolean) => {
      const layer = new LSTM({ inputSize: I, hiddenSize: H, bidirectional: true, batchFirst: true, seed: 12 });
      const out = arrayOf(be, act, n);
      layer.forward(x, { out });
      const dOut = arrayOf(be, act, n, dy);
      const back = layer.backward(new Tensor(dOut, [B, T, 2 * H]));
      assertSame(dOut, dy, `${what}: dOut unchanged`, ['after', 'before']);
      return { out: out.slice(), dx: back.dx.data as Float32Array, grad: layer.params.grad.slice() as Float32Array };
    };
    const plain = run(false), inPlace = run(true);
    for (const k of ['out', 'dx', 'grad'] as const) assertSame(inPlace[k], plain[k], `${what}: LSTM ${k}`, ['in place', 'copied']);
  } finally {
    setBackend(prev);
  }
}

// Threads that sleep almost at once (spin 1) often come late to a step, after the partner has
// computed its own half and taken theirs: the late one must find its half taken and wait for it,
// not compute it again — or pass the step on its own half alone (wrong results) — and a thread
// that took a half must publish it finished for its owner.
for (const s of setups) {
  test(`${s.variant} two threads that sleep at every wait: steps split by units, batch 1 and 3 (each thread its half, a late partner's taken) equal one thread bit for bit`, TIMEOUT, () => {
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, spin: 1, timeoutMs: 20_000 });
    try {
      const rnd = prng(77);
      const before = be.calls.threaded, taken = be.halvesTaken;
      for (const cell of CELLS) for (const H of [100, 256]) for (const B of [1, 3]) {
        seqCheck(s, be, { cell, T: 24, B, H, lengths: null, reverse: H === 100, withRef: false }, rnd);
      }
      assert.ok(be.calls.threaded > before, 'ran on two threads');
      assert.ok(be.halvesTaken > taken, 'halves of late partners were taken');
    } finally {
      be.terminate();
    }
  });
}

for (const s of setups) {
  test(`${s.variant}: activation buffers are used in place, with the results of ordinary arrays (two threads, one, after the memory grew)`, TIMEOUT, () => {
    assert.equal(s.single.activationBuffer, undefined, 'unshared memory (its views would be detached as it grows): none');
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20_000 });
    try {
      const rnd = prng(21);
      const a = be.activationBuffer!(1000), b = be.activationBuffer!(1000);
      a.fill(3);
      assert.ok(b.every((e) => e === 0), 'buffers do not overlap');
      const before = be.calls.threaded;
      denseInPlaceCheck(be, rnd, 'two threads');
      layerInPlaceCheck(be, rnd, 'two threads');
      assert.ok(be.calls.threaded > before, 'ran on two threads');
      // Views made before the memory grew stay valid: grow it with a product larger than it is.
      const memory = (be as unknown as { memory: WebAssembly.Memory }).memory, size = memory.buffer.byteLength;
      const K = size / 4 + 1024, C = new Float32Array(1);
      be.gemm(false, false, 1, 1, K, new Float32Array(K).fill(1), K, new Float32Array(K).fill(2), 1, C, 1, false);
      assert.equal(C[0], 2 * K);
      assert.ok(memory.buffer.byteLength > size, 'the memory grew');
      assert.ok(a.every((e) => e === 3) && b.every((e) => e === 0), 'the old views still see their values');
      a[0] = 5;
      assert.equal(new Float32Array(memory.buffer, a.byteOffset, 1)[0], 5, 'and the same memory');
      denseInPlaceCheck(be, rnd, 'after growing');
      layerInPlaceCheck(be, rnd, 'after growing');
      be.terminate();
      denseInPlaceCheck(be, rnd, 'one thread');
      // A block given back (what the garbage collector does for a collected array) and taken
      // again starts zeroed.
      a.fill(7);
      (be as unknown as { releaseBlock(p: number, n: number): void }).releaseBlock(a.byteOffset, 4032);
      const again = be.activationBuffer!(1000);
      assert.equal(again.byteOffset, a.byteOffset, 'the same block');
      assert.ok(again.every((e) => e === 0), 'zeroed');
    } finally {
      be.terminate();
    }
  });
}

for (const s of setups) {
  test(`${s.variant}: rows gathered from and added to arrays in the backend's memory equal the JavaScript loops bit for bit; elsewhere the backend declines`, TIMEOUT, () => {
    const be = s.gated, rnd = prng(31);
    for (const w of [1, 5, 64]) {
      const V = 40, n = 23, table = randArray(V * w, rnd), rows = randArray(n * w, rnd);
      // Repeated ids: the additions must run in row order (float32 sums are not associative).
      const ids = Int32Array.from({ length: n }, (_, r) => (r * 7 + (r % 3 === 0 ? 0 : 11)) % V);
      ids[5] = ids[2]!; ids[9] = ids[2]!;
      const gathered = new Float32Array(n * w);
      for (let r = 0; r < n; r++) for (let j = 0; j < w; j++) gathered[r * w + j] = table[ids[r]! * w + j]!;
      const summed = table.slice();
      for (let r = 0; r < n; r++) for (let j = 0; j < w; j++) summed[ids[r]! * w + j] = Math.fround(summed[ids[r]! * w + j]! + rows[r * w + j]!);
      assert.notDeepEqual(summed, table, 'the sums change the table');
      const T = arrayOf(be, true, V * w, table), R = arrayOf(be, true, n * w);
      assert.equal(be.gatherRows!(T, ids, n, w, R), true, 'gathered in place');
      assertSame(R, gathered, `w=${w}: gathered rows`, ['kernel', 'loop']);
      R.set(rows);
      assert.equal(be.addRowsAt!(T, ids, n, w, R), true, 'added in place');
      assertSame(T, summed, `w=${w}: rows added`, ['kernel', 'loop']);
      assertSame(R, rows, `w=${w}: the added rows unchanged`, ['after', 'before']);
      // Either array an ordinary one: declined, nothing written (the caller's loop runs instead).
      const plain = new Float32Array(n * w), T2 = arrayOf(be, true, V * w, table);
      assert.equal(be.gatherRows!(T2, ids, n, w, plain), false);
      assert.ok(plain.every((e) => e === 0), 'nothing gathered into an ordinary array');
      assert.equal(be.addRowsAt!(new Float32Array(table), ids, n, w, R), false);
      assert.equal(be.addRowsAt!(T2, ids, n, w, new Float32Array(rows)), false);
      assertSame(T2, table, `w=${w}: nothing added from an ordinary array`, ['after', 'before']);
      // The layer-ops entry points: the kernel in place, the loops elsewhere — the same bits.
      const viaOps = arrayOf(be, true, V * w, table), out = arrayOf(be, true, n * w), plainOut = new Float32Array(n * w);
      gatherRows(viaOps, ids, n, w, out, be);
      gatherRows(table, ids, n, w, plainOut, be);
      assertSame(out, gathered, `w=${w}: gatherRows in place`, ['ops', 'loop']);
      assertSame(plainOut, gathered, `w=${w}: gatherRows elsewhere`, ['ops', 'loop']);
      const plainTable = table.slice();
      addRowsAt(viaOps, ids, n, w, rows, be);
      addRowsAt(plainTable, ids, n, w, rows, be);
      assertSame(viaOps, summed, `w=${w}: addRowsAt with ordinary rows`, ['ops', 'loop']);
      assertSame(plainTable, summed, `w=${w}: addRowsAt elsewhere`, ['ops', 'loop']);
    }
    // A row id outside the table: a clear error, nothing read or written.
    const T = arrayOf(be, true, 10 * 4), R = arrayOf(be, true, 2 * 4);
    assert.throws(() => be.gatherRows!(T, Int32Array.of(3, 10), 2, 4, R), /gatherRows ids\[1\] = 10 is outside the table's rows \[0, 10\)/);
    assert.throws(() => be.addRowsAt!(T, Int32Array.of(-1, 0), 2, 4, R), /addRowsAt ids\[0\] = -1 is outside/);
  });
}

if (setups.length > 0) {
  const s = setups[0]!;
  test(`${s.variant}: an activation slot grows by a quarter and gives its old block back at once; a model trained on varying lengths keeps its memory`, TIMEOUT, () => {
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, timeoutMs: 20_000 });
    const prev = getBackend();
    setBackend(be);
    try {
      const slot = new ActivationSlot();
      const a = slot.get(1000);
      assert.equal(a.length, 1000);
      const b = slot.get(600);
      assert.equal(b.length, 600);
      assert.equal(b.byteOffset, a.byteOffset, 'a shorter request: the same block');
      const blocker = be.activationBuffer!(16); // (above the slot's block: it cannot just grow in place)
      const c = slot.get(1200);
      assert.ok(c.length === 1200 && c.byteOffset > blocker.byteOffset, 'a longer one: a new block');
      assert.equal(be.activationBuffer!(1000).byteOffset, a.byteOffset, 'the old block was given back');
      be.activationBuffer!(16); // (above the new block)
      assert.equal(slot.get(1500).byteOffset, c.byteOffset, 'with a quarter to spare');
      // Training in a loop that never yields (no finalizer runs) on batches of every length up to
      // the first one's: the memory stops growing (blocks given back only by the garbage collector
      // grew it by every batch of a new length).
      const model = sequential({ inputShape: [null], layers: [
        layers.embedding({ inputDim: 300, outputDim: 16 }),
        layers.lstm({ units: 32, returnSequences: true }),
        layers.dense({ units: 7, activation: 'softmax' }),
      ] });
      model.build([null]);
      model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
      const rnd = prng(31), B = 8;
      const memory = (be as unknown as { memory: WebAssembly.Memory }).memory;
      let seen = 0;
      for (let step = 0; step < 180; step++) {
        const T = step === 0 ? 154 : 5 + (step * 37) % 150;
        const x = { data: Float32Array.from({ length: B * T }, () => Math.floor(rnd() * 300)), shape: [B, T], mask: null };
        const y = { data: Float32Array.from({ length: B * T }, () => Math.floor(rnd() * 7)), shape: [B, T], mask: null };
        model.trainOnBatch(x, y);
        if (step === 60) seen = memory.buffer.byteLength; // (the free blocks' pattern settles by ~40)
      }
      assert.equal(memory.buffer.byteLength, seen, 'no growth once the blocks have settled');
    } finally {
      setBackend(prev);
      be.terminate();
    }
  });
}

type Model = ReturnType<typeof sequential>;
type Batch = { x: { data: Float32Array; shape: number[]; mask: null }; y: { data: Float32Array; shape: number[]; mask: null } };

/** A model built and compiled (Adam, sparse categorical cross-entropy) from `layerList`. */
function compiled(layerList: NonNullable<Parameters<typeof sequential>[0]>['layers']): Model {
  const m = sequential({ inputShape: [null], layers: layerList });
  m.build([null]);
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  return m;
}

/** A fresh model from `make` trained on `batches` under backend `be`: the model and each step's result. */
function trainUnder(be: Backend, make: () => Model, batches: Batch[], fit?: { clipNorm: number }) {
  const prev = getBackend();
  setBackend(be);
  try {
    const m = make();
    const steps = batches.map((b) => m.trainOnBatch(b.x, b.y, fit));
    return { m, steps };
  } finally {
    setBackend(prev);
  }
}

if (setups.length > 0) {
  const s = setups[0]!;
  test(`${s.variant}: a large model's parameters and gradients lie in the two-thread backend's memory, and it trains (clipped) to the bits of one thread's ordinary arrays`, TIMEOUT, () => {
    const make = (): Model => compiled([
      layers.embedding({ inputDim: 2000, outputDim: 40, seed: 1 }), // 80,000 parameters: above the 65,536 of residentArray
      layers.gru({ units: 24, seed: 2 }),
      layers.dense({ units: 5, activation: 'softmax', seed: 3 }),
    ]);
    const rnd = prng(12), B = 16, T = 30;
    const batches = [0, 1, 2].map(() => ({
      x: { data: Float32Array.from({ length: B * T }, () => Math.floor(rnd() * 2000)), shape: [B, T], mask: null },
      y: { data: Float32Array.from({ length: B }, () => Math.floor(rnd() * 5)), shape: [B, 1], mask: null },
    }));
    const train = (be: Backend): { params: Float32Array; resident: boolean; norms: number[] } => {
      const { m, steps } = trainUnder(be, make, batches, { clipNorm: 0.05 });
      const resident = m.params.buffer instanceof SharedArrayBuffer && m.grads.buffer instanceof SharedArrayBuffer;
      return { params: m.params.slice(), resident, norms: steps.map((r) => r.gradNorm) };
    };
    const two = train(s.forced), one = train(s.single);
    assert.ok(two.resident, 'two threads: the flat buffers are in the backend\'s (shared) memory');
    assert.ok(!one.resident, 'one thread: ordinary arrays');
    assert.ok(one.norms.every((n) => n > 0.05), `every step clipped (norms ${one.norms.join(', ')})`);
    assert.deepEqual(two.norms, one.norms);
    assertSame(two.params, one.params, 'parameters after 3 steps', ['two threads, resident', 'one thread']);
  });
}

for (const s of setups) {
  test(`${s.variant} two threads: weight gradients beside a side job (per-token sums, column sums), K in two parts, rows packed a K block at a time, part 0's last rows a chunk of their own: one thread's bits`, TIMEOUT, () => {
    // Embedding -> recurrent layer -> Dense over every step, T·B >= 1024, each weight gradient
    // split along K with 2 KB+ rows of Aᵀ (G >= 512) and the rows of part 0 in two chunks. LSTM:
    // the table path (~1,100 distinct tokens of 1,536), dW_hh's product (G x H x T·B) beside the
    // per-token sums, dW_ih's (G x E x distinct tokens) beside their column sums. GRU 171 (G = 513,
    // a lone last row, in the tail chunk): too many distinct tokens for a table, so dW_ih's product
    // over the T·B rows beside the column sums of the gate gradients.
    const cases: [string, () => Model, number, number, number][] = [
      ['LSTM 128 (G = 512)', () => compiled([
        layers.embedding({ inputDim: 2200, outputDim: 12, seed: 1 }), layers.lstm({ units: 128, returnSequences: true, seed: 2 }),
        layers.dense({ units: 6, activation: 'softmax', seed: 3 })]), 2200, 32, 48],
      ['GRU 171 (G = 513)', () => compiled([
        layers.embedding({ inputDim: 3000, outputDim: 8, seed: 4 }), layers.gru({ units: 171, returnSequences: true, seed: 5 }),
        layers.dense({ units: 6, activation: 'softmax', seed: 6 })]), 3000, 16, 80],
    ];
    for (const [label, make, V, B, T] of cases) {
      const rnd = prng(V + B);
      const x = { data: Float32Array.from({ length: B * T }, () => Math.floor(rnd() * V)), shape: [B, T], mask: null };
      const y = { data: Float32Array.from({ length: B * T }, () => Math.floor(rnd() * 6)), shape: [B, T], mask: null };
      const train = (be: Backend): { params: Float32Array; losses: number[] } => {
        const { m, steps } = trainUnder(be, make, [{ x, y }, { x, y }]);
        return { params: m.params.slice(), losses: steps.map((r) => r.loss) };
      };
      const before = s.forced.calls.threaded;
      const two = train(s.forced), one = train(s.single);
      assert.ok(s.forced.calls.threaded > before, `${label}: ran on two threads`);
      assert.deepEqual(two.losses, one.losses, `${label}: losses`);
      assertSame(two.params, one.params, `${label}: parameters after 2 steps`, ['two threads', 'one thread']);
    }
  });
}

// ---------------------------------------------------------------------------------------------
// Adam's update in the backends: the JavaScript loop's results, bit for bit
// ---------------------------------------------------------------------------------------------

/**
 * `steps` Adam steps with `cfg` on a copy of p0 under backend `be` (the reference runs
 * optimizers.ts' loop). `resident`: the parameters and gradients in the backend's own memory
 * (activationBuffer arrays, as a model's flat buffers are: the update reads and writes them where
 * they lie); `clipNorm`: each step clipped by global norm in the step (the gradients scaled as they lie).
 */
function adamRun(be: Backend, cfg: Record<string, number | boolean | string>, p0: Float32Array, grads: Float32Array[], o: { resident?: boolean; clipNorm?: number } = {}) {
  const prev = getBackend();
  setBackend(be);
  try {
    const opt = getOptimizer(cfg.decoupled ? 'adamw' : 'adam', Object.fromEntries(Object.entries(cfg).filter(([k]) => k !== 'decoupled')));
    const copy = (a: Float32Array): Float32Array => {
      if (!o.resident) return a.slice();
      const r = be.activationBuffer!(a.length);
      r.set(a);
      return r;
    };
    const p = copy(p0), gs = grads.map(copy), norms: number[] = [];
    for (const g of gs) opt.step(p, g, o.clipNorm === undefined ? undefined : clipGate(g, o.clipNorm, (n) => norms.push(n)));
    return { p: p.slice(), grads: gs.map((g) => g.slice()), norms, slots: opt.getState().slots as Record<string, Float32Array> };
  } finally {
    setBackend(prev);
  }
}

/** Adam runs with parameters and gradients resident and as plain arrays give the same bits (gradients, as clipped, too). */
function checkResidentAdam(be: Backend, cfg: Record<string, number | boolean | string>, p0: Float32Array, grads: Float32Array[], clipNorm: number | undefined, tag: string): void {
  const plain = adamRun(be, cfg, p0, grads, { clipNorm }), resident = adamRun(be, cfg, p0, grads, { clipNorm, resident: true });
  assertSame(resident.p, plain.p, `${tag}: params`, ['resident', 'copied']);
  resident.grads.forEach((g, i) => assertSame(g, plain.grads[i]!, `${tag}: gradients ${i} after the step`, ['resident', 'copied']));
  assert.deepEqual(resident.norms, plain.norms, `${tag}: norms`);
  for (const [k, slot] of Object.entries(plain.slots)) assertSame(resident.slots[k]!, slot, `${tag}: slot ${k}`, ['resident', 'copied']);
}

for (const s of setups) {
  test(`${s.variant}: Adam's update (one thread, two threads forced and gated) equals the JavaScript loop bit for bit`, TIMEOUT, () => {
    const elementwise = ThreadedWasmBackend.createSync({ variant: s.variant, elementwiseMin: 0, timeoutMs: 20_000 });
    try {
      const rnd = prng(41);
      // Odd lengths (the scalar tail), one above the default two-thread gate of 2^16 values.
      for (const n of [1, 7, 1001, 70_001]) {
        const p0 = randArray(n, rnd);
        const grads = [0, 1, 2].map(() => randArray(n, rnd, 0.05));
        // Extremes: zero, huge (v overflows float32), tiny and non-finite gradients; a NaN weight.
        if (n > 6) {
          grads[1]![0] = 0; grads[1]![1] = 3e25; grads[1]![2] = -1e-30; grads[2]![3] = Infinity; grads[2]![4] = NaN; p0[5] = NaN;
        }
        for (const cfg of <Record<string, number | boolean | string>[]>[
          {}, { amsgrad: true, weightDecay: 0.01 }, { learningRate: 0.01, epsilonMode: 'torch', epsilon: 1e-8, beta1: 0.5, beta2: 0.9 },
          { decoupled: true, amsgrad: true, weightDecay: 0.1, learningRate: 0.05 },
        ]) {
          const want = adamRun(referenceBackend, cfg, p0, grads);
          for (const [label, be] of [['one thread', s.single], ['two threads', elementwise], ['gated', s.gated]] as const) {
            const before = elementwise.calls.threaded;
            const got = adamRun(be, cfg, p0, grads);
            const tag = `${label} n=${n} ${JSON.stringify(cfg)}`;
            if (be === elementwise) assert.ok(elementwise.calls.threaded > before, `${tag}: ran on two threads`);
            assertSame(got.p, want.p, `${tag}: params`, ['kernel', 'JavaScript loop']);
            for (const [k, slot] of Object.entries(want.slots)) assertSame(got.slots[k]!, slot, `${tag}: slot ${k}`, ['kernel', 'JavaScript loop']);
            // In the backend's memory (the threaded backends, whose memory is shared), clipped or not.
            if (be.activationBuffer) {
              for (const clipNorm of [undefined, 0.5, 1e6]) checkResidentAdam(be, cfg, p0, grads, clipNorm, `${tag} resident, clipNorm ${clipNorm}`);
            }
          }
        }
      }
      const be = s.single;
      assert.throws(() => be.adamUpdate({
        params: new Float32Array(4), grads: new Float32Array(3), m: new Float32Array(4), v: new Float32Array(4), vh: null,
        beta1: 0.9, beta2: 0.999, alpha: 1e-3, epsilon: 1e-7, l2: 0, shrink: 1,
      }), /adam grads has 3 values, params 4/);
    } finally {
      elementwise.terminate();
    }
  });
}

// Adam keeps m and v in a wasm backend between steps (AdamUpdateArgs.keep): the optimiser's own
// arrays go stale until getState, setState, another backend or the JavaScript loop brings them
// back. Every step must still equal the JavaScript loop's bit for bit, across each hand-over.
for (const s of setups) {
  test(`${s.variant}: Adam's m and v kept in the backend between steps; getState, setState and a change of backend bring them back (bits of the JavaScript loop)`, TIMEOUT, () => {
    const elementwise = ThreadedWasmBackend.createSync({ variant: s.variant, elementwiseMin: 0, timeoutMs: 20_000 });
    const prev = getBackend();
    try {
      const rnd = prng(47), n = 70_001;
      const p0 = randArray(n, rnd), grads = [0, 1, 2, 3, 4, 5, 6].map(() => randArray(n, rnd, 0.05));
      const cfg = { learningRate: 0.01, weightDecay: 0.01 };
      // The JavaScript loop's parameters and state after each step.
      setBackend(referenceBackend);
      const ref = getOptimizer('adam', cfg), pr = p0.slice(), refStates: { p: Float32Array; m: Float32Array; v: Float32Array }[] = [];
      for (const g of grads) {
        ref.step(pr, g);
        const st = ref.getState().slots as Record<string, Float32Array>;
        refStates.push({ p: pr.slice(), m: st.momentum!, v: st.velocity! });
      }
      for (const [label, be] of [['one thread', s.single], ['two threads', elementwise]] as const) {
        const opt = getOptimizer('adam', cfg), p = p0.slice();
        const own = () => (opt as unknown as { slots: Record<string, Float32Array> }).slots;
        const check = (i: number, what: string) => {
          const st = opt.getState().slots as Record<string, Float32Array>;
          assertSame(p, refStates[i]!.p, `${label}: params after step ${i + 1} (${what})`, ['kept', 'JavaScript loop']);
          assertSame(st.momentum!, refStates[i]!.m, `${label}: m after step ${i + 1} (${what})`, ['kept', 'JavaScript loop']);
          assertSame(st.velocity!, refStates[i]!.v, `${label}: v after step ${i + 1} (${what})`, ['kept', 'JavaScript loop']);
        };
        setBackend(be);
        opt.step(p, grads[0]!); opt.step(p, grads[1]!);
        // Kept: the optimiser's arrays still hold step 1's m (made at the first step, not written since).
        assert.notDeepEqual(own().momentum, refStates[1]!.m, `${label}: m kept in the backend, not written back each step`);
        check(1, 'getState');
        opt.step(p, grads[2]!);
        check(2, 'kept again after getState');
        // The JavaScript loop takes over (another backend), then the kernel again.
        setBackend(referenceBackend);
        opt.step(p, grads[3]!);
        check(3, 'the reference backend after kept steps');
        setBackend(be);
        opt.step(p, grads[4]!);
        check(4, 'kept again after the reference backend');
        // setState: the state given, not the kept one (which a step with other gradients changed).
        opt.step(p, grads[0]!);
        opt.setState({ iterations: 5, slots: { momentum: refStates[4]!.m, velocity: refStates[4]!.v } });
        p.set(refStates[4]!.p);
        opt.step(p, grads[5]!); opt.step(p, grads[6]!);
        check(6, 'after setState');
      }
      // More optimisers than the backend keeps (two here): the least recently used go back to
      // their arrays, and are read from them again at their next step.
      for (const [label, be] of [['one thread', s.single], ['two threads', elementwise]] as const) {
        const host = be as unknown as { maxAdamSlots: number; adamSlots: unknown[] };
        const limit = host.maxAdamSlots;
        try {
          host.maxAdamSlots = 2;
          setBackend(be);
          const opts = [0, 1, 2].map(() => getOptimizer('adam', cfg)), ps = opts.map(() => p0.slice());
          for (let k = 0; k < 3; k++) for (let j = 0; j < 3; j++) opts[j]!.step(ps[j]!, grads[k]!);
          assert.ok(host.adamSlots.length <= 2, `${label}: at most two kept`);
          for (let j = 0; j < 3; j++) {
            const st = opts[j]!.getState().slots as Record<string, Float32Array>;
            assertSame(ps[j]!, refStates[2]!.p, `${label}: optimiser ${j} params after 3 steps, evicted in turn`, ['kept', 'JavaScript loop']);
            assertSame(st.momentum!, refStates[2]!.m, `${label}: optimiser ${j} m`, ['kept', 'JavaScript loop']);
            assertSame(st.velocity!, refStates[2]!.v, `${label}: optimiser ${j} v`, ['kept', 'JavaScript loop']);
          }
        } finally {
          host.maxAdamSlots = limit;
        }
      }
      // An array the backend keeps nothing for: adamSync leaves it alone.
      const a = new Float32Array([1, 2]), b = new Float32Array([3, 4]);
      s.single.adamSync!(a, b, true);
      assert.deepEqual([...a, ...b], [1, 2, 3, 4]);
    } finally {
      setBackend(prev);
      elementwise.terminate();
    }
  });
}

for (const s of setups) {
  test(`${s.variant}: softmax rows on two threads (blocks of rows) equal one thread bit for bit, log-sum-exp included`, TIMEOUT, () => {
    const elementwise = ThreadedWasmBackend.createSync({ variant: s.variant, elementwiseMin: 0, timeoutMs: 20_000 });
    try {
      const rnd = prng(43);
      // Widths with a scalar tail; row counts that leave a short last block (one block is at
      // least 16,384 values), one above the default two-thread gate of 2^16 values.
      for (const [rows, k] of [[3, 5], [257, 65], [2048, 65], [1031, 7], [300, 1000]] as const) {
        const x = randArray(rows * k, rnd, 30);
        // Rows with a NaN, a +Inf, all -Inf, and a huge spread.
        x[0] = NaN; x[k + 1] = Infinity; for (let j = 0; j < k; j++) x[2 * k + j] = -Infinity;
        if (rows > 3) x[3 * k] = 1e30;
        const run = (be: Backend) => {
          const y = new Float32Array(rows * k), lse = new Float64Array(rows);
          be.softmaxRows!(x, y, rows, k, lse);
          return { y, lse };
        };
        const want = run(s.single), before = elementwise.calls.threaded;
        const got = run(elementwise);
        const tag = `rows=${rows} k=${k}`;
        assert.equal(elementwise.calls.threaded, before + 1, `${tag}: ran on two threads`);
        assertSame(got.y, want.y, `${tag}: softmax`);
        for (let r = 0; r < rows; r++) {
          const g = got.lse[r]!, w = want.lse[r]!;
          assert.ok(Object.is(g, w) || (Number.isNaN(g) && Number.isNaN(w)), `${tag}: log-sum-exp of row ${r}: two threads ${g}, one thread ${w}`);
        }
      }
      // In place (x is y): one thread, whatever the size (a call redone after a lost worker reads x again).
      const x = randArray(4096 * 17, rnd, 5), lse = new Float64Array(4096), before = elementwise.calls.single;
      const want = new Float32Array(x.length);
      s.single.softmaxRows!(x, want, 4096, 17, new Float64Array(4096));
      elementwise.softmaxRows!(x, x, 4096, 17, lse);
      assert.equal(elementwise.calls.single, before + 1, 'in place: one thread');
      assertSame(x, want, 'in place');
      // The worker starts with the first two-thread call and takes blocks once it runs: a call
      // repeated until it has (10 s at most), each time the bits of one thread.
      const big = randArray(8192 * 65, rnd, 30), bigWant = new Float32Array(big.length);
      s.single.softmaxRows!(big, bigWant, 8192, 65, new Float64Array(8192));
      const chunks = elementwise.workerChunks, t0 = Date.now();
      do {
        const y = new Float32Array(big.length);
        elementwise.softmaxRows!(big, y, 8192, 65, new Float64Array(8192));
        assertSame(y, bigWant, '8192 x 65');
      } while (elementwise.workerChunks === chunks && Date.now() - t0 < 10_000);
      assert.ok(elementwise.workerChunks > chunks, 'the worker computed blocks of a call');
    } finally {
      elementwise.terminate();
    }
  });
}

// ---------------------------------------------------------------------------------------------
// A lost worker: results stay right, nothing hangs
// ---------------------------------------------------------------------------------------------

if (setups.length > 0) {
  const s = setups[0]!;
  test(`${s.variant} two threads: worker killed without notice -> calls recomputed on one thread within the timeout`, TIMEOUT, async () => {
    const warnings: string[] = [];
    const onWarning = (w: Error): void => { warnings.push(w.message); };
    process.on('warning', onWarning);
    const be = ThreadedWasmBackend.createSync({
      variant: s.variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, elementwiseMin: 0, timeoutMs: 300,
    });
    try {
      const rnd = prng(5);
      gemmCheck(s, be, false, true, 40, 24, 16, false, 0, rnd);
      assert.equal(be.calls.threaded, 1);
      // Kill the worker behind the backend's back: the main thread learns of it only through
      // the timeouts (or, once the event loop turns, the worker's exit event).
      (be as unknown as { worker: { terminate(): void } }).worker.terminate();
      const t0 = performance.now();
      // First an optimiser step (its buffers are updated in place, so no part of a call may be
      // applied twice): with the worker gone the main thread claims every block itself.
      const p0 = randArray(5000, rnd), grads = [randArray(5000, rnd, 0.05)];
      const want = adamRun(referenceBackend, { amsgrad: true }, p0, grads), got = adamRun(be, { amsgrad: true }, p0, grads);
      assertSame(got.p, want.p, 'Adam after the loss: params', ['rerun', 'JavaScript loop']);
      for (const [k, slot] of Object.entries(want.slots)) assertSame(got.slots[k]!, slot, `Adam after the loss: ${k}`, ['rerun', 'JavaScript loop']);
      // A dense backward writing dx in place (an activation buffer): the rerun writes it whole again.
      denseInPlaceCheck(be, rnd, 'worker lost');
      seqCheck(s, be, { cell: CELLS[0]!, T: 6, B: 5, H: 24, lengths: null, reverse: false, withRef: false }, rnd);
      // Batch 1 with new weights: W_hh packed in blocks of rows by the loop (again if redone).
      seqCheck(s, be, { cell: CELLS[0]!, T: 4, B: 1, H: 61, lengths: null, reverse: false, withRef: false }, rnd);
      gemmCheck(s, be, true, false, 33, 17, 9, true, 1, rnd);
      seqCheck(s, be, { cell: CELLS[2]!, T: 4, B: 3, H: 17, lengths: makeLengths('with0', 3, 4, rnd), reverse: true, withRef: false }, rnd);
      assert.ok(performance.now() - t0 < 10_000, 'gave up on the worker within the timeouts');
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(be.threaded, false, 'the worker is given up');
      assert.ok(be.lostReason, 'with a reason');
      const single = be.calls.single;
      gemmCheck(s, be, false, false, 20, 20, 20, true, 2, rnd);
      assert.equal(be.calls.single, single + 1, 'later calls run on one thread');
      await new Promise((r) => setImmediate(r));
      assert.ok(warnings.some((m) => /kernel worker thread was lost/.test(m)), `one warning: ${warnings.join(' | ')}`);
    } finally {
      process.off('warning', onWarning);
      be.terminate();
    }
  });

  test(`${s.variant} two threads: a worker lost after a clipped Adam step on resident parameters wrote everything -> the step redone on one thread gives the bits of one clean step`, TIMEOUT, () => {
    // The worst case for a redo: the two-thread call finished (gradients scaled where they lie,
    // the new values written) and only then is the worker found lost. The redo must start from
    // the same parameters and the same (unscaled) gradients.
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, elementwiseMin: 0, timeoutMs: 20_000 });
    const inner = be as unknown as { runAdam(mt: boolean, args: number[]): void };
    const real = inner.runAdam.bind(be);
    const calls: boolean[] = [];
    inner.runAdam = (mt, args) => {
      real(mt, args);
      calls.push(mt);
      if (mt) throw new WorkerLost('simulated: the worker went silent after the update');
    };
    const warnings: string[] = [];
    const onWarning = (w: Error): void => { warnings.push(w.message); };
    process.on('warning', onWarning);
    try {
      const rnd = prng(8);
      const p0 = randArray(70_001, rnd), grads = [randArray(70_001, rnd, 0.5), randArray(70_001, rnd, 0.5)];
      const got = adamRun(be, {}, p0, grads, { clipNorm: 1, resident: true }), want = adamRun(s.single, {}, p0, grads, { clipNorm: 1 });
      assert.deepEqual(calls, [true, false, false], 'the first step ran on two threads and was redone on one; the second ran on one');
      assert.ok(be.lostReason, 'the worker was given up');
      assert.ok(want.norms.every((n) => n > 1), 'every step clipped');
      assertSame(got.p, want.p, 'params', ['redone', 'one thread']);
      got.grads.forEach((g, i) => assertSame(g, want.grads[i]!, `gradients ${i} scaled once`, ['redone', 'one thread']));
      for (const [k, slot] of Object.entries(want.slots)) assertSame(got.slots[k]!, slot, `slot ${k}`, ['redone', 'one thread']);
    } finally {
      process.off('warning', onWarning);
      be.terminate();
    }
  });

  test(`${s.variant} two threads: a batch-1 call lost after a chunk of W_hh's rows was copied but not packed is redone with everything copied and packed again`, TIMEOUT, () => {
    // The in-place slot's check compares W_hh with a copy kept after the packing. A worker lost
    // between copying a changed chunk's rows and packing them would leave a copy that matches and
    // a packing that does not: the redone call must not trust the check.
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20_000 });
    lostAfterCopy(s, be, 'weight_hh_l0', 'runSeqForward', 1, (inner, whh) => {
      const slot = inner.weightSlots.find((w) => w.inPlace && w.ptr === whh.byteOffset);
      assert.ok(slot?.pack, 'W_hh has an in-place slot with a packing');
      const align = (n: number): number => Math.ceil(n / 64) * 64;
      return () => slot.pack!.ptr + align(inner.k.packed_whh_bytes(0, 60)); // the copy after the packing
    });
  });

  test(`${s.variant} two threads: a projection lost after a block of W_ih's rows was copied but not packed is redone with the panels packed again`, TIMEOUT, () => {
    // The same hazard for W_ih's panels, which the product checks against the copy (gemm_checked):
    // the copy is the product's B (its 8th argument). From the second call the panels are current.
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20_000 });
    lostAfterCopy(s, be, 'weight_ih_l0', 'runGemmChecked', 3, () => (args) => args[7]!);
  });

  test(`${s.variant} two threads: a chunk its partner never finishes makes the kernel trap after the timeout, not hang`, TIMEOUT, () => {
    // White-box: run thread 0 of gemm_mt alone on a sync block where the last packing chunk is
    // already claimed (by a "worker" that died holding it). Thread 0 does the other chunks, then
    // waits for that one: after `timeoutMs` of 1 ms sleeps without progress it sets the abort flag
    // and traps (the backend turns that into WorkerLost and recomputes on one thread).
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, timeoutMs: 150 });
    const inner = be as unknown as {
      k: { gemm_mt(...a: number[]): void; packed_bytes(K: number, N: number): number };
      sync: Int32Array; syncAddr: number; base: number; memory: WebAssembly.Memory;
    };
    try {
      const M = 64, N = 64, K = 32;
      const pA = inner.base, pB = pA + M * K * 4, pC = pB + K * N * 4, pP = pC + M * N * 4;
      const need = pP + inner.k.packed_bytes(K, N);
      if (need > inner.memory.buffer.byteLength) inner.memory.grow(Math.ceil((need - inner.memory.buffer.byteLength) / 65536));
      const np = N / 8; // 8 panels, one per packing chunk
      inner.sync[S_DONE] = 0; // chunks finished
      inner.sync[S_CLAIM_LO] = (np - 1) << 16; // phase 0 open: lo = 0, hi = np - 1 (chunk np-1 held elsewhere)
      inner.sync[S_CLAIM_PHASE] = 0;
      const t0 = performance.now();
      assert.throws(() => inner.k.gemm_mt(0, inner.syncAddr, 0, 0, M, N, K, pA, K, pB, N, pC, N, 0, pP, 0, 0), WebAssembly.RuntimeError);
      const ms = performance.now() - t0;
      assert.equal(Atomics.load(inner.sync, S_ABORT), 1, 'the abort flag is set');
      assert.equal(Atomics.load(inner.sync, S_DONE), np - 1, 'the other chunks were done');
      assert.ok(ms >= 100 && ms < 10_000, `gave up after ${ms.toFixed(0)} ms`);
    } finally {
      be.terminate();
    }
  });

  test(`${s.variant} two threads: terminate() stops the worker; the backend goes on on one thread`, TIMEOUT, () => {
    const be = ThreadedWasmBackend.createSync({ variant: s.variant, gemmMinWork: 0 });
    const rnd = prng(6);
    gemmCheck(s, be, false, true, 16, 16, 16, false, 0, rnd);
    be.terminate();
    assert.equal(be.threaded, false);
    gemmCheck(s, be, false, true, 16, 16, 16, false, 0, rnd);
    assert.deepEqual(be.calls, { threaded: 1, single: 1 });
  });
}

// ---------------------------------------------------------------------------------------------
// Selection (setThreads / RNNKIT_THREADS) and process exit
// ---------------------------------------------------------------------------------------------

const indexUrl = new URL('../src/index.js', import.meta.url).href;
const kernelsUrl = new URL('../src/kernels/index.js', import.meta.url).href;

function child(code: string, env: NodeJS.ProcessEnv = {}): { status: number | null; out: string; ms: number } {
  const t0 = performance.now();
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], {
    env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000,
  });
  return { status: r.status, out: `${r.stdout ?? ''}${r.stderr ?? ''}`, ms: performance.now() - t0 };
}

if (setups.length > 0 && !process.env.RNNKIT_BACKEND && !process.env.RNNKIT_THREADS) {
  test('two threads by default on 2+ cores; setThreads(1) / setThreads(2) switch the float32 backend; getThreads reports it', TIMEOUT, () => {
    const prev = getBackend();
    try {
      const cores = availableParallelism();
      assert.equal(getThreads(), cores >= 2 ? 2 : 1, `default on ${cores} cores`);
      setThreads(1);
      const single = getBackend();
      assert.equal(getThreads(), 1);
      assert.ok(!(single instanceof ThreadedWasmBackend));
      setThreads(2);
      assert.equal(getThreads(), 2);
      assert.ok(getBackend() instanceof ThreadedWasmBackend);
      assert.match(getBackend().name, /^wasm-(relaxed-)?simd-threads$/);
      const two = getBackend();
      setThreads(2); // no-op
      assert.equal(getBackend(), two);
      setThreads(1);
      assert.equal(getThreads(), 1);
      assert.equal(getBackend(), single);
      assert.throws(() => setThreads(3), /expected 1 or 2/);
      setBackend(referenceBackend);
      assert.throws(() => setThreads(2), /need a WebAssembly backend/);
    } finally {
      setBackend(prev);
    }
  });

  test('RNNKIT_THREADS=2: a layer trains on two threads and the process exits by itself (idle worker unref\'d)', TIMEOUT, () => {
    const code = `
      import * as rnn from ${JSON.stringify(indexUrl)};
      import * as kernels from ${JSON.stringify(kernelsUrl)};
      const lstm = new rnn.LSTM({ inputSize: 32, hiddenSize: 128, seed: 1 }); // per step B·G·H = 2^21 >= the gate
      const x = new rnn.Tensor(new Float32Array(16 * 32 * 32).map((_, i) => Math.sin(i)), [16, 32, 32]);
      const y = lstm.forward(x);
      lstm.backward(y.output);
      console.log(JSON.stringify({ threads: kernels.getThreads(), backend: rnn.backendName(), calls: rnn.getBackend().calls }));`;
    const r = child(code, { RNNKIT_THREADS: '2' });
    assert.equal(r.status, 0, r.out);
    const info = JSON.parse(r.out.trim().split('\n').at(-1)!) as { threads: number; backend: string; calls: { threaded: number } };
    assert.equal(info.threads, 2);
    assert.match(info.backend, /-threads$/);
    assert.ok(info.calls.threaded > 0, r.out);
    assert.ok(r.ms < 20_000, `exited after ${r.ms} ms`);
    const bad = child(`import ${JSON.stringify(kernelsUrl)};`, { RNNKIT_THREADS: '4' });
    assert.notEqual(bad.status, 0);
    assert.match(bad.out, /RNNKIT_THREADS=4: expected 1 or 2/);
  });

  test('the default (2+ cores): no worker until a call is big enough, then two threads; RNNKIT_THREADS=1 opts out; the process exits by itself', TIMEOUT, () => {
    if (availableParallelism() < 2) return assert.equal(getThreads(), 1);
    const code = `
      import * as kernels from ${JSON.stringify(kernelsUrl)};
      const be = kernels.getBackend();
      const small = new Float32Array(64 * 64).fill(0.5), c = new Float32Array(64 * 64);
      be.gemm(false, false, 64, 64, 64, small, 64, small, 64, c, 64, false);
      const before = { ...be.calls }, startedEarly = be.workerChunks;
      const a = new Float32Array(256 * 256).fill(0.25), d = new Float32Array(256 * 256);
      const t0 = Date.now();
      while (be.calls.threaded === 0 && Date.now() - t0 < 15000) be.gemm(false, false, 256, 256, 256, a, 256, a, 256, d, 256, false);
      console.log(JSON.stringify({ threads: kernels.getThreads(), name: be.name, before, after: be.calls, c: c[0], d: d[0] }));`;
    const r = child(code);
    assert.equal(r.status, 0, r.out);
    const info = JSON.parse(r.out.trim().split('\n').at(-1)!) as { threads: number; name: string; before: { threaded: number; single: number }; after: { threaded: number }; c: number; d: number };
    assert.equal(info.threads, 2);
    assert.match(info.name, /-threads$/);
    assert.deepEqual(info.before, { threaded: 0, single: 1 }, 'a small call runs on one thread');
    assert.ok(info.after.threaded > 0, 'big calls reach the worker once it is up');
    assert.equal(info.c, 16);
    assert.equal(info.d, 16);
    assert.ok(r.ms < 20_000, `exited after ${r.ms} ms`);
    const one = child(`import * as k from ${JSON.stringify(kernelsUrl)}; console.log(k.getThreads(), k.getBackend().name);`, { RNNKIT_THREADS: '1' });
    assert.match(one.out, /^1 wasm-(relaxed-)?simd$/m);
  });

  test('the default (2+ cores): a two-thread backend that fails to start is reported, and the kernels run on one thread', TIMEOUT, () => {
    if (availableParallelism() < 2) return assert.equal(getThreads(), 1);
    // The two-thread module's instance (the only one importing a shared memory) fails as a broken
    // build would (a link error): one thread, with a warning, where a missing capability is silent.
    const r = child(`
      const Instance = WebAssembly.Instance;
      WebAssembly.Instance = function (m, imports) {
        if (imports?.env?.memory?.buffer instanceof SharedArrayBuffer) throw new WebAssembly.LinkError('simulated');
        return new Instance(m, imports);
      };
      const k = await import(${JSON.stringify(kernelsUrl)});
      const a = new Float32Array(256 * 256).fill(0.5), c = new Float32Array(256 * 256);
      k.getBackend().gemm(false, false, 256, 256, 256, a, 256, a, 256, c, 256, false);
      console.log(k.getThreads(), k.getBackend().name, c[0]);`);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^1 wasm-(relaxed-)?simd 64$/m);
    assert.match(r.out, /RnnkitWarning: rnnkit: cannot start the two-thread wasm-(relaxed-)?simd backend \(simulated\); the kernels run on one thread/);
  });

  test('setThreads(2) then setThreads(1): the process exits cleanly', TIMEOUT, () => {
    const r = child(`
      import * as rnn from ${JSON.stringify(kernelsUrl)};
      rnn.setThreads(2);
      const a = new Float32Array(256 * 256).fill(0.5), c = new Float32Array(256 * 256);
      rnn.getBackend().gemm(false, false, 256, 256, 256, a, 256, a, 256, c, 256, false);
      rnn.setThreads(1);
      console.log(c[0], rnn.getThreads());`);
    assert.equal(r.status, 0, r.out);
    assert.match(r.out, /^64 1$/m);
  });
}
