// How fit batches sequences of different lengths (src/models/sequential.ts): each batch cut to
// its longest sequence (trimPadding, the default) with the same results as the padded batch, the
// targets of a sequence output cut with it, padding known from ragged arrays or from an embedding
// with maskZero; length bucketing (bucketByLength); evaluate cutting its batches too.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import type { Dense } from '../src/models/data-input.js';

/** n ragged sequences of ids in [1, V): most short, a few long (the longest sets the padded length). */
function sequences(n: number, V: number, seed: number): number[][] {
  const r = rnn.rng(seed);
  return Array.from({ length: n }, (_, i) => Array.from({ length: i % 17 === 0 ? 30 : 1 + r.int(8) }, () => 1 + r.int(V - 1)));
}

/** A Sequential that records the shapes of the batches fit gives it. */
class Spy extends rnn.Sequential {
  batches: { x: Dense; y: Dense }[] = [];
  override trainOnBatch(x: Dense | Dense[], y: Dense, clip?: { clipNorm?: number }, metrics?: never[]): { loss: number; gradNorm: number } {
    this.batches.push({ x: Array.isArray(x) ? x[0]! : x, y });
    return super.trainOnBatch(x, y, clip, metrics);
  }
}

const classifier = (o: { maskZero?: boolean } = {}): Spy => {
  const m = new Spy({ layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: o.maskZero ?? true, seed: 1 }),
    rnn.layers.lstm({ units: 9, seed: 2 }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 3 }),
  ] });
  m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'binaryCrossentropy' });
  return m;
};

const tagger = (): Spy => {
  const m = new Spy({ layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }),
    rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 5, returnSequences: true, seed: 2 }) }),
    rnn.layers.dense({ units: 4, activation: 'softmax', seed: 3 }),
  ] });
  m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
  return m;
};

/** The longest real row of a batch, from its mask or (ids) its last non-zero id. */
function longest(x: Dense): number {
  const [B, T] = x.shape as [number, number];
  let L = 0;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) if ((x.mask ? x.mask[b * T + t] : 1) && x.data[b * T + t] !== 0) L = Math.max(L, t + 1);
  return L;
}

test('fit cuts each batch to its longest sequence, and trains to the same weights (bits) as on the padded batches (a classifier: ragged arrays)', async () => {
  const xs = sequences(120, 7, 1), ys = xs.map((s) => [s.includes(3) ? 1 : 0]);
  const cut = classifier(), full = classifier();
  const hc = await cut.fit(xs, ys, { epochs: 2, batchSize: 16, seed: 5 });
  const hf = await full.fit(xs, ys, { epochs: 2, batchSize: 16, seed: 5, trimPadding: false });
  assert.ok(cut.batches.every((b) => b.x.shape[1] === Math.max(1, longest(b.x))), 'every batch as long as its longest row');
  assert.ok(cut.batches.some((b) => b.x.shape[1]! < 30), 'some batches are shorter than the longest sequence');
  assert.ok(full.batches.every((b) => b.x.shape[1] === 30));
  assert.deepEqual(cut.batches.map((b) => b.y.shape), full.batches.map((b) => b.y.shape), 'targets [B, 1] untouched');
  // The same bits: padded steps change nothing, and the products compute each row alike.
  assert.deepEqual(hc.history.loss, hf.history.loss);
  assert.deepEqual(cut.params, full.params);
});

test('a tagger\'s per-step targets are cut with its batches (ragged targets), with the same losses and weights', async () => {
  const xs = sequences(90, 7, 2), ys = xs.map((s) => s.map((v) => v % 4));
  const cut = tagger(), full = tagger();
  const hc = await cut.fit(xs, ys, { epochs: 2, batchSize: 8, seed: 6 });
  const hf = await full.fit(xs, ys, { epochs: 2, batchSize: 8, seed: 6, trimPadding: false });
  assert.ok(cut.batches.every((b) => b.y.shape[1] === b.x.shape[1]), 'targets as long as the batch');
  assert.ok(cut.batches.some((b) => b.x.shape[1]! < 30));
  assert.deepEqual(hc.history.loss, hf.history.loss);
  assert.deepEqual(cut.params, full.params);
  // evaluate cuts too: in batches of 4 (cut short) and all at once (30 steps) the same loss.
  const e4 = cut.evaluate(xs, ys, { batchSize: 4 }).loss!, eAll = cut.evaluate(xs, ys, { batchSize: 90 }).loss!;
  assert.ok(Math.abs(e4 - eAll) <= 1e-6, `${e4} vs ${eAll}`);
});

test('padding known from an embedding with maskZero (ids padded with 0 by the caller) is cut too; without maskZero nothing is', async () => {
  const seqs = sequences(64, 7, 3), T = 30;
  const data = new Float32Array(64 * T);
  seqs.forEach((s, b) => data.set(s, b * T));
  const x = { data, shape: [64, T] }, y = seqs.map((s) => [s.length > 4 ? 1 : 0]);
  const m = classifier({ maskZero: true });
  await m.fit(x, y, { epochs: 1, batchSize: 16, seed: 1 });
  assert.ok(m.batches.some((b) => b.x.shape[1]! < T) && m.batches.every((b) => b.x.shape[1] === Math.max(1, longest(b.x))));
  const plain = classifier({ maskZero: false });
  await plain.fit(x, y, { epochs: 1, batchSize: 16, seed: 1 });
  assert.ok(plain.batches.every((b) => b.x.shape[1] === T), 'id 0 is a token like any other without maskZero');
});

test('bucketByLength: every sample once per epoch, in batches of similar lengths, and the model learns', async () => {
  const xs = sequences(400, 7, 4), ys = xs.map((s) => [s.includes(3) ? 1 : 0]);
  const bucketed = classifier(), random = classifier();
  const h = await bucketed.fit(xs, ys, { epochs: 3, batchSize: 16, seed: 2, bucketByLength: true });
  await random.fit(xs, ys, { epochs: 1, batchSize: 16, seed: 2 });
  const perEpoch = Math.ceil(400 / 16);
  assert.equal(bucketed.batches.length, 3 * perEpoch);
  assert.equal(bucketed.batches.slice(0, perEpoch).reduce((n, b) => n + b.x.shape[0]!, 0), 400, 'all 400 samples in the first epoch');
  const steps = (s: Spy, n: number): number => s.batches.slice(0, n).reduce((a, b) => a + b.x.shape[0]! * b.x.shape[1]!, 0);
  // Random batches of 16 usually hold one of the 30-step sequences; sorted ones put them together.
  assert.ok(steps(bucketed, perEpoch) < 0.5 * steps(random, perEpoch), `padded steps: bucketed ${steps(bucketed, perEpoch)}, random ${steps(random, perEpoch)}`);
  assert.ok(h.history.loss![2]! < h.history.loss![0]!, 'the loss falls');
  // The same seed, the same run.
  const again = classifier();
  await again.fit(xs, ys, { epochs: 3, batchSize: 16, seed: 2, bucketByLength: 50 });
  assert.deepEqual(again.params, bucketed.params);
});

test('bucketByLength refuses models whose padding is unknown, and bad values', async () => {
  const dense = rnn.sequential({ layers: [rnn.layers.lstm({ units: 3 }), rnn.layers.dense({ units: 1 })] });
  dense.compile({ optimizer: 'adam', loss: 'meanSquaredError' });
  const x = { data: new Float32Array(4 * 5 * 2), shape: [4, 5, 2] }, y = { data: new Float32Array(4), shape: [4, 1] };
  await assert.rejects(dense.fit(x, y, { bucketByLength: true }), /bucketByLength needs an input of sequences whose padding is known/);
  await assert.rejects(classifier().fit([[1, 2]], [[1]], { bucketByLength: -1 }), /bucketByLength must be true, false or a whole number of batches, got -1/);
});

/** A functional model that records the batches fit gives it. */
class GraphSpy extends rnn.GraphModel {
  batches: { x: Dense[]; y: Dense }[] = [];
  override trainOnBatch(x: Dense | Dense[], y: Dense, clip?: { clipNorm?: number }, metrics?: never[]): { loss: number; gradNorm: number } {
    this.batches.push({ x: Array.isArray(x) ? x : [x], y });
    return super.trainOnBatch(x, y, clip, metrics);
  }
}

/** An encoder-decoder: the source's final state starts the decoder, whose steps attend to the source. */
function seq2seq(): GraphSpy {
  const src = rnn.input({ shape: [null], name: 'source' }), tgt = rnn.input({ shape: [null], name: 'target' });
  const [enc, h] = rnn.layers.gru({ units: 8, returnSequences: true, returnState: true, seed: 1 })
    .apply(rnn.layers.embedding({ inputDim: 7, outputDim: 5, maskZero: true, seed: 2 }).apply(src)) as rnn.SymbolicTensor[];
  const dec = rnn.layers.gru({ units: 8, returnSequences: true, seed: 3 })
    .apply(rnn.layers.embedding({ inputDim: 7, outputDim: 5, maskZero: true, seed: 4 }).apply(tgt), { initialState: [h!] }) as rnn.SymbolicTensor;
  const att = rnn.layers.attention({ score: 'dot' }).apply([dec, enc!]) as rnn.SymbolicTensor;
  const y = rnn.layers.dense({ units: 7, activation: 'softmax', seed: 5 }).apply(rnn.layers.concatenate().apply([dec, att]) as rnn.SymbolicTensor) as rnn.SymbolicTensor;
  const m = new GraphSpy({ inputs: [src, tgt], outputs: y });
  m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
  return m;
}

test('an encoder-decoder: each input cut to its own batch\'s longest sequence, the targets with the decoder input (the output\'s steps), the same results as padded to rounding', async () => {
  const srcs = sequences(80, 7, 7), tgts = sequences(80, 7, 8).map((t) => t.slice(0, 6));
  const ys = tgts.map((t) => t.map((v) => (v + 1) % 7 || 1));
  const cut = seq2seq(), full = seq2seq();
  const hc = await cut.fit([srcs, tgts], ys, { epochs: 2, batchSize: 8, seed: 3 });
  const hf = await full.fit([srcs, tgts], ys, { epochs: 2, batchSize: 8, seed: 3, trimPadding: false });
  assert.ok(cut.batches.every((b) => b.x[0]!.shape[1] === Math.max(1, longest(b.x[0]!)) && b.x[1]!.shape[1] === Math.max(1, longest(b.x[1]!))), 'each input as long as its longest row');
  assert.ok(cut.batches.some((b) => b.x[0]!.shape[1] !== b.x[1]!.shape[1]), 'the two inputs cut to lengths of their own');
  assert.ok(cut.batches.every((b) => b.y.shape[1] === b.x[1]!.shape[1]), 'the targets with the decoder input');
  assert.ok(full.batches.every((b) => b.x[0]!.shape[1] === 30));
  // To rounding, not the bits: the attention's softmax sums its row of keys in vector lanes, and a
  // row cut shorter groups them otherwise.
  hc.history.loss!.forEach((l, i) => assert.ok(Math.abs(l - hf.history.loss![i]!) <= 1e-7 * l, `epoch ${i + 1}: ${l} vs ${hf.history.loss![i]}`));
  let d = 0;
  for (let i = 0; i < cut.params.length; i++) d = Math.max(d, Math.abs(cut.params[i]! - full.params[i]!));
  assert.ok(d <= 1e-5, `largest weight difference ${d}`);
  // Bucketing by the sum of both lengths runs too.
  const bucketed = seq2seq();
  const hb = await bucketed.fit([srcs, tgts], ys, { epochs: 2, batchSize: 8, seed: 3, bucketByLength: 4 });
  assert.equal(bucketed.batches.slice(0, 10).reduce((n, b) => n + b.x[0]!.shape[0]!, 0), 80);
  assert.ok(Number.isFinite(hb.history.loss![1]!));
});

test('predict cuts the batches of a model with one output per sequence (the same outputs)', () => {
  class ForwardSpy extends rnn.Sequential {
    lengths: number[] = [];
    protected override forwardAll(xs: Dense[], training: boolean) {
      this.lengths.push(xs[0]!.shape[1]!);
      return super.forwardAll(xs, training);
    }
  }
  const xs = sequences(100, 7, 9);
  const cls = new ForwardSpy({ layers: [
    rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }), rnn.layers.gru({ units: 9, seed: 2 }), rnn.layers.dense({ units: 3, activation: 'softmax', seed: 3 }),
  ] });
  const p = cls.predict(xs, { batchSize: 16 });
  assert.deepEqual(p.shape, [100, 3]);
  assert.ok(cls.lengths.some((T) => T < 30) && cls.lengths.includes(30), `batch lengths ${cls.lengths}`);
  // Each row alone (its own length, no padding at all): the same probabilities.
  for (const i of [0, 5, 17, 63]) {
    const one = cls.predict([xs[i]!]).data;
    for (let k = 0; k < 3; k++) assert.ok(Math.abs(one[k]! - p.data[i * 3 + k]!) <= 1e-6, `row ${i}`);
  }
});

class ForwardLengths extends rnn.Sequential {
  lengths: number[] = [];
  protected override forwardAll(xs: Dense[], training: boolean) {
    this.lengths.push(xs[0]!.shape[1]!);
    return super.forwardAll(xs, training);
  }
}

test('predict cuts the batches of a tagger too (recurrent layers output zeros at padded steps): every step as the padded batches give it, the steps past a batch\'s longest filled in', () => {
  const xs = sequences(100, 7, 9);
  const taggers: [string, () => rnn.Layer[]][] = [
    ['GRU, Dense', () => [rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }), rnn.layers.gru({ units: 9, returnSequences: true, seed: 2 }), rnn.layers.dense({ units: 3, seed: 3 })]],
    ['BiLSTM x2, LayerNormalization, softmax', () => [
      rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }), rnn.layers.dense({ units: 5, activation: 'tanh', seed: 4 }),
      rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 4, returnSequences: true, seed: 2 }), mergeMode: 'sum' }),
      rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 4, returnSequences: true, seed: 5 }) }),
      rnn.layers.layerNormalization(), rnn.layers.dropout({ rate: 0.5 }), rnn.layers.dense({ units: 3, activation: 'softmax', seed: 3 })]],
  ];
  for (const [what, layers] of taggers) {
    const tag = new ForwardLengths({ layers: layers() });
    const cut = tag.predict(xs, { batchSize: 16 });
    assert.deepEqual(cut.shape, [100, 30, 3]);
    assert.ok(tag.lengths.some((T) => T < 30), `${what}: batches cut (${tag.lengths})`);
    tag.lengths = [];
    const whole = tag.predict(xs, { batchSize: 16, trimPadding: false });
    assert.ok(tag.lengths.every((T) => T === 30));
    let worst = 0;
    cut.data.forEach((v, i) => { worst = Math.max(worst, Math.abs(v - whole.data[i]!)); });
    assert.ok(worst <= 1e-6, `${what}: ${worst}`);
    // The padded steps are not all alike: the fill differs from a real step's output.
    assert.notDeepEqual(Array.from(cut.data.subarray(29 * 3, 30 * 3)), Array.from(cut.data.subarray(0, 3)));
  }
  // A layer after the recurrent one that looks across steps: its padded steps differ, so no cut.
  const x = rnn.input({ shape: [null] });
  const h = rnn.layers.gru({ units: 6, returnSequences: true, seed: 2 }).apply(rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }).apply(x) as rnn.SymbolicTensor) as rnn.SymbolicTensor;
  const att = rnn.model({ inputs: x, outputs: rnn.layers.attention({ causal: true }).apply([h, h]) as rnn.SymbolicTensor });
  assert.deepEqual(att.predict(xs, { batchSize: 16 }).data, att.predict(xs, { batchSize: 16, trimPadding: false }).data);
  // goBackwards (its outputs run backwards over the padded length): kept whole, the same values.
  const back = new ForwardLengths({ layers: [rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }), rnn.layers.gru({ units: 6, returnSequences: true, goBackwards: true, seed: 2 }), rnn.layers.dense({ units: 3, seed: 3 })] });
  assert.deepEqual(back.predict(xs, { batchSize: 16 }).data, back.predict(xs, { batchSize: 16, trimPadding: false }).data);
  assert.ok(back.lengths.every((T) => T === 30));
  // A sequence output of steps of its own (RepeatVector): kept whole.
  const repeat = new ForwardLengths({ layers: [rnn.layers.embedding({ inputDim: 7, outputDim: 6, maskZero: true, seed: 1 }), rnn.layers.gru({ units: 6, seed: 2 }), rnn.layers.repeatVector({ n: 4 }), rnn.layers.gru({ units: 3, returnSequences: true, seed: 3 })] });
  assert.deepEqual(repeat.predict(xs, { batchSize: 16 }).shape, [100, 4, 3]);
  assert.ok(repeat.lengths.every((T) => T === 30));
});

test('float sequences read by a Masking layer: steps whose features all equal maskValue are padding, cut as the others (the same bits)', async () => {
  const r = rnn.rng(14), N = 48, T = 20, F = 3;
  const data = new Float32Array(N * T * F).fill(-1), ys: number[][] = [];
  for (let b = 0; b < N; b++) {
    const len = b % 11 === 0 ? T : 2 + r.int(6);
    let s = 0;
    for (let t = 0; t < len; t++) for (let j = 0; j < F; j++) s += (data[(b * T + t) * F + j] = r.uniform(0, 1));
    ys.push([s / len]);
  }
  const make = (): Spy => {
    const m = new Spy({ layers: [rnn.layers.masking({ maskValue: -1 }), rnn.layers.lstm({ units: 6, seed: 1 }), rnn.layers.dense({ units: 1, seed: 2 })] });
    m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'meanSquaredError' });
    return m;
  };
  const x = { data, shape: [N, T, F] }, cut = make(), full = make();
  const hc = await cut.fit(x, ys, { epochs: 2, batchSize: 8, seed: 4 });
  const hf = await full.fit(x, ys, { epochs: 2, batchSize: 8, seed: 4, trimPadding: false });
  assert.ok(cut.batches.some((b) => b.x.shape[1]! < T), `batch lengths ${cut.batches.map((b) => b.x.shape[1])}`);
  assert.ok(full.batches.every((b) => b.x.shape[1] === T));
  assert.deepEqual(hc.history.loss, hf.history.loss);
  assert.deepEqual(cut.params, full.params);
});
