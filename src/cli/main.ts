#!/usr/bin/env node
// rnnkit command line: argument parsing and dispatch only; the work lives in apps/.
import { charrnnSampleCli, charrnnTrainCli } from './charrnn.js';
import { compareCli } from './compare.js';
import { convertCli } from './convert.js';
import { demoCli } from './demo.js';
import { exportCli } from './export.js';
import { nerCli } from './ner.js';
import { playgroundCli } from './playground.js';
import { sentimentEvalCli, sentimentPredictCli, sentimentTrainCli } from './sentiment.js';
import { tensorsCli } from './tensors.js';
import { getThreads, setThreads } from '../kernels/index.js';
import { CliError } from './progress.js';

const HELP = `rnnkit — recurrent neural networks (RNN, LSTM, GRU) in TypeScript

Usage: rnnkit <command> [options]

Commands:
  demo                      train a small LSTM on Moby-Dick for ~2 minutes, printing samples
  charrnn train             train a character-level language model on your text
  charrnn sample            generate text from a trained character model
  ner train|eval|tag        named-entity recognition (BiGRU, optional CRF) on CoNLL files
  sentiment train           train a review sentiment classifier (LSTM/GRU/RNN, bidirectional)
  sentiment eval            accuracy, precision, recall, F1 and confusion matrix on labelled data
  sentiment predict         label and probability of new texts
  compare                   RNN vs LSTM vs GRU on the same data and budget, with gradient-flow plots
  playground                a local page where a network learns your text in the browser, live
  convert                   a saved model again (weights in float16 or float32), a TF.js model imported,
                            or a PyTorch model's weights put into a saved model's layers
  tensors                   the tensors of a PyTorch file (.pt), a safetensors file or a saved model
  export                    a saved model as an ONNX file for onnxruntime, or in TF.js's layers format

Global option (any position):
  --threads 1|2             kernel threads (default: 2 on a machine with 2+ cores, else 1;
                            the environment variable RNNKIT_THREADS sets it too)

Run 'rnnkit <command> --help' for the options of a command.
`;

const CHARRNN_HELP = `Usage: rnnkit charrnn <train|sample> [options]

  train     train a character-level language model on your text
  sample    generate text from a trained character model

Run 'rnnkit charrnn train --help' or 'rnnkit charrnn sample --help' for their options.
`;

const SENTIMENT_HELP = `Usage: rnnkit sentiment <train|eval|predict> [options]

  train     train a review sentiment classifier (LSTM/GRU/RNN, bidirectional)
  eval      accuracy, precision, recall, F1 and confusion matrix on labelled data
  predict   label and probability of new texts

Run 'rnnkit sentiment <train|eval|predict> --help' for their options.
`;

const isHelp = (a: string | undefined): boolean => a === '-h' || a === '--help' || a === 'help';

/**
 * Takes the global --threads option out of argv and sets the kernel threads (without it: the
 * library's default, RNNKIT_THREADS or else 2 on a machine with 2+ cores). Results do not depend
 * on it (the two-thread kernels are bit-identical).
 */
function applyThreads(argv: string[]): string[] {
  let want: number | null = null;
  const rest: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]!;
    let v: string | undefined;
    if (a === '--threads') v = argv[++i];
    else if (a.startsWith('--threads=')) v = a.slice('--threads='.length);
    else { rest.push(a); continue; }
    if (v !== '1' && v !== '2') throw new CliError(`--threads: expected 1 or 2, got ${v === undefined ? 'nothing' : `'${v}'`}`);
    want = Number(v);
  }
  // Without the option the library's own default applies (RNNKIT_THREADS, else 2 on 2+ cores).
  if (want !== null && want !== getThreads()) {
    try {
      setThreads(want);
    } catch (e) {
      process.stderr.write(`rnnkit: running on one thread (${(e as Error).message})\n`);
    }
  }
  return rest;
}

async function main(argv: string[]): Promise<void> {
  const [cmd, sub, ...rest] = argv;
  switch (cmd) {
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(HELP); return;
    case 'compare':
      return compareCli(argv.slice(1));
    case 'demo':
      return demoCli(argv.slice(1));
    case 'ner': return nerCli(argv.slice(1));
    case 'playground': return playgroundCli(argv.slice(1));
    case 'convert': return convertCli(argv.slice(1));
    case 'export': return exportCli(argv.slice(1));
    case 'tensors': return tensorsCli(argv.slice(1));
    case 'charrnn':
      if (sub === 'train') return charrnnTrainCli(rest);
      if (sub === 'sample') return charrnnSampleCli(rest);
      if (isHelp(sub)) { process.stdout.write(CHARRNN_HELP); return; }
      throw new CliError(`charrnn: expected 'train' or 'sample', got ${sub === undefined ? 'nothing' : `'${sub}'`} (rnnkit charrnn --help)`);
    case 'sentiment':
      if (sub === 'train') return sentimentTrainCli(rest);
      if (sub === 'eval') return sentimentEvalCli(rest);
      if (sub === 'predict') return sentimentPredictCli(rest);
      if (isHelp(sub)) { process.stdout.write(SENTIMENT_HELP); return; }
      throw new CliError(`sentiment: expected 'train', 'eval' or 'predict', got ${sub === undefined ? 'nothing' : `'${sub}'`} (rnnkit sentiment --help)`);
    default:
      throw new CliError(`unknown command '${cmd}'. Commands: demo, charrnn train, charrnn sample, ner train, ner eval, ner tag, sentiment train, sentiment eval, sentiment predict, compare, playground, convert, tensors, export (rnnkit --help)`);
  }
}

// Output piped into a reader that stops early (rnnkit charrnn sample | head): exit quietly, as
// Unix tools do, instead of an unhandled EPIPE with a stack trace.
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(0);
  throw e;
});

Promise.resolve().then(() => main(applyThreads(process.argv.slice(2)))).catch((e: unknown) => {
  // User mistakes (bad arguments, unreadable or malformed files) get one line, no stack trace.
  const err = e as Error & { code?: string };
  const userError = e instanceof CliError || err?.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION' || err?.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE'
    || err?.code === 'ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL' || err?.name === 'BundleError' || err?.name === 'SafetensorsError' || err?.name === 'TorchFileError' || err?.name === 'TorchWeightsError';
  if (userError) {
    process.stderr.write(`rnnkit: ${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`rnnkit: internal error: ${err?.stack ?? String(e)}\n`);
  process.exit(1);
});
