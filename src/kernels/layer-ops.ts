// One direction of one recurrent layer, and a dense layer, forward and backward, on any backend.
//
// `layerForward` / `layerBackward` run the backend's fused version when it has one (the
// WebAssembly backends keep xg and dxg in their own memory: no copy of the T·B·G pre-activations
// ever crosses into JavaScript), and otherwise compose the same computation from the backend's
// gemm and sequence loop — the specification the fused versions are tested against, and the
// path for float64 (reference backend) and for recurrent dropout (hMask) on a backend whose loops
// cannot apply it (Backend.supportsHMask).
//
// Order of floating-point operations, shared by both paths so that they agree bit for bit on the
// same kernels: xg rows start as the folded bias row and the input product is accumulated onto
// them; bias gradients are column sums from zero, then added to the accumulators.
import { gemmRef, seqBackwardRef, seqForwardRef } from './reference.js';
import type { Backend, CellKind, DenseBackwardArgs, DenseForwardArgs, F, LayerBackwardArgs, LayerForwardArgs, ResidentCache, SeqBackwardArgs, SeqCache, SeqForwardArgs } from './types.js';
import { allocCache, gateWidth, isResident } from './types.js';

/** A buffer of n elements of x's type; contents unspecified (every element is written before use). */
export type ScratchFn = (key: string, n: number) => F;

const fresh = (like: F): ScratchFn => (_key, n) => (like instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));

/**
 * The bias row folded into xg: b_ih + b_hh for every gate except the GRU candidate n, whose b_hn
 * sits inside the reset product (it is passed to the loop separately, see gruBhn).
 */
export function foldBias(kind: CellKind, H: number, bih: F, bhh: F, row: F): void {
  const G = gateWidth(kind, H), foldTo = kind === 'gru' ? 2 * H : G;
  for (let k = 0; k < G; k++) row[k] = bih[k]! + (k < foldTo ? bhh[k]! : 0);
}

/** The GRU's b_hn (the n block of b_hh), or null. */
export function gruBhn(kind: CellKind, H: number, bhh: F | null): F | null {
  return kind === 'gru' && bhh ? bhh.subarray(2 * H, 3 * H) : null;
}

/** acc[k] += Σ_r m[r, k] for an (rows, cols) matrix, summed from zero first. */
export function colSumInto(acc: F, m: F, rows: number, cols: number, tmp: F): void {
  tmp.fill(0, 0, cols);
  for (let r = 0; r < rows; r++) {
    const o = r * cols;
    for (let k = 0; k < cols; k++) tmp[k] += m[o + k]!;
  }
  for (let k = 0; k < cols; k++) acc[k] += tmp[k]!;
}

/**
 * The per-step loops: the backend's, unless it cannot apply a recurrent mask (hMask: recurrent
 * dropout). Then the reference loops run, their per-step products on the backend's gemm for
 * float32 (an LSTM 64 classifier at batch 32, 100 steps, with recurrentDropout: 228 ms per
 * training step with the reference's own products, ad hoc).
 */
function runSeqForward(b: Backend, a: SeqForwardArgs): void {
  if (!a.hMask || b.supportsHMask) b.seqForward(a);
  else seqForwardRef(a, a.xg instanceof Float32Array ? b.gemm.bind(b) : gemmRef);
}

function runSeqBackward(b: Backend, a: SeqBackwardArgs): void {
  if (!a.hMask || b.supportsHMask) b.seqBackward(a);
  else seqBackwardRef(a, a.dxg instanceof Float32Array ? b.gemm.bind(b) : gemmRef);
}

export function layerForward(backend: Backend, a: LayerForwardArgs, scratch: ScratchFn = fresh(a.x)): void {
  if (backend.layerForward && (!a.hMask || backend.supportsHMask)) backend.layerForward(a);
  else layerForwardComposed(backend, a, scratch);
}

export function layerBackward(backend: Backend, a: LayerBackwardArgs, scratch: ScratchFn = fresh(a.x)): void {
  if (backend.layerBackward && (!a.hMask || backend.supportsHMask)) backend.layerBackward(a);
  else layerBackwardComposed(backend, a, scratch);
}

/** The composed paths work on JavaScript arrays only. */
function jsCache(c: SeqCache | ResidentCache, what: string): SeqCache {
  if (isResident(c)) throw new TypeError(`${what}: a backend-resident cache can only be used by the fused layer operations of the backend that made it`);
  return c;
}

/**
 * Copies T·B rows of w values from src (row r at offset + r·ld) to dst (row r' at dstOffset +
 * r'·dstLd), reordering batch-first rows (b·T + t) into time-major ones (t·B + b), or back when
 * `toBatchFirst`.
 */
export function reorderRows(
  src: F, offset: number, ld: number, dst: F, dstOffset: number, dstLd: number,
  T: number, B: number, w: number, toBatchFirst: boolean,
): void {
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const bf = b * T + t, tm = t * B + b;
      const s = offset + (toBatchFirst ? tm : bf) * ld;
      dst.set(src.subarray(s, s + w), dstOffset + (toBatchFirst ? bf : tm) * dstLd);
    }
  }
}

/**
 * The table rows of a layer operation's input (args.xIds, see LayerForwardArgs), checked, in
 * time-major order (row t·B + b); null when the input is given row by row.
 */
export function tableIds(a: LayerForwardArgs | LayerBackwardArgs, owner: string): { ids: Int32Array; rows: number } | null {
  const ids = a.xIds;
  if (ids === null || ids === undefined) return null;
  const { T, B } = a, TB = T * B, rows = a.xRows;
  if (!(ids instanceof Int32Array) || ids.length < TB) {
    throw new RangeError(`${owner}: xIds must be an Int32Array of T·B = ${TB} row ids, got ${(ids as object)?.constructor?.name} of ${(ids as Int32Array)?.length}`);
  }
  if (typeof rows !== 'number' || !Number.isInteger(rows) || rows < (TB > 0 ? 1 : 0)) {
    throw new RangeError(`${owner}: xRows (rows of the table x) must be a ${TB > 0 ? 'positive' : 'non-negative'} integer with xIds, got ${String(rows)}`);
  }
  if (a.x.length < rows * a.I) throw new RangeError(`${owner}: the table x has ${a.x.length} values, needs xRows·I = ${rows * a.I}`);
  const out = new Int32Array(TB);
  for (let t = 0; t < T; t++) {
    for (let b = 0; b < B; b++) {
      const r = a.batchFirst ? b * T + t : t * B + b, v = ids[r]!;
      if (v < 0 || v >= rows) throw new RangeError(`${owner}: xIds[${r}] = ${v} is outside the table's rows [0, ${rows})`);
      out[t * B + b] = v;
    }
  }
  return { ids: out, rows };
}

/**
 * dst row b = the last of the n steps of batch row b of a batch-first src [B, n, w] (a decoder that
 * wants the last step alone), for values or a mask; dst: B·w values. Returns dst.
 */
export function lastSteps<T extends Float32Array | Uint8Array>(src: T, B: number, n: number, w: number, dst: T): T {
  for (let b = 0; b < B; b++) dst.set(src.subarray(((b + 1) * n - 1) * w, (b + 1) * n * w), b * w);
  return dst;
}

/** The mask of lastSteps' rows: each batch row's mask values at its last of n steps (null: none). */
export function lastStepMask(mask: Uint8Array | null, B: number, n: number): Uint8Array | null {
  if (!mask) return null;
  const m = mask.length / (B * n);
  return lastSteps(mask, B, n, m, new Uint8Array(B * m));
}

/**
 * dst row r = src row ids[r], for n rows of w values: on the backend's kernel where it has one and
 * both arrays lie in its memory (Backend.gatherRows), else here — rows of up to 16 values by a
 * plain loop, longer ones by a subarray + set per row (ad hoc, 7,200 rows: 8 values 0.14 against
 * 0.60 ms, 64 values 1.04 against 0.60, 128 1.37 against 0.36).
 */
export function gatherRows(src: F, ids: Int32Array, n: number, w: number, dst: F, backend: Backend | null = null): void {
  if (backend?.gatherRows && src instanceof Float32Array && dst instanceof Float32Array && backend.gatherRows(src, ids, n, w, dst)) return;
  if (w <= 16) {
    for (let r = 0, o = 0; r < n; r++) {
      const s = ids[r]! * w;
      for (let j = 0; j < w; j++, o++) dst[o] = src[s + j]!;
    }
    return;
  }
  for (let r = 0; r < n; r++) dst.set(src.subarray(ids[r]! * w, (ids[r]! + 1) * w), r * w);
}

/**
 * dst row ids[r] += src row r for r = 0 .. n-1, in that order: on the backend's kernel where it
 * has one and both arrays lie in its memory (Backend.addRowsAt: the same bits), else here.
 */
export function addRowsAt(dst: F, ids: Int32Array, n: number, w: number, src: F, backend: Backend | null = null): void {
  if (backend?.addRowsAt && src instanceof Float32Array && dst instanceof Float32Array && backend.addRowsAt(dst, ids, n, w, src)) return;
  for (let r = 0; r < n; r++) addRow(dst, ids[r]! * w, src, r * w, w);
}

/** dst (rows, w) = 0, then dst row ids[r] += src row r for r = 0 .. n-1, in that order. */
export function scatterAddRows(src: F, ids: Int32Array, n: number, w: number, dst: F, rows: number): void {
  dst.fill(0, 0, rows * w);
  addRowsAt(dst, ids, n, w, src);
}

/**
 * dst[o + j] += src[s + j] for j < n, four values per iteration (the same additions in the same
 * order as one at a time): W3's 12,800 x 64 embedding scatter-add took 0.95 ms instead of 1.42
 * (ad hoc, timed alone).
 */
export function addRow(dst: F, o: number, src: F, s: number, n: number): void {
  const n4 = n & ~3;
  let j = 0;
  for (; j < n4; j += 4) {
    dst[o + j] += src[s + j]!; dst[o + j + 1] += src[s + j + 1]!;
    dst[o + j + 2] += src[s + j + 2]!; dst[o + j + 3] += src[s + j + 3]!;
  }
  for (; j < n; j++) dst[o + j] += src[s + j]!;
}

/** layerForward from gemm + seqForward. */
export function layerForwardComposed(backend: Backend, a: LayerForwardArgs, scratch: ScratchFn = fresh(a.x)): void {
  const { kind, T, B, H, I, reverse } = a;
  const table = tableIds(a, 'layerForward');
  if (a.batchFirst) {
    // Run time-major on reordered copies, then put the output rows where the caller wants them
    // (table rows stay as they are: their ids come time-major from tableIds).
    const out = scratch('outTimeMajor', T * B * H);
    let x = a.x;
    if (!table) {
      x = scratch('xTimeMajor', T * B * I);
      reorderRows(a.x, 0, I, x, 0, I, T, B, I, false);
    }
    layerForwardComposed(backend, { ...a, batchFirst: false, x, xIds: table?.ids ?? null, out, outOffset: 0, ldOut: H }, scratch);
    reorderRows(out, 0, H, a.out, a.outOffset, a.ldOut, T, B, H, true);
    return;
  }
  const G = gateWidth(kind, H), TB = T * B, BH = B * H;
  const xg = scratch('xg', TB * G);
  // With a table, its rows are projected (into xt) and gathered into xg.
  const rows = table ? table.rows : TB, xt = table ? scratch('xTable', rows * G) : xg;
  const withBias = a.bih !== null && a.bhh !== null;
  if (withBias) {
    const row = scratch('biasRow', G);
    foldBias(kind, H, a.bih!, a.bhh!, row);
    fillRows(xt, row, rows, G);
  }
  backend.gemm(false, true, rows, G, I, a.x, I, a.wih, I, xt, G, withBias);
  if (table) gatherRows(xt, table.ids, TB, G, xg);
  let part = 0;
  const cache: SeqCache = a.cache ? jsCache(a.cache, 'layerForward') : allocCache((n) => scratch(`cache:${part++}`, n), kind, T, B, H);
  runSeqForward(backend, {
    kind, resetAfter: a.resetAfter, hardSigmoid: a.hardSigmoid ?? false, T, B, H, lengths: a.lengths, reverse, hMask: a.hMask ?? null,
    xg, whh: a.whh, bhn: gruBhn(kind, H, a.bhh), h0: a.h0, c0: a.c0,
    out: a.out, outOffset: a.outOffset, ldOut: a.ldOut, cache,
  });
  // The final state is the last slot the loop wrote: T (forward) or 0 (reverse).
  const fin = reverse ? 0 : T;
  a.hN.set(cache.h.subarray(fin * BH, (fin + 1) * BH));
  if (a.cN) a.cN.set(cache.c.subarray(fin * BH, (fin + 1) * BH));
}

/** layerBackward from seqBackward + gemm. */
export function layerBackwardComposed(backend: Backend, a: LayerBackwardArgs, scratch: ScratchFn = fresh(a.x)): void {
  const { kind, resetAfter, T, B, H, I, reverse } = a;
  const cache = jsCache(a.cache, 'layerBackward');
  const table = tableIds(a, 'layerBackward');
  if (a.batchFirst) {
    let x = a.x, dx = a.dx;
    if (!table) {
      x = scratch('xTimeMajor', T * B * I);
      reorderRows(a.x, 0, I, x, 0, I, T, B, I, false);
      if (a.dx) {
        dx = scratch('dxTimeMajor', T * B * I);
        if (a.accumulateDx) reorderRows(a.dx, 0, I, dx, 0, I, T, B, I, false);
      }
    }
    let dOut: F | null = null;
    if (a.dOut) {
      dOut = scratch('dOutTimeMajor', T * B * H);
      reorderRows(a.dOut, a.dOutOffset, a.ldDOut, dOut, 0, H, T, B, H, false);
    }
    layerBackwardComposed(backend, { ...a, batchFirst: false, x, xIds: table?.ids ?? null, dx, dOut, dOutOffset: 0, ldDOut: H }, scratch);
    if (!table && dx && a.dx) reorderRows(dx, 0, I, a.dx, 0, I, T, B, I, true);
    return;
  }
  const G = gateWidth(kind, H), TB = T * B, BH = B * H;
  const hMask = a.hMask ?? null;
  const dxg = scratch('dxg', TB * G);
  const dgh = kind === 'gru' ? scratch('dgh', TB * G) : dxg;
  runSeqBackward(backend, {
    kind, resetAfter, hardSigmoid: a.hardSigmoid ?? false, T, B, H, lengths: a.lengths, reverse, hMask,
    whh: a.whh, bhn: gruBhn(kind, H, a.bhh), cache,
    dOut: a.dOut, dOutOffset: a.dOutOffset, ldDOut: a.ldDOut, dhN: a.dhN, dcN: a.dcN,
    dxg, dgh, dh0: a.dh0, dc0: a.dc0,
  });
  // With a table: the gate gradients summed per table row (s) stand in for dxg in every
  // product with the input side.
  const rows = table ? table.rows : TB, s = table ? scratch('xTableGrad', rows * G) : dxg;
  if (table) scatterAddRows(dxg, table.ids, TB, G, s, rows);
  backend.gemm(true, false, G, I, rows, s, G, a.x, I, a.dWih, I, true);
  let hPrev = reverse ? cache.h.subarray(BH) : cache.h.subarray(0, TB * H);
  if (hMask) {
    // The recurrent products saw h_prev ⊙ mask.
    const m = scratch('maskedHPrev', TB * H);
    for (let r = 0; r < T; r++) for (let i = 0; i < BH; i++) m[r * BH + i] = hPrev[r * BH + i]! * hMask[i]!;
    hPrev = m;
  }
  if (kind === 'gru' && !resetAfter) {
    backend.gemm(true, false, 2 * H, H, TB, dgh, G, hPrev, H, a.dWhh, H, true);
    backend.gemm(true, false, H, H, TB, dgh.subarray(2 * H), G, cache.aux, H, a.dWhh.subarray(2 * H * H), H, true);
  } else {
    backend.gemm(true, false, G, H, TB, dgh, G, hPrev, H, a.dWhh, H, true);
  }
  if (a.dbih && a.dbhh) {
    const tmp = scratch('biasSum', G);
    colSumInto(a.dbih, s, rows, G, tmp);
    // LSTM and RNN: dgh is dxg, and both biases get the same sums.
    if (dgh === dxg) for (let k = 0; k < G; k++) a.dbhh[k] += tmp[k]!;
    else colSumInto(a.dbhh, dgh, TB, G, tmp);
  }
  if (a.dx) backend.gemm(false, false, rows, I, G, s, G, a.wih, I, a.dx, I, a.accumulateDx);
}

/** Fills each of `rows` rows of width w in z with `row` (z[r·w + j] = row[j]). */
export function fillRows(z: F, row: F, rows: number, w: number): void {
  if (rows <= 0) return;
  z.set(row.subarray(0, w), 0);
  for (let filled = 1; filled < rows; filled *= 2) z.copyWithin(filled * w, 0, Math.min(filled, rows - filled) * w);
}

export function denseForward(backend: Backend, a: DenseForwardArgs): void {
  if (backend.denseForward) backend.denseForward(a);
  else denseForwardComposed(backend, a);
}

export function denseBackward(backend: Backend, a: DenseBackwardArgs): void {
  if (backend.denseBackward) backend.denseBackward(a);
  else denseBackwardComposed(backend, a);
}

/** z = x·W + b: the rows start as b and the product is accumulated onto them. */
export function denseForwardComposed(backend: Backend, a: DenseForwardArgs): void {
  if (a.b) fillRows(a.z, a.b, a.rows, a.U);
  backend.gemm(false, false, a.rows, a.U, a.K, a.x, a.K, a.w, a.U, a.z, a.U, a.b !== null);
}

export function denseBackwardComposed(backend: Backend, a: DenseBackwardArgs): void {
  const { rows, K, U } = a;
  backend.gemm(true, false, K, U, rows, a.x, K, a.dz, U, a.dW, U, true);
  if (a.db) colSumInto(a.db, a.dz, rows, U, a.dz instanceof Float64Array ? new Float64Array(U) : new Float32Array(U));
  if (a.dx) backend.gemm(false, true, rows, K, U, a.dz, U, a.w, U, a.dx, K, false);
}

/** Softmax rows with their log-sum-exp (see Backend.softmaxRows), on the backend's kernel if any. */
export function softmaxRows(backend: Backend, x: Float32Array, y: Float32Array, rows: number, k: number, lse: Float64Array): void {
  if (backend.softmaxRows) backend.softmaxRows(x, y, rows, k, lse);
  else softmaxRowsRef(x, y, rows, k, lse);
}

/**
 * grad = probs·scale, but (probs[r, t_r] - 1)·scale at each row's target t_r (each in [0, k):
 * the caller checks them): a sparse cross-entropy's gradient with respect to the logits, from
 * their softmax, each value rounded once to grad's type. On the backend's kernel where it has
 * one (float32: the same bits), else here.
 */
export function sparseXentGrad(backend: Backend, probs: Float32Array, targets: Int32Array, rows: number, k: number, scale: number, grad: F): void {
  if (backend.sparseXentGrad && grad instanceof Float32Array) {
    backend.sparseXentGrad(probs, targets, rows, k, scale, grad);
    return;
  }
  // One flat loop, then the targets' entries (a loop per row of 65 values took 2.4 times as long).
  for (let i = 0, n = rows * k; i < n; i++) grad[i] = probs[i]! * scale;
  const round = grad instanceof Float32Array ? Math.fround : (x: number): number => x;
  for (let r = 0; r < rows; r++) {
    const o = r * k + targets[r]!;
    grad[o] = round(probs[o]! - 1) * scale;
  }
}

/**
 * dst[o, j, i, :] = src[o, i, j, :] for arrays [outer, n1, n2, w] (src and dst distinct): the
 * backend's kernel for float32 where it has one, else element loops.
 */
export function swapAxes(backend: Backend, src: F, dst: F, outer: number, n1: number, n2: number, w: number): void {
  if (backend.swapAxes && src instanceof Float32Array && dst instanceof Float32Array) {
    backend.swapAxes(src, dst, outer, n1, n2, w);
    return;
  }
  for (let o = 0, block = n1 * n2 * w; o < outer; o++) {
    for (let i = 0; i < n1; i++) {
      for (let j = 0; j < n2; j++) {
        const s = o * block + (i * n2 + j) * w, d = o * block + (j * n1 + i) * w;
        for (let k = 0; k < w; k++) dst[d + k] = src[s + k]!;
      }
    }
  }
}

/** `count` products of gemm's form at strides (Backend.gemmBatched): the backend's one call, else a gemm each. */
export function gemmBatched(
  be: Backend, count: number, tA: boolean, tB: boolean, M: number, N: number, K: number,
  A: F, sA: number, lda: number, B: F, sB: number, ldb: number, C: F, sC: number, ldc: number, acc: boolean,
): void {
  if (be.gemmBatched && A instanceof Float32Array && B instanceof Float32Array && C instanceof Float32Array) {
    be.gemmBatched(count, tA, tB, M, N, K, A, sA, lda, B, sB, ldb, C, sC, ldc, acc);
    return;
  }
  for (let i = 0; i < count; i++) be.gemm(tA, tB, M, N, K, A.subarray(i * sA), lda, B.subarray(i * sB), ldb, C.subarray(i * sC), ldc, acc);
}

/** y = tanh(x) elementwise: the backend's (float32) where it has one, else Math.tanh (y may be x). */
export function tanhInto(backend: Backend, x: F, y: F): void {
  if (backend.tanh && x instanceof Float32Array && y instanceof Float32Array) backend.tanh(x, y);
  else for (let i = 0; i < x.length; i++) y[i] = Math.tanh(x[i]!);
}

/** The reference: Math.exp, sums in float64. */
export function softmaxRowsRef(x: Float32Array, y: Float32Array, rows: number, k: number, lse: Float64Array): void {
  for (let r = 0; r < rows; r++) {
    const o = r * k;
    let m = -Infinity;
    for (let j = 0; j < k; j++) m = Math.max(m, x[o + j]!);
    let s = 0;
    for (let j = 0; j < k; j++) { const e = Math.exp(x[o + j]! - m); y[o + j] = e; s += e; }
    for (let j = 0; j < k; j++) y[o + j] /= s;
    lse[r] = m + Math.log(s);
  }
}
