/**
 * Hostile inputs for test/hostile_input.test.ts: crafted files (each of a kind of lie a file can
 * tell: sizes it does not hold, data cut short, structures nested too deep) and the runner that
 * sends a job of them through a napinet reader in a child process (test/helpers/hostile_child.cjs)
 * while measuring it: the child's own peak RSS, each case's time, and a watchdog that kills a
 * child whose resident memory passes WATCHDOG_MB (so a regression fails the test instead of
 * taking the machine down).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { PNG } from 'pngjs';
import { crc32, encodeGreyPng } from '../../lib/io/png';

const childScript = path.join(__dirname, 'hostile_child.cjs');
/** A child past this resident size is killed at once (the bounds the test checks are far lower). */
export const WATCHDOG_MB = 1536;

export interface CaseResult {
  name: string;
  input: unknown;
  outcome: 'error' | 'answer' | 'thrown';
  type?: string;
  message?: string;
  ms: number;
  maxRssKb: number;
}

export interface JobResult {
  cases: CaseResult[];
  /** The child's peak resident memory (its own process.resourceUsage().maxRSS). */
  maxRssMb: number;
  wallSeconds: number;
  /** Why the child did not finish normally: a signal, the watchdog, the timeout, a fatal error. */
  failure?: string;
}

export interface Job {
  reader: 'png' | 'idx' | 'mnist' | 'safetensors' | 'model' | 'checkpoint' | 'onnx' | 'cli';
  cases?: { name: string; input: unknown }[];
  mutations?: { base: string; seed: number; count: number; scratch: string };
  env?: Record<string, string>;
}

function vmRssKb(pid: number): number {
  try {
    return Number(/VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

/** Runs `job` in a child process with a `timeoutSeconds` limit and the memory watchdog. */
export async function runJob(job: Job, dir: string, timeoutSeconds: number): Promise<JobResult> {
  const jobFile = path.join(dir, `job-${job.reader}-${Math.random().toString(36).slice(2)}.json`);
  fs.writeFileSync(jobFile, JSON.stringify(job));
  const started = performance.now();
  // cwd: the scratch folder, so that nothing a case might write lands in the repository.
  const child = spawn(process.execPath, [childScript, jobFile], { cwd: dir, env: { ...process.env, ...job.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let failure: string | undefined;
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const watchdog = setInterval(() => {
    if (vmRssKb(child.pid!) > WATCHDOG_MB * 1024 && !failure) {
      failure = `killed by the watchdog: resident memory above ${WATCHDOG_MB} MB`;
      child.kill('SIGKILL');
    }
  }, 20);
  const timer = setTimeout(() => {
    failure ??= `killed after ${timeoutSeconds} s (a hang)`;
    child.kill('SIGKILL');
  }, timeoutSeconds * 1000);
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearInterval(watchdog);
  clearTimeout(timer);
  const lines = stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const done = lines.find((l) => l.done);
  const fatal = lines.find((l) => l.fatal);
  if (!failure && signal) failure = `ended by ${signal}`;
  if (!failure && fatal) failure = `child failed: ${fatal.fatal}`;
  if (!failure && (code !== 0 || !done)) failure = `exit code ${code}: ${stderr.slice(-2000)}`;
  return {
    cases: lines.filter((l) => l.name !== undefined),
    maxRssMb: (done?.maxRssKb ?? 0) / 1024,
    wallSeconds: (performance.now() - started) / 1000,
    failure,
  };
}

// ---------------------------------------------------------------------------------------------
// PNG: a good image taken apart into chunks and put back together with lies.

export interface Chunk {
  type: string;
  data: Uint8Array;
}

export function pngChunks(bytes: Uint8Array): Chunk[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunks: Chunk[] = [];
  for (let at = 8; at < bytes.length; ) {
    const length = view.getUint32(at);
    chunks.push({ type: Buffer.from(bytes.subarray(at + 4, at + 8)).toString('latin1'), data: bytes.slice(at + 8, at + 8 + length) });
    at += 12 + length;
  }
  return chunks;
}

/** PNG bytes from chunks, each with a correct CRC unless `badCrc` names its type. */
export function pngFromChunks(chunks: Chunk[], badCrc?: string): Uint8Array {
  const parts: Buffer[] = [Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])];
  for (const c of chunks) {
    const head = Buffer.alloc(8);
    head.writeUInt32BE(c.data.length, 0);
    head.write(c.type, 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE((crc32(Buffer.concat([head.subarray(4), c.data])) ^ (c.type === badCrc ? 1 : 0)) >>> 0);
    parts.push(head, Buffer.from(c.data), crc);
  }
  return new Uint8Array(Buffer.concat(parts));
}

/** IHDR data for width × height, 8-bit grey unless given. */
export function ihdr(width: number, height: number, { depth = 8, colourType = 0, interlace = 0 } = {}): Uint8Array {
  const b = Buffer.alloc(13);
  b.writeUInt32BE(width, 0);
  b.writeUInt32BE(height, 4);
  b.set([depth, colourType, 0, 0, interlace], 8);
  return b;
}

/** A raw deflate stream of `zeros` zero bytes after `prefix`, built from one repeated 1 MiB block (tiny to make). */
function deflateZeros(prefix: Uint8Array, zeros: number): Buffer[] {
  const flush = { finishFlush: zlib.constants.Z_FULL_FLUSH };
  const parts = [zlib.deflateRawSync(prefix, flush)];
  const block = zlib.deflateRawSync(Buffer.alloc(1 << 20), flush);
  let left = zeros;
  for (; left >= 1 << 20; left -= 1 << 20) parts.push(block);
  parts.push(zlib.deflateRawSync(Buffer.alloc(left), flush), zlib.deflateRawSync(Buffer.alloc(0)));
  return parts;
}

/** zlib (RFC 1950) data of `prefix` then `zeros` zero bytes. The Adler-32 is left 0: readers must stop long before it. */
export function zlibZeros(prefix: Uint8Array, zeros: number): Uint8Array {
  return new Uint8Array(Buffer.concat([Buffer.from([0x78, 0x9c]), ...deflateZeros(prefix, zeros), Buffer.alloc(4)]));
}

/** gzip data of `prefix` then `zeros` zero bytes. The CRC is left 0: readers must stop long before it. */
export function gzipZeros(prefix: Uint8Array, zeros: number): Uint8Array {
  const header = Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]);
  const trailer = Buffer.alloc(8);
  trailer.writeUInt32LE((prefix.length + zeros) % 2 ** 32, 4);
  return new Uint8Array(Buffer.concat([header, ...deflateZeros(prefix, zeros), trailer]));
}

/** An IDX header for unsigned bytes of `shape`. */
export function idxHeader(shape: number[], type = 0x08): Uint8Array {
  const b = Buffer.alloc(4 + 4 * shape.length);
  b[2] = type;
  b[3] = shape.length;
  shape.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  return b;
}

/** The crafted PNG files: name → [bytes, what the reader must say (or 'answer')]. */
export function craftedPngs(digit: Uint8Array): Record<string, [Uint8Array, string]> {
  const good = encodeGreyPng(digit, 28, 28);
  const chunks = pngChunks(good);
  const [head, idat, end] = [chunks[0], chunks.find((c) => c.type === 'IDAT')!, chunks.at(-1)!];
  const tall = new PNG({ width: 1, height: 60000, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
  tall.data = Buffer.alloc(60000);
  const tallBytes = new Uint8Array(PNG.sync.write(tall, { colorType: 0, inputColorType: 0, inputHasAlpha: false, deflateLevel: 9 }));
  const withIdat = (data: Uint8Array, header = head) => pngFromChunks([header, { type: 'IDAT', data }, end]);
  const rows = (n: number) => new Uint8Array(zlib.deflateSync(Buffer.alloc(n * 29)));
  const flipped = idat.data.slice();
  flipped[Math.floor(flipped.length / 2)] ^= 0xff;
  return {
    'the 196-byte PNG of 1×60000 pixels (an answer, within the bounds)': [tallBytes, 'answer'],
    'a 28×28 digit (an answer)': [good, 'answer'],
    'declares 100000×100000 pixels': [withIdat(idat.data, { type: 'IHDR', data: ihdr(100000, 100000) }), 'would need 158 GiB, more than the input budget of 1 GiB'],
    'declares 1×2^31-1 pixels in 300 bytes': [withIdat(idat.data, { type: 'IHDR', data: ihdr(1, 2 ** 31 - 1) }), 'would need 36.0 GiB, more than the input budget'],
    'declares 60000×600 pixels in 20 KB of image data': [withIdat(new Uint8Array(20000), { type: 'IHDR', data: ihdr(60000, 600) }), 'a 60000×600 image declares 34.3 MiB, more than 19.5 KiB of compressed data can hold (at most 19.7 MiB)'],
    'declares size 0×28': [withIdat(idat.data, { type: 'IHDR', data: ihdr(0, 28) }), 'corrupt PNG (size 0×28)'],
    'bit depth 4 for RGB': [withIdat(idat.data, { type: 'IHDR', data: ihdr(28, 28, { depth: 4, colourType: 2 }) }), 'bit depth 4 is not allowed for colour type 2'],
    'colour type 5': [withIdat(idat.data, { type: 'IHDR', data: ihdr(28, 28, { colourType: 5 }) }), 'colour type 5; PNG defines 0, 2, 3, 4 and 6'],
    'palette image without PLTE': [withIdat(idat.data, { type: 'IHDR', data: ihdr(28, 28, { colourType: 3 }) }), 'a palette image without a PLTE chunk'],
    'no IDAT chunk': [pngFromChunks([head, end]), 'PNG without image data (no IDAT chunk)'],
    'image data cut short (valid CRC)': [withIdat(idat.data.subarray(0, idat.data.length >> 1)), 'image data: the compressed data is cut short'],
    'image data corrupt (valid CRC)': [withIdat(flipped), 'image data'],
    'IDAT fails its CRC': [pngFromChunks([head, idat, end], 'IDAT'), 'chunk "IDAT" at byte 33 fails its CRC check'],
    'image data of 27 rows for 28 declared': [withIdat(rows(27)), 'image data unpacks to 783 bytes but its header declares 812 bytes'],
    'image data of 29 rows for 28 declared': [withIdat(rows(29)), 'image data unpacks to more than the 812 bytes its header declares'],
    'interlaced 1×1 image whose data unpacks to 256 MiB': [withIdat(zlibZeros(new Uint8Array(0), 2 ** 28), { type: 'IHDR', data: ihdr(1, 1, { interlace: 1 }) }), 'image data unpacks to more than the 2 bytes its header declares'],
    'IDAT chunks not consecutive': [pngFromChunks([head, idat, { type: 'tEXt', data: Buffer.from('a\0b') }, idat, end]), 'its IDAT chunks are not consecutive'],
    'no IEND chunk': [pngFromChunks([head, idat]), 'truncated PNG: the file ends before its IEND chunk'],
    'cut inside the IDAT chunk': [good.subarray(0, 60), 'truncated PNG: chunk "IDAT" at byte 33 declares'],
    'a chunk declaring 2^31 bytes': [Buffer.concat([good.subarray(0, 33), Buffer.from([0x80, 0, 0, 0]), good.subarray(37)]), 'declares 2147483648 bytes'],
    'first chunk not IHDR': [pngFromChunks([idat, head, end]), 'the first chunk is not a 13-byte IHDR'],
    'not a PNG': [new Uint8Array(Buffer.from('GIF89a'.padEnd(64, '\0'))), 'not a PNG file (no PNG signature)'],
    'empty file': [new Uint8Array(0), 'truncated PNG (0 bytes'],
  };
}

/** The crafted IDX files: name → [bytes, what the reader must say]. */
export function craftedIdx(): Record<string, [Uint8Array, string]> {
  const images = (n: number) => idxHeader([n, 28, 28]);
  const plain = (shape: number[], data: number) => new Uint8Array(Buffer.concat([idxHeader(shape), Buffer.alloc(data)]));
  const good = new Uint8Array(zlib.gzipSync(plain([2, 28, 28], 2 * 784)));
  const badCrc = good.slice();
  badCrc[badCrc.length - 6] ^= 0xff;
  return {
    'gzip file of 4 MB unpacking to 4 GiB (declared)': [gzipZeros(images(5478274), 5478274 * 784), 'IDX data of shape [5478274, 28, 28] would need 4.0 GiB, more than the input budget of 1 GiB'],
    'gzip file declaring 10 images holding 256 MiB': [gzipZeros(images(10), 2 ** 28), 'gzip data unpacks to more than the 7.7 KiB its header declares'],
    'gzip file of 60 bytes declaring 784 MB': [new Uint8Array(zlib.gzipSync(Buffer.concat([images(1000000), Buffer.alloc(4096)]))), 'IDX data of shape [1000000, 28, 28] declares 748 MiB, more than'],
    'plain file declaring [2^32-1, 2^32-1]': [plain([2 ** 32 - 1, 2 ** 32 - 1], 100), 'truncated IDX data: shape [4294967295, 4294967295] needs'],
    'gzip file cut short': [good.subarray(0, good.length >> 1), 'gzip data: the compressed data is cut short'],
    'gzip file with a bad CRC': [badCrc, 'gzip data: the compressed data is corrupt (zlib: incorrect data check)'],
    'gzip header only': [good.subarray(0, 10), 'gzip data: the compressed data is cut short'],
    'element type 0x0d': [plain([2], 2).map((b, i) => (i === 2 ? 0x0d : b)), 'IDX element type 0xd is not supported'],
    'rank 0': [new Uint8Array([0, 0, 8, 0]), 'IDX rank 0 is out of range (1 to 4)'],
    'rank 200': [new Uint8Array([0, 0, 8, 200, 0, 0, 0, 1]), 'IDX rank 200 is out of range (1 to 4)'],
    'magic 0xffff': [new Uint8Array([0xff, 0xff, 8, 1, 0, 0, 0, 1, 7]), 'not an IDX file (magic number 0xffff0801)'],
    'header cut': [plain([2, 3], 6).subarray(0, 9), 'truncated IDX header (9 of 12 bytes)'],
    'bytes after the data': [plain([2], 3), '1 unexpected bytes after the IDX data of shape [2]'],
  };
}

/** safetensors bytes from a header (an object, or raw text) and `dataBytes` zero bytes, with `headerLength` overriding the real one. */
export function safetensorsFile(header: unknown, dataBytes: number, headerLength?: bigint): Uint8Array {
  const json = header instanceof Uint8Array ? Buffer.from(header) : Buffer.from(typeof header === 'string' ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, headerLength ?? BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

/** The crafted safetensors files: name → [bytes, what the reader must say]. */
export function craftedSafetensors(): Record<string, [Uint8Array, string]> {
  const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({ dtype: 'F32', shape, data_offsets: [begin, end] });
  const deep = 100000;
  return {
    'header length 2^64-1': [safetensorsFile({}, 0, 2n ** 64n - 1n), 'header length 18446744073709551615 is larger than the safetensors format allows'],
    'header length beyond the file': [safetensorsFile({}, 0, 4096n), 'header length 4096 exceeds the file (10 bytes)'],
    'header nested 100,000 deep': [safetensorsFile('{"a":' + '['.repeat(deep) + ']'.repeat(deep) + '}', 0), 'JSON nested 100001 levels deep; napinet reads at most 64'],
    'shape of 2^52 values on 8 bytes': [safetensorsFile({ w: f32(0, 8, [2 ** 40, 2 ** 12]) }, 8), 'do not fit its shape [1099511627776, 4096] of F32'],
    'offsets past the end': [safetensorsFile({ w: f32(0, 2 ** 40) }, 8), 'truncated: the tensors need 1099511627776 bytes of data but the file holds 8'],
    'overlapping tensors': [safetensorsFile({ a: f32(0, 8), b: f32(4, 12) }, 12), 'tensor b data_offsets [4, 12] overlap: tensor a ends at 8'],
    'a gap between tensors': [safetensorsFile({ a: f32(0, 8), b: f32(12, 20) }, 20), 'tensor b data_offsets [12, 20] leave a gap: tensor a ends at 8'],
    'bytes after the last tensor': [safetensorsFile({ a: f32(0, 8) }, 16), "8 bytes after the last tensor's data"],
    'unknown dtype': [safetensorsFile({ a: { dtype: 'F128', shape: [1], data_offsets: [0, 16] } }, 16), 'tensor a has unknown dtype "F128"'],
    'BF16 tensor': [safetensorsFile({ a: { dtype: 'BF16', shape: [2], data_offsets: [0, 4] } }, 4), 'tensor a is BF16; napinet reads F32, F64, I64 and I32 tensors'],
    '__metadata__ with a number': [safetensorsFile({ __metadata__: { a: 1 } }, 0), 'Expected an object of strings for __metadata__'],
    'entry null': [safetensorsFile({ a: null }, 0), 'tensor a: expected {dtype, shape, data_offsets} but received null'],
    'header a list': [safetensorsFile('[1, 2]', 0), "header does not start with '{'"],
    'header not JSON': [safetensorsFile('{"a": }', 0), 'header is not valid JSON'],
    'header not UTF-8': [safetensorsFile(new Uint8Array([0x7b, 0xff, 0xfe, 0x7d]) as never, 0), 'header is not valid UTF-8'],
    'file of 5 bytes': [new Uint8Array(5), 'truncated safetensors file (5 bytes; the header length alone needs 8)'],
  };
}
