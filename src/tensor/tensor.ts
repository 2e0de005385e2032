// A small dense tensor: a Float32Array (or Float64Array for gradient checks) with a shape.
import type { F } from '../kernels/types.js';

export class Tensor<A extends F = Float32Array> {
  readonly data: A;
  readonly shape: readonly number[];

  constructor(data: A | ArrayLike<number>, shape: readonly number[]) {
    for (const d of shape) {
      if (!Number.isInteger(d) || d < 0) throw new RangeError(`Tensor: shape [${shape.join(', ')}] must hold non-negative integers`);
    }
    const size = shape.reduce((p, d) => p * d, 1);
    const arr = (data instanceof Float32Array || data instanceof Float64Array ? data : Float32Array.from(data)) as A;
    if (arr.length !== size) {
      throw new RangeError(`Tensor: data has ${arr.length} values but shape [${shape.join(', ')}] needs ${size}`);
    }
    this.data = arr;
    this.shape = Object.freeze([...shape]);
  }

  static zeros(shape: readonly number[]): Tensor {
    return new Tensor(new Float32Array(shape.reduce((p, d) => p * d, 1)), shape);
  }

  get size(): number {
    return this.data.length;
  }

  get rank(): number {
    return this.shape.length;
  }

  /** Same data, new shape (one dimension may be -1). */
  reshape(shape: readonly number[]): Tensor<A> {
    const known = shape.filter((d) => d !== -1).reduce((p, d) => p * d, 1);
    const full = shape.map((d) => (d === -1 ? this.size / known : d));
    return new Tensor(this.data, full);
  }

  /** Nested arrays, for printing and tests. */
  toArray(): unknown {
    const rec = (off: number, dim: number): unknown => {
      if (dim === this.shape.length) return this.data[off];
      const stride = this.shape.slice(dim + 1).reduce((p, d) => p * d, 1);
      return Array.from({ length: this.shape[dim]! }, (_, i) => rec(off + i * stride, dim + 1));
    };
    return rec(0, 0);
  }
}
