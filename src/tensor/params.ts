// Parameters live in one flat buffer, gradients in another of the same layout; a layer holds
// named views. An optimiser step is then one pass over the whole buffer, and saving is one
// blob plus a manifest of names, shapes and offsets.
import type { F } from '../kernels/types.js';

export interface ParamSpec {
  name: string;
  shape: number[];
}

export interface ParamEntry extends ParamSpec {
  offset: number;
  size: number;
}

export type DType = 'float32' | 'float64';

export function makeArray(dtype: DType, n: number): F {
  return dtype === 'float64' ? new Float64Array(n) : new Float32Array(n);
}

export class ParamStore {
  readonly entries: ParamEntry[];
  readonly byName: Map<string, ParamEntry>;
  readonly size: number;
  data: F;
  grad: F;

  /**
   * `alloc` makes the float32 buffers (a standalone layer passes kernels' residentArray, so that
   * the kernels read its weights where they lie; a model then packs them into its own, packStores).
   */
  constructor(specs: ParamSpec[], readonly dtype: DType, alloc?: (n: number) => Float32Array) {
    let offset = 0;
    this.entries = specs.map((s) => {
      const size = s.shape.reduce((p, d) => p * d, 1);
      const e = { ...s, offset, size };
      offset += size;
      return e;
    });
    this.byName = new Map(this.entries.map((e) => [e.name, e]));
    this.size = offset;
    this.data = dtype === 'float32' && alloc ? alloc(offset) : makeArray(dtype, offset);
    this.grad = dtype === 'float32' && alloc ? alloc(offset) : makeArray(dtype, offset);
  }

  /** View of a parameter's values (shares memory with `data`). */
  value(name: string): F {
    const e = this.entry(name);
    return this.data.subarray(e.offset, e.offset + e.size);
  }

  /** View of a parameter's gradient (shares memory with `grad`). */
  gradOf(name: string): F {
    const e = this.entry(name);
    return this.grad.subarray(e.offset, e.offset + e.size);
  }

  entry(name: string): ParamEntry {
    const e = this.byName.get(name);
    if (!e) throw new Error(`unknown parameter '${name}'; known: ${[...this.byName.keys()].join(', ')}`);
    return e;
  }

  /**
   * Move the values into caller-owned buffers (e.g. a model's single flat buffer) so that
   * many layers share one optimiser step. The views returned by value()/gradOf() after this
   * call point into the new buffers.
   */
  rebind(data: F, grad: F): void {
    if (data.length !== this.size || grad.length !== this.size) {
      throw new RangeError(`rebind: expected buffers of ${this.size} values, got ${data.length} and ${grad.length}`);
    }
    data.set(this.data);
    grad.set(this.grad);
    this.data = data;
    this.grad = grad;
  }

  zeroGrad(): void {
    this.grad.fill(0);
  }

  /** Copies, keyed by name, as Float32Array (or Float64Array for float64 stores). */
  toDict(which: 'data' | 'grad'): Record<string, F> {
    const src = which === 'data' ? this.data : this.grad;
    const out: Record<string, F> = {};
    for (const e of this.entries) out[e.name] = src.slice(e.offset, e.offset + e.size);
    return out;
  }

  /** Validating load: every name present, nothing unknown, sizes exact, values finite. */
  loadDict(dict: Record<string, ArrayLike<number>>, owner: string): void {
    const unknown = Object.keys(dict).filter((k) => !this.byName.has(k));
    if (unknown.length) {
      throw new Error(`${owner}.loadStateDict: unexpected parameter(s) ${unknown.join(', ')}; expected ${[...this.byName.keys()].join(', ')}`);
    }
    for (const e of this.entries) {
      const v = dict[e.name];
      if (v === undefined) throw new Error(`${owner}.loadStateDict: missing parameter '${e.name}' (shape [${e.shape.join(', ')}])`);
      if (v.length !== e.size) {
        throw new Error(`${owner}.loadStateDict: '${e.name}' has ${v.length} values, expected ${e.size} (shape [${e.shape.join(', ')}])`);
      }
    }
    for (const e of this.entries) {
      const v = dict[e.name]!;
      for (let i = 0; i < e.size; i++) {
        const x = v[i]!;
        if (!Number.isFinite(x)) throw new Error(`${owner}.loadStateDict: '${e.name}'[${i}] is ${x}; parameters must be finite`);
        this.data[e.offset + i] = x;
      }
    }
  }
}

/**
 * Move many stores into one flat parameter buffer and one flat gradient buffer (in order), so
 * that clipping and the optimiser step are single passes over every parameter of a model.
 * `alloc` makes the two buffers (models pass kernels' residentArray).
 */
export function packStores(stores: readonly ParamStore[], alloc: (n: number) => Float32Array = (n) => new Float32Array(n)): { params: Float32Array; grads: Float32Array } {
  const total = stores.reduce((n, p) => n + p.size, 0);
  const params = alloc(total), grads = alloc(total);
  let off = 0;
  for (const p of stores) {
    if (p.dtype !== 'float32') throw new Error('packStores: only float32 parameter stores can be packed');
    p.rebind(params.subarray(off, off + p.size), grads.subarray(off, off + p.size));
    off += p.size;
  }
  return { params, grads };
}
