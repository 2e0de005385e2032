// The fused layer operations of the WebAssembly backends (src/kernels/wasm/host.ts: input
// projection + sequence loop + weight-gradient products in one call, xg/dxg kept in wasm memory)
// against the same computation composed from the backend's own gemm and sequence loop
// (src/kernels/layer-ops.ts) — bit for bit, since both run the same kernels in the same order —
// and against the float64 reference within float32 tolerance. Every cell, GRU both ways, with and
// without lengths (including a length-0 sequence), both directions, with and without biases,
// strided outputs whose gaps must survive, accumulation into non-zero gradients, inference mode
// (no cache), and the two-thread backend with every kernel forced onto both threads.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  denseBackward, denseBackwardComposed, denseForward, denseForwardComposed,
  layerBackward, layerBackwardComposed, layerForward, layerForwardComposed, softmaxRows, softmaxRowsRef, sparseXentGrad, swapAxes,
} from '../src/kernels/layer-ops.js';
import { referenceBackend } from '../src/kernels/reference.js';
import {
  allocCache, gateWidth, type CellKind, type DenseBackwardArgs, type DenseForwardArgs, type F,
  type LayerBackwardArgs, type LayerForwardArgs, type SeqCache,
} from '../src/kernels/types.js';
import { tryLoadWasmBackend, wasmVariants, type WasmBackend } from '../src/kernels/wasm/backend.js';
import { ThreadedWasmBackend, threadedUnavailableReason } from '../src/kernels/wasm/threaded.js';
import { LSTM } from '../src/layers/recurrent.js';
import { Tensor } from '../src/tensor/tensor.js';
import { rng } from '../src/tensor/rng.js';
import { layerNormBackward, layerNormBackwardOn, layerNormForward, layerNormForwardOn } from '../src/layers/normalization.js';
import { activationBackward, activationForward } from '../src/layers/core.js';
import { assertClose, randomArray } from './helpers.js';

const backends: (WasmBackend | ThreadedWasmBackend)[] = [];
const threaded: ThreadedWasmBackend[] = [];
for (const v of wasmVariants) {
  const b = tryLoadWasmBackend(v);
  if (b) backends.push(b);
  if (threadedUnavailableReason(v) === null) {
    const t = ThreadedWasmBackend.createSync({ variant: v, gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20_000 });
    threaded.push(t);
    backends.push(t);
  }
}
after(() => { for (const t of threaded) t.terminate(); });

test('at least one WebAssembly backend with fused layer operations is under test', () => {
  assert.ok(backends.length >= 2, `backends: ${backends.map((b) => b.name).join(', ')}`);
  for (const b of backends) assert.equal(typeof b.layerForward, 'function', b.name);
});

interface Case { kind: CellKind; resetAfter: boolean; T: number; B: number; H: number; I: number; lengths: number[] | null; reverse: boolean; bias: boolean; batchFirst?: boolean }

const cases: Case[] = [];
for (const kind of ['lstm', 'gru', 'rnn_tanh', 'rnn_relu'] as CellKind[]) {
  for (const resetAfter of kind === 'gru' ? [true, false] : [true]) {
    for (const reverse of [false, true]) {
      cases.push({ kind, resetAfter, T: 4, B: 3, H: 5, I: 7, lengths: null, reverse, bias: true });
      cases.push({ kind, resetAfter, T: 6, B: 9, H: 17, I: 4, lengths: [6, 1, 0, 3, 6, 2, 5, 4, 6], reverse, bias: !reverse });
      cases.push({ kind, resetAfter, T: 5, B: 3, H: 9, I: 6, lengths: [2, 5, 4], reverse, bias: true, batchFirst: true });
      // Batch 1 (the GEMV recurrent product), an odd T (the slim loop's final state in slot 1).
      cases.push({ kind, resetAfter, T: 7, B: 1, H: 13, I: 5, lengths: reverse ? [5] : null, reverse, bias: true });
    }
  }
}
cases.push({ kind: 'lstm', resetAfter: true, T: 5, B: 8, H: 64, I: 33, lengths: null, reverse: false, bias: true });
// Dense inputs over 8+ rows, a multiple of 4: the loop projects each step's rows itself
// (layerForward's per-step projection); two row groups on two threads from 16 rows.
for (const kind of ['lstm', 'gru', 'rnn_tanh'] as CellKind[]) {
  for (const resetAfter of kind === 'gru' ? [true, false] : [true]) {
    cases.push({ kind, resetAfter, T: 6, B: 12, H: 17, I: 10, lengths: [6, 1, 0, 3, 6, 2, 5, 4, 6, 6, 2, 3], reverse: true, bias: false, batchFirst: true });
    cases.push({ kind, resetAfter, T: 5, B: 16, H: 24, I: 40, lengths: null, reverse: false, bias: true });
  }
}
// One or two rows to project (one step at a time at batch 1: by gemv, W_ih read as it lies).
for (const kind of ['lstm', 'gru'] as CellKind[]) {
  cases.push({ kind, resetAfter: true, T: 1, B: 1, H: 40, I: 300, lengths: null, reverse: false, bias: true });
  cases.push({ kind, resetAfter: false, T: 2, B: 1, H: 37, I: 9, lengths: null, reverse: true, bias: true });
  cases.push({ kind, resetAfter: true, T: 1, B: 2, H: 8, I: 33, lengths: null, reverse: false, bias: false });
}

const name = (c: Case): string =>
  `${c.kind}${c.kind === 'gru' ? (c.resetAfter ? ' resetAfter' : ' original') : ''} T${c.T} B${c.B} H${c.H} I${c.I}` +
  `${c.lengths ? ' lengths' : ''}${c.reverse ? ' reverse' : ''}${c.bias ? '' : ' no-bias'}${c.batchFirst ? ' batch-first' : ''}`;

type Dtype = 'float32' | 'float64';
const arr = (n: number, seed: number, scale: number, dtype: Dtype): F => randomArray(n, seed, scale, dtype);

/** Forward arguments; out is strided (ldOut = H + 3, offset 2) with a sentinel in the gaps. */
function forwardArgs(c: Case, dtype: Dtype, withCache: boolean, sentinel = 7): LayerForwardArgs {
  const { kind, T, B, H, I } = c, G = gateWidth(kind, H), BH = B * H;
  const ldOut = H + 3, outOffset = 2;
  const out = dtype === 'float64' ? new Float64Array(outOffset + T * B * ldOut) : new Float32Array(outOffset + T * B * ldOut);
  out.fill(sentinel);
  const make = (n: number): F => (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
  return {
    kind, resetAfter: c.resetAfter, T, B, H, I, reverse: c.reverse, batchFirst: c.batchFirst ?? false,
    lengths: c.lengths ? Int32Array.from(c.lengths) : null,
    x: arr(T * B * I, 1, 1, dtype), wih: arr(G * I, 2, 0.5, dtype), whh: arr(G * H, 3, 0.5, dtype),
    bih: c.bias ? arr(G, 4, 0.3, dtype) : null, bhh: c.bias ? arr(G, 5, 0.3, dtype) : null,
    h0: arr(BH, 6, 0.5, dtype), c0: kind === 'lstm' ? arr(BH, 7, 0.5, dtype) : null,
    out, outOffset, ldOut,
    cache: withCache ? allocCache(make, kind, T, B, H) : null,
    hN: make(BH).fill(Number.NaN), cN: kind === 'lstm' ? make(BH).fill(Number.NaN) : null,
  };
}

/** Backward arguments for a forward already run; gradients start non-zero to test accumulation. */
function backwardArgs(c: Case, f: LayerForwardArgs, dtype: Dtype, accumulateDx: boolean): LayerBackwardArgs & { dx: F } {
  const { kind, T, B, H, I } = c, G = gateWidth(kind, H), BH = B * H;
  const make = (n: number): F => (dtype === 'float64' ? new Float64Array(n) : new Float32Array(n));
  return {
    kind, resetAfter: c.resetAfter, T, B, H, I, reverse: c.reverse, lengths: f.lengths, batchFirst: f.batchFirst,
    x: f.x, wih: f.wih, whh: f.whh, bhh: f.bhh, cache: f.cache!,
    dOut: arr(f.out.length, 11, 1, dtype), dOutOffset: f.outOffset, ldDOut: f.ldOut,
    dhN: arr(BH, 12, 1, dtype), dcN: kind === 'lstm' ? arr(BH, 13, 1, dtype) : null,
    dx: accumulateDx ? arr(T * B * I, 14, 1, dtype) : make(T * B * I).fill(Number.NaN), accumulateDx,
    dWih: arr(G * I, 15, 1, dtype), dWhh: arr(G * H, 16, 1, dtype),
    dbih: c.bias ? arr(G, 17, 1, dtype) : null, dbhh: c.bias ? arr(G, 18, 1, dtype) : null,
    dh0: make(BH).fill(Number.NaN), dc0: kind === 'lstm' ? make(BH).fill(Number.NaN) : null,
  };
}

const F_OUT = ['out', 'hN', 'cN'] as const;
const B_OUT = ['dx', 'dWih', 'dWhh', 'dbih', 'dbhh', 'dh0', 'dc0'] as const;

function to64(x: F | null): Float64Array | null {
  return x && Float64Array.from(x);
}

for (const backend of backends) {
  test(`${backend.name}: fused layer forward/backward equal the composed ones bit for bit, and the float64 reference`, () => {
    for (const c of cases) {
      const what = `${backend.name} ${name(c)}`;
      const fused = forwardArgs(c, 'float32', true), comp = forwardArgs(c, 'float32', true);
      const projected = backend.perStepProjections;
      layerForward(backend, fused);
      // The per-step projection where it applies (the composed forward projects every row first).
      assert.equal(backend.perStepProjections - projected, c.B >= 8 && c.B % 4 === 0 ? 1 : 0, `${what}: per-step projection`);
      layerForwardComposed(backend, comp);
      for (const k of F_OUT) assert.deepEqual(fused[k], comp[k], `${what}: forward ${k}`);
      for (const k of ['h', 'c', 'gates', 'aux'] as const) assert.deepEqual((fused.cache as SeqCache)[k], (comp.cache as SeqCache)[k], `${what}: cache.${k}`);
      // Inference mode: the same outputs without a cache. (A different sentinel in the gaps of
      // the strided output: wasm memory still holds the last call's values.)
      const inf = forwardArgs(c, 'float32', false, -3);
      layerForward(backend, inf);
      for (let i = 0; i < fused.out.length; i++) {
        const col = (i - fused.outOffset) % fused.ldOut;
        const gap = i < fused.outOffset || col >= c.H;
        assert.equal(fused.out[i], gap ? 7 : inf.out[i], `${what}: out [${i}]`);
        if (gap) assert.equal(inf.out[i], -3, `${what}: inference out gap [${i}]`);
      }
      for (const k of ['hN', 'cN'] as const) assert.deepEqual(inf[k], fused[k], `${what}: inference ${k}`);

      for (const accumulateDx of [false, true]) {
        const bf = backwardArgs(c, fused, 'float32', accumulateDx), bc = backwardArgs(c, comp, 'float32', accumulateDx);
        layerBackward(backend, bf);
        layerBackwardComposed(backend, bc);
        for (const k of B_OUT) assert.deepEqual(bf[k], bc[k], `${what}: backward ${k} (accumulateDx ${accumulateDx})`);
        // dx not wanted (null): every other gradient the same bits, fused and composed.
        const nf = { ...backwardArgs(c, fused, 'float32', accumulateDx), dx: null }, nc = { ...backwardArgs(c, comp, 'float32', accumulateDx), dx: null };
        layerBackward(backend, nf);
        layerBackwardComposed(backend, nc);
        for (const k of B_OUT) if (k !== 'dx') {
          assert.deepEqual(nf[k], bf[k], `${what}: backward ${k} without dx (accumulateDx ${accumulateDx})`);
          assert.deepEqual(nc[k], bf[k], `${what}: composed backward ${k} without dx (accumulateDx ${accumulateDx})`);
        }

        // The float64 reference, from the same float32 inputs.
        const rf = forwardArgs(c, 'float64', true);
        layerForward(referenceBackend, rf);
        for (const k of F_OUT) if (rf[k]) assertClose(fused[k]!, rf[k], 2e-5, 1e-4, `${what}: forward ${k} vs reference`);
        const rb = backwardArgs(c, rf, 'float64', accumulateDx);
        layerBackward(referenceBackend, rb);
        for (const k of B_OUT) if (rb[k]) assertClose(to64(bf[k])!, rb[k]!, 1e-4, 1e-4, `${what}: backward ${k} vs reference`);
        const rn = { ...backwardArgs(c, rf, 'float64', accumulateDx), dx: null };
        layerBackward(referenceBackend, rn);
        for (const k of B_OUT) if (k !== 'dx' && rb[k]) assert.deepEqual(rn[k], rb[k], `${what}: reference backward ${k} without dx`);
      }
    }
  });
}

/** A recurrent-dropout mask for case c: zeros and 1/0.75, the same values in either dtype. */
function maskFor(c: Case, dtype: Dtype): F {
  const r = rng(31 + c.B * 7 + c.H), m = dtype === 'float64' ? new Float64Array(c.B * c.H) : new Float32Array(c.B * c.H);
  for (let i = 0; i < m.length; i++) m[i] = r.next() < 0.75 ? 1 / 0.75 : 0;
  if (dtype === 'float64') for (let i = 0; i < m.length; i++) m[i] = Math.fround(m[i]!);
  return m;
}

for (const backend of backends) {
  test(`${backend.name}: recurrent dropout (hMask) in the fused layer operations: equal the composed ones bit for bit, and the float64 reference; the mask matters`, () => {
    for (const c of cases) {
      const what = `${backend.name} ${name(c)} masked`;
      const mask = maskFor(c, 'float32');
      const fused = { ...forwardArgs(c, 'float32', true), hMask: mask }, comp = { ...forwardArgs(c, 'float32', true), hMask: mask };
      layerForward(backend, fused);
      layerForwardComposed(backend, comp);
      for (const k of F_OUT) assert.deepEqual(fused[k], comp[k], `${what}: forward ${k}`);
      const plain = forwardArgs(c, 'float32', true);
      layerForward(backend, plain);
      if (c.lengths?.some((l) => l > 0) !== false) assert.notDeepEqual(fused.hN, plain.hN, `${what}: the mask changes the final state`);
      const rf = { ...forwardArgs(c, 'float64', true), hMask: maskFor(c, 'float64') };
      layerForward(referenceBackend, rf);
      for (const k of F_OUT) if (rf[k]) assertClose(fused[k]!, rf[k], 2e-5, 1e-4, `${what}: forward ${k} vs reference`);
      const bf = { ...backwardArgs(c, fused, 'float32', true), hMask: mask }, bc = { ...backwardArgs(c, comp, 'float32', true), hMask: mask };
      layerBackward(backend, bf);
      layerBackwardComposed(backend, bc);
      for (const k of B_OUT) assert.deepEqual(bf[k], bc[k], `${what}: backward ${k}`);
      const rb = { ...backwardArgs(c, rf, 'float64', true), hMask: rf.hMask };
      layerBackward(referenceBackend, rb);
      for (const k of B_OUT) if (rb[k]) assertClose(to64(bf[k])!, rb[k]!, 1e-4, 1e-4, `${what}: backward ${k} vs reference`);
    }
  });
}

test('LSTM forward with grad: false gives the same outputs, keeps nothing, and backward says why it cannot run', () => {
  const lstm = new LSTM({ inputSize: 6, hiddenSize: 8, numLayers: 2, bidirectional: true, seed: 3 });
  const x = new Tensor(randomArray(5 * 4 * 6, 9, 1, 'float32') as Float32Array, [5, 4, 6]);
  const a = lstm.forward(x, { lengths: [5, 2, 4, 1] });
  const b = lstm.forward(x, { lengths: [5, 2, 4, 1], grad: false });
  assert.deepEqual(b.output.data, a.output.data);
  assert.deepEqual(b.hN.data, a.hN.data);
  assert.deepEqual(b.cN!.data, a.cN!.data);
  assert.throws(() => lstm.backward(null, { dhN: new Tensor(new Float32Array(4 * 4 * 8), [4, 4, 8]) }), /grad: false/);
});

for (const backend of backends) test(`${backend.name}: batch-first rows: the same numbers as time-major rows, reordered (b·T + t <-> t·B + b), strided and compact`, () => {
  for (const [kind, compact] of [['lstm', false], ['gru', false], ['lstm', true], ['rnn_tanh', true]] as [CellKind, boolean][]) {
    const c: Case = { kind, resetAfter: true, T: 4, B: 3, H: 6, I: 5, lengths: [4, 2, 3], reverse: true, bias: true };
    const tm = forwardArgs(c, 'float32', true);
    const bf = forwardArgs({ ...c, batchFirst: true }, 'float32', true);
    // Compact output rows (ldOut = H; the gradient's rows follow): one bulk copy and a reorder in wasm.
    if (compact) Object.assign(bf, { out: new Float32Array(bf.outOffset + c.T * c.B * c.H).fill(7), ldOut: c.H });
    const { T, B, I, H } = c;
    // Independent index arithmetic: element (t, b, k).
    const at = (batchFirst: boolean, t: number, b: number, w: number, k: number): number => (batchFirst ? b * T + t : t * B + b) * w + k;
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let k = 0; k < I; k++) bf.x[at(true, t, b, I, k)] = tm.x[at(false, t, b, I, k)]!;
    layerForward(backend, tm);
    layerForward(backend, bf);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let k = 0; k < H; k++) {
      assert.equal(bf.out[bf.outOffset + (b * T + t) * bf.ldOut + k], tm.out[tm.outOffset + (t * B + b) * tm.ldOut + k], `${kind} out (t ${t}, b ${b}, ${k})`);
    }
    assert.deepEqual(bf.hN, tm.hN);
    const gt = backwardArgs(c, tm, 'float32', false), gb = backwardArgs({ ...c, batchFirst: true }, bf, 'float32', false);
    gb.dOut!.fill(0);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let k = 0; k < H; k++) {
      gb.dOut![gb.dOutOffset + (b * T + t) * gb.ldDOut + k] = gt.dOut![gt.dOutOffset + (t * B + b) * gt.ldDOut + k]!;
    }
    layerBackward(backend, gt);
    layerBackward(backend, gb);
    for (let t = 0; t < T; t++) for (let b = 0; b < B; b++) for (let k = 0; k < I; k++) {
      assert.equal(gb.dx[at(true, t, b, I, k)], gt.dx[at(false, t, b, I, k)], `${kind} dx (t ${t}, b ${b}, ${k})`);
    }
    assert.deepEqual(gb.dWih, gt.dWih);
    assert.deepEqual(gb.dWhh, gt.dWhh);
    assert.deepEqual(gb.dh0, gt.dh0);
  }
});

/**
 * Table input (xIds): row r of the input is table row ids[r]. Ids repeat, and table row U-1 is
 * never used (its gradient must come out zero). Returns the table case's forward arguments and
 * the same input materialized row by row.
 */
function tableArgs(c: Case, dtype: Dtype, U: number): { table: LayerForwardArgs; rows: LayerForwardArgs } {
  const { T, B, I } = c, TB = T * B;
  const rows = forwardArgs(c, dtype, true), table = forwardArgs(c, dtype, true);
  const ids = new Int32Array(TB);
  for (let r = 0; r < TB; r++) ids[r] = (r * 7 + (r >> 2)) % (U - 1);
  const tab = arr(U * I, 31, 1, dtype);
  for (let r = 0; r < TB; r++) rows.x.set(tab.subarray(ids[r]! * I, (ids[r]! + 1) * I), r * I);
  Object.assign(table, { x: tab, xIds: ids, xRows: U });
  return { table, rows };
}

/** The table's gradient from the row-by-row one: dTable[u] = Σ_{r: ids[r] = u} dx[r] (float64). */
function scatterRows(dx: F, ids: Int32Array, I: number, U: number, init: F | null): Float64Array {
  const out = init ? Float64Array.from(init) : new Float64Array(U * I);
  for (let r = 0; r < ids.length; r++) for (let k = 0; k < I; k++) out[ids[r]! * I + k] += dx[r * I + k]!;
  return out;
}

const tableCases = cases.filter((c) => c.H !== 64 && (c.kind !== 'rnn_relu' || c.reverse));
// T·B >= 1024 rows: dW_hh in two parts of K, with the per-table-row sums run beside it on two
// threads (GRU without resetAfter: beside its r|z product).
tableCases.push(
  { kind: 'lstm', resetAfter: true, T: 130, B: 8, H: 5, I: 3, lengths: null, reverse: false, bias: true },
  { kind: 'gru', resetAfter: false, T: 65, B: 16, H: 6, I: 4, lengths: [65, 3, 64, 0, 65, 65, 1, 2, 65, 65, 9, 65, 65, 30, 65, 65], reverse: true, bias: true },
);
for (const backend of backends) {
  test(`${backend.name}: input as table rows (xIds): fused = composed bit for bit; the same layer as the rows spelled out, in float64 to 1e-12; unused table rows get zero gradient`, () => {
    for (const c of tableCases) {
      const U = Math.max(2, Math.min(5, c.T * c.B));
      const what = `${backend.name} ${name(c)} table of ${U}`;
      const fused = tableArgs(c, 'float32', U).table, comp = tableArgs(c, 'float32', U).table;
      layerForward(backend, fused);
      layerForwardComposed(backend, comp);
      for (const k of F_OUT) assert.deepEqual(fused[k], comp[k], `${what}: forward ${k}`);
      for (const accumulateDx of [false, true]) {
        const mk = (f: LayerForwardArgs): LayerBackwardArgs & { dx: F } => {
          const b = backwardArgs(c, f, 'float32', accumulateDx);
          const dx = accumulateDx ? arr(U * c.I, 14, 1, 'float32') : new Float32Array(U * c.I).fill(Number.NaN);
          return { ...b, xIds: f.xIds!, xRows: U, dx };
        };
        const bf = mk(fused), bc = mk(comp);
        layerBackward(backend, bf);
        layerBackwardComposed(backend, bc);
        for (const k of B_OUT) assert.deepEqual(bf[k], bc[k], `${what}: backward ${k} (accumulateDx ${accumulateDx})`);
        const nf = { ...mk(fused), dx: null }, nc = { ...mk(comp), dx: null };
        layerBackward(backend, nf);
        layerBackwardComposed(backend, nc);
        for (const k of B_OUT) if (k !== 'dx') {
          assert.deepEqual(nf[k], bf[k], `${what}: backward ${k} without dx (accumulateDx ${accumulateDx})`);
          assert.deepEqual(nc[k], bf[k], `${what}: composed backward ${k} without dx (accumulateDx ${accumulateDx})`);
        }
        const I = c.I, last = (U - 1) * I;
        const dx0 = accumulateDx ? arr(U * I, 14, 1, 'float32') : new Float32Array(U * I);
        assert.deepEqual(bf.dx.subarray(last), dx0.subarray(last), `${what}: the unused table row's gradient`);

        // float64: the table layer against the rows spelled out, on the reference backend.
        const t64 = tableArgs(c, 'float64', U), f64 = t64.table, r64 = t64.rows;
        layerForward(referenceBackend, f64);
        layerForward(referenceBackend, r64);
        for (const k of F_OUT) if (r64[k]) assertClose(f64[k]!, r64[k], 1e-12, 1e-12, `${what}: float64 forward ${k}, table vs rows`);
        for (const k of F_OUT) if (r64[k]) assertClose(to64(fused[k])!, r64[k], 2e-5, 1e-4, `${what}: float32 forward ${k} vs float64`);
        const b64 = { ...backwardArgs(c, f64, 'float64', accumulateDx), xIds: f64.xIds!, xRows: U };
        b64.dx = accumulateDx ? arr(U * I, 14, 1, 'float64') : new Float64Array(U * I);
        const rb64 = backwardArgs(c, r64, 'float64', false);
        layerBackward(referenceBackend, b64);
        layerBackward(referenceBackend, rb64);
        const init = accumulateDx ? arr(U * I, 14, 1, 'float64') : null;
        assertClose(b64.dx, scatterRows(rb64.dx, f64.xIds!, I, U, init), 1e-12, 1e-12, `${what}: float64 table gradient vs rows scattered`);
        for (const k of ['dWih', 'dWhh', 'dbih', 'dbhh', 'dh0', 'dc0'] as const) {
          if (rb64[k]) assertClose(b64[k]!, rb64[k]!, 1e-12, 1e-12, `${what}: float64 ${k}, table vs rows`);
        }
        for (const k of B_OUT) if (b64[k]) assertClose(to64(bf[k])!, b64[k]!, 1e-4, 1e-4, `${what}: float32 backward ${k} vs float64`);
      }
    }
  });
}

test('input as table rows: ids outside the table or too few of them are refused with the position named', () => {
  const c: Case = { kind: 'gru', resetAfter: true, T: 3, B: 2, H: 4, I: 3, lengths: null, reverse: false, bias: true };
  for (const b of [referenceBackend, ...backends]) {
    const { table } = tableArgs(c, b === referenceBackend ? 'float64' : 'float32', 4);
    table.xIds![4] = 4;
    assert.throws(() => layerForward(b, table), /xIds\[4\] = 4 is outside the table's rows \[0, 4\)/, b.name);
    table.xIds = table.xIds!.subarray(0, 5);
    assert.throws(() => layerForward(b, table), /xIds must be an Int32Array of T·B = 6 row ids/, b.name);
  }
});

for (const backend of backends) {
  test(`${backend.name}: fused dense forward/backward equal the composed ones bit for bit, and the float64 reference`, () => {
    for (const [rows, K, U, bias, withDx] of [[1, 1, 1, true, true], [7, 5, 3, true, true], [5, 9, 16, true, true], [9, 4, 24, true, true], [64, 33, 65, false, true], [130, 64, 17, true, false],
      // K = 1100 inputs (the forward product, from the bias, in two parts of K), 1100 rows (dW's).
      [20, 1100, 19, true, true], [1100, 24, 9, true, true]] as const) {
      const what = `${backend.name} rows ${rows} K ${K} U ${U}${bias ? '' : ' no-bias'}${withDx ? '' : ' no-dx'}`;
      const make = (dtype: Dtype): { f: DenseForwardArgs; b: DenseBackwardArgs } => {
        const x = arr(rows * K, 21, 1, dtype), w = arr(K * U, 22, 0.5, dtype);
        const z = (dtype === 'float64' ? new Float64Array(rows * U) : new Float32Array(rows * U)).fill(Number.NaN);
        const f = { rows, K, U, x, w, b: bias ? arr(U, 23, 0.5, dtype) : null, z };
        const dx = withDx ? (dtype === 'float64' ? new Float64Array(rows * K) : new Float32Array(rows * K)).fill(Number.NaN) : null;
        const b = { rows, K, U, x, w, dz: arr(rows * U, 24, 1, dtype), dW: arr(K * U, 25, 1, dtype), db: bias ? arr(U, 26, 1, dtype) : null, dx };
        return { f, b };
      };
      const fused = make('float32'), comp = make('float32'), ref = make('float64');
      denseForward(backend, fused.f); denseForwardComposed(backend, comp.f); denseForward(referenceBackend, ref.f);
      assert.deepEqual(fused.f.z, comp.f.z, `${what}: z`);
      assertClose(fused.f.z, ref.f.z, 1e-5, 1e-5, `${what}: z vs reference`);
      denseBackward(backend, fused.b); denseBackwardComposed(backend, comp.b); denseBackward(referenceBackend, ref.b);
      for (const k of ['dW', 'db', 'dx'] as const) {
        assert.deepEqual(fused.b[k], comp.b[k], `${what}: ${k}`);
        if (ref.b[k]) assertClose(fused.b[k]!, ref.b[k]!, 1e-4, 1e-5, `${what}: ${k} vs reference`);
      }
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: a Dense kernel used again unchanged is kept packed (the same bits as the composed product), and is packed again after it changes`, () => {
    for (const [rows, K, U] of [[1, 37, 29], [5, 64, 130], [40, 9, 16]] as const) {
      const what = `${backend.name} rows ${rows} K ${K} U ${U}`;
      const x = arr(rows * K, 41, 1, 'float32') as Float32Array, w = arr(K * U, 42, 0.5, 'float32') as Float32Array, b = arr(U, 43, 0.5, 'float32');
      const run = (f: (a: DenseForwardArgs) => void): Float32Array => {
        const z = new Float32Array(rows * U).fill(Number.NaN);
        f({ rows, K, U, x, w, b, z });
        return z;
      };
      const want = run((a) => denseForwardComposed(backend, a));
      // The first call copies W; the second finds the copy unchanged and packs it; the third reads the packing.
      for (let call = 1; call <= 3; call++) assert.deepEqual(run((a) => denseForward(backend, a)), want, `${what}: call ${call}`);
      // Changed in place (as an optimiser step does): every later call reads the new weights.
      for (let i = 0; i < w.length; i += 3) w[i]! *= -2;
      const want2 = run((a) => denseForwardComposed(backend, a));
      assert.notDeepEqual(want2, want);
      for (let call = 1; call <= 3; call++) assert.deepEqual(run((a) => denseForward(backend, a)), want2, `${what}: after the change, call ${call}`);
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: softmax rows agree with the Math.exp reference (tails, extremes, -Inf, NaN)`, () => {
    for (const k of [1, 3, 4, 5, 8, 65, 130]) {
      const rows = 9;
      const x = Float32Array.from(randomArray(rows * k, k, 30, 'float32'));
      x[0] = 80; // a dominating entry
      if (k > 2) { x[k] = -Infinity; x[k + 1] = -1e30; } // row 1: exact zeros
      if (k > 1) x[2 * k + 1] = Number.NaN; // row 2: NaN propagates
      x.fill(-Infinity, 3 * k, 4 * k); // row 3: all -Inf -> NaN, as Math.exp(-Inf + Inf)
      x[5 * k - 1] = Number.NaN; // row 4: NaN in the last column (past the first vector: the max may skip it)
      if (k > 5) x[5 * k + 5] = Infinity; // row 5: +Inf -> NaN (Inf - Inf)
      const y = new Float32Array(rows * k).fill(7), lse = new Float64Array(rows);
      const yr = new Float32Array(rows * k), lr = new Float64Array(rows);
      softmaxRows(backend, x, y, rows, k, lse);
      softmaxRowsRef(x, yr, rows, k, lr);
      for (let r = 0; r < rows; r++) {
        const what = `${backend.name} k ${k} row ${r}`;
        for (let j = r * k; j < (r + 1) * k; j++) {
          if (Number.isNaN(yr[j]!)) assert.ok(Number.isNaN(y[j]!), `${what}[${j - r * k}]: ${y[j]} should be NaN`);
          else assert.ok(Math.abs(y[j]! - yr[j]!) <= 1e-7 + 1e-6 * yr[j]!, `${what}[${j - r * k}]: ${y[j]} vs ${yr[j]}`);
        }
        if (Number.isNaN(lr[r]!)) assert.ok(Number.isNaN(lse[r]!), `${what}: lse NaN`);
        else assert.ok(Math.abs(lse[r]! - lr[r]!) <= 1e-6 * Math.max(1, Math.abs(lr[r]!)), `${what}: lse ${lse[r]} vs ${lr[r]}`);
      }
      if (k > 2) { assert.equal(y[k], 0); assert.equal(y[k + 1], 0); }
    }
  });
}

for (const backend of [...backends, referenceBackend]) {
  test(`${backend.name}: the sparse cross-entropy gradient from a softmax, bit for bit the TypeScript's (each value rounded once; scales exact in float32 and not)`, () => {
    const r = rng(12);
    for (const [rows, k, scale] of [[1, 1, 1], [3, 5, 1 / 3], [37, 65, 1 / 37], [64, 4, 0.1], [5, 7, 1], [32, 65, 1 / 2048], [9, 6, 2 ** -20]] as const) {
      const probs = Float32Array.from({ length: rows * k }, () => r.uniform(0, 1));
      probs[0] = 1; // p - 1 = 0 at a target
      const targets = Int32Array.from({ length: rows }, (_, i) => (i === 0 ? 0 : r.int(k)));
      const want = new Float32Array(rows * k);
      for (let i = 0; i < rows * k; i++) want[i] = probs[i]! * scale;
      for (let i = 0; i < rows; i++) want[i * k + targets[i]!] = Math.fround(probs[i * k + targets[i]!]! - 1) * scale;
      const bufs = backend.activationBuffer ? [new Float32Array(rows * k), backend.activationBuffer(rows * k)] : [new Float32Array(rows * k)];
      bufs.forEach((grad, i) => {
        grad.fill(Number.NaN);
        sparseXentGrad(backend, probs, targets, rows, k, scale, grad);
        assert.deepEqual(grad, want, `${backend.name} ${rows}x${k} scale ${scale}${i ? ', into an activation buffer' : ''}`);
      });
    }
    // A float64 gradient is computed in float64 (the reference path, whatever the backend).
    const probs = Float32Array.of(0.25, 0.75, 0.5, 0.5), g64 = new Float64Array(4);
    sparseXentGrad(backend, probs, Int32Array.of(1, 0), 2, 2, 1 / 3, g64);
    assert.deepEqual([...g64], [0.25 / 3, -0.25 / 3, -0.5 / 3, 0.5 / 3]);
  });
}

for (const backend of [...backends, referenceBackend]) {
  test(`${backend.name}: swapAxes moves each row of w values from [o, i, j] to [o, j, i], widths on and off the vector lanes`, () => {
    const r = rng(13);
    for (const [outer, n1, n2, w] of [[1, 1, 1, 1], [2, 3, 4, 5], [3, 5, 2, 8], [2, 7, 3, 3]] as const) {
      const n = outer * n1 * n2 * w, src = Float32Array.from({ length: n }, () => r.uniform(-1, 1));
      const dsts = backend.activationBuffer ? [new Float32Array(n), backend.activationBuffer(n)] : [new Float32Array(n)];
      dsts.forEach((dst, k) => {
        dst.fill(Number.NaN);
        swapAxes(backend, src, dst, outer, n1, n2, w);
        for (let o = 0; o < outer; o++) for (let i = 0; i < n1; i++) for (let j = 0; j < n2; j++) for (let c = 0; c < w; c++) {
          const got = dst[((o * n2 + j) * n1 + i) * w + c], want = src[((o * n1 + i) * n2 + j) * w + c];
          assert.equal(got, want, `${backend.name} [${outer}, ${n1}, ${n2}, ${w}]${k ? ' (activation buffer)' : ''}: [${o}, ${i}, ${j}, ${c}]`);
        }
        // And back: the inverse swap restores src.
        const back = new Float32Array(n);
        swapAxes(backend, dst, back, outer, n2, n1, w);
        assert.deepEqual(back, src);
      });
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: addInto gives a loop's sums bit for bit, in place and into activation buffers`, () => {
    const r = rng(16);
    for (const n of [1, 6, 133]) {
      const a = Float32Array.from({ length: n }, () => r.uniform(-1, 1) * 1e3), b = Float32Array.from({ length: n }, () => r.uniform(-1, 1) * 1e-3);
      const want = a.map((v, i) => v + b[i]!);
      const out = (backend.activationBuffer?.(n) ?? new Float32Array(n)).fill(Number.NaN);
      backend.addInto!(a, b, out);
      assert.deepEqual(out, want, `${backend.name} n ${n}`);
      const inPlace = Float32Array.from(a);
      backend.addInto!(inPlace, b, inPlace);
      assert.deepEqual(inPlace, want, `${backend.name} n ${n}, in place`);
    }
  });

  test(`${backend.name}: relu and its backward, bit for bit the layers' TypeScript loops (NaN, -0, tails), into activation buffers`, () => {
    const r = rng(15);
    for (const n of [1, 5, 64, 131]) {
      const x = Float32Array.from({ length: n }, () => r.uniform(-1, 1)), dy = Float32Array.from({ length: n }, () => r.uniform(-1, 1));
      x[0] = Number.NaN; if (n > 1) x[1] = -0; if (n > 2) { x[2] = 0.5; dy[2] = Number.NaN; }
      const wantY = new Float32Array(n), wantDz = Float32Array.from(dy);
      activationForward('relu', x, wantY, n);
      activationBackward('relu', x, wantY, wantDz, n);
      for (const place of [(m: number) => new Float32Array(m), (m: number) => backend.activationBuffer?.(m) ?? new Float32Array(m)]) {
        const y = place(n).fill(7), dz = place(n).fill(7);
        backend.relu!(x, y);
        backend.reluBackward!(x, dy, dz);
        assert.deepEqual([y, dz], [wantY, wantDz], `${backend.name} n ${n}`);
        assert.ok(Object.is(y[1 % n], n > 1 ? 0 : wantY[0]), 'relu(-0) is +0');
      }
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: layer normalisation forward and backward, bit for bit the TypeScript's (float64 arithmetic), with and without γ and β, into activation buffers`, () => {
    const r = rng(14);
    for (const [rows, D] of [[1, 1], [3, 5], [7, 64], [2, 130]] as const) {
      const n = rows * D;
      const x = Float32Array.from({ length: n }, () => r.uniform(-3, 3) + 10), dy = Float32Array.from({ length: n }, () => r.uniform(-1, 1));
      const gamma = Float32Array.from({ length: D }, () => r.uniform(0.5, 1.5)), beta = Float32Array.from({ length: D }, () => r.uniform(-1, 1));
      for (const [g, b] of [[gamma, beta], [null, null], [gamma, null]] as const) {
        const what = `${backend.name} ${rows}x${D}${g ? ' γ' : ''}${b ? ' β' : ''}`;
        const want = { y: new Float32Array(n), xh: new Float32Array(n), r: new Float64Array(rows), dx: new Float32Array(n), dg: Float32Array.from(gamma), db: Float32Array.from(beta) };
        layerNormForward(x, D, 1e-3, g, b, want.y, want.xh, want.r);
        layerNormBackward(dy, D, want.xh, want.r, g, g ? want.dg : null, b ? want.db : null, want.dx);
        for (const place of [(m: number) => new Float32Array(m), (m: number) => backend.activationBuffer?.(m) ?? new Float32Array(m)]) {
          const y = place(n).fill(Number.NaN), xh = place(n).fill(Number.NaN), rr = new Float64Array(rows), dx = place(n).fill(Number.NaN);
          const dg = Float32Array.from(gamma), db = Float32Array.from(beta);
          layerNormForwardOn(backend, x, D, 1e-3, g, b, y, xh, rr);
          layerNormBackwardOn(backend, dy, D, xh, rr, g, g ? dg : null, b ? db : null, dx);
          assert.deepEqual([y, xh, rr, dx, dg, db], [want.y, want.xh, want.r, want.dx, want.dg, want.db], what);
        }
      }
    }
  });
}

for (const backend of backends) {
  test(`${backend.name}: a resident cache (kept in wasm memory between forward and backward) gives the same results bit for bit`, () => {
    const newCache = backend.newCache!.bind(backend);
    for (const c of cases.filter((_, i) => i % 3 === 0)) {
      const what = `${backend.name} ${name(c)}`;
      const js = forwardArgs(c, 'float32', true), res = forwardArgs(c, 'float32', false);
      res.cache = newCache(c.kind, c.T, c.B, c.H, null);
      layerForward(backend, js);
      layerForward(backend, res);
      for (const k of F_OUT) assert.deepEqual(res[k], js[k], `${what}: forward ${k}`);
      // Other calls in between must not disturb a resident cache.
      layerForward(backend, forwardArgs(c, 'float32', true, 5));
      const bj = backwardArgs(c, js, 'float32', true), br = backwardArgs(c, { ...js, cache: res.cache }, 'float32', true);
      layerBackward(backend, bj);
      layerBackward(backend, br);
      for (const k of B_OUT) assert.deepEqual(br[k], bj[k], `${what}: backward ${k}`);
      assert.equal(newCache(c.kind, c.T, c.B, c.H, res.cache), res.cache, 'the same shape reuses the block');
      backend.freeCache!(res.cache);
      assert.throws(() => layerBackward(backend, br), /released/);
    }
    // A resident cache is refused by another backend and by the composed (JavaScript) path.
    const c = cases[0]!, other = backends.find((b) => b !== backend)!;
    const f = forwardArgs(c, 'float32', false);
    f.cache = newCache(c.kind, c.T, c.B, c.H, null);
    layerForward(backend, f);
    assert.throws(() => layerBackward(other, backwardArgs(c, f, 'float32', false)), /belongs to another backend/);
    assert.throws(() => layerBackwardComposed(backend, backwardArgs(c, f, 'float32', false)), /backend-resident cache/);
    assert.throws(() => layerBackward(backend, { ...backwardArgs(c, f, 'float32', false), T: c.T - 1 }), /resident cache is for/);
    backend.freeCache!(f.cache);
  });
}

for (const backend of backends) {
  test(`${backend.name}: weights kept in wasm memory across calls see every in-place change (last byte, backward after forward, shared buffers, more weights than slots, limits below one call)`, () => {
    // Layer: forward, flip the sign of the last float of W_hh in place (its last byte changes),
    // forward again: the outputs are those of a fresh copy of the changed weights, and differ
    // from the first ones (so the change is visible at all).
    const c: Case = { kind: 'lstm', resetAfter: true, T: 4, B: 2, H: 9, I: 5, lengths: null, reverse: false, bias: true };
    const a = forwardArgs(c, 'float32', true);
    layerForward(backend, a);
    const first = Float32Array.from(a.out as Float32Array);
    a.whh[a.whh.length - 1] = -a.whh[a.whh.length - 1]!;
    layerForward(backend, a);
    const fresh = forwardArgs(c, 'float32', true);
    fresh.whh = Float32Array.from(a.whh as Float32Array);
    layerForward(backend, fresh);
    assert.deepEqual(a.out, fresh.out, 'forward after an in-place change of W_hh');
    assert.notDeepEqual(a.out, first, 'the change reaches the outputs');
    // Backward after forward sees a change made in between (W_ih and W_hh).
    a.wih[a.wih.length - 1] = -a.wih[a.wih.length - 1]!;
    a.whh[0] = a.whh[0]! * 2;
    const bInPlace = backwardArgs(c, a, 'float32', false);
    const bFresh = backwardArgs(c, { ...a, wih: Float32Array.from(a.wih as Float32Array), whh: Float32Array.from(a.whh as Float32Array) }, 'float32', false);
    layerBackward(backend, bInPlace);
    layerBackward(backend, bFresh);
    for (const k of B_OUT) assert.deepEqual(bInPlace[k], bFresh[k], `backward ${k} after an in-place change`);

    // Limits lower than one call's weights: the call keeps both of its copies (W_ih, larger than
    // W_hh here, is not evicted to make room for W_hh, whose copy would then land on it).
    const host = backend as unknown as { maxWeightSlots: number; maxWeightBytes: number };
    const limits = { slots: host.maxWeightSlots, bytes: host.maxWeightBytes };
    try {
      const wide: Case = { kind: 'lstm', resetAfter: true, T: 3, B: 2, H: 5, I: 9, lengths: null, reverse: false, bias: true };
      const expect = forwardArgs(wide, 'float32', true);
      layerForward(backend, expect);
      host.maxWeightSlots = 1; host.maxWeightBytes = 64;
      for (let i = 0; i < 2; i++) {
        const tight = forwardArgs(wide, 'float32', true);
        layerForward(backend, tight);
        assert.deepEqual(tight.out, expect.out, `forward with the weight-copy limits below one call's weights (call ${i + 1})`);
      }
    } finally {
      host.maxWeightSlots = limits.slots; host.maxWeightBytes = limits.bytes;
    }

    // Dense: views at two offsets of one buffer, a longer view from the same offset, and more
    // weight arrays in turn than there are slots; each changed in place before its second use.
    const rows = 3, K = 6, U = 5, n = K * U;
    const dense = (w: Float32Array, u = U): Float32Array => {
      const z = new Float32Array(rows * u);
      denseForward(backend, { rows, K, U: u, x: arr(rows * K, 31, 1, 'float32'), w, b: null, z });
      return z;
    };
    const shared = Float32Array.from(randomArray(2 * n + U, 32, 0.5, 'float32'));
    const views = [shared.subarray(0, n), shared.subarray(n, 2 * n), shared.subarray(n + U, 2 * n + U)];
    const many = [...views, ...Array.from({ length: 70 }, (_, i) => Float32Array.from(randomArray(n, 100 + i, 0.5, 'float32')))];
    for (const change of [false, true]) {
      for (let i = 0; i < many.length; i++) {
        const w = many[i]!;
        if (change) w[n - 1] = -w[n - 1]! - 1; // (the third view overlaps the second: it changes too)
        assert.deepEqual(dense(w), dense(Float32Array.from(w)), `weights ${i}${change ? ' changed in place' : ''}`);
      }
      // The first view's buffer and offset with more floats (a wider layer).
      const wide = shared.subarray(0, K * (U + 1));
      assert.deepEqual(dense(wide, U + 1), dense(Float32Array.from(wide), U + 1), 'a longer view from the same offset');
    }
  });

  test(`${backend.name}: batch 1's W_hh packed in blocks of rows follows every change of W_hh (in place, in a full block or in a mixed group, the same array as another cell with another H, eviction)`, () => {
    // Batch-1 loops multiply by a packed copy of W_hh kept beside its copy in wasm memory and
    // packed again only when that copy was written: outputs must be those of a fresh array every
    // time. H = 60: units [0, 28) in a full block of each gate block, [28, 60) in mixed groups.
    const c: Case = { kind: 'lstm', resetAfter: true, T: 3, B: 1, H: 60, I: 5, lengths: null, reverse: false, bias: true };
    const a = forwardArgs(c, 'float32', false);
    const run = (x: LayerForwardArgs): Float32Array => { layerForward(backend, x); return Float32Array.from(x.out as Float32Array); };
    const fresh = (x: LayerForwardArgs): Float32Array => run({ ...x, whh: Float32Array.from(x.whh as Float32Array), out: (x.out as Float32Array).slice() });
    let last = run(a);
    assert.deepEqual(last, fresh(a), 'first call');
    const H = c.H;
    // Row 0 (gate i, unit 0: a full block), row 2H + 59 (gate g, unit 59: the last mixed group).
    for (const [i, what] of [[0, 'a full block'], [(2 * H + 59) * H + 7, 'a mixed group']] as const) {
      a.whh[i] = a.whh[i]! + 0.75;
      const now = run(a);
      assert.deepEqual(now, fresh(a), `after an in-place change in ${what}`);
      assert.notDeepEqual(now, last, `the change in ${what} reaches the outputs`);
      last = now;
    }
    // The same 14,400 floats as a tanh RNN of 120 units (another plan), then as the LSTM again:
    // the packing follows H.
    const r: Case = { kind: 'rnn_tanh', resetAfter: true, T: 3, B: 1, H: 120, I: 5, lengths: null, reverse: false, bias: true };
    const b = { ...forwardArgs(r, 'float32', false), whh: a.whh };
    assert.deepEqual(run(b), fresh(b), 'the array as a tanh RNN of 120 units');
    assert.deepEqual(run(a), fresh(a), 'and as the LSTM of 60 again');
    // Evicted with its copy and packed anew on the next use.
    const host = backend as unknown as { maxWeightSlots: number };
    const slots = host.maxWeightSlots;
    try {
      host.maxWeightSlots = 2;
      for (let i = 0; i < 3; i++) run(forwardArgs({ ...c, H: 28 + i }, 'float32', false)); // other arrays push it out
      a.whh[1] = -a.whh[1]!;
      assert.deepEqual(run(a), fresh(a), 'after its copy was evicted');
    } finally {
      host.maxWeightSlots = slots;
    }
  });

  test(`${backend.name}: fixedWeights compares each weight array at its first use in the scope only; a change made before it, or after it ends, is seen`, () => {
    const fixed = backend.fixedWeights!.bind(backend);
    const c: Case = { kind: 'gru', resetAfter: true, T: 3, B: 2, H: 7, I: 4, lengths: null, reverse: false, bias: true };
    const a = forwardArgs(c, 'float32', false);
    const run = (): Float32Array => { layerForward(backend, a); return Float32Array.from(a.out as Float32Array); };
    const expect = (what: string): Float32Array => {
      const fresh = forwardArgs(c, 'float32', false);
      fresh.wih = Float32Array.from(a.wih as Float32Array); fresh.whh = Float32Array.from(a.whh as Float32Array);
      layerForward(backend, fresh);
      assert.deepEqual(a.out, fresh.out, what);
      return fresh.out as Float32Array;
    };
    const flip = (w: F): void => { w[w.length - 1] = -w[w.length - 1]! - 0.5; };
    run();
    const kept = fixed(() => {
      flip(a.whh); // before its first use in the scope: compared, so seen
      run();
      expect('a change before the first use in the scope');
      const before = Float32Array.from(a.out as Float32Array);
      flip(a.whh); flip(a.wih); // after it: trusted, not seen (the copies are used as they are)
      const inner = fixed(() => run()); // a nested scope is the same scope
      assert.deepEqual(inner, before, 'a change inside the scope after the first use is not seen');
      return before;
    });
    assert.notDeepEqual(run(), kept, 'the scope ended: the change is seen');
    expect('after the scope');
    // A scope that throws ends too; the next scope compares again.
    assert.throws(() => fixed(() => { run(); throw new Error('inside'); }), /inside/);
    flip(a.wih);
    fixed(() => run());
    expect('in a new scope after one that threw');
  });
}
