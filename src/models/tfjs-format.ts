// Models saved by TensorFlow.js (`model.save('file://dir')`, `tf.io.withSaveHandler`) or converted
// from Keras by the tensorflowjs converter: the "layers-model" format, model.json (the Keras
// topology and a weights manifest) and its binary weight shards. modelFromTfjs turns one into a
// rnnkit Sequential with the same weights, which predicts what TF.js predicts (the tests compare
// against TF.js on golden models, tools/golden/make_tfjs_golden.mjs), and trains on from there.
//
// Models: Sequential, and functional ones (TF.js 'Model', Keras 'Functional': any graph of these
// layers with one output; encoder states passed to a decoder as its extra inputs).
// Layers: InputLayer, Embedding, SimpleRNN, LSTM, GRU (reset_after true or false: Keras' default
// and TF.js's only one), Bidirectional (every merge mode), Dense, TimeDistributed(Dense),
// Activation, Dropout, SpatialDropout1D (becomes Dropout: the same at inference; in training
// rnnkit drops single values, not whole feature channels), Masking, GlobalAveragePooling1D,
// GlobalMaxPooling1D, RepeatVector, LayerNormalization (last axis), and in functional models
// Concatenate (last axis) and Add. Gates: recurrent_activation 'sigmoid' (Keras' default) or
// 'hard_sigmoid' (TF.js's default; Keras 2's clip(0.2·x + 0.5, 0, 1)). Anything else, and what
// rnnkit's cells do not compute (other activations), is refused with the layer's name.
//
// Weights: Keras keeps the input and recurrent kernels as [in, gates·units] with the gates i|f|c|o
// (LSTM) or z|r|h (GRU); rnnkit keeps PyTorch's [gates·units, in] with i|f|g|o or r|z|n: the
// kernels are transposed and the GRU's blocks reordered. Keras has one bias (the GRU with
// reset_after two: input and recurrent); rnnkit's bias_ih takes it, bias_hh the recurrent one or 0.
// Padded steps: Keras repeats the previous output there, rnnkit outputs zeros (rnn-layers.ts):
// the final states, the outputs at real steps, and what pooling and losses read are the same.
// TF.js's GlobalAveragePooling1D and GlobalMaxPooling1D ignore the mask (they take the padded
// steps' repeated outputs in too; Keras pools over the real steps, as rnnkit does): a TF.js model
// that pools a masked sequence predicts other numbers here for its padded rows (in the golden
// model made to check this, the full rows agreed and the padded ones did not).
import { ACTIVATIONS, type ActivationName, Activation, Dense, Dropout, Embedding } from '../layers/core.js';
import { setTrainable, type Layer, type Shape } from '../layers/layer.js';
import { kerasKey, REGULARIZER_OPTIONS, setRegularizers } from '../layers/regularizers.js';
import { LayerNormalization } from '../layers/normalization.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, RepeatVector } from '../layers/pooling.js';
import { KERAS_GATE_ORDER, reorderGateBlocks, transposeRows } from '../layers/gate-layout.js';
import { RecurrentLayer, type CellClass, type MergeMode } from '../layers/rnn-layers.js';
import { Add, applyLayer, Concatenate, input, type SymbolicTensor } from '../layers/symbolic.js';
import { withWeightsToFollow } from '../tensor/init.js';
import { BundleError } from './bundle-format.js';
import { GraphModel } from './functional.js';
import { Sequential, type Model } from './sequential.js';

type Config = Record<string, unknown>;
interface KerasLayer { class_name: string; config: Config; name?: string; inbound_nodes?: unknown[] }
interface WeightSpec { name: string; shape: number[]; dtype?: string; quantization?: unknown }

/** The weight files model.json names, in the order their bytes follow one another. */
export function tfjsWeightPaths(json: unknown, where: string): string[] {
  const manifest = (json as { weightsManifest?: { paths?: unknown }[] } | null)?.weightsManifest;
  if (!Array.isArray(manifest)) throw new BundleError(where, 'not a TF.js layers model: no "weightsManifest"');
  return manifest.flatMap((g, i) => {
    if (!Array.isArray(g?.paths) || !g.paths.every((p) => typeof p === 'string')) throw new BundleError(where, `weightsManifest[${i}].paths must be a list of file names`);
    return g.paths as string[];
  });
}

const KERAS_ACTIVATIONS: Record<string, ActivationName> = { silu: 'swish' };

/**
 * A model from a TF.js layers model (Sequential, or a functional GraphModel): `json` is
 * model.json's content, `weightData` the bytes of its weight files (tfjsWeightPaths order), one
 * array per file or all in one. Errors name `where`.
 */
export function modelFromTfjs<M extends Model = Sequential>(json: unknown, weightData: Uint8Array | readonly Uint8Array[], where = 'model.json'): M {
  const j = json as { modelTopology?: Config; weightsManifest?: { weights?: WeightSpec[] }[]; format?: string; generatedBy?: string } | null;
  if (!j || typeof j !== 'object' || !j.modelTopology) throw new BundleError(where, 'not a TF.js layers model: no "modelTopology"');
  if (j.format !== undefined && j.format !== 'layers-model') throw new BundleError(where, `format "${String(j.format)}" is not a layers model (a graph model from the TensorFlow converter has no layers to import)`);
  let topo = j.modelTopology as Config;
  if (topo.model_config) topo = topo.model_config as Config; // the tensorflowjs converter's Keras models
  const functional = topo.class_name === 'Model' || topo.class_name === 'Functional';
  if (topo.class_name !== 'Sequential' && !functional) {
    throw new BundleError(where, `the model is a ${JSON.stringify(topo.class_name)}; Sequential and functional (Model, Functional) models are imported`);
  }
  const cfg = topo.config as Config | KerasLayer[];
  const kerasLayers = (Array.isArray(cfg) ? cfg : (cfg.layers as KerasLayer[] | undefined)) ?? [];
  if (!Array.isArray(kerasLayers) || kerasLayers.length === 0) throw new BundleError(where, `the ${functional ? 'functional' : 'Sequential'} model has no layers`);
  const weights = readWeights(j.weightsManifest ?? [], Array.isArray(weightData) ? concatBytes(weightData) : weightData as Uint8Array, where);
  const built = functional ? functionalModel(cfg as Config, kerasLayers, where) : sequentialModel(cfg as Config, kerasLayers, where);
  const model = built.model;
  const offsets = new Map(model.weightEntries().map((e) => [e.name, e]));
  const put = (layer: Layer, param: string, data: Float32Array): void => {
    const e = offsets.get(`${layer.name}/${param}`);
    if (!e) throw new BundleError(where, `layer '${layer.name}' has no parameter '${param}' in rnnkit (internal: the converted layer does not match)`);
    if (e.size !== data.length) throw new BundleError(where, `layer '${layer.name}': ${param} needs ${e.size} values, the file gives ${data.length}`);
    model.params.set(data, e.offset);
  };
  for (const { layer, keras } of built.made) setWeights(layer, keras, weights, put, `${where}: layer '${layer.name}'`);
  const used = new Set<string>();
  for (const { keras } of built.made) for (const n of weights.keys()) if (n.startsWith(`${keras.config.name}/`)) used.add(n);
  const unused = [...weights.keys()].filter((n) => !used.has(n));
  if (unused.length) throw new BundleError(where, `weights that no layer reads: ${unused.slice(0, 5).join(', ')}${unused.length > 5 ? ', ...' : ''}`);
  model.metadata = { importedFrom: 'tfjs', ...(j.generatedBy ? { generatedBy: j.generatedBy } : {}) };
  return model as M;
}

interface Built { model: Model; made: { layer: Layer; keras: KerasLayer }[] }

function layerWhere(where: string, i: number, kl: KerasLayer): string {
  return `${where}: layer ${i} (${kl?.class_name ?? '?'} '${String(kl?.config?.name ?? kl?.name ?? '')}')`;
}

function sequentialModel(cfg: Config, kerasLayers: KerasLayer[], where: string): Built {
  let inputShape: Shape | null = null;
  const made: { layer: Layer; keras: KerasLayer }[] = [];
  kerasLayers.forEach((kl, i) => {
    const at = layerWhere(where, i, kl);
    if (!kl || typeof kl.class_name !== 'string' || !kl.config || typeof kl.config !== 'object') throw new BundleError(where, `layer ${i} is not a {class_name, config} object`);
    const shape = (kl.config.batch_input_shape ?? kl.config.batch_shape) as (number | null)[] | undefined;
    if (i === 0 && Array.isArray(shape)) inputShape = shape.slice(1);
    if (kl.class_name === 'InputLayer') return;
    if (i <= 1 && inputShape === null && kl.class_name === 'Embedding') inputShape = [null];
    const layer = convertLayer(kl, at);
    if (layer) made.push({ layer: setTrainable(layer, kl.config.trainable), keras: kl });
  });
  if (inputShape === null) throw new BundleError(where, 'the first layer gives no input shape (batch_input_shape)');
  // The time axis of a sequence input takes any length (Keras' input_length fixed it).
  const shape: Shape = inputShape as Shape;
  if (shape.length === 2 || made[0]?.layer instanceof Embedding) shape[0] = null;
  const model = new Sequential({ name: String(cfg.name ?? 'sequential'), inputShape: shape });
  for (const { layer } of made) model.add(layer);
  try {
    withWeightsToFollow(() => model.build(shape));
  } catch (e) {
    throw new BundleError(where, (e as Error).message, { cause: e });
  }
  return { model, made };
}

/** Keras' [layer name, node index, tensor index, kwargs?] -> the tensor it names. */
type InboundRef = [string, number, number, Config?];

function functionalModel(cfg: Config, kerasLayers: KerasLayer[], where: string): Built {
  const outputs = new Map<string, SymbolicTensor[]>();
  const made: { layer: Layer; keras: KerasLayer }[] = [];
  const inputs: SymbolicTensor[] = [];
  const ref = (r: unknown, at: string): SymbolicTensor => {
    const [name, node, k] = (Array.isArray(r) ? r : []) as InboundRef;
    if (node !== 0) throw new BundleError(at, `reads node ${String(node)} of '${String(name)}': a layer applied more than once (shared weights) is not imported`);
    const t = outputs.get(String(name))?.[k ?? 0];
    if (!t) throw new BundleError(at, `reads ${JSON.stringify(r)}, which no earlier layer gives (the layers must come in the order they are applied)`);
    return t;
  };
  withWeightsToFollow(() => kerasLayers.forEach((kl, i) => {
    const at = layerWhere(where, i, kl);
    if (!kl || typeof kl.class_name !== 'string' || !kl.config || typeof kl.config !== 'object') throw new BundleError(where, `layer ${i} is not a {class_name, config} object`);
    const name = String(kl.name ?? kl.config.name);
    if (kl.class_name === 'InputLayer') {
      const shape = (kl.config.batch_input_shape ?? kl.config.batch_shape) as (number | null)[] | undefined;
      if (!Array.isArray(shape)) throw new BundleError(at, 'an InputLayer without batch_input_shape');
      const t = input({ shape: shape.slice(1), name });
      inputs.push(t);
      outputs.set(name, [t]);
      return;
    }
    const nodes = kl.inbound_nodes ?? [];
    if (nodes.length !== 1 || !Array.isArray(nodes[0])) throw new BundleError(at, `is applied ${nodes.length} times; each layer must be applied once (shared weights are not imported)`);
    const refs = nodes[0] as InboundRef[];
    const ins = refs.map((r) => ref(r, at));
    // Keras may pass an RNN's initial states as a keyword instead of extra inputs.
    const kw = refs[0]?.[3]?.initial_state;
    if (Array.isArray(kw)) ins.push(...kw.map((r) => ref(r, at)));
    const layer = kl.class_name === 'Concatenate' || kl.class_name === 'Add' ? mergeLayer(kl, at, name) : convertLayer(kl, at, true);
    if (!layer) return;
    made.push({ layer: setTrainable(layer, kl.config.trainable), keras: kl });
    let out: SymbolicTensor | SymbolicTensor[];
    try {
      out = applyLayer(layer, ins);
    } catch (e) {
      throw new BundleError(at, (e as Error).message, { cause: e });
    }
    outputs.set(name, Array.isArray(out) ? out : [out]);
  }));
  const outs = (cfg.output_layers as unknown[] | undefined) ?? [];
  if (outs.length !== 1) throw new BundleError(where, `the model has ${outs.length} outputs; rnnkit's models have one`);
  const ins = ((cfg.input_layers as unknown[] | undefined) ?? []).map((r) => ref(r, where));
  const model = new GraphModel({ name: String(cfg.name ?? 'model'), inputs: ins.length ? ins : inputs, outputs: ref(outs[0], where) });
  return { model, made };
}

function mergeLayer(kl: KerasLayer, at: string, name: string): Layer {
  if (kl.class_name === 'Add') return new Add({ name });
  const axis = kl.config.axis ?? -1;
  if (axis !== -1) throw new BundleError(at, `axis ${JSON.stringify(axis)}: rnnkit concatenates along the last axis only`);
  return new Concatenate({ name });
}

function concatBytes(parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  return out;
}

function readWeights(manifest: { weights?: WeightSpec[] }[], data: Uint8Array, where: string): Map<string, { shape: number[]; data: Float32Array }> {
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  let at = 0;
  for (const group of manifest) {
    for (const w of group.weights ?? []) {
      if (w.quantization) throw new BundleError(where, `weight '${w.name}' is quantized; convert the model without quantization`);
      if ((w.dtype ?? 'float32') !== 'float32') throw new BundleError(where, `weight '${w.name}' has dtype ${w.dtype}; rnnkit imports float32 weights`);
      const n = w.shape.reduce((p, d) => p * d, 1);
      if (at + 4 * n > data.length) throw new BundleError(where, `the weight files hold ${data.length} bytes; weight '${w.name}' [${w.shape.join(', ')}] needs bytes ${at}-${at + 4 * n}`);
      const v = new Float32Array(n);
      for (let i = 0; i < n; i++) v[i] = view.getFloat32(at + 4 * i, true);
      for (let i = 0; i < n; i++) if (!Number.isFinite(v[i]!)) throw new BundleError(where, `weight '${w.name}' has a non-finite value at ${i}`);
      out.set(w.name.replace(/:\d+$/, ''), { shape: w.shape, data: v }); // (TensorFlow's ':0' output suffix, where a converter kept it)
      at += 4 * n;
    }
  }
  if (at !== data.length) throw new BundleError(where, `the weight files hold ${data.length} bytes, the manifest describes ${at}`);
  return out;
}

function activationOf(v: unknown, at: string, what = 'activation'): ActivationName {
  const a = typeof v === 'string' ? (KERAS_ACTIVATIONS[v] ?? v) : v === undefined || v === null ? 'linear' : v;
  if (!ACTIVATIONS.includes(a as ActivationName) || a === 'gelu') {
    throw new BundleError(at, `${what} ${JSON.stringify(v)} is not one rnnkit computes; it has ${ACTIVATIONS.filter((x) => x !== 'gelu').join(', ')}`);
  }
  return a as ActivationName;
}

const CELLS: Record<string, CellClass> = { SimpleRNN: 'SimpleRNN', LSTM: 'LSTM', GRU: 'GRU' };

function recurrentOptions(kl: KerasLayer, at: string, name: string, functional = false): { cell: CellClass; options: ConstructorParameters<typeof RecurrentLayer>[1] } {
  const c = kl.config, cell = CELLS[kl.class_name]!;
  const act = c.activation ?? 'tanh';
  if (cell === 'SimpleRNN' ? act !== 'tanh' && act !== 'relu' : act !== 'tanh') throw new BundleError(at, `activation ${JSON.stringify(act)}: rnnkit's ${cell} computes ${cell === 'SimpleRNN' ? "'tanh' or 'relu'" : "'tanh'"}`);
  const gates = c.recurrent_activation ?? 'sigmoid';
  if (cell !== 'SimpleRNN' && gates !== 'sigmoid' && gates !== 'hard_sigmoid') {
    throw new BundleError(at, `recurrent_activation ${JSON.stringify(gates)}: rnnkit's gates are 'sigmoid' or 'hard_sigmoid' (clip(0.2·x + 0.5, 0, 1), TF.js's and Keras 2's)`);
  }
  if (c.time_major) throw new BundleError(at, 'time_major layers are not imported');
  if (c.return_state && !functional) throw new BundleError(at, 'return_state has no place in a Sequential model');
  return {
    cell,
    options: {
      units: Number(c.units), name, returnSequences: !!c.return_sequences, goBackwards: !!c.go_backwards, stateful: !!c.stateful,
      useBias: c.use_bias !== false, dropout: Number(c.dropout ?? 0), recurrentDropout: Number(c.recurrent_dropout ?? 0),
      ...(cell === 'SimpleRNN' ? { activation: act as 'tanh' | 'relu' } : {}),
      ...(cell === 'GRU' ? { resetAfter: !!c.reset_after } : {}),
      ...(cell !== 'SimpleRNN' && gates === 'hard_sigmoid' ? { recurrentActivation: 'hardSigmoid' as const } : {}),
      ...(c.return_state ? { returnState: true } : {}),
    },
  };
}

/** The rnnkit layer of one Keras layer (null: nothing to compute at all); a layer's refusal of its options is named with `at`. */
function convertLayer(kl: KerasLayer, at: string, functional = false): Layer | null {
  try {
    const layer = makeLayer(kl, at, functional);
    // Weight penalties: Keras's kernel_regularizer and friends (a wrapper's are its layer's).
    const c = kl.class_name === 'Bidirectional' || kl.class_name === 'TimeDistributed' ? (kl.config.layer as KerasLayer).config : kl.config;
    return layer && setRegularizers(layer, Object.fromEntries(REGULARIZER_OPTIONS.map((k) => [k, c[kerasKey(k)]])));
  } catch (e) {
    if (e instanceof BundleError) throw e;
    throw new BundleError(at, (e as Error).message, { cause: e });
  }
}

function makeLayer(kl: KerasLayer, at: string, functional: boolean): Layer | null {
  const c = kl.config, name = String(c.name ?? kl.class_name.toLowerCase());
  switch (kl.class_name) {
    case 'Embedding':
      return new Embedding({ inputDim: Number(c.input_dim), outputDim: Number(c.output_dim), maskZero: !!c.mask_zero, name });
    case 'Dense':
      return new Dense({ units: Number(c.units), activation: activationOf(c.activation, at), useBias: c.use_bias !== false, name });
    case 'TimeDistributed': {
      const inner = c.layer as KerasLayer | undefined;
      if (inner?.class_name !== 'Dense') throw new BundleError(at, `TimeDistributed(${inner?.class_name ?? '?'}): only TimeDistributed(Dense) is imported (a Dense layer applies to every step by itself)`);
      return new Dense({ units: Number(inner.config.units), activation: activationOf(inner.config.activation, at), useBias: inner.config.use_bias !== false, name });
    }
    case 'Activation': return new Activation({ activation: activationOf(c.activation, at), name });
    case 'Dropout': case 'SpatialDropout1D': return new Dropout({ rate: Number(c.rate ?? 0), name });
    case 'Masking': return new Masking({ maskValue: Number(c.mask_value ?? 0), name });
    case 'GlobalAveragePooling1D': case 'GlobalMaxPooling1D': {
      if ((c.data_format ?? 'channels_last') !== 'channels_last') throw new BundleError(at, `data_format ${JSON.stringify(c.data_format)}: only channels_last is imported`);
      return kl.class_name === 'GlobalMaxPooling1D' ? new GlobalMaxPooling1D({ name }) : new GlobalAveragePooling1D({ name });
    }
    case 'RepeatVector': return new RepeatVector({ n: Number(c.n), name });
    case 'LayerNormalization': {
      const axis = Array.isArray(c.axis) ? c.axis : [c.axis ?? -1];
      if (axis.length !== 1 || !(axis[0] === -1 || (typeof axis[0] === 'number' && axis[0] >= 1))) throw new BundleError(at, `axis ${JSON.stringify(c.axis)}: rnnkit normalises over the last axis only`);
      return new LayerNormalization({ epsilon: Number(c.epsilon ?? 1e-3), center: c.center !== false, scale: c.scale !== false, name });
    }
    case 'SimpleRNN': case 'LSTM': case 'GRU': {
      const r = recurrentOptions(kl, at, name, functional);
      return new RecurrentLayer(r.cell, r.options);
    }
    case 'Bidirectional': {
      const inner = c.layer as KerasLayer | undefined;
      if (!inner || !CELLS[inner.class_name]) throw new BundleError(at, `Bidirectional(${inner?.class_name ?? '?'}): the wrapped layer must be SimpleRNN, LSTM or GRU`);
      const mode = c.merge_mode;
      if (!['concat', 'sum', 'mul', 'ave'].includes(mode as string)) throw new BundleError(at, `merge_mode ${JSON.stringify(mode)}: rnnkit merges by concat, sum, mul or ave`);
      const r = recurrentOptions(inner, at, name, functional);
      return new RecurrentLayer(r.cell, r.options, mode as MergeMode);
    }
    default:
      throw new BundleError(at, `layer class ${kl.class_name} is not imported; rnnkit imports InputLayer, Embedding, SimpleRNN, LSTM, GRU, Bidirectional, Dense, TimeDistributed(Dense), Activation, Dropout, SpatialDropout1D, Masking, GlobalAveragePooling1D, GlobalMaxPooling1D, RepeatVector, LayerNormalization`);
  }
}

type Weights = Map<string, { shape: number[]; data: Float32Array }>;

/** The weight under `prefix` whose name ends in /`leaf` (Keras: 'lstm/lstm_cell/kernel', TF.js: 'lstm_LSTM1/kernel'). */
function find(weights: Weights, prefix: string, leaf: string, at: string, shape: number[]): Float32Array {
  const hits = [...weights.keys()].filter((n) => n.startsWith(prefix) && n.endsWith(`/${leaf}`));
  if (hits.length !== 1) throw new BundleError(at, hits.length ? `several weights match ${prefix}…/${leaf}: ${hits.join(', ')}` : `no weight ${prefix}…/${leaf} in the file`);
  const w = weights.get(hits[0]!)!;
  if (w.shape.length !== shape.length || w.shape.some((d, i) => d !== shape[i])) throw new BundleError(at, `weight ${hits[0]} has shape [${w.shape.join(', ')}], the layer needs [${shape.join(', ')}]`);
  return w.data;
}

function setWeights(layer: Layer, kl: KerasLayer, weights: Weights, put: (l: Layer, p: string, d: Float32Array) => void, at: string): void {
  const kname = String(kl.config.name), prefix = `${kname}/`;
  if (layer instanceof Embedding) {
    put(layer, 'embeddings', find(weights, prefix, 'embeddings', at, [layer.options.inputDim, layer.options.outputDim]));
  } else if (layer instanceof Dense) {
    const p = layer.params!, k = p.entries.find((e) => e.name === 'kernel')!.shape as [number, number];
    put(layer, 'kernel', find(weights, prefix, 'kernel', at, k));
    if (p.entries.some((e) => e.name === 'bias')) put(layer, 'bias', find(weights, prefix, 'bias', at, [k[1]]));
  } else if (layer instanceof LayerNormalization) {
    const D = layer.params?.entries[0]?.shape[0] ?? 0;
    if (layer.scale) put(layer, 'gamma', find(weights, prefix, 'gamma', at, [D]));
    if (layer.center) put(layer, 'beta', find(weights, prefix, 'beta', at, [D]));
  } else if (layer instanceof RecurrentLayer) {
    const core = layer.core!, H = layer.units, I = core.inputSize;
    const order = KERAS_GATE_ORDER[layer.cell], G = order.length; // (self-inverse: Keras -> rnnkit too)
    const resetAfter = layer.cell === 'GRU' && (layer.options.resetAfter ?? true);
    const dirs = layer.bidirectional ? [`${prefix}forward_`, `${prefix}backward_`] : [prefix];
    dirs.forEach((pre, d) => {
      const s = `_l0${d === 1 ? '_reverse' : ''}`;
      put(layer, `weight_ih${s}`, reorderGateBlocks(transposeRows(find(weights, pre, 'kernel', at, [I, G * H]), I, G * H), order, H, I));
      put(layer, `weight_hh${s}`, reorderGateBlocks(transposeRows(find(weights, pre, 'recurrent_kernel', at, [H, G * H]), H, G * H), order, H, H));
      if (layer.options.useBias === false) return;
      const b = find(weights, pre, 'bias', at, resetAfter ? [2, G * H] : [G * H]);
      put(layer, `bias_ih${s}`, reorderGateBlocks(b.subarray(0, G * H), order, H, 1));
      put(layer, `bias_hh${s}`, resetAfter ? reorderGateBlocks(b.subarray(G * H), order, H, 1) : new Float32Array(G * H));
    });
  }
}
