// The browser playground (src/playground/, src/cli/playground.ts): the training session in Node.js,
// the server (headers, files, nothing outside dist/src), the page end to end in headless Chromium
// (two kernel threads in a Web Worker, losses falling, samples, the gradient's flow), and the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { test } from 'node:test';
import * as ort from 'onnxruntime-node';
import { inChromium } from '../bench/chromium.js';
import { startPlayground } from '../src/cli/playground.js';
import { PlaygroundSession } from '../src/playground/session.js';

const TEXT = 'the cat sat on the mat. the dog sat on the log. a cat and a dog sat on a mat and a log.\n'.repeat(40);
const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;

test('playground session: a GRU learns the text (training loss falls), and evaluation gives a validation loss, a sample in the vocabulary and the gradient at every step back', () => {
  const s = new PlaygroundSession(TEXT, { cell: 'gru', hidden: 32, seq: 16, batch: 8, lr: 0.01 });
  const losses: number[] = [];
  for (let i = 0; i < 80; i++) losses.push(s.trainStep().loss);
  assert.equal(s.step, 80);
  assert.ok(mean(losses.slice(-10)) < 0.6 * mean(losses.slice(0, 5)), `losses ${losses.slice(0, 5).map((l) => l.toFixed(2))} ... ${losses.slice(-5).map((l) => l.toFixed(2))}`);
  const e = s.evaluate(120, 0.5);
  assert.equal(e.step, 80);
  assert.ok(e.valLoss > 0 && e.valLoss < Math.log(s.corpus.vocab.size), `validation loss ${e.valLoss}`);
  assert.equal(e.sample.length, 120);
  for (const c of e.sample) assert.ok(s.corpus.vocab.chars.includes(c), `sampled ${JSON.stringify(c)}`);
  assert.equal(e.flow?.length, 1);
  assert.equal(e.flow![0]!.length, 16);
  assert.ok(e.flow![0]!.every((v) => Number.isFinite(v) && v > 0), `flow ${e.flow}`);
  assert.equal(e.attention, null);
  // Evaluating does not disturb training: the next step continues from the carried states.
  assert.equal(s.trainStep().step, 81);
});

test('playground session: a stack of three LSTM layers learns, and the gradient flow has a line per layer (the lower ones first reached one step back)', () => {
  const s = new PlaygroundSession(TEXT, { cell: 'lstm', hidden: 24, layers: 3, seq: 16, batch: 8, lr: 0.01 });
  assert.equal(s.model.allLayers().filter((l) => l.className === 'LSTM').length, 3);
  const losses: number[] = [];
  for (let i = 0; i < 80; i++) losses.push(s.trainStep().loss);
  assert.ok(mean(losses.slice(-10)) < 0.8 * mean(losses.slice(0, 5)), `losses ${losses.slice(0, 5).map((l) => l.toFixed(2))} ... ${losses.slice(-5).map((l) => l.toFixed(2))}`);
  const e = s.evaluate(40, 0.5);
  assert.equal(e.flow?.length, 3);
  for (const [l, f] of e.flow!.entries()) {
    assert.equal(f.length, 16);
    assert.ok(f.slice(1).every((v) => Number.isFinite(v) && v > 0), `layer ${l}: ${f}`);
    if (l < 2) assert.equal(f[0], 0, `layer ${l} at the loss`);
  }
  assert.ok(e.flow![2]![0]! > 0);
  const t = new PlaygroundSession(TEXT, { cell: 'transformer', hidden: 16, layers: 2, seq: 16, batch: 8 });
  assert.equal(t.model.allLayers().filter((l) => l.className === 'MultiHeadAttention').length, 2);
  assert.throws(() => new PlaygroundSession(TEXT, { layers: 5 }), /playground: layers must be an integer in \[1, 4\], got 5/);
});

test('playground session: a Transformer block learns the text too; its samples come from the window before, and its attention looks only back, each row summing to 1', () => {
  const s = new PlaygroundSession(TEXT, { cell: 'transformer', hidden: 32, seq: 16, batch: 8, lr: 0.01 });
  const losses: number[] = [];
  for (let i = 0; i < 60; i++) losses.push(s.trainStep().loss);
  assert.ok(mean(losses.slice(-10)) < 0.6 * mean(losses.slice(0, 5)), `losses ${losses.slice(0, 5).map((l) => l.toFixed(2))} ... ${losses.slice(-5).map((l) => l.toFixed(2))}`);
  const e = s.evaluate(60, 0.5);
  assert.equal(e.flow, null);
  assert.equal(e.sample.length, 60);
  for (const c of e.sample) assert.ok(s.corpus.vocab.chars.includes(c), `sampled ${JSON.stringify(c)}`);
  const { T, weights } = e.attention!;
  assert.equal(T, 16);
  for (let i = 0; i < T; i++) {
    let sum = 0;
    for (let j = 0; j < T; j++) {
      const w: number = weights[i * T + j]!;
      if (j > i) assert.equal(w, 0, `position ${i} looks ahead at ${j}`);
      sum += w;
    }
    assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
  }
});

/** Mean nats per character an exported char model gives the first `n` characters of TEXT (one window, zero states). */
async function onnxNats(bytes: Uint8Array, vocab: readonly string[], n: number): Promise<number> {
  const session = await ort.InferenceSession.create(bytes);
  const ids = Int32Array.from(TEXT.slice(0, n), (c) => vocab.indexOf(c));
  const feeds: Record<string, ort.Tensor> = { input: new ort.Tensor('int32', ids, [1, n]) };
  for (const name of session.inputNames.slice(1)) feeds[name] = new ort.Tensor('float32', new Float32Array(32), [1, 1, 32]);
  const p = (await session.run(feeds)).output!.data as Float32Array;
  await session.release();
  let nats = 0;
  for (let t = 0; t + 1 < n; t++) nats -= Math.log(p[t * vocab.length + ids[t + 1]!]!);
  return nats / (n - 1);
}

test('playground session: the model exports to ONNX with its vocabulary and states, and onnxruntime gives the probabilities the model gives', async () => {
  const s = new PlaygroundSession(TEXT, { cell: 'lstm', hidden: 32, seq: 16, batch: 8, lr: 0.01 });
  for (let i = 0; i < 40; i++) s.trainStep();
  const e = s.exportOnnx();
  assert.deepEqual(e.inputs.map((i) => i.name).slice(1), ['lstm/h_in', 'lstm/c_in'].map((n) => n.replace('lstm', s.model.allLayers()[1]!.name)));
  assert.ok(Buffer.from(e.bytes).includes(Buffer.from(JSON.stringify(s.corpus.vocab.toJSON()))), 'the vocabulary travels in the file');
  s.model.resetStates();
  const ids = Float32Array.from(TEXT.slice(0, 16), (c) => s.corpus.vocab.chars.indexOf(c));
  const want = s.model.predict({ data: ids, shape: [1, 16] }).data;
  let nats = 0;
  for (let t = 0; t < 15; t++) nats -= Math.log(want[t * s.corpus.vocab.size + ids[t + 1]!]!);
  assert.ok(Math.abs((await onnxNats(e.bytes, s.corpus.vocab.chars, 16)) - nats / 15) < 1e-5);
  // The Transformer's file reads windows of up to `seq` characters (its position table's rows).
  const t = new PlaygroundSession(TEXT, { cell: 'transformer', hidden: 16, seq: 16, batch: 8 });
  for (let i = 0; i < 5; i++) t.trainStep();
  const te = t.exportOnnx();
  const tw = Float32Array.from(TEXT.slice(0, 16), (c) => t.corpus.vocab.chars.indexOf(c));
  const want16 = t.model.predict({ data: tw, shape: [1, 16] }).data;
  let tn = 0;
  for (let k = 0; k < 15; k++) tn -= Math.log(want16[k * t.corpus.vocab.size + tw[k + 1]!]!);
  assert.ok(Math.abs((await onnxNats(te.bytes, t.corpus.vocab.chars, 16)) - tn / 15) < 1e-5);
  const session = await ort.InferenceSession.create(te.bytes);
  await assert.rejects(session.run({ input: new ort.Tensor('int32', new Int32Array(17), [1, 17]) }), /position_encoding(_\d+)?\/Add_node/, 'a window longer than seq');
  await session.release();
});

test('playground session: bad options and texts are named', () => {
  assert.throws(() => new PlaygroundSession(TEXT, { cell: 'cnn' as never }), /playground: cell must be lstm, gru, rnn or transformer, got "cnn"/);
  assert.throws(() => new PlaygroundSession(TEXT, { hidden: 2 }), /playground: hidden must be an integer in \[4, 1024\], got 2/);
  assert.throws(() => new PlaygroundSession(TEXT, { lr: 0 }), /playground: lr must be a number in \[0\.00001, 1\], got 0/);
  assert.throws(() => new PlaygroundSession('too short'), /at least 100 are needed/);
  assert.throws(() => new PlaygroundSession(TEXT.slice(0, 300), { batch: 64, seq: 64 }), /playground: the text's 270 training characters are too few for a batch of 64 x 64 steps; lower the batch or the steps per sequence/);
});

test('playground server: a cross-origin isolated page, the built library, the default text; nothing outside dist/src, no POST without a listener', async () => {
  const s = await startPlayground({ text: TEXT });
  try {
    const page = await fetch(s.url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('cross-origin-opener-policy'), 'same-origin');
    assert.equal(page.headers.get('cross-origin-embedder-policy'), 'require-corp');
    assert.match(await page.text(), /rnnkit playground.*src="\/dist\/src\/playground\/ui\.js"/s);
    const lib = await fetch(new URL('dist/src/browser.js', s.url));
    assert.equal(lib.status, 200);
    assert.equal(lib.headers.get('content-type'), 'text/javascript');
    assert.equal(await (await fetch(new URL('text/default.txt', s.url))).text(), TEXT);
    for (const bad of ['dist/src/../../package.json', 'dist/src/%2e%2e/%2e%2e/package.json', 'dist/src/..%2f..%2fpackage.json', 'dist/src/nope.js', 'package.json']) {
      assert.equal((await fetch(new URL(bad, s.url))).status, 404, bad);
    }
    assert.equal((await fetch(new URL('report', s.url), { method: 'POST', body: '{}' })).status, 405);
  } finally {
    await s.close();
  }
  const none = await startPlayground({ text: null });
  try {
    assert.equal((await fetch(new URL('text/default.txt', none.url))).status, 404);
  } finally {
    await none.close();
  }
});

test('playground in headless Chromium: the page trains a two-layer GRU in a Web Worker on two kernel threads, the loss falls, and samples and the gradient flow arrive', async () => {
  const messages: { type: string; [k: string]: unknown }[] = [];
  let finish!: (v: unknown) => void;
  const done = new Promise<unknown>((r) => { finish = r; });
  const s = await startPlayground({ text: TEXT, onPost: (path, m) => { if (path === '/done') finish(m); else messages.push(m as { type: string }); } });
  try {
    const q = 'autostart&report&export&steps=60&eval=30&cell=gru&hidden=32&layers=2&seq=16&batch=8&lr=0.01&threads=2';
    const end = await inChromium(`${s.url}?${q}`, done, 120_000) as {
      error?: string; step: number; firstLosses: number[]; lastLosses: number[]; valLoss: { step: number; loss: number }[]; sample: string | null; flow: number[][] | null;
      onnx?: string;
    };
    assert.equal(end.error, undefined, String(end.error));
    const ready = messages.find((m) => m.type === 'ready');
    assert.ok(ready, `messages: ${messages.map((m) => m.type).join(', ')}`);
    assert.equal(ready.threads, 2, 'two kernel threads in the worker (the page is cross-origin isolated)');
    assert.match(String(ready.backend), /^wasm-/);
    assert.equal(end.step, 60);
    assert.ok(mean(end.lastLosses) < 0.7 * mean(end.firstLosses), `first ${end.firstLosses}, last ${end.lastLosses}`);
    assert.deepEqual(end.valLoss.map((v) => v.step), [30, 60]);
    assert.ok(end.valLoss[1]!.loss < end.valLoss[0]!.loss, JSON.stringify(end.valLoss));
    assert.equal(end.sample?.length, 300);
    assert.equal(end.flow?.length, 2, 'two layers, a line each');
    assert.equal(end.flow![1]!.length, 16);
    // The page's ONNX file of the trained model: onnxruntime-node reads it, and it predicts the
    // text far better than a uniform guess (ln 16 = 2.77 nats).
    const bytes = Buffer.from(end.onnx ?? '', 'base64');
    // (TEXT has no ']': the vocabulary's list ends at the first one)
    const vocab = JSON.parse(/"kind":"char-vocab","version":1,"chars":(\[.*?\])/s.exec(bytes.toString('utf8'))?.[1] ?? 'null') as string[] | null;
    assert.ok(vocab && vocab.length === new Set(TEXT).size, 'the vocabulary is in the file');
    const nats = await onnxNats(bytes, vocab, 60);
    assert.ok(nats < 0.8 * Math.log(vocab.length), `${nats} nats per character`);
  } finally {
    await s.close();
  }
});

test('rnnkit playground serves the page at the URL it prints, with the text given by --text, and stops on SIGINT', async () => {
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawn } = await import('node:child_process');
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-pg-'));
  const file = join(dir, 'text.txt');
  writeFileSync(file, TEXT);
  const child = spawn(process.execPath, ['dist/src/cli/main.js', 'playground', '--port', '0', '--text', file], { stdio: ['ignore', 'pipe', 'pipe'] });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let out = '';
      child.stdout.on('data', (c: Buffer) => { out += c.toString(); const m = /open (http:\/\/127\.0\.0\.1:\d+\/) in a browser/.exec(out); if (m) resolve(m[1]!); });
      child.on('exit', (code) => reject(new Error(`exited with ${code}: ${out}`)));
      setTimeout(() => reject(new Error(`no URL within 10 s: ${out}`)), 10_000);
    });
    assert.match(await (await fetch(url)).text(), /rnnkit playground/);
    assert.equal(await (await fetch(new URL('text/default.txt', url))).text(), TEXT);
    const exited = new Promise<number | null>((r) => child.on('exit', (code) => r(code)));
    child.kill('SIGINT');
    assert.equal(await exited, 0);
  } finally {
    child.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  }
});

test('rnnkit playground: --help, and bad options are one-line errors that name them', () => {
  const cli = (...args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', 'playground', ...args], { encoding: 'utf8' });
  const help = cli('--help');
  assert.equal(help.status, 0);
  assert.match(help.stdout, /Usage: rnnkit playground \[--port 8080\]/);
  for (const [args, msg] of [
    [['--port', 'abc'], /rnnkit: --port: expected an integer >= 0, got 'abc'/],
    [['--port', '70000'], /rnnkit: --port: expected an integer in \[0, 65535\], got '70000'/],
    [['--text', '/nonexistent/x.txt'], /rnnkit: --text: cannot read \/nonexistent\/x\.txt/],
  ] as const) {
    const r = cli(...args);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, msg);
    assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
  }
});
