// Vocabularies: token ↔ id maps. Pure logic, no Node imports (browser-safe).
//
// Vocab (words):  id 0 = "<pad>", id 1 = "<unk>" (out of vocabulary), then tokens by
//   frequency, highest first; ties are broken by code-unit order of the token ("a" < "b"),
//   so the vocabulary does not depend on the order of the training texts.
// CharVocab (characters, for char-level LMs): the distinct code points of a text, sorted by
//   code point, ids 0..V-1 (no padding id: LM batches are full windows). An optional unknown
//   character takes id 0 when asked for.
import { parseObject } from './text.js';

export const PAD_ID = 0;
export const UNK_ID = 1;
export const PAD_TOKEN = '<pad>';
export const UNK_TOKEN = '<unk>';

export interface VocabBuildOptions {
  /** Largest vocabulary size V, counting <pad> and <unk> (default: no limit). */
  maxSize?: number;
  /** Tokens seen fewer times than this are left out and map to <unk> (default 1). */
  minFreq?: number;
}

export interface VocabJSON {
  kind: 'vocab';
  version: 1;
  /** tokens[id]; tokens[0] = "<pad>", tokens[1] = "<unk>". */
  tokens: string[];
}

export class Vocab {
  /** id → token. */
  readonly tokens: readonly string[];
  private readonly index: Map<string, number>;

  /** From an id-ordered token list that starts with "<pad>", "<unk>" (see `build`). */
  constructor(tokens: readonly string[]) {
    const where = 'Vocab';
    if (tokens[PAD_ID] !== PAD_TOKEN || tokens[UNK_ID] !== UNK_TOKEN) {
      throw new Error(`${where}: tokens must start with "${PAD_TOKEN}", "${UNK_TOKEN}" (ids 0 and 1), got ${JSON.stringify(tokens.slice(0, 2))}`);
    }
    const index = new Map<string, number>();
    tokens.forEach((t, i) => {
      if (typeof t !== 'string') throw new Error(`${where}: token ${i} is not a string (${JSON.stringify(t)})`);
      if (index.has(t)) throw new Error(`${where}: token ${JSON.stringify(t)} appears twice (ids ${index.get(t)} and ${i})`);
      index.set(t, i);
    });
    this.tokens = Object.freeze([...tokens]);
    this.index = index;
  }

  /** Counts tokens over any number of token streams (e.g. one per text) and keeps the most frequent. */
  static build(streams: Iterable<Iterable<string>>, options: VocabBuildOptions = {}): Vocab {
    const maxSize = options.maxSize ?? Infinity;
    const minFreq = options.minFreq ?? 1;
    if (!(maxSize >= 2) || (maxSize !== Infinity && !Number.isInteger(maxSize))) {
      throw new RangeError(`Vocab.build: maxSize must be an integer ≥ 2 (it counts <pad> and <unk>), got ${maxSize}`);
    }
    if (!(Number.isInteger(minFreq) && minFreq >= 1)) throw new RangeError(`Vocab.build: minFreq must be an integer ≥ 1, got ${minFreq}`);
    const counts = new Map<string, number>();
    for (const stream of streams) {
      for (const t of stream) counts.set(t, (counts.get(t) ?? 0) + 1);
    }
    counts.delete(PAD_TOKEN);
    counts.delete(UNK_TOKEN);
    const kept = [...counts].filter(([, c]) => c >= minFreq);
    // frequency desc, then code-unit order (not localeCompare: that would depend on the locale)
    kept.sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
    const n = Math.min(kept.length, maxSize - 2);
    return new Vocab([PAD_TOKEN, UNK_TOKEN, ...kept.slice(0, n).map(([t]) => t)]);
  }

  /** V, including <pad> and <unk>. */
  get size(): number {
    return this.tokens.length;
  }

  has(token: string): boolean {
    return this.index.has(token);
  }

  /** The id of a token, or UNK_ID. */
  id(token: string): number {
    return this.index.get(token) ?? UNK_ID;
  }

  /** The token of an id; throws on ids outside [0, V). */
  token(id: number): string {
    const t = this.tokens[id];
    if (t === undefined) throw new RangeError(`Vocab.token: id ${id} is outside [0, ${this.size})`);
    return t;
  }

  encode(tokens: readonly string[]): Int32Array {
    const out = new Int32Array(tokens.length);
    for (let i = 0; i < tokens.length; i++) out[i] = this.index.get(tokens[i]!) ?? UNK_ID;
    return out;
  }

  /** ids → tokens; `skipPad` drops padding ids (e.g. to print a padded batch row). */
  decode(ids: ArrayLike<number>, options: { skipPad?: boolean } = {}): string[] {
    const out: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (options.skipPad && id === PAD_ID) continue;
      out.push(this.token(id));
    }
    return out;
  }

  toJSON(): VocabJSON {
    return { kind: 'vocab', version: 1, tokens: [...this.tokens] };
  }

  /** From `toJSON()` output (object or JSON string); throws an Error saying what is wrong. */
  static fromJSON(json: unknown): Vocab {
    const where = 'Vocab.fromJSON';
    const o = parseObject(json, where);
    if (o.kind !== 'vocab') throw new Error(`${where}: "kind" must be "vocab", got ${JSON.stringify(o.kind)}`);
    if (o.version !== 1) throw new Error(`${where}: unsupported version ${JSON.stringify(o.version)} (expected 1)`);
    if (!Array.isArray(o.tokens)) throw new Error(`${where}: "tokens" must be an array of strings`);
    try {
      return new Vocab(o.tokens as string[]);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message.replace(/^Vocab: /, '')}`);
    }
  }
}

// ---------------------------------------------------------------------------------------------

export interface CharVocabJSON {
  kind: 'char-vocab';
  version: 1;
  /** chars[id], one code point each. */
  chars: string[];
  /** The id unknown characters map to with `encode(text, { unknown: 'unk' })`, or null. */
  unkId: number | null;
}

export type UnknownCharPolicy = 'throw' | 'unk' | 'skip';

/** The default stand-in for unknown characters, U+FFFD REPLACEMENT CHARACTER. */
export const UNK_CHAR = '\uFFFD';

const hex = (cp: number): string => 'U+' + cp.toString(16).toUpperCase().padStart(4, '0');

export class CharVocab {
  /** id → character (one code point). */
  readonly chars: readonly string[];
  /** Id used for unknown characters, or null if the vocabulary has none. */
  readonly unkId: number | null;
  private readonly index: Map<number, number>;

  constructor(chars: readonly string[], unkId: number | null = null) {
    const where = 'CharVocab';
    const index = new Map<number, number>();
    chars.forEach((c, i) => {
      if (typeof c !== 'string' || [...c].length !== 1) {
        throw new Error(`${where}: entry ${i} must be a single character (code point), got ${JSON.stringify(c)}`);
      }
      const cp = c.codePointAt(0)!;
      if (index.has(cp)) throw new Error(`${where}: character ${JSON.stringify(c)} (${hex(cp)}) appears twice`);
      index.set(cp, i);
    });
    if (unkId !== null && !(Number.isInteger(unkId) && unkId >= 0 && unkId < chars.length)) {
      throw new Error(`${where}: unkId ${unkId} is outside [0, ${chars.length})`);
    }
    this.chars = Object.freeze([...chars]);
    this.unkId = unkId;
    this.index = index;
  }

  /**
   * The sorted distinct code points of `text` (a string or pieces of one).
   * With `unk` (e.g. UNK_CHAR), that character gets id 0 and the rest follow, sorted.
   */
  static build(text: string | Iterable<string>, options: { unk?: string } = {}): CharVocab {
    const seen = new Set<number>();
    for (const piece of typeof text === 'string' ? [text] : text) {
      for (const c of piece) seen.add(c.codePointAt(0)!);
    }
    const unk = options.unk;
    if (unk !== undefined) seen.delete(unk.codePointAt(0)!);
    const sorted = [...seen].sort((a, b) => a - b).map((cp) => String.fromCodePoint(cp));
    return unk === undefined ? new CharVocab(sorted) : new CharVocab([unk, ...sorted], 0);
  }

  get size(): number {
    return this.chars.length;
  }

  /** Whether a character (one code point) is in the vocabulary. */
  has(char: string): boolean {
    return this.index.has(char.codePointAt(0) ?? -1) && [...char].length === 1;
  }

  /**
   * text → ids, one per code point. Unknown characters throw (listing them) by default;
   * `unknown: 'unk'` maps them to `unkId`, `'skip'` drops them.
   */
  encode(text: string, options: { unknown?: UnknownCharPolicy } = {}): Int32Array {
    const policy = options.unknown ?? 'throw';
    if (policy === 'unk' && this.unkId === null) {
      throw new Error(`CharVocab.encode: unknown: 'unk' needs a vocabulary built with an unknown character (CharVocab.build(text, { unk: UNK_CHAR }))`);
    }
    const out = new Int32Array(text.length); // ≥ the number of code points
    const missing = new Map<number, number>();
    let n = 0;
    for (const c of text) {
      const cp = c.codePointAt(0)!;
      const id = this.index.get(cp);
      if (id !== undefined) out[n++] = id;
      else if (policy === 'unk') out[n++] = this.unkId!;
      else if (policy === 'throw') missing.set(cp, (missing.get(cp) ?? 0) + 1);
    }
    if (missing.size > 0) {
      const list = [...missing].slice(0, 20).map(([cp, k]) => `${JSON.stringify(String.fromCodePoint(cp))} ${hex(cp)} ×${k}`);
      throw new Error(
        `CharVocab.encode: ${missing.size} character(s) not in the vocabulary: ${list.join(', ')}` +
          `${missing.size > 20 ? ', …' : ''}. Rebuild the vocabulary on this text, or pass { unknown: 'unk' | 'skip' }.`,
      );
    }
    return out.slice(0, n);
  }

  decode(ids: ArrayLike<number>): string {
    let s = '';
    for (let i = 0; i < ids.length; i++) {
      const c = this.chars[ids[i]!];
      if (c === undefined) throw new RangeError(`CharVocab.decode: id ${ids[i]} is outside [0, ${this.size})`);
      s += c;
    }
    return s;
  }

  toJSON(): CharVocabJSON {
    return { kind: 'char-vocab', version: 1, chars: [...this.chars], unkId: this.unkId };
  }

  static fromJSON(json: unknown): CharVocab {
    const where = 'CharVocab.fromJSON';
    const o = parseObject(json, where);
    if (o.kind !== 'char-vocab') throw new Error(`${where}: "kind" must be "char-vocab", got ${JSON.stringify(o.kind)}`);
    if (o.version !== 1) throw new Error(`${where}: unsupported version ${JSON.stringify(o.version)} (expected 1)`);
    if (!Array.isArray(o.chars)) throw new Error(`${where}: "chars" must be an array of single characters`);
    const unkId = o.unkId ?? null;
    if (unkId !== null && typeof unkId !== 'number') throw new Error(`${where}: "unkId" must be a number or null`);
    try {
      return new CharVocab(o.chars as string[], unkId as number | null);
    } catch (e) {
      throw new Error(`${where}: ${(e as Error).message.replace(/^CharVocab: /, '')}`);
    }
  }
}
