// Loading a saved model where there is no file system: in a browser from the URL of the directory
// saveModel wrote (served as static files), or anywhere from the files' bytes. The same checks as
// loadModel: checksums.json's sizes and SHA-256 digests (Web Crypto), the safetensors files,
// finite weights, every tensor against the architecture; errors name the URL or file.
import {
  BundleError, CHECKSUMS_FILE, decodeBundle, DEFAULT_MAX_BUNDLE_BYTES, MANIFEST_FILE, OPTIMIZER_FILE, parseIndex, WEIGHTS_FILE, type LoadOptions,
} from './bundle-format.js';
import { modelFromBundle } from './model-format.js';
import { modelFromTfjs, tfjsWeightPaths } from './tfjs-format.js';
import type { Model, Sequential } from './sequential.js';

/** Lowercase hex SHA-256 of bytes, by Web Crypto (browsers, Node.js ≥ 20). */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const subtle = (globalThis as { crypto?: Crypto }).crypto?.subtle;
  if (!subtle) throw new Error('checking a model\'s checksums needs Web Crypto (crypto.subtle: a secure context — https or localhost — in browsers); pass verifyChecksums: false to skip them');
  const d = new Uint8Array(await subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>));
  let s = '';
  for (const b of d) s += b.toString(16).padStart(2, '0');
  return s;
}

/**
 * A model from the bytes of the files saveModel wrote (name -> bytes or text): model.json and
 * weights.safetensors, and checksums.json (needed unless verifyChecksums is false) and
 * optimizer.safetensors when present. `where` names the model in errors (default 'model').
 */
export async function modelFromFiles<M extends Model = Sequential>(
  files: Record<string, Uint8Array | string>, opts: LoadOptions & { where?: string } = {},
): Promise<M> {
  return fromFiles<M>(files, opts, new Set());
}

/** modelFromFiles, the files in `skipped` allowed to be absent though checksums.json lists them. */
async function fromFiles<M extends Model>(
  files: Record<string, Uint8Array | string>, opts: LoadOptions & { where?: string }, skipped: ReadonlySet<string>,
): Promise<M> {
  const base = opts.where ?? 'model';
  const name = (f: string): string => `${base.replace(/\/+$/, '')}/${f}`;
  const contents = new Map<string, Uint8Array>();
  let total = 0;
  const max = opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  for (const [f, v] of Object.entries(files)) {
    const bytes = typeof v === 'string' ? new TextEncoder().encode(v) : v;
    if (!(bytes instanceof Uint8Array)) throw new BundleError(name(f), 'expected the file\'s bytes (a Uint8Array) or its text');
    total += bytes.length;
    if (total > max) throw new BundleError(name(f), `the model's files exceed ${max} bytes (maxBytes)`);
    contents.set(f, bytes);
  }
  const verify = opts.verifyChecksums ?? true;
  const indexBytes = contents.get(CHECKSUMS_FILE);
  contents.delete(CHECKSUMS_FILE);
  if (!indexBytes && verify) throw new BundleError(name(CHECKSUMS_FILE), 'missing (pass verifyChecksums: false to load a hand-assembled model unchecked)');
  const index = indexBytes ? parseIndex(indexBytes, name(CHECKSUMS_FILE)) : null;
  const b = await decodeBundle(contents, index, opts, name, sha256Hex, skipped);
  return modelFromBundle(b, { manifest: name(MANIFEST_FILE), weights: name(WEIGHTS_FILE) }) as M;
}

export interface LoadFromUrlOptions extends LoadOptions {
  /** The fetch to use (default globalThis.fetch), e.g. one that adds credentials. */
  fetch?: typeof fetch;
  /** Also fetch optimizer.safetensors, to resume training (default false: inference needs the weights only). */
  withOptimizer?: boolean;
}

/** fetch (the option's, or the global one) and the URL resolved against the page; errors name `who`. */
function fetcher(who: string, url: string | URL, f: typeof fetch | undefined): { doFetch: typeof fetch; at: URL } {
  const doFetch = f ?? (globalThis as { fetch?: typeof fetch }).fetch;
  if (!doFetch) throw new Error(`${who} needs fetch (browsers, Node.js ≥ 18)`);
  const loc = (globalThis as { location?: { href: string } }).location;
  try {
    return { doFetch, at: new URL(String(url), loc?.href) };
  } catch {
    throw new RangeError(`${who}: ${JSON.stringify(String(url))} is not a URL${loc ? '' : ' (outside a page a relative URL has nothing to resolve against)'}`);
  }
}

/** The bytes at `u`; null for a 404 when not `required`. Errors name the URL. */
async function fetchBytes(doFetch: typeof fetch, u: string, required: boolean): Promise<Uint8Array | null> {
  let r: Response;
  try {
    r = await doFetch(u);
  } catch (e) {
    throw new BundleError(u, `could not be fetched (${(e as Error).message})`, { cause: e });
  }
  if (r.status === 404 && !required) return null;
  if (!r.ok) throw new BundleError(u, `could not be fetched: HTTP ${r.status}${r.statusText ? ` ${r.statusText}` : ''}`);
  return new Uint8Array(await r.arrayBuffer());
}

/**
 * A model from the URL of a directory saveModel wrote, served as static files (a relative URL
 * resolves against the page): `loadModelFromUrl('models/sentiment/')`. The files it lists in
 * checksums.json are fetched and checked (the optimiser's state only with withOptimizer).
 */
export async function loadModelFromUrl<M extends Model = Sequential>(url: string | URL, opts: LoadFromUrlOptions = {}): Promise<M> {
  const { doFetch, at: dir } = fetcher('loadModelFromUrl', url, opts.fetch);
  if (!dir.pathname.endsWith('/')) dir.pathname += '/';
  const get = (f: string, required: boolean): Promise<Uint8Array | null> => fetchBytes(doFetch, new URL(f, dir).href, required);
  const verify = opts.verifyChecksums ?? true;
  const files: Record<string, Uint8Array> = {};
  const index = await get(CHECKSUMS_FILE, verify);
  let names = [MANIFEST_FILE, WEIGHTS_FILE];
  if (index) {
    files[CHECKSUMS_FILE] = index;
    names = Object.keys(parseIndex(index, new URL(CHECKSUMS_FILE, dir).href).files);
  }
  for (const f of names) {
    if (f === OPTIMIZER_FILE && !opts.withOptimizer) continue;
    files[f] = (await get(f, true))!;
  }
  if (!index && opts.withOptimizer) {
    const o = await get(OPTIMIZER_FILE, false);
    if (o) files[OPTIMIZER_FILE] = o;
  }
  // (The optimiser's state, not fetched without withOptimizer, may be missing though listed.)
  return fromFiles<M>(files, { ...opts, where: dir.href }, new Set(opts.withOptimizer ? [] : [OPTIMIZER_FILE]));
}

/**
 * A TF.js layers model from the URL of its model.json (what `tf.loadLayersModel(url)` reads: the
 * weight files beside it): modelFromTfjs over the fetched bytes. Errors name the URL.
 */
export async function loadTfjsModelFromUrl<M extends Model = Sequential>(url: string | URL, opts: { fetch?: typeof fetch } = {}): Promise<M> {
  const { doFetch, at: json } = fetcher('loadTfjsModelFromUrl', url, opts.fetch);
  const bytes = (await fetchBytes(doFetch, json.href, true))!;
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new BundleError(json.href, `not JSON: ${(e as Error).message}`);
  }
  const parts = await Promise.all(tfjsWeightPaths(parsed, json.href).map(async (p) => (await fetchBytes(doFetch, new URL(p, json).href, true))!));
  return modelFromTfjs<M>(parsed, parts, json.href);
}
