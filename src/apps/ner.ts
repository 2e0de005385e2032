// Named-entity recognition (the tutorial's exercise 3) on top of apps/ner-model.ts: reading CoNLL
// files, the training loop (Adam, clipping, per-epoch dev entity F1, best/last checkpoints),
// evaluation, model bundles, and tagging raw text.
//
// Tag schemes. The training file's scheme is detected (CoNLL-2003 eng.train: IOB1). Its tags are
// converted to the model's scheme (default IOBES with --crf, IOB2 otherwise) for training.
// For scoring, predictions are converted back to the scheme of the file being scored and compared
// with that file's own gold tags, unchanged, by seqeval's default mode (= conlleval): the F1 is
// the standard CoNLL entity F1 whatever scheme the model uses internally.
import { readConllFile } from '../data/node/conll-file.js';
import { detectScheme, tagsToSpans } from '../data/tags.js';
import { Vocab } from '../data/vocab.js';
import { vectorLookup, type WordVectors } from '../data/word-vectors.js';
import { planBatches } from '../data/batching.js';
import { entityScores, tokenScores, type EntityScores } from '../models/entity-metrics.js';
import { BUNDLE_FORMAT, FORMAT_VERSION, loadBundle, saveBundle, type TensorMap } from '../models/node/bundle.js';
import { getOptimizer } from '../optim/optimizers.js';
import { rng } from '../tensor/rng.js';
import { withWeightsToFollow } from '../tensor/init.js';
import {
  buildVocabs, CASE_CLASSES, convertNerTags, isNerScheme, NER_SCHEMES, nerLabels, NerTagger, singletonIds, validateConfig, wordKey,
  type EncodedSentence, type NerConfig, type NerScheme, type NerVocabs,
} from './ner-model.js';

export { NerTagger, DEFAULT_NER_CONFIG, convertNerTags, type NerConfig, type NerScheme } from './ner-model.js';

export const NER_APP_VERSION = 1;
export const VOCAB_FILE = 'vocab.json';

export interface NerSentence {
  tokens: string[];
  tags: string[];
}

export interface NerData {
  path: string;
  sentences: NerSentence[];
  /** The file's tags' scheme: detected, or PLAIN when read so. */
  scheme: NerScheme;
  tokens: number;
}

export interface NerReadOptions {
  /**
   * The tags as they are (POS tags and the like: scheme PLAIN), not entity tags. Default false,
   * but true for CoNLL-U (its UPOS and XPOS columns hold POS tags).
   */
  plain?: boolean;
  /** 'conll' (default; 'conllu' for a file named *.conllu) or 'conllu'. */
  format?: 'conll' | 'conllu';
  /** Column of the tags, from 0 (negative: from the end). Default the last (CoNLL-U: UPOS, 3). */
  tagColumn?: number;
}

/**
 * Read a CoNLL file (token in the first column, NE tag in the last, or as the options say).
 * Errors name the file (and line, for format errors: ConllParseError); tags that are not entity
 * tags say that plain tags need `plain`.
 */
export function readNerFile(path: string, o: NerReadOptions = {}): NerData {
  const format = o.format ?? (path.endsWith('.conllu') ? 'conllu' : 'conll');
  const plain = o.plain ?? format === 'conllu';
  let data;
  try {
    data = readConllFile(path, { format, ...(o.tagColumn !== undefined ? { tagColumn: o.tagColumn } : {}), validateTags: !plain });
  } catch (e) {
    const err = e as Error;
    if (err.name === 'ConllParseError' && /is neither "O" nor|has unknown prefix/.test(err.message)) {
      err.message += ' (tags without entity prefixes, such as POS tags, are read as they are with the scheme plain)';
    }
    throw err;
  }
  const sentences = data.sentences.map((s) => ({ tokens: s.tokens, tags: s.tags }));
  if (sentences.length === 0) throw new Error(`${path}: no sentences found`);
  const scheme = plain ? 'PLAIN' : detectScheme(sentences.map((s) => s.tags));
  return { path, sentences, scheme, tokens: sentences.reduce((n, s) => n + s.tokens.length, 0) };
}

/** Parse a scheme name given in any case ('iobes', 'IOB2', 'plain', ...). */
export function parseScheme(s: string): NerScheme {
  const up = s.toUpperCase();
  if (!isNerScheme(up)) throw new Error(`unknown tag scheme '${s}'; expected one of ${NER_SCHEMES.map((x) => x.toLowerCase()).join(', ')}`);
  return up;
}

/**
 * Predictions (in the scored file's scheme) scored against the file's tags: entity precision,
 * recall and F1 (seqeval's default mode = conlleval); for plain tags, per tag, whose micro F1 is
 * the accuracy.
 */
export function scoreTags(data: NerData, predicted: readonly (readonly string[])[]): EntityScores {
  const gold = data.sentences.map((s) => s.tags);
  return data.scheme === 'PLAIN' ? tokenScores(gold, predicted) : entityScores(gold, predicted, { mode: 'default' });
}

// ---------------------------------------------------------------------------------------------
// Evaluation

export interface NerEvaluation {
  scores: EntityScores;
  /** Predictions converted to the scored file's scheme. */
  predicted: string[][];
  sentences: number;
  tokens: number;
  seconds: number;
  tokensPerSecond: number;
}

/** The model's scores on a file, against its own gold tags (scoreTags). */
export function evaluateNer(model: NerTagger, data: NerData, batchSize = 64): NerEvaluation {
  const t0 = performance.now();
  const raw = model.predict(data.sentences.map((s) => s.tokens), batchSize);
  const seconds = (performance.now() - t0) / 1000;
  const predicted = raw.map((p) => convertNerTags(p, model.scheme, data.scheme));
  const scores = scoreTags(data, predicted);
  return { scores, predicted, sentences: data.sentences.length, tokens: data.tokens, seconds, tokensPerSecond: data.tokens / Math.max(seconds, 1e-9) };
}

// ---------------------------------------------------------------------------------------------
// Bundles

export interface NerTrainingInfo {
  epoch: number;
  devF1: number;
  bestDevF1: number;
  history: NerEpochLog[];
  [k: string]: unknown;
}

export interface LoadedNer {
  model: NerTagger;
  /** Scheme of the file the model was trained on. */
  sourceScheme: NerScheme;
  training: Partial<NerTrainingInfo> | null;
}

export async function saveNer(model: NerTagger, dir: string, sourceScheme: NerScheme, training: NerTrainingInfo | null = null): Promise<void> {
  const weights: TensorMap = {};
  const entries = model.weightEntries();
  for (const e of entries) weights[e.name] = { dtype: 'F32', shape: e.shape, data: model.params.slice(e.offset, e.offset + e.size) };
  await saveBundle(dir, {
    manifest: {
      format: BUNDLE_FORMAT, formatVersion: FORMAT_VERSION, createdBy: 'rnnkit 0.1.0',
      app: 'ner', appVersion: NER_APP_VERSION,
      config: model.config,
      scheme: model.scheme, sourceScheme,
      labels: [...model.labels],
      caseClasses: [...CASE_CLASSES],
      vocabulary: { file: VOCAB_FILE, words: model.words.size, chars: model.chars.size },
      weights: entries.map((e) => ({ name: e.name, shape: e.shape, dtype: 'float32' })),
      training,
    },
    weights,
    extraFiles: { [VOCAB_FILE]: JSON.stringify({ words: model.words.toJSON(), chars: model.chars.toJSON() }) },
  });
}

/** Load a bundle written by saveNer; every part is checked and errors name the file. */
export async function loadNer(dir: string): Promise<LoadedNer> {
  const b = await loadBundle(dir);
  const where = `${dir}/model.json`;
  const m = b.manifest as Record<string, unknown>;
  if (m.app !== 'ner') throw new Error(`${where}: not an NER model (app is ${JSON.stringify(m.app ?? null)}, expected "ner")`);
  if (m.appVersion !== NER_APP_VERSION) throw new Error(`${where}: unsupported NER model version ${JSON.stringify(m.appVersion)} (this rnnkit reads ${NER_APP_VERSION})`);
  if (m.config === null || typeof m.config !== 'object' || Array.isArray(m.config)) throw new Error(`${where}: "config" must be an object`);
  const config = validateConfig(m.config as Record<string, unknown>, `${where}: config`);
  const scheme = isNerScheme(m.scheme) ? m.scheme : null;
  if (!scheme) throw new Error(`${where}: "scheme" must be one of ${NER_SCHEMES.join(', ')}, got ${JSON.stringify(m.scheme)}`);
  const sourceScheme = isNerScheme(m.sourceScheme) ? m.sourceScheme : null;
  if (!sourceScheme) throw new Error(`${where}: "sourceScheme" must be one of ${NER_SCHEMES.join(', ')}, got ${JSON.stringify(m.sourceScheme)}`);
  if (!Array.isArray(m.labels) || m.labels.length < 1 || m.labels.some((l) => typeof l !== 'string')) throw new Error(`${where}: "labels" must be a non-empty array of tags`);
  if (JSON.stringify(m.caseClasses) !== JSON.stringify(CASE_CLASSES)) {
    throw new Error(`${where}: "caseClasses" ${JSON.stringify(m.caseClasses)} differ from this rnnkit's ${JSON.stringify(CASE_CLASSES)}`);
  }
  const vfile = `${dir}/${VOCAB_FILE}`;
  const text = b.extraFiles?.[VOCAB_FILE];
  if (typeof text !== 'string') throw new Error(`${vfile}: missing (an NER bundle keeps its vocabularies there)`);
  let words: Vocab, chars: Vocab;
  try {
    const v = JSON.parse(text) as { words?: unknown; chars?: unknown };
    words = Vocab.fromJSON(v.words);
    chars = Vocab.fromJSON(v.chars);
  } catch (e) {
    throw new Error(`${vfile}: ${(e as Error).message}`);
  }
  const voc = m.vocabulary as { words?: unknown; chars?: unknown } | undefined;
  if (voc && (voc.words !== words.size || voc.chars !== chars.size)) {
    throw new Error(`${where}: vocabulary sizes ${JSON.stringify(voc.words)}/${JSON.stringify(voc.chars)} do not match ${vfile} (${words.size} words, ${chars.size} characters)`);
  }
  let model: NerTagger;
  try {
    // Every weight is set from the file below (a missing one is an error).
    model = withWeightsToFollow(() => new NerTagger(config, { words, chars }, m.labels as string[], scheme));
  } catch (e) {
    throw new Error(`${where}: ${(e as Error).message}`);
  }
  model.setWeights(b.weights as Record<string, { shape: number[]; data: Float32Array; dtype: string }>, `${dir}/weights.safetensors`);
  const training = m.training && typeof m.training === 'object' ? (m.training as Partial<NerTrainingInfo>) : null;
  return { model, sourceScheme, training };
}

// ---------------------------------------------------------------------------------------------
// Training

export interface NerTrainOptions {
  train: NerData;
  dev: NerData;
  /** Checkpoints go to <out>/best (best dev F1) and <out>/last. null = do not save. */
  out: string | null;
  config?: Partial<NerConfig>;
  /** Scheme the model is trained in (default IOBES with a CRF, IOB2 without; PLAIN for plain training tags). */
  scheme?: NerScheme;
  /**
   * Pretrained word vectors (readWordVectors): their words join the vocabulary after the training
   * words, and every word they have starts from its vector (config.wordDim must be their size).
   */
  pretrained?: WordVectors;
  /** Keep the word embeddings as they start (the pretrained vectors): training leaves them out. */
  freezeEmbeddings?: boolean;
  epochs: number;
  batchSize: number;
  lr: number;
  /** Inverse-time decay: the learning rate of epoch e (1-based) is lr / (1 + lrDecay·(e − 1)). Default 0. */
  lrDecay?: number;
  /** Clip the global gradient norm (0 = off). */
  clip: number;
  /** Stop after this many epochs without a better dev F1 (0 = never). */
  patience?: number;
  /** Stop (after the current batch, then evaluate and save) once this much time has passed. */
  timeMs?: number;
  log?: (s: string) => void;
  onBatch?: (p: { epoch: number; batch: number; batches: number; loss: number; tokensPerSecond: number }) => void;
  shouldStop?: () => boolean;
}

export interface NerEpochLog {
  epoch: number;
  loss: number;
  precision: number;
  recall: number;
  f1: number;
  seconds: number;
  tokensPerSecond: number;
}

export interface NerTrainResult {
  epochs: number;
  bestEpoch: number;
  bestDevF1: number;
  lastDevF1: number;
  history: NerEpochLog[];
  /** Wall time of the whole run (training, evaluation, checkpoints). */
  seconds: number;
  /** Training tokens per second (forward + backward + update only). */
  tokensPerSecond: number;
  parameters: number;
  scheme: NerScheme;
  sourceScheme: NerScheme;
  labels: string[];
  config: NerConfig;
  vocabulary: { words: number; chars: number };
  best: NerEvaluation | null;
  model: NerTagger;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/**
 * The vocabulary with the vectors' words added (normalised as the tagger reads words: the first
 * vector of a normalised word wins), after the training words, and the vector of each word.
 */
function withPretrained(vocabs: NerVocabs, wv: WordVectors, cfg: NerConfig): { vocabs: NerVocabs; vectorOf: (w: string) => Float32Array | null; added: number } {
  if (wv.dim !== cfg.wordDim) throw new Error(`the pretrained vectors have ${wv.dim} values, the word embedding ${cfg.wordDim} (give wordDim ${wv.dim})`);
  const { vectorOf, keys } = vectorLookup(wv, (w) => wordKey(w, cfg));
  const extra = keys.filter((k) => !vocabs.words.has(k));
  return { vocabs: { words: new Vocab([...vocabs.words.tokens, ...extra]), chars: vocabs.chars }, vectorOf, added: extra.length };
}

export async function trainNer(o: NerTrainOptions): Promise<NerTrainResult> {
  const log = o.log ?? (() => {});
  const t0 = performance.now();
  const cfg = validateConfig((o.config ?? {}) as Record<string, unknown>);
  const sourceScheme = o.train.scheme;
  const scheme = o.scheme ?? (sourceScheme === 'PLAIN' ? 'PLAIN' : cfg.crf ? 'IOBES' : 'IOB2');
  const trainTags = o.train.sentences.map((s) => convertNerTags(s.tags, sourceScheme, scheme));
  const labels = nerLabels(trainTags.flat(), scheme);
  const vocabs = buildVocabs(o.train.sentences.map((s) => s.tokens), cfg);
  const pre = o.pretrained ? withPretrained(vocabs, o.pretrained, cfg) : null;
  const model = new NerTagger(cfg, pre ? pre.vocabs : vocabs, labels, scheme);
  const enc: EncodedSentence[] = o.train.sentences.map((s, i) => model.encode(s.tokens, trainTags[i]!)).filter((e) => e.words.length > 0);
  if (pre) {
    const found = model.initWordVectors(pre.vectorOf);
    model.freezeWords = o.freezeEmbeddings ?? false;
    let tokens = 0, covered = 0;
    for (const e of enc) for (const w of e.words) { tokens++; if (w >= 2 && pre.vectorOf(model.words.tokens[w]!)) covered++; }
    log(`pretrained vectors: ${o.pretrained!.words.length.toLocaleString('en-US')} words of ${o.pretrained!.dim} values; ${found.toLocaleString('en-US')} of the ` +
      `${model.words.size.toLocaleString('en-US')} vocabulary words start from one (${pre.added.toLocaleString('en-US')} of them added by the vectors), ` +
      `${((100 * covered) / Math.max(tokens, 1)).toFixed(1)}% of the training tokens${model.freezeWords ? '; word embeddings frozen' : ''}`);
  } else if (o.freezeEmbeddings) {
    throw new Error('freezeEmbeddings: there are no pretrained vectors to keep (give pretrained)');
  }
  const singletons = singletonIds(enc, model.words.size);
  const opt = getOptimizer('adam', { learningRate: o.lr });
  const r = rng(cfg.seed);
  log(`ner: ${enc.length.toLocaleString('en-US')} training sentences (${o.train.tokens.toLocaleString('en-US')} tokens, ${sourceScheme} -> ${scheme}), ` +
    `${o.dev.sentences.length.toLocaleString('en-US')} dev sentences (${o.dev.scheme}); ${model.words.size.toLocaleString('en-US')} words, ` +
    `${model.chars.size} characters, ${labels.length} labels; ${model.params.length.toLocaleString('en-US')} parameters; ` +
    `char features ${cfg.charFeatures}${cfg.charFeatures === 'rnn' ? ` (${cfg.charCell})` : ''}, BiGRU ${cfg.layers}x${cfg.units}, ${cfg.crf ? 'CRF' : 'softmax'}`);
  const history: NerEpochLog[] = [];
  let best = -1, bestEpoch = 0, bestEval: NerEvaluation | null = null, lastF1 = 0, sinceBest = 0;
  let trainMs = 0, trainTokens = 0;
  const deadline = o.timeMs !== undefined ? Date.now() + o.timeMs : Infinity;
  const lengths = enc.map((e) => e.words.length);
  let epoch = 0;
  for (epoch = 1; epoch <= o.epochs; epoch++) {
    const te = performance.now();
    opt.learningRate = o.lr / (1 + (o.lrDecay ?? 0) * (epoch - 1));
    const plan = planBatches(lengths, { batchSize: o.batchSize, rng: r, bucket: 50 });
    let lossSum = 0, tokSum = 0, epochTokens = 0, epochMs = 0;
    let stopped = false;
    for (let bi = 0; bi < plan.length; bi++) {
      const batch = Array.from(plan[bi]!, (i) => enc[i]!);
      const ts = performance.now();
      const { loss, tokens } = model.trainStep(batch, opt, o.clip, r, singletons);
      const dt = performance.now() - ts;
      if (!Number.isFinite(loss)) throw new Error(`training diverged: the loss became ${loss} at epoch ${epoch}, batch ${bi + 1}; lower --lr or set --clip`);
      trainMs += dt; epochMs += dt; trainTokens += tokens; epochTokens += tokens;
      lossSum += loss * tokens; tokSum += tokens;
      o.onBatch?.({ epoch, batch: bi + 1, batches: plan.length, loss: lossSum / tokSum, tokensPerSecond: trainTokens / (trainMs / 1000) });
      await tick();
      if (o.shouldStop?.() || Date.now() > deadline) { stopped = true; break; }
    }
    const ev = evaluateNer(model, o.dev);
    const s = ev.scores;
    lastF1 = s.f1;
    const entry: NerEpochLog = {
      epoch, loss: lossSum / Math.max(tokSum, 1), precision: s.precision, recall: s.recall, f1: s.f1,
      seconds: (performance.now() - te) / 1000, tokensPerSecond: epochTokens / Math.max(epochMs / 1000, 1e-9),
    };
    history.push(entry);
    const improved = s.f1 > best;
    if (improved) { best = s.f1; bestEpoch = epoch; bestEval = ev; sinceBest = 0; } else sinceBest++;
    const scored = scheme === 'PLAIN' ? `accuracy ${(100 * s.f1).toFixed(2)}` : `P ${(100 * s.precision).toFixed(2)} R ${(100 * s.recall).toFixed(2)} F1 ${(100 * s.f1).toFixed(2)}`;
    log(`epoch ${epoch}/${o.epochs}${stopped ? ' (stopped early)' : ''}: loss ${entry.loss.toFixed(4)}  dev ${scored}` +
      `${improved ? ' *best' : ''}  ${entry.seconds.toFixed(0)}s, ${Math.round(entry.tokensPerSecond).toLocaleString('en-US')} tokens/s`);
    if (o.out !== null) {
      const info: NerTrainingInfo = { epoch, devF1: s.f1, bestDevF1: best, history, devFile: o.dev.path, trainFile: o.train.path, lr: o.lr, lrDecay: o.lrDecay ?? 0, batchSize: o.batchSize, clip: o.clip };
      if (improved) await saveNer(model, `${o.out}/best`, sourceScheme, info);
      await saveNer(model, `${o.out}/last`, sourceScheme, info);
    }
    if (stopped) break;
    if (o.patience && sinceBest >= o.patience) { log(`no dev improvement for ${o.patience} epochs: stopping`); break; }
  }
  return {
    epochs: history.length, bestEpoch, bestDevF1: best, lastDevF1: lastF1, history,
    seconds: (performance.now() - t0) / 1000, tokensPerSecond: trainTokens / Math.max(trainMs / 1000, 1e-9),
    parameters: model.params.length, scheme, sourceScheme, labels, config: cfg,
    vocabulary: { words: model.words.size, chars: model.chars.size }, best: bestEval, model,
  };
}

// ---------------------------------------------------------------------------------------------
// Raw text

export interface Tokenized {
  tokens: string[];
  /** [start, end) of each token, in code points (Python string indices). */
  spans: [number, number][];
}

const ABBREV = 'Mr|Mrs|Ms|Dr|Prof|St|Jr|Sr|Inc|Co|Corp|Ltd|Bros|Gen|Gov|Sen|Rep|Rev|Mt|Ft|vs|etc|Jan|Feb|Mar|Apr|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec';
const TOKEN_RE = new RegExp(
  [
    String.raw`https?:\/\/\S+`, // URLs
    String.raw`[@#][\p{L}\p{N}_]+`, // mentions, hashtags
    String.raw`(?:\p{L}\.){2,}`, // U.S., U.N.
    String.raw`(?:${ABBREV})\.(?![\p{L}\p{N}])`, // Mr. Inc.
    String.raw`\p{N}+(?:[.,:\/-]\p{N}+)*`, // 1,000  3.5  1996-08-30  12:30
    String.raw`[\p{L}\p{M}\p{N}]+(?:['’-][\p{L}\p{M}\p{N}]+)*`, // words, O'Neill, e-mail
    String.raw`\S`, // any other single character
  ].join('|'),
  'gu',
);

/**
 * A simple tokenizer for raw text: URLs, @mentions/#hashtags, acronyms with dots, a few
 * abbreviations (Mr., Inc., ...), numbers, words (with inner ' and -), and every other
 * non-space character on its own.
 */
export function tokenize(text: string): Tokenized {
  const tokens: string[] = [], spans: [number, number][] = [];
  let cu = 0, cp = 0; // running UTF-16 -> code point offset
  for (const m of text.matchAll(TOKEN_RE)) {
    const at = m.index!;
    for (; cu < at; cu++) { const c = text.charCodeAt(cu); if (c < 0xdc00 || c > 0xdfff) cp++; }
    const start = cp;
    const tok = m[0];
    let n = 0;
    for (const _ of tok) n++;
    tokens.push(tok);
    spans.push([start, start + n]);
    cu = at + tok.length; cp = start + n;
  }
  return { tokens, spans };
}

export interface TaggedEntity {
  type: string;
  /** Code-point offsets into the text, end exclusive. */
  start: number;
  end: number;
  text: string;
  /** Token indices, end exclusive. */
  tokenStart: number;
  tokenEnd: number;
}

export interface TaggedText {
  text: string;
  tokens: string[];
  spans: [number, number][];
  /** Predicted tags in the model's scheme. */
  tags: string[];
  entities: TaggedEntity[];
}

/** Tokenize and tag many texts (batched). */
export function tagTexts(model: NerTagger, texts: readonly string[]): TaggedText[] {
  const tok = texts.map(tokenize);
  const tags = model.predict(tok.map((t) => t.tokens));
  return texts.map((text, i) => {
    const { tokens, spans } = tok[i]!;
    const cps = [...text];
    // (Plain tags name no entities.)
    const entities = (model.scheme === 'PLAIN' ? [] : tagsToSpans(tags[i]!, model.scheme)).map((e) => {
      const start = spans[e.start]![0], end = spans[e.end - 1]![1];
      return { type: e.type, start, end, text: cps.slice(start, end).join(''), tokenStart: e.start, tokenEnd: e.end };
    });
    return { text, tokens, spans, tags: tags[i]!, entities };
  });
}
