/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {…}}, then the raw
 * little-endian tensor bytes. napinet writes float32 tensors under PyTorch's state_dict names, so
 * `model.load_state_dict(safetensors.torch.load_file(path))` works in PyTorch, and back.
 */
import * as fs from 'node:fs';
import { writeFileAtomic } from './files';

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

const DTYPE_BYTES: Record<string, number> = { F32: 4, F64: 8, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 };

export function encodeSafetensors(tensors: Record<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of Object.entries(tensors)) {
    const bytes = t.data.length * 4;
    header[name] = { dtype: 'F32', shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (Buffer.byteLength(json) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = new Uint8Array(8 + headerBytes.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let cursor = 8 + headerBytes.length;
  for (const t of Object.values(tensors)) {
    const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength);
    out.set(bytes, cursor);
    cursor += bytes.length;
  }
  return out;
}

/**
 * Parses safetensors bytes. F32 tensors are read as they are; F64, I64 and I32 ones (PyTorch
 * saves BatchNorm's num_batches_tracked as I64) are converted to float32, refusing values float32
 * cannot hold exactly for the integer types. Other dtypes are refused by name.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  if (bytes.length < 8) throw new Error(`${source}: truncated safetensors file (${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(bytes.length - 8)) throw new Error(`${source}: header length ${headerLength} exceeds the file (${bytes.length} bytes)`);
  const dataStart = 8 + Number(headerLength);
  let header: Record<string, any>;
  try {
    header = JSON.parse(Buffer.from(bytes.subarray(8, dataStart)).toString('utf8'));
  } catch (error) {
    throw new Error(`${source}: header is not valid JSON (${(error as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) throw new Error(`${source}: header is not a JSON object`);
  const dataLength = bytes.length - dataStart;
  const tensors: Record<string, NamedArray> = {};
  for (const [name, entry] of Object.entries(header)) {
    if (name === '__metadata__') continue;
    const { dtype, shape, data_offsets: offsets } = entry ?? {};
    if (!(dtype in DTYPE_BYTES)) throw new Error(`${source}: tensor ${name} has unknown dtype ${JSON.stringify(dtype)}`);
    if (!['F32', 'F64', 'I64', 'I32'].includes(dtype)) throw new Error(`${source}: tensor ${name} is ${dtype}; napinet reads F32, F64, I64 and I32 tensors`);
    if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) throw new Error(`${source}: tensor ${name} has an invalid shape`);
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isInteger(o) && o >= 0)) {
      throw new Error(`${source}: tensor ${name} has invalid data_offsets`);
    }
    const [begin, end] = offsets as [number, number];
    const count = shape.reduce((a: number, b: number) => a * b, 1);
    if (end < begin || end > dataLength || end - begin !== count * DTYPE_BYTES[dtype]) {
      throw new Error(`${source}: tensor ${name} data_offsets [${begin}, ${end}] do not fit its shape [${shape.join(', ')}] or the file`);
    }
    const copy = new Uint8Array(end - begin);
    copy.set(bytes.subarray(dataStart + begin, dataStart + end));
    tensors[name] = { shape, data: toFloat32(copy, dtype, `${source}: tensor ${name}`) };
  }
  return { tensors, metadata: header.__metadata__ ?? {} };
}

function toFloat32(bytes: Uint8Array, dtype: string, what: string): Float32Array {
  if (dtype === 'F32') return new Float32Array(bytes.buffer);
  if (dtype === 'F64') return Float32Array.from(new Float64Array(bytes.buffer));
  const ints = dtype === 'I64' ? Array.from(new BigInt64Array(bytes.buffer), Number) : Array.from(new Int32Array(bytes.buffer));
  const bad = ints.find((v) => Math.abs(v) > 2 ** 24);
  if (bad !== undefined) throw new Error(`${what}: integer ${bad} is too large to hold exactly as float32`);
  return Float32Array.from(ints);
}

export function writeSafetensors(file: string, tensors: Record<string, NamedArray>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

export function readSafetensors(file: string): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  return decodeSafetensors(fs.readFileSync(file), file);
}
