// Readers for labelled text datasets (Node only: node:fs, node:zlib).
//
// Every reader returns a TextDataset and throws an Error naming the file and line (and the
// field or column) on malformed input: invalid UTF-8, bad JSON, a missing column, an unknown
// label, an empty file. Files starting with the gzip magic bytes 1f 8b are decompressed first,
// whatever their name.
//
// Labels. With `labelNames`, a raw label must equal one of the names (or be an integer index
// into them), and labels[i] is that index. Without it: if every raw label is a non-negative
// integer ("0", 1, "4"), labels[i] is that integer and labelNames = ["0", …, String(max)];
// otherwise labelNames is the sorted (code-unit order) set of raw labels.
import { readdirSync, readFileSync, statSync, existsSync } from 'node:fs';
import { fsReason } from './fs-reason.js';
import { basename, extname, join } from 'node:path';
import { gunzipSync } from 'node:zlib';

export interface TextDataset {
  texts: string[];
  /** labels[i] ∈ [0, labelNames.length). */
  labels: number[];
  labelNames: string[];
  /** aclImdb only: star rating (1–10) and file id of each review. */
  ratings?: number[];
  ids?: number[];
}

export type TextEncoding = 'utf-8' | 'windows-1252' | 'latin1';

export interface ReadOptions {
  /** JSONL key or table column (name, or 0-based number) of the text. Default: JSONL "text";
   *  table: the first of "text", "sentence", "review", "content" in the header, or column 0. */
  textField?: string | number;
  /** JSONL key or table column of the label. Default "label" (column 1 without header). */
  labelField?: string | number;
  /** Fixes the label ids (see the file comment). */
  labelNames?: readonly string[];
  /** Text encoding of the files (default 'utf-8', decoded strictly). */
  encoding?: TextEncoding;
  /** Read at most this many records (per class for class files and aclImdb). */
  limit?: number;
  /** Tables: whether the first line is a header (default true). */
  header?: boolean;
  /** Tables: 'csv' (RFC 4180 quoting) or 'tsv' (no quoting, as GLUE); default from the extension. */
  format?: 'csv' | 'tsv';
  /** aclImdb: which split folder to read (default 'train'). */
  split?: string;
}

// ---------------------------------------------------------------------------------------------
// Bytes and text

/** The file's bytes, gunzipped if they start with the gzip magic bytes. */
export function readBytes(file: string): Uint8Array {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    throw new Error(`${file}: cannot read (${fsReason(e)})`);
  }
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = gunzipSync(bytes);
    } catch (e) {
      throw new Error(`${file}: starts like gzip but does not decompress (${(e as Error).message})`);
    }
  }
  return bytes;
}

/**
 * Byte offset of the first invalid UTF-8 sequence, or -1. Rejects overlong forms, surrogates
 * and code points above U+10FFFF, as TextDecoder's fatal mode does.
 */
export function findInvalidUtf8(b: Uint8Array): number {
  const n = b.length;
  let i = 0;
  while (i < n) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    let need: number, lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf) need = 1;
    else if (c >= 0xe0 && c <= 0xef) { need = 2; if (c === 0xe0) lo = 0xa0; if (c === 0xed) hi = 0x9f; }
    else if (c >= 0xf0 && c <= 0xf4) { need = 3; if (c === 0xf0) lo = 0x90; if (c === 0xf4) hi = 0x8f; }
    else return i;
    for (let k = 1; k <= need; k++) {
      const d = b[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += need + 1;
  }
  return -1;
}

/** 1-based line and byte column of a byte offset. */
function lineCol(b: Uint8Array, offset: number): { line: number; col: number } {
  let line = 1, lastNl = -1;
  for (let i = 0; i < offset; i++) if (b[i] === 0x0a) { line++; lastNl = i; }
  return { line, col: offset - lastNl };
}

// Windows-1252 bytes 0x80..0x9f (0 = undefined in cp1252, decoded as the C1 control like WHATWG)
const CP1252_HIGH = [
  0x20ac, 0, 0x201a, 0x0192, 0x201e, 0x2026, 0x2020, 0x2021, 0x02c6, 0x2030, 0x0160, 0x2039, 0x0152, 0, 0x017d, 0,
  0, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x02dc, 0x2122, 0x0161, 0x203a, 0x0153, 0, 0x017e, 0x0178,
];

function decodeSingleByte(b: Uint8Array, cp1252: boolean): string {
  const parts: string[] = [];
  for (let s = 0; s < b.length; s += 8192) {
    const codes = Array.from(b.subarray(s, s + 8192), (c) => (cp1252 && c >= 0x80 && c <= 0x9f ? CP1252_HIGH[c - 0x80] || c : c));
    parts.push(String.fromCharCode(...codes));
  }
  return parts.join('');
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes bytes; invalid UTF-8 throws an Error naming the file, line and column, and
 * suggesting the `encoding` option. A leading byte-order mark is dropped.
 */
export function decodeText(bytes: Uint8Array, file: string, encoding: TextEncoding = 'utf-8'): string {
  if (encoding === 'windows-1252' || encoding === 'latin1') return decodeSingleByte(bytes, encoding === 'windows-1252');
  if (encoding !== 'utf-8') throw new Error(`${file}: unsupported encoding ${JSON.stringify(encoding)} (use 'utf-8', 'windows-1252' or 'latin1')`);
  try {
    return utf8.decode(bytes);
  } catch {
    const off = findInvalidUtf8(bytes);
    const { line, col } = lineCol(bytes, Math.max(0, off));
    const byte = off >= 0 ? ` (byte 0x${bytes[off]!.toString(16).padStart(2, '0')})` : '';
    throw new Error(
      `${file}:${line}:${col}: invalid UTF-8${byte}. If the file is Latin-1/Windows-1252 ` +
        `(like the original rt-polarity files), pass encoding: 'windows-1252'.`,
    );
  }
}

/** Lines of a text without their "\n" / "\r\n" ends; a final newline does not add an empty line. */
function splitLines(text: string): string[] {
  const lines = text.split('\n');
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  for (let i = 0; i < lines.length; i++) if (lines[i]!.endsWith('\r')) lines[i] = lines[i]!.slice(0, -1);
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Labels

const INT_RE = /^(0|[1-9]\d*)$/;

/** Collects raw labels and turns them into ids (see the file comment for the rules). */
class Labels {
  private readonly raw: string[] = [];
  private readonly ids: number[] = [];
  constructor(private readonly names?: readonly string[]) {}

  add(value: unknown, where: string, what: string): void {
    if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) {
      throw new Error(`${where}: ${what} must be a string or a number, got ${JSON.stringify(value)}`);
    }
    const s = String(value);
    if (!this.names) { this.raw.push(s); return; }
    let id = this.names.indexOf(s);
    if (id < 0 && INT_RE.test(s) && Number(s) < this.names.length) id = Number(s);
    if (id < 0) {
      throw new Error(`${where}: unknown label ${JSON.stringify(value)} in ${what} (expected one of ${this.names.map((n) => JSON.stringify(n)).join(', ')} or an index below ${this.names.length})`);
    }
    this.ids.push(id);
  }

  finish(): { labels: number[]; labelNames: string[] } {
    if (this.names) return { labels: this.ids, labelNames: [...this.names] };
    if (this.raw.every((s) => INT_RE.test(s))) {
      const labels = this.raw.map(Number);
      const max = labels.reduce((m, y) => Math.max(m, y), -1);
      return { labels, labelNames: Array.from({ length: max + 1 }, (_, i) => String(i)) };
    }
    const labelNames = [...new Set(this.raw)].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    const id = new Map(labelNames.map((n, i) => [n, i]));
    return { labels: this.raw.map((s) => id.get(s)!), labelNames };
  }
}

function checkLimit(limit: number | undefined): number {
  if (limit === undefined) return Infinity;
  if (!(Number.isInteger(limit) && limit >= 1)) throw new RangeError(`limit must be an integer ≥ 1, got ${limit}`);
  return limit;
}

// ---------------------------------------------------------------------------------------------
// JSON Lines

/** JSON Lines (optionally gzipped): one object per line with a text and a label field. Blank lines are skipped. */
export function readJsonl(file: string, options: ReadOptions = {}): TextDataset {
  const textField = options.textField ?? 'text';
  const labelField = options.labelField ?? 'label';
  if (typeof textField !== 'string' || typeof labelField !== 'string') {
    throw new Error(`${file}: JSON Lines fields are named by strings (textField ${JSON.stringify(textField)}, labelField ${JSON.stringify(labelField)})`);
  }
  const limit = checkLimit(options.limit);
  const lines = splitLines(decodeText(readBytes(file), file, options.encoding));
  const texts: string[] = [];
  const labels = new Labels(options.labelNames);
  for (let i = 0; i < lines.length && texts.length < limit; i++) {
    const line = lines[i]!;
    if (line.trim() === '') continue;
    const where = `${file}:${i + 1}`;
    let rec: unknown;
    try {
      rec = JSON.parse(line);
    } catch (e) {
      throw new Error(`${where}: invalid JSON (${(e as Error).message})`);
    }
    if (typeof rec !== 'object' || rec === null || Array.isArray(rec)) throw new Error(`${where}: expected a JSON object on each line`);
    const o = rec as Record<string, unknown>;
    for (const f of [textField, labelField]) {
      if (!(f in o)) throw new Error(`${where}: missing field "${f}" (the record has ${Object.keys(o).map((k) => `"${k}"`).join(', ') || 'no fields'}); set textField/labelField`);
    }
    if (typeof o[textField] !== 'string') throw new Error(`${where}: field "${textField}" must be a string, got ${typeof o[textField]}`);
    texts.push(o[textField] as string);
    labels.add(o[labelField], where, `field "${labelField}"`);
  }
  if (texts.length === 0) throw new Error(`${file}: empty file (no records)`);
  return { texts, ...labels.finish() };
}

// ---------------------------------------------------------------------------------------------
// CSV / TSV

interface Row { fields: string[]; line: number }

/** RFC 4180 records: "…" quoting with "" for a quote, newlines allowed inside quotes, CRLF or LF. */
export function* csvRows(text: string, file: string, delimiter = ','): Generator<Row> {
  const n = text.length;
  let i = 0, line = 1;
  while (i < n) {
    const start = line;
    const fields: string[] = [];
    for (;;) {
      let field: string;
      if (text[i] === '"') {
        const open = line;
        field = '';
        i++;
        for (;;) {
          const j = text.indexOf('"', i);
          if (j < 0) throw new Error(`${file}:${open}: unterminated quoted field (the quote opened on this line is never closed)`);
          const seg = text.slice(i, j);
          for (let k = seg.indexOf('\n'); k >= 0; k = seg.indexOf('\n', k + 1)) line++;
          field += seg;
          if (text[j + 1] === '"') { field += '"'; i = j + 2; } else { i = j + 1; break; }
        }
        const c = text[i];
        if (i < n && c !== delimiter && c !== '\n' && c !== '\r') {
          throw new Error(`${file}:${line}: unexpected ${JSON.stringify(c)} after a closing quote (write a quote inside a quoted field as "")`);
        }
      } else {
        const s = i;
        while (i < n && text[i] !== delimiter && text[i] !== '\n' && text[i] !== '\r') {
          if (text[i] === '"') throw new Error(`${file}:${line}: quote inside an unquoted field (quote the whole field: "a ""b"" c")`);
          i++;
        }
        field = text.slice(s, i);
      }
      fields.push(field);
      if (i < n && text[i] === delimiter) { i++; continue; }
      if (text[i] === '\r') i++;
      if (text[i] === '\n') { i++; line++; }
      break;
    }
    if (!(fields.length === 1 && fields[0] === '')) yield { fields, line: start };
  }
}

/** TSV as in GLUE: one record per line, fields split on TAB, no quoting. */
function* tsvRows(text: string): Generator<Row> {
  const lines = splitLines(text);
  for (let i = 0; i < lines.length; i++) {
    if (lines[i] !== '') yield { fields: lines[i]!.split('\t'), line: i + 1 };
  }
}

const TEXT_COLUMNS = ['text', 'sentence', 'review', 'content'];

/** CSV or TSV with a header of named columns, or numbered (0-based) columns. */
export function readTable(file: string, options: ReadOptions = {}): TextDataset {
  const lower = file.toLowerCase().replace(/\.gz$/, '');
  const format = options.format ?? (lower.endsWith('.tsv') || lower.endsWith('.tab') ? 'tsv' : 'csv');
  const header = options.header ?? true;
  const limit = checkLimit(options.limit);
  const text = decodeText(readBytes(file), file, options.encoding);
  const rows = format === 'tsv' ? tsvRows(text) : csvRows(text, file);

  let columns: string[] | null = null;
  if (header) {
    const first = rows.next();
    if (first.done) throw new Error(`${file}: empty file (expected a header line)`);
    columns = first.value.fields.map((f) => f.trim());
  }
  const resolve = (spec: string | number | undefined, fallback: string | number, what: string): number => {
    const s = spec ?? fallback;
    if (typeof s === 'number') {
      if (!(Number.isInteger(s) && s >= 0)) throw new Error(`${file}: ${what} column must be a name or a 0-based index, got ${s}`);
      return s;
    }
    if (!columns) throw new Error(`${file}: ${what} column "${s}" is a name, but header: false (use a 0-based column number)`);
    const k = columns.indexOf(s);
    if (k < 0) throw new Error(`${file}:1: no ${what} column "${s}" in the header (columns: ${columns.map((c) => `"${c}"`).join(', ')})`);
    return k;
  };
  const textDefault = columns ? (TEXT_COLUMNS.find((c) => columns!.includes(c)) ?? 'text') : 0;
  const tCol = resolve(options.textField, textDefault, 'text');
  const lCol = resolve(options.labelField, columns ? 'label' : 1, 'label');
  const colName = (k: number): string => (columns ? `"${columns[k]}"` : String(k));

  const texts: string[] = [];
  const labels = new Labels(options.labelNames);
  for (const { fields, line } of rows) {
    if (texts.length >= limit) break;
    const where = `${file}:${line}`;
    for (const k of [tCol, lCol]) {
      if (k >= fields.length) {
        throw new Error(`${where}: missing column ${colName(k)} (the row has ${fields.length} field(s)${columns ? `, the header ${columns.length}` : ''})`);
      }
    }
    if (columns && fields.length !== columns.length) {
      throw new Error(`${where}: the row has ${fields.length} fields but the header has ${columns.length} (a stray ${format === 'tsv' ? 'TAB' : 'comma or quote'} in the text?)`);
    }
    texts.push(fields[tCol]!);
    labels.add(fields[lCol]!.trim(), where, `column ${colName(lCol)}`);
  }
  if (texts.length === 0) throw new Error(`${file}: no data rows${header ? ' after the header' : ''}`);
  return { texts, ...labels.finish() };
}

// ---------------------------------------------------------------------------------------------
// One file per class

/**
 * Class names for files: the extensions if all files share one stem (rt-polarity.pos,
 * rt-polarity.neg → "pos", "neg"), else the file names without extension (pos.txt → "pos").
 */
function classNames(files: readonly string[]): string[] {
  const stems = files.map((f) => basename(f, extname(f)));
  const exts = files.map((f) => extname(f).slice(1));
  const names = new Set(stems).size === 1 && exts.every((e) => e !== '') ? exts : stems;
  if (new Set(names).size !== names.length) throw new Error(`class files ${files.join(', ')}: two files give the same class name`);
  return names;
}

/**
 * One example per non-empty line; the label comes from the file. `files` is a list of paths
 * (class names from the names, see classNames) or an object { className: path }.
 * Classes are numbered in sorted order of their names unless `labelNames` is given.
 */
export function readClassFiles(files: readonly string[] | Readonly<Record<string, string>>, options: ReadOptions = {}): TextDataset {
  let entries: [string, string][];
  if (Array.isArray(files)) {
    const names = classNames(files);
    entries = files.map((f, i) => [names[i]!, f]);
  } else {
    entries = Object.entries(files as Record<string, string>);
  }
  if (entries.length === 0) throw new Error('readClassFiles: no files given');
  const labelNames = options.labelNames ? [...options.labelNames] : entries.map(([n]) => n).sort();
  const limit = checkLimit(options.limit);
  const texts: string[] = [];
  const labels: number[] = [];
  for (const [name, file] of entries) {
    const y = labelNames.indexOf(name);
    if (y < 0) throw new Error(`${file}: unknown label "${name}" (labelNames: ${labelNames.join(', ')})`);
    const lines = splitLines(decodeText(readBytes(file), file, options.encoding));
    let n = 0;
    for (const line of lines) {
      if (line.trim() === '' || n >= limit) continue;
      texts.push(line);
      labels.push(y);
      n++;
    }
    if (n === 0) throw new Error(`${file}: empty file (no lines)`);
  }
  return { texts, labels, labelNames };
}

// ---------------------------------------------------------------------------------------------
// aclImdb folder tree

const IMDB_FILE_RE = /^(\d+)_(\d+)\.txt$/;

const isDir = (p: string): boolean => existsSync(p) && statSync(p).isDirectory();

/**
 * The aclImdb tree: `<root>/<split>/{neg,pos}/{id}_{rating}.txt` (root may also be the split
 * folder itself). neg = 0, pos = 1; reviews are ordered by class, then numeric id.
 */
export function readAclImdb(root: string, options: ReadOptions = {}): TextDataset {
  const split = options.split ?? 'train';
  const labelNames = options.labelNames ? [...options.labelNames] : ['neg', 'pos'];
  const dir = isDir(join(root, 'pos')) && isDir(join(root, 'neg')) ? root : join(root, split);
  if (!isDir(dir)) {
    const have = isDir(root) ? readdirSync(root).sort().join(', ') : 'nothing: not a directory';
    throw new Error(`${root}: no "${split}" folder with pos/ and neg/ (found ${have})`);
  }
  const limit = checkLimit(options.limit);
  const ds: Required<TextDataset> = { texts: [], labels: [], labelNames, ratings: [], ids: [] };
  labelNames.forEach((cls, y) => {
    const cdir = join(dir, cls);
    if (!isDir(cdir)) throw new Error(`${cdir}: missing class folder "${cls}"`);
    const files = readdirSync(cdir)
      .filter((f) => f.endsWith('.txt') && !f.startsWith('.'))
      .map((f) => {
        const m = IMDB_FILE_RE.exec(f);
        if (!m) throw new Error(`${join(cdir, f)}: file name is not {id}_{rating}.txt`);
        return { f, id: Number(m[1]), rating: Number(m[2]) };
      })
      .sort((a, b) => a.id - b.id || (a.f < b.f ? -1 : 1))
      .slice(0, limit);
    if (files.length === 0) throw new Error(`${cdir}: no {id}_{rating}.txt files`);
    for (const { f, id, rating } of files) {
      const path = join(cdir, f);
      ds.texts.push(decodeText(readBytes(path), path, options.encoding));
      ds.labels.push(y);
      ds.ratings.push(rating);
      ds.ids.push(id);
    }
  });
  return ds;
}

// ---------------------------------------------------------------------------------------------
// Dispatch

const IGNORED = /^(readme|license|licence|copying)|\.md$|^\./i;

/**
 * Picks the reader from the path:
 *   - "a.pos,a.neg" (comma-separated existing files) → readClassFiles
 *   - a directory with pos/ and neg/ (itself or under <split>/) → readAclImdb
 *   - another directory → readClassFiles on its files (README, LICENSE, *.md, dot-files ignored)
 *   - *.jsonl, *.ndjson (optionally .gz) → readJsonl
 *   - *.csv, *.tsv, *.tab (optionally .gz) → readTable
 */
export function readDataset(path: string, options: ReadOptions = {}): TextDataset {
  if (!existsSync(path) && path.includes(',')) {
    const parts = path.split(',').map((p) => p.trim()).filter((p) => p !== '');
    const missing = parts.filter((p) => !existsSync(p));
    if (missing.length > 0) throw new Error(`readDataset: class file(s) not found: ${missing.join(', ')}`);
    return readClassFiles(parts, options);
  }
  if (!existsSync(path)) throw new Error(`readDataset: ${path}: no such file or directory`);
  if (statSync(path).isDirectory()) {
    const split = options.split ?? 'train';
    if ((isDir(join(path, 'pos')) && isDir(join(path, 'neg'))) || isDir(join(path, split, 'pos'))) return readAclImdb(path, options);
    const files = readdirSync(path)
      .filter((f) => !IGNORED.test(f) && statSync(join(path, f)).isFile())
      .sort()
      .map((f) => join(path, f));
    if (files.length < 2) {
      throw new Error(`readDataset: ${path}: expected an aclImdb tree (pos/ and neg/ folders) or one text file per class; found ${files.length} file(s)`);
    }
    return readClassFiles(files, options);
  }
  const lower = path.toLowerCase().replace(/\.gz$/, '');
  if (lower.endsWith('.jsonl') || lower.endsWith('.ndjson')) return readJsonl(path, options);
  if (lower.endsWith('.csv') || lower.endsWith('.tsv') || lower.endsWith('.tab')) return readTable(path, options);
  throw new Error(
    `readDataset: ${path}: cannot tell the format from the name; use .jsonl[.gz], .csv, .tsv, ` +
      `an aclImdb folder, a folder of one file per class, or "a.pos,a.neg"`,
  );
}

/** The examples at `indices` (e.g. from splitStratified), with the same labelNames. */
export function subsetDataset(ds: TextDataset, indices: ArrayLike<number>): TextDataset {
  const idx = Array.from(indices);
  const out: TextDataset = { texts: idx.map((i) => ds.texts[i]!), labels: idx.map((i) => ds.labels[i]!), labelNames: [...ds.labelNames] };
  if (ds.ratings) out.ratings = idx.map((i) => ds.ratings![i]!);
  if (ds.ids) out.ids = idx.map((i) => ds.ids![i]!);
  return out;
}
