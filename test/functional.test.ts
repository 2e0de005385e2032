// Functional models: an encoder-decoder (encoder states feed the decoder), a two-input model
// with a merge, gradients through the graph, and save -> load.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { checkModelGradients } from './helpers.js';

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
  const r = rnn.rng(5);
  const xa = { data: new Float32Array([1, 2, 3, 4, 2, 0]), shape: [2, 3], mask: null };
  const xb = { data: Float32Array.from({ length: 18 }, () => r.uniform(-1, 1)), shape: [2, 3, 3], mask: null };
  const y0 = { data: new Float32Array([0, 2]), shape: [2, 1], mask: null };
  const informative = checkModelGradients(m, [xa, xb], y0);
  assert.ok(informative > 40, `${informative} informative parameters`);
});

test("input gradients are wanted only downstream of parameters: a recurrent layer reading the model's input skips its dx, one reading a Dense layer's output or merged with it does not; the parameters are the same bits either way", () => {
  const make = () => {
    const a = rnn.input({ shape: [null, 3], name: 'a' }), b = rnn.input({ shape: [null, 2], name: 'b' });
    const enc = rnn.layers.lstm({ units: 4, returnState: true, seed: 1, name: 'enc' });
    const [, h, c] = enc.apply(a) as rnn.SymbolicTensor[];
    // The decoder reads b as it comes (no dx wanted) but starts from the encoder's states (wanted).
    const dec = rnn.layers.lstm({ units: 4, returnSequences: true, seed: 2, name: 'dec' });
    const seq = dec.apply(b, { initialState: [h!, c!] }) as rnn.SymbolicTensor;
    const fb = rnn.layers.dense({ units: 3, activation: 'tanh', seed: 3, name: 'front' }).apply(b);
    const both = rnn.layers.concatenate({ name: 'cat' }).apply([seq, fb]);
    const top = rnn.layers.gru({ units: 5, seed: 4, name: 'top' }).apply(both) as rnn.SymbolicTensor;
    const y = rnn.layers.dense({ units: 3, activation: 'softmax', seed: 5, name: 'out' }).apply(top);
    const m = rnn.model({ inputs: [a, b], outputs: y });
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    return m;
  };
  const spy = (m: rnn.GraphModel, force: boolean) => {
    const seen: Record<string, unknown[]> = {};
    for (const l of m.allLayers()) {
      seen[l.name] = [];
      const one = l.backward.bind(l);
      l.backward = (dy: Float32Array, wantDx?: boolean) => { seen[l.name]!.push(wantDx); return one(dy, force || wantDx); };
      const multi = (l as { backwardMulti?: (dys: (Float32Array | null)[], wanted?: readonly boolean[]) => (Float32Array | null)[] }).backwardMulti;
      if (multi) {
        (l as unknown as { backwardMulti: typeof multi }).backwardMulti = (dys, wanted) => {
          seen[l.name]!.push(wanted ? [...wanted] : wanted);
          return multi.call(l, dys, force ? wanted?.map(() => true) : wanted);
        };
      }
    }
    return seen;
  };
  const r = rnn.rng(7);
  const xa = { data: Float32Array.from({ length: 2 * 4 * 3 }, () => r.uniform(-1, 1)), shape: [2, 4, 3], mask: null };
  const xb = { data: Float32Array.from({ length: 2 * 5 * 2 }, () => r.uniform(-1, 1)), shape: [2, 5, 2], mask: null };
  const y = { data: new Float32Array([0, 2]), shape: [2, 1], mask: null };
  const m = make(), full = make();
  const seen = spy(m, false);
  spy(full, true);
  for (let s = 0; s < 2; s++) { m.trainOnBatch([xa, xb], y); full.trainOnBatch([xa, xb], y); }
  assert.deepEqual(m.params, full.params);
  assert.deepEqual(seen.enc, [[false], [false]], 'enc reads input a');
  assert.deepEqual(seen.dec, [[false, true, true], [false, true, true]], 'dec reads input b, its states come from enc');
  assert.deepEqual(seen.front, [false, false], 'the Dense layer reads input b');
  assert.deepEqual(seen.cat, [[true, true], [true, true]]);
  assert.deepEqual(seen.top, [[true], [true]], 'top reads what dec and front made');
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

test('add: inputs summed in order, each sum rounded once ((a + b) + c, bit for bit a loop\'s), fresh arrays outside a model, one reused buffer in training; gradients to every input', () => {
  const add = rnn.layers.add();
  const n = 1003, f = (s: number) => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * s) * 10 ** ((i % 7) - 3)));
  const xs = [f(1.1), f(0.37), f(2.9)].map((data) => ({ data, shape: [1, n], mask: null }));
  const want = new Float32Array(n);
  for (let i = 0; i < n; i++) want[i] = Math.fround(Math.fround(xs[0]!.data[i]! + xs[1]!.data[i]!) + xs[2]!.data[i]!);
  const a = add.forwardMulti(xs)[0]!.data, b = add.forwardMulti(xs)[0]!.data;
  assert.deepEqual(a, want);
  assert.notEqual(a, b, 'outside a model: a fresh array per call');
  const ctx = { training: true, rng: rnn.rng(1) };
  const t1 = add.forwardMulti(xs, ctx)[0]!.data;
  assert.deepEqual(t1, want);
  assert.equal(add.forwardMulti(xs, ctx)[0]!.data, t1, 'in training: the same buffer again');
  const dy = f(0.5);
  const ds = add.backwardMulti([dy]);
  assert.equal(ds.length, 3);
  for (const d of ds) assert.deepEqual(d, dy);
  assert.throws(() => add.forwardMulti([xs[0]!, { data: new Float32Array(5), shape: [1, 5], mask: null }]), /inputs must have the same shape/);
});
