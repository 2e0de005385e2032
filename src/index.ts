// rnnkit public API (Node.js): everything in browser.ts plus file-system features (saving,
// loading, checkpoint and log callbacks).
export * from './browser.js';
export { saveModel, loadModel } from './models/node/model-io.js';
/** A TF.js layers model (model.json and weights, or a Keras model the tensorflowjs converter wrote) as a rnnkit Sequential. */
export { loadTfjsModel } from './models/node/tfjs-io.js';
export { modelCheckpoint, csvLogger, jsonLogger, type ModelCheckpointOptions } from './models/node/callbacks.js';
export {
  readDataset, readJsonl, readTable, readClassFiles, readAclImdb, subsetDataset, loadImdbArchive,
  type TextDataset, type ReadOptions, type TextEncoding,
} from './data/node/index.js';
export { readConllFile } from './data/node/conll-file.js';
/** Pretrained word vectors (GloVe, word2vec or fastText text; .gz too), streamed. */
export { readWordVectors } from './data/node/word-vectors-file.js';
/** Kernel threads (Node.js): two by default on 2+ cores; setThreads(1) keeps the kernels on the calling thread. */
export { setThreads, getThreads } from './kernels/index.js';
