// PNG digits (lib/io/png.ts): decoding every colour type pngjs writes, grey-scale conversion,
// inversion of light backgrounds, padding to a square and area resizing to 28×28; and the decoder
// under truncated, corrupted and random input (an Error naming the source, never a crash, no huge
// allocation from a forged header).
import { PNG } from 'pngjs';
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { borderMean, decodePng, encodeGreyPng, resizeArea, toGrey, toMnistDigit } from '../lib/io/png';

const mnist = loadMnist();
const digit = (i: number) => mnist.test.images.subarray(i * 784, (i + 1) * 784);

/** An RGBA PNG of grey pixels `grey` [h, w], written with colour type `colorType` (pngjs). */
function png(grey: ArrayLike<number>, w: number, h: number, colorType: 0 | 2 | 4 | 6, alpha?: (i: number) => number): Uint8Array {
  const image = new PNG({ width: w, height: h });
  for (let i = 0; i < w * h; i++) {
    image.data[4 * i] = image.data[4 * i + 1] = image.data[4 * i + 2] = grey[i];
    image.data[4 * i + 3] = alpha ? alpha(i) : 255;
  }
  const bytes = PNG.sync.write(image, { colorType });
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length);
}

function upscale(pixels: ArrayLike<number>, side: number, factor: number): Uint8Array {
  const out = new Uint8Array(side * factor * side * factor);
  for (let y = 0; y < side * factor; y++) for (let x = 0; x < side * factor; x++) out[y * side * factor + x] = pixels[Math.floor(y / factor) * side + Math.floor(x / factor)];
  return out;
}

describe('PNG decoding and MNIST-style digits', () => {
  test('grey, RGB, grey+alpha and RGBA files decode to the same pixels', () => {
    const d = digit(0);
    for (const type of [0, 2, 4, 6] as const) {
      const img = decodePng(png(d, 28, 28, type));
      expect([img.width, img.height]).toEqual([28, 28]);
      expect([...toGrey(img).pixels].map(Math.round)).toEqual([...d]);
    }
    expect([...decodePng(encodeGreyPng(d, 28, 28)).rgba.filter((_, i) => i % 4 === 0)]).toEqual([...d]);
  });

  test('a 28×28 MNIST digit is unchanged; a dark-on-light one is inverted back; 3× larger is resized exactly', () => {
    const d = digit(1);
    const plain = toMnistDigit(decodePng(encodeGreyPng(d, 28, 28)));
    expect(plain.inverted).toBe(false);
    expect([...plain.pixels]).toEqual([...d]);
    const inverted = toMnistDigit(decodePng(encodeGreyPng(Array.from(d, (v) => 255 - v), 28, 28)));
    expect(inverted.inverted).toBe(true);
    expect([...inverted.pixels]).toEqual([...d]);
    const big = toMnistDigit(decodePng(encodeGreyPng(upscale(d, 28, 3), 84, 84)));
    expect([...big.pixels].map((v) => Math.round(v))).toEqual([...d]);
  });

  test('transparent background reads as paper: black ink on transparent is inverted to MNIST', () => {
    const d = digit(2);
    // Ink: black with alpha = the digit's intensity; elsewhere fully transparent.
    const img = decodePng(png(new Uint8Array(784), 28, 28, 6, (i) => d[i]));
    const out = toMnistDigit(img);
    expect(out.inverted).toBe(true);
    expect(Math.max(...[...out.pixels].map((v, i) => Math.abs(v - d[i])))).toBeLessThan(1e-3);
  });

  test('a wide picture is padded to a square with its background, keeping the aspect ratio', () => {
    const w = 56;
    const h = 28;
    const wide = new Uint8Array(w * h).fill(10);
    for (let y = 0; y < 28; y++) for (let x = 0; x < 28; x++) wide[y * w + 14 + x] = Math.max(10, digit(3)[y * 28 + x]);
    const out = toMnistDigit(decodePng(encodeGreyPng(wide, w, h)));
    expect(out.pixels.length).toBe(784);
    // Top and bottom quarters are padding (background 10 after area averaging of 2×2 blocks).
    expect(out.pixels.subarray(0, 28 * 6).every((v) => Math.abs(v - 10) < 1e-4)).toBe(true);
    expect(borderMean({ width: 28, height: 28, pixels: out.pixels })).toBeLessThan(20);
  });

  // Tolerance 1e-3 on 0–255 values: the padding's share is summed as one term, the square's
  // resize sums it pixel by pixel (float32 spacing at 255 is 1.5e-5).
  test('padding is computed, not built: the pixels of resizing the padded square itself', () => {
    let seed = 7;
    const rand = () => ((seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0) >>> 24);
    for (const [w, h, size] of [[56, 28, 28], [20, 28, 28], [28, 20, 28], [13, 90, 28], [300, 7, 28], [5, 3, 10]]) {
      const pixels = Uint8Array.from({ length: w * h }, rand);
      const grey = toGrey(decodePng(encodeGreyPng(pixels, w, h)));
      const inverted = borderMean(grey) > 127.5;
      if (inverted) grey.pixels.forEach((v, i) => (grey.pixels[i] = 255 - v));
      const side = Math.max(w, h);
      const square = new Float32Array(side * side).fill(borderMean(grey));
      const [left, top] = [Math.floor((side - w) / 2), Math.floor((side - h) / 2)];
      for (let y = 0; y < h; y++) square.set(grey.pixels.subarray(y * w, (y + 1) * w), (top + y) * side + left);
      const expected = side === size ? square : resizeArea({ width: side, height: side, pixels: square }, size, size).pixels;
      const got = toMnistDigit(decodePng(encodeGreyPng(pixels, w, h)), size);
      expect(got.inverted).toBe(inverted);
      expect(got.pixels.length).toBe(size * size);
      const worst = Math.max(...got.pixels.map((v, i) => Math.abs(v - expected[i])));
      expect(worst, `${w}×${h} → ${size}`).toBeLessThan(1e-3);
    }
  });

  test('area resize keeps the mean and averages exact blocks', () => {
    const src = { width: 4, height: 2, pixels: Float32Array.from([0, 4, 8, 12, 4, 8, 12, 16]) };
    expect([...resizeArea(src, 2, 1).pixels]).toEqual([4, 12]);
    const up = resizeArea({ width: 3, height: 3, pixels: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9]) }, 7, 7);
    expect(up.pixels.reduce((a, b) => a + b, 0) / 49).toBeCloseTo(5, 5);
  });
});

describe('PNG reader under bad input', () => {
  const good = png(digit(4), 28, 28, 2);

  test('named refusals', () => {
    expect(() => decodePng(good.subarray(0, 20), 'a.png')).toThrow('a.png: truncated PNG (20 bytes; the signature and header alone need 33)');
    expect(() => decodePng(new Uint8Array(40), 'a.png')).toThrow('a.png: not a PNG file (no PNG signature)');
    const huge = good.slice();
    new DataView(huge.buffer).setUint32(16, 100000);
    new DataView(huge.buffer).setUint32(20, 100000);
    expect(() => decodePng(huge, 'a.png')).toThrow('a.png: a 100000×100000 image would need 177 GiB, more than the input budget of 1 GiB (NAPINET_INPUT_BUDGET)');
    expect(() => decodePng(good.subarray(0, good.length - 20), 'a.png')).toThrow(/^a.png: truncated PNG: /);
  });

  test('every truncation and 3,000 random corruptions: decoded or an Error, never a crash', () => {
    let errors = 0;
    const attempt = (bytes: Uint8Array) => {
      try {
        const img = decodePng(bytes, 'fuzz.png');
        expect(img.rgba.length).toBe(img.width * img.height * 4);
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/^fuzz.png: /);
        errors++;
      }
    };
    for (let cut = 0; cut < good.length; cut++) attempt(good.subarray(0, cut));
    let seed = 2024;
    const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    for (let trial = 0; trial < 3000; trial++) {
      const bytes = good.slice();
      const flips = 1 + (rand() % 6);
      // Half the trials spare the signature and header so the decoder's inside is reached.
      const from = trial % 2 ? 33 : 0;
      for (let k = 0; k < flips; k++) bytes[from + (rand() % (bytes.length - from))] = rand() & 0xff;
      attempt(bytes);
    }
    for (let trial = 0; trial < 500; trial++) {
      const bytes = new Uint8Array(rand() % 200).map(() => rand() & 0xff);
      if (trial % 2 && bytes.length > 8) bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
      attempt(bytes);
    }
    expect(errors).toBeGreaterThan(3000);
  });
});
