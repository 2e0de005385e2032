// Embedding, Dense, Dropout and Activation: the non-recurrent Keras layers.
import { ActivationSlot, getBackend } from '../kernels/index.js';
import { addRowsAt, denseBackward, denseForward, gatherRows, softmaxRows, softmaxRowsRef } from '../kernels/layer-ops.js';
import { glorotUniform, uniformInit } from '../tensor/init.js';
import { ParamStore } from '../tensor/params.js';
import { rng } from '../tensor/rng.js';
import { configError, reusesBuffers, sizeOf, uniqueName, shown, type Act, type CallContext, type Layer, type Shape, LayerBase } from './layer.js';
import { applyLayer, type SymbolicTensor } from './symbolic.js';

// ---------------------------------------------------------------------------------------------
// Activations. Each backward takes the forward input x and output y and maps dy -> dx in place.

export type ActivationName = 'linear' | 'relu' | 'tanh' | 'sigmoid' | 'softmax' | 'softplus' | 'elu' | 'gelu' | 'swish';
export const ACTIVATIONS: readonly ActivationName[] = ['linear', 'relu', 'tanh', 'sigmoid', 'softmax', 'softplus', 'elu', 'gelu', 'swish'];

export function checkActivation(a: unknown, owner: string): ActivationName {
  const v = a ?? 'linear';
  if (!ACTIVATIONS.includes(v as ActivationName)) configError(owner, `unknown activation '${String(a)}'; expected one of ${ACTIVATIONS.join(', ')}`);
  return v as ActivationName;
}

const SQRT_2_PI = Math.sqrt(2 / Math.PI);

/** y = act(x) over rows of width `k` (softmax is per row). */
export function activationForward(act: ActivationName, x: Float32Array, y: Float32Array, k: number): void {
  const n = x.length;
  switch (act) {
    case 'linear': y.set(x); break;
    case 'relu': for (let i = 0; i < n; i++) y[i] = x[i]! > 0 ? x[i]! : 0; break;
    case 'tanh': for (let i = 0; i < n; i++) y[i] = Math.tanh(x[i]!); break;
    case 'sigmoid': for (let i = 0; i < n; i++) y[i] = 1 / (1 + Math.exp(-x[i]!)); break;
    case 'softplus': for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = Math.max(v, 0) + Math.log1p(Math.exp(-Math.abs(v))); } break;
    case 'elu': for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = v > 0 ? v : Math.expm1(v); } break;
    case 'swish': for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = v / (1 + Math.exp(-v)); } break;
    case 'gelu': for (let i = 0; i < n; i++) { const v = x[i]!; y[i] = 0.5 * v * (1 + Math.tanh(SQRT_2_PI * (v + 0.044715 * v * v * v))); } break;
    case 'softmax': softmaxRowsRef(x, y, n / k, k, new Float64Array(n / k)); break;
  }
}

/** dy <- dy ⊙ act'(x) (softmax: the Jacobian-vector product per row). */
export function activationBackward(act: ActivationName, x: Float32Array, y: Float32Array, dy: Float32Array, k: number): void {
  const n = dy.length;
  switch (act) {
    case 'linear': break;
    case 'relu': for (let i = 0; i < n; i++) if (!(x[i]! > 0)) dy[i] = 0; break;
    case 'tanh': for (let i = 0; i < n; i++) dy[i] *= 1 - y[i]! * y[i]!; break;
    case 'sigmoid': for (let i = 0; i < n; i++) dy[i] *= y[i]! * (1 - y[i]!); break;
    case 'softplus': for (let i = 0; i < n; i++) dy[i] *= 1 / (1 + Math.exp(-x[i]!)); break;
    case 'elu': for (let i = 0; i < n; i++) if (!(x[i]! > 0)) dy[i] *= y[i]! + 1; break;
    case 'swish': for (let i = 0; i < n; i++) { const s = 1 / (1 + Math.exp(-x[i]!)); dy[i] *= s + x[i]! * s * (1 - s); } break;
    case 'gelu':
      for (let i = 0; i < n; i++) {
        const v = x[i]!, u = SQRT_2_PI * (v + 0.044715 * v * v * v), t = Math.tanh(u);
        dy[i] *= 0.5 * (1 + t) + 0.5 * v * (1 - t * t) * SQRT_2_PI * (1 + 3 * 0.044715 * v * v);
      }
      break;
    case 'softmax':
      for (let r = 0; r < n; r += k) {
        let s = 0;
        for (let j = 0; j < k; j++) s += dy[r + j]! * y[r + j]!;
        for (let j = 0; j < k; j++) dy[r + j] = y[r + j]! * (dy[r + j]! - s);
      }
      break;
  }
}

// ---------------------------------------------------------------------------------------------

export interface EmbeddingOptions {
  inputDim: number;
  outputDim: number;
  /** Token id 0 is padding: it produces a mask that recurrent layers, losses and metrics honour. */
  maskZero?: boolean;
  /** Keras default: uniform(-0.05, 0.05). */
  initScale?: number;
  seed?: number;
  name?: string;
  inputLength?: number;
}

/**
 * An embedding's output as rows of a small table (Embedding.tableRows): row r of the output is
 * table row ids[r]. `shape` and `mask` are those of the output Act.
 */
export interface TableRows {
  ids: Int32Array;
  /** (rows, outputDim) embedding vectors. */
  table: Float32Array;
  rows: number;
  shape: number[];
  mask: Uint8Array | null;
}

/**
 * Table rows pay when there are at most this fraction of the output rows: the consumer then
 * projects rows·(its width) values instead of n·(its width) and copies rows in place of the rest.
 */
const TABLE_ROWS_MAX_FRACTION = 0.75;

/** Token ids [B, T] -> vectors [B, T, outputDim]. Ids arrive as exact small floats. */
export class Embedding extends LayerBase implements Layer {
  readonly className = 'Embedding';
  name: string;
  params: ParamStore;
  built = true;
  private ids: Int32Array = new Int32Array(0);
  private readonly outSlot = new ActivationSlot();
  /** tableRows' buffers: vocabulary id -> table row (-1 = none yet), table row -> id, row ids. */
  private rowOf = new Int32Array(0);
  private vocabOf = new Int32Array(0);
  private readonly tableSlot = new ActivationSlot();
  private rowIds = new Int32Array(0);
  /** Table rows of the last tableRows call: null = the whole embedding matrix (row = id). */
  private tableIds: Int32Array | null = null;

  constructor(readonly options: EmbeddingOptions) {
    super();
    const o = options ?? ({} as EmbeddingOptions);
    for (const k of ['inputDim', 'outputDim'] as const) {
      if (!Number.isInteger(o[k]) || o[k] < 1) configError('Embedding', `option '${k}' must be a positive integer, got ${shown(o[k])}`);
    }
    this.name = o.name ?? uniqueName('embedding');
    this.params = new ParamStore([{ name: 'embeddings', shape: [o.inputDim, o.outputDim] }], 'float32');
    uniformInit(this.params.value('embeddings'), o.initScale ?? 0.05, rng(o.seed ?? 1));
  }

  build(): void {}

  computeOutputShape(s: Shape): Shape {
    return [...s, this.options.outputDim];
  }

  /**
   * In training, and for a model's inner layers (ctx.reuse), the id and output buffers are reused
   * from call to call (the caller consumes them before the next forward); otherwise every call
   * returns fresh arrays.
   */
  forward(x: Act, ctx?: CallContext): Act {
    const { outputDim: D } = this.options;
    const n = x.data.length;
    const reuse = reusesBuffers(ctx);
    const ids = this.readIds(x, reuse);
    const W = this.params.value('embeddings');
    // (Reused: in the kernels' memory where they offer it, gathered there and read in place.)
    const out = reuse ? this.outSlot.get(n * D) : new Float32Array(n * D);
    gatherRows(W, ids, n, D, out, getBackend());
    return { data: out, shape: [...x.shape, D], mask: this.maskOf(x, ids) };
  }

  /** The token ids of x, checked (kept for backward). */
  private readIds(x: Act, reuse: boolean): Int32Array {
    const { inputDim } = this.options;
    const n = x.data.length;
    const ids = reuse && this.ids.length === n ? this.ids : new Int32Array(n);
    for (let i = 0; i < n; i++) {
      const v = x.data[i]!;
      if (!Number.isInteger(v) || v < 0 || v >= inputDim) {
        configError(this.name, `token id ${v} at flat position ${i} is outside [0, ${inputDim}) (inputDim)`);
      }
      ids[i] = v;
    }
    this.ids = ids;
    return ids;
  }

  private maskOf(x: Act, ids: Int32Array): Uint8Array | null {
    if (!this.options.maskZero) return x.mask;
    const n = ids.length, mask = new Uint8Array(n);
    for (let i = 0; i < n; i++) mask[i] = ids[i] !== 0 && (x.mask === null || x.mask[i] !== 0) ? 1 : 0;
    return mask;
  }

  /**
   * The output as rows of a table, for a consumer that computes on each distinct row once (a
   * recurrent layer's input projection; see Sequential): the rows of the distinct tokens in
   * vocabulary order — or the whole embedding matrix when it has at most a quarter more
   * rows than that (a small vocabulary: no copies, row = token id). Null — run forward instead —
   * when the distinct tokens are more than 3/4 of the output rows. The gradient comes back
   * through backwardTable. The arrays returned are reused by the next call.
   */
  tableRows(x: Act): TableRows | null {
    const { inputDim: V, outputDim: D } = this.options;
    const ids = this.readIds(x, true), n = ids.length;
    if (n === 0) return null; // (nothing to save)
    const most = Math.floor(TABLE_ROWS_MAX_FRACTION * n);
    if (this.rowOf.length !== V) this.rowOf = new Int32Array(V).fill(-1);
    if (this.vocabOf.length < Math.min(n, V)) this.vocabOf = new Int32Array(Math.min(n, V));
    if (this.rowIds.length !== n) this.rowIds = new Int32Array(n);
    const rowOf = this.rowOf, vocabOf = this.vocabOf, rowIds = this.rowIds;
    let rows = 0;
    for (let i = 0; i < n; i++) {
      const v = ids[i]!;
      if (rowOf[v]! < 0) { rowOf[v] = rows; vocabOf[rows++] = v; }
    }
    const distinct = vocabOf.subarray(0, rows);
    const whole = V <= most && 4 * V <= 5 * rows;
    if (rows <= most && !whole) {
      // Table rows in vocabulary order: the embedding's rows, and below their gradient's, are
      // then read and written in memory order rather than at random. Numbered by a pass over the
      // vocabulary unless it is much larger than the rows (W3's 7,200 of 10,000: 0.39 ms for all
      // of tableRows, against 1.17 with Int32Array.prototype.sort; an ad-hoc timing).
      if (V <= 16 * rows) {
        for (let v = 0, u = 0; v < V; v++) if (rowOf[v]! >= 0) { rowOf[v] = u; distinct[u++] = v; }
      } else {
        distinct.sort();
        for (let u = 0; u < rows; u++) rowOf[distinct[u]!] = u;
      }
      for (let i = 0; i < n; i++) rowIds[i] = rowOf[ids[i]!]!;
    }
    for (let u = 0; u < rows; u++) rowOf[distinct[u]!] = -1; // back to all -1 for the next call
    if (rows > most) return null;
    const shape = [...x.shape, D], mask = this.maskOf(x, ids);
    const W = this.params.value('embeddings') as Float32Array;
    if (whole) {
      this.tableIds = null;
      return { ids, table: W, rows: V, shape, mask };
    }
    // In the kernels' memory where they offer it, beside a model's resident embedding matrix: the
    // rows are then gathered by the kernels, and the consumer's kernels read the table in place.
    const table = this.tableSlot.get(rows * D);
    gatherRows(W, distinct, rows, D, table, getBackend());
    this.tableIds = distinct;
    return { ids: rowIds, table, rows, shape, mask };
  }

  /** Accumulates the embedding gradient from the gradient of the last tableRows' table. */
  backwardTable(dTable: Float32Array): void {
    const D = this.options.outputDim;
    const dW = this.params.gradOf('embeddings'), vocabOf = this.tableIds;
    if (vocabOf === null) {
      for (let i = 0; i < dTable.length; i++) dW[i] += dTable[i]!;
      return;
    }
    addRowsAt(dW, vocabOf, vocabOf.length, D, dTable, getBackend());
  }

  backward(dy: Float32Array): null {
    const D = this.options.outputDim;
    const dW = this.params.gradOf('embeddings');
    const ids = this.ids;
    addRowsAt(dW, ids, ids.length, D, dy, getBackend());
    return null;
  }

  /** Functional API: record this layer applied to a symbolic tensor. */
  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }

  getConfig(): Record<string, unknown> {
    return { className: this.className, name: this.name, ...this.options };
  }
}

// ---------------------------------------------------------------------------------------------

export interface DenseOptions {
  units: number;
  activation?: ActivationName;
  useBias?: boolean;
  seed?: number;
  name?: string;
  inputShape?: number[];
}

/**
 * y = act(x·W + b) over the last axis; on 3-D input it applies to every time step (Keras'
 * behaviour, no TimeDistributed needed). NOTE(keras): the kernel is stored (in, units) as Keras.
 */
export class Dense extends LayerBase implements Layer {
  readonly className = 'Dense';
  name: string;
  params: ParamStore | null = null;
  built = false;
  readonly activation: ActivationName;
  private x: Float32Array = new Float32Array(0);
  private z: Float32Array = new Float32Array(0);
  private y: Float32Array = new Float32Array(0);
  private lse: Float64Array | null = null;
  private lseBuf = new Float64Array(0);
  private readonly zSlot = new ActivationSlot();
  private readonly ySlot = new ActivationSlot();
  private readonly dxSlot = new ActivationSlot();
  private readonly dzSlot = new ActivationSlot();
  private inDim = 0;

  constructor(readonly options: DenseOptions) {
    super();
    const o = options ?? ({} as DenseOptions);
    if (!Number.isInteger(o.units) || o.units < 1) configError('Dense', `option 'units' must be a positive integer, got ${shown(o.units)}`);
    this.activation = checkActivation(o.activation, 'Dense');
    this.name = o.name ?? uniqueName('dense');
  }

  build(inputShape: Shape): void {
    const inDim = inputShape[inputShape.length - 1];
    if (typeof inDim !== 'number') configError(this.name, `the last input dimension must be known, got ${shown(inDim)}`);
    this.inDim = inDim;
    const specs = [{ name: 'kernel', shape: [inDim, this.options.units] }];
    if (this.options.useBias ?? true) specs.push({ name: 'bias', shape: [this.options.units] });
    this.params = new ParamStore(specs, 'float32');
    glorotUniform(this.params.value('kernel'), inDim, this.options.units, rng(this.options.seed ?? 2));
    this.built = true;
  }

  computeOutputShape(s: Shape): Shape {
    return [...s.slice(0, -1), this.options.units];
  }

  /**
   * In training, and for a model's inner layers (ctx.reuse), the output buffers are reused from
   * call to call (the caller consumes them before the next forward); otherwise every call returns
   * fresh arrays.
   */
  forward(x: Act, ctx?: CallContext): Act {
    const U = this.options.units, K = this.inDim;
    if (x.shape[x.shape.length - 1] !== K) configError(this.name, `expected ${K} input features, got shape [${x.shape.join(', ')}]`);
    const rows = x.data.length / K;
    const reuse = reusesBuffers(ctx);
    // Reused ones in the backend's memory (its calls read and write them in place), else fresh.
    const out = (slot: ActivationSlot, n: number): Float32Array => (reuse ? slot.get(n) : new Float32Array(n));
    const z = out(this.zSlot, rows * U);
    const p = this.params!;
    denseForward(getBackend(), { rows, K, U, x: x.data, w: p.value('kernel'), b: p.byName.has('bias') ? p.value('bias') : null, z });
    let y = z; // (y is z only for 'linear')
    this.lse = null;
    if (this.activation === 'softmax') {
      // Softmax keeps each row's log-sum-exp: a fused cross-entropy reads the loss from it.
      y = out(this.ySlot, z.length);
      const lse = reuse && this.lseBuf.length === rows ? this.lseBuf : new Float64Array(rows);
      this.lse = this.lseBuf = lse;
      softmaxRows(getBackend(), z, y, rows, U, lse);
    } else if (this.activation !== 'linear') {
      y = out(this.ySlot, z.length);
      const be = getBackend();
      if (this.activation === 'relu' && be.relu) be.relu(z, y);
      else activationForward(this.activation, z, y, U);
    }
    this.x = x.data; this.z = z; this.y = y;
    return { data: y, shape: [...x.shape.slice(0, -1), U], mask: x.mask };
  }

  /** Pre-activation values of the last forward (the logits a fused loss reads). */
  get logits(): Float32Array { return this.z; }

  /** Softmax only: log Σ exp(logits) per row of the last forward, else null. */
  get logSumExp(): Float64Array | null { return this.lse; }

  backward(dy: Float32Array, wantDx?: true): Float32Array;
  backward(dy: Float32Array, wantDx: boolean): Float32Array | null;
  backward(dy: Float32Array, wantDx = true): Float32Array | null {
    const be = getBackend();
    if (this.activation === 'relu' && be.reluBackward) {
      // (dz in a reused buffer, read in place by the products after it)
      const dz = this.dzSlot.get(dy.length);
      be.reluBackward(this.z, dy, dz);
      return this.backwardFromLogits(dz, wantDx);
    }
    const dz = dy.slice();
    activationBackward(this.activation, this.z, this.y, dz, this.options.units);
    return this.backwardFromLogits(dz, wantDx);
  }

  /**
   * Backward from dLoss/dz (z = x·W + b), skipping the activation: used by fused losses. Without
   * wantDx, dx = dz·Wᵀ is not computed and null returned.
   */
  backwardFromLogits(dz: Float32Array, wantDx?: true): Float32Array;
  backwardFromLogits(dz: Float32Array, wantDx: boolean): Float32Array | null;
  backwardFromLogits(dz: Float32Array, wantDx = true): Float32Array | null {
    const U = this.options.units, K = this.inDim, rows = this.x.length / K;
    const p = this.params!;
    // Reused from call to call: the layer below consumes it at once.
    const dx = wantDx ? this.dxSlot.get(rows * K) : null;
    denseBackward(getBackend(), {
      rows, K, U, x: this.x, w: p.value('kernel'), dz,
      dW: p.gradOf('kernel'), db: p.byName.has('bias') ? p.gradOf('bias') : null, dx,
    });
    return dx;
  }

  /** Functional API: record this layer applied to a symbolic tensor. */
  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }

  getConfig(): Record<string, unknown> {
    return { className: this.className, name: this.name, ...this.options, activation: this.activation };
  }
}

// ---------------------------------------------------------------------------------------------

export interface DropoutOptions { rate: number; name?: string }

/** Inverted dropout: in training, zero each value with probability `rate` and scale the rest. */
export class Dropout extends LayerBase implements Layer {
  readonly className = 'Dropout';
  name: string;
  params = null;
  built = true;
  private mask: Float32Array | null = null;

  constructor(readonly options: DropoutOptions) {
    super();
    if (!(options?.rate >= 0 && options.rate < 1)) configError('Dropout', `option 'rate' must be in [0, 1), got ${shown(options?.rate)}`);
    this.name = options.name ?? uniqueName('dropout');
  }

  build(): void {}
  computeOutputShape(s: Shape): Shape { return s; }

  forward(x: Act, ctx: CallContext): Act {
    if (!ctx.training || this.options.rate === 0) { this.mask = null; return x; }
    const keep = 1 - this.options.rate, scale = 1 / keep;
    const m = ctx.rng.dropoutMask(new Float32Array(x.data.length), keep, scale);
    const y = new Float32Array(x.data.length);
    for (let i = 0; i < m.length; i++) y[i] = x.data[i]! * m[i]!;
    this.mask = m;
    return { data: y, shape: x.shape, mask: x.mask };
  }

  backward(dy: Float32Array): Float32Array {
    if (!this.mask) return dy;
    const dx = new Float32Array(dy.length);
    for (let i = 0; i < dy.length; i++) dx[i] = dy[i]! * this.mask[i]!;
    return dx;
  }

  /** Functional API: record this layer applied to a symbolic tensor. */
  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }

  getConfig(): Record<string, unknown> { return { className: this.className, name: this.name, ...this.options }; }
}

export interface ActivationOptions { activation: ActivationName; name?: string }

export class Activation extends LayerBase implements Layer {
  readonly className = 'Activation';
  name: string;
  params = null;
  built = true;
  readonly activation: ActivationName;
  private x: Float32Array = new Float32Array(0);
  private y: Float32Array = new Float32Array(0);
  private k = 1;

  constructor(readonly options: ActivationOptions) {
    super();
    this.activation = checkActivation(options?.activation, 'Activation');
    this.name = options.name ?? uniqueName('activation');
  }

  build(): void {}
  computeOutputShape(s: Shape): Shape { return s; }

  forward(x: Act): Act {
    this.k = x.shape[x.shape.length - 1]!;
    const y = new Float32Array(x.data.length);
    activationForward(this.activation, x.data, y, this.k);
    this.x = x.data; this.y = y;
    return { data: y, shape: x.shape, mask: x.mask };
  }

  backward(dy: Float32Array): Float32Array {
    const dx = dy.slice();
    activationBackward(this.activation, this.x, this.y, dx, this.k);
    return dx;
  }

  /** Functional API: record this layer applied to a symbolic tensor. */
  apply(x: SymbolicTensor): SymbolicTensor { return applyLayer(this, x) as SymbolicTensor; }

  getConfig(): Record<string, unknown> { return { className: this.className, name: this.name, activation: this.activation }; }
}

export { sizeOf };
