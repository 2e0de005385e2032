// A page in headless Chromium that talks back: a local server serves the page and the built
// library (dist/) with the headers that make the page cross-origin isolated (SharedArrayBuffer,
// so the two-thread backend can run), the page POSTs JSON messages, and the run ends when it
// posts to /done. Used by the browser benchmark (bench/browser.ts) and the browser tests.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { extname, join, normalize, sep } from 'node:path';

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.json': 'application/json', '.wasm': 'application/wasm' };

/** Chromium's path: $CHROMIUM, else a system install; null when there is none. */
export function findChromium(): string | null {
  const env = process.env['CHROMIUM'];
  if (env) return existsSync(env) ? env : null;
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p)) ?? null;
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => { s += c; });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}

export interface PageRun {
  /** Repository root: files under its dist/ are served at /dist/... */
  root: string;
  /** The page's HTML, served at /index.html. */
  html: string;
  /** Appended to the page's URL (e.g. '#' + a plan). */
  hash?: string;
  /** Each JSON message the page POSTs to a path other than /done. */
  onMessage?(path: string, message: unknown): void;
  timeoutMs: number;
}

/**
 * Loads the page in headless Chromium and resolves with the message it POSTs to /done. Rejects
 * when Chromium is missing, exits first, or the page stays silent for timeoutMs.
 */
export async function runPage(run: PageRun): Promise<unknown> {
  const chromium = findChromium();
  if (!chromium) throw new Error('no Chromium found: install it (Debian: apt-get install chromium) or set CHROMIUM=/path/to/chrome');
  let finish!: (v: unknown) => void;
  const done = new Promise<unknown>((r) => { finish = r; });
  const dist = join(run.root, 'dist') + sep;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST') {
      void readBody(req).then((body) => {
        const msg = JSON.parse(body) as unknown;
        if (path === '/done') finish(msg);
        else run.onMessage?.(path, msg);
        res.writeHead(204); res.end();
      });
      return;
    }
    if (path === '/' || path === '/index.html') { res.writeHead(200, { 'content-type': 'text/html' }); res.end(run.html); return; }
    const file = normalize(join(run.root, path));
    if (!file.startsWith(dist) || !existsSync(file)) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const profile = mkdtempSync(join(tmpdir(), 'rnnkit-chromium-'));
  // --remote-debugging-port keeps a headless browser open on its page until it is killed.
  const chrome = spawn(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-renderer-backgrounding', '--disable-background-timer-throttling',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', `http://127.0.0.1:${port}/index.html${run.hash ?? ''}`,
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true }); // its own process group: killed with its helpers
  let stderr = '';
  chrome.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
  const gone = new Promise<number | null>((r) => chrome.on('exit', (code) => r(code)));
  const exited = gone.then((code) => new Error(`Chromium exited (code ${code}) before the page finished:\n${stderr}`));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Error>((r) => { timer = setTimeout(() => r(new Error(`no answer from the page within ${run.timeoutMs / 1000} s`)), run.timeoutMs); });
  try {
    const end = await Promise.race([done, exited, timedOut]);
    if (end instanceof Error) throw end;
    return end;
  } finally {
    clearTimeout(timer);
    // SIGTERM lets Chromium close its helper processes; the whole group is killed if it lingers.
    chrome.kill('SIGTERM');
    const late = setTimeout(() => { try { process.kill(-chrome.pid!, 'SIGKILL'); } catch { /* gone */ } }, 3000);
    await gone;
    clearTimeout(late);
    try { process.kill(-chrome.pid!, 'SIGKILL'); } catch { /* no helper left */ }
    server.close();
    // A helper may still be writing into the profile as it goes; a leftover temporary directory
    // is not worth failing the run for.
    try { rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch { /* see above */ }
  }
}
