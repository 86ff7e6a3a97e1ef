// Sequential: the layers in order, parameter names as in PyTorch, the summary, and the ReLU/MaxPool2d
// reordering, which must not change any value or gradient (compared with the layers run by hand in
// the written order, bit for bit, on inputs with many exact zeros and ties).
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { seedNetwork } from '../lib/chapter/models';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';

function input(g: Generator): Tensor {
  // Integer-valued pixels: the convolution produces ties and exact zeros.
  return Tensor.from(Float32Array.from({ length: 4 * 784 }, () => g.int(3) - 1), [4, 1, 28, 28]);
}

describe('Sequential', () => {
  test('ReLU before MaxPool2d runs after it, with identical outputs and gradients', () => {
    const g = new Generator(11);
    const a = seedNetwork({ generator: new Generator(2) });
    const b = seedNetwork({ generator: new Generator(2) });
    const x = input(g);
    const dy = Tensor.from(Float32Array.from({ length: 40 }, () => g.normal()), [4, 10]);
    const viaSequential = explicit(() => a.forward(x)).toArray();
    a.backward(dy);
    let h = x;
    for (const layer of b.layers) h = explicit(() => layer.forward(h));
    let d: Tensor | null = dy;
    for (let i = b.layers.length - 1; i >= 0; i--) {
      b.layers[i].inputGrad = i > 0;
      d = b.layers[i].backward(d!);
    }
    expect(viaSequential).toEqual(h.toArray());
    const gradsA = a.namedParameters().map(([n, p]) => [n, Array.from(p.grad.toArray())]);
    const gradsB = b.namedParameters().map(([n, p]) => [n, Array.from(p.grad.toArray())]);
    expect(gradsA).toEqual(gradsB);
  });

  test('parameter names follow PyTorch and the summary shows shapes and counts', () => {
    const model = seedNetwork();
    expect(model.namedParameters().map(([n, p]) => `${n} [${p.shape.join(', ')}]`)).toEqual([
      '0.weight [8, 1, 5, 5]',
      '0.bias [8]',
      '4.weight [10, 1152]',
      '4.bias [10]',
    ]);
    const summary = model.summary([64, 1, 28, 28]);
    expect(summary).toContain('[N, 8, 24, 24]');
    expect(summary).toContain('[N, 8, 12, 12]');
    expect(summary).toContain('[N, 1152]');
    expect(summary).toContain('11,738 trainable parameters');
  });

  test('a non-module is refused', () => {
    expect(() => new (seedNetwork().constructor as any)(1)).toThrow('Expected a Module for layers[0] but received number');
  });
});
