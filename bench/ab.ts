// In-process A/B of two builds of rnnkit on one standard workload:
//
//   git worktree add ../rnnkit-base HEAD~1 && (cd ../rnnkit-base && npm ci && npm run build)
//   npm run bench:ab -- --a ../rnnkit-base --b . --workload W2-RNN [--rounds 8] [--reps 5]
//
// Both builds' dist/bench/bench.js are imported into this one process (each with its own
// kernels and kernel worker), warmed up, and then their steps alternate in rounds (A B, B A, ...);
// printed: the median of each build's round medians and B/A, and B/A round by round (each round's
// pair: median, geometric mean, range). On a shared machine whose speed
// drifts by 10-20% from minute to minute, two builds measured in separate processes or runs are
// not comparable at the 2-5% level; measured side by side in one process they are, because each
// slow phase hits both. Speed only: the tests decide correctness.
import { resolve, join } from 'node:path';
import { existsSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { median, pairedRatios } from './report.js';

interface Build { label: string; step: () => void }

const USAGE = `Usage: npm run bench:ab -- --a DIR --b DIR --workload NAME [--rounds N] [--reps N] [--warmup-ms MS]
  --a, --b     checkouts of rnnkit, each built (its dist/bench/bench.js is imported)
  --workload   a workload of bench/bench.ts (W1, W2-GRU, W2-RNN, W3, W4, W1-layer, W5a, W5b)
  --rounds     rounds of alternating steps (default 8)
  --reps       steps of each build per round (default 5)
  --warmup-ms  warm-up time of each build before the rounds (default 2000)
`;

function positiveInt(v: string | undefined, name: string, dflt: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} ${v}: expected a positive integer`);
  return n;
}

/** Imports a build's bench module without running its command line (older builds run main() on import). */
async function load(dir: string, workload: string): Promise<Build> {
  const file = join(resolve(dir), 'dist/bench/bench.js');
  if (!existsSync(file)) throw new Error(`${dir}: no dist/bench/bench.js (build that checkout first: npm run build)`);
  const argv = process.argv, write = process.stdout.write;
  process.argv = [argv[0]!, file, '--help']; // an older build's main() then only prints its usage...
  process.stdout.write = (() => true) as typeof process.stdout.write; // ...which is swallowed
  try {
    const m = (await import(pathToFileURL(file).href)) as { WORKLOADS: Record<string, { setup(): { step: () => void } }> };
    const w = m.WORKLOADS[workload];
    if (!w) throw new Error(`${dir}: unknown workload '${workload}'; known: ${Object.keys(m.WORKLOADS).join(', ')}`);
    return { label: dir, step: w.setup().step };
  } finally {
    process.argv = argv;
    process.stdout.write = write;
  }
}


async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      a: { type: 'string' }, b: { type: 'string' }, workload: { type: 'string' },
      rounds: { type: 'string' }, reps: { type: 'string' }, 'warmup-ms': { type: 'string' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(USAGE); return; }
  if (!v.a || !v.b || !v.workload) throw new Error(`--a, --b and --workload are required\n${USAGE}`);
  const rounds = positiveInt(v.rounds, 'rounds', 8), reps = positiveInt(v.reps, 'reps', 5);
  const warmMs = positiveInt(v['warmup-ms'], 'warmup-ms', 2000);
  const builds = [await load(v.a, v.workload), await load(v.b, v.workload)];
  for (const b of builds) {
    const end = performance.now() + warmMs;
    while (performance.now() < end) b.step();
  }
  const roundMedians: number[][] = [[], []];
  for (let r = 0; r < rounds; r++) {
    for (const i of r % 2 ? [0, 1] : [1, 0]) {
      const ts: number[] = [];
      for (let k = 0; k < reps; k++) {
        const t0 = performance.now();
        builds[i]!.step();
        ts.push(performance.now() - t0);
      }
      roundMedians[i]!.push(median(ts));
    }
  }
  const [a, b] = roundMedians.map(median) as [number, number];
  const p = pairedRatios(roundMedians[0]!, roundMedians[1]!);
  const fmt = (xs: number[]): string => xs.map((x) => x.toFixed(x < 10 ? 3 : 1)).join(' ');
  process.stdout.write(
    `${v.workload}: A ${a.toFixed(3)} ms/step  B ${b.toFixed(3)} ms/step  B/A ${(b / a).toFixed(3)}\n` +
    `  round by round B/A: median ${p.median.toFixed(3)}, geometric mean ${p.geomean.toFixed(3)}, ${p.min.toFixed(3)}-${p.max.toFixed(3)}\n` +
    `  A = ${builds[0]!.label}, rounds: ${fmt(roundMedians[0]!)}\n  B = ${builds[1]!.label}, rounds: ${fmt(roundMedians[1]!)}\n`,
  );
}

main().then(() => process.exit(0), (e: Error) => { process.stderr.write(`bench:ab: ${e.message}\n`); process.exit(2); });
