// The kernel contract: numbers in, numbers out. Every backend (plain TypeScript reference,
// WebAssembly SIMD, WebAssembly relaxed SIMD) implements exactly this interface and is tested
// against the reference on every tail size.
//
// Shape vocabulary used everywhere: B batch, T time, I input, H hidden, G gate width
// (LSTM 4H, GRU 3H, RNN H), V vocabulary, D directions. All matrices are row-major.

/** A dense float buffer. float64 exists so gradients can be checked by finite differences. */
export type F = Float32Array | Float64Array;

export type CellKind = 'lstm' | 'gru' | 'rnn_tanh' | 'rnn_relu';

/** Gate width G for a cell with hidden size H. */
export function gateWidth(kind: CellKind, H: number): number {
  return kind === 'lstm' ? 4 * H : kind === 'gru' ? 3 * H : H;
}

/**
 * What one direction of one layer keeps from forward for backward. Allocated by the caller with
 * `allocCache`; the backend fills it. Hidden states are stored with one extra slot so that the
 * matrix of previous states is contiguous for the weight-gradient product after the loop:
 *   forward direction: slot 0 = h0, slot t+1 = h_t      -> Hprev rows = slots [0, T)
 *   reverse direction: slot T = h0, slot t   = h_t      -> Hprev rows = slots [1, T+1)
 * At a padded step (t >= lengths[b]) the state is carried unchanged.
 */
export interface SeqCache<A extends F = F> {
  /** (T+1, B, H) hidden states, layout above. */
  h: A;
  /** (T+1, B, H) LSTM memory cells, same layout as h; empty for other cells. */
  c: A;
  /** (T, B, G) gate activations after their nonlinearity: LSTM i|f|g|o, GRU r|z|n; empty for RNN. */
  gates: A;
  /** (T, B, H) GRU only: resetAfter -> W_hn·h + b_hn; !resetAfter -> r ⊙ h_prev. Empty otherwise. */
  aux: A;
}

/**
 * A sequence cache a backend keeps in its own memory between a layer forward and its backward
 * (Backend.newCache), instead of copying it out to JavaScript arrays and back in.
 */
export interface ResidentCache {
  readonly resident: true;
  readonly kind: CellKind;
  readonly T: number;
  readonly B: number;
  readonly H: number;
}

export function isResident(c: SeqCache | ResidentCache | null): c is ResidentCache {
  return c !== null && (c as ResidentCache).resident === true;
}

export interface SeqShape {
  kind: CellKind;
  /** GRU only: true = PyTorch/cuDNN/Keras-2 (reset applied after the matmul), false = original. */
  resetAfter: boolean;
  /**
   * LSTM and GRU: the gates use the hard sigmoid clip(0.2·x + 0.5, 0, 1) (TF.js's default
   * recurrent activation, Keras 2's hard_sigmoid, ONNX's HardSigmoid) instead of the logistic
   * one. Its derivative: 0.2 where the gate is strictly between 0 and 1, else 0.
   */
  hardSigmoid?: boolean;
  T: number;
  B: number;
  H: number;
  /** Per-sequence lengths (B), each in [0, T]; null means every sequence has length T. */
  lengths: Int32Array | null;
  /** Process t = T-1 .. 0; each sequence starts at its own last valid step lengths[b]-1. */
  reverse: boolean;
  /**
   * Recurrent dropout (Gal & Ghahramani 2016): a (B, H) mask, already scaled by 1/(1-p), that
   * multiplies h_prev wherever it enters a recurrent product (h·W_hhᵀ, and r ⊙ h for the GRU
   * without resetAfter) — the same mask at every step. The GRU's direct z ⊙ h term is unmasked,
   * as in Keras. Optional; backends without support must refuse it rather than ignore it.
   */
  hMask?: F | null;
}

export interface SeqForwardArgs<A extends F = F> extends SeqShape {
  /**
   * (T, B, G) input pre-activations x_t·W_ihᵀ + b_ih, with b_hh folded in for every gate except
   * the GRU candidate n (whose b_hn sits inside the reset product). Read-only.
   */
  xg: A;
  /** (G, H) recurrent weights W_hh, PyTorch layout and gate order. */
  whh: A;
  /** (H) GRU only: b_hn (the n-gate part of b_hh); null for other cells or when bias=false. */
  bhn: A | null;
  /** (B, H) initial hidden state. */
  h0: A;
  /** (B, H) initial cell state (LSTM only, else null). */
  c0: A | null;
  /**
   * Output hidden states: row (t, b) at out[outOffset + (t*B + b)*ldOut .. + H). Padded steps
   * are written as zeros (as PyTorch's packed sequences do).
   */
  out: A;
  outOffset: number;
  ldOut: number;
  /** Filled by the backend, see SeqCache. */
  cache: SeqCache<A>;
}

/** What every backward through a sequence loop reads and writes besides its own operands. */
export interface BackwardThroughTime<A extends F = F> extends SeqShape {
  whh: A;
  cache: SeqCache<A>;
  /** Gradient w.r.t. the outputs, same addressing as `out` in forward; null = zero. */
  dOut: A | null;
  dOutOffset: number;
  ldDOut: number;
  /** (B, H) gradient w.r.t. the final hidden state; null = zero. */
  dhN: A | null;
  /** (B, H) gradient w.r.t. the final cell state (LSTM); null = zero. */
  dcN: A | null;
  /** (B, H) written: gradient w.r.t. h0. */
  dh0: A;
  /** (B, H) written: gradient w.r.t. c0 (LSTM), else null. */
  dc0: A | null;
}

export interface SeqBackwardArgs<A extends F = F> extends BackwardThroughTime<A> {
  bhn: A | null;
  /** (T, B, G) written: dLoss/dxg. Zero at padded steps. */
  dxg: A;
  /**
   * (T, B, G) written: dLoss/d(recurrent pre-activation h_prev·W_hhᵀ + b_hh), the operand of
   * dW_hh = dghᵀ·Hprev and db_hh = Σ dgh. For LSTM and RNN it equals dxg and the backend may be
   * given the same array. For GRU without resetAfter the n block pairs with cache.aux (r ⊙ h).
   */
  dgh: A;
}

/**
 * One direction of one recurrent layer, forward, as a single backend operation: the input
 * projection xg = X·W_ihᵀ + biases for all T steps, then the sequence loop. Backends that
 * implement it keep xg inside their own memory (see kernels/layer-ops.ts for the composed
 * version every backend can run).
 */
export interface LayerForwardArgs<A extends F = F> extends SeqShape {
  /** Input width. */
  I: number;
  /**
   * Row order of x, out (and in backward dOut, dx): false (default) time-major, row t·B + b;
   * true batch-first, row b·T + t. Internally everything runs time-major.
   */
  batchFirst?: boolean;
  /** (T·B, I) input rows; with xIds, the (xRows, I) table they are taken from. */
  x: A;
  /**
   * Optional: the input rows are rows of the table x — row r (in x's row order, see batchFirst) is
   * x[xIds[r]] — as when an embedding feeds the layer. The input projection is then computed once
   * per table row and gathered (x·W_ihᵀ for xRows rows instead of T·B), and backward sums the
   * gate gradients per table row first (see LayerBackwardArgs.xIds). Each id in [0, xRows).
   */
  xIds?: Int32Array | null;
  /** Rows of the table x when xIds is given. */
  xRows?: number;
  /** (G, I) input weights W_ih. */
  wih: A;
  /** (G, H) recurrent weights W_hh. */
  whh: A;
  /** (G) biases b_ih and b_hh, or both null (bias = false). */
  bih: A | null;
  bhh: A | null;
  h0: A;
  c0: A | null;
  /** Output rows: row r (see batchFirst) at out[outOffset + r·ldOut .. + H). */
  out: A;
  outOffset: number;
  ldOut: number;
  /**
   * Filled for backward; null when no backward follows (inference): then nothing is kept. A
   * ResidentCache only with the backend that made it (with hMask only if it supportsHMask).
   */
  cache: SeqCache<A> | ResidentCache | null;
  /** (B, H) written: the final hidden state (the state each sequence carried out of the loop). */
  hN: A;
  /** (B, H) written: the final cell state (LSTM), else null. */
  cN: A | null;
}

/**
 * The matching backward: the reverse loop, then the weight gradients as big products over all
 * T·B rows (dW_ih += dxgᵀ·X, dW_hh += dghᵀ·Hprev, bias column sums) and dX = dxg·W_ih.
 * Parameter gradients are accumulated into; dx is accumulated into when `accumulateDx`.
 */
export interface LayerBackwardArgs<A extends F = F> extends Omit<BackwardThroughTime<A>, 'cache'> {
  /** What the forward filled (a ResidentCache only with the backend that made it). */
  cache: SeqCache<A> | ResidentCache;
  I: number;
  /** As in LayerForwardArgs: the row order of x, dOut and dx. */
  batchFirst?: boolean;
  x: A;
  /**
   * As in LayerForwardArgs: x is an (xRows, I) table and input row r is x[xIds[r]]. Then the gate
   * gradients are first summed per table row, S[u] = Σ_{r: xIds[r] = u} dxg[r] (in row order),
   * dW_ih += Sᵀ·x, the input bias gradient is Σ_u S[u], and dx is the (xRows, I) gradient of
   * the table, S·W_ih.
   */
  xIds?: Int32Array | null;
  xRows?: number;
  wih: A;
  /** (G) b_hh (the GRU reads its b_hn part), or null when bias = false. */
  bhh: A | null;
  /**
   * (T·B, I) gradient w.r.t. the input rows; with xIds, (xRows, I) w.r.t. the table rows. null:
   * not wanted (the input is data, not an upstream layer's output), and its product, a quarter of
   * the backward's multiply-adds for a layer of I = H, is not computed.
   */
  dx: A | null;
  /** Add to dx instead of overwriting it (ignored when dx is null). */
  accumulateDx: boolean;
  dWih: A;
  dWhh: A;
  /** (G) accumulated bias gradients, or both null (bias = false). */
  dbih: A | null;
  dbhh: A | null;
}

/**
 * Attention pooling's forward (kernels/attention-ops.ts): u = tanh(h·W_k + b) [B·T, A], weights
 * a [B·T] = softmax over each row's unmasked steps of u·w, y [B, D] = Σ_t a_t h_t.
 */
export interface PoolForwardArgs {
  B: number;
  T: number;
  D: number;
  A: number;
  /** The sequence [B, T, D]. */
  h: Float32Array;
  /** [B, T], 0 = padding; null: no padding. */
  mask: Uint8Array | null;
  /** W_k [D, A], b [A], w [A]. */
  wk: Float32Array;
  b: Float32Array;
  w: Float32Array;
  /** Written: u [B·T·A], a [B·T], y [B·D]. */
  u: Float32Array;
  a: Float32Array;
  y: Float32Array;
}

/**
 * Its backward from dy [B, D], with the forward's u and a: dW_k, db, dw added to; dh [B, T, D]
 * (the sequence's whole gradient: it is both the keys and the values) written unless null.
 */
export interface PoolBackwardArgs {
  B: number;
  T: number;
  D: number;
  A: number;
  h: Float32Array;
  wk: Float32Array;
  w: Float32Array;
  u: Float32Array;
  a: Float32Array;
  dy: Float32Array;
  dwk: Float32Array;
  db: Float32Array;
  dw: Float32Array;
  dh: Float32Array | null;
}

/** A dense layer's forward: z = x·W + b over `rows` rows (W is (K, U), Keras' kernel layout). */
export interface DenseForwardArgs<A extends F = F> {
  rows: number;
  K: number;
  U: number;
  x: A;
  w: A;
  /** (U) bias, or null. */
  b: A | null;
  /** (rows, U) written. */
  z: A;
}

/** Its backward from dz: dW += xᵀ·dz, db += Σ_rows dz, dx = dz·Wᵀ. */
export interface DenseBackwardArgs<A extends F = F> {
  rows: number;
  K: number;
  U: number;
  x: A;
  w: A;
  dz: A;
  dW: A;
  db: A | null;
  /** (rows, K) written, or null when the input needs no gradient. */
  dx: A | null;
}

/**
 * One compute backend. `gemm` is the BLAS-like workhorse:
 *   C[M,N] = (accumulate ? C : 0) + op(A)[M,K] · op(B)[K,N]
 * with op(A) = A (A is M×K, row stride lda) or Aᵀ (A is K×M, row stride lda) and likewise for B.
 */
export interface Backend {
  readonly name: string;
  /**
   * Whether seqForward/seqBackward (and layerForward/layerBackward, when given) implement `hMask`
   * (recurrent dropout); otherwise layer-ops.ts composes the layer around the reference loops.
   */
  readonly supportsHMask?: boolean;
  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: F, lda: number, B: F, ldb: number, C: F, ldc: number, accumulate: boolean,
  ): void;
  /**
   * Optional: `count` products as gemm's, product i reading A from A[i·strideA], B from
   * B[i·strideB] and writing C from C[i·strideC] (kernels/layer-ops.ts's gemmBatched loops gemm
   * otherwise).
   */
  gemmBatched?(
    count: number, transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: F, strideA: number, lda: number, B: F, strideB: number, ldb: number, C: F, strideC: number, ldc: number, accumulate: boolean,
  ): void;
  seqForward(a: SeqForwardArgs): void;
  seqBackward(a: SeqBackwardArgs): void;
  /**
   * Optional: runs fn with the weights taken as fixed, for a backend that keeps copies of them
   * and checks them on every call (see withFixedWeights); fn must change no weights.
   */
  fixedWeights?<T>(fn: () => T): T;
  /** Optional fused layer forward (hMask only with supportsHMask); kernels/layer-ops.ts composes it otherwise. */
  layerForward?(a: LayerForwardArgs): void;
  /** Optional fused layer backward (hMask only with supportsHMask); kernels/layer-ops.ts composes it otherwise. */
  layerBackward?(a: LayerBackwardArgs): void;
  /**
   * Optional: a cache for a layer forward kept in the backend's memory until the backward (no
   * copies out and back in). `reuse`: this layer direction's previous one, returned as it is when
   * it fits (else released). Release with freeCache (or let the garbage collector do it).
   */
  newCache?(kind: CellKind, T: number, B: number, H: number, reuse: ResidentCache | null): ResidentCache;
  /** Releases a cache newCache made (a no-op for anything else). */
  freeCache?(c: ResidentCache): void;
  /**
   * A zeroed float32 array of n values in the backend's own memory, for a layer's activations
   * reused from step to step (a layer's output or logits, an input or loss gradient): the
   * backend's calls read and write it where it lies instead of copying it in and out. Only where
   * such views stay valid as the memory grows (shared WebAssembly memory: the two-thread
   * backend). Its block returns to the backend when the array is collected; keep the array
   * itself (not only views of it) for as long as any view is used.
   */
  activationBuffer?(n: number): Float32Array;
  /** Gives an activationBuffer array's block back at once (its views must not be used after). */
  releaseActivation?(a: Float32Array): void;
  /**
   * Optional (float32): a stepper that runs one token through a stack of batch-1 recurrent
   * layers and a softmax head in one call of the backend's kernels (text generation), with the
   * bits of those layers' own forward calls. It copies the weights when made: use it only while
   * they stay as they are (inside withFixedWeights), and dispose of it after.
   */
  stackStepper?(spec: StackStepSpec): StackStepper;
  /** Optional fused dense forward/backward; kernels/layer-ops.ts composes them otherwise. */
  denseForward?(a: DenseForwardArgs): void;
  denseBackward?(a: DenseBackwardArgs): void;
  /**
   * Optional: y = softmax of each of `rows` rows of width k in x (float32), and lse[r] =
   * log Σ_j exp(x[r, j]) in float64; kernels/layer-ops.ts has the reference.
   */
  softmaxRows?(x: Float32Array, y: Float32Array, rows: number, k: number, lse: Float64Array): void;
  /**
   * Optional (float32): a sparse cross-entropy's gradient with respect to the logits, from their
   * softmax: grad = probs·scale, but (p_t - 1)·scale at each row's target t (targets checked by
   * the caller), each value rounded once from its exact product; layer-ops.ts's sparseXentGrad
   * has the reference, with which it agrees bit for bit.
   */
  /**
   * Optional (float32): dst[o, j, i, :] = src[o, i, j, :] for arrays [outer, n1, n2, w] (src and
   * dst distinct); layer-ops.ts's swapAxes has the reference.
   */
  /**
   * Optional (float32): layer normalisation of `rows` rows of D values and its backward, in
   * layers/normalization.ts's float64 arithmetic and order (the same bits; see layerNormForward
   * and layerNormBackward there for the arguments).
   */
  layerNormForward?(x: Float32Array, rows: number, D: number, eps: number, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array, xhat: Float32Array, r: Float64Array): void;
  layerNormBackward?(dy: Float32Array, rows: number, D: number, xhat: Float32Array, r: Float64Array, gamma: Float32Array | null, dgamma: Float32Array | null, dbeta: Float32Array | null, dx: Float32Array | null): void;
  /** Optional (float32): out = a + b elementwise (out may be a); the same bits as a loop. */
  addInto?(a: Float32Array, b: Float32Array, out: Float32Array): void;
  /** Optional (float32): y = x > 0 ? x : 0 (NaN gives 0), and its backward dz = x > 0 ? dy : 0; the same bits as core.ts's loops. */
  relu?(x: Float32Array, y: Float32Array): void;
  reluBackward?(x: Float32Array, dy: Float32Array, dz: Float32Array): void;
  swapAxes?(src: Float32Array, dst: Float32Array, outer: number, n1: number, n2: number, w: number): void;
  /**
   * Optional (float32): rows of w values moved where both arrays lie in the backend's own memory
   * (activationBuffer views, a model's resident parameters), with no copy in or out.
   * gatherRows: dst row r = src row ids[r] for r < n. addRowsAt: dst row ids[r] += src row r for
   * r = 0 .. n-1 in that order, each sum rounded once to float32 (the bits of JavaScript's += on a
   * Float32Array). Each returns false, doing nothing, when an array lies elsewhere: copying a whole
   * matrix in to move a few rows would cost more than the caller's own loop (layer-ops.ts has both).
   * Row ids outside src (gatherRows) or dst (addRowsAt) throw a RangeError.
   */
  gatherRows?(src: Float32Array, ids: Int32Array, n: number, w: number, dst: Float32Array): boolean;
  addRowsAt?(dst: Float32Array, ids: Int32Array, n: number, w: number, src: Float32Array): boolean;
  sparseXentGrad?(probs: Float32Array, targets: Int32Array, rows: number, k: number, scale: number, grad: Float32Array): void;
  /**
   * Optional: y = tanh(x) elementwise (float32, x and y of one length; y may be x) with the gate
   * passes' approximation (within 3e-7 of Math.tanh); layer-ops.ts's tanhInto falls back to Math.tanh.
   */
  tanh?(x: Float32Array, y: Float32Array): void;
  /**
   * Optional (float32): additive attention's scores s [B, Tq, Tv] = Σ_c w_c tanh(pq_i + pk_j) for
   * every pair, and their backward (dpq, dpk, dw added to; pairs with ds = 0 skipped).
   */
  additiveScores?(B: number, Tq: number, Tv: number, A: number, pq: Float32Array, pk: Float32Array, w: Float32Array, s: Float32Array): void;
  additiveScoresBackward?(
    B: number, Tq: number, Tv: number, A: number, pq: Float32Array, pk: Float32Array, w: Float32Array, ds: Float32Array,
    dpq: Float32Array, dpk: Float32Array, dw: Float32Array,
  ): void;
  /** Optional fused attention pooling (float32); kernels/attention-ops.ts composes it otherwise. */
  attentionPoolForward?(a: PoolForwardArgs): void;
  attentionPoolBackward?(a: PoolBackwardArgs): void;
  /**
   * Optional: Adam's update of float32 flat buffers in place; the results must be those of the
   * loop in optim/optimizers.ts (Adam.step) bit for bit.
   */
  adamUpdate?(a: AdamUpdateArgs): void;
  /**
   * Optional, with adamUpdate's `keep`: writes the backend's kept m and v (the latest) into the
   * arrays m and v, and with `drop` forgets them (the next update with `keep` reads the arrays
   * again). A no-op for arrays the backend keeps nothing for.
   */
  adamSync?(m: Float32Array, v: Float32Array, drop: boolean): void;
}

/**
 * One Adam step over flat float32 buffers of equal length: params, grads, the slots m and v, and
 * vh with amsgrad (else null). Per element, in float64: g' = g + l2·p; m = beta1·m + (1 - beta1)·g';
 * v = beta2·v + (1 - beta2)·g'·g'; [vh = max(vh, v), used as v below]; p = p·shrink − alpha·m / (√v + epsilon).
 */
export interface AdamUpdateArgs {
  params: Float32Array;
  grads: Float32Array;
  m: Float32Array;
  v: Float32Array;
  vh: Float32Array | null;
  beta1: number;
  beta2: number;
  alpha: number;
  epsilon: number;
  l2: number;
  shrink: number;
  /**
   * Keep m and v in the backend between steps (a backend with adamSync; not with vh): the update
   * reads the backend's own copies of these arrays (made from them at the first such call) and
   * leaves the arrays as they were, stale, until adamSync. The caller passes the same two arrays
   * every time and reads or writes them only after adamSync.
   */
  keep?: boolean;
  /**
   * Called with Σ grads_i² (globalNorm's order and bits), summed on the backend's copy of the
   * gradients before the update: null skips the update (nothing is written), else the gradients
   * are first scaled by the factor returned (1: left as they are; another: as clipByGlobalNorm
   * scales them, and `grads` is written with the scaled values too). Optimizer.step's gate.
   */
  gate?: (sumSquares: number) => number | null;
}

export function allocCache<A extends F>(
  make: (n: number) => A, kind: CellKind, T: number, B: number, H: number,
): SeqCache<A> {
  const G = gateWidth(kind, H);
  return {
    h: make((T + 1) * B * H),
    c: make(kind === 'lstm' ? (T + 1) * B * H : 0),
    gates: make(kind === 'rnn_tanh' || kind === 'rnn_relu' ? 0 : T * B * G),
    aux: make(kind === 'gru' ? T * B * H : 0),
  };
}

/** One recurrent layer of a stack step: a single direction and layer, batch 1. */
export interface StackStepLayer {
  kind: CellKind;
  resetAfter: boolean;
  hardSigmoid?: boolean;
  H: number;
  /** Input width. */
  I: number;
  wih: Float32Array;
  whh: Float32Array;
  /** Both biases, or neither. */
  bih: Float32Array | null;
  bhh: Float32Array | null;
}

/**
 * What Backend.stackStepper runs: the first layer's input is a row of `table` (an embedding's
 * [rows, I] weights, the row chosen per step), each layer feeds the next, and the last one the
 * head z = h·W + b, whose softmax each step returns.
 */
export interface StackStepSpec {
  table: Float32Array;
  layers: StackStepLayer[];
  head: { U: number; w: Float32Array; b: Float32Array | null };
  /**
   * Project every row of the table for the first layer once, when the stepper is made (by the
   * step's own projection code: the same bits), so that each step reads its token's projected
   * row instead of multiplying by W_ih: worth it when the steps will outnumber the table's rows.
   */
  projectTable?: boolean;
}

export interface StackStepper {
  /**
   * Runs row `id` of the table through the stack from the layers' states, keeps their new
   * states, and returns the head's probabilities: a view into the backend's memory, valid until
   * the next step or dispose().
   */
  step(id: number): Float32Array;
  /** Layer l's state, h (and c for LSTM), copied into these arrays (H floats each). */
  getState(l: number, h: Float32Array, c: Float32Array | null): void;
  /** Sets layer l's state (null: zeros). */
  setState(l: number, h: Float32Array | null, c: Float32Array | null): void;
  /**
   * Whether this stepper runs `spec` as a new one would: the same shapes and options and, byte
   * for byte, the same weights and table as its copies (compared natively where the platform
   * can: in Node.js; elsewhere false). Its states are whatever the last steps left.
   */
  current(spec: StackStepSpec): boolean;
  /** Gives its memory back; the stepper must not be used after. */
  dispose(): void;
}
