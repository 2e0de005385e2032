// Backend selection. float64 always runs on the reference (it exists for gradient checks);
// float32 runs on the fastest backend that loaded: relaxed SIMD, plain SIMD, then the reference.
import { referenceBackend } from './reference.js';
import type { Backend, F } from './types.js';

export type { Backend, CellKind, F, SeqBackwardArgs, SeqCache, SeqForwardArgs, SeqShape } from './types.js';
export { allocCache, gateWidth } from './types.js';
export { referenceBackend } from './reference.js';

let float32Backend: Backend = referenceBackend;

/** Replace the float32 backend (used by the WebAssembly loader and by tests). */
export function setBackend(b: Backend): void {
  float32Backend = b;
}

export function getBackend(): Backend {
  return float32Backend;
}

export function backendFor(x: F): Backend {
  return x instanceof Float64Array ? referenceBackend : float32Backend;
}
