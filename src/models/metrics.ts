// Streaming metrics over flat buffers: `update(pred, target, mask?)` per batch, `result()` over
// everything seen since the last `reset()`. Results are ratios of running totals (so a batch
// with more counted elements weighs more, as Keras does), and 0 when nothing was counted.
//
// Masks: 0 = padding (not counted), non-zero = counted; one entry per row for the argmax /
// crossentropy metrics, per element or per row (a divisor of the length) for elementwise ones.
//
//   binaryAccuracy      mean([ŷ = y]),  ŷ = [p > threshold] (probabilities, default threshold 0.5)
//                                       or [x > logit(threshold)] = [x > 0] (fromLogits); y = [target > 0.5]
//   sparseCategorical…  mean([argmax_k pred_{r,k} = target_r])     (first maximum wins, as argmax)
//   categoricalAccuracy mean([argmax pred_r = argmax target_r])
//   accuracy            binary if pred and target have the same length (categorical if numClasses > 1
//                       is given), sparse categorical if pred has K > 1 values per target
//   precision = TP / (TP + FP),  recall = TP / (TP + FN),  f1 = 2·P·R / (P + R)    (binary; 0 if 0/0)
//   crossentropy (nats) = Σ ℓ / count;  bits = nats / ln 2;  perplexity = exp(nats)
//
// NOTE on fromLogits defaults: thresholded metrics (binary accuracy, precision, recall, f1) default
// to probabilities with threshold 0.5, as Keras; the crossentropy / perplexity metrics default to
// fromLogits = true, like the losses in losses.ts.
import type { F } from '../kernels/types.js';
import { sparseCategoricalCrossentropy, meanSquaredError, meanAbsoluteError, type Mask } from './losses.js';

export interface Metric {
  /** Key used in training logs (the name it was requested by, for getMetric). */
  readonly name: string;
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void;
  result(): number;
  reset(): void;
}

export interface MetricOptions {
  name?: string;
  /** Thresholded metrics: predictions are logits (threshold at logit(threshold) = 0 by default). */
  fromLogits?: boolean;
  /** Probability threshold for binary decisions, default 0.5. */
  threshold?: number;
  /** Row width for categoricalAccuracy / accuracy with one-hot targets, and for confusion matrices. */
  numClasses?: number;
  /** Sparse metrics: targets equal to this are not counted. */
  ignoreIndex?: number;
}

// ---------------------------------------------------------------------------------------------
// helpers

/** Entries per mask value: 1 if the mask has one value per unit, else units / mask.length. */
function maskSpan(name: string, mask: Mask | undefined, units: number, elementwise: boolean): number {
  if (!mask || mask.length === units) return 1;
  if (elementwise && mask.length > 0 && units % mask.length === 0) return units / mask.length;
  throw new RangeError(`${name}: mask has ${mask.length} entries; expected ${units}${elementwise ? ' or a divisor of it' : ' (one per row)'}`);
}

function counted(mask: Mask | undefined, span: number, u: number): boolean {
  return !mask || mask[span === 1 ? u : Math.floor(u / span)] !== 0;
}

/** Index of the first maximum of row r (width K); NaN entries never win; -1 for an all-NaN row. */
function argmaxRow(a: ArrayLike<number>, r: number, K: number): number {
  let best = -1, bv = -Infinity;
  const o = r * K;
  for (let k = 0; k < K; k++) {
    const v = a[o + k]!;
    if (v > bv || (best < 0 && v === -Infinity)) { bv = v; best = k; }
  }
  return best;
}

/** argmax of every row of an (N, K) buffer. */
export function argmaxRows(scores: ArrayLike<number>, K: number): Int32Array {
  if (!Number.isInteger(K) || K < 1 || scores.length % K !== 0) {
    throw new RangeError(`argmaxRows: ${scores.length} values are not a whole number of rows of ${K}`);
  }
  const N = scores.length / K, out = new Int32Array(N);
  for (let r = 0; r < N; r++) out[r] = argmaxRow(scores, r, K);
  return out;
}

function rowWidth(name: string, predLen: number, n: number): number {
  const K = n === 0 ? 1 : predLen / n;
  if (!Number.isInteger(K) || K < 1 || (n === 0 && predLen !== 0)) {
    throw new RangeError(`${name}: predictions have ${predLen} values, not a multiple of the ${n} targets (expected N·K)`);
  }
  return K;
}

function logitThreshold(threshold: number): number {
  return Math.log(threshold / (1 - threshold));
}

function checkThreshold(name: string, t: number): number {
  if (!(t > 0 && t < 1)) throw new RangeError(`${name}: threshold must be in (0, 1), got ${t}`);
  return t;
}

// ---------------------------------------------------------------------------------------------
// accuracies

/** Shared counter: result = correct / total. */
abstract class RatioMetric implements Metric {
  protected correct = 0;
  protected total = 0;
  constructor(readonly name: string) {}
  abstract update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void;
  result(): number {
    return this.total === 0 ? 0 : this.correct / this.total;
  }
  /** Running totals: correct predictions and counted ones. */
  totals(): { correct: number; total: number } {
    return { correct: this.correct, total: this.total };
  }
  reset(): void {
    this.correct = 0;
    this.total = 0;
  }
}

export class BinaryAccuracy extends RatioMetric {
  readonly threshold: number;
  readonly fromLogits: boolean;
  private readonly cut: number;
  constructor(o: MetricOptions = {}) {
    super(o.name ?? 'binary_accuracy');
    this.threshold = checkThreshold(this.name, o.threshold ?? 0.5);
    this.fromLogits = o.fromLogits ?? false;
    this.cut = this.fromLogits ? logitThreshold(this.threshold) : this.threshold;
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    if (pred.length !== target.length) throw new RangeError(`${this.name}: ${pred.length} predictions but ${target.length} targets`);
    const span = maskSpan(this.name, mask, pred.length, true);
    for (let i = 0; i < pred.length; i++) {
      if (!counted(mask, span, i)) continue;
      this.total++;
      if ((pred[i]! > this.cut) === (target[i]! > 0.5)) this.correct++;
    }
  }
}

export class SparseCategoricalAccuracy extends RatioMetric {
  readonly ignoreIndex: number | undefined;
  constructor(o: MetricOptions = {}) {
    super(o.name ?? 'sparse_categorical_accuracy');
    this.ignoreIndex = o.ignoreIndex;
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    const N = target.length, K = rowWidth(this.name, pred.length, N);
    const span = maskSpan(this.name, mask, N, false);
    for (let r = 0; r < N; r++) {
      if (!counted(mask, span, r) || target[r] === this.ignoreIndex) continue;
      this.total++;
      if (argmaxRow(pred, r, K) === target[r]) this.correct++;
    }
  }
}

export class CategoricalAccuracy extends RatioMetric {
  readonly numClasses: number;
  constructor(o: MetricOptions & { numClasses: number }) {
    super(o.name ?? 'categorical_accuracy');
    if (!Number.isInteger(o.numClasses) || o.numClasses < 1) throw new RangeError(`${this.name}: numClasses must be a positive integer`);
    this.numClasses = o.numClasses;
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    const K = this.numClasses;
    if (pred.length !== target.length || pred.length % K !== 0) {
      throw new RangeError(`${this.name}: predictions (${pred.length}) and one-hot targets (${target.length}) must both be (N, ${K})`);
    }
    const N = pred.length / K, span = maskSpan(this.name, mask, N, false);
    for (let r = 0; r < N; r++) {
      if (!counted(mask, span, r)) continue;
      this.total++;
      if (argmaxRow(pred, r, K) === argmaxRow(target, r, K)) this.correct++;
    }
  }
}

/**
 * Keras 'accuracy': picks binary / categorical / sparse categorical from the shapes of each batch
 * (same length -> binary, or categorical when numClasses > 1; K > 1 predictions per target -> sparse).
 */
export class Accuracy implements Metric {
  readonly name: string;
  private readonly binary: BinaryAccuracy;
  private readonly sparse: SparseCategoricalAccuracy;
  private readonly categorical: CategoricalAccuracy | null;
  constructor(o: MetricOptions = {}) {
    this.name = o.name ?? 'accuracy';
    this.binary = new BinaryAccuracy({ ...o, name: this.name });
    this.sparse = new SparseCategoricalAccuracy({ ...o, name: this.name });
    this.categorical = o.numClasses !== undefined && o.numClasses > 1 ? new CategoricalAccuracy({ ...o, numClasses: o.numClasses, name: this.name }) : null;
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    if (pred.length === target.length) (this.categorical ?? this.binary).update(pred, target, mask);
    else this.sparse.update(pred, target, mask);
  }
  result(): number {
    // Only one of the three sees data in practice; combine their totals anyway.
    let c = 0, t = 0;
    for (const m of [this.binary, this.sparse, this.categorical]) {
      if (!m) continue;
      const s = m.totals();
      c += s.correct; t += s.total;
    }
    return t === 0 ? 0 : c / t;
  }
  reset(): void {
    this.binary.reset();
    this.sparse.reset();
    this.categorical?.reset();
  }
}

// ---------------------------------------------------------------------------------------------
// precision / recall / f1 (binary)

/** Running binary confusion counts with a threshold; base of Precision, Recall, F1. */
export class BinaryCounts {
  tp = 0; fp = 0; fn = 0; tn = 0;
  readonly threshold: number;
  readonly fromLogits: boolean;
  private readonly cut: number;
  constructor(o: MetricOptions = {}, private readonly label = 'binaryCounts') {
    this.threshold = checkThreshold(label, o.threshold ?? 0.5);
    this.fromLogits = o.fromLogits ?? false;
    this.cut = this.fromLogits ? logitThreshold(this.threshold) : this.threshold;
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    if (pred.length !== target.length) throw new RangeError(`${this.label}: ${pred.length} predictions but ${target.length} targets`);
    const span = maskSpan(this.label, mask, pred.length, true);
    for (let i = 0; i < pred.length; i++) {
      if (!counted(mask, span, i)) continue;
      const p = pred[i]! > this.cut, y = target[i]! > 0.5;
      if (p) { if (y) this.tp++; else this.fp++; } else if (y) this.fn++; else this.tn++;
    }
  }
  get precision(): number { const d = this.tp + this.fp; return d === 0 ? 0 : this.tp / d; }
  get recall(): number { const d = this.tp + this.fn; return d === 0 ? 0 : this.tp / d; }
  get f1(): number { const p = this.precision, r = this.recall; return p + r === 0 ? 0 : (2 * p * r) / (p + r); }
  reset(): void { this.tp = this.fp = this.fn = this.tn = 0; }
}

abstract class CountsMetric implements Metric {
  readonly counts: BinaryCounts;
  constructor(readonly name: string, o: MetricOptions) {
    this.counts = new BinaryCounts(o, name);
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void { this.counts.update(pred, target, mask); }
  abstract result(): number;
  reset(): void { this.counts.reset(); }
}

export class Precision extends CountsMetric {
  constructor(o: MetricOptions = {}) { super(o.name ?? 'precision', o); }
  result(): number { return this.counts.precision; }
}
export class Recall extends CountsMetric {
  constructor(o: MetricOptions = {}) { super(o.name ?? 'recall', o); }
  result(): number { return this.counts.recall; }
}
export class F1 extends CountsMetric {
  constructor(o: MetricOptions = {}) { super(o.name ?? 'f1', o); }
  result(): number { return this.counts.f1; }
}

// ---------------------------------------------------------------------------------------------
// confusion matrix

/**
 * K×K counts, row = true class, column = predicted class (TF / scikit-learn convention), as an
 * Int32Array in row-major order. Labels outside [0, K) throw, naming the position.
 */
export function confusionMatrix(
  predLabels: ArrayLike<number>, trueLabels: ArrayLike<number>, numClasses: number, mask?: Mask, into?: Int32Array,
): Int32Array {
  const K = numClasses;
  if (!Number.isInteger(K) || K < 1) throw new RangeError(`confusionMatrix: numClasses must be a positive integer, got ${K}`);
  if (predLabels.length !== trueLabels.length) {
    throw new RangeError(`confusionMatrix: ${predLabels.length} predicted labels but ${trueLabels.length} true labels`);
  }
  const m = into ?? new Int32Array(K * K);
  if (m.length !== K * K) throw new RangeError(`confusionMatrix: output has ${m.length} entries, expected ${K * K}`);
  const span = maskSpan('confusionMatrix', mask, trueLabels.length, false);
  for (let i = 0; i < trueLabels.length; i++) {
    if (!counted(mask, span, i)) continue;
    const t = trueLabels[i]!, p = predLabels[i]!;
    if (!(Number.isInteger(t) && t >= 0 && t < K)) throw new RangeError(`confusionMatrix: trueLabels[${i}] = ${t} is out of range [0, ${K})`);
    if (!(Number.isInteger(p) && p >= 0 && p < K)) throw new RangeError(`confusionMatrix: predLabels[${i}] = ${p} is out of range [0, ${K})`);
    m[t * K + p]!++;
  }
  return m;
}

/** Streaming confusion matrix; update takes (N, K) scores (argmax) or N predicted labels. */
export class ConfusionMatrix {
  readonly matrix: Int32Array;
  constructor(readonly numClasses: number) {
    this.matrix = new Int32Array(numClasses * numClasses);
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    const K = this.numClasses;
    const labels = pred.length === target.length ? pred : argmaxRows(pred, K);
    if (labels.length !== target.length) throw new RangeError(`ConfusionMatrix: expected ${target.length} labels or ${target.length}·${K} scores, got ${pred.length}`);
    confusionMatrix(labels, target, K, mask, this.matrix);
  }
  /** Overall accuracy: trace / total. */
  accuracy(): number {
    const K = this.numClasses;
    let tr = 0, tot = 0;
    for (let i = 0; i < K * K; i++) tot += this.matrix[i]!;
    for (let k = 0; k < K; k++) tr += this.matrix[k * K + k]!;
    return tot === 0 ? 0 : tr / tot;
  }
  reset(): void { this.matrix.fill(0); }
}

// ---------------------------------------------------------------------------------------------
// crossentropy in nats / bits, perplexity

/** nats -> bits: x / ln 2. */
export function natsToBits(nats: number): number { return nats / Math.LN2; }
/** bits -> nats: x · ln 2. */
export function bitsToNats(bits: number): number { return bits * Math.LN2; }
/** Perplexity from a mean crossentropy in nats: exp(loss). */
export function perplexityFromLoss(meanLossNats: number): number { return Math.exp(meanLossNats); }

function toF(a: ArrayLike<number>): F {
  return a instanceof Float32Array || a instanceof Float64Array ? a : Float64Array.from(a);
}

/**
 * Streaming sparse categorical crossentropy: Σ ℓ / count over all batches (token-weighted).
 * unit 'nats' (default) or 'bits'; `transform: 'perplexity'` reports exp(mean nats).
 */
export class SparseCrossentropyMetric implements Metric {
  private sum = 0;
  private count = 0;
  readonly fromLogits: boolean;
  readonly ignoreIndex: number | undefined;
  constructor(readonly name: string, readonly report: 'nats' | 'bits' | 'perplexity', o: MetricOptions = {}) {
    this.fromLogits = o.fromLogits ?? true;
    this.ignoreIndex = o.ignoreIndex;
  }
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    const r = sparseCategoricalCrossentropy(toF(pred), target, {
      fromLogits: this.fromLogits, reduction: 'sum', noGrad: true,
      ...(mask ? { mask } : {}), ...(this.ignoreIndex !== undefined ? { ignoreIndex: this.ignoreIndex } : {}),
    });
    this.sum += r.loss;
    this.count += r.count;
  }
  /** Mean crossentropy in nats over everything seen. */
  meanNats(): number { return this.count === 0 ? 0 : this.sum / this.count; }
  result(): number {
    const nats = this.meanNats();
    return this.report === 'bits' ? natsToBits(nats) : this.report === 'perplexity' ? (this.count === 0 ? 0 : perplexityFromLoss(nats)) : nats;
  }
  reset(): void { this.sum = 0; this.count = 0; }
}

export class Perplexity extends SparseCrossentropyMetric {
  constructor(o: MetricOptions = {}) { super(o.name ?? 'perplexity', 'perplexity', o); }
}

/** Streaming mean squared / absolute error over counted elements. */
export class RegressionMetric implements Metric {
  private sum = 0;
  private count = 0;
  constructor(readonly name: string, readonly kind: 'mse' | 'mae') {}
  update(pred: ArrayLike<number>, target: ArrayLike<number>, mask?: Mask): void {
    const f = this.kind === 'mse' ? meanSquaredError : meanAbsoluteError;
    const r = f(toF(pred), target, { reduction: 'sum', noGrad: true, ...(mask ? { mask } : {}) });
    this.sum += r.loss;
    this.count += r.count;
  }
  result(): number { return this.count === 0 ? 0 : this.sum / this.count; }
  reset(): void { this.sum = 0; this.count = 0; }
}

/** Streaming weighted mean of scalars (e.g. the per-batch loss, weighted by batch count). */
export class Mean {
  private sum = 0;
  private weight = 0;
  constructor(readonly name = 'mean') {}
  update(value: number, weight = 1): void { this.sum += value * weight; this.weight += weight; }
  result(): number { return this.weight === 0 ? 0 : this.sum / this.weight; }
  reset(): void { this.sum = 0; this.weight = 0; }
}

// ---------------------------------------------------------------------------------------------
// lookup

type Factory = (o: MetricOptions) => Metric;
const METRICS: Record<string, Factory> = {
  accuracy: (o) => new Accuracy(o),
  binaryAccuracy: (o) => new BinaryAccuracy(o),
  sparseCategoricalAccuracy: (o) => new SparseCategoricalAccuracy(o),
  categoricalAccuracy: (o) => {
    if (o.numClasses === undefined) throw new Error('categoricalAccuracy: pass { numClasses } (the row width of the one-hot targets)');
    return new CategoricalAccuracy({ ...o, numClasses: o.numClasses });
  },
  precision: (o) => new Precision(o),
  recall: (o) => new Recall(o),
  f1: (o) => new F1(o),
  sparseCategoricalCrossentropy: (o) => new SparseCrossentropyMetric(o.name ?? 'sparse_categorical_crossentropy', 'nats', o),
  bitsPerCharacter: (o) => new SparseCrossentropyMetric(o.name ?? 'bits_per_character', 'bits', o),
  perplexity: (o) => new Perplexity(o),
  meanSquaredError: (o) => new RegressionMetric(o.name ?? 'mean_squared_error', 'mse'),
  meanAbsoluteError: (o) => new RegressionMetric(o.name ?? 'mean_absolute_error', 'mae'),
};
const ALIASES: Record<string, keyof typeof METRICS> = {
  acc: 'accuracy',
  f1score: 'f1',
  crossentropy: 'sparseCategoricalCrossentropy',
  bits: 'bitsPerCharacter',
  bpc: 'bitsPerCharacter',
  ppl: 'perplexity',
  mse: 'meanSquaredError',
  mae: 'meanAbsoluteError',
};
export const metricNames: readonly string[] = Object.keys(METRICS);

/**
 * A fresh metric by Keras name ('accuracy', 'acc', 'binaryAccuracy' / 'binary_accuracy',
 * 'sparseCategoricalAccuracy', 'categoricalAccuracy', 'precision', 'recall', 'f1' / 'f1_score',
 * 'perplexity', 'sparse_categorical_crossentropy' / 'crossentropy' (nats), 'bpc' (bits),
 * 'mse', 'mae'). The metric's `name` (its log key) is the string given, unless options.name is set.
 */
export function getMetric(name: string, options: MetricOptions = {}): Metric {
  const norm = String(name).replace(/_/g, '').toLowerCase();
  let key = metricNames.find((k) => k.toLowerCase() === norm);
  if (key === undefined) key = ALIASES[norm];
  if (key === undefined) {
    throw new Error(`unknown metric '${name}'; valid names: ${metricNames.join(', ')} (snake_case also accepted; aliases: ${Object.keys(ALIASES).join(', ')})`);
  }
  return METRICS[key]!({ ...options, name: options.name ?? name });
}
