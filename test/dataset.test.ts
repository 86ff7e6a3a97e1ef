// Datasets: validation split, standardisation fitted on training data, mini-batches.
import { describe, expect, test } from 'vitest';
import { ImageDataset, Standardizer } from '../lib/data/dataset';
import { batches } from '../lib/data/device_dataset';
import { Generator } from '../lib/random';

function toy(count: number): ImageDataset {
  const images = new Float32Array(count * 2 * 3 * 3).map((_, i) => (i * 37) % 101);
  const labels = new Int32Array(count).map((_, i) => i % 10);
  return new ImageDataset(images, labels, [2, 3, 3]);
}

describe('ImageDataset', () => {
  test('split is a seeded partition', () => {
    const d = toy(100);
    const [a, b] = d.split(0.1, new Generator(5));
    const [a2] = d.split(0.1, new Generator(5));
    expect(a.count).toBe(90);
    expect(b.count).toBe(10);
    expect(a.images).toEqual(a2.images);
    const seen = new Set<string>();
    for (const part of [a, b]) for (let i = 0; i < part.count; i++) seen.add(part.images.subarray(i * 18, i * 18 + 18).join(','));
    expect(seen.size).toBe(100);
  });

  test('standardisation gives mean 0 and std 1 per channel on the data it was fitted on', () => {
    const d = toy(50);
    const s = Standardizer.fit(d);
    s.apply(d);
    const again = Standardizer.fit(d);
    for (let c = 0; c < 2; c++) {
      expect(Math.abs(again.mean[c])).toBeLessThan(1e-5);
      expect(Math.abs(again.std[c] - 1)).toBeLessThan(1e-5);
    }
  });

  test('batches cover every sample once, the last one partial, shuffled by seed', () => {
    const d = toy(23);
    const seen: number[] = [];
    const sizes: number[] = [];
    for (const b of batches(d, 5, { shuffle: true, generator: new Generator(1) })) {
      sizes.push(b.size);
      expect(b.x.shape).toEqual([b.size, 2, 3, 3]);
      seen.push(...b.indices);
      for (let i = 0; i < b.size; i++) expect(b.y.data[i]).toBe(d.labels[b.indices[i]]);
    }
    expect(sizes).toEqual([5, 5, 5, 5, 3]);
    expect([...seen].sort((p, q) => p - q)).toEqual(Array.from({ length: 23 }, (_, i) => i));
    expect(seen).not.toEqual(Array.from({ length: 23 }, (_, i) => i));
  });

  test('bad input is refused with the argument named', () => {
    expect(() => new ImageDataset(new Float32Array(10), new Int32Array(1), [1, 3, 3])).toThrow('Expected 1 images of shape [1, 3, 3] (9 values) for images but received 10 values');
    expect(() => new ImageDataset(new Float32Array(9), new Int32Array([10]), [1, 3, 3])).toThrow('Expected labels in [0, 9] for labels but received 10 at index 0');
    expect(() => [...batches(toy(3), 0)]).toThrow('Expected an integer ≥ 1 for batchSize but received 0');
    expect(() => toy(3).split(1.5)).toThrow('for validationFraction but received 1.5');
    expect(() => new Standardizer([0], [0])).toThrow('Expected a positive std for channel 0 but received 0');
  });
});
