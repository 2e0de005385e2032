// Optimisers, clipping and schedules.
//
// Each optimiser is checked (1) against a slow, per-element float64 implementation of its
// published formula written independently below, over several steps and configurations, and
// (2) against torch.optim trajectories stored in test/golden/optim.json
// (tools/golden/make_optim_golden.py; torch is not needed to run the tests).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  SGD, Adam, AdamW, RMSprop, Adagrad, optimizers, getOptimizer, serializeOptimizer, deserializeOptimizer,
  globalNorm, clipByGlobalNorm, clipByValue,
  constantSchedule, stepDecay, exponentialDecay, cosineDecay, piecewiseConstant, linearWarmup, scheduleFromJSON,
  ReduceLROnPlateau, type Optimizer,
} from '../src/optim/index.js';
import type { Backend, F } from '../src/kernels/types.js';
import { clipGate, sumSquaresOf } from '../src/optim/clip.js';
import { getBackend as currentBackend, referenceBackend, setBackend as useBackend } from '../src/kernels/index.js';
import { tryLoadWasmBackend, wasmVariants } from '../src/kernels/wasm/backend.js';
import { ThreadedWasmBackend, threadedUnavailableReason } from '../src/kernels/wasm/threaded.js';
import * as rnnApi from '../src/index.js';
import { assertClose } from './helpers.js';
import { rng } from '../src/tensor/rng.js';

// ---------------------------------------------------------------------------------------------
// Reference implementations: plain number[] arithmetic, straight from the papers / library docs.

type Cfg = Record<string, number | boolean | string>;
type RefStep = (p: number[], g: number[], lr: number) => void;

function refSGD(c: Cfg): RefStep {
  // PyTorch SGD docs: g += wd·p; b_1 = g, b_t = μ b_{t-1} + (1-τ) g; nesterov: g = g + μ b else g = b; p -= lr·g
  const mu = (c.momentum as number) ?? 0, tau = (c.dampening as number) ?? 0, wd = (c.weightDecay as number) ?? 0;
  let b: number[] | null = null;
  return (p, g, lr) => {
    const gg = g.map((gi, i) => gi + wd * p[i]!);
    let d = gg;
    if (mu !== 0) {
      b = b === null ? gg.slice() : b.map((bi, i) => mu * bi + (1 - tau) * gg[i]!);
      d = c.nesterov ? gg.map((gi, i) => gi + mu * b![i]!) : b;
    }
    for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * d[i]!;
  };
}

function refAdam(c: Cfg, decoupled: boolean): RefStep {
  const b1 = (c.beta1 as number) ?? 0.9, b2 = (c.beta2 as number) ?? 0.999, eps = (c.epsilon as number) ?? 1e-7;
  const wd = (c.weightDecay as number) ?? (decoupled ? 0.004 : 0), torch = c.epsilonMode === 'torch', ams = c.amsgrad === true;
  let m: number[] | null = null, v: number[] | null = null, vmax: number[] | null = null, t = 0;
  return (p, g, lr) => {
    t++;
    if (decoupled) for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * wd * p[i]!;
    const gg = decoupled ? g.slice() : g.map((gi, i) => gi + wd * p[i]!);
    m = (m ?? gg.map(() => 0)).map((mi, i) => b1 * mi + (1 - b1) * gg[i]!);
    v = (v ?? gg.map(() => 0)).map((vi, i) => b2 * vi + (1 - b2) * gg[i]! ** 2);
    const vUse = ams ? (vmax = (vmax ?? gg.map(() => 0)).map((x, i) => Math.max(x, v![i]!))) : v;
    for (let i = 0; i < p.length; i++) {
      if (torch) {
        // PyTorch: m̂ = m/(1-β1^t), v̂ = v/(1-β2^t), p -= lr·m̂/(√v̂ + ε)
        const mHat = m[i]! / (1 - b1 ** t), vHat = vUse[i]! / (1 - b2 ** t);
        p[i] = p[i]! - (lr * mHat) / (Math.sqrt(vHat) + eps);
      } else {
        // Keras: lr_t = lr·√(1-β2^t)/(1-β1^t), p -= lr_t·m/(√v + ε̂)
        const lrT = (lr * Math.sqrt(1 - b2 ** t)) / (1 - b1 ** t);
        p[i] = p[i]! - (lrT * m[i]!) / (Math.sqrt(vUse[i]!) + eps);
      }
    }
  };
}

function refRMSprop(c: Cfg): RefStep {
  const rho = (c.rho as number) ?? 0.9, eps = (c.epsilon as number) ?? 1e-7, mu = (c.momentum as number) ?? 0;
  const wd = (c.weightDecay as number) ?? 0, torch = c.epsilonMode === 'torch', centered = c.centered === true;
  const n = (k: number[] | null, len: number): number[] => k ?? new Array<number>(len).fill(0);
  let v: number[] | null = null, mg: number[] | null = null, b: number[] | null = null;
  return (p, g, lr) => {
    const gg = g.map((gi, i) => gi + wd * p[i]!);
    v = n(v, p.length).map((vi, i) => rho * vi + (1 - rho) * gg[i]! ** 2);
    if (centered) mg = n(mg, p.length).map((a, i) => rho * a + (1 - rho) * gg[i]!);
    const s = v.map((vi, i) => (centered ? vi - mg![i]! ** 2 : vi));
    const step = gg.map((gi, i) => gi / (torch ? Math.sqrt(s[i]!) + eps : Math.sqrt(s[i]! + eps)));
    if (mu > 0) b = n(b, p.length).map((bi, i) => mu * bi + step[i]!);
    for (let i = 0; i < p.length; i++) p[i] = p[i]! - lr * (mu > 0 ? b![i]! : step[i]!);
  };
}

function refAdagrad(c: Cfg): RefStep {
  const init = (c.initialAccumulatorValue as number) ?? 0.1, eps = (c.epsilon as number) ?? 1e-7;
  const wd = (c.weightDecay as number) ?? 0, torch = c.epsilonMode === 'torch';
  let a: number[] | null = null;
  return (p, g, lr) => {
    const gg = g.map((gi, i) => gi + wd * p[i]!);
    a = (a ?? gg.map(() => init)).map((ai, i) => ai + gg[i]! ** 2);
    for (let i = 0; i < p.length; i++) {
      p[i] = p[i]! - (lr * gg[i]!) / (torch ? Math.sqrt(a[i]!) + eps : Math.sqrt(a[i]! + eps));
    }
  };
}

function makeRef(kind: string, c: Cfg): RefStep {
  switch (kind) {
    case 'sgd': return refSGD(c);
    case 'adam': return refAdam(c, false);
    case 'adamw': return refAdam(c, true);
    case 'rmsprop': return refRMSprop(c);
    case 'adagrad': return refAdagrad(c);
  }
  throw new Error(kind);
}

// Fixed parameter vector and gradient sequence, mixed magnitudes incl. zeros.
function problem(n: number, steps: number, seed: number): { p0: number[]; grads: number[][] } {
  const r = rng(seed);
  const scales = [1, 0.1, 1e-3, 1e-6, 10, 0, 3];
  const p0 = Array.from({ length: n }, () => r.uniform(-1, 1));
  const grads = Array.from({ length: steps }, (_, s) =>
    Array.from({ length: n }, (_, i) => r.uniform(-1, 1) * scales[i % scales.length]! * (s === 2 ? -3 : 1)));
  return { p0, grads };
}

const configs: [string, Cfg][] = [
  ['sgd', {}],
  ['sgd', { learningRate: 0.1, momentum: 0.9 }],
  ['sgd', { learningRate: 0.05, momentum: 0.8, dampening: 0.3, weightDecay: 0.01 }],
  ['sgd', { learningRate: 0.1, momentum: 0.9, nesterov: true, weightDecay: 0.02 }],
  ['adam', {}],
  ['adam', { learningRate: 0.01, epsilonMode: 'torch', epsilon: 1e-8 }],
  ['adam', { learningRate: 0.01, amsgrad: true, weightDecay: 0.01 }],
  ['adam', { learningRate: 0.01, amsgrad: true, beta1: 0.5, beta2: 0.9, epsilon: 1e-3, epsilonMode: 'torch' }],
  ['adam', { learningRate: 0.02, epsilon: 1e-2 }], // big epsilon: the two placements differ visibly
  ['adamw', {}],
  ['adamw', { learningRate: 0.05, weightDecay: 0.1, amsgrad: true, epsilonMode: 'torch' }],
  ['rmsprop', {}],
  ['rmsprop', { learningRate: 0.01, epsilonMode: 'torch', epsilon: 1e-8 }],
  ['rmsprop', { learningRate: 0.01, centered: true, momentum: 0.7, weightDecay: 0.01 }],
  ['rmsprop', { learningRate: 0.01, centered: true, rho: 0.95, epsilon: 1e-4, epsilonMode: 'torch' }],
  ['adagrad', {}],
  ['adagrad', { learningRate: 0.1, initialAccumulatorValue: 0, epsilon: 1e-10, epsilonMode: 'torch' }],
  ['adagrad', { learningRate: 0.1, weightDecay: 0.05, epsilon: 1e-2 }],
];

for (const [kind, cfg] of configs) {
  for (const dtype of ['float64', 'float32'] as const) {
    test(`${kind} ${JSON.stringify(cfg)} ${dtype} matches the reference formula over 6 steps`, () => {
      const N = 15, steps = 6;
      const { p0, grads } = problem(N, steps, 99);
      const opt = getOptimizer(kind, cfg);
      const ref = makeRef(kind, cfg);
      const Ctor = dtype === 'float64' ? Float64Array : Float32Array;
      const params = Ctor.from(p0);
      const refP = dtype === 'float64' ? p0.slice() : Array.from(params); // start from identical values
      for (let s = 0; s < steps; s++) {
        const lr = opt.learningRate;
        opt.step(params, Ctor.from(grads[s]!));
        ref(refP, dtype === 'float64' ? grads[s]! : Array.from(Ctor.from(grads[s]!)), lr);
        if (dtype === 'float64') assertClose(params, refP, 1e-15, 1e-12, `${kind} step ${s + 1}`);
        else assertClose(params, refP, 1e-6, 1e-5, `${kind} f32 step ${s + 1}`);
      }
      assert.equal(opt.iterations, steps);
      // slots have the params' element type and length
      for (const [name, slot] of Object.entries(opt.getState().slots)) {
        assert.ok(slot instanceof Ctor, `slot ${name} dtype`);
        assert.equal(slot.length, N);
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------
// PyTorch golden trajectories

interface Golden {
  params0: number[];
  grads: number[][];
  cases: { name: string; optimizer: string; rnnkit: Cfg; lrs: number[] | null; params: number[][]; torch: string }[];
}
const golden = JSON.parse(readFileSync(new URL('../../test/golden/optim.json', import.meta.url), 'utf8')) as Golden;

for (const c of golden.cases) {
  test(`matches ${c.torch} (golden '${c.name}')`, () => {
    const opt = getOptimizer(c.optimizer, c.rnnkit);
    const p = Float64Array.from(golden.params0);
    golden.grads.forEach((g, s) => {
      if (c.lrs) opt.learningRate = c.lrs[s]!;
      opt.step(p, Float64Array.from(g));
      assertClose(p, c.params[s]!, 1e-14, 1e-12, `${c.name} step ${s + 1}`);
    });
  });
  test(`float32 buffers track ${c.torch} (golden '${c.name}')`, () => {
    const opt = getOptimizer(c.optimizer, c.rnnkit);
    const p = Float32Array.from(golden.params0);
    golden.grads.forEach((g, s) => {
      if (c.lrs) opt.learningRate = c.lrs[s]!;
      opt.step(p, Float32Array.from(g));
    });
    assertClose(p, c.params[c.params.length - 1]!, 2e-6, 2e-5, `${c.name} f32 final`);
  });
}

test('golden covers every optimiser, and PyTorch defaults differ from Keras only where documented', () => {
  const kinds = new Set(golden.cases.map((c) => c.optimizer));
  for (const k of ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad']) assert.ok(kinds.has(k), k);
  assert.ok(golden.cases.some((c) => c.rnnkit.centered === true));
  assert.ok(golden.cases.some((c) => c.rnnkit.nesterov === true));
});

test("Keras-epsilon Adam vs the PyTorch golden: difference within the derived bound", () => {
  // Keras ε̂ placement equals PyTorch's with ε_t = ε/√(1-β2^t). Per element and step the two
  // updates differ by |Δ| = (lr/bc1)·|m|·|1/(a+ε) - 1/(a+ε/s)|, a = √(v/bc2), s = √bc2,
  //   <= (lr/bc1)·|m|·ε·(1/s - 1)/(a+ε)²,
  // and (no weight decay) m, v do not depend on the parameters, so the per-step bounds add up.
  const c = golden.cases.find((x) => x.name === 'adam')!;
  const { learningRate: lr, beta1: b1, beta2: b2, epsilon: eps } = c.rnnkit as Record<string, number>;
  const keras = new Adam({ learningRate: lr, beta1: b1, beta2: b2, epsilon: eps }); // epsilonMode 'keras'
  const p = Float64Array.from(golden.params0), n = p.length;
  const m = new Float64Array(n), v = new Float64Array(n), bound = new Float64Array(n);
  golden.grads.forEach((g, s) => {
    const t = s + 1, bc1 = 1 - b1 ** t, bc2 = 1 - b2 ** t, sq = Math.sqrt(bc2);
    for (let i = 0; i < n; i++) {
      m[i] = b1 * m[i]! + (1 - b1) * g[i]!;
      v[i] = b2 * v[i]! + (1 - b2) * g[i]! ** 2;
      const a = Math.sqrt(v[i]! / bc2);
      bound[i] = bound[i]! + ((lr / bc1) * Math.abs(m[i]!) * eps * (1 / sq - 1)) / (a + eps) ** 2;
    }
    keras.step(p, Float64Array.from(g));
  });
  const final = c.params[c.params.length - 1]!;
  let sawDifference = false;
  for (let i = 0; i < n; i++) {
    const d = Math.abs(p[i]! - final[i]!);
    assert.ok(d <= bound[i]! * (1 + 1e-9) + 1e-15, `element ${i}: |Δ| ${d} > bound ${bound[i]}`);
    if (d > 1e-12) sawDifference = true;
  }
  assert.ok(sawDifference, 'the tiny-gradient coordinates should expose the epsilon placement');
  // and with epsilonMode 'torch' it is exact (checked by the golden test above)
});

// ---------------------------------------------------------------------------------------------
// API: defaults, names, config round trip, state

test('defaults follow Keras', () => {
  assert.deepEqual(optimizers.adam().getConfig(),
    { learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, amsgrad: false, weightDecay: 0, epsilonMode: 'keras' });
  assert.deepEqual(optimizers.adamw().getConfig().weightDecay, 0.004);
  assert.deepEqual(optimizers.sgd().getConfig(), { learningRate: 0.01, momentum: 0, nesterov: false, dampening: 0, weightDecay: 0 });
  assert.deepEqual(optimizers.rmsprop().getConfig(),
    { learningRate: 1e-3, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false, weightDecay: 0, epsilonMode: 'keras' });
  assert.deepEqual(optimizers.adagrad().getConfig(),
    { learningRate: 1e-3, initialAccumulatorValue: 0.1, epsilon: 1e-7, weightDecay: 0, epsilonMode: 'keras' });
  assert.equal(optimizers.sgd(0.5).learningRate, 0.5); // TF.js positional learning rate
});

test('getOptimizer: case-insensitive names, instances pass through, unknown names listed', () => {
  for (const [name, cls] of [['adam', 'adam'], ['Adam', 'adam'], ['SGD', 'sgd'], ['RMSprop', 'rmsprop'], ['AdamW', 'adamw'], ['adagrad', 'adagrad']]) {
    assert.equal(getOptimizer(name!).className, cls);
  }
  assert.ok(getOptimizer('adamw') instanceof AdamW && getOptimizer('adam') instanceof Adam);
  assert.ok(getOptimizer('sgd') instanceof SGD && getOptimizer('rmsprop') instanceof RMSprop && getOptimizer('adagrad') instanceof Adagrad);
  const o = optimizers.adam();
  assert.equal(getOptimizer(o), o);
  assert.throws(() => getOptimizer(o, { learningRate: 1 }), /existing Optimizer/);
  assert.throws(() => getOptimizer('adamax'), /unknown optimizer 'adamax'; valid names: sgd, adam, adamw, rmsprop, adagrad/);
});

test('config validation: unknown keys, wrong types, ranges; Keras snake_case keys accepted', () => {
  assert.throws(() => optimizers.adam({ learningrate: 1 } as never), /unknown config option 'learningrate'; valid options: learningRate/);
  assert.throws(() => optimizers.adam({ amsgrad: 1 } as never), /amsgrad' must be a boolean/);
  assert.throws(() => optimizers.adam({ beta1: 1.5 }), /beta1 must be in \[0, 1\]/);
  assert.throws(() => optimizers.sgd({ learningRate: -1 }), /learningRate must be >= 0/);
  assert.throws(() => optimizers.sgd({ learningRate: NaN }), /must be finite/);
  assert.throws(() => optimizers.sgd({ nesterov: true }), /nesterov requires momentum > 0/);
  assert.throws(() => optimizers.adam({ epsilonMode: 'pytorch' as never }), /epsilonMode must be 'keras' or 'torch'/);
  const a = getOptimizer('adam', { learning_rate: 0.1, beta_1: 0.8, beta_2: 0.95 }) as Adam;
  assert.deepEqual([a.learningRate, a.beta1, a.beta2], [0.1, 0.8, 0.95]);
  assert.equal(getOptimizer('adagrad', { initial_accumulator_value: 0.5, lr: 0.2 }).getConfig().initialAccumulatorValue, 0.5);
});

function run(opt: Optimizer, p: F, grads: number[][]): void {
  for (const g of grads) opt.step(p, Float64Array.from(g));
}

test('getConfig round-trips through JSON and getOptimizer / deserializeOptimizer', () => {
  const { p0, grads } = problem(9, 5, 3);
  for (const [kind, cfg] of configs) {
    const a = getOptimizer(kind, cfg);
    const json = JSON.parse(JSON.stringify(serializeOptimizer(a))) as { className: string; config: Cfg };
    const b = deserializeOptimizer(json);
    const c = getOptimizer(a.className, a.getConfig());
    assert.deepEqual(b.getConfig(), a.getConfig());
    const pa = Float64Array.from(p0), pb = Float64Array.from(p0), pc = Float64Array.from(p0);
    run(a, pa, grads); run(b, pb, grads); run(c, pc, grads);
    assert.deepEqual(pb, pa, kind);
    assert.deepEqual(pc, pa, kind);
  }
});

test('getState / setState resume bit-identically (also through a JSON checkpoint)', () => {
  const { p0, grads } = problem(11, 8, 5);
  for (const [kind, cfg] of configs) {
    const whole = getOptimizer(kind, cfg), pw = Float32Array.from(p0);
    run(whole, pw, grads);

    const first = getOptimizer(kind, cfg), pf = Float32Array.from(p0);
    run(first, pf, grads.slice(0, 3));
    const st = first.getState();
    const json = JSON.parse(JSON.stringify({ iterations: st.iterations, slots: Object.fromEntries(Object.entries(st.slots).map(([k, v]) => [k, Array.from(v)])) })) as
      { iterations: number; slots: Record<string, number[]> };
    const second = getOptimizer(kind, cfg);
    second.setState({ iterations: json.iterations, slots: Object.fromEntries(Object.entries(json.slots).map(([k, v]) => [k, Float32Array.from(v)])) });
    run(second, pf, grads.slice(3));
    assert.deepEqual(pf, pw, `${kind} ${JSON.stringify(cfg)}`);
    assert.equal(second.iterations, 8);
  }
});

test('getState returns copies; slots are lazily allocated; sizes are validated', () => {
  const opt = optimizers.adam();
  assert.deepEqual(opt.getState(), { iterations: 0, slots: {} });
  const p = new Float32Array(4), g = Float32Array.from([1, 2, 3, 4]);
  opt.step(p, g);
  const s = opt.getState();
  assert.deepEqual(Object.keys(s.slots).sort(), ['momentum', 'velocity']);
  s.slots.momentum!.fill(123);
  assert.notEqual(opt.getState().slots.momentum![0], 123);
  assert.deepEqual(Object.keys(optimizers.adam({ amsgrad: true }).getState().slots), []);
  const ag = optimizers.adagrad({ initialAccumulatorValue: 0.25 });
  ag.step(new Float64Array(3), new Float64Array(3));
  assert.deepEqual(Array.from(ag.getState().slots.accumulator!), [0.25, 0.25, 0.25]);
  // size mismatches
  assert.throws(() => opt.step(new Float32Array(5), new Float32Array(5)), /built for 4 parameters but the buffer has 5/);
  assert.throws(() => opt.step(new Float32Array(4), new Float32Array(3)), /params has 4 values but grads has 3/);
  assert.throws(() => opt.setState({ iterations: 1, slots: { momentum: new Float32Array(5), velocity: new Float32Array(5) } }),
    /slot 'momentum' has 5 values, expected 4/);
  assert.throws(() => opt.setState({ iterations: 1, slots: { momentum: new Float32Array(4) } }), /missing: velocity/);
  assert.throws(() => opt.setState({ iterations: 1, slots: { momentum: new Float32Array(4), velocity: new Float32Array(4), vhat: new Float32Array(4) } }),
    /unexpected: vhat/);
  assert.throws(() => opt.setState({ iterations: -1, slots: {} }), /non-negative integer/);
  assert.throws(() => opt.setState({ iterations: 1, slots: { momentum: Float32Array.of(0, 0, NaN, 0), velocity: new Float32Array(4) } }), /'momentum'\[2\] is NaN/);
  const fresh = optimizers.adam();
  assert.throws(() => fresh.setState({ iterations: 2, slots: { momentum: new Float32Array(3), velocity: new Float32Array(4) } }), /'velocity' has 4 values, expected 3/);
  // empty slots = not built: re-allocated at the next step for any size
  opt.setState({ iterations: 0, slots: {} });
  opt.step(new Float32Array(6), new Float32Array(6));
  assert.equal(opt.getState().slots.velocity!.length, 6);
  assert.throws(() => opt.step(new Float32Array(4), new Float32Array(4)), /learningRate|built for 6/);
  opt.learningRate = -1;
  assert.throws(() => opt.step(new Float32Array(6), new Float32Array(6)), /learningRate must be a finite number >= 0/);
});

test('AdamW with weightDecay 0 equals Adam; AdamW decay is decoupled (differs from Adam L2)', () => {
  const { p0, grads } = problem(7, 4, 8);
  const pa = Float64Array.from(p0), pw = Float64Array.from(p0), pl2 = Float64Array.from(p0);
  run(optimizers.adam({ learningRate: 0.01 }), pa, grads);
  run(optimizers.adamw({ learningRate: 0.01, weightDecay: 0 }), pw, grads);
  assert.deepEqual(pw, pa);
  const pd = Float64Array.from(p0);
  run(optimizers.adamw({ learningRate: 0.01, weightDecay: 0.1 }), pd, grads);
  run(optimizers.adam({ learningRate: 0.01, weightDecay: 0.1 }), pl2, grads);
  assert.ok(pd.some((x, i) => Math.abs(x - pl2[i]!) > 1e-6));
  // a zero gradient with decoupled decay only shrinks the weights: p·(1 - lr·wd)^t
  const pz = Float64Array.of(2, -4), opt = optimizers.adamw({ learningRate: 0.1, weightDecay: 0.5 });
  for (let t = 0; t < 3; t++) opt.step(pz, new Float64Array(2));
  assertClose(pz, [2 * 0.95 ** 3, -4 * 0.95 ** 3], 0, 1e-15, 'pure decay');
});

// ---------------------------------------------------------------------------------------------
// clipping

test('globalNorm: matches a naive float64 sum; several buffers; NaN / Inf; overflow-safe', () => {
  const a = Float32Array.from({ length: 1000 }, (_, i) => Math.sin(i) * 3);
  const b = Float64Array.from({ length: 17 }, (_, i) => i - 8);
  let s = 0;
  for (const x of a) s += x * x;
  assertClose([globalNorm(a)], [Math.sqrt(s)], 0, 1e-14, 'single');
  for (const x of b) s += x * x;
  assertClose([globalNorm([a, b])], [Math.sqrt(s)], 0, 1e-14, 'two buffers');
  assert.equal(globalNorm(new Float32Array(0)), 0);
  assert.ok(Number.isNaN(globalNorm(Float32Array.of(1, NaN, 2))));
  assert.equal(globalNorm(Float32Array.of(1, Infinity, 2)), Infinity);
  assert.ok(Number.isNaN(globalNorm(Float64Array.of(Infinity, NaN))));
  // squares overflow float64 but the norm does not
  assertClose([globalNorm(Float64Array.of(3e200, 4e200))], [5e200], 0, 1e-15, 'overflow rescale');
  assertClose([globalNorm(Float64Array.of(3e-200, 4e-200))], [5e-200], 0, 1e-15, 'underflow rescale');
  assertClose([globalNorm(Float64Array.of(0, 3e-320, 0, 4e-320))], [5e-320], 0, 1e-2, 'subnormal');
  assert.equal(globalNorm(new Float64Array(10)), 0);
  // large float32 buffer: 4M values of 0.5 -> norm 0.5·2048 exactly (no float32 accumulation drift)
  const big = new Float32Array(1 << 22).fill(0.5);
  assert.equal(globalNorm(big), 1024);
  const big2 = new Float32Array(1 << 22).fill(0.1);
  assertClose([globalNorm(big2)], [Math.sqrt((1 << 22) * Math.fround(0.1) ** 2)], 0, 1e-13, 'big 0.1');
});

test('clipByGlobalNorm: returns the pre-clip norm, scales to maxNorm, leaves small / non-finite untouched', () => {
  const g = Float64Array.of(3, -4, 0);
  assert.equal(clipByGlobalNorm(g, 1), 5);
  assertClose(g, [0.6, -0.8, 0], 0, 1e-15, 'scaled');
  assertClose([globalNorm(g)], [1], 0, 1e-15, 'post norm');
  const small = Float32Array.of(0.1, 0.2);
  const copy = small.slice();
  assertClose([clipByGlobalNorm(small, 1)], [Math.hypot(Math.fround(0.1), Math.fround(0.2))], 0, 1e-15, 'norm');
  assert.deepEqual(small, copy);
  const bad = Float32Array.of(1, NaN, 100);
  assert.ok(Number.isNaN(clipByGlobalNorm(bad, 1)));
  assert.equal(bad[2], 100);
  const inf = Float32Array.of(1, -Infinity);
  assert.equal(clipByGlobalNorm(inf, 1), Infinity);
  assert.deepEqual(Array.from(inf), [1, -Infinity]);
  // several buffers share one norm
  const x = Float32Array.of(3), y = Float64Array.of(4);
  assert.equal(clipByGlobalNorm([x, y], 2.5), 5);
  assertClose([x[0]!, y[0]!], [1.5, 2], 1e-7, 0, 'shared scale');
  assert.throws(() => clipByGlobalNorm(g, 0), /maxNorm must be > 0/);
});

test('clipByValue: symmetric and explicit ranges, NaN kept, count returned', () => {
  const g = Float32Array.of(-5, -0.5, 0, 0.5, 5, NaN);
  assert.equal(clipByValue(g, 1), 2);
  assert.deepEqual(Array.from(g), [-1, -0.5, 0, 0.5, 1, NaN]);
  const h = Float64Array.of(-3, 0.2, 3);
  assert.equal(clipByValue(h, -1, 0.1), 3);
  assert.deepEqual(Array.from(h), [-1, 0.1, 0.1]);
  assert.throws(() => clipByValue(h, -1), /invalid range/);
});

// ---------------------------------------------------------------------------------------------
// schedules

test('schedules follow their formulas', () => {
  const sd = stepDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5 });
  assert.deepEqual([0, 9, 10, 25, -3].map((s) => sd.at(s)), [0.1, 0.1, 0.05, 0.025, 0.1]);
  const ed = exponentialDecay({ initialLearningRate: 0.1, decaySteps: 100, decayRate: 0.96 });
  assertClose([ed.at(0), ed.at(50), ed.at(250)], [0.1, 0.1 * 0.96 ** 0.5, 0.1 * 0.96 ** 2.5], 0, 1e-15, 'exp');
  const eds = exponentialDecay({ initialLearningRate: 0.1, decaySteps: 100, decayRate: 0.96, staircase: true });
  assertClose([eds.at(99), eds.at(250)], [0.1, 0.1 * 0.96 ** 2], 0, 1e-15, 'staircase');
  const cd = cosineDecay({ initialLearningRate: 1, decaySteps: 100, alpha: 0.1 });
  assertClose([cd.at(0), cd.at(50), cd.at(100), cd.at(1000)], [1, 0.1 + 0.9 * 0.5, 0.1, 0.1], 1e-15, 0, 'cosine');
  assertClose([cd.at(25)], [0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI / 4))], 1e-15, 0, 'cosine 25');
  const pc = piecewiseConstant({ boundaries: [10, 20], values: [1, 0.5, 0.1] });
  assert.deepEqual([0, 10, 11, 20, 21].map((s) => pc.at(s)), [1, 1, 0.5, 0.5, 0.1]); // Keras: step <= boundary
  assert.equal(constantSchedule({ learningRate: 0.3 }).at(1e9), 0.3);
});

test('linearWarmup wraps any schedule; starts the wrapped schedule after warm-up', () => {
  const w = linearWarmup({ warmupSteps: 4, after: cosineDecay({ initialLearningRate: 0.8, decaySteps: 10 }) });
  assertClose([0, 1, 2, 3].map((s) => w.at(s)), [0, 0.2, 0.4, 0.6], 1e-15, 0, 'ramp');
  assertClose([w.at(4), w.at(9), w.at(14), w.at(100)], [0.8, 0.4, 0, 0], 1e-15, 0, 'then cosine from its step 0');
  const w2 = linearWarmup({ warmupSteps: 2, after: 0.5, startLearningRate: 0.1 });
  assertClose([0, 1, 2, 50].map((s) => w2.at(s)), [0.1, 0.3, 0.5, 0.5], 1e-15, 0, 'start 0.1');
  // a custom schedule object (anything with at()) is accepted
  const custom = { kind: 'mine', at: (s: number) => 1 / (1 + s) };
  const w3 = linearWarmup({ warmupSteps: 1, after: custom });
  assert.deepEqual([w3.at(0), w3.at(1), w3.at(2)], [0, 1, 0.5]);
});

test('schedules serialise to JSON (config only) and rebuild with scheduleFromJSON', () => {
  const scheds = [
    stepDecay({ initialLearningRate: 0.1, decaySteps: 7, decayRate: 0.3 }),
    exponentialDecay({ initialLearningRate: 0.1, decaySteps: 5, decayRate: 0.9, staircase: true }),
    cosineDecay({ initialLearningRate: 0.2, decaySteps: 30 }),
    piecewiseConstant({ boundaries: [3, 9], values: [0.3, 0.2, 0.1] }),
    linearWarmup({ warmupSteps: 5, startLearningRate: 0.01, after: exponentialDecay({ initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5 }) }),
    constantSchedule({ learningRate: 0.02 }),
  ];
  for (const s of scheds) {
    const json = JSON.stringify(s);
    assert.ok(!/"at"/.test(json), `no function in ${json}`);
    assert.deepEqual(Object.keys(s).includes('at'), false);
    const back = scheduleFromJSON(JSON.parse(json) as Record<string, unknown>);
    assert.equal(JSON.stringify(back), json);
    for (const step of [0, 1, 4, 5, 8, 29, 100]) assert.equal(back.at(step), s.at(step), `${s.kind} at ${step}`);
  }
  assert.deepEqual(JSON.parse(JSON.stringify(scheds[4])), {
    kind: 'linearWarmup', warmupSteps: 5, startLearningRate: 0.01,
    after: { kind: 'exponentialDecay', initialLearningRate: 0.1, decaySteps: 10, decayRate: 0.5, staircase: false },
  });
  assert.throws(() => scheduleFromJSON({ kind: 'poly' }), /unknown schedule kind 'poly'/);
  assert.throws(() => stepDecay({ initialLearningRate: 0.1, decaySteps: 0, decayRate: 0.5 }), /decaySteps must be > 0/);
  assert.throws(() => piecewiseConstant({ boundaries: [5, 3], values: [1, 2, 3] }), /strictly increasing/);
  assert.throws(() => piecewiseConstant({ boundaries: [5], values: [1] }), /one more entry/);
  assert.throws(() => sdNaN(), /step is NaN/);
});
function sdNaN(): number {
  return stepDecay({ initialLearningRate: 0.1, decaySteps: 1, decayRate: 0.5 }).at(NaN);
}

test('a schedule drives an optimiser through learningRate', () => {
  const opt = optimizers.sgd({ learningRate: 1 });
  const sched = stepDecay({ initialLearningRate: 1, decaySteps: 1, decayRate: 0.5 });
  const p = Float64Array.of(0), g = Float64Array.of(1);
  for (let s = 0; s < 3; s++) {
    opt.learningRate = sched.at(opt.iterations);
    opt.step(p, g);
  }
  assert.equal(p[0], -(1 + 0.5 + 0.25));
});

// ---------------------------------------------------------------------------------------------
// ReduceLROnPlateau

test('ReduceLROnPlateau: patience, factor, minLr (Keras semantics)', () => {
  const r = new ReduceLROnPlateau({ factor: 0.5, patience: 2, minDelta: 0, minLr: 0.03 });
  let lr = 0.1;
  const seq: number[] = [];
  for (const v of [1.0, 0.9, 0.9, 0.95, 0.8, 0.85, 0.85, 0.85, 0.85, 0.85, 0.85]) {
    lr = r.update(v, lr);
    seq.push(lr);
  }
  // improvements at 1.0, 0.9; two non-improvements -> 0.05; improvement 0.8; two more -> 0.03 (minLr);
  // after that lr == minLr so no further reduction.
  assert.deepEqual(seq, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.03, 0.03, 0.03, 0.03, 0.03]);
  assert.equal(r.best, 0.8);
});

test('ReduceLROnPlateau: minDelta, mode max, cooldown, NaN, state round trip, validation', () => {
  const r = new ReduceLROnPlateau({ factor: 0.1, patience: 1, minDelta: 0.01 });
  assert.equal(r.update(1, 1), 1);
  assert.equal(r.update(0.995, 1), 0.1); // improvement smaller than minDelta does not count
  assert.ok(r.lastReduced);

  const m = new ReduceLROnPlateau({ mode: 'max', factor: 0.5, patience: 1, minDelta: 0 });
  assert.equal(m.update(0.5, 1), 1);
  assert.equal(m.update(0.6, 1), 1);
  assert.equal(m.update(0.55, 1), 0.5);

  // Keras cooldown: the counter is decremented first and re-checked, so cooldown = 2 skips one epoch
  const c = new ReduceLROnPlateau({ factor: 0.5, patience: 1, cooldown: 2, minDelta: 0 });
  const lrs: number[] = [];
  let lr = 1;
  for (const v of [1, 2, 2, 2, 2, 2]) { lr = c.update(v, lr); lrs.push(lr); }
  assert.deepEqual(lrs, [1, 0.5, 0.5, 0.25, 0.25, 0.125]);

  const n = new ReduceLROnPlateau({ patience: 1 });
  n.update(1, 1);
  assert.equal(n.update(NaN, 1), 0.1); // NaN is never an improvement

  const a = new ReduceLROnPlateau({ factor: 0.5, patience: 3 });
  a.update(1, 1); a.update(2, 1);
  const saved = JSON.parse(JSON.stringify(a.getState())) as { best: number; wait: number; cooldownCounter: number };
  const b = new ReduceLROnPlateau(a.getConfig());
  b.setState(saved);
  assert.deepEqual([b.update(2, 1), b.update(2, 1)], [a.update(2, 1), a.update(2, 1)]);
  const fresh = new ReduceLROnPlateau();
  fresh.setState(JSON.parse(JSON.stringify(fresh.getState())) as { best: null; wait: number; cooldownCounter: number });
  assert.equal(fresh.best, Infinity);

  const opt = optimizers.adam({ learningRate: 0.01 });
  const s = new ReduceLROnPlateau({ patience: 0, factor: 0.5 });
  assert.equal(s.step(1, opt), false); // first value is an improvement over +inf
  assert.equal(s.step(1, opt), true);
  assert.equal(opt.learningRate, 0.005);

  assert.throws(() => new ReduceLROnPlateau({ factor: 1 }), /factor must be in \(0, 1\)/);
  assert.throws(() => new ReduceLROnPlateau({ mode: 'auto' as never }), /mode must be 'min' or 'max'/);
  assert.throws(() => new ReduceLROnPlateau({ patience: 1.5 }), /patience must be an integer/);
});

// ---------------------------------------------------------------------------------------------
// The step's gate: the global norm (and clipping) inside the optimiser's step


const gateBackends: { name: string; be: Backend; stop?: () => void }[] = [{ name: 'reference', be: referenceBackend }];
for (const v of wasmVariants) {
  const b = tryLoadWasmBackend(v);
  if (b) gateBackends.push({ name: b.name, be: b });
  if (threadedUnavailableReason(v) === null) {
    const t = ThreadedWasmBackend.createSync({ variant: v, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20_000 });
    gateBackends.push({ name: `${t.name} (forced)`, be: t, stop: () => t.terminate() });
  }
}

/** Gradients of many magnitudes (so that the summation order shows in the bits), n values. */
function spread(n: number, seed: number): Float32Array {
  const r = rng(seed);
  return Float32Array.from({ length: n }, () => (r.next() - 0.5) * 10 ** Math.floor(r.next() * 8 - 4));
}

test('the step gate hears Σ g² with globalNorm\'s bits on every backend (the kernel sums the copy it reads); its factor scales the gradients as clipByGlobalNorm does; null leaves everything untouched', () => {
  const prev = currentBackend();
  try {
    for (const { name, be } of gateBackends) {
      useBackend(be);
      for (const n of [1, 3, 4, 5, 1023, 1024, 1025, 4099, 20_000]) {
        const what = `${name} n=${n}`;
        const g0 = spread(n, n);
        const want = sumSquaresOf(g0);
        // Gate returning 1: the update of a plain step; the sum heard is the JavaScript's.
        const a = new Adam(0.01), b = new Adam(0.01);
        const pa = spread(n, 7), pb = pa.slice(), ga = g0.slice(), gb = g0.slice();
        let heard = NaN;
        a.step(pa, ga, (s) => { heard = s; return 1; });
        b.step(pb, gb);
        assert.equal(heard, want, `${what}: Σ g²`);
        assert.deepEqual(pa, pb, `${what}: params (factor 1)`);
        assert.deepEqual(ga, g0, `${what}: gradients untouched (factor 1)`);
        // A factor: gradients and params as clipping first, then stepping.
        const c = new Adam(0.01), d = new Adam(0.01);
        const pc = spread(n, 8), pd = pc.slice(), gc = g0.slice(), gd = g0.slice();
        const norm = Math.sqrt(want), maxNorm = norm / 3;
        const normD = rnnApi.clipByGlobalNorm(gd, maxNorm);
        let normC = NaN;
        c.step(pc, gc, clipGate(gc, maxNorm, (x) => { normC = x; }));
        d.step(pd, gd);
        assert.equal(normC, normD, `${what}: the norm`);
        assert.deepEqual(gc, gd, `${what}: clipped gradients`);
        assert.deepEqual(pc, pd, `${what}: params after the clipped step`);
        // null: nothing changes, no iteration counted.
        const e = new Adam(0.01), pe = spread(n, 9), pe0 = pe.slice(), ge = g0.slice();
        e.step(pe, ge, () => null);
        assert.deepEqual(pe, pe0, `${what}: params after a refused step`);
        assert.deepEqual(ge, g0, `${what}: gradients after a refused step`);
        assert.equal(e.iterations, 0);
        // SGD answers the gate on the JavaScript side, with the same result.
        const s1 = new SGD(0.1), s2 = new SGD(0.1);
        const q1 = spread(n, 10), q2 = q1.slice(), h1 = g0.slice(), h2 = g0.slice();
        rnnApi.clipByGlobalNorm(h2, maxNorm);
        s1.step(q1, h1, clipGate(h1, maxNorm, () => {}));
        s2.step(q2, h2);
        assert.deepEqual(q1, q2, `${what}: SGD`);
      }
    }
  } finally {
    useBackend(prev);
  }
});

test('trainOnBatch clipping inside the step = clipping before it: the same norms and weights bit for bit over steps where it clips and where it does not, and no step on a non-finite norm', () => {
  const prev = currentBackend();
  try {
    for (const { name, be } of gateBackends.filter((b) => b.name !== 'reference')) {
      useBackend(be);
      const make = () => {
        const m = rnnApi.sequential({ inputShape: [null], layers: [
          rnnApi.layers.embedding({ inputDim: 40, outputDim: 8, seed: 1 }), rnnApi.layers.lstm({ units: 12, returnSequences: true, seed: 2 }),
          rnnApi.layers.dense({ units: 40, activation: 'softmax', seed: 3 }),
        ] });
        m.compile({ optimizer: rnnApi.optimizers.adam({ learningRate: 0.05 }), loss: 'sparseCategoricalCrossentropy' });
        return m;
      };
      const fused = make(), plain = make();
      const r = rng(4);
      for (let s = 0; s < 6; s++) {
        const x = { data: Float32Array.from({ length: 4 * 7 }, () => r.int(40)), shape: [4, 7], mask: null };
        const y = { data: Float32Array.from({ length: 4 * 7 }, () => r.int(40)), shape: [4, 7], mask: null };
        const maxNorm = s % 2 === 0 ? 0.05 : 1e6; // clips on even steps only
        const a = fused.trainOnBatch(x, y, { clipNorm: maxNorm });
        // The path before the gate: forward/backward, clipByGlobalNorm, step.
        const b = plain.trainOnBatch(x, y, { clipNorm: maxNorm, clipValue: 1e30 });
        assert.equal(a.loss, b.loss, `${name} step ${s}: loss`);
        assert.equal(a.gradNorm, b.gradNorm, `${name} step ${s}: norm`);
        assert.deepEqual(fused.params, plain.params, `${name} step ${s}: weights`);
        assert.equal(fused.step, plain.step);
      }
      // A non-finite gradient: no step.
      const before = fused.params.slice(), steps = fused.step;
      fused.params[0] = NaN; before[0] = NaN;
      const x = { data: new Float32Array(4 * 7), shape: [4, 7], mask: null };
      const res = fused.trainOnBatch(x, x, { clipNorm: 1 });
      assert.ok(!Number.isFinite(res.loss) || !Number.isFinite(res.gradNorm), `${name}: ${JSON.stringify(res)}`);
      assert.equal(fused.step, steps, `${name}: no step taken`);
    }
  } finally {
    useBackend(prev);
    for (const b of gateBackends) b.stop?.();
  }
});
