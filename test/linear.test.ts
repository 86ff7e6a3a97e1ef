// linear / linearBackward (native/kernels/linear) against PyTorch's F.linear and autograd
// (test/fixtures/linear.fixture, scripts/fixtures/linear.py).
//
// Tolerance (test/helpers/tolerance.ts): each result is a float32 sum of K terms — y over
// in_features, dx over out_features, dW and db over the batch — so
//   elementwise  |out − ref| ≤ 8·2⁻²⁴·√K·rms(ref) + 4·2⁻²⁴·|ref|,   ‖out − ref‖₂/‖ref‖₂ ≤ 2·2⁻²⁴·√K.
// Accumulated gradients (old + new) are checked against old + ref with the same bound plus one
// rounding of the sum (4·2⁻²⁴·|ref| already covers it).
import { describe, expect, test } from 'vitest';
import { type LinearGrads, linear, linearBackward } from '../lib/ops/linear';
import { native } from '../lib/native';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import type { Device } from '../lib/device';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { randomArray } from './helpers/random_values';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { sumTolerance, sumTolerances } from './helpers/tolerance';

function poisoned(shape: number[], device: Device): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = [NaN, Infinity, -Infinity][i % 3];
  return Tensor.from(values, shape, { device });
}

describe.each(DEVICES)('linear on %s', (device) => {
  for (const c of loadFixtures('linear')) {
    const { n, in: inFeatures, out: outFeatures, bias: hasBias } = c.params;
    // y sums over in_features, dx over out_features, dW and db over the batch.
    const tolerances = sumTolerances({ y: inFeatures, dx: outFeatures, dw: n, db: n });

    test(`${c.name}: forward, dx, dw, db`, () => {
      const x = c.tensor('x', device);
      const w = c.tensor('w', device);
      const b = hasBias ? c.tensor('b', device) : null;
      const y = linear(x, w, b, poisoned([n, outFeatures], device));
      expect(linear(x, w, b).toArray()).toEqual(y.toArray());
      checkOp(c, { y, ...linearBackward(c.tensor('dy', device), x, w, { biasGrad: hasBias }) }, tolerances);
    });

    test(`${c.name}: gradients into given tensors, overwritten (NaN ignored) or accumulated`, () => {
      const x = c.tensor('x', device);
      const w = c.tensor('w', device);
      const dy = c.tensor('dy', device);
      // Overwrite: old contents (NaN, inf) must not leak in.
      const out: Partial<LinearGrads> = {
        dx: poisoned([n, inFeatures], device),
        dw: poisoned([outFeatures, inFeatures], device),
        db: hasBias ? poisoned([outFeatures], device) : undefined,
      };
      const g = linearBackward(dy, x, w, { biasGrad: hasBias, out });
      expect(g.dx).toBe(out.dx);
      expect(g.dw).toBe(out.dw);
      checkOp(c, { ...g }, tolerances, { label: 'into out' });

      // Accumulate: old + new, like a second backward into PyTorch's .grad.
      const dw0 = new Float32Array(outFeatures * inFeatures).map((_, i) => Math.sin(i));
      const db0 = new Float32Array(outFeatures).map((_, i) => Math.cos(i));
      const acc = linearBackward(dy, x, w, {
        inputGrad: false,
        biasGrad: hasBias,
        accumulate: true,
        out: { dw: Tensor.from(dw0.slice(), [outFeatures, inFeatures], { device }), db: hasBias ? Tensor.from(db0.slice(), [outFeatures], { device }) : undefined },
      });
      expect(acc.dx).toBeNull();
      // old + ref, within the bound of ref itself (its 4·2⁻²⁴·|old + ref| covers the sum's rounding).
      const accumulated = (name: 'dw' | 'db', old: Float32Array) => {
        const reference = { shape: c.get(name).shape, data: c.f64(name).map((v, i) => v + old[i]) };
        checkOp(c, { [name]: acc[name] }, sumTolerance(n, c.f64(name)), { label: 'accumulated', references: { [name]: reference } });
      };
      accumulated('dw', dw0);
      if (hasBias) accumulated('db', db0);
    });
  }

  test('results are bit-identical with 1 thread and with the default pool', () => {
    for (const c of loadFixtures('linear')) {
      const x = c.tensor('x', device);
      const w = c.tensor('w', device);
      const b = c.params.bias ? c.tensor('b', device) : null;
      const dy = c.tensor('dy', device);
      expectSameBitsAcrossThreads(() => {
        const g = linearBackward(dy, x, w, { biasGrad: b !== null });
        return [linear(x, w, b), g.dx!, g.dw, ...(g.db ? [g.db] : [])];
      }, `${c.name} `);
    }
  });

  test('weight and bias gradients over a long, odd batch (1001 rows) against float64 sums', () => {
    // K = 1001 for dW and db: split along the batch on CUDA (dW), and a bias gradient whose rows do
    // not divide evenly among its summing threads, over several column blocks (70 columns).
    const n = 1001, inFeatures = 3, outFeatures = 70;
    // Pseudo-random terms (test/helpers/random_values.ts), whose sums grow like √K.
    const xs = randomArray(n * inFeatures, 1), dys = randomArray(n * outFeatures, 2), ws = randomArray(outFeatures * inFeatures, 3);
    const g = linearBackward(Tensor.from(dys, [n, outFeatures], { device }), Tensor.from(xs, [n, inFeatures], { device }),
      Tensor.from(ws, [outFeatures, inFeatures], { device }), { inputGrad: false });
    const dw = new Float64Array(outFeatures * inFeatures);
    const db = new Float64Array(outFeatures);
    for (let i = 0; i < n; i++) {
      for (let o = 0; o < outFeatures; o++) {
        db[o] += dys[i * outFeatures + o];
        for (let f = 0; f < inFeatures; f++) dw[o * inFeatures + f] += dys[i * outFeatures + o] * xs[i * inFeatures + f];
      }
    }
    expectClose(g.dw.toArray(), dw, sumTolerance(n, dw), 'dw');
    expectClose(g.db!.toArray(), db, sumTolerance(n, db), 'db');
  });

  test('an empty batch gives an empty output and zero weight gradients', () => {
    const x = Tensor.zeros([0, 3], { device });
    const w = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3], { device });
    expect(linear(x, w, Tensor.from([1, 2], [2], { device })).shape).toEqual([0, 2]);
    const g = linearBackward(Tensor.zeros([0, 2], { device }), x, w, { out: { dw: poisoned([2, 3], device), db: poisoned([2], device) } });
    expect(Array.from(g.dw.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
    expect(Array.from(g.db!.toArray())).toEqual([0, 0]);
  });

  test('rejects bad arguments, naming them', () => {
    const x = Tensor.zeros([4, 3], { device });
    const w = Tensor.zeros([2, 3], { device });
    const b = Tensor.zeros([2], { device });
    const dy = Tensor.zeros([4, 2], { device });
    expect(() => linear({} as never, w, b)).toThrow('Expected a Tensor for x but received an object');
    expect(() => linear(Tensor.zeros([12], { device }), w, b)).toThrow('Expected a tensor of rank 2 for x but received shape [12]');
    expect(() => linear(x, Tensor.zeros([2, 4], { device }), b)).toThrow("Expected a weight with 3 columns (x's in_features) for weight but received shape [2, 4]");
    expect(() => linear(x, w, Tensor.zeros([3], { device }))).toThrow('Expected shape [2] for bias but received [3]');
    expect(() => linear(x, w, 'b' as never)).toThrow('Expected a Tensor for bias but received "b"');
    expect(() => linear(x, w, b, Tensor.zeros([2, 4], { device }))).toThrow('Expected shape [4, 2] for out but received [2, 4]');

    expect(() => linearBackward(Tensor.zeros([4], { device }), x, w)).toThrow('Expected a tensor of rank 2 for dy but received shape [4]');
    expect(() => linearBackward(dy, Tensor.zeros([5, 3], { device }), w)).toThrow("Expected a tensor with 4 rows (dy's batch) for x but received shape [5, 3]");
    expect(() => linearBackward(dy, x, Tensor.zeros([3, 3], { device }))).toThrow('Expected shape [2, 3] for weight but received [3, 3]');
    expect(() => linearBackward(dy, x, w, { inputGrad: 'yes' as never })).toThrow('Expected a boolean for options.inputGrad but received "yes"');
    expect(() => linearBackward(dy, x, w, { accumulate: true })).toThrow('Expected the gradient to accumulate into for options.out.dw but received undefined');
    expect(() => linearBackward(dy, x, w, { accumulate: true, out: { dw: Tensor.zeros([2, 3], { device }) } })).toThrow('Expected the gradient to accumulate into for options.out.db but received undefined');
    expect(() => linearBackward(dy, x, w, { out: { dw: Tensor.zeros([3, 2], { device }) } })).toThrow('Expected shape [2, 3] for options.out.dw but received [3, 2]');
    expect(() => linearBackward(dy, x, w, { out: { dW: null } } as never)).toThrow('Expected one of the options dx, dw, db for options.out but received "dW"');
  });
});

describe('linear native surface', () => {
  test('a buffer too small for the sizes is a RangeError naming it', () => {
    const addon = native();
    const y = new Float32Array(8);
    const x = new Float32Array(12);
    const w = new Float32Array(6);
    expect(() => addon.linearForward(y, x, new Float32Array(5), null, 4, 3, 2)).toThrow(new RangeError('Expected at least 6 elements for w but received 5'));
    expect(() => addon.linearForward(y, x, w, new Float32Array(1), 4, 3, 2)).toThrow('Expected at least 2 elements for b but received 1');
    expect(() => addon.linearBackward(null, new Float32Array(6), null, new Float32Array(7), x, w, 4, 3, 2, false)).toThrow('Expected at least 8 elements for dy but received 7');
    expect(() => addon.linearBackward(new Float32Array(11), new Float32Array(6), null, y, x, w, 4, 3, 2, false)).toThrow('Expected at least 12 elements for dx but received 11');
  });
});
