// Weight initialisers. All take the seeded Rng so a run repeats bit for bit.
import type { F } from '../kernels/types.js';
import type { Rng } from './rng.js';

/** Uniform(-a, a). */
export function uniformInit(out: F, a: number, r: Rng): void {
  for (let i = 0; i < out.length; i++) out[i] = r.uniform(-a, a);
}

let weightsFollow = false;

/**
 * Runs `build` (which constructs layers) knowing that every weight it initialises is overwritten
 * next (a saved model being loaded): the initialisers then draw their random numbers as usual —
 * each Rng ends where it would have, so what a layer draws later (dropout masks) is unchanged —
 * but skip the work that only shapes the values, the orthogonal initialiser's QR (~250 ms of
 * loading a two-layer LSTM 256).
 */
export function withWeightsToFollow<T>(build: () => T): T {
  const was = weightsFollow;
  weightsFollow = true;
  try {
    return build();
  } finally {
    weightsFollow = was;
  }
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
  // Work on an n×m matrix A with n >= m (tall), then transpose if needed. A is kept by columns
  // (A[i, j] at a[j·n + i]), so that every loop below runs along contiguous memory (by rows, the
  // 512 x 512 blocks of an LSTM 512 took 4 x 640 ms); A[i, j] is still the (i·m + j)-th normal.
  const tall = rows >= cols;
  const n = tall ? rows : cols, m = tall ? cols : rows;
  const a = new Float64Array(n * m);
  for (let i = 0; i < n; i++) for (let j = 0; j < m; j++) a[j * n + i] = r.normal();
  if (weightsFollow) { out.fill(0, 0, rows * cols); return; } // overwritten next (withWeightsToFollow)
  // Modified Gram–Schmidt on the columns of A, keeping sign(diag R) folded in:
  // q_j = (a_j - Σ proj) / ||·||, which is QR with positive diag, i.e. Q·sign(R_jj) already.
  for (let j = 0; j < m; j++) {
    const cj = j * n;
    for (let k = 0; k < j; k++) {
      const ck = k * n;
      let dot = 0;
      for (let i = 0; i < n; i++) dot += a[cj + i]! * a[ck + i]!;
      for (let i = 0; i < n; i++) a[cj + i] -= dot * a[ck + i]!;
    }
    let norm = 0;
    for (let i = 0; i < n; i++) norm += a[cj + i]! * a[cj + i]!;
    norm = Math.sqrt(norm) || 1;
    for (let i = 0; i < n; i++) a[cj + i] /= norm;
  }
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) out[i * cols + j] = gain * (tall ? a[j * n + i]! : a[i * n + j]!);
  }
}
