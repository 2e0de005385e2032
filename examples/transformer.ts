// The link to Transformers, measured: order. A recurrent layer reads its steps one after another,
// so it knows their order by construction; self-attention sums over all steps at once, and what it
// computes is the same for any permutation of them — unless each step's vector carries its
// position. The task: sequences of T tokens holding 1 and 2 once each among distractors 3..V-1;
// the label says whether 1 comes before 2. Trained on the same data with the same optimiser:
//   - a GRU's last state;
//   - a Transformer encoder block (multi-head self-attention, residual connections, layer
//     normalisation, a feed-forward layer) over the token embeddings plus sine position encodings,
//     then attention pooling;
//   - the same block without position encodings: it cannot do better than chance (0.5).
//
//   npm run build && node dist/examples/transformer.js [T] [epochs]
import * as rnn from '../src/index.js';

/** Token ids [n, T] or labels [n, 1]. */
interface Data { data: Float32Array; shape: number[] }

/** Sequences of T tokens with 1 and 2 once each among 3..V-1; y = 1 when 1 comes before 2. */
export function orderTask(n: number, T: number, V: number, seed: number): { x: Data; y: Data } {
  const r = rnn.rng(seed), x = new Float32Array(n * T), y = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    for (let t = 0; t < T; t++) x[i * T + t] = 3 + r.int(V - 3);
    const a = r.int(T);
    let b = r.int(T - 1);
    if (b >= a) b++;
    x[i * T + a] = 1; x[i * T + b] = 2;
    y[i] = a < b ? 1 : 0;
  }
  return { x: { data: x, shape: [n, T] }, y: { data: y, shape: [n, 1] } };
}

/** Token embeddings, a Transformer encoder block (post-norm, as Vaswani et al.), attention pooling, a classifier. */
export function encoderModel(T: number, V: number, positions: 'sine' | 'learned' | null, seed = 11, D = 16): rnn.GraphModel {
  const ids = rnn.input({ shape: [T] });
  let x = rnn.layers.embedding({ inputDim: V, outputDim: D, seed }).apply(ids);
  if (positions) x = rnn.layers.positionEncoding({ kind: positions, maxLength: T, seed }).apply(x);
  const att = rnn.layers.multiHeadAttention({ numHeads: 2, keyDim: 8, seed: seed + 1 }).apply([x, x]);
  const h = rnn.layers.layerNormalization().apply(rnn.layers.add().apply([x, att]));
  const ff = rnn.layers.dense({ units: D, seed: seed + 3 }).apply(rnn.layers.dense({ units: 2 * D, activation: 'relu', seed: seed + 2 }).apply(h));
  const z = rnn.layers.layerNormalization().apply(rnn.layers.add().apply([h, ff]));
  const pooled = rnn.layers.attentionPooling({ units: D, seed: seed + 4 }).apply(z);
  return rnn.model({ inputs: ids, outputs: rnn.layers.dense({ units: 2, activation: 'softmax', seed: seed + 5 }).apply(pooled) });
}

function gruModel(T: number, V: number, seed = 11, D = 16): rnn.Sequential {
  return rnn.sequential({ inputShape: [T], layers: [
    rnn.layers.embedding({ inputDim: V, outputDim: D, seed }),
    rnn.layers.gru({ units: 32, seed: seed + 1 }),
    rnn.layers.dense({ units: 2, activation: 'softmax', seed: seed + 2 }),
  ] });
}

export async function main(T = 12, epochs = 8, log: (s: string) => void = console.log): Promise<Record<string, number[]>> {
  const V = 10, train = orderTask(4000, T, V, 1), held = orderTask(1000, T, V, 2);
  log(`"1 before 2" among ${T} tokens: held-out accuracy per epoch (chance 0.5)`);
  const models: Record<string, () => rnn.Model> = {
    'GRU 32, last state': () => gruModel(T, V),
    'Transformer block, sine positions': () => encoderModel(T, V, 'sine'),
    'Transformer block, no positions': () => encoderModel(T, V, null),
  };
  const out: Record<string, number[]> = {};
  for (const [name, make] of Object.entries(models)) {
    const model = make();
    model.compile({ optimizer: rnn.optimizers.adam({ learningRate: 0.005 }), loss: 'sparseCategoricalCrossentropy' });
    const acc: number[] = [], t0 = performance.now();
    for (let e = 0; e < epochs; e++) {
      await model.fit(train.x, train.y, { epochs: 1, batchSize: 50, verbose: 0, seed: e });
      const p = model.predict(held.x).data;
      let right = 0;
      for (let i = 0; i < held.y.data.length; i++) if ((p[2 * i + 1]! > p[2 * i]! ? 1 : 0) === held.y.data[i]) right++;
      acc.push(right / held.y.data.length);
    }
    log(`  ${name.padEnd(34)} ${String(model.countParams()).padStart(5)} parameters  ${acc.map((a) => a.toFixed(3)).join(' ')}  (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    out[name] = acc;
  }
  return out;
}

if (process.argv[1]?.endsWith('transformer.js')) {
  const [T, epochs] = process.argv.slice(2).map(Number);
  await main(T || undefined, epochs || undefined);
}
