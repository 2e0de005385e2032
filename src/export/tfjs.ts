// A rnnkit model (Sequential or functional) in TF.js's layers format (model.json and weights.bin): what
// `tf.loadLayersModel` reads, for an application that serves with TF.js. The inverse of
// models/tfjs-format.ts: kernels transposed to Keras' [in, gates·units], the GRU's r|z|n blocks
// put back in z|r|h order, the two biases summed into Keras' one. The initialisers are written as
// Zeros: TF.js initialises a layer before it sets the loaded weights, and its orthogonal
// initialiser takes seconds on large recurrent kernels.
//
// Stateful layers (a charrnn model's) keep their state in TF.js too, which then needs a fixed batch
// size: 1 by default (a character at a time; TfjsExportOptions.batchSize).
//
// TF.js cannot compute everything rnnkit does; refused, with the layer's name: the GRU with
// resetAfter (TF.js has only the reset before the product: train with resetAfter: false), the
// attention layers and position encodings, GELU. A functional model is written as Keras' 'Model'
// (InputLayers, each layer with the tensors it reads; a recurrent layer's initial states after its
// input, as TF.js records them). Checked against TF.js 4.22: the golden models
// of tools/golden/make_tfjs_export_golden.mjs, loaded and run by TF.js, predict what rnnkit does.
import { Activation, Dense, Dropout, Embedding, type ActivationName } from '../layers/core.js';
import type { Layer } from '../layers/layer.js';
import { kerasKey, regularizerConfigs, type RegularizerOption } from '../layers/regularizers.js';
import { LayerNormalization } from '../layers/normalization.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, RepeatVector } from '../layers/pooling.js';
import { KERAS_GATE_ORDER, reorderGateBlocks, transposeRows } from '../layers/gate-layout.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { Add, Concatenate, type SymbolicTensor } from '../layers/symbolic.js';
import { GraphModel } from '../models/functional.js';
import { Sequential, type Model } from '../models/sequential.js';

export class TfjsExportError extends Error {
  override name = 'TfjsExportError';
}

export interface TfjsWeightSpec { name: string; shape: number[]; dtype: 'float32' }

export interface TfjsExport {
  /** model.json's content (its weightsManifest names 'weights.bin'). */
  modelJson: { format: 'layers-model'; generatedBy: string; convertedBy: null; modelTopology: Record<string, unknown>; weightsManifest: { paths: string[]; weights: TfjsWeightSpec[] }[] };
  /** weights.bin: the weights in the manifest's order, float32 little-endian. */
  weightData: Uint8Array;
}

const fail = (l: Layer, what: string): never => {
  throw new TfjsExportError(`exportTfjs: layer '${l.name}' (${l.className}): ${what}`);
};

const ZEROS = { class_name: 'Zeros', config: {} };
const KERAS_ACTIVATION: Partial<Record<ActivationName, string>> = {
  linear: 'linear', relu: 'relu', tanh: 'tanh', sigmoid: 'sigmoid', softmax: 'softmax', softplus: 'softplus', elu: 'elu', swish: 'swish',
};

function kerasActivation(l: Layer, a: ActivationName): string {
  return KERAS_ACTIVATION[a] ?? fail(l, `activation '${a}' has no TF.js equivalent that computes the same`);
}

/** The layer's Keras config and its weights (name -> [shape, values]) in TF.js's order. */
function convert(l: Layer, first: boolean, inputShape: (number | null)[], batch: number | null, functional = false): { keras: Record<string, unknown>; weights: [string, number[], Float32Array][] } {
  const batchShape = first ? { batch_input_shape: [batch, ...inputShape] } : {};
  const p = (n: string): Float32Array => l.params!.value(n) as Float32Array;
  const has = (n: string): boolean => !!l.params?.entries.some((e) => e.name === n);
  if (l instanceof Embedding) {
    const { inputDim, outputDim, maskZero } = l.options;
    return {
      keras: { class_name: 'Embedding', config: { name: l.name, input_dim: inputDim, output_dim: outputDim, mask_zero: !!maskZero, embeddings_initializer: ZEROS, ...batchShape } },
      weights: [[`${l.name}/embeddings`, [inputDim, outputDim], p('embeddings')]],
    };
  }
  if (l instanceof Dense) {
    const k = l.params!.entries.find((e) => e.name === 'kernel')!.shape as [number, number], bias = has('bias');
    return {
      keras: { class_name: 'Dense', config: { name: l.name, units: k[1], activation: kerasActivation(l, l.activation), use_bias: bias, kernel_initializer: ZEROS, bias_initializer: ZEROS, ...batchShape } },
      weights: [[`${l.name}/kernel`, k, p('kernel')], ...(bias ? [[`${l.name}/bias`, [k[1]], p('bias')] as [string, number[], Float32Array]] : [])],
    };
  }
  if (l instanceof RecurrentLayer) return recurrent(l, batchShape, functional);
  const plain = (className: string, config: Record<string, unknown>) => ({ keras: { class_name: className, config: { name: l.name, ...config, ...batchShape } }, weights: [] });
  if (l instanceof Dropout) return plain('Dropout', { rate: l.options.rate });
  if (l instanceof Activation) return plain('Activation', { activation: kerasActivation(l, l.activation) });
  if (l instanceof Masking) return plain('Masking', { mask_value: l.maskValue });
  if (l instanceof GlobalAveragePooling1D) return plain('GlobalAveragePooling1D', {});
  if (l instanceof GlobalMaxPooling1D) return plain('GlobalMaxPooling1D', {});
  if (l instanceof RepeatVector) return plain('RepeatVector', { n: l.n });
  if (l instanceof Concatenate) return plain('Concatenate', { axis: -1 });
  if (l instanceof Add) return plain('Add', {});
  if (l instanceof LayerNormalization) {
    const D = l.params?.entries[0]?.shape[0];
    const weights: [string, number[], Float32Array][] = [];
    if (l.scale) weights.push([`${l.name}/gamma`, [D!], p('gamma')]);
    if (l.center) weights.push([`${l.name}/beta`, [D!], p('beta')]);
    return { keras: { class_name: 'LayerNormalization', config: { name: l.name, axis: -1, epsilon: l.epsilon, center: l.center, scale: l.scale, beta_initializer: ZEROS, gamma_initializer: ZEROS, ...batchShape } }, weights };
  }
  return fail(l, 'TF.js has no layer that computes it');
}

function recurrent(l: RecurrentLayer, batchShape: Record<string, unknown>, functional: boolean): { keras: Record<string, unknown>; weights: [string, number[], Float32Array][] } {
  const o = l.options, core = l.core!, H = l.units, I = core.inputSize;
  if (l.cell === 'GRU' && (o.resetAfter ?? true)) fail(l, 'TF.js runs only the GRU that resets before the recurrent product: train with resetAfter: false');
  if (o.returnState && !functional) fail(l, 'returnState has no place in a Sequential model');
  const order = KERAS_GATE_ORDER[l.cell], G = order.length;
  const cls = l.cell;
  const inner = cls === 'SimpleRNN' ? 'simple_rnn' : cls.toLowerCase();
  const config: Record<string, unknown> = {
    name: l.bidirectional ? inner : l.name, units: H,
    activation: cls === 'SimpleRNN' ? (o.activation ?? 'tanh') : 'tanh',
    ...(cls !== 'SimpleRNN' ? { recurrent_activation: core.hardSigmoid ? 'hard_sigmoid' : 'sigmoid' } : {}),
    use_bias: core.bias, return_sequences: !!o.returnSequences, return_state: !!o.returnState, go_backwards: !!o.goBackwards, stateful: !!o.stateful,
    dropout: o.dropout ?? 0, recurrent_dropout: o.recurrentDropout ?? 0,
    kernel_initializer: ZEROS, recurrent_initializer: ZEROS, bias_initializer: ZEROS,
    ...(cls === 'LSTM' ? { unit_forget_bias: false } : {}), ...(cls === 'GRU' ? { reset_after: false } : {}),
  };
  const weights: [string, number[], Float32Array][] = [];
  const dirs = l.bidirectional ? [`${l.name}/forward_${inner}`, `${l.name}/backward_${inner}`] : [l.name];
  dirs.forEach((prefix, d) => {
    const s = `_l0${d === 1 ? '_reverse' : ''}`;
    const v = (n: string): Float32Array => core.params.value(`${n}${s}`) as Float32Array;
    weights.push([`${prefix}/kernel`, [I, G * H], transposeRows(reorderGateBlocks(v('weight_ih'), order, H, I), G * H, I)]);
    weights.push([`${prefix}/recurrent_kernel`, [H, G * H], transposeRows(reorderGateBlocks(v('weight_hh'), order, H, H), G * H, H)]);
    if (core.bias) {
      // Keras' one bias: b_ih + b_hh (the GRU's candidate too: without resetAfter both sit outside the reset).
      const b = v('bias_ih').map((x, i) => x + v('bias_hh')[i]!);
      weights.push([`${prefix}/bias`, [G * H], reorderGateBlocks(b, order, H, 1)]);
    }
  });
  const layer = { class_name: cls, config };
  const keras = l.bidirectional
    ? { class_name: 'Bidirectional', config: { name: l.name, merge_mode: l.bidirectional, layer, ...batchShape } }
    : { class_name: cls, config: { ...config, ...batchShape } };
  return { keras, weights };
}

export interface TfjsExportOptions {
  /**
   * The batch size written into the input shape. TF.js needs one for stateful recurrent layers
   * (a charrnn model's): default 1 there (a character at a time), else none (any batch).
   */
  batchSize?: number | null;
}

/** The model in TF.js's layers format: model.json's content and weights.bin's bytes. */
export function exportTfjs(model: Model, options: TfjsExportOptions = {}): TfjsExport {
  if (!(model instanceof Sequential) && !(model instanceof GraphModel)) throw new TfjsExportError('exportTfjs: expected a Sequential or functional model');
  if (!model.isBuilt || (model instanceof Sequential && !model.inputShape)) throw new TfjsExportError(`exportTfjs: model '${model.name}' is not built; give it an input shape or train it first`);
  const stateful = model.allLayers().some((l) => l instanceof RecurrentLayer && l.options.stateful);
  const batch = options.batchSize === undefined ? (stateful ? 1 : null) : options.batchSize;
  if (batch !== null && !(Number.isInteger(batch) && batch >= 1)) throw new TfjsExportError(`exportTfjs: option 'batchSize' must be a positive integer or null, got ${String(batch)}`);
  if (stateful && batch === null) throw new TfjsExportError('exportTfjs: TF.js needs a batch size for stateful recurrent layers: give batchSize');
  const layers: Record<string, unknown>[] = [];
  const specs: TfjsWeightSpec[] = [], parts: Float32Array[] = [];
  const add = (l: Layer, c: ReturnType<typeof convert>, extra: Record<string, unknown> = {}): void => {
    // (Keras's default is trainable: only a frozen layer says so. Weight penalties go in the
    // layer's config, a Bidirectional's in its wrapped layer's.)
    const config: Record<string, unknown> = { ...(c.keras.config as Record<string, unknown>), ...(l.trainable === false ? { trainable: false } : {}) };
    const regs = Object.fromEntries(Object.entries(regularizerConfigs(l)).map(([k, r]) => [kerasKey(k as RegularizerOption), { class_name: r.className, config: r.config }]));
    if (c.keras.class_name === 'Bidirectional') {
      const inner = config.layer as { class_name: string; config: Record<string, unknown> };
      config.layer = { ...inner, config: { ...inner.config, ...regs } };
    } else Object.assign(config, regs);
    layers.push({ ...c.keras, config, ...extra });
    for (const [name, shape, data] of c.weights) { specs.push({ name, shape, dtype: 'float32' }); parts.push(data); }
  };
  let topology: Record<string, unknown>;
  if (model instanceof Sequential) {
    model.layers.forEach((l, i) => add(l, convert(l, i === 0, model.inputShape!, batch)));
    topology = { class_name: 'Sequential', config: { name: model.name, layers } };
  } else {
    // Keras' functional form: InputLayers, then every layer with the tensors it reads
    // ([layer, node 0, output index, {}]; a recurrent layer's initial states after its input).
    const names = new Map<SymbolicTensor, [string, number]>(), used = new Set(model.allLayers().map((l) => l.name));
    for (const t of model.inputs) {
      let name = t.name, k = 1;
      while (used.has(name)) name = `${t.name}_${k++}`;
      used.add(name);
      names.set(t, [name, 0]);
      layers.push({ name, class_name: 'InputLayer', config: { name, batch_input_shape: [batch, ...t.shape], dtype: 'float32', sparse: false }, inbound_nodes: [] });
    }
    const ref = (t: SymbolicTensor): [string, number, number] => [names.get(t)![0], 0, names.get(t)![1]];
    for (const n of model.nodes) {
      add(n.layer, convert(n.layer, false, [], batch, true), { name: n.layer.name, inbound_nodes: [n.inputs.map((t) => [...ref(t), {}])] });
      n.outputs.forEach((t, i) => names.set(t, [n.layer.name, i]));
    }
    topology = { class_name: 'Model', config: { name: model.name, layers, input_layers: model.inputs.map(ref), output_layers: [ref(model.output)] } };
  }
  const weightData = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0));
  const view = new DataView(weightData.buffer);
  let at = 0;
  for (const p of parts) for (let i = 0; i < p.length; i++, at += 4) view.setFloat32(at, p[i]!, true);
  return {
    modelJson: {
      format: 'layers-model', generatedBy: 'rnnkit 0.1.0', convertedBy: null,
      modelTopology: { ...topology, keras_version: 'tfjs-layers 4.22.0', backend: 'tensor_flow.js' },
      weightsManifest: [{ paths: ['weights.bin'], weights: specs }],
    },
    weightData,
  };
}
