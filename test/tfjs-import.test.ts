// The TF.js / Keras importer against TF.js itself: golden models made by TF.js 4.22 with random
// weights (tools/golden/make_tfjs_golden.mjs -> test/golden/tfjs/<case>/: model.json,
// weights.bin, and TF.js's predictions for the inputs in io.json) are loaded and must predict what
// TF.js predicted: LSTM, GRU (reset_after false, TF.js's only GRU), gates as sigmoids and as
// hard sigmoids (TF.js's default), SimpleRNN backwards,
// Bidirectional concat and sum, masks from Embedding and Masking, pooling, RepeatVector,
// LayerNormalization and TimeDistributed(Dense), and a functional encoder-decoder (the encoder's
// states passed to the decoder, concatenate, add). Keras' reset_after=true GRU (which TF.js cannot
// run) is checked against an rnnkit GRU whose weights are written in Keras' layout.
// Also: the models train on, save and load, and the refusals name the layer and the fix.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import * as rnn from '../src/index.js';
import { assertClose, randomArray } from './helpers.js';

const GOLDEN = 'test/golden/tfjs';
const CASES = ['lstm-seq', 'bigru-concat', 'masking-rnn-backwards', 'bilstm-sum-pool', 'repeat-gru-norm', 'lstm-gru-hard'];

interface Io { input: { dtype: string; shape: number[]; data: number[] }; output: { shape: number[]; data: number[] } }

for (const name of CASES) {
  test(`TF.js golden model ${name}: rnnkit predicts what TF.js predicted`, async () => {
    const model = await rnn.loadTfjsModel(join(GOLDEN, name));
    const io = JSON.parse(readFileSync(join(GOLDEN, name, 'io.json'), 'utf8')) as Io;
    const got = model.predict(new rnn.Tensor(Float32Array.from(io.input.data), io.input.shape));
    assert.deepEqual(got.shape, io.output.shape);
    if (name === 'lstm-seq') {
      // Keras repeats the last output at padded steps, rnnkit outputs zeros there (and predicts
      // the same at every real step): compare the real steps.
      const [B, T] = io.input.shape as [number, number], K = io.output.shape[2]!;
      const want: number[] = [], mine: number[] = [];
      for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
        if (io.input.data[b * T + t] === 0) continue;
        for (let k = 0; k < K; k++) { want.push(io.output.data[(b * T + t) * K + k]!); mine.push(got.data[(b * T + t) * K + k]!); }
      }
      assert.ok(want.length > 30);
      assertClose(mine, want, 2e-6, 1e-5, name);
    } else {
      assertClose(got.data, io.output.data, 2e-6, 1e-5, name);
    }
  });
}

test('TF.js golden model encoder-decoder (functional: masked encoder, its final states starting the decoder, concatenate, add): rnnkit predicts what TF.js predicted', async () => {
  const model = await rnn.loadTfjsModel<rnn.GraphModel>(join(GOLDEN, 'encoder-decoder'));
  assert.ok(model instanceof rnn.GraphModel);
  assert.deepEqual(model.inputs.map((t) => t.name), ['source', 'target']);
  const io = JSON.parse(readFileSync(join(GOLDEN, 'encoder-decoder', 'io.json'), 'utf8')) as { inputs: Io['input'][]; output: Io['output'] };
  const got = model.predict(io.inputs.map((i) => new rnn.Tensor(Float32Array.from(i.data), i.shape)));
  assert.deepEqual(got.shape, io.output.shape);
  assertClose(got.data, io.output.data, 2e-6, 1e-5, 'encoder-decoder');
  // ... and as ONNX, its two inputs int32.
  const e = rnn.exportOnnx(model);
  const session = await ort.InferenceSession.create(e.bytes);
  const r = await session.run(Object.fromEntries(io.inputs.map((i, k) => [e.inputs[k]!.name, new ort.Tensor('int32', Int32Array.from(i.data), i.shape)])));
  await session.release();
  assertClose(r.output!.data as Float32Array, io.output.data, 2e-6, 1e-5, 'encoder-decoder as ONNX');
});

test('an imported model trains on, and saves and loads as a rnnkit model', async () => {
  const model = await rnn.loadTfjsModel(join(GOLDEN, 'bigru-concat', 'model.json'));
  const x = new rnn.Tensor(Float32Array.from({ length: 8 * 6 }, (_, i) => 1 + (i % 12)), [8, 6]);
  const y = new rnn.Tensor(Float32Array.from({ length: 8 }, (_, i) => i % 2), [8, 1]);
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.05 }), loss: 'binaryCrossentropy' });
  const h = await model.fit(x, y, { epochs: 30, batchSize: 8, verbose: 0 });
  assert.ok(h.history.loss!.at(-1)! < 0.5 * h.history.loss![0]!, `${h.history.loss![0]} -> ${h.history.loss!.at(-1)}`);
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-tfjs-'));
  try {
    await rnn.saveModel(model, join(dir, 'm'));
    const back = await rnn.loadModel(join(dir, 'm'));
    assert.deepEqual(back.predict(x).data, model.predict(x).data);
    assert.equal(back.metadata.importedFrom, 'tfjs');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A Keras-layout model.json + weights for one GRU (reset_after true: bias [2, 3H]) and a Dense head. */
function kerasGru(gru: rnn.RecurrentLayer, dense: rnn.Dense, I: number): { json: unknown; bin: Uint8Array } {
  const H = gru.units, sd = gru.core!.params;
  const fromRnnkit = (w: Float32Array, cols: number): Float32Array => {
    // rnnkit [3H, cols] r|z|n -> Keras [cols, 3H] z|r|h
    const out = new Float32Array(w.length);
    [1, 0, 2].forEach((src, dst) => {
      for (let j = 0; j < H; j++) for (let c = 0; c < cols; c++) out[c * 3 * H + dst * H + j] = w[(src * H + j) * cols + c]!;
    });
    return out;
  };
  const bias = (b: Float32Array): Float32Array => Float32Array.from([1, 0, 2].flatMap((src) => Array.from(b.subarray(src * H, (src + 1) * H))));
  const specs = [
    ['gru/gru_cell/kernel', [I, 3 * H], fromRnnkit(sd.value('weight_ih_l0') as Float32Array, I)],
    ['gru/gru_cell/recurrent_kernel', [H, 3 * H], fromRnnkit(sd.value('weight_hh_l0') as Float32Array, H)],
    ['gru/gru_cell/bias', [2, 3 * H], Float32Array.from([...bias(sd.value('bias_ih_l0') as Float32Array), ...bias(sd.value('bias_hh_l0') as Float32Array)])],
    ['dense/kernel', [H, 2], dense.params!.value('kernel') as Float32Array],
    ['dense/bias', [2], dense.params!.value('bias') as Float32Array],
  ] as const;
  const bin = new Uint8Array(specs.reduce((n, s) => n + s[2].length * 4, 0));
  let at = 0;
  for (const s of specs) { bin.set(new Uint8Array(s[2].buffer, s[2].byteOffset, s[2].byteLength), at); at += s[2].byteLength; }
  const json = {
    format: 'layers-model', generatedBy: 'keras v2.15.0', convertedBy: 'TensorFlow.js Converter v4.22.0',
    modelTopology: {
      keras_version: '2.15.0', backend: 'tensorflow',
      model_config: {
        class_name: 'Sequential',
        config: {
          name: 'sequential',
          layers: [
            { class_name: 'InputLayer', config: { batch_input_shape: [null, null, I], dtype: 'float32', name: 'input_1' } },
            { class_name: 'GRU', config: { name: 'gru', units: H, activation: 'tanh', recurrent_activation: 'sigmoid', use_bias: true, return_sequences: false, reset_after: true } },
            { class_name: 'Dense', config: { name: 'dense', units: 2, activation: 'softmax', use_bias: true } },
          ],
        },
      },
    },
    // (with TensorFlow's ':0' suffix on the names, as some converter versions keep it)
    weightsManifest: [{ paths: ['group1-shard1of1.bin'], weights: specs.map(([name, shape]) => ({ name: `${name}:0`, shape, dtype: 'float32' })) }],
  };
  return { json, bin };
}

test('a Keras GRU with reset_after=true (Keras\' default, which TF.js cannot run), converted by the tensorflowjs converter, predicts as the rnnkit GRU its weights came from', async () => {
  const I = 3, ref = rnn.sequential({ inputShape: [null, I], layers: [rnn.layers.gru({ units: 4 }), rnn.layers.dense({ units: 2, activation: 'softmax' })] });
  ref.build([null, I]);
  ref.params.set(randomArray(ref.params.length, 5, 0.7, 'float32'));
  const [gru, dense] = ref.layers as [rnn.RecurrentLayer, rnn.Dense];
  const { json, bin } = kerasGru(gru, dense, I);
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-keras-'));
  try {
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    writeFileSync(join(dir, 'group1-shard1of1.bin'), bin);
    const model = await rnn.loadTfjsModel(dir);
    const x = new rnn.Tensor(randomArray(3 * 5 * I, 6, 1, 'float32') as Float32Array, [3, 5, I]);
    assert.deepEqual(model.predict(x).data, ref.predict(x).data);
    // Declared reset_after=false, the layer wants one bias: the file's two are refused, named.
    (json as { modelTopology: { model_config: { config: { layers: { config: Record<string, unknown> }[] } } } }).modelTopology.model_config.config.layers[1]!.config.reset_after = false;
    writeFileSync(join(dir, 'model.json'), JSON.stringify(json));
    await assert.rejects(rnn.loadTfjsModel(dir), /weight gru\/gru_cell\/bias has shape \[2, 12\], the layer needs \[12\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('refusals name the file, the layer and what to change', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-tfjs-bad-'));
  const src = JSON.parse(readFileSync(join(GOLDEN, 'lstm-seq', 'model.json'), 'utf8'));
  const bin = readFileSync(join(GOLDEN, 'lstm-seq', 'weights.bin'));
  const attempt = async (edit: (j: { modelTopology: { config: { layers: { class_name: string; config: Record<string, unknown> }[] } } }) => void, weights: Uint8Array = bin): Promise<string> => {
    const j = structuredClone(src);
    edit(j);
    mkdirSync(join(dir, 'm'), { recursive: true });
    writeFileSync(join(dir, 'm', 'model.json'), JSON.stringify(j));
    writeFileSync(join(dir, 'm', 'weights.bin'), weights);
    try {
      await rnn.loadTfjsModel(join(dir, 'm'));
      return 'loaded';
    } catch (e) {
      assert.ok(e instanceof rnn.BundleError, String(e));
      return (e as Error).message;
    }
  };
  try {
    assert.match(await attempt((j) => { j.modelTopology.config.layers[1]!.config.recurrent_activation = 'relu'; }),
      /model\.json: layer 1 \(LSTM 'lstm_LSTM1'\): recurrent_activation "relu": rnnkit's gates are 'sigmoid' or 'hard_sigmoid'/);
    assert.match(await attempt((j) => { j.modelTopology.config.layers[2]!.class_name = 'Conv1D'; }), /layer 2 \(Conv1D 'dense_Dense1'\): layer class Conv1D is not imported; rnnkit imports InputLayer, Embedding/);
    assert.match(await attempt((j) => { j.modelTopology.config.layers[2]!.config.activation = 'selu'; }), /activation "selu" is not one rnnkit computes/);
    assert.match(await attempt((j) => { j.modelTopology.config.layers[1]!.config.units = -5; }), /layer 1 \(LSTM 'lstm_LSTM1'\): LSTM: option 'units' must be a positive integer, got -5/);
    assert.match(await attempt(() => {}, bin.subarray(0, bin.length - 4)), /the weight files hold \d+ bytes; weight 'dense_Dense1\/bias' \[3\] needs bytes/);
    assert.match(await attempt(() => {}, Buffer.concat([bin, Buffer.alloc(8)])), /the weight files hold \d+ bytes, the manifest describes \d+/);
    assert.match(await attempt((j) => { (j as unknown as { format: string }).format = 'graph-model'; }), /format "graph-model" is not a layers model/);
    await assert.rejects(rnn.loadTfjsModel(join(dir, 'nope')), /nope: no such file or directory/);
    writeFileSync(join(dir, 'm', 'model.json'), JSON.stringify({ ...src, weightsManifest: [{ paths: ['missing.bin'], weights: [] }] }));
    await assert.rejects(rnn.loadTfjsModel(join(dir, 'm')), /missing\.bin: a weight file model\.json names: no such file or directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: rnnkit convert imports a TF.js model.json into a rnnkit model; rnnkit export writes it as ONNX', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-tfjs-cli-'));
  try {
    const cli = (args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', ...args], { encoding: 'utf8' });
    const io = JSON.parse(readFileSync(join(GOLDEN, 'bigru-concat', 'io.json'), 'utf8')) as Io;
    const c = cli(['convert', '--model', join(GOLDEN, 'bigru-concat', 'model.json'), '--out', join(dir, 'm'), '--dtype', 'float32']);
    assert.equal(c.status, 0, c.stderr);
    assert.match(c.stdout, /m: 221 weights as float32, imported from TF.js\n$/);
    const m = await rnn.loadModel(join(dir, 'm'));
    assertClose(m.predict(new rnn.Tensor(Float32Array.from(io.input.data), io.input.shape)).data, io.output.data, 2e-6, 1e-5, 'converted');
    const e = cli(['export', '--model', join(GOLDEN, 'bigru-concat'), '--out', join(dir, 'm.onnx')]);
    assert.equal(e.status, 0, e.stderr);
    const session = await ort.InferenceSession.create(readFileSync(join(dir, 'm.onnx')));
    const r = await session.run({ input: new ort.Tensor('int32', Int32Array.from(io.input.data), io.input.shape) });
    await session.release();
    assertClose(r.output!.data as Float32Array, io.output.data, 2e-6, 1e-5, 'TF.js -> ONNX');
    writeFileSync(join(dir, 'model.json'), JSON.stringify({ format: 'layers-model', modelTopology: { class_name: 'Graph', config: {} }, weightsManifest: [] }));
    const bad = cli(['convert', '--model', dir, '--out', join(dir, 'x')]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /model\.json: the model is a "Graph"; Sequential and functional \(Model, Functional\) models are imported/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadTfjsModelFromUrl (a local server, as a page would read the files): the model TF.js saved, predicting what it predicted; a missing weight file names its URL', async () => {
  const { startIsolatedServer } = await import('../src/cli/playground.js');
  const routes: Record<string, [string, Uint8Array]> = {};
  for (const f of ['model.json', 'weights.bin']) routes[`/tfjs/lstm/${f}`] = ['application/octet-stream', new Uint8Array(readFileSync(join(GOLDEN, 'lstm-gru-hard', f)))];
  routes['/tfjs/broken/model.json'] = routes['/tfjs/lstm/model.json']!;
  const s = await startIsolatedServer({ html: '', routes });
  try {
    const m = await rnn.loadTfjsModelFromUrl(new URL('tfjs/lstm/model.json', s.url));
    const io = JSON.parse(readFileSync(join(GOLDEN, 'lstm-gru-hard', 'io.json'), 'utf8')) as Io;
    assertClose(m.predict(new rnn.Tensor(Float32Array.from(io.input.data), io.input.shape)).data, io.output.data, 2e-6, 1e-5, 'from a URL');
    await assert.rejects(rnn.loadTfjsModelFromUrl(new URL('tfjs/broken/model.json', s.url)), new RegExp(`${s.url}tfjs/broken/weights\\.bin: could not be fetched: HTTP 404`));
  } finally {
    await s.close();
  }
});

test('examples/tfjs-import runs as written: TF.js\'s predictions to 1e-6, training on lowers the loss, a rnnkit model and an ONNX file written', async () => {
  const { main } = await import('../examples/tfjs-import.js');
  const out = mkdtempSync(join(tmpdir(), 'rnnkit-tfjs-example-'));
  const log = console.log;
  console.log = () => {};
  try {
    const r = await main(join(GOLDEN, 'lstm-gru-hard'), out);
    assert.ok(r.maxDiff < 1e-6, String(r.maxDiff));
    assert.ok(r.lossAfter < 0.5 * r.lossBefore, `${r.lossBefore} -> ${r.lossAfter}`);
    assert.ok((await rnn.loadModel(join(out, 'rnnkit-model'))).countParams() === 464);
    assert.equal(readFileSync(join(out, 'model.onnx')).length, r.onnxBytes);
  } finally {
    console.log = log;
    rmSync(out, { recursive: true, force: true });
  }
});
