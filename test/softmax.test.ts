// Softmax against PyTorch (scripts/fixtures/softmax.py).
// Tolerance: atol 1e-7, rtol 2e-6: exp and one division per value, a sum of C terms.
import { describe, expect, test } from 'vitest';
import { softmax } from '../lib/ops/softmax';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';

describe.each(DEVICES)('softmax on %s', (device) => {
  for (const c of loadFixtures('softmax')) {
    test(c.name, () => {
      const y = softmax(Tensor.from(c.f32('x'), c.get('x').shape, { device }));
      expectClose(y.toArray(), c.f64('y'), { atol: 1e-7, rtol: 2e-6 }, c.name);
    });
  }
  test('rejects a rank-1 input', () => {
    expect(() => softmax(Tensor.zeros([3], { device }))).toThrow('Expected a tensor of rank 2 for x but received shape [3]');
  });
});
