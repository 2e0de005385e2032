// Multi-head attention, the Transformer's (the arithmetic: kernels/multihead-ops.ts), for
// functional models: apply([query, value]) or apply([query, value, key]), as Keras'
// MultiHeadAttention. Self-attention is apply([x, x]) (with `causal` in a decoder). Padded steps
// of the value (the mask an Embedding with maskZero made) get weight 0 in every head.
import { ActivationSlot, getBackend } from '../kernels/index.js';
import { KeyValueCache, multiHeadBackward, multiHeadForward, multiHeadStep, type MultiHeadArgs, type MultiHeadSaved } from '../kernels/multihead-ops.js';
import { lastStepMask } from '../kernels/layer-ops.js';
import { glorotUniform } from '../tensor/init.js';
import { ParamStore } from '../tensor/params.js';
import { rng } from '../tensor/rng.js';
import { sequenceInputs, sequenceWidths, weightDropMask, type AttentionWeights } from './attention.js';
import { configError, reusesBuffers, uniqueName, shown, type Act, type CallContext, type Shape, LayerBase } from './layer.js';
import { applyLayer, type MultiLayer, type SymbolicTensor } from './symbolic.js';

export interface MultiHeadAttentionOptions {
  /** Number of heads H. */
  numHeads: number;
  /** Width of each head's queries and keys (dk; the scores are divided by √dk). */
  keyDim: number;
  /** Width of each head's values (default keyDim). */
  valueDim?: number;
  /** Width of the output (default: the query's width, as Keras' output_shape). */
  outputDim?: number;
  /** Biases on the four projections (default true). */
  useBias?: boolean;
  /** Query step i attends to steps j <= i only (a decoder's self-attention). */
  causal?: boolean;
  /** In training, each weight is dropped with this probability and the rest scaled by 1/(1 - dropout) (default 0). */
  dropout?: number;
  seed?: number;
  name?: string;
}

const posInt = (v: unknown): boolean => Number.isInteger(v) && (v as number) >= 1;

/**
 * Queries [B, Tq, Dq] attend, in H heads, to values [B, Tv, Dv] scored against keys [B, Tv, Dk]
 * (the values unless a third input is given): output [B, Tq, outputDim], the query's mask kept.
 */
export class MultiHeadAttention extends LayerBase implements MultiLayer {
  readonly className = 'MultiHeadAttention';
  name: string;
  params: ParamStore | null = null;
  built = false;
  readonly numOutputs = 1;
  readonly numHeads: number;
  readonly keyDim: number;
  readonly valueDim: number;
  readonly useBias: boolean;
  readonly causal: boolean;
  readonly dropout: number;
  private Do = 0;
  private args: MultiHeadArgs | null = null;
  private saved: MultiHeadSaved | null = null;
  private keyIsValue = true;
  // The output, reused from call to call (in training, and inside a model), and the arithmetic's
  // intermediate arrays: in the backend's memory where it offers that (read there in place).
  private readonly ySlot = new ActivationSlot();
  private readonly slots = new Map<string, ActivationSlot>();
  private readonly buf = (key: string, n: number): Float32Array => {
    let slot = this.slots.get(key);
    if (!slot) this.slots.set(key, (slot = new ActivationSlot()));
    return slot.get(n);
  };

  constructor(readonly options: MultiHeadAttentionOptions) {
    super();
    const o = options ?? ({} as MultiHeadAttentionOptions);
    for (const k of ['numHeads', 'keyDim'] as const) {
      if (!posInt(o[k])) configError('MultiHeadAttention', `option '${k}' must be a positive integer, got ${shown(o[k])}`);
    }
    for (const k of ['valueDim', 'outputDim'] as const) {
      if (o[k] !== undefined && !posInt(o[k])) configError('MultiHeadAttention', `option '${k}' must be a positive integer, got ${shown(o[k])}`);
    }
    for (const k of ['useBias', 'causal'] as const) {
      if (o[k] !== undefined && typeof o[k] !== 'boolean') configError('MultiHeadAttention', `option '${k}' must be true or false, got ${shown(o[k])}`);
    }
    const d = o.dropout ?? 0;
    if (!(typeof d === 'number' && d >= 0 && d < 1)) configError('MultiHeadAttention', `option 'dropout' must be a number in [0, 1), got ${shown(o.dropout)}`);
    this.numHeads = o.numHeads;
    this.keyDim = o.keyDim;
    this.valueDim = o.valueDim ?? o.keyDim;
    this.useBias = o.useBias ?? true;
    this.causal = o.causal ?? false;
    this.dropout = d;
    this.name = o.name ?? uniqueName('multi_head_attention');
  }

  buildMulti(shapes: Shape[]): void {
    const { Dq, Dv, Dk } = sequenceWidths(this.name, shapes, this.causal);
    const H = this.numHeads, dk = this.keyDim, dv = this.valueDim, Do = this.options.outputDim ?? Dq;
    this.Do = Do;
    const kernels: [string, number, number][] = [['query', Dq, H * dk], ['key', Dk, H * dk], ['value', Dv, H * dv], ['output', H * dv, Do]];
    const specs = kernels.flatMap(([n, rows, cols]) => [{ name: `${n}_kernel`, shape: [rows, cols] }, ...(this.useBias ? [{ name: `${n}_bias`, shape: [cols] }] : [])]);
    const p = new ParamStore(specs, 'float32');
    const r = rng(this.options.seed ?? 7);
    for (const [n, rows, cols] of kernels) glorotUniform(p.value(`${n}_kernel`), rows, cols, r); // biases start at 0
    this.params = p;
    this.built = true;
  }

  build(): void {
    configError(this.name, 'takes [query, value] or [query, value, key]: use apply([query, value]) in a functional model');
  }

  computeOutputShape(s: Shape): Shape { return s; }

  computeOutputShapes(shapes: Shape[]): Shape[] {
    const { Dq } = sequenceWidths(this.name, shapes, this.causal);
    return [[shapes[0]![0]!, this.options.outputDim ?? Dq]];
  }

  forward(): Act { return configError(this.name, 'takes [query, value] or [query, value, key]: use apply([query, value]) in a functional model'); }
  backward(): Float32Array { return configError(this.name, 'runs inside functional models'); }

  forwardMulti(xs: Act[], ctx?: CallContext): Act[] {
    const { q, v, k, Dq, Dv, Dk, B, Tq, Tv } = sequenceInputs(this.name, xs, this.causal);
    const p = this.params!, H = this.numHeads;
    this.keyIsValue = xs.length === 2;
    const dropMask = weightDropMask(ctx, this.dropout, B * H * Tq * Tv);
    const bias = (n: string): Float32Array | null => (this.useBias ? p.value(`${n}_bias`) as Float32Array : null);
    this.args = {
      B, Tq, Tv, Dq, Dk, Dv, heads: H, keyDim: this.keyDim, valueDim: this.valueDim, Do: this.Do,
      q: q.data, k: k.data, v: v.data, keyMask: k.mask ?? v.mask, causal: this.causal, dropMask,
      wq: p.value('query_kernel'), bq: bias('query'), wk: p.value('key_kernel'), bk: bias('key'),
      wv: p.value('value_kernel'), bv: bias('value'), wo: p.value('output_kernel'), bo: bias('output'),
    };
    const n = B * Tq * this.Do, y = reusesBuffers(ctx) ? this.ySlot.get(n) : new Float32Array(n);
    this.saved = multiHeadForward(getBackend(), this.args, y, this.buf);
    return [{ data: y, shape: [B, Tq, this.Do], mask: q.mask }];
  }

  backwardMulti(dys: (Float32Array | null)[], wanted?: readonly boolean[]): (Float32Array | null)[] {
    const a = this.args, s = this.saved;
    if (!a || !s) configError(this.name, 'backward before forward');
    const want = (i: number): boolean => wanted?.[i] ?? true;
    const p = this.params!;
    const grad = (n: string): Float32Array | null => (this.useBias ? p.gradOf(`${n}_bias`) as Float32Array : null);
    // Keys and values one array (two inputs, or one tensor given twice): its whole gradient comes back as dv.
    const shared = a.k === a.v;
    const dq = want(0) ? new Float32Array(a.q.length) : null;
    const dv = want(1) || (shared && want(2)) ? new Float32Array(a.v.length) : null;
    const dk = !this.keyIsValue && want(2) ? new Float32Array(a.k.length) : null;
    multiHeadBackward(getBackend(), a, s, dys[0]!, {
      dq, dk: shared ? null : dk, dv,
      dwq: p.gradOf('query_kernel'), dbq: grad('query'), dwk: p.gradOf('key_kernel'), dbk: grad('key'),
      dwv: p.gradOf('value_kernel'), dbv: grad('value'), dwo: p.gradOf('output_kernel'), dbo: grad('output'),
    }, this.buf);
    return this.keyIsValue ? [dq, dv] : [dq, dv, dk];
  }

  /**
   * A decoder's step (causal self-attention, inference): the new steps x [B, n, D] attend to the
   * steps `cache` holds (newCache) and to themselves, as forwardMulti([x, x]) over the whole
   * sequence gives for these rows; their keys and values join the cache. `last`: the output of
   * the last new step alone, [B, 1, outputDim] (every step's keys and values still join).
   */
  forwardCached(x: Act, cache: KeyValueCache, ctx?: CallContext, last = false): Act {
    if (!this.built) configError(this.name, 'forwardCached before the layer is built');
    if (!this.causal) configError(this.name, 'forwardCached needs causal self-attention (causal: true)');
    const [B, n, D] = x.shape as [number, number, number];
    const p = this.params!, Dq = p.value('query_kernel').length / (this.numHeads * this.keyDim);
    if (x.shape.length !== 3 || D !== Dq) configError(this.name, `expected input [batch, time, ${Dq}], got [${x.shape.join(', ')}]`);
    if (x.mask && x.mask.includes(0)) configError(this.name, 'forwardCached takes no padded steps (a mask with zeros)');
    const bias = (k: string): Float32Array | null => (this.useBias ? p.value(`${k}_bias`) as Float32Array : null);
    const nq = last ? 1 : n, y = reusesBuffers(ctx) ? this.ySlot.get(B * nq * this.Do) : new Float32Array(B * nq * this.Do);
    multiHeadStep(getBackend(), {
      B, n, last, x: x.data, Dq, Dk: Dq, Dv: Dq, heads: this.numHeads, keyDim: this.keyDim, valueDim: this.valueDim, Do: this.Do,
      wq: p.value('query_kernel'), bq: bias('query'), wk: p.value('key_kernel'), bk: bias('key'),
      wv: p.value('value_kernel'), bv: bias('value'), wo: p.value('output_kernel'), bo: bias('output'),
    }, cache, y, (key, n) => this.buf(`step:${key}`, n));
    return { data: y, shape: [B, nq, this.Do], mask: last ? lastStepMask(x.mask, B, n) : x.mask };
  }

  /** An empty key/value cache for forwardCached over batches of B sequences. */
  newCache(B: number, capacity?: number): KeyValueCache {
    return new KeyValueCache(B, this.numHeads, this.keyDim, this.valueDim, capacity);
  }

  /** The weights of the last forward, [B, H, Tq, Tv] (0 where a key was padded or, causal, ahead). */
  get lastWeights(): AttentionWeights | null {
    const a = this.args;
    return a && this.saved ? { data: Float32Array.from(this.saved.attSaved.a), shape: [a.B, a.heads, a.Tq, a.Tv] } : null;
  }

  apply(inputs: SymbolicTensor[]): SymbolicTensor { return applyLayer(this, inputs) as SymbolicTensor; }

  getConfig(): Record<string, unknown> {
    const o = this.options;
    return {
      className: this.className, name: this.name, numHeads: this.numHeads, keyDim: this.keyDim,
      ...(o.valueDim !== undefined ? { valueDim: o.valueDim } : {}), ...(o.outputDim !== undefined ? { outputDim: o.outputDim } : {}),
      ...(this.useBias ? {} : { useBias: false }), causal: this.causal, ...(this.dropout > 0 ? { dropout: this.dropout } : {}),
      ...(o.seed !== undefined ? { seed: o.seed } : {}),
    };
  }
}
