// The Keras-style model API end to end: every loss learns a generated task (with masks and
// variable lengths), padding never changes a result, save -> load gives identical predictions,
// and resumed training continues exactly as an uninterrupted run.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { assertClose, checkParamGradients } from './helpers.js';

/** Sequences of token ids in 1..V-1 with lengths in [minLen, maxLen]. */
function sequences(n: number, minLen: number, maxLen: number, V: number, seed: number): number[][] {
  const r = rnn.rng(seed);
  return Array.from({ length: n }, () => Array.from({ length: minLen + r.int(maxLen - minLen + 1) }, () => 1 + r.int(V - 1)));
}

test('binaryCrossentropy: an LSTM learns "at least three 1s" on ragged, masked sequences', async () => {
  const xs = sequences(1200, 3, 12, 5, 1);
  const ys = xs.map((s) => [s.filter((v) => v === 1).length >= 3 ? 1 : 0]);
  const model = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 5, outputDim: 8, maskZero: true }),
    rnn.layers.lstm({ units: 24 }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid' }),
  ] });
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  const h = await model.fit(xs, ys, { epochs: 6, batchSize: 32, validationSplit: 0.2, seed: 3 });
  const acc = h.history.val_accuracy!.at(-1)!;
  // The majority class is ~74%: a model that does not learn the count stays there.
  assert.ok(acc >= 0.95, `validation accuracy ${acc}`);
  assert.ok(h.history.loss![0]! > h.history.loss!.at(-1)!, 'training loss falls');
});

test('sparseCategoricalCrossentropy per step: a bidirectional GRU tags each token with its successor', async () => {
  // Target at step t = token at t+1 (0 -> class 0 at the last step); needs the right context.
  const xs = sequences(800, 2, 10, 6, 2);
  const ys = xs.map((s) => s.map((_, t) => (t + 1 < s.length ? s[t + 1]! : 0)));
  const model = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 6, outputDim: 8, maskZero: true }),
    rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 16, returnSequences: true }), mergeMode: 'concat' }),
    rnn.layers.dense({ units: 6, activation: 'softmax' }),
  ] });
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const h = await model.fit(xs, ys, { epochs: 8, batchSize: 32, validationSplit: 0.2, seed: 4, clipNorm: 5 });
  const acc = h.history.val_accuracy!.at(-1)!;
  // Chance is 1/5; only the backward direction can see t+1.
  assert.ok(acc >= 0.9, `validation accuracy ${acc}`);
});

test('sparseCategoricalCrossentropy per sequence: a SimpleRNN predicts the last token', async () => {
  const xs = sequences(800, 1, 8, 5, 5);
  const ys = xs.map((s) => [s.at(-1)!]);
  const model = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 5, outputDim: 8, maskZero: true }),
    rnn.layers.simpleRNN({ units: 16 }),
    rnn.layers.dense({ units: 5, activation: 'softmax' }),
  ] });
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const h = await model.fit(xs, ys, { epochs: 5, batchSize: 32, validationSplit: 0.2, seed: 6 });
  assert.ok(h.history.val_accuracy!.at(-1)! >= 0.97, `validation accuracy ${h.history.val_accuracy!.at(-1)}`);
});

test('categoricalCrossentropy with one-hot targets and meanSquaredError regression learn', async () => {
  const xs = sequences(600, 4, 4, 4, 7);
  const firsts = xs.map((s) => s[0]!);
  const oneHot = firsts.map((f) => [0, 1, 2, 3].map((k) => (k === f ? 1 : 0)));
  const cls = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 4, outputDim: 8 }),
    rnn.layers.lstm({ units: 16, goBackwards: false }),
    rnn.layers.dense({ units: 4, activation: 'softmax' }),
  ] });
  cls.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.02 }), loss: 'categoricalCrossentropy', metrics: ['accuracy'] });
  const h = await cls.fit(xs, oneHot, { epochs: 6, batchSize: 32, validationSplit: 0.2, seed: 8 });
  assert.ok(h.history.val_accuracy!.at(-1)! >= 0.95, `first-token accuracy ${h.history.val_accuracy!.at(-1)}`);

  // Regression: the mean of the tokens of a ragged sequence.
  const ys = xs.map((s) => [s.reduce((a, b) => a + b, 0) / s.length]);
  const reg = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: 4, outputDim: 8 }),
    rnn.layers.gru({ units: 16 }),
    rnn.layers.dense({ units: 1 }),
  ] });
  reg.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'meanSquaredError' });
  const hr = await reg.fit(xs, ys, { epochs: 12, batchSize: 32, validationSplit: 0.2, seed: 9 });
  // Variance of the target is ~0.2; predicting the mean would leave val_loss near that.
  assert.ok(hr.history.val_loss!.at(-1)! < 0.03, `val mse ${hr.history.val_loss!.at(-1)}`);
});

function maskedModel(kind: 'uni' | 'bi' | 'backwards', returnSequences: boolean): rnn.Sequential {
  const inner = rnn.layers.lstm({ units: 6, returnSequences, goBackwards: kind === 'backwards' });
  return rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 5, maskZero: true }),
    kind === 'bi' ? rnn.layers.bidirectional({ layer: inner, mergeMode: 'sum' }) : inner,
    rnn.layers.dense({ units: 3 }),
  ] });
}

for (const kind of ['uni', 'bi', 'backwards'] as const) {
  test(`padding never changes a result (${kind}): right, left and inner padding give the same outputs`, () => {
    const m = maskedModel(kind, false);
    const ref = m.predict([[3, 1, 4, 1, 5]]).data;
    const padded = m.predict([[3, 1, 4, 1, 5, 0, 0], [0, 0, 3, 1, 4, 1, 5], [3, 1, 0, 4, 0, 1, 5]]).data;
    for (let r = 0; r < 3; r++) assertClose(padded.subarray(r * 3, r * 3 + 3), ref, 1e-6, 1e-5, `${kind} row ${r}`);
    // And a different sequence gives a different answer (the check is not vacuous).
    const other = m.predict([[3, 1, 4, 1, 6]]).data;
    assert.ok(Math.abs(other[0]! - ref[0]!) + Math.abs(other[1]! - ref[1]!) > 1e-6);
  });
}

test('Embedding backward: the scatter-add sums every occurrence of an id, for widths with and without a multiple-of-4 part', () => {
  for (const D of [1, 3, 4, 6, 9]) {
    const emb = rnn.layers.embedding({ inputDim: 5, outputDim: D });
    const idList = [3, 0, 3, 4, 3, 1, 0];
    emb.forward({ data: Float32Array.from(idList), shape: [1, idList.length], mask: null }, { training: true, rng: rnn.rng(1) });
    const dy = Float32Array.from({ length: idList.length * D }, (_, i) => Math.sin(i + 1));
    emb.params.zeroGrad();
    emb.backward(dy);
    const want = new Float64Array(5 * D);
    idList.forEach((id, i) => { for (let j = 0; j < D; j++) want[id * D + j] += dy[i * D + j]!; });
    const got = emb.params.gradOf('embeddings');
    for (let k = 0; k < want.length; k++) assert.ok(Math.abs(got[k]! - want[k]!) < 1e-6, `D = ${D}, dW[${k}]: ${got[k]} vs ${want[k]}`);
    assert.equal(got[2 * D], 0, 'an id that never occurs gets no gradient');
  }
});

test('Dense and Embedding gradients match finite differences through a whole model', () => {
  const model = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 5, outputDim: 4, maskZero: true }),
    rnn.layers.gru({ units: 5, returnSequences: true }),
    rnn.layers.dense({ units: 3, activation: 'tanh' }),
    rnn.layers.dense({ units: 4, activation: 'softmax' }),
  ] });
  model.build([null]);
  model.compile({ optimizer: 'sgd', loss: 'sparseCategoricalCrossentropy' });
  const x = { data: new Float32Array([1, 2, 3, 4, 2, 3, 0, 0]), shape: [2, 4], mask: null };
  const y = { data: new Float32Array([0, 1, 2, 3, 3, 2, 1, 0]), shape: [2, 4], mask: null };
  const loss = () => model.evaluate(x, y).loss!;
  const lr = model.optimizer!.learningRate;
  model.optimizer!.learningRate = 0; // take a step that changes nothing, to read the gradients
  model.trainOnBatch(x, y);
  model.optimizer!.learningRate = lr;
  const grads = Float64Array.from(model.grads);
  // Central differences in float32 with a large step, at 60 random parameters.
  const r = rnn.rng(1);
  const checked = checkParamGradients(model.params, grads, loss, Array.from({ length: 60 }, () => r.int(model.params.length)));
  assert.ok(checked > 10, `only ${checked} informative checks`);
});

test('save -> load gives identical predictions; resumed training continues exactly', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-model-'));
  try {
    const xs = sequences(200, 2, 9, 6, 11);
    const ys = xs.map((s) => [s.includes(5) ? 1 : 0]);
    const make = () => {
      const m = rnn.sequential({ layers: [
        rnn.layers.embedding({ inputDim: 6, outputDim: 6, maskZero: true }),
        rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 8, dropout: 0.2 }), mergeMode: 'concat' }),
        rnn.layers.dropout({ rate: 0.3 }),
        rnn.layers.dense({ units: 1, activation: 'sigmoid' }),
      ] });
      m.compile({ optimizer: 'adam', loss: 'binaryCrossentropy', metrics: ['accuracy'] });
      return m;
    };
    const straight = make();
    await straight.fit(xs, ys, { epochs: 3, batchSize: 16, seed: 5 });

    const first = make();
    await first.fit(xs, ys, { epochs: 1, batchSize: 16, seed: 5 });
    await rnn.saveModel(first, join(dir, 'ckpt'));
    const loaded = await rnn.loadModel(join(dir, 'ckpt'));
    assert.deepEqual(loaded.predict(xs).data, first.predict(xs).data, 'identical predictions after load');
    await loaded.fit(xs, ys, { epochs: 3, batchSize: 16, initialEpoch: 1 });
    assert.deepEqual(loaded.params, straight.params, 'resumed run ends with the same weights, bit for bit');

    // A model with different shapes must refuse these weights with a clear message.
    const { readFileSync, writeFileSync } = await import('node:fs');
    const manifest = JSON.parse(readFileSync(join(dir, 'ckpt', 'model.json'), 'utf8'));
    manifest.model.layers[1].layer.units = 9;
    writeFileSync(join(dir, 'ckpt', 'model.json'), JSON.stringify(manifest));
    await assert.rejects(rnn.loadModel(join(dir, 'ckpt')), /model\.json|checksum|shape/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stateful layers carry state between predict calls until resetStates()', () => {
  const m = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 5, outputDim: 4 }),
    rnn.layers.lstm({ units: 5, stateful: true, returnSequences: true }),
    rnn.layers.dense({ units: 2 }),
  ] });
  const whole = m.predict([[1, 2, 3, 4]]).data;
  m.resetStates();
  const a = m.predict([[1, 2]]).data, b = m.predict([[3, 4]]).data;
  assertClose([...a, ...b], whole, 1e-6, 1e-5, 'two halves = whole sequence');
  m.resetStates();
  const fresh = m.predict([[3, 4]]).data;
  assert.ok(Math.abs(fresh[0]! - b[0]!) > 1e-6, 'reset forgets the carried state');
});

test('predictInPlace gives predict\'s values, carries state as predict does, and leaves the output in the layer\'s buffer', () => {
  const m = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 6 }),
    rnn.layers.lstm({ units: 9, stateful: true, returnSequences: true }),
    rnn.layers.gru({ units: 8, stateful: true, returnSequences: true }),
    rnn.layers.dense({ units: 7, activation: 'softmax' }),
  ] });
  const ids = [3, 1, 4, 1, 5, 2];
  const byPredict = ids.map((id) => [...m.predict([[id]]).data]);
  m.resetStates();
  const steps = ids.map((id) => {
    const out = m.predictInPlace({ data: Float32Array.of(id), shape: [1, 1], mask: null });
    assert.deepEqual(out.shape, [1, 1, 7]);
    return { out, values: [...out.data] };
  });
  assert.deepEqual(steps.map((s) => s.values), byPredict, 'bit for bit, step after step');
  assert.equal(steps[0]!.out.data, steps[5]!.out.data, 'one buffer, reused: valid until the next call');
  // Several rows at once (no state carried): predict's rows.
  const plain = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 4 }), rnn.layers.simpleRNN({ units: 5 }), rnn.layers.dense({ units: 3 }),
  ] });
  const rows = [[1, 2, 3], [4, 5, 6], [6, 5, 4]];
  assert.deepEqual([...plain.predictInPlace(rows).data], [...plain.predict(rows).data]);
});

test('predictInPlace cuts padded batches as predict does (through predict): maskZero ids', () => {
  const m = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 6, outputDim: 4, maskZero: true }), rnn.layers.lstm({ units: 5, returnSequences: true }), rnn.layers.dense({ units: 2 }),
  ] });
  // Every row ends in padding: predict cuts the batch to 3 steps and fills the padded steps' outputs.
  const rows = [[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]];
  const want = m.predict(rows);
  const got = m.predictInPlace(rows);
  assert.deepEqual(got.shape, want.shape);
  assert.deepEqual([...got.data], [...want.data]);
});

test('fit stops with a clear message when the loss becomes NaN', async () => {
  const m = rnn.sequential({ layers: [rnn.layers.embedding({ inputDim: 4, outputDim: 3 }), rnn.layers.lstm({ units: 3 }), rnn.layers.dense({ units: 1 })] });
  m.compile({ optimizer: rnn.optimizers.sgd({ learningRate: 1e30 }), loss: 'meanSquaredError' });
  await assert.rejects(m.fit([[1, 2], [2, 3], [3, 1], [1, 1]], [[1e6], [2e6], [3e6], [4e6]], { epochs: 5, batchSize: 2, seed: 1 }),
    (e: Error) => e instanceof rnn.NonFiniteLossError && /step \d+/.test(e.message) && /largest gradient norm/.test(e.message));
});

test('bad input gets clear errors', async () => {
  const m = rnn.sequential({ layers: [rnn.layers.embedding({ inputDim: 4, outputDim: 3 }), rnn.layers.lstm({ units: 3 }), rnn.layers.dense({ units: 1 })] });
  assert.throws(() => m.compile({ optimizer: 'adamm', loss: 'mse' }), /unknown optimizer 'adamm'/);
  assert.throws(() => m.compile({ optimizer: 'adam', loss: 'hinge2' }), /unknown loss 'hinge2'/);
  m.compile({ optimizer: 'adam', loss: 'mse' });
  await assert.rejects(m.fit([[1, 2]], [[1], [2]]), /x has 1 samples but y has 2/);
  assert.throws(() => m.predict([[1, 9]]), /token id 9 .* outside \[0, 4\)/);
  assert.throws(() => rnn.layers.lstm({ units: 0 }), /units/);
});

test('buffers reused between training steps never leak into results: repeated steps equal fresh models, predictions stay independent', () => {
  const make = () => {
    const m = rnn.sequential({ inputShape: [null], layers: [
      rnn.layers.embedding({ inputDim: 7, outputDim: 4 }),
      rnn.layers.lstm({ units: 6, returnSequences: true }),
      rnn.layers.dense({ units: 7, activation: 'softmax' }),
    ] });
    m.build([null]);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    return m;
  };
  const batch = (seed: number, B: number, T: number) => {
    const r = rnn.rng(seed);
    return {
      x: { data: Float32Array.from({ length: B * T }, () => r.int(7)), shape: [B, T], mask: null },
      y: { data: Float32Array.from({ length: B * T }, () => r.int(7)), shape: [B, T], mask: null },
    };
  };
  // Steps on batches of two shapes (buffers resized and reused) give the same losses as a model
  // that saw the same sequence of batches; the predictions returned are fresh arrays each time.
  const a = make(), b = make();
  const seq = [batch(1, 3, 5), batch(2, 3, 5), batch(3, 2, 4), batch(4, 3, 5)];
  const la = seq.map((s) => a.trainOnBatch(s.x, s.y).loss);
  const p1 = a.predict(seq[0]!.x).data.slice();
  const lb = seq.map((s) => b.trainOnBatch(s.x, s.y).loss);
  assert.deepEqual(la, lb);
  const q1 = a.predict(seq[0]!.x);
  const q2 = a.predict(seq[2]!.x);
  assert.deepEqual(q1.data, p1, 'a later predict did not overwrite an earlier result');
  assert.notEqual(q1.data.buffer, q2.data.buffer);
  a.trainOnBatch(seq[1]!.x, seq[1]!.y);
  assert.deepEqual(q1.data, p1, 'a training step did not overwrite a prediction');
});

test('inference reuses the inner layers\' buffers: batched predict equals row-by-row predict, also when the last layer passes its input through', () => {
  const r = rnn.rng(5);
  const x = { data: Float32Array.from({ length: 7 * 6 }, () => r.int(9)), shape: [7, 6], mask: null };
  for (const tail of [[], [rnn.layers.dropout({ rate: 0.5 })]]) {
    const m = rnn.sequential({ inputShape: [null], layers: [
      rnn.layers.embedding({ inputDim: 9, outputDim: 5 }),
      rnn.layers.gru({ units: 4, returnSequences: true }),
      rnn.layers.dense({ units: 3 }),
      ...tail,
    ] });
    m.build([null]);
    m.compile({ optimizer: 'adam', loss: 'mse' });
    const batched = m.predict(x, { batchSize: 3 });
    assert.deepEqual(batched.shape, [7, 6, 3]);
    // (Batch 1 runs other kernels than batch 3: equal up to float rounding, not bit for bit. A
    // buffer shared between batches would show as other rows' values.)
    for (let i = 0; i < 7; i++) {
      const xi = { data: x.data.slice(i * 6, (i + 1) * 6), shape: [1, 6], mask: null };
      const one = m.predict(xi);
      for (let k = 0; k < 18; k++) {
        const got = batched.data[i * 18 + k]!, want = one.data[k]!;
        assert.ok(Math.abs(got - want) <= 1e-6 + 1e-5 * Math.abs(want), `row ${i} [${k}]: ${got} vs ${want} (tail: ${tail.length})`);
      }
    }
    // evaluate's loss is the mean squared error of what predict returns.
    const y = { data: Float32Array.from({ length: 7 * 6 * 3 }, () => r.uniform(-1, 1)), shape: [7, 6, 3], mask: null };
    let se = 0;
    for (let i = 0; i < y.data.length; i++) se += (batched.data[i]! - y.data[i]!) ** 2;
    const logs = m.evaluate(x, y, { batchSize: 2 });
    assert.ok(Math.abs(logs.loss! - se / y.data.length) < 1e-6, `evaluate ${logs.loss} vs ${se / y.data.length}`);
  }
});

/**
 * Records the wantDx each layer's backward gets; with `force`, the layer computes dx anyway (the
 * flag replaced by true), which must change no parameter gradient.
 */
function spyWantDx(layers: rnn.Layer[], force: boolean): Map<string, (boolean | undefined)[]> {
  const seen = new Map<string, (boolean | undefined)[]>();
  for (const l of layers) {
    const orig = l.backward.bind(l);
    seen.set(l.name, []);
    l.backward = (dy: Float32Array, wantDx?: boolean) => { seen.get(l.name)!.push(wantDx); return orig(dy, force ? true : wantDx); };
  }
  return seen;
}

test("a layer's input gradient is skipped when nothing before it has parameters (the model's input, or an activation of it), and the step's parameters are the same bits", () => {
  const B = 3, T = 5, F = 4;
  const r = rnn.rng(11);
  const x = { data: Float32Array.from({ length: B * T * F }, () => r.uniform(-1, 1)), shape: [B, T, F], mask: null };
  const y = { data: Float32Array.from({ length: B }, () => r.int(2)), shape: [B, 1], mask: null };
  const make = (front: 'none' | 'activation' | 'dense') => {
    const m = rnn.sequential({ inputShape: [null, F], layers: [
      ...(front === 'activation' ? [rnn.layers.activation({ activation: 'tanh' })] : front === 'dense' ? [rnn.layers.dense({ units: 5, activation: 'tanh', seed: 4 })] : []),
      rnn.layers.lstm({ units: 6, returnSequences: true, seed: 1 }),
      rnn.layers.gru({ units: 5, seed: 2 }),
      rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 5 }),
    ] });
    m.build([null, F]);
    m.compile({ optimizer: 'adam', loss: 'binaryCrossentropy' });
    return m;
  };
  for (const front of ['none', 'activation', 'dense'] as const) {
    const a = make(front), b = make(front);
    const seen = spyWantDx(a.layers, false);
    spyWantDx(b.layers, true);
    a.trainOnBatch(x, y); b.trainOnBatch(x, y);
    a.trainOnBatch(x, y); b.trainOnBatch(x, y);
    assert.deepEqual(a.params, b.params, `${front}: the same parameters after two steps`);
    // The output layer (sigmoid + binary cross-entropy) runs backwardFromLogits instead.
    const inner = a.layers.slice(0, -1);
    const want = inner.map((_, i) => inner.slice(0, i).some((p) => (p.params?.size ?? 0) > 0));
    // A layer runs backward only if the one after it returned a gradient.
    const reached = (i: number): boolean => i === inner.length - 1 || want[i + 1]!;
    inner.forEach((l, i) => assert.deepEqual(seen.get(l.name), reached(i) ? [want[i], want[i]] : [], `${front}: ${l.name} (${i})`));
    assert.deepEqual(want.slice(0, front === 'none' ? 2 : 3), front === 'none' ? [false, true] : front === 'activation' ? [false, false, true] : [false, true, true], front);
  }
  // A lone output layer fused with its loss (logistic regression on the features) gets false too.
  const lone = () => {
    const m = rnn.sequential({ inputShape: [F], layers: [rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 5 })] });
    m.build([F]);
    m.compile({ optimizer: 'adam', loss: 'binaryCrossentropy' });
    return m;
  };
  const xf = { data: x.data.subarray(0, B * F), shape: [B, F], mask: null };
  const flags: (boolean | undefined)[] = [];
  const [la, lb] = [lone(), lone()];
  for (const [m, force] of [[la, false], [lb, true]] as const) {
    const d = m.layers[0] as unknown as { backwardFromLogits(dz: Float32Array, wantDx?: boolean): Float32Array | null };
    const orig = d.backwardFromLogits.bind(d);
    d.backwardFromLogits = (dz, wantDx) => { if (!force) flags.push(wantDx); return orig(dz, force || wantDx); };
    m.trainOnBatch(xf, y);
  }
  assert.deepEqual(flags, [false]);
  assert.deepEqual(la.params, lb.params);
});

test('a model.json whose architecture the layers refuse is a BundleError naming the file and the layer (a one-line CLI error, not an internal one)', async () => {
  const { loadBundle, saveBundle } = await import('../src/models/node/bundle.js');
  const { spawnSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-model-bad-'));
  try {
    const m = rnn.sequential({ inputShape: [null], layers: [rnn.layers.embedding({ inputDim: 5, outputDim: 4 }), rnn.layers.dense({ units: 2 })] });
    m.predict([[1, 2, 3]]);
    await rnn.saveModel(m, join(dir, 'good'));
    const good = await loadBundle(join(dir, 'good'));
    const variants: [string, (layers: Record<string, unknown>[]) => void, RegExp][] = [
      ['unknown', (l) => { l[1]!.className = 'Dense2'; }, /model\.json: model\.layers\[1\]: unknown layer type "Dense2"/],
      ['badopt', (l) => { l[1]!.units = -3; }, /model\.json: model\.layers\[1\]: .*units/],
      ['badcell', (l) => { l.splice(1, 1, { className: 'Bidirectional', layer: { className: 'Conv1D' } }); }, /model\.json: model\.layers\[1\]: Bidirectional needs a 'layer' of class SimpleRNN, LSTM, GRU/],
    ];
    for (const [name, change, want] of variants) {
      const manifest = structuredClone(good.manifest);
      change((manifest as unknown as { model: { layers: Record<string, unknown>[] } }).model.layers);
      await saveBundle(join(dir, name), { ...good, manifest }, { fsync: false });
      await assert.rejects(rnn.loadModel(join(dir, name)), (e: Error) => e.name === 'BundleError' && want.test(e.message), name);
    }
    const r = spawnSync(process.execPath, ['dist/src/cli/main.js', 'charrnn', 'sample', '--model', join(dir, 'badopt')], { encoding: 'utf8' });
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^rnnkit: .*model\.json: model\.layers\[1\]: .*units.*\n$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("saveModel(m, dir, { weightsDtype: 'float16' }): half the weight bytes, each weight rounded to binary16 and widened back on load; predictions close; weights beyond float16's range refused at save", async () => {
  const { statSync, readFileSync } = await import('node:fs');
  const { float16Value, float16Bits } = await import('../src/models/safetensors.js');
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-model-f16-'));
  try {
    const m = rnn.sequential({ inputShape: [null], layers: [
      rnn.layers.embedding({ inputDim: 30, outputDim: 16 }), rnn.layers.gru({ units: 24, returnSequences: true }), rnn.layers.dense({ units: 30, activation: 'softmax' }),
    ] });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const x = [[1, 5, 9, 2, 7], [3, 3, 8, 1, 0]];
    const p32 = m.predict(x).data;
    await rnn.saveModel(m, join(dir, 'f32'));
    await rnn.saveModel(m, join(dir, 'f16'), { weightsDtype: 'float16', includeOptimizer: false });
    const bytes = (d: string) => statSync(join(dir, d, 'weights.safetensors')).size;
    assert.ok(bytes('f16') < 0.55 * bytes('f32'), `${bytes('f16')} vs ${bytes('f32')} bytes`);
    assert.equal(JSON.parse(readFileSync(join(dir, 'f16', 'model.json'), 'utf8')).weights[0].dtype, 'float16');
    const h = await rnn.loadModel(join(dir, 'f16'));
    for (let i = 0; i < m.params.length; i++) assert.equal(h.params[i], float16Value(float16Bits(m.params[i]!)), `param ${i}`);
    assert.notDeepEqual(h.params, m.params, 'rounded');
    const p16 = h.predict(x).data;
    let worst = 0;
    for (let i = 0; i < p32.length; i++) worst = Math.max(worst, Math.abs(p16[i]! - p32[i]!));
    assert.ok(worst > 0 && worst < 2e-3, `largest probability change ${worst}`);
    const big = rnn.sequential({ inputShape: [null, 2], layers: [rnn.layers.dense({ units: 1 })] });
    big.predict([[[1, 2]]]);
    big.params[0] = 1e5;
    await assert.rejects(rnn.saveModel(big, join(dir, 'big'), { weightsDtype: 'float16' }), /weight '.*kernel'\[0\] = 100000 is beyond float16's range \(±65504\): save it as float32/);
    await assert.rejects(rnn.saveModel(big, join(dir, 'big'), { weightsDtype: 'bfloat16' as 'float16' }), /weightsDtype must be 'float32' or 'float16', got "bfloat16"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
