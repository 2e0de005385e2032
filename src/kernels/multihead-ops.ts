// Multi-head attention (Vaswani et al. 2017) on plain arrays: the arithmetic behind
// layers/multihead.ts, in float32 or in float64 (on the reference backend, for the tests'
// finite-difference checks). Batch-first, row-major:
//   queries q [B, Tq, Dq], keys k [B, Tv, Dk], values v [B, Tv, Dv];
//   Q = q·W_q + b_q [B, Tq, H·dk], K = k·W_k + b_k [B, Tv, H·dk], V = v·W_v + b_v [B, Tv, H·dv];
//   head h: O_h = softmax(Q_h K_hᵀ / √dk) V_h [B, Tq, dv], over the keys each query may see;
//   y = [O_1 … O_H]·W_o + b_o [B, Tq, Do].
// The projections are dense products over all rows at once; the heads run as one scaled-dot
// attention over B·H sequences (attention-ops.ts), their rows regrouped head-major
// ([B, T, H, d] -> [B, H, T, d]) before and back after. Masks and causality as attention-ops.ts:
// a padded key (keyMask 0) or, causal, a key ahead gets weight exactly 0, in every head.
import { attentionBackward, attentionForward, maskedSoftmax, type AttentionArgs, type AttentionSaved, type SequenceDims } from './attention-ops.js';
import { denseBackward, denseForward, gemmBatched, lastSteps, swapAxes } from './layer-ops.js';
import { getBackend } from './index.js';
import type { Backend, F } from './types.js';

/** Dq, Dk and Dv (SequenceDims) are the inputs' widths. */
export interface MultiHeadArgs extends SequenceDims {
  /** Heads, and each head's query/key and value widths. */
  heads: number;
  keyDim: number;
  valueDim: number;
  /** Output width (W_o's columns). */
  Do: number;
  q: F;
  k: F;
  v: F;
  /** [B, Tv], 1 = a real step; null when nothing is padded. */
  keyMask: Uint8Array | null;
  causal: boolean;
  /** Dropout on the weights (training): [B·H, Tq, Tv] factors 0 or 1/(1 - rate); null: none. */
  dropMask?: F | null;
  /** W_q [Dq, H·dk], W_k [Dk, H·dk], W_v [Dv, H·dv], W_o [H·dv, Do]; biases null without useBias. */
  wq: F; bq: F | null;
  wk: F; bk: F | null;
  wv: F; bv: F | null;
  wo: F; bo: F | null;
}

/** What the forward keeps for the backward. */
export interface MultiHeadSaved {
  /** The heads' rows, head-major [B·H, T, d]: Q_h, K_h, V_h and their outputs O_h. */
  qh: F;
  kh: F;
  vh: F;
  /** The heads' outputs side by side [B, Tq, H·dv] (W_o's input). */
  o: F;
  /** The scaled-dot attention over the B·H sequences, and what it kept: weights [B·H, Tq, Tv]. */
  att: AttentionArgs;
  attSaved: AttentionSaved;
}

/** Inputs' gradients written (null: not wanted; dk null when k is v, whose whole gradient goes to dv); parameters' added to. */
export interface MultiHeadGrads {
  dq: F | null;
  dk: F | null;
  dv: F | null;
  dwq: F; dbq: F | null;
  dwk: F; dbk: F | null;
  dwv: F; dbv: F | null;
  dwo: F; dbo: F | null;
}

const like = (x: F, n: number): F => (x instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));

/**
 * Where the forward and backward put their intermediate arrays: `key` names one (the same key
 * at every call), n its length; every value is written before it is read. The layer passes its
 * activation slots (arrays in the backend's memory, which its calls read and write in place:
 * a 1600 x 128 x 128 projection took 0.55 ms so against 1.5 with arrays copied in and out);
 * by default new arrays of the inputs' type.
 */
export type MultiHeadBuffers = (key: string, n: number) => F;

/**
 * Regroups rows of H heads of width d: [B, T, H, d] -> [B, H, T, d] (toHeads) or back. Each
 * (b, t, h) row of d values moves whole.
 */
function regroup(be: Backend, src: F, dst: F, B: number, T: number, H: number, d: number, toHeads: boolean): void {
  if (toHeads) swapAxes(be, src, dst, B, T, H, d);
  else swapAxes(be, src, dst, B, H, T, d);
}

function checkArgs(a: MultiHeadArgs): void {
  const { B, Tq, Tv, Dq, Dk, Dv, heads: H, keyDim: dk, valueDim: dv, Do } = a;
  const need = (x: F | null, n: number, what: string): void => {
    if (x !== null && x.length !== n) throw new RangeError(`multiHeadAttention: ${what} has ${x.length} values, expected ${n}`);
  };
  need(a.q, B * Tq * Dq, 'q'); need(a.k, B * Tv * Dk, 'k'); need(a.v, B * Tv * Dv, 'v');
  need(a.wq, Dq * H * dk, 'W_q'); need(a.wk, Dk * H * dk, 'W_k'); need(a.wv, Dv * H * dv, 'W_v'); need(a.wo, H * dv * Do, 'W_o');
  need(a.bq, H * dk, 'b_q'); need(a.bk, H * dk, 'b_k'); need(a.bv, H * dv, 'b_v'); need(a.bo, Do, 'b_o');
  if (a.keyMask && a.keyMask.length !== B * Tv) throw new RangeError(`multiHeadAttention: keyMask has ${a.keyMask.length} values, expected ${B * Tv}`);
  if (a.dropMask && a.dropMask.length !== B * H * Tq * Tv) throw new RangeError(`multiHeadAttention: dropMask has ${a.dropMask.length} values, expected ${B * H * Tq * Tv}`);
}

/** Writes y [B, Tq, Do]; returns what the backward reads (arrays of `buf` among them). */
export function multiHeadForward(be: Backend, a: MultiHeadArgs, y: F, buf: MultiHeadBuffers = (_, n) => like(a.q, n)): MultiHeadSaved {
  checkArgs(a);
  const { B, Tq, Tv, heads: H, keyDim: dk, valueDim: dv, Do } = a;
  if (y.length !== B * Tq * Do) throw new RangeError(`multiHeadAttention: y has ${y.length} values, expected ${B * Tq * Do}`);
  // Each input projected (into `p…`), then its rows regrouped head-major (into `…h`).
  const heads = (n: string, x: F, T: number, K: number, w: F, b: F | null, d: number): F => {
    const z = buf(`${n}p`, B * T * H * d), out = buf(`${n}h`, z.length);
    denseForward(be, { rows: B * T, K, U: H * d, x, w, b, z });
    regroup(be, z, out, B, T, H, d, true);
    return out;
  };
  const qh = heads('q', a.q, Tq, a.Dq, a.wq, a.bq, dk);
  const kh = heads('k', a.k, Tv, a.Dk, a.wk, a.bk, dk);
  const vh = heads('v', a.v, Tv, a.Dv, a.wv, a.bv, dv);
  let keyMask: Uint8Array | null = null;
  if (a.keyMask) {
    keyMask = new Uint8Array(B * H * Tv);
    for (let b = 0; b < B; b++) for (let h = 0; h < H; h++) keyMask.set(a.keyMask.subarray(b * Tv, (b + 1) * Tv), (b * H + h) * Tv);
  }
  const att: AttentionArgs = {
    score: 'scaledDot', B: B * H, Tq, Tv, Dq: dk, Dk: dk, Dv: dv, q: qh, k: kh, v: vh, keyMask, causal: a.causal, dropMask: a.dropMask ?? null,
  };
  const oh = buf('oh', B * H * Tq * dv);
  const attSaved = attentionForward(be, att, oh);
  const o = buf('o', B * Tq * H * dv);
  regroup(be, oh, o, B, Tq, H, dv, false);
  denseForward(be, { rows: B * Tq, K: H * dv, U: Do, x: o, w: a.wo, b: a.bo, z: y });
  return { qh, kh, vh, o, att, attSaved };
}

/**
 * From dy [B, Tq, Do]: the inputs' gradients (written) and the parameters' (added to). `buf`'s
 * keys are not the forward's (whose arrays the backward reads).
 */
export function multiHeadBackward(be: Backend, a: MultiHeadArgs, s: MultiHeadSaved, dy: F, g: MultiHeadGrads, buf: MultiHeadBuffers = (_, n) => like(dy, n)): void {
  checkArgs(a);
  const { B, Tq, Tv, heads: H, keyDim: dk, valueDim: dv, Do } = a;
  if (dy.length !== B * Tq * Do) throw new RangeError(`multiHeadAttention: dy has ${dy.length} values, expected ${B * Tq * Do}`);
  const sharedKv = a.k === a.v;
  if (sharedKv && g.dk) throw new RangeError('multiHeadAttention: keys and values are one array; its gradient comes back as dv (dk must be null)');
  // Through W_o, then into the heads.
  const dO = buf('dO', B * Tq * H * dv);
  denseBackward(be, { rows: B * Tq, K: H * dv, U: Do, x: s.o, w: a.wo, dz: dy, dW: g.dwo, db: g.dbo, dx: dO });
  const dOh = buf('dOh', dO.length);
  regroup(be, dO, dOh, B, Tq, H, dv, true);
  const dqh = buf('dqh', s.qh.length), dkh = buf('dkh', s.kh.length), dvh = buf('dvh', s.vh.length);
  attentionBackward(be, s.att, s.attSaved, dOh, { dq: dqh, dk: dkh, dv: dvh });
  // Back to [B, T, H·d] rows, then through each projection.
  const back = (n: string, xh: F, T: number, d: number): F => {
    const out = buf(`d${n}p`, xh.length);
    regroup(be, xh, out, B, T, H, d, false);
    return out;
  };
  const proj = (x: F, rows: number, K: number, w: F, dz: F, dW: F, db: F | null, dx: F | null): void => {
    denseBackward(be, { rows, K, U: dz.length / rows, x, w, dz, dW, db, dx });
  };
  proj(a.q, B * Tq, a.Dq, a.wq, back('q', dqh, Tq, dk), g.dwq, g.dbq, g.dq);
  // Keys and values one array: the keys' part into a scratch array, added to the values'.
  const dkIn = sharedKv && g.dv ? buf('dkIn', a.k.length) : g.dk;
  proj(a.k, B * Tv, a.Dk, a.wk, back('k', dkh, Tv, dk), g.dwk, g.dbk, dkIn);
  proj(a.v, B * Tv, a.Dv, a.wv, back('v', dvh, Tv, dv), g.dwv, g.dbv, g.dv);
  if (sharedKv && g.dv) for (let i = 0; i < g.dv.length; i++) g.dv[i]! += dkIn![i]!;
}

/**
 * n zeros for a cache, in the current backend's memory where it offers that (activationBuffer), so
 * that the attention products of every step read the cache where it lies instead of copying it in.
 */
function cacheArray(n: number): Float32Array {
  return getBackend().activationBuffer?.(n) ?? new Float32Array(n);
}

/** Gives a replaced cache array's block back at once (else when it is collected). */
function dropCacheArray(a: Float32Array): void {
  getBackend().releaseActivation?.(a);
}

/**
 * A decoder's keys and values so far, per head: K [B·H, capacity, dk] and V [B·H, capacity, dv],
 * the first `length` steps of each sequence filled. It grows (doubling) as steps come.
 */
export class KeyValueCache {
  length = 0;
  private capacity = 0;
  k: Float32Array = new Float32Array(0);
  v: Float32Array = new Float32Array(0);
  constructor(public B: number, readonly heads: number, readonly keyDim: number, readonly valueDim: number, capacity = 64) {
    this.reserve(capacity);
  }

  /** Row i of the batch becomes what row rows[i] was (rows kept, reordered or repeated: a beam search's). */
  selectRows(rows: ArrayLike<number>): void {
    const { heads: H, capacity: cap } = this, n = rows.length;
    const pick = (old: Float32Array, d: number): Float32Array => {
      const a = cacheArray(n * H * cap * d), block = H * cap * d;
      for (let i = 0; i < n; i++) a.set(old.subarray(rows[i]! * block, (rows[i]! + 1) * block), i * block);
      dropCacheArray(old);
      return a;
    };
    this.k = pick(this.k, this.keyDim);
    this.v = pick(this.v, this.valueDim);
    this.B = n;
  }

  /** Room for `steps` steps in all; the steps so far are kept. */
  reserve(steps: number): void {
    if (steps <= this.capacity) return;
    const cap = Math.max(steps, 2 * this.capacity), BH = this.B * this.heads;
    const grow = (old: Float32Array, d: number): Float32Array => {
      const a = cacheArray(BH * cap * d);
      for (let s = 0; s < BH; s++) a.set(old.subarray(s * this.capacity * d, (s * this.capacity + this.length) * d), s * cap * d);
      dropCacheArray(old);
      return a;
    };
    this.k = grow(this.k, this.keyDim);
    this.v = grow(this.v, this.valueDim);
    this.capacity = cap;
  }

  get stride(): number { return this.capacity; }

  /** Empties the cache and gives its arrays' blocks back (a decoder starting a new sequence). */
  release(): void {
    dropCacheArray(this.k);
    dropCacheArray(this.v);
    this.k = this.v = new Float32Array(0);
    this.capacity = this.length = 0;
  }

  /** Appends n steps of projected rows z [B, n, H, d] (keys: d = keyDim, else values) at step `length`. */
  put(z: Float32Array, n: number, keys: boolean): void {
    const { B, heads: H, capacity: cap } = this, d = keys ? this.keyDim : this.valueDim, dst = keys ? this.k : this.v;
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < n; t++) {
        for (let h = 0; h < H; h++) {
          const src = ((b * n + t) * H + h) * d;
          dst.set(z.subarray(src, src + d), ((b * H + h) * cap + this.length + t) * d);
        }
      }
    }
  }
}

/**
 * Self-attention of n new steps x [B, n, D] (q, k and v all x; causal) over the steps the cache
 * holds and themselves: their keys and values are appended to the cache, and y [B, n, Do] is
 * what multiHeadForward writes for these rows given the whole sequence so far (the queries see
 * the keys up to their own step). With `last`, only the last new step's query: y is [B, 1, Do]
 * (a decoder that wants the last step's outputs alone: every step's keys and values, one query
 * per row). Float32, inference only: nothing is kept for a backward.
 */
export function multiHeadStep(be: Backend, a: Omit<MultiHeadArgs, 'q' | 'k' | 'v' | 'keyMask' | 'causal' | 'dropMask' | 'Tq' | 'Tv'> & { x: Float32Array; n: number; last?: boolean },
  cache: KeyValueCache, y: Float32Array, buf: MultiHeadBuffers = (_, n) => new Float32Array(n)): void {
  const { B, n, heads: H, keyDim: dk, valueDim: dv, Do } = a;
  // Queries per batch row: the n new steps, or the last of them.
  const nq = a.last ? 1 : n;
  if (cache.B !== B || cache.heads !== H || cache.keyDim !== dk || cache.valueDim !== dv) throw new RangeError('multiHeadStep: the cache was made for other shapes');
  if (a.x.length !== B * n * a.Dq) throw new RangeError(`multiHeadStep: x has ${a.x.length} values, expected ${B * n * a.Dq}`);
  if (y.length !== B * nq * Do) throw new RangeError(`multiHeadStep: y has ${y.length} values, expected ${B * nq * Do}`);
  const rows = B * n, Tv = cache.length + n;
  cache.reserve(Tv);
  const project = (key: string, x: Float32Array, rows: number, K: number, w: F, b: F | null, d: number): Float32Array => {
    const z = buf(key, rows * H * d) as Float32Array;
    denseForward(be, { rows, K, U: H * d, x, w, b, z });
    return z;
  };
  cache.put(project('kp', a.x, rows, a.Dk, a.wk, a.bk, dk), n, true);
  cache.put(project('vp', a.x, rows, a.Dv, a.wv, a.bv, dv), n, false);
  const xq = nq < n ? lastSteps(a.x, B, n, a.Dq, buf('xq', B * a.Dq) as Float32Array) : a.x;
  const qp = project('qp', xq, B * nq, a.Dq, a.wq, a.bq, dk), qh = buf('qh', qp.length) as Float32Array;
  regroup(be, qp, qh, B, nq, H, dk, true);
  // Scores [B·H, nq, Tv] against the cached keys (rows `stride` apart), scaled, the causal softmax
  // (query i sees keys up to Tv - nq + i: the last query every key), then the weighted sums of
  // the cached values.
  const BH = B * H, cap = cache.stride, s = buf('s', BH * nq * Tv) as Float32Array;
  gemmBatched(be, BH, false, true, nq, Tv, dk, qh, nq * dk, dk, cache.k, cap * dk, dk, s, nq * Tv, Tv, false);
  const c = 1 / Math.sqrt(dk);
  for (let i = 0; i < s.length; i++) s[i]! *= c;
  maskedSoftmax(be, { score: 'scaledDot', B: BH, Tq: nq, Tv, Dq: dk, Dk: dk, Dv: dv, q: qh, k: cache.k, v: cache.v, keyMask: null, causal: true }, s);
  const oh = buf('oh', BH * nq * dv) as Float32Array;
  gemmBatched(be, BH, false, false, nq, dv, Tv, s, nq * Tv, Tv, cache.v, cap * dv, dv, oh, nq * dv, dv, false);
  cache.length = Tv;
  const o = buf('o', B * nq * H * dv) as Float32Array;
  regroup(be, oh, o, B, nq, H, dv, false);
  denseForward(be, { rows: B * nq, K: H * dv, U: Do, x: o, w: a.wo, b: a.bo, z: y });
}
