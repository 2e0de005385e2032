// rnn.metrics: streaming metrics by Keras name, and entity-level (seqeval-exact) NER scores.
export * from './metrics.js';
export { entityScores, classificationReport, formatClassificationReport } from './entity-metrics.js';
