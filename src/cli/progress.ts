// A one-line progress display for terminals (redrawn in place), plain lines otherwise; the
// options' parsing and the user errors the commands share.
import { fsReason } from '../data/node/fs-reason.js';
import { makeDirsSync } from '../data/node/make-dirs.js';

export interface ProgressState {
  done: number;
  total: number;
  fields: Record<string, string>;
}

export class Progress {
  private lastDraw = 0;
  private readonly tty: boolean;
  private readonly start = Date.now();

  constructor(private readonly out: NodeJS.WriteStream = process.stderr, private readonly label = '') {
    this.tty = Boolean(out.isTTY) && !process.env.CI;
  }

  /** Redraw at most every 100 ms on a terminal; on a pipe, print at most every 10 s. */
  update(s: ProgressState, force = false): void {
    const now = Date.now();
    if (!force && now - this.lastDraw < (this.tty ? 100 : 10_000)) return;
    this.lastDraw = now;
    const frac = s.total > 0 ? Math.min(1, s.done / s.total) : 0;
    const elapsed = (now - this.start) / 1000;
    const eta = frac > 0 ? elapsed / frac - elapsed : NaN;
    const width = 24;
    const bar = '█'.repeat(Math.round(frac * width)).padEnd(width, '░');
    const fields = Object.entries(s.fields).map(([k, v]) => `${k} ${v}`).join('  ');
    const line = `${this.label}${bar} ${(frac * 100).toFixed(0).padStart(3)}%  ${fields}  ${fmtTime(elapsed)} elapsed, ${Number.isFinite(eta) ? fmtTime(eta) : '?'} left`;
    if (this.tty) this.out.write(`\r\x1b[2K${line}`);
    else this.out.write(`${line}\n`);
  }

  /** Print a message above the bar (to stdout, or through `sink`, e.g. stderr in --json mode). */
  log(msg: string, sink: (s: string) => void = (s) => process.stdout.write(`${s}\n`)): void {
    if (this.tty) this.out.write('\r\x1b[2K');
    sink(msg.replace(/\n$/, ''));
  }

  done(): void {
    if (this.tty) this.out.write('\n');
  }
}

export function fmtTime(sec: number): string {
  if (!Number.isFinite(sec)) return '?';
  const s = Math.round(sec);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

/** "10m", "90s", "1h", "2h30m" -> milliseconds. */
export function parseDuration(s: string, what: string): number {
  const m = /^(?:(\d+(?:\.\d+)?)h)?(?:(\d+(?:\.\d+)?)m)?(?:(\d+(?:\.\d+)?)s)?$/.exec(s.trim());
  if (!m || s.trim() === '' || (!m[1] && !m[2] && !m[3])) throw new CliError(`${what}: expected a duration like 90s, 10m or 1h30m, got '${s}'`);
  return ((Number(m[1] ?? 0) * 60 + Number(m[2] ?? 0)) * 60 + Number(m[3] ?? 0)) * 1000;
}

/** An error caused by the user's input: printed as one line, exit code 2, no stack trace. */
export class CliError extends Error {}

/**
 * The output directory given as `option`, created now with its parents: a path that cannot
 * hold it fails before any training, not at the first checkpoint.
 */
export function outDir(path: string, option = '--out'): string {
  try {
    makeDirsSync(path);
  } catch (e) {
    throw new CliError(`${option}: cannot create ${path}: ${fsReason(e)}`);
  }
  return path;
}

/** An integer option (>= min), or `def` when absent; a clear CliError otherwise. */
export function int(v: string | undefined, name: string, def: number, min = 1): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new CliError(`--${name}: expected an integer >= ${min}, got '${v}'`);
  return n;
}

/** A numeric option accepted by `ok`, or `def` when absent; `want` describes what is accepted. */
export function num(v: string | undefined, name: string, def: number, ok: (x: number) => boolean, want: string): number {
  if (v === undefined) return def;
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || !ok(n)) throw new CliError(`--${name}: expected ${want}, got '${v}'`);
  return n;
}
