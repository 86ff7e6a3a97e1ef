// torch.matmul semantics against PyTorch (test/fixtures/batch_matmul.fixture, made by
// scripts/fixtures/batch_matmul.py): vectors on either side, batches, broadcast batch dimensions,
// transposed operands, K = 0, the GPU's tiled sizes and many small products; on 'cpu' and, with a
// GPU or the emulator build, 'cuda'. Then the gemmBatched binding's checks and bad input.
//
// Tolerance: helpers/tolerance.ts sumTolerance(K) — each element is a float32 sum of K products,
// which loses about √K·2⁻²⁴ relative to the result's typical size (the existing GEMM's own
// tolerance, test/gemm.test.ts); K = 0 is exact. The accumulate case adds one more rounding
// (rtol 4·2⁻²⁴ covers it).
import { afterEach, describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { batchMatmul } from '../lib/ops/batch_matmul';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';
import { sumTolerance } from './helpers/tolerance';

const cases = loadFixtures('batch_matmul');

describe.each(DEVICES)('batchMatmul on %s', (device) => {
  const live: Tensor[] = [];
  afterEach(() => {
    for (const t of live.splice(0)) t.dispose();
  });
  const load = (c: (typeof cases)[number], name: string) => {
    const t = Tensor.from(c.f32(name), c.get(name).shape, { device });
    live.push(t);
    return t;
  };

  for (const c of cases) {
    test(c.name, () => {
      const a = load(c, 'a');
      const b = load(c, 'b');
      const { transA, transB, k, accumulate, outShape } = c.params;
      let y: Tensor;
      if (accumulate !== undefined) {
        const out = Tensor.from(new Float32Array(outShape.reduce((x: number, s: number) => x * s, 1)).fill(accumulate), outShape, { device });
        y = batchMatmul(a, b, { out, accumulate: true });
        expect(y).toBe(out);
      } else {
        y = batchMatmul(a, b, { transA, transB });
      }
      live.push(y);
      expect(y.shape).toEqual(outShape);
      expectClose(y.toArray(), c.f64('y'), sumTolerance(k, c.f64('y')), `${device} ${c.name}`);
    });
  }

  test('rejects bad input with messages naming the arguments', () => {
    const a = Tensor.zeros([2, 3, 4], { device });
    live.push(a);
    expect(() => batchMatmul(a, Tensor.zeros([5, 2], { device }))).toThrow(
      new RangeError('Expected shapes that can be multiplied (K of a 4 equal to K of b) for a and b but received [2, 3, 4] and [5, 2]'),
    );
    expect(() => batchMatmul(a, Tensor.zeros([3, 4, 2], { device }))).toThrow(
      new RangeError('Expected batch dimensions that broadcast together for a and b but received [2, 3, 4] and [3, 4, 2]'),
    );
    expect(() => batchMatmul(Tensor.zeros([], { device }), a)).toThrow('Expected a tensor of rank ≥ 1 for a but received shape []');
    expect(() => batchMatmul(Tensor.zeros([4], { device }), a, { transA: true })).toThrow('for a but received shape [4]');
    expect(() => batchMatmul(a, Tensor.zeros([4, 2], { device }), { out: Tensor.zeros([2, 3, 3], { device }) })).toThrow(
      'Expected shape [2, 3, 2] for options.out but received [2, 3, 3]',
    );
    expect(() => batchMatmul(a, Tensor.zeros([4, 2], { device }), { accumulate: true })).toThrow('Expected options.out to accumulate into');
    expect(() => batchMatmul(a, a, { out: a })).toThrow();
  });
});

describe.each(DEVICES.filter((d) => d !== 'cpu'))('batchMatmul across devices (%s)', (device) => {
  test('operands on different devices are refused, naming both', () => {
    const a = Tensor.zeros([2, 2], { device });
    expect(() => batchMatmul(a, Tensor.zeros([2, 2]))).toThrow(`Expected a tensor on ${device} (the device of a) for b but received a tensor on cpu`);
    a.dispose();
  });
});

describe('gemmBatched native checks', () => {
  const addon = native();
  test('buffers, strides and overlaps are checked', () => {
    const c = new Float32Array(2 * 6);
    const a = new Float32Array(2 * 6);
    const b = new Float32Array(9);
    addon.gemmBatched(c, a, b, 2, 2, 3, 3, false, false, 6, 0, 6, 1, 0);
    expect(() => addon.gemmBatched(c, a, b, 2, 2, 3, 3, false, false, 6, 0, 5, 1, 0)).toThrow(
      'Expected strideC ≥ m·n = 6 (outputs must not overlap) for strideC but received 5',
    );
    expect(() => addon.gemmBatched(c, a, b, 2, 2, 3, 3, false, false, 7, 0, 6, 1, 0)).toThrow('Expected at least 13 elements for a but received 12');
    expect(() => addon.gemmBatched(c, a, b, 2, 2, 3, 3, false, false, 6, 9, 6, 1, 0)).toThrow('Expected at least 18 elements for b but received 9');
    expect(() => addon.gemmBatched(c, c, b, 2, 2, 3, 3, false, false, 6, 0, 6, 1, 0)).toThrow('Expected c not to overlap a for c but received overlapping buffers');
    expect(() => addon.gemmBatched(c, a, b, 2 ** 40, 2, 3, 3, false, false, 2 ** 20, 0, 2 ** 20, 1, 0)).toThrow('Expected a batch spanning at most 2^52 elements');
  });
});
