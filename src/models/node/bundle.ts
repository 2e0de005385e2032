// Model bundles on disk: one directory per model, written atomically, verified on load.
//
//   <dir>/model.json              manifest (architecture, names, shapes, vocab...; filled by the model)
//   <dir>/weights.safetensors     parameters
//   <dir>/optimizer.safetensors   optional optimiser state, for resuming training
//   <dir>/<extra files>           optional (vocab, tokenizer, notes...)
//   <dir>/checksums.json          sha256 + byte size of every file above; written last
//
// Saving writes everything into a fresh temp directory beside the target, fsyncs it, then swaps it in
// (old bundle -> backup name, temp -> target, backup removed). A failure at any step leaves the old
// bundle at <dir> (restored from the backup if it had been moved) and removes the temp directory.
// Between the two renames <dir> is briefly absent (POSIX cannot atomically exchange directories);
// a crash in that window leaves the old bundle complete under `.<name>.old-*`, which loadBundle's
// "not found" error points to.
//
// Loading checks sizes against a limit before reading, verifies checksums, parses JSON with
// JSON.parse only, validates the safetensors files and refuses non-finite weights. Every error is a
// BundleError whose message starts with the path of the offending file.
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { fsReason } from '../../data/node/fs-reason.js';
import { makeDirsSync } from '../../data/node/make-dirs.js';
import { encodeSafetensors } from '../safetensors.js';
import {
  BUNDLE_FORMAT, BundleError, CHECKSUMS_FILE, decodeBundle, DEFAULT_MAX_BUNDLE_BYTES, FORMAT_VERSION, MANIFEST_FILE, OPTIMIZER_FILE,
  parseIndex, parseManifest, RESERVED, SAFE_NAME, WEIGHTS_FILE,
  type Bundle, type ChecksumsJson, type LoadedBundle, type LoadOptions, type TensorMap,
} from '../bundle-format.js';

export {
  BUNDLE_FORMAT, BundleError, CHECKSUMS_FILE, DEFAULT_MAX_BUNDLE_BYTES, FORMAT_VERSION, MANIFEST_FILE, OPTIMIZER_FILE, WEIGHTS_FILE,
  type Bundle, type BundleManifest, type LoadedBundle, type LoadedTensorMap, type LoadOptions, type OptimizerState, type TensorMap,
} from '../bundle-format.js';

/** A point in saveBundle's sequence, passed to `onStep` (a test hook: throwing aborts the save). */
export type SaveStep =
  | { kind: 'write'; file: string }       // before writing this file into the temp directory
  | { kind: 'commit'; tempDir: string }   // all files written and synced, before the swap
  | { kind: 'swap'; backup: string | null }; // old bundle moved aside (if any), new not yet in place

export interface SaveOptions {
  /** fsync files and directories (default true; false only speeds up tests). */
  fsync?: boolean;
  onStep?: (step: SaveStep) => void | Promise<void>;
}

/** Renames retried when another save of the same directory slips in between ours. */
const MAX_SWAP_ATTEMPTS = 20;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const errCode = (e: unknown): string | undefined => (e as { code?: string } | null)?.code;

// ---------------------------------------------------------------------------------------------
// Saving

/**
 * Write a bundle to `dir` atomically: afterwards `dir` holds exactly the new bundle; if this throws,
 * it still holds the previous one (or nothing, if there was none) and no temp directory is left.
 * Refuses to replace an existing non-empty directory that is not a bundle.
 */
export async function saveBundle(dir: string, bundle: Bundle, opts: SaveOptions = {}): Promise<void> {
  const target = resolve(dir);
  const files = serializeBundle(target, bundle); // validates everything before touching the disk
  const doSync = opts.fsync ?? true;
  const step = async (s: SaveStep): Promise<void> => { await opts.onStep?.(s); };

  const parent = dirname(target);
  try {
    makeDirsSync(parent);
  } catch (e) {
    throw new BundleError(target, `cannot create the directory ${parent}: ${fsReason(e)}`, { cause: e });
  }
  await assertReplaceable(target);

  const tmp = await makeUniqueDir(parent, `.${basename(target)}.tmp`);
  const backups: string[] = []; // old bundles moved aside (more than one only if saves raced)
  try {
    for (const [name, bytes] of files) {
      await step({ kind: 'write', file: name });
      await writeDurable(join(tmp, name), bytes, doSync);
    }
    if (doSync) await syncDir(tmp);
    await step({ kind: 'commit', tempDir: tmp });

    // Swap. If another save replaced the target between our renames, move that aside too and retry.
    for (let attempt = 0; ; attempt++) {
      const backup = uniqueName(parent, `.${basename(target)}.old`);
      let moved: string | null = backup;
      try {
        await rename(target, backup);
        backups.push(backup);
      } catch (e) {
        if (errCode(e) !== 'ENOENT') throw e;
        moved = null;
      }
      await step({ kind: 'swap', backup: moved });
      try {
        await rename(tmp, target);
        break;
      } catch (e) {
        const raced = ['ENOTEMPTY', 'EEXIST', 'EPERM', 'EACCES'].includes(errCode(e) ?? '');
        if (!raced || attempt >= MAX_SWAP_ATTEMPTS - 1) throw e;
        await sleep(Math.random() * 5 * (attempt + 1)); // randomised backoff breaks lockstep between racers
      }
    }
  } catch (e) {
    await restoreAfterFailure(target, tmp, backups);
    throw e instanceof BundleError ? e : new BundleError(target, `save failed (${dir} left as it was): ${(e as Error).message}`, { cause: e });
  }
  if (doSync) await syncDir(parent);
  for (const b of backups) await rm(b, { recursive: true, force: true }).catch(() => undefined);
}

/** Encode every file of the bundle, in write order (checksums.json last). */
function serializeBundle(target: string, b: Bundle): Array<[string, Uint8Array]> {
  const m = b.manifest;
  const where = join(target, MANIFEST_FILE);
  if (m === null || typeof m !== 'object') throw new BundleError(where, 'manifest must be an object');
  if (m.format !== BUNDLE_FORMAT) throw new BundleError(where, `manifest.format must be "${BUNDLE_FORMAT}", got ${JSON.stringify(m.format)}`);
  if (!Number.isInteger(m.formatVersion) || m.formatVersion < 1 || m.formatVersion > FORMAT_VERSION) {
    throw new BundleError(where, `manifest.formatVersion must be an integer 1..${FORMAT_VERSION}, got ${JSON.stringify(m.formatVersion)}`);
  }
  if (typeof m.createdBy !== 'string') throw new BundleError(where, 'manifest.createdBy must be a string');

  const encode = (file: string, tensors: TensorMap, meta: Record<string, string>): Uint8Array => {
    try {
      return encodeSafetensors(tensors, meta);
    } catch (e) {
      throw new BundleError(join(target, file), (e as Error).message, { cause: e });
    }
  };
  const files: Array<[string, Uint8Array]> = [];
  const fileMeta = { 'rnnkit.format': BUNDLE_FORMAT, 'rnnkit.formatVersion': String(m.formatVersion) };
  files.push([WEIGHTS_FILE, encode(WEIGHTS_FILE, b.weights, fileMeta)]);
  if (b.optimizer) files.push([OPTIMIZER_FILE, encode(OPTIMIZER_FILE, b.optimizer.tensors, b.optimizer.metadata ?? {})]);

  const kinds = new Map<string, 'text' | 'binary'>();
  for (const [name, content] of Object.entries(b.extraFiles ?? {})) {
    checkExtraName(name, join(target, name));
    if (typeof content === 'string') {
      files.push([name, new TextEncoder().encode(content)]);
      kinds.set(name, 'text');
    } else if (content instanceof Uint8Array) {
      files.push([name, content]);
      kinds.set(name, 'binary');
    } else {
      throw new BundleError(join(target, name), 'extra file content must be a string or Uint8Array');
    }
  }

  let manifestText: string;
  try {
    manifestText = JSON.stringify(m, null, 2) + '\n';
  } catch (e) {
    throw new BundleError(where, `manifest is not JSON-serialisable: ${(e as Error).message}`, { cause: e });
  }
  files.push([MANIFEST_FILE, new TextEncoder().encode(manifestText)]);

  const index: ChecksumsJson = { algorithm: 'sha256', files: {} };
  for (const [name, bytes] of files) {
    const kind = kinds.get(name);
    index.files[name] = { sha256: sha256(bytes), bytes: bytes.length, ...(kind ? { kind } : {}) };
  }
  files.push([CHECKSUMS_FILE, new TextEncoder().encode(JSON.stringify(index, null, 2) + '\n')]);
  return files;
}

function checkExtraName(name: string, where: string): void {
  if (!SAFE_NAME.test(name) || RESERVED.has(name)) {
    throw new BundleError(where, `invalid extra file name ${JSON.stringify(name)} (use letters, digits, '.', '_', '-'; not a reserved bundle file)`);
  }
}

/** The target may be missing, an empty directory, or an existing bundle; anything else is refused. */
async function assertReplaceable(target: string): Promise<void> {
  let entries: string[];
  try {
    entries = await readdir(target);
  } catch (e) {
    if (errCode(e) === 'ENOENT') return;
    if (errCode(e) === 'ENOTDIR') throw new BundleError(target, 'exists and is not a directory; refusing to replace it');
    throw e;
  }
  if (entries.length > 0 && !entries.includes(MANIFEST_FILE)) {
    throw new BundleError(target, `exists and is not an rnnkit bundle (no ${MANIFEST_FILE}); refusing to replace it`);
  }
}

function uniqueName(parent: string, prefix: string): string {
  return join(parent, `${prefix}-${process.pid}-${randomBytes(6).toString('hex')}`);
}

/** mkdir fails if the name exists, so a created directory is ours alone even under concurrency. */
async function makeUniqueDir(parent: string, prefix: string): Promise<string> {
  for (let i = 0; ; i++) {
    const p = uniqueName(parent, prefix);
    try {
      await mkdir(p);
      return p;
    } catch (e) {
      if (errCode(e) !== 'EEXIST' || i >= 4) throw e;
    }
  }
}

async function writeDurable(path: string, bytes: Uint8Array, doSync: boolean): Promise<void> {
  const fh = await open(path, 'wx');
  try {
    await fh.writeFile(bytes);
    if (doSync) await fh.sync();
  } finally {
    await fh.close();
  }
}

/** fsync a directory so renames/creations in it are durable (not supported everywhere: ignored then). */
async function syncDir(path: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
    await fh.sync();
  } catch (e) {
    if (!['EISDIR', 'EPERM', 'EINVAL', 'EBADF', 'ENOTSUP', 'EACCES'].includes(errCode(e) ?? '')) throw e;
  } finally {
    await fh?.close();
  }
}

/** Put the newest moved-aside bundle back if the target is now empty, then drop temps and stale backups. */
async function restoreAfterFailure(target: string, tmp: string, backups: string[]): Promise<void> {
  const last = backups[backups.length - 1];
  let restored = false;
  if (last !== undefined) {
    try {
      await rename(last, target);
      restored = true;
    } catch {
      // The target is occupied (a racing save put a complete bundle there): keep that one.
      restored = await exists(join(target, MANIFEST_FILE));
    }
  }
  await rm(tmp, { recursive: true, force: true }).catch(() => undefined);
  // Only delete backups once a complete bundle is back in place; otherwise leave them for recovery.
  if (restored) {
    for (const b of backups) if (b !== last) await rm(b, { recursive: true, force: true }).catch(() => undefined);
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Loading

/** Read and validate a bundle directory written by saveBundle. */
export async function loadBundle(dir: string, opts: LoadOptions = {}): Promise<LoadedBundle> {
  const root = resolve(dir);
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BUNDLE_BYTES;
  const verify = opts.verifyChecksums ?? true;
  await assertBundleDir(root);

  // Manifest first, so a bundle from a newer rnnkit is reported as such whatever else changed.
  const budget = { left: maxBytes, max: maxBytes };
  const manifestBytes = await readBounded(join(root, MANIFEST_FILE), budget);
  parseManifest(manifestBytes, join(root, MANIFEST_FILE));

  // The file index (checksums.json) says which files make up the bundle.
  const index = await readIndex(root, verify, budget);
  const listed = index ? Object.keys(index.files) : [MANIFEST_FILE, WEIGHTS_FILE];
  if (!index && (await exists(join(root, OPTIMIZER_FILE)))) listed.push(OPTIMIZER_FILE);
  if (!listed.includes(WEIGHTS_FILE)) throw new BundleError(join(root, CHECKSUMS_FILE), `does not list ${WEIGHTS_FILE}`);

  // Sizes of everything, checked against the index and the budget before reading any of it.
  const dataFiles = listed.filter((f) => f !== MANIFEST_FILE);
  const sizes = new Map<string, number>();
  for (const f of dataFiles) {
    const size = await sizeOf(join(root, f));
    sizes.set(f, size);
    const want = index?.files[f]?.bytes;
    if (verify && want !== undefined && size !== want) {
      throw new BundleError(join(root, f), `${size < want ? 'truncated' : 'wrong size'}: expected ${want} bytes, found ${size}`);
    }
    spend(budget, size, join(root, f));
  }

  const contents = new Map<string, Uint8Array>([[MANIFEST_FILE, manifestBytes]]);
  for (const f of dataFiles) contents.set(f, await readExactly(join(root, f), sizes.get(f)!));
  return decodeBundle(contents, index, { ...opts, maxBytes }, (f) => join(root, f), sha256);
}

async function assertBundleDir(root: string): Promise<void> {
  let st;
  try {
    st = await stat(root);
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw new BundleError(root, `cannot open model bundle: ${(e as Error).message}`, { cause: e });
    const hint = await findBackup(root);
    throw new BundleError(root, `model bundle directory not found${hint ? ` (an interrupted save left the previous bundle at ${hint}; rename it back to recover)` : ''}`);
  }
  if (!st.isDirectory()) throw new BundleError(root, 'is not a directory; a model bundle is a directory holding model.json and weights.safetensors');
}

async function findBackup(root: string): Promise<string | null> {
  try {
    const prefix = `.${basename(root)}.old-`;
    const hit = (await readdir(dirname(root))).find((n) => n.startsWith(prefix));
    return hit ? join(dirname(root), hit) : null;
  } catch {
    return null;
  }
}

async function sizeOf(path: string): Promise<number> {
  try {
    const st = await stat(path);
    if (!st.isFile()) throw new BundleError(path, 'is not a regular file');
    return st.size;
  } catch (e) {
    if (e instanceof BundleError) throw e;
    if (errCode(e) === 'ENOENT') throw new BundleError(path, 'missing from the model bundle');
    throw new BundleError(path, `cannot read: ${(e as Error).message}`, { cause: e });
  }
}

function spend(budget: { left: number; max: number }, size: number, path: string): void {
  if (size > budget.left) {
    throw new BundleError(path, `bundle exceeds the size limit of ${budget.max} bytes (this file is ${size} bytes); raise maxBytes to load it`);
  }
  budget.left -= size;
}

async function readBounded(path: string, budget: { left: number; max: number }): Promise<Uint8Array> {
  const size = await sizeOf(path);
  spend(budget, size, path);
  return readExactly(path, size);
}

/** Read a file whose size was already checked; never reads more than that (the file may change meanwhile). */
async function readExactly(path: string, size: number): Promise<Uint8Array> {
  const fh = await open(path, 'r');
  try {
    const now = (await fh.stat()).size;
    if (now !== size) throw new BundleError(path, `changed while loading (was ${size} bytes, now ${now})`);
    const buf = new Uint8Array(size);
    let at = 0;
    while (at < size) {
      const { bytesRead } = await fh.read(buf, at, size - at, at);
      if (bytesRead === 0) throw new BundleError(path, `changed while loading (ended after ${at} of ${size} bytes)`);
      at += bytesRead;
    }
    return buf;
  } finally {
    await fh.close();
  }
}

async function readIndex(root: string, verify: boolean, budget: { left: number; max: number }): Promise<ChecksumsJson | null> {
  const path = join(root, CHECKSUMS_FILE);
  if (!(await exists(path))) {
    if (verify) throw new BundleError(path, 'missing from the model bundle (pass verifyChecksums: false to load a hand-assembled bundle unchecked)');
    return null;
  }
  return parseIndex(await readBounded(path, budget), path);
}

// ---------------------------------------------------------------------------------------------
// Checkpoints

function checkpointDir(root: string, name: string): string {
  if (!SAFE_NAME.test(name)) throw new BundleError(join(root, name), `invalid checkpoint name ${JSON.stringify(name)}`);
  return join(root, name);
}

/**
 * Save `bundle` atomically as checkpoint `root/name` (e.g. "last" every epoch, "best" on improvement):
 * the previous checkpoint of that name stays intact until the new one is complete.
 */
export async function saveCheckpoint(root: string, name: string, bundle: Bundle, opts?: SaveOptions): Promise<string> {
  const dir = checkpointDir(root, name);
  await saveBundle(dir, bundle, opts);
  return dir;
}

export async function loadCheckpoint(root: string, name: string, opts?: LoadOptions): Promise<LoadedBundle> {
  return loadBundle(checkpointDir(root, name), opts);
}
