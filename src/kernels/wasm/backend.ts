// The WebAssembly SIMD backends: loader and `Backend` implementation.
//
// Two builds of asm/kernels.ts are embedded as base64 (generated at build time by
// tools/build-wasm.mjs): 'wasm-relaxed-simd' (FMA through f32x4.relaxed_madd) and 'wasm-simd'
// (mul + add). At import the best one this engine accepts is instantiated synchronously, so
// `import 'rnnkit'` needs no await: relaxed SIMD if WebAssembly.validate accepts it (Node 22+,
// or Node 20 with --experimental-wasm-relaxed-simd), else plain SIMD, else none (the float32
// backend then stays the reference; see ../index.ts).
//
// Data handling (copies in and out of linear memory per call, fused layer operations): host.ts.
import { enableRelaxedSimdOnNode20, relaxedSimdSupported, simdSupported } from './detect.js';
import { wasmBase64 as relaxedBase64 } from './generated/relaxed.js';
import { wasmBase64 as simdBase64 } from './generated/simd.js';
import { decodeBase64, WasmHost, type CoreExports } from './host.js';

export { relaxedSimdSupported, simdSupported } from './detect.js';

export type WasmVariant = 'wasm-relaxed-simd' | 'wasm-simd';
export const wasmVariants: readonly WasmVariant[] = ['wasm-relaxed-simd', 'wasm-simd'];

/** The exports of asm/kernels.ts (pointers are byte addresses into `memory`). */
interface KernelExports extends CoreExports {
  memory: WebAssembly.Memory;
  gemv(rows: number, K: number, W: number, ldw: number, h: number, y: number, part: number): void;
}

/** One instantiated kernel module and its own linear memory, on the calling thread. */
export class WasmBackend extends WasmHost {
  readonly name: WasmVariant;
  /** Raw kernel exports, for tests and benchmarks. */
  readonly kernels: KernelExports;

  constructor(variant: WasmVariant, module: WebAssembly.Module) {
    const instance = new WebAssembly.Instance(module, {});
    const kernels = instance.exports as unknown as KernelExports;
    super(kernels, kernels.memory, 'rnnkit wasm backend');
    this.name = variant;
    this.kernels = kernels;
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

  /**
   * y[r] = W[r, :]·h for rows [r0, r1) of a row-major W (row stride ldw), with the batch-1 kernel
   * of the sequence loops (for its tests); y is NaN wherever the kernel wrote nothing.
   */
  gemv(W: Float32Array, ldw: number, K: number, h: Float32Array, r0: number, r1: number): Float32Array {
    const rows = r1 - r0;
    this.reset();
    const pW = this.alloc(W.length * 4), ph = this.alloc(Math.max(1, K) * 4), py = this.alloc((rows + 4) * 4);
    const pPart = this.alloc(32 * 16);
    const { f32 } = this.commit();
    f32.set(W, pW >> 2);
    f32.set(h.subarray(0, K), ph >> 2);
    f32.fill(NaN, py >> 2, (py >> 2) + rows + 4);
    this.kernels.gemv(rows, K, pW + r0 * ldw * 4, ldw, ph, py, pPart);
    return f32.slice(py >> 2, (py >> 2) + rows + 4);
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
