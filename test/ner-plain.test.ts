// The tagger on plain tags (scheme PLAIN: POS tags and the like) — CoNLL-U read as plain, the
// per-tag scores whose micro F1 is the accuracy, a softmax and a CRF tagger that use context to
// tag ambiguous words, bundles, and the CLI's train, eval and tag.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { evaluateNer, loadNer, readNerFile, saveNer, tagTexts, trainNer } from '../src/apps/ner.js';
import { tokenScores } from '../src/models/entity-metrics.js';
import { rng } from '../src/tensor/rng.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'rnnkit-ner-plain-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// Sentences "the|a NOUN VERB the|a NOUN ." with words that are nouns or verbs by position: 'run',
// 'walk', 'fish' and 'duck' are NOUN after a determiner and VERB after a noun (most verbs are
// one of them), so each one's most frequent tag is right only about half the time.
const NOUNS = ['dog', 'cat', 'man', 'bird'], VERBS = ['sees', 'likes', 'finds'], BOTH = ['run', 'walk', 'fish', 'duck'];
function conllu(n: number, seed: number): string {
  const r = rng(seed), pick = (a: string[]): string => a[r.int(a.length)]!;
  let s = '# a synthetic treebank\n';
  for (let k = 0; k < n; k++) {
    const words: [string, string][] = [[pick(['the', 'a']), 'DET'], [r.next() < 0.5 ? pick(NOUNS) : pick(BOTH), 'NOUN'], [r.next() < 0.1 ? pick(VERBS) : pick(BOTH), 'VERB'],
      [pick(['the', 'a']), 'DET'], [r.next() < 0.5 ? pick(NOUNS) : pick(BOTH), 'NOUN'], ['.', 'PUNCT']];
    s += `# sent_id = ${k + 1}\n` + words.map(([w, t], i) => `${i + 1}\t${w}\t${w}\t${t}\t_\t_\t0\t_\t_\t_`).join('\n') + '\n\n';
  }
  return s;
}
const trainFile = join(tmp, 'train.conllu'), devFile = join(tmp, 'dev.conllu');
writeFileSync(trainFile, conllu(300, 1));
writeFileSync(devFile, conllu(100, 2));

test('tokenScores: per tag as a classification report over the words; the micro precision, recall and F1 are the accuracy', () => {
  const s = tokenScores([['A', 'B', 'A'], ['C']], [['A', 'A', 'A'], ['C']]);
  assert.deepEqual(s.types, ['A', 'B', 'C']);
  assert.deepEqual([s.perType.A!.precision, s.perType.A!.recall, s.perType.B!.recall, s.perType.C!.f1], [2 / 3, 1, 0, 1]);
  assert.equal(s.f1, 3 / 4);
  assert.equal(s.precision, 3 / 4);
  assert.equal(s.recall, 3 / 4);
  assert.throws(() => tokenScores([['A']], [['A', 'B']]), /length/);
});

test('CoNLL-U is read as plain tags; POS tags in a CoNLL file need plain, and the error says so', () => {
  const d = readNerFile(trainFile);
  assert.equal(d.scheme, 'PLAIN');
  assert.equal(d.sentences.length, 300);
  assert.deepEqual(d.sentences[0]!.tags, ['DET', 'NOUN', 'VERB', 'DET', 'NOUN', 'PUNCT']);
  const txt = join(tmp, 'pos.txt');
  writeFileSync(txt, 'the DET\ndog NOUN\n\n');
  assert.throws(() => readNerFile(txt), /pos\.txt:1: .*"DET".*read as they are with the scheme plain/);
  assert.equal(readNerFile(txt, { plain: true }).scheme, 'PLAIN');
  assert.deepEqual(readNerFile(trainFile, { tagColumn: 1 }).sentences[0]!.tags[1], readNerFile(trainFile).sentences[0]!.tokens[1]);
});

test('softmax and CRF taggers of plain tags tag the ambiguous words by context (dev accuracy, from the predictions by hand), past each word\'s most frequent tag', async () => {
  const train = readNerFile(trainFile), dev = readNerFile(devFile);
  // Baseline: each word's most frequent training tag.
  const counts = new Map<string, Map<string, number>>();
  train.sentences.forEach((s) => s.tokens.forEach((w, i) => {
    const m = counts.get(w) ?? new Map<string, number>();
    m.set(s.tags[i]!, (m.get(s.tags[i]!) ?? 0) + 1);
    counts.set(w, m);
  }));
  const top = (w: string): string => [...counts.get(w)!].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  let right = 0;
  dev.sentences.forEach((s) => s.tokens.forEach((w, i) => { if (top(w) === s.tags[i]) right++; }));
  const baseline = right / dev.tokens;
  assert.ok(baseline < 0.9, `baseline ${baseline}`);
  for (const crf of [false, true]) {
    const r = await trainNer({ train, dev, out: null, config: { wordDim: 12, caseDim: 0, charFeatures: 'none', units: 16, dropout: 0, crf, seed: 1 }, epochs: 6, batchSize: 16, lr: 0.02, clip: 5 });
    assert.equal(r.scheme, 'PLAIN');
    assert.deepEqual(r.labels, ['DET', 'NOUN', 'PUNCT', 'VERB']);
    if (crf) assert.ok(r.model.constraints.transitions.every((t) => t === 1), 'a CRF over plain tags allows every transition');
    const ev = evaluateNer(r.model, dev);
    let ok = 0;
    ev.predicted.forEach((p, i) => p.forEach((t, j) => { if (t === dev.sentences[i]!.tags[j]) ok++; }));
    assert.equal(ev.scores.f1, ok / dev.tokens, 'the micro F1 is the accuracy');
    assert.ok(ev.scores.f1 >= 0.97 && ev.scores.f1 > baseline + 0.05, `${crf ? 'CRF' : 'softmax'}: accuracy ${ev.scores.f1} against ${baseline}`);
    assert.deepEqual(tagTexts(r.model, ['the duck walk a fish .'])[0]!.tags, ['DET', 'NOUN', 'VERB', 'DET', 'NOUN', 'PUNCT']);
    assert.deepEqual(tagTexts(r.model, ['a dog'])[0]!.entities, []);
    if (crf) {
      await saveNer(r.model, join(tmp, 'bundle'), 'PLAIN');
      const back = await loadNer(join(tmp, 'bundle'));
      assert.equal(back.model.scheme, 'PLAIN');
      assert.deepEqual(evaluateNer(back.model, dev).predicted, ev.predicted);
    }
  }
});

test('CLI on plain tags: train on CoNLL-U, eval prints the accuracy, tag prints word/TAG; entity options refused with the reason', () => {
  const run = (...args: string[]) => spawnSync(process.execPath, [CLI, 'ner', ...args], { encoding: 'utf8' });
  const out = join(tmp, 'cli');
  const t = run('train', '--train', trainFile, '--dev', devFile, '--out', out, '--epochs', '4', '--lr', '0.02', '--char-features', 'none', '--units', '16', '--word-dim', '12');
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /PLAIN -> PLAIN/);
  assert.match(t.stdout, /best dev accuracy \d+\.\d\d \(epoch \d\)/);
  const e = run('eval', '--model', join(out, 'best'), '--data', devFile);
  assert.equal(e.status, 0, e.stderr);
  const acc = Number(/accuracy: (\d+\.\d\d) {2}\((\d+) of 600 words tagged right\)/.exec(e.stdout)?.[1]);
  assert.ok(acc > 90, e.stdout);
  assert.match(e.stdout, /^ +VERB +\d\.\d{4} /m);
  const g = run('tag', '--model', join(out, 'best'), 'the cat run a fish .');
  assert.equal(g.status, 0, g.stderr);
  assert.match(g.stdout, /^the cat run a fish \.\n {2}the\/DET cat\/NOUN run\/VERB a\/DET fish\/NOUN \.\/PUNCT\n$/);
  const bad = run('tag', '--model', join(out, 'best'), '--conll', '--scheme', 'iob2', 'the cat');
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--scheme: plain tags have no entities to convert to IOB2/);
  const lemma = run('eval', '--model', join(out, 'best'), '--data', devFile, '--column', '3'); // LEMMA: the words themselves
  assert.equal(lemma.status, 0, lemma.stderr);
  assert.match(lemma.stdout, /accuracy: 0\.00 .*\nnote: 600 words have tags the model was not trained on: (\S+, ){9}\S+, \.\.\.\n$/);
  const col = run('eval', '--model', join(out, 'best'), '--data', devFile, '--column', '0');
  assert.equal(col.status, 2);
  assert.match(col.stderr, /--column: expected a column number from 1/);
  const entity = run('train', '--train', trainFile, '--dev', devFile, '--out', join(tmp, 'x'), '--scheme', 'iobes');
  assert.equal(entity.status, 2);
  assert.match(entity.stderr, /is neither "O" nor .*read as they are with the scheme plain/);
});
