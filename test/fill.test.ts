// fill (torch.Tensor.fill_) for float32 and int32 tensors. No fixture: the result is the value itself.
// Tolerance: exact (atol 0, rtol 0): every element is the value rounded to float32 once.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { fill, fillMany } from '../lib/ops/fill';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';

describe.each(DEVICES)('fill on %s', (device) => {
  test('sets every element of a float32 tensor, in place', () => {
    const size = 200_003; // several parallel chunks and a ragged tail
    const t = Tensor.from(Float32Array.from({ length: size }, (_, i) => i), [size], { device });
    expect(fill(t, 0)).toBe(t);
    expect(t.toArray().every((v) => Object.is(v, 0))).toBe(true);
    for (const value of [1.5, -2, 0.1, Number.NaN, -Infinity, -0]) {
      fill(t, value);
      const expected = Math.fround(value);
      expect(t.toArray().every((v) => Object.is(v, expected))).toBe(true);
    }
  });

  test('sets every element of an int32 tensor', () => {
    const t = Tensor.from(new Int32Array([5, 6, 7, 8, 9, 10]), [2, 3], { device });
    fill(t, -3);
    expect(Array.from(t.toArray())).toEqual([-3, -3, -3, -3, -3, -3]);
    fill(t, 2 ** 31 - 1);
    expect(Array.from(t.toArray())).toEqual(new Array(6).fill(2 ** 31 - 1));
  });

  test('an empty tensor is left as it is', () => {
    const t = Tensor.zeros([0, 4], { device });
    expect(fill(t, 1).size).toBe(0);
  });

  test('fillMany sets every element of each tensor (20 tensors: two GPU launches; empty ones skipped)', () => {
    const tensors = Array.from({ length: 20 }, (_, i) => Tensor.from(Float32Array.from({ length: i === 3 ? 0 : 1 + i * 301 }, (_, k) => k + 1), [i === 3 ? 0 : 1 + i * 301], { device }));
    fillMany(tensors, 0);
    for (const t of tensors) expect(t.toArray().every((v) => Object.is(v, 0))).toBe(true);
    fillMany(tensors, -2.5);
    for (const t of tensors) expect(t.toArray().every((v) => v === -2.5)).toBe(true);
    fillMany([], 1);
    expect(() => fillMany([tensors[0], 5 as never], 0)).toThrow('Expected a Tensor for tensors[1] but received 5');
    expect(() => fillMany(tensors, '0' as never)).toThrow(new TypeError('Expected a number for value but received "0"'));
    if (device === 'cuda:0') expect(() => fillMany([tensors[0], Tensor.zeros([2])], 0)).toThrow('Expected a tensor on cuda:0 for tensors[1] but received a tensor on cpu');
  });

  test('rejects bad arguments with messages naming them', () => {
    expect(() => fill([1, 2] as never, 0)).toThrow('Expected a Tensor for t but received [1, 2]');
    const t = Tensor.zeros([3], { device });
    expect(() => fill(t, '1' as never)).toThrow(new TypeError('Expected a number for value but received "1"'));
    const i = Tensor.zeros([3], { device, dtype: 'int32' });
    expect(() => fill(i, 1.5)).toThrow(new TypeError('Expected an integer for value but received 1.5'));
    expect(() => fill(i, 2 ** 31)).toThrow(new RangeError('Expected an integer in [-2147483648, 2147483647] for value but received 2147483648'));
  });
});

describe('fill native checks', () => {
  const addon = native();

  test('a buffer too small for n is a RangeError naming it', () => {
    expect(() => addon.fill(new Float32Array(3), 1, 4)).toThrow(new RangeError('Expected at least 4 elements for x but received 3'));
    expect(() => addon.fillInt32(new Int32Array(3), 1, 4)).toThrow(new RangeError('Expected at least 4 elements for x but received 3'));
  });

  test('types and the int32 range are checked', () => {
    expect(() => addon.fillInt32(new Float32Array(3) as never, 1, 3)).toThrow(new TypeError('Expected an Int32Array for x but received a Float32Array'));
    expect(() => addon.fill(new Int32Array(3) as never, 1, 3)).toThrow(new TypeError('Expected a Float32Array for x but received an Int32Array'));
    expect(() => addon.fillInt32(new Int32Array(3), 2 ** 31, 3)).toThrow(RangeError);
    const sub = new Float32Array([1, 2, 3, 4, 5]);
    addon.fill(sub.subarray(1, 4), 9, 3);
    expect(Array.from(sub)).toEqual([1, 9, 9, 9, 5]);
  });
});
