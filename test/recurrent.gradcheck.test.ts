// Finite-difference gradient checks in float64 for every cell x {1, 2 layers} x {uni, bi} x
// {with, without lengths} x {with, without initial states}: inputs, initial states, every parameter.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GRU, LSTM, RNN, Tensor, type Recurrent } from '../src/index.js';
import { assertClose, dot, numericalGrad, randomArray } from './helpers.js';

type Make = (o: { numLayers: number; bidirectional: boolean; batchFirst: boolean }) => Recurrent;
const I = 3, H = 4, T = 5, B = 3;
const common = { inputSize: I, hiddenSize: H, dtype: 'float64' as const, init: 'pytorch' as const, seed: 7 };
const cells: Record<string, Make> = {
  lstm: (o) => new LSTM({ ...common, ...o }),
  gru: (o) => new GRU({ ...common, ...o }),
  'gru(resetAfter=false)': (o) => new GRU({ ...common, ...o, resetAfter: false }),
  'rnn(tanh)': (o) => new RNN({ ...common, ...o }),
  'rnn(relu)': (o) => new RNN({ ...common, ...o, nonlinearity: 'relu' }),
  'lstm(hardSigmoid)': (o) => new LSTM({ ...common, ...o, recurrentActivation: 'hardSigmoid' }),
  'gru(hardSigmoid)': (o) => new GRU({ ...common, ...o, recurrentActivation: 'hardSigmoid' }),
  'gru(resetAfter=false, hardSigmoid)': (o) => new GRU({ ...common, ...o, resetAfter: false, recurrentActivation: 'hardSigmoid' }),
};

for (const [name, make] of Object.entries(cells)) {
  for (const numLayers of [1, 2]) {
    for (const bidirectional of [false, true]) {
      for (const withLengths of [false, true]) {
        for (const withState of [false, true]) {
          const label = `${name} L=${numLayers} ${bidirectional ? 'bi' : 'uni'} ${withLengths ? 'lengths' : 'full'} ${withState ? 'h0' : 'zero-state'}`;
          test(`gradcheck ${label}`, () => {
            const batchFirst = numLayers === 2 && withState; // exercise both layouts
            const layer = make({ numLayers, bidirectional, batchFirst });
            const isLstm = layer.kind === 'lstm';
            const LD = numLayers * (bidirectional ? 2 : 1);
            const x = randomArray(T * B * I, 11, 1);
            const h0 = randomArray(LD * B * H, 12, 0.5);
            const c0 = randomArray(LD * B * H, 13, 0.5);
            // lengths include an empty sequence and a full one; the longest must be T for the output shape.
            const lengths = withLengths ? [T, 2, 0] : null;
            const shapeX = batchFirst ? [B, T, I] : [T, B, I];
            const wOut = randomArray(T * B * LD / numLayers * H, 14, 1);
            const wH = randomArray(LD * B * H, 15, 1);
            const wC = randomArray(LD * B * H, 16, 1);
            const run = () => layer.forward(new Tensor(x, shapeX), {
              h0: withState ? new Tensor(h0, [LD, B, H]) : null,
              c0: withState && isLstm ? new Tensor(c0, [LD, B, H]) : null,
              lengths,
            });
            const loss = (): number => {
              const r = run();
              return dot(r.output.data, wOut) + dot(r.hN.data, wH) + (r.cN ? dot(r.cN.data, wC) : 0);
            };
            run();
            layer.zeroGrad();
            const outShape = batchFirst ? [B, T, wOut.length / (T * B)] : [T, B, wOut.length / (T * B)];
            const g = layer.backward(new Tensor(wOut, outShape), {
              dhN: new Tensor(wH, [LD, B, H]),
              dcN: isLstm ? new Tensor(wC, [LD, B, H]) : null,
            });
            const tol = 1e-6;
            assertClose(g.dx.data, numericalGrad(x, loss), tol, 1e-5, `${label} dx`);
            if (withState) {
              assertClose(g.dh0.data, numericalGrad(h0, loss), tol, 1e-5, `${label} dh0`);
              if (isLstm) assertClose(g.dc0!.data, numericalGrad(c0, loss), tol, 1e-5, `${label} dc0`);
            }
            const grads = layer.gradients();
            for (const e of layer.params.entries) {
              const v = layer.params.value(e.name);
              assertClose(grads[e.name]!, numericalGrad(v, loss), tol, 1e-5, `${label} d${e.name}`);
            }
          });
        }
      }
    }
  }
}

// Recurrent dropout: with a fixed mask the layer is a deterministic function; its gradients
// must still match finite differences (mask on h_prev in every recurrent product only).
for (const [name, make] of Object.entries(cells)) {
  test(`gradcheck ${name} with a recurrent-dropout mask, 2 layers, bidirectional, lengths`, () => {
    const layer = make({ numLayers: 2, bidirectional: true, batchFirst: false });
    const LD = 4;
    const x = randomArray(T * B * I, 21, 1);
    const h0 = randomArray(LD * B * H, 22, 0.5);
    const mask = randomArray(LD * B * H, 23, 1).map((v: number) => (v > -0.3 ? 1 / 0.65 : 0));
    const wOut = randomArray(T * B * 2 * H, 24, 1);
    const lengths = [T, 3, 1];
    const run = () => layer.forward(new Tensor(x, [T, B, I]), { h0: new Tensor(h0, [LD, B, H]), lengths, recurrentMask: new Tensor(mask, [LD, B, H]) });
    const loss = () => dot(run().output.data, wOut);
    run();
    layer.zeroGrad();
    const g = layer.backward(new Tensor(wOut, [T, B, 2 * H]));
    assertClose(g.dx.data, numericalGrad(x, loss), 1e-6, 1e-5, `${name} dx`);
    assertClose(g.dh0.data, numericalGrad(h0, loss), 1e-6, 1e-5, `${name} dh0`);
    const grads = layer.gradients();
    for (const e of layer.params.entries) assertClose(grads[e.name]!, numericalGrad(layer.params.value(e.name), loss), 1e-6, 1e-5, `${name} d${e.name}`);
    // The mask matters: without it the output differs.
    const free = layer.forward(new Tensor(x, [T, B, I]), { h0: new Tensor(h0, [LD, B, H]), lengths }).output.data;
    assert.notDeepEqual(free, run().output.data);
  });
}
