// Host-side augmentation (lib/data/augment.ts): random rotations and shifts of the training images,
// seeded by the run's generator. Checked against exact cases (identity, whole-pixel shifts, a
// quarter turn, sub-pixel bilinear weights), reproducibility from a seed, and argument errors.
import { describe, expect, test } from 'vitest';
import { epochAugmentation, randomAffine } from '../lib/data/augment';
import { ImageDataset } from '../lib/data/dataset';
import { Generator } from '../lib/random';

/** A generator whose uniform(low, high) returns the queued fractions of [low, high] in turn. */
class Scripted extends Generator {
  constructor(private readonly fractions: number[]) {
    super(0);
  }
  override uniform(low: number, high: number): number {
    const f = this.fractions.shift();
    if (f === undefined) throw new Error('no more scripted draws');
    return low + (high - low) * f;
  }
}

/** A dataset of `count` images [c, h, w] with pixel value base + index. */
function ramp(count: number, c: number, h: number, w: number): ImageDataset {
  const images = Float32Array.from({ length: count * c * h * w }, (_, i) => i + 1);
  return new ImageDataset(images, Int32Array.from({ length: count }, (_, i) => i % 10), [c, h, w]);
}

describe('randomAffine', () => {
  test('no rotation and no shift reproduce the images exactly; labels are copied', () => {
    const source = ramp(3, 2, 5, 4);
    const out = randomAffine(source, { rotation: 0, shift: 0, generator: new Generator(1) });
    expect(out).not.toBe(source);
    expect(out.images).toEqual(source.images);
    expect(out.labels).toEqual(source.labels);
  });

  test('a whole-pixel shift moves the image and brings in the fill value', () => {
    const source = ramp(1, 1, 3, 4);
    // angle 0 (fraction 0.5 of [−r, r]), x shift +1 (fraction 1 of [−1, 1]), y shift −1 (fraction 0)
    const out = randomAffine(source, { rotation: 10, shift: 1, fill: -5, generator: new Scripted([0.5, 1, 0]) });
    const s = (y: number, x: number) => source.images[y * 4 + x];
    // Output (y, x) samples the source at (y + 1, x − 1).
    const expected = [
      [-5, s(1, 0), s(1, 1), s(1, 2)],
      [-5, s(2, 0), s(2, 1), s(2, 2)],
      [-5, -5, -5, -5],
    ];
    expect(Array.from(out.images)).toEqual(expected.flat());
  });

  test('a quarter turn of a square image permutes its pixels', () => {
    const source = ramp(1, 1, 3, 3);
    // The largest rotation of 90° with fraction 1 turns by +90°: output (y, x) samples R(−90°)·(x − c, y − c) + c.
    const out = randomAffine(source, { rotation: 90, shift: 0, generator: new Scripted([1, 0.5, 0.5]) });
    const s = (y: number, x: number) => source.images[y * 3 + x];
    // sx = cos·dx + sin·dy + c = dy + c = y, sy = −sin·dx + cos·dy + c = −dx + c = 2 − x.
    const expected = [0, 1, 2].flatMap((y) => [0, 1, 2].map((x) => s(2 - x, y)));
    const actual = Array.from(out.images);
    actual.forEach((v, i) => expect(v).toBeCloseTo(expected[i], 4));
  });

  test('a half-pixel shift averages neighbours (bilinear)', () => {
    const source = new ImageDataset(Float32Array.from([0, 2, 4, 6]), Int32Array.from([0]), [1, 1, 4]);
    const out = randomAffine(source, { rotation: 0, shift: 1, fill: 0, generator: new Scripted([0.5, 0.75, 0.5]) });
    // x shift +0.5: output x samples the source at x − 0.5
    expect(Array.from(out.images)).toEqual([0, 1, 3, 5]);
  });

  test('every channel gets the same transform and its own fill', () => {
    const source = ramp(1, 2, 2, 2);
    const out = randomAffine(source, { rotation: 0, shift: 1, fill: [-1, -2], generator: new Scripted([0.5, 1, 0.5]) });
    expect(Array.from(out.images)).toEqual([-1, 1, -1, 3, -2, 5, -2, 7]);
  });

  test('the same seed gives the same images; draws stay within the limits', () => {
    const source = ramp(4, 1, 8, 8);
    const a = randomAffine(source, { generator: new Generator(7) });
    const b = randomAffine(source, { generator: new Generator(7) });
    const c = randomAffine(source, { generator: new Generator(8) });
    expect(a.images).toEqual(b.images);
    expect(a.images).not.toEqual(c.images);
    // Bilinear interpolation of values and the fill 0 never leaves [0, max].
    const max = Math.max(...source.images);
    expect(Math.min(...a.images)).toBeGreaterThanOrEqual(0);
    expect(Math.max(...a.images)).toBeLessThanOrEqual(max);
  });

  test('rejects bad arguments with messages naming them', () => {
    const source = ramp(2, 1, 3, 3);
    expect(() => randomAffine([] as never)).toThrow('Expected an ImageDataset for source but received []');
    expect(() => randomAffine(source, { rotation: 200 })).toThrow(new RangeError('Expected a number in [0, 180] for options.rotation but received 200'));
    expect(() => randomAffine(source, { shift: -1 })).toThrow('Expected a number in [0, Infinity] for options.shift but received -1');
    expect(() => randomAffine(source, { fill: [1, 2] })).toThrow('Expected a number or 1 numbers (one per channel) for options.fill but received [1, 2]');
    expect(() => randomAffine(source, {}, ramp(3, 1, 3, 3))).toThrow('Expected an ImageDataset of 2 samples of shape [1, 3, 3] for out but received a ImageDataset');
    expect(() => randomAffine(source, {}, source)).toThrow('Expected a dataset other than source for out but received a ImageDataset');
  });
});

describe('epochAugmentation', () => {
  test('redraws the images before every epoch from the untouched source', () => {
    const source = ramp(3, 1, 6, 6);
    const original = source.images.slice();
    const { data, callbacks } = epochAugmentation(source, { generator: new Generator(3) });
    expect(data.labels).toEqual(source.labels);
    callbacks.onEpochBegin!(0);
    const first = data.images.slice();
    callbacks.onEpochBegin!(1);
    expect(data.images).not.toEqual(first);
    expect(source.images).toEqual(original);
    const again = epochAugmentation(source, { generator: new Generator(3) });
    again.callbacks.onEpochBegin!(0);
    expect(again.data.images).toEqual(first);
  });
});
