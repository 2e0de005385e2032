// RNN, LSTM and GRU layers: stacked, optionally bidirectional, with per-sequence lengths,
// initial states, dropout between layers, a stateful mode (truncated BPTT) and exact
// backpropagation through time.
//
// Shapes (PyTorch conventions): x [T, B, I] or [B, T, I] (batchFirst); output [.., D*H];
// h0/hN, c0/cN [L*D, B, H]. Parameters per layer k and direction (suffix `_reverse`):
//   weight_ih_l{k} (G, I_k)   weight_hh_l{k} (G, H)   bias_ih_l{k} (G)   bias_hh_l{k} (G)
// with G = 4H (LSTM, gates i|f|g|o), 3H (GRU, gates r|z|n) or H (RNN).
//
// Mapping to other frameworks (per gate block, transpose W to get the Keras kernel):
//   Keras LSTM kernel (I, 4H) gates i|f|c|o  = weight_ihᵀ; recurrent_kernel = weight_hhᵀ;
//         bias = bias_ih + bias_hh.
//   Keras GRU (reset_after=True) gates z|r|h: reorder r|z|n -> z|r|n; bias[0] = bias_ih, bias[1] = bias_hh.
//   ONNX LSTM W (D, 4H, I) gates i|o|f|c; ONNX GRU W (D, 3H, I) gates z|r|h; ONNX RNN W (D, H, I);
//         B = [Wb | Rb] = [bias_ih | bias_hh]; GRU linear_before_reset=1 equals resetAfter=true.
//
// Each forward runs, per layer and direction: one GEMM for the input projection of all T steps
// (xg = X·W_ihᵀ + biases), then the backend's sequence loop (one recurrent product and one
// fused gate pass per step). Backward runs the reverse loop, then the weight gradients as big
// products: dW_ih += dxgᵀ·X, dW_hh += dghᵀ·Hprev, dX = dxg·W_ih.
import { ActivationSlot, allocCache, backendFor, gateWidth, residentArray } from '../kernels/index.js';
import { layerBackward, layerForward } from '../kernels/layer-ops.js';
import type { CellKind, F, ResidentCache, SeqCache } from '../kernels/types.js';
import { glorotUniform, orthogonal, uniformInit } from '../tensor/init.js';
import { makeArray, ParamStore, type DType, type ParamSpec } from '../tensor/params.js';
import { rng, type Rng } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';
import { shown } from './layer.js';

export interface RecurrentOptions {
  inputSize: number;
  hiddenSize: number;
  /** Stacked layers (default 1). */
  numLayers?: number;
  /** Run a second, reversed direction and concatenate its outputs (default false). */
  bidirectional?: boolean;
  /** Inputs and outputs are [B, T, ·] instead of [T, B, ·] (default false, as PyTorch). */
  batchFirst?: boolean;
  /** Dropout on the outputs of every layer but the last, in training mode (default 0). */
  dropout?: number;
  /** Use bias_ih and bias_hh (default true). */
  bias?: boolean;
  /**
   * 'keras' (default): Glorot-uniform W_ih, orthogonal W_hh (per gate block), zero biases
   * (LSTM forget bias set to `forgetBias`). 'pytorch': every tensor uniform(-1/√H, 1/√H).
   */
  init?: 'keras' | 'pytorch';
  /** Seed for initialisation and dropout (default 0). */
  seed?: number;
  /** 'float64' runs on the reference kernels; it exists for gradient checks (default float32). */
  dtype?: DType;
  /** Carry the final state into the next forward call (without gradient): truncated BPTT. */
  stateful?: boolean;
  /**
   * Recurrent dropout in training mode: one (B, H) mask per layer, direction and forward call,
   * applied to h_prev wherever it enters a recurrent product (Gal & Ghahramani 2016; Keras'
   * recurrent_dropout). Runs the per-step loop on the reference kernels when the fast backend
   * lacks support.
   */
  recurrentDropout?: number;
}

/**
 * The gates' activation: 'sigmoid' (default) or 'hardSigmoid', clip(0.2·x + 0.5, 0, 1) — TF.js's
 * default recurrent activation (Keras 2's hard_sigmoid; ONNX's HardSigmoid).
 */
export type GateActivation = 'sigmoid' | 'hardSigmoid';

export interface LSTMOptions extends RecurrentOptions {
  /** Initial value of the forget-gate bias with init 'keras' (default 1, Jozefowicz et al. 2015). */
  forgetBias?: number;
  recurrentActivation?: GateActivation;
}

export interface GRUOptions extends RecurrentOptions {
  /** true (default): PyTorch/cuDNN/Keras-2 GRU; false: original Cho et al. formulation (TF.js default). */
  resetAfter?: boolean;
  recurrentActivation?: GateActivation;
}

export interface RNNOptions extends RecurrentOptions {
  nonlinearity?: 'tanh' | 'relu';
}

export type StateInput = Tensor<F> | null | undefined;

export interface ForwardOptions {
  h0?: StateInput;
  c0?: StateInput;
  /** Valid length of each sequence (B values in [0, T]). */
  lengths?: ArrayLike<number> | null;
  /**
   * Explicit recurrent-dropout masks [L*D, B, H] (already scaled), instead of drawing them from
   * the layer's rng; applied in training and eval mode alike. For tests and reproducibility.
   */
  recurrentMask?: Tensor<F> | null;
  /**
   * false: no backward will follow (inference), so nothing is kept for it — faster, less memory;
   * a backward() call then throws. Default true.
   */
  grad?: boolean;
  /**
   * The input as rows of a table, as an embedding produces it: x is then a 2-D Tensor [U, I]
   * and the input at step t of sequence b is row ids[r] of x, with r = t·B + b (b·T + t when
   * batchFirst) and `shape` = [T, B] ([B, T] when batchFirst). The first layer's input
   * projection then runs once per table row instead of once per step (and its backward sums
   * the gate gradients per table row first); backward's dx is the table's gradient [U, I].
   */
  rows?: { ids: Int32Array; shape: readonly [number, number] } | null;
  /**
   * Write the output here (T·B·D·H values, the output's layout) instead of a fresh array; the
   * returned output tensor then wraps it. For callers that own their activations (a model
   * reusing buffers from step to step).
   */
  out?: F;
}

export interface ForwardResult<A extends F = Float32Array> {
  output: Tensor<A>;
  hN: Tensor<A>;
  /** LSTM only. */
  cN?: Tensor<A>;
}

export interface BackwardOptions {
  dhN?: StateInput;
  dcN?: StateInput;
  /**
   * Write dx here (T·B·I values, the input's layout) instead of a fresh array; or false when the
   * input's gradient is not wanted (the input is data, as a PyTorch input that does not require
   * grad): the first layer's product for it, a quarter of the backward's multiply-adds (a sixth
   * of a training step's) with I = H, is skipped, and the result's dx is null. Parameter and state gradients are the
   * same bits either way.
   */
  dx?: F | false;
}

export interface BackwardResult<A extends F = Float32Array> {
  dx: Tensor<A>;
  dh0: Tensor<A>;
  /** LSTM only. */
  dc0?: Tensor<A>;
}

/** What backward returns with `dx: false`: no input gradient. */
export type BackwardResultNoDx<A extends F = Float32Array> = Omit<BackwardResult<A>, 'dx'> & { dx: null };

interface DirCache {
  cache: SeqCache | ResidentCache;
}

interface LayerCache {
  /**
   * (T·B, I_l) input rows of this layer in the layer's row order (after dropout for l > 0), or
   * for layer 0 given `rows`, the (U, I) table the ids pick from.
   */
  x: F;
  /** Recurrent-dropout mask per direction (B, H), or null. */
  hMasks: (F | null)[];
  inSize: number;
  dirs: DirCache[];
  /** Dropout mask applied to this layer's output (already scaled by 1/(1-p)), or null. */
  mask: F | null;
}

interface ForwardCache {
  T: number;
  B: number;
  lengths: Int32Array | null;
  /** Layer 0's input as table rows (ForwardOptions.rows), or null. */
  table: { ids: Int32Array; rows: number } | null;
  layers: LayerCache[];
}

function checkPositiveInt(v: unknown, name: string, owner: string): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 1) {
    throw new RangeError(`${owner}: option '${name}' must be a positive integer, got ${shown(v)}`);
  }
  return v;
}

export class Recurrent {
  readonly kind: CellKind;
  readonly inputSize: number;
  readonly hiddenSize: number;
  readonly numLayers: number;
  readonly bidirectional: boolean;
  readonly batchFirst: boolean;
  readonly dropout: number;
  readonly bias: boolean;
  readonly dtype: DType;
  readonly resetAfter: boolean;
  /** LSTM and GRU gates: the hard sigmoid instead of the logistic one (recurrentActivation 'hardSigmoid'). */
  readonly hardSigmoid: boolean;
  readonly recurrentDropout: number;
  stateful: boolean;
  training = true;
  readonly params: ParamStore;
  protected readonly rng: Rng;
  private fwd: ForwardCache | null = null;
  private carried: { h: F; c: F | null; B: number } | null = null;

  constructor(kind: CellKind, protected readonly options: RecurrentOptions & { forgetBias?: number; resetAfter?: boolean; recurrentActivation?: GateActivation }) {
    const owner = this.constructor.name;
    if (options === null || typeof options !== 'object') throw new TypeError(`${owner}: expected an options object`);
    this.kind = kind;
    this.inputSize = checkPositiveInt(options.inputSize, 'inputSize', owner);
    this.hiddenSize = checkPositiveInt(options.hiddenSize, 'hiddenSize', owner);
    this.numLayers = checkPositiveInt(options.numLayers ?? 1, 'numLayers', owner);
    this.bidirectional = options.bidirectional ?? false;
    this.batchFirst = options.batchFirst ?? false;
    this.dropout = options.dropout ?? 0;
    if (!(this.dropout >= 0 && this.dropout < 1)) throw new RangeError(`${owner}: option 'dropout' must be in [0, 1), got ${this.dropout}`);
    this.bias = options.bias ?? true;
    this.dtype = options.dtype ?? 'float32';
    if (this.dtype !== 'float32' && this.dtype !== 'float64') throw new RangeError(`${owner}: option 'dtype' must be 'float32' or 'float64'`);
    this.resetAfter = options.resetAfter ?? true;
    const ra = options.recurrentActivation ?? 'sigmoid';
    if (ra !== 'sigmoid' && ra !== 'hardSigmoid') throw new RangeError(`${owner}: option 'recurrentActivation' must be 'sigmoid' or 'hardSigmoid', got ${JSON.stringify(ra)}`);
    if (ra === 'hardSigmoid' && (kind === 'rnn_tanh' || kind === 'rnn_relu')) throw new RangeError(`${owner}: option 'recurrentActivation' is for the gates of an LSTM or a GRU`);
    this.hardSigmoid = ra === 'hardSigmoid';
    this.recurrentDropout = options.recurrentDropout ?? 0;
    if (!(this.recurrentDropout >= 0 && this.recurrentDropout < 1)) throw new RangeError(`${owner}: option 'recurrentDropout' must be in [0, 1), got ${this.recurrentDropout}`);
    this.stateful = options.stateful ?? false;
    this.rng = rng(options.seed ?? 0);
    // float32 weights in the kernels' memory where they offer it: read there, never copied or compared.
    this.params = new ParamStore(this.paramSpecs(), this.dtype, residentArray);
    this.initialize(options.init ?? 'keras', options.forgetBias ?? 1);
  }

  get numDirections(): number {
    return this.bidirectional ? 2 : 1;
  }

  get gateSize(): number {
    return gateWidth(this.kind, this.hiddenSize);
  }

  /** Input width of layer l. */
  layerInputSize(l: number): number {
    return l === 0 ? this.inputSize : this.hiddenSize * this.numDirections;
  }

  static suffix(l: number, d: number): string {
    return `_l${l}${d === 1 ? '_reverse' : ''}`;
  }

  paramSpecs(): ParamSpec[] {
    const G = this.gateSize, H = this.hiddenSize;
    const specs: ParamSpec[] = [];
    for (let l = 0; l < this.numLayers; l++) {
      for (let d = 0; d < this.numDirections; d++) {
        const s = Recurrent.suffix(l, d);
        specs.push({ name: `weight_ih${s}`, shape: [G, this.layerInputSize(l)] });
        specs.push({ name: `weight_hh${s}`, shape: [G, H] });
        if (this.bias) {
          specs.push({ name: `bias_ih${s}`, shape: [G] });
          specs.push({ name: `bias_hh${s}`, shape: [G] });
        }
      }
    }
    return specs;
  }

  private initialize(scheme: 'keras' | 'pytorch', forgetBias: number): void {
    if (scheme !== 'keras' && scheme !== 'pytorch') throw new RangeError(`${this.constructor.name}: option 'init' must be 'keras' or 'pytorch', got ${shown(scheme)}`);
    const H = this.hiddenSize, G = this.gateSize, nGates = G / H;
    const p = this.params;
    for (const e of p.entries) {
      const v = p.value(e.name);
      if (scheme === 'pytorch') {
        uniformInit(v, 1 / Math.sqrt(H), this.rng);
      } else if (e.name.startsWith('weight_ih')) {
        // Keras' kernel is (I, G): fan_in = I, fan_out = G.
        glorotUniform(v, e.shape[1]!, G, this.rng);
      } else if (e.name.startsWith('weight_hh')) {
        for (let k = 0; k < nGates; k++) orthogonal(v.subarray(k * H * H, (k + 1) * H * H), H, H, this.rng);
      } else if (this.kind === 'lstm' && e.name.startsWith('bias_ih')) {
        v.fill(0);
        v.subarray(H, 2 * H).fill(forgetBias);
      } else {
        v.fill(0);
      }
    }
  }

  train(): this { this.training = true; return this; }
  eval(): this { this.training = false; return this; }

  stateDict(): Record<string, F> { return this.params.toDict('data'); }
  gradients(): Record<string, F> { return this.params.toDict('grad'); }
  loadStateDict(dict: Record<string, ArrayLike<number>>): void { this.params.loadDict(dict, this.constructor.name); }
  zeroGrad(): void { this.params.zeroGrad(); }
  /** Forget the state carried by stateful mode. */
  resetStates(): void { this.carried = null; }
  /** The state stateful mode carries (copies), to set aside and restore, e.g. around an evaluation. */
  getCarriedState(): { h: F; c: F | null; B: number } | null {
    return this.carried && { h: this.carried.h.slice(), c: this.carried.c?.slice() ?? null, B: this.carried.B };
  }
  setCarriedState(s: { h: F; c: F | null; B: number } | null): void {
    this.carried = s && { h: s.h.slice(), c: s.c?.slice() ?? null, B: s.B };
  }

  private make(n: number): F {
    return makeArray(this.dtype, n);
  }

  /**
   * A reusable buffer for `key`, NOT zeroed: only for arrays every element of which is written
   * before it is read (pre-activations, caches, gate gradients). The layer keeps one forward's
   * state at a time, so the next call may overwrite the last one's buffers.
   */
  private scratchBufs = new Map<string, F>();
  /** forward's float32 copy of its input, kept for backward. */
  private readonly xSlot = new ActivationSlot();
  /** Per direction (key: parameter suffix), the backend-resident cache of the last forward. */
  private resident = new Map<string, ResidentCache>();
  private scratch(key: string, n: number): F {
    let b = this.scratchBufs.get(key);
    if (!b || b.length !== n) { b = this.make(n); this.scratchBufs.set(key, b); }
    return b;
  }

  /** A caller's output buffer, checked for size and element type. */
  private given(buf: F, n: number, what: string): F {
    const want = this.dtype === 'float64' ? Float64Array : Float32Array;
    if (!(buf instanceof want) || buf.length !== n) {
      throw new RangeError(`${this.constructor.name}: option '${what}' must be a ${want.name} of ${n} values, got ${(buf as object)?.constructor?.name} of ${(buf as F)?.length}`);
    }
    return buf;
  }

  private checkState(s: StateInput, B: number, what: string): F | null {
    if (s === null || s === undefined) return null;
    const LD = this.numLayers * this.numDirections, H = this.hiddenSize;
    const want = [LD, B, H];
    if (!(s instanceof Tensor) || s.shape.length !== 3 || s.shape.some((d, i) => d !== want[i])) {
      const got = s instanceof Tensor ? `[${s.shape.join(', ')}]` : typeof s;
      throw new RangeError(`${this.constructor.name}: '${what}' must be a Tensor of shape [${want.join(', ')}] (numLayers*numDirections, B, H), got ${got}`);
    }
    return s.data;
  }

  /** Run the whole sequence. Keeps what backward needs until the next forward (unless grad: false). */
  forward(x: Tensor<F>, opts: ForwardOptions = {}): ForwardResult<any> {
    const owner = this.constructor.name;
    const table = this.checkRows(x, opts.rows);
    if (!table && (!(x instanceof Tensor) || x.shape.length !== 3)) {
      throw new RangeError(`${owner}.forward: x must be a 3-D Tensor ${this.batchFirst ? '[B, T, I]' : '[T, B, I]'}, got ${x instanceof Tensor ? `shape [${x.shape.join(', ')}]` : typeof x}`);
    }
    const [d0, d1] = table ? opts.rows!.shape : x.shape as [number, number, number];
    const I = x.shape[x.shape.length - 1]!;
    const T = this.batchFirst ? d1 : d0, B = this.batchFirst ? d0 : d1;
    if (I !== this.inputSize) throw new RangeError(`${owner}.forward: x has ${I} features per ${table ? 'table row' : 'step'}, but inputSize is ${this.inputSize}`);
    const lengths = this.checkLengths(opts.lengths, T, B);
    let h0 = this.checkState(opts.h0, B, 'h0');
    let c0 = this.kind === 'lstm' ? this.checkState(opts.c0, B, 'c0') : null;
    if (this.kind !== 'lstm' && opts.c0) throw new RangeError(`${owner}.forward: c0 is only for LSTM`);
    if (this.stateful && this.carried) {
      if (this.carried.B !== B) {
        throw new RangeError(`${owner}.forward: stateful layer carries state for batch size ${this.carried.B}, got ${B}; call resetStates() first`);
      }
      h0 ??= this.carried.h;
      c0 ??= this.carried.c;
    }
    const H = this.hiddenSize, D = this.numDirections, L = this.numLayers;
    const BH = B * H, TB = T * B;
    const backend = backendFor(this.params.data);
    const recMasks = this.recurrentMasks(opts.recurrentMask, B);
    const grad = opts.grad ?? true;
    // Kept for backward as a copy (the caller may reuse its array) — float32 in the kernels'
    // memory where they offer it, which their calls then read in place (an embedding's table
    // rows: copied there from its own slot, W3 1.8 MB); inference reads it in place when it
    // already has the layer's element type.
    let input = x.data;
    if (grad || !(input instanceof (this.dtype === 'float64' ? Float64Array : Float32Array))) {
      input = this.dtype === 'float32' ? this.xSlot.get(x.data.length) : this.scratch('x', x.data.length);
      input.set(x.data);
    }
    const hN = this.make(L * D * BH);
    const cN = this.kind === 'lstm' ? this.make(L * D * BH) : null;
    const layers: LayerCache[] = [];
    let out = input;
    for (let l = 0; l < L; l++) {
      const inSize = this.layerInputSize(l);
      // The last layer's output is returned; the others are kept for backward until the next call.
      out = l < L - 1 ? this.scratch(`out${l}`, TB * D * H) : opts.out ? this.given(opts.out, TB * D * H, 'out') : this.make(TB * D * H);
      const dirs: DirCache[] = [];
      const hMasks: (F | null)[] = [];
      for (let d = 0; d < D; d++) {
        const s = Recurrent.suffix(l, d);
        const idx = l * D + d;
        const hMask = recMasks ? recMasks.subarray(idx * BH, (idx + 1) * BH) : null;
        // Kept for backward (written by the kernel): in the backend's own memory when it can keep
        // it there (no copies out and back in), else in reused arrays. Inference keeps nothing.
        let cache: SeqCache | ResidentCache | null = null;
        if (grad && backend.newCache && (!hMask || backend.supportsHMask) && T > 0 && B > 0) {
          cache = backend.newCache(this.kind, T, B, H, this.resident.get(s) ?? null);
          this.resident.set(s, cache);
        } else if (grad) {
          let part = 0;
          cache = allocCache((n) => this.scratch(`cache${s}:${part++}`, n), this.kind, T, B, H);
        }
        hMasks.push(hMask);
        layerForward(backend, {
          kind: this.kind, resetAfter: this.resetAfter, hardSigmoid: this.hardSigmoid, T, B, H, I: inSize, lengths, reverse: d === 1, hMask,
          batchFirst: this.batchFirst, x: input, xIds: l === 0 ? table?.ids : null, xRows: l === 0 ? table?.rows : undefined,
          wih: this.params.value(`weight_ih${s}`), whh: this.params.value(`weight_hh${s}`),
          bih: this.bias ? this.params.value(`bias_ih${s}`) : null, bhh: this.bias ? this.params.value(`bias_hh${s}`) : null,
          h0: h0 ? h0.subarray(idx * BH, (idx + 1) * BH) : this.make(BH),
          c0: this.kind === 'lstm' ? (c0 ? c0.subarray(idx * BH, (idx + 1) * BH) : this.make(BH)) : null,
          out, outOffset: d * H, ldOut: D * H, cache,
          hN: hN.subarray(idx * BH, (idx + 1) * BH), cN: cN ? cN.subarray(idx * BH, (idx + 1) * BH) : null,
        }, (key, n) => this.scratch(`${key}${s}`, n));
        if (cache) dirs.push({ cache });
      }
      let mask: F | null = null;
      if (this.training && this.dropout > 0 && l < L - 1) {
        mask = this.scratch(`dropMask${l}`, out.length);
        const keep = 1 - this.dropout, scale = 1 / keep;
        this.rng.dropoutMask(mask, keep, scale);
        for (let i = 0; i < out.length; i++) out[i] *= mask[i]!;
      }
      layers.push({ x: input, inSize, dirs, mask, hMasks });
      input = out;
    }
    this.fwd = grad ? { T, B, lengths, table, layers } : null;
    if (this.stateful) {
      // Inference (text generation: a call per character) writes the carried state over the last
      // one (its arrays are this layer's own: getCarriedState/setCarriedState copy); training
      // keeps fresh ones.
      const c = this.carried;
      if (!grad && c && c.B === B && c.h.length === hN.length && (cN ? c.c?.length === cN.length : c.c === null)) {
        c.h.set(hN);
        if (cN) c.c!.set(cN);
      } else {
        this.carried = { h: hN.slice(), c: cN ? cN.slice() : null, B };
      }
    }
    const shapeOut = this.batchFirst ? [B, T, D * H] : [T, B, D * H];
    const result: ForwardResult<F> = {
      output: new Tensor(out, shapeOut),
      hN: new Tensor(hN, [L * D, B, H]),
    };
    if (cN) result.cN = new Tensor(cN, [L * D, B, H]);
    return result;
  }

  /**
   * Backpropagate through time from the last forward call. Accumulates parameter gradients
   * (call zeroGrad() between steps) and returns the gradients of the inputs and initial states.
   */
  backward(dOutput: Tensor<F> | null, opts: BackwardOptions & { dx: false }): BackwardResultNoDx<any>;
  backward(dOutput: Tensor<F> | null, opts?: BackwardOptions): BackwardResult<any>;
  backward(dOutput: Tensor<F> | null, opts: BackwardOptions = {}): BackwardResult<any> | BackwardResultNoDx<any> {
    const owner = this.constructor.name;
    const fc = this.fwd;
    if (!fc) throw new Error(`${owner}.backward: call forward() first (and without { grad: false }, which keeps nothing for backward)`);
    const { T, B, lengths, table, layers } = fc;
    const H = this.hiddenSize, D = this.numDirections, L = this.numLayers;
    const BH = B * H, TB = T * B;
    const shapeOut = this.batchFirst ? [B, T, D * H] : [T, B, D * H];
    if (dOutput !== null && (!(dOutput instanceof Tensor) || dOutput.shape.some((d, i) => d !== shapeOut[i]) || dOutput.shape.length !== 3)) {
      throw new RangeError(`${owner}.backward: dOutput must have the output's shape [${shapeOut.join(', ')}]`);
    }
    const dhN = this.checkState(opts.dhN, B, 'dhN');
    const dcN = this.kind === 'lstm' ? this.checkState(opts.dcN, B, 'dcN') : null;
    const backend = backendFor(this.params.data);
    // Read where it lies (the kernels only read it; the dropout masks below scale the lower
    // layers' own dX buffers), unless it has another element type than the layer's.
    let dOut: F | null = null;
    if (dOutput) {
      if (dOutput.data instanceof (this.dtype === 'float64' ? Float64Array : Float32Array)) dOut = dOutput.data;
      else { dOut = this.scratch('dOut', T * B * D * H); dOut.set(dOutput.data); }
    }
    const dh0 = this.make(L * D * BH);
    const dc0 = this.kind === 'lstm' ? this.make(L * D * BH) : null;
    if (opts.dx !== undefined && opts.dx !== null && opts.dx !== false && !ArrayBuffer.isView(opts.dx)) {
      throw new TypeError(`${owner}.backward: option 'dx' must be a ${this.dtype === 'float64' ? 'Float64Array' : 'Float32Array'} to write the input's gradient into, or false when it is not wanted; got ${typeof opts.dx === 'object' ? (opts.dx as object).constructor?.name : String(opts.dx)}`);
    }
    let dX: F | null = this.make(0);
    for (let l = L - 1; l >= 0; l--) {
      const lc = layers[l]!;
      const inSize = lc.inSize;
      if (dOut && lc.mask) for (let i = 0; i < dOut.length; i++) dOut[i] *= lc.mask[i]!;
      const inRows = l === 0 && table ? table.rows : TB;
      dX = l > 0 ? this.scratch(`dX${l}`, TB * inSize)
        : opts.dx === false ? null
        : opts.dx ? this.given(opts.dx, inRows * inSize, 'dx') : this.make(inRows * inSize);
      for (let d = 0; d < D; d++) {
        const s = Recurrent.suffix(l, d);
        const idx = l * D + d;
        const p = this.params;
        layerBackward(backend, {
          kind: this.kind, resetAfter: this.resetAfter, hardSigmoid: this.hardSigmoid, T, B, H, I: inSize, lengths, reverse: d === 1,
          hMask: lc.hMasks[d] ?? null, batchFirst: this.batchFirst,
          x: lc.x, xIds: l === 0 ? table?.ids : null, xRows: l === 0 ? table?.rows : undefined,
          wih: p.value(`weight_ih${s}`), whh: p.value(`weight_hh${s}`),
          bhh: this.bias ? p.value(`bias_hh${s}`) : null,
          cache: lc.dirs[d]!.cache, dOut, dOutOffset: d * H, ldDOut: D * H,
          dhN: dhN ? dhN.subarray(idx * BH, (idx + 1) * BH) : null,
          dcN: dcN ? dcN.subarray(idx * BH, (idx + 1) * BH) : null,
          dx: dX, accumulateDx: d > 0,
          dWih: p.gradOf(`weight_ih${s}`), dWhh: p.gradOf(`weight_hh${s}`),
          dbih: this.bias ? p.gradOf(`bias_ih${s}`) : null, dbhh: this.bias ? p.gradOf(`bias_hh${s}`) : null,
          dh0: dh0.subarray(idx * BH, (idx + 1) * BH), dc0: dc0 ? dc0.subarray(idx * BH, (idx + 1) * BH) : null,
        }, (key, n) => this.scratch(`${key}${s}`, n));
      }
      dOut = dX;
    }
    const shapeIn = table ? [table.rows, this.inputSize] : this.batchFirst ? [B, T, this.inputSize] : [T, B, this.inputSize];
    const result: BackwardResult<F> | BackwardResultNoDx<F> = {
      dx: dX ? new Tensor(dX, shapeIn) : null,
      dh0: new Tensor(dh0, [L * D, B, H]),
    };
    if (dc0) result.dc0 = new Tensor(dc0, [L * D, B, H]);
    return result;
  }

  /** ForwardOptions.rows checked against x (a [U, I] table then), or null when not given. */
  private checkRows(x: Tensor<F>, rows: ForwardOptions['rows']): { ids: Int32Array; rows: number } | null {
    if (rows === null || rows === undefined) return null;
    const owner = this.constructor.name;
    if (!(x instanceof Tensor) || x.shape.length !== 2) {
      throw new RangeError(`${owner}.forward: with 'rows', x must be a 2-D Tensor [rows, I] (the table), got ${x instanceof Tensor ? `shape [${x.shape.join(', ')}]` : typeof x}`);
    }
    const { ids, shape } = rows;
    const order = this.batchFirst ? '[B, T]' : '[T, B]';
    if (!Array.isArray(shape) || shape.length !== 2 || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new RangeError(`${owner}.forward: 'rows.shape' must be ${order}, two non-negative integers`);
    }
    const n = shape[0] * shape[1], U = x.shape[0]!;
    if (!(ids instanceof Int32Array) || ids.length !== n) {
      throw new RangeError(`${owner}.forward: 'rows.ids' must be an Int32Array of ${n} ids (${order} = [${shape.join(', ')}]), got ${(ids as object)?.constructor?.name} of ${(ids as Int32Array)?.length}`);
    }
    for (let r = 0; r < n; r++) {
      if (!(ids[r]! >= 0 && ids[r]! < U)) throw new RangeError(`${owner}.forward: rows.ids[${r}] = ${ids[r]} is outside the table's rows [0, ${U})`);
    }
    return { ids: ids.slice(), rows: U }; // kept for backward: a copy, as x is
  }

  /** Recurrent-dropout masks [L*D, B, H] for this forward, or null when none apply. */
  private recurrentMasks(given: Tensor<F> | null | undefined, B: number): F | null {
    const LD = this.numLayers * this.numDirections, H = this.hiddenSize;
    if (given) {
      if (!(given instanceof Tensor) || given.shape.length !== 3 || given.shape[0] !== LD || given.shape[1] !== B || given.shape[2] !== H) {
        throw new RangeError(`${this.constructor.name}.forward: 'recurrentMask' must be a Tensor of shape [${LD}, ${B}, ${H}]`);
      }
      return given.data;
    }
    if (!this.training || this.recurrentDropout === 0) return null;
    const keep = 1 - this.recurrentDropout;
    return this.rng.dropoutMask(this.make(LD * B * H), keep, 1 / keep);
  }

  private checkLengths(lengths: ArrayLike<number> | null | undefined, T: number, B: number): Int32Array | null {
    if (lengths === null || lengths === undefined) return null;
    const owner = this.constructor.name;
    if (lengths.length !== B) throw new RangeError(`${owner}.forward: lengths has ${lengths.length} entries, expected one per sequence (B = ${B})`);
    const out = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const v = lengths[b]!;
      if (!Number.isInteger(v) || v < 0 || v > T) throw new RangeError(`${owner}.forward: lengths[${b}] = ${v} must be an integer in [0, ${T}]`);
      out[b] = v;
    }
    return out;
  }
}

/** Long short-term memory (Hochreiter & Schmidhuber 1997), PyTorch gate order i|f|g|o. */
export class LSTM extends Recurrent {
  constructor(options: LSTMOptions) {
    super('lstm', options);
  }
}

/** Gated recurrent unit (Cho et al. 2014), PyTorch gate order r|z|n. */
export class GRU extends Recurrent {
  constructor(options: GRUOptions) {
    super('gru', options);
  }
}

/** Elman RNN: h_t = tanh(W_ih x_t + b_ih + W_hh h_{t-1} + b_hh) (or relu). */
export class RNN extends Recurrent {
  constructor(options: RNNOptions) {
    const nl = options?.nonlinearity ?? 'tanh';
    if (nl !== 'tanh' && nl !== 'relu') throw new RangeError(`RNN: option 'nonlinearity' must be 'tanh' or 'relu', got ${shown(nl)}`);
    super(nl === 'relu' ? 'rnn_relu' : 'rnn_tanh', options);
  }
}
