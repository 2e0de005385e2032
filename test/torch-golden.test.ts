// PyTorch golden values: forward outputs, final states and every gradient of rnnkit's LSTM, GRU
// and RNN (tanh, relu) against torch.nn.{LSTM,GRU,RNN} (2 layers, bidirectional, batch-first and
// time-major, full-length and variable-length through pack_padded_sequence).
//
// The expected values live in test/golden/torch_rnn.json, written by
//     /usr/bin/python3 tools/golden/make_golden.py > test/golden/torch_rnn.json
// (see that script's header); this test only reads the JSON, it never needs torch.
//
// PyTorch's GRU is rnnkit's resetAfter: true (the default). The resetAfter: false GRU has no
// PyTorch counterpart; test/onnx.test.ts covers it (ONNX GRU linear_before_reset = 0).
//
// Tolerances.
//  * float64: torch computed in float64 from the same float64 numbers (the JSON keeps every
//    value exactly: weights/inputs are float32-representable, results round-trip through
//    repr()). The only differences are summation order and libm's exp/tanh, a few ulps per
//    operation through ~30 dependent operations, so |a - b| <= 1e-12 + 1e-9·|b|.
//  * float32: the inputs are the same numbers (exactly representable in float32), but rnnkit
//    computes in float32: relative rounding 6e-8 per operation, accumulated over 7 steps × 2
//    layers × 2 directions and dot products of length ≤ 12, on values of magnitude ≤ ~6.
//    Observed errors are <= 3.2e-6 (most ~1e-7); 1e-4 absolute (+ 1e-4 relative, for the few gradients
//    of magnitude > 1) leaves an order of magnitude of room while still catching any real
//    error (a wrong gate, bias or ordering moves values by 1e-2 or more).
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GRU, LSTM, RNN, Tensor, type Recurrent } from '../src/index.js';
import { assertClose } from './helpers.js';

interface GoldenCase {
  name: string;
  cell: 'lstm' | 'gru' | 'rnn_tanh' | 'rnn_relu';
  inputSize: number;
  hiddenSize: number;
  numLayers: number;
  bidirectional: boolean;
  batchFirst: boolean;
  T: number;
  B: number;
  lengths: number[] | null;
  weights: Record<string, number[]>;
  x: number[];
  h0: number[];
  c0: number[] | null;
  wOut: number[];
  wH: number[];
  wC: number[] | null;
  expected: {
    loss: number;
    output: number[];
    hN: number[];
    cN: number[] | null;
    dx: number[];
    dh0: number[];
    dc0: number[] | null;
    grads: Record<string, number[]>;
  };
}

interface GoldenFile {
  generator: { command: string; torch: string; python: string };
  cases: GoldenCase[];
}

const golden = JSON.parse(
  readFileSync(new URL('../../test/golden/torch_rnn.json', import.meta.url), 'utf8'),
) as GoldenFile;

type DT = 'float32' | 'float64';
const TOL: Record<DT, { atol: number; rtol: number }> = {
  float64: { atol: 1e-12, rtol: 1e-9 },
  float32: { atol: 1e-4, rtol: 1e-4 },
};

function build(c: GoldenCase, dtype: DT): Recurrent {
  const o = {
    inputSize: c.inputSize, hiddenSize: c.hiddenSize, numLayers: c.numLayers,
    bidirectional: c.bidirectional, batchFirst: c.batchFirst, dtype,
  };
  switch (c.cell) {
    case 'lstm': return new LSTM(o);
    case 'gru': return new GRU(o); // resetAfter defaults to true = PyTorch
    case 'rnn_tanh': return new RNN({ ...o, nonlinearity: 'tanh' });
    case 'rnn_relu': return new RNN({ ...o, nonlinearity: 'relu' });
  }
}

const arr = (dtype: DT, v: ArrayLike<number>) => (dtype === 'float64' ? Float64Array.from(v) : Float32Array.from(v));

function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/** Largest absolute error, for the diagnostics printed with each test. */
function maxAbsErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]! - b[i]!));
  return m;
}

test('golden file: generator recorded, size sane', () => {
  assert.match(golden.generator.command, /make_golden\.py/);
  assert.match(golden.generator.torch, /^\d+\.\d+/);
  assert.ok(golden.cases.length >= 9);
  const cells = new Set<string>(golden.cases.map((c) => c.cell));
  for (const k of ['lstm', 'gru', 'rnn_tanh', 'rnn_relu']) assert.ok(cells.has(k), `golden file has a ${k} case`);
  assert.ok(golden.cases.some((c) => !c.batchFirst), 'golden file has a time-major case');
  assert.ok(golden.cases.some((c) => c.lengths !== null), 'golden file has a variable-length case');
});

for (const c of golden.cases) {
  for (const dtype of ['float64', 'float32'] as const) {
    test(`torch golden: ${c.name} (${dtype})`, (t) => {
      const { atol, rtol } = TOL[dtype];
      const layer = build(c, dtype);
      const isLstm = c.cell === 'lstm';
      const { T, B, hiddenSize: H, numLayers: L } = c;
      const D = c.bidirectional ? 2 : 1;
      const LD = L * D;
      // Every expected parameter name is a layer parameter and vice versa (loadStateDict checks it too).
      assert.deepEqual(Object.keys(c.weights).sort(), layer.params.entries.map((e) => e.name).sort());
      layer.loadStateDict(c.weights);
      layer.zeroGrad();
      const shapeX = c.batchFirst ? [B, T, c.inputSize] : [T, B, c.inputSize];
      const shapeOut = c.batchFirst ? [B, T, D * H] : [T, B, D * H];
      const out = layer.forward(new Tensor(arr(dtype, c.x), shapeX), {
        h0: new Tensor(arr(dtype, c.h0), [LD, B, H]),
        c0: isLstm ? new Tensor(arr(dtype, c.c0!), [LD, B, H]) : null,
        lengths: c.lengths,
      });
      const g = layer.backward(new Tensor(arr(dtype, c.wOut), shapeOut), {
        dhN: new Tensor(arr(dtype, c.wH), [LD, B, H]),
        dcN: isLstm ? new Tensor(arr(dtype, c.wC!), [LD, B, H]) : null,
      });
      const errs: string[] = [];
      const check = (got: ArrayLike<number>, want: ArrayLike<number>, what: string): void => {
        assertClose(got, want, atol, rtol, `${c.name} ${dtype} ${what}`);
        errs.push(`${what} ${maxAbsErr(got, want).toExponential(1)}`);
      };
      check(out.output.data, c.expected.output, 'output');
      check(out.hN.data, c.expected.hN, 'hN');
      if (isLstm) check(out.cN!.data, c.expected.cN!, 'cN');
      const loss = dot(out.output.data, c.wOut) + dot(out.hN.data, c.wH) + (isLstm ? dot(out.cN!.data, c.wC!) : 0);
      check([loss], [c.expected.loss], 'loss');
      check(g.dx.data, c.expected.dx, 'dx');
      check(g.dh0.data, c.expected.dh0, 'dh0');
      if (isLstm) check(g.dc0!.data, c.expected.dc0!, 'dc0');
      const grads = layer.gradients();
      for (const [name, want] of Object.entries(c.expected.grads)) check(grads[name]!, want, `d${name}`);

      // Padded steps: zero output (as pad_packed_sequence) and zero input gradient, exactly.
      const lengths = c.lengths;
      if (lengths) {
        const W = D * H;
        for (let b = 0; b < B; b++) {
          for (let tt: number = lengths[b]!; tt < T; tt++) {
            const o: number = c.batchFirst ? (b * T + tt) * W : (tt * B + b) * W;
            for (let j = 0; j < W; j++) assert.equal(out.output.data[o + j], 0, `${c.name} output[b=${b}, t=${tt}] is padding`);
            const ox = c.batchFirst ? (b * T + tt) * c.inputSize : (tt * B + b) * c.inputSize;
            for (let j = 0; j < c.inputSize; j++) assert.equal(g.dx.data[ox + j], 0, `${c.name} dx[b=${b}, t=${tt}] is padding`);
          }
        }
      }
      // Max absolute error per comparison, for the record.
      t.diagnostic(`max |err|: ${errs.join(', ')}`);
    });
  }
}
