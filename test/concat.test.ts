// Channel concatenation against PyTorch (test/fixtures/concat.fixture, scripts/fixtures/concat.py):
// the functional concat / splitChannels / addInto, and the Concat layer (branches on one input,
// joined along dim 1, backward summing the branches' input gradients).
//
// Tolerances:
//   concat y, split dx, and the Concat layer's own copies: exact. They are copies of float32 values.
//   The Concat layer's y, dx and parameter gradients (branches of convolutions and pools, a 3×3
//     conv after a 1×1 one): atol 2e-5·rms(ref), rtol 1e-5, relNorm 1e-5, the convolutions'
//     tolerance (test/conv2d.test.ts: here sums of at most 36 products for y and dx, N·H·W ≤ 72 for
//     the weight gradients, and the dx of three branches added in float32). Measured: CPU
//     max |out − ref|/rms(ref) 3.0e-7, relative L2 ≤ 1.8e-7; emulated CUDA 7.2e-7, ≤ 4.3e-7.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { native } from '../lib/native';
import { ReLU } from '../lib/nn/activation';
import { Concat } from '../lib/nn/concat';
import { Conv1d } from '../lib/nn/conv1d';
import { Conv2d } from '../lib/nn/conv2d';
import type { Module } from '../lib/nn/module';
import { MaxPool1d } from '../lib/nn/pool1d';
import { AvgPool2d, MaxPool2d } from '../lib/nn/pool2d';
import { buildModule } from '../lib/nn/registry';
import { Sequential } from '../lib/nn/sequential';
import { addInto, concat, concatOutputShape, splitChannels } from '../lib/ops/concat';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { EXACT, rmsTolerance } from './helpers/tolerance';

/** The convolutions' parameter-gradient tolerance (CONV.dw), for every output of the layer. */
const LAYER = rmsTolerance(2e-5);

/** The napinet module matching each "layer" fixture's PyTorch Concat. */
const LAYERS: Record<string, () => Module> = {
  inception2d: () =>
    new Concat(
      new Conv2d(4, 3, 1),
      new Sequential(new Conv2d(4, 2, 1), new ReLU(), new Conv2d(2, 3, 3, { padding: 1 })),
      new MaxPool2d(3, { stride: 1, padding: 1 }),
    ),
  inception1d: () => new Concat(new Conv1d(3, 2, 1), new Conv1d(3, 4, 3, { padding: 1 }), new MaxPool1d(3, { stride: 1, padding: 1 })),
  'conv and avgpool': () => new Concat(new Conv2d(2, 2, 1, { bias: false }), new AvgPool2d(3, { stride: 1, padding: 1 })),
};

const cases = loadFixtures('concat');
const catCases = cases.filter((c) => c.params.kind === 'cat');
const layerCases = cases.filter((c) => c.params.kind === 'layer');

describe.each(DEVICES)('concat on %s', (device) => {
  for (const c of catCases) {
    test(c.name, () => {
      const xs = Array.from({ length: c.params.parts }, (_, i) => c.tensor(`x${i}`, device));
      expect(concatOutputShape(xs.map((x) => x.shape))).toEqual(c.get('y').shape);
      const parts = splitChannels(c.tensor('dy', device), xs.map((x) => x.shape[1]));
      checkOp(c, { y: concat(xs), ...Object.fromEntries(parts.map((dx, i) => [`dx${i}`, dx])) }, EXACT);
    });
  }

  for (const c of layerCases) {
    test(c.name, () => {
      const layer = LAYERS[c.params.layer]().to(device);
      const names = layer.namedParameters().map(([name]) => name);
      expect(names).toEqual(c.params.parameters);
      for (const [name, p] of layer.namedParameters()) p.copyFrom(c.f32(`param:${name}`));
      const grads = () => Object.fromEntries(layer.namedParameters().map(([name, p]) => [`grad:${name}`, p.grad]));
      const x = c.tensor('x', device);
      const y = explicit(() => layer.forward(x));
      expect(layer.outputShape!(x.shape)).toEqual(c.get('y').shape);
      checkOp(c, { y, dx: layer.backward(c.tensor('dy', device)), ...grads() }, LAYER);
      // Without an input gradient, the branches still accumulate their parameter gradients.
      layer.zeroGrad();
      explicit(() => layer.forward(x));
      layer.inputGrad = false;
      expect(layer.backward(c.tensor('dy', device))).toBeNull();
      checkOp(c, grads(), LAYER, { label: 'no dx' });
      layer.dispose();
    });
  }

  test('the Concat layer as a Sequential child: state_dict names, summary, config round trip', () => {
    const block = LAYERS.inception2d();
    const net = new Sequential(new Conv2d(1, 4, 3), block, new ReLU());
    expect(net.namedParameters().map(([n]) => n)).toEqual([
      '0.weight', '0.bias',
      '1.branches.0.weight', '1.branches.0.bias',
      '1.branches.1.0.weight', '1.branches.1.0.bias', '1.branches.1.2.weight', '1.branches.1.2.bias',
    ]);
    expect(net.outputShape([2, 1, 8, 8])).toEqual([2, 10, 6, 6]);
    expect(net.summary([2, 1, 8, 8])).toContain('[N, 10, 6, 6]');
    const rebuilt = buildModule(net.config()) as Sequential;
    expect(rebuilt.config()).toEqual(net.config());
    expect(rebuilt.layers[1]).toBeInstanceOf(Concat);
    expect(String(block)).toContain('(branches): ModuleList(');
  });

  test('splitChannels fills given outputs; addInto adds in place', () => {
    const y = Tensor.from(Float32Array.from({ length: 2 * 5 * 3 }, (_, i) => i), [2, 5, 3], { device });
    const a = Tensor.zeros([2, 2, 3], { device });
    const [first, second] = splitChannels(y, [2, 3], [a, undefined]);
    expect(first).toBe(a);
    expect(Array.from(a.toArray())).toEqual([0, 1, 2, 3, 4, 5, 15, 16, 17, 18, 19, 20]);
    expect(second.shape).toEqual([2, 3, 3]);
    const sum = Tensor.from([1, 2, 3, 4], [2, 2], { device });
    expect(addInto(sum, Tensor.from([0.5, 0.25, -3, 0], [2, 2], { device }))).toBe(sum);
    expect(Array.from(sum.toArray())).toEqual([1.5, 2.25, 0, 4]);
    const out = Tensor.from(new Float32Array(2 * 5 * 3).fill(Number.NaN), [2, 5, 3], { device });
    expect(concat([first, second], out)).toBe(out);
    expect(out.toArray()).toEqual(y.toArray());
  });

  test('rejects bad inputs with messages naming the argument', () => {
    const a = Tensor.zeros([2, 3, 4, 4], { device });
    expect(() => concat([])).toThrow('Expected a non-empty array of tensors for xs but received []');
    expect(() => concat([a, 'b' as never])).toThrow('Expected a Tensor for xs[1] but received "b"');
    expect(() => concat([Tensor.zeros([4], { device })])).toThrow(new RangeError('Expected a tensor of rank ≥ 2 ([N, C, …]) for xs[0] but received shape [4]'));
    expect(() => concat([a, Tensor.zeros([2, 1, 4, 5], { device })])).toThrow(
      new RangeError('Expected shape [2, C, 4, 4] (all dimensions but 1 equal to those of shapes[0]) for shapes[1] but received [2, 1, 4, 5]'),
    );
    expect(() => concat([a], Tensor.zeros([2, 4, 4, 4], { device }))).toThrow('Expected shape [2, 3, 4, 4] for out but received [2, 4, 4, 4]');
    expect(() => concat([a], a)).toThrow('Expected a tensor other than each input for out but received a Tensor');
    expect(() => splitChannels(a, [1, 1])).toThrow(new RangeError('Expected channel counts summing to 3 (the channels of y) for sizes but received [1, 1] (sum 2)'));
    expect(() => splitChannels(a, [3, 0])).toThrow('Expected an integer ≥ 1 for sizes[1] but received 0');
    expect(() => splitChannels(a, [3], [])).toThrow('Expected an array of 1 tensors for out but received []');
    expect(() => addInto(a, Tensor.zeros([2, 3, 4], { device }))).toThrow('Expected shape [2, 3, 4, 4] for x but received [2, 3, 4]');
    expect(() => new Concat()).toThrow('Expected at least one Module for branches but received none');
    expect(() => new Concat(new ReLU(), {} as never)).toThrow('Expected a Module for branches[1] but received object');
    const mismatched = new Concat(new Conv2d(3, 2, 3), new Conv2d(3, 2, 1));
    expect(() => mismatched.outputShape([2, 3, 4, 4])).toThrow('Expected shape [2, C, 2, 2] (all dimensions but 1 equal to those of shapes[0]) for shapes[1] but received [2, 2, 4, 4]');
    expect(() => new Concat(new ReLU()).backward(a)).toThrow('Concat.backward() needs a forward() first (no saved output channels)');
  });
});

describe('concat native checks', () => {
  const addon = native();

  test('a buffer too small for the sizes given is a RangeError naming it', () => {
    expect(() => addon.concatChannels(new Float32Array(2 * 5 * 3 - 1), new Float32Array(2 * 2 * 3), 2, 5, 1, 2, 3)).toThrow(
      new RangeError('Expected at least 30 elements for y but received 29'),
    );
    expect(() => addon.splitChannels(new Float32Array(11), new Float32Array(30), 2, 5, 1, 2, 3)).toThrow('Expected at least 12 elements for x but received 11');
    expect(() => addon.addInto(new Float32Array(4), new Float32Array(3), 4)).toThrow('Expected at least 4 elements for x but received 3');
  });

  test('a slice outside y and overlapping buffers are RangeErrors', () => {
    expect(() => addon.concatChannels(new Float32Array(30), new Float32Array(18), 2, 5, 3, 3, 3)).toThrow('Expected an integer in [1, 2] for Cx but received 3');
    expect(() => addon.concatChannels(new Float32Array(30), new Float32Array(18), 2, 5, 5, 1, 3)).toThrow('Expected an integer in [0, 4] for offset but received 5');
    const shared = new Float32Array(8);
    expect(() => addon.addInto(shared.subarray(0, 4), shared.subarray(2, 6), 4)).toThrow(
      new RangeError('Expected x not to overlap y for x but received overlapping buffers'),
    );
    addon.addInto(shared.subarray(0, 4), shared.subarray(4, 8), 4);
  });
});
