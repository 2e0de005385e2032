// Optimizer.step's spans (a model's trainable parts; frozen layers lie outside them): every
// optimiser updates the spans exactly as it updates a buffer holding only their values, and
// leaves the rest of the parameters and of its state as they were — on the plain TypeScript
// loops and on the WebAssembly Adam that keeps each span's m and v between steps, when the spans
// change, and through getState.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getBackend, referenceBackend, setBackend } from '../src/kernels/index.js';
import { clipGate } from '../src/optim/clip.js';
import { getOptimizer, type Optimizer, type Spans } from '../src/optim/optimizers.js';
import { rng } from '../src/tensor/rng.js';

const N = 70000; // two threads' Adam from 2^16 values
const CONFIGS: [string, Record<string, number | boolean>][] = [
  ['sgd', { learningRate: 0.1, momentum: 0.9, nesterov: true }],
  ['adam', { learningRate: 0.01 }],
  ['adamw', { learningRate: 0.01, weightDecay: 0.1 }],
  ['adam', { learningRate: 0.01, amsgrad: true }],
  ['rmsprop', { learningRate: 0.01, momentum: 0.5, centered: true }],
  ['adagrad', { learningRate: 0.05 }],
];

const gradsAt = (step: number, n: number): Float32Array => {
  const r = rng(100 + step);
  return Float32Array.from({ length: n }, () => r.uniform(-1, 1));
};

/** The spans' values side by side in one buffer. */
const gather = (a: Float32Array, spans: Spans): Float32Array => {
  const out = new Float32Array(spans.reduce((s, [, n]) => s + n, 0));
  let k = 0;
  for (const [o, n] of spans) { out.set(a.subarray(o, o + n), k); k += n; }
  return out;
};

function onBackend<T>(name: 'reference' | 'default', f: () => T): T {
  const prev = getBackend();
  if (name === 'reference') setBackend(referenceBackend);
  try { return f(); } finally { setBackend(prev); }
}

test('every optimiser on spans: the spans as in a buffer of their values alone (bits), the rest of the parameters and state untouched', () => {
  const spans: Spans = [[100, 30000], [40000, 25000]];
  for (const backend of ['reference', 'default'] as const) {
    for (const [name, cfg] of CONFIGS) {
      const what = `${name} ${JSON.stringify(cfg)} (${backend})`;
      onBackend(backend, () => {
        const p0 = gradsAt(0, N), params = Float32Array.from(p0), compact = gather(p0, spans);
        const full: Optimizer = getOptimizer(name, cfg), alone: Optimizer = getOptimizer(name, cfg);
        for (let s = 1; s <= 3; s++) {
          const g = gradsAt(s, N);
          full.step(params, Float32Array.from(g), undefined, spans);
          alone.step(compact, gather(g, spans));
        }
        assert.deepEqual(gather(params, spans), compact, `${what}: the spans`);
        params.forEach((v, i) => { if (!spans.some(([o, n]) => i >= o && i < o + n) && v !== p0[i]) assert.fail(`${what}: parameter ${i} outside the spans moved`); });
        const sf = full.getState().slots, sa = alone.getState().slots;
        for (const k of Object.keys(sa)) {
          assert.deepEqual(gather(sf[k] as Float32Array, spans), sa[k], `${what}: slot ${k} in the spans`);
          const init = name === 'adagrad' ? 0.1 : 0;
          assert.equal((sf[k] as Float32Array)[50], Math.fround(init), `${what}: slot ${k} before the first span`);
          assert.equal((sf[k] as Float32Array)[35000], Math.fround(init), `${what}: slot ${k} between the spans`);
        }
      });
    }
  }
});

test('Adam on the WebAssembly backend: new spans (and none) continue from the right state; the gate hears the spans\' norm and clips them', () => {
  const run = (backend: 'reference' | 'default') => onBackend(backend, () => {
    const params = gradsAt(0, N), opt = getOptimizer('adam', { learningRate: 0.01 });
    const norms: number[] = [];
    const plan: (Spans | undefined)[] = [[[0, 50000]], [[0, 50000]], [[10000, 20000], [45000, 25000]], undefined, [[0, 50000]]];
    plan.forEach((spans, s) => {
      const g = gradsAt(s + 1, N);
      const parts = spans ? spans.map(([o, n]) => g.subarray(o, o + n)) : g;
      opt.step(params, g, clipGate(parts, 5, (x) => norms.push(x)), spans);
    });
    return { params, norms, state: opt.getState().slots };
  });
  assert.ok(getBackend().adamUpdate && getBackend().adamSync, `the default backend (${getBackend().name}) runs Adam in its kernel and keeps m and v`);
  const ref = run('reference'), wasm = run('default');
  assert.deepEqual(wasm.params, ref.params);
  assert.deepEqual(wasm.norms, ref.norms);
  assert.deepEqual(wasm.state, ref.state);
  // The first step's norm: the span's gradients alone.
  const g1 = gradsAt(1, N).subarray(0, 50000);
  assert.ok(Math.abs(ref.norms[0]! - Math.sqrt(g1.reduce((a, x) => a + x * x, 0))) < 1e-9 * ref.norms[0]!);
  assert.ok(ref.norms.every((n) => n > 5), 'every step clipped');
});

test('spans out of order, overlapping or outside the buffer are refused', () => {
  const opt = getOptimizer('sgd', { learningRate: 0.1 }), p = new Float32Array(10), g = new Float32Array(10);
  assert.throws(() => opt.step(p, g, undefined, [[5, 3], [0, 2]]), /spans must be \[offset, size\] pairs in order, without overlaps, inside the 10 values; got \[0, 2\] after 8/);
  assert.throws(() => opt.step(p, g, undefined, [[8, 3]]), /got \[8, 3\] after 0/);
});
