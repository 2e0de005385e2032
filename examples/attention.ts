// Attention on top of RNNs, the classic demonstration: an encoder-decoder learns to reverse a
// sequence of digits, once with the decoder reading only the encoder's final state and once with
// Bahdanau's additive attention over every encoder state. The attention model learns faster, and
// its weights show the alignment it found: decoder step i looks at encoder step n-1-i.
//
//   npm run build && node dist/examples/attention.js [sequences] [epochs] [seed]
//
// Sequences have 5-9 digits (1-9), padded with 0 and masked; the decoder reads <go> and then the
// reversed digits (teacher forcing) and predicts the next reversed digit at every step.
import * as rnn from '../src/index.js';

const V = 10, GO = 10, T = 9;

/** n source sequences, the decoder's inputs (GO + reversed source, shifted) and targets (reversed source). */
function reverseTask(n: number, seed: number) {
  const r = rnn.rng(seed);
  const src = new Float32Array(n * T), dec = new Float32Array(n * T), out = new Float32Array(n * T), lens = new Int32Array(n);
  for (let s = 0; s < n; s++) {
    const len = 5 + r.int(T - 4);
    lens[s] = len;
    const digits = Array.from({ length: len }, () => 1 + r.int(V - 1));
    const rev = [...digits].reverse();
    digits.forEach((d, t) => { src[s * T + t] = d; });
    rev.forEach((d, t) => { out[s * T + t] = d; dec[s * T + t] = t === 0 ? GO : rev[t - 1]!; });
  }
  const dense = (data: Float32Array) => ({ data, shape: [n, T], mask: null });
  return { x: [dense(src), dense(dec)], y: dense(out), lens };
}

/** Encoder GRU -> its last state starts the decoder GRU; with `attention`, the decoder also reads a context per step. */
function seq2seq(attention: boolean, seed: number): { model: rnn.GraphModel; att: rnn.Attention | null } {
  const src = rnn.input({ shape: [null], name: 'source' }), tgt = rnn.input({ shape: [null], name: 'decoder_input' });
  const [enc, h] = rnn.layers.gru({ units: 32, returnSequences: true, returnState: true, seed })
    .apply(rnn.layers.embedding({ inputDim: V, outputDim: 16, maskZero: true, seed: seed + 1 }).apply(src)) as rnn.SymbolicTensor[];
  const dec = rnn.layers.gru({ units: 32, returnSequences: true, seed: seed + 2 })
    .apply(rnn.layers.embedding({ inputDim: V + 1, outputDim: 16, maskZero: true, seed: seed + 3 }).apply(tgt), { initialState: [h!] }) as rnn.SymbolicTensor;
  const att = attention ? rnn.layers.attention({ score: 'additive', units: 32, seed: seed + 4, name: 'attention' }) : null;
  const features = att ? rnn.layers.concatenate().apply([dec, att.apply([dec, enc!])]) : dec;
  const y = rnn.layers.dense({ units: V, activation: 'softmax', seed: seed + 5 }).apply(features);
  const model = rnn.model({ inputs: [src, tgt], outputs: y, name: attention ? 'with_attention' : 'last_state_only' });
  model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.01 }), loss: 'sparseCategoricalCrossentropy', metrics: ['accuracy'] });
  return { model, att };
}

export async function main(n = 2000, epochs = 8, seed = 1, log: (s: string) => void = console.log) {
  const train = reverseTask(n, seed), held = reverseTask(300, seed + 1000);
  const results: Record<string, number[]> = {};
  let alignment = 0, steps = 0, matrix = '';
  for (const withAttention of [false, true]) {
    const { model, att } = seq2seq(withAttention, seed + 10);
    const acc: number[] = [];
    for (let e = 0; e < epochs; e++) {
      await model.fit(train.x, train.y, { epochs: 1, batchSize: 32, verbose: 0, seed: seed + e, clipNorm: 1 });
      acc.push(model.evaluate(held.x, held.y).accuracy!);
    }
    results[model.name] = acc;
    log(`${model.name.padEnd(15)} held-out accuracy by epoch: ${acc.map((a) => a.toFixed(3)).join(' ')}`);
    if (!att) continue;
    // Where each decoder step looked, for every held-out sequence.
    model.predict(held.x, { batchSize: 300 });
    const w = att.lastWeights!.data;
    for (let s = 0; s < 300; s++) {
      const len = held.lens[s]!;
      for (let i = 0; i < len; i++) {
        const row = Array.from(w.subarray((s * T + i) * T, (s * T + i + 1) * T));
        steps++;
        if (row.indexOf(Math.max(...row)) === len - 1 - i) alignment++;
      }
    }
    const len = held.lens[0]!, show = (v: number) => (v < 0.05 ? '   .' : ` ${v.toFixed(1).replace(/^0/, '')}`);
    const digits = Array.from(held.x[0]!.data.subarray(0, len)).join(' ');
    matrix = `attention weights for ${digits} (rows: decoder steps, columns: encoder steps)\n` + Array.from({ length: len }, (_, i) =>
      `  out ${held.y.data[i]}: ${Array.from(w.subarray(i * T, i * T + len), show).join('')}`).join('\n');
    log(matrix);
    log(`decoder steps whose largest weight is on the digit they emit (step i -> encoder step n-1-i): ${alignment} of ${steps}`);
  }
  return { results, alignment: alignment / steps };
}

if (process.argv[1]?.endsWith('attention.js')) {
  const [n, epochs, seed] = process.argv.slice(2).map(Number);
  await main(n || undefined, epochs || undefined, seed || undefined);
}
