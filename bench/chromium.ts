// A page in headless Chromium that talks back: a local server (the playground's,
// src/cli/playground.ts) serves the page and the built library (dist/) with the headers that make
// the page cross-origin isolated (SharedArrayBuffer, so the two-thread backend can run), the page
// POSTs JSON messages, and the run ends when it posts to /done. Used by the browser benchmark
// (bench/browser.ts) and the browser and playground tests.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startIsolatedServer } from '../src/cli/playground.js';

/** Chromium's path: $CHROMIUM, else a system install; null when there is none. */
export function findChromium(): string | null {
  const env = process.env['CHROMIUM'];
  if (env) return existsSync(env) ? env : null;
  return ['/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'].find((p) => existsSync(p)) ?? null;
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
  let finish!: (v: unknown) => void;
  const done = new Promise<unknown>((r) => { finish = r; });
  const server = await startIsolatedServer({
    distRoot: join(run.root, 'dist'), html: run.html,
    onPost: (path, msg) => { if (path === '/done') finish(msg); else run.onMessage?.(path, msg); },
  });
  try {
    return await inChromium(`${server.url}index.html${run.hash ?? ''}`, done, run.timeoutMs);
  } finally {
    await server.close();
  }
}

/**
 * Opens `url` in headless Chromium and resolves with `done` (what the page's server receives at
 * the end). Rejects when Chromium is missing, exits first, or `done` does not come within timeoutMs.
 */
export async function inChromium<T>(url: string, done: Promise<T>, timeoutMs: number): Promise<T> {
  const chromium = findChromium();
  if (!chromium) throw new Error('no Chromium found: install it (Debian: apt-get install chromium) or set CHROMIUM=/path/to/chrome');
  const profile = mkdtempSync(join(tmpdir(), 'rnnkit-chromium-'));
  // --remote-debugging-port keeps a headless browser open on its page until it is killed.
  const chrome = spawn(chromium, [
    '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
    '--disable-component-update', '--disable-sync', '--disable-renderer-backgrounding', '--disable-background-timer-throttling',
    `--user-data-dir=${profile}`, '--remote-debugging-port=0', url,
  ], { stdio: ['ignore', 'ignore', 'pipe'], detached: true }); // its own process group: killed with its helpers
  let stderr = '';
  chrome.stderr.on('data', (c: Buffer) => { stderr = (stderr + c.toString()).slice(-4000); });
  const gone = new Promise<number | null>((r) => chrome.on('exit', (code) => r(code)));
  const exited = gone.then((code) => new Error(`Chromium exited (code ${code}) before the page finished:\n${stderr}`));
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<Error>((r) => { timer = setTimeout(() => r(new Error(`no answer from the page within ${timeoutMs / 1000} s`)), timeoutMs); });
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
    // A helper may still be writing into the profile as it goes; a leftover temporary directory
    // is not worth failing the run for.
    try { rmSync(profile, { recursive: true, force: true, maxRetries: 5, retryDelay: 100 }); } catch { /* see above */ }
  }
}
