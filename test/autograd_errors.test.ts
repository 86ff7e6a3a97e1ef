// Misuse of autograd gives a clear error that names what is wrong (issue 14's "Done when"), never a
// wrong gradient: backward() on a non-scalar without a gradient, shapes that do not broadcast, an
// in-place change (add_, copyFrom, an optimizer step) of a tensor a recorded op saved, backward twice
// without retainGraph, tensors on different devices in one op, requiresGrad on an int32 tensor, a
// custom Function whose backward returns the wrong number or shape of gradients, Module.backward(dy)
// after a recorded forward, a layer applied twice inside explicit() then backward(dy), a tensor used
// after tidy() freed it, ragged or non-numeric data given to tensor(). Each test asserts the message.
import { describe, expect, test } from 'vitest';
import { add, autograd, explicit, matmul, mul, nn, optim, Tensor, tensor, tidy, zeros } from '../lib';
import { DEVICES } from './helpers/devices';

const F = nn.functional;

describe('backward() on what it cannot differentiate', () => {
  test('a non-scalar without a gradient names the shape and says what to pass', () => {
    const x = tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    const y = x.mul(2);
    expect(() => y.backward()).toThrow(/Expected a gradient for backward\(\) on tensor of shape \[2, 3\].*only a one-element tensor.*t\.backward\(gradient\)/s);
  });

  test('a gradient of the wrong shape names both shapes', () => {
    const y = tensor([1, 2, 3], { requiresGrad: true }).exp();
    expect(() => y.backward(zeros([2]))).toThrow('Expected a gradient of shape [3] for tensor but received shape [2]');
  });

  test('a tensor nothing recorded leads to', () => {
    const y = tensor([1, 2]).mul(3);
    expect(() => y.sum().backward()).toThrow(/Expected a tensor that requires grad for backward\(\) but received Tensor\(shape=\[\]/);
  });

  test('backward twice without retainGraph names the freed op and the option', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const loss = x.exp().sum();
    loss.backward();
    expect(() => loss.backward()).toThrow(/Trying to run backward through SumBackward a second time.*retainGraph: true/s);
  });

  test('backward twice through a shared part of two graphs names the op that was freed', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const h = x.exp();
    h.sum().backward();
    expect(() => h.mul(2).sum().backward()).toThrow(/through ExpBackward a second time/);
  });
});

describe('shapes', () => {
  test('a broadcasting mismatch names both shapes', () => {
    const a = tensor([[1, 2, 3], [4, 5, 6]], { requiresGrad: true });
    expect(() => add(a, zeros([4]))).toThrow(/Expected shapes that broadcast together.*\[2, 3\].*\[4\]/s);
    expect(() => mul(zeros([3, 1, 5]), zeros([2, 4]))).toThrow(/\[3, 1, 5\].*\[2, 4\]/s);
  });

  test('matmul with mismatched inner dimensions names both shapes', () => {
    expect(() => matmul(zeros([2, 3]), zeros([4, 5]))).toThrow(/\[2, 3\].*\[4, 5\]/s);
  });
});

describe('in-place changes of saved tensors', () => {
  test('add_() on a tensor mul saved: backward names the op and the version', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const w = tensor([4, 5, 6]);
    const y = x.mul(w).sum();
    w.add_(1);
    expect(() => y.backward()).toThrow(/A tensor that MulBackward saved for backward .* was changed in place after it was saved \(version 1, saved at version 0\)/);
  });

  test('copyFrom() into a tensor log saved: backward names the op', () => {
    const base = tensor([1, 2, 3], { requiresGrad: true });
    const x = base.mul(1);
    const y = x.log().sum();
    x.copyFrom([3, 2, 1]);
    expect(() => y.backward()).toThrow(/A tensor that LogBackward saved for backward .* was changed in place/);
  });

  test('an optimizer step between forward and backward: backward names the layer Function', () => {
    const layer = new nn.Linear(3, 2);
    const opt = new optim.SGD(layer.parameters(), { lr: 0.1 });
    const loss = layer.forward(tensor([[1, 2, 3]])).sum();
    layer.weight.grad.fill_(1);
    opt.step();
    expect(() => loss.backward()).toThrow(/A tensor that LinearFunction saved for backward .* was changed in place/);
  });

  test('add_() on a leaf that requires grad is refused while recording', () => {
    const x = tensor([1, 2], { requiresGrad: true });
    expect(() => x.add_(1)).toThrow(/Expected a tensor that does not require grad for add_\(\) while gradients are recorded/);
  });
});

describe.skipIf(!DEVICES.includes('cuda:0'))('devices', () => {
  test('two tensors on different devices in one op name both devices', () => {
    const a = tensor([1, 2, 3], { requiresGrad: true });
    const b = tensor([1, 2, 3], { device: 'cuda' });
    expect(() => a.add(b)).toThrow(/cpu.*cuda|cuda.*cpu/s);
    expect(() => matmul(tensor([[1, 2]]), tensor([[1], [2]], { device: 'cuda' }))).toThrow(/cpu.*cuda|cuda.*cpu/s);
    expect(() => F.linear(tensor([[1, 2]], { device: 'cuda' }), tensor([[1, 2]]))).toThrow(/cpu.*cuda|cuda.*cpu/s);
  });

  test('a gradient on the wrong device names both devices', () => {
    const y = tensor([1, 2], { device: 'cuda', requiresGrad: true }).exp();
    expect(() => y.backward(tensor([1, 1]))).toThrow('Expected a gradient on cuda:0 for tensor but received one on cpu');
  });
});

describe('binaryCrossEntropyWithLogits', () => {
  test('a posWeight that requires grad is refused (not differentiable, as in PyTorch) instead of getting no gradient', () => {
    const posWeight = tensor([2, 3], { requiresGrad: true });
    expect(() => F.binaryCrossEntropyWithLogits(tensor([[1, -1]], { requiresGrad: true }), tensor([[1, 0]]), { posWeight }))
      .toThrow(/Expected a posWeight that does not require grad .* for options\.posWeight but received/);
  });
});

describe('requiresGrad', () => {
  test('on an int32 tensor: only float32 tensors have gradients', () => {
    const labels = tensor([1, 2, 3], { dtype: 'int32' });
    expect(() => (labels.requiresGrad = true)).toThrow('Expected a float32 tensor for requiresGrad but received an int32 tensor');
    expect(() => tensor([1, 2], { dtype: 'int32', requiresGrad: true })).toThrow(/float32 tensor for requiresGrad/);
  });

  test('on a non-leaf: names the op and suggests detach()', () => {
    const y = tensor([1, 2], { requiresGrad: true }).exp();
    expect(() => (y.requiresGrad = false)).toThrow(/Expected a leaf tensor for requiresGrad .* computed by ExpBackward: use detach\(\)/);
  });
});

describe('a custom autograd.Function whose backward is wrong', () => {
  test('too many gradients', () => {
    class TooMany extends autograd.Function {
      static override forward(_ctx: autograd.Context, x: Tensor): Tensor {
        return x.mul(2);
      }
      static override backward(_ctx: autograd.Context, dy: Tensor): Tensor[] {
        return [dy, dy];
      }
    }
    const y = TooMany.apply(tensor([1, 2], { requiresGrad: true })).sum();
    expect(() => y.backward()).toThrow('Expected TooMany.backward to return at most 1 gradients (one per forward argument) but it returned 2');
  });

  test('too few: no gradient for an argument that requires one', () => {
    class TooFew extends autograd.Function {
      static override forward(_ctx: autograd.Context, a: Tensor, b: Tensor): Tensor {
        return a.mul(b);
      }
      static override backward(_ctx: autograd.Context, dy: Tensor): Tensor[] {
        return [dy];
      }
    }
    const b = tensor([3, 4], { requiresGrad: true });
    const y = TooFew.apply(tensor([1, 2], { requiresGrad: true }), b).sum();
    expect(() => y.backward()).toThrow('Expected TooFew.backward to return a gradient (or null) for argument 1, which requires grad, but it returned 1 gradient');
  });

  test('a gradient of the wrong shape names the Function, the input and both shapes', () => {
    class WrongShape extends autograd.Function {
      static override forward(_ctx: autograd.Context, x: Tensor): Tensor {
        return x.sum();
      }
      static override backward(_ctx: autograd.Context, dy: Tensor): Tensor {
        return dy;
      }
    }
    const y = WrongShape.apply(tensor([1, 2, 3], { requiresGrad: true }));
    expect(() => y.backward()).toThrow('Expected a gradient of shape [3] (the input\'s shape) from the backward of WrongShape for input 0 but received shape []');
  });

  test('not a tensor', () => {
    class NotATensor extends autograd.Function {
      static override forward(_ctx: autograd.Context, x: Tensor): Tensor {
        return x.mul(1);
      }
      static override backward(): any {
        return [2];
      }
    }
    const y = NotATensor.apply(tensor([1, 2], { requiresGrad: true })).sum();
    expect(() => y.backward()).toThrow(/Expected a Tensor \(or null\) from the backward of NotATensor for input 0 but received/);
  });

  test('forward returning something else than tensors', () => {
    class Bad extends autograd.Function {
      static override forward(_ctx: autograd.Context, _x: Tensor): any {
        return 3;
      }
      static override backward(): null {
        return null;
      }
    }
    expect(() => Bad.apply(tensor([1], { requiresGrad: true }))).toThrow(/Expected Bad\.forward to return a Tensor or an array of Tensors but output 0 is/);
  });
});

describe('explicit-style Module.backward(dy)', () => {
  test('after a recorded (non-explicit) forward: says to use backward() on the loss', () => {
    const layer = new nn.Linear(3, 2);
    layer.forward(tensor([[1, 2, 3]]));
    expect(() => layer.backward(zeros([1, 2]))).toThrow(/Linear\.backward\(\) needs a forward\(\) first.*explicit\(\).*backward\(\) on the loss/s);
  });

  test('after an explicit forward then a recorded one: refuses (the saved input is the explicit one\'s)', () => {
    const layer = new nn.Linear(3, 2);
    explicit(() => layer.forward(tensor([[1, 2, 3]])));
    layer.forward(tensor([[7, 8, 9]]));
    expect(() => layer.backward(zeros([1, 2]))).toThrow(/Linear\.backward\(\) needs a forward\(\) first/);
  });

  test('a Sequential, fused conv + pool included, after an explicit forward then a recorded one: refuses', () => {
    const x = tensor(new Float32Array(2 * 6 * 6).map((_, i) => Math.sin(i)), [1, 2, 6, 6]);
    const convPool = new nn.Sequential(new nn.Conv2d(2, 3, 3), new nn.MaxPool2d(2));
    explicit(() => convPool.forward(x));
    convPool.forward(x);
    expect(() => convPool.backward(zeros([1, 3, 2, 2]))).toThrow(/backward\(\) needs a forward\(\) first/);
    const mlp = new nn.Sequential(new nn.Linear(3, 4), new nn.ReLU(), new nn.Linear(4, 2));
    explicit(() => mlp.forward(tensor([[1, 2, 3]])));
    mlp.forward(tensor([[1, 2, 3]]));
    expect(() => mlp.backward(zeros([1, 2]))).toThrow(/Linear\.backward\(\) needs a forward\(\) first \(the last forward\(\) was recorded by autograd/);
  });

  test('a recorded forward, then an explicit one: backward(dy) differentiates the explicit one', () => {
    const layer = new nn.Linear(3, 1, { bias: false });
    layer.forward(tensor([[7, 8, 9]]));
    explicit(() => layer.forward(tensor([[1, 2, 3]])));
    layer.backward(tensor([[2]]));
    expect(Array.from(layer.weight.grad.toArray())).toEqual([2, 4, 6]);
  });

  test('a layer applied twice inside explicit() then backward(dy): refused, naming the count', () => {
    const layer = new nn.Linear(2, 2);
    explicit(() => layer.forward(layer.forward(tensor([[1, 2]]))));
    expect(() => layer.backward(zeros([1, 2]))).toThrow(/Linear\.backward\(dy\) differentiates the last forward\(\) only, but the layer was applied 2 times in one explicit\(\) pass.*loss\.backward\(\)/s);
  });

  test('a module written with forward() only has no explicit backward', () => {
    class Net extends nn.Module {
      fc = new nn.Linear(2, 2);
      forward(x: Tensor): Tensor {
        return this.fc.forward(x);
      }
    }
    expect(() => new Net().backward(zeros([1, 2]))).toThrow(/Net has no explicit backward\(dy\): it is differentiated by autograd/);
  });
});

describe('memory', () => {
  test('a tensor freed by tidy() and used afterwards says it was disposed', () => {
    let kept: Tensor | undefined;
    const x = tensor([1, 2, 3], { requiresGrad: true });
    tidy(() => {
      kept = x.mul(2);
      return x.sum();
    });
    expect(() => kept!.add(1)).toThrow('Expected a live tensor for a but it was disposed');
    expect(() => kept!.toArray()).toThrow(/Tensor\(shape=\[3\].*was disposed \(by dispose\(\) or at the end of a tidy\(\) scope\)/);
  });

  test('the graph of a tensor returned from tidy() survives, and backward works', () => {
    const x = tensor([1, 2, 3], { requiresGrad: true });
    const loss = tidy(() => x.mul(2).exp().sum());
    loss.backward();
    expect(Array.from(x.grad!.toArray())).toEqual([1, 2, 3].map((v) => Math.fround(2 * Math.fround(Math.exp(2 * v)))));
  });
});

describe('tensor() data', () => {
  test('ragged nested arrays name the position', () => {
    expect(() => tensor([[1, 2], [3]])).toThrow('Expected an array of length 2 for data[1] but received [3] of length 1 (the data is ragged)');
    expect(() => tensor([[1, 2], 3] as any)).toThrow(/Expected an array of length 2 \(the data is ragged\) for data\[1\] but received 3/);
    expect(() => tensor([[[1], [2]], [[3], [4, 5]]])).toThrow(/for data\[1\]\[1\]/);
  });

  test('non-numeric values name the position', () => {
    expect(() => tensor([[1, 2], [3, 'a']] as any)).toThrow(/Expected a number for data\[1\]\[1\] but received/);
    expect(() => tensor([1, null, 3] as any)).toThrow(/Expected a number for data\[1\] but received null/);
  });

  test('data that does not fill the shape names both', () => {
    expect(() => tensor([1, 2, 3], [2, 2])).toThrow('Expected 4 values for data (shape [2, 2]) but received 3');
  });
});
