// Train in rnnkit, serve with onnxruntime: a small character LSTM learns a passage, is exported
// to ONNX with its states as inputs and outputs, and onnxruntime-node (the same code runs on
// onnxruntime-web in a page) writes the continuation of a prompt one character at a time,
// feeding each step's state back in. With greedy decoding (the likeliest character each step)
// it writes what rnnkit's generateText writes.
//
//   npm run build && node dist/examples/onnx-export.js [epochs] [out.onnx]
import { writeFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import * as rnn from '../src/index.js';

const TEXT = `Call me Ishmael. Some years ago, never mind how long precisely, having little or no money
in my purse, and nothing particular to interest me on shore, I thought I would sail about a little
and see the watery part of the world. It is a way I have of driving off the spleen and regulating
the circulation. Whenever I find myself growing grim about the mouth; whenever it is a damp,
drizzly November in my soul; then, I account it high time to get to sea as soon as I can.
`;

/** Windows of `T` characters (inputs) and the characters after each (targets), every `hop`. */
function windows(ids: Int32Array, T: number, hop: number) {
  const starts: number[] = [];
  for (let s = 0; s + T + 1 <= ids.length; s += hop) starts.push(s);
  const x = new Float32Array(starts.length * T), y = new Float32Array(starts.length * T);
  starts.forEach((s, r) => {
    for (let t = 0; t < T; t++) { x[r * T + t] = ids[s + t]!; y[r * T + t] = ids[s + t + 1]!; }
  });
  return { x: new rnn.Tensor(x, [starts.length, T]), y: new rnn.Tensor(y, [starts.length, T]) };
}

/** Greedy continuation of `prompt` by an ONNX session: one character per run, the states fed back. */
async function continueWithOnnx(bytes: Uint8Array, vocab: rnn.CharVocab, prompt: string, length: number): Promise<string> {
  const session = await ort.InferenceSession.create(bytes);
  const stateIns = session.inputNames.filter((n) => n !== 'input');
  let feeds: Record<string, ort.Tensor> = {};
  for (const n of stateIns) feeds[n] = new ort.Tensor('float32', new Float32Array(64), [1, 1, 64]);
  let out = '';
  let probs: Float32Array = new Float32Array(0);
  for (const id of vocab.encode(prompt)) {
    const r = await session.run({ ...feeds, input: new ort.Tensor('int32', Int32Array.of(id), [1, 1]) });
    probs = r.output!.data as Float32Array;
    feeds = Object.fromEntries(stateIns.map((n) => [n, r[n.replace(/_in$/, '_out')]!]));
  }
  for (let k = 0; k < length; k++) {
    let best = 0;
    for (let j = 1; j < probs.length; j++) if (probs[j]! > probs[best]!) best = j;
    out += vocab.chars[best];
    const r = await session.run({ ...feeds, input: new ort.Tensor('int32', Int32Array.of(best), [1, 1]) });
    probs = r.output!.data as Float32Array;
    feeds = Object.fromEntries(stateIns.map((n) => [n, r[n.replace(/_in$/, '_out')]!]));
  }
  await session.release();
  return out;
}

export async function main(epochs = 60, outFile?: string): Promise<{ rnnkit: string; onnx: string; loss: number }> {
  const vocab = rnn.CharVocab.build(TEXT);
  const ids = vocab.encode(TEXT);
  const model = rnn.sequential({
    inputShape: [null],
    layers: [
      rnn.layers.embedding({ inputDim: vocab.size, outputDim: 16 }),
      rnn.layers.lstm({ units: 64, returnSequences: true, stateful: true }),
      rnn.layers.dense({ units: vocab.size, activation: 'softmax' }),
    ],
  });
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy' });
  const { x, y } = windows(ids, 32, 8);
  let loss = NaN;
  for (let e = 0; e < epochs; e++) {
    model.resetStates(); // each window starts from a zero state
    const h = await model.fit(x, y, { epochs: 1, batchSize: 16, shuffle: true, verbose: 0, callbacks: [{ onBatchBegin: () => model.resetStates() }] });
    loss = h.history.loss!.at(-1)!;
  }
  // The vocabulary travels inside the file (metadata_props 'rnnkit.metadata').
  model.metadata = { vocab: vocab.toJSON() };
  const { bytes, inputs, outputs } = rnn.exportOnnx(model);
  if (outFile) writeFileSync(outFile, bytes);
  const prompt = 'Whenever I find';
  const mine = rnn.generateText(model, vocab, { length: 80, prime: prompt, topK: 1 }); // (the prime not repeated)
  const theirs = await continueWithOnnx(bytes, vocab, prompt, 80);
  console.log(`training loss ${loss.toFixed(3)} nats/char; ${bytes.length.toLocaleString('en-US')} bytes of ONNX`);
  console.log(`inputs:  ${inputs.map((i) => `${i.name} [${i.shape.join(', ')}]`).join(', ')}`);
  console.log(`outputs: ${outputs.map((o) => `${o.name} [${o.shape.join(', ')}]`).join(', ')}`);
  console.log(`rnnkit:      ${JSON.stringify(prompt + mine)}`);
  console.log(`onnxruntime: ${JSON.stringify(prompt + theirs)}`);
  console.log(mine === theirs ? 'the same text' : 'the texts differ');
  return { rnnkit: mine, onnx: theirs, loss };
}

if (process.argv[1]?.endsWith('onnx-export.js')) {
  await main(process.argv[2] ? Number(process.argv[2]) : undefined, process.argv[3]);
}
