// A trained model as an ONNX file, for onnxruntime (Node.js, the browser's onnxruntime-web, Python,
// C++, mobile) and every other ONNX runtime: exportOnnx(model) -> the bytes of a ModelProto.
//
// Each rnnkit layer becomes the standard operators that compute what its forward computes at
// inference (dropout off), so the exported graph gives predict()'s numbers to float32 rounding:
//   Embedding          Gather (token ids int32 [batch, time]); maskZero -> a bool mask [batch, time]
//   SimpleRNN/LSTM/GRU the ONNX RNN / LSTM / GRU operators, batch-first around them (Transpose);
//   Bidirectional      direction 'bidirectional', the two halves merged (concat, sum, ave, mul);
//                      GRU resetAfter -> linear_before_reset 1 (0 for the original GRU); hard-sigmoid
//                      gates -> activations HardSigmoid (alpha 0.2, beta 0.5); gate blocks
//                      reordered (LSTM i|f|g|o -> i|o|f|c, GRU r|z|n -> z|r|h); goBackwards: the
//                      time axis reversed by a Slice of step -1.
//   masks              sequence_lens. rnnkit runs any mask, not only padding at the end: each row's
//                      valid steps are moved to the front (TopK over (padded, t) gives the order;
//                      GatherElements moves them) and the outputs moved back, as the layer does.
//   Dense, Activation  MatMul + Add and the activation's operators (GELU: its tanh form)
//   Dropout            nothing (inference)
//   Add, Concatenate, AttentionPooling, Attention, MultiHeadAttention, LayerNormalization,
//   PositionEncoding, Masking, GlobalAveragePooling1D, GlobalMaxPooling1D, RepeatVector
//                      their arithmetic in MatMul, Softmax, ReduceMean, ... (see each emitter)
//
// States: with `states` (the default for a model with a stateful layer, such as a charrnn
// model), every recurrent layer reads its initial state from inputs '<layer>/h_in' (and '/c_in')
// [directions, batch, units] and writes its final state to '<layer>/h_out' (and '/c_out'): feed
// one back as the other to step through a text a chunk at a time.
//
// Opset 17 (ONNX 1.12, 2022: LayerNormalization's first opset); the tests run it in onnxruntime-node 1.30.
import { Activation, Dense, Dropout, Embedding, type ActivationName } from '../layers/core.js';
import { Attention, AttentionPooling } from '../layers/attention.js';
import type { Layer, Shape } from '../layers/layer.js';
import { MultiHeadAttention } from '../layers/multihead.js';
import { LayerNormalization } from '../layers/normalization.js';
import { PositionEncoding, sinePositions } from '../layers/position.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, RepeatVector } from '../layers/pooling.js';
import { ONNX_GATE_ORDER, reorderGateBlocks } from '../layers/gate-layout.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { Add, Concatenate, type SymbolicTensor } from '../layers/symbolic.js';
import { GraphModel } from '../models/functional.js';
import { Sequential, type Model } from '../models/sequential.js';
import { toFloat16 } from '../models/safetensors.js';
import { attr, DataType, encodeModel, type Attribute, type DataTypeCode, type NodeSpec, type TensorSpec, type ValueInfoSpec } from './onnx-proto.js';

export const ONNX_OPSET = 17;
const IR_VERSION = 8; // the IR of opset 17

export interface OnnxExportOptions {
  /**
   * Recurrent states as inputs and outputs ('<layer>/h_in' -> '<layer>/h_out', and c for an
   * LSTM). Default: true when a recurrent layer is stateful, else false (zero initial states).
   */
  states?: boolean;
  /** Longest sequence a sine PositionEncoding without maxLength accepts (default 2048). */
  maxLength?: number;
  /** The graph's name (default: the model's). */
  name?: string;
  /** More metadata_props entries (string pairs); 'rnnkit.metadata' holds model.metadata as JSON. */
  metadata?: Record<string, string>;
  /**
   * 'float16': the weights stored as binary16 (half the bytes; each rounded to the nearest, as
   * saveModel's weightsDtype) and widened by a Cast where the graph reads them; the file then
   * computes what the model computes with its weights so rounded. Default 'float32'.
   */
  weightsDtype?: 'float32' | 'float16';
}

/** Thrown for a model the exporter cannot write: names the layer and what is missing. */
export class OnnxExportError extends Error {
  override name = 'OnnxExportError';
}

/** What an input or output of the graph is. */
export interface OnnxTensorInfo {
  name: string;
  type: 'int32' | 'float32';
  /** Dimensions: numbers are fixed, strings are symbolic ('batch', 'time'). */
  shape: (number | string)[];
}

export interface OnnxExport {
  /** The serialized ModelProto: write it to a .onnx file, or hand it to InferenceSession.create. */
  bytes: Uint8Array;
  inputs: OnnxTensorInfo[];
  outputs: OnnxTensorInfo[];
}

/** A value in the graph: its name, its shape without the batch, its mask (bool [batch, time]) if any. */
export interface Val {
  name: string;
  shape: Shape;
  mask: string | null;
}

export const F = DataType.FLOAT, I64 = DataType.INT64, I32 = DataType.INT32;

/**
 * Nodes and initializers, with names made unique under the layer's name. A child (a Loop's
 * body) has its own nodes; its names and constants come from the graph it is in (a subgraph
 * reads the outer graph's values by name).
 */
export class GraphBuilder {
  readonly nodes: NodeSpec[] = [];
  readonly initializers: TensorSpec[] = [];
  private readonly used: Set<string>;
  private readonly consts: Map<string, string>;
  private readonly root: GraphBuilder;
  scope = '';
  /** Weights as float16 initializers, widened by a Cast (OnnxExportOptions.weightsDtype). */
  half = false;

  constructor(parent: GraphBuilder | null = null) {
    this.root = parent?.root ?? this;
    this.used = parent ? parent.used : new Set();
    this.consts = parent ? parent.consts : new Map();
  }

  child(): GraphBuilder {
    const c = new GraphBuilder(this);
    c.scope = this.scope;
    return c;
  }

  fresh(hint: string): string {
    const base = this.scope ? `${this.scope}/${hint}` : hint;
    let name = base, k = 1;
    while (this.used.has(name)) name = `${base}_${k++}`;
    this.used.add(name);
    return name;
  }

  reserve(name: string): void {
    this.used.add(name);
  }

  /** One node; returns its outputs' names. */
  ops(opType: string, inputs: string[], nOut = 1, attributes: Attribute[] = []): string[] {
    const outputs = Array.from({ length: nOut }, (_, i) => this.fresh(nOut > 1 ? `${opType}_${i}` : opType));
    this.nodes.push({ opType, inputs, outputs, name: this.fresh(`${opType}_node`), attributes });
    return outputs;
  }

  op(opType: string, inputs: string[], attributes: Attribute[] = []): string {
    return this.ops(opType, inputs, 1, attributes)[0]!;
  }

  /**
   * A weight (named after the layer and the parameter), kept in the outermost graph; a float32
   * one as float16 and a Cast with `half` (not `exact` ones: constants, tables of fixed values).
   */
  tensor(hint: string, dims: number[], data: ArrayLike<number>, dataType: DataTypeCode = F, exact = false): string {
    const name = this.fresh(hint);
    if (dataType === F && this.root.half && !exact) {
      const bits = toFloat16(data);
      const i = bits.findIndex((h) => (h & 0x7c00) === 0x7c00);
      if (i >= 0) throw new OnnxExportError(`exportOnnx: weight '${name}'[${i}] = ${data[i]} is beyond float16's range (±65504): export it as float32`);
      this.root.initializers.push({ name, dataType: DataType.FLOAT16, dims, data: bits });
      return this.root.widen(name);
    }
    this.root.initializers.push({ name, dataType, dims, data });
    return name;
  }

  /** A Cast of a float16 initializer to float32, first in the graph (subgraphs read it by name). */
  private widen(name: string): string {
    const out = this.fresh(`${name}_f32`);
    this.nodes.unshift({ opType: 'Cast', inputs: [name], outputs: [out], name: this.fresh(`${name}_cast`), attributes: [attr.int('to', F)] });
    return out;
  }

  /** A small constant, shared by value. */
  constant(dataType: DataTypeCode, dims: number[], data: number[]): string {
    const key = `${dataType}:${dims.join(',')}:${data.join(',')}`;
    let name = this.consts.get(key);
    if (!name) {
      const scope = this.scope;
      this.scope = '';
      name = this.tensor(`const_${this.consts.size}`, dims, data, dataType, true);
      this.scope = scope;
      this.consts.set(key, name);
    }
    return name;
  }

  i64(...v: number[]): string { return this.constant(I64, [v.length], v); }
  scalarI64(v: number): string { return this.constant(I64, [], [v]); }
  scalarF(v: number): string { return this.constant(F, [], [v]); }
}

const fail = (layer: Layer, what: string): never => {
  throw new OnnxExportError(`exportOnnx: layer '${layer.name}' (${layer.className}): ${what}`);
};

function paramOf(layer: Layer, name: string): Float32Array {
  const v = layer.params?.value(name);
  if (!v) fail(layer, `has no parameter '${name}'`);
  return v as Float32Array;
}

function hasParam(layer: Layer, name: string): boolean {
  return !!layer.params?.entries.some((e) => e.name === name);
}

// ---------------------------------------------------------------------------------------------
// Activations.

function activation(g: GraphBuilder, act: ActivationName, x: string): string {
  switch (act) {
    case 'linear': return x;
    case 'relu': return g.op('Relu', [x]);
    case 'tanh': return g.op('Tanh', [x]);
    case 'sigmoid': return g.op('Sigmoid', [x]);
    case 'softmax': return g.op('Softmax', [x], [attr.int('axis', -1)]);
    case 'softplus': return g.op('Softplus', [x]);
    case 'elu': return g.op('Elu', [x], [attr.float('alpha', 1)]);
    case 'swish': return g.op('Mul', [x, g.op('Sigmoid', [x])]);
    case 'gelu': {
      // 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³))), the form the layers compute.
      const x3 = g.op('Mul', [g.op('Mul', [x, x]), x]);
      const inner = g.op('Mul', [g.scalarF(Math.sqrt(2 / Math.PI)), g.op('Add', [x, g.op('Mul', [g.scalarF(0.044715), x3])])]);
      return g.op('Mul', [g.op('Mul', [g.scalarF(0.5), x]), g.op('Add', [g.scalarF(1), g.op('Tanh', [inner])])]);
    }
  }
}

/** x [.., K] · W [K, U] (+ b). */
export function affine(g: GraphBuilder, layer: Layer, x: string, kernel: string, bias: string | null, K: number, U: number): string {
  const y = g.op('MatMul', [x, g.tensor(kernel, [K, U], paramOf(layer, kernel))]);
  return bias && hasParam(layer, bias) ? g.op('Add', [y, g.tensor(bias, [U], paramOf(layer, bias))]) : y;
}

function lastDim(layer: Layer, s: Shape): number {
  const d = s[s.length - 1];
  if (typeof d !== 'number') fail(layer, `needs a known feature dimension, got [batch, ${s.map(String).join(', ')}]`);
  return d as number;
}

// ---------------------------------------------------------------------------------------------
// Recurrent layers.


/** Per-row order that moves each row's valid steps to the front, and the row lengths (int32). */
function compaction(g: GraphBuilder, x: string, mask: string): { order: string; inverse: string; lengths: string; T1: string } {
  const m = g.op('Cast', [mask], [attr.int('to', I64)]);
  const T1 = g.op('Shape', [x], [attr.int('start', 1), attr.int('end', 2)]);
  const steps = g.op('Range', [g.scalarI64(0), g.op('Squeeze', [T1]), g.scalarI64(1)]);
  // key = (1 - m)·T + t: valid steps first, each group in time order (keys are distinct).
  const key = g.op('Add', [g.op('Mul', [g.op('Sub', [g.scalarI64(1), m]), T1]), steps]);
  const order = g.ops('TopK', [key, T1], 2, [attr.int('axis', 1), attr.int('largest', 0), attr.int('sorted', 1)])[1]!;
  const inverse = g.ops('TopK', [order, T1], 2, [attr.int('axis', 1), attr.int('largest', 0), attr.int('sorted', 1)])[1]!;
  const lengths = g.op('Cast', [g.op('ReduceSum', [m, g.i64(1)], [attr.int('keepdims', 0)])], [attr.int('to', I32)]);
  return { order, inverse, lengths, T1 };
}

/** x [B, T, W] with its steps permuted per row: y[b, t] = x[b, index[b, t]]. */
function permuteSteps(g: GraphBuilder, x: string, index: string): string {
  const idx = g.op('Expand', [g.op('Unsqueeze', [index, g.i64(2)]), g.op('Shape', [x])]);
  return g.op('GatherElements', [x, idx], [attr.int('axis', 1)]);
}

/** x with an axis (default 1, the time axis of a batch-first value) reversed. */
export function reverseSteps(g: GraphBuilder, x: string, axis = 1): string {
  return g.op('Slice', [x, g.i64(-1), g.i64(-(2 ** 31)), g.i64(axis), g.i64(-1)]);
}

/** [k, B, H] state inputs as given per direction ([B, H] each, Keras order) -> [D, B, H]. */
function stackStates(g: GraphBuilder, xs: string[]): string {
  const parts = xs.map((s) => g.op('Unsqueeze', [s, g.i64(0)]));
  return parts.length === 1 ? parts[0]! : g.op('Concat', parts, [attr.int('axis', 0)]);
}

interface StateIO { h: string; c: string | null; hOut: string; cOut: string | null }

export function recurrent(g: GraphBuilder, layer: RecurrentLayer, ins: Val[], io: StateIO | null): Val[] {
  const o = layer.options, cell = layer.cell, H = layer.units;
  const D = layer.bidirectional ? 2 : 1, S = layer.statesPerDirection;
  const x0 = ins[0]!;
  const F0 = lastDim(layer, x0.shape);
  if (x0.shape.length !== 2) fail(layer, `expects a sequence [batch, time, features], got [batch, ${x0.shape.map(String).join(', ')}]`);
  const given = ins.slice(1);
  if (given.length !== 0 && given.length !== D * S) fail(layer, `expects ${D * S} initial states, got ${given.length}`);

  let x = x0.name, mask = x0.mask;
  if (o.goBackwards) {
    x = reverseSteps(g, x);
    if (mask) mask = reverseSteps(g, mask);
  }
  const plan = mask ? compaction(g, x, mask) : null;
  if (plan) x = permuteSteps(g, x, plan.order);
  const X = g.op('Transpose', [x], [attr.ints('perm', [1, 0, 2])]);

  // Weights, in ONNX layout: W [D, G, F], R [D, G, H], B [D, 2G] = [bias_ih | bias_hh].
  const core = layer.core!, order = ONNX_GATE_ORDER[cell], G = order.length * H;
  const Wd = new Float32Array(D * G * F0), Rd = new Float32Array(D * G * H), Bd = new Float32Array(D * 2 * G);
  const bias = core.params.entries.some((e) => e.name.startsWith('bias_ih'));
  for (let d = 0; d < D; d++) {
    const s = d === 1 ? '_l0_reverse' : '_l0';
    const onnx = (n: string, width: number): Float32Array => reorderGateBlocks(core.params.value(`${n}${s}`), order, H, width);
    Wd.set(onnx('weight_ih', F0), d * G * F0);
    Rd.set(onnx('weight_hh', H), d * G * H);
    if (bias) {
      Bd.set(onnx('bias_ih', 1), d * 2 * G);
      Bd.set(onnx('bias_hh', 1), d * 2 * G + G);
    }
  }
  let h0: string | null = null, c0: string | null = null;
  if (given.length) {
    h0 = stackStates(g, given.filter((_, i) => i % S === 0).map((v) => v.name));
    if (S === 2) c0 = stackStates(g, given.filter((_, i) => i % S === 1).map((v) => v.name));
  } else if (io) {
    h0 = io.h; c0 = io.c;
  }
  const attributes: Attribute[] = [attr.int('hidden_size', H), attr.string('direction', D === 2 ? 'bidirectional' : 'forward')];
  if (cell === 'SimpleRNN') attributes.push(attr.strings('activations', Array(D).fill(o.activation === 'relu' ? 'Relu' : 'Tanh')));
  if (cell === 'GRU') attributes.push(attr.int('linear_before_reset', (o.resetAfter ?? true) ? 1 : 0));
  // Hard-sigmoid gates: ONNX's HardSigmoid, whose defaults (alpha 0.2, beta 0.5) are the layer's.
  if (core.hardSigmoid) attributes.push(attr.strings('activations', Array(D).fill(cell === 'LSTM' ? ['HardSigmoid', 'Tanh', 'Tanh'] : ['HardSigmoid', 'Tanh']).flat()));
  const inputs = [
    X, g.tensor('W', [D, G, F0], Wd), g.tensor('R', [D, G, H], Rd), bias ? g.tensor('B', [D, 2 * G], Bd) : '',
    plan?.lengths ?? '', h0 ?? '', ...(S === 2 ? [c0 ?? ''] : []),
  ];
  while (inputs[inputs.length - 1] === '') inputs.pop();
  const opType = cell === 'SimpleRNN' ? 'RNN' : cell;
  const [Y, Yh, Yc] = g.ops(opType, inputs, S === 2 ? 3 : 2, attributes);
  let hN = Yh!, cN = S === 2 ? Yc! : null;
  if (plan && h0) {
    // A row with no valid step keeps its initial state (onnxruntime would write zeros).
    const empty = g.op('Unsqueeze', [g.op('Equal', [plan.lengths, g.constant(I32, [], [0])]), g.i64(0, 2)]);
    hN = g.op('Where', [empty, h0, hN]);
    if (cN && c0) cN = g.op('Where', [empty, c0, cN]);
  }
  if (io) {
    g.nodes.push({ opType: 'Identity', inputs: [hN], outputs: [io.hOut], name: g.fresh('h_out_node') });
    if (cN && io.cOut) g.nodes.push({ opType: 'Identity', inputs: [cN], outputs: [io.cOut], name: g.fresh('c_out_node') });
  }

  const merge = (v: string, axis: number): string => {
    // v has the directions on `axis`, the units after it.
    const mode = layer.bidirectional;
    if (D === 1 || mode === 'concat') return g.op('Reshape', [v, g.i64(...Array(axis).fill(0), -1)]);
    const reduce = mode === 'sum' ? 'ReduceSum' : mode === 'ave' ? 'ReduceMean' : 'ReduceProd';
    // ReduceProd takes its axes as an attribute before opset 18, ReduceSum as an input since 13.
    return reduce === 'ReduceSum' ? g.op(reduce, [v, g.i64(axis)], [attr.int('keepdims', 0)])
      : g.op(reduce, [v], [attr.ints('axes', [axis]), attr.int('keepdims', 0)]);
  };
  const outs: Val[] = [];
  const width = layer.bidirectional === 'concat' ? 2 * H : H;
  if (o.returnSequences) {
    let y = g.op('Transpose', [Y!], [attr.ints('perm', [2, 0, 1, 3])]); // [B, T, D, H]
    y = merge(y, 2);
    if (plan) y = permuteSteps(g, y, plan.inverse);
    outs.push({ name: y, shape: [x0.shape[0] ?? null, width], mask });
  } else {
    outs.push({ name: merge(g.op('Transpose', [hN], [attr.ints('perm', [1, 0, 2])]), 1), shape: [width], mask: null });
  }
  if (o.returnState) {
    for (let d = 0; d < D; d++) {
      outs.push({ name: g.op('Gather', [hN, g.scalarI64(d)], [attr.int('axis', 0)]), shape: [H], mask: null });
      if (cN) outs.push({ name: g.op('Gather', [cN, g.scalarI64(d)], [attr.int('axis', 0)]), shape: [H], mask: null });
    }
  }
  return outs;
}

// ---------------------------------------------------------------------------------------------
// Attention.

/** -inf where `keep` is false (bool, broadcastable), else the scores; a row with no key left -> 0 weights after softmax. */
function maskedSoftmax(g: GraphBuilder, scores: string, keep: string | null, axis: number): string {
  if (!keep) return g.op('Softmax', [scores], [attr.int('axis', axis)]);
  const s = g.op('Where', [keep, scores, g.scalarF(-Infinity)]);
  const w = g.op('Softmax', [s], [attr.int('axis', axis)]);
  return g.op('Where', [g.op('IsNaN', [w]), g.scalarF(0), w]);
}

/** Which keys each query may see: the key mask [B, 1, Tv] and (causal) j <= i [Tq, Tv]; null: all. */
function keepKeys(g: GraphBuilder, keyMask: string | null, causal: boolean, q: string, k: string): string | null {
  let keep: string | null = keyMask ? g.op('Unsqueeze', [keyMask, g.i64(1)]) : null; // [B, 1, Tv]
  if (causal) {
    const Tq = g.op('Squeeze', [g.op('Shape', [q], [attr.int('start', 1), attr.int('end', 2)])]);
    const Tv = g.op('Squeeze', [g.op('Shape', [k], [attr.int('start', 1), attr.int('end', 2)])]);
    const i = g.op('Unsqueeze', [g.op('Range', [g.scalarI64(0), Tq, g.scalarI64(1)]), g.i64(1)]);
    const j = g.op('Unsqueeze', [g.op('Range', [g.scalarI64(0), Tv, g.scalarI64(1)]), g.i64(0)]);
    const tri = g.op('Not', [g.op('Greater', [j, i])]); // [Tq, Tv]
    keep = keep ? g.op('And', [keep, tri]) : tri;
  }
  return keep;
}

function attentionPooling(g: GraphBuilder, layer: AttentionPooling, x: Val): Val[] {
  const D = lastDim(layer, x.shape), A = layer.options.units;
  const u = g.op('Tanh', [affine(g, layer, x.name, 'kernel', 'bias', D, A)]); // [B, T, A]
  const s = g.op('Squeeze', [g.op('MatMul', [u, g.tensor('context', [A, 1], paramOf(layer, 'context'))]), g.i64(2)]); // [B, T]
  const w = maskedSoftmax(g, s, x.mask, 1);
  const y = g.op('MatMul', [g.op('Unsqueeze', [w, g.i64(1)]), x.name]); // [B, 1, D]
  return [{ name: g.op('Squeeze', [y, g.i64(1)]), shape: [D], mask: null }];
}

function attention(g: GraphBuilder, layer: Attention, ins: Val[]): Val[] {
  const [q, v] = ins as [Val, Val];
  const k = ins[2] ?? v;
  const Dq = lastDim(layer, q.shape), Dk = lastDim(layer, k.shape), Dv = lastDim(layer, v.shape);
  let scores: string;
  if (layer.score === 'additive') {
    // wᵀ tanh(q W_q + k W_k + b): [B, Tq, 1, A] + [B, 1, Tv, A].
    const A = (layer.params!.entries.find((e) => e.name === 'bias')!.shape[0])!;
    const qa = g.op('Unsqueeze', [affine(g, layer, q.name, 'query_kernel', null, Dq, A), g.i64(2)]);
    const ka = g.op('Unsqueeze', [affine(g, layer, k.name, 'key_kernel', 'bias', Dk, A), g.i64(1)]);
    const u = g.op('Tanh', [g.op('Add', [qa, ka])]);
    scores = g.op('Squeeze', [g.op('MatMul', [u, g.tensor('score_vector', [A, 1], paramOf(layer, 'score_vector'))]), g.i64(3)]);
  } else {
    scores = g.op('MatMul', [q.name, g.op('Transpose', [k.name], [attr.ints('perm', [0, 2, 1])])]);
    if (layer.score === 'scaledDot') scores = g.op('Mul', [scores, g.scalarF(1 / Math.sqrt(Dk))]);
  }
  const keep = keepKeys(g, k.mask ?? v.mask, layer.causal, q.name, k.name);
  const w = maskedSoftmax(g, scores, keep, 2);
  return [{ name: g.op('MatMul', [w, v.name]), shape: [q.shape[0] ?? null, Dv], mask: q.mask }];
}

function multiHead(g: GraphBuilder, layer: MultiHeadAttention, ins: Val[]): Val[] {
  const [q, v] = ins as [Val, Val];
  const k = ins[2] ?? v;
  const nh = layer.numHeads, dk = layer.keyDim, dv = layer.valueDim;
  const Dq = lastDim(layer, q.shape), Dk = lastDim(layer, k.shape), Dv = lastDim(layer, v.shape);
  const Do = layer.params!.entries.find((e) => e.name === 'output_kernel')!.shape[1]!;
  const heads = (x: string, w: number): string => // [B, T, nh·w] -> [B, nh, T, w]
    g.op('Transpose', [g.op('Reshape', [x, g.i64(0, 0, nh, w)])], [attr.ints('perm', [0, 2, 1, 3])]);
  const Q = heads(affine(g, layer, q.name, 'query_kernel', 'query_bias', Dq, nh * dk), dk);
  const K = heads(affine(g, layer, k.name, 'key_kernel', 'key_bias', Dk, nh * dk), dk);
  const V = heads(affine(g, layer, v.name, 'value_kernel', 'value_bias', Dv, nh * dv), dv);
  const scores = g.op('Mul', [g.op('MatMul', [Q, g.op('Transpose', [K], [attr.ints('perm', [0, 1, 3, 2])])]), g.scalarF(1 / Math.sqrt(dk))]);
  let keep = keepKeys(g, k.mask ?? v.mask, layer.causal, q.name, k.name); // [B, 1, Tv] or [Tq, Tv] or [B, Tq, Tv]
  if (keep && (k.mask ?? v.mask)) keep = g.op('Unsqueeze', [keep, g.i64(1)]); // -> [B, 1, ., Tv] over the heads
  const w = maskedSoftmax(g, scores, keep, 3);
  const o = g.op('Transpose', [g.op('MatMul', [w, V])], [attr.ints('perm', [0, 2, 1, 3])]); // [B, Tq, nh, dv]
  const y = affine(g, layer, g.op('Reshape', [o, g.i64(0, 0, -1)]), 'output_kernel', 'output_bias', nh * dv, Do);
  return [{ name: y, shape: [q.shape[0] ?? null, Do], mask: q.mask }];
}

// ---------------------------------------------------------------------------------------------
// The other layers.

function layerNorm(g: GraphBuilder, layer: LayerNormalization, x: Val): Val {
  const D = lastDim(layer, x.shape);
  const gamma = layer.scale ? g.tensor('gamma', [D], paramOf(layer, 'gamma')) : g.tensor('gamma', [D], new Float32Array(D).fill(1));
  const inputs = [x.name, gamma, ...(layer.center ? [g.tensor('beta', [D], paramOf(layer, 'beta'))] : [])];
  return { ...x, name: g.op('LayerNormalization', inputs, [attr.int('axis', -1), attr.float('epsilon', layer.epsilon)]) };
}

function positions(g: GraphBuilder, layer: PositionEncoding, x: Val, maxLength: number): Val {
  const D = lastDim(layer, x.shape);
  const fixed = typeof x.shape[0] === 'number' ? x.shape[0] : null;
  let table: string;
  if (layer.kind === 'learned') {
    table = g.tensor('embeddings', [layer.maxLength!, D], paramOf(layer, 'embeddings'));
  } else {
    const L = layer.maxLength ?? fixed ?? maxLength;
    const P = new Float32Array(L * D);
    sinePositions(L, D, layer.maxWavelength, P);
    table = g.tensor('sine', [L, D], P, F, true);
  }
  const T1 = g.op('Shape', [x.name], [attr.int('start', 1), attr.int('end', 2)]);
  const P = g.op('Slice', [table, g.i64(0), T1, g.i64(0)]);
  return { ...x, name: g.op('Add', [x.name, P]) };
}

/** Masking: a step is real where some feature differs from maskValue (and the mask so far says so); padding zeroed. */
function masking(g: GraphBuilder, layer: Masking, x: Val): Val {
  const differs = g.op('Cast', [g.op('Not', [g.op('Equal', [x.name, g.scalarF(layer.maskValue)])])], [attr.int('to', F)]);
  let mask = g.op('Cast', [g.op('ReduceMax', [differs], [attr.ints('axes', [2]), attr.int('keepdims', 0)])], [attr.int('to', DataType.BOOL)]);
  if (x.mask) mask = g.op('And', [x.mask, mask]);
  return { name: g.op('Where', [g.op('Unsqueeze', [mask, g.i64(2)]), x.name, g.scalarF(0)]), shape: x.shape, mask };
}

/** Mean (in float64, as the layer) or maximum over the real steps; 0 for a row without one. */
function globalPooling(g: GraphBuilder, layer: GlobalAveragePooling1D | GlobalMaxPooling1D, x: Val): Val {
  const shape = [lastDim(layer, x.shape)];
  const keep = x.mask ? g.op('Unsqueeze', [x.mask, g.i64(2)]) : null; // [B, T, 1]
  if (layer instanceof GlobalMaxPooling1D) {
    if (!keep) return { name: g.op('ReduceMax', [x.name], [attr.ints('axes', [1]), attr.int('keepdims', 0)]), shape, mask: null };
    const y = g.op('ReduceMax', [g.op('Where', [keep, x.name, g.scalarF(-Infinity)])], [attr.ints('axes', [1]), attr.int('keepdims', 0)]);
    const real = g.op('Cast', [x.mask!], [attr.int('to', F)]);
    const any = g.op('Cast', [g.op('ReduceMax', [real], [attr.ints('axes', [1]), attr.int('keepdims', 1)])], [attr.int('to', DataType.BOOL)]); // [B, 1]
    return { name: g.op('Where', [any, y, g.scalarF(0)]), shape, mask: null };
  }
  const F64 = DataType.DOUBLE, xd = g.op('Cast', [x.name], [attr.int('to', F64)]);
  if (!keep) return { name: g.op('Cast', [g.op('ReduceMean', [xd], [attr.ints('axes', [1]), attr.int('keepdims', 0)])], [attr.int('to', F)]), shape, mask: null };
  const m = g.op('Cast', [x.mask!], [attr.int('to', F64)]); // [B, T]
  const sum = g.op('ReduceSum', [g.op('Mul', [xd, g.op('Unsqueeze', [m, g.i64(2)])]), g.i64(1)], [attr.int('keepdims', 0)]); // [B, F]
  const n = g.op('ReduceSum', [m, g.i64(1)], [attr.int('keepdims', 1)]); // [B, 1]
  const mean = g.op('Where', [g.op('Greater', [n, g.constant(F64, [], [0])]), g.op('Div', [sum, n]), g.constant(F64, [], [0])]);
  return { name: g.op('Cast', [mean], [attr.int('to', F)]), shape, mask: null };
}

// ---------------------------------------------------------------------------------------------
// The model.

/** The layer's outputs (one, or a recurrent layer's output and states). */
function emitLayer(g: GraphBuilder, layer: Layer, ins: Val[], io: StateIO | null, opts: OnnxExportOptions): Val[] {
  g.scope = layer.name;
  try {
    const one = (v: Val): Val[] => [v];
    const x = ins[0]!;
    if (layer instanceof RecurrentLayer) return recurrent(g, layer, ins, io);
    if (layer instanceof Embedding) {
      const { inputDim, outputDim, maskZero } = layer.options;
      const y = g.op('Gather', [g.tensor('embeddings', [inputDim, outputDim], paramOf(layer, 'embeddings')), x.name], [attr.int('axis', 0)]);
      let mask = x.mask;
      if (maskZero) {
        const nz = g.op('Not', [g.op('Equal', [x.name, g.constant(I32, [], [0])])]);
        mask = mask ? g.op('And', [mask, nz]) : nz;
      }
      return one({ name: y, shape: [...x.shape, outputDim], mask });
    }
    if (layer instanceof Dense) {
      const K = lastDim(layer, x.shape), U = layer.options.units;
      return one({ name: activation(g, layer.activation, affine(g, layer, x.name, 'kernel', 'bias', K, U)), shape: [...x.shape.slice(0, -1), U], mask: x.mask });
    }
    if (layer instanceof Activation) return one({ ...x, name: activation(g, layer.activation, x.name) });
    if (layer instanceof Dropout) return one(x);
    if (layer instanceof Add) {
      let y = ins[0]!.name;
      for (const v of ins.slice(1)) y = g.op('Add', [y, v.name]);
      return one({ name: y, shape: x.shape, mask: ins.find((v) => v.mask)?.mask ?? null });
    }
    if (layer instanceof Concatenate) {
      const W = ins.reduce((s, v) => s + lastDim(layer, v.shape), 0);
      return one({ name: g.op('Concat', ins.map((v) => v.name), [attr.int('axis', -1)]), shape: [...x.shape.slice(0, -1), W], mask: ins.find((v) => v.mask)?.mask ?? null });
    }
    if (layer instanceof AttentionPooling) return attentionPooling(g, layer, x);
    if (layer instanceof Attention) return attention(g, layer, ins);
    if (layer instanceof MultiHeadAttention) return multiHead(g, layer, ins);
    if (layer instanceof LayerNormalization) return one(layerNorm(g, layer, x));
    if (layer instanceof PositionEncoding) return one(positions(g, layer, x, opts.maxLength ?? 2048));
    if (layer instanceof Masking) return one(masking(g, layer, x));
    if (layer instanceof GlobalAveragePooling1D || layer instanceof GlobalMaxPooling1D) return one(globalPooling(g, layer, x));
    if (layer instanceof RepeatVector) {
      return one({ name: g.op('Tile', [g.op('Unsqueeze', [x.name, g.i64(1)]), g.i64(1, layer.n, 1)]), shape: [layer.n, lastDim(layer, x.shape)], mask: null });
    }
    return fail(layer, 'has no ONNX form in this exporter');
  } finally {
    g.scope = '';
  }
}

/**
 * Graph input from a model input: int32 ids when Embeddings read it, else float32. Its unknown
 * dimensions get names of their own (`prefix`time, ...): a runtime takes dimensions of one name
 * for one size, and two inputs' sequences may differ in length.
 */
function inputInfo(name: string, shape: Shape, readers: Layer[], prefix = ''): OnnxTensorInfo {
  const emb = readers.filter((l) => l instanceof Embedding).length;
  if (emb > 0 && emb < readers.length) {
    throw new OnnxExportError(`exportOnnx: input '${name}' feeds Embedding layers (token ids) and other layers (numbers); give them separate inputs`);
  }
  let named = 0;
  const dims = shape.map((d) => (typeof d === 'number' ? d : `${prefix}${named++ === 0 ? 'time' : `dim_${named}`}`));
  return { name, type: emb > 0 ? 'int32' : 'float32', shape: ['batch', ...dims] };
}

const elemOf = (t: 'int32' | 'float32'): DataTypeCode => (t === 'int32' ? I32 : F);

/**
 * The ONNX form of a built model: one input per model input (token ids as int32 [batch, time],
 * other inputs float32), output 'output' (what predict returns), and with `states` each recurrent
 * layer's state in and out. Throws OnnxExportError for a layer without an ONNX form.
 */
export function exportOnnx(model: Model, options: OnnxExportOptions = {}): OnnxExport {
  if (!(model instanceof Sequential) && !(model instanceof GraphModel)) throw new OnnxExportError('exportOnnx: expected a Sequential or functional model');
  if (!model.isBuilt) throw new OnnxExportError(`exportOnnx: model '${model.name}' is not built; give it an input shape or train it first`);
  const maxLength = options.maxLength ?? 2048;
  if (!(Number.isInteger(maxLength) && maxLength >= 1)) throw new OnnxExportError(`exportOnnx: option 'maxLength' must be a positive integer, got ${String(options.maxLength)}`);
  const g = new GraphBuilder();
  const dtype = options.weightsDtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new OnnxExportError(`exportOnnx: option 'weightsDtype' must be 'float32' or 'float16', got ${JSON.stringify(options.weightsDtype)}`);
  g.half = dtype === 'float16';
  const layers = model.allLayers();
  const withStates = options.states ?? layers.some((l) => l instanceof RecurrentLayer && l.options.stateful);
  const inputs: OnnxTensorInfo[] = [], outputs: OnnxTensorInfo[] = [];
  const stateIO = (layer: RecurrentLayer): StateIO => {
    const D = layer.bidirectional ? 2 : 1, shape = [D, 'batch', layer.units];
    const io: StateIO = { h: `${layer.name}/h_in`, c: null, hOut: `${layer.name}/h_out`, cOut: null };
    if (layer.cell === 'LSTM') { io.c = `${layer.name}/c_in`; io.cOut = `${layer.name}/c_out`; }
    for (const n of [io.h, io.c]) if (n) { g.reserve(n); inputs.push({ name: n, type: 'float32', shape }); }
    for (const n of [io.hOut, io.cOut]) if (n) { g.reserve(n); outputs.push({ name: n, type: 'float32', shape }); }
    return io;
  };
  let out: Val;
  if (model instanceof Sequential) {
    const info = inputInfo('input', model.inputShape!, layers.slice(0, 1));
    g.reserve(info.name);
    inputs.unshift(info);
    let v: Val = { name: info.name, shape: model.inputShape!, mask: null };
    for (const layer of model.layers) {
      const io = withStates && layer instanceof RecurrentLayer ? stateIO(layer) : null;
      const shape = layer.computeOutputShape(v.shape);
      v = { ...emitLayer(g, layer, [v], io, options)[0]!, shape };
    }
    out = v;
  } else {
    const values = new Map<SymbolicTensor, Val>();
    const modelInputs: OnnxTensorInfo[] = [];
    for (const t of model.inputs) {
      let name = t.name, k = 1;
      while (modelInputs.some((i) => i.name === name)) name = `${t.name}_${k++}`;
      const info = inputInfo(name, t.shape, model.nodes.filter((n) => n.inputs.includes(t)).map((n) => n.layer), model.inputs.length > 1 ? `${name}_` : '');
      g.reserve(name);
      modelInputs.push(info);
      values.set(t, { name, shape: t.shape, mask: null });
    }
    inputs.unshift(...modelInputs);
    for (const n of model.nodes) {
      const ins = n.inputs.map((t) => values.get(t)!);
      const io = withStates && n.layer instanceof RecurrentLayer && ins.length === 1 ? stateIO(n.layer) : null;
      const outs = emitLayer(g, n.layer, ins, io, options);
      n.outputs.forEach((t, i) => values.set(t, { ...outs[i]!, shape: t.shape }));
    }
    out = values.get(model.output)!;
  }
  g.reserve('output');
  g.nodes.push({ opType: 'Identity', inputs: [out.name], outputs: ['output'], name: g.fresh('output_node') });
  // (one input: an unknown output length is its length; several: a name of its own)
  const outPrefix = model instanceof GraphModel && model.inputs.length > 1 ? 'output_' : '';
  outputs.unshift({ name: 'output', type: 'float32', shape: ['batch', ...out.shape.map((d, i) => (typeof d === 'number' ? d : `${outPrefix}${i === 0 ? 'time' : `dim_${i}`}`))] });

  const metadata: Record<string, string> = { 'rnnkit.model': JSON.stringify(model.getConfig()) };
  if (model.metadata && Object.keys(model.metadata).length) metadata['rnnkit.metadata'] = JSON.stringify(model.metadata);
  return serialize(g, options.name ?? model.name, inputs, outputs, { ...metadata, ...options.metadata });
}

/** The ModelProto of a finished graph. */
export function serialize(g: GraphBuilder, name: string, inputs: OnnxTensorInfo[], outputs: OnnxTensorInfo[], metadata: Record<string, string>): OnnxExport {
  const vi = (t: OnnxTensorInfo): ValueInfoSpec => ({ name: t.name, elemType: elemOf(t.type), shape: t.shape });
  const bytes = encodeModel({
    irVersion: IR_VERSION,
    opset: ONNX_OPSET,
    producerName: 'rnnkit',
    docString: `rnnkit model '${name}': inputs ${inputs.map((i) => `${i.name} ${i.type} [${i.shape.join(', ')}]`).join('; ')}`,
    metadata,
    graph: { name, nodes: g.nodes, initializers: g.initializers, inputs: inputs.map(vi), outputs: outputs.map(vi) },
  });
  return { bytes, inputs, outputs };
}
