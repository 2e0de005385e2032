// Character-level language model (karpathy's char-rnn, the tutorial's exercise 1) on the
// public API only: Embedding -> stacked LSTM/GRU/RNN (stateful) -> Dense(V, softmax), trained
// with truncated BPTT: the text is cut into B parallel streams, each batch continues where the
// previous one stopped, and the hidden state is carried across batches without gradient.
// Or, for comparison, causal Transformer blocks over a window of the last `seq` characters
// (nothing carried between batches: each window is its own context).
import { CharVocab } from '../data/vocab.js';
import { withFixedWeights } from '../kernels/index.js';
import { Embedding, Dense } from '../layers/core.js';
import { layers } from '../layers/factories.js';
import type { MultiHeadAttention } from '../layers/multihead.js';
import { RecurrentLayer, type CellClass } from '../layers/rnn-layers.js';
import { input, type SymbolicTensor } from '../layers/symbolic.js';
import type { Dense as DenseData } from '../models/data-input.js';
import { IncrementalDecoder } from '../models/decoder.js';
import { GraphModel } from '../models/functional.js';
import { Sequential, type Model } from '../models/sequential.js';
import { modelStepper } from '../models/stack-step.js';
import { getOptimizer } from '../optim/optimizers.js';
import { rng } from '../tensor/rng.js';

export type CellName = 'lstm' | 'gru' | 'rnn';
/** The char model's sequence layers: a recurrent cell, or causal Transformer blocks. */
export type CharCell = CellName | 'transformer';
export const CHAR_CELLS: readonly CharCell[] = ['lstm', 'gru', 'rnn', 'transformer'];

export interface CharRnnConfig {
  cell: CharCell;
  /** Recurrent units per layer, or the Transformer's width (its embeddings' too). */
  hidden: number;
  /** Stacked recurrent layers, or Transformer blocks. */
  layers: number;
  /** Character embedding size (recurrent cells). */
  embed: number;
  /** Attention heads per Transformer block. */
  heads: number;
  /** Characters per batch row: the BPTT length, or the Transformer's context window. */
  seq: number;
  batch: number;
  dropout: number;
  lr: number;
  clip: number;
  seed: number;
}

export const DEFAULT_CHARRNN: CharRnnConfig = {
  cell: 'lstm', hidden: 256, layers: 2, embed: 64, heads: 4, seq: 64, batch: 32, dropout: 0, lr: 2e-3, clip: 5, seed: 1,
};

export interface Corpus {
  vocab: CharVocab;
  train: Int32Array;
  val: Int32Array;
}

/** Vocabulary from the whole text; the last `valFraction` (contiguous) is held out. */
export function prepareCorpus(text: string, valFraction = 0.1, vocab?: CharVocab): Corpus {
  if (text.length < 100) throw new RangeError(`charrnn: the text has ${text.length} characters; at least 100 are needed`);
  const v = vocab ?? CharVocab.build(text);
  const ids = v.encode(text, { unknown: vocab ? 'skip' : 'throw' });
  const nVal = Math.max(1, Math.floor(ids.length * valFraction));
  return { vocab: v, train: ids.subarray(0, ids.length - nVal), val: ids.subarray(ids.length - nVal) };
}

const CELLS: Record<CellName, CellClass> = { lstm: 'LSTM', gru: 'GRU', rnn: 'SimpleRNN' };

/** The model for `cfg` (a stateful recurrent stack, or Transformer blocks), compiled (Adam). */
export function buildCharModel(vocabSize: number, cfg: CharRnnConfig): Model {
  if (cfg.cell !== 'transformer') return recurrentCharModel(vocabSize, { ...cfg, cell: cfg.cell });
  return compiled(transformerCharModel(vocabSize, cfg).model, cfg);
}

/** Embedding -> cfg.layers stateful recurrent layers -> Dense(V, softmax), compiled (Adam). */
export function recurrentCharModel(vocabSize: number, cfg: CharRnnConfig & { cell: CellName }): Sequential {
  const model = new Sequential({ name: 'charrnn', inputShape: [null] });
  model.add(new Embedding({ inputDim: vocabSize, outputDim: cfg.embed, seed: cfg.seed }));
  for (let l = 0; l < cfg.layers; l++) {
    model.add(new RecurrentLayer(CELLS[cfg.cell], {
      units: cfg.hidden, returnSequences: true, stateful: true, seed: cfg.seed + 10 + l,
      dropout: l > 0 ? cfg.dropout : 0,
    }));
  }
  model.add(new Dense({ units: vocabSize, activation: 'softmax', seed: cfg.seed + 99 }));
  model.build([null]);
  return compiled(model, cfg);
}

function compiled<M extends Model>(model: M, cfg: CharRnnConfig): M {
  model.compile({ optimizer: getOptimizer('adam', { learningRate: cfg.lr }), loss: 'sparseCategoricalCrossentropy' });
  model.metadata = { app: 'charrnn', config: cfg };
  return model;
}

/**
 * Causal Transformer blocks for next-character prediction (uncompiled): embeddings of width
 * D = cfg.hidden plus sine position encodings, then per block (pre-norm, as GPT-2: stable
 * without a warm-up however many blocks) x += attention(LN(x)), causal, in cfg.heads heads, and
 * x += FF(LN(x)) with a feed-forward layer of 4·D (ReLU), cfg.dropout on both; a last layer
 * normalisation and a softmax over the characters. `attentions`: each block's attention layer
 * (its lastWeights after a predict).
 *
 * The embeddings start uniform in (-1, 1), on the scale of the sine encodings added to them (the
 * original Transformer multiplies its embeddings by √D for the same reason): with Keras' default
 * ±0.05 the positions drowned the characters: after 150 steps on Tiny Shakespeare a 2-block,
 * 128-wide model was at 2.64 nats/char (post-norm: 3.30, the unigram loss), at 2.24 with these
 * (ad hoc).
 */
export function transformerCharModel(vocabSize: number, cfg: Pick<CharRnnConfig, 'hidden' | 'layers' | 'heads' | 'dropout' | 'seed'>): { model: GraphModel; attentions: MultiHeadAttention[] } {
  const D = cfg.hidden, ids = input({ shape: [null] }), attentions: MultiHeadAttention[] = [];
  const drop = (t: SymbolicTensor): SymbolicTensor => (cfg.dropout > 0 ? layers.dropout({ rate: cfg.dropout }).apply(t) : t);
  const norm = (t: SymbolicTensor): SymbolicTensor => layers.layerNormalization().apply(t);
  let x = layers.positionEncoding({ kind: 'sine' }).apply(layers.embedding({ inputDim: vocabSize, outputDim: D, initScale: 1, seed: cfg.seed }).apply(ids));
  for (let l = 0; l < cfg.layers; l++) {
    const s = cfg.seed + 10 * l;
    const attention = layers.multiHeadAttention({ numHeads: cfg.heads, keyDim: Math.max(1, Math.round(D / cfg.heads)), causal: true, seed: s + 1 });
    attentions.push(attention);
    const a = norm(x);
    x = layers.add().apply([x, drop(attention.apply([a, a]))]);
    const ff = layers.dense({ units: D, seed: s + 3 }).apply(layers.dense({ units: 4 * D, activation: 'relu', seed: s + 2 }).apply(norm(x)));
    x = layers.add().apply([x, drop(ff)]);
  }
  const out = layers.dense({ units: vocabSize, activation: 'softmax', seed: cfg.seed + 4 }).apply(norm(x));
  return { model: new GraphModel({ name: 'charrnn', inputs: ids, outputs: out }), attentions };
}

/** A saved char model's context window: its training length for a Transformer, else none (state carries the past). */
export function charWindow(model: Model): number | undefined {
  const meta = model.metadata as { app?: unknown; config?: Partial<CharRnnConfig> };
  return meta.app === 'charrnn' && meta.config?.cell === 'transformer' ? meta.config.seq : undefined;
}

/** A short description: "LSTM 2x256" or "Transformer 2 blocks x 256, 4 heads". */
export function describeCharModel(cfg: CharRnnConfig): string {
  return cfg.cell === 'transformer'
    ? `Transformer ${cfg.layers} block${cfg.layers === 1 ? '' : 's'} x ${cfg.hidden}, ${cfg.heads} heads, window ${cfg.seq}`
    : `${cfg.cell.toUpperCase()} ${cfg.layers}x${cfg.hidden}`;
}

/**
 * Truncated-BPTT batches over B parallel streams: batch k holds, for stream b, the characters
 * [b·L + k·T, b·L + (k+1)·T) as input and the same shifted by one as target (L = stream length).
 */
export class StreamBatcher {
  readonly streamLen: number;
  readonly batchesPerEpoch: number;
  constructor(readonly ids: Int32Array, readonly B: number, readonly T: number) {
    this.streamLen = Math.floor((ids.length - 1) / B);
    this.batchesPerEpoch = Math.floor(this.streamLen / T);
    if (this.batchesPerEpoch < 1) {
      throw new RangeError(`charrnn: ${ids.length} characters are too few for batch ${B} x seq ${T}; lower --batch or --seq`);
    }
  }

  batch(k: number): { x: DenseData; y: DenseData } {
    const { B, T, ids, streamLen } = this;
    const x = new Float32Array(B * T), y = new Float32Array(B * T);
    for (let b = 0; b < B; b++) {
      const s = b * streamLen + k * T;
      for (let t = 0; t < T; t++) { x[b * T + t] = ids[s + t]!; y[b * T + t] = ids[s + t + 1]!; }
    }
    return { x: { data: x, shape: [B, T], mask: null }, y: { data: y, shape: [B, T], mask: null } };
  }
}

/**
 * Mean loss in nats per character over `ids`, streaming with carried state (eval mode). The
 * states the model carried before (e.g. mid-training) are set aside and restored afterwards.
 */
export function evaluateNats(model: Model, ids: Int32Array, batch: number, seq: number, maxBatches = Infinity): number {
  const B = Math.max(1, Math.min(batch, Math.floor((ids.length - 1) / seq)));
  const sb = new StreamBatcher(ids, B, seq);
  const saved = model.getStates();
  model.resetStates();
  let sum = 0, n = 0;
  for (let k = 0; k < Math.min(sb.batchesPerEpoch, maxBatches); k++) {
    const { x, y } = sb.batch(k);
    const r = model.evaluate(x, y, { batchSize: B });
    sum += r.loss! * B * seq; n += B * seq;
  }
  model.setStates(saved);
  return sum / n;
}

export interface SampleOptions {
  length: number;
  temperature?: number;
  topK?: number;
  prime?: string;
  seed?: number;
  /**
   * Called with each character as it is generated. It must not change the model's weights: the
   * call reads them as fixed (see withFixedWeights).
   */
  onText?: (s: string) => void;
  /**
   * For a model that carries no state (a Transformer): each character is predicted from at most
   * the last `window` characters (without it the model's recurrent state carries the past, one
   * character in per step). Default: a Transformer trained by charrnn uses its training window
   * (charWindow), any other model none.
   */
  window?: number;
  /**
   * With a window: run the model incrementally (an IncrementalDecoder; default true), each new
   * character's step only, the steps before read from the attention layers' key/value cache.
   * When the window is full the cache starts again from its last `window − ⌊window/4⌋`
   * characters, so the context is between 3/4 of the window and all of it. false: the whole
   * window is run again for every character (the context always the full window).
   */
  cache?: boolean;
  /**
   * Without a window: a model made of an Embedding, stateful recurrent layers and a softmax Dense
   * (what charrnn trains) runs each character through all its layers in one call of the kernels
   * (modelStepper; default true), with the bits of a predict call: the same text, faster. false:
   * each character through the model's predictInPlace.
   */
  fused?: boolean;
}

/**
 * Generate text one character at a time with the state carried between steps (or, with
 * `window`, from the characters before). The weights are checked against the kernels' copies
 * once per call, not once per character.
 */
export function sample(model: Model, vocab: CharVocab, opts: SampleOptions): string {
  return withFixedWeights(() => sampleFixed(model, vocab, opts));
}

function sampleFixed(model: Model, vocab: CharVocab, opts: SampleOptions): string {
  const saved = model.getStates();
  const temperature = opts.temperature ?? 1, topK = opts.topK ?? 0;
  if (!(temperature > 0)) throw new RangeError(`sample: temperature must be > 0, got ${temperature}`);
  const r = rng(opts.seed ?? 0);
  let prime = opts.prime ?? '';
  if (prime) {
    const unknown = [...new Set([...prime].filter((c) => !vocab.chars.includes(c)))];
    if (unknown.length) {
      throw new RangeError(`sample: the prime text has character(s) not in the model's vocabulary: ${unknown.map((c) => JSON.stringify(c)).join(', ')}`);
    }
  } else {
    prime = vocab.chars.includes('\n') ? '\n' : vocab.chars[r.int(vocab.size)]!;
  }
  model.resetStates();
  const ids = vocab.encode(prime);
  const V = vocab.size, window = opts.window ?? charWindow(model), context: number[] = [];
  if (window !== undefined && !(Number.isInteger(window) && window >= 1)) throw new RangeError(`sample: window must be a positive integer, got ${window}`);
  const dec = window !== undefined && (opts.cache ?? true) ? new IncrementalDecoder(model, { capacity: window }) : null;
  const lastRow = (p: Float32Array): Float32Array => p.subarray(p.length - V);
  // A stateful model takes one character per call; its output is read before the next call.
  const one: DenseData = { data: new Float32Array(1), shape: [1, 1], mask: null };
  const stepper = window === undefined && (opts.fused ?? true) ? modelStepper(model, { steps: ids.length + opts.length }) : null;
  /** The next character's probabilities after `id`. */
  const next = (id: number): Float32Array => {
    if (stepper) return stepper.step(id);
    if (window === undefined) { one.data[0] = id; return model.predictInPlace(one).data; }
    context.push(id);
    if (dec && dec.position < window) return dec.step({ data: [id], shape: [1, 1] }).data;
    if (dec) {
      // The window is full: start again from its last 3/4.
      dec.reset();
      const keep = context.slice(-(window - Math.floor(window / 4)));
      return lastRow(dec.step({ data: keep, shape: [1, keep.length] }, { last: true }).data);
    }
    const w = context.slice(-window);
    return lastRow(model.predict({ data: w, shape: [1, w.length] }).data);
  };
  let out = '';
  try {
    let probs: Float32Array = new Float32Array(0);
    // Feed the prime (one step at a time keeps the state for the first generated character).
    if (window === undefined) for (const id of ids) probs = next(id);
    else if (dec) {
      context.push(...ids);
      const w = context.slice(-window);
      probs = lastRow(dec.step({ data: w, shape: [1, w.length] }, { last: true }).data);
    } else { context.push(...ids.slice(0, -1)); probs = next(ids[ids.length - 1]!); }
    const logits = new Float64Array(V);
    for (let i = 0; i < opts.length; i++) {
      for (let j = 0; j < V; j++) logits[j] = Math.log(Math.max(probs[j]!, 1e-30)) / temperature;
      if (topK > 0 && topK < V) {
        const cut = [...logits].sort((a, b) => b - a)[topK - 1]!;
        for (let j = 0; j < V; j++) if (logits[j]! < cut) logits[j] = -Infinity;
      }
      let m = -Infinity;
      for (let j = 0; j < V; j++) m = Math.max(m, logits[j]!);
      let s = 0;
      for (let j = 0; j < V; j++) { logits[j] = Math.exp(logits[j]! - m); s += logits[j]!; }
      let u = r.next() * s, id = V - 1;
      for (let j = 0; j < V; j++) { u -= logits[j]!; if (u < 0) { id = j; break; } }
      const c = vocab.chars[id]!;
      out += c;
      opts.onText?.(c);
      probs = next(id);
    }
  } finally {
    stepper?.close();
    model.setStates(saved);
  }
  return out;
}
