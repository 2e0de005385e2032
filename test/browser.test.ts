// The browser entry in a real browser: headless Chromium loads dist/src/browser.js as a native
// ES module from a local server (bench/chromium.ts: the page is cross-origin isolated), compiles
// the WebAssembly kernels asynchronously (rnn.ready()), and recurrent layers give the same
// numbers as in Node; then the two-thread backend (a module Web Worker on a shared memory, the
// page's main thread spinning where it may not block) gives the one-thread results bit for bit.
// Chromium comes from Debian (.ci/run installs it); without it, outside CI, the test is skipped
// with the reason — in CI it must run.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findChromium, runPage } from '../bench/chromium.js';
import { GRU, LSTM, Tensor, withFixedWeights } from '../src/index.js';

/** Runs in the page and in Node: outputs and gradients of a few layers, as plain arrays. */
function workload(rnn: typeof import('../src/browser.js')): Record<string, number[]> {
  // A stacked bidirectional LSTM with lengths (small: one thread even when two are on offer).
  const lstm = new rnn.LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 5 });
  const x = new rnn.Tensor(Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => Math.sin(i)), [5, 2, 3]);
  const y = lstm.forward(x, { lengths: [5, 3] }).output.data;
  // GRU training, batch 12 (two threads: groups of rows) and batch 1 (hidden units per step);
  // then batch 32 with 64 units, long enough that the worker takes part before the main thread
  // has done it all (the small calls alone often finish on the main thread first).
  const out: Record<string, number[]> = { lstm: Array.from(y) };
  for (const [B, H] of [[12, 20], [1, 20], [32, 64]] as const) {
    const gru = new rnn.GRU({ inputSize: 6, hiddenSize: H, seed: 7 });
    const xb = new rnn.Tensor(Float32Array.from({ length: 7 * B * 6 }, (_, i) => Math.cos(i * 0.7)), [7, B, 6]);
    const o = gru.forward(xb).output;
    gru.zeroGrad();
    gru.backward(new rnn.Tensor(Float32Array.from({ length: 7 * B * H }, (_, i) => Math.sin(i * 0.3)), [7, B, H]));
    out[`gru${B}`] = Array.from(o.data);
    out[`gru${B}grad`] = Array.from(gru.params.grad);
  }
  // One step at a time at batch 1 inside withFixedWeights (weights copied in once per scope; a
  // browser has no native compare, so outside one they are copied on every call), then a weight
  // changed between two scopes: the second must see it.
  const cell = new rnn.LSTM({ inputSize: 4, hiddenSize: 8, seed: 9 });
  const xs = new rnn.Tensor(Float32Array.from({ length: 4 }, (_, i) => i * 0.25 - 0.4), [1, 1, 4]);
  const stepOut = (): number[] => Array.from(cell.forward(xs, { grad: false }).output.data);
  const fixed = rnn.withFixedWeights(() => [...stepOut(), ...stepOut()]);
  cell.params.data[cell.params.data.length - 1]! += 1; // the last bias value
  out.fixed = [...fixed, ...rnn.withFixedWeights(stepOut), ...stepOut()];
  return out;
}

const PAGE = `<!doctype html><meta charset="utf-8"><script type="module">
const post = (path, body) => fetch(path, { method: 'POST', body: JSON.stringify(body) });
try {
  const rnn = await import('/dist/src/browser.js');
  const workload = ${workload.toString()};
  const backend = await rnn.ready();
  const one = workload(rnn);
  let two = null, threaded = null, workerChunks = 0;
  if (globalThis.crossOriginIsolated) {
    // Size gates at zero: every call the backend can split runs on both threads.
    const t = await rnn.ThreadedWasmBackend.create({ gemmMinWork: 0, gemmMinRows: 1, fewRowsMinWork: 0, seqMinWork: 0, seqMinHidden: 1, timeoutMs: 20000 });
    rnn.setBackend(t);
    two = workload(rnn);
    // The worker's share is up to the scheduler: on a busy machine the page's thread can claim
    // every chunk before the worker wakes. Larger calls, a few at most, until it has taken part.
    for (let i = 0; i < 10 && t.workerChunks === 0; i++) {
      const g = new rnn.GRU({ inputSize: 16, hiddenSize: 128, seed: 1 });
      g.forward(new rnn.Tensor(new Float32Array(50 * 64 * 16).fill(0.1), [50, 64, 16]), { grad: false });
    }
    threaded = t.name; workerChunks = t.workerChunks;
    t.terminate();
  }
  await post('/done', { backend, one, two, threaded, workerChunks, isolated: globalThis.crossOriginIsolated });
} catch (e) {
  await post('/done', { error: String((e && e.stack) || e) });
}
</script>`;

interface PageResult {
  backend?: string; one?: Record<string, number[]>; two?: Record<string, number[]> | null;
  threaded?: string | null; workerChunks?: number; isolated?: boolean; error?: string;
}

test('browser entry: loads in headless Chromium, uses WebAssembly, matches Node; two threads there match one bit for bit', {
  skip: !findChromium() && !process.env.CI ? 'chromium is not installed (apt-get install chromium); CI installs it' : false,
}, async () => {
  assert.ok(findChromium(), 'CI must have chromium: .ci/run installs it');
  const got = await runPage({ root: process.cwd(), html: PAGE, timeoutMs: 120_000 }) as PageResult;
  assert.equal(got.error, undefined, got.error);
  assert.match(got.backend!, /^wasm-(relaxed-)?simd$/, 'the browser runs the WebAssembly kernels');
  const node = workload({ LSTM, GRU, Tensor, withFixedWeights } as unknown as typeof import('../src/browser.js'));
  const f = node.fixed!, n = f.length / 4;
  assert.deepEqual(f.slice(n, 2 * n), f.slice(0, n), 'the same call twice in one scope');
  assert.notDeepEqual(f.slice(2 * n, 3 * n), f.slice(0, n), 'a change between scopes is seen');
  assert.deepEqual(f.slice(3 * n), f.slice(2 * n, 3 * n), 'and outside a scope');
  for (const [k, ys] of Object.entries(node)) {
    const b = got.one![k]!;
    assert.equal(b.length, ys.length, k);
    b.forEach((v, i) => assert.ok(Math.abs(v - ys[i]!) < 1e-5 * Math.max(1, Math.abs(ys[i]!)), `${k}[${i}]: browser ${v}, node ${ys[i]}`));
  }
  // Two threads in the page: the served headers make it cross-origin isolated.
  assert.equal(got.isolated, true, 'the page is cross-origin isolated');
  assert.match(got.threaded!, /^wasm-(relaxed-)?simd-threads$/);
  assert.ok(got.workerChunks! > 0, 'the worker computed part of the calls');
  for (const k of Object.keys(node)) assert.deepEqual(got.two![k], got.one![k], `${k}: two threads vs one, bit for bit`);
});
