// The models of the TF.js export goldens, shared by their generator
// (tools/golden/make_tfjs_export_golden.mjs, which runs them in TF.js) and the test that checks
// rnnkit against what TF.js predicted (tfjs-export.test.ts).
import * as rnn from '../src/index.js';
import { DEFAULT_CHARRNN, recurrentCharModel } from '../src/apps/charrnn.js';
import { randomArray } from './helpers.js';

export interface ExportCase {
  name: string;
  build(): rnn.Model;
  input: { shape: number[]; data: number[] };
  /** Functional models with several inputs: all of them (`input` is the first). */
  inputs?: { shape: number[]; data: number[] }[];
  /** Recurrent outputs at padded steps differ by design (rnnkit zeros, TF.js repeats): compare only where these ids are not 0. */
  paddedIds?: boolean;
  /** Stateful models: the input's steps run in chunks of this many, the state carried between calls. */
  chunk?: number;
}

const ids = [[3, 5, 7, 1, 0, 0], [4, 2, 9, 12, 11, 6], [8, 0, 0, 0, 0, 0], [1, 2, 3, 4, 5, 0]].flat();

/** The model with every parameter drawn uniform in ±scale from `seed`. */
function randomized(m: rnn.Sequential, shape: (number | null)[], seed: number, scale: number): rnn.Sequential {
  m.build(shape);
  m.params.set(randomArray(m.params.length, seed, scale, 'float32'));
  return m;
}

const targets = { shape: [4, 3], data: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12] };

export const EXPORT_CASES: ExportCase[] = [
  {
    // A functional encoder-decoder: the encoder's final states start the decoder; concatenate, add.
    name: 'encoder-decoder',
    build: () => {
      const src = rnn.input({ shape: [null], name: 'source' }), tgt = rnn.input({ shape: [null], name: 'target' });
      const [, h, c] = rnn.layers.lstm({ units: 4, returnState: true, name: 'encoder' }).apply(rnn.layers.embedding({ inputDim: 13, outputDim: 3, name: 'src_emb' }).apply(src)) as rnn.SymbolicTensor[];
      const dec = rnn.layers.lstm({ units: 4, returnSequences: true, name: 'decoder' }).apply(rnn.layers.embedding({ inputDim: 13, outputDim: 3, name: 'tgt_emb' }).apply(tgt), { initialState: [h!, c!] }) as rnn.SymbolicTensor;
      const both = rnn.layers.concatenate({ name: 'cat' }).apply([dec, rnn.layers.dense({ units: 2, activation: 'relu', name: 'side' }).apply(dec)]);
      const out = rnn.layers.dense({ units: 5, activation: 'softmax', name: 'out' }).apply(rnn.layers.add({ name: 'sum' }).apply([rnn.layers.dense({ units: 6, name: 'proj' }).apply(both), both]));
      const m = rnn.model({ inputs: [src, tgt], outputs: out });
      m.params.set(randomArray(m.params.length, 16, 0.8, 'float32'));
      return m;
    },
    input: { shape: [4, 6], data: ids.map((v) => v || 1) },
    inputs: [{ shape: [4, 6], data: ids.map((v) => v || 1) }, targets],
  },
  {
    // A charrnn model (stateful LSTMs): exported for a batch of 1, a character at a time.
    name: 'charrnn-stateful',
    build: () => {
      const m = recurrentCharModel(11, { ...DEFAULT_CHARRNN, cell: 'lstm', hidden: 6, embed: 4, layers: 2, seed: 3 });
      m.params.set(randomArray(m.params.length, 15, 0.8, 'float32'));
      return m;
    },
    input: { shape: [1, 6], data: [1, 4, 2, 9, 3, 3] },
    chunk: 2,
  },
  {
    name: 'lstm-hard-seq',
    build: () => randomized(rnn.sequential({
      inputShape: [null],
      layers: [
        rnn.layers.embedding({ inputDim: 13, outputDim: 4, maskZero: true, name: 'emb' }),
        rnn.layers.lstm({ units: 5, returnSequences: true, recurrentActivation: 'hardSigmoid', name: 'lstm' }),
        rnn.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
      ],
    }), [null], 11, 1.5),
    input: { shape: [4, 6], data: ids },
    paddedIds: true,
  },
  {
    name: 'bigru-last',
    build: () => randomized(rnn.sequential({
      inputShape: [null],
      layers: [
        rnn.layers.embedding({ inputDim: 13, outputDim: 4, maskZero: true, name: 'emb' }),
        rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 3, resetAfter: false }), mergeMode: 'concat', name: 'bigru' }),
        rnn.layers.dropout({ rate: 0.2, name: 'drop' }),
        rnn.layers.dense({ units: 1, activation: 'sigmoid', name: 'out' }),
      ],
    }), [null], 12, 0.8),
    input: { shape: [4, 6], data: ids },
  },
  {
    name: 'masking-relu-rnn-backwards',
    build: () => randomized(rnn.sequential({
      inputShape: [null, 3],
      layers: [
        rnn.layers.masking({ name: 'mask' }),
        rnn.layers.simpleRNN({ units: 4, activation: 'relu', goBackwards: true, name: 'rnn' }),
        rnn.layers.dense({ units: 2, activation: 'tanh', name: 'out' }),
      ],
    }), [null, 3], 13, 0.8),
    input: { shape: [2, 4, 3], data: [0.5, -0.2, 0.9, 0.1, 0.3, -0.7, 0, 0, 0, 0, 0, 0, /* row 1 */ -0.4, 0.8, 0.2, 0.6, -0.1, 0.3, 0.9, 0.4, -0.5, 0.2, 0.2, 0.2] },
  },
  {
    name: 'repeat-lstm-norm-pool',
    build: () => randomized(rnn.sequential({
      inputShape: [3],
      layers: [
        rnn.layers.dense({ units: 4, activation: 'elu', name: 'in' }),
        rnn.layers.repeatVector({ n: 5, name: 'repeat' }),
        rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 3, returnSequences: true }), mergeMode: 'ave', name: 'bilstm' }),
        rnn.layers.layerNormalization({ epsilon: 1e-3, name: 'norm' }),
        rnn.layers.dense({ units: 3, activation: 'softmax', name: 'out' }),
        rnn.layers.globalMaxPooling1d({ name: 'pool' }),
      ],
    }), [3], 14, 0.8),
    input: { shape: [2, 3], data: [0.3, -0.6, 0.9, -0.2, 0.5, 0.1] },
  },
];
