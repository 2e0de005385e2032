// The comparative experiment (the tutorial's exercise 4): RNN vs LSTM vs GRU trained on the same
// data with the same optimiser (Adam), learning rate, batch size, gradient clipping and budget,
// at equal hidden size or at (nearly) equal parameter count, over several seeds; plus the
// gradient-flow measurements of gradflow.ts. The report is written by report.ts.
//
// Budget: with a time budget, the total is split evenly over every training run (task × cell ×
// seed × length, plus one run per cell without clipping for the gradient-flow comparison); the
// budget counts training compute only (evaluation and measurements are extra, not counted), so
// "validation loss vs time" compares cells at equal compute time. With --epochs every run trains
// that many epochs instead.
//
// Parameter matching: the embedding (identical for every cell) is left out; the recurrent layer
// and the output head are counted. For a cell with g gate blocks (RNN 1, GRU 3, LSTM 4), input
// width I, hidden H and an output head of U units:
//     P(H) = g·H·(I + H) + 2·g·H   (weights W_ih, W_hh and the two bias vectors)
//          + H·U + U                (the Dense head)
// The hidden size of every cell is the integer H whose P(H) is closest to the LSTM's P(hidden).
import { readFileSync } from 'node:fs';
import { evaluateNats, recurrentCharModel, DEFAULT_CHARRNN, prepareCorpus, StreamBatcher } from './charrnn.js';
import { buildSentimentModel, evaluateSentiment, prepare, splitTexts, type EncodedSet } from './sentiment.js';
import {
  ADDING_BASELINE_MSE, ADDING_SOLVED_MSE, COPY_SOLVED_ACCURACY, copyRecallAccuracy, makeAdding, makeCopy,
  type AddingData, type CopyData,
} from './tasks.js';
import { gradientFlow, jacobianSpectrum, modelProbe, type GradFlow, type Spectrum } from './gradflow.js';
import { collate, planBatches } from '../data/index.js';
import { readDataset } from '../data/node/readers.js';
import { Dense } from '../layers/core.js';
import { RecurrentLayer, type CellClass } from '../layers/rnn-layers.js';
import type { Dense as DenseData } from '../models/data-input.js';
import { Sequential } from '../models/sequential.js';
import { getOptimizer } from '../optim/optimizers.js';
import { rng, type Rng } from '../tensor/rng.js';
import { backendName } from '../kernels/index.js';
import { fmt } from './report.js';
import { fsReason } from '../data/node/fs-reason.js';

export type TaskName = 'charlm' | 'sentiment' | 'adding' | 'copy';
export const TASK_NAMES: readonly TaskName[] = ['charlm', 'sentiment', 'adding', 'copy'];
export type CellName = 'rnn' | 'lstm' | 'gru';
export const CELL_NAMES: readonly CellName[] = ['rnn', 'lstm', 'gru'];
const CELL_CLASS: Record<CellName, CellClass> = { rnn: 'SimpleRNN', lstm: 'LSTM', gru: 'GRU' };

// ---------------------------------------------------------------------------------------------
// Parameter counting and matching

export function gatesOf(cell: CellName): number {
  return cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
}

/** Parameters of a single-direction recurrent layer stack (two bias vectors per layer, as PyTorch). */
export function recurrentParams(cell: CellName, inputSize: number, hidden: number, layers = 1): number {
  const g = gatesOf(cell);
  let p = 0;
  for (let l = 0; l < layers; l++) p += g * hidden * ((l === 0 ? inputSize : hidden) + hidden) + 2 * g * hidden;
  return p;
}

/** Recurrent layer + Dense(U) head: the parameters that depend on the cell (embedding excluded). */
export function cellDependentParams(cell: CellName, inputSize: number, hidden: number, outputUnits: number): number {
  return recurrentParams(cell, inputSize, hidden) + hidden * outputUnits + outputUnits;
}

/** The integer hidden size whose cellDependentParams is closest to `target`. */
export function solveHidden(cell: CellName, target: number, inputSize: number, outputUnits: number): number {
  const g = gatesOf(cell);
  // g·H² + (g·(I+2) + U)·H + U - target = 0
  const a = g, b = g * (inputSize + 2) + outputUnits, c = outputUnits - target;
  const h = (-b + Math.sqrt(b * b - 4 * a * c)) / (2 * a);
  let best = Math.max(1, Math.floor(h)), bestErr = Infinity;
  for (const cand of [Math.floor(h) - 1, Math.floor(h), Math.ceil(h), Math.ceil(h) + 1]) {
    if (cand < 1) continue;
    const err = Math.abs(cellDependentParams(cell, inputSize, cand, outputUnits) - target);
    if (err < bestErr) { best = cand; bestErr = err; }
  }
  return best;
}

/** Hidden size per cell: all `hidden` (match 'hidden'), or matched to the LSTM at `hidden` (match 'params'). */
export function matchHidden(cells: readonly CellName[], match: 'params' | 'hidden', hidden: number, inputSize: number, outputUnits: number): Record<CellName, number> {
  const out = {} as Record<CellName, number>;
  const target = cellDependentParams('lstm', inputSize, hidden, outputUnits);
  for (const c of cells) out[c] = match === 'hidden' || c === 'lstm' ? hidden : solveHidden(c, target, inputSize, outputUnits);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Configuration and results

export interface CompareConfig {
  tasks: TaskName[];
  /** Text file (charlm) or labelled dataset (sentiment). */
  data?: string;
  cells: CellName[];
  match: 'params' | 'hidden';
  /** Hidden size (of the LSTM when matching parameters); default per task (charlm 128, others 64). */
  hidden?: number;
  seeds: number;
  /** Total training time over every run, or epochs per run. */
  budgetMs?: number;
  epochs?: number;
  /** Sequence lengths of the synthetic tasks (adding: T; copy: the delay). */
  lengths: number[];
  /** Global gradient-norm clipping (0 = off). */
  clip: number;
  lr: number;
  batch: number;
  /** Synthetic tasks: training / validation sequences per length. */
  trainSize: number;
  valSize: number;
  /** Length of the gradient-flow probe (synthetic: one of lengths; default the longest ≤ 100). */
  gradflowLength?: number;
  /** Probe sequences for the gradient norms. */
  gradflowExamples: number;
  /** Train one extra run per cell without clipping (at the gradient-flow length) to compare. */
  noClipRuns: boolean;
  copySymbols: number;
  copyAlphabet: number;
  /** charlm: BPTT length and embedding size; sentiment: embedding size and maximum tokens. */
  seq: number;
  embed: number;
  valChars: number;
  maxLen: number;
  /** Validation evaluations per run (time budget). */
  evalPoints: number;
  /** Rounds of the interleaved throughput benchmark (0 = skip). */
  speedRounds: number;
  dataSeed: number;
}

export const DEFAULT_COMPARE: CompareConfig = {
  tasks: ['adding'], cells: ['rnn', 'lstm', 'gru'], match: 'params', seeds: 3, lengths: [10, 25, 50, 100],
  clip: 1, lr: 2e-3, batch: 32, trainSize: 10000, valSize: 1000, gradflowExamples: 16, noClipRuns: true,
  copySymbols: 10, copyAlphabet: 8, seq: 64, embed: 64, valChars: 20000, maxLen: 200, evalPoints: 10, speedRounds: 5, dataSeed: 2024,
};

export interface CurvePoint {
  /** Training compute seconds so far. */
  time: number;
  /** Epochs so far (fractional). */
  epoch: number;
  step: number;
  loss: number;
  metric: number;
}

export interface RunResult {
  task: TaskName;
  cell: CellName;
  seed: number;
  length: number | null;
  hidden: number;
  params: number;
  clip: number;
  purpose: 'main' | 'noclip';
  steps: number;
  epochs: number;
  trainSeconds: number;
  evalSeconds: number;
  secondsPerEpoch: number;
  tokensPerSecond: number;
  /** Fraction of steps whose gradient norm exceeded the clip value (or would have, for no-clip runs at the main clip). */
  clippedFraction: number;
  maxGradNorm: number;
  curve: CurvePoint[];
  bestLoss: number;
  bestMetric: number;
  finalMetric: number;
  solved: boolean | null;
  error?: string;
}

export interface SpectrumPoint {
  fraction: number;
  step: number;
  time: number;
  spectrum: Spectrum;
}

export interface GradflowResult {
  length: number;
  examples: number;
  /** Gradient norm vs distance, per cell and state ('init', 'trained, clip x', 'trained, no clip'). */
  flows: { cell: CellName; state: string; flow: GradFlow }[];
  /** Jacobian spectra at checkpoints of training, per cell and clipping. */
  spectra: { cell: CellName; clip: number; points: SpectrumPoint[] }[];
  seconds: number;
}

export interface Claim {
  claim: string;
  measure: string;
  lstm: string;
  gru: string;
  verdict: 'confirmed' | 'not confirmed' | 'not tested';
  note: string;
}

export interface TaskMetricInfo {
  name: string;
  label: string;
  lowerIsBetter: boolean;
  lossLabel: string;
  threshold: number | null;
  baseline: number | null;
  solvedRule: string | null;
}

export interface TaskResult {
  task: TaskName;
  title: string;
  description: string;
  data: Record<string, string | number>;
  metric: TaskMetricInfo;
  /** Width of the recurrent layer's input and of the output head (for parameter counts). */
  inputSize: number;
  outputUnits: number;
  tokenUnit: string;
  lengths: (number | null)[];
  cells: { cell: CellName; hidden: number; params: number; cellParams: number; paramsAtReferenceHidden: number }[];
  referenceHidden: number;
  runs: RunResult[];
  gradflow: GradflowResult | null;
  /** Interleaved throughput benchmark (same hidden size and matched sizes). */
  speed: SpeedResult | null;
  claims: Claim[];
}

export interface SpeedEntry {
  cell: CellName;
  /** 'same': every cell at the reference hidden size; 'matched': the sizes used for training. */
  sizing: 'same' | 'matched';
  hidden: number;
  params: number;
  /** Median over rounds, and every round. */
  tokensPerSecond: number;
  rounds: number[];
}

export interface SpeedResult {
  length: number | null;
  stepsPerRound: number[];
  entries: SpeedEntry[];
  seconds: number;
}

export interface CompareResults {
  version: 1;
  createdAt: string;
  command: string;
  config: CompareConfig;
  budgetPerRunSeconds: number | null;
  environment: { backend: string; node: string; platform: string; cpus: number };
  tasks: TaskResult[];
  totalSeconds: number;
}

export interface CompareHooks {
  log?: (msg: string) => void;
  progress?: (done: number, total: number, fields: Record<string, string>) => void;
  shouldStop?: () => boolean;
}

// ---------------------------------------------------------------------------------------------
// Tasks

interface Instance {
  length: number | null;
  batchesPerEpoch: number;
  build(cell: CellName, hidden: number, seed: number): Sequential;
  trainBatch(model: Sequential, step: number, order: Rng, clip: number): { loss: number; gradNorm: number; tokens: number };
  evaluate(model: Sequential): { loss: number; metric: number };
  /** Probe batch for the gradient-flow measurements (loss on the last step). */
  probe(examples: number, length: number): { input: DenseData; targets: number[] } | null;
}

interface TaskSetup {
  name: TaskName;
  title: string;
  description: string;
  data: Record<string, string | number>;
  metric: TaskMetricInfo;
  tokenUnit: string;
  inputSize: number;
  outputUnits: number;
  lengths: (number | null)[];
  hidden: number;
  gradflowLength: number;
  instance(length: number | null): Instance;
  solved(metric: number): boolean | null;
}

function adamCompile(model: Sequential, lr: number, loss: string): Sequential {
  model.compile({ optimizer: getOptimizer('adam', { learningRate: lr }), loss });
  return model;
}

function clipArgs(clip: number): { clipNorm?: number } {
  return clip > 0 ? { clipNorm: clip } : {};
}

/** A shuffled-per-epoch row order over N examples, batches of `bs` rows (a partial last batch is dropped). */
function rowsOf(order: Int32Array, step: number, bpe: number, bs: number, r: Rng): Int32Array {
  if (step % bpe === 0) r.shuffle(order);
  const k = step % bpe;
  return order.subarray(k * bs, (k + 1) * bs);
}

function gather(src: Float32Array, rowSize: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * rowSize);
  for (let i = 0; i < rows.length; i++) out.set(src.subarray(rows[i]! * rowSize, (rows[i]! + 1) * rowSize), i * rowSize);
  return out;
}

function syntheticLengths(cfg: CompareConfig): number[] {
  const ls = [...new Set(cfg.lengths)].sort((a, b) => a - b);
  if (ls.length === 0) throw new RangeError('compare: --lengths needs at least one length');
  return ls;
}

function defaultGradflowLength(ls: number[], given: number | undefined, task: string): number {
  if (given !== undefined) {
    if (!ls.includes(given)) throw new RangeError(`compare: --gradflow-length ${given} must be one of the ${task} lengths (${ls.join(', ')})`);
    return given;
  }
  const under = ls.filter((l) => l <= 100);
  return under.length ? under[under.length - 1]! : ls[0]!;
}

function addingSetup(cfg: CompareConfig): TaskSetup {
  const lengths = syntheticLengths(cfg);
  const cache = new Map<number, { train: AddingData; val: AddingData }>();
  const setup: TaskSetup = {
    name: 'adding',
    title: 'Adding problem',
    description: `Two input channels: values uniform in [0, 1) and a marker channel with two 1s (one in each half of the sequence); ` +
      `the target, read from the last step, is the sum of the two marked values (MSE). Predicting the constant 1 gives MSE ${ADDING_BASELINE_MSE.toFixed(3)} (the baseline); ` +
      `a length counts as solved when the best validation MSE is below ${ADDING_SOLVED_MSE}.`,
    data: { 'training sequences per length': cfg.trainSize, 'validation sequences per length': cfg.valSize, 'data seed': cfg.dataSeed },
    metric: {
      name: 'mse', label: 'validation MSE', lowerIsBetter: true, lossLabel: 'validation MSE',
      threshold: ADDING_SOLVED_MSE, baseline: ADDING_BASELINE_MSE, solvedRule: `best validation MSE < ${ADDING_SOLVED_MSE}`,
    },
    tokenUnit: 'steps/s',
    inputSize: 2, outputUnits: 1, lengths, hidden: cfg.hidden ?? 64,
    gradflowLength: defaultGradflowLength(lengths, cfg.gradflowLength, 'adding'),
    solved: (m) => m < ADDING_SOLVED_MSE,
    instance(length) {
      const T = length!;
      let d = cache.get(T);
      if (!d) {
        d = { train: makeAdding(cfg.trainSize, T, cfg.dataSeed + T), val: makeAdding(cfg.valSize, T, cfg.dataSeed + 100_000 + T) };
        cache.clear();
        cache.set(T, d);
      }
      const { train, val } = d;
      const bs = Math.min(cfg.batch, train.n), bpe = Math.floor(train.n / bs);
      const order = Int32Array.from({ length: train.n }, (_, i) => i);
      const xVal = { data: val.x, shape: [val.n, T, 2], mask: null }, yVal = { data: val.y, shape: [val.n, 1], mask: null };
      return {
        length: T, batchesPerEpoch: bpe,
        build(cell, hidden, seed) {
          const m = new Sequential({ name: `adding_${cell}`, inputShape: [null, 2] });
          m.add(new RecurrentLayer(CELL_CLASS[cell], { units: hidden, seed: seed * 1000 + 11 }));
          m.add(new Dense({ units: 1, seed: seed * 1000 + 12 }));
          m.build([null, 2]);
          return adamCompile(m, cfg.lr, 'meanSquaredError');
        },
        trainBatch(model, step, r, clip) {
          const rows = rowsOf(order, step, bpe, bs, r);
          const x = { data: gather(train.x, T * 2, rows), shape: [rows.length, T, 2], mask: null };
          const y = { data: gather(train.y, 1, rows), shape: [rows.length, 1], mask: null };
          const res = model.trainOnBatch(x, y, clipArgs(clip));
          return { ...res, tokens: rows.length * T };
        },
        evaluate(model) {
          const l = model.evaluate(xVal, yVal, { batchSize: 250 }).loss!;
          return { loss: l, metric: l };
        },
        probe(examples, len) {
          const E = Math.min(examples, val.n);
          const data = val.x.subarray(0, E * len * 2);
          return { input: { data: Float32Array.from(data), shape: [E, len, 2], mask: null }, targets: Array.from(val.y.subarray(0, E)) };
        },
      };
    },
  };
  return setup;
}

function copySetup(cfg: CompareConfig): TaskSetup {
  const lengths = syntheticLengths(cfg);
  const o = { symbols: cfg.copySymbols, alphabet: cfg.copyAlphabet };
  const W = cfg.copyAlphabet + 2, C = cfg.copyAlphabet + 1;
  const cache = new Map<number, { train: CopyData; val: CopyData }>();
  return {
    name: 'copy',
    title: 'Copy-memory task',
    description: `${cfg.copySymbols} symbols from an alphabet of ${cfg.copyAlphabet}, then a delay of T blanks (the last one is the delimiter), then ${cfg.copySymbols} blanks ` +
      `during which the symbols must be repeated (cross-entropy at every step; accuracy on the recalled symbols, chance ${(1 / cfg.copyAlphabet).toFixed(3)}). ` +
      `A length counts as solved when the best recall accuracy is at least ${COPY_SOLVED_ACCURACY}.`,
    data: { 'training sequences per length': cfg.trainSize, 'validation sequences per length': cfg.valSize, symbols: cfg.copySymbols, alphabet: cfg.copyAlphabet, 'data seed': cfg.dataSeed },
    metric: {
      name: 'accuracy', label: 'recall accuracy', lowerIsBetter: false, lossLabel: 'validation cross-entropy (nats/step)',
      threshold: COPY_SOLVED_ACCURACY, baseline: 1 / cfg.copyAlphabet, solvedRule: `best recall accuracy ≥ ${COPY_SOLVED_ACCURACY}`,
    },
    tokenUnit: 'steps/s',
    inputSize: W, outputUnits: C, lengths, hidden: cfg.hidden ?? 64,
    gradflowLength: defaultGradflowLength(lengths, cfg.gradflowLength, 'copy'),
    solved: (m) => m >= COPY_SOLVED_ACCURACY,
    instance(length) {
      const delay = length!;
      let d = cache.get(delay);
      if (!d) {
        d = { train: makeCopy(cfg.trainSize, delay, cfg.dataSeed + delay, o), val: makeCopy(cfg.valSize, delay, cfg.dataSeed + 100_000 + delay, o) };
        cache.clear();
        cache.set(delay, d);
      }
      const { train, val } = d;
      const L = train.L;
      const bs = Math.min(cfg.batch, train.n), bpe = Math.floor(train.n / bs);
      const order = Int32Array.from({ length: train.n }, (_, i) => i);
      return {
        length: delay, batchesPerEpoch: bpe,
        build(cell, hidden, seed) {
          const m = new Sequential({ name: `copy_${cell}`, inputShape: [null, W] });
          m.add(new RecurrentLayer(CELL_CLASS[cell], { units: hidden, returnSequences: true, seed: seed * 1000 + 11 }));
          m.add(new Dense({ units: C, activation: 'softmax', seed: seed * 1000 + 12 }));
          m.build([null, W]);
          return adamCompile(m, cfg.lr, 'sparseCategoricalCrossentropy');
        },
        trainBatch(model, step, r, clip) {
          const rows = rowsOf(order, step, bpe, bs, r);
          const x = { data: gather(train.x, L * W, rows), shape: [rows.length, L, W], mask: null };
          const y = { data: gather(train.y, L, rows), shape: [rows.length, L], mask: null };
          const res = model.trainOnBatch(x, y, clipArgs(clip));
          return { ...res, tokens: rows.length * L };
        },
        evaluate(model) {
          const probs = model.predict({ data: val.x, shape: [val.n, L, W] }, { batchSize: 250 }).data;
          let nll = 0;
          for (let i = 0; i < val.n * L; i++) nll -= Math.log(Math.max(probs[i * C + val.y[i]!]!, 1e-12));
          return { loss: nll / (val.n * L), metric: copyRecallAccuracy(probs, val) };
        },
        probe(examples, len) {
          // The loss on the last recalled symbol only: distance 0 = the last step.
          const E = Math.min(examples, val.n);
          const Lp = len + 2 * cfg.copySymbols;
          return {
            input: { data: Float32Array.from(val.x.subarray(0, E * Lp * W)), shape: [E, Lp, W], mask: null },
            targets: Array.from({ length: E }, (_, i) => val.y[i * Lp + Lp - 1]!),
          };
        },
      };
    },
  };
}

function charlmSetup(cfg: CompareConfig): TaskSetup {
  if (!cfg.data) throw new RangeError('compare: --task charlm needs --data <text file>');
  let text: string;
  try { text = readFileSync(cfg.data, 'utf8'); } catch (e) { throw new RangeError(`compare: cannot read ${cfg.data}: ${fsReason(e)}`); }
  const corpus = prepareCorpus(text, 0.1);
  const V = corpus.vocab.size;
  const valIds = corpus.val.subarray(0, Math.min(corpus.val.length, cfg.valChars + 1));
  const batcher = new StreamBatcher(corpus.train, cfg.batch, cfg.seq);
  const gl = cfg.gradflowLength ?? 100;
  const name = cfg.data.split(/[\\/]/).slice(-2).join('/');
  return {
    name: 'charlm',
    title: `Character language model (${name})`,
    description: `Embedding(${cfg.embed}) → one recurrent layer → Dense(${V}, softmax), truncated BPTT over ${cfg.batch} parallel streams of ${cfg.seq} characters ` +
      `(state carried between batches). Metric: validation cross-entropy in nats per character on the first ${valIds.length - 1} characters of the held-out last 10% (lower is better; bits = nats / ln 2).`,
    data: { file: cfg.data, 'training characters': corpus.train.length, 'validation characters (held out / used)': `${corpus.val.length.toLocaleString('en-US')} / ${(valIds.length - 1).toLocaleString('en-US')}`, vocabulary: V },
    metric: { name: 'nats', label: 'validation nats/char', lowerIsBetter: true, lossLabel: 'validation nats/char', threshold: null, baseline: Math.log(V), solvedRule: null },
    tokenUnit: 'chars/s',
    inputSize: cfg.embed, outputUnits: V, lengths: [null], hidden: cfg.hidden ?? 128, gradflowLength: gl,
    solved: () => null,
    instance() {
      const bpe = batcher.batchesPerEpoch;
      return {
        length: null, batchesPerEpoch: bpe,
        build(cell, hidden, seed) {
          return recurrentCharModel(V, { ...DEFAULT_CHARRNN, cell, hidden, layers: 1, embed: cfg.embed, seq: cfg.seq, batch: cfg.batch, dropout: 0, lr: cfg.lr, clip: cfg.clip, seed });
        },
        trainBatch(model, step, _r, clip) {
          if (step % bpe === 0) model.resetStates();
          const { x, y } = batcher.batch(step % bpe);
          const res = model.trainOnBatch(x, y, clipArgs(clip));
          return { ...res, tokens: cfg.batch * cfg.seq };
        },
        evaluate(model) {
          const n = evaluateNats(model, valIds, cfg.batch, cfg.seq);
          return { loss: n, metric: n };
        },
        probe(examples, len) {
          const E = examples, span = len + 1;
          if (corpus.val.length < span) return null;
          const stride = Math.max(1, Math.floor((corpus.val.length - span) / E));
          const data = new Float32Array(E * len), targets: number[] = [];
          for (let e = 0; e < E; e++) {
            const s = Math.min(e * stride, corpus.val.length - span);
            for (let t = 0; t < len; t++) data[e * len + t] = corpus.val[s + t]!;
            targets.push(corpus.val[s + len]!);
          }
          return { input: { data, shape: [E, len], mask: null }, targets };
        },
      };
    },
  };
}

function sentimentSetup(cfg: CompareConfig): TaskSetup {
  if (!cfg.data) throw new RangeError('compare: --task sentiment needs --data <dataset> (aclImdb folder, .jsonl, .csv/.tsv, or "a.pos,a.neg")');
  const ds = readDataset(cfg.data);
  if (ds.labelNames.length !== 2) throw new RangeError(`compare: sentiment needs 2 classes, ${cfg.data} has ${ds.labelNames.length} (${ds.labelNames.join(', ')})`);
  const split = splitTexts(ds, 0.1, cfg.dataSeed);
  const prep = prepare(split.train, { maxLen: cfg.maxLen }, split.val);
  const train = prep.train, val = prep.val as EncodedSet;
  const V = prep.pipeline.vocab.size;
  const lengths = train.ids.map((s) => s.length);
  return {
    name: 'sentiment',
    title: `Sentiment classification (${cfg.data.split(/[\\/]/).slice(-2).join('/')})`,
    description: `Embedding(${cfg.embed}, masked) → one unidirectional recurrent layer → Dense(1, sigmoid), binary cross-entropy, length-bucketed batches, ` +
      `texts cut to their last ${cfg.maxLen} tokens. Metric: validation accuracy on a stratified 10% split (higher is better).`,
    data: { source: cfg.data, 'training texts': train.ids.length, 'validation texts': val.ids.length, vocabulary: V, 'mean tokens per text': +(lengths.reduce((a, b) => a + b, 0) / lengths.length).toFixed(1) },
    metric: { name: 'accuracy', label: 'validation accuracy', lowerIsBetter: false, lossLabel: 'validation cross-entropy (nats)', threshold: null, baseline: 0.5, solvedRule: null },
    tokenUnit: 'tokens/s',
    inputSize: cfg.embed, outputUnits: 1, lengths: [null], hidden: cfg.hidden ?? 64, gradflowLength: cfg.gradflowLength ?? 50,
    solved: () => null,
    instance() {
      let plan: Int32Array[] = [];
      const bs = cfg.batch;
      const bpe = Math.ceil(train.ids.length / bs);
      return {
        length: null, batchesPerEpoch: bpe,
        build(cell, hidden, seed) {
          return buildSentimentModel({ vocabSize: V, cell, bidirectional: false, embed: cfg.embed, units: hidden, dropout: 0, outputDropout: 0, lr: cfg.lr, seed });
        },
        trainBatch(model, step, r, clip) {
          if (step % bpe === 0 || plan.length === 0) plan = planBatches(lengths, { batchSize: bs, rng: r, bucket: 50 });
          const b = collate(train.ids, train.labels, plan[step % bpe] ?? plan[0]!);
          const T = Math.max(1, b.T);
          const x = new Float32Array(b.B * T);
          for (let i = 0; i < b.B; i++) for (let t = 0; t < b.T; t++) x[i * T + t] = b.ids[i * b.T + t]!;
          const y = Float32Array.from(b.labels!);
          const res = model.trainOnBatch({ data: x, shape: [b.B, T], mask: null }, { data: y, shape: [b.B, 1], mask: null }, clipArgs(clip));
          return { ...res, tokens: b.lengths.reduce((a, v) => a + v, 0) };
        },
        evaluate(model) {
          const m = evaluateSentiment(model, val);
          return { loss: m.loss, metric: m.accuracy };
        },
        probe(examples, len) {
          // The longest validation texts, cut to their last `len` tokens (no padding).
          const order = val.ids.map((s, i) => [s.length, i] as const).sort((a, b) => b[0] - a[0]).slice(0, examples);
          if (order.length === 0) return null;
          const Lp = Math.min(len, order[order.length - 1]![0]);
          if (Lp < 2) return null;
          const data = new Float32Array(order.length * Lp);
          order.forEach(([, i], e) => { const s = val.ids[i]!; data.set(s.subarray(s.length - Lp), e * Lp); });
          return { input: { data, shape: [order.length, Lp], mask: null }, targets: order.map(([, i]) => val.labels[i]!) };
        },
      };
    },
  };
}

function setupTask(name: TaskName, cfg: CompareConfig): TaskSetup {
  switch (name) {
    case 'adding': return addingSetup(cfg);
    case 'copy': return copySetup(cfg);
    case 'charlm': return charlmSetup(cfg);
    case 'sentiment': return sentimentSetup(cfg);
    default: throw new RangeError(`compare: unknown task '${String(name)}'; tasks: ${TASK_NAMES.join(', ')}`);
  }
}

// ---------------------------------------------------------------------------------------------
// One training run

interface Snapshot { fraction: number; step: number; time: number; params: Float32Array }

function yieldToEventLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function trainRun(
  setup: TaskSetup, inst: Instance, cell: CellName, hidden: number, seed: number, clip: number, purpose: 'main' | 'noclip',
  budget: { timeMs?: number; epochs?: number }, evalPoints: number, snapshotAt: number[] | null, clipReference: number,
  onTick: (fraction: number, fields: Record<string, string>) => void, shouldStop: () => boolean,
): Promise<{ result: RunResult; snapshots: Snapshot[] }> {
  const model = inst.build(cell, hidden, seed);
  const order = rng(7919 * seed + 17);
  const bpe = inst.batchesPerEpoch;
  const totalSteps = budget.epochs !== undefined ? budget.epochs * bpe : Infinity;
  const fractionOf = (trainMs: number, step: number) => (budget.timeMs !== undefined ? trainMs / budget.timeMs : step / totalSteps);
  const curve: CurvePoint[] = [];
  const snapshots: Snapshot[] = [];
  let trainMs = 0, evalMs = 0, step = 0, tokens = 0, clipped = 0, maxNorm = 0;
  let error: string | undefined;
  const evaluate = () => {
    const t = performance.now();
    const r = inst.evaluate(model);
    evalMs += performance.now() - t;
    curve.push({ time: trainMs / 1000, epoch: step / bpe, step, loss: r.loss, metric: r.metric });
  };
  const snap = (fraction: number) => snapshots.push({ fraction, step, time: trainMs / 1000, params: model.params.slice() });
  const pendingSnaps = snapshotAt ? [...snapshotAt].sort((a, b) => a - b) : [];
  if (pendingSnaps[0] === 0) { snap(0); pendingSnaps.shift(); }
  evaluate();
  // Time budget: evalPoints evenly spaced evaluations. Epochs: at every epoch end, or at
  // evalPoints evenly spaced points when there are fewer epochs than that.
  const evalEvery = budget.epochs === undefined || budget.epochs < evalPoints ? 1 / evalPoints : Math.ceil(budget.epochs / evalPoints) / budget.epochs;
  let nextEval = evalEvery;
  const cellLabel = `${cell}${inst.length !== null ? ` T=${inst.length}` : ''} seed ${seed}${purpose === 'noclip' ? ' (no clip)' : ''}`;
  while (true) {
    const f = fractionOf(trainMs, step);
    if (f >= 1 || shouldStop()) break;
    const t0 = performance.now();
    const r = inst.trainBatch(model, step, order, clip);
    trainMs += performance.now() - t0;
    step++;
    tokens += r.tokens;
    if (!Number.isFinite(r.loss) || !Number.isFinite(r.gradNorm)) {
      error = `the ${Number.isFinite(r.loss) ? 'gradient norm' : 'loss'} became non-finite at step ${step}`;
      break;
    }
    maxNorm = Math.max(maxNorm, r.gradNorm);
    if (clipReference > 0 && r.gradNorm > clipReference) clipped++;
    const f2 = fractionOf(trainMs, step);
    while (pendingSnaps.length && f2 >= pendingSnaps[0]! && pendingSnaps[0]! < 1) snap(pendingSnaps.shift()!);
    if (f2 >= nextEval - 1e-9 && f2 < 1) {
      evaluate();
      while (nextEval <= f2 + 1e-9) nextEval += evalEvery;
    }
    if (step % 4 === 0) {
      onTick(Math.min(1, f2), { run: cellLabel, loss: r.loss.toPrecision(3) });
      await yieldToEventLoop();
    }
  }
  if (!error) evaluate();
  if (pendingSnaps.length && !error) snap(1);
  const better = (a: number, b: number) => (setup.metric.lowerIsBetter ? a < b : a > b);
  let bestMetric = NaN, bestLoss = NaN;
  for (const p of curve) {
    if (Number.isFinite(p.metric) && (Number.isNaN(bestMetric) || better(p.metric, bestMetric))) bestMetric = p.metric;
    if (Number.isFinite(p.loss) && (Number.isNaN(bestLoss) || p.loss < bestLoss)) bestLoss = p.loss;
  }
  const epochs = step / bpe;
  const result: RunResult = {
    task: setup.name, cell, seed, length: inst.length, hidden, params: model.countParams(), clip, purpose,
    steps: step, epochs, trainSeconds: trainMs / 1000, evalSeconds: evalMs / 1000,
    secondsPerEpoch: epochs > 0 ? trainMs / 1000 / epochs : NaN, tokensPerSecond: tokens / Math.max(trainMs / 1000, 1e-9),
    clippedFraction: step ? clipped / step : 0, maxGradNorm: maxNorm, curve, bestLoss, bestMetric,
    finalMetric: curve.length ? curve[curve.length - 1]!.metric : NaN,
    solved: Number.isFinite(bestMetric) ? setup.solved(bestMetric) : setup.solved(NaN) === null ? null : false,
  };
  if (error) result.error = error;
  return { result, snapshots };
}

// ---------------------------------------------------------------------------------------------
// Gradient flow for one task

function measureGradflow(
  setup: TaskSetup, inst: Instance, hidden: Record<CellName, number>, cfg: CompareConfig,
  runs: { cell: CellName; clip: number; snapshots: Snapshot[] }[],
): GradflowResult | null {
  const t0 = performance.now();
  const L = setup.gradflowLength;
  const probe = inst.probe(cfg.gradflowExamples, L);
  if (!probe) return null;
  const T = probe.input.shape[1]!;
  const flows: GradflowResult['flows'] = [];
  const spectra: GradflowResult['spectra'] = [];
  for (const cell of cfg.cells) {
    const model = inst.build(cell, hidden[cell], 1);
    const mine = runs.filter((r) => r.cell === cell);
    const mainRun = mine.find((r) => r.clip === cfg.clip);
    for (const run of mine) {
      const points: SpectrumPoint[] = [];
      for (const s of run.snapshots) {
        if (run !== mainRun && s.fraction === 0) continue; // same seed, same initial weights
        model.params.set(s.params);
        const p = modelProbe(model, probe.input);
        const label = s.fraction === 0 ? 'init' : s.fraction === 1 ? `trained, ${run.clip > 0 ? `clip ${run.clip}` : 'no clip'}` : null;
        if (label) flows.push({ cell, state: label, flow: gradientFlow(p.core, p.x, p.T, p.B, p.head, probe.targets) });
        const steps = [Math.round(T / 3), Math.round((2 * T) / 3)].map((t) => Math.min(T - 1, Math.max(1, t)));
        points.push({ fraction: s.fraction, step: s.step, time: s.time, spectrum: jacobianSpectrum(p.core, p.x, p.T, p.B, { steps, examples: 2 }) });
      }
      if (run !== mainRun) {
        const init = spectra.find((x) => x.cell === cell && x.clip === cfg.clip)?.points.find((q) => q.fraction === 0);
        if (init) points.unshift(init);
      }
      spectra.push({ cell, clip: run.clip, points });
    }
  }
  return { length: T, examples: probe.input.shape[0]!, flows, spectra, seconds: (performance.now() - t0) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// Throughput, measured fairly: every (cell, size) runs the same training steps in interleaved
// rounds (cell A, B, C, then B, C, A, ...), so slow drifts of the machine's load hit every cell
// alike; the median round is reported.

async function speedBench(inst: Instance, cfg: CompareConfig, sizes: { sizing: 'same' | 'matched'; hidden: Record<CellName, number> }[], rounds = 3, secondsPerRound = 0.6): Promise<SpeedResult> {
  const t0 = performance.now();
  const configs: { cell: CellName; sizing: 'same' | 'matched'; hidden: number; model: Sequential; steps: number; rounds: number[]; tokens: number }[] = [];
  for (const { sizing, hidden } of sizes) {
    for (const cell of cfg.cells) {
      if (configs.some((c) => c.cell === cell && c.hidden === hidden[cell])) continue;
      configs.push({ cell, sizing, hidden: hidden[cell], model: inst.build(cell, hidden[cell], 99), steps: 1, rounds: [], tokens: 0 });
    }
  }
  const order = rng(99);
  for (const c of configs) {
    // Warm up (JIT, allocation) and size the round from one timed step.
    inst.trainBatch(c.model, 0, order, cfg.clip);
    const t = performance.now();
    inst.trainBatch(c.model, 1, order, cfg.clip);
    c.steps = Math.max(2, Math.min(200, Math.round((secondsPerRound * 1000) / Math.max(performance.now() - t, 0.01))));
  }
  let step = 2;
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < configs.length; k++) {
      const c = configs[(k + r) % configs.length]!;
      let tokens = 0;
      const t = performance.now();
      for (let i = 0; i < c.steps; i++) tokens += inst.trainBatch(c.model, step + i, order, cfg.clip).tokens;
      c.rounds.push(tokens / ((performance.now() - t) / 1000));
      await yieldToEventLoop();
    }
    step += 1000;
  }
  const median = (v: number[]) => { const s = [...v].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]!; };
  const entries: SpeedEntry[] = [];
  for (const { sizing, hidden } of sizes) {
    for (const cell of cfg.cells) {
      const c = configs.find((q) => q.cell === cell && q.hidden === hidden[cell])!;
      entries.push({ cell, sizing, hidden: c.hidden, params: c.model.countParams(), tokensPerSecond: median(c.rounds), rounds: c.rounds });
    }
  }
  return { length: inst.length, stepsPerRound: configs.map((c) => c.steps), entries, seconds: (performance.now() - t0) / 1000 };
}

// ---------------------------------------------------------------------------------------------
// The tutorial's GRU-vs-LSTM claims, checked against the measurements

function claimsFor(t: Omit<TaskResult, 'claims'>): Claim[] {
  const has = (c: CellName) => t.cells.some((x) => x.cell === c);
  if (!has('lstm') || !has('gru')) {
    return [{ claim: 'GRU vs LSTM', measure: '-', lstm: '-', gru: '-', verdict: 'not tested', note: 'needs both lstm and gru in --cells' }];
  }
  const m = t.metric;
  const main = t.runs.filter((r) => r.purpose === 'main' && !r.error);
  const of = (c: CellName, len?: number | null) => main.filter((r) => r.cell === c && (len === undefined || r.length === len));
  const meanOf = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : NaN);
  const sdOf = (v: number[]) => { if (v.length < 2) return 0; const mu = meanOf(v); return Math.sqrt(v.reduce((a, b) => a + (b - mu) ** 2, 0) / (v.length - 1)); };
  const ms = (v: number[]) => (v.length ? `${fmt(meanOf(v), 4)}${v.length > 1 ? ` ± ${fmt(sdOf(v), 2)}` : ''}` : 'n/a');
  const better = (a: number, b: number) => (m.lowerIsBetter ? a < b : a > b);
  const claims: Claim[] = [];
  const ref = t.referenceHidden;
  const pl = cellDependentParams('lstm', t.inputSize, ref, t.outputUnits), pg = cellDependentParams('gru', t.inputSize, ref, t.outputUnits);
  const hl = t.cells.find((c) => c.cell === 'lstm')!, hg = t.cells.find((c) => c.cell === 'gru')!;
  claims.push({
    claim: 'GRU has fewer parameters than LSTM',
    measure: `parameters at the same hidden size H=${ref} (recurrent layer + head)`,
    lstm: pl.toLocaleString('en-US'), gru: pg.toLocaleString('en-US'),
    verdict: pg < pl ? 'confirmed' : 'not confirmed',
    note: `GRU has ${(100 * pg / pl).toFixed(0)}% of the LSTM's parameters (3 gate blocks instead of 4).` +
      (hl.hidden !== hg.hidden ? ` In this run the counts were matched instead: LSTM H=${hl.hidden} (${hl.cellParams.toLocaleString('en-US')}), GRU H=${hg.hidden} (${hg.cellParams.toLocaleString('en-US')}).` : ''),
  });
  // Speed: the interleaved benchmark, paired round by round.
  const sp = t.speed;
  const speedOf = (c: CellName, sizing: 'same' | 'matched') => sp?.entries.find((e) => e.cell === c && e.sizing === sizing);
  for (const sizing of ['same', 'matched'] as const) {
    const el = speedOf('lstm', sizing), eg = speedOf('gru', sizing);
    if (!el || !eg || (sizing === 'matched' && t.cells.every((c) => c.hidden === ref))) continue;
    const pairs = el.rounds.map((v, i) => (eg.rounds[i] ?? NaN) / v).filter(Number.isFinite);
    const sorted = [...pairs].sort((a, b) => a - b);
    const ratio = sorted[Math.floor(sorted.length / 2)] ?? NaN;
    const wins = pairs.filter((r) => r > 1).length;
    const range = (e: SpeedEntry) => `${Math.round(e.tokensPerSecond)} (${Math.round(Math.min(...e.rounds))}–${Math.round(Math.max(...e.rounds))})`;
    claims.push({
      claim: `GRU trains faster per step${sizing === 'same' ? ' (same hidden size)' : ' (matched parameters)'}`,
      measure: `training ${t.tokenUnit}, median (range) of ${el.rounds.length} interleaved rounds; H ${el.hidden} (LSTM) vs ${eg.hidden} (GRU)${sp!.length !== null ? `, T=${sp!.length}` : ''}`,
      lstm: range(el), gru: range(eg),
      verdict: ratio >= 1.05 && wins === pairs.length ? 'confirmed' : 'not confirmed',
      note: `GRU/LSTM throughput ratio ${ratio.toFixed(2)} (median of the per-round ratios); GRU faster in ${wins} of ${pairs.length} rounds.` +
        (sizing === 'same' ? ' The GRU does 3 gate blocks of work per step instead of 4.' : ' At matched parameters both do about the same multiply-adds per step (the GRU is wider).') +
        ' Confirmed = at least 5% faster and faster in every round.',
    });
  }
  if (!sp) {
    const tl = of('lstm').map((r) => r.tokensPerSecond), tg = of('gru').map((r) => r.tokensPerSecond);
    const ratio = meanOf(tg) / meanOf(tl);
    claims.push({
      claim: 'GRU trains faster per step', measure: `training ${t.tokenUnit} of the training runs (mean ± std)`, lstm: ms(tl), gru: ms(tg),
      verdict: ratio >= 1.05 ? 'confirmed' : 'not confirmed', note: `GRU/LSTM throughput ratio ${ratio.toFixed(2)} (runs at different times: load noise included).`,
    });
  }
  // "Learned something": at least a quarter of the way from the baseline to perfect.
  const learnt = (v: number) => {
    if (m.baseline === null || !Number.isFinite(v)) return true;
    return m.lowerIsBetter ? v <= 0.75 * m.baseline : v >= m.baseline + 0.25 * (1 - m.baseline);
  };
  for (const len of t.lengths) {
    const at = len === null ? '' : ` at T=${len}`;
    const bl = of('lstm', len).map((r) => r.bestMetric).filter(Number.isFinite);
    const bg = of('gru', len).map((r) => r.bestMetric).filter(Number.isFinite);
    if (!bl.length || !bg.length) continue;
    const neither = !learnt(meanOf(bl)) && !learnt(meanOf(bg));
    const neitherNote = `Neither cell learned the task${at} within the budget (both means within 25% of the baseline ${fmt(m.baseline ?? NaN)}), so this length cannot separate them.`;
    // Time to a target quality: the "solved" threshold when the task has one, else the worse of
    // the two cells' mean best values (a level both reach on average).
    const target = m.threshold ?? (m.lowerIsBetter ? Math.max(meanOf(bl), meanOf(bg)) : Math.min(meanOf(bl), meanOf(bg)));
    const reach = (c: CellName) => of(c, len).map((r) => r.curve.find((q) => (m.lowerIsBetter ? q.metric <= target : q.metric >= target))?.time ?? Infinity);
    const rl = reach('lstm'), rg = reach('gru');
    const fin = (v: number[]) => v.filter(Number.isFinite);
    const describe = (v: number[]) => `${fin(v).length ? `${ms(fin(v))} s` : 'never'} (${fin(v).length}/${v.length} seeds)`;
    const medianOf = (v: number[]) => { const s2 = [...v].sort((a, b) => a - b); return s2.length ? s2[Math.floor((s2.length - 1) / 2)]! : Infinity; };
    const ml = medianOf(rl), mg = medianOf(rg);
    const evals = Math.max(0, (of('lstm', len)[0]?.curve.length ?? 1) - 1);
    claims.push({
      claim: `GRU trains faster (to a given quality)${at}`,
      measure: `training seconds until the ${m.label} first reaches ${fmt(target)} (${m.threshold !== null ? 'the "solved" threshold' : 'the worse of the two cells\' mean best'})`,
      lstm: describe(rl), gru: describe(rg),
      verdict: Number.isFinite(mg) && mg < ml ? 'confirmed' : 'not confirmed',
      note: !Number.isFinite(ml) && !Number.isFinite(mg)
        ? `Neither cell reached ${fmt(target)}${at} in the median run.`
        : `Median ${fmtS(mg)} (GRU) vs ${fmtS(ml)} (LSTM); validation is evaluated ${evals} times per run, so these times are quantised to the evaluation interval.`,
    });
    const diff = meanOf(bg) - meanOf(bl);
    const gruBetter = m.lowerIsBetter ? diff < 0 : diff > 0;
    const noise = Math.abs(diff) <= Math.max(sdOf(bl), sdOf(bg));
    const size = t.task === 'charlm' ? `${Number(t.data['training characters']).toLocaleString('en-US')} training characters`
      : t.task === 'sentiment' ? `${Number(t.data['training texts']).toLocaleString('en-US')} training texts` : `${Number(t.data['training sequences per length']).toLocaleString('en-US')} training sequences`;
    // The same comparison at an equal number of epochs (the fewer of the two cells' runs reached):
    // separates "learns more per example" from "runs more steps in the same time".
    const eStar = Math.min(...[...of('lstm', len), ...of('gru', len)].map((r) => r.epochs));
    const bestBy = (c: CellName) => of(c, len).map((r) => {
      const pts = r.curve.filter((p) => p.epoch <= eStar * (1 + 1e-9) && Number.isFinite(p.metric)).map((p) => p.metric);
      return pts.length ? pts.reduce((a, b) => (better(b, a) ? b : a)) : NaN;
    }).filter(Number.isFinite);
    const el = bestBy('lstm'), eg = bestBy('gru');
    const epochNote = el.length && eg.length && eStar > 0
      ? ` At an equal ${fmt(eStar)} epochs: LSTM ${ms(el)}, GRU ${ms(eg)} (${better(meanOf(eg), meanOf(el)) ? 'GRU' : 'LSTM'} better).`
      : '';
    claims.push({
      claim: `GRU is better on small data${at}`,
      measure: `best ${m.label} within the time budget (mean ± std over seeds; ${size})`,
      lstm: ms(bl), gru: ms(bg),
      verdict: gruBetter && !noise && !neither ? 'confirmed' : 'not confirmed',
      note: (neither ? neitherNote : gruBetter ? (noise ? 'GRU slightly better, but within seed-to-seed noise.' : 'GRU better by more than the seed-to-seed spread.')
        : noise ? 'LSTM slightly better or equal, within seed-to-seed noise.' : 'LSTM better by more than the seed-to-seed spread.') + epochNote,
    });
  }
  return claims;
}

/** Recompute the claims of saved results (e.g. after changing this code): used by `compare --from`. */
export function rebuildClaims(res: CompareResults): CompareResults {
  return { ...res, tasks: res.tasks.map((t) => ({ ...t, claims: claimsFor(t) })) };
}

function fmtS(s: number): string {
  return Number.isFinite(s) ? `${+s.toPrecision(3)} s` : 'never';
}

// ---------------------------------------------------------------------------------------------
// The whole experiment

export async function runCompare(cfg: CompareConfig, hooks: CompareHooks = {}, command = ''): Promise<CompareResults> {
  const log = hooks.log ?? (() => {});
  const t0 = performance.now();
  if (cfg.cells.length === 0) throw new RangeError('compare: --cells needs at least one of rnn, lstm, gru');
  for (const c of cfg.cells) if (!CELL_NAMES.includes(c)) throw new RangeError(`compare: unknown cell '${c}'; cells: ${CELL_NAMES.join(', ')}`);
  if ((cfg.budgetMs === undefined) === (cfg.epochs === undefined)) throw new RangeError('compare: give exactly one of a time budget or a number of epochs');
  if (!Number.isInteger(cfg.seeds) || cfg.seeds < 1) throw new RangeError(`compare: --seeds must be a positive integer, got ${cfg.seeds}`);
  const setups = cfg.tasks.map((t) => setupTask(t, cfg));
  const withNoClip = cfg.noClipRuns && cfg.clip > 0;
  const runCount = setups.reduce((n, s) => n + cfg.cells.length * (cfg.seeds * s.lengths.length + (withNoClip ? 1 : 0)), 0);
  const perRunMs = cfg.budgetMs !== undefined ? cfg.budgetMs / runCount : undefined;
  const budget = perRunMs !== undefined ? { timeMs: perRunMs } : { epochs: cfg.epochs! };
  log(`compare: ${runCount} training runs (${cfg.tasks.join(', ')} × ${cfg.cells.join('/')} × ${cfg.seeds} seed(s)${withNoClip ? ' + no-clip runs for the gradient-flow comparison' : ''}), ` +
    `${perRunMs !== undefined ? `${(perRunMs / 1000).toFixed(1)} s of training each` : `${cfg.epochs} epoch(s) each`}; backend ${backendName()}`);
  const snapFractions = [0, 0.1, 0.25, 0.5, 1];
  let done = 0;
  const tasks: TaskResult[] = [];
  for (const setup of setups) {
    const hidden = matchHidden(cfg.cells, cfg.match, setup.hidden, setup.inputSize, setup.outputUnits);
    const cells = cfg.cells.map((cell) => {
      const cp = cellDependentParams(cell, setup.inputSize, hidden[cell], setup.outputUnits);
      return { cell, hidden: hidden[cell], params: 0, cellParams: cp, paramsAtReferenceHidden: cellDependentParams(cell, setup.inputSize, setup.hidden, setup.outputUnits) };
    });
    log(`${setup.title}: ${cells.map((c) => `${c.cell} H=${c.hidden} (${c.cellParams.toLocaleString('en-US')} parameters without the embedding)`).join(', ')}`);
    const runs: RunResult[] = [];
    let gradflow: GradflowResult | null = null;
    let speed: SpeedResult | null = null;
    for (const length of setup.lengths) {
      const inst = setup.instance(length);
      const isGf = length === null || length === setup.gradflowLength;
      const gfRuns: { cell: CellName; clip: number; snapshots: Snapshot[] }[] = [];
      const plan: { cell: CellName; seed: number; clip: number; purpose: 'main' | 'noclip' }[] = [];
      for (let s = 1; s <= cfg.seeds; s++) for (const cell of cfg.cells) plan.push({ cell, seed: s, clip: cfg.clip, purpose: 'main' });
      if (isGf && withNoClip) for (const cell of cfg.cells) plan.push({ cell, seed: 1, clip: 0, purpose: 'noclip' });
      for (const p of plan) {
        if (hooks.shouldStop?.()) break;
        const wantSnaps = isGf && p.seed === 1;
        const { result, snapshots } = await trainRun(
          setup, inst, p.cell, hidden[p.cell], p.seed, p.clip, p.purpose, budget, cfg.evalPoints,
          wantSnaps ? snapFractions : null, cfg.clip,
          (f, fields) => hooks.progress?.(done + f, runCount, fields), () => hooks.shouldStop?.() ?? false,
        );
        done++;
        runs.push(result);
        cells.find((c) => c.cell === p.cell)!.params = result.params;
        hooks.progress?.(done, runCount, { run: `${p.cell} done` });
        log(`  ${setup.name}${length !== null ? ` T=${length}` : ''} ${p.cell} seed ${p.seed}${p.purpose === 'noclip' ? ' (no clip)' : ''}: ` +
          `best ${setup.metric.label} ${fmtNum(result.bestMetric)}, ${result.steps} steps, ${result.epochs.toFixed(2)} epochs, ${Math.round(result.tokensPerSecond)} ${setup.tokenUnit}` +
          `${result.solved === true ? ', solved' : ''}${result.error ? ` (${result.error})` : ''}`);
        if (wantSnaps) gfRuns.push({ cell: p.cell, clip: p.clip, snapshots });
      }
      if (isGf && gfRuns.length && !hooks.shouldStop?.()) {
        log(`  measuring gradient flow and Jacobian spectra at length ${setup.gradflowLength}…`);
        gradflow = measureGradflow(setup, inst, hidden, cfg, gfRuns);
        if (gradflow) log(`  measured in ${gradflow.seconds.toFixed(1)} s`);
      }
      if (isGf && cfg.speedRounds > 0 && !hooks.shouldStop?.()) {
        const same = matchHidden(cfg.cells, 'hidden', setup.hidden, setup.inputSize, setup.outputUnits);
        speed = await speedBench(inst, cfg, [{ sizing: 'same', hidden: same }, { sizing: 'matched', hidden }], cfg.speedRounds);
        log(`  throughput benchmark (${speed.seconds.toFixed(1)} s): ${speed.entries.map((e) => `${e.cell} H=${e.hidden} ${Math.round(e.tokensPerSecond)}`).join(', ')} ${setup.tokenUnit}`);
      }
    }
    const partial: Omit<TaskResult, 'claims'> = {
      task: setup.name, title: setup.title, description: setup.description, data: setup.data, metric: setup.metric,
      inputSize: setup.inputSize, outputUnits: setup.outputUnits,
      tokenUnit: setup.tokenUnit, lengths: setup.lengths, cells, referenceHidden: setup.hidden, runs, gradflow, speed,
    };
    tasks.push({ ...partial, claims: claimsFor(partial) });
  }
  const os = await import('node:os');
  return {
    version: 1, createdAt: new Date().toISOString(), command, config: cfg,
    budgetPerRunSeconds: perRunMs !== undefined ? perRunMs / 1000 : null,
    environment: { backend: backendName(), node: process.version, platform: `${process.platform}-${process.arch}`, cpus: os.cpus().length },
    tasks, totalSeconds: (performance.now() - t0) / 1000,
  };
}

function fmtNum(v: number): string {
  return Number.isFinite(v) ? String(+v.toPrecision(4)) : 'n/a';
}
