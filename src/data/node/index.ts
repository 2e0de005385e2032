// Node-only data helpers: dataset file readers and the IMDB archive loader.
export * from '../index.js';
export {
  readDataset, readJsonl, readTable, readClassFiles, readAclImdb, subsetDataset,
  readBytes, decodeText, findInvalidUtf8, csvRows,
  type TextDataset, type ReadOptions, type TextEncoding,
} from './readers.js';
export {
  loadImdbArchive, ensureCached, fetchToFile, readTarGz, packTar, defaultCacheDir, IMDB_URL,
  type ImdbArchiveOptions, type Fetcher, type TarFile, type TarEntryIn,
} from './imdb.js';
export { readWordVectors } from './word-vectors-file.js';
