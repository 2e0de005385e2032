// mkdir -p without Node's { recursive: true }, which loops forever (100% CPU; the sync form
// freezes the event loop) when a parent exists but cannot hold the child and answers ENOENT: any
// path under /proc, or below a dangling symlink (Node 20). Here each missing level is created
// once, and a level that cannot be made throws.
import { mkdirSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';

const code = (e: unknown): string | undefined => (e as NodeJS.ErrnoException)?.code;

/** Whether p is a directory; null when nothing is there. */
function isDir(p: string): boolean | null {
  try {
    return statSync(p).isDirectory();
  } catch (e) {
    if (code(e) === 'ENOENT') return null;
    throw e;
  }
}

/** Creates `path` and its missing parents; throws (ENOENT, ENOTDIR, EACCES...) where a level cannot be made. */
export function makeDirsSync(path: string): void {
  const missing: string[] = [];
  for (let p = resolve(path); ; p = dirname(p)) {
    const dir = isDir(p);
    if (dir === true) break;
    if (dir === false) throw Object.assign(new Error(`ENOTDIR: not a directory, mkdir '${p}'`), { code: 'ENOTDIR', path: p });
    missing.push(p);
    if (dirname(p) === p) break; // the root itself is missing: its mkdir says why
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (e) {
      if (code(e) !== 'EEXIST') throw e;
      // Something is there that stat cannot follow to a directory: a dangling symbolic link.
      if (isDir(d) !== true) throw Object.assign(new Error(`ENOTDIR: not a directory (a dangling symbolic link?), mkdir '${d}'`), { code: 'ENOTDIR', path: d, cause: e });
    }
  }
}
