// From TensorFlow.js to rnnkit and on to ONNX: a model TF.js saved (model.json and weights.bin,
// here one of the golden models TF.js 4.22 made for the tests: an embedding, an LSTM and a
// bidirectional GRU with TF.js's default hard-sigmoid gates, a softmax) is loaded, predicts what
// TF.js predicted, trains on a few steps in rnnkit, is saved as a rnnkit model, and is exported to
// ONNX for onnxruntime.
//
//   npm run build && node dist/examples/tfjs-import.js [tfjs-model-dir] [out-dir]
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as rnn from '../src/index.js';

export async function main(dir = 'test/golden/tfjs/lstm-gru-hard', out = mkdtempSync(join(tmpdir(), 'rnnkit-tfjs-'))): Promise<{ maxDiff: number; lossBefore: number; lossAfter: number; onnxBytes: number }> {
  const model = await rnn.loadTfjsModel(dir);
  model.summary();

  // The inputs TF.js was given, and its predictions (io.json, written beside the golden model).
  const io = JSON.parse(readFileSync(join(dir, 'io.json'), 'utf8')) as { input: { shape: number[]; data: number[] }; output: { data: number[] } };
  const x = new rnn.Tensor(Float32Array.from(io.input.data), io.input.shape);
  const mine = model.predict(x).data;
  let maxDiff = 0;
  for (let i = 0; i < mine.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mine[i]! - io.output.data[i]!));
  console.log(`largest difference from TF.js's predictions: ${maxDiff.toExponential(1)}`);

  // Train on: the classes here are a toy rule (the first token's parity).
  const y = new rnn.Tensor(Float32Array.from({ length: io.input.shape[0]! }, (_, b) => io.input.data[b * io.input.shape[1]!]! % 2), [io.input.shape[0]!]);
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.02 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const lossBefore = model.evaluate(x, y).loss!;
  await model.fit(x, y, { epochs: 40, batchSize: 4, verbose: 0 });
  const lossAfter = model.evaluate(x, y).loss!;
  console.log(`training loss ${lossBefore.toFixed(3)} -> ${lossAfter.toFixed(3)}`);

  await rnn.saveModel(model, join(out, 'rnnkit-model'));
  const { bytes } = rnn.exportOnnx(model);
  writeFileSync(join(out, 'model.onnx'), bytes);
  console.log(`saved ${join(out, 'rnnkit-model')} and ${join(out, 'model.onnx')} (${bytes.length.toLocaleString('en-US')} bytes)`);
  return { maxDiff, lossBefore, lossAfter, onnxBytes: bytes.length };
}

if (process.argv[1]?.endsWith('tfjs-import.js')) {
  await main(process.argv[2], process.argv[3]);
}
