// Saving and loading whole models: one directory with model.json (architecture, compile
// settings, metadata, training position and rng state), weights.safetensors (PyTorch can read
// it) and optimizer.safetensors (moments, for exact resumption). Writes are atomic (bundle.ts).
import { layerFromConfig } from '../../layers/from-config.js';
import type { Shape } from '../../layers/layer.js';
import { deserializeOptimizer, serializeOptimizer, type OptimizerConfig } from '../../optim/optimizers.js';
import { Sequential } from '../sequential.js';
import { FORMAT_VERSION, BUNDLE_FORMAT, loadBundle, saveBundle, type Bundle, type TensorMap } from './bundle.js';

export const CREATED_BY = 'rnnkit 0.1.0';

export interface SaveModelOptions {
  /** Also save the optimiser state so training can resume exactly (default true). */
  includeOptimizer?: boolean;
}

export function modelToBundle(model: Sequential, opts: SaveModelOptions = {}): Bundle {
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

export async function saveModel(model: Sequential, dir: string, opts: SaveModelOptions = {}): Promise<void> {
  await saveBundle(dir, modelToBundle(model, opts));
}

/** Load a model saved by saveModel; every piece is validated and errors name the file. */
export async function loadModel(dir: string): Promise<Sequential> {
  const b = await loadBundle(dir);
  const where = `${dir}/model.json`;
  const m = b.manifest as Record<string, unknown>;
  const cfg = m.model as { className?: string; name?: string; inputShape?: Shape; layers?: unknown[] } | undefined;
  if (!cfg || cfg.className !== 'Sequential' || !Array.isArray(cfg.layers)) {
    throw new Error(`${where}: "model" must describe a Sequential model with a "layers" array`);
  }
  if (!Array.isArray(cfg.inputShape)) throw new Error(`${where}: "model.inputShape" is missing`);
  const model = new Sequential({ name: cfg.name ?? 'sequential' });
  cfg.layers.forEach((lc, i) => model.add(layerFromConfig(lc, `${where}: model.layers[${i}]`)));
  model.build(cfg.inputShape);
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
  return model;
}
