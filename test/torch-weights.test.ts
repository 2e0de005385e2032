// loadTorchWeights: PyTorch modules' weights into rnnkit models of the same architecture, checked
// against the modules' own outputs (test/golden/torch_weights.json, made by
// tools/golden/make_torch_weights_golden.py: a stacked bidirectional LSTM tagger, a GRU
// classifier on its last step, a ReLU RNN with LayerNorm), from the state_dict's record and from
// a safetensors file (whose tensors come sorted by name); and every refusal, with nothing written.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as rnn from '../src/browser.js';
import { encodeSafetensors, type TensorLike } from '../src/models/safetensors.js';
import { assertPredictsGolden, caseNamed, golden, inputOf, MODELS, predict, type GoldenTensor } from './torch-models.js';

/** The state as a safetensors file (F32 or F64 tensors), which the writer orders by name (as PyTorch's). */
function safetensorsOf(state: Record<string, GoldenTensor>, dtype: 'F32' | 'F64'): Uint8Array {
  const t: Record<string, TensorLike> = {};
  for (const [k, v] of Object.entries(state)) {
    t[k] = dtype === 'F32' ? { dtype, shape: v.shape, data: Float32Array.from(v.data) } : { dtype, shape: v.shape, data: Float64Array.from(v.data) };
  }
  return encodeSafetensors(t);
}

for (const c of golden.cases) {
  test(`loadTorchWeights: PyTorch's ${c.name} (a state_dict record, F32 and F64 safetensors files) predicts what PyTorch computed`, () => {
    const spec = MODELS[c.name]!;
    for (const via of ['record', 'F32 safetensors', 'F64 safetensors'] as const) {
      const m = spec.make();
      const before = predict(m, c);
      const state = via === 'record' ? c.state : safetensorsOf(c.state, via === 'F32 safetensors' ? 'F32' : 'F64');
      const report = rnn.loadTorchWeights(m, state, { source: `${c.name} (${via})` });
      assert.deepEqual(report.loaded.map((r) => r.module), spec.modules, `${via}: which module each layer took`);
      assert.deepEqual(report.loaded.map((r) => r.layer), m.allLayers().filter((l) => l.params?.size).map((l) => l.name), `${via}: every layer with weights`);
      assert.deepEqual(report.unused, []);
      assert.deepEqual([...m.predict(inputOf(c)).shape], c.output.shape, `${via}: output shape`);
      assertPredictsGolden(m, c, via, assert.ok);
      assert.notDeepEqual(before, predict(m, c), `${via}: the weights changed the predictions`);
    }
  });
}

/** Two Linear(4, 4) modules, 'a' and 'b', and a model of two Dense(4) layers: the ambiguous case. */
function twoLinears(): { state: Record<string, rnn.TorchTensor>; model: () => rnn.Sequential } {
  const lin = (seed: number) => ({ shape: [4, 4], data: Array.from({ length: 16 }, (_, i) => ((i * 7 + seed) % 11) / 10 - 0.5) });
  return {
    state: { 'a.weight': lin(1), 'a.bias': { shape: [4], data: [0.1, 0.2, 0.3, 0.4] }, 'b.weight': lin(5), 'b.bias': { shape: [4], data: [-0.1, -0.2, -0.3, -0.4] } },
    model: () => rnn.sequential({ inputShape: [null, 4], layers: [rnn.layers.dense({ units: 4, name: 'first' }), rnn.layers.dense({ units: 4, name: 'second' })] }),
  };
}

test('loadTorchWeights: two modules fitting one layer are refused as ambiguous; map names them, and a Linear weight lands transposed in the Dense kernel', () => {
  const { state, model } = twoLinears();
  const m = model();
  assert.throws(() => rnn.loadTorchWeights(m, state), (e: Error) => e instanceof rnn.TorchWeightsError && /layer 'first' fits 2 modules \(a, b\); say which in options\.map/.test(e.message));
  const report = rnn.loadTorchWeights(m, state, { map: { first: 'b', second: 'a' } });
  assert.deepEqual(report.loaded, [{ layer: 'first', module: 'b' }, { layer: 'second', module: 'a' }]);
  const [kernel, bias] = m.getLayer('first').getWeights();
  const w = state['b.weight']!.data; // [U, K]: kernel[k, u] = w[u, k]
  for (let k = 0; k < 4; k++) for (let u = 0; u < 4; u++) assert.equal(kernel!.data[k * 4 + u], Math.fround(w[u * 4 + k]!), `kernel[${k}, ${u}]`);
  assert.deepEqual([...bias!.data], [-0.1, -0.2, -0.3, -0.4].map(Math.fround));
  // One layer mapped, the other found: 'first' -> 'a' leaves 'b' the only fit for 'second'.
  assert.deepEqual(rnn.loadTorchWeights(model(), state, { map: { first: 'a' } }).loaded.map((r) => r.module), ['a', 'b']);
});

test('loadTorchWeights: refusals name the layer, the tensor or the option, and write nothing', () => {
  const c = caseNamed('lstm-bidirectional-stacked');
  const weightsOf = (m: rnn.Sequential) => m.allLayers().flatMap((l) => l.getWeights().map((t) => Float32Array.from(t.data as Float32Array)));
  const refuse = (m: rnn.Sequential, state: Record<string, rnn.TorchTensor> | Uint8Array, pattern: RegExp, options: rnn.LoadTorchWeightsOptions = {}) => {
    if (!m.isBuilt) m.build(m.inputShape!);
    const before = weightsOf(m);
    assert.throws(() => rnn.loadTorchWeights(m, state, options), (e: Error) => e instanceof rnn.TorchWeightsError && pattern.test(e.message), String(pattern));
    assert.deepEqual(weightsOf(m), before, `nothing written (${pattern})`);
  };
  const make = MODELS[c.name]!.make;
  // Another architecture: 15 units where PyTorch has 16.
  const narrow = rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 40, outputDim: 12 }),
    rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 15, returnSequences: true }) }),
  ] });
  refuse(narrow, c.state, /no module fits layer '[^']+', which needs weight_ih_l0 \[60, 12\].*left: .*lstm:l0 \(lstm\.weight_ih_l0 \[64, 12\]/);
  // A tensor no layer takes, unless allowed.
  const extra = { ...c.state, 'extra.weight': { shape: [2, 2], data: [1, 2, 3, 4] } };
  refuse(make(), extra, /no layer takes extra\.weight \(allowUnused: true ignores them\)/);
  assert.deepEqual(rnn.loadTorchWeights(make(), extra, { allowUnused: true }).unused, ['extra.weight']);
  // A PyTorch GRU needs rnnkit's resetAfter: true.
  const g = caseNamed('gru-last-step');
  refuse(rnn.sequential({ inputShape: [null], layers: [
    rnn.layers.embedding({ inputDim: 30, outputDim: 10 }), rnn.layers.gru({ units: 12, resetAfter: false }), rnn.layers.dense({ units: 1 }),
  ] }), g.state, /layer '[^']+': PyTorch's GRU applies the reset after the recurrent product; build the GRU with resetAfter: true/);
  // map: an unknown layer, an unknown module, a module that does not fit.
  refuse(make(), c.state, /map names layer 'nope', which the model does not have/, { map: { nope: 'emb' } });
  const m = make(), dense = m.allLayers().at(-1)!.name;
  refuse(m, c.state, new RegExp(`map: layer '${dense}' -> 'lstm:l3', which is no module of the weights`), { map: { [dense]: 'lstm:l3' } });
  refuse(m, c.state, new RegExp(`map: module 'emb' does not fit layer '${dense}': weight is \\[40, 12\\], the layer needs \\[7, 32\\]`), { map: { [dense]: 'emb' } });
  // Values: non-finite, or too few for the shape.
  const nan = { ...c.state, 'head.bias': { shape: [7], data: [0, 0, 0, Number.NaN, 0, 0, 0] } };
  refuse(make(), nan, /head\.bias\[3\] is NaN; weights must be finite/);
  refuse(make(), { ...c.state, 'head.bias': { shape: [7], data: [0, 0] } }, /tensor 'head\.bias' needs a shape and shape-many values, got shape \[7\] and 2 values/);
  // A safetensors file with an integer tensor (the source named).
  const file = encodeSafetensors({ 'emb.weight': { dtype: 'I32', shape: [2], data: new Int32Array(2) } });
  refuse(make(), file, /^loadTorchWeights: w\.safetensors: tensor 'emb\.weight' is I32; weights must be F32, F64, F16 or BF16/, { source: 'w.safetensors' });
  // A model that is not built.
  const unbuilt = rnn.sequential({ layers: [rnn.layers.dense({ units: 2 })] });
  assert.throws(() => rnn.loadTorchWeights(unbuilt, {}), /is not built; give it an input shape/);
});

test('loadTorchWeights: a BF16 safetensors file (the upper halves of float32 weights) loads the bfloat16 values exactly', () => {
  const c = caseNamed('gru-last-step'), spec = MODELS[c.name]!;
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  const bits = (x: number): number => { f[0] = x; return u[0]! >>> 16; }; // truncation: a bfloat16 value
  const t: Record<string, TensorLike> = {};
  for (const [k, v] of Object.entries(c.state)) t[k] = { dtype: 'BF16', shape: v.shape, data: Uint16Array.from(v.data, bits) };
  const m = spec.make();
  assert.deepEqual(rnn.loadTorchWeights(m, encodeSafetensors(t)).loaded.map((r) => r.module), spec.modules);
  const [emb] = m.allLayers()[0]!.getWeights();
  const want = c.state['embedding.weight']!.data.map((x) => { f[0] = x; u[0] = u[0]! & 0xffff0000; return f[0]!; });
  assert.deepEqual([...emb!.data], want);
  assert.ok(want.some((w, i) => w !== Math.fround(c.state['embedding.weight']!.data[i]!)), 'the bfloat16 values differ from the float32 ones');
});
