// Callbacks: early stopping restores the best weights, schedules drive the learning rate per
// step, reduce-on-plateau lowers it, checkpoints and logs land on disk.
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';

function tiny(): rnn.Sequential {
  const m = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 5, outputDim: 4 }),
    rnn.layers.gru({ units: 6 }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid' }),
  ] });
  m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.05 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  return m;
}
const r = rnn.rng(3);
const xs = Array.from({ length: 64 }, () => Array.from({ length: 5 }, () => 1 + r.int(4)));
const ys = xs.map((s) => [s.includes(4) ? 1 : 0]);
// Validation labels are the opposite rule, so val_loss rises as training fits: early stopping must fire.
const vys = xs.map((s) => [s.includes(4) ? 0 : 1]);

test('earlyStopping stops on a rising val_loss and restores the best epoch weights', async () => {
  const m = tiny();
  const es = rnn.earlyStopping({ monitor: 'val_loss', patience: 1, restoreBestWeights: true });
  let bestWeights: Float32Array | null = null, best = Infinity;
  const spy: rnn.Callback = { onEpochEnd: (_e, logs) => { if (logs.val_loss! < best) { best = logs.val_loss!; bestWeights = m.params.slice(); } } };
  const h = await m.fit(xs, ys, { epochs: 20, batchSize: 16, validationData: [xs, vys], seed: 1, callbacks: [spy, es] });
  assert.ok(h.epoch.length < 20, `stopped after ${h.epoch.length} epochs`);
  assert.equal(es.stoppedEpoch, h.epoch.at(-1));
  assert.deepEqual(m.params, bestWeights, 'weights of the best epoch are back');
});

test('learningRateScheduler sets the rate before every step; reduceLROnPlateau lowers it', async () => {
  const m = tiny();
  const seen: number[] = [];
  const spy: rnn.Callback = { onBatchEnd: () => { seen.push(m.optimizer!.learningRate); } };
  await m.fit(xs, ys, { epochs: 1, batchSize: 16, seed: 1, callbacks: [rnn.learningRateScheduler(rnn.exponentialDecay({ initialLearningRate: 0.1, decaySteps: 1, decayRate: 0.5 })), spy] });
  assert.deepEqual(seen.map((v) => +v.toPrecision(6)), [0.1, 0.05, 0.025, 0.0125]);
  const m2 = tiny();
  await m2.fit(xs, ys, { epochs: 4, batchSize: 16, validationData: [xs, vys], seed: 1, callbacks: [rnn.reduceLROnPlateau({ monitor: 'val_loss', patience: 0, factor: 0.5 })] });
  assert.ok(m2.optimizer!.learningRate < 0.05, `learning rate ${m2.optimizer!.learningRate}`);
});

test('modelCheckpoint keeps best/ and last/; csv and json logs have a row per epoch', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-cb-'));
  try {
    const m = tiny();
    const ck = rnn.modelCheckpoint({ dir: join(dir, 'ck'), monitor: 'val_accuracy' });
    await m.fit(xs, ys, { epochs: 3, batchSize: 16, validationSplit: 0.25, seed: 2,
      callbacks: [ck, rnn.csvLogger(join(dir, 'log.csv')), rnn.jsonLogger(join(dir, 'log.jsonl'))] });
    assert.ok(existsSync(join(dir, 'ck', 'best', 'model.json')) && existsSync(join(dir, 'ck', 'last', 'weights.safetensors')));
    const last = await rnn.loadModel(join(dir, 'ck', 'last'));
    assert.deepEqual(last.params, m.params);
    const csv = readFileSync(join(dir, 'log.csv'), 'utf8').trim().split('\n');
    assert.equal(csv.length, 4);
    assert.match(csv[0]!, /^epoch,loss,accuracy,val_loss,val_accuracy$/);
    const rows = readFileSync(join(dir, 'log.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    assert.deepEqual(rows.map((o) => o.epoch), [0, 1, 2]);
    assert.ok(rows.every((o) => typeof o.val_loss === 'number'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
