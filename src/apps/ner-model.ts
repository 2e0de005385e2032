// A named-entity tagger (Lample et al. 2016 style, with a GRU): per word
//
//   [ word embedding (lower-cased, digits -> 0) | case-feature embedding | char features ]
//     -> dropout -> BiGRU (1..n layers, dropout between) -> dropout -> Dense(K) = emissions
//     -> per-token softmax cross-entropy, or a linear-chain CRF with the scheme's
//        allowed transitions (training: crfNllBatch; decoding: Viterbi)
//
// Char features: 'rnn' runs a bidirectional GRU/LSTM over each word's characters and
// concatenates the two final states; 'cnn' is a width-3 convolution + max-pool over time +
// tanh (Ma & Hovy 2016 / Chiu & Nichols 2016); 'none' skips them. Each distinct word of a batch
// is run once (all of them as one batch of char sequences with their lengths) and the result is
// scattered to every position where the word occurs.
//
// The pieces are library layers composed by hand: forward through each, backward in reverse,
// every parameter packed into one flat buffer (packStores) so clipping and the Adam step are
// single passes. Padding is masked everywhere: the recurrent layers get the (B, T) mask, the
// losses skip padded positions and the CRF sees each sentence's length.
//
// This module is pure (no Node APIs); apps/ner.ts adds files, bundles and the training loop.
import { Dense, Dropout, Embedding } from '../layers/core.js';
import { shown } from '../layers/layer.js';
import type { Act, CallContext } from '../layers/layer.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { getBackend, residentArray } from '../kernels/index.js';
import { allowedTransitions, compareCodePoints, convertTags, entityTypes, isTagScheme, SCHEME_PREFIXES, TAG_SCHEMES, type TagScheme, type TransitionTable } from '../data/tags.js';
import { UNK_ID, Vocab } from '../data/vocab.js';
import { crfNllBatch, crfViterbiBatch } from '../models/crf.js';
import { sparseCategoricalCrossentropy } from '../models/losses.js';
import { clipByGlobalNorm, clipGate } from '../optim/clip.js';
import type { Optimizer, Spans } from '../optim/optimizers.js';
import { setEmbeddingRows } from '../data/word-vectors.js';
import { glorotUniform } from '../tensor/init.js';
import { packStores, ParamStore } from '../tensor/params.js';
import { rng, type Rng } from '../tensor/rng.js';

export type CharFeatures = 'cnn' | 'rnn' | 'none';

export interface NerConfig {
  /** Word embedding size. */
  wordDim: number;
  /** Lower-case words before the vocabulary lookup (the case goes to the case feature). */
  lowercase: boolean;
  /** Replace every digit by 0 before the lookup (Lample et al.). */
  zeroDigits: boolean;
  /** Words seen fewer times in training map to <unk>. */
  minFreq: number;
  /** In training, replace a word seen once with <unk> with this probability (teaches <unk>). */
  unkReplace: number;
  /** Size of the case-feature embedding (0 = no case feature). */
  caseDim: number;
  charFeatures: CharFeatures;
  /** Character embedding size. */
  charDim: number;
  /** Char RNN units per direction, or char CNN filters. */
  charUnits: number;
  charCell: 'gru' | 'lstm';
  /** Char CNN window (odd). */
  charWindow: number;
  /** Longer words keep their first and last maxWordLen/2 characters for the char features. */
  maxWordLen: number;
  /** Word BiGRU units per direction. */
  units: number;
  /** Stacked word BiGRU layers. */
  layers: number;
  dropout: number;
  crf: boolean;
  seed: number;
}

export const DEFAULT_NER_CONFIG: NerConfig = {
  wordDim: 100, lowercase: true, zeroDigits: true, minFreq: 1, unkReplace: 0.5,
  caseDim: 8, charFeatures: 'rnn', charDim: 25, charUnits: 25, charCell: 'gru', charWindow: 3, maxWordLen: 24,
  units: 100, layers: 1, dropout: 0.5, crf: false, seed: 1,
};

/** Case/shape classes of a word (index 0 is padding). */
export const CASE_CLASSES = ['<pad>', 'numeric', 'has_digit', 'lower', 'upper', 'title', 'mixed', 'punct', 'other'] as const;

/** The case/shape class of a word (an index into CASE_CLASSES, never 0). */
export function caseClass(word: string): number {
  let upper = 0, lower = 0, digit = 0, first = -1, n = 0;
  for (const ch of word) {
    const u = ch.toUpperCase(), l = ch.toLowerCase();
    let kind = 0;
    if (ch >= '0' && ch <= '9') { digit++; kind = 3; }
    else if (ch !== l && ch === u) { upper++; kind = 1; }
    else if (ch !== u) { lower++; kind = 2; }
    if (n === 0) first = kind;
    n++;
  }
  if (n === 0) return 8;
  if (digit > 0) return upper + lower === 0 ? 1 : 2;
  if (upper + lower === 0) return 7;
  if (upper === 0) return 3;
  if (lower === 0) return 4;
  if (first === 1 && upper === 1) return 5;
  return 6;
}

/** The vocabulary key of a word under the config (lower-casing, digits -> 0). */
export function wordKey(word: string, cfg: Pick<NerConfig, 'lowercase' | 'zeroDigits'>): string {
  let w = cfg.lowercase ? word.toLowerCase() : word;
  if (cfg.zeroDigits) w = w.replace(/[0-9]/g, '0');
  return w;
}

/** Check a (possibly partial, possibly loaded-from-JSON) config; throws an Error naming the field. */
export function validateConfig(c: Record<string, unknown>, where = 'ner config'): NerConfig {
  const out: Record<string, unknown> = { ...DEFAULT_NER_CONFIG };
  const known = new Set(Object.keys(DEFAULT_NER_CONFIG));
  for (const k of Object.keys(c)) if (!known.has(k)) throw new Error(`${where}: unknown option '${k}'`);
  const int = (k: keyof NerConfig, min: number) => {
    const v = c[k] ?? DEFAULT_NER_CONFIG[k];
    if (!Number.isInteger(v) || (v as number) < min) throw new Error(`${where}: '${k}' must be an integer >= ${min}, got ${JSON.stringify(v)}`);
    out[k] = v;
  };
  const frac = (k: keyof NerConfig) => {
    const v = c[k] ?? DEFAULT_NER_CONFIG[k];
    if (typeof v !== 'number' || !(v >= 0 && v < 1)) throw new Error(`${where}: '${k}' must be a number in [0, 1), got ${JSON.stringify(v)}`);
    out[k] = v;
  };
  const bool = (k: keyof NerConfig) => {
    const v = c[k] ?? DEFAULT_NER_CONFIG[k];
    if (typeof v !== 'boolean') throw new Error(`${where}: '${k}' must be true or false, got ${JSON.stringify(v)}`);
    out[k] = v;
  };
  const oneOf = (k: keyof NerConfig, opts: readonly string[]) => {
    const v = c[k] ?? DEFAULT_NER_CONFIG[k];
    if (typeof v !== 'string' || !opts.includes(v)) throw new Error(`${where}: '${k}' must be one of ${opts.join(', ')}, got ${JSON.stringify(v)}`);
    out[k] = v;
  };
  int('wordDim', 1); bool('lowercase'); bool('zeroDigits'); int('minFreq', 1); frac('unkReplace');
  int('caseDim', 0); oneOf('charFeatures', ['cnn', 'rnn', 'none']); int('charDim', 1); int('charUnits', 1);
  oneOf('charCell', ['gru', 'lstm']); int('charWindow', 1); int('maxWordLen', 2); int('units', 1); int('layers', 1);
  frac('dropout'); bool('crf'); int('seed', 0);
  if ((out.charWindow as number) % 2 !== 1) throw new Error(`${where}: 'charWindow' must be odd, got ${shown(out.charWindow)}`);
  return out as unknown as NerConfig;
}

/**
 * A tagger's label scheme: an entity scheme (data/tags.ts: its tags are converted between schemes
 * and scored as entities), or 'PLAIN': the tags as they are (POS tags, for instance), scored token
 * by token. A CRF over plain tags allows every transition.
 */
export type NerScheme = TagScheme | 'PLAIN';
export const NER_SCHEMES: readonly NerScheme[] = [...TAG_SCHEMES, 'PLAIN'];

export function isNerScheme(s: unknown): s is NerScheme {
  return s === 'PLAIN' || isTagScheme(s);
}

/** The labels of training tags: an entity scheme's (labelsFor); PLAIN: the distinct tags, sorted. */
export function nerLabels(tags: readonly string[], scheme: NerScheme): string[] {
  return scheme === 'PLAIN' ? [...new Set(tags)].sort(compareCodePoints) : labelsFor(entityTypes(tags), scheme);
}

/** One sentence's tags from one scheme to another; plain tags only to plain tags. */
export function convertNerTags(tags: readonly string[], from: NerScheme, to: NerScheme): string[] {
  if (from !== 'PLAIN' && to !== 'PLAIN') return convertTags(tags, from, to);
  if (from !== to) throw new Error(`plain tags have no entities to convert ${from === 'PLAIN' ? `to ${to}` : `from ${from}`}: a plain tagger reads and writes plain tags`);
  return [...tags];
}

/** The CRF's allowed transitions: the entity scheme's, or every one for plain tags. */
function transitionsFor(labels: readonly string[], scheme: NerScheme): TransitionTable {
  if (scheme !== 'PLAIN') return allowedTransitions(labels, scheme);
  labels.forEach((l, k) => { if (l.length === 0 || /\s/u.test(l)) throw new Error(`label ${k} (${JSON.stringify(l)}) must be a tag without spaces`); });
  const K = labels.length;
  return { labels: [...labels], start: new Uint8Array(K).fill(1), end: new Uint8Array(K).fill(1), transitions: new Uint8Array(K * K).fill(1) };
}

/** The label set of a scheme for some entity types: 'O', then for each type (sorted) every prefix. */
export function labelsFor(types: readonly string[], scheme: TagScheme): string[] {
  const prefixes = SCHEME_PREFIXES[scheme].filter((p) => p !== 'O');
  const out = ['O'];
  for (const t of [...types].sort()) for (const p of prefixes) out.push(`${p}-${t}`);
  return out;
}

// ---------------------------------------------------------------------------------------------
// Character CNN: conv (window w, 'same' zero padding inside each word) -> max over the word's
// characters -> tanh.  y[u, f] = tanh(max_p Σ_{k,d} x[u, p+k-w/2, d]·W[k·D + d, f] + b[f]).

class CharCnn {
  readonly params: ParamStore;
  private cols = new Float32Array(0);
  private rows: Int32Array = new Int32Array(0); // (R) word of each compact row
  private pos: Int32Array = new Int32Array(0); // (R) position of each compact row
  private arg: Int32Array = new Int32Array(0); // (U·F) compact row of the max
  private y = new Float32Array(0);
  private U = 0; private L = 0; private lengths: Int32Array = new Int32Array(0);

  constructor(readonly D: number, readonly F: number, readonly w: number, seed: number) {
    this.params = new ParamStore([{ name: 'kernel', shape: [w * D, F] }, { name: 'bias', shape: [F] }], 'float32');
    glorotUniform(this.params.value('kernel'), w * D, F, rng(seed));
  }

  /** x (U, L, D) char embeddings, lengths (U) >= 1 -> (U, F). */
  forward(x: Float32Array, U: number, L: number, lengths: Int32Array): Float32Array {
    const { D, F, w } = this, half = (w - 1) / 2, W = w * D;
    let R = 0;
    for (let u = 0; u < U; u++) R += lengths[u]!;
    const cols = new Float32Array(R * W), rows = new Int32Array(R), pos = new Int32Array(R);
    let r = 0;
    for (let u = 0; u < U; u++) {
      const n = lengths[u]!;
      for (let p = 0; p < n; p++, r++) {
        rows[r] = u; pos[r] = p;
        for (let k = 0; k < w; k++) {
          const q = p + k - half;
          if (q < 0 || q >= n) continue;
          cols.set(x.subarray((u * L + q) * D, (u * L + q + 1) * D), r * W + k * D);
        }
      }
    }
    const z = new Float32Array(R * F);
    getBackend().gemm(false, false, R, F, W, cols, W, this.params.value('kernel'), F, z, F, false);
    const b = this.params.value('bias');
    const y = new Float32Array(U * F).fill(-Infinity), arg = new Int32Array(U * F);
    for (let i = 0; i < R; i++) {
      const u = rows[i]!;
      for (let f = 0; f < F; f++) {
        const v = z[i * F + f]! + b[f]!;
        if (v > y[u * F + f]!) { y[u * F + f] = v; arg[u * F + f] = i; }
      }
    }
    for (let i = 0; i < y.length; i++) y[i] = Math.tanh(y[i]!);
    Object.assign(this, { cols, rows, pos, arg, y, U, L, lengths });
    return y;
  }

  /** dy (U, F) -> dx (U, L, D); accumulates parameter gradients. */
  backward(dy: Float32Array): Float32Array {
    const { D, F, w, U, L, cols, rows, pos, arg, y, lengths } = this, half = (w - 1) / 2, W = w * D;
    const R = rows.length;
    const dz = new Float32Array(R * F);
    const db = this.params.gradOf('bias');
    for (let u = 0; u < U; u++) {
      for (let f = 0; f < F; f++) {
        const g = dy[u * F + f]! * (1 - y[u * F + f]! * y[u * F + f]!);
        dz[arg[u * F + f]! * F + f] += g;
        db[f] += g;
      }
    }
    const be = getBackend();
    be.gemm(true, false, W, F, R, cols, W, dz, F, this.params.gradOf('kernel'), F, true);
    const dcols = new Float32Array(R * W);
    be.gemm(false, true, R, W, F, dz, F, this.params.value('kernel'), F, dcols, W, false);
    const dx = new Float32Array(U * L * D);
    for (let r = 0; r < R; r++) {
      const u = rows[r]!, p = pos[r]!, n = lengths[u]!;
      for (let k = 0; k < w; k++) {
        const q = p + k - half;
        if (q < 0 || q >= n) continue;
        const o = (u * L + q) * D, s = r * W + k * D;
        for (let d = 0; d < D; d++) dx[o + d] += dcols[s + d]!;
      }
    }
    return dx;
  }
}

// ---------------------------------------------------------------------------------------------

/** A sentence turned into ids once (reused every epoch). */
export interface EncodedSentence {
  tokens: readonly string[];
  words: Int32Array;
  cases: Int32Array;
  /** Gold label ids in the model's scheme, when known. */
  tags: Int32Array | null;
}

export interface NerVocabs {
  words: Vocab;
  chars: Vocab;
}

interface Saved {
  B: number; T: number; lengths: Int32Array; mask: Uint8Array;
  Din: number; charOut: number;
  /** (B·T) index of each position's distinct word, -1 at padding. */
  slot: Int32Array; U: number; Lc: number;
}

export interface StepResult {
  /** Mean loss per token (CRF: the sentence NLLs summed, divided by the number of tokens). */
  loss: number;
  tokens: number;
  gradNorm: number;
}

export class NerTagger {
  readonly config: NerConfig;
  readonly words: Vocab;
  readonly chars: Vocab;
  /** Tag set in the model's scheme; index = class id. */
  readonly labels: readonly string[];
  readonly scheme: NerScheme;
  readonly K: number;
  readonly params: Float32Array;
  readonly grads: Float32Array;
  /** Allowed transitions of the scheme (CRF constraints). */
  readonly constraints: { transitions: Uint8Array; start: Uint8Array; end: Uint8Array };

  private readonly wordEmb: Embedding;
  private readonly caseEmb: Embedding | null;
  private readonly charEmb: Embedding | null;
  private readonly charRnn: RecurrentLayer | null;
  private readonly charCnn: CharCnn | null;
  private readonly dropIn: Dropout;
  private readonly rnns: RecurrentLayer[] = [];
  private readonly drops: Dropout[] = [];
  private readonly dense: Dense;
  private readonly crf: ParamStore | null;
  /** Named parameter groups in buffer order. */
  private readonly groups: { name: string; store: ParamStore }[] = [];
  private saved: Saved | null = null;
  private readonly charCache = new Map<string, Int32Array>();

  constructor(config: Partial<NerConfig>, vocabs: NerVocabs, labels: readonly string[], scheme: NerScheme) {
    const cfg = validateConfig(config as Record<string, unknown>);
    if (!isNerScheme(scheme)) throw new Error(`NerTagger: unknown scheme ${JSON.stringify(scheme)}; expected one of ${NER_SCHEMES.join(', ')}`);
    const table = transitionsFor(labels, scheme); // validates the labels
    if (scheme !== 'PLAIN' && labels[0] !== 'O') throw new Error(`NerTagger: labels[0] must be 'O', got ${JSON.stringify(labels[0])}`);
    if (new Set(labels).size !== labels.length) throw new Error('NerTagger: labels must be distinct');
    this.config = cfg;
    this.words = vocabs.words;
    this.chars = vocabs.chars;
    this.labels = Object.freeze([...labels]);
    this.scheme = scheme;
    this.K = labels.length;
    this.constraints = { transitions: table.transitions, start: table.start, end: table.end };
    const s = cfg.seed * 101;
    this.wordEmb = new Embedding({ inputDim: this.words.size, outputDim: cfg.wordDim, initScale: Math.sqrt(3 / cfg.wordDim), seed: s + 1, name: 'word_embedding' });
    this.groups.push({ name: 'word_embedding', store: this.wordEmb.params });
    this.caseEmb = null;
    if (cfg.caseDim > 0) {
      this.caseEmb = new Embedding({ inputDim: CASE_CLASSES.length, outputDim: cfg.caseDim, initScale: Math.sqrt(3 / cfg.caseDim), seed: s + 2, name: 'case_embedding' });
      this.groups.push({ name: 'case_embedding', store: this.caseEmb.params });
    }
    this.charEmb = null; this.charRnn = null; this.charCnn = null;
    if (cfg.charFeatures !== 'none') {
      this.charEmb = new Embedding({ inputDim: this.chars.size, outputDim: cfg.charDim, initScale: Math.sqrt(3 / cfg.charDim), seed: s + 3, name: 'char_embedding' });
      this.groups.push({ name: 'char_embedding', store: this.charEmb.params });
      if (cfg.charFeatures === 'rnn') {
        this.charRnn = new RecurrentLayer(cfg.charCell === 'lstm' ? 'LSTM' : 'GRU', { units: cfg.charUnits, seed: s + 4, name: 'char_rnn' }, 'concat');
        this.charRnn.build([null, cfg.charDim]);
        this.groups.push({ name: 'char_rnn', store: this.charRnn.params! });
      } else {
        this.charCnn = new CharCnn(cfg.charDim, cfg.charUnits, cfg.charWindow, s + 4);
        this.groups.push({ name: 'char_cnn', store: this.charCnn.params });
      }
    }
    this.dropIn = new Dropout({ rate: cfg.dropout, name: 'input_dropout' });
    let width = this.inputWidth;
    for (let l = 0; l < cfg.layers; l++) {
      const r = new RecurrentLayer('GRU', { units: cfg.units, returnSequences: true, seed: s + 10 + l, name: `word_rnn_${l + 1}` }, 'concat');
      r.build([null, width]);
      width = 2 * cfg.units;
      this.rnns.push(r);
      this.drops.push(new Dropout({ rate: cfg.dropout, name: `dropout_${l + 1}` }));
      this.groups.push({ name: r.name, store: r.params! });
    }
    this.dense = new Dense({ units: this.K, seed: s + 30, name: 'emissions' });
    this.dense.build([null, width]);
    this.groups.push({ name: 'emissions', store: this.dense.params! });
    this.crf = null;
    if (cfg.crf) {
      this.crf = new ParamStore([{ name: 'transitions', shape: [this.K, this.K] }, { name: 'start', shape: [this.K] }, { name: 'end', shape: [this.K] }], 'float32');
      this.groups.push({ name: 'crf', store: this.crf });
    }
    ({ params: this.params, grads: this.grads } = packStores(this.groups.map((g) => g.store), residentArray));
  }

  get charOut(): number {
    const c = this.config;
    return c.charFeatures === 'rnn' ? 2 * c.charUnits : c.charFeatures === 'cnn' ? c.charUnits : 0;
  }

  /**
   * The pieces of the network, for exporters (export/onnx-ner.ts): the layers in the order
   * forward runs them, the character CNN's weights, and the CRF's scores (null: softmax).
   */
  get parts(): {
    wordEmb: Embedding; caseEmb: Embedding | null; charEmb: Embedding | null; charRnn: RecurrentLayer | null;
    charCnn: { kernel: Float32Array; bias: Float32Array; window: number; dim: number; filters: number } | null;
    rnns: readonly RecurrentLayer[]; dense: Dense; crf: { transitions: Float32Array; start: Float32Array; end: Float32Array } | null;
  } {
    const cnn = this.charCnn;
    return {
      wordEmb: this.wordEmb, caseEmb: this.caseEmb, charEmb: this.charEmb, charRnn: this.charRnn,
      charCnn: cnn && { kernel: cnn.params.value('kernel') as Float32Array, bias: cnn.params.value('bias') as Float32Array, window: cnn.w, dim: cnn.D, filters: cnn.F },
      rnns: this.rnns, dense: this.dense, crf: this.crf ? this.crfParams() : null,
    };
  }

  /** Features per word fed to the first BiGRU. */
  get inputWidth(): number {
    return this.config.wordDim + this.config.caseDim + this.charOut;
  }

  /** `group/param` names with shapes and offsets into `params`, in buffer order. */
  weightEntries(): { name: string; shape: number[]; offset: number; size: number }[] {
    const out = [];
    let off = 0;
    for (const g of this.groups) {
      for (const e of g.store.entries) out.push({ name: `${g.name}/${e.name}`, shape: [...e.shape], offset: off + e.offset, size: e.size });
      off += g.store.size;
    }
    return out;
  }

  /** Ids of one sentence (tags: label strings in the model's scheme, or null). */
  encode(tokens: readonly string[], tags: readonly string[] | null = null): EncodedSentence {
    const n = tokens.length;
    const words = new Int32Array(n), cases = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      words[i] = this.words.id(wordKey(tokens[i]!, this.config));
      cases[i] = caseClass(tokens[i]!);
    }
    let ids: Int32Array | null = null;
    if (tags) {
      if (tags.length !== n) throw new Error(`encode: ${n} tokens but ${tags.length} tags`);
      const index = new Map(this.labels.map((l, i) => [l, i]));
      ids = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const k = index.get(tags[i]!);
        if (k === undefined) throw new Error(`encode: tag ${JSON.stringify(tags[i])} is not in the model's label set (${this.labels.join(' ')})`);
        ids[i] = k;
      }
    }
    return { tokens, words, cases, tags: ids };
  }

  /** The character ids of a word as the char features read them (long words cut to maxWordLen, an empty one a space). */
  charIds(word: string): Int32Array {
    let ids = this.charCache.get(word);
    if (ids) return ids;
    let cps = [...word];
    const max = this.config.maxWordLen;
    if (cps.length > max) cps = [...cps.slice(0, max >> 1), ...cps.slice(cps.length - (max - (max >> 1)))];
    if (cps.length === 0) cps = [' '];
    ids = Int32Array.from(cps, (c) => this.chars.id(c));
    if (this.charCache.size < 200_000) this.charCache.set(word, ids);
    return ids;
  }

  /**
   * Emission scores (B, T, K) for a batch of sentences (padding at the end of each row).
   * `singletons` (training): word ids seen once, replaced by <unk> with probability unkReplace.
   */
  forward(batch: readonly EncodedSentence[], training: boolean, r: Rng, singletons: Uint8Array | null = null): Float32Array {
    const cfg = this.config;
    const B = batch.length;
    let T = 0;
    for (const s of batch) T = Math.max(T, s.words.length);
    const lengths = new Int32Array(B), mask = new Uint8Array(B * T);
    const wordIds = new Float32Array(B * T), caseIds = new Float32Array(B * T);
    const slot = new Int32Array(B * T).fill(-1);
    const distinct = new Map<string, number>();
    const uniq: string[] = [];
    for (let b = 0; b < B; b++) {
      const s = batch[b]!, n = s.words.length;
      lengths[b] = n;
      for (let t = 0; t < n; t++) {
        const i = b * T + t;
        mask[i] = 1;
        let w = s.words[t]!;
        if (training && singletons && cfg.unkReplace > 0 && singletons[w] && r.next() < cfg.unkReplace) w = UNK_ID;
        wordIds[i] = w;
        caseIds[i] = s.cases[t]!;
        if (this.charEmb) {
          const tok = s.tokens[t]!;
          let u = distinct.get(tok);
          if (u === undefined) { u = uniq.length; distinct.set(tok, u); uniq.push(tok); }
          slot[i] = u;
        }
      }
    }
    const ctx: CallContext = { training, rng: r };
    const wd = cfg.wordDim, cd = cfg.caseDim, co = this.charOut, Din = this.inputWidth;
    const wordE = this.wordEmb.forward({ data: wordIds, shape: [B, T], mask }).data;
    const caseE = this.caseEmb ? this.caseEmb.forward({ data: caseIds, shape: [B, T], mask }).data : null;
    let charF: Float32Array | null = null;
    const U = uniq.length;
    let Lc = 0;
    if (this.charEmb && U > 0) {
      const seqs = uniq.map((w) => this.charIds(w));
      for (const q of seqs) Lc = Math.max(Lc, q.length);
      const cids = new Float32Array(U * Lc), cmask = new Uint8Array(U * Lc), clen = new Int32Array(U);
      for (let u = 0; u < U; u++) {
        const q = seqs[u]!;
        clen[u] = q.length;
        for (let k = 0; k < q.length; k++) { cids[u * Lc + k] = q[k]!; cmask[u * Lc + k] = 1; }
      }
      const ce = this.charEmb.forward({ data: cids, shape: [U, Lc], mask: cmask });
      charF = this.charRnn ? this.charRnn.forward(ce, ctx).data : this.charCnn!.forward(ce.data, U, Lc, clen);
    }
    const x = new Float32Array(B * T * Din);
    for (let i = 0; i < B * T; i++) {
      if (!mask[i]) continue;
      const o = i * Din;
      x.set(wordE.subarray(i * wd, (i + 1) * wd), o);
      if (caseE) x.set(caseE.subarray(i * cd, (i + 1) * cd), o + wd);
      if (charF) x.set(charF.subarray(slot[i]! * co, (slot[i]! + 1) * co), o + wd + cd);
    }
    let a: Act = this.dropIn.forward({ data: x, shape: [B, T, Din], mask }, ctx);
    for (let l = 0; l < this.rnns.length; l++) {
      a = this.rnns[l]!.forward(a, ctx);
      a = this.drops[l]!.forward(a, ctx);
    }
    const em = this.dense.forward(a).data;
    this.saved = { B, T, lengths, mask, Din, charOut: co, slot, U, Lc };
    return em;
  }

  /** Backpropagate dLoss/dEmissions (B, T, K) through everything; accumulates into `grads`. */
  backward(dEm: Float32Array): void {
    const s = this.saved;
    if (!s) throw new Error('NerTagger.backward: call forward first');
    const { B, T, mask, Din, charOut: co, slot, U, Lc } = s;
    const cfg = this.config, wd = cfg.wordDim, cd = cfg.caseDim;
    let g: Float32Array = this.dense.backwardFromLogits(dEm);
    for (let l = this.rnns.length - 1; l >= 0; l--) {
      g = this.drops[l]!.backward(g);
      g = this.rnns[l]!.backward(g);
    }
    const dx = this.dropIn.backward(g);
    const dWord = new Float32Array(B * T * wd);
    const dCase = this.caseEmb ? new Float32Array(B * T * cd) : null;
    const dChar = this.charEmb && U > 0 ? new Float32Array(U * co) : null;
    for (let i = 0; i < B * T; i++) {
      if (!mask[i]) continue;
      const o = i * Din;
      dWord.set(dx.subarray(o, o + wd), i * wd);
      if (dCase) dCase.set(dx.subarray(o + wd, o + wd + cd), i * cd);
      if (dChar) {
        const u = slot[i]! * co, src = o + wd + cd;
        for (let j = 0; j < co; j++) dChar[u + j] += dx[src + j]!;
      }
    }
    this.wordEmb.backward(dWord);
    if (dCase) this.caseEmb!.backward(dCase);
    if (dChar) {
      const dce = this.charRnn ? this.charRnn.backward(dChar) : this.charCnn!.backward(dChar);
      if (dce.length !== U * Lc * cfg.charDim) throw new Error('NerTagger.backward: char gradient has the wrong size');
      this.charEmb!.backward(dce);
    }
  }

  private crfParams(): { transitions: Float32Array; start: Float32Array; end: Float32Array } {
    const c = this.crf!;
    return { transitions: c.value('transitions') as Float32Array, start: c.value('start') as Float32Array, end: c.value('end') as Float32Array };
  }

  /** (B, T, K) -> (T, B, K). */
  private static toTimeMajor(em: Float32Array, B: number, T: number, K: number): Float32Array {
    const out = new Float32Array(em.length);
    for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) out.set(em.subarray((b * T + t) * K, (b * T + t + 1) * K), (t * B + b) * K);
    return out;
  }

  /** Loss of the last forward against gold tags, and its gradient w.r.t. the emissions (B, T, K). */
  loss(em: Float32Array, batch: readonly EncodedSentence[]): { loss: number; dEm: Float32Array; tokens: number } {
    const { B, T, lengths, mask } = this.saved!;
    const K = this.K;
    const targets = new Int32Array(B * T);
    let tokens = 0;
    for (let b = 0; b < B; b++) {
      const tg = batch[b]!.tags;
      if (!tg) throw new Error(`NerTagger.loss: sentence ${b} of the batch has no gold tags`);
      targets.set(tg, b * T);
      tokens += tg.length;
    }
    if (!this.crf) {
      const r = sparseCategoricalCrossentropy(em, targets, { fromLogits: true, mask });
      return { loss: r.loss, dEm: r.grad as Float32Array, tokens };
    }
    const emT = NerTagger.toTimeMajor(em, B, T, K);
    const tagsT = new Int32Array(T * B);
    for (let b = 0; b < B; b++) for (let t = 0; t < lengths[b]!; t++) tagsT[t * B + b] = targets[b * T + t]!;
    const gT = new Float32Array(emT.length);
    const c = this.crf;
    const gTr = c.gradOf('transitions') as Float32Array, gS = c.gradOf('start') as Float32Array, gE = c.gradOf('end') as Float32Array;
    const nll = crfNllBatch(emT, tagsT, lengths, K, this.crfParams(), {
      constraints: this.constraints, grads: { emissions: gT, transitions: gTr, start: gS, end: gE }, reduction: 'sum',
    });
    // Per token, like the softmax loss, so the clipping threshold means the same for both.
    const scale = 1 / Math.max(tokens, 1);
    for (const a of [gTr, gS, gE]) for (let i = 0; i < a.length; i++) a[i] *= scale;
    const dEm = new Float32Array(em.length);
    for (let b = 0; b < B; b++) {
      for (let t = 0; t < lengths[b]!; t++) {
        const src = (t * B + b) * K, dst = (b * T + t) * K;
        for (let k = 0; k < K; k++) dEm[dst + k] = gT[src + k]! * scale;
      }
    }
    return { loss: nll * scale, dEm, tokens };
  }

  /**
   * Training keeps the word embeddings as they are (pretrained vectors): the optimiser's step
   * leaves them out (they are the first part of the flat buffers), and so does the gradient norm.
   */
  freezeWords = false;

  /** Sets the embedding of each word `vectorOf` has a vector for (wordDim values); returns how many. */
  initWordVectors(vectorOf: (word: string) => Float32Array | null): number {
    return setEmbeddingRows(this.wordEmb, this.words.tokens, vectorOf);
  }

  /** One optimisation step on a batch (with gold tags). */
  trainStep(batch: readonly EncodedSentence[], opt: Optimizer, clipNorm: number, r: Rng, singletons: Uint8Array | null): StepResult {
    this.grads.fill(0);
    const em = this.forward(batch, true, r, singletons);
    const { loss, dEm, tokens } = this.loss(em, batch);
    this.backward(dEm);
    const w = this.wordEmb.params!.size, spans: Spans | undefined = this.freezeWords ? [[w, this.params.length - w]] : undefined;
    const grads = spans ? this.grads.subarray(w) : this.grads;
    if (clipNorm > 0 && Number.isFinite(loss)) {
      // Clipped inside the optimiser's step (see Model.trainOnBatch): no step on a non-finite norm.
      let gradNorm = NaN;
      opt.step(this.params, this.grads, clipGate(grads, clipNorm, (n) => { gradNorm = n; }), spans);
      return { loss, tokens, gradNorm };
    }
    const gradNorm = clipNorm > 0 ? clipByGlobalNorm(grads, clipNorm) : NaN;
    if (Number.isFinite(loss) && (clipNorm <= 0 || Number.isFinite(gradNorm))) opt.step(this.params, this.grads, undefined, spans);
    return { loss, tokens, gradNorm };
  }

  /** Best label ids per sentence for a batch (inference mode). */
  decodeBatch(batch: readonly EncodedSentence[]): Int32Array[] {
    const em = this.forward(batch, false, rng(0));
    const { B, T, lengths } = this.saved!;
    const K = this.K;
    if (this.crf) {
      return crfViterbiBatch(NerTagger.toTimeMajor(em, B, T, K), lengths, K, this.crfParams(), { constraints: this.constraints }).paths;
    }
    const out: Int32Array[] = [];
    for (let b = 0; b < B; b++) {
      const p = new Int32Array(lengths[b]!);
      for (let t = 0; t < p.length; t++) {
        const o = (b * T + t) * K;
        let best = 0;
        for (let k = 1; k < K; k++) if (em[o + k]! > em[o + best]!) best = k;
        p[t] = best;
      }
      out.push(p);
    }
    return out;
  }

  /** Tags (in the model's scheme) for tokenized sentences, in batches sorted by length. */
  predict(sentences: readonly (readonly string[])[], batchSize = 64): string[][] {
    const enc = sentences.map((s) => this.encode(s));
    return this.predictEncoded(enc, batchSize);
  }

  predictEncoded(enc: readonly EncodedSentence[], batchSize = 64): string[][] {
    const out: string[][] = new Array(enc.length);
    const order = enc.map((_, i) => i).filter((i) => enc[i]!.words.length > 0);
    for (let i = 0; i < enc.length; i++) if (enc[i]!.words.length === 0) out[i] = [];
    order.sort((a, b) => enc[a]!.words.length - enc[b]!.words.length);
    for (let s = 0; s < order.length; s += batchSize) {
      const idx = order.slice(s, s + batchSize);
      const paths = this.decodeBatch(idx.map((i) => enc[i]!));
      idx.forEach((i, b) => { out[i] = Array.from(paths[b]!, (k) => this.labels[k]!); });
    }
    return out;
  }

  /** Copies of the weights by name. */
  weights(): Record<string, { shape: number[]; data: Float32Array }> {
    const out: Record<string, { shape: number[]; data: Float32Array }> = {};
    for (const e of this.weightEntries()) out[e.name] = { shape: e.shape, data: this.params.slice(e.offset, e.offset + e.size) };
    return out;
  }

  /**
   * Set every weight by name; throws (naming `where`) on a missing, unexpected or
   * wrongly-shaped tensor, or a non-float32 / non-finite one.
   */
  setWeights(w: Record<string, { shape: readonly number[]; data: ArrayLike<number>; dtype?: string }>, where: string): void {
    const entries = this.weightEntries();
    const names = new Set(entries.map((e) => e.name));
    for (const k of Object.keys(w)) {
      if (!names.has(k)) throw new Error(`${where}: unexpected tensor '${k}' for this architecture (expected ${[...names].join(', ')})`);
    }
    for (const e of entries) {
      const t = w[e.name];
      if (!t) throw new Error(`${where}: missing tensor '${e.name}' (shape [${e.shape.join(', ')}])`);
      if (t.dtype !== undefined && t.dtype !== 'F32') throw new Error(`${where}: tensor '${e.name}' has dtype ${t.dtype}, expected F32`);
      if (t.shape.length !== e.shape.length || t.shape.some((d, i) => d !== e.shape[i])) {
        throw new Error(`${where}: tensor '${e.name}' has shape [${t.shape.join(', ')}], the architecture needs [${e.shape.join(', ')}]`);
      }
      if (t.data.length !== e.size) throw new Error(`${where}: tensor '${e.name}' has ${t.data.length} values, expected ${e.size}`);
    }
    for (const e of entries) {
      const d = w[e.name]!.data;
      for (let i = 0; i < e.size; i++) {
        const v = d[i]!;
        if (!Number.isFinite(v)) throw new Error(`${where}: tensor '${e.name}'[${i}] is ${v}; weights must be finite`);
        this.params[e.offset + i] = v;
      }
    }
  }
}

/** Build the word and character vocabularies from training sentences. */
export function buildVocabs(sentences: readonly (readonly string[])[], cfg: Pick<NerConfig, 'lowercase' | 'zeroDigits' | 'minFreq'>): NerVocabs {
  const words = Vocab.build(sentences.map((s) => s.map((w) => wordKey(w, cfg))), { minFreq: cfg.minFreq });
  const chars = Vocab.build(sentences.map((s) => s.flatMap((w) => [...w])), { minFreq: 1 });
  return { words, chars };
}

/** 1 for word ids seen exactly once in the (encoded) training data. */
export function singletonIds(enc: readonly EncodedSentence[], vocabSize: number): Uint8Array {
  const counts = new Int32Array(vocabSize);
  for (const s of enc) for (const w of s.words) counts[w]++;
  const out = new Uint8Array(vocabSize);
  for (let i = 2; i < vocabSize; i++) out[i] = counts[i] === 1 ? 1 : 0;
  return out;
}
