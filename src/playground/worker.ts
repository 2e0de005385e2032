// The playground's training loop, in a module Web Worker (the page stays responsive): a
// PlaygroundSession stepping until paused or stopped, reporting its losses about ten times a
// second and, every `evalEvery` steps, the validation loss, a sample and the gradient flow.
// With `threads: 2` on a cross-origin isolated page the kernels run on two threads.
import { backendName, getBackend, ready, setBackend, ThreadedWasmBackend } from '../browser.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { PlaygroundSession } from './session.js';

const post = (m: FromWorker): void => (self as unknown as { postMessage(m: FromWorker): void }).postMessage(m);

let session: PlaygroundSession | null = null;
let paused = false, stopped = false, temperature = 0.8;
let wake: (() => void) | null = null;

/** Yields to the worker's message queue (a message channel: setTimeout(0) waits up to 4 ms). */
const yieldOnce = (): Promise<void> => new Promise((r) => {
  const ch = new MessageChannel();
  ch.port1.onmessage = () => { ch.port1.close(); r(); };
  ch.port2.postMessage(0);
});

async function run(m: Extract<ToWorker, { type: 'start' }>): Promise<void> {
  await ready();
  const threads = (): number => (getBackend() instanceof ThreadedWasmBackend ? 2 : 1);
  if (m.threads === 2 && threads() === 1) {
    if (!(globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated) throw new Error('two threads need a cross-origin isolated page (served with COOP/COEP headers, as `rnnkit playground` does)');
    setBackend(await ThreadedWasmBackend.create());
  }
  temperature = m.temperature;
  const s = (session = new PlaygroundSession(m.text, m.options));
  post({
    type: 'ready', backend: backendName(), threads: threads(), vocab: s.corpus.vocab.size,
    trainChars: s.corpus.train.length, valChars: s.corpus.val.length, parameters: s.model.countParams(),
  });
  let losses: number[] = [], last = performance.now(), tokens = 0;
  const tokensPerStep = s.options.batch * s.options.seq;
  while (!stopped && (m.maxSteps <= 0 || s.step < m.maxSteps)) {
    if (paused) await new Promise<void>((r) => { wake = r; });
    if (stopped) break;
    const info = s.trainStep();
    losses.push(info.loss);
    tokens += tokensPerStep;
    const now = performance.now();
    if (now - last >= 100 || info.step % m.evalEvery === 0) {
      post({ type: 'steps', ...info, losses, tokensPerSecond: tokens / ((now - last) / 1000) });
      losses = []; last = now; tokens = 0;
    }
    if (info.step % m.evalEvery === 0) {
      post({ type: 'eval', ...s.evaluate(m.sampleLength, temperature) });
      last = performance.now();
    }
    await yieldOnce();
  }
  post({ type: 'done', step: s.step });
}

self.onmessage = (e: MessageEvent<ToWorker>) => {
  const m = e.data;
  switch (m.type) {
    case 'start':
      if (session) { post({ type: 'error', message: 'this worker already trains a model: start a new worker' }); return; }
      run(m).catch((err: unknown) => post({ type: 'error', message: err instanceof Error ? err.message : String(err) }));
      break;
    case 'pause': paused = true; break;
    case 'resume': paused = false; wake?.(); wake = null; break;
    case 'temperature': temperature = m.value; break;
    case 'export': {
      if (!session) { post({ type: 'error', message: 'nothing to export before training starts' }); return; }
      const e = session.exportOnnx();
      (self as unknown as { postMessage(m: FromWorker, t: Transferable[]): void }).postMessage({ type: 'onnx', step: session.step, ...e }, [e.bytes.buffer]);
      break;
    }
    case 'stop': stopped = true; paused = false; wake?.(); wake = null; break;
  }
};
