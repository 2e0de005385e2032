// Attention on top of RNNs, the classic demonstration: an encoder-decoder learns to reverse a
// sequence of digits, once with the decoder reading only the encoder's final state and once with
// Bahdanau's additive attention over every encoder state. The attention model learns faster, and
// its weights show the alignment it found: decoder step i looks at encoder step n-1-i. Then both
// decode the held-out sources for real, greedily, each step reading the digit it emitted before.
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

/**
 * Greedy decoding, as the model is used: the decoder reads <go>, then each digit it emitted
 * (not the right one), a step at a time — every source at once, the encoder run once
 * (rnn.incrementalDecoder). The digits of each row, T of them.
 */
function greedyDecode(model: rnn.GraphModel, source: { data: Float32Array; shape: number[]; mask: null }): Int32Array {
  const n = source.shape[0]!, out = new Int32Array(n * T), prev = new Float32Array(n).fill(GO);
  const dec = rnn.incrementalDecoder(model, { stepInput: 'decoder_input' });
  dec.reset(source);
  for (let t = 0; t < T; t++) {
    const p = dec.step({ data: prev, shape: [n, 1] }).data; // [n, 1, V]
    for (let s = 0; s < n; s++) {
      let best = 1; // (0 is padding: never emitted)
      for (let v = 2; v < V; v++) if (p[s * V + v]! > p[s * V + best]!) best = v;
      out[s * T + t] = best;
      prev[s] = best;
    }
  }
  return out;
}

export async function main(n = 2000, epochs = 8, seed = 1, log: (s: string) => void = console.log) {
  const train = reverseTask(n, seed), held = reverseTask(300, seed + 1000);
  const results: Record<string, number[]> = {}, exact: Record<string, number> = {};
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
    // The accuracy above reads the right previous digit at every step (teacher forcing); decoding
    // for real, one mistake feeds the next step.
    const out = greedyDecode(model, held.x[0]!);
    let right = 0;
    for (let s = 0; s < 300; s++) {
      let ok = true;
      for (let t = 0; t < held.lens[s]!; t++) if (out[s * T + t] !== held.y.data[s * T + t]) ok = false;
      if (ok) right++;
    }
    exact[model.name] = right / 300;
    log(`${''.padEnd(15)} greedy decoding: ${right} of 300 held-out sequences reversed exactly`);
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
  return { results, exact, alignment: alignment / steps };
}

if (process.argv[1]?.endsWith('attention.js')) {
  const [n, epochs, seed] = process.argv.slice(2).map(Number);
  await main(n || undefined, epochs || undefined, seed || undefined);
}
