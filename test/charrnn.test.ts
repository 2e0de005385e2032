// The char-RNN app and CLI end to end on a small generated text, and the from-scratch example.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { buildCharModel, charWindow, DEFAULT_CHARRNN, evaluateNats, prepareCorpus, sample, StreamBatcher } from '../src/apps/charrnn.js';
import { CharVocab } from '../src/data/vocab.js';
import { loadModel } from '../src/models/node/model-io.js';

const cli = (args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', ...args], { encoding: 'utf8' });
// A text with structure a small LSTM learns in seconds: repeated short phrases.
const TEXT = Array.from({ length: 300 }, (_, i) => ['the cat sat.', 'a dog ran!', 'we sing?'][i % 3]).join('\n') + '\n';

test('StreamBatcher: targets are the inputs shifted by one, streams are contiguous and disjoint', () => {
  const ids = Int32Array.from({ length: 101 }, (_, i) => i);
  const sb = new StreamBatcher(ids, 4, 5);
  assert.equal(sb.streamLen, 25);
  assert.equal(sb.batchesPerEpoch, 5);
  const { x, y } = sb.batch(1);
  assert.deepEqual([...x.data.subarray(0, 5)], [5, 6, 7, 8, 9]);
  assert.deepEqual([...y.data.subarray(0, 5)], [6, 7, 8, 9, 10]);
  assert.deepEqual([...x.data.subarray(5, 10)], [30, 31, 32, 33, 34]);
  assert.throws(() => new StreamBatcher(ids.subarray(0, 10), 4, 5), /too few for batch 4 x seq 5/);
});

test('a small LSTM learns the text (validation loss falls well below the unigram entropy) and samples from it', () => {
  const corpus = prepareCorpus(TEXT, 0.1);
  const cfg = { ...DEFAULT_CHARRNN, hidden: 48, layers: 1, embed: 16, seq: 16, batch: 8, lr: 0.01 };
  const model = buildCharModel(corpus.vocab.size, cfg);
  const before = evaluateNats(model, corpus.val, cfg.batch, cfg.seq);
  const sb = new StreamBatcher(corpus.train, cfg.batch, cfg.seq);
  model.resetStates();
  for (let s = 0; s < 150; s++) {
    if (s % sb.batchesPerEpoch === 0) model.resetStates();
    const { x, y } = sb.batch(s % sb.batchesPerEpoch);
    model.trainOnBatch(x, y, { clipNorm: 5 });
  }
  const after = evaluateNats(model, corpus.val, cfg.batch, cfg.seq);
  assert.ok(before > 2.3 && after < 0.8, `validation nats/char ${before} -> ${after}`);
  const s = sample(model, corpus.vocab, { length: 60, temperature: 0.5, prime: 'the ', seed: 1 });
  assert.equal([...s].length, 60);
  assert.ok(/cat|dog|sing/.test(s), `sample: ${JSON.stringify(s)}`);
  assert.throws(() => sample(model, corpus.vocab, { length: 5, prime: 'xyz' }), /not in the model's vocabulary: "x", "y", "z"/);
});

test('a small Transformer (2 pre-norm blocks, causal) learns the text, samples from its window by default, and cannot see ahead', () => {
  const corpus = prepareCorpus(TEXT, 0.1);
  const cfg = { ...DEFAULT_CHARRNN, cell: 'transformer' as const, hidden: 32, layers: 2, heads: 2, seq: 16, batch: 8, lr: 0.005 };
  const model = buildCharModel(corpus.vocab.size, cfg);
  assert.equal(charWindow(model), 16);
  const before = evaluateNats(model, corpus.val, cfg.batch, cfg.seq);
  const sb = new StreamBatcher(corpus.train, cfg.batch, cfg.seq);
  for (let s = 0; s < 200; s++) model.trainOnBatch(sb.batch(s % sb.batchesPerEpoch).x, sb.batch(s % sb.batchesPerEpoch).y, { clipNorm: 5 });
  const after = evaluateNats(model, corpus.val, cfg.batch, cfg.seq);
  assert.ok(before > 2.3 && after < 1.0, `validation nats/char ${before} -> ${after}`);
  // Causal: the prediction at step t does not change when later characters do.
  const V = corpus.vocab.size, a = Array.from(corpus.val.subarray(0, 16)), b = [...a.slice(0, 8), ...a.slice(8).reverse()];
  const pa = model.predict({ data: a, shape: [1, 16] }).data, pb = model.predict({ data: b, shape: [1, 16] }).data;
  assert.deepEqual(pb.subarray(0, 8 * V), pa.subarray(0, 8 * V));
  assert.notDeepEqual(pb.subarray(15 * V), pa.subarray(15 * V));
  // sample() runs the window of 16 (charWindow) without being told; a window of 1 is a bigram model, another text.
  const s = sample(model, corpus.vocab, { length: 60, temperature: 0.5, prime: 'the ', seed: 1 });
  assert.equal(s, sample(model, corpus.vocab, { length: 60, temperature: 0.5, prime: 'the ', seed: 1, window: 16 }));
  assert.notEqual(s, sample(model, corpus.vocab, { length: 60, temperature: 0.5, prime: 'the ', seed: 1, window: 1 }));
  assert.ok(/cat|dog|sing/.test(s), `sample: ${JSON.stringify(s)}`);
});

test('CLI: --cell transformer trains, resumes and samples (its window from the saved config)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-charrnn-tf-'));
  try {
    const data = join(dir, 'text.txt');
    writeFileSync(data, TEXT);
    const out = join(dir, 'run');
    const common = ['--data', data, '--out', out, '--cell', 'transformer', '--hidden', '32', '--layers', '1', '--heads', '2', '--seq', '16', '--batch', '8', '--eval-every', '30', '--lr', '0.005'];
    const t = cli(['charrnn', 'train', ...common, '--steps', '60', '--json']);
    assert.equal(t.status, 0, t.stderr);
    const res = JSON.parse(t.stdout);
    assert.equal(res.config.cell, 'transformer');
    assert.equal(res.config.heads, 2);
    assert.ok(res.bestValNats < 2.2, t.stdout); // ln(17) = 2.83 before training
    assert.match(t.stderr, /Transformer 1 block x 32, 2 heads, window 16/);
    const r = cli(['charrnn', 'train', ...common, '--steps', '30', '--resume', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).steps, 90);
    const s = cli(['charrnn', 'sample', '--model', join(out, 'best'), '--length', '40', '--prime', 'the', '--seed', '3']);
    assert.equal(s.status, 0, s.stderr);
    // The saved model, loaded here: the CLI's text is the one of its 16-character window.
    const loaded = await loadModel(join(out, 'best'));
    const vocab = CharVocab.fromJSON((loaded.metadata as { vocab: unknown }).vocab);
    assert.equal(charWindow(loaded), 16);
    assert.equal(s.stdout, `the${sample(loaded, vocab, { length: 40, prime: 'the', seed: 3, window: 16 })}\n`);
    // A reader that stops early (| head): a quiet exit 0 soon after, not an EPIPE stack trace or
    // the whole 1,000,000 characters generated first (minutes at this model's pace).
    const t0 = Date.now();
    const piped = spawnSync('bash', ['-c', `"${process.execPath}" dist/src/cli/main.js charrnn sample --model "${join(out, 'best')}" --length 1000000 2>"${join(dir, 'err.txt')}" | head -c 10; exit \${PIPESTATUS[0]}`], { encoding: 'utf8' });
    assert.equal(piped.stdout.length, 10);
    assert.equal(piped.status, 0, 'rnnkit exits 0');
    assert.equal(readFileSync(join(dir, 'err.txt'), 'utf8'), '');
    assert.ok(Date.now() - t0 < 20_000, `took ${Date.now() - t0} ms`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('CLI: train (with --json), resume, sample; clear errors for bad input', () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-charrnn-'));
  try {
    const data = join(dir, 'text.txt');
    writeFileSync(data, TEXT);
    const out = join(dir, 'run');
    const common = ['--data', data, '--out', out, '--hidden', '32', '--layers', '1', '--embed', '8', '--seq', '16', '--batch', '8', '--eval-every', '20', '--lr', '0.02'];
    const t = cli(['charrnn', 'train', ...common, '--steps', '40', '--json']);
    assert.equal(t.status, 0, t.stderr);
    const res = JSON.parse(t.stdout);
    assert.equal(res.steps, 40);
    assert.deepEqual(res.evals.map((e: { step: number }) => e.step), [20, 40], 'one evaluation every 20 steps');
    assert.ok(res.evals[1].seconds >= res.evals[0].seconds && res.evals[1].valNats === res.lastValNats);
    assert.ok(res.bestValNats < 2.2 && res.tokensPerSecond > 0, t.stdout); // ln(17) = 2.83 before training
    assert.ok(existsSync(join(out, 'best', 'model.json')) && existsSync(join(out, 'last', 'optimizer.safetensors')));
    // The global --threads option: one thread gives the same numbers as the default.
    const one = cli(['--threads', '1', 'charrnn', 'train', ...common, '--out', join(dir, 'one'), '--steps', '40', '--json']);
    assert.equal(one.status, 0, one.stderr);
    assert.equal(JSON.parse(one.stdout).bestValNats, res.bestValNats);
    // --stop-at: the run ends at the first evaluation at or below the target.
    const early = cli(['charrnn', 'train', ...common, '--out', join(dir, 'early'), '--steps', '40', '--stop-at', '10', '--json']);
    assert.equal(early.status, 0, early.stderr);
    const er = JSON.parse(early.stdout);
    assert.equal(er.steps, 20);
    assert.equal(er.reachedTarget, true);
    const badThreads = cli(['charrnn', 'train', ...common, '--threads', '3']);
    assert.equal(badThreads.status, 2);
    assert.match(badThreads.stderr, /--threads: expected 1 or 2, got '3'/);
    const r = cli(['charrnn', 'train', ...common, '--steps', '20', '--resume', '--json']);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).steps, 60, 'resumed at step 40 and took 20 more');
    const s = cli(['charrnn', 'sample', '--model', join(out, 'best'), '--length', '30', '--prime', 'the', '--seed', '3']);
    assert.equal(s.status, 0, s.stderr);
    assert.ok(s.stdout.startsWith('the') && s.stdout.length >= 33);
    // rnnkit convert: the weights in float16 (half the bytes), no optimiser state; it samples.
    const conv = cli(['convert', '--model', join(out, 'best'), '--out', join(dir, 'half')]);
    assert.equal(conv.status, 0, conv.stderr);
    assert.match(conv.stdout, /half: [\d,]+ weights as float16\n$/);
    const size = (d: string, f: string) => statSync(join(d, f)).size;
    assert.ok(size(join(dir, 'half'), 'weights.safetensors') < 0.55 * size(join(out, 'best'), 'weights.safetensors'));
    assert.ok(!existsSync(join(dir, 'half', 'optimizer.safetensors')));
    const hs = cli(['charrnn', 'sample', '--model', join(dir, 'half'), '--length', '30', '--prime', 'the', '--seed', '3']);
    assert.equal(hs.status, 0, hs.stderr);
    assert.equal(hs.stdout.length, s.stdout.length);
    assert.match(cli(['convert', '--model', join(out, 'best'), '--out', join(dir, 'x'), '--dtype', 'int8']).stderr, /--dtype: expected float16 or float32, got 'int8'/);
    assert.match(cli(['convert', '--model', join(out, 'best'), '--out', join(out, 'best')]).stderr, /--out: give another directory than --model/);
    const bad = cli(['charrnn', 'sample', '--model', join(out, 'best'), '--prime', 'Z']);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--prime: character\(s\) "Z" are not in the model's vocabulary/);
    const missing = cli(['charrnn', 'train', '--data', join(dir, 'nope.txt'), '--out', out]);
    assert.equal(missing.status, 2);
    assert.match(missing.stderr, /cannot read '.*nope\.txt': no such file or directory\n$/);
    const badArg = cli(['charrnn', 'train', '--data', data, '--out', out, '--cell', 'lstmm']);
    assert.equal(badArg.status, 2);
    assert.match(badArg.stderr, /--cell: expected lstm, gru, rnn or transformer, got 'lstmm'/);
    assert.doesNotMatch(badArg.stderr, /\n\s+at /, 'no stack trace');
    const embed = cli(['charrnn', 'train', '--data', data, '--out', out, '--cell', 'transformer', '--embed', '8']);
    assert.equal(embed.status, 2);
    assert.match(embed.stderr, /--embed: a Transformer's embeddings are --hidden wide/);
    const heads = cli(['charrnn', 'train', '--data', data, '--out', out, '--heads', '2']);
    assert.equal(heads.status, 2);
    assert.match(heads.stderr, /--heads: only for --cell transformer/);
    // Texts too short: one line each, before any training (an empty one was an internal error).
    const short = join(dir, 'short.txt');
    for (const [text, args, want] of [
      ['', [], /--data: the text has 0 characters; at least 100 are needed/],
      [TEXT, ['--seq', '100000'], /--data: \d+ characters are too few for batch 32 x seq 100000; lower --batch or --seq/],
      ['abcdefghij'.repeat(11), ['--seq', '12', '--batch', '2'], /--data: the held-out last 0\.1 of the text is 11 characters, fewer than --seq \+ 1 = 13/],
    ] as [string, string[], RegExp][]) {
      writeFileSync(short, text);
      const r = cli(['charrnn', 'train', '--data', short, '--out', join(dir, 'short'), ...args]);
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, want);
      assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
    }
    // An --out that cannot be made fails before training, not at the first checkpoint.
    const badOut = cli(['charrnn', 'train', '--data', data, '--out', join(data, 'run'), '--steps', '1000']);
    assert.equal(badOut.status, 2);
    assert.equal(badOut.stderr, `rnnkit: --out: cannot create ${join(data, 'run')}: a part of the path is not a directory\n`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('examples/min-char-rnn runs as written and learns', () => {
  const r = spawnSync(process.execPath, ['dist/examples/min-char-rnn.js', '', '1500'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  const m = /smoothed loss per 25 characters: ([\d.]+) -> ([\d.]+)/.exec(r.stdout);
  assert.ok(m, r.stdout);
  assert.ok(Number(m[2]) < Number(m[1]) / 3, `loss ${m[1]} -> ${m[2]}`);
});

test('evaluating and sampling mid-training leave the carried training state untouched', () => {
  const corpus = prepareCorpus(TEXT, 0.1);
  const cfg = { ...DEFAULT_CHARRNN, hidden: 16, layers: 2, embed: 8, seq: 8, batch: 4 };
  const model = buildCharModel(corpus.vocab.size, cfg);
  const sb = new StreamBatcher(corpus.train, cfg.batch, cfg.seq);
  model.trainOnBatch(sb.batch(0).x, sb.batch(0).y);
  const before = JSON.stringify(model.getStates());
  evaluateNats(model, corpus.val, cfg.batch, cfg.seq);
  sample(model, corpus.vocab, { length: 5 });
  assert.equal(JSON.stringify(model.getStates()), before);
  assert.notEqual(before, JSON.stringify(model.getStates().map(() => null)), 'there was a state to keep');
});

test('each sample call reads the weights as they are then: after more training, the text of a fresh model with the same weights', () => {
  // sample() checks the weights against the kernels' copies once per call (withFixedWeights),
  // not once per character: a later call must still see what training changed in between.
  const corpus = prepareCorpus(TEXT, 0.1);
  const cfg = { ...DEFAULT_CHARRNN, hidden: 24, layers: 2, embed: 8, seq: 8, batch: 4, lr: 0.05 };
  const model = buildCharModel(corpus.vocab.size, cfg);
  const sb = new StreamBatcher(corpus.train, cfg.batch, cfg.seq);
  const opts = { length: 40, prime: 'the ', seed: 5 };
  const first = sample(model, corpus.vocab, opts);
  for (let s = 0; s < 20; s++) model.trainOnBatch(sb.batch(s % sb.batchesPerEpoch).x, sb.batch(s % sb.batchesPerEpoch).y);
  const second = sample(model, corpus.vocab, opts);
  const fresh = buildCharModel(corpus.vocab.size, cfg); // (the same initial weights: the same seed)
  fresh.params.set(model.params);
  assert.equal(second, sample(fresh, corpus.vocab, opts));
  assert.notEqual(second, first, 'training changed the text');
});

test('CLI: the command groups have a help of their own, and a wrong subcommand names itself and points to it', () => {
  for (const [group, subs] of [['charrnn', ['train', 'sample']], ['sentiment', ['train', 'eval', 'predict']]] as const) {
    for (const h of ['--help', '-h', 'help']) {
      const r = cli([group, h]);
      assert.equal(r.status, 0, `${group} ${h}: ${r.stderr}`);
      assert.match(r.stdout, new RegExp(`^Usage: rnnkit ${group} <${subs.join('\\|')}>`), `${group} ${h}`);
      for (const s of subs) assert.match(r.stdout, new RegExp(`^  ${s} `, 'm'), `${group} ${h} lists ${s}`);
    }
    const bad = cli([group, 'trian']);
    assert.equal(bad.status, 2, `${group} trian`); // a usage error
    assert.match(bad.stderr, new RegExp(`^rnnkit: ${group}: expected .*got 'trian' \\(rnnkit ${group} --help\\)\\n$`), bad.stderr);
    const none = cli([group]);
    assert.equal(none.status, 2);
    assert.match(none.stderr, /got nothing/);
  }
});
