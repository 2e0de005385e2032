// Compiles the AssemblyScript kernels (asm/kernels.ts) with the asc JS API — no network,
// no system compiler — and writes each module as a base64 string constant into
// src/kernels/wasm/generated/{simd,relaxed,simd-threads,relaxed-threads}.ts, which tsc then
// compiles with the rest.
//
//   simd     -O3 --runtime stub --enable simd                      (plain SIMD, mul + add)
//   relaxed  -O3 --runtime stub --enable simd --enable relaxed-simd (f32x4.relaxed_madd FMA)
//   simd-threads, relaxed-threads: the same plus --enable threads --importMemory --sharedMemory
//     --maximumMemory 65536 --zeroFilledMemory, compiled from asm/kernels.ts with asm/kernels-threads.ts appended
//     (one source, so the two-thread drivers use the kernels' internals; the single-threaded
//     builds are unaffected by that file). Used by src/kernels/wasm/threaded.ts.
//
// The source selects its multiply-add with the compile-time constant ASC_FEATURE_RELAXED_SIMD.
// Each generated file records a hash of its inputs (source, compiler version, flags, this
// script); when every output is up to date the compiler is not even loaded.
// Usage: node tools/build-wasm.mjs [--force] [--wat]   (--wat also writes the text format next
// to the outputs, for inspecting the generated code; it implies --force).
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const source = 'asm/kernels.ts';
const outDir = join(root, 'src/kernels/wasm/generated');
const wantWat = process.argv.includes('--wat');
const force = wantWat || process.argv.includes('--force');
const baseFlags = ['-O3', '--runtime', 'stub', '--noAssert'];

const threadsSource = 'asm/kernels-threads.ts';
/** The threaded builds' entry: a virtual file, asm/kernels.ts followed by asm/kernels-threads.ts. */
const threadedEntry = 'asm/kernels-threaded.ts';
// --zeroFilledMemory: the loader always passes a fresh (zeroed) memory, so the static zero buffers
// need no data segments (which every instantiation, i.e. every thread, would re-apply).
const threadFlags = ['--enable', 'threads', '--importMemory', '--sharedMemory', '--maximumMemory', '65536', '--zeroFilledMemory'];
const variants = [
  { name: 'simd', file: 'simd.ts', flags: ['--enable', 'simd'] },
  { name: 'relaxed', file: 'relaxed.ts', flags: ['--enable', 'simd', '--enable', 'relaxed-simd'] },
  { name: 'simd-threads', file: 'simd-threads.ts', threaded: true, flags: ['--enable', 'simd', ...threadFlags] },
  {
    name: 'relaxed-threads', file: 'relaxed-threads.ts', threaded: true,
    flags: ['--enable', 'simd', '--enable', 'relaxed-simd', ...threadFlags],
  },
];

process.chdir(root); // asc resolves `source` against the working directory
mkdirSync(outDir, { recursive: true });

const ascVersion = createRequire(import.meta.url)('assemblyscript/package.json').version;
const inputs = readFileSync(source, 'utf8') + readFileSync(fileURLToPath(import.meta.url), 'utf8') + ascVersion;
const threadsText = readFileSync(threadsSource, 'utf8');
const keyOf = (v) => {
  const h = createHash('sha256').update(inputs);
  if (v.threaded) h.update(threadsText);
  return h.update([...baseFlags, ...v.flags].join(' ')).digest('hex');
};
const keyLine = (v) => `// key: ${keyOf(v)}`;
const upToDate = (v) => {
  const f = join(outDir, v.file);
  return existsSync(f) && readFileSync(f, 'utf8').includes(keyLine(v));
};
if (!force && variants.every(upToDate)) {
  console.log('build-wasm: up to date');
  process.exit(0);
}
const { default: asc } = await import('assemblyscript/asc');

const t0 = performance.now();
for (const v of variants) {
  const outputs = {};
  const stderr = asc.createMemoryStream();
  const { error } = await asc.main(
    [
      v.threaded ? threadedEntry : source,
      ...baseFlags,
      ...v.flags,
      '--outFile', 'out.wasm',
      ...(wantWat ? ['--textFile', 'out.wat'] : []),
    ],
    {
      stderr,
      // Outputs are kept in memory; sources are read from disk relative to the repository root.
      writeFile(name, contents) { outputs[name] = contents; },
      // The threaded entry exists only here; everything else is read from disk (null = absent).
      ...(v.threaded ? {
        readFile(name, baseDir) {
          if (name.replace(/\\/g, '/').endsWith(threadedEntry)) return `${readFileSync(source, 'utf8')}\n${threadsText}`;
          try { return readFileSync(resolve(baseDir, name), 'utf8'); } catch { return null; }
        },
      } : {}),
    },
  );
  if (error) {
    console.error(stderr.toString());
    console.error(`build-wasm: ${v.name} failed: ${error.message}`);
    process.exit(1);
  }
  const bytes = outputs['out.wasm'];
  if (!(bytes instanceof Uint8Array)) {
    console.error(`build-wasm: ${v.name}: asc produced no binary`);
    process.exit(1);
  }
  const b64 = Buffer.from(bytes).toString('base64');
  const ts =
    `// Generated by tools/build-wasm.mjs from ${v.threaded ? `${source} + ${threadsSource}` : source} (asc ${ascVersion} ${[...baseFlags, ...v.flags].join(' ')}). Do not edit.\n` +
    `${keyLine(v)}\n` +
    `export const wasmBase64 = '${b64}';\n`;
  writeFileSync(join(outDir, v.file), ts);
  if (wantWat) writeFileSync(join(outDir, `${v.name}.wat`), outputs['out.wat']);
  console.log(`build-wasm: ${v.name}: ${bytes.length} bytes`);
}
console.log(`build-wasm: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
