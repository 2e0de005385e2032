// Streaming metrics: values on hand-checked batches, streaming = concatenated, masks, lookup.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  Accuracy, BinaryAccuracy, SparseCategoricalAccuracy, CategoricalAccuracy, Precision, Recall, F1, BinaryCounts,
  ConfusionMatrix, confusionMatrix, argmaxRows, SparseCrossentropyMetric, Perplexity, RegressionMetric, Mean,
  natsToBits, bitsToNats, perplexityFromLoss, getMetric, metricNames,
} from '../src/models/metrics.js';
import { sparseCategoricalCrossentropy } from '../src/models/losses.js';
import { assertClose, randomArray } from './helpers.js';
import { rng } from '../src/tensor/rng.js';

test('binaryAccuracy: threshold 0.5 on probabilities, 0 on logits, custom threshold, mask', () => {
  const m = new BinaryAccuracy();
  m.update([0.1, 0.6, 0.5, 0.9], [0, 1, 1, 0]); // 0.5 is not > 0.5 -> predicted 0
  assert.equal(m.result(), 0.5);
  m.update([0.7], [1]);
  assert.equal(m.result(), 3 / 5); // streaming over all elements
  m.reset();
  assert.equal(m.result(), 0);
  const l = new BinaryAccuracy({ fromLogits: true });
  l.update([-2, 0.1, 0, 3], [0, 1, 1, 1]);
  assert.equal(l.result(), 0.75);
  const t = new BinaryAccuracy({ threshold: 0.8 });
  t.update([0.7, 0.9], [0, 1]);
  assert.equal(t.result(), 1);
  const tl = new BinaryAccuracy({ threshold: 0.8, fromLogits: true }); // logit(0.8) = 1.386
  tl.update([1.3, 1.4], [0, 1]);
  assert.equal(tl.result(), 1);
  const mk = new BinaryAccuracy();
  mk.update([0.9, 0.9, 0.1, 0.1], [1, 0, 0, 1], Uint8Array.of(1, 0, 1, 0));
  assert.equal(mk.result(), 1);
  // per-row mask over D = 2 features
  const mr = new BinaryAccuracy();
  mr.update([0.9, 0.9, 0.1, 0.9], [1, 1, 1, 1], Float32Array.of(1, 0));
  assert.equal(mr.result(), 1);
  assert.throws(() => new BinaryAccuracy({ threshold: 1 }), /threshold must be in \(0, 1\)/);
  assert.throws(() => m.update([1, 2], [1]), /2 predictions but 1 targets/);
});

test('sparseCategoricalAccuracy: argmax (first max wins), mask, ignoreIndex; categoricalAccuracy', () => {
  const m = new SparseCategoricalAccuracy();
  const pred = [0.1, 0.7, 0.2, /**/ 0.5, 0.5, 0, /**/ 3, 1, 2, /**/ 0, 0, 1];
  m.update(pred, [1, 1, 0, 2]); // row 1 tie -> argmax 0 -> wrong
  assert.equal(m.result(), 0.75);
  m.reset();
  m.update(pred, [1, 1, 0, 0], Uint8Array.of(1, 0, 1, 0));
  assert.equal(m.result(), 1);
  const ig = new SparseCategoricalAccuracy({ ignoreIndex: -1 });
  ig.update(pred, [1, -1, 0, -1]);
  assert.equal(ig.result(), 1);
  assert.throws(() => m.update([1, 2, 3], [0, 1]), /not a multiple of the 2 targets/);
  assert.throws(() => m.update(pred, [0, 1, 2, 0], Uint8Array.of(1, 1)), /mask has 2 entries; expected 4 \(one per row\)/);
  const c = new CategoricalAccuracy({ numClasses: 3 });
  c.update(pred, [0, 1, 0, /**/ 0, 1, 0, /**/ 1, 0, 0, /**/ 0.2, 0.3, 0.5]);
  assert.equal(c.result(), 0.75);
  // agrees with the sparse loss's notion of the class on random data
  const r = rng(3), x = randomArray(40 * 7, 4, 3), t = Int32Array.from({ length: 40 }, () => r.int(7));
  const s = new SparseCategoricalAccuracy();
  s.update(x, t);
  const am = argmaxRows(x, 7);
  assert.equal(s.result(), am.reduce((a, p, i) => a + (p === t[i] ? 1 : 0), 0) / 40);
});

test("'accuracy' picks binary / sparse / categorical from shapes", () => {
  const a = new Accuracy();
  a.update([0.2, 0.8], [0, 0]); // same length -> binary: 1 of 2
  assert.equal(a.result(), 0.5);
  const s = new Accuracy();
  s.update([0.1, 0.9, 0.8, 0.2], [1, 1]); // 2 scores per target -> sparse: 1 of 2
  assert.equal(s.result(), 0.5);
  const c = new Accuracy({ numClasses: 2 });
  c.update([0.1, 0.9, 0.8, 0.2], [0, 1, 0, 1]); // one-hot -> categorical
  assert.equal(c.result(), 0.5);
  const l = new Accuracy({ fromLogits: true });
  l.update([-1, 1], [0, 1]);
  assert.equal(l.result(), 1);
});

test('precision / recall / f1 (binary) from counts; 0 when undefined', () => {
  const pred = [0.9, 0.8, 0.3, 0.6, 0.1, 0.2], y = [1, 0, 1, 1, 0, 0];
  // TP: 0, 3 -> 2; FP: 1 -> 1; FN: 2 -> 1; TN: 4, 5 -> 2
  const c = new BinaryCounts();
  c.update(pred, y);
  assert.deepEqual([c.tp, c.fp, c.fn, c.tn], [2, 1, 1, 2]);
  const p = new Precision(), r = new Recall(), f = new F1();
  for (const m of [p, r, f]) { m.update(pred.slice(0, 3), y.slice(0, 3)); m.update(pred.slice(3), y.slice(3)); }
  assert.equal(p.result(), 2 / 3);
  assert.equal(r.result(), 2 / 3);
  assertClose([f.result()], [2 / 3], 0, 1e-15, 'f1');
  const f2 = new F1();
  f2.update([0.9, 0.9, 0.9, 0.1], [1, 0, 0, 1]); // P = 1/3, R = 1/2 -> F1 = 0.4
  assertClose([f2.result()], [0.4], 0, 1e-15, 'f1 asym');
  const empty = new Precision();
  empty.update([0.1, 0.2], [1, 0]);
  assert.equal(empty.result(), 0);
  assert.equal(new Recall().result(), 0);
  const lg = new Recall({ fromLogits: true });
  lg.update([0.5, -0.5, 2], [1, 1, 1], Uint8Array.of(1, 1, 0));
  assert.equal(lg.result(), 0.5);
  f.reset();
  assert.equal(f.result(), 0);
});

test('confusion matrix: rows = true, columns = predicted; streaming from scores or labels', () => {
  const m = confusionMatrix([0, 1, 1, 2, 2, 0], [0, 1, 2, 2, 1, 1], 3);
  assert.deepEqual(Array.from(m), [1, 0, 0, /**/ 1, 1, 1, /**/ 0, 1, 1]);
  assert.deepEqual(Array.from(confusionMatrix([0, 1], [1, 1], 2, Uint8Array.of(0, 1))), [0, 0, 0, 1]);
  assert.throws(() => confusionMatrix([0, 3], [0, 1], 3), /predLabels\[1\] = 3 is out of range \[0, 3\)/);
  assert.throws(() => confusionMatrix([0, 1], [0, -1], 3), /trueLabels\[1\] = -1/);
  const cm = new ConfusionMatrix(2);
  cm.update([0.9, 0.1, 0.2, 0.8, 0.6, 0.4], [0, 1, 1]); // scores -> labels 0, 1, 0
  cm.update([1, 1], [1, 0]); // labels
  assert.deepEqual(Array.from(cm.matrix), [1, 1, /**/ 1, 2]);
  assert.equal(cm.accuracy(), 3 / 5);
  cm.reset();
  assert.equal(cm.accuracy(), 0);
});

test('crossentropy in nats / bits and perplexity: streaming, token-weighted, mask-aware', () => {
  assertClose([natsToBits(Math.LN2), bitsToNats(1), perplexityFromLoss(Math.log(7))], [1, Math.LN2, 7], 0, 1e-15, 'helpers');
  const x = randomArray(10 * 4, 5, 2), t = Int32Array.from({ length: 10 }, (_, i) => i % 4);
  const mask = Uint8Array.from({ length: 10 }, (_, i) => (i % 3 === 0 ? 0 : 1));
  const full = sparseCategoricalCrossentropy(x, t, { mask }).loss; // mean nats over counted rows
  const nats = new SparseCrossentropyMetric('ce', 'nats'), bits = getMetric('bpc'), ppl = new Perplexity();
  for (const m of [nats, bits, ppl]) {
    m.update(x.subarray(0, 12), t.subarray(0, 3), mask.subarray(0, 3));
    m.update(x.subarray(12), t.subarray(3), mask.subarray(3));
  }
  assertClose([nats.result()], [full], 0, 1e-14, 'nats');
  assertClose([bits.result()], [full / Math.LN2], 0, 1e-14, 'bits');
  assertClose([ppl.result()], [Math.exp(full)], 0, 1e-14, 'perplexity');
  // uniform predictions over K classes: perplexity K, log2 K bits
  const u = new Perplexity(), ub = getMetric('bits_per_character');
  u.update(new Float32Array(3 * 5), [0, 3, 4]);
  ub.update(new Float32Array(3 * 5), [0, 3, 4]);
  assertClose([u.result(), ub.result()], [5, Math.log2(5)], 0, 1e-12, 'uniform');
  const pr = new Perplexity({ fromLogits: false });
  pr.update([0.25, 0.75], [1]);
  assertClose([pr.result()], [4 / 3], 0, 1e-12, 'from probabilities');
  u.reset();
  assert.equal(u.result(), 0);
});

test('regression metrics and Mean', () => {
  const mse = new RegressionMetric('mse', 'mse'), mae = getMetric('mae');
  for (const m of [mse, mae]) { m.update([1, 2], [0, 0]); m.update([3], [1], Uint8Array.of(1)); m.update([5], [0], Uint8Array.of(0)); }
  assertClose([mse.result(), mae.result()], [(1 + 4 + 4) / 3, (1 + 2 + 2) / 3], 0, 1e-15, 'mse/mae');
  const mean = new Mean('loss');
  mean.update(2, 3); mean.update(4, 1);
  assert.equal(mean.result(), 2.5);
  mean.reset();
  assert.equal(mean.result(), 0);
});

test('getMetric: Keras names, snake_case, aliases; name is the requested key; fresh instances', () => {
  const expect: [string, Function][] = [
    ['accuracy', Accuracy], ['acc', Accuracy], ['binaryAccuracy', BinaryAccuracy], ['binary_accuracy', BinaryAccuracy],
    ['sparseCategoricalAccuracy', SparseCategoricalAccuracy], ['sparse_categorical_accuracy', SparseCategoricalAccuracy],
    ['precision', Precision], ['recall', Recall], ['f1', F1], ['f1_score', F1], ['perplexity', Perplexity], ['ppl', Perplexity],
    ['sparse_categorical_crossentropy', SparseCrossentropyMetric], ['crossentropy', SparseCrossentropyMetric],
    ['mse', RegressionMetric], ['mean_absolute_error', RegressionMetric],
  ];
  for (const [name, cls] of expect) {
    const m = getMetric(name);
    assert.ok(m instanceof cls, name);
    assert.equal(m.name, name);
  }
  assert.equal(getMetric('categorical_accuracy', { numClasses: 3 }).name, 'categorical_accuracy');
  assert.throws(() => getMetric('categoricalAccuracy'), /pass \{ numClasses \}/);
  assert.equal(getMetric('acc', { name: 'train_acc' }).name, 'train_acc');
  assert.notEqual(getMetric('acc'), getMetric('acc'));
  assert.ok(getMetric('binaryAccuracy', { fromLogits: true }) instanceof BinaryAccuracy);
  assert.ok(metricNames.includes('sparseCategoricalAccuracy'));
  assert.throws(() => getMetric('auc'), /unknown metric 'auc'; valid names: accuracy, binaryAccuracy/);
});
