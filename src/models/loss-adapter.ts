// From a model's output activation and the targets to (loss, dLoss/d(output or logits)).
// Masks from the model output (padded steps) are honoured by every loss; a fused softmax /
// sigmoid head is differentiated from its logits (p - y), never through the activation.
import type { Dense as DenseLayer } from '../layers/core.js';
import type { Act } from '../layers/layer.js';
import type { Dense } from './data-input.js';
import { rowWeights } from './sample-weights.js';
import {
  binaryCrossentropy, categoricalCrossentropy, meanSquaredError, sparseCategoricalCrossentropy, sparseCategoricalCrossentropyFromSoftmax,
} from './losses.js';

export type LossName = 'sparseCategoricalCrossentropy' | 'binaryCrossentropy' | 'categoricalCrossentropy' | 'meanSquaredError';

const ALIASES: Record<string, LossName> = {
  sparsecategoricalcrossentropy: 'sparseCategoricalCrossentropy',
  binarycrossentropy: 'binaryCrossentropy',
  categoricalcrossentropy: 'categoricalCrossentropy',
  meansquarederror: 'meanSquaredError', mse: 'meanSquaredError',
};

export function resolveLossName(name: string): LossName {
  const key = String(name).toLowerCase().replace(/[_\s-]/g, '');
  const n = ALIASES[key];
  if (!n) throw new Error(`unknown loss '${name}'; valid names: ${[...new Set(Object.values(ALIASES))].join(', ')}`);
  return n;
}

/** Per-row mask for an output of shape [B, T, K] (rows = B·T) or null. */
function rowMask(out: Act, rows: number): Uint8Array | null {
  if (!out.mask) return null;
  if (out.mask.length !== rows) return null; // sequence-level output: the mask does not apply
  return out.mask;
}

/**
 * `gradBuf`: where to write the gradient when it has the right length (a training loop reuses
 * one buffer from step to step); otherwise a fresh array is returned. `weights`: the batch's
 * sample weights (resolveWeights' rows), or null.
 */
export function computeLoss(
  name: LossName, out: Act, y: Dense, fused: DenseLayer | null, gradBuf?: Float32Array, weights: Dense | null = null,
): { loss: number; grad: Float32Array; count: number } {
  const K = out.shape[out.shape.length - 1]!;
  const rows = out.data.length / K;
  const mask = rowMask(out, rows);
  const w = weights ? { sampleWeight: rowWeights(weights, rows) } : {};
  const pred = fused ? fused.logits : out.data;
  const fromLogits = fused !== null;
  const count = mask ? mask.reduce((a, m) => a + (m ? 1 : 0), 0) : rows;
  const g = gradBuf && gradBuf.length === pred.length ? { grad: gradBuf } : {};
  let r: { loss: number; grad: Float32Array | Float64Array };
  switch (name) {
    case 'sparseCategoricalCrossentropy': {
      if (y.data.length !== rows) {
        throw new RangeError(`sparseCategoricalCrossentropy: expected ${rows} integer targets for outputs of shape [${out.shape.join(', ')}], got ${y.data.length} (shape [${y.shape.join(', ')}])`);
      }
      const targets = new Int32Array(rows);
      for (let i = 0; i < rows; i++) targets[i] = y.data[i]!;
      const lse = fused?.logSumExp;
      r = lse
        ? sparseCategoricalCrossentropyFromSoftmax(out.data, lse, fused!.logits, targets, { ...g, ...w, ...(mask ? { mask } : {}) })
        : sparseCategoricalCrossentropy(pred, targets, { fromLogits, ...g, ...w, ...(mask ? { mask } : {}) });
      break;
    }
    case 'binaryCrossentropy':
      if (y.data.length !== out.data.length) throw new RangeError(`binaryCrossentropy: expected ${out.data.length} targets for outputs of shape [${out.shape.join(', ')}], got ${y.data.length}`);
      r = binaryCrossentropy(pred, y.data, { fromLogits, ...g, ...w, ...(mask && K === 1 ? { mask } : {}) });
      break;
    case 'categoricalCrossentropy':
      if (y.data.length !== out.data.length) throw new RangeError(`categoricalCrossentropy: expected targets of shape [${out.shape.join(', ')}], got [${y.shape.join(', ')}]`);
      r = categoricalCrossentropy(pred, y.data, { fromLogits, numClasses: K, ...g, ...w, ...(mask ? { mask } : {}) });
      break;
    case 'meanSquaredError':
      if (y.data.length !== out.data.length) throw new RangeError(`meanSquaredError: expected targets of shape [${out.shape.join(', ')}], got [${y.shape.join(', ')}]`);
      r = meanSquaredError(out.data, y.data, { ...w, ...(mask && K === 1 ? { mask } : {}) });
      break;
  }
  return { loss: r.loss, grad: r.grad instanceof Float32Array ? r.grad : Float32Array.from(r.grad), count: Math.max(count, 1) };
}
