// A character-level language model learning step by step, for the playground (worker.ts runs one
// in a Web Worker; it needs nothing from Node.js): training steps on truncated-BPTT batches, and at
// intervals the validation loss, a sample, and — for recurrent layers — how the gradient of a
// loss at the last step flows back through time into each layer (apps/gradflow.ts), or — for a
// Transformer — where each position's attention goes: what a learner watches the network learn.
// The Transformer is `layers` causal pre-norm blocks (4 heads) over embeddings plus sine
// position encodings: no state between windows, so it sees at most `seq` characters back.
import { buildCharModel, DEFAULT_CHARRNN, evaluateNats, prepareCorpus, sample, StreamBatcher, transformerCharModel, type CellName, type CharRnnConfig, type Corpus } from '../apps/charrnn.js';
import { gradientFlow, modelProbe } from '../apps/gradflow.js';
import type { MultiHeadAttention } from '../layers/multihead.js';
import { shown } from '../layers/layer.js';
import { getOptimizer } from '../optim/optimizers.js';
import type { Model, Sequential } from '../models/sequential.js';
import { exportOnnx, type OnnxExport } from '../export/onnx.js';

export type PlaygroundCell = CellName | 'transformer';

export interface PlaygroundOptions {
  cell: PlaygroundCell;
  hidden: number;
  /** Stacked recurrent layers, or Transformer blocks. */
  layers: number;
  seq: number;
  batch: number;
  lr: number;
  /** Global gradient-norm clipping (0: off). */
  clip: number;
  seed: number;
}

export const DEFAULT_PLAYGROUND: PlaygroundOptions = { cell: 'lstm', hidden: 128, layers: 1, seq: 48, batch: 16, lr: 3e-3, clip: 5, seed: 1 };

/** Bounds of each numeric option (inclusive), checked by the session. */
export const PLAYGROUND_LIMITS: Record<Exclude<keyof PlaygroundOptions, 'cell'>, [number, number]> = {
  hidden: [4, 1024], layers: [1, 4], seq: [4, 256], batch: [1, 128], lr: [1e-5, 1], clip: [0, 100], seed: [0, 2 ** 31 - 1],
};

export interface StepInfo {
  step: number;
  epoch: number;
  /** Training loss of this batch, nats per character. */
  loss: number;
  gradNorm: number;
}

export interface EvalInfo {
  step: number;
  /** Validation loss, nats per character (up to 8 batches of the held-out tail). */
  valLoss: number;
  sample: string;
  /**
   * Recurrent cells: ‖∂L/∂h_t‖ for a loss on the last step of a probe window, by distance from
   * that step (0 = the last step); one array per layer, the bottom one first.
   */
  flow: number[][] | null;
  /** Transformer: the attention of the first block on a probe window, mean over heads, [T, T] row-major (row = query position). */
  attention: { T: number; weights: number[] } | null;
}

/** Checks options (named in the error), filling in the defaults. */
export function playgroundOptions(o: Partial<PlaygroundOptions>): PlaygroundOptions {
  const r = { ...DEFAULT_PLAYGROUND, ...o };
  if (!['lstm', 'gru', 'rnn', 'transformer'].includes(r.cell)) throw new RangeError(`playground: cell must be lstm, gru, rnn or transformer, got ${JSON.stringify(r.cell)}`);
  for (const [k, [lo, hi]] of Object.entries(PLAYGROUND_LIMITS) as [keyof typeof PLAYGROUND_LIMITS, [number, number]][]) {
    const v = r[k];
    const integer = k !== 'lr' && k !== 'clip';
    if (!(typeof v === 'number' && v >= lo && v <= hi && (!integer || Number.isInteger(v)))) {
      throw new RangeError(`playground: ${k} must be ${integer ? 'an integer' : 'a number'} in [${lo}, ${hi}], got ${shown(v)}`);
    }
  }
  return r;
}

export class PlaygroundSession {
  readonly options: PlaygroundOptions;
  readonly corpus: Corpus;
  readonly model: Model;
  private readonly attention: MultiHeadAttention | null = null;
  private readonly batcher: StreamBatcher;
  private k = 0;
  private stepCount = 0;
  private epochCount = 0;

  constructor(text: string, options: Partial<PlaygroundOptions> = {}) {
    this.options = playgroundOptions(options);
    const o = this.options;
    this.corpus = prepareCorpus(text, 0.1);
    const cfg: CharRnnConfig = { ...DEFAULT_CHARRNN, hidden: o.hidden, layers: o.layers, embed: Math.min(64, Math.max(8, o.hidden >> 1)), seq: o.seq, batch: o.batch, lr: o.lr, clip: o.clip, seed: o.seed };
    const streams = Math.floor((this.corpus.train.length - 1) / o.batch);
    if (streams < o.seq) {
      throw new RangeError(`playground: the text's ${this.corpus.train.length} training characters are too few for a batch of ${o.batch} x ${o.seq} steps; lower the batch or the steps per sequence, or give a longer text`);
    }
    this.batcher = new StreamBatcher(this.corpus.train, o.batch, o.seq);
    if (o.cell === 'transformer') {
      // Pre-norm blocks of 4 heads.
      const t = transformerCharModel(this.corpus.vocab.size, { hidden: o.hidden, layers: o.layers, heads: 4, dropout: 0, seed: o.seed });
      t.model.compile({ optimizer: getOptimizer('adam', { learningRate: o.lr }), loss: 'sparseCategoricalCrossentropy' });
      this.model = t.model;
      this.attention = t.attentions[0]!;
    } else {
      this.model = buildCharModel(this.corpus.vocab.size, { ...cfg, cell: o.cell });
    }
  }

  get step(): number { return this.stepCount; }

  /**
   * The model as an ONNX file (export/onnx.ts), its vocabulary in the metadata: a recurrent
   * model with its states as inputs and outputs, to generate a character at a time; a
   * Transformer over windows of at most `seq` characters.
   */
  exportOnnx(): OnnxExport {
    this.model.metadata = { ...this.model.metadata, vocab: this.corpus.vocab.toJSON() };
    return exportOnnx(this.model, { maxLength: this.options.seq });
  }

  /** One training step (Adam on the next batch of every stream; the states carried between batches). */
  trainStep(): StepInfo {
    if (this.k === 0) this.model.resetStates();
    const { x, y } = this.batcher.batch(this.k);
    const { loss, gradNorm } = this.model.trainOnBatch(x, y, this.options.clip > 0 ? { clipNorm: this.options.clip } : {});
    if (!Number.isFinite(loss)) throw new Error(`training diverged: loss ${loss} at step ${this.stepCount + 1}; lower the learning rate`);
    this.stepCount++;
    if (++this.k === this.batcher.batchesPerEpoch) { this.k = 0; this.epochCount++; }
    return { step: this.stepCount, epoch: this.epochCount, loss, gradNorm };
  }

  /** Validation loss, a sample of `length` characters at `temperature`, and the gradient flow. */
  evaluate(length = 200, temperature = 0.8): EvalInfo {
    const { seq } = this.options, val = this.corpus.val;
    const valLoss = evaluateNats(this.model, val, this.options.batch, seq, 8);
    const text = sample(this.model, this.corpus.vocab, { length, temperature, seed: this.stepCount, ...(this.attention ? { window: seq } : {}) });
    // The probe: up to 4 windows of the held-out text (or of the training text when that is too short).
    const src = val.length > seq + 1 ? val : this.corpus.train;
    const B = Math.max(1, Math.min(4, Math.floor((src.length - 1) / seq))), T = Math.min(seq, src.length - 1);
    const input = new Float32Array(B * T), targets = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const s = b * T;
      for (let t = 0; t < T; t++) input[b * T + t] = src[s + t]!;
      targets[b] = src[s + T]!;
    }
    if (this.attention) {
      // The first probe window's weights, [H, T, T] -> their mean over the heads.
      this.model.predict({ data: input.subarray(0, T), shape: [1, T] });
      const w = this.attention.lastWeights!, H = w.shape[1]!, mean = new Array<number>(T * T).fill(0);
      for (let h = 0; h < H; h++) for (let i = 0; i < T * T; i++) mean[i]! += w.data[h * T * T + i]! / H;
      return { step: this.stepCount, valLoss, sample: text, flow: null, attention: { T, weights: mean } };
    }
    const saved = this.model.getStates();
    const p = modelProbe(this.model as Sequential, { data: input, shape: [B, T], mask: null });
    this.model.setStates(saved);
    const flow = gradientFlow(p.core, p.x, p.T, p.B, p.head, targets).dhNormByLayer;
    return { step: this.stepCount, valLoss, sample: text, flow, attention: null };
  }
}
