// The standard workloads (shared/measurements.md) as plain shapes, for the peer workers, and the
// line protocol between bench/peers/run.ts and its workers (bench/peers/worker.ts for the
// JavaScript peers, bench/peers/torch_bench.py for PyTorch).
//
// rnnkit's own side of each workload is bench/bench.ts, run unchanged (`--workload NAME --json`);
// these shapes restate its definitions, and run.ts checks that the tokens per step agree.
//
//   kind          what one step is
//   charlm        embedding V->E, recurrent H (returnSequences), Dense V softmax, sparse CE over every step, Adam
//   sentiment     embedding V->E, LSTM H, last state -> Dense 1 sigmoid, binary CE, Adam
//   layer-train   one LSTM layer: forward, backward of a random dY (B,T,H) (x is data: no dx), Adam
//   layer-infer   one LSTM layer: forward only
//   generate      text generation: T characters one at a time (batch 1) through embedding V->E, L
//                 stacked LSTMs H carrying their state, Dense V softmax, each next character
//                 sampled from the probabilities at temperature 0.8 (charrnn's default model)

export type Cell = 'lstm' | 'gru' | 'simpleRNN';

export type WorkloadSpec =
  | { kind: 'charlm'; cell: Cell; V: number; E: number; H: number; T: number; B: number }
  | { kind: 'sentiment'; V: number; E: number; H: number; T: number; B: number }
  | { kind: 'layer-train' | 'layer-infer'; I: number; H: number; T: number; B: number }
  | { kind: 'generate'; V: number; E: number; H: number; L: number; T: number; B: 1 };

export const SPECS: Record<string, WorkloadSpec> = {
  W1: { kind: 'charlm', cell: 'lstm', V: 65, E: 64, H: 256, T: 64, B: 32 },
  'W2-GRU': { kind: 'charlm', cell: 'gru', V: 65, E: 64, H: 256, T: 64, B: 32 },
  'W2-RNN': { kind: 'charlm', cell: 'simpleRNN', V: 65, E: 64, H: 256, T: 64, B: 32 },
  W3: { kind: 'sentiment', V: 10000, E: 64, H: 128, T: 200, B: 64 },
  W4: { kind: 'layer-train', I: 512, H: 512, T: 64, B: 64 },
  'W1-layer': { kind: 'layer-train', I: 64, H: 256, T: 64, B: 32 },
  W5a: { kind: 'layer-infer', I: 64, H: 256, T: 64, B: 1 },
  W5b: { kind: 'layer-infer', I: 64, H: 256, T: 64, B: 64 },
  generate: { kind: 'generate', V: 65, E: 64, H: 256, L: 2, T: 512, B: 1 },
};

/** First line a worker prints: ready (with what it runs) or skipped (with why). */
export type Hello =
  | { ready: true; info: WorkerInfo }
  | { skip: string };

export interface WorkerInfo {
  version?: string;
  /** Tokens and sequences one step processes (brain.js: one sequence, it has no batching). */
  tokensPerStep: number;
  sequencesPerStep: number;
  /** Compute threads the library was set up with, as the library reports them. */
  intraOpThreads?: number;
  blas?: string | null;
  blasThreads?: number | null;
  backend?: string;
  /** Differences from the standard definition, for the Markdown notes. */
  notes?: string[];
  setupMs?: number;
}

/** Commands, one JSON object per line on the worker's stdin. */
export type Command = { cmd: 'run'; n: number } | { cmd: 'stats' } | { cmd: 'quit' };

/** Answer to `run`: per-step wall times, and the process's CPU time over the whole block. */
export interface RunReply { times: number[]; cpuMs: number; wallMs: number }
export interface StatsReply { peakRssMB: number }
