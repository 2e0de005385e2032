// Pretrained word vectors from a file (Node only): GloVe or word2vec/fastText text, gzipped when
// the name ends in .gz, streamed line by line into ../word-vectors.ts's reader (it stops reading
// once it has maxWords words). Errors name the file, and the line for format errors.
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { createGunzip } from 'node:zlib';
import { WordVectorReader, WordVectorsError, type WordVectorOptions, type WordVectors } from '../word-vectors.js';
import { fsReason } from './fs-reason.js';

export async function readWordVectors(path: string, o: Omit<WordVectorOptions, 'fileName'> = {}): Promise<WordVectors> {
  const r = new WordVectorReader({ ...o, fileName: path });
  const file = createReadStream(path);
  const input = path.endsWith('.gz') ? file.pipe(createGunzip()) : file;
  // (An error of the file stream does not reach the gunzip stream the lines come from.)
  let failed: unknown = null;
  file.on('error', (e) => { failed = e; input.destroy(e); });
  const lines = createInterface({ input, crlfDelay: Infinity });
  try {
    for await (const line of lines) if (!r.line(line)) break;
  } catch (e) {
    if (e instanceof WordVectorsError) throw e;
    const err = failed ?? e;
    const code = (err as NodeJS.ErrnoException).code;
    throw new Error(code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR' ? `${path}: not a valid gzip file (${(err as Error).message})` : `cannot read word vectors file ${path}: ${fsReason(err)}`, { cause: err });
  } finally {
    lines.close();
    file.destroy();
  }
  if (failed) throw new Error(`cannot read word vectors file ${path}: ${fsReason(failed)}`, { cause: failed });
  return r.done();
}
