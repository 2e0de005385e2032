// rnnkit's own benchmark: the standard workloads of ../shared/measurements.md.
//
//   npm run bench                          every workload, each in a fresh process, as a table + JSON
//   npm run bench -- --workload W1 --json  one workload, one JSON object:
//     { "workload", "tokensPerSecond", "msPerSequence", "peakRssMB", "threads", ... }
//   npm run bench -- --workload W1 --threads 1   the kernels on one thread (setThreads(1); the library's
//                                                default is two threads on a machine with 2+ cores)
//   npm run bench -- --workload W1 --breakdown   also where a step's time goes: each kernel entry
//                                                point of the backend (ms per step, GFLOP/s) and the
//                                                JavaScript outside them (losses, optimizer, glue)
//
// Timing: warm-up steps (at least 1 s of them), then the median of repeated timed steps. Speed
// lives here, never in tests.
import { spawnSync } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as rnn from '../src/index.js';
import { getBackend, getThreads, setThreads } from '../src/kernels/index.js';
import { instrument, type BreakdownRow } from './breakdown.js';
import type { Dense as DenseData } from '../src/models/data-input.js';

export interface WorkloadResult {
  workload: string;
  description: string;
  tokensPerSecond: number;
  msPerSequence: number;
  msPerStep: number;
  peakRssMB: number;
  threads: number;
  backend: string;
  gflops?: number;
  /** With --breakdown: the mean step split by kernel entry point, and the rest. */
  breakdown?: BreakdownRow[];
}

interface Workload {
  description: string;
  /** Tokens (B·T) and sequences (B) per step, and flops per step (for GFLOP/s), if meaningful. */
  setup(): { step: () => void; tokens: number; sequences: number; flops?: number };
  warmup: number;
  reps: number;
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
    const flops = (training ? 3 : 1) * B * T * 2 * 4 * H * (I + H);
    const step = training
      ? () => { lstm.zeroGrad(); lstm.forward(x); lstm.backward(dy); opt.step(lstm.params.data, lstm.params.grad); }
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
  W4: { description: 'large LSTM layer training (forward + backward + Adam): I=512 H=512 T=64 B=64', setup: layerWork(512, 512, 64, 64, true), warmup: 1, reps: 5 },
  'W1-layer': { description: 'LSTM layer forward + backward + Adam at W1 shapes: I=64 H=256 T=64 B=32', setup: layerWork(64, 256, 64, 32, true), warmup: 3, reps: 15 },
  W5a: { description: 'inference latency: LSTM I=64 H=256, batch 1, T=64', setup: layerWork(64, 256, 64, 1, false), warmup: 10, reps: 60 },
  W5b: { description: 'inference throughput: LSTM I=64 H=256, batch 64, T=64', setup: layerWork(64, 256, 64, 64, false), warmup: 3, reps: 20 },
};

/** Minimum warm-up time per workload. */
const WARMUP_MS = 1000;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
}

/**
 * Runs a workload: warm-up, then the median of timed steps. `breakdown`: the timed steps also
 * measure each kernel entry point of the backend (see instrument; the split is of the mean step).
 */
export function runWorkload(name: string, opts: { breakdown?: boolean } = {}): WorkloadResult {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload '${name}'; known: ${Object.keys(WORKLOADS).join(', ')}`);
  const { step, tokens, sequences, flops } = w.setup();
  let peak = process.memoryUsage().rss;
  const probe = opts.breakdown ? instrument(getBackend()) : null;
  // Warm-up: the workload's steps, and at least WARMUP_MS of them (JIT tiers; with the library's
  // default threads the kernel worker starts with the first big call and is not waited for).
  const warmEnd = performance.now() + WARMUP_MS;
  for (let i = 0; i < w.warmup || performance.now() < warmEnd; i++) step();
  probe?.reset();
  const times: number[] = [];
  for (let i = 0; i < w.reps; i++) {
    const t0 = performance.now();
    step();
    times.push(performance.now() - t0);
    peak = Math.max(peak, process.memoryUsage().rss);
  }
  const ms = median(times);
  const breakdown = probe?.rows(times.length, times.reduce((a, b) => a + b, 0) / times.length);
  probe?.restore();
  const res: WorkloadResult = {
    workload: name, description: w.description,
    tokensPerSecond: Math.round((tokens / ms) * 1000),
    msPerSequence: +(ms / sequences).toFixed(4),
    msPerStep: +ms.toFixed(3),
    peakRssMB: Math.round(peak / 2 ** 20),
    threads: getThreads(),
    backend: rnn.backendName(),
  };
  if (flops) res.gflops = +((flops / ms) / 1e6).toFixed(2);
  if (breakdown) res.breakdown = breakdown;
  return res;
}

function breakdownTable(r: WorkloadResult): string {
  const rows = r.breakdown ?? [];
  const mean = rows.reduce((a, b) => a + b.msPerStep, 0);
  const head = ['where', 'calls/step', 'ms/step', 'share', 'GFLOP/s'];
  const body = rows.map((b) => [b.what, String(b.callsPerStep), b.msPerStep.toFixed(3), `${(100 * b.share).toFixed(1)}%`, b.gflops === undefined ? '' : String(b.gflops)]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i]!)).join(' | ')} |`;
  return [`\n${r.workload}: where the mean timed step (${mean.toFixed(2)} ms; ms/step above is the median) goes. GFLOP/s: the`,
    'products of an entry point over its whole time (gate passes, copies and the threads\' hand-overs inside it included)',
    line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

function table(rows: WorkloadResult[]): string {
  const head = ['workload', 'tokens/s', 'ms/seq', 'ms/step', 'GFLOP/s', 'peak RSS MB', 'threads', 'backend'];
  const body = rows.map((r) => [r.workload, r.tokensPerSecond.toLocaleString('en-US'), String(r.msPerSequence), String(r.msPerStep), r.gflops === undefined ? '' : String(r.gflops), String(r.peakRssMB), String(r.threads), r.backend]);
  const w = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (c: string[]) => `| ${c.map((x, i) => x.padEnd(w[i]!)).join(' | ')} |`;
  return [line(head), `|${w.map((n) => '-'.repeat(n + 2)).join('|')}|`, ...body.map(line)].join('\n');
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      workload: { type: 'string' }, json: { type: 'boolean' }, threads: { type: 'string' }, out: { type: 'string' },
      breakdown: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write([
      'Usage: npm run bench [-- --workload NAME] [--json] [--threads 1|2] [--breakdown] [--out file.json]',
      `Workloads: ${Object.keys(WORKLOADS).join(', ')}`,
      '--threads: kernel threads (default: the library\'s own, two on a machine with 2+ cores)',
      '--breakdown: also time each kernel entry point of the backend per step (ms, share, GFLOP/s of its',
      '             products) and the JavaScript outside them; JSON: a "breakdown" array',
      '',
    ].join('\n'));
    return;
  }
  if (v.threads !== undefined && v.threads !== '1' && v.threads !== '2') {
    throw new Error(`--threads ${v.threads}: expected 1 or 2`);
  }
  if (v.threads !== undefined) setThreads(Number(v.threads)); // else the library's default
  if (v.workload) {
    const r = runWorkload(v.workload, { breakdown: v.breakdown });
    process.stdout.write(v.json ? `${JSON.stringify(r)}\n` : `${table([r])}\n${r.breakdown ? `${breakdownTable(r)}\n` : ''}`);
    return;
  }
  // Every workload in its own process, so peak memory is per workload.
  const self = fileURLToPath(import.meta.url);
  const rows: WorkloadResult[] = [];
  for (const name of Object.keys(WORKLOADS)) {
    const threadArgs = [...(v.threads ? ['--threads', v.threads] : []), ...(v.breakdown ? ['--breakdown'] : [])];
    const p = spawnSync(process.execPath, [...process.execArgv, self, '--workload', name, '--json', ...threadArgs], { encoding: 'utf8' });
    if (p.status !== 0) throw new Error(`workload ${name} failed:\n${p.stderr}`);
    const r = JSON.parse(p.stdout.trim().split('\n').at(-1)!) as WorkloadResult;
    rows.push(r);
    if (!v.json) process.stderr.write(`${name}: ${r.tokensPerSecond.toLocaleString('en-US')} tokens/s\n`);
  }
  const result = { node: process.version, date: new Date().toISOString(), workloads: rows };
  if (v.out) { mkdirSync(new URL('.', `file://${v.out}`).pathname, { recursive: true }); writeFileSync(v.out, `${JSON.stringify(result, null, 2)}\n`); }
  process.stdout.write(v.json ? `${JSON.stringify(result, null, 2)}\n` : `${table(rows)}\n${rows.filter((r) => r.breakdown).map((r) => `${breakdownTable(r)}\n`).join('')}`);
}

main().catch((e: Error) => { process.stderr.write(`bench: ${e.message}\n`); process.exit(2); });
