// `rnnkit tensors`: what a weights file holds — a file torch.save wrote, a safetensors file, or a
// model saveModel wrote — tensor by tensor, and the modules loadTorchWeights would match to layers
// (the names `rnnkit convert --torch --map layer=module` takes).
import { existsSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { decodeSafetensors } from '../models/safetensors.js';
import { decodeTorchFile, isTorchFile } from '../models/torch-file.js';
import { torchModules } from '../models/torch-weights.js';
import { readTorchFile } from './convert.js';
import { CliError } from './progress.js';

export const TENSORS_HELP = `Usage: rnnkit tensors <file> [--entry key] [--json]

List the tensors of a weights file: a file torch.save wrote (.pt, .pth, .bin: a state_dict, a
checkpoint dict holding one, or a whole module; read without running any of it), a TorchScript
file (torch.jit.save), a safetensors file, or a model saved by rnnkit (its directory:
weights.safetensors). Then the modules the
tensors group into — the PyTorch modules rnnkit convert --torch matches to a model's layers, and
the names its --map takes (a stacked recurrent module's layers as 'rnn:l0', 'rnn:l1').

Options:
  --entry <key>   a torch.save checkpoint dict's key of the state_dict (default: its only one)
  --json          one JSON object: { file, format, entry, tensors: [{ name, dtype, shape }], modules }
  -h, --help      this text
`;

interface Listed { name: string; dtype: string; shape: number[] }

export function tensorsCli(argv: string[]): void {
  const { values: v, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: { entry: { type: 'string' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) { process.stdout.write(TENSORS_HELP); return; }
  if (positionals.length !== 1) throw new CliError(`tensors: expected one file, got ${positionals.length} (rnnkit tensors --help)`);
  let file = positionals[0]!;
  if (existsSync(file) && statSync(file).isDirectory()) {
    if (!existsSync(join(file, 'weights.safetensors'))) throw new CliError(`${file}: a directory without weights.safetensors (a model saved by rnnkit has one)`);
    file = join(file, 'weights.safetensors');
  }
  const bytes = readTorchFile(file);
  let format: string, entry: string | null = null;
  let tensors: Listed[];
  if (isTorchFile(bytes)) {
    const d = decodeTorchFile(bytes, { source: file, ...(v.entry !== undefined ? { entry: v.entry } : {}) });
    format = d.format === 'zip' ? 'torch.save zip archive' : 'torch.save legacy file';
    entry = d.entry;
    tensors = Object.entries(d.tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
  } else {
    if (v.entry !== undefined) throw new CliError(`--entry: ${file} is no file torch.save wrote`);
    format = 'safetensors';
    tensors = Object.entries(decodeSafetensors(bytes, { source: file }).tensors).map(([name, t]) => ({ name, dtype: t.dtype, shape: t.shape }));
  }
  const modules = torchModules(tensors.map((t) => t.name));
  if (v.json) {
    process.stdout.write(`${JSON.stringify({ file, format, entry, tensors, modules })}\n`);
    return;
  }
  const values = tensors.reduce((a, t) => a + t.shape.reduce((p, d) => p * d, 1), 0);
  const where = format === 'safetensors' ? '' : entry === null ? ', the state_dict at its top' : `, the state_dict under '${entry}'`;
  const lines = [`${file}: ${format}${where}: ${tensors.length} tensors, ${values.toLocaleString('en-US')} values`];
  const w = Math.max(0, ...tensors.map((t) => t.name.length)), wd = Math.max(0, ...tensors.map((t) => t.dtype.length));
  for (const t of tensors) lines.push(`  ${t.name.padEnd(w)}  ${t.dtype.padEnd(wd)}  [${t.shape.join(', ')}]`);
  // (A model rnnkit saved names its tensors layer/name: no modules there.)
  if (modules.some((m) => m.module !== '')) {
    lines.push(`modules (rnnkit convert --torch matches them to layers; --map layer=module): ${modules.map((m) => m.module || '(top level)').join(', ')}`);
  }
  process.stdout.write(`${lines.join('\n')}\n`);
}
