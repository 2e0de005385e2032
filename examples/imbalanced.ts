// Class weights on imbalanced data: SST-2 training sentences with the positive ones thinned to one
// in ten, an embedding + LSTM classifier trained with fit twice from the same start — as the
// data are, and with classWeight: 'balanced' — and both scored on the (balanced) SST-2 dev set:
// the recall of each class and their mean (balanced accuracy).
//
//   npm run build && node dist/examples/imbalanced.js [epochs] [data dir]
//
// The data directory holds train.tsv and dev.tsv (default: ../shared/datasets/sst2).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as rnn from '../src/index.js';

interface Example { words: string[]; label: number }

function readTsv(path: string): Example[] {
  const lines = readFileSync(path, 'utf8').split('\n').slice(1).filter((l) => l.trim() !== '');
  return lines.map((l, i) => {
    const [text, label] = l.split('\t');
    if (label !== '0' && label !== '1') throw new Error(`${path}:${i + 2}: the label must be 0 or 1, got ${JSON.stringify(label)}`);
    return { words: text!.trim().split(' '), label: Number(label) };
  });
}

export async function main(epochs = 3, dir = '../shared/datasets/sst2', log: (s: string) => void = console.log) {
  const all = readTsv(join(dir, 'train.tsv')).slice(0, 30000), dev = readTsv(join(dir, 'dev.tsv'));
  // Every negative sentence, and every tenth positive one.
  let k = 0;
  const train = all.filter((e) => e.label === 0 || k++ % 10 === 0);
  const positives = train.filter((e) => e.label === 1).length;
  const counts = new Map<string, number>();
  for (const e of train) for (const w of e.words) counts.set(w, (counts.get(w) ?? 0) + 1);
  const ids = new Map<string, number>();
  for (const [w, n] of counts) if (n >= 2) ids.set(w, ids.size + 2); // 0: padding, 1: rare or unseen
  const encode = (es: Example[]) => ({ x: es.map((e) => e.words.map((w) => ids.get(w) ?? 1)), y: es.map((e) => [e.label]) });
  const tr = encode(train), dv = encode(dev);
  log(`SST-2: ${train.length} training sentences, ${positives} positive (${((100 * positives) / train.length).toFixed(1)}%); ` +
    `${dev.length} dev sentences, ${dev.filter((e) => e.label === 1).length} positive`);

  const run = async (classWeight: rnn.ClassWeight | undefined) => {
    const model = rnn.sequential({ layers: [
      rnn.layers.embedding({ inputDim: ids.size + 2, outputDim: 64, maskZero: true, seed: 1 }),
      rnn.layers.lstm({ units: 64, seed: 2 }),
      rnn.layers.dense({ units: 1, activation: 'sigmoid', seed: 3 }),
    ] });
    model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.003 }), loss: 'binaryCrossentropy' });
    await model.fit(tr.x, tr.y, { epochs, batchSize: 32, seed: 1, clipNorm: 5, bucketByLength: true, ...(classWeight ? { classWeight } : {}) });
    const p = model.predict(dv.x).data;
    const recall = [0, 1].map((c) => {
      const of = dev.map((e, i) => [e.label, p[i]!] as const).filter(([l]) => l === c);
      return of.filter(([, q]) => (q >= 0.5 ? 1 : 0) === c).length / of.length;
    });
    const r = { negativeRecall: recall[0]!, positiveRecall: recall[1]!, balancedAccuracy: (recall[0]! + recall[1]!) / 2 };
    log(`${classWeight ? `classWeight ${JSON.stringify(classWeight)}` : 'no weights'}: dev recall negative ${r.negativeRecall.toFixed(3)}, ` +
      `positive ${r.positiveRecall.toFixed(3)}, balanced accuracy ${r.balancedAccuracy.toFixed(3)}`);
    return r;
  };
  return { plain: await run(undefined), balanced: await run('balanced') };
}

if (process.argv[1]?.endsWith('imbalanced.js')) {
  const [epochs, dir] = process.argv.slice(2);
  await main(epochs ? Number(epochs) : undefined, dir);
}
