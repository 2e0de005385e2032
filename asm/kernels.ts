// rnnkit WebAssembly compute kernels (AssemblyScript).
//
// One source, two builds (tools/build-wasm.mjs):
//   simd.wasm     `--enable simd`                    multiply-add = f32x4.mul + f32x4.add
//   relaxed.wasm  `--enable simd --enable relaxed-simd`  multiply-add = f32x4.relaxed_madd (FMA)
// The choice is the compiler's constant ASC_FEATURE_RELAXED_SIMD; the dead branch is removed at
// compile time, so the plain build contains no relaxed opcode and validates everywhere.
//
// Memory model: the module owns no heap. The JavaScript loader (src/kernels/wasm/backend.ts)
// lays out every input, output and scratch buffer in linear memory, grows the memory before the
// call, and passes byte addresses. Nothing here allocates or grows memory. All matrices are
// row-major float32; "ld" arguments are row strides in elements, pointers are byte addresses.
//
// Semantics follow src/kernels/types.ts and src/kernels/reference.ts, except that the gate
// nonlinearities use a rational approximation (|error| < 3.3e-7, see tanh4) and that the cache's
// gates/aux rows of padded steps are written as zeros (the reference leaves them untouched;
// backward never reads them).

// ------------------------------------------------------------------------------------------
// SIMD helpers
// ------------------------------------------------------------------------------------------

/** a*b + c per lane: fused (one rounding) in the relaxed build, two roundings in the plain one. */
// @ts-ignore: decorator
@inline function fmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  else return f32x4.add(f32x4.mul(a, b), c);
}

/** c - a*b per lane (fused in the relaxed build). */
// @ts-ignore: decorator
@inline function fnmadd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_nmadd(a, b, c);
  else return f32x4.sub(c, f32x4.mul(a, b));
}

// @ts-ignore: decorator
@inline function splat(x: f32): v128 { return f32x4.splat(x); }

// float64 work on float32 data (the cross-entropy gradient, layer normalisation: the arithmetic of
// their TypeScript references), two lanes per f64x2: an f32x4's four floats as a low and a high pair.
// @ts-ignore: decorator
@inline function lo2(v: v128): v128 { return f64x2.promote_low_f32x4(v); }
// @ts-ignore: decorator
@inline function hi2(v: v128): v128 { return f64x2.promote_low_f32x4(v128.shuffle<f32>(v, v, 2, 3, 2, 3)); }
/** Four floats from two f64x2 pairs, each rounded once. */
// @ts-ignore: decorator
@inline function demote4(a: v128, b: v128): v128 { return v128.shuffle<f32>(f32x4.demote_f64x2_zero(a), f32x4.demote_f64x2_zero(b), 0, 1, 4, 5); }
/** (s0 + s1) + (s2 + s3) of the chains [s0, s1] and [s2, s3]. */
// @ts-ignore: decorator
@inline function sum_chains(a: v128, b: v128): f64 {
  return (f64x2.extract_lane(a, 0) + f64x2.extract_lane(a, 1)) + (f64x2.extract_lane(b, 0) + f64x2.extract_lane(b, 1));
}

/** Where touch loads (cache lines requested ahead of use) end up, which keeps them live. */
let touchSink: u32 = 0;

/**
 * tanh(x) per lane, as the [13/6] odd/even rational minimax approximation used by Eigen:
 *   tanh(x) ≈ x·P(x²)/Q(x²) on |x| <= 7.9053111, beyond which tanh is within 2.7e-7 of ±1.
 * Inputs are clamped to that range first with pmin/pmax (cheap on x64, unlike f32x4.min/max);
 * the argument order makes NaN pass through the clamp (pmin(x,c) = c < x ? c : x), so NaN in
 * gives NaN out, and ±Inf give ±0.99999976. Max abs error over [-20,20] measured 2.6e-7 (FMA)
 * and 3.3e-7 (mul+add); test/kernels.test.ts checks < 1e-6 for both builds.
 */
// @ts-ignore: decorator
@inline function tanh4(x: v128): v128 {
  const clampHi = splat(7.90531110763549805);
  const clampLo = splat(-7.90531110763549805);
  x = f32x4.pmax(f32x4.pmin(x, clampHi), clampLo);
  const x2 = f32x4.mul(x, x);
  // Numerator x·(α1 + α3x² + ... + α13x¹²), Horner in x².
  let p = fmadd(x2, splat(-2.76076847742355e-16), splat(2.00018790482477e-13));
  p = fmadd(x2, p, splat(-8.60467152213735e-11));
  p = fmadd(x2, p, splat(5.12229709037114e-8));
  p = fmadd(x2, p, splat(1.48572235717979e-5));
  p = fmadd(x2, p, splat(6.37261928875436e-4));
  p = fmadd(x2, p, splat(4.89352455891786e-3));
  p = f32x4.mul(x, p);
  // Denominator β0 + β2x² + β4x⁴ + β6x⁶.
  let q = fmadd(x2, splat(1.19825839466702e-6), splat(1.18534705686654e-4));
  q = fmadd(x2, q, splat(2.26843463243900e-3));
  q = fmadd(x2, q, splat(4.89352518554385e-3));
  return f32x4.div(p, q);
}

/** σ(x) = ½ + ½·tanh(x/2): abs error is half of tanh4's (< 1.7e-7). */
// @ts-ignore: decorator
@inline function sigmoid4(x: v128): v128 {
  const half = splat(0.5);
  return fmadd(half, tanh4(f32x4.mul(half, x)), half);
}

/**
 * The gates' activation of the sequence loop running now: the hard sigmoid clip(0.2·x + 0.5, 0, 1)
 * when the cell kind passed to seq_forward / seq_backward (and their two-thread forms) carries
 * HARD_GATES, else σ. Set by those entry points for the call (each thread's instance its own).
 * The gate passes test it once per step: fwd_gates and bwd_step call one of the pass's two
 * instantiations (fwd_gates_rows<Sigmoid> or <HardSigmoid>, bwd_gate_rows<...>; gate4's and
 * dgate4's `hard` a constant in each); the two-thread unit-split backward tests it per row.
 * Tested per gate inside the unit loops it cost an LSTM layer's forward and backward 2-4% (one
 * thread; docs/performance.md), and once per row with both copies in one function no less.
 */
const HARD_GATES: i32 = 8;
let hardGates: bool = false;

/** The cell kind without its flags; records whether the gates are hard sigmoids. */
function cell_kind(kind: i32): i32 {
  hardGates = (kind & HARD_GATES) != 0;
  return kind & ~HARD_GATES;
}

/**
 * The gates' activation a compiled copy of a gate pass is for, as its type argument
 * (fwd_gates_rows<G>, bwd_gate_rows<G>): each instantiation has `hard` as a constant.
 */
type Sigmoid = u8;
type HardSigmoid = u16;
// @ts-ignore: decorator
@inline function is_hard<G>(): bool { return sizeof<G>() == sizeof<HardSigmoid>(); }

/** A gate: σ(x), or clip(0.2·x + 0.5, 0, 1). */
// @ts-ignore: decorator
@inline function gate4(x: v128, hard: bool): v128 {
  return hard ? f32x4.pmin(splat(1), f32x4.pmax(splat(0), fmadd(splat(0.2), x, splat(0.5)))) : sigmoid4(x);
}

/** A gate's derivative from its value s: s(1 - s), or 0.2 where 0 < s < 1 and 0 elsewhere. */
// @ts-ignore: decorator
@inline function dgate4(s: v128, hard: bool): v128 {
  return hard
    ? v128.and(splat(0.2), v128.and(f32x4.gt(s, splat(0)), f32x4.lt(s, splat(1))))
    : f32x4.mul(s, f32x4.sub(splat(1), s));
}

/** relu per lane as the reference writes it, v > 0 ? v : 0 (NaN -> 0): pmax(0, v) = 0 < v ? v : 0. */
// @ts-ignore: decorator
@inline function relu4(x: v128): v128 {
  return f32x4.pmax(f32x4.splat(0), x);
}

/**
 * e^x per lane for x <= 0 (softmax after subtracting the row maximum): Cody-Waite reduction
 * x = n·ln2 + r, |r| <= ln2/2, n by the 1.5·2^23 rounding trick (no f32x4.nearest), Cephes'
 * degree-5 polynomial for e^r, and 2^n built in the exponent bits. Relative error < 2e-7.
 * Below -87.3 (where 2^n would be subnormal) the result is exactly 0, like Math.exp's underflow;
 * NaN stays NaN (the clamp lets it through, the underflow test is false for it).
 */
// @ts-ignore: decorator
@inline function exp_neg4(x: v128): v128 {
  const lo = splat(-87.3);
  const under = f32x4.lt(x, lo);
  x = f32x4.pmax(x, lo);
  const magic = splat(12582912.0); // 1.5·2^23: adding it rounds to an integer in the low mantissa bits
  const t = fmadd(x, splat(1.44269504088896341), magic);
  const n = f32x4.sub(t, magic);
  let r = fnmadd(n, splat(0.693359375), x);
  r = fnmadd(n, splat(-2.12194440e-4), r);
  let p = fmadd(splat(1.9875691500e-4), r, splat(1.3981999507e-3));
  p = fmadd(p, r, splat(8.3334519073e-3));
  p = fmadd(p, r, splat(4.1665795894e-2));
  p = fmadd(p, r, splat(1.6666665459e-1));
  p = fmadd(p, r, splat(5.0000001201e-1));
  const r2 = f32x4.mul(r, r);
  const e = f32x4.add(fmadd(p, r2, r), splat(1));
  // t's low mantissa bits hold n (two's complement): 2^n = ((n + 127) << 23) as float bits.
  const pow2 = i32x4.shl(i32x4.add(i32x4.sub(t, magic), i32x4.splat(127)), 23);
  return v128.andnot(f32x4.mul(e, pow2), under);
}

/**
 * Softmax over `rows` rows of width k: y = exp(x - max) / Σ exp(x - max) per row, and sums[r]
 * = max and Σ exp(x - max) (two floats per row) so that the caller can form log-sum-exp in
 * float64. A NaN or +Inf in a row makes that row NaN (as the reference).
 */
export function softmax_rows(x: usize, y: usize, rows: i32, k: i32, sums: usize): void {
  const rowB = <usize>k << 2;
  for (let r = 0; r < rows; r++) {
    const xr = x + <usize>r * rowB, yr = y + <usize>r * rowB;
    let m: f32 = -Infinity;
    let j = 0;
    if (k >= 4) {
      // pmax (one instruction; f32x4.max is a long sequence that orders NaN): a NaN it passes over
      // still makes the row NaN, through its exponential. Two chains, half the latency.
      let mv = v128.load(xr), mw = mv;
      for (j = 4; j + 8 <= k; j += 8) {
        mv = f32x4.pmax(mv, v128.load(xr + (<usize>j << 2)));
        mw = f32x4.pmax(mw, v128.load(xr + (<usize>j << 2), 16));
      }
      if (j + 4 <= k) { mv = f32x4.pmax(mv, v128.load(xr + (<usize>j << 2))); j += 4; }
      mv = f32x4.pmax(mv, mw);
      m = max(max(f32x4.extract_lane(mv, 0), f32x4.extract_lane(mv, 1)), max(f32x4.extract_lane(mv, 2), f32x4.extract_lane(mv, 3)));
    }
    for (; j < k; j++) m = max(m, load<f32>(xr + (<usize>j << 2)));
    // A row of all -Inf gives NaN (x - max = -Inf + Inf), as the reference's Math.exp does.
    const mvv = f32x4.splat(m);
    let sv = f32x4.splat(0);
    j = 0;
    for (; j + 4 <= k; j += 4) {
      const e = exp_neg4(f32x4.sub(v128.load(xr + (<usize>j << 2)), mvv));
      v128.store(yr + (<usize>j << 2), e);
      sv = f32x4.add(sv, e);
    }
    let s: f32 = f32x4.extract_lane(sv, 0) + f32x4.extract_lane(sv, 1) + f32x4.extract_lane(sv, 2) + f32x4.extract_lane(sv, 3);
    for (; j < k; j++) {
      const e = f32x4.extract_lane(exp_neg4(f32x4.splat(load<f32>(xr + (<usize>j << 2)) - m)), 0);
      store<f32>(yr + (<usize>j << 2), e);
      s += e;
    }
    const inv = f32x4.splat(<f32>1 / s);
    j = 0;
    for (; j + 4 <= k; j += 4) v128.store(yr + (<usize>j << 2), f32x4.mul(v128.load(yr + (<usize>j << 2)), inv));
    for (; j < k; j++) store<f32>(yr + (<usize>j << 2), load<f32>(yr + (<usize>j << 2)) * (<f32>1 / s));
    store<f32>(sums + (<usize>r << 3), m);
    store<f32>(sums + (<usize>r << 3), s, 4);
  }
}

/**
 * The gradient of a sparse cross-entropy with respect to the logits, from their softmax p
 * (rows x k) and the rows' int32 targets t (each in [0, k): the caller checks them):
 * g = p·s, but g[r, t_r] = (p[r, t_r] - 1)·s, each product rounded once to float32 from its exact
 * value (the TypeScript's fround(p·s) with s a double): in float32 when s is a float32 value (a
 * power of two such as 1/2048 is), where the product rounds the same, else through float64.
 */
export function xent_grad(p: usize, t: usize, rows: i32, k: i32, s: f64, g: usize): void {
  const n = rows * k;
  if (<f64><f32>s == s) {
    const sv = f32x4.splat(<f32>s);
    let i = 0;
    for (; i + 4 <= n; i += 4) v128.store(g + (<usize>i << 2), f32x4.mul(v128.load(p + (<usize>i << 2)), sv));
    scale_into(p + (<usize>i << 2), g + (<usize>i << 2), n - i, s); // the last n % 4
  } else {
    scale_into(p, g, n, s);
  }
  for (let r = 0; r < rows; r++) {
    const o = (<usize>r * <usize>k + <usize>load<i32>(t + (<usize>r << 2))) << 2;
    store<f32>(g + o, <f32>(<f64>(load<f32>(p + o) - 1) * s));
  }
}

/** dst_i = fround(src_i · s) for n float32 values, each product exact in float64 (dst may be src). */
// @ts-ignore: decorator
@inline function scale_into(src: usize, dst: usize, n: i32, s: f64): void {
  const sv = f64x2.splat(s);
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const v = v128.load(src + (<usize>i << 2));
    v128.store(dst + (<usize>i << 2), demote4(f64x2.mul(lo2(v), sv), f64x2.mul(hi2(v), sv)));
  }
  for (; i < n; i++) store<f32>(dst + (<usize>i << 2), <f32>(<f64>load<f32>(src + (<usize>i << 2)) * s));
}

// Element access for the gate passes. The passes run 4 hidden units at a time (`full` = true)
// and finish the H % 4 tail one unit at a time with the very same vector math on a splatted
// scalar (`full` = false), so the tail is bit-identical to what a full vector would compute.
// `full` is a literal at every call site; after inlining the branch folds away.
// @ts-ignore: decorator
@inline function ld(p: usize, full: bool): v128 {
  return full ? v128.load(p) : v128.load32_splat(p);
}
// @ts-ignore: decorator
@inline function st(p: usize, v: v128, full: bool): void {
  if (full) v128.store(p, v);
  else v128.store32_lane(p, v, 0);
}

/**
 * Flush to zero: lanes of magnitude below 2^-96 (1.3e-29) become +0; NaN and infinities stay.
 * WebAssembly has no FTZ/DAZ mode, and a CPU that takes a microcode assist for each subnormal
 * operand or result (this Intel host's) ran a product with subnormal inputs 180 times slower
 * (512x128x2048, one thread: 1019 against 5.6 ms) and one with subnormal results 14 times.
 * Gradients vanishing through a long sequence pass through that range on their way to zero: an
 * LSTM's backward (H = 128, B = 64, T = 400, saturated gates) took 8.0 ms per step against 0.33,
 * and states decaying to zero (no bias, zero inputs after the first step, T = 600) made an LSTM's
 * forward 5x and a GRU's 10x slower. The gate passes flush the states they write (forward) and
 * the gradients they read and write (backward) — from 2^-96 rather than 2^-126, so that their
 * products with the weights after them (above 2^-30) are normal numbers too: flushing only the
 * subnormals left that backward at 0.61 ms per step, from 2^-96 it ran at 0.35. What so small a
 * gradient would add to a step is lost in rounding a float32 weight anyway: SGD moves it by lr·g,
 * Adam by at most α·|m|/ε (ε >= 1e-8: ~1e-22·α here), below the rounding of any weight above
 * ~1e-14.
 */
/** The bits of 2^-96 as a float32 (biased exponent 31), ftz's threshold. */
const FLUSH_BELOW_BITS: i32 = 31 << 23;
// @ts-ignore: decorator
@inline function ftz(v: v128): v128 {
  return v128.andnot(v, f32x4.lt(f32x4.abs(v), v128.splat<i32>(FLUSH_BELOW_BITS)));
}
// @ts-ignore: decorator
@inline function ldz(p: usize, full: bool): v128 { return ftz(ld(p, full)); }
// @ts-ignore: decorator
@inline function stz(p: usize, v: v128, full: bool): void { st(p, ftz(v), full); }

/** Exported for the accuracy test: y[i] = tanh(x[i]) (which = 0) or σ(x[i]) (which = 1). */
export function approx_activation(which: i32, x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    const v = v128.load(x + o);
    v128.store(y + o, which == 0 ? tanh4(v) : sigmoid4(v));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    const v = v128.load32_splat(x + o);
    v128.store32_lane(y + o, which == 0 ? tanh4(v) : sigmoid4(v), 0);
  }
}

// ---- attention pooling (src/kernels/attention-ops.ts) ----
// The parts of attention pooling between its products (the host runs z = h·W_k + b before the
// forward pass and dW_k += hᵀ·dz, dh += dz·W_kᵀ after the backward pass).

/** Σ_c x[c]·w[c] over n floats, four lanes at a time then the tail. */
// @ts-ignore: decorator
@inline function dot_f32(x: usize, w: usize, n: i32): f32 {
  let acc = f32x4.splat(0);
  let c = 0;
  for (; c + 4 <= n; c += 4) acc = fmadd(v128.load(x + (<usize>c << 2)), v128.load(w + (<usize>c << 2)), acc);
  let s: f32 = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
  for (; c < n; c++) s += load<f32>(x + (<usize>c << 2)) * load<f32>(w + (<usize>c << 2));
  return s;
}

/** y[c] += a·x[c] over n floats. */
// @ts-ignore: decorator
@inline function axpy_f32(a: f32, x: usize, y: usize, n: i32): void {
  const av = f32x4.splat(a);
  let c = 0;
  for (; c + 4 <= n; c += 4) {
    const o = <usize>c << 2;
    v128.store(y + o, fmadd(av, v128.load(x + o), v128.load(y + o)));
  }
  for (; c < n; c++) store<f32>(y + (<usize>c << 2), load<f32>(y + (<usize>c << 2)) + a * load<f32>(x + (<usize>c << 2)));
}

/**
 * Additive attention's scores (Bahdanau): s[b, i, j] = Σ_c w[c]·tanh(pq[b·Tq + i, c] + pk[b·Tv + j, c])
 * for every pair (the caller's softmax then drops the pairs a query may not see).
 */
export function additive_scores(B: i32, Tq: i32, Tv: i32, A: i32, pq: usize, pk: usize, w: usize, s: usize): void {
  const A4 = <usize>A << 2;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      const q = pq + <usize>(b * Tq + i) * A4, so = s + (<usize>(b * Tq + i) * Tv << 2);
      for (let j = 0; j < Tv; j++) {
        const k = pk + <usize>(b * Tv + j) * A4;
        let acc = f32x4.splat(0);
        let c = 0;
        for (; c + 4 <= A; c += 4) {
          const o = <usize>c << 2;
          acc = fmadd(v128.load(w + o), tanh4(f32x4.add(v128.load(q + o), v128.load(k + o))), acc);
        }
        let e: f32 = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3);
        for (; c < A; c++) {
          const o = <usize>c << 2;
          e += load<f32>(w + o) * f32x4.extract_lane(tanh4(f32x4.splat(load<f32>(q + o) + load<f32>(k + o))), 0);
        }
        store<f32>(so + (<usize>j << 2), e);
      }
    }
  }
}

/**
 * Its backward from ds [B, Tq, Tv] (pairs with ds = 0 skipped: those a query does not see):
 * u = tanh(pq_i + pk_j) again, dz = ds·w⊙(1 - u²) added to dpq[b·Tq + i] and dpk[b·Tv + j], and
 * Σ ds·u added to dw [A].
 */
export function additive_scores_backward(B: i32, Tq: i32, Tv: i32, A: i32, pq: usize, pk: usize, w: usize, ds: usize, dpq: usize, dpk: usize, dw: usize): void {
  const A4 = <usize>A << 2;
  for (let b = 0; b < B; b++) {
    for (let i = 0; i < Tq; i++) {
      const q = pq + <usize>(b * Tq + i) * A4, dq = dpq + <usize>(b * Tq + i) * A4, so = ds + (<usize>(b * Tq + i) * Tv << 2);
      for (let j = 0; j < Tv; j++) {
        const g = load<f32>(so + (<usize>j << 2));
        if (g == 0) continue;
        const k = pk + <usize>(b * Tv + j) * A4, dk = dpk + <usize>(b * Tv + j) * A4;
        const gv = f32x4.splat(g), one = f32x4.splat(1);
        let c = 0;
        for (; c + 4 <= A; c += 4) {
          const o = <usize>c << 2;
          const u = tanh4(f32x4.add(v128.load(q + o), v128.load(k + o)));
          v128.store(dw + o, fmadd(gv, u, v128.load(dw + o)));
          const z = f32x4.mul(f32x4.mul(gv, v128.load(w + o)), f32x4.sub(one, f32x4.mul(u, u)));
          v128.store(dq + o, f32x4.add(v128.load(dq + o), z));
          v128.store(dk + o, f32x4.add(v128.load(dk + o), z));
        }
        for (; c < A; c++) {
          const o = <usize>c << 2;
          const u = f32x4.extract_lane(tanh4(f32x4.splat(load<f32>(q + o) + load<f32>(k + o))), 0);
          store<f32>(dw + o, load<f32>(dw + o) + g * u);
          const z = g * load<f32>(w + o) * (1 - u * u);
          store<f32>(dq + o, load<f32>(dq + o) + z);
          store<f32>(dk + o, load<f32>(dk + o) + z);
        }
      }
    }
  }
}

/**
 * Forward, per batch row b of B: u = tanh(z) in place ([B·T, A], z from the GEMM), scores
 * e_j = u_j · w, weights a [B·T] = softmax over the steps j with mask[b·T + j] != 0 (mask 0: every
 * step), 0 elsewhere and all 0 for a row with no step, y_b = Σ_j a_j h_j ([B, D], h [B·T, D]).
 */
export function pool_forward(B: i32, T: i32, A: i32, D: i32, u: usize, w: usize, mask: usize, h: usize, a: usize, y: usize): void {
  approx_activation(0, u, u, B * T * A);
  const A4 = <usize>A << 2, D4 = <usize>D << 2;
  for (let b = 0; b < B; b++) {
    const r0 = b * T, yb = y + <usize>b * D4;
    let m: f32 = -Infinity;
    for (let j = 0; j < T; j++) {
      const r = r0 + j;
      if (mask != 0 && load<u8>(mask + <usize>r) == 0) { store<f32>(a + (<usize>r << 2), 0); continue; }
      const e = dot_f32(u + <usize>r * A4, w, A);
      store<f32>(a + (<usize>r << 2), e);
      m = max(m, e);
    }
    memory.fill(yb, 0, D4);
    if (m == -Infinity) continue; // no step to see (an all-NaN row is NaN below, as the reference)
    let sum: f32 = 0;
    for (let j = 0; j < T; j++) {
      const r = r0 + j;
      if (mask != 0 && load<u8>(mask + <usize>r) == 0) continue;
      const e = f32x4.extract_lane(exp_neg4(f32x4.splat(load<f32>(a + (<usize>r << 2)) - m)), 0);
      store<f32>(a + (<usize>r << 2), e);
      sum += e;
    }
    const inv: f32 = <f32>1 / sum;
    for (let j = 0; j < T; j++) {
      const r = r0 + j;
      if (mask != 0 && load<u8>(mask + <usize>r) == 0) continue;
      const aj = load<f32>(a + (<usize>r << 2)) * inv;
      store<f32>(a + (<usize>r << 2), aj);
      axpy_f32(aj, h + <usize>r * D4, yb, D);
    }
  }
}

/**
 * Backward, per batch row b: dA_j = dy_b · h_j, ds_j = a_j (dA_j - Σ_l a_l dA_l); dh_j = a_j dy_b
 * (the values' part of the sequence's gradient, written when dh != 0); dz_j = ds_j w ⊙ (1 - u_j²)
 * written to dz [B·T, A]; dw += Σ_j ds_j u_j and db += Σ_j dz_j (both [A], added to). dA: scratch
 * of T floats.
 */
export function pool_backward(
  B: i32, T: i32, A: i32, D: i32, u: usize, w: usize, h: usize, a: usize, dy: usize, dz: usize, dh: usize, dw: usize, db: usize, dA: usize,
): void {
  const A4 = <usize>A << 2, D4 = <usize>D << 2;
  for (let b = 0; b < B; b++) {
    const r0 = b * T, dyb = dy + <usize>b * D4;
    // Each visible step's dA once, and Σ_l a_l dA_l.
    let s: f32 = 0;
    for (let j = 0; j < T; j++) {
      const r = r0 + j, aj = load<f32>(a + (<usize>r << 2));
      if (aj == 0) continue;
      const dAj = dot_f32(dyb, h + <usize>r * D4, D);
      store<f32>(dA + (<usize>j << 2), dAj);
      s += aj * dAj;
    }
    for (let j = 0; j < T; j++) {
      const r = r0 + j, aj = load<f32>(a + (<usize>r << 2));
      const ur = u + <usize>r * A4, dzr = dz + <usize>r * A4;
      if (dh != 0) {
        const dhr = dh + <usize>r * D4;
        memory.fill(dhr, 0, D4);
        if (aj != 0) axpy_f32(aj, dyb, dhr, D);
      }
      if (aj == 0) { memory.fill(dzr, 0, A4); continue; }
      const ds = aj * (load<f32>(dA + (<usize>j << 2)) - s);
      const dsv = f32x4.splat(ds), one = f32x4.splat(1);
      let c = 0;
      for (; c + 4 <= A; c += 4) {
        const o = <usize>c << 2, uv = v128.load(ur + o);
        v128.store(dw + o, fmadd(dsv, uv, v128.load(dw + o)));
        const g = f32x4.mul(f32x4.mul(dsv, v128.load(w + o)), f32x4.sub(one, f32x4.mul(uv, uv)));
        v128.store(dzr + o, g);
        v128.store(db + o, f32x4.add(v128.load(db + o), g));
      }
      for (; c < A; c++) {
        const o = <usize>c << 2, uc = load<f32>(ur + o);
        store<f32>(dw + o, load<f32>(dw + o) + ds * uc);
        const g = ds * load<f32>(w + o) * (1 - uc * uc);
        store<f32>(dzr + o, g);
        store<f32>(db + o, load<f32>(db + o) + g);
      }
    }
  }
}

/**
 * For the kernel benchmark (bench/kernels.ts): `n` rounds of 12 independent f32x4 multiply-add
 * chains a·x + y (x near 1, y small) with no memory traffic — the multiply-add rate this build reaches on this machine at
 * this moment (96 flops per round), against which the GEMM's share of peak is stated (a shared
 * VM's clock drifts, so a fixed nominal peak would not do). Returns a lane sum (nothing is dead).
 */
export function fma_peak(n: i32, xs: f32, ys: f32): f32 {
  // x and y come in as arguments: splatted constants V8 would rebuild inside the loop.
  const x = splat(xs), y = splat(ys);
  let a0 = splat(1), a1 = splat(2), a2 = splat(3), a3 = splat(4), a4 = splat(5), a5 = splat(6);
  let a6 = splat(7), a7 = splat(8), a8 = splat(9), a9 = splat(10), a10 = splat(11), a11 = splat(12);
  for (let i = 0; i < n; i++) {
    a0 = fmadd(a0, x, y); a1 = fmadd(a1, x, y); a2 = fmadd(a2, x, y); a3 = fmadd(a3, x, y);
    a4 = fmadd(a4, x, y); a5 = fmadd(a5, x, y); a6 = fmadd(a6, x, y); a7 = fmadd(a7, x, y);
    a8 = fmadd(a8, x, y); a9 = fmadd(a9, x, y); a10 = fmadd(a10, x, y); a11 = fmadd(a11, x, y);
  }
  const s = f32x4.add(f32x4.add(f32x4.add(a0, a1), f32x4.add(a2, a3)), f32x4.add(f32x4.add(a4, a5), f32x4.add(a6, a7)));
  const t = f32x4.add(s, f32x4.add(f32x4.add(a8, a9), f32x4.add(a10, a11)));
  return f32x4.extract_lane(t, 0) + f32x4.extract_lane(t, 1) + f32x4.extract_lane(t, 2) + f32x4.extract_lane(t, 3);
}

// ------------------------------------------------------------------------------------------
// GEMM:  C[M,N] = (accumulate ? C : 0) + op(A)[M,K] · op(B)[K,N]
//
// Both operands are packed so that the inner loop reads two contiguous streams with immediate
// offsets only (no address arithmetic per load): under V8 the kernel is front-end bound, and
// every instruction saved in the loop shows up in GFLOP/s.
//   op(B) is packed once per call into panels of NR = 8 columns: panel p holds columns
//     [8p, 8p+8) as K consecutive rows of 8 floats (32 bytes), zero-padded past N.
//   op(A) is packed per (K block, M block) into groups of 5 rows (pack_a_5: 20 bytes per k) for
//     the block's first multiple of 20 rows, and groups of 4 rows after them, k-major: a 4-row
//     group holds its rows as kc consecutive 4-float columns (16 bytes), zero-padded past M.
// The register tiles are 5 rows x 8 columns (10 f32x4 accumulators) and 4 x 8 (8): V8 gives
// wasm 15 vector registers, and a tile needs its accumulators, two panel vectors and the
// broadcast A values. 5x8 fits only with rows 0-3 splatted by shuffles (see gemm_f32_5x8);
// other larger tiles spill (6x8, 4x12: 22-24 GFLOP/s against 4x8's 47; 3x12 fits and ran at
// 5x8's speed but would need 12-column panels), and unrolling the k loop by two measured 40%
// slower. 4x8 is kept for the per-step products of small row groups, the rows after the 5-row
// tiles, Aᵀ products split by rows on two threads (see gemm_mt) and the whole plain-SIMD build
// (see rows_5).
// Per k step of 4x8: two panel vectors, four broadcast A elements (v128.load32_splat), 8
// multiply-adds. A last panel of 1-3 columns (a Dense head of 65 or 9 outputs) goes column by
// column with the rows as lanes instead (gemm_narrow_col), the same chains as the edge tiles.
//
// op(A)[i,k] is read at A + i*rs + k*ks (bytes): rs/ks = (4*lda, 4) for A, (4, 4*lda) for Aᵀ.
// Cache blocking: K is cut into blocks of <= KC and M into blocks of MC rows; the packed MC×KC
// A block (128 KiB) stays in L2 across all panels, the current 8×KC panel slice (16 KiB) in L1
// while it is swept over the MC rows. (KC = 256 and MC = 32/128 measured the same or up to 10%
// slower on the shapes of bench/kernels.ts; MC = 80, all 5-row tiles, the same as 64 within the
// noise.) Aᵀ with rows of 2 KB or more (a weight gradient's dGᵀ) is packed for all its MC blocks
// of a K block in one pass instead (pack_a_5t_wide), reading each row in order.
// ------------------------------------------------------------------------------------------

const KC: i32 = 512;
const MC: i32 = 64;
/** Bytes of the packed A block: MC rows (in 5- or 4-row groups, 4 bytes per row and k). */
const APACK_BYTES: i32 = MC * KC * 4;

/** The packed A block (single-threaded module: one static buffer). */
const APACK: usize = memory.data(APACK_BYTES, 64);

// The threaded build (asm/kernels-threads.ts appended, `--enable threads`, shared memory) runs
// one instance per thread on one memory, so the packed A block and the edge tile below must be
// per thread: there they live at addresses each instance keeps in its own globals (wasm globals
// are per instance), set by set_thread_scratch. ASC_FEATURE_THREADS is a compile-time constant,
// so the single-threaded builds compile exactly as before (static buffers, no globals).
let threadApack: usize = 0;
let threadTile: usize = 0;
let threadWide: usize = 0;
// @ts-ignore: decorator
@inline function apack(): usize { return ASC_FEATURE_THREADS ? threadApack : APACK; }

/** Bytes of the packed panels of a K×N operand. */
export function packed_bytes(K: i32, N: i32): usize {
  return (<usize>((N + 7) >> 3)) * <usize>K * 32;
}

/**
 * 4×4 transpose: reads 4 floats at each of r0..r3 (rows), writes the 4 columns as 4 vectors at
 * dst, dst + step, dst + 2 step, dst + 3 step.
 */
// @ts-ignore: decorator
@inline function transpose4x4_store(r0: usize, r1: usize, r2: usize, r3: usize, dst: usize, step: usize): void {
  const a = v128.load(r0), b = v128.load(r1), c = v128.load(r2), d = v128.load(r3);
  const ab01 = i32x4.shuffle(a, b, 0, 4, 1, 5), ab23 = i32x4.shuffle(a, b, 2, 6, 3, 7);
  const cd01 = i32x4.shuffle(c, d, 0, 4, 1, 5), cd23 = i32x4.shuffle(c, d, 2, 6, 3, 7);
  v128.store(dst, i32x4.shuffle(ab01, cd01, 0, 1, 4, 5));
  v128.store(dst + step, i32x4.shuffle(ab01, cd01, 2, 3, 6, 7));
  v128.store(dst + 2 * step, i32x4.shuffle(ab23, cd23, 0, 1, 4, 5));
  v128.store(dst + 3 * step, i32x4.shuffle(ab23, cd23, 2, 3, 6, 7));
}

/**
 * Packs op(B) (K×N) into 8-column panels at P (packed_bytes(K, N) bytes).
 * transB = false: op(B)[k,j] = B[k*ldb + j];  transB = true: op(B)[k,j] = B[j*ldb + k].
 */
export function pack_b_nr8(transB: bool, K: i32, N: i32, B: usize, ldb: i32, P: usize): void {
  const np = (N + 7) >> 3;
  const ldbB = <usize>ldb << 2;
  const panelBytes = <usize>K * 32;
  for (let jp = 0; jp < np; jp++) {
    const j0 = jp << 3;
    const nr = min(8, N - j0);
    const dst0 = P + <usize>jp * panelBytes;
    if (!transB) {
      // Row k of the panel is 8 contiguous floats of row k of B.
      let src = B + (<usize>j0 << 2);
      let dst = dst0;
      if (nr == 8) {
        for (let k = 0; k < K; k++) {
          v128.store(dst, v128.load(src));
          v128.store(dst, v128.load(src, 16), 16);
          src += ldbB; dst += 32;
        }
      } else {
        for (let k = 0; k < K; k++) {
          for (let c = 0; c < 8; c++) {
            store<f32>(dst + (<usize>c << 2), c < nr ? load<f32>(src + (<usize>c << 2)) : 0);
          }
          src += ldbB; dst += 32;
        }
      }
    } else {
      // Column c of the panel is row j0+c of B (contiguous in k): transpose 4×4 blocks.
      const row0 = B + <usize>j0 * ldbB;
      let k = 0;
      if (nr == 8) {
        for (; k + 4 <= K; k += 4) {
          const src = row0 + (<usize>k << 2), dst = dst0 + (<usize>k << 5);
          transpose4x4_store(src, src + ldbB, src + 2 * ldbB, src + 3 * ldbB, dst, 32);
          const src4 = src + 4 * ldbB;
          transpose4x4_store(src4, src4 + ldbB, src4 + 2 * ldbB, src4 + 3 * ldbB, dst + 16, 32);
        }
      }
      for (; k < K; k++) {
        const dst = dst0 + (<usize>k << 5);
        for (let c = 0; c < 8; c++) {
          store<f32>(dst + (<usize>c << 2), c < nr ? load<f32>(row0 + <usize>c * ldbB + (<usize>k << 2)) : 0);
        }
      }
    }
  }
}

/**
 * Packs op(A) rows [0, mc), k in [0, kc) into groups of 4 rows (k-major, 16 bytes per k) at
 * dst, zero-padding the last group. op(A)[i,k] at a + i*rs + k*ks.
 */
function pack_a_4(mc: i32, kc: i32, a: usize, rs: usize, ks: usize, dst: usize): void {
  const groupBytes = <usize>kc << 4;
  let i0 = 0;
  if (rs == 4) {
    // Aᵀ, 16 rows (four groups, one 64-byte line) per pass over k: with the k stride a multiple
    // of 4 KiB (lda = 1024), every k maps to the same cache set, so a pass per group would find
    // the lines evicted and read each one four times from farther away.
    for (; i0 + 16 <= mc; i0 += 16) {
      const src = a + (<usize>i0 << 2);
      const d = dst + <usize>(i0 >> 2) * groupBytes;
      for (let k = 0; k < kc; k++) {
        const s = src + <usize>k * ks, o = d + (<usize>k << 4);
        v128.store(o, v128.load(s));
        v128.store(o + groupBytes, v128.load(s, 16));
        v128.store(o + 2 * groupBytes, v128.load(s, 32));
        v128.store(o + 3 * groupBytes, v128.load(s, 48));
      }
    }
  }
  for (let i = i0; i < mc; i += 4) {
    const mr = min(4, mc - i);
    const src = a + <usize>i * rs;
    const d = dst + <usize>(i >> 2) * groupBytes;
    if (mr == 4 && rs == 4) {
      // Aᵀ: the 4 rows are contiguous at each k.
      for (let k = 0; k < kc; k++) v128.store(d + (<usize>k << 4), v128.load(src + <usize>k * ks));
    } else if (mr == 4 && ks == 4) {
      // A: 4 rows, each contiguous in k: 4×4 transposes.
      let k = 0;
      for (; k + 4 <= kc; k += 4) {
        const s = src + (<usize>k << 2);
        transpose4x4_store(s, s + rs, s + 2 * rs, s + 3 * rs, d + (<usize>k << 4), 16);
      }
      for (; k < kc; k++) {
        const s = src + (<usize>k << 2), o = d + (<usize>k << 4);
        store<f32>(o, load<f32>(s)); store<f32>(o, load<f32>(s + rs), 4);
        store<f32>(o, load<f32>(s + 2 * rs), 8); store<f32>(o, load<f32>(s + 3 * rs), 12);
      }
    } else {
      for (let k = 0; k < kc; k++) {
        const s = src + <usize>k * ks, o = d + (<usize>k << 4);
        for (let r = 0; r < 4; r++) store<f32>(o + (<usize>r << 2), r < mr ? load<f32>(s + <usize>r * rs) : 0);
      }
    }
  }
}

/** Bytes of one 5-row group of packed A: 20 per k. */
// @ts-ignore: decorator
@inline function group5_bytes(kc: i32): usize { return <usize>kc * 20; }

/**
 * Packs op(A) rows [0, m5) (m5 a multiple of 5), k in [0, kc) into groups of 5 rows for
 * gemm_f32_5x8, k-major, 20 bytes per k: a block packs to the same bytes as with 4-row groups (a
 * layout with row 4 pre-splatted, 32 bytes per k, was no faster). op(A)[i,k] at
 * a + i*rs + k*ks; Aᵀ (rs = 4) goes to pack_a_5t instead.
 */
function pack_a_5(m5: i32, kc: i32, a: usize, rs: usize, ks: usize, dst: usize): void {
  const groupBytes = group5_bytes(kc);
  for (let i = 0; i < m5; i += 5) {
    const src = a + <usize>i * rs;
    const d = dst + <usize>(i / 5) * groupBytes;
    let k = 0;
    if (ks == 4) {
      // A: rows contiguous in k. Rows 0-3 by 4×4 transposes (vectors 20 bytes apart), row 4's
      // four values into the fifth float of each k.
      for (; k + 4 <= kc; k += 4) {
        const s = src + (<usize>k << 2), o = d + <usize>k * 20;
        transpose4x4_store(s, s + rs, s + 2 * rs, s + 3 * rs, o, 20);
        const r4 = v128.load(s + 4 * rs);
        store<f32>(o, f32x4.extract_lane(r4, 0), 16); store<f32>(o, f32x4.extract_lane(r4, 1), 36);
        store<f32>(o, f32x4.extract_lane(r4, 2), 56); store<f32>(o, f32x4.extract_lane(r4, 3), 76);
      }
    }
    for (; k < kc; k++) {
      const s = src + <usize>k * ks, o = d + <usize>k * 20;
      for (let r = 0; r < 5; r++) store<f32>(o + (<usize>r << 2), load<f32>(s + <usize>r * rs));
    }
  }
}

/**
 * pack_a_5 and pack_a_4 for Aᵀ (rs = 4: the rows contiguous at each k) in one pass over k: rows
 * [0, m5) into 5-row groups at dst, rows [m5, mc) into 4-row groups after them. One pass, because
 * with a k stride that is a multiple of 4 KiB every k maps to the same cache sets, so a second
 * pass over k would find the lines evicted and read them again from farther away (pack_a_4 takes
 * 16 rows, one line, per pass for the same reason).
 */
function pack_a_5t(mc: i32, m5: i32, kc: i32, a: usize, ks: usize, dst: usize): void {
  for (let k = 0; k < kc; k++) pack_a_5t_k(mc, m5, kc, k, a + <usize>k * ks, dst);
}

/** pack_a_5t's step k: the block's mc values of op(A)'s column k (contiguous at s) into their groups. */
// @ts-ignore: decorator
@inline function pack_a_5t_k(mc: i32, m5: i32, kc: i32, k: i32, s: usize, dst: usize): void {
  const g5 = group5_bytes(kc), g4 = <usize>kc << 4;
  const end5 = dst + <usize>(m5 / 5) * g5;
  const full4 = (mc - m5) >> 2, tail = (mc - m5) & 3;
  for (let o = dst + <usize>k * 20; o < end5; o += g5) {
    v128.store(o, v128.load(s));
    store<f32>(o, load<f32>(s, 16), 16);
    s += 20;
  }
  let o = end5 + (<usize>k << 4);
  for (let j = 0; j < full4; j++) {
    v128.store(o, v128.load(s));
    s += 16; o += g4;
  }
  if (tail) {
    for (let r = 0; r < 4; r++) store<f32>(o + (<usize>r << 2), r < tail ? load<f32>(s + (<usize>r << 2)) : 0);
  }
}

/** Bytes of a packed full MC-row block of kc steps (5- and 4-row groups alike: 4 bytes per row and k). */
// @ts-ignore: decorator
@inline function block_bytes(kc: i32): usize { return <usize>MC * <usize>kc * 4; }

/**
 * Every MC-row block of Aᵀ's rows [0, M) packed as pack_a_5t (or, !tiles5, pack_a_4) packs one,
 * block b at dst + b·block_bytes(kc), in one pass over k: each k reads its M values, contiguous,
 * at once. A weight gradient dW = dGᵀ·X with 512 gate columns reads dG's 2 KB rows: packed one
 * block of 64 rows at a time, each k read 256 bytes of a row 2 KB from the last, a pattern the
 * hardware prefetchers do not follow (W3's 26 MB of gate gradients came in at ~4.4 GB/s, 13% of
 * the product on one thread); whole rows in order stream. The K block's packed blocks (up to
 * 2 MB) then leave L2 and come back one block at a time, in order, from L3.
 */
function pack_a_5t_wide(M: i32, kc: i32, a: usize, ks: usize, dst: usize, tiles5: bool): void {
  const bb = block_bytes(kc);
  for (let k = 0; k < kc; k++) {
    const s = a + <usize>k * ks;
    let d = dst;
    for (let ic = 0; ic < M; ic += MC) {
      const mc = min(MC, M - ic);
      pack_a_5t_k(mc, tiles5 ? rows_5(mc) : 0, kc, k, s + (<usize>ic << 2), d);
      d += bb;
    }
  }
}

/**
 * Rows of Aᵀ packed a K block at a time (pack_a_5t_wide) by gemm_packed: at most WIDE_ROWS.
 * Measured on the AMD host (one thread, best of 15 calls): 512 x 128 x 12800 40.6 -> 37.6 ms,
 * 512 x 64 x 7200 13.4 -> 11.9; 768 x 256 x 2048 and 1024 x 256 x 2048 the same; with 256 rows
 * (1 KB rows, whose K block stays in L2) 7% slower at 256 x 65 x 2048.
 */
const WIDE_ROWS: i32 = 1024;
const WIDE_BYTES: i32 = WIDE_ROWS * KC * 4;
/**
 * Whether gemm_packed packs op(A) (element [i,k] at A + i·rs + k·ks) a K block at a time: Aᵀ of
 * more than one block of rows, at most WIDE_ROWS, whose rows in memory (the k stride) are 2 KB or
 * longer — shorter ones' K block stays in L2 for the per-block packing.
 */
// @ts-ignore: decorator
@inline function packs_wide(rs: usize, ks: usize, M: i32): bool { return rs == 4 && ks >= 2048 && M > MC && M <= WIDE_ROWS; }
/** The one-thread builds' buffer of pack_a_5t_wide (the threaded build's lies in each thread's scratch). */
const WIDE: usize = ASC_FEATURE_THREADS ? 0 : memory.data(WIDE_BYTES, 64);
// @ts-ignore: decorator
@inline function wide_buf(): usize { return ASC_FEATURE_THREADS ? threadWide : WIDE; }

/**
 * Rows of a gemm_packed block that go to 5-row tiles: the largest multiple of 20 up to mc. The
 * rows after them are then the 4-row groups (edge group and lone last row included) that a
 * 4-row-only block of the same height would end with, so which rows take the 1×8 kernel — the
 * one tile that sums in another order — does not change: every other element of C is the same
 * chain of multiply-adds in k order whichever tile computes it, so results are bit-identical to
 * 4-row tiles throughout, and to any split of the rows in multiples of 4.
 */
// The plain-SIMD build keeps 4-row tiles: its multiply-add is a mul and an add, whose temporary
// is the sixteenth register 5x8 would need (it spilled: 23 GFLOP/s against 4x8's 35-40).
// @ts-ignore: decorator
@inline function rows_5(mc: i32): i32 { return ASC_FEATURE_RELAXED_SIMD ? mc - mc % 20 : 0; }

/**
 * 5×8 spill tile for edge tiles (rows < 4 or 5, or columns < 8; 160 bytes), also a batch-1 mixed
 * group's 28 results and their 28 starting values (gemv_b1: 224 bytes).
 */
const TILE_BYTES: i32 = 224;
const TILE: usize = memory.data(TILE_BYTES, 16);
// @ts-ignore: decorator
@inline function tile(): usize { return ASC_FEATURE_THREADS ? threadTile : TILE; }

/**
 * Adds (or writes, when !acc) the valid mr×nr corner of TILE into C; with a bias row (and !acc)
 * writes bias + tile, the sum C = bias; C += tile would have made.
 */
function store_edge_tile(c: usize, ldcB: usize, acc: bool, mr: i32, nr: i32, bias: usize): void {
  for (let r = 0; r < mr; r++) {
    const crow = c + <usize>r * ldcB;
    const trow = tile() + (<usize>r << 5);
    for (let j = 0; j < nr; j++) {
      const o = <usize>j << 2;
      const v = load<f32>(trow + o);
      store<f32>(crow + o, acc ? load<f32>(crow + o) + v : bias != 0 ? load<f32>(bias + o) + v : v);
    }
  }
}

/**
 * The register tile: C[0..mr, 0..nr) (+)= Σ_k A4[k, 0..4)ᵀ · panel[k, 0..8) over kc >= 1 steps.
 * a: packed A group (16 bytes per k); b: panel slice (32 bytes per k); ldcB: C row stride in
 * bytes. Rows >= mr / columns >= nr are computed on the zero padding and dropped. bias (when
 * !acc and non-zero): 8 floats every row starts from, as if C held them and acc were set.
 */
function gemm_f32_4x8(
  kc: i32, a: usize, b: usize, c: usize, ldcB: usize, acc: bool, mr: i32, nr: i32, bias: usize,
): void {
  const full = mr == 4 && nr == 8;
  let c00 = splat(0), c01 = splat(0), c10 = splat(0), c11 = splat(0);
  let c20 = splat(0), c21 = splat(0), c30 = splat(0), c31 = splat(0);
  if (full && !acc && bias != 0) {
    // As if C held the bias rows and acc were set (edge tiles add it at the store, as they add C).
    c00 = v128.load(bias); c01 = v128.load(bias, 16);
    c10 = c00; c11 = c01; c20 = c00; c21 = c01; c30 = c00; c31 = c01;
  } else if (full && acc) {
    c00 = v128.load(c); c01 = v128.load(c, 16);
    c10 = v128.load(c + ldcB); c11 = v128.load(c + ldcB, 16);
    c20 = v128.load(c + 2 * ldcB); c21 = v128.load(c + 2 * ldcB, 16);
    c30 = v128.load(c + 3 * ldcB); c31 = v128.load(c + 3 * ldcB, 16);
  }
  const bEnd = b + (<usize>kc << 5);
  do {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    let x = v128.load32_splat(a);
    c00 = fmadd(x, b0, c00); c01 = fmadd(x, b1, c01);
    x = v128.load32_splat(a, 4);
    c10 = fmadd(x, b0, c10); c11 = fmadd(x, b1, c11);
    x = v128.load32_splat(a, 8);
    c20 = fmadd(x, b0, c20); c21 = fmadd(x, b1, c21);
    x = v128.load32_splat(a, 12);
    c30 = fmadd(x, b0, c30); c31 = fmadd(x, b1, c31);
    a += 16; b += 32;
  } while (b < bEnd);
  if (full) {
    v128.store(c, c00); v128.store(c, c01, 16);
    v128.store(c + ldcB, c10); v128.store(c + ldcB, c11, 16);
    v128.store(c + 2 * ldcB, c20); v128.store(c + 2 * ldcB, c21, 16);
    v128.store(c + 3 * ldcB, c30); v128.store(c + 3 * ldcB, c31, 16);
  } else {
    const tl = tile();
    v128.store(tl, c00); v128.store(tl, c01, 16);
    v128.store(tl, c10, 32); v128.store(tl, c11, 48);
    v128.store(tl, c20, 64); v128.store(tl, c21, 80);
    v128.store(tl, c30, 96); v128.store(tl, c31, 112);
    store_edge_tile(c, ldcB, acc, mr, nr, bias);
  }
}

/**
 * The 5-row register tile (10 accumulators, two more than 4×8's eight: enough independent
 * multiply-add chains to cover the instruction's latency at two per cycle with some slack;
 * measured 97% of the multiply-add peak against 91% for 4×8 on the same block and panel).
 * Rows 0-3 of a k step come as one vector and are splatted by shuffles, row 4 by a load-splat:
 * V8 schedules the four shuffles next to their uses, whereas five load-splats are all hoisted to
 * the top of the loop body, where they and the accumulators need 17 of the 15 vector registers
 * (spilling: 20 GFLOP/s instead of 50). a: packed 5-row group (pack_a_5); otherwise as
 * gemm_f32_4x8, with all five rows valid.
 */
function gemm_f32_5x8(kc: i32, a: usize, b: usize, c: usize, ldcB: usize, acc: bool, nr: i32, bias: usize): void {
  const full = nr == 8;
  let c00 = splat(0), c01 = splat(0), c10 = splat(0), c11 = splat(0), c20 = splat(0), c21 = splat(0);
  let c30 = splat(0), c31 = splat(0), c40 = splat(0), c41 = splat(0);
  if (full && (acc || bias != 0)) {
    // Start from C's rows, or from the bias row in every row (stride 0), as gemm_f32_4x8 does.
    const src = acc ? c : bias, ld = acc ? ldcB : 0;
    c00 = v128.load(src); c01 = v128.load(src, 16);
    c10 = v128.load(src + ld); c11 = v128.load(src + ld, 16);
    c20 = v128.load(src + 2 * ld); c21 = v128.load(src + 2 * ld, 16);
    c30 = v128.load(src + 3 * ld); c31 = v128.load(src + 3 * ld, 16);
    c40 = v128.load(src + 4 * ld); c41 = v128.load(src + 4 * ld, 16);
  }
  const bEnd = b + (<usize>kc << 5);
  do {
    const b0 = v128.load(b);
    const b1 = v128.load(b, 16);
    const a4 = v128.load(a);
    let x = v128.shuffle<f32>(a4, a4, 0, 0, 0, 0);
    c00 = fmadd(x, b0, c00); c01 = fmadd(x, b1, c01);
    x = v128.shuffle<f32>(a4, a4, 1, 1, 1, 1);
    c10 = fmadd(x, b0, c10); c11 = fmadd(x, b1, c11);
    x = v128.shuffle<f32>(a4, a4, 2, 2, 2, 2);
    c20 = fmadd(x, b0, c20); c21 = fmadd(x, b1, c21);
    x = v128.shuffle<f32>(a4, a4, 3, 3, 3, 3);
    c30 = fmadd(x, b0, c30); c31 = fmadd(x, b1, c31);
    x = v128.load32_splat(a, 16);
    c40 = fmadd(x, b0, c40); c41 = fmadd(x, b1, c41);
    a += 20; b += 32;
  } while (b < bEnd);
  const tl = tile();
  const out = full ? c : tl, ld = full ? ldcB : 32;
  v128.store(out, c00); v128.store(out, c01, 16);
  v128.store(out + ld, c10); v128.store(out + ld, c11, 16);
  v128.store(out + 2 * ld, c20); v128.store(out + 2 * ld, c21, 16);
  v128.store(out + 3 * ld, c30); v128.store(out + 3 * ld, c31, 16);
  v128.store(out + 4 * ld, c40); v128.store(out + 4 * ld, c41, 16);
  if (!full) store_edge_tile(c, ldcB, acc, 5, nr, bias);
}

/**
 * Writes a lone row's sums for one 8-column panel: C (or the bias row) + the sums, as an
 * accumulating 4×8 edge tile adds them; a partial panel (nr < 8) through the edge tile.
 */
// @ts-ignore: decorator
@inline function store_row_panel(c: usize, acc: bool, nr: i32, bias: usize, r0: v128, r1: v128): void {
  if (nr == 8) {
    const base = acc ? c : bias;
    v128.store(c, base != 0 ? f32x4.add(v128.load(base), r0) : r0);
    v128.store(c, base != 0 ? f32x4.add(v128.load(base, 16), r1) : r1, 16);
  } else {
    v128.store(tile(), r0); v128.store(tile(), r1, 16);
    store_edge_tile(c, 0, acc, 1, nr, bias);
  }
}

/**
 * A lone last row (M % 4 == 1, e.g. batch 1) against n <= 3 panels at once: a row of a packed A
 * group (16 bytes per k, the row's value first) times panels b, b + pstride, b + 2·pstride, one
 * h[k] splat feeding 2n accumulators — six multiply-add chains for three panels where one panel
 * gives only two, too few to hide the instruction's latency. Each column is one chain over k in
 * order, as in the 4×8 tile's edge tiles. (The kernel before summed three chains per column, k
 * mod 3: gemm_packed of one row by 480 x 256, one thread, 7.95 µs against 7.12, ad hoc.) n is a
 * constant at every call, so each inlined copy keeps only its panels' loads and chains. nr: the
 * valid columns of the last panel (the others are whole).
 */
// @ts-ignore: decorator
@inline function gemm_row_panels_n(
  n: i32, kc: i32, a: usize, b: usize, pstride: usize, c: usize, acc: bool, nr: i32, bias: usize,
): void {
  let s0 = splat(0), s1 = splat(0), s2 = splat(0), s3 = splat(0), s4 = splat(0), s5 = splat(0);
  let b1 = b + pstride, b2 = b1 + pstride;
  const aEnd = a + (<usize>kc << 4);
  do {
    const x = v128.load32_splat(a);
    s0 = fmadd(x, v128.load(b), s0); s1 = fmadd(x, v128.load(b, 16), s1);
    if (n >= 2) { s2 = fmadd(x, v128.load(b1), s2); s3 = fmadd(x, v128.load(b1, 16), s3); }
    if (n >= 3) { s4 = fmadd(x, v128.load(b2), s4); s5 = fmadd(x, v128.load(b2, 16), s5); }
    a += 16; b += 32; b1 += 32; b2 += 32;
  } while (a < aEnd);
  store_row_panel(c, acc, n == 1 ? nr : 8, bias, s0, s1);
  if (n >= 2) store_row_panel(c + 32, acc, n == 2 ? nr : 8, bias != 0 ? bias + 32 : 0, s2, s3);
  if (n >= 3) store_row_panel(c + 64, acc, nr, bias != 0 ? bias + 64 : 0, s4, s5);
}

/**
 * The lone last row of a block against every panel (np of them, N columns): three at a time
 * (gemm_row_panels_n), then the one or two left. a: its packed A group; bK: the first panel's K slice.
 */
function gemm_row_panels(kc: i32, a: usize, bK: usize, pstride: usize, np: i32, N: i32, c: usize, acc: bool, bias: usize): void {
  let jp = 0;
  for (; jp + 3 <= np; jp += 3) {
    const o = <usize>jp << 5;
    gemm_row_panels_n(3, kc, a, bK + <usize>jp * pstride, pstride, c + o, acc, min(8, N - ((jp + 2) << 3)), bias != 0 ? bias + o : 0);
  }
  const left = np - jp, o = <usize>jp << 5, nr = min(8, N - ((np - 1) << 3)), bj = bias != 0 ? bias + o : 0;
  if (left == 2) gemm_row_panels_n(2, kc, a, bK + <usize>jp * pstride, pstride, c + o, acc, nr, bj);
  else if (left == 1) gemm_row_panels_n(1, kc, a, bK + <usize>jp * pstride, pstride, c + o, acc, nr, bj);
}

/** A last panel of at most this many columns goes to gemm_narrow_col instead of the tiles. */
const NARROW_COLS: i32 = 3;

/**
 * Writes one narrow-panel result to C[r, j] as store_edge_tile writes an edge tile's: C + v when
 * acc, else bias[j] + v (bias: the panel's first column, or 0), else v.
 */
// @ts-ignore: decorator
@inline function store_narrow(c: usize, acc: bool, bias: usize, v: f32): void {
  store<f32>(c, acc ? load<f32>(c) + v : bias != 0 ? load<f32>(bias) + v : v);
}

/**
 * Column j of a narrow last panel (nr <= NARROW_COLS valid columns of 8) for the block's packed
 * groups: rows as lanes, where a register tile would compute eight columns to keep one to three.
 * A 5-row group's rows 0-3 are one vector per k (s) and row 4 the first lane of another (t), a
 * 4-row group's rows one vector; four groups at a time (eight or four multiply-add chains), each
 * chain times the splatted B[k, j]. Every element is the chain an edge tile computes for it —
 * from zero over k in order, then added to C or the bias (store_narrow) — so the bits are the
 * tiles'. g5: 5-row groups at a (group5_bytes(kc) apart), then g4 4-row groups (kc·16 bytes
 * apart) whose last has mr4 valid rows; b: the panel's K slice; c: C at the block's first row
 * and the panel's first column.
 */
function gemm_narrow_col(
  kc: i32, a: usize, g5: i32, g4: i32, mr4: i32, b: usize, j: i32, c: usize, ldcB: usize, acc: bool, bias: usize,
): void {
  const G5 = group5_bytes(kc), G4 = <usize>kc << 4;
  const bj = b + (<usize>j << 2), bEnd = bj + (<usize>kc << 5);
  const cj = c + (<usize>j << 2), biasj = bias != 0 ? bias + (<usize>j << 2) : 0;
  let g = 0;
  for (; g + 4 <= g5; g += 4) {
    let s0 = splat(0), s1 = splat(0), s2 = splat(0), s3 = splat(0);
    let t0 = splat(0), t1 = splat(0), t2 = splat(0), t3 = splat(0);
    let p0 = a + <usize>g * G5, p1 = p0 + G5, p2 = p1 + G5, p3 = p2 + G5;
    let q = bj;
    do {
      const x = v128.load32_splat(q);
      s0 = fmadd(v128.load(p0), x, s0); t0 = fmadd(v128.load32_zero(p0, 16), x, t0);
      s1 = fmadd(v128.load(p1), x, s1); t1 = fmadd(v128.load32_zero(p1, 16), x, t1);
      s2 = fmadd(v128.load(p2), x, s2); t2 = fmadd(v128.load32_zero(p2, 16), x, t2);
      s3 = fmadd(v128.load(p3), x, s3); t3 = fmadd(v128.load32_zero(p3, 16), x, t3);
      p0 += 20; p1 += 20; p2 += 20; p3 += 20; q += 32;
    } while (q < bEnd);
    store_group5(cj + <usize>(g * 5) * ldcB, ldcB, acc, biasj, s0, t0);
    store_group5(cj + <usize>(g * 5 + 5) * ldcB, ldcB, acc, biasj, s1, t1);
    store_group5(cj + <usize>(g * 5 + 10) * ldcB, ldcB, acc, biasj, s2, t2);
    store_group5(cj + <usize>(g * 5 + 15) * ldcB, ldcB, acc, biasj, s3, t3);
  }
  for (; g < g5; g++) {
    let s = splat(0), t = splat(0);
    let p = a + <usize>g * G5, q = bj;
    do {
      const x = v128.load32_splat(q);
      s = fmadd(v128.load(p), x, s); t = fmadd(v128.load32_zero(p, 16), x, t);
      p += 20; q += 32;
    } while (q < bEnd);
    store_group5(cj + <usize>(g * 5) * ldcB, ldcB, acc, biasj, s, t);
  }
  const a4 = a + <usize>g5 * G5, c4 = cj + <usize>(g5 * 5) * ldcB;
  g = 0;
  for (; g + 4 <= g4; g += 4) {
    let s0 = splat(0), s1 = splat(0), s2 = splat(0), s3 = splat(0);
    let p0 = a4 + <usize>g * G4, p1 = p0 + G4, p2 = p1 + G4, p3 = p2 + G4;
    let q = bj;
    do {
      const x = v128.load32_splat(q);
      s0 = fmadd(v128.load(p0), x, s0); s1 = fmadd(v128.load(p1), x, s1);
      s2 = fmadd(v128.load(p2), x, s2); s3 = fmadd(v128.load(p3), x, s3);
      p0 += 16; p1 += 16; p2 += 16; p3 += 16; q += 32;
    } while (q < bEnd);
    const cg = c4 + <usize>(g << 2) * ldcB, last = g + 4 == g4 ? mr4 : 4;
    store_group4(cg, ldcB, acc, biasj, s0, 4);
    store_group4(cg + 4 * ldcB, ldcB, acc, biasj, s1, 4);
    store_group4(cg + 8 * ldcB, ldcB, acc, biasj, s2, 4);
    store_group4(cg + 12 * ldcB, ldcB, acc, biasj, s3, last);
  }
  for (; g < g4; g++) {
    let s = splat(0);
    let p = a4 + <usize>g * G4, q = bj;
    do {
      s = fmadd(v128.load(p), v128.load32_splat(q), s);
      p += 16; q += 32;
    } while (q < bEnd);
    store_group4(c4 + <usize>(g << 2) * ldcB, ldcB, acc, biasj, s, g + 1 == g4 ? mr4 : 4);
  }
}

/** A 5-row group's column: rows 0-3 from s's lanes, row 4 from t's first (store_narrow). */
// @ts-ignore: decorator
@inline function store_group5(c: usize, ldcB: usize, acc: bool, bias: usize, s: v128, t: v128): void {
  store_narrow(c, acc, bias, f32x4.extract_lane(s, 0));
  store_narrow(c + ldcB, acc, bias, f32x4.extract_lane(s, 1));
  store_narrow(c + 2 * ldcB, acc, bias, f32x4.extract_lane(s, 2));
  store_narrow(c + 3 * ldcB, acc, bias, f32x4.extract_lane(s, 3));
  store_narrow(c + 4 * ldcB, acc, bias, f32x4.extract_lane(t, 0));
}

/** A 4-row group's column, its first mr rows (store_narrow). */
// @ts-ignore: decorator
@inline function store_group4(c: usize, ldcB: usize, acc: bool, bias: usize, s: v128, mr: i32): void {
  store_narrow(c, acc, bias, f32x4.extract_lane(s, 0));
  if (mr > 1) store_narrow(c + ldcB, acc, bias, f32x4.extract_lane(s, 1));
  if (mr > 2) store_narrow(c + 2 * ldcB, acc, bias, f32x4.extract_lane(s, 2));
  if (mr > 3) store_narrow(c + 3 * ldcB, acc, bias, f32x4.extract_lane(s, 3));
}

/**
 * C[M,N] (+)= op(A)·op(B) with op(B) already packed (pack_b_nr8). The panels may be a K-range
 * of a larger packing: panel p starts at P + p*pstride and row k of the range at +32k, so the
 * sequence drivers can multiply by row blocks of a once-packed weight matrix. tiles5 = false
 * keeps to 4-row tiles (the same results; see rows_5).
 */
export function gemm_packed(
  M: i32, N: i32, K: i32, A: usize, rs: usize, ks: usize,
  P: usize, pstride: usize, C: usize, ldc: i32, accumulate: bool, bias: usize = 0, tiles5: bool = true,
): void {
  const ldcB = <usize>ldc << 2;
  if (M <= 0 || N <= 0) return;
  if (K <= 0) {
    if (!accumulate) {
      for (let i = 0; i < M; i++) {
        if (bias != 0) memory.copy(C + <usize>i * ldcB, bias, <usize>N << 2);
        else memory.fill(C + <usize>i * ldcB, 0, <usize>N << 2);
      }
    }
    return;
  }
  const np = (N + 7) >> 3;
  // Equal-sized K blocks (K = 300 -> 150 + 150 rather than 256 + 44).
  const nkb = (K + KC - 1) / KC;
  const kcMax = (K + nkb - 1) / nkb;
  for (let pc = 0; pc < K; pc += kcMax) {
    const kc = min(kcMax, K - pc);
    const acc = accumulate || pc > 0;
    const bK = P + (<usize>pc << 5);
    const groupBytes = <usize>kc << 4;
    const wide = packs_wide(rs, ks, M);
    if (wide) pack_a_5t_wide(M, kc, A + <usize>pc * ks, ks, wide_buf(), tiles5);
    for (let ic = 0; ic < M; ic += MC) {
      const mc = min(MC, M - ic);
      const m5 = tiles5 ? rows_5(mc) : 0;
      const a0 = A + <usize>ic * rs + <usize>pc * ks;
      // (A wide block was packed above, with the K block's other blocks.)
      const ap = wide ? wide_buf() + <usize>(ic / MC) * block_bytes(kc) : apack();
      if (!wide) {
        if (m5 > 0 && rs == 4) pack_a_5t(mc, m5, kc, a0, ks, ap);
        else {
          pack_a_5(m5, kc, a0, rs, ks, ap);
          pack_a_4(mc - m5, kc, a0 + <usize>m5 * rs, rs, ks, ap + <usize>(m5 / 5) * group5_bytes(kc));
        }
      }
      for (let jp = 0; jp < np; jp++) {
        const nr = min(8, N - (jp << 3));
        const b = bK + <usize>jp * pstride;
        const cj = C + <usize>ic * ldcB + (<usize>jp << 5);
        const bj = bias != 0 ? bias + (<usize>jp << 5) : 0;
        if (nr <= NARROW_COLS) {
          // (A lone last row, (mc - m5) % 4 == 1, is not a group here: it goes after the panels.)
          const rest = mc - m5, g4 = (rest >> 2) + ((rest & 3) >= 2 ? 1 : 0), mr4 = (rest & 3) >= 2 ? rest & 3 : 4;
          for (let j = 0; j < nr; j++) gemm_narrow_col(kc, ap, m5 / 5, g4, mr4, b, j, cj, ldcB, acc, bj);
          continue;
        }
        let a = ap;
        for (let i = 0; i < m5; i += 5) {
          gemm_f32_5x8(kc, a, b, cj + <usize>i * ldcB, ldcB, acc, nr, bj);
          a += group5_bytes(kc);
        }
        for (let i = m5; i + 1 < mc; i += 4) { // (a lone last row: after the panels)
          gemm_f32_4x8(kc, a, b, cj + <usize>i * ldcB, ldcB, acc, min(4, mc - i), nr, bj);
          a += groupBytes;
        }
      }
      if ((mc - m5) % 4 == 1) {
        const a1 = ap + <usize>(m5 / 5) * group5_bytes(kc) + <usize>((mc - m5) >> 2) * groupBytes;
        gemm_row_panels(kc, a1, bK, pstride, np, N, C + <usize>(ic + mc - 1) * ldcB, acc, bias);
      }
    }
  }
}

// ---- Products with a long K, in two parts of K ----
// A product whose K is long and at least its M (the weight gradients dW = dGᵀ·X, K = T·B rows) is
// computed in two parts of K: part 0 into C as an unsplit product would (accumulating, or from
// the bias), part 1 into scratch Q, then C += Q. Two threads (gemm_mt) then each take one part
// by blocks of rows and run it with the one-thread blocking — a K block's packed panels reused
// across a quarter of M in the core's own L2 — where splitting only the rows made every thread
// stream all of op(B) again for each of its blocks of 16-64 rows. The one-thread build splits
// the same way, so the builds agree bit for bit.

/** Whether a product is computed in two parts of K. */
// @ts-ignore: decorator
@inline function k_split(M: i32, K: i32): bool { return K >= 1024 && K >= M; }

/** Where part 1's C (M×N) lies in gemm's scratch P of a product split along K: after the packed op(B). */
// @ts-ignore: decorator
@inline function part1_c(P: usize, N: i32, K: i32): usize { return P + align64(packed_bytes(max(K, 0), N)); }

/** Bytes of gemm's scratch P: the packed op(B), then for a product split along K part 1's C. */
export function gemm_scratch_bytes(M: i32, N: i32, K: i32): usize {
  const packed = part1_c(0, N, K);
  return M > 0 && N > 0 && k_split(M, K) ? packed + align64(<usize>M * <usize>N * 4) : packed;
}

/**
 * Rows [m0, m0 + m) of part p of a product split along K (op(B) packed at P for all of K): part 0
 * (k < K/2) into C (+ bias when !accumulate), part 1 into Q (M×N, row stride N).
 */
function gemm_part(
  p: i32, m0: i32, m: i32, N: i32, K: i32, A: usize, rs: usize, ks: usize, P: usize,
  C: usize, ldc: i32, accumulate: bool, bias: usize, Q: usize,
): void {
  const k0 = K >> 1, pstride = <usize>K * 32;
  const a = A + <usize>m0 * rs;
  if (p == 0) {
    gemm_packed(m, N, k0, a, rs, ks, P, pstride, C + <usize>m0 * (<usize>ldc << 2), ldc, accumulate, accumulate ? 0 : bias);
  } else {
    gemm_packed(m, N, K - k0, a + <usize>k0 * ks, rs, ks, P + (<usize>k0 << 5), pstride, Q + <usize>m0 * (<usize>N << 2), N, false);
  }
}

/** C[r, 0..N) += Q[r, 0..N) for rows [r0, r1) (Q's row stride N). */
function add_rows(C: usize, ldc: i32, Q: usize, N: i32, r0: i32, r1: i32): void {
  for (let r = r0; r < r1; r++) add_row(C + <usize>r * (<usize>ldc << 2), Q + <usize>r * (<usize>N << 2), N);
}

/**
 * The BLAS-like entry point. P: scratch of gemm_scratch_bytes(M, N, K) bytes (the packed op(B),
 * and part 1's C of a product split along K).
 * bias: 0, or (when !accumulate) a row of N floats, readable up to a multiple of 8, that every row
 * of C starts from: C = bias + op(A)·op(B), summed exactly as C = bias; C += op(A)·op(B).
 * PB: 0, or op(B) already packed there by pack_b_nr8(transB, K, N, B, ldb, PB) (a weight packed
 * once for many calls): B is then not read, unless the rows go by gemv (rows_by_gemv), which reads
 * B as it lies. The results are the same bits either way.
 */
export function gemm(
  transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, accumulate: bool, P: usize, bias: usize, PB: usize,
): void {
  if (M <= 0 || N <= 0) return;
  if (rows_by_gemv(transA, transB, M, K)) {
    gemm_by_gemv(M, K, A, lda, B, ldb, C, ldc, accumulate, bias, 0, N);
    return;
  }
  const panels = PB != 0 ? PB : P;
  if (PB == 0) pack_b_nr8(transB, K, N, B, ldb, P);
  const ldaB = <usize>lda << 2;
  const rs: usize = transA ? 4 : ldaB;
  const ks: usize = transA ? ldaB : 4;
  if (!k_split(M, K)) {
    gemm_packed(M, N, K, A, rs, ks, panels, <usize>K * 32, C, ldc, accumulate, accumulate ? 0 : bias);
    return;
  }
  const Q = part1_c(P, N, K);
  gemm_part(0, 0, M, N, K, A, rs, ks, panels, C, ldc, accumulate, bias, Q);
  gemm_part(1, 0, M, N, K, A, rs, ks, panels, C, ldc, accumulate, bias, Q);
  add_rows(C, ldc, Q, N, 0, M);
}

/**
 * A weight matrix read where it lies (W: N rows of ldb floats, op(B)'s columns, as an input
 * projection's W_ih) kept as a copy (B, the same layout) and that copy packed as op(B)'s panels
 * (PB, pack_b_nr8(true, K, N, B, ldb, PB)): rows [j0, j1) (j0 a multiple of 8) compared with the
 * copy and, where they differ, copied and their panels packed again. Returns whether they did.
 */
export function refresh_panels(W: usize, B: usize, ldb: i32, K: i32, j0: i32, j1: i32, PB: usize): bool {
  const ldbB = <usize>ldb << 2, off = <usize>j0 * ldbB, bytes = <usize>(j1 - j0) * ldbB;
  if (!differ(W + off, B + off, bytes)) return false;
  memory.copy(B + off, W + off, bytes);
  pack_b_nr8(true, K, j1 - j0, B + off, ldb, PB + <usize>(j0 >> 3) * <usize>K * 32);
  return true;
}

/**
 * gemm with op(B) = Bᵀ kept packed at PB from a copy B of weights W that lie in this memory and
 * may have changed since (refresh_panels over all N rows first; a nonzero i32 stored at `flag`
 * when they had). transB, PB != 0, and more rows than rows_by_gemv takes.
 */
export function gemm_checked(
  transA: bool, transB: bool, M: i32, N: i32, K: i32,
  A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32, accumulate: bool, P: usize, bias: usize, PB: usize,
  W: usize, flag: usize,
): void {
  if (K > 0 && refresh_panels(W, B, ldb, K, 0, N, PB)) store<i32>(flag, 1);
  gemm(transA, transB, M, N, K, A, lda, B, ldb, C, ldc, accumulate, P, bias, PB);
}

// ------------------------------------------------------------------------------------------
// GEMV for batch 1:  y[r] = Σ_k W[r, k]·h[k] for rows [0, rows) of a row-major W
//
// One row of the recurrent product is a dot product along the row of W, so W is read where it
// lies: no packing (which, for a 256×1024 W_hh, cost as much as several steps), and a thread
// that takes the same rows every step keeps its part of the weights in its own core's L2.
// K is cut into blocks of 32: the block's 8 vectors of h stay in registers while every row of a
// block of GEMV_ROWS rows multiplies its 32 weights in (8 loads, 8 multiply-adds into two
// accumulators, the even and odd vectors), adding the block's 4-lane partial sum to the row's
// partial in `part` (16 bytes per row). Each row is computed alone, always by the same code —
// a row's bits never depend on which rows it was computed with, so any split of the rows
// between threads gives the same results. The last partial sum is reduced as
// (l0 + l2) + (l1 + l3), plus the K % 4 tail summed in scalar.
// ------------------------------------------------------------------------------------------

/** Rows per block of gemv (the partial sums of a block: GEMV_ROWS·16 bytes of `part`). */
const GEMV_ROWS: i32 = 32;

/** Bytes of gemv's `part` scratch. */
// @ts-ignore: decorator
@inline function gemv_part_bytes(): usize { return <usize>GEMV_ROWS << 4; }

/**
 * Adds the 4-lane partial sum of k in [k0, k0 + 4·nv) (nv <= 8 vectors) of each of `rows` rows
 * to part (first: stores it). Full blocks (nv = 8) keep h in registers across the rows.
 */
// @ts-ignore: decorator
@inline function gemv_block(rows: i32, w: usize, ldwB: usize, hp: usize, nv: i32, part: usize, first: bool): void {
  const pEnd = part + (<usize>rows << 4);
  if (nv == 8) {
    const x0 = v128.load(hp), x1 = v128.load(hp, 16), x2 = v128.load(hp, 32), x3 = v128.load(hp, 48);
    const x4 = v128.load(hp, 64), x5 = v128.load(hp, 80), x6 = v128.load(hp, 96), x7 = v128.load(hp, 112);
    for (let p = part; p < pEnd; p += 16) {
      let a = f32x4.mul(v128.load(w), x0), b = f32x4.mul(v128.load(w, 16), x1);
      a = fmadd(v128.load(w, 32), x2, a); b = fmadd(v128.load(w, 48), x3, b);
      a = fmadd(v128.load(w, 64), x4, a); b = fmadd(v128.load(w, 80), x5, b);
      a = fmadd(v128.load(w, 96), x6, a); b = fmadd(v128.load(w, 112), x7, b);
      const s = f32x4.add(a, b);
      v128.store(p, first ? s : f32x4.add(v128.load(p), s));
      w += ldwB;
    }
  } else {
    // The same arithmetic for a shorter block: vector v into a (even v) or b (odd v).
    for (let p = part; p < pEnd; p += 16) {
      let a = f32x4.mul(v128.load(w), v128.load(hp));
      let b = splat(0);
      if (nv > 1) b = f32x4.mul(v128.load(w, 16), v128.load(hp, 16));
      for (let v = 2; v < nv; v++) {
        const o = <usize>v << 4;
        if (v & 1) b = fmadd(v128.load(w + o), v128.load(hp + o), b);
        else a = fmadd(v128.load(w + o), v128.load(hp + o), a);
      }
      const s = f32x4.add(a, b);
      v128.store(p, first ? s : f32x4.add(v128.load(p), s));
      w += ldwB;
    }
  }
}

/**
 * y[r] = W[r, :]·h for rows [0, rows) (W row stride ldw floats, K >= 0 columns); part: scratch
 * of gemv_part_bytes() bytes (per thread).
 */
export function gemv(rows: i32, K: i32, W: usize, ldw: i32, h: usize, y: usize, part: usize): void {
  const ldwB = <usize>ldw << 2;
  const K4 = K & ~3;
  for (let r0 = 0; r0 < rows; r0 += GEMV_ROWS) {
    const n = min(GEMV_ROWS, rows - r0);
    const w0 = W + <usize>r0 * ldwB;
    if (K4 == 0) memory.fill(part, 0, <usize>n << 4);
    for (let k0 = 0; k0 < K4; k0 += 32) {
      gemv_block(n, w0 + (<usize>k0 << 2), ldwB, h + (<usize>k0 << 2), min(8, (K4 - k0) >> 2), part, k0 == 0);
    }
    for (let i = 0; i < n; i++) {
      const s = v128.load(part + (<usize>i << 4));
      const u = f32x4.add(s, v128.shuffle<f32>(s, s, 2, 3, 0, 1));
      let r = f32x4.extract_lane(u, 0) + f32x4.extract_lane(u, 1);
      if (K & 3) {
        const wr = w0 + <usize>i * ldwB;
        let t: f32 = 0;
        for (let k = K4; k < K; k++) t += load<f32>(wr + (<usize>k << 2)) * load<f32>(h + (<usize>k << 2));
        r += t;
      }
      store<f32>(y + (<usize>(r0 + i) << 2), r);
    }
  }
}

// ---- Batch-1 recurrent products on W_hh packed in blocks of rows ----
// A step of batch 1 multiplies W_hh (G×H) by one vector h. gemv reads W_hh as it lies, holding
// 32 values of h in registers and keeping 4-lane partial sums per row (~25 instructions per 128
// bytes of W, one value of h spilled). Packed in blocks of GEMV_P rows — for each k the block's
// 28 values of column k, 112 contiguous bytes — a block is one pass over k: h[k] splatted once
// and multiplied into seven accumulators of four rows. Seven is the most V8 keeps in its 16
// vector registers beside their seven loads and h[k]; with eight (32 rows) it spills them inside
// the loop. Measured on one thread, 480-504 rows x 256, W in L2 (2026-11-26, ad hoc): gemv
// 6.7-6.9 µs, 24 rows (six accumulators) 6.1-6.2, 28 rows 5.5, 32 rows 13.7-14.1. Each row is
// one multiply-add chain over k in order, as in the GEMM's register tiles, so a batch-1 step
// gives the same bits as any row of a batch computed by the tiles (K = H <= KC).
//
// A pass waits on its chains (four cycles per k whatever the number of accumulators), so a step
// costs about one unit of time per pass, and the two threads split a step by chunks of units,
// each unit's rows in every gate block. With chunks of whole blocks, LSTM H = 256 (nine blocks
// of 28 units and 4 units left, by gemv) split at best 140 / 116 units: 20 passes against 16 and
// four gemv tails. So the units are laid out in chunks (b1_plan): full blocks of GEMV_P units
// before and after a region R of GEMV_P + H mod GEMV_P units around H/2 (all of H when it has no
// full block), and R cut into two mixed chunks M0 | M1. A mixed chunk's rows in the gate blocks
// of a gate set (b1_sets: GRU's r|z apart from n, whose product may read another vector) are
// packed seven 4-row vectors to a group, each vector four units of one gate block, read by the
// same pass and stored where its rows belong: no gemv, and the cut is where the passes balance.
// LSTM H = 256: b0..b3 | M0 (12 units: 2 passes) | M1 (20 units: 3 passes) | b5..b8, 18 and 19
// passes. Every row is still one chain over k in order.

/** Rows per packed block of W_hh for batch 1 (seven accumulators of four rows). */
const GEMV_P: i32 = 28;
/** 4-row vectors per block or mixed group. */
const GEMV_V: i32 = GEMV_P >> 2;

// The plan of b1_plan's (kind, H), in this instance's globals (the same on every thread).
let b1Kind: i32 = -1;
let b1H: i32 = -1;
/** Full blocks per gate block, and how many of them come before R. */
let b1Nf: i32 = 0;
let b1Qa: i32 = 0;
/** R = units [b1R0, b1R1), cut at b1Cut: M0 = [b1R0, b1Cut), M1 = [b1Cut, b1R1). */
let b1R0: i32 = 0;
let b1Cut: i32 = 0;
let b1R1: i32 = 0;
/** Groups of 7 vectors (= passes) of M0 and of M1. */
let b1G0: i32 = 0;
let b1G1: i32 = 0;

/** Gate sets of the mixed groups: LSTM one of four blocks, RNN one of one, GRU r|z and n. */
// @ts-ignore: decorator
@inline function b1_sets(kind: i32): i32 { return kind == GRU ? 2 : 1; }
// @ts-ignore: decorator
@inline function b1_set_lo(kind: i32, s: i32): i32 { return kind == GRU && s == 1 ? 2 : 0; }
// @ts-ignore: decorator
@inline function b1_set_hi(kind: i32, s: i32): i32 { return kind == GRU ? (s == 0 ? 2 : 3) : gate_blocks(kind); }

/** Groups of GEMV_V vectors packing `units` units of set s (0 for no units). */
// @ts-ignore: decorator
@inline function b1_set_groups(kind: i32, s: i32, units: i32): i32 {
  return ((b1_set_hi(kind, s) - b1_set_lo(kind, s)) * ((units + 3) >> 2) + GEMV_V - 1) / GEMV_V;
}

/** Groups (= passes) of a mixed chunk of `units` units, over all gate sets. */
function b1_groups(kind: i32, units: i32): i32 {
  let n = 0;
  for (let s = 0; s < b1_sets(kind); s++) n += b1_set_groups(kind, s, units);
  return n;
}

/**
 * Sets the plan's globals for (kind, H): R after the full blocks below H/2, and the cut of R that
 * gives the two threads' halves (the blocks before R and M0; M1 and the blocks after) the fewest
 * passes on the busier thread, then the fewest in all.
 */
function b1_plan(kind: i32, H: i32): void {
  if (kind == b1Kind && H == b1H) return;
  const nb = gate_blocks(kind), nq = H / GEMV_P;
  if (nq == 0) {
    b1Nf = 0; b1Qa = 0; b1R0 = 0; b1R1 = H;
  } else {
    b1Nf = nq - 1; b1Qa = min(nq - 1, H / (2 * GEMV_P));
    b1R0 = b1Qa * GEMV_P; b1R1 = b1R0 + GEMV_P + H - nq * GEMV_P;
  }
  // M0's units: multiples of 4 (M1's vectors then start where a 4-unit vector would), or all of R.
  const Ru = b1R1 - b1R0;
  let best = Ru, bestMax = i32.MAX_VALUE, bestSum = i32.MAX_VALUE;
  for (let m = 0; ; m += 4) {
    const u = min(m, Ru);
    const t0 = nb * b1Qa + b1_groups(kind, u), t1 = nb * (b1Nf - b1Qa) + b1_groups(kind, Ru - u);
    const mx = max(t0, t1), sum = t0 + t1;
    if (mx < bestMax || (mx == bestMax && sum < bestSum)) { best = u; bestMax = mx; bestSum = sum; }
    if (u == Ru) break;
  }
  b1Cut = b1R0 + best;
  b1G0 = b1_groups(kind, b1Cut - b1R0); b1G1 = b1_groups(kind, b1R1 - b1Cut);
  b1Kind = kind; b1H = H;
}

/** Chunks of the plan: the full blocks, M0 and M1. */
// @ts-ignore: decorator
@inline function b1_chunks(): i32 { return b1Nf + 2; }

/** First unit of chunk c (c = b1_chunks(): H). Chunks' units are consecutive ranges. */
function b1_start(c: i32): i32 {
  if (c < b1Qa) return c * GEMV_P;
  if (c == b1Qa) return b1R0;
  if (c == b1Qa + 1) return b1Cut;
  return b1R1 + (c - b1Qa - 2) * GEMV_P;
}

/** Bytes of a block or mixed group: K rows (k) of GEMV_P floats (K = H for W_hh, I for W_ih). */
// @ts-ignore: decorator
@inline function b1_blk(K: i32): usize { return <usize>K * (<usize>GEMV_P << 2); }

/** Where mixed chunk m (0 or 1) of the plan starts in a packing of rows of K (after every full block). */
function b1_mixed_at(kind: i32, K: i32, P: usize, m: i32): usize {
  const before = gate_blocks(kind) * b1Nf + (m == 1 ? b1G0 : 0);
  return P + <usize>before * b1_blk(K);
}

/** Bytes of W_hh packed for batch 1 (b1_plan's full blocks of every gate block, then M0 and M1). */
export function packed_whh_bytes(kind: i32, H: i32): usize {
  if (H <= 0) return 0;
  b1_plan(kind, H);
  return b1_packed(kind, H);
}

/** Bytes of a batch-1 packing of rows of K (b1_plan already set for kind, H). */
// @ts-ignore: decorator
@inline function b1_packed(kind: i32, K: i32): usize {
  return <usize>(gate_blocks(kind) * b1Nf + b1G0 + b1G1) * b1_blk(K);
}

/**
 * Packs rows [row, row + n) of W (n <= 4; row-major, K columns: W_hh, K = H, or W_ih, K = I) as
 * the 4-row vector at byte `lane` of each GEMV_P-float row of dst (K rows): W[row + r, k] at
 * dst + k·GEMV_P·4 + lane + 4r, zeros for r >= n.
 */
function pack_b1_vec(K: i32, w: usize, row: i32, n: i32, dst: usize, lane: usize): void {
  const K4 = <usize>K << 2, rowB = <usize>GEMV_P << 2;
  const src = w + <usize>row * K4;
  let k = 0;
  if (n == 4) {
    for (; k + 4 <= K; k += 4) {
      const s = src + (<usize>k << 2);
      transpose4x4_store(s, s + K4, s + 2 * K4, s + 3 * K4, dst + <usize>k * rowB + lane, rowB);
    }
  }
  for (; k < K; k++) {
    const d = dst + <usize>k * rowB + lane;
    for (let r = 0; r < 4; r++) store<f32>(d + (<usize>r << 2), r < n ? load<f32>(src + <usize>r * K4 + (<usize>k << 2)) : 0);
  }
}

/** Vector v of a mixed chunk's set: its gate block g and first unit (of u0, u1, nvu vectors per gate block). */
// @ts-ignore: decorator
@inline function b1_vec_row(kind: i32, s: i32, H: i32, u0: i32, nvu: i32, v: i32): i32 {
  return (b1_set_lo(kind, s) + v / nvu) * H + u0 + ((v % nvu) << 2);
}

/**
 * Packs chunk c of the plan (b1_plan) into P: a full block's GEMV_P rows of every gate block
 * (block i of gate block g at P + (g·b1Nf + i)·blk), or a mixed chunk's groups (b1_mixed_at):
 * per gate set, its vectors gate block by gate block, four units each (the last one of a gate
 * block zero-padded when the chunk's units are no multiple of 4), seven to a group, the last
 * group zero-padded. The sequence loops pack every chunk when asked to (seq_forward's
 * `repack`); the caller keeps the packing across calls.
 */
function pack_b1_chunk(kind: i32, H: i32, K: i32, whh: usize, P: usize, c: i32): void {
  const nb = gate_blocks(kind), blk = b1_blk(K);
  if (c != b1Qa && c != b1Qa + 1) {
    const i = c < b1Qa ? c : c - 2, j = b1_start(c);
    for (let g = 0; g < nb; g++) {
      const dst = P + <usize>(g * b1Nf + i) * blk;
      for (let r = 0; r < GEMV_P; r += 4) pack_b1_vec(K, whh, g * H + j + r, 4, dst, <usize>r << 2);
    }
    return;
  }
  const m = c - b1Qa, u0 = b1_start(c), u1 = b1_start(c + 1), nvu = (u1 - u0 + 3) >> 2;
  let dst = b1_mixed_at(kind, K, P, m);
  for (let s = 0; s < b1_sets(kind); s++) {
    const nv = (b1_set_hi(kind, s) - b1_set_lo(kind, s)) * nvu;
    for (let v0 = 0; v0 < nv; v0 += GEMV_V) {
      for (let l = 0; l < GEMV_V; l++) {
        const v = v0 + l;
        if (v < nv) {
          const row = b1_vec_row(kind, s, H, u0, nvu, v);
          pack_b1_vec(K, whh, row, min(4, u1 - (u0 + ((v % nvu) << 2))), dst, <usize>l << 4);
        } else {
          pack_b1_vec(K, whh, 0, 0, dst, <usize>l << 4);
        }
      }
      dst += blk;
    }
  }
}

// seq_forward's `repack` modes for batch 1: the packing at whhP is current; pack it (W_hh, copied
// by the caller, changed since); or, for weights the kernels read where they lie, which anything
// may have written, with a row-major copy of W_hh kept after the packing (b1_copy_at): check each
// chunk's rows against the copy and, where they differ, copy and pack them (B1_CHECK), or copy and
// pack every chunk (B1_COPY, a new packing). A check of rows as they lie is a stream of loads and
// ors; one against the packing itself would transpose every 4x4 block back (LSTM H = 256, one
// thread, measured 2026-11-27: 66-90 µs a check that way, 41-70 against the copy).
export const B1_CURRENT: i32 = 0;
export const B1_PACK: i32 = 1;
export const B1_CHECK: i32 = 2;
export const B1_COPY: i32 = 3;

/** Where B1_CHECK's copy of the weights (rows of K) lies after the packing at P (b1_plan set for kind, H). */
// @ts-ignore: decorator
@inline function b1_copy_at(kind: i32, K: i32, P: usize): usize {
  return P + align64(b1_packed(kind, K));
}

/** Bytes of W_hh packed for batch 1 followed by its B1_CHECK copy. */
export function packed_whh_copy_bytes(kind: i32, H: i32): usize {
  return packed_b1_copy_bytes(kind, H, H);
}

/** Bytes of a G x K weight matrix (W_hh: K = H; W_ih: K = I) packed for batch 1, then its B1_CHECK copy. */
export function packed_b1_copy_bytes(kind: i32, H: i32, K: i32): usize {
  if (H <= 0 || K <= 0) return 0;
  b1_plan(kind, H);
  return b1_copy_at(kind, K, 0) + <usize>gate_width(kind, H) * K * 4;
}

/** Whether `bytes` (a multiple of 4) at a and at b differ, bit for bit. */
function differ(a: usize, b: usize, bytes: usize): bool {
  let d = i32x4.splat(0);
  let o: usize = 0;
  for (; o + 64 <= bytes; o += 64) {
    d = v128.or(d, v128.or(v128.xor(v128.load(a + o), v128.load(b + o)), v128.xor(v128.load(a + o, 16), v128.load(b + o, 16))));
    d = v128.or(d, v128.or(v128.xor(v128.load(a + o, 32), v128.load(b + o, 32)), v128.xor(v128.load(a + o, 48), v128.load(b + o, 48))));
  }
  for (; o + 16 <= bytes; o += 16) d = v128.or(d, v128.xor(v128.load(a + o), v128.load(b + o)));
  let t: u32 = 0;
  for (; o < bytes; o += 4) t |= load<u32>(a + o) ^ load<u32>(b + o);
  return v128.any_true(d) || t != 0;
}

/**
 * Brings chunk c of the batch-1 packing at P up to date with the weights (W_hh, K = H, or W_ih,
 * K = I) in `mode` (B1_PACK, B1_CHECK or B1_COPY; b1_plan set): the chunk's units' rows in every
 * gate block, compared and copied as they lie.
 */
export function b1_refresh(kind: i32, H: i32, K: i32, whh: usize, P: usize, c: i32, mode: i32): void {
  if (mode != B1_PACK) {
    const copy = b1_copy_at(kind, K, P), K4 = <usize>K << 2, u0 = b1_start(c), n = <usize>(b1_start(c + 1) - u0) * K4;
    let same = mode == B1_CHECK;
    for (let g = 0; g < gate_blocks(kind) && same; g++) {
      const o = <usize>(g * H + u0) * K4;
      same = !differ(whh + o, copy + o, n);
    }
    if (same) return;
    for (let g = 0; g < gate_blocks(kind); g++) {
      const o = <usize>(g * H + u0) * K4;
      memory.copy(copy + o, whh + o, n);
    }
  }
  pack_b1_chunk(kind, H, K, whh, P, c);
}

/**
 * y[0..GEMV_P) = a packed block (K rows of GEMV_P floats at b) times h[0..K), each row's chain
 * starting from 0, or from init[row] (init != 0: the bias row, as the GEMM's tiles start theirs).
 */
// @ts-ignore: decorator
@inline function gemv_pblock(K: i32, b: usize, h: usize, y: usize, init: usize = 0): void {
  let a0 = splat(0), a1 = splat(0), a2 = splat(0), a3 = splat(0), a4 = splat(0), a5 = splat(0), a6 = splat(0);
  if (init != 0) {
    a0 = v128.load(init); a1 = v128.load(init, 16); a2 = v128.load(init, 32); a3 = v128.load(init, 48);
    a4 = v128.load(init, 64); a5 = v128.load(init, 80); a6 = v128.load(init, 96);
  }
  const hEnd = h + (<usize>K << 2);
  for (let hp = h; hp < hEnd; hp += 4) {
    const x = v128.load32_splat(hp);
    a0 = fmadd(x, v128.load(b), a0); a1 = fmadd(x, v128.load(b, 16), a1);
    a2 = fmadd(x, v128.load(b, 32), a2); a3 = fmadd(x, v128.load(b, 48), a3);
    a4 = fmadd(x, v128.load(b, 64), a4); a5 = fmadd(x, v128.load(b, 80), a5);
    a6 = fmadd(x, v128.load(b, 96), a6);
    b += <usize>GEMV_P << 2;
  }
  v128.store(y, a0); v128.store(y, a1, 16); v128.store(y, a2, 32); v128.store(y, a3, 48);
  v128.store(y, a4, 64); v128.store(y, a5, 80); v128.store(y, a6, 96);
}

/**
 * The batch-1 product of chunks [c0, c1) of the plan (b1_plan; P packed by pack_b1_chunk from
 * rows of K: W_hh by h, or W_ih by x) for the gate blocks [gLo, gHi) (whole gate sets): y[g·H + j]
 * for every unit j of those chunks, each row's chain from 0 or, with `bias` != 0, from bias[g·H + j]
 * (bias and y may be the same row). A mixed group's seven vectors go through this thread's edge tile.
 */
function gemv_b1(kind: i32, H: i32, K: i32, P: usize, c0: i32, c1: i32, gLo: i32, gHi: i32, h: usize, y: usize, bias: usize = 0): void {
  const blk = b1_blk(K), H4 = <usize>H << 2;
  for (let g = gLo; g < gHi; g++) {
    for (let c = c0; c < c1; c++) {
      if (c == b1Qa || c == b1Qa + 1) continue;
      const i = c < b1Qa ? c : c - 2, at = <usize>g * H4 + (<usize>b1_start(c) << 2);
      gemv_pblock(K, P + <usize>(g * b1Nf + i) * blk, h, y + at, bias != 0 ? bias + at : 0);
    }
  }
  const t = tile(), t0 = t + (<usize>GEMV_P << 2);
  for (let m = max(0, c0 - b1Qa); m < min(2, c1 - b1Qa); m++) {
    const c = b1Qa + m, u0 = b1_start(c), u1 = b1_start(c + 1), nvu = (u1 - u0 + 3) >> 2;
    let p = b1_mixed_at(kind, K, P, m);
    for (let s = 0; s < b1_sets(kind); s++) {
      const nv = (b1_set_hi(kind, s) - b1_set_lo(kind, s)) * nvu;
      const groups = (nv + GEMV_V - 1) / GEMV_V;
      if (b1_set_lo(kind, s) < gLo || b1_set_hi(kind, s) > gHi) { p += <usize>groups * blk; continue; }
      for (let v0 = 0; v0 < nv; v0 += GEMV_V) {
        if (bias != 0) {
          // The group's starting values: each vector's rows of the bias (zeros past the chunk).
          memory.fill(t0, 0, <usize>GEMV_P << 2);
          for (let l = 0; l < min(GEMV_V, nv - v0); l++) {
            const v = v0 + l, row = b1_vec_row(kind, s, H, u0, nvu, v);
            memory.copy(t0 + (<usize>l << 4), bias + (<usize>row << 2), <usize>min(4, u1 - (u0 + ((v % nvu) << 2))) << 2);
          }
        }
        gemv_pblock(K, p, h, t, bias != 0 ? t0 : 0);
        for (let l = 0; l < min(GEMV_V, nv - v0); l++) {
          const v = v0 + l, row = b1_vec_row(kind, s, H, u0, nvu, v);
          const n = min(4, u1 - (u0 + ((v % nvu) << 2)));
          const d = y + (<usize>row << 2), sv = t + (<usize>l << 4);
          if (n == 4) v128.store(d, v128.load(sv));
          else for (let r = 0; r < n; r++) store<f32>(d + (<usize>r << 2), load<f32>(sv + (<usize>r << 2)));
        }
        p += blk;
      }
    }
  }
}

/**
 * The input projection of one row at batch 1 by W_ih (G x K, K = I) packed at P by the plan of
 * b1_plan(kind, H) — the W_hh plan, rows of K instead of H: y[0..G) = bias + W_ih·x (bias 0: from
 * zero), each row one multiply-add chain from its bias value over k in order, as the GEMM's full
 * tiles compute a row of a batch's projection (the last G mod 8 rows as its edge tiles do:
 * b1_edge_rows). `mode` first brings the packing up to date with W (b1_refresh: B1_CURRENT,
 * B1_CHECK or B1_COPY: the copy after the packing, which b1_edge_rows reads, must be current).
 */
export function b1_project(kind: i32, H: i32, K: i32, W: usize, P: usize, mode: i32, x: usize, bias: usize, y: usize): void {
  b1_plan(kind, H);
  if (mode != B1_CURRENT) for (let c = 0; c < b1_chunks(); c++) b1_refresh(kind, H, K, W, P, c, mode);
  gemv_b1(kind, H, K, P, 0, b1_chunks(), 0, gate_blocks(kind), x, y, bias);
  b1_edge_rows(gate_width(kind, H), K, b1_copy_at(kind, K, P), x, bias, y);
}

/**
 * Rows [G & ~7, G) of a one-row projection summed as the GEMM's edge tiles sum the last columns
 * when G is no multiple of 8 (store_edge_tile): per block of k (gemm's equal blocks of at most
 * KC) a chain from zero,
 * added to the bias (the first block) or to the sum so far — where a full tile's chain runs
 * from the bias over all of k. From the weights' copy (row-major G x K, b1_copy_at): the
 * weights as the packing holds them.
 */
function b1_edge_rows(G: i32, K: i32, Wc: usize, x: usize, bias: usize, y: usize): void {
  const K4 = <usize>K << 2;
  const nkb = (K + KC - 1) / KC, kc = (K + nkb - 1) / nkb; // (gemm's equal-sized K blocks)
  for (let r = G & ~7; r < G; r++) {
    const w = Wc + <usize>r * K4;
    let v: f32 = 0;
    for (let k0 = 0; k0 < K; k0 += kc) {
      let acc = splat(0);
      for (let k = k0, k1 = min(K, k0 + kc); k < k1; k++) {
        acc = fmadd(v128.load32_splat(x + (<usize>k << 2)), v128.load32_splat(w + (<usize>k << 2)), acc);
      }
      const sum = f32x4.extract_lane(acc, 0);
      v = k0 > 0 ? v + sum : bias != 0 ? load<f32>(bias + (<usize>r << 2)) + sum : sum;
    }
    store<f32>(y + (<usize>r << 2), v);
  }
}

/**
 * Whether gemm computes C = A·Bᵀ row by row with gemv: one or two rows of A (batch-1 inference a
 * step at a time) times a row-major B (N×K: a weight matrix as it lies). Packing B for the tiles
 * would cost more than the products (an LSTM's 1024×256 W_ih: 48 µs for one row against 19 by
 * gemv, 76 against 36 for two; from three rows the packed tiles win again on large B).
 */
// @ts-ignore: decorator
@inline function rows_by_gemv(transA: bool, transB: bool, M: i32, K: i32): bool {
  return M <= 2 && K > 0 && transB && !transA;
}

/** Exported rows_by_gemv: the host's thread gate asks which products the kernels run by gemv. */
export function gemm_rows_by_gemv(transA: bool, transB: bool, M: i32, K: i32): bool {
  return rows_by_gemv(transA, transB, M, K);
}

/** Columns of C per block of gemm_by_gemv (and per chunk of the two-thread product). */
const GEMV_COLS: i32 = 128;

/**
 * Columns [n0, n1) of C = A·Bᵀ (+ C when accumulating, else + bias when given) for the rows of A,
 * each column a gemv row of B (see rows_by_gemv), in blocks of GEMV_COLS: a column's bits do not
 * depend on the blocks, so any split between threads gives the same results. The sums go through
 * the thread's packed-A block (gemv's partial sums, then the block's values) and are added to C
 * or the bias as the tiles add theirs (C + sum).
 */
function gemm_by_gemv(
  M: i32, K: i32, A: usize, lda: i32, B: usize, ldb: i32, C: usize, ldc: i32,
  accumulate: bool, bias: usize, n0: i32, n1: i32,
): void {
  const part = apack(), sums = apack() + gemv_part_bytes();
  const ldbB = <usize>ldb << 2;
  for (let j = n0; j < n1; j += GEMV_COLS) {
    const n = min(GEMV_COLS, n1 - j), jB = <usize>j << 2;
    for (let m = 0; m < M; m++) {
      const c = C + <usize>m * (<usize>ldc << 2) + jB;
      const a = A + <usize>m * (<usize>lda << 2);
      const base = accumulate ? c : bias != 0 ? bias + jB : 0;
      if (base == 0) { gemv(n, K, B + <usize>j * ldbB, ldb, a, c, part); continue; }
      gemv(n, K, B + <usize>j * ldbB, ldb, a, sums, part);
      sum_row(c, base, sums, n);
    }
  }
}

/**
 * dst[0..n) = a[0..n) + b[0..n), or · with `mul` (dst may be a), four at a time with a scalar
 * tail; `mul` is a constant at every call, so each inlined copy has one operation.
 */
// @ts-ignore: decorator
@inline function zip_row(dst: usize, a: usize, b: usize, n: i32, mul: bool): void {
  let j = 0;
  for (; j + 4 <= n; j += 4) {
    const u = <usize>j << 2, x = v128.load(a + u), y = v128.load(b + u);
    v128.store(dst + u, mul ? f32x4.mul(x, y) : f32x4.add(x, y));
  }
  for (; j < n; j++) {
    const u = <usize>j << 2, x = load<f32>(a + u), y = load<f32>(b + u);
    store<f32>(dst + u, mul ? x * y : x + y);
  }
}

function sum_row(dst: usize, a: usize, b: usize, n: i32): void { zip_row(dst, a, b, n, false); }

function mul_row(dst: usize, a: usize, b: usize, n: i32): void { zip_row(dst, a, b, n, true); }

/**
 * Σ g_i² in float64 over n float32 values, in globalNorm's order (optim/clip.ts, sumSquares):
 * blocks of 1024 values, four partial sums per block (value i into sum i mod 4), the block's
 * (s0 + s1) + (s2 + s3) added to the running total; the values past a block's last multiple of 4
 * go to s0. Each square is exact in float64 and each sum rounded once: the JavaScript's bits, two
 * chains per f64x2.
 */
export function sum_squares(g: usize, n: i32): f64 {
  let total: f64 = 0;
  for (let start = 0; start < n; start += 1024) {
    const end = min(n, start + 1024);
    let s01 = f64x2.splat(0), s23 = f64x2.splat(0);
    let i = start;
    for (; i + 3 < end; i += 4) {
      const v = v128.load(g + (<usize>i << 2)), a = lo2(v), b = hi2(v);
      s01 = f64x2.add(s01, f64x2.mul(a, a));
      s23 = f64x2.add(s23, f64x2.mul(b, b));
    }
    for (; i < end; i++) {
      const x = <f64>load<f32>(g + (<usize>i << 2));
      s01 = f64x2.replace_lane(s01, 0, f64x2.extract_lane(s01, 0) + x * x);
    }
    total += sum_chains(s01, s23);
  }
  return total;
}

/** g_i = fround(g_i · s) for n float32 values, s a double (clipByGlobalNorm's scaling, its bits). */
export function scale_f64(g: usize, n: i32, s: f64): void {
  scale_into(g, g, n, s);
}

/**
 * dst row r = src row r ⊙ m for `rows` rows of n floats (one mask row for all of them): the
 * states a recurrent-dropout mask applies to (h_prev ⊙ mask), a step's rows or a whole history.
 */
export function mul_rows(src: usize, m: usize, dst: usize, rows: i32, n: i32): void {
  const n4 = <usize>n << 2;
  for (let r = 0; r < rows; r++) mul_row(dst + <usize>r * n4, src + <usize>r * n4, m, n);
}

/**
 * acc[k] = Σ_r M[r, k] over an (rows, cols) row-major matrix: bias gradients. Each column is
 * summed from zero in row order (the order of the TypeScript reference, so results agree bit
 * for bit). The rows are read in memory order, four at a time added into acc (four columns per
 * f32x4; acc read and written once per four rows, where one row at a time read and wrote it for
 * each: 2048 x 768 took 0.26 ms hot, 0.38 after a GRU training step): walking down a column
 * instead would hit one cache set per 4 KiB of row stride.
 */
export function col_sum(M: usize, rows: i32, cols: i32, acc: usize): void {
  const rowBytes = <usize>cols << 2, vBytes = <usize>(cols & ~3) << 2;
  memory.fill(acc, 0, rowBytes);
  let p = M, r = 0;
  for (; r + 4 <= rows; r += 4) {
    const p1 = p + rowBytes, p2 = p1 + rowBytes, p3 = p2 + rowBytes;
    let o: usize = 0;
    for (; o < vBytes; o += 16) {
      const s = f32x4.add(f32x4.add(v128.load(acc + o), v128.load(p + o)), v128.load(p1 + o));
      v128.store(acc + o, f32x4.add(f32x4.add(s, v128.load(p2 + o)), v128.load(p3 + o)));
    }
    for (; o < rowBytes; o += 4) {
      store<f32>(acc + o, (((load<f32>(acc + o) + load<f32>(p + o)) + load<f32>(p1 + o)) + load<f32>(p2 + o)) + load<f32>(p3 + o));
    }
    p += rowBytes << 2;
  }
  for (; r < rows; r++) {
    let o: usize = 0;
    for (; o < vBytes; o += 16) v128.store(acc + o, f32x4.add(v128.load(acc + o), v128.load(p + o)));
    for (; o < rowBytes; o += 4) store<f32>(acc + o, load<f32>(acc + o) + load<f32>(p + o));
    p += rowBytes;
  }
}

/**
 * The gate gradients summed per table row, in row order (layer-ops.ts' scatterAddRows): for r = 0
 * .. n-1, dst row u += src row r, where ids[r] = u — or, for u's first occurrence, which the host
 * marks ~u (negative), dst row u = 0 + src row r: what adding it to a zeroed row gives, without
 * zeroing the table first (W3: 7,200 rows of 2 KB) and reading the zeros back. Rows that no id
 * names are the host's to zero.
 */
export function scatter_add_rows(src: usize, ids: usize, n: i32, w: i32, dst: usize): void {
  const rowB = <usize>w << 2, vB = <usize>(w & ~3) << 2, zero = f32x4.splat(0);
  for (let r = 0; r < n; r++) {
    const u = load<i32>(ids + (<usize>r << 2)), s = src + <usize>r * rowB;
    if (u >= 0) { add_row(dst + <usize>u * rowB, s, w); continue; }
    const d = dst + <usize>(~u) * rowB;
    let o: usize = 0;
    for (; o < vB; o += 16) v128.store(d + o, f32x4.add(zero, v128.load(s + o)));
    for (; o < rowB; o += 4) store<f32>(d + o, <f32>0 + load<f32>(s + o));
  }
}

/**
 * dst row r = src row ids[r] for r < n (rows of w floats; ids checked by the host): an embedding's
 * table rows gathered from its matrix where both lie in this memory, a row a copy.
 */
export function gather_rows(src: usize, ids: usize, n: i32, w: i32, dst: usize): void {
  const rowB = <usize>w << 2;
  for (let r = 0; r < n; r++) memory.copy(dst + <usize>r * rowB, src + <usize>load<i32>(ids + (<usize>r << 2)) * rowB, rowB);
}

/**
 * Adam's update of elements [i0, i1) of the flat buffers p (parameters), g (gradients), m, v (and
 * vh with amsgrad; 0 without), the new m and v written to mo and vo (m and v themselves, or the
 * other pair of the host's kept slots, so that a call redone on one thread reads what the first
 * try read) and the new parameters to po (p itself, or a scratch buffer when p is the caller's
 * array, for the same reason): optim/optimizers.ts' Adam.step loop, in float64 with its operations in its order
 * (f32 loads promoted, every sum and product rounded to f64 as JavaScript does, results rounded
 * to f32 on the store), so the two agree bit for bit. Two elements per
 * f64x2; the loop is bound by the divider (one division and one square root per element).
 * cf: eight f64 — beta1, 1 - beta1, beta2, 1 - beta2, alpha, epsilon, l2, shrink.
 */
function adam_range(p: usize, g: usize, m: usize, v: usize, vh: usize, i0: i32, i1: i32, cf: usize, mo: usize, vo: usize, po: usize): void {
  const b1 = load<f64>(cf), c1 = load<f64>(cf, 8), b2 = load<f64>(cf, 16), c2 = load<f64>(cf, 24);
  const alpha = load<f64>(cf, 32), e = load<f64>(cf, 40), l2 = load<f64>(cf, 48), shrink = load<f64>(cf, 56);
  const B1 = f64x2.splat(b1), C1 = f64x2.splat(c1), B2 = f64x2.splat(b2), C2 = f64x2.splat(c2);
  const AL = f64x2.splat(alpha), E = f64x2.splat(e), L2 = f64x2.splat(l2), SH = f64x2.splat(shrink);
  const end = <usize>i1 << 2, endV = <usize>(i0 + ((i1 - i0) & ~1)) << 2;
  let o = <usize>i0 << 2;
  for (; o < endV; o += 8) {
    const pp = f64x2.promote_low_f32x4(v128.load64_zero(p + o));
    const gg = f64x2.add(f64x2.promote_low_f32x4(v128.load64_zero(g + o)), f64x2.mul(L2, pp));
    const mi = f64x2.add(f64x2.mul(B1, f64x2.promote_low_f32x4(v128.load64_zero(m + o))), f64x2.mul(C1, gg));
    let vi = f64x2.add(f64x2.mul(B2, f64x2.promote_low_f32x4(v128.load64_zero(v + o))), f64x2.mul(f64x2.mul(C2, gg), gg));
    v128.store64_lane(mo + o, f32x4.demote_f64x2_zero(mi), 0);
    v128.store64_lane(vo + o, f32x4.demote_f64x2_zero(vi), 0);
    if (vh != 0) {
      vi = f64x2.max(f64x2.promote_low_f32x4(v128.load64_zero(vh + o)), vi);
      v128.store64_lane(vh + o, f32x4.demote_f64x2_zero(vi), 0);
    }
    const step = f64x2.div(f64x2.mul(AL, mi), f64x2.add(f64x2.sqrt(vi), E));
    v128.store64_lane(po + o, f32x4.demote_f64x2_zero(f64x2.sub(f64x2.mul(pp, SH), step)), 0);
  }
  for (; o < end; o += 4) {
    const pp = <f64>load<f32>(p + o);
    const gg = <f64>load<f32>(g + o) + l2 * pp;
    const mi = b1 * <f64>load<f32>(m + o) + c1 * gg;
    let vi = b2 * <f64>load<f32>(v + o) + c2 * gg * gg;
    store<f32>(mo + o, <f32>mi);
    store<f32>(vo + o, <f32>vi);
    if (vh != 0) {
      vi = max<f64>(<f64>load<f32>(vh + o), vi);
      store<f32>(vh + o, <f32>vi);
    }
    store<f32>(po + o, <f32>(pp * shrink - (alpha * mi) / (sqrt<f64>(vi) + e)));
  }
}

/** Adam's update of all n elements (see adam_range). */
export function adam_update(p: usize, g: usize, m: usize, v: usize, vh: usize, n: i32, cf: usize, mo: usize, vo: usize, po: usize): void {
  adam_range(p, g, m, v, vh, 0, n, cf, mo, vo, po);
}

// ------------------------------------------------------------------------------------------
// Whole-sequence drivers. Cell kinds (same codes as backend.ts):
// ------------------------------------------------------------------------------------------

const LSTM: i32 = 0;
const GRU: i32 = 1;
const RNN_TANH: i32 = 2;
const RNN_RELU: i32 = 3;

function gate_width(kind: i32, H: i32): i32 {
  return kind == LSTM ? 4 * H : kind == GRU ? 3 * H : H;
}

// @ts-ignore: decorator
@inline function align64(n: usize): usize { return (n + 63) & ~(<usize>63); }

/**
 * Scratch bytes seq_forward needs: the packed W_hhᵀ (one K=H × N=G packing, or for GRU without
 * resetAfter separate r|z and n packings, since the candidate's product runs after the reset),
 * the per-step recurrent product gh (B×G) and the step's h_prev ⊙ mask (B×H, recurrent dropout);
 * with inputs of I > 0 features projected step by step (seq_forward's xp), W_ihᵀ packed and the
 * step's projected rows (B×G).
 */
export function seq_forward_scratch_bytes(kind: i32, resetAfter: bool, B: i32, H: i32, I: i32): usize {
  const G = gate_width(kind, H);
  const hm = align64(<usize>B * H * 4);
  if (B == 1) return align64(<usize>G * 4) + hm; // gh: W_hh packed by the caller, the passes' vectors in the edge tile
  const packed = kind == GRU && !resetAfter
    ? align64(packed_bytes(H, 2 * H)) + align64(packed_bytes(H, H))
    : align64(packed_bytes(H, G));
  return packed + align64(<usize>B * G * 4) + hm + (I > 0 ? align64(packed_bytes(I, G)) + align64(<usize>B * G * 4) : 0);
}

/**
 * Whether a sequence loop over B rows, T steps, projects dense inputs of I features step by step
 * (seq_forward's xp): from 8 rows (the two-thread loop's row groups, row_group) in multiples of 4,
 * so that every row of a step's product lies in a full tile, as in one product over all T·B rows
 * — unless that product would be split along K (k_split), which the steps' products are not.
 * Then the bits are the same either way.
 */
export function seq_projects_steps(B: i32, T: i32, I: i32): bool {
  return B >= 8 && (B & 3) == 0 && !k_split(T * B, I);
}

/** Where seq_forward's scratch holds W_ihᵀ packed for its per-step projection (see seq_forward_scratch_bytes). */
function xp_panels_at(kind: i32, resetAfter: bool, B: i32, H: i32, scratch: usize): usize {
  return scratch + seq_forward_scratch_bytes(kind, resetAfter, B, H, 0);
}

/**
 * Scratch bytes seq_backward needs: W_hh packed as a K=G × N=H operand, and five B×H rows (dh,
 * dc, dh_prev, d(r⊙h), h_prev ⊙ mask).
 */
export function seq_backward_scratch_bytes(kind: i32, B: i32, H: i32): usize {
  const G = gate_width(kind, H);
  return align64(packed_bytes(G, H)) + 5 * align64(<usize>B * H * 4);
}

/**
 * Cache slots of the state before and after step s (at time t) of a forward or backward loop:
 * slot t and t + 1 (reverse: t + 1 and t), or with `slim` two slots used in turn, s & 1 and
 * (s + 1) & 1 (h0 in slot 0, the final state in slot T & 1).
 */
// @ts-ignore: decorator
@inline function slot_prev(slim: bool, reverse: bool, s: i32, t: i32): i32 { return slim ? s & 1 : reverse ? t + 1 : t; }
// @ts-ignore: decorator
@inline function slot_cur(slim: bool, reverse: bool, s: i32, t: i32): i32 { return slim ? (s + 1) & 1 : reverse ? t : t + 1; }

// @ts-ignore: decorator
@inline function row_valid(lengths: usize, b: i32, t: i32): bool {
  return lengths == 0 || t < load<i32>(lengths + (<usize>b << 2));
}

// ---- forward gate passes, one batch row, hidden units [j, j+4) (or one unit when !full) ----
// A row's pass runs in two parts: first its gates block by block (gate_block: one activation per
// vector, a loop small enough that V8 keeps the approximation's constants in registers), written
// to the gates row, then the state from them (lstm_state_units, ...: one tanh per vector). Each
// value is the same operations on the same operands as in one pass, so the same bits. In one pass
// (all four activations of a vector and the state after them in one loop body) V8 rebuilt the
// constants in the loop (three instructions each) and spilled the live vectors: one thread, an
// LSTM row of 256 units, 88-113 cycles per 4 units against 63-65 in two parts (ad hoc, 2026-11-28).

/** gate_block's activation as its type argument: Sigmoid, HardSigmoid or Tanh. */
type Tanh = u32;

/**
 * Gate block values gates[j] = act(x[j] + gh[j]) for units [j0, j1) of one block (4 at a time up
 * to jv): σ, the hard sigmoid or tanh (the type argument). Pointers are at unit 0 of the block.
 * A function of its own (not inlined into the row's pass), where V8 keeps its constants in
 * registers.
 */
function gate_block<Act>(j0: i32, jv: i32, j1: i32, x: usize, gh: usize, gates: usize): void {
  const tanh = sizeof<Act>() == sizeof<Tanh>(), hard = is_hard<Act>();
  let u = <usize>j0 << 2;
  const uv = <usize>jv << 2, u1 = <usize>j1 << 2;
  for (; u < uv; u += 16) {
    const v = f32x4.add(v128.load(x + u), v128.load(gh + u));
    v128.store(gates + u, tanh ? tanh4(v) : gate4(v, hard));
  }
  for (; u < u1; u += 4) {
    const v = f32x4.add(v128.load32_splat(x + u), v128.load32_splat(gh + u));
    v128.store32_lane(gates + u, tanh ? tanh4(v) : gate4(v, hard), 0);
  }
}

/** gate_block of the gates' activation (`hard`: the hard sigmoid, else σ). */
// @ts-ignore: decorator
@inline function sigmoid_block(hard: bool, j0: i32, jv: i32, j1: i32, x: usize, gh: usize, gates: usize): void {
  if (hard) gate_block<HardSigmoid>(j0, jv, j1, x, gh, gates);
  else gate_block<Sigmoid>(j0, jv, j1, x, gh, gates);
}

/** LSTM from its gates i, f, g, o (gate_block's): c' = f⊙c + i⊙g; h' = o⊙tanh(c'). Pointers are at unit j. */
// @ts-ignore: decorator
@inline function lstm_state_units(gates: usize, H4: usize, cp: usize, cn: usize, hn: usize, out: usize, full: bool): void {
  const i = ld(gates, full), f = ld(gates + H4, full), g = ld(gates + 2 * H4, full), o = ld(gates + 3 * H4, full);
  const c = ftz(fmadd(f, ld(cp, full), f32x4.mul(i, g)));
  const h = ftz(f32x4.mul(o, tanh4(c)));
  st(cn, c, full); st(hn, h, full); st(out, h, full);
}

/**
 * GRU, reset after the product, from its gates r, z: aux = gh_n + b_hn; n = tanh(x_n + r⊙aux);
 * h' = n + z⊙(h - n).
 */
// @ts-ignore: decorator
@inline function gru_ra_state_units(
  x: usize, gh: usize, H4: usize, bhn: usize, hp: usize, gates: usize, aux: usize, hn: usize, out: usize, full: bool,
): void {
  const r = ld(gates, full), z = ld(gates + H4, full);
  const a = f32x4.add(ld(gh + 2 * H4, full), ld(bhn, full));
  const n = tanh4(fmadd(r, a, ld(x + 2 * H4, full)));
  const h = ftz(fmadd(z, f32x4.sub(ld(hp, full), n), n));
  st(gates + 2 * H4, n, full); st(aux, a, full); st(hn, h, full); st(out, h, full);
}

/** GRU, reset before the product, second half: n = tanh(x_n + (r⊙h)·W_hnᵀ + b_hn). */
// @ts-ignore: decorator
@inline function gru_rb_fwd_n_units(
  x: usize, gh: usize, H4: usize, bhn: usize, hp: usize, gates: usize, hn: usize, out: usize, full: bool,
): void {
  const z = ld(gates + H4, full);
  const n = tanh4(f32x4.add(ld(x + 2 * H4, full), f32x4.add(ld(gh + 2 * H4, full), ld(bhn, full))));
  const h = ftz(fmadd(z, f32x4.sub(ld(hp, full), n), n));
  st(gates + 2 * H4, n, full); st(hn, h, full); st(out, h, full);
}

/** Vanilla RNN: h' = tanh(x + gh) or relu(x + gh). */
// @ts-ignore: decorator
@inline function rnn_fwd_units(x: usize, gh: usize, hn: usize, out: usize, relu: bool, full: bool): void {
  const v = f32x4.add(ld(x, full), ld(gh, full));
  const h = ftz(relu ? relu4(v) : tanh4(v));
  st(hn, h, full); st(out, h, full);
}

/**
 * The fused forward gate pass of one batch row for hidden units [j0, j1): 4 at a time up to jv,
 * then one at a time; the gates first, block by block, then the state (see gate_block). The one-
 * and two-thread drivers both run this very code (so their results agree bit for bit). GRU
 * without resetAfter: the r|z part; fwd_row_n is its candidate part.
 * hq: the state the recurrent products saw (h_prev, or h_prev ⊙ mask under recurrent dropout),
 * whose reset r ⊙ hq is the candidate product's operand (GRU without resetAfter). xn: a row read
 * ahead, a cache line per 4 units (the next row's xg row; see fwd_gates).
 */
// @ts-ignore: decorator
@inline function fwd_row(
  kind: i32, resetAfter: bool, j0: i32, jv: i32, j1: i32, H4: usize,
  x: usize, g: usize, bhn: usize, hp: usize, hq: usize, cp: usize, cn: usize, gt: usize, a: usize, hn: usize, o: usize,
  xn: usize, hard: bool,
): void {
  let j = j0;
  let seen: u32 = 0;
  // The gates, block by block: σ for LSTM's i, f, o and GRU's r, z; tanh for LSTM's g. (A call
  // each: a function called from one place would be inlined by the optimizer.)
  if (kind == LSTM || kind == GRU) {
    sigmoid_block(hard, j0, jv, j1, x, g, gt);
    sigmoid_block(hard, j0, jv, j1, x + H4, g + H4, gt + H4);
  }
  if (kind == LSTM) {
    gate_block<Tanh>(j0, jv, j1, x + 2 * H4, g + 2 * H4, gt + 2 * H4);
    sigmoid_block(hard, j0, jv, j1, x + 3 * H4, g + 3 * H4, gt + 3 * H4);
  }
  if (kind == LSTM) {
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      seen |= load<u32>(xn + (u << 2));
      lstm_state_units(gt + u, H4, cp + u, cn + u, hn + u, o + u, true);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      lstm_state_units(gt + u, H4, cp + u, cn + u, hn + u, o + u, false);
    }
  } else if (kind == GRU && resetAfter) {
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      seen |= load<u32>(xn + 3 * u);
      gru_ra_state_units(x + u, g + u, H4, bhn + u, hp + u, gt + u, a + u, hn + u, o + u, true);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      gru_ra_state_units(x + u, g + u, H4, bhn + u, hp + u, gt + u, a + u, hn + u, o + u, false);
    }
  } else if (kind == GRU) {
    // The reset state r⊙h_prev, the n product's operand.
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      seen |= load<u32>(xn + 3 * u);
      stz(a + u, f32x4.mul(ld(gt + u, true), ld(hq + u, true)), true);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      stz(a + u, f32x4.mul(ld(gt + u, false), ld(hq + u, false)), false);
    }
  } else {
    const relu = kind == RNN_RELU;
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      seen |= load<u32>(xn + u);
      rnn_fwd_units(x + u, g + u, hn + u, o + u, relu, true);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      rnn_fwd_units(x + u, g + u, hn + u, o + u, relu, false);
    }
  }
  touchSink |= seen;
}

/** The candidate part of the GRU without resetAfter, for units [j0, j1) of one row (see fwd_row). */
// @ts-ignore: decorator
@inline function fwd_row_n(
  j0: i32, jv: i32, j1: i32, H4: usize, x: usize, g: usize, bhn: usize, hp: usize, gt: usize, hn: usize, o: usize,
): void {
  let j = j0;
  for (; j < jv; j += 4) {
    const u = <usize>j << 2;
    gru_rb_fwd_n_units(x + u, g + u, H4, bhn + u, hp + u, gt + u, hn + u, o + u, true);
  }
  for (; j < j1; j++) {
    const u = <usize>j << 2;
    gru_rb_fwd_n_units(x + u, g + u, H4, bhn + u, hp + u, gt + u, hn + u, o + u, false);
  }
}

/**
 * Forward over the whole sequence for one direction of one layer (see SeqForwardArgs).
 * The caller has placed h0 (and c0) in cache slot `reverse ? T : 0`. `out` points at the
 * caller's outOffset; row (t,b) is at out + 4*(t*outStep + b*ldOut) (time-major rows: outStep =
 * B*ldOut; batch-first: ldOut = T*outStep, written where they belong). bhn always points at H floats
 * (zeros when the layer has no bias). lengths = 0 means every sequence has length T.
 * xids = 0: xg row (t,b) at xg + 4*G*(t*B + b); else the row is the one xids names, xg + 4*G*id
 * with id = xids[t*B + b] (an input projection computed once per table row, see layer-ops.ts).
 * Padded rows: h, c carried; out row zero; gates (and aux) rows zero.
 * slim (inference, nothing kept for backward): ch/cc hold two slots used in turn (h0 in slot 0,
 * the final state in slot T & 1) and cgates/caux one step's rows, so the loop's writes stay in
 * cache instead of streaming T steps of gates out to memory.
 * whhP: batch 1 only, where W_hh packed in blocks of rows and mixed groups lies (b1_plan,
 * packed_whh_bytes; the caller keeps it across calls), brought up to date first by `repack`
 * (B1_CURRENT, B1_PACK, B1_CHECK or B1_COPY, see b1_refresh).
 * hmask (0: none): recurrent dropout's mask, B×H, applied to h_prev where the recurrent products
 * read it (h_prev ⊙ mask; GRU without resetAfter: r ⊙ h_prev ⊙ mask, kept in aux); the state
 * updates read h_prev itself.
 */
export function seq_forward(
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool,
  xg: usize, xids: usize, whh: usize, bhn: usize, out: usize, ldOut: i32, outStep: i32,
  ch: usize, cc: usize, cgates: usize, caux: usize, scratch: usize, slim: bool, whhP: usize, repack: i32,
  hmask: usize, xp: usize, I: i32, wih: usize, bias: usize,
): void {
  kind = cell_kind(kind);
  const G = gate_width(kind, H), H4 = <usize>H << 2;
  if (B == 1) {
    b1_plan(kind, H);
    if (repack != B1_CURRENT) for (let c = 0; c < b1_chunks(); c++) b1_refresh(kind, H, H, whh, whhP, c, repack);
  }
  const ldOut4 = <usize>ldOut << 2, outStep4 = <usize>outStep << 2;
  const split = kind == GRU && !resetAfter;
  // Pack W_hhᵀ (op(B)[k,g] = W_hh[g,k], K = H) once for the whole sequence; batch 1 reads W_hh
  // packed in blocks of rows (whhP, kept by the caller).
  const P = scratch, gemv1row = B == 1;
  let Pn: usize = 0, gh: usize = scratch;
  if (gemv1row) {
    // (scratch: gh, then gemv's partial sums)
  } else if (split) {
    pack_b_nr8(true, H, 2 * H, whh, H, P);
    Pn = P + align64(packed_bytes(H, 2 * H));
    pack_b_nr8(true, H, H, whh + 2 * <usize>H * H4, H, Pn);
    gh = Pn + align64(packed_bytes(H, H));
  } else {
    pack_b_nr8(true, H, G, whh, H, P);
    gh = P + align64(packed_bytes(H, G));
  }
  const hm = gh + align64(<usize>B * G * 4);
  const Pih = xp != 0 ? xp_panels_at(kind, resetAfter, B, H, scratch) : 0;
  if (xp != 0) pack_b_nr8(true, I, G, wih, I, Pih);
  for (let s = 0; s < T; s++) {
    fwd_step(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4,
      ch, cc, cgates, caux, P, Pn, gh, whhP, 0, B, hmask, hm, xp, I, Pih, bias);
  }
}

/**
 * Step s of seq_forward for batch rows [r0, r1) (r0 a multiple of 4, so the product's row tiles
 * are those of one product over every row): gh = h_prev · W_hhᵀ with W_hhᵀ packed at P (GRU
 * without resetAfter: the r|z columns, the n columns at Pn after the reset), then the fused gate
 * pass per row. Batch 1 (B == 1) multiplies by W_hh packed for it at whhP (gemv_b1, on the plan
 * seq_forward set). The two-thread loop runs groups of rows through it, so both builds compute
 * every row the same way. hmask (0: none): the recurrent-dropout mask (see seq_forward), h_prev ⊙
 * mask going into hm (B×H, rows [r0, r1)) for the products. xp (0: none): the step's xg rows are
 * projected here from the input rows x (T·B rows of I, time-major) by W_ihᵀ packed at Pih, from
 * the bias row (0: none), into the rows after Pih's packing (see seq_forward).
 */
function fwd_step(
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool, slim: bool, s: i32,
  xg: usize, xids: usize, bhn: usize, out: usize, ldOut4: usize, outStep4: usize,
  ch: usize, cc: usize, cgates: usize, caux: usize, P: usize, Pn: usize, gh: usize, whhP: usize, r0: i32, r1: i32,
  hmask: usize, hm: usize, xp: usize, I: i32, Pih: usize, bias: usize,
): void {
  const G = gate_width(kind, H);
  const H4 = <usize>H << 2, BH4 = <usize>B * H4;
  const split = kind == GRU && !resetAfter;
  const pstride = <usize>H * 32, m = r1 - r0, R0H = <usize>r0 * H4, R0G = <usize>r0 * <usize>G << 2;
  const t = reverse ? T - 1 - s : s;
  const hPrev = ch + <usize>slot_prev(slim, reverse, s, t) * BH4, auxT = caux + (slim ? 0 : <usize>t * BH4);
  if (xids != 0 && s + 1 < T) touch_next_rows(xg, xids, B, G, reverse ? t - 1 : t + 1, r0, r1);
  if (xp != 0) {
    // This step's rows of xg = bias + x_t·W_ihᵀ, into B×G rows that stay near for the gate pass:
    // with r0 and r1 multiples of 4 (or B) every row lies in a full tile, as in the product over
    // all T·B rows before the loop, so the same bits. The gate pass reads row (t, b) at
    // xg + (t·B + b)·G, so xg is set back by t·B rows (wrapping, as usize arithmetic does).
    const I4 = <usize>I << 2, G4 = <usize>G << 2, xs = Pih + align64(packed_bytes(I, G));
    gemm_packed(m, G, I, xp + (<usize>t * B + r0) * I4, I4, 4, Pih, <usize>I * 32, xs + R0G, G, false, bias);
    xg = xs - <usize>t * B * G4;
  }
  // The products' operand: h_prev, or h_prev ⊙ mask.
  let hIn = hPrev;
  if (hmask != 0) {
    mul_row(hm + R0H, hPrev + R0H, hmask + R0H, m * H);
    hIn = hm;
  }

  // One recurrent product per step: gh = h_prev · W_hhᵀ (rows × G); GRU without resetAfter only
  // the r|z columns here, the n columns after the reset below.
  if (B == 1) gemv_b1(kind, H, H, whhP, 0, b1_chunks(), 0, split ? 2 : gate_blocks(kind), hIn, gh);
  else gemm_packed(m, split ? 2 * H : G, H, hIn + R0H, H4, 4, P, pstride, gh + R0G, G, false);
  fwd_gates(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4, ch, cc, cgates, caux, gh, r0, r1, 0, H, false, hIn);
  if (split) {
    // n columns: gh_n = (r⊙h_prev)·W_hnᵀ, the operand being this step's aux rows (zero for
    // padded rows), then the candidate and the new state.
    if (B == 1) gemv_b1(kind, H, H, whhP, 0, b1_chunks(), 2, 3, auxT, gh);
    else gemm_packed(m, H, H, auxT + R0H, H4, 4, Pn, pstride, gh + R0G + 2 * H4, G, false);
    fwd_gates(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4, ch, cc, cgates, caux, gh, r0, r1, 0, H, true, hIn);
  }
}

/**
 * Requests the cache lines of step tn's input rows (rows [r0, r1), taken from the table xg through
 * xids) ahead of their gate pass: with an embedding's projected table (W3: 7,000 rows of 2 KB) the
 * rows of a step lie anywhere in a table larger than the caches.
 */
function touch_next_rows(xg: usize, xids: usize, B: i32, G: i32, tn: i32, r0: i32, r1: i32): void {
  const G4 = <usize>G << 2;
  let acc: u32 = 0;
  for (let b = r0; b < r1; b++) {
    const row = xg + <usize>load<i32>(xids + ((<usize>tn * B + b) << 2)) * G4;
    for (let o: usize = 0; o < G4; o += 64) acc |= load<u32>(row + o);
  }
  touchSink |= acc;
}

/** Number of gate blocks of width H: LSTM 4, GRU 3, RNN 1. */
// @ts-ignore: decorator
@inline function gate_blocks(kind: i32): i32 {
  return kind == LSTM ? 4 : kind == GRU ? 3 : 1;
}

/**
 * The fused gate pass of forward step s for batch rows [r0, r1) and hidden units [j0, j1), the
 * step's recurrent products being in gh (row b at gh + b·G): new state, output, and (unless
 * slim) the gates kept for backward. Padded rows carry the state and write zero outputs and
 * gates. nOnly: GRU without resetAfter's candidate pass, after its separate n product. hIn: the
 * B×H state the products read (h_prev, or h_prev ⊙ mask; see fwd_row's hq).
 */
function fwd_gates_rows<Gate>(
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool, slim: bool, s: i32,
  xg: usize, xids: usize, bhn: usize, out: usize, ldOut4: usize, outStep4: usize,
  ch: usize, cc: usize, cgates: usize, caux: usize, gh: usize, r0: i32, r1: i32, j0: i32, j1: i32, nOnly: bool,
  hIn: usize,
): void {
  const hard = is_hard<Gate>();
  const G = gate_width(kind, H), nb = gate_blocks(kind);
  const H4 = <usize>H << 2, G4 = <usize>G << 2, BH4 = <usize>B * H4;
  const t = reverse ? T - 1 - s : s;
  // slim: two state slots used in turn, one step's gates/aux (nothing kept for backward).
  const cur = slot_cur(slim, reverse, s, t), prev = slot_prev(slim, reverse, s, t);
  const hPrev = ch + <usize>prev * BH4, hCur = ch + <usize>cur * BH4;
  const cPrev = cc + <usize>prev * BH4, cCur = cc + <usize>cur * BH4;
  const xgT = xg + <usize>t * B * G4, gatesT = cgates + (slim ? 0 : <usize>t * B * G4);
  const auxT = caux + (slim ? 0 : <usize>t * BH4);
  const outT = out + <usize>t * outStep4;
  const w = j1 - j0, jv = j0 + (w & ~3); // units [j0, jv) 4 at a time, [jv, j1) one at a time
  const u0 = <usize>j0 << 2, w4 = <usize>w << 2;
  for (let b = r0; b < r1; b++) {
    const bo = <usize>b * H4;
    // xg row (t, b), or with xids the projected table row it names.
    const x = xids ? xg + <usize>load<i32>(xids + ((<usize>t * B + b) << 2)) * G4 : xgT + <usize>b * G4;
    // The next row's xg row, read a line per 4 units while this row runs, so that its lines are
    // near when its pass starts: xg (T·B rows, written by the projection before the loop) lies in
    // the far caches, and its loads waited in the middle of the gate arithmetic. One thread, LSTM
    // I=64 H=256 B=32 T=64 forward (ad hoc, 2026-11-28): the gate passes ~4.5 of ~30 ms; with
    // every step reading step 0's rows (kept near) 0.9 ms less; with this read-ahead 1.7-2.5%
    // faster (alternating in one process). This row's own at the last.
    const xn = b + 1 >= r1 ? x : xids ? xg + <usize>load<i32>(xids + ((<usize>t * B + b + 1) << 2)) * G4 : x + G4;
    const g = gh + <usize>b * G4, gt = gatesT + <usize>b * G4;
    const hp = hPrev + bo, hn = hCur + bo, o = outT + <usize>b * ldOut4;
    if (!row_valid(lengths, b, t)) {
      if (nOnly) continue;
      // Padded step: carry the state, write a zero output (and zero gates/aux).
      memory.copy(hn + u0, hp + u0, w4);
      if (kind == LSTM) memory.copy(cCur + bo + u0, cPrev + bo + u0, w4);
      memory.fill(o + u0, 0, w4);
      if (kind == LSTM || kind == GRU) {
        for (let k = 0; k < nb; k++) memory.fill(gt + ((<usize>k * H + j0) << 2), 0, w4);
      }
      if (kind == GRU) memory.fill(auxT + bo + u0, 0, w4);
      continue;
    }
    if (nOnly) fwd_row_n(j0, jv, j1, H4, x, g, bhn, hp, gt, hn, o);
    else fwd_row(kind, resetAfter, j0, jv, j1, H4, x, g, bhn, hp, hIn + bo, cPrev + bo, cCur + bo, gt, auxT + bo, hn, o, xn, hard);
  }
}

/**
 * fwd_gates_rows compiled for the gates' activation of this call (see hardGates): each copy is a
 * function of its own, so that neither carries the other's code or a test per gate.
 */
function fwd_gates(
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool, slim: bool, s: i32,
  xg: usize, xids: usize, bhn: usize, out: usize, ldOut4: usize, outStep4: usize,
  ch: usize, cc: usize, cgates: usize, caux: usize, gh: usize, r0: i32, r1: i32, j0: i32, j1: i32, nOnly: bool,
  hIn: usize,
): void {
  if (hardGates) fwd_gates_rows<HardSigmoid>(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4, ch, cc, cgates, caux, gh, r0, r1, j0, j1, nOnly, hIn);
  else fwd_gates_rows<Sigmoid>(kind, resetAfter, T, B, H, lengths, reverse, slim, s, xg, xids, bhn, out, ldOut4, outStep4, ch, cc, cgates, caux, gh, r0, r1, j0, j1, nOnly, hIn);
}

// ---- stack steps: one token through a stack of stateful layers and its softmax head ----
// Text generation runs a model a character at a time. A stack step runs one token through every
// layer of a stack of batch-1 recurrent layers and the softmax head in one call: per layer the
// input projection (b1_project's products by W_ih packed for batch 1) and the step (seq_forward's
// batch-1 step by W_hh packed for batch 1, its state slots used as the slim loop uses them), then
// the head's product (gemm) and softmax_rows. Each value is computed by the code that computes it
// in those calls, in the same order, so a stack step has their bits. The two-thread build splits
// each phase by the chunks of the batch-1 plan (stack_step_mt), the threads meeting between the
// phases inside the call instead of once per call of every layer.
//
// A layer's record, SL_WORDS 32-bit words at desc + l·SL_BYTES (addresses into this memory):
//    0 cell kind (with HARD_GATES)   1 resetAfter (1) | SL_GEMV (2) | SL_TABLE (4)   2 H   3 K, the input width
//    4 W_ih packed for batch 1 with its copy after it (b1_pack; b1_project's P); with SL_GEMV the
//      projection reads the copy as it lies, as gemm computes one row (gemm_by_gemv): where the
//      layer's own call does (a backend whose memory does not hold the model's weights)
//    5 W_hh packed for batch 1 (b1_pack; seq_forward's whhP)
//    6 the bias row (G floats: b_ih + b_hh folded as layer-ops.ts foldBias folds them), or 0
//    7 b_hn (H floats; zeros without biases)   8 the input row (K floats; the first layer's is
//      the call's argument x0)   9 xg (G floats)
//   10 h: two slots of H floats, the state the step reads, then the one it writes
//   11 c: the same (LSTM), or 0   12 gates (G floats)   13 aux (H floats, GRU), or 0
//   14 the output row (H floats: the next layer's input row)   15 gh (seq_forward_scratch_bytes at batch 1)
// The head's record, 9 words: 0 U  1 K  2 W (K x U, row-major)  3 W packed as op(B) (pack_b_nr8)
//   4 the bias (U floats, padded to 8), or 0   5 z (U floats)   6 the probabilities (U floats)
//   7 gemm's scratch (gemm_scratch_bytes(1, U, K))   8 softmax_rows' sums (8 bytes)
// SL_TABLE (the first layer only): its projections of every row of the token table were computed
// once by the step's own projection code (stack_project_rows); x0 is then the token's projected
// row, read as xg, and the step projects nothing for the layer.
// The head's input row is the last layer's output row. The records do not change from call to
// call (the token's row comes as an argument): a late partner thread may still read them while the
// calling thread has returned, until the host joins it (before the next call, or before the
// records' memory goes back).
const SL_WORDS: i32 = 16;
const SL_BYTES: usize = <usize>SL_WORDS << 2;
const SL_GEMV: i32 = 2;
const SL_TABLE: i32 = 4;

// @ts-ignore: decorator
@inline function sl_word(desc: usize, l: i32, w: i32): i32 { return load<i32>(desc + <usize>l * SL_BYTES + (<usize>w << 2)); }
// @ts-ignore: decorator
@inline function sl_ptr(desc: usize, l: i32, w: i32): usize { return <usize>load<u32>(desc + <usize>l * SL_BYTES + (<usize>w << 2)); }

/**
 * Packs for batch 1, by the plan of (kind, H), the G x K weight matrix (W_hh: K = H; W_ih: K = I)
 * the caller has written row-major into the copy area after P (b1_copy_at; the block is
 * packed_b1_copy_bytes): what b1_project, seq_forward (whhP) and stack_step read.
 */
export function b1_pack(kind: i32, H: i32, K: i32, P: usize): void {
  kind = cell_kind(kind);
  b1_plan(kind, H);
  const W = b1_copy_at(kind, K, P);
  for (let c = 0; c < b1_chunks(); c++) b1_refresh(kind, H, K, W, P, c, B1_PACK);
}

/** Layer l's input projection by gemv (SL_GEMV): y = bias + W_ih·x from the copy after the packing. */
function stack_project_gemv(desc: usize, l: i32, kind: i32, H: i32, x: usize): void {
  const K = sl_word(desc, l, 3);
  b1_plan(kind, H);
  gemm_by_gemv(1, K, x, K, b1_copy_at(kind, K, sl_ptr(desc, l, 4)), K, sl_ptr(desc, l, 9), gate_width(kind, H), false, sl_ptr(desc, l, 6), 0, gate_width(kind, H));
}

/** Layer l's input projection of the row x into its record's xg row, as a one-thread stack step makes it. */
function stack_project(desc: usize, l: i32, kind: i32, H: i32, x: usize): void {
  if ((sl_word(desc, l, 1) & SL_GEMV) != 0) stack_project_gemv(desc, l, kind, H, x);
  else b1_project(kind, H, sl_word(desc, l, 3), 0, sl_ptr(desc, l, 4), B1_CURRENT, x, sl_ptr(desc, l, 6), sl_ptr(desc, l, 9));
}

/**
 * Layer l's input projections of `rows` rows of x (K floats each) into out (G floats each), each
 * made by stack_project (a stack step's own): the first layer's table for SL_TABLE.
 */
export function stack_project_rows(desc: usize, l: i32, x: usize, rows: i32, out: usize): void {
  const kind = cell_kind(sl_word(desc, l, 0)), H = sl_word(desc, l, 2), K = sl_word(desc, l, 3);
  const G4 = <usize>gate_width(kind, H) << 2, xg = sl_ptr(desc, l, 9);
  for (let r = 0; r < rows; r++) {
    stack_project(desc, l, kind, H, x + <usize>r * (<usize>K << 2));
    memory.copy(out + <usize>r * G4, xg, G4);
  }
}

/** The head of a stack step (its record at `head`, its input row x): z = x·W + b, then the softmax. */
function stack_head(head: usize, x: usize): void {
  const U = load<i32>(head), K = load<i32>(head, 4);
  const w = <usize>load<u32>(head, 8), wp = <usize>load<u32>(head, 12), bias = <usize>load<u32>(head, 16);
  const z = <usize>load<u32>(head, 20), y = <usize>load<u32>(head, 24);
  gemm(false, false, 1, U, K, x, K, w, U, z, U, false, <usize>load<u32>(head, 28), bias, wp);
  softmax_rows(z, y, 1, U, <usize>load<u32>(head, 32));
}

/** Layer l's input row: the call's x0 for the first layer, else its record's (the layer below's output row). */
// @ts-ignore: decorator
@inline function sl_x(desc: usize, l: i32, x0: usize): usize { return l == 0 ? x0 : sl_ptr(desc, l, 8); }

/**
 * One token through the `nl` layers of the records at desc, the first reading the row at x0,
 * then the head: each layer's new state goes from its second slot to its first, where the next
 * step reads it, and the head's probabilities into its record's row.
 */
export function stack_step(desc: usize, nl: i32, head: usize, x0: usize): void {
  for (let l = 0; l < nl; l++) {
    const kind = cell_kind(sl_word(desc, l, 0)), H = sl_word(desc, l, 2), H4 = <usize>H << 2;
    const fromTable = (sl_word(desc, l, 1) & SL_TABLE) != 0;
    const xg = fromTable ? x0 : sl_ptr(desc, l, 9), ch = sl_ptr(desc, l, 10), cc = sl_ptr(desc, l, 11);
    // The projection sets the layer's batch-1 plan, which the step's product reads; from the
    // projected table (xg: the token's row) there is none to set it.
    if (fromTable) b1_plan(kind, H);
    else stack_project(desc, l, kind, H, sl_x(desc, l, x0));
    fwd_step(kind, (sl_word(desc, l, 1) & 1) != 0, 1, 1, H, 0, false, true, 0, xg, 0, sl_ptr(desc, l, 7), sl_ptr(desc, l, 14), H4, H4,
      ch, cc, sl_ptr(desc, l, 12), sl_ptr(desc, l, 13), 0, 0, sl_ptr(desc, l, 15), sl_ptr(desc, l, 5), 0, 1, 0, 0, 0, 0, 0, 0);
    memory.copy(ch, ch + H4, H4);
    if (kind == LSTM) memory.copy(cc, cc + H4, H4);
  }
  if (head != 0) stack_head(head, sl_ptr(desc, nl - 1, 14));
}

// ---- backward gate passes (derivatives of the forward equations above) ----

/**
 * LSTM: with tc = tanh(c'), dc += dh⊙o⊙(1-tc²);
 *   d_ai = dc⊙g⊙i(1-i), d_af = dc⊙c⊙f(1-f), d_ag = dc⊙i⊙(1-g²), d_ao = dh⊙tc⊙o(1-o); dc <- dc⊙f.
 * dx: the dxg (= dgh) row at unit j, whose d_ag holds tc on entry (see bwd_row).
 */
// @ts-ignore: decorator
@inline function lstm_bwd_units(
  gates: usize, H4: usize, cPrev: usize, dh: usize, dc: usize, dx: usize, full: bool, hard: bool,
): void {
  const one = splat(1);
  const i = ld(gates, full), f = ld(gates + H4, full), g = ld(gates + 2 * H4, full), o = ld(gates + 3 * H4, full);
  const tc = ld(dx + 2 * H4, full);
  const dhv = ldz(dh, full);
  const dcv = fmadd(f32x4.mul(dhv, o), fnmadd(tc, tc, one), ld(dc, full));
  stz(dx, f32x4.mul(f32x4.mul(dcv, g), dgate4(i, hard)), full);
  stz(dx + H4, f32x4.mul(f32x4.mul(dcv, ld(cPrev, full)), dgate4(f, hard)), full);
  stz(dx + 2 * H4, f32x4.mul(f32x4.mul(dcv, i), fnmadd(g, g, one)), full);
  stz(dx + 3 * H4, f32x4.mul(f32x4.mul(dhv, tc), dgate4(o, hard)), full);
  stz(dc, f32x4.mul(dcv, f), full);
}

/**
 * GRU (h' = (1-z)n + z h): d_an = dh(1-z)(1-n²), d_az = dh(h-n)z(1-z).
 * resetAfter: d_ar = d_an⊙aux⊙r(1-r) and the recurrent n operand gets d_an⊙r.
 * !resetAfter: d_ar needs (d_an·W_hn)⊙h, computed after the product (gru_rb_bwd_r_units).
 */
// @ts-ignore: decorator
@inline function gru_bwd_units(
  gates: usize, H4: usize, aux: usize, hp: usize, dh: usize, dx: usize, dg: usize, resetAfter: bool, full: bool, hard: bool,
): void {
  const one = splat(1);
  const r = ld(gates, full), z = ld(gates + H4, full), n = ld(gates + 2 * H4, full);
  const dhv = ldz(dh, full);
  const dan = ftz(f32x4.mul(f32x4.mul(dhv, f32x4.sub(one, z)), fnmadd(n, n, one)));
  const daz = ftz(f32x4.mul(f32x4.mul(dhv, f32x4.sub(ld(hp, full), n)), dgate4(z, hard)));
  st(dx + H4, daz, full); st(dg + H4, daz, full);
  st(dx + 2 * H4, dan, full);
  if (resetAfter) {
    const dar = ftz(f32x4.mul(f32x4.mul(dan, ld(aux, full)), dgate4(r, hard)));
    st(dx, dar, full); st(dg, dar, full);
    stz(dg + 2 * H4, f32x4.mul(dan, r), full);
  } else {
    st(dg + 2 * H4, dan, full);
  }
}

/** GRU !resetAfter, after drh = d_an·W_hn: d_ar = drh⊙h_prev⊙r(1-r). */
// @ts-ignore: decorator
@inline function gru_rb_bwd_r_units(gates: usize, hp: usize, drh: usize, dx: usize, dg: usize, full: bool, hard: bool): void {
  const r = ld(gates, full);
  const dar = ftz(f32x4.mul(f32x4.mul(ld(drh, full), ld(hp, full)), dgate4(r, hard)));
  st(dx, dar, full); st(dg, dar, full);
}

/**
 * The GRU (reset before the product) r gradients of rows [r0, r1) and units [j0, j1) of step t,
 * from d(r⊙h) (drh) and the state the products saw (hIn): gru_rb_bwd_r_units, 4 units at a time.
 */
function gru_rb_bwd_r_rows(
  B: i32, H: i32, lengths: usize, t: i32, r0: i32, r1: i32, j0: i32, j1: i32,
  gatesT: usize, hIn: usize, drh: usize, dxT: usize, dgT: usize,
): void {
  const H4 = <usize>H << 2, G4 = 3 * H4, jv = j0 + ((j1 - j0) & ~3);
  for (let b = r0; b < r1; b++) {
    if (!row_valid(lengths, b, t)) continue;
    const bo = <usize>b * H4;
    const gt = gatesT + <usize>b * G4, hp = hIn + bo, d = drh + bo;
    const dx = dxT + <usize>b * G4, dg = dgT + <usize>b * G4;
    let j = j0;
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      gru_rb_bwd_r_units(gt + u, hp + u, d + u, dx + u, dg + u, true, hardGates);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      gru_rb_bwd_r_units(gt + u, hp + u, d + u, dx + u, dg + u, false, hardGates);
    }
  }
}

/** RNN: d = dh⊙(1-h'²) (tanh) or h' > 0 ? dh : 0 (relu), from the stored output h'. */
// @ts-ignore: decorator
@inline function rnn_bwd_units(hc: usize, dh: usize, dx: usize, relu: bool, full: bool): void {
  const h = ld(hc, full), d = ldz(dh, full);
  const v = relu
    ? v128.and(d, f32x4.gt(h, splat(0)))
    : f32x4.mul(d, fnmadd(h, h, splat(1)));
  stz(dx, v, full);
}

/**
 * The backward gate pass of one batch row for hidden units [j0, j1) (4 at a time up to jv): dx
 * (and the GRU's dg) from dh (and the LSTM's dc). Shared by the one- and two-thread drivers, as
 * fwd_row; copying dx to a separate dg for LSTM/RNN is left to the caller. gn: gates read ahead,
 * a cache line per 4 units (LSTM, GRU; the next row's, see bwd_step).
 */
// @ts-ignore: decorator
@inline function bwd_row(
  kind: i32, resetAfter: bool, j0: i32, jv: i32, j1: i32, H4: usize,
  gt: usize, cn: usize, cp: usize, dhb: usize, dcb: usize, a: usize, hp: usize, hn: usize, dx: usize, dg: usize,
  gn: usize, hard: bool,
): void {
  let j = j0;
  let seen: u32 = 0;
  if (kind == LSTM) {
    // tanh(c') of the row's units first, where d_ag will go (approx_activation, a function of its
    // own, as gate_block: in the pass's loop body V8 rebuilt tanh's constants every iteration).
    const u0 = <usize>j0 << 2;
    approx_activation(0, cn + u0, dx + 2 * H4 + u0, j1 - j0);
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      seen |= load<u32>(gn + (u << 2));
      lstm_bwd_units(gt + u, H4, cp + u, dhb + u, dcb + u, dx + u, true, hard);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      lstm_bwd_units(gt + u, H4, cp + u, dhb + u, dcb + u, dx + u, false, hard);
    }
  } else if (kind == GRU && resetAfter) {
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      seen |= load<u32>(gn + 3 * u);
      gru_bwd_units(gt + u, H4, a + u, hp + u, dhb + u, dx + u, dg + u, true, true, hard);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      gru_bwd_units(gt + u, H4, a + u, hp + u, dhb + u, dx + u, dg + u, true, false, hard);
    }
  } else if (kind == GRU) {
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      seen |= load<u32>(gn + 3 * u);
      gru_bwd_units(gt + u, H4, a + u, hp + u, dhb + u, dx + u, dg + u, false, true, hard);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      gru_bwd_units(gt + u, H4, a + u, hp + u, dhb + u, dx + u, dg + u, false, false, hard);
    }
  } else {
    const relu = kind == RNN_RELU;
    for (; j < jv; j += 4) {
      const u = <usize>j << 2;
      rnn_bwd_units(hn + u, dhb + u, dx + u, relu, true);
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      rnn_bwd_units(hn + u, dhb + u, dx + u, relu, false);
    }
  }
  touchSink |= seen;
}

/** dst[0..n) += src[0..n). */
// @ts-ignore: decorator
@inline function add_row(dst: usize, src: usize, n: i32): void { sum_row(dst, dst, src, n); }

/**
 * Backward over the whole sequence (see SeqBackwardArgs), steps in the reverse of forward order.
 * dOut = 0, dhN = 0, dcN = 0 mean zero gradients. dgh may equal dxg (LSTM/RNN always pass the
 * same buffer: the two are equal there). dOut points at the caller's dOutOffset; row (t,b) is at
 * dOut + 4*(t*dOutStep + b*ldDOut) (see seq_forward's out).
 * Per step: one fused gate-backward pass, then dh_prev = dgh_t · W_hh (one product; GRU without
 * resetAfter splits it into the r|z rows and the separately needed d(r⊙h) = d_an·W_hn).
 * hmask (0: none): the forward's recurrent-dropout mask; what reached h_prev through the products
 * is multiplied by it (see seq_forward).
 */
export function seq_backward(
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool,
  whh: usize, ch: usize, cc: usize, cgates: usize, caux: usize,
  dOut: usize, ldDOut: i32, dOutStep: i32, dhN: usize, dcN: usize,
  dxg: usize, dgh: usize, dh0: usize, dc0: usize, scratch: usize, hmask: usize,
): void {
  kind = cell_kind(kind);
  const G = gate_width(kind, H);
  const H4 = <usize>H << 2, BH4 = <usize>B * H4;
  const ldD4 = <usize>ldDOut << 2, dStep4 = <usize>dOutStep << 2;
  // W_hh as op(B) = W_hh (K = G rows, N = H columns), packed once.
  const P = scratch;
  pack_b_nr8(false, G, H, whh, H, P);
  const dh = P + align64(packed_bytes(G, H));
  bwd_rows_begin(B, H, dhN, dcN, dh, 0, B);
  for (let s = 0; s < T; s++) {
    bwd_step(kind, resetAfter, T, B, H, lengths, reverse, s, ch, cc, cgates, caux, dOut, ldD4, dStep4, dxg, dgh, P, dh, 0, B, hmask);
  }
  bwd_rows_end(B, H, dh0, dc0, dh, 0, B);
}

/** seq_backward's scratch after the packed W_hh: dh, dc, dh_prev, d(r⊙h) and h_prev ⊙ mask, B×H each. */
// @ts-ignore: decorator
@inline function bwd_row_buf(dh: usize, B: i32, H: i32, i: i32): usize {
  return dh + <usize>i * align64(<usize>B * H * 4);
}

/** Rows [r0, r1) of dh and dc (buffers after `dh`, see bwd_row_buf) start from dhN, dcN (or 0). */
function bwd_rows_begin(B: i32, H: i32, dhN: usize, dcN: usize, dh: usize, r0: i32, r1: i32): void {
  const o = <usize>r0 * H * 4, n = <usize>(r1 - r0) * H * 4, dc = bwd_row_buf(dh, B, H, 1);
  if (dhN != 0) memory.copy(dh + o, dhN + o, n); else memory.fill(dh + o, 0, n);
  if (dcN != 0) memory.copy(dc + o, dcN + o, n); else memory.fill(dc + o, 0, n);
}

/** Rows [r0, r1) of the final dh and dc out to dh0, dc0 (dc0 = 0: not wanted). */
function bwd_rows_end(B: i32, H: i32, dh0: usize, dc0: usize, dh: usize, r0: i32, r1: i32): void {
  const o = <usize>r0 * H * 4, n = <usize>(r1 - r0) * H * 4;
  memory.copy(dh0 + o, dh + o, n);
  if (dc0 != 0) memory.copy(dc0 + o, bwd_row_buf(dh, B, H, 1) + o, n);
}

/**
 * The backward gate pass of step t (bwd_step's first loop) for batch rows [r0, r1): dh (+ dOut's
 * row) -> the rows of dxg (dxT) and dgh (dgT), dc updated. Compiled once for each gates'
 * activation, as fwd_gates_rows.
 */
function bwd_gate_rows<Gate>(
  kind: i32, resetAfter: bool, B: i32, H: i32, lengths: usize, t: i32, r0: i32, r1: i32,
  gatesT: usize, cCur: usize, cPrev: usize, auxT: usize, hPrev: usize, hCur: usize, dh: usize, dc: usize,
  dOut: usize, ldD4: usize, dStep4: usize, dxT: usize, dgT: usize,
): void {
  const hard = is_hard<Gate>();
  const G = gate_width(kind, H), H4 = <usize>H << 2, G4 = <usize>G << 2, hv = H & ~3;
  for (let b = r0; b < r1; b++) {
    const bo = <usize>b * H4;
    const dx = dxT + <usize>b * G4, dg = dgT + <usize>b * G4;
    if (!row_valid(lengths, b, t)) {
      memory.fill(dx, 0, G4);
      if (dg != dx) memory.fill(dg, 0, G4);
      continue;
    }
    const dhb = dh + bo;
    if (dOut != 0) add_row(dhb, dOut + <usize>t * dStep4 + <usize>b * ldD4, H);
    const gt = gatesT + <usize>b * G4;
    // The next row's gates, read a line per 4 units while this row runs (see fwd_gates' xn).
    const gn = b + 1 < r1 ? gt + G4 : gt;
    bwd_row(kind, resetAfter, 0, hv, H, H4, gt, cCur + bo, cPrev + bo, dhb, dc + bo, auxT + bo, hPrev + bo, hCur + bo, dx, dg, gn, hard);
    if (kind != GRU && dg != dx) memory.copy(dg, dx, G4);
  }
}

/**
 * Step s of seq_backward for batch rows [r0, r1) (r0 a multiple of 4; see fwd_step): the fused
 * gate-backward pass per row, then dh_prev = dgh_t · W_hh (W_hh packed at P as K = G × N = H;
 * GRU without resetAfter first d(r⊙h) = d_an·W_hn and the r gradients). The two-thread loop runs
 * groups of rows through it. hmask: see seq_backward.
 */
function bwd_step(
  kind: i32, resetAfter: bool, T: i32, B: i32, H: i32, lengths: usize, reverse: bool, s: i32,
  ch: usize, cc: usize, cgates: usize, caux: usize, dOut: usize, ldD4: usize, dStep4: usize,
  dxg: usize, dgh: usize, P: usize, dh: usize, r0: i32, r1: i32, hmask: usize,
): void {
  const G = gate_width(kind, H);
  const H4 = <usize>H << 2, G4 = <usize>G << 2, BH4 = <usize>B * H4;
  const split = kind == GRU && !resetAfter;
  const pstride = <usize>G * 32, m = r1 - r0, R0H = <usize>r0 * H4, R0G = <usize>r0 * G4;
  const dc = bwd_row_buf(dh, B, H, 1), dhp = bwd_row_buf(dh, B, H, 2), drh = bwd_row_buf(dh, B, H, 3);
  const t = reverse ? s : T - 1 - s;
  const cur = slot_cur(false, reverse, s, t), prev = slot_prev(false, reverse, s, t);
  const hPrev = ch + <usize>prev * BH4, hCur = ch + <usize>cur * BH4;
  const cPrev = cc + <usize>prev * BH4, cCur = cc + <usize>cur * BH4;
  const gatesT = cgates + <usize>t * B * G4, auxT = caux + <usize>t * BH4;
  const dxT = dxg + <usize>t * B * G4, dgT = dgh + <usize>t * B * G4;

  if (hardGates) bwd_gate_rows<HardSigmoid>(kind, resetAfter, B, H, lengths, t, r0, r1, gatesT, cCur, cPrev, auxT, hPrev, hCur, dh, dc, dOut, ldD4, dStep4, dxT, dgT);
  else bwd_gate_rows<Sigmoid>(kind, resetAfter, B, H, lengths, t, r0, r1, gatesT, cCur, cPrev, auxT, hPrev, hCur, dh, dc, dOut, ldD4, dStep4, dxT, dgT);

  if (split) {
    // d(r⊙h) = d_an · W_hn (rows [2H, 3H) of W_hh), then the r gradients.
    gemm_packed(m, H, H, dxT + R0G + 2 * H4, G4, 4, P + 2 * H4 * 8, pstride, drh + R0H, H, false);
    // The reset multiplied the state the products saw: h_prev, or h_prev ⊙ mask.
    let hIn = hPrev;
    if (hmask != 0) {
      hIn = bwd_row_buf(dh, B, H, 4);
      mul_row(hIn + R0H, hPrev + R0H, hmask + R0H, m * H);
    }
    gru_rb_bwd_r_rows(B, H, lengths, t, r0, r1, 0, H, gatesT, hIn, drh, dxT, dgT);
  }

  // dh_prev = dgh_t · W_hh (+ the direct paths of GRU); padded rows keep dh unchanged.
  gemm_packed(m, H, split ? 2 * H : G, dgT + R0G, G4, 4, P, pstride, dhp + R0H, H, false);
  for (let b = r0; b < r1; b++) {
    if (!row_valid(lengths, b, t)) continue;
    const bo = <usize>b * H4;
    if (kind != GRU) {
      if (hmask != 0) mul_row(dh + bo, dhp + bo, hmask + bo, H);
      else memory.copy(dh + bo, dhp + bo, H4);
      continue;
    }
    const z = gatesT + <usize>b * G4 + H4, r = gatesT + <usize>b * G4;
    gru_dh_prev(dh + bo, dhp + bo, z, drh + bo, r, 0, H, split, hmask != 0 ? hmask + bo : 0);
  }
}

/**
 * The GRU's gradient w.r.t. h_prev for units [j0, j1) of one row, in place in dh: dh_prev·W_hh's
 * product dp, plus the direct path dh⊙z, plus (without resetAfter) drh⊙r — each product rounded,
 * then the sums in that order, as a multiply and an add (not fused: the same bits 4 lanes at a
 * time as one at a time). With a recurrent-dropout mask (m: the row's, 0 for none) the terms
 * that came through the products are summed first and multiplied by it: (dp + drh⊙r)⊙m + dh⊙z.
 */
function gru_dh_prev(dh: usize, dp: usize, z: usize, drh: usize, r: usize, j0: i32, j1: i32, split: bool, m: usize): void {
  let j = j0;
  if (m != 0) {
    for (; j + 4 <= j1; j += 4) {
      const u = <usize>j << 2;
      let d = v128.load(dp + u);
      if (split) d = f32x4.add(d, f32x4.mul(v128.load(drh + u), v128.load(r + u)));
      v128.store(dh + u, f32x4.add(f32x4.mul(d, v128.load(m + u)), f32x4.mul(v128.load(dh + u), v128.load(z + u))));
    }
    for (; j < j1; j++) {
      const u = <usize>j << 2;
      let d = load<f32>(dp + u);
      if (split) d += load<f32>(drh + u) * load<f32>(r + u);
      store<f32>(dh + u, d * load<f32>(m + u) + load<f32>(dh + u) * load<f32>(z + u));
    }
    return;
  }
  for (; j + 4 <= j1; j += 4) {
    const u = <usize>j << 2;
    let d = f32x4.add(v128.load(dp + u), f32x4.mul(v128.load(dh + u), v128.load(z + u)));
    if (split) d = f32x4.add(d, f32x4.mul(v128.load(drh + u), v128.load(r + u)));
    v128.store(dh + u, d);
  }
  for (; j < j1; j++) {
    const u = <usize>j << 2;
    let d = load<f32>(dp + u) + load<f32>(dh + u) * load<f32>(z + u);
    if (split) d += load<f32>(drh + u) * load<f32>(r + u);
    store<f32>(dh + u, d);
  }
}

/**
 * Copies T·B compact rows of w floats from src to dst, reordering batch-first rows (b·T + t)
 * into time-major ones (t·B + b), or back when `toBatchFirst` (the layers' batch-first inputs
 * and input gradients; copying rows one at a time from JavaScript cost 4-6% of a training step).
 */
export function reorder_rows(src: usize, dst: usize, T: i32, B: i32, w: i32, toBatchFirst: bool): void {
  const rowB = <usize>w << 2, vecB = <usize>(w & ~3) << 2;
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const bf = <usize>(b * T + t) * rowB, tm = <usize>(t * B + b) * rowB;
      const s = src + (toBatchFirst ? tm : bf), d = dst + (toBatchFirst ? bf : tm);
      let o: usize = 0;
      for (; o < vecB; o += 16) v128.store(d + o, v128.load(s + o));
      for (; o < rowB; o += 4) store<f32>(d + o, load<f32>(s + o));
    }
  }
}

/**
 * Layer normalisation of `rows` rows of D floats (layers/normalization.ts's layerNormForward, in
 * its float64 arithmetic and order, so the same bits): mean and variance per row (each sum in four
 * chains, element j into chain j mod 4, added as (s0 + s1) + (s2 + s3)), r = 1/√(σ²+ε) into r
 * (f64 per row), x̂ = (x - μ)·r into xhat, y = γ·x̂ + β (γ, β: 0 for none).
 */
export function layer_norm_forward(x: usize, rows: i32, D: i32, eps: f64, gamma: usize, beta: usize, y: usize, xhat: usize, r: usize): void {
  const D4 = D & ~3, zero = f64x2.splat(0);
  for (let row = 0; row < rows; row++) {
    const o = <usize>row * <usize>D << 2, xr = x + o;
    let a = zero, b = zero;
    let j = 0;
    for (; j < D4; j += 4) { const v = v128.load(xr + (<usize>j << 2)); a = f64x2.add(a, lo2(v)); b = f64x2.add(b, hi2(v)); }
    for (; j < D; j++) { // the last D % 4 (< 4) elements, each into its chain j mod 4
      const v = <f64>load<f32>(xr + (<usize>j << 2));
      if ((j & 3) == 0) a = f64x2.replace_lane(a, 0, f64x2.extract_lane(a, 0) + v);
      else if ((j & 3) == 1) a = f64x2.replace_lane(a, 1, f64x2.extract_lane(a, 1) + v);
      else b = f64x2.replace_lane(b, 0, f64x2.extract_lane(b, 0) + v);
    }
    const mean = sum_chains(a, b) / <f64>D, mv = f64x2.splat(mean);
    a = zero; b = zero;
    for (j = 0; j < D4; j += 4) {
      const v = v128.load(xr + (<usize>j << 2)), d0 = f64x2.sub(lo2(v), mv), d1 = f64x2.sub(hi2(v), mv);
      a = f64x2.add(a, f64x2.mul(d0, d0)); b = f64x2.add(b, f64x2.mul(d1, d1));
    }
    for (; j < D; j++) {
      const d = <f64>load<f32>(xr + (<usize>j << 2)) - mean, dd = d * d;
      if ((j & 3) == 0) a = f64x2.replace_lane(a, 0, f64x2.extract_lane(a, 0) + dd);
      else if ((j & 3) == 1) a = f64x2.replace_lane(a, 1, f64x2.extract_lane(a, 1) + dd);
      else b = f64x2.replace_lane(b, 0, f64x2.extract_lane(b, 0) + dd);
    }
    const rr: f64 = 1 / Math.sqrt(sum_chains(a, b) / <f64>D + eps), rv = f64x2.splat(rr);
    store<f64>(r + (<usize>row << 3), rr);
    for (j = 0; j < D4; j += 4) {
      const jo = <usize>j << 2, v = v128.load(xr + jo);
      const h0 = f64x2.mul(f64x2.sub(lo2(v), mv), rv), h1 = f64x2.mul(f64x2.sub(hi2(v), mv), rv);
      v128.store(xhat + o + jo, demote4(h0, h1));
      let y0 = h0, y1 = h1;
      if (gamma != 0) { const g = v128.load(gamma + jo); y0 = f64x2.mul(lo2(g), h0); y1 = f64x2.mul(hi2(g), h1); }
      const bb = beta != 0 ? v128.load(beta + jo) : f32x4.splat(0);
      v128.store(y + o + jo, demote4(f64x2.add(y0, lo2(bb)), f64x2.add(y1, hi2(bb))));
    }
    for (; j < D; j++) {
      const jo = <usize>j << 2;
      const h: f64 = (<f64>load<f32>(xr + jo) - mean) * rr;
      store<f32>(xhat + o + jo, <f32>h);
      const gh: f64 = gamma != 0 ? <f64>load<f32>(gamma + jo) * h : h;
      store<f32>(y + o + jo, <f32>(gh + (beta != 0 ? <f64>load<f32>(beta + jo) : 0)));
    }
  }
}

/**
 * Its backward (layerNormBackward's float64 arithmetic and order): dγ += Σ_rows dy·x̂ and
 * dβ += Σ_rows dy (when given; `acc` holds 2·D f64 of scratch), dx = r·(g - mean(g) - x̂·mean(g·x̂))
 * with g = dy·γ (when dx is given; the row sums in four chains, as the forward's).
 */
export function layer_norm_backward(
  dy: usize, rows: i32, D: i32, xhat: usize, r: usize, gamma: usize, dgamma: usize, dbeta: usize, dx: usize, acc: usize,
): void {
  const D4 = D & ~3, zero = f64x2.splat(0), one4 = f32x4.splat(1);
  const accB = acc + (<usize>D << 3);
  if (dgamma != 0 || dbeta != 0) {
    memory.fill(acc, 0, <usize>D << 4);
    for (let row = 0; row < rows; row++) {
      const o = <usize>row * <usize>D << 2;
      let j = 0;
      for (; j < D4; j += 4) {
        const jo = <usize>j << 2, ja = <usize>j << 3, d = v128.load(dy + o + jo), h = v128.load(xhat + o + jo);
        const d0 = lo2(d), d1 = hi2(d);
        v128.store(acc + ja, f64x2.add(v128.load(acc + ja), f64x2.mul(d0, lo2(h))));
        v128.store(acc + ja, f64x2.add(v128.load(acc + ja, 16), f64x2.mul(d1, hi2(h))), 16);
        v128.store(accB + ja, f64x2.add(v128.load(accB + ja), d0));
        v128.store(accB + ja, f64x2.add(v128.load(accB + ja, 16), d1), 16);
      }
      for (; j < D; j++) {
        const jo = <usize>j << 2, ja = <usize>j << 3, d = <f64>load<f32>(dy + o + jo);
        store<f64>(acc + ja, load<f64>(acc + ja) + d * <f64>load<f32>(xhat + o + jo));
        store<f64>(accB + ja, load<f64>(accB + ja) + d);
      }
    }
    for (let j = 0; j < D; j++) {
      const jo = <usize>j << 2, ja = <usize>j << 3;
      if (dgamma != 0) store<f32>(dgamma + jo, <f32>(<f64>load<f32>(dgamma + jo) + load<f64>(acc + ja)));
      if (dbeta != 0) store<f32>(dbeta + jo, <f32>(<f64>load<f32>(dbeta + jo) + load<f64>(accB + ja)));
    }
  }
  if (dx == 0) return;
  for (let row = 0; row < rows; row++) {
    const o = <usize>row * <usize>D << 2;
    let ga = zero, gb = zero, xa = zero, xb = zero;
    let j = 0;
    for (; j < D4; j += 4) {
      const jo = <usize>j << 2, d = v128.load(dy + o + jo), h = v128.load(xhat + o + jo), gm = gamma != 0 ? v128.load(gamma + jo) : one4;
      // g = dy·γ in float64 (without γ, dy·1 = dy exactly)
      const g0 = f64x2.mul(lo2(d), lo2(gm)), g1 = f64x2.mul(hi2(d), hi2(gm));
      ga = f64x2.add(ga, g0); gb = f64x2.add(gb, g1);
      xa = f64x2.add(xa, f64x2.mul(g0, lo2(h))); xb = f64x2.add(xb, f64x2.mul(g1, hi2(h)));
    }
    for (; j < D; j++) {
      const jo = <usize>j << 2, dd = <f64>load<f32>(dy + o + jo);
      const g = gamma != 0 ? dd * <f64>load<f32>(gamma + jo) : dd, gx = g * <f64>load<f32>(xhat + o + jo);
      if ((j & 3) == 0) { ga = f64x2.replace_lane(ga, 0, f64x2.extract_lane(ga, 0) + g); xa = f64x2.replace_lane(xa, 0, f64x2.extract_lane(xa, 0) + gx); }
      else if ((j & 3) == 1) { ga = f64x2.replace_lane(ga, 1, f64x2.extract_lane(ga, 1) + g); xa = f64x2.replace_lane(xa, 1, f64x2.extract_lane(xa, 1) + gx); }
      else { gb = f64x2.replace_lane(gb, 0, f64x2.extract_lane(gb, 0) + g); xb = f64x2.replace_lane(xb, 0, f64x2.extract_lane(xb, 0) + gx); }
    }
    const mg = sum_chains(ga, gb) / <f64>D, mgx = sum_chains(xa, xb) / <f64>D;
    const rr = load<f64>(r + (<usize>row << 3)), rv = f64x2.splat(rr), mgv = f64x2.splat(mg), mgxv = f64x2.splat(mgx);
    for (j = 0; j < D4; j += 4) {
      const jo = <usize>j << 2, d = v128.load(dy + o + jo), h = v128.load(xhat + o + jo), gm = gamma != 0 ? v128.load(gamma + jo) : one4;
      const g0 = f64x2.mul(lo2(d), lo2(gm)), g1 = f64x2.mul(hi2(d), hi2(gm));
      const r0 = f64x2.mul(rv, f64x2.sub(f64x2.sub(g0, mgv), f64x2.mul(lo2(h), mgxv)));
      const r1 = f64x2.mul(rv, f64x2.sub(f64x2.sub(g1, mgv), f64x2.mul(hi2(h), mgxv)));
      v128.store(dx + o + jo, demote4(r0, r1));
    }
    for (; j < D; j++) {
      const jo = <usize>j << 2, dd = <f64>load<f32>(dy + o + jo);
      const g = gamma != 0 ? dd * <f64>load<f32>(gamma + jo) : dd;
      store<f32>(dx + o + jo, <f32>(rr * (g - mg - <f64>load<f32>(xhat + o + jo) * mgx)));
    }
  }
}

/** out = a + b over n floats (out may be a or b). */
export function add_into(a: usize, b: usize, out: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) { const o = <usize>i << 2; v128.store(out + o, f32x4.add(v128.load(a + o), v128.load(b + o))); }
  for (; i < n; i++) { const o = <usize>i << 2; store<f32>(out + o, load<f32>(a + o) + load<f32>(b + o)); }
}

/** y = relu(x) over n floats, as the reference writes it (x > 0 ? x : 0; NaN gives 0). */
export function relu_forward(x: usize, y: usize, n: i32): void {
  let i = 0;
  for (; i + 4 <= n; i += 4) v128.store(y + (<usize>i << 2), relu4(v128.load(x + (<usize>i << 2))));
  for (; i < n; i++) { const v = load<f32>(x + (<usize>i << 2)); store<f32>(y + (<usize>i << 2), v > 0 ? v : 0); }
}

/** dz = x > 0 ? dy : 0 over n floats (relu's backward from its input x). */
export function relu_backward(x: usize, dy: usize, dz: usize, n: i32): void {
  let i = 0;
  const zero = f32x4.splat(0);
  for (; i + 4 <= n; i += 4) {
    const o = <usize>i << 2;
    v128.store(dz + o, v128.and(v128.load(dy + o), f32x4.gt(v128.load(x + o), zero)));
  }
  for (; i < n; i++) { const o = <usize>i << 2; store<f32>(dz + o, load<f32>(x + o) > 0 ? load<f32>(dy + o) : 0); }
}

/**
 * Swaps the two middle axes of [outer, n1, n2, w] floats: dst[o, j, i, :] = src[o, i, j, :]
 * (multi-head attention's rows regrouped head-major and back).
 */
export function swap_axes(src: usize, dst: usize, outer: i32, n1: i32, n2: i32, w: i32): void {
  const rowB = <usize>w << 2, vecB = <usize>(w & ~3) << 2, blockB = <usize>n1 * <usize>n2 * rowB;
  for (let o = 0; o < outer; o++) {
    const so = src + <usize>o * blockB, dso = dst + <usize>o * blockB;
    for (let i = 0; i < n1; i++) {
      for (let j = 0; j < n2; j++) {
        const s = so + <usize>(i * n2 + j) * rowB, d = dso + <usize>(j * n1 + i) * rowB;
        let k: usize = 0;
        for (; k < vecB; k += 16) v128.store(d + k, v128.load(s + k));
        for (; k < rowB; k += 4) store<f32>(d + k, load<f32>(s + k));
      }
    }
  }
}

/** First free byte after the module's static data: where the loader starts its buffers. */
export function heap_base(): usize {
  return __heap_base;
}
