// conv1d against PyTorch (test/fixtures/conv1d.fixture, scripts/fixtures/conv1d.py): the functional
// op on both conv2d algorithms and 'auto', and the Conv1d layer.
//
// conv1d runs conv2d's kernels on a plane of height 1, so the arithmetic is conv2d's, and so are
// the case checks (test/helpers/conv.ts) and the tolerances (CONV in test/helpers/tolerance.ts; see
// test/conv2d.test.ts): every output is a float32 sum of L products, whose rounding
// grows with L and the size of the terms (~√L·2⁻²⁴ relative to the typical output), so atol is
// relative to the output's RMS:
//   y   L = C·k (≤ 160 here):        atol 1e-5·rms(y),  rtol 1e-5, relNorm 1e-5
//   dx  L = K·k (≤ 160 here):        atol 1e-5·rms(dx), rtol 1e-5, relNorm 1e-5
//   dw  L = N·OL (1200 for L = 300): atol 2e-5·rms(dw), rtol 1e-5, relNorm 1e-5
//   db  L = N·OL, like dw:           atol 2e-5·rms(db), rtol 1e-5, relNorm 1e-5
// Measured worst cases over all fixtures and algorithms, max |out − ref|/rms(ref): CPU y 1.3e-6,
// dx 9.9e-7, dw 3.7e-7, db 2.4e-7; CUDA (emulator) y 5.6e-7, dx 9.9e-7, dw 5.3e-7, db 5.8e-7;
// relative L2 errors ≤ 3e-7.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { Conv1d } from '../lib/nn/conv1d';
import { buildModule } from '../lib/nn/registry';
import { conv1d, conv1dBackward, conv1dOutputShape, type Conv1dOptions } from '../lib/ops/conv1d';
import { Tensor } from '../lib/tensor';
import { type Algorithm, convCaseTests, convInputs, convOptions } from './helpers/conv';
import { DEVICES } from './helpers/devices';
import { caseNamed, type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { CONV } from './helpers/tolerance';

const CASES = loadFixtures('conv1d');

describe.each(DEVICES)('conv1d on %s', (device) => {
  const inputs = (c: FixtureCase) => convInputs(c, device);
  const optionsOf = (c: FixtureCase, algorithm?: Algorithm) => convOptions(c, algorithm) as Conv1dOptions;

  convCaseTests(CASES, { outputShape: conv1dOutputShape, forward: conv1d, backward: conv1dBackward }, device);

  test('the Conv1d layer: forward, dx and parameter gradients (accumulated like .grad)', () => {
    for (const name of ['stride 2 padding 1', 'stride 3 padding 2 no bias', 'long sequence 300']) {
      const c = caseNamed(CASES, `conv1d/${name}`);
      const [k, ch, kl] = c.get('weight').shape;
      const layer = new Conv1d(ch, k, kl, { stride: c.params.stride, padding: c.params.padding, bias: c.params.bias }).to(device);
      expect(layer.namedParameters().map(([n]) => n)).toEqual(c.params.bias ? ['weight', 'bias'] : ['weight']);
      layer.weight.copyFrom(c.f32('weight'));
      if (layer.bias) layer.bias.copyFrom(c.f32('bias'));
      const { x, dy } = inputs(c);
      const y = explicit(() => layer.forward(x));
      expect(layer.outputShape(x.shape)).toEqual(c.get('y').shape);
      const dx = layer.backward(dy)!;
      checkOp(c, { y, dx, dw: layer.weight.grad, db: layer.bias?.grad }, CONV, { label: 'layer' });
      explicit(() => layer.forward(x));
      layer.backward(dy);
      const twice = { shape: c.get('dw').shape, data: c.f64('dw').map((v) => 2 * v) };
      checkOp(c, { dw: layer.weight.grad }, CONV, { label: 'layer, accumulated', references: { dw: twice } });
      layer.inputGrad = false;
      expect(layer.backward(dy)).toBeNull();
      layer.dispose();
    }
  });

  test('out tensors are used for y, dx and dw; accumulate adds into dw and db', () => {
    const c = caseNamed(CASES, 'conv1d/basic');
    const { x, weight, bias, dy } = inputs(c);
    const out = Tensor.from(new Float32Array(c.f64('y').length).fill(Number.NaN), c.get('y').shape, { device });
    expect(conv1d(x, weight, bias, {}, out)).toBe(out);
    const given = {
      dx: Tensor.from(new Float32Array(x.size).fill(Number.NaN), x.shape, { device }),
      dw: Tensor.from(new Float32Array(weight.size).fill(1), weight.shape, { device }),
      db: Tensor.from(new Float32Array(weight.shape[0]).fill(-1), [weight.shape[0]], { device }),
    };
    const g = conv1dBackward(dy, x, weight, { accumulate: true, out: given });
    expect(g.dx).toBe(given.dx);
    expect(g.dw).toBe(given.dw);
    expect(g.db).toBe(given.db);
    checkOp(c, { y: out, ...given }, CONV, {
      label: 'into out, dw and db accumulated',
      references: { dw: { shape: weight.shape, data: c.f64('dw').map((v) => v + 1) }, db: { shape: [weight.shape[0]], data: c.f64('db').map((v) => v - 1) } },
    });
    expect(conv1dBackward(dy, x, weight, { inputGrad: false }).dx).toBeNull();
  });

  describe('thread count', () => {
    test.each(['direct', 'im2col'] as const)('1 and 2 threads give bit-identical results [%s]', (algorithm) => {
      const c = caseNamed(CASES, 'conv1d/long sequence 300');
      const { x, weight, bias, dy } = inputs(c);
      const options = optionsOf(c, algorithm);
      expectSameBitsAcrossThreads(() => {
        const g = conv1dBackward(dy, x, weight, options);
        return [conv1d(x, weight, bias, options), g.dx!, g.dw, g.db!];
      }, '', 2);
    });
  });

  test('registry round trip and torch-style names', () => {
    const layer = new Conv1d(3, 4, [5], { stride: 2, padding: 1, bias: false });
    expect(String(layer)).toBe('Conv1d(3, 4, kernel_size=(5,), stride=(2,), padding=(1,), bias=False)');
    const rebuilt = buildModule(layer.config()) as Conv1d;
    expect(rebuilt).toBeInstanceOf(Conv1d);
    expect(rebuilt.config()).toEqual(layer.config());
    expect(rebuilt.weight.shape).toEqual([4, 3, 5]);
  });

  describe('bad input', () => {
    const x = Tensor.zeros([2, 3, 10], { device });
    const weight = Tensor.zeros([4, 3, 3], { device });

    test('messages name the argument', () => {
      expect(() => conv1d([1] as never, weight, null)).toThrow('Expected a Tensor for x but received [1]');
      expect(() => conv1d(Tensor.zeros([2, 3, 10, 1], { device }), weight, null)).toThrow(
        new RangeError('Expected a tensor of rank 3 for x but received shape [2, 3, 10, 1]'),
      );
      expect(() => conv1d(x, Tensor.zeros([4, 3, 1, 3], { device }), null)).toThrow('Expected a tensor of rank 3 for weight but received shape [4, 3, 1, 3]');
      expect(() => conv1d(x, Tensor.zeros([4, 2, 3], { device }), null)).toThrow(
        new RangeError('Expected weight.shape[1] = 3 (the channels of x) for weight but received shape [4, 2, 3]'),
      );
      expect(() => conv1d(x, Tensor.zeros([4, 3, 13], { device }), null, { padding: 1 })).toThrow(
        new RangeError('Expected a kernel no longer than the padded input (12) for weight but received a kernel of 13'),
      );
      expect(() => conv1d(Tensor.zeros([2, 3, 0], { device }), weight, null)).toThrow('Expected non-zero channels and length for x but received shape [2, 3, 0]');
      expect(() => conv1d(x, weight, Tensor.zeros([3], { device }))).toThrow('Expected shape [4] for bias but received [3]');
      expect(() => conv1d(x, weight, null, {}, Tensor.zeros([2, 4, 9], { device }))).toThrow('Expected shape [2, 4, 8] for out but received [2, 4, 9]');
      expect(() => conv1d(x, weight, null, { stride: 0 })).toThrow(new RangeError('Expected an integer ≥ 1 for options.stride but received 0'));
      expect(() => conv1d(x, weight, null, { stride: [1, 2] as never })).toThrow(
        'Expected an integer or a one-element array of integers for options.stride but received [1, 2]',
      );
      expect(() => conv1d(x, weight, null, { padding: [-1] })).toThrow('Expected an integer ≥ 0 for options.padding[0] but received -1');
      expect(() => conv1d(x, weight, null, 'same' as never)).toThrow('Expected an options object for options but received "same"');
      expect(() => conv1dBackward(Tensor.zeros([2, 4, 9], { device }), x, weight)).toThrow('Expected shape [2, 4, 8] for dy but received [2, 4, 9]');
      expect(() => conv1dBackward(Tensor.zeros([2, 4, 8], { device }), x, weight, { out: { dx: Tensor.zeros([2, 3, 9], { device }) } })).toThrow(
        'Expected shape [2, 3, 10] for options.out.dx but received [2, 3, 9]',
      );
      expect(() => conv1dBackward(Tensor.zeros([2, 4, 8], { device }), x, weight, { accumulate: true })).toThrow(
        'Expected a tensor to accumulate into (accumulate is true) for options.out.dw but received undefined',
      );
      expect(() => conv1dOutputShape([3, 10], [4, 3, 3])).toThrow('Expected a shape of rank 3 for inputShape but received [3, 10]');
      expect(() => new Conv1d(3, 4, 0)).toThrow('Expected an integer ≥ 1 for kernelSize but received 0');
      expect(() => new Conv1d(3, 4, 3).forward(Tensor.zeros([2, 5, 10]))).toThrow('Expected weightShape.shape[1] = 5');
    });
  });
});
