// Named-entity recognition app: training on a synthetic CoNLL corpus (with and without a CRF),
// constrained decoding, gradients, save/load, the tokenizer and the CLI.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { evaluateNer, loadNer, readNerFile, saveNer, tagTexts, tokenize, trainNer } from '../src/apps/ner.js';
import { buildVocabs, caseClass, CASE_CLASSES, labelsFor, NerTagger, type NerConfig } from '../src/apps/ner-model.js';
import { convertTags, isWellFormed, spansToTags, type EntitySpan } from '../src/data/tags.js';
import { loadBundle, saveBundle } from '../src/models/node/bundle.js';
import { rng, type Rng } from '../src/tensor/rng.js';

const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const tmp = mkdtempSync(join(tmpdir(), 'rnnkit-ner-'));
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }));

// ---------------------------------------------------------------------------------------------
// A synthetic corpus: person names after Mr/Mrs, places after in/to/from, companies ending in
// Corp/Inc. Names are random capitalised pseudo-words, so dev names are mostly unseen in training
// and the model has to use context, case and characters. Tags are written in IOB1 (as CoNLL-2003).

function name(r: Rng): string {
  const C = 'bcdfgklmnprstvz', V = 'aeiou';
  let w = '';
  const syl = 2 + r.int(2);
  for (let i = 0; i < syl; i++) w += C[r.int(C.length)]! + V[r.int(V.length)]!;
  return w[0]!.toUpperCase() + w.slice(1);
}

const FILLER = ['the', 'weather', 'was', 'nice', 'and', 'people', 'said', 'that', 'prices', 'rose', 'on', 'monday', 'a', 'new', 'plan'];

function sentence(r: Rng): { tokens: string[]; tags: string[] } {
  const toks: string[] = [];
  const spans: EntitySpan[] = [];
  const put = (words: string[], type: string | null) => {
    if (type) spans.push({ type, start: toks.length, end: toks.length + words.length });
    toks.push(...words);
  };
  const person = () => (r.next() < 0.5 ? [name(r)] : [name(r), name(r)]);
  const filler = (n: number) => Array.from({ length: n }, () => FILLER[r.int(FILLER.length)]!);
  switch (r.int(5)) {
    case 0: put([r.next() < 0.5 ? 'Mr' : 'Mrs'], null); put(person(), 'PER'); put(['lives', 'in'], null); put([name(r)], 'LOC'); put(['.'], null); break;
    case 1: put(['Yesterday', r.next() < 0.5 ? 'Mr' : 'Mrs'], null); put(person(), 'PER'); put(['flew', 'to'], null); put([name(r)], 'LOC'); put(filler(2), null); put(['.'], null); break;
    case 2: put(['The', 'firm'], null); put([name(r), r.next() < 0.5 ? 'Corp' : 'Inc'], 'ORG'); put(['hired', 'Mr'], null); put(person(), 'PER'); put(['.'], null); break;
    case 3: put(filler(3), null); put(['from'], null); put([name(r)], 'LOC'); put(['and'], null); put([name(r), 'Inc'], 'ORG'); put(filler(2), null); break;
    default: put(['The'], null); put(filler(4 + r.int(3)), null); put(['.'], null);
  }
  return { tokens: toks, tags: spansToTags(spans, toks.length, 'IOB1') };
}

function corpus(n: number, seed: number): string {
  const r = rng(seed);
  let s = '-DOCSTART- O\n\n';
  for (let i = 0; i < n; i++) {
    const { tokens, tags } = sentence(r);
    s += tokens.map((t, k) => `${t} ${tags[k]}`).join('\n') + '\n\n';
  }
  return s;
}

const trainFile = join(tmp, 'train.txt');
const devFile = join(tmp, 'dev.txt');
writeFileSync(trainFile, corpus(400, 1));
writeFileSync(devFile, corpus(150, 2));

const SMALL: Partial<NerConfig> = { wordDim: 16, caseDim: 4, charDim: 8, charUnits: 12, units: 24, dropout: 0.1, seed: 3 };

async function train(extra: Partial<NerConfig>, epochs: number, out: string | null = null) {
  return trainNer({
    train: readNerFile(trainFile), dev: readNerFile(devFile), out, config: { ...SMALL, ...extra },
    epochs, batchSize: 8, lr: 0.01, clip: 5,
  });
}

test('reads the synthetic files as IOB1', () => {
  const d = readNerFile(trainFile);
  assert.equal(d.scheme, 'IOB1');
  assert.equal(d.sentences.length, 400);
});

test('softmax tagger with char BiGRU learns the synthetic task (dev F1 >= 0.9); an untrained one does not', async () => {
  const untrained = await train({ crf: false, charFeatures: 'rnn' }, 0);
  const dev = readNerFile(devFile);
  const f0 = evaluateNer(untrained.model, dev).scores.f1;
  assert.ok(f0 < 0.3, `untrained F1 ${f0}`);
  const r = await train({ crf: false, charFeatures: 'rnn' }, 8);
  assert.equal(r.scheme, 'IOB2');
  assert.ok(r.bestDevF1 >= 0.9, `dev F1 ${r.bestDevF1} (history ${r.history.map((h) => h.f1.toFixed(3)).join(' ')})`);
  // the reported F1 is the F1 of the returned model's final state
  assert.equal(evaluateNer(r.model, dev).scores.f1, r.lastDevF1);
});

test('CRF tagger with char CNN learns the synthetic task; Viterbi output is always well-formed', async () => {
  const r = await train({ crf: true, charFeatures: 'cnn' }, 8);
  assert.equal(r.scheme, 'IOBES');
  assert.ok(r.bestDevF1 >= 0.9, `dev F1 ${r.bestDevF1} (history ${r.history.map((h) => h.f1.toFixed(3)).join(' ')})`);
  const dev = readNerFile(devFile);
  for (const p of r.model.predict(dev.sentences.map((s) => s.tokens))) assert.ok(isWellFormed(p, 'IOBES'), p.join(' '));
});

test('CRF decoding never outputs a disallowed transition, even with random weights (IOBES and IOB2)', () => {
  const r = rng(7);
  const sents = Array.from({ length: 60 }, () => Array.from({ length: 1 + r.int(12) }, () => (r.next() < 0.5 ? name(r) : FILLER[r.int(FILLER.length)]!)));
  const vocabs = buildVocabs(sents, { lowercase: true, zeroDigits: true, minFreq: 1 });
  for (const scheme of ['IOBES', 'IOB2'] as const) {
    const m = new NerTagger({ ...SMALL, crf: true, seed: 5 }, vocabs, labelsFor(['LOC', 'ORG', 'PER'], scheme), scheme);
    // large random weights make the unconstrained argmax path ill-formed almost surely
    const w = rng(11);
    for (let i = 0; i < m.params.length; i++) m.params[i] = w.uniform(-2, 2);
    let sawEntity = false;
    for (const p of m.predict(sents)) {
      assert.ok(isWellFormed(p, scheme), `${scheme}: ${p.join(' ')}`);
      if (p.some((t) => t !== 'O')) sawEntity = true;
    }
    assert.ok(sawEntity);
    // ... while the per-token argmax of the same emissions is ill-formed somewhere
    const enc = sents.map((t) => m.encode(t));
    const em = m.forward(enc, false, rng(0));
    const T = Math.max(...sents.map((t) => t.length)), K = m.K;
    const argmaxIllFormed = enc.some((e, b) => {
      const tags = Array.from({ length: e.words.length }, (_, t) => {
        let best = 0;
        for (let k = 1; k < K; k++) if (em[(b * T + t) * K + k]! > em[(b * T + t) * K + best]!) best = k;
        return m.labels[best]!;
      });
      return !isWellFormed(tags, scheme);
    });
    assert.ok(argmaxIllFormed, 'the test needs emissions whose unconstrained argmax is ill-formed');
  }
});

/** Directional derivative of the loss vs the backpropagated gradient (dropout 0, no <unk> replacement). */
function gradCheck(extra: Partial<NerConfig>): void {
  const d = readNerFile(trainFile);
  const sents = d.sentences.slice(0, 6);
  const cfg = { ...SMALL, dropout: 0, unkReplace: 0, ...extra };
  const scheme = cfg.crf ? 'IOBES' as const : 'IOB2' as const;
  const vocabs = buildVocabs(sents.map((s) => s.tokens), { lowercase: true, zeroDigits: true, minFreq: 1 });
  const m = new NerTagger(cfg, vocabs, labelsFor(['LOC', 'ORG', 'PER'], scheme), scheme);
  const enc = sents.map((s) => m.encode(s.tokens, convertTags(s.tags, 'IOB1', scheme)));
  const r = rng(3);
  const lossAt = (): number => m.loss(m.forward(enc, true, r), enc).loss;
  m.grads.fill(0);
  const em = m.forward(enc, true, r);
  const { dEm } = m.loss(em, enc);
  m.backward(dEm);
  const g = m.grads.slice();
  // One random direction per parameter group, so a wrong gradient in a small group shows.
  const dirRng = rng(9);
  for (const e of m.weightEntries()) {
    const v = new Float32Array(m.params.length);
    for (let i = e.offset; i < e.offset + e.size; i++) v[i] = dirRng.uniform(-1, 1);
    let gv = 0;
    for (let i = e.offset; i < e.offset + e.size; i++) gv += g[i]! * v[i]!;
    const p0 = m.params.slice(), eps = 1e-3;
    for (let i = 0; i < v.length; i++) m.params[i] = p0[i]! + eps * v[i]!;
    const lp = lossAt();
    for (let i = 0; i < v.length; i++) m.params[i] = p0[i]! - eps * v[i]!;
    const lm = lossAt();
    m.params.set(p0);
    const num = (lp - lm) / (2 * eps);
    assert.ok(Math.abs(num - gv) <= 0.02 * Math.abs(gv) + 2e-5, `${e.name}: numerical ${num} vs backprop ${gv}`);
  }
}

test('gradients match finite differences: char CNN + CRF, char BiGRU + softmax, char BiLSTM + 2 layers', () => {
  gradCheck({ crf: true, charFeatures: 'cnn' });
  gradCheck({ crf: false, charFeatures: 'rnn' });
  gradCheck({ crf: true, charFeatures: 'rnn', charCell: 'lstm', layers: 2, caseDim: 0 });
});

test('save/load gives identical predictions; a mismatched bundle is refused with a clear error', async () => {
  const out = join(tmp, 'saved');
  const r = await train({ crf: true, charFeatures: 'rnn' }, 2, out);
  const dev = readNerFile(devFile);
  const before = r.model.predict(dev.sentences.map((s) => s.tokens));
  const { model, sourceScheme, training } = await loadNer(join(out, 'last'));
  assert.equal(sourceScheme, 'IOB1');
  assert.equal(training?.epoch, 2);
  assert.deepEqual(model.predict(dev.sentences.map((s) => s.tokens)), before);
  assert.deepEqual(Array.from(model.params), Array.from(r.model.params));
  // saving the loaded model again round-trips too
  await saveNer(model, join(tmp, 'again'), sourceScheme);
  assert.deepEqual((await loadNer(join(tmp, 'again'))).model.predict(dev.sentences.map((s) => s.tokens)), before);

  // Architecture in the manifest no longer matches the weights.
  const b = await loadBundle(join(out, 'last'));
  const bad = join(tmp, 'bad');
  (b.manifest.config as Record<string, unknown>).units = 7;
  await saveBundle(bad, { manifest: b.manifest, weights: b.weights as never, extraFiles: b.extraFiles! });
  await assert.rejects(loadNer(bad), /weights\.safetensors: tensor 'word_rnn_1\/weight_ih_l0' has shape \[72, \d+\], the architecture needs \[21, \d+\]/);
  // Unknown config option / not an NER bundle / missing vocabulary.
  (b.manifest.config as Record<string, unknown>).units = 24;
  (b.manifest.config as Record<string, unknown>).colour = 'red';
  await saveBundle(bad, { manifest: b.manifest, weights: b.weights as never, extraFiles: b.extraFiles! });
  await assert.rejects(loadNer(bad), /model\.json: config: unknown option 'colour'/);
  delete (b.manifest.config as Record<string, unknown>).colour;
  await saveBundle(bad, { manifest: { ...b.manifest, app: 'charrnn' }, weights: b.weights as never, extraFiles: b.extraFiles! });
  await assert.rejects(loadNer(bad), /not an NER model/);
  await saveBundle(bad, { manifest: b.manifest, weights: b.weights as never });
  await assert.rejects(loadNer(bad), /vocab\.json: missing/);
});

test('tokenizer: spans in code points, abbreviations, acronyms, numbers, URLs', () => {
  const t = tokenize('Mr. O\'Neill met 🙂 the U.S. team in São Paulo on 1996-08-30, see https://x.org/a?b=1.');
  assert.deepEqual(t.tokens, ['Mr.', "O'Neill", 'met', '🙂', 'the', 'U.S.', 'team', 'in', 'São', 'Paulo', 'on', '1996-08-30', ',', 'see', 'https://x.org/a?b=1.']);
  const text = 'Mr. O\'Neill met 🙂 the U.S. team in São Paulo on 1996-08-30, see https://x.org/a?b=1.';
  const cps = [...text];
  t.spans.forEach(([s, e], i) => assert.equal(cps.slice(s, e).join(''), t.tokens[i]));
  assert.deepEqual(tokenize('He left. She came!').tokens, ['He', 'left', '.', 'She', 'came', '!']);
  assert.deepEqual(tokenize('  ').tokens, []);
});

test('case classes', () => {
  const c = (w: string) => CASE_CLASSES[caseClass(w)];
  assert.equal(c('the'), 'lower');
  assert.equal(c('EU'), 'upper');
  assert.equal(c('German'), 'title');
  assert.equal(c('McDonald'), 'mixed');
  assert.equal(c('1996'), 'numeric');
  assert.equal(c('1,000'), 'numeric');
  assert.equal(c('F16'), 'has_digit');
  assert.equal(c('.'), 'punct');
  assert.equal(c('Élan'), 'title');
});

// ---------------------------------------------------------------------------------------------
// CLI

function cli(args: string[], input?: string) {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', ...(input !== undefined ? { input } : {}), env: { ...process.env, CI: '1' } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

test('CLI: ner train -> eval --json -> tag (text, --conll, --json)', () => {
  const out = join(tmp, 'cli-run');
  const tr = cli(['ner', 'train', '--train', trainFile, '--dev', devFile, '--out', out, '--crf', '--char-features', 'cnn',
    '--epochs', '6', '--batch', '8', '--lr', '0.01', '--units', '24', '--word-dim', '16', '--char-dim', '8', '--char-units', '12',
    '--case-dim', '4', '--dropout', '0.1', '--seed', '3', '--json']);
  assert.equal(tr.code, 0, tr.stderr);
  const res = JSON.parse(tr.stdout) as { bestDevF1: number; scheme: string; sourceScheme: string; history: unknown[]; tokensPerSecond: number };
  assert.equal(res.scheme, 'IOBES');
  assert.equal(res.sourceScheme, 'IOB1');
  assert.equal(res.history.length, 6);
  assert.ok(res.bestDevF1 >= 0.85, `dev F1 ${res.bestDevF1}`);
  assert.ok(res.tokensPerSecond > 0);

  const ev = cli(['ner', 'eval', '--model', join(out, 'best'), '--data', devFile, '--json']);
  assert.equal(ev.code, 0, ev.stderr);
  const e = JSON.parse(ev.stdout) as { f1: number; perType: Record<string, { f1: number; support: number }>; scheme: string };
  assert.equal(e.f1, res.bestDevF1);
  assert.deepEqual(Object.keys(e.perType), ['LOC', 'ORG', 'PER']);
  assert.equal(e.scheme, 'IOB1');

  const text = cli(['ner', 'eval', '--model', join(out, 'best'), '--data', devFile]);
  assert.equal(text.code, 0, text.stderr);
  assert.match(text.stdout, /micro avg/);
  assert.match(text.stdout, /entity F1 \(micro, conlleval/);

  const tg = cli(['ner', 'tag', '--model', join(out, 'best'), 'Yesterday Mr Bobaku Tesi flew to Kalomi .']);
  assert.equal(tg.code, 0, tg.stderr);
  assert.match(tg.stdout, /^Yesterday Mr Bobaku Tesi flew to Kalomi \.\n {2}PER\t13\t24\tBobaku Tesi\n {2}LOC\t33\t39\tKalomi\n$/);

  const conll = cli(['ner', 'tag', '--model', join(out, 'best'), '--conll', '--scheme', 'iob2'], 'Mrs Dafo lives in Pemu .\n');
  assert.equal(conll.code, 0, conll.stderr);
  assert.equal(conll.stdout, 'Mrs\tO\nDafo\tB-PER\nlives\tO\nin\tO\nPemu\tB-LOC\n.\tO\n\n');

  const textFile = join(tmp, 'texts.txt');
  writeFileSync(textFile, 'Mrs Dafo lives in Pemu.\n\nThe firm Gotuka Corp hired Mr Sani.\n');
  const js = cli(['ner', 'tag', '--model', join(out, 'best'), '--file', textFile, '--json']);
  assert.equal(js.code, 0, js.stderr);
  const lines = js.stdout.trim().split('\n').map((l) => JSON.parse(l) as { text: string; entities: { type: string; start: number; end: number; text: string }[] });
  assert.equal(lines.length, 2);
  assert.deepEqual(lines[1]!.entities.map((x) => [x.type, x.text]), [['ORG', 'Gotuka Corp'], ['PER', 'Sani']]);
  for (const l of lines) for (const x of l.entities) assert.equal([...l.text].slice(x.start, x.end).join(''), x.text);

  for (const sub of ['train', 'eval', 'tag']) {
    const h = cli(['ner', sub, '--help']);
    assert.equal(h.code, 0);
    assert.match(h.stdout, new RegExp(`^Usage: rnnkit ner ${sub}`));
  }
});

test('CLI: bad input gives one line and exit 2 (wrong column count names file:line; bad options; bad model dir)', () => {
  const bad = join(tmp, 'bad.txt');
  writeFileSync(bad, 'EU NNP B-ORG\nrejects VBZ O\nGerman JJ\n\n');
  const r = cli(['ner', 'train', '--train', bad, '--dev', devFile, '--out', join(tmp, 'never')]);
  assert.equal(r.code, 2);
  assert.equal(r.stderr.trim().split('\n').length, 1);
  assert.match(r.stderr, new RegExp(`^rnnkit: ${bad.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:3: expected 3 whitespace-separated columns .* but found 2`));

  const ev = cli(['ner', 'eval', '--model', join(tmp, 'nope'), '--data', devFile]);
  assert.equal(ev.code, 2);
  assert.match(ev.stderr, /^rnnkit: --model: .*nope: model bundle directory not found/);

  const opt = cli(['ner', 'train', '--train', trainFile, '--dev', devFile, '--out', join(tmp, 'x'), '--char-features', 'lstm']);
  assert.equal(opt.code, 2);
  assert.match(opt.stderr, /--char-features: expected cnn, rnn or none/);
  const sch = cli(['ner', 'train', '--train', trainFile, '--dev', devFile, '--out', join(tmp, 'x'), '--scheme', 'bio']);
  assert.equal(sch.code, 2);
  assert.match(sch.stderr, /--scheme: unknown tag scheme 'bio'/);
  assert.equal(cli(['ner', 'frobnicate']).code, 2);
  assert.ok(readFileSync(trainFile, 'utf8').length > 0);
});

test('tagTexts maps entities back to character spans', async () => {
  const r = await train({ crf: false, charFeatures: 'none' }, 1);
  const [t] = tagTexts(r.model, ['  Mr Bobaku lives in Kalomi .']);
  for (const e of t!.entities) assert.equal([...t!.text].slice(e.start, e.end).join(''), e.text);
  assert.equal(t!.tags.length, t!.tokens.length);
});
