/**
 * CoNLL-style column files (CoNLL-2003, WNUT-17, ...), parsed from a string.
 * Pure: no Node APIs, so it also runs in browsers. See ./node/conll-file.ts to read files.
 *
 * Format: one token per line, columns separated by whitespace; sentences separated by
 * blank lines (a line of only spaces/tabs counts as blank — WNUT-17's train file uses
 * lines holding a single TAB); `-DOCSTART-` lines start a new document and are not
 * tokens. Examples:
 *
 *   CoNLL-2003:  `EU NNP I-NP I-ORG`   (4 space-separated columns, tags in IOB1)
 *   WNUT-17:     `Empire\tB-location`  (2 tab-separated columns, IOB2)
 *   CoNLL-U:     `3\tthe\tthe\tDET\t_\t…`  (10 TAB-separated columns; `format: 'conllu'`, e.g. the
 *                Universal Dependencies treebanks: `#` comment lines, and multiword-token
 *                (`1-2`) and empty-node (`1.1`) lines, which are not words, are skipped; the token
 *                is FORM (column 1) and the tag UPOS (column 3) unless the options say otherwise)
 *
 * Column splitting (`separator`): 'auto' (default) looks at the first token line: if it
 * contains a TAB the file is TAB-separated (split on every TAB, spaces stay inside
 * fields), otherwise columns are runs of spaces/TABs. Only ASCII space and TAB separate
 * columns: tokens may contain other Unicode spaces (WNUT-17 dev has U+200B and U+FEFF
 * inside tokens), which JavaScript's `\s` and `trim()` would wrongly strip.
 */

import { tagFormatError } from './tags.js';

export interface ConllSentence {
  tokens: string[];
  tags: string[];
  /** 0-based document index (documents are delimited by -DOCSTART- lines; 0 if none). */
  docIndex: number;
  /** 1-based line number of the sentence's first token. */
  line: number;
  /** All columns of each token line (only with `keepColumns: true`). */
  columns?: string[][];
}

export interface ConllData {
  sentences: ConllSentence[];
  /** Number of documents (0 for empty input, 1 if there is no -DOCSTART- line). */
  documents: number;
  /** Number of columns per token line. */
  columns: number;
  /** Separator actually used. */
  separator: 'tab' | 'whitespace';
}

export interface ConllParseOptions {
  /** Column holding the token. Default 0. Negative counts from the end (-1 = last). */
  tokenColumn?: number;
  /** Column holding the tag. Default -1 (the last column). */
  tagColumn?: number;
  /** Name used in error messages (e.g. the file path). Default '<string>'. */
  fileName?: string;
  /** 'auto' (default), 'tab' (split on each TAB) or 'whitespace' (runs of spaces/TABs). */
  separator?: 'auto' | 'tab' | 'whitespace';
  /**
   * Check that tags are entity tags: 'O' or '<B|I|E|S|L|U>-<type>' (default true).
   * Set to false when the tag column holds e.g. POS tags.
   */
  validateTags?: boolean;
  /** Keep every column of every token line in `sentence.columns`. Default false. */
  keepColumns?: boolean;
  /** Marker of document-start lines (first column). Default '-DOCSTART-'. */
  docStart?: string;
  /**
   * 'conll' (default) or 'conllu' (CoNLL-U: TAB-separated, `#` comments and multiword/empty-node
   * lines skipped; default tokenColumn 1 (FORM), tagColumn 3 (UPOS), validateTags false).
   */
  format?: 'conll' | 'conllu';
}

/** A malformed CoNLL input; the message starts with `file:line:`. */
export class ConllParseError extends Error {
  readonly fileName: string;
  readonly line: number;
  constructor(fileName: string, line: number, message: string) {
    super(`${fileName}:${line}: ${message}`);
    this.name = 'ConllParseError';
    this.fileName = fileName;
    this.line = line;
  }
}

/** True for lines holding only spaces, TABs (and a stray CR). */
function isBlank(line: string): boolean {
  for (let i = 0; i < line.length; i++) {
    const c = line.charCodeAt(i);
    if (c !== 0x20 && c !== 0x09 && c !== 0x0d) return false;
  }
  return true;
}

function splitColumns(line: string, sep: 'tab' | 'whitespace'): string[] {
  if (sep === 'tab') return line.split('\t');
  return line.split(/[ \t]+/).filter((f) => f.length > 0);
}

function resolveColumn(col: number, n: number, what: string, fileName: string, line: number): number {
  if (!Number.isInteger(col)) throw new Error(`${what} must be an integer, got ${col}`);
  const k = col < 0 ? n + col : col;
  if (k < 0 || k >= n) throw new ConllParseError(fileName, line, `${what} ${col} is out of range for a line with ${n} columns`);
  return k;
}

/** Parse CoNLL text. Throws ConllParseError naming file and line on malformed input. */
export function parseConll(text: string, opts: ConllParseOptions = {}): ConllData {
  const fileName = opts.fileName ?? '<string>';
  const conllu = opts.format === 'conllu';
  if (opts.format !== undefined && opts.format !== 'conll' && !conllu) throw new Error(`format must be 'conll' or 'conllu', got ${JSON.stringify(opts.format)}`);
  if (conllu) opts = { tokenColumn: 1, tagColumn: 3, validateTags: false, separator: 'tab', ...opts };
  const validate = opts.validateTags ?? true;
  const docStart = opts.docStart ?? '-DOCSTART-';
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1); // byte-order mark
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop(); // final newline

  const sentences: ConllSentence[] = [];
  let sep: 'tab' | 'whitespace' | undefined = opts.separator === 'auto' || opts.separator === undefined ? undefined : opts.separator;
  let ncols = -1;
  let ncolsLine = 0;
  let tokCol = -1;
  let tagCol = -1;
  let doc = 0;
  let anyContent = false; // seen a sentence or a -DOCSTART- yet
  let cur: ConllSentence | null = null;

  const flush = (): void => {
    if (cur !== null) sentences.push(cur);
    cur = null;
  };

  for (let li = 0; li < lines.length; li++) {
    const lineNo = li + 1;
    let line = lines[li]!;
    if (line.endsWith('\r')) line = line.slice(0, -1);
    if (isBlank(line)) {
      flush();
      continue;
    }
    if (conllu && line.startsWith('#')) continue; // a comment (sent_id, text, ...)
    if (sep === undefined) sep = line.includes('\t') ? 'tab' : 'whitespace';
    // Leading/trailing spaces are never significant in whitespace mode; in TAB mode
    // only a trailing CR was removed.
    const fields = splitColumns(sep === 'whitespace' ? line.replace(/^[ \t]+|[ \t]+$/g, '') : line, sep);
    // CoNLL-U: a multiword token's line (ID 1-2) spells the surface form of the words that
    // follow; an empty node (ID 1.1) is not in the text. Neither is a word of the sentence.
    if (conllu && fields.length !== 10) throw new ConllParseError(fileName, lineNo, `a CoNLL-U line has 10 TAB-separated columns, this one ${fields.length}: ${JSON.stringify(line)}`);
    if (conllu && /^\d+[-.]\d+$/.test(fields[0]!)) continue;
    if (conllu && !/^\d+$/.test(fields[0]!)) throw new ConllParseError(fileName, lineNo, `expected a word ID (1, 2, ...) in column 1 of a CoNLL-U line, got ${JSON.stringify(fields[0])}`);
    if (fields[0] === docStart) {
      flush();
      if (anyContent) doc++;
      anyContent = true;
      continue;
    }
    if (ncols < 0) {
      ncols = fields.length;
      ncolsLine = lineNo;
      tokCol = resolveColumn(opts.tokenColumn ?? 0, ncols, 'tokenColumn', fileName, lineNo);
      tagCol = resolveColumn(opts.tagColumn ?? -1, ncols, 'tagColumn', fileName, lineNo);
    } else if (fields.length !== ncols) {
      throw new ConllParseError(
        fileName,
        lineNo,
        `expected ${ncols} ${sep === 'tab' ? 'TAB-separated' : 'whitespace-separated'} columns (as on line ${ncolsLine}, the first token line) but found ${fields.length}: ${JSON.stringify(line)}`,
      );
    }
    const tag = fields[tagCol]!;
    if (validate) {
      const err = tagFormatError(tag);
      if (err !== null) throw new ConllParseError(fileName, lineNo, `${err} in column ${tagCol + 1}`);
    }
    if (cur === null) {
      cur = { tokens: [], tags: [], docIndex: doc, line: lineNo };
      if (opts.keepColumns) cur.columns = [];
      anyContent = true;
    }
    const c: ConllSentence = cur;
    c.tokens.push(fields[tokCol]!);
    c.tags.push(tag);
    c.columns?.push(fields);
  }
  flush();
  return {
    sentences,
    documents: anyContent ? doc + 1 : 0,
    columns: Math.max(ncols, 0),
    separator: sep ?? 'whitespace',
  };
}

/** Serialize sentences back to CoNLL text (`token<sep>tag`, blank line after each sentence). */
export function formatConll(sentences: readonly { tokens: readonly string[]; tags: readonly string[] }[], separator: '\t' | ' ' = ' '): string {
  let out = '';
  for (const s of sentences) {
    if (s.tokens.length !== s.tags.length) throw new Error('tokens and tags differ in length');
    for (let i = 0; i < s.tokens.length; i++) out += `${s.tokens[i]}${separator}${s.tags[i]}\n`;
    out += '\n';
  }
  return out;
}
