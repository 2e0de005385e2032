// PyTorch's own files (what `torch.save` writes), read without PyTorch and without running any of
// the file: the tensors of a state_dict, of a training checkpoint that holds one, or of a whole
// pickled module.
//
// Two formats. Since PyTorch 1.6 a file is a zip archive (entries stored, not compressed):
// `<name>/data.pkl` is a pickle of the saved object in which every tensor's storage is a
// reference ("persistent id") to an entry `<name>/data/<key>` of raw values, and `<name>/byteorder`
// says the values' byte order (little when absent). Before 1.6 (and with
// `_use_new_zipfile_serialization=False`) a file is a row of pickles — magic number, protocol,
// system info, the object, the storage keys — followed by each storage's values.
//
// The pickles are read by a small pickle machine that builds plain values: dicts (Map), lists
// and tuples (arrays), strings, numbers, bytes. It calls nothing: the few PyTorch functions a
// state_dict needs (`torch._utils._rebuild_tensor_v2`, `_rebuild_parameter`,
// `collections.OrderedDict`) are recognised by name and built here; any other class or function
// (a model's own class, numpy, argparse) becomes an inert `PyObject` that records its name,
// arguments and state — enough to walk a pickled module's `_parameters`, `_buffers` and `_modules`,
// or a TorchScript module's attributes (its archive holds code too, which is never looked at).
import { bfloat16Value, float16Value } from './safetensors.js';

export class TorchFileError extends Error {
  override name = 'TorchFileError';
}

export type TorchDType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';

/** A tensor of a PyTorch file: its dtype, shape and row-major values (float16/bfloat16 widened to float32, integers as float64). */
export interface TorchFileTensor {
  dtype: TorchDType;
  shape: number[];
  data: Float32Array | Float64Array;
}

export interface DecodeTorchFileOptions {
  /**
   * The key of the saved dict that holds the state_dict (a checkpoint's 'model_state_dict').
   * Default: the file's own object when it is a state_dict or a module, else the one entry that is.
   */
  entry?: string;
  /** Named in error messages (the file's path). */
  source?: string;
}

export interface DecodedTorchFile {
  /** The state_dict's tensors in its order. */
  tensors: Record<string, TorchFileTensor>;
  /** The key the state_dict was found under, or null when it is the file's own object. */
  entry: string | null;
  /** 'zip' (PyTorch 1.6 and later) or 'legacy'. */
  format: 'zip' | 'legacy';
}

/** A class or function the pickle names (GLOBAL): module and name. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  toString(): string { return `${this.module}.${this.name}`; }
}

/** An object the pickle builds by calling (or instantiating) a PyGlobal that is not recognised: inert. */
export class PyObject {
  state: unknown = undefined;
  constructor(readonly type: PyGlobal, readonly args: readonly unknown[]) {}
}

/** Storage element types by PyTorch's storage class names (in module torch, or torch.cuda). */
const STORAGE_TYPES: Record<string, { dtype: TorchDType; size: number }> = {
  FloatStorage: { dtype: 'float32', size: 4 }, DoubleStorage: { dtype: 'float64', size: 8 },
  HalfStorage: { dtype: 'float16', size: 2 }, BFloat16Storage: { dtype: 'bfloat16', size: 2 },
  LongStorage: { dtype: 'int64', size: 8 }, IntStorage: { dtype: 'int32', size: 4 },
  ShortStorage: { dtype: 'int16', size: 2 }, CharStorage: { dtype: 'int8', size: 1 },
  ByteStorage: { dtype: 'uint8', size: 1 }, BoolStorage: { dtype: 'bool', size: 1 },
};

/** A storage a tensor refers to; its bytes arrive from the zip entry or after the legacy pickles. */
class Storage {
  bytes: Uint8Array | null = null;
  constructor(readonly key: string, readonly dtype: TorchDType, readonly size: number, readonly numel: number) {}
}

/** A tensor as the pickle describes it: a strided view of a storage. */
class TensorRef {
  constructor(readonly storage: Storage, readonly offset: number, readonly shape: number[], readonly stride: number[]) {}
}

type Fail = (msg: string) => never;

/** The most values of one tensor (4 GiB as float32). */
const MAX_VALUES = 2 ** 30;

const LITTLE_HOST = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

const utf8 = new TextDecoder('utf-8', { fatal: true });
const latin1 = new TextDecoder('latin1');

const MARK = Symbol('mark');

/**
 * Reads one pickle starting at bytes[pos] (protocols 2 to 5 and the binary opcodes of 0/1, as
 * Python's pickle and torch.save write them). `persistent` resolves persistent ids (storages).
 */
class Unpickler {
  pos: number;
  private readonly dv: DataView;
  private readonly stack: unknown[] = [];
  private readonly memo = new Map<number, unknown>();

  constructor(private readonly bytes: Uint8Array, pos: number, private readonly persistent: (pid: unknown) => unknown, private readonly fail: Fail, private readonly what: string) {
    this.pos = pos;
    this.dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private bad(msg: string, at = this.pos): never {
    return this.fail(`${this.what}, byte ${at}: ${msg}`);
  }

  private need(n: number): number {
    if (this.pos + n > this.bytes.length) {
      this.bad(n === 1 && this.pos === this.bytes.length ? 'the pickle ends without its STOP instruction; a truncated file?'
        : `the pickle ends inside an instruction (${this.pos + n - this.bytes.length} bytes short); a truncated file?`);
    }
    const p = this.pos;
    this.pos += n;
    return p;
  }

  private u8(): number { return this.bytes[this.need(1)]!; }
  private u16(): number { return this.dv.getUint16(this.need(2), true); }
  private u32(): number { return this.dv.getUint32(this.need(4), true); }
  private u64(): number {
    const v = this.dv.getBigUint64(this.need(8), true);
    if (v > BigInt(this.bytes.length)) this.bad(`a length of ${v} bytes, more than the file has`);
    return Number(v);
  }
  private take(n: number): Uint8Array { const p = this.need(n); return this.bytes.subarray(p, p + n); }
  private line(): string {
    const end = this.bytes.indexOf(0x0a, this.pos);
    if (end < 0) this.bad('a text argument without its end of line');
    const s = latin1.decode(this.bytes.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }
  private str(n: number): string {
    const at = this.pos, b = this.take(n);
    try { return utf8.decode(b); } catch { return this.bad('a string that is not UTF-8', at); }
  }

  private pop(): unknown {
    if (this.stack.length === 0) this.bad('an instruction takes a value from an empty stack: not a pickle, or a damaged one');
    return this.stack.pop();
  }
  private top(): unknown {
    if (this.stack.length === 0) this.bad('an instruction needs a value on an empty stack: not a pickle, or a damaged one');
    return this.stack[this.stack.length - 1];
  }
  /** The values pushed since the last MARK (which is removed). */
  private popMark(): unknown[] {
    const items = this.stack;
    const i = items.lastIndexOf(MARK);
    if (i < 0) this.bad('an instruction expects a mark the pickle never set');
    const out = items.splice(i);
    out.shift();
    return out;
  }
  private get(i: number): unknown {
    if (!this.memo.has(i)) this.bad(`a memo lookup of entry ${i}, which was never stored`);
    return this.memo.get(i);
  }

  load(): unknown {
    for (;;) {
      const at = this.pos, op = this.u8();
      switch (op) {
        case 0x80: this.u8(); break; // PROTO
        case 0x95: this.u64(); break; // FRAME (a length hint)
        case 0x2e: return this.pop(); // STOP
        case 0x28: this.stack.push(MARK); break; // MARK
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.stack.push(this.top()); break; // DUP
        case 0x4e: this.stack.push(null); break; // NONE
        case 0x88: this.stack.push(true); break; // NEWTRUE
        case 0x89: this.stack.push(false); break; // NEWFALSE
        case 0x4a: this.stack.push(this.dv.getInt32(this.need(4), true)); break; // BININT
        case 0x4b: this.stack.push(this.u8()); break; // BININT1
        case 0x4d: this.stack.push(this.u16()); break; // BININT2
        case 0x8a: this.stack.push(this.long(this.u8())); break; // LONG1
        case 0x8b: this.stack.push(this.long(this.u32())); break; // LONG4
        case 0x47: this.stack.push(this.dv.getFloat64(this.need(8), false)); break; // BINFLOAT (big-endian)
        case 0x49: this.stack.push(this.textInt(this.line())); break; // INT
        case 0x4c: this.stack.push(this.textInt(this.line().replace(/L$/, ''))); break; // LONG
        case 0x46: this.stack.push(Number(this.line())); break; // FLOAT
        case 0x58: this.stack.push(this.str(this.u32())); break; // BINUNICODE
        case 0x8c: this.stack.push(this.str(this.u8())); break; // SHORT_BINUNICODE
        case 0x8d: this.stack.push(this.str(this.u64())); break; // BINUNICODE8
        case 0x54: this.stack.push(latin1.decode(this.take(this.u32()))); break; // BINSTRING (Python 2 str)
        case 0x55: this.stack.push(latin1.decode(this.take(this.u8()))); break; // SHORT_BINSTRING
        case 0x42: this.stack.push(this.take(this.u32()).slice()); break; // BINBYTES
        case 0x43: this.stack.push(this.take(this.u8()).slice()); break; // SHORT_BINBYTES
        case 0x8e: case 0x96: this.stack.push(this.take(this.u64()).slice()); break; // BINBYTES8, BYTEARRAY8
        case 0x29: this.stack.push([]); break; // EMPTY_TUPLE
        case 0x85: this.stack.push([this.pop()]); break; // TUPLE1
        case 0x86: { const b = this.pop(), a = this.pop(); this.stack.push([a, b]); break; } // TUPLE2
        case 0x87: { const c = this.pop(), b = this.pop(), a = this.pop(); this.stack.push([a, b, c]); break; } // TUPLE3
        case 0x74: case 0x6c: this.stack.push(this.popMark()); break; // TUPLE, LIST
        case 0x5d: this.stack.push([]); break; // EMPTY_LIST
        case 0x61: { const v = this.pop(); this.list(this.top(), at).push(v); break; } // APPEND
        case 0x65: { const vs = this.popMark(); this.list(this.top(), at).push(...vs); break; } // APPENDS
        case 0x7d: this.stack.push(new Map()); break; // EMPTY_DICT
        case 0x64: { const m = new Map(); this.setItems(m, this.popMark(), at); this.stack.push(m); break; } // DICT
        case 0x73: { const v = this.pop(), k = this.pop(); this.dict(this.top(), at).set(k, v); break; } // SETITEM
        case 0x75: { const kv = this.popMark(); this.setItems(this.dict(this.top(), at), kv, at); break; } // SETITEMS
        case 0x8f: this.stack.push(new Set()); break; // EMPTY_SET
        case 0x90: { const vs = this.popMark(), s = this.top(); if (!(s instanceof Set)) this.bad('ADDITEMS on something not a set', at); for (const v of vs) s.add(v); break; }
        case 0x91: this.stack.push(new Set(this.popMark())); break; // FROZENSET
        case 0x71: this.memo.set(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memo.set(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x94: this.memo.set(this.memo.size, this.top()); break; // MEMOIZE
        case 0x70: this.memo.set(Number(this.line()), this.top()); break; // PUT
        case 0x68: this.stack.push(this.get(this.u8())); break; // BINGET
        case 0x6a: this.stack.push(this.get(this.u32())); break; // LONG_BINGET
        case 0x67: this.stack.push(this.get(Number(this.line()))); break; // GET
        case 0x63: { const module = this.line(), name = this.line(); this.stack.push(new PyGlobal(module, name)); break; } // GLOBAL
        case 0x93: { // STACK_GLOBAL
          const name = this.pop(), module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') this.bad('STACK_GLOBAL without a module and a name', at);
          this.stack.push(new PyGlobal(module, name));
          break;
        }
        case 0x52: { const args = this.pop(), f = this.pop(); this.stack.push(this.call(f, args, at)); break; } // REDUCE
        case 0x81: { const args = this.pop(), cls = this.pop(); this.stack.push(this.call(cls, args, at)); break; } // NEWOBJ
        case 0x92: { this.pop(); const args = this.pop(), cls = this.pop(); this.stack.push(this.call(cls, args, at)); break; } // NEWOBJ_EX
        case 0x62: { const state = this.pop(); this.build(this.top(), state); break; } // BUILD
        case 0x51: this.stack.push(this.persistent(this.pop())); break; // BINPERSID
        case 0x50: this.stack.push(this.persistent(this.line())); break; // PERSID
        default:
          return this.bad(`pickle instruction 0x${op.toString(16).padStart(2, '0')} is not one torch.save writes (or the file is damaged)`, at);
      }
    }
  }

  /** A little-endian two's-complement integer of n bytes: a number when exact, else a bigint. */
  private long(n: number): number | bigint {
    const b = this.take(n);
    let v = 0n;
    for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]!);
    if (n > 0 && b[n - 1]! & 0x80) v -= 1n << BigInt(8 * n);
    return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
  }

  private textInt(s: string): number | boolean {
    if (s === '00') return false;
    if (s === '01') return true;
    const v = Number(s);
    return Number.isFinite(v) ? v : this.bad(`'${s}' is not an integer`);
  }

  private list(x: unknown, at: number): unknown[] {
    return Array.isArray(x) ? x : this.bad('APPEND on something not a list', at);
  }
  private dict(x: unknown, at: number): Map<unknown, unknown> {
    return x instanceof Map ? x : this.bad('SETITEM on something not a dict', at);
  }
  private setItems(m: Map<unknown, unknown>, kv: unknown[], at: number): void {
    if (kv.length % 2) this.bad('a dict built from an odd number of keys and values', at);
    for (let i = 0; i < kv.length; i += 2) m.set(kv[i], kv[i + 1]);
  }

  /** REDUCE / NEWOBJ: the functions a state_dict needs are built here; anything else stays inert. */
  private call(f: unknown, args: unknown, at: number): unknown {
    if (!(f instanceof PyGlobal)) this.bad(`a call of ${describe(f)}, which is not a class or function the pickle named`, at);
    if (!Array.isArray(args)) this.bad(`a call of ${f} with arguments that are not a tuple`, at);
    const name = f.toString();
    switch (name) {
      case 'collections.OrderedDict': {
        const m = new Map<unknown, unknown>();
        for (const pair of (args[0] ?? []) as unknown[]) if (Array.isArray(pair) && pair.length === 2) m.set(pair[0], pair[1]);
        return m;
      }
      case 'torch._utils._rebuild_tensor':
      case 'torch._utils._rebuild_tensor_v2': {
        const [storage, offset, size, stride] = args;
        if (!(storage instanceof Storage) || !isCount(offset) || !isCounts(size) || !isCounts(stride) || size.length !== stride.length) {
          this.bad(`${name} with arguments that are not (storage, offset, size, stride)`, at);
        }
        return new TensorRef(storage, offset, size, stride);
      }
      case 'torch._utils._rebuild_parameter':
      case 'torch._utils._rebuild_parameter_with_state':
        return args[0];
      case 'builtins.set': case '__builtin__.set': case 'builtins.frozenset': case '__builtin__.frozenset':
        return new Set(Array.isArray(args[0]) ? args[0] : []);
      case '_codecs.encode': // how protocol 2 writes Python 3 bytes: encode(text, 'latin1')
        if (typeof args[0] === 'string' && args[1] === 'latin1') return Uint8Array.from(args[0], (c) => c.charCodeAt(0));
        return new PyObject(f, args);
      default:
        return new PyObject(f, args);
    }
  }

  /** BUILD: an object's state (kept on inert objects; a dict's attributes and a tensor's hooks are dropped). */
  private build(target: unknown, state: unknown): void {
    if (target instanceof PyObject) target.state = state;
  }
}

const isCount = (x: unknown): x is number => typeof x === 'number' && Number.isInteger(x) && x >= 0;
const isCounts = (x: unknown): x is number[] => Array.isArray(x) && x.every(isCount);

function describe(x: unknown): string {
  if (x === null) return 'None';
  if (x instanceof Map) return `a dict of ${x.size}`;
  if (Array.isArray(x)) return `a list/tuple of ${x.length}`;
  if (x instanceof TensorRef) return `a ${x.storage.dtype} tensor [${x.shape.join(', ')}]`;
  if (x instanceof PyObject) return `a ${x.type} object`;
  if (x instanceof PyGlobal) return String(x);
  if (x instanceof Uint8Array) return `${x.length} bytes`;
  return typeof x === 'string' ? `the string ${JSON.stringify(x.length > 40 ? `${x.slice(0, 40)}...` : x)}` : `the ${typeof x} ${String(x)}`;
}

/** ('storage', storage_type, key, location, numel[, view_metadata]): the storage (one per key). */
function storageFrom(pid: unknown, storages: Map<string, Storage>, fail: Fail): Storage {
  if (!Array.isArray(pid) || pid[0] !== 'storage' || pid.length < 5) fail(`a persistent reference ${describe(pid)} that is not a storage`);
  const [, type, rawKey, , numel] = pid as unknown[];
  const key = String(rawKey);
  if (pid.length > 5 && pid[5] !== null) fail(`storage '${key}' is a view of another storage (written by PyTorch before 1.0): not supported; load and save the file again with a newer PyTorch`);
  // (A GPU tensor's storage, torch.cuda.*Storage before PyTorch 2.0, holds the same bytes; where it lay does not matter here.)
  const t = type instanceof PyGlobal && (type.module === 'torch' || type.module === 'torch.cuda') ? STORAGE_TYPES[type.name] : undefined;
  if (!t) fail(`storage '${key}' is of type ${describe(type)}; supported: ${Object.keys(STORAGE_TYPES).map((s) => `torch.${s}`).join(', ')}`);
  if (!isCount(numel)) fail(`storage '${key}' has ${describe(numel)} elements`);
  const known = storages.get(key);
  if (known) return known;
  const s = new Storage(key, t.dtype, t.size, numel);
  storages.set(key, s);
  return s;
}

// ---- the zip archive ----

/**
 * A zip archive's entries by name (zip64 records read): their bytes, and the compression method
 * (0: stored; TorchScript compresses its code, which is never read here).
 */
function zipEntries(bytes: Uint8Array, fail: Fail): Map<string, { bytes: Uint8Array; method: number }> {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let p = bytes.length - 22; p >= Math.max(0, bytes.length - 22 - 0xffff); p--) {
    if (dv.getUint32(p, true) === 0x06054b50) { eocd = p; break; }
  }
  if (eocd < 0) fail('a zip archive without its end record (the directory at the end of the file): a truncated or damaged file?');
  let count = dv.getUint16(eocd + 10, true), dir = dv.getUint32(eocd + 16, true);
  if (count === 0xffff || dir === 0xffffffff) {
    const loc = eocd - 20;
    if (loc < 0 || dv.getUint32(loc, true) !== 0x07064b50) fail('a zip64 archive without its zip64 locator: a damaged file?');
    const z = Number(dv.getBigUint64(loc + 8, true));
    if (z + 56 > bytes.length || dv.getUint32(z, true) !== 0x06064b50) fail('a zip64 archive whose zip64 end record is missing: a damaged file?');
    count = Number(dv.getBigUint64(z + 32, true));
    dir = Number(dv.getBigUint64(z + 48, true));
  }
  const out = new Map<string, { bytes: Uint8Array; method: number }>();
  let p = dir;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || dv.getUint32(p, true) !== 0x02014b50) fail(`zip directory entry ${i} of ${count} is not where the end record says: a damaged file?`);
    const method = dv.getUint16(p + 10, true), nameLen = dv.getUint16(p + 28, true), extraLen = dv.getUint16(p + 30, true), commentLen = dv.getUint16(p + 32, true);
    // The bytes in the file: the compressed size (a stored entry's is its size).
    let full = dv.getUint32(p + 24, true), size = dv.getUint32(p + 20, true), local = dv.getUint32(p + 42, true);
    const name = latin1.decode(bytes.subarray(p + 46, p + 46 + nameLen));
    // zip64: the 8-byte sizes and offset in extra field 0x0001, each present only where its
    // 4-byte field is 0xffffffff, in this order: uncompressed size, compressed size, offset.
    for (let e = p + 46 + nameLen, end = e + extraLen; e + 4 <= end;) {
      const id = dv.getUint16(e, true), len = dv.getUint16(e + 2, true);
      if (id === 0x0001) {
        let f = e + 4;
        if (full === 0xffffffff) { full = Number(dv.getBigUint64(f, true)); f += 8; }
        if (size === 0xffffffff) { size = Number(dv.getBigUint64(f, true)); f += 8; }
        if (local === 0xffffffff) local = Number(dv.getBigUint64(f, true));
      }
      e += 4 + len;
    }
    if (method === 0 && size !== full) fail(`zip entry '${name}' is stored with ${size} bytes but says it holds ${full}: a damaged file?`);
    if (local + 30 > bytes.length || dv.getUint32(local, true) !== 0x04034b50) fail(`zip entry '${name}': its header is not where the directory says: a damaged file?`);
    const start = local + 30 + dv.getUint16(local + 26, true) + dv.getUint16(local + 28, true);
    if (start + size > bytes.length) fail(`zip entry '${name}' (${size} bytes) runs past the end of the file: a truncated file?`);
    out.set(name, { bytes: bytes.subarray(start, start + size), method });
    p += 46 + nameLen + extraLen + commentLen;
  }
  return out;
}

// ---- tensors ----

/** A tensor's values, row-major, from its storage's bytes. */
function materialize(t: TensorRef, littleEndian: boolean, fail: Fail, name: string): TorchFileTensor {
  const { storage: s, offset, shape, stride } = t;
  const n = shape.reduce((a, d) => a * d, 1);
  if (n > MAX_VALUES) fail(`tensor '${name}' [${shape.join(', ')}] has ${n} values, more than rnnkit reads in one tensor (2^30)`);
  const bytes = s.bytes;
  if (!bytes) return fail(`tensor '${name}': the values of its storage '${s.key}' are not in the file`);
  if (bytes.length < s.numel * s.size) fail(`tensor '${name}': storage '${s.key}' has ${bytes.length} bytes, its ${s.numel} ${s.dtype} values need ${s.numel * s.size}`);
  const last = n === 0 ? offset : offset + shape.reduce((a, d, i) => a + (d - 1) * stride[i]!, 0);
  if (n > 0 && last >= s.numel) fail(`tensor '${name}' [${shape.join(', ')}] at offset ${offset} with strides [${stride.join(', ')}] reads past its storage '${s.key}' of ${s.numel} values`);
  const wide = s.dtype === 'float64' || s.dtype.startsWith('int') || s.dtype === 'uint8' || s.dtype === 'bool';
  const out = wide ? new Float64Array(n) : new Float32Array(n);
  // A row-major float32/float64 tensor in this machine's byte order (the usual case): one copy.
  const rowMajor = shape.every((d, i) => d === 1 || stride[i] === shape.slice(i + 1).reduce((a, e) => a * e, 1));
  if (rowMajor && littleEndian === LITTLE_HOST && (s.dtype === 'float32' || s.dtype === 'float64')) {
    new Uint8Array(out.buffer).set(bytes.subarray(offset * s.size, (offset + n) * s.size));
    return { dtype: s.dtype, shape: [...shape], data: out };
  }
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const read = reader(s.dtype, dv, littleEndian);
  // The element positions, odometer-style over the shape (last dimension fastest).
  const idx = new Array<number>(shape.length).fill(0);
  let at = offset;
  for (let i = 0; i < n; i++) {
    out[i] = read(at * s.size);
    for (let d = shape.length - 1; d >= 0; d--) {
      if (++idx[d]! < shape[d]!) { at += stride[d]!; break; }
      at -= (shape[d]! - 1) * stride[d]!;
      idx[d] = 0;
    }
  }
  return { dtype: s.dtype, shape: [...shape], data: out };
}

function reader(dtype: TorchDType, dv: DataView, le: boolean): (byte: number) => number {
  switch (dtype) {
    case 'float32': return (b) => dv.getFloat32(b, le);
    case 'float64': return (b) => dv.getFloat64(b, le);
    case 'float16': return (b) => float16Value(dv.getUint16(b, le));
    case 'bfloat16': return (b) => bfloat16Value(dv.getUint16(b, le));
    case 'int64': return (b) => Number(dv.getBigInt64(b, le));
    case 'int32': return (b) => dv.getInt32(b, le);
    case 'int16': return (b) => dv.getInt16(b, le);
    case 'int8': return (b) => dv.getInt8(b);
    case 'uint8': case 'bool': return (b) => dv.getUint8(b);
  }
}

// ---- what the file holds ----

const isTensorDict = (x: unknown): x is Map<string, TensorRef> =>
  x instanceof Map && x.size > 0 && [...x].every(([k, v]) => typeof k === 'string' && v instanceof TensorRef);

/** A pickled torch.nn.Module: an object whose state has `_parameters` and `_modules`. */
function moduleState(x: unknown): Map<string, unknown> | null {
  if (!(x instanceof PyObject)) return null;
  const st = Array.isArray(x.state) ? x.state[0] : x.state; // (dict, slots) when the class has __slots__
  return st instanceof Map && st.get('_parameters') instanceof Map && st.get('_modules') instanceof Map ? st : null;
}

/** A pickled module's state_dict: its parameters, its persistent buffers, then its children's, as module.state_dict() orders them. */
function moduleTensors(st: Map<string, unknown>, prefix: string, out: Map<string, TensorRef>): void {
  for (const [k, v] of st.get('_parameters') as Map<string, unknown>) if (v instanceof TensorRef) out.set(prefix + k, v);
  const skip = st.get('_non_persistent_buffers_set');
  const buffers = st.get('_buffers');
  if (buffers instanceof Map) {
    for (const [k, v] of buffers) if (v instanceof TensorRef && !(skip instanceof Set && skip.has(k))) out.set(prefix + k, v);
  }
  for (const [k, m] of st.get('_modules') as Map<string, unknown>) {
    const child = moduleState(m);
    if (child) moduleTensors(child, `${prefix}${String(k)}.`, out);
  }
}

/**
 * A TorchScript module (torch.jit.save): an object of a `__torch__.*` class whose state holds its
 * parameters and buffers as tensors and its submodules as such objects, in registration order.
 */
function scriptState(x: unknown): Map<string, unknown> | null {
  return x instanceof PyObject && x.type.module.startsWith('__torch__') && x.state instanceof Map ? x.state : null;
}

/** A TorchScript module's tensors under their state_dict names: its own, then its submodules'. */
function scriptTensors(st: Map<string, unknown>, prefix: string, out: Map<string, TensorRef>): void {
  for (const [k, v] of st) {
    if (v instanceof TensorRef) out.set(prefix + String(k), v);
    else if (scriptState(v)) scriptTensors(scriptState(v)!, `${prefix}${String(k)}.`, out);
  }
}

/** The state_dict in the saved object, and the key it was under. */
function stateIn(top: unknown, entry: string | undefined, fail: Fail): { tensors: Map<string, TensorRef>; entry: string | null } {
  const asState = (x: unknown): Map<string, TensorRef> | null => {
    if (isTensorDict(x)) return x;
    const out = new Map<string, TensorRef>();
    const st = moduleState(x), script = st ? null : scriptState(x);
    if (st) moduleTensors(st, '', out);
    else if (script) scriptTensors(script, '', out);
    return st || (script && out.size > 0) ? out : null;
  };
  if (entry !== undefined) {
    if (!(top instanceof Map)) fail(`option entry '${entry}': the file holds ${describe(top)}, not a dict with entries`);
    if (!top.has(entry)) fail(`option entry '${entry}' is not a key of the saved dict (its keys: ${[...top.keys()].map((k) => JSON.stringify(k)).join(', ')})`);
    const s = asState(top.get(entry));
    if (!s) fail(`entry '${entry}' holds ${describe(top.get(entry))}, not a state_dict (a dict of tensors) or a module`);
    return { tensors: s, entry };
  }
  const own = asState(top);
  if (own) return { tensors: own, entry: null };
  if (!(top instanceof Map)) fail(`the file holds ${describe(top)}, not a state_dict (a dict of tensors), a module or a dict holding one`);
  const found = [...top].filter(([k, v]) => typeof k === 'string' && asState(v) !== null).map(([k]) => k as string);
  if (found.length === 1) return { tensors: asState(top.get(found[0]))!, entry: found[0]! };
  const keys = [...top].map(([k, v]) => `${JSON.stringify(k)} (${describe(v)})`).join(', ');
  if (found.length === 0) fail(`the saved dict holds no state_dict (a dict of tensors) or module; its entries: ${keys}`);
  return fail(`the saved dict holds ${found.length} state_dicts (${found.map((k) => `'${k}'`).join(', ')}); say which with the option entry`);
}

/** True when the bytes start as a file torch.save writes (a zip archive, or the legacy format's pickle). */
export function isTorchFile(bytes: Uint8Array): boolean {
  const zip = bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
  const legacy = bytes.length >= 3 && bytes[0] === 0x80 && bytes[2] === 0x8a; // PROTO n, LONG1 (the magic number)
  return zip || legacy;
}

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;

/**
 * The state_dict a PyTorch file holds: `torch.save(model.state_dict(), f)`, a checkpoint dict
 * holding one (`options.entry`, or found), `torch.save(model, f)`, or `torch.jit.save(module, f)`. Throws TorchFileError
 * naming the file (options.source), the place and what was expected.
 */
export function decodeTorchFile(bytes: Uint8Array, options: DecodeTorchFileOptions = {}): DecodedTorchFile {
  const at = options.source ? `${options.source}: ` : '';
  const fail: Fail = (msg) => { throw new TorchFileError(`${at}${msg}`); };
  if (!(bytes instanceof Uint8Array)) fail(`expected the file's bytes (a Uint8Array or Buffer), got ${describe(bytes)}`);
  if (!isTorchFile(bytes)) fail('not a file torch.save writes (neither a zip archive nor the legacy format)');
  const storages = new Map<string, Storage>();
  const persistent = (pid: unknown): Storage => storageFrom(pid, storages, fail);
  let top: unknown, littleEndian = true, format: 'zip' | 'legacy';
  if (bytes[0] === 0x50) {
    format = 'zip';
    const entries = zipEntries(bytes, fail);
    /** An entry's bytes: present, and stored as PyTorch stores the ones read here. */
    const stored = (name: string, what: string): Uint8Array | null => {
      const e = entries.get(name);
      if (!e) return null;
      if (e.method !== 0) fail(`zip entry '${name}' (${what}) is compressed (method ${e.method}); PyTorch stores it uncompressed — was the archive re-packed? Re-save it with torch.save`);
      return e.bytes;
    };
    const pkl = [...entries.keys()].filter((k) => /^[^/]+\/data\.pkl$/.test(k));
    if (pkl.length !== 1) fail(`a zip archive with ${pkl.length} '<name>/data.pkl' entries, PyTorch writes one (entries: ${[...entries.keys()].slice(0, 8).join(', ')})`);
    const prefix = pkl[0]!.slice(0, -'data.pkl'.length);
    top = new Unpickler(stored(pkl[0]!, 'the pickle')!, 0, persistent, fail, pkl[0]!).load();
    const order = stored(`${prefix}byteorder`, 'the byte order');
    if (order) {
      const o = latin1.decode(order);
      if (o !== 'little' && o !== 'big') fail(`${prefix}byteorder says '${o}', expected 'little' or 'big'`);
      littleEndian = o === 'little';
    }
    for (const s of storages.values()) {
      const e = stored(`${prefix}data/${s.key}`, `storage '${s.key}'`);
      if (!e) fail(`storage '${s.key}' has no entry ${prefix}data/${s.key} in the archive`);
      s.bytes = e;
    }
  } else {
    format = 'legacy';
    const what = (i: number): string => `legacy file, pickle ${i}`;
    let u = new Unpickler(bytes, 0, () => fail('a storage before the saved object'), fail, what(1));
    const magic = u.load();
    if (magic !== LEGACY_MAGIC) fail(`starts with ${describe(magic)}, not torch.save's magic number: not a PyTorch file`);
    u = new Unpickler(bytes, u.pos, () => fail('a storage before the saved object'), fail, what(2));
    const protocol = u.load();
    if (protocol !== 1001) fail(`legacy format protocol ${describe(protocol)}, expected 1001`);
    // System info; the values after the pickles are little-endian whatever it says (PyTorch
    // writes them so on every machine).
    u = new Unpickler(bytes, u.pos, () => fail('a storage before the saved object'), fail, what(3));
    u.load();
    u = new Unpickler(bytes, u.pos, persistent, fail, what(4));
    top = u.load();
    u = new Unpickler(bytes, u.pos, () => fail('a storage in the list of storage keys'), fail, what(5));
    const keys = u.load();
    if (!Array.isArray(keys)) fail(`the list of storage keys is ${describe(keys)}`);
    // Then each storage in that order: its element count (8 bytes) and its values.
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    let p = u.pos;
    for (const k of keys as unknown[]) {
      const s = storages.get(String(k));
      if (!s) fail(`storage key '${String(k)}' names no storage of the saved object`);
      if (p + 8 > bytes.length) fail(`storage '${s.key}' is missing at the end of the file: a truncated file?`);
      const n = Number(dv.getBigInt64(p, true));
      if (n !== s.numel) fail(`storage '${s.key}' has ${n} values in the file, the object says ${s.numel}`);
      p += 8;
      if (p + n * s.size > bytes.length) fail(`storage '${s.key}' (${n * s.size} bytes) runs past the end of the file: a truncated file?`);
      s.bytes = bytes.subarray(p, p + n * s.size);
      p += n * s.size;
    }
  }
  const found = stateIn(top, options.entry, fail);
  const tensors: Record<string, TorchFileTensor> = {};
  for (const [k, t] of found.tensors) tensors[k] = materialize(t, littleEndian, fail, k);
  return { tensors, entry: found.entry, format };
}
