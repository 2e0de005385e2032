// exportNerOnnx against onnxruntime-node: taggers with random weights (large enough that the
// unconstrained arg max breaks the scheme, so the CRF constraints decide) are exported, and the
// file's tags and emissions are compared with the tagger's own decodeBatch and forward on the
// same sentences: every tag equal, emissions to float32 rounding. The sentences mix lengths
// (one word to eighteen), known and unknown words, digits, capitals, punctuation and a word longer
// than maxWordLen.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { saveNer } from '../src/apps/ner.js';
import { buildVocabs, labelsFor, NerTagger, type NerConfig } from '../src/apps/ner-model.js';
import { exportNerOnnx, nerInputs } from '../src/export/onnx-ner.js';
import { rng } from '../src/tensor/rng.js';
import { assertClose } from './helpers.js';

const WORDS = ['the', 'Paris', 'bank', 'of', 'IBM', 'said', '2024', 'on', 'Monday', ',', '.', 'O\'Neil', 'x3-Z', 'Smith', 'Deutschland', 'Ünïcode', 'Antidisestablishmentarianism'];

function sentences(n: number, seed: number): string[][] {
  const r = rng(seed);
  return Array.from({ length: n }, (_, i) => Array.from({ length: i === 0 ? 1 : 1 + r.int(18) }, () => WORDS[r.int(WORDS.length)]!));
}

const CASES: [string, Partial<NerConfig>, 'PLAIN'?][] = [
  ['CRF, char BiGRU, case feature', { crf: true }],
  ['CRF, char CNN, two word layers', { crf: true, charFeatures: 'cnn', layers: 2 }],
  ['CRF, char BiLSTM, no case feature', { crf: true, charCell: 'lstm', caseDim: 0 }],
  ['softmax, char BiGRU', { crf: false }],
  ['softmax, no char features', { crf: false, charFeatures: 'none' }],
  ['CRF over plain tags (every transition allowed)', { crf: true }, 'PLAIN'],
];

for (const [label, extra, plain] of CASES) {
  test(`exportNerOnnx: ${label} — onnxruntime gives the tagger's tags and emissions`, async () => {
    const train = sentences(40, 1);
    const vocabs = buildVocabs(train.slice(0, 30), { lowercase: true, zeroDigits: true, minFreq: 1 });
    const scheme = plain ?? (extra.crf ? 'IOBES' : 'IOB2');
    const labels = scheme === 'PLAIN' ? ['ADJ', 'DET', 'NOUN', 'VERB'] : labelsFor(['LOC', 'ORG', 'PER'], scheme);
    const m = new NerTagger({ wordDim: 12, caseDim: 4, charDim: 6, charUnits: 5, units: 7, seed: 3, ...extra }, vocabs, labels, scheme);
    const w = rng(11);
    for (let i = 0; i < m.params.length; i++) m.params[i] = w.uniform(-1.5, 1.5);
    const sents = [...train.slice(25), ['Antidisestablishmentarianism', 'of', 'Ünïcode']];
    const want = m.decodeBatch(sents.map((s) => m.encode(s)));
    const wantEm = m.forward(sents.map((s) => m.encode(s)), false, rng(0));
    const x = nerInputs(m, sents);
    const e = exportNerOnnx(m);
    const feeds: Record<string, ort.Tensor> = { words: new ort.Tensor('int32', x.words, [x.B, x.T]) };
    if (e.inputs.some((i) => i.name === 'cases')) feeds.cases = new ort.Tensor('int32', x.cases, [x.B, x.T]);
    if (e.inputs.some((i) => i.name === 'chars')) feeds.chars = new ort.Tensor('int32', x.chars, [x.B, x.T, x.C]);
    assert.deepEqual(e.inputs.map((i) => i.name), ['words', ...(extra.caseDim === 0 ? [] : ['cases']), ...(extra.charFeatures === 'none' ? [] : ['chars'])]);
    const session = await ort.InferenceSession.create(e.bytes);
    const r = await session.run(feeds);
    await session.release();
    const tags = r.tags!.data as Int32Array;
    let entities = 0;
    sents.forEach((s, b) => {
      assert.deepEqual([...tags.subarray(b * x.T, b * x.T + s.length)], [...want[b]!], `${label}: sentence ${b}`);
      assert.ok(tags.subarray(b * x.T + s.length, (b + 1) * x.T).every((t) => t === -1), `${label}: -1 after sentence ${b}`);
      entities += want[b]!.filter((k) => k !== 0).length;
    });
    assert.ok(entities > 10, 'the random tagger tags entities');
    // The emissions where words are (the tagger leaves the rest unspecified).
    const em = r.emissions!.data as Float32Array, K = m.K;
    const a: number[] = [], bq: number[] = [];
    sents.forEach((s, b) => { for (let i = b * x.T * K; i < (b * x.T + s.length) * K; i++) { a.push(wantEm[i]!); bq.push(em[i]!); } });
    assertClose(a, bq, 2e-5, 1e-5, `${label}: emissions`);
  });
}

test('exportNerOnnx: a batch of one-word sentences (the Viterbi loops run zero times)', async () => {
  const sents = [['Paris'], ['IBM'], ['said']];
  const vocabs = buildVocabs(sents, { lowercase: true, zeroDigits: true, minFreq: 1 });
  const m = new NerTagger({ wordDim: 8, caseDim: 4, charDim: 6, charUnits: 5, units: 7, seed: 3, crf: true }, vocabs, labelsFor(['LOC', 'ORG'], 'IOBES'), 'IOBES');
  const w = rng(12);
  for (let i = 0; i < m.params.length; i++) m.params[i] = w.uniform(-1.5, 1.5);
  const x = nerInputs(m, sents);
  const session = await ort.InferenceSession.create(exportNerOnnx(m).bytes);
  const r = await session.run({ words: new ort.Tensor('int32', x.words, [3, 1]), cases: new ort.Tensor('int32', x.cases, [3, 1]), chars: new ort.Tensor('int32', x.chars, [3, 1, x.C]) });
  await session.release();
  assert.deepEqual([...(r.tags!.data as Int32Array)], m.decodeBatch(sents.map((s) => m.encode(s))).map((p) => p[0]!));
});

test('CLI: rnnkit export writes a saved tagger as a file that tags as it does', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-export-ner-'));
  try {
    const sents = sentences(30, 4);
    const vocabs = buildVocabs(sents, { lowercase: true, zeroDigits: true, minFreq: 1 });
    const m = new NerTagger({ wordDim: 8, caseDim: 4, charDim: 6, charUnits: 5, units: 7, seed: 3, crf: true }, vocabs, labelsFor(['LOC', 'PER'], 'IOBES'), 'IOBES');
    const w = rng(13);
    for (let i = 0; i < m.params.length; i++) m.params[i] = w.uniform(-1.5, 1.5);
    await saveNer(m, join(dir, 'tagger'), 'IOB1');
    const r = spawnSync(process.execPath, ['dist/src/cli/main.js', 'export', '--model', join(dir, 'tagger'), '--out', join(dir, 'ner.onnx')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /ner\.onnx: [\d,]+ bytes, ONNX opset 17, [\d,]+ weights, 9 labels \(IOBES\)\n  input  words int32 \[batch, time\]\n  input  cases int32 \[batch, time\]\n  input  chars int32 \[batch, time, chars\]\n  output tags int32 \[batch, time\]\n  output emissions float32 \[batch, time, 9\]\n$/);
    const bytes = readFileSync(join(dir, 'ner.onnx'));
    assert.ok(bytes.includes(Buffer.from('"labels":["O","B-LOC"')), 'the labels travel in metadata_props');
    const x = nerInputs(m, sents);
    const session = await ort.InferenceSession.create(bytes);
    const out = await session.run({ words: new ort.Tensor('int32', x.words, [x.B, x.T]), cases: new ort.Tensor('int32', x.cases, [x.B, x.T]), chars: new ort.Tensor('int32', x.chars, [x.B, x.T, x.C]) });
    await session.release();
    const tags = out.tags!.data as Int32Array;
    const want = m.predict(sents);
    sents.forEach((s, b) => assert.deepEqual(Array.from(tags.subarray(b * x.T, b * x.T + s.length), (k) => m.labels[k]), want[b], `sentence ${b}`));
    const bad = spawnSync(process.execPath, ['dist/src/cli/main.js', 'export', '--model', join(dir, 'tagger'), '--out', join(dir, 'x.onnx'), '--no-states'], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--states, --no-states, --max-length and --dtype are for charrnn, sentiment and saveModel models, not a NER tagger/);
    const tfjs = spawnSync(process.execPath, ['dist/src/cli/main.js', 'export', '--model', join(dir, 'tagger'), '--out', join(dir, 'x'), '--format', 'tfjs'], { encoding: 'utf8' });
    assert.equal(tfjs.status, 2);
    assert.match(tfjs.stderr, /--format tfjs: a NER tagger .* has no TF.js form; export it as ONNX/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
