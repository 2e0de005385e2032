// Masking, GlobalAveragePooling1D, GlobalMaxPooling1D and RepeatVector: forward values against
// hand-computed ones (masks of every shape, an empty row), each layer's dx against central
// differences of ⟨dy, f(x)⟩ (accumulated in float64), the layers inside trained models (parameter
// gradients against finite differences, save/load), ONNX export, and bad options named.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import * as rnn from '../src/index.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, RepeatVector } from '../src/layers/pooling.js';
import type { Act, Layer } from '../src/layers/layer.js';
import { assertClose, checkModelGradients, randomArray } from './helpers.js';

const ctx = { training: false, rng: rnn.rng(0) };
const act = (data: number[], shape: number[], mask: number[] | null = null): Act => ({ data: Float32Array.from(data), shape, mask: mask && Uint8Array.from(mask) });

test('Masking: a step whose features all equal maskValue is masked and zeroed, wherever it is; an incoming mask stays', () => {
  const m = new Masking({ maskValue: -1 });
  // B=2, T=4, F=2: row 0 padded at the end, row 1 at the start with a hole.
  const x = act([1, 2, -1, 5, -1, -1, -1, -1, /* row 1 */ -1, -1, 3, -1, -1, -1, 0, 0], [2, 4, 2]);
  const y = m.forward(x);
  assert.deepEqual([...y.mask!], [1, 1, 0, 0, 0, 1, 0, 1]);
  assert.deepEqual([...y.data], [1, 2, -1, 5, 0, 0, 0, 0, 0, 0, 3, -1, 0, 0, 0, 0]);
  assert.deepEqual([...m.backward(Float32Array.from({ length: 16 }, (_, i) => i + 1))], [1, 2, 3, 4, 0, 0, 0, 0, 0, 0, 11, 12, 0, 0, 15, 16]);
  const z = new Masking().forward(act([0, 0, 1, 0, 2, 2], [1, 3, 2], [1, 1, 0]));
  assert.deepEqual([...z.mask!], [0, 1, 0], 'maskValue 0 by default; the incoming mask is kept');
});

test('GlobalAveragePooling1D and GlobalMaxPooling1D pool over the real steps only; a row with none gives 0', () => {
  const x = act([1, -2, 3, 4, 5, -6, /* row 1 */ 7, 8, 9, 10, 11, 12, /* row 2 */ 1, 1, 1, 1, 1, 1], [3, 3, 2], [1, 0, 1, /**/ 1, 1, 1, /**/ 0, 0, 0]);
  assert.deepEqual([...new GlobalAveragePooling1D().forward(x).data], [3, -4, 9, 10, 0, 0]);
  const mx = new GlobalMaxPooling1D();
  assert.deepEqual([...mx.forward(x).data], [5, -2, 11, 12, 0, 0]);
  // The gradient goes to the step each maximum came from (the first, on ties).
  assert.deepEqual([...mx.backward(Float32Array.from([1, 2, 3, 4, 5, 6]))], [0, 2, 0, 0, 1, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0, 0, 0]);
  const tie = new GlobalMaxPooling1D();
  tie.forward(act([2, 2, 2], [1, 3, 1]));
  assert.deepEqual([...tie.backward(Float32Array.of(1))], [1, 0, 0]);
  assert.deepEqual([...new GlobalAveragePooling1D().forward(act([1, 2, 3, 4], [1, 2, 2])).data], [2, 3], 'no mask: every step');
});

test('RepeatVector: [B, F] -> [B, n, F]; the gradient sums over the copies', () => {
  const r = new RepeatVector({ n: 3 });
  const y = r.forward(act([1, 2, 3, 4], [2, 2]));
  assert.deepEqual(y.shape, [2, 3, 2]);
  assert.deepEqual([...y.data], [1, 2, 1, 2, 1, 2, 3, 4, 3, 4, 3, 4]);
  assert.deepEqual([...r.backward(Float32Array.from({ length: 12 }, (_, i) => i))], [0 + 2 + 4, 1 + 3 + 5, 6 + 8 + 10, 7 + 9 + 11]);
  assert.deepEqual(r.computeOutputShape([2]), [3, 2]);
});

/**
 * dx of a layer against central differences of ⟨dy, f(x)⟩ over every input value but the
 * `fixed` ones (Masking's padded steps: moving one of their values unmasks the step).
 */
function checkDx(layer: Layer, x: Act, seed: number, fixed: (i: number) => boolean = () => false): void {
  const y0 = layer.forward(x, ctx);
  const dy = randomArray(y0.data.length, seed, 1, 'float32') as Float32Array;
  const dx = layer.backward(dy)!;
  const f = (data: Float32Array): number => {
    const y = layer.forward({ ...x, data }, ctx).data;
    let s = 0;
    for (let i = 0; i < y.length; i++) s += dy[i]! * y[i]!;
    return s;
  };
  const eps = 1e-3, num = new Float64Array(x.data.length);
  for (let i = 0; i < x.data.length; i++) {
    if (fixed(i)) { num[i] = dx[i]!; continue; }
    const p = Float32Array.from(x.data), m = Float32Array.from(x.data);
    p[i]! += eps; m[i]! -= eps;
    num[i] = (f(p) - f(m)) / (p[i]! - m[i]!);
  }
  assertClose(dx, num, 2e-4, 1e-3, layer.className);
}

test('each layer\'s dx equals central differences (masked and unmasked inputs)', () => {
  const B = 3, T = 4, F = 3;
  const x = randomArray(B * T * F, 5, 1, 'float32') as Float32Array;
  x.fill(0, 3 * F, 4 * F); // row 0, step 3: a padded step for Masking
  const mask = Uint8Array.from([1, 1, 1, 0, 0, 1, 1, 1, 1, 0, 1, 1]);
  for (const m of [null, mask]) {
    const a: Act = { data: x, shape: [B, T, F], mask: m };
    checkDx(new Masking(), a, 6, (i) => Math.floor(i / F) === 3);
    checkDx(new GlobalAveragePooling1D(), a, 7);
    checkDx(new GlobalMaxPooling1D(), a, 8);
  }
  checkDx(new RepeatVector({ n: 4 }), { data: x.subarray(0, B * F), shape: [B, F], mask: null }, 9);
});

/** Float sequences padded with zeros after each row's length, and class targets. */
function paddedSequences(B: number, T: number, F: number, seed: number): { x: rnn.Tensor; y: rnn.Tensor; lengths: number[] } {
  const r = rnn.rng(seed), data = new Float32Array(B * T * F), lengths: number[] = [];
  for (let b = 0; b < B; b++) {
    const n = 1 + r.int(T);
    lengths.push(n);
    for (let k = 0; k < n * F; k++) data[b * T * F + k] = r.uniform(-1, 1);
  }
  return { x: new rnn.Tensor(data, [B, T, F]), y: new rnn.Tensor(Float32Array.from({ length: B }, () => r.int(3)), [B]), lengths };
}

test('in models: parameter gradients match finite differences through masking -> LSTM -> pooling, and dense -> repeatVector -> GRU', () => {
  const { x, y } = paddedSequences(4, 6, 3, 21);
  for (const pool of ['avg', 'max'] as const) {
    const m = rnn.sequential({
      inputShape: [6, 3],
      layers: [
        rnn.layers.masking(),
        rnn.layers.lstm({ units: 5, returnSequences: true }),
        pool === 'avg' ? rnn.layers.globalAveragePooling1d() : rnn.layers.globalMaxPooling1d(),
        rnn.layers.dense({ units: 3, activation: 'softmax' }),
      ],
    });
    m.build([6, 3]);
    // (the maximum is piecewise: a step of 1e-2 in a weight can move an arg max, 1e-3 does not here)
    assert.ok(checkModelGradients(m, { data: x.data, shape: [...x.shape], mask: null }, { data: y.data, shape: [...y.shape], mask: null }, pool === 'max' ? 1e-3 : 1e-2) > 20, pool);
  }
  const v = randomArray(4 * 3, 22, 1, 'float32') as Float32Array;
  const seq = rnn.sequential({
    inputShape: [3],
    layers: [rnn.layers.dense({ units: 4, activation: 'tanh' }), rnn.layers.repeatVector({ n: 5 }), rnn.layers.gru({ units: 4, returnSequences: true }), rnn.layers.dense({ units: 3, activation: 'softmax' })],
  });
  seq.build([3]);
  const targets = Float32Array.from({ length: 4 * 5 }, (_, i) => i % 3);
  assert.ok(checkModelGradients(seq, { data: v, shape: [4, 3], mask: null }, { data: targets, shape: [4, 5], mask: null }) > 20);
});

test('Masking makes an LSTM ignore zero padding: the padded model predicts what the unpadded sequences give; save, load and ONNX export agree', async () => {
  const { x, lengths } = paddedSequences(5, 7, 3, 31);
  const model = rnn.sequential({
    inputShape: [null, 3],
    layers: [rnn.layers.masking(), rnn.layers.lstm({ units: 6, returnSequences: true }), rnn.layers.globalAveragePooling1d(), rnn.layers.dense({ units: 2, activation: 'softmax' })],
  });
  model.build([null, 3]);
  model.params.set(randomArray(model.params.length, 32, 0.5, 'float32'));
  const padded = model.predict(x).data;
  lengths.forEach((n, b) => {
    const one = model.predict(new rnn.Tensor(x.data.slice(b * 7 * 3, (b * 7 + n) * 3), [1, n, 3])).data;
    assertClose(one, padded.subarray(b * 2, b * 2 + 2), 1e-6, 1e-6, `row ${b} (length ${n})`);
  });
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-pool-'));
  try {
    await rnn.saveModel(model, join(dir, 'm'));
    const back = await rnn.loadModel(join(dir, 'm'));
    assert.deepEqual(back.predict(x).data, padded);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  for (const [name, m] of [['masking + average', model], ['max + repeatVector', rnn.sequential({
    inputShape: [null, 3],
    layers: [rnn.layers.masking(), rnn.layers.gru({ units: 4, returnSequences: true }), rnn.layers.globalMaxPooling1d(), rnn.layers.repeatVector({ n: 3 }), rnn.layers.simpleRNN({ units: 2, returnSequences: true })],
  })]] as const) {
    m.build([null, 3]);
    if (m !== model) m.params.set(randomArray(m.params.length, 33, 0.5, 'float32'));
    const e = rnn.exportOnnx(m);
    const session = await ort.InferenceSession.create(e.bytes);
    const got = (await session.run({ input: new ort.Tensor('float32', x.data, x.shape) })).output!;
    await session.release();
    assertClose(m.predict(x).data, got.data as Float32Array, 2e-5, 1e-5, `ONNX: ${name}`);
  }
});

test('bad options and inputs are named', () => {
  assert.throws(() => rnn.layers.masking({ maskValue: 'x' as never }), /Masking: option 'maskValue' must be a number, got "x"/);
  assert.throws(() => rnn.layers.repeatVector({ n: 0 }), /RepeatVector: option 'n' must be a positive integer, got 0/);
  assert.throws(() => rnn.sequential({ inputShape: [4], layers: [rnn.layers.globalAveragePooling1d({ name: 'pool' })] }).build([4]), /pool: expects a sequence \[batch, time, features\] with known features, got \[None, 4\]/);
  assert.throws(() => rnn.sequential({ inputShape: [2, 4], layers: [rnn.layers.repeatVector({ n: 2, name: 'rep' })] }).build([2, 4]), /rep: expects vectors \[batch, features\], got \[None, 2, 4\]/);
});
