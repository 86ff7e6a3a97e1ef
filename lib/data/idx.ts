/**
 * Reader for the IDX format of the MNIST files (plain or gzip-compressed): a big-endian header
 * of magic (0x0000, element type, rank), the dimensions, then the data. Truncated, malformed or
 * mislabelled files are refused with an error naming the file and what is wrong.
 *
 * Sizes follow the input budget (lib/budget.ts): a gzip file's header is unpacked first, the
 * size its dimensions declare is checked against the compressed bytes and the budget, and the rest
 * is unpacked with output stopped at that size. Test: test/idx.test.ts, test/hostile_input.test.ts.
 */
import { checkBudget, checkCompressed, formatBytes, inflateExactly, inflatePrefix, readInputFile } from '../budget';
import { describe } from '../validate';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const UNSIGNED_BYTE = 0x08;
const MAX_RANK = 4;

function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}

/** The header of IDX bytes: shape, header length and data length (checked, not yet against the data). */
function parseHeader(bytes: Uint8Array, source: string): { shape: number[]; headerBytes: number; count: number } {
  if (bytes.length < 4) throw new Error(`${source}: truncated IDX file (${bytes.length} bytes, the header alone needs 4)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) throw new Error(`${source}: not an IDX file (magic number 0x${view.getUint32(0).toString(16).padStart(8, '0')})`);
  const type = bytes[2];
  const rank = bytes[3];
  if (type !== UNSIGNED_BYTE) throw new Error(`${source}: IDX element type 0x${type.toString(16)} is not supported (MNIST files hold unsigned bytes, 0x08)`);
  if (rank < 1 || rank > MAX_RANK) throw new Error(`${source}: IDX rank ${rank} is out of range (1 to ${MAX_RANK})`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new Error(`${source}: truncated IDX header (${bytes.length} of ${headerBytes} bytes)`);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i));
  return { shape, headerBytes, count: shape.reduce((a, b) => a * b, 1) };
}

/** Parses IDX bytes (unsigned-byte data, as MNIST uses). `source` names the origin in errors. */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected a Uint8Array for bytes but received ${describe(bytes)}`);
  if (isGzip(bytes)) {
    const { shape, headerBytes, count } = parseHeader(inflatePrefix(bytes, 'gzip', 4 + 4 * MAX_RANK, source, 'gzip data'), source);
    const what = `IDX data of shape [${shape.join(', ')}]`;
    checkCompressed(source, what, headerBytes + count, bytes.length);
    checkBudget(source, what, headerBytes + count);
    bytes = inflateExactly(bytes, 'gzip', headerBytes + count, source, 'gzip data');
  }
  const { shape, headerBytes, count } = parseHeader(bytes, source);
  const present = bytes.length - headerBytes;
  if (present < count) {
    throw new Error(`${source}: truncated IDX data: shape [${shape.join(', ')}] needs ${formatBytes(count)}, the file has ${formatBytes(present)}`);
  }
  if (present > count) throw new Error(`${source}: ${present - count} unexpected bytes after the IDX data of shape [${shape.join(', ')}]`);
  return { shape, data: bytes.subarray(headerBytes, headerBytes + count) };
}

/** Reads an IDX file (.gz or plain). */
export function readIdx(file: string): IdxArray {
  return parseIdx(readInputFile(file, 'IDX file'), file);
}
