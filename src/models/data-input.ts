// Turning what users pass to fit/evaluate/predict into dense batch-first arrays with masks:
// rnn.Tensor, { data, shape } typed arrays, or nested number arrays (ragged sequences of token
// ids are padded with 0 and masked).
import { Tensor } from '../tensor/tensor.js';

export interface Dense {
  data: Float32Array;
  /** Batch-first shape. */
  shape: number[];
  /** (B, T) 1 = real step; only for padded ragged input. */
  mask: Uint8Array | null;
}

export type ArrayInput =
  | Tensor<Float32Array | Float64Array>
  | { data: ArrayLike<number>; shape: number[] }
  | number[]
  | number[][]
  | number[][][];

/** Whether v is already a Dense (what toDense returns), not user input to convert. */
export function isDense(v: unknown): v is Dense {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && 'mask' in v && (v as Dense).data instanceof Float32Array;
}

function depth(v: unknown): number {
  let d = 0;
  while (Array.isArray(v)) { d++; v = v[0]; }
  return d;
}

export function toDense(v: ArrayInput, what: string): Dense {
  if (v instanceof Tensor) return { data: Float32Array.from(v.data), shape: [...v.shape], mask: null };
  if (v && !Array.isArray(v) && typeof v === 'object' && 'data' in v && 'shape' in v) {
    const size = v.shape.reduce((p, d) => p * d, 1);
    if (v.data.length !== size) throw new RangeError(`${what}: data has ${v.data.length} values, shape [${v.shape.join(', ')}] needs ${size}`);
    return { data: Float32Array.from(v.data), shape: [...v.shape], mask: null };
  }
  if (!Array.isArray(v)) throw new TypeError(`${what}: expected an rnn.Tensor, { data, shape } or nested number arrays, got ${typeof v}`);
  const d = depth(v);
  if (v.length === 0) throw new RangeError(`${what}: is empty`);
  if (d === 1) {
    const a = v as number[];
    a.forEach((x, i) => { if (typeof x !== 'number') throw new TypeError(`${what}[${i}] is not a number`); });
    return { data: Float32Array.from(a), shape: [a.length], mask: null };
  }
  if (d === 2) {
    const rows = v as number[][];
    const T = Math.max(...rows.map((r, i) => {
      if (!Array.isArray(r)) throw new TypeError(`${what}[${i}] is not an array`);
      return r.length;
    }));
    const ragged = rows.some((r) => r.length !== T);
    const data = new Float32Array(rows.length * T);
    const mask = ragged ? new Uint8Array(rows.length * T) : null;
    rows.forEach((r, b) => r.forEach((x, t) => {
      if (typeof x !== 'number' || !Number.isFinite(x)) throw new TypeError(`${what}[${b}][${t}] = ${String(x)} is not a finite number`);
      data[b * T + t] = x;
      if (mask) mask[b * T + t] = 1;
    }));
    return { data, shape: [rows.length, T], mask };
  }
  if (d === 3) {
    const rows = v as number[][][];
    const T = rows[0]!.length, F = rows[0]![0]!.length;
    const data = new Float32Array(rows.length * T * F);
    rows.forEach((r, b) => {
      if (r.length !== T) throw new RangeError(`${what}[${b}] has ${r.length} steps, expected ${T} (pad ragged feature sequences yourself or pass lengths via masks)`);
      r.forEach((s, t) => {
        if (s.length !== F) throw new RangeError(`${what}[${b}][${t}] has ${s.length} features, expected ${F}`);
        data.set(s, (b * T + t) * F);
      });
    });
    return { data, shape: [rows.length, T, F], mask: null };
  }
  throw new RangeError(`${what}: nested arrays of depth ${d} are not supported (1 to 3)`);
}

/** Rows [i] of a dense batch-first array, in the given order. */
export function takeRows(x: Dense, idx: ArrayLike<number>): Dense {
  const row = x.shape.slice(1).reduce((p, d) => p * d, 1);
  const data = new Float32Array(idx.length * row);
  const T = x.shape[1] ?? 1;
  const mask = x.mask ? new Uint8Array(idx.length * T) : null;
  for (let k = 0; k < idx.length; k++) {
    const i = idx[k]!;
    data.set(x.data.subarray(i * row, (i + 1) * row), k * row);
    if (mask) mask.set(x.mask!.subarray(i * T, (i + 1) * T), k * T);
  }
  return { data, shape: [idx.length, ...x.shape.slice(1)], mask };
}

/**
 * Each row's length up to its last real step (0 for a row of padding only) in a batch-first array
 * [N, T, ...]. Padding: mask 0 where there is a mask and, with `padValue`, a step whose values all
 * equal it (token ids read by an embedding with maskZero: 0; float steps read by a Masking layer:
 * its maskValue). Null when nothing says a step is padding.
 */
export function rowLengths(x: Dense, padValue: number | null): Int32Array | null {
  if (x.shape.length < 2 || (!x.mask && padValue === null)) return null;
  const [N, T] = x.shape as [number, number];
  const row = x.shape.slice(2).reduce((p, d) => p * d, 1), out = new Int32Array(N);
  const padded = (r: number): boolean => {
    if (x.mask !== null && x.mask[r] === 0) return true;
    if (padValue === null) return false;
    for (let j = 0; j < row; j++) if (x.data[r * row + j] !== padValue) return false;
    return true;
  };
  for (let b = 0; b < N; b++) {
    let t = T;
    while (t > 0 && padded(b * T + t - 1)) t--;
    out[b] = t;
  }
  return out;
}

/** The first `steps` steps of a batch-first array [B, T, ...] (and of its mask). */
export function firstSteps(x: Dense, steps: number): Dense {
  const [B, T] = x.shape as [number, number];
  if (steps >= T) return x;
  const row = x.shape.slice(2).reduce((p, d) => p * d, 1);
  const data = new Float32Array(B * steps * row), mask = x.mask ? new Uint8Array(B * steps) : null;
  for (let b = 0; b < B; b++) {
    data.set(x.data.subarray(b * T * row, (b * T + steps) * row), b * steps * row);
    if (mask) mask.set(x.mask!.subarray(b * T, b * T + steps), b * steps);
  }
  return { data, shape: [B, steps, ...x.shape.slice(2)], mask };
}
