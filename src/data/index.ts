// Browser-safe text pipeline: tokenizers, vocabularies, padding/bucketing, splits.
// File readers and the IMDB downloader (Node only) are in ./node/index.js.
export {
  WordTokenizer, CharTokenizer, tokenize, chars, stripHtml, tokenizerFromJSON, NUM_TOKEN,
  type Tokenizer, type TokenizerJSON, type WordTokenizerOptions, type WordTokenizerJSON,
  type CharTokenizerOptions, type CharTokenizerJSON, type UnicodeForm, type NumberMode,
} from './text.js';
export {
  Vocab, CharVocab, PAD_ID, UNK_ID, PAD_TOKEN, UNK_TOKEN, UNK_CHAR,
  type VocabBuildOptions, type VocabJSON, type CharVocabJSON, type UnknownCharPolicy,
} from './vocab.js';
export { parseWordVectors, vectorLookup, WordVectorReader, WordVectorsError, type WordVectors, type WordVectorOptions } from './word-vectors.js';
export {
  collate, planBatches, batches, paddingFraction, splitStratified,
  type Batch, type BatchOptions, type CollateOptions,
} from './batching.js';
