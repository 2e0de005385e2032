// Keras's weight API: model.getLayer, model.getWeights / setWeights and layer.getWeights /
// setWeights — copies out, values in (checked whole before anything is written), a pretrained
// embedding set and frozen.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as rnn from '../src/index.js';

const tagger = (seed: number): rnn.Sequential => {
  const m = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 9, outputDim: 4, seed, name: 'emb' }),
    rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 3, returnSequences: true, seed: seed + 1 }), name: 'bi' }),
    rnn.layers.dense({ units: 5, activation: 'softmax', seed: seed + 2, name: 'out' }),
  ] });
  m.build([null]);
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  return m;
};
const rows = [[1, 2, 3, 4], [5, 6, 7, 8], [8, 1, 1, 2]];

test('getLayer by name or index; an unknown one is refused with the names', () => {
  const m = tagger(1);
  assert.equal(m.getLayer('bi'), m.layers[1]);
  assert.equal(m.getLayer(2).name, 'out');
  assert.throws(() => m.getLayer('lstm'), /getLayer: no layer named "lstm"; layers: emb, bi, out/);
  assert.throws(() => m.getLayer(3), /no layer at index 3 \(3 layers\)/);
});

test('model.getWeights / setWeights: copies in weightEntries order; another model given them predicts the same bits', () => {
  const a = tagger(1), b = tagger(10);
  const w = a.getWeights();
  assert.deepEqual(w.map((t) => t.shape), a.weightEntries().map((e) => e.shape));
  assert.notDeepEqual(b.predict(rows).data, a.predict(rows).data);
  b.setWeights(w);
  assert.deepEqual(b.predict(rows).data, a.predict(rows).data);
  // Copies: changing them changes no model.
  w[0]!.data.fill(0);
  assert.notDeepEqual(a.getWeights()[0]!.data, w[0]!.data);
  // Plain { data, shape } and flat arrays too.
  b.setWeights(a.getWeights().map((t, i) => (i % 2 ? { data: Array.from(t.data), shape: [...t.shape] } : Array.from(t.data))));
  assert.deepEqual(b.predict(rows).data, a.predict(rows).data);
});

test('layer.setWeights: a pretrained embedding, frozen, is there unchanged after training; the layer\'s getWeights gives it back', async () => {
  const m = tagger(2);
  const emb = m.getLayer('emb');
  const pretrained = new rnn.Tensor(Float32Array.from({ length: 36 }, (_, i) => Math.sin(i)), [9, 4]);
  emb.setWeights([pretrained]);
  emb.trainable = false;
  assert.deepEqual(emb.getWeights()[0]!.data, pretrained.data);
  await m.fit(rows, rows.map((r) => r.map((v) => v % 5)), { epochs: 2, batchSize: 2 });
  assert.deepEqual(emb.getWeights()[0]!.data, pretrained.data);
  assert.deepEqual(m.getLayer('bi').getWeights().map((t) => t.shape), m.weightEntries().filter((e) => e.name.startsWith('bi/')).map((e) => e.shape));
  assert.deepEqual(rnn.layers.dense({ units: 2 }).getWeights(), [], 'unbuilt: none');
});

test('bad weights are refused, naming the weight and what was expected, and nothing is written', () => {
  const m = tagger(3), before = m.getWeights();
  const w = m.getWeights();
  assert.throws(() => m.setWeights(w.slice(1)), /setWeights: expected 11 arrays \(getWeights' order: emb\/embeddings, /);
  const bad: rnn.WeightValue[] = [...w];
  bad[0] = new rnn.Tensor(new Float32Array(36).fill(7), [4, 9]);
  assert.throws(() => m.setWeights(bad), /setWeights: emb\/embeddings has shape \[9, 4\], got \[4, 9\]/);
  bad[0] = new rnn.Tensor(new Float32Array(36).fill(7), [9, 4]);
  bad[10] = Float32Array.from(w[10]!.data, (v, i) => (i === 2 ? NaN : v));
  assert.throws(() => m.setWeights(bad), /setWeights: out\/bias\[2\] is NaN; weights must be finite/);
  assert.deepEqual(m.getWeights(), before, 'the first (valid) array was not written');
  assert.throws(() => m.getLayer('out').setWeights([w[9]!.data.subarray(1), w[10]!]), /out.*setWeights: kernel needs 30 values \(\[6, 5\]\), got 29/);
  const unbuilt = rnn.sequential({ layers: [rnn.layers.dense({ units: 2, name: 'd0' })] });
  assert.throws(() => unbuilt.setWeights([]), /not built/);
  assert.throws(() => unbuilt.layers[0]!.setWeights([new Float32Array(2)]), /d0.*setWeights before the layer is built/);
});
