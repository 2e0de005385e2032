// Weight initialisers. All take the seeded Rng so a run repeats bit for bit.
import type { F } from '../kernels/types.js';
import type { Rng } from './rng.js';

/** Uniform(-a, a). */
export function uniformInit(out: F, a: number, r: Rng): void {
  for (let i = 0; i < out.length; i++) out[i] = r.uniform(-a, a);
}

/** Glorot/Xavier uniform for a (rows, cols) matrix: a = sqrt(6 / (rows + cols)). */
export function glorotUniform(out: F, rows: number, cols: number, r: Rng): void {
  uniformInit(out, Math.sqrt(6 / (rows + cols)), r);
}

/**
 * Orthogonal initialiser (Saxe et al. 2014), as Keras does it: a (rows, cols) matrix with
 * orthonormal rows or columns, from the QR decomposition of a standard-normal matrix, with
 * the signs of R's diagonal folded in so the distribution is uniform (Haar).
 * Keras initialises the recurrent kernel (H, G) this way; here it is applied to each gate
 * block W_h* of shape (H, H), which is the same per-gate orthogonality Keras' (H, 4H) gives
 * up to the columns coupling. NOTE(keras): Keras draws one (H, 4H) orthogonal matrix; for
 * G > H its columns are not orthonormal across gates either, so per-block is no weaker.
 */
export function orthogonal(out: F, rows: number, cols: number, r: Rng, gain = 1): void {
  // Work on an n×m matrix with n >= m (tall), then transpose if needed.
  const tall = rows >= cols;
  const n = tall ? rows : cols, m = tall ? cols : rows;
  const a = new Float64Array(n * m);
  for (let i = 0; i < a.length; i++) a[i] = r.normal();
  // Modified Gram–Schmidt on the columns of a (n×m), keeping sign(diag R) folded in:
  // q_j = (a_j - Σ proj) / ||·||, which is QR with positive diag, i.e. Q·sign(R_jj) already.
  for (let j = 0; j < m; j++) {
    for (let k = 0; k < j; k++) {
      let dot = 0;
      for (let i = 0; i < n; i++) dot += a[i * m + j]! * a[i * m + k]!;
      for (let i = 0; i < n; i++) a[i * m + j] -= dot * a[i * m + k]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += a[i * m + j]! * a[i * m + j]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < n; i++) a[i * m + j] /= norm;
  }
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[i * cols + j] = gain * (tall ? a[i * m + j]! : a[j * m + i]!);
  }
}
