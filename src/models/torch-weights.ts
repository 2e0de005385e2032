// PyTorch weights into a rnnkit model of the same architecture: a model's state_dict (as a file
// torch.save wrote, a safetensors file, or a record of tensors) loaded layer by layer.
//
// rnnkit's recurrent layers keep PyTorch's names, layouts and gate orders (weight_ih_l0 [G, I],
// weight_hh_l0 [G, H], bias_ih_l0, bias_hh_l0, `_reverse` for the backward direction; LSTM
// i, f, g, o; GRU r, z, n with the reset applied after the product, rnnkit's `resetAfter: true`),
// so those copy as they are. A PyTorch `nn.LSTM` of L layers is L rnnkit layers: its sub-layer
// k (`*_l{k}`) goes to one of them. `nn.Embedding`'s weight [V, E] is the embeddings as they lie;
// `nn.Linear`'s weight [U, K] is a Dense kernel [K, U] transposed; `nn.LayerNorm`'s weight and
// bias are gamma and beta.
//
// Which PyTorch module feeds which layer: the layers are taken in the model's order, each matched
// to the one module (or recurrent sub-layer) whose kind and shapes fit it; a stacked module's
// sub-layers go in their order. The tensors' order does not matter (a safetensors file sorts
// them by name). When two modules fit one layer — two Linear(64, 64) — the match is refused as
// ambiguous, and `map` names the module: { dense_1: 'decoder.proj', lstm_2: 'rnn:l1' }. Every
// tensor must find its layer and every layer with weights its module, or nothing is loaded.
import { Dense, Embedding } from '../layers/core.js';
import { transposeRows } from '../layers/gate-layout.js';
import { checkedWeight, shapeStr, type Layer } from '../layers/layer.js';
import { LayerNormalization } from '../layers/normalization.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { bfloat16Value, decodeSafetensors, float16Value } from './safetensors.js';
import { decodeTorchFile, isTorchFile } from './torch-file.js';
import { Sequential, type Model } from './sequential.js';

/** A PyTorch tensor: its shape and row-major values (any numeric array). */
export interface TorchTensor {
  shape: readonly number[];
  data: ArrayLike<number>;
}

export interface LoadTorchWeightsOptions {
  /**
   * rnnkit layer name -> PyTorch module (the tensor names' prefix: 'encoder', 'head.proj'); a
   * recurrent module's sub-layer k as 'rnn:l1'. For layers the automatic match gets wrong or
   * finds ambiguous.
   */
  map?: Record<string, string>;
  /** PyTorch tensors no layer takes are ignored instead of refused (default false). */
  allowUnused?: boolean;
  /** Named in error messages (the file's path). */
  source?: string;
  /**
   * A torch.save file holding a dict — a training checkpoint { epoch, model_state_dict, ... } —:
   * the key of the state_dict in it. Default: the one entry that is a state_dict or a module.
   */
  entry?: string;
}

export interface TorchWeightsReport {
  /** Each layer that took weights, and the module (or 'module:l{k}') they came from, in model order. */
  loaded: { layer: string; module: string }[];
  /** Tensors no layer took (only with allowUnused). */
  unused: string[];
}

export class TorchWeightsError extends Error {
  override name = 'TorchWeightsError';
}

/** A module, or a recurrent module's sub-layer: its tensors by local name (rnnkit's, for recurrent ones). */
interface Unit {
  id: string;
  module: string;
  /** Recurrent sub-layer index, or -1. */
  sub: number;
  tensors: Map<string, { key: string; t: TorchTensor }>;
}

const RECURRENT = /^(weight_ih|weight_hh|bias_ih|bias_hh)_l(\d+)(_reverse)?$/;

/** Groups the tensors into modules and recurrent sub-layers (local names: `weight`, or `weight_ih_l0`...). */
function unitsOf(state: Record<string, TorchTensor>): Unit[] {
  const units = new Map<string, Unit>();
  for (const [key, t] of Object.entries(state)) {
    const { id, module, sub, local } = unitOfName(key);
    let u = units.get(id);
    if (!u) units.set(id, (u = { id, module, sub, tensors: new Map() }));
    u.tensors.set(local, { key, t });
  }
  return [...units.values()];
}

/**
 * A tensor name's unit: its module, recurrent sub-layer k (or -1), the unit's id (`module` or
 * `module:l{k}`) and the tensor's local name (a sub-layer's under rnnkit's names for one layer, `_l0`).
 */
function unitOfName(key: string): { id: string; module: string; sub: number; local: string } {
  const dot = key.lastIndexOf('.');
  const module = dot < 0 ? '' : key.slice(0, dot), local = key.slice(dot + 1);
  const m = RECURRENT.exec(local);
  if (!m) return { id: module, module, sub: -1, local };
  const sub = Number(m[2]);
  return { id: `${module}:l${sub}`, module, sub, local: `${m[1]}_l0${m[3] ?? ''}` };
}

/**
 * The modules (and stacked recurrent sub-layers, 'rnn:l1') a state_dict's tensors group into, as
 * loadTorchWeights matches them to layers, each with its tensors' names.
 */
export function torchModules(names: readonly string[]): { module: string; tensors: string[] }[] {
  const units = new Map<string, string[]>();
  for (const n of names) {
    const id = unitOfName(n).id;
    units.set(id, [...(units.get(id) ?? []), n]);
  }
  return [...units].map(([module, tensors]) => ({ module, tensors }));
}

const sameShape = (a: readonly number[], b: readonly number[]): boolean => a.length === b.length && a.every((d, i) => d === b[i]);

/** What a layer needs: PyTorch local name -> its PyTorch shape, the rnnkit parameter it fills, whether transposed. */
type Need = Map<string, { shape: number[]; param: string; transpose: boolean }>;

/** A layer's Need; null for a layer with no weights; `fail` for one that cannot take PyTorch weights. */
function wants(l: Layer, fail: (msg: string) => never): Need | null {
  const p = l.params;
  if (!p || p.size === 0) return null;
  const need: Need = new Map();
  if (l instanceof Embedding) {
    need.set('weight', { shape: [...p.entry('embeddings').shape], param: 'embeddings', transpose: false });
  } else if (l instanceof Dense) {
    const [K, U] = p.entry('kernel').shape as [number, number];
    need.set('weight', { shape: [U, K], param: 'kernel', transpose: true });
    if (p.byName.has('bias')) need.set('bias', { shape: [U], param: 'bias', transpose: false });
  } else if (l instanceof LayerNormalization) {
    if (p.byName.has('gamma')) need.set('weight', { shape: [...p.entry('gamma').shape], param: 'gamma', transpose: false });
    if (p.byName.has('beta')) need.set('bias', { shape: [...p.entry('beta').shape], param: 'beta', transpose: false });
  } else if (l instanceof RecurrentLayer) {
    if (l.cell === 'GRU' && l.options.resetAfter === false) {
      fail(`layer '${l.name}': PyTorch's GRU applies the reset after the recurrent product; build the GRU with resetAfter: true (the default)`);
    }
    for (const e of p.entries) need.set(e.name, { shape: [...e.shape], param: e.name, transpose: false });
  } else {
    fail(`layer '${l.name}' (${l.constructor.name}) has weights but no PyTorch counterpart here (Embedding, Dense, LayerNormalization, SimpleRNN, LSTM, GRU)`);
  }
  return need;
}

/** Why `u` cannot feed a layer needing `need` (null: it can). */
function misfit(u: Unit, need: Need): string | null {
  for (const [name, w] of need) {
    const got = u.tensors.get(name);
    if (!got) return `no ${name}`;
    if (!sameShape(got.t.shape, w.shape)) return `${name} is ${shapeStr(got.t.shape)}, the layer needs ${shapeStr(w.shape)}`;
  }
  for (const name of u.tensors.keys()) if (!need.has(name)) return `${name} has no place in the layer`;
  return null;
}

const describe = (need: Need): string => [...need].map(([n, w]) => `${n} ${shapeStr(w.shape)}`).join(', ');
const unitTensors = (u: Unit): string => [...u.tensors.values()].map((v) => `${v.key} ${shapeStr(v.t.shape)}`).join(', ');

/** The layer's values in getWeights order, from the unit's tensors. */
function valuesFor(l: Layer, u: Unit, need: Need, fail: (msg: string) => never): Float32Array[] {
  const p = l.params!;
  const byParam = new Map([...need].map(([name, w]) => [w.param, { ...w, t: u.tensors.get(name)!.t, key: u.tensors.get(name)!.key }]));
  return p.entries.map((e) => {
    const w = byParam.get(e.name)!;
    const src = w.t.data;
    // (PyTorch [U, K] -> rnnkit [K, U].)
    const out = w.transpose ? transposeRows(src, w.shape[0]!, w.shape[1]!) : Float32Array.from(src);
    // (setWeights' own check, made here for every layer before any is written.)
    try { return checkedWeight(w.key, out, e.shape); } catch (err) { return fail((err as Error).message); }
  });
}

/** A safetensors file's float tensors (F32, F64, F16 or BF16) as TorchTensors (a malformed file: SafetensorsError). */
function fromSafetensors(bytes: Uint8Array, source: string | undefined, fail: (msg: string) => never): Record<string, TorchTensor> {
  const { tensors } = decodeSafetensors(bytes, source ? { source } : {});
  const out: Record<string, TorchTensor> = {};
  for (const [k, t] of Object.entries(tensors)) {
    if (t.dtype === 'F32' || t.dtype === 'F64') out[k] = { shape: t.shape, data: t.data };
    else if (t.dtype === 'F16') out[k] = { shape: t.shape, data: Float32Array.from(t.data, float16Value) };
    else if (t.dtype === 'BF16') out[k] = { shape: t.shape, data: Float32Array.from(t.data, bfloat16Value) };
    else fail(`tensor '${k}' is ${t.dtype}; weights must be F32, F64, F16 or BF16`);
  }
  return out;
}

/** A torch.save file's float tensors (TorchFileError for a malformed file). */
function fromTorchFile(bytes: Uint8Array, options: LoadTorchWeightsOptions, fail: (msg: string) => never): Record<string, TorchTensor> {
  const { tensors } = decodeTorchFile(bytes, { ...(options.source ? { source: options.source } : {}), ...(options.entry !== undefined ? { entry: options.entry } : {}) });
  for (const [k, t] of Object.entries(tensors)) {
    if (!t.dtype.startsWith('float') && t.dtype !== 'bfloat16') fail(`tensor '${k}' is ${t.dtype}; weights must be float32, float64, float16 or bfloat16`);
  }
  return tensors;
}

/**
 * Loads a PyTorch model's weights into `model`, built with the same architecture (see the top of
 * this file for the matching rules). `state`: the bytes of a file torch.save wrote (the
 * state_dict, a checkpoint dict holding it — `options.entry` — the whole module, or a TorchScript
 * module torch.jit.save wrote), of a safetensors file (what `safetensors.torch.save_file(model.state_dict(), path)` writes), or a
 * record of tensors.
 * Nothing is written unless every layer with weights and every tensor (unless `allowUnused`)
 * finds its counterpart. Returns which module each layer took.
 */
export function loadTorchWeights(model: Model, state: Uint8Array | Record<string, TorchTensor>, options: LoadTorchWeightsOptions = {}): TorchWeightsReport {
  const at = options.source ? `${options.source}: ` : '';
  const fail = (msg: string): never => { throw new TorchWeightsError(`loadTorchWeights: ${at}${msg}`); };
  if (!model.isBuilt && model instanceof Sequential && model.inputShape) model.build(model.inputShape);
  if (!model.isBuilt) fail(`model '${model.name}' is not built; give it an input shape (sequential({ inputShape })) or build it first`);
  if (options.entry !== undefined && !(state instanceof Uint8Array && isTorchFile(state))) fail('option entry is for a file torch.save wrote');
  const tensors = !(state instanceof Uint8Array) ? state
    : isTorchFile(state) ? fromTorchFile(state, options, fail) : fromSafetensors(state, options.source, fail);
  for (const [k, t] of Object.entries(tensors)) {
    const n = Array.isArray(t?.shape) && t.shape.every((d) => Number.isInteger(d) && d >= 0) ? t.shape.reduce((a, d) => a * d, 1) : NaN;
    if (!(n >= 0) || t.data?.length !== n) fail(`tensor '${k}' needs a shape and shape-many values, got shape ${JSON.stringify(t?.shape)} and ${t?.data?.length} values`);
  }
  const units = unitsOf(tensors);
  const byId = new Map(units.map((u) => [u.id, u]));
  const map = options.map ?? {};
  const layers = model.allLayers();
  for (const name of Object.keys(map)) {
    if (!layers.some((l) => l.name === name)) fail(`map names layer '${name}', which the model does not have (${layers.map((l) => l.name).join(', ')})`);
  }
  const taken = new Set<Unit>();
  const needs = new Map<Layer, Need>();
  for (const l of layers) {
    const need = wants(l, fail);
    if (need) needs.set(l, need);
  }
  // The layers `map` names first, then the others in the model's order.
  const chosen = new Map<Layer, Unit>();
  for (const [l, need] of needs) {
    const named = map[l.name];
    if (named === undefined) continue;
    const unit = byId.get(named);
    if (!unit) return fail(`map: layer '${l.name}' -> '${named}', which is no module of the weights (${units.map((u) => u.id).join(', ')})`);
    if (taken.has(unit)) fail(`map: module '${named}' is given to two layers`);
    const why = misfit(unit, need);
    if (why) fail(`map: module '${named}' does not fit layer '${l.name}': ${why} (it has ${unitTensors(unit)})`);
    taken.add(unit);
    chosen.set(l, unit);
  }
  for (const [l, need] of needs) {
    if (chosen.has(l)) continue;
    const fits = units.filter((u) => !taken.has(u) && misfit(u, need) === null);
    // A stacked module's sub-layers go in their order.
    const first = fits.filter((u) => !fits.some((v) => v.module === u.module && v.sub >= 0 && v.sub < u.sub));
    if (first.length === 0) {
      const left = units.filter((u) => !taken.has(u));
      fail(`no module fits layer '${l.name}', which needs ${describe(need)}; ${left.length ? `left: ${left.map((u) => `${u.id || '(top level)'} (${unitTensors(u)})`).join('; ')}` : 'every module is taken'}`);
    }
    if (first.length > 1) {
      fail(`layer '${l.name}' fits ${first.length} modules (${first.map((u) => u.id).join(', ')}); say which in options.map, e.g. { ${JSON.stringify(l.name)}: ${JSON.stringify(first[0]!.id)} }`);
    }
    taken.add(first[0]!);
    chosen.set(l, first[0]!);
  }
  const plan = [...needs].map(([layer, need]) => ({ layer, need, unit: chosen.get(layer)! }));
  const unused = units.filter((u) => !taken.has(u)).flatMap((u) => [...u.tensors.values()].map((v) => v.key));
  if (unused.length && !options.allowUnused) fail(`no layer takes ${unused.join(', ')} (allowUnused: true ignores them)`);
  // Everything checked: the values, then the layers.
  const values = plan.map(({ layer, unit, need }) => valuesFor(layer, unit, need, fail));
  plan.forEach(({ layer }, i) => layer.setWeights(values[i]!));
  return { loaded: plan.map(({ layer, unit }) => ({ layer: layer.name, module: unit.id })), unused };
}
