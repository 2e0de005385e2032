// Why attention took over from recurrence, measured: the adding problem (src/apps/tasks.ts: two
// marked values among T, the target their sum) at T = 200, learnt by
//   - an LSTM reading the sequence and answering from its last state: the two values must
//     survive up to 200 recurrent steps, and so must the gradient coming back to them;
//   - attention pooling straight over the inputs (a per-step dense layer, no recurrence at all):
//     every input is one step from the output, as in a Transformer;
//   - the LSTM's states with attention pooling on top.
// Same data, optimiser (Adam 0.01, gradients clipped to norm 1), batch and epochs; validation MSE
// per epoch, "solved" below 0.01 (predicting the mean gives 0.167).
//
//   npm run build && node dist/examples/long-range.js [T] [epochs]
import * as rnn from '../src/index.js';
import { ADDING_BASELINE_MSE, ADDING_SOLVED_MSE, makeAdding } from '../src/apps/tasks.js';

const MODELS: Record<string, () => rnn.Layer[]> = {
  'LSTM, last state': () => [rnn.layers.lstm({ units: 32, seed: 1 }), rnn.layers.dense({ units: 1, seed: 2 })],
  'attention, no recurrence': () => [
    rnn.layers.dense({ units: 16, activation: 'tanh', seed: 1 }), rnn.layers.attentionPooling({ units: 8, seed: 3 }), rnn.layers.dense({ units: 1, seed: 2 }),
  ],
  'LSTM + attention': () => [
    rnn.layers.lstm({ units: 32, returnSequences: true, seed: 1 }), rnn.layers.attentionPooling({ units: 8, seed: 3 }), rnn.layers.dense({ units: 1, seed: 2 }),
  ],
};

export async function main(T = 200, epochs = 6, log: (s: string) => void = console.log): Promise<Record<string, number[]>> {
  const train = makeAdding(4000, T, 1), val = makeAdding(500, T, 2);
  const x = (d: typeof train) => ({ data: d.x, shape: [d.n, T, 2], mask: null }), y = (d: typeof train) => ({ data: d.y, shape: [d.n, 1], mask: null });
  log(`adding problem, T = ${T}: validation MSE per epoch (mean predictor ${ADDING_BASELINE_MSE.toFixed(3)}, solved < ${ADDING_SOLVED_MSE})`);
  const out: Record<string, number[]> = {};
  for (const [name, layers] of Object.entries(MODELS)) {
    const model = rnn.sequential({ inputShape: [null, 2], layers: layers() });
    model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'meanSquaredError' });
    const mse: number[] = [], t0 = performance.now();
    for (let e = 0; e < epochs; e++) {
      await model.fit(x(train), y(train), { epochs: 1, batchSize: 50, verbose: 0, clipNorm: 1, seed: e });
      mse.push(model.evaluate(x(val), y(val)).loss!);
    }
    const solved = mse.findIndex((m) => m < ADDING_SOLVED_MSE);
    log(`  ${name.padEnd(25)} ${String(model.countParams()).padStart(5)} parameters  ${mse.map((m) => m.toFixed(4)).join(' ')}  ` +
      `${solved >= 0 ? `solved in epoch ${solved + 1}` : 'not solved'}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    out[name] = mse;
  }
  return out;
}

if (process.argv[1]?.endsWith('long-range.js')) {
  const [T, epochs] = process.argv.slice(2).map(Number);
  await main(T || undefined, epochs || undefined);
}
