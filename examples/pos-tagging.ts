// Part-of-speech tagging with the Keras-style API: a bidirectional GRU reads each sentence of
// the UD English-ATIS treebank (CoNLL-U) and a softmax layer tags every word with its universal
// POS tag (17 of them). The sentences go to `fit` as ragged arrays: each batch is cut to its
// longest sentence and, with bucketByLength, holds sentences of similar lengths. Compared with
// the classic baseline: each word's most frequent tag in training (unknown words: the most
// frequent tag of all).
//
//   npm run build && node dist/examples/pos-tagging.js [epochs] [data dir]
//
// The data directory holds en_atis-ud-train.conllu and en_atis-ud-dev.conllu (default:
// ../shared/datasets/ud-english-atis).
import { join } from 'node:path';
import * as rnn from '../src/index.js';

const UNK = 1; // word id of rare and unseen words; 0 is padding

export async function main(epochs = 4, dir = '../shared/datasets/ud-english-atis', log: (s: string) => void = console.log) {
  const train = rnn.readConllFile(join(dir, 'en_atis-ud-train.conllu'), { format: 'conllu' }).sentences;
  const dev = rnn.readConllFile(join(dir, 'en_atis-ud-dev.conllu'), { format: 'conllu' }).sentences;
  // Words seen twice or more get ids of their own (lower-cased); tags in order of first sight.
  const counts = new Map<string, number>();
  for (const s of train) for (const w of s.tokens) counts.set(w.toLowerCase(), (counts.get(w.toLowerCase()) ?? 0) + 1);
  const words = new Map<string, number>();
  for (const [w, n] of counts) if (n >= 2) words.set(w, words.size + 2);
  const tags: string[] = [...new Set(train.flatMap((s) => s.tags))];
  const tagId = new Map(tags.map((t, i) => [t, i]));
  const encode = (ss: typeof train) => ({
    x: ss.map((s) => s.tokens.map((w) => words.get(w.toLowerCase()) ?? UNK)),
    y: ss.map((s) => s.tags.map((t) => tagId.get(t) ?? 0)),
  });
  const tr = encode(train), dv = encode(dev);
  const tokens = (ss: typeof train) => ss.reduce((n, s) => n + s.tokens.length, 0);
  log(`UD English-ATIS: ${train.length} training sentences (${tokens(train)} words), ${dev.length} dev (${tokens(dev)}); ` +
    `${words.size} words with ids of their own, ${tags.length} tags`);

  // Baseline: each word's most frequent training tag.
  const byWord = new Map<string, Map<string, number>>(), all = new Map<string, number>();
  for (const s of train) {
    s.tokens.forEach((w, i) => {
      const k = w.toLowerCase(), t = s.tags[i]!;
      const m = byWord.get(k) ?? new Map<string, number>();
      m.set(t, (m.get(t) ?? 0) + 1);
      byWord.set(k, m);
      all.set(t, (all.get(t) ?? 0) + 1);
    });
  }
  const argmax = (m: Map<string, number>): string => [...m].reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const commonest = argmax(all);
  let right = 0;
  for (const s of dev) s.tokens.forEach((w, i) => { if ((byWord.has(w.toLowerCase()) ? argmax(byWord.get(w.toLowerCase())!) : commonest) === s.tags[i]) right++; });
  const baseline = right / tokens(dev);
  log(`most-frequent-tag baseline: dev accuracy ${baseline.toFixed(4)}`);

  const model = rnn.sequential({ layers: [
    rnn.layers.embedding({ inputDim: words.size + 2, outputDim: 64, maskZero: true, seed: 1 }),
    rnn.layers.bidirectional({ layer: rnn.layers.gru({ units: 64, returnSequences: true, seed: 2 }) }),
    rnn.layers.dropout({ rate: 0.3 }),
    rnn.layers.dense({ units: tags.length, activation: 'softmax', seed: 3 }),
  ] });
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.005 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  const t0 = performance.now();
  const history = await model.fit(tr.x, tr.y, {
    epochs, batchSize: 32, seed: 1, clipNorm: 5, bucketByLength: true, validationData: [dv.x, dv.y],
  });
  const seconds = (performance.now() - t0) / 1000;
  const acc = history.history.val_accuracy!;
  log(`BiGRU tagger (${model.params.length.toLocaleString('en-US')} parameters), dev accuracy by epoch: ${acc.map((a) => a.toFixed(4)).join(' ')} ` +
    `(${seconds.toFixed(1)} s, ${Math.round((epochs * tokens(train)) / seconds).toLocaleString('en-US')} training words/s)`);
  return { accuracy: acc.at(-1)!, baseline, accuracies: acc };
}

if (process.argv[1]?.endsWith('pos-tagging.js')) {
  const [epochs, dir] = process.argv.slice(2);
  await main(epochs ? Number(epochs) : undefined, dir);
}
