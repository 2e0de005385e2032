// Backend selection. float64 always runs on the reference (it exists for gradient checks);
// float32 runs on the fastest backend that loaded: relaxed SIMD, plain SIMD, then the reference.
//
// The environment variable RNNKIT_BACKEND=reference|wasm-simd|wasm-relaxed-simd forces the
// float32 backend at import (for benchmarks and debugging); naming a WebAssembly variant this
// engine cannot run is an error, not a silent fallback.
import { referenceBackend } from './reference.js';
import type { Backend, F } from './types.js';
import { loadWasmBackend, loadWasmBackendAsync, unavailableReason, wasmBackend, wasmVariants, type WasmVariant } from './wasm/backend.js';

export type { Backend, CellKind, F, SeqBackwardArgs, SeqCache, SeqForwardArgs, SeqShape } from './types.js';
export { allocCache, gateWidth } from './types.js';
export { referenceBackend } from './reference.js';
export {
  loadWasmBackend, tryLoadWasmBackend, unavailableReason, wasmBackend, wasmVariant,
  relaxedSimdSupported, simdSupported, type WasmVariant,
} from './wasm/backend.js';

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
