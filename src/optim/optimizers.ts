// Optimisers over ONE flat parameter buffer and its parallel gradient buffer (see tensor/params.ts).
// `step(params, grads)` is a single pass over the buffers with no allocation after the first call
// (slot buffers are allocated lazily, to the buffer length, with the same element type as params).
//
// Names, defaults and config keys follow Keras / TF.js (camelCase: learningRate, beta1, ...).
// Formulas, per element i, with g = grads[i], p = params[i], t = iterations + 1 (1-based):
//
//   L2 weight decay (SGD, Adam, RMSprop, Adagrad `weightDecay`, as PyTorch `weight_decay`):
//       g <- g + weightDecay * p                                    (before everything below)
//
//   SGD (PyTorch form of the velocity; identical to Keras while the learning rate is constant):
//       b <- g                              on the first step (buffer just created), else
//       b <- momentum * b + (1 - dampening) * g
//       d  = nesterov ? g + momentum * b : b          (d = g when momentum = 0)
//       p <- p - lr * d
//     Keras keeps v = -lr * b instead; the two differ only when lr changes between steps (here a
//     new lr applies to the whole velocity at once, as in PyTorch).
//
//   Adam (Kingma & Ba 2015; bc1 = 1 - beta1^t, bc2 = 1 - beta2^t):
//       m <- beta1 * m + (1 - beta1) * g
//       v <- beta2 * v + (1 - beta2) * g^2
//       (amsgrad) vHat <- max(vHat, v), and vHat is used in place of v below
//     epsilonMode 'keras' (default; Keras/TF "epsilon hat", the formula just before §2.1 of the paper):
//       p <- p - [lr * sqrt(bc2) / bc1] * m / (sqrt(v) + epsilon)
//     epsilonMode 'torch' (PyTorch / Algorithm 1 of the paper: epsilon added to sqrt(v_hat)):
//       p <- p - (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + epsilon)
//          = p - [lr * sqrt(bc2) / bc1] * m / (sqrt(v) + epsilon * sqrt(bc2))
//     So Keras epsilon e equals PyTorch epsilon e / sqrt(bc2) (larger during the first steps);
//     both modes share one loop with e_eff = epsilon (keras) or epsilon * sqrt(bc2) (torch).
//
//   AdamW (Loshchilov & Hutter 2019; decoupled decay, Keras and PyTorch agree):
//       p <- p * (1 - lr * weightDecay), then the Adam update above with no L2 term.
//     Default weightDecay 0.004 (Keras; PyTorch's default is 0.01).
//
//   RMSprop (Hinton; centered variant: Graves 2013):
//       v  <- rho * v + (1 - rho) * g^2
//       mg <- rho * mg + (1 - rho) * g                 (centered only)
//       s   = centered ? v - mg^2 : v
//       epsilonMode 'keras': denom = sqrt(s + epsilon)     (Keras 3, TF, TF.js)
//       epsilonMode 'torch': denom = sqrt(s) + epsilon     (PyTorch)
//       momentum > 0: b <- momentum * b + g / denom;  p <- p - lr * b
//       momentum = 0: p <- p - lr * g / denom
//     (Keras stores lr inside the momentum buffer; identical while lr is constant.)
//     Keras `rho` is PyTorch `alpha`.
//
//   Adagrad (Duchi et al. 2011):
//       a <- a + g^2                              (a starts at initialAccumulatorValue)
//       epsilonMode 'keras': p <- p - lr * g / sqrt(a + epsilon)
//       epsilonMode 'torch': p <- p - lr * g / (sqrt(a) + epsilon)
//
// All arithmetic is done in JS doubles and stored back into the buffers' element type. Adam over
// float32 buffers runs in the float32 backend when it has the kernel (adamUpdate: WebAssembly,
// on two threads from 2^16 values), with the same double arithmetic in the same order, so the
// results are the loop's below bit for bit. There its m and v stay in the backend's memory between
// steps (adamSync brings them back for getState, setState, another backend or the loop).
import { getBackend } from '../kernels/index.js';
import type { Backend, F } from '../kernels/types.js';
import { scaleBy, sumSquaresOf } from './clip.js';

export type EpsilonMode = 'keras' | 'torch';
export type OptimizerConfig = Record<string, number | boolean | string>;
export interface OptimizerState {
  iterations: number;
  slots: Record<string, F>;
}

/** See Optimizer.step (optim/clip.ts's clipGate makes them). */
export type StepGate = (sumSquares: number) => number | null;

/** The parts of the buffers a step updates, [offset, size] each, in order (Optimizer.step's spans). */
export type Spans = readonly (readonly [number, number])[];

/**
 * A gate answered on the JavaScript side (over the spans' gradients only, each summed as
 * sumSquaresOf sums a buffer): false when it says no update; the gradients scaled as it says.
 */
function passGate(grads: F, gate: StepGate | undefined, spans: Spans | undefined): boolean {
  if (!gate) return true;
  const parts = spans ? spans.map(([o, n]) => grads.subarray(o, o + n)) : [grads];
  const s = gate(parts.reduce((a, g) => a + sumSquaresOf(g), 0));
  if (s === null) return false;
  if (s !== 1) for (const g of parts) scaleBy(g, s);
  return true;
}

export interface Optimizer {
  /** 'sgd' | 'adam' | 'adamw' | 'rmsprop' | 'adagrad'. */
  readonly className: string;
  /** Mutable: learning-rate schedules set it before a step. */
  learningRate: number;
  /**
   * One update over the whole flat buffer: params -= f(grads). One pass, no allocation. With a
   * `gate` (clipGate: gradient clipping), first asks it with Σ grads_i² whether to update at all
   * (null: no update, nothing changes) and by what factor to scale the gradients first (as
   * clipByGlobalNorm does, `grads` included); Adam on a WebAssembly backend sums on the copy of
   * the gradients its kernel reads anyway (the same bits), the others here. With `spans` only
   * those parts of the buffers (and of the optimiser's state) are read and updated: a model's
   * frozen layers lie outside them. The gate then hears the spans' Σ grads_i² alone.
   */
  step(params: F, grads: F, gate?: StepGate, spans?: Spans): void;
  /** Number of steps taken so far (Adam's bias correction uses t = iterations + 1). */
  iterations: number;
  /** JSON-able; `getOptimizer(opt.className, opt.getConfig())` rebuilds an equivalent optimiser. */
  getConfig(): OptimizerConfig;
  /** Copies of the slot buffers (empty before the first step) and the iteration count. */
  getState(): { iterations: number; slots: Record<string, Float32Array | Float64Array> };
  /** Restores (copies) a state from getState(); validates slot names, sizes and values. */
  setState(s: OptimizerState): void;
}

// ---------------------------------------------------------------------------------------------
// Config handling shared by all optimisers

/** Accept Keras snake_case / legacy spellings: learning_rate, lr, beta_1, initial_accumulator_value... */
function normaliseKey(k: string): string {
  if (k === 'lr') return 'learningRate';
  return k.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
}

/** Merge user config over defaults, rejecting unknown keys and wrongly typed values. */
function resolveConfig<T extends OptimizerConfig>(cls: string, defaults: T, user: object | number | undefined): T {
  const out: OptimizerConfig = { ...defaults };
  if (typeof user === 'number') user = { learningRate: user };
  for (const [rawKey, value] of Object.entries(user ?? {})) {
    if (value === undefined) continue;
    const key = normaliseKey(rawKey);
    if (!(key in defaults)) {
      throw new Error(`${cls}: unknown config option '${rawKey}'; valid options: ${Object.keys(defaults).join(', ')}`);
    }
    const want = typeof defaults[key];
    if (typeof value !== want) throw new TypeError(`${cls}: option '${rawKey}' must be a ${want}, got ${JSON.stringify(value)}`);
    if (want === 'number' && !Number.isFinite(value)) throw new RangeError(`${cls}: option '${rawKey}' must be finite, got ${value}`);
    out[key] = value as number | boolean | string;
  }
  if ('epsilonMode' in out && out.epsilonMode !== 'keras' && out.epsilonMode !== 'torch') {
    throw new RangeError(`${cls}: epsilonMode must be 'keras' or 'torch', got '${String(out.epsilonMode)}'`);
  }
  const nonNeg = ['learningRate', 'epsilon', 'weightDecay', 'momentum', 'initialAccumulatorValue'];
  for (const k of nonNeg) {
    if (k in out && (out[k] as number) < 0) throw new RangeError(`${cls}: ${k} must be >= 0, got ${out[k]}`);
  }
  for (const k of ['beta1', 'beta2', 'rho', 'dampening']) {
    if (k in out && !((out[k] as number) >= 0 && (out[k] as number) <= 1)) {
      throw new RangeError(`${cls}: ${k} must be in [0, 1], got ${out[k]}`);
    }
  }
  return out as T;
}

// ---------------------------------------------------------------------------------------------
// Base: lazy slot allocation, size checks, state (de)serialisation

abstract class BaseOptimizer implements Optimizer {
  abstract readonly className: string;
  learningRate: number;
  iterations = 0;
  /** Slot buffers by name; empty until the first step (or setState). */
  protected slots: Record<string, F> = {};
  /** True during the step in which the slots were created (SGD's first-step buffer init). */
  protected fresh = false;

  constructor(learningRate: number) {
    this.learningRate = learningRate;
  }

  /** Names of the slots this configuration needs (may be empty, e.g. plain SGD). */
  protected abstract slotNames(): string[];
  /** Initial value of a freshly allocated slot. */
  protected slotInit(_name: string): number {
    return 0;
  }
  abstract getConfig(): OptimizerConfig;
  abstract step(params: F, grads: F, gate?: StepGate, spans?: Spans): void;

  /** Size checks (spans too) and lazy allocation; call at the start of every step. */
  protected prepare(params: F, grads: F, spans?: Spans): void {
    if (params.length !== grads.length) {
      throw new RangeError(`${this.className}.step: params has ${params.length} values but grads has ${grads.length}`);
    }
    let end = 0;
    for (const [o, n] of spans ?? []) {
      if (!(Number.isInteger(o) && Number.isInteger(n) && o >= end && n >= 0 && o + n <= params.length)) {
        throw new RangeError(`${this.className}.step: spans must be [offset, size] pairs in order, without overlaps, inside the ${params.length} values; got [${o}, ${n}] after ${end}`);
      }
      end = o + n;
    }
    if (!Number.isFinite(this.learningRate) || this.learningRate < 0) {
      throw new RangeError(`${this.className}.step: learningRate must be a finite number >= 0, got ${this.learningRate}`);
    }
    const names = this.slotNames();
    this.fresh = false;
    if (names.length === 0) return;
    const first = this.slots[names[0]!];
    if (first === undefined) {
      const Ctor = params instanceof Float64Array ? Float64Array : Float32Array;
      for (const n of names) {
        const a = new Ctor(params.length);
        const init = this.slotInit(n);
        if (init !== 0) a.fill(init);
        this.slots[n] = a;
      }
      this.fresh = true;
    } else if (first.length !== params.length) {
      throw new RangeError(
        `${this.className}.step: optimizer state was built for ${first.length} parameters but the buffer has ${params.length}; ` +
        'use a new optimizer (or setState with matching slots) for a different parameter buffer',
      );
    }
  }

  /** Brings slot buffers a backend keeps up to date (Adam's, see AdamUpdateArgs.keep); `drop`: and stops keeping them. */
  protected syncSlots(_drop: boolean): void {}

  getState(): { iterations: number; slots: Record<string, Float32Array | Float64Array> } {
    this.syncSlots(false);
    const slots: Record<string, F> = {};
    for (const [k, v] of Object.entries(this.slots)) slots[k] = v.slice();
    return { iterations: this.iterations, slots };
  }

  setState(s: OptimizerState): void {
    const cls = this.className;
    if (!s || typeof s !== 'object') throw new TypeError(`${cls}.setState: expected { iterations, slots }`);
    if (!Number.isInteger(s.iterations) || s.iterations < 0) {
      throw new RangeError(`${cls}.setState: iterations must be a non-negative integer, got ${s.iterations}`);
    }
    const given = Object.keys(s.slots ?? {});
    const want = this.slotNames();
    const slots: Record<string, F> = {};
    if (given.length > 0) {
      const missing = want.filter((n) => !given.includes(n));
      const extra = given.filter((n) => !want.includes(n));
      if (missing.length || extra.length) {
        throw new Error(
          `${cls}.setState: slot mismatch (missing: ${missing.join(', ') || 'none'}; unexpected: ${extra.join(', ') || 'none'}); ` +
          `this configuration uses slots [${want.join(', ')}]`,
        );
      }
      const current = want.length ? this.slots[want[0]!] : undefined;
      const size = current ? current.length : s.slots[want[0]!]!.length;
      for (const n of want) {
        const a = s.slots[n]!;
        if (!(a instanceof Float32Array || a instanceof Float64Array)) {
          throw new TypeError(`${cls}.setState: slot '${n}' must be a Float32Array or Float64Array`);
        }
        if (a.length !== size) {
          throw new RangeError(`${cls}.setState: slot '${n}' has ${a.length} values, expected ${size}`);
        }
        for (let i = 0; i < a.length; i++) {
          if (!Number.isFinite(a[i]!)) throw new RangeError(`${cls}.setState: slot '${n}'[${i}] is ${a[i]}; state must be finite`);
        }
        slots[n] = a.slice();
      }
    }
    // Empty slots = "not built yet": they are allocated (freshly initialised) at the next step.
    this.syncSlots(true);
    this.slots = slots;
    this.iterations = s.iterations;
  }
}

// ---------------------------------------------------------------------------------------------
// SGD

export interface SGDConfig {
  learningRate?: number;
  momentum?: number;
  nesterov?: boolean;
  dampening?: number;
  weightDecay?: number;
}

export class SGD extends BaseOptimizer {
  readonly className = 'sgd';
  readonly momentum: number;
  readonly nesterov: boolean;
  readonly dampening: number;
  readonly weightDecay: number;

  constructor(config?: SGDConfig | number) {
    const c = resolveConfig('sgd', { learningRate: 0.01, momentum: 0, nesterov: false, dampening: 0, weightDecay: 0 }, config);
    super(c.learningRate);
    this.momentum = c.momentum;
    this.nesterov = c.nesterov;
    this.dampening = c.dampening;
    this.weightDecay = c.weightDecay;
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError('sgd: nesterov requires momentum > 0 and dampening = 0');
    }
  }

  protected slotNames(): string[] {
    return this.momentum > 0 ? ['momentum'] : [];
  }

  getConfig(): OptimizerConfig {
    return { learningRate: this.learningRate, momentum: this.momentum, nesterov: this.nesterov, dampening: this.dampening, weightDecay: this.weightDecay };
  }

  step(params: F, grads: F, gate?: StepGate, spans?: Spans): void {
    if (!passGate(grads, gate, spans)) return;
    this.prepare(params, grads, spans);
    const n = params.length, lr = this.learningRate, wd = this.weightDecay, mu = this.momentum;
    if (mu === 0) {
      for (const [o, size] of spans ?? [[0, n] as const]) for (let i = o; i < o + size; i++) {
        const p = params[i]!;
        params[i] = p - lr * (grads[i]! + wd * p);
      }
    } else {
      const b = this.slots.momentum!;
      const keep = 1 - this.dampening, first = this.fresh, nesterov = this.nesterov;
      for (const [o, size] of spans ?? [[0, n] as const]) for (let i = o; i < o + size; i++) {
        const p = params[i]!;
        const g = grads[i]! + wd * p;
        const bi = first ? g : mu * b[i]! + keep * g;
        b[i] = bi;
        params[i] = p - lr * (nesterov ? g + mu * bi : bi);
      }
    }
    this.iterations++;
  }
}

// ---------------------------------------------------------------------------------------------
// Adam / AdamW

export interface AdamConfig {
  learningRate?: number;
  beta1?: number;
  beta2?: number;
  epsilon?: number;
  amsgrad?: boolean;
  /** Adam: L2 (added to the gradient, PyTorch weight_decay). AdamW: decoupled. */
  weightDecay?: number;
  /** Where epsilon enters: 'keras' (default, epsilon hat) or 'torch'. See the header. */
  epsilonMode?: EpsilonMode;
}

export class Adam extends BaseOptimizer {
  readonly className: string = 'adam';
  readonly beta1: number;
  readonly beta2: number;
  readonly epsilon: number;
  readonly amsgrad: boolean;
  readonly weightDecay: number;
  readonly epsilonMode: EpsilonMode;
  /** true for AdamW: decay applied to the weights, not to the gradient. */
  protected readonly decoupled: boolean;

  constructor(config?: AdamConfig | number, decoupled = false) {
    const cls = decoupled ? 'adamw' : 'adam';
    const c = resolveConfig(cls, {
      learningRate: 1e-3, beta1: 0.9, beta2: 0.999, epsilon: 1e-7, amsgrad: false,
      weightDecay: decoupled ? 0.004 : 0, epsilonMode: 'keras' as string,
    }, config);
    super(c.learningRate);
    this.beta1 = c.beta1;
    this.beta2 = c.beta2;
    this.epsilon = c.epsilon;
    this.amsgrad = c.amsgrad;
    this.weightDecay = c.weightDecay;
    this.epsilonMode = c.epsilonMode as EpsilonMode;
    this.decoupled = decoupled;
  }

  protected slotNames(): string[] {
    return this.amsgrad ? ['momentum', 'velocity', 'velocityHat'] : ['momentum', 'velocity'];
  }

  /**
   * The backend that keeps this optimiser's m and v (AdamUpdateArgs.keep), if any, and the
   * (m, v) pairs it keeps: the whole arrays, or views of each span.
   */
  private keptIn: Backend | null = null;
  private kept: [Float32Array, Float32Array][] = [];
  /** Views of m and v for the spans of the last steps with spans (the same objects from step to step, as keep needs). */
  private spanViews: { key: string; m: Float32Array; v: Float32Array; pairs: [Float32Array, Float32Array][] } | null = null;

  protected override syncSlots(drop: boolean): void {
    const be = this.keptIn;
    if (be === null) return;
    for (const [m, v] of this.kept) be.adamSync!(m, v, drop);
    if (drop) { this.keptIn = null; this.kept = []; }
  }

  /** The (m, v) views of each span: made once for a set of spans and reused while it stays. */
  private viewsOf(spans: Spans, m: Float32Array, v: Float32Array): [Float32Array, Float32Array][] {
    const key = spans.map(([o, n]) => `${o}:${n}`).join(',');
    const c = this.spanViews;
    if (c && c.key === key && c.m === m && c.v === v) return c.pairs;
    const pairs = spans.map(([o, n]): [Float32Array, Float32Array] => [m.subarray(o, o + n), v.subarray(o, o + n)]);
    this.spanViews = { key, m, v, pairs };
    return pairs;
  }

  getConfig(): OptimizerConfig {
    return {
      learningRate: this.learningRate, beta1: this.beta1, beta2: this.beta2, epsilon: this.epsilon,
      amsgrad: this.amsgrad, weightDecay: this.weightDecay, epsilonMode: this.epsilonMode,
    };
  }

  step(params: F, grads: F, gate?: StepGate, spans?: Spans): void {
    this.prepare(params, grads, spans);
    const n = params.length, b1 = this.beta1, b2 = this.beta2, lr = this.learningRate;
    const t = this.iterations + 1;
    const bc1 = 1 - Math.pow(b1, t), sqrtBc2 = Math.sqrt(1 - Math.pow(b2, t));
    // p -= alpha * m / (sqrt(v) + e), see header for both epsilon placements.
    const alpha = (lr * sqrtBc2) / bc1;
    const e = this.epsilonMode === 'torch' ? this.epsilon * sqrtBc2 : this.epsilon;
    const l2 = this.decoupled ? 0 : this.weightDecay;
    const shrink = this.decoupled ? 1 - lr * this.weightDecay : 1;
    const m = this.slots.momentum!, v = this.slots.velocity!;
    const be = getBackend(), vh = this.amsgrad ? this.slots.velocityHat! : null;
    const fused = be.adamUpdate && params instanceof Float32Array && grads instanceof Float32Array && m instanceof Float32Array &&
      v instanceof Float32Array && (vh === null || vh instanceof Float32Array);
    // m and v stay in the backend between steps where it can keep them (no copies in and out
    // of its memory each step); they come back to the arrays for getState and setState, or when
    // another backend or the loop below takes over. With spans, each span's views are kept (a
    // few of them: with many, the kernel copies them in and out).
    const pairs: [Float32Array, Float32Array][] = spans && fused ? this.viewsOf(spans, m as Float32Array, v as Float32Array) : [[m as Float32Array, v as Float32Array]];
    const keep = fused && vh === null && be.adamSync !== undefined && pairs.length <= 4;
    const same = this.kept.length === pairs.length && this.kept.every(([km, kv], i) => km === pairs[i]![0] && kv === pairs[i]![1]);
    if (this.keptIn !== null && (this.keptIn !== be || !keep || !same)) this.syncSlots(true);
    if (fused && spans) {
      // The gate over all the spans first; then one update per span (its views of every array).
      if (!passGate(grads, gate, spans)) return;
      spans.forEach(([o, n], k) => {
        const [mk, vk] = pairs[k]!;
        be.adamUpdate!({
          params: (params as Float32Array).subarray(o, o + n), grads: (grads as Float32Array).subarray(o, o + n), m: mk, v: vk,
          vh: vh ? (vh as Float32Array).subarray(o, o + n) : null, beta1: b1, beta2: b2, alpha, epsilon: e, l2, shrink, keep,
        });
      });
      if (keep) { this.keptIn = be; this.kept = pairs; }
    } else if (fused) {
      let skipped = false;
      const inKernel = gate && ((sumSquares: number): number | null => {
        const s = gate(sumSquares);
        skipped = s === null;
        return s;
      });
      be.adamUpdate!({ params, grads, m: m as Float32Array, v: v as Float32Array, vh: vh as Float32Array | null, beta1: b1, beta2: b2, alpha, epsilon: e, l2, shrink, keep, ...(inKernel ? { gate: inKernel } : {}) });
      if (keep) { this.keptIn = be; this.kept = pairs; }
      if (skipped) return;
    } else if (!passGate(grads, gate, spans)) {
      return;
    } else if (vh) {
      for (const [o, size] of spans ?? [[0, n] as const]) for (let i = o; i < o + size; i++) {
        const p = params[i]!;
        const g = grads[i]! + l2 * p;
        const mi = b1 * m[i]! + (1 - b1) * g;
        const vi = b2 * v[i]! + (1 - b2) * g * g;
        m[i] = mi; v[i] = vi;
        const vhi = Math.max(vh[i]!, vi);
        vh[i] = vhi;
        params[i] = p * shrink - (alpha * mi) / (Math.sqrt(vhi) + e);
      }
    } else {
      for (const [o, size] of spans ?? [[0, n] as const]) for (let i = o; i < o + size; i++) {
        const p = params[i]!;
        const g = grads[i]! + l2 * p;
        const mi = b1 * m[i]! + (1 - b1) * g;
        const vi = b2 * v[i]! + (1 - b2) * g * g;
        m[i] = mi; v[i] = vi;
        params[i] = p * shrink - (alpha * mi) / (Math.sqrt(vi) + e);
      }
    }
    this.iterations++;
  }
}

export class AdamW extends Adam {
  override readonly className: string = 'adamw';
  constructor(config?: AdamConfig | number) {
    super(config, true);
  }
}

// ---------------------------------------------------------------------------------------------
// RMSprop

export interface RMSpropConfig {
  learningRate?: number;
  /** Decay of the squared-gradient average (PyTorch `alpha`). */
  rho?: number;
  momentum?: number;
  epsilon?: number;
  centered?: boolean;
  weightDecay?: number;
  epsilonMode?: EpsilonMode;
}

export class RMSprop extends BaseOptimizer {
  readonly className = 'rmsprop';
  readonly rho: number;
  readonly momentum: number;
  readonly epsilon: number;
  readonly centered: boolean;
  readonly weightDecay: number;
  readonly epsilonMode: EpsilonMode;

  constructor(config?: RMSpropConfig | number) {
    const c = resolveConfig('rmsprop', {
      learningRate: 1e-3, rho: 0.9, momentum: 0, epsilon: 1e-7, centered: false, weightDecay: 0, epsilonMode: 'keras' as string,
    }, config);
    super(c.learningRate);
    this.rho = c.rho;
    this.momentum = c.momentum;
    this.epsilon = c.epsilon;
    this.centered = c.centered;
    this.weightDecay = c.weightDecay;
    this.epsilonMode = c.epsilonMode as EpsilonMode;
  }

  protected slotNames(): string[] {
    const s = ['velocity'];
    if (this.momentum > 0) s.push('momentum');
    if (this.centered) s.push('averageGradient');
    return s;
  }

  getConfig(): OptimizerConfig {
    return {
      learningRate: this.learningRate, rho: this.rho, momentum: this.momentum, epsilon: this.epsilon,
      centered: this.centered, weightDecay: this.weightDecay, epsilonMode: this.epsilonMode,
    };
  }

  step(params: F, grads: F, gate?: StepGate, spans?: Spans): void {
    if (!passGate(grads, gate, spans)) return;
    this.prepare(params, grads, spans);
    const n = params.length, lr = this.learningRate, rho = this.rho, wd = this.weightDecay, eps = this.epsilon;
    const mu = this.momentum, torch = this.epsilonMode === 'torch';
    const v = this.slots.velocity!;
    const b = mu > 0 ? this.slots.momentum! : null;
    const mg = this.centered ? this.slots.averageGradient! : null;
    for (const [o, size] of spans ?? [[0, n] as const]) for (let i = o; i < o + size; i++) {
      const p = params[i]!;
      const g = grads[i]! + wd * p;
      const vi = rho * v[i]! + (1 - rho) * g * g;
      v[i] = vi;
      let s = vi;
      if (mg !== null) {
        const a = rho * mg[i]! + (1 - rho) * g;
        mg[i] = a;
        s = vi - a * a;
      }
      const denom = torch ? Math.sqrt(s) + eps : Math.sqrt(s + eps);
      let d = g / denom;
      if (b !== null) {
        d += mu * b[i]!;
        b[i] = d;
      }
      params[i] = p - lr * d;
    }
    this.iterations++;
  }
}

// ---------------------------------------------------------------------------------------------
// Adagrad

export interface AdagradConfig {
  learningRate?: number;
  initialAccumulatorValue?: number;
  epsilon?: number;
  weightDecay?: number;
  epsilonMode?: EpsilonMode;
}

export class Adagrad extends BaseOptimizer {
  readonly className = 'adagrad';
  readonly initialAccumulatorValue: number;
  readonly epsilon: number;
  readonly weightDecay: number;
  readonly epsilonMode: EpsilonMode;

  constructor(config?: AdagradConfig | number) {
    const c = resolveConfig('adagrad', {
      learningRate: 1e-3, initialAccumulatorValue: 0.1, epsilon: 1e-7, weightDecay: 0, epsilonMode: 'keras' as string,
    }, config);
    super(c.learningRate);
    this.initialAccumulatorValue = c.initialAccumulatorValue;
    this.epsilon = c.epsilon;
    this.weightDecay = c.weightDecay;
    this.epsilonMode = c.epsilonMode as EpsilonMode;
  }

  protected slotNames(): string[] {
    return ['accumulator'];
  }

  protected override slotInit(): number {
    return this.initialAccumulatorValue;
  }

  getConfig(): OptimizerConfig {
    return {
      learningRate: this.learningRate, initialAccumulatorValue: this.initialAccumulatorValue,
      epsilon: this.epsilon, weightDecay: this.weightDecay, epsilonMode: this.epsilonMode,
    };
  }

  step(params: F, grads: F, gate?: StepGate, spans?: Spans): void {
    if (!passGate(grads, gate, spans)) return;
    this.prepare(params, grads, spans);
    const n = params.length, lr = this.learningRate, wd = this.weightDecay, eps = this.epsilon;
    const torch = this.epsilonMode === 'torch';
    const acc = this.slots.accumulator!;
    for (const [o, size] of spans ?? [[0, n] as const]) for (let i = o; i < o + size; i++) {
      const p = params[i]!;
      const g = grads[i]! + wd * p;
      const a = acc[i]! + g * g;
      acc[i] = a;
      params[i] = p - (lr * g) / (torch ? Math.sqrt(a) + eps : Math.sqrt(a + eps));
    }
    this.iterations++;
  }
}

// ---------------------------------------------------------------------------------------------
// Factories and lookup

/** TF.js-style factories: `optimizers.adam({ learningRate: 1e-3 })` or `optimizers.sgd(0.1)`. */
export const optimizers = {
  sgd: (config?: SGDConfig | number): Optimizer => new SGD(config),
  adam: (config?: AdamConfig | number): Optimizer => new Adam(config),
  adamw: (config?: AdamConfig | number): Optimizer => new AdamW(config),
  rmsprop: (config?: RMSpropConfig | number): Optimizer => new RMSprop(config),
  adagrad: (config?: AdagradConfig | number): Optimizer => new Adagrad(config),
};

export type OptimizerName = keyof typeof optimizers;
export const optimizerNames: readonly OptimizerName[] = ['sgd', 'adam', 'adamw', 'rmsprop', 'adagrad'];

/**
 * Resolve an optimiser by (case-insensitive) name — 'adam', 'Adam', 'SGD', 'RMSprop', 'adamw',
 * 'adagrad' — with an optional config, or pass an Optimizer instance through unchanged.
 * Round trip: `getOptimizer(opt.className, opt.getConfig())`.
 */
export function getOptimizer(nameOrOpt: string | Optimizer, config?: OptimizerConfig | object): Optimizer {
  if (typeof nameOrOpt !== 'string') {
    if (config !== undefined) throw new Error('getOptimizer: a config cannot be applied to an existing Optimizer instance');
    return nameOrOpt;
  }
  const key = nameOrOpt.toLowerCase().replace(/[_\s-]/g, '') as OptimizerName;
  if (!Object.prototype.hasOwnProperty.call(optimizers, key)) {
    throw new Error(`unknown optimizer '${nameOrOpt}'; valid names: ${optimizerNames.join(', ')}`);
  }
  return optimizers[key](config as never);
}

/** `{ className, config }`, the Keras/TF.js serialisation shape. */
export function serializeOptimizer(opt: Optimizer): { className: string; config: OptimizerConfig } {
  return { className: opt.className, config: opt.getConfig() };
}

export function deserializeOptimizer(s: { className: string; config: OptimizerConfig }): Optimizer {
  return getOptimizer(s.className, s.config);
}
