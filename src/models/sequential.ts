// The Keras-style model: a stack of layers with compile / fit / evaluate / predict / summary.
//
// All parameters of all layers live in one flat buffer (and gradients in another), so clipping
// and the optimiser step are single passes over the whole model. When the last layer is a
// Dense with softmax (or sigmoid) and the loss is a cross-entropy, loss and activation are fused:
// the gradient w.r.t. the logits is p - y, exact and stable.
import { Dense as DenseLayer } from '../layers/core.js';
import { shapeStr, type Act, type Layer, type Shape } from '../layers/layer.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { clipByGlobalNorm, clipByValue, globalNorm } from '../optim/clip.js';
import { getOptimizer, type Optimizer } from '../optim/optimizers.js';
import { packStores } from '../tensor/params.js';
import { Tensor } from '../tensor/tensor.js';
import { rng, type Rng } from '../tensor/rng.js';
import { takeRows, toDense, type ArrayInput, type Dense } from './data-input.js';
import { computeLoss, type LossName, resolveLossName } from './loss-adapter.js';
import { createMetric, type MetricState } from './metric-adapter.js';

export interface CompileArgs {
  optimizer: string | Optimizer;
  loss: LossName | string;
  metrics?: string[];
}

export type Logs = Record<string, number>;

export interface Callback {
  onTrainBegin?(model: Sequential): void | Promise<void>;
  onEpochBegin?(epoch: number): void | Promise<void>;
  onBatchBegin?(batch: number): void | Promise<void>;
  onBatchEnd?(batch: number, logs: Logs & { size: number; step: number; epoch: number; batches: number }): void | Promise<void>;
  onEpochEnd?(epoch: number, logs: Logs): void | Promise<void>;
  onTrainEnd?(logs: Logs): void | Promise<void>;
}

export interface FitArgs {
  epochs?: number;
  batchSize?: number;
  validationData?: [ArrayInput, ArrayInput];
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
}

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

export class Sequential {
  readonly layers: Layer[] = [];
  name: string;
  inputShape: Shape | null;
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
  private built = false;

  constructor(opts: SequentialOptions = {}) {
    this.name = opts.name ?? 'sequential';
    this.inputShape = opts.inputShape ?? null;
    for (const l of opts.layers ?? []) this.add(l);
  }

  add(layer: Layer): void {
    if (this.built) throw new Error(`${this.name}.add: the model is already built; add layers before the first fit/predict`);
    if (this.layers.some((l) => l.name === layer.name)) throw new Error(`${this.name}.add: a layer named '${layer.name}' already exists`);
    this.layers.push(layer);
  }

  get isBuilt(): boolean { return this.built; }

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
    // One flat buffer for every parameter of every layer.
    ({ params: this.params, grads: this.grads } = packStores(this.layers.flatMap((l) => (l.params ? [l.params] : []))));
    this.built = true;
  }

  /** Parameter names `layer/param` with their shapes and flat offsets, in buffer order. */
  weightEntries(): { name: string; shape: number[]; offset: number; size: number }[] {
    const out = [];
    let off = 0;
    for (const l of this.layers) {
      if (!l.params) continue;
      for (const e of l.params.entries) out.push({ name: `${l.name}/${e.name}`, shape: e.shape, offset: off + e.offset, size: e.size });
      off += l.params.size;
    }
    return out;
  }

  countParams(): number { return this.params.length; }

  compile(args: CompileArgs): void {
    if (!args || typeof args !== 'object') throw new TypeError(`${this.name}.compile: expected { optimizer, loss, metrics? }`);
    this.optimizer = getOptimizer(args.optimizer);
    this.lossName = resolveLossName(args.loss);
    this.metricNames = [...(args.metrics ?? [])];
    for (const m of this.metricNames) createMetric(m, this.lossName); // validate names now
  }

  private ensureBuilt(x: Dense): void {
    if (!this.built) this.build(this.inputShape ?? x.shape.slice(1).map((d, i) => (i === 0 && x.shape.length >= 2 ? null : d)));
  }

  private fusedHead(): DenseLayer | null {
    const last = this.layers[this.layers.length - 1];
    if (!(last instanceof DenseLayer)) return null;
    const l = this.lossName;
    if ((l === 'sparseCategoricalCrossentropy' || l === 'categoricalCrossentropy') && last.activation === 'softmax') return last;
    if (l === 'binaryCrossentropy' && last.activation === 'sigmoid') return last;
    return null;
  }

  /** Forward through every layer. */
  private run(x: Dense, training: boolean): Act {
    let a: Act = { data: x.data, shape: x.shape, mask: x.mask };
    const ctx = { training, rng: this.rng };
    for (const l of this.layers) a = l.forward(a, ctx);
    return a;
  }

  private backwardFrom(dy: Float32Array, fused: DenseLayer | null): void {
    let g: Float32Array | null = dy;
    for (let i = this.layers.length - 1; i >= 0 && g; i--) {
      const l = this.layers[i]!;
      g = l === fused ? fused.backwardFromLogits(g) : l.backward(g);
    }
  }

  /** One optimisation step on a batch; returns the loss and the pre-clip gradient norm. */
  trainOnBatch(x: Dense, y: Dense, clip: { clipNorm?: number; clipValue?: number } = {}, metrics: MetricState[] = []): { loss: number; gradNorm: number } {
    if (!this.optimizer || !this.lossName) throw new Error(`${this.name}: call compile() before training`);
    this.ensureBuilt(x);
    const out = this.run(x, true);
    const fused = this.fusedHead();
    const { loss, grad } = computeLoss(this.lossName, out, y, fused);
    for (const m of metrics) m.update(out, y);
    this.grads.fill(0);
    this.backwardFrom(grad, fused);
    const gradNorm = clip.clipNorm !== undefined ? clipByGlobalNorm(this.grads, clip.clipNorm) : globalNorm(this.grads);
    if (clip.clipValue !== undefined) clipByValue(this.grads, clip.clipValue);
    if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) return { loss, gradNorm };
    this.optimizer.step(this.params, this.grads);
    this.step++;
    return { loss, gradNorm };
  }

  async fit(xIn: ArrayInput, yIn: ArrayInput, args: FitArgs = {}): Promise<History> {
    if (!this.optimizer || !this.lossName) throw new Error(`${this.name}.fit: call compile({ optimizer, loss }) first`);
    const epochs = args.epochs ?? 1, batchSize = args.batchSize ?? 32;
    if (!Number.isInteger(epochs) || epochs < 0) throw new RangeError(`${this.name}.fit: epochs must be a non-negative integer, got ${epochs}`);
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new RangeError(`${this.name}.fit: batchSize must be a positive integer, got ${batchSize}`);
    if (args.seed !== undefined) this.rng = rng(args.seed);
    let x = toDense(xIn, 'fit(x)'), y = toDense(yIn, 'fit(y)');
    if (x.shape[0] !== y.shape[0]) throw new RangeError(`${this.name}.fit: x has ${x.shape[0]} samples but y has ${y.shape[0]}`);
    let val: [Dense, Dense] | null = null;
    if (args.validationData) {
      val = [toDense(args.validationData[0], 'validationData[0]'), toDense(args.validationData[1], 'validationData[1]')];
    } else if (args.validationSplit) {
      const f = args.validationSplit;
      if (!(f > 0 && f < 1)) throw new RangeError(`${this.name}.fit: validationSplit must be in (0, 1), got ${f}`);
      // As Keras: the last fraction of the samples, before shuffling.
      const N = x.shape[0]!, nTrain = Math.floor(N * (1 - f));
      const tr = Array.from({ length: nTrain }, (_, i) => i), va = Array.from({ length: N - nTrain }, (_, i) => nTrain + i);
      val = [takeRows(x, va), takeRows(y, va)];
      x = takeRows(x, tr); y = takeRows(y, tr);
    }
    this.ensureBuilt(x);
    const N = x.shape[0]!;
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
      const order = Int32Array.from({ length: N }, (_, i) => i);
      if (args.shuffle ?? true) this.rng.shuffle(order);
      for (const m of metrics) m.reset();
      let lossSum = 0, seen = 0;
      for (let bi = 0; bi < batches && !this.stopTraining; bi++) {
        const idx = order.subarray(bi * batchSize, Math.min(N, (bi + 1) * batchSize));
        const bx = takeRows(x, idx), by = takeRows(y, idx);
        for (const c of cbs) await c.onBatchBegin?.(bi);
        const { loss, gradNorm } = this.trainOnBatch(bx, by, args, metrics);
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
        const v = this.evaluate(val[0], val[1], { batchSize });
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

  /** Loss and metrics over (x, y) in inference mode. */
  evaluate(xIn: ArrayInput | Dense, yIn: ArrayInput | Dense, args: { batchSize?: number } = {}): Logs {
    if (!this.lossName) throw new Error(`${this.name}.evaluate: call compile() first`);
    const x = isDense(xIn) ? xIn : toDense(xIn, 'evaluate(x)');
    const y = isDense(yIn) ? yIn : toDense(yIn, 'evaluate(y)');
    this.ensureBuilt(x);
    const N = x.shape[0]!, bs = args.batchSize ?? 32;
    const metrics = this.metricNames.map((m) => createMetric(m, this.lossName!));
    const fused = this.fusedHead();
    let lossSum = 0, weight = 0;
    for (let s = 0; s < N; s += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, N - s) }, (_, i) => s + i);
      const bx = takeRows(x, idx), by = takeRows(y, idx);
      const out = this.run(bx, false);
      const r = computeLoss(this.lossName, out, by, fused);
      lossSum += r.loss * r.count; weight += r.count;
      for (const m of metrics) m.update(out, by);
    }
    const logs: Logs = { loss: lossSum / Math.max(weight, 1) };
    for (const m of metrics) logs[m.name] = m.result();
    return logs;
  }

  /** Outputs for x, in batches of any size, inference mode. */
  predict(xIn: ArrayInput, args: { batchSize?: number } = {}): Tensor {
    const x = toDense(xIn, 'predict(x)');
    this.ensureBuilt(x);
    const N = x.shape[0]!, bs = args.batchSize ?? 32;
    const parts: Act[] = [];
    for (let s = 0; s < N; s += bs) {
      const idx = Int32Array.from({ length: Math.min(bs, N - s) }, (_, i) => s + i);
      parts.push(this.run(takeRows(x, idx), false));
    }
    const shape = [N, ...parts[0]!.shape.slice(1)];
    const data = new Float32Array(shape.reduce((p, d) => p * d, 1));
    let off = 0;
    for (const p of parts) { data.set(p.data, off); off += p.data.length; }
    return new Tensor(data, shape);
  }

  resetStates(): void {
    for (const l of this.layers) l.resetStates?.();
  }

  /** A Keras-like table of layers, output shapes and parameter counts. */
  summary(print: (s: string) => void = console.log): string {
    if (!this.built) throw new Error(`${this.name}.summary: the model is not built; pass inputShape to sequential() or call build([...])`);
    const rows: [string, string, string][] = [];
    let s = this.inputShape!;
    for (const l of this.layers) {
      s = l.computeOutputShape(s);
      rows.push([`${l.name} (${l.className === 'Bidirectional' ? `Bidirectional(${(l as RecurrentLayer).cell})` : l.className})`, shapeStr([null, ...s]), String(l.params?.size ?? 0)]);
    }
    const head: [string, string, string] = ['Layer (type)', 'Output shape', 'Param #'];
    const w = [0, 1, 2].map((i) => Math.max(head[i]!.length, ...rows.map((r) => r[i]!.length)) + 2);
    const line = (r: [string, string, string]) => r.map((c, i) => c.padEnd(w[i]!)).join('').trimEnd();
    const bar = '_'.repeat(w.reduce((a, b) => a + b, 0));
    const text = [`Model: "${this.name}"`, bar, line(head), '='.repeat(bar.length), ...rows.map(line), '='.repeat(bar.length),
      `Total params: ${this.countParams().toLocaleString('en-US')}`, bar].join('\n');
    print(text);
    return text;
  }

  getConfig(): Record<string, unknown> {
    return { className: 'Sequential', name: this.name, inputShape: this.inputShape, layers: this.layers.map((l) => l.getConfig()) };
  }
}

function isDense(v: unknown): v is Dense {
  return typeof v === 'object' && v !== null && 'data' in v && 'shape' in v && 'mask' in v && (v as Dense).data instanceof Float32Array;
}

/** Let the browser paint / Node handle I/O between batches. */
export function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => {
    if (typeof setImmediate === 'function') setImmediate(resolve);
    else setTimeout(resolve, 0);
  });
}
