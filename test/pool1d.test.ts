// 1-D max and average pooling against PyTorch (test/fixtures/pool1d.fixture,
// scripts/fixtures/pool1d.py): the functional ops and the MaxPool1d / AvgPool1d layers.
//
// pool1d runs pool2d's kernels with a window of height 1, so the fixture cases run through the same
// checks (test/helpers/pool.ts) with pool2d's tolerances:
//   max-pool y and indices: exact (selection only; indices equal PyTorch's, ties, -inf and NaN
//     windows included).
//   max-pool dx: atol 1e-6, rtol 1e-6, relNorm 5e-7. Overlapping windows add up to ⌈k/s⌉ ≤ 5
//     float32 values (≲ 4·2⁻²⁴ ≈ 2.4e-7 relative; atol covers cancellation).
//   avg-pool y and dx: atol 1e-6, rtol 1e-6, relNorm 1e-6. A float32 sum of at most 5 terms and one
//     division (≲ 5·2⁻²⁴ ≈ 3e-7 relative).
// Measured on the CPU and emulated CUDA (cuda/pool2d.cu, bit-identical to the CPU kernels): max-pool
// dx max 1.8e-7 (rel L2 2.6e-8); avg-pool max 9.9e-8 (rel L2 5e-8).
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { AvgPool1d, MaxPool1d } from '../lib/nn/pool1d';
import { buildModule } from '../lib/nn/registry';
import { avgPool1d, avgPool1dBackward, maxPool1d, maxPool1dBackward, pool1dOutputShape } from '../lib/ops/pool1d';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';
import { caseNamed, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { AVG, MAX_DX, poolCaseTests, poolOutTest, type PoolOps } from './helpers/pool';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { EXACT } from './helpers/tolerance';

const cases = loadFixtures('pool1d');
const ops = { outputShape: pool1dOutputShape, max: maxPool1d, maxBackward: maxPool1dBackward, avg: avgPool1d, avgBackward: avgPool1dBackward } satisfies PoolOps;

describe.each(DEVICES)('pool1d on %s', (device) => {
  poolCaseTests(cases, ops, device);

  test('the layers: forward, dx, outputShape and inputGrad', () => {
    const m = caseNamed(cases, 'max/overlap_k3s2p1');
    const maxLayer = new MaxPool1d(3, { stride: 2, padding: 1 });
    const y = explicit(() => maxLayer.forward(m.tensor('x', device)));
    checkOp(m, { y, dx: maxLayer.backward(m.tensor('dy', device)) }, { y: EXACT, dx: MAX_DX }, { label: 'MaxPool1d' });
    expect(maxLayer.outputShape([2, 4, 12])).toEqual(m.get('y').shape);
    maxLayer.inputGrad = false;
    expect(maxLayer.backward(m.tensor('dy', device))).toBeNull();

    const a = caseNamed(cases, 'avg/kernel4_stride3_pad2_exclude_pad');
    const avgLayer = new AvgPool1d(4, { stride: 3, padding: 2, countIncludePad: false });
    const avgY = explicit(() => avgLayer.forward(a.tensor('x', device)));
    checkOp(a, { y: avgY, dx: avgLayer.backward(a.tensor('dy', device)) }, AVG, { label: 'AvgPool1d' });
  });

  poolOutTest(cases, ops, device, 'max/overlap_k3s1p1', 'avg/overlap_k3s1p1');

  test('1 thread and the default thread count give bit-identical results', () => {
    const x = Tensor.from(Float32Array.from({ length: 64 * 16 * 100 }, (_, i) => Math.sin(i * 0.37)), [64, 16, 100], { device });
    expectSameBitsAcrossThreads(() => {
      const options = { kernelSize: 3, stride: 2, padding: 1 };
      const { y, indices } = maxPool1d(x, options);
      const avg = avgPool1d(x, options);
      return [y, indices, maxPool1dBackward(y, indices, x.shape), avg, avgPool1dBackward(avg, x.shape, options)];
    });
  });

  test('registry round trip and torch-style descriptions', () => {
    const max = new MaxPool1d([2]);
    expect(String(max)).toBe('MaxPool1d(kernel_size=2, stride=2, padding=0)');
    expect(buildModule(max.config()).config!()).toEqual({ type: 'MaxPool1d', kernelSize: 2, stride: 2, padding: 0 });
    const avg = new AvgPool1d(3, { stride: 1, padding: 1, countIncludePad: false });
    expect(buildModule(avg.config())).toBeInstanceOf(AvgPool1d);
    expect(buildModule(avg.config()).config!()).toEqual(avg.config());
  });

  test('rejects bad inputs and options with messages naming the argument', () => {
    const x = Tensor.zeros([1, 2, 6], { device });
    expect(() => maxPool1d([1] as never, { kernelSize: 2 })).toThrow('Expected a Tensor for x but received [1]');
    expect(() => maxPool1d(Tensor.zeros([1, 2, 6, 6], { device }), { kernelSize: 2 })).toThrow('Expected a tensor of rank 3 for x but received shape [1, 2, 6, 6]');
    expect(() => avgPool1d(x, undefined as never)).toThrow('Expected an options object for options but received undefined');
    expect(() => maxPool1d(x, { kernelSize: 0 })).toThrow(new RangeError('Expected an integer ≥ 1 for options.kernelSize but received 0'));
    expect(() => maxPool1d(x, { kernelSize: [2, 2] as never })).toThrow('Expected an integer or a one-element array of integers for options.kernelSize but received [2, 2]');
    expect(() => avgPool1d(x, { kernelSize: 2, stride: 0 })).toThrow('Expected an integer ≥ 1 for options.stride but received 0');
    expect(() => maxPool1d(x, { kernelSize: 3, padding: 2 })).toThrow(
      new RangeError('Expected padding at most half the kernel size (1 for kernel 3) for options.padding but received 2'),
    );
    expect(() => maxPool1d(x, { kernelSize: 7 })).toThrow(new RangeError('Expected an input at least as long as the kernel 7 (with padding 0) for x but received [1, 2, 6]'));
    expect(() => avgPool1d(x, { kernelSize: 2, countIncludePad: 1 as never })).toThrow('Expected a boolean for options.countIncludePad but received 1');
    expect(() => pool1dOutputShape([2, 6], { kernelSize: 2 })).toThrow('Expected a shape of rank 3 ([N, C, L]) for inputShape but received [2, 6]');
    const { y, indices } = maxPool1d(x, { kernelSize: 2 });
    expect(() => maxPool1dBackward(y, y, x.shape)).toThrow('Expected an int32 tensor for indices but received a float32 tensor');
    expect(() => maxPool1dBackward(y, indices, [1, 3, 6])).toThrow('Expected a shape [1, 2, L ≥ 1] matching dy for inputShape but received [1, 3, 6]');
    expect(() => maxPool1dBackward(y, indices, x.shape, Tensor.zeros([1, 2, 5], { device }))).toThrow('Expected shape [1, 2, 6] for out but received [1, 2, 5]');
    expect(() => maxPool1d(x, { kernelSize: 2 }, { y: Tensor.zeros([1, 2, 4], { device }) })).toThrow('Expected shape [1, 2, 3] for out.y but received [1, 2, 4]');
    expect(() => avgPool1dBackward(y, x.shape, { kernelSize: 3 })).toThrow('Expected shape [1, 2, 2] for dy but received [1, 2, 3]');
    expect(() => new MaxPool1d(2, { padding: -1 })).toThrow('Expected an integer ≥ 0 for padding but received -1');
  });
});
