// exportOnnx against onnxruntime-node: every model below is exported, loaded by ONNX Runtime
// from the bytes, and run on the same inputs as model.predict; the outputs must agree to float32
// rounding. Weights are set to random values of magnitude ~0.5 (biases included), so that a
// wrong gate order, a missing bias or a wrong merge moves outputs by 1e-2 or more.
//
// The masks exercise what the exporter rebuilds with TopK/GatherElements: padding at the end,
// padding at the start, holes, an empty row and a full row. Tolerance as in onnx.test.ts
// (different summation orders and ORT's own sigmoid/tanh: a few ulps); the transformer, with
// softmax over more terms and LayerNorm, gets 5e-5.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import * as rnn from '../src/index.js';
import { exportOnnx, OnnxExportError, type OnnxExport } from '../src/export/onnx.js';
import { buildCharModel, DEFAULT_CHARRNN } from '../src/apps/charrnn.js';
import type { Model } from '../src/models/sequential.js';
import { saveModel } from '../src/models/node/model-io.js';
import { assertClose, randomArray } from './helpers.js';

const cli = (args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', ...args], { encoding: 'utf8' });

const { layers } = rnn;
const ATOL = 2e-5, RTOL = 1e-5;

/** Every parameter random in ±scale (so biases matter too). */
function randomize(m: Model, seed: number, scale = 0.5): void {
  m.params.set(randomArray(m.params.length, seed, scale, 'float32'));
}

async function runOrt(e: OnnxExport, feeds: Record<string, ort.Tensor>): Promise<Record<string, ort.Tensor>> {
  const session = await ort.InferenceSession.create(e.bytes);
  try {
    return await session.run(feeds);
  } finally {
    await session.release();
  }
}

const B = 6, T = 7, V = 13;
/** Token ids [B, T] with 0 = padding: end, start, holes, empty, full, end. */
const IDS = [
  [3, 5, 7, 1, 0, 0, 0],
  [0, 0, 0, 4, 2, 9, 12],
  [6, 0, 8, 0, 0, 11, 2],
  [0, 0, 0, 0, 0, 0, 0],
  [1, 2, 3, 4, 5, 6, 7],
  [12, 10, 0, 0, 0, 0, 0],
];
const idsTensor = (): rnn.Tensor => new rnn.Tensor(Float32Array.from(IDS.flat()), [B, T]);
const idsFeed = (): ort.Tensor => new ort.Tensor('int32', Int32Array.from(IDS.flat()), [B, T]);

async function agrees(m: Model, x: rnn.Tensor, feed: ort.Tensor, label: string, atol = ATOL): Promise<number> {
  m.resetStates();
  const want = m.predict(x, { batchSize: 64 });
  const e = exportOnnx(m);
  const got = (await runOrt(e, { [e.inputs[0]!.name]: feed })).output!;
  assert.deepEqual([...got.dims], want.shape, `${label}: output shape`);
  assertClose(want.data, got.data as Float32Array, atol, RTOL, label);
  let err = 0;
  for (let i = 0; i < want.data.length; i++) err = Math.max(err, Math.abs(want.data[i]! - (got.data as Float32Array)[i]!));
  return err;
}

type CellCase = { cell: 'SimpleRNN' | 'LSTM' | 'GRU'; extra: Partial<rnn.RecurrentLayerOptions>; label: string };
const CELLS: CellCase[] = [
  { cell: 'SimpleRNN', extra: {}, label: 'rnn-tanh' },
  { cell: 'SimpleRNN', extra: { activation: 'relu' }, label: 'rnn-relu' },
  { cell: 'LSTM', extra: {}, label: 'lstm' },
  { cell: 'GRU', extra: {}, label: 'gru' },
  { cell: 'GRU', extra: { resetAfter: false }, label: 'gru-resetBefore' },
  { cell: 'LSTM', extra: { recurrentActivation: 'hardSigmoid' }, label: 'lstm-hardSigmoid' },
  { cell: 'GRU', extra: { recurrentActivation: 'hardSigmoid' }, label: 'gru-hardSigmoid' },
  { cell: 'GRU', extra: { resetAfter: false, recurrentActivation: 'hardSigmoid' }, label: 'gru-resetBefore-hardSigmoid' },
];
const MERGES = [null, 'concat', 'sum', 'ave', 'mul'] as const;

let seed = 500;
for (const c of CELLS) {
  for (const merge of MERGES) {
    const s = (seed += 10);
    test(`exportOnnx: ${c.label} ${merge ?? 'one direction'}, masked ids, sequences and last state, forwards and backwards`, async (t) => {
      const errs: string[] = [];
      for (const returnSequences of [true, false]) {
        for (const goBackwards of [false, true]) {
          const cell = new rnn.RecurrentLayer(c.cell, { units: 5, returnSequences, goBackwards, ...c.extra });
          const model = rnn.sequential({
            inputShape: [null],
            layers: [
              layers.embedding({ inputDim: V, outputDim: 4, maskZero: true }),
              merge ? layers.bidirectional({ layer: cell, mergeMode: merge }) : cell,
              layers.dense({ units: 3, activation: 'softmax' }),
            ],
          });
          model.build([null]);
          randomize(model, s + (returnSequences ? 1 : 0) + (goBackwards ? 2 : 0));
          const label = `${c.label} ${merge} seq=${returnSequences} back=${goBackwards}`;
          errs.push(`${returnSequences ? 'seq' : 'last'}${goBackwards ? '/back' : ''} ${(await agrees(model, idsTensor(), idsFeed(), label)).toExponential(1)}`);
        }
      }
      t.diagnostic(`max |err|: ${errs.join(', ')}`);
    });
  }
}

test('exportOnnx: float inputs through three stacked layers (GRU, bidirectional LSTM, RNN) and a Dense per step', async () => {
  const F = 3;
  const model = rnn.sequential({
    inputShape: [T, F],
    layers: [
      layers.gru({ units: 6, returnSequences: true }),
      layers.bidirectional({ layer: layers.lstm({ units: 4, returnSequences: true }) }),
      layers.dropout({ rate: 0.3 }),
      layers.simpleRNN({ units: 5, returnSequences: true }),
      layers.dense({ units: 2 }),
    ],
  });
  model.build([T, F]);
  randomize(model, 77);
  const x = randomArray(B * T * F, 78, 1, 'float32') as Float32Array;
  const e = exportOnnx(model);
  assert.deepEqual(e.inputs, [{ name: 'input', type: 'float32', shape: ['batch', T, F] }]);
  await agrees(model, new rnn.Tensor(x, [B, T, F]), new ort.Tensor('float32', x, [B, T, F]), 'stacked');
});

test('exportOnnx: layers without biases (every cell, Dense)', async () => {
  const F = 3;
  const x = randomArray(B * T * F, 88, 1, 'float32') as Float32Array;
  for (const [cell, extra] of [['LSTM', {}], ['GRU', {}], ['GRU', { resetAfter: false }], ['SimpleRNN', {}]] as const) {
    const model = rnn.sequential({
      inputShape: [T, F],
      layers: [new rnn.RecurrentLayer(cell, { units: 4, returnSequences: true, useBias: false, ...extra }, 'concat'), layers.dense({ units: 2, useBias: false })],
    });
    model.build([T, F]);
    randomize(model, 89);
    await agrees(model, new rnn.Tensor(x, [B, T, F]), new ort.Tensor('float32', x, [B, T, F]), `${cell} ${JSON.stringify(extra)} without biases`);
  }
});

test('exportOnnx: every Dense activation', async () => {
  const F = 4;
  const acts = ['linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'softplus', 'elu', 'gelu', 'swish'] as const;
  const x = randomArray(B * F, 90, 2, 'float32') as Float32Array;
  for (const activation of acts) {
    const model = rnn.sequential({ inputShape: [F], layers: [layers.dense({ units: 5, activation }), layers.activation({ activation })] });
    model.build([F]);
    randomize(model, 91, 1.5);
    await agrees(model, new rnn.Tensor(x, [B, F]), new ort.Tensor('float32', x, [B, F]), activation);
  }
});

test('exportOnnx: the sentiment architecture (masked bidirectional LSTM, attention pooling, dropout, sigmoid)', async () => {
  const model = rnn.sequential({
    inputShape: [null],
    layers: [
      layers.embedding({ inputDim: V, outputDim: 8, maskZero: true }),
      layers.bidirectional({ layer: layers.lstm({ units: 6, returnSequences: true }) }),
      layers.attentionPooling({ units: 5 }),
      layers.dropout({ rate: 0.5 }),
      layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
  });
  model.build([null]);
  randomize(model, 31, 0.8);
  await agrees(model, idsTensor(), idsFeed(), 'sentiment');
});

test('exportOnnx: a charrnn model steps through a text with its states as inputs and outputs', async () => {
  const model = buildCharModel(V, { ...DEFAULT_CHARRNN, hidden: 8, embed: 5, layers: 2 });
  randomize(model, 41);
  model.metadata = { vocab: ['a', 'b'] };
  const ids = Array.from({ length: 2 * 9 }, (_, i) => 1 + ((i * 7) % (V - 1)));
  model.resetStates();
  const want = model.predict(new rnn.Tensor(Float32Array.from(ids), [2, 9]), { batchSize: 2 });
  const e = exportOnnx(model);
  const stateNames = e.inputs.slice(1).map((i) => i.name);
  const rec = model.allLayers().filter((l) => l instanceof rnn.RecurrentLayer).map((l) => l.name);
  assert.deepEqual(stateNames, rec.flatMap((n) => [`${n}/h_in`, `${n}/c_in`]));
  assert.deepEqual(e.outputs.map((o) => o.name), ['output', ...stateNames.map((n) => n.replace(/_in$/, '_out'))]);
  assert.ok(Buffer.from(e.bytes).includes(Buffer.from(JSON.stringify({ vocab: ['a', 'b'] }))), 'the metadata travels in metadata_props');
  const session = await ort.InferenceSession.create(e.bytes);
  let states: Record<string, ort.Tensor> = {};
  for (const n of stateNames) states[n] = new ort.Tensor('float32', new Float32Array(2 * 8), [1, 2, 8]);
  // Three chunks of 4, 4 and 1 characters: each chunk starts from the state the last one left.
  const got = new Float32Array(want.data.length);
  for (const [a, b] of [[0, 4], [4, 8], [8, 9]] as const) {
    const chunk = Int32Array.from([...ids.slice(a, b), ...ids.slice(9 + a, 9 + b)]);
    const r = await session.run({ input: new ort.Tensor('int32', chunk, [2, b - a]), ...states });
    const y = r.output!.data as Float32Array;
    for (let row = 0; row < 2; row++) got.set(y.subarray(row * (b - a) * V, (row + 1) * (b - a) * V), (row * 9 + a) * V);
    states = Object.fromEntries(stateNames.map((n) => [n, r[n.replace(/_in$/, '_out')]!]));
  }
  await session.release();
  assertClose(want.data, got, ATOL, RTOL, 'charrnn chunks');
});

test('exportOnnx: states in and out with masked ids: an empty row keeps the state it was given', async () => {
  for (const cell of ['LSTM', 'GRU'] as const) {
    for (const bidi of [false, true]) {
      const r = new rnn.RecurrentLayer(cell, { units: 5, returnSequences: true, stateful: true });
      const model = rnn.sequential({
        inputShape: [null],
        layers: [layers.embedding({ inputDim: V, outputDim: 4, maskZero: true }), bidi ? layers.bidirectional({ layer: r, mergeMode: 'sum' }) : r, layers.dense({ units: 3 })],
      });
      model.build([null]);
      randomize(model, 71);
      const first = Float32Array.from({ length: B * 3 }, (_, i) => 1 + (i % (V - 1)));
      model.resetStates();
      model.predict(new rnn.Tensor(first, [B, 3]), { batchSize: 64 });
      const want = model.predict(idsTensor(), { batchSize: 64 });
      const carried = model.getStates()[1] as { h: Float32Array; c: Float32Array | null };
      const e = exportOnnx(model);
      const name = model.allLayers()[1]!.name, D = bidi ? 2 : 1;
      const session = await ort.InferenceSession.create(e.bytes);
      const zero = (): ort.Tensor => new ort.Tensor('float32', new Float32Array(D * B * 5), [D, B, 5]);
      const feeds = (ids: ort.Tensor, st: Record<string, ort.Tensor>): Record<string, ort.Tensor> => ({ input: ids, ...st });
      const names = cell === 'LSTM' ? ['h', 'c'] : ['h'];
      const r1 = await session.run(feeds(new ort.Tensor('int32', Int32Array.from(first), [B, 3]), Object.fromEntries(names.map((n) => [`${name}/${n}_in`, zero()]))));
      const r2 = await session.run(feeds(idsFeed(), Object.fromEntries(names.map((n) => [`${name}/${n}_in`, r1[`${name}/${n}_out`]!]))));
      await session.release();
      const label = `${cell} bidirectional=${bidi}`;
      assertClose(want.data, r2.output!.data as Float32Array, ATOL, RTOL, `${label} output`);
      assertClose(carried.h, r2[`${name}/h_out`]!.data as Float32Array, ATOL, RTOL, `${label} h`);
      if (carried.c) assertClose(carried.c, r2[`${name}/c_out`]!.data as Float32Array, ATOL, RTOL, `${label} c`);
      // Row 3 is all padding: its final state is the one it came in with, not zeros.
      const h1 = r1[`${name}/h_out`]!.data as Float32Array, h2 = r2[`${name}/h_out`]!.data as Float32Array;
      for (let j = 0; j < 5; j++) assert.equal(h2[3 * 5 + j], h1[3 * 5 + j], `${label}: the empty row's h`);
      assert.ok(h1.subarray(15, 20).some((v) => v !== 0));
    }
  }
});

test('exportOnnx: the Transformer char model (causal multi-head attention, LayerNorm, sine positions)', async () => {
  const model = buildCharModel(V, { ...DEFAULT_CHARRNN, cell: 'transformer', hidden: 8, heads: 2, layers: 2 });
  randomize(model, 51);
  const ids = Float32Array.from({ length: 3 * 10 }, (_, i) => (i * 5) % V);
  await agrees(model, new rnn.Tensor(ids, [3, 10]), new ort.Tensor('int32', Int32Array.from(ids), [3, 10]), 'transformer', 5e-5);
});

test('exportOnnx: multi-head self-attention over masked ids (padded keys get no weight), causal and not, layer norm without scale or centre', async () => {
  for (const causal of [false, true]) {
    const ids = rnn.input({ shape: [null], name: 'ids' });
    const e = layers.embedding({ inputDim: V, outputDim: 8, maskZero: true }).apply(ids);
    const a = layers.multiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 2, outputDim: 5, causal }).apply([e, e]);
    const n = layers.layerNormalization({ center: false, scale: false }).apply(a);
    const model = rnn.model({ inputs: ids, outputs: layers.dense({ units: 3, activation: 'softmax' }).apply(n) });
    randomize(model, 95);
    await agrees(model, idsTensor(), idsFeed(), `mha masked causal=${causal}`, 5e-5);
  }
});

test('exportOnnx: initial states handed to a masked bidirectional decoder, whose final states are the output: an empty row keeps the states it was handed', async () => {
  for (const cell of ['LSTM', 'GRU'] as const) {
    const src = rnn.input({ shape: [null], name: 'source' }), tgt = rnn.input({ shape: [null], name: 'target' });
    const enc = new rnn.RecurrentLayer(cell, { units: 4, returnState: true }, 'concat');
    const states = (enc.apply(layers.embedding({ inputDim: V, outputDim: 3 }).apply(src)) as rnn.SymbolicTensor[]).slice(1);
    const dec = new rnn.RecurrentLayer(cell, { units: 4, returnState: true, goBackwards: true }, 'sum');
    const outs = dec.apply(layers.embedding({ inputDim: V, outputDim: 3, maskZero: true }).apply(tgt), { initialState: states }) as rnn.SymbolicTensor[];
    const model = rnn.model({ inputs: [src, tgt], outputs: layers.concatenate().apply(outs.slice(1)) });
    randomize(model, 97);
    const srcIds = Float32Array.from({ length: B * 4 }, (_, i) => 1 + (i % (V - 1)));
    const want = model.predict([new rnn.Tensor(srcIds, [B, 4]), idsTensor()], { batchSize: 64 });
    const e = exportOnnx(model);
    const got = (await runOrt(e, { source: new ort.Tensor('int32', Int32Array.from(srcIds), [B, 4]), target: idsFeed() })).output!;
    assertClose(want.data, got.data as Float32Array, ATOL, RTOL, `${cell} states`);
    // Row 3 of the target is all padding: its final states are the encoder's, unchanged.
    const S = cell === 'LSTM' ? 4 : 2, W = S * 4;
    const encOnly = rnn.model({ inputs: src, outputs: layers.concatenate().apply(states) });
    const handed = encOnly.predict(new rnn.Tensor(srcIds, [B, 4])).data;
    assertClose(want.data.subarray(3 * W, 4 * W), handed.subarray(3 * W, 4 * W), 0, 0, `${cell}: the empty row`);
  }
});

test('exportOnnx: a functional encoder-decoder (returnState, initialState, attention scores, causal, concatenate, add)', async () => {
  for (const score of ['dot', 'scaledDot', 'additive'] as const) {
    for (const causal of [false, true]) {
      const src = rnn.input({ shape: [null], name: 'source' }), tgt = rnn.input({ shape: [null], name: 'target' });
      const [enc, h, c] = layers.lstm({ units: 6, returnSequences: true, returnState: true }).apply(layers.embedding({ inputDim: V, outputDim: 4, maskZero: true }).apply(src)) as rnn.SymbolicTensor[];
      const dec = layers.lstm({ units: 6, returnSequences: true }).apply(layers.embedding({ inputDim: V, outputDim: 4 }).apply(tgt), { initialState: [h!, c!] }) as rnn.SymbolicTensor;
      // causal attention needs as many query steps as value steps: self-attention over the decoder then.
      const att = layers.attention({ score, causal }).apply(causal ? [dec, dec] : [dec, enc!]);
      const both = layers.concatenate().apply([dec, att]);
      const out = layers.dense({ units: V, activation: 'softmax' }).apply(layers.add().apply([layers.dense({ units: 6 }).apply(both), dec]));
      const model = rnn.model({ inputs: [src, tgt], outputs: out });
      randomize(model, 61);
      const tgtIds = Float32Array.from({ length: B * 5 }, (_, i) => (i * 3) % V);
      const want = model.predict([idsTensor(), new rnn.Tensor(tgtIds, [B, 5])], { batchSize: 64 });
      const e = exportOnnx(model);
      // Each input's length has a name of its own (a runtime takes one name for one size).
      assert.deepEqual(e.inputs.map((i) => [i.name, i.type, i.shape]), [['source', 'int32', ['batch', 'source_time']], ['target', 'int32', ['batch', 'target_time']]]);
      assert.deepEqual(e.outputs[0]!.shape, ['batch', 'output_time', V]);
      const got = (await runOrt(e, { source: idsFeed(), target: new ort.Tensor('int32', Int32Array.from(tgtIds), [B, 5]) })).output!;
      assertClose(want.data, got.data as Float32Array, ATOL, RTOL, `encoder-decoder ${score} causal=${causal}`);
    }
  }
});

test('exportOnnx weightsDtype float16: half the bytes, and onnxruntime computes what the model computes with its weights rounded to binary16', async () => {
  const model = buildCharModel(V, { ...DEFAULT_CHARRNN, hidden: 48, embed: 16, layers: 2 });
  randomize(model, 91);
  const full = exportOnnx(model, { states: false }), half = exportOnnx(model, { states: false, weightsDtype: 'float16' });
  assert.ok(half.bytes.length < 0.6 * full.bytes.length, `${half.bytes.length} against ${full.bytes.length} bytes`);
  const ids = Int32Array.from({ length: 2 * 9 }, (_, i) => 1 + ((i * 5) % (V - 1)));
  const x = new rnn.Tensor(Float32Array.from(ids), [2, 9]);
  model.resetStates();
  const exact = model.predict(x, { batchSize: 2 }).data;
  const { fromFloat16, toFloat16 } = await import('../src/models/safetensors.js');
  model.params.set(fromFloat16(toFloat16(model.params)));
  model.resetStates();
  const rounded = model.predict(x, { batchSize: 2 }).data;
  const got = (await runOrt(half, { input: new ort.Tensor('int32', ids, [2, 9]) })).output!.data as Float32Array;
  assertClose(rounded, got, ATOL, RTOL, 'float16 weights');
  let moved = 0;
  for (let i = 0; i < exact.length; i++) moved = Math.max(moved, Math.abs(exact[i]! - got[i]!));
  assert.ok(moved > 1e-5, 'the rounding shows (the file is not the float32 model)');
  model.params[0] = 1e5;
  assert.throws(() => exportOnnx(model, { weightsDtype: 'float16' }), /exportOnnx: weight '.*embeddings'\[0\] = 100000 is beyond float16's range \(±65504\): export it as float32/);
  assert.throws(() => exportOnnx(model, { weightsDtype: 'bf16' as never }), /option 'weightsDtype' must be 'float32' or 'float16', got "bf16"/);
});

test('exportOnnx: refuses what it cannot write, naming the model or the input', () => {
  const unbuilt = rnn.sequential({ layers: [layers.dense({ units: 2 })] });
  assert.throws(() => exportOnnx(unbuilt), (e: Error) => e instanceof OnnxExportError && /not built/.test(e.message));
  // A layer of the user's own (the Layer interface is public): no ONNX form.
  const custom: rnn.Layer = {
    className: 'Scale2', name: 'my_scale', params: null, built: true,
    build: () => {}, computeOutputShape: (s) => s,
    forward: (x) => ({ ...x, data: x.data.map((v) => 2 * v) }), backward: (dy) => dy.map((v) => 2 * v),
    getConfig: () => ({ className: 'Scale2' }), getWeights: () => [], setWeights: () => {},
  } as rnn.Layer;
  const withCustom = rnn.sequential({ inputShape: [3], layers: [layers.dense({ units: 2 }), custom] });
  withCustom.build([3]);
  assert.throws(() => exportOnnx(withCustom), (e: Error) => e instanceof OnnxExportError && e.message === "exportOnnx: layer 'my_scale' (Scale2): has no ONNX form in this exporter");
  const m = rnn.sequential({ inputShape: [3], layers: [layers.dense({ units: 2 })] });
  m.build([3]);
  assert.throws(() => exportOnnx(m, { maxLength: 0 }), /option 'maxLength' must be a positive integer, got 0/);
});

test('CLI: rnnkit export writes a file onnxruntime runs; clear errors for bad input', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-export-'));
  try {
    const model = buildCharModel(V, { ...DEFAULT_CHARRNN, hidden: 6, embed: 4, layers: 1, cell: 'gru' });
    randomize(model, 81);
    await saveModel(model, join(dir, 'm'));
    const out = join(dir, 'sub', 'm.onnx');
    const r = cli(['export', '--model', join(dir, 'm'), '--out', out]);
    assert.equal(r.status, 0, r.stderr);
    const name = model.allLayers()[1]!.name;
    assert.match(r.stdout, new RegExp(`^.*m\\.onnx: [\\d,]+ bytes, ONNX opset 17, [\\d,]+ weights\\n  input  input int32 \\[batch, time\\]\\n  input  ${name}/h_in float32 \\[1, batch, 6\\]\\n  output output float32 \\[batch, time, ${V}\\]\\n  output ${name}/h_out float32 \\[1, batch, 6\\]\\n$`));
    assert.deepEqual(readdirSync(join(dir, 'sub')), ['m.onnx'], 'no temporary file left');
    const ids = Int32Array.from([1, 2, 3, 4, 5, 6]);
    model.resetStates();
    const want = model.predict(new rnn.Tensor(Float32Array.from(ids), [2, 3]), { batchSize: 2 });
    const session = await ort.InferenceSession.create(readFileSync(out));
    const got = await session.run({ input: new ort.Tensor('int32', ids, [2, 3]), [`${name}/h_in`]: new ort.Tensor('float32', new Float32Array(12), [1, 2, 6]) });
    await session.release();
    assertClose(want.data, got.output!.data as Float32Array, ATOL, RTOL, 'exported file');
    const noStates = cli(['export', '--model', join(dir, 'm'), '--out', join(dir, 'n.onnx'), '--no-states']);
    assert.equal(noStates.status, 0, noStates.stderr);
    assert.doesNotMatch(noStates.stdout, /h_in/);

    const fails = (args: string[], re: RegExp): void => {
      const f = cli(['export', ...args]);
      assert.equal(f.status, 2, f.stderr);
      assert.match(f.stderr, re);
    };
    fails(['--out', out], /--model <dir> is required/);
    fails(['--model', join(dir, 'm')], /--out <file.onnx> is required/);
    fails(['--model', join(dir, 'nope'), '--out', out], /--model: .*nope: no such directory/);
    fails(['--model', join(dir, 'm'), '--out', dir], /--out: .* is a directory; give the path of the .onnx file/);
    fails(['--model', join(dir, 'm'), '--out', out, '--max-length', '1.5'], /--max-length: expected a positive integer, got "1.5"/);
    fails(['--model', join(dir, 'm'), '--out', out, '--states', '--no-states'], /--states and --no-states: give one of them/);
    fails(['--model', join(dir, 'm'), '--out', '/proc/rnnkit/m.onnx'], /--out: cannot write \/proc\/rnnkit\/m.onnx: /);
    mkdirSync(join(dir, 'tagger'));
    writeFileSync(join(dir, 'tagger', 'model.json'), JSON.stringify({ format: 'rnnkit-model', app: 'ner' }));
    fails(['--model', join(dir, 'tagger'), '--out', out], /--model: .*tagger\/model.json: "formatVersion" must be a positive integer/);
    assert.match(cli(['export', '--help']).stdout, /^Usage: rnnkit export --model <dir> --out <file.onnx>/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('examples/onnx-export: the exported LSTM, stepped by onnxruntime with its states fed back, writes what generateText writes', async () => {
  const { main } = await import('../examples/onnx-export.js');
  const log = console.log;
  console.log = () => {};
  try {
    const r = await main();
    assert.equal(r.onnx, r.rnnkit);
    // It learnt the passage: the greedy continuation of "Whenever I find" is the text's own.
    assert.equal(r.onnx.slice(0, 36), ' myself growing grim about the mouth');
  } finally {
    console.log = log;
  }
});
