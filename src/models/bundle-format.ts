// The model bundle's format, without the file system (browsers load bundles too: model-fetch.ts):
// its file names and manifest, the checksum index, and turning the files' bytes into checked
// tensors. node/bundle.ts writes and reads bundle directories with it. Every error is a
// BundleError whose message starts with the file concerned (a path, or a URL).
import { decodeSafetensors, firstNonFinite, SafetensorsError, type SafeTensor, type TensorLike } from './safetensors.js';

/** Newest bundle format this code writes and reads. */
export const FORMAT_VERSION = 1;
export const BUNDLE_FORMAT = 'rnnkit-model';
/** Default limit on the total bytes loadBundle reads (2 GiB). */
export const DEFAULT_MAX_BUNDLE_BYTES = 2 * 1024 ** 3;

export const MANIFEST_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.safetensors';
export const OPTIMIZER_FILE = 'optimizer.safetensors';
export const CHECKSUMS_FILE = 'checksums.json';
export const RESERVED = new Set([MANIFEST_FILE, WEIGHTS_FILE, OPTIMIZER_FILE, CHECKSUMS_FILE]);
/** Extra-file and checkpoint names: one plain path segment starting with a letter or digit
 *  (so no "..", no hidden files, no "__proto__"). */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

export interface BundleManifest {
  format: 'rnnkit-model';
  formatVersion: number;
  /** e.g. "rnnkit 0.1.0". */
  createdBy: string;
  [k: string]: unknown;
}

/** Tensors to save (array type checked against dtype at run time). */
export type TensorMap = Record<string, TensorLike>;
/** Tensors as loaded: `dtype` narrows `data` (F32 -> Float32Array, I64 -> BigInt64Array...). */
export type LoadedTensorMap = Record<string, SafeTensor>;

export interface OptimizerState {
  tensors: TensorMap;
  /** Scalars such as step count or hyperparameters, stored as strings in the file's __metadata__. */
  metadata?: Record<string, string>;
}

export interface Bundle {
  manifest: BundleManifest;
  weights: TensorMap;
  optimizer?: OptimizerState;
  /** Extra files by plain name (e.g. "vocab.json"); strings are stored as UTF-8 and come back as strings. */
  extraFiles?: Record<string, string | Uint8Array>;
}

export interface LoadedBundle {
  manifest: BundleManifest;
  weights: LoadedTensorMap;
  optimizer?: { tensors: LoadedTensorMap; metadata: Record<string, string> };
  extraFiles?: Record<string, string | Uint8Array>;
}

export interface LoadOptions {
  /** Refuse bundles whose files total more than this many bytes, before reading them (default 2 GiB). */
  maxBytes?: number;
  /** Verify checksums.json (default true). Set false only for hand-assembled bundles without one. */
  verifyChecksums?: boolean;
  /** Accept NaN/Infinity in float tensors (default false). */
  allowNonFinite?: boolean;
}

/** Any problem saving or loading a bundle; `file` is the path concerned. */
export class BundleError extends Error {
  override name = 'BundleError';
  constructor(readonly file: string, detail: string, options?: { cause?: unknown }) {
    super(`${file}: ${detail}`, options);
  }
}

export interface FileRecord {
  sha256: string;
  bytes: number;
  /** Extra files only: how to return the content. */
  kind?: 'text' | 'binary';
}

export interface ChecksumsJson {
  algorithm: 'sha256';
  files: Record<string, FileRecord>;
}

export function parseJson(bytes: Uint8Array, path: string): unknown {
  try {
    return JSON.parse(decodeText(bytes, path));
  } catch (e) {
    if (e instanceof BundleError) throw e;
    throw new BundleError(path, `not valid JSON (${(e as Error).message})`, { cause: e });
  }
}

export function decodeText(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (e) {
    throw new BundleError(path, 'not valid UTF-8 text', { cause: e });
  }
}

export function parseManifest(bytes: Uint8Array, path: string): BundleManifest {
  const m = parseJson(bytes, path);
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new BundleError(path, 'manifest must be a JSON object');
  const { format, formatVersion } = m as Record<string, unknown>;
  if (format !== BUNDLE_FORMAT) {
    throw new BundleError(path, `not an rnnkit model: "format" is ${JSON.stringify(format)}, expected "${BUNDLE_FORMAT}"`);
  }
  if (typeof formatVersion !== 'number' || !Number.isInteger(formatVersion) || formatVersion < 1) {
    throw new BundleError(path, `"formatVersion" must be a positive integer, got ${JSON.stringify(formatVersion)}`);
  }
  if (formatVersion > FORMAT_VERSION) {
    throw new BundleError(path, `saved by a newer rnnkit (format ${formatVersion}); this version reads up to ${FORMAT_VERSION}`);
  }
  return m as BundleManifest;
}

export function parseIndex(bytes: Uint8Array, path: string): ChecksumsJson {
  const raw = parseJson(bytes, path) as Partial<ChecksumsJson> | null;
  const bad = (msg: string): never => { throw new BundleError(path, msg); };
  if (raw === null || typeof raw !== 'object' || raw.algorithm !== 'sha256' || raw.files === null || typeof raw.files !== 'object') {
    bad('expected { "algorithm": "sha256", "files": { ... } }');
  }
  for (const [name, rec] of Object.entries(raw!.files!)) {
    if (!RESERVED.has(name) && !SAFE_NAME.test(name)) bad(`lists an invalid file name ${JSON.stringify(name)}`);
    if (name === CHECKSUMS_FILE) bad('must not list itself');
    const r = rec as Partial<FileRecord> | null;
    if (r === null || typeof r !== 'object' || typeof r.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(r.sha256)
      || typeof r.bytes !== 'number' || !Number.isSafeInteger(r.bytes) || r.bytes < 0
      || (r.kind !== undefined && r.kind !== 'text' && r.kind !== 'binary')) {
      bad(`bad entry for ${JSON.stringify(name)}: expected { "sha256": <64 hex>, "bytes": <int> }`);
    }
  }
  if (!Object.prototype.hasOwnProperty.call(raw!.files, MANIFEST_FILE)) bad(`does not list ${MANIFEST_FILE}`);
  return raw as ChecksumsJson;
}

export function checkFinite(tensors: LoadedTensorMap, path: string): void {
  for (const [name, t] of Object.entries(tensors)) {
    const i = firstNonFinite(t);
    if (i >= 0) {
      throw new BundleError(path, `tensor ${JSON.stringify(name)} has a non-finite value (${t.data[i]}) at flat index ${i} of ${t.data.length}`);
    }
  }
}

/**
 * A bundle's files (name -> bytes, the manifest's among them, as listed by the checksum index
 * when there is one) checked and decoded: sizes and SHA-256 digests against the index (`digest`
 * gives a file's lowercase hex digest), the safetensors files parsed, non-finite weights refused
 * (unless allowed), extra files returned as text or bytes. `where(f)` names file f in errors;
 * files in `skipped` may be listed in the index and still be absent (left out on purpose).
 */
export async function decodeBundle(
  contents: Map<string, Uint8Array>, index: ChecksumsJson | null, opts: LoadOptions,
  where: (file: string) => string, digest: (bytes: Uint8Array) => string | Promise<string>,
  skipped: ReadonlySet<string> = new Set(),
): Promise<LoadedBundle> {
  const manifestBytes = contents.get(MANIFEST_FILE);
  if (!manifestBytes) throw new BundleError(where(MANIFEST_FILE), 'missing from the model bundle');
  const manifest = parseManifest(manifestBytes, where(MANIFEST_FILE));
  if (!contents.has(WEIGHTS_FILE)) throw new BundleError(where(WEIGHTS_FILE), 'missing from the model bundle');
  if ((opts.verifyChecksums ?? true) && index) {
    for (const [f, rec] of Object.entries(index.files)) {
      const bytes = contents.get(f);
      if (!bytes && skipped.has(f)) continue;
      if (!bytes) throw new BundleError(where(f), 'listed in checksums.json but missing');
      if (bytes.length !== rec.bytes) {
        throw new BundleError(where(f), `${bytes.length < rec.bytes ? 'truncated' : 'wrong size'}: expected ${rec.bytes} bytes, found ${bytes.length}`);
      }
      if ((await digest(bytes)) !== rec.sha256) throw new BundleError(where(f), 'checksum mismatch: the file is corrupted or was modified after saving');
    }
  }
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  const decode = (f: string): { tensors: LoadedTensorMap; metadata: Record<string, string> } => {
    let out;
    try {
      out = decodeSafetensors(contents.get(f)!, { maxBytes });
    } catch (e) {
      if (e instanceof SafetensorsError) throw new BundleError(where(f), e.message, { cause: e });
      throw e;
    }
    if (!opts.allowNonFinite) checkFinite(out.tensors, where(f));
    return out;
  };
  const result: LoadedBundle = { manifest, weights: decode(WEIGHTS_FILE).tensors };
  if (contents.has(OPTIMIZER_FILE)) result.optimizer = decode(OPTIMIZER_FILE);
  const extras = [...contents.keys()].filter((f) => !RESERVED.has(f));
  if (extras.length > 0) {
    result.extraFiles = {};
    for (const f of extras) {
      const bytes = contents.get(f)!;
      result.extraFiles[f] = index?.files[f]?.kind === 'text' ? decodeText(bytes, where(f)) : bytes;
    }
  }
  return result;
}
