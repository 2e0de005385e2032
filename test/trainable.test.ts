// Frozen layers (Layer.trainable false, Keras's layer.trainable = False): training leaves their
// parameters bit for bit, the other layers train as they would (one SGD step: the same bits as
// an all-trainable model's step there), the gradient norm leaves them out, nothing below the
// first trainable layer runs backward, and `trainable` survives saving, loading and summaries.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';

const xs = Array.from({ length: 24 }, (_, i) => Array.from({ length: 3 + (i % 5) }, (_, t) => 1 + ((i * 3 + t * 5) % 8)));
const ys = xs.map((s) => [s.includes(4) ? 1 : 0]);

const classifier = (frozen: ('emb' | 'lstm' | 'dense')[], optimizer: rnn.Optimizer | string): rnn.Sequential => {
  const m = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 9, outputDim: 6, maskZero: true, seed: 1, name: 'emb', trainable: !frozen.includes('emb') }),
    rnn.layers.lstm({ units: 7, seed: 2, name: 'lstm', trainable: !frozen.includes('lstm') }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 3, name: 'dense', trainable: !frozen.includes('dense') }),
  ] });
  m.compile({ optimizer, loss: 'binaryCrossentropy' });
  m.predict(xs.slice(0, 1)); // built
  return m;
};

/** A layer's parameters, copied. */
const weightsOf = (m: rnn.Model, name: string): Float32Array => {
  const e = m.weightEntries().filter((w) => w.name.startsWith(`${name}/`));
  return Float32Array.from(m.params.subarray(e[0]!.offset, e[e.length - 1]!.offset + e[e.length - 1]!.size));
};

const batch = (): [{ data: Float32Array; shape: number[]; mask: null }, { data: Float32Array; shape: number[]; mask: null }] => {
  const T = 7, x = new Float32Array(xs.length * T);
  xs.forEach((s, b) => s.forEach((v, t) => { x[b * T + t] = v; }));
  return [{ data: x, shape: [xs.length, T], mask: null }, { data: Float32Array.from(ys.flat()), shape: [xs.length, 1], mask: null }];
};

test('a frozen embedding keeps its bits through Adam with weight decay; one SGD step moves the other layers exactly as in an all-trainable model; the norm leaves it out', async () => {
  const m = classifier(['emb'], rnn.optimizers.adamw({ learningRate: 0.05, weightDecay: 0.1 }));
  const emb0 = weightsOf(m, 'emb'), lstm0 = weightsOf(m, 'lstm');
  await m.fit(xs, ys, { epochs: 3, batchSize: 8, seed: 1, clipNorm: 1 });
  assert.deepEqual(weightsOf(m, 'emb'), emb0, 'the frozen embedding is as it was');
  assert.notDeepEqual(weightsOf(m, 'lstm'), lstm0, 'the LSTM trained');

  const [x, y] = batch();
  const frozen = classifier(['emb'], rnn.optimizers.sgd({ learningRate: 0.5 })), all = classifier([], rnn.optimizers.sgd({ learningRate: 0.5 }));
  const rf = frozen.trainOnBatch(x, y), ra = all.trainOnBatch(x, y);
  assert.equal(rf.loss, ra.loss);
  for (const name of ['lstm', 'dense']) assert.deepEqual(weightsOf(frozen, name), weightsOf(all, name), `${name}: the same step`);
  assert.notDeepEqual(weightsOf(all, 'emb'), weightsOf(frozen, 'emb'));
  // The gradient norm: the trainable layers' gradients only (the all-trainable model's, without the embedding's).
  const e = all.weightEntries().filter((w) => w.name.startsWith('emb/'));
  let sq = 0, sqEmb = 0;
  for (let i = 0; i < all.grads.length; i++) sq += all.grads[i]! ** 2;
  for (const w of e) for (let i = w.offset; i < w.offset + w.size; i++) sqEmb += all.grads[i]! ** 2;
  assert.ok(sqEmb > 0);
  assert.ok(Math.abs(rf.gradNorm - Math.sqrt(sq - sqEmb)) < 1e-5 * rf.gradNorm, `${rf.gradNorm} vs ${Math.sqrt(sq - sqEmb)}`);
  assert.ok(Math.abs(ra.gradNorm - Math.sqrt(sq)) < 1e-5 * ra.gradNorm);
});

test('a frozen layer in the middle passes gradients through: the embedding below trains as in an all-trainable model (one SGD step, bits)', () => {
  const [x, y] = batch();
  const frozen = classifier(['lstm'], rnn.optimizers.sgd({ learningRate: 0.5 })), all = classifier([], rnn.optimizers.sgd({ learningRate: 0.5 }));
  const lstm0 = weightsOf(frozen, 'lstm');
  const rf = frozen.trainOnBatch(x, y);
  all.trainOnBatch(x, y);
  assert.deepEqual(weightsOf(frozen, 'lstm'), lstm0);
  for (const name of ['emb', 'dense']) assert.deepEqual(weightsOf(frozen, name), weightsOf(all, name), `${name}: the same step`);
  // Its backward ran (for the embedding), but its gradient is not in the norm.
  let sq = 0;
  all.weightEntries().filter((w) => !w.name.startsWith('lstm/')).forEach((w) => { for (let i = w.offset; i < w.offset + w.size; i++) sq += all.grads[i]! ** 2; });
  assert.ok(Math.abs(rf.gradNorm - Math.sqrt(sq)) < 1e-5 * rf.gradNorm, `${rf.gradNorm} vs ${Math.sqrt(sq)}`);
});

test('nothing below the first trainable layer runs backward; toggling trainable between fits takes effect', async () => {
  const m = classifier(['emb', 'lstm'], 'adam');
  const lstm = m.layers[1]!;
  let calls = 0;
  const orig = lstm.backward.bind(lstm);
  lstm.backward = (dy, wantDx) => { calls++; return orig(dy, wantDx); };
  const lstm0 = weightsOf(m, 'lstm'), dense0 = weightsOf(m, 'dense');
  await m.fit(xs, ys, { epochs: 1, batchSize: 8 });
  assert.equal(calls, 0, 'the frozen LSTM at the bottom never ran backward');
  assert.deepEqual(weightsOf(m, 'lstm'), lstm0);
  assert.notDeepEqual(weightsOf(m, 'dense'), dense0);
  lstm.trainable = true;
  await m.fit(xs, ys, { epochs: 1, batchSize: 8 });
  assert.equal(calls, 3, 'trainable again: one backward per batch');
  assert.notDeepEqual(weightsOf(m, 'lstm'), lstm0);
});

test('a frozen encoder in a functional seq2seq keeps its bits while the decoder trains', async () => {
  const src = rnn.input({ shape: [null] }), tgt = rnn.input({ shape: [null] });
  const enc = rnn.layers.lstm({ units: 6, returnState: true, seed: 2, name: 'encoder', trainable: false });
  const [, h, c] = enc.apply(rnn.layers.embedding({ inputDim: 9, outputDim: 4, seed: 1, name: 'src_emb', trainable: false }).apply(src) as rnn.SymbolicTensor) as rnn.SymbolicTensor[];
  const dec = rnn.layers.lstm({ units: 6, returnSequences: true, seed: 3, name: 'decoder' })
    .apply(rnn.layers.embedding({ inputDim: 9, outputDim: 4, seed: 4, name: 'tgt_emb' }).apply(tgt) as rnn.SymbolicTensor, { initialState: [h!, c!] }) as rnn.SymbolicTensor;
  const m = rnn.model({ inputs: [src, tgt], outputs: rnn.layers.dense({ units: 9, activation: 'softmax', seed: 5 }).apply(dec) as rnn.SymbolicTensor });
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  const s = xs.map((r) => r.slice(0, 3)), t = xs.map((r) => r.slice(0, 3).reverse());
  m.predict([s, t]);
  const before = ['encoder', 'src_emb', 'decoder'].map((n) => weightsOf(m, n));
  await m.fit([s, t], t, { epochs: 2, batchSize: 8 });
  assert.deepEqual(weightsOf(m, 'encoder'), before[0]);
  assert.deepEqual(weightsOf(m, 'src_emb'), before[1]);
  assert.notDeepEqual(weightsOf(m, 'decoder'), before[2]);
  const text = m.summary(() => {});
  const frozenCount = before[0]!.length + before[1]!.length;
  assert.match(text, new RegExp(`Trainable params: ${(m.countParams() - frozenCount).toLocaleString('en-US')}\\nNon-trainable params: ${frozenCount.toLocaleString('en-US')}`));
});

test('trainable survives saving and loading, and TF.js export and import (bidirectional too); a bad value is refused by name', async () => {
  const m = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 9, outputDim: 4, trainable: false, name: 'e' }),
    rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 3, resetAfter: false }), trainable: false, name: 'bi' }),
    rnn.layers.dense({ units: 1, name: 'd' }),
  ] });
  m.compile({ optimizer: 'adam', loss: 'mse' });
  m.predict(xs.slice(0, 2));
  m.layers[2]!.trainable = false; m.layers[0]!.trainable = true; // changed after construction
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-trainable-'));
  try {
    await rnn.saveModel(m, join(dir, 'm'));
    const back = await rnn.loadModel(join(dir, 'm')) as rnn.Sequential;
    assert.deepEqual(back.layers.map((l) => l.trainable !== false), [true, false, false]);
    assert.deepEqual(back.getConfig(), m.getConfig());
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  // Through TF.js's model.json: Keras's `trainable` both ways.
  const { modelJson, weightData } = rnn.exportTfjs(m);
  const keras = (modelJson.modelTopology as { config: { layers: { config: { trainable?: boolean } }[] } }).config.layers;
  assert.deepEqual(keras.map((l) => l.config.trainable), [undefined, false, false]);
  const imported = rnn.modelFromTfjs(modelJson, weightData);
  assert.deepEqual(imported.layers.map((l) => l.trainable !== false), [true, false, false]);
  assert.equal(rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 2, trainable: false }) }).trainable, false, 'bidirectional takes the wrapped layer\'s');
  assert.throws(() => rnn.layers.dense({ units: 2, name: 'dd', trainable: 'no' as never }), /dd.*option 'trainable' must be true or false, got "no"/);
});
