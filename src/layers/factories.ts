// TF.js/Keras-style factories: rnn.layers.lstm({ units: 64 }) and friends.
import { Attention, AttentionPooling, type AttentionOptions, type AttentionPoolingOptions } from './attention.js';
import { Activation, Dense, Dropout, Embedding, type ActivationOptions, type DenseOptions, type DropoutOptions, type EmbeddingOptions } from './core.js';
import { RecurrentLayer, type MergeMode, type RecurrentLayerOptions } from './rnn-layers.js';
import { Add, Concatenate } from './symbolic.js';

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
