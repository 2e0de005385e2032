// Saving and loading whole models: one directory with model.json (architecture, compile
// settings, metadata, training position and rng state), weights.safetensors (PyTorch can read
// it) and optimizer.safetensors (moments, for exact resumption). Writes are atomic (bundle.ts).
import { join } from 'node:path';
import { serializeOptimizer } from '../../optim/optimizers.js';
import { modelFromBundle } from '../model-format.js';
import { toFloat16 } from '../safetensors.js';
import type { Model, Sequential } from '../sequential.js';
import { FORMAT_VERSION, BUNDLE_FORMAT, loadBundle, MANIFEST_FILE, saveBundle, WEIGHTS_FILE, type Bundle, type TensorMap } from './bundle.js';

export { modelFromConfig } from '../model-format.js';

export const CREATED_BY = 'rnnkit 0.1.0';

export interface SaveModelOptions {
  /** Also save the optimiser state so training can resume exactly (default true). */
  includeOptimizer?: boolean;
  /**
   * 'float16' stores the weights in half precision (half the bytes, for shipping a model to
   * browsers; each weight rounded to the nearest binary16, about 3 significant digits, so
   * predictions change slightly); loading widens them back to float32. Default 'float32'.
   */
  weightsDtype?: 'float32' | 'float16';
}

export function modelToBundle(model: Model, opts: SaveModelOptions = {}): Bundle {
  if (!model.isBuilt) throw new Error(`save: model '${model.name}' is not built yet (nothing to save)`);
  const half = (opts.weightsDtype ?? 'float32') === 'float16';
  if (opts.weightsDtype !== undefined && opts.weightsDtype !== 'float32' && !half) {
    throw new RangeError(`save: weightsDtype must be 'float32' or 'float16', got ${JSON.stringify(opts.weightsDtype)}`);
  }
  const weights: TensorMap = {};
  for (const e of model.weightEntries()) {
    const w = model.params.subarray(e.offset, e.offset + e.size);
    if (!half) { weights[e.name] = { dtype: 'F32', shape: e.shape, data: w.slice() }; continue; }
    const h = toFloat16(w);
    const i = h.findIndex((b) => (b & 0x7c00) === 0x7c00);
    if (i >= 0) throw new RangeError(`save: weight '${e.name}'[${i}] = ${w[i]} is beyond float16's range (±65504): save it as float32`);
    weights[e.name] = { dtype: 'F16', shape: e.shape, data: h };
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
      weights: model.weightEntries().map(({ name, shape }) => ({ name, shape, dtype: half ? 'float16' : 'float32' })),
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

/**
 * Load a model saved by saveModel. The result is a Sequential or a GraphModel, as saved; the
 * type parameter lets callers that know which say so (`loadModel<GraphModel>(dir)`).
 */
export async function loadModel<M extends Model = Sequential>(dir: string): Promise<M> {
  const b = await loadBundle(dir);
  return modelFromBundle(b, { manifest: join(dir, MANIFEST_FILE), weights: join(dir, WEIGHTS_FILE) }) as M;
}
