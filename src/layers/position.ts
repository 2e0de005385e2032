// Position encodings: attention is blind to order (a permutation of the keys permutes nothing in
// the sum), so a Transformer adds to each step's vector a vector that depends on its position
// (a recurrent layer needs none: it reads the steps in order). y[b, t] = x[b, t] + P[t]:
//   'sine'    P[t, 2i] = sin(t·ω_i), P[t, 2i+1] = cos(t·ω_i), ω_i = maxWavelength^(-2i/D)
//             (Vaswani et al. 2017; the layout of Keras-NLP's SinePositionEncoding), no parameters;
//   'learned' P a [maxLength, D] table learned with the model (BERT's; Keras-NLP's
//             PositionEmbedding), initialised uniform in ±0.05 like an embedding.
// Padded steps get their P too (the loss and the attention masks ignore them).
import { uniformInit } from '../tensor/init.js';
import { ParamStore } from '../tensor/params.js';
import { rng } from '../tensor/rng.js';
import { configError, reusesBuffers, shapeStr, uniqueName, shown, type Act, type CallContext, type Layer, type Shape, LayerBase } from './layer.js';
import { applyLayer, type SymbolicTensor } from './symbolic.js';

export interface PositionEncodingOptions {
  /** 'sine' (default; fixed) or 'learned' (a table of maxLength rows). */
  kind?: 'sine' | 'learned';
  /** The longest sequence: required for 'learned'; optional for 'sine' (checked when given). */
  maxLength?: number;
  /** 'sine': the longest wavelength (default 10000). */
  maxWavelength?: number;
  seed?: number;
  name?: string;
}

/** The sine encoding's P[t, j] for t < T, D features, into out [T·D] (float64 arithmetic). */
export function sinePositions(T: number, D: number, maxWavelength: number, out: Float32Array): void {
  for (let j = 0; j < D; j++) {
    const w = Math.pow(maxWavelength, -(2 * Math.floor(j / 2)) / D), odd = j % 2 === 1;
    for (let t = 0; t < T; t++) out[t * D + j] = odd ? Math.cos(t * w) : Math.sin(t * w);
  }
}

/** x [B, T, D] + P[t]: the steps' positions added to their vectors. */
export class PositionEncoding extends LayerBase implements Layer {
  readonly className = 'PositionEncoding';
  name: string;
  params: ParamStore | null = null;
  built = false;
  readonly kind: 'sine' | 'learned';
  readonly maxLength: number | null;
  readonly maxWavelength: number;
  private D = 0;
  private T = 0;
  private B = 0;
  /** 'sine': P for the longest T seen so far. */
  private table: Float32Array = new Float32Array(0);
  /** The output, reused from call to call inside a model (CallContext.reuse). */
  private outBuf: Float32Array = new Float32Array(0);

  constructor(readonly options: PositionEncodingOptions = {}) {
    super();
    const o = options ?? {};
    const kind = o.kind ?? 'sine';
    if (kind !== 'sine' && kind !== 'learned') configError('PositionEncoding', `option 'kind' must be 'sine' or 'learned', got ${JSON.stringify(o.kind)}`);
    if (o.maxLength !== undefined && !(Number.isInteger(o.maxLength) && o.maxLength >= 1)) configError('PositionEncoding', `option 'maxLength' must be a positive integer, got ${shown(o.maxLength)}`);
    if (kind === 'learned' && o.maxLength === undefined) configError('PositionEncoding', "kind 'learned' needs option 'maxLength' (the rows of its table)");
    const mw = o.maxWavelength ?? 10000;
    if (!(typeof mw === 'number' && mw > 1 && Number.isFinite(mw))) configError('PositionEncoding', `option 'maxWavelength' must be a number above 1, got ${shown(o.maxWavelength)}`);
    this.kind = kind;
    this.maxLength = o.maxLength ?? null;
    this.maxWavelength = mw;
    this.name = o.name ?? uniqueName('position_encoding');
  }

  build(inputShape: Shape): void {
    const D = inputShape[1];
    if (inputShape.length !== 2 || typeof D !== 'number') configError(this.name, `expects a sequence [batch, time, features] with known features, got ${shapeStr([null, ...inputShape])}`);
    const T = inputShape[0];
    if (this.maxLength !== null && typeof T === 'number' && T > this.maxLength) configError(this.name, `the input has ${T} steps, more than maxLength ${this.maxLength}`);
    this.D = D;
    if (this.kind === 'learned') {
      this.params = new ParamStore([{ name: 'embeddings', shape: [this.maxLength!, D] }], 'float32');
      uniformInit(this.params.value('embeddings'), 0.05, rng(this.options.seed ?? 5));
    }
    this.built = true;
  }

  computeOutputShape(s: Shape): Shape { return s; }

  /** P's first T rows. */
  private positions(T: number): Float32Array {
    if (this.kind === 'learned') return this.params!.value('embeddings') as Float32Array;
    if (this.table.length < T * this.D) {
      this.table = new Float32Array(T * this.D);
      sinePositions(T, this.D, this.maxWavelength, this.table);
    }
    return this.table;
  }

  forward(x: Act, ctx?: CallContext): Act {
    const y = this.addPositions(x, 0, reusesBuffers(ctx));
    this.B = x.shape[0]!; this.T = x.shape[1]!;
    return y;
  }

  /**
   * x [B, T, D] as steps offset … offset + T − 1 of a longer sequence (a decoder's new steps):
   * y[b, t] = x[b, t] + P[offset + t]. Inference only (no backward).
   */
  forwardAt(x: Act, offset: number, ctx?: CallContext): Act {
    if (!(Number.isInteger(offset) && offset >= 0)) configError(this.name, `offset must be a non-negative integer, got ${shown(offset)}`);
    return this.addPositions(x, offset, reusesBuffers(ctx));
  }

  private addPositions(x: Act, offset: number, reuse: boolean): Act {
    const D = this.D;
    if (x.shape.length !== 3 || x.shape[2] !== D) configError(this.name, `expected input [batch, time, ${D}], got [${x.shape.join(', ')}]`);
    const [B, T] = x.shape as [number, number, number];
    const end = offset + T;
    if (this.maxLength !== null && end > this.maxLength) {
      configError(this.name, offset === 0 ? `the input has ${T} steps, more than maxLength ${this.maxLength}` : `steps up to ${end} are more than maxLength ${this.maxLength}`);
    }
    const n = B * T * D;
    if (reuse && this.outBuf.length !== n) this.outBuf = new Float32Array(n);
    const P = this.positions(end).subarray(offset * D), y = reuse ? this.outBuf : new Float32Array(n), xs = x.data;
    for (let b = 0; b < B; b++) {
      const o = b * T * D;
      for (let i = 0; i < T * D; i++) y[o + i] = xs[o + i]! + P[i]!;
    }
    return { data: y, shape: x.shape, mask: x.mask };
  }

  backward(dy: Float32Array, wantDx = true): Float32Array | null {
    if (this.kind === 'learned') {
      const g = this.params!.gradOf('embeddings'), n = this.T * this.D;
      for (let b = 0; b < this.B; b++) for (let i = 0; i < n; i++) g[i]! += dy[b * n + i]!;
    }
    return wantDx ? dy.slice() : null;
  }

  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }

  getConfig(): Record<string, unknown> {
    return {
      className: this.className, name: this.name, kind: this.kind,
      ...(this.maxLength !== null ? { maxLength: this.maxLength } : {}),
      ...(this.maxWavelength !== 10000 ? { maxWavelength: this.maxWavelength } : {}),
      ...(this.options.seed !== undefined ? { seed: this.options.seed } : {}),
    };
  }
}
