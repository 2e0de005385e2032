// A model run a token at a time in one kernel call per token: an Embedding, stateful recurrent
// layers and a softmax Dense (a Sequential, or a functional model that is one chain) — a
// character-level language model — through the backend's stack stepper (Backend.stackStepper),
// which computes every value with the code and in the order of the layers' own forward calls, so
// each step's probabilities are predict's bits. Text generation uses it (apps/charrnn.ts); models
// of any other shape, and backends without a stepper, go through predictInPlace.
import { getBackend } from '../kernels/index.js';
import { gateWidth, type Backend, type StackStepLayer, type StackStepper } from '../kernels/types.js';
import { Dense, Embedding } from '../layers/core.js';
import type { Layer } from '../layers/layer.js';
import type { Recurrent } from '../layers/recurrent.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { GraphModel } from './functional.js';
import { Sequential, type Model } from './sequential.js';

export interface ModelStepper {
  /** The model's output after token `id` (from the state the last step left): valid until the next step. */
  step(id: number): Float32Array;
  /** Whether the first layer's input projections of every token were made once (`steps`). */
  readonly projectedTable: boolean;
  /** Whether this is the model's last stepper again (its weights unchanged since: nothing copied or packed). */
  readonly reused: boolean;
  /**
   * Writes the layers' states back into the model's stateful layers; the stepper's memory is kept
   * for the model's next one (and given back when that one cannot use it, or with the model).
   */
  close(): void;
}

/**
 * Each model's last stepper, closed: the next modelStepper for the model takes it when its
 * weights, options and backend are as they were (StackStepper.current: a byte comparison, a
 * fraction of copying and packing them again), else gives its memory back.
 */
const parked = new WeakMap<Model, { stepper: StackStepper; backend: Backend }>();

/**
 * The layers a model applies one after the other: a Sequential's, or a functional model's when
 * its graph is one chain from its one input to its output (a functional model applies each
 * layer once); else null.
 */
function layerChain(model: Model): Layer[] | null {
  if (model instanceof Sequential) return model.layers;
  if (!(model instanceof GraphModel) || model.numInputs !== 1) return null;
  let t = model.inputs[0]!;
  for (const n of model.nodes) {
    if (n.inputs.length !== 1 || n.inputs[0] !== t || n.outputs.length !== 1) return null;
    t = n.outputs[0]!;
  }
  return t === model.output ? model.nodes.map((n) => n.layer) : null;
}

/**
 * A stepper for `model` when it is a Sequential (or a functional chain) of an Embedding (without maskZero), stateful
 * single-direction recurrent layers returning sequences (Dropout between them is inactive in
 * inference), and a Dense with a softmax, and the backend has a stack stepper; null otherwise.
 * It starts from the states the layers carry (batch 1, or none: zeros). Use it inside
 * withFixedWeights: it copies the weights when made. `steps`: how many steps are to come, if
 * known — from as many as the embedding has rows, the first layer's input projections of every
 * row are made once (the same bits) and a step reads its token's.
 */
export function modelStepper(model: Model, options: { steps?: number } = {}): ModelStepper | null {
  const backend = getBackend();
  const chain = layerChain(model);
  if (!backend.stackStepper || !chain || !model.isBuilt) return null;
  const all = chain.filter((l) => l.className !== 'Dropout');
  const emb = all[0], head = all[all.length - 1], rec = all.slice(1, -1);
  if (!(emb instanceof Embedding) || emb.options.maskZero || !(head instanceof Dense) || head.activation !== 'softmax' || rec.length === 0) return null;
  const cores: { core: Recurrent; carried: ReturnType<Recurrent['getCarriedState']> }[] = [];
  for (const l of rec) {
    if (!(l instanceof RecurrentLayer) || !l.core) return null;
    const core = l.core;
    if (l.bidirectional !== null || l.options.goBackwards || !l.options.returnSequences || l.options.returnState || !core.stateful) return null;
    if (core.numLayers !== 1 || core.dtype !== 'float32') return null;
    const carried = core.getCarriedState();
    if (carried && carried.B !== 1) return null; // (predict refuses it by name)
    cores.push({ core, carried });
  }
  // (A built model's parameters are float32: the cores checked above, the embedding and head with them.)
  const f32 = (a: unknown): Float32Array => a as Float32Array;
  const layers: StackStepLayer[] = cores.map(({ core }) => {
    const p = core.params;
    return {
      kind: core.kind, resetAfter: core.resetAfter, hardSigmoid: core.hardSigmoid, H: core.hiddenSize, I: core.inputSize,
      wih: f32(p.value('weight_ih_l0')), whh: f32(p.value('weight_hh_l0')),
      bih: core.bias ? f32(p.value('bias_ih_l0')) : null, bhh: core.bias ? f32(p.value('bias_hh_l0')) : null,
    };
  });
  const hp = head.params!;
  const table = f32(emb.params!.value('embeddings')), w = f32(hp.value('kernel')), b = hp.byName.has('bias') ? f32(hp.value('bias')) : null;
  // With at least as many steps to come as the table has rows (`steps`, a caller's estimate), the
  // first layer's projections of every row are computed once (up to 4 MB of them).
  const rows = table.length / layers[0]!.I, G0 = gateWidth(layers[0]!.kind, layers[0]!.H);
  const projectTable = (options.steps ?? 0) >= rows && rows * G0 * 4 <= 4 << 20;
  const spec = { table, layers, head: { U: head.options.units, w, b }, projectTable };
  const last = parked.get(model);
  parked.delete(model);
  const reused = last !== undefined && last.backend === backend && last.stepper.current(spec);
  if (last && !reused) last.stepper.dispose();
  const stepper: StackStepper = reused ? last.stepper : backend.stackStepper(spec);
  cores.forEach(({ carried }, l) => stepper.setState(l, carried ? carried.h as Float32Array : null, carried ? carried.c as Float32Array | null : null));
  let closed = false;
  return {
    step: (id) => {
      if (closed) throw new Error('rnnkit: modelStepper: used after close()');
      return stepper.step(id);
    },
    projectedTable: projectTable,
    reused,
    close: () => {
      if (closed) return;
      closed = true;
      cores.forEach(({ core }, l) => {
        const H = core.hiddenSize, h = new Float32Array(H), c = core.kind === 'lstm' ? new Float32Array(H) : null;
        stepper.getState(l, h, c);
        core.setCarriedState({ h, c, B: 1 });
      });
      // (A stepper made for the model meanwhile, and closed first, gives way to this one.)
      parked.get(model)?.stepper.dispose();
      parked.set(model, { stepper, backend });
    },
  };
}
