// Helpers the kernel tests share (kernels.test.ts, kernels.threads.test.ts).
import assert from 'node:assert/strict';

/** mulberry32: small deterministic PRNG so failures reproduce. */
export function prng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randArray(n: number, rnd: () => number, scale = 1): Float32Array {
  const a = new Float32Array(n);
  for (let i = 0; i < n; i++) a[i] = (rnd() * 2 - 1) * scale;
  return a;
}

export const nanArray = (n: number): Float32Array => new Float32Array(n).fill(NaN);

/**
 * Asserts got ≈ want elementwise: both NaN, or equal, or |got - want| <= tol(i, want). `what`
 * names the array for the failure message. Returns the worst |diff| / tol.
 */
export function assertWithin(
  got: Float32Array, want: Float32Array, tol: (i: number, want: number) => number, what: string,
): number {
  assert.equal(got.length, want.length, `${what}: length`);
  let worst = 0;
  for (let i = 0; i < want.length; i++) {
    const g = got[i]!, w = want[i]!;
    if (Number.isNaN(w) || Number.isNaN(g)) {
      assert.ok(Number.isNaN(w) && Number.isNaN(g), `${what}[${i}]: got ${g}, want ${w}`);
      continue;
    }
    if (g === w) continue;
    const d = Math.abs(g - w), t = tol(i, w);
    assert.ok(d <= t, `${what}[${i}]: got ${g}, want ${w} (|diff| ${d.toExponential(2)} > tol ${t.toExponential(2)})`);
    worst = Math.max(worst, d / t);
  }
  return worst;
}

/**
 * The float32 error bound of one element of C = op(A)·op(B) (+ C0): 2(K+2)·u·Σ|a·b| (+ |C0|),
 * u = 2^-24 — for assertWithin(got, gemmRef's result, gemmTolerance(...)).
 */
export function gemmTolerance(
  transA: boolean, transB: boolean, K: number, A: Float32Array, lda: number, B: Float32Array, ldb: number,
  ldc: number, C0: Float32Array | null,
): (idx: number) => number {
  const u = 2 ** -24;
  return (idx) => {
    const i = Math.floor(idx / ldc), j = idx % ldc;
    let s = C0 ? Math.abs(C0[idx]!) : 0;
    for (let p = 0; p < K; p++) {
      const a = transA ? A[p * lda + i]! : A[i * lda + p]!;
      const b = transB ? B[j * ldb + p]! : B[p * ldb + j]!;
      s += Math.abs(a * b);
    }
    return 2 * (K + 2) * u * s + 1e-30;
  };
}
