// Sample and class weights in fit, evaluate and trainOnBatch (src/models/sample-weights.ts):
// the weighted loss against a float64 computation from predict's outputs, per sample and per step
// of a sequence output (padding not counted); weights cut and bucketed with their batches; class
// weights as the sample weights they stand for; 'balanced'; validation weights; clear errors.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as rnn from '../src/index.js';

/** n ragged sequences of ids in [1, V). */
function sequences(n: number, V: number, seed: number, maxLen = 9): number[][] {
  const r = rnn.rng(seed);
  return Array.from({ length: n }, (_, i) => Array.from({ length: i % 11 === 0 ? maxLen + 6 : 1 + r.int(maxLen) }, () => 1 + r.int(V - 1)));
}

const classifier = (optimizer: rnn.Optimizer | string = rnn.optimizers.adam({ learningRate: 0.01 })): rnn.Sequential => {
  const m = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }),
    rnn.layers.lstm({ units: 9, seed: 2 }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 3 }),
  ] });
  m.compile({ optimizer, loss: 'binaryCrossentropy' });
  return m;
};

const tagger = (): rnn.Sequential => {
  const m = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }),
    rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 5, returnSequences: true, seed: 2 }) }),
    rnn.layers.dense({ units: 4, activation: 'softmax', seed: 3 }),
  ] });
  m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
  return m;
};

const close = (a: number, b: number, tol: number, what: string): void => {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
};

/** Tags of a ragged batch: each step's id mod 4 (a tagger can learn it); padded to the longest with 0. */
function tagsOf(xs: number[][]): number[][] {
  const T = Math.max(...xs.map((s) => s.length));
  return xs.map((s) => Array.from({ length: T }, (_, t) => (t < s.length ? s[t]! % 4 : 0)));
}

test('evaluate with per-sample weights: Σ w·ℓ / N over predict\'s probabilities (float64), and not the unweighted loss', () => {
  const xs = sequences(40, 7, 1), ys = xs.map((s) => [s.includes(3) ? 1 : 0]);
  const m = classifier();
  const w = xs.map((_, i) => (i % 3 === 0 ? 0 : i % 3 === 1 ? 1 : 2.5));
  const p = m.predict(xs).data;
  let sum = 0;
  for (let i = 0; i < xs.length; i++) sum += w[i]! * -Math.log(ys[i]![0] ? p[i]! : 1 - p[i]!);
  const weighted = m.evaluate(xs, ys, { batchSize: 16, sampleWeight: w }).loss!;
  close(weighted, sum / xs.length, 2e-6, 'weighted loss');
  const plain = m.evaluate(xs, ys, { batchSize: 16 }).loss!;
  assert.ok(Math.abs(plain - weighted) > 1e-3, `the weights change the loss (${plain} vs ${weighted})`);
});

test('evaluate with per-step weights of a tagger: Σ w·ℓ over the real steps / their count; a per-sample weight covers its steps', () => {
  const xs = sequences(30, 7, 2), ys = tagsOf(xs), T = ys[0]!.length;
  const m = tagger();
  const r = rnn.rng(9);
  const w = xs.map(() => Array.from({ length: T }, () => r.int(4) * 0.5));
  const p = m.predict(xs).data;
  let sum = 0, count = 0, sumSample = 0;
  const perSample = xs.map((_, i) => 1 + (i % 3));
  xs.forEach((s, b) => s.forEach((_, t) => {
    const l = -Math.log(p[(b * T + t) * 4 + ys[b]![t]!]!);
    sum += w[b]![t]! * l; sumSample += perSample[b]! * l; count++;
  }));
  close(m.evaluate(xs, ys, { batchSize: 8, sampleWeight: w }).loss!, sum / count, 2e-6, 'per-step weights');
  close(m.evaluate(xs, ys, { batchSize: 8, sampleWeight: perSample }).loss!, sumSample / count, 2e-6, 'per-sample weights over steps');
});

test('fit: what a zero weight covers never moves the weights (same bits), through cut and bucketed batches; a weight of one does', async () => {
  const xs = sequences(60, 7, 3), ys = tagsOf(xs), T = ys[0]!.length;
  // Every third step of every sequence weighs 0; its targets are then changed.
  const w = xs.map(() => Array.from({ length: T }, (_, t) => (t % 3 === 1 ? 0 : 1)));
  const changed = ys.map((row) => row.map((v, t) => (t % 3 === 1 ? (v + 1) % 4 : v)));
  const run = async (y: number[][], sw: number[][] | undefined): Promise<Float32Array> => {
    const m = tagger();
    await m.fit(xs, y, { epochs: 2, batchSize: 8, seed: 4, bucketByLength: 2, ...(sw ? { sampleWeight: sw } : {}) });
    return Float32Array.from(m.params);
  };
  const a = await run(ys, w), b = await run(changed, w);
  assert.deepEqual(b, a, 'targets under zero weights change nothing');
  const c = await run(ys, undefined), d = await run(changed, undefined);
  assert.notDeepEqual(d, c, 'without the weights the same change moves the weights');
  assert.notDeepEqual(a, c, 'the weights change training');
});

test('trainOnBatch: weights of 2 on every row give one SGD step of twice the learning rate (bits)', () => {
  const xs = sequences(16, 7, 4), ys = xs.map((s) => [s.length % 2]);
  const x = { data: new Float32Array(16 * 15), shape: [16, 15], mask: null };
  xs.forEach((s, b) => s.forEach((v, t) => { x.data[b * 15 + t] = v; }));
  const y = { data: Float32Array.from(ys.flat()), shape: [16, 1], mask: null };
  const a = classifier(rnn.optimizers.sgd({ learningRate: 0.1 })), b = classifier(rnn.optimizers.sgd({ learningRate: 0.2 }));
  const la = a.trainOnBatch(x, y, { sampleWeight: new Array(16).fill(2) }).loss;
  const lb = b.trainOnBatch(x, y).loss;
  assert.equal(la, 2 * lb);
  assert.deepEqual(Float32Array.from(a.params), Float32Array.from(b.params));
});

test('classWeight: the same training as the sample weights it stands for (bits); multiplied into sampleWeight; \'balanced\' is N / (C·n_c)', async () => {
  const xs = sequences(50, 7, 5), ys = xs.map((s) => [s.includes(3) ? 1 : 0]);
  const fitWith = async (o: rnn.FitArgs): Promise<Float32Array> => {
    const m = classifier();
    await m.fit(xs, ys, { epochs: 2, batchSize: 8, seed: 6, ...o });
    return Float32Array.from(m.params);
  };
  const byClass = await fitWith({ classWeight: { 0: 1, 1: 3 } });
  assert.deepEqual(byClass, await fitWith({ sampleWeight: ys.map(([v]) => (v ? 3 : 1)) }));
  assert.notDeepEqual(byClass, await fitWith({}));
  const sw = xs.map((_, i) => 0.5 + (i % 2));
  assert.deepEqual(await fitWith({ classWeight: [2, 0.5], sampleWeight: sw }), await fitWith({ sampleWeight: ys.map(([v], i) => sw[i]! * (v ? 0.5 : 2)) }));
  const n1 = ys.filter(([v]) => v === 1).length, n0 = ys.length - n1;
  assert.ok(n0 > 0 && n1 > 0 && n0 !== n1, `both classes, unbalanced (${n0}, ${n1})`);
  const balanced = ys.map(([v]) => ys.length / (2 * (v ? n1 : n0)));
  assert.deepEqual(await fitWith({ classWeight: 'balanced' }), await fitWith({ sampleWeight: balanced }));
});

test('classWeight \'balanced\' on a tagger counts the real steps only, and applies per step', async () => {
  const xs = sequences(40, 7, 6), ys = tagsOf(xs), T = ys[0]!.length;
  const counts = [0, 0, 0, 0];
  let total = 0;
  xs.forEach((s, b) => s.forEach((_, t) => { counts[ys[b]![t]!]!++; total++; }));
  const C = counts.filter((c) => c > 0).length;
  const sw = ys.map((row, b) => row.map((c, t) => (t < xs[b]!.length ? total / (C * counts[c]!) : 1)));
  const fitWith = async (o: rnn.FitArgs): Promise<Float32Array> => {
    const m = tagger();
    await m.fit(xs, ys, { epochs: 1, batchSize: 8, seed: 7, ...o });
    return Float32Array.from(m.params);
  };
  assert.ok(counts[0]! < total / 2, 'class 0 is not swamped by padding in this data');
  assert.deepEqual(await fitWith({ classWeight: 'balanced' }), await fitWith({ sampleWeight: sw }));
  assert.equal(T, Math.max(...xs.map((s) => s.length)));
});

test('fit: validation weights from validationSplit or validationData[2] weigh val_loss as evaluate does; class weights stay with training', async () => {
  const xs = sequences(40, 7, 8), ys = xs.map((s) => [s.includes(3) ? 1 : 0]);
  const w = xs.map((_, i) => (i % 4 === 0 ? 0 : 1 + (i % 3)));
  const m = classifier();
  const h = await m.fit(xs, ys, { epochs: 1, batchSize: 8, seed: 1, validationSplit: 0.25, sampleWeight: w, classWeight: { 0: 1, 1: 2 } });
  const va = xs.slice(30), vy = ys.slice(30), vw = w.slice(30);
  close(h.history.val_loss![0]!, m.evaluate(va, vy, { batchSize: 8, sampleWeight: vw }).loss!, 1e-7, 'val_loss (split)');
  const h2 = await m.fit(xs.slice(0, 30), ys.slice(0, 30), { epochs: 1, batchSize: 8, validationData: [va, vy, vw] });
  close(h2.history.val_loss![0]!, m.evaluate(va, vy, { batchSize: 8, sampleWeight: vw }).loss!, 1e-7, 'val_loss (validationData)');
  assert.ok(Math.abs(h2.history.val_loss![0]! - m.evaluate(va, vy, { batchSize: 8 }).loss!) > 1e-4, 'weighted, not plain');
});

test('bad weights are refused, naming the argument and what was expected', async () => {
  const xs = sequences(10, 7, 9), ys = xs.map((s) => [s.length % 2]), tags = tagsOf(xs), T = tags[0]!.length;
  const c = classifier(), t = tagger();
  await assert.rejects(c.fit(xs, ys, { sampleWeight: [1, 2, 3] }), /fit: sampleWeight has 3 samples but y has 10/);
  await assert.rejects(c.fit(xs, ys, { sampleWeight: xs.map(() => [1, 1]) }), /sampleWeight has shape \[10, 2\]; expected \[10\] \(one weight per sample\)$/);
  await assert.rejects(t.fit(xs, tags, { sampleWeight: xs.map(() => [1, 1]) }), new RegExp(`expected \\[10\\] \\(one weight per sample\\) or \\[10, ${T}\\] \\(one per step`));
  await assert.rejects(c.fit(xs, ys, { sampleWeight: xs.map((_, i) => (i === 4 ? -1 : 1)) }), /sampleWeight\[4\] is -1; weights must be finite and not negative/);
  assert.throws(() => c.evaluate(xs, ys, { sampleWeight: xs.map((_, i) => (i === 2 ? NaN : 1)) }), /evaluate: sampleWeight\[2\] is NaN/);
  await assert.rejects(t.fit(xs, tags, { classWeight: { 0: 1, 1: 1, 2: 1 } }), /classWeight has no weight for class 3 \(the target of sample \d+, step \d+\)/);
  await assert.rejects(c.fit(xs, ys, { classWeight: { 0: 1, x: 2 } as never }), /classWeight key 'x' is not a class id/);
  await assert.rejects(c.fit(xs, ys, { classWeight: { 0: 1, 1: Infinity } }), /classWeight\[1\] is Infinity/);
  await assert.rejects(c.fit(xs, ys, { validationData: [xs, ys, [1]] }), /validationData: sampleWeight has shape \[1\]; expected \[10\]/);
  const reg = rnn.sequential({ layers: [rnn.layers.embedding({ inputDim: 7, outputDim: 3 }), rnn.layers.lstm({ units: 2 }), rnn.layers.dense({ units: 1 })] });
  reg.compile({ optimizer: 'adam', loss: 'mse' });
  await assert.rejects(reg.fit(xs, ys, { classWeight: { 0: 1 } }), /classWeight needs a classification loss; meanSquaredError has no classes/);
  const multi = rnn.sequential({ layers: [rnn.layers.embedding({ inputDim: 7, outputDim: 3 }), rnn.layers.lstm({ units: 2 }), rnn.layers.dense({ units: 2, activation: 'sigmoid' })] });
  multi.compile({ optimizer: 'adam', loss: 'binaryCrossentropy' });
  await assert.rejects(multi.fit(xs, ys.map(([v]) => [v!, 1 - v!]), { classWeight: { 0: 1, 1: 2 } }), /needs one label per row; this binaryCrossentropy output has 2 labels per row/);
});
