// Attention over sequences on plain arrays: the arithmetic behind layers/attention.ts, in float32
// or in float64 (on the reference backend, for the tests' finite-difference checks). Products of
// whole sequences go through the backend's gemm (per batch row for the scores and the weighted
// sums; over all rows at once for the additive score's projections); the softmax over the keys
// and the additive score's tanh are loops here, in double arithmetic.
//
// Shapes are batch-first and row-major: queries q [B, Tq, Dq], keys k [B, Tv, Dk], values
// v [B, Tv, Dv]; weights a [B, Tq, Tv], each query step's softmax over the keys it may see;
// output y [B, Tq, Dv], y_i = Σ_j a_ij v_j. Scores:
//   dot        s_ij = q_i · k_j                            Luong et al. 2015 (Dq = Dk)
//   scaledDot  s_ij = q_i · k_j / √Dk                      Vaswani et al. 2017
//   additive   s_ij = wᵀ tanh(q_i W_q + k_j W_k + b)       Bahdanau et al. 2015 (W_q [Dq, A],
//                                                           W_k [Dk, A], b [A], w [A])
// A key j with keyMask[b, j] = 0 (padding) or, when causal, j > i + Tv - Tq (a key ahead of the
// query: the Tq queries are the last Tq of the Tv steps, which with Tq = Tv is j > i; with fewer
// queries, the new steps of a decoder reading its cached keys) gets weight exactly 0; a query
// step that may see no key gets all-zero weights and a zero output. Without queries (q = null,
// additive only, Tq = 1, and the sequence both the keys and the values: k and v one array) the
// score is wᵀ tanh(k_j W_k + b): attention pooling, one weight per step of the sequence (Raffel &
// Ellis 2015; Yang et al. 2016's word attention), whose whole gradient goes to dk. A backend with
// attentionPoolForward/Backward runs float32 pooling fused (the WebAssembly backends: the
// projection, tanh, softmax and sums in one call, the sequence read where it lies).
import { gemmBatched, tanhInto } from './layer-ops.js';
import type { Backend, F } from './types.js';

export type AttentionScore = 'dot' | 'scaledDot' | 'additive';
export const ATTENTION_SCORES: readonly AttentionScore[] = ['dot', 'scaledDot', 'additive'];

/** Batch, query and key/value steps, and the widths of queries, keys and values. */
export interface SequenceDims {
  B: number;
  Tq: number;
  Tv: number;
  Dq: number;
  Dk: number;
  Dv: number;
}

export interface AttentionArgs extends SequenceDims {
  score: AttentionScore;
  /** Queries; null: pooling (additive, Tq = 1). */
  q: F | null;
  k: F;
  v: F;
  /** [B, Tv], 1 = a real step; null when nothing is padded. */
  keyMask: Uint8Array | null;
  /** Query step i sees keys j <= i + Tv - Tq only (the queries are the last Tq steps). */
  causal: boolean;
  /**
   * Dropout on the weights (training): [B, Tq, Tv] factors, 0 or 1/(1 - rate), that multiply the
   * weights in the weighted sum (the weights kept and returned are the softmax's); null: none.
   */
  dropMask?: F | null;
  /** Pooling on a fused backend: where to keep u [B·Tv·A] (e.g. a buffer in its memory); else a new array. */
  uOut?: Float32Array;
  /** The additive score's parameters (A = b.length): W_q (null without queries), W_k, b, w. */
  wq?: F | null;
  wk?: F;
  b?: F;
  w?: F;
}

/** What the forward keeps for the backward. */
export interface AttentionSaved {
  /** Weights [B, Tq, Tv] (the softmax's, before any dropout). */
  a: F;
  /** Additive: q·W_q + b [B·Tq, A] (b alone, [B, A], without queries) and k·W_k [B·Tv, A]. */
  pq: F | null;
  pk: F | null;
  /** Pooling: tanh(b + k·W_k) [B·Tv, A] (with queries the B·Tq·Tv·A values are recomputed). */
  u: F | null;
}

/**
 * Gradients: inputs' written (null: not wanted), parameters' added to. When k and v are one array
 * (always for pooling) its whole gradient is written to dk, and dv is not used.
 */
export interface AttentionGrads {
  dq: F | null;
  dk: F | null;
  dv: F | null;
  dwq?: F | null;
  dwk?: F;
  db?: F;
  dw?: F;
}

const like = (x: F, n: number): F => (x instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));


/** Whether query step i of batch row b may see key j. */
function sees(a: AttentionArgs, b: number, i: number, j: number): boolean {
  return (a.keyMask === null || a.keyMask[b * a.Tv + j] !== 0) && (!a.causal || j <= i + a.Tv - a.Tq);
}

/**
 * Batch row b's tanh(pq_i + pk_j) for every pair (i, j), into u [Tq·Tv, A] (pair (i, j) at row
 * i·Tv + j): the sums here, the tanh on the backend (float32: its vector approximation).
 */
function pairTanh(be: Backend, a: AttentionArgs, pq: F, pk: F, b: number, u: F): void {
  const { Tq, Tv } = a, A = a.b!.length;
  for (let i = 0; i < Tq; i++) {
    const qo = (b * Tq + i) * A;
    for (let j = 0; j < Tv; j++) {
      const ko = (b * Tv + j) * A, uo = (i * Tv + j) * A;
      for (let c = 0; c < A; c++) u[uo + c] = pq[qo + c]! + pk[ko + c]!;
    }
  }
  tanhInto(be, u, u);
}

/** Scores s [B, Tq, Tv] (pre-softmax) of a forward; additive: also what its backward reads. */
function scores(be: Backend, a: AttentionArgs, s: F): Omit<AttentionSaved, 'a'> {
  const { B, Tq, Tv, Dk, k } = a;
  if (a.score !== 'additive') {
    gemmBatched(be, B, false, true, Tq, Tv, Dk, a.q!, Tq * Dk, Dk, k, Tv * Dk, Dk, s, Tq * Tv, Tv, false);
    if (a.score === 'scaledDot') {
      const c = 1 / Math.sqrt(Dk);
      for (let i = 0; i < s.length; i++) s[i]! *= c;
    }
    return { pq: null, pk: null, u: null };
  }
  const A = a.b!.length, bias = a.b!, w = a.w!;
  const pk = like(k, B * Tv * A);
  be.gemm(false, false, B * Tv, A, Dk, k, Dk, a.wk!, A, pk, A, false);
  const pq = like(k, B * Tq * A);
  if (a.q !== null) be.gemm(false, false, B * Tq, A, a.Dq, a.q, a.Dq, a.wq!, A, pq, A, false);
  for (let r = 0; r < B * Tq; r++) for (let c = 0; c < A; c++) pq[r * A + c]! += bias[c]!;
  if (a.q !== null && be.additiveScores && pq instanceof Float32Array && pk instanceof Float32Array && s instanceof Float32Array) {
    be.additiveScores(B, Tq, Tv, A, pq, pk, w as Float32Array, s); // (every pair; the softmax drops the unseen)
    return { pq, pk, u: null };
  }
  // Pooling keeps every row's tanh (B·Tv·A values, one backend call); with queries the rows'
  // pairs one row at a time.
  const keep = a.q === null;
  const U = like(k, (keep ? B : 1) * Tq * Tv * A);
  if (keep) {
    for (let r = 0; r < B * Tv; r++) for (let c = 0; c < A; c++) U[r * A + c] = pk[r * A + c]! + bias[c]!;
    tanhInto(be, U, U);
  }
  for (let b = 0; b < B; b++) {
    const u = keep ? U.subarray(b * Tv * A, (b + 1) * Tv * A) : U;
    if (!keep) pairTanh(be, a, pq, pk, b, u);
    for (let i = 0; i < Tq; i++) {
      const so = (b * Tq + i) * Tv;
      for (let j = 0; j < Tv; j++) {
        if (!sees(a, b, i, j)) { s[so + j] = 0; continue; }
        const uo = (i * Tv + j) * A;
        let acc = 0;
        for (let c = 0; c < A; c++) acc += w[c]! * u[uo + c]!;
        s[so + j] = acc;
      }
    }
  }
  return { pq, pk, u: keep ? U : null };
}

/** Each query step's softmax over the keys it sees, in place (all zeros when it sees none). */
export function maskedSoftmax(be: Backend, a: AttentionArgs, s: F): void {
  const { B, Tq, Tv, keyMask: m } = a;
  if (be.softmaxRows && s instanceof Float32Array && B * Tq * Tv > 0) {
    // float32 on the backend: unseen keys to -Inf first (exp gives 0); a query that sees no key
    // at all (a row of -Inf, NaN out of the softmax) is set to zeros after.
    let blind = false;
    for (let b = 0; b < B; b++) {
      for (let i = 0; i < Tq; i++) {
        const o = (b * Tq + i) * Tv, end = a.causal ? Math.min(i + 1 + Tv - Tq, Tv) : Tv;
        let seen = 0;
        for (let j = 0; j < end; j++) if (m !== null && m[b * Tv + j] === 0) s[o + j] = -Infinity; else seen++;
        s.fill(-Infinity, o + end, o + Tv);
        if (seen === 0) blind = true;
      }
    }
    be.softmaxRows(s, s, B * Tq, Tv, new Float64Array(B * Tq));
    if (blind) for (let r = 0; r < B * Tq; r++) if (Number.isNaN(s[r * Tv]!)) s.fill(0, r * Tv, (r + 1) * Tv);
    return;
  }
  for (let b = 0; b < B; b++) {
    const mo = b * Tv;
    for (let i = 0; i < Tq; i++) {
      const o = (b * Tq + i) * Tv, end = a.causal ? Math.min(i + 1 + Tv - Tq, Tv) : Tv; // keys [0, end), unmasked
      let max = -Infinity;
      for (let j = 0; j < end; j++) if ((m === null || m[mo + j] !== 0) && s[o + j]! > max) max = s[o + j]!;
      if (max === -Infinity) { s.fill(0, o, o + Tv); continue; }
      let sum = 0;
      for (let j = 0; j < end; j++) {
        s[o + j] = m === null || m[mo + j] !== 0 ? Math.exp(s[o + j]! - max) : 0;
        sum += s[o + j]!;
      }
      s.fill(0, o + end, o + Tv);
      for (let j = 0; j < end; j++) s[o + j]! /= sum;
    }
  }
}

/** The weights as the weighted sum uses them: w itself, or w times the dropout factors. */
function dropped(a: AttentionArgs, w: F): F {
  const m = a.dropMask;
  if (!m) return w;
  const d = like(w, w.length);
  for (let i = 0; i < w.length; i++) d[i] = w[i]! * m[i]!;
  return d;
}

/** Checks the arrays' lengths against the shapes (a wrong one is the caller's bug, named here). */
function checkArgs(a: AttentionArgs): void {
  const { B, Tq, Tv, Dq, Dk, Dv } = a;
  const need = (x: F | null | undefined, n: number, what: string): void => {
    if (!x || x.length !== n) throw new RangeError(`attention: ${what} has ${x?.length ?? 'no'} values, expected ${n}`);
  };
  if (a.q === null) {
    if (a.score !== 'additive' || Tq !== 1) throw new RangeError('attention: without queries only the additive score, with Tq = 1');
    if (a.v !== a.k) throw new RangeError('attention: without queries (pooling) the keys are the values: pass one array as k and v');
  } else need(a.q, B * Tq * Dq, 'q');
  need(a.k, B * Tv * Dk, 'k');
  need(a.v, B * Tv * Dv, 'v');
  if (a.keyMask !== null && a.keyMask.length !== B * Tv) throw new RangeError(`attention: keyMask has ${a.keyMask.length} values, expected ${B * Tv}`);
  if (a.dropMask) {
    if (a.q === null) throw new RangeError('attention: no dropout mask for pooling');
    need(a.dropMask, B * Tq * Tv, 'dropMask');
  }
  if (a.score === 'additive') {
    const A = a.b?.length ?? 0;
    need(a.w, A, 'w');
    need(a.wk, Dk * A, 'W_k');
    if (a.q !== null) need(a.wq, Dq * A, 'W_q');
  } else if (Dq !== Dk) throw new RangeError(`attention: the ${a.score} score needs queries and keys of one width, got ${Dq} and ${Dk}`);
}

/** Forward: writes y [B, Tq, Dv]; returns what the backward needs. */
export function attentionForward(be: Backend, a: AttentionArgs, y: F): AttentionSaved {
  checkArgs(a);
  const { B, Tq, Tv, Dv } = a;
  if (y.length !== B * Tq * Dv) throw new RangeError(`attention: y has ${y.length} values, expected ${B * Tq * Dv}`);
  const w = like(a.k, B * Tq * Tv);
  if (a.q === null && be.attentionPoolForward && a.k instanceof Float32Array && y instanceof Float32Array) {
    const n = B * Tv * a.b!.length, u = a.uOut && a.uOut.length === n ? a.uOut : new Float32Array(n);
    be.attentionPoolForward({ B, T: Tv, D: Dv, A: a.b!.length, h: a.k, mask: a.keyMask, wk: a.wk as Float32Array, b: a.b as Float32Array, w: a.w as Float32Array, u, a: w as Float32Array, y });
    return { a: w, pq: null, pk: null, u };
  }
  const kept = scores(be, a, w);
  maskedSoftmax(be, a, w);
  gemmBatched(be, B, false, false, Tq, Dv, Tv, dropped(a, w), Tq * Tv, Tv, a.v, Tv * Dv, Dv, y, Tq * Dv, Dv, false);
  return { a: w, ...kept };
}

/** Backward from dy [B, Tq, Dv] (and dA [B, Tq, Tv], a gradient of the weights themselves). */
export function attentionBackward(be: Backend, a: AttentionArgs, saved: AttentionSaved, dy: F, g: AttentionGrads, dA: F | null = null): void {
  checkArgs(a);
  const { B, Tq, Tv, Dq, Dk, Dv, k, v } = a, W = saved.a;
  if (dy.length !== B * Tq * Dv) throw new RangeError(`attention: dy has ${dy.length} values, expected ${B * Tq * Dv}`);
  const pooling = a.q === null;
  if (pooling && dA === null && saved.pk === null && be.attentionPoolBackward && k instanceof Float32Array && dy instanceof Float32Array) {
    be.attentionPoolBackward({
      B, T: Tv, D: Dv, A: a.b!.length, h: k, wk: a.wk as Float32Array, w: a.w as Float32Array, u: saved.u as Float32Array, a: W as Float32Array, dy,
      dwk: g.dwk as Float32Array, db: g.db as Float32Array, dw: g.dw as Float32Array, dh: g.dk as Float32Array | null,
    });
    return;
  }
  // Keys and values one array (pooling; an Attention layer given [query, value]): the values'
  // part of its gradient goes to dk first, the keys' part is added.
  const shared = k === v;
  const dvOut = shared ? g.dk : g.dv;
  // dA = dy·vᵀ (+ the weights' own gradient), dv = aᵀ·dy.
  // With dropout the sum read W ⊙ mask: dA = (dy·vᵀ) ⊙ mask, dv = (W ⊙ mask)ᵀ·dy.
  const dS = like(k, B * Tq * Tv), m = a.dropMask;
  gemmBatched(be, B, false, true, Tq, Tv, Dv, dy, Tq * Dv, Dv, v, Tv * Dv, Dv, dS, Tq * Tv, Tv, false);
  if (m) for (let i = 0; i < dS.length; i++) dS[i]! *= m[i]!;
  if (dA !== null) for (let i = 0; i < dS.length; i++) dS[i]! += dA[i]!;
  if (dvOut) gemmBatched(be, B, true, false, Tv, Dv, Tq, dropped(a, W), Tq * Tv, Tv, dy, Tq * Dv, Dv, dvOut, Tv * Dv, Dv, false);
  // Through the softmax: ds_ij = a_ij (dA_ij - Σ_l a_il dA_il); unseen keys (a = 0) get 0.
  for (let r = 0; r < B * Tq; r++) {
    const o = r * Tv;
    let dot = 0;
    for (let j = 0; j < Tv; j++) dot += W[o + j]! * dS[o + j]!;
    for (let j = 0; j < Tv; j++) dS[o + j] = W[o + j]! * (dS[o + j]! - dot);
  }
  if (a.score !== 'additive') {
    if (a.score === 'scaledDot') {
      const c = 1 / Math.sqrt(Dk);
      for (let i = 0; i < dS.length; i++) dS[i]! *= c;
    }
    if (g.dq) gemmBatched(be, B, false, false, Tq, Dk, Tv, dS, Tq * Tv, Tv, k, Tv * Dk, Dk, g.dq, Tq * Dq, Dq, false);
    if (g.dk) gemmBatched(be, B, true, false, Tv, Dk, Tq, dS, Tq * Tv, Tv, a.q!, Tq * Dq, Dq, g.dk, Tv * Dk, Dk, shared);
    return;
  }
  // Additive: u = tanh(pq_i + pk_j) (kept for pooling; else recomputed, in WebAssembly where the
  // backend has additiveScoresBackward, or here one batch row at a time), dz = ds·w⊙(1 - u²)
  // summed into the projections' gradients dpq [B·Tq, A], dpk [B·Tv, A].
  const A = a.b!.length, w = a.w!;
  let pq = saved.pq, pk = saved.pk;
  if (pk === null || pq === null) {
    // A fused forward (attentionPoolForward) kept u alone: the projections again for the sums below.
    pk = like(k, B * Tv * A);
    be.gemm(false, false, B * Tv, A, Dk, k, Dk, a.wk!, A, pk, A, false);
    pq = like(k, B * A);
    for (let r = 0; r < B; r++) pq.set(a.b!, r * A);
  }
  const dpq = like(k, B * Tq * A), dpk = like(k, B * Tv * A), dw = new Float64Array(A);
  const fused = !saved.u && be.additiveScoresBackward && pq instanceof Float32Array && pk instanceof Float32Array && dS instanceof Float32Array;
  if (fused) {
    const dw32 = new Float32Array(A);
    be.additiveScoresBackward!(B, Tq, Tv, A, pq as Float32Array, pk as Float32Array, w as Float32Array, dS as Float32Array, dpq as Float32Array, dpk as Float32Array, dw32);
    for (let c = 0; c < A; c++) dw[c] = dw32[c]!;
  }
  const scratch = saved.u || fused ? null : like(k, Tq * Tv * A);
  for (let b = 0; b < (fused ? 0 : B); b++) {
    let U: F;
    if (saved.u) U = saved.u.subarray(b * Tv * A, (b + 1) * Tv * A);
    else pairTanh(be, a, pq, pk, b, (U = scratch!));
    for (let i = 0; i < Tq; i++) {
      const qo = (b * Tq + i) * A, so = (b * Tq + i) * Tv;
      for (let j = 0; j < Tv; j++) {
        const ds = dS[so + j]!;
        if (ds === 0) continue;
        const ko = (b * Tv + j) * A, uo = (i * Tv + j) * A;
        for (let c = 0; c < A; c++) {
          const u = U[uo + c]!;
          dw[c] += ds * u;
          const dz = ds * w[c]! * (1 - u * u);
          dpq[qo + c]! += dz;
          dpk[ko + c]! += dz;
        }
      }
    }
  }
  for (let c = 0; c < A; c++) g.dw![c]! += dw[c]!;
  const db = new Float64Array(A);
  for (let r = 0; r < B * Tq; r++) for (let c = 0; c < A; c++) db[c] += dpq[r * A + c]!;
  for (let c = 0; c < A; c++) g.db![c]! += db[c]!;
  be.gemm(true, false, Dk, A, B * Tv, k, Dk, dpk, A, g.dwk!, A, true);
  if (g.dk) be.gemm(false, true, B * Tv, Dk, A, dpk, A, a.wk!, A, g.dk, Dk, shared);
  if (a.q !== null) {
    be.gemm(true, false, Dq, A, B * Tq, a.q, Dq, dpq, A, g.dwq!, A, true);
    if (g.dq) be.gemm(false, true, B * Tq, Dq, A, dpq, A, a.wq!, A, g.dq, Dq, false);
  }
}
