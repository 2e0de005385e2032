// A minimal protobuf encoder for ONNX models: just enough of ModelProto, GraphProto, NodeProto,
// TensorProto, ValueInfoProto/TypeProto and AttributeProto to write a model in code (no Python,
// no onnx package): exportOnnx (onnx.ts) and the tests' single-node models use it. Field numbers
// are those of onnx/onnx.proto:
//
//   ModelProto        ir_version 1 (int64), producer_name 2, producer_version 3, doc_string 6,
//                     graph 7, opset_import 8, metadata_props 14
//   StringStringEntryProto key 1, value 2
//   OperatorSetIdProto domain 1, version 2 (int64)
//   GraphProto        node 1, name 2, initializer 5, input 11, output 12
//   NodeProto         input 1, output 2, name 3, op_type 4, attribute 5, domain 7
//   AttributeProto    name 1, f 2 (float), i 3 (int64), s 4 (bytes), g 6 (graph), floats 7,
//                     ints 8, strings 9, type 20 (FLOAT 1, INT 2, STRING 3, GRAPH 5, FLOATS 6,
//                     INTS 7, STRINGS 8)
//   TensorProto       dims 1 (int64), data_type 2, name 8, raw_data 9 (little-endian)
//   ValueInfoProto    name 1, type 2;  TypeProto tensor_type 1;  TypeProto.Tensor elem_type 1,
//                     shape 2;  TensorShapeProto dim 1;  Dimension dim_value 1, dim_param 2
//   TensorProto.DataType FLOAT 1, INT32 6, INT64 7, BOOL 9, FLOAT16 10 (raw: the binary16 bits), DOUBLE 11
//
// Wire format: key = (field << 3) | wire type; wire types 0 (varint), 2 (length-delimited),
// 5 (32-bit). Repeated scalars are written unpacked (one key per value), which every proto2
// and proto3 parser accepts.

export const DataType = { FLOAT: 1, INT32: 6, INT64: 7, BOOL: 9, FLOAT16: 10, DOUBLE: 11 } as const;
export type DataTypeCode = (typeof DataType)[keyof typeof DataType];

export const AttributeType = { FLOAT: 1, INT: 2, STRING: 3, GRAPH: 5, FLOATS: 6, INTS: 7, STRINGS: 8 } as const;

const utf8 = new TextEncoder();

/** Append-only protobuf writer. */
export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  private length = 0;

  private push(b: Uint8Array): void {
    this.chunks.push(b);
    this.length += b.length;
  }

  /** Unsigned or negative (two's complement, 10 bytes) integer as a varint. */
  varint(v: number | bigint): this {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    this.push(Uint8Array.from(out));
    return this;
  }

  private key(field: number, wire: 0 | 2 | 5): this {
    return this.varint((field << 3) | wire);
  }

  int(field: number, v: number | bigint): this {
    return this.key(field, 0).varint(v);
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.key(field, 5);
    this.push(b);
    return this;
  }

  bytes(field: number, b: Uint8Array): this {
    this.key(field, 2).varint(b.length);
    this.push(b);
    return this;
  }

  string(field: number, s: string): this {
    return this.bytes(field, utf8.encode(s));
  }

  message(field: number, m: ProtoWriter): this {
    return this.bytes(field, m.finish());
  }

  finish(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const c of this.chunks) { out.set(c, o); o += c.length; }
    return out;
  }
}

// ---------------------------------------------------------------------------------------------
// Plain descriptions of the messages.

export type Attribute =
  | { name: string; type: 'float'; value: number }
  | { name: string; type: 'int'; value: number }
  | { name: string; type: 'string'; value: string }
  | { name: string; type: 'floats'; value: number[] }
  | { name: string; type: 'ints'; value: number[] }
  | { name: string; type: 'strings'; value: string[] }
  | { name: string; type: 'graph'; value: GraphSpec };

export const attr = {
  float: (name: string, value: number): Attribute => ({ name, type: 'float', value }),
  int: (name: string, value: number): Attribute => ({ name, type: 'int', value }),
  string: (name: string, value: string): Attribute => ({ name, type: 'string', value }),
  floats: (name: string, value: number[]): Attribute => ({ name, type: 'floats', value }),
  ints: (name: string, value: number[]): Attribute => ({ name, type: 'ints', value }),
  strings: (name: string, value: string[]): Attribute => ({ name, type: 'strings', value }),
  /** A subgraph (the body of Loop, the branches of If). */
  graph: (name: string, value: GraphSpec): Attribute => ({ name, type: 'graph', value }),
};

export interface NodeSpec {
  opType: string;
  /** '' marks an omitted optional input. */
  inputs: string[];
  outputs: string[];
  name?: string;
  domain?: string;
  attributes?: Attribute[];
}

export interface TensorSpec {
  name: string;
  dataType: DataTypeCode;
  dims: number[];
  data: ArrayLike<number>;
}

export interface ValueInfoSpec {
  name: string;
  elemType: DataTypeCode;
  /** A number is a fixed dimension, a string a symbolic one; omit for an unknown shape. */
  shape?: (number | string)[];
}

export interface GraphSpec {
  name: string;
  nodes: NodeSpec[];
  initializers?: TensorSpec[];
  inputs: ValueInfoSpec[];
  outputs: ValueInfoSpec[];
}

export interface ModelSpec {
  graph: GraphSpec;
  /** Default 7 (ONNX 1.8), which every recent runtime reads. */
  irVersion?: number;
  /** Opset of the default domain ''. */
  opset: number;
  producerName?: string;
  producerVersion?: string;
  docString?: string;
  /** metadata_props: string pairs any runtime can read back (onnxruntime: session metadata). */
  metadata?: Record<string, string>;
}

// ---------------------------------------------------------------------------------------------
// Encoders.

export function encodeAttribute(a: Attribute): ProtoWriter {
  const w = new ProtoWriter().string(1, a.name);
  switch (a.type) {
    case 'float': w.float(2, a.value).int(20, AttributeType.FLOAT); break;
    case 'int': w.int(3, a.value).int(20, AttributeType.INT); break;
    case 'string': w.string(4, a.value).int(20, AttributeType.STRING); break;
    case 'floats': for (const v of a.value) w.float(7, v); w.int(20, AttributeType.FLOATS); break;
    case 'ints': for (const v of a.value) w.int(8, v); w.int(20, AttributeType.INTS); break;
    case 'strings': for (const v of a.value) w.string(9, v); w.int(20, AttributeType.STRINGS); break;
    case 'graph': w.message(6, encodeGraph(a.value)).int(20, AttributeType.GRAPH); break;
  }
  return w;
}

export function encodeNode(n: NodeSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  if (n.name) w.string(3, n.name);
  w.string(4, n.opType);
  for (const a of n.attributes ?? []) w.message(5, encodeAttribute(a));
  if (n.domain) w.string(7, n.domain);
  return w;
}

const littleEndian = new Uint8Array(Float32Array.of(1).buffer)[3] === 0x3f;

/** Little-endian raw bytes of the values in the given element type. */
export function rawData(dataType: DataTypeCode, data: ArrayLike<number>): Uint8Array {
  const size = dataType === DataType.BOOL ? 1 : dataType === DataType.FLOAT16 ? 2 : dataType === DataType.FLOAT || dataType === DataType.INT32 ? 4 : 8;
  const b = new Uint8Array(data.length * size);
  if (dataType === DataType.FLOAT && data instanceof Float32Array && littleEndian) {
    b.set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    return b;
  }
  const v = new DataView(b.buffer);
  for (let i = 0; i < data.length; i++) {
    const x = data[i]!;
    switch (dataType) {
      case DataType.FLOAT: v.setFloat32(i * 4, x, true); break;
      case DataType.INT32: v.setInt32(i * 4, x, true); break;
      case DataType.INT64: v.setBigInt64(i * 8, BigInt(x), true); break;
      case DataType.BOOL: v.setUint8(i, x ? 1 : 0); break;
      case DataType.FLOAT16: v.setUint16(i * 2, x, true); break; // (x: the bits)
      case DataType.DOUBLE: v.setFloat64(i * 8, x, true); break;
    }
  }
  return b;
}

export function encodeTensor(t: TensorSpec): ProtoWriter {
  const count = t.dims.reduce((p, d) => p * d, 1);
  if (count !== t.data.length) throw new RangeError(`tensor '${t.name}': dims [${t.dims.join(', ')}] need ${count} values, got ${t.data.length}`);
  const w = new ProtoWriter();
  for (const d of t.dims) w.int(1, d);
  w.int(2, t.dataType);
  w.string(8, t.name);
  w.bytes(9, rawData(t.dataType, t.data));
  return w;
}

export function encodeValueInfo(v: ValueInfoSpec): ProtoWriter {
  const tensorType = new ProtoWriter().int(1, v.elemType);
  if (v.shape) {
    const shape = new ProtoWriter();
    for (const d of v.shape) {
      shape.message(1, typeof d === 'number' ? new ProtoWriter().int(1, d) : new ProtoWriter().string(2, d));
    }
    tensorType.message(2, shape);
  }
  return new ProtoWriter().string(1, v.name).message(2, new ProtoWriter().message(1, tensorType));
}

export function encodeGraph(g: GraphSpec): ProtoWriter {
  const w = new ProtoWriter();
  for (const n of g.nodes) w.message(1, encodeNode(n));
  w.string(2, g.name);
  for (const t of g.initializers ?? []) w.message(5, encodeTensor(t));
  for (const i of g.inputs) w.message(11, encodeValueInfo(i));
  for (const o of g.outputs) w.message(12, encodeValueInfo(o));
  return w;
}

/** Serialized ModelProto, ready for `ort.InferenceSession.create(bytes)`. */
export function encodeModel(m: ModelSpec): Uint8Array {
  const opset = new ProtoWriter().string(1, '').int(2, m.opset);
  const w = new ProtoWriter().int(1, m.irVersion ?? 7).string(2, m.producerName ?? 'rnnkit');
  if (m.producerVersion) w.string(3, m.producerVersion);
  if (m.docString) w.string(6, m.docString);
  w.message(7, encodeGraph(m.graph)).message(8, opset);
  for (const [k, v] of Object.entries(m.metadata ?? {})) w.message(14, new ProtoWriter().string(1, k).string(2, v));
  return w.finish();
}
