// `rnnkit compare`: argument handling, progress and output files. The experiment lives in
// apps/compare.ts, the measurements in apps/gradflow.ts and the report in apps/report.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { makeDirsSync } from '../data/node/make-dirs.js';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { CELL_NAMES, DEFAULT_COMPARE, rebuildClaims, runCompare, TASK_NAMES, type CellName, type CompareConfig, type CompareResults, type TaskName } from '../apps/compare.js';
import { compareReport } from '../apps/report.js';
import { CliError, fmtTime, outDir, parseDuration, Progress, int, num } from './progress.js';
import { fsReason } from '../data/node/fs-reason.js';

export const COMPARE_HELP = `Usage: rnnkit compare --task <task[,task]> --out <dir> (--budget 5m | --epochs N) [options]

Train RNN, LSTM and GRU on the same data with the same optimiser (Adam), learning rate, batch
size, gradient clipping and budget, over several seeds; measure how gradients flow through time
and the spectrum of the recurrent Jacobian; write <out>/report.html (self-contained),
<out>/report.md (+ <out>/charts/*.svg) and <out>/results.json.

Tasks:
  adding      the adding problem (synthetic, MSE; solved = MSE < 0.01, baseline 0.167)
  copy        the copy-memory task (synthetic; recall accuracy, chance 1/8)
  charlm      character language model on --data <text file> (validation nats/char)
  sentiment   binary text classification on --data <dataset> (validation accuracy)

Options:
  --task t[,t]          one or more tasks                                       (required)
  --out <dir>           output directory                                        (required)
  --data <path>         text file (charlm) or labelled dataset (sentiment)
  --cells c[,c]         cells to compare: rnn, lstm, gru                        (default rnn,lstm,gru)
  --match params|hidden equal parameter counts (matched to the LSTM at --hidden),
                        or the same hidden size for every cell                  (default params)
  --hidden N            hidden size (of the LSTM when matching parameters)      (default charlm 128, others 64)
  --seeds N             seeds per configuration                                 (default 3)
  --budget 5m | --epochs N
                        total training time, split evenly over every run, or
                        epochs per run                                          (one is required)
  --lengths a,b,...     sequence lengths of the synthetic tasks (copy: delay)   (default 10,25,50,100)
  --clip x              clip the global gradient norm to x (0 = off)            (default 1)
  --no-clip-runs        skip the extra no-clipping runs of the gradient-flow comparison
  --lr x                Adam learning rate                                      (default 0.002)
  --batch N             batch size (charlm: parallel streams)                   (default 32)
  --train-size N        synthetic: training sequences per length                (default 10000)
  --val-size N          synthetic: validation sequences per length              (default 1000)
  --gradflow-length N   length of the gradient-flow probe sequences (synthetic: one of
                        --lengths, default the longest <= 100; charlm 100; sentiment 50)
  --seq N               charlm: BPTT length                                     (default 64)
  --embed N             charlm/sentiment: embedding size                        (default 64)
  --val-chars N         charlm: validation characters used                      (default 20000)
  --max-len N           sentiment: tokens kept per text                         (default 200)
  --eval-points N       validation evaluations per run                          (default 10)
  --speed-rounds N      rounds of the interleaved throughput benchmark, 0 = off (default 5)
  --json                print the results (without curves) as JSON on stdout
  -h, --help            this text

Re-render a report from saved results (claims recomputed with the current code):
  rnnkit compare --from <dir>/results.json --out <dir>

Example:
  rnnkit compare --task adding --lengths 10,25,50,100 --seeds 2 --budget 10m --out runs/adding
  rnnkit compare --task charlm --data input.txt --seeds 2 --budget 5m --out runs/shakespeare
`;


function list<T extends string>(v: string | undefined, name: string, allowed: readonly T[], def: T[]): T[] {
  if (v === undefined) return def;
  const items = v.split(',').map((s) => s.trim().toLowerCase()).filter((s) => s !== '');
  const bad = items.filter((s) => !(allowed as readonly string[]).includes(s));
  if (bad.length) throw new CliError(`--${name}: unknown ${bad.map((b) => `'${b}'`).join(', ')}; expected a comma-separated list of ${allowed.join(', ')}`);
  if (!items.length) throw new CliError(`--${name}: empty list`);
  return [...new Set(items)] as T[];
}

export function parseCompareArgs(argv: string[]): { cfg: CompareConfig; out: string; json: boolean; from?: string } | null {
  const { values } = parseArgs({
    args: argv,
    options: {
      task: { type: 'string' }, out: { type: 'string' }, data: { type: 'string' }, cells: { type: 'string' },
      match: { type: 'string' }, hidden: { type: 'string' }, seeds: { type: 'string' }, budget: { type: 'string' },
      epochs: { type: 'string' }, lengths: { type: 'string' }, clip: { type: 'string' }, 'no-clip-runs': { type: 'boolean' },
      lr: { type: 'string' }, batch: { type: 'string' }, 'train-size': { type: 'string' }, 'val-size': { type: 'string' },
      'gradflow-length': { type: 'string' }, seq: { type: 'string' }, embed: { type: 'string' }, 'val-chars': { type: 'string' },
      from: { type: 'string' }, 'max-len': { type: 'string' }, 'eval-points': { type: 'string' }, 'speed-rounds': { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  });
  if (values.help) return null;
  if (values.from !== undefined) {
    if (!values.out) throw new CliError('compare --from: --out <dir> is required');
    return { cfg: { ...DEFAULT_COMPARE }, out: values.out, json: values.json ?? false, from: values.from };
  }
  if (!values.task) throw new CliError('compare: --task is required (adding, copy, charlm, sentiment; see rnnkit compare --help)');
  if (!values.out) throw new CliError('compare: --out <dir> is required');
  const tasks = list<TaskName>(values.task, 'task', TASK_NAMES, []);
  if ((values.budget === undefined) === (values.epochs === undefined)) throw new CliError('compare: give exactly one of --budget (e.g. 5m) or --epochs N');
  if ((tasks.includes('charlm') || tasks.includes('sentiment')) && !values.data) throw new CliError(`compare: --task ${tasks.filter((t) => t === 'charlm' || t === 'sentiment').join(',')} needs --data <path>`);
  const match = values.match ?? 'params';
  if (match !== 'params' && match !== 'hidden') throw new CliError(`--match: expected 'params' or 'hidden', got '${match}'`);
  const lengths = values.lengths === undefined ? DEFAULT_COMPARE.lengths : values.lengths.split(',').map((s) => {
    const n = Number(s.trim());
    if (!Number.isInteger(n) || n < 2) throw new CliError(`--lengths: expected integers >= 2, got '${s}'`);
    return n;
  });
  const cfg: CompareConfig = {
    ...DEFAULT_COMPARE,
    tasks,
    cells: list<CellName>(values.cells, 'cells', CELL_NAMES, DEFAULT_COMPARE.cells),
    match,
    seeds: int(values.seeds, 'seeds', DEFAULT_COMPARE.seeds),
    lengths,
    clip: num(values.clip, 'clip', DEFAULT_COMPARE.clip, (x) => x >= 0, 'a number >= 0'),
    noClipRuns: !values['no-clip-runs'],
    lr: num(values.lr, 'lr', DEFAULT_COMPARE.lr, (x) => x > 0, 'a positive number'),
    batch: int(values.batch, 'batch', DEFAULT_COMPARE.batch),
    trainSize: int(values['train-size'], 'train-size', DEFAULT_COMPARE.trainSize),
    valSize: int(values['val-size'], 'val-size', DEFAULT_COMPARE.valSize),
    seq: int(values.seq, 'seq', DEFAULT_COMPARE.seq),
    embed: int(values.embed, 'embed', DEFAULT_COMPARE.embed),
    valChars: int(values['val-chars'], 'val-chars', DEFAULT_COMPARE.valChars, 2),
    maxLen: int(values['max-len'], 'max-len', DEFAULT_COMPARE.maxLen),
    evalPoints: int(values['eval-points'], 'eval-points', DEFAULT_COMPARE.evalPoints),
    speedRounds: int(values['speed-rounds'], 'speed-rounds', DEFAULT_COMPARE.speedRounds, 0),
  };
  if (values.data !== undefined) cfg.data = values.data;
  if (values.hidden !== undefined) cfg.hidden = int(values.hidden, 'hidden', 0);
  if (values['gradflow-length'] !== undefined) cfg.gradflowLength = int(values['gradflow-length'], 'gradflow-length', 0, 2);
  if (values.budget !== undefined) {
    cfg.budgetMs = parseDuration(values.budget, '--budget');
    if (!(cfg.budgetMs > 0)) throw new CliError('--budget: must be longer than 0 s');
  }
  if (values.epochs !== undefined) cfg.epochs = int(values.epochs, 'epochs', 0);
  outDir(values.out); // (after the arguments are checked: a typo leaves no empty directory)
  return { cfg, out: values.out, json: values.json ?? false };
}

/** JSON replacer: non-finite numbers become null, others keep 6 significant digits. */
function jsonNumbers(_k: string, v: unknown): unknown {
  if (typeof v !== 'number') return v;
  if (!Number.isFinite(v)) return null;
  return Number.isInteger(v) ? v : +v.toPrecision(6);
}

// Numbers that may be NaN are written as null; read them back as NaN (other nulls are real nulls).
const NUMERIC_KEYS = new Set(['bestMetric', 'bestLoss', 'finalMetric', 'secondsPerEpoch', 'tokensPerSecond', 'metric', 'loss', 'time', 'epoch',
  'sigmaMax', 'maxGradNorm', 'clippedFraction', 'trainSeconds', 'evalSeconds', 'fracAbove05', 'fracAbove1', 'epochs']);

/** Read a results.json written by writeCompareOutputs. */
export function readCompareResults(file: string): CompareResults {
  let text: string;
  try { text = readFileSync(file, 'utf8'); } catch (e) { throw new CliError(`--from: cannot read ${file}: ${fsReason(e)}`); }
  let res: CompareResults;
  try {
    res = JSON.parse(text, function (this: unknown, key: string, v: unknown) {
      if (v === null && NUMERIC_KEYS.has(key)) return NaN;
      if (Array.isArray(v) && v.some((x) => typeof x === 'number')) return v.map((x) => (x === null ? NaN : x));
      return v;
    }) as CompareResults;
  } catch (e) {
    throw new CliError(`--from: ${file} is not valid JSON: ${(e as Error).message}`);
  }
  if (res?.version !== 1 || !Array.isArray(res.tasks)) throw new CliError(`--from: ${file} is not a results.json written by rnnkit compare`);
  return res;
}

/** Write results.json, report.md, report.html and charts/*.svg into `out`. */
export function writeCompareOutputs(res: CompareResults, out: string): string[] {
  makeDirsSync(join(out, 'charts'));
  const rep = compareReport(res);
  const files: string[] = [];
  const write = (name: string, text: string) => { writeFileSync(join(out, name), text); files.push(join(out, name)); };
  write('results.json', JSON.stringify(res, jsonNumbers, 1));
  write('report.md', rep.markdown);
  write('report.html', rep.html);
  for (const c of rep.charts) write(join('charts', c.file), c.svg + '\n');
  return files;
}

/** A compact summary (no curves, no spectra) for --json. */
export function summarize(res: CompareResults): unknown {
  return {
    createdAt: res.createdAt, totalSeconds: res.totalSeconds, budgetPerRunSeconds: res.budgetPerRunSeconds,
    tasks: res.tasks.map((t) => ({
      task: t.task, metric: t.metric.name, cells: t.cells,
      runs: t.runs.map(({ curve: _c, ...r }) => r),
      gradflow: t.gradflow ? t.gradflow.flows.map((f) => ({ cell: f.cell, state: f.state, ratioAtEnd: f.flow.ratio[f.flow.ratio.length - 1] })) : null,
      claims: t.claims,
    })),
  };
}

export async function compareCli(argv: string[]): Promise<void> {
  const parsed = parseCompareArgs(argv);
  if (!parsed) { process.stdout.write(COMPARE_HELP); return; }
  const { cfg, out, json } = parsed;
  if (parsed.from !== undefined) {
    const saved = readCompareResults(parsed.from);
    outDir(out);
    let files: string[];
    try {
      files = writeCompareOutputs(rebuildClaims(saved), out);
    } catch (e) {
      // Fields missing or of the wrong kind (a file edited, or not from this program).
      if (e instanceof TypeError || e instanceof RangeError) throw new CliError(`--from: ${parsed.from} lacks what rnnkit compare writes (${e.message})`);
      throw e;
    }
    process.stdout.write(`compare: re-rendered ${files.length} files into ${resolve(out)}\n`);
    return;
  }
  const log = (s: string) => (json ? process.stderr : process.stdout).write(`${s}\n`);
  const progress = new Progress(process.stderr);
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    progress.log('compare: stopping after the current step; the report will cover the finished runs (Ctrl-C again to quit now)');
  };
  process.on('SIGINT', onSigint);
  let res: CompareResults;
  try {
    res = await runCompare(cfg, {
      log: (m) => (json ? process.stderr.write(`${m}\n`) : progress.log(m)),
      progress: (done, total, fields) => progress.update({ done, total, fields }),
      shouldStop: () => stop,
    }, `rnnkit compare ${argv.join(' ')}`);
  } catch (e) {
    if (e instanceof RangeError) throw new CliError(e.message);
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
    progress.done();
  }
  const files = writeCompareOutputs(res, out);
  log(`compare: done in ${fmtTime(res.totalSeconds)}; wrote ${resolve(out, 'report.html')}, report.md, results.json and ${files.length - 3} charts`);
  if (json) process.stdout.write(`${JSON.stringify(summarize(res), jsonNumbers, 1)}\n`);
}
