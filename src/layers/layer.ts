// The Keras-style layer contract. Activations flow batch-first ([B, ...]) as plain Float32Arrays
// with a shape and an optional (B, T) mask (1 = real step, 0 = padding) that Embedding creates
// and recurrent layers, losses and metrics honour.
import type { ParamStore } from '../tensor/params.js';
import type { RegularizerOptions } from './regularizers.js';
import { Tensor } from '../tensor/tensor.js';
import type { Rng } from '../tensor/rng.js';

/** A shape without the batch dimension; null = any length (e.g. the time axis). */
export type Shape = (number | null)[];

export interface Act {
  data: Float32Array;
  /** Full shape including the batch dimension. */
  shape: number[];
  /** (B, T) mask, 1 = valid step; null when nothing is padded. */
  mask: Uint8Array | null;
}

export interface CallContext {
  training: boolean;
  rng: Rng;
  /**
   * The caller consumes this call's output before the layer's next forward (a model's inner
   * layers; every layer in training), so the layer may return, and next time overwrite, buffers
   * of its own instead of fresh arrays. Always on in training.
   */
  reuse?: boolean;
}

/** Whether a forward may return the layer's own reused buffers (see CallContext.reuse). */
export function reusesBuffers(ctx: CallContext | undefined): boolean {
  return ctx !== undefined && (ctx.training || ctx.reuse === true);
}

export interface Layer {
  readonly className: string;
  name: string;
  /** Parameters (null for parameter-free layers); valid after build(). */
  params: ParamStore | null;
  /**
   * false: training leaves the parameters as they are (Keras's `layer.trainable = false`); their
   * gradients are not computed where nothing trainable needs them, and count in no gradient norm.
   * Absent or true: trained. May change between steps.
   */
  trainable?: boolean;
  /** Weight penalties (kernelRegularizer, ...: see layers/regularizers.ts), set from the layer's options. */
  regularizers?: RegularizerOptions;
  built: boolean;
  build(inputShape: Shape): void;
  computeOutputShape(inputShape: Shape): Shape;
  forward(x: Act, ctx: CallContext): Act;
  /**
   * Accumulates parameter gradients; returns dLoss/dx (null when x is not differentiable). With
   * wantDx = false the caller discards dx (x is the model's input, or only parameter-free layers
   * lie before): a layer may then skip computing it and return null.
   */
  backward(dy: Float32Array, wantDx?: boolean): Float32Array | null;
  /** JSON-able options that rebuild this layer (with its className). */
  getConfig(): Record<string, unknown>;
  /** Copies of the parameters, in the layer's order with their shapes (Keras's get_weights); [] before build. */
  getWeights(): Tensor[];
  /** Sets every parameter from values in getWeights' order and shapes (Keras's set_weights). */
  setWeights(weights: readonly WeightValue[]): void;
  /** Forget carried state (stateful recurrent layers). */
  resetStates?(): void;
  /** Carried state of stateful layers, to set aside and restore (opaque to callers). */
  getStates?(): unknown;
  setStates?(s: unknown): void;
}

export function shapeStr(s: readonly (number | null)[]): string {
  return `[${s.map((d) => (d === null ? 'None' : String(d))).join(', ')}]`;
}

export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

let counter = 0;
const perClass = new Map<string, number>();
/** Keras-like unique names: lstm, lstm_1, lstm_2 ... */
export function uniqueName(base: string): string {
  const n = perClass.get(base) ?? 0;
  perClass.set(base, n + 1);
  counter++;
  return n === 0 ? base : `${base}_${n}`;
}

/** Throw a consistent, user-facing configuration error. */
/** A value as an error message shows it: strings quoted (so "8" is not taken for 8), the rest as String gives them. */
export function shown(v: unknown): string {
  return typeof v === 'string' ? JSON.stringify(v) : String(v);
}

export function configError(layer: string, msg: string): never {
  throw new RangeError(`${layer}: ${msg}`);
}

/** Layer classes whose output at a step depends on that step's input alone. */
export const PER_STEP_LAYERS: ReadonlySet<string> = new Set(['Embedding', 'Dense', 'Dropout', 'Activation', 'LayerNormalization', 'Add', 'Concatenate', 'Masking']);

/** Whether training updates a layer's parameters (see Layer.trainable); false for parameter-free layers. */
export function hasTrainableParams(l: Layer): boolean {
  return l.trainable !== false && (l.params?.size ?? 0) > 0;
}

/** Sets a layer's `trainable` from options or a config (absent: trainable); an error names a value that is not a boolean. */
export function setTrainable<L extends Layer>(l: L, value: unknown): L {
  if (value !== undefined && typeof value !== 'boolean') configError(l.name, `option 'trainable' must be true or false, got ${shown(value)}`);
  if (value === false) l.trainable = false;
  return l;
}

/** A parameter's values for setWeights: a Tensor, { data, shape }, or the flat values. */
export type WeightValue = Tensor<Float32Array | Float64Array> | { data: ArrayLike<number>; shape: readonly number[] } | ArrayLike<number>;

/**
 * What every layer class shares: `trainable`, and getWeights / setWeights over its ParamStore.
 * (Layer is the contract; this is its common code.)
 */
export abstract class LayerBase {
  abstract name: string;
  abstract params: ParamStore | null;
  abstract built: boolean;
  trainable?: boolean;
  regularizers?: RegularizerOptions;

  getWeights(): Tensor[] {
    const p = this.params;
    if (!p || !this.built) return [];
    return p.entries.map((e) => new Tensor(Float32Array.from(p.data.subarray(e.offset, e.offset + e.size)), e.shape));
  }

  setWeights(weights: readonly WeightValue[]): void {
    const p = this.params;
    const entries = p && this.built ? p.entries : [];
    if (!p || !this.built) {
      if (weights.length === 0) return;
      configError(this.name, 'setWeights before the layer is built (build the model first: model.build, fit or predict)');
    }
    if (!Array.isArray(weights) || weights.length !== entries.length) {
      configError(this.name, `setWeights takes ${entries.length} arrays (${entries.map((e) => `${e.name} [${e.shape.join(', ')}]`).join(', ')}), got ${Array.isArray(weights) ? weights.length : typeof weights}`);
    }
    // Every value checked before any is written: a refused call changes nothing.
    const values = entries.map((e, i) => checkedWeight(`${this.name}.setWeights: ${e.name}`, weights[i]!, e.shape));
    entries.forEach((e, i) => p!.data.set(values[i]!, e.offset));
  }
}

/** A WeightValue as a Float32Array of a parameter of this shape; a RangeError starting with `what` otherwise. */
export function checkedWeight(what: string, w: WeightValue, shape: readonly number[]): Float32Array {
  const size = shape.reduce((a, d) => a * d, 1);
  const shaped = typeof w === 'object' && w !== null && 'shape' in w && 'data' in w;
  const data = shaped ? (w as { data: ArrayLike<number> }).data : (w as ArrayLike<number>);
  if (shaped) {
    const s = (w as { shape: readonly number[] }).shape;
    if (s.length !== shape.length || s.some((d, k) => d !== shape[k])) throw new RangeError(`${what} has shape [${shape.join(', ')}], got [${s.join(', ')}]`);
  }
  if (!data || typeof data.length !== 'number' || data.length !== size) throw new RangeError(`${what} needs ${size} values ([${shape.join(', ')}]), got ${data?.length ?? typeof w}`);
  const out = Float32Array.from(data);
  for (let k = 0; k < out.length; k++) {
    if (!Number.isFinite(out[k])) throw new RangeError(`${what}[${k}] is ${data[k]}; weights must be finite`);
  }
  return out;
}
