// Losses: finite-difference gradient checks in float64 (with and without masks / weights),
// reference values from naive formulas, stability at ±1e4 logits, masking / ignoreIndex
// semantics, errors, and name lookup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  sparseCategoricalCrossentropy, sparseCategoricalCrossentropyFromSoftmax, categoricalCrossentropy, binaryCrossentropy, meanSquaredError, meanAbsoluteError,
  getLoss, lossNames, EPSILON, type LossResult, type AnyLossOptions,
} from '../src/models/losses.js';
import type { F } from '../src/kernels/types.js';
import { softmaxRowsRef } from '../src/kernels/layer-ops.js';
import { assertClose, numericalGrad, randomArray } from './helpers.js';
import { rng } from '../src/tensor/rng.js';

const N = 6, K = 5;

function gradcheck(label: string, pred: Float64Array, f: (p: F) => LossResult, tol = 1e-7): void {
  const r = f(pred);
  const num = numericalGrad(pred, () => f(pred).loss, 1e-6);
  assertClose(r.grad, num, tol, tol, label);
  assert.ok(Number.isFinite(r.loss), `${label}: loss ${r.loss}`);
}

function positives(n: number, seed: number, lo = 0.05, hi = 1): Float64Array {
  const r = rng(seed);
  return Float64Array.from({ length: n }, () => r.uniform(lo, hi));
}
function intTargets(n: number, k: number, seed: number): Int32Array {
  const r = rng(seed);
  return Int32Array.from({ length: n }, () => r.int(k));
}
function softTargets(n: number, k: number, seed: number): Float64Array {
  const t = positives(n * k, seed, 0, 1);
  for (let r = 0; r < n; r++) {
    let s = 0;
    for (let j = 0; j < k; j++) s += t[r * k + j]!;
    for (let j = 0; j < k; j++) t[r * k + j] = t[r * k + j]! / s;
  }
  return t;
}

const rowMask = Uint8Array.from([1, 0, 1, 1, 0, 1]);
const rowWeights = Float64Array.from([1, 2, 0.5, 0, 3, 1.5]);

const variants: [string, AnyLossOptions][] = [
  ['plain', {}],
  ['mask', { mask: rowMask }],
  ['float mask', { mask: Float32Array.from(rowMask) }],
  ['sampleWeight', { sampleWeight: rowWeights }],
  ['mask+weight+sum', { mask: rowMask, sampleWeight: rowWeights, reduction: 'sum' }],
];

// ---------------------------------------------------------------------------------------------
// finite differences

for (const [vname, opts] of variants) {
  test(`sparseCategoricalCrossentropy gradcheck (${vname}), logits and probabilities`, () => {
    const t = intTargets(N, K, 1);
    gradcheck('logits', randomArray(N * K, 2, 3) as Float64Array, (p) => sparseCategoricalCrossentropy(p, t, opts));
    // unnormalised probabilities (Keras normalises rows): exercises the 1/Σp term
    gradcheck('probs', positives(N * K, 3), (p) => sparseCategoricalCrossentropy(p, t, { ...opts, fromLogits: false }));
    // ignoreIndex rows
    const ti = Int32Array.from(t); ti[2] = -100; ti[5] = -100;
    gradcheck('ignoreIndex', randomArray(N * K, 4, 3) as Float64Array, (p) => sparseCategoricalCrossentropy(p, ti, { ...opts, ignoreIndex: -100 }));
  });

  test(`categoricalCrossentropy gradcheck (${vname}), logits / probabilities / label smoothing`, () => {
    const y = softTargets(N, K, 5);
    gradcheck('logits', randomArray(N * K, 6, 3) as Float64Array, (p) => categoricalCrossentropy(p, y, { ...opts, numClasses: K }));
    gradcheck('probs', positives(N * K, 7), (p) => categoricalCrossentropy(p, y, { ...opts, numClasses: K, fromLogits: false }));
    // not-normalised target rows (Σy ≠ 1) and label smoothing
    const y2 = positives(N * K, 8, 0, 2);
    gradcheck('Σy≠1 smoothing', randomArray(N * K, 9, 3) as Float64Array,
      (p) => categoricalCrossentropy(p, y2, { ...opts, numClasses: K, labelSmoothing: 0.2 }));
    gradcheck('probs smoothing', positives(N * K, 10), (p) => categoricalCrossentropy(p, y, { ...opts, numClasses: K, fromLogits: false, labelSmoothing: 0.1 }));
  });

  test(`binaryCrossentropy gradcheck (${vname}), logits / probabilities / soft targets`, () => {
    const y = positives(N, 11, 0, 1);
    y[0] = 0; y[1] = 1;
    gradcheck('logits', randomArray(N, 12, 4) as Float64Array, (p) => binaryCrossentropy(p, y, opts));
    gradcheck('probs', positives(N, 13, 0.05, 0.95), (p) => binaryCrossentropy(p, y, { ...opts, fromLogits: false }));
    gradcheck('smoothing', randomArray(N, 14, 4) as Float64Array, (p) => binaryCrossentropy(p, y, { ...opts, labelSmoothing: 0.1 }));
  });

  test(`meanSquaredError / meanAbsoluteError gradcheck (${vname})`, () => {
    const y = randomArray(N, 15, 2);
    gradcheck('mse', randomArray(N, 16, 2) as Float64Array, (p) => meanSquaredError(p, y, opts));
    gradcheck('mae', randomArray(N, 17, 2) as Float64Array, (p) => meanAbsoluteError(p, y, opts));
  });
}

test('elementwise losses: per-row mask / weights broadcast over the row (T·B rows of D features)', () => {
  const D = 3, rows = 4;
  const m = Uint8Array.from([1, 0, 1, 1]), w = Float64Array.from([2, 1, 0.5, 1]);
  const mFull = Uint8Array.from({ length: rows * D }, (_, i) => m[Math.floor(i / D)]!);
  const wFull = Float64Array.from({ length: rows * D }, (_, i) => w[Math.floor(i / D)]!);
  const p = randomArray(rows * D, 18, 2), y = randomArray(rows * D, 19, 1);
  const yb = positives(rows * D, 20, 0, 1);
  for (const f of [meanSquaredError, meanAbsoluteError, binaryCrossentropy] as const) {
    const tgt = f === binaryCrossentropy ? yb : y;
    const a = f(p, tgt, { mask: m, sampleWeight: w }), b = f(p, tgt, { mask: mFull, sampleWeight: wFull });
    assert.equal(a.loss, b.loss);
    assert.deepEqual(a.grad, b.grad);
    assert.equal(a.count, 3 * D);
    gradcheck(`${f.name} row-broadcast`, Float64Array.from(p), (q) => f(q, tgt, { mask: m, sampleWeight: w }));
  }
  assert.throws(() => meanSquaredError(p, y, Uint8Array.from([1, 1, 1, 1, 1])), /mask has 5 entries; expected 12 \(one per element\) or a divisor/);
});

// ---------------------------------------------------------------------------------------------
// reference values

test('reference values from naive formulas', () => {
  const x = randomArray(N * K, 21, 2), t = intTargets(N, K, 22);
  let naive = 0;
  for (let r = 0; r < N; r++) {
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(x[r * K + k]!);
    naive += -Math.log(Math.exp(x[r * K + t[r]!]!) / z);
  }
  assertClose([sparseCategoricalCrossentropy(x, t).loss], [naive / N], 0, 1e-14, 'sparse CE');
  // softmax - onehot, divided by N
  const g = sparseCategoricalCrossentropy(x, t).grad;
  for (let r = 0; r < N; r++) {
    let z = 0;
    for (let k = 0; k < K; k++) z += Math.exp(x[r * K + k]!);
    for (let k = 0; k < K; k++) {
      const want = (Math.exp(x[r * K + k]!) / z - (k === t[r] ? 1 : 0)) / N;
      assertClose([g[r * K + k]!], [want], 1e-16, 1e-13, `grad ${r},${k}`);
    }
  }
  // equals categorical CE with one-hot targets
  const onehot = new Float64Array(N * K);
  for (let r = 0; r < N; r++) onehot[r * K + t[r]!] = 1;
  const c = categoricalCrossentropy(x, onehot, { numClasses: K });
  assertClose([c.loss], [naive / N], 0, 1e-14, 'categorical one-hot');
  assertClose(c.grad, g, 1e-16, 1e-13, 'categorical grad');
  // binary from logits vs naive sigmoid; Keras probability formula (eps inside the logs)
  const xb = randomArray(N, 23, 3), yb = positives(N, 24, 0, 1);
  let bl = 0, bp = 0;
  const probs = new Float64Array(N);
  for (let i = 0; i < N; i++) {
    const s = 1 / (1 + Math.exp(-xb[i]!));
    probs[i] = s;
    bl += -(yb[i]! * Math.log(s) + (1 - yb[i]!) * Math.log(1 - s));
    bp += -(yb[i]! * Math.log(s + EPSILON) + (1 - yb[i]!) * Math.log(1 - s + EPSILON));
  }
  assertClose([binaryCrossentropy(xb, yb).loss], [bl / N], 0, 1e-14, 'bce logits');
  assertClose([binaryCrossentropy(probs, yb, { fromLogits: false }).loss], [bp / N], 0, 1e-14, 'bce probs (Keras)');
  assertClose(binaryCrossentropy(xb, yb).grad, Array.from(probs, (s, i) => (s - yb[i]!) / N), 1e-16, 1e-13, 'bce grad σ-y');
  // sparse CE from probabilities = -log(p_t / Σp) (Keras normalises), clipped at ε
  const p = Float64Array.of(0.2, 0.2, 0.4, /* row 2 */ 0.5, 0, 0.5);
  const r = sparseCategoricalCrossentropy(p, Int32Array.of(2, 1), { fromLogits: false });
  assertClose([r.loss], [(-Math.log(0.5) - Math.log(EPSILON)) / 2], 0, 1e-14, 'probs clip');
  assert.deepEqual(Array.from(r.grad.subarray(3)), [0, 0, 0]); // clipped row: no gradient (as tf.clip_by_value)
  // MSE / MAE
  assertClose([meanSquaredError(Float64Array.of(1, 2, 3), [1, 0, 6]).loss], [(0 + 4 + 9) / 3], 0, 1e-15, 'mse');
  assertClose([meanAbsoluteError(Float64Array.of(1, 2, 3), [1, 0, 6]).loss], [(0 + 2 + 3) / 3], 0, 1e-15, 'mae');
  assert.deepEqual(Array.from(meanAbsoluteError(Float64Array.of(1, 2, 3), [1, 0, 6]).grad), [0, 1 / 3, -1 / 3]);
});

// ---------------------------------------------------------------------------------------------
// stability

test('huge logits (±1e4): finite loss and exact gradients, float32 and float64', () => {
  for (const Ctor of [Float32Array, Float64Array]) {
    const x = Ctor.from([1e4, -1e4, 0, /* row 1 */ -1e4, -1e4, 1e4]);
    const right = sparseCategoricalCrossentropy(x, Int32Array.of(0, 2));
    assert.equal(right.loss, 0);
    assert.ok(right.grad instanceof Ctor);
    assertClose(right.grad, [0, 0, 0, 0, 0, 0], 1e-30, 0, 'confident & right');
    const wrong = sparseCategoricalCrossentropy(x, Int32Array.of(1, 0));
    assertClose([wrong.loss], [(2e4 + 2e4) / 2], 0, 1e-12, 'confident & wrong');
    assertClose(wrong.grad, [0.5, -0.5, 0, -0.5, 0, 0.5], 1e-30, 0, 'grad softmax - onehot');
    const cat = categoricalCrossentropy(x, [0, 1, 0, 1, 0, 0], { numClasses: 3 });
    assert.equal(cat.loss, wrong.loss);
    assert.deepEqual(Array.from(cat.grad), Array.from(wrong.grad));

    const xb = Ctor.from([1e4, -1e4, 1e4, -1e4]), yb = [0, 1, 1, 0];
    const b = binaryCrossentropy(xb, yb);
    assertClose([b.loss], [(1e4 + 1e4) / 4], 0, 1e-12, 'bce');
    assertClose(b.grad, [0.25, -0.25, 0, 0], 1e-30, 0, 'bce grad');
    // probabilities saturated at 0 / 1 are clipped: finite loss, zero gradient
    const bp = binaryCrossentropy(Ctor.from([1, 0, 1, 0]), yb, { fromLogits: false });
    const e = EPSILON, hi = 1 - e; // Keras: clip to [ε, 1-ε], then log(p + ε) / log(1 - p + ε)
    const want = -(Math.log(1 - hi + e) + Math.log(e + e) + Math.log(hi + e) + Math.log(1 - e + e)) / 4;
    assertClose([bp.loss], [want], 0, 1e-6, 'saturated probabilities');
    assert.deepEqual(Array.from(bp.grad), [0, 0, 0, 0]);
  }
  // large K float32 row of equal huge logits: softmax uniform
  const z = new Float32Array(1000).fill(5e3);
  const r = sparseCategoricalCrossentropy(z, Int32Array.of(7));
  assertClose([r.loss], [Math.log(1000)], 0, 1e-6, 'uniform');
});

// ---------------------------------------------------------------------------------------------
// masking semantics

test('masked rows and ignoreIndex rows contribute nothing (changing them changes nothing)', () => {
  const x = randomArray(N * K, 31, 2), t = intTargets(N, K, 32);
  const base = sparseCategoricalCrossentropy(x, t, { mask: rowMask });
  const x2 = Float64Array.from(x), t2 = Int32Array.from(t);
  for (let r = 0; r < N; r++) {
    if (rowMask[r]) continue;
    for (let k = 0; k < K; k++) x2[r * K + k] = 1e3 * (k + 1);
    t2[r] = 999; // out of range but masked: not validated
  }
  const changed = sparseCategoricalCrossentropy(x2, t2, { mask: rowMask });
  assert.equal(changed.loss, base.loss);
  assert.deepEqual(changed.grad, base.grad);
  for (let r = 0; r < N; r++) if (!rowMask[r]) for (let k = 0; k < K; k++) assert.equal(base.grad[r * K + k], 0);
  // mean over counted rows = loss on the subset alone
  const keep = [0, 2, 3, 5];
  const sub = sparseCategoricalCrossentropy(
    Float64Array.from(keep.flatMap((r) => Array.from(x.subarray(r * K, r * K + K)))), Int32Array.from(keep.map((r) => t[r]!)));
  assertClose([base.loss], [sub.loss], 0, 1e-15, 'subset');
  assert.equal(base.count, 4);
  // ignoreIndex behaves like a mask
  const ti = Int32Array.from(t, (v, r) => (rowMask[r] ? v : -1));
  const ig = sparseCategoricalCrossentropy(x, ti, { ignoreIndex: -1 });
  assert.equal(ig.loss, base.loss);
  assert.deepEqual(ig.grad, base.grad);
  // other losses: masked elements' values are irrelevant
  const y = positives(N, 33, 0, 1), p = randomArray(N, 34, 2), p2 = Float64Array.from(p, (v, i) => (rowMask[i] ? v : 1e6));
  for (const f of [binaryCrossentropy, meanSquaredError, meanAbsoluteError] as const) {
    const a = f(p, y, { mask: rowMask }), b = f(p2, Float64Array.from(y, (v, i) => (rowMask[i] ? v : 0.123)), { mask: rowMask });
    assert.equal(a.loss, b.loss, f.name);
    assert.deepEqual(a.grad, b.grad, f.name);
  }
  const yc = softTargets(N, K, 35);
  const ca = categoricalCrossentropy(x, yc, { mask: rowMask, numClasses: K }), cb = categoricalCrossentropy(x2, yc, { mask: rowMask });
  assert.equal(ca.loss, cb.loss); // (numClasses inferred from the per-row mask in the second call)
});

test('reductions, weights, empty / fully masked batches, output buffers', () => {
  const x = randomArray(N * K, 41, 2), t = intTargets(N, K, 42);
  const mean = sparseCategoricalCrossentropy(x, t), sum = sparseCategoricalCrossentropy(x, t, { reduction: 'sum' });
  assertClose([sum.loss], [mean.loss * N], 0, 1e-14, 'sum');
  assertClose(sum.grad, Array.from(mean.grad, (v) => v * N), 1e-16, 1e-13, 'sum grad');
  // weights scale each row's loss; the denominator stays the count (Keras sum_over_batch_size)
  const w = Float64Array.from({ length: N }, (_, i) => i);
  const per = Array.from({ length: N }, (_, r) => sparseCategoricalCrossentropy(x.subarray(r * K, r * K + K), t.subarray(r, r + 1)).loss);
  assertClose([sparseCategoricalCrossentropy(x, t, { sampleWeight: w }).loss], [per.reduce((a, l, r) => a + l * r, 0) / N], 0, 1e-14, 'weighted');
  // nothing counted: 0 and zero gradient, not NaN
  const none = sparseCategoricalCrossentropy(x, t, { mask: new Uint8Array(N) });
  assert.equal(none.loss, 0);
  assert.equal(none.count, 0);
  assert.ok(none.grad.every((v) => v === 0));
  assert.equal(sparseCategoricalCrossentropy(new Float32Array(0), new Int32Array(0)).loss, 0);
  assert.equal(meanSquaredError(new Float32Array(0), []).loss, 0);
  // caller-owned gradient buffer (overwritten, including stale values), noGrad
  const buf = new Float64Array(N * K).fill(7);
  const r = sparseCategoricalCrossentropy(x, t, { grad: buf, mask: rowMask });
  assert.equal(r.grad, buf);
  assert.deepEqual(buf, sparseCategoricalCrossentropy(x, t, { mask: rowMask }).grad);
  const bbuf = new Float32Array(N).fill(7);
  binaryCrossentropy(Float32Array.from(x.subarray(0, N)), new Float32Array(N), { grad: bbuf, mask: rowMask });
  assert.equal(bbuf[1], 0);
  assert.throws(() => sparseCategoricalCrossentropy(x, t, { grad: new Float64Array(3) }), /grad buffer has 3 values, expected 30/);
  const ng = sparseCategoricalCrossentropy(x, t, { noGrad: true });
  assert.equal(ng.grad.length, 0);
  assert.equal(ng.loss, mean.loss);
  // element types follow the input
  assert.ok(sparseCategoricalCrossentropy(Float32Array.from(x), t).grad instanceof Float32Array);
  assert.ok(meanSquaredError(Float64Array.of(1), [0]).grad instanceof Float64Array);
});

test('errors: target out of range names index and value; shapes; options', () => {
  const x = new Float64Array(3 * 4);
  assert.throws(() => sparseCategoricalCrossentropy(x, Int32Array.of(0, 4, 1)), /targets\[1\] = 4 is out of range for 4 classes \(expected an integer in \[0, 3\]\)/);
  assert.throws(() => sparseCategoricalCrossentropy(x, Int32Array.of(0, 1, -1)), /targets\[2\] = -1 is out of range/);
  assert.throws(() => sparseCategoricalCrossentropy(x, Int32Array.of(0, 1, -7), { ignoreIndex: -100 }), /targets\[2\] = -7 .* or ignoreIndex -100/);
  assert.throws(() => sparseCategoricalCrossentropy(x, [0, 1.5, 2]), /targets\[1\] = 1.5 is out of range/);
  assert.throws(() => sparseCategoricalCrossentropy(new Float64Array(10), Int32Array.of(0, 1, 2)), /10 values, not a multiple of the 3 targets/);
  assert.throws(() => sparseCategoricalCrossentropy(x, Int32Array.of(0, 1, 2), { mask: Uint8Array.of(1, 1) }), /mask has 2 entries; expected 3 \(one per row\)/);
  assert.throws(() => categoricalCrossentropy(x, new Float64Array(12)), /pass numClasses/);
  assert.throws(() => categoricalCrossentropy(x, new Float64Array(12), { numClasses: 5 }), /not a whole number of rows of 5/);
  assert.throws(() => categoricalCrossentropy(x, new Float64Array(11), { numClasses: 4 }), /targets have 11 values but predictions 12/);
  assert.throws(() => binaryCrossentropy(x, new Float64Array(2)), /targets have 2 values but predictions 12/);
  assert.throws(() => binaryCrossentropy(x, new Float64Array(12), { labelSmoothing: 2 }), /labelSmoothing must be in \[0, 1\]/);
  assert.throws(() => meanSquaredError(x, new Float64Array(12), { reduction: 'none' as never }), /reduction must be 'mean' or 'sum'/);
  assert.throws(() => meanSquaredError(x, new Float64Array(12), { sampleWeight: Float64Array.of(1, NaN, 1) }), /sampleWeight\[1\] is NaN/);
  // negative weights are allowed (not confused with masking)
  assert.equal(meanSquaredError(Float64Array.of(1, 1), [0, 0], { sampleWeight: [-1, 1] }).loss, 0);
});

test('getLoss: Keras / TF.js names, snake_case, class names, aliases; unknown lists valid names', () => {
  const cases: [string, unknown][] = [
    ['sparseCategoricalCrossentropy', sparseCategoricalCrossentropy], ['sparse_categorical_crossentropy', sparseCategoricalCrossentropy],
    ['SparseCategoricalCrossentropy', sparseCategoricalCrossentropy],
    ['binaryCrossentropy', binaryCrossentropy], ['binary_crossentropy', binaryCrossentropy], ['bce', binaryCrossentropy],
    ['categoricalCrossentropy', categoricalCrossentropy], ['categorical_crossentropy', categoricalCrossentropy],
    ['meanSquaredError', meanSquaredError], ['mean_squared_error', meanSquaredError], ['mse', meanSquaredError], ['MSE', meanSquaredError],
    ['meanAbsoluteError', meanAbsoluteError], ['mae', meanAbsoluteError],
  ];
  for (const [name, fn] of cases) assert.equal(getLoss(name), fn, name);
  assert.deepEqual([...lossNames], ['sparseCategoricalCrossentropy', 'categoricalCrossentropy', 'binaryCrossentropy', 'meanSquaredError', 'meanAbsoluteError']);
  const custom = (p: F): LossResult => ({ loss: 0, grad: p, count: 0 });
  assert.equal(getLoss(custom), custom);
  assert.throws(() => getLoss('hinge'), /unknown loss 'hinge'; valid names: sparseCategoricalCrossentropy, categoricalCrossentropy, .*sparse_categorical_crossentropy/);
  // the returned function works with the generic signature
  const r = getLoss('sparse_categorical_crossentropy')(Float64Array.of(0, 0), [1]);
  assertClose([r.loss], [Math.log(2)], 0, 1e-15, 'via getLoss');
});

test('sparse crossentropy from a known softmax (the fused Dense head) equals the logits form, masks included', () => {
  const N = 37, K = 11, r = rng(5);
  const logits = Float32Array.from({ length: N * K }, () => r.uniform(-8, 8));
  logits[3 * K + 2] = 60; // a confident row
  const targets = Int32Array.from({ length: N }, () => r.int(K));
  const mask = Uint8Array.from({ length: N }, (_, i) => (i % 5 === 4 ? 0 : 1));
  const probs = new Float32Array(N * K), lse = new Float64Array(N);
  softmaxRowsRef(logits, probs, N, K, lse);
  for (const opts of [{}, { mask }]) {
    const a = sparseCategoricalCrossentropyFromSoftmax(probs, lse, logits, targets, opts);
    const b = sparseCategoricalCrossentropy(logits, targets, { fromLogits: true, ...opts });
    assert.equal(a.count, b.count);
    assert.ok(Math.abs(a.loss - b.loss) <= 1e-12 * Math.abs(b.loss) + 1e-12, `${a.loss} vs ${b.loss}`);
    assertClose(a.grad, b.grad, 1e-8, 1e-6, 'gradient');
    if ('mask' in opts) for (let k = 0; k < K; k++) assert.equal(a.grad[4 * K + k], 0, 'masked row has no gradient');
  }
  assert.throws(() => sparseCategoricalCrossentropyFromSoftmax(probs, lse, logits, Int32Array.from(targets, (t, i) => (i === 7 ? K : t))), /targets\[7\] = 11 is out of range for 11 classes/);
});

test('sparse crossentropy from a known softmax: the gradient, bit for bit, of w·p - w[k = t] stored as float32, then scaled by 1/count', () => {
  // The one-pass gradient must round where the two-pass one (write w·p, subtract w, scale) did.
  const N = 29, K = 13, r = rng(8);
  const logits = Float32Array.from({ length: N * K }, () => r.uniform(-6, 6));
  const targets = Int32Array.from({ length: N }, () => r.int(K));
  const probs = new Float32Array(N * K), lse = new Float64Array(N);
  softmaxRowsRef(logits, probs, N, K, lse);
  const mask = Uint8Array.from({ length: N }, (_, i) => (i % 4 === 1 ? 0 : 1));
  const sampleWeight = Float32Array.from({ length: N }, () => r.uniform(0.1, 3));
  for (const opts of [{}, { mask }, { sampleWeight }, { mask, sampleWeight }, { reduction: 'sum' as const }, { mask, reduction: 'sum' as const }]) {
    const label = JSON.stringify(Object.keys(opts)) + ('reduction' in opts ? ' sum' : '');
    const got = sparseCategoricalCrossentropyFromSoftmax(probs, lse, logits, targets, opts);
    const want = new Float32Array(N * K);
    let count = 0, sum = 0;
    for (let i = 0; i < N; i++) if (!('mask' in opts) || mask[i]) count++;
    const s = 'reduction' in opts ? 1 : 1 / count;
    for (let i = 0; i < N; i++) {
      if ('mask' in opts && !mask[i]) continue;
      const w = 'sampleWeight' in opts ? sampleWeight[i]! : 1, t = targets[i]!;
      sum += w * (lse[i]! - logits[i * K + t]!);
      for (let k = 0; k < K; k++) {
        let g = Math.fround(w * probs[i * K + k]!);
        if (k === t) g = Math.fround(g - w);
        want[i * K + k] = g * s;
      }
    }
    assert.equal(got.count, count, label);
    assert.equal(got.loss, 'reduction' in opts ? sum : sum / count, `${label}: loss`);
    for (let j = 0; j < N * K; j++) assert.equal(got.grad[j], want[j], `${label}: grad[${j}]`);
  }
  // Every row masked: no count, a zero loss and gradient.
  const none = sparseCategoricalCrossentropyFromSoftmax(probs, lse, logits, targets, { mask: new Uint8Array(N) });
  assert.deepEqual([none.count, none.loss, none.grad.some((v) => v !== 0)], [0, 0, false]);
});
