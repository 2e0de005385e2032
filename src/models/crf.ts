/**
 * Linear-chain conditional random field (CRF) math over flat float arrays.
 *
 * For one sentence of T tokens and K tags, with emission scores E (T, K), transition
 * scores A (K, K) where A[i, j] scores tag j directly after tag i, and start / end
 * scores s (K), e (K), a tag path y = (y_0 .. y_{T-1}) scores
 *
 *   score(y) = s[y_0] + Σ_{t=0}^{T-1} E[t, y_t] + Σ_{t=1}^{T-1} A[y_{t-1}, y_t] + e[y_{T-1}]
 *
 * and p(y | E) = exp(score(y)) / Z with Z = Σ_y exp(score(y)). Training minimises the
 * negative log-likelihood NLL(y) = log Z − score(y).
 *
 * Forward algorithm (log space):
 *   α_0(j) = s[j] + E[0, j]
 *   α_t(j) = E[t, j] + logsumexp_i (α_{t−1}(i) + A[i, j])
 *   log Z  = logsumexp_j (α_{T−1}(j) + e[j])
 * Backward:
 *   β_{T−1}(i) = e[i]
 *   β_t(i)     = logsumexp_j (A[i, j] + E[t+1, j] + β_{t+1}(j))
 * Marginals:
 *   γ_t(j)    = p(y_t = j)                 = exp(α_t(j) + β_t(j) − log Z)
 *   ξ_t(i, j) = p(y_{t−1} = i, y_t = j)    = exp(α_{t−1}(i) + A[i, j] + E[t, j] + β_t(j) − log Z)
 * Since ∂log Z/∂θ is the expected feature count, the exact gradient of the NLL is
 *   ∂/∂E[t, j] = γ_t(j) − [y_t = j]
 *   ∂/∂A[i, j] = Σ_{t≥1} ξ_t(i, j) − #{t ≥ 1 : y_{t−1} = i, y_t = j}
 *   ∂/∂s[j]    = γ_0(j) − [y_0 = j]
 *   ∂/∂e[j]    = γ_{T−1}(j) − [y_{T−1} = j]
 * logsumexp(x) = m + log Σ exp(x_i − m) with m = max x_i (and −∞ if all x_i = −∞).
 *
 * Viterbi: δ_0(j) = s[j] + E[0, j]; δ_t(j) = E[t, j] + max_i (δ_{t−1}(i) + A[i, j]),
 * remembering the argmax; the best path ends at argmax_j δ_{T−1}(j) + e[j] and is read
 * back through the back-pointers. Ties go to the lowest tag index.
 *
 * Constraints: a disallowed transition / start / end tag gets score −∞ (see
 * `allowedTransitions` in data/tags.ts for tag-scheme constraints). Its probability is
 * then exactly 0, its gradient 0, and Viterbi never uses it.
 *
 * Layouts (row-major, any Float32Array / Float64Array; all math is done in float64):
 *   one sentence: emissions (T, K): E[t, k] at t·K + k; tags (T)
 *   batch:        emissions (T, B, K): sentence b's E[t, k] at (t·B + b)·K + k;
 *                 tags (T, B) at t·B + b; lengths (B) ≤ T (positions ≥ length are padding)
 *   transitions (K, K): A[i, j] at i·K + j;  start (K);  end (K)
 * Gradients are ACCUMULATED (+=) into the optional `grads` arrays, which have the same
 * layouts as the corresponding inputs.
 */

export type FloatArray = Float32Array | Float64Array;

export interface CrfParams {
  /** (K, K): transitions[i·K + j] scores tag j directly after tag i. */
  transitions: ArrayLike<number>;
  /** (K): score of starting a sentence with each tag. */
  start: ArrayLike<number>;
  /** (K): score of ending a sentence with each tag. */
  end: ArrayLike<number>;
}

/** Allowed moves; truthy = allowed, falsy = score −∞. Missing arrays allow everything. */
export interface CrfConstraints {
  transitions?: ArrayLike<number | boolean>;
  start?: ArrayLike<number | boolean>;
  end?: ArrayLike<number | boolean>;
}

/** Gradient accumulators (+=), same layouts as the inputs. */
export interface CrfGrads {
  emissions?: FloatArray;
  transitions?: FloatArray;
  start?: FloatArray;
  end?: FloatArray;
}

export interface CrfOptions {
  constraints?: CrfConstraints;
}

export interface CrfNllOptions extends CrfOptions {
  grads?: CrfGrads;
}

export interface CrfBatchNllOptions extends CrfNllOptions {
  /** 'sum' (default) or 'mean' over the batch (gradients are scaled the same way). */
  reduction?: 'sum' | 'mean';
}

/** Transition/start/end scores with the constraints folded in as −∞, in float64. */
interface Effective {
  K: number;
  A: Float64Array;
  s: Float64Array;
  e: Float64Array;
  /** exp of A, s and e less their largest finite value (0 where −∞), made by scaled(). */
  exp?: { A: Float64Array; s: Float64Array; e: Float64Array; mA: number; mS: number; mE: number; lossy: boolean };
}

/** p.exp: each score table as exp(x − max x) and its max (0 for a table of −∞ only). */
function scaled(p: Effective): NonNullable<Effective['exp']> {
  if (p.exp) return p.exp;
  const ex = (a: Float64Array): [Float64Array, number] => {
    let m = -Infinity;
    for (const v of a) if (v > m) m = v;
    if (m === -Infinity) m = 0;
    return [a.map((v) => Math.exp(v - m)), m];
  };
  const [A, mA] = ex(p.A), [s, mS] = ex(p.s), [e, mE] = ex(p.e);
  // A finite score so far below its table's largest that its exponential loses digits: log space.
  const lossy = [[p.A, A], [p.s, s], [p.e, e]].some(([raw, x]) => raw!.some((v, i) => v !== -Infinity && x![i]! < TINY));
  return (p.exp = { A, s, e, mA, mS, mE, lossy });
}

/** Scratch arrays of a sentence's scaled forward-backward, for T steps at most. */
interface Work {
  alpha: Float64Array;
  beta: Float64Array;
  /** exp(em_t(j) − m_t) */
  x: Float64Array;
  /** The forward's normalisers c_t. */
  c: Float64Array;
  /** Which tags some allowed path reaches: this step's (K), and the next one's being made (K). */
  reach: Uint8Array;
}

const newWork = (T: number, K: number): Work => ({
  alpha: new Float64Array(T * K), beta: new Float64Array(T * K), x: new Float64Array(T * K), c: new Float64Array(T), reach: new Uint8Array(2 * K),
});

/** Below this a scaled probability has lost digits (2^-964: 1e-290, ~668 nats under 1). */
const TINY = 1e-290;

function checkLen(a: ArrayLike<unknown> | undefined, n: number, what: string): void {
  if (a !== undefined && a.length !== n) throw new Error(`${what} has length ${a.length}, expected ${n}`);
}

function effective(K: number, params: CrfParams, c: CrfConstraints | undefined): Effective {
  if (!Number.isInteger(K) || K <= 0) throw new Error(`K must be a positive integer, got ${K}`);
  checkLen(params.transitions, K * K, 'transitions');
  checkLen(params.start, K, 'start');
  checkLen(params.end, K, 'end');
  checkLen(c?.transitions, K * K, 'constraints.transitions');
  checkLen(c?.start, K, 'constraints.start');
  checkLen(c?.end, K, 'constraints.end');
  const A = new Float64Array(K * K);
  const s = new Float64Array(K);
  const e = new Float64Array(K);
  for (let i = 0; i < K * K; i++) A[i] = c?.transitions && !c.transitions[i] ? -Infinity : params.transitions[i]!;
  for (let i = 0; i < K; i++) {
    s[i] = c?.start && !c.start[i] ? -Infinity : params.start[i]!;
    e[i] = c?.end && !c.end[i] ? -Infinity : params.end[i]!;
  }
  return { K, A, s, e };
}

/** Emissions of one sentence inside a (possibly batched) array: E[t, k] = em[base + t·stride + k]. */
interface View {
  em: ArrayLike<number>;
  base: number;
  stride: number;
  T: number;
}

/** Fills alpha (T·K) and returns log Z. */
function forward(v: View, p: Effective, alpha: Float64Array): number {
  const { K, A, s, e } = p;
  const { em, base, stride, T } = v;
  for (let j = 0; j < K; j++) alpha[j] = s[j]! + em[base + j]!;
  for (let t = 1; t < T; t++) {
    const prev = (t - 1) * K;
    const row = base + t * stride;
    for (let j = 0; j < K; j++) {
      let m = -Infinity;
      for (let i = 0; i < K; i++) {
        const x = alpha[prev + i]! + A[i * K + j]!;
        if (x > m) m = x;
      }
      let acc = 0;
      if (m !== -Infinity) for (let i = 0; i < K; i++) acc += Math.exp(alpha[prev + i]! + A[i * K + j]! - m);
      alpha[t * K + j] = m === -Infinity ? -Infinity : em[row + j]! + m + Math.log(acc);
    }
  }
  let m = -Infinity;
  const last = (T - 1) * K;
  for (let j = 0; j < K; j++) m = Math.max(m, alpha[last + j]! + e[j]!);
  if (m === -Infinity) return -Infinity;
  let acc = 0;
  for (let j = 0; j < K; j++) acc += Math.exp(alpha[last + j]! + e[j]! - m);
  return m + Math.log(acc);
}

/** Fills beta (T·K). */
function backward(v: View, p: Effective, beta: Float64Array): void {
  const { K, A, e } = p;
  const { em, base, stride, T } = v;
  const last = (T - 1) * K;
  for (let i = 0; i < K; i++) beta[last + i] = e[i]!;
  const tmp = new Float64Array(K);
  for (let t = T - 2; t >= 0; t--) {
    const row = base + (t + 1) * stride;
    const next = (t + 1) * K;
    for (let j = 0; j < K; j++) tmp[j] = em[row + j]! + beta[next + j]!;
    for (let i = 0; i < K; i++) {
      let m = -Infinity;
      for (let j = 0; j < K; j++) {
        const x = A[i * K + j]! + tmp[j]!;
        if (x > m) m = x;
      }
      let acc = 0;
      if (m !== -Infinity) for (let j = 0; j < K; j++) acc += Math.exp(A[i * K + j]! + tmp[j]! - m);
      beta[t * K + i] = m === -Infinity ? -Infinity : m + Math.log(acc);
    }
  }
}

/** score(y) with the effective (constrained) parameters; −∞ if y uses a disallowed move. */
function pathScore(v: View, p: Effective, tags: ArrayLike<number>, tagBase: number, tagStride: number): number {
  const { K, A, s, e } = p;
  const { em, base, stride, T } = v;
  let prev = -1;
  let score = 0;
  for (let t = 0; t < T; t++) {
    const y = tags[tagBase + t * tagStride]!;
    if (!Number.isInteger(y) || y < 0 || y >= K) throw new Error(`tag ${y} at position ${t} is not in [0, ${K})`);
    score += em[base + t * stride + y]!;
    score += t === 0 ? s[y]! : A[prev * K + y]!;
    prev = y;
  }
  return score + e[prev]!;
}

/**
 * The unary part of the NLL's gradient, γ_t(j) − [j = y_t] (γ = marginal(t·K + j)), times
 * `scale`, into the emissions and, at the first and last step, the start and end scores.
 */
function addUnaryGrads(v: View, K: number, grads: CrfGrads, scale: number, tagAt: (t: number) => number, marginal: (i: number) => number): void {
  const { base, stride, T } = v;
  for (let t = 0; t < T; t++) {
    const y = tagAt(t);
    for (let j = 0; j < K; j++) {
      const g = marginal(t * K + j) - (j === y ? 1 : 0);
      if (grads.emissions) grads.emissions[base + t * stride + j]! += scale * g;
      if (t === 0 && grads.start) grads.start[j]! += scale * g;
      if (t === T - 1 && grads.end) grads.end[j]! += scale * g;
    }
  }
}

/**
 * nllOne in log space: log-sum-exp recursions (forward, backward) and marginals, ~3K²
 * exponentials a step, exact for scores of any size. `gEm` is indexed like `v.em`.
 */
function nllLogSpace(v: View, p: Effective, gold: number, tagAt: (t: number) => number, grads: CrfGrads | undefined, scale: number, w: Work, where: string): number {
  const { alpha, beta } = w;
  const { K, A } = p;
  const { em, base, stride, T } = v;
  const logZ = forward(v, p, alpha);
  if (logZ === -Infinity) throw new Error(`${where}: no tag path is allowed by the constraints`);
  const nll = logZ - gold;
  if (grads === undefined || (!grads.emissions && !grads.transitions && !grads.start && !grads.end)) return nll;

  backward(v, p, beta);
  addUnaryGrads(v, K, grads, scale, tagAt, (i) => Math.exp(alpha[i]! + beta[i]! - logZ));
  // Pairwise marginals ξ_t(i, j) for the transitions.
  if (grads.transitions) {
    const gA = grads.transitions;
    for (let t = 1; t < T; t++) {
      const row = base + t * stride;
      for (let i = 0; i < K; i++) {
        const ai = alpha[(t - 1) * K + i]!;
        if (ai === -Infinity) continue;
        for (let j = 0; j < K; j++) {
          const x = ai + A[i * K + j]! + em[row + j]! + beta[t * K + j]! - logZ;
          if (x !== -Infinity) gA[i * K + j]! += scale * Math.exp(x);
        }
      }
      gA[tagAt(t - 1) * K + tagAt(t)]! -= scale;
    }
  }
  return nll;
}

/**
 * NLL of one sentence (already validated) and gradient accumulation with factor `scale`.
 * `gEm` is indexed like `v.em`.
 *
 * The forward-backward here runs scaled, in probabilities rather than logs (Rabiner 1989): with
 * x_t(j) = exp(em_t(j) − m_t) (m_t the step's largest emission) and the tables' exponentials
 * (scaled), α̂_t = (x_t ⊙ (α̂_{t−1}·exp A)) / c_t, each step normalised to sum 1 by c_t, and
 * log Z = Σ_t (log c_t + m_t) + (T − 1)·max A + max s + max e + log Σ_j α̂_{T−1}(j)·exp e_j;
 * β̂ runs back with the same c_t, so that γ_t(j) = α̂_t(j)·β̂_t(j) / z and ξ_t(i, j) =
 * α̂_{t−1}(i)·exp A_ij·x_t(j)·β̂_t(j) / (c_t·z). K exponentials a step instead of ~3K² for
 * the log-space recursions (crfLogPartition, crfMarginals), the same values to rounding (a
 * test compares them); probabilities 745 nats below a step's likeliest vanish to 0 here.
 */
function nllOne(
  v: View,
  p: Effective,
  tags: ArrayLike<number>,
  tagBase: number,
  tagStride: number,
  grads: CrfGrads | undefined,
  scale: number,
  w: Work,
  where: string,
): number {
  const { K } = p;
  const { em, base, stride, T } = v;
  if (T === 0) return 0;
  const gold = pathScore(v, p, tags, tagBase, tagStride);
  if (gold === -Infinity) throw new Error(`${where}: the gold tag path uses a disallowed transition, start or end tag`);
  const tagAt = (t: number): number => tags[tagBase + t * tagStride]!;
  const logSpace = (): number => nllLogSpace(v, p, gold, tagAt, grads, scale, w, where);
  const E = scaled(p), eA = E.A, { alpha, beta, x, c } = w;
  if (E.lossy) return logSpace();
  // reach[j]: some allowed path ends in tag j at this step (exactly, whatever underflows).
  const reach = w.reach;
  let logZ = E.mS + E.mE + (T - 1) * E.mA;
  for (let t = 0; t < T; t++) {
    const row = base + t * stride, o = t * K;
    let m = -Infinity;
    for (let j = 0; j < K; j++) if (em[row + j]! > m) m = em[row + j]!;
    for (let j = 0; j < K; j++) x[o + j] = Math.exp(em[row + j]! - m);
    let sum = 0;
    if (t === 0) {
      for (let j = 0; j < K; j++) {
        sum += (alpha[j] = E.s[j]! * x[j]!);
        reach[j] = E.s[j]! > 0 ? 1 : 0;
      }
    } else {
      const prev = o - K;
      for (let j = 0; j < K; j++) { alpha[o + j] = 0; reach[K + j] = 0; }
      for (let i = 0; i < K; i++) {
        const ai = alpha[prev + i]!;
        if (reach[i]) for (let j = 0; j < K; j++) if (eA[i * K + j]! > 0) reach[K + j] = 1;
        if (ai === 0) continue;
        for (let j = 0; j < K; j++) alpha[o + j]! += ai * eA[i * K + j]!;
      }
      reach.copyWithin(0, K, 2 * K);
      for (let j = 0; j < K; j++) sum += (alpha[o + j]! *= x[o + j]!);
    }
    if (!(sum > 0)) {
      if (reach.subarray(0, K).includes(1)) return logSpace();
      throw new Error(`${where}: no tag path is allowed by the constraints`);
    }
    c[t] = sum;
    for (let j = 0; j < K; j++) {
      alpha[o + j]! /= sum;
      // A tag some path reaches, scaled down to where a double loses digits (its probability
      // ~690 nats below the step's likeliest): log space, where nothing is lost, decides.
      if (reach[j] && alpha[o + j]! < TINY) return logSpace();
    }
    logZ += m + Math.log(sum);
  }
  const last = (T - 1) * K;
  let z = 0;
  for (let j = 0; j < K; j++) z += alpha[last + j]! * E.e[j]!;
  if (!(z > 0)) throw new Error(`${where}: no tag path is allowed by the constraints`);
  logZ += Math.log(z);
  const nll = logZ - gold;
  if (grads === undefined || (!grads.emissions && !grads.transitions && !grads.start && !grads.end)) return nll;

  for (let i = 0; i < K; i++) beta[last + i] = E.e[i]!;
  for (let t = T - 2; t >= 0; t--) {
    const next = (t + 1) * K, ct = c[t + 1]!;
    let check = 0;
    for (let i = 0; i < K; i++) {
      let acc = 0;
      for (let j = 0; j < K; j++) acc += eA[i * K + j]! * x[next + j]! * beta[next + j]!;
      check += alpha[t * K + i]! * (beta[t * K + i] = acc / ct);
    }
    // Σ_i α̂_t(i)·β̂_t(i) = z at every step: a backward that lost mass to underflow shows here.
    if (!(Math.abs(check - z) <= 1e-10 * z)) return logSpace();
  }
  addUnaryGrads(v, K, grads, scale, tagAt, (i) => (alpha[i]! * beta[i]!) / z);
  // Pairwise marginals ξ_t(i, j) for the transitions.
  if (grads.transitions) {
    const gA = grads.transitions;
    for (let t = 1; t < T; t++) {
      const o = t * K, f = scale / (c[t]! * z);
      for (let i = 0; i < K; i++) {
        const ai = alpha[o - K + i]! * f;
        if (ai === 0) continue;
        for (let j = 0; j < K; j++) gA[i * K + j]! += ai * eA[i * K + j]! * x[o + j]! * beta[o + j]!;
      }
      gA[tagAt(t - 1) * K + tagAt(t)]! -= scale;
    }
  }
  return nll;
}

function sentenceT(emissions: ArrayLike<number>, K: number): number {
  if (emissions.length % K !== 0) throw new Error(`emissions length ${emissions.length} is not a multiple of K = ${K}`);
  return emissions.length / K;
}

// ---------------------------------------------------------------------------------
// Public API: one sentence, emissions (T, K)
// ---------------------------------------------------------------------------------

/** log Z for one sentence. Returns −∞ if the constraints allow no path (T = 0 gives 0). */
export function crfLogPartition(emissions: ArrayLike<number>, K: number, params: CrfParams, opts: CrfOptions = {}): number {
  const p = effective(K, params, opts.constraints);
  const T = sentenceT(emissions, K);
  if (T === 0) return 0;
  return forward({ em: emissions, base: 0, stride: K, T }, p, new Float64Array(T * K));
}

/** score(y) for one sentence (−∞ if y uses a move the constraints forbid). */
export function crfPathScore(emissions: ArrayLike<number>, tags: ArrayLike<number>, K: number, params: CrfParams, opts: CrfOptions = {}): number {
  const p = effective(K, params, opts.constraints);
  const T = sentenceT(emissions, K);
  if (tags.length !== T) throw new Error(`tags has length ${tags.length}, expected T = ${T}`);
  if (T === 0) return 0;
  return pathScore({ em: emissions, base: 0, stride: K, T }, p, tags, 0, 1);
}

/**
 * Negative log-likelihood log Z − score(tags) of one sentence; accumulates its exact
 * gradient into `opts.grads`. Throws if the gold path is forbidden by the constraints.
 */
export function crfNll(emissions: ArrayLike<number>, tags: ArrayLike<number>, K: number, params: CrfParams, opts: CrfNllOptions = {}): number {
  const p = effective(K, params, opts.constraints);
  const T = sentenceT(emissions, K);
  if (tags.length !== T) throw new Error(`tags has length ${tags.length}, expected T = ${T}`);
  checkGrads(opts.grads, emissions.length, K);
  return nllOne({ em: emissions, base: 0, stride: K, T }, p, tags, 0, 1, opts.grads, 1, newWork(T, K), 'crfNll');
}

/** Posterior marginals p(y_t = k) as a (T, K) Float64Array. */
export function crfMarginals(emissions: ArrayLike<number>, K: number, params: CrfParams, opts: CrfOptions = {}): Float64Array {
  const p = effective(K, params, opts.constraints);
  const T = sentenceT(emissions, K);
  const out = new Float64Array(T * K);
  if (T === 0) return out;
  const v = { em: emissions, base: 0, stride: K, T };
  const alpha = new Float64Array(T * K);
  const beta = new Float64Array(T * K);
  const logZ = forward(v, p, alpha);
  if (logZ === -Infinity) throw new Error('crfMarginals: no tag path is allowed by the constraints');
  backward(v, p, beta);
  for (let i = 0; i < T * K; i++) out[i] = Math.exp(alpha[i]! + beta[i]! - logZ);
  return out;
}

export interface ViterbiResult {
  path: Int32Array;
  score: number;
}

function viterbiOne(v: View, p: Effective, delta: Float64Array, back: Int32Array): ViterbiResult {
  const { K, A, s, e } = p;
  const { em, base, stride, T } = v;
  const path = new Int32Array(T);
  if (T === 0) return { path, score: 0 };
  for (let j = 0; j < K; j++) delta[j] = s[j]! + em[base + j]!;
  for (let t = 1; t < T; t++) {
    const row = base + t * stride;
    for (let j = 0; j < K; j++) {
      let best = -Infinity;
      let arg = 0;
      for (let i = 0; i < K; i++) {
        const x = delta[(t - 1) * K + i]! + A[i * K + j]!;
        if (x > best) {
          best = x;
          arg = i;
        }
      }
      delta[t * K + j] = best + em[row + j]!;
      back[t * K + j] = arg;
    }
  }
  let best = -Infinity;
  let arg = 0;
  for (let j = 0; j < K; j++) {
    const x = delta[(T - 1) * K + j]! + e[j]!;
    if (x > best) {
      best = x;
      arg = j;
    }
  }
  if (best === -Infinity) throw new Error('crfViterbi: no tag path is allowed by the constraints');
  path[T - 1] = arg;
  for (let t = T - 1; t > 0; t--) path[t - 1] = back[t * K + path[t]!]!;
  return { path, score: best };
}

/** Best tag path of one sentence and its score. Never uses a forbidden move. */
export function crfViterbi(emissions: ArrayLike<number>, K: number, params: CrfParams, opts: CrfOptions = {}): ViterbiResult {
  const p = effective(K, params, opts.constraints);
  const T = sentenceT(emissions, K);
  return viterbiOne({ em: emissions, base: 0, stride: K, T }, p, new Float64Array(T * K), new Int32Array(T * K));
}

// ---------------------------------------------------------------------------------
// Public API: batch, emissions (T, B, K), tags (T, B), lengths (B)
// ---------------------------------------------------------------------------------

function batchDims(emissions: ArrayLike<number>, lengths: ArrayLike<number>, K: number): { T: number; B: number } {
  const B = lengths.length;
  if (B === 0) return { T: 0, B };
  if (emissions.length % (B * K) !== 0) throw new Error(`emissions length ${emissions.length} is not a multiple of B·K = ${B}·${K}`);
  const T = emissions.length / (B * K);
  for (let b = 0; b < B; b++) {
    const L = lengths[b]!;
    if (!Number.isInteger(L) || L < 0 || L > T) throw new Error(`lengths[${b}] = ${L} is not an integer in [0, ${T}]`);
  }
  return { T, B };
}

function checkGrads(g: CrfGrads | undefined, emLen: number, K: number): void {
  if (!g) return;
  checkLen(g.emissions, emLen, 'grads.emissions');
  checkLen(g.transitions, K * K, 'grads.transitions');
  checkLen(g.start, K, 'grads.start');
  checkLen(g.end, K, 'grads.end');
}

/**
 * Batched NLL (sum or mean over the B sentences) with gradient accumulation.
 * Sentences of length 0 contribute 0.
 */
export function crfNllBatch(
  emissions: ArrayLike<number>,
  tags: ArrayLike<number>,
  lengths: ArrayLike<number>,
  K: number,
  params: CrfParams,
  opts: CrfBatchNllOptions = {},
): number {
  const p = effective(K, params, opts.constraints);
  const { T, B } = batchDims(emissions, lengths, K);
  if (B === 0) return 0;
  if (tags.length !== T * B) throw new Error(`tags has length ${tags.length}, expected T·B = ${T * B}`);
  checkGrads(opts.grads, emissions.length, K);
  const reduction = opts.reduction ?? 'sum';
  if (reduction !== 'sum' && reduction !== 'mean') throw new Error(`unknown reduction ${JSON.stringify(reduction)}`);
  const scale = reduction === 'mean' ? 1 / B : 1;
  const work = newWork(T, K);
  let total = 0;
  for (let b = 0; b < B; b++) {
    const v = { em: emissions, base: b * K, stride: B * K, T: lengths[b]! };
    total += nllOne(v, p, tags, b, B, opts.grads, scale, work, `crfNllBatch, sentence ${b}`);
  }
  return total * scale;
}

/** Viterbi for each sentence of a batch. */
export function crfViterbiBatch(
  emissions: ArrayLike<number>,
  lengths: ArrayLike<number>,
  K: number,
  params: CrfParams,
  opts: CrfOptions = {},
): { paths: Int32Array[]; scores: Float64Array } {
  const p = effective(K, params, opts.constraints);
  const { T, B } = batchDims(emissions, lengths, K);
  const delta = new Float64Array(T * K);
  const back = new Int32Array(T * K);
  const paths: Int32Array[] = [];
  const scores = new Float64Array(B);
  for (let b = 0; b < B; b++) {
    const r = viterbiOne({ em: emissions, base: b * K, stride: B * K, T: lengths[b]! }, p, delta, back);
    paths.push(r.path);
    scores[b] = r.score;
  }
  return { paths, scores };
}
