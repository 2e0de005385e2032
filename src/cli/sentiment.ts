// `rnnkit sentiment train|eval|predict`: argument handling, data files, progress, checkpoints.
// The modelling lives in apps/sentiment.ts.
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  attachPipeline, attentionOf, buildSentimentModel, CELL_NAMES, DEFAULT_MODEL, DEFAULT_PREPARE, displayNames, encodeSet,
  evaluateSentiment, explainSentiment, labelNamesOf, pipelineOf, predictSentiment, prepare, splitTexts, trainSentiment, usePretrained,
  type CellName, type EpochResult, type Keep, type LabelledTexts, type SentimentMetrics, type SentimentModelConfig,
  type SentimentPrediction,
} from '../apps/sentiment.js';
import { readDataset, type TextDataset } from '../data/node/index.js';
import { pretrainedVectors } from './vectors.js';
import { backendName, loadModel, NonFiniteLossError, saveModel, type ClassWeight, type Sequential } from '../index.js';
import { CliError, fmtTime, outDir, Progress, int, num } from './progress.js';

const DATA_FORMATS = `Data files (--train, --val, --data): JSON Lines (.jsonl, .jsonl.gz) with "text" and "label"
fields; CSV/TSV (.csv, .tsv, optionally .gz) with a header naming a text column (text, sentence,
review or content) and a label column; an aclImdb folder (pos/ and neg/); a folder with one file
per class, or "a.pos,a.neg" (one text per line). Labels 0/1 (1 = positive) or two class names.`;

export const TRAIN_HELP = `Usage: rnnkit sentiment train --train <path> --out <dir> [options]

Train a binary sentiment classifier: word embedding (padding masked) -> LSTM/GRU/RNN (optionally
bidirectional) -> [attention pooling] -> Dense(1, sigmoid), with Adam and length-bucketed batches.
After every epoch the
validation set is scored; the checkpoint with the best validation accuracy is kept in <out>/best
and the latest in <out>/last (the tokenizer and vocabulary are saved inside the model).

Options:
  --train <path>         training data (see below)                              (required)
  --out <dir>            checkpoints: <out>/best and <out>/last                   (required)
  --val <path>           validation data
  --val-split f          hold out a seeded, stratified fraction f of --train     (default 0.1 without --val)
  --cell lstm|gru|rnn    recurrent cell                                           (default ${DEFAULT_MODEL.cell})
  --bidirectional        read each text in both directions
  --attention N          classify a weighted sum of the states of every word, weighted by an
                         attention score with N units, instead of the last state (predict
                         --explain then shows the weights)                       (default off)
  --max-len N            keep at most N tokens per text                           (default ${DEFAULT_PREPARE.maxLen})
  --keep start|end       which part of a longer text to keep                      (default ${DEFAULT_PREPARE.keep})
  --vocab N              vocabulary size, counting <pad> and <unk>                (default ${DEFAULT_PREPARE.maxSize})
  --min-freq N           words seen fewer times become <unk>                      (default ${DEFAULT_PREPARE.minFreq})
  --embed N              word embedding size            (default ${DEFAULT_MODEL.embed}; with --embeddings theirs)
  --embeddings <file>    pretrained word vectors: GloVe, word2vec or fastText text (.gz too); each
                         vocabulary word that has one starts from it
  --embeddings-words N   read at most the file's first N words                    (default 400000)
  --freeze-embeddings    keep the word embedding as the vectors set it
  --units N              recurrent units per direction                            (default ${DEFAULT_MODEL.units})
  --dropout p            dropout on the word vectors (one mask per text)          (default ${DEFAULT_MODEL.dropout})
  --epochs N             passes over the training data                            (default 3)
  --batch N              texts per batch                                          (default 32)
  --lr x                 Adam learning rate                                       (default ${DEFAULT_MODEL.lr})
  --clip x               clip the global gradient norm to x (0 = off)             (default 5)
  --class-weight w       weigh each class's loss: 'balanced' (N / (2·n_c) over the training
                         labels) or W0,W1 (the weights of classes 0 and 1)         (default off)
  --limit N              read at most N records of each file (per class for class files)
  --seed S               seed for initialisation, the split and the batch order   (default ${DEFAULT_MODEL.seed})
  --json                 print the results as JSON on stdout (progress goes to stderr)
  -h, --help             this text

${DATA_FORMATS}

Ctrl-C stops after the current batch, scores the validation set and saves <out>/last.
`;

export const EVAL_HELP = `Usage: rnnkit sentiment eval --model <dir> --data <path> [--json]

Score a trained sentiment model on labelled data: accuracy, precision, recall and F1 of the
positive class (label 1), mean cross-entropy, and the confusion matrix.

Options:
  --model <dir>          a directory written by 'rnnkit sentiment train' (e.g. runs/x/best)   (required)
  --data <path>          labelled data, with the model's labels (0/1 or its class names)      (required)
  --limit N              read at most N records
  --batch N              texts per forward batch                                            (default 64)
  --json                 print the results as JSON
  -h, --help             this text

${DATA_FORMATS}
`;

export const PREDICT_HELP = `Usage: rnnkit sentiment predict --model <dir> [text ...] [--file <f>] [--explain] [--json]

Print the predicted label and P(positive) (the probability of label 1) for each text. The text is
tokenized exactly as the training data was. Empty or unknown-word-only texts get the model's
answer for an empty sequence.

Options:
  --model <dir>          a directory written by 'rnnkit sentiment train'       (required)
  --file <f>             one text per line (blank lines skipped); '-' reads standard input
  --explain              also the words the attention head weighted most (a model trained with
                         --attention); with --json every word the model read, with its weight
  --json                 print a JSON array of { text, label, labelName, probability, tokens, unknown }
  -h, --help             this text
`;

/** readDataset with errors turned into one-line CliErrors naming the option and the file. */
function readData(path: string, option: string, opts: { labelNames?: readonly string[]; limit?: number } = {}): TextDataset {
  let ds: TextDataset;
  try {
    ds = readDataset(path, { ...(opts.labelNames ? { labelNames: opts.labelNames } : {}), ...(opts.limit !== undefined ? { limit: opts.limit } : {}) });
  } catch (e) {
    throw new CliError(`${option}: ${(e as Error).message.replace(/^readDataset: /, '')}`);
  }
  if (ds.labelNames.length !== 2) {
    throw new CliError(`${option}: ${path}: binary sentiment needs 2 classes, found ${ds.labelNames.length} (${ds.labelNames.map((n) => JSON.stringify(n)).join(', ')})`);
  }
  return ds;
}

async function openModel(dir: string): Promise<Sequential> {
  if (!existsSync(dir)) throw new CliError(`--model: ${dir}: no such directory`);
  if (!statSync(dir).isDirectory()) throw new CliError(`--model: ${dir} is not a directory (expected one written by 'rnnkit sentiment train')`);
  let model: Sequential;
  try {
    model = await loadModel(dir);
  } catch (e) {
    throw new CliError(`--model: ${(e as Error).message}`);
  }
  try {
    pipelineOf(model);
  } catch (e) {
    throw new CliError(`--model: ${dir}: ${(e as Error).message}`);
  }
  return model;
}

const pct = (x: number): string => `${(100 * x).toFixed(2)}%`;

/** Multi-line text report of metrics with the confusion matrix. */
export function formatMetrics(m: SentimentMetrics, names: readonly [string, string]): string {
  const [n0, n1] = names;
  const w = Math.max(n0.length, n1.length, 6) + 2;
  const cell = (v: number) => String(v).padStart(w + 5);
  const [[tn, fp], [fn, tp]] = m.confusionMatrix;
  return [
    `accuracy ${pct(m.accuracy)}  precision ${pct(m.precision)}  recall ${pct(m.recall)}  F1 ${pct(m.f1)}  ` +
      `(${m.count.toLocaleString('en-US')} texts, loss ${m.loss.toFixed(4)}; positive class: ${n1})`,
    `confusion matrix (rows: true class, columns: predicted):`,
    `  ${''.padEnd(w)}${`pred ${n0}`.padStart(w + 5)}${`pred ${n1}`.padStart(w + 5)}`,
    `  ${n0.padEnd(w)}${cell(tn)}${cell(fp)}`,
    `  ${n1.padEnd(w)}${cell(fn)}${cell(tp)}`,
  ].join('\n');
}

// ---------------------------------------------------------------------------------------------
// train

export interface SentimentTrainResult {
  train: { path: string; texts: number };
  val: { path: string | null; split: number | null; texts: number };
  labelNames: string[];
  vocabSize: number;
  parameters: number;
  config: SentimentModelConfig & { maxLen: number; keep: Keep; minFreq: number; epochs: number; batch: number; clip: number };
  epochs: { epoch: number; loss: number; accuracy: number; val: SentimentMetrics | null; seconds: number; tokensPerSecond: number }[];
  best: { epoch: number; val: SentimentMetrics } | null;
  last: { epoch: number; val: SentimentMetrics | null };
  seconds: number;
  tokensPerSecond: number;
  backend: string;
  out: string;
  interrupted: boolean;
}

/** --class-weight: 'balanced', or W0,W1. */
function classWeightOption(v: string | undefined): ClassWeight | undefined {
  if (v === undefined) return undefined;
  if (v === 'balanced') return 'balanced';
  const w = v.split(',').map((x) => (x.trim() === '' ? NaN : Number(x)));
  if (w.length !== 2 || !w.every((x) => Number.isFinite(x) && x >= 0)) throw new CliError(`--class-weight: expected balanced or two weights W0,W1 (numbers >= 0), got '${v}'`);
  return { 0: w[0]!, 1: w[1]! };
}

export async function sentimentTrainCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      train: { type: 'string' }, val: { type: 'string' }, 'val-split': { type: 'string' }, out: { type: 'string' },
      cell: { type: 'string' }, bidirectional: { type: 'boolean' }, attention: { type: 'string' }, 'max-len': { type: 'string' }, keep: { type: 'string' },
      vocab: { type: 'string' }, 'min-freq': { type: 'string' }, embed: { type: 'string' }, units: { type: 'string' },
      embeddings: { type: 'string' }, 'embeddings-words': { type: 'string' }, 'freeze-embeddings': { type: 'boolean' },
      'class-weight': { type: 'string' },
      dropout: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' },
      clip: { type: 'string' }, limit: { type: 'string' }, seed: { type: 'string' }, json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(TRAIN_HELP); return; }
  if (!v.train) throw new CliError('--train <path> is required (see --help)');
  if (!v.out) throw new CliError('--out <dir> is required (see --help)');
  if (existsSync(v.out) && !statSync(v.out).isDirectory()) throw new CliError(`--out: ${v.out} exists and is not a directory`);
  if (v.val !== undefined && v['val-split'] !== undefined) throw new CliError('give --val or --val-split, not both');
  const cell = (v.cell ?? DEFAULT_MODEL.cell) as CellName;
  if (!CELL_NAMES.includes(cell)) throw new CliError(`--cell: expected lstm, gru or rnn, got '${v.cell}'`);
  const keep = (v.keep ?? DEFAULT_PREPARE.keep) as Keep;
  if (keep !== 'start' && keep !== 'end') throw new CliError(`--keep: expected start or end, got '${v.keep}'`);
  const valSplit = v.val === undefined ? num(v['val-split'], 'val-split', 0.1, (x) => x > 0 && x < 1, 'a fraction in (0, 1)') : null;
  const seed = int(v.seed, 'seed', DEFAULT_MODEL.seed, 0);
  const maxLen = int(v['max-len'], 'max-len', DEFAULT_PREPARE.maxLen);
  const maxSize = int(v.vocab, 'vocab', DEFAULT_PREPARE.maxSize, 3);
  const minFreq = int(v['min-freq'], 'min-freq', DEFAULT_PREPARE.minFreq);
  const pre = await pretrainedVectors(v, '--embed', { given: v.embed !== undefined, value: int(v.embed, 'embed', DEFAULT_MODEL.embed) }, 400000);
  const embed = pre.size, pretrained = pre.vectors;
  const units = int(v.units, 'units', DEFAULT_MODEL.units);
  const attention = int(v.attention, 'attention', 0, 0);
  const dropout = num(v.dropout, 'dropout', DEFAULT_MODEL.dropout, (x) => x >= 0 && x < 1, 'a number in [0, 1)');
  const epochs = int(v.epochs, 'epochs', 3);
  const batch = int(v.batch, 'batch', 32);
  const lr = num(v.lr, 'lr', DEFAULT_MODEL.lr, (x) => x > 0, 'a positive number');
  const clip = num(v.clip, 'clip', 5, (x) => x >= 0, 'a number >= 0');
  const classWeight = classWeightOption(v['class-weight']);
  const limit = v.limit === undefined ? undefined : int(v.limit, 'limit', 0, 1);
  const json = v.json ?? false;
  const log = json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => process.stdout.write(`${s}\n`);

  outDir(v.out); // (after the arguments are checked: a typo leaves no empty directory)

  // Data
  const t0 = Date.now();
  const trainAll = readData(v.train, '--train', limit !== undefined ? { limit } : {});
  let trainTexts: LabelledTexts, valTexts: LabelledTexts;
  if (v.val !== undefined) {
    trainTexts = trainAll;
    valTexts = readData(v.val, '--val', { labelNames: trainAll.labelNames, ...(limit !== undefined ? { limit } : {}) });
  } else {
    ({ train: trainTexts, val: valTexts } = splitTexts(trainAll, valSplit!, seed));
    if (valTexts.texts.length === 0) throw new CliError(`--val-split: ${valSplit} of ${trainAll.texts.length} texts leaves no validation texts`);
  }
  if (trainTexts.texts.length === 0) throw new CliError(`--train: ${v.train}: no training texts left`);
  const labelNames = trainAll.labelNames;
  const names = displayNames(labelNames);
  const prep = prepare(trainTexts, { maxSize, minFreq, maxLen, keep }, valTexts);
  const { pipeline } = prep;
  const trainSet = prep.train, valSet = prep.val!;
  const meanLen = trainSet.ids.reduce((s, x) => s + x.length, 0) / trainSet.ids.length;
  const truncated = trainSet.ids.filter((x) => x.length === maxLen).length;

  // Model
  const cfg: SentimentModelConfig = { vocabSize: pipeline.vocab.size, cell, bidirectional: v.bidirectional ?? false, embed, units, dropout, lr, seed, ...(attention > 0 ? { attention } : {}) };
  const model = buildSentimentModel(cfg);
  attachPipeline(model, pipeline, labelNames);
  if (pretrained) {
    const found = usePretrained(model, pipeline, pretrained, v['freeze-embeddings'] ?? false);
    log(`pretrained vectors: ${pretrained.words.length.toLocaleString('en-US')} words of ${pretrained.dim} values; ${found.toLocaleString('en-US')} of the ` +
      `${pipeline.vocab.size.toLocaleString('en-US')} vocabulary words start from one${v['freeze-embeddings'] ? '; word embedding frozen' : ''}`);
  }
  const trainCfg = { ...cfg, maxLen, keep, minFreq, epochs, batch, clip, ...(classWeight ? { classWeight } : {}) };
  log(`sentiment: ${trainSet.ids.length.toLocaleString('en-US')} training / ${valSet.ids.length.toLocaleString('en-US')} validation texts ` +
    `(${v.val !== undefined ? v.val : `${valSplit} of --train, stratified, seed ${seed}`}), classes ${names[0]}/${names[1]}; ` +
    `vocabulary ${pipeline.vocab.size.toLocaleString('en-US')}; ${meanLen.toFixed(1)} tokens per text after truncation to ${maxLen} (keep ${keep}; ${truncated.toLocaleString('en-US')} truncated); ` +
    `data ready in ${fmtTime((Date.now() - t0) / 1000)}`);
  log(`model: ${cfg.bidirectional ? 'bidirectional ' : ''}${cell.toUpperCase()} ${units} units${attention > 0 ? `, attention pooling ${attention} units` : ''}, embedding ${embed}, dropout ${dropout}; ` +
    `${model.countParams().toLocaleString('en-US')} parameters; Adam lr ${lr}, clip ${clip || 'off'}, batch ${batch}; backend ${backendName()}`);

  const bestDir = join(v.out, 'best'), lastDir = join(v.out, 'last');
  let best: { epoch: number; val: SentimentMetrics } | null = null;
  const epochsOut: SentimentTrainResult['epochs'] = [];
  const save = async (dir: string, r: EpochResult) => {
    model.metadata = { ...model.metadata, training: { ...trainCfg, epoch: r.epoch + 1, trainLoss: r.loss, trainAccuracy: r.accuracy, val: r.val, labelNames } };
    await saveModel(model, dir);
  };
  let stop = false;
  const onSigint = () => {
    if (stop) process.exit(130);
    stop = true;
    process.stderr.write('\ninterrupted: finishing the batch, scoring the validation set and saving <out>/last (Ctrl-C again to quit now)\n');
  };
  process.on('SIGINT', onSigint);
  let progress: Progress | null = null;
  let summary;
  try {
    summary = await trainSentiment(model, trainSet, {
      epochs, batchSize: batch, clipNorm: clip, seed, val: valSet, ...(classWeight ? { classWeight } : {}),
      shouldStop: () => stop,
      onBatch: (p) => {
        if (p.batch === 1) progress = new Progress(process.stderr, `epoch ${p.epoch + 1}/${epochs} `);
        progress!.update({
          done: p.batch, total: p.batches,
          fields: { loss: p.loss.toFixed(4), acc: p.accuracy.toFixed(4), 'tok/s': Math.round(p.tokensPerSecond).toLocaleString('en-US') },
        }, p.batch === p.batches);
      },
      onEpochEnd: async (r) => {
        progress?.done();
        const improved = r.val !== null && (best === null || r.val.accuracy > best.val.accuracy);
        if (improved) best = { epoch: r.epoch + 1, val: r.val! };
        log(`epoch ${r.epoch + 1}/${epochs}: loss ${r.loss.toFixed(4)} acc ${r.accuracy.toFixed(4)} | ` +
          (r.val ? `val loss ${r.val.loss.toFixed(4)} acc ${r.val.accuracy.toFixed(4)} F1 ${r.val.f1.toFixed(4)}` : 'no validation') +
          ` | ${fmtTime(r.seconds)}, ${Math.round(r.tokensPerSecond).toLocaleString('en-US')} tok/s${improved ? '  *best' : ''}`);
        epochsOut.push({ epoch: r.epoch + 1, loss: r.loss, accuracy: r.accuracy, val: r.val, seconds: r.seconds, tokensPerSecond: r.tokensPerSecond });
        if (improved) await save(bestDir, r);
        await save(lastDir, r);
      },
    });
  } catch (e) {
    if (e instanceof NonFiniteLossError) {
      throw new CliError(`training diverged: ${(e as Error).message.replace(/^sentiment: /, '')} (--lr, --clip)`);
    }
    throw e;
  } finally {
    process.off('SIGINT', onSigint);
  }
  const lastEpoch = epochsOut[epochsOut.length - 1];
  const result: SentimentTrainResult = {
    train: { path: v.train, texts: trainSet.ids.length },
    val: { path: v.val ?? null, split: valSplit, texts: valSet.ids.length },
    labelNames, vocabSize: pipeline.vocab.size, parameters: model.countParams(), config: trainCfg,
    epochs: epochsOut, best, last: { epoch: lastEpoch?.epoch ?? 0, val: lastEpoch?.val ?? null },
    seconds: (Date.now() - t0) / 1000, tokensPerSecond: summary.tokensPerSecond,
    backend: backendName(), out: v.out, interrupted: summary.stopped,
  };
  if (json) { process.stdout.write(`${JSON.stringify(result, null, 2)}\n`); return; }
  const b = best as { epoch: number; val: SentimentMetrics } | null;
  log(`done in ${fmtTime(result.seconds)} (${Math.round(result.tokensPerSecond).toLocaleString('en-US')} training tokens/s)${summary.stopped ? ', interrupted' : ''}. ` +
    `Checkpoints: ${bestDir}${b ? ` (epoch ${b.epoch})` : ''}, ${lastDir}`);
  if (lastEpoch?.val) log(`final validation (epoch ${lastEpoch.epoch}):\n${formatMetrics(lastEpoch.val, names)}`);
  if (b && b.epoch !== lastEpoch?.epoch) log(`best validation accuracy ${pct(b.val.accuracy)} at epoch ${b.epoch} (saved in ${bestDir})`);
}

// ---------------------------------------------------------------------------------------------
// eval

export async function sentimentEvalCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      model: { type: 'string' }, data: { type: 'string' }, limit: { type: 'string' }, batch: { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(EVAL_HELP); return; }
  if (!v.model) throw new CliError('--model <dir> is required (see --help)');
  if (!v.data) throw new CliError('--data <path> is required (see --help)');
  const limit = v.limit === undefined ? undefined : int(v.limit, 'limit', 0, 1);
  const batch = int(v.batch, 'batch', 64);
  const model = await openModel(v.model);
  const labelNames = labelNamesOf(model);
  const ds = readData(v.data, '--data', { labelNames, ...(limit !== undefined ? { limit } : {}) });
  const t0 = Date.now();
  const m = evaluateSentiment(model, encodeSet(pipelineOf(model), ds, v.data), batch);
  const seconds = (Date.now() - t0) / 1000;
  if (v.json) {
    process.stdout.write(`${JSON.stringify({ model: v.model, data: v.data, labelNames, ...m, seconds }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${v.data} (${fmtTime(seconds)}):\n${formatMetrics(m, displayNames(labelNames))}\n`);
}

// ---------------------------------------------------------------------------------------------
// predict

export async function sentimentPredictCli(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: { model: { type: 'string' }, file: { type: 'string' }, explain: { type: 'boolean' }, json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' } },
  });
  if (v.help) { process.stdout.write(PREDICT_HELP); return; }
  if (!v.model) throw new CliError('--model <dir> is required (see --help)');
  const texts = [...positionals];
  if (v.file !== undefined) {
    let content: string;
    try {
      content = v.file === '-' ? readFileSync(0, 'utf8') : new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(v.file));
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      throw new CliError(`--file: cannot read '${v.file}': ${code ?? ((e as Error).name === 'TypeError' ? 'not valid UTF-8' : (e as Error).message)}`);
    }
    texts.push(...content.split('\n').map((l) => l.replace(/\r$/, '')).filter((l) => l.trim() !== ''));
  }
  if (texts.length === 0) throw new CliError('give the texts to classify as arguments or with --file <f> (see --help)');
  const model = await openModel(v.model);
  if (v.explain && !attentionOf(model)) throw new CliError(`--explain: ${v.model} has no attention head (train with --attention N)`);
  const preds: (SentimentPrediction & { words?: { token: string; weight: number }[] })[] = v.explain ? explainSentiment(model, texts) : predictSentiment(model, texts);
  if (v.json) { process.stdout.write(`${JSON.stringify(preds, null, 2)}\n`); return; }
  const names = displayNames(labelNamesOf(model));
  const w = Math.max(...names.map((n) => n.length));
  for (const p of preds) {
    const shown = p.text.replace(/\s+/g, ' ').trim();
    const note = p.tokens === 0 ? '  (no tokens)' : p.unknown === p.tokens ? '  (no known words)' : '';
    process.stdout.write(`${names[p.label]!.padEnd(w)}  ${p.probability.toFixed(4)}  ${shown.length > 100 ? `${shown.slice(0, 97)}...` : shown}${note}\n`);
    if (p.words && p.words.length > 0) {
      const top = [...p.words].sort((a, b) => b.weight - a.weight).slice(0, 5);
      process.stdout.write(`${' '.repeat(w + 10)}attention: ${top.map((x) => `${x.token} ${x.weight.toFixed(2)}`).join(', ')}\n`);
    }
  }
}
