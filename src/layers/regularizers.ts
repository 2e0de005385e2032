// Weight penalties (Keras's kernel_regularizer and friends): l1·Σ|w| + l2·Σw² over a layer's
// kernels, recurrent kernels, biases or embeddings, added to the training loss (and to evaluate's,
// as Keras reports it) with their gradient l1·sign(w) + 2·l2·w (sign(0) = 0). Frozen layers'
// weights are not penalised (Keras sums the regularisation losses of trainable weights).
import { configError, shown, type Layer } from './layer.js';

export interface Regularizer {
  readonly l1: number;
  readonly l2: number;
}

/** The layer options that take a regularizer, and the parameters each covers in each layer class. */
export const REGULARIZER_OPTIONS = ['kernelRegularizer', 'recurrentRegularizer', 'biasRegularizer', 'embeddingsRegularizer'] as const;
export type RegularizerOption = (typeof REGULARIZER_OPTIONS)[number];
export type RegularizerOptions = Partial<Record<RegularizerOption, Regularizer | null>>;

const COVERS: Record<string, Partial<Record<RegularizerOption, (param: string) => boolean>>> = {
  Dense: { kernelRegularizer: (p) => p === 'kernel', biasRegularizer: (p) => p === 'bias' },
  Embedding: { embeddingsRegularizer: (p) => p === 'embeddings' },
  SimpleRNN: recurrentCovers(), LSTM: recurrentCovers(), GRU: recurrentCovers(), Bidirectional: recurrentCovers(),
  MultiHeadAttention: { kernelRegularizer: (p) => p.endsWith('_kernel'), biasRegularizer: (p) => p.endsWith('_bias') },
};

function recurrentCovers(): Partial<Record<RegularizerOption, (param: string) => boolean>> {
  return { kernelRegularizer: (p) => p.startsWith('weight_ih'), recurrentRegularizer: (p) => p.startsWith('weight_hh'), biasRegularizer: (p) => p.startsWith('bias_') };
}

function make(l1: unknown, l2: unknown, what: string): Regularizer {
  for (const [k, v] of [['l1', l1], ['l2', l2]] as const) {
    if (!(typeof v === 'number' && Number.isFinite(v) && v >= 0)) throw new RangeError(`${what}: ${k} must be a finite number >= 0, got ${shown(v)}`);
  }
  return Object.freeze({ l1: l1 as number, l2: l2 as number });
}

/** Keras's factories (default factor 0.01): `rnn.regularizers.l2(1e-4)`. */
export const regularizers = {
  l1: (l1 = 0.01): Regularizer => make(l1, 0, 'regularizers.l1'),
  l2: (l2 = 0.01): Regularizer => make(0, l2, 'regularizers.l2'),
  l1l2: (o: { l1?: number; l2?: number } = {}): Regularizer => make(o.l1 ?? 0.01, o.l2 ?? 0.01, 'regularizers.l1l2'),
};

/** An option's name in a Keras config: kernelRegularizer -> kernel_regularizer. */
export function kerasKey(option: RegularizerOption): string {
  return option.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
}

/** As Keras serialises it. */
export function regularizerConfig(r: Regularizer): { className: 'L1L2'; config: { l1: number; l2: number } } {
  return { className: 'L1L2', config: { l1: r.l1, l2: r.l2 } };
}

/**
 * A regularizer from a config: Keras's `{ class_name | className: 'L1L2' | 'L1' | 'L2' | 'l1_l2', config }`
 * (snake_case or camelCase), or a Regularizer itself; null for null.
 */
export function regularizerFrom(v: unknown, what: string): Regularizer | null {
  if (v === null || v === undefined) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new TypeError(`${what}: expected a regularizer (rnn.regularizers.l2(...)) or { className: 'L1L2', config: { l1, l2 } }, got ${shown(v)}`);
  const o = v as Record<string, unknown>;
  if ('l1' in o || 'l2' in o) return make(o.l1 ?? 0, o.l2 ?? 0, what);
  const cls = String(o.className ?? o.class_name ?? '').replace(/_/g, '').toUpperCase();
  const c = (o.config ?? {}) as Record<string, unknown>;
  if (cls === 'L1L2') return make(c.l1 ?? 0, c.l2 ?? 0, what);
  if (cls === 'L1') return make(c.l1 ?? 0.01, 0, what);
  if (cls === 'L2') return make(0, c.l2 ?? 0.01, what);
  throw new RangeError(`${what}: unknown regularizer class ${shown(o.className ?? o.class_name)}; rnnkit has L1L2, L1 and L2`);
}

/**
 * Sets a layer's regularizers from options or a config (each checked, and refused by name where
 * the layer has no such parameters); returns the layer.
 */
export function setRegularizers<L extends Layer>(l: L, o: Record<string, unknown> | undefined): L {
  const covers = COVERS[l.className] ?? {};
  for (const k of REGULARIZER_OPTIONS) {
    const r = regularizerFrom(o?.[k], `${l.name}: option '${k}'`);
    if (r === null) continue;
    if (!covers[k]) {
      const takes = Object.keys(covers);
      configError(l.name, `option '${k}' does not apply to ${l.className}${takes.length ? ` (it takes ${takes.join(', ')})` : ' (it takes no regularizer)'}`);
    }
    (l.regularizers ??= {})[k] = r;
  }
  return l;
}

/** The config entries of a layer's regularizers (Keras form), for saving. */
export function regularizerConfigs(l: Layer): Partial<Record<RegularizerOption, ReturnType<typeof regularizerConfig>>> {
  const out: Partial<Record<RegularizerOption, ReturnType<typeof regularizerConfig>>> = {};
  for (const k of REGULARIZER_OPTIONS) {
    const r = l.regularizers?.[k];
    if (r) out[k] = regularizerConfig(r);
  }
  return out;
}

/**
 * A layer's config as a model saves it: `trainable: false` for a frozen layer, nothing for a
 * trainable one, and its regularizers' configs (regularizerConfigs); a `trainable` or
 * regularizer its options held, maybe stale, is dropped.
 */
export function savedLayerConfig(l: Layer): Record<string, unknown> {
  const c = withoutSaved(l.getConfig());
  if (c.layer !== null && typeof c.layer === 'object' && !Array.isArray(c.layer)) c.layer = withoutSaved(c.layer as Record<string, unknown>);
  return { ...c, ...(l.trainable === false ? { trainable: false } : {}), ...regularizerConfigs(l) };
}

/** A config without the keys savedLayerConfig writes itself (options may hold stale copies). */
function withoutSaved(c: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(c)) if (k !== 'trainable' && !k.endsWith('Regularizer')) out[k] = v;
  return out;
}

/**
 * The penalty of the trainable layers' regularized parameters: Σ over them of l1·Σ|w| + l2·Σw²
 * (float64); with `withGrads`, l1·sign(w) + 2·l2·w is added to each one's gradient.
 */
export function applyRegularizers(layers: readonly Layer[], withGrads: boolean): number {
  let penalty = 0;
  for (const l of layers) {
    if (!l.regularizers || l.trainable === false || !l.params) continue;
    const covers = COVERS[l.className] ?? {};
    for (const k of REGULARIZER_OPTIONS) {
      const r = l.regularizers[k], covered = covers[k];
      if (!r || !covered || (r.l1 === 0 && r.l2 === 0)) continue;
      for (const e of l.params.entries) {
        if (!covered(e.name)) continue;
        const w = l.params.data, g = l.params.grad;
        let a1 = 0, a2 = 0;
        for (let i = e.offset; i < e.offset + e.size; i++) {
          const x = w[i]!;
          a1 += Math.abs(x); a2 += x * x;
          if (withGrads) g[i] = g[i]! + (r.l1 * Math.sign(x) + 2 * r.l2 * x);
        }
        penalty += r.l1 * a1 + r.l2 * a2;
      }
    }
  }
  return penalty;
}
