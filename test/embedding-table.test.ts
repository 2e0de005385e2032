// A Sequential or functional model runs an Embedding and the recurrent layer reading its output
// as one step when that pays (Embedding.tableRows, RecurrentLayer.forwardTable): the recurrent
// layer's input projection once per distinct token. Checked here against the same model with a
// linear Activation between the two, which makes it run the layers one by one: the same loss,
// the same weights after a plain SGD step (= the same gradients) and the same predictions, within
// float32 rounding — for a small vocabulary (the whole embedding matrix as the table), a large one
// with few distinct tokens (the distinct rows), masks with gaps (ids regrouped), goBackwards,
// both directions, stacked layers, initial states from another layer (functional), input dropout
// (rows of (sequence, token) pairs, or spelled out when those would be every row), and many
// distinct tokens (the layers one by one).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { Embedding } from '../src/layers/core.js';
import { assertClose } from './helpers.js';

type Build = () => rnn.Layer[];

/** Every parameter of a model's layers, in layer order, as one array. */
function weights(layers: rnn.Layer[]): Float64Array {
  const parts: number[] = [];
  for (const l of layers) if (l.params) for (const e of l.params.entries) parts.push(...l.params.value(e.name));
  return Float64Array.from(parts);
}

interface Outcome { loss: number; before: Float64Array; weights: Float64Array; pred: Float32Array; tableCalls: number; forwardCalls: number; layers: rnn.Layer[] }

type Mode = 'sequential' | 'graph' | 'one by one';

async function run(build: Build, mode: Mode, xs: number[][], ys: number[][], loss: 'sparseCategoricalCrossentropy' | 'binaryCrossentropy'): Promise<Outcome> {
  const layers = build();
  if (mode === 'one by one') layers.splice(1, 0, rnn.layers.activation({ activation: 'linear' }));
  const emb = layers[0] as Embedding;
  let tableCalls = 0, forwardCalls = 0;
  const table = emb.tableRows.bind(emb), fwd = emb.forward.bind(emb);
  emb.tableRows = (x) => { const t = table(x); if (t) tableCalls++; return t; };
  emb.forward = (x, ctx) => { forwardCalls++; return fwd(x, ctx); };
  let model: rnn.Sequential | rnn.GraphModel;
  if (mode === 'graph') {
    const inp = rnn.input({ shape: [null] });
    let t: rnn.SymbolicTensor = inp;
    for (const l of layers) t = (l as unknown as { apply(x: rnn.SymbolicTensor): rnn.SymbolicTensor }).apply(t);
    model = rnn.model({ inputs: inp, outputs: t });
  } else {
    model = rnn.sequential({ layers });
  }
  model.compile({ optimizer: rnn.optimizers.sgd({ learningRate: 1 }), loss });
  model.predict(xs.slice(0, 1)); // builds the layers
  const before = weights(layers);
  tableCalls = forwardCalls = 0;
  const h = await model.fit(xs, ys, { epochs: 1, batchSize: xs.length, shuffle: false });
  const pred = model.predict(xs).data as Float32Array;
  return { loss: h.history.loss![0]!, before, weights: weights(layers), pred, tableCalls, forwardCalls, layers };
}

function tokens(n: number, T: number, V: number, seed: number, pad = false): number[][] {
  const r = rnn.rng(seed);
  return Array.from({ length: n }, () => {
    const s = Array.from({ length: T }, () => 1 + r.int(V - 1));
    // Gaps (zeros inside a sequence), not only a padded tail: the rows must be regrouped.
    if (pad) for (let t = 0; t < T; t++) if (r.next() < 0.2) s[t] = 0;
    return s;
  });
}

const lmTargets = (xs: number[][], V: number): number[][] => xs.map((s) => s.map((v) => (v * 7 + 3) % V));

type Loss = 'sparseCategoricalCrossentropy' | 'binaryCrossentropy';
const cases: { name: string; build: Build; xs: number[][]; ys: number[][]; loss: Loss; table: boolean }[] = [];

/** A char-model case: embedding (V -> E) -> `middle` -> Dense softmax over `out` classes per step. */
function lmCase(name: string, V: number, E: number, xs: number[][], middle: () => rnn.Layer[], seed: number, table = true, out = V): void {
  cases.push({
    name, xs, ys: lmTargets(xs, out), loss: 'sparseCategoricalCrossentropy', table,
    build: () => [
      rnn.layers.embedding({ inputDim: V, outputDim: E, seed }),
      ...middle(),
      rnn.layers.dense({ units: out, activation: 'softmax', seed: seed + 1 }),
    ],
  });
}

// Small vocabulary: the whole embedding matrix is the table (V = 11 <= 3/4 of 8·6 rows).
lmCase('char model, LSTM, small vocabulary', 11, 5, tokens(8, 6, 11, 1), () => [rnn.layers.lstm({ units: 7, returnSequences: true, seed: 2 })], 1);
{
  // Large vocabulary, few distinct tokens: their rows; masked gaps; both directions; stacked.
  const V = 500, r = rnn.rng(5);
  const pool = Array.from({ length: 9 }, () => 1 + r.int(V - 1));
  const xs = tokens(6, 7, 10, 2, true).map((s) => s.map((v) => (v === 0 ? 0 : pool[v - 1]!)));
  const ys = xs.map((s) => [s.filter((v) => v > 250).length >= 3 ? 1 : 0]);
  cases.push({
    name: 'sentiment-like, bidirectional GRU + LSTM, maskZero with gaps, distinct rows of a large vocabulary', xs, ys, loss: 'binaryCrossentropy', table: true,
    build: () => [
      rnn.layers.embedding({ inputDim: V, outputDim: 6, maskZero: true, seed: 4 }),
      rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 5, returnSequences: true, seed: 5 }), mergeMode: 'concat' }),
      rnn.layers.lstm({ units: 4, seed: 6 }),
      rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 7 }),
    ],
  });
}
{
  // Rows 24 floats wide (copied a row at a time), 40 distinct tokens of a 300-word vocabulary
  // (numbered in vocabulary order by a pass over the vocabulary).
  const r = rnn.rng(8);
  const pool = Array.from({ length: 40 }, () => r.int(300));
  lmCase('distinct rows 24 wide of a 300-word vocabulary', 300, 24, tokens(6, 12, 40, 7).map((s) => s.map((v) => pool[v]!)), () => [
    rnn.layers.lstm({ units: 5, returnSequences: true, seed: 24 }),
  ], 23, true, 9);
}
lmCase('SimpleRNN with goBackwards, sum-merged bidirectional after it', 13, 4, tokens(5, 8, 13, 3), () => [
  rnn.layers.simpleRNN({ units: 6, returnSequences: true, goBackwards: true, seed: 9 }),
  rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 3, returnSequences: true, seed: 10 }), mergeMode: 'sum' }),
], 8);
// Recurrent dropout: the layer's loop runs on the reference kernels (the composed path with
// table rows); the masks come from the layer's own seeded generator, the same in both models.
lmCase('GRU with recurrentDropout (composed path)', 10, 4, tokens(6, 6, 10, 5), () => [
  rnn.layers.gru({ units: 5, returnSequences: true, recurrentDropout: 0.3, seed: 19 }),
], 18);
// Every token distinct in a large vocabulary: more table rows than 3/4 of the rows -> forward.
lmCase('many distinct tokens: the layers run one by one', 1000, 4,
  Array.from({ length: 4 }, (_, b) => Array.from({ length: 5 }, (_, t) => 1 + b * 5 + t)),
  () => [rnn.layers.gru({ units: 5, returnSequences: true, seed: 13 })], 12, false, 7);
// Input dropout (one mask per sequence): rows are (sequence, token) pairs, each computed once —
// long sequences over few tokens, so the pairs pay.
lmCase('input dropout: (sequence, token) pairs', 5, 4, tokens(4, 12, 5, 4), () => [
  rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 5, returnSequences: true, dropout: 0.3, goBackwards: true, seed: 16 }), mergeMode: 'concat' }),
], 15);
{
  // Input dropout where every sequence's tokens are distinct: the pairs would be every row, so
  // the rows are spelled out from the table (and their gradient summed per token).
  const r = rnn.rng(6);
  const xs = Array.from({ length: 6 }, () => { const s = [1, 2, 3, 4, 5]; for (let i = 4; i > 0; i--) { const j = r.int(i + 1); [s[i], s[j]] = [s[j]!, s[i]!]; } return s; });
  lmCase('input dropout, all tokens of a sequence distinct: rows spelled out', 8, 4, xs, () => [
    rnn.layers.gru({ units: 5, returnSequences: true, dropout: 0.4, seed: 22 }),
  ], 21);
}

for (const c of cases) {
  test(`embedding + recurrent layer as one step: ${c.name}`, async () => {
    const ref = await run(c.build, 'one by one', c.xs, c.ys, c.loss);
    assert.equal(ref.tableCalls, 0);
    for (const mode of ['sequential', 'graph'] as const) {
      const got = await run(c.build, mode, c.xs, c.ys, c.loss);
      // The table path where it should be taken (fit: one training forward, then predict).
      const expectTable = c.table ? 2 : 0;
      assert.equal(got.tableCalls, expectTable, `${mode}: table-row steps`);
      assert.equal(got.forwardCalls, 2 - expectTable, `${mode}: embedding forwards`);
      assert.deepEqual(got.before, ref.before, `${mode}: both models start from the same weights`);
      assert.ok(Math.abs(got.loss - ref.loss) <= 1e-5 * Math.abs(ref.loss), `${mode}: loss ${got.loss} vs ${ref.loss}`);
      // After one SGD step with learning rate 1 the weights differ by the gradients.
      assertClose(got.weights, ref.weights, 2e-5, 1e-4, `${mode}: weights after one step`);
      // Every layer's weights moved (no gradient lost).
      let at = 0;
      for (const l of got.layers) {
        const n = l.params?.size ?? 0;
        let moved = 0;
        for (let i = at; i < at + n; i++) if (got.weights[i] !== got.before[i]) moved++;
        if (n > 0) assert.ok(moved > 0, `${mode}: ${l.name}: no weight moved`);
        at += n;
      }
      assertClose(got.pred, ref.pred, 2e-5, 1e-4, `${mode}: predictions`);
    }
  });
}

test('embedding + recurrent layer as one step in a functional encoder-decoder: initial states from the encoder, gradients through them', async () => {
  const V = 7, B = 6, T = 5, r = rnn.rng(9);
  const seqs = (): number[][] => Array.from({ length: B }, () => Array.from({ length: T }, () => 1 + r.int(V - 1)));
  const src = seqs(), dec = seqs(), out = seqs();
  const build = (oneByOne: boolean) => {
    const s = rnn.input({ shape: [null] }), t = rnn.input({ shape: [null] });
    const embS = rnn.layers.embedding({ inputDim: V, outputDim: 4, seed: 1 }), embT = rnn.layers.embedding({ inputDim: V, outputDim: 4, seed: 2 });
    const lin = (x: rnn.SymbolicTensor): rnn.SymbolicTensor => (oneByOne ? rnn.layers.activation({ activation: 'linear' }).apply(x) as rnn.SymbolicTensor : x);
    const [, h, c] = rnn.layers.lstm({ units: 5, returnState: true, seed: 3 }).apply(lin(embS.apply(s))) as rnn.SymbolicTensor[];
    const y = rnn.layers.lstm({ units: 5, returnSequences: true, seed: 4 }).apply(lin(embT.apply(t)), { initialState: [h!, c!] }) as rnn.SymbolicTensor;
    const m = rnn.model({ inputs: [s, t], outputs: rnn.layers.dense({ units: V, activation: 'softmax', seed: 5 }).apply(y) });
    m.compile({ optimizer: rnn.optimizers.sgd({ learningRate: 1 }), loss: 'sparseCategoricalCrossentropy' });
    let tableCalls = 0;
    for (const e of [embS, embT]) { const f = e.tableRows.bind(e); e.tableRows = (x) => { const tr = f(x); if (tr) tableCalls++; return tr; }; }
    return { m, calls: () => tableCalls, enc: embS };
  };
  const a = build(false), b = build(true);
  const ha = await a.m.fit([src, dec], out, { epochs: 1, batchSize: B, shuffle: false });
  const hb = await b.m.fit([src, dec], out, { epochs: 1, batchSize: B, shuffle: false });
  assert.equal(a.calls(), 2, 'both embeddings ran as table rows');
  assert.equal(b.calls(), 0);
  assert.ok(Math.abs(ha.history.loss![0]! - hb.history.loss![0]!) <= 1e-5 * hb.history.loss![0]!);
  const wa = weights(a.m.allLayers()), wb = weights(b.m.allLayers());
  assertClose(wa, wb, 2e-5, 1e-4, 'weights after one step');
  // The encoder's embedding learns only through the decoder's initial states.
  const e0 = a.enc.params.value('embeddings'), e1 = rnn.layers.embedding({ inputDim: V, outputDim: 4, seed: 1 }).params.value('embeddings');
  assert.ok(e0.some((v, i) => v !== e1[i]), 'the encoder embedding moved');
});

test('embedding + recurrent layer: empty sequences (T = 0) still predict, and the layer takes an empty table', () => {
  const m = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 20, outputDim: 4 }),
    rnn.layers.lstm({ units: 3, returnSequences: true }),
    rnn.layers.dense({ units: 5, activation: 'softmax' }),
  ] });
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  assert.deepEqual(m.predict(new rnn.Tensor(new Float32Array(0), [3, 0])).shape, [3, 0, 5]);
  const gru = new rnn.GRU({ inputSize: 4, hiddenSize: 3, batchFirst: true });
  const r = gru.forward(new rnn.Tensor(new Float32Array(0), [0, 4]), { rows: { ids: new Int32Array(0), shape: [2, 0] } });
  assert.deepEqual(r.output.shape, [2, 0, 3]);
  assert.deepEqual(Array.from(r.hN.data), [0, 0, 0, 0, 0, 0]);
  assert.deepEqual(gru.backward(null).dx.shape, [0, 4]);
});
