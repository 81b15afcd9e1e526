/**
 * A minimal in-memory ONNX model writer for the bench's ONNX Runtime peer (--vs ort): the protobuf
 * wire format (varints, length-delimited and fixed32 fields) for the few fields of ModelProto,
 * OperatorSetIdProto, GraphProto, NodeProto, AttributeProto, ValueInfoProto, TypeProto,
 * TensorShapeProto and TensorProto that the peer's models use. Field numbers are those of
 * onnx/onnx.proto (github.com/onnx/onnx); the encoding is protobuf's (protobuf.dev, "Encoding").
 * No onnx package and no file: a model is built, encoded and handed to ORT as bytes.
 */

// TensorProto.DataType (onnx.proto).
const ELEM_TYPE = { float32: 1, int64: 7, bool: 9 } as const;
export type ElemType = keyof typeof ELEM_TYPE;
export type ElemData = Float32Array | BigInt64Array | Uint8Array;

/** One protobuf message under construction: its encoded fields, in order. */
class Message {
  private parts: Uint8Array[] = [];
  private size = 0;

  private push(b: Uint8Array): this {
    this.parts.push(b);
    this.size += b.length;
    return this;
  }

  /** A varint: int64 values as their 64-bit two's complement (a negative one takes 10 bytes). */
  private varint(v: number | bigint): Uint8Array {
    let x = BigInt.asUintN(64, BigInt(v));
    const out: number[] = [];
    while (x >= 0x80n) {
      out.push(Number(x & 0x7fn) | 0x80);
      x >>= 7n;
    }
    out.push(Number(x));
    return Uint8Array.from(out);
  }

  private tag(field: number, wire: 0 | 2 | 5): this {
    return this.push(this.varint((field << 3) | wire));
  }

  int(field: number, v: number | bigint): this {
    return this.tag(field, 0).push(this.varint(v));
  }

  float(field: number, v: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    return this.tag(field, 5).push(b);
  }

  bytes(field: number, b: Uint8Array): this {
    return this.tag(field, 2).push(this.varint(b.length)).push(b);
  }

  string(field: number, s: string): this {
    return this.bytes(field, new TextEncoder().encode(s));
  }

  message(field: number, m: Message): this {
    return this.bytes(field, m.finish());
  }

  /** A packed repeated int64 field (proto3 default; proto2 parsers accept it too). */
  packedInts(field: number, vs: readonly number[]): this {
    return this.bytes(field, concat(vs.map((v) => this.varint(v))));
  }

  finish(): Uint8Array {
    return concat(this.parts, this.size);
  }
}

function concat(parts: Uint8Array[], size = parts.reduce((s, p) => s + p.length, 0)): Uint8Array {
  const out = new Uint8Array(size);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** An attribute value; `int`, `float`, `ints` and `str` say which AttributeProto field carries it. */
export type Attr = { int: number } | { float: number } | { ints: number[] } | { str: string };

function attribute(name: string, a: Attr): Message {
  // AttributeProto: name 1, f 2, i 3, s 4, ints 8, type 20 (FLOAT 1, INT 2, STRING 3, INTS 7).
  const m = new Message().string(1, name);
  if ('float' in a) return m.float(2, a.float).int(20, 1);
  if ('int' in a) return m.int(3, a.int).int(20, 2);
  if ('str' in a) return m.string(4, a.str).int(20, 3);
  for (const v of a.ints) m.int(8, v); // unpacked, as onnx.proto (proto2) declares it
  return m.int(20, 7);
}

function valueInfo(name: string, type: ElemType, dims: readonly number[]): Message {
  // ValueInfoProto: name 1, type 2; TypeProto.tensor_type 1; TypeProto.Tensor: elem_type 1,
  // shape 2; TensorShapeProto.dim 1; Dimension.dim_value 1.
  const shape = new Message();
  for (const d of dims) shape.message(1, new Message().int(1, d));
  const tensor = new Message().int(1, ELEM_TYPE[type]).message(2, shape);
  return new Message().string(1, name).message(2, new Message().message(1, tensor));
}

/**
 * A graph under construction. `node` returns its (first) output's name, so a composition reads as
 * nested calls; `input`, `initializer` and the scalar helpers return theirs.
 */
export class OnnxGraph {
  private nodes: Message[] = [];
  private inputs: Message[] = [];
  private outputs: Message[] = [];
  private inits: Message[] = [];
  private count = 0;

  input(name: string, type: ElemType, dims: readonly number[]): string {
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** A constant tensor stored in the model (TensorProto: dims 1, data_type 2, name 8, raw_data 9). */
  initializer(type: ElemType, data: ElemData, dims: readonly number[], name = this.fresh()): string {
    const raw = new Uint8Array(data.buffer, data.byteOffset, data.byteLength); // little-endian, as raw_data requires
    this.inits.push(new Message().packedInts(1, dims).int(2, ELEM_TYPE[type]).string(8, name).bytes(9, raw));
    return name;
  }

  /** A float32 scalar constant (rank 0). */
  scalar(v: number): string {
    return this.initializer('float32', Float32Array.of(v), []);
  }

  /** An int64 vector constant (axes, shapes, labels). */
  int64s(vs: readonly number[]): string {
    return this.initializer('int64', BigInt64Array.from(vs.map(BigInt)), [vs.length]);
  }

  /** NodeProto: input 1, output 2, op_type 4, attribute 5, domain 7. Returns the first output. */
  node(op: string, inputs: string[], attrs: Record<string, Attr> = {}, o: { out?: string; domain?: string } = {}): string {
    const out = o.out ?? this.fresh();
    const m = new Message();
    for (const i of inputs) m.string(1, i);
    m.string(2, out).string(4, op);
    for (const [k, v] of Object.entries(attrs)) m.message(5, attribute(k, v));
    if (o.domain) m.string(7, o.domain);
    this.nodes.push(m);
    return out;
  }

  output(name: string, type: ElemType, dims: readonly number[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /**
   * The ModelProto bytes: ir_version 1, producer_name 2, graph 7, opset_import 8 (domain 1,
   * version 2); GraphProto: node 1, name 2, initializer 5, input 11, output 12.
   */
  model(opsets: Record<string, number>, irVersion: number): Uint8Array {
    const g = new Message();
    for (const n of this.nodes) g.message(1, n);
    g.string(2, 'selfsup_bench');
    for (const t of this.inits) g.message(5, t);
    for (const i of this.inputs) g.message(11, i);
    for (const o of this.outputs) g.message(12, o);
    const m = new Message().int(1, irVersion).string(2, 'selfsup-bench').message(7, g);
    for (const [domain, version] of Object.entries(opsets)) {
      const set = new Message();
      if (domain) set.string(1, domain);
      m.message(8, set.int(2, version));
    }
    return m.finish();
  }

  private fresh(): string {
    return `t${this.count++}`;
  }
}

/** The encoder's varint, exposed for its unit test. */
export function encodeVarint(v: number | bigint): Uint8Array {
  return new Message().int(1, v).finish().subarray(1);
}
