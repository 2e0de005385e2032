// `rnnkit convert`: a saved model written again, its weights in float16 (half the bytes, to ship
// to browsers) or float32, without the optimiser's state unless asked; or with a PyTorch model's
// weights put into its layers (--torch).
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { loadModel, saveModel } from '../models/node/model-io.js';
import { loadTfjsModel } from '../models/node/tfjs-io.js';
import { loadTorchWeights } from '../models/torch-weights.js';
import { fsReason } from '../data/node/fs-reason.js';
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
       rnnkit convert --model <dir> --torch <file> --out <dir> [--entry key] [--map layer=module ...]

Write a model saved by rnnkit (charrnn, sentiment, or saveModel) again: its weights in half
precision (each rounded to the nearest binary16: half the bytes, for a page to download) or in
float32, and without the optimiser's state (only training needs it) unless --keep-optimizer.
Everything else (architecture, vocabulary, metadata) is kept. rnn.loadModel and
rnn.loadModelFromUrl read either.

--model may also be a TF.js layers model (its model.json, or the directory that holds it: what
TF.js's model.save writes, or the tensorflowjs converter for a Keras Sequential model): it is
imported (rnn.loadTfjsModel) and written as a rnnkit model.

--torch puts a PyTorch model's weights into --model's architecture first (rnn.loadTorchWeights):
a file torch.save wrote (model.state_dict(), a checkpoint dict holding it, or the whole module;
read without running any of it), a TorchScript file (torch.jit.save) or a safetensors file. Each layer with weights takes the PyTorch
module whose tensors fit its shapes; 'rnnkit tensors <file>' lists the file's modules.

Options:
  --model <dir>       the saved model (e.g. runs/ts/best), or a TF.js model.json (required)
  --out <dir>         where to write it (not --model itself)                 (required)
  --dtype d           float16 or float32                                     (default float16)
  --keep-optimizer    keep the optimiser's state (to go on training)
  --torch <file>      PyTorch weights (.pt, .pth, .bin or .safetensors) for --model's layers
  --entry <key>       with --torch: the checkpoint dict's key of the state_dict
  --map layer=module  with --torch: the PyTorch module (or 'rnn:l1') of a layer; repeatable
  --allow-unused      with --torch: ignore PyTorch tensors no layer takes
  -h, --help          this text
`;

export async function convertCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      model: { type: 'string' }, out: { type: 'string' }, dtype: { type: 'string' }, 'keep-optimizer': { type: 'boolean' },
      torch: { type: 'string' }, entry: { type: 'string' }, map: { type: 'string', multiple: true }, 'allow-unused': { type: 'boolean' },
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
  if (!v.torch && (v.entry !== undefined || v.map || v['allow-unused'])) throw new CliError('--entry, --map and --allow-unused go with --torch <file>');
  const map = parseMap(v.map ?? []);
  const { model, tfjs } = await loadAnyModel(v.model);
  let from = '';
  if (v.torch) {
    const bytes = readTorchFile(v.torch);
    const report = loadTorchWeights(model, bytes, {
      source: v.torch, map, allowUnused: v['allow-unused'] ?? false, ...(v.entry !== undefined ? { entry: v.entry } : {}),
    });
    from = `, from ${v.torch} (${report.loaded.map((r) => `${r.layer} <- ${r.module || '(top level)'}`).join(', ')}${report.unused.length ? `; unused: ${report.unused.join(', ')}` : ''})`;
  }
  outDir(v.out);
  await saveModel(model, v.out, { weightsDtype: dtype, includeOptimizer: v['keep-optimizer'] ?? false });
  process.stdout.write(`${v.out}: ${model.countParams().toLocaleString('en-US')} weights as ${dtype}${tfjs ? ', imported from TF.js' : ''}${from}${v['keep-optimizer'] ? ', with the optimiser state' : ''}\n`);
}

/** --map layer=module options as loadTorchWeights' (and torchStateDict's) map. */
export function parseMap(items: string[]): Record<string, string> {
  const map: Record<string, string> = {};
  for (const it of items) {
    const eq = it.indexOf('=');
    if (eq <= 0 || eq === it.length - 1) throw new CliError(`--map: expected layer=module (e.g. lstm_1=rnn:l1), got '${it}'`);
    const layer = it.slice(0, eq);
    if (layer in map) throw new CliError(`--map: layer '${layer}' is given twice`);
    map[layer] = it.slice(eq + 1);
  }
  return map;
}

/** A weights file's bytes (a clear error for a path that cannot be read). */
export function readTorchFile(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    throw new CliError(`${path}: ${fsReason(e)}`);
  }
}
