// One JavaScript peer on one workload, driven by bench/peers/run.ts over stdin/stdout
// (protocol in ./spec.ts):
//
//   node dist/bench/peers/worker.js --peer tfjs-cpu|tfjs-wasm|brain|ort --spec '{...}' [--threads N]
//
// The peer packages (TF.js, brain.js) live in bench/peers/node_modules, installed on demand by
// run.ts, never a dependency of rnnkit; they are loaded here through createRequire, untyped, so
// the project compiles without them. onnxruntime-node is a root devDependency (the tests use it).
//
// Console output of the libraries (TF.js greets on stdout) is sent to stderr: stdout carries the
// protocol only.
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { attr, DataType, encodeModel, type NodeSpec, type TensorSpec, type ValueInfoSpec } from '../../src/export/onnx-proto.js';
import { rng } from '../../src/tensor/rng.js';
import type { Command, Hello, WorkerInfo, WorkloadSpec } from './spec.js';

/** bench/peers in the source tree (this file runs from dist/bench/peers). */
export const PEERS_DIR = resolve(dirname(fileURLToPath(import.meta.url)), '../../../bench/peers');

type Step = () => void | Promise<unknown>;
interface Built { step: Step; info: WorkerInfo }

/* eslint-disable @typescript-eslint/no-explicit-any -- the peer libraries are loaded untyped */
type Any = any;

console.log = console.error;
console.info = console.error;
console.warn = console.error;

function send(obj: unknown): void {
  process.stdout.write(`${JSON.stringify(obj)}\n`);
}

/** Deterministic uniform floats in [-1, 1) and integers in [0, n) (LCG; the data only needs to be fixed). */
function lcg(seed: number): { float(): number; int(n: number): number } {
  let s = seed >>> 0;
  const next = () => { s = (Math.imul(s, 1664525) + 1013904223) >>> 0; return s / 2 ** 32; };
  return { float: () => next() * 2 - 1, int: (n) => Math.floor(next() * n) };
}
function floats(n: number, seed: number): Float32Array { const r = lcg(seed); return Float32Array.from({ length: n }, () => r.float()); }
function ints(n: number, V: number, seed: number): Int32Array { const r = lcg(seed); return Int32Array.from({ length: n }, () => r.int(V)); }

function peerRequire(): NodeJS.Require {
  const pkg = join(PEERS_DIR, 'package.json');
  if (!existsSync(join(PEERS_DIR, 'node_modules'))) throw new Error(`peer packages not installed: run npm install --prefix ${PEERS_DIR} --ignore-scripts`);
  return createRequire(pkg);
}

function peerVersion(req: NodeJS.Require, name: string): string {
  return (req(`${name}/package.json`) as { version: string }).version;
}

// ---------------------------------------------------------------------------------------------
// TensorFlow.js (cpu and wasm backends). The same Keras model as rnnkit's bench, through
// tf.sequential / tf.layers; trainOnBatch with Adam. The wasm backend has no UnsortedSegmentSum
// kernel, so it cannot train an embedding layer: there the inputs are pre-embedded floats
// (B, T, E) fed straight to the recurrent layer, and the embedding table is not trained.

async function buildTfjs(spec: WorkloadSpec, backend: 'cpu' | 'wasm'): Promise<Built> {
  const req = peerRequire();
  const tf: Any = req('@tensorflow/tfjs');
  if (backend === 'wasm') req('@tensorflow/tfjs-backend-wasm');
  if (!(await tf.setBackend(backend))) throw new Error(`TF.js backend '${backend}' failed to initialise`);
  await tf.ready();
  // Glorot instead of Keras's default orthogonal recurrent initialiser: TF.js computes the latter
  // by a JavaScript QR that takes 10-30 s per layer here. Initial values do not change the speed.
  const notes: string[] = ['recurrentInitializer glorotUniform (the orthogonal default takes 10-30 s to set up)'];
  const info: WorkerInfo = { version: peerVersion(req, '@tensorflow/tfjs'), tokensPerStep: spec.B * spec.T, sequencesPerStep: spec.B, intraOpThreads: 1, backend };
  if (backend === 'wasm') {
    const wasm: Any = req('@tensorflow/tfjs-backend-wasm');
    info.intraOpThreads = wasm.getThreadsCount();
    info.backend = `wasm (SIMD ${await tf.env().getAsync('WASM_HAS_SIMD_SUPPORT') ? 'on' : 'off'}, threads ${await tf.env().getAsync('WASM_HAS_MULTITHREAD_SUPPORT') ? 'on' : 'off'})`;
  }
  const { B, T } = spec;
  const embedInputs = backend === 'wasm';
  if (spec.kind === 'charlm' || spec.kind === 'sentiment') {
    const { V, E, H } = spec;
    const model = tf.sequential();
    if (embedInputs) {
      notes.push(`pre-embedded float inputs (B,T,${E}); the embedding layer is not trained (tfjs-wasm lacks UnsortedSegmentSum)`);
    } else {
      model.add(tf.layers.embedding({ inputDim: V, outputDim: E, inputLength: T }));
    }
    const recurrent = spec.kind === 'charlm' ? spec.cell : 'lstm';
    const rOpts: Any = { units: H, returnSequences: spec.kind === 'charlm', recurrentInitializer: 'glorotUniform' };
    // NOTE(keras): TF.js defaults the gates to hardSigmoid (Keras 1); rnnkit and PyTorch use the sigmoid.
    if (recurrent !== 'simpleRNN') rOpts.recurrentActivation = 'sigmoid';
    if (embedInputs) rOpts.inputShape = [T, E];
    model.add(tf.layers[recurrent](rOpts));
    if (spec.kind === 'charlm') {
      if (recurrent === 'gru') notes.push('TF.js GRU applies the reset gate before the recurrent product (it supports only resetAfter: false)');
      model.add(tf.layers.dense({ units: V, activation: 'softmax' }));
      model.compile({ optimizer: tf.train.adam(1e-3), loss: 'sparseCategoricalCrossentropy' });
    } else {
      model.add(tf.layers.dense({ units: 1, activation: 'sigmoid' }));
      model.compile({ optimizer: tf.train.adam(1e-3), loss: 'binaryCrossentropy' });
    }
    const x = embedInputs ? tf.tensor3d(floats(B * T * E, 1), [B, T, E]) : tf.tensor2d(ints(B * T, V, 1), [B, T], 'int32');
    const y = spec.kind === 'charlm' ? tf.tensor3d(Float32Array.from(ints(B * T, V, 2)), [B, T, 1]) : tf.tensor2d(Float32Array.from(ints(B, 2, 5)), [B, 1]);
    return { step: () => model.trainOnBatch(x, y), info: { ...info, notes } };
  }
  if (spec.kind === 'generate') {
    // A stateful model of batch 1 and one step (the input shape stateful layers need), predict
    // per character, the probabilities read back and sampled in JavaScript as rnnkit's sampler does.
    const { V, E, H, L } = spec;
    const model = tf.sequential();
    model.add(tf.layers.embedding({ inputDim: V, outputDim: E, batchInputShape: [1, 1] }));
    for (let l = 0; l < L; l++) model.add(tf.layers.lstm({ units: H, returnSequences: true, stateful: true, recurrentInitializer: 'glorotUniform', recurrentActivation: 'sigmoid' }));
    model.add(tf.layers.dense({ units: V, activation: 'softmax' }));
    notes.push('stateful Sequential of batch 1, model.predict per character, probabilities read back (dataSync) and sampled in JavaScript');
    let seed = 1;
    return {
      step: () => {
        const pick = sampler(seed++);
        model.resetStates();
        let id = 0;
        for (let t = 0; t < T; t++) {
          const p = tf.tidy(() => (model.predict(tf.tensor2d([id], [1, 1])) as Any).dataSync() as Float32Array);
          id = pick(p);
        }
      },
      info: { ...info, tokensPerStep: T, sequencesPerStep: 1, notes },
    };
  }
  const { I, H } = spec;
  const layer = tf.layers.lstm({ units: H, returnSequences: true, recurrentInitializer: 'glorotUniform', recurrentActivation: 'sigmoid' });
  const x = tf.tensor3d(floats(B * T * I, 3), [B, T, I]);
  tf.tidy(() => layer.apply(x)); // builds the weights
  if (spec.kind === 'layer-infer') {
    // Readback included: rnnkit's forward leaves the outputs in JS memory too.
    return { step: () => { const y = tf.tidy(() => layer.apply(x)); y.dataSync(); y.dispose(); }, info: { ...info, notes } };
  }
  const dy = tf.tensor3d(floats(B * T * H, 4), [B, T, H]);
  const opt = tf.train.adam(1e-3);
  notes.push('backward of dY through the loss sum(Y * dY) under optimizer.minimize');
  return { step: () => { opt.minimize(() => tf.sum(tf.mul(layer.apply(x), dy))); }, info: { ...info, notes } };
}

// ---------------------------------------------------------------------------------------------
// brain.js 1.6 (recurrent.*): one sequence at a time (no batching), its own RMSProp-like update
// (adjustWeights), plain JavaScript matrices. A step here is ONE sequence of T tokens.
// Its LSTM keeps no separate cell state (the "cell" mixes the previous h), its RNN is ReLU.

function buildBrain(spec: WorkloadSpec): Built {
  const req = peerRequire();
  const brain: Any = req('brain.js');
  const info: WorkerInfo = { version: peerVersion(req, 'brain.js'), tokensPerStep: spec.T, sequencesPerStep: 1, intraOpThreads: 1, backend: 'JavaScript' };
  const notes = ['batch 1: one step is one sequence (brain.js has no batching)', 'brain.js update rule (RMSProp with clipping) instead of Adam'];
  const { T } = spec;
  if (spec.kind === 'charlm') {
    const { V, E, H } = spec;
    const Net = { lstm: brain.recurrent.LSTM, gru: brain.recurrent.GRU, simpleRNN: brain.recurrent.RNN }[spec.cell];
    if (spec.cell === 'simpleRNN') notes.push('brain.js RNN is ReLU, not tanh');
    if (spec.cell === 'lstm') notes.push('brain.js LSTM has no separate cell state');
    // inputRange V: an embedding table (V+1) x E; outputSize V: Dense (V+1) + softmax CE at every step.
    const net = new Net({ inputSize: E, inputRange: V, hiddenLayers: [H], outputSize: V });
    net.initialize();
    const seq = Array.from(ints(T, V, 1));
    notes.push('trainPattern runs T+1 steps (start token); counted as T tokens');
    return { step: () => { net.trainPattern(seq); }, info: { ...info, notes } };
  }
  if (spec.kind === 'sentiment') {
    // brain.js's string RNN predicts the next token at every step; here only the last step's
    // output gets a gradient: a 2-way softmax (= sigmoid + binary CE) on the last state, as in W3.
    const { V, E, H } = spec;
    const net = new brain.recurrent.LSTM({ inputSize: E, inputRange: V, hiddenLayers: [H], outputSize: 1 });
    net.initialize();
    while (net.model.equations.length < T) net.bindEquation();
    const seq = ints(T, V, 4);
    const label: number = 1;
    notes.push('classification written with brain.js internals: forward T steps (embedding rows), 2-way softmax CE on the last output only, backpropagate, adjustWeights');
    return {
      step: () => {
        const eqs = net.model.equations;
        let out: Any = null;
        for (let t = 0; t < T; t++) out = eqs[t].runIndex(seq[t]! + 1);
        const w = out.weights, m = Math.max(w[0], w[1]);
        const e0 = Math.exp(w[0] - m), e1 = Math.exp(w[1] - m);
        out.deltas[0] = e0 / (e0 + e1) - (label === 0 ? 1 : 0);
        out.deltas[1] = e1 / (e0 + e1) - (label === 1 ? 1 : 0);
        for (let t = T - 1; t >= 0; t--) eqs[t].backpropagateIndex(seq[t]! + 1);
        net.adjustWeights();
      },
      info: { ...info, notes },
    };
  }
  if (spec.kind === 'generate') throw new Error('brain.js generates only from its own training vocabulary');
  // Layer workloads: LSTMTimeStep with float inputs. brain.js always has an output layer; for
  // inference it is H -> 1 (negligible), for training H -> H with dY fed as its output gradient
  // (an extra H x H product per step, +1/(4(I+H)/H) of the LSTM's work).
  const { I, H } = spec;
  const training = spec.kind === 'layer-train';
  const net = new brain.recurrent.LSTMTimeStep({ inputSize: I, hiddenLayers: [H], outputSize: training ? H : 1 });
  net.initialize();
  while (net.model.equations.length < T) net.bindEquation();
  const xs = Array.from({ length: T }, (_, t) => floats(I, 100 + t));
  const eqs = net.model.equations;
  if (!training) {
    return { step: () => { for (let t = 0; t < T; t++) eqs[t].runInput(xs[t]); }, info: { ...info, notes: ['batch 1: one step is one sequence (brain.js has no batching)', 'output layer H -> 1 after the LSTM'] } };
  }
  const dys = Array.from({ length: T }, (_, t) => floats(H, 200 + t));
  notes.push('output layer H -> H after the LSTM, dY fed as its output gradient');
  return {
    step: () => {
      for (let t = 0; t < T; t++) { const out = eqs[t].runInput(xs[t]); out.deltas.set(dys[t]); }
      for (let t = T - 1; t >= 0; t--) eqs[t].backpropagate();
      net.adjustWeights();
    },
    info: { ...info, notes },
  };
}

// ---------------------------------------------------------------------------------------------
// onnxruntime-node (inference only): a single-node ONNX LSTM (opset 14), built in code with
// test/onnx-proto.ts, random weights, X time-major (T, B, I) as ONNX defines it.

async function buildOrt(spec: WorkloadSpec, threads: number): Promise<Built> {
  if (spec.kind === 'generate') return buildOrtGenerate(spec, threads);
  if (spec.kind !== 'layer-infer') throw new Error('onnxruntime has no training');
  const ort = await import('onnxruntime-node');
  const req = createRequire(import.meta.url);
  const { I, H, T, B } = spec;
  const F = DataType.FLOAT;
  const k = 1 / Math.sqrt(H);
  const bytes = encodeModel({
    opset: 14,
    producerName: 'rnnkit-bench',
    graph: {
      name: 'lstm',
      nodes: [{ opType: 'LSTM', name: 'lstm', inputs: ['X', 'W', 'R', 'B'], outputs: ['Y'], attributes: [attr.int('hidden_size', H)] }],
      initializers: [
        { name: 'W', dataType: F, dims: [1, 4 * H, I], data: floats(4 * H * I, 5).map((v) => v * k) },
        { name: 'R', dataType: F, dims: [1, 4 * H, H], data: floats(4 * H * H, 6).map((v) => v * k) },
        { name: 'B', dataType: F, dims: [1, 8 * H], data: floats(8 * H, 7).map((v) => v * k) },
      ],
      inputs: [{ name: 'X', elemType: F, shape: [T, B, I] }],
      outputs: [{ name: 'Y', elemType: F, shape: [T, 1, B, H] }],
    },
  });
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  const feeds = { X: new ort.Tensor('float32', floats(T * B * I, 3), [T, B, I]) };
  let version = '?';
  try { version = (req('onnxruntime-node/package.json') as { version: string }).version; } catch { /* exports may hide it */ }
  return {
    step: async () => { const r = await session.run(feeds); void r['Y']!.data; },
    info: { version, tokensPerStep: B * T, sequencesPerStep: B, intraOpThreads: threads, backend: 'CPU execution provider', notes: ['single ONNX LSTM node, X time-major (T, B, I)'] },
  };
}

/**
 * Text generation on onnxruntime: one session run per character of a graph built in code —
 * Gather (the embedding) -> L single-layer LSTM nodes with their states as inputs and outputs
 * -> Gemm -> Softmax — the states fed back and the next character sampled in JavaScript.
 */
async function buildOrtGenerate(spec: Extract<WorkloadSpec, { kind: 'generate' }>, threads: number): Promise<Built> {
  const ort = await import('onnxruntime-node');
  const req = createRequire(import.meta.url);
  const { V, E, H, L, T } = spec;
  const F = DataType.FLOAT, k = 1 / Math.sqrt(H);
  const nodes: NodeSpec[] = [{ opType: 'Gather', name: 'embedding', inputs: ['table', 'id'], outputs: ['x0'] }]; // (1, 1, E): T = 1, B = 1
  const initializers: TensorSpec[] = [
    { name: 'table', dataType: F, dims: [V, E], data: floats(V * E, 8) },
    { name: 'Wd', dataType: F, dims: [H, V], data: floats(H * V, 9).map((v) => v * k) },
    { name: 'bd', dataType: F, dims: [V], data: floats(V, 10).map((v) => v * k) },
    { name: 'shape2', dataType: DataType.INT64, dims: [2], data: [1, H] },
    { name: 'shape3', dataType: DataType.INT64, dims: [3], data: [1, 1, H] },
  ];
  const inputs: ValueInfoSpec[] = [{ name: 'id', elemType: DataType.INT64, shape: [1, 1] }];
  const outputs: ValueInfoSpec[] = [{ name: 'probs', elemType: F, shape: [1, V] }];
  for (let l = 0; l < L; l++) {
    const I = l === 0 ? E : H;
    initializers.push(
      { name: `W${l}`, dataType: F, dims: [1, 4 * H, I], data: floats(4 * H * I, 11 + 3 * l).map((v) => v * k) },
      { name: `R${l}`, dataType: F, dims: [1, 4 * H, H], data: floats(4 * H * H, 12 + 3 * l).map((v) => v * k) },
      { name: `B${l}`, dataType: F, dims: [1, 8 * H], data: floats(8 * H, 13 + 3 * l).map((v) => v * k) },
    );
    inputs.push({ name: `h${l}`, elemType: F, shape: [1, 1, H] }, { name: `c${l}`, elemType: F, shape: [1, 1, H] });
    outputs.push({ name: `hN${l}`, elemType: F, shape: [1, 1, H] }, { name: `cN${l}`, elemType: F, shape: [1, 1, H] });
    nodes.push(
      { opType: 'LSTM', name: `lstm${l}`, inputs: [`x${l}`, `W${l}`, `R${l}`, `B${l}`, '', `h${l}`, `c${l}`], outputs: [`y${l}`, `hN${l}`, `cN${l}`], attributes: [attr.int('hidden_size', H)] },
      { opType: 'Reshape', name: `seq${l}`, inputs: [`y${l}`, l === L - 1 ? 'shape2' : 'shape3'], outputs: [l === L - 1 ? 'last' : `x${l + 1}`] },
    );
  }
  nodes.push({ opType: 'Gemm', name: 'dense', inputs: ['last', 'Wd', 'bd'], outputs: ['logits'] }, { opType: 'Softmax', name: 'softmax', inputs: ['logits'], outputs: ['probs'], attributes: [attr.int('axis', -1)] });
  const bytes = encodeModel({ opset: 14, producerName: 'rnnkit-bench', graph: { name: 'generate', nodes, initializers, inputs, outputs } });
  const session = await ort.InferenceSession.create(bytes, {
    intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', graphOptimizationLevel: 'all',
  });
  let version = '?';
  try { version = (req('onnxruntime-node/package.json') as { version: string }).version; } catch { /* exports may hide it */ }
  const zeros = () => new ort.Tensor('float32', new Float32Array(H), [1, 1, H]);
  let seed = 1;
  return {
    step: async () => {
      const pick = sampler(seed++);
      const feeds: Record<string, InstanceType<typeof ort.Tensor>> = {};
      for (let l = 0; l < L; l++) { feeds[`h${l}`] = zeros(); feeds[`c${l}`] = zeros(); }
      let id = 0;
      for (let t = 0; t < T; t++) {
        feeds['id'] = new ort.Tensor('int64', BigInt64Array.of(BigInt(id)), [1, 1]);
        const r = await session.run(feeds);
        for (let l = 0; l < L; l++) { feeds[`h${l}`] = r[`hN${l}`]!; feeds[`c${l}`] = r[`cN${l}`]!; }
        id = pick(r['probs']!.data as Float32Array);
      }
    },
    info: {
      version, tokensPerStep: T, sequencesPerStep: 1, intraOpThreads: threads, backend: 'CPU execution provider',
      notes: ['a graph built in code (Gather, one LSTM node per layer with its states in and out, Gemm, Softmax), one session.run per character'],
    },
  };
}

/**
 * The next character from probabilities, drawn as rnnkit's sampler (apps/charrnn.ts) draws it:
 * temperature 0.8 (log, divided, exp), one uniform draw from rnnkit's seeded generator.
 */
function sampler(seed: number): (p: ArrayLike<number>) => number {
  const r = rng(seed), w = new Float64Array(256);
  return (p) => {
    let sum = 0;
    for (let j = 0; j < p.length; j++) { w[j] = Math.exp(Math.log(Math.max(p[j]!, 1e-30)) / 0.8); sum += w[j]!; }
    let u = r.next() * sum;
    for (let j = 0; j < p.length; j++) { u -= w[j]!; if (u < 0) return j; }
    return p.length - 1;
  };
}

// ---------------------------------------------------------------------------------------------

async function main(): Promise<void> {
  const { values: v } = parseArgs({ options: { peer: { type: 'string' }, spec: { type: 'string' }, threads: { type: 'string' } } });
  const spec = JSON.parse(v.spec ?? 'null') as WorkloadSpec;
  const t0 = performance.now();
  let built: Built;
  try {
    switch (v.peer) {
      case 'tfjs-cpu': built = await buildTfjs(spec, 'cpu'); break;
      case 'tfjs-wasm': built = await buildTfjs(spec, 'wasm'); break;
      case 'brain': built = buildBrain(spec); break;
      case 'ort': built = await buildOrt(spec, Number(v.threads ?? 1)); break;
      default: throw new Error(`unknown peer '${v.peer}'`);
    }
  } catch (e) {
    send({ skip: (e as Error).message } satisfies Hello);
    return;
  }
  send({ ready: true, info: { ...built.info, setupMs: performance.now() - t0 } } satisfies Hello);
  const rl = createInterface({ input: process.stdin });
  for await (const line of rl) {
    const cmd = JSON.parse(line) as Command;
    if (cmd.cmd === 'run') {
      const times: number[] = [];
      const c0 = process.cpuUsage(), w0 = performance.now();
      for (let i = 0; i < cmd.n; i++) {
        const t = performance.now();
        await built.step();
        times.push(performance.now() - t);
      }
      const c = process.cpuUsage(c0);
      send({ times, cpuMs: (c.user + c.system) / 1000, wallMs: performance.now() - w0 });
    } else if (cmd.cmd === 'stats') {
      send({ peakRssMB: Math.round(process.resourceUsage().maxRSS / 1024) });
    } else {
      break;
    }
  }
  rl.close();
  process.exit(0);
}

main().catch((e: Error) => { process.stderr.write(`worker: ${e.stack ?? e.message}\n`); process.exit(2); });
