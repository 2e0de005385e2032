// The playground's page (its script is ui.ts, served as /dist/src/playground/ui.js).
import { DEFAULT_PLAYGROUND as D } from './session.js';

export const PLAYGROUND_HTML = `<!doctype html>
<html lang="en">
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>rnnkit playground: watch a recurrent network learn</title>
<style>
  body { font: 14px/1.4 system-ui, sans-serif; margin: 0; color: #1a202c; }
  header { padding: 10px 16px; background: #2d3748; color: #fff; }
  header h1 { font-size: 17px; margin: 0; display: inline; }
  header span { margin-left: 12px; opacity: 0.8; }
  main { display: grid; grid-template-columns: minmax(280px, 380px) 1fr; gap: 16px; padding: 16px; }
  textarea { width: 100%; height: 220px; font: 12px/1.3 ui-monospace, monospace; box-sizing: border-box; }
  label { display: inline-block; margin: 4px 10px 4px 0; }
  input[type=number] { width: 80px; }
  button { margin: 8px 6px 0 0; padding: 5px 14px; }
  canvas { width: 100%; border: 1px solid #e2e8f0; background: #fff; }
  pre { white-space: pre-wrap; background: #f7fafc; border: 1px solid #e2e8f0; padding: 8px; min-height: 80px; font: 13px/1.4 ui-monospace, monospace; }
  #status { font-weight: 600; }
  #status.error { color: #c53030; }
  h2 { font-size: 14px; margin: 14px 0 6px; }
  .note { color: #4a5568; font-size: 12px; }
</style>
<header><h1>rnnkit playground</h1><span>a character-level language model learns your text, in your browser</span></header>
<main>
  <section>
    <h2>Text</h2>
    <textarea id="text" spellcheck="false"></textarea>
    <div><input id="file" type="file" accept=".txt,text/plain"></div>
    <h2>Model and training</h2>
    <label>cell <select id="cell"><option value="lstm">LSTM</option><option value="gru">GRU</option><option value="rnn">vanilla RNN (tanh)</option><option value="transformer">Transformer block (no recurrence)</option></select></label>
    <label>hidden units <input id="hidden" type="number" min="4" max="1024" value="${D.hidden}"></label>
    <label>layers <input id="layers" type="number" min="1" max="4" value="${D.layers}"></label>
    <label>steps per sequence (BPTT) <input id="seq" type="number" min="4" max="256" value="${D.seq}"></label>
    <label>batch <input id="batch" type="number" min="1" max="128" value="${D.batch}"></label>
    <label>learning rate <input id="lr" type="number" step="0.0005" min="0.00001" max="1" value="${D.lr}"></label>
    <label>threads <select id="threads"><option value="1">1</option><option value="2" selected>2</option></select></label>
    <label>sample every <input id="eval" type="number" min="1" value="100"> steps</label>
    <label>temperature <input id="temperature" type="range" min="0.1" max="1.5" step="0.05" value="0.8"> <span id="temperature-value">0.80</span></label>
    <div><button id="start">Start</button><button id="pause" disabled>Pause</button><button id="stop" disabled>Stop</button><button id="export" disabled title="the model as it is now, as an ONNX file for onnxruntime (its vocabulary inside)">Download ONNX</button></div>
    <p class="note">Adam, gradients clipped to norm ${D.clip}, the last 10% of the text held out for the validation loss.
    Two threads need a cross-origin isolated page, as <code>rnnkit playground</code> serves it.</p>
  </section>
  <section>
    <div id="status">Press Start.</div>
    <div id="model" class="note"></div>
    <h2>Loss: training (blue, smoothed) and validation (orange)</h2>
    <canvas id="loss" width="720" height="220"></canvas>
    <h2 id="sample-title">Sample</h2>
    <pre id="sample"></pre>
    <h2 id="flow-title">Gradient flowing back through time</h2>
    <canvas id="flow" width="720" height="160"></canvas>
    <p class="note">Recurrent cells: the size of the gradient of a loss at the last step of a window
    of held-out text, on the hidden state of each step before it (log scale), one line per layer
    in a stack (the loss reaches the lower layers one step later). A vanilla RNN's usually shrinks
    the fastest: the vanishing gradient that the LSTM's and the GRU's gates were made to fight. The Transformer block has no recurrence (every position reaches every earlier
    one in one step, and sees only the window): it shows where each position's attention goes.</p>
  </section>
</main>
<script type="module" src="/dist/src/playground/ui.js"></script>
</html>
`;
