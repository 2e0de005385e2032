// Weight penalties (src/layers/regularizers.ts): the loss fit and evaluate report is the data
// loss plus l1·Σ|w| + l2·Σw² over the covered weights (float64 by hand), one SGD step moves each
// covered weight by lr·(l1·sign(w) + 2·l2·w) more than an unregularized twin's and the others not
// at all, frozen layers are not penalised, and regularizers survive saving and TF.js's model.json.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';

const xs = Array.from({ length: 16 }, (_, i) => Array.from({ length: 4 + (i % 3) }, (_, t) => 1 + ((i * 5 + t * 3) % 8)));
const ys = xs.map((s) => [s.includes(2) ? 1 : 0]);
const R = { emb: rnn.regularizers.l1(0.003), kernel: rnn.regularizers.l2(0.02), recurrent: rnn.regularizers.l1l2({ l1: 0.001, l2: 0.01 }), bias: rnn.regularizers.l2(0.05), dense: rnn.regularizers.l1l2({ l1: 0.002, l2: 0.004 }) };

const model = (regularized: boolean, optimizer: rnn.Optimizer | string = rnn.optimizers.sgd({ learningRate: 0.1 })): rnn.Sequential => {
  const m = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 9, outputDim: 4, maskZero: true, seed: 1, name: 'emb', ...(regularized ? { embeddingsRegularizer: R.emb } : {}) }),
    rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 3, seed: 2, resetAfter: false, ...(regularized ? { kernelRegularizer: R.kernel, recurrentRegularizer: R.recurrent, biasRegularizer: R.bias } : {}) }), name: 'bi' }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 3, name: 'out', ...(regularized ? { kernelRegularizer: R.dense } : {}) }),
  ] });
  m.build([null]);
  m.compile({ optimizer, loss: 'binaryCrossentropy' });
  return m;
};

/** Which regularizer covers a weight entry of the model above (null: none). */
function coverOf(name: string): rnn.Regularizer | null {
  if (name === 'emb/embeddings') return R.emb;
  if (name.startsWith('bi/weight_ih')) return R.kernel;
  if (name.startsWith('bi/weight_hh')) return R.recurrent;
  if (name.startsWith('bi/bias_')) return R.bias;
  if (name === 'out/kernel') return R.dense;
  return null;
}

function penaltyOf(m: rnn.Model): number {
  let s = 0;
  for (const e of m.weightEntries()) {
    const r = coverOf(e.name);
    if (!r) continue;
    for (let i = e.offset; i < e.offset + e.size; i++) s += r.l1 * Math.abs(m.params[i]!) + r.l2 * m.params[i]! ** 2;
  }
  return s;
}

test('the loss is the data loss plus the penalty; one SGD step adds lr·(l1·sign(w) + 2·l2·w) to the covered weights\' move, nothing to the others', () => {
  const reg = model(true), plain = model(false);
  assert.deepEqual(reg.params, plain.params, 'the same start');
  const p0 = Float64Array.from(reg.params), penalty = penaltyOf(reg);
  assert.ok(penalty > 0.01, `penalty ${penalty}`);
  const er = reg.evaluate(xs, ys).loss!, ep = plain.evaluate(xs, ys).loss!;
  assert.ok(Math.abs(er - ep - penalty) < 1e-6, `evaluate: ${er} - ${ep} vs ${penalty}`);
  const T = 6, x = { data: new Float32Array(16 * T), shape: [16, T], mask: null };
  xs.forEach((s, b) => s.forEach((v, t) => { x.data[b * T + t] = v; }));
  const y = { data: Float32Array.from(ys.flat()), shape: [16, 1], mask: null };
  const lr = reg.trainOnBatch(x, y).loss, lp = plain.trainOnBatch(x, y).loss;
  assert.ok(Math.abs(lr - lp - penalty) < 1e-6, `trainOnBatch: ${lr} - ${lp} vs ${penalty}`);
  for (const e of reg.weightEntries()) {
    const r = coverOf(e.name);
    for (let i = e.offset; i < e.offset + e.size; i++) {
      const extra = r ? 0.1 * (r.l1 * Math.sign(p0[i]!) + 2 * r.l2 * p0[i]!) : 0;
      const got = plain.params[i]! - reg.params[i]!;
      if (r ? Math.abs(got - extra) > 2e-7 : got !== 0) assert.fail(`${e.name}[${i - e.offset}]: moved ${got} more, expected ${extra}`);
    }
  }
});

test('fit reports the penalty in loss and val_loss; a frozen layer\'s weights are not penalised', async () => {
  const m = model(true, 'adam');
  const h = await m.fit(xs, ys, { epochs: 1, batchSize: 16, validationData: [xs, ys], shuffle: false });
  const plain = model(false);
  plain.setWeights(m.getWeights());
  assert.ok(Math.abs(h.history.val_loss![0]! - plain.evaluate(xs, ys).loss! - penaltyOf(m)) < 1e-6);
  m.getLayer('bi').trainable = false;
  let frozenPart = 0;
  for (const e of m.weightEntries()) {
    if (!e.name.startsWith('bi/')) continue;
    const r = coverOf(e.name)!;
    for (let i = e.offset; i < e.offset + e.size; i++) frozenPart += r.l1 * Math.abs(m.params[i]!) + r.l2 * m.params[i]! ** 2;
  }
  assert.ok(frozenPart > 0);
  assert.ok(Math.abs(m.evaluate(xs, ys).loss! - plain.evaluate(xs, ys).loss! - (penaltyOf(m) - frozenPart)) < 1e-6);
});

test('regularizers survive saving and loading, and TF.js model.json both ways (a Bidirectional\'s in its layer)', async () => {
  const m = model(true);
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-reg-'));
  try {
    await rnn.saveModel(m, join(dir, 'm'));
    const back = await rnn.loadModel(join(dir, 'm'));
    assert.deepEqual(back.getConfig(), m.getConfig());
    assert.equal(back.evaluate(xs, ys).loss, m.evaluate(xs, ys).loss);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const cfg = m.getConfig() as { layers: Record<string, unknown>[] };
  assert.deepEqual(cfg.layers[2]!.kernelRegularizer, { className: 'L1L2', config: { l1: 0.002, l2: 0.004 } });
  const { modelJson, weightData } = rnn.exportTfjs(m);
  const keras = (modelJson.modelTopology as { config: { layers: { config: Record<string, unknown> }[] } }).config.layers;
  assert.deepEqual(keras[0]!.config.embeddings_regularizer, { class_name: 'L1L2', config: { l1: 0.003, l2: 0 } });
  assert.deepEqual((keras[1]!.config.layer as { config: Record<string, unknown> }).config.recurrent_regularizer, { class_name: 'L1L2', config: { l1: 0.001, l2: 0.01 } });
  const imported = rnn.modelFromTfjs(modelJson, weightData);
  imported.compile({ optimizer: 'sgd', loss: 'binaryCrossentropy' });
  assert.deepEqual(imported.layers.map((l) => l.regularizers), m.layers.map((l) => l.regularizers));
  assert.ok(Math.abs(imported.evaluate(xs, ys).loss! - m.evaluate(xs, ys).loss!) < 1e-5);
});

test('a regularizer where the layer has no such weights, or a bad one, is refused by name', () => {
  assert.throws(() => rnn.layers.layerNormalization({ name: 'ln', kernelRegularizer: rnn.regularizers.l2() }), /ln.*option 'kernelRegularizer' does not apply to LayerNormalization \(it takes no regularizer\)/);
  assert.throws(() => rnn.layers.dense({ units: 2, name: 'd', recurrentRegularizer: rnn.regularizers.l2() }), /d.*'recurrentRegularizer' does not apply to Dense \(it takes kernelRegularizer, biasRegularizer\)/);
  assert.throws(() => rnn.regularizers.l2(-1), /regularizers\.l2: l2 must be a finite number >= 0, got -1/);
  assert.throws(() => rnn.layers.dense({ units: 2, kernelRegularizer: { className: 'OrthogonalRegularizer', config: {} } as never }), /unknown regularizer class "OrthogonalRegularizer"/);
});
