// What the one-thread and the two-thread WebAssembly backends share: the layout of every call's
// data in linear memory, argument checks, copies in and out, and the fused layer operations.
//
// Data handling: each call lays out its inputs, outputs and scratch with a bump allocator (reset
// per call), grows the memory once if needed, copies the inputs in, runs its kernels, and copies
// the outputs back. The wasm code never grows memory itself, so the typed-array views taken after
// the single grow stay valid for the whole call; they are re-taken on every call because a grow
// detaches the previous ArrayBuffer (of an unshared memory). The memory keeps the size of the
// largest call so far (wasm memories cannot shrink); calls needing more than 4 GiB throw.
//
// The fused layer operations (layerForward/layerBackward, see ../layer-ops.ts) run the input
// projection, the sequence loop and the weight-gradient products of one direction in one such
// call: the T·B·G pre-activations and their gradients never leave wasm memory, and with no cache
// requested (inference) neither do the hidden states and gates of the loop. With a resident cache
// (newCache) they stay in wasm memory from the forward to the backward too: such caches are blocks
// below the per-call region (`base` rises and falls with them), reused per layer direction and
// released with their layer (FinalizationRegistry) or by freeCache.
//
// Subclasses decide where each kernel runs through the hooks at the bottom (the two-thread
// backend sends large ones to both threads and reruns a call on one thread if its worker is lost).
import {
  denseBackwardComposed, denseForwardComposed, foldBias, gruBhn, layerBackwardComposed, layerForwardComposed, tableIds,
} from '../layer-ops.js';
import { seqBackwardRef, seqForwardRef } from '../reference.js';
import type {
  AdamUpdateArgs, Backend, CellKind, DenseBackwardArgs, DenseForwardArgs, F, LayerBackwardArgs, LayerForwardArgs, PoolBackwardArgs, PoolForwardArgs, ResidentCache, SeqBackwardArgs,
  SeqCache, SeqForwardArgs, StackStepLayer, StackStepper, StackStepSpec,
} from '../types.js';
import { gateWidth, isResident } from '../types.js';

/** The exports both builds have (pointers are byte addresses into the memory). */
export interface CoreExports {
  heap_base(): number;
  gemm_scratch_bytes(M: number, N: number, K: number): number;
  /** Whether gemm computes the product row by row with gemv (one or two rows of A times Bᵀ). */
  gemm_rows_by_gemv(transA: number, transB: number, M: number, K: number): number;
  seq_projects_steps(B: number, T: number, I: number): number;
  gemm(...a: number[]): void;
  gemm_checked(...a: number[]): void;
  /** Bytes of op(B) (K x N) packed by pack_b_nr8, the layout of gemm's `PB`. */
  packed_bytes(K: number, N: number): number;
  pack_b_nr8(transB: number, K: number, N: number, B: number, ldb: number, P: number): void;
  seq_forward_scratch_bytes(kind: number, resetAfter: number, B: number, H: number, I: number): number;
  seq_backward_scratch_bytes(kind: number, B: number, H: number): number;
  seq_forward(...a: number[]): void;
  seq_backward(...a: number[]): void;
  packed_whh_bytes(kind: number, H: number): number;
  packed_whh_copy_bytes(kind: number, H: number): number;
  /** Bytes of a G x K matrix packed for batch 1 by the plan of (kind, H), then its copy. */
  packed_b1_copy_bytes(kind: number, H: number, K: number): number;
  /** One row's input projection by W_ih packed for batch 1: (kind, H, K, W, P, mode, x, bias, y). */
  b1_project(...a: number[]): void;
  /** Packs the G x K matrix lying in its copy area after P (packed_b1_copy_bytes) for batch 1: (kind, H, K, P). */
  b1_pack(kind: number, H: number, K: number, P: number): void;
  /** One token through a stack of layer records and its head (desc, layers, head, the first layer's input row; see asm). */
  stack_step(desc: number, nl: number, head: number, x0: number): void;
  stack_project_rows(desc: number, l: number, x: number, rows: number, out: number): void;
  col_sum(m: number, rows: number, cols: number, acc: number): void;
  /** Σ g_i² in optim/clip.ts's order (float64). */
  sum_squares(g: number, n: number): number;
  /** g_i = fround(g_i · s). */
  scale_f64(g: number, n: number, s: number): void;
  /** dst row r = src row r ⊙ m (rows of n floats, one mask row). */
  mul_rows(src: number, m: number, dst: number, rows: number, n: number): void;
  scatter_add_rows(src: number, ids: number, n: number, w: number, dst: number): void;
  gather_rows(src: number, ids: number, n: number, w: number, dst: number): void;
  softmax_rows(x: number, y: number, rows: number, k: number, sums: number): void;
  xent_grad(p: number, t: number, rows: number, k: number, s: number, g: number): void;
  swap_axes(src: number, dst: number, outer: number, n1: number, n2: number, w: number): void;
  relu_forward(x: number, y: number, n: number): void;
  add_into(a: number, b: number, out: number, n: number): void;
  relu_backward(x: number, dy: number, dz: number, n: number): void;
  layer_norm_forward(x: number, rows: number, D: number, eps: number, gamma: number, beta: number, y: number, xhat: number, r: number): void;
  layer_norm_backward(dy: number, rows: number, D: number, xhat: number, r: number, gamma: number, dgamma: number, dbeta: number, dx: number, acc: number): void;
  reorder_rows(src: number, dst: number, T: number, B: number, w: number, toBatchFirst: number): void;
  adam_update(p: number, g: number, m: number, v: number, vh: number, n: number, cf: number, mo: number, vo: number, po: number): void;
  /** y[i] = tanh(x[i]) (which = 0) or σ(x[i]) (which = 1), the gate passes' approximations. */
  approx_activation(which: number, x: number, y: number, n: number): void;
  pool_forward(B: number, T: number, A: number, D: number, u: number, w: number, mask: number, h: number, a: number, y: number): void;
  additive_scores(B: number, Tq: number, Tv: number, A: number, pq: number, pk: number, w: number, s: number): void;
  additive_scores_backward(B: number, Tq: number, Tv: number, A: number, pq: number, pk: number, w: number, ds: number, dpq: number, dpk: number, dw: number): void;
  pool_backward(B: number, T: number, A: number, D: number, u: number, w: number, h: number, a: number, dy: number, dz: number, dh: number, dw: number, db: number, dA: number): void;
}

export const KIND_CODE: Record<CellKind, number> = { lstm: 0, gru: 1, rnn_tanh: 2, rnn_relu: 3 };
/** Added to the kind code of seq_forward / seq_backward (and _mt): the gates are hard sigmoids (asm cell_kind). */
const HARD_GATES = 8;
const gateCode = (a: { kind: CellKind; hardSigmoid?: boolean }): number => KIND_CODE[a.kind] | (a.hardSigmoid ? HARD_GATES : 0);
export const PAGE = 65536;
/** wasm32 addresses are 32-bit: 65536 pages. */
export const MAX_PAGES = 65536;
const MAX_BYTES = MAX_PAGES * PAGE;
export const align64 = (n: number): number => Math.ceil(n / 64) * 64;
/** A bias row for the GEMM is read in 8-float panels: room up to the next multiple of 8. */
const padTo8 = (n: number): number => Math.ceil(n / 8) * 8;

/**
 * A weight copy of weightPtr: whose bytes (`buf` from `off`) it holds, where, the last call that
 * used it, the fixedWeights scope in which it was last compared, how many times it was written
 * (`gen`), and W_hh packed for batch-1 steps from it (whhPacked), with the `gen` it was packed at.
 * `missed`: an input projection's check found the copy stale last time (wihForward); `panels`:
 * the weights packed as a product's op(B) (pack_b_nr8: W_ih's rows of I = K floats, transposed;
 * a Dense kernel [K, U] as it is), with the `gen` they were packed at;
 * `fresh`: the copy was made and not yet compared (slotStale).
 * `inPlace`: no copy — the weights lie in this backend's memory at `ptr` (residentArray) and the
 * kernels read them there; the slot only keeps their batch-1 packing (b1InPlace).
 */
interface WeightSlot {
  buf: WeakRef<ArrayBufferLike>; off: number; bytes: number; ptr: number; used: number; fixed: number; gen: number;
  inPlace: boolean;
  pack: { ptr: number; bytes: number; kind: number; H: number; K: number; gen: number } | null;
  missed: boolean;
  panels: { ptr: number; bytes: number; K: number; trans: boolean; gen: number } | null;
  fresh: boolean;
}

/**
 * Adam's m and v kept in wasm memory between steps (AdamUpdateArgs.keep) for the arrays `m`, `v`:
 * two pairs in one block of `bytes` at `ptr`, the update reading pair `cur` and writing the other;
 * `stale`: the arrays do not hold the latest values (adamSync writes them).
 */
interface AdamSlot {
  m: WeakRef<Float32Array>; v: WeakRef<Float32Array>; n: number; ptr: number; bytes: number; cur: number; stale: boolean;
  /** When it was last used (adamUses), for eviction. */
  used: number;
  at(k: number): number;
}

/**
 * W_ih for a layer's input projection (wihForward): its copy's address and the copy packed as
 * op(B) (`panels`, 0 when the product packs it in its scratch); `settle()` compares a copy whose
 * check was deferred, `redo()` then says whether the projection must run again (the copy was
 * stale: it is refreshed first, and the product packs it).
 */
interface WihForProjection {
  ptr: number; panels: number; settle: () => void; redo: () => boolean;
  /**
   * W_ih lying in this memory (`src`, residentArray parameters) with its panels current at the
   * last check: the product checks each block of panels' rows against the copy and packs again
   * what changed (gemm_checked), and `checked(changed)` records the outcome; settle and redo are
   * then not used. null otherwise.
   */
  check: { src: number; checked: (changed: boolean) => void } | null;
}

/**
 * W_hh for a sequence loop: its copy (or the weights where they lie), its batch-1 packing (pWP, 0
 * if none) and what the loop does to that packing first (`repack`: B1_CURRENT, B1_PACK, B1_CHECK
 * or B1_COPY of asm/kernels.ts). With a deferred check (whhForward's `defer`) the copy is compared
 * with W_hh only when `settle` runs, which sets `repack`; until then neither the copy nor `repack`
 * may be used.
 */
interface WhhForLoop { pW: number; pWP: number; repack: number; packed: () => void; settle: () => void }

/** What the loop does to its batch-1 packing first: seq_forward's `repack` (b1_refresh in asm/kernels.ts). */
const B1_CURRENT = 0, B1_PACK = 1, B1_CHECK = 2, B1_COPY = 3;

/** Flags in word 1 of a stack step's layer record (asm/kernels.ts, "stack steps"). */
const SL_GEMV = 2, SL_TABLE = 4;

type Compare = (a: Uint8Array, b: Uint8Array) => number;
const nativeCompare = (globalThis as { Buffer?: { compare: Compare } }).Buffer?.compare;
/**
 * Whether two byte ranges are equal: Node's native memcmp; elsewhere (browsers) `false`, so the
 * caller copies (a JavaScript loop over a megabyte would cost more than the copy it saves).
 */
const sameBytes = (a: Uint8Array, b: Uint8Array): boolean => nativeCompare !== undefined && nativeCompare(a, b) === 0;

export function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') {
    const buf = Buffer.from(b64, 'base64');
    return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer);
  }
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

/** Element counts a gemm call addresses from element 0 of A, B and C. */
function gemmExtents(transA: boolean, transB: boolean, M: number, N: number, K: number, lda: number, ldb: number, ldc: number) {
  return {
    aLen: K <= 0 ? 0 : transA ? (K - 1) * lda + M : (M - 1) * lda + K,
    bLen: K <= 0 ? 0 : transB ? (N - 1) * ldb + K : (K - 1) * ldb + N,
    cLen: (M - 1) * ldc + N,
  };
}

/** Whether a layer operation's x/out/dOut/dx rows are batch-first ((b·T + t) order). */
const isBatchFirst = (a: object): boolean => (a as { batchFirst?: boolean }).batchFirst === true;

/**
 * Float strides of the sequence kernels' out/dOut rows: row (t, b) at t·stepStride + b·rowStride
 * for a caller row stride `ld` (time-major rows t·B + b, or batch-first rows b·T + t).
 */
function rowStrides(a: { T: number; B: number }, ld: number): { rowStride: number; stepStride: number } {
  return isBatchFirst(a) ? { rowStride: a.T * ld, stepStride: ld } : { rowStride: ld, stepStride: a.B * ld };
}

/** Where a cache's arrays live in wasm memory (0 = not used by the cell). */
interface CachePtrs { pH: number; pC: number; pG: number; pAux: number }

/** A ResidentCache of one WasmHost: a block of its memory laid out h | c | gates | aux. */
class HostCache implements ResidentCache, CachePtrs {
  readonly resident = true as const;
  released = false;
  constructor(
    readonly owner: WasmHost, readonly kind: CellKind, readonly T: number, readonly B: number, readonly H: number,
    readonly ptr: number, readonly bytes: number,
    readonly pH: number, readonly pC: number, readonly pG: number, readonly pAux: number,
  ) {}
}

/**
 * Gives a collected layer's resident blocks back to their backend; `join`: once no kernel thread
 * can still read them (a stack stepper's records, read outside claimed chunks).
 */
const blocksOfCollected = typeof FinalizationRegistry === 'function'
  ? new FinalizationRegistry<{ host: WasmHost; ptr: number; bytes: number; join?: boolean }>(({ host, ptr, bytes, join }) => {
    if (join) host.releaseBlockAfterCalls(ptr, bytes);
    else host.releaseBlock(ptr, bytes);
  })
  : null;

export abstract class WasmHost implements Backend {
  abstract readonly name: string;
  /** Recurrent dropout (hMask) runs in the kernels' own loops. */
  readonly supportsHMask = true;
  /** Bytes below this address belong to the module and the backend's fixed blocks. */
  protected base: number;
  protected top = 0;

  protected constructor(
    protected readonly k: CoreExports,
    protected readonly memory: WebAssembly.Memory,
    /** How errors name this backend, e.g. 'rnnkit wasm backend'. */
    protected readonly label: string,
  ) {
    this.base = align64(k.heap_base());
    // Views of shared memory stay valid as it grows (an unshared buffer is detached).
    if (typeof SharedArrayBuffer === 'function' && memory.buffer instanceof SharedArrayBuffer) {
      this.activationBuffer = (n) => this.newActivation(n);
    }
  }

  /** See Backend.activationBuffer: set where the memory is shared. */
  readonly activationBuffer?: (n: number) => Float32Array;

  /** The buffer objects activationBuffer's views lie in (a new one after each growth). */
  private readonly ownBuffers = new WeakSet<object>();

  /** The blocks of activationBuffer's arrays (for releaseActivation). */
  private readonly activationBlocks = new WeakMap<Float32Array, { ptr: number; bytes: number }>();

  private newActivation(n: number): Float32Array {
    if (!Number.isInteger(n) || n < 0) throw new RangeError(`${this.label}: activationBuffer(n): n must be a non-negative integer, got ${n}`);
    const bytes = align64(Math.max(n, 1) * 4), ptr = this.allocBlock(bytes);
    const buf = this.memory.buffer;
    this.ownBuffers.add(buf);
    const a = new Float32Array(buf, ptr, n).fill(0); // (a block may have been used before)
    this.activationBlocks.set(a, { ptr, bytes });
    blocksOfCollected?.register(a, { host: this, ptr, bytes }, a);
    return a;
  }

  /** See Backend.releaseActivation (a no-op for any array activationBuffer did not return). */
  releaseActivation(a: Float32Array): void {
    const b = this.activationBlocks.get(a);
    if (!b) return;
    this.activationBlocks.delete(a);
    blocksOfCollected?.unregister(a);
    this.releaseBlock(b.ptr, b.bytes);
  }

  /**
   * The address of `a` when it lies in this backend's memory (an activationBuffer view): kernels
   * then read or write it where it lies. -1 for any other array (copied in and out).
   */
  private addressOf(a: Float32Array): number {
    return this.ownBuffers.has(a.buffer) ? a.byteOffset : -1;
  }

  /**
   * Where a call's kernels find `floats` values of `a` from element `offset`: where they lie
   * (inPlace: an activationBuffer view, nothing to copy), or a block of this call's region.
   */
  private placed(a: Float32Array, offset: number, floats: number): { p: number; inPlace: boolean } {
    const own = this.addressOf(a);
    return own >= 0 ? { p: own + offset * 4, inPlace: true } : { p: this.alloc(floats * 4), inPlace: false };
  }

  /** placed(a, 0, floats) when `where` (the call can use `a` as it lies), else a block of this call's region. */
  private placedIf(where: boolean, a: Float32Array, floats: number): { p: number; inPlace: boolean } {
    return where ? this.placed(a, 0, floats) : { p: this.alloc(floats * 4), inPlace: false };
  }

  // ---- checks ----

  protected f32(x: F, what: string): Float32Array {
    if (x instanceof Float32Array) return x;
    throw new TypeError(
      `${this.label}: ${what} is a ${(x as object).constructor?.name ?? typeof x}; the WebAssembly ` +
      'kernels are float32 only (float64 runs on the reference backend, see backendFor)',
    );
  }

  private optF32(x: F | null, what: string): Float32Array | null {
    return x === null ? null : this.f32(x, what);
  }

  private need(x: F | Int32Array, n: number, what: string): void {
    if (x.length < n) throw new RangeError(`${this.label}: ${what} has ${x.length} elements, needs ${n}`);
  }

  // ---- linear memory: a bump allocator reset at the start of every call ----

  protected reset(): void {
    this.top = this.base;
    this.callCount++;
  }

  /** Reserves `bytes` (64-byte aligned) and returns the address. */
  protected alloc(bytes: number): number {
    const p = this.top;
    this.top = align64(p + bytes);
    return p;
  }

  /**
   * Grows the memory to cover everything allocated since reset() and returns fresh views.
   * Must be called after the last alloc() and before any copy.
   */
  protected commit(): { f32: Float32Array; i32: Int32Array } {
    const mem = this.memory;
    if (this.top > MAX_BYTES) throw new RangeError(`${this.label}: call needs ${this.top} bytes of linear memory (> 4 GiB)`);
    const have = mem.buffer.byteLength;
    if (this.top > have) mem.grow(Math.ceil((this.top - have) / PAGE));
    const buf = mem.buffer;
    return { f32: new Float32Array(buf), i32: new Int32Array(buf) };
  }

  // ---- resident blocks: below `base`, kept across calls (sequence caches) ----

  /** Free resident blocks (address order not kept; first fit). */
  private freeBlocks: { ptr: number; bytes: number }[] = [];

  private allocBlock(bytes: number): number {
    const i = this.freeBlocks.findIndex((b) => b.bytes >= bytes);
    if (i >= 0) {
      const b = this.freeBlocks[i]!;
      this.freeBlocks.splice(i, 1);
      if (b.bytes > bytes) this.freeBlocks.push({ ptr: b.ptr + bytes, bytes: b.bytes - bytes });
      return b.ptr;
    }
    const p = this.base;
    if (p + bytes > MAX_BYTES) throw new RangeError(`${this.label}: resident caches need more than 4 GiB of linear memory`);
    this.base = p + bytes;
    const have = this.memory.buffer.byteLength;
    if (this.base > have) this.memory.grow(Math.ceil((this.base - have) / PAGE));
    return p;
  }

  /**
   * releaseBlock once no kernel thread can still read the block (a partner thread late for the
   * last call may read a stack stepper's records); kept for good when that cannot be known.
   */
  releaseBlockAfterCalls(ptr: number, bytes: number): void {
    if (this.quiesce()) this.releaseBlock(ptr, bytes);
  }

  /** Returns a block to the pool (the topmost one lowers `base` again). Internal. */
  releaseBlock(ptr: number, bytes: number): void {
    if (ptr + bytes === this.base) {
      this.base = ptr;
      // Free blocks that now end at the top go too.
      for (let i = this.freeBlocks.findIndex((b) => b.ptr + b.bytes === this.base); i >= 0; i = this.freeBlocks.findIndex((b) => b.ptr + b.bytes === this.base)) {
        this.base = this.freeBlocks[i]!.ptr;
        this.freeBlocks.splice(i, 1);
      }
    } else {
      this.freeBlocks.push({ ptr, bytes });
    }
  }

  newCache(kind: CellKind, T: number, B: number, H: number, reuse: ResidentCache | null): ResidentCache {
    if (reuse instanceof HostCache && reuse.owner === this && !reuse.released) {
      if (reuse.kind === kind && reuse.T === T && reuse.B === B && reuse.H === H) return reuse;
      this.freeCache(reuse);
    }
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    const lstm = kind === 'lstm', gru = kind === 'gru';
    const hB = align64((T + 1) * BH * 4), cB = lstm ? hB : 0, gB = lstm || gru ? align64(TB * G * 4) : 0, aB = gru ? align64(TB * H * 4) : 0;
    const bytes = hB + cB + gB + aB, ptr = this.allocBlock(bytes);
    const c = new HostCache(this, kind, T, B, H, ptr, bytes, ptr, cB ? ptr + hB : 0, gB ? ptr + hB + cB : 0, aB ? ptr + hB + cB + gB : 0);
    blocksOfCollected?.register(c, { host: this, ptr, bytes }, c);
    return c;
  }

  /** Releases a resident cache at once (else the garbage collector does it with the layer). */
  freeCache(c: ResidentCache): void {
    if (!(c instanceof HostCache) || c.owner !== this || c.released) return;
    c.released = true;
    blocksOfCollected?.unregister(c);
    this.releaseBlock(c.ptr, c.bytes);
  }

  /** This host's live resident cache matching the call, or a clear error. */
  private residentOf(c: ResidentCache, kind: CellKind, T: number, B: number, H: number): HostCache {
    if (!(c instanceof HostCache) || c.owner !== this || c.released) {
      throw new TypeError(`${this.label}: this resident cache belongs to another backend (the backend changed between forward and backward?) or was released`);
    }
    if (c.kind !== kind || c.T !== T || c.B !== B || c.H !== H) {
      throw new RangeError(`${this.label}: resident cache is for ${c.kind} T=${c.T} B=${c.B} H=${c.H}, the call is ${kind} T=${T} B=${B} H=${H}`);
    }
    return c;
  }

  // ---- weights kept in linear memory across calls ----

  /**
   * Weight copies kept at most (count, bytes), the least recently used going first; the copies
   * the current call uses stay even past the limits. (Internal; tests lower them.)
   */
  maxWeightSlots = 64;
  maxWeightBytes = 64 * 2 ** 20;
  /** Weight copies in resident blocks (see weightPtr). */
  private weightSlots: WeightSlot[] = [];
  private weightSlotBytes = 0;
  /** Counts reset() calls: the weightPtr calls before one reset() belong to one call. */
  private callCount = 0;
  /** fixedWeights: scopes open, and the number of the outermost one (counts up from 1). */
  private fixedDepth = 0;
  private fixedScope = 0;
  /** layerForward calls whose loop projected the input rows step by step (a statistic; tests read it). */
  perStepProjections = 0;

  /**
   * Runs fn with the weights taken as fixed: each weight array is compared with its copy in linear
   * memory at its first use inside fn, not again at later calls inside it. For loops that own a
   * model while they run, such as text generation one character at a time (with a 2 x LSTM 256
   * model the comparisons took a third of the time per character). fn must not change any
   * weights, and must finish before it returns (the scope ends then).
   */
  fixedWeights<T>(fn: () => T): T {
    if (this.fixedDepth++ === 0) this.fixedScope++;
    try {
      return fn();
    } finally {
      this.fixedDepth--;
    }
  }

  /**
   * The address of a copy of `w`'s first `n` floats in linear memory, for kernels that only read
   * them. The copy is kept in a resident block across calls and compared byte for byte with `w`
   * on every use (a native memcmp where the platform has one): when the weights did not change —
   * inference, or backward after forward — nothing is written, so the 1 MB of an LSTM's W_hh
   * stays where the kernel threads' caches hold it instead of being copied in (and pulled across
   * cores) on every call. Any change, however it was made, shows in the comparison. Must be called
   * before the call's reset() (it may allocate a block, which moves `base`); the copies of one call
   * are never evicted by its own later weightPtr calls. Weights that lie in this backend's memory
   * (a model's residentArray parameters) need no copy: their own address.
   */
  protected weightPtr(w: Float32Array, n: number): number {
    const own = this.addressOf(w);
    return own >= 0 ? own : this.weightSlot(w, n).ptr;
  }

  /**
   * W_hh (G·H floats of `whh`) for a batch-1 sequence loop: its copy (weightPtr), and where that
   * copy packed in blocks of rows and mixed groups lies (packed_whh_bytes), kept beside
   * the copy; `repack`: the copy was written since it was packed, and the loop packs it again —
   * `packed()` records that once the loop has run (a call redone on one thread after the worker
   * was lost, or one that failed, packs again). Same rules as weightPtr.
   */
  protected whhPacked(whh: Float32Array, kind: CellKind, H: number, defer = false): WhhForLoop {
    const slot = this.weightSlot(whh, gateWidth(kind, H) * H, !defer), pack = this.slotPack(slot, kind, H);
    let gen = slot.gen;
    const repack = () => (pack.ptr !== 0 && pack.gen !== gen ? B1_PACK : B1_CURRENT);
    const loop: WhhForLoop = {
      pW: slot.ptr, pWP: pack.ptr, repack: repack(),
      packed: () => { pack.gen = gen; },
      settle: () => {
        if (defer) this.checkSlot(slot, whh);
        gen = slot.gen;
        loop.repack = repack();
      },
    };
    return loop;
  }

  /**
   * A slot's batch-1 packing of its G x K weights (W_hh: K = H; W_ih: K = I) by the plan of
   * (kind, H): made, not yet packed (gen -1), if it had none for them.
   */
  private slotPack(slot: WeightSlot, kind: CellKind, H: number, K = H): NonNullable<WeightSlot['pack']> {
    const code = KIND_CODE[kind];
    // (The packing's plan depends on the cell's gate blocks and H: b1_plan in asm/kernels.ts.)
    if (slot.pack && (slot.pack.H !== H || slot.pack.K !== K || slot.pack.kind !== code)) this.dropPack(slot);
    if (!slot.pack) {
      // In place: the packing, then the copy of the weights its checks compare with.
      const bytes = align64(slot.inPlace ? this.k.packed_b1_copy_bytes(code, H, K) : this.k.packed_whh_bytes(code, H));
      slot.pack = { ptr: bytes > 0 ? this.allocBlock(bytes) : 0, bytes, kind: code, H, K, gen: -1 };
      this.weightSlotBytes += bytes;
    }
    return slot.pack;
  }

  /**
   * W_hh lying in this backend's memory at `own` (residentArray parameters), for a batch-1 loop:
   * read where it lies. Its packing is kept in an in-place slot with a copy of W_hh after it, and
   * the loop checks each chunk's rows against the copy first (B1_CHECK: each thread those of the
   * chunks it multiplies by, in its own core, copying and packing again any that differ) —
   * instead of this thread comparing the whole megabyte with a copy while the worker projects
   * (W5a 2% faster, bench:ab 2026-11-27). Once checked inside a fixedWeights scope, it is trusted
   * there. The slot counts against the limits by its packing and copy (slotPack). K: the weights'
   * row length — W_hh's H, or I for W_ih packed the same way for one-row projections (b1_project).
   */
  private b1InPlace(own: number, kind: CellKind, H: number, K = H): WhhForLoop {
    const bytes = gateWidth(kind, H) * K * 4;
    let slot = this.weightSlots.find((s) => s.inPlace && s.ptr === own);
    if (slot && slot.bytes !== bytes) { this.dropWeightSlot(this.weightSlots.indexOf(slot)); slot = undefined; }
    if (!slot) {
      this.makeRoom(this.k.packed_b1_copy_bytes(KIND_CODE[kind], H, K));
      slot = { buf: new WeakRef(this.memory.buffer), off: own, bytes, ptr: own, used: 0, fixed: 0, gen: 0, inPlace: true, pack: null, missed: false, panels: null, fresh: false };
      this.weightSlots.push(slot);
    }
    slot.used = this.callCount + 1;
    const pack = this.slotPack(slot, kind, H, K), s = slot;
    const trusted = this.fixedDepth !== 0 && s.fixed === this.fixedScope && pack.gen === 0;
    const scope = this.fixedScope;
    const repack = pack.ptr === 0 || trusted ? B1_CURRENT : pack.gen < 0 ? B1_COPY : B1_CHECK;
    // Until the loop has run, the packing is in doubt: a call that fails on the way (a worker lost
    // after it copied a chunk's rows but before it packed them) leaves a copy the check would
    // find current, so the call redone, and any later one, copies and packs everything.
    if (repack !== B1_CURRENT) pack.gen = -1;
    return {
      pW: own, pWP: pack.ptr, repack,
      packed: () => { pack.gen = 0; s.fixed = scope; },
      settle: () => {},
    };
  }

  /**
   * w's slot: found (and, with `check`, compared with w), or made with a fresh copy. Without
   * `check` a found slot must be checked (checkSlot) before its copy is read.
   */
  private weightSlot(w: Float32Array, n: number, check = true): WeightSlot {
    const bytes = n * 4, buf = w.buffer, off = w.byteOffset;
    let slot: WeightSlot | undefined;
    for (let i = 0; i < this.weightSlots.length; i++) {
      const s = this.weightSlots[i]!, sb = s.buf.deref();
      if (sb === undefined) { this.dropWeightSlot(i--); continue; } // its weights were collected
      if (sb === buf && s.off === off && !s.inPlace) { slot = s; break; }
    }
    if (slot && slot.bytes !== bytes) { this.dropWeightSlot(this.weightSlots.indexOf(slot)); slot = undefined; }
    if (!slot) {
      this.makeRoom(bytes);
      slot = { buf: new WeakRef(buf), off, bytes, ptr: this.allocBlock(align64(bytes)), used: 0, fixed: 0, gen: 0, inPlace: false, pack: null, missed: false, panels: null, fresh: true };
      this.weightSlots.push(slot);
      this.weightSlotBytes += bytes;
      new Uint8Array(this.memory.buffer, slot.ptr, bytes).set(new Uint8Array(buf, off, bytes));
      slot.fixed = this.fixedScope;
    } else if (check) {
      this.checkSlot(slot, w);
    }
    slot.used = this.callCount + 1; // the call whose reset() comes next
    return slot;
  }

  /** Drops the least recently used slots until one more of `bytes` fits the limits (this call's stay). */
  private makeRoom(bytes: number): void {
    while (this.weightSlots.length >= this.maxWeightSlots || this.weightSlotBytes + bytes > this.maxWeightBytes) {
      let lru = -1;
      for (let i = 0; i < this.weightSlots.length; i++) {
        const u = this.weightSlots[i]!.used;
        if (u <= this.callCount && (lru < 0 || u < this.weightSlots[lru]!.used)) lru = i;
      }
      if (lru < 0) break; // only this call's copies are left
      this.dropWeightSlot(lru);
    }
  }

  /**
   * Compares a slot's copy with its weights w (unless the copy is trusted in this fixedWeights
   * scope) and copies w over it when they differ. Neither allocates nor moves anything: it may run
   * while the worker computes a product that reads other buffers.
   */
  private checkSlot(slot: WeightSlot, w: Float32Array): void {
    if (this.slotStale(slot, w)) this.refreshSlot(slot, w);
  }

  /**
   * Whether a slot's copy differs from its weights w — false, without reading either, when the
   * copy is trusted in this fixedWeights scope (which it then is). Writes nothing in wasm memory.
   */
  private slotStale(slot: WeightSlot, w: Float32Array): boolean {
    const trusted = this.fixedDepth !== 0 && slot.fixed === this.fixedScope;
    slot.fixed = this.fixedScope;
    slot.fresh = false;
    // (Views of the weights and the copy only here: a copy trusted in a fixedWeights scope is not read.)
    return !trusted && !sameBytes(new Uint8Array(w.buffer, w.byteOffset, slot.bytes), new Uint8Array(this.memory.buffer, slot.ptr, slot.bytes));
  }

  /** Copies w over its slot's copy. */
  private refreshSlot(slot: WeightSlot, w: Float32Array): void {
    new Uint8Array(this.memory.buffer, slot.ptr, slot.bytes).set(new Uint8Array(w.buffer, w.byteOffset, slot.bytes));
    slot.gen++;
  }

  private dropWeightSlot(i: number): void {
    const s = this.weightSlots[i]!;
    this.weightSlots.splice(i, 1);
    if (!s.inPlace) {
      this.weightSlotBytes -= s.bytes;
      this.releaseBlock(s.ptr, align64(s.bytes));
    }
    this.dropPack(s);
    this.dropPanels(s);
  }

  private dropPack(s: WeightSlot): void {
    if (!s.pack) return;
    this.weightSlotBytes -= s.pack.bytes;
    if (s.pack.ptr) this.releaseBlock(s.pack.ptr, s.pack.bytes);
    s.pack = null;
  }

  private dropPanels(s: WeightSlot): void {
    if (!s.panels) return;
    this.weightSlotBytes -= s.panels.bytes;
    this.releaseBlock(s.panels.ptr, s.panels.bytes);
    s.panels = null;
  }

  // ---- Backend ----

  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: F, lda: number, B: F, ldb: number, C: F, ldc: number, accumulate: boolean,
  ): void {
    const a = this.f32(A, 'gemm A'), b = this.f32(B, 'gemm B'), c = this.f32(C, 'gemm C');
    if (M <= 0 || N <= 0) return;
    const { aLen, bLen, cLen } = gemmExtents(transA, transB, M, N, K, lda, ldb, ldc);
    this.need(a, aLen, 'gemm A'); this.need(b, bLen, 'gemm B'); this.need(c, cLen, 'gemm C');
    const par = K > 0 && this.gemmParallel(M, N, K, false, this.rowsByGemv(transA, transB, M, K));
    this.session(par, (mt) => {
      this.reset();
      const pA = this.alloc(aLen * 4), pB = this.alloc(bLen * 4), pC = this.alloc(cLen * 4);
      const pP = this.alloc(this.k.gemm_scratch_bytes(M, N, K));
      const { f32 } = this.commit();
      f32.set(a.subarray(0, aLen), pA >> 2);
      f32.set(b.subarray(0, bLen), pB >> 2);
      // C's span goes in when its values are read (accumulate) or when it has gaps between rows
      // (ldc > N) that the copy back must leave as they were.
      if (accumulate || ldc > N) f32.set(c.subarray(0, cLen), pC >> 2);
      this.runGemm(mt && par, [+transA, +transB, M, N, K, pA, lda, pB, ldb, pC, ldc, +accumulate, pP, 0, 0]);
      c.set(f32.subarray(pC >> 2, (pC >> 2) + cLen));
    });
  }

  gemmBatched(
    count: number, transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: F, strideA: number, lda: number, B: F, strideB: number, ldb: number, C: F, strideC: number, ldc: number, accumulate: boolean,
  ): void {
    const a = this.f32(A, 'gemmBatched A'), b = this.f32(B, 'gemmBatched B'), c = this.f32(C, 'gemmBatched C');
    if (count <= 0 || M <= 0 || N <= 0) return;
    const e = gemmExtents(transA, transB, M, N, K, lda, ldb, ldc);
    const aLen = e.aLen && (count - 1) * strideA + e.aLen, bLen = e.bLen && (count - 1) * strideB + e.bLen, cLen = (count - 1) * strideC + e.cLen;
    this.need(a, aLen, 'gemmBatched A'); this.need(b, bLen, 'gemmBatched B'); this.need(c, cLen, 'gemmBatched C');
    // One call for every product (the products of one batch row each are small: a call apiece
    // cost more in copies and bookkeeping than its arithmetic), the products shared out whole
    // between the threads; operands in this backend's memory (activation buffers) are read and
    // written where they lie.
    // (the claim word counts chunks in 16 bits: more products than that stay on one thread)
    const par = count >= 2 && count <= 0xffff && K > 0 && this.gemmParallel(count * M, N, K);
    this.session(par, (mt) => {
      this.reset();
      const X = this.placed(a, 0, aLen), Y = this.placed(b, 0, bLen), Z = this.placed(c, 0, cLen);
      const pBytes = Math.ceil(this.k.gemm_scratch_bytes(M, N, K) / 64) * 64, pP = this.alloc(2 * pBytes);
      const { f32 } = this.commit();
      if (!X.inPlace) f32.set(a.subarray(0, aLen), X.p >> 2);
      if (!Y.inPlace) f32.set(b.subarray(0, bLen), Y.p >> 2);
      if (!Z.inPlace && (accumulate || ldc > N || strideC > M * ldc)) f32.set(c.subarray(0, cLen), Z.p >> 2);
      this.runGemmBatched(mt && par, [count, +transA, +transB, M, N, K, X.p, strideA, lda, Y.p, strideB, ldb, Z.p, strideC, ldc, +accumulate, pP, pBytes]);
      if (!Z.inPlace) c.set(f32.subarray(Z.p >> 2, (Z.p >> 2) + cLen));
    });
  }

  seqForward(args: SeqForwardArgs): void {
    const { kind, T, B, H } = args;
    const cache = this.checkForward(args, args.cache);
    const xg = this.f32(args.xg, 'seqForward xg');
    if (T <= 0 || B <= 0 || H <= 0) { seqForwardRef(args); return; } // nothing to compute
    const G = gateWidth(kind, H);
    this.need(xg, T * B * G, 'xg');
    const par = this.seqParallel(B, G, H);
    this.session(par, (mt) => {
      const whh = this.whhForward(args);
      this.reset();
      const pXg = this.alloc(T * B * G * 4);
      const L = this.layoutForward(args, mt && par, whh);
      const { f32, i32 } = this.commit();
      f32.set(xg.subarray(0, T * B * G), pXg >> 2);
      this.loadForward(args, L, f32, i32);
      this.runSeqForward(mt && par, this.forwardArgs(args, L, pXg));
      whh.packed();
      this.storeForward(args, L, f32, cache);
    });
  }

  seqBackward(args: SeqBackwardArgs): void {
    const { kind, T, B, H } = args;
    const cache = this.checkBackward(args, args.cache);
    const dxg = this.f32(args.dxg, 'dxg'), dgh = this.f32(args.dgh, 'dgh');
    if (T <= 0 || B <= 0 || H <= 0) { seqBackwardRef(args); return; }
    const G = gateWidth(kind, H), TB = T * B;
    this.need(dxg, TB * G, 'dxg'); this.need(dgh, TB * G, 'dgh');
    const par = this.seqParallel(B, G, H);
    this.session(par, (mt) => {
      const pW = this.weightPtr(this.f32(args.whh, 'whh'), G * H);
      this.reset();
      const L = this.layoutBackward(args, mt && par, pW);
      const { f32, i32 } = this.commit();
      this.loadBackward(args, L, f32, i32, cache);
      this.runSeqBackward(mt && par, this.backwardArgs(args, L));
      dxg.set(f32.subarray(L.pDxg >> 2, (L.pDxg >> 2) + TB * G));
      if (dgh !== dxg) dgh.set(f32.subarray(L.pDgh >> 2, (L.pDgh >> 2) + TB * G));
      this.storeBackward(args, L, f32);
    });
  }

  layerForward(args: LayerForwardArgs): void {
    const { kind, T, B, H, I } = args;
    const resident = isResident(args.cache) ? this.residentOf(args.cache, kind, T, B, H) : null;
    const cache = this.checkForward(args, resident ? null : args.cache as SeqCache | null);
    const x = this.f32(args.x, 'x'), wih = this.f32(args.wih, 'weight_ih');
    const bih = this.optF32(args.bih, 'bias_ih'), bhh = this.optF32(args.bhh, 'bias_hh');
    const hN = this.f32(args.hN, 'hN'), cN = this.optF32(args.cN, 'cN');
    if (T <= 0 || B <= 0 || H <= 0 || I <= 0) { layerForwardComposed(this, args); return; }
    const G = gateWidth(kind, H), TB = T * B, BH = B * H;
    // With a table (xIds) its U rows are projected, and the loop reads them through the ids.
    const table = tableIds(args, this.label), U = table ? table.rows : TB;
    this.need(x, U * I, 'x'); this.need(wih, G * I, 'weight_ih'); this.need(hN, BH, 'hN');
    if (kind === 'lstm') { if (!cN) throw new TypeError(`${this.label}: LSTM needs cN`); this.need(cN, BH, 'cN'); }
    if ((bih === null) !== (bhh === null)) throw new TypeError(`${this.label}: give both biases or neither`);
    if (bih && bhh) { this.need(bih, G, 'bias_ih'); this.need(bhh, G, 'bias_hh'); }
    // The projection goes by gemv (one or two rows: nothing packed) or by the packed tiles; one
    // row in a fixedWeights scope (a step of text generation) by W_ih packed as batch-1 steps pack
    // W_hh, when it lies in this memory: its chains then are the tiles' (a batch row's bits), and
    // it is packed once per scope instead of read row by row at every step.
    const byGemv = this.rowsByGemv(false, true, U, I);
    const ownIh = U === 1 && this.fixedDepth !== 0 ? this.addressOf(wih) : -1;
    // Dense input rows where the kernels allow it (seq_projects_steps: 8+ rows, a multiple of 4,
    // the same bits as one product): the loop projects each step's rows just before its
    // recurrent product (seq_forward's xp), where the rows it writes stay near for the gate pass,
    // instead of one product over all T·B rows before the loop: no T·B x G rows to hold (an LSTM
    // 256 over 2,000 steps at batch 64: 524 MB).
    const perStep = !table && this.k.seq_projects_steps(B, T, I) !== 0;
    const parS = this.seqParallel(B, G, H), parG = ownIh >= 0 || perStep ? parS : this.gemmParallel(U, G, I, parS, byGemv);
    this.session(parG || parS, (mt) => {
      // With the projection on two threads, W_hh is compared with its copy while the worker starts
      // on the projection (which does not read it): at batch 1 the compare of its megabyte is an
      // eighth of the call. So is W_ih, when its last compare found it unchanged (wihForward).
      const ih = ownIh >= 0 || perStep ? null : this.wihForward(wih, G, I, mt && parG, !byGemv);
      const pWih = perStep ? this.weightPtr(wih, G * I) : 0;
      const ihB1 = ownIh >= 0 ? this.b1InPlace(ownIh, kind, H, I) : null;
      const whh = this.whhForward(args, mt && parG && !perStep);
      this.reset();
      // With a table the loop reads its projected rows through the ids (no T·B rows of xg).
      // A table lying in this memory (an embedding's activation slot) is read where it lies.
      const X = this.placedIf(table !== null, x, U * I), pX = X.p;
      const pXg = perStep ? 0 : this.alloc(U * G * 4), pIds = table ? this.alloc(TB * 4) : 0;
      const pP = perStep ? 0 : this.alloc(this.k.gemm_scratch_bytes(U, G, I)), pBias = bih ? this.alloc(padTo8(G) * 4) : 0;
      // Nothing kept for backward (predict, evaluate): the slim loop.
      const L = this.layoutForward(args, mt && parS, whh, resident, !resident && !cache, perStep ? I : 0);
      const pStage = isBatchFirst(args) && !table ? this.alloc(TB * I * 4) : 0;
      const pFlag = ih?.check ? this.alloc(64) : 0;
      const { f32, i32 } = this.commit();
      if (table) {
        if (!X.inPlace) f32.set(x.subarray(0, U * I), pX >> 2);
        i32.set(table.ids, pIds >> 2);
      } else {
        this.rowsIn(x, pX, pStage, T, B, I, f32);
      }
      // Every xg row starts as the folded bias row (in the GEMM's registers) and the product is
      // accumulated onto it: the order of layer-ops.ts, without writing the rows first.
      if (bih && bhh) foldBias(kind, H, bih, bhh, f32.subarray(pBias >> 2, (pBias >> 2) + G));
      // (whh.settle, run beside the projection, sets whh.repack, which forwardArgs reads.)
      if (perStep) {
        this.perStepProjections++; // (projected by the loop)
      } else if (ihB1) {
        whh.settle();
        this.runB1Project(mt && parG, [KIND_CODE[kind], H, I, ownIh, ihB1.pWP, ihB1.repack, pX, pBias, pXg]);
        ihB1.packed();
      } else {
        const p = ih!, projection = [0, 1, U, G, I, pX, I, p.ptr, I, pXg, G, 0, pP, pBias, p.panels];
        if (p.check) {
          i32[pFlag >> 2] = 0;
          this.runGemmChecked(mt && parG, [...projection, p.check.src, pFlag], () => whh.settle());
          p.check.checked(i32[pFlag >> 2] !== 0);
        } else {
          this.runGemm(mt && parG, projection, () => { whh.settle(); p.settle(); });
          // W_ih had changed while the projection ran with its copy: again, on the refreshed copy
          // (packed by the product: the panels, if any, hold the old weights).
          if (p.redo()) { projection[14] = 0; this.runGemm(mt && parG, projection); }
        }
      }
      this.loadForward(args, L, f32, i32);
      this.runSeqForward(mt && parS, this.forwardArgs(args, L, pXg, pIds, perStep ? { pX, I, pWih, pBias } : null));
      whh.packed();
      const fin = (L.slim ? T & 1 : args.reverse ? 0 : T) * BH;
      hN.set(f32.subarray((L.pH >> 2) + fin, (L.pH >> 2) + fin + BH));
      if (cN) cN.set(f32.subarray((L.pC >> 2) + fin, (L.pC >> 2) + fin + BH));
      this.storeForward(args, L, f32, cache);
    });
  }

  layerBackward(args: LayerBackwardArgs): void {
    const { kind, resetAfter, T, B, H, I, reverse } = args;
    const resident = isResident(args.cache) ? this.residentOf(args.cache, kind, T, B, H) : null;
    const cache = this.checkBackward(args, resident ? null : args.cache as SeqCache);
    const x = this.f32(args.x, 'x'), wih = this.f32(args.wih, 'weight_ih'), dx = this.optF32(args.dx, 'dx');
    const dWih = this.f32(args.dWih, 'dWih'), dWhh = this.f32(args.dWhh, 'dWhh');
    const dbih = this.optF32(args.dbih, 'dbih'), dbhh = this.optF32(args.dbhh, 'dbhh');
    if (T <= 0 || B <= 0 || H <= 0 || I <= 0) { layerBackwardComposed(this, args); return; }
    const G = gateWidth(kind, H), TB = T * B, BH = B * H;
    // With a table (xIds): the products with the input side run over its U rows, from the gate
    // gradients summed per row (see LayerBackwardArgs.xIds).
    const table = tableIds(args, this.label), U = table ? table.rows : TB;
    this.need(x, U * I, 'x'); this.need(wih, G * I, 'weight_ih');
    if (dx) this.need(dx, U * I, 'dx');
    this.need(dWih, G * I, 'dWih'); this.need(dWhh, G * H, 'dWhh');
    if ((dbih === null) !== (dbhh === null)) throw new TypeError(`${this.label}: give both bias gradients or neither`);
    if (dbih && dbhh) { this.need(dbih, G, 'dbih'); this.need(dbhh, G, 'dbhh'); }
    const parS = this.seqParallel(B, G, H);
    const parWih = this.gemmParallel(G, I, U, parS), parWhh = this.gemmParallel(G, H, TB, parS), parDx = dx !== null && this.gemmParallel(U, I, G, parS);
    this.session(parS || parWih || parWhh || parDx, (mt) => {
      const pWih = this.weightPtr(wih, G * I), pW = this.weightPtr(this.f32(args.whh, 'whh'), G * H);
      this.reset();
      const L = this.layoutBackward(args, mt && parS, pW, resident);
      // A table (and its gradient, when not added to) lying in this memory is read (written)
      // where it lies: the dx product overwrites every row, so a call rerun on one thread (lost
      // worker) writes the same values again.
      const X = this.placedIf(table !== null, x, U * I), pX = X.p;
      const DX = dx ? this.placedIf(table !== null && !args.accumulateDx, dx, U * I) : null, pDx = DX?.p ?? 0;
      const pDWih = this.alloc(G * I * 4), pDWhh = this.alloc(G * H * 4), pDb = this.alloc(2 * G * 4);
      const pP = this.alloc(Math.max(this.k.gemm_scratch_bytes(G, I, U), this.k.gemm_scratch_bytes(G, H, TB), this.k.gemm_scratch_bytes(U, I, G)));
      const pStage = isBatchFirst(args) && !table ? this.alloc(TB * I * 4) : 0;
      const pS = table ? this.alloc(U * G * 4) : 0, pIds = table ? this.alloc(TB * 4) : 0;
      const pHm = L.pMask ? this.alloc(TB * H * 4) : 0;
      const { f32, i32 } = this.commit();
      this.loadBackward(args, L, f32, i32, cache);
      if (table) {
        if (!X.inPlace) f32.set(x.subarray(0, U * I), pX >> 2);
        this.scatterIds(table.ids, TB, U, G, i32, pIds, f32, pS);
        if (dx && args.accumulateDx) f32.set(dx.subarray(0, U * I), pDx >> 2);
      } else {
        this.rowsIn(x, pX, pStage, T, B, I, f32);
        if (dx && args.accumulateDx) this.rowsIn(dx, pDx, pStage, T, B, I, f32);
      }
      f32.set(dWih.subarray(0, G * I), pDWih >> 2);
      f32.set(dWhh.subarray(0, G * H), pDWhh >> 2);
      this.runSeqBackward(mt && parS, this.backwardArgs(args, L));
      const { pDgh } = L;
      // dW_hh += dghᵀ·h_prev (GRU without resetAfter: the r|z rows, then the n rows from r⊙h_prev);
      // under recurrent dropout the products saw h_prev ⊙ mask (and aux is r ⊙ h_prev ⊙ mask).
      let pHprev = L.pH + (reverse ? BH * 4 : 0);
      if (pHm) { this.k.mul_rows(pHprev, L.pMask, pHm, T, BH); pHprev = pHm; }
      const split = kind === 'gru' && !resetAfter;
      const whh = [1, 0, split ? 2 * H : G, H, TB, pDgh, G, pHprev, H, pDWhh, H, 1, pP, 0, 0];
      // With a table the input side's gate gradients are dxg's rows summed per table row: summed
      // while the first dW_hh product runs (it reads neither dxg's sums nor writes dxg).
      this.runGemmSide(mt && parWhh, whh, table ? [L.pDxg, pIds, TB, G, pS] : null);
      if (split) this.runGemm(mt && parWhh, [1, 0, H, H, TB, pDgh + 2 * H * 4, G, L.pAux, H, pDWhh + 2 * H * H * 4, H, 1, pP, 0, 0]);
      const pDxg = table ? pS : L.pDxg;
      // The bias gradients are column sums, each summed beside a product that does not read or
      // write it: dxg's (or its per-token sums') beside dW_ih's, GRU's own dgh's beside dx's.
      // LSTM and RNN: dgh is dxg, and both biases get the input side's sums.
      const ownDgh = pDgh !== L.pDxg;
      this.runGemmSide(mt && parWih, [1, 0, G, I, U, pDxg, G, pX, I, pDWih, I, 1, pP, 0, 0], dbih ? [pDxg, 0, U, G, pDb] : null);
      const dghSums = dbih && ownDgh ? [pDgh, 0, TB, G, pDb + G * 4] : null;
      if (dx) this.runGemmSide(mt && parDx, [0, 0, U, I, G, pDxg, G, pWih, I, pDx, I, +args.accumulateDx, pP, 0, 0], dghSums);
      else if (dghSums) this.k.col_sum(pDgh, TB, G, pDb + G * 4);
      // Outputs only from here on: a call rerun on one thread (lost worker) must not add twice.
      if (dbih && dbhh) {
        const sx = pDb >> 2, sh = ownDgh ? sx + G : sx;
        for (let j = 0; j < G; j++) { dbih[j] += f32[sx + j]!; dbhh[j] += f32[sh + j]!; }
      }
      if (dx && table) { if (!DX!.inPlace) dx.set(f32.subarray(pDx >> 2, (pDx >> 2) + U * I)); }
      else if (dx) this.rowsOut(pDx, dx, pStage, T, B, I, f32);
      dWih.set(f32.subarray(pDWih >> 2, (pDWih >> 2) + G * I));
      dWhh.set(f32.subarray(pDWhh >> 2, (pDWhh >> 2) + G * H));
      this.storeBackward(args, L, f32);
    });
  }

  /**
   * The row ids of scatter_add_rows at pIds, each table row's first occurrence marked ~u (the
   * kernel sets that row rather than adding to it), and the sums' rows that no id names (a table
   * of the whole vocabulary) zeroed at pS here.
   */
  private scatterIds(ids: Int32Array, n: number, rows: number, w: number, i32: Int32Array, pIds: number, f32: Float32Array, pS: number): void {
    const seen = new Uint8Array(rows), o = pIds >> 2;
    for (let r = 0; r < n; r++) {
      const u = ids[r]!;
      if (seen[u] === 1) i32[o + r] = u;
      else { seen[u] = 1; i32[o + r] = ~u; }
    }
    for (let u = 0; u < rows; u++) if (seen[u] === 0) f32.fill(0, (pS >> 2) + u * w, (pS >> 2) + (u + 1) * w);
  }

  /**
   * See Backend.stackStepper. One resident block holds the layer records (asm/kernels.ts, "stack
   * steps"), each layer's W_ih and W_hh packed for batch 1 (b1_pack) with its folded bias, b_hn,
   * two state slots and its rows, the head's kernel packed as op(B) with its bias and rows. The
   * table is read where it lies when it lies in this memory (a model's parameters), else copied.
   */
  stackStepper(spec: StackStepSpec): StackStepper {
    const { layers, head, table } = spec, nl = layers.length;
    const fail = (what: string): never => { throw new RangeError(`${this.label}: stackStepper: ${what}`); };
    if (nl === 0) fail('no layers');
    layers.forEach((l, i) => {
      const G = gateWidth(l.kind, l.H), want = i === 0 ? l.I : layers[i - 1]!.H;
      if (!(l.H >= 1 && l.I >= 1) || l.I !== want) fail(`layer ${i}: input width ${l.I}, expected ${want} (H ${l.H})`);
      this.need(this.f32(l.wih, `layer ${i} weight_ih`), G * l.I, `layer ${i} weight_ih`);
      this.need(this.f32(l.whh, `layer ${i} weight_hh`), G * l.H, `layer ${i} weight_hh`);
      if ((l.bih === null) !== (l.bhh === null)) fail(`layer ${i}: give both biases or neither`);
      if (l.bih) { this.need(this.f32(l.bih, `layer ${i} bias_ih`), G, `layer ${i} bias_ih`); this.need(this.f32(l.bhh!, `layer ${i} bias_hh`), G, `layer ${i} bias_hh`); }
    });
    const I0 = layers[0]!.I, K = layers[nl - 1]!.H, U = head.U;
    const rows = Math.floor(this.f32(table, 'table').length / I0);
    if (rows < 1) fail(`the table has ${table.length} values, fewer than one row of ${I0}`);
    if (!(U >= 1)) fail(`head U ${U}`);
    this.need(this.f32(head.w, 'head kernel'), K * U, 'head kernel');
    if (head.b) this.need(this.f32(head.b, 'head bias'), U, 'head bias');

    // The block: records, then per layer and for the head their arrays (64-byte aligned).
    let size = 0;
    const take = (bytes: number): number => { const at = size; size += align64(Math.max(bytes, 4)); return at; };
    const pDesc = take(nl * 64), pHead = take(64);
    // The table is read where it lies when it lies in this memory — but copied when its rows are
    // projected once (spec.projectTable), so that current() can tell whether they still hold.
    const ownTable = spec.projectTable ? -1 : this.addressOf(table);
    const pTable = ownTable >= 0 ? -1 : take(rows * I0 * 4);
    const at = layers.map((l) => {
      const code = KIND_CODE[l.kind], G = gateWidth(l.kind, l.H), H = l.H;
      const ih = this.k.packed_b1_copy_bytes(code, H, l.I), hh = this.k.packed_b1_copy_bytes(code, H, H);
      return {
        code, G, ih, hh, pIh: take(ih), pHh: take(hh), pBias: l.bih ? take(G * 4) : -1, pBhn: take(H * 4),
        pXg: take(G * 4), pH: take(2 * H * 4), pC: l.kind === 'lstm' ? take(2 * H * 4) : -1, pGates: take(G * 4),
        pAux: l.kind === 'gru' ? take(H * 4) : -1, pOut: take(H * 4), pGh: take(this.k.seq_forward_scratch_bytes(code, +l.resetAfter, 1, H, 0)),
      };
    });
    // The first layer's projections of every table row (spec.projectTable): what each step reads.
    const G0 = gateWidth(layers[0]!.kind, layers[0]!.H), pProj = spec.projectTable ? take(rows * G0 * 4) : -1;
    const pW = take(K * U * 4), pWp = take(this.k.packed_bytes(K, U)), pB = head.b ? take(padTo8(U) * 4) : -1;
    const pZ = take(U * 4), pY = take(U * 4), pP = take(this.k.gemm_scratch_bytes(1, U, K)), pSums = take(16);
    const base = this.allocBlock(size);
    const A = (o: number): number => (o < 0 ? 0 : base + o);
    // Each matrix's copy area, after its packing (where edge rows and a gemv projection read it).
    const copies = layers.map((l, i) => {
      const a = at[i]!;
      return { ih: A(a.pIh) + a.ih - a.G * l.I * 4, hh: A(a.pHh) + a.hh - a.G * l.H * 4 };
    });
    // SL_GEMV where the layer's own call projects one row by gemv from W_ih as it lies (layerForward's ownIh < 0).
    const gemvFlag = (l: StackStepLayer): number => (this.fixedDepth === 0 || this.addressOf(l.wih) < 0 ? SL_GEMV : 0);
    const flags = layers.map(gemvFlag);

    const f32 = new Float32Array(this.memory.buffer), i32 = new Int32Array(this.memory.buffer);
    f32.fill(0, base >> 2, (base + size) >> 2);
    const tablePtr = ownTable >= 0 ? ownTable : A(pTable);
    if (ownTable < 0) f32.set(table.subarray(0, rows * I0), tablePtr >> 2);
    layers.forEach((l, i) => {
      const a = at[i]!, H = l.H;
      // Each matrix into its copy area, then packed from there.
      f32.set(l.wih.subarray(0, a.G * l.I), copies[i]!.ih >> 2);
      this.k.b1_pack(a.code, H, l.I, A(a.pIh));
      f32.set(l.whh.subarray(0, a.G * H), copies[i]!.hh >> 2);
      this.k.b1_pack(a.code, H, H, A(a.pHh));
      if (l.bih) {
        foldBias(l.kind, H, l.bih, l.bhh!, f32.subarray(A(a.pBias) >> 2, (A(a.pBias) >> 2) + a.G));
        const bhn = gruBhn(l.kind, H, l.bhh);
        if (bhn) f32.set(bhn, A(a.pBhn) >> 2);
      }
      const r = (pDesc + i * 64 + base) >> 2;
      i32.set([
        gateCode(l), +l.resetAfter | gemvFlag(l), H, l.I, A(a.pIh), A(a.pHh), A(a.pBias), A(a.pBhn),
        i === 0 ? 0 : A(at[i - 1]!.pOut), A(a.pXg), A(a.pH), A(a.pC), A(a.pGates), A(a.pAux), A(a.pOut), A(a.pGh),
      ], r);
    });
    f32.set(head.w.subarray(0, K * U), A(pW) >> 2);
    this.k.pack_b_nr8(0, K, U, A(pW), U, A(pWp));
    if (head.b) f32.set(head.b.subarray(0, U), A(pB) >> 2);
    i32.set([U, K, A(pW), A(pWp), A(pB), A(pZ), A(pY), A(pP), A(pSums)], (base + pHead) >> 2);
    if (pProj >= 0) {
      this.k.stack_project_rows(base + pDesc, 0, tablePtr, rows, A(pProj));
      const w1 = ((base + pDesc) >> 2) + 1;
      i32[w1] = i32[w1]! | SL_TABLE;
    }
    /** The first layer's input for token id: its row of the table, or of its projections. */
    const rowOf = pProj >= 0 ? (id: number): number => A(pProj) + id * G0 * 4 : (id: number): number => tablePtr + id * I0 * 4;

    const par = layers.some((l) => this.seqParallel(1, gateWidth(l.kind, l.H), l.H));
    const args = [base + pDesc, nl, base + pHead, 0];
    let disposed = false, probs = new Float32Array(0);
    const token = {};
    blocksOfCollected?.register(token, { host: this, ptr: base, bytes: size, join: true }, token);
    const live = (): void => { if (disposed) throw new Error(`${this.label}: stackStepper: used after dispose()`); };
    /** Layer l's first state slots (float indices; c -1 without a memory cell), its arrays checked. */
    const slots = (l: number, h: Float32Array | null, c: Float32Array | null) => {
      live();
      if (!(Number.isInteger(l) && l >= 0 && l < nl)) fail(`layer ${l}: the stack has ${nl}`);
      const H = layers[l]!.H, a = at[l]!;
      if (h && h.length < H) fail(`layer ${l}'s h has ${h.length} values, needs ${H}`);
      if (c && c.length < H) fail(`layer ${l}'s c has ${c.length} values, needs ${H}`);
      return { H, h: A(a.pH) >> 2, c: a.pC < 0 ? -1 : A(a.pC) >> 2, mem: new Float32Array(this.memory.buffer) };
    };
    return {
      step: (id: number): Float32Array => {
        live();
        if (!(Number.isInteger(id) && id >= 0 && id < rows)) fail(`step(id): id must be an integer in [0, ${rows}), got ${id}`);
        args[3] = rowOf(id);
        // (A step is redone on one thread only when the worker was lost inside it, before thread
        // 0 moved the new states into the slots the step reads: the redo reads what it read.)
        this.session(par, (mt) => this.runStackStep(mt, args));
        if (probs.buffer !== this.memory.buffer) probs = new Float32Array(this.memory.buffer, A(pY), U);
        return probs;
      },
      getState: (l, h, c) => {
        const s = slots(l, h, c);
        h.set(s.mem.subarray(s.h, s.h + s.H));
        if (c) { if (s.c < 0) c.fill(0, 0, s.H); else c.set(s.mem.subarray(s.c, s.c + s.H)); }
      },
      setState: (l, h, c) => {
        const s = slots(l, h, c);
        if (h) s.mem.set(h.subarray(0, s.H), s.h); else s.mem.fill(0, s.h, s.h + s.H);
        if (s.c >= 0) { if (c) s.mem.set(c.subarray(0, s.H), s.c); else s.mem.fill(0, s.c, s.c + s.H); }
      },
      current: (next) => {
        live();
        // Bytes compared natively (Node's Buffer.compare); elsewhere false (the caller makes a new one).
        const same = (a: Float32Array, at: number, n: number): boolean =>
          a.length >= n && sameBytes(new Uint8Array(a.buffer, a.byteOffset, n * 4), new Uint8Array(this.memory.buffer, at, n * 4));
        const L = next.layers;
        if (L.length !== nl || next.head.U !== U || !!next.projectTable !== pProj >= 0 || (next.head.b === null) !== (pB < 0)) return false;
        if (next.table.length < rows * I0 || (ownTable >= 0 ? this.addressOf(next.table) !== ownTable : !same(next.table, tablePtr, rows * I0))) return false;
        if (!same(next.head.w, A(pW), K * U) || (next.head.b !== null && !same(next.head.b, A(pB), U))) return false;
        return L.every((l, i) => {
          const was = layers[i]!, a = at[i]!, H = was.H;
          if (l.kind !== was.kind || l.resetAfter !== was.resetAfter || !!l.hardSigmoid !== !!was.hardSigmoid || l.H !== H || l.I !== was.I) return false;
          if (gemvFlag(l) !== flags[i] || (l.bih === null) !== (was.bih === null)) return false;
          if (!same(l.wih, copies[i]!.ih, a.G * l.I) || !same(l.whh, copies[i]!.hh, a.G * H)) return false;
          if (!l.bih) return true;
          const folded = new Float32Array(a.G);
          foldBias(l.kind, H, l.bih, l.bhh!, folded);
          const bhn = gruBhn(l.kind, H, l.bhh);
          return same(folded, A(a.pBias), a.G) && (!bhn || same(bhn as Float32Array, A(a.pBhn), H));
        });
      },
      dispose: () => {
        if (disposed) return;
        disposed = true;
        blocksOfCollected?.unregister(token);
        this.releaseBlockAfterCalls(base, size);
      },
    };
  }

  denseForward(a: DenseForwardArgs): void {
    const { rows, K, U } = a;
    const x = this.f32(a.x, 'dense x'), w = this.f32(a.w, 'dense kernel'), z = this.f32(a.z, 'dense z');
    const b = this.optF32(a.b, 'dense bias');
    if (rows <= 0 || K <= 0 || U <= 0) { denseForwardComposed(this, a); return; }
    this.need(x, rows * K, 'dense x'); this.need(w, K * U, 'dense kernel'); this.need(z, rows * U, 'dense z');
    if (b) this.need(b, U, 'dense bias');
    // (Inside withFixedWeights the kernel is packed once, at the scope's first call.)
    const par = this.gemmParallel(rows, U, K, false, false, this.fixedDepth !== 0);
    this.session(par, (mt) => {
      const pW = this.denseKernel(w, K, U);
      this.reset();
      const X = this.placed(x, 0, rows * K), Z = this.placed(z, 0, rows * U);
      const pP = this.alloc(this.k.gemm_scratch_bytes(rows, U, K)), pB = b ? this.alloc(padTo8(U) * 4) : 0;
      const { f32 } = this.commit();
      if (!X.inPlace) f32.set(x.subarray(0, rows * K), X.p >> 2);
      if (b) f32.set(b.subarray(0, U), pB >> 2); // rows start from the bias (in the GEMM's registers)
      this.runGemm(mt && par, [0, 0, rows, U, K, X.p, K, pW.ptr, U, Z.p, U, 0, pP, pB, pW.panels]);
      if (!Z.inPlace) z.set(f32.subarray(Z.p >> 2, (Z.p >> 2) + rows * U));
    });
  }

  /**
   * A Dense kernel W [K, U] for a forward: its copy (weightPtr), and once a check has found an
   * earlier call's copy unchanged (inference), the copy packed as the product's op(B) — packed
   * again only after the copy is written — so that the product skips packing W, which for a few
   * rows (a decoder's step: one row) costs as much as the product itself. Training, whose
   * every forward finds W changed, packs it in the product's scratch as before (panels 0).
   */
  private denseKernel(w: Float32Array, K: number, U: number): { ptr: number; panels: number } {
    const slot = this.weightSlot(w, K * U, false);
    const fresh = slot.fresh;
    const stale = this.slotStale(slot, w);
    if (stale) this.refreshSlot(slot, w);
    if (fresh || stale) return { ptr: slot.ptr, panels: 0 };
    const panels = this.slotPanels(slot, false, K, U);
    if (panels.gen !== slot.gen) this.packPanels(slot);
    return { ptr: slot.ptr, panels: panels.ptr };
  }

  denseBackward(a: DenseBackwardArgs): void {
    const { rows, K, U } = a;
    const x = this.f32(a.x, 'dense x'), w = this.f32(a.w, 'dense kernel'), dz = this.f32(a.dz, 'dense dz');
    const dW = this.f32(a.dW, 'dense dW'), db = this.optF32(a.db, 'dense db'), dx = this.optF32(a.dx, 'dense dx');
    if (rows <= 0 || K <= 0 || U <= 0) { denseBackwardComposed(this, a); return; }
    this.need(x, rows * K, 'dense x'); this.need(w, K * U, 'dense kernel'); this.need(dz, rows * U, 'dense dz');
    this.need(dW, K * U, 'dense dW');
    if (db) this.need(db, U, 'dense db');
    if (dx) this.need(dx, rows * K, 'dense dx');
    const parW = this.gemmParallel(K, U, rows), parX = dx !== null && this.gemmParallel(rows, K, U, false, this.rowsByGemv(false, true, rows, U));
    this.session(parW || parX, (mt) => {
      const pW = dx ? this.weightPtr(w, K * U) : 0;
      this.reset();
      const X = this.placed(x, 0, rows * K), DZ = this.placed(dz, 0, rows * U);
      const pDW = this.alloc(K * U * 4), pDb = this.alloc(U * 4), DX = dx ? this.placed(dx, 0, rows * K) : null;
      const pP = this.alloc(Math.max(this.k.gemm_scratch_bytes(K, U, rows), this.k.gemm_scratch_bytes(rows, K, U)));
      const { f32 } = this.commit();
      if (!X.inPlace) f32.set(x.subarray(0, rows * K), X.p >> 2);
      if (!DZ.inPlace) f32.set(dz.subarray(0, rows * U), DZ.p >> 2);
      f32.set(dW.subarray(0, K * U), pDW >> 2);
      // db (dz's column sums) beside dx's product, or beside dW's.
      const dbSums = db ? [DZ.p, 0, rows, U, pDb] : null;
      this.runGemmSide(mt && parW, [1, 0, K, U, rows, X.p, K, DZ.p, U, pDW, U, 1, pP, 0, 0], DX ? null : dbSums);
      // dx is written whole (where it lies, for an activationBuffer view): a rerun writes it again.
      if (DX) this.runGemmSide(mt && parX, [0, 1, rows, K, U, DZ.p, U, pW, U, DX.p, K, 0, pP, 0, 0], dbSums);
      // Outputs only from here on (a call rerun on one thread must not add twice).
      dW.set(f32.subarray(pDW >> 2, (pDW >> 2) + K * U));
      if (db) for (let j = 0; j < U; j++) db[j] += f32[(pDb >> 2) + j]!;
      if (dx && !DX!.inPlace) dx.set(f32.subarray(DX!.p >> 2, (DX!.p >> 2) + rows * K));
    });
  }

  /**
   * One kernel from n floats of each input into n floats of y, on this thread: each array read
   * where it lies (activation buffers) or copied in and out; y may be one of the inputs.
   */
  private mapInto(ins: Float32Array[], y: Float32Array, n: number, run: (p: number[], py: number) => void): void {
    if (n === 0) return;
    this.session(false, () => {
      this.reset();
      const X = ins.map((x) => this.placed(x, 0, n)), yi = ins.indexOf(y);
      const Y = yi >= 0 ? X[yi]! : this.placed(y, 0, n);
      const { f32 } = this.commit();
      X.forEach((P, i) => { if (!P.inPlace) f32.set(ins[i]!.subarray(0, n), P.p >> 2); });
      run(X.map((P) => P.p), Y.p);
      if (!Y.inPlace) y.set(f32.subarray(Y.p >> 2, (Y.p >> 2) + n));
    });
  }

  tanh(x: Float32Array, y: Float32Array): void {
    this.f32(x, 'tanh x'); this.f32(y, 'tanh y');
    const n = x.length;
    if (y.length !== n) throw new RangeError(`${this.label}: tanh y has ${y.length} values, x ${n}`);
    this.mapInto([x], y, n, ([px], py) => this.k.approx_activation(0, px!, py, n));
  }

  additiveScores(B: number, Tq: number, Tv: number, A: number, pq: Float32Array, pk: Float32Array, w: Float32Array, s: Float32Array): void {
    this.need(pq, B * Tq * A, 'additive pq'); this.need(pk, B * Tv * A, 'additive pk'); this.need(w, A, 'additive w'); this.need(s, B * Tq * Tv, 'additive s');
    if (B * Tq * Tv === 0) return;
    this.session(false, () => {
      this.reset();
      const pQ = this.alloc(B * Tq * A * 4), pK = this.alloc(B * Tv * A * 4), pW = this.alloc(A * 4), pS = this.alloc(B * Tq * Tv * 4);
      const { f32 } = this.commit();
      f32.set(pq.subarray(0, B * Tq * A), pQ >> 2); f32.set(pk.subarray(0, B * Tv * A), pK >> 2); f32.set(w.subarray(0, A), pW >> 2);
      this.k.additive_scores(B, Tq, Tv, A, pQ, pK, pW, pS);
      s.set(f32.subarray(pS >> 2, (pS >> 2) + B * Tq * Tv));
    });
  }

  additiveScoresBackward(
    B: number, Tq: number, Tv: number, A: number, pq: Float32Array, pk: Float32Array, w: Float32Array, ds: Float32Array,
    dpq: Float32Array, dpk: Float32Array, dw: Float32Array,
  ): void {
    this.need(pq, B * Tq * A, 'additive pq'); this.need(pk, B * Tv * A, 'additive pk'); this.need(w, A, 'additive w'); this.need(ds, B * Tq * Tv, 'additive ds');
    this.need(dpq, B * Tq * A, 'additive dpq'); this.need(dpk, B * Tv * A, 'additive dpk'); this.need(dw, A, 'additive dw');
    if (B * Tq * Tv === 0) return;
    this.session(false, () => {
      this.reset();
      const nq = B * Tq * A, nk = B * Tv * A;
      const pQ = this.alloc(nq * 4), pK = this.alloc(nk * 4), pW = this.alloc(A * 4), pS = this.alloc(B * Tq * Tv * 4);
      const pDQ = this.alloc(nq * 4), pDK = this.alloc(nk * 4), pDW = this.alloc(A * 4);
      const { f32 } = this.commit();
      f32.set(pq.subarray(0, nq), pQ >> 2); f32.set(pk.subarray(0, nk), pK >> 2); f32.set(w.subarray(0, A), pW >> 2);
      f32.set(ds.subarray(0, B * Tq * Tv), pS >> 2);
      f32.set(dpq.subarray(0, nq), pDQ >> 2); f32.set(dpk.subarray(0, nk), pDK >> 2); f32.set(dw.subarray(0, A), pDW >> 2);
      this.k.additive_scores_backward(B, Tq, Tv, A, pQ, pK, pW, pS, pDQ, pDK, pDW);
      dpq.set(f32.subarray(pDQ >> 2, (pDQ >> 2) + nq)); dpk.set(f32.subarray(pDK >> 2, (pDK >> 2) + nk)); dw.set(f32.subarray(pDW >> 2, (pDW >> 2) + A));
    });
  }

  attentionPoolForward(p: PoolForwardArgs): void {
    const { B, T, D, A } = p, BT = B * T;
    const h = this.f32(p.h, 'pool h'), u = this.f32(p.u, 'pool u'), y = this.f32(p.y, 'pool y'), a = this.f32(p.a, 'pool a');
    this.need(h, BT * D, 'pool h'); this.need(u, BT * A, 'pool u'); this.need(a, BT, 'pool a'); this.need(y, B * D, 'pool y');
    this.need(p.wk, D * A, 'pool W_k'); this.need(p.b, A, 'pool b'); this.need(p.w, A, 'pool w');
    if (p.mask && p.mask.length < BT) throw new RangeError(`${this.label}: pool mask has ${p.mask.length} values, needs ${BT}`);
    if (BT === 0 || D === 0 || A === 0) { y.fill(0, 0, B * D); a.fill(0, 0, BT); return; }
    const par = this.gemmParallel(BT, A, D);
    this.session(par, (mt) => {
      this.reset();
      const H = this.placed(h, 0, BT * D), U = this.placed(u, 0, BT * A);
      const pWk = this.alloc(D * A * 4), pB = this.alloc(padTo8(A) * 4), pW = this.alloc(A * 4);
      const pA = this.alloc(BT * 4), pY = this.alloc(B * D * 4), pM = p.mask ? this.alloc(BT) : 0;
      const pP = this.alloc(this.k.gemm_scratch_bytes(BT, A, D));
      const { f32 } = this.commit();
      if (!H.inPlace) f32.set(h.subarray(0, BT * D), H.p >> 2);
      f32.set(p.wk.subarray(0, D * A), pWk >> 2); f32.set(p.b.subarray(0, A), pB >> 2); f32.set(p.w.subarray(0, A), pW >> 2);
      if (p.mask) new Uint8Array(f32.buffer, pM, BT).set(p.mask.subarray(0, BT));
      this.runGemm(mt && par, [0, 0, BT, A, D, H.p, D, pWk, A, U.p, A, 0, pP, pB, 0]); // z = h·W_k + b, rows from the bias
      this.k.pool_forward(B, T, A, D, U.p, pW, pM, H.p, pA, pY);
      if (!U.inPlace) u.set(f32.subarray(U.p >> 2, (U.p >> 2) + BT * A));
      a.set(f32.subarray(pA >> 2, (pA >> 2) + BT));
      y.set(f32.subarray(pY >> 2, (pY >> 2) + B * D));
    });
  }

  attentionPoolBackward(p: PoolBackwardArgs): void {
    const { B, T, D, A } = p, BT = B * T;
    const h = this.f32(p.h, 'pool h'), u = this.f32(p.u, 'pool u'), dh = this.optF32(p.dh, 'pool dh');
    this.need(h, BT * D, 'pool h'); this.need(u, BT * A, 'pool u'); this.need(p.a, BT, 'pool a'); this.need(p.dy, B * D, 'pool dy');
    this.need(p.wk, D * A, 'pool W_k'); this.need(p.w, A, 'pool w'); this.need(p.dwk, D * A, 'pool dW_k'); this.need(p.db, A, 'pool db'); this.need(p.dw, A, 'pool dw');
    if (dh) this.need(dh, BT * D, 'pool dh');
    if (BT === 0 || D === 0 || A === 0) { dh?.fill(0, 0, BT * D); return; }
    const parW = this.gemmParallel(D, A, BT), parH = dh !== null && this.gemmParallel(BT, D, A);
    this.session(parW || parH, (mt) => {
      this.reset();
      const H = this.placed(h, 0, BT * D), U = this.placed(u, 0, BT * A), DH = dh ? this.placed(dh, 0, BT * D) : null;
      const pA = this.alloc(BT * 4), pDy = this.alloc(B * D * 4), pW = this.alloc(A * 4), pWk = this.alloc(D * A * 4);
      const pDz = this.alloc(BT * A * 4), pDWk = this.alloc(D * A * 4), pDw = this.alloc(A * 4), pDb = this.alloc(A * 4), pDA = this.alloc(T * 4);
      const pP = this.alloc(Math.max(this.k.gemm_scratch_bytes(D, A, BT), this.k.gemm_scratch_bytes(BT, D, A)));
      const { f32 } = this.commit();
      if (!H.inPlace) f32.set(h.subarray(0, BT * D), H.p >> 2);
      if (!U.inPlace) f32.set(u.subarray(0, BT * A), U.p >> 2);
      f32.set(p.a.subarray(0, BT), pA >> 2); f32.set(p.dy.subarray(0, B * D), pDy >> 2);
      f32.set(p.w.subarray(0, A), pW >> 2); f32.set(p.wk.subarray(0, D * A), pWk >> 2); f32.set(p.dwk.subarray(0, D * A), pDWk >> 2);
      f32.fill(0, pDw >> 2, (pDw >> 2) + A); f32.fill(0, pDb >> 2, (pDb >> 2) + A);
      this.k.pool_backward(B, T, A, D, U.p, pW, H.p, pA, pDy, pDz, DH ? DH.p : 0, pDw, pDb, pDA);
      this.runGemm(mt && parW, [1, 0, D, A, BT, H.p, D, pDz, A, pDWk, A, 1, pP, 0, 0]); // dW_k += hᵀ·dz
      if (DH) this.runGemm(mt && parH, [0, 1, BT, D, A, pDz, A, pWk, A, DH.p, D, 1, pP, 0, 0]); // dh += dz·W_kᵀ
      p.dwk.set(f32.subarray(pDWk >> 2, (pDWk >> 2) + D * A));
      for (let c = 0; c < A; c++) { p.dw[c] += f32[(pDw >> 2) + c]!; p.db[c] += f32[(pDb >> 2) + c]!; }
      if (dh && !DH!.inPlace) dh.set(f32.subarray(DH!.p >> 2, (DH!.p >> 2) + BT * D));
    });
  }

  softmaxRows(x: Float32Array, y: Float32Array, rows: number, k: number, lse: Float64Array): void {
    this.f32(x, 'softmax x'); this.f32(y, 'softmax y');
    if (rows <= 0 || k <= 0) return;
    this.need(x, rows * k, 'softmax x'); this.need(y, rows * k, 'softmax y');
    if (lse.length < rows) throw new RangeError(`${this.label}: softmax lse has ${lse.length} entries, needs ${rows}`);
    // (Two threads only out of place: a call redone on one thread after the worker was lost reads x again.)
    this.session(x !== y && this.elementwiseParallel(rows * k), (mt) => {
      this.reset();
      const X = this.placed(x, 0, rows * k), Y = this.placed(y, 0, rows * k), pS = this.alloc(rows * 8);
      const { f32 } = this.commit();
      if (!X.inPlace) f32.set(x.subarray(0, rows * k), X.p >> 2);
      this.runSoftmax(mt, [X.p, Y.p, rows, k, pS]);
      if (!Y.inPlace) y.set(f32.subarray(Y.p >> 2, (Y.p >> 2) + rows * k));
      for (let r = 0, s = pS >> 2; r < rows; r++, s += 2) lse[r] = f32[s]! + Math.log(f32[s + 1]!);
    });
  }

  addInto(a: Float32Array, b: Float32Array, out: Float32Array): void {
    const n = a.length;
    this.need(b, n, 'add b'); this.need(out, n, 'add out');
    this.mapInto([a, b], out, n, ([pa, pb], po) => this.k.add_into(pa!, pb!, po, n));
  }

  relu(x: Float32Array, y: Float32Array): void {
    const n = x.length;
    this.need(y, n, 'relu y');
    this.mapInto([x], y, n, ([px], py) => this.k.relu_forward(px!, py, n));
  }

  reluBackward(x: Float32Array, dy: Float32Array, dz: Float32Array): void {
    const n = x.length;
    this.need(dy, n, 'relu dy'); this.need(dz, n, 'relu dz');
    this.mapInto([x, dy], dz, n, ([px, pdy], pdz) => this.k.relu_backward(px!, pdy!, pdz, n));
  }

  layerNormForward(x: Float32Array, rows: number, D: number, eps: number, gamma: Float32Array | null, beta: Float32Array | null, y: Float32Array, xhat: Float32Array, r: Float64Array): void {
    const n = rows * D;
    if (n <= 0) return;
    this.need(x, n, 'layerNorm x'); this.need(y, n, 'layerNorm y'); this.need(xhat, n, 'layerNorm xhat');
    if (r.length < rows) throw new RangeError(`${this.label}: layerNorm r has ${r.length} entries, needs ${rows}`);
    this.session(false, () => {
      this.reset();
      const X = this.placed(x, 0, n), Y = this.placed(y, 0, n), XH = this.placed(xhat, 0, n);
      const pG = gamma ? this.alloc(D * 4) : 0, pB = beta ? this.alloc(D * 4) : 0, pR = this.alloc(rows * 8);
      const { f32 } = this.commit();
      if (!X.inPlace) f32.set(x.subarray(0, n), X.p >> 2);
      if (gamma) f32.set(gamma.subarray(0, D), pG >> 2);
      if (beta) f32.set(beta.subarray(0, D), pB >> 2);
      this.k.layer_norm_forward(X.p, rows, D, eps, pG, pB, Y.p, XH.p, pR);
      if (!Y.inPlace) y.set(f32.subarray(Y.p >> 2, (Y.p >> 2) + n));
      if (!XH.inPlace) xhat.set(f32.subarray(XH.p >> 2, (XH.p >> 2) + n));
      r.set(new Float64Array(this.memory.buffer, pR, rows));
    });
  }

  layerNormBackward(dy: Float32Array, rows: number, D: number, xhat: Float32Array, r: Float64Array, gamma: Float32Array | null, dgamma: Float32Array | null, dbeta: Float32Array | null, dx: Float32Array | null): void {
    const n = rows * D;
    if (n <= 0) return;
    this.need(dy, n, 'layerNorm dy'); this.need(xhat, n, 'layerNorm xhat');
    if (dx) this.need(dx, n, 'layerNorm dx');
    this.session(false, () => {
      this.reset();
      const DY = this.placed(dy, 0, n), XH = this.placed(xhat, 0, n), DX = dx ? this.placed(dx, 0, n) : null;
      const pR = this.alloc(rows * 8), pG = gamma ? this.alloc(D * 4) : 0;
      const pDG = dgamma ? this.alloc(D * 4) : 0, pDB = dbeta ? this.alloc(D * 4) : 0, pAcc = this.alloc(D * 16);
      const { f32 } = this.commit();
      if (!DY.inPlace) f32.set(dy.subarray(0, n), DY.p >> 2);
      if (!XH.inPlace) f32.set(xhat.subarray(0, n), XH.p >> 2);
      new Float64Array(this.memory.buffer, pR, rows).set(r.subarray(0, rows));
      if (gamma) f32.set(gamma.subarray(0, D), pG >> 2);
      if (dgamma) f32.set(dgamma.subarray(0, D), pDG >> 2);
      if (dbeta) f32.set(dbeta.subarray(0, D), pDB >> 2);
      this.k.layer_norm_backward(DY.p, rows, D, XH.p, pR, pG, pDG, pDB, DX ? DX.p : 0, pAcc);
      if (dgamma) dgamma.set(f32.subarray(pDG >> 2, (pDG >> 2) + D));
      if (dbeta) dbeta.set(f32.subarray(pDB >> 2, (pDB >> 2) + D));
      if (dx && !DX!.inPlace) dx.set(f32.subarray(DX!.p >> 2, (DX!.p >> 2) + n));
    });
  }

  swapAxes(src: Float32Array, dst: Float32Array, outer: number, n1: number, n2: number, w: number): void {
    this.f32(src, 'swapAxes src'); this.f32(dst, 'swapAxes dst');
    const n = outer * n1 * n2 * w;
    if (n <= 0) return;
    this.need(src, n, 'swapAxes src'); this.need(dst, n, 'swapAxes dst');
    this.mapInto([src], dst, n, ([ps], pd) => this.k.swap_axes(ps!, pd, outer, n1, n2, w));
  }

  gatherRows(src: Float32Array, ids: Int32Array, n: number, w: number, dst: Float32Array): boolean {
    return this.rowsAt(src, ids, n, w, dst, 'gatherRows', false);
  }

  addRowsAt(dst: Float32Array, ids: Int32Array, n: number, w: number, src: Float32Array): boolean {
    return this.rowsAt(dst, ids, n, w, src, 'addRowsAt', true);
  }

  /**
   * gatherRows (rows `ids` of `table` into `rows`) and addRowsAt (`rows` added to rows `ids` of
   * `table`), where both arrays lie in this memory: false, doing nothing, for any other array.
   */
  private rowsAt(table: Float32Array, ids: Int32Array, n: number, w: number, rows: Float32Array, what: string, add: boolean): boolean {
    const pTable = this.addressOf(this.f32(table, `${what} table`)), pRows = this.addressOf(this.f32(rows, `${what} rows`));
    if (pTable < 0 || pRows < 0) return false;
    if (n <= 0 || w <= 0) return true;
    this.need(ids, n, `${what} ids`); this.need(rows, n * w, `${what} rows`);
    const tableRows = Math.floor(table.length / w);
    for (let r = 0; r < n; r++) {
      const u = ids[r]!;
      if (!(u >= 0 && u < tableRows)) throw new RangeError(`${this.label}: ${what} ids[${r}] = ${u} is outside the table's rows [0, ${tableRows})`);
    }
    this.session(false, () => {
      this.reset();
      const pIds = this.alloc(n * 4);
      const { i32 } = this.commit();
      i32.set(ids.subarray(0, n), pIds >> 2);
      if (add) this.k.scatter_add_rows(pRows, pIds, n, w, pTable);
      else this.k.gather_rows(pTable, pIds, n, w, pRows);
    });
    return true;
  }

  sparseXentGrad(probs: Float32Array, targets: Int32Array, rows: number, k: number, scale: number, grad: Float32Array): void {
    this.f32(probs, 'xent probs'); this.f32(grad, 'xent grad');
    if (rows <= 0 || k <= 0) return;
    this.need(probs, rows * k, 'xent probs'); this.need(grad, rows * k, 'xent grad'); this.need(targets, rows, 'xent targets');
    this.session(false, () => {
      this.reset();
      const P = this.placed(probs, 0, rows * k), G = this.placed(grad, 0, rows * k), pT = this.alloc(rows * 4);
      const { f32, i32 } = this.commit();
      if (!P.inPlace) f32.set(probs.subarray(0, rows * k), P.p >> 2);
      i32.set(targets.subarray(0, rows), pT >> 2);
      this.k.xent_grad(P.p, pT, rows, k, scale, G.p);
      if (!G.inPlace) grad.set(f32.subarray(G.p >> 2, (G.p >> 2) + rows * k));
    });
  }

  adamUpdate(a: AdamUpdateArgs): void {
    const p = this.f32(a.params, 'adam params'), n = p.length;
    const g = this.f32(a.grads, 'adam grads'), m = this.f32(a.m, 'adam m'), v = this.f32(a.v, 'adam v');
    const vh = this.optF32(a.vh, 'adam vh');
    for (const [x, what] of [[g, 'grads'], [m, 'm'], [v, 'v'], [vh, 'vh']] as const) {
      if (x !== null && x.length !== n) throw new RangeError(`${this.label}: adam ${what} has ${x.length} values, params ${n}`);
    }
    if (n === 0) { a.gate?.(0); return; } // (nothing to update: the gate only hears the norm)
    const keep = a.keep === true && vh === null;
    // Without keep the arrays are the state: kept copies of them go back first, and are dropped.
    if (!keep) this.adamSync(m, v, true);
    // The gate's answer, asked once (a call rerun on one thread asks again only if it had not);
    // gradients that lie in this memory are scaled where they lie, once.
    let scale: number | null | undefined, scaledInPlace = false;
    this.session(this.elementwiseParallel(n), (mt) => {
      const slot = keep ? this.adamSlot(m, v, n) : null; // (before reset: it may allocate a block)
      this.reset();
      // Parameters and gradients that lie in this memory (a model's flat buffers, see
      // residentArray) are read where they lie; the new parameters then go to a scratch block and
      // over the old ones only once the update is done, so that a call rerun on one thread (lost
      // worker) starts over from the same values. Elsewhere they are copied in and out.
      const P = this.placed(p, 0, n), G = this.placed(g, 0, n), pPo = P.inPlace ? this.alloc(n * 4) : P.p;
      const pM = slot ? slot.at(0) : this.alloc(n * 4), pV = slot ? slot.at(1) : this.alloc(n * 4);
      const pVh = vh ? this.alloc(n * 4) : 0, pCf = this.alloc(64);
      const { f32 } = this.commit();
      if (!P.inPlace) f32.set(p, P.p >> 2);
      if (!G.inPlace) f32.set(g, G.p >> 2);
      if (!slot) { f32.set(m, pM >> 2); f32.set(v, pV >> 2); }
      if (vh) f32.set(vh, pVh >> 2);
      new Float64Array(f32.buffer, pCf, 8).set([a.beta1, 1 - a.beta1, a.beta2, 1 - a.beta2, a.alpha, a.epsilon, a.l2, a.shrink]);
      if (a.gate) {
        // The norm from the copy the update reads anyway (no pass over the JavaScript array).
        if (scale === undefined) scale = a.gate(this.k.sum_squares(G.p, n));
        if (scale === null) return;
        if (scale !== 1 && !scaledInPlace) { this.k.scale_f64(G.p, n, scale); scaledInPlace = G.inPlace; }
      }
      // Kept slots: read from one pair, written to the other.
      this.runAdam(mt, [P.p, G.p, pM, pV, pVh, n, pCf, slot ? slot.at(2) : pM, slot ? slot.at(3) : pV, pPo]);
      // The buffers are written (and the kept pairs swapped) only now: a call rerun on one thread
      // (lost worker) starts over from the same values.
      if (P.inPlace) f32.copyWithin(P.p >> 2, pPo >> 2, (pPo >> 2) + n);
      else p.set(f32.subarray(pPo >> 2, (pPo >> 2) + n));
      if (slot) {
        slot.cur ^= 1;
        slot.stale = true;
      } else {
        m.set(f32.subarray(pM >> 2, (pM >> 2) + n));
        v.set(f32.subarray(pV >> 2, (pV >> 2) + n));
      }
      if (vh) vh.set(f32.subarray(pVh >> 2, (pVh >> 2) + n));
      if (scale !== undefined && scale !== null && scale !== 1 && !G.inPlace) g.set(f32.subarray(G.p >> 2, (G.p >> 2) + n));
    });
  }

  /** Adam's m and v kept between steps (AdamUpdateArgs.keep), found by the arrays they stand for. */
  private adamSlots: AdamSlot[] = [];
  /**
   * At most this many optimisers' m and v kept, in at most this many bytes (four arrays each): the
   * least recently used go back to their arrays (a sweep of models need not pile them up before
   * the garbage collector takes the old arrays). Internal; tests lower them.
   */
  maxAdamSlots = 8;
  private adamUses = 0;
  maxAdamBytes = 512 * 2 ** 20;

  /**
   * The kept slot of (m, v): found, or made with copies of the arrays (after dropping slots of
   * collected arrays, and the least recently used beyond the limits, written back first).
   */
  private adamSlot(m: Float32Array, v: Float32Array, n: number): AdamSlot {
    let found: AdamSlot | undefined, kept = 0;
    for (let i = 0; i < this.adamSlots.length; i++) {
      const s = this.adamSlots[i]!, sm = s.m.deref(), sv = s.v.deref();
      if (sm === undefined || sv === undefined) { this.releaseBlock(s.ptr, s.bytes); this.adamSlots.splice(i--, 1); continue; }
      if (sm === m && sv === v && s.n === n) found = s;
      kept += s.bytes;
    }
    const use = ++this.adamUses;
    if (found) { found.used = use; return found; }
    const nb = align64(n * 4);
    while (this.adamSlots.length > 0 && (this.adamSlots.length >= this.maxAdamSlots || kept + 4 * nb > this.maxAdamBytes)) {
      const lru = this.adamSlots.reduce((a, b) => (b.used < a.used ? b : a));
      kept -= lru.bytes;
      this.adamSync(lru.m.deref()!, lru.v.deref()!, true);
    }
    const ptr = this.allocBlock(4 * nb);
    const slot: AdamSlot = {
      m: new WeakRef(m), v: new WeakRef(v), n, ptr, bytes: 4 * nb, cur: 0, stale: false, used: use,
      // Pointer of m (0), v (1) of the current pair, m (2), v (3) of the other.
      at(k: number): number { return this.ptr + ((this.cur * 2 + k) % 4) * nb; },
    };
    new Float32Array(this.memory.buffer, slot.at(0), n).set(m);
    new Float32Array(this.memory.buffer, slot.at(1), n).set(v);
    this.adamSlots.push(slot);
    return slot;
  }

  adamSync(m: Float32Array, v: Float32Array, drop: boolean): void {
    const i = this.adamSlots.findIndex((s) => s.m.deref() === m && s.v.deref() === v);
    if (i < 0) return;
    const s = this.adamSlots[i]!;
    if (s.stale) {
      m.set(new Float32Array(this.memory.buffer, s.at(0), s.n));
      v.set(new Float32Array(this.memory.buffer, s.at(1), s.n));
      s.stale = false;
    }
    if (drop) {
      this.adamSlots.splice(i, 1);
      this.releaseBlock(s.ptr, s.bytes);
    }
  }

  // ---- batch-first rows ----

  /**
   * Copies T·B rows of w floats from `src` to compact time-major rows at `dst` in linear memory:
   * as they are, or — with a staging block `stage` (batch-first rows; 0 when time-major) — in
   * one bulk copy and a reorder in wasm.
   */
  private rowsIn(src: Float32Array, dst: number, stage: number, T: number, B: number, w: number, f32: Float32Array): void {
    f32.set(src.subarray(0, T * B * w), (stage || dst) >> 2);
    if (stage) this.k.reorder_rows(stage, dst, T, B, w, 0);
  }

  /** The reverse of rowsIn: time-major rows at `src` out to `dst` (batch-first when `stage`). */
  private rowsOut(src: number, dst: Float32Array, stage: number, T: number, B: number, w: number, f32: Float32Array): void {
    if (stage) this.k.reorder_rows(src, stage, T, B, w, 1);
    const p = (stage || src) >> 2;
    dst.set(f32.subarray(p, p + T * B * w));
  }

  // ---- the sequence loop's data: checks, layout, copies ----

  /** Checks what a forward loop reads and writes; returns the cache as float32 (or null). */
  private checkForward(a: SeqForwardArgs | LayerForwardArgs, c: SeqForwardArgs['cache'] | null) {
    const { kind, T, B, H, lengths, outOffset, ldOut } = a;
    const whh = this.f32(a.whh, 'whh'), h0 = this.f32(a.h0, 'h0'), out = this.f32(a.out, 'out');
    const c0 = this.optF32(a.c0, 'c0');
    if ('bhn' in a && a.bhn) this.f32(a.bhn, 'bhn');
    const cache = c && {
      h: this.f32(c.h, 'cache.h'), c: this.f32(c.c, 'cache.c'),
      gates: this.f32(c.gates, 'cache.gates'), aux: this.f32(c.aux, 'cache.aux'),
    };
    if (T <= 0 || B <= 0 || H <= 0) return cache;
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    this.need(whh, G * H, 'whh'); this.need(h0, BH, 'h0');
    this.need(out, outOffset + (TB - 1) * ldOut + H, 'out');
    if (kind === 'lstm') { if (!c0) throw new TypeError(`${this.label}: LSTM needs c0`); this.need(c0, BH, 'c0'); }
    if (lengths) this.need(lengths, B, 'lengths');
    if (cache) this.needCache(kind, T, B, H, cache);
    this.checkMask(a);
    return cache;
  }

  /** The recurrent-dropout mask, if any: float32, B×H. */
  private checkMask(a: { B: number; H: number; hMask?: F | null }): void {
    if (a.hMask) this.need(this.f32(a.hMask, 'hMask'), a.B * a.H, 'hMask');
  }

  private needCache(kind: CellKind, T: number, B: number, H: number, c: { h: F; c: F; gates: F; aux: F }): void {
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    this.need(c.h, (T + 1) * BH, 'cache.h');
    if (kind === 'lstm') this.need(c.c, (T + 1) * BH, 'cache.c');
    if (kind === 'lstm' || kind === 'gru') this.need(c.gates, TB * G, 'cache.gates');
    if (kind === 'gru') this.need(c.aux, TB * H, 'cache.aux');
  }

  /**
   * W_ih (G x I floats of `wih`) for a layer's input projection. With `speculate` (the projection
   * runs on two threads) and a copy found current at the last projection's check, the check waits
   * for settle(), run while the worker already projects with the copy; if it finds the copy stale,
   * redo() refreshes it and the caller projects again. Otherwise the copy is checked now (as
   * weightPtr) and redo() is false. Inference, whose weights do not change, so starts the
   * projection without waiting for the compare; training, whose every forward finds W_ih changed,
   * keeps checking first (the last outcome decides), and pays one projection again when a change
   * follows unchanged calls.
   * `packed` (a product that packs op(B), not rows by gemv): once a check has found an earlier
   * call's copy unchanged, it is also kept packed as the product's op(B) (`panels`), packed again
   * only after the copy is written, so that inference calls skip the packing — and its cost beyond the
   * packing itself on two threads: each core then reads the half of the panels that the other
   * core wrote, out of the other core's cache (64 x 1024 x 64 on two threads measured 110 µs with
   * the packing, 81-92 without, one thread 150).
   * W_ih lying in this memory whose panels are current is checked by the product itself (`check`,
   * gemm_checked): each thread compares its blocks of rows with the copy, beside nothing on the
   * main thread, and packs again what changed.
   */
  private wihForward(wih: Float32Array, G: number, I: number, speculate: boolean, packed: boolean): WihForProjection {
    const slot = this.weightSlot(wih, G * I, false);
    // (Not for a copy made in this call: training, whose W_ih changes at every call, never packs it.)
    packed &&= !slot.fresh;
    const own = this.addressOf(wih), trusted = this.fixedDepth !== 0 && slot.fixed === this.fixedScope;
    if (own >= 0 && packed && !trusted) {
      const panels = this.slotPanels(slot, true, I, G);
      if (panels.gen === slot.gen) {
        slot.fixed = this.fixedScope; // (compared in this scope, as slotStale records)
        // In doubt until the product has run: a call lost between a block's copy and its packing
        // leaves panels that the next check would take for current, so the next call packs anew.
        panels.gen = -1;
        const checked = (changed: boolean): void => {
          slot.missed = changed;
          if (changed) slot.gen++;
          panels.gen = slot.gen;
        };
        return { ptr: slot.ptr, panels: panels.ptr, settle: () => {}, redo: () => false, check: { src: own, checked } };
      }
    }
    if (!speculate || slot.missed) {
      slot.missed = this.slotStale(slot, wih);
      if (slot.missed) this.refreshSlot(slot, wih);
      const panels = packed && !slot.missed ? this.slotPanels(slot, true, I, G) : null;
      if (panels && panels.gen !== slot.gen) this.packPanels(slot);
      return { ptr: slot.ptr, panels: panels ? panels.ptr : 0, settle: () => {}, redo: () => false, check: null };
    }
    // (slot.missed is false until settle() finds the copy stale.) The panels are used if they
    // were packed from the copy as it is; else packed once settle() has found the copy current.
    const panels = packed ? this.slotPanels(slot, true, I, G) : null;
    const current = panels !== null && panels.gen === slot.gen;
    return {
      ptr: slot.ptr, panels: current ? panels.ptr : 0, check: null,
      settle: () => { slot.missed = this.slotStale(slot, wih); },
      redo: () => {
        if (slot.missed) this.refreshSlot(slot, wih);
        else if (panels && !current) this.packPanels(slot);
        return slot.missed;
      },
    };
  }

  /**
   * A slot's panels for op(B) of K x N (trans: the copy is N rows of K floats, as W_ih; else K
   * rows of N, as a Dense kernel): made, not yet packed, if it had none or had them for another shape.
   */
  private slotPanels(slot: WeightSlot, trans: boolean, K: number, N: number): NonNullable<WeightSlot['panels']> {
    if (slot.panels && (slot.panels.K !== K || slot.panels.trans !== trans)) this.dropPanels(slot);
    if (!slot.panels) {
      const bytes = align64(this.k.packed_bytes(K, N));
      slot.panels = { ptr: this.allocBlock(bytes), bytes, K, trans, gen: -1 };
      this.weightSlotBytes += bytes;
    }
    return slot.panels;
  }

  /** Packs a slot's copy into its panels (slotPanels' shape). */
  private packPanels(slot: WeightSlot): void {
    const p = slot.panels!, K = p.K, N = slot.bytes / 4 / K;
    this.k.pack_b_nr8(+p.trans, K, N, slot.ptr, p.trans ? K : N, p.ptr);
    p.gen = slot.gen;
  }

  /**
   * W_hh for a forward loop: its copy, and at batch 1 the copy packed in blocks of rows (whhPacked).
   * defer: its slot is found or made now (before the call's reset()), and
   * compared with W_hh only at settle() — while the worker projects the inputs, which do not read it.
   */
  private whhForward(a: SeqForwardArgs | LayerForwardArgs, defer = false): WhhForLoop {
    const whh = this.f32(a.whh, 'whh'), own = this.addressOf(whh);
    if (own >= 0) {
      // Where it lies: nothing to copy or compare (at batch 1 the loop checks its packing).
      if (a.B === 1) return this.b1InPlace(own, a.kind, a.H);
      return { pW: own, pWP: 0, repack: B1_CURRENT, packed: () => {}, settle: () => {} };
    }
    if (a.B === 1) return this.whhPacked(whh, a.kind, a.H, defer);
    const slot = this.weightSlot(whh, gateWidth(a.kind, a.H) * a.H, !defer);
    return { pW: slot.ptr, pWP: 0, repack: B1_CURRENT, packed: () => {}, settle: () => { if (defer) this.checkSlot(slot, whh); } };
  }

  /** I > 0: the loop projects its input rows of I features step by step (forwardArgs' `project`). */
  private layoutForward(
    a: SeqForwardArgs | LayerForwardArgs, mt: boolean, whh: WhhForLoop,
    resident: CachePtrs | null = null, slim = false, I = 0,
  ) {
    const { kind, T, B, H, lengths } = a;
    const TB = T * B, code = KIND_CODE[kind];
    // The output span mirrors the caller's (time-major or batch-first rows, any row stride): the
    // kernel writes each row where it belongs, and the span crosses in one copy.
    const ldOut = a.ldOut, outLen = (TB - 1) * ldOut + H;
    const out = this.placed(a.out as Float32Array, a.outOffset, outLen);
    return {
      outLen, ldOut, slim, whh, outInPlace: out.inPlace, ...rowStrides(a, ldOut),
      pBhn: this.alloc(H * 4), pLen: lengths ? this.alloc(B * 4) : 0,
      pMask: a.hMask ? this.alloc(B * H * 4) : 0,
      pOut: out.p,
      ...this.cachePtrs(kind, T, B, H, resident, slim),
      pS: this.alloc(this.seqForwardScratch(mt, code, +a.resetAfter, B, H, I)),
    };
  }

  private loadForward(a: SeqForwardArgs | LayerForwardArgs, L: ReturnType<WasmHost['layoutForward']>, f32: Float32Array, i32: Int32Array): void {
    const { kind, T, B, H, lengths, reverse, outOffset } = a;
    const BH = B * H;
    const bhn = 'bhn' in a ? a.bhn : kind === 'gru' && a.bhh ? a.bhh.subarray(2 * H, 3 * H) : null;
    if (bhn) f32.set(bhn.subarray(0, H) as Float32Array, L.pBhn >> 2); else f32.fill(0, L.pBhn >> 2, (L.pBhn >> 2) + H);
    if (lengths) i32.set(lengths.subarray(0, B), L.pLen >> 2);
    if (a.hMask) f32.set(a.hMask.subarray(0, BH) as Float32Array, L.pMask >> 2);
    // The output rows are strided: keep the caller's values between them when there are gaps.
    if (L.ldOut > H && !L.outInPlace) f32.set(a.out.subarray(outOffset, outOffset + L.outLen) as Float32Array, L.pOut >> 2);
    const slot0 = L.slim || !reverse ? 0 : T * BH;
    f32.set(a.h0.subarray(0, BH) as Float32Array, (L.pH >> 2) + slot0);
    if (kind === 'lstm') f32.set(a.c0!.subarray(0, BH) as Float32Array, (L.pC >> 2) + slot0);
  }

  /**
   * seq_forward's arguments; pXids: time-major row ids into the xg rows at pXg (0 = none);
   * `project`: the loop projects each step's rows itself (then pXg is 0) from the input rows at
   * pX (time-major, I floats each) by W_ih (G x I, at pWih) from the folded bias (pBias, 0: none).
   */
  private forwardArgs(
    a: SeqForwardArgs | LayerForwardArgs, L: ReturnType<WasmHost['layoutForward']>, pXg: number, pXids = 0,
    project: { pX: number; I: number; pWih: number; pBias: number } | null = null,
  ): number[] {
    const p = project ?? { pX: 0, I: 0, pWih: 0, pBias: 0 };
    return [gateCode(a), +a.resetAfter, a.T, a.B, a.H, L.pLen, +a.reverse, pXg, pXids, L.whh.pW, L.pBhn, L.pOut, L.rowStride, L.stepStride, L.pH, L.pC, L.pG, L.pAux, L.pS, +L.slim, L.whh.pWP, L.whh.repack, L.pMask, p.pX, p.I, p.pWih, p.pBias];
  }

  private storeForward(
    a: SeqForwardArgs | LayerForwardArgs, L: ReturnType<WasmHost['layoutForward']>, f32: Float32Array,
    cache: { h: Float32Array; c: Float32Array; gates: Float32Array; aux: Float32Array } | null,
  ): void {
    const { kind, T, B, H } = a;
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    if (!L.outInPlace) a.out.set(f32.subarray(L.pOut >> 2, (L.pOut >> 2) + L.outLen), a.outOffset);
    if (!cache) return;
    cache.h.set(f32.subarray(L.pH >> 2, (L.pH >> 2) + (T + 1) * BH));
    if (L.pC) cache.c.set(f32.subarray(L.pC >> 2, (L.pC >> 2) + (T + 1) * BH));
    if (L.pG) cache.gates.set(f32.subarray(L.pG >> 2, (L.pG >> 2) + TB * G));
    if (L.pAux) cache.aux.set(f32.subarray(L.pAux >> 2, (L.pAux >> 2) + TB * H));
  }

  /**
   * Checks what a backward loop reads and writes (except dxg/dgh); returns the float32 cache
   * (null for a resident one, `c` = null).
   */
  private checkBackward(a: SeqBackwardArgs | LayerBackwardArgs, c: SeqCache | null) {
    const { kind, T, B, H, lengths, dOutOffset, ldDOut } = a;
    const whh = this.f32(a.whh, 'whh'), dh0 = this.f32(a.dh0, 'dh0');
    const dOut = this.optF32(a.dOut, 'dOut'), dhN = this.optF32(a.dhN, 'dhN');
    const dcN = this.optF32(a.dcN, 'dcN'), dc0 = this.optF32(a.dc0, 'dc0');
    const cache = c && {
      h: this.f32(c.h, 'cache.h'), c: this.f32(c.c, 'cache.c'),
      gates: this.f32(c.gates, 'cache.gates'), aux: this.f32(c.aux, 'cache.aux'),
    };
    if (T <= 0 || B <= 0 || H <= 0) return cache;
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    this.need(whh, G * H, 'whh'); this.need(dh0, BH, 'dh0');
    if (cache) this.needCache(kind, T, B, H, cache);
    if (dOut) this.need(dOut, dOutOffset + (TB - 1) * ldDOut + H, 'dOut');
    if (dhN) this.need(dhN, BH, 'dhN');
    if (dcN) this.need(dcN, BH, 'dcN');
    if (dc0) this.need(dc0, BH, 'dc0');
    if (lengths) this.need(lengths, B, 'lengths');
    this.checkMask(a);
    return cache;
  }

  /**
   * The cache's arrays: in a resident block, or laid out in this call's region; `slim` (a
   * forward that keeps nothing): two state slots and one step of gates/aux (see seq_forward).
   */
  private cachePtrs(kind: CellKind, T: number, B: number, H: number, resident: CachePtrs | null, slim = false): CachePtrs {
    if (resident) return { pH: resident.pH, pC: resident.pC, pG: resident.pG, pAux: resident.pAux };
    const G = gateWidth(kind, H), BH = B * H, steps = slim ? 1 : T;
    const lstm = kind === 'lstm', gru = kind === 'gru';
    return {
      pH: this.alloc((steps + 1) * BH * 4),
      pC: lstm ? this.alloc((steps + 1) * BH * 4) : 0,
      pG: lstm || gru ? this.alloc(steps * B * G * 4) : 0,
      pAux: gru ? this.alloc(steps * BH * 4) : 0,
    };
  }

  private layoutBackward(a: SeqBackwardArgs | LayerBackwardArgs, mt: boolean, pW: number, resident: CachePtrs | null = null) {
    const { kind, T, B, H, lengths } = a;
    const G = gateWidth(kind, H), BH = B * H, TB = T * B, code = KIND_CODE[kind];
    const lstm = kind === 'lstm', gru = kind === 'gru';
    const ldDOut = a.ldDOut, dOutLen = (TB - 1) * ldDOut + H; // mirrors the caller's span (see layoutForward)
    const dOut = a.dOut ? this.placed(a.dOut as Float32Array, a.dOutOffset, dOutLen) : { p: 0, inPlace: false };
    const L = {
      dOutLen, ldDOut, pW, dOutInPlace: dOut.inPlace, ...rowStrides(a, ldDOut),
      pLen: lengths ? this.alloc(B * 4) : 0,
      pMask: a.hMask ? this.alloc(BH * 4) : 0,
      ...this.cachePtrs(kind, T, B, H, resident),
      pDOut: dOut.p,
      pDhN: a.dhN ? this.alloc(BH * 4) : 0,
      pDcN: lstm && a.dcN ? this.alloc(BH * 4) : 0,
      pDxg: this.alloc(TB * G * 4),
      pDgh: 0,
      pDh0: this.alloc(BH * 4),
      pDc0: lstm ? this.alloc(BH * 4) : 0,
      pS: this.alloc(this.seqBackwardScratch(mt, code, B, H)),
    };
    // dgh equals dxg for LSTM and RNN: the kernel then writes one buffer.
    L.pDgh = gru ? this.alloc(TB * G * 4) : L.pDxg;
    return L;
  }

  private loadBackward(
    a: SeqBackwardArgs | LayerBackwardArgs, L: ReturnType<WasmHost['layoutBackward']>, f32: Float32Array, i32: Int32Array,
    cache: { h: Float32Array; c: Float32Array; gates: Float32Array; aux: Float32Array } | null,
  ): void {
    const { kind, T, B, H, lengths, dOutOffset } = a;
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    if (lengths) i32.set(lengths.subarray(0, B), L.pLen >> 2);
    if (a.hMask) f32.set(a.hMask.subarray(0, BH) as Float32Array, L.pMask >> 2);
    if (cache) { // (a resident cache is already in place)
      f32.set(cache.h.subarray(0, (T + 1) * BH), L.pH >> 2);
      if (L.pC) f32.set(cache.c.subarray(0, (T + 1) * BH), L.pC >> 2);
      if (L.pG) f32.set(cache.gates.subarray(0, TB * G), L.pG >> 2);
      if (L.pAux) f32.set(cache.aux.subarray(0, TB * H), L.pAux >> 2);
    }
    if (a.dOut && !L.dOutInPlace) f32.set(a.dOut.subarray(dOutOffset, dOutOffset + L.dOutLen) as Float32Array, L.pDOut >> 2);
    if (a.dhN) f32.set(a.dhN.subarray(0, BH) as Float32Array, L.pDhN >> 2);
    if (L.pDcN) f32.set(a.dcN!.subarray(0, BH) as Float32Array, L.pDcN >> 2);
  }

  private backwardArgs(a: SeqBackwardArgs | LayerBackwardArgs, L: ReturnType<WasmHost['layoutBackward']>): number[] {
    return [
      gateCode(a), +a.resetAfter, a.T, a.B, a.H, L.pLen, +a.reverse, L.pW, L.pH, L.pC, L.pG, L.pAux,
      L.pDOut, L.rowStride, L.stepStride, L.pDhN, L.pDcN, L.pDxg, L.pDgh, L.pDh0, L.pDc0, L.pS, L.pMask,
    ];
  }

  private storeBackward(a: SeqBackwardArgs | LayerBackwardArgs, L: ReturnType<WasmHost['layoutBackward']>, f32: Float32Array): void {
    const BH = a.B * a.H;
    a.dh0.set(f32.subarray(L.pDh0 >> 2, (L.pDh0 >> 2) + BH));
    if (a.dc0) {
      if (a.kind === 'lstm') a.dc0.set(f32.subarray(L.pDc0 >> 2, (L.pDc0 >> 2) + BH));
      else a.dc0.fill(0, 0, BH); // as the reference: dc stays zero for cells without a memory cell
    }
  }

  // ---- hooks: where kernels run ----

  /**
   * Runs one backend call. `parallel`: some kernel of the call is big enough for two threads;
   * `body(mt)` is told whether it may use them. One thread here: body(false).
   */
  protected session(_parallel: boolean, body: (mt: boolean) => void): void {
    body(false);
  }

  /** Whether the kernels' gemm computes this product row by row with gemv (nothing packed). */
  private rowsByGemv(transA: boolean, transB: boolean, M: number, K: number): boolean {
    return this.k.gemm_rows_by_gemv(transA ? 1 : 0, transB ? 1 : 0, M, K) !== 0;
  }

  /**
   * Whether a gemm of this size is worth two threads (never, on one thread); `engaged`: the call
   * runs its sequence loop on both threads anyway, so the partner is awake already; `byGemv`: the
   * kernels compute it row by row with gemv (rowsByGemv); `packedB`: op(B) is packed already (a
   * Dense layer's weights inside withFixedWeights), so the call does not pack it.
   */
  protected gemmParallel(_M: number, _N: number, _K: number, _engaged = false, _byGemv = false, _packedB = false): boolean {
    return false;
  }

  /** Whether a sequence loop of this size is worth two threads. */
  protected seqParallel(_B: number, _G: number, _H: number): boolean {
    return false;
  }

  /** Whether an elementwise pass over n values (Adam, softmax) is worth two threads. */
  protected elementwiseParallel(_n: number): boolean {
    return false;
  }

  /** gemm(...args); `before` (JavaScript work the product does not depend on) runs first. */
  protected runGemm(_mt: boolean, args: number[], before?: () => void): void {
    before?.();
    this.k.gemm(...args);
  }

  /** b1_project's arguments: [kind, H, K, W, P, mode, x, bias, y]. */
  protected runB1Project(_mt: boolean, args: number[]): void {
    this.k.b1_project(...args);
  }

  /** stack_step's four arguments (desc, layers, head, x0). */
  protected runStackStep(_mt: boolean, args: number[]): void {
    this.k.stack_step(...(args as [number, number, number, number]));
  }

  /**
   * Waits until no kernel thread can still read what the last call read (a late partner thread
   * leaving it): before memory whose contents a partner reads outside its claimed chunks goes
   * back (a stack stepper's records). False when that cannot be known (a lost worker): the
   * memory must then stay as it is.
   */
  protected quiesce(): boolean {
    return true;
  }

  /** gemm_checked: gemm's 15 arguments, then the weights W where they lie and the flag's address. */
  protected runGemmChecked(_mt: boolean, args: number[], before?: () => void): void {
    before?.();
    this.k.gemm_checked(...args);
  }

  /** gemmBatched's products on this thread: [count, tA, tB, M, N, K, A, sA, lda, B, sB, ldb, C, sC, ldc, acc, P, pBytes]. */
  protected runGemmBatched(_mt: boolean, args: number[]): void {
    const [count, tA, tB, M, N, K, A, sA, lda, B, sB, ldb, C, sC, ldc, acc, P] = args as [number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number, number];
    for (let i = 0; i < count; i++) this.k.gemm(tA, tB, M, N, K, A + i * sA * 4, lda, B + i * sB * 4, ldb, C + i * sC * 4, ldc, acc, P, 0, 0);
  }

  protected runAdam(_mt: boolean, args: number[]): void {
    this.k.adam_update(...(args as [number, number, number, number, number, number, number, number, number, number]));
  }

  protected runSoftmax(_mt: boolean, args: number[]): void {
    this.k.softmax_rows(...(args as [number, number, number, number, number]));
  }

  /**
   * A side job, then gemm(...gemmArgs): two independent kernels (the side job's source and
   * destination are neither read nor written by the product). sideArgs [src, ids, n, w, dst]:
   * scatter_add_rows with ids, col_sum(src, n, w, dst) with ids = 0; null: the product alone
   * (runGemm). The threaded backend runs the side job on the main thread while the worker starts
   * on the product.
   */
  protected runGemmSide(mt: boolean, gemmArgs: number[], sideArgs: number[] | null): void {
    if (!sideArgs) { this.runGemm(mt, gemmArgs); return; }
    const [src, ids, n, w, dst] = sideArgs as [number, number, number, number, number];
    if (ids !== 0) this.k.scatter_add_rows(src, ids, n, w, dst);
    else this.k.col_sum(src, n, w, dst);
    this.k.gemm(...gemmArgs);
  }

  protected runSeqForward(_mt: boolean, args: number[]): void {
    this.k.seq_forward(...args);
  }

  protected runSeqBackward(_mt: boolean, args: number[]): void {
    this.k.seq_backward(...args);
  }

  protected seqForwardScratch(_mt: boolean, code: number, resetAfter: number, B: number, H: number, I: number): number {
    return this.k.seq_forward_scratch_bytes(code, resetAfter, B, H, I);
  }

  protected seqBackwardScratch(_mt: boolean, code: number, B: number, H: number): number {
    return this.k.seq_backward_scratch_bytes(code, B, H);
  }
}
