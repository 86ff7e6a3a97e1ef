/**
 * The input budget: the one rule every napinet reader follows for files it did not necessarily
 * write (PNG, IDX, safetensors, model.json, checkpoints, run files). docs/RELIABILITY.md lists them.
 *
 * A file declares sizes (PNG width × height × bit depth, IDX dimensions, safetensors shapes and
 * offsets, model.json layer sizes and input shape). Before allocating anything for them, a reader
 * checks that
 *   1. the bytes are there: raw data the file declares must be present in full (checkPresent),
 *      and compressed data can unpack to at most MAX_DEFLATE_RATIO times its size, zlib's own
 *      limit (checkCompressed);
 *   2. what it is about to allocate fits the budget: inputBudget() bytes, 1 GiB unless the
 *      environment variable NAPINET_INPUT_BUDGET says otherwise (checkBudget).
 * Decompression stops at the size the header declared (inflateExactly: zlib's maxOutputLength),
 * so a stream that unpacks to more is refused there. JSON files are at most MAX_JSON_BYTES and
 * MAX_JSON_DEPTH deep (checked on the text, before JSON.parse builds anything).
 *
 * Every refusal is an Error whose message starts with the file (or the caller's source name) and
 * says what was expected. Test: test/hostile_input.test.ts.
 */
import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import { describe } from './validate';

/** 1 GiB: what one input may make napinet allocate unless NAPINET_INPUT_BUDGET says otherwise. */
export const DEFAULT_INPUT_BUDGET = 2 ** 30;
/** Deflate's largest expansion (258-byte matches coded in under 2 bits): 1032 to 1, plus headers. */
export const MAX_DEFLATE_RATIO = 1032;
/** JSON files napinet reads (model.json, checkpoint.json, latest.json, history.json, …). */
export const MAX_JSON_BYTES = 16 * 2 ** 20;
export const MAX_JSON_DEPTH = 64;

/** Bytes as a person reads them: "1.5 GiB", "196 bytes". */
export function formatBytes(bytes: number): string {
  if (bytes < 1024) return `${bytes} bytes`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB', 'PiB', 'EiB'];
  let value = bytes / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1)} ${units[unit]}`;
}

/** The budget in bytes: NAPINET_INPUT_BUDGET (bytes, or with a K, M or G suffix) or 1 GiB. */
export function inputBudget(): number {
  const raw = process.env.NAPINET_INPUT_BUDGET;
  if (raw === undefined || raw === '') return DEFAULT_INPUT_BUDGET;
  const match = /^\s*(\d+(?:\.\d+)?)\s*([kmg]?)i?b?\s*$/i.exec(raw);
  const scale = { '': 1, k: 2 ** 10, m: 2 ** 20, g: 2 ** 30 }[(match?.[2] ?? '').toLowerCase()];
  const bytes = match && scale ? Math.floor(Number(match[1]) * scale) : NaN;
  if (!(bytes >= 1)) throw new Error(`Expected a size in bytes such as 1073741824, 512M or 2G for NAPINET_INPUT_BUDGET but received ${JSON.stringify(raw)}`);
  return bytes;
}

/** Refuses `bytes` (what the reader would allocate for `what`) beyond the budget. */
export function checkBudget(source: string, what: string, bytes: number): void {
  const budget = inputBudget();
  if (!(bytes <= budget)) {
    throw new Error(`${source}: ${what} would need ${formatBytes(bytes)}, more than the input budget of ${formatBytes(budget)} (NAPINET_INPUT_BUDGET)`);
  }
}

/** Refuses raw data that declares more bytes than are present. */
export function checkPresent(source: string, what: string, declared: number, present: number): void {
  if (!(declared <= present)) throw new Error(`${source}: truncated: ${what} declares ${formatBytes(declared)} but only ${formatBytes(present)} are present`);
}

/** Refuses compressed data that declares more than `compressed` bytes of deflate can hold. */
export function checkCompressed(source: string, what: string, declared: number, compressed: number): void {
  const most = compressed * MAX_DEFLATE_RATIO;
  if (!(declared <= most)) {
    throw new Error(`${source}: ${what} declares ${formatBytes(declared)}, more than ${formatBytes(compressed)} of compressed data can hold (at most ${formatBytes(most)})`);
  }
}

/** A read or write error as a sentence naming the file (no bare ENOENT). */
export function fileError(file: string, action: 'read' | 'write', error: unknown): Error {
  const code = (error as NodeJS.ErrnoException)?.code;
  const reason: Record<string, string> = {
    ENOENT: action === 'read' ? 'no such file or folder' : 'its folder does not exist',
    EISDIR: 'it is a folder, not a file',
    ENOTDIR: 'a part of the path is a file, not a folder',
    EACCES: 'permission denied',
    EPERM: 'operation not permitted',
    EROFS: 'the file system is read-only',
    ENOSPC: 'no space left on the device',
    EMFILE: 'too many open files',
    ENAMETOOLONG: 'the name is too long',
    ELOOP: 'too many symbolic links',
  };
  const why = (code && reason[code]) ?? (error instanceof Error ? error.message : String(error));
  return new Error(`cannot ${action} ${file}: ${why}`);
}

/**
 * Opens `file` for reading if it is a regular file (a folder, FIFO or device is refused by name;
 * O_NONBLOCK so that opening a FIFO cannot wait forever for a writer).
 */
function openRegularFile(file: string, what: string): number {
  if (typeof file !== 'string' || file === '') throw new TypeError(`Expected a file path for the ${what} but received ${describe(file)}`);
  const fd = fs.openSync(file, fs.constants.O_RDONLY | (fs.constants.O_NONBLOCK ?? 0));
  const stat = fs.fstatSync(fd);
  if (!stat.isFile()) {
    fs.closeSync(fd);
    throw new Error(`cannot read ${file}: it is ${stat.isDirectory() ? 'a folder' : 'not a regular file'}, not a ${what}`);
  }
  return fd;
}

/** Reads a whole file that must fit the budget; `what` names it in errors ("PNG file"). */
export function readInputFile(file: string, what = 'file'): Uint8Array {
  let fd: number;
  try {
    fd = openRegularFile(file, what);
  } catch (error) {
    throw (error as NodeJS.ErrnoException).code ? fileError(file, 'read', error) : error;
  }
  try {
    const stat = fs.fstatSync(fd);
    checkBudget(file, `reading this ${what} of ${formatBytes(stat.size)}`, stat.size);
    const bytes = Buffer.allocUnsafe(stat.size);
    let read = 0;
    while (read < stat.size) {
      const n = fs.readSync(fd, bytes, read, stat.size - read, read);
      if (n === 0) break;
      read += n;
    }
    return read === stat.size ? bytes : bytes.subarray(0, read);
  } catch (error) {
    throw (error as NodeJS.ErrnoException).code ? fileError(file, 'read', error) : error;
  } finally {
    fs.closeSync(fd);
  }
}

type Deflate = 'gzip' | 'zlib';

function zlibReason(error: unknown): string {
  const e = error as NodeJS.ErrnoException;
  if (e?.code === 'Z_BUF_ERROR' || /unexpected end/i.test(e?.message ?? '')) return 'the compressed data is cut short';
  return `the compressed data is corrupt (zlib: ${e?.message ?? String(error)})`;
}

/**
 * Decompresses `bytes` that must unpack to exactly `expected` bytes (what the header declared,
 * already checked against the budget): more stops at expected + 1 bytes, less is refused.
 */
export function inflateExactly(bytes: Uint8Array, format: Deflate, expected: number, source: string, what: string): Uint8Array {
  const options = { maxOutputLength: Math.max(1, expected), chunkSize: Math.max(64, Math.min(expected + 1, 2 ** 30)) };
  let out: Buffer;
  try {
    out = format === 'gzip' ? zlib.gunzipSync(bytes, options) : zlib.inflateSync(bytes, options);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new Error(`${source}: ${what} unpacks to more than the ${formatBytes(expected)} its header declares`);
    }
    throw new Error(`${source}: ${what}: ${zlibReason(error)}`);
  }
  if (out.length !== expected) throw new Error(`${source}: ${what} unpacks to ${formatBytes(out.length)} but its header declares ${formatBytes(expected)}`);
  return out;
}

/**
 * The first `want` bytes of a compressed stream (to read a header), decompressing no more of
 * the input than needed: prefixes of 256 bytes, 4 KiB and 64 KiB (at most ~66 MB out).
 * Returns fewer bytes when the whole stream is shorter.
 */
export function inflatePrefix(bytes: Uint8Array, format: Deflate, want: number, source: string, what: string): Uint8Array {
  let out = Buffer.alloc(0);
  for (const size of [256, 4096, 65536]) {
    const input = bytes.subarray(0, Math.min(size, bytes.length));
    try {
      const options = { finishFlush: zlib.constants.Z_SYNC_FLUSH };
      out = format === 'gzip' ? zlib.gunzipSync(input, options) : zlib.inflateSync(input, options);
    } catch (error) {
      throw new Error(`${source}: ${what}: ${zlibReason(error)}`);
    }
    if (out.length >= want || input.length === bytes.length) break;
  }
  if (out.length < want) {
    // Short: either the whole stream is that short or it is cut short or corrupt; a strict
    // decompression (output capped at `want`) tells which and names the reason.
    try {
      format === 'gzip' ? zlib.gunzipSync(bytes, { maxOutputLength: want }) : zlib.inflateSync(bytes, { maxOutputLength: want });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ERR_BUFFER_TOO_LARGE') throw new Error(`${source}: ${what}: ${zlibReason(error)}`);
    }
  }
  return out.subarray(0, Math.min(want, out.length));
}

/** The deepest nesting of arrays and objects in JSON text (a linear scan, before parsing). */
function jsonDepth(text: string): number {
  let depth = 0;
  let deepest = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b || c === 0x7b) deepest = Math.max(deepest, ++depth);
    else if (c === 0x5d || c === 0x7d) depth--;
  }
  return deepest;
}

/** Parses JSON text from `source`, refusing text nested deeper than MAX_JSON_DEPTH. */
export function parseJsonText(text: string, source: string): unknown {
  const depth = jsonDepth(text);
  if (depth > MAX_JSON_DEPTH) throw new Error(`${source}: JSON nested ${depth} levels deep; napinet reads at most ${MAX_JSON_DEPTH}`);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new Error(`${source} is not valid JSON (${(error as Error).message})`);
  }
}

/** Reads and parses a JSON file of at most MAX_JSON_BYTES; `what` names it in errors ("model manifest"). */
export function readJsonFile(file: string, what = 'JSON file'): unknown {
  let fd: number;
  try {
    fd = openRegularFile(file, what);
  } catch (error) {
    throw (error as NodeJS.ErrnoException).code ? fileError(file, 'read', error) : error;
  }
  let text: string;
  try {
    const stat = fs.fstatSync(fd);
    if (stat.size > MAX_JSON_BYTES) throw new Error(`${file}: ${formatBytes(stat.size)} is larger than napinet reads for a ${what} (${formatBytes(MAX_JSON_BYTES)})`);
    text = fs.readFileSync(fd, 'utf8');
  } catch (error) {
    throw (error as NodeJS.ErrnoException).code ? fileError(file, 'read', error) : error;
  } finally {
    fs.closeSync(fd);
  }
  return parseJsonText(text, file);
}
