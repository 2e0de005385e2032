// Losses over flat buffers, numerically stable, each returning the mean loss and its gradient
// with respect to the predictions it was given (logits when fromLogits, else probabilities or
// regression outputs), already divided by the count. Sums are accumulated in float64.
//
// Reduction (Keras "sum_over_batch_size" with masking):
//     loss = Σ_u m_u · w_u · ℓ_u / count,   count = Σ_u [m_u ≠ 0] · (elements per unit)
//   where u runs over rows (classification: one row of K scores per target) or elements
//   (binary / regression), m is the mask (0 = padding, not counted; any non-zero value counts
//   as 1) and w the optional sample weights (default 1; a weight does not change the count).
//   With reduction 'sum' the division by count is skipped. If nothing is counted the loss is 0
//   and the gradient is all zeros (a fully padded batch is not an error).
//   For elementwise losses a mask / sampleWeight may be given per element (length = pred.length)
//   or per row (its length must divide pred.length; each entry covers pred.length / length
//   consecutive elements, e.g. one mask entry per time step of a (T·B, D) output).
//
// NOTE: fromLogits defaults to TRUE for every crossentropy here (Keras defaults to false):
// rnnkit's layers output logits and the fused forms are the stable ones.
//
// Formulas (x = logit, p = probability, y = target, σ = sigmoid, ε = EPSILON = 1e-7 as Keras):
//   sparseCategoricalCrossentropy, from logits:  ℓ = logsumexp(x) - x_t,  ∂ℓ/∂x_k = softmax(x)_k - [k = t]
//       from probabilities (Keras 3): q = p / Σp, ℓ = -log(clip(q_t, ε, 1-ε)),
//                                      ∂ℓ/∂p_k = 1/Σp - [k = t]/p_t   (0 if q_t was clipped)
//   categoricalCrossentropy, from logits: ℓ = Σ_k y_k (logsumexp(x) - x_k), ∂ℓ/∂x_k = (Σy)·softmax_k - y_k
//       from probabilities: ℓ = -Σ_k y_k log(clip(q_k, ε, 1-ε)),
//                           ∂ℓ/∂p_j = -y_j/p_j [q_j unclipped] + (1/Σp) Σ_k y_k [q_k unclipped]
//       labelSmoothing s: y <- y(1-s) + s/K
//   binaryCrossentropy, from logits: ℓ = max(x,0) - x·y + log(1 + exp(-|x|)),  ∂ℓ/∂x = σ(x) - y
//       from probabilities (Keras): p' = clip(p, ε, 1-ε), ℓ = -(y log(p'+ε) + (1-y) log(1-p'+ε)),
//                                   ∂ℓ/∂p = -y/(p'+ε) + (1-y)/(1-p'+ε)   (0 if p was clipped)
//       labelSmoothing s: y <- y(1-s) + s/2
//   meanSquaredError:  ℓ = (p - y)²,  ∂ℓ/∂p = 2(p - y)
//   meanAbsoluteError: ℓ = |p - y|,   ∂ℓ/∂p = sign(p - y)   (0 at p = y)
import { backendFor } from '../kernels/index.js';
import { sparseXentGrad } from '../kernels/layer-ops.js';
import type { F } from '../kernels/types.js';

/** Keras backend epsilon, used to clip probabilities. */
export const EPSILON = 1e-7;

export type Mask = Uint8Array | Float32Array | Float64Array | Int32Array | ArrayLike<number>;

export interface LossResult {
  /** Mean (or sum, with reduction 'sum') loss. */
  loss: number;
  /** ∂loss/∂pred, same length and element type as pred (empty if noGrad). */
  grad: F;
  /** Number of elements counted in the mean (rows for the classification losses). */
  count: number;
}

export interface LossOptions {
  /** 0 = padding, not counted; non-zero = counted. Per row, or per element (elementwise losses). */
  mask?: Mask;
  /** Multiplies each row's / element's loss; same length rules as mask. */
  sampleWeight?: ArrayLike<number>;
  /** 'mean' over counted elements (default) or 'sum'. */
  reduction?: 'mean' | 'sum';
  /** Write the gradient here (must have pred's length) instead of allocating. */
  grad?: F;
  /** Skip the gradient (metrics); `grad` is then an empty array. */
  noGrad?: boolean;
}

export interface SparseCrossentropyOptions extends LossOptions {
  /** Default true: inputs are logits. false: probabilities (normalised and clipped as Keras). */
  fromLogits?: boolean;
  /** Rows whose target equals this value are not counted (PyTorch ignore_index). */
  ignoreIndex?: number;
}

export interface CrossentropyOptions extends LossOptions {
  /** Default true: inputs are logits. */
  fromLogits?: boolean;
  /** Keras label_smoothing in [0, 1]. */
  labelSmoothing?: number;
  /**
   * categoricalCrossentropy only: K, the row width of the (N, K) buffers. Optional when a per-row
   * mask or sampleWeight (length N) is given.
   */
  numClasses?: number;
}

/** Every option any loss accepts (what getLoss's functions take). */
export type AnyLossOptions = SparseCrossentropyOptions & CrossentropyOptions;
export type LossFn = (pred: F, target: ArrayLike<number>, options?: AnyLossOptions) => LossResult;

// ---------------------------------------------------------------------------------------------
// helpers

function makeLike(a: F, n: number): F {
  return a instanceof Float64Array ? new Float64Array(n) : new Float32Array(n);
}

function gradBuffer(name: string, pred: F, o: LossOptions): F {
  if (o.noGrad) return makeLike(pred, 0);
  if (o.grad) {
    if (o.grad.length !== pred.length) throw new RangeError(`${name}: grad buffer has ${o.grad.length} values, expected ${pred.length}`);
    return o.grad;
  }
  return makeLike(pred, pred.length);
}

/** Units per mask/weight entry: `len` must equal `units` (row losses) or divide `elems` (elementwise). */
function spanOf(name: string, what: string, len: number, units: number, elementwise: boolean): number {
  if (len === units) return 1;
  if (elementwise && len > 0 && units % len === 0) return units / len;
  throw new RangeError(
    `${name}: ${what} has ${len} entries; expected ${units}` + (elementwise ? ' (one per element) or a divisor of it (one per row)' : ' (one per row)'),
  );
}

/** Returned by a weighter for a masked unit (weights are validated finite, so it is unambiguous). */
const MASKED = -Infinity;

/**
 * Iteration weights: for unit u, returns m_u·w_u, or MASKED for "not counted".
 * `units` = number of rows (row losses) or elements (elementwise losses).
 */
function weighter(name: string, units: number, o: LossOptions, elementwise: boolean): (u: number) => number {
  const mask = o.mask, sw = o.sampleWeight;
  const ms = mask ? spanOf(name, 'mask', mask.length, units, elementwise) : 1;
  const ws = sw ? spanOf(name, 'sampleWeight', sw.length, units, elementwise) : 1;
  if (sw) {
    for (let i = 0; i < sw.length; i++) {
      if (!Number.isFinite(sw[i]!)) throw new RangeError(`${name}: sampleWeight[${i}] is ${sw[i]}; weights must be finite`);
    }
  }
  if (!mask && !sw) return () => 1;
  return (u) => {
    if (mask && mask[ms === 1 ? u : Math.floor(u / ms)] === 0) return MASKED;
    return sw ? sw[ws === 1 ? u : Math.floor(u / ws)]! : 1;
  };
}

function finish(sum: number, count: number, grad: F, o: LossOptions): LossResult {
  const reduction = o.reduction ?? 'mean';
  if (count === 0) {
    grad.fill(0);
    return { loss: 0, grad, count: 0 };
  }
  if (reduction === 'mean') {
    // Gradients were accumulated with scale 1 per counted unit; divide once.
    const s = 1 / count;
    for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! * s;
    return { loss: sum / count, grad, count };
  }
  return { loss: sum, grad, count };
}

function checkReduction(name: string, o: LossOptions): void {
  if (o.reduction !== undefined && o.reduction !== 'mean' && o.reduction !== 'sum') {
    throw new RangeError(`${name}: reduction must be 'mean' or 'sum', got '${String(o.reduction)}'`);
  }
}

function rowsOf(name: string, predLen: number, n: number): number {
  if (n === 0) {
    if (predLen !== 0) throw new RangeError(`${name}: no targets but ${predLen} predictions`);
    return 0;
  }
  const K = predLen / n;
  if (!Number.isInteger(K) || K < 1) {
    throw new RangeError(`${name}: predictions have ${predLen} values, not a multiple of the ${n} targets (expected N·K)`);
  }
  return K;
}

const log1pExpNeg = (a: number): number => Math.log1p(Math.exp(-a)); // a >= 0

function stableSigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

// ---------------------------------------------------------------------------------------------
// sparse categorical crossentropy

function checkTarget(name: string, targets: ArrayLike<number>, r: number, K: number, ignore: number | undefined): void {
  const t = targets[r]!;
  if (!Number.isInteger(t) || t < 0 || t >= K) {
    throw new RangeError(`${name}: targets[${r}] = ${t} is out of range for ${K} classes (expected an integer in [0, ${K - 1}]${ignore !== undefined ? ` or ignoreIndex ${ignore}` : ''})`);
  }
}

/**
 * sparseCategoricalCrossentropy from logits when the softmax is already known: probs =
 * softmax(logits) and lse = log Σ exp(logits) per row (what a softmax Dense layer computes in its
 * forward). Same loss and gradient as the logits form, ℓ = lse - x_t, ∂ℓ/∂x = p - [k = t],
 * without recomputing any exponential.
 */
export function sparseCategoricalCrossentropyFromSoftmax(
  probs: Float32Array, lse: Float64Array, logits: Float32Array, targets: ArrayLike<number>, options: LossOptions = {},
): LossResult {
  const name = 'sparseCategoricalCrossentropy';
  checkReduction(name, options);
  const N = targets.length, K = rowsOf(name, logits.length, N);
  if (probs.length !== logits.length || lse.length < N) throw new RangeError(`${name}: probs/lse do not match the logits (${probs.length}, ${lse.length} for ${N}x${K})`);
  const grad = gradBuffer(name, logits, options);
  const withGrad = grad.length > 0;
  const weightOf = weighter(name, N, options, false);
  // The rows counted first, so that the mean's 1/count scales the gradient as it is written
  // instead of in a second pass over the N·K values (a char model's 2,048 x 65: 304 µs per step
  // before, 178 after, ad hoc). The values are those of writing w·p, subtracting w at the target
  // and scaling: each rounded to the gradient's type after every one of those steps. Without a
  // mask or weights the backend's kernel writes it (the same bits).
  const plain = !options.mask && !options.sampleWeight;
  let count = plain ? N : 0;
  if (!plain) for (let r = 0; r < N; r++) if (weightOf(r) !== MASKED) count++;
  if (count === 0) return finish(0, 0, grad, options);
  const mean = (options.reduction ?? 'mean') === 'mean';
  const round = grad instanceof Float32Array ? Math.fround : (x: number): number => x;
  const s = mean ? 1 / count : 1;
  let sum = 0;
  if (plain) {
    // Every value is p·s but at the targets: the backend's kernel (a char model's 2,048 x 65 in
    // TypeScript: 195 µs per step).
    for (let r = 0; r < N; r++) {
      const t = targets[r]!;
      if (!(t >= 0 && t < K && (t | 0) === t)) checkTarget(name, targets, r, K, undefined);
      sum += lse[r]! - logits[r * K + t]!;
    }
    if (withGrad) sparseXentGrad(backendFor(grad), probs, targets instanceof Int32Array ? targets : Int32Array.from(targets), N, K, s, grad);
    return { loss: mean ? sum / count : sum, grad, count };
  }
  for (let r = 0; r < N; r++) {
    const w = weightOf(r), o = r * K;
    if (w === MASKED) {
      if (withGrad) grad.fill(0, o, o + K);
      continue;
    }
    const t = targets[r]!;
    if (!(t >= 0 && t < K && (t | 0) === t)) checkTarget(name, targets, r, K, undefined);
    sum += w * (lse[r]! - logits[o + t]!);
    if (withGrad) {
      if (w === 1) {
        for (let k = 0; k < K; k++) grad[o + k] = probs[o + k]! * s;
        grad[o + t] = round(probs[o + t]! - 1) * s;
      } else {
        for (let k = 0; k < K; k++) grad[o + k] = round(w * probs[o + k]!) * s;
        grad[o + t] = round(round(w * probs[o + t]!) - w) * s;
      }
    }
  }
  return { loss: mean ? sum / count : sum, grad, count };
}

/**
 * logits (N, K) row-major, targets (N) class indices in [0, K). Mean over counted rows.
 * Out-of-range targets throw (naming the row and value) unless equal to ignoreIndex or masked.
 */
export function sparseCategoricalCrossentropy(
  logits: F, targets: Int32Array | ArrayLike<number>, options: SparseCrossentropyOptions = {},
): LossResult {
  const name = 'sparseCategoricalCrossentropy';
  checkReduction(name, options);
  const N = targets.length, K = rowsOf(name, logits.length, N);
  const fromLogits = options.fromLogits ?? true, ignore = options.ignoreIndex;
  const grad = gradBuffer(name, logits, options);
  const withGrad = grad.length > 0;
  if (withGrad) grad.fill(0);
  const weightOf = weighter(name, N, options, false);
  let sum = 0, count = 0;
  for (let r = 0; r < N; r++) {
    const w = weightOf(r);
    if (w === MASKED) continue;
    const t = targets[r]!;
    if (ignore !== undefined && t === ignore) continue;
    checkTarget(name, targets, r, K, ignore);
    count++;
    const o = r * K;
    if (fromLogits) {
      let mx = -Infinity;
      for (let k = 0; k < K; k++) if (logits[o + k]! > mx) mx = logits[o + k]!;
      if (mx === -Infinity || mx === Infinity) mx = 0; // all -inf / some +inf: let NaN/inf propagate honestly
      let se = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp(logits[o + k]! - mx);
        se += e;
        if (withGrad) grad[o + k] = e; // stash exp, normalised below
      }
      const lse = mx + Math.log(se);
      sum += w * (lse - logits[o + t]!);
      if (withGrad) {
        const s = w / se;
        for (let k = 0; k < K; k++) grad[o + k] = grad[o + k]! * s;
        grad[o + t] = grad[o + t]! - w;
      }
    } else {
      let S = 0;
      for (let k = 0; k < K; k++) S += logits[o + k]!;
      const pt = logits[o + t]!, q = pt / S;
      const c = Math.min(Math.max(q, EPSILON), 1 - EPSILON);
      sum += -w * Math.log(c);
      if (withGrad && q > EPSILON && q < 1 - EPSILON) {
        for (let k = 0; k < K; k++) grad[o + k] = w / S;
        grad[o + t] = grad[o + t]! - w / pt;
      }
    }
  }
  return finish(sum, count, grad, options);
}

// ---------------------------------------------------------------------------------------------
// categorical crossentropy (dense / soft targets)

/** logits (N, K), targets (N, K) probabilities (e.g. one-hot). Mean over counted rows. */
export function categoricalCrossentropy(logits: F, targets: ArrayLike<number>, options: CrossentropyOptions = {}): LossResult {
  const name = 'categoricalCrossentropy';
  checkReduction(name, options);
  if (targets.length !== logits.length) {
    throw new RangeError(`${name}: targets have ${targets.length} values but predictions ${logits.length} (both (N, K))`);
  }
  const fromLogits = options.fromLogits ?? true, ls = options.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls <= 1)) throw new RangeError(`${name}: labelSmoothing must be in [0, 1], got ${ls}`);
  // A flat buffer does not say where rows end: K comes from numClasses, or from a per-row
  // mask / sampleWeight (K = length / rows).
  const rowsHint = options.mask?.length ?? options.sampleWeight?.length;
  const K = options.numClasses ?? (rowsHint ? logits.length / rowsHint : undefined);
  if (K === undefined) throw new RangeError(`${name}: pass numClasses (or a per-row mask / sampleWeight) so rows can be found`);
  if (!Number.isInteger(K) || K < 1 || logits.length % K !== 0) {
    throw new RangeError(`${name}: ${logits.length} predictions are not a whole number of rows of ${K} classes`);
  }
  const N = logits.length / K;
  const grad = gradBuffer(name, logits, options);
  const withGrad = grad.length > 0;
  if (withGrad) grad.fill(0);
  const weightOf = weighter(name, N, options, false);
  const smooth = (y: number): number => (ls === 0 ? y : y * (1 - ls) + ls / K);
  let sum = 0, count = 0;
  for (let r = 0; r < N; r++) {
    const w = weightOf(r);
    if (w === MASKED) continue;
    count++;
    const o = r * K;
    if (fromLogits) {
      let mx = -Infinity;
      for (let k = 0; k < K; k++) if (logits[o + k]! > mx) mx = logits[o + k]!;
      if (mx === -Infinity || mx === Infinity) mx = 0;
      let se = 0, sy = 0, syx = 0;
      for (let k = 0; k < K; k++) {
        const e = Math.exp(logits[o + k]! - mx);
        se += e;
        const y = smooth(targets[o + k]!);
        sy += y;
        if (y !== 0) syx += y * logits[o + k]!;
        if (withGrad) grad[o + k] = e;
      }
      const lse = mx + Math.log(se);
      sum += w * (sy * lse - syx);
      if (withGrad) {
        const s = (w * sy) / se;
        for (let k = 0; k < K; k++) grad[o + k] = grad[o + k]! * s - w * smooth(targets[o + k]!);
      }
    } else {
      let S = 0;
      for (let k = 0; k < K; k++) S += logits[o + k]!;
      let l = 0, syU = 0;
      for (let k = 0; k < K; k++) {
        const y = smooth(targets[o + k]!);
        const q = logits[o + k]! / S;
        if (y !== 0) l -= y * Math.log(Math.min(Math.max(q, EPSILON), 1 - EPSILON));
        if (q > EPSILON && q < 1 - EPSILON) syU += y;
      }
      sum += w * l;
      if (withGrad) {
        for (let k = 0; k < K; k++) {
          const y = smooth(targets[o + k]!);
          const q = logits[o + k]! / S;
          const direct = y !== 0 && q > EPSILON && q < 1 - EPSILON ? y / logits[o + k]! : 0;
          grad[o + k] = w * (syU / S - direct);
        }
      }
    }
  }
  return finish(sum, count, grad, options);
}

// ---------------------------------------------------------------------------------------------
// binary crossentropy

/** pred (M) logits or probabilities, targets (M) in [0, 1]. Mean over counted elements. */
export function binaryCrossentropy(pred: F, targets: ArrayLike<number>, options: CrossentropyOptions = {}): LossResult {
  const name = 'binaryCrossentropy';
  checkReduction(name, options);
  const M = pred.length;
  if (targets.length !== M) throw new RangeError(`${name}: targets have ${targets.length} values but predictions ${M}`);
  const fromLogits = options.fromLogits ?? true, ls = options.labelSmoothing ?? 0;
  if (!(ls >= 0 && ls <= 1)) throw new RangeError(`${name}: labelSmoothing must be in [0, 1], got ${ls}`);
  const grad = gradBuffer(name, pred, options);
  const withGrad = grad.length > 0;
  const weightOf = weighter(name, M, options, true);
  let sum = 0, count = 0;
  for (let i = 0; i < M; i++) {
    const w = weightOf(i);
    if (w === MASKED) { if (withGrad) grad[i] = 0; continue; }
    count++;
    const x = pred[i]!;
    const y = ls === 0 ? targets[i]! : targets[i]! * (1 - ls) + 0.5 * ls;
    if (fromLogits) {
      sum += w * (Math.max(x, 0) - x * y + log1pExpNeg(Math.abs(x)));
      if (withGrad) grad[i] = w * (stableSigmoid(x) - y);
    } else {
      const p = Math.min(Math.max(x, EPSILON), 1 - EPSILON);
      sum -= w * (y * Math.log(p + EPSILON) + (1 - y) * Math.log(1 - p + EPSILON));
      if (withGrad) grad[i] = x > EPSILON && x < 1 - EPSILON ? w * (-y / (p + EPSILON) + (1 - y) / (1 - p + EPSILON)) : 0;
    }
  }
  return finish(sum, count, grad, options);
}

// ---------------------------------------------------------------------------------------------
// regression

function elementwise(
  name: string, pred: F, target: ArrayLike<number>, maskOrOptions: Mask | LossOptions | undefined,
  f: (d: number) => number, df: (d: number) => number,
): LossResult {
  const options: LossOptions = maskOrOptions === undefined
    ? {}
    : ArrayBuffer.isView(maskOrOptions) || Array.isArray(maskOrOptions)
      ? { mask: maskOrOptions as Mask }
      : (maskOrOptions as LossOptions);
  checkReduction(name, options);
  const M = pred.length;
  if (target.length !== M) throw new RangeError(`${name}: targets have ${target.length} values but predictions ${M}`);
  const grad = gradBuffer(name, pred, options);
  const withGrad = grad.length > 0;
  const weightOf = weighter(name, M, options, true);
  let sum = 0, count = 0;
  for (let i = 0; i < M; i++) {
    const w = weightOf(i);
    if (w === MASKED) { if (withGrad) grad[i] = 0; continue; }
    count++;
    const d = pred[i]! - target[i]!;
    sum += w * f(d);
    if (withGrad) grad[i] = w * df(d);
  }
  return finish(sum, count, grad, options);
}

/** mean((pred - target)²) over counted elements. Third argument: a mask, or LossOptions. */
export function meanSquaredError(pred: F, target: ArrayLike<number>, maskOrOptions?: Mask | LossOptions): LossResult {
  return elementwise('meanSquaredError', pred, target, maskOrOptions, (d) => d * d, (d) => 2 * d);
}

/** mean(|pred - target|) over counted elements. Third argument: a mask, or LossOptions. */
export function meanAbsoluteError(pred: F, target: ArrayLike<number>, maskOrOptions?: Mask | LossOptions): LossResult {
  return elementwise('meanAbsoluteError', pred, target, maskOrOptions, Math.abs, (d) => (d > 0 ? 1 : d < 0 ? -1 : 0));
}

// ---------------------------------------------------------------------------------------------
// lookup

const LOSSES: Record<string, LossFn> = {
  sparseCategoricalCrossentropy: sparseCategoricalCrossentropy as LossFn,
  categoricalCrossentropy: categoricalCrossentropy as LossFn,
  binaryCrossentropy: binaryCrossentropy as LossFn,
  meanSquaredError: meanSquaredError as LossFn,
  meanAbsoluteError: meanAbsoluteError as LossFn,
};
const ALIASES: Record<string, keyof typeof LOSSES> = {
  mse: 'meanSquaredError',
  mae: 'meanAbsoluteError',
  bce: 'binaryCrossentropy',
};
export const lossNames: readonly string[] = Object.keys(LOSSES);

/**
 * Resolve a loss by its Keras / TF.js name: 'sparseCategoricalCrossentropy', 'binaryCrossentropy',
 * 'categoricalCrossentropy', 'meanSquaredError', 'meanAbsoluteError', also snake_case
 * ('sparse_categorical_crossentropy'), class names ('SparseCategoricalCrossentropy') and
 * 'mse' / 'mae' / 'bce'. A function is returned unchanged.
 */
export function getLoss(name: string | LossFn): LossFn {
  if (typeof name === 'function') return name;
  const norm = String(name).replace(/_/g, '').toLowerCase();
  for (const key of lossNames) if (key.toLowerCase() === norm) return LOSSES[key]!;
  const alias = ALIASES[norm];
  if (alias) return LOSSES[alias]!;
  throw new Error(
    `unknown loss '${name}'; valid names: ${lossNames.join(', ')} (or snake_case: ${lossNames.map(toSnake).join(', ')}; aliases: ${Object.keys(ALIASES).join(', ')})`,
  );
}

function toSnake(s: string): string {
  return s.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());
}
