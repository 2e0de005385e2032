// A saved model against its ONNX export: agreement and inference time side by side.
//
//   npm run bench:onnx -- --model runs/ts/best [--data text.txt] [--rows 8] [--steps 64] [--reps 20]
//   npm run bench:onnx -- --model runs/imdb/best [--data sst2/dev.tsv]
//   npm run bench:onnx -- --model runs/ner/best [--data conll2003/eng.testa]
//   ... --dtype float16   (charrnn and sentiment: the file's weights in half precision)
//
// A charrnn model reads --rows windows of --steps characters from the last 10% of --data (default
// Tiny Shakespeare; its validation part) and reports the largest difference of the probabilities
// and both models' nats/char. A sentiment model labels every sentence of --data (default SST-2
// dev: "sentence<TAB>label" with a header) in batches of 64 sorted by length, and reports the
// largest probability difference, the labels that differ and both accuracies. A NER tagger tags
// every sentence of --data (default CoNLL-2003 dev, eng.testa) in batches of 64 sorted by length
// and reports the tags that differ and both entity F1 (seqeval's default mode). Times are medians
// of --reps runs (default 20, after three warm-up runs) of model.predict and of onnxruntime-node's session.run
// (its default threads) on the same batches. One JSON line.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { convertNerTags, loadNer, readNerFile, scoreTags } from '../src/apps/ner.js';
import { encodeTexts, pipelineOf, predictIds } from '../src/apps/sentiment.js';
import { exportNerOnnx, nerInputs } from '../src/export/onnx-ner.js';
import { exportOnnx, type OnnxExport } from '../src/export/onnx.js';
import { loadModel } from '../src/models/node/model-io.js';
import type { Model, Sequential } from '../src/models/sequential.js';
import { Tensor } from '../src/tensor/tensor.js';

const { values: v } = parseArgs({
  options: { model: { type: 'string' }, data: { type: 'string' }, rows: { type: 'string' }, steps: { type: 'string' }, reps: { type: 'string' }, dtype: { type: 'string' } },
});
if (!v.model) {
  process.stderr.write('bench:onnx: --model <dir> is required (a model saved by rnnkit charrnn, sentiment or ner)\n');
  process.exit(2);
}
const reps = Number(v.reps ?? 20);
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;
const manifest = JSON.parse(readFileSync(`${v.model}/model.json`, 'utf8')) as { app?: string; metadata?: { app?: string } };
const app = manifest.app ?? manifest.metadata?.app;

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

/** A NER tagger on a CoNLL file: the tags both give, and both F1. */
async function benchNer(dir: string): Promise<Record<string, unknown>> {
  const tagger = (await loadNer(dir)).model;
  const exported = exportNerOnnx(tagger);
  const session = await ort.InferenceSession.create(exported.bytes);
  const data = readNerFile(v.data ?? '../shared/datasets/conll2003/eng.testa', { plain: tagger.scheme === 'PLAIN' });
  const sents = data.sentences.map((s) => s.tokens);
  const mine = await timed(() => tagger.predict(sents, 64));
  const order = sents.map((_, i) => i).filter((i) => sents[i]!.length > 0).sort((a, b) => sents[a]!.length - sents[b]!.length);
  const theirs = await timed(async () => {
    const out: string[][] = sents.map(() => []);
    for (let s = 0; s < order.length; s += 64) {
      const idx = order.slice(s, s + 64), x = nerInputs(tagger, idx.map((i) => sents[i]!));
      const feeds: Record<string, ort.Tensor> = { words: new ort.Tensor('int32', x.words, [x.B, x.T]) };
      if (session.inputNames.includes('cases')) feeds.cases = new ort.Tensor('int32', x.cases, [x.B, x.T]);
      if (session.inputNames.includes('chars')) feeds.chars = new ort.Tensor('int32', x.chars, [x.B, x.T, x.C]);
      const tags = (await session.run(feeds)).tags!.data as Int32Array;
      idx.forEach((i, k) => { out[i] = Array.from(tags.subarray(k * x.T, k * x.T + sents[i]!.length), (t) => tagger.labels[t]!); });
    }
    return out;
  });
  await session.release();
  let differ = 0;
  mine.value.forEach((p, i) => p.forEach((t, j) => { if (t !== theirs.value[i]![j]) differ++; }));
  const f1 = (pred: string[][]): number => scoreTags(data, pred.map((p) => convertNerTags(p, tagger.scheme, data.scheme))).f1;
  return { onnxBytes: exported.bytes.length, app: 'ner', sentences: sents.length, tokens: data.tokens, tagsDiffer: differ, f1Rnnkit: f1(mine.value), f1Onnx: f1(theirs.value), msRnnkit: mine.ms, msOnnx: theirs.ms };
}

/** A charrnn model on windows of a text: the probabilities both give, and both losses. */
async function benchChar(model: Model, session: ort.InferenceSession, exported: OnnxExport): Promise<Record<string, unknown>> {
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
  return { app: 'charrnn', rows: B, steps: T, maxProbDiff: maxDiff, natsRnnkit: nats[0]! / n, natsOnnx: nats[1]! / n, msRnnkit: mine.ms, msOnnx: theirs.ms };
}

/** A sentiment model on labelled sentences: the probabilities both give, and both accuracies. */
async function benchSentiment(model: Sequential, session: ort.InferenceSession): Promise<Record<string, unknown>> {
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
  return { app: 'sentiment', sentences: seqs.length, maxProbDiff: maxDiff, labelsDiffer: differ, accuracyRnnkit: right[0]! / seqs.length, accuracyOnnx: right[1]! / seqs.length, msRnnkit: mine.ms, msOnnx: theirs.ms };
}

let report: Record<string, unknown>;
if (app === 'ner') {
  report = await benchNer(v.model);
} else if (app === 'charrnn' || app === 'sentiment') {
  const model = await loadModel(v.model);
  const exported = exportOnnx(model, { weightsDtype: v.dtype === 'float16' ? 'float16' : 'float32' });
  const session = await ort.InferenceSession.create(exported.bytes);
  report = { onnxBytes: exported.bytes.length, weightsDtype: v.dtype ?? 'float32', ...(app === 'charrnn' ? await benchChar(model, session, exported) : await benchSentiment(model as Sequential, session)) };
  await session.release();
} else {
  process.stderr.write(`bench:onnx: ${v.model} was not saved by rnnkit charrnn, sentiment or ner (app ${JSON.stringify(app)})\n`);
  process.exit(2);
}
process.stdout.write(`${JSON.stringify({ model: v.model, ...report })}\n`);
