// TF.js/Keras-style factories: rnn.layers.lstm({ units: 64 }) and friends.
import { Attention, AttentionPooling, type AttentionOptions, type AttentionPoolingOptions } from './attention.js';
import { MultiHeadAttention, type MultiHeadAttentionOptions } from './multihead.js';
import { LayerNormalization, type LayerNormalizationOptions } from './normalization.js';
import { PositionEncoding, type PositionEncodingOptions } from './position.js';
import { Activation, Dense, Dropout, Embedding, type ActivationOptions, type DenseOptions, type DropoutOptions, type EmbeddingOptions } from './core.js';
import { RecurrentLayer, type MergeMode, type RecurrentLayerOptions } from './rnn-layers.js';
import { Add, Concatenate } from './symbolic.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, RepeatVector, type MaskingOptions, type RepeatVectorOptions } from './pooling.js';
import { setTrainable, type Layer } from './layer.js';
import { setRegularizers, type RegularizerOptions } from './regularizers.js';

/**
 * Every factory also takes `trainable: false` (a frozen layer: Layer.trainable) and, where the
 * layer has such weights, kernelRegularizer, recurrentRegularizer, biasRegularizer and
 * embeddingsRegularizer (layers/regularizers.ts).
 */
export interface TrainableOption extends RegularizerOptions { trainable?: boolean }
const t = <L extends Layer>(l: L, o: TrainableOption | undefined): L => setRegularizers(setTrainable(l, o?.trainable), o as Record<string, unknown> | undefined);

export interface BidirectionalOptions {
  layer: RecurrentLayer;
  mergeMode?: MergeMode;
  name?: string;
  /** Default: the wrapped layer's. */
  trainable?: boolean;
}

export const layers = {
  embedding: (o: EmbeddingOptions & TrainableOption) => t(new Embedding(o), o),
  dense: (o: DenseOptions & TrainableOption) => t(new Dense(o), o),
  dropout: (o: DropoutOptions & TrainableOption) => t(new Dropout(o), o),
  activation: (o: ActivationOptions & TrainableOption) => t(new Activation(o), o),
  concatenate: (o: { name?: string } & TrainableOption = {}) => t(new Concatenate(o), o),
  add: (o: { name?: string } & TrainableOption = {}) => t(new Add(o), o),
  /** Queries attend to a sequence: apply([query, value]) or apply([query, value, key]). */
  attention: (o: AttentionOptions & TrainableOption = {}) => t(new Attention(o), o),
  /** A sequence to one vector, its steps weighted by a learned attention score. */
  attentionPooling: (o: AttentionPoolingOptions & TrainableOption) => t(new AttentionPooling(o), o),
  /** Queries attend in several heads, with learned projections (the Transformer's): apply([query, value]) or apply([query, value, key]). */
  multiHeadAttention: (o: MultiHeadAttentionOptions & TrainableOption) => t(new MultiHeadAttention(o), o),
  /** Each step's features normalised to mean 0, variance 1, then scaled and shifted (learned γ, β). */
  layerNormalization: (o: LayerNormalizationOptions & TrainableOption = {}) => t(new LayerNormalization(o), o),
  /** Each step's position added to its vector: fixed sines ('sine') or a learned table ('learned'). */
  positionEncoding: (o: PositionEncodingOptions & TrainableOption = {}) => t(new PositionEncoding(o), o),
  /** Steps whose features all equal maskValue (default 0) are padding: masked for the layers after. */
  masking: (o: MaskingOptions & TrainableOption = {}) => t(new Masking(o), o),
  /** [B, T, F] -> [B, F]: the mean over the real steps. */
  globalAveragePooling1d: (o: { name?: string } & TrainableOption = {}) => t(new GlobalAveragePooling1D(o), o),
  /** [B, T, F] -> [B, F]: the maximum over the real steps. */
  globalMaxPooling1d: (o: { name?: string } & TrainableOption = {}) => t(new GlobalMaxPooling1D(o), o),
  /** [B, F] -> [B, n, F]. */
  repeatVector: (o: RepeatVectorOptions & TrainableOption) => t(new RepeatVector(o), o),
  simpleRNN: (o: RecurrentLayerOptions & TrainableOption) => t(new RecurrentLayer('SimpleRNN', o), o),
  lstm: (o: RecurrentLayerOptions & TrainableOption) => t(new RecurrentLayer('LSTM', o), o),
  gru: (o: RecurrentLayerOptions & TrainableOption) => t(new RecurrentLayer('GRU', o), o),
  /** Runs the wrapped layer in both directions and merges (default concat). */
  bidirectional: (o: BidirectionalOptions) => {
    if (!(o?.layer instanceof RecurrentLayer) || o.layer.bidirectional !== null) {
      throw new TypeError(`bidirectional: 'layer' must be a recurrent layer such as rnn.layers.lstm({ units })`);
    }
    const name = o.name ?? `bidirectional_${o.layer.name}`;
    return t(new RecurrentLayer(o.layer.cell, { ...o.layer.options, name }, o.mergeMode ?? 'concat'), { ...o.layer.regularizers, trainable: o.trainable ?? (o.layer as Layer).trainable });
  },
};
