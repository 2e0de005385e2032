// rnnkit public API (Node.js): everything in browser.ts plus file-system features (saving,
// loading, checkpoint and log callbacks).
export * from './browser.js';
export { saveModel, loadModel } from './models/node/model-io.js';
export { modelCheckpoint, csvLogger, jsonLogger, type ModelCheckpointOptions } from './models/node/callbacks.js';
export {
  readDataset, readJsonl, readTable, readClassFiles, readAclImdb, subsetDataset, loadImdbArchive,
  type TextDataset, type ReadOptions, type TextEncoding,
} from './data/node/index.js';
export { readConllFile } from './data/node/conll-file.js';
/** Opt-in kernel threads (Node.js): setThreads(2) runs big products and sequence loops on two threads. */
export { setThreads, getThreads } from './kernels/index.js';
