// Files torch.save wrote (test/golden/torch-files/, made and read back by PyTorch in
// tools/golden/make_torch_files_golden.py): the state_dict, a training checkpoint, pickle
// protocol 4, the legacy format, a whole module, TorchScript modules (scripted, traced; their
// archives compress their code), two state_dicts in one dict, archives written by Python's
// zipfile (big-endian; a GPU model's storages); and a file of every dtype and views.
// decodeTorchFile must read the very values PyTorch reads, and loadTorchWeights must make the
// models predict what PyTorch computed, through the API and through the CLI (rnnkit tensors,
// rnnkit convert --torch); damaged files and wrong options are refused by name.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as rnn from '../src/browser.js';
import { assertPredictsGolden, caseNamed, MODELS } from './torch-models.js';

interface FileCase {
  file: string;
  how: string;
  case?: string;
  entry?: string;
  states?: string[];
  tensors?: Record<string, { dtype: string; shape: number[]; data: number[] }>;
}
const manifest = JSON.parse(readFileSync(new URL('../../test/golden/torch_files.json', import.meta.url), 'utf8')) as { files: FileCase[] };
// (A plain Uint8Array copy: a Buffer's slice() would be a view, and the damage tests change copies.)
const bytesOf = (file: string): Uint8Array => new Uint8Array(readFileSync(new URL(`../../test/golden/torch-files/${file}`, import.meta.url)));
const fileNamed = (file: string): FileCase => manifest.files.find((f) => f.file === file)!;

test('decodeTorchFile: every model file gives the state_dict PyTorch reads from it, in its order', () => {
  const withCase = manifest.files.filter((f) => f.case);
  assert.ok(withCase.length >= 7, 'the manifest lists the model files');
  for (const f of withCase) {
    const state = caseNamed(f.case!).state;
    const options = f.states ? { entry: f.entry! } : {};
    const got = rnn.decodeTorchFile(bytesOf(f.file), { source: f.file, ...options });
    assert.equal(got.format, f.file.includes('legacy') ? 'legacy' : 'zip', f.file);
    assert.equal(got.entry, f.entry ?? null, `${f.file}: the key the state_dict was under`);
    assert.deepEqual(Object.keys(got.tensors), Object.keys(state), `${f.file}: the state_dict's names in its order`);
    for (const [k, want] of Object.entries(state)) {
      const t = got.tensors[k]!;
      assert.equal(t.dtype, 'float32', `${f.file} ${k}`);
      assert.deepEqual(t.shape, want.shape, `${f.file} ${k}: shape`);
      assert.ok(t.data instanceof Float32Array);
      assert.deepEqual([...t.data], want.data.map(Math.fround), `${f.file} ${k}: values`);
    }
  }
});

test('decodeTorchFile: float16, bfloat16, float64, integer and bool tensors, a transpose, rows and a column of one storage, a scalar and an empty tensor', () => {
  const f = fileNamed('tensors.pt');
  const got = rnn.decodeTorchFile(bytesOf(f.file));
  assert.deepEqual(Object.keys(got.tensors), Object.keys(f.tensors!));
  for (const [k, want] of Object.entries(f.tensors!)) {
    const t = got.tensors[k]!;
    assert.equal(t.dtype, want.dtype, k);
    assert.deepEqual(t.shape, want.shape, `${k}: shape`);
    assert.deepEqual([...t.data], want.data, `${k}: values`);
  }
  // The views really are views in the file: 'rows' and 'column' share 'shared''s values.
  const shared = got.tensors.shared!.data;
  assert.deepEqual([...got.tensors.column!.data], [0, 1, 2, 3].map((r) => shared[r * 6 + 2]));
  assert.deepEqual([...got.tensors.rows!.data], [...shared.subarray(6, 18)]);
});

for (const f of manifest.files.filter((x) => x.case)) {
  test(`loadTorchWeights: ${f.file} (${f.how}) makes the model predict what PyTorch computed`, () => {
    const c = caseNamed(f.case!), spec = MODELS[c.name]!;
    const m = spec.make();
    const report = rnn.loadTorchWeights(m, bytesOf(f.file), { source: f.file, ...(f.states ? { entry: f.entry! } : {}) });
    assert.deepEqual(report.loaded.map((r) => r.module), spec.modules);
    assertPredictsGolden(m, c, f.file, assert.ok);
  });
}

test('loadTorchWeights: a checkpoint\'s state_dict is found without being named; entry chooses between two and is checked', () => {
  const ckpt = bytesOf('gru-classifier.checkpoint.pt'), gru = MODELS['gru-last-step']!;
  // Found: the one entry of the checkpoint that is a state_dict (the optimizer's state is not).
  assert.equal(rnn.decodeTorchFile(ckpt).entry, 'model_state_dict');
  const refuse = (bytes: Uint8Array, pattern: RegExp, options: rnn.LoadTorchWeightsOptions) => {
    const m = gru.make();
    assert.throws(() => rnn.loadTorchWeights(m, bytes, options), (e: Error) => pattern.test(e.message), String(pattern));
  };
  refuse(ckpt, /ckpt\.pt: option entry 'nope' is not a key of the saved dict \(its keys: "epoch", "model_state_dict", "optimizer_state_dict", "loss", "args"\)/, { entry: 'nope', source: 'ckpt.pt' });
  refuse(ckpt, /entry 'epoch' holds the number 7, not a state_dict/, { entry: 'epoch' });
  refuse(ckpt, /entry 'optimizer_state_dict' holds a dict of 2, not a state_dict/, { entry: 'optimizer_state_dict' });
  // Two state_dicts: refused until named (the file's other test names 'ema').
  const two = bytesOf('relu-rnn.two-states.pt');
  assert.throws(() => rnn.decodeTorchFile(two), (e: Error) => e instanceof rnn.TorchFileError && /holds 2 state_dicts \('model', 'ema'\); say which with the option entry/.test(e.message));
  assert.equal(rnn.decodeTorchFile(two, { entry: 'model' }).entry, 'model');
  // entry is for torch.save files only.
  assert.throws(() => rnn.loadTorchWeights(gru.make(), caseNamed('gru-last-step').state, { entry: 'model' }), /option entry is for a file torch\.save wrote/);
});

test('loadTorchWeights: integer tensors are refused as weights', () => {
  const m = rnn.sequential({ inputShape: [null, 4], layers: [rnn.layers.dense({ units: 2 })] });
  assert.throws(() => rnn.loadTorchWeights(m, bytesOf('tensors.pt'), { source: 'tensors.pt' }),
    (e: Error) => e instanceof rnn.TorchWeightsError && /tensors\.pt: tensor 'int64' is int64; weights must be float32, float64, float16 or bfloat16/.test(e.message));
});

/** The offset of zip entry `name`'s data (through its central directory record) and of that record. */
function entryAt(bytes: Uint8Array, name: string): { record: number; data: number } {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  for (let p = 0; p + 46 < bytes.length; p++) {
    if (dv.getUint32(p, true) !== 0x02014b50) continue;
    const n = dv.getUint16(p + 28, true);
    if (new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + n)) !== name) continue;
    const local = dv.getUint32(p + 42, true);
    return { record: p, data: local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true) };
  }
  throw new Error(`no zip entry ${name}`);
}

test('decodeTorchFile: damaged files are refused, naming the file, the entry or the byte, and what was expected', () => {
  const good = bytesOf('lstm-tagger.pt');
  // The first entry torch.save writes is '<name>/data.pkl'.
  const pkl = new TextDecoder().decode(good.subarray(30, 30 + new DataView(good.buffer, good.byteOffset).getUint16(26, true)));
  assert.match(pkl, /^[^/]+\/data\.pkl$/);
  const prefix = pkl.slice(0, -'data.pkl'.length);
  const refuse = (bytes: Uint8Array, pattern: RegExp) =>
    assert.throws(() => rnn.decodeTorchFile(bytes, { source: 'm.pt' }), (e: Error) => e instanceof rnn.TorchFileError && e.message.startsWith('m.pt: ') && pattern.test(e.message), String(pattern));
  refuse(good.subarray(0, good.length - 30), /a zip archive without its end record .*truncated/);
  refuse(new TextEncoder().encode('{"weight": [1, 2]}'), /not a file torch\.save writes/);
  // An entry re-packed with compression (method 8, deflate).
  const deflated = good.slice();
  new DataView(deflated.buffer).setUint16(entryAt(deflated, pkl).record + 10, 8, true);
  refuse(deflated, new RegExp(`zip entry '${pkl.replace('.', '\\.')}' \\(the pickle\\) is compressed \\(method 8\\)`));
  // A byte of the pickle that is no instruction: its offset inside data.pkl is named.
  const bad = good.slice(), at = entryAt(bad, pkl).data;
  bad[at + 2] = 0xff;
  refuse(bad, new RegExp(`${pkl.replace('.', '\\.')}, byte 2: pickle instruction 0xff is not one torch\\.save writes`));
  // A storage missing from the archive: rename its entry.
  const renamed = good.slice(), rec = entryAt(renamed, `${prefix}data/0`).record;
  renamed[rec + 46 + `${prefix}data/0`.length - 1] = 'x'.charCodeAt(0);
  refuse(renamed, /storage '0' has no entry [^ ]+\/data\/0 in the archive/);
  // The legacy format cut inside its storages.
  const legacy = bytesOf('lstm-tagger.legacy.pt');
  refuse(legacy.subarray(0, legacy.length - 100), /storage '\d+' \(\d+ bytes\) runs past the end of the file: a truncated file\?/);
  refuse(legacy.subarray(0, 40), /legacy file, pickle \d, byte \d+: the pickle ends inside an instruction \(\d+ bytes short\)/);
  // (The first pickle, the magic number: PROTO 2, LONG1 of 10 bytes, then STOP at byte 14.)
  assert.equal(legacy[14], 0x2e);
  refuse(legacy.subarray(0, 14), /legacy file, pickle 1, byte 14: the pickle ends without its STOP instruction/);
});

test('CLI: rnnkit tensors lists a PyTorch file\'s tensors and modules; rnnkit convert --torch puts them into a saved model, which then predicts what PyTorch computed', async () => {
  const { mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawnSync } = await import('node:child_process');
  const { saveModel, loadModel } = await import('../src/index.js');
  const cli = (args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', ...args], { encoding: 'utf8' });
  const path = (f: string) => `test/golden/torch-files/${f}`;
  const t = cli(['tensors', path('lstm-tagger.pt')]);
  assert.equal(t.status, 0, t.stderr);
  assert.match(t.stdout, /^test\/golden\/torch-files\/lstm-tagger\.pt: torch\.save zip archive, the state_dict at its top: 19 tensors, 10,951 values\n/);
  assert.match(t.stdout, /^ {2}lstm\.weight_hh_l1_reverse +float32 +\[64, 16\]$/m);
  assert.match(t.stdout, /modules \(.*\): emb, lstm:l0, lstm:l1, head\n$/);
  const j = cli(['tensors', path('gru-classifier.checkpoint.pt'), '--json']);
  assert.equal(j.status, 0, j.stderr);
  const listed = JSON.parse(j.stdout) as { entry: string; tensors: { name: string; dtype: string; shape: number[] }[]; modules: { module: string }[] };
  assert.equal(listed.entry, 'model_state_dict');
  assert.deepEqual(listed.tensors.map((x) => x.name), Object.keys(caseNamed('gru-last-step').state));
  assert.deepEqual(listed.modules.map((m) => m.module), ['embedding', 'gru:l0', 'fc']);
  const two = cli(['tensors', path('relu-rnn.two-states.pt')]);
  assert.equal(two.status, 2);
  assert.match(two.stderr, /^rnnkit: test\/golden\/torch-files\/relu-rnn\.two-states\.pt: the saved dict holds 2 state_dicts \('model', 'ema'\)/);

  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-torch-cli-'));
  try {
    const c = caseNamed('lstm-bidirectional-stacked'), spec = MODELS[c.name]!;
    const fresh = spec.make();
    fresh.build(fresh.inputShape!);
    await saveModel(fresh, join(dir, 'arch'));
    const conv = cli(['convert', '--model', join(dir, 'arch'), '--torch', path('lstm-tagger.pt'), '--out', join(dir, 'out'), '--dtype', 'float32']);
    assert.equal(conv.status, 0, conv.stderr);
    assert.match(conv.stdout, /out: 10,951 weights as float32, from test\/golden\/torch-files\/lstm-tagger\.pt \(embedding\S* <- emb, bidirectional\S* <- lstm:l0, bidirectional\S* <- lstm:l1, dense\S* <- head\)\n$/);
    const m = await loadModel(join(dir, 'out'));
    assertPredictsGolden(m as rnn.Sequential, c, 'rnnkit convert --torch', assert.ok);
    // The wrong options are refused by name.
    const bad = (args: string[], pattern: RegExp) => {
      const r = cli(['convert', '--model', join(dir, 'arch'), '--out', join(dir, 'x'), ...args]);
      assert.equal(r.status, 2, r.stdout);
      assert.match(r.stderr, pattern);
    };
    bad(['--entry', 'model'], /--entry, --map and --allow-unused go with --torch <file>/);
    bad(['--torch', path('lstm-tagger.pt'), '--map', 'dense'], /--map: expected layer=module \(e\.g\. lstm_1=rnn:l1\), got 'dense'/);
    bad(['--torch', path('lstm-tagger.pt'), '--map', 'nope=head'], /map names layer 'nope', which the model does not have/);
    bad(['--torch', path('relu-rnn.protocol4.pt')], /loadTorchWeights: test\/golden\/torch-files\/relu-rnn\.protocol4\.pt: no module fits layer/);
    bad(['--torch', join(dir, 'missing.pt')], /missing\.pt: no such file or directory/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
