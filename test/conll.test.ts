// CoNLL reader (string + file) and tag schemes (parse, convert, detect, allowed transitions).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConllParseError, formatConll, parseConll } from '../src/data/conll.js';
import { readConllFile, readConllFileAsync } from '../src/data/node/conll-file.js';
import {
  allowedTransitions,
  convertTags,
  detectScheme,
  entityTypes,
  isWellFormed,
  parseTag,
  spansToTags,
  tagsToSpans,
  TAG_SCHEMES,
  type EntitySpan,
  type TagScheme,
} from '../src/data/tags.js';
import { entityScores } from '../src/models/entity-metrics.js';
import { rng } from '../src/tensor/rng.js';

const DATA = '/work/shared/datasets';

// --- parseConll ---------------------------------------------------------------------

const SAMPLE = `-DOCSTART- -X- O O

EU NNP I-NP I-ORG
rejects VBZ I-VP O
German JJ I-NP I-MISC

Peter NNP I-NP I-PER
Blackburn NNP I-NP I-PER
-DOCSTART- -X- O O

BRUSSELS NNP I-NP I-LOC
`;

test('parseConll: sentences, documents, default columns, line numbers', () => {
  const d = parseConll(SAMPLE);
  assert.equal(d.documents, 2);
  assert.equal(d.columns, 4);
  assert.equal(d.separator, 'whitespace');
  assert.deepEqual(
    d.sentences.map((s) => [s.tokens, s.tags, s.docIndex, s.line]),
    [
      [['EU', 'rejects', 'German'], ['I-ORG', 'O', 'I-MISC'], 0, 3],
      [['Peter', 'Blackburn'], ['I-PER', 'I-PER'], 0, 7],
      [['BRUSSELS'], ['I-LOC'], 1, 11],
    ],
  );
  assert.equal(d.sentences[0]!.columns, undefined);
  // Chosen columns (POS tags need validateTags: false), negative indices, all columns kept.
  const pos = parseConll(SAMPLE, { tagColumn: 1, validateTags: false, keepColumns: true });
  assert.deepEqual(pos.sentences[0]!.tags, ['NNP', 'VBZ', 'JJ']);
  assert.deepEqual(pos.sentences[0]!.columns![1], ['rejects', 'VBZ', 'I-VP', 'O']);
  const chunk = parseConll(SAMPLE, { tokenColumn: -3, tagColumn: 2 });
  assert.deepEqual(chunk.sentences[1]!.tokens, ['NNP', 'NNP']);
  assert.deepEqual(chunk.sentences[1]!.tags, ['I-NP', 'I-NP']);
  // No DOCSTART: one document; empty input: none.
  assert.equal(parseConll('a O\n').documents, 1);
  assert.deepEqual(parseConll(''), { sentences: [], documents: 0, columns: 0, separator: 'whitespace' });
  assert.deepEqual(parseConll('\n\n  \n').sentences, []);
});

test('parseConll: TAB files, whitespace-only separator lines, CRLF, BOM, Unicode inside tokens', () => {
  // WNUT-17 style: token<TAB>tag, sentences separated by a line holding just a TAB.
  const d = parseConll('\uFEFF@paul\tO\nEmpire\tB-location\r\nState\tI-location\n\t\nDubbz\uFEFF\tB-person\nwatched\u200Bwas\tO\n a b\tO\n');
  assert.equal(d.separator, 'tab');
  assert.equal(d.columns, 2);
  assert.deepEqual(d.sentences.map((s) => s.tokens), [['@paul', 'Empire', 'State'], ['Dubbz\uFEFF', 'watched\u200Bwas', ' a b']]);
  assert.deepEqual(d.sentences[0]!.tags, ['O', 'B-location', 'I-location']);
  // Forcing whitespace splitting: runs of spaces/TABs, leading/trailing blanks ignored.
  const w = parseConll('  x \t\tO  \n', { separator: 'whitespace' });
  assert.deepEqual([w.sentences[0]!.tokens, w.sentences[0]!.tags], [['x'], ['O']]);
});

test('parseConll: errors name the file and line', () => {
  const bad = 'EU NNP I-NP I-ORG\nrejects VBZ O\n';
  assert.throws(
    () => parseConll(bad, { fileName: 'x.conll' }),
    (e: unknown) => {
      assert.ok(e instanceof ConllParseError);
      assert.equal(e.fileName, 'x.conll');
      assert.equal(e.line, 2);
      assert.match(e.message, /^x\.conll:2: expected 4 whitespace-separated columns \(as on line 1, the first token line\) but found 3/);
      return true;
    },
  );
  assert.throws(() => parseConll('a O\nb X-PER\n', { fileName: 'f' }), /^ConllParseError: f:2: tag "X-PER" has unknown prefix "X"/);
  assert.throws(() => parseConll('a B-\n', { fileName: 'f' }), /f:1: tag "B-" has an empty entity type/);
  assert.throws(() => parseConll('\n\na B\n', { fileName: 'f' }), /f:3: tag "B" is neither "O" nor/);
  assert.throws(() => parseConll('a\tO\nb\tO\tx\n'), /<string>:2: expected 2 TAB-separated columns/);
  assert.throws(() => parseConll('a O\n', { tagColumn: 5 }), /tagColumn 5 is out of range/);
});

test('formatConll round-trips through parseConll', () => {
  const sents = [{ tokens: ['a', 'b'], tags: ['B-X', 'O'] }, { tokens: ['c'], tags: ['S-Y'] }];
  for (const sep of ['\t', ' '] as const) {
    const back = parseConll(formatConll(sents, sep)).sentences.map((s) => ({ tokens: s.tokens, tags: s.tags }));
    assert.deepEqual(back, sents);
  }
});

// --- Files ----------------------------------------------------------------------------

test('readConllFile: I/O and format errors name the file', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-conll-'));
  try {
    const missing = join(dir, 'missing.conll');
    assert.throws(() => readConllFile(missing), (e: Error) => e.message === `cannot read CoNLL file ${missing}: no such file or directory`);
    assert.throws(() => readConllFile(dir), (e: Error) => e.message === `cannot read CoNLL file ${dir}: it is a directory, not a file`);
    await assert.rejects(readConllFileAsync(missing), (e: Error) => e.message.includes(missing));
    const bad = join(dir, 'bad.conll');
    writeFileSync(bad, 'a B-PER\n\nb I-PER extra\n');
    assert.throws(() => readConllFile(bad), new RegExp(`^ConllParseError: ${bad.replace(/[.\\]/g, '\\$&')}:3: expected 2`));
    const latin1 = join(dir, 'latin1.conll');
    writeFileSync(latin1, Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x4f, 0x0a]));
    assert.throws(() => readConllFile(latin1), /latin1\.conll: not valid UTF-8/);
    const ok = join(dir, 'ok.conll');
    writeFileSync(ok, 'a B-PER\nb I-PER\n');
    assert.deepEqual((await readConllFileAsync(ok)).sentences[0]!.tags, ['B-PER', 'I-PER']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("parseConll({ format: 'conllu' }): comments, multiword-token and empty-node lines skipped; FORM and UPOS by default; other columns on request; errors name the line", () => {
  const text = [
    '# sent_id = 1', '# text = I don\'t fly',
    '1\tI\tI\tPRON\tPRP\t_\t3\tnsubj\t_\t_',
    '2-3\tdon\'t\t_\t_\t_\t_\t_\t_\t_\t_',
    '2\tdo\tdo\tAUX\tVBP\t_\t4\taux\t_\t_',
    '3\tn\'t\tnot\tPART\tRB\t_\t4\tadvmod\t_\t_',
    '3.1\tfly\tfly\tVERB\tVB\t_\t_\t_\t0:root\t_',
    '4\tfly\tfly\tVERB\tVB\t_\t0\troot\t_\t_',
    '', '# sent_id = 2', '1\tHi\thi\tINTJ\tUH\t_\t0\troot\t_\t_', '',
  ].join('\n');
  const d = parseConll(text, { format: 'conllu' });
  assert.equal(d.sentences.length, 2);
  assert.deepEqual(d.sentences[0]!.tokens, ['I', 'do', "n't", 'fly']);
  assert.deepEqual(d.sentences[0]!.tags, ['PRON', 'AUX', 'PART', 'VERB']);
  assert.equal(d.sentences[0]!.line, 3);
  assert.deepEqual(d.sentences[1]!.tags, ['INTJ']);
  assert.deepEqual(parseConll(text, { format: 'conllu', tagColumn: 4 }).sentences[0]!.tags, ['PRP', 'VBP', 'RB', 'VB']);
  assert.deepEqual(parseConll(text, { format: 'conllu', tagColumn: 7 }).sentences[0]!.tags, ['nsubj', 'aux', 'advmod', 'root']);
  assert.throws(() => parseConll('1\ta\ta\tX\n', { format: 'conllu', fileName: 'x.conllu' }), /^ConllParseError: x\.conllu:1: a CoNLL-U line has 10 TAB-separated columns, this one 4/);
  assert.throws(() => parseConll('w\ta\ta\tX\t_\t_\t0\troot\t_\t_\n', { format: 'conllu', fileName: 'x.conllu' }), /x\.conllu:1: expected a word ID \(1, 2, \.\.\.\) in column 1 of a CoNLL-U line, got "w"/);
  assert.throws(() => parseConll('a b\n', { format: 'conllx' as never }), /format must be 'conll' or 'conllu', got "conllx"/);
});

test('dataset ud-english-atis (CoNLL-U): sentence, word and UPOS counts match the published ones', { skip: existsSync(join(DATA, 'ud-english-atis')) ? false : 'not present' }, () => {
  for (const [file, sentences, words, upos] of [
    ['en_atis-ud-train.conllu', 4274, 48655, { PROPN: 11657, ADP: 10791, NOUN: 8621, VERB: 4595, DET: 3805, PRON: 3022, AUX: 1732, ADJ: 1632, NUM: 933, CCONJ: 751, ADV: 431, PART: 366, INTJ: 319 }],
    ['en_atis-ud-dev.conllu', 572, 6644, { PROPN: 1551, ADP: 1415, NOUN: 1143, VERB: 653, DET: 568, PRON: 414, AUX: 266, ADJ: 227, NUM: 131, CCONJ: 107, PART: 73, ADV: 59, INTJ: 35, SYM: 2 }],
  ] as const) {
    const d = readConllFile(join(DATA, 'ud-english-atis', file), { format: 'conllu' });
    assert.equal(d.sentences.length, sentences, file);
    assert.equal(d.sentences.reduce((n, s) => n + s.tokens.length, 0), words, file);
    const counts: Record<string, number> = {};
    for (const s of d.sentences) for (const t of s.tags) counts[t] = (counts[t] ?? 0) + 1;
    assert.deepEqual(counts, upos, file);
  }
});

/** Counts published in /work/shared/datasets/README.md. */
const DATASETS = [
  { file: 'conll2003/eng.train', sentences: 14041, docs: 946, tokens: 203621, scheme: 'IOB1', sep: 'whitespace', entities: { LOC: 7140, MISC: 3438, ORG: 6321, PER: 6600 } },
  { file: 'conll2003/eng.testa', sentences: 3250, docs: 216, tokens: 51362, scheme: 'IOB1', sep: 'whitespace', entities: { LOC: 1837, MISC: 922, ORG: 1341, PER: 1842 } },
  { file: 'wnut17/wnut17train.conll', sentences: 3394, docs: 1, tokens: 62730, scheme: 'IOB2', sep: 'tab', entities: { corporation: 221, 'creative-work': 140, group: 264, location: 548, person: 660, product: 142 } },
  { file: 'wnut17/emerging.dev.conll', sentences: 1009, docs: 1, tokens: 15733, scheme: 'IOB2', sep: 'tab', entities: { corporation: 34, 'creative-work': 105, group: 39, location: 74, person: 470, product: 114 } },
] as const;

for (const ds of DATASETS) {
  const path = join(DATA, ds.file);
  test(`dataset ${ds.file}: counts match the published ones`, { skip: existsSync(path) ? false : `${path} not present` }, () => {
    const d = readConllFile(path);
    assert.equal(d.sentences.length, ds.sentences);
    assert.equal(d.documents, ds.docs);
    assert.equal(d.separator, ds.sep);
    assert.equal(d.sentences.reduce((a, s) => a + s.tokens.length, 0), ds.tokens);
    assert.equal(d.sentences[d.sentences.length - 1]!.docIndex, ds.docs - 1);
    const tags = d.sentences.map((s) => s.tags);
    assert.equal(detectScheme(tags), ds.scheme);
    // Entity counts per type, three ways: default-mode scoring, strict scoring in the
    // file's scheme, and strict IOB2 / IOBES after conversion.
    const r = entityScores(tags, tags);
    assert.deepEqual(Object.fromEntries(r.types.map((t) => [t, r.perType[t]!.support])), ds.entities);
    assert.equal(r.f1, 1);
    const total = Object.values(ds.entities).reduce((a: number, b: number) => a + b, 0);
    assert.equal(entityScores(tags, tags, { mode: 'strict', scheme: ds.scheme }).support, total);
    for (const to of ['IOB2', 'IOBES'] as const) {
      const conv = tags.map((s) => convertTags(s, ds.scheme, to));
      assert.ok(conv.every((s) => isWellFormed(s, to)));
      assert.equal(entityScores(conv, conv, { mode: 'strict', scheme: to }).support, total, to);
    }
    if (ds.file.endsWith('emerging.dev.conll')) {
      // Tokens keep U+FEFF / U+200B (JS \s would split or strip them).
      const toks = d.sentences.flatMap((s) => s.tokens);
      assert.ok(toks.includes('Dubbz\uFEFF'));
      assert.ok(toks.includes('watched\u200Bwas'));
    }
  });
}

// --- Tags --------------------------------------------------------------------------

test('parseTag / entityTypes', () => {
  assert.deepEqual(parseTag('O'), { prefix: 'O', type: '' });
  assert.deepEqual(parseTag('B-creative-work'), { prefix: 'B', type: 'creative-work' });
  assert.deepEqual(parseTag('U-PER'), { prefix: 'U', type: 'PER' });
  for (const bad of ['X-PER', 'B-', 'B', '', 'BB-PER', 'o', '-PER']) assert.throws(() => parseTag(bad), Error, bad);
  assert.deepEqual(entityTypes(['O', 'I-PER', 'B-LOC', 'E-PER']), ['LOC', 'PER']);
});

test('tagsToSpans / spansToTags on a worked example in all six schemes', () => {
  // Tokens: 0 Barack 1 Obama | 2 Hawaii | 3 Paris (LOC right after LOC) | 4 and | 5 IBM
  const spans: EntitySpan[] = [
    { type: 'PER', start: 0, end: 2 },
    { type: 'LOC', start: 2, end: 3 },
    { type: 'LOC', start: 3, end: 4 },
    { type: 'ORG', start: 5, end: 6 },
  ];
  const expected: Record<TagScheme, string> = {
    IOB1: 'I-PER I-PER I-LOC B-LOC O I-ORG',
    IOB2: 'B-PER I-PER B-LOC B-LOC O B-ORG',
    IOE1: 'I-PER I-PER E-LOC I-LOC O I-ORG',
    IOE2: 'I-PER E-PER E-LOC E-LOC O E-ORG',
    IOBES: 'B-PER E-PER S-LOC S-LOC O S-ORG',
    BILOU: 'B-PER L-PER U-LOC U-LOC O U-ORG',
  };
  for (const s of TAG_SCHEMES) {
    const tags = spansToTags(spans, 6, s);
    assert.equal(tags.join(' '), expected[s], s);
    assert.deepEqual(tagsToSpans(tags, s), spans, s);
    assert.ok(isWellFormed(tags, s), s);
    for (const s2 of TAG_SCHEMES) assert.equal(convertTags(tags, s, s2).join(' '), expected[s2], `${s}→${s2}`);
  }
  assert.throws(() => tagsToSpans(['S-PER'], 'IOB2'), /not valid in scheme IOB2/);
  assert.throws(() => spansToTags([{ type: 'A', start: 0, end: 2 }, { type: 'B', start: 1, end: 3 }], 4, 'IOB2'), /overlapping/);
  assert.throws(() => spansToTags([{ type: 'A', start: 0, end: 5 }], 4, 'IOB2'), /invalid span/);
});

test('tagsToSpans: lenient (conlleval) vs strict (seqeval) decoding of ill-formed input', () => {
  const tags = ['I-PER', 'I-PER', 'O', 'B-LOC', 'I-ORG'];
  // lenient: a stray I- opens an entity, a type change splits.
  assert.deepEqual(tagsToSpans(tags, 'IOB2'), [
    { type: 'PER', start: 0, end: 2 },
    { type: 'LOC', start: 3, end: 4 },
    { type: 'ORG', start: 4, end: 5 },
  ]);
  // strict IOB2: only B-LOC is a well-formed entity.
  assert.deepEqual(tagsToSpans(tags, 'IOB2', { strict: true }), [{ type: 'LOC', start: 3, end: 4 }]);
  assert.equal(isWellFormed(tags, 'IOB2'), false);
  assert.equal(isWellFormed(tags.slice(0, 4), 'IOB1'), false); // B-LOC after O is not IOB1
  assert.equal(isWellFormed(['I-PER', 'I-PER', 'O', 'I-LOC'], 'IOB1'), true);
});

/** Random non-overlapping spans over n tokens (adjacent same-type entities included). */
function randomSpans(r: ReturnType<typeof rng>, n: number, types: string[]): EntitySpan[] {
  const spans: EntitySpan[] = [];
  let i = 0;
  while (i < n) {
    if (r.next() < 0.4) {
      i++;
      continue;
    }
    const len = 1 + r.int(Math.min(4, n - i));
    spans.push({ type: types[r.int(types.length)]!, start: i, end: i + len });
    i += len;
  }
  return spans;
}

test('property: span → tags → span round trip; conversions; strict == lenient on well-formed tags', () => {
  const r = rng(99);
  for (let trial = 0; trial < 500; trial++) {
    const n = r.int(10);
    const spans = randomSpans(r, n, ['A', 'B']);
    for (const s of TAG_SCHEMES) {
      const tags = spansToTags(spans, n, s);
      assert.deepEqual(tagsToSpans(tags, s), spans, `${s} ${tags.join(' ')}`);
      assert.ok(isWellFormed(tags, s), `${s} ${tags.join(' ')}`);
      // seqeval's strict decoder agrees on well-formed input, except for IOE1, where seqeval
      // does not recognise a single-token E-X entity after O (its own unit tests mark IOE1 as
      // incomplete).
      if (s !== 'IOE1') assert.deepEqual(tagsToSpans(tags, s, { strict: true }), spans, `strict ${s} ${tags.join(' ')}`);
      const s2 = TAG_SCHEMES[r.int(TAG_SCHEMES.length)]!;
      assert.deepEqual(convertTags(tags, s, s2), spansToTags(spans, n, s2));
    }
  }
});

test('detectScheme', () => {
  assert.equal(detectScheme([['I-PER', 'I-PER', 'O', 'I-LOC', 'B-LOC']]), 'IOB1');
  assert.equal(detectScheme([['B-PER', 'I-PER', 'O', 'B-LOC']]), 'IOB2');
  assert.equal(detectScheme([['O', 'O'], []]), 'IOB2');
  assert.equal(detectScheme([['I-PER', 'E-PER', 'O', 'E-LOC']]), 'IOE2');
  assert.equal(detectScheme([['I-PER', 'I-PER', 'O', 'E-LOC', 'I-LOC']]), 'IOE1');
  assert.equal(detectScheme([['B-PER', 'E-PER', 'S-LOC']]), 'IOBES');
  assert.equal(detectScheme([['B-PER', 'L-PER', 'U-LOC']]), 'BILOU');
  // Converted random data is recognised (IOB1/IOE1 need evidence: an entity after O).
  const r = rng(5);
  for (const s of TAG_SCHEMES) {
    const sents = Array.from({ length: 50 }, () => spansToTags(randomSpans(r, 8, ['A', 'B']), 8, s));
    assert.equal(detectScheme(sents), s);
  }
  assert.throws(() => detectScheme([['X-PER']]));
});

test('allowedTransitions: sound and complete w.r.t. well-formed sequences', () => {
  const types = ['A', 'B'];
  for (const s of TAG_SCHEMES) {
    const prefixes = { IOB1: 'BI', IOB2: 'BI', IOE1: 'IE', IOE2: 'IE', IOBES: 'BIES', BILOU: 'BILU' }[s];
    const labels = ['O', ...types.flatMap((t) => [...prefixes].map((p) => `${p}-${t}`))];
    const K = labels.length;
    const tab = allowedTransitions(labels, s);
    const seenStart = new Uint8Array(K);
    const seenEnd = new Uint8Array(K);
    const seenTrans = new Uint8Array(K * K);
    const r = rng(11);
    for (let trial = 0; trial < 3000; trial++) {
      const n = 1 + r.int(7);
      const tags = spansToTags(randomSpans(r, n, types), n, s).map((t) => labels.indexOf(t));
      // soundness: every generated (well-formed) sequence is allowed
      assert.equal(tab.start[tags[0]!], 1, `${s} start ${labels[tags[0]!]}`);
      assert.equal(tab.end[tags[n - 1]!], 1, `${s} end ${labels[tags[n - 1]!]}`);
      seenStart[tags[0]!] = 1;
      seenEnd[tags[n - 1]!] = 1;
      for (let t = 1; t < n; t++) {
        assert.equal(tab.transitions[tags[t - 1]! * K + tags[t]!], 1, `${s} ${labels[tags[t - 1]!]} → ${labels[tags[t]!]}`);
        seenTrans[tags[t - 1]! * K + tags[t]!] = 1;
      }
    }
    // completeness: every allowed move occurs in some well-formed sequence
    assert.deepEqual(seenStart, tab.start, `${s} start`);
    assert.deepEqual(seenEnd, tab.end, `${s} end`);
    assert.deepEqual(seenTrans, tab.transitions, `${s} transitions`);
  }
  assert.throws(() => allowedTransitions(['O', 'S-A'], 'IOB2'), /not valid in scheme IOB2/);
  // IOB2 spot checks
  const t = allowedTransitions(['O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC'], 'IOB2');
  const K = 5;
  assert.deepEqual([...t.start], [1, 1, 0, 1, 0]);
  assert.equal(t.transitions[0 * K + 2], 0); // O → I-PER
  assert.equal(t.transitions[1 * K + 2], 1); // B-PER → I-PER
  assert.equal(t.transitions[1 * K + 4], 0); // B-PER → I-LOC
});
