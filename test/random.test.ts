// The seeded generator: reproducible streams, restorable state, unbiased integers, valid shuffles.
import { describe, expect, test } from 'vitest';
import { Generator } from '../lib/random';

describe('Generator', () => {
  test('the same seed gives the same stream; another seed another', () => {
    const a = new Generator(42);
    const b = new Generator(42);
    const c = new Generator(43);
    const sa = Array.from({ length: 100 }, () => a.nextUint32());
    expect(Array.from({ length: 100 }, () => b.nextUint32())).toEqual(sa);
    expect(Array.from({ length: 100 }, () => c.nextUint32())).not.toEqual(sa);
  });

  test('state save and restore continue the stream exactly (normals included)', () => {
    const g = new Generator(7);
    g.normal();
    const state = g.getState();
    const expected = [g.normal(), g.random(), g.int(10), g.normal()];
    const h = new Generator(0);
    h.setState(state);
    expect([h.normal(), h.random(), h.int(10), h.normal()]).toEqual(expected);
  });

  test('uniform, normal and int have the right distribution', () => {
    const g = new Generator(1);
    const n = 200_000;
    let sum = 0;
    let sumSq = 0;
    for (let i = 0; i < n; i++) {
      const z = g.normal();
      sum += z;
      sumSq += z * z;
    }
    expect(Math.abs(sum / n)).toBeLessThan(0.01);
    expect(Math.abs(sumSq / n - 1)).toBeLessThan(0.02);
    const counts = new Array(7).fill(0);
    for (let i = 0; i < 70_000; i++) counts[g.int(7)]++;
    for (const count of counts) expect(Math.abs(count - 10_000)).toBeLessThan(500);
    for (let i = 0; i < 1000; i++) {
      const u = g.uniform(-2, 3);
      expect(u).toBeGreaterThanOrEqual(-2);
      expect(u).toBeLessThan(3);
    }
  });

  test('permutation holds every index once', () => {
    const p = new Generator(3).permutation(1000);
    expect([...p].sort((x, y) => x - y)).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect([...p]).not.toEqual(Array.from({ length: 1000 }, (_, i) => i));
  });

  test('bad seeds are refused', () => {
    expect(() => new Generator(-1)).toThrow('Expected an integer in [0, 9007199254740991] for seed but received -1');
    expect(() => new Generator(1.5)).toThrow('Expected an integer for seed but received 1.5');
  });
});
