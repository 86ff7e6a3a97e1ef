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
  // The fixtures have C ≤ 10 (one GPU lane per class). Rows wider than a warp: each lane adds
  // ⌈C/32⌉ ≤ 4 strided terms, then a 5-level butterfly, ≤ 8 roundings of positive terms (≲ 4.8e-7
  // relative) plus expf's 2 ulp: within rtol 2e-6. Reference: float64 in JS.
  test.runIf(device === 'cuda')('rows wider than a warp, and a single class, against a float64 reference', () => {
    for (const [n, classes] of [[37, 100], [9, 33], [4, 1]]) {
      const x = Float32Array.from({ length: n * classes }, (_, i) => 4 * Math.cos(i * 0.7071 + 0.25));
      const reference = new Float64Array(n * classes);
      for (let i = 0; i < n; i++) {
        const row = Array.from(x.subarray(i * classes, (i + 1) * classes));
        const max = Math.max(...row);
        const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
        for (let k = 0; k < classes; k++) reference[i * classes + k] = Math.exp(row[k] - max) / sum;
      }
      const y = softmax(Tensor.from(x, [n, classes], { device }));
      expectClose(y.toArray(), reference, { atol: 1e-7, rtol: 2e-6 }, `N ${n}, C ${classes}`);
    }
  });
  test('rejects a rank-1 input', () => {
    expect(() => softmax(Tensor.zeros([3], { device }))).toThrow('Expected a tensor of rank 2 for x but received shape [3]');
  });
});
