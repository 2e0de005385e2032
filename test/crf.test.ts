// Linear-chain CRF: log partition, NLL gradient, marginals and Viterbi against brute force.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  crfLogPartition,
  crfMarginals,
  crfNll,
  crfNllBatch,
  crfPathScore,
  crfViterbi,
  crfViterbiBatch,
  type CrfConstraints,
  type CrfParams,
} from '../src/models/crf.js';
import { allowedTransitions } from '../src/data/tags.js';
import { rng, type Rng } from '../src/tensor/rng.js';

function randArray(r: Rng, n: number, scale = 1): Float64Array {
  const a = new Float64Array(n);
  for (let i = 0; i < n; i++) a[i] = r.uniform(-scale, scale);
  return a;
}

function randParams(r: Rng, K: number, scale = 1): { transitions: Float64Array; start: Float64Array; end: Float64Array } {
  return { transitions: randArray(r, K * K, scale), start: randArray(r, K, scale), end: randArray(r, K, scale) };
}

/** All K^T tag paths. */
function* allPaths(T: number, K: number): Generator<number[]> {
  const y = new Array<number>(T).fill(0);
  if (T === 0) {
    yield [];
    return;
  }
  for (;;) {
    yield [...y];
    let t = T - 1;
    while (t >= 0 && ++y[t]! === K) y[t--] = 0;
    if (t < 0) return;
  }
}

/** score(y) by its definition, with −∞ for moves the constraints forbid. */
function bruteScore(em: ArrayLike<number>, y: number[], K: number, p: CrfParams, c?: CrfConstraints): number {
  let s = 0;
  for (let t = 0; t < y.length; t++) {
    s += em[t * K + y[t]!]!;
    if (t === 0) s += c?.start && !c.start[y[0]!] ? -Infinity : p.start[y[0]!]!;
    else s += c?.transitions && !c.transitions[y[t - 1]! * K + y[t]!] ? -Infinity : p.transitions[y[t - 1]! * K + y[t]!]!;
  }
  const last = y[y.length - 1]!;
  return s + (c?.end && !c.end[last] ? -Infinity : p.end[last]!);
}

function bruteLogZ(em: ArrayLike<number>, T: number, K: number, p: CrfParams, c?: CrfConstraints): number {
  const scores = [...allPaths(T, K)].map((y) => bruteScore(em, y, K, p, c));
  const m = Math.max(...scores);
  if (m === -Infinity) return -Infinity;
  return m + Math.log(scores.reduce((a, s) => a + Math.exp(s - m), 0));
}

function randomConstraints(r: Rng, K: number): CrfConstraints {
  const c = { transitions: new Uint8Array(K * K), start: new Uint8Array(K), end: new Uint8Array(K) };
  for (let i = 0; i < K * K; i++) c.transitions[i] = r.next() < 0.65 ? 1 : 0;
  for (let i = 0; i < K; i++) {
    c.start[i] = r.next() < 0.7 ? 1 : 0;
    c.end[i] = r.next() < 0.7 ? 1 : 0;
  }
  c.start[0] = 1;
  c.end[0] = 1;
  c.transitions[0] = 1; // path 0,0,...,0 always allowed
  return c;
}

test('log partition equals brute-force enumeration over all K^T paths', () => {
  const r = rng(1);
  for (const [T, K] of [[1, 1], [1, 3], [2, 2], [3, 3], [4, 3], [5, 2], [3, 4]] as const) {
    for (let rep = 0; rep < 3; rep++) {
      const em = randArray(r, T * K, 3);
      const p = randParams(r, K, 2);
      const got = crfLogPartition(em, K, p);
      const want = bruteLogZ(em, T, K, p);
      assert.ok(Math.abs(got - want) < 1e-12 * Math.max(1, Math.abs(want)), `T=${T} K=${K}: ${got} vs ${want}`);
      // with constraints: the sum runs over allowed paths only
      const c = randomConstraints(r, K);
      const gc = crfLogPartition(em, K, p, { constraints: c });
      const wc = bruteLogZ(em, T, K, p, c);
      assert.ok(Math.abs(gc - wc) < 1e-12 * Math.max(1, Math.abs(wc)), `constrained T=${T} K=${K}: ${gc} vs ${wc}`);
    }
  }
  assert.equal(crfLogPartition(new Float64Array(0), 3, randParams(r, 3)), 0);
});

test('log partition is stable for large scores (logsumexp)', () => {
  const K = 3;
  const T = 4;
  const em = new Float64Array(T * K).fill(1000);
  const p = { transitions: new Float64Array(K * K).fill(500), start: new Float64Array(K), end: new Float64Array(K) };
  // all 3^4 paths score 4·1000 + 3·500 → log Z = 5500 + 4·log 3
  const z = crfLogPartition(em, K, p);
  assert.ok(Math.abs(z - (5500 + 4 * Math.log(3))) < 1e-9, String(z));
  em.fill(-1e4);
  assert.ok(Number.isFinite(crfLogPartition(em, K, p)));
});

test('NLL = log Z − score(gold) and marginals vs brute force', () => {
  const r = rng(2);
  const T = 4;
  const K = 3;
  const em = randArray(r, T * K, 2);
  const p = randParams(r, K);
  const y = [2, 0, 1, 1];
  const nll = crfNll(em, Int32Array.from(y), K, p);
  assert.ok(Math.abs(nll - (bruteLogZ(em, T, K, p) - bruteScore(em, y, K, p))) < 1e-12);
  assert.ok(Math.abs(crfPathScore(em, y, K, p) - bruteScore(em, y, K, p)) < 1e-12);
  // marginals p(y_t = k) by enumeration
  const logZ = bruteLogZ(em, T, K, p);
  const want = new Float64Array(T * K);
  for (const path of allPaths(T, K)) {
    const w = Math.exp(bruteScore(em, path, K, p) - logZ);
    path.forEach((k, t) => (want[t * K + k]! += w));
  }
  const got = crfMarginals(em, K, p);
  for (let i = 0; i < T * K; i++) assert.ok(Math.abs(got[i]! - want[i]!) < 1e-12, `marginal ${i}`);
});

test('the training NLL (scaled forward-backward) equals the log-space log Z − score and its emission gradient the log-space marginals − one-hot, for scores of every size and with constraints', () => {
  const r = rng(21);
  const K = 5, T = 12;
  const c: CrfConstraints = { transitions: Array.from({ length: K * K }, (_, i) => i % 7 !== 3), start: [true, true, false, true, true], end: [true, false, true, true, true] };
  const y = Int32Array.from([0, 1, 1, 2, 0, 4, 4, 1, 2, 2, 0, 4]);
  for (const [scale, constraints] of [[1, undefined], [30, undefined], [800, undefined], [5, c], [600, c]] as const) {
    const em = randArray(r, T * K, scale), p = randParams(r, K);
    for (let i = 0; i < K * K; i++) p.transitions[i]! *= scale / 2;
    if (crfPathScore(em, y, K, p, { constraints }) === -Infinity) continue;
    const g = new Float64Array(T * K), gA = new Float64Array(K * K);
    const nll = crfNll(em, y, K, p, { constraints, grads: { emissions: g, transitions: gA } });
    const want = crfLogPartition(em, K, p, { constraints }) - crfPathScore(em, y, K, p, { constraints });
    assert.ok(Math.abs(nll - want) <= 1e-9 * Math.max(1, Math.abs(want)), `scale ${scale}: ${nll} vs ${want}`);
    const m = crfMarginals(em, K, p, { constraints });
    for (let t = 0; t < T; t++) {
      for (let k = 0; k < K; k++) {
        const w = m[t * K + k]! - (y[t] === k ? 1 : 0);
        assert.ok(Math.abs(g[t * K + k]! - w) <= 1e-9, `scale ${scale} ${constraints ? 'constrained' : ''}: dE[${t}, ${k}] ${g[t * K + k]} vs ${w}`);
      }
    }
    // Each step's pairwise marginals sum to 1: the transitions' gradient sums to (T − 1) − (T − 1).
    assert.ok(Math.abs(gA.reduce((a, b) => a + b, 0)) <= 1e-9, `scale ${scale}: Σ dA`);
  }
});

/** Central finite differences of f w.r.t. every entry of x (perturbed in place). */
function fd(x: Float64Array, f: () => number, eps = 1e-6): Float64Array {
  const g = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]!;
    x[i] = v + eps;
    const a = f();
    x[i] = v - eps;
    const b = f();
    x[i] = v;
    g[i] = (a - b) / (2 * eps);
  }
  return g;
}

function assertGradClose(got: ArrayLike<number>, want: ArrayLike<number>, what: string): void {
  assert.equal(got.length, want.length);
  for (let i = 0; i < got.length; i++) {
    assert.ok(Math.abs(got[i]! - want[i]!) <= 1e-7 + 1e-6 * Math.abs(want[i]!), `${what}[${i}]: ${got[i]} vs ${want[i]}`);
  }
}

test('NLL gradient vs finite differences (float64), with and without constraints', () => {
  const r = rng(3);
  for (const constrained of [false, true]) {
    const T = 5;
    const K = 4;
    const em = randArray(r, T * K, 2);
    const p = randParams(r, K);
    const c = constrained ? randomConstraints(r, K) : undefined;
    const y = Int32Array.from({ length: T }, () => 0); // the all-0 path is allowed by randomConstraints
    if (!constrained) for (let t = 0; t < T; t++) y[t] = r.int(K);
    const opts = c ? { constraints: c } : {};
    const grads = { emissions: new Float64Array(T * K), transitions: new Float64Array(K * K), start: new Float64Array(K), end: new Float64Array(K) };
    const nll = crfNll(em, y, K, p, { ...opts, grads });
    assert.ok(nll > 0);
    const f = (): number => crfNll(em, y, K, p, opts);
    assertGradClose(grads.emissions, fd(em, f), 'dEmissions');
    assertGradClose(grads.transitions, fd(p.transitions, f), 'dTransitions');
    assertGradClose(grads.start, fd(p.start, f), 'dStart');
    assertGradClose(grads.end, fd(p.end, f), 'dEnd');
    if (c) for (let i = 0; i < K * K; i++) if (!c.transitions![i]) assert.equal(grads.transitions[i], 0, 'disallowed transition has zero gradient');
    // Gradients accumulate: a second call doubles them.
    const before = Float64Array.from(grads.emissions);
    crfNll(em, y, K, p, { ...opts, grads });
    for (let i = 0; i < T * K; i++) assert.ok(Math.abs(grads.emissions[i]! - 2 * before[i]!) < 1e-12);
  }
});

test('batched NLL (T, B, K) with lengths equals per-sentence NLL; gradients and mean reduction', () => {
  const r = rng(4);
  const K = 3;
  const lengths = Int32Array.from([4, 1, 0, 3]);
  const B = lengths.length;
  const T = 4;
  const p = randParams(r, K);
  const em = randArray(r, T * B * K, 2);
  const tags = Int32Array.from({ length: T * B }, () => r.int(K));
  const grads = { emissions: new Float64Array(T * B * K), transitions: new Float64Array(K * K), start: new Float64Array(K), end: new Float64Array(K) };
  const total = crfNllBatch(em, tags, lengths, K, p, { grads });
  let sum = 0;
  const gT = new Float64Array(K * K);
  for (let b = 0; b < B; b++) {
    const L = lengths[b]!;
    const e1 = new Float64Array(L * K);
    const y1 = new Int32Array(L);
    for (let t = 0; t < L; t++) {
      for (let k = 0; k < K; k++) e1[t * K + k] = em[(t * B + b) * K + k]!;
      y1[t] = tags[t * B + b]!;
    }
    const g1 = new Float64Array(L * K);
    sum += crfNll(e1, y1, K, p, { grads: { emissions: g1, transitions: gT } });
    for (let t = 0; t < L; t++) for (let k = 0; k < K; k++) assert.ok(Math.abs(grads.emissions[(t * B + b) * K + k]! - g1[t * K + k]!) < 1e-12);
    for (let t = L; t < T; t++) for (let k = 0; k < K; k++) assert.equal(grads.emissions[(t * B + b) * K + k], 0, 'padding has no gradient');
  }
  assert.ok(Math.abs(total - sum) < 1e-12);
  assertGradClose(grads.transitions, gT, 'batched dTransitions');
  // finite differences through the batched function, mean reduction
  const f = (): number => crfNllBatch(em, tags, lengths, K, p, { reduction: 'mean' });
  assert.ok(Math.abs(f() - sum / B) < 1e-12);
  const gm = { emissions: new Float64Array(T * B * K), transitions: new Float64Array(K * K), start: new Float64Array(K), end: new Float64Array(K) };
  crfNllBatch(em, tags, lengths, K, p, { reduction: 'mean', grads: gm });
  assertGradClose(gm.emissions, fd(em, f), 'mean dEmissions');
  assertGradClose(gm.start, fd(p.start, f), 'mean dStart');
  assertGradClose(gm.end, fd(p.end, f), 'mean dEnd');
  assertGradClose(gm.transitions, fd(p.transitions, f), 'mean dTransitions');
});

test('Float32 inputs and gradients work (math in float64)', () => {
  const r = rng(5);
  const T = 3;
  const K = 3;
  const em64 = randArray(r, T * K);
  const p64 = randParams(r, K);
  const em32 = Float32Array.from(em64);
  const p32 = { transitions: Float32Array.from(p64.transitions), start: Float32Array.from(p64.start), end: Float32Array.from(p64.end) };
  const y = Int32Array.from([0, 2, 1]);
  const g32 = { emissions: new Float32Array(T * K) };
  const g64 = { emissions: new Float64Array(T * K) };
  const a = crfNll(em32, y, K, p32, { grads: g32 });
  const b = crfNll(em64, y, K, p64, { grads: g64 });
  assert.ok(Math.abs(a - b) < 1e-5);
  for (let i = 0; i < T * K; i++) assert.ok(Math.abs(g32.emissions[i]! - g64.emissions[i]!) < 1e-5);
  assert.deepEqual([...crfViterbi(em32, K, p32).path], [...crfViterbi(em64, K, p64).path]);
});

function bruteViterbi(em: ArrayLike<number>, T: number, K: number, p: CrfParams, c?: CrfConstraints): { path: number[]; score: number } {
  let best = { path: [] as number[], score: -Infinity };
  for (const y of allPaths(T, K)) {
    const s = bruteScore(em, y, K, p, c);
    if (s > best.score) best = { path: y, score: s };
  }
  return best;
}

test('Viterbi equals the brute-force argmax (with and without constraints)', () => {
  const r = rng(6);
  for (let rep = 0; rep < 60; rep++) {
    const T = 1 + r.int(5);
    const K = 1 + r.int(4);
    const em = randArray(r, T * K, 3);
    const p = randParams(r, K, 2);
    const c = rep % 2 === 1 ? randomConstraints(r, K) : undefined;
    const got = crfViterbi(em, K, p, c ? { constraints: c } : {});
    const want = bruteViterbi(em, T, K, p, c);
    assert.deepEqual([...got.path], want.path, `T=${T} K=${K}`);
    assert.ok(Math.abs(got.score - want.score) < 1e-12);
    assert.ok(Math.abs(got.score - crfPathScore(em, got.path, K, p, c ? { constraints: c } : {})) < 1e-12);
  }
});

test('constraints from a tag scheme are respected by Viterbi; forbidden gold paths are rejected', () => {
  const labels = ['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'];
  const K = labels.length;
  const tab = allowedTransitions(labels, 'IOB2');
  const r = rng(7);
  const p = { transitions: new Float64Array(K * K), start: new Float64Array(K), end: new Float64Array(K) };
  // Emissions that strongly prefer I- tags everywhere (an unconstrained decoder would output I-PER I-LOC ...).
  const T = 6;
  const em = randArray(r, T * K, 0.5);
  for (let t = 0; t < T; t++) {
    em[t * K + 2]! += 10;
    em[t * K + 4]! += t % 2 === 0 ? 11 : 0;
  }
  const free = crfViterbi(em, K, p).path;
  assert.equal(labels[free[0]!]!.startsWith('I-'), true, 'unconstrained path starts with I-');
  const { path } = crfViterbi(em, K, p, { constraints: tab });
  const tags = [...path].map((k) => labels[k]!);
  assert.ok(tab.start[path[0]!], tags.join(' '));
  for (let t = 1; t < T; t++) assert.ok(tab.transitions[path[t - 1]! * K + path[t]!], tags.join(' '));
  assert.deepEqual(path, Int32Array.from(bruteViterbi(em, T, K, p, tab).path));
  // Batched Viterbi gives the same per sentence.
  const B = 2;
  const emB = new Float64Array(T * B * K);
  for (let t = 0; t < T; t++) for (let k = 0; k < K; k++) {
    emB[(t * B + 0) * K + k] = em[t * K + k]!;
    emB[(t * B + 1) * K + k] = -em[t * K + k]!;
  }
  const vb = crfViterbiBatch(emB, Int32Array.from([T, 3]), K, p, { constraints: tab });
  assert.deepEqual(vb.paths[0], path);
  assert.equal(vb.paths[1]!.length, 3);
  // A gold path that breaks the scheme (O → I-PER) is an error, not a silent +∞ loss.
  assert.throws(() => crfNll(em, Int32Array.from([0, 2, 2, 0, 0, 0]), K, p, { constraints: tab }), /disallowed/);
  // Probability mass of forbidden moves is exactly zero.
  const m = crfMarginals(em, K, p, { constraints: tab });
  assert.equal(m[0 * K + 2], 0); // I-PER cannot start a sentence
  assert.equal(m[0 * K + 4], 0);
});

test('argument checks', () => {
  const p = { transitions: new Float64Array(4), start: new Float64Array(2), end: new Float64Array(2) };
  assert.throws(() => crfLogPartition(new Float64Array(5), 2, p), /multiple of K/);
  assert.throws(() => crfNll(new Float64Array(4), [0], 2, p), /expected T = 2/);
  assert.throws(() => crfNll(new Float64Array(4), [0, 2], 2, p), /not in \[0, 2\)/);
  assert.throws(() => crfLogPartition(new Float64Array(4), 2, { ...p, start: new Float64Array(3) }), /start has length 3/);
  assert.throws(() => crfNllBatch(new Float64Array(8), new Int32Array(4), [3, 1], 2, p), /lengths\[0\] = 3/);
  assert.throws(() => crfViterbi(new Float64Array(4), 2, p, { constraints: { start: [0, 0] } }), /no tag path/);
});
