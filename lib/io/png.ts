/**
 * PNG images for `napinet predict`: decoding (pngjs: every colour type and bit depth, palettes,
 * interlacing), grey-scale conversion and the MNIST look — white digit on black, 28×28.
 *
 * decodePng refuses what it cannot read with an Error naming the source and the reason: it walks
 * the chunks (CRCs, IHDR fields, IDAT present and whole) and checks the declared size against the
 * input budget (lib/budget.ts) before decoding, so a corrupt or hostile file can neither crash
 * the process, nor make it allocate gigabytes, nor be predicted as if whole. Test: test/png.test.ts,
 * test/hostile_input.test.ts.
 */
import * as zlib from 'node:zlib';
import { describe, expectInt, fail } from '../validate';
import { checkBudget, checkCompressed, inflateExactly, readInputFile } from '../budget';

type PngJs = typeof import('pngjs');
let pngjs: PngJs | undefined;
/** pngjs, loaded on first use: require('napinet') does not pay for it (bench/import-time.mjs). */
function loadPngJs(): PngJs {
  return (pngjs ??= require('pngjs') as PngJs);
}

/** A decoded image: RGBA bytes, row-major. */
export interface RgbaImage {
  width: number;
  height: number;
  /** [height, width, 4] bytes, row-major. */
  rgba: Uint8Array;
}

/** A grey image: one value 0–255 per pixel, row-major. */
export interface GreyImage {
  width: number;
  height: number;
  /** [height, width] values in 0–255, row-major. */
  pixels: Float32Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Channels per colour type (0 grey, 2 RGB, 3 palette, 4 grey+alpha, 6 RGBA) and their legal bit depths. */
const COLOUR_TYPES: Record<number, { channels: number; depths: number[] }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16] },
  2: { channels: 3, depths: [8, 16] },
  3: { channels: 1, depths: [1, 2, 4, 8] },
  4: { channels: 2, depths: [8, 16] },
  6: { channels: 4, depths: [8, 16] },
};
/** Bytes decodePng may hold per pixel beyond the unpacked data: pngjs's bitmap (16-bit: 8 bytes) and RGBA output, and toGrey's floats. */
const BYTES_PER_PIXEL = 16;
/** Adam7 passes: [x0, y0, dx, dy]. */
const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

let crcTable: Uint32Array | undefined;
/** zlib's own CRC-32 where Node has it (20.15+, 22.2+), else the table below. */
const nativeCrc32 = (zlib as unknown as { crc32?: (data: Uint8Array) => number }).crc32;

/** CRC-32 (ISO 3309, as PNG chunks use). */
export function crc32(bytes: Uint8Array): number {
  if (nativeCrc32) return nativeCrc32(bytes) >>> 0;
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  let c = 0xffffffff;
  for (let i = 0; i < bytes.length; i++) c = crcTable[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

interface PngLayout {
  width: number;
  height: number;
  /** The image data (every IDAT chunk's contents, joined): a zlib stream. */
  idat: Uint8Array;
  /** What that stream must unpack to: filter byte + packed pixels, per row of every pass. */
  unpackedBytes: number;
}

/** Bytes of filtered scanlines for a width × height image (or interlace pass). */
function scanlineBytes(width: number, height: number, bitsPerPixel: number): number {
  return width > 0 && height > 0 ? height * (1 + Math.ceil((width * bitsPerPixel) / 8)) : 0;
}

/**
 * Walks the chunks as the PNG specification lays them out — signature, IHDR first, CRCs correct,
 * PLTE for palette images, one run of IDAT chunks, IEND — and computes what the image data must
 * unpack to. Everything a forged or cut-short file could lie about is refused here, before
 * anything the size of the image is allocated.
 */
function readLayout(bytes: Uint8Array, source: string): PngLayout {
  const bad = (message: string): never => {
    throw new Error(`${source}: ${message}`);
  };
  if (bytes.length < 33) bad(`truncated PNG (${bytes.length} bytes; the signature and header alone need 33)`);
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) bad('not a PNG file (no PNG signature)');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const type = (at: number) => String.fromCharCode(bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]);
  if (view.getUint32(8) !== 13 || type(12) !== 'IHDR') bad('corrupt PNG (the first chunk is not a 13-byte IHDR)');
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  const [depth, colourType, compression, filter, interlace] = bytes.subarray(24, 29);
  if (width === 0 || height === 0 || width > 2 ** 31 - 1 || height > 2 ** 31 - 1) bad(`corrupt PNG (size ${width}×${height})`);
  const colour = COLOUR_TYPES[colourType];
  if (!colour) bad(`corrupt PNG (colour type ${colourType}; PNG defines 0, 2, 3, 4 and 6)`);
  if (!colour.depths.includes(depth)) bad(`corrupt PNG (bit depth ${depth} is not allowed for colour type ${colourType}: ${colour.depths.join(', ')})`);
  if (compression !== 0 || filter !== 0 || interlace > 1) bad(`corrupt PNG (compression ${compression}, filter ${filter}, interlace ${interlace}: PNG defines 0, 0 and 0 or 1)`);
  const bitsPerPixel = colour.channels * depth;
  const unpackedBytes = interlace
    ? ADAM7.reduce((sum, [x0, y0, dx, dy]) => sum + scanlineBytes(Math.ceil((width - x0) / dx), Math.ceil((height - y0) / dy), bitsPerPixel), 0)
    : scanlineBytes(width, height, bitsPerPixel);
  checkBudget(source, `a ${width}×${height} image`, unpackedBytes + BYTES_PER_PIXEL * width * height);
  const idat: Uint8Array[] = [];
  let idatEnded = false;
  let palette = false;
  let ended = false;
  for (let at = 8; !ended; ) {
    if (at + 12 > bytes.length) bad(`truncated PNG: the file ends ${at === bytes.length ? 'before its IEND chunk' : 'inside a chunk header'}`);
    const length = view.getUint32(at);
    const name = type(at + 4);
    if (length > 2 ** 31 - 1 || at + 12 + length > bytes.length) bad(`truncated PNG: chunk ${JSON.stringify(name)} at byte ${at} declares ${length} bytes, the file ends before`);
    if (crc32(bytes.subarray(at + 4, at + 8 + length)) !== view.getUint32(at + 8 + length)) bad(`corrupt PNG: chunk ${JSON.stringify(name)} at byte ${at} fails its CRC check`);
    const data = bytes.subarray(at + 8, at + 8 + length);
    if (name === 'IDAT') {
      if (idatEnded) bad('corrupt PNG: its IDAT chunks are not consecutive');
      idat.push(data);
    } else if (idat.length > 0) {
      idatEnded = true;
    }
    if (name === 'PLTE') palette = true;
    if (name === 'IEND') ended = true;
    if (name === 'IHDR' && at !== 8) bad('corrupt PNG: a second IHDR chunk');
    at += 12 + length;
  }
  if (idat.length === 0) bad('PNG without image data (no IDAT chunk)');
  if (colourType === 3 && !palette) bad('corrupt PNG: a palette image without a PLTE chunk');
  const joined = idat.length === 1 ? idat[0] : Buffer.concat(idat);
  checkCompressed(source, `a ${width}×${height} image`, unpackedBytes, joined.length);
  return { width, height, idat: joined, unpackedBytes };
}

/**
 * Decodes PNG bytes to 8-bit RGBA. `source` names the origin in errors. The layout (chunks, CRCs,
 * sizes against the input budget) is checked first and the image data must unpack to exactly what
 * the header declares, so a cut-short or corrupt file is an Error, never a partly blank picture.
 */
export function decodePng(bytes: Uint8Array, source = 'PNG data'): RgbaImage {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected a Uint8Array for bytes but received ${describe(bytes)}`);
  const { width, height, idat, unpackedBytes } = readLayout(bytes, source);
  inflateExactly(idat, 'zlib', unpackedBytes, source, 'image data');
  let png: InstanceType<PngJs['PNG']>;
  try {
    png = loadPngJs().PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new Error(`${source}: corrupt PNG (${error instanceof Error ? error.message : String(error)})`);
  }
  if (png.width !== width || png.height !== height || png.data.length !== width * height * 4) {
    throw new Error(`${source}: corrupt PNG (decoded ${png.data.length} bytes for ${width}×${height} pixels)`);
  }
  return { width, height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
}

/** Reads and decodes a PNG file into RGBA bytes (pngjs, loaded on first use). */
export function readPng(file: string): RgbaImage {
  return decodePng(readInputFile(file, 'PNG file'), file);
}

/** Encodes 8-bit grey pixels [height, width] as a PNG (grey-scale colour type). */
export function encodeGreyPng(pixels: ArrayLike<number>, width: number, height: number): Uint8Array {
  expectInt(width, 'width', 1, 2 ** 31 - 1);
  expectInt(height, 'height', 1, 2 ** 31 - 1);
  checkBudget('encodeGreyPng', `a ${width}×${height} image`, 8 * width * height);
  if (typeof (pixels as ArrayLike<number> | null)?.length !== 'number' || typeof pixels === 'string' || pixels.length !== width * height) {
    fail(`${width * height} pixel values (width × height)`, 'pixels', pixels, RangeError);
  }
  const png = new (loadPngJs().PNG)({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  const data = Buffer.alloc(width * height);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(pixels[i])));
  png.data = data;
  const bytes = loadPngJs().PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/** An RgbaImage or GreyImage argument whose `field` holds `channels` values per pixel. */
function checkImage<T extends { width: number; height: number }>(image: T, field: 'rgba' | 'pixels', channels: number): T {
  const i = image as { width?: unknown; height?: unknown; rgba?: unknown; pixels?: unknown } | null;
  const data = i?.[field] as ArrayLike<number> | undefined;
  const ok = Number.isSafeInteger(i?.width) && (i!.width as number) >= 1 && Number.isSafeInteger(i?.height) && (i!.height as number) >= 1 && ArrayBuffer.isView(data);
  if (!ok || data!.length !== (i!.width as number) * (i!.height as number) * channels) {
    const what = field === 'rgba' ? '{width, height, rgba} with 4 bytes per pixel' : '{width, height, pixels} with one value per pixel';
    fail(what, 'image', image);
  }
  return image;
}

/**
 * Luminance (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B) of each pixel, composited over white
 * where it is transparent (a digit drawn on a transparent canvas reads as ink on paper).
 */
export function toGrey(image: RgbaImage): GreyImage {
  const { width, height, rgba } = checkImage(image, 'rgba', 4);
  const pixels = new Float32Array(width * height);
  for (let i = 0; i < pixels.length; i++) {
    const lum = 0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2];
    const alpha = rgba[4 * i + 3] / 255;
    pixels[i] = lum * alpha + 255 * (1 - alpha);
  }
  return { width, height, pixels };
}

/** Mean of the outermost ring of pixels: the background's brightness for a centred digit. */
export function borderMean(image: GreyImage): number {
  const { width: w, height: h, pixels } = image;
  let sum = 0;
  let n = 0;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (y === 0 || y === h - 1 || x === 0 || x === w - 1) {
        sum += pixels[y * w + x];
        n++;
      }
    }
  }
  return sum / n;
}

/** The span of input coordinates [from, to) that output o of an area resize covers (scale = to - from). */
function span(o: number, inSize: number, outSize: number): { from: number; to: number; scale: number } {
  const scale = inSize / outSize;
  return { from: o * scale, to: (o + 1) * scale, scale };
}

/** The weight of inputs [a, b) in a span: the length of their overlap over the span's length. */
function spanWeight(s: { from: number; to: number; scale: number }, a: number, b: number): number {
  return Math.max(0, Math.min(s.to, b) - Math.max(s.from, a)) / s.scale;
}

/**
 * For each output o, the weights of the inputs in [offset, offset + size) its span covers:
 * inputs first[o] … first[o] + count[o] - 1, weights in weight[at[o] …]. The inputs outside
 * [offset, offset + size) (padding) are summed apart by spanWeight.
 */
function innerTaps(inSize: number, outSize: number, offset: number, size: number) {
  const first = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const at = new Int32Array(outSize);
  const weight = new Float64Array(size + 2 * outSize);
  let k = 0;
  for (let o = 0; o < outSize; o++) {
    const s = span(o, inSize, outSize);
    const lo = Math.max(Math.floor(s.from), offset);
    const hi = Math.min(Math.ceil(s.to), offset + size, inSize);
    first[o] = lo;
    at[o] = k;
    for (let i = lo; i < hi; i++) weight[k++] = (Math.min(s.to, i + 1) - Math.max(s.from, i)) / s.scale;
    count[o] = Math.max(0, hi - lo);
  }
  return { first, count, at, weight };
}

/**
 * A canvas of width × height holding `image` at (left, top) and `background` elsewhere (the
 * padding to a square), resized to outWidth × outHeight by area averaging (each output pixel is
 * the mean of the canvas area it covers) without building the canvas: the padding's share of
 * each output is its covered length times the background, so memory and time follow the
 * picture and the output, not the padded square.
 */
function resizeCanvas(
  image: GreyImage,
  canvas: { width: number; height: number; left: number; top: number; background: number },
  outWidth: number,
  outHeight: number,
): GreyImage {
  const { width: iw, height: ih, pixels: src } = image;
  const bytes = 4 * (ih + 1 + outHeight) * outWidth + 20 * (iw + ih + 3 * (outWidth + outHeight));
  checkBudget('image', `resizing ${iw}×${ih} pixels to ${outWidth}×${outHeight}`, bytes);
  const background = Math.fround(canvas.background);
  const wx = innerTaps(canvas.width, outWidth, canvas.left, iw);
  const wy = innerTaps(canvas.height, outHeight, canvas.top, ih);
  const rows = new Float32Array(ih * outWidth); // horizontal pass over the picture's rows
  const backgroundRow = new Float32Array(outWidth); // … and over a row of padding
  for (let x = 0; x < outWidth; x++) {
    const s = span(x, canvas.width, outWidth);
    const before = spanWeight(s, -Infinity, canvas.left) * background;
    const after = spanWeight(s, canvas.left + iw, Infinity) * background;
    backgroundRow[x] = spanWeight(s, -Infinity, Infinity) * background;
    const column = wx.first[x] - canvas.left;
    for (let y = 0; y < ih; y++) {
      let sum = before;
      for (let k = 0; k < wx.count[x]; k++) sum += wx.weight[wx.at[x] + k] * src[y * iw + column + k];
      rows[y * outWidth + x] = sum + after;
    }
  }
  const pixels = new Float32Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    const s = span(y, canvas.height, outHeight);
    const before = spanWeight(s, -Infinity, canvas.top);
    const after = spanWeight(s, canvas.top + ih, Infinity);
    const row = wy.first[y] - canvas.top;
    for (let x = 0; x < outWidth; x++) {
      let sum = before * backgroundRow[x];
      for (let k = 0; k < wy.count[y]; k++) sum += wy.weight[wy.at[y] + k] * rows[(row + k) * outWidth + x];
      pixels[y * outWidth + x] = sum + after * backgroundRow[x];
    }
  }
  return { width: outWidth, height: outHeight, pixels };
}

/**
 * Resizes by area averaging (each output pixel is the mean of the input area it covers; exact
 * for whole-number reductions such as 84 → 28, and a soft nearest-neighbour when enlarging).
 */
export function resizeArea(image: GreyImage, width: number, height: number): GreyImage {
  checkImage(image, 'pixels', 1);
  expectInt(width, 'width', 1);
  expectInt(height, 'height', 1);
  return resizeCanvas(image, { width: image.width, height: image.height, left: 0, top: 0, background: 0 }, width, height);
}

/** A picture made into an MNIST-like digit by toMnistDigit. */
export interface DigitImage {
  /** [size, size] values in 0–255: light digit on a dark background, like MNIST. */
  pixels: Float32Array;
  /** Whether the colours were inverted (the picture had a light background). */
  inverted: boolean;
  /** The source's size. */
  width: number;
  height: number;
}

/**
 * A picture of a digit as MNIST draws it: grey-scale, inverted when the background (the border's
 * mean) is light, padded to a square with the background colour (keeping the aspect ratio), then
 * resized to size×size by area averaging.
 */
export function toMnistDigit(image: RgbaImage, size = 28): DigitImage {
  checkImage(image, 'rgba', 4);
  expectInt(size, 'size', 1);
  const grey = toGrey(image);
  const inverted = borderMean(grey) > 127.5;
  if (inverted) for (let i = 0; i < grey.pixels.length; i++) grey.pixels[i] = 255 - grey.pixels[i];
  const side = Math.max(grey.width, grey.height);
  const canvas = {
    width: side,
    height: side,
    left: Math.floor((side - grey.width) / 2),
    top: Math.floor((side - grey.height) / 2),
    background: grey.width === grey.height ? 0 : borderMean(grey),
  };
  const pixels = grey.width === size && grey.height === size ? grey.pixels : resizeCanvas(grey, canvas, size, size).pixels;
  return { pixels, inverted, width: image.width, height: image.height };
}
