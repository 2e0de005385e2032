// torchStateDict and encodeTorchFile: a rnnkit model's weights as PyTorch's state_dict, and as a
// file torch.load reads. The way back of loadTorchWeights: the three PyTorch models of
// test/golden/torch_weights.json, loaded, must give back PyTorch's own state_dict — its names, in
// its order, its shapes and values; and the file written from one of them must be, byte for byte,
// test/golden/torch-files/written-by-rnnkit.pt, which tools/golden/make_torch_files_golden.py
// read back with torch.load and load_state_dict(strict=True) (torch_files.json lists it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import * as rnn from '../src/browser.js';
import { saveModel } from '../src/index.js';
import { crc32 } from '../src/models/torch-export.js';
import { caseNamed, golden, MODELS } from './torch-models.js';

const f32State = (name: string): Record<string, rnn.TorchTensor> =>
  Object.fromEntries(Object.entries(caseNamed(name).state).map(([k, v]) => [k, { shape: v.shape, data: Float32Array.from(v.data) }]));

for (const c of golden.cases) {
  test(`torchStateDict: PyTorch's ${c.name}, loaded, gives back its state_dict (names in order, shapes, values)`, () => {
    const spec = MODELS[c.name]!, m = spec.make();
    const report = rnn.loadTorchWeights(m, c.state);
    const sd = rnn.torchStateDict(m, { map: Object.fromEntries(report.loaded.map((r) => [r.layer, r.module])) });
    assert.deepEqual(sd.modules, report.loaded);
    assert.deepEqual(Object.keys(sd.state), Object.keys(c.state));
    for (const [k, want] of Object.entries(c.state)) {
      assert.deepEqual(sd.state[k]!.shape, want.shape, `${k}: shape`);
      assert.ok(sd.state[k]!.data instanceof Float32Array);
      assert.deepEqual([...sd.state[k]!.data], want.data.map(Math.fround), `${k}: values`);
    }
  });
}

test('torchStateDict: without map each layer is its own module, named after it (a stacked layer its own l0)', () => {
  const m = MODELS['lstm-bidirectional-stacked']!.make();
  m.build(m.inputShape!);
  const [emb, l0, l1, dense] = m.allLayers().map((l) => l.name);
  const sd = rnn.torchStateDict(m);
  assert.deepEqual(sd.modules.map((x) => x.module), [emb, l0, l1, dense]);
  assert.deepEqual(Object.keys(sd.state).slice(0, 2), [`${emb}.weight`, `${l0}.weight_ih_l0`]);
  assert.ok(`${l1}.weight_hh_l0_reverse` in sd.state);
  assert.deepEqual(sd.state[`${dense}.weight`]!.shape, [7, 32]);
  // nn.Linear's weight is the Dense kernel transposed.
  const [kernel] = m.getLayer(dense).getWeights();
  const w = sd.state[`${dense}.weight`]!.data;
  for (let k = 0; k < 32; k++) for (let u = 0; u < 7; u++) assert.equal(w[u * 32 + k], kernel!.data[k * 7 + u]);
});

test('torchStateDict: refusals name the layer and the module', () => {
  const m = MODELS['lstm-bidirectional-stacked']!.make();
  m.build(m.inputShape!);
  const [emb, l0, l1, dense] = m.allLayers().map((l) => l.name);
  const refuse = (model: rnn.Sequential, map: Record<string, string>, pattern: RegExp) =>
    assert.throws(() => rnn.torchStateDict(model, { map }), (e: Error) => e instanceof rnn.TorchExportError && pattern.test(e.message), String(pattern));
  refuse(m, { nope: 'x' }, /map names layer 'nope', which the model does not have/);
  refuse(m, { [l0!]: 'rnn:l0', [l1!]: 'rnn:l0' }, new RegExp(`layers '${l0}' and '${l1}' both map to module 'rnn' as its sub-layer 0`));
  refuse(m, { [emb!]: 'head', [dense!]: 'head' }, new RegExp(`layers '${emb}' and '${dense}' both map to module 'head'`));
  refuse(m, { [l0!]: 'rnn', [dense!]: 'rnn' }, new RegExp(`layers '${l0}' and '${dense}' both map to module 'rnn'`));
  refuse(m, { [dense!]: 'head:l1' }, new RegExp(`layer '${dense}' is no recurrent layer; only those are sub-layers`));
  refuse(m, { [dense!]: 'my head' }, /'my head' is no PyTorch module name/);
  const gru = rnn.sequential({ inputShape: [null, 3], layers: [rnn.layers.gru({ units: 4, resetAfter: false })] });
  gru.build(gru.inputShape!);
  refuse(gru, {}, /a GRU with resetAfter: false has no PyTorch counterpart/);
  // A stacked module's sub-layers: 'rnn' (= rnn:l0) and 'rnn:l1'.
  const sd = rnn.torchStateDict(m, { map: { [l0!]: 'rnn', [l1!]: 'rnn:l1' } });
  assert.ok('rnn.weight_ih_l1_reverse' in sd.state && 'rnn.bias_hh_l0' in sd.state);
});

test('encodeTorchFile: the tagger\'s state_dict written byte for byte as the file torch.load read (written-by-rnnkit.pt); it decodes back, float64 too', () => {
  const bytes = rnn.encodeTorchFile(f32State('lstm-bidirectional-stacked'), { archive: 'written-by-rnnkit' });
  const want = new Uint8Array(readFileSync(new URL('../../test/golden/torch-files/written-by-rnnkit.pt', import.meta.url)));
  assert.equal(bytes.length, want.length);
  assert.ok(Buffer.from(bytes).equals(Buffer.from(want)), 'the bytes torch.load read');
  // Every entry's data 64-byte aligned, as PyTorch's writer aligns them.
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let entries = 0;
  for (let p = 0; dv.getUint32(p, true) === 0x04034b50; entries++) {
    const data = p + 30 + dv.getUint16(p + 26, true) + dv.getUint16(p + 28, true);
    assert.equal(data % 64, 0, `entry ${entries}`);
    p = data + dv.getUint32(p + 18, true);
  }
  assert.equal(entries, 19 + 3, 'data.pkl, byteorder, 19 storages, version');
  const back = rnn.decodeTorchFile(bytes);
  assert.deepEqual(Object.keys(back.tensors), Object.keys(caseNamed('lstm-bidirectional-stacked').state));
  const f64 = rnn.encodeTorchFile({ a: { shape: [2, 2], data: new Float64Array([0.1, -2, 3e-300, 4]) }, s: { shape: [], data: new Float32Array([7]) } });
  const d = rnn.decodeTorchFile(f64).tensors;
  assert.equal(d.a!.dtype, 'float64');
  assert.deepEqual([...d.a!.data], [0.1, -2, 3e-300, 4]);
  assert.deepEqual(d.s!.shape, []);
  assert.deepEqual([...d.s!.data], [7]);
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926); // the CRC-32 check value
  assert.throws(() => rnn.encodeTorchFile({ x: { shape: [2], data: new Int32Array(2) as unknown as Float32Array } }), /tensor 'x': a Float32Array or Float64Array, got Int32Array/);
  assert.throws(() => rnn.encodeTorchFile({ x: { shape: [3], data: new Float32Array(2) } }), /tensor 'x' needs a shape and shape-many values, got shape \[3\] and 2 values/);
  assert.throws(() => rnn.encodeTorchFile({}, { archive: 'a/b' }), /archive 'a\/b' must be a plain folder name/);
});

test('CLI: rnnkit export --format torch writes a saved model\'s weights as a PyTorch state_dict file (--map merges stacked layers)', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-torch-export-'));
  const cli = (args: string[]) => spawnSync(process.execPath, ['dist/src/cli/main.js', ...args], { encoding: 'utf8' });
  try {
    const c = caseNamed('lstm-bidirectional-stacked'), m = MODELS[c.name]!.make();
    rnn.loadTorchWeights(m, c.state);
    await saveModel(m, join(dir, 'm'));
    const [, l0, l1] = m.allLayers().map((l) => l.name);
    const r = cli(['export', '--model', join(dir, 'm'), '--format', 'torch', '--out', join(dir, 'tagger.pt'), '--map', `${l0}=lstm:l0`, '--map', `${l1}=lstm:l1`]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /tagger\.pt: PyTorch state_dict, 19 tensors, 10,951 weights \(embedding\S* -> embedding\S*, bidirectional\S* -> lstm:l0, bidirectional\S* -> lstm:l1, dense\S* -> dense\S*\)\n$/);
    const back = rnn.decodeTorchFile(new Uint8Array(readFileSync(join(dir, 'tagger.pt'))));
    const lstmKeys = Object.keys(back.tensors).filter((k) => k.startsWith('lstm.'));
    assert.deepEqual(lstmKeys, Object.keys(c.state).filter((k) => k.startsWith('lstm.')));
    for (const k of lstmKeys) assert.deepEqual([...back.tensors[k]!.data], c.state[k]!.data.map(Math.fround), k);
    const bad = cli(['export', '--model', join(dir, 'm'), '--format', 'torch', '--out', join(dir, 'x.pt'), '--map', `${l0}=rnn:l0`, '--map', `${l1}=rnn:l0`]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /both map to module 'rnn' as its sub-layer 0/);
    const onnxMap = cli(['export', '--model', join(dir, 'm'), '--out', join(dir, 'x.onnx'), '--map', 'a=b']);
    assert.equal(onnxMap.status, 2);
    assert.match(onnxMap.stderr, /--map is for --format torch/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
