// `rnnkit convert`: a saved model written again, its weights in float16 (half the bytes, to ship
// to browsers) or float32, without the optimiser's state unless asked.
import { existsSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, saveModel } from '../models/node/model-io.js';
import { CliError, outDir } from './progress.js';

export const CONVERT_HELP = `Usage: rnnkit convert --model <dir> --out <dir> [--dtype float16|float32] [--keep-optimizer]

Write a model saved by rnnkit (charrnn, sentiment, or saveModel) again: its weights in half
precision (each rounded to the nearest binary16: half the bytes, for a page to download) or in
float32, and without the optimiser's state (only training needs it) unless --keep-optimizer.
Everything else (architecture, vocabulary, metadata) is kept. rnn.loadModel and
rnn.loadModelFromUrl read either.

Options:
  --model <dir>       the saved model (e.g. runs/ts/best)                    (required)
  --out <dir>         where to write it (not --model itself)                 (required)
  --dtype d           float16 or float32                                     (default float16)
  --keep-optimizer    keep the optimiser's state (to go on training)
  -h, --help          this text
`;

export async function convertCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      model: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' }, 'keep-optimizer': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(CONVERT_HELP); return; }
  if (!v.model) throw new CliError('--model <dir> is required (see --help)');
  if (!v.out) throw new CliError('--out <dir> is required (see --help)');
  const dtype = v.dtype ?? 'float16';
  if (dtype !== 'float16' && dtype !== 'float32') throw new CliError(`--dtype: expected float16 or float32, got '${dtype}'`);
  if (!existsSync(v.model)) throw new CliError(`--model: ${v.model}: no such directory`);
  if (resolve(v.out) === resolve(v.model)) throw new CliError('--out: give another directory than --model (the model is written anew, not changed in place)');
  const model = await loadModel(v.model);
  outDir(v.out);
  await saveModel(model, v.out, { weightsDtype: dtype, includeOptimizer: v['keep-optimizer'] ?? false });
  process.stdout.write(`${v.out}: ${model.countParams().toLocaleString('en-US')} weights as ${dtype}${v['keep-optimizer'] ? ', with the optimiser state' : ''}\n`);
}
