// Backend selection. float64 always runs on the reference (it exists for gradient checks);
// float32 runs on the fastest backend that loaded: relaxed SIMD, plain SIMD, then the reference.
//
// The environment variable RNNKIT_BACKEND=reference|wasm-simd|wasm-relaxed-simd forces the
// float32 backend at import (for benchmarks and debugging); naming a WebAssembly variant this
// engine cannot run is an error, not a silent fallback.
//
// Kernel threads: in Node.js on a machine with 2+ cores the float32 kernels run on the two-thread
// WebAssembly backend (wasm/threaded.ts: same results bit for bit, large GEMMs and sequence loops
// split across a worker thread that starts with the first call big enough to use it). Browsers,
// one-core machines and RNNKIT_BACKEND=reference stay on one thread. RNNKIT_THREADS=1|2 at
// import, or setThreads(1|2), chooses explicitly.
import { referenceBackend } from './reference.js';
import type { Backend, F } from './types.js';
import { loadWasmBackend, loadWasmBackendAsync, unavailableReason, wasmBackend, wasmVariants, type WasmVariant } from './wasm/backend.js';
import { ThreadedWasmBackend, threadedUnavailableReason, warn, type ThreadedOptions } from './wasm/threaded.js';

export type { Backend, CellKind, F, SeqBackwardArgs, SeqCache, SeqForwardArgs, SeqShape } from './types.js';
export { allocCache, gateWidth } from './types.js';
export { referenceBackend } from './reference.js';
export {
  loadWasmBackend, tryLoadWasmBackend, unavailableReason, wasmBackend, wasmVariant,
  relaxedSimdSupported, simdSupported, type WasmVariant,
} from './wasm/backend.js';
export { ThreadedWasmBackend, threadedUnavailableReason, type ThreadedOptions } from './wasm/threaded.js';

export type BackendName = 'reference' | WasmVariant;

function initialBackend(): Backend {
  const env = typeof process !== 'undefined' ? process.env?.RNNKIT_BACKEND : undefined;
  if (env === undefined || env === '') return wasmBackend ?? referenceBackend;
  if (env === 'reference') return referenceBackend;
  if ((wasmVariants as readonly string[]).includes(env)) return loadWasmBackend(env as WasmVariant);
  throw new Error(`RNNKIT_BACKEND=${env}: expected one of reference, ${wasmVariants.join(', ')}`);
}

const forcedByEnv = typeof process !== 'undefined' && Boolean(process.env?.RNNKIT_BACKEND);
let float32Backend: Backend = initialBackend();

/** Replace the float32 backend (used by the WebAssembly loader and by tests). */
export function setBackend(b: Backend): void {
  float32Backend = b;
}

export function getBackend(): Backend {
  return float32Backend;
}

/**
 * Runs fn with the float32 backend taking the weights as fixed (Backend.fixedWeights): each
 * weight array is checked against the backend's copy once, at its first use inside fn, instead of
 * at every call. For loops that own a model while they run and change no weights (text
 * generation); fn must finish before it returns.
 */
export function withFixedWeights<T>(fn: () => T): T {
  const be = float32Backend;
  return be.fixedWeights ? be.fixedWeights(fn) : fn();
}

/**
 * Arrays of at least this many floats from residentArray lie in the backend's memory (below it,
 * the copies they save cost less than the blocks they hold).
 */
const RESIDENT_MIN_FLOATS = 1 << 16;

/**
 * A long-lived float32 array of n zeros for a model's flat parameters or gradients: in the current
 * float32 backend's memory where it offers that (Backend.activationBuffer) and n >= RESIDENT_MIN_FLOATS,
 * so that the backend's optimiser step and gradient norm read and write it where it lies
 * (copying nothing in or out: for the 1.9 M parameters of the NER tagger, four copies of 7.7 MB
 * a step), else an ordinary array. Its block goes back when the garbage collector takes it.
 */
export function residentArray(n: number): Float32Array {
  const be = float32Backend;
  if (be.activationBuffer && n >= RESIDENT_MIN_FLOATS) {
    try { return be.activationBuffer(n); } catch { /* no room in the backend's memory: an ordinary array */ }
  }
  return new Float32Array(n);
}

/**
 * A layer's activation buffer reused from step to step (an output, logits, an input gradient):
 * in the current float32 backend's memory where it offers that (Backend.activationBuffer: the
 * backend's calls then read and write it in place), else an ordinary array. `get(n)` returns n
 * floats of one block, which grows by a quarter more than asked when it must grow (sequences of
 * varying length); the block it replaces goes back to its backend at once (memory the garbage
 * collector would free only between event-loop turns, which a training loop may never yield).
 * Values are those of the last use (callers write every value before reading).
 */
export class ActivationSlot {
  private block: Float32Array = new Float32Array(0);
  private owner: Backend | null = null;

  get(n: number): Float32Array {
    const be = float32Backend;
    if (this.block.length < n || this.owner !== be) {
      this.owner?.releaseActivation?.(this.block);
      const cap = this.block.length === 0 || this.owner !== be ? n : n + (n >> 2);
      this.block = be.activationBuffer?.(cap) ?? new Float32Array(cap);
      this.owner = be;
    }
    return this.block.length === n ? this.block : this.block.subarray(0, n);
  }
}

/** Name of the current float32 backend: 'wasm-relaxed-simd', 'wasm-simd' or 'reference'. */
export function backendName(): string {
  return float32Backend.name;
}

/**
 * Resolve once the fastest WebAssembly backend is installed (compiling asynchronously where the
 * synchronous compile at import was refused, as on a browser's main thread); returns its name.
 * In Node.js the backend is already there at import, and this resolves at once.
 */
export async function ready(): Promise<string> {
  if (float32Backend === referenceBackend && !forcedByEnv) {
    for (const v of ['wasm-relaxed-simd', 'wasm-simd'] as const) {
      if (unavailableReason(v) !== null) continue;
      float32Backend = await loadWasmBackendAsync(v);
      break;
    }
  }
  return float32Backend.name;
}

export function backendFor(x: F): Backend {
  return x instanceof Float64Array ? referenceBackend : float32Backend;
}

// ---- kernel threads ----

/** The single-threaded float32 backend that setThreads(2) replaced. */
let singleThreadBackend: Backend | null = null;

/**
 * setThreads(2) runs the float32 kernels on two threads (the two-thread build of the current
 * WebAssembly variant plus a worker thread; results are bit-identical to one thread, small
 * problems stay on one thread; with `options`, the size gates and timeouts of
 * ThreadedWasmBackend). Blocks until the worker is up (Node.js). setThreads(1) stops the
 * worker and restores the single-threaded backend. Throws when the float32 backend is not a
 * WebAssembly variant or the engine has no shared memory / worker threads.
 */
export function setThreads(n: number, options: Omit<ThreadedOptions, 'variant'> = {}): void {
  if (n !== 1 && n !== 2) throw new RangeError(`setThreads(${n}): expected 1 or 2`);
  if (n === 1) {
    if (float32Backend instanceof ThreadedWasmBackend) {
      float32Backend.terminate();
      float32Backend = singleThreadBackend ?? wasmBackend ?? referenceBackend;
      singleThreadBackend = null;
    }
    return;
  }
  if (float32Backend instanceof ThreadedWasmBackend && float32Backend.threaded && Object.keys(options).length === 0) return;
  const single = float32Backend instanceof ThreadedWasmBackend
    ? singleThreadBackend ?? loadWasmBackend(float32Backend.variant) : float32Backend;
  if (!(wasmVariants as readonly string[]).includes(single.name)) {
    throw new Error(`setThreads(2): kernel threads need a WebAssembly backend; the float32 backend is ${single.name}`);
  }
  const threaded = ThreadedWasmBackend.createSync({ ...options, variant: single.name as WasmVariant });
  if (float32Backend instanceof ThreadedWasmBackend) float32Backend.terminate();
  singleThreadBackend = single;
  float32Backend = threaded;
}

/** Kernel threads in use for float32: 2 while the two-thread backend is set and its worker lives, else 1. */
export function getThreads(): number {
  return float32Backend instanceof ThreadedWasmBackend && float32Backend.threaded ? 2 : 1;
}

/** Cores this Node.js process may use (1 outside Node.js). */
function nodeCores(): number {
  const proc = (globalThis as { process?: { getBuiltinModule?: (id: string) => unknown } }).process;
  const os = proc?.getBuiltinModule?.('node:os') as { availableParallelism?: () => number } | undefined;
  return os?.availableParallelism?.() ?? 1;
}

{
  const env = typeof process !== 'undefined' ? process.env?.RNNKIT_THREADS : undefined;
  if (env !== undefined && env !== '') {
    if (env !== '1' && env !== '2') throw new Error(`RNNKIT_THREADS=${env}: expected 1 or 2`);
    if (env === '2') setThreads(2);
  } else if (nodeCores() >= 2 && (wasmVariants as readonly string[]).includes(float32Backend.name)) {
    // The default: two threads, the worker started lazily (importing rnnkit never waits for it).
    // Without shared memory or worker threads, one thread, silently; any other failure is a fault
    // that would halve the speed unseen, so it is reported (and the kernels stay on one thread).
    const variant = float32Backend.name as WasmVariant;
    if (threadedUnavailableReason(variant) === null) {
      try {
        const threaded = ThreadedWasmBackend.createLazy({ variant });
        singleThreadBackend = float32Backend;
        float32Backend = threaded;
      } catch (e) {
        warn(`rnnkit: cannot start the two-thread ${variant} backend (${(e as Error).message}); the kernels run on one thread`);
      }
    }
  }
}
