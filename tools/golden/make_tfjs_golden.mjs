// Golden models for the TF.js / Keras importer (src/models/tfjs-format.ts): small TF.js layers
// models with random weights, saved in the TF.js format (model.json + weights.bin, what
// `model.save('file://dir')` writes with tfjs-node, and the tensorflowjs converter for Keras), with
// inputs and TF.js's predictions for them. Made with @tensorflow/tfjs 4.22 (its cpu backend), the
// version `npm run bench:peers` installs into bench/peers/node_modules:
//
//   npm install --prefix bench/peers --ignore-scripts   # (what bench:peers does on its first run)
//   node tools/golden/make_tfjs_golden.mjs             # writes test/golden/tfjs/<case>/
//
// Most recurrent layers here use recurrentActivation 'sigmoid' (Keras' default); the '-hard' cases
// keep TF.js's own default, hard_sigmoid.
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'bench', 'peers', 'package.json'));
const tf = require('@tensorflow/tfjs');
await tf.setBackend('cpu');

// A small deterministic generator (mulberry32) for weights and inputs.
function gen(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sig = { recurrentActivation: 'sigmoid' };
const ids = [[3, 5, 7, 1, 0, 0], [4, 2, 9, 12, 11, 6], [8, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 0]];

const CASES = {
  'lstm-seq': {
    build: () => [
      tf.layers.embedding({ inputDim: 13, outputDim: 4, maskZero: true, inputLength: 6 }),
      tf.layers.lstm({ units: 5, returnSequences: true, ...sig }),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
    input: { dtype: 'int32', data: ids, shape: [4, 6] },
  },
  'bigru-concat': {
    build: () => [
      tf.layers.embedding({ inputDim: 13, outputDim: 4, maskZero: true, inputLength: 6 }),
      tf.layers.bidirectional({ layer: tf.layers.gru({ units: 3, ...sig }), mergeMode: 'concat' }),
      tf.layers.dropout({ rate: 0.3 }),
      tf.layers.dense({ units: 1, activation: 'sigmoid' }),
    ],
    input: { dtype: 'int32', data: ids, shape: [4, 6] },
  },
  'masking-rnn-backwards': {
    build: () => [
      tf.layers.masking({ maskValue: 0, inputShape: [5, 3] }),
      tf.layers.simpleRNN({ units: 4, goBackwards: true }),
      tf.layers.dense({ units: 2 }),
    ],
    input: { dtype: 'float32', shape: [3, 5, 3], pad: [5, 3, 1] },
  },
  // (no mask here: TF.js's global pooling ignores masks and averages the padded steps' repeated
  // outputs too, where Keras and rnnkit pool over the real steps only)
  'bilstm-sum-pool': {
    build: () => [
      tf.layers.embedding({ inputDim: 13, outputDim: 4, inputLength: 6 }),
      tf.layers.bidirectional({ layer: tf.layers.lstm({ units: 3, returnSequences: true, ...sig }), mergeMode: 'sum' }),
      tf.layers.globalAveragePooling1d(),
      tf.layers.dense({ units: 3, activation: 'softmax' }),
    ],
    input: { dtype: 'int32', data: ids, shape: [4, 6] },
  },
  'repeat-gru-norm': {
    build: () => [
      tf.layers.dense({ units: 4, activation: 'tanh', inputShape: [3] }),
      tf.layers.repeatVector({ n: 4 }),
      tf.layers.gru({ units: 5, returnSequences: true, ...sig }),
      tf.layers.layerNormalization({ epsilon: 1e-3 }),
      tf.layers.timeDistributed({ layer: tf.layers.dense({ units: 3, activation: 'softmax' }) }),
      tf.layers.globalMaxPooling1d(),
    ],
    input: { dtype: 'float32', shape: [2, 3] },
  },
};

// TF.js's defaults: hard-sigmoid gates (and its GRU, reset_after false).
CASES['lstm-gru-hard'] = {
  build: () => [
    tf.layers.embedding({ inputDim: 13, outputDim: 4, maskZero: true, inputLength: 6 }),
    tf.layers.lstm({ units: 5, returnSequences: true }),
    tf.layers.bidirectional({ layer: tf.layers.gru({ units: 3 }), mergeMode: 'ave' }),
    tf.layers.dense({ units: 3, activation: 'softmax' }),
  ],
  input: { dtype: 'int32', data: ids, shape: [4, 6] },
  scale: 2.5,
};

// A functional model: an encoder whose final states start a decoder (a masked source, the
// states as the decoder's extra inputs), a concatenation and a residual sum. TF.js hands the
// source's mask on to the decoder with the states (a source row with fewer real steps than the
// target then repeats the decoder's outputs: a TF.js bug, Keras does not): every source row here
// has at least as many real steps as the target has steps.
CASES['encoder-decoder'] = {
  model: () => {
    const src = tf.input({ shape: [null], dtype: 'int32', name: 'source' }), tgt = tf.input({ shape: [null], dtype: 'int32', name: 'target' });
    const [, h, c] = tf.layers.lstm({ units: 4, returnState: true, ...sig }).apply(tf.layers.embedding({ inputDim: 13, outputDim: 3, maskZero: true }).apply(src));
    const dec = tf.layers.lstm({ units: 4, returnSequences: true, ...sig }).apply(tf.layers.embedding({ inputDim: 13, outputDim: 3 }).apply(tgt), { initialState: [h, c] });
    const both = tf.layers.concatenate().apply([dec, tf.layers.dense({ units: 2, activation: 'relu' }).apply(dec)]);
    const out = tf.layers.dense({ units: 5, activation: 'softmax' }).apply(tf.layers.add().apply([tf.layers.dense({ units: 6 }).apply(both), both]));
    return tf.model({ inputs: [src, tgt], outputs: out });
  },
  inputs: [
    { dtype: 'int32', data: [[3, 5, 7, 1, 0, 0], [4, 2, 9, 12, 11, 6], [8, 6, 2, 0, 0, 0], [1, 2, 3, 4, 5, 0]], shape: [4, 6] },
    { dtype: 'int32', data: [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]], shape: [4, 3] },
  ],
};

let seed = 1;
for (const [name, c] of Object.entries(CASES)) {
  const r = gen(seed++);
  const model = c.model ? c.model() : tf.sequential({ layers: c.build() });
  // (larger weights for the hard-sigmoid case: gates reach both clipped ends)
  const scale = c.scale ?? 0.8;
  model.setWeights(model.getWeights().map((w) => tf.tensor(Float32Array.from({ length: w.size }, () => (r() * 2 - 1) * scale), w.shape)));
  if (c.inputs) {
    const y = model.predict(c.inputs.map((i) => tf.tensor(i.data, i.shape, i.dtype)));
    await write(name, model, { inputs: c.inputs.map((i) => ({ dtype: i.dtype, shape: i.shape, data: i.data.flat() })), output: { shape: y.shape, data: Array.from(y.dataSync()) } });
    console.log(`${name}: output [${y.shape.join(', ')}]`);
    continue;
  }
  let x;
  if (c.input.data) x = c.input.data;
  else {
    const [B, T, F] = c.input.shape;
    x = c.input.shape.length === 2
      ? Array.from({ length: B }, () => Array.from({ length: T }, () => r() * 2 - 1))
      : Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => Array.from({ length: F }, () => (t < c.input.pad[b] ? r() * 2 - 1 : 0))));
  }
  const y = model.predict(tf.tensor(x, c.input.shape, c.input.dtype));
  await write(name, model, { input: { dtype: c.input.dtype, shape: c.input.shape, data: x.flat(2) }, output: { shape: y.shape, data: Array.from(y.dataSync()) } });
  console.log(`${name}: output [${y.shape.join(', ')}]`);
}

async function write(name, model, io) {
  const dir = join(root, 'test', 'golden', 'tfjs', name);
  mkdirSync(dir, { recursive: true });
  await model.save(tf.io.withSaveHandler(async (a) => {
    writeFileSync(join(dir, 'weights.bin'), Buffer.from(a.weightData));
    const json = {
      format: 'layers-model', generatedBy: `TensorFlow.js tfjs-layers v${tf.version.layers}`, convertedBy: null,
      modelTopology: a.modelTopology, weightsManifest: [{ paths: ['weights.bin'], weights: a.weightSpecs }],
    };
    writeFileSync(join(dir, 'model.json'), `${JSON.stringify(json)}\n`);
    return { modelArtifactsInfo: { dateSaved: new Date(), modelTopologyType: 'JSON' } };
  }));
  writeFileSync(join(dir, 'io.json'), `${JSON.stringify(io)}\n`);
}
