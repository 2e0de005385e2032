// Saved models without a file system (src/models/model-fetch.ts): from the files' bytes and from
// URLs — in Node.js over a local server, and in headless Chromium — with the predictions of the
// model that was saved, bit for bit, and errors that name the URL or file.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { inChromium } from '../bench/chromium.js';
import * as rnn from '../src/index.js';
import { startIsolatedServer } from '../src/cli/playground.js';

/** A small functional model (embedding, GRU, multi-head attention over its states, softmax), trained a step. */
function makeModel(): { m: rnn.GraphModel; x: { data: Float32Array; shape: number[]; mask: null } } {
  const ids = rnn.input({ shape: [null] });
  const h = rnn.layers.gru({ units: 8, returnSequences: true, seed: 2 }).apply(rnn.layers.embedding({ inputDim: 12, outputDim: 6, maskZero: true, seed: 1 }).apply(ids)) as rnn.SymbolicTensor;
  const a = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 4, seed: 3 }).apply([h, h]);
  const out = rnn.layers.dense({ units: 3, activation: 'softmax', seed: 4 }).apply(rnn.layers.attentionPooling({ units: 4, seed: 5 }).apply(a));
  const m = rnn.model({ inputs: ids, outputs: out });
  m.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
  const x = { data: new Float32Array([1, 2, 3, 4, 0, 5, 6, 7, 0, 0, 8, 9, 10, 11, 1]), shape: [3, 5], mask: null };
  m.trainOnBatch(x, { data: new Float32Array([0, 1, 2]), shape: [3, 1], mask: null });
  return { m, x };
}

async function saved(): Promise<{ dir: string; files: Record<string, Uint8Array>; m: rnn.GraphModel; x: { data: Float32Array; shape: number[]; mask: null }; want: Float32Array }> {
  const { m, x } = makeModel();
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-fetch-'));
  await rnn.saveModel(m, join(dir, 'm'));
  const files: Record<string, Uint8Array> = {};
  for (const f of readdirSync(join(dir, 'm'))) files[f] = new Uint8Array(readFileSync(join(dir, 'm', f)));
  return { dir, files, m, x, want: m.predict(x).data };
}

test('modelFromFiles: the files saveModel wrote, as bytes, give the model back (predictions bit for bit, optimiser state, training position); bad bytes are named', async () => {
  const { dir, files, m, x, want } = await saved();
  try {
    assert.deepEqual(Object.keys(files).sort(), ['checksums.json', 'model.json', 'optimizer.safetensors', 'weights.safetensors']);
    const back = await rnn.modelFromFiles<rnn.GraphModel>(files);
    assert.deepEqual(back.predict(x).data, want);
    assert.equal(back.step, m.step);
    assert.deepEqual(back.optimizer!.getState().slots, m.optimizer!.getState().slots);
    // A flipped byte in the weights, a file cut short, a missing index.
    const bad = { ...files, 'weights.safetensors': files['weights.safetensors']!.slice() };
    bad['weights.safetensors'][bad['weights.safetensors'].length - 1]! ^= 1;
    await assert.rejects(rnn.modelFromFiles(bad, { where: 'models/x' }), /models\/x\/weights\.safetensors: checksum mismatch/);
    await assert.rejects(rnn.modelFromFiles({ ...files, 'weights.safetensors': files['weights.safetensors']!.slice(0, 10) }), /model\/weights\.safetensors: truncated: expected \d+ bytes, found 10/);
    await assert.rejects(rnn.modelFromFiles({ ...files, 'model.json': files['model.json']!.slice(0, 10) }), /model\/model\.json: not valid JSON/);
    const { 'checksums.json': _, ...unindexed } = files;
    await assert.rejects(rnn.modelFromFiles(unindexed), /model\/checksums\.json: missing \(pass verifyChecksums: false/);
    assert.deepEqual((await rnn.modelFromFiles(unindexed, { verifyChecksums: false })).predict(x).data, want);
    await assert.rejects(rnn.modelFromFiles({ 'checksums.json': files['checksums.json']!, 'weights.safetensors': files['weights.safetensors']! }), /model\/model\.json: missing from the model bundle/);
    const { 'optimizer.safetensors': _o, ...noOptimizer } = files;
    await assert.rejects(rnn.modelFromFiles(noOptimizer), /model\/optimizer\.safetensors: listed in checksums\.json but missing/);
    await assert.rejects(rnn.modelFromFiles({ 'model.json': files['model.json']!, 'weights.safetensors': files['weights.safetensors']! }, { verifyChecksums: false, maxBytes: files['model.json']!.length + 10 }), /model\/weights\.safetensors: the model's files exceed \d+ bytes \(maxBytes\)/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("modelFromFiles reads half-precision weights (saveModel's weightsDtype 'float16') as loadModel does", async () => {
  const { m, x } = makeModel();
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-fetch-f16-'));
  try {
    await rnn.saveModel(m, join(dir, 'h'), { weightsDtype: 'float16', includeOptimizer: false });
    const files: Record<string, Uint8Array> = {};
    for (const f of readdirSync(join(dir, 'h'))) files[f] = new Uint8Array(readFileSync(join(dir, 'h', f)));
    const fromBytes = await rnn.modelFromFiles<rnn.GraphModel>(files), fromDisk = await rnn.loadModel<rnn.GraphModel>(join(dir, 'h'));
    assert.deepEqual(fromBytes.params, fromDisk.params);
    assert.notDeepEqual(fromBytes.params, m.params);
    assert.deepEqual(fromBytes.predict(x).data, fromDisk.predict(x).data);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadModelFromUrl (Node.js fetch, a local server): the model back, the optimiser only when asked; missing and corrupted files name their URL', async () => {
  const { dir, files, x, want } = await saved();
  const routes: Record<string, [string, Uint8Array]> = {};
  for (const [f, b] of Object.entries(files)) routes[`/models/m/${f}`] = ['application/octet-stream', b];
  const broken = files['weights.safetensors']!.slice();
  broken[100]! ^= 0x40;
  for (const f of ['model.json', 'checksums.json']) routes[`/models/broken/${f}`] = ['application/octet-stream', files[f]!];
  routes['/models/broken/weights.safetensors'] = ['application/octet-stream', broken];
  routes['/models/noweights/model.json'] = ['application/json', files['model.json']!];
  routes['/models/noweights/checksums.json'] = ['application/json', files['checksums.json']!];
  const s = await startIsolatedServer({ html: '', routes });
  try {
    const back = await rnn.loadModelFromUrl<rnn.GraphModel>(new URL('models/m', s.url));
    assert.deepEqual(back.predict(x).data, want);
    assert.equal(back.optimizer!.getState().iterations, 0, 'no optimiser state fetched');
    const resumed = await rnn.loadModelFromUrl<rnn.GraphModel>(new URL('models/m/', s.url), { withOptimizer: true });
    assert.equal(resumed.optimizer!.getState().iterations, 1);
    await assert.rejects(rnn.loadModelFromUrl(new URL('models/broken/', s.url)), new RegExp(`${s.url}models/broken/weights\\.safetensors: checksum mismatch`));
    await assert.rejects(rnn.loadModelFromUrl(new URL('models/noweights/', s.url)), new RegExp(`${s.url}models/noweights/weights\\.safetensors: could not be fetched: HTTP 404`));
    await assert.rejects(rnn.loadModelFromUrl(new URL('models/none/', s.url)), new RegExp(`${s.url}models/none/checksums\\.json: could not be fetched: HTTP 404`));
    await assert.rejects(rnn.loadModelFromUrl('relative/dir/'), /loadModelFromUrl: "relative\/dir\/" is not a URL \(outside a page a relative URL has nothing to resolve against\)/);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('loadModelFromUrl in headless Chromium: a model saved in Node.js predicts in the page the very bits it predicts in Node.js', async () => {
  const { dir, files, x, want } = await saved();
  const routes: Record<string, [string, Uint8Array]> = {};
  for (const [f, b] of Object.entries(files)) routes[`/models/m/${f}`] = ['application/octet-stream', b];
  const html = `<!doctype html><meta charset="utf-8"><script type="module">
const post = (body) => fetch('/done', { method: 'POST', body: JSON.stringify(body) });
try {
  const rnn = await import('/dist/src/browser.js');
  await rnn.ready();
  const m = await rnn.loadModelFromUrl('models/m/');
  const p = m.predict({ data: ${JSON.stringify(Array.from(x.data))}, shape: ${JSON.stringify(x.shape)} });
  await post({ backend: rnn.backendName(), data: Array.from(p.data) });
} catch (e) { await post({ error: String(e && e.stack || e) }); }
</script>`;
  let finish!: (v: unknown) => void;
  const done = new Promise<unknown>((r) => { finish = r; });
  const s = await startIsolatedServer({ html, routes, onPost: (path, m) => { if (path === '/done') finish(m); } });
  try {
    const r = await inChromium(s.url, done, 60_000) as { error?: string; backend: string; data: number[] };
    assert.equal(r.error, undefined, r.error);
    assert.match(r.backend, /^wasm-/);
    assert.deepEqual(Float32Array.from(r.data), want);
  } finally {
    await s.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a character model saved as rnnkit charrnn saves it generates, after modelFromFiles, the very text it generates before (generateText, the vocabulary from its metadata)', async () => {
  const { buildCharModel, DEFAULT_CHARRNN, prepareCorpus, StreamBatcher } = await import('../src/apps/charrnn.js');
  const corpus = prepareCorpus('to be or not to be, that is the question. '.repeat(20), 0.1);
  const m = buildCharModel(corpus.vocab.size, { ...DEFAULT_CHARRNN, hidden: 16, layers: 1, embed: 8, seq: 8, batch: 4 });
  const sb = new StreamBatcher(corpus.train, 4, 8);
  for (let k = 0; k < 20; k++) { const { x, y } = sb.batch(k % sb.batchesPerEpoch); m.trainOnBatch(x, y); }
  m.metadata = { app: 'charrnn', vocab: corpus.vocab.toJSON() };
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-fetch-'));
  try {
    await rnn.saveModel(m, join(dir, 'c'));
    const files: Record<string, Uint8Array> = {};
    for (const f of readdirSync(join(dir, 'c'))) files[f] = new Uint8Array(readFileSync(join(dir, 'c', f)));
    const back = await rnn.modelFromFiles<rnn.Sequential>(files);
    const vocab = rnn.CharVocab.fromJSON((back.metadata as { vocab: unknown }).vocab);
    const opts = { length: 80, temperature: 0.7, seed: 5, prime: 'to ' };
    const text = rnn.generateText(back, vocab, opts);
    assert.equal(text.length, 80);
    assert.equal(text, rnn.generateText(m, corpus.vocab, opts));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
