// The plain TypeScript reference backend: the specification every fast kernel is tested
// against, generic over Float32Array and Float64Array, and the last-resort fallback.
//
// Cell equations (PyTorch conventions, gates in PyTorch order):
//   LSTM  a = xg_t + h·W_hhᵀ             (b_ih + b_hh folded into xg)      a = ai|af|ag|ao
//         i,f,o = σ(ai,af,ao)  g = tanh(ag)  c' = f⊙c + i⊙g  h' = o⊙tanh(c')
//   GRU   r = σ(xr + h·W_hrᵀ)  z = σ(xz + h·W_hzᵀ)                   (b_hr, b_hz folded)
//         resetAfter:  n = tanh(xn + r⊙(h·W_hnᵀ + b_hn))
//         !resetAfter: n = tanh(xn + (r⊙h)·W_hnᵀ + b_hn)
//         h' = (1-z)⊙n + z⊙h
//   RNN   h' = tanh(xg_t + h·W_hhᵀ)   (or relu)
import type { Backend, F, SeqBackwardArgs, SeqForwardArgs } from './types.js';
import { gateWidth } from './types.js';

export function gemmRef(
  transA: boolean, transB: boolean, M: number, N: number, K: number,
  A: F, lda: number, B: F, ldb: number, C: F, ldc: number, accumulate: boolean,
): void {
  for (let i = 0; i < M; i++) {
    const ci = i * ldc;
    if (!accumulate) for (let j = 0; j < N; j++) C[ci + j] = 0;
    for (let p = 0; p < K; p++) {
      const a = transA ? A[p * lda + i]! : A[i * lda + p]!;
      if (a === 0) continue;
      if (transB) {
        for (let j = 0; j < N; j++) C[ci + j] += a * B[j * ldb + p]!;
      } else {
        const bp = p * ldb;
        for (let j = 0; j < N; j++) C[ci + j] += a * B[bp + j]!;
      }
    }
  }
}

const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));
/** The hard sigmoid clip(0.2·x + 0.5, 0, 1) (SeqShape.hardSigmoid). */
const hardSigmoid = (x: number): number => Math.min(1, Math.max(0, 0.2 * x + 0.5));
/** The gates' derivative from the gate's value: σ' = σ(1 - σ); the hard one's 0.2 inside (0, 1), else 0. */
const dSigmoid = (s: number): number => s * (1 - s);
const dHardSigmoid = (s: number): number => (s > 0 && s < 1 ? 0.2 : 0);

function stepOrder(T: number, reverse: boolean): number[] {
  const ts: number[] = [];
  if (reverse) for (let t = T - 1; t >= 0; t--) ts.push(t);
  else for (let t = 0; t < T; t++) ts.push(t);
  return ts;
}

/** Cache slot of h_t (the state after step t) and of the state before step t. */
function slots(t: number, reverse: boolean): { cur: number; prev: number } {
  return reverse ? { cur: t, prev: t + 1 } : { cur: t + 1, prev: t };
}

/** gemm's signature (gemmRef's, or a backend's bound gemm for the loops' per-step products). */
export type GemmFn = typeof gemmRef;

/** The forward loop; `gemm` runs its per-step products (gemmRef by default). */
export function seqForwardRef(a: SeqForwardArgs, gemm: GemmFn = gemmRef): void {
  const { kind, T, B, H, lengths, reverse, xg, whh, bhn, out, outOffset, ldOut, cache } = a;
  const G = gateWidth(kind, H);
  const BH = B * H;
  const make = (n: number): F => (xg instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
  const gh = make(B * G);
  const rh = make(BH);
  const hpm = make(BH); // h_prev ⊙ hMask
  const sig = a.hardSigmoid ? hardSigmoid : sigmoid;
  const h = cache.h, c = cache.c;
  const h0slot = reverse ? T : 0;
  h.set(a.h0.subarray(0, BH), h0slot * BH);
  if (kind === 'lstm') c.set(a.c0!.subarray(0, BH), h0slot * BH);
  for (const t of stepOrder(T, reverse)) {
    const { cur, prev } = slots(t, reverse);
    let hp = h.subarray(prev * BH, (prev + 1) * BH);
    if (a.hMask) { hpm.set(hp); for (let i = 0; i < BH; i++) hpm[i] *= a.hMask[i]!; hp = hpm; }
    if (kind === 'gru' && !a.resetAfter) {
      // r and z first; the candidate needs r ⊙ h before its product.
      gemm(false, true, B, 2 * H, H, hp, H, whh, H, gh, G, false);
    } else {
      gemm(false, true, B, G, H, hp, H, whh, H, gh, G, false);
    }
    for (let b = 0; b < B; b++) {
      const valid = lengths === null || t < lengths[b]!;
      const xo = (t * B + b) * G, go = b * G, so = b * H;
      const hc = cur * BH + so, hpo = prev * BH + so;
      const oo = outOffset + (t * B + b) * ldOut;
      if (!valid) {
        for (let j = 0; j < H; j++) {
          h[hc + j] = h[hpo + j]!;
          if (kind === 'lstm') c[hc + j] = c[hpo + j]!;
          out[oo + j] = 0;
        }
        continue;
      }
      if (kind === 'lstm') {
        const gates = cache.gates;
        for (let j = 0; j < H; j++) {
          const i = sig(xg[xo + j]! + gh[go + j]!);
          const f = sig(xg[xo + H + j]! + gh[go + H + j]!);
          const g = Math.tanh(xg[xo + 2 * H + j]! + gh[go + 2 * H + j]!);
          const o = sig(xg[xo + 3 * H + j]! + gh[go + 3 * H + j]!);
          const cn = f * c[hpo + j]! + i * g;
          const hn = o * Math.tanh(cn);
          gates[xo + j] = i; gates[xo + H + j] = f; gates[xo + 2 * H + j] = g; gates[xo + 3 * H + j] = o;
          c[hc + j] = cn; h[hc + j] = hn; out[oo + j] = hn;
        }
      } else if (kind === 'gru') {
        const gates = cache.gates, aux = cache.aux;
        const ao = (t * B + b) * H;
        for (let j = 0; j < H; j++) {
          const r = sig(xg[xo + j]! + gh[go + j]!);
          const z = sig(xg[xo + H + j]! + gh[go + H + j]!);
          gates[xo + j] = r; gates[xo + H + j] = z;
          if (!a.resetAfter) rh[so + j] = r * h[hpo + j]! * (a.hMask ? a.hMask[so + j]! : 1);
        }
        if (a.resetAfter) {
          for (let j = 0; j < H; j++) aux[ao + j] = gh[go + 2 * H + j]! + (bhn ? bhn[j]! : 0);
        } else {
          // (r⊙h)·W_hnᵀ for this row only: one row of the product.
          for (let j = 0; j < H; j++) {
            let s = bhn ? bhn[j]! : 0;
            const wr = (2 * H + j) * H;
            for (let k = 0; k < H; k++) s += rh[so + k]! * whh[wr + k]!;
            aux[ao + j] = rh[so + j]!;
            gh[go + 2 * H + j] = s;
          }
        }
        for (let j = 0; j < H; j++) {
          const r = gates[xo + j]!, z = gates[xo + H + j]!;
          const n = a.resetAfter
            ? Math.tanh(xg[xo + 2 * H + j]! + r * aux[ao + j]!)
            : Math.tanh(xg[xo + 2 * H + j]! + gh[go + 2 * H + j]!);
          gates[xo + 2 * H + j] = n;
          const hn = (1 - z) * n + z * h[hpo + j]!;
          h[hc + j] = hn; out[oo + j] = hn;
        }
      } else {
        const relu = kind === 'rnn_relu';
        for (let j = 0; j < H; j++) {
          const v = xg[xo + j]! + gh[go + j]!;
          const hn = relu ? (v > 0 ? v : 0) : Math.tanh(v);
          h[hc + j] = hn; out[oo + j] = hn;
        }
      }
    }
  }
}

/** The backward loop; `gemm` runs its per-step products (gemmRef by default). */
export function seqBackwardRef(a: SeqBackwardArgs, gemm: GemmFn = gemmRef): void {
  const { kind, T, B, H, lengths, reverse, whh, cache, dOut, dOutOffset, ldDOut, dxg, dgh } = a;
  const G = gateWidth(kind, H);
  const BH = B * H;
  const make = (n: number): F => (dxg instanceof Float64Array ? new Float64Array(n) : new Float32Array(n));
  const dh = make(BH), dc = make(BH), dhPrev = make(BH), drh = make(BH);
  if (a.dhN) dh.set(a.dhN.subarray(0, BH));
  if (kind === 'lstm' && a.dcN) dc.set(a.dcN.subarray(0, BH));
  const h = cache.h, c = cache.c, gates = cache.gates, aux = cache.aux;
  const ds = a.hardSigmoid ? dHardSigmoid : dSigmoid;
  const order = stepOrder(T, reverse).reverse();
  for (const t of order) {
    const { cur, prev } = slots(t, reverse);
    // 1. add the output gradient, 2. gate pass -> dxg/dgh rows, 3. dh_prev = dgh·W_hh (+ direct terms).
    for (let b = 0; b < B; b++) {
      const valid = lengths === null || t < lengths[b]!;
      const xo = (t * B + b) * G, so = b * H;
      if (!valid) {
        for (let k = 0; k < G; k++) { dxg[xo + k] = 0; dgh[xo + k] = 0; }
        continue;
      }
      if (dOut) {
        const oo = dOutOffset + (t * B + b) * ldDOut;
        for (let j = 0; j < H; j++) dh[so + j] += dOut[oo + j]!;
      }
      const hc = cur * BH + so, hpo = prev * BH + so;
      if (kind === 'lstm') {
        for (let j = 0; j < H; j++) {
          const i = gates[xo + j]!, f = gates[xo + H + j]!, g = gates[xo + 2 * H + j]!, o = gates[xo + 3 * H + j]!;
          const tc = Math.tanh(c[hc + j]!);
          const dhj = dh[so + j]!;
          const dcj = dc[so + j]! + dhj * o * (1 - tc * tc);
          dxg[xo + j] = dcj * g * ds(i);
          dxg[xo + H + j] = dcj * c[hpo + j]! * ds(f);
          dxg[xo + 2 * H + j] = dcj * i * (1 - g * g);
          dxg[xo + 3 * H + j] = dhj * tc * ds(o);
          dc[so + j] = dcj * f; // now dLoss/dc_prev
        }
        if (dgh !== dxg) for (let k = 0; k < G; k++) dgh[xo + k] = dxg[xo + k]!;
      } else if (kind === 'gru') {
        const ao = (t * B + b) * H;
        for (let j = 0; j < H; j++) {
          const r = gates[xo + j]!, z = gates[xo + H + j]!, n = gates[xo + 2 * H + j]!;
          const dhj = dh[so + j]!;
          const dan = dhj * (1 - z) * (1 - n * n);
          const daz = dhj * (h[hpo + j]! - n) * ds(z);
          dxg[xo + H + j] = daz; dgh[xo + H + j] = daz;
          dxg[xo + 2 * H + j] = dan;
          if (a.resetAfter) {
            const dar = dan * aux[ao + j]! * ds(r);
            dxg[xo + j] = dar; dgh[xo + j] = dar;
            dgh[xo + 2 * H + j] = dan * r;
          } else {
            dgh[xo + 2 * H + j] = dan;
          }
        }
        if (!a.resetAfter) {
          // d(r⊙h) = dan·W_hn ; dr = d(rh)⊙h ; dh_prev gets d(rh)⊙r (added below)
          for (let k = 0; k < H; k++) drh[so + k] = 0;
          for (let j = 0; j < H; j++) {
            const dan = dxg[xo + 2 * H + j]!;
            if (dan === 0) continue;
            const wr = (2 * H + j) * H;
            for (let k = 0; k < H; k++) drh[so + k] += dan * whh[wr + k]!;
          }
          for (let j = 0; j < H; j++) {
            const r = gates[xo + j]!;
            const dar = drh[so + j]! * h[hpo + j]! * (a.hMask ? a.hMask[so + j]! : 1) * ds(r);
            dxg[xo + j] = dar; dgh[xo + j] = dar;
          }
        }
      } else {
        const relu = kind === 'rnn_relu';
        for (let j = 0; j < H; j++) {
          const hn = h[hc + j]!;
          const d = relu ? (hn > 0 ? dh[so + j]! : 0) : dh[so + j]! * (1 - hn * hn);
          dxg[xo + j] = d;
          if (dgh !== dxg) dgh[xo + j] = d;
        }
      }
    }
    // dh_prev for valid rows; padded rows pass dh through unchanged.
    const dg = dgh.subarray(t * B * G, (t + 1) * B * G);
    if (kind === 'gru' && !a.resetAfter) {
      gemm(false, false, B, H, 2 * H, dg, G, whh, H, dhPrev, H, false);
    } else {
      gemm(false, false, B, H, G, dg, G, whh, H, dhPrev, H, false);
    }
    for (let b = 0; b < B; b++) {
      const valid = lengths === null || t < lengths[b]!;
      if (!valid) continue;
      const so = b * H, xo = (t * B + b) * G;
      for (let j = 0; j < H; j++) {
        let d = dhPrev[so + j]!;
        if (kind === 'gru' && !a.resetAfter) d += drh[so + j]! * gates[xo + j]!; // r ⊙ d(rh)
        if (a.hMask) d *= a.hMask[so + j]!; // every term so far came through h_prev ⊙ mask
        if (kind === 'gru') d += dh[so + j]! * gates[xo + H + j]!; // z ⊙ dh' (unmasked)
        dh[so + j] = d;
      }
    }
  }
  a.dh0.set(dh);
  if (a.dc0) a.dc0.set(dc);
}

export const referenceBackend: Backend = {
  name: 'reference',
  supportsHMask: true,
  gemm: gemmRef,
  seqForward: (a) => seqForwardRef(a),
  seqBackward: (a) => seqBackwardRef(a),
};
