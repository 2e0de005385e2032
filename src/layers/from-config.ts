// Rebuild a layer from its getConfig() object (used by model loading). A plain switch over the
// known classes: no registries, and nothing in a file can name code to run.
import { Attention, AttentionPooling } from './attention.js';
import { MultiHeadAttention } from './multihead.js';
import { LayerNormalization } from './normalization.js';
import { PositionEncoding } from './position.js';
import { Activation, Dense, Dropout, Embedding } from './core.js';
import { setTrainable, type Layer } from './layer.js';
import { setRegularizers } from './regularizers.js';
import { BundleError } from '../models/bundle-format.js';
import { Add, Concatenate } from './symbolic.js';
import { GlobalAveragePooling1D, GlobalMaxPooling1D, Masking, RepeatVector } from './pooling.js';
import { RecurrentLayer, type CellClass, type MergeMode, type RecurrentLayerOptions } from './rnn-layers.js';

const CELLS: readonly string[] = ['SimpleRNN', 'LSTM', 'GRU'];

export function layerFromConfig(cfg: unknown, where: string): Layer {
  if (cfg === null || typeof cfg !== 'object' || Array.isArray(cfg)) throw new BundleError(where, `a layer config must be an object`);
  const { className, trainable, ...rest } = cfg as Record<string, unknown>;
  const opts: Record<string, unknown> = {}, regs: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(rest)) (k.endsWith('Regularizer') ? regs : opts)[k] = v;
  try {
    return setRegularizers(setTrainable(construct(className, opts, where), trainable), regs);
  } catch (e) {
    // A layer's own check of its options (configError): named with the place in the file.
    if (e instanceof BundleError) throw e;
    throw new BundleError(where, (e as Error).message, { cause: e });
  }
}

function construct(className: unknown, opts: Record<string, unknown>, where: string): Layer {
  switch (className) {
    case 'Embedding': return new Embedding(opts as never);
    case 'Dense': return new Dense(opts as never);
    case 'Dropout': return new Dropout(opts as never);
    case 'Activation': return new Activation(opts as never);
    case 'Concatenate': return new Concatenate(opts as never);
    case 'Add': return new Add(opts as never);
    case 'Attention': return new Attention(opts as never);
    case 'AttentionPooling': return new AttentionPooling(opts as never);
    case 'MultiHeadAttention': return new MultiHeadAttention(opts as never);
    case 'LayerNormalization': return new LayerNormalization(opts as never);
    case 'PositionEncoding': return new PositionEncoding(opts as never);
    case 'Masking': return new Masking(opts as never);
    case 'GlobalAveragePooling1D': return new GlobalAveragePooling1D(opts as never);
    case 'GlobalMaxPooling1D': return new GlobalMaxPooling1D(opts as never);
    case 'RepeatVector': return new RepeatVector(opts as never);
    case 'SimpleRNN': case 'LSTM': case 'GRU':
      return new RecurrentLayer(className as CellClass, opts as unknown as RecurrentLayerOptions);
    case 'Bidirectional': {
      const inner = opts.layer as Record<string, unknown> | undefined;
      if (!inner || !CELLS.includes(inner.className as string)) throw new BundleError(where, `Bidirectional needs a 'layer' of class ${CELLS.join(', ')}`);
      const { className: cell, trainable: _t, ...innerOpts } = inner;
      const layer = new RecurrentLayer(cell as CellClass, { ...(innerOpts as unknown as RecurrentLayerOptions), name: opts.name as string }, opts.mergeMode as MergeMode);
      return layer;
    }
    default:
      throw new BundleError(where, `unknown layer type ${JSON.stringify(className)}; known: Embedding, Dense, Dropout, Activation, Concatenate, Add, Attention, AttentionPooling, MultiHeadAttention, LayerNormalization, PositionEncoding, Masking, GlobalAveragePooling1D, GlobalMaxPooling1D, RepeatVector, SimpleRNN, LSTM, GRU, Bidirectional`);
  }
}
