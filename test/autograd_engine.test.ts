// What the engine and the memory do that keeps an autograd training step cheap, checked for the
// results they must still give: backward() numbers its passes instead of keeping a visited set and a
// map per pass (a backward() nested in a rule, through nodes the outer pass has still to run, must
// not disturb it); tidy() frees last-made first, so a step run again gets each tensor the buffer it
// had; a loss's value is read out of its statistics with one kernel call (ops scaledElement).
// Integer-valued data throughout: every expected value is exact in float32.
//   npx vitest run test/autograd_engine.test.ts
import { describe, expect, test } from 'vitest';
import { autograd, enableGrad, Tensor, tidy } from '../lib';
import { scaledElement } from '../lib/ops/elementwise';

describe('backward() passes', () => {
  test('a backward() inside a rule, through a node the outer pass has yet to run, leaves the outer pass intact', () => {
    const x = Tensor.from([1, 2, 3], undefined, { requiresGrad: true });
    const a = x.mul(2); // the shared node: both passes run through it
    /** Identity forward; its backward first runs a backward of its own through a: x.grad += 3·2. */
    class Reentrant extends autograd.Function {
      static override forward(_ctx: autograd.Context, t: Tensor): Tensor {
        return t.clone();
      }
      static override backward(_ctx: autograd.Context, dy: Tensor): Tensor {
        enableGrad(() => a.mul(3).sum()).backward(undefined, { retainGraph: true });
        return dy;
      }
    }
    // d/dx of sum(a) + sum(Reentrant(a)) = 2 + 2, plus the inner pass's 6.
    a.sum().add(Reentrant.apply(a).sum()).backward();
    expect(Array.from(x.grad!.toArray())).toEqual([10, 10, 10]);
  });

  test('two roots and a leaf root in one call, then a second backward through a retained graph', () => {
    const x = Tensor.from([1, -2], undefined, { requiresGrad: true });
    const h = x.mul(x);
    const y1 = h.sum();
    const y2 = h.mul(3).sum();
    autograd.backward([y1, x.sum(), y2], undefined, { retainGraph: true });
    // (1 + 3)·2x + 1
    expect(Array.from(x.grad!.toArray())).toEqual([9, -15]);
    y1.backward();
    expect(Array.from(x.grad!.toArray())).toEqual([11, -19]);
  });
});

describe('tidy() and the pool', () => {
  test('a scope run again gets each tensor the buffer it had the last time', () => {
    const x = Tensor.from([1, 2, 3, 4]);
    const step = () => {
      const buffers: unknown[] = [];
      tidy(() => {
        const a = x.add(1);
        const b = a.mul(2); // the same size as a: the pool must not swap them
        const c = b.sub(a);
        buffers.push(a.data, b.data, c.data);
        expect(Array.from(c.data)).toEqual([2, 3, 4, 5]);
      });
      return buffers;
    };
    step();
    const first = step();
    const second = step();
    expect(second).toHaveLength(3);
    second.forEach((buffer, i) => expect(buffer).toBe(first[i]));
  });
});

describe('scaledElement', () => {
  test('one element times a factor, as a 0-d tensor; any factor (NaN: a mean over no samples)', () => {
    const stats = Tensor.from([6, 3]);
    const half = scaledElement(stats, 0, 0.5);
    expect(half.shape).toEqual([]);
    expect(half.item()).toBe(3);
    expect(scaledElement(stats, 1, -2).item()).toBe(-6);
    expect(scaledElement(stats, 0, NaN).item()).toBeNaN();
  });

  test('bad arguments name themselves', () => {
    const stats = Tensor.from([6, 3]);
    expect(() => scaledElement(stats, 2, 1)).toThrow(/Expected an element index in \[0, 1\] for index but received 2/);
    expect(() => scaledElement(stats, 0, '1' as unknown as number)).toThrow(/Expected a number for factor/);
    expect(() => scaledElement(Tensor.from(new Int32Array([1])), 0, 1)).toThrow(/for x/);
  });
});
