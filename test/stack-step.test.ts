// modelStepper (Backend.stackStepper): a character-level model run a token per kernel call must
// give, step after step, the bits predict gives — for every cell, with and without biases, edge
// rows and mixed chunks of the batch-1 plan, on two threads and on one — carry its state as the
// stateful layers do, and refuse what it cannot run (null: the caller takes predict's path).
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import * as rnn from '../src/index.js';
import { generateText } from '../src/browser.js';
import { getBackend, setBackend, withFixedWeights } from '../src/kernels/index.js';
import type { Backend } from '../src/kernels/types.js';
import { loadWasmBackend, type WasmVariant } from '../src/kernels/wasm/backend.js';
import { ThreadedWasmBackend, threadedUnavailableReason } from '../src/kernels/wasm/threaded.js';
import { CharVocab } from '../src/data/vocab.js';
import type { Layer } from '../src/layers/layer.js';

const V = 11;
const ids = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3, 5, 8, 9, 7, 9, 3, 2, 3, 8, 4, 6, 2, 6, 4, 3, 3, 8, 3, 2, 7];

const stateful = { stateful: true, returnSequences: true };
const CASES: { name: string; layers: () => Layer[] }[] = [
  { name: 'LSTM 60 over LSTM 37 (G mod 8 = 4: edge rows; mixed chunks)', layers: () => [rnn.layers.lstm({ units: 60, ...stateful }), rnn.layers.lstm({ units: 37, ...stateful })] },
  { name: 'GRU 61 (resetAfter; G = 183) over GRU 40 without resetAfter, Dropout between', layers: () => [rnn.layers.gru({ units: 61, ...stateful }), rnn.layers.dropout({ rate: 0.3 }), rnn.layers.gru({ units: 40, resetAfter: false, ...stateful })] },
  { name: 'tanh RNN 100 over ReLU RNN 33', layers: () => [rnn.layers.simpleRNN({ units: 100, ...stateful }), rnn.layers.simpleRNN({ units: 33, activation: 'relu', ...stateful })] },
  { name: 'one LSTM 256 (the default model\'s width), hard-sigmoid gates, no biases', layers: () => [rnn.layers.lstm({ units: 256, recurrentActivation: 'hardSigmoid', useBias: false, ...stateful })] },
];

/**
 * A model of V output symbols whose embedding has 2,800 rows (the ids used are its first V):
 * 67,200 weights in the table alone, so that a two-thread backend keeps every model's weights in
 * its own memory (residentArray, from 2^16 floats) and the layers project a row by W_ih packed
 * for batch 1, edge rows and all, as the stepper does.
 */
function charModel(layers: Layer[], seed = 1) {
  const m = rnn.sequential({ inputShape: [null], layers: [rnn.layers.embedding({ inputDim: 2800, outputDim: 24, seed }), ...layers, rnn.layers.dense({ units: V, activation: 'softmax', seed: seed + 1 })] });
  m.build([null]);
  // Larger weights than the initialisers give, so that every gate and state moves.
  const r = rnn.rng(seed + 7);
  for (let i = 0; i < m.params.length; i++) m.params[i] = r.uniform(-0.4, 0.4);
  return m;
}

const one = (id: number) => ({ data: Float32Array.of(id), shape: [1, 1], mask: null });

/**
 * Each step's probabilities through predictInPlace, then through a stepper: equal bit for bit; the
 * states carried after both equal. `table`: the stepper told that as many steps will come as the
 * embedding has rows, so that its first layer reads projected rows (when they fit in 4 MB).
 */
function checkStepper(m: ReturnType<typeof charModel>, scoped: boolean, what: string, table = false): void {
  const run = <T>(fn: () => T): T => (scoped ? withFixedWeights(fn) : fn());
  m.resetStates();
  const want = run(() => ids.map((id) => [...m.predictInPlace(one(id)).data]));
  const wantStates = JSON.stringify(m.getStates());
  m.resetStates();
  const got = run(() => {
    const st = rnn.modelStepper(m, table ? { steps: 2800 } : {});
    assert.ok(st, `${what}: a stepper`);
    const G = m.layers[1]!.getWeights()[0]!.shape[0]!;
    assert.equal(st.projectedTable, table && 2800 * G * 4 <= 4 << 20, `${what}: the projected table used where asked and small enough`);
    const out = ids.map((id) => [...st.step(id)]);
    st.close();
    return out;
  });
  assert.deepEqual(got, want, `${what}: the probabilities of every step, bit for bit`);
  assert.equal(JSON.stringify(m.getStates()), wantStates, `${what}: close() leaves the layers the states predict left`);
}

/**
 * The backends a stepper runs on: two threads on every call (forced), the default size gates
 * (gated: the small models step on one thread, the LSTM 256 on two), the one-thread build (its
 * memory holds no model's weights: each layer's row projected from W_ih as it lies).
 */
const variant: WasmVariant | null = threadedUnavailableReason('wasm-relaxed-simd') === null ? 'wasm-relaxed-simd' : threadedUnavailableReason('wasm-simd') === null ? 'wasm-simd' : null;
const forced = variant ? ThreadedWasmBackend.createSync({ variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20_000 }) : null;
const single = variant ? loadWasmBackend(variant) : null;
after(() => { forced?.terminate(); });

/** Runs fn with `be` as the float32 backend (models built inside keep their weights in its memory). */
function using<T>(be: Backend, fn: () => T): T {
  const was = getBackend();
  setBackend(be);
  try { return fn(); } finally { setBackend(was); }
}

test('a WebAssembly backend with threads is here (the checks below need one)', () => {
  assert.ok(variant, `no threaded WebAssembly build runs here: ${threadedUnavailableReason('wasm-simd')}`);
});

for (const c of CASES) {
  test(`modelStepper = predictInPlace bit for bit: ${c.name}; two threads on every call, the default gates, the one-thread build; in and outside withFixedWeights`, { timeout: 60_000 }, () => {
    if (!forced || !single || !variant) return; // (the test above fails)
    const gated = ThreadedWasmBackend.createSync({ variant });
    try {
      for (const [name, be] of [['default gates', gated], ['one-thread build', single]] as const) {
        using(be, () => {
          const m = charModel(c.layers());
          for (const table of [false, true]) {
            const t = table ? ', projected table' : '';
            checkStepper(m, true, `${name}, in a scope${t}`, table);
            // (Outside a scope the layers project a row from W_ih as it lies: so does the stepper.)
            checkStepper(m, false, `${name}, no scope${t}`, table);
          }
        });
      }
    } finally {
      gated.terminate();
    }
    const calls = forced.calls.threaded, chunks = forced.workerChunks;
    using(forced, () => {
      const m = charModel(c.layers());
      for (const table of [false, true]) {
        checkStepper(m, true, `two threads, in a scope${table ? ', projected table' : ''}`, table);
        checkStepper(m, false, `two threads, no scope${table ? ', projected table' : ''}`, table);
      }
    });
    // Weights in another backend's memory: read from copies (the projection as it lies) on two threads.
    const elsewhere = using(single, () => charModel(c.layers(), 2));
    using(forced, () => checkStepper(elsewhere, true, 'two threads, weights elsewhere'));
    using(forced, () => checkStepper(elsewhere, true, 'two threads, weights elsewhere, projected table', true));
    assert.ok(forced.threaded, `the worker is alive (${forced.lostReason})`);
    assert.ok(forced.calls.threaded >= calls + 3 * ids.length, `the steps ran on two threads (${forced.calls.threaded - calls} calls; ${forced.lostReason})`);
    // A step is short: on a busy machine the worker may arrive after the calling thread took
    // every chunk, call after call. It must take part within a few seconds of steps.
    using(forced, () => withFixedWeights(() => {
      const m = charModel(c.layers(), 4), st = rnn.modelStepper(m)!, end = performance.now() + 5000;
      for (let i = 0; forced.workerChunks === chunks && performance.now() < end; i++) st.step(ids[i % ids.length]!);
      st.close();
    }));
    assert.ok(forced.workerChunks > chunks, 'the worker computed some of the chunks');
  });
}

test('a functional model that is one chain steps as the Sequential does; a branch is refused (null)', () => {
  type Sym = rnn.SymbolicTensor;
  const ap = (l: { apply(x: Sym | Sym[]): Sym | Sym[] }, x: Sym | Sym[]): Sym => l.apply(x) as Sym;
  const build = (f: (x: Sym) => Sym) => {
    const x = rnn.input({ shape: [null] });
    const m = rnn.model({ inputs: x, outputs: f(x) });
    m.predict([[1]]); // (builds it)
    m.resetStates();
    const r = rnn.rng(11);
    for (let i = 0; i < m.params.length; i++) m.params[i] = r.uniform(-0.4, 0.4);
    return m;
  };
  const emb = () => rnn.layers.embedding({ inputDim: 2800, outputDim: 24 });
  const head = () => rnn.layers.dense({ units: V, activation: 'softmax' });
  const chain = build((x) => ap(head(), ap(rnn.layers.gru({ units: 40, ...stateful }), ap(rnn.layers.lstm({ units: 37, ...stateful }), ap(emb(), x)))));
  const want = withFixedWeights(() => ids.map((id) => [...chain.predictInPlace(one(id)).data]));
  chain.resetStates();
  const got = withFixedWeights(() => {
    const st = rnn.modelStepper(chain);
    assert.ok(st, 'a stepper for the chain');
    const out = ids.map((id) => [...st.step(id)]);
    st.close();
    return out;
  });
  assert.deepEqual(got, want);
  assert.equal(rnn.modelStepper(build((x) => {
    const e = ap(emb(), x);
    return ap(head(), ap(rnn.layers.add(), [ap(rnn.layers.lstm({ units: 24, ...stateful }), e), e]));
  })), null, 'a branch');
});

test('a stepper carries on from the state the layers carry, and a model can step on after it closed', () => {
  const m = charModel(CASES[0]!.layers(), 3);
  const rest = ids.slice(10);
  m.resetStates();
  const want = withFixedWeights(() => ids.map((id) => [...m.predictInPlace(one(id)).data]));
  m.resetStates();
  const got = withFixedWeights(() => {
    const head = ids.slice(0, 10).map((id) => [...m.predictInPlace(one(id)).data]);
    const st = rnn.modelStepper(m)!;
    const mid = rest.slice(0, 10).map((id) => [...st.step(id)]);
    st.close();
    return [...head, ...mid, ...rest.slice(10).map((id) => [...m.predictInPlace(one(id)).data])];
  });
  assert.deepEqual(got, want);
});

test('generateText: the same text with the stepper as without it (fused: false), and the model\'s states as they were', () => {
  const m = charModel(CASES[1]!.layers(), 5);
  const vocab = new CharVocab('abcdefghij\n'.split(''));
  m.resetStates();
  m.predict([[1, 2, 3]]); // some state to keep
  const before = JSON.stringify(m.getStates());
  const opts = { length: 200, temperature: 0.7, prime: 'abc', seed: 9 };
  const fast = generateText(m, vocab, opts);
  assert.equal(JSON.stringify(m.getStates()), before);
  assert.equal(fast, generateText(m, vocab, { ...opts, fused: false }));
  assert.equal(fast.length, 200);
});

test('generateText of more characters than the embedding has rows: the first layer reads its projected rows, and writes the text it writes without the stepper', () => {
  for (const layers of [CASES[0]!.layers(), CASES[1]!.layers()]) {
    const m = rnn.sequential({ inputShape: [null], layers: [rnn.layers.embedding({ inputDim: V, outputDim: 24, seed: 3 }), ...layers, rnn.layers.dense({ units: V, activation: 'softmax', seed: 4 })] });
    m.build([null]);
    const r = rnn.rng(12);
    for (let i = 0; i < m.params.length; i++) m.params[i] = r.uniform(-0.4, 0.4);
    const vocab = new CharVocab('abcdefghij\n'.split(''));
    const opts = { length: 300, temperature: 0.8, prime: 'ab', seed: 5 };
    const st = withFixedWeights(() => rnn.modelStepper(m, { steps: 2 + opts.length }));
    assert.ok(st?.projectedTable, 'the projected table, for 302 steps over 11 rows');
    st.close();
    m.resetStates();
    const fast = generateText(m, vocab, opts);
    assert.equal(fast, generateText(m, vocab, { ...opts, fused: false }));
    assert.equal(fast.length, 300);
  }
});

test('a model\'s next stepper is its last one again while its weights, options and backend are as they were (nothing copied or packed), with predict\'s bits; a change makes a new one', () => {
  const m = charModel(CASES[0]!.layers(), 6);
  /** A stepper's outputs for ids against predictInPlace's, bit for bit; whether it was reused. */
  const run = (o: { steps?: number } = {}, scoped = true): boolean => {
    const go = <T>(fn: () => T): T => (scoped ? withFixedWeights(fn) : fn());
    m.resetStates();
    const want = go(() => ids.map((id) => [...m.predictInPlace(one(id)).data]));
    m.resetStates();
    return go(() => {
      const st = rnn.modelStepper(m, o)!;
      assert.deepEqual(ids.map((id) => [...st.step(id)]), want, `steps ${o.steps ?? 0}, ${scoped ? 'in' : 'outside'} a scope, reused ${st.reused}`);
      st.close();
      return st.reused;
    });
  };
  assert.equal(run(), false, 'the first');
  assert.equal(run(), true, 'the same weights: the same stepper');
  m.params[0]! += 0.25; // the table, read where it lies
  assert.equal(run(), true, 'a table read where it lies needs no new stepper');
  m.params[m.params.length - 1]! += 0.25; // the head's bias
  assert.equal(run(), false, 'the head changed');
  assert.equal(run({ steps: 2800 }), false, 'the projected table asked for');
  assert.equal(run({ steps: 2800 }), true);
  m.params[0]! -= 0.25;
  assert.equal(run({ steps: 2800 }), false, 'the table changed under its projections');
  assert.equal(run({ steps: 2800 }, false), false, 'outside a scope (the projections by gemv)');
  assert.equal(run(), false, 'back in a scope, without the table');
  assert.equal(run(), true);
  const core = (m.layers[2] as unknown as { core: { params: { value(n: string): Float32Array } } }).core;
  core.params.value('weight_hh_l0')[7]! += 0.25; // the second LSTM's W_hh, in place
  assert.equal(run(), false, 'a recurrent weight changed in place');
  assert.equal(run(), true);
  if (!single) return;
  assert.equal(using(single, () => run()), false, 'another backend');
  assert.equal(run(), false, 'and back');
});

test('modelStepper: null for what it cannot run (the caller predicts instead); bad ids and use after close are clear errors', () => {
  const emb = () => rnn.layers.embedding({ inputDim: V, outputDim: 8 });
  const head = (activation: 'softmax' | 'linear' = 'softmax') => rnn.layers.dense({ units: V, activation });
  const model = (layers: Layer[]) => { const m = rnn.sequential({ inputShape: [null], layers }); m.build([null]); return m; };
  const lstm = (o: object = {}) => rnn.layers.lstm({ units: 8, ...stateful, ...o });
  assert.equal(rnn.modelStepper(model([emb(), lstm({ stateful: false }), head()])), null, 'a layer that carries no state');
  assert.equal(rnn.modelStepper(model([emb(), lstm(), head('linear')])), null, 'no softmax');
  assert.equal(rnn.modelStepper(model([rnn.layers.embedding({ inputDim: V, outputDim: 8, maskZero: true }), lstm(), head()])), null, 'maskZero');
  assert.equal(rnn.modelStepper(model([emb(), rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 8, returnSequences: true }) }), head()])), null, 'bidirectional');
  assert.equal(rnn.modelStepper(model([emb(), lstm(), rnn.layers.layerNormalization(), head()])), null, 'another layer');
  const batch = model([emb(), lstm(), head()]);
  batch.predict([[1, 2], [3, 4]]); // carries a state for batch 2
  assert.equal(rnn.modelStepper(batch), null, 'a state carried for another batch size');
  if (!getBackend().stackStepper) return;
  const m = model([emb(), lstm(), head()]);
  const st = rnn.modelStepper(m)!;
  assert.throws(() => st.step(V), /step\(id\): id must be an integer in \[0, 11\), got 11/);
  assert.throws(() => st.step(1.5), /got 1.5/);
  st.close();
  assert.throws(() => st.step(1), /modelStepper: used after close\(\)/);
});

test('closing a stepper joins a worker late for its last step before its memory goes back: filled with garbage at once, the worker lives on', { timeout: 60_000 }, () => {
  if (!forced) return; // (the test above fails)
  using(forced, () => {
    const m = charModel(CASES[2]!.layers(), 6);
    m.resetStates();
    const want = withFixedWeights(() => ids.map((id) => [...m.predictInPlace(one(id)).data]));
    for (let round = 0; round < 300; round++) {
      withFixedWeights(() => {
        const st = rnn.modelStepper(m)!;
        st.step(ids[round % ids.length]!);
        st.close();
      });
      // The block just given back, taken again and overwritten (the records a late worker would read).
      const junk = forced.activationBuffer!(4096);
      junk.fill(Number.NaN);
      new Int32Array(junk.buffer, junk.byteOffset, junk.length).fill(0x7fff0001);
      forced.releaseActivation(junk);
    }
    const calls = forced.calls.threaded, single = forced.calls.single;
    m.resetStates();
    const got = withFixedWeights(() => {
      const st = rnn.modelStepper(m)!;
      const out = ids.map((id) => [...st.step(id)]);
      st.close();
      return out;
    });
    assert.deepEqual(got, want);
    assert.ok(forced.calls.threaded >= calls + ids.length && forced.calls.single === single, `the worker still takes the steps (${forced.calls.threaded - calls} two-thread calls, ${forced.calls.single - single} on one)`);
  });
});

test('Backend.stackStepper refuses a spec that does not fit, naming the layer and what was expected', () => {
  if (!forced) return; // (the test above fails)
  const r = rnn.rng(2), f = (n: number) => Float32Array.from({ length: n }, () => r.uniform(-1, 1));
  const layer = (H: number, I: number) => ({ kind: 'lstm' as const, resetAfter: false, H, I, wih: f(4 * H * I), whh: f(4 * H * H), bih: f(4 * H), bhh: f(4 * H) });
  const spec = { table: f(5 * 8), layers: [layer(16, 8), layer(12, 16)], head: { U: 5, w: f(12 * 5), b: f(5) } };
  const make = (s: object) => forced.stackStepper(s as typeof spec);
  assert.throws(() => make({ ...spec, layers: [layer(16, 8), layer(12, 15)] }), /layer 1: input width 15, expected 16/);
  assert.throws(() => make({ ...spec, layers: [] }), /no layers/);
  assert.throws(() => make({ ...spec, layers: [{ ...layer(16, 8), whh: f(10) }, layer(12, 16)] }), /layer 0 weight_hh has 10 elements, needs 1024/);
  assert.throws(() => make({ ...spec, layers: [{ ...layer(16, 8), bhh: null }, layer(12, 16)] }), /layer 0: give both biases or neither/);
  assert.throws(() => make({ ...spec, head: { U: 5, w: f(12 * 4), b: null } }), /head kernel has 48 elements, needs 60/);
  const st = make(spec);
  assert.throws(() => st.getState(2, new Float32Array(12), null), /layer 2: the stack has 2/);
  assert.throws(() => st.setState(1, new Float32Array(11), null), /layer 1's h has 11 values, needs 12/);
  // A state set is the state read back; c of a layer without one reads as zeros.
  const h = f(12), c = f(12);
  st.setState(1, h, c);
  const h2 = new Float32Array(12), c2 = new Float32Array(12);
  st.getState(1, h2, c2);
  assert.deepEqual([h2, c2], [h, c]);
  st.dispose();
  st.dispose(); // (twice: nothing more)
  assert.throws(() => st.getState(0, h2, null), /used after dispose/);
});

test('a worker killed without notice while a stepper steps: the steps go on on one thread, with the same bits', { timeout: 60_000 }, async () => {
  if (!variant) return; // (the test above fails)
  const be = ThreadedWasmBackend.createSync({ variant, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 300 });
  const warnings: string[] = [];
  const onWarning = (w: Error): void => { warnings.push(w.message); };
  process.on('warning', onWarning);
  try {
    using(be, () => {
      const m = charModel(CASES[0]!.layers(), 7);
      m.resetStates();
      const want = withFixedWeights(() => ids.map((id) => [...m.predictInPlace(one(id)).data]));
      m.resetStates();
      const got: number[][] = [];
      withFixedWeights(() => {
        const st = rnn.modelStepper(m)!;
        for (const id of ids.slice(0, 10)) got.push([...st.step(id)]);
        assert.ok(be.calls.threaded > 0 && !be.lostReason, 'two threads before');
        // Killed behind the backend's back: the calling thread claims every chunk itself (it
        // learns of the loss once the event loop turns, from the worker's exit).
        (be as unknown as { worker: { terminate(): void } }).worker.terminate();
        for (const id of ids.slice(10)) got.push([...st.step(id)]);
        st.close();
      });
      assert.deepEqual(got, want);
    });
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(be.lostReason, 'the worker was given up');
    assert.ok(warnings.some((m) => /kernel worker thread was lost/.test(m)), `one warning: ${warnings.join(' | ')}`);
  } finally {
    process.off('warning', onWarning);
    be.terminate();
  }
});
