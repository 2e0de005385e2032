// Feature detection for the WebAssembly backends, by validating tiny hand-assembled modules.
// Each module is one function `() -> v128` whose body pushes three v128 constants and applies
// one instruction; WebAssembly.validate answers whether this engine (with its current flags)
// accepts that instruction. Relaxed SIMD needs `--experimental-wasm-relaxed-simd` on Node 20
// and is on by default from Node 22 (which rejects that flag), so it is detected, never assumed.

function probe(opcode: number[], operands: number): Uint8Array<ArrayBuffer> {
  const v128Const = [0xfd, 0x0c, ...new Array<number>(16).fill(0)];
  const body = [0x00, ...Array.from({ length: operands }, () => v128Const).flat(), ...opcode, 0x0b];
  return new Uint8Array([
    0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // "\0asm", version 1
    0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7b, //       type section: [func () -> v128]
    0x03, 0x02, 0x01, 0x00, //                         function section: one function of type 0
    0x0a, body.length + 2, 0x01, body.length, ...body, // code section
  ]);
}

function validates(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return typeof WebAssembly === 'object' && WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** Fixed-width 128-bit SIMD: `f32x4.add` (0xfd 0xe4 0x01). */
export function simdSupported(): boolean {
  return validates(probe([0xfd, 0xe4, 0x01], 2));
}

/** Relaxed SIMD: `f32x4.relaxed_madd` (0xfd 0x85 0x02, i.e. 0xfd 0x105). */
export function relaxedSimdSupported(): boolean {
  return validates(probe([0xfd, 0x85, 0x02], 3));
}

/**
 * Node.js 20 ships relaxed SIMD behind `--experimental-wasm-relaxed-simd` (Node 22 enables it by
 * default and rejects the flag). V8 reads wasm feature flags when a module is validated or
 * compiled, so setting the flag at run time, before the first compile, turns the feature on for
 * this process; detection then decides as usual. Only on Node < 22, only when the feature is
 * off, never in browsers; RNNKIT_NO_V8_FLAGS=1 opts out. Returns whether the flag was set.
 */
export function enableRelaxedSimdOnNode20(): boolean {
  const proc = (globalThis as { process?: NodeJS.Process }).process;
  const version = proc?.versions?.node;
  if (!version || proc.env?.RNNKIT_NO_V8_FLAGS || relaxedSimdSupported()) return false;
  if (Number(version.split('.')[0]) >= 22) return false;
  const getBuiltin = (proc as { getBuiltinModule?: (id: string) => unknown }).getBuiltinModule;
  const v8 = getBuiltin?.call(proc, 'node:v8') as { setFlagsFromString?: (f: string) => void } | undefined;
  if (!v8?.setFlagsFromString) return false;
  v8.setFlagsFromString('--experimental-wasm-relaxed-simd');
  return relaxedSimdSupported();
}
