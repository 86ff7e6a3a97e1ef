/**
 * PNG images for `napinet predict`: decoding (pngjs: every colour type and bit depth, palettes,
 * interlacing), grey-scale conversion and the MNIST look — white digit on black, 28×28.
 *
 * decodePng refuses what it cannot read with an Error naming the source and the reason, and checks
 * the header's size before decoding, so a corrupt or hostile file can neither crash the process nor
 * make it allocate gigabytes. Test: test/png.test.ts (including truncated and random inputs).
 */
import * as fs from 'node:fs';
import { PNG } from 'pngjs';

export interface RgbaImage {
  width: number;
  height: number;
  /** [height, width, 4] bytes, row-major. */
  rgba: Uint8Array;
}

export interface GreyImage {
  width: number;
  height: number;
  /** [height, width] values in 0–255, row-major. */
  pixels: Float32Array;
}

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
/** Larger images are refused before decoding (64 Mi pixels: 256 MiB of RGBA). */
export const MAX_PNG_PIXELS = 1 << 26;

/** Decodes PNG bytes to 8-bit RGBA. `source` names the origin in errors. */
export function decodePng(bytes: Uint8Array, source = 'PNG data'): RgbaImage {
  if (bytes.length < 33) throw new Error(`${source}: truncated PNG (${bytes.length} bytes; the signature and header alone need 33)`);
  if (!SIGNATURE.every((b, i) => bytes[i] === b)) throw new Error(`${source}: not a PNG file (no PNG signature)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const chunkType = String.fromCharCode(...bytes.subarray(12, 16));
  if (view.getUint32(8) !== 13 || chunkType !== 'IHDR') throw new Error(`${source}: corrupt PNG (the first chunk is not a 13-byte IHDR)`);
  const width = view.getUint32(16);
  const height = view.getUint32(20);
  if (width === 0 || height === 0) throw new Error(`${source}: corrupt PNG (size ${width}×${height})`);
  if (width * height > MAX_PNG_PIXELS) throw new Error(`${source}: image of ${width}×${height} pixels is larger than napinet decodes (${MAX_PNG_PIXELS} pixels)`);
  let png: PNG;
  try {
    png = PNG.sync.read(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
  } catch (error) {
    throw new Error(`${source}: corrupt or truncated PNG (${error instanceof Error ? error.message : String(error)})`);
  }
  if (png.width !== width || png.height !== height || png.data.length !== width * height * 4) {
    throw new Error(`${source}: corrupt PNG (decoded ${png.data.length} bytes for ${width}×${height} pixels)`);
  }
  return { width, height, rgba: new Uint8Array(png.data.buffer, png.data.byteOffset, png.data.length) };
}

export function readPng(file: string): RgbaImage {
  let bytes: Uint8Array;
  try {
    bytes = fs.readFileSync(file);
  } catch (error) {
    throw new Error(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`);
  }
  return decodePng(bytes, file);
}

/** Encodes 8-bit grey pixels [height, width] as a PNG (grey-scale colour type). */
export function encodeGreyPng(pixels: ArrayLike<number>, width: number, height: number): Uint8Array {
  const png = new PNG({ width, height, colorType: 0, inputColorType: 0, bitDepth: 8, inputHasAlpha: false });
  const data = Buffer.alloc(width * height);
  for (let i = 0; i < data.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(pixels[i])));
  png.data = data;
  const bytes = PNG.sync.write(png, { colorType: 0, inputColorType: 0, inputHasAlpha: false });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

/**
 * Luminance (ITU-R BT.601: 0.299 R + 0.587 G + 0.114 B) of each pixel, composited over white
 * where it is transparent (a digit drawn on a transparent canvas reads as ink on paper).
 */
export function toGrey(image: RgbaImage): GreyImage {
  const { width, height, rgba } = image;
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

/** For each output index, the input indices it covers and their weights (area averaging). */
function areaWeights(inSize: number, outSize: number): { index: number; weight: number }[][] {
  const scale = inSize / outSize;
  const out: { index: number; weight: number }[][] = [];
  for (let o = 0; o < outSize; o++) {
    const from = o * scale;
    const to = (o + 1) * scale;
    const taps: { index: number; weight: number }[] = [];
    for (let i = Math.floor(from); i < Math.min(inSize, Math.ceil(to)); i++) {
      const overlap = Math.min(to, i + 1) - Math.max(from, i);
      if (overlap > 0) taps.push({ index: i, weight: overlap / scale });
    }
    out.push(taps);
  }
  return out;
}

/**
 * Resizes by area averaging (each output pixel is the mean of the input area it covers; exact
 * for whole-number reductions such as 84 → 28, and a soft nearest-neighbour when enlarging).
 */
export function resizeArea(image: GreyImage, width: number, height: number): GreyImage {
  const wx = areaWeights(image.width, width);
  const wy = areaWeights(image.height, height);
  const rows = new Float32Array(image.height * width); // horizontal pass
  for (let y = 0; y < image.height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (const t of wx[x]) s += t.weight * image.pixels[y * image.width + t.index];
      rows[y * width + x] = s;
    }
  }
  const pixels = new Float32Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let s = 0;
      for (const t of wy[y]) s += t.weight * rows[t.index * width + x];
      pixels[y * width + x] = s;
    }
  }
  return { width, height, pixels };
}

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
  const grey = toGrey(image);
  const inverted = borderMean(grey) > 127.5;
  if (inverted) for (let i = 0; i < grey.pixels.length; i++) grey.pixels[i] = 255 - grey.pixels[i];
  let square = grey;
  if (grey.width !== grey.height) {
    const side = Math.max(grey.width, grey.height);
    const background = borderMean(grey);
    const pixels = new Float32Array(side * side).fill(background);
    const left = Math.floor((side - grey.width) / 2);
    const top = Math.floor((side - grey.height) / 2);
    for (let y = 0; y < grey.height; y++) pixels.set(grey.pixels.subarray(y * grey.width, (y + 1) * grey.width), (top + y) * side + left);
    square = { width: side, height: side, pixels };
  }
  const resized = square.width === size ? square : resizeArea(square, size, size);
  return { pixels: resized.pixels, inverted, width: image.width, height: image.height };
}
