// Models from their saved form, without the file system (node/model-io.ts reads it from a
// directory, model-fetch.ts from URLs or bytes): the architecture rebuilt from getConfig()'s
// output, then the weights, the optimiser's state and the training position set, each checked
// against the architecture, with errors that name the file.
import { layerFromConfig } from '../layers/from-config.js';
import type { Shape } from '../layers/layer.js';
import { applyLayer, input, type SymbolicTensor } from '../layers/symbolic.js';
import { deserializeOptimizer, type OptimizerConfig } from '../optim/optimizers.js';
import { withWeightsToFollow } from '../tensor/init.js';
import { BundleError, type LoadedBundle } from './bundle-format.js';
import { fromFloat16 } from './safetensors.js';
import { GraphModel } from './functional.js';
import { Sequential, type Model } from './sequential.js';

/** Rebuild the architecture (not the weights) from getConfig() output. */
export function modelFromConfig(raw: unknown, where: string): Model {
  const cfg = raw as { className?: string; name?: string; inputShape?: Shape; layers?: unknown[] } | undefined;
  if (cfg?.className === 'Functional') return graphFromConfig(raw, where);
  if (!cfg || cfg.className !== 'Sequential' || !Array.isArray(cfg.layers)) {
    throw new BundleError(where, `"model" must describe a Sequential model with a "layers" array or a Functional model`);
  }
  if (!Array.isArray(cfg.inputShape)) throw new BundleError(where, `"model.inputShape" is missing`);
  const model = new Sequential({ name: cfg.name ?? 'sequential' });
  cfg.layers.forEach((lc, i) => model.add(layerFromConfig(lc, `${where}: model.layers[${i}]`)));
  model.build(cfg.inputShape);
  return model;
}

function graphFromConfig(raw: unknown, where: string): Model {
  const cfg = raw as { name?: string; inputs?: { name: string; shape: Shape }[]; nodes?: { layer: unknown; inputs: [number, number][] }[]; output?: [number, number] };
  if (!Array.isArray(cfg.inputs) || !Array.isArray(cfg.nodes) || !Array.isArray(cfg.output)) {
    throw new BundleError(where, `a Functional model needs "inputs", "nodes" and "output"`);
  }
  const inputs = cfg.inputs.map((t, i) => {
    if (!t || !Array.isArray(t.shape)) throw new BundleError(where, `model.inputs[${i}] needs a "shape"`);
    return input({ shape: t.shape, name: String(t.name ?? `input_${i}`) });
  });
  const outs: SymbolicTensor[][] = [];
  const ref = (r: unknown, what: string): SymbolicTensor => {
    const [k, i] = Array.isArray(r) ? (r as number[]) : [NaN, NaN];
    const t = k! < 0 ? inputs[-1 - k!] : outs[k!]?.[i!];
    if (!t) throw new BundleError(where, `${what} refers to ${JSON.stringify(r)}, which is not an earlier node output or an input`);
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
 * The model a loaded bundle describes, its weights (and, when saved, its compile settings, the
 * optimiser's state and the training position) set. `where` names the manifest and weights
 * files in errors.
 */
export function modelFromBundle(b: LoadedBundle, where: { manifest: string; weights: string }): Model {
  const m = b.manifest as Record<string, unknown>;
  // Every weight is set from the bundle below (a missing one is an error). What the rebuilt
  // layers refuse (shapes that do not fit together) is the file's fault too: named with it.
  let model: Model;
  try {
    model = withWeightsToFollow(() => modelFromConfig(m.model, where.manifest));
  } catch (e) {
    if (e instanceof BundleError) throw e;
    throw new BundleError(where.manifest, (e as Error).message, { cause: e });
  }
  const entries = model.weightEntries();
  const names = new Set(entries.map((e) => e.name));
  for (const k of Object.keys(b.weights)) {
    if (!names.has(k)) throw new BundleError(where.weights, `unexpected tensor '${k}' for this architecture`);
  }
  for (const e of entries) {
    const t = b.weights[e.name];
    if (!t) throw new BundleError(where.weights, `missing tensor '${e.name}' (shape [${e.shape.join(', ')}])`);
    if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
      throw new BundleError(where.weights, `tensor '${e.name}' has shape [${t.shape.join(', ')}], the architecture needs [${e.shape.join(', ')}]`);
    }
    // Float32 as saved, or half precision widened (saveModel's weightsDtype 'float16').
    if (t.dtype === 'F32' || t.dtype === 'F64') model.params.set(t.data, e.offset);
    else if (t.dtype === 'F16') model.params.set(fromFloat16(t.data), e.offset);
    else throw new BundleError(where.weights, `tensor '${e.name}' has dtype ${t.dtype}; weights are F32 or F16`);
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
