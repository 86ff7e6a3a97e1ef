/**
 * Drawing for the pictures: @napi-rs/canvas (Skia, prebuilt per platform, PNG encoding and text)
 * and Chart.js drawn on it. Both are optional dependencies, loaded on first use, so napinet trains
 * without them; a picture asked for without them fails with what to install.
 *
 * Also: the font (DejaVu Sans or another system sans-serif), colour maps, and planes of numbers
 * drawn as images (nearest-neighbour, crisp pixels, optionally Gaussian-blurred).
 */
import type { Canvas, Image, SKRSContext2D } from '@napi-rs/canvas';

type CanvasModule = typeof import('@napi-rs/canvas');
type ChartModule = typeof import('chart.js');

let canvasModule: CanvasModule | undefined;
let chartModule: ChartModule | undefined;
let fontFamily: string | undefined;

function missing(name: string, error: unknown): Error {
  return new Error(
    `napinet: drawing pictures needs the optional dependency ${name}, which could not be loaded ` +
      `(${(error as Error).message.split('\n')[0]}). Install it with: npm install ${name}`,
  );
}

/** @napi-rs/canvas, loaded on first use. */
export function canvasLib(): CanvasModule {
  if (!canvasModule) {
    try {
      canvasModule = require('@napi-rs/canvas') as CanvasModule;
    } catch (error) {
      throw missing('@napi-rs/canvas', error);
    }
  }
  return canvasModule;
}

/** Chart.js with every chart type registered, its defaults set for these pictures. */
export function chartLib(): ChartModule {
  if (!chartModule) {
    try {
      chartModule = require('chart.js/auto') as ChartModule;
    } catch (error) {
      throw missing('chart.js', error);
    }
    const defaults = chartModule.Chart.defaults;
    defaults.font.family = font();
    defaults.font.size = 14;
    defaults.color = '#222';
    defaults.animation = false;
    defaults.responsive = false;
    defaults.devicePixelRatio = 1;
  }
  return chartModule;
}

/** Families tried in order; the first one the system has is used for every label. */
const PREFERRED_FONTS = ['DejaVu Sans', 'Liberation Sans', 'Noto Sans', 'Arial', 'Helvetica'];

/**
 * The font family for labels. Skia finds the system's fonts (on Debian: apt-get install
 * fonts-dejavu-core); without any font no text could be drawn, so that is an error, not a blank.
 */
export function font(): string {
  if (fontFamily) return fontFamily;
  const { GlobalFonts } = canvasLib();
  const families = GlobalFonts.families.map((f) => f.family);
  const chosen = PREFERRED_FONTS.find((f) => families.includes(f)) ?? families.find((f) => /sans/i.test(f) && !/mono/i.test(f)) ?? families[0];
  if (!chosen) {
    throw new Error('napinet: no font found for the pictures\' labels. Install one, e.g. on Debian/Ubuntu: apt-get install fonts-dejavu-core');
  }
  fontFamily = chosen;
  return chosen;
}

/** A CSS font string: css(14) → '14px "DejaVu Sans"', css(14, 'bold') → 'bold 14px …'. */
export function css(size: number, weight: 'normal' | 'bold' = 'normal'): string {
  return `${weight === 'bold' ? 'bold ' : ''}${size}px "${font()}"`;
}

/** A white canvas of the given size and its 2-D context. */
export function whiteCanvas(width: number, height: number): { canvas: Canvas; ctx: SKRSContext2D } {
  const canvas = canvasLib().createCanvas(Math.ceil(width), Math.ceil(height));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  return { canvas, ctx };
}

export function png(canvas: Canvas): Uint8Array {
  return canvas.toBuffer('image/png');
}

/** Decodes a PNG (tests check the pictures with it). */
export function decodePng(bytes: Uint8Array): Promise<Image> {
  return canvasLib().loadImage(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

// ---- colour maps: t in [0, 1] → [r, g, b] 0–255 -------------------------------------------------

export type RGB = [number, number, number];
export type ColorMap = (t: number) => RGB;

const clamp01 = (t: number) => (t < 0 ? 0 : t > 1 ? 1 : Number.isNaN(t) ? 0 : t);

function hex(c: string): RGB {
  const n = Number.parseInt(c.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

/** Piecewise-linear colour map through evenly spaced stops. */
export function ramp(...stops: string[]): ColorMap {
  const rgb = stops.map(hex);
  return (t) => {
    const x = clamp01(t) * (rgb.length - 1);
    const i = Math.min(Math.floor(x), rgb.length - 2);
    const f = x - i;
    const a = rgb[i];
    const b = rgb[i + 1];
    return [a[0] + (b[0] - a[0]) * f, a[1] + (b[1] - a[1]) * f, a[2] + (b[2] - a[2]) * f];
  };
}

export const COLORMAPS = {
  /** 0 black → 1 white (kernels, as the chapter shows them). */
  grey: ramp('#000000', '#ffffff'),
  /** 0 white → 1 black: digits as ink on paper (the chapter's reversed grey), activations. */
  greyReversed: ramp('#ffffff', '#000000'),
  /** 0 blue → 0.5 white → 1 red (ColorBrewer RdBu): signed values such as convolution outputs. */
  diverging: ramp('#2166ac', '#92c5de', '#f7f7f7', '#f4a582', '#b2182b'),
  /** Correct predictions (confusion-matrix diagonal): light to dark green. */
  greens: ramp('#e5f5e0', '#74c476', '#006d2c'),
  /** Errors (off-diagonal): light orange to red. */
  oranges: ramp('#fee8c8', '#fc8d59', '#b30000'),
} satisfies Record<string, ColorMap>;

export function cssColor([r, g, b]: RGB): string {
  return `rgb(${Math.round(r)}, ${Math.round(g)}, ${Math.round(b)})`;
}

/** Black or white, whichever reads better on `background`. */
export function textOn([r, g, b]: RGB): string {
  return 0.299 * r + 0.587 * g + 0.114 * b < 140 ? '#ffffff' : '#111111';
}

// ---- planes of numbers as pictures ---------------------------------------------------------------

export interface PlaneStyle {
  colormap: ColorMap;
  /** Values mapped to 0 and 1 of the colour map (default: the plane's own min and max). */
  range?: [number, number];
  /** Gaussian blur of this many source pixels (σ), applied after upscaling; 0 = crisp. */
  blur?: number;
}

/** min and max of values (0, 1 for an empty or constant array, so mapping stays defined). */
export function extent(values: ArrayLike<number>): [number, number] {
  let lo = Infinity;
  let hi = -Infinity;
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (v < lo) lo = v;
    if (v > hi) hi = v;
  }
  if (!(hi > lo)) return [Number.isFinite(lo) ? lo : 0, (Number.isFinite(lo) ? lo : 0) + 1];
  return [lo, hi];
}

/** Symmetric range around 0: [−m, m] with m = max |v|. */
export function symmetricExtent(values: ArrayLike<number>): [number, number] {
  let m = 0;
  for (let i = 0; i < values.length; i++) m = Math.max(m, Math.abs(values[i]));
  return m > 0 ? [-m, m] : [-1, 1];
}

/** Separable Gaussian blur of a (h, w) plane with standard deviation sigma (edges clamped). */
export function gaussianBlur(values: Float64Array, h: number, w: number, sigma: number): Float64Array {
  if (!(sigma > 0)) return values;
  const radius = Math.ceil(3 * sigma);
  const weights = Array.from({ length: 2 * radius + 1 }, (_, i) => Math.exp(-((i - radius) ** 2) / (2 * sigma * sigma)));
  const total = weights.reduce((a, b) => a + b, 0);
  const kernel = weights.map((v) => v / total);
  const pass = (src: Float64Array, horizontal: boolean) => {
    const dst = new Float64Array(src.length);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        let s = 0;
        for (let k = -radius; k <= radius; k++) {
          const yy = horizontal ? y : Math.min(h - 1, Math.max(0, y + k));
          const xx = horizontal ? Math.min(w - 1, Math.max(0, x + k)) : x;
          s += kernel[k + radius] * src[yy * w + xx];
        }
        dst[y * w + x] = s;
      }
    }
    return dst;
  };
  return pass(pass(values, true), false);
}

/**
 * Draws the (h, w) plane `values` at (x, y), each value a scale×scale block of its colour.
 * With style.blur the upscaled picture is Gaussian-blurred (σ = blur·scale screen pixels).
 */
export function drawPlane(ctx: SKRSContext2D, values: ArrayLike<number>, h: number, w: number, x: number, y: number, scale: number, style: PlaneStyle): void {
  const [lo, hi] = style.range ?? extent(values);
  const span = hi - lo || 1;
  const width = w * scale;
  const height = h * scale;
  let t: Float64Array = new Float64Array(width * height);
  for (let py = 0; py < height; py++) {
    const row = Math.floor(py / scale) * w;
    for (let px = 0; px < width; px++) t[py * width + px] = (values[row + Math.floor(px / scale)] - lo) / span;
  }
  if (style.blur) t = gaussianBlur(t, height, width, style.blur * scale);
  const image = ctx.createImageData(width, height);
  for (let i = 0; i < t.length; i++) {
    const [r, g, b] = style.colormap(t[i]);
    image.data[4 * i] = r;
    image.data[4 * i + 1] = g;
    image.data[4 * i + 2] = b;
    image.data[4 * i + 3] = 255;
  }
  ctx.putImageData(image, Math.round(x), Math.round(y));
}

/** A thin frame around a drawn plane (so white-on-white edges stay visible). */
export function frame(ctx: SKRSContext2D, x: number, y: number, width: number, height: number, color = '#999999'): void {
  ctx.save();
  ctx.strokeStyle = color;
  ctx.lineWidth = 1;
  ctx.strokeRect(Math.round(x) - 0.5, Math.round(y) - 0.5, width + 1, height + 1);
  ctx.restore();
}

/** Text anchored at (x, y). */
export function text(
  ctx: SKRSContext2D,
  value: string,
  x: number,
  y: number,
  options: { size?: number; weight?: 'normal' | 'bold'; align?: 'left' | 'right' | 'center'; baseline?: 'alphabetic' | 'top' | 'middle' | 'bottom'; color?: string; rotate?: number } = {},
): void {
  ctx.save();
  ctx.font = css(options.size ?? 14, options.weight ?? 'normal');
  ctx.fillStyle = options.color ?? '#222222';
  ctx.textAlign = options.align ?? 'left';
  ctx.textBaseline = options.baseline ?? 'alphabetic';
  ctx.translate(x, y);
  if (options.rotate) ctx.rotate(options.rotate);
  ctx.fillText(value, 0, 0);
  ctx.restore();
}

/**
 * A horizontal colour bar of `width`×`height` at (x, y) with tick labels under its ends (and
 * middle, when given): the legend of a colour map.
 */
export function colorBar(
  ctx: SKRSContext2D,
  colormap: ColorMap,
  x: number,
  y: number,
  width: number,
  height: number,
  labels: { low: string; high: string; middle?: string; title?: string },
): void {
  for (let i = 0; i < width; i++) {
    ctx.fillStyle = cssColor(colormap(i / Math.max(1, width - 1)));
    ctx.fillRect(x + i, y, 1, height);
  }
  frame(ctx, x, y, width, height, '#777777');
  if (labels.title) text(ctx, labels.title, x + width / 2, y - 6, { size: 13, align: 'center' });
  text(ctx, labels.low, x, y + height + 15, { size: 12, align: 'left' });
  text(ctx, labels.high, x + width, y + height + 15, { size: 12, align: 'right' });
  if (labels.middle) text(ctx, labels.middle, x + width / 2, y + height + 15, { size: 12, align: 'center' });
}
