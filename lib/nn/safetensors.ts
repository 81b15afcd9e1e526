/**
 * safetensors reader/writer (https://github.com/huggingface/safetensors), so weights move to and
 * from PyTorch (`safetensors.torch.save_file` / `load_file`) without pickle. Layout (docs/safetensors.md):
 *
 *   u64 little-endian N | N bytes of UTF-8 JSON header (space-padded) | raw little-endian tensor bytes
 *
 * header = { "__metadata__"?: { string: string }, name: { dtype, shape, data_offsets: [begin, end] } }
 * with offsets relative to the start of the byte buffer, covering it exactly, without holes.
 *
 * This file works on plain typed arrays (no Tensor import) so it can be used by the kernels layer,
 * the CLI and tests without the autograd front-end.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import { SelfsupError, describe, expectedMessage, rangeError, typeError } from '../errors';

/** The selfsup dtypes a safetensors entry is read into. */
export type StDtype = 'float32' | 'float64' | 'int32' | 'bool';
export type StArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** One tensor as stored: dtype, shape, and a contiguous row-major typed array. */
export interface RawTensor {
  dtype: StDtype;
  shape: number[];
  data: StArray;
}

export interface SafetensorsContents {
  /** Tensors in header order (the writer's order: by alignment, then by name). */
  tensors: Map<string, RawTensor>;
  /** The `__metadata__` string map ({} when absent). */
  metadata: Record<string, string>;
}

/** Written codes for our four dtypes (the safetensors spelling). */
const WRITE_CODE: Record<StDtype, string> = { float32: 'F32', float64: 'F64', int32: 'I32', bool: 'BOOL' };

/**
 * Codes we read. Everything is widened to one of our dtypes exactly (F16/BF16 -> float32, small
 * ints -> int32), except I64/U32, which are narrowed to int32 only when every value fits: PyTorch
 * stores `num_batches_tracked` of BatchNorm as int64, and it must load.
 */
const READ_CODES: Record<string, { size: number; to: StDtype }> = {
  F64: { size: 8, to: 'float64' },
  F32: { size: 4, to: 'float32' },
  F16: { size: 2, to: 'float32' },
  BF16: { size: 2, to: 'float32' },
  I64: { size: 8, to: 'int32' },
  U32: { size: 4, to: 'int32' },
  I32: { size: 4, to: 'int32' },
  I16: { size: 2, to: 'int32' },
  U16: { size: 2, to: 'int32' },
  I8: { size: 1, to: 'int32' },
  U8: { size: 1, to: 'int32' },
  BOOL: { size: 1, to: 'bool' },
};

/**
 * Write order rank: the reference writer sorts entries by its Dtype enum, descending
 * (F64 > F32 > I32 > BOOL), then by name. Following it makes our bytes identical to
 * `safetensors.torch.save_file` for the same tensors, and keeps every tensor aligned.
 */
const WRITE_RANK: Record<StDtype, number> = { float64: 3, float32: 2, int32: 1, bool: 0 };

/** The reference implementation refuses headers over 100 MB; so do we (a corrupt length is caught early). */
const MAX_HEADER_BYTES = 100_000_000;

const LITTLE_ENDIAN_HOST = os.endianness() === 'LE';

function invalid(name: string, expected: string, received: string): SelfsupError {
  return new SelfsupError('ERR_INVALID_ARGUMENT', expectedMessage(expected, name, received));
}

function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function dtypeOf(a: unknown): StDtype | undefined {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Uint8Array) return 'bool';
  return undefined;
}

/** Little-endian bytes of a typed array (a copy on big-endian hosts, a view otherwise). */
function leBytes(data: StArray): Uint8Array {
  const view = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (LITTLE_ENDIAN_HOST || data.BYTES_PER_ELEMENT === 1) return view;
  const out = new Uint8Array(view.length);
  const w = data.BYTES_PER_ELEMENT;
  for (let i = 0; i < view.length; i += w) for (let j = 0; j < w; j++) out[i + j] = view[i + w - 1 - j];
  return out;
}

function validateEntry(name: string, t: unknown): RawTensor {
  if (t === null || typeof t !== 'object') throw typeError('a { dtype, shape, data } entry', `tensors[${JSON.stringify(name)}]`, t);
  const { dtype, shape, data } = t as Partial<RawTensor>;
  const where = `tensors[${JSON.stringify(name)}]`;
  const actual = dtypeOf(data);
  if (actual === undefined) throw typeError('a Float32Array, Float64Array, Int32Array or Uint8Array', `${where}.data`, data);
  if (dtype !== undefined && dtype !== actual) throw typeError(`data of dtype ${dtype}`, `${where}.data`, data);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw typeError('an array of non-negative integers', `${where}.shape`, shape);
  }
  if (numel(shape) !== (data as StArray).length) {
    throw rangeError(`data of length ${numel(shape)} (shape [${shape.join(', ')}])`, `${where}.data`, `length ${(data as StArray).length}`, true);
  }
  return { dtype: actual, shape: shape.slice(), data: data as StArray };
}

/**
 * Serializes tensors (+ optional string metadata) to safetensors bytes. Deterministic: the same
 * input gives the same bytes, and the same bytes as the reference (Rust/Python) writer: entries
 * ordered by dtype (F64, F32, I32, BOOL) then name, `__metadata__` first, the header space-padded
 * to a multiple of 8, so every tensor starts at an offset aligned to its element size.
 */
export function encodeSafetensors(
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries: Array<[string, RawTensor]> = [];
  const source = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors ?? {});
  if (tensors === null || typeof tensors !== 'object') throw typeError('a Map or object of tensors', 'tensors', tensors);
  for (const [name, t] of source) {
    if (name === '__metadata__') throw invalid('tensors', 'no tensor named "__metadata__" (reserved by the format)', 'one');
    if (name.length === 0) throw invalid('tensors', 'non-empty tensor names', 'an empty name');
    entries.push([name, validateEntry(name, t)]);
  }
  entries.sort((a, b) => WRITE_RANK[b[1].dtype] - WRITE_RANK[a[1].dtype] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));

  const header: Record<string, unknown> = {};
  if (metadata !== undefined) {
    if (metadata === null || typeof metadata !== 'object' || Array.isArray(metadata)) throw typeError('a string-to-string object', 'metadata', metadata);
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw typeError('a string (safetensors metadata values are strings)', `metadata[${JSON.stringify(k)}]`, v);
    }
    if (Object.keys(metadata).length > 0) header.__metadata__ = { ...metadata };
  }
  let offset = 0;
  for (const [name, t] of entries) {
    const bytes = t.data.byteLength;
    header[name] = { dtype: WRITE_CODE[t.dtype], shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = Buffer.from(JSON.stringify(header), 'utf8');
  const pad = (8 - (json.length % 8)) % 8;
  if (pad) json = Buffer.concat([json, Buffer.alloc(pad, 0x20)]);

  const out = new Uint8Array(8 + json.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  let at = 8 + json.length;
  for (const [, t] of entries) {
    out.set(leBytes(t.data), at);
    at += t.data.byteLength;
  }
  return out;
}

function f16ToF32(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const m = h & 0x3ff;
  if (e === 0) return s * m * 2 ** -24;
  if (e === 31) return m ? NaN : s * Infinity;
  return s * (1 + m / 1024) * 2 ** (e - 15);
}

/** Fills `a` with read(i) (little-endian reads through a DataView: any alignment, any host). */
function readWith<A extends StArray>(a: A, read: (i: number) => number): A {
  for (let i = 0; i < a.length; i++) a[i] = read(i);
  return a;
}

/** Reads one entry's bytes into a fresh typed array of our dtype (never a view of the file). */
function readEntry(name: string, code: string, bytes: Uint8Array, count: number): StArray {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  switch (code) {
    case 'F32': return readWith(new Float32Array(count), (i) => dv.getFloat32(4 * i, true));
    case 'F64': return readWith(new Float64Array(count), (i) => dv.getFloat64(8 * i, true));
    case 'I32': return readWith(new Int32Array(count), (i) => dv.getInt32(4 * i, true));
    case 'F16': return readWith(new Float32Array(count), (i) => f16ToF32(dv.getUint16(2 * i, true)));
    case 'BF16': {
      // bfloat16 is the top half of a float32: widening is a 16-bit shift, exact.
      const a = new Float32Array(count);
      const tmp = new DataView(new ArrayBuffer(4));
      for (let i = 0; i < count; i++) {
        tmp.setUint32(0, dv.getUint16(2 * i, true) << 16);
        a[i] = tmp.getFloat32(0);
      }
      return a;
    }
    case 'I64':
    case 'U32': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        const v = code === 'I64' ? dv.getBigInt64(8 * i, true) : BigInt(dv.getUint32(4 * i, true));
        if (v > 2147483647n || v < -2147483648n) {
          throw invalid(`tensor ${JSON.stringify(name)}`, `${code} values that fit in int32 (selfsup has no 64-bit integers)`, `${v} at index ${i}`);
        }
        a[i] = Number(v);
      }
      return a;
    }
    case 'I16':
    case 'U16':
    case 'I8':
    case 'U8': {
      const a = new Int32Array(count);
      for (let i = 0; i < count; i++) {
        a[i] = code === 'I16' ? dv.getInt16(2 * i, true) : code === 'U16' ? dv.getUint16(2 * i, true) : code === 'I8' ? dv.getInt8(i) : dv.getUint8(i);
      }
      return a;
    }
    case 'BOOL': {
      const a = new Uint8Array(count);
      for (let i = 0; i < count; i++) {
        const v = bytes[i];
        if (v > 1) throw invalid(`tensor ${JSON.stringify(name)}`, 'BOOL bytes that are 0 or 1', `${v} at index ${i}`);
        a[i] = v;
      }
      return a;
    }
    default:
      throw new SelfsupError('ERR_INTERNAL', `unhandled safetensors dtype ${code}`);
  }
}

/**
 * Parses safetensors bytes. Strict, like the reference reader: a bad header length, malformed
 * JSON, an unknown dtype, a shape/offset disagreement, overlapping or missing byte ranges, or
 * trailing bytes all throw a SelfsupError (code ERR_INVALID_ARGUMENT) saying what was wrong where.
 * `source` names the input in messages (a file path, say).
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'bytes'): SafetensorsContents {
  if (!(bytes instanceof Uint8Array)) throw typeError('a Uint8Array (or Buffer)', source, bytes);
  if (bytes.length < 8) throw invalid(source, 'at least 8 bytes (the header length)', `${bytes.length} bytes`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = dv.getBigUint64(0, true);
  if (n > BigInt(Math.min(MAX_HEADER_BYTES, bytes.length - 8))) {
    throw invalid(`${source} header length`, `at most ${Math.min(MAX_HEADER_BYTES, bytes.length - 8)} bytes`, `${n}`);
  }
  const headerLen = Number(n);
  const text = Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLen).toString('utf8');
  if (!text.startsWith('{')) throw invalid(`${source} header`, 'a JSON object starting with "{"', describe(text));
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw invalid(`${source} header`, 'valid JSON', `a parse error (${(e as Error).message})`);
  }
  if (header === null || typeof header !== 'object' || Array.isArray(header)) throw invalid(`${source} header`, 'a JSON object', describe(header));

  const data = bytes.subarray(8 + headerLen);
  const metadata: Record<string, string> = {};
  const infos: Array<{ name: string; code: string; shape: number[]; begin: number; end: number }> = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    const where = `${source} entry ${JSON.stringify(name)}`;
    if (name === '__metadata__') {
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw invalid(`${source} __metadata__`, 'a string-to-string object', describe(value));
      for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') throw invalid(`${source} __metadata__[${JSON.stringify(k)}]`, 'a string', describe(v));
        metadata[k] = v;
      }
      continue;
    }
    if (value === null || typeof value !== 'object') throw invalid(where, 'an object { dtype, shape, data_offsets }', describe(value));
    const { dtype, shape, data_offsets: off } = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof dtype !== 'string' || !(dtype in READ_CODES)) {
      throw invalid(`${where} dtype`, `one of ${Object.keys(READ_CODES).join(', ')}`, describe(dtype));
    }
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      throw invalid(`${where} shape`, 'an array of non-negative integers', describe(shape));
    }
    if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]) {
      throw invalid(`${where} data_offsets`, 'a pair [begin, end] with 0 <= begin <= end', describe(off));
    }
    const want = numel(shape) * READ_CODES[dtype].size;
    if (off[1] - off[0] !== want) {
      throw invalid(`${where} data_offsets`, `a range of ${want} bytes (${dtype} of shape [${shape.join(', ')}])`, `[${off[0]}, ${off[1]}] (${off[1] - off[0]} bytes)`);
    }
    infos.push({ name, code: dtype, shape: shape.slice(), begin: off[0], end: off[1] });
  }

  // The byte ranges must tile [0, data.length) exactly: no overlap (two tensors aliasing the
  // same bytes), no holes, no trailing garbage. Zero-size tensors may sit anywhere.
  const sorted = infos.slice().sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  for (const t of sorted) {
    if (t.begin === t.end && t.begin <= cursor) continue;
    if (t.begin !== cursor) {
      throw invalid(`${source} entry ${JSON.stringify(t.name)} data_offsets`, `to begin at byte ${cursor} (ranges must tile the buffer)`, `[${t.begin}, ${t.end}]`);
    }
    cursor = t.end;
  }
  if (cursor !== data.length) {
    throw invalid(`${source} byte buffer`, `${cursor} bytes (the end of the last tensor)`, `${data.length} bytes`);
  }

  const tensors = new Map<string, RawTensor>();
  for (const t of infos) {
    const count = numel(t.shape);
    tensors.set(t.name, { dtype: READ_CODES[t.code].to, shape: t.shape, data: readEntry(t.name, t.code, data.subarray(t.begin, t.end), count) });
  }
  return { tensors, metadata };
}

/** Writes a safetensors file (atomically: a temp file renamed over the target). */
export function writeSafetensorsFile(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  if (typeof path !== 'string' || path.length === 0) throw typeError('a non-empty file path string', 'path', path);
  const bytes = encodeSafetensors(tensors, metadata);
  const tmp = `${path}.tmp-${process.pid}-${Date.now()}`;
  fs.writeFileSync(tmp, bytes);
  try {
    fs.renameSync(tmp, path);
  } catch (e) {
    fs.rmSync(tmp, { force: true });
    throw e;
  }
}

/** Reads and validates a safetensors file. */
export function readSafetensorsFile(path: string): SafetensorsContents {
  if (typeof path !== 'string' || path.length === 0) throw typeError('a non-empty file path string', 'path', path);
  const buf = fs.readFileSync(path);
  return decodeSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength), path);
}
