// The ternary convolution (native/kernels/ternary_conv2d, lib/ops/ternary_conv2d.ts): weights of
// −1, 0, +1 convolved by additions and subtractions only, checked against
//   1. PyTorch's conv2d with the same weight as floats (test/fixtures/ternary_conv2d.fixture,
//      scripts/fixtures/ternary_conv2d.py), and
//   2. napinet's own conv2d (itself checked against PyTorch) with that weight as floats.
//
// Tolerances. Every output is a float32 sum of at most L = C·kh·kw terms ±x (no products, so no
// product rounding); its rounding error grows like √L·2⁻²⁴ relative to the size of the partial
// sums, which scale with the output's RMS: atol 1e-5·rms(y), rtol 1e-5, relNorm 1e-5 (as conv2d's
// y). On integer-valued inputs (pixels 0–255, |sums| < 2^24) every partial sum is exact in float32,
// so the ternary kernel and conv2d must agree bit for bit.
// Measured over all fixtures: relative L2 error against PyTorch ≤ 1.7e-7 (worst: 'channels 16 to
// 2', max |diff| 4.8e-6); against conv2d's im2col ≤ 1.3e-7; against conv2d's direct algorithm the
// results happen to be identical bit for bit on every case (both add the taps in (c, i, j) order
// from the bias, and ±1·x is exact), which this test does not rely on.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { conv2d } from '../lib/ops/conv2d';
import { ternaryConv2d } from '../lib/ops/ternary_conv2d';
import { Tensor } from '../lib/tensor';
import { expectIdentical } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { caseNamed, type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { CONV } from './helpers/tolerance';

const CASES = loadFixtures('ternary_conv2d');
const named = (name: string) => caseNamed(CASES, `ternary_conv2d/${name}`);
/** conv2d's y tolerance: atol 1e-5·rms(y), rtol 1e-5, relNorm 1e-5. */
const Y = { y: CONV.y };

function inputs(c: FixtureCase) {
  return {
    x: c.tensor('x'),
    weight: c.tensor('weight'),
    bias: c.params.bias ? c.tensor('bias') : null,
    options: { stride: c.params.stride as [number, number], padding: c.params.padding as [number, number] },
  };
}

/** The ternary codes as a float32 weight for the ordinary convolution. */
const asFloat = (weight: Tensor) => Tensor.from(Float32Array.from(weight.data), weight.shape);

describe('ternaryConv2d on cpu', () => {
  describe('against PyTorch conv2d with the same weight', () => {
    for (const c of CASES) {
      test(c.name, () => {
        const { x, weight, bias, options } = inputs(c);
        checkOp(c, { y: ternaryConv2d(x, weight, bias, options) }, Y);
      });
    }
  });

  describe("equal to napinet's conv2d with the weight as floats", () => {
    for (const c of CASES) {
      test(c.name, () => {
        const { x, weight, bias, options } = inputs(c);
        const y = ternaryConv2d(x, weight, bias, options);
        for (const algorithm of ['direct', 'im2col'] as const) {
          const ordinary = conv2d(x, asFloat(weight), bias, { ...options, algorithm });
          checkOp(c, { y }, Y, { label: `vs conv2d ${algorithm}`, references: { y: { shape: ordinary.shape, data: ordinary.toArray() } } });
        }
      });
    }

    test('bit for bit on integer-valued pixels (every partial sum is exact)', () => {
      const { x, weight, options } = inputs(named('integer pixels'));
      const ternary = ternaryConv2d(x, weight, null, options).toArray();
      for (const algorithm of ['direct', 'im2col'] as const) {
        expectIdentical(ternary, conv2d(x, asFloat(weight), null, { ...options, algorithm }).toArray(), `integer pixels [${algorithm}]`);
      }
      expectIdentical(ternary, Float32Array.from(named('integer pixels').f64('y')), 'integer pixels vs PyTorch');
    });
  });

  test('writes into a given output tensor and overwrites what was there', () => {
    const c = named('seed layer');
    const { x, weight, bias, options } = inputs(c);
    const out = Tensor.from(new Float32Array(4 * 8 * 24 * 24).fill(Number.NaN), [4, 8, 24, 24]);
    expect(ternaryConv2d(x, weight, bias, options, out)).toBe(out);
    checkOp(c, { y: out }, Y, { label: 'into out' });
  });

  test('an empty batch gives an empty output', () => {
    const y = ternaryConv2d(Tensor.zeros([0, 1, 28, 28]), Tensor.zeros([8, 1, 5, 5], { dtype: 'int32' }), null);
    expect(y.shape).toEqual([0, 8, 24, 24]);
  });

  describe('thread count', () => {
    test.each(['seed layer', 'channels 16 to 2', 'stride 2 padding 1'])('1 and 2 threads give bit-identical results: %s', (name) => {
      const { x, weight, bias, options } = inputs(named(name));
      expectSameBitsAcrossThreads(() => [ternaryConv2d(x, weight, bias, options)], `${name}: `, 2);
    });
  });

  describe('bad input', () => {
    const x = Tensor.zeros([2, 1, 8, 8]);
    const w = Tensor.zeros([3, 1, 3, 3], { dtype: 'int32' });

    test('non-tensors, wrong rank and wrong dtype name the argument', () => {
      expect(() => ternaryConv2d([1] as never, w, null)).toThrow(new TypeError('Expected a Tensor for x but received [1]'));
      expect(() => ternaryConv2d(Tensor.zeros([8, 8]), w, null)).toThrow(new RangeError('Expected a tensor of rank 4 for x but received shape [8, 8]'));
      expect(() => ternaryConv2d(x, Tensor.zeros([3, 1, 3, 3]), null)).toThrow(new TypeError('Expected an int32 tensor for weight but received a float32 tensor'));
      expect(() => ternaryConv2d(x, w, Tensor.zeros([4]))).toThrow(new RangeError('Expected shape [3] for bias but received [4]'));
    });

    test('a value other than -1, 0, +1 is refused with its index', () => {
      const bad = Tensor.from(Int32Array.from([0, 1, -1, 0, 2, 0, 0, 0, 0]), [1, 1, 3, 3]);
      expect(() => ternaryConv2d(x, bad, null)).toThrow(new RangeError('Expected values -1, 0 or +1 for weight but received 2 at index 4'));
    });

    test('shapes that do not fit and bad options', () => {
      expect(() => ternaryConv2d(x, Tensor.zeros([3, 2, 3, 3], { dtype: 'int32' }), null)).toThrow(
        new RangeError('Expected weight.shape[1] = 1 (the channels of x) for weight but received shape [3, 2, 3, 3]'),
      );
      expect(() => ternaryConv2d(x, Tensor.zeros([3, 1, 9, 3], { dtype: 'int32' }), null)).toThrow(
        new RangeError('Expected a kernel no larger than the padded input (8×8) for weight but received a 9×3 kernel'),
      );
      expect(() => ternaryConv2d(x, w, null, { stride: 0 })).toThrow(new RangeError('Expected an integer ≥ 1 for options.stride but received 0'));
      expect(() => ternaryConv2d(x, w, null, 'same' as never)).toThrow(new TypeError('Expected an options object for options but received "same"'));
      expect(() => ternaryConv2d(x, w, null, {}, Tensor.zeros([2, 3, 5, 5]))).toThrow(new RangeError('Expected shape [2, 3, 6, 6] for out but received [2, 3, 5, 5]'));
    });
  });
});

describe.skipIf(!DEVICES.includes('cuda:0'))('ternaryConv2d on cuda', () => {
  test('has no CUDA kernel yet and says so', () => {
    const x = Tensor.zeros([1, 1, 6, 6], { device: 'cuda' });
    const w = Tensor.zeros([2, 1, 3, 3], { device: 'cuda', dtype: 'int32' });
    expect(() => ternaryConv2d(x, w, null)).toThrow('ternaryConv2d has no CUDA kernel in this build yet');
  });
});

describe('native ternaryConv2dForward checks', () => {
  const addon = native();
  const args = (y: Float32Array, x: Float32Array, w: Int32Array) => [y, x, w, null, 1, 1, 6, 6, 2, 3, 3, 1, 1, 0, 0] as const;

  test('a buffer too small for the sizes is a RangeError naming it', () => {
    const call = (y: Float32Array, x: Float32Array, w: Int32Array) => () => (addon.ternaryConv2dForward as (...a: unknown[]) => void)(...args(y, x, w));
    expect(call(new Float32Array(31), new Float32Array(36), new Int32Array(18))).toThrow(new RangeError('Expected at least 32 elements for y but received 31'));
    expect(call(new Float32Array(32), new Float32Array(35), new Int32Array(18))).toThrow(new RangeError('Expected at least 36 elements for x but received 35'));
    expect(call(new Float32Array(32), new Float32Array(36), new Int32Array(17))).toThrow(new RangeError('Expected at least 18 elements for w but received 17'));
  });

  test('weight type and values are checked', () => {
    const y = new Float32Array(32);
    const x = new Float32Array(36);
    expect(() => addon.ternaryConv2dForward(y, x, new Float32Array(18) as never, null, 1, 1, 6, 6, 2, 3, 3, 1, 1, 0, 0)).toThrow(
      new TypeError('Expected an Int32Array for w but received a Float32Array'),
    );
    const w = new Int32Array(18);
    w[7] = -2;
    expect(() => addon.ternaryConv2dForward(y, x, w, null, 1, 1, 6, 6, 2, 3, 3, 1, 1, 0, 0)).toThrow(
      new RangeError('Expected values -1, 0 or +1 for w but received -2 at index 7'),
    );
    expect(() => addon.ternaryConv2dForward(y, x, new Int32Array(18), null, 1, 1, 6, 6, 2, 7, 3, 1, 1, 0, 0)).toThrow(
      new RangeError('Expected kh ≤ H + 2·ph = 6 for kh but received 7'),
    );
  });
});
