// Incremental decoding: a causal model (a Transformer decoder, or recurrent layers that carry
// their state) fed a sequence a few steps at a time, each call running only the new steps.
// Causal self-attention keeps every step's keys and values (a key/value cache) and lets the new
// queries read them; positions continue from where the last call ended; layers that act on each
// step alone (Dense, LayerNormalization, Add, ...) run on the new steps as they are. The outputs
// are those `predict` gives for the same steps over the whole sequence so far, for the cost of
// the new steps (plus their attention over the past) instead of the whole sequence's.
//
//   const dec = rnn.incrementalDecoder(model);
//   let probs = dec.step([ids]);          // [1, n, V]: the prompt's steps
//   probs = dec.step([[nextId]]);         // [1, 1, V]: one more
//   dec.reset();                          // a new sequence
import { KeyValueCache } from '../kernels/multihead-ops.js';
import { Embedding } from '../layers/core.js';
import { configError, type Act, type CallContext, type Layer } from '../layers/layer.js';
import { MultiHeadAttention } from '../layers/multihead.js';
import { PositionEncoding } from '../layers/position.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { isMultiLayer, type SymbolicTensor } from '../layers/symbolic.js';
import { rng } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';
import { toDense, type ArrayInput } from './data-input.js';
import { GraphModel } from './functional.js';
import { Sequential, type Model } from './sequential.js';

/** Layers whose output at a step depends on that step's input alone. */
const PER_STEP = new Set(['Embedding', 'Dense', 'Dropout', 'Activation', 'LayerNormalization', 'Add', 'Concatenate']);

/** One layer application: which tensors it reads and writes (Sequential: the chain). */
interface Step {
  layer: Layer;
  inputs: SymbolicTensor[] | null;
  outputs: SymbolicTensor[] | null;
}

export interface IncrementalDecoderOptions {
  /** Steps to make room for in each attention layer's cache at the start (it grows past them; default 64). */
  capacity?: number;
}

export class IncrementalDecoder {
  private readonly steps: Step[];
  private readonly caches = new Map<MultiHeadAttention, KeyValueCache>();
  private readonly ctx: CallContext = { training: false, rng: rng(0) };
  private offset = 0;
  private batch = 0;
  private readonly capacity: number;

  /** The model's stateful layers start again from zeros (the decoder starts a sequence). */
  constructor(readonly model: Model, options: IncrementalDecoderOptions = {}) {
    const cap = options.capacity ?? 64;
    if (!(Number.isInteger(cap) && cap >= 1)) throw new RangeError(`incrementalDecoder: capacity must be a positive integer, got ${String(options.capacity)}`);
    this.capacity = cap;
    if (model instanceof GraphModel) {
      if (model.numInputs !== 1) throw new RangeError(`incrementalDecoder: '${model.name}' has ${model.numInputs} inputs; a decoder reads one sequence`);
      this.steps = model.nodes.map((n) => ({ layer: n.layer, inputs: n.inputs, outputs: n.outputs }));
    } else if (model instanceof Sequential) {
      this.steps = model.layers.map((layer) => ({ layer, inputs: null, outputs: null }));
    } else {
      throw new RangeError('incrementalDecoder: takes a Sequential or functional model');
    }
    for (const s of this.steps) this.check(s);
    this.reset();
  }

  /** Why a layer cannot run a step at a time, as an error naming it; nothing when it can. */
  private check({ layer: l, inputs }: Step): void {
    const no = (why: string): never => configError(l.name, `cannot decode incrementally: ${why}`);
    if (l instanceof MultiHeadAttention) {
      if (!l.causal) no('its attention is not causal (each step would see later steps)');
      if (inputs && inputs.some((t) => t !== inputs[0])) no('it is not self-attention (apply([x, x]))');
    } else if (l instanceof RecurrentLayer) {
      if (l.bidirectional !== null || l.options.goBackwards) no('it reads the sequence backwards');
      if (!l.options.stateful) no('it is not stateful (its state would restart at every call)');
      if (!l.options.returnSequences || l.options.returnState) no('it must return the whole sequence (returnSequences, no returnState)');
      if (inputs && inputs.length !== 1) no('its initial state comes from another layer');
    } else if (!(l instanceof PositionEncoding) && !PER_STEP.has(l.className)) {
      no(`${l.className} looks across steps`);
    }
  }

  /** Steps fed since the last reset (the position of the next step). */
  get position(): number { return this.offset; }

  /** Forget the sequence: empty caches, recurrent states back to zeros. */
  reset(): void {
    this.caches.clear();
    this.offset = 0;
    this.batch = 0;
    for (const s of this.steps) s.layer.resetStates?.();
  }

  /**
   * The model's outputs [B, n, ...] for n new steps x [B, n] (token ids, or [B, n, F] features)
   * that follow the steps fed before; the batch size stays what the first call set until reset.
   */
  step(xIn: ArrayInput): Tensor {
    const x = toDense(xIn, 'step(x)');
    if (x.shape.length < 2) throw new RangeError(`incrementalDecoder.step: x must be [batch, steps, ...], got [${x.shape.join(', ')}]`);
    const [B, n] = x.shape as [number, number];
    if (n === 0) throw new RangeError('incrementalDecoder.step: x has no steps');
    if (this.batch !== 0 && B !== this.batch) throw new RangeError(`incrementalDecoder.step: batch ${B}, but this sequence started with batch ${this.batch} (reset() to start another)`);
    if (x.mask) throw new RangeError('incrementalDecoder.step: ragged rows; every row must have the same number of new steps');
    this.batch = B;
    if (this.steps.some((s) => !s.layer.built)) throw new RangeError(`incrementalDecoder: '${this.model.name}' is not built; predict or fit once first`);
    let a: Act = { data: x.data, shape: x.shape, mask: null };
    const values = new Map<SymbolicTensor, Act>();
    const model = this.model;
    if (model instanceof GraphModel) values.set(model.inputs[0]!, a);
    for (const s of this.steps) {
      const ins = s.inputs ? s.inputs.map((t) => values.get(t)!) : [a];
      const outs = this.run(s.layer, ins);
      if (s.outputs) s.outputs.forEach((t, i) => values.set(t, outs[i]!));
      else a = outs[0]!;
    }
    if (model instanceof GraphModel) a = values.get(model.output)!;
    this.offset += n;
    return new Tensor(Float32Array.from(a.data), [...a.shape]);
  }

  private run(l: Layer, ins: Act[]): Act[] {
    if (l instanceof MultiHeadAttention) {
      let cache = this.caches.get(l);
      if (!cache) this.caches.set(l, (cache = l.newCache(this.batch, this.capacity)));
      return [l.forwardCached(ins[0]!, cache)];
    }
    if (l instanceof PositionEncoding) return [l.forwardAt(ins[0]!, this.offset)];
    if (l instanceof Embedding) {
      const y = l.forward(ins[0]!, this.ctx);
      if (y.mask && y.mask.includes(0)) configError(l.name, 'cannot decode incrementally: id 0 is padding (maskZero), and a decoder takes no padded steps');
      return [y];
    }
    return isMultiLayer(l) ? l.forwardMulti(ins, this.ctx) : [l.forward(ins[0]!, this.ctx)];
  }
}

/** A decoder over `model` that runs a sequence a few steps at a time (see IncrementalDecoder). */
export function incrementalDecoder(model: Model, options?: IncrementalDecoderOptions): IncrementalDecoder {
  return new IncrementalDecoder(model, options);
}
