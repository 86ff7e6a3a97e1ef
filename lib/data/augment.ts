/**
 * Data augmentation on the host: each training image rotated by a small random angle about its
 * centre and shifted by a random sub-pixel offset (bilinear resampling), the usual augmentation for
 * MNIST. Every draw comes from the run's seeded generator, so a seed reproduces the augmented data.
 *
 *   const { data, callbacks } = epochAugmentation(train, { rotation: 10, shift: 2, fill, generator });
 *   await fit(model, data, { ..., callbacks: [callbacks] });   // new draws before every epoch
 */
import { defaultGenerator, type Generator } from '../random';
import type { Callbacks } from '../fit_types';
import { expectNumber, fail } from '../validate';
import { ImageDataset } from './dataset';

/** Options of randomAffine() and epochAugmentation(): how far images may turn and shift, and what fills the pixels that come from outside. */
export interface RandomAffineOptions {
  /** Largest rotation in degrees: each image turns by U(−rotation, rotation). Default 10. */
  rotation?: number;
  /** Largest shift in pixels per axis: U(−shift, shift), sub-pixel. Default 2. */
  shift?: number;
  /**
   * Value of pixels that come from outside the image: one number, or one per channel. Default 0;
   * for standardised images pass the standardised value of a blank pixel, (0 − mean) / std.
   */
  fill?: number | readonly number[];
  generator?: Generator;
}

function settings(options: RandomAffineOptions, channels: number) {
  if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
  const rotation = expectNumber(options.rotation ?? 10, 'options.rotation', 0, 180);
  const shift = expectNumber(options.shift ?? 2, 'options.shift', 0);
  const fillOption = options.fill ?? 0;
  const fill = typeof fillOption === 'number' ? new Array<number>(channels).fill(fillOption) : [...fillOption];
  if (fill.length !== channels || fill.some((v) => typeof v !== 'number' || Number.isNaN(v))) {
    fail(`a number or ${channels} numbers (one per channel)`, 'options.fill', fillOption, RangeError);
  }
  return { rotation, shift, fill, generator: options.generator ?? defaultGenerator };
}

/**
 * Writes into `out` (same count and sample shape as `source`, labels copied) every image of
 * `source` rotated by U(−rotation, rotation) degrees about its centre and shifted by
 * U(−shift, shift) pixels along each axis; the three draws per image come from the generator in
 * the order angle, x shift, y shift. Output pixel (y, x) samples the source bilinearly at
 * R(−θ)·((x, y) − centre − t) + centre. Returns out (a new dataset when omitted).
 */
export function randomAffine(source: ImageDataset, options: RandomAffineOptions = {}, out?: ImageDataset): ImageDataset {
  if (!(source instanceof ImageDataset)) fail('an ImageDataset', 'source', source);
  const [c, h, w] = source.sampleShape;
  const s = settings(options, c);
  const target = out ?? new ImageDataset(new Float32Array(source.images.length), source.labels.slice(), source.sampleShape, source.numClasses);
  if (!(target instanceof ImageDataset) || target.count !== source.count || target.sampleShape.some((d, i) => d !== source.sampleShape[i])) {
    fail(`an ImageDataset of ${source.count} samples of shape [${source.sampleShape.join(', ')}]`, 'out', out);
  }
  if (target !== source) target.labels.set(source.labels);
  const plane = h * w;
  const cy = (h - 1) / 2;
  const cx = (w - 1) / 2;
  const src = source.images;
  const dst = target.images;
  if (src === dst) fail('a dataset other than source', 'out', out);
  const maxAngle = (s.rotation * Math.PI) / 180;
  for (let n = 0; n < source.count; n++) {
    const angle = s.generator.uniform(-maxAngle, maxAngle);
    const tx = s.generator.uniform(-s.shift, s.shift);
    const ty = s.generator.uniform(-s.shift, s.shift);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (let ch = 0; ch < c; ch++) {
      const base = (n * c + ch) * plane;
      const fill = s.fill[ch];
      const at = (yi: number, xi: number) => (yi >= 0 && yi < h && xi >= 0 && xi < w ? src[base + yi * w + xi] : fill);
      for (let y = 0; y < h; y++) {
        const dy = y - cy - ty;
        for (let x = 0; x < w; x++) {
          const dx = x - cx - tx;
          const sx = cos * dx + sin * dy + cx;
          const sy = -sin * dx + cos * dy + cy;
          const x0 = Math.floor(sx);
          const y0 = Math.floor(sy);
          const fx = sx - x0;
          const fy = sy - y0;
          dst[base + y * w + x] =
            (1 - fy) * ((1 - fx) * at(y0, x0) + fx * at(y0, x0 + 1)) + fy * ((1 - fx) * at(y0 + 1, x0) + fx * at(y0 + 1, x0 + 1));
        }
      }
    }
  }
  target.markChanged();
  return target;
}

/**
 * A copy of `source` re-augmented (randomAffine from the untouched source) at the start of every
 * epoch: pass `data` to fit() and `callbacks` among its callbacks.
 */
export function epochAugmentation(source: ImageDataset, options: RandomAffineOptions = {}): { data: ImageDataset; callbacks: Callbacks } {
  const data = new ImageDataset(new Float32Array(source.images.length), source.labels.slice(), source.sampleShape, source.numClasses);
  settings(options, source.sampleShape[0]);
  return {
    data,
    callbacks: {
      onEpochBegin: () => {
        randomAffine(source, options, data);
      },
    },
  };
}
