// The comparative experiment: task generators, parameter matching, the gradient-flow and
// Jacobian measurements (against finite differences and known answers), the SVG charts, and a
// tiny end-to-end `compare` run that writes the report.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, existsSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { GRU, LSTM, RNN, Tensor, type Recurrent } from '../src/index.js';
import { Embedding } from '../src/layers/core.js';
import {
  ADDING_BASELINE_MSE, copyBaselineLoss, copyLayout, copyRecallAccuracy, makeAdding, makeCopy,
} from '../src/apps/tasks.js';
import {
  cellDependentParams, DEFAULT_COMPARE, matchHidden, rebuildClaims, recurrentParams, runCompare, solveHidden, type CellName, type CompareConfig,
} from '../src/apps/compare.js';
import { recurrentCharModel, DEFAULT_CHARRNN } from '../src/apps/charrnn.js';
import {
  backpropByStep, gradientFlow, headGradient, jacobianSpectrum, modelProbe, probeCopy, runStepwise, singularValues, stateJacobian, type Head,
} from '../src/apps/gradflow.js';
import { compareReport, lineChart, logTicks, niceTicks, renderHtml } from '../src/apps/report.js';
import { parseCompareArgs, readCompareResults, writeCompareOutputs } from '../src/cli/compare.js';
import { orthogonal } from '../src/tensor/init.js';
import { rng } from '../src/tensor/rng.js';
import { assertClose, randomArray } from './helpers.js';

// ---------------------------------------------------------------------------------------------
// Task generators

test('adding problem: two markers (one per half) and the target is the sum of the marked values', () => {
  for (const T of [2, 3, 10, 51]) {
    const d = makeAdding(200, T, 5);
    assert.equal(d.x.length, 200 * T * 2);
    const half = Math.floor(T / 2);
    for (let i = 0; i < d.n; i++) {
      const marked: number[] = [];
      for (let t = 0; t < T; t++) {
        const v = d.x[(i * T + t) * 2]!, m = d.x[(i * T + t) * 2 + 1]!;
        assert.ok(v >= 0 && v < 1, `value in [0, 1): ${v}`);
        assert.ok(m === 0 || m === 1);
        if (m === 1) marked.push(t);
      }
      assert.equal(marked.length, 2, `exactly two markers in sequence ${i}`);
      assert.ok(marked[0]! < half && marked[1]! >= half, `one marker per half (T=${T}): ${marked}`);
      assert.deepEqual(marked, [d.marks[2 * i], d.marks[2 * i + 1]]);
      const sum = d.x[(i * T + marked[0]!) * 2]! + d.x[(i * T + marked[1]!) * 2]!;
      assert.equal(d.y[i], Math.fround(sum));
    }
  }
  assert.deepEqual(makeAdding(5, 8, 1).x, makeAdding(5, 8, 1).x, 'deterministic in the seed');
  assert.notDeepEqual(makeAdding(5, 8, 1).x, makeAdding(5, 8, 2).x);
  // The baseline: predicting 1 gives MSE ≈ Var(U+U) = 1/6.
  const big = makeAdding(20000, 4, 9);
  let mse = 0;
  for (const y of big.y) mse += (y - 1) ** 2 / big.n;
  assert.ok(Math.abs(mse - ADDING_BASELINE_MSE) < 0.01, `baseline MSE ${mse}`);
  assert.throws(() => makeAdding(1, 1, 0), /length/);
});

test('copy task: symbols, delay with the delimiter last, recall targets at the end', () => {
  const S = 4, K = 5, delay = 7;
  const d = makeCopy(50, delay, 3, { symbols: S, alphabet: K });
  const lay = copyLayout(delay, { symbols: S, alphabet: K });
  assert.equal(d.L, delay + 2 * S);
  assert.equal(lay.L, d.L);
  assert.equal(d.recallStart, d.L - S);
  assert.equal(d.inputSize, K + 2);
  assert.equal(d.classes, K + 1);
  for (let i = 0; i < d.n; i++) {
    const ids = Array.from(d.ids.subarray(i * d.L, (i + 1) * d.L));
    const y = Array.from(d.y.subarray(i * d.L, (i + 1) * d.L));
    for (let t = 0; t < S; t++) assert.ok(ids[t]! >= 1 && ids[t]! <= K, 'symbols from the alphabet');
    for (let t = S; t < d.L; t++) assert.equal(ids[t], t === S + delay - 1 ? K + 1 : 0, `input at ${t}`);
    assert.equal(lay.delimiterAt, S + delay - 1);
    for (let t = 0; t < d.recallStart; t++) assert.equal(y[t], 0, 'blank targets before the recall');
    assert.deepEqual(y.slice(d.recallStart), ids.slice(0, S), 'the recall repeats the symbols');
    for (let t = 0; t < d.L; t++) {
      const row = Array.from(d.x.subarray((i * d.L + t) * (K + 2), (i * d.L + t + 1) * (K + 2)));
      assert.deepEqual(row, row.map((_, k) => (k === ids[t] ? 1 : 0)), 'one-hot input');
    }
  }
  assert.equal(copyBaselineLoss(delay, { symbols: S, alphabet: K }), (S * Math.log(K)) / d.L);
  // Recall accuracy: perfect predictions score 1; predicting blanks scores 0.
  const C = d.classes, perfect = new Float32Array(d.n * d.L * C), blank = new Float32Array(d.n * d.L * C);
  for (let r = 0; r < d.n * d.L; r++) { perfect[r * C + d.y[r]!] = 1; blank[r * C] = 1; }
  assert.equal(copyRecallAccuracy(perfect, d), 1);
  assert.equal(copyRecallAccuracy(blank, d), 0);
});

// ---------------------------------------------------------------------------------------------
// Parameter counting and matching

test('parameter formula equals the layers\' real parameter counts', () => {
  const make: Record<CellName, (o: { inputSize: number; hiddenSize: number; numLayers: number }) => Recurrent> = {
    lstm: (o) => new LSTM(o), gru: (o) => new GRU(o), rnn: (o) => new RNN(o),
  };
  for (const cell of ['rnn', 'lstm', 'gru'] as CellName[]) {
    for (const [I, H, L] of [[2, 64, 1], [64, 128, 1], [10, 7, 2], [3, 1, 3]] as const) {
      assert.equal(recurrentParams(cell, I, H, L), make[cell]({ inputSize: I, hiddenSize: H, numLayers: L }).params.size, `${cell} I=${I} H=${H} L=${L}`);
    }
    // A whole char model: embedding + recurrent + head.
    const V = 40, E = 16, H = 24;
    const m = recurrentCharModel(V, { ...DEFAULT_CHARRNN, cell, hidden: H, layers: 1, embed: E });
    const emb = m.layers.find((l) => l instanceof Embedding)!.params!.size;
    assert.equal(emb, V * E);
    assert.equal(m.countParams() - emb, cellDependentParams(cell, E, H, V), `char model ${cell}`);
  }
});

test('parameter matching: every cell within 3% of the LSTM, and the solved H is the closest integer', () => {
  for (const [I, U, H] of [[2, 1, 64], [64, 65, 128], [10, 9, 32], [64, 1, 64], [2, 1, 16]] as const) {
    const hid = matchHidden(['rnn', 'lstm', 'gru'], 'params', H, I, U);
    const target = cellDependentParams('lstm', I, H, U);
    assert.equal(hid.lstm, H);
    for (const c of ['rnn', 'gru'] as CellName[]) {
      const p = cellDependentParams(c, I, hid[c], U);
      assert.ok(Math.abs(p - target) / target < 0.03, `${c}: ${p} vs ${target} (I=${I} U=${U} H=${H})`);
      for (const other of [hid[c] - 1, hid[c] + 1]) {
        assert.ok(Math.abs(cellDependentParams(c, I, other, U) - target) >= Math.abs(p - target), `${c}: H=${hid[c]} is the closest`);
      }
      assert.equal(solveHidden(c, target, I, U), hid[c]);
    }
    assert.ok(hid.rnn > hid.gru && hid.gru > hid.lstm, 'fewer gates, wider layer');
    const same = matchHidden(['rnn', 'lstm', 'gru'], 'hidden', H, I, U);
    assert.deepEqual(same, { rnn: H, lstm: H, gru: H });
  }
});

// ---------------------------------------------------------------------------------------------
// Gradient flow against finite differences

const I = 3, H = 4, T = 6, B = 2;
function tinyCores(): Record<string, Recurrent> {
  const o = { inputSize: I, hiddenSize: H, dtype: 'float64' as const, init: 'pytorch' as const, seed: 21 };
  return {
    lstm: new LSTM(o), gru: new GRU(o), 'gru(resetAfter=false)': new GRU({ ...o, resetAfter: false }), rnn: new RNN(o),
    'lstm 2 layers': new LSTM({ ...o, numLayers: 2 }),
  };
}

/** L = Σ g·h_{T-1} (top layer), computed by running the steps after t from a given state. */
function suffixLoss(core: Recurrent, x: Float64Array, t0: number, h: Float64Array, c: Float64Array | null, g: Float64Array): number {
  const Ls = core.numLayers;
  if (t0 === T) {
    let s = 0;
    for (let i = 0; i < g.length; i++) s += g[i]! * h[i]!;
    return s;
  }
  const r = core.forward(new Tensor(x.slice(t0 * B * I), [T - t0, B, I]), { h0: new Tensor(h, [Ls, B, H]), c0: c ? new Tensor(c, [Ls, B, H]) : null });
  const hN = r.hN.data as Float64Array;
  let s = 0;
  for (let i = 0; i < g.length; i++) s += g[i]! * hN[i]!;
  return s;
}

for (const [name, core] of Object.entries(tinyCores())) {
  test(`gradient flow: ∂L/∂h_t (and ∂L/∂c_t) by stepwise BPTT equals finite differences (${name})`, () => {
    const Ls = core.numLayers, n = Ls * B * H;
    const x = randomArray(T * B * I, 3, 1) as Float64Array;
    const g = randomArray(n, 4, 1) as Float64Array; // dL/dh_{T-1} for L = Σ g·h_{T-1}
    const st = runStepwise(core, x, T, B);
    const grads = backpropByStep(core, x, st, g);
    const eps = 1e-6;
    for (let t = 0; t < T; t++) {
      // States after step t: h_t = st.h[t+1]; the loss depends on them through steps t+1..T-1.
      const fd = new Float64Array(n), fdc = new Float64Array(n);
      for (let k = 0; k < n; k++) {
        const hp = st.h[t + 1]!.slice(), hm = st.h[t + 1]!.slice();
        hp[k] += eps; hm[k] -= eps;
        const c = st.c ? st.c[t + 1]! : null;
        fd[k] = (suffixLoss(core, x, t + 1, hp, c, g) - suffixLoss(core, x, t + 1, hm, c, g)) / (2 * eps);
        if (c) {
          const cp = c.slice(), cm = c.slice();
          cp[k] += eps; cm[k] -= eps;
          fdc[k] = (suffixLoss(core, x, t + 1, st.h[t + 1]!, cp, g) - suffixLoss(core, x, t + 1, st.h[t + 1]!, cm, g)) / (2 * eps);
        }
      }
      assertClose(grads.dh[t]!, fd, 1e-8, 1e-6, `${name} dL/dh_${t}`);
      if (grads.dc) assertClose(grads.dc[t]!, fdc, 1e-8, 1e-6, `${name} dL/dc_${t}`);
    }
    // The last step's gradient is the one given, and the walk back ends at the whole-sequence backward's dh0.
    assertClose(grads.dh[T - 1]!, g, 0, 0, 'dh_{T-1}');
    core.forward(new Tensor(x, [T, B, I]));
    const whole = core.backward(null, { dhN: new Tensor(g, [Ls, B, H]) });
    core.zeroGrad();
    assertClose(grads.dhInit, whole.dh0.data, 1e-13, 1e-10, `${name} dh0 vs whole-sequence backward`);
    if (grads.dcInit) assertClose(grads.dcInit, whole.dc0!.data, 1e-13, 1e-10, `${name} dc0 vs whole-sequence backward`);
    // Stepwise states equal the whole-sequence forward's outputs.
    const out = core.forward(new Tensor(x, [T, B, I])).output.data as Float64Array;
    for (let t = 0; t < T; t++) assertClose(st.h[t + 1]!.subarray((Ls - 1) * B * H), out.subarray(t * B * H, (t + 1) * B * H), 1e-14, 1e-12, `h_${t}`);
  });
}

test('head gradients (softmax, sigmoid, MSE) equal finite differences, and gradientFlow starts from them', () => {
  const r = rng(2);
  const h = Float64Array.from({ length: B * H }, () => r.uniform(-1, 1));
  for (const [loss, U, targets] of [['softmax', 5, [3, 0]], ['sigmoid', 1, [1, 0]], ['mse', 1, [0.7, 1.4]], ['mse', 2, [0.1, 0.2, -0.3, 0.4]]] as const) {
    const head: Head = { loss, units: U, kernel: Float64Array.from({ length: H * U }, () => r.uniform(-1, 1)), bias: Float64Array.from({ length: U }, () => r.uniform(-0.5, 0.5)) };
    const { loss: l, dh } = headGradient(head, h, B, H, targets);
    for (let k = 0; k < B * H; k++) {
      const b = Math.floor(k / H);
      const hp = h.slice(), hm = h.slice();
      hp[k] += 1e-6; hm[k] -= 1e-6;
      const fd = (headGradient(head, hp, B, H, targets).loss[b]! - headGradient(head, hm, B, H, targets).loss[b]!) / 2e-6;
      assert.ok(Math.abs(fd - dh[k]!) < 1e-7, `${loss} U=${U}: dh[${k}] ${dh[k]} vs ${fd}`);
    }
    assert.ok(l.every((v) => Number.isFinite(v) && v >= 0));
  }
  const core = tinyCores().gru!;
  const x = randomArray(T * B * I, 8, 1) as Float64Array;
  const head: Head = { loss: 'mse', units: 1, kernel: Float64Array.from({ length: H }, () => r.uniform(-1, 1)), bias: null };
  const flow = gradientFlow(core, x, T, B, head, [0.5, 1.5]);
  assert.equal(flow.dhNorm.length, T);
  assert.deepEqual(flow.distance, [0, 1, 2, 3, 4, 5]);
  assert.equal(flow.ratio[0], 1);
  const st = runStepwise(core, x, T, B);
  const { dh } = headGradient(head, st.h[T]!, B, H, [0.5, 1.5]);
  const n0 = (Math.hypot(...dh.subarray(0, H)) + Math.hypot(...dh.subarray(H))) / 2;
  assert.ok(Math.abs(flow.dhNorm[0]! - n0) < 1e-12, 'distance 0 = the head gradient');
});

// ---------------------------------------------------------------------------------------------
// The Jacobian and its spectrum

for (const cell of ['lstm', 'gru', 'rnn'] as const) {
  test(`modelProbe of a stacked char model (${cell}, 3 layers): the float64 stack predicts what the model predicts, and the gradient reaches every layer`, () => {
    const model = recurrentCharModel(11, { ...DEFAULT_CHARRNN, cell, layers: 3, hidden: 6, embed: 4, dropout: 0.2, seed: 4 });
    model.params.set(randomArray(model.params.length, 17, 0.5, 'float32'));
    const B = 2, T = 5, ids = Float32Array.from({ length: B * T }, (_, i) => (i * 3) % 11);
    model.resetStates();
    const want = model.predict({ data: ids, shape: [B, T] }).data;
    const p = modelProbe(model, { data: ids, shape: [B, T], mask: null });
    assert.equal(p.core.numLayers, 3);
    const states = runStepwise(p.core, p.x, T, B);
    const top = new Float64Array(B * 6), V = 11;
    for (let t = 0; t < T; t++) {
      top.set(states.h[t + 1]!.subarray(2 * B * 6));
      for (let b = 0; b < B; b++) {
        const z = Array.from({ length: V }, (_, u) => (p.head.bias![u] as number) + Array.from({ length: 6 }, (_, j) => top[b * 6 + j]! * (p.head.kernel[j * V + u] as number)).reduce((a, v) => a + v, 0));
        const m = Math.max(...z), e = z.map((v) => Math.exp(v - m)), sum = e.reduce((a, v) => a + v, 0);
        assertClose(e.map((v) => v / sum), want.subarray((b * T + t) * V, (b * T + t + 1) * V), 2e-6, 1e-5, `${cell} t=${t} b=${b}`);
      }
    }
    const f = gradientFlow(p.core, p.x, T, B, p.head, [1, 2]);
    assert.equal(f.dhNormByLayer.length, 3);
    // At the loss only the top layer's h is reached; a step back, every layer is.
    assert.ok(f.dhNormByLayer[2]![0]! > 0 && f.dhNormByLayer[0]![0] === 0 && f.dhNormByLayer[1]![0] === 0);
    for (const l of [0, 1, 2]) assert.ok(f.dhNormByLayer[l]![1]! > 0, `layer ${l}`);
    // The whole state's gradient norm is at most the sum of the layers' (√Σ a_l² ≤ Σ √a_l², per example and so on average).
    for (let k = 0; k < T; k++) assert.ok(f.dhNormByLayer.reduce((a, n) => a + n[k]!, 0) >= f.dhNorm[k]! * (1 - 1e-12));
  });
}

test('singular values: known matrices', () => {
  // diag(3, -2, 0.5) permuted, and a rank-1 matrix.
  const A = [0, 0, 0.5, 3, 0, 0, 0, -2, 0];
  assertClose(singularValues(A, 3, 3), [3, 2, 0.5], 1e-14, 0, 'permuted diagonal');
  const u = [1, 2, 2], v = [3, 4];
  const R = u.flatMap((a) => v.map((b) => a * b)); // 3×2, σ = |u|·|v| = 15
  assertClose(singularValues(R, 3, 2), [15, 0], 1e-12, 0, 'rank 1');
  // Random 7×7: Σσ² = ‖A‖_F² and Πσ = |det A| (via elimination).
  const r = rng(4), n = 7;
  const M = Array.from({ length: n * n }, () => r.normal());
  const sv = singularValues(M, n, n);
  const fro = M.reduce((a, x) => a + x * x, 0);
  assert.ok(Math.abs(sv.reduce((a, s) => a + s * s, 0) - fro) < 1e-10 * fro);
  const m = M.slice();
  let det = 1;
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let i = c + 1; i < n; i++) if (Math.abs(m[i * n + c]!) > Math.abs(m[p * n + c]!)) p = i;
    if (p !== c) { for (let j = 0; j < n; j++) [m[c * n + j], m[p * n + j]] = [m[p * n + j]!, m[c * n + j]!]; det = -det; }
    det *= m[c * n + c]!;
    for (let i = c + 1; i < n; i++) { const f = m[i * n + c]! / m[c * n + c]!; for (let j = c; j < n; j++) m[i * n + j] -= f * m[c * n + j]!; }
  }
  assert.ok(Math.abs(sv.reduce((a, s) => a * s, 1) - Math.abs(det)) < 1e-9 * Math.abs(det));
  for (let i = 1; i < n; i++) assert.ok(sv[i - 1]! >= sv[i]!, 'descending');
});

test('Jacobian spectrum: RNN with W_hh = a·Q (Q orthogonal), zero input, h = 0 → every σ = a', () => {
  for (const a of [0.5, 1, 1.7]) {
    const Hn = 12;
    const core = new RNN({ inputSize: 3, hiddenSize: Hn, dtype: 'float64', seed: 1 });
    const sd = core.stateDict();
    const Q = new Float64Array(Hn * Hn);
    orthogonal(Q, Hn, Hn, rng(9));
    sd.weight_hh_l0 = Q.map((v) => a * v);
    sd.bias_ih_l0 = new Float64Array(Hn); sd.bias_hh_l0 = new Float64Array(Hn);
    core.loadStateDict(sd);
    const p = probeCopy(core);
    const { J, n } = stateJacobian(p, [0, 0, 0], new Float64Array(Hn));
    assert.equal(n, Hn);
    assertClose(J, sd.weight_hh_l0, 1e-14, 1e-12, 'J = (1 - tanh²(0))·a·Q = a·Q');
    assertClose(singularValues(J, n, n), new Float64Array(n).fill(a), 1e-12, 1e-12, `σ = ${a}`);
    // Along a zero-input sequence from h = 0 the state stays 0: the spectrum is a everywhere.
    const spec = jacobianSpectrum(p, new Float64Array(8 * 2 * 3), 8, 2, { steps: [1, 4, 7], examples: 2 });
    assert.ok(Math.abs(spec.sigmaMax - a) < 1e-12 && spec.spectrum.every((s) => Math.abs(s - a) < 1e-12));
    assert.equal(spec.samples, 6);
  }
});

for (const [name, core] of Object.entries(tinyCores())) {
  test(`state Jacobian ∂s_t/∂s_t-1 equals finite differences of one step (${name})`, () => {
    const Ls = core.numLayers, LH = Ls * H, lstm = core.kind === 'lstm';
    const r = rng(6);
    const xt = Array.from({ length: I }, () => r.uniform(-1, 1));
    const hp = Float64Array.from({ length: LH }, () => r.uniform(-0.8, 0.8));
    const cp = lstm ? Float64Array.from({ length: LH }, () => r.uniform(-1, 1)) : null;
    const { J, n } = stateJacobian(core, xt, hp, cp);
    assert.equal(n, lstm ? 2 * LH : LH);
    const step = (h: Float64Array, c: Float64Array | null): Float64Array => {
      const res = core.forward(new Tensor(Float64Array.from(xt), [1, 1, I]), { h0: new Tensor(h, [Ls, 1, H]), c0: c ? new Tensor(c, [Ls, 1, H]) : null });
      const out = new Float64Array(n);
      out.set(res.hN.data as Float64Array);
      if (lstm) out.set(res.cN!.data as Float64Array, LH);
      return out;
    };
    const fd = new Float64Array(n * n), eps = 1e-6;
    for (let j = 0; j < n; j++) {
      const [h1, h2] = [hp.slice(), hp.slice()];
      const [c1, c2] = [cp ? cp.slice() : null, cp ? cp.slice() : null];
      if (j < LH) { h1[j] += eps; h2[j] -= eps; } else { c1![j - LH] += eps; c2![j - LH] -= eps; }
      const sp = step(h1, c1), sm = step(h2, c2);
      for (let i = 0; i < n; i++) fd[i * n + j] = (sp[i]! - sm[i]!) / (2 * eps);
    }
    assertClose(J, fd, 1e-8, 1e-6, `${name} Jacobian`);
  });
}

// ---------------------------------------------------------------------------------------------
// Charts and report

/** A tiny XML well-formedness check: balanced tags, quoted attributes, known entities only. */
function assertWellFormedXml(xml: string): void {
  const stack: string[] = [];
  const re = /<(\/?)([A-Za-z][\w:-]*)((?:\s+[\w:-]+="[^"<]*")*)\s*(\/?)>|<!--[\s\S]*?-->|<!DOCTYPE[^>]*>|<\?[^>]*\?>/g;
  let last = 0, m: RegExpExecArray | null;
  while ((m = re.exec(xml))) {
    const between = xml.slice(last, m.index);
    assert.ok(!/[<>]/.test(between), `stray < or > near: ${between.slice(0, 60)}`);
    for (const ent of between.match(/&[^;\s]*;?/g) ?? []) assert.match(ent, /^&(amp|lt|gt|quot|#39|#\d+);$/, `entity ${ent}`);
    last = re.lastIndex;
    if (!m[2]) continue;
    if (m[1]) assert.equal(stack.pop(), m[2], `closing </${m[2]}>`);
    else if (!m[4]) stack.push(m[2]);
  }
  assert.ok(!/[<>]/.test(xml.slice(last)), 'trailing markup');
  assert.deepEqual(stack, [], 'every element closed');
}

test('line chart: valid XML, one <g class="series"> per series, legend, log scales, broken lines for bad points', () => {
  const svg = lineChart([
    { name: 'rnn <a&b>', x: [0, 1, 2, 3], y: [1, 0.1, 0.01, 0.001] },
    { name: 'lstm', x: [0, 1, 2, 3], y: [1, 0.9, NaN, 0.7] },
    { name: 'gru', x: [0, 1, 2, 3], y: [1, 0, -1, 0.5], dash: '4 2' },
    { name: 'rnn seed 2', x: [0, 1], y: [1, 0.5], background: true },
  ], { title: 'Gradient "flow"', xLabel: 'distance (steps)', yLabel: '‖∂L/∂h‖', logY: true, refLines: [{ y: 1, label: 'one' }] });
  assertWellFormedXml(svg);
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal(svg.match(/<g class="series"/g)?.length, 3);
  assert.equal(svg.match(/<g class="background"/g)?.length, 1);
  assert.ok(svg.includes('rnn &lt;a&amp;b&gt;'), 'names are escaped');
  assert.ok(svg.includes('(log scale)'), 'axis title says log scale');
  assert.ok(!/NaN|Infinity/.test(svg), 'no NaN coordinates');
  // The lstm line is broken at the NaN: two path segments.
  const lstm = svg.slice(svg.indexOf('data-name="lstm"'), svg.indexOf('</g>', svg.indexOf('data-name="lstm"')));
  assert.equal(lstm.match(/<path/g)?.length, 2);
  const legend = svg.slice(svg.indexOf('class="legend"'));
  assert.equal(legend.match(/<text/g)?.length, 3, 'legend lists the 3 foreground series');
  const empty = lineChart([], { title: 'nothing', xLabel: 'x', yLabel: 'y' });
  assertWellFormedXml(empty);
  assert.ok(empty.includes('no data'));
  assertClose(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1], 1e-12, 0, 'nice ticks');
  assertClose(niceTicks(3, 47), [10, 20, 30, 40], 0, 0, 'nice ticks inside the range');
  assert.deepEqual(logTicks(0.001, 10), [0.001, 0.01, 0.1, 1, 10]);
  const html = renderHtml('t', [{ kind: 'chart', file: 'a.svg', svg }, { kind: 'table', head: ['a'], rows: [['<b>']] }]);
  assert.ok(!/<script|<link|src="http|href="http/.test(html), 'self-contained');
});

// ---------------------------------------------------------------------------------------------
// End to end

test('compare end to end (tiny): adding + copy + charlm, report.html/md/json written', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-compare-'));
  try {
    const textFile = join(dir, 'text.txt');
    writeFileSync(textFile, 'To be, or not to be, that is the question: whether tis nobler in the mind to suffer. '.repeat(40));
    const cfg: CompareConfig = {
      ...DEFAULT_COMPARE, tasks: ['adding', 'copy', 'charlm'], data: textFile, cells: ['rnn', 'lstm', 'gru'], seeds: 2,
      epochs: 1, lengths: [4, 6], hidden: 8, trainSize: 64, valSize: 16, batch: 16, gradflowExamples: 3,
      copySymbols: 2, copyAlphabet: 3, seq: 8, embed: 6, valChars: 200, evalPoints: 3,
    };
    const logs: string[] = [];
    const res = await runCompare(cfg, { log: (m) => logs.push(m) }, 'rnnkit compare (test)');
    assert.equal(res.tasks.length, 3);
    const [adding, copy, charlm] = res.tasks as [typeof res.tasks[0], typeof res.tasks[0], typeof res.tasks[0]];
    // 3 cells × 2 seeds × 2 lengths + 3 no-clip runs.
    assert.equal(adding.runs.length, 15);
    assert.equal(charlm.runs.length, 3 * 2 + 3);
    for (const t of res.tasks) {
      for (const r of t.runs) {
        assert.ok(r.steps > 0 && r.curve.length >= 2, `${t.task} ${r.cell}: trained and evaluated`);
        assert.ok(Math.abs(r.epochs - 1) < 1e-9, 'one epoch');
      }
      const hid = Object.fromEntries(t.cells.map((c) => [c.cell, c.hidden]));
      assert.ok(hid.rnn! > hid.gru! && hid.gru! > hid.lstm!, 'parameter-matched widths');
      for (const c of t.cells) assert.ok(Math.abs(c.cellParams - t.cells.find((q) => q.cell === 'lstm')!.cellParams) / c.cellParams < 0.1);
      assert.ok(t.gradflow, `${t.task}: gradient flow measured`);
      assert.equal(t.gradflow!.flows.length, 9, 'init, clip, no clip for 3 cells');
      assert.equal(t.gradflow!.spectra.length, 6);
      for (const f of t.gradflow!.flows) assert.ok(f.flow.dhNorm.every((v) => Number.isFinite(v) && v >= 0));
      assert.ok(t.claims.length >= 4 && t.claims.every((c) => c.verdict === 'confirmed' || c.verdict === 'not confirmed'));
      assert.equal(t.claims[0]!.verdict, 'confirmed', 'GRU has fewer parameters');
    }
    assert.equal(adding.gradflow!.length, 6);
    assert.equal(copy.gradflow!.length, 6 + 2 * 2);
    const out = join(dir, 'out');
    writeCompareOutputs(res, out);
    for (const f of ['report.html', 'report.md', 'results.json']) assert.ok(existsSync(join(out, f)), f);
    const json = JSON.parse(readFileSync(join(out, 'results.json'), 'utf8'));
    assert.equal(json.tasks.length, 3);
    const html = readFileSync(join(out, 'report.html'), 'utf8');
    assert.ok(html.startsWith('<!DOCTYPE html>'));
    assert.ok(!/<script|<link|src="http|href="http/.test(html), 'self-contained');
    const svgs = html.match(/<svg[\s\S]*?<\/svg>/g) ?? [];
    assert.ok(svgs.length >= 10, `charts inline (${svgs.length})`);
    for (const s of svgs) assertWellFormedXml(s);
    assert.ok(!/NaN/.test(html), 'no NaN in the report');
    const md = readFileSync(join(out, 'report.md'), 'utf8');
    assert.match(md, /\| cell \| T \| hidden \| parameters \|/);
    assert.match(md, /GRU has fewer parameters than LSTM/);
    for (const m of md.matchAll(/\]\((charts\/[^)]+)\)/g)) assert.ok(existsSync(join(out, m[1]!)), `${m[1]} exists`);
    assert.equal(compareReport(res).charts.length, new Set(compareReport(res).charts.map((c) => c.file)).size);
    // Re-rendering from results.json (`compare --from`) gives the same claims and report.
    const back = rebuildClaims(readCompareResults(join(out, 'results.json')));
    assert.deepEqual(back.tasks.map((t) => t.claims.map((c) => c.verdict)), res.tasks.map((t) => t.claims.map((c) => c.verdict)));
    assert.equal(back.tasks[0]!.runs[0]!.curve.length, res.tasks[0]!.runs[0]!.curve.length);
    assert.ok(!/NaN/.test(compareReport(back).html));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compare end to end (tiny): sentiment through the sentiment app', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-compare-sent-'));
  try {
    const file = join(dir, 'tiny.tsv');
    const pos = ['a great and wonderful film with superb acting and a moving story', 'truly wonderful , funny and warm , i loved every minute of it'];
    const neg = ['a dull and boring film with awful acting and a tedious story', 'truly awful , slow and cold , i hated every minute of it'];
    const lines = ['sentence\tlabel'];
    for (let i = 0; i < 30; i++) { lines.push(`${pos[i % 2]} ${i}\t1`); lines.push(`${neg[i % 2]} ${i}\t0`); }
    writeFileSync(file, lines.join('\n') + '\n');
    const cfg: CompareConfig = {
      ...DEFAULT_COMPARE, tasks: ['sentiment'], data: file, cells: ['lstm', 'gru'], seeds: 1, epochs: 2, hidden: 8, embed: 8,
      batch: 8, gradflowExamples: 3, gradflowLength: 6, evalPoints: 2, speedRounds: 1,
    };
    const res = await runCompare(cfg);
    const t = res.tasks[0]!;
    assert.equal(t.task, 'sentiment');
    assert.equal(t.runs.length, 2 + 2);
    for (const r of t.runs) assert.ok(r.bestMetric >= 0 && r.bestMetric <= 1 && r.steps === 2 * Math.ceil(54 / 8), `${r.cell}: accuracy ${r.bestMetric}, ${r.steps} steps`);
    assert.equal(t.gradflow!.length, 6);
    assert.equal(t.speed!.entries.length, 4);
    assert.ok(compareReport(res).html.includes('Sentiment classification'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('compare CLI arguments', () => {
  const p = parseCompareArgs(['--task', 'adding,copy', '--out', '/tmp/x', '--budget', '90s', '--cells', 'lstm,gru', '--lengths', '10,20', '--clip', '0', '--match', 'hidden'])!;
  assert.deepEqual(p.cfg.tasks, ['adding', 'copy']);
  assert.deepEqual(p.cfg.cells, ['lstm', 'gru']);
  assert.equal(p.cfg.budgetMs, 90_000);
  assert.equal(p.cfg.clip, 0);
  assert.equal(p.cfg.match, 'hidden');
  assert.equal(parseCompareArgs(['--help']), null);
  assert.equal(parseCompareArgs(['--from', 'r.json', '--out', 'o'])!.from, 'r.json');
  assert.throws(() => parseCompareArgs(['--task', 'adding', '--out', 'x']), /exactly one of --budget/);
  assert.throws(() => parseCompareArgs(['--task', 'adding', '--out', 'x', '--budget', '1m', '--epochs', '2']), /exactly one/);
  assert.throws(() => parseCompareArgs(['--task', 'charlm', '--out', 'x', '--epochs', '1']), /needs --data/);
  assert.throws(() => parseCompareArgs(['--task', 'adding', '--out', 'x', '--epochs', '1', '--cells', 'lstm,tcn']), /unknown 'tcn'/);
  assert.throws(() => parseCompareArgs(['--task', 'adding', '--out', 'x', '--epochs', '1', '--lengths', '10,1']), /--lengths/);
});

test('compare --from: a results.json without what compare writes (here a task without its runs) is a one-line error naming the file, exit 2', async () => {
  const { spawnSync } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-compare-from-'));
  try {
    const file = join(dir, 'results.json');
    writeFileSync(file, JSON.stringify({ version: 1, tasks: [{ name: 'adding' }] }));
    const r = spawnSync(process.execPath, ['dist/src/cli/main.js', 'compare', '--from', file, '--out', join(dir, 'out')], { encoding: 'utf8' });
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, new RegExp(`^rnnkit: --from: ${file.replace(/[.\\/]/g, '\\$&')} lacks what rnnkit compare writes \\(.*\\)\\n$`));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
