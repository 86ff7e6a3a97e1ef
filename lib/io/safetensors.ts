/**
 * The safetensors format (https://huggingface.co/docs/safetensors): an 8-byte little-endian header
 * length, a JSON header {name: {dtype, shape, data_offsets}, __metadata__: {…}}, then the raw
 * little-endian tensor bytes. napinet writes float32 tensors under PyTorch's state_dict names, so
 * `model.load_state_dict(safetensors.torch.load_file(path))` works in PyTorch, and back.
 */
import { describe, expectObject, expectShape, fail } from '../validate';
import { parseJsonText, readInputFile } from '../budget';
import { writeFileAtomic } from './files';

export interface NamedArray {
  shape: number[];
  data: Float32Array;
}

/** Encodes named float32 arrays (and string metadata) in the safetensors format, as bytes. */
export function encodeSafetensors(tensors: Record<string, NamedArray>, metadata: Record<string, string> = {}): Uint8Array {
  expectObject(tensors, 'tensors');
  for (const [name, t] of Object.entries(tensors)) {
    if (!(t?.data instanceof Float32Array)) fail('{shape, data: Float32Array}', `tensors[${JSON.stringify(name)}]`, t);
    expectShape(t.shape, `tensors[${JSON.stringify(name)}].shape`);
    const size = t.shape.reduce((a, b) => a * b, 1);
    if (size !== t.data.length) throw new RangeError(`Expected ${size} values (shape [${t.shape.join(', ')}]) for tensors[${JSON.stringify(name)}].data but received ${t.data.length}`);
  }
  if (!Object.values(expectObject(metadata, 'metadata')).every((v) => typeof v === 'string')) fail('an object of strings', 'metadata', metadata);
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

/** Bits per element of every dtype the safetensors format defines (its Rust crate's Dtype). */
const DTYPE_BITS: Record<string, number> = {
  BOOL: 8, F4: 4, F6_E2M3: 6, F6_E3M2: 6, U8: 8, I8: 8, F8_E5M2: 8, F8_E4M3: 8, F8_E8M0: 8,
  I16: 16, U16: 16, F16: 16, BF16: 16, I32: 32, U32: 32, F32: 32, F64: 64, I64: 64, U64: 64,
};
/** The dtypes napinet converts to float32. */
const READABLE = ['F32', 'F64', 'I64', 'I32'];
/** The format's own limit on the JSON header (the Rust crate's MAX_HEADER_SIZE). */
export const MAX_SAFETENSORS_HEADER = 100_000_000;

/**
 * The first number in JSON text written other than as a non-negative integer ("2.0", "-1",
 * "1e3"): the reference loader parses shapes and offsets as usize, so it refuses them, while
 * JSON.parse would turn "2.0" into 2.
 */
function firstNonIntegerNumber(text: string): string | undefined {
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === '\\') i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if (c === '-' || (c >= '0' && c <= '9')) {
      const token = /^-?\d*(\.\d*)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 64))![0];
      if (!/^\d+$/.test(token)) return token;
      i += token.length - 1;
    }
  }
  return undefined;
}

interface Entry {
  name: string;
  dtype: string;
  shape: number[];
  begin: number;
  end: number;
}

/** One header entry, checked on its own: dtype, shape, offsets, and a byte count that matches. */
function checkEntry(name: string, entry: unknown, bad: (m: string) => never): Entry {
  if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) bad(`tensor ${name}: expected {dtype, shape, data_offsets} but received ${describe(entry)}`);
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== 'string' || !(dtype in DTYPE_BITS)) bad(`tensor ${name} has unknown dtype ${JSON.stringify(dtype) ?? 'undefined'}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    bad(`tensor ${name} has an invalid shape (expected a list of non-negative integers, received ${describe(shape)})`);
  }
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0) || offsets[0] > offsets[1]) {
    bad(`tensor ${name} has invalid data_offsets (expected [begin, end] with 0 ≤ begin ≤ end, received ${describe(offsets)})`);
  }
  const [begin, end] = offsets as [number, number];
  const bits = shape.reduce((a: bigint, d: number) => a * BigInt(d), 1n) * BigInt(DTYPE_BITS[dtype]);
  if (bits % 8n !== 0n) bad(`tensor ${name}: shape [${shape.join(', ')}] of ${dtype} is not a whole number of bytes`);
  if (bits / 8n !== BigInt(end - begin)) {
    bad(`tensor ${name} data_offsets [${begin}, ${end}] do not fit its shape [${shape.join(', ')}] of ${dtype} (${bits / 8n} bytes)`);
  }
  return { name, dtype, shape, begin, end };
}

/**
 * Parses safetensors bytes, as strictly as the format's reference loader: an 8-byte header length
 * (at most 100 MB and within the file), a UTF-8 JSON object starting with '{', every entry with a
 * known dtype, a shape and data_offsets whose byte count matches, the entries' data contiguous in
 * offset order from 0 to exactly the end of the file (no gap, no overlap, no trailing bytes), and
 * __metadata__ (if present) a map of strings. Everything is checked before anything is copied.
 *
 * F32 tensors are read as they are; F64, I64 and I32 ones (PyTorch saves BatchNorm's
 * num_batches_tracked as I64) are converted to float32, refusing values float32 cannot hold
 * exactly for the integer types. Other dtypes are refused by name.
 */
export function decodeSafetensors(bytes: Uint8Array, source = 'safetensors data'): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected a Uint8Array for bytes but received ${describe(bytes)}`);
  const bad = (message: string): never => {
    throw new Error(`${source}: ${message}`);
  };
  if (bytes.length < 8) bad(`truncated safetensors file (${bytes.length} bytes; the header length alone needs 8)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_SAFETENSORS_HEADER)) bad(`header length ${headerLength} is larger than the safetensors format allows (${MAX_SAFETENSORS_HEADER} bytes)`);
  if (headerLength > BigInt(bytes.length - 8)) bad(`header length ${headerLength} exceeds the file (${bytes.length} bytes)`);
  const dataStart = 8 + Number(headerLength);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    return bad('header is not valid UTF-8');
  }
  if (!text.startsWith('{')) bad(`header does not start with '{' (received ${JSON.stringify(text.slice(0, 16))})`);
  const fraction = firstNonIntegerNumber(text);
  if (fraction !== undefined) bad(`Expected non-negative integers for shapes and data_offsets but the header holds the number ${fraction}`);
  const header = parseJsonText(text, `${source}: header`);
  if (typeof header !== 'object' || header === null || Array.isArray(header)) bad('header is not a JSON object');
  const { __metadata__: metadata = {}, ...entries } = header as Record<string, unknown>;
  if (metadata !== null && (typeof metadata !== 'object' || Array.isArray(metadata) || !Object.values(metadata).every((v) => typeof v === 'string'))) {
    bad(`Expected an object of strings for __metadata__ but received ${describe(metadata)}`);
  }
  const dataLength = bytes.length - dataStart;
  const list = Object.entries(entries).map(([name, entry]) => checkEntry(name, entry, bad));
  // Contiguous in offset order: each tensor starts where the one before it ends, the last ends
  // where the file ends (zero-size tensors may share an offset).
  const ordered = [...list].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let cursor = 0;
  let previous = '';
  for (const e of ordered) {
    if (e.begin !== cursor) {
      const where = previous ? `tensor ${previous} ends at ${cursor}` : 'the data starts at 0';
      bad(`tensor ${e.name} data_offsets [${e.begin}, ${e.end}] ${e.begin > cursor ? 'leave a gap' : 'overlap'}: ${where}`);
    }
    cursor = e.end;
    previous = e.name;
  }
  if (cursor > dataLength) bad(`truncated: the tensors need ${cursor} bytes of data but the file holds ${dataLength}`);
  if (cursor < dataLength) bad(`${dataLength - cursor} bytes after the last tensor's data (the tensors end at ${cursor} of ${dataLength})`);
  for (const e of list) if (!READABLE.includes(e.dtype)) bad(`tensor ${e.name} is ${e.dtype}; napinet reads F32, F64, I64 and I32 tensors`);
  const tensors: Record<string, NamedArray> = {};
  for (const e of list) {
    const copy = new Uint8Array(e.end - e.begin);
    copy.set(bytes.subarray(dataStart + e.begin, dataStart + e.end));
    tensors[e.name] = { shape: e.shape, data: toFloat32(copy, e.dtype, `${source}: tensor ${e.name}`) };
  }
  return { tensors, metadata: (metadata ?? {}) as Record<string, string> };
}

function toFloat32(bytes: Uint8Array, dtype: string, what: string): Float32Array {
  if (dtype === 'F32') return new Float32Array(bytes.buffer);
  if (dtype === 'F64') return Float32Array.from(new Float64Array(bytes.buffer));
  const ints = dtype === 'I64' ? Array.from(new BigInt64Array(bytes.buffer), Number) : Array.from(new Int32Array(bytes.buffer));
  const bad = ints.find((v) => Math.abs(v) > 2 ** 24);
  if (bad !== undefined) throw new Error(`${what}: integer ${bad} is too large to hold exactly as float32`);
  return Float32Array.from(ints);
}

/** Writes named float32 arrays to a .safetensors file (atomically), readable by PyTorch's safetensors. */
export function writeSafetensors(file: string, tensors: Record<string, NamedArray>, metadata?: Record<string, string>): void {
  writeFileAtomic(file, encodeSafetensors(tensors, metadata));
}

/** Reads a .safetensors file: its tensors as float32 (F32, F64, I32 and I64 are read) and its metadata. */
export function readSafetensors(file: string): { tensors: Record<string, NamedArray>; metadata: Record<string, string> } {
  return decodeSafetensors(readInputFile(file, 'safetensors file'), file);
}
