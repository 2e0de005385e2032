// Sample and class weights (Keras's sample_weight and class_weight) for fit, evaluate and
// trainOnBatch: one weight per target row — a sample, or a step of a sequence output — that
// multiplies the row's loss. The loss stays a mean over the counted rows (padding is not
// counted): a weight changes a row's share of the sum, never the count (Keras's
// "sum_over_batch_size").
//
// A row's class, for class weights: the target id (sparseCategoricalCrossentropy), the one-hot
// row's largest entry (categoricalCrossentropy), 1 for a target ≥ 0.5 and 0 below
// (binaryCrossentropy with one output per row). 'balanced' weighs class c by N / (C · n_c) over
// the N counted rows of the C classes present (scikit-learn's rule).
import { isDense, toDense, type ArrayInput, type Dense } from './data-input.js';
import type { LossName } from './loss-adapter.js';

/** Weight per class id: a record (`{ 0: 1, 1: 5 }`), an array indexed by class, or 'balanced'. */
export type ClassWeight = Readonly<Record<number, number>> | readonly number[] | 'balanced';

export interface WeightRequest {
  /** For errors: `<model>.fit` and the like. */
  where: string;
  loss: LossName;
  /** The targets, [N, ...]. */
  y: Dense;
  /** The output's last dimension (classes, or values per row). */
  K: number;
  sampleWeight?: ArrayInput | Dense | undefined;
  classWeight?: ClassWeight | undefined;
  /**
   * Each sample's real steps when the output is a sequence whose padding is known: the rows past
   * them are not counted by 'balanced' and need no class weight.
   */
  lengths?: Int32Array | null;
}

/**
 * The weights of a request as an array [N] (one per sample) or [N, R] (one per row of a sequence
 * output with R rows per sample), cut and taken by rows as the targets are; null when there are
 * none. Throws, naming the argument, on a shape that does not fit the targets, a weight that is
 * negative or not finite, a class with no weight, or class weights for a loss without classes.
 */
export function resolveWeights(r: WeightRequest): Dense | null {
  const { where, y } = r;
  if (r.sampleWeight === undefined && r.classWeight === undefined) return null;
  const N = y.shape[0]!;
  const rows = r.loss === 'sparseCategoricalCrossentropy' ? y.data.length : y.data.length / r.K;
  const R = N > 0 ? rows / N : 1;
  let sw: Dense | null = null;
  if (r.sampleWeight !== undefined) {
    sw = isDense(r.sampleWeight) ? r.sampleWeight : toDense(r.sampleWeight as ArrayInput, `${where}: sampleWeight`);
    const s = sw.shape, perSample = s.length === 1 || (s.length === 2 && s[1] === 1 && R !== 1);
    if (s[0] !== N || !(perSample || (s.length === 2 && s[1] === R))) {
      throw new RangeError(`${where}: sampleWeight has shape [${s.join(', ')}]; expected [${N}] (one weight per sample)` +
        (R !== 1 ? ` or [${N}, ${R}] (one per step of the sequence output)` : ''));
    }
    for (let i = 0; i < sw.data.length; i++) {
      const v = sw.data[i]!;
      if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${where}: sampleWeight[${i}] is ${v}; weights must be finite and not negative`);
    }
    if (perSample && s.length === 2) sw = { data: sw.data, shape: [N], mask: null };
  }
  if (r.classWeight === undefined) return sw;
  const classes = rowClasses(r, rows);
  const counted = (row: number): boolean => {
    const n = Math.floor(row / R), t = row - n * R;
    return !(y.mask && y.mask.length === rows && y.mask[row] === 0) && !(R > 1 && r.lengths && t >= r.lengths[n]!);
  };
  const table = classTable(where, r.classWeight, classes, rows, counted);
  const out = new Float32Array(rows);
  for (let row = 0; row < rows; row++) {
    const c = classes[row]!, n = Math.floor(row / R);
    let w = table.get(c);
    if (w === undefined) {
      if (counted(row)) {
        const at = R > 1 ? `sample ${n}, step ${row - n * R}` : `sample ${n}`;
        throw new RangeError(`${where}: classWeight has no weight for class ${c} (the target of ${at}); give every class a weight`);
      }
      w = 1; // padding: not counted by the loss
    }
    const s = sw ? sw.data[sw.shape.length === 1 ? n : row]! : 1;
    out[row] = s * w;
  }
  return { data: out, shape: R > 1 ? [N, R] : [N], mask: null };
}

/** Each target row's class (see the file's comment); refuses losses without classes. */
function rowClasses(r: WeightRequest, rows: number): Int32Array {
  const { where, y, K } = r, out = new Int32Array(rows);
  switch (r.loss) {
    case 'sparseCategoricalCrossentropy':
      for (let i = 0; i < rows; i++) out[i] = Math.trunc(y.data[i]!);
      return out;
    case 'categoricalCrossentropy':
      for (let i = 0; i < rows; i++) {
        let best = 0;
        for (let k = 1; k < K; k++) if (y.data[i * K + k]! > y.data[i * K + best]!) best = k;
        out[i] = best;
      }
      return out;
    case 'binaryCrossentropy':
      if (K !== 1) throw new RangeError(`${where}: classWeight needs one label per row; this binaryCrossentropy output has ${K} labels per row (give sampleWeight instead)`);
      for (let i = 0; i < rows; i++) out[i] = y.data[i]! >= 0.5 ? 1 : 0;
      return out;
    case 'meanSquaredError':
      throw new RangeError(`${where}: classWeight needs a classification loss; meanSquaredError has no classes (give sampleWeight instead)`);
  }
}

function classTable(where: string, cw: ClassWeight, classes: Int32Array, rows: number, counted: (row: number) => boolean): Map<number, number> {
  const table = new Map<number, number>();
  if (cw === 'balanced') {
    let total = 0;
    for (let row = 0; row < rows; row++) {
      if (!counted(row)) continue;
      table.set(classes[row]!, (table.get(classes[row]!) ?? 0) + 1);
      total++;
    }
    for (const [c, n] of table) table.set(c, total / (table.size * n));
    return table;
  }
  if (typeof cw !== 'object' || cw === null) {
    throw new TypeError(`${where}: classWeight must be a record of class -> weight, an array of weights or 'balanced', got ${JSON.stringify(cw)}`);
  }
  for (const [key, w] of Object.entries(cw)) {
    const c = Number(key);
    if (!Number.isInteger(c) || c < 0) throw new RangeError(`${where}: classWeight key '${key}' is not a class id (a whole number from 0)`);
    if (!(typeof w === 'number' && Number.isFinite(w) && w >= 0)) throw new RangeError(`${where}: classWeight[${key}] is ${String(w)}; weights must be finite and not negative`);
    table.set(c, w);
  }
  return table;
}

/**
 * A batch's weights (rows of resolveWeights' array) as the loss takes them: one per row of an
 * output with `rows` rows (a per-sample weight repeated over its sample's rows).
 */
export function rowWeights(w: Dense, rows: number): Float32Array {
  if (w.data.length === rows) return w.data;
  const B = w.shape[0]!, span = rows / B;
  if (w.shape.length !== 1 || !Number.isInteger(span)) {
    throw new RangeError(`sample weights of shape [${w.shape.join(', ')}] do not fit an output of ${rows} rows`);
  }
  const out = new Float32Array(rows);
  for (let b = 0; b < B; b++) out.fill(w.data[b]!, b * span, (b + 1) * span);
  return out;
}
