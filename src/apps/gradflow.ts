// Seeing gradients flow through time: ||∂L/∂h_t|| as a function of the distance from the loss,
// and the singular values of the recurrent (state-transition) Jacobian ∂s_t/∂s_{t-1}.
//
// Method (exact, and it only uses the library's own forward/backward):
//
//   A recurrent layer is a map s_t = f(x_t, s_{t-1}) with state s = h (RNN, GRU) or s = (h, c)
//   (LSTM). Backpropagation through time is the recursion
//       ∂L/∂s_{t-1} = (∂s_t/∂s_{t-1})ᵀ ∂L/∂s_t,
//   and the library's backward over a ONE-step sequence started from h0 = h_{t-1} (c0 = c_{t-1})
//   with dhN = ∂L/∂h_t (dcN = ∂L/∂c_t) returns exactly dh0 = ∂L/∂h_{t-1} (dc0 = ∂L/∂c_{t-1}).
//   So we (1) run the sequence one step at a time, keeping every state s_t, then (2) walk back
//   from the loss one step at a time, re-running each step's forward (to set the cache) and its
//   backward. This is BPTT itself, unrolled so that every intermediate ∂L/∂h_t is visible: it is
//   O(T) calls, exact (no finite differences), and matches a whole-sequence backward to
//   rounding (tested). The loss sits on the last step only (a head on h_{T-1}), so the
//   distance from the loss of step t is T-1-t. Measurements run on a float64 copy of the layer
//   (reference kernels), so tiny (vanished) gradients are not lost to float32 rounding.
//
//   The Jacobian J_t = ∂s_t/∂s_{t-1} is formed the same way: one 1-step forward with the batch
//   filled by n copies of (x_t, s_{t-1}) (n = state size), and one backward whose dhN/dcN rows
//   are the n unit vectors: row i of (dh0 | dc0) is e_iᵀ J_t, i.e. row i of J_t. Its singular
//   values come from a one-sided Jacobi SVD (below), exact to rounding for the sizes used here.
import { GRU, LSTM, RNN, type Recurrent } from '../layers/recurrent.js';
import { Dense as DenseLayer, Dropout } from '../layers/core.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import type { Dense as DenseData } from '../models/data-input.js';
import type { Sequential } from '../models/sequential.js';
import { rng } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';

/**
 * A float64, non-stateful, time-major, inference-mode copy of a unidirectional recurrent layer,
 * or of a stack of one-layer ones of one kind and size (layer k's weights become the copy's
 * layer k, `weight_ih_l{k}`...).
 */
export function probeCopy(core: Recurrent | readonly Recurrent[]): Recurrent {
  const cores = Array.isArray(core) ? core as readonly Recurrent[] : [core as Recurrent];
  const c0 = cores[0]!;
  for (const c of cores) {
    if (c.bidirectional) throw new RangeError('gradflow: bidirectional layers have no single direction of time; measure a unidirectional layer');
    if (cores.length > 1 && (c.numLayers !== 1 || c.kind !== c0.kind || c.hiddenSize !== c0.hiddenSize || c.bias !== c0.bias || c.resetAfter !== c0.resetAfter || c.hardSigmoid !== c0.hardSigmoid)) {
      throw new RangeError('gradflow: a stack of recurrent layers is measured as one when its layers are one-layer, of one cell kind and of one size');
    }
  }
  const o = {
    inputSize: c0.inputSize, hiddenSize: c0.hiddenSize, numLayers: cores.length > 1 ? cores.length : c0.numLayers, bias: c0.bias,
    dtype: 'float64' as const, batchFirst: false, stateful: false,
  };
  const gates = { recurrentActivation: c0.hardSigmoid ? 'hardSigmoid' as const : 'sigmoid' as const };
  const copy = c0.kind === 'lstm' ? new LSTM({ ...o, ...gates })
    : c0.kind === 'gru' ? new GRU({ ...o, ...gates, resetAfter: c0.resetAfter })
      : new RNN({ ...o, nonlinearity: c0.kind === 'rnn_relu' ? 'relu' : 'tanh' });
  const dict: Record<string, ArrayLike<number>> = {};
  cores.forEach((c, k) => {
    for (const [name, v] of Object.entries(c.stateDict())) dict[cores.length > 1 ? name.replace(/_l0(?=$|_reverse$)/, `_l${k}`) : name] = v;
  });
  copy.loadStateDict(dict);
  copy.eval();
  return copy;
}

/** The states of a sequence run one step at a time: h[t+1] = h_t (layout [L, B, H]), h[0] = h0. */
export interface StepStates {
  h: Float64Array[];
  /** LSTM only. */
  c: Float64Array[] | null;
  T: number;
  B: number;
}

function slice(x: Float64Array, t: number, B: number, I: number): Tensor<Float64Array> {
  return new Tensor(x.slice(t * B * I, (t + 1) * B * I), [1, B, I]);
}

function stateTensor(s: Float64Array | null | undefined, L: number, B: number, H: number): Tensor<Float64Array> | null {
  return s ? new Tensor(s, [L, B, H]) : null;
}

/** Run a float64 probe over x (time-major [T, B, I]) one step at a time, keeping every state. */
export function runStepwise(core: Recurrent, x: Float64Array, T: number, B: number, h0?: Float64Array | null, c0?: Float64Array | null): StepStates {
  checkProbe(core);
  const L = core.numLayers, H = core.hiddenSize, I = core.inputSize, lstm = core.kind === 'lstm';
  if (x.length !== T * B * I) throw new RangeError(`gradflow: x has ${x.length} values, expected T·B·I = ${T * B * I}`);
  const h: Float64Array[] = [h0 ? h0.slice() : new Float64Array(L * B * H)];
  const c: Float64Array[] | null = lstm ? [c0 ? c0.slice() : new Float64Array(L * B * H)] : null;
  for (let t = 0; t < T; t++) {
    const r = core.forward(slice(x, t, B, I), { h0: stateTensor(h[t], L, B, H), c0: lstm ? stateTensor(c![t], L, B, H) : null });
    h.push(r.hN.data as Float64Array);
    if (c) c.push(r.cN!.data as Float64Array);
  }
  return { h, c, T, B };
}

export interface StepGradients {
  /** dh[t] = ∂L/∂h_t for t = 0..T-1 ([L, B, H] each); dhInit = ∂L/∂h0. */
  dh: Float64Array[];
  dc: Float64Array[] | null;
  dhInit: Float64Array;
  dcInit: Float64Array | null;
}

/**
 * Backpropagation through time one step at a time from a loss on the last state:
 * dhLast = ∂L/∂h_{T-1} (and dcLast = ∂L/∂c_{T-1} for the LSTM, default 0), [L, B, H].
 */
export function backpropByStep(core: Recurrent, x: Float64Array, states: StepStates, dhLast: Float64Array, dcLast?: Float64Array | null): StepGradients {
  checkProbe(core);
  const { T, B } = states;
  const L = core.numLayers, H = core.hiddenSize, I = core.inputSize, lstm = core.kind === 'lstm';
  const dh: Float64Array[] = new Array(T), dc: Float64Array[] | null = lstm ? new Array(T) : null;
  let gh: Float64Array = dhLast.slice(), gc: Float64Array | null = lstm ? (dcLast ? dcLast.slice() : new Float64Array(L * B * H)) : null;
  for (let t = T - 1; t >= 0; t--) {
    dh[t] = gh;
    if (dc) dc[t] = gc!;
    // Step t maps s_{t-1} = states[t] to s_t = states[t+1].
    core.forward(slice(x, t, B, I), { h0: stateTensor(states.h[t], L, B, H), c0: lstm ? stateTensor(states.c![t], L, B, H) : null });
    const r = core.backward(null, { dhN: new Tensor(gh, [L, B, H]), dcN: lstm ? new Tensor(gc!, [L, B, H]) : null, dx: false });
    gh = r.dh0.data as Float64Array;
    gc = lstm ? (r.dc0!.data as Float64Array) : null;
  }
  core.zeroGrad();
  return { dh, dc, dhInit: gh, dcInit: gc };
}

function checkProbe(core: Recurrent): void {
  if (core.dtype !== 'float64' || core.batchFirst || core.bidirectional || core.stateful) {
    throw new RangeError('gradflow: expected a float64, time-major, unidirectional, non-stateful layer (use probeCopy)');
  }
}

// ---------------------------------------------------------------------------------------------
// The loss head on the last state

/** A Dense head on the top layer's last hidden state, Keras layout kernel (H, U). */
export interface Head {
  loss: 'mse' | 'softmax' | 'sigmoid';
  kernel: ArrayLike<number>;
  bias: ArrayLike<number> | null;
  units: number;
}

/**
 * Per-example loss and ∂L_b/∂h (h [B, H] = top-layer last state) for targets (class ids for
 * softmax, values for mse/sigmoid, one per example and unit for mse with U > 1).
 */
export function headGradient(head: Head, h: Float64Array, B: number, H: number, targets: ArrayLike<number>): { loss: Float64Array; dh: Float64Array } {
  const U = head.units, W = head.kernel;
  if (W.length !== H * U) throw new RangeError(`gradflow: head kernel has ${W.length} values, expected H·U = ${H * U}`);
  const loss = new Float64Array(B), dh = new Float64Array(B * H), dz = new Float64Array(U), z = new Float64Array(U);
  for (let b = 0; b < B; b++) {
    for (let u = 0; u < U; u++) {
      let s = head.bias ? head.bias[u]! : 0;
      for (let j = 0; j < H; j++) s += h[b * H + j]! * W[j * U + u]!;
      z[u] = s;
    }
    if (head.loss === 'softmax') {
      let m = -Infinity;
      for (let u = 0; u < U; u++) m = Math.max(m, z[u]!);
      let sum = 0;
      for (let u = 0; u < U; u++) { dz[u] = Math.exp(z[u]! - m); sum += dz[u]!; }
      const y = targets[b]!;
      for (let u = 0; u < U; u++) dz[u] = dz[u]! / sum - (u === y ? 1 : 0);
      loss[b] = -(z[y]! - m - Math.log(sum));
    } else if (head.loss === 'sigmoid') {
      const p = 1 / (1 + Math.exp(-z[0]!)), y = targets[b]!;
      dz[0] = p - y;
      loss[b] = -(y * Math.log(Math.max(p, 1e-300)) + (1 - y) * Math.log(Math.max(1 - p, 1e-300)));
    } else {
      let l = 0;
      for (let u = 0; u < U; u++) {
        const e = z[u]! - targets[U === 1 ? b : b * U + u]!;
        l += e * e / U; dz[u] = 2 * e / U;
      }
      loss[b] = l;
    }
    for (let j = 0; j < H; j++) {
      let s = 0;
      for (let u = 0; u < U; u++) s += W[j * U + u]! * dz[u]!;
      dh[b * H + j] = s;
    }
  }
  return { loss, dh };
}

export interface GradFlow {
  /** distance[k] = k = T-1-t. */
  distance: number[];
  /** Mean over examples of ||∂L_b/∂h_t|| (all layers' h), indexed by distance. */
  dhNorm: number[];
  /** The same per layer (0: the bottom one), [L][distance]. */
  dhNormByLayer: number[][];
  /** LSTM: mean of ||∂L_b/∂c_t||; null otherwise. */
  dcNorm: number[] | null;
  /** dhNorm / dhNorm[0]: the gain relative to the gradient at the loss. */
  ratio: number[];
  /** Mean per-example loss of the probe batch. */
  loss: number;
}

/** ||∂L/∂h_t|| against the distance from a loss on the last step, for the batch x [T, B, I]. */
export function gradientFlow(core: Recurrent, x: Float64Array, T: number, B: number, head: Head, targets: ArrayLike<number>): GradFlow {
  const L = core.numLayers, H = core.hiddenSize;
  const states = runStepwise(core, x, T, B);
  const top = states.h[T]!.subarray((L - 1) * B * H);
  const { loss, dh: dTop } = headGradient(head, top, B, H, targets);
  const dhLast = new Float64Array(L * B * H);
  dhLast.set(dTop, (L - 1) * B * H);
  const g = backpropByStep(core, x, states, dhLast);
  /** Mean over examples of the norm over layers [l0, l1). */
  const norms = (arr: Float64Array[], l0 = 0, l1 = L): number[] => {
    const out: number[] = [];
    for (let t = T - 1; t >= 0; t--) {
      let mean = 0;
      for (let b = 0; b < B; b++) {
        let s = 0;
        for (let l = l0; l < l1; l++) for (let j = 0; j < H; j++) s += arr[t]![(l * B + b) * H + j]! ** 2;
        mean += Math.sqrt(s) / B;
      }
      out.push(mean);
    }
    return out;
  };
  const dhNorm = norms(g.dh);
  return {
    distance: dhNorm.map((_, k) => k),
    dhNorm,
    dhNormByLayer: Array.from({ length: L }, (_, l) => (L === 1 ? dhNorm : norms(g.dh, l, l + 1))),
    dcNorm: g.dc ? norms(g.dc) : null,
    ratio: dhNorm.map((v) => (dhNorm[0]! > 0 ? v / dhNorm[0]! : 0)),
    loss: loss.reduce((a, v) => a + v, 0) / B,
  };
}

// ---------------------------------------------------------------------------------------------
// The recurrent Jacobian and its singular values

/**
 * J = ∂s_t/∂s_{t-1} (n × n, row-major, n = L·H, or 2·L·H for the LSTM with s = (h, c)) at one
 * step: xt [I], hPrev/cPrev [L·H] (one example).
 */
export function stateJacobian(core: Recurrent, xt: ArrayLike<number>, hPrev: ArrayLike<number>, cPrev?: ArrayLike<number> | null): { J: Float64Array; n: number } {
  checkProbe(core);
  const L = core.numLayers, H = core.hiddenSize, I = core.inputSize, lstm = core.kind === 'lstm';
  const LH = L * H, n = lstm ? 2 * LH : LH;
  const x = new Float64Array(n * I), h0 = new Float64Array(L * n * H), c0 = lstm ? new Float64Array(L * n * H) : null;
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < I; k++) x[i * I + k] = xt[k]!;
    for (let l = 0; l < L; l++) {
      for (let j = 0; j < H; j++) {
        h0[(l * n + i) * H + j] = hPrev[l * H + j]!;
        if (c0) c0[(l * n + i) * H + j] = cPrev ? cPrev[l * H + j]! : 0;
      }
    }
  }
  core.forward(new Tensor(x, [1, n, I]), { h0: new Tensor(h0, [L, n, H]), c0: c0 ? new Tensor(c0, [L, n, H]) : null });
  const dhN = new Float64Array(L * n * H), dcN = lstm ? new Float64Array(L * n * H) : null;
  for (let i = 0; i < n; i++) {
    const k = i % LH, l = Math.floor(k / H), j = k % H;
    if (i < LH) dhN[(l * n + i) * H + j] = 1;
    else dcN![(l * n + i) * H + j] = 1;
  }
  const r = core.backward(null, { dhN: new Tensor(dhN, [L, n, H]), dcN: dcN ? new Tensor(dcN, [L, n, H]) : null, dx: false });
  core.zeroGrad();
  const dh0 = r.dh0.data as Float64Array, dc0 = lstm ? (r.dc0!.data as Float64Array) : null;
  const J = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let l = 0; l < L; l++) {
      for (let j = 0; j < H; j++) {
        J[i * n + l * H + j] = dh0[(l * n + i) * H + j]!;
        if (dc0) J[i * n + LH + l * H + j] = dc0[(l * n + i) * H + j]!;
      }
    }
  }
  return { J, n };
}

/**
 * Singular values (descending) of an m × n row-major matrix by one-sided Jacobi (Hestenes):
 * rotate pairs of columns until all are mutually orthogonal; the column norms are then the
 * singular values. Accurate to rounding; O(n²·m) per sweep, a handful of sweeps.
 */
export function singularValues(A: ArrayLike<number>, m: number, n: number, maxSweeps = 60): Float64Array {
  if (A.length !== m * n) throw new RangeError(`singularValues: ${A.length} values for a ${m}×${n} matrix`);
  const cols: Float64Array[] = [];
  for (let j = 0; j < n; j++) {
    const c = new Float64Array(m);
    for (let i = 0; i < m; i++) c[i] = A[i * n + j]!;
    cols.push(c);
  }
  const eps = 1e-15;
  for (let sweep = 0; sweep < maxSweeps; sweep++) {
    let rotated = false;
    for (let p = 0; p < n - 1; p++) {
      const a = cols[p]!;
      for (let q = p + 1; q < n; q++) {
        const b = cols[q]!;
        let alpha = 0, beta = 0, gamma = 0;
        for (let i = 0; i < m; i++) { const x = a[i]!, y = b[i]!; alpha += x * x; beta += y * y; gamma += x * y; }
        if (gamma === 0 || Math.abs(gamma) <= eps * Math.sqrt(alpha * beta)) continue;
        rotated = true;
        const zeta = (beta - alpha) / (2 * gamma);
        const t = (zeta >= 0 ? 1 : -1) / (Math.abs(zeta) + Math.sqrt(1 + zeta * zeta));
        const c = 1 / Math.sqrt(1 + t * t), s = c * t;
        for (let i = 0; i < m; i++) {
          const x = a[i]!, y = b[i]!;
          a[i] = c * x - s * y;
          b[i] = s * x + c * y;
        }
      }
    }
    if (!rotated) break;
  }
  const sv = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    let s = 0;
    for (const v of cols[j]!) s += v * v;
    sv[j] = Math.sqrt(s);
  }
  return sv.sort().reverse();
}

export interface Spectrum {
  /** Mean over the sampled (example, step) points of the largest singular value. */
  sigmaMax: number;
  /** Smallest and largest σ_max among the samples. */
  sigmaMaxRange: [number, number];
  /** Mean of the sorted singular values (descending), length n. */
  spectrum: number[];
  /** Fraction of singular values above 0.5 and above 1, averaged over samples. */
  fracAbove05: number;
  fracAbove1: number;
  n: number;
  samples: number;
}

/**
 * Spectrum of ∂s_t/∂s_{t-1} along the batch x [T, B, I]: at the given steps (default: 4 evenly
 * spaced) of the first `examples` sequences; the state s_{t-1} is the one the sequence reached.
 */
export function jacobianSpectrum(core: Recurrent, x: Float64Array, T: number, B: number, opts: { steps?: number[]; examples?: number } = {}): Spectrum {
  const L = core.numLayers, H = core.hiddenSize, I = core.inputSize, lstm = core.kind === 'lstm';
  const steps = opts.steps ?? [0.2, 0.4, 0.6, 0.8].map((f) => Math.min(T - 1, Math.max(0, Math.round(f * T))));
  if (steps.some((t) => !Number.isInteger(t) || t < 0 || t >= T)) throw new RangeError(`jacobianSpectrum: steps must be integers in [0, ${T})`);
  const E = Math.min(B, opts.examples ?? 2);
  // Only the first E sequences up to the last sampled step are needed.
  const Tn = Math.max(...steps) + 1;
  const xs = new Float64Array(Tn * E * I);
  for (let t = 0; t < Tn; t++) xs.set(x.subarray(t * B * I, t * B * I + E * I), t * E * I);
  const states = runStepwise(core, xs, Tn, E);
  const sums: number[] = [];
  let sigmaSum = 0, lo = Infinity, hi = -Infinity, above05 = 0, above1 = 0, count = 0, n = 0;
  for (let b = 0; b < E; b++) {
    for (const t of steps) {
      const pick = (s: Float64Array): Float64Array => {
        const out = new Float64Array(L * H);
        for (let l = 0; l < L; l++) out.set(s.subarray((l * E + b) * H, (l * E + b + 1) * H), l * H);
        return out;
      };
      const xt = xs.subarray((t * E + b) * I, (t * E + b + 1) * I);
      const jac = stateJacobian(core, xt, pick(states.h[t]!), lstm ? pick(states.c![t]!) : null);
      n = jac.n;
      const sv = singularValues(jac.J, n, n);
      sv.forEach((v, i) => { sums[i] = (sums[i] ?? 0) + v; });
      sigmaSum += sv[0]!; lo = Math.min(lo, sv[0]!); hi = Math.max(hi, sv[0]!);
      above05 += sv.filter((v) => v > 0.5).length / n;
      above1 += sv.filter((v) => v > 1).length / n;
      count++;
    }
  }
  return {
    sigmaMax: sigmaSum / count, sigmaMaxRange: [lo, hi], spectrum: sums.map((v) => v / count),
    fracAbove05: above05 / count, fracAbove1: above1 / count, n, samples: count,
  };
}

// ---------------------------------------------------------------------------------------------
// From a Keras-style model

export interface ModelProbe {
  /** float64 copy of the model's recurrent layer (or stack of layers). */
  core: Recurrent;
  /** The recurrent layer's input for the probe batch, time-major [T, B, I], float64. */
  x: Float64Array;
  T: number;
  B: number;
  head: Head;
}

/**
 * Cut a Sequential model [preprocessing layers] -> RecurrentLayer(s) -> [Dropout] -> Dense into
 * the pieces the measurements need: the layers before the recurrent one are run (inference mode)
 * on `input` [B, T(, F)] to get the recurrent layer's input; the Dense after it is the loss head
 * (softmax -> cross-entropy, sigmoid -> binary cross-entropy, otherwise MSE). Stacked recurrent
 * layers (Dropout between them allowed: inference) are measured as one multi-layer core.
 */
export function modelProbe(model: Sequential, input: DenseData): ModelProbe {
  const ri = model.layers.findIndex((l) => l instanceof RecurrentLayer);
  if (ri < 0) throw new Error(`gradflow: model '${model.name}' has no recurrent layer`);
  const rl = model.layers[ri] as RecurrentLayer;
  if (!rl.core) throw new Error('gradflow: build the model first');
  const stack: RecurrentLayer[] = [rl];
  let hi = ri + 1;
  for (;;) {
    while (model.layers[hi] instanceof Dropout) hi++;
    const next = model.layers[hi];
    if (!(next instanceof RecurrentLayer)) break;
    if (!stack[stack.length - 1]!.options.returnSequences) throw new Error(`gradflow: '${stack[stack.length - 1]!.name}' must return sequences to feed '${next.name}'`);
    stack.push(next);
    hi++;
  }
  const dense = model.layers[hi];
  if (!(dense instanceof DenseLayer) || !dense.params) throw new Error(`gradflow: expected a Dense layer after '${stack[stack.length - 1]!.name}'`);
  const ctx = { training: false, rng: rng(0) };
  let a = { data: input.data, shape: input.shape, mask: input.mask };
  for (let i = 0; i < ri; i++) a = model.layers[i]!.forward(a, ctx);
  const [B, T, I] = a.shape as [number, number, number];
  if (a.shape.length !== 3) throw new Error(`gradflow: the recurrent layer's input must be [B, T, F], got [${a.shape.join(', ')}]`);
  const x = new Float64Array(T * B * I);
  for (let b = 0; b < B; b++) for (let t = 0; t < T; t++) for (let k = 0; k < I; k++) x[(t * B + b) * I + k] = a.data[(b * T + t) * I + k]!;
  const act = dense.activation;
  const head: Head = {
    loss: act === 'softmax' ? 'softmax' : act === 'sigmoid' ? 'sigmoid' : 'mse',
    kernel: Float64Array.from(dense.params.value('kernel')),
    bias: dense.params.byName.has('bias') ? Float64Array.from(dense.params.value('bias')) : null,
    units: dense.options.units,
  };
  if (stack.some((l) => l.options.goBackwards)) throw new Error('gradflow: goBackwards layers are not supported');
  return { core: probeCopy(stack.length === 1 ? rl.core : stack.map((l) => l.core!)), x, T, B, head };
}
