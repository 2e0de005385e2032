// The pretrained-vector options `ner train` and `sentiment train` share: --embeddings <file>,
// --embeddings-words N, --freeze-embeddings.
import { readWordVectors } from '../data/node/word-vectors-file.js';
import type { WordVectors } from '../data/word-vectors.js';
import { CliError, int } from './progress.js';

export interface VectorFlags {
  embeddings?: string | undefined;
  'embeddings-words'?: string | undefined;
  'freeze-embeddings'?: boolean | undefined;
}

/**
 * The vectors --embeddings names (null without it), and the word embedding's size: `size` as
 * `sizeFlag` gave it, else the vectors' (a size given that differs from theirs is refused).
 */
export async function pretrainedVectors(v: VectorFlags, sizeFlag: string, size: { given: boolean; value: number }, defaultWords: number): Promise<{ vectors: WordVectors | null; size: number }> {
  if (v['freeze-embeddings'] && !v.embeddings) throw new CliError('--freeze-embeddings keeps pretrained vectors: give --embeddings <file>');
  const maxWords = int(v['embeddings-words'], 'embeddings-words', defaultWords);
  if (!v.embeddings) return { vectors: null, size: size.value };
  let vectors: WordVectors;
  try {
    vectors = await readWordVectors(v.embeddings, { maxWords });
  } catch (e) {
    throw new CliError(`--embeddings: ${(e as Error).message}`);
  }
  if (size.given && size.value !== vectors.dim) {
    throw new CliError(`${sizeFlag} ${size.value}, but the vectors in ${v.embeddings} have ${vectors.dim} values (leave ${sizeFlag} out to take theirs)`);
  }
  return { vectors, size: vectors.dim };
}
