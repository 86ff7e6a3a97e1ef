// Max and average pooling against PyTorch (test/fixtures/pool2d.fixture, scripts/fixtures/pool2d.py).
// The fixture cases run through test/helpers/pool.ts, shared with pool1d.
//
// Tolerances (float32 result vs float64 reference; MAX_DX and AVG in test/helpers/pool.ts):
//   max-pool y and indices: exact. Max pooling only selects values, and the indices must equal
//     PyTorch's return_indices, ties, -inf and NaN windows included.
//   max-pool dx: atol 1e-6, rtol 1e-6, relNorm 5e-7. Non-overlapping windows route single dy values
//     (exact); overlapping ones add up to ⌈k/s⌉² ≤ 9 float32 values, a relative rounding of at most
//     8·2⁻²⁴ ≈ 4.8e-7 per element (atol covers cancellation). Measured: max 4.8e-7, rel L2 4.7e-8.
//   avg-pool y and dx: atol 1e-6, rtol 1e-6, relNorm 1e-6. A float32 sum of at most 16 terms and one
//     division: ≲ 16·2⁻²⁴ ≈ 1e-6 relative. Measured: max 1.4e-7, rel L2 6.4e-8.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, pool2dOutputShape } from '../lib/ops/pool2d';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';
import { caseNamed, loadFixtures } from './helpers/fixtures';
import { poolCaseTests, poolOutTest, type PoolOps } from './helpers/pool';
import { expectSameBitsAcrossThreads } from './helpers/threads';

const cases = loadFixtures('pool2d');
const ops = { outputShape: pool2dOutputShape, max: maxPool2d, maxBackward: maxPool2dBackward, avg: avgPool2d, avgBackward: avgPool2dBackward } satisfies PoolOps;

describe.each(DEVICES)('pool2d on %s', (device) => {
  poolCaseTests(cases, ops, device);
  poolOutTest(cases, ops, device, 'max/overlap_k3s1p1', 'avg/overlap_k3s1p1_exclude_pad');

  test('1 thread and the default thread count give bit-identical results', () => {
    const c = caseNamed(cases, 'max/seed_64x8x24x24_k2');
    const x = c.tensor('x', device);
    const dy = c.tensor('dy', device);
    expectSameBitsAcrossThreads(() => {
      const { y, indices } = maxPool2d(x, { kernelSize: 2 });
      const options = { kernelSize: 3, stride: 2, padding: 1 };
      const avg = avgPool2d(x, options);
      return [y, indices, maxPool2dBackward(dy, indices, x.shape), avg, avgPool2dBackward(avg, x.shape, options)];
    });
  });

  // The binding checks argmax indices on the CPU; on the GPU it cannot read them without waiting for
  // the device, so the CUDA kernel skips any outside the plane (cuda/pool2d.cu).
  test.runIf(device === 'cuda:0')('argmax indices outside the plane on the GPU are skipped, never written through', () => {
    const dy = Tensor.from(Float32Array.from({ length: 9 }, (_, i) => i + 1), [1, 1, 3, 3], { device });
    for (const bad of [36, -1, 2 ** 31 - 1, -(2 ** 31)]) {
      const indices = Int32Array.from([0, 2, 4, 12, 14, 16, 24, 26, 28]);
      indices[4] = bad;
      indices[5] = 14; // element 14 also receives output 5: the only two-way sum, with 4 skipped
      const dx = maxPool2dBackward(dy, Tensor.from(indices, [1, 1, 3, 3], { device, dtype: 'int32' }), [1, 1, 6, 6]);
      const expected = new Array(36).fill(0);
      for (let o = 0; o < 9; o++) if (o !== 4) expected[indices[o]] += o + 1;
      expect(Array.from(dx.toArray())).toEqual(expected);
    }
  });

  test('stride defaults to the kernel size; pairs and numbers are accepted', () => {
    expect(pool2dOutputShape([2, 3, 24, 24], { kernelSize: 2 })).toEqual([2, 3, 12, 12]);
    expect(pool2dOutputShape([2, 3, 7, 10], { kernelSize: [2, 3] })).toEqual([2, 3, 3, 3]);
    expect(pool2dOutputShape([1, 1, 5, 5], { kernelSize: 3, stride: 1, padding: 1 })).toEqual([1, 1, 5, 5]);
    expect(pool2dOutputShape([1, 1, 9, 7], { kernelSize: [3, 2], stride: [2, 1], padding: [1, 1] })).toEqual([1, 1, 5, 8]);
  });

  test('rejects bad inputs and options with messages naming the argument', () => {
    const x = Tensor.zeros([1, 2, 6, 6], { device });
    expect(() => maxPool2d([1, 2] as never, { kernelSize: 2 })).toThrow('Expected a Tensor for x but received [1, 2]');
    expect(() => maxPool2d(Tensor.zeros([2, 6, 6], { device }), { kernelSize: 2 })).toThrow('Expected a tensor of rank 4 for x but received shape [2, 6, 6]');
    expect(() => avgPool2d(x, undefined as never)).toThrow('Expected an options object for options but received undefined');
    expect(() => maxPool2d(x, { kernelSize: 0 })).toThrow('Expected an integer ≥ 1 for options.kernelSize but received 0');
    expect(() => maxPool2d(x, { kernelSize: [2, 2.5] as never })).toThrow('Expected an integer for options.kernelSize[1] but received 2.5');
    expect(() => avgPool2d(x, { kernelSize: 2, stride: 0 })).toThrow('Expected an integer ≥ 1 for options.stride but received 0');
    expect(() => avgPool2d(x, { kernelSize: 2, padding: -1 })).toThrow('Expected an integer ≥ 0 for options.padding but received -1');
    expect(() => maxPool2d(x, { kernelSize: 3, padding: 2 })).toThrow(
      new RangeError('Expected padding at most half the kernel size (1 for kernel 3) for options.padding but received 2'),
    );
    expect(() => maxPool2d(x, { kernelSize: [2, 4], padding: [1, 3] })).toThrow('Expected padding at most half the kernel size (2 for kernel 4) for options.padding but received [1, 3]');
    expect(() => maxPool2d(x, { kernelSize: 7 })).toThrow(new RangeError('Expected an input at least as large as the kernel [7, 7] (with padding [0, 0]) for x but received [1, 2, 6, 6]'));
    expect(() => avgPool2d(x, { kernelSize: 2, countIncludePad: 'yes' as never })).toThrow('Expected a boolean for options.countIncludePad but received "yes"');
    expect(() => pool2dOutputShape([2, 6, 6], { kernelSize: 2 })).toThrow('Expected a shape of rank 4 ([N, C, H, W]) for inputShape but received [2, 6, 6]');

    const { y, indices } = maxPool2d(x, { kernelSize: 2 });
    expect(() => maxPool2dBackward(y, y, x.shape)).toThrow('Expected an int32 tensor for indices but received a float32 tensor');
    expect(() => maxPool2dBackward(y, Tensor.zeros([1, 2, 3, 2], { device, dtype: 'int32' }), x.shape)).toThrow('Expected shape [1, 2, 3, 3] for indices but received [1, 2, 3, 2]');
    expect(() => maxPool2dBackward(y, indices, [1, 3, 6, 6])).toThrow('Expected a shape [1, 2, H ≥ 1, W ≥ 1] matching dy for inputShape but received [1, 3, 6, 6]');
    expect(() => maxPool2dBackward(y, indices, x.shape, Tensor.zeros([1, 2, 6, 5], { device }))).toThrow('Expected shape [1, 2, 6, 6] for out but received [1, 2, 6, 5]');
    expect(() => maxPool2d(x, { kernelSize: 2 }, { indices: Tensor.zeros([1, 2, 3, 3], { device }) })).toThrow('Expected an int32 tensor for out.indices but received a float32 tensor');
    expect(() => avgPool2dBackward(y, x.shape, { kernelSize: 3 })).toThrow('Expected shape [1, 2, 2, 2] for dy but received [1, 2, 3, 3]');
  });
});

describe('pool2d native checks', () => {
  const addon = native();

  test('a buffer too small for the sizes given is a RangeError naming it', () => {
    const x = new Float32Array(2 * 6 * 6);
    expect(() => addon.maxPool2dForward(new Float32Array(17), new Int32Array(18), x, 1, 2, 6, 6, 2, 2, 2, 2, 0, 0)).toThrow(
      new RangeError('Expected at least 18 elements for y but received 17'),
    );
    expect(() => addon.maxPool2dForward(new Float32Array(18), new Int32Array(18), x, 2, 2, 6, 6, 2, 2, 2, 2, 0, 0)).toThrow('Expected at least 36 elements for y but received 18');
    expect(() => addon.avgPool2dBackward(new Float32Array(71), new Float32Array(18), 1, 2, 6, 6, 2, 2, 2, 2, 0, 0, true)).toThrow(
      new RangeError('Expected at least 72 elements for dx but received 71'),
    );
    expect(() => addon.maxPool2dBackward(x, new Float32Array(18), new Int32Array(17), 1, 2, 6, 6, 3, 3)).toThrow('Expected at least 18 elements for indices but received 17');
  });

  test('bad geometry and out-of-plane indices are RangeErrors, never out-of-bounds writes', () => {
    const x = new Float32Array(36);
    expect(() => addon.avgPool2dForward(new Float32Array(9), x, 1, 1, 6, 6, 3, 3, 2, 2, 2, 2, true)).toThrow('Expected an integer in [0, 1] for ph but received 2');
    expect(() => addon.avgPool2dForward(new Float32Array(9), x, 1, 1, 6, 6, 7, 7, 1, 1, 0, 0, true)).toThrow(RangeError);
    const indices = new Int32Array(9);
    indices[4] = 36;
    expect(() => addon.maxPool2dBackward(x, new Float32Array(9), indices, 1, 1, 6, 6, 3, 3)).toThrow(
      new RangeError('Expected argmax indices in [0, 36) for indices but received 36 at element 4'),
    );
    indices[4] = -1;
    expect(() => addon.maxPool2dBackward(x, new Float32Array(9), indices, 1, 1, 6, 6, 3, 3)).toThrow('but received -1 at element 4');
  });
});
