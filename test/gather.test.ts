// gatherBatch (native/kernels/gather, cuda/gather.cu): the training loop's batch gather, against a
// plain JavaScript copy (exact: it moves values, computes none), with 1 and 2 CPU threads and on
// CUDA, for images with int32 labels and for tabular rows with float32 targets of any width (the
// kernels move 32-bit words, whatever their type); batches() and DeviceDataset on each device; and
// the checks.
import { afterEach, describe, expect, test } from 'vitest';
import { ImageDataset, TensorDataset } from '../lib/data/dataset';
import { batches, DeviceDataset } from '../lib/data/device_dataset';
import { native } from '../lib/native';
import { gatherBatch } from '../lib/ops/gather';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';

function randomDataset(g: Generator, count: number, sampleShape: [number, number, number]): ImageDataset {
  const size = sampleShape[0] * sampleShape[1] * sampleShape[2];
  return new ImageDataset(Float32Array.from({ length: count * size }, () => g.normal()), Int32Array.from({ length: count }, () => g.int(10)), sampleShape);
}

describe.each(DEVICES)('gatherBatch on %s', (device) => {
  const before = native().numThreads();
  afterEach(() => native().setNumThreads(before));

  test.each([
    [[1, 1, 5], 3, 5, 2],
    [[1, 28, 28], 64, 500, 100],
    [[3, 1, 1], 17, 1000, 0],
    [[2, 100, 100], 7, 9, 1],
  ] as [[number, number, number], number, number, number][])('samples of shape %j, %i picked from %i at offset %i, equal a JavaScript copy', (shape, count, rows, start) => {
    const g = new Generator(count + rows);
    const data = randomDataset(g, rows, shape);
    const size = data.sampleSize;
    const order = Int32Array.from({ length: start + count + 2 }, () => g.int(rows));
    const expectedX = new Float32Array(count * size);
    const expectedY = new Int32Array(count);
    for (let i = 0; i < count; i++) {
      const r = order[start + i];
      expectedX.set(data.images.subarray(r * size, (r + 1) * size), i * size);
      expectedY[i] = data.labels[r];
    }
    const images = Tensor.from(data.images, [rows, ...shape], { device });
    const labels = Tensor.from(data.labels, [rows], { device });
    const orderT = Tensor.from(order, [order.length], { device });
    for (const threads of device === 'cpu' ? [1, 2] : [1]) {
      native().setNumThreads(threads);
      const x = Tensor.from(new Float32Array(count * size).fill(7), [count, ...shape], { device });
      const y = Tensor.from(new Int32Array(count).fill(-7), [count], { device });
      gatherBatch(x, y, images, labels, orderT, start);
      expect(x.toArray()).toEqual(expectedX);
      expect(y.toArray()).toEqual(expectedY);
      x.dispose();
      y.dispose();
    }
    for (const t of [images, labels, orderT]) t.dispose();
  });

  test('float32 targets of any width (tabular regression) and int32 inputs gather as exactly as images and labels', () => {
    const g = new Generator(11);
    const rows = 50;
    const inputs = Tensor.from(Float32Array.from({ length: rows * 7 }, () => g.normal()), [rows, 7], { device });
    const targets = Tensor.from(Float32Array.from({ length: rows * 3 }, () => g.normal()), [rows, 3], { device });
    const ints = Tensor.from(Int32Array.from({ length: rows * 2 }, () => g.int(1000) - 500), [rows, 2], { device });
    const order = Int32Array.from({ length: 20 }, () => g.int(rows));
    const orderT = Tensor.from(order, [order.length], { device });
    const x = Tensor.zeros([20, 7], { device });
    const y = Tensor.zeros([20, 3], { device });
    gatherBatch(x, y, inputs, targets, orderT, 0);
    const xi = Tensor.zeros([20, 2], { device, dtype: 'int32' });
    const yf = Tensor.zeros([20, 3], { device });
    gatherBatch(xi, yf, ints, targets, orderT, 0);
    const [iv, tv, nv] = [inputs.toArray(), targets.toArray(), ints.toArray()];
    const pick = (values: ArrayLike<number>, width: number) => Array.from(order).flatMap((r) => Array.from({ length: width }, (_, k) => values[r * width + k]));
    expect(Array.from(x.toArray())).toEqual(pick(iv, 7));
    expect(Array.from(y.toArray())).toEqual(pick(tv, 3));
    expect(Array.from(xi.toArray())).toEqual(pick(nv, 2));
    expect(Array.from(yf.toArray())).toEqual(pick(tv, 3));
    for (const t of [inputs, targets, ints, orderT, x, y, xi, yf]) t.dispose();
  });

  test('a TensorDataset with float targets batches on the device exactly as it holds them', () => {
    const g = new Generator(4);
    const data = new TensorDataset(Tensor.from(Float32Array.from({ length: 40 * 5 }, () => g.normal()), [40, 5]), Tensor.from(Float32Array.from({ length: 40 }, () => g.normal()), [40, 1]));
    const onDevice = new DeviceDataset(data, device);
    let seen = 0;
    for (const batch of batches(onDevice, 16, { shuffle: true, generator: g })) {
      expect(batch.x.device).toBe(device);
      expect(batch.y.shape).toEqual([batch.size, 1]);
      const x = batch.x.toArray();
      const y = batch.y.toArray();
      batch.indices.forEach((j, i) => {
        expect(x.subarray(i * 5, i * 5 + 5)).toEqual(data.inputs.data.subarray(j * 5, j * 5 + 5));
        expect(y[i]).toBe(data.targets.data[j]);
      });
      seen += batch.size;
    }
    expect(seen).toBe(40);
    onDevice.dispose();
  });

  test('batches() gathers each batch exactly as the dataset holds it, with or without a DeviceDataset', () => {
    const g = new Generator(3);
    const data = randomDataset(g, 130, [1, 2, 2]);
    const onDevice = new DeviceDataset(data, device);
    for (const source of [data, onDevice]) {
      let seen = 0;
      for (const batch of batches(source, 32, { shuffle: true, generator: g, device })) {
        expect(batch.x.device).toBe(device);
        const x = batch.x.toArray();
        const y = batch.y.toArray();
        batch.indices.forEach((j, i) => {
          expect(x.subarray(i * 4, i * 4 + 4)).toEqual(data.images.subarray(j * 4, j * 4 + 4));
          expect(y[i]).toBe(data.labels[j]);
        });
        seen += batch.size;
      }
      expect(seen).toBe(130);
    }
    onDevice.dispose();
  });

  test('a DeviceDataset follows in-place changes once they are marked', () => {
    const data = new ImageDataset(Float32Array.of(1, 2, 3, 4), Int32Array.of(0, 1), [1, 1, 2]);
    const onDevice = new DeviceDataset(data, device);
    const first = () => {
      for (const b of batches(onDevice, 2)) return [...b.x.toArray(), ...b.y.toArray()];
    };
    expect(first()).toEqual([1, 2, 3, 4, 0, 1]);
    data.images[0] = 10;
    data.labels[1] = 5;
    data.markChanged();
    expect(first()).toEqual([10, 2, 3, 4, 0, 5]);
    onDevice.dispose();
  });

  test('bad input throws, naming the argument', () => {
    const images = Tensor.zeros([3, 1, 2, 2], { device });
    const labels = Tensor.zeros([3], { device, dtype: 'int32' });
    const x = Tensor.zeros([2, 1, 2, 2], { device });
    const y = Tensor.zeros([2], { device, dtype: 'int32' });
    const order = Tensor.from(Int32Array.of(0, 1, 2), [3], { device });
    expect(() => gatherBatch(x, y, images, labels, order, 2)).toThrow('Expected at least 4 indices in order (start 2, batch 2) but received 3');
    expect(() => gatherBatch(x, y, images, labels, order, -1)).toThrow('Expected an integer ≥ 0 for start but received -1');
    expect(() => gatherBatch(Tensor.zeros([2, 1, 2, 3], { device }), y, images, labels, order, 0)).toThrow('Expected shape [2, 1, 2, 2] for x but received [2, 1, 2, 3]');
    expect(() => gatherBatch(x, Tensor.zeros([2], { device }), images, labels, order, 0)).toThrow('Expected an int32 tensor for y but received a float32 tensor');
    expect(() => gatherBatch(x, y, images, Tensor.zeros([3], { device }), order, 0)).toThrow('Expected a float32 tensor for y but received an int32 tensor');
    expect(() => gatherBatch(x, y, images, Tensor.zeros([2], { device, dtype: 'int32' }), order, 0)).toThrow('Expected 3 rows (those of inputs) for targets but received shape [2]');
    expect(() => gatherBatch(x, y, images, Tensor.zeros([4], { device, dtype: 'int32' }), order, 0)).toThrow('Expected 3 rows (those of inputs) for targets but received shape [4]');
    if (device === 'cuda:0') {
      expect(() => gatherBatch(x, y, images, labels, Tensor.from(Int32Array.of(0, 1, 2)), 0)).toThrow('Expected a tensor on cuda:0 for order but received a tensor on cpu');
    }
    for (const t of [images, labels, x, y, order]) t.dispose();
  });
});

describe('gatherBatch indices', () => {
  test('on the CPU an index outside the images is a RangeError naming it', () => {
    const images = Tensor.zeros([3, 4]);
    const labels = Tensor.zeros([3], { dtype: 'int32' });
    const x = Tensor.zeros([2, 4]);
    const y = Tensor.zeros([2], { dtype: 'int32' });
    expect(() => gatherBatch(x, y, images, labels, Tensor.from(Int32Array.of(5, 0, 3)), 1)).toThrow('Expected row indices in [0, 3) for order but received 3 at index 2');
    expect(() => gatherBatch(x, y, images, labels, Tensor.from(Int32Array.of(-1, 0)), 0)).toThrow('Expected row indices in [0, 3) for order but received -1 at index 0');
  });

  test.runIf(DEVICES.includes('cuda:0'))('on CUDA an index outside the images gives a NaN image and the label -1 (a float target NaN), never a read out of bounds', () => {
    const device = 'cuda:0';
    const images = Tensor.from(Float32Array.of(1, 2, 3, 4, 5, 6), [3, 2], { device });
    const labels = Tensor.from(Int32Array.of(7, 8, 9), [3], { device });
    const x = Tensor.zeros([3, 2], { device });
    const y = Tensor.zeros([3], { device, dtype: 'int32' });
    gatherBatch(x, y, images, labels, Tensor.from(Int32Array.of(2, -1, 3), [3], { device }), 0);
    expect(Array.from(x.toArray())).toEqual([5, 6, NaN, NaN, NaN, NaN]);
    expect(Array.from(y.toArray())).toEqual([9, -1, -1]);
    const targets = Tensor.from(Float32Array.of(0.5, 1.5, 2.5), [3, 1], { device });
    const yf = Tensor.zeros([3, 1], { device });
    gatherBatch(x, yf, images, targets, Tensor.from(Int32Array.of(1, 7, 0), [3], { device }), 0);
    expect(Array.from(yf.toArray())).toEqual([1.5, NaN, 0.5]);
  });

  test('the native call checks buffer sizes', () => {
    const images = new Float32Array(12);
    const labels = new Int32Array(3);
    expect(() => native().gatherBatch(new Float32Array(7), new Int32Array(2), images, labels, Int32Array.of(0, 1), 0, 2, 4, 1)).toThrow(RangeError);
    expect(() => native().gatherBatch(new Float32Array(8), new Int32Array(2), images, labels, Int32Array.of(0, 1), 1, 2, 4, 1)).toThrow(RangeError);
    expect(() => native().gatherBatch(new Float32Array(8), new Int32Array(4), images, labels, Int32Array.of(0, 1), 0, 2, 4, 2)).toThrow('Expected a whole number of rows of 2 elements for targets but received 3 elements');
    expect(() => native().gatherBatch(new Float64Array(8) as never, new Int32Array(2), images, labels, Int32Array.of(0, 1), 0, 2, 4, 1)).toThrow('Expected a float32 or int32 tensor for x but received a Float64Array');
  });
});
