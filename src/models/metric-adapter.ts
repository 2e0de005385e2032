// Metrics as the model sees them: fed with the output activation (probabilities after a
// softmax/sigmoid head) and the targets, honouring the output's padding mask.
import type { Act } from '../layers/layer.js';
import type { Dense } from './data-input.js';
import type { LossName } from './loss-adapter.js';
import { getMetric, type Metric } from './metrics.js';

export interface MetricState {
  readonly name: string;
  update(out: Act, y: Dense): void;
  result(): number;
  reset(): void;
}

export function createMetric(name: string, loss: LossName): MetricState {
  // Model outputs are activations (probabilities for cross-entropy heads), not logits.
  // With one-hot targets, 'accuracy' needs the row width, known at the first batch.
  const make = (K: number): Metric => getMetric(name, { fromLogits: false, ...(loss === 'categoricalCrossentropy' ? { numClasses: K } : {}) });
  let m: Metric = make(2);
  let sized = false;
  return {
    name: m.name,
    update(out, y) {
      const K = out.shape[out.shape.length - 1]!;
      if (!sized) { m = make(K); sized = true; }
      const rows = out.data.length / K;
      const mask = out.mask && out.mask.length === rows ? out.mask : undefined;
      m.update(out.data, y.data, mask);
    },
    result: () => m.result(),
    reset: () => m.reset(),
  };
}
