// conv2d against PyTorch (test/fixtures/conv2d.fixture, scripts/fixtures/conv2d.py), on both
// algorithms ('direct', 'im2col') and 'auto'; the case checks are shared with conv1d
// (test/helpers/conv.ts).
//
// Tolerances (CONV in test/helpers/tolerance.ts; float32 results vs float64 references):
// |out − ref| ≤ atol + rtol·|ref| elementwise, and ‖out − ref‖₂/‖ref‖₂ ≤ relNorm. Every output is a float32 sum of L products; its rounding
// error grows with the size of the terms and with L (~√L·2⁻²⁴ relative to the typical output),
// not with the size of each single result, so atol is stated relative to the output's RMS:
//   y   L = C·kh·kw (≤ 576 here):          atol 1e-5·rms(y),  rtol 1e-5, relNorm 1e-5
//   dx  L = K·kh·kw (≤ 576 here):          atol 1e-5·rms(dx), rtol 1e-5, relNorm 1e-5
//   dw  L = N·OH·OW (36 864 for the seed): atol 2e-5·rms(dw), rtol 1e-5, relNorm 1e-5
//   db  L = N·OH·OW, like dw:              atol 2e-5·rms(db), rtol 1e-5, relNorm 1e-5
// Measured worst cases over all fixtures and both algorithms, max |out − ref|/rms(ref): y 2.3e-6
// (64→1 channels), dx 1.5e-6 (1→64), dw 2.9e-6 (the seed layer, im2col), db 4e-7; relative L2
// errors ≤ 9e-7. CUDA (cuda/conv2d.cu, measured on the emulator, whose fmaf and summation order
// are the GPU's): y 1.6e-6 (kernel 7), dx 1.5e-6 (1→64), dw 1.1e-6 (kernel 40×40), db 5.7e-7.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { conv2d, conv2dBackward, conv2dOutputShape, type Conv2dOptions } from '../lib/ops/conv2d';
import { Tensor } from '../lib/tensor';
import { type Algorithm, ALGORITHMS, convCaseTests, convInputs, convOptions } from './helpers/conv';
import { DEVICES } from './helpers/devices';
import { caseNamed, type FixtureCase, loadFixtures } from './helpers/fixtures';
import { expectSameBitsAcrossThreads } from './helpers/threads';

const CASES = loadFixtures('conv2d');

describe.each(DEVICES)('conv2d on %s', (device) => {
  const inputs = (c: FixtureCase) => convInputs(c, device);
  const optionsOf = (c: FixtureCase, algorithm?: Algorithm) => convOptions(c, algorithm) as Conv2dOptions;

  convCaseTests(CASES, { outputShape: conv2dOutputShape, forward: conv2d, backward: conv2dBackward }, device);

  describe.each(['direct', 'im2col'] as const)('gradient options, algorithm %s', (algorithm) => {
    const c = caseNamed(CASES, 'conv2d/stride 2 padding 1');
    const options = optionsOf(c, algorithm);

    test('accumulate adds into out.dw and out.db (like .grad) and overwrites out.dx', () => {
      const { x, weight, dy } = inputs(c);
      const fresh = conv2dBackward(dy, x, weight, options);
      const dw0 = Float32Array.from(c.f32('weight'), (v) => v * 0.5 + 1);
      const db0 = Float32Array.from({ length: weight.shape[0] }, (_, i) => i - 1.5);
      const out = {
        dx: Tensor.from(new Float32Array(x.size).fill(Number.NaN), x.shape, { device }),
        dw: Tensor.from(dw0.slice(), weight.shape, { device }),
        db: Tensor.from(db0.slice(), [weight.shape[0]], { device }),
      };
      const once = conv2dBackward(dy, x, weight, { ...options, accumulate: true, out });
      expect(once.dx).toBe(out.dx);
      expect(once.dw).toBe(out.dw);
      expect(once.db).toBe(out.db);
      expect(out.dx.toArray()).toEqual(fresh.dx!.toArray());
      const dw = fresh.dw.toArray();
      const db = fresh.db!.toArray();
      expect(out.dw.toArray()).toEqual(dw0.map((v, i) => v + dw[i]));
      expect(out.db.toArray()).toEqual(db0.map((v, i) => v + db[i]));
      conv2dBackward(dy, x, weight, { ...options, accumulate: true, out });
      expect(out.dw.toArray()).toEqual(dw0.map((v, i) => Math.fround(v + dw[i]) + dw[i]));
      expect(out.db.toArray()).toEqual(db0.map((v, i) => Math.fround(v + db[i]) + db[i]));
    });

    test('without accumulate, out.dw and out.db are overwritten', () => {
      const { x, weight, dy } = inputs(c);
      const fresh = conv2dBackward(dy, x, weight, options);
      const out = {
        dw: Tensor.from(new Float32Array(weight.size).fill(Number.NaN), weight.shape, { device }),
        db: Tensor.from(new Float32Array(weight.shape[0]).fill(Number.NaN), [weight.shape[0]], { device }),
      };
      const g = conv2dBackward(dy, x, weight, { ...options, out });
      expect(g.dw).toBe(out.dw);
      expect(out.dw.toArray()).toEqual(fresh.dw.toArray());
      expect(out.db.toArray()).toEqual(fresh.db!.toArray());
    });

    test('inputGrad: false gives dx null and the same dw; biasGrad: false gives db null', () => {
      const { x, weight, dy } = inputs(c);
      const all = conv2dBackward(dy, x, weight, options);
      const weightsOnly = conv2dBackward(dy, x, weight, { ...options, inputGrad: false, biasGrad: false });
      expect(weightsOnly.dx).toBeNull();
      expect(weightsOnly.db).toBeNull();
      expect(weightsOnly.dw.toArray()).toEqual(all.dw.toArray());
      // accumulate without bias gradient needs only out.dw
      const dw = Tensor.zeros(weight.shape, { device });
      conv2dBackward(dy, x, weight, { ...options, inputGrad: false, biasGrad: false, accumulate: true, out: { dw } });
      expect(dw.toArray()).toEqual(all.dw.toArray());
    });
  });

  test('an empty batch gives an empty y and zero weight and bias gradients', () => {
    const x = Tensor.zeros([0, 3, 6, 6], { device });
    const weight = Tensor.from(Float32Array.from({ length: 8 * 3 * 5 * 5 }, (_, i) => Math.sin(i)), [8, 3, 5, 5], { device });
    for (const algorithm of ALGORITHMS) {
      const y = conv2d(x, weight, Tensor.zeros([8], { device }), { algorithm });
      expect(y.shape).toEqual([0, 8, 2, 2]);
      const out = { dw: Tensor.from(new Float32Array(weight.size).fill(Number.NaN), weight.shape, { device }) };
      const g = conv2dBackward(Tensor.zeros([0, 8, 2, 2], { device }), x, weight, { algorithm, out });
      expect(g.dx!.shape).toEqual([0, 3, 6, 6]);
      expect(g.dw.toArray()).toEqual(new Float32Array(weight.size));
      expect(g.db!.toArray()).toEqual(new Float32Array(8));
    }
  });

  describe('thread count', () => {
    // The seed case splits its batch into many chunks; 'stride 2 padding 1' into one per sample.
    // 'auto' on the stride-1 cases with ≥ 16 output channels takes dx from the GEMM over wide rows.
    // 'channels 1 to 64' and the 'few channels' cases take the dense-column forward (direct, auto).
    for (const name of ['seed N=16 1→8 28x28 5x5', 'stride 2 padding 1', 'channels 1 to 64', 'deep layer 16 to 32 12x12', 'few channels 2 to 16 stride (2,1)']) {
      test.each(['direct', 'im2col', 'auto'] as const)(`1 and 2 threads give bit-identical results: ${name} [%s]`, (algorithm) => {
        const c = caseNamed(CASES, `conv2d/${name}`);
        const { x, weight, bias, dy } = inputs(c);
        const options = optionsOf(c, algorithm);
        expectSameBitsAcrossThreads(() => {
          const g = conv2dBackward(dy, x, weight, { ...options, biasGrad: bias !== null });
          return [conv2d(x, weight, bias, options), g.dx!, g.dw, ...(g.db ? [g.db] : [])];
        }, '', 2);
      });
    }

    // A deep-network layer at batch 32: the backward pass splits it into 16 chunks whose dW
    // partials are summed on the pool, and takes dx from the GEMM over wide rows.
    test('1 and 2 threads give bit-identical results: deep layer 32→32 12×12, batch 32 [auto]', () => {
      const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
      const x = Tensor.from(values(32 * 32 * 12 * 12, 1), [32, 32, 12, 12], { device });
      const weight = Tensor.from(values(32 * 32 * 9, 2).map((v) => v / 17), [32, 32, 3, 3], { device });
      const dy = Tensor.from(values(32 * 32 * 10 * 10, 3), [32, 32, 10, 10], { device });
      expectSameBitsAcrossThreads(() => {
        const g = conv2dBackward(dy, x, weight, { biasGrad: false });
        return [conv2d(x, weight, null), g.dx!, g.dw];
      }, '', 2);
    });
  });

  // The deep network's first layer at batch 32 (the dense-column forward for few input channels):
  // the backward pass splits it into 8 chunks of 4 samples, each with its own dW and db partials.
  // Forward, dW alone (a first layer's pass), and dx with dW.
  test('thread count: 1 and 2 threads give bit-identical results: layer 1→32 28×28, batch 32 [auto]', () => {
    const values = (n: number, seed: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * 0.37 + seed));
    const x = Tensor.from(values(32 * 28 * 28, 1), [32, 1, 28, 28], { device });
    const weight = Tensor.from(values(32 * 9, 2).map((v) => v / 3), [32, 1, 3, 3], { device });
    const bias = Tensor.from(values(32, 4), [32], { device });
    const dy = Tensor.from(values(32 * 32 * 26 * 26, 3), [32, 32, 26, 26], { device });
    expectSameBitsAcrossThreads(() => {
      const weights = conv2dBackward(dy, x, weight, { inputGrad: false });
      const all = conv2dBackward(dy, x, weight, {});
      return [conv2d(x, weight, bias), weights.dw, weights.db!, all.dx!, all.dw];
    }, '', 2);
    // dW has the same bits with or without dx
    expect(conv2dBackward(dy, x, weight, { inputGrad: false }).dw.toArray()).toEqual(conv2dBackward(dy, x, weight, {}).dw.toArray());
  });

  describe('bad input', () => {
    const x = Tensor.zeros([2, 3, 6, 6], { device });
    const weight = Tensor.zeros([8, 3, 5, 5], { device });
    const dy = Tensor.zeros([2, 8, 2, 2], { device });

    test('non-tensors and wrong ranks', () => {
      expect(() => conv2d([1, 2] as never, weight, null)).toThrow('Expected a Tensor for x but received [1, 2]');
      expect(() => conv2d(x, {} as never, null)).toThrow('Expected a Tensor for weight but received an object');
      expect(() => conv2d(Tensor.zeros([3, 6, 6], { device }), weight, null)).toThrow(
        new RangeError('Expected a tensor of rank 4 for x but received shape [3, 6, 6]'),
      );
      expect(() => conv2d(x, Tensor.zeros([8, 75], { device }), null)).toThrow('Expected a tensor of rank 4 for weight but received shape [8, 75]');
      expect(() => conv2d(Tensor.zeros([2, 3, 6, 6], { device, dtype: 'int32' }), weight, null)).toThrow(
        'Expected a float32 tensor for x but received an int32 tensor',
      );
      expect(() => conv2dBackward('dy' as never, x, weight)).toThrow('Expected a Tensor for dy but received "dy"');
    });

    test('mismatched shapes', () => {
      expect(() => conv2d(x, Tensor.zeros([8, 1, 5, 5], { device }), null)).toThrow(
        new RangeError('Expected weight.shape[1] = 3 (the channels of x) for weight but received shape [8, 1, 5, 5]'),
      );
      expect(() => conv2d(x, weight, Tensor.zeros([4], { device }))).toThrow('Expected shape [8] for bias but received [4]');
      expect(() => conv2d(x, weight, null, {}, Tensor.zeros([2, 8, 2, 3], { device }))).toThrow('Expected shape [2, 8, 2, 2] for out but received [2, 8, 2, 3]');
      expect(() => conv2d(x, Tensor.zeros([8, 3, 7, 5], { device }), null)).toThrow(
        new RangeError('Expected a kernel no larger than the padded input (6×6) for weight but received a 7×5 kernel'),
      );
      expect(() => conv2d(x, Tensor.zeros([8, 3, 7, 9], { device }), null, { padding: [1, 1] })).toThrow(
        'Expected a kernel no larger than the padded input (8×8) for weight but received a 7×9 kernel',
      );
      expect(() => conv2d(Tensor.zeros([2, 3, 0, 6], { device }), weight, null)).toThrow(
        'Expected non-zero channels, height and width for x but received shape [2, 3, 0, 6]',
      );
      expect(() => conv2dBackward(Tensor.zeros([2, 8, 2, 3], { device }), x, weight)).toThrow('Expected shape [2, 8, 2, 2] for dy but received [2, 8, 2, 3]');
      expect(() => conv2dBackward(dy, x, weight, { out: { dw: Tensor.zeros([8, 3, 5, 4], { device }) } })).toThrow(
        'Expected shape [8, 3, 5, 5] for options.out.dw but received [8, 3, 5, 4]',
      );
      expect(() => conv2dBackward(dy, x, weight, { out: { dx: Tensor.zeros([2, 3, 6], { device }) } })).toThrow(
        'Expected shape [2, 3, 6, 6] for options.out.dx but received [2, 3, 6]',
      );
    });

    test('bad options', () => {
      expect(() => conv2d(x, weight, null, { stride: 0 })).toThrow(new RangeError('Expected an integer ≥ 1 for options.stride but received 0'));
      expect(() => conv2d(x, weight, null, { stride: [1, 0] })).toThrow('Expected an integer ≥ 1 for options.stride[1] but received 0');
      expect(() => conv2d(x, weight, null, { stride: [1, 2, 3] as never })).toThrow(
        'Expected an integer or a pair of integers for options.stride but received [1, 2, 3]',
      );
      expect(() => conv2d(x, weight, null, { padding: -1 })).toThrow(new RangeError('Expected an integer ≥ 0 for options.padding but received -1'));
      expect(() => conv2d(x, weight, null, { padding: 1.5 })).toThrow(new TypeError('Expected an integer for options.padding but received 1.5'));
      expect(() => conv2d(x, weight, null, { algorithm: 'fft' as never })).toThrow(
        `Expected one of 'auto', 'direct', 'im2col', 'winograd' for options.algorithm but received "fft"`,
      );
      expect(() => conv2d(x, weight, null, 3 as never)).toThrow('Expected an options object for options but received 3');
      expect(() => conv2dBackward(dy, x, weight, { inputGrad: 'yes' as never })).toThrow('Expected a boolean for options.inputGrad but received "yes"');
      expect(() => conv2dBackward(dy, x, weight, { accumulate: true })).toThrow(
        'Expected a tensor to accumulate into (accumulate is true) for options.out.dw but received undefined',
      );
      expect(() => conv2dBackward(dy, x, weight, { accumulate: true, out: { dw: Tensor.zeros(weight.shape, { device }) } })).toThrow(
        'Expected a tensor to accumulate into (accumulate is true) for options.out.db but received undefined',
      );
    });

    test('conv2dOutputShape', () => {
      expect(conv2dOutputShape([64, 1, 28, 28], [8, 1, 5, 5])).toEqual([64, 8, 24, 24]);
      expect(conv2dOutputShape([2, 3, 8, 9], [4, 3, 3, 3], { stride: 2, padding: [1, 0] })).toEqual([2, 4, 4, 4]);
      expect(() => conv2dOutputShape([1, 28, 28], [8, 1, 5, 5])).toThrow(new RangeError('Expected a shape of rank 4 for inputShape but received [1, 28, 28]'));
      expect(() => conv2dOutputShape([1, 1, 28, 28], [8, 2, 5, 5])).toThrow(
        'Expected weightShape.shape[1] = 1 (the channels of inputShape) for weightShape but received shape [8, 2, 5, 5]',
      );
    });

    if (DEVICES.includes('cuda:0') && device === 'cuda:0') {
      test('tensors on different devices', () => {
        expect(() => conv2d(x, Tensor.zeros([8, 3, 5, 5]), null)).toThrow('Expected a tensor on cuda:0 for weight but received a tensor on cpu');
      });
    }
  });
});

describe('native conv2d argument checks', () => {
  const addon = native();
  const x = new Float32Array(1 * 1 * 6 * 6);
  const w = new Float32Array(2 * 1 * 3 * 3);
  const y = new Float32Array(1 * 2 * 4 * 4);
  const sizes = [1, 1, 6, 6, 2, 3, 3, 1, 1, 0, 0] as const;

  test('a buffer too small for the sizes is a RangeError naming it', () => {
    expect(() => addon.conv2dForward(new Float32Array(31), x, w, null, ...sizes, 0)).toThrow(
      new RangeError('Expected at least 32 elements for y but received 31'),
    );
    expect(() => addon.conv2dForward(y, x, w, new Float32Array(1), ...sizes, 0)).toThrow('Expected at least 2 elements for b but received 1');
    expect(() => addon.conv2dBackward(new Float32Array(35), new Float32Array(18), null, y, x, w, ...sizes, false, 0)).toThrow(
      'Expected at least 36 elements for dx but received 35',
    );
    expect(() => addon.conv2dBackward(null, new Float32Array(17), null, y, x, w, ...sizes, false, 0)).toThrow(
      'Expected at least 18 elements for dw but received 17',
    );
  });

  test('sizes, kernel fit, algorithm and flags are checked', () => {
    expect(() => addon.conv2dForward(y, x, w, null, 1, 1, 6, 6, 2, 3, 3, 0, 1, 0, 0, 0)).toThrow(
      new RangeError('Expected an integer in [1, 1048576] for sh but received 0'),
    );
    expect(() => addon.conv2dForward(y, x, w, null, 1, 1, 2, 6, 2, 3, 3, 1, 1, 0, 0, 0)).toThrow(
      new RangeError('Expected kh ≤ H + 2·ph = 2 for kh but received 3'),
    );
    expect(() => addon.conv2dForward(y, x, w, null, ...sizes, 4)).toThrow('Expected an integer in [0, 3] for algorithm but received 4');
    expect(() => addon.conv2dBackward(null, w, null, y, x, w, ...sizes, 1 as never, 0)).toThrow(
      'Expected a boolean for accumulate but received the number 1',
    );
  });

  test('forced algorithms agree on a direct call', () => {
    x.forEach((_, i) => (x[i] = Math.sin(i)));
    w.forEach((_, i) => (w[i] = Math.cos(i)));
    const direct = new Float32Array(y.length);
    const im2col = new Float32Array(y.length);
    addon.conv2dForward(direct, x, w, null, ...sizes, 1);
    addon.conv2dForward(im2col, x, w, null, ...sizes, 2);
    for (let i = 0; i < y.length; i++) expect(Math.abs(direct[i] - im2col[i])).toBeLessThan(1e-5);
  });
});
