// Incremental decoding: a causal model (a Transformer decoder, recurrent layers, an
// encoder-decoder) fed its sequence a few steps at a time, each call running only the new steps.
// Causal self-attention keeps every step's keys and values (a key/value cache) and lets the new
// queries read them; recurrent layers carry their state from call to call; positions continue
// from where the last call ended; layers that act on each step alone (Dense, LayerNormalization,
// Add, ...) run on the new steps as they are. In an encoder-decoder the model's other inputs (the
// source) are given once, to reset(): the layers that read only them (the encoder) run then, once,
// and the decoder's layers read their outputs — encoder states that start a recurrent decoder,
// encoder outputs that an attention layer attends to. Each call's outputs are those `predict`
// gives for the same steps over the whole sequence so far, for the cost of the new steps (plus
// their attention over the past) instead of the whole sequence's.
//
//   const dec = rnn.incrementalDecoder(model);
//   let probs = dec.step([ids]);          // [1, n, V]: the prompt's steps
//   probs = dec.step([[nextId]]);         // [1, 1, V]: one more
//   dec.reset();                          // a new sequence (an encoder-decoder: reset(source))
import { withFixedWeights } from '../kernels/index.js';
import { KeyValueCache } from '../kernels/multihead-ops.js';
import { lastStepMask, lastSteps } from '../kernels/layer-ops.js';
import { Attention } from '../layers/attention.js';
import { Embedding } from '../layers/core.js';
import { configError, PER_STEP_LAYERS, type Act, type CallContext, type Layer } from '../layers/layer.js';
import { MultiHeadAttention } from '../layers/multihead.js';
import { PositionEncoding } from '../layers/position.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import { isMultiLayer, type SymbolicTensor } from '../layers/symbolic.js';
import { rng } from '../tensor/rng.js';
import { Tensor } from '../tensor/tensor.js';
import { toDense, type ArrayInput } from './data-input.js';
import { GraphModel } from './functional.js';
import { Sequential, type Model } from './sequential.js';


/** How a layer application runs: once per sequence (it reads only the other inputs) or per call. */
type Mode = 'once' | 'cached' | 'carried' | 'position' | 'queries' | 'steps';

/** One layer application: which tensors it reads and writes (Sequential: the chain), and how it runs. */
interface Step {
  layer: Layer;
  inputs: SymbolicTensor[] | null;
  outputs: SymbolicTensor[] | null;
  mode: Mode;
}

export interface IncrementalDecoderOptions {
  /** Steps to make room for in each attention layer's cache at the start (it grows past them; default 64). */
  capacity?: number;
  /**
   * A functional model with several inputs: the one fed a few steps at a time, by name or index
   * (default the last); the others are given whole to reset().
   */
  stepInput?: string | number;
}

export class IncrementalDecoder {
  private readonly steps: Step[];
  private readonly caches = new Map<MultiHeadAttention | Attention, KeyValueCache>();
  private readonly ctx: CallContext = { training: false, rng: rng(0) };
  /**
   * The steps' calls: each layer's output is consumed within the call (the next layers read it,
   * step() copies the model's out), so the layers write into buffers of their own, reused from
   * call to call (in the backend's memory, read there by the next layer's kernels) instead of
   * fresh arrays. reset's layers (computed once, read at every step) keep fresh ones.
   */
  private readonly stepCtx: CallContext = { training: false, rng: this.ctx.rng, reuse: true };
  /** The stepped input (a functional model), and the others, given to reset(). */
  private readonly stepped: SymbolicTensor | null = null;
  private readonly others: SymbolicTensor[] = [];
  /** The outputs of the layers that ran once, for this sequence. */
  private readonly fixed = new Map<SymbolicTensor, Act>();
  /** Recurrent layers that have not stepped since reset: their first call starts from the initial states given. */
  private readonly fresh = new Set<RecurrentLayer>();
  private offset = 0;
  private batch = 0;
  private ready = false;
  private readonly capacity: number;
  /**
   * Per step of `steps`: whether only its output at the last new step is read in a call that
   * wants the last step's outputs alone (step(x, { last: true })) — true from the end of the
   * model back to the last layer that reads every new step (a cached attention's keys and values,
   * a recurrent layer's state), and for that layer's own output.
   */
  private readonly lastOut: boolean[];

  /** The model's stateful layers start again from zeros (the decoder starts a sequence). */
  constructor(readonly model: Model, options: IncrementalDecoderOptions = {}) {
    const cap = options.capacity ?? 64;
    if (!(Number.isInteger(cap) && cap >= 1)) throw new RangeError(`incrementalDecoder: capacity must be a positive integer, got ${String(options.capacity)}`);
    this.capacity = cap;
    if (model instanceof GraphModel) {
      const k = options.stepInput ?? model.numInputs - 1;
      const i = typeof k === 'number' ? k : model.inputs.findIndex((t) => t.name === k);
      if (!(Number.isInteger(i) && i >= 0 && i < model.numInputs)) {
        throw new RangeError(`incrementalDecoder: stepInput ${JSON.stringify(k)} is not one of '${model.name}''s inputs (${model.inputs.map((t) => t.name).join(', ')})`);
      }
      this.stepped = model.inputs[i]!;
      this.others = model.inputs.filter((_, j) => j !== i);
      const steppedTensors = new Set<SymbolicTensor>([this.stepped]);
      this.steps = model.nodes.map((n) => {
        const s: Step = { layer: n.layer, inputs: n.inputs, outputs: n.outputs, mode: 'once' };
        const reads = n.inputs.map((t) => steppedTensors.has(t));
        if (reads.some((r) => r)) {
          s.mode = this.modeOf(n.layer, reads, n.inputs);
          for (const t of n.outputs) steppedTensors.add(t);
        }
        return s;
      });
      if (!steppedTensors.has(model.output)) throw new RangeError(`incrementalDecoder: the output of '${model.name}' does not depend on its input '${this.stepped.name}'`);
      // Backwards from the output: a tensor is read at every new step when a layer that needs
      // every step reads it (its cached keys and values, its carried state), or a layer whose
      // own output is read at every step.
      const full = new Set<SymbolicTensor>();
      this.lastOut = this.steps.map(() => false);
      for (let i = this.steps.length - 1; i >= 0; i--) {
        const s = this.steps[i]!;
        if (s.mode === 'once') continue;
        const last = !s.outputs!.some((t) => full.has(t));
        this.lastOut[i] = last;
        for (const t of s.inputs!) {
          if (steppedTensors.has(t) && (!last || s.mode === 'cached' || s.mode === 'carried')) full.add(t);
        }
      }
    } else if (model instanceof Sequential) {
      this.steps = model.layers.map((layer) => ({ layer, inputs: null, outputs: null, mode: this.modeOf(layer, [true], null) }));
      let lastFull = -1;
      this.steps.forEach((s, i) => { if (s.mode === 'cached' || s.mode === 'carried') lastFull = i; });
      this.lastOut = this.steps.map((_, i) => i >= lastFull);
    } else {
      throw new RangeError('incrementalDecoder: takes a Sequential or functional model');
    }
    this.reset();
  }

  /** How a layer reading the stepped sequence (reads[i]: input i is stepped) runs; an error naming it when it cannot. */
  private modeOf(l: Layer, reads: boolean[], inputs: SymbolicTensor[] | null): Mode {
    const no = (why: string): never => configError(l.name, `cannot decode incrementally: ${why}`);
    if (l instanceof MultiHeadAttention || l instanceof Attention) {
      // Queries of the new steps over keys and values computed once (cross-attention): as they are.
      if (reads[0] && reads.slice(1).every((r) => !r)) {
        if (l.causal) no('causal attention over a sequence computed once');
        return 'queries';
      }
      if (!reads[0] || !reads.every((r) => r)) no('its keys or values are the stepped sequence but its queries are not');
      if (inputs && inputs.some((t) => t !== inputs[0])) no('its queries, keys and values are different stepped tensors (self-attention is apply([x, x]))');
      if (!l.causal) no('its attention is not causal (each step would see later steps)');
      return 'cached';
    }
    if (l instanceof RecurrentLayer) {
      if (l.bidirectional !== null || l.options.goBackwards) no('it reads the sequence backwards');
      if (!l.options.returnSequences) no('it must return the whole sequence (returnSequences)');
      if (!reads[0] || reads.slice(1).some((r) => r)) no('its initial state depends on the stepped sequence');
      return 'carried';
    }
    if (reads.some((r) => !r)) no('it combines the stepped sequence with tensors computed once');
    if (l instanceof PositionEncoding) return 'position';
    if (!PER_STEP_LAYERS.has(l.className)) no(`${l.className} looks across steps`);
    return 'steps';
  }

  /** Steps fed since the last reset (the position of the next step). */
  get position(): number { return this.offset; }

  /** Rows of the batch: set by reset's context or the first step (0 before either). */
  get batchSize(): number { return this.batch; }

  /**
   * Start a sequence: empty caches, recurrent states back to zeros. An encoder-decoder takes its
   * other inputs here (one, or an array in the model's order without the stepped one), whole:
   * the layers that read only them run now.
   */
  reset(context?: ArrayInput | ArrayInput[]): void {
    for (const c of this.caches.values()) c.release();
    this.caches.clear();
    this.fixed.clear();
    this.fresh.clear();
    this.offset = 0;
    this.batch = 0;
    for (const s of this.steps) {
      s.layer.resetStates?.();
      if (s.mode === 'carried') this.fresh.add(s.layer as RecurrentLayer);
    }
    this.ready = this.others.length === 0;
    if (context === undefined) return;
    const k = this.others.length;
    if (k === 0) throw new RangeError(`incrementalDecoder.reset: '${this.model.name}' has no input besides the stepped one; call reset() without context`);
    // One other input: given as it is (or as a list of one tensor); several: a list.
    const wrapped = Array.isArray(context) && context.length === 1 && context[0] !== null && typeof context[0] === 'object' && !Array.isArray(context[0]);
    const list = k === 1 ? [wrapped ? (context as ArrayInput[])[0]! : (context as ArrayInput)] : (context as ArrayInput[]);
    if (list.length !== k) throw new RangeError(`incrementalDecoder.reset: '${this.model.name}' reads ${k} input(s) besides '${this.stepped!.name}' (${this.others.map((t) => t.name).join(', ')}); got ${list.length}`);
    const values = this.fixed;
    this.others.forEach((t, i) => {
      const d = toDense(list[i]!, `reset(context)[${i}]`);
      values.set(t, { data: d.data, shape: d.shape, mask: d.mask });
    });
    const B = list.length ? values.get(this.others[0]!)!.shape[0]! : 0;
    for (const s of this.steps) {
      if (s.mode !== 'once') continue;
      const ins = s.inputs!.map((t) => values.get(t)!);
      const outs = isMultiLayer(s.layer) ? s.layer.forwardMulti(ins, this.ctx) : [s.layer.forward(ins[0]!, this.ctx)];
      s.outputs!.forEach((t, i) => values.set(t, outs[i]!));
    }
    this.batch = B;
    this.ready = true;
  }

  /**
   * Row i of the batch goes on as row rows[i] was (rows kept, reordered or repeated): its cached
   * keys and values, its recurrent states and the encoder's outputs for it. A beam search's step
   * (beamSearch); the batch size becomes rows.length.
   */
  selectRows(rows: ArrayLike<number>): void {
    const B = this.batch, n = rows.length;
    for (let i = 0; i < n; i++) {
      const r = rows[i]!;
      if (!(Number.isInteger(r) && r >= 0 && r < B)) throw new RangeError(`incrementalDecoder.selectRows: rows[${i}] = ${r} is not a row of the batch of ${B}`);
    }
    if (n === 0) throw new RangeError('incrementalDecoder.selectRows: no rows');
    for (const c of this.caches.values()) c.selectRows(rows);
    for (const s of this.steps) {
      if (s.mode !== 'carried') continue;
      const r = s.layer as RecurrentLayer, st = r.getStates() as { h: Float32Array; c: Float32Array | null; B: number } | null;
      if (!st) continue;
      // The carried state is [layers·directions, B, H]: rows picked in each block.
      const H = r.units, blocks = st.h.length / (st.B * H);
      const pick = (a: Float32Array): Float32Array => {
        const out = new Float32Array(blocks * n * H);
        for (let k = 0; k < blocks; k++) {
          for (let i = 0; i < n; i++) out.set(a.subarray((k * st.B + rows[i]!) * H, (k * st.B + rows[i]! + 1) * H), (k * n + i) * H);
        }
        return out;
      };
      r.setStates({ h: pick(st.h), c: st.c ? pick(st.c) : null, B: n });
    }
    for (const [t, v] of this.fixed) this.fixed.set(t, selectActRows(v, rows));
    this.batch = n;
  }

  /**
   * The model's outputs [B, n, ...] for n new steps x [B, n] (token ids, or [B, n, F] features)
   * that follow the steps fed before; the batch size stays what the first call (or reset's
   * context) set until reset. `last`: the outputs of the last new step alone, [B, 1, ...] (a
   * prompt, or a window started again, of which only the next step's prediction is read): the
   * layers after the last one that reads every step run on that step alone, and that layer
   * (causal attention) computes its last query only.
   */
  step(xIn: ArrayInput, options: { last?: boolean } = {}): Tensor {
    if (!this.ready) {
      throw new RangeError(`incrementalDecoder.step: '${this.model.name}' also reads ${this.others.map((t) => `'${t.name}'`).join(', ')}: give ${this.others.length === 1 ? 'it' : 'them'} to reset(...) first`);
    }
    if (options.last !== undefined && typeof options.last !== 'boolean') throw new RangeError(`incrementalDecoder.step: options.last must be true or false, got ${String(options.last)}`);
    const x = toDense(xIn, 'step(x)');
    if (x.shape.length < 2) throw new RangeError(`incrementalDecoder.step: x must be [batch, steps, ...], got [${x.shape.join(', ')}]`);
    const [B, n] = x.shape as [number, number];
    if (n === 0) throw new RangeError('incrementalDecoder.step: x has no steps');
    if (this.batch !== 0 && B !== this.batch) throw new RangeError(`incrementalDecoder.step: batch ${B}, but this sequence started with batch ${this.batch} (reset() to start another)`);
    if (x.mask) throw new RangeError('incrementalDecoder.step: ragged rows; every row must have the same number of new steps');
    if (this.steps.some((s) => !s.layer.built)) throw new RangeError(`incrementalDecoder: '${this.model.name}' is not built; predict or fit once first`);
    this.batch = B;
    // (One new step: its outputs are the last step's.)
    const last = options.last === true && n > 1;
    let a: Act = { data: x.data, shape: x.shape, mask: null };
    const values = new Map(this.fixed);
    if (this.stepped) values.set(this.stepped, a);
    this.steps.forEach((s, i) => {
      if (s.mode === 'once') return;
      const ins = s.inputs ? s.inputs.map((t) => values.get(t)!) : [a];
      const outs = last && this.lastOut[i] ? this.runLast(s, ins, n) : this.run(s, ins);
      if (s.outputs) s.outputs.forEach((t, j) => values.set(t, outs[j]!));
      else a = outs[0]!;
    });
    const model = this.model;
    if (model instanceof GraphModel) a = values.get(model.output)!;
    this.offset += n;
    return new Tensor(Float32Array.from(a.data), [...a.shape]);
  }

  /**
   * A layer whose output is read at the last of the n new steps alone (lastOut): a cached
   * attention takes every step and computes the last query; a recurrent layer runs every step
   * and passes its last output on; any other layer runs on the last step of its stepped inputs.
   * (An input with one step, of the n > 1, is a last step already.)
   */
  private runLast(s: Step, ins: Act[], n: number): Act[] {
    if (s.mode === 'cached') return this.run(s, ins, true);
    if (s.mode === 'carried') {
      const outs = this.run(s, ins);
      return [lastStep(outs[0]!), ...outs.slice(1)]; // (the sequence, then any states)
    }
    const stepped = ins.map((v, j) => (s.inputs === null || !this.fixed.has(s.inputs[j]!) ? lastStep(v) : v)); // (fixed: computed once)
    if (s.mode === 'position') return [(s.layer as PositionEncoding).forwardAt(stepped[0]!, this.offset + n - 1, this.stepCtx)];
    return this.run(s, stepped);
  }

  private run(s: Step, ins: Act[], last = false): Act[] {
    const l = s.layer;
    switch (s.mode) {
      case 'cached': {
        const m = l as MultiHeadAttention | Attention;
        let cache = this.caches.get(m);
        if (!cache) {
          cache = m instanceof MultiHeadAttention ? m.newCache(this.batch, this.capacity) : m.newCache(this.batch, ins[0]!.shape[2]!, this.capacity);
          this.caches.set(m, cache);
        }
        return [m instanceof MultiHeadAttention ? m.forwardCached(ins[0]!, cache, this.stepCtx, last) : m.forwardCached(ins[0]!, cache, last)];
      }
      case 'carried': {
        const r = l as RecurrentLayer, first = this.fresh.delete(r);
        return r.forwardCarried(ins[0]!, this.stepCtx, first ? ins.slice(1) : []);
      }
      case 'position': return [(l as PositionEncoding).forwardAt(ins[0]!, this.offset, this.stepCtx)];
      default: {
        if (l instanceof Embedding) {
          const y = l.forward(ins[0]!, this.stepCtx);
          if (y.mask && y.mask.includes(0)) configError(l.name, 'cannot decode incrementally: id 0 is padding (maskZero), and a decoder takes no padded steps');
          return [y];
        }
        return isMultiLayer(l) ? l.forwardMulti(ins, this.stepCtx) : [l.forward(ins[0]!, this.stepCtx)];
      }
    }
  }
}

export interface BeamSearchOptions {
  /** The first input of every sequence (a start token). */
  start: number;
  /** Steps at most (the end id included). */
  maxLength: number;
  /** The id that ends a sequence (kept in it); without one every sequence runs maxLength steps. */
  end?: number;
  /** Sequences kept per row (default 4). */
  beamWidth?: number;
  /** Finished sequences are ranked by log-probability / length^lengthPenalty (default 0: the sum). */
  lengthPenalty?: number;
  /** Ids never emitted (e.g. the padding id 0). */
  exclude?: readonly number[];
}

/** A sequence found by beamSearch: its ids (after the start), Σ log p, and the ranking score. */
export interface Hypothesis {
  ids: number[];
  logProb: number;
  score: number;
}

/**
 * Beam search with a decoder whose model outputs probabilities over ids (a softmax), for each
 * row of the batch its reset() began — the sources of an encoder-decoder, or one sequence —
 * starting from `start`: the beamWidth best sequences found, best first. Every step extends each
 * of the row's live sequences by every id, keeps the likeliest (selectRows carries their caches
 * and states along), and sets aside those that emitted `end`; a row stops once beamWidth
 * sequences have ended. Width 1 is greedy decoding.
 */
export function beamSearch(dec: IncrementalDecoder, o: BeamSearchOptions): Hypothesis[][] {
  // The search owns the model while it runs and changes no weights: the kernels check each
  // weight array once instead of at every step (a one-token step of charrnn's Transformer spends
  // about 40% of its time comparing its 3.6 MB of weights with the kernels' copies otherwise).
  return withFixedWeights(() => search(dec, o));
}

function search(dec: IncrementalDecoder, o: BeamSearchOptions): Hypothesis[][] {
  const K = o.beamWidth ?? 4, alpha = o.lengthPenalty ?? 0;
  if (!(Number.isInteger(K) && K >= 1)) throw new RangeError(`beamSearch: beamWidth must be a positive integer, got ${String(o.beamWidth)}`);
  if (!(Number.isInteger(o.maxLength) && o.maxLength >= 1)) throw new RangeError(`beamSearch: maxLength must be a positive integer, got ${String(o.maxLength)}`);
  if (!(alpha >= 0)) throw new RangeError(`beamSearch: lengthPenalty must be >= 0, got ${String(o.lengthPenalty)}`);
  if (dec.position !== 0) throw new RangeError('beamSearch: the decoder has run steps already; reset() it (with the sources) first');
  const N = Math.max(dec.batchSize, 1), excluded = new Set(o.exclude ?? []);
  if (dec.batchSize > 0) dec.selectRows(Int32Array.from({ length: N * K }, (_, i) => Math.floor(i / K)));
  const score = (h: { ids: number[]; logProb: number }): number => h.logProb / Math.pow(h.ids.length, alpha);
  // Row n's beams are rows n·K … n·K + K − 1; a dead beam (-Infinity) is never extended.
  let beams = Array.from({ length: N * K }, (_, i) => ({ ids: [] as number[], logProb: i % K === 0 ? 0 : -Infinity }));
  const finished: Hypothesis[][] = Array.from({ length: N }, () => []), done = new Uint8Array(N);
  let tokens = new Float32Array(N * K).fill(o.start);
  for (let step = 0; step < o.maxLength && done.includes(0); step++) {
    const p = dec.step({ data: tokens, shape: [N * K, 1] }).data, V = p.length / (N * K);
    if (step === 0) {
      // The scores are log-probabilities: the outputs must be a distribution over the ids.
      let sum = 0, bad = false;
      for (let v = 0; v < V; v++) { const q = p[v]!; sum += q; if (!(q >= 0 && q <= 1)) bad = true; }
      if (bad || Math.abs(sum - 1) > 1e-3) throw new RangeError(`beamSearch: '${dec.model.name}' must output probabilities over the ids (a softmax); its first row sums to ${sum}`);
    }
    const parents = new Int32Array(N * K), next = new Float32Array(N * K);
    const nextBeams: typeof beams = new Array(N * K);
    for (let n = 0; n < N; n++) {
      // The 2K likeliest extensions (K of them may end), best first.
      const best: { k: number; v: number; lp: number }[] = [];
      if (!done[n]) {
        for (let k = 0; k < K; k++) {
          const b = beams[n * K + k]!;
          if (b.logProb === -Infinity) continue;
          for (let v = 0; v < V; v++) {
            if (excluded.has(v)) continue;
            const lp = b.logProb + Math.log(p[(n * K + k) * V + v]!);
            if (lp === -Infinity || Number.isNaN(lp) || (best.length === 2 * K && lp <= best[2 * K - 1]!.lp)) continue;
            let i = best.length < 2 * K ? best.length : 2 * K - 1;
            while (i > 0 && best[i - 1]!.lp < lp) i--;
            best.splice(i, 0, { k, v, lp });
            if (best.length > 2 * K) best.pop();
          }
        }
      }
      let live = 0;
      for (const c of best) {
        if (live === K) break;
        const ids = [...beams[n * K + c.k]!.ids, c.v];
        if (c.v === o.end || step === o.maxLength - 1) {
          finished[n]!.push({ ids, logProb: c.lp, score: score({ ids, logProb: c.lp }) });
          if (c.v === o.end) continue;
        }
        parents[n * K + live] = n * K + c.k;
        next[n * K + live] = c.v;
        nextBeams[n * K + live] = { ids, logProb: c.lp };
        live++;
      }
      for (let k = live; k < K; k++) {
        parents[n * K + k] = n * K;
        next[n * K + k] = o.start;
        nextBeams[n * K + k] = { ids: [], logProb: -Infinity };
      }
      if (live === 0 || finished[n]!.filter((h) => h.ids[h.ids.length - 1] === o.end).length >= K) done[n] = 1;
    }
    beams = nextBeams;
    tokens = next;
    if (done.includes(0) && step < o.maxLength - 1) dec.selectRows(parents);
  }
  return finished.map((f) => f.sort((a, b) => b.score - a.score).slice(0, K));
}

/** The last step of each row of a batch-first activation [B, n, ...] (itself when n is 1). */
function lastStep(a: Act): Act {
  const [B, n] = a.shape as [number, number];
  if (n === 1) return a;
  const per = a.data.length / (B * n);
  const data = lastSteps(a.data as Float32Array, B, n, per, new Float32Array(B * per));
  return { data, shape: [B, 1, ...a.shape.slice(2)], mask: lastStepMask(a.mask, B, n) };
}

/** Rows of a batch-first activation (and of its mask) in the given order. */
function selectActRows(a: Act, rows: ArrayLike<number>): Act {
  const B = a.shape[0]!, per = a.data.length / B, n = rows.length;
  const data = new Float32Array(n * per);
  for (let i = 0; i < n; i++) data.set(a.data.subarray(rows[i]! * per, (rows[i]! + 1) * per), i * per);
  let mask: Uint8Array | null = null;
  if (a.mask) {
    const m = a.mask.length / B;
    mask = new Uint8Array(n * m);
    for (let i = 0; i < n; i++) mask.set(a.mask.subarray(rows[i]! * m, (rows[i]! + 1) * m), i * m);
  }
  return { data, shape: [n, ...a.shape.slice(1)], mask };
}

/** A decoder over `model` that runs a sequence a few steps at a time (see IncrementalDecoder). */
export function incrementalDecoder(model: Model, options?: IncrementalDecoderOptions): IncrementalDecoder {
  return new IncrementalDecoder(model, options);
}
