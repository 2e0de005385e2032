// TF.js/Keras-style factories: rnn.layers.lstm({ units: 64 }) and friends.
import { Attention, AttentionPooling, type AttentionOptions, type AttentionPoolingOptions } from './attention.js';
import { MultiHeadAttention, type MultiHeadAttentionOptions } from './multihead.js';
import { LayerNormalization, type LayerNormalizationOptions } from './normalization.js';
import { PositionEncoding, type PositionEncodingOptions } from './position.js';
import { Activation, Dense, Dropout, Embedding, type ActivationOptions, type DenseOptions, type DropoutOptions, type EmbeddingOptions } from './core.js';
import { RecurrentLayer, type MergeMode, type RecurrentLayerOptions } from './rnn-layers.js';
import { Add, Concatenate } from './symbolic.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, RepeatVector, type MaskingOptions, type RepeatVectorOptions } from './pooling.js';

export interface BidirectionalOptions {
  layer: RecurrentLayer;
  mergeMode?: MergeMode;
  name?: string;
}

export const layers = {
  embedding: (o: EmbeddingOptions) => new Embedding(o),
  dense: (o: DenseOptions) => new Dense(o),
  dropout: (o: DropoutOptions) => new Dropout(o),
  activation: (o: ActivationOptions) => new Activation(o),
  concatenate: (o: { name?: string } = {}) => new Concatenate(o),
  add: (o: { name?: string } = {}) => new Add(o),
  /** Queries attend to a sequence: apply([query, value]) or apply([query, value, key]). */
  attention: (o: AttentionOptions = {}) => new Attention(o),
  /** A sequence to one vector, its steps weighted by a learned attention score. */
  attentionPooling: (o: AttentionPoolingOptions) => new AttentionPooling(o),
  /** Queries attend in several heads, with learned projections (the Transformer's): apply([query, value]) or apply([query, value, key]). */
  multiHeadAttention: (o: MultiHeadAttentionOptions) => new MultiHeadAttention(o),
  /** Each step's features normalised to mean 0, variance 1, then scaled and shifted (learned γ, β). */
  layerNormalization: (o: LayerNormalizationOptions = {}) => new LayerNormalization(o),
  /** Each step's position added to its vector: fixed sines ('sine') or a learned table ('learned'). */
  positionEncoding: (o: PositionEncodingOptions = {}) => new PositionEncoding(o),
  /** Steps whose features all equal maskValue (default 0) are padding: masked for the layers after. */
  masking: (o: MaskingOptions = {}) => new Masking(o),
  /** [B, T, F] -> [B, F]: the mean over the real steps. */
  globalAveragePooling1d: (o: { name?: string } = {}) => new GlobalAveragePooling1D(o),
  /** [B, T, F] -> [B, F]: the maximum over the real steps. */
  globalMaxPooling1d: (o: { name?: string } = {}) => new GlobalMaxPooling1D(o),
  /** [B, F] -> [B, n, F]. */
  repeatVector: (o: RepeatVectorOptions) => new RepeatVector(o),
  simpleRNN: (o: RecurrentLayerOptions) => new RecurrentLayer('SimpleRNN', o),
  lstm: (o: RecurrentLayerOptions) => new RecurrentLayer('LSTM', o),
  gru: (o: RecurrentLayerOptions) => new RecurrentLayer('GRU', o),
  /** Runs the wrapped layer in both directions and merges (default concat). */
  bidirectional: (o: BidirectionalOptions) => {
    if (!(o?.layer instanceof RecurrentLayer) || o.layer.bidirectional !== null) {
      throw new TypeError(`bidirectional: 'layer' must be a recurrent layer such as rnn.layers.lstm({ units })`);
    }
    const name = o.name ?? `bidirectional_${o.layer.name}`;
    return new RecurrentLayer(o.layer.cell, { ...o.layer.options, name }, o.mergeMode ?? 'concat');
  },
};
