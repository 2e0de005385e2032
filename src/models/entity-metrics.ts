/**
 * Entity-level precision / recall / F1 that reproduce Python seqeval (v1.2.2) exactly.
 *
 * Two modes, as in seqeval:
 *
 *  - `default` (seqeval's default, conlleval-compatible): all sentences are
 *    concatenated with an 'O' after each one and chunked with conlleval's
 *    end-of-chunk / start-of-chunk rules (see `chunkConlleval` in data/tags.ts). Entities
 *    are (type, start, end) over that global position space, so an I- tag without a
 *    preceding B- still counts as an entity, a type change inside a span splits it,
 *    and E-/S- prefixes are understood. The `scheme` option is ignored (as in seqeval),
 *    except `BILOU`: seqeval has no notion of L-/U- in this mode, so with
 *    `scheme: 'BILOU'` we first read L as E and U as S (an extension; seqeval itself
 *    would chunk BILOU tags incorrectly).
 *
 *  - `strict` (seqeval's `mode='strict'` with an explicit `scheme`): each sentence is
 *    decoded on its own with seqeval's Token/Tokens rules (`chunkStrict`); only
 *    well-formed entities count, entities are (sentence, type, start, end), and any
 *    prefix outside the scheme throws.
 *
 * Scores (sklearn/seqeval `precision_recall_fscore_support`):
 *   per type T:  P = tp/pred, R = tp/true, F1 = 2·P·R/(P+R)
 *   micro:       the same with counts summed over types (this is what seqeval's
 *                f1_score / precision_score / recall_score return by default)
 *   macro:       unweighted mean over types; weighted: mean weighted by support.
 * The type list is the sorted union of types found in y_true and y_pred, so a type
 * only predicted has support 0 (and P = R = F1 = 0 there).
 * A 0/0 ratio is 0 and produces a warning, like seqeval's zero_division='warn'; no NaN
 * is ever returned. Means use numpy's pairwise summation so results agree bit for bit.
 */

import { chunkConlleval, chunkStrict, compareCodePoints, isTagScheme, TAG_SCHEMES, type TagScheme } from '../data/tags.js';

export type EntityMetricsMode = 'default' | 'strict';

export interface EntityScoreOptions {
  /** 'default' (conlleval-compatible, seqeval's default) or 'strict' (requires `scheme`). */
  mode?: EntityMetricsMode;
  /** Tagging scheme; required in strict mode. In default mode only 'BILOU' has an effect. */
  scheme?: TagScheme;
  /** Called once per warning (zero divisions, tags that do not look like NE tags). */
  onWarning?: (message: string) => void;
}

export interface TypeScores {
  precision: number;
  recall: number;
  f1: number;
  /** Number of true (gold) entities. */
  support: number;
}

export interface EntityCounts {
  /** Entities both in y_true and in y_pred (same type and span). */
  truePositives: number;
  /** Entities in y_pred. */
  predicted: number;
  /** Entities in y_true. */
  support: number;
}

export interface EntityScores extends TypeScores {
  /** Per entity type. Iterate in `types` order (object key order is not sorted for numeric-looking keys). */
  perType: Record<string, TypeScores>;
  /** Sorted union of the entity types of y_true and y_pred (Python `sorted` order). */
  types: string[];
  macroAvg: TypeScores;
  weightedAvg: TypeScores;
  counts: { total: EntityCounts; perType: Record<string, EntityCounts> };
  /** Warnings (also passed to `onWarning`). */
  warnings: string[];
}

/** A seqeval-style entity: `sentence` is -1 in default mode (positions are global). */
export interface ScoredEntity {
  sentence: number;
  type: string;
  start: number;
  /** Exclusive. */
  end: number;
}

// ---------------------------------------------------------------------------------
// Tag splitting exactly as seqeval does it
// ---------------------------------------------------------------------------------

/** First code point of s (Python's s[0]) and the rest (s[1:]). */
function splitFirst(s: string, where: string): [string, string] {
  if (s.length === 0) throw new Error(`empty tag ${where}`);
  const cp = s.codePointAt(0)!;
  const first = String.fromCodePoint(cp);
  return [first, s.slice(first.length)];
}

/** seqeval get_entities: tag = s[0]; type = s[1:].split('-', 1)[-1] or '_'. */
function splitDefault(s: string, where: string): [string, string] {
  const [first, rest] = splitFirst(s, where);
  const dash = rest.indexOf('-');
  const type = dash < 0 ? rest : rest.slice(dash + 1);
  return [first, type.length > 0 ? type : '_'];
}

/** seqeval Token: prefix = s[0] (must be a known prefix letter); tag = s[1:].strip('-') or '_'. */
function splitStrict(s: string, where: string): [string, string] {
  const [first, rest] = splitFirst(s, where);
  if (!'IOBESUL'.includes(first) || first.length !== 1) {
    throw new Error(`tag ${JSON.stringify(s)} ${where} has an unknown prefix ${JSON.stringify(first)} (known: I, O, B, E, S, U, L)`);
  }
  const type = rest.replace(/^-+/, '').replace(/-+$/, '');
  return [first, type.length > 0 ? type : '_'];
}

/** seqeval's _validate_chunk: does the tag look like an NE tag? */
function looksLikeNeTag(s: string, bilou: boolean): boolean {
  if (s === 'O' || s === 'B' || s === 'I' || s === 'E' || s === 'S') return true;
  if (s.startsWith('B-') || s.startsWith('I-') || s.startsWith('E-') || s.startsWith('S-')) return true;
  return bilou && (s === 'L' || s === 'U' || s.startsWith('L-') || s.startsWith('U-'));
}

function checkShapes(yTrue: readonly (readonly string[])[], yPred: readonly (readonly string[])[]): void {
  if (!Array.isArray(yTrue) || !Array.isArray(yPred)) throw new Error('yTrue and yPred must be arrays of tag arrays');
  let bad = yTrue.length !== yPred.length;
  for (let i = 0; !bad && i < yTrue.length; i++) {
    if (!Array.isArray(yTrue[i]) || !Array.isArray(yPred[i]) || yTrue[i]!.length !== yPred[i]!.length) bad = true;
  }
  if (bad) {
    const lens = (y: readonly (readonly string[])[]) => `[${y.map((s) => (Array.isArray(s) ? s.length : typeof s)).join(', ')}]`;
    throw new Error(`inconsistent numbers of samples: yTrue has sentence lengths ${lens(yTrue)}, yPred ${lens(yPred)}`);
  }
}

// ---------------------------------------------------------------------------------
// Entity extraction
// ---------------------------------------------------------------------------------

/**
 * seqeval's default-mode `get_entities` over many sentences: they are concatenated with
 * an 'O' after each sentence, and entity positions refer to that concatenation
 * (sentence i starts at sum_{k<i}(len_k + 1)). Returns exclusive ends.
 */
export function defaultModeEntities(
  sentences: readonly (readonly string[])[],
  opts: { scheme?: TagScheme; warnings?: Set<string> } = {},
): ScoredEntity[] {
  const bilou = opts.scheme === 'BILOU';
  const prefixes: string[] = [];
  const types: string[] = [];
  sentences.forEach((sent, si) => {
    sent.forEach((tag, ti) => {
      if (typeof tag !== 'string') throw new Error(`tag at sentence ${si}, position ${ti} is not a string`);
      let [p, t] = splitDefault(tag, `at sentence ${si}, position ${ti}`);
      if (!looksLikeNeTag(tag, bilou)) opts.warnings?.add(`${tag} seems not to be NE tag.`);
      if (bilou) p = p === 'L' ? 'E' : p === 'U' ? 'S' : p;
      prefixes.push(p);
      types.push(t);
    });
    prefixes.push('O');
    types.push('_');
  });
  return chunkConlleval(prefixes, types).map((s) => ({ sentence: -1, type: s.type, start: s.start, end: s.end }));
}

/** seqeval's strict-mode entities (`Entities(y, scheme)`), per sentence. */
export function strictModeEntities(sentences: readonly (readonly string[])[], scheme: TagScheme): ScoredEntity[] {
  if (!isTagScheme(scheme)) throw new Error(`strict mode needs a scheme, one of ${TAG_SCHEMES.join(', ')}; got ${JSON.stringify(scheme)}`);
  const out: ScoredEntity[] = [];
  sentences.forEach((sent, si) => {
    const prefixes: string[] = [];
    const types: string[] = [];
    sent.forEach((tag, ti) => {
      if (typeof tag !== 'string') throw new Error(`tag at sentence ${si}, position ${ti} is not a string`);
      const [p, t] = splitStrict(tag, `at sentence ${si}, position ${ti}`);
      prefixes.push(p);
      types.push(t);
    });
    let spans;
    try {
      spans = chunkStrict(prefixes, types, scheme);
    } catch (e) {
      throw new Error(`sentence ${si}: ${(e as Error).message}`);
    }
    for (const s of spans) out.push({ sentence: si, type: s.type, start: s.start, end: s.end });
  });
  return out;
}

/** Extract the entities that `entityScores` compares, for inspection. */
export function extractEntities(sentences: readonly (readonly string[])[], opts: EntityScoreOptions = {}): ScoredEntity[] {
  const mode = opts.mode ?? 'default';
  if (mode === 'strict') return strictModeEntities(sentences, requireScheme(opts.scheme));
  if (mode !== 'default') throw new Error(`unknown mode ${JSON.stringify(mode)}; expected 'default' or 'strict'`);
  return defaultModeEntities(sentences, opts.scheme === undefined ? {} : { scheme: opts.scheme });
}

function requireScheme(scheme: TagScheme | undefined): TagScheme {
  if (scheme === undefined) {
    throw new Error("mode 'strict' requires an explicit scheme (IOB1, IOB2, IOE1, IOE2, IOBES or BILOU)");
  }
  if (!isTagScheme(scheme)) throw new Error(`unknown scheme ${JSON.stringify(scheme)}; expected one of ${TAG_SCHEMES.join(', ')}`);
  return scheme;
}

// ---------------------------------------------------------------------------------
// numpy-exact arithmetic
// ---------------------------------------------------------------------------------

/**
 * numpy's pairwise summation (what np.sum / np.mean use for float64 arrays):
 * n < 8: left-to-right from 0.0; n <= 128: 8 interleaved partial sums combined as
 * ((r0+r1)+(r2+r3))+((r4+r5)+(r6+r7)), then the remainder; larger: split in two
 * halves (first half a multiple of 8) and add.
 */
export function pairwiseSum(a: ArrayLike<number>, offset = 0, n = a.length - offset): number {
  if (n < 8) {
    let res = 0;
    for (let i = 0; i < n; i++) res += a[offset + i]!;
    return res;
  }
  if (n <= 128) {
    const r = [0, 0, 0, 0, 0, 0, 0, 0];
    for (let j = 0; j < 8; j++) r[j] = a[offset + j]!;
    let i = 8;
    for (; i < n - (n % 8); i += 8) for (let j = 0; j < 8; j++) r[j]! += a[offset + i + j]!;
    let res = ((r[0]! + r[1]!) + (r[2]! + r[3]!)) + ((r[4]! + r[5]!) + (r[6]! + r[7]!));
    for (; i < n; i++) res += a[offset + i]!;
    return res;
  }
  let n2 = Math.floor(n / 2);
  n2 -= n2 % 8;
  return pairwiseSum(a, offset, n2) + pairwiseSum(a, offset + n2, n - n2);
}

/** tp/den, or 0 when den = 0 (sklearn's zero_division='warn' value). */
function ratio(num: number, den: number): number {
  return den === 0 ? 0 : num / den;
}

/** F1 exactly as sklearn computes it: (1+β²)·P·R / (β²·P + R) with the 0 denominator replaced by 1. */
function f1Of(p: number, r: number): number {
  const denom = p + r;
  return (2 * p * r) / (denom === 0 ? 1 : denom);
}

function defineKey<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

// ---------------------------------------------------------------------------------
// Scoring
// ---------------------------------------------------------------------------------

/**
 * Entity-level scores of `yPred` against `yTrue` (arrays of sentences of tags),
 * matching Python seqeval. `precision`, `recall`, `f1` are micro averages (seqeval's
 * default `average='micro'`), `support` the number of true entities.
 *
 * Throws if the shapes differ, on empty tag strings, and in strict mode on a missing
 * scheme or a prefix the scheme does not allow.
 */
export function entityScores(
  yTrue: readonly (readonly string[])[],
  yPred: readonly (readonly string[])[],
  opts: EntityScoreOptions = {},
): EntityScores {
  checkShapes(yTrue, yPred);
  const mode = opts.mode ?? 'default';
  const warnSet = new Set<string>();
  let trueEnts: ScoredEntity[];
  let predEnts: ScoredEntity[];
  if (mode === 'strict') {
    const scheme = requireScheme(opts.scheme);
    trueEnts = strictModeEntities(yTrue, scheme);
    predEnts = strictModeEntities(yPred, scheme);
  } else if (mode === 'default') {
    if (opts.scheme !== undefined && !isTagScheme(opts.scheme)) {
      throw new Error(`unknown scheme ${JSON.stringify(opts.scheme)}; expected one of ${TAG_SCHEMES.join(', ')}`);
    }
    const o = opts.scheme === undefined ? { warnings: warnSet } : { scheme: opts.scheme, warnings: warnSet };
    trueEnts = defaultModeEntities(yTrue, o);
    predEnts = defaultModeEntities(yPred, o);
  } else {
    throw new Error(`unknown mode ${JSON.stringify(mode)}; expected 'default' or 'strict'`);
  }
  return scoreEntities(trueEnts, predEnts, warnSet, opts.onWarning);
}

/**
 * Per-tag precision, recall and F1 of plain tags (POS tags and the like: no entities), as
 * scikit-learn's classification report over the tokens: every token is an "entity" of its tag,
 * one token long. The micro precision, recall and F1 all equal the accuracy (every token is
 * predicted once and is gold once).
 */
export function tokenScores(
  yTrue: readonly (readonly string[])[],
  yPred: readonly (readonly string[])[],
  opts: Pick<EntityScoreOptions, 'onWarning'> = {},
): EntityScores {
  checkShapes(yTrue, yPred);
  const tokens = (ys: readonly (readonly string[])[]): ScoredEntity[] =>
    ys.flatMap((tags, sentence) => tags.map((type, start) => ({ sentence, type, start, end: start + 1 })));
  return scoreEntities(tokens(yTrue), tokens(yPred), new Set<string>(), opts.onWarning);
}

/** Scores of predicted against true entities (equal: same sentence, type and span), by type and averaged. */
function scoreEntities(trueEnts: ScoredEntity[], predEnts: ScoredEntity[], warnSet: Set<string>, onWarning: ((message: string) => void) | undefined): EntityScores {
  // Group entity identities (sentence, start, end) by type, as sets.
  const group = (ents: ScoredEntity[]): Map<string, Set<string>> => {
    const m = new Map<string, Set<string>>();
    for (const e of ents) {
      let s = m.get(e.type);
      if (s === undefined) m.set(e.type, (s = new Set()));
      s.add(`${e.sentence},${e.start},${e.end}`);
    }
    return m;
  };
  const gTrue = group(trueEnts);
  const gPred = group(predEnts);
  const types = [...new Set([...gTrue.keys(), ...gPred.keys()])].sort(compareCodePoints);

  const ps: number[] = [];
  const rs: number[] = [];
  const fs: number[] = [];
  const sup: number[] = [];
  const perType: Record<string, TypeScores> = {};
  const perTypeCounts: Record<string, EntityCounts> = {};
  let tpSum = 0;
  let predSum = 0;
  let trueSum = 0;
  const noPred: string[] = [];
  const noTrue: string[] = [];
  for (const type of types) {
    const t = gTrue.get(type) ?? new Set<string>();
    const p = gPred.get(type) ?? new Set<string>();
    let tp = 0;
    for (const k of p) if (t.has(k)) tp++;
    const precision = ratio(tp, p.size);
    const recall = ratio(tp, t.size);
    const f1 = f1Of(precision, recall);
    if (p.size === 0) noPred.push(type);
    if (t.size === 0) noTrue.push(type);
    defineKey(perType, type, { precision, recall, f1, support: t.size });
    defineKey(perTypeCounts, type, { truePositives: tp, predicted: p.size, support: t.size });
    ps.push(precision);
    rs.push(recall);
    fs.push(f1);
    sup.push(t.size);
    tpSum += tp;
    predSum += p.size;
    trueSum += t.size;
  }

  // Warnings, in the spirit of sklearn's UndefinedMetricWarning.
  if (predSum === 0) warnSet.add('Precision is ill-defined and being set to 0.0 due to no predicted samples.');
  else if (noPred.length > 0) warnSet.add(`Precision is ill-defined and being set to 0.0 in labels with no predicted samples: ${noPred.join(', ')}.`);
  if (trueSum === 0) warnSet.add('Recall is ill-defined and being set to 0.0 due to no true samples.');
  else if (noTrue.length > 0) warnSet.add(`Recall is ill-defined and being set to 0.0 in labels with no true samples: ${noTrue.join(', ')}.`);

  // micro
  const precision = ratio(tpSum, predSum);
  const recall = ratio(tpSum, trueSum);
  const f1 = f1Of(precision, recall);

  // macro: np.average over types (seqeval gives NaN with no types at all; we give 0).
  const n = types.length;
  if (n === 0) warnSet.add('No entities in yTrue or yPred: macro and weighted averages are set to 0.0 (seqeval would give nan for the macro average).');
  const mean = (a: number[]): number => (n === 0 ? 0 : pairwiseSum(a) / n);
  const macroAvg: TypeScores = { precision: mean(ps), recall: mean(rs), f1: mean(fs), support: trueSum };

  // weighted by support: sum(x_i * s_i) / sum(s_i); all 0 when there is no true entity.
  const wmean = (a: number[]): number => {
    if (trueSum === 0) return 0;
    return pairwiseSum(a.map((x, i) => x * sup[i]!)) / pairwiseSum(sup);
  };
  const weightedAvg: TypeScores = { precision: wmean(ps), recall: wmean(rs), f1: wmean(fs), support: trueSum };

  const warnings = [...warnSet];
  if (onWarning) for (const w of warnings) onWarning(w);
  return {
    precision,
    recall,
    f1,
    support: trueSum,
    perType,
    types,
    macroAvg,
    weightedAvg,
    counts: { total: { truePositives: tpSum, predicted: predSum, support: trueSum }, perType: perTypeCounts },
    warnings,
  };
}

// ---------------------------------------------------------------------------------
// Report formatting
// ---------------------------------------------------------------------------------

/**
 * Python's `format(x, '.{digits}f')`: round the exact binary value half-to-even
 * (JS toFixed rounds exact ties up, e.g. 0.125 → "0.13" where Python gives "0.12").
 */
export function formatFixed(x: number, digits: number): string {
  if (!Number.isInteger(digits) || digits < 0 || digits > 100) throw new Error(`digits must be an integer in [0, 100], got ${digits}`);
  if (Number.isNaN(x)) return 'nan';
  if (!Number.isFinite(x)) return x > 0 ? 'inf' : '-inf';
  const neg = x < 0 || Object.is(x, -0);
  const ax = Math.abs(x);
  // ax = mant · 2^exp exactly.
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, ax);
  const hi = view.getUint32(0);
  const lo = view.getUint32(4);
  const bexp = (hi >>> 20) & 0x7ff;
  let mant = (BigInt(hi & 0xfffff) << 32n) | BigInt(lo);
  let exp: number;
  if (bexp === 0) exp = -1074;
  else {
    mant |= 1n << 52n;
    exp = bexp - 1075;
  }
  const scale = 10n ** BigInt(digits);
  let q: bigint;
  if (exp >= 0) q = (mant << BigInt(exp)) * scale;
  else {
    const num = mant * scale;
    const den = 1n << BigInt(-exp);
    q = num / den;
    const twice = 2n * (num % den);
    if (twice > den || (twice === den && q % 2n === 1n)) q += 1n;
  }
  let s = q.toString();
  if (digits > 0) {
    s = s.padStart(digits + 1, '0');
    s = `${s.slice(0, s.length - digits)}.${s.slice(s.length - digits)}`;
  }
  return neg ? `-${s}` : s;
}

/** Right-align by code points (Python's `{:>w}`). */
function rjust(s: string, width: number): string {
  const len = [...s].length;
  return len >= width ? s : ' '.repeat(width - len) + s;
}

/**
 * seqeval's text report for computed scores: one row per type (sorted), then micro,
 * macro and weighted averages. Byte-identical to seqeval's `classification_report`
 * (including the trailing newline), except that with no entities at all seqeval
 * raises while this prints the averages as 0.
 */
export function formatClassificationReport(scores: EntityScores, digits = 2): string {
  const avgNames = ['micro avg', 'macro avg', 'weighted avg'];
  const nameWidth = Math.max(0, ...scores.types.map((t) => [...t].length));
  const width = Math.max(nameWidth, 'weighted avg'.length, digits);
  const header = `${rjust('', width)} ` + ['precision', 'recall', 'f1-score', 'support'].map((h) => ` ${rjust(h, 9)}`).join('');
  const row = (name: string, s: TypeScores): string =>
    `${rjust(name, width)} ` + [s.precision, s.recall, s.f1].map((v) => ` ${rjust(formatFixed(v, digits), 9)}`).join('') + ` ${rjust(String(s.support), 9)}`;
  const lines: string[] = [];
  for (const t of scores.types) lines.push(row(t, scores.perType[t]!));
  lines.push('');
  const micro: TypeScores = { precision: scores.precision, recall: scores.recall, f1: scores.f1, support: scores.support };
  [micro, scores.macroAvg, scores.weightedAvg].forEach((s, i) => lines.push(row(avgNames[i]!, s)));
  lines.push('');
  return `${header}\n\n${lines.join('\n')}`;
}

/** `entityScores` + `formatClassificationReport` (seqeval's `classification_report`). */
export function classificationReport(
  yTrue: readonly (readonly string[])[],
  yPred: readonly (readonly string[])[],
  opts: EntityScoreOptions & { digits?: number } = {},
): string {
  return formatClassificationReport(entityScores(yTrue, yPred, opts), opts.digits ?? 2);
}
