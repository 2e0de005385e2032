// A rnnkit model's weights as a PyTorch state_dict, and as a file torch.load reads: the way back
// of loadTorchWeights (torch-weights.ts), for a model trained here and used in PyTorch.
//
// Each layer with weights becomes a PyTorch module named after the layer (or as `map` says):
// Embedding -> `<m>.weight`; Dense -> nn.Linear's `<m>.weight` [U, K] (the kernel transposed) and
// `<m>.bias`; LayerNormalization -> `<m>.weight`, `<m>.bias`; SimpleRNN / LSTM / GRU (also
// bidirectional) -> `<m>.weight_ih_l0`, ..., `_reverse` for the backward direction. Layers mapped
// to 'rnn:l0', 'rnn:l1' become the sub-layers of one stacked nn.LSTM 'rnn'. The keys come in the
// model's order — the order of a PyTorch module that registers its submodules in that order, as
// its own state_dict() lists them.
//
// encodeTorchFile writes tensors as torch.save does since PyTorch 1.6: a zip archive (entries
// stored, each storage 64-byte aligned) holding `<archive>/data.pkl` — a pickle (protocol 2) of an
// OrderedDict whose tensors are `torch._utils._rebuild_tensor_v2` of storages `data/<i>` —
// `<archive>/byteorder` and `<archive>/version`.
import { Dense, Embedding } from '../layers/core.js';
import { transposeRows } from '../layers/gate-layout.js';
import { LayerNormalization } from '../layers/normalization.js';
import { RecurrentLayer } from '../layers/rnn-layers.js';
import type { Model } from './sequential.js';
import type { TorchTensor } from './torch-weights.js';

export class TorchExportError extends Error {
  override name = 'TorchExportError';
}

export interface TorchStateDictOptions {
  /**
   * rnnkit layer name -> PyTorch module name ('encoder', 'head.proj'); a recurrent layer as a
   * stacked module's sub-layer 'rnn:l1'. Default: the layer's own name.
   */
  map?: Record<string, string>;
}

export interface TorchStateDict {
  /** The state_dict: PyTorch names -> float32 tensors, in the model's order. */
  state: Record<string, TorchTensor & { data: Float32Array }>;
  /** Each layer with weights and its module ('module:l{k}' for a recurrent sub-layer). */
  modules: { layer: string; module: string }[];
}

const SUB = /^(.+):l(\d+)$/;

/** A PyTorch module name: dotted identifiers (what a module path can be). */
const MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)*$/;

/** The model's weights under PyTorch's names and layouts (see the top of this file). */
export function torchStateDict(model: Model, options: TorchStateDictOptions = {}): TorchStateDict {
  const fail = (msg: string): never => { throw new TorchExportError(`torchStateDict: ${msg}`); };
  if (!model.isBuilt) fail(`model '${model.name}' is not built; build it (or give it an input shape) first`);
  const layers = model.allLayers();
  const map = options.map ?? {};
  for (const name of Object.keys(map)) {
    if (!layers.some((l) => l.name === name)) fail(`map names layer '${name}', which the model does not have (${layers.map((l) => l.name).join(', ')})`);
  }
  const state: TorchStateDict['state'] = {};
  const modules: TorchStateDict['modules'] = [];
  // Module -> its layers: one, or a stacked recurrent module's sub-layers (each index once).
  const used = new Map<string, { recurrent: boolean; subs: Set<number>; layer: string }>();
  const put = (key: string, shape: number[], data: Float32Array): void => {
    Object.defineProperty(state, key, { value: { shape, data }, enumerable: true, writable: true, configurable: true });
  };
  for (const l of layers) {
    const p = l.params;
    if (!p || p.size === 0) continue;
    const id = map[l.name] ?? l.name;
    const sub = SUB.exec(id);
    const module = sub ? sub[1]! : id, k = sub ? Number(sub[2]) : 0;
    const recurrent = l instanceof RecurrentLayer;
    if (!MODULE.test(module)) fail(`layer '${l.name}': '${id}' is no PyTorch module name (dotted identifiers, a recurrent sub-layer as 'rnn:l1')`);
    if (sub && !recurrent) fail(`layer '${l.name}' is no recurrent layer; only those are sub-layers ('${id}')`);
    const u = used.get(module);
    if (u && (!u.recurrent || !recurrent || u.subs.has(k))) {
      fail(`layers '${u.layer}' and '${l.name}' both map to module '${module}'${u.recurrent && recurrent ? ` as its sub-layer ${k}` : ''}`);
    }
    if (u) u.subs.add(k);
    else used.set(module, { recurrent, subs: new Set([k]), layer: l.name });
    const value = (name: string): Float32Array => Float32Array.from(p.value(name));
    if (l instanceof Embedding) {
      put(`${module}.weight`, [...p.entry('embeddings').shape], value('embeddings'));
    } else if (l instanceof Dense) {
      const [K, U] = p.entry('kernel').shape as [number, number];
      put(`${module}.weight`, [U, K], transposeRows(p.value('kernel'), K, U));
      if (p.byName.has('bias')) put(`${module}.bias`, [U], value('bias'));
    } else if (l instanceof LayerNormalization) {
      if (p.byName.has('gamma')) put(`${module}.weight`, [...p.entry('gamma').shape], value('gamma'));
      if (p.byName.has('beta')) put(`${module}.bias`, [...p.entry('beta').shape], value('beta'));
    } else if (recurrent) {
      if (l.cell === 'GRU' && l.options.resetAfter === false) {
        fail(`layer '${l.name}': a GRU with resetAfter: false has no PyTorch counterpart (nn.GRU applies the reset after the recurrent product)`);
      }
      for (const e of p.entries) put(`${module}.${e.name.replace(/_l0(_reverse)?$/, `_l${k}$1`)}`, [...e.shape], value(e.name));
    } else {
      fail(`layer '${l.name}' (${l.constructor.name}) has weights but no PyTorch counterpart here (Embedding, Dense, LayerNormalization, SimpleRNN, LSTM, GRU)`);
    }
    modules.push({ layer: l.name, module: id });
  }
  return { state, modules };
}

// ---- torch.save's file ----

const CRC_TABLE = (() => {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
})();

/** CRC-32 (the zip format's: reflected polynomial 0xEDB88320). */
export function crc32(b: Uint8Array): number {
  let c = 0xffffffff;
  for (let i = 0; i < b.length; i++) c = CRC_TABLE[(c ^ b[i]!) & 0xff]! ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

/** A protocol-2 pickle, written instruction by instruction. */
class Pickle {
  private readonly parts: number[] = [];
  private readonly enc = new TextEncoder();
  op(...bytes: number[]): this { this.parts.push(...bytes); return this; }
  str(s: string): this {
    const b = this.enc.encode(s);
    return this.op(0x58, b.length & 0xff, (b.length >>> 8) & 0xff, (b.length >>> 16) & 0xff, b.length >>> 24, ...b); // BINUNICODE
  }
  int(n: number): this {
    if (n >= 0 && n < 256) return this.op(0x4b, n); // BININT1
    if (n >= 0 && n < 65536) return this.op(0x4d, n & 0xff, n >>> 8); // BININT2
    return this.op(0x4a, n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff); // BININT (callers keep n < 2^31)
  }
  global(module: string, name: string): this { return this.op(0x63, ...this.enc.encode(`${module}\n${name}\n`)); }
  tuple(items: readonly number[]): this { this.op(0x28); for (const i of items) this.int(i); return this.op(0x74); } // MARK ... TUPLE
  bytes(): Uint8Array { return Uint8Array.from(this.parts); }
}

/**
 * A file torch.load reads (PyTorch 1.6 and later): an OrderedDict of the tensors, float32 or
 * float64 by their arrays' type, in the record's order. `archive`: the folder inside the zip
 * (PyTorch names it after the file; any name loads).
 */
export function encodeTorchFile(tensors: Record<string, TorchTensor>, options: { archive?: string } = {}): Uint8Array {
  const fail = (msg: string): never => { throw new TorchExportError(`encodeTorchFile: ${msg}`); };
  const archive = options.archive ?? 'archive';
  if (!/^[A-Za-z0-9_.-]+$/.test(archive)) fail(`archive '${archive}' must be a plain folder name (letters, digits, _ . -)`);
  const storages: Uint8Array[] = [];
  const pk = new Pickle().op(0x80, 2).global('collections', 'OrderedDict').op(0x29, 0x52, 0x28); // OrderedDict(), MARK
  for (const [key, t] of Object.entries(tensors)) {
    const shape = t.shape, n = shape.reduce((a, d) => a * d, 1);
    if (!shape.every((d) => Number.isInteger(d) && d >= 0) || n >= 2 ** 31 || t.data?.length !== n) fail(`tensor '${key}' needs a shape and shape-many values, got shape ${JSON.stringify(shape)} and ${t.data?.length} values`);
    const f64 = t.data instanceof Float64Array;
    if (!f64 && !(t.data instanceof Float32Array)) fail(`tensor '${key}': a Float32Array or Float64Array, got ${(t.data as object)?.constructor?.name}`);
    const data = t.data as Float32Array | Float64Array;
    const bytes = new Uint8Array(data.buffer.slice(data.byteOffset, data.byteOffset + data.byteLength));
    if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) fail('a big-endian machine: not supported');
    const stride = shape.map((_, i) => shape.slice(i + 1).reduce((a, d) => a * d, 1));
    pk.str(key).global('torch._utils', '_rebuild_tensor_v2').op(0x28); // args: MARK
    // The storage: BINPERSID of ('storage', torch.<Type>Storage, key, 'cpu', numel).
    pk.op(0x28).str('storage').global('torch', f64 ? 'DoubleStorage' : 'FloatStorage').str(String(storages.length)).str('cpu').int(n).op(0x74, 0x51);
    pk.int(0).tuple(shape).tuple(stride).op(0x89).global('collections', 'OrderedDict').op(0x29, 0x52); // offset, size, stride, requires_grad, hooks
    pk.op(0x74, 0x52); // TUPLE, REDUCE
    storages.push(bytes);
  }
  pk.op(0x75, 0x2e); // SETITEMS, STOP
  const enc = new TextEncoder();
  const entries: [string, Uint8Array][] = [
    [`${archive}/data.pkl`, pk.bytes()],
    [`${archive}/byteorder`, enc.encode('little')],
    ...storages.map((b, i): [string, Uint8Array] => [`${archive}/data/${i}`, b]),
    [`${archive}/version`, enc.encode('3\n')],
  ];
  return zipStored(entries);
}

/**
 * A zip archive of stored (uncompressed) entries, each entry's data 64-byte aligned by padding
 * its local header's extra field (as PyTorch's writer does, so that a reader may map it).
 */
function zipStored(entries: [string, Uint8Array][]): Uint8Array {
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [], central: Uint8Array[] = [];
  let at = 0;
  for (const [name, data] of entries) {
    const nb = enc.encode(name), crc = crc32(data);
    const pad = (64 - ((at + 30 + nb.length + 4) % 64)) % 64;
    const local = new Uint8Array(30 + nb.length + 4 + pad), lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); lv.setUint16(4, 20, true); lv.setUint16(6, 0x0800, true); // version 2.0, UTF-8 names
    lv.setUint16(8, 0, true); lv.setUint16(10, 0, true); lv.setUint16(12, 0x21, true); // stored; time 00:00; date 1980-01-01
    lv.setUint32(14, crc, true); lv.setUint32(18, data.length, true); lv.setUint32(22, data.length, true);
    lv.setUint16(26, nb.length, true); lv.setUint16(28, 4 + pad, true);
    local.set(nb, 30);
    lv.setUint16(30 + nb.length, 0x4246, true); lv.setUint16(32 + nb.length, pad, true); // extra field 'FB': padding
    const rec = new Uint8Array(46 + nb.length), cv = new DataView(rec.buffer);
    cv.setUint32(0, 0x02014b50, true); cv.setUint16(4, 20, true); cv.setUint16(6, 20, true); cv.setUint16(8, 0x0800, true);
    cv.setUint16(10, 0, true); cv.setUint16(12, 0, true); cv.setUint16(14, 0x21, true);
    cv.setUint32(16, crc, true); cv.setUint32(20, data.length, true); cv.setUint32(24, data.length, true);
    cv.setUint16(28, nb.length, true); cv.setUint32(42, at, true);
    rec.set(nb, 46);
    chunks.push(local, data);
    central.push(rec);
    at += local.length + data.length;
  }
  if (at > 0xffffffff) throw new TorchExportError('encodeTorchFile: more than 4 GiB (a zip64 archive): not supported');
  const dirSize = central.reduce((a, c) => a + c.length, 0);
  const end = new Uint8Array(22), ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); ev.setUint16(8, entries.length, true); ev.setUint16(10, entries.length, true);
  ev.setUint32(12, dirSize, true); ev.setUint32(16, at, true);
  const out = new Uint8Array(at + dirSize + 22);
  let p = 0;
  for (const c of [...chunks, ...central, end]) { out.set(c, p); p += c.length; }
  return out;
}
