// The playground page's script: the controls, a training worker (worker.ts), and what it shows —
// the loss curves, samples as they improve, and the gradient's flow back through time.
// Query parameters preset the controls (cell, hidden, layers, seq, batch, lr, threads, eval, steps) and
// `autostart` starts at once; `report` (used by the tests) also POSTs every worker message to
// /report and a summary to /done (with `export`, the trained model's ONNX file in it, base64).
// "Download ONNX" saves the model as it is (exportOnnx; with its vocabulary and, for recurrent
// cells, its states as inputs and outputs) for onnxruntime.
import type { FromWorker, ToWorker } from './protocol.js';
import { DEFAULT_PLAYGROUND } from './session.js';

/** Used when the server offers no /text/default.txt. */
const FALLBACK_TEXT = `A recurrent network reads a sequence one step at a time. At every step it mixes what it has just read with what it remembers, and it keeps the result as its new memory. To learn, it runs the sequence forward, measures how wrong its guesses were, and sends that error back through every step it took: backpropagation through time. The error signal shrinks or grows as it travels back, multiplied by the same weights again and again. Gates, as in the LSTM and the GRU, let the network decide what to keep and what to forget, so that the signal can travel further. Watch the samples: first random letters, then the spaces between words, then short words, then the shapes of sentences.
`.repeat(4);

const $ = <T extends HTMLElement>(id: string): T => {
  const e = document.getElementById(id);
  if (!e) throw new Error(`playground: the page has no #${id}`);
  return e as T;
};
const params = new URLSearchParams(location.search);
const reporting = params.has('report');
const report = (path: string, body: unknown): void => { if (reporting) void fetch(path, { method: 'POST', body: JSON.stringify(body) }); };

let worker: Worker | null = null;
let trainLoss: { step: number; loss: number }[] = [];
let valLoss: { step: number; loss: number }[] = [];
let firstLosses: number[] = [];
let lastEval: Extract<FromWorker, { type: 'eval' }> | null = null;
let summary: Record<string, unknown> | null = null;

function numberField(id: string, fallback: number): number {
  const v = Number(($(id) as HTMLInputElement).value);
  return Number.isFinite(v) ? v : fallback;
}

function setStatus(s: string, error = false): void {
  const e = $('status');
  e.textContent = s;
  e.className = error ? 'error' : '';
}

/** A line chart of training (smoothed) and validation loss. */
function drawLoss(): void {
  const c = $<HTMLCanvasElement>('loss'), g = c.getContext('2d');
  if (!g) return;
  const W = c.width, H = c.height, pad = 36;
  g.clearRect(0, 0, W, H);
  if (trainLoss.length < 2) return;
  const maxStep = trainLoss[trainLoss.length - 1]!.step;
  const all = [...trainLoss.map((p) => p.loss), ...valLoss.map((p) => p.loss)];
  const hi = Math.max(...all), lo = Math.min(...all);
  const x = (s: number): number => pad + ((W - pad - 8) * s) / maxStep;
  const y = (v: number): number => 8 + ((H - pad - 8) * (hi - v)) / Math.max(hi - lo, 1e-9);
  g.strokeStyle = '#999'; g.fillStyle = '#555'; g.font = '11px sans-serif';
  g.beginPath(); g.moveTo(pad, 8); g.lineTo(pad, H - pad); g.lineTo(W - 8, H - pad); g.stroke();
  g.fillText(hi.toFixed(2), 2, 14); g.fillText(lo.toFixed(2), 2, H - pad); g.fillText(`step ${maxStep}`, W - 70, H - pad + 14);
  g.fillText('nats per character', pad + 4, H - 6);
  // Training loss: an exponential moving average, so that the trend shows through the noise.
  g.strokeStyle = '#2b6cb0'; g.beginPath();
  let ema = trainLoss[0]!.loss;
  trainLoss.forEach((p, i) => { ema = i === 0 ? p.loss : 0.9 * ema + 0.1 * p.loss; if (i === 0) g.moveTo(x(p.step), y(ema)); else g.lineTo(x(p.step), y(ema)); });
  g.stroke();
  g.fillStyle = '#c05621';
  for (const p of valLoss) { g.beginPath(); g.arc(x(p.step), y(p.loss), 3, 0, 2 * Math.PI); g.fill(); }
}

const LAYER_COLOURS = ['#2f855a', '#2b6cb0', '#c05621', '#6b46c1'];

/**
 * log10 ‖∂L/∂h_t‖ against the distance from the loss (0 = the last step): bars for one layer, a
 * line per layer for a stack (where the loss first reaches only the top layer's state).
 */
function drawFlow(flow: number[][]): void {
  const c = $<HTMLCanvasElement>('flow'), g = c.getContext('2d');
  if (!g) return;
  const W = c.width, H = c.height, pad = 36, n = flow[0]!.length;
  g.clearRect(0, 0, W, H);
  const logs = flow.map((f) => f.map((v) => (v > 0 ? Math.log10(v) : null)));
  const seen = logs.flat().filter((v): v is number => v !== null);
  // The axis spans at least a factor of 10, and reaches a little below the smallest value (which shows).
  const hi = Math.max(...seen), least = Math.min(hi - 1, ...seen), lo = least - 0.05 * (hi - least);
  const bw = (W - pad - 8) / n, y = (v: number): number => H - pad - ((H - pad - 8) * (v - lo)) / (hi - lo);
  if (logs.length === 1) {
    g.fillStyle = LAYER_COLOURS[0]!;
    logs[0]!.forEach((v, k) => { if (v !== null) g.fillRect(pad + k * bw, y(v), Math.max(1, bw - 1), H - pad - y(v)); });
  } else {
    logs.forEach((series, l) => {
      g.strokeStyle = LAYER_COLOURS[l % LAYER_COLOURS.length]!; g.lineWidth = 2; g.beginPath();
      let drawing = false;
      series.forEach((v, k) => {
        if (v === null) { drawing = false; return; }
        const px = pad + (k + 0.5) * bw;
        if (drawing) g.lineTo(px, y(v)); else g.moveTo(px, y(v));
        drawing = true;
      });
      g.stroke();
      g.fillStyle = g.strokeStyle; g.font = '11px sans-serif';
      g.fillText(l === 0 ? `layer 1 (bottom)` : l === logs.length - 1 ? `layer ${l + 1} (top)` : `layer ${l + 1}`, W - 110, 14 + 13 * (logs.length - 1 - l));
    });
    g.lineWidth = 1;
  }
  g.fillStyle = '#555'; g.font = '11px sans-serif';
  g.fillText((10 ** hi).toExponential(0), 2, 14); g.fillText((10 ** least).toExponential(0), 2, H - pad);
  g.fillText('0', pad, H - pad + 14); g.fillText(`${n - 1} steps back`, W - 90, H - pad + 14);
  g.fillText('‖∂L/∂h_t‖ of a loss at the last step', pad + 4, H - 6);
}

/** The attention of each position (row) to the positions before it (columns), mean over heads. */
function drawAttention(a: { T: number; weights: number[] }): void {
  const c = $<HTMLCanvasElement>('flow'), g = c.getContext('2d');
  if (!g) return;
  const W = c.width, H = c.height, pad = 36, T = a.T;
  g.clearRect(0, 0, W, H);
  const cell = Math.min((H - pad - 8) / T, (W - pad - 8) / T), hi = Math.max(...a.weights, 1e-9);
  for (let i = 0; i < T; i++) {
    for (let j = 0; j < T; j++) {
      const v = a.weights[i * T + j]! / hi;
      g.fillStyle = `rgba(47, 133, 90, ${v.toFixed(3)})`;
      g.fillRect(pad + j * cell, 8 + i * cell, Math.ceil(cell), Math.ceil(cell));
    }
  }
  g.strokeStyle = '#999'; g.strokeRect(pad, 8, T * cell, T * cell);
  g.fillStyle = '#555'; g.font = '11px sans-serif';
  g.fillText('row: a position; column: where it looks (only back: causal)', pad + T * cell + 10, 20);
  g.fillText(`max ${hi.toFixed(2)}`, pad + T * cell + 10, 36);
}

function onMessage(m: FromWorker): void {
  report('/report', m);
  switch (m.type) {
    case 'ready':
      $('model').textContent = `${m.parameters.toLocaleString('en-US')} parameters, ${m.vocab} characters, ${m.trainChars.toLocaleString('en-US')} to train on, ${m.valChars.toLocaleString('en-US')} held out; ${m.backend}, ${m.threads} thread${m.threads > 1 ? 's' : ''}`;
      break;
    case 'steps': {
      const first = m.step - m.losses.length + 1;
      m.losses.forEach((l, i) => trainLoss.push({ step: first + i, loss: l }));
      if (firstLosses.length < 5) firstLosses.push(...m.losses.slice(0, 5 - firstLosses.length));
      setStatus(`step ${m.step}, epoch ${m.epoch + 1}: loss ${m.loss.toFixed(3)}, ${Math.round(m.tokensPerSecond).toLocaleString('en-US')} characters/s`);
      drawLoss();
      break;
    }
    case 'eval':
      lastEval = m;
      valLoss.push({ step: m.step, loss: m.valLoss });
      $('sample').textContent = m.sample;
      $('sample-title').textContent = `Sample at step ${m.step} (validation loss ${m.valLoss.toFixed(3)})`;
      drawLoss();
      $('flow-title').textContent = m.attention ? 'Where attention looks (the first block, mean over its 4 heads)' : m.flow && m.flow.length > 1 ? 'Gradient flowing back through time, into each layer' : 'Gradient flowing back through time';
      if (m.attention) drawAttention(m.attention);
      else if (m.flow) drawFlow(m.flow);
      break;
    case 'done':
      setStatus(`stopped at step ${m.step}`);
      summary = {
        step: m.step, firstLosses, lastLosses: trainLoss.slice(-5).map((p) => p.loss), valLoss,
        sample: lastEval?.sample ?? null, flow: lastEval?.flow ?? null, attention: lastEval?.attention ?? null,
      };
      // (the tests' `export`: the ONNX file of the trained model goes with the summary)
      if (params.has('export')) send({ type: 'export' });
      else report('/done', summary);
      break;
    case 'onnx': {
      if (reporting && params.has('export') && summary) {
        let bin = '';
        for (const b of m.bytes) bin += String.fromCharCode(b);
        report('/done', { ...summary, onnx: btoa(bin), onnxOutputs: m.outputs });
        break;
      }
      const a = document.createElement('a');
      a.href = URL.createObjectURL(new Blob([m.bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
      a.download = `rnnkit-playground-step${m.step}.onnx`;
      a.click();
      setTimeout(() => URL.revokeObjectURL(a.href), 10_000);
      break;
    }
    case 'error':
      setStatus(m.message, true);
      report('/done', { error: m.message });
      break;
  }
}

function send(m: ToWorker): void { worker?.postMessage(m); }

function start(): void {
  worker?.terminate();
  trainLoss = []; valLoss = []; firstLosses = []; lastEval = null; summary = null;
  worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' });
  worker.onmessage = (e: MessageEvent<FromWorker>) => onMessage(e.data);
  worker.onerror = (e) => { setStatus(`the worker failed: ${e.message}`, true); report('/done', { error: e.message }); };
  const d = DEFAULT_PLAYGROUND;
  send({
    type: 'start', text: $<HTMLTextAreaElement>('text').value,
    options: {
      cell: $<HTMLSelectElement>('cell').value as 'lstm' | 'gru' | 'rnn' | 'transformer', hidden: numberField('hidden', d.hidden), layers: numberField('layers', d.layers), seq: numberField('seq', d.seq),
      batch: numberField('batch', d.batch), lr: numberField('lr', d.lr), clip: d.clip, seed: d.seed,
    },
    threads: $<HTMLSelectElement>('threads').value === '2' ? 2 : 1, evalEvery: Math.max(1, numberField('eval', 100)),
    sampleLength: 300, temperature: numberField('temperature', 0.8), maxSteps: Number(params.get('steps') ?? 0),
  });
  setStatus('starting…');
  $<HTMLButtonElement>('pause').disabled = false; $<HTMLButtonElement>('stop').disabled = false; $<HTMLButtonElement>('export').disabled = false;
  $<HTMLButtonElement>('pause').textContent = 'Pause';
}

async function init(): Promise<void> {
  // Presets from the URL.
  for (const id of ['cell', 'hidden', 'layers', 'seq', 'batch', 'lr', 'threads', 'eval']) {
    const v = params.get(id);
    if (v !== null) ($(id) as HTMLInputElement | HTMLSelectElement).value = v;
  }
  const isolated = (globalThis as { crossOriginIsolated?: boolean }).crossOriginIsolated === true;
  if (!isolated) { const t = $<HTMLSelectElement>('threads'); t.value = '1'; t.options[1]!.disabled = true; }
  const text = $<HTMLTextAreaElement>('text');
  try {
    const r = await fetch('/text/default.txt');
    text.value = r.ok ? await r.text() : FALLBACK_TEXT;
  } catch { text.value = FALLBACK_TEXT; }
  $<HTMLInputElement>('file').onchange = async (e) => {
    const f = (e.target as HTMLInputElement).files?.[0];
    if (f) text.value = await f.text();
  };
  $('start').onclick = start;
  $('pause').onclick = () => {
    const b = $<HTMLButtonElement>('pause'), pausing = b.textContent === 'Pause';
    send({ type: pausing ? 'pause' : 'resume' });
    b.textContent = pausing ? 'Resume' : 'Pause';
  };
  $('stop').onclick = () => send({ type: 'stop' });
  $('export').onclick = () => send({ type: 'export' });
  const temp = $<HTMLInputElement>('temperature');
  temp.oninput = () => { $('temperature-value').textContent = Number(temp.value).toFixed(2); send({ type: 'temperature', value: Number(temp.value) }); };
  if (params.has('autostart')) start();
}

init().catch((e: unknown) => { setStatus(String(e), true); report('/done', { error: String(e) }); });
