// The PyTorch models of test/golden/torch_weights.json (tools/golden/make_torch_weights_golden.py)
// as rnnkit models, for the tests that load their weights (torch-weights, torch-file).
import { readFileSync } from 'node:fs';
import * as rnn from '../src/browser.js';

export interface GoldenTensor { shape: number[]; data: number[] }
export interface Case { name: string; state: Record<string, GoldenTensor>; input: { kind: 'ids' | 'float'; shape: number[]; data: number[] }; output: GoldenTensor }
export const golden = JSON.parse(readFileSync(new URL('../../test/golden/torch_weights.json', import.meta.url), 'utf8')) as { cases: Case[] };
export const caseNamed = (name: string): Case => golden.cases.find((c) => c.name === name)!;

/** The rnnkit model of each PyTorch module, and the modules its layers should take. */
export const MODELS: Record<string, { make: () => rnn.Sequential; modules: string[] }> = {
  'lstm-bidirectional-stacked': {
    make: () => rnn.sequential({ inputShape: [null], layers: [
      rnn.layers.embedding({ inputDim: 40, outputDim: 12 }),
      rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 16, returnSequences: true }) }),
      rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 16, returnSequences: true }) }),
      rnn.layers.dense({ units: 7 }),
    ] }),
    modules: ['emb', 'lstm:l0', 'lstm:l1', 'head'],
  },
  'gru-last-step': {
    make: () => rnn.sequential({ inputShape: [null], layers: [
      rnn.layers.embedding({ inputDim: 30, outputDim: 10 }),
      rnn.layers.gru({ units: 12 }),
      rnn.layers.dense({ units: 1, activation: 'sigmoid' }),
    ] }),
    modules: ['embedding', 'gru:l0', 'fc'],
  },
  'relu-rnn-layernorm': {
    make: () => rnn.sequential({ inputShape: [null, 6], layers: [
      rnn.layers.simpleRNN({ units: 8, activation: 'relu', returnSequences: true }),
      rnn.layers.layerNormalization({ epsilon: 1e-5 }), // PyTorch's default epsilon
      rnn.layers.dense({ units: 4, activation: 'softmax' }),
    ] }),
    modules: ['rnn:l0', 'norm', 'out'],
  },
};

// (Token ids as float32 values, as the models take them.)
export const inputOf = (c: Case): rnn.Tensor => new rnn.Tensor(Float32Array.from(c.input.data), c.input.shape);
export const predict = (m: rnn.Sequential, c: Case): Float32Array => m.predict(inputOf(c)).data as Float32Array;


/** Asserts that a model's predictions are PyTorch's (float32 here against float64 there, from the same float32 weights). */
export function assertPredictsGolden(m: rnn.Sequential, c: Case, what: string, equal: (ok: boolean, msg: string) => void): void {
  const got = predict(m, c);
  equal(got.length === c.output.data.length, `${what}: ${got.length} outputs, PyTorch ${c.output.data.length}`);
  got.forEach((g, i) => {
    const w = c.output.data[i]!;
    equal(Math.abs(g - w) <= 2e-5 + 1e-4 * Math.abs(w), `${c.name} via ${what}: output[${i}] ${g}, PyTorch ${w}`);
  });
}
