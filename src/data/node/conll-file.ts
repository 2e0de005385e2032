/**
 * Read CoNLL column files from disk (Node only). Parsing is done by ../conll.ts; this
 * module adds file I/O, strict UTF-8 decoding and error messages naming the file.
 */

import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { parseConll, type ConllData, type ConllParseOptions } from '../conll.js';
import { fsReason } from './fs-reason.js';

export type ConllFileOptions = Omit<ConllParseOptions, 'fileName'>;

function decode(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    throw new Error(`${path}: not valid UTF-8`);
  }
}

function ioError(path: string, e: unknown): Error {
  const err = e as NodeJS.ErrnoException;
  const msg = new Error(`cannot read CoNLL file ${path}: ${fsReason(err)}`);
  (msg as Error & { cause?: unknown }).cause = e;
  return msg;
}

/** Read and parse a CoNLL file synchronously. Errors name the file (and line for format errors). */
export function readConllFile(path: string, opts: ConllFileOptions = {}): ConllData {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    throw ioError(path, e);
  }
  return parseConll(decode(bytes, path), { ...opts, fileName: path });
}

/** Read and parse a CoNLL file asynchronously. */
export async function readConllFileAsync(path: string, opts: ConllFileOptions = {}): Promise<ConllData> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    throw ioError(path, e);
  }
  return parseConll(decode(bytes, path), { ...opts, fileName: path });
}
