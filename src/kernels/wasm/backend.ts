// The WebAssembly SIMD backends: loader and `Backend` implementation.
//
// Two builds of asm/kernels.ts are embedded as base64 (generated at build time by
// tools/build-wasm.mjs): 'wasm-relaxed-simd' (FMA through f32x4.relaxed_madd) and 'wasm-simd'
// (mul + add). At import the best one this engine accepts is instantiated synchronously, so
// `import 'rnnkit'` needs no await: relaxed SIMD if WebAssembly.validate accepts it (Node 22+,
// or Node 20 with --experimental-wasm-relaxed-simd), else plain SIMD, else none (the float32
// backend then stays the reference; see ../index.ts).
//
// Data handling: each call lays out its inputs, outputs and scratch in the instance's linear
// memory with a bump allocator (reset per call), grows the memory once if needed, copies the
// inputs in, runs one wasm call (a whole sequence for seqForward/seqBackward), and copies the
// outputs back. The wasm code never grows memory itself, so the typed-array views taken after
// the single grow stay valid for the whole call; they are re-taken on every call because a grow
// detaches the previous ArrayBuffer. The memory keeps the size of the largest call so far
// (wasm memories cannot shrink); calls needing more than 4 GiB throw a RangeError.
import { seqBackwardRef, seqForwardRef } from '../reference.js';
import type { Backend, CellKind, F, SeqBackwardArgs, SeqForwardArgs } from '../types.js';
import { gateWidth } from '../types.js';
import { enableRelaxedSimdOnNode20, relaxedSimdSupported, simdSupported } from './detect.js';
import { wasmBase64 as relaxedBase64 } from './generated/relaxed.js';
import { wasmBase64 as simdBase64 } from './generated/simd.js';

export { relaxedSimdSupported, simdSupported } from './detect.js';

export type WasmVariant = 'wasm-relaxed-simd' | 'wasm-simd';
export const wasmVariants: readonly WasmVariant[] = ['wasm-relaxed-simd', 'wasm-simd'];

/** The exports of asm/kernels.ts (pointers are byte addresses into `memory`). */
interface KernelExports {
  memory: WebAssembly.Memory;
  heap_base(): number;
  packed_bytes(K: number, N: number): number;
  gemm(
    transA: number, transB: number, M: number, N: number, K: number,
    A: number, lda: number, B: number, ldb: number, C: number, ldc: number, accumulate: number, P: number,
  ): void;
  seq_forward_scratch_bytes(kind: number, resetAfter: number, B: number, H: number): number;
  seq_backward_scratch_bytes(kind: number, B: number, H: number): number;
  seq_forward(
    kind: number, resetAfter: number, T: number, B: number, H: number, lengths: number, reverse: number,
    xg: number, whh: number, bhn: number, out: number, ldOut: number,
    ch: number, cc: number, cgates: number, caux: number, scratch: number,
  ): void;
  seq_backward(
    kind: number, resetAfter: number, T: number, B: number, H: number, lengths: number, reverse: number,
    whh: number, ch: number, cc: number, cgates: number, caux: number,
    dOut: number, ldDOut: number, dhN: number, dcN: number,
    dxg: number, dgh: number, dh0: number, dc0: number, scratch: number,
  ): void;
  approx_activation(which: number, x: number, y: number, n: number): void;
}

const KIND_CODE: Record<CellKind, number> = { lstm: 0, gru: 1, rnn_tanh: 2, rnn_relu: 3 };
const PAGE = 65536;
/** wasm32 addresses are 32-bit: 65536 pages. */
const MAX_BYTES = 65536 * PAGE;

function decodeBase64(b64: string): Uint8Array<ArrayBuffer> {
  if (typeof Buffer !== 'undefined') {
    const buf = Buffer.from(b64, 'base64');
    return new Uint8Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length) as ArrayBuffer);
  }
  const s = atob(b64);
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) out[i] = s.charCodeAt(i);
  return out;
}

function asF32(x: F, what: string): Float32Array {
  if (x instanceof Float32Array) return x;
  throw new TypeError(
    `rnnkit wasm backend: ${what} is a ${(x as object).constructor?.name ?? typeof x}; the WebAssembly ` +
    'kernels are float32 only (float64 runs on the reference backend, see backendFor)',
  );
}

function need(x: F, n: number, what: string): void {
  if (x.length < n) throw new RangeError(`rnnkit wasm backend: ${what} has ${x.length} elements, needs ${n}`);
}

function needLengths(lengths: Int32Array, B: number): void {
  if (lengths.length < B) throw new RangeError(`rnnkit wasm backend: lengths has ${lengths.length} entries, needs ${B}`);
}

const align64 = (n: number): number => Math.ceil(n / 64) * 64;

/** One instantiated kernel module and its linear memory. */
export class WasmBackend implements Backend {
  readonly name: WasmVariant;
  /** Raw kernel exports, for tests and benchmarks. */
  readonly kernels: KernelExports;
  private readonly base: number;
  private top = 0;

  constructor(variant: WasmVariant, module: WebAssembly.Module) {
    this.name = variant;
    const instance = new WebAssembly.Instance(module, {});
    this.kernels = instance.exports as unknown as KernelExports;
    this.base = align64(this.kernels.heap_base());
  }

  // ---- linear memory: a bump allocator reset at the start of every call ----

  private reset(): void {
    this.top = this.base;
  }

  /** Reserves `bytes` (64-byte aligned) and returns the address. */
  private alloc(bytes: number): number {
    const p = this.top;
    this.top = align64(p + bytes);
    return p;
  }

  /**
   * Grows the memory to cover everything allocated since reset() and returns fresh views.
   * Must be called after the last alloc() and before any copy; the views are valid until the
   * next grow, i.e. for the rest of the call.
   */
  private commit(): { f32: Float32Array; i32: Int32Array } {
    const mem = this.kernels.memory;
    if (this.top > MAX_BYTES) {
      throw new RangeError(`rnnkit wasm backend: call needs ${this.top} bytes of linear memory (> 4 GiB)`);
    }
    const have = mem.buffer.byteLength;
    if (this.top > have) mem.grow(Math.ceil((this.top - have) / PAGE));
    return { f32: new Float32Array(mem.buffer), i32: new Int32Array(mem.buffer) };
  }

  // ---- Backend ----

  gemm(
    transA: boolean, transB: boolean, M: number, N: number, K: number,
    A: F, lda: number, B: F, ldb: number, C: F, ldc: number, accumulate: boolean,
  ): void {
    const a = asF32(A, 'gemm A'), b = asF32(B, 'gemm B'), c = asF32(C, 'gemm C');
    if (M <= 0 || N <= 0) return;
    // Extents actually addressed (from element 0): op(A) is M×K, stored as M rows (or K rows if
    // transposed) of stride lda; likewise B; C is M rows of stride ldc.
    const aLen = K <= 0 ? 0 : transA ? (K - 1) * lda + M : (M - 1) * lda + K;
    const bLen = K <= 0 ? 0 : transB ? (N - 1) * ldb + K : (K - 1) * ldb + N;
    const cLen = (M - 1) * ldc + N;
    need(a, aLen, 'gemm A'); need(b, bLen, 'gemm B'); need(c, cLen, 'gemm C');
    const k = this.kernels;
    this.reset();
    const pA = this.alloc(aLen * 4), pB = this.alloc(bLen * 4), pC = this.alloc(cLen * 4);
    const pP = this.alloc(k.packed_bytes(Math.max(K, 0), N));
    const { f32 } = this.commit();
    f32.set(a.subarray(0, aLen), pA >> 2);
    f32.set(b.subarray(0, bLen), pB >> 2);
    // C's span goes in when its values are read (accumulate) or when it has gaps between rows
    // (ldc > N) that the copy back must leave as they were.
    if (accumulate || ldc > N) f32.set(c.subarray(0, cLen), pC >> 2);
    k.gemm(+transA, +transB, M, N, K, pA, lda, pB, ldb, pC, ldc, +accumulate, pP);
    c.set(f32.subarray(pC >> 2, (pC >> 2) + cLen));
  }

  seqForward(args: SeqForwardArgs): void {
    const { kind, resetAfter, T, B, H, lengths, reverse, outOffset, ldOut, cache } = args;
    const xg = asF32(args.xg, 'seqForward xg'), whh = asF32(args.whh, 'seqForward whh');
    const h0 = asF32(args.h0, 'seqForward h0'), out = asF32(args.out, 'seqForward out');
    const bhn = args.bhn === null ? null : asF32(args.bhn, 'seqForward bhn');
    const c0 = args.c0 === null ? null : asF32(args.c0, 'seqForward c0');
    const ch = asF32(cache.h, 'cache.h'), cc = asF32(cache.c, 'cache.c');
    const cg = asF32(cache.gates, 'cache.gates'), ca = asF32(cache.aux, 'cache.aux');
    if (T <= 0 || B <= 0 || H <= 0) { seqForwardRef(args); return; } // nothing to compute
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    const lstm = kind === 'lstm', gru = kind === 'gru', rnn = !lstm && !gru;
    const outLen = (TB - 1) * ldOut + H;
    need(xg, TB * G, 'xg'); need(whh, G * H, 'whh'); need(h0, BH, 'h0');
    need(out, outOffset + outLen, 'out'); need(ch, (T + 1) * BH, 'cache.h');
    if (lstm) { if (!c0) throw new TypeError('rnnkit wasm backend: LSTM needs c0'); need(c0, BH, 'c0'); need(cc, (T + 1) * BH, 'cache.c'); }
    if (!rnn) need(cg, TB * G, 'cache.gates');
    if (gru) need(ca, TB * H, 'cache.aux');
    if (lengths) needLengths(lengths, B);

    const k = this.kernels, code = KIND_CODE[kind];
    this.reset();
    const pXg = this.alloc(TB * G * 4), pW = this.alloc(G * H * 4), pBhn = this.alloc(H * 4);
    const pLen = lengths ? this.alloc(B * 4) : 0;
    const pOut = this.alloc(outLen * 4);
    const pH = this.alloc((T + 1) * BH * 4);
    const pC = lstm ? this.alloc((T + 1) * BH * 4) : 0;
    const pG = rnn ? 0 : this.alloc(TB * G * 4);
    const pAux = gru ? this.alloc(TB * H * 4) : 0;
    const pS = this.alloc(k.seq_forward_scratch_bytes(code, +resetAfter, B, H));
    const { f32, i32 } = this.commit();

    f32.set(xg.subarray(0, TB * G), pXg >> 2);
    f32.set(whh.subarray(0, G * H), pW >> 2);
    if (bhn) f32.set(bhn.subarray(0, H), pBhn >> 2); else f32.fill(0, pBhn >> 2, (pBhn >> 2) + H);
    if (lengths) i32.set(lengths.subarray(0, B), pLen >> 2);
    // The output rows are strided: keep the caller's values between them when there are gaps.
    if (ldOut > H) f32.set(out.subarray(outOffset, outOffset + outLen), pOut >> 2);
    const slot0 = (reverse ? T : 0) * BH;
    f32.set(h0.subarray(0, BH), (pH >> 2) + slot0);
    if (lstm) f32.set(c0!.subarray(0, BH), (pC >> 2) + slot0);

    k.seq_forward(code, +resetAfter, T, B, H, pLen, +reverse, pXg, pW, pBhn, pOut, ldOut, pH, pC, pG, pAux, pS);

    out.set(f32.subarray(pOut >> 2, (pOut >> 2) + outLen), outOffset);
    ch.set(f32.subarray(pH >> 2, (pH >> 2) + (T + 1) * BH));
    if (lstm) cc.set(f32.subarray(pC >> 2, (pC >> 2) + (T + 1) * BH));
    if (!rnn) cg.set(f32.subarray(pG >> 2, (pG >> 2) + TB * G));
    if (gru) ca.set(f32.subarray(pAux >> 2, (pAux >> 2) + TB * H));
  }

  seqBackward(args: SeqBackwardArgs): void {
    const { kind, resetAfter, T, B, H, lengths, reverse, cache, dOutOffset, ldDOut } = args;
    const whh = asF32(args.whh, 'seqBackward whh');
    const ch = asF32(cache.h, 'cache.h'), cc = asF32(cache.c, 'cache.c');
    const cg = asF32(cache.gates, 'cache.gates'), ca = asF32(cache.aux, 'cache.aux');
    const dOut = args.dOut === null ? null : asF32(args.dOut, 'dOut');
    const dhN = args.dhN === null ? null : asF32(args.dhN, 'dhN');
    const dcN = args.dcN === null ? null : asF32(args.dcN, 'dcN');
    const dxg = asF32(args.dxg, 'dxg'), dgh = asF32(args.dgh, 'dgh'), dh0 = asF32(args.dh0, 'dh0');
    const dc0 = args.dc0 === null ? null : asF32(args.dc0, 'dc0');
    if (T <= 0 || B <= 0 || H <= 0) { seqBackwardRef(args); return; }
    const G = gateWidth(kind, H), BH = B * H, TB = T * B;
    const lstm = kind === 'lstm', gru = kind === 'gru', rnn = !lstm && !gru;
    const dOutLen = (TB - 1) * ldDOut + H;
    need(whh, G * H, 'whh'); need(ch, (T + 1) * BH, 'cache.h');
    if (lstm) need(cc, (T + 1) * BH, 'cache.c');
    if (!rnn) need(cg, TB * G, 'cache.gates');
    if (gru) need(ca, TB * H, 'cache.aux');
    if (dOut) need(dOut, dOutOffset + dOutLen, 'dOut');
    if (dhN) need(dhN, BH, 'dhN');
    if (dcN) need(dcN, BH, 'dcN');
    need(dxg, TB * G, 'dxg'); need(dgh, TB * G, 'dgh'); need(dh0, BH, 'dh0');
    if (dc0) need(dc0, BH, 'dc0');
    if (lengths) needLengths(lengths, B);

    const k = this.kernels, code = KIND_CODE[kind];
    this.reset();
    const pW = this.alloc(G * H * 4);
    const pLen = lengths ? this.alloc(B * 4) : 0;
    const pH = this.alloc((T + 1) * BH * 4);
    const pC = lstm ? this.alloc((T + 1) * BH * 4) : 0;
    const pG = rnn ? 0 : this.alloc(TB * G * 4);
    const pAux = gru ? this.alloc(TB * H * 4) : 0;
    const pDOut = dOut ? this.alloc(dOutLen * 4) : 0;
    const pDhN = dhN ? this.alloc(BH * 4) : 0;
    const pDcN = lstm && dcN ? this.alloc(BH * 4) : 0;
    const pDxg = this.alloc(TB * G * 4);
    // dgh equals dxg for LSTM and RNN: the kernel then writes one buffer, copied to both arrays.
    const pDgh = gru ? this.alloc(TB * G * 4) : pDxg;
    const pDh0 = this.alloc(BH * 4);
    const pDc0 = lstm ? this.alloc(BH * 4) : 0;
    const pS = this.alloc(k.seq_backward_scratch_bytes(code, B, H));
    const { f32, i32 } = this.commit();

    f32.set(whh.subarray(0, G * H), pW >> 2);
    if (lengths) i32.set(lengths.subarray(0, B), pLen >> 2);
    f32.set(ch.subarray(0, (T + 1) * BH), pH >> 2);
    if (lstm) f32.set(cc.subarray(0, (T + 1) * BH), pC >> 2);
    if (!rnn) f32.set(cg.subarray(0, TB * G), pG >> 2);
    if (gru) f32.set(ca.subarray(0, TB * H), pAux >> 2);
    if (dOut) f32.set(dOut.subarray(dOutOffset, dOutOffset + dOutLen), pDOut >> 2);
    if (dhN) f32.set(dhN.subarray(0, BH), pDhN >> 2);
    if (pDcN) f32.set(dcN!.subarray(0, BH), pDcN >> 2);

    k.seq_backward(
      code, +resetAfter, T, B, H, pLen, +reverse, pW, pH, pC, pG, pAux,
      pDOut, ldDOut, pDhN, pDcN, pDxg, pDgh, pDh0, pDc0, pS,
    );

    dxg.set(f32.subarray(pDxg >> 2, (pDxg >> 2) + TB * G));
    if (dgh !== dxg) dgh.set(f32.subarray(pDgh >> 2, (pDgh >> 2) + TB * G));
    dh0.set(f32.subarray(pDh0 >> 2, (pDh0 >> 2) + BH));
    if (dc0) {
      if (lstm) dc0.set(f32.subarray(pDc0 >> 2, (pDc0 >> 2) + BH));
      else dc0.fill(0, 0, BH); // as the reference: dc stays zero for cells without a memory cell
    }
  }

  /** y = tanh(x) or σ(x) with the kernels' rational approximation (for the accuracy test). */
  approx(which: 'tanh' | 'sigmoid', x: Float32Array): Float32Array {
    const n = x.length;
    this.reset();
    const px = this.alloc(n * 4), py = this.alloc(n * 4);
    const { f32 } = this.commit();
    f32.set(x, px >> 2);
    this.kernels.approx_activation(which === 'tanh' ? 0 : 1, px, py, n);
    return f32.slice(py >> 2, (py >> 2) + n);
  }
}

const modules = new Map<WasmVariant, WebAssembly.Module>();
const loaded = new Map<WasmVariant, WasmBackend>();

/** Why `variant` cannot run in this process, or null if it can. */
export function unavailableReason(variant: WasmVariant): string | null {
  if (typeof WebAssembly !== 'object') return 'no WebAssembly in this JavaScript engine';
  if (!simdSupported()) return 'this engine does not support WebAssembly SIMD';
  if (variant === 'wasm-relaxed-simd' && !relaxedSimdSupported()) {
    const major = typeof process !== 'undefined' ? Number(process.versions?.node?.split('.')[0]) : NaN;
    return major < 22
      ? `relaxed SIMD is off in Node ${process.versions.node}; run node with --experimental-wasm-relaxed-simd`
      : 'this engine does not support WebAssembly relaxed SIMD';
  }
  return null;
}

/**
 * Instantiates `variant` (once per process; later calls return the same backend). Throws with
 * the reason when the engine cannot run it.
 */
export function loadWasmBackend(variant: WasmVariant): WasmBackend {
  const have = loaded.get(variant);
  if (have) return have;
  const why = unavailableReason(variant);
  if (why) throw new Error(`rnnkit: cannot load ${variant}: ${why}`);
  let mod = modules.get(variant);
  if (!mod) {
    mod = new WebAssembly.Module(decodeBase64(variant === 'wasm-relaxed-simd' ? relaxedBase64 : simdBase64));
    modules.set(variant, mod);
  }
  const backend = new WasmBackend(variant, mod);
  loaded.set(variant, backend);
  return backend;
}

/**
 * Asynchronous loading for browsers, whose main thread refuses synchronous compiles of modules
 * over a few KB: compiles with WebAssembly.compile, then behaves like loadWasmBackend.
 */
export async function loadWasmBackendAsync(variant: WasmVariant): Promise<WasmBackend> {
  const have = loaded.get(variant);
  if (have) return have;
  const why = unavailableReason(variant);
  if (why) throw new Error(`rnnkit: cannot load ${variant}: ${why}`);
  const mod = modules.get(variant) ?? await WebAssembly.compile(decodeBase64(variant === 'wasm-relaxed-simd' ? relaxedBase64 : simdBase64));
  modules.set(variant, mod);
  return loadWasmBackend(variant);
}

/** loadWasmBackend without the throw: null when `variant` cannot run here. */
export function tryLoadWasmBackend(variant: WasmVariant): WasmBackend | null {
  try {
    return loadWasmBackend(variant);
  } catch {
    return null;
  }
}

/**
 * The fastest WebAssembly backend this engine runs (relaxed SIMD, then SIMD), or null. Compiled
 * synchronously at import (fine in Node; browsers refuse synchronous compiles of large modules on
 * the main thread, in which case this is null and float32 stays on the reference).
 */
enableRelaxedSimdOnNode20();
export const wasmBackend: WasmBackend | null =
  tryLoadWasmBackend('wasm-relaxed-simd') ?? tryLoadWasmBackend('wasm-simd');

/** Name of `wasmBackend`'s variant, or null when no WebAssembly backend loaded. */
export const wasmVariant: WasmVariant | null = wasmBackend ? wasmBackend.name : null;
