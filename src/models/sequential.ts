// The Keras-style model: a stack of layers with compile / fit / evaluate / predict / summary.
//
// All parameters of all layers live in one flat buffer (and gradients in another), so clipping
// and the optimiser step are single passes over the whole model. When the last layer is a
// Dense with softmax (or sigmoid) and the loss is a cross-entropy, loss and activation are fused:
// the gradient w.r.t. the logits is p - y, exact and stable.
//
// An Embedding directly followed by a recurrent layer runs as one step when it pays (see
// Embedding.tableRows): the recurrent layer's input projection is computed once per distinct
// token — or per vocabulary entry, for a small vocabulary — instead of once per time step, and
// its backward sums the gate gradients per token before the products with the input side. The
// same function with different rounding; a character model (65 symbols, embedding 64, LSTM 256)
// skips a fifth of its recurrent layer's floating-point operations.
import { ActivationSlot, residentArray } from '../kernels/index.js';
import { Dense as DenseLayer, Embedding } from '../layers/core.js';
import { Masking } from '../layers/pooling.js';
import { checkedWeight, hasTrainableParams, PER_STEP_LAYERS, shapeStr, type Act, type Layer, type Shape, type WeightValue } from '../layers/layer.js';
import { applyRegularizers, savedLayerConfig } from '../layers/regularizers.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { clipByGlobalNorm, clipByValue, clipGate, globalNorm } from '../optim/clip.js';
import { getOptimizer, type Optimizer, type Spans } from '../optim/optimizers.js';
import { packStores } from '../tensor/params.js';
import { Tensor } from '../tensor/tensor.js';
import { rng, type Rng } from '../tensor/rng.js';
import { firstSteps, isDense, rowLengths, takeRows, toDense, type ArrayInput, type Dense } from './data-input.js';
import { planBatches } from '../data/batching.js';
import { computeLoss, type LossName, resolveLossName } from './loss-adapter.js';
import { resolveWeights, type ClassWeight } from './sample-weights.js';
import { createMetric, type MetricState } from './metric-adapter.js';

export interface CompileArgs {
  optimizer: string | Optimizer;
  loss: LossName | string;
  metrics?: string[];
}

export type Logs = Record<string, number>;

export interface Callback {
  onTrainBegin?(model: Model): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onBatchBegin?(batch: number): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs & { size: number; step: number; epoch: number; batches: number }): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
}

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  /** Data to evaluate after every epoch: inputs, targets and, optionally, their sample weights. */
  validationData?: [ModelInput, ArrayInput] | [ModelInput, ArrayInput, ArrayInput];
  validationSplit?: number;
  shuffle?: boolean;
  callbacks?: Callback[];
  /** Clip the global gradient norm (over every parameter) to this value. */
  clipNorm?: number;
  /** Clip every gradient value to [-clipValue, clipValue]. */
  clipValue?: number;
  /** Seed for shuffling and dropout; the same seed gives the same run. */
  seed?: number;
  /** Epoch to start from (for resumed training). */
  initialEpoch?: number;
  verbose?: 0 | 1;
  /**
   * Each batch cut to its longest sequence (default true): an input of sequences whose padding is
   * known — ragged arrays (padded and masked), token ids read by an embedding with maskZero, or
   * steps read by a Masking layer —
   * runs a batch only up to the last step that is real in one of its rows (each such input on its
   * own; the targets of a sequence output with the input whose steps it has). The results are
   * those of the padded batch: padding changes nothing. false: every batch as long as the
   * longest sequence of all.
   */
  trimPadding?: boolean;
  /**
   * Length bucketing (default false): examples sorted by length (several inputs: the sum of their
   * lengths) within chunks of `bucketByLength` batches (true: 50), cut into batches, the batches
   * shuffled — a batch then holds sequences of similar lengths and little padding. Needs what
   * trimPadding needs.
   */
  bucketByLength?: boolean | number;
  /**
   * Weights of the training samples (Keras sample_weight): [N], one per sample, or [N, T], one per
   * step of a sequence output. Each multiplies its rows' losses; the loss stays a mean over the
   * counted rows. A validationSplit takes its share of them.
   */
  sampleWeight?: ArrayInput;
  /**
   * Weight of each class in the training loss (Keras class_weight), multiplied into sampleWeight:
   * `{ 0: 1, 1: 5 }`, an array indexed by class, or 'balanced' (N / (classes · n_c) over the
   * training rows, as scikit-learn). A row's class is its target id, its one-hot row's largest
   * entry, or for binaryCrossentropy 1 when the target is ≥ 0.5. Not applied to validation data.
   */
  classWeight?: ClassWeight;
}

/** trainOnBatch's options: clipping, and the batch's sample and class weights (as fit takes them). */
export interface TrainOnBatchArgs {
  clipNorm?: number;
  clipValue?: number;
  sampleWeight?: ArrayInput | Dense;
  classWeight?: ClassWeight;
}

/** One input (rnn.Tensor, { data, shape }, nested arrays) or, for multi-input models, an array of them. */
export type ModelInput = ArrayInput | ArrayInput[];

export interface History {
  epoch: number[];
  history: Record<string, number[]>;
}

export interface SequentialOptions {
  layers?: Layer[];
  name?: string;
  /** Input shape without the batch dimension, e.g. [null] for token ids of any length. */
  inputShape?: Shape;
}

/** Raised when training stops on a NaN/Inf loss. */
export class NonFiniteLossError extends Error {}

/**
 * The value of the padding steps of an input these layers read, when they all say the same: 0
 * for embeddings with maskZero (id 0), a Masking layer's maskValue; null otherwise.
 */
export function padValueOf(readers: readonly Layer[]): number | null {
  const values = readers.map((l) => (l instanceof Embedding && l.options.maskZero === true ? 0 : l instanceof Masking ? l.maskValue : null));
  return values.length > 0 && values.every((v) => v !== null && v === values[0]) ? values[0]! : null;
}

/** How fit, evaluate and predict cut batches to their sequences' lengths (Model.batchCuts). */
interface BatchCuts {
  lengths: (Int32Array | null)[];
  timeSource: number | null;
}

/** What every model shares: compile, fit, evaluate, predict over one flat parameter buffer. */
export abstract class Model {
  name: string;
  stopTraining = false;
  /** Free-form metadata saved with the model (vocabulary, tokenizer options, labels...). */
  metadata: Record<string, unknown> = {};
  optimizer: Optimizer | null = null;
  lossName: LossName | null = null;
  metricNames: string[] = [];
  params: Float32Array = new Float32Array(0);
  grads: Float32Array = new Float32Array(0);
  /** Training rng (shuffling, dropout); its state is saved with checkpoints. */
  rng: Rng = rng(0);
  /** Steps taken by fit over the model's life (continues across fit calls and resumes). */
  step = 0;
  epochsDone = 0;
  protected built = false;
  /** The loss gradient, reused from step to step (backward consumes it within the step). */
  private readonly lossGrad = new ActivationSlot();

  constructor(name: string) {
    this.name = name;
  }

  /** Number of model inputs: fit/evaluate/predict take an array of that many inputs when > 1. */
  abstract get numInputs(): number;
  /** Every layer, in parameter-buffer order. */
  abstract allLayers(): Layer[];
  /** The layer producing the (single) output. */
  protected abstract outputLayer(): Layer;
  /** The output's shape without the batch dimension (the model is built). */
  protected abstract outputShape(): Shape;
  /**
   * Input i: sequences with a time axis of any length (`sequence`), and the value of its padding
   * steps where its readers say (`padValue`: 0 for ids read only by embeddings with maskZero, a
   * Masking layer's maskValue; else null).
   */
  protected abstract inputPadding(i: number): { sequence: boolean; padValue: number | null };
  /** The input whose time axis a sequence output carries (step t of the output is step t of it), or null. */
  protected abstract outputTimeSource(): number | null;
  /** Build the layers for these input batches (called once, before the first run). */
  protected abstract buildFor(xs: Dense[]): void;
  protected abstract forwardAll(xs: Dense[], training: boolean): Act;
  /** Backpropagate dLoss/d(output) (or d(logits) when `fused` is the output layer). */
  protected abstract backwardAll(dy: Float32Array, fused: DenseLayer | null): void;
  abstract summaryRows(): [string, string, string][];
  abstract getConfig(): Record<string, unknown>;

  get isBuilt(): boolean { return this.built; }

  /** Pack every layer's parameters into the model's flat buffers; call once the layers are built. */
  protected packParameters(): void {
    ({ params: this.params, grads: this.grads } = packStores(this.allLayers().flatMap((l) => (l.params ? [l.params] : [])), residentArray));
    this.built = true;
  }

  /** Parameter names `layer/param` with their shapes and flat offsets, in buffer order. */
  weightEntries(): { name: string; shape: number[]; offset: number; size: number }[] {
    const out = [];
    let off = 0;
    for (const l of this.allLayers()) {
      if (!l.params) continue;
      for (const e of l.params.entries) out.push({ name: `${l.name}/${e.name}`, shape: e.shape, offset: off + e.offset, size: e.size });
      off += l.params.size;
    }
    return out;
  }

  countParams(): number { return this.params.length; }

  /** A layer by name, or by index in allLayers() order (Keras's get_layer); an error lists the names. */
  getLayer(nameOrIndex: string | number): Layer {
    const all = this.allLayers();
    const l = typeof nameOrIndex === 'number' ? all[nameOrIndex] : all.find((x) => x.name === nameOrIndex);
    if (!l) {
      throw new RangeError(`${this.name}.getLayer: no layer ${typeof nameOrIndex === 'number' ? `at index ${nameOrIndex} (${all.length} layers)` : `named ${JSON.stringify(nameOrIndex)}`}; layers: ${all.map((x) => x.name).join(', ')}`);
    }
    return l;
  }

  /** Copies of every parameter, layer by layer in weightEntries() order, with their shapes (Keras's get_weights). */
  getWeights(): Tensor[] {
    return this.weightEntries().map((e) => new Tensor(Float32Array.from(this.params.subarray(e.offset, e.offset + e.size)), e.shape));
  }

  /**
   * Sets every parameter from values in getWeights' order and shapes (Keras's set_weights): the
   * model must be built; every value is checked (count, shape, finite) before any is written.
   */
  setWeights(weights: readonly WeightValue[]): void {
    if (!this.built) throw new Error(`${this.name}.setWeights: the model is not built; give the input shape or call build([...]) first`);
    const entries = this.weightEntries();
    if (!Array.isArray(weights) || weights.length !== entries.length) {
      throw new RangeError(`${this.name}.setWeights: expected ${entries.length} arrays (getWeights' order: ${entries.map((e) => e.name).join(', ')}), got ${Array.isArray(weights) ? weights.length : typeof weights}`);
    }
    const values = entries.map((e, i) => checkedWeight(`${this.name}.setWeights: ${e.name}`, weights[i]!, e.shape));
    entries.forEach((e, i) => this.params.set(values[i]!, e.offset));
  }

  compile(args: CompileArgs): void {
    if (!args || typeof args !== 'object') throw new TypeError(`${this.name}.compile: expected { optimizer, loss, metrics? }`);
    this.optimizer = getOptimizer(args.optimizer);
    this.lossName = resolveLossName(args.loss);
    this.metricNames = [...(args.metrics ?? [])];
    for (const m of this.metricNames) createMetric(m, this.lossName); // validate names now
  }

  private ensureBuilt(xs: Dense[]): void {
    if (!this.built) this.buildFor(xs);
  }

  private fusedHead(): DenseLayer | null {
    const last = this.outputLayer();
    if (!(last instanceof DenseLayer)) return null;
    const l = this.lossName;
    if ((l === 'sparseCategoricalCrossentropy' || l === 'categoricalCrossentropy') && last.activation === 'softmax') return last;
    if (l === 'binaryCrossentropy' && last.activation === 'sigmoid') return last;
    return null;
  }

  /** User inputs -> one dense batch per model input, all with the same number of samples. */
  private toInputs(x: ModelInput | Dense | Dense[], what: string): Dense[] {
    let xs: Dense[];
    if (Array.isArray(x) && x.length === this.numInputs && x.every(isDense)) {
      xs = x as Dense[];
    } else if (this.numInputs > 1) {
      if (!Array.isArray(x) || x.length !== this.numInputs) throw new RangeError(`${this.name}.${what}: the model has ${this.numInputs} inputs; pass an array of ${this.numInputs} inputs`);
      xs = (x as unknown[]).map((xi, i) => (isDense(xi) ? xi : toDense(xi as ArrayInput, `${what}[${i}]`)));
    } else {
      xs = [isDense(x) ? x : toDense(x as ArrayInput, what)];
    }
    const n = xs[0]!.shape[0];
    xs.forEach((xi, i) => { if (xi.shape[0] !== n) throw new RangeError(`${this.name}.${what}: input ${i} has ${xi.shape[0]} samples, input 0 has ${n}`); });
    return xs;
  }

  /**
   * How batches of xs are cut (batchRows): for each input of sequences whose padding is known (a
   * mask, ids read by embeddings with maskZero, steps read by a Masking layer), each sample's
   * length up to its last real step (null for the other inputs), and the input whose steps a
   * sequence output carries (outputTimeSource; null for one output per sequence). Null when no
   * input has lengths.
   */
  private batchCuts(xs: Dense[]): BatchCuts | null {
    const lengths = xs.map((x, i) => {
      const p = this.inputPadding(i);
      return p.sequence ? rowLengths(x, p.padValue) : null;
    });
    if (!lengths.some((l) => l !== null)) return null;
    return { lengths, timeSource: this.outputShape().length >= 2 ? this.outputTimeSource() : null };
  }

  /**
   * The rows idx of x and y (if any); with `cuts` (batchCuts), each input cut to the longest of
   * these rows (at least one step), and y with the input whose steps the output carries when it
   * is as long as that input.
   */
  private batchRows(xs: Dense[], y: Dense | null, idx: ArrayLike<number>, cuts: BatchCuts | null, w: Dense | null = null): [Dense[], Dense | null, Dense | null] {
    const bx = xs.map((xi) => takeRows(xi, idx));
    let by = y && takeRows(y, idx), bw = w && takeRows(w, idx);
    if (!cuts) return [bx, by, bw];
    const cut = bx.map((xi, i) => {
      const len = cuts.lengths[i];
      if (!len) return xi;
      const T = xi.shape[1]!;
      let steps = 1;
      for (let k = 0; k < idx.length; k++) steps = Math.max(steps, len[idx[k]!]!);
      if (steps >= T) return xi;
      if (i === cuts.timeSource) {
        if (by && by.shape.length >= 2 && by.shape[1] === T) by = firstSteps(by, steps);
        if (bw && bw.shape.length >= 2 && bw.shape[1] === T) bw = firstSteps(bw, steps);
      }
      return firstSteps(xi, steps);
    });
    return [cut, by, bw];
  }

  /**
   * One optimisation step on a batch; returns the loss and the pre-clip gradient norm. `clip`
   * also takes the batch's sampleWeight and classWeight (see FitArgs).
   */
  trainOnBatch(x: Dense | Dense[], y: Dense, clip: TrainOnBatchArgs = {}, metrics: MetricState[] = []): { loss: number; gradNorm: number } {
    if (!this.optimizer || !this.lossName) throw new Error(`${this.name}: call compile() before training`);
    const xs = Array.isArray(x) ? x : [x];
    this.ensureBuilt(xs);
    const weights = this.weightsFor(`${this.name}.trainOnBatch`, y, clip.sampleWeight, clip.classWeight, null);
    const out = this.forwardAll(xs, true);
    const fused = this.fusedHead();
    // The loss gradient, reused from step to step: in the backend's memory, where the output
    // layer's backward reads it in place.
    const n = (fused ? fused.logits : out.data).length;
    const { loss, grad } = computeLoss(this.lossName, out, y, fused, this.lossGrad.get(n), weights);
    for (const m of metrics) m.update(out, y);
    this.grads.fill(0);
    this.backwardAll(grad, fused);
    // Weight penalties: added to the loss, their gradients to the layers'.
    const penalty = applyRegularizers(this.allLayers(), true);
    // Frozen layers (trainable false): the optimiser updates the spans of the others only, and
    // the norm and clipping see their gradients alone (a frozen layer whose backward ran for the
    // layers below has a gradient too, unused).
    return this.optimizerStep(loss + penalty, clip, this.trainableSpans());
  }

  /** The optimiser's step (clipping as asked) after backward; the loss and the pre-clip gradient norm. */
  private optimizerStep(loss: number, clip: TrainOnBatchArgs, spans: Spans | undefined): { loss: number; gradNorm: number } {
    if (!this.optimizer) throw new Error(`${this.name}: call compile() before training`);
    const grads = spans ? spans.map(([o, n]) => this.grads.subarray(o, o + n)) : this.grads;
    if (clip.clipValue === undefined && Number.isFinite(loss)) {
      // The norm (and clipping) inside the optimiser's step: on a WebAssembly backend Adam sums
      // the squares on the copy of the gradients its kernel reads anyway (the same bits as
      // globalNorm); no step when the norm is not finite.
      let gradNorm = NaN;
      this.optimizer.step(this.params, this.grads, clipGate(grads, clip.clipNorm, (nrm) => { gradNorm = nrm; }), spans);
      if (Number.isFinite(gradNorm)) this.step++;
      return { loss, gradNorm };
    }
    const gradNorm = clip.clipNorm !== undefined ? clipByGlobalNorm(grads, clip.clipNorm) : globalNorm(grads);
    if (clip.clipValue !== undefined) clipByValue(grads, clip.clipValue);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) return { loss, gradNorm };
    this.optimizer.step(this.params, this.grads, undefined, spans);
    this.step++;
    return { loss, gradNorm };
  }

  /** Parameters in frozen layers (Layer.trainable false). */
  private frozenCount(): number {
    return this.allLayers().reduce((a, l) => a + (l.trainable === false ? l.params?.size ?? 0 : 0), 0);
  }

  /**
   * The [offset, size] spans of the flat buffers that trainable layers' parameters fill (runs of
   * them merged), when some layer is frozen; undefined when none is (the whole buffers train).
   */
  private trainableSpans(): Spans | undefined {
    const spans: [number, number][] = [];
    let off = 0, frozen = false;
    for (const l of this.allLayers()) {
      const size = l.params?.size ?? 0;
      if (size === 0) continue;
      if (l.trainable === false) frozen = true;
      else if (spans.length && spans[spans.length - 1]![0] + spans[spans.length - 1]![1] === off) spans[spans.length - 1]![1] += size;
      else spans.push([off, size]);
      off += size;
    }
    return frozen ? spans : undefined;
  }

  /** The sample weights of y (resolveWeights), for the model's output; null without any. */
  private weightsFor(where: string, y: Dense, sampleWeight: ArrayInput | Dense | undefined, classWeight: ClassWeight | undefined, lengths: Int32Array | null): Dense | null {
    const shape = this.outputShape();
    return resolveWeights({ where, loss: this.lossName!, y, K: shape[shape.length - 1] ?? 1, sampleWeight, classWeight, lengths });
  }

  async fit(xIn: ModelInput, yIn: ArrayInput, args: FitArgs = {}): Promise<History> {
    if (!this.optimizer || !this.lossName) throw new Error(`${this.name}.fit: call compile({ optimizer, loss }) first`);
    const epochs = args.epochs ?? 1, batchSize = args.batchSize ?? 32;
    if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`${this.name}.fit: epochs must be a non-negative integer, got ${epochs}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${this.name}.fit: batchSize must be a positive integer, got ${batchSize}`);
    if (args.seed !== undefined) this.rng = rng(args.seed);
    let x = this.toInputs(xIn, 'fit(x)'), y = toDense(yIn, 'fit(y)');
    if (x[0]!.shape[0] !== y.shape[0]) throw new RangeError(`${this.name}.fit: x has ${x[0]!.shape[0]} samples but y has ${y.shape[0]}`);
    let sw = args.sampleWeight === undefined ? null : toDense(args.sampleWeight, `${this.name}.fit: sampleWeight`);
    if (sw && sw.shape[0] !== y.shape[0]) throw new RangeError(`${this.name}.fit: sampleWeight has ${sw.shape[0]} samples but y has ${y.shape[0]}`);
    let val: [Dense[], Dense] | null = null, valW: ArrayInput | Dense | undefined;
    if (args.validationData) {
      val = [this.toInputs(args.validationData[0], 'validationData[0]'), toDense(args.validationData[1], 'validationData[1]')];
      valW = args.validationData[2];
    } else if (args.validationSplit) {
      const f = args.validationSplit;
      if (!(f > 0 && f < 1)) throw new RangeError(`${this.name}.fit: validationSplit must be in (0, 1), got ${f}`);
      // As Keras: the last fraction of the samples, before shuffling.
      const N = y.shape[0]!, nTrain = Math.floor(N * (1 - f));
      const tr = Array.from({ length: nTrain }, (_, i) => i), va = Array.from({ length: N - nTrain }, (_, i) => nTrain + i);
      val = [x.map((xi) => takeRows(xi, va)), takeRows(y, va)];
      if (sw) { valW = takeRows(sw, va); sw = takeRows(sw, tr); }
      x = x.map((xi) => takeRows(xi, tr)); y = takeRows(y, tr);
    }
    this.ensureBuilt(x);
    const N = y.shape[0]!;
    const cuts = args.trimPadding === false && !args.bucketByLength ? null : this.batchCuts(x);
    // ('balanced' counts the rows that are real: the steps of the input the output follows.)
    const weights = this.weightsFor(`${this.name}.fit`, y, sw ?? undefined, args.classWeight,
      cuts && cuts.timeSource !== null ? cuts.lengths[cuts.timeSource] ?? null : null);
    if (val && valW !== undefined) this.weightsFor(`${this.name}.fit: validationData`, val[1], valW, undefined, null); // checked now, not after an epoch
    const bucket = args.bucketByLength === true ? 50 : args.bucketByLength || 0;
    if (!(Number.isInteger(bucket) && bucket >= 0)) throw new RangeError(`${this.name}.fit: bucketByLength must be true, false or a whole number of batches, got ${String(args.bucketByLength)}`);
    if (bucket > 0 && !cuts) {
      throw new RangeError(`${this.name}.fit: bucketByLength needs an input of sequences whose padding is known (ragged arrays, token ids read by an embedding with maskZero, or steps read by a Masking layer)`);
    }
    // Bucketing sorts by the sum of the known lengths (a batch costs about its longest sequences).
    const sortBy = bucket > 0 ? Int32Array.from({ length: N }, (_, i) => cuts!.lengths.reduce((a, l) => a + (l ? l[i]! : 0), 0)) : null;
    const trim = args.trimPadding === false ? null : cuts;
    const history: History = { epoch: [], history: {} };
    const cbs = args.callbacks ?? [];
    const metrics = this.metricNames.map((m) => createMetric(m, this.lossName!));
    this.stopTraining = false;
    for (const c of cbs) await c.onTrainBegin?.(this);
    let maxNorm = 0;
    let logs: Logs = {};
    const batches = Math.ceil(N / batchSize);
    for (let epoch = args.initialEpoch ?? 0; epoch < epochs && !this.stopTraining; epoch++) {
      for (const c of cbs) await c.onEpochBegin?.(epoch);
      const plan = sortBy ? planBatches(sortBy, { batchSize, shuffle: args.shuffle ?? true, bucket, rng: this.rng }) : null;
      const order = Int32Array.from({ length: N }, (_, i) => i);
      if (!plan && (args.shuffle ?? true)) this.rng.shuffle(order);
      for (const m of metrics) m.reset();
      let lossSum = 0, seen = 0;
      for (let bi = 0; bi < batches && !this.stopTraining; bi++) {
        const idx = plan ? plan[bi]! : order.subarray(bi * batchSize, Math.min(N, (bi + 1) * batchSize));
        const [bx, by, bw] = this.batchRows(x, y, idx, trim, weights) as [Dense[], Dense, Dense | null];
        for (const c of cbs) await c.onBatchBegin?.(bi);
        const { loss, gradNorm } = this.trainOnBatch(bx, by, { clipNorm: args.clipNorm, clipValue: args.clipValue, ...(bw ? { sampleWeight: bw } : {}) }, metrics);
        if (Number.isFinite(gradNorm)) maxNorm = Math.max(maxNorm, gradNorm);
        if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
          throw new NonFiniteLossError(
            `${this.name}.fit: the ${Number.isFinite(loss) ? 'gradient norm' : 'loss'} became ${Number.isFinite(loss) ? gradNorm : loss} at epoch ${epoch + 1}, batch ${bi + 1} (step ${this.step + 1}); ` +
            `the largest gradient norm seen before was ${maxNorm.toPrecision(4)}. Lower the learning rate or set clipNorm.`);
        }
        lossSum += loss * idx.length; seen += idx.length;
        const bl: Logs = { loss };
        for (const m of metrics) bl[m.name] = m.result();
        for (const c of cbs) await c.onBatchEnd?.(bi, { ...bl, size: idx.length, step: this.step, epoch, batches });
        await yieldToEventLoop();
      }
      logs = { loss: lossSum / Math.max(seen, 1) };
      for (const m of metrics) logs[m.name] = m.result();
      if (val) {
        const v = this.evaluate(val[0], val[1], { batchSize, ...(valW !== undefined ? { sampleWeight: valW } : {}) });
        for (const [k, vv] of Object.entries(v)) logs[`val_${k}`] = vv;
      }
      history.epoch.push(epoch);
      for (const [k, v] of Object.entries(logs)) (history.history[k] ??= []).push(v);
      this.epochsDone = epoch + 1;
      for (const c of cbs) await c.onEpochEnd?.(epoch, logs);
    }
    for (const c of cbs) await c.onTrainEnd?.(logs);
    return history;
  }

  /**
   * Loss and metrics over (x, y) in inference mode; with sampleWeight (as fit takes it) the loss is
   * weighted (the metrics are not, as Keras's `metrics`).
   */
  evaluate(xIn: ModelInput | Dense | Dense[], yIn: ArrayInput | Dense, args: { batchSize?: number; sampleWeight?: ArrayInput | Dense } = {}): Logs {
    if (!this.lossName) throw new Error(`${this.name}.evaluate: call compile() first`);
    const x = this.toInputs(xIn, 'evaluate(x)');
    const y = isDense(yIn) ? yIn : toDense(yIn, 'evaluate(y)');
    this.ensureBuilt(x);
    const N = y.shape[0]!, bs = args.batchSize ?? 32;
    const metrics = this.metricNames.map((m) => createMetric(m, this.lossName!));
    const fused = this.fusedHead();
    let lossSum = 0, weight = 0;
    const cuts = this.batchCuts(x);
    const weights = this.weightsFor(`${this.name}.evaluate`, y, args.sampleWeight, undefined, null);
    for (let s = 0; s < N; s += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, N - s) }, (_, i) => s + i);
      const [bx, by, bw] = this.batchRows(x, y, idx, cuts, weights) as [Dense[], Dense, Dense | null];
      const out = this.forwardAll(bx, false);
      const r = computeLoss(this.lossName, out, by, fused, undefined, bw);
      lossSum += r.loss * r.count; weight += r.count;
      for (const m of metrics) m.update(out, by);
    }
    // (The weight penalties too, as Keras reports the loss.)
    const logs: Logs = { loss: lossSum / Math.max(weight, 1) + applyRegularizers(this.allLayers(), false) };
    for (const m of metrics) logs[m.name] = m.result();
    return logs;
  }

  /**
   * A sequence output's value at every step past the end of a batch's real sequences, when the
   * model's layers make it one vector (Sequential: see there); null otherwise (predict then runs
   * such batches whole).
   */
  protected paddedStepOutput(): Float32Array | null { return null; }

  /**
   * Outputs for x, in batches of any size, inference mode. `trimPadding` (default true): each
   * batch is cut to its longest sequence where the result is the same — one output per sequence,
   * or a sequence output whose padded steps all take one value (paddedStepOutput), written there.
   */
  predict(xIn: ModelInput, args: { batchSize?: number; trimPadding?: boolean } = {}): Tensor {
    const x = this.toInputs(xIn, 'predict(x)');
    this.ensureBuilt(x);
    const N = x[0]!.shape[0]!, bs = args.batchSize ?? 32;
    if (N === 0) {
      // No rows: the output shape from the layers' static shapes (unknown sizes become 0).
      const probe = this.forwardAll(x.map((xi) => ({ data: new Float32Array(0), shape: [0, ...xi.shape.slice(1)], mask: null })), false);
      return new Tensor(new Float32Array(0), [0, ...probe.shape.slice(1)]);
    }
    // Each batch's output (the layers' reused buffers) is copied into the result at once. With
    // one output per sequence, each batch is cut to its longest sequence as in evaluate; a
    // sequence output too when its padded steps take one value, written past each row's cut.
    const sequenceOut = this.outputShape().length >= 2;
    const fill = sequenceOut && args.trimPadding !== false ? this.paddedStepOutput() : null;
    const cuts = args.trimPadding === false || (sequenceOut && !fill) ? null : this.batchCuts(x);
    const T = sequenceOut ? x[0]!.shape[1]! : 0;
    let data = new Float32Array(0), shape: number[] = [];
    for (let s = 0; s < N; s += bs) {
      const n = Math.min(bs, N - s);
      const idx = Int32Array.from({ length: n }, (_, i) => s + i);
      const out = this.forwardAll(this.batchRows(x, null, idx, cuts)[0], false);
      if (s === 0) {
        shape = [N, ...(fill ? [T, ...out.shape.slice(2)] : out.shape.slice(1))];
        data = new Float32Array(shape.reduce((a, d) => a * d, 1));
      }
      const row = data.length / N;
      // (Only with a fill is the output's time axis the input's, and a batch cut.)
      const steps = fill ? out.shape[1]! : T;
      if (steps === T) { data.set(out.data, row * s); continue; }
      const U = row / T; // values per step
      for (let i = 0; i < n; i++) {
        data.set(out.data.subarray(i * steps * U, (i + 1) * steps * U), (s + i) * row);
        for (let t = steps; t < T; t++) data.set(fill!, (s + i) * row + t * U);
      }
    }
    return new Tensor(data, shape);
  }

  /**
   * predict(x)'s outputs, all rows as one batch, left in the output layer's own buffer: valid only
   * until the model runs again. Without predict's per-call work (batches, cuts, the copy out) —
   * for loops that read each output at once, such as text generation a character per call with
   * a model modelStepper does not run (the sampler: 1.08x the characters per second). A batch
   * predict would cut to its longest sequence (padded steps it can see) goes through predict.
   */
  predictInPlace(xIn: ModelInput | Dense | Dense[]): { data: Float32Array; shape: readonly number[] } {
    const x = this.toInputs(xIn, 'predictInPlace(x)');
    this.ensureBuilt(x);
    const cuts = this.batchCuts(x);
    const cut = cuts?.lengths.some((len, i) => len !== null && len.every((n) => n < x[i]!.shape[1]!)) ?? false;
    if (x[0]!.shape[0] === 0 || cut) return this.predict(x as unknown as ModelInput);
    return this.forwardAll(x, false);
  }

  resetStates(): void {
    for (const l of this.allLayers()) l.resetStates?.();
  }

  /** The states stateful layers carry, to restore with setStates (e.g. around an evaluation). */
  getStates(): unknown[] {
    return this.allLayers().map((l) => l.getStates?.() ?? null);
  }

  setStates(states: unknown[]): void {
    this.allLayers().forEach((l, i) => l.setStates?.(states[i] ?? null));
  }

  /** Keras's summary lines of trainable and frozen parameters, when some layer is frozen. */
  private trainableLines(): string[] {
    const frozen = this.frozenCount();
    if (frozen === 0) return [];
    return [`Trainable params: ${(this.countParams() - frozen).toLocaleString('en-US')}`, `Non-trainable params: ${frozen.toLocaleString('en-US')}`];
  }

  /** A Keras-like table of layers, output shapes and parameter counts. */
  summary(print: (s: string) => void = console.log): string {
    if (!this.built) throw new Error(`${this.name}.summary: the model is not built; give the input shape (sequential({ inputShape }) or rnn.input) or call build([...])`);
    const rows = this.summaryRows();
    const head: [string, string, string] = ['Layer (type)', 'Output shape', 'Param #'];
    const w = [0, 1, 2].map((i) => Math.max(head[i]!.length, ...rows.map((r) => r[i]!.length)) + 2);
    const line = (r: [string, string, string]) => r.map((c, i) => c.padEnd(w[i]!)).join('').trimEnd();
    const bar = '_'.repeat(w.reduce((a, b) => a + b, 0));
    const text = [`Model: "${this.name}"`, bar, line(head), '='.repeat(bar.length), ...rows.map(line), '='.repeat(bar.length),
      `Total params: ${this.countParams().toLocaleString('en-US')}`, ...this.trainableLines(), bar].join('\n');
    print(text);
    return text;
  }
}

/** A layer's type for summaries: Bidirectional(LSTM) etc. */
export function layerTypeName(l: Layer): string {
  return l.className === 'Bidirectional' ? `Bidirectional(${(l as RecurrentLayer).cell})` : l.className;
}

/** A plain stack of layers: each layer's output is the next one's input. */
export class Sequential extends Model {
  readonly layers: Layer[] = [];
  inputShape: Shape | null;

  constructor(opts: SequentialOptions = {}) {
    super(opts.name ?? 'sequential');
    this.inputShape = opts.inputShape ?? null;
    for (const l of opts.layers ?? []) this.add(l);
  }

  add(layer: Layer): void {
    if (this.built) throw new Error(`${this.name}.add: the model is already built; add layers before the first fit/predict`);
    if (this.layers.some((l) => l.name === layer.name)) throw new Error(`${this.name}.add: a layer named '${layer.name}' already exists`);
    this.layers.push(layer);
  }

  get numInputs(): number { return 1; }
  allLayers(): Layer[] { return this.layers; }
  protected outputLayer(): Layer { return this.layers[this.layers.length - 1]!; }

  protected outputShape(): Shape {
    let s = this.inputShape!;
    for (const l of this.layers) s = l.computeOutputShape(s);
    return s;
  }

  protected outputTimeSource(): number | null { return this.outputShape().length >= 2 ? 0 : null; }

  /**
   * Recurrent layers output zeros at padded steps, so where the layers that mix steps are all
   * recurrent (returnSequences, neither stateful nor goBackwards) and every other layer acts on each step alone, a
   * step past every real one outputs what the layers after the last recurrent one make of a zero
   * vector: that, computed once per call (the weights may have changed). Null otherwise.
   */
  protected override paddedStepOutput(): Float32Array | null {
    const L = this.layers;
    let last = -1;
    for (let i = 0; i < L.length; i++) {
      const l = L[i]!;
      if (l instanceof RecurrentLayer) {
        // (goBackwards: its output runs backwards over the padded length, which a cut changes.)
        if (!l.options.returnSequences || l.options.stateful || l.options.goBackwards) return null;
        last = i;
      } else if (!PER_STEP_LAYERS.has(l.className)) return null;
    }
    if (last < 0) return null;
    let s = this.inputShape!;
    for (let i = 0; i <= last; i++) s = L[i]!.computeOutputShape(s);
    const D = s[s.length - 1]!;
    let a: Act = { data: new Float32Array(D), shape: [1, 1, D], mask: null };
    const ctx = { training: false, rng: this.rng };
    for (let i = last + 1; i < L.length; i++) a = L[i]!.forward(a, ctx);
    return Float32Array.from(a.data);
  }

  protected inputPadding(): { sequence: boolean; padValue: number | null } {
    return { sequence: this.inputShape?.[0] === null, padValue: padValueOf(this.layers.slice(0, 1)) };
  }

  /** Build every layer for inputs of shape `inputShape` (without batch) and pack the parameters. */
  build(inputShape: Shape): void {
    if (this.built) return;
    if (this.layers.length === 0) throw new Error(`${this.name}: the model has no layers`);
    let s = inputShape;
    for (const l of this.layers) {
      if (!l.built) l.build(s);
      s = l.computeOutputShape(s);
    }
    this.inputShape = inputShape;
    this.packParameters();
  }

  protected buildFor(xs: Dense[]): void {
    const x = xs[0]!;
    this.build(this.inputShape ?? x.shape.slice(1).map((d, i) => (i === 0 && x.shape.length >= 2 ? null : d)));
  }

  /** Index of the Embedding that ran fused with the next layer in the last forward, or -1. */
  private tableAt = -1;

  protected forwardAll(xs: Dense[], training: boolean): Act {
    const x = xs[0]!;
    let a: Act = { data: x.data, shape: x.shape, mask: x.mask };
    // reuse: every caller consumes the output before the next forward (predict copies it out).
    const ctx = { training, rng: this.rng, reuse: true };
    this.tableAt = -1;
    const layers = this.layers;
    for (let i = 0; i < layers.length; i++) {
      const l = layers[i]!, next = layers[i + 1];
      if (l instanceof Embedding && next instanceof RecurrentLayer && next.takesTable(ctx)) {
        const t = l.tableRows(a);
        if (t) {
          a = next.forwardTable(t, ctx)[0]!;
          this.tableAt = i++;
          continue;
        }
      }
      a = l.forward(a, ctx);
    }
    return a;
  }

  protected backwardAll(dy: Float32Array, fused: DenseLayer | null): void {
    // A layer's input gradient is wanted only when a layer with trainable parameters lies before
    // it; below the first such layer nothing runs backward (frozen layers at the bottom cost no
    // backward at all).
    const first = this.layers.findIndex(hasTrainableParams);
    let g: Float32Array | null = dy;
    for (let i = this.layers.length - 1; i >= 0 && g && i >= first && first >= 0; i--) {
      const l = this.layers[i]!;
      if (i === this.tableAt + 1 && this.tableAt >= 0) {
        // The recurrent layer returns the gradient of the embedding's table rows.
        const rows = l.backward(g)!, emb = this.layers[this.tableAt] as Embedding;
        if (hasTrainableParams(emb)) emb.backwardTable(rows);
        return; // an Embedding's input (token ids) has no gradient
      }
      const wantDx = first >= 0 && first < i;
      g = l === fused ? fused.backwardFromLogits(g, wantDx) : l.backward(g, wantDx);
    }
  }

  summaryRows(): [string, string, string][] {
    let s = this.inputShape!;
    return this.layers.map((l) => {
      s = l.computeOutputShape(s);
      return [`${l.name} (${layerTypeName(l)})`, shapeStr([null, ...s]), String(l.params?.size ?? 0)];
    });
  }

  getConfig(): Record<string, unknown> {
    return { className: 'Sequential', name: this.name, inputShape: this.inputShape, layers: this.layers.map(savedLayerConfig) };
  }
}

/** Let the browser paint / Node handle I/O between batches. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
