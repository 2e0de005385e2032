// The Transformer's other pieces (src/layers/normalization.ts, src/layers/position.ts) and a
// Transformer encoder block built from them with multi-head attention: layer normalisation
// against torch.nn.LayerNorm and finite differences in float64, the sine encoding's values, the
// learned table's gradient, and a block in a model (gradients, learning an order-dependent task
// that attention without positions cannot, save -> load, errors).
//
// Golden values: test/golden/transformer.json (layerNorm), written by
//     /usr/bin/python3 tools/golden/make_transformer_golden.py > test/golden/transformer.json
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { layerNormBackward, layerNormForward } from '../src/layers/normalization.js';
import { encoderModel, main as transformerExample, orderTask } from '../examples/transformer.js';
import { assertClose, checkModelGradients, numericalGrad, randomArray, saveLoadRoundTrip } from './helpers.js';

interface LayerNormCase {
  name: string; rows: number; D: number; eps: number;
  x: number[]; gamma: number[]; beta: number[]; wy: number[];
  expected: Record<'y' | 'dx' | 'dgamma' | 'dbeta', number[]>;
}
const golden = JSON.parse(readFileSync(new URL('../../test/golden/transformer.json', import.meta.url), 'utf8')) as { layerNorm: LayerNormCase[] };

test('layer normalisation against torch.nn.LayerNorm: outputs and every gradient, in float64 (the functions) and float32 (the layer)', () => {
  assert.equal(golden.layerNorm.length, 2);
  for (const c of golden.layerNorm) {
    // float64
    const x = Float64Array.from(c.x), gamma = Float64Array.from(c.gamma), beta = Float64Array.from(c.beta);
    const y = new Float64Array(x.length), xhat = new Float64Array(x.length), r = new Float64Array(c.rows);
    layerNormForward(x, c.D, c.eps, gamma, beta, y, xhat, r);
    assertClose(y, c.expected.y, 1e-12, 1e-10, `${c.name}: y`);
    const dx = new Float64Array(x.length), dg = new Float64Array(c.D), db = new Float64Array(c.D);
    layerNormBackward(Float64Array.from(c.wy), c.D, xhat, r, gamma, dg, db, dx);
    assertClose(dx, c.expected.dx, 1e-12, 1e-9, `${c.name}: dx`);
    assertClose(dg, c.expected.dgamma, 1e-12, 1e-10, `${c.name}: dgamma`);
    assertClose(db, c.expected.dbeta, 1e-12, 1e-10, `${c.name}: dbeta`);
    // float32, through the layer
    const layer = rnn.layers.layerNormalization({ epsilon: c.eps });
    layer.build([c.D]);
    layer.params!.value('gamma').set(c.gamma);
    layer.params!.value('beta').set(c.beta);
    const out = layer.forward({ data: Float32Array.from(c.x), shape: [c.rows, c.D], mask: null });
    assertClose(out.data, c.expected.y, 1e-5, 1e-4, `${c.name}: layer y`);
    const ldx = layer.backward(Float32Array.from(c.wy))!;
    assertClose(ldx, c.expected.dx, 1e-4, 1e-3, `${c.name}: layer dx`);
    assertClose(layer.params!.gradOf('gamma'), c.expected.dgamma, 1e-4, 1e-4, `${c.name}: layer dgamma`);
  }
});

test('layer normalisation gradients match finite differences in float64, with and without γ', () => {
  const rows = 4, D = 6, eps = 1e-3;
  const x = randomArray(rows * D, 3, 2), gamma = randomArray(D, 4), beta = randomArray(D, 5), wy = randomArray(rows * D, 6);
  for (const g of [gamma, null]) {
    const loss = (): number => {
      const y = new Float64Array(rows * D);
      layerNormForward(x, D, eps, g, beta, y, new Float64Array(rows * D), new Float64Array(rows));
      return y.reduce((s, v, i) => s + v * wy[i]!, 0);
    };
    const y = new Float64Array(rows * D), xhat = new Float64Array(rows * D), r = new Float64Array(rows);
    layerNormForward(x, D, eps, g, beta, y, xhat, r);
    const dx = new Float64Array(rows * D), dg = new Float64Array(D), db = new Float64Array(D);
    layerNormBackward(wy, D, xhat, r, g, g ? dg : null, db, dx);
    const label = g ? 'with γ' : 'without γ';
    assertClose(dx, numericalGrad(x, loss, 1e-6), 1e-8, 1e-6, `${label}: dx`);
    assertClose(db, numericalGrad(beta, loss, 1e-6), 1e-8, 1e-6, `${label}: dβ`);
    if (g) assertClose(dg, numericalGrad(g as Float64Array, loss, 1e-6), 1e-8, 1e-6, `${label}: dγ`);
  }
  // Without γ and β each row comes out with mean 0 and variance σ²/(σ² + ε).
  const y = new Float64Array(rows * D), xhat = new Float64Array(rows * D), x64 = x as Float64Array;
  layerNormForward(x, D, eps, null, null, y, xhat, new Float64Array(rows));
  for (let row = 0; row < rows; row++) {
    const v = y.subarray(row * D, (row + 1) * D), m = v.reduce((s, a) => s + a, 0) / D;
    assert.ok(Math.abs(m) < 1e-12, `row ${row}: mean ${m}`);
    const raw = x64.subarray(row * D, (row + 1) * D), mr = raw.reduce((s, a) => s + a, 0) / D;
    const s2 = raw.reduce((s, a) => s + (a - mr) ** 2, 0) / D, want = s2 / (s2 + eps);
    const got = v.reduce((s, a) => s + a * a, 0) / D;
    assert.ok(Math.abs(got - want) < 1e-12, `row ${row}: variance ${got}, want ${want}`);
  }
});

test('sine position encoding: P[t] = [sin t·ω_i, cos t·ω_i] with ω_i = 10000^(-2i/D); added to every batch row; the input gradient passes through', () => {
  const layer = rnn.layers.positionEncoding();
  layer.build([null, 4]);
  const B = 2, T = 5, x = Float32Array.from({ length: B * T * 4 }, (_, i) => i * 0.01);
  const y = layer.forward({ data: x, shape: [B, T, 4], mask: null }).data;
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
    // D = 4: ω_0 = 1, ω_1 = 10000^(-1/2) = 0.01.
    const want = [Math.sin(t), Math.cos(t), Math.sin(0.01 * t), Math.cos(0.01 * t)];
    for (let j = 0; j < 4; j++) {
      const i = (b * T + t) * 4 + j;
      assert.ok(Math.abs(y[i]! - x[i]! - want[j]!) < 1e-6, `b ${b} t ${t} j ${j}: ${y[i]! - x[i]!} against ${want[j]}`);
    }
  }
  const dy = randomArray(B * T * 4, 9, 1, 'float32') as Float32Array;
  assert.deepEqual(layer.backward(dy), dy);
  // A longer sequence later extends the table.
  const y2 = layer.forward({ data: new Float32Array(9 * 4), shape: [1, 9, 4], mask: null }).data;
  assert.ok(Math.abs(y2[8 * 4]! - Math.sin(8)) < 1e-6 && Math.abs(y2[8 * 4 + 3]! - Math.cos(0.08)) < 1e-6);
});

test('a Transformer encoder block (position encoding, multi-head self-attention, residuals, layer normalisation, feed-forward): gradients of every parameter match finite differences', () => {
  for (const position of ['sine', 'learned'] as const) {
    const m = encoderModel(5, 7, position, 3, 6);
    const x = { data: new Float32Array([1, 2, 3, 4, 5, 6, 5, 4, 3, 2, 1, 1, 2, 2, 3]), shape: [3, 5], mask: null };
    const y = { data: new Float32Array([0, 1, 1]), shape: [3, 1], mask: null };
    // A step of 3e-4: the feed-forward layer's ReLU has kinks within 1e-2 and 3e-3 of some
    // parameters, and with the learned table (rows of ±0.05 added to embeddings of ±0.05) the
    // first layer normalisation divides by a small σ: the loss curves fast (float32's rounding
    // at this step, ~2e-4, is within the 2e-3 tolerance).
    const informative = checkModelGradients(m, x, y, 3e-4);
    assert.ok(informative > 100, `${position}: ${informative} informative parameters`);
  }
});

test('examples/transformer: position encodings are what let attention see order — with them the encoder block learns "1 before 2", without them it stays at chance (self-attention and pooling are blind to permutations), and a GRU knows order by construction', async () => {
  const lines: string[] = [];
  const acc = await transformerExample(12, 6, (s) => lines.push(s));
  assert.equal(lines.length, 4, lines.join('\n'));
  const last = (name: string): number => acc[name]!.at(-1)!;
  assert.ok(last('GRU 32, last state') > 0.95, lines.join('\n'));
  assert.ok(last('Transformer block, sine positions') > 0.95, lines.join('\n'));
  // Without positions every epoch's held-out accuracy is that of a guess that ignores order.
  for (const a of acc['Transformer block, no positions']!) assert.ok(a < 0.6, lines.join('\n'));
});

test('models with layer normalisation and position encodings save and load with identical predictions; configs keep their options', async () => {
  const { x, y } = orderTask(20, 5, 7, 3);
  const back = await saveLoadRoundTrip(encoderModel(5, 7, 'learned', 2, 6), { ...x, mask: null }, { ...y, mask: null });
  const cfg = (cls: string) => back.allLayers().filter((l) => l.className === cls).map((l) => { const { name: _, ...rest } = l.getConfig(); return rest; });
  assert.deepEqual(cfg('PositionEncoding'), [{ className: 'PositionEncoding', kind: 'learned', maxLength: 5, seed: 2 }]);
  assert.deepEqual(cfg('LayerNormalization'), [{ className: 'LayerNormalization', epsilon: 1e-3 }, { className: 'LayerNormalization', epsilon: 1e-3 }]);
});

test('layer normalisation and position encodings refuse bad options and inputs with errors that name them', () => {
  assert.throws(() => rnn.layers.layerNormalization({ epsilon: 0 }), /LayerNormalization: option 'epsilon' must be a positive number, got 0/);
  assert.throws(() => rnn.layers.layerNormalization({ center: 1 as never }), /option 'center' must be true or false/);
  assert.throws(() => rnn.layers.positionEncoding({ kind: 'rotary' as never }), /PositionEncoding: option 'kind' must be 'sine' or 'learned', got "rotary"/);
  assert.throws(() => rnn.layers.positionEncoding({ kind: 'learned' }), /kind 'learned' needs option 'maxLength'/);
  assert.throws(() => rnn.layers.positionEncoding({ maxWavelength: 1 }), /option 'maxWavelength' must be a number above 1, got 1/);
  const p = rnn.layers.positionEncoding({ kind: 'learned', maxLength: 4, name: 'pos' });
  assert.throws(() => p.apply(rnn.input({ shape: [6, 3] })), /pos: the input has 6 steps, more than maxLength 4/);
  const q = rnn.layers.positionEncoding({ maxLength: 4, name: 'pos2' });
  q.build([null, 3]);
  assert.throws(() => q.forward({ data: new Float32Array(5 * 3), shape: [1, 5, 3], mask: null }), /pos2: the input has 5 steps, more than maxLength 4/);
  assert.throws(() => rnn.layers.positionEncoding({ name: 'pos3' }).apply(rnn.input({ shape: [4] })), /pos3: expects a sequence \[batch, time, features\] with known features, got \[None, 4\]/);
  const ln = rnn.layers.layerNormalization({ name: 'ln' });
  ln.build([null, 3]);
  assert.throws(() => ln.forward({ data: new Float32Array(8), shape: [2, 4], mask: null }), /ln: expected inputs with 3 features in the last dimension, got \[2, 4\]/);
});
