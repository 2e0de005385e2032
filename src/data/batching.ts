// Padding, length bucketing and seeded splits for variable-length sequences.
// Pure logic, no Node imports (browser-safe).
//
// Shapes: B batch, T time (the longest kept length in the batch). A batch is row-major:
//   ids[b*T + t] = token t of example b, padded with `padId` for t ≥ lengths[b].
// NOTE(keras): pad_sequences pads at the front by default; here padding is always at the end
// and `lengths` tells the recurrent layer where each row stops (masking, reversal).
// Truncation keeps the end of a too-long sequence by default (keep: 'end'), the same as Keras's
// default truncating='pre': for reviews the closing sentences carry most of the verdict.
import { rng as makeRng, type Rng } from '../tensor/rng.js';
import { PAD_ID } from './vocab.js';

export interface Batch {
  /** (B*T) token ids, row-major, padded with padId. */
  ids: Int32Array;
  /** (B) kept length of each row, 1..T (0 only for an empty sequence). */
  lengths: Int32Array;
  /** (B) class labels, or null when the data has none. */
  labels: Int32Array | null;
  /** (B) index of each row's example in the input arrays. */
  index: Int32Array;
  B: number;
  T: number;
}

export interface CollateOptions {
  /** Keep at most this many tokens per sequence (default: no limit). */
  maxLen?: number;
  /** Which part of a too-long sequence to keep (default 'end'). */
  keep?: 'start' | 'end';
  /** Padding id (default PAD_ID = 0). */
  padId?: number;
}

export interface BatchOptions extends CollateOptions {
  batchSize: number;
  /** Shuffle examples and batch order (default true). */
  shuffle?: boolean;
  /** Random source for shuffling; pass the same Rng every epoch for a new but repeatable order. */
  rng?: Rng;
  /** Seed for a fresh rng when `rng` is not given (default 0). */
  seed?: number;
  /**
   * Bucketing by length: examples are sorted by length within chunks of `bucket` batches,
   * cut into batches, and the batches are shuffled (default 50; 0 or false = no bucketing).
   */
  bucket?: number | boolean;
  /** Drop the last batch if it is smaller than batchSize (default false). */
  dropLast?: boolean;
}

/** Sequence length after truncation. */
function keptLength(n: number, maxLen: number | undefined): number {
  return maxLen === undefined ? n : Math.min(n, maxLen);
}

function checkCollate(o: CollateOptions, where: string): void {
  if (o.maxLen !== undefined && !(Number.isInteger(o.maxLen) && o.maxLen >= 1)) {
    throw new RangeError(`${where}: maxLen must be an integer ≥ 1, got ${o.maxLen}`);
  }
  if (o.keep !== undefined && o.keep !== 'start' && o.keep !== 'end') {
    throw new RangeError(`${where}: keep must be 'start' or 'end', got ${JSON.stringify(o.keep)}`);
  }
}

/**
 * Pads the sequences `seqs[index[b]]` into one batch.
 * labels (if given) are copied for the same rows and must be integers.
 */
export function collate(
  seqs: readonly Int32Array[],
  labels: ArrayLike<number> | null,
  index: ArrayLike<number>,
  options: CollateOptions = {},
): Batch {
  checkCollate(options, 'collate');
  const { maxLen, keep = 'end', padId = PAD_ID } = options;
  const B = index.length;
  const lengths = new Int32Array(B);
  let T = 0;
  for (let b = 0; b < B; b++) {
    const s = seqs[index[b]!];
    if (s === undefined) throw new RangeError(`collate: example index ${index[b]} is outside [0, ${seqs.length})`);
    lengths[b] = keptLength(s.length, maxLen);
    if (lengths[b]! > T) T = lengths[b]!;
  }
  const ids = new Int32Array(B * T);
  if (padId !== 0) ids.fill(padId);
  for (let b = 0; b < B; b++) {
    const s = seqs[index[b]!]!;
    const L = lengths[b]!;
    const from = keep === 'end' ? s.length - L : 0;
    ids.set(s.subarray(from, from + L), b * T);
  }
  let outLabels: Int32Array | null = null;
  if (labels !== null) {
    outLabels = new Int32Array(B);
    for (let b = 0; b < B; b++) {
      const y = labels[index[b]!];
      if (y === undefined || !Number.isInteger(y)) throw new RangeError(`collate: label of example ${index[b]} must be an integer, got ${y}`);
      outLabels[b] = y;
    }
  }
  return { ids, lengths, labels: outLabels, index: Int32Array.from(index), B, T };
}

/**
 * The batch plan of one epoch: example indices per batch. Every example appears exactly once
 * (except those of a dropped last batch). Deterministic given the rng state / seed.
 *
 *   1. order = 0..N-1, shuffled if `shuffle`;
 *   2. with bucketing, each chunk of `bucket * batchSize` consecutive examples of that order is
 *      stably sorted by kept length, so a batch holds similar lengths and padding is small;
 *   3. the order is cut into batches of batchSize, and the batch order is shuffled (with
 *      bucketing this stops the model from seeing short batches, then long ones).
 */
export function planBatches(lengths: ArrayLike<number>, options: BatchOptions): Int32Array[] {
  const where = 'planBatches';
  const { batchSize, shuffle = true, dropLast = false, maxLen } = options;
  if (!(Number.isInteger(batchSize) && batchSize >= 1)) throw new RangeError(`${where}: batchSize must be an integer ≥ 1, got ${batchSize}`);
  checkCollate(options, where);
  const bucket = options.bucket === undefined || options.bucket === true ? 50 : options.bucket === false ? 0 : options.bucket;
  if (!(Number.isInteger(bucket) && bucket >= 0)) throw new RangeError(`${where}: bucket must be an integer ≥ 0 (batches per sorting chunk), got ${options.bucket}`);
  const r = options.rng ?? makeRng(options.seed ?? 0);

  const N = lengths.length;
  const order = new Int32Array(N);
  for (let i = 0; i < N; i++) order[i] = i;
  if (shuffle) r.shuffle(order);

  if (bucket > 0) {
    const chunk = bucket * batchSize;
    for (let c = 0; c < N; c += chunk) {
      const part = Array.from(order.subarray(c, Math.min(N, c + chunk)));
      // Array.prototype.sort is stable: equal lengths keep their shuffled order
      part.sort((a, b) => keptLength(lengths[a]!, maxLen) - keptLength(lengths[b]!, maxLen));
      order.set(part, c);
    }
  }

  const batches: Int32Array[] = [];
  for (let s = 0; s < N; s += batchSize) {
    const e = Math.min(N, s + batchSize);
    if (dropLast && e - s < batchSize) break;
    batches.push(order.slice(s, e));
  }
  if (shuffle) r.shuffle(batches);
  return batches;
}

/** One epoch of padded batches, built lazily (see planBatches for the order). */
export function* batches(
  seqs: readonly Int32Array[],
  labels: ArrayLike<number> | null,
  options: BatchOptions,
): Generator<Batch> {
  if (labels !== null && labels.length !== seqs.length) {
    throw new RangeError(`batches: ${seqs.length} sequences but ${labels.length} labels`);
  }
  const plan = planBatches(seqs.map((s) => s.length), options);
  for (const index of plan) yield collate(seqs, labels, index, options);
}

/** Padding slots over all tokens slots of some batches: Σ(B*T − Σlengths) / Σ(B*T). */
export function paddingFraction(bs: Iterable<Batch>): number {
  let slots = 0, pad = 0;
  for (const b of bs) {
    slots += b.B * b.T;
    pad += b.B * b.T - b.lengths.reduce((s, l) => s + l, 0);
  }
  return slots === 0 ? 0 : pad / slots;
}

/**
 * Seeded stratified split: for every class, round(fraction · count) of its examples (chosen
 * at random) go to `valid`, the rest to `train`. Both index lists are sorted ascending.
 */
export function splitStratified(
  labels: ArrayLike<number>,
  fraction: number,
  seed: number,
): { train: Int32Array; valid: Int32Array } {
  if (!(fraction >= 0 && fraction <= 1)) throw new RangeError(`splitStratified: fraction must be in [0, 1], got ${fraction}`);
  const r = makeRng(seed);
  const byClass = new Map<number, number[]>();
  for (let i = 0; i < labels.length; i++) {
    const y = labels[i]!;
    let list = byClass.get(y);
    if (!list) byClass.set(y, (list = []));
    list.push(i);
  }
  const train: number[] = [], valid: number[] = [];
  // classes in ascending order so the rng stream does not depend on first appearance
  for (const y of [...byClass.keys()].sort((a, b) => a - b)) {
    const idx = byClass.get(y)!;
    r.shuffle(idx);
    const k = Math.round(fraction * idx.length);
    valid.push(...idx.slice(0, k));
    train.push(...idx.slice(k));
  }
  const asc = (a: number[]): Int32Array => Int32Array.from(a).sort();
  return { train: asc(train), valid: asc(valid) };
}
