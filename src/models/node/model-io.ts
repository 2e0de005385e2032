// Saving and loading whole models: one directory with model.json (architecture, compile
// settings, metadata, training position and rng state), weights.safetensors (PyTorch can read
// it) and optimizer.safetensors (moments, for exact resumption). Writes are atomic (bundle.ts).
import { layerFromConfig } from '../../layers/from-config.js';
import type { Shape } from '../../layers/layer.js';
import { deserializeOptimizer, serializeOptimizer, type OptimizerConfig } from '../../optim/optimizers.js';
import { Sequential, type Model } from '../sequential.js';
import { GraphModel } from '../functional.js';
import { applyLayer, input, type SymbolicTensor } from '../../layers/symbolic.js';
import { FORMAT_VERSION, BUNDLE_FORMAT, loadBundle, saveBundle, type Bundle, type TensorMap } from './bundle.js';

export const CREATED_BY = 'rnnkit 0.1.0';

export interface SaveModelOptions {
  /** Also save the optimiser state so training can resume exactly (default true). */
  includeOptimizer?: boolean;
}

export function modelToBundle(model: Model, opts: SaveModelOptions = {}): Bundle {
  if (!model.isBuilt) throw new Error(`save: model '${model.name}' is not built yet (nothing to save)`);
  const weights: TensorMap = {};
  for (const e of model.weightEntries()) {
    weights[e.name] = { dtype: 'F32', shape: e.shape, data: model.params.slice(e.offset, e.offset + e.size) };
  }
  const bundle: Bundle = {
    manifest: {
      format: BUNDLE_FORMAT, formatVersion: FORMAT_VERSION, createdBy: CREATED_BY,
      model: model.getConfig(),
      compile: model.optimizer && model.lossName
        ? { optimizer: serializeOptimizer(model.optimizer), loss: model.lossName, metrics: model.metricNames }
        : null,
      training: { step: model.step, epochsDone: model.epochsDone, rngState: model.rng.getState() },
      metadata: model.metadata,
      weights: model.weightEntries().map(({ name, shape }) => ({ name, shape, dtype: 'float32' })),
    },
    weights,
  };
  if ((opts.includeOptimizer ?? true) && model.optimizer) {
    const st = model.optimizer.getState();
    const tensors: TensorMap = {};
    for (const [k, v] of Object.entries(st.slots)) tensors[k] = { dtype: v instanceof Float64Array ? 'F64' : 'F32', shape: [v.length], data: v };
    bundle.optimizer = { tensors, metadata: { iterations: String(st.iterations) } };
  }
  return bundle;
}

export async function saveModel(model: Model, dir: string, opts: SaveModelOptions = {}): Promise<void> {
  await saveBundle(dir, modelToBundle(model, opts));
}

/** Load a model saved by saveModel; every piece is validated and errors name the file. */
/** Rebuild the architecture (not the weights) from getConfig() output. */
export function modelFromConfig(raw: unknown, where: string): Model {
  const cfg = raw as { className?: string; name?: string; inputShape?: Shape; layers?: unknown[] } | undefined;
  if (cfg?.className === 'Functional') return graphFromConfig(raw, where);
  if (!cfg || cfg.className !== 'Sequential' || !Array.isArray(cfg.layers)) {
    throw new Error(`${where}: "model" must describe a Sequential model with a "layers" array or a Functional model`);
  }
  if (!Array.isArray(cfg.inputShape)) throw new Error(`${where}: "model.inputShape" is missing`);
  const model = new Sequential({ name: cfg.name ?? 'sequential' });
  cfg.layers.forEach((lc, i) => model.add(layerFromConfig(lc, `${where}: model.layers[${i}]`)));
  model.build(cfg.inputShape);
  return model;
}

function graphFromConfig(raw: unknown, where: string): Model {
  const cfg = raw as { name?: string; inputs?: { name: string; shape: Shape }[]; nodes?: { layer: unknown; inputs: [number, number][] }[]; output?: [number, number] };
  if (!Array.isArray(cfg.inputs) || !Array.isArray(cfg.nodes) || !Array.isArray(cfg.output)) {
    throw new Error(`${where}: a Functional model needs "inputs", "nodes" and "output"`);
  }
  const inputs = cfg.inputs.map((t, i) => {
    if (!t || !Array.isArray(t.shape)) throw new Error(`${where}: model.inputs[${i}] needs a "shape"`);
    return input({ shape: t.shape, name: String(t.name ?? `input_${i}`) });
  });
  const outs: SymbolicTensor[][] = [];
  const ref = (r: unknown, what: string): SymbolicTensor => {
    const [k, i] = Array.isArray(r) ? (r as number[]) : [NaN, NaN];
    const t = k! < 0 ? inputs[-1 - k!] : outs[k!]?.[i!];
    if (!t) throw new Error(`${where}: ${what} refers to ${JSON.stringify(r)}, which is not an earlier node output or an input`);
    return t;
  };
  cfg.nodes.forEach((n, k) => {
    const layer = layerFromConfig(n?.layer, `${where}: model.nodes[${k}].layer`);
    const ins = (Array.isArray(n.inputs) ? n.inputs : []).map((r, j) => ref(r, `model.nodes[${k}].inputs[${j}]`));
    const res = applyLayer(layer, ins);
    outs.push(Array.isArray(res) ? res : [res]);
  });
  return new GraphModel({ name: cfg.name ?? 'model', inputs, outputs: ref(cfg.output, 'model.output') });
}

/**
 * Load a model saved by saveModel. The result is a Sequential or a GraphModel, as saved; the
 * type parameter lets callers that know which say so (`loadModel<GraphModel>(dir)`).
 */
export async function loadModel<M extends Model = Sequential>(dir: string): Promise<M> {
  const b = await loadBundle(dir);
  const where = `${dir}/model.json`;
  const m = b.manifest as Record<string, unknown>;
  const model = modelFromConfig(m.model, where);
  const entries = model.weightEntries();
  const names = new Set(entries.map((e) => e.name));
  for (const k of Object.keys(b.weights)) {
    if (!names.has(k)) throw new Error(`${dir}/weights.safetensors: unexpected tensor '${k}' for this architecture`);
  }
  for (const e of entries) {
    const t = b.weights[e.name];
    if (!t) throw new Error(`${dir}/weights.safetensors: missing tensor '${e.name}' (shape [${e.shape.join(', ')}])`);
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new Error(`${dir}/weights.safetensors: tensor '${e.name}' has shape [${t.shape.join(', ')}], the architecture needs [${e.shape.join(', ')}]`);
    }
    model.params.set(t.data as Float32Array, e.offset);
  }
  const compile = m.compile as { optimizer: { className: string; config: OptimizerConfig }; loss: string; metrics: string[] } | null | undefined;
  if (compile) {
    model.compile({ optimizer: deserializeOptimizer(compile.optimizer), loss: compile.loss, metrics: compile.metrics ?? [] });
    if (b.optimizer && model.optimizer) {
      const slots: Record<string, Float32Array | Float64Array> = {};
      for (const [k, v] of Object.entries(b.optimizer.tensors)) slots[k] = v.data as Float32Array;
      const iterations = Number(b.optimizer.metadata.iterations ?? 0);
      model.optimizer.setState({ iterations, slots });
    }
  }
  const tr = m.training as { step?: number; epochsDone?: number; rngState?: number[] } | undefined;
  if (tr) {
    model.step = tr.step ?? 0;
    model.epochsDone = tr.epochsDone ?? 0;
    if (Array.isArray(tr.rngState) && tr.rngState.length === 4) model.rng.setState(tr.rngState);
  }
  model.metadata = (m.metadata as Record<string, unknown>) ?? {};
  return model as M;
}
