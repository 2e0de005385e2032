// Tokenizers: text → string tokens. Pure logic, no Node imports (browser-safe).
//
// A tokenizer is built from a plain options object and serialises back to it (`toJSON`), so a
// saved model tokenizes new text exactly as its training data was tokenized. The options of
// version 1 and their defaults are frozen: a future change of behaviour gets a new `version`.
//
// Word tokenizer pipeline, in order:
//   1. Unicode normalisation (NFC by default; NFKC also folds ligatures, full-width forms, "…").
//   2. HTML clean-up (`html`): <br>, <br/>, <br /> and other known HTML tags become a space;
//      entities (&amp; &lt; &gt; &quot; &apos; &nbsp; &#NNN; &#xHH;) are decoded. Angle-bracket
//      words that are not HTML tags (IMDB has "<grin>", "<SPOILER>") are kept as text.
//   3. Lower-casing (`lowercase`, locale-independent `toLowerCase`).
//   4. Splitting, Unicode-aware (\p{L} letters, \p{M} marks, \p{N} digits):
//      - a word is a run of letters/marks/digits, joined by apostrophes inside the word
//        ("don't", "o'clock", "rock'n'roll") and, if `keepHyphenated`, by hyphens ("ex-wife");
//      - numbers with inner separators stay one token ("3.5", "1,000", "10:30");
//      - punctuation and symbols become separate tokens; a run of the same character is one
//        token capped at 3 characters ("..." → "...", "!!!!!" → "!!!", "?!" → "?" "!").
//   5. Contractions (`splitContractions`, on by default) are split the Penn Treebank way,
//      as in the SST-2 and rt-polarity files: "don't" → "do" "n't", "can't" → "ca" "n't",
//      "it's" → "it" "'s", "we'll" → "we" "'ll". Already split text ("it 's", "do n't")
//      gives the same tokens, so raw IMDB reviews and pre-tokenized SST-2 share a vocabulary.
//      The typographic apostrophe ’ is folded to ' inside words.
//   6. Numbers (`numbers`): 'keep' (default), 'digits' maps every decimal digit to 0
//      ("1995" → "0000", "80s" → "00s"), 'token' replaces numeric tokens with "<num>".

export type UnicodeForm = 'NFC' | 'NFKC' | 'none';
export type NumberMode = 'keep' | 'digits' | 'token';

export interface WordTokenizerOptions {
  /** Lower-case the text (default true). */
  lowercase?: boolean;
  /** Replace HTML tags by spaces and decode entities (default true). */
  html?: boolean;
  /** Split contractions Penn-Treebank style: "don't" → "do" "n't" (default true). */
  splitContractions?: boolean;
  /** Keep hyphenated words as one token: "ex-wife" (default false: "ex" "-" "wife"). */
  keepHyphenated?: boolean;
  /** Emit punctuation and symbol tokens (default true). */
  keepPunctuation?: boolean;
  /** Number normalisation (default 'keep'). */
  numbers?: NumberMode;
  /** Unicode normalisation applied first (default 'NFC'). */
  unicode?: UnicodeForm;
}

/** The serialised form of a word tokenizer: every option spelled out. */
export interface WordTokenizerJSON extends Required<WordTokenizerOptions> {
  kind: 'word';
  version: 1;
}

export interface CharTokenizerOptions {
  /** Lower-case the text (default false). */
  lowercase?: boolean;
  /** Unicode normalisation applied first (default 'none': characters are taken as they are). */
  unicode?: UnicodeForm;
}

export interface CharTokenizerJSON extends Required<CharTokenizerOptions> {
  kind: 'char';
  version: 1;
}

export type TokenizerJSON = WordTokenizerJSON | CharTokenizerJSON;

/** What models and apps hold: a function of text plus its serialised options. */
export interface Tokenizer {
  tokenize(text: string): string[];
  toJSON(): TokenizerJSON;
}

/** The token that `numbers: 'token'` substitutes for numeric tokens. */
export const NUM_TOKEN = '<num>';

const WORD_DEFAULTS: Required<WordTokenizerOptions> = {
  lowercase: true,
  html: true,
  splitContractions: true,
  keepHyphenated: false,
  keepPunctuation: true,
  numbers: 'keep',
  unicode: 'NFC',
};

const CHAR_DEFAULTS: Required<CharTokenizerOptions> = { lowercase: false, unicode: 'none' };

// ---------------------------------------------------------------------------------------------
// HTML clean-up

const HTML_TAGS = new Set(
  ('a abbr b big blockquote br center cite code dd del div dl dt em font h1 h2 h3 h4 h5 h6 hr i img ins ' +
    'kbd li ol p pre q s small span strike strong sub sup table td th tr tt u ul').split(' '),
);
// <tag ...>, </tag>, <tag/>; the name is checked against HTML_TAGS so "<grin>" survives.
const TAG_RE = /<\/?([A-Za-z][A-Za-z0-9]*)(?:\s[^<>]*)?\/?>/g;
const ENTITY_RE = /&(?:#(\d{1,7})|#[xX]([0-9A-Fa-f]{1,6})|(amp|lt|gt|quot|apos|nbsp));/g;
const NAMED_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'", nbsp: ' ' };

function fromCodePointSafe(cp: number): string {
  return cp > 0 && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff) ? String.fromCodePoint(cp) : '\uFFFD';
}

/** Replaces known HTML tags by a space and decodes common entities. */
export function stripHtml(text: string): string {
  if (text.indexOf('<') < 0 && text.indexOf('&') < 0) return text;
  return text
    .replace(TAG_RE, (m, name: string) => (HTML_TAGS.has(name.toLowerCase()) ? ' ' : m))
    .replace(ENTITY_RE, (_m, dec?: string, hex?: string, named?: string) =>
      dec !== undefined ? fromCodePointSafe(parseInt(dec, 10))
        : hex !== undefined ? fromCodePointSafe(parseInt(hex, 16))
          : NAMED_ENTITIES[named!]!,
    );
}

// ---------------------------------------------------------------------------------------------
// Splitting

const W = String.raw`[\p{L}\p{M}\p{N}]`;
// Alternatives, tried left to right at each position:
//   number with inner separators | word | standalone clitic ('s 're 've 'll 'd 'm) | punctuation run
function splitRegex(keepHyphenated: boolean, splitContractions: boolean): RegExp {
  const joiner = keepHyphenated ? `['’\\-]` : `['’]`;
  const number = String.raw`\p{Nd}+(?:[.,:]\p{Nd}+)+(?!${W})`;
  const word = `${W}+(?:${joiner}${W}+)*`;
  const clitic = splitContractions ? `['’](?:[sSdDmM]|[rR][eE]|[vV][eE]|[lL][lL])(?!${W})|` : '';
  const punct = String.raw`([^\s\p{L}\p{M}\p{N}])\1*`;
  return new RegExp(`${number}|${word}|${clitic}${punct}`, 'gu');
}

const NT_RE = /^(.+?)(n['’]t)$/iu;
const CLITIC_RE = /^(.+?)(['’](?:s|re|ve|ll|d|m))$/iu;

/** "don't" → ["do", "n't"]; "it's" → ["it", "'s"]; anything else → [word]. */
function splitClitics(word: string, out: string[]): void {
  const nt = NT_RE.exec(word);
  if (nt) { out.push(nt[1]!, nt[2]!); return; }
  const cl = CLITIC_RE.exec(word);
  if (cl) { out.push(cl[1]!, cl[2]!); return; }
  out.push(word);
}

const NUMERIC_RE = /^\p{N}+(?:[.,:]\p{N}+)*$/u;
const DIGIT_RE = /\p{Nd}/gu;

function normalise(text: string, form: UnicodeForm): string {
  return form === 'none' ? text : text.normalize(form);
}

// ---------------------------------------------------------------------------------------------
// Word tokenizer

export class WordTokenizer implements Tokenizer {
  readonly options: Readonly<Required<WordTokenizerOptions>>;
  private readonly re: RegExp;

  constructor(options: WordTokenizerOptions = {}) {
    this.options = Object.freeze({ ...WORD_DEFAULTS, ...definedOnly(options) });
    checkWordOptions(this.options, 'WordTokenizer');
    this.re = splitRegex(this.options.keepHyphenated, this.options.splitContractions);
  }

  tokenize(text: string): string[] {
    const o = this.options;
    let s = normalise(text, o.unicode);
    if (o.html) s = stripHtml(s);
    if (o.lowercase) s = s.toLowerCase();
    const out: string[] = [];
    for (const m of s.matchAll(this.re)) {
      let tok = m[0];
      if (m[1] !== undefined) {
        // punctuation run (the only alternative with a capture group): one token, at most 3 characters
        if (!o.keepPunctuation) continue;
        const cps = Array.from(tok);
        out.push(cps.length > 3 ? cps.slice(0, 3).join('') : tok);
        continue;
      }
      if (tok.includes('’')) tok = tok.replace(/’/g, "'");
      if (o.numbers !== 'keep') {
        if (o.numbers === 'token' && NUMERIC_RE.test(tok)) { out.push(NUM_TOKEN); continue; }
        if (o.numbers === 'digits') tok = tok.replace(DIGIT_RE, '0');
      }
      if (o.splitContractions && tok.includes("'")) splitClitics(tok, out);
      else out.push(tok);
    }
    return out;
  }

  toJSON(): WordTokenizerJSON {
    return { kind: 'word', version: 1, ...this.options };
  }
}

// ---------------------------------------------------------------------------------------------
// Character tokenizer

/** Splits text into Unicode code points (not UTF-16 units: "😀" is one token, not two). */
export function chars(text: string): string[] {
  return Array.from(text);
}

export class CharTokenizer implements Tokenizer {
  readonly options: Readonly<Required<CharTokenizerOptions>>;

  constructor(options: CharTokenizerOptions = {}) {
    this.options = Object.freeze({ ...CHAR_DEFAULTS, ...definedOnly(options) });
    checkUnicode(this.options.unicode, 'CharTokenizer');
    checkBool(this.options.lowercase, 'lowercase', 'CharTokenizer');
  }

  tokenize(text: string): string[] {
    let s = normalise(text, this.options.unicode);
    if (this.options.lowercase) s = s.toLowerCase();
    return Array.from(s);
  }

  toJSON(): CharTokenizerJSON {
    return { kind: 'char', version: 1, ...this.options };
  }
}

/** One-shot word tokenization with the given options. */
export function tokenize(text: string, options?: WordTokenizerOptions): string[] {
  return new WordTokenizer(options).tokenize(text);
}

/**
 * Rebuilds a tokenizer from `toJSON()` output (an object or a JSON string). Missing options
 * take the version-1 defaults; unknown keys or wrong types throw an Error naming the key.
 */
export function tokenizerFromJSON(json: unknown): Tokenizer {
  const where = 'tokenizerFromJSON';
  const obj = parseObject(json, where);
  const { kind, version, ...rest } = obj;
  if (version !== 1) throw new Error(`${where}: unsupported version ${JSON.stringify(version)} (expected 1)`);
  if (kind === 'word') {
    checkKeys(rest, Object.keys(WORD_DEFAULTS), where);
    return new WordTokenizer(rest as WordTokenizerOptions);
  }
  if (kind === 'char') {
    checkKeys(rest, Object.keys(CHAR_DEFAULTS), where);
    return new CharTokenizer(rest as CharTokenizerOptions);
  }
  throw new Error(`${where}: "kind" must be "word" or "char", got ${JSON.stringify(kind)}`);
}

// ---------------------------------------------------------------------------------------------
// Validation helpers (shared with vocab.ts)

/** Accepts an object or a JSON string; throws a readable Error otherwise. */
export function parseObject(json: unknown, where: string): Record<string, unknown> {
  let v = json;
  if (typeof v === 'string') {
    try {
      v = JSON.parse(v);
    } catch (e) {
      throw new Error(`${where}: not valid JSON (${(e as Error).message})`);
    }
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) {
    throw new Error(`${where}: expected a JSON object, got ${v === null ? 'null' : Array.isArray(v) ? 'an array' : typeof v}`);
  }
  return v as Record<string, unknown>;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

function checkKeys(o: Record<string, unknown>, allowed: string[], where: string): void {
  for (const k of Object.keys(o)) {
    if (!allowed.includes(k)) throw new Error(`${where}: unknown option "${k}" (allowed: ${allowed.join(', ')})`);
  }
}

function checkBool(v: unknown, name: string, where: string): void {
  if (typeof v !== 'boolean') throw new Error(`${where}: option "${name}" must be true or false, got ${JSON.stringify(v)}`);
}

function checkUnicode(v: unknown, where: string): void {
  if (v !== 'NFC' && v !== 'NFKC' && v !== 'none') {
    throw new Error(`${where}: option "unicode" must be "NFC", "NFKC" or "none", got ${JSON.stringify(v)}`);
  }
}

function checkWordOptions(o: Required<WordTokenizerOptions>, where: string): void {
  for (const k of ['lowercase', 'html', 'splitContractions', 'keepHyphenated', 'keepPunctuation'] as const) {
    checkBool(o[k], k, where);
  }
  if (o.numbers !== 'keep' && o.numbers !== 'digits' && o.numbers !== 'token') {
    throw new Error(`${where}: option "numbers" must be "keep", "digits" or "token", got ${JSON.stringify(o.numbers)}`);
  }
  checkUnicode(o.unicode, where);
}
