import { describe, expect, test } from 'vitest';
import { Tensor, nn, tidy, noGrad, autograd, memoryStats } from '../lib';

describe('autograd smoke', () => {
  test('nested data, basic grads', () => {
    const x = Tensor.from([[1, 2], [3, 4]], undefined, { requiresGrad: true });
    expect(x.shape).toEqual([2, 2]);
    const y = x.mul(x).sum();
    y.backward();
    expect(Array.from(x.grad!.toArray())).toEqual([2, 4, 6, 8]);
  });
  test('reused linear gets both contributions', () => {
    const lin = new nn.Linear(3, 3);
    const x = Tensor.from([[1, 2, 3]]);
    const out = lin.forward(lin.forward(x)).sum();
    out.backward();
    expect(lin.weight.grad.toArray().some((v) => v !== 0)).toBe(true);
  });
  test('custom module discovery', () => {
    class MLP extends nn.Module {
      fc1 = new nn.Linear(4, 8);
      blocks = [new nn.Linear(8, 8), new nn.Linear(8, 8)];
      fc2 = new nn.Linear(8, 2);
      forward(x: Tensor): Tensor {
        let h = this.fc1.forward(x).relu();
        for (const b of this.blocks) h = b.forward(h).relu();
        return this.fc2.forward(h);
      }
    }
    const m = new MLP();
    expect(m.namedParameters().map(([n]) => n)).toEqual(['fc1.weight', 'fc1.bias', 'blocks.0.weight', 'blocks.0.bias', 'blocks.1.weight', 'blocks.1.bias', 'fc2.weight', 'fc2.bias']);
    const x = Tensor.from(new Float32Array(4 * 5).map((_, i) => Math.sin(i)), [5, 4]);
    const y = Tensor.from([0, 1, 0, 1, 1], [5], { dtype: 'int32' });
    const loss = nn.functional.crossEntropy(m.forward(x), y);
    loss.backward();
    expect(Number.isFinite(loss.item())).toBe(true);
    expect(m.fc1.weight.grad.toArray().some((v) => v !== 0)).toBe(true);
  });
  test('tidy frees', () => {
    const x = Tensor.from([1, 2, 3], undefined, { requiresGrad: true });
    const before = memoryStats();
    for (let i = 0; i < 5; i++) tidy(() => x.mul(2).add(1).exp().sum().backward());
    const after = memoryStats();
    expect(after.poolHits).toBeGreaterThan(before.poolHits);
    expect(Array.from(x.grad!.toArray()).map((v) => Math.round(v))).toEqual([5 * 2 * Math.round(Math.exp(3)), 5 * 2 * Math.round(Math.exp(5)), 5 * 2 * Math.round(Math.exp(7))].map((v, i) => Math.round(5 * 2 * Math.exp(2 * (i + 1) + 1))));
  });
});
