// ReLU against PyTorch (test/fixtures/activation.fixture, scripts/fixtures/activation.py).
// Tolerance: exact (atol 0, rtol 0): ReLU only selects values.
import { describe, expect, test } from 'vitest';
import { relu, reluBackward } from '../lib/ops/activation';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';

const EXACT = { atol: 0, rtol: 0, relNorm: 0 };

describe.each(DEVICES)('relu on %s', (device) => {
  for (const c of loadFixtures('activation')) {
    test(c.name, () => {
      const x = Tensor.from(c.f32('x'), c.get('x').shape, { device });
      const dy = Tensor.from(c.f32('dy'), c.get('dy').shape, { device });
      const y = relu(x);
      expectClose(y.toArray(), c.f64('y'), EXACT, `${c.name} y`);
      expectClose(reluBackward(dy, y).toArray(), c.f64('dx'), EXACT, `${c.name} dx`);
    });
  }

  test('rejects a non-tensor and mismatched shapes', () => {
    expect(() => relu([1, 2] as never)).toThrow('Expected a Tensor for x but received [1, 2]');
    const a = Tensor.zeros([2, 3], { device });
    const b = Tensor.zeros([3, 2], { device });
    expect(() => reluBackward(a, b)).toThrow('Expected shape [2, 3] for y but received [3, 2]');
  });
});
