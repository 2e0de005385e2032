// `rnnkit export`: a saved model as an ONNX file (exportOnnx), for onnxruntime in Node.js, in
// the browser (onnxruntime-web), in Python or C++; in TF.js's layers format; or its weights as a
// PyTorch state_dict file. Files are written next to their final name and renamed over it, so an
// interrupted export never leaves half a file.
import { closeSync, existsSync, fsyncSync, openSync, renameSync, rmSync, statSync, writeSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { exportOnnx, OnnxExportError, type OnnxExport, type OnnxTensorInfo } from '../export/onnx.js';
import { exportNerOnnx } from '../export/onnx-ner.js';
import { exportTfjs, TfjsExportError } from '../export/tfjs.js';
import { encodeTorchFile, torchStateDict, TorchExportError } from '../models/torch-export.js';
import type { Model } from '../models/sequential.js';
import { loadNer } from '../apps/ner.js';
import { loadAnyModel, parseMap, savedModelKind } from './convert.js';
import { fsReason } from '../data/node/fs-reason.js';
import { makeDirsSync } from '../data/node/make-dirs.js';
import { CliError } from './progress.js';

export const EXPORT_HELP = `Usage: rnnkit export --model <dir> --out <file.onnx> [--dtype float32|float16] [--states|--no-states] [--max-length n]
       rnnkit export --model <dir> --format tfjs --out <dir>
       rnnkit export --model <dir> --format torch --out <file.pt> [--map layer=module ...]

Write a model saved by rnnkit (charrnn, sentiment, ner, or saveModel) as an ONNX file (opset 17)
that onnxruntime runs in Node.js (onnxruntime-node), in browsers (onnxruntime-web), in Python and
C++, giving the numbers rnnkit gives. Token ids go in as int32 [batch, time]; a maskZero
embedding's padding (id 0) is honoured wherever it is. The model's metadata (a charrnn model's
vocabulary) is kept in the file's metadata_props as 'rnnkit.metadata'.

--model may also be a TF.js layers model (its model.json or directory; see rnnkit convert).

--format tfjs writes the model (Sequential or functional) in TF.js's layers format instead
(<out>/model.json and <out>/weights.bin, what tf.loadLayersModel reads), for an application that
serves with TF.js; stateful layers (charrnn) with a batch of 1. TF.js cannot run everything
rnnkit can: the GRU must have resetAfter: false; attention layers, position encodings, GELU and
NER taggers are refused by name.

--format torch writes the weights as a PyTorch state_dict in a file torch.load reads (what
torch.save writes), for the same architecture built in PyTorch: model.load_state_dict(
torch.load('model.pt')). Each layer is a module named after it, or as --map says: --map
lstm=rnn:l0 --map lstm_1=rnn:l1 makes two LSTM layers one nn.LSTM(num_layers=2) 'rnn'. Embedding,
Dense (nn.Linear: its weight is the kernel transposed), LayerNormalization, SimpleRNN, LSTM and
GRU (resetAfter: true), also bidirectional.

A NER tagger takes words, cases and chars (int32 ids, 0 after a sentence's or a word's end) and
outputs tags (label ids, -1 after the end; CRF taggers decode with Viterbi in the file) and
emissions; 'rnnkit.ner' in metadata_props holds the vocabularies and labels.

Options:
  --model <dir>       the saved model (e.g. runs/ts/best)                    (required)
  --out <file>        the .onnx file to write (--format tfjs: a directory)   (required)
  --format f          onnx, tfjs or torch                                    (default onnx)
  --map layer=module  --format torch: a layer's PyTorch module name ('rnn:l1': a stacked
                      recurrent module's sub-layer); repeatable
  --dtype d           float32, or float16: the weights in half the bytes (each rounded to the
                      nearest binary16, widened by a Cast where read)        (default float32)
  --states            each recurrent layer's state as inputs '<layer>/h_in' (and c_in for an
                      LSTM) and outputs '<layer>/h_out': feed one back as the other to step
                      through a text; the default for models with stateful layers (charrnn)
  --no-states         zero initial states, no state inputs or outputs
  --max-length n      longest sequence a sine position encoding accepts (default: a charrnn
                      Transformer's window, --seq; else 2048)
  -h, --help          this text
`;

const describe = (t: OnnxTensorInfo): string => `${t.name} ${t.type} [${t.shape.join(', ')}]`;

/** bytes to path through a temporary file in the same directory, synced, then renamed over path. */
function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  const fd = openSync(tmp, 'w');
  try {
    let at = 0;
    while (at < bytes.length) at += writeSync(fd, bytes, at, bytes.length - at);
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    rmSync(tmp, { force: true });
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}

export async function exportCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      model: { type: 'string' }, out: { type: 'string' }, states: { type: 'boolean' }, 'no-states': { type: 'boolean' },
      'max-length': { type: 'string' }, dtype: { type: 'string' }, format: { type: 'string' }, map: { type: 'string', multiple: true },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(EXPORT_HELP); return; }
  if (!v.model) throw new CliError('--model <dir> is required (see --help)');
  if (!v.out) throw new CliError('--out <file.onnx> is required (see --help)');
  if (v.states && v['no-states']) throw new CliError('--states and --no-states: give one of them');
  const format = v.format ?? 'onnx';
  if (format !== 'onnx' && format !== 'tfjs' && format !== 'torch') throw new CliError(`--format: expected onnx, tfjs or torch, got "${format}"`);
  if (v.map && format !== 'torch') throw new CliError('--map is for --format torch');
  const map = parseMap(v.map ?? []);
  const dtype = v.dtype ?? 'float32';
  if (dtype !== 'float32' && dtype !== 'float16') throw new CliError(`--dtype: expected float32 or float16, got "${dtype}"`);
  let maxLength: number | undefined;
  if (v['max-length'] !== undefined) {
    maxLength = Number(v['max-length']);
    if (!/^\d+$/.test(v['max-length']) || !(maxLength >= 1)) throw new CliError(`--max-length: expected a positive integer, got "${v['max-length']}"`);
  }
  if (!existsSync(v.model)) throw new CliError(`--model: ${v.model}: no such directory`);
  if (existsSync(v.out) && statSync(v.out).isDirectory()) throw new CliError(`--out: ${v.out} is a directory; give the path of the .onnx file to write`);
  if (savedModelKind(v.model) === 'ner') {
    if (format !== 'onnx') throw new CliError(`--format ${format}: a NER tagger (its character features, its CRF) has no ${format === 'tfjs' ? 'TF.js' : 'PyTorch'} form; export it as ONNX`);
    if (v.states || v['no-states'] || maxLength !== undefined || v.dtype !== undefined) throw new CliError('--states, --no-states, --max-length and --dtype are for charrnn, sentiment and saveModel models, not a NER tagger');
    let tagger;
    try {
      tagger = (await loadNer(v.model)).model;
    } catch (e) {
      throw new CliError(`--model: ${(e as Error).message}`);
    }
    write(v.out, exportNerOnnx(tagger), `${tagger.params.length.toLocaleString('en-US')} weights, ${tagger.K} labels (${tagger.scheme})`);
    return;
  }
  const { model } = await loadAnyModel(v.model);
  if (format === 'tfjs') {
    if (v.states || v['no-states'] || maxLength !== undefined || v.dtype !== undefined) throw new CliError('--states, --no-states, --max-length and --dtype are for ONNX files, not --format tfjs');
    writeTfjs(v.out, model);
    return;
  }
  if (format === 'torch') {
    if (v.states || v['no-states'] || maxLength !== undefined || v.dtype !== undefined) throw new CliError('--states, --no-states, --max-length and --dtype are for ONNX files, not --format torch');
    writeTorch(v.out, model, map);
    return;
  }
  // A charrnn Transformer reads windows of config.seq characters: its table need not be longer.
  const cfg = (model.metadata as { app?: string; config?: { cell?: string; seq?: number } }).config;
  if (maxLength === undefined && model.metadata.app === 'charrnn' && cfg?.cell === 'transformer' && Number.isInteger(cfg.seq)) maxLength = cfg.seq;
  let result;
  try {
    result = exportOnnx(model, { ...(v.states ? { states: true } : v['no-states'] ? { states: false } : {}), ...(maxLength ? { maxLength } : {}), weightsDtype: dtype });
  } catch (e) {
    if (e instanceof OnnxExportError) throw new CliError(`${v.model}: ${e.message}`);
    throw e;
  }
  write(v.out, result, `${model.countParams().toLocaleString('en-US')} weights${dtype === 'float16' ? ' as float16' : ''}`);
}

/** <out>/model.json and <out>/weights.bin (exportTfjs), each written whole or not at all. */
function writeTfjs(out: string, model: Model): void {
  let e;
  try {
    e = exportTfjs(model);
  } catch (err) {
    if (err instanceof TfjsExportError) throw new CliError(err.message);
    throw err;
  }
  try {
    makeDirsSync(resolve(out));
    writeFileAtomicSync(join(resolve(out), 'weights.bin'), e.weightData);
    writeFileAtomicSync(join(resolve(out), 'model.json'), new TextEncoder().encode(`${JSON.stringify(e.modelJson)}\n`));
  } catch (err) {
    throw new CliError(`--out: cannot write ${out}: ${fsReason(err)}`);
  }
  process.stdout.write(`${out}: TF.js layers model (model.json, weights.bin: ${e.weightData.length.toLocaleString('en-US')} bytes), ${model.countParams().toLocaleString('en-US')} weights\n`);
}

/** A PyTorch state_dict file (torchStateDict, encodeTorchFile), written whole or not at all. */
function writeTorch(file: string, model: Model, map: Record<string, string>): void {
  let sd;
  try {
    sd = torchStateDict(model, { map });
  } catch (err) {
    if (err instanceof TorchExportError) throw new CliError(err.message);
    throw err;
  }
  const bytes = encodeTorchFile(sd.state, { archive: basename(file).replace(/\.[^.]*$/, '').replace(/[^A-Za-z0-9_.-]/g, '_') || 'archive' });
  try {
    makeDirsSync(dirname(resolve(file)));
    writeFileAtomicSync(resolve(file), bytes);
  } catch (e) {
    throw new CliError(`--out: cannot write ${file}: ${fsReason(e)}`);
  }
  const n = Object.keys(sd.state).length;
  process.stdout.write(`${file}: PyTorch state_dict, ${n} tensors, ${model.countParams().toLocaleString('en-US')} weights (${sd.modules.map((m) => `${m.layer} -> ${m.module}`).join(', ')})\n`);
}

/** The file, and what it holds on stdout. */
function write(file: string, result: OnnxExport, what: string): void {
  const out = resolve(file);
  try {
    makeDirsSync(dirname(out));
    writeFileAtomicSync(out, result.bytes);
  } catch (e) {
    throw new CliError(`--out: cannot write ${file}: ${fsReason(e)}`);
  }
  const lines = [
    `${file}: ${result.bytes.length.toLocaleString('en-US')} bytes, ONNX opset 17, ${what}`,
    ...result.inputs.map((t) => `  input  ${describe(t)}`),
    ...result.outputs.map((t) => `  output ${describe(t)}`),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}
