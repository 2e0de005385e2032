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
import { textTable } from './report.js';
import { inferenceWorkloads, rates, timeWorkload, WORKLOADS } from './workloads.js';

export { WORKLOADS }; // (bench:ab and older scripts import it from here)

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
  /** With --fixed-weights: the steps ran in one withFixedWeights scope. */
  fixedWeights?: true;
  /** With --breakdown: the mean step split by kernel entry point, and the rest. */
  breakdown?: BreakdownRow[];
}

/**
 * Runs a workload: warm-up, then the median of timed steps. `breakdown`: the timed steps also
 * measure each kernel entry point of the backend (see instrument; the split is of the mean step).
 */
export function runWorkload(name: string, opts: { breakdown?: boolean; fixedWeights?: boolean } = {}): WorkloadResult {
  const w = WORKLOADS[name];
  if (!w) throw new Error(`unknown workload '${name}'; known: ${Object.keys(WORKLOADS).join(', ')}`);
  let peak = process.memoryUsage().rss;
  const probe = opts.breakdown ? instrument(getBackend()) : null;
  const timing = timeWorkload(name, {
    afterWarmup: () => probe?.reset(),
    afterStep: () => { peak = Math.max(peak, process.memoryUsage().rss); },
  }, opts.fixedWeights);
  const { times } = timing;
  const breakdown = probe?.rows(times.length, times.reduce((a, b) => a + b, 0) / times.length);
  probe?.restore();
  const { gflops, ...speed } = rates(timing);
  const res: WorkloadResult = {
    workload: name, description: w.description,
    ...speed,
    peakRssMB: Math.round(peak / 2 ** 20),
    threads: getThreads(),
    backend: rnn.backendName(),
  };
  if (gflops !== undefined) res.gflops = gflops;
  if (opts.fixedWeights) res.fixedWeights = true;
  if (breakdown) res.breakdown = breakdown;
  return res;
}

function breakdownTable(r: WorkloadResult): string {
  const rows = r.breakdown ?? [];
  const mean = rows.reduce((a, b) => a + b.msPerStep, 0);
  const body = rows.map((b) => [b.what, String(b.callsPerStep), b.msPerStep.toFixed(3), `${(100 * b.share).toFixed(1)}%`, b.gflops === undefined ? '' : String(b.gflops)]);
  return [`\n${r.workload}: where the mean timed step (${mean.toFixed(2)} ms; ms/step above is the median) goes. GFLOP/s: the`,
    'products of an entry point over its whole time (gate passes, copies and the threads\' hand-overs inside it included)',
    textTable([['where', 'calls/step', 'ms/step', 'share', 'GFLOP/s'], ...body])].join('\n');
}

function table(rows: WorkloadResult[]): string {
  const head = ['workload', 'tokens/s', 'ms/seq', 'ms/step', 'GFLOP/s', 'peak RSS MB', 'threads', 'backend'];
  return textTable([head, ...rows.map((r) => [r.workload, r.tokensPerSecond.toLocaleString('en-US'), String(r.msPerSequence), String(r.msPerStep), r.gflops === undefined ? '' : String(r.gflops), String(r.peakRssMB), String(r.threads), r.backend])]);
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      workload: { type: 'string' }, json: { type: 'boolean' }, threads: { type: 'string' }, out: { type: 'string' },
      breakdown: { type: 'boolean' }, 'fixed-weights': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) {
    process.stdout.write([
      'Usage: npm run bench [-- --workload NAME] [--json] [--threads 1|2] [--breakdown] [--fixed-weights] [--out file.json]',
      `Workloads: ${Object.keys(WORKLOADS).join(', ')}`,
      '--threads: kernel threads (default: the library\'s own, two on a machine with 2+ cores)',
      `--fixed-weights: inference workloads only (${inferenceWorkloads().join(', ')}): the calls run in one`,
      '             withFixedWeights scope, each weight array checked against the kernels\' copy once',
      '             instead of at every call (what a serving loop that owns its model can do)',
      '--breakdown: also time each kernel entry point of the backend per step (ms, share, GFLOP/s of its',
      '             products) and the JavaScript outside them; JSON: a "breakdown" array',
      'GFLOP/s (table): the model\'s floating-point operations per second, counting the input',
      '             projection of every step (W1-W3 compute it once per distinct token instead:',
      '             docs/performance.md); the breakdown counts the products as they run',
      '',
    ].join('\n'));
    return;
  }
  if (v.threads !== undefined && v.threads !== '1' && v.threads !== '2') {
    throw new Error(`--threads ${v.threads}: expected 1 or 2`);
  }
  if (v.threads !== undefined) setThreads(Number(v.threads)); // else the library's default
  if (v.workload) {
    const r = runWorkload(v.workload, { breakdown: v.breakdown, fixedWeights: v['fixed-weights'] });
    process.stdout.write(v.json ? `${JSON.stringify(r)}\n` : `${table([r])}\n${r.breakdown ? `${breakdownTable(r)}\n` : ''}`);
    return;
  }
  // Every workload in its own process, so peak memory is per workload.
  const self = fileURLToPath(import.meta.url);
  const rows: WorkloadResult[] = [];
  const fixed = v['fixed-weights'] === true;
  for (const name of fixed ? inferenceWorkloads() : Object.keys(WORKLOADS)) {
    const threadArgs = [...(v.threads ? ['--threads', v.threads] : []), ...(v.breakdown ? ['--breakdown'] : []), ...(fixed ? ['--fixed-weights'] : [])];
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
