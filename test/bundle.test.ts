// Model bundles: round trips, every kind of corruption naming the file, atomic replacement under
// injected failures, concurrent saves, checkpoints.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, mkdir, readdir, readFile, rm, symlink, truncate, writeFile, open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  BundleError, FORMAT_VERSION, loadBundle, loadCheckpoint, saveBundle, saveCheckpoint,
  type Bundle, type LoadOptions, type SaveStep,
} from '../src/models/node/bundle.js';

const FAST = { fsync: false };

async function scratch(): Promise<string> {
  return mkdtemp(join(tmpdir(), 'rnnkit-bundle-'));
}

function makeBundle(seed = 1): Bundle {
  return {
    manifest: {
      format: 'rnnkit-model', formatVersion: FORMAT_VERSION, createdBy: 'rnnkit test',
      architecture: { kind: 'lstm', hidden: 3, layers: [{ name: 'lstm', shape: [4, 3] }] },
      seed,
    },
    weights: {
      'lstm.weight': { dtype: 'F32', shape: [4, 3], data: Float32Array.from({ length: 12 }, (_, i) => i * 0.25 + seed) },
      'lstm.bias': { dtype: 'F64', shape: [4], data: new Float64Array([seed, -1, 0.5, 1e-9]) },
      'head.empty': { dtype: 'F32', shape: [0, 3], data: new Float32Array(0) },
      'vocab.ids': { dtype: 'I32', shape: [3], data: new Int32Array([7, 8, 9]) },
    },
    optimizer: {
      tensors: {
        'adam.m': { dtype: 'F64', shape: [2], data: new Float64Array([0.1, seed]) },
        'adam.step': { dtype: 'I64', shape: [], data: new BigInt64Array([BigInt(seed * 100)]) },
      },
      metadata: { optimizer: 'adam', lr: '0.001' },
    },
    extraFiles: {
      'vocab.json': JSON.stringify({ a: 0, b: 1, 'é': 2 }),
      'notes.bin': new Uint8Array([0, 255, seed]),
    },
  };
}

/** Assert that `fn` rejects with a BundleError whose message names `file` and matches `pattern`. */
async function rejectsNaming(fn: () => Promise<unknown>, file: string, pattern: RegExp): Promise<void> {
  await assert.rejects(fn, (e: unknown) => {
    assert.ok(e instanceof BundleError, `expected BundleError, got ${String(e)}`);
    assert.ok(e.message.startsWith(file), `message should start with ${file}: ${e.message}`);
    assert.equal(e.file, file);
    assert.match(e.message, pattern);
    return true;
  });
}

/** Entries of `parent` that are leftover temp or backup directories. */
async function leftovers(parent: string): Promise<string[]> {
  return (await readdir(parent)).filter((n) => n.includes('.tmp-') || n.includes('.old-'));
}

async function patch(path: string, f: (b: Buffer) => void): Promise<void> {
  const b = await readFile(path);
  f(b);
  await writeFile(path, b);
}

test('round trip: manifest, weights of every dtype, optimizer state, extra files', async () => {
  const root = await scratch();
  const dir = join(root, 'model');
  const b = makeBundle();
  await saveBundle(dir, b);
  assert.deepEqual((await readdir(dir)).sort(),
    ['checksums.json', 'model.json', 'notes.bin', 'optimizer.safetensors', 'vocab.json', 'weights.safetensors']);
  const loaded = await loadBundle(dir);
  assert.deepEqual(loaded.manifest, b.manifest);
  assert.deepEqual(loaded.weights, b.weights);
  assert.deepEqual(loaded.optimizer, b.optimizer);
  assert.deepEqual(loaded.extraFiles, b.extraFiles);
  assert.deepEqual(await leftovers(root), []);

  // Minimal bundle: no optimizer, no extras.
  const minimal = join(root, 'minimal');
  await saveBundle(minimal, { manifest: b.manifest, weights: {} }, FAST);
  const m = await loadBundle(minimal);
  assert.deepEqual(m, { manifest: b.manifest, weights: {} });
  await rm(root, { recursive: true });
});

test('saving over an existing bundle replaces it completely and leaves nothing behind', async () => {
  const root = await scratch();
  const dir = join(root, 'model');
  await saveBundle(dir, makeBundle(1), FAST);
  const second = makeBundle(2);
  delete second.optimizer;
  delete second.extraFiles;
  await saveBundle(dir, second, FAST);
  assert.deepEqual((await readdir(dir)).sort(), ['checksums.json', 'model.json', 'weights.safetensors']);
  const loaded = await loadBundle(dir);
  assert.equal(loaded.manifest.seed, 2);
  assert.equal(loaded.optimizer, undefined);
  assert.deepEqual(await readdir(root), ['model']);
  await rm(root, { recursive: true });
});

test('corruption and version errors name the file', async () => {
  const root = await scratch();
  const fresh = async (name: string): Promise<string> => {
    const dir = join(root, name);
    await saveBundle(dir, makeBundle(), FAST);
    return dir;
  };
  const unchecked: LoadOptions = { verifyChecksums: false };

  // Truncated by one byte: caught by the recorded size, and by the safetensors layout check without checksums.
  let dir = await fresh('trunc');
  let w = join(dir, 'weights.safetensors');
  const size = (await readFile(w)).length;
  await truncate(w, size - 1);
  await rejectsNaming(() => loadBundle(dir), w, new RegExp(`truncated: expected ${size} bytes, found ${size - 1}`));
  await rejectsNaming(() => loadBundle(dir, unchecked), w, /extend past the end of the data .* file truncated/);

  // One flipped bit in the tensor data: only the checksum can tell.
  dir = await fresh('flip');
  w = join(dir, 'weights.safetensors');
  await patch(w, (b) => { b[b.length - 5]! ^= 0x01; });
  await rejectsNaming(() => loadBundle(dir), w, /checksum mismatch/);

  // Optimizer and extra files are verified too.
  dir = await fresh('flip-extra');
  await patch(join(dir, 'vocab.json'), (b) => { b[0] = 0x5b; });
  await rejectsNaming(() => loadBundle(dir), join(dir, 'vocab.json'), /checksum mismatch/);
  dir = await fresh('flip-opt');
  await patch(join(dir, 'optimizer.safetensors'), (b) => { b[b.length - 1]! ^= 0x80; });
  await rejectsNaming(() => loadBundle(dir), join(dir, 'optimizer.safetensors'), /checksum mismatch/);

  // Bad header length (absurd and too large), bad header JSON, wrong shape, wrong offsets.
  dir = await fresh('hdr');
  w = join(dir, 'weights.safetensors');
  const original = await readFile(w);
  const variants: Array<[(b: Buffer) => void, RegExp]> = [
    [(b) => { b[7] = 0x10; }, /header size \d+ is absurd/],
    [(b) => { b.writeBigUInt64LE(BigInt(b.length), 0); }, /larger than the rest of the file/],
    [(b) => { b[9] = 0x7b; }, /header is not valid JSON/], // {"… -> {{…
    [(b) => { replaceAscii(b, '"shape":[4,3]', '"shape":[3,4]'); }, null as unknown as RegExp],
    [(b) => { replaceAscii(b, '"shape":[4]', '"shape":[5]'); }, /shape \[5\] of F64 needs 40 bytes but data_offsets \[\d+, \d+\] span 32/],
    [(b) => { replaceAscii(b, '"data_offsets":[0,32]', '"data_offsets":[8,40]'); }, /data_offsets/],
  ];
  for (const [mutate, pattern] of variants) {
    const b = Buffer.from(original);
    mutate(b);
    await writeFile(w, b);
    await rejectsNaming(() => loadBundle(dir), w, /checksum mismatch/);
    if (pattern) await rejectsNaming(() => loadBundle(dir, unchecked), w, pattern);
    else await loadBundle(dir, unchecked); // a transposed but consistent shape is still a valid file
  }

  // Manifest problems.
  dir = await fresh('manifest');
  const mf = join(dir, 'model.json');
  await writeFile(mf, '{"format": "rnnkit-model", ');
  await rejectsNaming(() => loadBundle(dir), mf, /not valid JSON/);
  await writeFile(mf, JSON.stringify({ format: 'keras', formatVersion: 1 }));
  await rejectsNaming(() => loadBundle(dir), mf, /not an rnnkit model: "format" is "keras"/);
  await writeFile(mf, JSON.stringify({ format: 'rnnkit-model', formatVersion: FORMAT_VERSION + 1, createdBy: 'future' }));
  await rejectsNaming(() => loadBundle(dir), mf,
    new RegExp(`saved by a newer rnnkit \\(format ${FORMAT_VERSION + 1}\\); this version reads up to ${FORMAT_VERSION}$`));
  await writeFile(mf, JSON.stringify({ format: 'rnnkit-model', formatVersion: '1' }));
  await rejectsNaming(() => loadBundle(dir), mf, /"formatVersion" must be a positive integer/);

  // Missing pieces.
  await rejectsNaming(() => loadBundle(join(root, 'nope')), join(root, 'nope'), /model bundle directory not found$/);
  dir = await fresh('missing');
  await rm(join(dir, 'weights.safetensors'));
  await rejectsNaming(() => loadBundle(dir), join(dir, 'weights.safetensors'), /missing from the model bundle/);
  await rm(join(dir, 'checksums.json'));
  await rejectsNaming(() => loadBundle(dir), join(dir, 'checksums.json'), /missing .* verifyChecksums: false/);
  await rm(join(dir, 'model.json'));
  await rejectsNaming(() => loadBundle(dir, unchecked), join(dir, 'model.json'), /missing from the model bundle/);

  // A tampered index cannot point outside the bundle.
  dir = await fresh('index');
  const cj = join(dir, 'checksums.json');
  const idx = JSON.parse(await readFile(cj, 'utf8'));
  idx.files['../../etc/passwd'] = { sha256: '0'.repeat(64), bytes: 1 };
  await writeFile(cj, JSON.stringify(idx));
  await rejectsNaming(() => loadBundle(dir), cj, /invalid file name "..\/..\/etc\/passwd"/);
  const text = await readFile(cj, 'utf8');
  await writeFile(cj, text.replace(/"files":\s*\{/, `"files": {"__proto__": {"sha256": "${'0'.repeat(64)}", "bytes": 1},`));
  await rejectsNaming(() => loadBundle(dir), cj, /invalid file name "__proto__"/);
  await writeFile(cj, '[]');
  await rejectsNaming(() => loadBundle(dir), cj, /expected \{ "algorithm": "sha256"/);
  await rm(root, { recursive: true });
});

function replaceAscii(b: Buffer, from: string, to: string): void {
  assert.equal(from.length, to.length);
  const at = b.indexOf(from);
  assert.ok(at >= 0, `${from} not in header`);
  b.write(to, at, 'latin1');
}

test('non-finite weights are refused, naming tensor and index', async () => {
  const root = await scratch();
  const dir = join(root, 'nan');
  const b = makeBundle();
  (b.weights['lstm.weight']!.data as Float32Array)[5] = NaN;
  await saveBundle(dir, b, FAST);
  const w = join(dir, 'weights.safetensors');
  await rejectsNaming(() => loadBundle(dir), w, /tensor "lstm.weight" has a non-finite value \(NaN\) at flat index 5 of 12/);
  const loaded = await loadBundle(dir, { allowNonFinite: true });
  assert.ok(Number.isNaN(loaded.weights['lstm.weight']!.data[5]));

  const opt = join(root, 'inf');
  const b2 = makeBundle();
  b2.optimizer!.tensors['adam.m'] = { dtype: 'F64', shape: [2], data: new Float64Array([0, -Infinity]) };
  await saveBundle(opt, b2, FAST);
  await rejectsNaming(() => loadBundle(opt), join(opt, 'optimizer.safetensors'), /"adam.m" has a non-finite value \(-Infinity\) at flat index 1/);
  await rm(root, { recursive: true });
});

test('size limit is enforced before reading', async () => {
  const root = await scratch();
  const dir = join(root, 'big');
  await saveBundle(dir, makeBundle(), FAST);
  await assert.rejects(() => loadBundle(dir, { maxBytes: 100 }), /exceeds the size limit of 100 bytes/);
  // A 64 GiB sparse weights file is refused under the default 2 GiB limit without being read: a
  // loader that read before checking would fail on allocating the buffer, with another message.
  const w = join(dir, 'weights.safetensors');
  const fh = await open(w, 'r+');
  await fh.truncate(64 * 1024 ** 3);
  await fh.close();
  await rejectsNaming(() => loadBundle(dir, { verifyChecksums: false }), w, /exceeds the size limit of 2147483648 bytes \(this file is 68719476736 bytes\)/);
  await rm(root, { recursive: true });
});

test('a failure at any step of a save leaves the previous bundle intact and no temp directories', async () => {
  const steps: Array<(s: SaveStep) => boolean> = [
    (s) => s.kind === 'write' && s.file === 'weights.safetensors',
    (s) => s.kind === 'write' && s.file === 'model.json',
    (s) => s.kind === 'write' && s.file === 'checksums.json',
    (s) => s.kind === 'commit',
    (s) => s.kind === 'swap', // old bundle already moved aside: must be put back
  ];
  for (const [i, failAt] of steps.entries()) {
    const root = await scratch();
    const dir = join(root, 'model');
    const old = makeBundle(1);
    await saveBundle(dir, old, FAST);
    const seen: string[] = [];
    await assert.rejects(
      () => saveBundle(dir, makeBundle(2), {
        ...FAST,
        onStep: (s) => {
          seen.push(s.kind);
          if (failAt(s)) throw new Error(`injected failure ${i}`);
        },
      }),
      (e: unknown) => e instanceof BundleError && e.file === dir && e.message.includes(`injected failure ${i}`),
    );
    const loaded = await loadBundle(dir);
    assert.equal(loaded.manifest.seed, 1, `step ${i}: previous bundle intact`);
    assert.deepEqual(loaded.weights, old.weights);
    assert.deepEqual(await readdir(root), ['model'], `step ${i}: nothing left behind (${seen.join(',')})`);
    await rm(root, { recursive: true });
  }

  // A failing first save leaves no directory at all.
  const root = await scratch();
  await assert.rejects(() => saveBundle(join(root, 'm'), makeBundle(), { ...FAST, onStep: (s) => { if (s.kind === 'commit') throw new Error('boom'); } }));
  assert.deepEqual(await readdir(root), []);
  await rm(root, { recursive: true });
});

test('invalid input is rejected before touching the disk; non-bundle directories are never replaced', async () => {
  const root = await scratch();
  const dir = join(root, 'model');
  await saveBundle(dir, makeBundle(1), FAST);
  const bad = makeBundle(2);
  bad.weights['w'] = { dtype: 'F32', shape: [2], data: new Float32Array(3) };
  await rejectsNaming(() => saveBundle(dir, bad, FAST), join(dir, 'weights.safetensors'), /shape \[2\] has 2 elements but data has 3/);
  const newer = makeBundle(2);
  newer.manifest.formatVersion = FORMAT_VERSION + 1;
  await rejectsNaming(() => saveBundle(dir, newer, FAST), join(dir, 'model.json'), /formatVersion/);
  const badName = makeBundle(2);
  badName.extraFiles = { '../escape.txt': 'x' };
  await rejectsNaming(() => saveBundle(dir, badName, FAST), join(root, 'escape.txt'), /invalid extra file name/);
  const reserved = makeBundle(2);
  reserved.extraFiles = { 'model.json': '{}' };
  await assert.rejects(() => saveBundle(dir, reserved, FAST), /invalid extra file name "model.json"/);
  assert.equal((await loadBundle(dir)).manifest.seed, 1);
  assert.deepEqual(await readdir(root), ['model']);

  // A directory holding something else (here: user files) is refused, and left untouched.
  const home = join(root, 'home');
  await mkdir(home);
  await writeFile(join(home, 'thesis.txt'), 'precious');
  await rejectsNaming(() => saveBundle(home, makeBundle(), FAST), home, /not an rnnkit bundle .* refusing to replace it/);
  assert.equal(await readFile(join(home, 'thesis.txt'), 'utf8'), 'precious');
  await writeFile(join(root, 'file'), 'x');
  await rejectsNaming(() => saveBundle(join(root, 'file'), makeBundle(), FAST), join(root, 'file'), /not a directory/);
  // An existing empty directory is fine.
  await mkdir(join(root, 'empty'));
  await saveBundle(join(root, 'empty'), makeBundle(3), FAST);
  assert.equal((await loadBundle(join(root, 'empty'))).manifest.seed, 3);
  assert.deepEqual(await leftovers(root), []);
  await rm(root, { recursive: true });
});

test('concurrent saves use distinct temp names; the last one to land wins, complete', async () => {
  const root = await scratch();
  const dir = join(root, 'model');
  const tmpNames = new Set<string>();
  const seeds = [1, 2, 3, 4, 5, 6, 7, 8];
  await Promise.all(seeds.map((seed) => saveBundle(dir, makeBundle(seed), {
    ...FAST,
    onStep: (s) => { if (s.kind === 'commit') tmpNames.add(s.tempDir); },
  })));
  assert.equal(tmpNames.size, seeds.length);
  const loaded = await loadBundle(dir);
  const seed = loaded.manifest.seed as number;
  assert.ok(seeds.includes(seed));
  assert.deepEqual(loaded.weights, makeBundle(seed).weights);
  assert.deepEqual(await readdir(root), ['model']);

  // Different bundles in the same parent, in parallel.
  await Promise.all(seeds.map((s) => saveBundle(join(root, `m${s}`), makeBundle(s), FAST)));
  for (const s of seeds) assert.equal((await loadBundle(join(root, `m${s}`))).manifest.seed, s);
  assert.deepEqual(await leftovers(root), []);
  await rm(root, { recursive: true });
});

test('checkpoints: last and best kept side by side; interrupted-save hint', async () => {
  const root = await scratch();
  const ck = join(root, 'ckpt');
  assert.equal(await saveCheckpoint(ck, 'last', makeBundle(1), FAST), join(ck, 'last'));
  await saveCheckpoint(ck, 'best', makeBundle(1), FAST);
  await saveCheckpoint(ck, 'last', makeBundle(2), FAST);
  // A crash while saving "last" again must not lose the previous "last".
  await assert.rejects(() => saveCheckpoint(ck, 'last', makeBundle(3), { ...FAST, onStep: (s) => { if (s.kind === 'swap') throw new Error('power cut'); } }));
  assert.equal((await loadCheckpoint(ck, 'last')).manifest.seed, 2);
  assert.equal((await loadCheckpoint(ck, 'best')).manifest.seed, 1);
  assert.deepEqual((await readdir(ck)).sort(), ['best', 'last']);
  await assert.rejects(() => saveCheckpoint(ck, '../escape', makeBundle(), FAST), /invalid checkpoint name/);
  await assert.rejects(() => loadCheckpoint(ck, '.hidden'), /invalid checkpoint name/);

  // Simulate a process killed between the two renames: the old bundle sits under its backup name.
  const { rename } = await import('node:fs/promises');
  const backup = join(ck, `.last.old-999-abcdef`);
  await rename(join(ck, 'last'), backup);
  await rejectsNaming(() => loadCheckpoint(ck, 'last'), join(ck, 'last'), /interrupted save left the previous bundle at .*\.last\.old-999-abcdef/);
  await rm(root, { recursive: true });
});

test('a bundle whose directory cannot be made fails at once with its reason (Node\'s recursive mkdir spins forever on these): under /proc, below a dangling symlink, below a file; nested parents are made', async () => {
  const dir = await scratch();
  try {
    const cases: [string, RegExp][] = [
      ['/proc/rnnkit-no/run', /best: cannot create the directory \/proc\/rnnkit-no\/run: no such file or directory$/],
      [join(dir, 'dangling', 'run'), /best: cannot create the directory .*dangling\/run: a part of the path is not a directory$/],
      [join(dir, 'file', 'run'), /best: cannot create the directory .*file\/run: a part of the path is not a directory$/],
    ];
    await symlink(join(dir, 'nowhere'), join(dir, 'dangling'));
    await writeFile(join(dir, 'file'), 'x');
    for (const [target, want] of cases) {
      const t0 = Date.now();
      await assert.rejects(saveBundle(join(target, 'best'), makeBundle(), FAST), (e: Error) => e instanceof BundleError && want.test(e.message), target);
      assert.ok(Date.now() - t0 < 2000, `${target}: ${Date.now() - t0} ms`);
    }
    const nested = join(dir, 'a', 'b', 'c', 'best');
    await saveBundle(nested, makeBundle(3), FAST);
    assert.equal((await loadBundle(nested)).manifest.seed, 3);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
