// Pretrained word vectors in the text formats GloVe and word2vec/fastText write: one word per
// line followed by its values, separated by spaces; word2vec's and fastText's files start with a
// "<count> <dimension>" line. Files list words from the most frequent down, so `maxWords` keeps
// the head of a large file. Parsing is line by line (node/word-vectors-file.ts streams a file
// through it): a 100-dimensional GloVe file of 400,000 words is never one string.

export interface WordVectors {
  /** The words, in the file's order (the first of repeated words kept). */
  words: string[];
  dim: number;
  /** words.length × dim values, row-major. */
  vectors: Float32Array;
}

export interface WordVectorOptions {
  /** Keep at most this many words (the file's first). Default: all. */
  maxWords?: number;
  /** For errors: the file's name. */
  fileName?: string;
}

/** A malformed vectors file; the message starts with `file:line:`. */
export class WordVectorsError extends Error {
  constructor(fileName: string, line: number, message: string) {
    super(`${fileName}:${line}: ${message}`);
    this.name = 'WordVectorsError';
  }
}

/** Collects vectors line by line: `line()` for each line in order (false once enough words), `done()` for the result. */
export class WordVectorReader {
  private readonly maxWords: number;
  private readonly fileName: string;
  private dim = 0;
  private lineNo = 0;
  private readonly seen = new Set<string>();
  private readonly words: string[] = [];
  private chunks: Float32Array[] = [];
  private cur = new Float32Array(0);
  private fill = 0;

  constructor(o: WordVectorOptions = {}) {
    const m = o.maxWords ?? Infinity;
    if (!(m === Infinity || (Number.isInteger(m) && m >= 1))) throw new RangeError(`word vectors: maxWords must be a whole number >= 1, got ${m}`);
    this.maxWords = m;
    this.fileName = o.fileName ?? '<string>';
  }

  /** One line of the file; false when the reader has all the words it keeps. */
  line(text: string): boolean {
    this.lineNo++;
    const t = text.endsWith('\r') ? text.slice(0, -1) : text;
    if (t.trim() === '') return true;
    const fields = t.split(' ');
    while (fields.length > 0 && fields[fields.length - 1] === '') fields.pop(); // trailing spaces
    if (this.lineNo === 1 && fields.length === 2 && /^\d+$/.test(fields[0]!) && /^\d+$/.test(fields[1]!)) {
      this.dim = Number(fields[1]); // word2vec / fastText header
      return true;
    }
    if (this.dim === 0) this.dim = fields.length - 1;
    if (this.dim < 1) throw new WordVectorsError(this.fileName, this.lineNo, 'expected a word and its values');
    // The last `dim` fields are the values; a word may hold spaces (some GloVe files have such words).
    if (fields.length < this.dim + 1) throw new WordVectorsError(this.fileName, this.lineNo, `expected a word and ${this.dim} values, got ${fields.length - 1} fields after the first`);
    const word = fields.slice(0, fields.length - this.dim).join(' ');
    if (this.seen.has(word)) return true;
    const row = this.row();
    for (let k = 0; k < this.dim; k++) {
      const s = fields[fields.length - this.dim + k]!, v = Number(s);
      if (s === '' || !Number.isFinite(v)) throw new WordVectorsError(this.fileName, this.lineNo, `value ${k + 1} of ${JSON.stringify(word)} is ${JSON.stringify(s)}, not a finite number`);
      row[k] = v;
    }
    this.seen.add(word);
    this.words.push(word);
    return this.words.length < this.maxWords;
  }

  /** Room for one more row (chunks of 4,096 rows, joined at the end). */
  private row(): Float32Array {
    if (this.fill === this.cur.length) {
      if (this.cur.length) this.chunks.push(this.cur);
      this.cur = new Float32Array(4096 * this.dim);
      this.fill = 0;
    }
    const r = this.cur.subarray(this.fill, this.fill + this.dim);
    this.fill += this.dim;
    return r;
  }

  done(): WordVectors {
    if (this.words.length === 0) throw new WordVectorsError(this.fileName, this.lineNo, 'no word vectors in the file');
    const vectors = new Float32Array(this.words.length * this.dim);
    let at = 0;
    for (const c of [...this.chunks, this.cur.subarray(0, this.fill)]) { vectors.set(c, at); at += c.length; }
    this.chunks = [];
    return { words: this.words, dim: this.dim, vectors };
  }
}

/** Word vectors from a file's text (see the file's comment). */
export function parseWordVectors(text: string, o: WordVectorOptions = {}): WordVectors {
  const r = new WordVectorReader(o);
  for (const line of text.split('\n')) if (!r.line(line)) break;
  return r.done();
}

/**
 * A lookup of the vectors by word as a vocabulary spells it: `key` maps a vector's word to that
 * spelling (lower-casing, say); the first vector of each key wins. Also the keys, in the file's order.
 */
export function vectorLookup(wv: WordVectors, key: (word: string) => string = (w) => w): { vectorOf: (token: string) => Float32Array | null; keys: string[] } {
  const row = new Map<string, number>();
  wv.words.forEach((w, i) => { const k = key(w); if (!row.has(k)) row.set(k, i); });
  return {
    vectorOf: (t) => {
      const i = row.get(t);
      return i === undefined ? null : wv.vectors.subarray(i * wv.dim, (i + 1) * wv.dim);
    },
    keys: [...row.keys()],
  };
}

/**
 * Sets the rows of an embedding layer's table (`tokens[i]` is row i; ids 0 and 1, <pad> and
 * <unk>, are left) to the vectors `vectorOf` has, through setWeights; returns how many rows it set.
 */
export function setEmbeddingRows(layer: { getWeights(): { data: Float32Array; shape: readonly number[] }[]; setWeights(w: readonly Float32Array[]): void },
  tokens: readonly string[], vectorOf: (token: string) => Float32Array | null): number {
  const [table] = layer.getWeights(), D = table!.shape[1]!, rows = Float32Array.from(table!.data);
  let found = 0;
  tokens.forEach((t, id) => {
    const v = id >= 2 ? vectorOf(t) : null;
    if (!v) return;
    if (v.length !== D) throw new RangeError(`the vector of ${JSON.stringify(t)} has ${v.length} values, the embedding ${D}`);
    rows.set(v, id * D);
    found++;
  });
  layer.setWeights([rows]);
  return found;
}
