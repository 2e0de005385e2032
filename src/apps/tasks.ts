// Synthetic long-range tasks for comparing recurrent cells (the tutorial's exercise 4), generated
// in code from a seed so every cell sees exactly the same data.
//
// Adding problem (Hochreiter & Schmidhuber 1997; the form of Le, Jaitly & Hinton 2015):
//   input  x_t = (v_t, m_t), v_t ~ U[0, 1), m_t ∈ {0, 1} with exactly two 1s: one at a uniformly
//          random step of the first half [0, ⌊T/2⌋) and one in the second half [⌊T/2⌋, T);
//   target y = v_a + v_b (the two marked values), read from the last step; loss MSE.
//   Predicting the constant 1 (the mean of y) gives MSE = Var(y) = 2/12 = 0.1667: the baseline.
//   "Solved" = validation MSE below 0.01 (6% of the baseline variance left).
//
// Copy-memory task (Hochreiter & Schmidhuber 1997; the form of Arjovsky, Shah & Bengio 2016):
//   S symbols drawn from an alphabet of K (ids 1..K), then `delay` blanks (id 0) of which the
//   last is replaced by the delimiter (id K+1), then S blanks. Length L = delay + 2S.
//   Targets: blank (0) at every step except the last S, which must repeat the S symbols.
//   Input one-hot over K+2 ids; output K+1 classes (blank + symbols), cross-entropy at every step.
//   A memoryless model can output blanks then guess: recall accuracy 1/K (chance), loss
//   S·ln(K)/L per step (the baseline). "Solved" = recall accuracy ≥ 0.9.
import { rng } from '../tensor/rng.js';

export interface AddingData {
  /** n sequences of length T, two features per step: [n, T, 2] row-major (batch-first). */
  x: Float32Array;
  /** n targets [n, 1]. */
  y: Float32Array;
  /** The two marked positions of each sequence [n, 2]. */
  marks: Int32Array;
  n: number;
  T: number;
}

export const ADDING_BASELINE_MSE = 1 / 6;
export const ADDING_SOLVED_MSE = 0.01;

/** n adding-problem sequences of length T (T ≥ 2), deterministic in `seed`. */
export function makeAdding(n: number, T: number, seed: number): AddingData {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`makeAdding: n must be a positive integer, got ${n}`);
  if (!Number.isInteger(T) || T < 2) throw new RangeError(`makeAdding: the sequence length must be an integer >= 2, got ${T}`);
  const r = rng(seed);
  const x = new Float32Array(n * T * 2), y = new Float32Array(n), marks = new Int32Array(n * 2);
  const half = Math.floor(T / 2);
  for (let i = 0; i < n; i++) {
    const o = i * T * 2;
    for (let t = 0; t < T; t++) x[o + 2 * t] = r.next();
    const a = r.int(half), b = half + r.int(T - half);
    x[o + 2 * a + 1] = 1; x[o + 2 * b + 1] = 1;
    marks[2 * i] = a; marks[2 * i + 1] = b;
    // The target is computed from the stored (float32) values, so it is exact for the data.
    y[i] = x[o + 2 * a]! + x[o + 2 * b]!;
  }
  return { x, y, marks, n, T };
}

export interface CopyOptions {
  /** Symbols to remember (default 10). */
  symbols?: number;
  /** Alphabet size K (default 8). */
  alphabet?: number;
}

export interface CopyData {
  /** One-hot input [n, L, K+2]. */
  x: Float32Array;
  /** Input ids [n, L] (0 blank, 1..K symbols, K+1 delimiter). */
  ids: Int32Array;
  /** Target ids [n, L] stored as floats (sparse categorical targets): 0 except the recall steps. */
  y: Float32Array;
  n: number;
  /** Total length L = delay + 2·symbols. */
  L: number;
  delay: number;
  symbols: number;
  alphabet: number;
  /** First recall step: L - symbols. */
  recallStart: number;
  /** Input width K+2 and number of output classes K+1. */
  inputSize: number;
  classes: number;
}

export function copyLayout(delay: number, o: CopyOptions = {}): { L: number; symbols: number; alphabet: number; delimiterAt: number; recallStart: number } {
  const symbols = o.symbols ?? 10, alphabet = o.alphabet ?? 8;
  if (!Number.isInteger(delay) || delay < 1) throw new RangeError(`copy task: the delay must be an integer >= 1, got ${delay}`);
  if (!Number.isInteger(symbols) || symbols < 1) throw new RangeError(`copy task: symbols must be an integer >= 1, got ${symbols}`);
  if (!Number.isInteger(alphabet) || alphabet < 2) throw new RangeError(`copy task: the alphabet must have >= 2 symbols, got ${alphabet}`);
  const L = delay + 2 * symbols;
  return { L, symbols, alphabet, delimiterAt: symbols + delay - 1, recallStart: L - symbols };
}

/** n copy-memory sequences with the given delay, deterministic in `seed`. */
export function makeCopy(n: number, delay: number, seed: number, o: CopyOptions = {}): CopyData {
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`makeCopy: n must be a positive integer, got ${n}`);
  const { L, symbols, alphabet, delimiterAt, recallStart } = copyLayout(delay, o);
  const K = alphabet, W = K + 2;
  const r = rng(seed);
  const ids = new Int32Array(n * L), y = new Float32Array(n * L), x = new Float32Array(n * L * W);
  for (let i = 0; i < n; i++) {
    const o2 = i * L;
    for (let s = 0; s < symbols; s++) {
      const v = 1 + r.int(K);
      ids[o2 + s] = v;
      y[o2 + recallStart + s] = v;
    }
    ids[o2 + delimiterAt] = K + 1;
    for (let t = 0; t < L; t++) x[(o2 + t) * W + ids[o2 + t]!] = 1;
  }
  return { x, ids, y, n, L, delay, symbols, alphabet, recallStart, inputSize: W, classes: K + 1 };
}

/** Per-step cross-entropy of the memoryless strategy (blanks, then a uniform guess). */
export function copyBaselineLoss(delay: number, o: CopyOptions = {}): number {
  const { L, symbols, alphabet } = copyLayout(delay, o);
  return (symbols * Math.log(alphabet)) / L;
}

export const COPY_SOLVED_ACCURACY = 0.9;

/**
 * Accuracy on the recalled symbols: argmax of the predicted class distribution [n, L, C] at the
 * last `symbols` steps against the targets.
 */
export function copyRecallAccuracy(probs: ArrayLike<number>, data: Pick<CopyData, 'y' | 'n' | 'L' | 'recallStart' | 'classes'>): number {
  const { n, L, recallStart, classes: C } = data;
  if (probs.length !== n * L * C) throw new RangeError(`copyRecallAccuracy: expected ${n * L * C} probabilities, got ${probs.length}`);
  let ok = 0, total = 0;
  for (let i = 0; i < n; i++) {
    for (let t = recallStart; t < L; t++) {
      const o = (i * L + t) * C;
      let best = 0;
      for (let c = 1; c < C; c++) if (probs[o + c]! > probs[o + best]!) best = c;
      if (best === data.y[i * L + t]) ok++;
      total++;
    }
  }
  return total ? ok / total : 0;
}
