// `rnnkit ner train|eval|tag`: argument handling, progress and output. The modelling lives in
// apps/ner-model.ts, the training loop, bundles and tokenizer in apps/ner.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import {
  convertNerTags, DEFAULT_NER_CONFIG, evaluateNer, loadNer, parseScheme, readNerFile, tagTexts, trainNer,
  type LoadedNer, type NerData, type NerReadOptions, type NerScheme,
} from '../apps/ner.js';
import type { NerConfig } from '../apps/ner-model.js';
import { backendName } from '../kernels/index.js';
import { formatClassificationReport, type EntityScores } from '../models/entity-metrics.js';
import { CliError, fmtTime, outDir, parseDuration, Progress, int, num } from './progress.js';
import { fsReason } from '../data/node/fs-reason.js';
import { pretrainedVectors } from './vectors.js';

const D = DEFAULT_NER_CONFIG;

export const NER_HELP = `Usage: rnnkit ner <train|eval|tag> [options]

Named-entity recognition with a bidirectional GRU (optionally with a CRF) over word, case and
character features; with --scheme plain (CoNLL-U files: always) any other sequence tags, such as
POS tags, scored by accuracy. Run 'rnnkit ner <command> --help' for the options of each command.

  ner train   train on a CoNLL file, scoring a dev file every epoch
  ner eval    entity precision / recall / F1 (plain tags: per tag, and accuracy) of a trained
              model on a CoNLL file
  ner tag     find entities in raw text (plain tags: tag every word)
`;

export const NER_TRAIN_HELP = `Usage: rnnkit ner train --train <file> --dev <file> --out <dir> [options]

Train a tagger: word embeddings (lower-cased, digits -> 0) + a case/shape feature + character
features -> dropout -> BiGRU -> per-token softmax or a linear-chain CRF. Adam, global-norm
clipping. After every epoch the dev file is tagged and scored (entity F1, seqeval default mode
= conlleval); <out>/best keeps the best-F1 model, <out>/last the latest.

Files are CoNLL columns: token first, NE tag last, blank line between sentences. The file's tag
scheme is detected (CoNLL-2003 is IOB1, WNUT-17 IOB2); training tags are converted to --scheme,
and predictions are converted back to each scored file's own scheme, so the F1 is computed
against the file's gold tags exactly as conlleval would.

Plain tags (--scheme plain; the default for CoNLL-U files, *.conllu): the tags of --column as
they are, such as POS tags. The dev score is the accuracy (the micro F1 over tags), and a CRF
allows every transition.

Options:
  --train <file>              training data                                   (required)
  --dev <file>                development data, scored every epoch             (required)
  --out <dir>                 checkpoints: <out>/best and <out>/last           (required)
  --scheme iob1|iob2|ioe1|ioe2|iobes|bilou|plain
                              scheme the model predicts   (default iobes with --crf, else iob2;
                              plain for CoNLL-U)
  --column N                  column of the tags, from 1 (negative: from the end)
                              (default the last; CoNLL-U: 4, UPOS)
  --format conll|conllu       file format                 (default conllu for *.conllu, else conll)
  --crf                       linear-chain CRF output layer (constrained to the scheme's
                              allowed transitions; Viterbi decoding)
  --char-features cnn|rnn|none  per-word character features                   (default ${D.charFeatures})
  --char-cell gru|lstm        cell of the char BiRNN                           (default ${D.charCell})
  --char-dim N                character embedding size                         (default ${D.charDim})
  --char-units N              char BiRNN units per direction / CNN filters     (default ${D.charUnits})
  --word-dim N                word embedding size        (default ${D.wordDim}; with --embeddings theirs)
  --embeddings <file>         pretrained word vectors: GloVe, word2vec or fastText text (.gz too).
                              Their words join the vocabulary; each word that has one starts from it
  --embeddings-words N        read at most the file's first N words            (default 100000)
  --freeze-embeddings         keep the word embeddings as the vectors set them
  --case-dim N                case-feature embedding size (0 = off)            (default ${D.caseDim})
  --min-freq N                rarer training words map to <unk>                (default ${D.minFreq})
  --units N                   word BiGRU units per direction                   (default ${D.units})
  --layers N                  stacked word BiGRU layers                        (default ${D.layers})
  --dropout p                 dropout on the BiGRU inputs and outputs          (default ${D.dropout})
  --epochs N                  passes over the training data                    (default 20)
  --batch N                   sentences per batch                              (default 16)
  --lr x                      Adam learning rate                               (default 0.002)
  --lr-decay d                learning rate of epoch e: lr / (1 + d·(e-1))     (default 0.05)
  --clip x                    clip the global gradient norm (0 = off)          (default 5)
  --patience N                stop after N epochs without a better dev F1 (0 = off) (default 0)
  --time 25m                  stop training after this long (then score and save)
  --seed S                    seed for initialisation, dropout and shuffling   (default ${D.seed})
  --json                      print the final results as JSON on stdout (logs go to stderr)
  -h, --help                  this text
`;

export const NER_EVAL_HELP = `Usage: rnnkit ner eval --model <dir> --data <file> [--json]

Tag a CoNLL file with a trained model and print entity precision / recall / F1 per type and
micro / macro / weighted averages (seqeval's classification report, default mode = conlleval).
Predictions are converted to the file's own (detected) tag scheme and scored against its tags.
A model of plain tags scores each tag over the words, and the accuracy.

Options:
  --model <dir>     a directory written by 'rnnkit ner train' (e.g. runs/ner/best)  (required)
  --data <file>     CoNLL file with gold tags in the last column                  (required)
  --column N        column of the tags, from 1 (negative: from the end)
                    (default the last; CoNLL-U: 4, UPOS)
  --format conll|conllu  file format          (default conllu for *.conllu, else conll)
  --output <file>   also write the predictions as 'token<TAB>gold<TAB>predicted' columns
  --json            print the scores as JSON
  -h, --help        this text
`;

export const NER_TAG_HELP = `Usage: rnnkit ner tag --model <dir> [text ...] [--file <file>] [options]

Find entities in raw text. Each text argument, or each non-empty line of --file (or of standard
input when neither is given), is tokenized (words, numbers, punctuation split off; URLs,
@mentions, acronyms like U.S. and abbreviations like Mr. kept whole) and tagged.

Default output: the text, then one line per entity: TYPE, [start, end) character offsets
(Unicode code points, end exclusive) and the entity's text. A model of plain tags: the text,
then its words as word/TAG.

Options:
  --model <dir>     a directory written by 'rnnkit ner train'                     (required)
  --file <file>     tag each non-empty line of this UTF-8 file
  --conll           print 'token<TAB>tag' lines instead, a blank line after each text
  --scheme s        tag scheme of the --conll output (default: the model's scheme)
  --json            print one JSON object per text: {text, tokens, tags, entities}
  -h, --help        this text
`;


function scheme(v: string, flag: string): NerScheme {
  try {
    return parseScheme(v);
  } catch (e) {
    throw new CliError(`${flag}: ${(e as Error).message}`);
  }
}

/** --column (from 1; negative from the end) and --format as readNerFile's options. */
function readOptions(v: { column?: string | undefined; format?: string | undefined }, plain: boolean | undefined): NerReadOptions {
  const o: NerReadOptions = plain === undefined ? {} : { plain };
  if (v.format !== undefined) {
    if (v.format !== 'conll' && v.format !== 'conllu') throw new CliError(`--format: expected conll or conllu, got '${v.format}'`);
    o.format = v.format;
  }
  if (v.column !== undefined) {
    const c = Number(v.column);
    if (!Number.isInteger(c) || c === 0) throw new CliError(`--column: expected a column number from 1 (or negative, from the end), got '${v.column}'`);
    o.tagColumn = c > 0 ? c - 1 : c;
  }
  return o;
}

/** Read a CoNLL file; format and I/O problems become one-line user errors (file:line: ...). */
function readData(path: string, flag: string, o: NerReadOptions = {}): NerData {
  try {
    return readNerFile(path, o);
  } catch (e) {
    const err = e as Error;
    if (err.name === 'ConllParseError') throw new CliError(err.message);
    throw new CliError(`${flag}: ${err.message}`);
  }
}

async function load(dir: string): Promise<LoadedNer> {
  try {
    return await loadNer(dir);
  } catch (e) {
    throw new CliError(`--model: ${(e as Error).message}`);
  }
}

const pct = (x: number): string => (100 * x).toFixed(2);

function scoresJson(s: EntityScores): Record<string, unknown> {
  return {
    precision: s.precision, recall: s.recall, f1: s.f1, support: s.support,
    perType: Object.fromEntries(s.types.map((t) => [t, s.perType[t]])),
    macroAvg: s.macroAvg, weightedAvg: s.weightedAvg, counts: s.counts.total,
  };
}

export async function nerCli(argv: string[]): Promise<void> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case undefined: case '-h': case '--help': case 'help':
      process.stdout.write(NER_HELP); return;
    case 'train': return nerTrainCli(rest);
    case 'eval': return nerEvalCli(rest);
    case 'tag': return nerTagCli(rest);
    default: throw new CliError(`ner: expected 'train', 'eval' or 'tag', got '${sub}' (rnnkit ner --help)`);
  }
}

export async function nerTrainCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      train: { type: 'string' }, dev: { type: 'string' }, out: { type: 'string' }, scheme: { type: 'string' },
      column: { type: 'string' }, format: { type: 'string' }, crf: { type: 'boolean' }, 'char-features': { type: 'string' }, 'char-cell': { type: 'string' },
      'char-dim': { type: 'string' }, 'char-units': { type: 'string' }, 'word-dim': { type: 'string' },
      embeddings: { type: 'string' }, 'embeddings-words': { type: 'string' }, 'freeze-embeddings': { type: 'boolean' },
      'case-dim': { type: 'string' }, 'min-freq': { type: 'string' }, units: { type: 'string' }, layers: { type: 'string' },
      dropout: { type: 'string' }, epochs: { type: 'string' }, batch: { type: 'string' }, lr: { type: 'string' },
      'lr-decay': { type: 'string' }, clip: { type: 'string' }, patience: { type: 'string' }, time: { type: 'string' }, seed: { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(NER_TRAIN_HELP); return; }
  for (const k of ['train', 'dev', 'out'] as const) if (!v[k]) throw new CliError(`--${k} <${k === 'out' ? 'dir' : 'file'}> is required (see --help)`);
  const charFeatures = v['char-features'] ?? D.charFeatures;
  if (!['cnn', 'rnn', 'none'].includes(charFeatures)) throw new CliError(`--char-features: expected cnn, rnn or none, got '${charFeatures}'`);
  const charCell = v['char-cell'] ?? D.charCell;
  if (!['gru', 'lstm'].includes(charCell)) throw new CliError(`--char-cell: expected gru or lstm, got '${charCell}'`);
  const config: Partial<NerConfig> = {
    crf: v.crf ?? false,
    charFeatures: charFeatures as NerConfig['charFeatures'],
    charCell: charCell as NerConfig['charCell'],
    charDim: int(v['char-dim'], 'char-dim', D.charDim),
    charUnits: int(v['char-units'], 'char-units', D.charUnits),
    wordDim: int(v['word-dim'], 'word-dim', D.wordDim),
    caseDim: int(v['case-dim'], 'case-dim', D.caseDim, 0),
    minFreq: int(v['min-freq'], 'min-freq', D.minFreq),
    units: int(v.units, 'units', D.units),
    layers: int(v.layers, 'layers', D.layers),
    dropout: num(v.dropout, 'dropout', D.dropout, (x) => x >= 0 && x < 1, 'a number in [0, 1)'),
    seed: int(v.seed, 'seed', D.seed, 0),
  };
  const epochs = int(v.epochs, 'epochs', 20);
  const batchSize = int(v.batch, 'batch', 16);
  const lr = num(v.lr, 'lr', 0.002, (x) => x > 0, 'a positive number');
  const lrDecay = num(v['lr-decay'], 'lr-decay', 0.05, (x) => x >= 0, 'a number >= 0');
  const clip = num(v.clip, 'clip', 5, (x) => x >= 0, 'a number >= 0');
  const patience = int(v.patience, 'patience', 0, 0);
  const timeMs = v.time !== undefined ? parseDuration(v.time, '--time') : undefined;
  const sch = v.scheme !== undefined ? scheme(v.scheme, '--scheme') : undefined;
  // (--scheme plain reads plain tags; an entity scheme reads entity tags; neither: as the file's format says.)
  const ro = readOptions(v, sch === undefined ? undefined : sch === 'PLAIN');
  const train = readData(v.train!, '--train', ro);
  const dev = readData(v.dev!, '--dev', ro);
  const pre = await pretrainedVectors(v, '--word-dim', { given: v['word-dim'] !== undefined, value: config.wordDim! }, 100000);
  const pretrained = pre.vectors ?? undefined;
  config.wordDim = pre.size;
  outDir(v.out!); // (after the arguments and data are checked: a typo leaves no empty directory)
  const log = v.json ? (s: string) => process.stderr.write(`${s}\n`) : (s: string) => process.stdout.write(`${s}\n`);
  const progress = new Progress(process.stderr);
  let stop = false;
  const onSigint = () => { stop = true; };
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await trainNer({
      train, dev, out: v.out!, config, ...(sch ? { scheme: sch } : {}), epochs, batchSize, lr, lrDecay, clip, patience,
      ...(pretrained ? { pretrained, freezeEmbeddings: v['freeze-embeddings'] ?? false } : {}),
      ...(timeMs !== undefined ? { timeMs } : {}),
      log: (s) => { if (!v.json) progress.log(s); else log(s); },
      onBatch: (p) => progress.update({
        done: (p.epoch - 1) * p.batches + p.batch, total: epochs * p.batches,
        fields: { epoch: `${p.epoch}/${epochs}`, loss: p.loss.toFixed(4), 'tok/s': Math.round(p.tokensPerSecond).toLocaleString('en-US') },
      }),
      shouldStop: () => stop,
    });
  } finally {
    process.off('SIGINT', onSigint);
    progress.done();
  }
  const summary = {
    bestDevF1: result.bestDevF1, bestEpoch: result.bestEpoch, lastDevF1: result.lastDevF1, epochs: result.epochs,
    seconds: result.seconds, tokensPerSecond: result.tokensPerSecond, parameters: result.parameters,
    scheme: result.scheme, sourceScheme: result.sourceScheme, labels: result.labels, config: result.config,
    vocabulary: result.vocabulary, backend: backendName(), history: result.history,
    best: result.best ? scoresJson(result.best.scores) : null,
    checkpoints: { best: join(v.out!, 'best'), last: join(v.out!, 'last') },
  };
  if (v.json) { process.stdout.write(`${JSON.stringify(summary, null, 2)}\n`); return; }
  if (result.best) process.stdout.write(`\nbest dev scores (epoch ${result.bestEpoch}):\n${formatClassificationReport(result.best.scores, 4)}`);
  process.stdout.write(`done: ${result.epochs} epochs in ${fmtTime(result.seconds)}, ${Math.round(result.tokensPerSecond).toLocaleString('en-US')} training tokens/s; ` +
    `best dev ${result.scheme === 'PLAIN' ? 'accuracy' : 'entity F1'} ${pct(result.bestDevF1)} (epoch ${result.bestEpoch}). Checkpoints: ${summary.checkpoints.best}, ${summary.checkpoints.last}\n`);
}

export async function nerEvalCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({
    args: argv, strict: true,
    options: {
      model: { type: 'string' }, data: { type: 'string' }, column: { type: 'string' }, format: { type: 'string' }, output: { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(NER_EVAL_HELP); return; }
  if (!v.model) throw new CliError('--model <dir> is required (see --help)');
  if (!v.data) throw new CliError('--data <file> is required (see --help)');
  const ro = readOptions(v, undefined); // (checked before the model loads)
  const { model } = await load(v.model);
  const data = readData(v.data, '--data', { ...ro, plain: model.scheme === 'PLAIN' });
  const ev = evaluateNer(model, data);
  if (v.output) {
    let text = '';
    data.sentences.forEach((s, i) => {
      s.tokens.forEach((t, j) => { text += `${t}\t${s.tags[j]}\t${ev.predicted[i]![j]}\n`; });
      text += '\n';
    });
    try {
      writeFileSync(v.output, text);
    } catch (e) {
      throw new CliError(`--output: cannot write '${v.output}': ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  const s = ev.scores;
  if (v.json) {
    process.stdout.write(`${JSON.stringify({
      file: data.path, scheme: data.scheme, modelScheme: model.scheme, sentences: ev.sentences, tokens: ev.tokens,
      seconds: ev.seconds, tokensPerSecond: ev.tokensPerSecond, ...scoresJson(s),
    }, null, 2)}\n`);
    return;
  }
  process.stdout.write(`${data.path}: ${ev.sentences.toLocaleString('en-US')} sentences, ${ev.tokens.toLocaleString('en-US')} tokens (${data.scheme}); ` +
    `tagged in ${ev.seconds.toFixed(1)}s (${Math.round(ev.tokensPerSecond).toLocaleString('en-US')} tokens/s)\n\n`);
  process.stdout.write(formatClassificationReport(s, 4));
  if (model.scheme === 'PLAIN') {
    process.stdout.write(`\naccuracy: ${pct(s.f1)}  (${s.counts.total.truePositives} of ${s.counts.total.support} words tagged right)\n`);
    // (A wrong --column shows here: tags the model never saw.)
    const known = new Set(model.labels), unknown = new Map<string, number>();
    for (const st of data.sentences) for (const t of st.tags) if (!known.has(t)) unknown.set(t, (unknown.get(t) ?? 0) + 1);
    if (unknown.size > 0) {
      const words = [...unknown.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(`note: ${words} words have tags the model was not trained on: ${[...unknown.keys()].slice(0, 10).join(', ')}${unknown.size > 10 ? ', ...' : ''}\n`);
    }
    return;
  }
  process.stdout.write(`\nentity F1 (micro, conlleval / seqeval default mode): ${pct(s.f1)}  (P ${pct(s.precision)}, R ${pct(s.recall)}; ` +
    `${s.counts.total.truePositives} of ${s.counts.total.support} gold entities found, ${s.counts.total.predicted} predicted)\n`);
}

export async function nerTagCli(argv: string[]): Promise<void> {
  const { values: v, positionals } = parseArgs({
    args: argv, strict: true, allowPositionals: true,
    options: {
      model: { type: 'string' }, file: { type: 'string' }, conll: { type: 'boolean' }, scheme: { type: 'string' },
      json: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(NER_TAG_HELP); return; }
  if (!v.model) throw new CliError('--model <dir> is required (see --help)');
  if (v.json && v.conll) throw new CliError('give at most one of --json, --conll');
  if (v.scheme !== undefined && !v.conll) throw new CliError('--scheme only applies to --conll output');
  let texts = [...positionals];
  if (v.file !== undefined || texts.length === 0) {
    const path = v.file ?? '/dev/stdin';
    let raw: string;
    try {
      raw = new TextDecoder('utf-8', { fatal: true }).decode(readFileSync(v.file ?? 0));
    } catch (e) {
      throw new CliError(`${v.file ? '--file' : 'stdin'}: cannot read '${path}': ${fsReason(e)}`);
    }
    texts.push(...raw.split(/\r?\n/).filter((l) => l.trim().length > 0));
  }
  texts = texts.filter((t) => t.trim().length > 0);
  const { model } = await load(v.model);
  const outScheme = v.scheme !== undefined ? scheme(v.scheme, '--scheme') : model.scheme;
  const out: string[] = [];
  for (const r of tagTexts(model, texts)) {
    if (v.json) { out.push(JSON.stringify({ text: r.text, tokens: r.tokens, tags: r.tags, entities: r.entities })); continue; }
    if (v.conll) {
      let tags: string[];
      try {
        tags = convertNerTags(r.tags, model.scheme, outScheme);
      } catch (e) {
        throw new CliError(`--scheme: ${(e as Error).message}`);
      }
      r.tokens.forEach((t, i) => out.push(`${t}\t${tags[i]}`));
      out.push('');
      continue;
    }
    out.push(r.text);
    if (model.scheme === 'PLAIN') out.push(`  ${r.tokens.map((t, i) => `${t}/${r.tags[i]}`).join(' ')}`);
    for (const e of r.entities) out.push(`  ${e.type}\t${e.start}\t${e.end}\t${e.text}`);
  }
  process.stdout.write(out.length ? `${out.join('\n')}\n` : '');
}
