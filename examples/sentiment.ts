// Movie-review sentiment with a bidirectional LSTM, in the style of the Keras / TensorFlow text
// classification tutorial (the rnnkit tutorial's exercise 2).
//
//   npx tsc -p tsconfig.json && node dist/examples/sentiment.js     # 3,000 IMDB reviews, about 10 seconds
//   SENTIMENT_FULL=1 node dist/examples/sentiment.js                 # all 25,000 reviews (much longer)
//
// The reviews come from $IMDB (a .jsonl[.gz] file with "text" and "label", or an aclImdb folder),
// else /work/shared/datasets/imdb/train.jsonl.gz if it exists, else the official archive is
// downloaded once into ~/.cache/rnnkit (about 80 MB).
// For a tuned command-line version with length bucketing and checkpoints: `rnnkit sentiment train`.
import { existsSync } from 'node:fs';
import * as rnn from '../src/index.js';
import { loadImdbArchive, readDataset, splitStratified, Vocab, WordTokenizer } from '../src/data/node/index.js';

const FULL = process.env.SENTIMENT_FULL === '1';
const SUBSET = FULL ? Infinity : 3000; // reviews used by default, to finish in seconds
const MAX_LEN = FULL ? 400 : 200;      // keep the last MAX_LEN tokens of a review (the verdict is at the end)
const VOCAB_SIZE = FULL ? 20000 : 10000;
const EPOCHS = FULL ? 3 : 3;

// 1. Load the reviews (label 1 = positive) and hold out a stratified 10% for validation.
const path = process.env.IMDB ?? (existsSync('/work/shared/datasets/imdb/train.jsonl.gz') ? '/work/shared/datasets/imdb/train.jsonl.gz' : null);
const all = path ? readDataset(path) : await loadImdbArchive({ log: console.log });
const pick = Number.isFinite(SUBSET) && SUBSET < all.texts.length ? splitStratified(all.labels, SUBSET / all.texts.length, 1).valid : Int32Array.from(all.texts.keys());
const split = splitStratified(Array.from(pick, (i) => all.labels[i]!), 0.1, 42);
const trainIdx = Array.from(split.train, (k) => pick[k]!), valIdx = Array.from(split.valid, (k) => pick[k]!);
console.log(`${trainIdx.length} training and ${valIdx.length} validation reviews from ${path ?? 'the IMDB archive'}`);

// 2. Text -> token ids: tokenize, build the vocabulary on the training reviews, cut long reviews.
const tokenizer = new WordTokenizer(); // lower-case, HTML removed, "don't" -> "do n't"
const tokens = all.texts.map((t) => tokenizer.tokenize(t));
const vocab = Vocab.build(trainIdx.map((i) => tokens[i]!), { maxSize: VOCAB_SIZE, minFreq: 2 }); // id 0 = <pad>, 1 = <unk>
const encode = (toks: string[]): number[] => Array.from(vocab.encode(toks.slice(-MAX_LEN)));
const xTrain = trainIdx.map((i) => encode(tokens[i]!)), yTrain = trainIdx.map((i) => all.labels[i]!);
const xVal = valIdx.map((i) => encode(tokens[i]!)), yVal = valIdx.map((i) => all.labels[i]!);

// 3. The model: ragged id lists are padded with 0, and maskZero makes the LSTM skip the padding.
const model = rnn.sequential({
  inputShape: [null],
  layers: [
    rnn.layers.embedding({ inputDim: vocab.size, outputDim: 64, maskZero: true }),
    rnn.layers.bidirectional({ layer: rnn.layers.lstm({ units: 32, dropout: 0.3 }) }),
    rnn.layers.dense({ units: 1, activation: 'sigmoid' }),
  ],
});
model.build([null]);
model.summary();
model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 3e-3 }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });

// 4. Train, printing one line per epoch.
const t0 = Date.now();
await model.fit(xTrain, yTrain, {
  epochs: EPOCHS,
  batchSize: 32,
  validationData: [xVal, yVal],
  clipNorm: 5,
  seed: 1,
  callbacks: [{
    onEpochEnd: (epoch, logs) => console.log(`epoch ${epoch + 1}/${EPOCHS}: loss ${logs.loss!.toFixed(4)} accuracy ${logs.accuracy!.toFixed(4)}` +
      ` - val_loss ${logs.val_loss!.toFixed(4)} val_accuracy ${logs.val_accuracy!.toFixed(4)} (${((Date.now() - t0) / 1000).toFixed(0)}s)`),
  }],
});

// 5. Evaluate and predict.
const { loss, accuracy } = model.evaluate(xVal, yVal);
console.log(`validation: loss ${loss!.toFixed(4)}, accuracy ${(100 * accuracy!).toFixed(2)}%`);

const reviews = [
  'A wonderful film: moving, funny and beautifully acted. I loved every minute of it.',
  'The plot made no sense and the acting was terrible. A complete waste of time.',
  '',
];
const probs = model.predict(reviews.map((r) => encode(tokenizer.tokenize(r))));
reviews.forEach((r, i) => {
  const p = probs.data[i]!;
  console.log(`${p > 0.5 ? 'positive' : 'negative'} (P(positive) = ${p.toFixed(3)}): ${JSON.stringify(r)}`);
});
