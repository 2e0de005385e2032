// Layer normalisation (Ba, Kiros & Hinton 2016), over the last axis as Keras' LayerNormalization:
//   y = γ ⊙ (x - μ) / √(σ² + ε) + β,   μ, σ² the mean and (biased) variance of each row's D values.
// The Transformer's companion of residual connections; also steadies stacked recurrent layers.
// Rows of [batch, D] or [batch, time, D] inputs (masks pass through: a padded step is normalised
// like any other, and the loss ignores it). Statistics in float64; the backward:
//   x̂ = (x - μ)·r, r = 1/√(σ² + ε); g = dy ⊙ γ;  dx = r·(g - mean(g) - x̂·mean(g ⊙ x̂));
//   dγ += Σ_rows dy ⊙ x̂;  dβ += Σ_rows dy.
import { ActivationSlot, getBackend } from '../kernels/index.js';
import type { Backend, F } from '../kernels/types.js';
import { ParamStore } from '../tensor/params.js';
import { configError, reusesBuffers, shapeStr, uniqueName, shown, type Act, type CallContext, type Layer, type Shape, LayerBase } from './layer.js';
import { applyLayer, type SymbolicTensor } from './symbolic.js';

/**
 * A row's sums run in four interleaved chains (element j into chain j mod 4), added as
 * (s0 + s1) + (s2 + s3): the WebAssembly kernel sums in the same order (the same bits), without
 * waiting on one chain of additions.
 */
const sum4 = (s: Float64Array): number => (s[0]! + s[1]!) + (s[2]! + s[3]!);

/**
 * Normalises each row of D values of x into y (γ and β: null for 1 and 0), keeping x̂ and each
 * row's r = 1/√(σ² + ε) for the backward. float32 or float64 (the tests' finite differences).
 */
export function layerNormForward(x: F, D: number, eps: number, gamma: F | null, beta: F | null, y: F, xhat: F, r: Float64Array): void {
  const rows = x.length / D, s = new Float64Array(4);
  for (let row = 0, o = 0; row < rows; row++, o += D) {
    s.fill(0);
    for (let j = 0; j < D; j++) s[j & 3]! += x[o + j]!;
    const mean = sum4(s) / D;
    s.fill(0);
    for (let j = 0; j < D; j++) { const d = x[o + j]! - mean; s[j & 3]! += d * d; }
    const rr = 1 / Math.sqrt(sum4(s) / D + eps);
    r[row] = rr;
    for (let j = 0; j < D; j++) {
      const h = (x[o + j]! - mean) * rr;
      xhat[o + j] = h;
      y[o + j] = (gamma ? gamma[j]! * h : h) + (beta ? beta[j]! : 0);
    }
  }
}

/** From dy: dγ and dβ added to (when given), dx written (when given). */
export function layerNormBackward(dy: F, D: number, xhat: F, r: Float64Array, gamma: F | null, dgamma: F | null, dbeta: F | null, dx: F | null): void {
  const n = dy.length;
  if (dgamma || dbeta) {
    const sg = new Float64Array(D), sb = new Float64Array(D);
    for (let o = 0; o < n; o += D) for (let j = 0; j < D; j++) { sg[j] += dy[o + j]! * xhat[o + j]!; sb[j] += dy[o + j]!; }
    for (let j = 0; j < D; j++) { if (dgamma) dgamma[j]! += sg[j]!; if (dbeta) dbeta[j]! += sb[j]!; }
  }
  if (!dx) return;
  const sg = new Float64Array(4), sgx = new Float64Array(4);
  for (let row = 0, o = 0; o < n; row++, o += D) {
    sg.fill(0); sgx.fill(0);
    for (let j = 0; j < D; j++) { const g = gamma ? dy[o + j]! * gamma[j]! : dy[o + j]!; sg[j & 3]! += g; sgx[j & 3]! += g * xhat[o + j]!; }
    const mg = sum4(sg) / D, mgx = sum4(sgx) / D;
    const rr = r[row]!;
    for (let j = 0; j < D; j++) {
      const g = gamma ? dy[o + j]! * gamma[j]! : dy[o + j]!;
      dx[o + j] = rr * (g - mg - xhat[o + j]! * mgx);
    }
  }
}

/** Absent, or float32 (what the backend's kernels take). */
const f32 = (a: F | null): a is Float32Array | null => a === null || a instanceof Float32Array;

/** layerNormForward on the backend's kernel where it has one (float32: the same bits), else here. */
export function layerNormForwardOn(be: Backend, x: F, D: number, eps: number, gamma: F | null, beta: F | null, y: F, xhat: F, r: Float64Array): void {
  if (be.layerNormForward && x instanceof Float32Array && y instanceof Float32Array && xhat instanceof Float32Array && f32(gamma) && f32(beta)) {
    be.layerNormForward(x, x.length / D, D, eps, gamma, beta, y, xhat, r);
  } else {
    layerNormForward(x, D, eps, gamma, beta, y, xhat, r);
  }
}

/** layerNormBackward on the backend's kernel where it has one (float32: the same bits), else here. */
export function layerNormBackwardOn(be: Backend, dy: F, D: number, xhat: F, r: Float64Array, gamma: F | null, dgamma: F | null, dbeta: F | null, dx: F | null): void {
  if (be.layerNormBackward && dy instanceof Float32Array && xhat instanceof Float32Array && f32(gamma) && f32(dgamma) && f32(dbeta) && f32(dx)) {
    be.layerNormBackward(dy, dy.length / D, D, xhat, r, gamma, dgamma, dbeta, dx);
  } else {
    layerNormBackward(dy, D, xhat, r, gamma, dgamma, dbeta, dx);
  }
}

export interface LayerNormalizationOptions {
  /** Added to the variance (default 1e-3, as Keras). */
  epsilon?: number;
  /** Learn the offset β (default true). */
  center?: boolean;
  /** Learn the scale γ (default true). */
  scale?: boolean;
  name?: string;
}

export class LayerNormalization extends LayerBase implements Layer {
  readonly className = 'LayerNormalization';
  name: string;
  params: ParamStore | null = null;
  built = false;
  readonly epsilon: number;
  readonly center: boolean;
  readonly scale: boolean;
  private D = 0;
  /** The last forward's x̂ (in the backend's memory where it offers that) and each row's r = 1/√(σ² + ε). */
  private readonly xhatSlot = new ActivationSlot();
  /** The output, reused from call to call inside a model (CallContext.reuse), as Dense's. */
  private readonly ySlot = new ActivationSlot();
  private xhat: Float32Array = new Float32Array(0);
  private r: Float64Array = new Float64Array(0);

  constructor(readonly options: LayerNormalizationOptions = {}) {
    super();
    const o = options ?? {};
    const eps = o.epsilon ?? 1e-3;
    if (!(typeof eps === 'number' && eps > 0 && Number.isFinite(eps))) configError('LayerNormalization', `option 'epsilon' must be a positive number, got ${shown(o.epsilon)}`);
    for (const k of ['center', 'scale'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'boolean') configError('LayerNormalization', `option '${k}' must be true or false, got ${shown(o[k])}`);
    }
    this.epsilon = eps;
    this.center = o.center ?? true;
    this.scale = o.scale ?? true;
    this.name = o.name ?? uniqueName('layer_normalization');
  }

  build(inputShape: Shape): void {
    const D = inputShape[inputShape.length - 1];
    if (inputShape.length < 1 || typeof D !== 'number') configError(this.name, `the last dimension of the input must be known, got ${shapeStr([null, ...inputShape])}`);
    this.D = D;
    const specs = [...(this.scale ? [{ name: 'gamma', shape: [D] }] : []), ...(this.center ? [{ name: 'beta', shape: [D] }] : [])];
    if (specs.length) {
      this.params = new ParamStore(specs, 'float32');
      if (this.scale) this.params.value('gamma').fill(1);
    }
    this.built = true;
  }

  computeOutputShape(s: Shape): Shape { return s; }

  forward(x: Act, ctx?: CallContext): Act {
    const D = this.D, n = x.data.length, rows = n / D;
    if (x.shape[x.shape.length - 1] !== D) configError(this.name, `expected inputs with ${D} features in the last dimension, got [${x.shape.join(', ')}]`);
    const gamma = this.scale ? this.params!.value('gamma') : null, beta = this.center ? this.params!.value('beta') : null;
    const y = reusesBuffers(ctx) ? this.ySlot.get(n) : new Float32Array(n), xhat = this.xhatSlot.get(n);
    const rs = this.r.length === rows ? this.r : new Float64Array(rows);
    layerNormForwardOn(getBackend(), x.data, D, this.epsilon, gamma, beta, y, xhat, rs);
    this.xhat = xhat; this.r = rs;
    return { data: y, shape: x.shape, mask: x.mask };
  }

  backward(dy: Float32Array, wantDx = true): Float32Array | null {
    const D = this.D, n = dy.length, xhat = this.xhat;
    if (xhat.length !== n) configError(this.name, 'backward before forward');
    const p = this.params;
    const dx = wantDx ? new Float32Array(n) : null;
    layerNormBackwardOn(getBackend(), dy, D, xhat, this.r, this.scale ? p!.value('gamma') : null, this.scale ? p!.gradOf('gamma') : null, this.center ? p!.gradOf('beta') : null, dx);
    return dx;
  }

  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }

  getConfig(): Record<string, unknown> {
    return {
      className: this.className, name: this.name, epsilon: this.epsilon,
      ...(this.center ? {} : { center: false }), ...(this.scale ? {} : { scale: false }),
    };
  }
}
