// A saved model against its ONNX export: agreement and inference time side by side.
//
//   npm run bench:onnx -- --model runs/ts/best [--data text.txt] [--rows 8] [--steps 64] [--reps 20]
//   npm run bench:onnx -- --model runs/imdb/best [--data sst2/dev.tsv]
//
// A charrnn model reads --rows windows of --steps characters from the last 10% of --data (default
// Tiny Shakespeare; its validation part) and reports the largest difference of the probabilities
// and both models' nats/char. A sentiment model labels every sentence of --data (default SST-2
// dev: "sentence<TAB>label" with a header) in batches of 64 sorted by length, and reports the
// largest probability difference, the labels that differ and both accuracies. Times are medians
// of --reps runs (default 20, after three warm-up runs) of model.predict and of onnxruntime-node's session.run
// (its default threads) on the same batches. One JSON line.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { encodeTexts, pipelineOf, predictIds } from '../src/apps/sentiment.js';
import { exportOnnx } from '../src/export/onnx.js';
import { loadModel } from '../src/models/node/model-io.js';
import type { Sequential } from '../src/models/sequential.js';
import { Tensor } from '../src/tensor/tensor.js';

const { values: v } = parseArgs({
  options: { model: { type: 'string' }, data: { type: 'string' }, rows: { type: 'string' }, steps: { type: 'string' }, reps: { type: 'string' } },
});
if (!v.model) {
  process.stderr.write('bench:onnx: --model <dir> is required (a model saved by rnnkit charrnn or sentiment)\n');
  process.exit(2);
}
const reps = Number(v.reps ?? 20);
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const model = await loadModel(v.model);
const app = model.metadata.app;
const exported = exportOnnx(model);
const session = await ort.InferenceSession.create(exported.bytes);

async function timed<T>(f: () => Promise<T> | T): Promise<{ value: T; ms: number }> {
  let value = await f();
  for (let w = 0; w < 2; w++) value = await f();
  const ms: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    value = await f();
    ms.push(performance.now() - t0);
  }
  return { value, ms: median(ms) };
}

let report: Record<string, unknown>;
if (app === 'charrnn') {
  const B = Number(v.rows ?? 8), T = Number(v.steps ?? 64);
  const chars = (model.metadata.vocab as { chars: string[] }).chars, V = chars.length;
  const idOf = new Map(chars.map((c, i) => [c, i]));
  const text = readFileSync(v.data ?? '../shared/datasets/tinyshakespeare/input.txt', 'utf8');
  const from = Math.floor(text.length * 0.9), gap = Math.floor((text.length - from - T) / B);
  const ids = new Int32Array(B * T);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) ids[b * T + t] = idOf.get(text[from + b * gap + t]!) ?? 0;
  const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('int32', ids, [B, T]) };
  for (const i of exported.inputs.slice(1)) {
    const [D, , H] = i.shape as [number, string, number];
    feeds[i.name] = new ort.Tensor('float32', new Float32Array(D * B * H), [D, B, H]);
  }
  const mine = await timed(() => { model.resetStates(); return model.predict(new Tensor(Float32Array.from(ids), [B, T]), { batchSize: B }).data; });
  const theirs = await timed(async () => (await session.run(feeds)).output!.data as Float32Array);
  let maxDiff = 0;
  const nats = [0, 0];
  for (let i = 0; i < mine.value.length; i++) maxDiff = Math.max(maxDiff, Math.abs(mine.value[i]! - theirs.value[i]!));
  for (let b = 0; b < B; b++) {
    for (let t = 0; t + 1 < T; t++) {
      const o = (b * T + t) * V + ids[b * T + t + 1]!;
      nats[0] -= Math.log(mine.value[o]!);
      nats[1] -= Math.log(theirs.value[o]!);
    }
  }
  const n = B * (T - 1);
  report = { app, rows: B, steps: T, maxProbDiff: maxDiff, natsRnnkit: nats[0]! / n, natsOnnx: nats[1]! / n, msRnnkit: mine.ms, msOnnx: theirs.ms };
} else if (app === 'sentiment') {
  const lines = readFileSync(v.data ?? '../shared/datasets/sst2/dev.tsv', 'utf8').trim().split('\n').slice(1).map((l) => l.split('\t'));
  const labels = lines.map((l) => Number(l[1]));
  const seqs = encodeTexts(pipelineOf(model as Sequential), lines.map((l) => l[0]!));
  const order = seqs.map((_, i) => i).sort((a, b) => seqs[a]!.length - seqs[b]!.length);
  const mine = await timed(() => predictIds(model as Sequential, seqs, 64));
  const theirs = await timed(async () => {
    const p = new Float32Array(seqs.length);
    for (let s = 0; s < order.length; s += 64) {
      const idx = order.slice(s, s + 64), T = Math.max(1, ...idx.map((i) => seqs[i]!.length));
      const x = new Int32Array(idx.length * T); // padded with 0 at the end, as predictIds pads
      idx.forEach((i, k) => x.set(seqs[i]!, k * T));
      const y = (await session.run({ input: new ort.Tensor('int32', x, [idx.length, T]) })).output!.data as Float32Array;
      idx.forEach((i, k) => { p[i] = y[k]!; });
    }
    return p;
  });
  let maxDiff = 0, differ = 0, right = [0, 0];
  seqs.forEach((_, i) => {
    const a = mine.value[i]!, b = theirs.value[i]!;
    maxDiff = Math.max(maxDiff, Math.abs(a - b));
    if ((a > 0.5) !== (b > 0.5)) differ++;
    right = [right[0]! + Number((a > 0.5) === (labels[i] === 1)), right[1]! + Number((b > 0.5) === (labels[i] === 1))];
  });
  report = { app, sentences: seqs.length, maxProbDiff: maxDiff, labelsDiffer: differ, accuracyRnnkit: right[0]! / seqs.length, accuracyOnnx: right[1]! / seqs.length, msRnnkit: mine.ms, msOnnx: theirs.ms };
} else {
  process.stderr.write(`bench:onnx: ${v.model} was not saved by rnnkit charrnn or sentiment (metadata.app = ${JSON.stringify(app)})\n`);
  process.exit(2);
}
await session.release();
process.stdout.write(`${JSON.stringify({ model: v.model, onnxBytes: exported.bytes.length, ...report })}\n`);
