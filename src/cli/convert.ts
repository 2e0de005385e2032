// `rnnkit convert`: a saved model written again, its weights in float16 (half the bytes, to ship
// to browsers) or float32, without the optimiser's state unless asked.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, saveModel } from '../models/node/model-io.js';
import { loadTfjsModel } from '../models/node/tfjs-io.js';
import type { Model } from '../models/sequential.js';
import { CliError, outDir } from './progress.js';

/**
 * What `path` (a model.json or the directory that holds it) holds, by its model.json: a TF.js
 * layers model, a NER tagger saved by `rnnkit ner`, or (also when it cannot be read: the loader
 * then says why) a model saveModel wrote.
 */
export function savedModelKind(path: string): 'tfjs' | 'ner' | 'rnnkit' {
  try {
    const file = statSync(path).isDirectory() ? join(path, 'model.json') : path;
    const j = JSON.parse(readFileSync(file, 'utf8')) as { modelTopology?: unknown; app?: unknown } | null;
    return j?.modelTopology !== undefined ? 'tfjs' : j?.app === 'ner' ? 'ner' : 'rnnkit';
  } catch {
    return 'rnnkit';
  }
}

/** A model saved by rnnkit, or a TF.js layers model (imported: loadTfjsModel). */
export async function loadAnyModel(path: string): Promise<{ model: Model; tfjs: boolean }> {
  if (savedModelKind(path) === 'tfjs') return { model: await loadTfjsModel(path), tfjs: true };
  return { model: await loadModel(path), tfjs: false };
}

export const CONVERT_HELP = `Usage: rnnkit convert --model <dir> --out <dir> [--dtype float16|float32] [--keep-optimizer]

Write a model saved by rnnkit (charrnn, sentiment, or saveModel) again: its weights in half
precision (each rounded to the nearest binary16: half the bytes, for a page to download) or in
float32, and without the optimiser's state (only training needs it) unless --keep-optimizer.
Everything else (architecture, vocabulary, metadata) is kept. rnn.loadModel and
rnn.loadModelFromUrl read either.

--model may also be a TF.js layers model (its model.json, or the directory that holds it: what
TF.js's model.save writes, or the tensorflowjs converter for a Keras Sequential model): it is
imported (rnn.loadTfjsModel) and written as a rnnkit model.

Options:
  --model <dir>       the saved model (e.g. runs/ts/best), or a TF.js model.json (required)
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
  const { model, tfjs } = await loadAnyModel(v.model);
  outDir(v.out);
  await saveModel(model, v.out, { weightsDtype: dtype, includeOptimizer: v['keep-optimizer'] ?? false });
  process.stdout.write(`${v.out}: ${model.countParams().toLocaleString('en-US')} weights as ${dtype}${tfjs ? ', imported from TF.js' : ''}${v['keep-optimizer'] ? ', with the optimiser state' : ''}\n`);
}
