// Sentiment app (exercise 2) and its CLI on a tiny synthetic corpus: reviews made of noise words
// with "good/great/..." (label 1) or "bad/awful/..." (label 0) somewhere inside. A working model
// separates them almost perfectly after a few epochs; a broken one stays near 0.5.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  attachPipeline, attentionOf, buildSentimentModel, encodeTexts, evaluateSentiment, explainSentiment, metricsFromProbs, pipelineOf, predictIds,
  predictSentiment, prepare, splitTexts, trainSentiment, truncate,
} from '../src/apps/sentiment.js';
import { readDataset } from '../src/data/node/index.js';
import { loadModel, rng, saveModel } from '../src/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'rnnkit-sentiment-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

const MAIN = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));

const NOISE = ('the movie film plot actor actress scene story director camera music was is it this that and a of ' +
  'to in with for on script ending cast two hours watched saw').split(' ');
const POS = ['good', 'great', 'excellent', 'wonderful', 'loved'];
const NEG = ['bad', 'awful', 'terrible', 'boring', 'hated'];

/** n reviews, half of each label, 4..24 words, one or two cue words at random places. */
function corpus(n: number, seed: number): { texts: string[]; labels: number[] } {
  const r = rng(seed);
  const texts: string[] = [], labels: number[] = [];
  for (let i = 0; i < n; i++) {
    const y = i % 2;
    const len = 4 + r.int(21);
    const words = Array.from({ length: len }, () => NOISE[r.int(NOISE.length)]!);
    const cues = y ? POS : NEG;
    for (let k = 0, m = 1 + r.int(2); k < m; k++) words.splice(r.int(words.length + 1), 0, cues[r.int(cues.length)]!);
    let t = words.join(' ');
    if (r.next() < 0.3) t = t[0]!.toUpperCase() + t.slice(1) + '.';
    if (r.next() < 0.2) t += ' <br /><br />The end!';
    texts.push(t);
    labels.push(y);
  }
  return { texts, labels };
}

const trainData = corpus(480, 1);
const devData = corpus(200, 2);
const trainJsonl = join(tmp, 'train.jsonl');
writeFileSync(trainJsonl, trainData.texts.map((t, i) => JSON.stringify({ text: t, label: trainData.labels[i] })).join('\n') + '\n');
const devTsv = join(tmp, 'dev.tsv');
writeFileSync(devTsv, 'sentence\tlabel\n' + devData.texts.map((t, i) => `${t}\t${devData.labels[i]}`).join('\n') + '\n');

const SMALL = { embed: 16, units: 16, dropout: 0.1, lr: 0.01, seed: 3 };

// One model trained through the app API, shared by the tests below.
const trained = (async () => {
  const train = readDataset(trainJsonl);
  const dev = readDataset(devTsv, { labelNames: train.labelNames });
  const prep = prepare(train, { maxSize: 1000, minFreq: 1, maxLen: 40 }, dev);
  const model = buildSentimentModel({ vocabSize: prep.pipeline.vocab.size, cell: 'lstm', bidirectional: true, ...SMALL });
  attachPipeline(model, prep.pipeline, train.labelNames);
  const summary = await trainSentiment(model, prep.train, { epochs: 6, batchSize: 16, clipNorm: 5, seed: 1, val: prep.val! });
  return { model, prep, summary, labelNames: train.labelNames };
})();

test('app: a bidirectional LSTM learns the synthetic corpus (validation accuracy >= 0.9)', async () => {
  const { model, prep, summary } = await trained;
  assert.equal(summary.epochs.length, 6);
  const last = summary.epochs[summary.epochs.length - 1]!;
  assert.ok(last.val !== null);
  assert.ok(last.val.accuracy >= 0.9, `validation accuracy ${last.val.accuracy}`);
  assert.ok(summary.tokensPerSecond > 0 && Number.isFinite(summary.tokensPerSecond));
  // Training loss went down.
  assert.ok(last.loss < summary.epochs[0]!.loss, `loss ${summary.epochs[0]!.loss} -> ${last.loss}`);
  // evaluateSentiment on raw texts (encoded with the model's own pipeline) agrees with the encoded set.
  const viaTexts = evaluateSentiment(model, devData);
  assert.deepEqual(viaTexts, evaluateSentiment(model, prep.val!));
  const [[tn, fp], [fn, tp]] = viaTexts.confusionMatrix;
  assert.equal(tn + fp + fn + tp, devData.texts.length);
  assert.equal(viaTexts.accuracy, (tn + tp) / devData.texts.length);
});

test('app: an attention head learns the corpus; explainSentiment gives each word read its weight', async () => {
  const train = readDataset(trainJsonl);
  const dev = readDataset(devTsv, { labelNames: train.labelNames });
  const prep = prepare(train, { maxSize: 1000, minFreq: 1, maxLen: 40 }, dev);
  const model = buildSentimentModel({ vocabSize: prep.pipeline.vocab.size, cell: 'gru', bidirectional: true, attention: 8, ...SMALL });
  assert.ok(attentionOf(model) !== null);
  assert.equal(attentionOf(buildSentimentModel({ vocabSize: 10 })), null);
  attachPipeline(model, prep.pipeline, train.labelNames);
  const summary = await trainSentiment(model, prep.train, { epochs: 6, batchSize: 16, clipNorm: 5, seed: 1, val: prep.val! });
  const last = summary.epochs.at(-1)!;
  assert.ok(last.val!.accuracy >= 0.9, `validation accuracy ${last.val!.accuracy}`);
  const texts = [...devData.texts.slice(0, 30), 'great', 'film zzzz movie'];
  const ex = explainSentiment(model, texts);
  const plain = predictSentiment(model, texts);
  const ids = encodeTexts(pipelineOf(model), texts);
  ex.forEach((e, i) => {
    // (alone against in a batch of 32: as in 'predictions do not depend on batching' below)
    assert.ok(Math.abs(e.probability - plain[i]!.probability) < 1e-5, `text ${i}: explained ${e.probability}, predicted ${plain[i]!.probability}`);
    assert.equal(e.label, plain[i]!.label);
    assert.deepEqual(e.words.map((w) => w.token), Array.from(ids[i]!, (id) => pipelineOf(model).vocab.token(id)));
    const sum = e.words.reduce((s, w) => s + w.weight, 0);
    assert.ok(Math.abs(sum - 1) < 1e-5, `text ${i}: weights sum to ${sum}`);
    assert.ok(e.words.every((w) => w.weight > 0), `text ${i}: every word read has a weight`);
  });
  assert.deepEqual(ex.at(-2)!.words, [{ token: 'great', weight: 1 }]);
  assert.deepEqual(ex.at(-1)!.words.map((w) => w.token), ['film', '<unk>', 'movie']);
  assert.deepEqual(explainSentiment(model, ['']).map((e) => e.words), [[]]);
  const withoutHead = (await trained).model;
  assert.throws(() => explainSentiment(withoutHead, ['good']), /this model has no attention head/);
  assert.throws(() => buildSentimentModel({ vocabSize: 10, attention: 1.5 }), /attention must be an integer >= 1, got 1.5/);
});

test('app: predictions do not depend on batching or padding', async () => {
  const { model, prep } = await trained;
  const seqs = prep.val!.ids.slice(0, 40);
  const together = predictIds(model, seqs, 40);
  const alone = Float32Array.from(seqs, (s) => predictIds(model, [s], 1)[0]!);
  for (let i = 0; i < seqs.length; i++) assert.ok(Math.abs(together[i]! - alone[i]!) < 1e-5, `row ${i}: ${together[i]} vs ${alone[i]}`);
});

test('app: save/load gives identical predictions, with the tokenizer and vocabulary from the metadata', async () => {
  const { model } = await trained;
  const dir = join(tmp, 'saved');
  await saveModel(model, dir);
  const again = await loadModel(dir);
  const texts = ['A GREAT film, I loved it!', 'awful acting and a boring plot', devData.texts[0]!, '', 'qqq zzz'];
  const a = predictSentiment(model, texts), b = predictSentiment(again, texts);
  assert.deepEqual(b, a);
  assert.deepEqual(pipelineOf(again).vocab.tokens, pipelineOf(model).vocab.tokens);
  assert.deepEqual(pipelineOf(again).tokenizer.toJSON(), pipelineOf(model).tokenizer.toJSON());
  assert.equal(a[0]!.label, 1);
  assert.equal(a[1]!.label, 0);
});

test('app: empty, blank, markup-only and all-unknown texts give a probability in [0, 1]', async () => {
  const { model } = await trained;
  const texts = ['', '   \n\t', '<br /><br />', 'zzyzx qwxv plorb', 'good', ''];
  const preds = predictSentiment(model, texts);
  assert.equal(preds.length, texts.length);
  for (const p of preds) {
    assert.ok(Number.isFinite(p.probability) && p.probability >= 0 && p.probability <= 1, `${JSON.stringify(p.text)}: ${p.probability}`);
    assert.ok(p.label === 0 || p.label === 1);
  }
  assert.equal(preds[0]!.tokens, 0);
  assert.equal(preds[3]!.unknown, preds[3]!.tokens);
  // Every zero-token text is the same length-0 sequence: the same answer, alone or in a batch.
  assert.equal(preds[1]!.probability, preds[0]!.probability);
  assert.equal(preds[2]!.probability, preds[0]!.probability);
  assert.equal(predictSentiment(model, [''])[0]!.probability, preds[0]!.probability);
  // All texts empty: the batch has no time steps at all.
  assert.deepEqual(predictSentiment(model, ['', '']).map((p) => p.probability), [preds[0]!.probability, preds[0]!.probability]);
});

test('app: prepare truncates to maxLen, keeping the start or the end', () => {
  assert.deepEqual(truncate([1, 2, 3, 4, 5], 3, 'end'), [3, 4, 5]);
  assert.deepEqual(truncate([1, 2, 3, 4, 5], 3, 'start'), [1, 2, 3]);
  assert.deepEqual(truncate([1, 2], 3, 'start'), [1, 2]);
  const data = { texts: ['a b c d e f', 'a b'], labels: [1, 0] };
  for (const keep of ['start', 'end'] as const) {
    const { pipeline, train } = prepare(data, { maxLen: 4, keep, minFreq: 1 });
    assert.deepEqual(pipeline.vocab.decode(train.ids[0]!), keep === 'end' ? ['c', 'd', 'e', 'f'] : ['a', 'b', 'c', 'd']);
    assert.deepEqual(encodeTexts(pipeline, ['a b c d e f x']).map((s) => pipeline.vocab.decode(s)), [keep === 'end' ? ['d', 'e', 'f', '<unk>'] : ['a', 'b', 'c', 'd']]);
  }
  assert.throws(() => prepare({ texts: ['a'], labels: [2] }), /labels 0 and 1/);
  assert.throws(() => prepare({ texts: ['a'], labels: [1] }, { maxLen: 0 }), /maxLen/);
});

test('app: splitTexts is stratified and seeded', () => {
  const s1 = splitTexts(trainData, 0.25, 7), s2 = splitTexts(trainData, 0.25, 7);
  assert.deepEqual(s1, s2);
  assert.equal(s1.val.texts.length, 120);
  assert.equal(Array.from(s1.val.labels).filter((y) => y === 1).length, 60);
});

test('app: metricsFromProbs', () => {
  const m = metricsFromProbs([0.9, 0.8, 0.2, 0.6, 0.1], [1, 0, 0, 1, 1]);
  assert.deepEqual(m.confusionMatrix, [[1, 1], [1, 2]]);
  assert.equal(m.accuracy, 3 / 5);
  assert.equal(m.precision, 2 / 3);
  assert.equal(m.recall, 2 / 3);
  assert.ok(Math.abs(m.f1 - 2 / 3) < 1e-12);
});

test('app: GRU and simple RNN cells build, train and predict', async () => {
  const prep = prepare(trainData, { minFreq: 1, maxLen: 30 });
  for (const cell of ['gru', 'rnn'] as const) {
    const model = buildSentimentModel({ vocabSize: prep.pipeline.vocab.size, cell, bidirectional: cell === 'gru', ...SMALL });
    attachPipeline(model, prep.pipeline);
    const s = await trainSentiment(model, prep.train, { epochs: 1, batchSize: 32, clipNorm: 1, seed: 2 });
    assert.ok(Number.isFinite(s.epochs[0]!.loss));
    const p = predictSentiment(model, ['great', '']);
    assert.ok(p.every((x) => x.probability >= 0 && x.probability <= 1));
  }
});

// ---------------------------------------------------------------------------------------------
// CLI

function cli(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [MAIN, 'sentiment', ...args], { encoding: 'utf8', env: { ...process.env, CI: '1' } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('cli: sentiment train -> eval --json -> predict on the tiny corpus', () => {
  const out = join(tmp, 'run');
  const tr = cli(['train', '--train', trainJsonl, '--val', devTsv, '--out', out, '--bidirectional', '--epochs', '6', '--batch', '16',
    '--embed', '16', '--units', '16', '--dropout', '0.1', '--lr', '0.01', '--max-len', '40', '--min-freq', '1', '--seed', '3', '--json']);
  assert.equal(tr.status, 0, tr.stderr);
  const res = JSON.parse(tr.stdout) as { best: { epoch: number; val: { accuracy: number } }; epochs: unknown[]; tokensPerSecond: number };
  assert.equal(res.epochs.length, 6);
  assert.ok(res.best.val.accuracy >= 0.9, `best validation accuracy ${res.best.val.accuracy}`);
  assert.ok(existsSync(join(out, 'best', 'model.json')) && existsSync(join(out, 'last', 'model.json')));

  const ev = cli(['eval', '--model', join(out, 'best'), '--data', devTsv, '--json']);
  assert.equal(ev.status, 0, ev.stderr);
  const m = JSON.parse(ev.stdout) as Record<string, unknown>;
  for (const k of ['accuracy', 'precision', 'recall', 'f1', 'loss', 'count', 'confusionMatrix']) assert.ok(k in m, `eval --json lacks "${k}"`);
  assert.equal(m.count, devData.texts.length);
  assert.ok((m.accuracy as number) >= 0.9);
  assert.equal(m.accuracy, res.best.val.accuracy);

  const evText = cli(['eval', '--model', join(out, 'best'), '--data', devTsv]);
  assert.equal(evText.status, 0, evText.stderr);
  assert.match(evText.stdout, /accuracy .*precision .*recall .*F1/);
  assert.match(evText.stdout, /confusion matrix/);

  const pr = cli(['predict', '--model', join(out, 'best'), 'what a great and wonderful film', 'an awful boring movie', '']);
  assert.equal(pr.status, 0, pr.stderr);
  const lines = pr.stdout.trim().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^positive\s+0\.\d{4}\s+what a great/);
  assert.match(lines[1]!, /^negative\s+0\.\d{4}\s+an awful/);

  const noHead = cli(['predict', '--model', join(out, 'best'), '--explain', 'good']);
  assert.equal(noHead.status, 2);
  assert.match(noHead.stderr, /--explain: .* has no attention head \(train with --attention N\)/);

  const file = join(tmp, 'texts.txt');
  writeFileSync(file, 'loved it\n\nhated it\n');
  const pj = cli(['predict', '--model', join(out, 'last'), '--file', file, '--json']);
  assert.equal(pj.status, 0, pj.stderr);
  const preds = JSON.parse(pj.stdout) as { text: string; label: number; probability: number }[];
  assert.deepEqual(preds.map((p) => [p.text, p.label]), [['loved it', 1], ['hated it', 0]]);
});

test('cli: sentiment train --attention -> predict --explain shows the words the head weighted most', () => {
  const out = join(tmp, 'run-attention');
  const tr = cli(['train', '--train', trainJsonl, '--val', devTsv, '--out', out, '--cell', 'gru', '--attention', '8', '--epochs', '6', '--batch', '16',
    '--embed', '16', '--units', '16', '--dropout', '0.1', '--lr', '0.01', '--max-len', '40', '--min-freq', '1', '--seed', '3']);
  assert.equal(tr.status, 0, tr.stderr);
  assert.match(tr.stdout, /model: GRU 16 units, attention pooling 8 units/);
  const pr = cli(['predict', '--model', join(out, 'best'), '--explain', 'the plot was great and the cast was wonderful', 'boring']);
  assert.equal(pr.status, 0, pr.stderr);
  const lines = pr.stdout.trim().split('\n');
  assert.equal(lines.length, 4);
  assert.match(lines[0]!, /^positive\s+0\.\d{4}\s+the plot was great/);
  assert.match(lines[1]!, /^\s+attention: \S+ \d\.\d\d(, \S+ \d\.\d\d){4}$/); // the five largest of nine
  assert.match(lines[3]!, /^\s+attention: boring 1\.00$/);
  const pj = cli(['predict', '--model', join(out, 'best'), '--explain', '--json', 'a great film']);
  assert.equal(pj.status, 0, pj.stderr);
  const [p] = JSON.parse(pj.stdout) as { words: { token: string; weight: number }[] }[];
  assert.deepEqual(p!.words.map((w) => w.token), ['a', 'great', 'film']);
  assert.ok(Math.abs(p!.words.reduce((s, w) => s + w.weight, 0) - 1) < 1e-5);
  const bad = cli(['train', '--train', trainJsonl, '--out', join(tmp, 'x'), '--attention', 'many']);
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--attention: expected an integer >= 0, got 'many'/);
});

test('cli: bad input is one line on stderr with exit code 2, naming the file or argument', () => {
  const missing = join(tmp, 'no-such-reviews.jsonl');
  const r = cli(['train', '--train', missing, '--out', join(tmp, 'x')]);
  assert.equal(r.status, 2);
  assert.ok(r.stderr.includes('no-such-reviews.jsonl'), r.stderr);
  assert.ok(!/\n\s+at /.test(r.stderr), `stack trace in: ${r.stderr}`);
  assert.equal(r.stderr.trim().split('\n').length, 1);

  const noModel = cli(['eval', '--model', join(tmp, 'no-model'), '--data', devTsv]);
  assert.equal(noModel.status, 2);
  assert.ok(noModel.stderr.includes('no-model'), noModel.stderr);

  const badCell = cli(['train', '--train', trainJsonl, '--out', join(tmp, 'x'), '--cell', 'transformer']);
  assert.equal(badCell.status, 2);
  assert.match(badCell.stderr, /--cell/);

  const badJson = join(tmp, 'bad.jsonl');
  writeFileSync(badJson, '{"text": "fine", "label": 1}\n{"text": oops}\n');
  const bj = cli(['train', '--train', badJson, '--out', join(tmp, 'x')]);
  assert.equal(bj.status, 2);
  assert.ok(bj.stderr.includes('bad.jsonl:2'), bj.stderr);

  const noTexts = cli(['predict', '--model', join(tmp, 'run', 'best')]);
  assert.equal(noTexts.status, 2);
});

test('cli: --help of every sentiment command', () => {
  for (const [sub, opts] of [['train', ['--train', '--val', '--val-split', '--out', '--cell', '--bidirectional', '--max-len', '--vocab', '--embed', '--units', '--epochs', '--batch', '--lr', '--clip', '--seed', '--json']],
    ['eval', ['--model', '--data', '--json']], ['predict', ['--model', '--file', '--json']]] as const) {
    const r = cli([sub, '--help']);
    assert.equal(r.status, 0);
    for (const o of opts) assert.ok(r.stdout.includes(o), `${sub} --help lacks ${o}`);
  }
});

// The tutorial-style example (examples/sentiment.ts) on 3,000 real IMDB reviews, as written.
const imdb = fileURLToPath(new URL('../../../shared/datasets/imdb/train.jsonl.gz', import.meta.url));

test('examples/sentiment runs as written on 3,000 IMDB reviews: above 70% validation accuracy, the two plain reviews labelled right', { skip: existsSync(imdb) ? false : `${imdb} not present` }, () => {
  const r = spawnSync(process.execPath, [fileURLToPath(new URL('../examples/sentiment.js', import.meta.url))], { encoding: 'utf8', env: { ...process.env, IMDB: imdb } });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /^2700 training and 300 validation reviews from /m);
  const acc = Number(/^validation: loss [\d.]+, accuracy ([\d.]+)%$/m.exec(r.stdout)?.[1]);
  assert.ok(acc > 70, `validation accuracy ${acc}%\n${r.stdout}`);
  assert.match(r.stdout, /^positive \(P\(positive\) = [\d.]+\): "A wonderful film/m);
  assert.match(r.stdout, /^negative \(P\(positive\) = [\d.]+\): "The plot made no sense/m);
});

test('class weights in sentiment training: \'balanced\' trains as the explicit N / (2·n_c) weights (bits), differently from none; the CLI flag is checked', async () => {
  // Every third positive review kept: 1:3 imbalanced.
  const keep = trainData.labels.map((y, i) => y === 0 || i % 6 === 1);
  const texts = trainData.texts.filter((_, i) => keep[i]), labels = trainData.labels.filter((_, i) => keep[i]);
  const prep = prepare({ texts, labels }, { maxSize: 1000, minFreq: 1, maxLen: 40 });
  const n1 = labels.filter((y) => y === 1).length, n0 = labels.length - n1;
  assert.ok(n0 > 2 * n1, `imbalanced: ${n0} / ${n1}`);
  const run = async (classWeight?: Parameters<typeof trainSentiment>[2]['classWeight']) => {
    const m = buildSentimentModel({ vocabSize: prep.pipeline.vocab.size, ...SMALL });
    await trainSentiment(m, prep.train, { epochs: 1, batchSize: 16, clipNorm: 5, seed: 1, ...(classWeight ? { classWeight } : {}) });
    return Float32Array.from(m.params);
  };
  const balanced = await run('balanced');
  assert.deepEqual(balanced, await run({ 0: labels.length / (2 * n0), 1: labels.length / (2 * n1) }));
  assert.notDeepEqual(balanced, await run());
  const r = spawnSync(process.execPath, [MAIN, 'sentiment', 'train', '--train', trainJsonl, '--out', join(tmp, 'cw'), '--class-weight', '1,x'], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--class-weight: expected balanced or two weights W0,W1 \(numbers >= 0\), got '1,x'/);
});
