// Attention on top of recurrent layers (the arithmetic: kernels/attention-ops.ts).
//
// AttentionPooling: a sequence [B, T, D] (a recurrent layer with returnSequences) to one vector
// [B, D], the steps weighted by a learned score, wᵀ tanh(h_t W + b), softmax over the real steps —
// instead of keeping only the last state. A Sequential model's classifier head:
//   embedding -> lstm({ returnSequences: true }) -> attentionPooling({ units: 64 }) -> dense
// Attention: queries attend to a sequence of values (functional models): apply([query, value])
// or apply([query, value, key]), output [B, Tq, Dv] — a decoder attending to its encoder's states
// (Bahdanau's additive score, Luong's dot score), or a sequence to itself (apply([x, x]), with
// `causal` for a decoder: the Transformer's self-attention, scaledDot). Padded steps of the
// value (the mask an Embedding with maskZero made) get weight 0. Both layers keep the weights
// of their last forward for inspection (lastWeights).
import { ATTENTION_SCORES, attentionBackward, attentionForward, type AttentionArgs, type AttentionSaved, type AttentionScore } from '../kernels/attention-ops.js';
import { ActivationSlot, getBackend } from '../kernels/index.js';
import { KeyValueCache } from '../kernels/multihead-ops.js';
import { lastStepMask, lastSteps } from '../kernels/layer-ops.js';
import { glorotUniform } from '../tensor/init.js';
import { ParamStore } from '../tensor/params.js';
import { rng } from '../tensor/rng.js';
import { configError, shapeStr, uniqueName, shown, type Act, type CallContext, type Layer, type Shape, LayerBase } from './layer.js';
import { applyLayer, type MultiLayer, type SymbolicTensor } from './symbolic.js';

/** The weights of a layer's last forward: [B, Tq, Tv] (Attention) or [B, T] (AttentionPooling). */
export interface AttentionWeights {
  data: Float32Array;
  shape: number[];
}

function checkUnits(owner: string, units: unknown, required: boolean): number | undefined {
  if (units === undefined && !required) return undefined;
  if (!Number.isInteger(units) || (units as number) < 1) configError(owner, `option 'units' must be a positive integer, got ${shown(units)}`);
  return units as number;
}

/** The last dimension of a [T, D] input shape (without the batch), which must be known. */
export function widthOf(owner: string, s: Shape, what: string): number {
  if (s.length !== 2) configError(owner, `${what} must be a sequence [batch, time, features], got ${shapeStr([null, ...s])}`);
  const d = s[1];
  if (typeof d !== 'number') configError(owner, `the feature dimension of ${what} must be known, got ${shapeStr([null, ...s])}`);
  return d;
}

/**
 * The widths of [query, value] or [query, value, key] shapes (without the batch; the key is the
 * value when not given), after the checks every attention layer makes: two or three sequences,
 * as many key steps as value steps, and with `causal` as many query steps as value steps.
 */
export function sequenceWidths(owner: string, shapes: Shape[], causal: boolean): { Dq: number; Dv: number; Dk: number } {
  if (shapes.length !== 2 && shapes.length !== 3) configError(owner, `takes [query, value] or [query, value, key], got ${shapes.length} input(s)`);
  const Dq = widthOf(owner, shapes[0]!, 'the query'), Dv = widthOf(owner, shapes[1]!, 'the value');
  const Dk = shapes.length === 3 ? widthOf(owner, shapes[2]!, 'the key') : Dv;
  const Tv = shapes[1]![0], Tk = shapes.length === 3 ? shapes[2]![0] : Tv;
  if (typeof Tv === 'number' && typeof Tk === 'number' && Tv !== Tk) configError(owner, `the key has ${Tk} steps, the value ${Tv}`);
  if (causal && typeof shapes[0]![0] === 'number' && typeof Tv === 'number' && shapes[0]![0] !== Tv) {
    configError(owner, `causal attention needs as many query steps as value steps, got ${shapes[0]![0]} and ${Tv}`);
  }
  return { Dq, Dv, Dk };
}

/**
 * The inputs of an attention layer's forward (the key the value when not given), checked as
 * sequenceWidths does and against each other's batch and steps: their widths, B, Tq and Tv.
 */
export function sequenceInputs(owner: string, xs: Act[], causal: boolean): { q: Act; v: Act; k: Act; Dq: number; Dv: number; Dk: number; B: number; Tq: number; Tv: number } {
  const [q, v] = xs as [Act, Act], k = xs[2] ?? v;
  const widths = sequenceWidths(owner, xs.map((x) => x.shape.slice(1)), causal);
  const B = q.shape[0]!, Tq = q.shape[1]!, Tv = v.shape[1]!;
  for (const [x, what] of [[v, 'value'], [k, 'key']] as const) {
    if (x.shape[0] !== B || x.shape[1] !== Tv) configError(owner, `the ${what} has shape [${x.shape.join(', ')}], expected [${B}, ${Tv}, ...] (the query has [${q.shape.join(', ')}])`);
  }
  if (causal && Tq !== Tv) configError(owner, `causal attention needs as many query steps as value steps, got ${Tq} and ${Tv}`);
  return { q, v, k, ...widths, B, Tq, Tv };
}

/** Training with dropout: n factors, 0 with probability `rate`, else 1/(1 - rate); otherwise null. */
export function weightDropMask(ctx: CallContext | undefined, rate: number, n: number): Float32Array | null {
  if (!ctx?.training || rate <= 0) return null;
  return ctx.rng.dropoutMask(new Float32Array(n), 1 - rate, 1 / (1 - rate));
}

/**
 * The additive score's parameters (W_q only with queries, Dq not null), initialised: the kernels
 * and the score vector Glorot-uniform, the bias 0.
 */
function additiveParams(Dq: number | null, Dk: number, A: number, seed: number, names: { wq?: string; wk: string; b: string; w: string }): ParamStore {
  const specs = [...(Dq !== null ? [{ name: names.wq!, shape: [Dq, A] }] : []), { name: names.wk, shape: [Dk, A] }, { name: names.b, shape: [A] }, { name: names.w, shape: [A] }];
  const p = new ParamStore(specs, 'float32');
  const r = rng(seed);
  if (Dq !== null) glorotUniform(p.value(names.wq!), Dq, A, r);
  glorotUniform(p.value(names.wk), Dk, A, r);
  glorotUniform(p.value(names.w), A, 1, r);
  return p;
}

// ---------------------------------------------------------------------------------------------

export interface AttentionPoolingOptions {
  /** Width of the score's hidden layer tanh(h W + b). */
  units: number;
  seed?: number;
  name?: string;
}

/** A sequence [B, T, D] to Σ_t α_t h_t [B, D], α = softmax over the real steps of wᵀ tanh(h_t W + b). */
export class AttentionPooling extends LayerBase implements Layer {
  readonly className = 'AttentionPooling';
  name: string;
  params: ParamStore | null = null;
  built = false;
  private D = 0;
  private args: AttentionArgs | null = null;
  private saved: AttentionSaved | null = null;
  private shape: number[] = [];
  // Reused from call to call, in the backend's memory where it offers that (read there in place):
  // the score's tanh kept for the backward, and dx, which the layer below consumes at once.
  private readonly uSlot = new ActivationSlot();
  private readonly dxSlot = new ActivationSlot();

  constructor(readonly options: AttentionPoolingOptions) {
    super();
    const o = options ?? ({} as AttentionPoolingOptions);
    checkUnits('AttentionPooling', o.units, true);
    this.name = o.name ?? uniqueName('attention_pooling');
  }

  build(inputShape: Shape): void {
    this.D = widthOf(this.name, inputShape, 'the input');
    this.params = additiveParams(null, this.D, this.options.units, this.options.seed ?? 7, { wk: 'kernel', b: 'bias', w: 'context' });
    this.built = true;
  }

  computeOutputShape(s: Shape): Shape {
    widthOf(this.name, s, 'the input');
    return [s[1]!];
  }

  forward(x: Act): Act {
    const D = this.D;
    if (x.shape.length !== 3 || x.shape[2] !== D) configError(this.name, `expected input [batch, time, ${D}], got [${x.shape.join(', ')}]`);
    const [B, T] = x.shape as [number, number, number];
    const p = this.params!;
    this.args = {
      score: 'additive', B, Tq: 1, Tv: T, Dq: 0, Dk: D, Dv: D, q: null, k: x.data, v: x.data, keyMask: x.mask, causal: false,
      wk: p.value('kernel'), b: p.value('bias'), w: p.value('context'), uOut: this.uSlot.get(B * T * this.options.units),
    };
    const y = new Float32Array(B * D);
    this.saved = attentionForward(getBackend(), this.args, y);
    this.shape = [B, T];
    return { data: y, shape: [B, D], mask: null };
  }

  backward(dy: Float32Array, wantDx = true): Float32Array | null {
    const a = this.args, s = this.saved, p = this.params!;
    if (!a || !s) configError(this.name, 'backward before forward');
    // The sequence is both the keys and the values: its whole gradient comes back as dk.
    const dk = wantDx ? this.dxSlot.get(a.k.length) : null;
    attentionBackward(getBackend(), a, s, dy, { dq: null, dk, dv: null, dwk: p.gradOf('kernel'), db: p.gradOf('bias'), dw: p.gradOf('context') });
    return dk;
  }

  /** The weights α of the last forward, [B, T] (0 on padded steps). */
  get lastWeights(): AttentionWeights | null {
    return this.saved ? { data: Float32Array.from(this.saved.a), shape: [...this.shape] } : null;
  }

  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }

  getConfig(): Record<string, unknown> {
    return { className: this.className, name: this.name, units: this.options.units, ...(this.options.seed !== undefined ? { seed: this.options.seed } : {}) };
  }
}

// ---------------------------------------------------------------------------------------------

export interface AttentionOptions {
  /**
   * 'dot' (Luong's q·k; the default, as in Keras' Attention), 'scaledDot' (q·k/√d, the
   * Transformer's) or 'additive' (Bahdanau's wᵀ tanh(q W_q + k W_k + b), with parameters).
   */
  score?: AttentionScore;
  /** additive: width of the score's hidden layer (default: the keys' width). */
  units?: number;
  /** Query step i attends to steps j <= i only (a sequence attending to itself in a decoder). */
  causal?: boolean;
  /**
   * In training, each weight is dropped from the weighted sum with this probability and the rest
   * scaled by 1/(1 - dropout), as Keras' Attention does (default 0; lastWeights are the softmax's).
   */
  dropout?: number;
  seed?: number;
  name?: string;
}

/**
 * Queries [B, Tq, Dq] attend to values [B, Tv, Dv] (scored against keys [B, Tv, Dk], the values
 * themselves unless a third input is given): output [B, Tq, Dv], the query's mask kept.
 */
export class Attention extends LayerBase implements MultiLayer {
  readonly className = 'Attention';
  name: string;
  params: ParamStore | null = null;
  built = false;
  readonly numOutputs = 1;
  readonly score: AttentionScore;
  readonly causal: boolean;
  readonly dropout: number;
  private units = 0;
  private args: AttentionArgs | null = null;
  private saved: AttentionSaved | null = null;
  private keyIsValue = true;

  constructor(readonly options: AttentionOptions = {}) {
    super();
    const o = options ?? {};
    const score = o.score ?? 'dot';
    if (!ATTENTION_SCORES.includes(score)) configError('Attention', `option 'score' must be one of ${ATTENTION_SCORES.join(', ')}, got ${JSON.stringify(score)}`);
    this.score = score;
    checkUnits('Attention', o.units, false);
    if (o.units !== undefined && score !== 'additive') configError('Attention', `option 'units' belongs to the additive score, not '${score}'`);
    if (o.causal !== undefined && typeof o.causal !== 'boolean') configError('Attention', `option 'causal' must be true or false, got ${shown(o.causal)}`);
    this.causal = o.causal ?? false;
    const d = o.dropout ?? 0;
    if (!(typeof d === 'number' && d >= 0 && d < 1)) configError('Attention', `option 'dropout' must be a number in [0, 1), got ${shown(o.dropout)}`);
    this.dropout = d;
    this.name = o.name ?? uniqueName('attention');
  }

  private widths(shapes: Shape[]): { Dq: number; Dv: number; Dk: number } {
    const w = sequenceWidths(this.name, shapes, this.causal);
    if (this.score !== 'additive' && w.Dq !== w.Dk) configError(this.name, `the ${this.score} score needs queries and keys of one width, got ${w.Dq} and ${w.Dk}`);
    return w;
  }

  buildMulti(shapes: Shape[]): void {
    const { Dq, Dk } = this.widths(shapes);
    if (this.score === 'additive') {
      this.units = this.options.units ?? Dk;
      this.params = additiveParams(Dq, Dk, this.units, this.options.seed ?? 7, { wq: 'query_kernel', wk: 'key_kernel', b: 'bias', w: 'score_vector' });
    }
    this.built = true;
  }

  build(): void {
    configError(this.name, 'takes [query, value] or [query, value, key]: use apply([query, value]) in a functional model');
  }

  computeOutputShape(s: Shape): Shape { return s; }

  computeOutputShapes(shapes: Shape[]): Shape[] {
    const { Dv } = this.widths(shapes);
    return [[shapes[0]![0]!, Dv]];
  }

  forward(): Act { return configError(this.name, 'takes [query, value] or [query, value, key]: use apply([query, value]) in a functional model'); }
  backward(): Float32Array { return configError(this.name, 'runs inside functional models'); }

  forwardMulti(xs: Act[], ctx?: CallContext): Act[] {
    this.widths(xs.map((x) => x.shape.slice(1)));
    const { q, v, k, Dq, Dv, Dk, B, Tq, Tv } = sequenceInputs(this.name, xs, this.causal);
    this.keyIsValue = xs.length === 2;
    const p = this.params;
    const dropMask = weightDropMask(ctx, this.dropout, B * Tq * Tv);
    this.args = {
      score: this.score, B, Tq, Tv, Dq, Dk, Dv, q: q.data, k: k.data, v: v.data, keyMask: k.mask ?? v.mask, causal: this.causal, dropMask,
      ...(p ? { wq: p.value('query_kernel'), wk: p.value('key_kernel'), b: p.value('bias'), w: p.value('score_vector') } : {}),
    };
    const y = new Float32Array(B * Tq * Dv);
    this.saved = attentionForward(getBackend(), this.args, y);
    return [{ data: y, shape: [B, Tq, Dv], mask: q.mask }];
  }

  backwardMulti(dys: (Float32Array | null)[], wanted?: readonly boolean[]): (Float32Array | null)[] {
    const a = this.args, s = this.saved;
    if (!a || !s) configError(this.name, 'backward before forward');
    const want = (i: number): boolean => wanted?.[i] ?? true;
    const dq = want(0) ? new Float32Array(a.q!.length) : null;
    // (keys = values: one array, whose whole gradient comes back as dk)
    const dv = want(1) && !this.keyIsValue ? new Float32Array(a.v.length) : null;
    const dk = want(this.keyIsValue ? 1 : 2) ? new Float32Array(a.k.length) : null;
    const p = this.params;
    const pg = p ? { dwq: p.gradOf('query_kernel'), dwk: p.gradOf('key_kernel'), db: p.gradOf('bias'), dw: p.gradOf('score_vector') } : {};
    attentionBackward(getBackend(), a, s, dys[0]!, { dq, dk, dv, ...pg });
    return this.keyIsValue ? [dq, dk] : [dq, dv, dk];
  }

  /**
   * Causal self-attention (apply([x, x])) of n new steps x [B, n, D] over the steps `cache` holds
   * (newCache) and themselves: what forwardMulti([x, x]) over the whole sequence gives for these
   * rows. The new steps join the cache (the keys and values are the steps themselves). `last`:
   * the output of the last new step alone, [B, 1, D] (its query over every step). Inference only:
   * nothing is kept for a backward.
   */
  forwardCached(x: Act, cache: KeyValueCache, last = false): Act {
    if (!this.built) configError(this.name, 'forwardCached before the layer is built');
    if (!this.causal) configError(this.name, 'forwardCached needs causal self-attention (causal: true)');
    const [B, n, D] = x.shape as [number, number, number];
    if (x.shape.length !== 3 || cache.B !== B || cache.keyDim !== D) {
      configError(this.name, `expected input [${cache.B}, time, ${cache.keyDim}] (the cache's), got [${x.shape.join(', ')}]`);
    }
    if (x.mask && x.mask.includes(0)) configError(this.name, 'forwardCached takes no padded steps (a mask with zeros)');
    cache.reserve(cache.length + n);
    cache.put(x.data, n, true);
    cache.length += n;
    // Keys = values: the cached steps, [B, L, D] (rows copied together when the cache has room to spare).
    const L = cache.length, stride = cache.stride;
    let kv = cache.k.subarray(0, B * L * D);
    if (B > 1 && stride !== L) {
      kv = new Float32Array(B * L * D);
      for (let b = 0; b < B; b++) kv.set(cache.k.subarray(b * stride * D, (b * stride + L) * D), b * L * D);
    }
    const p = this.params, nq = last ? 1 : n;
    const q = last ? lastSteps(x.data as Float32Array, B, n, D, new Float32Array(B * D)) : x.data;
    const y = new Float32Array(B * nq * D);
    attentionForward(getBackend(), {
      score: this.score, B, Tq: nq, Tv: L, Dq: D, Dk: D, Dv: D, q, k: kv, v: kv, keyMask: null, causal: true, dropMask: null,
      ...(p ? { wq: p.value('query_kernel'), wk: p.value('key_kernel'), b: p.value('bias'), w: p.value('score_vector') } : {}),
    }, y);
    return { data: y, shape: [B, nq, D], mask: last ? lastStepMask(x.mask, B, n) : x.mask };
  }

  /** An empty cache of steps for forwardCached over batches of B sequences of width D. */
  newCache(B: number, D: number, capacity?: number): KeyValueCache {
    return new KeyValueCache(B, 1, D, 0, capacity);
  }

  /** The weights of the last forward, [B, Tq, Tv] (0 where a key was padded or, causal, ahead). */
  get lastWeights(): AttentionWeights | null {
    const a = this.args;
    return a && this.saved ? { data: Float32Array.from(this.saved.a), shape: [a.B, a.Tq, a.Tv] } : null;
  }

  apply(inputs: SymbolicTensor[]): SymbolicTensor { return applyLayer(this, inputs) as SymbolicTensor; }

  getConfig(): Record<string, unknown> {
    const o = this.options;
    return {
      className: this.className, name: this.name, score: this.score, causal: this.causal,
      ...(o.units !== undefined ? { units: o.units } : {}), ...(this.dropout > 0 ? { dropout: this.dropout } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    };
  }
}
