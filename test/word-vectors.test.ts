// Pretrained word vectors: the GloVe / word2vec / fastText text reader (headers, words with
// spaces, repeats, maxWords, gzip, errors naming file and line), and the NER tagger that starts
// from them — on a corpus whose entity types only the vectors tell apart (the names' letters and
// the contexts are the same for persons and places, and the dev names are never seen in training).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { evaluateNer, readNerFile, trainNer } from '../src/apps/ner.js';
import * as rnn from '../src/index.js';
import { parseWordVectors, readWordVectors } from '../src/index.js';
import { rng, type Rng } from '../src/tensor/rng.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'rnnkit-vectors-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

test('parseWordVectors: GloVe lines, a word2vec header, words with spaces, the first of repeated words, maxWords; errors name the line', () => {
  const g = parseWordVectors('the 0.1 0.2 -0.3\nof 1 2 3\nthe 9 9 9\nnew york 0.5 0.5 0.5\n');
  assert.deepEqual(g.words, ['the', 'of', 'new york']);
  assert.equal(g.dim, 3);
  assert.deepEqual(Array.from(g.vectors), [0.1, 0.2, -0.3, 1, 2, 3, 0.5, 0.5, 0.5].map(Math.fround));
  const w2v = parseWordVectors('2 2\r\nking 1 2 \r\nqueen 3 4\r\n');
  assert.deepEqual([w2v.words, w2v.dim, Array.from(w2v.vectors)], [['king', 'queen'], 2, [1, 2, 3, 4]]);
  assert.deepEqual(parseWordVectors('a 1\nb 2\nc 3\n', { maxWords: 2 }).words, ['a', 'b']);
  assert.throws(() => parseWordVectors('a 1 2\nb 1\n', { fileName: 'v.txt' }), /^WordVectorsError: v\.txt:2: expected a word and 2 values, got 1 fields after the first$/m);
  assert.throws(() => parseWordVectors('a 1 2\nb 1 x\n', { fileName: 'v.txt' }), /v\.txt:2: value 2 of "b" is "x", not a finite number/);
  assert.throws(() => parseWordVectors('\n\n', { fileName: 'v.txt' }), /v\.txt:3: no word vectors in the file/);
});

test('readWordVectors streams a file or a .gz, stops at maxWords, and names the file in its errors', async () => {
  const text = Array.from({ length: 5000 }, (_, i) => `w${i} ${i} ${-i}`).join('\n') + '\n';
  writeFileSync(join(tmp, 'v.txt'), text);
  writeFileSync(join(tmp, 'v.txt.gz'), gzipSync(text));
  const a = await readWordVectors(join(tmp, 'v.txt')), b = await readWordVectors(join(tmp, 'v.txt.gz'));
  assert.equal(a.words.length, 5000);
  assert.deepEqual(b, a);
  assert.deepEqual(Array.from(a.vectors.subarray(2 * 4999)), [4999, -4999]);
  assert.equal((await readWordVectors(join(tmp, 'v.txt.gz'), { maxWords: 10 })).words.length, 10);
  await assert.rejects(readWordVectors(join(tmp, 'none.txt')), /cannot read word vectors file .*none\.txt: no such file or directory/);
  writeFileSync(join(tmp, 'bad.gz'), 'not gzip');
  await assert.rejects(readWordVectors(join(tmp, 'bad.gz')), /bad\.gz: not a valid gzip file/);
});

// ---------------------------------------------------------------------------------------------
// Persons and places that only their vectors tell apart.

function name(r: Rng): string {
  const C = 'bdgklmnprstv', V = 'aeiou';
  let w = '';
  for (let i = 0; i < 3; i++) w += C[r.int(C.length)]! + V[r.int(V.length)]!;
  return w[0]!.toUpperCase() + w.slice(1);
}
const TEMPLATES = [['', 'was', 'mentioned', '.'], ['they', 'talked', 'about', '', 'yesterday', '.'], ['', 'is', 'well', 'known', '.']];

function corpus(per: string[], loc: string[], n: number, r: Rng): string {
  let s = '';
  for (let i = 0; i < n; i++) {
    const isPer = r.next() < 0.5, nm = (isPer ? per : loc)[r.int(per.length)]!;
    s += TEMPLATES[r.int(TEMPLATES.length)]!.map((w) => (w === '' ? `${nm} ${isPer ? 'I-PER' : 'I-LOC'}` : `${w} O`)).join('\n') + '\n\n';
  }
  return s;
}

const r = rng(5), names = new Set<string>();
while (names.size < 200) names.add(name(r));
const all = [...names], trainPer = all.slice(0, 50), trainLoc = all.slice(50, 100), devPer = all.slice(100, 150), devLoc = all.slice(150, 200);
writeFileSync(join(tmp, 'train.txt'), corpus(trainPer, trainLoc, 400, rng(6)));
writeFileSync(join(tmp, 'dev.txt'), corpus(devPer, devLoc, 150, rng(7)));
// 8 values: persons near +e0, places near -e0, the other words anywhere.
const vec = (sign: number) => Array.from({ length: 8 }, (_, k) => (k === 0 ? sign : 0) + 0.3 * (r.next() - 0.5));
const lines = [...trainPer, ...devPer].map((w) => `${w.toLowerCase()} ${vec(1).join(' ')}`)
  .concat([...trainLoc, ...devLoc].map((w) => `${w.toLowerCase()} ${vec(-1).join(' ')}`))
  .concat([...new Set(TEMPLATES.flat().filter((w) => w))].map((w) => `${w} ${Array.from({ length: 8 }, () => r.next() - 0.5).join(' ')}`));
writeFileSync(join(tmp, 'vectors.txt'), lines.join('\n') + '\n');

test('NER from pretrained vectors: unseen dev names get their type from their vectors (F1 ~1 against ~0.5 without); frozen, the embeddings stay the vectors', async () => {
  const train = readNerFile(join(tmp, 'train.txt')), dev = readNerFile(join(tmp, 'dev.txt'));
  const wv = await readWordVectors(join(tmp, 'vectors.txt'));
  const config = { wordDim: 8, caseDim: 0, charFeatures: 'none' as const, units: 16, dropout: 0, seed: 2 };
  const logs: string[] = [];
  const base = { train, dev, out: null, epochs: 8, batchSize: 16, lr: 0.01, clip: 5 };
  const without = await trainNer({ ...base, config });
  const frozen = await trainNer({ ...base, config, pretrained: wv, freezeEmbeddings: true, log: (s) => logs.push(s) });
  const tuned = await trainNer({ ...base, config, pretrained: wv });
  const f1 = (m: typeof without) => evaluateNer(m.model, dev).scores.f1;
  assert.ok(f1(without) < 0.75, `without vectors: ${f1(without)}`);
  assert.ok(f1(frozen) > 0.95, `frozen vectors: ${f1(frozen)}`);
  assert.ok(f1(tuned) > 0.9, `vectors trained on: ${f1(tuned)}`);
  assert.match(logs.join('\n'), /pretrained vectors: 210 words of 8 values; 210 of the 212 vocabulary words start from one \(100 of them added by the vectors\), 100\.0% of the training tokens; word embeddings frozen/);
  // Frozen: every vocabulary word's row is still its vector.
  const m = frozen.model, E = m.params.subarray(0, m.words.size * 8), row = new Map(wv.words.map((w, i) => [w, i]));
  m.words.tokens.forEach((w, id) => {
    const i = row.get(w);
    if (id >= 2 && i !== undefined) assert.deepEqual(E.subarray(id * 8, id * 8 + 8), wv.vectors.subarray(i * 8, i * 8 + 8), w);
  });
  await assert.rejects(trainNer({ ...base, config: { ...config, wordDim: 6 }, pretrained: wv }), /the pretrained vectors have 8 values, the word embedding 6 \(give wordDim 8\)/);
});

test('CLI: --embeddings sets the word size from the file; a different --word-dim or --freeze-embeddings alone is refused', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'ner', 'train', '--train', join(tmp, 'train.txt'), '--dev', join(tmp, 'dev.txt'), ...args], { encoding: 'utf8' });
  const ok = run('--out', join(tmp, 'cli'), '--embeddings', join(tmp, 'vectors.txt'), '--freeze-embeddings', '--epochs', '1', '--char-features', 'none', '--units', '8', '--json');
  assert.equal(ok.status, 0, ok.stderr);
  assert.equal(JSON.parse(ok.stdout).config.wordDim, 8);
  const dim = run('--out', join(tmp, 'x'), '--embeddings', join(tmp, 'vectors.txt'), '--word-dim', '50');
  assert.equal(dim.status, 2);
  assert.match(dim.stderr, /--word-dim 50, but the vectors in .*vectors\.txt have 8 values/);
  const alone = run('--out', join(tmp, 'x'), '--freeze-embeddings');
  assert.equal(alone.status, 2);
  assert.match(alone.stderr, /--freeze-embeddings keeps pretrained vectors: give --embeddings <file>/);
  const missing = run('--out', join(tmp, 'x'), '--embeddings', join(tmp, 'nope.vec'));
  assert.equal(missing.status, 2);
  assert.match(missing.stderr, /--embeddings: cannot read word vectors file .*nope\.vec: no such file or directory/);
});

test('sentiment from pretrained vectors: usePretrained sets the vocabulary rows (lower-cased lookup) and freezes; the CLI trains and saves it so', async () => {
  const { buildSentimentModel, prepare, usePretrained } = await import('../src/apps/sentiment.js');
  const words = ['great', 'awful', 'film', 'the', 'plot', 'was'];
  const texts = Array.from({ length: 60 }, (_, i) => `The plot was ${i % 2 ? 'GREAT' : 'awful'} film`);
  const labels = texts.map((_, i) => i % 2);
  const prep = prepare({ texts, labels }, { minFreq: 1 });
  const vecText = words.map((w, k) => `${w.toUpperCase()} ${Array.from({ length: 4 }, (_, j) => (k + 1) * 0.1 + j).join(' ')}`).join('\n') + '\n';
  const wv = parseWordVectors(vecText);
  const model = buildSentimentModel({ vocabSize: prep.pipeline.vocab.size, embed: 4, units: 4 });
  assert.equal(usePretrained(model, prep.pipeline, wv, true), words.length);
  const [table] = model.getLayer('embedding').getWeights();
  words.forEach((w, k) => assert.deepEqual(Array.from(table!.data.subarray(prep.pipeline.vocab.id(w) * 4, prep.pipeline.vocab.id(w) * 4 + 4)), Array.from(wv.vectors.subarray(k * 4, k * 4 + 4)), w));
  assert.equal(model.getLayer('embedding').trainable, false);
  assert.throws(() => usePretrained(buildSentimentModel({ vocabSize: prep.pipeline.vocab.size, embed: 5 }), prep.pipeline, wv, false), /the pretrained vectors have 4 values, the word embedding 5 \(give embed 4\)/);

  writeFileSync(join(tmp, 'reviews.jsonl'), texts.map((t, i) => JSON.stringify({ text: t, label: labels[i] })).join('\n') + '\n');
  writeFileSync(join(tmp, 'vec4.txt'), vecText);
  const out = join(tmp, 'sentiment');
  const r = spawnSync(process.execPath, [CLI, 'sentiment', 'train', '--train', join(tmp, 'reviews.jsonl'), '--out', out, '--embeddings', join(tmp, 'vec4.txt'), '--freeze-embeddings', '--epochs', '1', '--units', '4', '--min-freq', '1'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /pretrained vectors: 6 words of 4 values; 6 of the \d+ vocabulary words start from one; word embedding frozen/);
  const saved = await rnn.loadModel(join(out, 'last'));
  assert.equal(saved.getLayer('embedding').trainable, false);
  const id = (saved.metadata.vocab as { tokens: string[] }).tokens.indexOf('great');
  assert.deepEqual(Array.from(saved.getLayer('embedding').getWeights()[0]!.data.subarray(id * 4, id * 4 + 4)), Array.from(wv.vectors.subarray(0, 4)));
  const bad = spawnSync(process.execPath, [CLI, 'sentiment', 'train', '--train', join(tmp, 'reviews.jsonl'), '--out', join(tmp, 'y'), '--embeddings', join(tmp, 'vec4.txt'), '--embed', '8'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--embed 8, but the vectors in .*vec4\.txt have 4 values/);
});
