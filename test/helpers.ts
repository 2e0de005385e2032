// Test harness: closeness checks and finite-difference gradients.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { F } from '../src/kernels/types.js';
import type { Dense } from '../src/models/data-input.js';
import type { GraphModel } from '../src/models/functional.js';
import { loadModel, saveModel } from '../src/models/node/model-io.js';
import type { Model } from '../src/models/sequential.js';
import { optimizers } from '../src/optim/index.js';
import { rng } from '../src/tensor/rng.js';

/** Assert |a - b| <= atol + rtol·|b| elementwise, naming the first offending index. */
export function assertClose(a: ArrayLike<number>, b: ArrayLike<number>, atol: number, rtol: number, what: string): void {
  assert.equal(a.length, b.length, `${what}: length ${a.length} vs ${b.length}`);
  let worst = -1, worstErr = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!, y = b[i]!;
    if (Number.isNaN(x) !== Number.isNaN(y)) assert.fail(`${what}[${i}]: ${x} vs ${y}`);
    if (x === y) continue;
    const err = Math.abs(x - y) - (atol + rtol * Math.abs(y));
    if (!(err <= 0) && (worst < 0 || err > worstErr)) { worst = i; worstErr = err; }
  }
  if (worst >= 0) assert.fail(`${what}[${worst}]: got ${a[worst]} expected ${b[worst]} (atol ${atol}, rtol ${rtol})`);
}

export function randomArray(n: number, seed: number, scale = 1, dtype: 'float32' | 'float64' = 'float64'): F {
  const r = rng(seed);
  const out = dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = r.uniform(-scale, scale);
  return out;
}

/**
 * Central finite differences of a scalar function of the values in `x` (perturbed in place).
 * Returns the numerical gradient for each index.
 */
export function numericalGrad(x: F, f: () => number, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + eps; const fp = f();
    x[i] = v - eps; const fm = f();
    x[i] = v;
    g[i] = (fp - fm) / (2 * eps);
  }
  return g;
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * A float32 model's parameter gradients (`grads`, read after a step that changed nothing) against
 * central differences of `loss` with a step of `eps` (1e-2), at the given indices of `params`: each within
 * 2e-3 + 5% of the numerical value. Returns how many numerical values exceed 1e-3 (checks that
 * say something), for the caller to require enough of them.
 */
export function checkParamGradients(params: Float32Array, grads: ArrayLike<number>, loss: () => number, indices: Iterable<number>, eps = 1e-2): number {
  let informative = 0;
  for (const i of indices) {
    const v = params[i]!;
    params[i] = v + eps; const fp = loss();
    params[i] = v - eps; const fm = loss();
    params[i] = v;
    const num = (fp - fm) / (2 * eps);
    assert.ok(Math.abs(num - grads[i]!) <= 2e-3 + 0.05 * Math.abs(num), `param ${i}: numerical ${num} vs analytic ${grads[i]}`);
    if (Math.abs(num) > 1e-3) informative++;
  }
  return informative;
}

/**
 * A classifier's parameter gradients against finite differences (checkParamGradients, every
 * parameter): compiled with a step that changes nothing (SGD, rate 0) and the sparse
 * cross-entropy, one training step on (xs, y), then the check. Returns the informative count.
 */
export function checkModelGradients(m: Model, xs: Dense | Dense[], y: Dense, eps = 1e-2): number {
  m.compile({ optimizer: optimizers.sgd({ learningRate: 0 }), loss: 'sparseCategoricalCrossentropy' });
  m.trainOnBatch(xs, y);
  return checkParamGradients(m.params, Float64Array.from(m.grads), () => m.evaluate(xs, y).loss!, m.params.keys(), eps);
}

/**
 * A functional model after one Adam step on (xs, y), saved to a temporary directory and loaded
 * back: asserts the loaded model predicts xs with the same bits, and returns it (for its configs).
 */
export async function saveLoadRoundTrip(m: GraphModel, xs: Dense | Dense[], y: Dense): Promise<GraphModel> {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-roundtrip-'));
  try {
    m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    m.trainOnBatch(xs, y);
    await saveModel(m, join(dir, 'model'));
    const back = await loadModel<GraphModel>(join(dir, 'model'));
    assert.deepEqual(back.predict(xs).data, m.predict(xs).data, 'predictions after save -> load');
    return back;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
