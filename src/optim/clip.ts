// Gradient clipping over flat gradient buffers, in place.
//
//   globalNorm(g)          = sqrt(sum_i g_i^2)        (over every buffer given)
//   clipByGlobalNorm(g, c) : g <- g * c / max(norm, c)   (TF tf.clip_by_global_norm; no epsilon,
//                            so a norm already <= c leaves g bit-for-bit unchanged)
//   clipByValue(g, v)      : g <- min(max(g, -v), v)
import type { F } from '../kernels/types.js';

type Grads = F | readonly F[];

function list(g: Grads): readonly F[] {
  return ArrayBuffer.isView(g) ? [g as F] : (g as readonly F[]);
}

/**
 * Euclidean norm of all values, accumulated in float64: four partial sums per block of 1024
 * values, block sums added to a running total, so the rounding error grows like
 * 1e-16·(256 + n/1024) rather than 1e-16·n (and float32 squares are exact in float64).
 * If the sum of squares overflows or underflows (only possible for float64 inputs beyond
 * ~1e154, or a norm below ~1e-140) it is recomputed with the values scaled by their maximum magnitude.
 * NaN anywhere gives NaN; an infinite value gives Infinity.
 */
export function globalNorm(grads: Grads): number {
  let total = 0;
  for (const g of list(grads)) total += sumSquares(g, 1);
  return normFromSumSquares(total, grads);
}

/**
 * globalNorm from Σ g_i² already summed in its order (sumSquaresOf, or a backend's copy of that
 * loop): its square root, unless it overflowed or underflowed — then recomputed from `grads`.
 */
export function normFromSumSquares(total: number, grads: Grads): number {
  const bufs = list(grads);
  // Normal range (or NaN): done. Otherwise overflow, underflow, an Infinity or all zeros.
  if ((total > 1e-280 && total < Infinity) || total !== total) return Math.sqrt(total);
  // Find the largest magnitude, then rescale.
  let maxAbs = 0;
  for (const g of bufs) {
    for (let i = 0; i < g.length; i++) {
      const a = Math.abs(g[i]!);
      if (a > maxAbs) maxAbs = a;
      else if (a !== a) return NaN;
    }
  }
  if (maxAbs === Infinity) return Infinity;
  if (maxAbs === 0) return 0;
  let scaled = 0; // divide (not multiply by 1/maxAbs, which overflows for subnormal maxAbs)
  for (const g of bufs) scaled += sumSquares(g, maxAbs);
  return maxAbs * Math.sqrt(scaled);
}

/** Σ g_i², blocked, as globalNorm sums one buffer. */
export function sumSquaresOf(g: F): number {
  return sumSquares(g, 1);
}

/** Σ (g_i / divisor)², blocked. */
function sumSquares(g: F, divisor: number): number {
  const n = g.length, BLOCK = 1024;
  let total = 0;
  for (let start = 0; start < n; start += BLOCK) {
    const end = Math.min(n, start + BLOCK);
    // four independent partial sums (also lets the JIT pipeline the loop)
    let s0 = 0, s1 = 0, s2 = 0, s3 = 0, i = start;
    if (divisor === 1) {
      for (; i + 3 < end; i += 4) {
        const a = g[i]!, b = g[i + 1]!, c = g[i + 2]!, d = g[i + 3]!;
        s0 += a * a; s1 += b * b; s2 += c * c; s3 += d * d;
      }
      for (; i < end; i++) { const a = g[i]!; s0 += a * a; }
    } else {
      for (; i < end; i++) { const a = g[i]! / divisor; s0 += a * a; }
    }
    total += (s0 + s1) + (s2 + s3);
  }
  return total;
}

/**
 * Scale the gradients in place so that their global norm is at most `maxNorm`; returns the norm
 * before clipping (log it to watch for exploding gradients). A NaN or infinite norm is returned
 * as is and the gradients are left untouched (the caller decides whether to skip the step).
 */
export function clipByGlobalNorm(grads: Grads, maxNorm: number): number {
  if (!(maxNorm > 0)) throw new RangeError(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  const norm = globalNorm(grads);
  if (!Number.isFinite(norm) || norm <= maxNorm) return norm;
  for (const g of list(grads)) scaleBy(g, maxNorm / norm);
  return norm;
}

/** g_i = g_i · s in place (each product rounded once to g's type): clipping's scaling. */
export function scaleBy(g: F, s: number): void {
  for (let i = 0; i < g.length; i++) g[i] = g[i]! * s;
}

/**
 * Decides a training step from Σ g_i² (see Optimizer.step's gate): reports the gradients' global
 * norm, and returns null (no step) when it is not finite, else the factor clipByGlobalNorm would
 * scale them by for `maxNorm` (1 when it would not, or without maxNorm).
 */
export function clipGate(grads: Grads, maxNorm: number | undefined, report: (norm: number) => void): (sumSquares: number) => number | null {
  if (maxNorm !== undefined && !(maxNorm > 0)) throw new RangeError(`clipByGlobalNorm: maxNorm must be > 0, got ${maxNorm}`);
  return (total) => {
    const norm = normFromSumSquares(total, grads);
    report(norm);
    if (!Number.isFinite(norm)) return null;
    return maxNorm !== undefined && norm > maxNorm ? maxNorm / norm : 1;
  };
}

/**
 * Clamp every value into [-value, value] in place (`clipByValue(g, v)`), or into [min, max]
 * (`clipByValue(g, min, max)`). NaN stays NaN. Returns how many values were changed.
 */
export function clipByValue(grads: Grads, value: number, max?: number): number {
  const lo = max === undefined ? -value : value;
  const hi = max === undefined ? value : max;
  if (Number.isNaN(lo) || Number.isNaN(hi) || lo > hi) {
    throw new RangeError(`clipByValue: invalid range [${lo}, ${hi}]`);
  }
  let changed = 0;
  for (const g of list(grads)) {
    for (let i = 0; i < g.length; i++) {
      const x = g[i]!;
      if (x > hi) { g[i] = hi; changed++; } else if (x < lo) { g[i] = lo; changed++; }
    }
  }
  return changed;
}
