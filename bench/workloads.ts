// The standard workloads of ../shared/measurements.md as steps to time, and the timing itself:
// browser-safe (only the library's browser entry), so that bench.ts (Node.js) and the page of
// browser.ts (headless Chromium) run the very same code.
import * as rnn from '../src/browser.js';
import { buildCharModel, DEFAULT_CHARRNN, transformerCharModel } from '../src/apps/charrnn.js';
import type { Dense as DenseData } from '../src/models/data-input.js';
import { median } from './report.js';

export interface Workload {
  description: string;
  /** Tokens (B·T) and sequences (B) per step, and flops per step (for GFLOP/s), if meaningful. */
  setup(): { step: () => void; tokens: number; sequences: number; flops?: number };
  warmup: number;
  reps: number;
  /** Inference only: the weights never change, so the steps may run in one withFixedWeights scope. */
  inference?: boolean;
}

function ids(n: number, V: number, seed: number): Float32Array {
  const r = rnn.rng(seed);
  return Float32Array.from({ length: n }, () => r.int(V));
}

function charLm(cell: 'lstm' | 'gru' | 'simpleRNN'): Workload['setup'] {
  return () => {
    const V = 65, T = 64, B = 32, H = 256, E = 64;
    const model = rnn.sequential({ inputShape: [null], layers: [
      rnn.layers.embedding({ inputDim: V, outputDim: E }),
      rnn.layers[cell]({ units: H, returnSequences: true }),
      rnn.layers.dense({ units: V, activation: 'softmax' }),
    ] });
    model.build([null]);
    model.compile({ optimizer: 'adam', loss: 'sparseCategoricalCrossentropy' });
    const x: DenseData = { data: ids(B * T, V, 1), shape: [B, T], mask: null };
    const y: DenseData = { data: ids(B * T, V, 2), shape: [B, T], mask: null };
    const G = cell === 'lstm' ? 4 : cell === 'gru' ? 3 : 1;
    const flops = 3 * B * T * (2 * G * H * (E + H) + 2 * H * V);
    return { step: () => { model.trainOnBatch(x, y); }, tokens: B * T, sequences: B, flops };
  };
}

/** Low-level layer forward (+ backward + Adam when training). */
function layerWork(I: number, H: number, T: number, B: number, training: boolean): Workload['setup'] {
  return () => {
    const lstm = new rnn.LSTM({ inputSize: I, hiddenSize: H, batchFirst: true, seed: 1 });
    if (!training) lstm.eval();
    const r = rnn.rng(3);
    const x = new rnn.Tensor(Float32Array.from({ length: B * T * I }, () => r.uniform(-1, 1)), [B, T, I]);
    const dy = new rnn.Tensor(Float32Array.from({ length: B * T * H }, () => r.uniform(-1, 1)), [B, T, H]);
    const opt = rnn.optimizers.adam();
    // Per token 2·4H flops per input or hidden unit of a product: the forward's x·W_ihᵀ and
    // h·W_hhᵀ; in training also dh, dW_hh and dW_ih. x is data, so its gradient is not computed
    // (dx: false), as in the peers, where x requires no gradient.
    const flops = B * T * 8 * H * (training ? 2 * I + 3 * H : I + H);
    const step = training
      ? () => { lstm.zeroGrad(); lstm.forward(x); lstm.backward(dy, { dx: false }); opt.step(lstm.params.data, lstm.params.grad); }
      : () => { lstm.forward(x, { grad: false }); };
    return { step, tokens: B * T, sequences: B, flops };
  };
}

export const WORKLOADS: Record<string, Workload> = {
  W1: { description: 'char-LM training: embedding 65->64, LSTM 256, Dense 65 softmax CE, Adam; T=64 B=32', setup: charLm('lstm'), warmup: 3, reps: 15 },
  'W2-GRU': { description: 'W1 with GRU 256', setup: charLm('gru'), warmup: 3, reps: 15 },
  'W2-RNN': { description: 'W1 with a tanh RNN 256', setup: charLm('simpleRNN'), warmup: 3, reps: 20 },
  W3: {
    description: 'sentiment training: embedding 10000->64, LSTM 128, last state -> Dense 1 sigmoid, BCE; T=200 B=64',
    setup: () => {
      const V = 10000, T = 200, B = 64;
      const model = rnn.sequential({ inputShape: [null], layers: [
        rnn.layers.embedding({ inputDim: V, outputDim: 64 }),
        rnn.layers.lstm({ units: 128 }),
        rnn.layers.dense({ units: 1, activation: 'sigmoid' }),
      ] });
      model.build([null]);
      model.compile({ optimizer: 'adam', loss: 'binaryCrossentropy' });
      const x: DenseData = { data: ids(B * T, V, 4), shape: [B, T], mask: null };
      const y: DenseData = { data: ids(B, 2, 5), shape: [B, 1], mask: null };
      return { step: () => { model.trainOnBatch(x, y); }, tokens: B * T, sequences: B, flops: 3 * B * T * 2 * 4 * 128 * (64 + 128) };
    },
    warmup: 2, reps: 8,
  },
  W4: { description: 'large LSTM layer training (forward + backward without dx + Adam): I=512 H=512 T=64 B=64', setup: layerWork(512, 512, 64, 64, true), warmup: 1, reps: 5 },
  'W1-layer': { description: 'LSTM layer forward + backward without dx + Adam at W1 shapes: I=64 H=256 T=64 B=32', setup: layerWork(64, 256, 64, 32, true), warmup: 3, reps: 15 },
  W5a: { description: 'inference latency: LSTM I=64 H=256, batch 1, T=64', setup: layerWork(64, 256, 64, 1, false), warmup: 10, reps: 60, inference: true },
  W5b: { description: 'inference throughput: LSTM I=64 H=256, batch 64, T=64', setup: layerWork(64, 256, 64, 64, false), warmup: 3, reps: 20, inference: true },
  generate: {
    description: 'text generation: charrnn\'s default model (65 symbols, embedding 64, 2 x LSTM 256, Dense softmax), generateText of 512 characters',
    setup: () => {
      const V = 65, length = 512;
      const vocab = new rnn.CharVocab(Array.from({ length: V }, (_, i) => String.fromCharCode(32 + i)));
      const model = buildCharModel(V, DEFAULT_CHARRNN);
      let seed = 0;
      // Per character, the two layers' products (the prime's character counts too) and the head's.
      const flops = (length + 1) * (2 * 4 * 256 * ((64 + 256) + (256 + 256)) + 2 * 256 * V);
      return { step: () => { rnn.generateText(model, vocab, { length, temperature: 0.8, seed: seed++ }); }, tokens: length, sequences: 1, flops };
    },
    warmup: 3, reps: 15,
  },
  'generate-transformer': {
    description: 'text generation: charrnn\'s Transformer (--cell transformer --hidden 192: 2 pre-norm blocks, 4 heads, window 64), generateText of 512 characters from its key/value cache',
    setup: () => {
      const V = 65, length = 512;
      const vocab = new rnn.CharVocab(Array.from({ length: V }, (_, i) => String.fromCharCode(32 + i)));
      const { model } = transformerCharModel(V, { hidden: 192, layers: 2, heads: 4, dropout: 0, seed: 1 });
      let seed = 0;
      // (No flops: the window's restarts from its last 48 characters add a varying share.)
      return { step: () => { rnn.generateText(model, vocab, { length, temperature: 0.8, seed: seed++, window: 64 }); }, tokens: length, sequences: 1 };
    },
    warmup: 2, reps: 10,
  },
};


/** Minimum warm-up time per workload. */
export const WARMUP_MS = 1000;


export interface Timing {
  /** Each timed step, ms. */
  times: number[];
  /** Their median. */
  ms: number;
  tokens: number;
  sequences: number;
  flops?: number;
}

/** The workloads whose steps change no weights (W5a, W5b): the ones that take fixed weights. */
export function inferenceWorkloads(): string[] {
  return Object.keys(WORKLOADS).filter((k) => WORKLOADS[k]!.inference);
}

/**
 * Times a workload: warm-up steps (the workload's count, and at least WARMUP_MS of them: JIT tiers;
 * with two kernel threads the worker starts with the first big call and is not waited for), then
 * the median of its timed steps. Hooks: after the warm-up, after each timed step. fixedWeights
 * (inference workloads only): every step, warm-up included, in one withFixedWeights scope.
 */
export function timeWorkload(name: string, hooks: { afterWarmup?(): void; afterStep?(): void } = {}, fixedWeights = false): Timing {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload '${name}'; known: ${Object.keys(WORKLOADS).join(', ')}`);
  if (fixedWeights && !w.inference) {
    throw new Error(`fixed weights: ${name} trains (its weights change every step); only ${inferenceWorkloads().join(', ')} take them`);
  }
  // Fixed weights: warm-up and timed steps in one scope, each weight array checked once.
  return fixedWeights ? rnn.withFixedWeights(() => timeSteps(w, hooks)) : timeSteps(w, hooks);
}

function timeSteps(w: Workload, hooks: { afterWarmup?(): void; afterStep?(): void }): Timing {
  const { step, tokens, sequences, flops } = w.setup();
  const warmEnd = performance.now() + WARMUP_MS;
  for (let i = 0; i < w.warmup || performance.now() < warmEnd; i++) step();
  hooks.afterWarmup?.();
  const times: number[] = [];
  for (let i = 0; i < w.reps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
    hooks.afterStep?.();
  }
  return { times, ms: median(times), tokens, sequences, ...(flops ? { flops } : {}) };
}

/** The figures every report of a timing gives (rnnkit's bench JSON names). */
export function rates(t: Timing): { tokensPerSecond: number; msPerSequence: number; msPerStep: number; gflops?: number } {
  return {
    tokensPerSecond: Math.round((t.tokens / t.ms) * 1000),
    msPerSequence: +(t.ms / t.sequences).toFixed(4),
    msPerStep: +t.ms.toFixed(3),
    ...(t.flops ? { gflops: +((t.flops / t.ms) / 1e6).toFixed(2) } : {}),
  };
}
