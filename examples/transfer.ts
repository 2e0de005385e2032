// Transfer learning with frozen layers: an embedding + LSTM encoder trained on IMDB movie reviews
// is reused for SST-2 sentences, of which only a small part is labelled. Three classifiers of the
// same shape learn from the same few SST-2 sentences:
//   scratch     — every layer from a random start;
//   frozen      — the IMDB encoder's weights (getWeights / setWeights), frozen (trainable: false),
//                 under a new Dense head: only the head trains;
//   fine-tuned  — the same start, every layer trained (a smaller learning rate).
// All are scored on the SST-2 dev set.
//
//   npm run build && node dist/examples/transfer.js [labelled sentences] [data dir]
//
// The data directory holds imdb/train.jsonl.gz and sst2/{train,dev}.tsv (default:
// ../shared/datasets).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as rnn from '../src/index.js';
import { readDataset, splitStratified, Vocab, WordTokenizer } from '../src/data/node/index.js';

function readSst(path: string): { words: string[][]; labels: number[] } {
  const rows = readFileSync(path, 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '').map((l) => l.split('\t'));
  return { words: rows.map(([t]) => t!.trim().split(' ')), labels: rows.map(([, y], i) => {
    if (y !== '0' && y !== '1') throw new Error(`${path}:${i + 2}: the label must be 0 or 1, got ${JSON.stringify(y)}`);
    return Number(y);
  }) };
}

export async function main(labelled = 500, dir = '../shared/datasets', log: (s: string) => void = console.log) {
  // The IMDB encoder: 10,000 reviews, their last 100 tokens.
  const imdb = readDataset(join(dir, 'imdb/train.jsonl.gz'));
  const pick = splitStratified(imdb.labels, 10000 / imdb.texts.length, 1).valid;
  const tokenizer = new WordTokenizer();
  const reviews = Array.from(pick, (i) => tokenizer.tokenize(imdb.texts[i]!).slice(-100));
  const vocab = Vocab.build(reviews, { maxSize: 20000, minFreq: 2 });
  const encoder = () => [
    rnn.layers.embedding({ inputDim: vocab.size, outputDim: 64, maskZero: true, seed: 1, name: 'emb' }),
    rnn.layers.lstm({ units: 64, seed: 2, name: 'lstm' }),
  ];
  const classifier = (lr: number): rnn.Sequential => {
    const m = rnn.sequential({ inputShape: [null], layers: [...encoder(), rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 3, name: 'head' })] });
    m.build([null]);
    m.compile({ optimizer: rnn.optimizers.adam({ learningRate: lr }), loss: 'binaryCrossentropy', metrics: ['accuracy'] });
    return m;
  };
  const pre = classifier(0.003);
  const t0 = performance.now();
  await pre.fit(reviews.map((t) => Array.from(vocab.encode(t))), Array.from(pick, (i) => [imdb.labels[i]!]), { epochs: 2, batchSize: 32, seed: 1, clipNorm: 5, bucketByLength: true });
  log(`IMDB encoder: ${reviews.length} reviews, vocabulary ${vocab.size}, 2 epochs in ${((performance.now() - t0) / 1000).toFixed(1)} s`);

  // SST-2: the first `labelled` training sentences (of 67,349), the 872 dev sentences.
  const train = readSst(join(dir, 'sst2/train.tsv')), dev = readSst(join(dir, 'sst2/dev.tsv'));
  const enc = (ws: string[][]) => ws.map((w) => Array.from(vocab.encode(w.map((t) => t.toLowerCase()))));
  const x = enc(train.words.slice(0, labelled)), y = train.labels.slice(0, labelled).map((v) => [v]);
  const xd = enc(dev.words), yd = dev.labels.map((v) => [v]);
  const run = async (what: string, lr: number, transfer: boolean, freeze: boolean): Promise<{ last: number; best: number }> => {
    const m = classifier(lr);
    if (transfer) {
      for (const name of ['emb', 'lstm']) {
        const layer = m.getLayer(name);
        layer.setWeights(pre.getLayer(name).getWeights());
        layer.trainable = !freeze;
      }
    }
    const t1 = performance.now();
    const h = await m.fit(x, y, { epochs: 8, batchSize: 16, seed: 2, clipNorm: 5, validationData: [xd, yd] });
    const acc = h.history.val_accuracy!, r = { last: acc[acc.length - 1]!, best: Math.max(...acc) };
    log(`${what.padEnd(10)} dev accuracy by epoch: ${acc.map((a) => a.toFixed(3)).join(' ')} (${((performance.now() - t1) / 1000).toFixed(1)} s)`);
    return r;
  };
  log(`SST-2: ${labelled} labelled training sentences, ${xd.length} dev sentences`);
  return {
    scratch: await run('scratch', 0.003, false, false),
    frozen: await run('frozen', 0.003, true, true),
    fineTuned: await run('fine-tuned', 0.001, true, false),
  };
}

if (process.argv[1]?.endsWith('transfer.js')) {
  const [n, dir] = process.argv.slice(2);
  await main(n ? Number(n) : undefined, dir);
}
