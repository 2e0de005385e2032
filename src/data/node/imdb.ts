// The IMDB review archive (aclImdb_v1.tar.gz): download once into a cache, then read one split
// straight from the .tar.gz, without unpacking 100,000 small files (Node only).
//
// The tar reader understands what this archive (and GNU/POSIX tar in general) uses: ustar
// headers with the 155-byte name prefix, GNU long names (type 'L') and pax extended headers
// (type 'x', key "path"). Numeric fields may be octal or GNU base-256.
import { createReadStream, createWriteStream, existsSync, statSync } from 'node:fs';
import { rename, rm } from 'node:fs/promises';
import { makeDirsSync } from './make-dirs.js';
import * as http from 'node:http';
import * as https from 'node:https';
import { homedir } from 'node:os';
import { basename, join } from 'node:path';
import { pipeline } from 'node:stream';
import { pipeline as pipelineAsync } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { createGunzip } from 'node:zlib';
import { decodeText, type TextDataset } from './readers.js';

export const IMDB_URL = 'https://ai.stanford.edu/~amaas/data/sentiment/aclImdb_v1.tar.gz';

/** Writes the resource at `url` to the file `dest` (the loader renames it into place afterwards). */
export type Fetcher = (url: string, dest: string) => Promise<void>;

export interface ImdbArchiveOptions {
  /** Archive URL: https:, http: or file: (default IMDB_URL). */
  url?: string;
  /** Cache folder (default $RNNKIT_CACHE, else ~/.cache/rnnkit). */
  cacheDir?: string;
  /** 'train' or 'test' (default 'train'). */
  split?: 'train' | 'test';
  /** Replaces the built-in downloader (tests, proxies). */
  fetcher?: Fetcher;
  /** Progress messages (download start, cache hit). */
  log?: (message: string) => void;
}

export function defaultCacheDir(): string {
  return process.env.RNNKIT_CACHE ?? join(homedir(), '.cache', 'rnnkit');
}

// ---------------------------------------------------------------------------------------------
// Download

/** GET with redirects (at most `maxRedirects`) into `file`; file: URLs are copied. */
export async function fetchToFile(url: string, file: string, maxRedirects = 5): Promise<void> {
  const u = new URL(url);
  if (u.protocol === 'file:') {
    await pipelineAsync(createReadStream(fileURLToPath(u)), createWriteStream(file));
    return;
  }
  if (u.protocol !== 'https:' && u.protocol !== 'http:') throw new Error(`download ${url}: unsupported protocol ${u.protocol} (use https:, http: or file:)`);
  const get = u.protocol === 'https:' ? https.get : http.get;
  const res = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const req = get(u, resolve);
    req.on('error', (e) => reject(new Error(`download ${url}: ${e.message}`)));
    req.setTimeout(60_000, () => req.destroy(new Error('no data for 60 s')));
  });
  const status = res.statusCode ?? 0;
  if (status >= 300 && status < 400 && res.headers.location) {
    res.resume();
    if (maxRedirects <= 0) throw new Error(`download ${url}: too many redirects`);
    return fetchToFile(new URL(res.headers.location, u).href, file, maxRedirects - 1);
  }
  if (status !== 200) {
    res.resume();
    throw new Error(`download ${url}: HTTP ${status} ${res.statusMessage ?? ''}`.trim());
  }
  const expected = Number(res.headers['content-length'] ?? NaN);
  await pipelineAsync(res, createWriteStream(file));
  const got = statSync(file).size;
  if (Number.isFinite(expected) && got !== expected) throw new Error(`download ${url}: got ${got} of ${expected} bytes`);
}

/**
 * The cached copy of `url` in `cacheDir`, downloading it first if absent. The download goes to
 * a temporary file in the same folder and is renamed into place only when complete, so an
 * interrupted download never leaves a truncated archive behind.
 */
export async function ensureCached(url: string, cacheDir: string, fetcher: Fetcher = fetchToFile, log?: (m: string) => void): Promise<string> {
  const name = basename(new URL(url).pathname) || 'download';
  const dest = join(cacheDir, name);
  if (existsSync(dest) && statSync(dest).isFile() && statSync(dest).size > 0) {
    log?.(`using cached ${dest}`);
    return dest;
  }
  makeDirsSync(cacheDir);
  const tmp = `${dest}.${process.pid}.${Date.now()}.part`;
  log?.(`downloading ${url} → ${dest}`);
  try {
    await fetcher(url, tmp);
    await rename(tmp, dest);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  return dest;
}

// ---------------------------------------------------------------------------------------------
// Tar reading

/** Reads exact byte counts from a stream of chunks. */
class ChunkReader {
  private buf: Buffer = Buffer.alloc(0);
  private off = 0;
  /** Bytes consumed so far (for error messages). */
  pos = 0;
  constructor(private readonly it: AsyncIterator<Buffer>, private readonly what: string) {}

  private async fill(): Promise<boolean> {
    while (this.off >= this.buf.length) {
      const r = await this.it.next();
      if (r.done) return false;
      this.buf = r.value;
      this.off = 0;
    }
    return true;
  }

  /** Exactly n bytes, or null at a clean end of stream; throws if the stream ends inside. */
  async read(n: number): Promise<Buffer | null> {
    const parts: Buffer[] = [];
    let got = 0;
    while (got < n) {
      if (!(await this.fill())) {
        if (got === 0) return null;
        throw new Error(`${this.what}: truncated archive (ends inside a member at byte ${this.pos})`);
      }
      const k = Math.min(n - got, this.buf.length - this.off);
      parts.push(this.buf.subarray(this.off, this.off + k));
      this.off += k; got += k; this.pos += k;
    }
    return parts.length === 1 ? parts[0]! : Buffer.concat(parts, n);
  }

  async skip(n: number): Promise<void> {
    while (n > 0) {
      if (!(await this.fill())) throw new Error(`${this.what}: truncated archive (ends inside a member at byte ${this.pos})`);
      const k = Math.min(n, this.buf.length - this.off);
      this.off += k; n -= k; this.pos += k;
    }
  }
}

const cstr = (b: Buffer, start: number, len: number): string => {
  const end = b.indexOf(0, start);
  return b.toString('utf8', start, end < 0 || end > start + len ? start + len : end);
};

/** Octal (space/NUL terminated) or GNU base-256 (high bit of the first byte set). */
function tarNumber(b: Buffer, start: number, len: number): number {
  if (b[start]! & 0x80) {
    let v = b[start]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i]!;
    return v;
  }
  const s = b.toString('latin1', start, start + len).replace(/[\0 ]+$/, '').trim();
  return s === '' ? 0 : parseInt(s, 8);
}

/** pax records "<len> <key>=<value>\n" → map. */
function parsePax(body: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  while (i < body.length) {
    const sp = body.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(body.toString('latin1', i, sp), 10);
    if (!(len > 0)) break;
    const rec = body.toString('utf8', sp + 1, i + len - 1);
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    i += len;
  }
  return out;
}

export interface TarFile {
  name: string;
  data: Buffer;
}

/**
 * The regular files of a .tar.gz whose (full) name passes `want`, in archive order.
 * Other members are skipped without being buffered.
 */
export async function* readTarGz(archive: string, want: (name: string) => boolean): AsyncGenerator<TarFile> {
  const gunzip = createGunzip();
  // pipeline forwards a read error to gunzip, which then fails the iteration below
  pipeline(createReadStream(archive), gunzip, () => {});
  const it = gunzip[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const r = new ChunkReader(it, archive);
  let longName: string | null = null;
  try {
    for (;;) {
      const at = r.pos;
      const h = await r.read(512);
      if (h === null || h.every((x) => x === 0)) break; // end of archive (two zero blocks, or EOF)
      let sum = 0;
      for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 0x20 : h[i]!;
      if (sum !== tarNumber(h, 148, 8)) throw new Error(`${archive}: corrupt tar header at byte ${at} (checksum mismatch)`);
      const size = tarNumber(h, 124, 12);
      const type = h[156] === 0 ? '0' : String.fromCharCode(h[156]!);
      let name = cstr(h, 0, 100);
      // POSIX ustar ("ustar\0") keeps a name prefix at 345; GNU ("ustar  ") uses that area otherwise
      if (h.toString('latin1', 257, 263) === 'ustar\0') {
        const prefix = cstr(h, 345, 155);
        if (prefix) name = `${prefix}/${name}`;
      }
      if (longName !== null) { name = longName; longName = null; }
      const pad = (512 - (size % 512)) % 512;
      if (type === 'L' || type === 'x') {
        const body = (await r.read(size)) ?? Buffer.alloc(0);
        await r.skip(pad);
        if (type === 'L') longName = cstr(body, 0, body.length);
        else longName = parsePax(body).get('path') ?? null;
        continue;
      }
      if ((type === '0' || type === '7') && want(name)) {
        const data = size === 0 ? Buffer.alloc(0) : await r.read(size);
        if (data === null) throw new Error(`${archive}: truncated archive (member ${name})`);
        await r.skip(pad);
        yield { name, data };
      } else {
        await r.skip(size + pad);
      }
    }
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.startsWith(archive)) throw e;
    throw new Error(`${archive}: not a readable .tar.gz (${msg}); if it is a cached download, delete it and retry`);
  } finally {
    await it.return?.();
  }
}

// ---------------------------------------------------------------------------------------------
// Tar writing (small archives for tests and fixtures)

export interface TarEntryIn {
  name: string;
  /** File contents; omit for a directory. */
  data?: Uint8Array | string;
}

function header(name: string, size: number, type: string): Buffer {
  const h = Buffer.alloc(512);
  const put = (s: string, off: number, len: number): void => { h.write(s, off, len, 'utf8'); };
  const octal = (v: number, off: number, len: number): void => put(v.toString(8).padStart(len - 1, '0') + '\0', off, len);
  put(name, 0, 100);
  octal(type === '5' ? 0o755 : 0o644, 100, 8);
  octal(0, 108, 8);
  octal(0, 116, 8);
  octal(size, 124, 12);
  octal(0, 136, 12);
  put(type, 156, 1);
  put('ustar\0' + '00', 257, 8);
  h.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of h) sum += x;
  put(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8);
  return h;
}

const padded = (b: Buffer): Buffer[] => [b, Buffer.alloc((512 - (b.length % 512)) % 512)];

/**
 * An uncompressed tar archive. Names longer than 100 bytes get a GNU 'L' record
 * (longNames: 'gnu', default) or a pax 'x' record (longNames: 'pax').
 */
export function packTar(entries: readonly TarEntryIn[], options: { longNames?: 'gnu' | 'pax' } = {}): Buffer {
  const out: Buffer[] = [];
  for (const e of entries) {
    const dir = e.data === undefined;
    const name = dir && !e.name.endsWith('/') ? `${e.name}/` : e.name;
    const data = dir ? Buffer.alloc(0) : Buffer.from(e.data as Uint8Array | string);
    if (Buffer.byteLength(name) > 100) {
      if ((options.longNames ?? 'gnu') === 'gnu') {
        const body = Buffer.from(name + '\0');
        out.push(header('././@LongLink', body.length, 'L'), ...padded(body));
      } else {
        // the record length counts its own digits
        const rest = ` path=${name}\n`;
        let len = Buffer.byteLength(rest) + 1;
        while (String(len).length + Buffer.byteLength(rest) !== len) len = String(len).length + Buffer.byteLength(rest);
        const body = Buffer.from(`${len}${rest}`);
        out.push(header('PaxHeader/long', body.length, 'x'), ...padded(body));
      }
    }
    out.push(header(Buffer.from(name).subarray(0, 100).toString('utf8'), data.length, dir ? '5' : '0'), ...padded(data));
  }
  out.push(Buffer.alloc(1024));
  return Buffer.concat(out);
}

// ---------------------------------------------------------------------------------------------
// IMDB

/**
 * One split of the IMDB archive: reviews of aclImdb/<split>/{neg,pos}/{id}_{rating}.txt,
 * neg = 0, pos = 1, ordered by class then numeric id (the same labels as the aclImdb reader).
 */
export async function loadImdbArchive(options: ImdbArchiveOptions = {}): Promise<TextDataset> {
  const { url = IMDB_URL, cacheDir = defaultCacheDir(), split = 'train', fetcher, log } = options;
  if (split !== 'train' && split !== 'test') throw new Error(`loadImdbArchive: split must be 'train' or 'test', got ${JSON.stringify(split)}`);
  const archive = await ensureCached(url, cacheDir, fetcher, log);
  const re = new RegExp(`^(?:\\./)?aclImdb/${split}/(neg|pos)/(\\d+)_(\\d+)\\.txt$`);
  const rows: { y: number; id: number; rating: number; text: string }[] = [];
  for await (const f of readTarGz(archive, (n) => re.test(n))) {
    const m = re.exec(f.name)!;
    rows.push({ y: m[1] === 'pos' ? 1 : 0, id: Number(m[2]), rating: Number(m[3]), text: decodeText(f.data, `${archive}:${f.name}`) });
  }
  if (rows.length === 0) throw new Error(`${archive}: no aclImdb/${split}/{neg,pos}/*.txt members (is this aclImdb_v1.tar.gz?)`);
  rows.sort((a, b) => a.y - b.y || a.id - b.id);
  return {
    texts: rows.map((r) => r.text),
    labels: rows.map((r) => r.y),
    labelNames: ['neg', 'pos'],
    ratings: rows.map((r) => r.rating),
    ids: rows.map((r) => r.id),
  };
}
