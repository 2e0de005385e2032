// Dataset readers and the IMDB archive loader (src/data/node). No network: the archive tests
// use file: URLs, an injected fetcher and a local HTTP server.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync, rmSync, existsSync, readdirSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import {
  readDataset, readJsonl, readTable, readClassFiles, readAclImdb, subsetDataset, findInvalidUtf8,
  loadImdbArchive, packTar, readTarGz, splitStratified, tokenize,
} from '../src/data/node/index.js';

const tmp = mkdtempSync(join(tmpdir(), 'rnnkit-data-'));
after(() => rmSync(tmp, { recursive: true, force: true }));

/** Writes a file under the temp dir and returns its path. */
function put(rel: string, content: string | Uint8Array): string {
  const p = join(tmp, rel);
  mkdirSync(join(p, '..'), { recursive: true });
  writeFileSync(p, content);
  return p;
}

/** Asserts fn throws an Error whose message contains every part. */
function throwsWith(fn: () => unknown, ...parts: string[]): void {
  assert.throws(fn, (e: Error) => {
    for (const p of parts) assert.ok(e.message.includes(p), `expected ${JSON.stringify(p)} in: ${e.message}`);
    return true;
  });
}

// ---------------------------------------------------------------------------------------------
// JSON Lines

test('readJsonl: plain and gzipped (by magic bytes), custom fields, blank lines', () => {
  const lines = ['{"id":0,"label":0,"text":"Bad.<br />Very bad."}', '', '{"id":1,"label":1,"text":"Good \\u2028 film é"}'];
  const plain = put('j/a.jsonl', lines.join('\n') + '\n');
  const ds = readJsonl(plain);
  assert.deepEqual(ds, { texts: ['Bad.<br />Very bad.', 'Good \u2028 film é'], labels: [0, 1], labelNames: ['0', '1'] });
  // gzip detected from content, not from the name
  const gz = put('j/b.jsonl', gzipSync(Buffer.from(lines.join('\n'))));
  assert.deepEqual(readJsonl(gz), ds);
  const custom = put('j/c.jsonl.gz', gzipSync(Buffer.from('{"review":"x","sentiment":"pos"}\r\n{"review":"y","sentiment":"neg"}\r\n')));
  assert.deepEqual(readJsonl(custom, { textField: 'review', labelField: 'sentiment' }),
    { texts: ['x', 'y'], labels: [1, 0], labelNames: ['neg', 'pos'] });
  assert.deepEqual(readJsonl(custom, { textField: 'review', labelField: 'sentiment', labelNames: ['pos', 'neg'] }).labels, [0, 1]);
  assert.equal(readJsonl(plain, { limit: 1 }).texts.length, 1);
});

test('readJsonl errors name the file and line', () => {
  const bad = put('j/bad.jsonl', '{"text":"a","label":0}\n\n{"text":"b","label":1\n');
  throwsWith(() => readJsonl(bad), 'bad.jsonl:3:', 'invalid JSON');
  const missing = put('j/missing.jsonl', '{"text":"a","label":0}\n{"txt":"b","label":1}\n');
  throwsWith(() => readJsonl(missing), 'missing.jsonl:2:', 'missing field "text"', '"txt"');
  const unknown = put('j/unknown.jsonl', '{"text":"a","label":"pos"}\n{"text":"b","label":"meh"}\n');
  throwsWith(() => readJsonl(unknown, { labelNames: ['neg', 'pos'] }), 'unknown.jsonl:2:', 'unknown label "meh"', 'field "label"');
  const badLabel = put('j/badlabel.jsonl', '{"text":"a","label":null}\n');
  throwsWith(() => readJsonl(badLabel), 'badlabel.jsonl:1:', 'must be a string or a number');
  const utf = put('j/utf.jsonl', Buffer.concat([Buffer.from('{"text":"ok","label":0}\n{"text":"caf'), Buffer.from([0xe9]), Buffer.from('","label":1}\n')]));
  throwsWith(() => readJsonl(utf), 'utf.jsonl:2:13', 'invalid UTF-8', "encoding: 'windows-1252'");
  throwsWith(() => readJsonl(put('j/empty.jsonl', '\n\n')), 'empty.jsonl', 'empty file');
  throwsWith(() => readJsonl(put('j/gz.jsonl.gz', Buffer.from([0x1f, 0x8b, 1, 2, 3]))), 'gz.jsonl.gz', 'does not decompress');
});

test('findInvalidUtf8 agrees with the fatal TextDecoder', () => {
  const cases: [number[], number][] = [
    [[0x61, 0xc3, 0xa9], -1], [[0xc0, 0x80], 0], [[0x61, 0xe0, 0x80, 0x80], 1], [[0xed, 0xa0, 0x80], 0],
    [[0xf4, 0x90, 0x80, 0x80], 0], [[0xf0, 0x9f, 0x98, 0x80], -1], [[0x61, 0x62, 0xe2, 0x82], 2], [[0x80], 0],
  ];
  const dec = new TextDecoder('utf-8', { fatal: true });
  for (const [bytes, at] of cases) {
    const b = Uint8Array.from(bytes);
    assert.equal(findInvalidUtf8(b), at, JSON.stringify(bytes));
    let ok = true;
    try { dec.decode(b); } catch { ok = false; }
    assert.equal(ok, at === -1, JSON.stringify(bytes));
  }
});

// ---------------------------------------------------------------------------------------------
// CSV / TSV

test('readTable CSV: RFC 4180 quotes, doubled quotes, newlines in fields, CRLF, named columns', () => {
  const csv = 'id,review,label\r\n1,"Great, really ""great""",pos\r\n2,"two\nlines",neg\r\n\r\n3,plain,pos\r\n';
  const f = put('t/a.csv', csv);
  const ds = readTable(f);
  assert.deepEqual(ds.texts, ['Great, really "great"', 'two\nlines', 'plain']);
  assert.deepEqual(ds.labels, [1, 0, 1]);
  assert.deepEqual(ds.labelNames, ['neg', 'pos']);
  // numbered columns without a header
  const nh = put('t/b.csv', '0,"a, b"\n1,c\n');
  assert.deepEqual(readTable(nh, { header: false, textField: 1, labelField: 0 }), { texts: ['a, b', 'c'], labels: [0, 1], labelNames: ['0', '1'] });
});

test('readTable TSV: GLUE style (no quoting), default text column "sentence"', () => {
  const f = put('t/sst.tsv', 'sentence\tlabel\nit \'s a " conan " film . \t1\nbleak \t0\n');
  const ds = readTable(f);
  assert.deepEqual(ds.texts, ['it \'s a " conan " film . ', 'bleak ']);
  assert.deepEqual(ds.labels, [1, 0]);
});

test('readTable errors name the file, line and column', () => {
  const short = put('t/short.tsv', 'sentence\tlabel\ngood\t1\nno label here\n');
  throwsWith(() => readTable(short), 'short.tsv:3:', 'missing column "label"', 'the row has 1 field(s)');
  const extra = put('t/extra.tsv', 'sentence\tlabel\ngood\t1\nstray\ttab\t0\n');
  throwsWith(() => readTable(extra), 'extra.tsv:3:', 'row has 3 fields but the header has 2');
  const unterminated = put('t/open.csv', 'text,label\n"fine",1\n"never closed,0\nmore,1\n');
  throwsWith(() => readTable(unterminated), 'open.csv:3:', 'unterminated quoted field');
  // line numbers count the newlines inside quoted fields
  const after = put('t/after.csv', 'text,label\n"multi\nline",1\nbad"quote,0\n');
  throwsWith(() => readTable(after), 'after.csv:4:', 'quote inside an unquoted field');
  throwsWith(() => readTable(put('t/nocol.csv', 'body,y\nx,1\n')), 'nocol.csv:1:', 'no text column "text"', '"body", "y"');
  throwsWith(() => readTable(put('t/lab.csv', 'text,label\nx,pos\ny,meh\n'), { labelNames: ['neg', 'pos'] }), 'lab.csv:3:', 'unknown label "meh"', 'column "label"');
  throwsWith(() => readTable(put('t/empty.tsv', '')), 'empty.tsv', 'empty file');
  throwsWith(() => readTable(put('t/hdr.tsv', 'sentence\tlabel\n')), 'hdr.tsv', 'no data rows after the header');
});

// ---------------------------------------------------------------------------------------------
// One file per class

test('readClassFiles: label from the file, UTF-8 and Windows-1252', () => {
  const pos = put('c/rt.pos', 'a charming film \n\nwonderful \n');
  const neg = put('c/rt.neg', 'dull \n');
  const ds = readClassFiles([pos, neg]);
  assert.deepEqual(ds, { texts: ['a charming film ', 'wonderful ', 'dull '], labels: [1, 1, 0], labelNames: ['neg', 'pos'] });
  assert.deepEqual(readClassFiles({ good: pos, bad: neg }).labelNames, ['bad', 'good']);
  // cp1252: 0xE9 = é, 0x93/0x94 = curly double quotes, 0x85 = …
  const latin = put('c/latin.pos', Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x20, 0x93, 0x6f, 0x6b, 0x94, 0x85, 0x0a]));
  const latinNeg = put('c/latin.neg', 'ok\n');
  throwsWith(() => readClassFiles([latin, latinNeg]), 'latin.pos:1:4', 'invalid UTF-8 (byte 0xe9)', "encoding: 'windows-1252'");
  assert.equal(readClassFiles([latin, latinNeg], { encoding: 'windows-1252' }).texts[0], 'café \u201cok\u201d\u2026');
  assert.equal(readClassFiles([latin, latinNeg], { encoding: 'latin1' }).texts[0], 'café \u0093ok\u0094\u0085');
  throwsWith(() => readClassFiles([put('c/e.pos', '\n'), neg]), 'e.pos', 'empty file');
});

// ---------------------------------------------------------------------------------------------
// aclImdb tree and dispatch

test('readAclImdb: labels from folders, ratings and ids from file names, numeric id order', () => {
  put('acl/aclImdb/train/pos/10_7.txt', 'Ten.');
  put('acl/aclImdb/train/pos/2_9.txt', 'Two.<br />Great.');
  put('acl/aclImdb/train/neg/0_1.txt', 'Zero.');
  put('acl/aclImdb/train/urls_pos.txt', 'ignored');
  put('acl/aclImdb/test/pos/0_8.txt', 'Test pos.');
  put('acl/aclImdb/test/neg/0_3.txt', 'Test neg.');
  const root = join(tmp, 'acl/aclImdb');
  const ds = readAclImdb(root);
  assert.deepEqual(ds, { texts: ['Zero.', 'Two.<br />Great.', 'Ten.'], labels: [0, 1, 1], labelNames: ['neg', 'pos'], ratings: [1, 9, 7], ids: [0, 2, 10] });
  assert.deepEqual(readAclImdb(root, { split: 'test' }).texts, ['Test neg.', 'Test pos.']);
  assert.deepEqual(readDataset(join(root, 'train')).texts, ds.texts, 'a split folder works too');
  throwsWith(() => readAclImdb(root, { split: 'dev' }), 'no "dev" folder', 'found test, train');
  put('acl/bad/train/pos/review.txt', 'x');
  put('acl/bad/train/neg/0_1.txt', 'x');
  throwsWith(() => readAclImdb(join(tmp, 'acl/bad')), 'review.txt', '{id}_{rating}.txt');
});

test('readDataset picks the reader from the path', () => {
  assert.deepEqual(readDataset(join(tmp, 'acl/aclImdb')).ids, [0, 2, 10]);
  assert.deepEqual(readDataset(join(tmp, 'j/a.jsonl')).labels, [0, 1]);
  assert.deepEqual(readDataset(join(tmp, 't/sst.tsv')).labels, [1, 0]);
  assert.deepEqual(readDataset(join(tmp, 't/a.csv')).labels, [1, 0, 1]);
  assert.deepEqual(readDataset(`${join(tmp, 'c/rt.pos')},${join(tmp, 'c/rt.neg')}`).labels, [1, 1, 0]);
  put('cls/rt-polarity.pos', 'good\n');
  put('cls/rt-polarity.neg', 'bad\n');
  put('cls/README.md', 'ignored\n');
  assert.deepEqual(readDataset(join(tmp, 'cls')), { texts: ['bad', 'good'], labels: [0, 1], labelNames: ['neg', 'pos'] });
  throwsWith(() => readDataset(join(tmp, 'nope.jsonl')), 'nope.jsonl', 'no such file');
  throwsWith(() => readDataset(`${join(tmp, 'c/rt.pos')},${join(tmp, 'c/missing.neg')}`), 'missing.neg');
  throwsWith(() => readDataset(put('x/data.parquet', 'x')), 'data.parquet', 'cannot tell the format');
});

test('subsetDataset with splitStratified keeps rows aligned', () => {
  const ds = readAclImdb(join(tmp, 'acl/aclImdb'));
  const { train, valid } = splitStratified(ds.labels, 0.5, 1);
  const v = subsetDataset(ds, valid);
  const t = subsetDataset(ds, train);
  assert.equal(v.texts.length + t.texts.length, 3);
  for (const part of [v, t]) {
    part.texts.forEach((x, i) => assert.equal(ds.texts.indexOf(x) >= 0 && ds.labels[ds.texts.indexOf(x)], part.labels[i]));
  }
});

// ---------------------------------------------------------------------------------------------
// IMDB archive

const longId = '0'.repeat(95) + '12'; // a member name over 100 bytes: Number(longId) = 12

function fakeArchive(longNames: 'gnu' | 'pax'): Buffer {
  return gzipSync(packTar([
    { name: 'aclImdb' },
    { name: 'aclImdb/README', data: 'readme' },
    { name: 'aclImdb/train' },
    { name: 'aclImdb/train/pos/3_10.txt', data: 'Loved it. Ünïcödé 😀' },
    { name: 'aclImdb/train/neg/0_2.txt', data: 'Hated it.<br />Really.' },
    { name: `aclImdb/train/pos/${longId}_8.txt`, data: 'x'.repeat(1000) },
    { name: 'aclImdb/train/unsup/0_0.txt', data: 'unlabelled' },
    { name: 'aclImdb/train/labeledBow.feat', data: '0 1:2\n'.repeat(300) },
    { name: 'aclImdb/test/neg/5_1.txt', data: 'Test review.' },
    { name: './aclImdb/test/pos/6_9.txt', data: 'Dot-slash name.' },
  ], { longNames }));
}

test('packTar/readTarGz: GNU and pax long names, skipped members', async () => {
  for (const mode of ['gnu', 'pax'] as const) {
    const f = put(`tar/${mode}.tar.gz`, fakeArchive(mode));
    const names: string[] = [];
    for await (const e of readTarGz(f, (n) => n.endsWith('.txt'))) names.push(`${e.name}=${e.data.length}`);
    assert.deepEqual(names, [
      'aclImdb/train/pos/3_10.txt=26', 'aclImdb/train/neg/0_2.txt=22', `aclImdb/train/pos/${longId}_8.txt=1000`,
      'aclImdb/train/unsup/0_0.txt=10', 'aclImdb/test/neg/5_1.txt=12', './aclImdb/test/pos/6_9.txt=15',
    ], mode);
  }
});

test('loadImdbArchive: file: URL into a cache, then the cache is used', async () => {
  const src = put('src/aclImdb_v1.tar.gz', fakeArchive('gnu'));
  const cacheDir = join(tmp, 'cache1');
  const ds = await loadImdbArchive({ url: pathToFileURL(src).href, cacheDir });
  assert.deepEqual(ds, {
    texts: ['Hated it.<br />Really.', 'Loved it. Ünïcödé 😀', 'x'.repeat(1000)],
    labels: [0, 1, 1], labelNames: ['neg', 'pos'], ratings: [2, 10, 8], ids: [0, 3, 12],
  });
  assert.deepEqual(readdirSync(cacheDir), ['aclImdb_v1.tar.gz'], 'no temporary file left');
  // the source is gone, so a second load must come from the cache
  rmSync(src);
  const test = await loadImdbArchive({ url: pathToFileURL(src).href, cacheDir, split: 'test' });
  assert.deepEqual(test.texts, ['Test review.', 'Dot-slash name.']);
  assert.deepEqual(tokenize(ds.texts[0]!), ['hated', 'it', '.', 'really', '.']);
});

test('loadImdbArchive: injected fetcher; a failed download leaves no file behind', async () => {
  const cacheDir = join(tmp, 'cache2');
  const calls: string[] = [];
  const url = 'https://example.invalid/data/aclImdb_v1.tar.gz';
  await assert.rejects(
    loadImdbArchive({ url, cacheDir, fetcher: async (_u, dest) => { writeFileSync(dest, 'partial'); throw new Error('connection reset'); } }),
    /connection reset/,
  );
  assert.deepEqual(readdirSync(cacheDir), []);
  const fetcher = async (u: string, dest: string) => { calls.push(u); writeFileSync(dest, fakeArchive('pax')); };
  const ds = await loadImdbArchive({ url, cacheDir, fetcher });
  await loadImdbArchive({ url, cacheDir, fetcher });
  assert.deepEqual(calls, [url], 'downloaded once');
  assert.deepEqual(ds.ids, [0, 3, 12]);
});

test('loadImdbArchive: follows HTTP redirects (local server)', async () => {
  const body = fakeArchive('gnu');
  const server = createServer((req, res) => {
    if (req.url === '/old/aclImdb_v1.tar.gz') { res.writeHead(302, { location: '/new/aclImdb_v1.tar.gz' }); res.end(); return; }
    if (req.url === '/new/aclImdb_v1.tar.gz') { res.writeHead(200, { 'content-length': body.length }); res.end(body); return; }
    res.writeHead(404); res.end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  try {
    const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    const ds = await loadImdbArchive({ url: `${base}/old/aclImdb_v1.tar.gz`, cacheDir: join(tmp, 'cache3') });
    assert.deepEqual(ds.labels, [0, 1, 1]);
    await assert.rejects(loadImdbArchive({ url: `${base}/missing/aclImdb_v1.tar.gz`, cacheDir: join(tmp, 'cache4') }), /HTTP 404/);
    assert.deepEqual(readdirSync(join(tmp, 'cache4')), []);
  } finally {
    server.close();
  }
});

test('loadImdbArchive: corrupt and foreign archives give readable errors', async () => {
  const tar = packTar([{ name: 'aclImdb/train/pos/1_9.txt', data: 'fine' }]);
  tar[10] = 0x41; // break the first header's checksum
  put('bad1/aclImdb_v1.tar.gz', gzipSync(tar));
  await assert.rejects(loadImdbArchive({ url: 'https://x.invalid/aclImdb_v1.tar.gz', cacheDir: join(tmp, 'bad1') }), /corrupt tar header at byte 0/);
  put('bad2/aclImdb_v1.tar.gz', gzipSync(packTar([{ name: 'other/file.txt', data: 'x' }])));
  await assert.rejects(loadImdbArchive({ url: 'https://x.invalid/aclImdb_v1.tar.gz', cacheDir: join(tmp, 'bad2') }), /no aclImdb\/train\/\{neg,pos\}\/\*\.txt members/);
  put('bad3/aclImdb_v1.tar.gz', 'not gzip at all');
  await assert.rejects(loadImdbArchive({ url: 'https://x.invalid/aclImdb_v1.tar.gz', cacheDir: join(tmp, 'bad3') }), /not a readable \.tar\.gz.*delete it and retry/);
  const good = gzipSync(packTar([{ name: 'aclImdb/train/pos/1_9.txt', data: 'y'.repeat(5000) }]));
  put('bad4/aclImdb_v1.tar.gz', good.subarray(0, good.length - 40));
  await assert.rejects(loadImdbArchive({ url: 'https://x.invalid/aclImdb_v1.tar.gz', cacheDir: join(tmp, 'bad4') }), /aclImdb_v1\.tar\.gz/);
  const bad = packTar([{ name: 'aclImdb/train/neg/1_1.txt', data: Buffer.from([0x61, 0xff]) }]);
  put('bad5/aclImdb_v1.tar.gz', gzipSync(bad));
  await assert.rejects(loadImdbArchive({ url: 'https://x.invalid/aclImdb_v1.tar.gz', cacheDir: join(tmp, 'bad5') }), /aclImdb\/train\/neg\/1_1\.txt:1:2: invalid UTF-8/);
});

// ---------------------------------------------------------------------------------------------
// The real shared datasets (../shared/datasets relative to the repo root; dist/test/ → up 3)

const shared = fileURLToPath(new URL('../../../shared/datasets/', import.meta.url));
const noShared = existsSync(shared) ? false : `no shared datasets at ${shared}`;

test('real data: imdb/train.jsonl.gz', { skip: noShared }, () => {
  const ds = readDataset(join(shared, 'imdb/train.jsonl.gz'));
  assert.equal(ds.texts.length, 25000);
  assert.deepEqual(ds.labelNames, ['0', '1']);
  assert.equal(ds.labels.filter((y) => y === 1).length, 12500);
  assert.ok(ds.texts[0]!.startsWith('Story of a man who has unnatural feelings for a pig.'));
  assert.deepEqual(ds.labels.slice(0, 4), [0, 1, 0, 1]);
  const toks = tokenize(ds.texts[0]!);
  assert.deepEqual(toks.slice(0, 8), ['story', 'of', 'a', 'man', 'who', 'has', 'unnatural', 'feelings']);
  assert.ok(!ds.texts.slice(0, 200).some((t) => tokenize(t).includes('br')), 'no <br /> residue');
});

test('real data: sst2/dev.tsv and rt-polarity', { skip: noShared }, () => {
  const dev = readDataset(join(shared, 'sst2/dev.tsv'));
  assert.equal(dev.texts.length, 872);
  assert.equal(dev.labels.filter((y) => y === 1).length, 444);
  assert.equal(dev.texts[0], "it 's a charming and often affecting journey . ");
  assert.deepEqual(tokenize(dev.texts[0]!), ['it', "'s", 'a', 'charming', 'and', 'often', 'affecting', 'journey', '.']);
  const rt = readDataset(join(shared, 'rt-polarity'));
  assert.deepEqual(rt.labelNames, ['neg', 'pos']);
  assert.equal(rt.texts.length, 10662);
  assert.equal(rt.labels.filter((y) => y === 1).length, 5331);
});
