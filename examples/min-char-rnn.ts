// A minimal character-level vanilla RNN, written from scratch in plain TypeScript in the spirit
// of the tutorial's NumPy SimpleRNN (and karpathy's min-char-rnn.py): forward, backward through
// time, gradient clipping, Adagrad, sampling. The readable version next to rnnkit's fast one.
//
//   node dist/examples/min-char-rnn.js [text file] [iterations]
//
//   h_t = tanh(Wxh·x_t + Whh·h_{t-1} + bh)     y_t = Why·h_t + by     p_t = softmax(y_t)
//   loss = -Σ_t log p_t[target_t]
import { readFileSync } from 'node:fs';

const path = process.argv[2] || undefined;
const text = path ? readFileSync(path, 'utf8') : 'hello world! '.repeat(200);
const iterations = Number(process.argv[3] ?? 3000);
const chars = [...new Set(text)].sort();
const V = chars.length, H = 64, T = 25, lr = 0.1;
const ix = new Map(chars.map((c, i) => [c, i]));
console.log(`data has ${text.length} characters, ${V} unique`);

// Seeded uniform noise, so runs repeat.
let seed = 42;
const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) / 2 ** 32);
type M = Float64Array<ArrayBuffer>; // a row-major matrix
const mat = (r: number, c: number, scale = 0) => Float64Array.from({ length: r * c }, () => (rand() * 2 - 1) * scale);

const P = { Wxh: mat(H, V, 0.01), Whh: mat(H, H, 0.01), Why: mat(V, H, 0.01), bh: mat(H, 1), by: mat(V, 1) };
type Params = typeof P;
const mem: Params = { Wxh: mat(H, V), Whh: mat(H, H), Why: mat(V, H), bh: mat(H, 1), by: mat(V, 1) }; // Adagrad memory

/** out = W·v (+ b), W is (rows, cols). */
function matvec(W: M, v: M, rows: number, cols: number, b?: M): M {
  const out = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = b ? b[i]! : 0;
    for (let j = 0; j < cols; j++) s += W[i * cols + j]! * v[j]!;
    out[i] = s;
  }
  return out;
}

function softmax(y: M): M {
  const m = Math.max(...y);
  const e = y.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
}

/** Forward over the chunk, then backpropagation through time. Returns loss, grads, last h. */
function lossFun(inputs: number[], targets: number[], hprev: M) {
  const hs: M[] = [hprev], ps: M[] = [];
  let loss = 0;
  for (let t = 0; t < inputs.length; t++) {
    const x = new Float64Array(V); x[inputs[t]!] = 1;                    // one-hot input
    const a = matvec(P.Whh, hs[t]!, H, H, P.bh);
    for (let i = 0; i < H; i++) a[i] += P.Wxh[i * V + inputs[t]!]!;      // Wxh·x_t is a column
    hs.push(a.map(Math.tanh));
    ps.push(softmax(matvec(P.Why, hs[t + 1]!, V, H, P.by)));
    loss -= Math.log(ps[t]![targets[t]!]!);
  }
  const g: Params = { Wxh: mat(H, V), Whh: mat(H, H), Why: mat(V, H), bh: mat(H, 1), by: mat(V, 1) };
  let dhnext = new Float64Array(H);
  for (let t = inputs.length - 1; t >= 0; t--) {
    const dy = ps[t]!.slice(); dy[targets[t]!] -= 1;                   // dL/dy = p - onehot
    const h = hs[t + 1]!, hp = hs[t]!;
    const dh = dhnext.slice();
    for (let k = 0; k < V; k++) {
      g.by[k] += dy[k]!;
      for (let i = 0; i < H; i++) { g.Why[k * H + i] += dy[k]! * h[i]!; dh[i] += P.Why[k * H + i]! * dy[k]!; }
    }
    const draw = dh.map((d, i) => (1 - h[i]! * h[i]!) * d);             // through tanh
    dhnext = new Float64Array(H);
    for (let i = 0; i < H; i++) {
      g.bh[i] += draw[i]!;
      g.Wxh[i * V + inputs[t]!] += draw[i]!;
      for (let j = 0; j < H; j++) { g.Whh[i * H + j] += draw[i]! * hp[j]!; dhnext[j] += P.Whh[i * H + j]! * draw[i]!; }
    }
  }
  for (const d of Object.values(g)) for (let i = 0; i < d.length; i++) d[i] = Math.max(-5, Math.min(5, d[i]!)); // clip: exploding gradients
  return { loss, g, h: hs[inputs.length]! };
}

/** Sample n characters from the model, starting from state h and character seedIx. */
function sample(h: M, seedIx: number, n: number): string {
  let x = seedIx, out = '';
  for (let t = 0; t < n; t++) {
    const a = matvec(P.Whh, h, H, H, P.bh);
    for (let i = 0; i < H; i++) a[i] += P.Wxh[i * V + x]!;
    h = a.map(Math.tanh);
    const p = softmax(matvec(P.Why, h, V, H, P.by));
    let u = rand(); x = V - 1;
    for (let k = 0; k < V; k++) { u -= p[k]!; if (u < 0) { x = k; break; } }
    out += chars[x];
  }
  return out;
}

let n = 0, pos = 0, hprev: M = new Float64Array(H);
let smooth = -Math.log(1 / V) * T;
const firstLoss = smooth;
while (n <= iterations) {
  if (pos + T + 1 >= text.length || n === 0) { hprev = new Float64Array(H); pos = 0; } // back to the start
  const inputs = [...text.slice(pos, pos + T)].map((c) => ix.get(c)!);
  const targets = [...text.slice(pos + 1, pos + T + 1)].map((c) => ix.get(c)!);
  if (n % 1000 === 0) console.log(`----\n${sample(hprev, inputs[0]!, 120)}\n----`);
  const { loss, g, h } = lossFun(inputs, targets, hprev);
  hprev = h;
  smooth = smooth * 0.999 + loss * 0.001;
  if (n % 500 === 0) console.log(`iter ${n}, loss ${smooth.toFixed(3)}`);
  for (const k of Object.keys(P) as (keyof Params)[]) {               // Adagrad
    const p = P[k], d = g[k], m = mem[k];
    for (let i = 0; i < p.length; i++) { m[i] += d[i]! * d[i]!; p[i] -= (lr * d[i]!) / Math.sqrt(m[i]! + 1e-8); }
  }
  pos += T; n++;
}
console.log(`smoothed loss per ${T} characters: ${firstLoss.toFixed(2)} -> ${smooth.toFixed(2)}`);
