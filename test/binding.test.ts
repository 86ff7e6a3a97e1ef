// The Node-API boundary itself: bad arguments reach native code only through lib/native.ts, and
// every one of them must become a JavaScript error that names the argument — never an abort.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';

describe('native argument checks', () => {
  const addon = native();
  const y = new Float32Array(4);
  const x = new Float32Array(4);

  test('a non-Float32Array tensor is a TypeError naming the argument', () => {
    expect(() => addon.reluForward(y, [1, 2, 3, 4] as never, 4)).toThrow(new TypeError('Expected a Float32Array for x but received an Array'));
    expect(() => addon.reluForward(y, new Float64Array(4) as never, 4)).toThrow('Expected a Float32Array for x but received a Float64Array');
    expect(() => addon.reluForward(undefined as never, x, 4)).toThrow('Expected a Float32Array for y but received undefined');
  });

  test('a buffer too small for the sizes given is a RangeError', () => {
    expect(() => addon.reluForward(y, x, 5)).toThrow(new RangeError('Expected at least 5 elements for y but received 4'));
    expect(() => addon.reluBackward(y, x, new Float32Array(2), 4)).toThrow('Expected at least 4 elements for y but received 2');
  });

  test('sizes must be non-negative integers', () => {
    expect(() => addon.reluForward(y, x, -1)).toThrow(RangeError);
    expect(() => addon.reluForward(y, x, 1.5)).toThrow('Expected an integer for n but received the number 1.5');
    expect(() => addon.reluForward(y, x, '4' as never)).toThrow('Expected an integer for n but received a string');
  });

  test('subarray views are used in place, at their offset', () => {
    const base = new Float32Array([-1, -2, 3, -4, 5]);
    const out = new Float32Array(5);
    addon.reluForward(out.subarray(1), base.subarray(1), 4);
    expect(Array.from(out)).toEqual([0, 0, 3, 0, 5]);
  });

  test('thread count can be set and read back', () => {
    const before = addon.numThreads();
    addon.setNumThreads(1);
    expect(addon.numThreads()).toBe(1);
    addon.setNumThreads(before);
    expect(addon.numThreads()).toBe(before);
    expect(() => addon.setNumThreads(0)).toThrow(RangeError);
  });
});
