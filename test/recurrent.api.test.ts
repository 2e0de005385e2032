// The low-level layer API: initialisation schemes, seeds, state dicts, stateful mode, dropout
// between layers, and the errors users see for bad input.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { getBackend, GRU, layers, LSTM, referenceBackend, RNN, setBackend, Tensor, withFixedWeights } from '../src/index.js';
import { withWeightsToFollow } from '../src/tensor/init.js';
import { assertClose, randomArray } from './helpers.js';

test('keras init: orthogonal recurrent blocks, Glorot-bounded input weights, forget bias 1', () => {
  const H = 8, I = 5;
  const lstm = new LSTM({ inputSize: I, hiddenSize: H, seed: 3 });
  const whh = lstm.params.value('weight_hh_l0');
  for (let g = 0; g < 4; g++) {
    // W Wᵀ = I for each (H, H) gate block.
    for (let i = 0; i < H; i++) for (let j = 0; j < H; j++) {
      let s = 0;
      for (let k = 0; k < H; k++) s += whh[(g * H + i) * H + k]! * whh[(g * H + j) * H + k]!;
      assert.ok(Math.abs(s - (i === j ? 1 : 0)) < 1e-5, `block ${g} (${i},${j}) = ${s}`);
    }
  }
  const bound = Math.sqrt(6 / (I + 4 * H));
  const wih = lstm.params.value('weight_ih_l0');
  assert.ok(wih.every((v) => Math.abs(v) <= bound) && wih.some((v) => Math.abs(v) > bound / 2));
  const bih = lstm.params.value('bias_ih_l0'), bhh = lstm.params.value('bias_hh_l0');
  for (let j = 0; j < 4 * H; j++) assert.equal(bih[j]! + bhh[j]!, j >= H && j < 2 * H ? 1 : 0);
  // PyTorch init: uniform(-1/sqrt(H), 1/sqrt(H)) everywhere, biases included.
  const p = new GRU({ inputSize: I, hiddenSize: H, init: 'pytorch', seed: 3 });
  const k = 1 / Math.sqrt(H);
  assert.ok(p.params.data.every((v) => Math.abs(v) <= k) && p.params.value('bias_hh_l0').some((v) => v !== 0));
});

test('same seed, same parameters and outputs; different seed, different ones', () => {
  const a = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 9 });
  const b = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 9 });
  const c = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 10 });
  assert.deepEqual(a.params.data, b.params.data);
  assert.notDeepEqual(a.params.data, c.params.data);
  const x = new Tensor(randomArray(2 * 5 * 3, 1, 1, 'float32') as Float32Array, [5, 2, 3]);
  assert.deepEqual(a.forward(x).output.data, b.forward(x).output.data);
});

test('stateDict round trip, PyTorch names, and validation of loaded dicts', () => {
  const a = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 1 });
  const names = Object.keys(a.stateDict());
  assert.deepEqual(names.slice(0, 4), ['weight_ih_l0', 'weight_hh_l0', 'bias_ih_l0', 'bias_hh_l0']);
  assert.ok(names.includes('weight_ih_l1_reverse'));
  assert.deepEqual(a.params.entry('weight_ih_l1').shape, [12, 8]);
  const b = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 2 });
  b.loadStateDict(a.stateDict());
  assert.deepEqual(b.params.data, a.params.data);
  const sd = a.stateDict();
  assert.throws(() => b.loadStateDict({ ...sd, extra: new Float32Array(1) }), /unexpected parameter\(s\) extra/);
  const { weight_hh_l0: _, ...missing } = sd;
  assert.throws(() => b.loadStateDict(missing), /missing parameter 'weight_hh_l0'/);
  assert.throws(() => b.loadStateDict({ ...sd, bias_ih_l0: new Float32Array(5) }), /'bias_ih_l0' has 5 values, expected 12/);
  assert.throws(() => b.loadStateDict({ ...sd, bias_ih_l0: new Float32Array(12).fill(NaN) }), /must be finite/);
});

test('stateful mode carries the final state into the next call without gradient (truncated BPTT)', () => {
  const H = 4, T = 6, B = 2, I = 3;
  const x = randomArray(T * B * I, 5, 1, 'float32') as Float32Array;
  const full = new LSTM({ inputSize: I, hiddenSize: H, seed: 4 }).forward(new Tensor(x, [T, B, I])).output.data;
  const s = new LSTM({ inputSize: I, hiddenSize: H, seed: 4, stateful: true });
  const first = s.forward(new Tensor(x.slice(0, 3 * B * I), [3, B, I])).output.data;
  const second = s.forward(new Tensor(x.slice(3 * B * I), [3, B, I])).output.data;
  assertClose([...first, ...second], full, 1e-6, 1e-5, 'chunks = whole');
  // No gradient flows into the carried state: dh0 is reported, but nothing reaches earlier chunks.
  const g = s.backward(new Tensor(new Float32Array(3 * B * H).fill(1), [3, B, H]));
  assert.ok(g.dh0.data.some((v: number) => v !== 0));
  assert.throws(() => s.forward(new Tensor(new Float32Array(3 * 5 * I), [3, 5, I])), /batch size 2.*resetStates/);
  s.resetStates();
  const again = s.forward(new Tensor(x.slice(0, 3 * B * I), [3, B, I])).output.data;
  assert.deepEqual(again, first);
  // Inference (grad: false) writes the carried state over the last one, call after call (as text
  // generation runs): two stacked layers in three chunks give the whole sequence's outputs, and a
  // state taken with getCarriedState stays as it was.
  const deep = new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, seed: 6 }).forward(new Tensor(x, [T, B, I])).output.data;
  const d = new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, seed: 6, stateful: true });
  const chunk = (t0: number, t1: number) => [...d.forward(new Tensor(x.slice(t0 * B * I, t1 * B * I), [t1 - t0, B, I]), { grad: false }).output.data];
  const a1 = chunk(0, 2), a2 = chunk(2, 4);
  const kept = d.getCarriedState()!, keptH = kept.h.slice();
  const a3 = chunk(4, 6);
  assertClose([...a1, ...a2, ...a3], deep, 1e-6, 1e-5, 'three inference chunks = whole, two layers');
  assert.deepEqual(kept.h, keptH, 'a state taken before a call is not changed by it');
  assert.notDeepEqual(d.getCarriedState()!.h, keptH, 'the call carried a new state');
});

test('dropout between layers: active in training, off in eval, seeded', () => {
  const mk = () => new RNN({ inputSize: 3, hiddenSize: 16, numLayers: 2, dropout: 0.5, seed: 2 });
  const x = new Tensor(randomArray(4 * 2 * 3, 6, 1, 'float32') as Float32Array, [4, 2, 3]);
  const a = mk(), b = mk();
  const ya = a.forward(x).output.data, yb = b.forward(x).output.data;
  assert.deepEqual(ya, yb, 'same seed, same dropout masks');
  const yEval = a.eval().forward(x).output.data;
  const yEval2 = a.forward(x).output.data;
  assert.deepEqual(yEval, yEval2, 'eval is deterministic');
  assert.notDeepEqual(ya, yEval, 'training applies dropout');
});

test('backward reads the caller\'s dOutput without changing it, and converts one of another element type', () => {
  const x = new Tensor(randomArray(5 * 3 * 4, 7, 1, 'float32') as Float32Array, [5, 3, 4]);
  const dy = randomArray(5 * 3 * 6, 8, 1, 'float32') as Float32Array;
  const before = dy.slice();
  // Two layers with dropout between them: the masks scale the lower layer's gradient.
  const a = new LSTM({ inputSize: 4, hiddenSize: 6, numLayers: 2, dropout: 0.5, seed: 3 });
  a.forward(x);
  const dxA = a.backward(new Tensor(dy, [5, 3, 6])).dx.data;
  assert.deepEqual(dy, before, 'dOutput unchanged');
  const b = new LSTM({ inputSize: 4, hiddenSize: 6, numLayers: 2, dropout: 0.5, seed: 3 });
  b.forward(x);
  assert.deepEqual(b.backward(new Tensor(dy.slice(), [5, 3, 6])).dx.data, dxA, 'same gradients as from a copy');
  // A float32 layer given float64 gradients (float32 values): the same as given them in float32
  // (the WebAssembly kernels take float32 only).
  const mk = () => new GRU({ inputSize: 4, hiddenSize: 6, seed: 4 });
  const c = mk(), d = mk();
  c.forward(x); d.forward(x);
  const dxC = c.backward(new Tensor(Float64Array.from(dy), [5, 3, 6])).dx.data;
  const dxD = d.backward(new Tensor(dy, [5, 3, 6])).dx.data;
  assert.ok(dxC instanceof Float32Array);
  assert.deepEqual(dxC, dxD);
  assert.ok(c.gradients().weight_hh_l0!.some((v) => v !== 0));
  assert.deepEqual(c.gradients(), d.gradients());
});

test('bad input gets errors naming the argument and what was expected', () => {
  assert.throws(() => new LSTM({ inputSize: 0, hiddenSize: 4 }), /'inputSize' must be a positive integer, got 0/);
  assert.throws(() => new LSTM({ inputSize: 3, hiddenSize: 4, dropout: 1 }), /'dropout' must be in \[0, 1\)/);
  assert.throws(() => new RNN({ inputSize: 3, hiddenSize: 4, nonlinearity: 'sigmoid' as 'tanh' }), /'nonlinearity' must be 'tanh' or 'relu'/);
  assert.throws(() => new GRU({ inputSize: 3, hiddenSize: 4, init: 'xavier' as 'keras' }), /'init' must be 'keras' or 'pytorch'/);
  const l = new LSTM({ inputSize: 3, hiddenSize: 4, batchFirst: true });
  assert.throws(() => l.forward(new Tensor(new Float32Array(12), [4, 3])), /x must be a 3-D Tensor \[B, T, I\]/);
  assert.throws(() => l.forward(new Tensor(new Float32Array(16), [2, 2, 4])), /4 features per step, but inputSize is 3/);
  const x = new Tensor(new Float32Array(2 * 5 * 3), [2, 5, 3]);
  assert.throws(() => l.forward(x, { lengths: [5] }), /lengths has 1 entries, expected one per sequence \(B = 2\)/);
  assert.throws(() => l.forward(x, { lengths: [5, 6] }), /lengths\[1\] = 6 must be an integer in \[0, 5\]/);
  assert.throws(() => l.forward(x, { h0: new Tensor(new Float32Array(8), [2, 4]) }), /'h0' must be a Tensor of shape \[1, 2, 4\]/);
  assert.throws(() => new LSTM({ inputSize: 3, hiddenSize: 4 }).backward(null), /call forward\(\) first/);
  assert.throws(() => new Tensor(new Float32Array(5), [2, 3]), /data has 5 values but shape \[2, 3\] needs 6/);
});

test('recurrentDropout: float32 (the WebAssembly loops) agrees with float64 under the same mask', () => {
  const opts = { inputSize: 3, hiddenSize: 5, numLayers: 2, bidirectional: true, seed: 4, recurrentDropout: 0.4 };
  const a = new LSTM(opts), b = new LSTM({ ...opts, dtype: 'float64' });
  const x = randomArray(6 * 2 * 3, 8, 1);
  const mask = new Tensor(Float64Array.from({ length: 4 * 2 * 5 }, (_, i) => (i % 3 === 0 ? 0 : 1 / 0.6)), [4, 2, 5]);
  const ya = a.forward(new Tensor(Float32Array.from(x), [6, 2, 3]), { recurrentMask: new Tensor(Float32Array.from(mask.data), [4, 2, 5]) }).output.data;
  const yb = b.forward(new Tensor(x, [6, 2, 3]), { recurrentMask: mask }).output.data;
  assertClose(ya, yb, 1e-5, 1e-4, 'float32 vs float64');
  // In training mode masks are drawn per call; in eval mode no mask applies.
  const t1 = a.forward(new Tensor(Float32Array.from(x), [6, 2, 3])).output.data;
  const t2 = a.forward(new Tensor(Float32Array.from(x), [6, 2, 3])).output.data;
  assert.notDeepEqual(t1, t2);
  a.eval();
  assert.deepEqual(a.forward(new Tensor(Float32Array.from(x), [6, 2, 3])).output.data, a.forward(new Tensor(Float32Array.from(x), [6, 2, 3])).output.data);
});

test('recurrentDropout on the WebAssembly backend (its fused loops): outputs, input and parameter gradients agree with float64 under the same mask, for every cell', () => {
  const T = 6, B = 3, I = 4, H = 5;
  const cases: [string, (dtype: 'float32' | 'float64') => LSTM | GRU | RNN][] = [
    ['LSTM, 2 layers, bidirectional', (dtype) => new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, seed: 4, dtype })],
    ['GRU, resetAfter false', (dtype) => new GRU({ inputSize: I, hiddenSize: H, resetAfter: false, seed: 5, dtype })],
    ['GRU, resetAfter true', (dtype) => new GRU({ inputSize: I, hiddenSize: H, resetAfter: true, seed: 6, dtype })],
    ['RNN', (dtype) => new RNN({ inputSize: I, hiddenSize: H, seed: 7, dtype })],
  ];
  for (const [what, make] of cases) {
    const a = make('float32'), b = make('float64');
    const LD = a.numLayers * a.numDirections;
    const mask = Float64Array.from({ length: LD * B * H }, (_, i) => (i % 4 === 1 ? 0 : 1 / 0.75));
    const x = randomArray(T * B * I, 9, 1), dy = randomArray(T * B * H * a.numDirections, 10, 1);
    const ya = a.forward(new Tensor(Float32Array.from(x), [T, B, I]), { recurrentMask: new Tensor(Float32Array.from(mask), [LD, B, H]) }).output.data;
    const yb = b.forward(new Tensor(x, [T, B, I]), { recurrentMask: new Tensor(mask, [LD, B, H]) }).output.data;
    assertClose(ya, yb, 1e-5, 1e-4, `${what}: output`);
    const ga = a.backward(new Tensor(Float32Array.from(dy), [T, B, H * a.numDirections])), gb = b.backward(new Tensor(dy, [T, B, H * a.numDirections]));
    assertClose(ga.dx.data, gb.dx.data, 1e-5, 1e-4, `${what}: dx`);
    const pa = a.gradients(), pb = b.gradients();
    assert.ok(Object.keys(pb).length >= 4, `${what}: ${Object.keys(pb)}`);
    for (const k of Object.keys(pb)) assertClose(pa[k]!, pb[k]!, 1e-5, 1e-4, `${what}: ${k}`);
  }
});

test('built for weights to follow (a model being loaded): the orthogonal QR is skipped, the rng draws are not — the same dropout masks afterwards', () => {
  const opts = { inputSize: 3, hiddenSize: 6, numLayers: 2, seed: 11, recurrentDropout: 0.3, dropout: 0.2 };
  const fresh = new LSTM(opts);
  const loaded = withWeightsToFollow(() => new LSTM(opts));
  assert.ok(loaded.params.value('weight_hh_l0').every((v) => v === 0), 'W_hh left for the weights that follow');
  assert.ok(loaded.params.value('weight_hh_l1').every((v) => v === 0));
  assert.ok(fresh.params.value('weight_hh_l0').some((v) => v !== 0));
  // The input weights (cheap draws) are as built from scratch.
  assert.deepEqual(loaded.params.value('weight_ih_l1'), fresh.params.value('weight_ih_l1'));
  loaded.loadStateDict(fresh.stateDict());
  const x = new Tensor(Float32Array.from(randomArray(5 * 2 * 3, 12, 1)), [5, 2, 3]);
  const a = fresh.forward(x).output.data, b = loaded.forward(x).output.data;
  assert.deepEqual(b, a, 'the same masks were drawn (training mode)');
  assert.notDeepEqual(fresh.forward(x).output.data, a, 'masks are drawn per call');
});

test('forward({ out }) and backward(dy, { dx }) write into the caller\'s buffers, same values; wrong sizes are refused', () => {
  const g = new GRU({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, batchFirst: true, seed: 2 });
  const x = new Tensor(Float32Array.from(randomArray(2 * 5 * 3, 4, 1, 'float32')), [2, 5, 3]);
  const dy = new Tensor(Float32Array.from(randomArray(2 * 5 * 8, 5, 1, 'float32')), [2, 5, 8]);
  const fresh = g.forward(x).output.data.slice();
  const dxFresh = g.backward(dy).dx.data.slice();
  const out = new Float32Array(2 * 5 * 8).fill(Number.NaN), dx = new Float32Array(2 * 5 * 3).fill(Number.NaN);
  const r = g.forward(x, { out });
  assert.equal(r.output.data, out);
  assert.deepEqual(out, fresh);
  assert.equal(g.backward(dy, { dx }).dx.data, dx);
  assert.deepEqual(dx, dxFresh);
  assert.throws(() => g.forward(x, { out: new Float32Array(3) }), /option 'out' must be a Float32Array of 80 values/);
  assert.throws(() => g.forward(x, { out: new Float64Array(80) }), /option 'out' must be a Float32Array/);
});

test('backward(dy, { dx: false }): no input gradient (null), every parameter and state gradient the same bits as with it; any other dx is refused', () => {
  const T = 5, B = 3, I = 4, H = 6;
  const cases: [string, () => LSTM | GRU | RNN][] = [
    ['LSTM, 2 layers, bidirectional, batch-first', () => new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, batchFirst: true, seed: 4 })],
    ['GRU (resetAfter false), time-major', () => new GRU({ inputSize: I, hiddenSize: H, resetAfter: false, seed: 5 })],
    ['RNN, 3 layers', () => new RNN({ inputSize: I, hiddenSize: H, numLayers: 3, seed: 6 })],
    ['LSTM, float64', () => new LSTM({ inputSize: I, hiddenSize: H, numLayers: 2, dtype: 'float64', seed: 7 })],
  ];
  for (const [what, make] of cases) {
    for (const backend of [getBackend(), referenceBackend]) {
      const saved = getBackend();
      setBackend(backend);
      try {
        const a = make(), b = make();
        const f64 = a.dtype === 'float64';
        const x = new Tensor(randomArray(T * B * I, 8, 1, a.dtype), a.batchFirst ? [B, T, I] : [T, B, I]);
        const ya = a.forward(x, { lengths: [5, 2, 4] });
        b.forward(x, { lengths: [5, 2, 4] });
        const dy = new Tensor(randomArray(ya.output.data.length, 9, 1, a.dtype), ya.output.shape);
        const dhN = new Tensor(randomArray(ya.hN.data.length, 10, 1, a.dtype), ya.hN.shape);
        const ga = a.backward(dy, { dhN }), gb = b.backward(dy, { dhN, dx: false });
        assert.equal(gb.dx, null, what);
        assert.ok(ga.dx.data.some((v: number) => v !== 0), `${what}: the full backward's dx is not all zero`);
        assert.deepEqual(gb.dh0.data, ga.dh0.data, `${what} (${backend.name}): dh0`);
        if (ga.dc0) assert.deepEqual(gb.dc0!.data, ga.dc0.data, `${what} (${backend.name}): dc0`);
        const gA = a.gradients(), gB = b.gradients();
        for (const k of Object.keys(gA)) assert.deepEqual(gB[k], gA[k], `${what} (${backend.name}): ${k}`);
        assert.ok(f64 ? gB.weight_ih_l0 instanceof Float64Array : gB.weight_ih_l0 instanceof Float32Array);
      } finally { setBackend(saved); }
    }
  }
  const g = new GRU({ inputSize: I, hiddenSize: H, seed: 1 });
  const y = g.forward(new Tensor(randomArray(T * B * I, 8, 1, 'float32'), [T, B, I]));
  for (const bad of [true, 0, 'no', [1, 2]]) {
    assert.throws(() => g.backward(y.output, { dx: bad as never }), /GRU\.backward: option 'dx' must be a Float32Array to write the input's gradient into, or false when it is not wanted/);
  }
});

test("forward({ rows }): the input as rows of a table gives the layer of the rows spelled out (float64, both directions, stacked, batch-first); bad ids are refused", () => {
  const I = 4, H = 5, T = 6, B = 3, U = 4;
  const table = randomArray(U * I, 41, 1, 'float64') as Float64Array;
  const ids = Int32Array.from({ length: B * T }, (_, r) => (r * 5 + 1) % (U - 1)); // row U-1 unused
  const rowsX = new Float64Array(B * T * I);
  for (let r = 0; r < B * T; r++) rowsX.set(table.subarray(ids[r]! * I, (ids[r]! + 1) * I), r * I);
  const make = (): GRU => new GRU({ inputSize: I, hiddenSize: H, numLayers: 2, bidirectional: true, batchFirst: true, dtype: 'float64', seed: 7 });
  const a = make(), b = make();
  const ya = a.forward(new Tensor(table, [U, I]), { rows: { ids, shape: [B, T] }, lengths: [6, 3, 5] });
  const yb = b.forward(new Tensor(rowsX, [B, T, I]), { lengths: [6, 3, 5] });
  assertClose(ya.output.data, yb.output.data, 1e-13, 1e-12, 'output');
  assertClose(ya.hN.data, yb.hN.data, 1e-13, 1e-12, 'hN');
  const dOut = new Tensor(randomArray(yb.output.data.length, 42, 1, 'float64'), ya.output.shape);
  const ga = a.backward(dOut), gb = b.backward(dOut);
  assert.deepEqual(ga.dx.shape, [U, I]);
  const dTable = new Float64Array(U * I);
  for (let r = 0; r < B * T; r++) for (let k = 0; k < I; k++) dTable[ids[r]! * I + k] += gb.dx.data[r * I + k]!;
  assertClose(ga.dx.data, dTable, 1e-12, 1e-11, 'the table gradient = the rows gradient summed per id');
  assert.ok(ga.dx.data.subarray(0, (U - 1) * I).some((v: number) => v !== 0) && ga.dx.data.subarray((U - 1) * I).every((v: number) => v === 0));
  for (const [k, g] of Object.entries(b.gradients())) assertClose(a.gradients()[k]!, g, 1e-12, 1e-11, k);
  // Without the table's gradient: the same parameter gradients, bit for bit.
  const c = make();
  c.forward(new Tensor(table, [U, I]), { rows: { ids, shape: [B, T] }, lengths: [6, 3, 5] });
  assert.equal(c.backward(dOut, { dx: false }).dx, null);
  for (const [k, g] of Object.entries(a.gradients())) assert.deepEqual(c.gradients()[k], g, `${k} without dx`);

  const bad = Int32Array.from(ids); bad[7] = U;
  assert.throws(() => make().forward(new Tensor(table, [U, I]), { rows: { ids: bad, shape: [B, T] } }), /rows\.ids\[7\] = 4 is outside the table's rows \[0, 4\)/);
  assert.throws(() => make().forward(new Tensor(table, [U, I]), { rows: { ids: ids.subarray(1), shape: [B, T] } }), /'rows\.ids' must be an Int32Array of 18 ids \(\[B, T\] = \[3, 6\]\)/);
  assert.throws(() => make().forward(new Tensor(rowsX, [B, T, I]), { rows: { ids, shape: [B, T] } }), /with 'rows', x must be a 2-D Tensor \[rows, I\]/);
});

test('withFixedWeights (public): returns what fn returns, passes its errors on, and inside it a layer gives the outputs it gives outside; on a backend without weight copies it just runs fn', () => {
  const lstm = new LSTM({ inputSize: 5, hiddenSize: 8, seed: 4 });
  const x = new Tensor(randomArray(3 * 2 * 5, 6, 1, 'float32') as Float32Array, [3, 2, 5]);
  const outside = lstm.forward(x, { grad: false }).output.data;
  const inside = withFixedWeights(() => [lstm.forward(x, { grad: false }).output.data, lstm.forward(x, { grad: false }).output.data]);
  assert.deepEqual(inside[0], outside);
  assert.deepEqual(inside[1], outside);
  assert.throws(() => withFixedWeights(() => { throw new RangeError('from fn'); }), /from fn/);
  const saved = getBackend();
  try {
    setBackend(referenceBackend);
    assert.equal(withFixedWeights(() => 42), 42);
  } finally {
    setBackend(saved);
  }
});

test('option errors show a string as a string: units "8" is not taken for the number 8', () => {
  assert.throws(() => layers.lstm({ units: '8' as unknown as number }), /LSTM: option 'units' must be a positive integer, got "8"$/);
  assert.throws(() => layers.dense({ units: 2.5 }), /Dense: option 'units' must be a positive integer, got 2\.5$/);
});

test('recurrentActivation hardSigmoid: the gates are clip(0.2·x + 0.5, 0, 1) — a one-step LSTM checked by hand; saved and loaded in a model; bad values named', async () => {
  // One step from h0 = c0 = 0 of an LSTM with I = H = 1: gates from x·w + b alone.
  const lstm = new LSTM({ inputSize: 1, hiddenSize: 1, recurrentActivation: 'hardSigmoid', dtype: 'float64' });
  // PyTorch order i|f|g|o; pre-activations for x = 1: i 3 (clipped to 1), f -1, g 0.5, o 1.
  lstm.loadStateDict({ weight_ih_l0: [3, -1, 0.5, 1], weight_hh_l0: [0, 0, 0, 0], bias_ih_l0: [0, 0, 0, 0], bias_hh_l0: [0, 0, 0, 0] });
  const r = lstm.forward(new Tensor(Float64Array.of(1), [1, 1, 1]));
  const hs = (v: number): number => Math.min(1, Math.max(0, 0.2 * v + 0.5));
  const c = hs(3) * Math.tanh(0.5); // f·c0 = 0
  assertClose(r.cN!.data, [c], 1e-15, 0, 'c');
  assertClose(r.hN.data, [hs(1) * Math.tanh(c)], 1e-15, 0, 'h');
  assert.equal(hs(3), 1);
  // In a Keras-style model: the option is kept through save and load, and it changes the numbers.
  const { sequential, saveModel, loadModel } = await import('../src/index.js');
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const make = (ra?: 'hardSigmoid') => {
    const m = sequential({ inputShape: [null, 2], layers: [layers.gru({ units: 3, ...(ra ? { recurrentActivation: ra } : {}) })] });
    m.build([null, 2]);
    m.params.set(randomArray(m.params.length, 3, 1.5, 'float32'));
    return m;
  };
  const x = new Tensor(randomArray(2 * 4 * 2, 4, 1, 'float32') as Float32Array, [2, 4, 2]);
  const hard = make('hardSigmoid'), soft = make();
  assert.notDeepEqual([...hard.predict(x).data], [...soft.predict(x).data]);
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-hard-'));
  try {
    await saveModel(hard, join(dir, 'm'));
    assert.deepEqual((await loadModel(join(dir, 'm'))).predict(x).data, hard.predict(x).data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.throws(() => layers.lstm({ units: 2, recurrentActivation: 'relu' as never }), /LSTM: option 'recurrentActivation' must be 'sigmoid' or 'hardSigmoid', got "relu"/);
  assert.throws(() => layers.simpleRNN({ units: 2, recurrentActivation: 'hardSigmoid' }), /SimpleRNN: option 'recurrentActivation' is for the gates of an LSTM or a GRU/);
  assert.throws(() => new RNN({ inputSize: 1, hiddenSize: 1, recurrentActivation: 'hardSigmoid' } as never), /RNN: option 'recurrentActivation' is for the gates of an LSTM or a GRU/);
});
