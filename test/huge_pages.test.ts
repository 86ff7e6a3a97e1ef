// Transparent huge pages for large host arrays (native/binding/addon.cc adviseHugePages, called by
// lib/memory.ts for new arrays of 4 MiB and more): the advice changes no value and reaches only
// whole 2 MiB pages inside the array.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { Tensor } from '../lib';

describe('adviseHugePages', () => {
  test('gives no advice for an array without a whole 2 MiB page', () => {
    expect(native().adviseHugePages(new Float32Array(1024))).toBe(false);
  });

  test('a large array keeps its zeros and takes writes after the advice', () => {
    const array = new Float32Array(3 << 20); // 12 MiB
    const advised = native().adviseHugePages(array);
    expect(typeof advised).toBe('boolean');
    if (process.platform === 'linux') expect(advised).toBe(true);
    expect(array.every((v) => v === 0)).toBe(true);
    for (let i = 0; i < array.length; i += 4099) array[i] = i;
    for (let i = 0; i < array.length; i += 4099) expect(array[i]).toBe(i);
  });

  test('a large tensor (advised by the memory pool) holds its values', () => {
    const t = Tensor.full([1 << 21], 1.5); // 8 MiB
    expect((t.data as Float32Array).every((v) => v === 1.5)).toBe(true);
    t.dispose();
  });

  test('names the argument when it is no typed array', () => {
    expect(() => native().adviseHugePages(0.5 as unknown as Float32Array)).toThrow(/Expected a typed array for array but received/);
  });
});
