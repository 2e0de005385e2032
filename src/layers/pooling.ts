// Sequence plumbing, as Keras has it:
//   Masking                 [B, T, F] -> the same, steps whose features all equal maskValue
//                           masked (and zeroed): padding for float sequences, as Embedding's
//                           maskZero is for ids;
//   GlobalAveragePooling1D  [B, T, F] -> [B, F], the mean over the real steps;
//   GlobalMaxPooling1D      [B, T, F] -> [B, F], the maximum over the real steps;
//   RepeatVector            [B, F] -> [B, n, F], the vector at every step (an encoder's summary
//                           fed to a decoder).
// A row with no real step pools to 0 (Keras' average would divide by zero).
import { configError, shapeStr, shown, uniqueName, type Act, type Layer, type Shape, LayerBase } from './layer.js';
import { applyLayer, type SymbolicTensor } from './symbolic.js';

function sequenceShape(owner: string, s: Shape): number {
  const F = s[s.length - 1];
  if (s.length !== 2 || typeof F !== 'number') configError(owner, `expects a sequence [batch, time, features] with known features, got ${shapeStr([null, ...s])}`);
  return F;
}

function dims3(owner: string, x: Act): [number, number, number] {
  if (x.shape.length !== 3) configError(owner, `expects a 3-D input [batch, time, features], got [${x.shape.join(', ')}]`);
  return x.shape as [number, number, number];
}

export interface MaskingOptions {
  /** Steps whose every feature equals this are masked (default 0). */
  maskValue?: number;
  name?: string;
}

export class Masking extends LayerBase implements Layer {
  readonly className = 'Masking';
  name: string;
  params = null;
  built = true;
  readonly maskValue: number;
  private mask: Uint8Array | null = null;
  private F = 0;

  constructor(readonly options: MaskingOptions = {}) {
    super();
    const v = options?.maskValue ?? 0;
    if (typeof v !== 'number' || Number.isNaN(v)) configError('Masking', `option 'maskValue' must be a number, got ${shown(options?.maskValue)}`);
    this.maskValue = v;
    this.name = options?.name ?? uniqueName('masking');
  }

  build(s: Shape): void { sequenceShape(this.name, s); }
  computeOutputShape(s: Shape): Shape { sequenceShape(this.name, s); return s; }

  forward(x: Act): Act {
    const [B, T, F] = dims3(this.name, x);
    const mask = new Uint8Array(B * T), y = new Float32Array(x.data.length), v = this.maskValue;
    for (let r = 0; r < B * T; r++) {
      let real = false;
      if (x.mask === null || x.mask[r] !== 0) for (let j = 0; j < F && !real; j++) real = x.data[r * F + j] !== v;
      if (real) {
        mask[r] = 1;
        y.set(x.data.subarray(r * F, (r + 1) * F), r * F);
      }
    }
    this.mask = mask; this.F = F;
    return { data: y, shape: x.shape, mask };
  }

  backward(dy: Float32Array): Float32Array {
    const m = this.mask!, F = this.F, dx = new Float32Array(dy.length);
    for (let r = 0; r < m.length; r++) if (m[r]) dx.set(dy.subarray(r * F, (r + 1) * F), r * F);
    return dx;
  }

  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }
  getConfig(): Record<string, unknown> { return { className: this.className, name: this.name, maskValue: this.maskValue }; }
}

/** Mean or maximum over the real steps. */
abstract class GlobalPooling1D extends LayerBase implements Layer {
  abstract readonly className: string;
  name: string;
  params = null;
  built = true;
  protected dims: [number, number, number] = [0, 0, 0];
  /** Average: each row's 1/count (0 for an empty row). Max: the step each maximum came from (-1: none). */
  protected saved: Float32Array | Int32Array = new Float32Array(0);

  constructor(o: { name?: string } = {}, base: string) {
    super();
    this.name = o?.name ?? uniqueName(base);
  }

  build(s: Shape): void { sequenceShape(this.name, s); }
  computeOutputShape(s: Shape): Shape { return [sequenceShape(this.name, s)]; }
  abstract forward(x: Act): Act;
  abstract backward(dy: Float32Array): Float32Array;
  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }
  getConfig(): Record<string, unknown> { return { className: this.className, name: this.name }; }
}

export class GlobalAveragePooling1D extends GlobalPooling1D {
  readonly className = 'GlobalAveragePooling1D';
  private mask: Uint8Array | null = null;
  constructor(o: { name?: string } = {}) { super(o, 'global_average_pooling1d'); }

  forward(x: Act): Act {
    const [B, T, F] = (this.dims = dims3(this.name, x));
    const y = new Float32Array(B * F), inv = new Float32Array(B), sum = new Float64Array(F);
    this.saved = inv;
    for (let b = 0; b < B; b++) {
      sum.fill(0);
      let n = 0;
      for (let t = 0; t < T; t++) {
        if (x.mask && !x.mask[b * T + t]) continue;
        n++;
        const o = (b * T + t) * F;
        for (let j = 0; j < F; j++) sum[j]! += x.data[o + j]!;
      }
      inv[b] = n > 0 ? 1 / n : 0;
      for (let j = 0; j < F; j++) y[b * F + j] = n > 0 ? sum[j]! / n : 0;
    }
    this.mask = x.mask;
    return { data: y, shape: [B, F], mask: null };
  }

  backward(dy: Float32Array): Float32Array {
    const [B, T, F] = this.dims, inv = this.saved as Float32Array, dx = new Float32Array(B * T * F);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        if (this.mask && !this.mask[b * T + t]) continue;
        const o = (b * T + t) * F;
        for (let j = 0; j < F; j++) dx[o + j] = dy[b * F + j]! * inv[b]!;
      }
    }
    return dx;
  }
}

export class GlobalMaxPooling1D extends GlobalPooling1D {
  readonly className = 'GlobalMaxPooling1D';
  constructor(o: { name?: string } = {}) { super(o, 'global_max_pooling1d'); }

  forward(x: Act): Act {
    const [B, T, F] = (this.dims = dims3(this.name, x));
    const y = new Float32Array(B * F), arg = new Int32Array(B * F).fill(-1);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < T; t++) {
        if (x.mask && !x.mask[b * T + t]) continue;
        const o = (b * T + t) * F;
        for (let j = 0; j < F; j++) {
          const k = b * F + j;
          if (arg[k] === -1 || x.data[o + j]! > y[k]!) { y[k] = x.data[o + j]!; arg[k] = t; } // the first maximum
        }
      }
    }
    this.saved = arg;
    return { data: y, shape: [B, F], mask: null };
  }

  backward(dy: Float32Array): Float32Array {
    const [B, T, F] = this.dims, arg = this.saved as Int32Array, dx = new Float32Array(B * T * F);
    for (let b = 0; b < B; b++) {
      for (let j = 0; j < F; j++) {
        const t = arg[b * F + j]!;
        if (t >= 0) dx[(b * T + t) * F + j] = dy[b * F + j]!;
      }
    }
    return dx;
  }
}

export interface RepeatVectorOptions {
  /** Steps of the output. */
  n: number;
  name?: string;
}

export class RepeatVector extends LayerBase implements Layer {
  readonly className = 'RepeatVector';
  name: string;
  params = null;
  built = true;
  readonly n: number;
  private F = 0;

  constructor(readonly options: RepeatVectorOptions) {
    super();
    if (!Number.isInteger(options?.n) || options.n < 1) configError('RepeatVector', `option 'n' must be a positive integer, got ${shown(options?.n)}`);
    this.n = options.n;
    this.name = options.name ?? uniqueName('repeat_vector');
  }

  private width(s: Shape): number {
    const F = s[0];
    if (s.length !== 1 || typeof F !== 'number') configError(this.name, `expects vectors [batch, features], got ${shapeStr([null, ...s])}`);
    return F;
  }

  build(s: Shape): void { this.width(s); }
  computeOutputShape(s: Shape): Shape { return [this.n, this.width(s)]; }

  forward(x: Act): Act {
    if (x.shape.length !== 2) configError(this.name, `expects a 2-D input [batch, features], got [${x.shape.join(', ')}]`);
    const [B, F] = x.shape as [number, number], n = this.n, y = new Float32Array(B * n * F);
    for (let b = 0; b < B; b++) for (let t = 0; t < n; t++) y.set(x.data.subarray(b * F, (b + 1) * F), (b * n + t) * F);
    this.F = F;
    return { data: y, shape: [B, n, F], mask: null };
  }

  backward(dy: Float32Array): Float32Array {
    const n = this.n, F = this.F, B = dy.length / (n * F), dx = new Float32Array(B * F);
    for (let b = 0; b < B; b++) for (let t = 0; t < n; t++) for (let j = 0; j < F; j++) dx[b * F + j]! += dy[(b * n + t) * F + j]!;
    return dx;
  }

  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }
  getConfig(): Record<string, unknown> { return { className: this.className, name: this.name, n: this.n }; }
}
