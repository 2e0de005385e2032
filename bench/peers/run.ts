// rnnkit against its peers, side by side in one run: `npm run bench:peers` (after `npm run build`).
//
//   npm run bench:peers                                   every workload, every peer; writes docs/benchmarks.{json,md}
//   npm run bench:peers -- --workloads W1,W5a --peers pytorch,brain --rounds 3 --budget 6 --no-write
//
// For each standard workload (./spec.ts, the shapes of bench/bench.ts):
//   1. start every peer in its own process and build the model (untimed);
//   2. warm-up: each peer runs its warm-up steps; the last one estimates its step time, which sets
//      how many steps it times per round (about --budget seconds in all, at least one per round;
//      a peer slower than --slow-step seconds per step times a single step);
//   3. --rounds rounds, interleaved: rnnkit's own bench (`dist/bench/bench.js --workload W --json`,
//      a fresh process that warms up and times its standard repetitions), then each peer times its
//      block of steps, in an order rotated every round; the load on the machine hits every library alike;
//   4. medians: a peer's median over all its timed steps, rnnkit's median over its rounds' medians.
// tokens/s = tokens per step / median step time. "vs rnnkit" = peer speed / rnnkit speed (ms/seq
// inverted for W5a): below 1 means rnnkit is faster.
//
// Peers: PyTorch (bench/peers/torch_bench.py via /usr/bin/python3, default threads and 1 thread),
// onnxruntime-node (inference, 1 and 2 intra-op threads), TF.js cpu and wasm (SIMD), brain.js.
// TF.js and brain.js install on first run into bench/peers/node_modules (`npm install --prefix
// bench/peers --ignore-scripts`: no install scripts, nothing downloaded but the npm packages).
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { cpus, loadavg, totalmem } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { BreakdownRow } from '../breakdown.js';
import { median, textTable } from '../report.js';
import { fmtRatio, fmtRoundRange, roundRatios } from './rounds.js';
import { SPECS, type Hello, type RunReply, type StatsReply, type WorkerInfo, type WorkloadSpec } from './spec.js';

const HERE = dirname(fileURLToPath(import.meta.url)); // dist/bench/peers
const ROOT = resolve(HERE, '../../..');
const PEERS_DIR = join(ROOT, 'bench/peers');
const BENCH_JS = join(ROOT, 'dist/bench/bench.js');
const WORKER_JS = join(HERE, 'worker.js');
const PROBE_JS = join(HERE, 'cpu-probe.js');
const PYTHON = process.env['PYTHON'] ?? (existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

// ---------------------------------------------------------------------------------------------
// Peers

interface PeerDef {
  id: string;
  label: string;
  command: () => { cmd: string; args: string[]; env?: Record<string, string> };
  applies: (s: WorkloadSpec) => boolean;
  /** Workloads this peer skips unless --include-slow, with why. */
  slowSkip?: Partial<Record<string, string>>;
  needsPeerPackages?: boolean;
}

const node = (peer: string, spec: WorkloadSpec, extra: string[] = []) => ({ cmd: process.execPath, args: [WORKER_JS, '--peer', peer, '--spec', JSON.stringify(spec), ...extra] });
const torch = (threads: 'default' | '1', spec: WorkloadSpec) => ({
  cmd: PYTHON,
  args: [join(PEERS_DIR, 'torch_bench.py'), '--threads', threads, '--spec', JSON.stringify(spec)],
  env: threads === '1' ? { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' } : {},
});
const always = () => true;
const inference = (s: WorkloadSpec) => s.kind === 'layer-infer';
const notGenerate = (s: WorkloadSpec) => s.kind !== 'generate';

function peerDefs(spec: WorkloadSpec): PeerDef[] {
  return [
    { id: 'pytorch', label: 'PyTorch, default threads', command: () => torch('default', spec), applies: always },
    { id: 'pytorch-1t', label: 'PyTorch, 1 thread', command: () => torch('1', spec), applies: always },
    { id: 'ort-2t', label: 'onnxruntime-node, 2 threads', command: () => node('ort', spec, ['--threads', '2']), applies: (s) => inference(s) || !notGenerate(s) },
    { id: 'ort-1t', label: 'onnxruntime-node, 1 thread', command: () => node('ort', spec, ['--threads', '1']), applies: (s) => inference(s) || !notGenerate(s) },
    { id: 'tfjs-wasm', label: 'TF.js wasm (SIMD)', command: () => node('tfjs-wasm', spec), applies: always, needsPeerPackages: true },
    {
      id: 'tfjs-cpu', label: 'TF.js cpu', command: () => node('tfjs-cpu', spec), applies: always, needsPeerPackages: true,
      slowSkip: {
        W3: 'one step takes minutes (no step within 180 s in shared/measurements.md); --include-slow runs it',
        W4: 'one step takes minutes (51 tokens/s = 80 s per step in shared/measurements.md); --include-slow runs it',
      },
    },
    // (brain.js generates from its own training vocabulary only: no model of given shapes.)
    { id: 'brain', label: 'brain.js (batch 1)', command: () => node('brain', spec), applies: notGenerate, needsPeerPackages: true },
  ];
}

// ---------------------------------------------------------------------------------------------
// A peer process speaking the line protocol of ./spec.ts.

/** Every peer process still running, killed if this process exits or is interrupted. */
const running = new Set<PeerProcess>();
process.on('exit', () => { for (const p of running) p.kill(); });
for (const sig of ['SIGINT', 'SIGTERM'] as const) process.on(sig, () => { for (const p of running) p.kill(); process.exit(130); });

class PeerProcess {
  private proc: ChildProcessWithoutNullStreams;
  private waiting: ((line: string | null) => void)[] = [];
  private lines: string[] = [];
  private stderrTail = '';
  private closed = false;

  constructor(cmd: string, args: string[], env: Record<string, string> = {}) {
    this.proc = spawn(cmd, args, { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'pipe'] });
    createInterface({ input: this.proc.stdout }).on('line', (l) => {
      const w = this.waiting.shift();
      if (w) w(l); else this.lines.push(l);
    });
    this.proc.stderr.on('data', (d: Buffer) => { this.stderrTail = (this.stderrTail + d.toString()).slice(-2000); });
    this.proc.on('error', (e) => { this.stderrTail += `\n${e.message}`; });
    this.proc.on('close', () => { this.closed = true; running.delete(this); for (const w of this.waiting.splice(0)) w(null); });
    running.add(this);
  }

  /** Next stdout line, or an error after timeoutMs (the process is then killed). */
  async next<T>(timeoutMs: number): Promise<T> {
    const line = this.lines.shift() ?? (this.closed ? null : await new Promise<string | null>((res) => {
      const timer = setTimeout(() => { this.waiting.splice(this.waiting.indexOf(done), 1); res('__timeout__'); }, timeoutMs);
      const done = (l: string | null) => { clearTimeout(timer); res(l); };
      this.waiting.push(done);
    }));
    if (line === '__timeout__') { this.kill(); throw new TimeoutError(timeoutMs); }
    if (line === null) throw new Error(`process ended: ${lastLines(this.stderrTail)}`);
    return JSON.parse(line) as T;
  }

  async request<T>(cmd: object, timeoutMs: number): Promise<T> {
    this.proc.stdin.write(`${JSON.stringify(cmd)}\n`);
    return this.next<T>(timeoutMs);
  }

  quit(): void {
    if (this.closed) return;
    this.proc.stdin.write(`${JSON.stringify({ cmd: 'quit' })}\n`);
    this.proc.stdin.end();
    setTimeout(() => this.kill(), 5000).unref();
  }

  kill(): void { if (!this.closed) this.proc.kill('SIGKILL'); }
}

class TimeoutError extends Error {
  constructor(public ms: number) { super(`no answer within ${Math.round(ms / 1000)} s`); }
}

function lastLines(s: string, n = 3): string {
  return s.trim().split('\n').filter((l) => l.trim()).slice(-n).join(' | ').slice(0, 400) || '(no output)';
}

// ---------------------------------------------------------------------------------------------
// Results

export interface Entry {
  id: string;
  label: string;
  status: 'ok' | 'skipped' | 'failed';
  reason?: string;
  version?: string;
  backend?: string;
  threads?: string;
  tokensPerSecond?: number;
  msPerStep?: number;
  msPerSequence?: number;
  /** Timed steps (rnnkit: rounds, each the median of its own repetitions). */
  stepsTimed?: number;
  peakRssMB?: number;
  /** CPU time / wall time: cores kept busy (rnnkit: over its whole bench process). */
  cpuPerWall?: number;
  /** This entry's speed / rnnkit's speed (above 1: faster than rnnkit). */
  vsRnnkit?: number;
  /**
   * The same ratio round by round: this entry's median step in round r against rnnkit's round r
   * (null where either has no step in that round). With the host's speed drifting between
   * rounds, their spread says how far one run's vsRnnkit can be trusted.
   */
  vsRnnkitRounds?: (number | null)[];
  /** The median step of each round (ms; null: no step in that round). */
  roundMs?: (number | null)[];
  notes?: string[];
  /** How this entry was timed when it departs from the method (slow peers). */
  note?: string;
  stepTimesMs?: number[];
  /** rnnkit: where its last round's mean step went (bench.js --breakdown). */
  breakdown?: BreakdownRow[];
}

export interface WorkloadReport {
  workload: string;
  description: string;
  spec: WorkloadSpec;
  tokensPerStep: number;
  loadAvgAtStart: number[];
  wallSeconds: number;
  entries: Entry[];
}

const r3 = (x: number) => Math.round(x * 1000) / 1000;

/**
 * Newest modification time of rnnkit's compiled library (dist/src). On a shared machine other
 * people rebuild it; a run whose rnnkit rows span several builds says so.
 */
function distStamp(): string {
  let newest = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      if (e.isDirectory()) walk(p); else newest = Math.max(newest, statSync(p).mtimeMs);
    }
  };
  try { walk(join(ROOT, 'dist/src')); } catch { return 'unknown'; }
  return new Date(newest).toISOString();
}
const builds = new Set<string>();

// ---------------------------------------------------------------------------------------------
// rnnkit's side: its own bench, one fresh process per round.

interface RnnkitJson {
  workload: string; description: string; tokensPerSecond: number; msPerSequence: number; msPerStep: number; peakRssMB: number; threads: number; backend: string;
  breakdown?: BreakdownRow[];
}

/** breakdown: its last round also times each kernel entry point (bench.js --breakdown). */
interface RnnkitVariant { id: string; label: string; flags: string[]; args: string[]; breakdown?: boolean; inferenceOnly?: boolean }

function runRnnkit(workload: string, v: RnnkitVariant, breakdown: boolean): { json: RnnkitJson; cpuMs: number; wallMs: number } {
  const args = [...v.args, ...(breakdown ? ['--breakdown'] : [])];
  const p = spawnSync(process.execPath, [...v.flags, '--import', PROBE_JS, BENCH_JS, '--workload', workload, '--json', ...args], { encoding: 'utf8', timeout: 600_000 });
  if (p.status !== 0) throw new Error(`rnnkit bench ${workload} failed (${p.status ?? p.signal}): ${lastLines((p.stderr ?? '').replace(/@@cpu-probe .*/g, ''))}`);
  const json = JSON.parse(p.stdout.trim().split('\n').at(-1)!) as RnnkitJson;
  const probe = /@@cpu-probe (\{.*\})/.exec(p.stderr);
  const cpu = probe ? JSON.parse(probe[1]!) as { cpuMs: number; wallMs: number } : { cpuMs: NaN, wallMs: NaN };
  return { json, ...cpu };
}

// ---------------------------------------------------------------------------------------------

interface Options {
  workloads: string[];
  peers: Set<string> | null;
  rounds: number;
  budgetMs: number;
  slowStepMs: number;
  singleStepMs: number;
  maxStepMs: number;
  includeSlow: boolean;
}

/** Warm-up steps (as bench/bench.ts) before timing. */
const WARMUP: Record<string, number> = { W1: 3, 'W2-GRU': 3, 'W2-RNN': 3, W3: 2, W4: 1, 'W1-layer': 3, W5a: 10, W5b: 3, generate: 3 };

interface Live { def: PeerDef; proc: PeerProcess; info: WorkerInfo; perRound: number; rounds: number; times: number[]; roundMs: (number | null)[]; cpuMs: number; wallMs: number; note?: string }

function log(s: string): void { process.stderr.write(`${s}\n`); }

/** BLAS libraries PyTorch's figures may be quoted with (the reference BLAS is not one). */
const OPTIMIZED_BLAS = /openblas|mkl|blis|atlas/i;
let warnedBlas = false;

async function runWorkload(name: string, o: Options, peerPackages: string | null, allVariants: RnnkitVariant[]): Promise<WorkloadReport> {
  const spec = SPECS[name]!;
  const rnnkitVariants = allVariants.filter((v) => !v.inferenceOnly || spec.kind === 'layer-infer');
  const tokensPerStep = spec.B * spec.T;
  const t0 = performance.now();
  const loadAvgAtStart = loadavg().map((x) => +x.toFixed(2));
  log(`\n== ${name} (load ${loadAvgAtStart.join(' ')})`);
  const entries = new Map<string, Entry>();
  const live: Live[] = [];

  // 1. Start the peers one after another (their setup is untimed and should not overlap timing).
  for (const def of peerDefs(spec)) {
    if (o.peers && !o.peers.has(def.id)) continue;
    if (!def.applies(spec)) continue;
    const base = { id: def.id, label: def.label };
    if (def.slowSkip?.[name] && !o.includeSlow) { entries.set(def.id, { ...base, status: 'skipped', reason: def.slowSkip[name] }); continue; }
    if (def.needsPeerPackages && peerPackages) { entries.set(def.id, { ...base, status: 'skipped', reason: peerPackages }); continue; }
    const { cmd, args, env } = def.command();
    const proc = new PeerProcess(cmd, args, env);
    try {
      const hello = await proc.next<Hello>(180_000);
      if ('skip' in hello) { entries.set(def.id, { ...base, status: 'skipped', reason: hello.skip }); proc.quit(); continue; }
      live.push({ def, proc, info: hello.info, perRound: 1, rounds: o.rounds, times: [], roundMs: [], cpuMs: 0, wallMs: 0 });
      const blas = hello.info.blas;
      if (blas && !OPTIMIZED_BLAS.test(blas) && !warnedBlas) {
        log(`warning: PyTorch uses ${blas}, not an optimized BLAS: its figures are several times below what it reaches with OpenBLAS (apt install libopenblas0-pthread)`);
        warnedBlas = true;
      }
      entries.set(def.id, { ...base, status: 'ok' });
    } catch (e) {
      proc.kill();
      entries.set(def.id, { ...base, status: 'failed', reason: `setup: ${(e as Error).message}` });
    }
  }

  // 2. Warm-up, and each peer's plan from its last warm-up step.
  for (const l of [...live]) {
    const fail = (reason: string) => { l.proc.kill(); live.splice(live.indexOf(l), 1); entries.set(l.def.id, { id: l.def.id, label: l.def.label, status: 'failed', reason }); };
    try {
      let r = await l.proc.request<RunReply>({ cmd: 'run', n: 1 }, o.maxStepMs);
      if (r.times[0]! > o.singleStepMs) {
        // Minutes per step: its one-time costs are noise at that length, and a second step would
        // double the run. The first step is the measurement.
        l.times.push(...r.times); l.cpuMs += r.cpuMs; l.wallMs += r.wallMs; l.rounds = 0;
        l.note = `1 step of ${(r.times[0]! / 1000).toFixed(0)} s, no separate warm-up (over ${o.singleStepMs / 1000} s per step)`;
        log(`  ${l.def.label}: first step ${(r.times[0]! / 1000).toFixed(1)} s -> taken as the measurement`);
        continue;
      }
      const extra = Math.min((WARMUP[name] ?? 2) - 1, Math.floor(5000 / Math.max(r.times[0]!, 1)));
      if (extra > 0) r = await l.proc.request<RunReply>({ cmd: 'run', n: extra }, o.maxStepMs * extra);
      const est = r.times.at(-1)!;
      if (est > o.slowStepMs) { l.perRound = 1; l.rounds = 1; l.note = 'slow: 1 timed step after 1 warm-up step, in round 1 only'; } else { l.perRound = Math.max(1, Math.min(200, Math.floor(o.budgetMs / o.rounds / est))); }
      log(`  warm-up ${l.def.label}: ${est.toFixed(1)} ms/step -> ${l.rounds} x ${l.perRound} timed steps`);
    } catch (e) {
      fail(e instanceof TimeoutError ? `no step within ${Math.round(o.maxStepMs / 1000)} s (under ${(tokensPerStep / (o.maxStepMs / 1000)).toFixed(0)} tokens/s)` : `warm-up: ${(e as Error).message}`);
    }
  }

  // 3. Interleaved rounds.
  const rk = new Map(rnnkitVariants.map((v) => [v.id, {
    steps: [] as number[], roundMs: [] as (number | null)[], rss: 0, threads: 1, backend: '', cpu: 0, wall: 0, errors: [] as string[], breakdown: undefined as BreakdownRow[] | undefined,
  }]));
  for (let round = 0; round < o.rounds; round++) {
    for (const v of rnnkitVariants) {
      const acc = rk.get(v.id)!;
      acc.roundMs[round] = null;
      try {
        const r = runRnnkit(name, v, v.breakdown === true && round === o.rounds - 1);
        const tokens = r.json.tokensPerSecond * r.json.msPerStep / 1000;
        if (Math.abs(tokens - tokensPerStep) > 0.02 * tokensPerStep) throw new Error(`bench/bench.ts ${name} runs ${tokens.toFixed(0)} tokens per step, bench/peers/spec.ts says ${tokensPerStep}: update spec.ts`);
        acc.steps.push(r.json.msPerStep); acc.roundMs[round] = r.json.msPerStep; acc.rss = Math.max(acc.rss, r.json.peakRssMB); acc.threads = r.json.threads; acc.backend = r.json.backend; acc.cpu += r.cpuMs; acc.wall += r.wallMs;
        if (r.json.breakdown) acc.breakdown = r.json.breakdown;
        log(`  round ${round + 1} ${v.label}: ${r.json.msPerStep.toFixed(2)} ms/step`);
      } catch (e) { acc.errors.push((e as Error).message); log(`  ${v.label}: ${(e as Error).message}`); }
      builds.add(distStamp());
    }
    const order = live.map((_, i) => live[(i + round) % live.length]!);
    for (const l of order) {
      if (round >= l.rounds || !live.includes(l)) continue;
      try {
        const r = await l.proc.request<RunReply>({ cmd: 'run', n: l.perRound }, o.maxStepMs * l.perRound + 30_000);
        l.times.push(...r.times); l.roundMs[round] = median(r.times); l.cpuMs += r.cpuMs; l.wallMs += r.wallMs;
        log(`  round ${round + 1} ${l.def.label}: ${median(r.times).toFixed(2)} ms/step (${r.times.length})`);
      } catch (e) {
        l.proc.kill(); live.splice(live.indexOf(l), 1);
        entries.set(l.def.id, { id: l.def.id, label: l.def.label, status: 'failed', reason: `timing: ${(e as Error).message}` });
      }
    }
  }

  // 4. Collect.
  const out: Entry[] = [];
  for (const v of rnnkitVariants) {
    const a = rk.get(v.id)!;
    if (a.steps.length === 0) { out.push({ id: v.id, label: v.label, status: 'failed', reason: a.errors[0] ?? 'no result' }); continue; }
    const ms = median(a.steps);
    out.push({
      id: v.id, label: v.label, status: 'ok', version: readVersion(ROOT), backend: a.backend, threads: String(a.threads),
      tokensPerSecond: Math.round(tokensPerStep / ms * 1000), msPerStep: r3(ms), msPerSequence: r3(ms / spec.B), stepsTimed: a.steps.length,
      peakRssMB: a.rss, cpuPerWall: +(a.cpu / a.wall).toFixed(2), stepTimesMs: a.steps.map(r3), roundMs: a.roundMs.map((x) => x === null ? null : r3(x)),
      note: `backend ${a.backend}${a.errors.length ? `; ${a.errors.length} of ${a.errors.length + a.steps.length} rounds failed: ${a.errors[0]}` : ''}`,
      notes: [`median of ${a.steps.length} rounds, each the median of bench/bench.ts's own timed steps`, ...(v.flags.length ? [`node ${v.flags.join(' ')}`] : []), ...(v.args.length ? [`bench.js ${v.args.join(' ')}`] : [])],
      ...(a.breakdown ? { breakdown: a.breakdown } : {}),
    });
  }
  for (const l of live) {
    let rss: number | undefined;
    try { rss = (await l.proc.request<StatsReply>({ cmd: 'stats' }, 10_000)).peakRssMB; } catch { /* leave it out */ }
    l.proc.quit();
    const ms = median(l.times);
    const i = l.info;
    const threads = i.blasThreads != null ? `intra-op ${i.intraOpThreads}, BLAS ${i.blasThreads}` : l.def.id.startsWith('ort') ? `intra-op ${i.intraOpThreads}` : String(i.intraOpThreads ?? 1);
    const e: Entry = {
      id: l.def.id, label: l.def.label, status: 'ok', version: i.version, threads,
      tokensPerSecond: Math.round(i.tokensPerStep / ms * 1000), msPerStep: r3(ms), msPerSequence: r3(ms / i.sequencesPerStep), stepsTimed: l.times.length,
      cpuPerWall: +(l.cpuMs / l.wallMs).toFixed(2), stepTimesMs: l.times.map(r3), notes: [...(i.notes ?? [])],
      ...(l.roundMs.length > 0 ? { roundMs: l.roundMs.map((x) => x === null ? null : r3(x)) } : {}),
    };
    if (i.backend) e.backend = i.backend;
    if (i.blas) e.backend = `BLAS ${i.blas}`;
    if (rss !== undefined) e.peakRssMB = rss;
    if (l.note) e.note = l.note;
    if (i.blas && !OPTIMIZED_BLAS.test(i.blas)) {
      // Debian's PyTorch on the reference BLAS is several times slower than it can be: say so in
      // the table, not only under Machine.
      e.note = [e.note, `not an optimized BLAS (${i.blas}): install libopenblas0-pthread`].filter(Boolean).join('; ');
    }
    out.push(e);
  }
  for (const def of peerDefs(spec)) { const e = entries.get(def.id); if (e && e.status !== 'ok') out.push(e); }
  // Order: rnnkit first, then peers in definition order.
  const order = [...rnnkitVariants.map((v) => v.id), ...peerDefs(spec).map((d) => d.id)];
  out.sort((a, b) => order.indexOf(a.id) - order.indexOf(b.id));
  const base = out.find((e) => e.id === 'rnnkit' && e.status === 'ok');
  if (base) for (const e of out) if (e.status === 'ok') e.vsRnnkit = +(base.msPerSequence! / e.msPerSequence!).toFixed(3);
  if (base) {
    for (const e of out) {
      const r = e.status === 'ok' && e !== base ? roundRatios(base, e) : undefined;
      if (r) e.vsRnnkitRounds = r;
    }
  }
  return { workload: name, description: describe(name, spec), spec, tokensPerStep, loadAvgAtStart, wallSeconds: Math.round((performance.now() - t0) / 1000), entries: out };
}

/** "layerBackward 62.1% (36.94 ms, 72.7 GFLOP/s), ..., outside the kernels 3.8% (2.25 ms)". */
function breakdownText(rows: BreakdownRow[]): string {
  return rows.map((r) => `${r.what} ${(100 * r.share).toFixed(1)}% (${r.msPerStep} ms${r.gflops !== undefined ? `, ${r.gflops} GFLOP/s` : ''})`).join(', ');
}

function describe(name: string, s: WorkloadSpec): string {
  switch (s.kind) {
    case 'charlm': return `${name}: char-LM training, embedding ${s.V}->${s.E}, ${s.cell === 'simpleRNN' ? 'tanh RNN' : s.cell.toUpperCase()} ${s.H}, Dense ${s.V} softmax CE over every step, Adam; T=${s.T} B=${s.B}`;
    case 'sentiment': return `${name}: sentiment training, embedding ${s.V}->${s.E}, LSTM ${s.H}, last state -> Dense 1 sigmoid, binary CE, Adam; T=${s.T} B=${s.B}`;
    case 'layer-train': return `${name}: LSTM layer training (forward, backward of a random dY, no input gradient, Adam), I=${s.I} H=${s.H} T=${s.T} B=${s.B}`;
    case 'layer-infer': return `${name}: LSTM inference ${s.B === 1 ? 'latency' : 'throughput'}, I=${s.I} H=${s.H} T=${s.T} B=${s.B}`;
    case 'generate': return `${name}: text generation, ${s.T} characters one at a time: embedding ${s.V}->${s.E}, ${s.L} x LSTM ${s.H} carrying their state, Dense ${s.V} softmax, sampled at temperature 0.8`;
  }
}

// ---------------------------------------------------------------------------------------------
// Tables

const fmtInt = (x: number) => Math.round(x).toLocaleString('en-US');
function fmtMs(x: number): string { return x >= 100 ? x.toFixed(0) : x >= 10 ? x.toFixed(1) : x >= 1 ? x.toFixed(2) : x.toFixed(3); }

function rows(w: WorkloadReport): string[][] {
  const latency = w.workload === 'W5a';
  const head = latency
    ? ['library', 'ms/sequence', 'tokens/s', 'vs rnnkit', 'by round', 'peak RSS MB', 'threads', 'CPU/wall', 'steps timed', 'note']
    : ['library', 'tokens/s', 'ms/step', 'vs rnnkit', 'by round', 'peak RSS MB', 'threads', 'CPU/wall', 'steps timed', 'note'];
  const body = w.entries.map((e) => {
    if (e.status !== 'ok') return [e.label, e.status, '', '', '', '', '', '', '', e.reason ?? ''];
    const speed = latency ? [fmtMs(e.msPerSequence!), fmtInt(e.tokensPerSecond!)] : [fmtInt(e.tokensPerSecond!), fmtMs(e.msPerStep!)];
    return [e.label, ...speed, e.vsRnnkit === undefined ? '' : fmtRatio(e.vsRnnkit), fmtRoundRange(e.vsRnnkitRounds), String(e.peakRssMB ?? ''), e.threads ?? '', e.cpuPerWall === undefined || Number.isNaN(e.cpuPerWall) ? '' : e.cpuPerWall.toFixed(2), String(e.stepsTimed ?? ''), e.note ?? ''];
  });
  return [head, ...body];
}

function mdTable(t: string[][]): string {
  const esc = (c: string) => c.replace(/\|/g, '\\|');
  const last = t[0]!.length - 1;
  return [`| ${t[0]!.join(' | ')} |`, `|${t[0]!.map((h, i) => (i === 0 || (i === last && h === 'note') ? '---' : '---:')).join('|')}|`, ...t.slice(1).map((r) => `| ${r.map(esc).join(' | ')} |`)].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Machine and versions

function readVersion(dir: string): string | undefined {
  try { return (JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string }).version; } catch { return undefined; }
}

function machine() {
  let cpuModel = cpus()[0]?.model ?? 'unknown';
  let flags = '';
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    cpuModel = /model name\s*:\s*(.*)/.exec(info)?.[1] ?? cpuModel;
    flags = /flags\s*:\s*(.*)/.exec(info)?.[1] ?? '';
    // A VM may show only "AMD EPYC": the family says which generation (AMD 25 = Zen 3/4 — Zen 4
    // runs AVX-512 on 256-bit halves; 26 = Zen 5, full-width 512-bit vectors).
    const family = /cpu family\s*:\s*(\d+)/.exec(info)?.[1], model = /^model\s*:\s*(\d+)/m.exec(info)?.[1];
    if (family) cpuModel += ` (family ${family}${model ? `, model ${model}` : ''}${/AMD/.test(cpuModel) ? ({ 25: ': Zen 3/4', 26: ': Zen 5' } as Record<string, string>)[family] ?? '' : ''})`;
  } catch { /* not Linux */ }
  const simd = ['avx2', 'fma', 'avx512f'].filter((f) => flags.split(' ').includes(f));
  const git = spawnSync('git', ['-C', ROOT, 'describe', '--always', '--dirty'], { encoding: 'utf8' });
  const py = spawnSync(PYTHON, ['--version'], { encoding: 'utf8' });
  return {
    cpuModel, cpuFlags: simd.join(' '), cores: cpus().length, memoryGiB: Math.round(totalmem() / 2 ** 30),
    node: process.version, python: `${PYTHON}: ${(py.stdout || py.stderr || 'absent').trim()}`,
    rnnkit: `${readVersion(ROOT)} (${git.stdout.trim() || 'no git'})`,
  };
}

function packageVersions(): Record<string, string> {
  const v: Record<string, string> = {};
  for (const [name, dir] of [
    ['@tensorflow/tfjs', join(PEERS_DIR, 'node_modules/@tensorflow/tfjs')],
    ['@tensorflow/tfjs-backend-wasm', join(PEERS_DIR, 'node_modules/@tensorflow/tfjs-backend-wasm')],
    ['brain.js', join(PEERS_DIR, 'node_modules/brain.js')],
    ['onnxruntime-node', join(ROOT, 'node_modules/onnxruntime-node')],
  ] as const) v[name] = readVersion(dir) ?? 'not installed';
  return v;
}

/** Install TF.js and brain.js into bench/peers on first use. Returns null, or why they are missing. */
function ensurePeerPackages(install: boolean): string | null {
  const have = () => ['@tensorflow/tfjs', '@tensorflow/tfjs-backend-wasm', 'brain.js'].every((p) => existsSync(join(PEERS_DIR, 'node_modules', p, 'package.json')));
  if (have()) return null;
  if (!install) return 'peer packages not installed (--no-install)';
  log(`installing the peer packages into ${PEERS_DIR} (npm install --ignore-scripts) ...`);
  const npm = process.platform === 'win32' ? 'npm.cmd' : 'npm';
  const r = spawnSync(npm, ['install', '--prefix', PEERS_DIR, '--ignore-scripts', '--no-audit', '--no-fund'], { stdio: ['ignore', 'inherit', 'inherit'] });
  return r.status === 0 && have() ? null : `npm install --prefix bench/peers failed (exit ${r.status}); TF.js and brain.js not run`;
}

/** Indented JSON with arrays of numbers (the step times) kept on one line. */
export function formatJson(x: unknown): string {
  return `${JSON.stringify(x, null, 2).replace(/\[\s*(-?[\d.e+-]+(?:,\s*-?[\d.e+-]+)*)\s*\]/g, (_, body: string) => `[${body.split(/,\s*/).join(', ')}]`)}\n`;
}

// ---------------------------------------------------------------------------------------------
// Markdown

function markdown(report: Report): string {
  const m = report.machine;
  // rnnkit's own rows first (some run on a few workloads only), then the peers, each in first-seen order.
  const labels = [...new Set(report.workloads.flatMap((w) => w.entries.map((e) => e.label)))].filter((p) => p !== 'rnnkit');
  const peers = [...labels.filter((p) => p.startsWith('rnnkit')), ...labels.filter((p) => !p.startsWith('rnnkit'))];
  const summary = [['workload', 'rnnkit', ...peers], ...report.workloads.map((w) => {
    const base = w.entries.find((e) => e.id === 'rnnkit');
    const abs = !base || base.status !== 'ok' ? 'failed' : w.workload === 'W5a' ? `${fmtMs(base.msPerSequence!)} ms/seq` : `${fmtInt(base.tokensPerSecond!)} tok/s`;
    return [w.workload, abs, ...peers.map((p) => {
      const e = w.entries.find((x) => x.label === p);
      return !e ? '' : e.status !== 'ok' ? e.status : e.vsRnnkit === undefined ? '' : fmtRatio(e.vsRnnkit);
    })];
  })];
  const busy = report.loadAvgStart[0]! > m.cores * 0.75;
  const L: string[] = [];
  L.push('# Benchmarks: rnnkit and its peers, side by side', '');
  L.push(`Generated by \`${report.command}\` on ${report.date.slice(0, 10)} (${report.date.slice(11, 16)} UTC; the run took ${Math.floor(report.wallSeconds / 60)} min ${report.wallSeconds % 60} s). Raw numbers, every timed step included: [benchmarks.json](benchmarks.json). Code: \`bench/peers/\`.`, '');
  L.push('## Machine', '');
  L.push(`- CPU: ${m.cpuModel} (${m.cpuFlags}), ${m.cores} cores, ${m.memoryGiB} GiB; no GPU`);
  L.push(`- Node.js ${m.node}; ${m.python}`);
  L.push(`- rnnkit ${m.rnnkit}; ${Object.entries(report.packages).map(([k, v]) => `${k} ${v}`).join(', ')}${report.torch ? `; PyTorch ${report.torch.version} with ${report.torch.blas ?? 'unknown BLAS'}` : ''}`);
  L.push(`- Load average (1 / 5 / 15 min) at start: ${report.loadAvgStart.join(' / ')}; at end: ${report.loadAvgEnd.join(' / ')}.${busy ? ` **The 1-minute load was above ${0.75 * m.cores} at the start**: something else was running, or had just run (the load average trails by a minute or more), so absolute numbers may be below a quiet machine's; the CPU/wall column shows the cores each process actually kept busy. The ratios, measured interleaved under the same conditions, are what to read.` : ''}`);
  if ((report.rnnkitBuilds?.length ?? 0) > 1) L.push(`- **rnnkit's dist/src was rebuilt during the run** (by other work on the shared machine; builds dated ${report.rnnkitBuilds!.join(', ')}): its rows may come from different builds.`);
  L.push('');
  L.push('## Method', '');
  L.push('- Workloads: the standard ones of shared/measurements.md, with the shapes of `bench/bench.ts` (restated in `bench/peers/spec.ts`; the run checks the tokens per step agree). Random data of identical shapes for every library, fixed across steps.');
  L.push(`- Each library runs in its own process, built and warmed up first (warm-up steps as in bench/bench.ts, fewer for slow peers). Then ${report.options.rounds} interleaved rounds: rnnkit's own bench (\`node dist/bench/bench.js --workload W --json\`, a fresh process with its standard warm-up and repetitions), then every peer times a block of steps, in an order rotated each round.`);
  L.push(`- Each peer times about ${report.options.budgetMs / 1000} s of steps per workload (at least one per round). Slow peers run fewer steps ("steps timed", and the note column): slower than ${report.options.slowStepMs / 1000} s per step, one timed step after one warm-up step; a first step over ${report.options.singleStepMs / 1000} s is itself the measurement; a step not done within ${report.options.maxStepMs / 1000} s counts as failed.`);
  L.push('- Reported: the median step time (rnnkit: the median of its rounds\' medians). tokens/s = batch x T / step time; ms/sequence = step time / batch. **vs rnnkit** = the library\'s speed / rnnkit\'s: below 1x rnnkit is faster, above 1x the peer is. **by round**: the lowest and highest of the same ratio taken round by round (the peer\'s median step in a round against rnnkit\'s run in that round), which shows how much of a ratio is the host drifting between rounds.');
  L.push('- peak RSS: the process\'s maximum resident set (rnnkit: sampled by its bench; Node peers: `process.resourceUsage().maxRSS`; PyTorch: `ru_maxrss`), each runtime\'s own baseline included (Python with PyTorch alone is ~230 MB).');
  L.push('- threads: the compute threads the library was set up with. CPU/wall: CPU time / wall time over the timed steps (rnnkit: over its whole bench process), the cores actually kept busy; on a loaded machine it also drops while the process waits for a core.');
  L.push('');
  L.push('## Summary: speed relative to rnnkit (above 1x: faster than rnnkit)', '');
  L.push(mdTable(summary), '');
  for (const w of report.workloads) {
    L.push(`## ${w.description}`, '');
    L.push(`Load average at start: ${w.loadAvgAtStart.join(' / ')}; ${w.wallSeconds} s.`, '');
    L.push(mdTable(rows(w)), '');
    const bd = w.entries.find((e) => e.id === 'rnnkit')?.breakdown;
    if (bd) L.push(`Where rnnkit's step went (its last round, \`--breakdown\`; GFLOP/s of an entry point's products over its whole time): ${breakdownText(bd)}.`, '');
  }
  L.push('## What each library runs, and how it differs', '');
  L.push('- **rnnkit**: `bench/bench.ts` unchanged: Keras-style `rnn.sequential` models (embedding, recurrent layer, dense softmax / sigmoid, `trainOnBatch`, Adam) for W1-W3 — where rnnkit runs the embedding and the recurrent layer as one step, computing the input projection once per distinct token (the 65 vocabulary rows in W1/W2, ~7,200 of 12,800 rows in W3) instead of once per step: the same model and function, less arithmetic (docs/performance.md) — the low-level `LSTM` layer (forward, backward of dY with `dx: false`, Adam) for W4 and W1-layer — x is data, so its gradient is not computed, as in PyTorch (x does not require grad) and TF.js (`minimize` differentiates the variables only) — `LSTM.forward(x, { grad: false })` (inference: nothing kept for backward, as `torch.no_grad()`) for W5. Plain `node`, with the backend rnnkit picks itself (note column); "rnnkit" runs as the library starts (two kernel threads on a machine with 2+ cores, see the threads column); "rnnkit, 1 thread" is the same bench with `--threads 1`; "rnnkit, weights fixed" (W5 only) runs its calls in one `withFixedWeights` scope (`--fixed-weights`): every call otherwise compares the layer\'s weights byte for byte with the kernels\' copy (1.25 MB for W5\'s LSTM) so that a change made any way is seen, which a serving loop that owns its model may skip, as onnxruntime\'s fixed session does.');
  L.push('- **PyTorch** (`bench/peers/torch_bench.py`): `torch.nn` Embedding / LSTM / GRU / RNN(tanh) / Linear, `cross_entropy` and `binary_cross_entropy_with_logits` (softmax or sigmoid fused into the loss), `torch.optim.Adam`; W4 and W1-layer: `y.backward(dY)` (x, random data, does not require grad: no input gradient); W5: `inference_mode`. Both PyTorch rows flush subnormal floats to zero (`torch.set_flush_denormal(True)`): W3\'s gradients through 200 steps go subnormal, and without it its backward ran about 4x slower on this machine (846 against 210 ms per step); WebAssembly has no such switch, and rnnkit\'s gate passes flush values below 2^-96 themselves (docs/performance.md, Subnormal numbers). "Default threads" is PyTorch as it starts here (intra-op pool of 1 plus the BLAS library\'s own 2 threads); "1 thread" sets `torch.set_num_threads(1)` and `OMP_NUM_THREADS=OPENBLAS_NUM_THREADS=1`. The Debian build of PyTorch calls the system `libblas.so.3`: reference BLAS makes it several times slower, so install `libopenblas0-pthread` (apt) first; the BLAS it used is listed under Machine.');
  L.push('- **onnxruntime-node**: inference only (ONNX Runtime has no training). A one-node ONNX `LSTM` model (opset 14) built in code with `test/onnx-proto.ts`, random weights, input time-major (T, B, I) as ONNX defines it; sequential execution, 1 or 2 intra-op threads.');
  L.push('- **TF.js** (cpu and wasm backends, one thread each in Node; `@tensorflow/tfjs-node` is not used: its installer downloads a native binary): `tf.sequential` with `tf.layers.embedding / lstm / gru / simpleRNN / dense`, `trainOnBatch`, Adam; W4 and W1-layer: `optimizer.minimize` of sum(Y * dY) over an `lstm` layer; W5: `layer.apply` + `dataSync`. Differences: `recurrentActivation: sigmoid` set explicitly (TF.js defaults to hardSigmoid); `recurrentInitializer: glorotUniform` (the orthogonal default takes 10-30 s to initialise in JavaScript; initial values do not change the speed); its GRU applies the reset gate before the recurrent product (it supports only `resetAfter: false`). **wasm: no embedding training** (the backend lacks `UnsortedSegmentSum`), so W1-W3 feed pre-embedded float inputs (B, T, 64) straight to the recurrent layer. The wasm files ship inside the npm package (no download). TF.js is slow: fewer steps (see "steps timed"); TF.js cpu is not run on W3 and W4 by default (minutes per step; `--include-slow`).');
  L.push('- **brain.js 1.6** (plain JavaScript; installs with `--ignore-scripts`, its gpu.js 1.x dependency has no native parts, the CPU path is used): **no batching**, so one step is one sequence and tokens/s counts T tokens per step; its own update rule (RMSProp with clipping) instead of Adam. Its LSTM keeps no separate cell state, its RNN is ReLU, its GRU resets before the product. W1/W2: `recurrent.LSTM/GRU/RNN` with an embedding table of 65 rows x 64 and a 65-way softmax at every step (`trainPattern`, T + 1 steps with its start token). W3: the same LSTM with the 10000 x 64 table, driven through its internals so that only the last step gets a gradient (a 2-way softmax, equivalent to sigmoid + binary CE). W4 / W1-layer: `LSTMTimeStep` with float inputs and an extra H -> H output layer that receives dY. W5: `LSTMTimeStep` forward with an H -> 1 output layer (W5b also one sequence at a time).');
  L.push('');
  L.push('## Reproduce', '');
  L.push('```sh', 'npm run build', 'npm run bench:peers            # installs TF.js and brain.js into bench/peers/node_modules on first run', 'npm run bench:peers -- --help  # workloads, peers, rounds, budget', '```', '');
  return L.join('\n');
}

// ---------------------------------------------------------------------------------------------

interface Report {
  command: string;
  date: string;
  wallSeconds: number;
  machine: ReturnType<typeof machine>;
  packages: Record<string, string>;
  torch?: { version?: string; blas?: string | null };
  loadAvgStart: number[];
  loadAvgEnd: number[];
  /** Modification times of dist/src seen by rnnkit's runs (more than one: rebuilt during the run). */
  rnnkitBuilds?: string[];
  options: { rounds: number; budgetMs: number; slowStepMs: number; singleStepMs: number; maxStepMs: number; includeSlow: boolean };
  workloads: WorkloadReport[];
}

const HELP = `Usage: npm run bench:peers [-- options]   (after npm run build)
  --workloads LIST   comma-separated, default all: ${Object.keys(SPECS).join(',')}
  --peers LIST       default all: pytorch,pytorch-1t,ort-2t,ort-1t,tfjs-wasm,tfjs-cpu,brain
  --rounds N         interleaved rounds per workload (default 5; more rounds, shorter each: a
                     minute-long load spike from another tenant spoils fewer of them)
  --budget S         seconds of timed steps per peer per workload (default 4)
  --slow-step S      a peer slower than this per step times a single step (default 15)
  --single-step S    a first step longer than this is the measurement, no further steps (default 60)
  --max-step S       a step not finished within this fails (default 150)
  --include-slow     also run TF.js cpu on W3 and W4 (minutes per step)
  --no-threads       no 'rnnkit, 1 thread' row (added when bench/bench.ts accepts --threads 1)
  --relaxed          an extra rnnkit row run with --experimental-wasm-relaxed-simd (Node 20; on by default in Node 22)
  --no-install       do not npm-install the peer packages into bench/peers
  --no-write         print the tables only; do not write docs/benchmarks.{json,md}
  --render FILE      only rewrite docs/benchmarks.md from a benchmarks.json
`;

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      workloads: { type: 'string' }, peers: { type: 'string' }, rounds: { type: 'string' }, budget: { type: 'string' },
      'slow-step': { type: 'string' }, 'single-step': { type: 'string' }, render: { type: 'string' }, 'max-step': { type: 'string' }, 'include-slow': { type: 'boolean' },
      relaxed: { type: 'boolean' }, 'no-threads': { type: 'boolean' }, 'no-install': { type: 'boolean' }, 'no-write': { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(HELP); return; }
  if (v.render) {
    writeFileSync(join(ROOT, 'docs/benchmarks.md'), markdown(JSON.parse(readFileSync(v.render, 'utf8')) as Report));
    log('wrote docs/benchmarks.md');
    return;
  }
  const workloads = v.workloads ? v.workloads.split(',') : Object.keys(SPECS);
  for (const w of workloads) if (!SPECS[w]) throw new Error(`--workloads: unknown workload '${w}'; known: ${Object.keys(SPECS).join(', ')}`);
  if (!existsSync(BENCH_JS)) throw new Error(`${BENCH_JS} is missing: run npm run build first`);
  const num = (s: string | undefined, d: number, what: string) => {
    const x = s === undefined ? d : Number(s);
    if (!(x > 0)) throw new Error(`${what}: expected a positive number, got '${s}'`);
    return x;
  };
  const o: Options = {
    workloads, peers: v.peers ? new Set(v.peers.split(',')) : null,
    rounds: Math.round(num(v.rounds, 5, '--rounds')), budgetMs: num(v.budget, 4, '--budget') * 1000,
    slowStepMs: num(v['slow-step'], 15, '--slow-step') * 1000, singleStepMs: num(v['single-step'], 60, '--single-step') * 1000,
    maxStepMs: num(v['max-step'], 150, '--max-step') * 1000,
    includeSlow: !!v['include-slow'],
  };
  const t0 = performance.now();
  const loadAvgStart = loadavg().map((x) => +x.toFixed(2));
  const needPeers = !o.peers || ['tfjs-wasm', 'tfjs-cpu', 'brain'].some((p) => o.peers!.has(p));
  const peerPackages = needPeers ? ensurePeerPackages(!v['no-install']) : null;
  if (peerPackages) log(peerPackages);
  const usage = spawnSync(process.execPath, [BENCH_JS, '--help'], { encoding: 'utf8' }).stdout ?? '';
  const rnnkitVariants: RnnkitVariant[] = [{ id: 'rnnkit', label: 'rnnkit', flags: [...process.execArgv], args: [], breakdown: /--breakdown/.test(usage) }];
  if (process.execArgv.some((f) => ['-e', '--eval', '-p', '--print'].includes(f))) throw new Error('run this file directly (node dist/bench/peers/run.js), not through node -e');
  // rnnkit as it starts (two kernel threads on a machine with 2+ cores), and on one thread, when
  // its bench offers the choice (`--threads 1|2` in its usage line).
  if (/--threads 1\|2/.test(usage) && !v['no-threads']) {
    rnnkitVariants.push({ id: 'rnnkit-1t', label: 'rnnkit, 1 thread', flags: [...process.execArgv], args: ['--threads', '1'] });
  }
  // Inference also with the weights fixed (one withFixedWeights scope, each weight array checked
  // once instead of at every call), as a serving loop that owns its model can run it.
  if (/--fixed-weights/.test(usage)) {
    rnnkitVariants.push({ id: 'rnnkit-fixed', label: 'rnnkit, weights fixed', flags: [...process.execArgv], args: ['--fixed-weights'], inferenceOnly: true });
  }
  const relaxedFlag = '--experimental-wasm-relaxed-simd';
  if (v.relaxed && !process.execArgv.includes(relaxedFlag)) {
    rnnkitVariants.push({ id: 'rnnkit-relaxed', label: 'rnnkit, relaxed SIMD', flags: [...process.execArgv, relaxedFlag], args: [] });
  }
  const m = machine();
  builds.add(distStamp());
  log(`bench:peers on ${m.cpuModel}, ${m.cores} cores, Node ${m.node}; load ${loadAvgStart.join(' ')}`);
  const reports: WorkloadReport[] = [];
  for (const name of workloads) {
    const r = await runWorkload(name, o, peerPackages, rnnkitVariants);
    reports.push(r);
    const t = rows(r);
    // Numbers right-aligned: every column but the library's name and the note.
    process.stdout.write(`\n${r.description}\n${textTable(t, (i) => i > 0 && i < t[0]!.length - 1)}\n`);
  }
  const args = process.argv.slice(2);
  const command = process.env['npm_lifecycle_event'] === 'bench:peers'
    ? `npm run bench:peers${args.length ? ` -- ${args.join(' ')}` : ''}`
    : `node ${[...process.execArgv, 'dist/bench/peers/run.js', ...args].join(' ')}`;
  const torchInfo = reports.flatMap((r) => r.entries).find((e) => e.id === 'pytorch' && e.status === 'ok');
  const report: Report = {
    command, date: new Date().toISOString(), wallSeconds: Math.round((performance.now() - t0) / 1000), machine: m, packages: packageVersions(),
    loadAvgStart, loadAvgEnd: loadavg().map((x) => +x.toFixed(2)), rnnkitBuilds: [...builds].sort(),
    options: { rounds: o.rounds, budgetMs: o.budgetMs, slowStepMs: o.slowStepMs, singleStepMs: o.singleStepMs, maxStepMs: o.maxStepMs, includeSlow: o.includeSlow },
    workloads: reports,
  };
  if (torchInfo) report.torch = { version: torchInfo.version, blas: torchInfo.backend?.replace(/^BLAS /, '') ?? null };
  log(`\ndone in ${report.wallSeconds} s; load ${report.loadAvgEnd.join(' ')}`);
  if (!v['no-write']) {
    const docs = join(ROOT, 'docs');
    mkdirSync(docs, { recursive: true });
    writeFileSync(join(docs, 'benchmarks.json'), formatJson(report));
    writeFileSync(join(docs, 'benchmarks.md'), markdown(report));
    log(`wrote docs/benchmarks.json and docs/benchmarks.md`);
  }
}

main().catch((e: Error) => { process.stderr.write(`bench:peers: ${e.message}\n`); process.exit(2); });
