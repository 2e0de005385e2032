// Movie-review sentiment (the tutorial's exercise 2) on the public API: words -> Embedding
// (maskZero) -> [Bidirectional] LSTM/GRU/RNN -> [AttentionPooling] -> Dense(1, sigmoid), trained
// with length bucketing so a batch of short reviews costs little. With the attention head the
// classifier reads a weighted sum of the states of every word, and explainSentiment shows the
// weights: which words it looked at.
//
// The text pipeline (tokenizer options, vocabulary, maximum length and which end of a long
// review is kept) is saved in `model.metadata`, so `predictSentiment` turns new text into ids
// exactly as the training data was. The output is P(label 1) (IMDB / SST-2: 1 = positive).
//
// Lengths: padding (id 0) is masked by the Embedding and becomes per-sequence lengths inside
// the recurrent layer, so results never depend on how a review was batched. A text with no
// tokens (empty, or only whitespace) is a length-0 sequence: the recurrent layer returns its
// initial (zero) state and the prediction is the head's bias through the sigmoid.
import { setEmbeddingRows, vectorLookup, type WordVectors } from '../data/word-vectors.js';
import * as rnn from '../index.js';
import { AttentionPooling, type Logs, type Sequential } from '../index.js';
import {
  collate, planBatches, splitStratified, tokenizerFromJSON, Vocab, WordTokenizer,
  type Tokenizer, type WordTokenizerOptions,
} from '../data/index.js';
import { BinaryCounts } from '../models/metrics.js';

export type CellName = 'lstm' | 'gru' | 'rnn';
export const CELL_NAMES: readonly CellName[] = ['lstm', 'gru', 'rnn'];
export type Keep = 'start' | 'end';

// ---------------------------------------------------------------------------------------------
// Text -> ids

export interface PrepareOptions {
  /** Vocabulary size, counting <pad> and <unk> (default 20000). */
  maxSize?: number;
  /** Words seen fewer times in the training texts map to <unk> (default 2). */
  minFreq?: number;
  /** Keep at most this many tokens per text (default 400). */
  maxLen?: number;
  /** Which part of a longer text to keep (default 'end': reviews end with the verdict). */
  keep?: Keep;
  /** Word tokenizer options (default: lower-case, HTML stripped, contractions split). */
  tokenizer?: WordTokenizerOptions;
}

export const DEFAULT_PREPARE: Required<Omit<PrepareOptions, 'tokenizer'>> = { maxSize: 20000, minFreq: 2, maxLen: 400, keep: 'end' };

/** Everything needed to turn text into model input; saved with the model. */
export interface TextPipeline {
  tokenizer: Tokenizer;
  vocab: Vocab;
  maxLen: number;
  keep: Keep;
}

/** Token ids (already truncated) and 0/1 labels. */
export interface EncodedSet {
  ids: Int32Array[];
  labels: Int32Array;
}

export interface LabelledTexts {
  texts: readonly string[];
  labels: ArrayLike<number>;
}

function checkInt(v: number, name: string, min: number): number {
  if (!(Number.isInteger(v) && v >= min)) throw new RangeError(`sentiment: ${name} must be an integer >= ${min}, got ${v}`);
  return v;
}

/** Cut a token list to maxLen, keeping its start or its end. */
export function truncate<T extends { length: number; slice(a: number, b?: number): T }>(tokens: T, maxLen: number, keep: Keep): T {
  if (tokens.length <= maxLen) return tokens;
  return keep === 'end' ? tokens.slice(tokens.length - maxLen) : tokens.slice(0, maxLen);
}

/** ids of each text under the pipeline (tokenize, look up, truncate). */
export function encodeTexts(p: TextPipeline, texts: readonly string[]): Int32Array[] {
  return texts.map((t) => p.vocab.encode(truncate(p.tokenizer.tokenize(t), p.maxLen, p.keep)));
}

function checkLabels(labels: ArrayLike<number>, n: number, what: string): Int32Array {
  if (labels.length !== n) throw new RangeError(`sentiment: ${what} has ${n} texts but ${labels.length} labels`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const y = labels[i]!;
    if (y !== 0 && y !== 1) throw new RangeError(`sentiment: ${what} label ${i} is ${y}; binary sentiment needs labels 0 and 1`);
    out[i] = y;
  }
  return out;
}

/**
 * Tokenizes the training texts, builds the vocabulary on them (most frequent words, `maxSize`,
 * `minFreq`) and encodes them; `val` (if given) is encoded with the same pipeline.
 */
export function prepare(train: LabelledTexts, options: PrepareOptions = {}, val?: LabelledTexts): { pipeline: TextPipeline; train: EncodedSet; val?: EncodedSet } {
  const o = { ...DEFAULT_PREPARE, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<PrepareOptions>;
  checkInt(o.maxLen, 'maxLen', 1);
  checkInt(o.minFreq, 'minFreq', 1);
  checkInt(o.maxSize, 'maxSize (vocabulary size)', 3);
  if (o.keep !== 'start' && o.keep !== 'end') throw new RangeError(`sentiment: keep must be 'start' or 'end', got ${JSON.stringify(o.keep)}`);
  if (train.texts.length === 0) throw new RangeError('sentiment: no training texts');
  const labels = checkLabels(train.labels, train.texts.length, 'the training set');
  const tokenizer = new WordTokenizer(o.tokenizer ?? {});
  const tokens = train.texts.map((t) => tokenizer.tokenize(t));
  // The vocabulary counts every token of the training texts (also beyond maxLen).
  const vocab = Vocab.build(tokens, { maxSize: o.maxSize, minFreq: o.minFreq });
  const pipeline: TextPipeline = { tokenizer, vocab, maxLen: o.maxLen, keep: o.keep };
  const out: { pipeline: TextPipeline; train: EncodedSet; val?: EncodedSet } = {
    pipeline,
    train: { ids: tokens.map((t) => vocab.encode(truncate(t, o.maxLen, o.keep))), labels },
  };
  if (val) out.val = encodeSet(pipeline, val, 'the validation set');
  return out;
}

export function encodeSet(p: TextPipeline, d: LabelledTexts, what = 'the data'): EncodedSet {
  return { ids: encodeTexts(p, d.texts), labels: checkLabels(d.labels, d.texts.length, what) };
}

/** A seeded stratified split of a labelled dataset (validation = `fraction` of each class). */
export function splitTexts<T extends LabelledTexts>(d: T, fraction: number, seed: number): { train: LabelledTexts; val: LabelledTexts } {
  const { train, valid } = splitStratified(d.labels, fraction, seed);
  const pick = (idx: Int32Array): LabelledTexts => ({ texts: Array.from(idx, (i) => d.texts[i]!), labels: Array.from(idx, (i) => d.labels[i]!) });
  return { train: pick(train), val: pick(valid) };
}

// ---------------------------------------------------------------------------------------------
// The model

export interface SentimentModelConfig {
  /** Vocabulary size V (the embedding has V rows). */
  vocabSize: number;
  cell: CellName;
  bidirectional: boolean;
  /** Word embedding size. */
  embed: number;
  /** Recurrent units (per direction). */
  units: number;
  /** Dropout on the recurrent layer's inputs (the word vectors), one mask per review. */
  dropout: number;
  /** Dropout on the final state, before the Dense head (default 0). */
  outputDropout?: number;
  /**
   * Units of an attention-pooling head (0 or absent: none): the recurrent layer's states of every
   * word, weighted by a learned score, instead of its last state (see explainSentiment).
   */
  attention?: number;
  /** Adam learning rate. */
  lr: number;
  seed: number;
}

export const DEFAULT_MODEL: Omit<SentimentModelConfig, 'vocabSize'> = {
  cell: 'lstm', bidirectional: false, embed: 64, units: 64, dropout: 0.3, outputDropout: 0, lr: 2e-3, seed: 1,
};

/**
 * sequential([embedding(maskZero), (bidirectional(lstm)), (attentionPooling), dense(1, 'sigmoid')]),
 * compiled with Adam + BCE.
 */
export function buildSentimentModel(config: Partial<SentimentModelConfig> & { vocabSize: number }): Sequential {
  const c: SentimentModelConfig = { ...DEFAULT_MODEL, ...Object.fromEntries(Object.entries(config).filter(([, v]) => v !== undefined)) } as SentimentModelConfig;
  checkInt(c.vocabSize, 'vocabSize', 3);
  checkInt(c.embed, 'embed', 1);
  checkInt(c.units, 'units', 1);
  if (!CELL_NAMES.includes(c.cell)) throw new RangeError(`sentiment: cell must be one of ${CELL_NAMES.join(', ')}, got ${JSON.stringify(c.cell)}`);
  const { layers } = rnn;
  const attention = c.attention ?? 0;
  if (attention !== 0) checkInt(attention, 'attention', 1);
  const recurrentOptions = { units: c.units, dropout: c.dropout, seed: c.seed + 10, name: c.cell, returnSequences: attention > 0 };
  const recurrent = c.cell === 'lstm' ? layers.lstm(recurrentOptions) : c.cell === 'gru' ? layers.gru(recurrentOptions) : layers.simpleRNN(recurrentOptions);
  const model = rnn.sequential({
    name: 'sentiment',
    inputShape: [null],
    layers: [
      layers.embedding({ inputDim: c.vocabSize, outputDim: c.embed, maskZero: true, seed: c.seed, name: 'embedding' }),
      c.bidirectional ? layers.bidirectional({ layer: recurrent, name: `bidirectional_${c.cell}` }) : recurrent,
      ...(attention > 0 ? [layers.attentionPooling({ units: attention, seed: c.seed + 30, name: 'attention' })] : []),
      ...((c.outputDropout ?? 0) > 0 ? [layers.dropout({ rate: c.outputDropout!, name: 'dropout' })] : []),
      layers.dense({ units: 1, activation: 'sigmoid', seed: c.seed + 20, name: 'dense' }),
    ],
  });
  model.build([null]);
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: c.lr }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
  model.metadata = { ...model.metadata, app: 'sentiment', config: c };
  return model;
}

/**
 * Starts the model's word embedding from pretrained vectors (readWordVectors): every vocabulary
 * word they have (looked up lower-cased when the tokenizer lower-cases) starts from its vector;
 * `freeze` keeps the embedding so while the rest trains. The vectors must have the embedding's
 * size. Returns how many of the vocabulary's words have one.
 */
export function usePretrained(model: Sequential, p: TextPipeline, wv: WordVectors, freeze: boolean): number {
  const emb = model.getLayer('embedding');
  const [table] = emb.getWeights(), D = table!.shape[1]!;
  if (wv.dim !== D) throw new RangeError(`the pretrained vectors have ${wv.dim} values, the word embedding ${D} (give embed ${wv.dim})`);
  const lower = (p.tokenizer as { options?: { lowercase?: boolean } }).options?.lowercase === true;
  const found = setEmbeddingRows(emb, p.vocab.tokens, vectorLookup(wv, lower ? (w) => w.toLowerCase() : undefined).vectorOf);
  if (freeze) emb.trainable = false;
  return found;
}

/** Stores the text pipeline and class names in model.metadata (saved with the model). */
export function attachPipeline(model: Sequential, p: TextPipeline, labelNames: readonly string[] = ['0', '1']): void {
  if (labelNames.length !== 2) throw new RangeError(`sentiment: expected 2 class names, got ${labelNames.length}`);
  model.metadata = {
    ...model.metadata,
    app: 'sentiment',
    pipelineVersion: 1,
    tokenizer: p.tokenizer.toJSON(),
    vocab: p.vocab.toJSON(),
    maxLen: p.maxLen,
    keep: p.keep,
    labelNames: [...labelNames],
  };
  pipelines.delete(model);
}

const pipelines = new WeakMap<Sequential, TextPipeline>();

/** The text pipeline saved in a sentiment model's metadata (throws if it is not one). */
export function pipelineOf(model: Sequential): TextPipeline {
  const cached = pipelines.get(model);
  if (cached) return cached;
  const m = model.metadata as { app?: unknown; tokenizer?: unknown; vocab?: unknown; maxLen?: unknown; keep?: unknown };
  if (m.app !== 'sentiment' || m.tokenizer === undefined || m.vocab === undefined) {
    throw new Error(`model '${model.name}' is not a sentiment model (its metadata has no tokenizer and vocabulary)`);
  }
  const maxLen = m.maxLen;
  if (!(typeof maxLen === 'number' && Number.isInteger(maxLen) && maxLen >= 1)) throw new Error(`sentiment model metadata: maxLen must be a positive integer, got ${JSON.stringify(maxLen)}`);
  if (m.keep !== 'start' && m.keep !== 'end') throw new Error(`sentiment model metadata: keep must be 'start' or 'end', got ${JSON.stringify(m.keep)}`);
  const p: TextPipeline = { tokenizer: tokenizerFromJSON(m.tokenizer), vocab: Vocab.fromJSON(m.vocab), maxLen, keep: m.keep };
  pipelines.set(model, p);
  return p;
}

export function labelNamesOf(model: Sequential): string[] {
  const n = (model.metadata as { labelNames?: unknown }).labelNames;
  return Array.isArray(n) && n.length === 2 ? n.map(String) : ['0', '1'];
}

/** Human-readable class names: "negative"/"positive" when the labels are plain 0/1. */
export function displayNames(labelNames: readonly string[]): [string, string] {
  return labelNames[0] === '0' && labelNames[1] === '1' ? ['negative', 'positive'] : [labelNames[0]!, labelNames[1]!];
}

// ---------------------------------------------------------------------------------------------
// Batches

interface ModelBatch {
  x: { data: Float32Array; shape: number[]; mask: null };
  y: { data: Float32Array; shape: number[]; mask: null };
  tokens: number;
}

/** Pads the rows `index` into model input [B, T] (T >= 1: an all-empty batch gets one padding step). */
function makeBatch(seqs: readonly Int32Array[], labels: Int32Array | null, index: ArrayLike<number>): ModelBatch {
  const b = collate(seqs, labels, index);
  const T = Math.max(1, b.T);
  const data = new Float32Array(b.B * T);
  for (let r = 0; r < b.B; r++) for (let t = 0; t < b.T; t++) data[r * T + t] = b.ids[r * b.T + t]!;
  const y = new Float32Array(b.B);
  if (b.labels) for (let r = 0; r < b.B; r++) y[r] = b.labels[r]!;
  let tokens = 0;
  for (let r = 0; r < b.B; r++) tokens += b.lengths[r]!;
  return { x: { data, shape: [b.B, T], mask: null }, y: { data: y, shape: [b.B, 1], mask: null }, tokens };
}

/** P(label 1) for every sequence, in input order; rows are batched by length (little padding). */
export function predictIds(model: Sequential, seqs: readonly Int32Array[], batchSize = 64): Float32Array {
  const order = Array.from(seqs, (_, i) => i).sort((a, b) => seqs[a]!.length - seqs[b]!.length);
  const out = new Float32Array(seqs.length);
  for (let s = 0; s < order.length; s += batchSize) {
    const idx = order.slice(s, s + batchSize);
    const { x } = makeBatch(seqs, null, idx);
    const p = model.predict(x, { batchSize: idx.length }).data;
    idx.forEach((i, k) => { out[i] = p[k]!; });
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export interface SentimentMetrics {
  count: number;
  /** Mean binary cross-entropy (nats). */
  loss: number;
  accuracy: number;
  /** For class 1 (positive). */
  precision: number;
  recall: number;
  f1: number;
  /** [[TN, FP], [FN, TP]]: rows = true class 0/1, columns = predicted class 0/1. */
  confusionMatrix: [[number, number], [number, number]];
}

export function metricsFromProbs(probs: ArrayLike<number>, labels: ArrayLike<number>): SentimentMetrics {
  const counts = new BinaryCounts({ threshold: 0.5 });
  counts.update(probs, labels);
  let loss = 0;
  for (let i = 0; i < labels.length; i++) {
    const p = Math.min(Math.max(probs[i]!, 1e-7), 1 - 1e-7);
    loss -= labels[i] === 1 ? Math.log(p) : Math.log(1 - p);
  }
  const n = labels.length;
  return {
    count: n,
    loss: n ? loss / n : 0,
    accuracy: n ? (counts.tp + counts.tn) / n : 0,
    precision: counts.precision,
    recall: counts.recall,
    f1: counts.f1,
    confusionMatrix: [[counts.tn, counts.fp], [counts.fn, counts.tp]],
  };
}

/** Metrics over an encoded set, or over texts (encoded with the model's own pipeline). */
export function evaluateSentiment(model: Sequential, data: EncodedSet | LabelledTexts, batchSize = 64): SentimentMetrics {
  const set = 'ids' in data ? data : encodeSet(pipelineOf(model), data);
  return metricsFromProbs(predictIds(model, set.ids, batchSize), set.labels);
}

// ---------------------------------------------------------------------------------------------
// Prediction

export interface SentimentPrediction {
  text: string;
  /** Predicted class: 1 if P(class 1) > 0.5, else 0. */
  label: 0 | 1;
  /** Class name (from the training data: "0"/"1", "neg"/"pos", ...). */
  labelName: string;
  /** P(class 1), e.g. P(positive). */
  probability: number;
  /** Tokens the model read (after truncation) and how many of them were unknown. */
  tokens: number;
  unknown: number;
}

/** Label and probability for each text, tokenized exactly as the model's training data. */
export function predictSentiment(model: Sequential, texts: readonly string[], batchSize = 64): SentimentPrediction[] {
  const p = pipelineOf(model);
  const names = labelNamesOf(model);
  const ids = encodeTexts(p, texts);
  const probs = predictIds(model, ids, batchSize);
  return texts.map((text, i) => {
    const prob = probs[i]!;
    const label: 0 | 1 = prob > 0.5 ? 1 : 0;
    let unknown = 0;
    for (const id of ids[i]!) if (id === 1) unknown++;
    return { text, label, labelName: names[label]!, probability: prob, tokens: ids[i]!.length, unknown };
  });
}

/** The attention-pooling head of a model built with `attention`, or null. */
export function attentionOf(model: Sequential): AttentionPooling | null {
  return (model.layers.find((l) => l instanceof AttentionPooling) as AttentionPooling | undefined) ?? null;
}

export interface SentimentExplanation extends SentimentPrediction {
  /** The words the model read, in order, with the attention weight each got (summing to 1). */
  words: { token: string; weight: number }[];
}

/**
 * predictSentiment, plus where the attention head looked: each word the model read (after
 * truncation; unknown words as <unk>) with its weight. Each text runs alone (batch 1), so the
 * weights are exactly those of its prediction. Throws for a model without an attention head.
 */
export function explainSentiment(model: Sequential, texts: readonly string[]): SentimentExplanation[] {
  const head = attentionOf(model);
  if (!head) throw new Error('sentiment: this model has no attention head (train it with attention, e.g. --attention 32)');
  const p = pipelineOf(model);
  return texts.map((text) => {
    const pred = predictSentiment(model, [text], 1)[0]!;
    const seq = encodeTexts(p, [text])[0]!, w = head.lastWeights?.data;
    return { ...pred, words: Array.from(seq, (id, t) => ({ token: p.vocab.token(id), weight: w?.[t] ?? 0 })) };
  });
}

// ---------------------------------------------------------------------------------------------
// Training

export interface BatchProgress {
  epoch: number;
  /** Batches done in this epoch / batches per epoch. */
  batch: number;
  batches: number;
  /** Running means over this epoch. */
  loss: number;
  accuracy: number;
  /** Real (unpadded) tokens per second of training compute so far. */
  tokensPerSecond: number;
  step: number;
}

export interface EpochResult {
  epoch: number;
  loss: number;
  accuracy: number;
  val: SentimentMetrics | null;
  seconds: number;
  tokensPerSecond: number;
}

export interface TrainOptions {
  epochs: number;
  batchSize: number;
  /** Clip the global gradient norm (0 = no clipping). */
  clipNorm: number;
  /** Seed of the batch order. */
  seed: number;
  /** Length bucketing: batches per sorting chunk (default 50; 0 = no bucketing). */
  bucket?: number;
  /**
   * Weight of each class in the loss (fit's classWeight): `{ 0: w0, 1: w1 }`, or 'balanced'
   * (N / (C·n_c) over the training labels, C the classes present).
   */
  classWeight?: rnn.ClassWeight;
  val?: EncodedSet | null;
  onBatch?: (p: BatchProgress) => void;
  onEpochEnd?: (r: EpochResult) => void | Promise<void>;
  /** Checked after every batch; true ends training after the current batch. */
  shouldStop?: () => boolean;
}

export interface TrainSummary {
  epochs: EpochResult[];
  seconds: number;
  /** Real tokens per second of training compute (excluding validation). */
  tokensPerSecond: number;
  tokens: number;
  stopped: boolean;
}

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => (typeof setImmediate === 'function' ? setImmediate(resolve) : setTimeout(resolve, 0)));
}

/** Streams the sigmoid outputs of trainOnBatch into a running accuracy. */
class RunningAccuracy {
  readonly name = 'accuracy';
  correct = 0;
  total = 0;
  update(out: { data: Float32Array }, y: { data: Float32Array }): void {
    for (let i = 0; i < out.data.length; i++) {
      if ((out.data[i]! > 0.5) === (y.data[i]! > 0.5)) this.correct++;
      this.total++;
    }
  }
  result(): number { return this.total ? this.correct / this.total : 0; }
  reset(): void { this.correct = this.total = 0; }
}

/**
 * Trains with length-bucketed batches: every epoch shuffles, sorts chunks of `bucket` batches by
 * length, cuts batches and shuffles their order (planBatches); each batch is padded only to its
 * longest review and goes through model.trainOnBatch.
 */
/** N / (C·n_c) over 0/1 labels, C the classes present (fit's 'balanced'; an absent class: 1, never used). */
function balancedWeights(labels: Int32Array): Record<number, number> {
  const n1 = labels.reduce((a, y) => a + y, 0), n0 = labels.length - n1, C = (n0 > 0 ? 1 : 0) + (n1 > 0 ? 1 : 0);
  return { 0: n0 ? labels.length / (C * n0) : 1, 1: n1 ? labels.length / (C * n1) : 1 };
}

export async function trainSentiment(model: Sequential, train: EncodedSet, o: TrainOptions): Promise<TrainSummary> {
  checkInt(o.epochs, 'epochs', 0);
  checkInt(o.batchSize, 'batchSize', 1);
  if (train.ids.length !== train.labels.length) throw new RangeError(`sentiment: ${train.ids.length} sequences but ${train.labels.length} labels`);
  const order = rnn.rng(o.seed);
  const lengths = train.ids.map((s) => s.length);
  // ('balanced' from all the training labels, not each batch's.)
  const classWeight = o.classWeight === 'balanced' ? balancedWeights(train.labels) : o.classWeight;
  const clip = { ...(o.clipNorm > 0 ? { clipNorm: o.clipNorm } : {}), ...(classWeight ? { classWeight } : {}) };
  const acc = new RunningAccuracy();
  const results: EpochResult[] = [];
  const t0 = performance.now();
  let trainMs = 0, tokens = 0, stopped = false;
  for (let epoch = 0; epoch < o.epochs && !stopped; epoch++) {
    const te = performance.now();
    let epochMs = 0, epochTokens = 0;
    const plan = planBatches(lengths, { batchSize: o.batchSize, rng: order, bucket: o.bucket ?? 50 });
    acc.reset();
    let lossSum = 0, seen = 0;
    for (let bi = 0; bi < plan.length; bi++) {
      const b = makeBatch(train.ids, train.labels, plan[bi]!);
      const ts = performance.now();
      const { loss, gradNorm } = model.trainOnBatch(b.x, b.y, clip, [acc]);
      const dt = performance.now() - ts;
      if (!Number.isFinite(loss) || !Number.isFinite(gradNorm)) {
        throw new rnn.NonFiniteLossError(`sentiment: the ${Number.isFinite(loss) ? 'gradient norm' : 'loss'} became non-finite at epoch ${epoch + 1}, batch ${bi + 1}; lower the learning rate or clip the gradient norm`);
      }
      trainMs += dt; epochMs += dt; tokens += b.tokens; epochTokens += b.tokens;
      lossSum += loss * b.x.shape[0]!; seen += b.x.shape[0]!;
      o.onBatch?.({
        epoch, batch: bi + 1, batches: plan.length, loss: lossSum / seen, accuracy: acc.result(),
        tokensPerSecond: tokens / Math.max(trainMs / 1000, 1e-9), step: model.step,
      });
      if (o.shouldStop?.()) { stopped = true; break; }
      if (bi % 8 === 7) await yieldToEventLoop(); // let Ctrl-C, timers and I/O through
    }
    model.epochsDone = stopped ? model.epochsDone : epoch + 1;
    const val = o.val ? evaluateSentiment(model, o.val) : null;
    const r: EpochResult = {
      epoch, loss: lossSum / Math.max(seen, 1), accuracy: acc.result(), val,
      seconds: (performance.now() - te) / 1000, tokensPerSecond: epochTokens / Math.max(epochMs / 1000, 1e-9),
    };
    results.push(r);
    await o.onEpochEnd?.(r);
  }
  return { epochs: results, seconds: (performance.now() - t0) / 1000, tokensPerSecond: tokens / Math.max(trainMs / 1000, 1e-9), tokens, stopped };
}

/** Epoch logs in Keras style (loss, accuracy, val_*), for printing. */
export function epochLogs(r: EpochResult): Logs {
  const l: Logs = { loss: r.loss, accuracy: r.accuracy };
  if (r.val) { l.val_loss = r.val.loss; l.val_accuracy = r.val.accuracy; l.val_f1 = r.val.f1; }
  return l;
}
