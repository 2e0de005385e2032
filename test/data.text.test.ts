// Tokenizers, vocabularies, batching and splits (src/data, browser-safe part).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  WordTokenizer, CharTokenizer, tokenize, chars, stripHtml, tokenizerFromJSON, NUM_TOKEN,
  Vocab, CharVocab, PAD_ID, UNK_ID, UNK_CHAR,
  collate, planBatches, batches, paddingFraction, splitStratified, type Batch,
} from '../src/data/index.js';
import { rng } from '../src/tensor/rng.js';

// ---------------------------------------------------------------------------------------------
// Tokenizer

test('tokenize: HTML line breaks and tags become spaces, non-HTML angle words stay', () => {
  assert.deepEqual(tokenize('Great film.<br /><br />Loved it<br>too<BR/>!'), ['great', 'film', '.', 'loved', 'it', 'too', '!']);
  assert.deepEqual(tokenize('<i>Bold</i> move <grin>'), ['bold', 'move', '<', 'grin', '>']);
  assert.deepEqual(tokenize('Tom &amp; Jerry &#8230; &quot;hi&quot;'), ['tom', '&', 'jerry', '…', '"', 'hi', '"']);
  // html: false keeps the markup as punctuation and words
  assert.deepEqual(tokenize('a<br />b', { html: false }), ['a', '<', 'br', '/', '>', 'b']);
  assert.equal(stripHtml('x<br/>y'), 'x y');
});

test('tokenize: contractions split Penn-Treebank style, the same as pre-tokenized SST-2 text', () => {
  assert.deepEqual(tokenize("I don't think it's bad, can't you see? We'll go."),
    ['i', 'do', "n't", 'think', 'it', "'s", 'bad', ',', 'ca', "n't", 'you', 'see', '?', 'we', "'ll", 'go', '.']);
  assert.deepEqual(tokenize("it 's a charming journey . you do n't"), ['it', "'s", 'a', 'charming', 'journey', '.', 'you', 'do', "n't"]);
  // typographic apostrophe folded; inner apostrophes kept in words
  assert.deepEqual(tokenize('O’Neil’s won’t rock\'n\'roll'), ["o'neil", "'s", 'wo', "n't", "rock'n'roll"]);
  // quotes are punctuation, not clitics
  assert.deepEqual(tokenize("'dead' 'm'"), ["'", 'dead', "'", "'m", "'"]);
  assert.deepEqual(tokenize("don't it's", { splitContractions: false }), ["don't", "it's"]);
});

test('tokenize: punctuation runs, hyphens, numbers', () => {
  assert.deepEqual(tokenize('Wait... what?!!!!! Yes.'), ['wait', '...', 'what', '?', '!!!', 'yes', '.']);
  assert.deepEqual(tokenize('an ex-wife'), ['an', 'ex', '-', 'wife']);
  assert.deepEqual(tokenize('an ex-wife', { keepHyphenated: true }), ['an', 'ex-wife']);
  assert.deepEqual(tokenize('3.5 stars, 1,000 fans at 10:30 in the 1990s'),
    ['3.5', 'stars', ',', '1,000', 'fans', 'at', '10:30', 'in', 'the', '1990s']);
  assert.deepEqual(tokenize('3.5 stars in 1995, 80s', { numbers: 'token' }), [NUM_TOKEN, 'stars', 'in', NUM_TOKEN, ',', '80s']);
  assert.deepEqual(tokenize('3.5 stars in 1995, 80s', { numbers: 'digits' }), ['0.0', 'stars', 'in', '0000', ',', '00s']);
  assert.deepEqual(tokenize('Hello, world!', { keepPunctuation: false }), ['hello', 'world']);
});

test('tokenize: Unicode letters, marks, emoji, case, empty input', () => {
  assert.deepEqual(tokenize('Café ÉTÉ naïve Straße Ελλάδα 東京'), ['café', 'été', 'naïve', 'straße', 'ελλάδα', '東京']);
  // decomposed e + combining acute is normalised to the same token as the precomposed one (NFC)
  assert.deepEqual(tokenize('Cafe\u0301'), ['café']);
  assert.deepEqual(tokenize('ﬁne', { unicode: 'NFKC' }), ['fine']);
  assert.deepEqual(tokenize('nice 😀 👍👍'), ['nice', '😀', '👍👍']);
  assert.deepEqual(tokenize('MiXeD', { lowercase: false }), ['MiXeD']);
  assert.deepEqual(tokenize(''), []);
  assert.deepEqual(tokenize('   \n\t '), []);
});

test('tokenizer JSON round trip reproduces the options and the tokens', () => {
  const t = new WordTokenizer({ lowercase: false, numbers: 'token', keepHyphenated: true });
  const json = JSON.parse(JSON.stringify(t));
  assert.deepEqual(json, {
    kind: 'word', version: 1, lowercase: false, html: true, splitContractions: true,
    keepHyphenated: true, keepPunctuation: true, numbers: 'token', unicode: 'NFC',
  });
  const back = tokenizerFromJSON(JSON.stringify(json));
  const s = "The ex-wife's 2 cats<br />don't care!";
  assert.deepEqual(back.tokenize(s), t.tokenize(s));
  assert.deepEqual(back.tokenize(s), ['The', "ex-wife", "'s", NUM_TOKEN, 'cats', 'do', "n't", 'care', '!']);
  const c = tokenizerFromJSON(new CharTokenizer({ lowercase: true }).toJSON());
  assert.deepEqual(c.tokenize('Hé😀'), ['h', 'é', '😀']);
});

test('tokenizerFromJSON rejects malformed options with the key named', () => {
  assert.throws(() => tokenizerFromJSON('{"kind":"word"'), /tokenizerFromJSON: not valid JSON/);
  assert.throws(() => tokenizerFromJSON({ kind: 'word', version: 2 }), /unsupported version 2/);
  assert.throws(() => tokenizerFromJSON({ kind: 'bpe', version: 1 }), /"kind" must be "word" or "char"/);
  assert.throws(() => tokenizerFromJSON({ kind: 'word', version: 1, lowercas: true }), /unknown option "lowercas"/);
  assert.throws(() => tokenizerFromJSON({ kind: 'word', version: 1, numbers: 'round' }), /"numbers" must be/);
  assert.throws(() => tokenizerFromJSON({ kind: 'word', version: 1, html: 'yes' }), /"html" must be true or false/);
});

test('chars splits into code points, not UTF-16 units', () => {
  assert.deepEqual(chars('a😀b'), ['a', '😀', 'b']);
  assert.equal('a😀b'.length, 4);
  assert.deepEqual(chars(''), []);
});

// ---------------------------------------------------------------------------------------------
// Vocab

test('Vocab.build: reserved ids, frequency order, code-unit tie-break, minFreq, maxSize', () => {
  const docs = [['b', 'a', 'c', 'a'], ['c', 'd', 'a', 'b'], ['e']];
  const v = Vocab.build(docs);
  // a×3, then b×2 and c×2 tied (b < c), then d×1, e×1
  assert.deepEqual(v.tokens, ['<pad>', '<unk>', 'a', 'b', 'c', 'd', 'e']);
  assert.equal(PAD_ID, 0);
  assert.equal(UNK_ID, 1);
  // the order of the input does not matter
  assert.deepEqual(Vocab.build([...docs].reverse().map((d) => [...d].reverse())).tokens, v.tokens);
  assert.deepEqual(Vocab.build(docs, { minFreq: 2 }).tokens, ['<pad>', '<unk>', 'a', 'b', 'c']);
  assert.deepEqual(Vocab.build(docs, { maxSize: 4 }).tokens, ['<pad>', '<unk>', 'a', 'b']);
  // literal reserved tokens in the data do not get a second id
  assert.deepEqual(Vocab.build([['<unk>', '<pad>', 'x']]).tokens, ['<pad>', '<unk>', 'x']);
  assert.throws(() => Vocab.build(docs, { maxSize: 1 }), /maxSize must be an integer ≥ 2/);
});

test('Vocab encode/decode: OOV → <unk>, pad skipping', () => {
  const v = Vocab.build([['the', 'film', 'the']]);
  const ids = v.encode(['the', 'movie', 'film']);
  assert.ok(ids instanceof Int32Array);
  assert.deepEqual([...ids], [2, UNK_ID, 3]);
  assert.deepEqual(v.decode(ids), ['the', '<unk>', 'film']);
  assert.deepEqual(v.decode([2, 3, 0, 0], { skipPad: true }), ['the', 'film']);
  assert.equal(v.id('nope'), UNK_ID);
  assert.throws(() => v.decode([99]), /id 99 is outside \[0, 4\)/);
});

test('Vocab JSON round trip and validation', () => {
  const v = Vocab.build([tokenize("It's a film, a film I don't like.")]);
  const back = Vocab.fromJSON(JSON.stringify(v));
  assert.deepEqual(back.tokens, v.tokens);
  assert.deepEqual([...back.encode(['film', 'zzz'])], [...v.encode(['film', 'zzz'])]);
  assert.throws(() => Vocab.fromJSON('{"kind":'), /Vocab.fromJSON: not valid JSON/);
  assert.throws(() => Vocab.fromJSON('[1,2]'), /expected a JSON object, got an array/);
  assert.throws(() => Vocab.fromJSON({ kind: 'vocab', version: 1 }), /"tokens" must be an array/);
  assert.throws(() => Vocab.fromJSON({ kind: 'vocab', version: 1, tokens: ['<unk>', '<pad>'] }), /must start with "<pad>", "<unk>"/);
  assert.throws(() => Vocab.fromJSON({ kind: 'vocab', version: 1, tokens: ['<pad>', '<unk>', 'a', 'a'] }), /"a" appears twice/);
  assert.throws(() => Vocab.fromJSON({ kind: 'vocab', version: 1, tokens: ['<pad>', '<unk>', 7] }), /token 2 is not a string/);
  assert.throws(() => Vocab.fromJSON({ kind: 'char-vocab', version: 1, tokens: [] }), /"kind" must be "vocab"/);
});

test('CharVocab: sorted code points, unknown characters listed, unk and skip policies, JSON', () => {
  const v = CharVocab.build('hello 😀 world');
  assert.deepEqual(v.chars, [' ', 'd', 'e', 'h', 'l', 'o', 'r', 'w', '😀']);
  const ids = v.encode('held 😀');
  assert.deepEqual([...ids], [3, 2, 4, 1, 0, 8]);
  assert.equal(v.decode(ids), 'held 😀');
  assert.ok(v.has('😀') && !v.has('x') && !v.has('he'));
  assert.throws(() => v.encode('hex 🙂🙂'), (e: Error) =>
    /2 character\(s\) not in the vocabulary/.test(e.message) && e.message.includes('"x" U+0078 ×1') && e.message.includes('"🙂" U+1F642 ×2'));
  assert.deepEqual([...v.encode('hex', { unknown: 'skip' })], [3, 2]);
  assert.throws(() => v.encode('x', { unknown: 'unk' }), /needs a vocabulary built with an unknown character/);
  const u = CharVocab.build(['ab', 'ba'], { unk: UNK_CHAR });
  assert.deepEqual(u.chars, [UNK_CHAR, 'a', 'b']);
  assert.deepEqual([...u.encode('axb', { unknown: 'unk' })], [1, 0, 2]);
  const back = CharVocab.fromJSON(JSON.stringify(u));
  assert.deepEqual(back.chars, u.chars);
  assert.equal(back.unkId, 0);
  assert.throws(() => CharVocab.fromJSON({ kind: 'char-vocab', version: 1, chars: ['a', 'bc'], unkId: null }), /entry 1 must be a single character/);
  assert.throws(() => CharVocab.fromJSON({ kind: 'char-vocab', version: 1, chars: ['a', 'a'], unkId: null }), /appears twice/);
  assert.throws(() => CharVocab.fromJSON({ kind: 'char-vocab', version: 1, chars: ['a'], unkId: 3 }), /unkId 3 is outside/);
});

// ---------------------------------------------------------------------------------------------
// Batching

const seq = (...v: number[]): Int32Array => Int32Array.from(v);

test('collate: right padding, lengths, labels, truncation keeps the end by default', () => {
  const seqs = [seq(5, 6, 7), seq(8), seq(9, 10, 11, 12, 13)];
  const b = collate(seqs, [1, 0, 1], [0, 1, 2]);
  assert.equal(b.T, 5);
  assert.equal(b.B, 3);
  assert.deepEqual([...b.ids], [5, 6, 7, 0, 0, /**/ 8, 0, 0, 0, 0, /**/ 9, 10, 11, 12, 13]);
  assert.deepEqual([...b.lengths], [3, 1, 5]);
  assert.deepEqual([...b.labels!], [1, 0, 1]);
  const end = collate(seqs, null, [2, 0], { maxLen: 2 });
  assert.deepEqual([...end.ids], [12, 13, 6, 7]);
  assert.deepEqual([...end.lengths], [2, 2]);
  assert.equal(end.labels, null);
  const start = collate(seqs, null, [2, 1], { maxLen: 2, keep: 'start', padId: -1 });
  assert.deepEqual([...start.ids], [9, 10, 8, -1]);
  assert.throws(() => collate(seqs, [0.5, 0, 1], [0]), /label of example 0 must be an integer/);
  assert.throws(() => collate(seqs, null, [3]), /example index 3 is outside/);
});

/** N random-length sequences whose first token is their index (so rows can be traced). */
function randomSeqs(N: number, seed: number): Int32Array[] {
  const r = rng(seed);
  return Array.from({ length: N }, (_, i) => {
    const s = new Int32Array(1 + Math.floor(r.next() ** 2 * 300)).fill(7);
    s[0] = i + 2;
    return s;
  });
}

test('batches: every example exactly once per epoch, labels follow their rows', () => {
  const seqs = randomSeqs(203, 1);
  const labels = seqs.map((_, i) => i % 3);
  for (const bucket of [0, 5]) {
    const seen = new Int32Array(seqs.length);
    let n = 0;
    for (const b of batches(seqs, labels, { batchSize: 16, seed: 3, bucket })) {
      n++;
      assert.ok(b.B <= 16);
      for (let r = 0; r < b.B; r++) {
        const i = b.index[r]!;
        seen[i]!++;
        assert.equal(b.ids[r * b.T], i + 2, 'row starts with its own example');
        assert.equal(b.lengths[r], seqs[i]!.length);
        assert.equal(b.labels![r], labels[i]);
        for (let t = b.lengths[r]!; t < b.T; t++) assert.equal(b.ids[r * b.T + t], PAD_ID);
      }
    }
    assert.equal(n, Math.ceil(203 / 16));
    assert.ok(seen.every((k) => k === 1), `bucket=${bucket}: each example once`);
  }
  const dropped = [...batches(seqs, labels, { batchSize: 16, seed: 3, dropLast: true })];
  assert.equal(dropped.length, 12);
  assert.ok(dropped.every((b) => b.B === 16));
});

test('batches: bucketing by length reduces padding versus random batches', () => {
  const seqs = randomSeqs(2000, 2);
  const random = paddingFraction(batches(seqs, null, { batchSize: 32, seed: 5, bucket: 0 }));
  const bucketed = paddingFraction(batches(seqs, null, { batchSize: 32, seed: 5, bucket: 50 }));
  assert.ok(random > 0.4, `random batching pads a lot (${random.toFixed(3)})`);
  assert.ok(bucketed < 0.05, `bucketed batching pads little (${bucketed.toFixed(3)})`);
  // bucketing must not sort the whole epoch: the batch order is shuffled
  const T = [...batches(seqs, null, { batchSize: 32, seed: 5 })].map((b) => b.T);
  const sorted = [...T].sort((a, b) => a - b);
  assert.notDeepEqual(T, sorted);
});

test('batches: same seed → same batches; a shared rng gives a new order each epoch', () => {
  const seqs = randomSeqs(100, 3);
  const plan = (o: object) => planBatches(seqs.map((s) => s.length), { batchSize: 8, ...o }).map((b) => [...b]);
  assert.deepEqual(plan({ seed: 9 }), plan({ seed: 9 }));
  assert.notDeepEqual(plan({ seed: 9 }), plan({ seed: 10 }));
  const r = rng(9);
  const e1 = plan({ rng: r });
  const e2 = plan({ rng: r });
  assert.deepEqual(e1, plan({ seed: 9 }));
  assert.notDeepEqual(e1, e2);
  // shuffle: false, bucket: 0 is the identity order
  assert.deepEqual(plan({ shuffle: false, bucket: 0 }).flat(), Array.from({ length: 100 }, (_, i) => i));
  // maxLen: bucketing sorts by the truncated length
  const b: Batch[] = [...batches(seqs, null, { batchSize: 8, seed: 1, maxLen: 20 })];
  assert.ok(b.every((x) => x.T <= 20));
  assert.throws(() => plan({ batchSize: 0 }), /batchSize must be an integer ≥ 1/);
  assert.throws(() => plan({ keep: 'middle' }), /keep must be 'start' or 'end'/);
});

test('splitStratified: per-class fractions, disjoint and complete, seeded', () => {
  const labels = [...Array(100).fill(0), ...Array(50).fill(1), ...Array(10).fill(2)];
  const { train, valid } = splitStratified(labels, 0.2, 42);
  assert.equal(valid.length, 20 + 10 + 2);
  assert.equal(train.length + valid.length, labels.length);
  const all = new Set([...train, ...valid]);
  assert.equal(all.size, labels.length);
  const count = (idx: Int32Array, y: number) => [...idx].filter((i) => labels[i] === y).length;
  assert.deepEqual([0, 1, 2].map((y) => count(valid, y)), [20, 10, 2]);
  assert.deepEqual([...valid], [...[...valid].sort((a, b) => a - b)]);
  const again = splitStratified(labels, 0.2, 42);
  assert.deepEqual([...again.valid], [...valid]);
  assert.notDeepEqual([...splitStratified(labels, 0.2, 43).valid], [...valid]);
  assert.throws(() => splitStratified(labels, 1.5, 1), /fraction must be in \[0, 1\]/);
});

test('rng is xoshiro128** seeded through splitmix32: its first outputs and its state after 100,005 draws, as an independent implementation gives them; getState/setState resume the stream', () => {
  // Values from a separate Python implementation of the same generator (xoshiro128** with the
  // four state words from x += 0x9e3779b9 and murmur3's finalizer), not from this code.
  const want: Record<number, number[]> = {
    0: [3809008728, 1133695204, 53579671, 2891528803, 139681546, 3118586762, 1800800450, 388854181, 2391847699],
    1: [2442144158, 3238099751, 3819917871, 2104621829, 2021136066, 2646399848, 1119154649, 2588851705, 278538395],
    0xdeadbeef: [2306529437, 2576298207, 1250671110, 2699168992, 2319502352, 2269330860, 2680214436, 2327375921, 3474038512],
  };
  for (const [seed, w] of Object.entries(want)) {
    const r = rng(Number(seed));
    const got = Array.from({ length: 5 }, () => r.next() * 4294967296);
    for (let i = 0; i < 100_000; i++) r.next();
    assert.deepEqual([...got, ...r.getState()], w, `seed ${seed}`);
    const copy = rng(7);
    copy.setState(r.getState());
    assert.deepEqual(Array.from({ length: 3 }, () => copy.next()), Array.from({ length: 3 }, () => r.next()), `seed ${seed}: resumed`);
  }
});

test('rng.dropoutMask draws what a loop of next() draws: the same factors, the generator left in the same state (the Python states above after 100,005 draws)', () => {
  const want: Record<number, number[]> = {
    0: [3118586762, 1800800450, 388854181, 2391847699],
    1: [2646399848, 1119154649, 2588851705, 278538395],
    0xdeadbeef: [2269330860, 2680214436, 2327375921, 3474038512],
  };
  for (const [seed, w] of Object.entries(want)) {
    for (const [keep, Arr] of [[0.5, Float32Array], [0.8, Float64Array], [1 / 3, Float32Array]] as const) {
      const a = rng(Number(seed)), b = rng(Number(seed));
      const mask = b.dropoutMask(new Arr(100_005), keep, 1 / keep);
      const loop = Array.from({ length: 100_005 }, () => (a.next() < keep ? 1 / keep : 0));
      assert.deepEqual([...mask], [...new Arr(loop)], `seed ${seed}, keep ${keep}`);
      assert.deepEqual(b.getState(), w, `seed ${seed}: state after the mask`);
      assert.equal(b.next(), a.next());
      const kept = Array.from(mask).filter((v) => v !== 0).length / mask.length;
      assert.ok(Math.abs(kept - keep) < 0.01, `kept ${kept}, keep ${keep}`);
    }
  }
});
