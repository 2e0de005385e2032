// Keras-style recurrent layers (SimpleRNN, LSTM, GRU, Bidirectional) over the fast core layers.
//
// Masks: a (B, T) mask from Embedding(maskZero) is turned into per-sequence lengths. Right-padded
// masks (the common case) map directly; any other pattern (left padding, holes) is handled by
// compacting each row's valid steps to the front, running, and scattering the outputs back.
// Padded positions output zeros. NOTE(keras): Keras repeats the previous output at masked
// steps; losses and metrics here ignore masked steps, so the difference never reaches a number.
import { ActivationSlot } from '../kernels/index.js';
import { scatterAddRows } from '../kernels/layer-ops.js';
import { GRU, LSTM, RNN, type Recurrent } from './recurrent.js';
import { Tensor } from '../tensor/tensor.js';
import { configError, reusesBuffers, uniqueName, shown, type Act, type CallContext, type Layer, type Shape, LayerBase } from './layer.js';
import type { ParamStore } from '../tensor/params.js';
import { applyLayer, type SymbolicTensor } from './symbolic.js';
import type { TableRows } from './core.js';

export type MergeMode = 'concat' | 'sum' | 'mul' | 'ave';

export interface RecurrentLayerOptions {
  units: number;
  /** Return the whole output sequence [B, T, H] instead of the last output [B, H]. */
  returnSequences?: boolean;
  /** Also return the final states (h, and c for LSTM; per direction) as extra outputs (functional models). */
  returnState?: boolean;
  /** Process the sequence backwards (and return outputs in that order), as Keras. */
  goBackwards?: boolean;
  /** Carry the final state into the next batch (truncated BPTT); call model.resetStates(). */
  stateful?: boolean;
  /** Dropout on the inputs, one mask per sequence shared over time (Gal & Ghahramani). */
  dropout?: number;
  /**
   * Dropout on the recurrent state: one mask per sequence on h_prev in every recurrent product
   * (Keras semantics). The per-step loop then runs on the reference kernels (slower).
   */
  recurrentDropout?: number;
  useBias?: boolean;
  /** LSTM: forget-gate bias initialised to 1 (Keras unit_forget_bias). */
  unitForgetBias?: boolean;
  /** GRU: PyTorch/Keras-2 convention (default true) or the original (false). */
  resetAfter?: boolean;
  /** LSTM and GRU gates: 'sigmoid' (default) or 'hardSigmoid', clip(0.2·x + 0.5, 0, 1) (TF.js's default). */
  recurrentActivation?: 'sigmoid' | 'hardSigmoid';
  /** SimpleRNN: 'tanh' (default) or 'relu'. */
  activation?: 'tanh' | 'relu';
  /** 'keras' (default) or 'pytorch' initialisation. */
  init?: 'keras' | 'pytorch';
  seed?: number;
  name?: string;
}

export type CellClass = 'SimpleRNN' | 'LSTM' | 'GRU';

/** Per-row valid positions, or null when every row is a prefix (plain lengths suffice). */
interface MaskPlan {
  lengths: Int32Array;
  /** gather[b*T + k] = original time index of the k-th valid step of row b (k < lengths[b]). */
  gather: Int32Array | null;
}

function planMask(mask: Uint8Array | null, B: number, T: number): MaskPlan | null {
  if (!mask) return null;
  const lengths = new Int32Array(B);
  let prefix = true;
  for (let b = 0; b < B; b++) {
    let n = 0;
    for (let t = 0; t < T; t++) {
      if (mask[b * T + t]) { if (n !== t) prefix = false; n++; }
    }
    lengths[b] = n;
  }
  if (prefix) return { lengths, gather: null };
  const gather = new Int32Array(B * T);
  for (let b = 0; b < B; b++) {
    let k = 0;
    for (let t = 0; t < T; t++) if (mask[b * T + t]) gather[b * T + k++] = t;
  }
  return { lengths, gather };
}

type Rows = Float32Array | Int32Array;
const like = <A extends Rows>(src: A, n: number): A => (src instanceof Int32Array ? new Int32Array(n) : new Float32Array(n)) as A;

/** Move rows (B, T, W): compact (forward) or scatter back (inverse). Missing rows are zero. */
function regroup<A extends Rows>(src: A, plan: MaskPlan, B: number, T: number, W: number, inverse: boolean): A {
  const out = like(src, B * T * W);
  const g = plan.gather!;
  for (let b = 0; b < B; b++) {
    for (let k = 0; k < plan.lengths[b]!; k++) {
      const t = g[b * T + k]!;
      const [from, to] = inverse ? [b * T + k, b * T + t] : [b * T + t, b * T + k];
      out.set(src.subarray(from * W, (from + 1) * W), to * W);
    }
  }
  return out;
}

function reverseTime<A extends Rows>(src: A, B: number, T: number, W: number): A {
  const out = like(src, src.length);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) out.set(src.subarray((b * T + t) * W, (b * T + t + 1) * W), (b * T + (T - 1 - t)) * W);
  }
  return out;
}

/**
 * Input dropout on table rows: the mask is per sequence, so row r of sequence b is
 * table[ids[r]] ⊙ mask_b — a table of (sequence, token) pairs, each pair's row computed once.
 * Null when the pairs would be more than 3/4 of the rows (then the rows are spelled out).
 */
interface PairRows { ids: Int32Array; table: Float32Array; rows: number; b: Int32Array; u: Int32Array }

function pairRows(t: TableRows, ids: Int32Array, mask: Float32Array, B: number, T: number, F: number): PairRows | null {
  const n = B * T, most = Math.floor(0.75 * n);
  const rowOf = new Int32Array(t.rows).fill(-1), pb = new Int32Array(Math.min(n, most + 1)), pu = new Int32Array(pb.length);
  const out = new Int32Array(n);
  let rows = 0;
  for (let b = 0; b < B; b++) {
    const first = rows;
    for (let k = b * T; k < (b + 1) * T; k++) {
      const u = ids[k]!;
      if (rowOf[u]! < 0) {
        if (rows === most) return null;
        rowOf[u] = rows; pb[rows] = b; pu[rows++] = u;
      }
      out[k] = rowOf[u]!;
    }
    for (let q = first; q < rows; q++) rowOf[pu[q]!] = -1;
  }
  const table = new Float32Array(rows * F);
  for (let q = 0; q < rows; q++) {
    const s = pu[q]! * F, m = pb[q]! * F, o = q * F;
    for (let j = 0; j < F; j++) table[o + j] = t.table[s + j]! * mask[m + j]!;
  }
  return { ids: out, table, rows, b: pb.subarray(0, rows), u: pu.subarray(0, rows) };
}

function reverseMask(m: Uint8Array, B: number, T: number): Uint8Array {
  const out = new Uint8Array(m.length);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) out[b * T + T - 1 - t] = m[b * T + t]!;
  return out;
}

/** One class behind SimpleRNN, LSTM, GRU and Bidirectional(...) so the logic exists once. */
export class RecurrentLayer extends LayerBase implements Layer {
  readonly className: string;
  name: string;
  built = false;
  core: Recurrent | null = null;
  /**
   * What backward needs of the last forward. `table`: it ran on table rows (forwardTable) — as
   * they were, or (`pairs`) as (sequence, token) pairs under input dropout, or (`spelled`) as rows
   * spelled out when the pairs would not pay.
   */
  private saved: {
    B: number; T: number; plan: MaskPlan | null; dropMask: Float32Array | null; F: number;
    table: TableRows | null; pairs: PairRows | null; spelled: boolean;
  } | null = null;
  private hadStates = false;

  constructor(
    readonly cell: CellClass,
    readonly options: RecurrentLayerOptions,
    readonly bidirectional: MergeMode | null = null,
  ) {
    super();
    const o = options ?? ({} as RecurrentLayerOptions);
    if (!Number.isInteger(o.units) || o.units < 1) configError(cell, `option 'units' must be a positive integer, got ${shown(o.units)}`);
    if (!((o.recurrentDropout ?? 0) >= 0 && (o.recurrentDropout ?? 0) < 1)) configError(cell, `option 'recurrentDropout' must be in [0, 1)`);
    if (!((o.dropout ?? 0) >= 0 && (o.dropout ?? 0) < 1)) configError(cell, `option 'dropout' must be in [0, 1)`);
    const ra = o.recurrentActivation;
    if (ra !== undefined && (cell === 'SimpleRNN' || (ra !== 'sigmoid' && ra !== 'hardSigmoid'))) {
      configError(cell, cell === 'SimpleRNN' ? `option 'recurrentActivation' is for the gates of an LSTM or a GRU (SimpleRNN has 'activation')` : `option 'recurrentActivation' must be 'sigmoid' or 'hardSigmoid', got ${shown(ra)}`);
    }
    if (bidirectional !== null && !['concat', 'sum', 'mul', 'ave'].includes(bidirectional)) {
      configError('Bidirectional', `mergeMode must be concat, sum, mul or ave, got '${String(bidirectional)}'`);
    }
    this.className = bidirectional ? 'Bidirectional' : cell;
    const base = cell === 'SimpleRNN' ? 'simple_rnn' : cell.toLowerCase();
    this.name = o.name ?? uniqueName(bidirectional ? `bidirectional_${base}` : base);
  }

  get params(): ParamStore | null {
    return this.core?.params ?? null;
  }

  get units(): number { return this.options.units; }

  private get outWidth(): number {
    return this.bidirectional === 'concat' ? 2 * this.units : this.units;
  }

  build(inputShape: Shape): void {
    const F = inputShape[inputShape.length - 1];
    if (inputShape.length !== 2 || typeof F !== 'number') {
      configError(this.name, `expects input [B, T, features] with known features, got [B, ${inputShape.map(String).join(', ')}]`);
    }
    const o = this.options;
    const common = {
      inputSize: F, hiddenSize: o.units, batchFirst: true, bidirectional: this.bidirectional !== null,
      bias: o.useBias ?? true, stateful: o.stateful ?? false, init: o.init ?? 'keras', seed: o.seed ?? 3,
      recurrentDropout: o.recurrentDropout ?? 0,
    };
    const gates = o.recurrentActivation !== undefined ? { recurrentActivation: o.recurrentActivation } : {};
    this.core = this.cell === 'LSTM' ? new LSTM({ ...common, ...gates, forgetBias: (o.unitForgetBias ?? true) ? 1 : 0 })
      : this.cell === 'GRU' ? new GRU({ ...common, ...gates, resetAfter: o.resetAfter ?? true })
        : new RNN({ ...common, nonlinearity: o.activation ?? 'tanh' });
    this.built = true;
  }

  computeOutputShape(s: Shape): Shape {
    return this.options.returnSequences ? [s[0] ?? null, this.outWidth] : [this.outWidth];
  }

  resetStates(): void { this.core?.resetStates(); }
  /**
   * For a decoder (models/decoder.ts), inference: runs as a stateful layer does, whatever
   * `stateful` says — from the state the last call ended in (zeros after resetStates), or from
   * `initial` when given ([h] or [h, c], which replace it) — and carries its final state on.
   */
  forwardCarried(x: Act, ctx: CallContext, initial: Act[]): Act[] {
    const core = this.core;
    if (!core) configError(this.name, 'forwardCarried before the layer is built');
    const was = core.stateful;
    core.stateful = true;
    try { return this.forwardMulti([x, ...initial], ctx); } finally { core.stateful = was; }
  }
  getStates(): unknown { return this.core?.getCarriedState() ?? null; }
  setStates(s: unknown): void { this.core?.setCarriedState(s as ReturnType<Recurrent['getCarriedState']>); }

  forward(x: Act, ctx: CallContext): Act {
    return this.forwardMulti([x], ctx)[0]!;
  }

  /** Number of state tensors per direction: (h, c) for LSTM, h otherwise. */
  get statesPerDirection(): number { return this.cell === 'LSTM' ? 2 : 1; }

  /** Output names of a returnState layer: sequence/last output, then h (and c) per direction. */
  get numOutputs(): number {
    return this.options.returnState ? 1 + this.statesPerDirection * (this.bidirectional ? 2 : 1) : 1;
  }

  computeOutputShapes(inputShapes: Shape[]): Shape[] {
    const out = this.computeOutputShape(inputShapes[0]!);
    return [out, ...Array.from({ length: this.numOutputs - 1 }, () => [this.units] as Shape)];
  }

  /**
   * Inputs: x [B, T, F], then optionally the initial states in Keras order (h, c for LSTM;
   * forward direction first). Outputs: the output, then (returnState) the final states.
   */
  forwardMulti(xs: Act[], ctx: CallContext): Act[] {
    return this.run(xs, ctx, null);
  }

  /** Whether forwardTable may be used (a built layer). */
  takesTable(_ctx: CallContext): boolean {
    return this.built;
  }

  /**
   * forwardMulti on an embedding's output given as table rows (Embedding.tableRows; see
   * Sequential and GraphModel), with optional initial states: the first layer's input projection
   * runs once per table row. The next backwardMulti then returns the gradient of the table (for
   * Embedding.backwardTable) in place of the input's.
   */
  forwardTable(t: TableRows, ctx: CallContext, states: Act[] = []): Act[] {
    if (!this.takesTable(ctx)) throw new Error(`${this.name}: forwardTable needs a built layer`);
    return this.run([{ data: t.table, shape: t.shape, mask: t.mask }, ...states], ctx, t);
  }

  private run(xs: Act[], ctx: CallContext, given: TableRows | null): Act[] {
    let table = given;
    const core = this.core!;
    const x = xs[0]!;
    const [B, T, F] = x.shape as [number, number, number];
    if (x.shape.length !== 3) configError(this.name, `expects a 3-D input [B, T, features], got [${x.shape.join(', ')}]`);
    const D = this.bidirectional ? 2 : 1, S = this.statesPerDirection, H = this.units;
    const states = xs.slice(1);
    if (states.length !== 0 && states.length !== D * S) {
      configError(this.name, `expects ${D * S} initial state tensors (${this.cell === 'LSTM' ? 'h, c' : 'h'}${D === 2 ? ' per direction' : ''}), got ${states.length}`);
    }
    let h0: Tensor | null = null, c0: Tensor | null = null;
    if (states.length) {
      const h = new Float32Array(D * B * H), c = new Float32Array(D * B * H);
      for (let d = 0; d < D; d++) {
        for (let k = 0; k < S; k++) {
          const st = states[d * S + k]!;
          if (st.shape.length !== 2 || st.shape[0] !== B || st.shape[1] !== H) configError(this.name, `initial state ${d * S + k} must be [${B}, ${H}], got [${st.shape.join(', ')}]`);
          (k === 0 ? h : c).set(st.data, d * B * H);
        }
      }
      h0 = new Tensor(h, [D, B, H]);
      if (S === 2) c0 = new Tensor(c, [D, B, H]);
    }
    this.hadStates = states.length > 0;
    // With table rows, the row operations below move the rows' ids instead of the rows.
    let data = x.data, mask = x.mask, ids = table?.ids ?? null;
    if (this.options.goBackwards) {
      if (ids) ids = reverseTime(ids, B, T, 1);
      else data = reverseTime(data, B, T, F);
      if (mask) mask = reverseMask(mask, B, T);
    }
    let dropMask: Float32Array | null = null, pairs: PairRows | null = null, spelled = false;
    const p = this.options.dropout ?? 0;
    if (ctx.training && p > 0) {
      // One mask per (sequence, feature), the same at every step.
      dropMask = ctx.rng.dropoutMask(new Float32Array(B * F), 1 - p, 1 / (1 - p));
      if (table && ids) {
        pairs = pairRows(table, ids, dropMask, B, T, F);
        if (pairs) {
          table = { ...table, ids: pairs.ids, table: pairs.table, rows: pairs.rows };
          ids = pairs.ids;
        } else {
          // Too many pairs: the rows spelled out (backward sums their gradient per token).
          data = new Float32Array(B * T * F);
          for (let r = 0; r < B * T; r++) data.set(table.table.subarray(ids[r]! * F, (ids[r]! + 1) * F), r * F);
          table = null; ids = null; spelled = true;
        }
      }
      if (!table) {
        const d = new Float32Array(data.length);
        for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
          const o = (b * T + t) * F;
          for (let j = 0; j < F; j++) d[o + j] = data[o + j]! * dropMask[b * F + j]!;
        }
        data = d;
      }
    }
    const plan = planMask(mask, B, T);
    if (plan?.gather) {
      if (ids) ids = regroup(ids, plan, B, T, 1, false); // (a missing row reads table row 0, unused)
      else data = regroup(data, plan, B, T, F, false);
    }
    core.training = ctx.training;
    // In training, and for a model's inner layers, the output (and in training the dx) buffers
    // are reused from call to call (consumed before the next forward).
    const outLen = B * T * core.numDirections * H;
    const reuse = reusesBuffers(ctx);
    const input = table ? new Tensor(table.table, [table.rows, F]) : new Tensor(data, [B, T, F]);
    const r = core.forward(input, {
      lengths: plan?.lengths ?? null, h0, c0, grad: ctx.training, ...(reuse ? { out: this.outSlot.get(outLen) } : {}),
      rows: table ? { ids: ids!, shape: [B, T] } : null,
    });
    this.saved = { B, T, plan, dropMask, F, table: given, pairs, spelled };
    const hN = r.hN.data as Float32Array;
    const outs: Act[] = [];
    if (this.options.returnSequences) {
      let seq = r.output.data as Float32Array;
      if (plan?.gather) seq = regroup(seq, plan, B, T, D * H, true);
      outs.push({ data: this.merge(seq, B * T), shape: [B, T, this.outWidth], mask });
    } else {
      // Last output: the final state of each direction, [B, D*H].
      const last = new Float32Array(B * D * H);
      for (let d = 0; d < D; d++) {
        for (let b = 0; b < B; b++) last.set(hN.subarray(d * B * H + b * H, d * B * H + (b + 1) * H), b * D * H + d * H);
      }
      outs.push({ data: this.merge(last, B), shape: [B, this.outWidth], mask: null });
    }
    if (this.options.returnState) {
      const cN = r.cN?.data as Float32Array | undefined;
      for (let d = 0; d < D; d++) {
        outs.push({ data: hN.slice(d * B * H, (d + 1) * B * H), shape: [B, H], mask: null });
        if (cN) outs.push({ data: cN.slice(d * B * H, (d + 1) * B * H), shape: [B, H], mask: null });
      }
    }
    return outs;
  }

  /** The output when reused (read in place by the next layer's kernels). */
  private readonly outSlot = new ActivationSlot();
  /** The input's gradient (reused: consumed before the next backward), written in place by the kernels. */
  private readonly dxSlot = new ActivationSlot();

  /** (rows, 2H) -> (rows, outWidth) by the merge mode; identity for one direction or concat. */
  private mergeCache: Float32Array | null = null;
  private merge(v: Float32Array, rows: number): Float32Array {
    const mode = this.bidirectional;
    if (mode === null || mode === 'concat') return v;
    this.mergeCache = v;
    const H = this.units, out = new Float32Array(rows * H);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < H; j++) {
        const a = v[r * 2 * H + j]!, b = v[r * 2 * H + H + j]!;
        out[r * H + j] = mode === 'sum' ? a + b : mode === 'mul' ? a * b : 0.5 * (a + b);
      }
    }
    return out;
  }

  private unmerge(dy: Float32Array, rows: number): Float32Array {
    const mode = this.bidirectional;
    if (mode === null || mode === 'concat') return dy;
    const H = this.units, v = this.mergeCache!, out = new Float32Array(rows * 2 * H);
    for (let r = 0; r < rows; r++) {
      for (let j = 0; j < H; j++) {
        const g = dy[r * H + j]!;
        const ia = r * 2 * H + j, ib = ia + H;
        if (mode === 'sum') { out[ia] = g; out[ib] = g; }
        else if (mode === 'ave') { out[ia] = 0.5 * g; out[ib] = 0.5 * g; }
        else { out[ia] = g * v[ib]!; out[ib] = g * v[ia]!; }
      }
    }
    return out;
  }

  backward(dy: Float32Array, wantDx?: true): Float32Array;
  backward(dy: Float32Array, wantDx: boolean): Float32Array | null;
  backward(dy: Float32Array, wantDx = true): Float32Array | null {
    return this.backwardMulti([dy], [wantDx])[0]!;
  }

  /**
   * Gradients of the outputs (null = not used) -> gradients of x and of any initial states. x's
   * is null when wanted[0] is false (the caller would discard it): its product is not computed.
   */
  backwardMulti(dys: (Float32Array | null)[], wanted: readonly boolean[] = []): (Float32Array | null)[] {
    const wantDx = wanted[0] ?? true;
    const core = this.core!, s = this.saved!;
    const { B, T, plan, dropMask, F, table, pairs, spelled } = s;
    const H = this.units, D = core.numDirections, S = this.statesPerDirection;
    const dhN = new Float32Array(D * B * H), dcN = new Float32Array(D * B * H);
    for (let d = 0; d < D; d++) {
      const gh = dys[1 + d * S], gc = S === 2 ? dys[2 + d * S] : null;
      if (gh) dhN.set(gh, d * B * H);
      if (gc) dcN.set(gc, d * B * H);
    }
    let dOut: Tensor | null = null;
    const dy = dys[0] ?? null;
    if (dy && this.options.returnSequences) {
      let g = this.unmerge(dy, B * T);
      if (plan?.gather) g = regroup(g, plan, B, T, D * H, false);
      dOut = new Tensor(g, [B, T, D * H]);
    } else if (dy) {
      const g = this.unmerge(dy, B);
      for (let d = 0; d < D; d++) {
        for (let b = 0; b < B; b++) {
          const o = d * B * H + b * H, i = b * D * H + d * H;
          for (let j = 0; j < H; j++) dhN[o + j] += g[i + j]!;
        }
      }
    }
    const inRows = pairs ? pairs.rows : table && !spelled ? table.rows : B * T;
    const dxBuf = wantDx ? this.dxSlot.get(inRows * F) : false;
    const res = core.backward(dOut, { dhN: new Tensor(dhN, [D, B, H]), ...(S === 2 ? { dcN: new Tensor(dcN, [D, B, H]) } : {}), dx: dxBuf });
    let dx = res.dx ? res.dx.data as Float32Array : null;
    if (dx && pairs) {
      // The pairs' gradient -> the table's: dTable[u] += mask_b ⊙ dPair, pair by pair.
      const dt = new Float32Array(table!.rows * F);
      for (let q = 0; q < pairs.rows; q++) {
        const o = pairs.u[q]! * F, m = pairs.b[q]! * F, g = q * F;
        for (let j = 0; j < F; j++) dt[o + j] += dropMask![m + j]! * dx[g + j]!;
      }
      dx = dt;
    } else if (dx && (!table || spelled)) { // (with table rows as they were: the table's gradient, as it is)
      if (plan?.gather) dx = regroup(dx, plan, B, T, F, true);
      if (dropMask) {
        for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) {
          const o = (b * T + t) * F;
          for (let j = 0; j < F; j++) dx[o + j] *= dropMask[b * F + j]!;
        }
      }
      if (this.options.goBackwards) dx = reverseTime(dx, B, T, F);
      if (spelled) {
        // Rows spelled out from the table: their gradient summed per token.
        const dt = new Float32Array(table!.rows * F);
        scatterAddRows(dx, table!.ids, B * T, F, dt, table!.rows);
        dx = dt;
      }
    }
    const grads: (Float32Array | null)[] = [dx];
    if (this.hadStates) {
      const dh0 = res.dh0.data as Float32Array, dc0 = res.dc0?.data as Float32Array | undefined;
      for (let d = 0; d < D; d++) {
        grads.push(dh0.slice(d * B * H, (d + 1) * B * H));
        if (S === 2) grads.push(dc0!.slice(d * B * H, (d + 1) * B * H));
      }
    }
    return grads;
  }

  /**
   * Functional API: apply to x, optionally with initial states (Keras order: h, c per direction).
   * With returnState the result is [output, h, (c), ...] instead of one tensor.
   */
  apply(x: SymbolicTensor, opts: { initialState?: SymbolicTensor[] } = {}): SymbolicTensor | SymbolicTensor[] {
    return applyLayer(this, [x, ...(opts.initialState ?? [])]);
  }

  getConfig(): Record<string, unknown> {
    const inner = { className: this.cell, ...this.options };
    if (this.bidirectional) return { className: 'Bidirectional', name: this.name, mergeMode: this.bidirectional, layer: inner };
    return { ...inner, name: this.name };
  }
}
