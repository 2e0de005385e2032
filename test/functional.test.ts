// Functional models: an encoder-decoder (encoder states feed the decoder), a two-input model
// with a merge, gradients through the graph, and save -> load.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';

/** Reverse a sequence: encoder reads src, decoder (teacher-forced) emits reversed src. */
function reverseTask(n: number, seed: number) {
  const r = rnn.rng(seed), V = 6, T = 5, GO = V; // decoder vocabulary has a GO symbol
  const src: number[][] = [], dec: number[][] = [], out: number[][] = [];
  for (let i = 0; i < n; i++) {
    const s = Array.from({ length: T }, () => 1 + r.int(V - 1));
    const rev = [...s].reverse();
    src.push(s); dec.push([GO, ...rev.slice(0, -1)]); out.push(rev);
  }
  return { src, dec, out, V };
}

function encoderDecoder(V: number, units: number): rnn.GraphModel {
  const src = rnn.input({ shape: [null], name: 'src' });
  const tgt = rnn.input({ shape: [null], name: 'tgt' });
  const encOut = rnn.layers.lstm({ units, returnState: true, seed: 1 }).apply(rnn.layers.embedding({ inputDim: V, outputDim: 8, seed: 2 }).apply(src));
  const [, h, c] = encOut as rnn.SymbolicTensor[];
  const dec = rnn.layers.lstm({ units, returnSequences: true, seed: 3 })
    .apply(rnn.layers.embedding({ inputDim: V + 1, outputDim: 8, seed: 4 }).apply(tgt), { initialState: [h!, c!] }) as rnn.SymbolicTensor;
  const y = rnn.layers.dense({ units: V, activation: 'softmax', seed: 5 }).apply(dec);
  return rnn.model({ inputs: [src, tgt], outputs: y, name: 'seq2seq' });
}

test('encoder-decoder: the decoder starts from the encoder states and learns to reverse', async () => {
  const { src, dec, out, V } = reverseTask(1500, 1);
  const m = encoderDecoder(V, 32);
  m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const h = await m.fit([src, dec], out, { epochs: 10, batchSize: 32, validationSplit: 0.1, seed: 2, clipNorm: 5 });
  const acc = h.history.val_accuracy!.at(-1)!;
  // The first output token (= last source token) cannot be guessed from the decoder input:
  // without the encoder state, accuracy stays near 1/5 on it; overall well below 0.9.
  assert.ok(acc > 0.9, `validation token accuracy ${acc}`);
  const text = m.summary(() => {});
  assert.match(text, /lstm_?\d* \(LSTM\) <- embedding/);
});

test('gradients through the graph (merge, shared input, states) match finite differences', () => {
  const a = rnn.input({ shape: [null], name: 'a' }), b = rnn.input({ shape: [null, 3], name: 'b' });
  const ea = rnn.layers.embedding({ inputDim: 5, outputDim: 3, seed: 1 }).apply(a);
  const both = rnn.layers.concatenate().apply([ea, b]);
  const [seq, h] = rnn.layers.gru({ units: 4, returnSequences: true, returnState: true, seed: 2 }).apply(both) as rnn.SymbolicTensor[];
  const g2 = rnn.layers.simpleRNN({ units: 4, seed: 3 }).apply(seq!, { initialState: [h!] }) as rnn.SymbolicTensor;
  const sum = rnn.layers.add().apply([g2, h!]);
  const y = rnn.layers.dense({ units: 3, activation: 'softmax', seed: 4 }).apply(sum);
  const m = rnn.model({ inputs: [a, b], outputs: y });
  m.compile({ optimizer: rnn.optimizers.sgd({ learningRate: 0 }), loss: 'sparseCategoricalCrossentropy' });
  const r = rnn.rng(5);
  const xa = { data: new Float32Array([1, 2, 3, 4, 2, 0]), shape: [2, 3], mask: null };
  const xb = { data: Float32Array.from({ length: 18 }, () => r.uniform(-1, 1)), shape: [2, 3, 3], mask: null };
  const y0 = { data: new Float32Array([0, 2]), shape: [2, 1], mask: null };
  m.trainOnBatch([xa, xb], y0);
  const grads = Float64Array.from(m.grads);
  const loss = () => m.evaluate([xa, xb], y0).loss!;
  let informative = 0;
  for (let i = 0; i < m.params.length; i++) {
    const v = m.params[i]!, eps = 1e-2;
    m.params[i] = v + eps; const fp = loss();
    m.params[i] = v - eps; const fm = loss();
    m.params[i] = v;
    const num = (fp - fm) / (2 * eps);
    assert.ok(Math.abs(num - grads[i]!) <= 2e-3 + 0.05 * Math.abs(num), `param ${i}: numerical ${num} vs analytic ${grads[i]}`);
    if (Math.abs(num) > 1e-3) informative++;
  }
  assert.ok(informative > 40, `${informative} informative parameters`);
});

test('a functional model saves and loads with identical predictions; bad graphs are refused', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-fn-'));
  try {
    const { src, dec, V } = reverseTask(20, 3);
    const m = encoderDecoder(V, 8);
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    await rnn.saveModel(m, join(dir, 'm'));
    const back = await rnn.loadModel<rnn.GraphModel>(join(dir, 'm'));
    assert.ok(back instanceof rnn.GraphModel);
    assert.deepEqual(back.predict([src, dec]).data, m.predict([src, dec]).data);
    assert.throws(() => m.predict(src), /the model has 2 inputs; pass an array of 2 inputs/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const x = rnn.input({ shape: [null] }), other = rnn.input({ shape: [null] });
  const e = rnn.layers.embedding({ inputDim: 3, outputDim: 2 });
  const y = rnn.layers.dense({ units: 1 }).apply(rnn.layers.lstm({ units: 2 }).apply(e.apply(other)) as rnn.SymbolicTensor);
  assert.throws(() => rnn.model({ inputs: x, outputs: y }), /depends on .* not among the model's inputs/);
  const d = rnn.layers.dense({ units: 2 });
  const twice = d.apply(d.apply(rnn.input({ shape: [2] })));
  assert.throws(() => rnn.model({ inputs: twice.node!.inputs[0]!.node!.inputs[0]!, outputs: twice }), /applied twice/);
});
