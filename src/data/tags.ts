/**
 * Tagging schemes for chunking / named-entity recognition.
 *
 * A tag is either `O` (outside any entity) or `<P>-<type>` where the prefix P marks
 * the token's position inside an entity and `type` is the entity class (it may itself
 * contain '-', e.g. WNUT's `B-creative-work`). The schemes differ in which prefixes
 * they use and where:
 *
 *   scheme  prefixes     entity "Barack Obama" (PER) followed by "Hawaii" (LOC)
 *   IOB1    I O B        I-PER I-PER I-LOC   B only when an entity directly follows
 *                                            another entity of the SAME type
 *   IOB2    I O B        B-PER I-PER B-LOC   (a.k.a. BIO) every entity starts with B
 *   IOE1    I O E        I-PER I-PER I-LOC   E only when an entity is directly followed
 *                                            by another entity of the SAME type
 *   IOE2    I O E        I-PER E-PER E-LOC   every entity ends with E
 *   IOBES   I O B E S    B-PER E-PER S-LOC   S = single-token entity
 *   BILOU   B I L O U    B-PER L-PER U-LOC   L = last, U = unit (= IOBES with E→L, S→U)
 *
 * Conversions go through entity spans: `tagsToSpans(tags, from)` then
 * `spansToTags(spans, n, to)`. Decoding is lenient by default (conlleval rules, so an
 * `I-X` without a preceding `B-X` still opens an entity); `{ strict: true }` uses
 * seqeval's strict rules instead (ill-formed entities are dropped).
 *
 * This module is pure (no Node APIs) and also holds the two chunking algorithms used
 * by `models/entity-metrics.ts` to reproduce Python seqeval exactly.
 */

export type TagScheme = 'IOB1' | 'IOB2' | 'IOE1' | 'IOE2' | 'IOBES' | 'BILOU';
export const TAG_SCHEMES: readonly TagScheme[] = ['IOB1', 'IOB2', 'IOE1', 'IOE2', 'IOBES', 'BILOU'];

export type TagPrefix = 'O' | 'B' | 'I' | 'E' | 'S' | 'L' | 'U';

/** A parsed tag: `O` has type ''. */
export interface ParsedTag {
  prefix: TagPrefix;
  type: string;
}

/** An entity span over token positions [start, end) (end exclusive). */
export interface EntitySpan {
  type: string;
  start: number;
  end: number;
}

/** The prefixes each scheme may use (including O). */
export const SCHEME_PREFIXES: Readonly<Record<TagScheme, readonly TagPrefix[]>> = {
  IOB1: ['O', 'B', 'I'],
  IOB2: ['O', 'B', 'I'],
  IOE1: ['O', 'I', 'E'],
  IOE2: ['O', 'I', 'E'],
  IOBES: ['O', 'B', 'I', 'E', 'S'],
  BILOU: ['O', 'B', 'I', 'L', 'U'],
};

export function isTagScheme(s: unknown): s is TagScheme {
  return typeof s === 'string' && (TAG_SCHEMES as readonly string[]).includes(s);
}

function assertScheme(scheme: TagScheme): void {
  if (!isTagScheme(scheme)) throw new Error(`unknown tag scheme ${JSON.stringify(scheme)}; expected one of ${TAG_SCHEMES.join(', ')}`);
}

/** Why `tag` is not a well-formed entity tag, or null if it is. */
export function tagFormatError(tag: string): string | null {
  if (tag === 'O') return null;
  if (tag.length === 0) return 'empty tag';
  const dash = tag.indexOf('-');
  if (dash < 0) return `tag ${JSON.stringify(tag)} is neither "O" nor "<prefix>-<type>"`;
  const p = tag.slice(0, dash);
  if (p.length !== 1 || !'BIESLU'.includes(p)) {
    return `tag ${JSON.stringify(tag)} has unknown prefix ${JSON.stringify(p)} (expected one of B, I, E, S, L, U, or the tag "O")`;
  }
  if (dash === tag.length - 1) return `tag ${JSON.stringify(tag)} has an empty entity type`;
  return null;
}

/** Parse `O` or `<B|I|E|S|L|U>-<type>`; throws on anything else (e.g. `X-PER`, `B-`, `B`). */
export function parseTag(tag: string): ParsedTag {
  const err = tagFormatError(tag);
  if (err !== null) throw new Error(err);
  if (tag === 'O') return { prefix: 'O', type: '' };
  return { prefix: tag[0] as TagPrefix, type: tag.slice(2) };
}

/** Inverse of parseTag. */
export function formatTag(prefix: TagPrefix, type: string): string {
  return prefix === 'O' ? 'O' : `${prefix}-${type}`;
}

/** Entity types (sorted) that occur in a tag set or in tag sequences. */
export function entityTypes(tags: Iterable<string>): string[] {
  const s = new Set<string>();
  for (const t of tags) {
    const p = parseTag(t);
    if (p.prefix !== 'O') s.add(p.type);
  }
  return [...s].sort(compareCodePoints);
}

/** Compare strings by Unicode code points (Python's `sorted` order for str). */
export function compareCodePoints(a: string, b: string): number {
  if (a === b) return 0;
  const ia = a[Symbol.iterator]();
  const ib = b[Symbol.iterator]();
  for (;;) {
    const x = ia.next();
    const y = ib.next();
    if (x.done) return y.done ? 0 : -1;
    if (y.done) return 1;
    const cx = x.value.codePointAt(0)!;
    const cy = y.value.codePointAt(0)!;
    if (cx !== cy) return cx < cy ? -1 : 1;
  }
}

// ---------------------------------------------------------------------------------
// Chunking algorithms. Both work on pre-split (prefix letter, type) arrays so that the
// caller decides how a raw tag string is split (entity-metrics splits exactly like
// seqeval; tagsToSpans uses parseTag).
// ---------------------------------------------------------------------------------

/**
 * conlleval-compatible chunking (seqeval's default-mode `get_entities`).
 *
 * Scan the sequence followed by one sentinel ('O', '_'), keeping the previous
 * (prefix, type) — initially ('O', '') — and at each position i:
 *   chunk ends before i   if prev ∈ {E, S}; or (prev, cur) ∈ {B,I} × {B, S, O};
 *                         or prev ∉ {O, '.'} and the type changes;
 *   chunk starts at i     if cur ∈ {B, S}; or (prev, cur) ∈ {E, S, O} × {E, I};
 *                         or cur ∉ {O, '.'} and the type changes.
 * An end emits (prevType, begin, i-1); a start sets begin = i. Note that an `I-X`
 * after `O` starts a chunk (no B needed) and a type change inside a span splits it.
 * Prefix letters other than B I E S O '.' (e.g. BILOU's L, U) are not special: they
 * only start/end chunks through the type-change rules.
 *
 * Returns spans with exclusive ends.
 */
export function chunkConlleval(prefixes: readonly string[], types: readonly string[]): EntitySpan[] {
  const n = prefixes.length;
  const out: EntitySpan[] = [];
  let prevTag = 'O';
  let prevType = '';
  let begin = 0;
  for (let i = 0; i <= n; i++) {
    const tag = i < n ? prefixes[i]! : 'O';
    const type = i < n ? types[i]! : '_';
    if (endOfChunk(prevTag, tag, prevType, type)) out.push({ type: prevType, start: begin, end: i });
    if (startOfChunk(prevTag, tag, prevType, type)) begin = i;
    prevTag = tag;
    prevType = type;
  }
  return out;
}

function endOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if (prevTag === 'E' || prevTag === 'S') return true;
  if ((prevTag === 'B' || prevTag === 'I') && (tag === 'B' || tag === 'S' || tag === 'O')) return true;
  return prevTag !== 'O' && prevTag !== '.' && prevType !== type;
}

function startOfChunk(prevTag: string, tag: string, prevType: string, type: string): boolean {
  if (tag === 'B' || tag === 'S') return true;
  if ((prevTag === 'E' || prevTag === 'S' || prevTag === 'O') && (tag === 'E' || tag === 'I')) return true;
  return tag !== 'O' && tag !== '.' && prevType !== type;
}

/** One rule of seqeval's strict pattern sets: (previous prefixes, current prefixes, type condition). */
type Rule = readonly [prev: string, cur: string, cond: 'ANY' | 'SAME' | 'DIFF'];
interface StrictRules {
  start: readonly Rule[];
  inside: readonly Rule[];
  end: readonly Rule[];
}
const ANY = 'IOBESUL';

/**
 * seqeval's strict-mode rules (seqeval/scheme.py), one table per scheme:
 *   start(prev, cur)  — cur opens an entity;
 *   inside(prev, cur) — cur continues the entity prev belongs to;
 *   end(prev, cur)    — prev was a proper last token of an entity (cur may be the sentinel O).
 */
const STRICT_RULES: Readonly<Record<TagScheme, StrictRules>> = {
  IOB1: {
    start: [['O', 'I', 'ANY'], ['I', 'I', 'DIFF'], ['B', 'I', 'ANY'], ['I', 'B', 'SAME'], ['B', 'B', 'SAME']],
    inside: [['B', 'I', 'SAME'], ['I', 'I', 'SAME']],
    end: [['I', 'I', 'DIFF'], ['I', 'O', 'ANY'], ['I', 'B', 'ANY'], ['B', 'O', 'ANY'], ['B', 'I', 'DIFF'], ['B', 'B', 'SAME']],
  },
  IOE1: {
    start: [['O', 'I', 'ANY'], ['I', 'I', 'DIFF'], ['E', 'I', 'ANY'], ['E', 'E', 'SAME']],
    inside: [['I', 'I', 'SAME'], ['I', 'E', 'SAME']],
    end: [['I', 'I', 'DIFF'], ['I', 'O', 'ANY'], ['I', 'E', 'DIFF'], ['E', 'I', 'SAME'], ['E', 'E', 'SAME']],
  },
  IOB2: {
    start: [[ANY, 'B', 'ANY']],
    inside: [['B', 'I', 'SAME'], ['I', 'I', 'SAME']],
    end: [['I', 'O', 'ANY'], ['I', 'I', 'DIFF'], ['I', 'B', 'ANY'], ['B', 'O', 'ANY'], ['B', 'I', 'DIFF'], ['B', 'B', 'ANY']],
  },
  IOE2: {
    start: [['O', 'I', 'ANY'], ['O', 'E', 'ANY'], ['E', 'I', 'ANY'], ['E', 'E', 'ANY'], ['I', 'I', 'DIFF'], ['I', 'E', 'DIFF']],
    inside: [['I', 'E', 'SAME'], ['I', 'I', 'SAME']],
    end: [['E', ANY, 'ANY']],
  },
  IOBES: {
    start: [[ANY, 'B', 'ANY'], [ANY, 'S', 'ANY']],
    inside: [['B', 'I', 'SAME'], ['B', 'E', 'SAME'], ['I', 'I', 'SAME'], ['I', 'E', 'SAME']],
    end: [['S', ANY, 'ANY'], ['E', ANY, 'ANY']],
  },
  BILOU: {
    start: [[ANY, 'B', 'ANY'], [ANY, 'U', 'ANY']],
    inside: [['B', 'I', 'SAME'], ['B', 'L', 'SAME'], ['I', 'I', 'SAME'], ['I', 'L', 'SAME']],
    end: [['U', ANY, 'ANY'], ['L', ANY, 'ANY']],
  },
};

function matches(rules: readonly Rule[], pp: string, pt: string, cp: string, ct: string): boolean {
  for (const [prev, cur, cond] of rules) {
    if (!prev.includes(pp) || !cur.includes(cp)) continue;
    if (cond === 'ANY' || (cond === 'SAME') === (pt === ct)) return true;
  }
  return false;
}

/**
 * seqeval's strict-mode entity extraction (`Tokens.entities`) for ONE sentence.
 *
 * Append a sentinel O. With i = 0 and prev = O: if token i starts an entity (start
 * rules vs prev), walk j = i+1, i+2, ... while token j is "inside" relative to token
 * j-1; the walk stops at the first non-inside j (at the latest the sentinel). The span
 * [i, j) is an entity only if end(token j-1, token j) holds; either way scanning
 * resumes at j with prev = token j-1. Otherwise i advances by one. So ill-formed
 * spans (e.g. IOB2 `I-X` without `B-X`, IOBES `B-X` without `E-X`) are dropped.
 *
 * Every prefix must be allowed by the scheme, otherwise this throws (like seqeval).
 */
export function chunkStrict(prefixes: readonly string[], types: readonly string[], scheme: TagScheme): EntitySpan[] {
  assertScheme(scheme);
  const rules = STRICT_RULES[scheme];
  const allowed = SCHEME_PREFIXES[scheme] as readonly string[];
  const n = prefixes.length;
  for (let i = 0; i < n; i++) {
    if (!allowed.includes(prefixes[i]!)) {
      throw new Error(`invalid prefix ${JSON.stringify(prefixes[i])} at position ${i} for scheme ${scheme} (allowed: ${allowed.join(', ')})`);
    }
  }
  const p = (k: number): string => (k < n ? prefixes[k]! : 'O');
  const t = (k: number): string => (k < n ? types[k]! : '_');
  const out: EntitySpan[] = [];
  let i = 0;
  let pp = 'O';
  let pt = '_';
  while (i <= n) {
    if (matches(rules.start, pp, pt, p(i), t(i))) {
      let j = i + 1;
      // The sentinel O is never "inside", so this stops at j <= n.
      while (j <= n && matches(rules.inside, p(j - 1), t(j - 1), p(j), t(j))) j++;
      if (matches(rules.end, p(j - 1), t(j - 1), p(j), t(j))) out.push({ type: t(i), start: i, end: j });
      i = j;
    } else {
      i++;
    }
    pp = p(i - 1);
    pt = t(i - 1);
  }
  return out;
}

// ---------------------------------------------------------------------------------
// Public span <-> tag conversions
// ---------------------------------------------------------------------------------

export interface TagsToSpansOptions {
  /** Use seqeval's strict rules (drop ill-formed entities). Default false: conlleval rules. */
  strict?: boolean;
}

/**
 * Decode one sentence's tags (in `scheme`) into entity spans. Tags must be well-formed
 * (`parseTag`) and use only the scheme's prefixes.
 *
 * Lenient mode (default) uses the conlleval chunking rules (BILOU's L/U are read as E/S),
 * which decode every well-formed sequence of every scheme correctly and repair
 * ill-formed ones the way conlleval/seqeval's default mode does (e.g. a stray `I-X`
 * opens an entity). Strict mode drops ill-formed entities exactly like seqeval.
 */
export function tagsToSpans(tags: readonly string[], scheme: TagScheme, opts: TagsToSpansOptions = {}): EntitySpan[] {
  assertScheme(scheme);
  const allowed = SCHEME_PREFIXES[scheme];
  const prefixes: string[] = new Array(tags.length);
  const types: string[] = new Array(tags.length);
  for (let i = 0; i < tags.length; i++) {
    const err = tagFormatError(tags[i]!);
    if (err !== null) throw new Error(`position ${i}: ${err}`);
    const { prefix, type } = parseTag(tags[i]!);
    if (!allowed.includes(prefix)) throw new Error(`position ${i}: tag ${JSON.stringify(tags[i])} is not valid in scheme ${scheme} (prefixes ${allowed.join(', ')})`);
    prefixes[i] = prefix;
    types[i] = prefix === 'O' ? '_' : type;
  }
  if (opts.strict) return chunkStrict(prefixes, types, scheme);
  if (scheme === 'BILOU') {
    for (let i = 0; i < prefixes.length; i++) {
      if (prefixes[i] === 'L') prefixes[i] = 'E';
      else if (prefixes[i] === 'U') prefixes[i] = 'S';
    }
  }
  return chunkConlleval(prefixes, types);
}

/**
 * Encode non-overlapping entity spans over n tokens in `scheme`. Spans may be given
 * in any order; they must satisfy 0 <= start < end <= n, have a non-empty type, and
 * not overlap.
 */
export function spansToTags(spans: readonly EntitySpan[], n: number, scheme: TagScheme): string[] {
  assertScheme(scheme);
  const sorted = [...spans].sort((a, b) => a.start - b.start);
  const tags: string[] = new Array(n).fill('O');
  let lastEnd = 0;
  for (let k = 0; k < sorted.length; k++) {
    const s = sorted[k]!;
    if (!Number.isInteger(s.start) || !Number.isInteger(s.end) || s.start < 0 || s.end > n || s.start >= s.end) {
      throw new Error(`invalid span ${JSON.stringify(s)} for a sentence of ${n} tokens`);
    }
    if (s.start < lastEnd) throw new Error(`overlapping spans: ${JSON.stringify(sorted[k - 1])} and ${JSON.stringify(s)}`);
    if (s.type.length === 0) throw new Error(`span ${JSON.stringify(s)} has an empty type`);
    lastEnd = s.end;
    const prev = sorted[k - 1];
    const next = sorted[k + 1];
    // Adjacent to an entity of the same type? (IOB1 / IOE1 only mark those boundaries.)
    const sameBefore = prev !== undefined && prev.end === s.start && prev.type === s.type;
    const sameAfter = next !== undefined && next.start === s.end && next.type === s.type;
    const len = s.end - s.start;
    for (let i = s.start; i < s.end; i++) tags[i] = formatTag('I', s.type);
    const first = s.start;
    const last = s.end - 1;
    switch (scheme) {
      case 'IOB1':
        if (sameBefore) tags[first] = formatTag('B', s.type);
        break;
      case 'IOB2':
        tags[first] = formatTag('B', s.type);
        break;
      case 'IOE1':
        if (sameAfter) tags[last] = formatTag('E', s.type);
        break;
      case 'IOE2':
        tags[last] = formatTag('E', s.type);
        break;
      case 'IOBES':
      case 'BILOU': {
        const [b, e, single] = scheme === 'IOBES' ? (['B', 'E', 'S'] as const) : (['B', 'L', 'U'] as const);
        if (len === 1) tags[first] = formatTag(single, s.type);
        else {
          tags[first] = formatTag(b, s.type);
          tags[last] = formatTag(e, s.type);
        }
        break;
      }
    }
  }
  return tags;
}

/** Convert one sentence's tags between schemes (lenient decoding of the source). */
export function convertTags(tags: readonly string[], from: TagScheme, to: TagScheme): string[] {
  return spansToTags(tagsToSpans(tags, from), tags.length, to);
}

/** Convert many sentences between schemes. */
export function convertSentences(sentences: readonly (readonly string[])[], from: TagScheme, to: TagScheme): string[][] {
  return sentences.map((s) => convertTags(s, from, to));
}

// ---------------------------------------------------------------------------------
// Scheme detection
// ---------------------------------------------------------------------------------

/**
 * Guess the scheme of tagged sentences.
 *  - any L or U prefix → BILOU; any S, or both B and E → IOBES;
 *  - B/I only: an `I-X` that opens an entity (after O, another type, or at sentence
 *    start) is IOB1 evidence; a `B-X` that does not follow X is IOB2 evidence. IOB1 if
 *    its evidence outweighs IOB2's, else IOB2 (also the default with no evidence).
 *  - E/I only: an `I-X` that ends an entity (followed by O, another type, or sentence
 *    end) is IOE1 evidence; an `E-X` not followed by X is IOE2 evidence; likewise.
 * CoNLL-2003's eng.train is detected as IOB1. Throws on malformed tags.
 */
export function detectScheme(sentences: readonly (readonly string[])[]): TagScheme {
  const seen = new Set<TagPrefix>();
  let iob1 = 0;
  let iob2 = 0;
  let ioe1 = 0;
  let ioe2 = 0;
  for (const sent of sentences) {
    const parsed = sent.map(parseTag);
    for (let i = 0; i < parsed.length; i++) {
      const cur = parsed[i]!;
      seen.add(cur.prefix);
      const prev = i > 0 ? parsed[i - 1]! : undefined;
      const next = i + 1 < parsed.length ? parsed[i + 1]! : undefined;
      const prevSame = prev !== undefined && prev.prefix !== 'O' && prev.type === cur.type;
      const nextSame = next !== undefined && next.prefix !== 'O' && next.type === cur.type;
      if (cur.prefix === 'I' && !prevSame) iob1++;
      if (cur.prefix === 'B' && !prevSame) iob2++;
      if (cur.prefix === 'I' && !nextSame) ioe1++;
      if (cur.prefix === 'E' && !nextSame) ioe2++;
    }
  }
  if (seen.has('L') || seen.has('U')) return 'BILOU';
  if (seen.has('S') || (seen.has('B') && seen.has('E'))) return 'IOBES';
  if (seen.has('E')) return ioe1 > ioe2 ? 'IOE1' : 'IOE2';
  return iob1 > iob2 ? 'IOB1' : 'IOB2';
}

// ---------------------------------------------------------------------------------
// Allowed transitions (CRF constraints)
// ---------------------------------------------------------------------------------

/**
 * Which labels may start / end a sentence and which label may follow which, for
 * well-formed sequences of `scheme`. Layout matches `models/crf.ts`:
 * `transitions[i * K + j] = 1` iff labels[j] may directly follow labels[i].
 */
export interface TransitionTable {
  labels: string[];
  start: Uint8Array;
  end: Uint8Array;
  transitions: Uint8Array;
}

/** May a sentence start with tag `c`? */
function canStart(scheme: TagScheme, c: ParsedTag): boolean {
  switch (scheme) {
    case 'IOB1': return c.prefix !== 'B'; // B only after an entity of the same type
    case 'IOB2': return c.prefix !== 'I';
    case 'IOE1':
    case 'IOE2': return true;
    case 'IOBES': return c.prefix === 'O' || c.prefix === 'B' || c.prefix === 'S';
    case 'BILOU': return c.prefix === 'O' || c.prefix === 'B' || c.prefix === 'U';
  }
}

/** May a sentence end with tag `p`? */
function canEnd(scheme: TagScheme, p: ParsedTag): boolean {
  switch (scheme) {
    case 'IOB1':
    case 'IOB2': return true;
    case 'IOE1': return p.prefix !== 'E'; // E only before an entity of the same type
    case 'IOE2': return p.prefix !== 'I';
    case 'IOBES': return p.prefix === 'O' || p.prefix === 'E' || p.prefix === 'S';
    case 'BILOU': return p.prefix === 'O' || p.prefix === 'L' || p.prefix === 'U';
  }
}

/** May tag `c` directly follow tag `p`? */
function canFollow(scheme: TagScheme, p: ParsedTag, c: ParsedTag): boolean {
  const same = p.prefix !== 'O' && c.prefix !== 'O' && p.type === c.type;
  switch (scheme) {
    case 'IOB1':
      // B-X only right after X (a new entity adjacent to one of the same type).
      return c.prefix !== 'B' || same;
    case 'IOB2':
      // I-X only continues an X entity.
      return c.prefix !== 'I' || same;
    case 'IOE1':
      // E-X is only used when the next token starts another X entity (I-X, or E-X if
      // that entity is a single token followed by yet another X entity).
      if (p.prefix === 'E') return (c.prefix === 'I' || c.prefix === 'E') && same;
      return true;
    case 'IOE2':
      // After I-X must come I-X or E-X (the entity is not finished yet).
      if (p.prefix === 'I') return (c.prefix === 'I' || c.prefix === 'E') && same;
      return true;
    case 'IOBES':
    case 'BILOU': {
      const [b, e, single] = scheme === 'IOBES' ? ['B', 'E', 'S'] : ['B', 'L', 'U'];
      const open = p.prefix === b || p.prefix === 'I'; // inside an unfinished multi-token entity
      const continues = c.prefix === 'I' || c.prefix === e;
      if (open) return continues && same;
      return c.prefix === 'O' || c.prefix === b || c.prefix === single;
    }
  }
}

/**
 * Allowed-transition table for `labels` under `scheme` (for CRF constraints).
 * Every label must be a well-formed tag with a prefix of the scheme.
 */
export function allowedTransitions(labels: readonly string[], scheme: TagScheme): TransitionTable {
  assertScheme(scheme);
  const allowed = SCHEME_PREFIXES[scheme];
  const parsed = labels.map((l, k) => {
    const err = tagFormatError(l);
    if (err !== null) throw new Error(`label ${k}: ${err}`);
    const p = parseTag(l);
    if (!allowed.includes(p.prefix)) throw new Error(`label ${k} (${JSON.stringify(l)}) is not valid in scheme ${scheme}`);
    return p;
  });
  const K = labels.length;
  const start = new Uint8Array(K);
  const end = new Uint8Array(K);
  const transitions = new Uint8Array(K * K);
  for (let i = 0; i < K; i++) {
    start[i] = canStart(scheme, parsed[i]!) ? 1 : 0;
    end[i] = canEnd(scheme, parsed[i]!) ? 1 : 0;
    for (let j = 0; j < K; j++) transitions[i * K + j] = canFollow(scheme, parsed[i]!, parsed[j]!) ? 1 : 0;
  }
  return { labels: [...labels], start, end, transitions };
}

/** Is `tags` a well-formed sequence of `scheme` (every transition allowed)? */
export function isWellFormed(tags: readonly string[], scheme: TagScheme): boolean {
  assertScheme(scheme);
  const allowed = SCHEME_PREFIXES[scheme];
  const parsed: ParsedTag[] = [];
  for (const t of tags) {
    if (tagFormatError(t) !== null) return false;
    const p = parseTag(t);
    if (!allowed.includes(p.prefix)) return false;
    parsed.push(p);
  }
  if (parsed.length === 0) return true;
  if (!canStart(scheme, parsed[0]!) || !canEnd(scheme, parsed[parsed.length - 1]!)) return false;
  for (let i = 1; i < parsed.length; i++) if (!canFollow(scheme, parsed[i - 1]!, parsed[i]!)) return false;
  return true;
}
