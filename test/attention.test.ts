// Attention (src/kernels/attention-ops.ts, src/layers/attention.ts): PyTorch golden values for
// every score, finite differences in float64, the masks' guarantees, and the layers in models
// (learning where to look, gradients through a graph, save -> load, errors).
//
// Golden values: test/golden/attention.json, written by
//     /usr/bin/python3 tools/golden/make_attention_golden.py > test/golden/attention.json
// (see that script's header); this test only reads the JSON. Tolerances as in
// test/torch-golden.test.ts: float64 differs from torch's float64 by summation order and libm's
// exp/tanh only (1e-11 + 1e-9 relative); float32 computes from the same (float32-exact) inputs
// with rounding per operation over sums of at most 5 terms (1e-5 + 1e-4 relative; a wrong mask,
// scale or gradient term moves values by 1e-2 or more).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { attentionBackward, attentionForward, type AttentionArgs, type AttentionScore } from '../src/kernels/attention-ops.js';
import { getBackend, getThreads, referenceBackend } from '../src/kernels/index.js';
import { gemmBatched, tanhInto } from '../src/kernels/layer-ops.js';
import type { F } from '../src/kernels/types.js';
import { assertClose, checkModelGradients, numericalGrad, randomArray, saveLoadRoundTrip } from './helpers.js';

interface GoldenCase {
  name: string;
  score: AttentionScore;
  B: number; Tq: number; Tv: number; Dq: number; Dk: number; Dv: number; A: number | null;
  causal: boolean;
  pooling: boolean;
  keyMask: number[] | null;
  q: number[] | null; k: number[]; v: number[];
  wq: number[] | null; wk: number[] | null; b: number[] | null; w: number[] | null;
  wy: number[]; wa: number[];
  expected: Record<'y' | 'a' | 'dk', number[]> & Record<'dq' | 'dv' | 'dwq' | 'dwk' | 'db' | 'dw', number[] | null>;
}

const golden = JSON.parse(readFileSync(new URL('../../test/golden/attention.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] };

function argsOf(c: GoldenCase, arr: (x: number[]) => F): AttentionArgs {
  const k = arr(c.k);
  return {
    score: c.score, B: c.B, Tq: c.Tq, Tv: c.Tv, Dq: c.Dq, Dk: c.Dk, Dv: c.Dv,
    q: c.q ? arr(c.q) : null, k, v: c.pooling ? k : arr(c.v),
    keyMask: c.keyMask ? Uint8Array.from(c.keyMask) : null, causal: c.causal,
    ...(c.score === 'additive' ? { wq: c.wq ? arr(c.wq) : null, wk: arr(c.wk!), b: arr(c.b!), w: arr(c.w!) } : {}),
  };
}

/** Forward and backward (dy = wy, dA = wa) of a case; pooling's dk is the sequence's whole gradient. */
function runCase(c: GoldenCase, dtype: 'float32' | 'float64') {
  const arr = (x: number[]): F => (dtype === 'float64' ? Float64Array.from(x) : Float32Array.from(x));
  const be = dtype === 'float64' ? referenceBackend : getBackend();
  const a = argsOf(c, arr);
  const y = arr(new Array<number>(c.B * c.Tq * c.Dv).fill(0));
  const saved = attentionForward(be, a, y);
  const zeros = (x: F | null | undefined): F | null => (x ? arr(new Array<number>(x.length).fill(0)) : null);
  const g = { dq: zeros(a.q), dk: zeros(a.k), dv: c.pooling ? null : zeros(a.v), dwq: zeros(a.wq), dwk: zeros(a.wk) ?? undefined, db: zeros(a.b) ?? undefined, dw: zeros(a.w) ?? undefined };
  attentionBackward(be, a, saved, arr(c.wy), g, arr(c.wa));
  return { y, a: saved.a, g };
}

for (const dtype of ['float64', 'float32'] as const) {
  test(`attention against PyTorch (${dtype}): outputs, weights and every gradient of dot, scaledDot, causal, additive and pooling`, () => {
    const [atol, rtol] = dtype === 'float64' ? [1e-11, 1e-9] : [1e-5, 1e-4];
    assert.equal(golden.cases.length, 5);
    for (const c of golden.cases) {
      const r = runCase(c, dtype), e = c.expected;
      assertClose(r.y, e.y, atol, rtol, `${c.name}: y`);
      assertClose(r.a, e.a, atol, rtol, `${c.name}: weights`);
      assertClose(r.g.dk!, e.dk, atol, rtol, `${c.name}: dk`);
      if (e.dq) assertClose(r.g.dq!, e.dq, atol, rtol, `${c.name}: dq`);
      if (e.dv) assertClose(r.g.dv!, e.dv, atol, rtol, `${c.name}: dv`);
      for (const p of ['dwq', 'dwk', 'db', 'dw'] as const) {
        const want = e[p];
        // (null: no such parameter — the dot scores, and W_q of pooling)
        if (want) assertClose(r.g[p]!, want, atol, rtol, `${c.name}: ${p}`);
        else assert.ok(c.score !== 'additive' || (p === 'dwq' && c.pooling), `${c.name}: ${p} missing from the golden file`);
      }
    }
  });
}

/** Random float64 arguments (with a query step that sees no key at all when `blind`). */
function randomArgs(score: AttentionScore, o: { B: number; Tq: number; Tv: number; Dq: number; Dk: number; Dv: number; A?: number; causal?: boolean; pooling?: boolean; lengths?: number[]; dropout?: number }, seed: number): AttentionArgs {
  const { B, Tq, Tv, Dq, Dk, Dv } = o;
  let keyMask: Uint8Array | null = null;
  if (o.lengths) {
    keyMask = new Uint8Array(B * Tv);
    o.lengths.forEach((n, b) => keyMask!.fill(1, b * Tv, b * Tv + n));
  }
  const k = randomArray(B * Tv * Dk, seed + 1);
  const A = o.A ?? 0;
  return {
    score, B, Tq, Tv, Dq, Dk, Dv, q: o.pooling ? null : randomArray(B * Tq * Dq, seed), k, v: o.pooling ? k : randomArray(B * Tv * Dv, seed + 2),
    keyMask, causal: o.causal ?? false,
    // (a fixed dropout mask: factors 0 or 1/(1 - rate))
    ...(o.dropout ? { dropMask: Float64Array.from(randomArray(B * Tq * Tv, seed + 7), (u) => (Math.abs(u) < o.dropout! ? 0 : 1 / (1 - o.dropout!))) } : {}),
    ...(score === 'additive' ? { wq: o.pooling ? null : randomArray(Dq * A, seed + 3, 0.8), wk: randomArray(Dk * A, seed + 4, 0.8), b: randomArray(A, seed + 5, 0.5), w: randomArray(A, seed + 6) } : {}),
  };
}

const FD_CASES: [string, AttentionScore, Parameters<typeof randomArgs>[1]][] = [
  ['dot', 'dot', { B: 2, Tq: 3, Tv: 4, Dq: 3, Dk: 3, Dv: 2, lengths: [4, 2] }],
  ['scaledDot, causal', 'scaledDot', { B: 2, Tq: 4, Tv: 4, Dq: 2, Dk: 2, Dv: 3, causal: true }],
  // Row 1 has no real key: its weights and output are 0 whatever the inputs (gradient 0).
  ['additive, a row with no key', 'additive', { B: 2, Tq: 2, Tv: 3, Dq: 2, Dk: 3, Dv: 2, A: 4, lengths: [2, 0] }],
  ['additive, causal', 'additive', { B: 1, Tq: 3, Tv: 3, Dq: 2, Dk: 2, Dv: 2, A: 3, causal: true }],
  ['pooling (keys = values, one array)', 'additive', { B: 2, Tq: 1, Tv: 4, Dq: 0, Dk: 3, Dv: 3, A: 2, pooling: true, lengths: [4, 3] }],
  ['scaledDot with dropout on the weights', 'scaledDot', { B: 2, Tq: 3, Tv: 4, Dq: 2, Dk: 2, Dv: 3, lengths: [4, 3], dropout: 0.4 }],
  ['additive with dropout on the weights', 'additive', { B: 2, Tq: 2, Tv: 3, Dq: 2, Dk: 3, Dv: 2, A: 3, causal: false, dropout: 0.3 }],
];

for (const [label, score, shape] of FD_CASES) {
  test(`attention gradients match finite differences in float64: ${label}`, () => {
    const a = randomArgs(score, shape, 11);
    const wy = randomArray(shape.B * shape.Tq * shape.Dv, 21), wa = randomArray(shape.B * shape.Tq * shape.Tv, 22);
    const loss = (): number => {
      const y = new Float64Array(wy.length);
      const s = attentionForward(referenceBackend, a, y);
      let l = 0;
      for (let i = 0; i < y.length; i++) l += wy[i]! * y[i]!;
      for (let i = 0; i < wa.length; i++) l += wa[i]! * s.a[i]!;
      return l;
    };
    const saved = attentionForward(referenceBackend, a, new Float64Array(wy.length));
    const z = (x: F | null | undefined): Float64Array | null => (x ? new Float64Array(x.length) : null);
    const g = { dq: z(a.q), dk: z(a.k), dv: shape.pooling ? null : z(a.v), dwq: z(a.wq), dwk: z(a.wk) ?? undefined, db: z(a.b) ?? undefined, dw: z(a.w) ?? undefined };
    attentionBackward(referenceBackend, a, saved, wy, g, wa); // (pooling: k and v one array, its gradient in dk)
    const check = (got: F, x: F, what: string): void => assertClose(got, numericalGrad(x, loss), 1e-8, 1e-6, `${label}: ${what}`);
    if (a.q) check(g.dq!, a.q, 'dq');
    check(g.dk!, a.k, 'dk');
    if (!shape.pooling) check(g.dv!, a.v, 'dv');
    if (score === 'additive') {
      if (a.wq) check(g.dwq!, a.wq, 'dW_q');
      check(g.dwk!, a.wk!, 'dW_k');
      check(g.db!, a.b!, 'db');
      check(g.dw!, a.w!, 'dw');
    }
    let informative = 0;
    for (const x of [g.dq, g.dk, g.dv]) if (x) for (const v of x) if (Math.abs(v) > 1e-3) informative++;
    assert.ok(informative > 5, `${label}: only ${informative} gradients away from 0`);
  });
}

test('fused attention pooling (the WebAssembly backends) against the composed float32 path: outputs, weights and every gradient, with padding, a row with no step and widths off the vector lanes', () => {
  const be = getBackend();
  if (!be.attentionPoolForward) {
    // (RNNKIT_BACKEND=reference: nothing fused; the composed path is what the other tests check)
    assert.equal(be, referenceBackend);
    return;
  }
  // (the last case: large scores, weights all but one-hot; outputs and dh prefilled with NaN,
  // which every value written must replace)
  for (const [B, T, D, A, scale] of [[3, 7, 5, 6, 1], [4, 12, 16, 8, 1], [2, 1, 3, 1, 1], [2, 17, 4, 5, 40]] as const) {
    const lengths = Array.from({ length: B }, (_, b) => (b === 1 ? 0 : T - (b % 3)));
    const a64 = randomArgs('additive', { B, Tq: 1, Tv: T, Dq: 0, Dk: D, Dv: D, A, pooling: true, lengths }, 40 + T);
    const to32 = (x: F | null | undefined): Float32Array => Float32Array.from(x!);
    const k = to32(a64.k);
    const args = (): AttentionArgs => ({ ...a64, k, v: k, wk: to32(a64.wk), b: to32(a64.b), w: to32(a64.w).map((x) => x * scale) });
    const dy = Float32Array.from(randomArray(B * D, 7));
    const run = (backend: typeof be) => {
      const a = args(), y = new Float32Array(B * D).fill(NaN);
      const saved = attentionForward(backend, a, y);
      const g = { dq: null, dk: new Float32Array(B * T * D).fill(NaN), dv: null, dwk: new Float32Array(D * A).fill(0.5), db: new Float32Array(A).fill(0.25), dw: new Float32Array(A) };
      attentionBackward(backend, a, saved, dy, g);
      return { y, w: saved.a, g, fused: saved.pk === null };
    };
    const f = run(be), r = run(referenceBackend);
    const what = `B ${B} T ${T} D ${D} A ${A}${scale > 1 ? ' large scores' : ''}`;
    assert.ok(f.fused && !r.fused, `${what}: the fused path ran on ${be.name} only`);
    assert.ok([...f.y, ...f.w, ...f.g.dk].every(Number.isFinite), `${what}: every value written`);
    assertClose(f.y, r.y, 1e-6, 1e-5, `${what}: y`);
    assertClose(f.w, r.w, 1e-6, 1e-5, `${what}: weights`);
    for (let t = 0; t < T; t++) assert.equal(f.w[T + t], 0, `${what}: row 1 has no step`);
    assertClose(f.g.dk, r.g.dk, 1e-6, 1e-5, `${what}: dh`);
    for (const p of ['dwk', 'db', 'dw'] as const) assertClose(f.g[p], r.g[p], 1e-6, 1e-5, `${what}: ${p}`);
  }
});

test('additive scores on the WebAssembly backends (additiveScores and its backward) against the composed float32 path, causal and padded, widths off the vector lanes', () => {
  const be = getBackend();
  if (!be.additiveScores) {
    assert.equal(be, referenceBackend); // (RNNKIT_BACKEND=reference: nothing fused)
    return;
  }
  for (const [B, Tq, Tv, A, causal] of [[2, 3, 5, 6, false], [3, 4, 4, 8, true], [1, 2, 3, 1, false]] as const) {
    // (row 1 has no key: the backend's softmax of a row of -Inf is NaN, which must come out 0)
    const lengths = Array.from({ length: B }, (_, b) => (b === 1 ? 0 : Tv - b));
    const a64 = randomArgs('additive', { B, Tq, Tv, Dq: 3, Dk: 5, Dv: 2, A, causal, lengths }, 60 + A);
    const to32 = (x: F | null | undefined): Float32Array => Float32Array.from(x!);
    const args = (): AttentionArgs => ({ ...a64, q: to32(a64.q), k: to32(a64.k), v: to32(a64.v), wq: to32(a64.wq), wk: to32(a64.wk), b: to32(a64.b), w: to32(a64.w) });
    const dy = Float32Array.from(randomArray(B * Tq * 2, 8));
    const run = (backend: typeof be) => {
      const a = args(), y = new Float32Array(B * Tq * 2);
      const saved = attentionForward(backend, a, y);
      const g = { dq: new Float32Array(B * Tq * 3), dk: new Float32Array(B * Tv * 5), dv: new Float32Array(B * Tv * 2), dwq: new Float32Array(3 * A), dwk: new Float32Array(5 * A), db: new Float32Array(A), dw: new Float32Array(A) };
      attentionBackward(backend, a, saved, dy, g);
      return { y, w: saved.a, g };
    };
    const f = run(be), r = run(referenceBackend), what = `B ${B} Tq ${Tq} Tv ${Tv} A ${A}${causal ? ' causal' : ''}`;
    assertClose(f.y, r.y, 1e-6, 1e-5, `${what}: y`);
    assertClose(f.w, r.w, 1e-6, 1e-5, `${what}: weights`);
    if (B > 1) assert.deepEqual([...f.w.subarray(Tq * Tv, 2 * Tq * Tv)], new Array(Tq * Tv).fill(0), `${what}: the row with no key`);
    for (const p of ['dq', 'dk', 'dv', 'dwq', 'dwk', 'db', 'dw'] as const) assertClose(f.g[p], r.g[p], 1e-6, 1e-5, `${what}: ${p}`);
  }
});

test('gemmBatched: the backend\'s one call gives the bits of a gemm per product, transposed, strided, accumulating, and in place', () => {
  const be = getBackend();
  for (const [tA, tB, acc] of [[false, false, false], [false, true, true], [true, false, false], [true, true, true]] as const) {
    const count = 5, M = 7, N = 9, K = 6, lda = tA ? M + 1 : K + 2, ldb = tB ? K + 3 : N, ldc = N + 1;
    const sA = (tA ? K : M) * lda + 3, sB = (tB ? N : K) * ldb + 1, sC = M * ldc + 2;
    const A = Float32Array.from(randomArray(count * sA, 1)), B = Float32Array.from(randomArray(count * sB, 2));
    const C0 = Float32Array.from(randomArray(count * sC, 3));
    const one = C0.slice(), all = C0.slice();
    for (let i = 0; i < count; i++) be.gemm(tA, tB, M, N, K, A.subarray(i * sA), lda, B.subarray(i * sB), ldb, one.subarray(i * sC), ldc, acc);
    gemmBatched(be, count, tA, tB, M, N, K, A, sA, lda, B, sB, ldb, all, sC, ldc, acc);
    assert.deepEqual(all, one, `${tA ? 'T' : 'N'}${tB ? 'T' : 'N'}${acc ? ' accumulating' : ''}`);
    if (be.activationBuffer) {
      // Operands in the backend's own memory are read and written where they lie.
      const a = be.activationBuffer(A.length), c = be.activationBuffer(C0.length);
      a.set(A); c.set(C0);
      gemmBatched(be, count, tA, tB, M, N, K, a, sA, lda, B, sB, ldb, c, sC, ldc, acc);
      assert.deepEqual(c, one, 'in place');
      be.releaseActivation?.(a); be.releaseActivation?.(c);
    }
  }
  // Large enough to share the products between two threads (each computed whole by one of them).
  const count = 32, M = 50, N = 50, K = 128;
  const A = Float32Array.from(randomArray(count * M * K, 4)), B = Float32Array.from(randomArray(count * N * K, 5));
  const one = new Float32Array(count * M * N), all = new Float32Array(count * M * N);
  for (let i = 0; i < count; i++) be.gemm(false, true, M, N, K, A.subarray(i * M * K), K, B.subarray(i * N * K), K, one.subarray(i * M * N), N, false);
  const calls = (be as { calls?: { threaded: number } }).calls, before = calls?.threaded ?? 0;
  const twoThreads = getThreads() === 2 && be !== referenceBackend;
  // (the default backend starts its worker with the first call big enough, and runs that one alone)
  for (const t0 = Date.now(); ;) {
    all.fill(0);
    gemmBatched(be, count, false, true, M, N, K, A, M * K, K, B, N * K, K, all, M * N, N, false);
    assert.deepEqual(all, one, 'two threads');
    if (!twoThreads || calls!.threaded > before || Date.now() - t0 > 15_000) break;
  }
  if (twoThreads) assert.ok(calls!.threaded > before, 'the products ran on two threads');
});

test('masks: padded keys and keys ahead of a causal step get weight exactly 0, each step\'s weights sum to 1, padded values change nothing', () => {
  for (const score of ['dot', 'scaledDot', 'additive'] as const) {
    const shape = { B: 3, Tq: 4, Tv: 4, Dq: 3, Dk: 3, Dv: 2, A: 3, causal: true, lengths: [4, 2, 0] };
    const a = randomArgs(score, shape, 31);
    const y = new Float64Array(3 * 4 * 2);
    const w = attentionForward(referenceBackend, a, y).a;
    for (let b = 0; b < 3; b++) {
      for (let i = 0; i < 4; i++) {
        let sum = 0;
        for (let j = 0; j < 4; j++) {
          const x = w[(b * 4 + i) * 4 + j]!;
          if (j >= shape.lengths[b]! || j > i) assert.equal(x, 0, `${score}: weight [${b}, ${i}, ${j}]`);
          else assert.ok(x > 0, `${score}: weight [${b}, ${i}, ${j}] = ${x}`);
          sum += x;
        }
        if (shape.lengths[b] === 0) assert.equal(sum, 0, `${score}: a row with no real key`);
        else assert.ok(Math.abs(sum - 1) < 1e-12, `${score}: weights of [${b}, ${i}] sum to ${sum}`);
      }
    }
    assert.deepEqual([...y.subarray(16)], new Array(8).fill(0), `${score}: no key, zero output`);
    // Garbage in the padded keys and values of row 1 (steps 2, 3): the same bits out.
    for (let j = 2; j < 4; j++) {
      for (let d = 0; d < 3; d++) a.k[(4 + j) * 3 + d] = 1e3 * (d + 1);
      for (let d = 0; d < 2; d++) a.v[(4 + j) * 2 + d] = -1e3;
    }
    const y2 = new Float64Array(y.length);
    attentionForward(referenceBackend, a, y2);
    assert.deepEqual(y2, y, `${score}: padded steps leaked into the output`);
  }
});

test('tanhInto: the WebAssembly backend\'s tanh (the gate passes\' approximation) is within 1e-6 of Math.tanh, in place too; float64 takes Math.tanh', () => {
  const be = getBackend();
  const x = Float32Array.from({ length: 1027 }, (_, i) => (i - 513) / 40); // [-12.8, 12.8], a tail of 3
  const want = Array.from(x, (v) => Math.tanh(v));
  const y = new Float32Array(x.length);
  tanhInto(be, x, y);
  if (be === referenceBackend) {
    // (RNNKIT_BACKEND=reference: no tanh of its own, Math.tanh rounded)
    assert.equal(be.tanh, undefined);
    assert.deepEqual([...y], want.map(Math.fround));
    return;
  }
  assert.equal(typeof be.tanh, 'function', `${be.name} has tanh`);
  assertClose(y, want, 1e-6, 0, 'tanh');
  assert.ok(y.some((v, i) => v !== Math.fround(want[i]!)), 'the approximation, not Math.tanh');
  const z = x.slice();
  tanhInto(be, z, z);
  assert.deepEqual(z, y, 'in place');
  assert.throws(() => be.tanh!(x, new Float32Array(3)), /tanh y has 3 values, x 1027/);
  const d = Float64Array.from(x), dy = new Float64Array(x.length);
  tanhInto(be, d, dy);
  assert.deepEqual([...dy], want);
});

test('bad arguments are named: lengths, widths, pooling without the additive score', () => {
  const a = randomArgs('dot', { B: 1, Tq: 2, Tv: 3, Dq: 2, Dk: 2, Dv: 2 }, 1);
  assert.throws(() => attentionForward(referenceBackend, { ...a, k: new Float64Array(5) }, new Float64Array(4)), /attention: k has 5 values, expected 6/);
  assert.throws(() => attentionForward(referenceBackend, { ...a, Dq: 3, q: new Float64Array(6) }, new Float64Array(4)), /dot score needs queries and keys of one width, got 3 and 2/);
  assert.throws(() => attentionForward(referenceBackend, { ...a, q: null }, new Float64Array(4)), /without queries only the additive score/);
  assert.throws(() => attentionForward(referenceBackend, a, new Float64Array(3)), /y has 3 values, expected 4/);
  assert.throws(() => attentionForward(referenceBackend, { ...a, keyMask: new Uint8Array(2) }, new Float64Array(4)), /keyMask has 2 values, expected 3/);
});

// ---- the layers ----

/** Sequences of tokens 2..9 with padding 0 at the end; label 1 when token 1 (the cue) occurs once. */
function cueTask(n: number, T: number, seed: number) {
  const r = rnn.rng(seed);
  const x = new Float32Array(n * T), y = new Float32Array(n), cueAt = new Int32Array(n).fill(-1);
  for (let s = 0; s < n; s++) {
    const len = 4 + r.int(T - 3);
    for (let t = 0; t < len; t++) x[s * T + t] = 2 + r.int(8);
    if (r.uniform(0, 1) < 0.5) {
      const t = r.int(len);
      x[s * T + t] = 1; y[s] = 1; cueAt[s] = t;
    }
  }
  return { x: { data: x, shape: [n, T], mask: null }, y: { data: y, shape: [n, 1], mask: null }, cueAt };
}

/** A classifier of cueTask: embedding (padding masked) -> [LSTM] -> attention pooling -> sigmoid. */
async function cueModel(withLstm: boolean) {
  const model = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 10, outputDim: 8, maskZero: true, seed: 1 }),
    ...(withLstm ? [rnn.layers.lstm({ units: 12, returnSequences: true, seed: 2 })] : []),
    rnn.layers.attentionPooling({ units: 8, seed: 3 }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 4 }),
  ] });
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.02 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const train = cueTask(512, 10, 5), held = cueTask(200, 10, 6);
  await model.fit(train.x, train.y, { epochs: 12, batchSize: 32, verbose: 0 });
  const accuracy = model.evaluate(held.x, held.y).accuracy!;
  model.predict(held.x, { batchSize: 200 });
  const w = (model.layers.find((l) => l instanceof rnn.AttentionPooling) as rnn.AttentionPooling).lastWeights!;
  assert.deepEqual(w.shape, [200, 10]);
  for (let s = 0; s < 200; s++) {
    for (let t = 0; t < 10; t++) if (held.x.data[s * 10 + t] === 0) assert.equal(w.data[s * 10 + t], 0, `sequence ${s}: padded step ${t}`);
  }
  return { accuracy, w: w.data, held };
}

test('AttentionPooling learns where to look: on word vectors alone the cue token gets the largest weight, padded steps none', async () => {
  // Without a recurrent layer below, each step's score sees its own word only: finding the cue is
  // the pooling's job (the same held-out result for 5 of 5 initialisations tried, ad hoc).
  const { accuracy, w, held } = await cueModel(false);
  assert.ok(accuracy >= 0.95, `held-out accuracy ${accuracy}`);
  let cues = 0, top = 0;
  for (let s = 0; s < 200; s++) {
    if (held.cueAt[s]! < 0) continue;
    const row = w.subarray(s * 10, (s + 1) * 10);
    cues++;
    if (row.indexOf(Math.max(...row)) === held.cueAt[s]) top++;
  }
  assert.ok(top >= 0.95 * cues, `the cue had the largest weight in ${top} of ${cues} sequences`);
});

test('AttentionPooling over an LSTM\'s states: the classifier learns the cue task, padded steps get no weight', async () => {
  // (Over recurrent states the weights need not single the cue out: the states after it carry
  // it too — it had the largest weight in 34-103 of ~100 sequences over 5 initialisations.)
  const { accuracy } = await cueModel(true);
  assert.ok(accuracy >= 0.95, `held-out accuracy ${accuracy}`);
});

/** A decoder attending to its encoder (additive) and to itself (scaledDot, causal), with padding. */
function attentionGraph(seed: number): rnn.GraphModel {
  const src = rnn.input({ shape: [null], name: 'src' }), tgt = rnn.input({ shape: [null], name: 'tgt' });
  const enc = rnn.layers.gru({ units: 4, returnSequences: true, seed }).apply(rnn.layers.embedding({ inputDim: 6, outputDim: 3, maskZero: true, seed: seed + 1 }).apply(src)) as rnn.SymbolicTensor;
  const dec = rnn.layers.lstm({ units: 4, returnSequences: true, seed: seed + 2 }).apply(rnn.layers.embedding({ inputDim: 6, outputDim: 3, seed: seed + 3 }).apply(tgt)) as rnn.SymbolicTensor;
  const ctx = rnn.layers.attention({ score: 'additive', units: 3, seed: seed + 4 }).apply([dec, enc]);
  const self = rnn.layers.attention({ score: 'scaledDot', causal: true }).apply([dec, dec]);
  const both = rnn.layers.concatenate().apply([ctx, self, dec]);
  const y = rnn.layers.dense({ units: 5, activation: 'softmax', seed: seed + 5 }).apply(both);
  return rnn.model({ inputs: [src, tgt], outputs: y });
}

const graphData = () => ({
  xs: [
    { data: new Float32Array([1, 2, 3, 4, 5, 3, 2, 0, 0, 0]), shape: [2, 5], mask: null },
    { data: new Float32Array([5, 1, 2, 4, 4, 3]), shape: [2, 3], mask: null },
  ],
  y: { data: new Float32Array([0, 1, 2, 3, 4, 0]), shape: [2, 3], mask: null },
});

test('Attention layers in a functional model: gradients through both scores, the encoder\'s padding and self-attention match finite differences', () => {
  const m = attentionGraph(1);
  const { xs, y } = graphData();
  const informative = checkModelGradients(m, xs, y);
  assert.ok(informative > 60, `${informative} informative parameters`);
  // The encoder's padded steps (row 1, steps 3 and 4) get no weight from the decoder.
  const att = m.allLayers().find((l) => l instanceof rnn.Attention && l.score === 'additive') as rnn.Attention;
  m.predict(xs);
  const w = att.lastWeights!;
  assert.deepEqual(w.shape, [2, 3, 5]);
  for (let i = 0; i < 3; i++) for (const j of [3, 4]) assert.equal(w.data[(3 + i) * 5 + j], 0);
});

test('models with attention save and load with identical predictions; the configs keep score, units and causal', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-att-'));
  try {
    const { xs, y } = graphData();
    const back = await saveLoadRoundTrip(attentionGraph(7), xs, y);
    const cfgs = back.allLayers().filter((l) => l instanceof rnn.Attention).map((l) => l.getConfig());
    assert.deepEqual(cfgs.map(({ name: _, ...c }) => c), [
      { className: 'Attention', score: 'additive', causal: false, units: 3, seed: 11 },
      { className: 'Attention', score: 'scaledDot', causal: true },
    ]);
    const s = rnn.sequential({ inputShape: [null], layers: [
      rnn.layers.embedding({ inputDim: 10, outputDim: 4, maskZero: true }),
      rnn.layers.gru({ units: 5, returnSequences: true }),
      rnn.layers.attentionPooling({ units: 3 }),
      rnn.layers.dense({ units: 2, activation: 'softmax' }),
    ] });
    s.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const x = { data: new Float32Array([1, 2, 3, 0, 4, 5, 6, 7]), shape: [2, 4], mask: null };
    s.trainOnBatch(x, { data: new Float32Array([0, 1]), shape: [2, 1], mask: null });
    await rnn.saveModel(s, join(dir, 's'));
    const sBack = await rnn.loadModel<rnn.Sequential>(join(dir, 's'));
    assert.deepEqual(sBack.predict(x).data, s.predict(x).data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('Attention dropout: in training the weighted sum drops weights (Keras semantics), in inference it does not, and the config keeps the rate', () => {
  const q = rnn.input({ shape: [null, 4] }), v = rnn.input({ shape: [null, 4] });
  const att = rnn.layers.attention({ score: 'scaledDot', dropout: 0.5, name: 'dropped' });
  const m = rnn.model({ inputs: [q, v], outputs: att.apply([q, v]) });
  const r = rnn.rng(3);
  const xs = [0, 1].map(() => ({ data: Float32Array.from({ length: 2 * 3 * 4 }, () => r.uniform(-1, 1)), shape: [2, 3, 4], mask: null }));
  const a = m.predict(xs).data, b = m.predict(xs).data;
  assert.deepEqual(a, b, 'inference: no dropout');
  const weights = att.lastWeights!.data;
  const train = att.forwardMulti(xs, { training: true, rng: rnn.rng(4) })[0]!.data;
  // Each output row is Σ_j a_ij m_ij v_j with m in {0, 2}: recompute it from the mask the layer drew.
  const mask = Array.from({ length: 2 * 3 * 3 }, () => 0), rr = rnn.rng(4);
  for (let i = 0; i < mask.length; i++) mask[i] = rr.next() < 0.5 ? 2 : 0;
  assert.ok(mask.some((x) => x === 0) && mask.some((x) => x === 2));
  for (let bi = 0; bi < 2; bi++) for (let i = 0; i < 3; i++) for (let d = 0; d < 4; d++) {
    let want = 0;
    for (let j = 0; j < 3; j++) want += weights[(bi * 3 + i) * 3 + j]! * mask[(bi * 3 + i) * 3 + j]! * xs[1]!.data[(bi * 3 + j) * 4 + d]!;
    assert.ok(Math.abs(train[(bi * 3 + i) * 4 + d]! - want) < 1e-5, `[${bi}, ${i}, ${d}]: ${train[(bi * 3 + i) * 4 + d]} against ${want}`);
  }
  assert.deepEqual(att.lastWeights!.data, weights, 'lastWeights are the softmax\'s, before dropout');
  assert.equal(att.getConfig().dropout, 0.5);
  assert.throws(() => rnn.layers.attention({ dropout: 1 }), /option 'dropout' must be a number in \[0, 1\), got 1/);
});

test('attention layers refuse bad options and inputs with errors that name them', () => {
  assert.throws(() => rnn.layers.attention({ score: 'cosine' as never }), /Attention: option 'score' must be one of dot, scaledDot, additive, got "cosine"/);
  assert.throws(() => rnn.layers.attention({ score: 'dot', units: 4 }), /option 'units' belongs to the additive score, not 'dot'/);
  assert.throws(() => rnn.layers.attention({ causal: 1 as never }), /option 'causal' must be true or false/);
  assert.throws(() => rnn.layers.attentionPooling({} as never), /AttentionPooling: option 'units' must be a positive integer, got undefined/);
  const q = rnn.input({ shape: [null, 3] }), v = rnn.input({ shape: [null, 4] }), flat = rnn.input({ shape: [4] });
  assert.throws(() => rnn.layers.attention({ name: 'att' }).apply([q, v]), /att: the dot score needs queries and keys of one width, got 3 and 4/);
  assert.throws(() => rnn.layers.attention({ name: 'att2' }).apply([q]), /att2: takes \[query, value\] or \[query, value, key\], got 1 input/);
  assert.throws(() => rnn.layers.attention({ name: 'att3' }).apply([flat, v]), /att3: the query must be a sequence \[batch, time, features\], got \[None, 4\]/);
  assert.throws(() => rnn.layers.attention({ causal: true, name: 'att4' }).apply([rnn.input({ shape: [3, 4] }), rnn.input({ shape: [5, 4] })]), /att4: causal attention needs as many query steps as value steps, got 3 and 5/);
  assert.throws(() => rnn.layers.attention({ name: 'att5' }).apply([rnn.input({ shape: [2, 3] }), rnn.input({ shape: [5, 3] }), rnn.input({ shape: [4, 3] })]), /att5: the key has 4 steps, the value 5/);
  assert.throws(() => rnn.sequential({ inputShape: [null, 3], layers: [rnn.layers.attention()] }).build([null, 3]), /use apply\(\[query, value\]\) in a functional model/);
  const pool = rnn.layers.attentionPooling({ units: 2, name: 'pool' });
  pool.build([null, 3]);
  assert.throws(() => pool.forward({ data: new Float32Array(8), shape: [2, 4], mask: null }), /pool: expected input \[batch, time, 3\], got \[2, 4\]/);
});

test('examples/attention: with additive attention the encoder-decoder learns to reverse digits better than from the last state alone, its weights align step i with step n-1-i, and it decodes greedily', async () => {
  const { main } = await import('../examples/attention.js');
  const lines: string[] = [];
  const { results, exact, alignment } = await main(2000, 8, 1, (s: string) => lines.push(s));
  // Greedy decoding (the decoder reading its own outputs, run by rnn.incrementalDecoder): 298 and 132 of 300 here.
  assert.ok(exact['with_attention']! >= 0.9, `sequences reversed exactly with attention: ${exact['with_attention']}`);
  assert.ok(exact['with_attention']! >= exact['last_state_only']! + 0.3, `${exact['with_attention']} against ${exact['last_state_only']} without`);
  assert.match(lines.join('\n'), /greedy decoding: \d+ of 300 held-out sequences reversed exactly/);
  const last = (k: string) => results[k]!.at(-1)!;
  assert.ok(last('with_attention') >= 0.97, `with attention ${last('with_attention')}`);
  assert.ok(last('with_attention') >= last('last_state_only') + 0.05, `${last('with_attention')} against ${last('last_state_only')} without`);
  assert.ok(alignment >= 0.85, `aligned steps: ${alignment}`); // (0.998; the TypeScript reference's trajectory 0.91)
  assert.match(lines.join('\n'), /attention weights for [1-9]( [1-9]){4,8} \(rows: decoder steps, columns: encoder steps\)/);
});

test('examples/long-range: on the adding problem (T = 100) attention over the inputs solves in one epoch and the LSTM with attention pooling within four, where the LSTM\'s last state stays near the mean predictor', async () => {
  const { main } = await import('../examples/long-range.js');
  const lines: string[] = [];
  const r = await main(100, 4, (s: string) => lines.push(s));
  const last = (k: string) => r[k]!.at(-1)!;
  assert.ok(r['attention, no recurrence']![0]! < 0.01, `attention after one epoch: ${r['attention, no recurrence']![0]}`);
  assert.ok(last('LSTM + attention') < 0.01, `LSTM + attention: ${last('LSTM + attention')}`);
  assert.ok(last('attention, no recurrence') * 50 < last('LSTM, last state'), `${last('attention, no recurrence')} against the last state's ${last('LSTM, last state')}`);
  assert.match(lines.join('\n'), /LSTM \+ attention .*solved in epoch [1-4]/);
});
