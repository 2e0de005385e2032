// The standard workloads in a browser: headless Chromium loads the library's browser entry
// (dist/src/browser.js) and bench/workloads.js — the very code `npm run bench` times in Node.js —
// from a local server that makes the page cross-origin isolated (COOP/COEP headers), so that it
// can also run the two-thread backend (`rnn.setBackend(await rnn.ThreadedWasmBackend.create())`,
// a module Web Worker on a shared WebAssembly.Memory). The page posts each result back; the same
// workloads then run in Node.js for comparison (one process each, as `npm run bench` runs them).
//
//   npm run bench:browser                                  W1, W1-layer, W5a, W5b, generate; 1 and 2 threads; Node too
//   npm run bench:browser -- --workloads W5a,W5b --threads 1 --no-node --json
//
// Chromium: /usr/bin/chromium (Debian: apt-get install chromium) or the CHROMIUM environment
// variable. One benchmark at a time on a shared machine: nothing else should run meanwhile.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { findChromium, runPage } from './chromium.js';
import { textTable } from './report.js';
import { WORKLOADS } from './workloads.js';

const USAGE = `Usage: npm run bench:browser [-- --workloads LIST] [--threads 1,2] [--no-node] [--json] [--timeout S]
  --workloads   comma-separated, of: ${Object.keys(WORKLOADS).join(', ')} (default W1,W1-layer,W5a,W5b,generate)
  --threads     kernel threads to run in the browser: 1, 2 or 1,2 (default 1,2; 2 needs the
                page's cross-origin isolation, which this script's server provides)
  --no-node     skip the Node.js runs of the same workloads (default: run them, for comparison)
  --json        print one JSON object instead of the table
  --timeout S   give up on the browser after S seconds (default 600)
Chromium: /usr/bin/chromium, or set CHROMIUM=/path/to/chrome.
`;

export interface BrowserResult {
  workload: string;
  threads: number;
  backend: string;
  tokensPerSecond: number;
  msPerStep: number;
  msPerSequence: number;
  gflops?: number;
  error?: string;
}

/** The page: runs the plan in the URL's hash and posts each result (or error) to /result. */
const PAGE = `<!doctype html><meta charset="utf-8"><title>rnnkit bench</title><pre id="out"></pre>
<script type="module">
const post = (path, body) => fetch(path, { method: 'POST', body: JSON.stringify(body) });
try {
  const plan = JSON.parse(decodeURIComponent(location.hash.slice(1)));
  const rnn = await import('/dist/src/browser.js');
  const { rates, timeWorkload } = await import('/dist/bench/workloads.js');
  await rnn.ready();
  // Chromium's own start-up work (its other processes) goes on for a few seconds: let it settle.
  await new Promise((r) => setTimeout(r, plan.settleMs));
  const single = rnn.getBackend();
  let threaded = null;
  for (const threads of plan.threads) {
    let why = null;
    if (threads === 2) {
      if (!globalThis.crossOriginIsolated) why = 'the page is not cross-origin isolated (no SharedArrayBuffer)';
      else {
        try { threaded = await rnn.ThreadedWasmBackend.create(); rnn.setBackend(threaded); } catch (e) { why = String(e && e.message || e); }
      }
    } else rnn.setBackend(single);
    for (const name of plan.workloads) {
      if (why) { await post('/result', { workload: name, threads, error: why }); continue; }
      await post('/log', name + ', ' + threads + ' thread' + (threads > 1 ? 's' : '') + ' (' + rnn.backendName() + ')');
      try {
        await post('/result', { workload: name, threads, backend: rnn.backendName(), ...rates(timeWorkload(name)) });
      } catch (e) {
        await post('/result', { workload: name, threads, error: String(e && e.stack || e) });
      }
    }
  }
  threaded?.terminate();
  await post('/done', { userAgent: navigator.userAgent });
} catch (e) {
  await post('/done', { error: String(e && e.stack || e) });
}
</script>`;

/** Runs the plan in headless Chromium; returns its results and user agent. */
async function runInBrowser(root: string, plan: { workloads: string[]; threads: number[]; settleMs: number }, timeoutMs: number, log: (s: string) => void):
Promise<{ results: BrowserResult[]; userAgent: string }> {
  const results: BrowserResult[] = [];
  const end = await runPage({
    root, html: PAGE, hash: `#${encodeURIComponent(JSON.stringify(plan))}`, timeoutMs,
    onMessage: (path, msg) => {
      if (path === '/log') log(`  browser: ${String(msg)}`);
      else if (path === '/result') results.push(msg as BrowserResult);
    },
  }) as { error?: string; userAgent?: string };
  if (end.error) throw new Error(`the page failed: ${end.error}`);
  return { results, userAgent: end.userAgent ?? '' };
}

interface NodeResult { workload: string; threads: number; tokensPerSecond: number; msPerSequence: number; backend: string }

function runInNode(root: string, workload: string, threads: number): NodeResult {
  const p = spawnSync(process.execPath, [join(root, 'dist/bench/bench.js'), '--workload', workload, '--threads', String(threads), '--json'], { encoding: 'utf8' });
  if (p.status !== 0) throw new Error(`node bench of ${workload} failed:\n${p.stderr}`);
  return JSON.parse(p.stdout.trim().split('\n').at(-1)!) as NodeResult;
}

function list<T>(s: string, what: string, parse: (x: string) => T, ok: (x: T) => boolean): T[] {
  const xs = s.split(',').map((x) => x.trim()).filter((x) => x !== '');
  const out = xs.map(parse);
  const bad = xs.filter((_, i) => !ok(out[i]!));
  if (xs.length === 0 || bad.length) throw new Error(`--${what} ${s}: ${bad.length ? `unknown ${bad.join(', ')}` : 'empty'} (see --help)`);
  return out;
}

async function main(): Promise<void> {
  const { values: v } = parseArgs({
    options: {
      workloads: { type: 'string', default: 'W1,W1-layer,W5a,W5b,generate' }, threads: { type: 'string', default: '1,2' },
      'no-node': { type: 'boolean' }, json: { type: 'boolean' }, timeout: { type: 'string', default: '600' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (v.help) { process.stdout.write(USAGE); return; }
  const workloads = list(v.workloads!, 'workloads', (x) => x, (x) => x in WORKLOADS);
  const threads = list(v.threads!, 'threads', Number, (x) => x === 1 || x === 2);
  const timeoutS = Number(v.timeout);
  if (!(timeoutS > 0)) throw new Error(`--timeout ${v.timeout}: expected a positive number of seconds`);
  const root = join(fileURLToPath(new URL('.', import.meta.url)), '..', '..');
  const log = (s: string): void => { if (!v.json) process.stderr.write(`${s}\n`); };

  const chromium = findChromium();
  if (!chromium) throw new Error(`no Chromium found${process.env['CHROMIUM'] ? ` at CHROMIUM=${process.env['CHROMIUM']}` : ''}: install it (Debian: apt-get install chromium) or set CHROMIUM=/path/to/chrome`);
  // "Chromium 156.0.8078.108 built on ...": the user agent gives only the major version.
  const version = /^\S+ [\d.]+/.exec(spawnSync(chromium, ['--version'], { encoding: 'utf8' }).stdout ?? '')?.[0] ?? 'Chromium';
  log(`${version} (${chromium}), headless: ${workloads.join(', ')} on ${threads.join(' and ')} thread(s)`);
  // Workload by workload, the browser and then Node.js: the two figures compared are minutes
  // apart at most on a machine whose speed drifts.
  const t0 = performance.now();
  const browser: BrowserResult[] = [];
  const node: NodeResult[] = [];
  let userAgent = '';
  for (const w of workloads) {
    const b = await runInBrowser(root, { workloads: [w], threads, settleMs: 3000 }, timeoutS * 1000, log);
    browser.push(...b.results);
    userAgent = b.userAgent;
    if (v['no-node']) continue;
    for (const t of threads) { log(`  node: ${w}, ${t} thread${t > 1 ? 's' : ''}`); node.push(runInNode(root, w, t)); }
  }
  const report = {
    date: new Date().toISOString(), browserVersion: version, userAgent, node: process.version,
    wallSeconds: Math.round((performance.now() - t0) / 1000), browser, nodejs: node,
  };
  if (v.json) { process.stdout.write(`${JSON.stringify(report, null, 2)}\n`); return; }
  const order = (r: { workload: string; threads: number }): number => threads.indexOf(r.threads) * 100 + workloads.indexOf(r.workload);
  const rows = [...browser].sort((a, b) => order(a) - order(b)).map((r) => {
    const n = node.find((x) => x.workload === r.workload && x.threads === r.threads);
    const speed = (x: { workload: string; tokensPerSecond: number; msPerSequence: number }): string =>
      x.workload === 'W5a' ? `${x.msPerSequence.toFixed(3)} ms/seq` : `${x.tokensPerSecond.toLocaleString('en-US')} tok/s`;
    if (r.error) return [r.workload, String(r.threads), 'failed', r.error.split('\n')[0]!, n ? speed(n) : '', ''];
    return [r.workload, String(r.threads), speed(r), r.backend, n ? speed(n) : '', n ? `${(r.tokensPerSecond / n.tokensPerSecond).toFixed(2)}x` : ''];
  });
  const head = ['workload', 'threads', version, 'backend', `Node.js ${process.version}`, 'browser / Node'];
  process.stdout.write(`${textTable([head, ...rows])}\n`);
}

main().catch((e: Error) => { process.stderr.write(`bench:browser: ${e.message}\n`); process.exit(2); });
