/**
 * Reader for the IDX format of the MNIST files (plain or gzip-compressed): a big-endian header
 * of magic (0x0000, element type, rank), the dimensions, then the data. Truncated, malformed or
 * mislabelled files are refused with an error naming the file and what is wrong.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

const UNSIGNED_BYTE = 0x08;

/** Parses IDX bytes (unsigned-byte data, as MNIST uses). `source` names the origin in errors. */
export function parseIdx(bytes: Uint8Array, source = 'IDX data'): IdxArray {
  if (bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b) {
    try {
      bytes = zlib.gunzipSync(bytes);
    } catch (error) {
      throw new Error(`${source}: corrupt or truncated gzip data (${(error as Error).message})`);
    }
  }
  if (bytes.length < 4) throw new Error(`${source}: truncated IDX file (${bytes.length} bytes, the header alone needs 4)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (view.getUint16(0) !== 0) throw new Error(`${source}: not an IDX file (magic number 0x${view.getUint32(0).toString(16).padStart(8, '0')})`);
  const type = bytes[2];
  const rank = bytes[3];
  if (type !== UNSIGNED_BYTE) throw new Error(`${source}: IDX element type 0x${type.toString(16)} is not supported (MNIST files hold unsigned bytes, 0x08)`);
  if (rank < 1 || rank > 4) throw new Error(`${source}: IDX rank ${rank} is out of range (1 to 4)`);
  const headerBytes = 4 + 4 * rank;
  if (bytes.length < headerBytes) throw new Error(`${source}: truncated IDX header (${bytes.length} of ${headerBytes} bytes)`);
  const shape: number[] = [];
  for (let i = 0; i < rank; i++) shape.push(view.getUint32(4 + 4 * i));
  const count = shape.reduce((a, b) => a * b, 1);
  if (bytes.length - headerBytes < count) {
    throw new Error(`${source}: truncated IDX data: shape [${shape.join(', ')}] needs ${count} bytes, the file has ${bytes.length - headerBytes}`);
  }
  if (bytes.length - headerBytes > count) {
    throw new Error(`${source}: ${bytes.length - headerBytes - count} unexpected bytes after the IDX data of shape [${shape.join(', ')}]`);
  }
  return { shape, data: bytes.subarray(headerBytes, headerBytes + count) };
}

/** Reads an IDX file (.gz or plain). */
export function readIdx(file: string): IdxArray {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read IDX file ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return parseIdx(bytes, file);
}
