// safetensors encode/decode: byte-exact vectors derived by hand from the spec (the same files the
// reference implementation's own tests expect), round trips, and every class of malformed input.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import {
  bfloat16Value, decodeSafetensors, encodeSafetensors, firstNonFinite, float16Bits, float16Value, fromFloat16, SafetensorsError, toFloat16,
  type SafeTensor,
} from '../src/models/safetensors.js';

/** u64 little-endian. */
function u64(n: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 8; i++) out.push(Math.floor(n / 2 ** (8 * i)) % 256);
  return out;
}

/** Assemble a file by hand: size field, header text padded with spaces to 8 bytes, then data. */
function build(header: string, data: number[] = [], pad = true): Uint8Array {
  const h = [...new TextEncoder().encode(header)];
  while (pad && h.length % 8 !== 0) h.push(0x20);
  return new Uint8Array([...u64(h.length), ...h, ...data]);
}

const ascii = (s: string): number[] => [...s].map((c) => c.charCodeAt(0));
// 0.0, 1.0, 2.0, 3.0, 4.0, 5.0 as IEEE-754 float32, little-endian (1.0 = 0x3F800000, 2.0 = 0x40000000...).
const F32_0_TO_5 = [0, 0, 0, 0, 0, 0, 128, 63, 0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 64, 0, 0, 160, 64];

function expectError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof SafetensorsError, `expected SafetensorsError, got ${String(e)}`);
    assert.match(e.message, pattern);
    return true;
  });
}

test('spec vector: one F32 tensor whose 64-byte header needs no padding', () => {
  const header = '{"attn.0":{"dtype":"F32","shape":[1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header.length, 64);
  const expected = new Uint8Array([64, 0, 0, 0, 0, 0, 0, 0, ...ascii(header), ...F32_0_TO_5]);
  const out = encodeSafetensors({ 'attn.0': { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
  assert.deepEqual(out, expected);

  const back = decodeSafetensors(expected);
  assert.deepEqual(Object.keys(back.tensors), ['attn.0']);
  assert.deepEqual(back.tensors['attn.0'], { dtype: 'F32', shape: [1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) });
  assert.deepEqual(back.metadata, {});
});

test('spec vector: header padded with spaces to 8-byte alignment', () => {
  const header = '{"attn0":{"dtype":"F32","shape":[1,1,2,3],"data_offsets":[0,24]}}';
  assert.equal(header.length, 65);
  const expected = new Uint8Array([72, 0, 0, 0, 0, 0, 0, 0, ...ascii(header), 32, 32, 32, 32, 32, 32, 32, ...F32_0_TO_5]);
  const out = encodeSafetensors({ attn0: { dtype: 'F32', shape: [1, 1, 2, 3], data: new Float32Array([0, 1, 2, 3, 4, 5]) } });
  assert.deepEqual(out, expected);
  assert.deepEqual(decodeSafetensors(expected).tensors.attn0!.data, new Float32Array([0, 1, 2, 3, 4, 5]));
});

test('spec vector: no tensors, with and without metadata', () => {
  assert.deepEqual(encodeSafetensors({}), new Uint8Array([8, 0, 0, 0, 0, 0, 0, 0, 123, 125, 32, 32, 32, 32, 32, 32]));
  const meta = '{"__metadata__":{"framework":"pt"}}';
  const expected = new Uint8Array([40, 0, 0, 0, 0, 0, 0, 0, ...ascii(meta), 32, 32, 32, 32, 32]);
  assert.deepEqual(encodeSafetensors({}, { framework: 'pt' }), expected);
  assert.deepEqual(decodeSafetensors(expected), { tensors: {}, metadata: { framework: 'pt' } });
});

test('layout: descending dtype alignment then name, metadata first, every dtype little-endian', () => {
  const out = encodeSafetensors({
    b: { dtype: 'U8', shape: [3], data: new Uint8Array([1, 2, 255]) },
    a: { dtype: 'U8', shape: [0], data: new Uint8Array(0) },
    i: { dtype: 'I32', shape: [1], data: new Int32Array([-2]) },
    f: { dtype: 'F32', shape: [], data: new Float32Array([-1.5]) },
    d: { dtype: 'F64', shape: [1], data: new Float64Array([0.1]) },
    l: { dtype: 'I64', shape: [1], data: new BigInt64Array([-3n]) },
  }, { z: '1', a: 'é' });
  const header = '{"__metadata__":{"a":"é","z":"1"},'
    + '"l":{"dtype":"I64","shape":[1],"data_offsets":[0,8]},'
    + '"d":{"dtype":"F64","shape":[1],"data_offsets":[8,16]},'
    + '"f":{"dtype":"F32","shape":[],"data_offsets":[16,20]},'
    + '"i":{"dtype":"I32","shape":[1],"data_offsets":[20,24]},'
    + '"a":{"dtype":"U8","shape":[0],"data_offsets":[24,24]},'
    + '"b":{"dtype":"U8","shape":[3],"data_offsets":[24,27]}}';
  const data = [
    0xfd, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // I64 -3 (two's complement)
    0x9a, 0x99, 0x99, 0x99, 0x99, 0x99, 0xb9, 0x3f, // F64 0.1 = 0x3FB999999999999A
    0x00, 0x00, 0xc0, 0xbf, //                         F32 -1.5 = 0xBFC00000
    0xfe, 0xff, 0xff, 0xff, //                         I32 -2
    1, 2, 255, //                                      U8
  ];
  assert.deepEqual(out, build(header, data));
});

test('integer-like names keep their sorted order in the header (not JS object key order)', () => {
  const t = (v: number): SafeTensor => ({ dtype: 'F32', shape: [1], data: new Float32Array([v]) });
  const out = encodeSafetensors({ b: t(1), 10: t(2), 2: t(3) });
  const header = '{"10":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},'
    + '"2":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},'
    + '"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}';
  assert.deepEqual(out, build(header, [0, 0, 0, 64, 0, 0, 64, 64, 0, 0, 128, 63]));
});

test('round trip: all dtypes, empty and scalar tensors, odd names, metadata', () => {
  const tensors: Record<string, SafeTensor> = {
    'lstm.weight_ih': { dtype: 'F32', shape: [2, 3], data: new Float32Array([0.5, -1, 3.25, 1e-30, -0, 7]) },
    f64: { dtype: 'F64', shape: [2, 2], data: new Float64Array([Math.PI, -Math.E, 1e300, Number.MIN_VALUE]) },
    ints: { dtype: 'I32', shape: [3], data: new Int32Array([-(2 ** 31), 0, 2 ** 31 - 1]) },
    longs: { dtype: 'I64', shape: [2], data: new BigInt64Array([-(2n ** 63n), 2n ** 63n - 1n]) },
    bytes: { dtype: 'U8', shape: [5], data: new Uint8Array([0, 1, 127, 128, 255]) },
    empty: { dtype: 'F32', shape: [0, 4], data: new Float32Array(0) },
    emptyI64: { dtype: 'I64', shape: [3, 0], data: new BigInt64Array(0) },
    scalar: { dtype: 'F64', shape: [], data: new Float64Array([42]) },
    ['__proto__']: { dtype: 'U8', shape: [1], data: new Uint8Array([9]) },
    'naïve 名前 🙂': { dtype: 'I32', shape: [1, 1], data: new Int32Array([5]) },
  };
  const metadata = { format: 'rnnkit', 'quote"key': 'back\\slash\nnewline', emoji: '🙂' };
  const bytes = encodeSafetensors(tensors, metadata);
  assert.equal(new DataView(bytes.buffer).getBigUint64(0, true) % 8n, 0n);
  const back = decodeSafetensors(bytes);
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual(Object.keys(back.tensors).sort(), Object.keys(tensors).sort());
  assert.ok(Object.keys(back.tensors).includes('__proto__'));
  for (const name of Object.keys(tensors)) assert.deepEqual(back.tensors[name], tensors[name], name);
  assert.equal(Object.getPrototypeOf(back.tensors), Object.prototype, '"__proto__" must be an own key, not a prototype change');
  // Negative zero survives bit-exactly.
  assert.ok(Object.is(back.tensors['lstm.weight_ih']!.data[4], -0));
  // Re-encoding the decoded file reproduces it byte for byte.
  assert.deepEqual(encodeSafetensors(back.tensors, back.metadata), bytes);
});

test('decode copies data out: aligned, independent of the input, works from an unaligned Buffer view', () => {
  const bytes = encodeSafetensors({ x: { dtype: 'F64', shape: [3], data: new Float64Array([1, 2, 3]) } });
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  const view = shifted.subarray(3); // byteOffset 3: a Float64Array over it would throw
  const back = decodeSafetensors(view);
  const x = back.tensors.x!;
  assert.equal(x.data.byteOffset, 0);
  assert.deepEqual(x.data, new Float64Array([1, 2, 3]));
  shifted.fill(0);
  assert.deepEqual(x.data, new Float64Array([1, 2, 3]));
});

test('decode accepts header entries in any order and non-finite values', () => {
  const header = '{"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
  const back = decodeSafetensors(build(header, [0, 0, 0xc0, 0x7f, 0, 0, 0x80, 0x7f])); // NaN, +Inf
  assert.deepEqual(Object.keys(back.tensors), ['a', 'b']);
  assert.ok(Number.isNaN(back.tensors.a!.data[0]));
  assert.equal(back.tensors.b!.data[0], Infinity);
  assert.equal(firstNonFinite(back.tensors.a!), 0);
  assert.equal(firstNonFinite({ dtype: 'F32', shape: [2], data: new Float32Array([1, -Infinity]) }), 1);
  assert.equal(firstNonFinite({ dtype: 'I32', shape: [1], data: new Int32Array([1]) }), -1);
});

test('decode rejects malformed files with clear errors', () => {
  const ok = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}';
  const eight = [0, 0, 128, 63, 0, 0, 0, 64];
  expectError(() => decodeSafetensors(new Uint8Array(5)), /truncated: 5 bytes/);
  // Absurd size: refused from the 8-byte size field alone, no allocation.
  expectError(() => decodeSafetensors(new Uint8Array([0, 0, 0, 0, 0, 0, 0, 1, 0x7b])), /header size 72057594037927936 is absurd/);
  expectError(() => decodeSafetensors(new Uint8Array([...u64(100_000_001), 0x7b, 0x7d])), /absurd/);
  expectError(() => decodeSafetensors(new Uint8Array([...u64(64), 0x7b, 0x7d])), /header size 64 is larger than the rest of the file \(2 bytes\)/);
  expectError(() => decodeSafetensors(build('[1,2]')), /does not start with '\{'/);
  expectError(() => decodeSafetensors(build('{"w":')), /not valid JSON/);
  expectError(() => decodeSafetensors(new Uint8Array([...u64(2), 0x7b, 0xff])), /not valid UTF-8/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F8_E4M3","shape":[2],"data_offsets":[0,2]}}', [0, 0])), /tensor "w": unknown or unsupported dtype "F8_E4M3"/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"X","shape":[2],"data_offsets":[0,8]}}', eight)), /unsupported dtype "X"/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}}', eight)), /shape \[3\] of F32 needs 12 bytes but data_offsets \[0, 8\] span 8/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}}', eight)), /shape must be an array of non-negative integers/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":"2","data_offsets":[0,8]}}', eight)), /shape must be an array/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[0]}}', eight)), /data_offsets must be \[begin, end\]/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}}', eight)), /end before they begin/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}}', eight)), /extend past the end of the data \(8 bytes\)/);
  expectError(() => decodeSafetensors(build(ok, eight.slice(0, 7))), /extend past the end of the data \(7 bytes\); file truncated/);
  expectError(() => decodeSafetensors(build(ok, [...eight, 0])), /1 trailing bytes unaccounted for/);
  expectError(() => decodeSafetensors(build('{"w":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', eight)), /leave a hole of 4 bytes/);
  expectError(() => decodeSafetensors(build(
    '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}', eight)), /overlap the previous tensor/);
  expectError(() => decodeSafetensors(build('{"__metadata__":{"k":1}}')), /__metadata__\["k"\] must be a string/);
  expectError(() => decodeSafetensors(build('{"w":[1]}')), /header entry must be an object/);
  expectError(() => decodeSafetensors(build(ok, eight), { maxBytes: 10 }), /over the limit of 10/);
  // The source is named in every message.
  expectError(() => decodeSafetensors(build('{"w":'), { source: '/models/m/weights.safetensors' }), /^\/models\/m\/weights\.safetensors: header is not valid JSON/);
});

test('encode rejects bad tensors before producing bytes', () => {
  expectError(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2], data: new Float64Array(2) as unknown as Float32Array } }), /tensor "w": dtype F32 needs a Float32Array, got Float64Array/);
  expectError(() => encodeSafetensors({ w: { dtype: 'F32', shape: [2, 2], data: new Float32Array(3) } }), /shape \[2, 2\] has 4 elements but data has 3/);
  expectError(() => encodeSafetensors({ w: { dtype: 'U16' as 'F32', shape: [1], data: new Float32Array(1) } }), /unsupported dtype "U16"/);
  expectError(() => encodeSafetensors({ w: { dtype: 'F32', shape: [1.5], data: new Float32Array(1) } }), /non-negative integers/);
  expectError(() => encodeSafetensors({ __metadata__: { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), /reserved/);
  expectError(() => encodeSafetensors({ '\uD800': { dtype: 'U8', shape: [0], data: new Uint8Array(0) } }), /lone surrogate/);
  expectError(() => encodeSafetensors({}, { k: 1 as unknown as string }), /metadata "k" must be a string/);
});

// ---------------------------------------------------------------------------------------------
// Half precision

const half = JSON.parse(readFileSync(new URL('../../test/golden/float16.json', import.meta.url), 'utf8')) as { cases: [number, number][]; nan: [number, number] };

test('float16Bits rounds float32 to binary16 as numpy does (ties to even, subnormals, overflow to Infinity, NaN quiet): every golden case', () => {
  assert.ok(half.cases.length > 3000);
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (const [b32, b16] of half.cases) {
    u[0] = b32;
    assert.equal(float16Bits(f[0]!), b16, `float32 0x${b32.toString(16)} (${f[0]})`);
  }
  u[0] = half.nan[0];
  assert.equal(float16Bits(f[0]!), half.nan[1]);
});

test('float16Value and float16Bits invert each other on all 65,536 bit patterns (NaNs stay NaN); toFloat16/fromFloat16 are the array forms', () => {
  const all = Uint16Array.from({ length: 65536 }, (_, i) => i);
  const values = fromFloat16(all);
  for (let h = 0; h < 65536; h++) {
    const v = float16Value(h);
    const nan = (h & 0x7c00) === 0x7c00 && (h & 0x3ff) !== 0;
    if (nan) { assert.ok(Number.isNaN(v) && Number.isNaN(values[h]!), `0x${h.toString(16)}`); continue; }
    assert.equal(values[h], v);
    assert.equal(float16Bits(v), h, `0x${h.toString(16)} -> ${v}`);
  }
  assert.equal(float16Value(0x3c00), 1);
  assert.equal(float16Value(0x0001), 2 ** -24);
  assert.equal(float16Value(0x7bff), 65504);
  assert.deepEqual(toFloat16(new Float32Array([1, -2, 0.5])), new Uint16Array([0x3c00, 0xc000, 0x3800]));
});

test('F16 tensors: encoded and decoded as their bit patterns; a non-finite one is found', () => {
  const data = toFloat16(Float32Array.from([0, -1.5, 3.140625, 65504, 2 ** -24]));
  const bytes = encodeSafetensors({ w: { dtype: 'F16', shape: [5], data } });
  const back = decodeSafetensors(bytes).tensors.w!;
  assert.equal(back.dtype, 'F16');
  assert.deepEqual(back.data, data);
  assert.equal(firstNonFinite(back), -1);
  assert.equal(firstNonFinite({ dtype: 'F16', shape: [3], data: new Uint16Array([0x3c00, 0x7c00, 0]) }), 1);
  assert.equal(firstNonFinite({ dtype: 'F16', shape: [2], data: new Uint16Array([0xfe00, 0]) }), 0);
});

test('BF16 tensors: laid out between I32 and F16 (the reference dtype order), round trip as bit patterns; bfloat16Value widens exactly; a non-finite one is found', () => {
  const bf = new Uint16Array([0x3f80, 0xc000, 0x0001, 0x8000]); // 1, -2, 2^-133 (smallest subnormal), -0
  const out = encodeSafetensors({
    h: { dtype: 'F16', shape: [1], data: new Uint16Array([0x3c00]) },
    b: { dtype: 'BF16', shape: [2, 2], data: bf },
    i: { dtype: 'I32', shape: [1], data: new Int32Array([7]) },
  });
  const header = '{"i":{"dtype":"I32","shape":[1],"data_offsets":[0,4]},'
    + '"b":{"dtype":"BF16","shape":[2,2],"data_offsets":[4,12]},'
    + '"h":{"dtype":"F16","shape":[1],"data_offsets":[12,14]}}';
  assert.deepEqual(out, build(header, [7, 0, 0, 0, 0x80, 0x3f, 0x00, 0xc0, 0x01, 0x00, 0x00, 0x80, 0x00, 0x3c]));
  const back = decodeSafetensors(out).tensors.b!;
  assert.equal(back.dtype, 'BF16');
  assert.deepEqual(back.data, bf);
  assert.deepEqual([...bf].map(bfloat16Value), [1, -2, 2 ** -133, -0]);
  assert.ok(Object.is(bfloat16Value(0x8000), -0));
  assert.equal(bfloat16Value(0x7f80), Infinity);
  assert.equal(bfloat16Value(0xff80), -Infinity);
  assert.ok(Number.isNaN(bfloat16Value(0x7fc0)));
  // Every finite pattern is the upper half of the float32 it widens to.
  const f = new Float32Array(1), u = new Uint32Array(f.buffer);
  for (let h = 0; h < 0x10000; h += 37) {
    if ((h & 0x7f80) === 0x7f80) continue;
    f[0] = bfloat16Value(h);
    assert.equal(u[0]! >>> 16, h);
    assert.equal(u[0]! & 0xffff, 0);
  }
  assert.equal(firstNonFinite(back), -1);
  assert.equal(firstNonFinite({ dtype: 'BF16', shape: [3], data: new Uint16Array([0x3f80, 0x4000, 0xff80]) }), 2);
  assert.equal(firstNonFinite({ dtype: 'BF16', shape: [2], data: new Uint16Array([0x7fc1, 0]) }), 0);
  // An F16 pattern whose exponent is all ones is a finite bfloat16 (0x7c00: 5.2e36).
  assert.equal(firstNonFinite({ dtype: 'BF16', shape: [1], data: new Uint16Array([0x7c00]) }), -1);
});
