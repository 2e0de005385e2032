// Cross-check against ONNX Runtime: single-node ONNX models of the RNN (Tanh, Relu), GRU
// (linear_before_reset = 1 and 0) and LSTM operators, directions forward / reverse /
// bidirectional, with initial_h (and initial_c) and with or without sequence_lens, built in code
// by test/onnx-proto.ts and run by onnxruntime-node from an in-memory buffer. rnnkit's weights
// (PyTorch layout) are converted to ONNX layout:
//   W (D, G, I) = weight_ih, R (D, G, H) = weight_hh, B (D, 2G) = [bias_ih | bias_hh],
//   gate blocks reordered: LSTM i|f|g|o -> i|o|f|c; GRU r|z|n -> z|r|h; RNN unchanged.
// The ONNX 'reverse' direction is compared with the reverse half of a bidirectional rnnkit layer.
// This is also the only external check of GRU resetAfter: false (linear_before_reset = 0), which
// PyTorch lacks.
//
// Semantics that must (and do) agree: outputs beyond sequence_lens[b] are zero, the state is
// frozen there (Y_h is the state after the last valid step), and the reverse direction starts
// at each sequence's own last valid step, t = sequence_lens[b] - 1.
//
// One known divergence, pinned by the 'zero' length set: for a sequence of length 0, ORT 1.30
// returns Y_h = 0 (and Y_c = 0), while rnnkit returns the initial state h0 (and c0) unchanged,
// which is what its contract says (padded steps do not change the state; Keras masking does the
// same). The ONNX spec does not define this case and PyTorch rejects length 0 outright. Every
// other value, including Y (all zeros) for such a sequence, agrees.
//
// Tolerance: both sides compute in float32 from identical float32 inputs, but in different
// orders (ORT: MLAS GEMMs with blocked summation, its own vectorised sigmoid/tanh
// approximations, accurate to a few float32 ulps). Over 7 steps on values of magnitude ≤ ~3,
// the observed differences are ≤ 2.4e-7 (a couple of ulps); 2e-5 absolute + 1e-5 relative
// leaves margin and still catches any semantic difference (those move values by 1e-2 or more).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { GRU, LSTM, RNN, Tensor, type Recurrent } from '../src/index.js';
import { assertClose, randomArray } from './helpers.js';
import { attr, DataType, encodeModel, ProtoWriter, type Attribute } from '../src/export/onnx-proto.js';

const T = 7, B = 4, I = 5, H = 6;
const ATOL = 2e-5, RTOL = 1e-5;

type Cell = 'rnn_tanh' | 'rnn_relu' | 'gru_lbr1' | 'gru_lbr0' | 'lstm';
type Direction = 'forward' | 'reverse' | 'bidirectional';

const CELLS: Cell[] = ['rnn_tanh', 'rnn_relu', 'gru_lbr1', 'gru_lbr0', 'lstm'];
const DIRECTIONS: Direction[] = ['forward', 'reverse', 'bidirectional'];
/**
 * null: no sequence_lens input; 'mixed': the longest is T; 'short': every sequence shorter than
 * T; 'zero': one empty sequence (see the divergence noted above).
 */
const LENGTH_SETS: Record<string, number[] | null> = {
  full: null,
  mixed: [5, 7, 1, 3],
  short: [2, 6, 4, 1],
  zero: [3, 0, 7, 2],
};

function opType(c: Cell): 'RNN' | 'GRU' | 'LSTM' {
  return c === 'lstm' ? 'LSTM' : c.startsWith('gru') ? 'GRU' : 'RNN';
}

/** PyTorch gate-block index of each ONNX gate block. */
function onnxGateOrder(c: Cell): number[] {
  if (c === 'lstm') return [0, 3, 1, 2]; // ONNX i|o|f|c from PyTorch i|f|g|o
  if (c.startsWith('gru')) return [1, 0, 2]; // ONNX z|r|h from PyTorch r|z|n
  return [0];
}

function makeLayer(c: Cell, bidirectional: boolean): Recurrent {
  const o = { inputSize: I, hiddenSize: H, bidirectional, init: 'pytorch' as const, seed: 3 };
  switch (c) {
    case 'rnn_tanh': return new RNN({ ...o, nonlinearity: 'tanh' });
    case 'rnn_relu': return new RNN({ ...o, nonlinearity: 'relu' });
    case 'gru_lbr1': return new GRU({ ...o, resetAfter: true });
    case 'gru_lbr0': return new GRU({ ...o, resetAfter: false });
    case 'lstm': return new LSTM(o);
  }
}

/** Rows of a (nGates·H, cols) PyTorch matrix (or vector, cols = 1), gate blocks in ONNX order. */
function reorderGates(src: ArrayLike<number>, order: number[], cols: number): number[] {
  const out: number[] = [];
  for (const g of order) {
    for (let r = g * H; r < (g + 1) * H; r++) {
      for (let k = 0; k < cols; k++) out.push(src[r * cols + k]!);
    }
  }
  return out;
}

/** Slice [D, B, H] state data to the given directions. */
function pickDirs(s: ArrayLike<number>, dirs: number[]): number[] {
  const out: number[] = [];
  for (const d of dirs) for (let i = 0; i < B * H; i++) out.push(s[d * B * H + i]!);
  return out;
}

interface OnnxCase {
  cell: Cell;
  direction: Direction;
  lengths: number[] | null;
}

function buildModel(cs: OnnxCase, weights: Record<string, ArrayLike<number>>, dirs: number[]): Uint8Array {
  const { cell, direction, lengths } = cs;
  const D = dirs.length;
  const order = onnxGateOrder(cell);
  const G = order.length * H;
  const W: number[] = [], R: number[] = [], Bv: number[] = [];
  for (const d of dirs) {
    const s = d === 1 ? '_l0_reverse' : '_l0';
    W.push(...reorderGates(weights[`weight_ih${s}`]!, order, I));
    R.push(...reorderGates(weights[`weight_hh${s}`]!, order, H));
    Bv.push(...reorderGates(weights[`bias_ih${s}`]!, order, 1), ...reorderGates(weights[`bias_hh${s}`]!, order, 1));
  }
  const isLstm = cell === 'lstm';
  const attributes: Attribute[] = [attr.int('hidden_size', H), attr.string('direction', direction)];
  if (cell === 'rnn_tanh') attributes.push(attr.strings('activations', Array(D).fill('Tanh')));
  if (cell === 'rnn_relu') attributes.push(attr.strings('activations', Array(D).fill('Relu')));
  if (cell === 'gru_lbr1') attributes.push(attr.int('linear_before_reset', 1));
  if (cell === 'gru_lbr0') attributes.push(attr.int('linear_before_reset', 0));
  const inputs = ['X', 'W', 'R', 'B', lengths ? 'sequence_lens' : '', 'initial_h'];
  if (isLstm) inputs.push('initial_c');
  const outputs = ['Y', 'Y_h'];
  if (isLstm) outputs.push('Y_c');
  const F = DataType.FLOAT;
  return encodeModel({
    opset: 14,
    graph: {
      name: `${cell}_${direction}`,
      nodes: [{ opType: opType(cell), name: 'rnn', inputs, outputs, attributes }],
      initializers: [
        { name: 'W', dataType: F, dims: [D, G, I], data: W },
        { name: 'R', dataType: F, dims: [D, G, H], data: R },
        { name: 'B', dataType: F, dims: [D, 2 * G], data: Bv },
      ],
      inputs: [
        { name: 'X', elemType: F, shape: [T, B, I] },
        ...(lengths ? [{ name: 'sequence_lens', elemType: DataType.INT32, shape: [B] }] : []),
        { name: 'initial_h', elemType: F, shape: [D, B, H] },
        ...(isLstm ? [{ name: 'initial_c', elemType: F, shape: [D, B, H] }] : []),
      ],
      outputs: [
        { name: 'Y', elemType: F, shape: [T, D, B, H] },
        { name: 'Y_h', elemType: F, shape: [D, B, H] },
        ...(isLstm ? [{ name: 'Y_c', elemType: F, shape: [D, B, H] }] : []),
      ],
    },
  });
}

function maxAbsErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('onnx-proto: varints, floats and strings use the protobuf wire format', () => {
  assert.deepEqual([...new ProtoWriter().varint(300).finish()], [0xac, 0x02]);
  assert.deepEqual([...new ProtoWriter().varint(0).finish()], [0]);
  assert.deepEqual([...new ProtoWriter().varint(-1).finish()], [...Array(9).fill(0xff), 0x01]);
  assert.deepEqual([...new ProtoWriter().int(1, 150).finish()], [0x08, 0x96, 0x01]);
  assert.deepEqual([...new ProtoWriter().string(2, 'testing').finish()], [0x12, 0x07, 0x74, 0x65, 0x73, 0x74, 0x69, 0x6e, 0x67]);
  assert.deepEqual([...new ProtoWriter().float(2, 1).finish()], [0x15, 0x00, 0x00, 0x80, 0x3f]);
});

test('onnx-proto: a hand-built Add model runs in ONNX Runtime', async () => {
  const bytes = encodeModel({
    opset: 14,
    graph: {
      name: 'add',
      nodes: [{ opType: 'Add', inputs: ['a', 'c'], outputs: ['y'] }],
      initializers: [{ name: 'c', dataType: DataType.FLOAT, dims: [3], data: [10, 20, 30] }],
      inputs: [{ name: 'a', elemType: DataType.FLOAT, shape: [2, 3] }],
      outputs: [{ name: 'y', elemType: DataType.FLOAT, shape: [2, 3] }],
    },
  });
  const session = await ort.InferenceSession.create(bytes);
  const r = await session.run({ a: new ort.Tensor('float32', Float32Array.from([1, 2, 3, 4, 5, 6]), [2, 3]) });
  assert.deepEqual([...(r.y!.data as Float32Array)], [11, 22, 33, 14, 25, 36]);
  await session.release();
});

let seed = 1000;
for (const cell of CELLS) {
  for (const direction of DIRECTIONS) {
    for (const [lname, lengths] of Object.entries(LENGTH_SETS)) {
      const caseSeed = seed;
      seed += 10;
      test(`onnx ${opType(cell)} ${cell} ${direction} ${lname}`, async (t) => {
        const bidirectional = direction !== 'forward';
        const layer = makeLayer(cell, bidirectional);
        const weights: Record<string, ArrayLike<number>> = {};
        layer.params.entries.forEach((e, k) => { weights[e.name] = randomArray(e.size, caseSeed + k, 0.6, 'float32'); });
        layer.loadStateDict(weights);
        const Dk = bidirectional ? 2 : 1;
        const dirs = direction === 'forward' ? [0] : direction === 'reverse' ? [1] : [0, 1];
        const D = dirs.length;
        const isLstm = cell === 'lstm';
        const x = randomArray(T * B * I, caseSeed + 100, 1, 'float32') as Float32Array;
        const h0 = randomArray(Dk * B * H, caseSeed + 101, 0.5, 'float32') as Float32Array;
        const c0 = randomArray(Dk * B * H, caseSeed + 102, 0.5, 'float32') as Float32Array;

        const mine = layer.forward(new Tensor(x, [T, B, I]), {
          h0: new Tensor(h0, [Dk, B, H]),
          c0: isLstm ? new Tensor(c0, [Dk, B, H]) : null,
          lengths,
        });

        const session = await ort.InferenceSession.create(buildModel({ cell, direction, lengths }, weights, dirs));
        const feeds: Record<string, ort.Tensor> = {
          X: new ort.Tensor('float32', x, [T, B, I]),
          initial_h: new ort.Tensor('float32', Float32Array.from(pickDirs(h0, dirs)), [D, B, H]),
        };
        if (lengths) feeds.sequence_lens = new ort.Tensor('int32', Int32Array.from(lengths), [B]);
        if (isLstm) feeds.initial_c = new ort.Tensor('float32', Float32Array.from(pickDirs(c0, dirs)), [D, B, H]);
        const res = await session.run(feeds);
        await session.release();

        // rnnkit output [T, B, Dk·H] -> ONNX Y layout [T, D, B, H].
        const Y = res.Y!, Yh = res.Y_h!;
        assert.deepEqual([...Y.dims], [T, D, B, H]);
        assert.deepEqual([...Yh.dims], [D, B, H]);
        const want = new Float32Array(T * D * B * H);
        for (let tt = 0; tt < T; tt++) {
          for (let k = 0; k < D; k++) {
            for (let b = 0; b < B; b++) {
              for (let j = 0; j < H; j++) {
                want[((tt * D + k) * B + b) * H + j] = mine.output.data[(tt * B + b) * Dk * H + dirs[k]! * H + j]!;
              }
            }
          }
        }
        const label = `${cell} ${direction} ${lname}`;
        const ortY = Y.data as Float32Array, ortYh = Yh.data as Float32Array;
        assertClose(want, ortY, ATOL, RTOL, `${label} Y`);
        // Final states. For an empty sequence rnnkit keeps the initial state exactly, ORT writes
        // zeros: check both conventions there, and compare everything else.
        const emptyRows = (lengths ?? []).flatMap((len, b) => (len === 0 ? [b] : []));
        const finalState = (mineN: ArrayLike<number>, init: ArrayLike<number>, ortN: Float32Array, what: string): string => {
          const myN = pickDirs(mineN, dirs);
          const initN = pickDirs(init, dirs);
          const expectOrt = Float32Array.from(myN);
          for (let k = 0; k < D; k++) {
            for (const b of emptyRows) {
              for (let j = 0; j < H; j++) {
                const i = (k * B + b) * H + j;
                assert.equal(myN[i], initN[i], `${label} rnnkit ${what}[${k}, b=${b}] of an empty sequence is the initial state`);
                expectOrt[i] = 0;
              }
            }
          }
          assertClose(expectOrt, ortN, ATOL, RTOL, `${label} ${what}`);
          return `${what} ${maxAbsErr(expectOrt, ortN).toExponential(1)}`;
        };
        const errs = [`Y ${maxAbsErr(want, ortY).toExponential(1)}`, finalState(mine.hN.data, h0, ortYh, 'Y_h')];
        if (isLstm) errs.push(finalState(mine.cN!.data, c0, res.Y_c!.data as Float32Array, 'Y_c'));
        // ORT, like rnnkit, writes exact zeros beyond each sequence's length.
        if (lengths) {
          for (let b = 0; b < B; b++) {
            for (let tt: number = lengths[b]!; tt < T; tt++) {
              for (let k = 0; k < D; k++) {
                for (let j = 0; j < H; j++) assert.equal(ortY[((tt * D + k) * B + b) * H + j], 0, `${label} ORT Y[t=${tt}, b=${b}] padding`);
              }
            }
          }
        }
        t.diagnostic(`max |err|: ${errs.join(', ')}`);
      });
    }
  }
}
