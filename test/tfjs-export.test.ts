// rnnkit -> TF.js: the models of tfjs-export-cases.ts exported to TF.js's layers format must be
// the files TF.js 4.22 loaded and ran when the goldens were made
// (tools/golden/make_tfjs_export_golden.mjs -> test/golden/tfjs-export/<case>/), and rnnkit must
// predict what TF.js predicted from them: hard-sigmoid and sigmoid gates, the GRU without
// resetAfter, bidirectional merges, masks, goBackwards, ReLU RNN, RepeatVector, LayerNorm, pooling.
// Then: the export read back by rnnkit's own importer, what TF.js cannot run refused, the CLI.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import * as rnn from '../src/index.js';
import { exportTfjs, TfjsExportError } from '../src/export/tfjs.js';
import { assertClose } from './helpers.js';
import { EXPORT_CASES } from './tfjs-export-cases.js';

const GOLDEN = 'test/golden/tfjs-export';

for (const c of EXPORT_CASES) {
  test(`exportTfjs ${c.name}: the files TF.js ran, and rnnkit predicts what TF.js predicted from them`, () => {
    const model = c.build();
    const { modelJson, weightData } = exportTfjs(model);
    assert.deepEqual(modelJson, JSON.parse(readFileSync(join(GOLDEN, c.name, 'model.json'), 'utf8')));
    assert.deepEqual([...weightData], [...readFileSync(join(GOLDEN, c.name, 'weights.bin'))]);
    const io = JSON.parse(readFileSync(join(GOLDEN, c.name, 'io.json'), 'utf8')) as { output: { shape: number[]; data: number[] } };
    let got: rnn.Tensor;
    const x = c.inputs ? c.inputs.map((i) => new rnn.Tensor(Float32Array.from(i.data), i.shape)) : new rnn.Tensor(Float32Array.from(c.input.data), c.input.shape);
    if (c.inputs) {
      got = model.predict(x);
    } else if (c.chunk) {
      // The state carried between calls, in rnnkit as in TF.js (B = 1).
      model.resetStates();
      const parts: number[] = [];
      for (let t = 0; t < c.input.shape[1]!; t += c.chunk) {
        const part = c.input.data.slice(t, t + c.chunk);
        parts.push(...model.predict(new rnn.Tensor(Float32Array.from(part), [1, part.length])).data);
      }
      got = new rnn.Tensor(Float32Array.from(parts), io.output.shape);
      model.resetStates();
    } else {
      got = model.predict(x);
    }
    assert.deepEqual(got.shape, io.output.shape);
    if (c.paddedIds) {
      // Padded steps: TF.js repeats the last output, rnnkit writes zeros; the real steps agree.
      const [Bn, Tn] = c.input.shape as [number, number], K = io.output.shape[2]!;
      const want: number[] = [], mine: number[] = [];
      for (let b = 0; b < Bn; b++) for (let t = 0; t < Tn; t++) {
        if (c.input.data[b * Tn + t] === 0) continue;
        for (let k = 0; k < K; k++) { want.push(io.output.data[(b * Tn + t) * K + k]!); mine.push(got.data[(b * Tn + t) * K + k]!); }
      }
      assertClose(mine, want, 2e-6, 1e-5, c.name);
    } else {
      assertClose(got.data, io.output.data, 2e-6, 1e-5, c.name);
    }
    // rnnkit's importer reads the export back: the same model.
    const back = rnn.modelFromTfjs(modelJson, weightData);
    model.resetStates();
    assertClose(back.predict(x).data, model.predict(x).data, 1e-7, 1e-6, `${c.name} read back`);
  });
}

test('exportTfjs refuses what TF.js cannot compute, naming the layer', () => {
  const built = (layers: rnn.Layer[], shape: (number | null)[]) => {
    const m = rnn.sequential({ inputShape: shape, layers });
    m.build(shape);
    return m;
  };
  assert.throws(() => exportTfjs(built([rnn.layers.gru({ units: 2, name: 'g' })], [null, 3])),
    (e: Error) => e instanceof TfjsExportError && e.message === "exportTfjs: layer 'g' (GRU): TF.js runs only the GRU that resets before the recurrent product: train with resetAfter: false");
  assert.throws(() => exportTfjs(built([rnn.layers.dense({ units: 2, activation: 'gelu', name: 'd' })], [3])), /layer 'd' \(Dense\): activation 'gelu' has no TF.js equivalent/);
  assert.throws(() => exportTfjs(built([rnn.layers.positionEncoding({ name: 'pos' })], [null, 4])), /layer 'pos' \(PositionEncoding\): TF.js has no layer that computes it/);
  const x = rnn.input({ shape: [null, 4] });
  assert.throws(() => exportTfjs(rnn.model({ inputs: x, outputs: rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 2, name: 'mha' }).apply([x, x]) })), /layer 'mha' \(MultiHeadAttention\): TF.js has no layer that computes it/);
});

test('CLI: rnnkit export --format tfjs writes model.json and weights.bin that rnnkit reads back', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'rnnkit-tfjs-out-'));
  try {
    const c = EXPORT_CASES[1]!;
    const model = c.build();
    await rnn.saveModel(model, join(dir, 'm'));
    const r = spawnSync(process.execPath, ['dist/src/cli/main.js', 'export', '--model', join(dir, 'm'), '--format', 'tfjs', '--out', join(dir, 'tfjs')], { encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /tfjs: TF\.js layers model \(model\.json, weights\.bin: [\d,]+ bytes\), [\d,]+ weights\n$/);
    const back = await rnn.loadTfjsModel(join(dir, 'tfjs'));
    const x = new rnn.Tensor(Float32Array.from(c.input.data), c.input.shape);
    assertClose(back.predict(x).data, model.predict(x).data, 1e-7, 1e-6, 'CLI export read back');
    const bad = spawnSync(process.execPath, ['dist/src/cli/main.js', 'export', '--model', join(dir, 'm'), '--format', 'keras', '--out', join(dir, 'x')], { encoding: 'utf8' });
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /--format: expected onnx, tfjs or torch, got "keras"/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
