// The browser entry in a real browser: headless Chromium loads dist/src/browser.js as a native
// ES module from a local server, compiles the WebAssembly kernels asynchronously (rnn.ready()),
// and an LSTM gives the same numbers as in Node. Chromium comes from Debian (.ci/run installs
// it); without it, outside CI, the test is skipped with the reason — in CI it must run.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { test } from 'node:test';
import { LSTM, Tensor } from '../src/index.js';

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const PAGE = `<!doctype html><meta charset="utf-8"><pre id="out">pending</pre>
<script type="module">
import * as rnn from '/dist/src/browser.js';
const out = document.getElementById('out');
try {
  const backend = await rnn.ready();
  const lstm = new rnn.LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 5 });
  const x = new rnn.Tensor(Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => Math.sin(i)), [5, 2, 3]);
  const y = lstm.forward(x, { lengths: [5, 3] }).output.data;
  out.textContent = JSON.stringify({ backend, y: Array.from(y) });
} catch (e) {
  out.textContent = JSON.stringify({ error: String((e && e.stack) || e) });
}
</script>`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.json': 'application/json' };

test('browser entry: loads in headless Chromium, uses WebAssembly, matches Node', { skip: !CHROMIUM && !process.env.CI ? 'chromium is not installed (apt-get install chromium); CI installs it' : false }, async () => {
  assert.ok(CHROMIUM, 'CI must have chromium: .ci/run installs it');
  const root = process.cwd();
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/index.html') { res.writeHead(200, { 'content-type': 'text/html' }); res.end(PAGE); return; }
    const file = normalize(join(root, url.pathname));
    if (!file.startsWith(join(root, 'dist')) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const profile = mkdtempSync(join(tmpdir(), 'rnnkit-chromium-'));
  try {
    const dom = await new Promise<string>((resolve, reject) => {
      execFile(CHROMIUM!, [
        '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
        '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, '--virtual-time-budget=20000',
        '--dump-dom', `http://127.0.0.1:${port}/index.html`,
      ], { timeout: 90_000, maxBuffer: 1 << 24 }, (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)));
    });
    const m = /<pre id="out">([\s\S]*?)<\/pre>/.exec(dom);
    assert.ok(m, `no result in the page:\n${dom.slice(0, 500)}`);
    const got = JSON.parse(m[1]!.replace(/&quot;/g, '"').replace(/&amp;/g, '&')) as { backend?: string; y?: number[]; error?: string };
    assert.equal(got.error, undefined, got.error);
    assert.match(got.backend!, /^wasm-(relaxed-)?simd$/, 'the browser runs the WebAssembly kernels');
    const lstm = new LSTM({ inputSize: 3, hiddenSize: 4, numLayers: 2, bidirectional: true, seed: 5 });
    const x = new Tensor(Float32Array.from({ length: 5 * 2 * 3 }, (_, i) => Math.sin(i)), [5, 2, 3]);
    const y = lstm.forward(x, { lengths: [5, 3] }).output.data;
    assert.equal(got.y!.length, y.length);
    got.y!.forEach((v, i) => assert.ok(Math.abs(v - y[i]!) < 1e-5, `y[${i}]: browser ${v}, node ${y[i]}`));
  } finally {
    server.close();
    rmSync(profile, { recursive: true, force: true });
  }
});
