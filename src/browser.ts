// rnnkit public API for every environment (browsers included): re-exports only. The Node.js
// entry (index.ts) adds what needs the file system.
export { Tensor } from './tensor/tensor.js';
export { rng, type Rng } from './tensor/rng.js';
export { ParamStore, type DType, type ParamSpec } from './tensor/params.js';
export {
  Recurrent, LSTM, GRU, RNN,
  type RecurrentOptions, type LSTMOptions, type GRUOptions, type RNNOptions,
  type ForwardOptions, type ForwardResult, type BackwardOptions, type BackwardResult,
} from './layers/recurrent.js';
export { ready, getBackend, setBackend, backendName, referenceBackend, withFixedWeights, type Backend, type CellKind } from './kernels/index.js';
/** Two kernel threads in a cross-origin isolated page: setBackend(await ThreadedWasmBackend.create()). */
export { ThreadedWasmBackend, type ThreadedOptions } from './kernels/index.js';
export { layers, type BidirectionalOptions } from './layers/factories.js';
export { Embedding, Dense, Dropout, Activation } from './layers/core.js';
export { RecurrentLayer, type RecurrentLayerOptions, type MergeMode } from './layers/rnn-layers.js';
export { Attention, AttentionPooling, type AttentionOptions, type AttentionPoolingOptions, type AttentionWeights } from './layers/attention.js';
export { attentionForward, attentionBackward, type AttentionArgs, type AttentionGrads, type AttentionSaved, type AttentionScore } from './kernels/attention-ops.js';
export { MultiHeadAttention, type MultiHeadAttentionOptions } from './layers/multihead.js';
export { LayerNormalization, layerNormForward, layerNormBackward, type LayerNormalizationOptions } from './layers/normalization.js';
export { PositionEncoding, sinePositions, type PositionEncodingOptions } from './layers/position.js';
export { Masking, GlobalAveragePooling1D, GlobalMaxPooling1D, RepeatVector, type MaskingOptions, type RepeatVectorOptions } from './layers/pooling.js';
export { multiHeadForward, multiHeadBackward, type MultiHeadArgs, type MultiHeadGrads, type MultiHeadSaved } from './kernels/multihead-ops.js';
export type { Layer, Act, Shape, WeightValue } from './layers/layer.js';
export { LayerBase } from './layers/layer.js';
export { regularizers, type Regularizer, type RegularizerOptions } from './layers/regularizers.js';
export { Model, Sequential, NonFiniteLossError, type SequentialOptions, type CompileArgs, type FitArgs, type TrainOnBatchArgs, type History, type Callback, type Logs, type ModelInput } from './models/sequential.js';
export type { ClassWeight } from './models/sample-weights.js';
export { GraphModel, type GraphModelOptions } from './models/functional.js';
/** Runs a causal model a few steps at a time with a key/value cache: Transformer generation without re-running the past. */
export { IncrementalDecoder, incrementalDecoder, beamSearch, type IncrementalDecoderOptions, type BeamSearchOptions, type Hypothesis } from './models/decoder.js';
/** A character-level language model (Embedding, stateful recurrent layers, softmax Dense; Sequential or a functional chain) run a token per kernel call: predict's bits, about twice as fast (generateText uses it). */
export { modelStepper, type ModelStepper } from './models/stack-step.js';
/** Saved models without a file system: from the URL of a saved directory, or from its files' bytes (saveModel and loadModel: Node.js). */
export { loadModelFromUrl, loadTfjsModelFromUrl, modelFromFiles, type LoadFromUrlOptions } from './models/model-fetch.js';
export { BundleError } from './models/bundle-format.js';
/** A TF.js layers model from model.json's content and its weight files' bytes (loadTfjsModelFromUrl fetches them; loadTfjsModel reads them from disk in Node.js). */
export { modelFromTfjs, tfjsWeightPaths } from './models/tfjs-format.js';
/** A PyTorch model's weights (its state_dict: a torch.save file, safetensors bytes or a record of tensors) into a rnnkit model of the same architecture. */
export { loadTorchWeights, TorchWeightsError, type TorchTensor, type LoadTorchWeightsOptions, type TorchWeightsReport } from './models/torch-weights.js';
/** The tensors of a file torch.save wrote (state_dict, checkpoint or module), read without running any of it. */
export { decodeTorchFile, isTorchFile, TorchFileError, type TorchFileTensor, type TorchDType, type DecodedTorchFile, type DecodeTorchFileOptions } from './models/torch-file.js';
/** A model's weights as a PyTorch state_dict (torchStateDict), and as a file torch.load reads (encodeTorchFile). */
export { torchStateDict, encodeTorchFile, TorchExportError, type TorchStateDict, type TorchStateDictOptions } from './models/torch-export.js';
/** A Sequential model in TF.js's layers format (model.json's content, weights.bin's bytes), for tf.loadLayersModel. */
export { exportTfjs, TfjsExportError, type TfjsExport, type TfjsWeightSpec } from './export/tfjs.js';
/** A built model as ONNX bytes for onnxruntime (Node.js, onnxruntime-web, Python): exportOnnx(model).bytes. */
export { exportOnnx, OnnxExportError, ONNX_OPSET, type OnnxExport, type OnnxExportOptions, type OnnxTensorInfo } from './export/onnx.js';
/**
 * Text from a character-level model, one character at a time (a model `rnnkit charrnn train` saved
 * keeps its vocabulary in `model.metadata.vocab`: CharVocab.fromJSON(it)).
 */
export { sample as generateText, type SampleOptions } from './apps/charrnn.js';
export { input, SymbolicTensor, Concatenate, Add } from './layers/symbolic.js';
export * from './optim/index.js';
export * as metrics from './models/metrics-api.js';
export * as losses from './models/losses.js';

import { Sequential, type SequentialOptions } from './models/sequential.js';
import { GraphModel, type GraphModelOptions } from './models/functional.js';
/** Keras/TF.js-style constructor: rnn.sequential({ layers: [...] }). */
export function sequential(opts: SequentialOptions = {}): Sequential {
  return new Sequential(opts);
}
/** Functional model over a graph recorded with rnn.input() and layer.apply(): rnn.model({ inputs, outputs }). */
export function model(opts: GraphModelOptions): GraphModel {
  return new GraphModel(opts);
}
export { earlyStopping, learningRateScheduler, reduceLROnPlateau, type EarlyStoppingOptions } from './models/callbacks.js';
export * from './data/index.js';
export {
  parseConll, formatConll, ConllParseError, type ConllSentence, type ConllData, type ConllParseOptions,
} from './data/conll.js';
export {
  tagsToSpans, spansToTags, convertTags, convertSentences, detectScheme, allowedTransitions, parseTag,
  type TagScheme, type EntitySpan,
} from './data/tags.js';
export type { MetricState } from './models/metric-adapter.js';
