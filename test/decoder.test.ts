// Incremental decoding (src/models/decoder.ts): the key/value cache of causal self-attention
// (multiHeadAttention, and the attention layer's cache of steps),
// positions that continue across calls, and stateful recurrent layers, checked against `predict`
// over the whole sequence; the causal rule for fewer queries than keys in the attention
// arithmetic; charrnn's sampling from the cache; the layers a decoder refuses, by name.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { transformerCharModel, sample } from '../src/apps/charrnn.js';
import { CharVocab } from '../src/data/vocab.js';
import { attentionForward, type AttentionArgs } from '../src/kernels/attention-ops.js';
import { referenceBackend } from '../src/kernels/index.js';
import { ThreadedWasmBackend } from '../src/kernels/wasm/threaded.js';
import { assertClose, randomArray } from './helpers.js';

const V = 11;
/** B rows of T token ids in [1, V) (no padding id 0). */
const tokenRows = (B: number, T: number, salt = 0): number[][] =>
  Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => 1 + ((b * 7 + t * 3 + ((t * t + salt) % 5)) % (V - 1))));

/**
 * Feeds rows in chunks of `chunks` steps through a fresh decoder and checks every output row
 * against predict on the whole rows (atol 0: the same bits). Then again with { last: true }: each
 * call's one output row per batch row is predict's at the chunk's last step — and the steps after
 * it show that the chunk's every step went into the caches and states.
 */
function checkDecoder(model: rnn.Model, rows: number[][], chunks: number[], atol: number, what: string, opts?: rnn.IncrementalDecoderOptions, source?: number[][]): void {
  const B = rows.length, T = rows[0]!.length;
  assert.equal(chunks.reduce((a, b) => a + b, 0), T);
  model.resetStates();
  const full = model.predict(source ? [source, rows] : rows).data, U = full.length / (B * T);
  for (const last of [false, true]) {
    const dec = rnn.incrementalDecoder(model, opts);
    if (source) dec.reset(source);
    let t0 = 0;
    for (const n of chunks) {
      const out = dec.step(rows.map((r) => r.slice(t0, t0 + n)), { last });
      const k = last ? 1 : n, at = `${what}${last ? ' (last)' : ''}`;
      assert.deepEqual(out.shape, [B, k, U], `${at}: shape at step ${t0}`);
      for (let b = 0; b < B; b++) {
        const want = full.subarray((b * T + t0 + n - k) * U, (b * T + t0 + n) * U);
        assertClose(out.data.subarray(b * k * U, (b + 1) * k * U), want, atol, 0, `${at}: batch row ${b}, steps ${t0 + n - k}..${t0 + n - 1}`);
      }
      t0 += n;
      assert.equal(dec.position, t0);
    }
  }
}

/** Runs f on the float32 reference backend (plain TypeScript: the same arithmetic either way). */
function onReference(f: () => void): void {
  const prev = rnn.getBackend();
  rnn.setBackend(referenceBackend);
  try { f(); } finally { rnn.setBackend(prev); }
}

test('causal attention with fewer queries than keys: the queries are the last steps, each sees the keys up to its own (float64)', () => {
  const B = 2, T = 6, n = 2, D = 3;
  const q = randomArray(B * T * D, 1), k = randomArray(B * T * D, 2), v = randomArray(B * T * D, 3);
  const args = (Tq: number, qq: Float64Array): AttentionArgs => ({ score: 'scaledDot', B, Tq, Tv: T, Dq: D, Dk: D, Dv: D, q: qq, k, v, keyMask: null, causal: true });
  const yFull = new Float64Array(B * T * D);
  const wFull = attentionForward(referenceBackend, args(T, q as Float64Array), yFull).a;
  const qLast = new Float64Array(B * n * D);
  for (let b = 0; b < B; b++) qLast.set(q.subarray((b * T + T - n) * D, (b * T + T) * D), b * n * D);
  const y = new Float64Array(B * n * D), w = attentionForward(referenceBackend, args(n, qLast), y).a;
  for (let b = 0; b < B; b++) {
    assert.deepEqual(Array.from(y.subarray(b * n * D, (b + 1) * n * D)), Array.from(yFull.subarray((b * T + T - n) * D, (b * T + T) * D)), `batch row ${b}: outputs`);
    // The first of the two queries (step T - 2) gives the last key weight 0.
    assert.equal(w[(b * n) * T + T - 1], 0);
    assert.ok(w[(b * n + 1) * T + T - 1]! > 0);
    assert.deepEqual(Array.from(w.subarray(b * n * T, (b + 1) * n * T)), Array.from(wFull.subarray((b * T + T - n) * T, (b * T + T) * T)));
  }
});

test('a Transformer decoder (pre-norm blocks, sine positions) run a few steps at a time gives predict\'s outputs for those steps: the same bits on the reference backend, to 1e-6 on WebAssembly', () => {
  const { model } = transformerCharModel(V, { hidden: 32, layers: 2, heads: 4, dropout: 0, seed: 3 });
  const rows = tokenRows(2, 20);
  model.predict(rows); // built
  onReference(() => checkDecoder(model, rows, [7, 1, 1, 5, 6], 0, 'reference'));
  checkDecoder(model, rows, [7, 1, 1, 5, 6], 1e-6, rnn.backendName());
  // The cache grows past the room it started with.
  checkDecoder(model, rows, [3, 3, 3, 3, 3, 3, 2], 1e-6, 'capacity 4', { capacity: 4 });
  // One step at a time from the first.
  checkDecoder(model, rows.map((r) => r.slice(0, 9)), Array(9).fill(1), 1e-6, 'single steps');
});

test('a decoder with learned positions, attention without biases (valueDim, outputDim of its own), a stateful LSTM, Concatenate and Activation gives predict\'s outputs', () => {
  const x = rnn.input({ shape: [null] });
  const e = rnn.layers.embedding({ inputDim: V, outputDim: 12, seed: 1 }).apply(x) as rnn.SymbolicTensor;
  const h = rnn.layers.lstm({ units: 8, returnSequences: true, stateful: true, seed: 2 }).apply(e) as rnn.SymbolicTensor;
  const p = rnn.layers.positionEncoding({ kind: 'learned', maxLength: 24, seed: 3 }).apply(h);
  const a = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 5, valueDim: 3, outputDim: 6, useBias: false, causal: true, seed: 4 }).apply([p, p]);
  const c = rnn.layers.concatenate().apply([a, h]) as rnn.SymbolicTensor;
  const y = rnn.layers.activation({ activation: 'softmax' }).apply(rnn.layers.dense({ units: V, seed: 5 }).apply(c) as rnn.SymbolicTensor);
  const model = rnn.model({ inputs: x, outputs: y as rnn.SymbolicTensor });
  const rows = tokenRows(3, 16, 2);
  model.predict(rows);
  // The learned table's rows are random: a position read at the wrong offset shows.
  onReference(() => checkDecoder(model, rows, [5, 1, 4, 6], 0, 'reference'));
  checkDecoder(model, rows, [5, 1, 4, 6], 1e-6, rnn.backendName());
  // Positions beyond the table: refused with the layer's name.
  const dec = rnn.incrementalDecoder(model);
  dec.step(tokenRows(1, 20));
  assert.throws(() => dec.step(tokenRows(1, 5)), /position_encoding.*steps up to 25 are more than maxLength 24/);
});

test('causal self-attention of the attention layer (dot, scaledDot, additive) decodes from its cache of steps as predict runs it; selectRows carries the cache', () => {
  for (const score of ['dot', 'scaledDot', 'additive'] as const) {
    const x = rnn.input({ shape: [null] });
    const e = rnn.layers.embedding({ inputDim: V, outputDim: 6, seed: 1 }).apply(x) as rnn.SymbolicTensor;
    const h = rnn.layers.gru({ units: 6, returnSequences: true, seed: 2 }).apply(e) as rnn.SymbolicTensor;
    const a = rnn.layers.attention({ score, causal: true, seed: 3, name: 'self_att' }).apply([h, h]) as rnn.SymbolicTensor;
    const c = rnn.layers.concatenate().apply([a, h]) as rnn.SymbolicTensor;
    const model = rnn.model({ inputs: x, outputs: rnn.layers.dense({ units: V, activation: 'softmax', seed: 4 }).apply(c) as rnn.SymbolicTensor });
    const rows = tokenRows(3, 14, 1);
    model.predict(rows);
    onReference(() => checkDecoder(model, rows, [4, 1, 1, 5, 3], 0, `${score}, reference`));
    checkDecoder(model, rows, [4, 1, 1, 5, 3], 1e-6, `${score}, ${rnn.backendName()}`, { capacity: 2 });
    // Rows reordered and repeated mid-sequence go on as those rows: against predict on the rows so picked.
    const dec = rnn.incrementalDecoder(model);
    dec.step(rows.map((r) => r.slice(0, 6)));
    const pick = [2, 0, 2];
    dec.selectRows(pick);
    const out = dec.step(pick.map((i) => rows[i]!.slice(6, 9))).data;
    const full = model.predict(pick.map((i) => rows[i]!.slice(0, 9))).data;
    for (let b = 0; b < 3; b++) {
      assertClose(out.subarray(b * 3 * V, (b + 1) * 3 * V), full.subarray((b * 9 + 6) * V, (b * 9 + 9) * V), 1e-6, 0, `${score}: picked row ${b}`);
    }
  }
});

test('float sequences through a Masking layer decode a step at a time as predict runs them (a masked step leaves the state as it is, and outputs what predict does there)', () => {
  const model = rnn.sequential({ layers: [
    rnn.layers.masking({ maskValue: 0 }),
    rnn.layers.lstm({ units: 5, returnSequences: true, seed: 1 }),
    rnn.layers.dense({ units: 2, seed: 2 }),
  ] });
  const B = 2, T = 7, F = 3, data = Float32Array.from(randomArray(B * T * F, 4));
  data.fill(0, (0 * T + 3) * F, (0 * T + 4) * F); // step 3 of row 0: all features 0, masked
  const x = { data, shape: [B, T, F] }, full = model.predict(x).data, U = 2;
  const dec = rnn.incrementalDecoder(model);
  let t0 = 0;
  for (const n of [2, 1, 1, 3]) {
    const part = new Float32Array(B * n * F);
    for (let b = 0; b < B; b++) part.set(data.subarray((b * T + t0) * F, (b * T + t0 + n) * F), b * n * F);
    const out = dec.step({ data: part, shape: [B, n, F] }).data;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < n; t++) {
        assertClose(out.subarray((b * n + t) * U, (b * n + t + 1) * U), full.subarray((b * T + t0 + t) * U, (b * T + t0 + t + 1) * U), 1e-6, 0, `row ${b} step ${t0 + t}`);
      }
    }
    t0 += n;
  }
});

test('a Sequential of per-step layers and a stateful GRU decodes a step at a time as predict runs the whole sequence (with last: the positions after the GRU at the last step\'s)', () => {
  const model = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: V, outputDim: 6, seed: 1 }),
    rnn.layers.gru({ units: 8, returnSequences: true, stateful: true, seed: 2 }),
    rnn.layers.positionEncoding(),
    rnn.layers.layerNormalization(),
    rnn.layers.dense({ units: V, activation: 'softmax', seed: 3 }),
  ] });
  const rows = tokenRows(2, 12, 1);
  model.predict(rows);
  onReference(() => checkDecoder(model, rows, [4, 1, 1, 6], 0, 'sequential, reference'));
  checkDecoder(model, rows, [4, 1, 1, 6], 1e-6, 'sequential');
});

/** Ragged source rows: ids in [1, V), lengths 3..9 (padded with 0 and masked). */
const sources = (B: number, seed: number): number[][] => {
  const r = rnn.rng(seed);
  return Array.from({ length: B }, () => Array.from({ length: 3 + r.int(7) }, () => 1 + r.int(V - 1)));
};

/** An encoder-decoder in the shapes of examples/attention.ts: recurrent encoder whose final state starts the recurrent decoder, with an attention head. */
function seq2seq(cell: 'gru' | 'lstm', head: 'none' | 'additive' | 'multiHead'): rnn.GraphModel {
  const src = rnn.input({ shape: [null], name: 'source' }), tgt = rnn.input({ shape: [null], name: 'target' });
  const rec = (o: Record<string, unknown>) => (cell === 'gru' ? rnn.layers.gru(o as never) : rnn.layers.lstm(o as never));
  const [enc, ...states] = rec({ units: 12, returnSequences: true, returnState: true, seed: 1 })
    .apply(rnn.layers.embedding({ inputDim: V, outputDim: 8, maskZero: true, seed: 2 }).apply(src)) as rnn.SymbolicTensor[];
  const dec = rec({ units: 12, returnSequences: true, seed: 3 })
    .apply(rnn.layers.embedding({ inputDim: V, outputDim: 8, seed: 4 }).apply(tgt), { initialState: states }) as rnn.SymbolicTensor;
  let features: rnn.SymbolicTensor = dec;
  if (head === 'additive') features = rnn.layers.concatenate().apply([dec, rnn.layers.attention({ score: 'additive', units: 10, seed: 5 }).apply([dec, enc!])]) as rnn.SymbolicTensor;
  if (head === 'multiHead') {
    // A Transformer decoder block's two attentions: causal self-attention over the target, then cross-attention to the source.
    const self = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 6, causal: true, seed: 6 }).apply([dec, dec]);
    const x = rnn.layers.layerNormalization().apply(rnn.layers.add().apply([dec, self]) as rnn.SymbolicTensor);
    features = rnn.layers.add().apply([x, rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 6, seed: 7 }).apply([x, enc!])]) as rnn.SymbolicTensor;
  }
  const y = rnn.layers.dense({ units: V, activation: 'softmax', seed: 8 }).apply(features) as rnn.SymbolicTensor;
  return rnn.model({ inputs: [src, tgt], outputs: y });
}

test('an encoder-decoder (source given once to reset: the encoder runs once, its states start the decoder, its outputs are attended to) decodes a step at a time as predict runs it whole', () => {
  const src = sources(3, 5), tgt = tokenRows(3, 8, 1);
  for (const [cell, head] of [['gru', 'none'], ['lstm', 'none'], ['gru', 'additive'], ['lstm', 'multiHead']] as const) {
    const model = seq2seq(cell, head), what = `${cell} + ${head}`;
    model.predict([src, tgt]);
    onReference(() => checkDecoder(model, tgt, [1, 1, 3, 1, 2], 0, `${what} reference`, undefined, src));
    checkDecoder(model, tgt, Array(8).fill(1), 1e-6, what, undefined, src);
    checkDecoder(model, tgt, [8], 1e-6, `${what}, all at once`, undefined, src);
  }
  // A second sequence after reset: the encoder runs again on the new source, the decoder starts over.
  const model = seq2seq('gru', 'additive'), dec = rnn.incrementalDecoder(model, { stepInput: 'target' });
  const src2 = sources(2, 9), tgt2 = tokenRows(2, 4, 3);
  model.predict([src2, tgt2]);
  dec.reset(src); dec.step(tgt.map((r) => r.slice(0, 3)));
  dec.reset(src2);
  const want = model.predict([src2, tgt2]).data, got = dec.step(tgt2).data;
  assertClose(got, want, 1e-6, 0, 'after a reset with another source');
  assert.throws(() => rnn.incrementalDecoder(model).step(tgt2), /also reads 'source': give it to reset\(\.\.\.\) first/);
  assert.throws(() => rnn.incrementalDecoder(model, { stepInput: 'nope' }), /stepInput "nope" is not one of .*source, target/);
  assert.throws(() => rnn.incrementalDecoder(model, { stepInput: 0 }), /the output of .* does not depend on its input 'source'|cannot decode incrementally/);
});

test('two decoders of one model, and predict calls between their steps: every step gives predict\'s outputs (the steps\' layers write buffers of their own, read within the call; the encoder\'s outputs, computed once, are kept apart)', () => {
  // An encoder computed once (Embedding, Dense) that a Transformer decoder block attends to.
  const src = rnn.input({ shape: [null], name: 'source' }), tgt = rnn.input({ shape: [null], name: 'target' });
  const enc = rnn.layers.dense({ units: 12, activation: 'tanh', seed: 1 })
    .apply(rnn.layers.embedding({ inputDim: V, outputDim: 12, seed: 2 }).apply(src) as rnn.SymbolicTensor) as rnn.SymbolicTensor;
  const x0 = rnn.layers.positionEncoding().apply(rnn.layers.embedding({ inputDim: V, outputDim: 12, seed: 3 }).apply(tgt) as rnn.SymbolicTensor) as rnn.SymbolicTensor;
  const x1 = rnn.layers.add().apply([x0, rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 6, causal: true, seed: 4 }).apply([x0, x0]) as rnn.SymbolicTensor]) as rnn.SymbolicTensor;
  const x2 = rnn.layers.add().apply([x1, rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 6, seed: 5 }).apply([x1, enc]) as rnn.SymbolicTensor]) as rnn.SymbolicTensor;
  const h = rnn.layers.dense({ units: 48, activation: 'relu', seed: 6 }).apply(rnn.layers.layerNormalization().apply(x2) as rnn.SymbolicTensor) as rnn.SymbolicTensor;
  const y = rnn.layers.dense({ units: V, activation: 'softmax', seed: 7 }).apply(rnn.layers.add().apply([x2, rnn.layers.dense({ units: 12, seed: 8 }).apply(h) as rnn.SymbolicTensor]) as rnn.SymbolicTensor) as rnn.SymbolicTensor;
  const model = rnn.model({ inputs: [src, tgt], outputs: y });
  const B = 2, T = 6;
  const srcA = tokenRows(B, 5, 1), tgtA = tokenRows(B, T, 2), srcB = tokenRows(B, 7, 3), tgtB = tokenRows(B, T, 4);
  const wantA = model.predict([srcA, tgtA]).data, wantB = model.predict([srcB, tgtB]).data;
  const a = rnn.incrementalDecoder(model), b = rnn.incrementalDecoder(model);
  a.reset(srcA);
  b.reset(srcB);
  const check = (got: Float32Array, want: Float32Array, t: number, what: string): void => {
    for (let r = 0; r < B; r++) assertClose(got.subarray(r * V, (r + 1) * V), want.subarray((r * T + t) * V, (r * T + t + 1) * V), 1e-6, 0, `${what}: row ${r}, step ${t}`);
  };
  for (let t = 0; t < T; t++) {
    const ya = a.step(tgtA.map((r) => r.slice(t, t + 1))).data;
    model.predict([tokenRows(B, 4, 5 + t), tokenRows(B, 3, 9 + t)]); // every layer runs on other rows
    const yb = b.step(tgtB.map((r) => r.slice(t, t + 1))).data;
    check(ya, wantA, t, 'first decoder');
    check(yb, wantB, t, 'second decoder');
  }
});

test('a decoder keeps its key/value caches in the two-thread backend\'s memory (activation buffers, read there by the attention products) and gives their blocks back as they grow and at each reset', () => {
  const be = ThreadedWasmBackend.createSync({ timeoutMs: 20_000 }), prev = rnn.getBackend();
  rnn.setBackend(be);
  try {
    const { model } = transformerCharModel(V, { hidden: 32, layers: 2, heads: 4, dropout: 0, seed: 3 });
    const ids = tokenRows(1, 12)[0]!, want = model.predict([ids]).data;
    // Count the backend's live activation buffers (the layers' own slots settle after a call or two).
    const arrays = new Set<Float32Array>();
    let made = 0;
    const alloc = be.activationBuffer!, release = be.releaseActivation.bind(be);
    (be as { activationBuffer: (n: number) => Float32Array }).activationBuffer = (n) => { const a = alloc(n); arrays.add(a); made++; return a; };
    be.releaseActivation = (a) => { arrays.delete(a); release(a); };
    const dec = rnn.incrementalDecoder(model, { capacity: 4 });
    const run = (): void => {
      dec.reset();
      ids.forEach((id, t) => assertClose(dec.step([[id]]).data, want.subarray(t * V, (t + 1) * V), 1e-6, 0, `step ${t}`));
    };
    run(); run();
    const live = arrays.size, before = made;
    for (let i = 0; i < 30; i++) run();
    // Per sequence each layer's keys and values grow 4 -> 8 -> 16 steps: 12 arrays, each given back.
    assert.ok(made - before >= 30 * 12, `the caches are activation buffers (${made - before} made in 30 sequences)`);
    assert.equal(arrays.size, live, 'as many live as after the second sequence');
  } finally {
    rnn.setBackend(prev);
    be.terminate();
  }
});

test('a recurrent layer that is not stateful carries its state across a decoder\'s calls all the same (and keeps its own mode)', () => {
  const model = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: V, outputDim: 6, seed: 1 }),
    rnn.layers.lstm({ units: 7, returnSequences: true, seed: 2 }),
    rnn.layers.dense({ units: V, activation: 'softmax', seed: 3 }),
  ] });
  const rows = tokenRows(2, 9, 4);
  model.predict(rows);
  checkDecoder(model, rows, [2, 1, 1, 5], 1e-6, 'non-stateful LSTM');
  // predict still starts each call from zeros.
  assert.deepEqual(model.predict(rows).data, model.predict(rows).data);
});

/** Σ log p of each continuation (after `start`) under predict, batched: the brute force beam search is checked against. */
function logProbs(model: rnn.Model, start: number, seqs: number[][], source?: number[]): number[] {
  const inputs = seqs.map((s) => [start, ...s.slice(0, -1)]);
  const p = model.predict(source ? [seqs.map(() => source), inputs] : inputs, { batchSize: 512 }).data;
  const L = seqs[0]!.length, Vo = p.length / (seqs.length * L);
  return seqs.map((s, i) => s.reduce((acc, v, t) => acc + Math.log(p[(i * L + t) * Vo + v]!), 0));
}

/** Every sequence of length L over the ids 1 … V-1. */
function allSequences(L: number): number[][] {
  let out: number[][] = [[]];
  for (let t = 0; t < L; t++) out = out.flatMap((s) => Array.from({ length: V - 1 }, (_, v) => [...s, v + 1]));
  return out;
}

test('beam search: width 1 is greedy decoding; a beam as wide as every sequence finds the likeliest (brute force under predict); selectRows carries caches and states', () => {
  const { model } = transformerCharModel(V, { hidden: 16, layers: 2, heads: 2, dropout: 0, seed: 9 });
  model.predict([[1, 2]]);
  const L = 3, dec = rnn.incrementalDecoder(model);
  // Greedy by hand.
  const greedy: number[] = [];
  let lp = 0, last = 1;
  for (let t = 0; t < L; t++) {
    const p = dec.step([[last]]).data;
    let best = 1;
    for (let v = 2; v < V; v++) if (p[v]! > p[best]!) best = v;
    lp += Math.log(p[best]!);
    greedy.push(best);
    last = best;
  }
  dec.reset();
  const [g] = rnn.beamSearch(dec, { start: 1, maxLength: L, beamWidth: 1, exclude: [0] });
  assert.deepEqual(g![0]!.ids, greedy);
  assert.ok(Math.abs(g![0]!.logProb - lp) < 1e-9);
  // Every one of the 1,000 sequences of 3 ids in 1 … 10, scored by predict.
  const seqs = allSequences(L), scores = logProbs(model, 1, seqs);
  const order = scores.map((x, i) => [x, i] as const).sort((a, b) => b[0] - a[0]);
  dec.reset();
  const [wide] = rnn.beamSearch(dec, { start: 1, maxLength: L, beamWidth: seqs.length, exclude: [0] });
  assert.equal(wide!.length, seqs.length);
  for (let r = 0; r < 5; r++) {
    assert.deepEqual(wide![r]!.ids, seqs[order[r]![1]]!, `rank ${r}`);
    assert.ok(Math.abs(wide![r]!.logProb - order[r]![0]) < 1e-4, `rank ${r}: ${wide![r]!.logProb} vs ${order[r]![0]}`);
  }
  // A narrow beam finds something at least as likely as greedy, its scores are predict's.
  dec.reset();
  const [narrow] = rnn.beamSearch(dec, { start: 1, maxLength: L, beamWidth: 3, exclude: [0] });
  assert.equal(narrow!.length, 3);
  assert.ok(narrow![0]!.logProb >= g![0]!.logProb - 1e-9);
  const check = logProbs(model, 1, narrow!.map((h) => h.ids));
  narrow!.forEach((h, i) => assert.ok(Math.abs(h.logProb - check[i]!) < 1e-4, `hypothesis ${i}`));
});

test('beam search over an encoder-decoder: each source row gets its own beams (the same as searched alone), and an end id ends a sequence', () => {
  const model = seq2seq('lstm', 'additive'), src = sources(3, 11);
  model.predict([src, tokenRows(3, 2)]);
  const dec = rnn.incrementalDecoder(model);
  dec.reset(src);
  const all = rnn.beamSearch(dec, { start: 1, maxLength: 4, beamWidth: 3, exclude: [0] });
  assert.equal(all.length, 3);
  for (let r = 0; r < 3; r++) {
    dec.reset([src[r]!]);
    const [alone] = rnn.beamSearch(dec, { start: 1, maxLength: 4, beamWidth: 3, exclude: [0] });
    assert.deepEqual(all[r]!.map((h) => h.ids), alone!.map((h) => h.ids), `source row ${r}`);
    const check = logProbs(model, 1, all[r]!.map((h) => h.ids), src[r]!);
    all[r]!.forEach((h, i) => assert.ok(Math.abs(h.logProb - check[i]!) < 1e-4, `row ${r} hypothesis ${i}: ${h.logProb} vs ${check[i]}`));
  }
  // With an end id: finished sequences end with it, none is longer than maxLength, scores rank them.
  dec.reset(src);
  const ended = rnn.beamSearch(dec, { start: 1, end: 2, maxLength: 6, beamWidth: 4, exclude: [0], lengthPenalty: 1 });
  for (const row of ended) {
    assert.ok(row.length >= 1 && row.length <= 4);
    for (const h of row) {
      assert.ok(h.ids.length <= 6);
      assert.ok(h.ids.indexOf(2) === -1 || h.ids.indexOf(2) === h.ids.length - 1, `the end id only at the end: ${h.ids}`);
      assert.ok(Math.abs(h.score - h.logProb / h.ids.length) < 1e-12);
    }
    for (let i = 1; i < row.length; i++) assert.ok(row[i - 1]!.score >= row[i]!.score);
  }
  dec.reset(src);
  dec.step(tokenRows(3, 1));
  assert.throws(() => rnn.beamSearch(dec, { start: 1, maxLength: 3 }), /has run steps already; reset\(\) it/);
  assert.throws(() => dec.selectRows([0, 3]), /rows\[1\] = 3 is not a row of the batch of 3/);
  // Logits are not probabilities.
  const logits = rnn.sequential({ layers: [rnn.layers.embedding({ inputDim: V, outputDim: 4 }), rnn.layers.dense({ units: V, name: 'head' })] });
  logits.predict([[1]]);
  assert.throws(() => rnn.beamSearch(rnn.incrementalDecoder(logits), { start: 1, maxLength: 2 }), /must output probabilities over the ids \(a softmax\)/);
});

test('charrnn sampling from the cache writes what re-running the window writes while the window is not full, and goes on past it', () => {
  const text = 'the cat sat on the mat. the dog sat on the log. ';
  const vocab = CharVocab.build(text);
  const { model } = transformerCharModel(vocab.size, { hidden: 16, layers: 1, heads: 2, dropout: 0, seed: 1 });
  model.metadata = { app: 'charrnn', vocab: vocab.toJSON(), config: { cell: 'transformer', seq: 24 } };
  model.predict([[1, 2, 3]]);
  const opts = { length: 18, prime: 'the ', temperature: 0.8, seed: 4 };
  // prime (4) + 18 generated: the window of 24 is never full, the contexts are the same.
  const cached = sample(model, vocab, opts), whole = sample(model, vocab, { ...opts, cache: false });
  assert.equal(cached.length, 18);
  assert.equal(cached, whole);
  // Past the window the cache starts again from its last 18 characters: the text goes on in the vocabulary.
  const long = sample(model, vocab, { ...opts, length: 120 });
  assert.equal(long.length, 120);
  assert.ok([...long].every((c) => vocab.chars.includes(c)));
  assert.equal(long.slice(0, 18), cached);
});

test('a decoder refuses, by layer name, what cannot run a step at a time, and bad input', () => {
  const attn = (o: Partial<rnn.MultiHeadAttentionOptions>): rnn.Model => {
    const x = rnn.input({ shape: [null] });
    const e = rnn.layers.embedding({ inputDim: V, outputDim: 8, maskZero: true }).apply(x) as rnn.SymbolicTensor;
    return rnn.model({ inputs: x, outputs: rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 4, name: 'mha', ...o }).apply([e, e]) });
  };
  assert.throws(() => rnn.incrementalDecoder(attn({ causal: false })), /mha.*cannot decode incrementally: its attention is not causal/);
  const x = rnn.input({ shape: [null] });
  const e1 = rnn.layers.embedding({ inputDim: V, outputDim: 8 }).apply(x) as rnn.SymbolicTensor, e2 = rnn.layers.dense({ units: 8 }).apply(e1) as rnn.SymbolicTensor;
  const cross = rnn.model({ inputs: x, outputs: rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 4, causal: true, name: 'cross' }).apply([e1, e2]) });
  assert.throws(() => rnn.incrementalDecoder(cross), /cross.*queries, keys and values are different stepped tensors/);
  // Two inputs: the source computed once, the target stepped.
  const srcIn = rnn.input({ shape: [null], name: 'src' }), tgtIn = rnn.input({ shape: [null], name: 'tgt' });
  const es = rnn.layers.embedding({ inputDim: V, outputDim: 8 }).apply(srcIn) as rnn.SymbolicTensor, et = rnn.layers.embedding({ inputDim: V, outputDim: 8 }).apply(tgtIn) as rnn.SymbolicTensor;
  const twoInputs = (out: rnn.SymbolicTensor): rnn.GraphModel => rnn.model({ inputs: [srcIn, tgtIn], outputs: out });
  assert.throws(() => rnn.incrementalDecoder(twoInputs(rnn.layers.attention({ causal: true, name: 'causal_cross' }).apply([et, es]) as rnn.SymbolicTensor)), /causal_cross.*causal attention over a sequence computed once/);
  assert.throws(() => rnn.incrementalDecoder(twoInputs(rnn.layers.add({ name: 'mix' }).apply([et, es]) as rnn.SymbolicTensor)), /mix.*combines the stepped sequence with tensors computed once/);
  assert.throws(() => rnn.incrementalDecoder(twoInputs(rnn.layers.attention({ name: 'self_att' }).apply([et, et]) as rnn.SymbolicTensor)), /self_att.*its attention is not causal/);
  const seq = (l: rnn.Layer): rnn.Sequential => rnn.sequential({ layers: [rnn.layers.embedding({ inputDim: V, outputDim: 4 }), l] });
  assert.throws(() => rnn.incrementalDecoder(seq(rnn.layers.lstm({ units: 4, name: 'lstm_x' }))), /lstm_x.*must return the whole sequence/);
  assert.throws(() => rnn.incrementalDecoder(seq(rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 4, returnSequences: true, stateful: true }), name: 'bi' }))), /bi.*reads the sequence backwards/);
  assert.throws(() => rnn.incrementalDecoder(seq(rnn.layers.globalAveragePooling1d({ name: 'gap' }))), /gap.*GlobalAveragePooling1D looks across steps/);
  const unbuilt = seq(rnn.layers.dense({ units: 3 }));
  assert.throws(() => rnn.incrementalDecoder(unbuilt).step([[1, 2]]), /not built; predict or fit once first/);
  const m = attn({ causal: true });
  const dec = rnn.incrementalDecoder(m);
  assert.throws(() => dec.step([[1, 0, 2]]), /embedding.*id 0 is padding \(maskZero\)/);
  dec.reset();
  dec.step([[1, 2], [3, 4]]);
  assert.throws(() => dec.step([[5]]), /batch 1, but this sequence started with batch 2/);
  assert.throws(() => dec.step([[1], [2, 3]]), /ragged rows/);
  assert.throws(() => dec.step([[1], [2]], { last: 1 as unknown as boolean }), /step: options.last must be true or false, got 1/);
  assert.throws(() => rnn.incrementalDecoder(m, { capacity: 0 }), /capacity must be a positive integer, got 0/);
});
