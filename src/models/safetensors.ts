// safetensors encode/decode (pure, browser-safe: no Node imports).
//
// Layout (huggingface/safetensors README, "Format"):
//   8 bytes   N, unsigned 64-bit little-endian: byte length of the header
//   N bytes   UTF-8 JSON object, padded with spaces so that 8 + N is a multiple of 8:
//               { "__metadata__": { str: str },                       (optional)
//                 "<name>": { "dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end] }, ... }
//             offsets are relative to the start of the byte buffer, `end` one past the last byte
//   rest      the byte buffer: tensors packed contiguously (no holes, no overlaps), row-major,
//             little-endian, and the last tensor ends exactly at the end of the file.
//
// The encoder reproduces the reference writer byte for byte: tensors ordered by descending dtype
// alignment then by name, `__metadata__` first, compact JSON, space padding. The decoder accepts any
// order in the header and validates everything, refusing absurd sizes before allocating.
// Values are not checked (NaN/Inf are legal here); the model loader checks finiteness.

export type SafetensorsDType = 'F16' | 'BF16' | 'F32' | 'F64' | 'I32' | 'I64' | 'U8';

/**
 * The typed array that holds each dtype's elements (F16: the IEEE half-precision bit patterns;
 * BF16: bfloat16's, the upper half of a float32's).
 */
export interface SafetensorsArrays {
  F16: Uint16Array;
  BF16: Uint16Array;
  F32: Float32Array;
  F64: Float64Array;
  I32: Int32Array;
  I64: BigInt64Array;
  U8: Uint8Array;
}

/** One tensor as decoded: `dtype` determines the array type. */
export type SafeTensor = {
  [D in SafetensorsDType]: { dtype: D; shape: number[]; data: SafetensorsArrays[D] };
}[SafetensorsDType];

export type SafetensorsData = SafetensorsArrays[SafetensorsDType];

/**
 * A tensor to encode: `data.length` must equal the product of `shape` (1 for a scalar, shape `[]`)
 * and its array type must match `dtype` (checked at run time). Every SafeTensor is a TensorLike.
 */
export interface TensorLike {
  dtype: SafetensorsDType;
  shape: number[];
  data: SafetensorsData;
}

export interface DecodedSafetensors {
  /** Tensors in file (offset) order; each owns a fresh, aligned copy of its data. */
  tensors: Record<string, SafeTensor>;
  /** The `__metadata__` map, or `{}` when the file has none. */
  metadata: Record<string, string>;
}

export interface DecodeOptions {
  /** Refuse inputs longer than this many bytes (default 2 GiB). */
  maxBytes?: number;
  /** Named in every error message, e.g. the file path. */
  source?: string;
}

/** Thrown for any malformed input to encode/decode. */
export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

/** Largest header the reference implementation accepts (100 MB). */
export const MAX_HEADER_BYTES = 100_000_000;
export const DEFAULT_MAX_BYTES = 2 * 1024 ** 3;

interface DTypeInfo {
  size: number;
  /** Position in the reference `Dtype` enum, which is ordered by increasing alignment. */
  rank: number;
  /** toStringTag of the matching typed array. */
  array: string;
}

const DTYPES: Record<SafetensorsDType, DTypeInfo> = {
  U8: { size: 1, rank: 1, array: 'Uint8Array' },
  F16: { size: 2, rank: 7, array: 'Uint16Array' },
  BF16: { size: 2, rank: 8, array: 'Uint16Array' },
  I32: { size: 4, rank: 9, array: 'Int32Array' },
  F32: { size: 4, rank: 11, array: 'Float32Array' },
  F64: { size: 8, rank: 12, array: 'Float64Array' },
  I64: { size: 8, rank: 13, array: 'BigInt64Array' },
};

const METADATA_KEY = '__metadata__';
const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const utf8 = new TextEncoder();
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

export function isSafetensorsDType(s: unknown): s is SafetensorsDType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, s);
}

export function dtypeSize(d: SafetensorsDType): number {
  return DTYPES[d].size;
}

/** Product of a shape, or throws if it is not a list of non-negative safe integers or overflows. */
function elementCount(shape: unknown, fail: (msg: string) => never): number {
  if (!Array.isArray(shape)) fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
  let n = 1;
  for (const d of shape as unknown[]) {
    if (typeof d !== 'number' || !Number.isSafeInteger(d) || d < 0) {
      fail(`shape must be an array of non-negative integers, got ${JSON.stringify(shape)}`);
    }
    n *= d;
    if (!Number.isSafeInteger(n)) fail(`shape ${JSON.stringify(shape)} has too many elements`);
  }
  return n;
}

/** Order strings by their UTF-8 bytes (= code point order), as the reference writer (Rust) does. */
function compareUtf8(a: string, b: string): number {
  const ea = utf8.encode(a), eb = utf8.encode(b);
  const n = Math.min(ea.length, eb.length);
  for (let i = 0; i < n; i++) if (ea[i] !== eb[i]) return ea[i]! - eb[i]!;
  return ea.length - eb.length;
}

function checkString(s: string, what: string): void {
  if (LONE_SURROGATE.test(s)) throw new SafetensorsError(`${what} ${JSON.stringify(s)} is not valid Unicode (lone surrogate)`);
}

// ---------------------------------------------------------------------------------------------
// Encoding

/**
 * Serialise tensors (and optional string metadata) to safetensors bytes.
 * Throws SafetensorsError on a bad name, dtype, shape or array type/length.
 */
export function encodeSafetensors(tensors: Record<string, TensorLike>, metadata?: Record<string, string>): Uint8Array {
  const names = Object.keys(tensors);
  for (const name of names) validateForEncode(name, tensors[name]!);

  // Reference order: descending dtype alignment, then name.
  names.sort((a, b) => DTYPES[tensors[b]!.dtype].rank - DTYPES[tensors[a]!.dtype].rank || compareUtf8(a, b));

  // Header JSON built by hand so key order is exact (JS objects put integer-like keys first).
  const parts: string[] = [];
  if (metadata !== undefined) parts.push(`${JSON.stringify(METADATA_KEY)}:${metadataJson(metadata)}`);
  let offset = 0;
  for (const name of names) {
    const t = tensors[name]!;
    const end = offset + t.data.length * DTYPES[t.dtype].size;
    parts.push(`${JSON.stringify(name)}:{"dtype":"${t.dtype}","shape":[${t.shape.join(',')}],"data_offsets":[${offset},${end}]}`);
    offset = end;
  }
  const json = utf8.encode(`{${parts.join(',')}}`);
  const headerLen = json.length + ((8 - (json.length % 8)) % 8);

  const out = new Uint8Array(8 + headerLen + offset);
  const view = new DataView(out.buffer);
  view.setBigUint64(0, BigInt(headerLen), true);
  out.set(json, 8);
  out.fill(0x20, 8 + json.length, 8 + headerLen); // space padding
  let at = 8 + headerLen;
  for (const name of names) {
    const t = tensors[name]!;
    writeLittleEndian(out, view, at, t);
    at += t.data.byteLength;
  }
  return out;
}

function validateForEncode(name: string, t: TensorLike): void {
  const fail = (msg: string): never => { throw new SafetensorsError(`tensor ${JSON.stringify(name)}: ${msg}`); };
  if (name === METADATA_KEY) fail(`the name ${METADATA_KEY} is reserved by the format`);
  checkString(name, 'tensor name');
  if (t === null || typeof t !== 'object') fail('expected { dtype, shape, data }');
  if (!isSafetensorsDType(t.dtype)) fail(`unsupported dtype ${JSON.stringify(t.dtype)} (supported: ${Object.keys(DTYPES).join(', ')})`);
  const n = elementCount(t.shape, fail);
  const data = t.data as unknown;
  const tag = ArrayBuffer.isView(data) ? (data as unknown as { [Symbol.toStringTag]: string })[Symbol.toStringTag] : typeof data;
  if (tag !== DTYPES[t.dtype].array) fail(`dtype ${t.dtype} needs a ${DTYPES[t.dtype].array}, got ${tag}`);
  if (t.data.length !== n) fail(`shape [${t.shape.join(', ')}] has ${n} elements but data has ${t.data.length}`);
}

function metadataJson(metadata: Record<string, string>): string {
  if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) {
    throw new SafetensorsError('metadata must be an object of string values');
  }
  const keys = Object.keys(metadata).sort(compareUtf8);
  const items = keys.map((k) => {
    const v = metadata[k];
    if (typeof v !== 'string') throw new SafetensorsError(`metadata ${JSON.stringify(k)} must be a string, got ${typeof v}`);
    checkString(k, 'metadata key');
    checkString(v, `metadata value for ${JSON.stringify(k)}:`);
    return `${JSON.stringify(k)}:${JSON.stringify(v)}`;
  });
  return `{${items.join(',')}}`;
}

/** Copy a tensor's elements into `out` at byte offset `at`, little-endian. */
function writeLittleEndian(out: Uint8Array, view: DataView, at: number, t: TensorLike): void {
  if (HOST_LITTLE_ENDIAN || t.dtype === 'U8') {
    out.set(new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength), at);
    return;
  }
  const size = DTYPES[t.dtype].size;
  const nums = t.data as Float64Array; // element access only; the dtype picks the conversion
  const bigs = t.data as BigInt64Array;
  for (let i = 0; i < t.data.length; i++) {
    const p = at + i * size;
    switch (t.dtype) {
      case 'F16': case 'BF16': view.setUint16(p, nums[i]!, true); break;
      case 'F32': view.setFloat32(p, nums[i]!, true); break;
      case 'F64': view.setFloat64(p, nums[i]!, true); break;
      case 'I32': view.setInt32(p, nums[i]!, true); break;
      case 'I64': view.setBigInt64(p, bigs[i]!, true); break;
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Decoding

interface HeaderEntry {
  name: string;
  dtype: SafetensorsDType;
  shape: number[];
  begin: number;
  end: number;
}

/**
 * Parse and validate safetensors bytes. Every tensor's data is copied into a fresh typed array
 * (so it is aligned and independent of `bytes`). Throws SafetensorsError naming `source`.
 */
export function decodeSafetensors(bytes: Uint8Array, opts: DecodeOptions = {}): DecodedSafetensors {
  const prefix = opts.source ? `${opts.source}: ` : '';
  const fail = (msg: string): never => { throw new SafetensorsError(`${prefix}${msg}`); };
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_BYTES;

  if (!(bytes instanceof Uint8Array)) fail('expected a Uint8Array');
  if (bytes.length > maxBytes) fail(`file is ${bytes.length} bytes, over the limit of ${maxBytes}`);
  if (bytes.length < 8) fail(`truncated: ${bytes.length} bytes is shorter than the 8-byte header size field`);

  // 1. Header size, checked as a u64 before anything is allocated.
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n64 = view.getBigUint64(0, true);
  if (n64 > BigInt(MAX_HEADER_BYTES)) fail(`header size ${n64} is absurd (limit ${MAX_HEADER_BYTES} bytes); not a safetensors file?`);
  const n = Number(n64);
  if (n > bytes.length - 8) fail(`header size ${n} is larger than the rest of the file (${bytes.length - 8} bytes); truncated or not a safetensors file`);
  if (n < 2 || bytes[8] !== 0x7b) fail(`header does not start with '{'; not a safetensors file`);

  // 2. Header JSON (strict UTF-8; JSON.parse only, never evaluated).
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes.subarray(8, 8 + n));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    return fail(`header is not valid JSON (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) fail('header must be a JSON object');

  // 3. Entries.
  const metadata: Record<string, string> = {};
  const entries: HeaderEntry[] = [];
  for (const [name, raw] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) fail(`${METADATA_KEY} must be an object of strings`);
      for (const [k, v] of Object.entries(raw as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`${METADATA_KEY}[${JSON.stringify(k)}] must be a string, got ${JSON.stringify(v)}`);
        define(metadata, k, v);
      }
      continue;
    }
    entries.push(parseEntry(name, raw, fail));
  }

  // 4. Layout: sorted by offsets the tensors must tile [0, bufferLength) exactly.
  const base = 8 + n;
  const bufferLength = bytes.length - base;
  entries.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const e of entries) {
    const what = `tensor ${JSON.stringify(e.name)} data_offsets [${e.begin}, ${e.end}]`;
    if (e.end > bufferLength) fail(`${what} extend past the end of the data (${bufferLength} bytes); file truncated?`);
    if (e.begin < cursor) fail(`${what} overlap the previous tensor (which ends at ${cursor})`);
    if (e.begin > cursor) fail(`${what} leave a hole of ${e.begin - cursor} bytes before them`);
    cursor = e.end;
  }
  if (cursor !== bufferLength) {
    fail(`data buffer is ${bufferLength} bytes but the tensors cover ${cursor}; ${bufferLength - cursor} trailing bytes unaccounted for`);
  }

  // 5. Copy out.
  const tensors: Record<string, SafeTensor> = {};
  for (const e of entries) define(tensors, e.name, readTensor(bytes, view, base, e));
  return { tensors, metadata };
}

function parseEntry(name: string, raw: unknown, fail: (msg: string) => never): HeaderEntry {
  const tfail = (msg: string): never => fail(`tensor ${JSON.stringify(name)}: ${msg}`);
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) tfail('header entry must be an object { dtype, shape, data_offsets }');
  const { dtype, shape, data_offsets: offsets } = raw as Record<string, unknown>;
  if (!isSafetensorsDType(dtype)) {
    tfail(`unknown or unsupported dtype ${JSON.stringify(dtype)} (rnnkit reads ${Object.keys(DTYPES).join(', ')})`);
  }
  const d = dtype as SafetensorsDType;
  const count = elementCount(shape, tfail);
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && (o as number) >= 0)) {
    tfail(`data_offsets must be [begin, end] with non-negative integers, got ${JSON.stringify(offsets)}`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin) tfail(`data_offsets [${begin}, ${end}] end before they begin`);
  const expected = count * DTYPES[d].size;
  if (end - begin !== expected) {
    tfail(`shape ${JSON.stringify(shape)} of ${d} needs ${expected} bytes but data_offsets [${begin}, ${end}] span ${end - begin}`);
  }
  return { name, dtype: d, shape: (shape as number[]).slice(), begin, end };
}

function readTensor(bytes: Uint8Array, view: DataView, base: number, e: HeaderEntry): SafeTensor {
  const start = base + e.begin;
  const len = e.end - e.begin;
  // A fresh buffer starts at offset 0, so any typed array over it is aligned.
  const copy = new Uint8Array(len);
  copy.set(bytes.subarray(start, start + len));
  const shape = e.shape;
  if (e.dtype === 'U8') return { dtype: 'U8', shape, data: copy };
  if (HOST_LITTLE_ENDIAN) {
    switch (e.dtype) {
      case 'F16': return { dtype: 'F16', shape, data: new Uint16Array(copy.buffer) };
      case 'BF16': return { dtype: 'BF16', shape, data: new Uint16Array(copy.buffer) };
      case 'F32': return { dtype: 'F32', shape, data: new Float32Array(copy.buffer) };
      case 'F64': return { dtype: 'F64', shape, data: new Float64Array(copy.buffer) };
      case 'I32': return { dtype: 'I32', shape, data: new Int32Array(copy.buffer) };
      case 'I64': return { dtype: 'I64', shape, data: new BigInt64Array(copy.buffer) };
    }
  }
  // Big-endian host: convert element by element.
  const count = len / DTYPES[e.dtype].size;
  switch (e.dtype) {
    case 'F16': case 'BF16': { const a = new Uint16Array(count); for (let i = 0; i < count; i++) a[i] = view.getUint16(start + 2 * i, true); return { dtype: e.dtype, shape, data: a }; }
    case 'F32': { const a = new Float32Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat32(start + 4 * i, true); return { dtype: 'F32', shape, data: a }; }
    case 'F64': { const a = new Float64Array(count); for (let i = 0; i < count; i++) a[i] = view.getFloat64(start + 8 * i, true); return { dtype: 'F64', shape, data: a }; }
    case 'I32': { const a = new Int32Array(count); for (let i = 0; i < count; i++) a[i] = view.getInt32(start + 4 * i, true); return { dtype: 'I32', shape, data: a }; }
    case 'I64': { const a = new BigInt64Array(count); for (let i = 0; i < count; i++) a[i] = view.getBigInt64(start + 8 * i, true); return { dtype: 'I64', shape, data: a }; }
  }
}

/** Set an own property even for names like "__proto__" (plain assignment would change the prototype). */
function define<T>(obj: Record<string, T>, key: string, value: T): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

/** Index of the first NaN/±Infinity in a float tensor's data, or -1 (integer tensors: always -1). */
export function firstNonFinite(t: TensorLike): number {
  if (t.dtype === 'F16' || t.dtype === 'BF16') {
    const h = t.data as Uint16Array, e = t.dtype === 'F16' ? 0x7c00 : 0x7f80;
    for (let i = 0; i < h.length; i++) if ((h[i]! & e) === e) return i; // exponent all ones: ±Inf or NaN
    return -1;
  }
  if (t.dtype !== 'F32' && t.dtype !== 'F64') return -1;
  const d = t.data as Float32Array | Float64Array;
  for (let i = 0; i < d.length; i++) if (!Number.isFinite(d[i]!)) return i;
  return -1;
}

// ---------------------------------------------------------------------------------------------
// Half precision (F16), for weights shipped at half the size

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/**
 * The IEEE 754 binary16 bit pattern nearest to x (rounded to nearest, ties to even, as a float32
 * first): overflow gives ±Infinity, values below half the smallest subnormal ±0, NaN a quiet NaN.
 */
export function float16Bits(x: number): number {
  f32Scratch[0] = x;
  const b = u32Scratch[0]!;
  const sign = (b >>> 16) & 0x8000, exp = (b >>> 23) & 0xff, mant = b & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant !== 0 ? 0x200 : 0);
  const e = exp - 127 + 15; // the half's biased exponent
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    // A subnormal half (or zero): the significand with its leading 1, shifted right by 14 - e.
    if (e < -10) return sign;
    const m = mant | 0x800000, shift = 14 - e, half = 1 << (shift - 1);
    let h = m >>> shift;
    const rest = m & ((1 << shift) - 1);
    if (rest > half || (rest === half && (h & 1) === 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && (h & 1) === 1)) h++; // a carry into the exponent is right (up to Infinity)
  return sign | h;
}

/** The value of a binary16 bit pattern (exact in float32 and float64). */
export function float16Value(h: number): number {
  const sign = h & 0x8000 ? -1 : 1, exp = (h >>> 10) & 0x1f, mant = h & 0x3ff;
  if (exp === 0) return sign * mant * 2 ** -24;
  if (exp === 31) return mant === 0 ? sign * Infinity : NaN;
  return sign * (1024 + mant) * 2 ** (exp - 25);
}

/** The value of a bfloat16 bit pattern (the upper 16 bits of a float32: exact in float32). */
export function bfloat16Value(h: number): number {
  u32Scratch[0] = (h & 0xffff) << 16;
  return f32Scratch[0]!;
}

/** float16Bits of every value. */
export function toFloat16(x: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = float16Bits(x[i]!);
  return out;
}

/** float16Value of every bit pattern, as float32. */
export function fromFloat16(h: Uint16Array): Float32Array {
  const out = new Float32Array(h.length);
  for (let i = 0; i < h.length; i++) out[i] = float16Value(h[i]!);
  return out;
}
