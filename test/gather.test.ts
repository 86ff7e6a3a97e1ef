// gatherRows (native/kernels/gather): the batch gather of the training loop, against a plain
// JavaScript copy (exact: it moves values, computes none), with 1 and 2 threads, and its checks.
import { afterEach, describe, expect, test } from 'vitest';
import { batches, ImageDataset } from '../lib/data/dataset';
import { native } from '../lib/native';
import { gatherRows } from '../lib/ops/gather';
import { Generator } from '../lib/random';

describe('gatherRows', () => {
  const before = native().numThreads();
  afterEach(() => native().setNumThreads(before));

  test.each([
    [1, 5, 3],
    [784, 64, 500],
    [3, 1000, 17],
    [20000, 7, 9],
  ])('rows of %i floats, %i picked from %i, equal a JavaScript copy', (rowLength, count, srcRows) => {
    const g = new Generator(rowLength);
    const src = Float32Array.from({ length: rowLength * srcRows }, () => g.normal());
    const rows = Int32Array.from({ length: count }, () => g.int(srcRows));
    const expected = new Float32Array(count * rowLength);
    rows.forEach((r, i) => expected.set(src.subarray(r * rowLength, (r + 1) * rowLength), i * rowLength));
    for (const threads of [1, 2]) {
      native().setNumThreads(threads);
      const dst = new Float32Array(count * rowLength + 3).fill(7);
      expect(gatherRows(dst, src, rows, rowLength)).toBe(dst);
      expect(dst.subarray(0, count * rowLength)).toEqual(expected);
      expect(Array.from(dst.subarray(count * rowLength))).toEqual([7, 7, 7]);
    }
  });

  test('batches() gathers each batch exactly as the dataset holds it', () => {
    const g = new Generator(3);
    const data = new ImageDataset(Float32Array.from({ length: 130 * 4 }, () => g.normal()), Int32Array.from({ length: 130 }, () => g.int(10)), [1, 2, 2]);
    let seen = 0;
    for (const batch of batches(data, 32, { shuffle: true, generator: g })) {
      const x = batch.x.toArray();
      const y = batch.y.toArray();
      batch.indices.forEach((j, i) => {
        expect(x.subarray(i * 4, i * 4 + 4)).toEqual(data.images.subarray(j * 4, j * 4 + 4));
        expect(y[i]).toBe(data.labels[j]);
      });
      seen += batch.size;
    }
    expect(seen).toBe(130);
  });

  test('bad input throws, naming the argument', () => {
    const src = new Float32Array(12);
    expect(() => gatherRows(new Float32Array(8), src, Int32Array.of(0, 3), 4)).toThrow('Expected row indices in [0, 3) for rows but received 3 at index 1');
    expect(() => gatherRows(new Float32Array(4), src, Int32Array.of(0, 1), 4)).toThrow('Expected at least 8 elements for dst but received 4');
    expect(() => gatherRows([] as unknown as Float32Array, src, Int32Array.of(0), 4)).toThrow('Expected a Float32Array for dst but received');
    expect(() => gatherRows(new Float32Array(4), src, [0] as unknown as Int32Array, 4)).toThrow('Expected an Int32Array for rows but received');
    expect(() => gatherRows(new Float32Array(4), src, Int32Array.of(0), 0)).toThrow('Expected an integer ≥ 1 for rowLength but received 0');
  });

  test('the native call checks buffer sizes and indices', () => {
    const src = new Float32Array(12);
    expect(() => native().gatherRows(new Float32Array(7), src, Int32Array.of(0, 1), 4)).toThrow(RangeError);
    expect(() => native().gatherRows(new Float32Array(8), src, Int32Array.of(0, -1), 4)).toThrow('Expected row indices in [0, 3) for rows but received -1 at index 1');
  });
});
