// Golden files for rnnkit's TF.js export (src/export/tfjs.ts): the models of
// test/tfjs-export-cases.ts, exported by rnnkit to TF.js's layers format, loaded by TF.js 4.22 and
// run on their inputs; the files and TF.js's predictions go to test/golden/tfjs-export/<case>/.
// The test exports the same models again and checks the files are these, and that rnnkit predicts
// what TF.js predicted from them.
//
//   npm run build && npm install --prefix bench/peers --ignore-scripts   # (TF.js, as bench:peers installs it)
//   node tools/golden/make_tfjs_export_golden.mjs
import { mkdirSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const require = createRequire(join(root, 'bench', 'peers', 'package.json'));
const tf = require('@tensorflow/tfjs');
await tf.setBackend('cpu');
const { EXPORT_CASES } = await import(join(root, 'dist', 'test', 'tfjs-export-cases.js'));
const { exportTfjs } = await import(join(root, 'dist', 'src', 'export', 'tfjs.js'));

for (const c of EXPORT_CASES) {
  const { modelJson, weightData } = exportTfjs(c.build());
  const dir = join(root, 'test', 'golden', 'tfjs-export', c.name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'model.json'), `${JSON.stringify(modelJson)}\n`);
  writeFileSync(join(dir, 'weights.bin'), weightData);
  const model = await tf.loadLayersModel(tf.io.fromMemory({
    modelTopology: modelJson.modelTopology, weightSpecs: modelJson.weightsManifest[0].weights,
    weightData: weightData.buffer.slice(weightData.byteOffset, weightData.byteOffset + weightData.byteLength),
  }));
  let y;
  if (c.inputs) {
    y = model.predict(c.inputs.map((i) => tf.tensor(i.data, i.shape, 'float32')));
  } else if (c.chunk) {
    // A stateful model: the steps in chunks, TF.js carrying the state from call to call.
    const [B, T] = c.input.shape, outs = [];
    for (let t = 0; t < T; t += c.chunk) {
      const part = c.input.data.slice(t, t + c.chunk); // (B = 1)
      outs.push(model.predict(tf.tensor(part, [B, part.length], 'float32')));
    }
    y = tf.concat(outs, 1);
  } else {
    y = model.predict(tf.tensor(c.input.data, c.input.shape, 'float32'));
  }
  writeFileSync(join(dir, 'io.json'), `${JSON.stringify({ input: c.input, ...(c.inputs ? { inputs: c.inputs } : {}), output: { shape: y.shape, data: Array.from(y.dataSync()) } })}\n`);
  console.log(`${c.name}: TF.js output [${y.shape.join(', ')}]`);
}
