// Multi-head attention (src/kernels/multihead-ops.ts, src/layers/multihead.ts): PyTorch golden
// values from torch.nn.MultiheadAttention, finite differences in float64, the masks in every
// head, the layer in models (gradients through a graph, learning, save -> load, errors).
//
// Golden values: test/golden/transformer.json, written by
//     /usr/bin/python3 tools/golden/make_transformer_golden.py > test/golden/transformer.json
// (see that script's header); this test only reads the JSON. Tolerances as test/attention.test.ts:
// float64 1e-11 + 1e-9 relative; float32 1e-5 + 1e-4 relative.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { getBackend, referenceBackend } from '../src/kernels/index.js';
import { multiHeadBackward, multiHeadForward, type MultiHeadArgs, type MultiHeadGrads } from '../src/kernels/multihead-ops.js';
import type { F } from '../src/kernels/types.js';
import { assertClose, checkModelGradients, numericalGrad, randomArray, saveLoadRoundTrip } from './helpers.js';

type P = 'wq' | 'bq' | 'wk' | 'bk' | 'wv' | 'bv' | 'wo' | 'bo';
const PARAMS: P[] = ['wq', 'bq', 'wk', 'bk', 'wv', 'bv', 'wo', 'bo'];

interface GoldenCase extends Record<P, number[]> {
  name: string;
  B: number; Tq: number; Tv: number; Dq: number; Dk: number; Dv: number;
  heads: number; keyDim: number; valueDim: number; Do: number;
  causal: boolean;
  self: boolean;
  keyMask: number[] | null;
  q: number[]; k: number[]; v: number[];
  wy: number[];
  expected: Record<'y' | 'a' | 'dq' | `d${P}`, number[]> & Record<'dk' | 'dv', number[] | null>;
}

const golden = JSON.parse(readFileSync(new URL('../../test/golden/transformer.json', import.meta.url), 'utf8')) as { cases: GoldenCase[] };

/** Zeroed gradients for args a (dk null when keys are values; all inputs' when `inputs`). */
function gradsFor(a: MultiHeadArgs, inputs = true): MultiHeadGrads {
  const z = (x: F | null): F | null => (x === null ? null : x instanceof Float64Array ? new Float64Array(x.length) : new Float32Array(x.length));
  return {
    dq: inputs ? z(a.q) : null, dk: inputs && a.k !== a.v ? z(a.k) : null, dv: inputs ? z(a.v) : null,
    dwq: z(a.wq)!, dbq: z(a.bq), dwk: z(a.wk)!, dbk: z(a.bk), dwv: z(a.wv)!, dbv: z(a.bv), dwo: z(a.wo)!, dbo: z(a.bo),
  };
}

function goldenArgs(c: GoldenCase, arr: (x: number[]) => F): MultiHeadArgs {
  const q = arr(c.q);
  return {
    B: c.B, Tq: c.Tq, Tv: c.Tv, Dq: c.Dq, Dk: c.Dk, Dv: c.Dv, heads: c.heads, keyDim: c.keyDim, valueDim: c.valueDim, Do: c.Do,
    q, k: c.self ? q : arr(c.k), v: c.self ? q : arr(c.v),
    keyMask: c.keyMask ? Uint8Array.from(c.keyMask) : null, causal: c.causal,
    wq: arr(c.wq), bq: arr(c.bq), wk: arr(c.wk), bk: arr(c.bk), wv: arr(c.wv), bv: arr(c.bv), wo: arr(c.wo), bo: arr(c.bo),
  };
}

for (const dtype of ['float64', 'float32'] as const) {
  test(`multi-head attention against torch.nn.MultiheadAttention (${dtype}): outputs, each head's weights and every gradient; self, cross, causal, padded`, () => {
    const [atol, rtol] = dtype === 'float64' ? [1e-11, 1e-9] : [1e-5, 1e-4];
    const arr = (x: number[]): F => (dtype === 'float64' ? Float64Array.from(x) : Float32Array.from(x));
    const be = dtype === 'float64' ? referenceBackend : getBackend();
    assert.equal(golden.cases.length, 3);
    for (const c of golden.cases) {
      const a = goldenArgs(c, arr), e = c.expected;
      const y = arr(new Array<number>(c.B * c.Tq * c.Do).fill(0));
      const saved = multiHeadForward(be, a, y);
      assertClose(y, e.y, atol, rtol, `${c.name}: y`);
      assertClose(saved.attSaved.a, e.a, atol, rtol, `${c.name}: weights`);
      const g = gradsFor(a);
      multiHeadBackward(be, a, saved, arr(c.wy), g);
      if (c.self) {
        // One tensor as query, key and value: its gradient is the sum of the three paths.
        const dx = g.dq!.map((d, i) => d + g.dv![i]!);
        assertClose(dx, e.dq, atol, rtol, `${c.name}: dx`);
      } else {
        assertClose(g.dq!, e.dq, atol, rtol, `${c.name}: dq`);
        assertClose(g.dk!, e.dk!, atol, rtol, `${c.name}: dk`);
        assertClose(g.dv!, e.dv!, atol, rtol, `${c.name}: dv`);
      }
      for (const p of PARAMS) assertClose(g[`d${p}`]!, e[`d${p}`], atol, rtol, `${c.name}: d${p}`);
    }
  });
}

/** Random float64 arguments. */
function randomArgs(o: { B: number; Tq: number; Tv: number; Dq: number; Dk: number; Dv: number; heads: number; keyDim: number; valueDim: number; Do: number; causal?: boolean; lengths?: number[]; bias?: boolean; sharedKv?: boolean; dropout?: number }, seed: number): MultiHeadArgs {
  const { B, Tq, Tv, Dq, Dk, Dv, heads: H, keyDim: dk, valueDim: dv, Do } = o;
  let keyMask: Uint8Array | null = null;
  if (o.lengths) {
    keyMask = new Uint8Array(B * Tv);
    o.lengths.forEach((n, b) => keyMask!.fill(1, b * Tv, b * Tv + n));
  }
  const bias = o.bias ?? true, k = randomArray(B * Tv * Dk, seed + 1);
  return {
    B, Tq, Tv, Dq, Dk, Dv, heads: H, keyDim: dk, valueDim: dv, Do, keyMask, causal: o.causal ?? false,
    q: randomArray(B * Tq * Dq, seed), k, v: o.sharedKv ? k : randomArray(B * Tv * Dv, seed + 2),
    ...(o.dropout ? { dropMask: Float64Array.from(randomArray(B * H * Tq * Tv, seed + 11), (u) => (Math.abs(u) < o.dropout! ? 0 : 1 / (1 - o.dropout!))) } : {}),
    wq: randomArray(Dq * H * dk, seed + 3, 0.7), bq: bias ? randomArray(H * dk, seed + 4, 0.3) : null,
    wk: randomArray(Dk * H * dk, seed + 5, 0.7), bk: bias ? randomArray(H * dk, seed + 6, 0.3) : null,
    wv: randomArray(Dv * H * dv, seed + 7, 0.7), bv: bias ? randomArray(H * dv, seed + 8, 0.3) : null,
    wo: randomArray(H * dv * Do, seed + 9, 0.7), bo: bias ? randomArray(Do, seed + 10, 0.3) : null,
  };
}

const FD_CASES: [string, Parameters<typeof randomArgs>[0]][] = [
  ['2 heads, cross, padded keys, other widths', { B: 2, Tq: 3, Tv: 4, Dq: 3, Dk: 4, Dv: 2, heads: 2, keyDim: 2, valueDim: 3, Do: 5, lengths: [4, 2] }],
  ['3 heads, causal, no biases', { B: 1, Tq: 4, Tv: 4, Dq: 4, Dk: 4, Dv: 4, heads: 3, keyDim: 2, valueDim: 2, Do: 4, causal: true, bias: false }],
  ['keys and values one array, dropout on the weights', { B: 2, Tq: 2, Tv: 3, Dq: 3, Dk: 3, Dv: 3, heads: 2, keyDim: 3, valueDim: 2, Do: 3, sharedKv: true, lengths: [3, 2], dropout: 0.3 }],
];

for (const [label, o] of FD_CASES) {
  test(`multi-head attention gradients match finite differences in float64: ${label}`, () => {
    const a = randomArgs(o, 11);
    const wy = randomArray(o.B * o.Tq * o.Do, 99);
    const loss = (): number => {
      const y = new Float64Array(o.B * o.Tq * o.Do);
      multiHeadForward(referenceBackend, a, y);
      let s = 0;
      for (let i = 0; i < y.length; i++) s += wy[i]! * y[i]!;
      return s;
    };
    const y = new Float64Array(o.B * o.Tq * o.Do);
    const saved = multiHeadForward(referenceBackend, a, y);
    const g = gradsFor(a);
    multiHeadBackward(referenceBackend, a, saved, wy, g);
    const check = (x: F, got: F, what: string): void => assertClose(got, numericalGrad(x as Float64Array, loss, 1e-6), 1e-8, 1e-6, `${label}: ${what}`);
    check(a.q, g.dq!, 'dq');
    check(a.v, g.dv!, o.sharedKv ? 'dv (keys and values)' : 'dv');
    if (!o.sharedKv) check(a.k, g.dk!, 'dk');
    for (const p of PARAMS) if (a[p]) check(a[p]!, g[`d${p}`]!, `d${p}`);
  });
}

test('multi-head attention: padded keys and keys ahead of a causal step get weight exactly 0 in every head, and padded values change nothing', () => {
  const o = { B: 2, Tq: 4, Tv: 4, Dq: 3, Dk: 3, Dv: 3, heads: 3, keyDim: 2, valueDim: 2, Do: 3, causal: true, lengths: [4, 2] };
  const a = randomArgs(o, 5);
  const y = new Float64Array(o.B * o.Tq * o.Do);
  const s = multiHeadForward(referenceBackend, a, y);
  const w = s.attSaved.a;
  for (let b = 0; b < 2; b++) for (let h = 0; h < 3; h++) for (let i = 0; i < 4; i++) {
    let sum = 0;
    for (let j = 0; j < 4; j++) {
      const x = w[((b * 3 + h) * 4 + i) * 4 + j]!;
      if (j > i || j >= o.lengths[b]!) assert.equal(x, 0, `b ${b} head ${h} step ${i} key ${j}`);
      else assert.ok(x > 0);
      sum += x;
    }
    assert.ok(Math.abs(sum - 1) < 1e-12, `b ${b} head ${h} step ${i}: weights sum to ${sum}`);
  }
  // Garbage in the padded steps of the keys and values (row 1, steps 2 and 3) changes no output.
  const k = Float64Array.from(a.k), v = Float64Array.from(a.v);
  for (let t = 2; t < 4; t++) for (let d = 0; d < 3; d++) { k[(4 + t) * 3 + d] = 1e6; v[(4 + t) * 3 + d] = Number.NaN; }
  const y2 = new Float64Array(y.length);
  multiHeadForward(referenceBackend, { ...a, k, v }, y2);
  assert.deepEqual(y2, y);
});

/** A small encoder-decoder: a GRU's states, self-attention over the decoder's inputs (causal), then attention to the encoder. */
function mhaGraph(seed: number): rnn.GraphModel {
  const src = rnn.input({ shape: [null], name: 'src' }), tgt = rnn.input({ shape: [null, 3], name: 'tgt' });
  const enc = rnn.layers.gru({ units: 4, returnSequences: true, seed }).apply(rnn.layers.embedding({ inputDim: 6, outputDim: 3, maskZero: true, seed }).apply(src)) as rnn.SymbolicTensor;
  const self = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 2, causal: true, seed: seed + 1, name: 'self' }).apply([tgt, tgt]);
  const cross = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 3, valueDim: 2, outputDim: 4, seed: seed + 2, name: 'cross' }).apply([self, enc]);
  const out = rnn.layers.dense({ units: 5, activation: 'softmax', seed }).apply(rnn.layers.add().apply([cross, rnn.layers.dense({ units: 4, seed }).apply(tgt)]));
  return rnn.model({ inputs: [src, tgt], outputs: out });
}

const graphData = () => {
  const r = rnn.rng(21);
  return {
    xs: [
      { data: new Float32Array([1, 2, 3, 4, 5, 3, 1, 2, 0, 0]), shape: [2, 5], mask: null },
      { data: Float32Array.from({ length: 2 * 3 * 3 }, () => r.uniform(-1, 1)), shape: [2, 3, 3], mask: null },
    ],
    y: { data: new Float32Array([0, 1, 2, 3, 4, 0]), shape: [2, 3], mask: null },
  };
};

test('MultiHeadAttention in a functional model: gradients through self- and cross-attention (with the encoder\'s padding) match finite differences', () => {
  const m = mhaGraph(1);
  const { xs, y } = graphData();
  const informative = checkModelGradients(m, xs, y);
  assert.ok(informative > 60, `${informative} informative parameters`);
  // The encoder's padded steps (row 1, steps 3 and 4) get no weight from any head of the decoder.
  const cross = m.allLayers().find((l) => l.name === 'cross') as rnn.MultiHeadAttention;
  m.predict(xs);
  const w = cross.lastWeights!;
  assert.deepEqual(w.shape, [2, 2, 3, 5]);
  for (let h = 0; h < 2; h++) for (let i = 0; i < 3; i++) for (const j of [3, 4]) assert.equal(w.data[((2 + h) * 3 + i) * 5 + j], 0);
});

test('MultiHeadAttention learns: a query finds the value stored under its key among distractors (float32, two threads or one)', () => {
  // Each sequence holds 6 (key, value) pairs as one-hot rows; the query is one of the keys; the
  // target is that key's value class. Only attention that matches query and key solves it.
  const K = 6, V = 4, T = 6, N = 600, r = rnn.rng(8);
  const seq = new Float32Array(N * T * (K + V)), qry = new Float32Array(N * 1 * K), y = new Float32Array(N);
  for (let n = 0; n < N; n++) {
    const keys = [0, 1, 2, 3, 4, 5].sort(() => r.next() - 0.5);
    const vals = keys.map(() => r.int(V));
    for (let t = 0; t < T; t++) {
      seq[(n * T + t) * (K + V) + keys[t]!] = 1;
      seq[(n * T + t) * (K + V) + K + vals[t]!] = 1;
    }
    const pick = r.int(T);
    qry[n * K + keys[pick]!] = 1;
    y[n] = vals[pick]!;
  }
  const q = rnn.input({ shape: [1, K] }), s = rnn.input({ shape: [T, K + V] });
  const att = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 8, outputDim: 16, seed: 3 }).apply([q, s]);
  const out = rnn.layers.dense({ units: V, activation: 'softmax', seed: 4 }).apply(att);
  const m = rnn.model({ inputs: [q, s], outputs: out });
  m.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const xs = [{ data: qry, shape: [N, 1, K], mask: null }, { data: seq, shape: [N, T, K + V], mask: null }];
  const ys = { data: y, shape: [N, 1], mask: null };
  const split = 500;
  const part = (a: { data: Float32Array; shape: number[]; mask: null }, lo: number, hi: number) => {
    const row = a.data.length / a.shape[0]!;
    return { data: a.data.slice(lo * row, hi * row), shape: [hi - lo, ...a.shape.slice(1)], mask: null };
  };
  const train = xs.map((a) => part(a, 0, split)), test_ = xs.map((a) => part(a, split, N));
  for (let epoch = 0; epoch < 40; epoch++) {
    for (let i = 0; i < split; i += 50) m.trainOnBatch(train.map((a) => part(a, i, i + 50)), part(ys, i, i + 50));
  }
  const p = m.predict(test_).data;
  let right = 0;
  for (let n = 0; n < N - split; n++) {
    let best = 0;
    for (let c = 1; c < V; c++) if (p[n * V + c]! > p[n * V + best]!) best = c;
    if (best === y[split + n]) right++;
  }
  // Chance is 1/4; without matching query to key the best guess is the most frequent value class.
  assert.ok(right / (N - split) > 0.9, `held-out accuracy ${right / (N - split)}`);
});

test('models with multi-head attention save and load with identical predictions; the config keeps heads, widths and causal', async () => {
  const { xs, y } = graphData();
  const back = await saveLoadRoundTrip(mhaGraph(7), xs, y);
  const cfgs = back.allLayers().filter((l) => l instanceof rnn.MultiHeadAttention).map((l) => l.getConfig());
  assert.deepEqual(cfgs, [
    { className: 'MultiHeadAttention', name: 'self', numHeads: 2, keyDim: 2, causal: true, seed: 8 },
    { className: 'MultiHeadAttention', name: 'cross', numHeads: 2, keyDim: 3, valueDim: 2, outputDim: 4, causal: false, seed: 9 },
  ]);
});

test('MultiHeadAttention dropout: in training some weights are dropped, in inference none; no biases when useBias is false', () => {
  const q = rnn.input({ shape: [null, 4] }), v = rnn.input({ shape: [null, 4] });
  const layer = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 2, dropout: 0.5, useBias: false, seed: 2 });
  const m = rnn.model({ inputs: [q, v], outputs: layer.apply([q, v]) });
  assert.deepEqual(layer.params!.entries.map((e) => e.name), ['query_kernel', 'key_kernel', 'value_kernel', 'output_kernel']);
  const r = rnn.rng(3);
  const xs = [0, 1].map(() => ({ data: Float32Array.from({ length: 2 * 3 * 4 }, () => r.uniform(-1, 1)), shape: [2, 3, 4], mask: null }));
  const a = m.predict(xs).data;
  assert.deepEqual(m.predict(xs).data, a, 'inference: no dropout');
  const t1 = layer.forwardMulti(xs, { training: true, rng: rnn.rng(4) })[0]!.data.slice();
  const t2 = layer.forwardMulti(xs, { training: true, rng: rnn.rng(5) })[0]!.data.slice();
  assert.notDeepEqual(t1, a);
  assert.notDeepEqual(t1, t2);
  assert.equal(layer.getConfig().dropout, 0.5);
  assert.equal(layer.getConfig().useBias, false);
});

test('MultiHeadAttention refuses bad options and inputs with errors that name them', () => {
  assert.throws(() => rnn.layers.multiHeadAttention({} as never), /MultiHeadAttention: option 'numHeads' must be a positive integer, got undefined/);
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 2 } as never), /option 'keyDim' must be a positive integer, got undefined/);
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 4, valueDim: 0 }), /option 'valueDim' must be a positive integer, got 0/);
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 4, causal: 'yes' as never }), /option 'causal' must be true or false/);
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 4, dropout: 1 }), /option 'dropout' must be a number in \[0, 1\), got 1/);
  const q = rnn.input({ shape: [null, 3] }), flat = rnn.input({ shape: [4] });
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 1, keyDim: 2, name: 'm1' }).apply([q]), /m1: takes \[query, value\] or \[query, value, key\], got 1 input/);
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 1, keyDim: 2, name: 'm2' }).apply([flat, q]), /m2: the query must be a sequence \[batch, time, features\], got \[None, 4\]/);
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 1, keyDim: 2, causal: true, name: 'm3' }).apply([rnn.input({ shape: [3, 4] }), rnn.input({ shape: [5, 4] })]), /m3: causal attention needs as many query steps as value steps, got 3 and 5/);
  assert.throws(() => rnn.layers.multiHeadAttention({ numHeads: 1, keyDim: 2, name: 'm4' }).apply([q, rnn.input({ shape: [5, 4] }), rnn.input({ shape: [6, 4] })]), /m4: the key has 6 steps, the value 5/);
});
