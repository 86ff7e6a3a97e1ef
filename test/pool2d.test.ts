// Max and average pooling against PyTorch (test/fixtures/pool2d.fixture, scripts/fixtures/pool2d.py).
//
// Tolerances (float32 result vs float64 reference):
//   max-pool y and indices: exact. Max pooling only selects values, and the indices must equal
//     PyTorch's return_indices, ties, -inf and NaN windows included.
//   max-pool dx: atol 1e-6, rtol 1e-6, relNorm 5e-7. Non-overlapping windows route single dy values
//     (exact); overlapping ones add up to ⌈k/s⌉² ≤ 9 float32 values, a relative rounding of at most
//     8·2⁻²⁴ ≈ 4.8e-7 per element (atol covers cancellation). Measured: max 4.8e-7, rel L2 4.7e-8.
//   avg-pool y and dx: atol 1e-6, rtol 1e-6, relNorm 1e-6. A float32 sum of at most 16 terms and one
//     division: ≲ 16·2⁻²⁴ ≈ 1e-6 relative. Measured: max 1.4e-7, rel L2 6.4e-8.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, pool2dOutputShape, type AvgPool2dOptions } from '../lib/ops/pool2d';
import { Tensor } from '../lib/tensor';
import { expectClose, type Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';

const EXACT: Tolerance = { atol: 0, rtol: 0, relNorm: 0 };
const MAX_DX: Tolerance = { atol: 1e-6, rtol: 1e-6, relNorm: 5e-7 };
const AVG: Tolerance = { atol: 1e-6, rtol: 1e-6, relNorm: 1e-6 };

const cases = loadFixtures('pool2d');

/** expectClose where the reference is finite; elsewhere (±Infinity, NaN) the same value exactly. */
function expectCloseWithNonFinite(actual: ArrayLike<number>, reference: ArrayLike<number>, tol: Tolerance, label: string): void {
  expect(actual.length).toBe(reference.length);
  const finite: number[] = [];
  for (let i = 0; i < reference.length; i++) {
    if (Number.isFinite(reference[i])) finite.push(i);
    else if (!Object.is(actual[i], reference[i])) throw new Error(`${label}: [${i}] ${actual[i]} vs ${reference[i]}`);
  }
  expectClose(
    finite.map((i) => actual[i]),
    finite.map((i) => reference[i]),
    tol,
    label,
  );
}

function optionsOf(c: FixtureCase): AvgPool2dOptions {
  const p = c.params;
  return { kernelSize: p.kernelSize, stride: p.stride, padding: p.padding, countIncludePad: p.countIncludePad };
}

/** PyTorch's dx when the fixture stores only its indices (the seed case): dy added at each index. */
function scatterReference(c: FixtureCase): Float64Array {
  const [n, ch, h, w] = c.get('x').shape;
  const dy = c.f64('dy');
  const indices = c.i32('indices');
  const perPlane = dy.length / (n * ch);
  const dx = new Float64Array(n * ch * h * w);
  for (let i = 0; i < dy.length; i++) dx[Math.floor(i / perPlane) * h * w + indices[i]] += dy[i];
  return dx;
}

describe.each(DEVICES)('pool2d on %s', (device) => {
  const load = (c: FixtureCase, name: string) => Tensor.from(c.f32(name), c.get(name).shape, { device });

  for (const c of cases) {
    test(c.name, () => {
      const x = load(c, 'x');
      const dy = load(c, 'dy');
      const options = optionsOf(c);
      expect(pool2dOutputShape(x.shape, options)).toEqual(c.get('y').shape);
      if (c.params.op === 'max') {
        const { y, indices } = maxPool2d(x, options);
        expect(y.shape).toEqual(c.get('y').shape);
        expect(indices.dtype).toBe('int32');
        expectCloseWithNonFinite(y.toArray(), c.f64('y'), EXACT, `${c.name} y`);
        expect(indices.toArray()).toEqual(c.i32('indices'));
        const dx = maxPool2dBackward(dy, indices, x.shape);
        const reference = c.has('dx') ? c.f64('dx') : scatterReference(c);
        expectClose(dx.toArray(), reference, MAX_DX, `${c.name} dx`);
      } else {
        const y = avgPool2d(x, options);
        expectClose(y.toArray(), c.f64('y'), AVG, `${c.name} y`);
        const dx = avgPool2dBackward(dy, x.shape, options);
        expectClose(dx.toArray(), c.f64('dx'), AVG, `${c.name} dx`);
      }
    });
  }

  test('preallocated outputs are used, and dx is overwritten, not added to', () => {
    const c = cases.find((k) => k.name === 'max/overlap_k3s1p1')!;
    const x = load(c, 'x');
    const options = optionsOf(c);
    const out = { y: Tensor.zeros(c.get('y').shape, { device }), indices: Tensor.zeros(c.get('y').shape, { device, dtype: 'int32' }) };
    const result = maxPool2d(x, options, out);
    expect(result.y).toBe(out.y);
    expect(result.indices).toBe(out.indices);
    const dxOut = Tensor.from(new Float32Array(x.size).fill(123), x.shape, { device });
    expect(maxPool2dBackward(load(c, 'dy'), out.indices, x.shape, dxOut)).toBe(dxOut);
    expectClose(dxOut.toArray(), c.f64('dx'), MAX_DX, 'max dx into a dirty out');

    const a = cases.find((k) => k.name === 'avg/overlap_k3s1p1_exclude_pad')!;
    const yOut = Tensor.from(new Float32Array(a.f64('y').length).fill(-7), a.get('y').shape, { device });
    expect(avgPool2d(load(a, 'x'), optionsOf(a), yOut)).toBe(yOut);
    expectClose(yOut.toArray(), a.f64('y'), AVG, 'avg y into a dirty out');
    const adx = Tensor.from(new Float32Array(a.f64('dx').length).fill(9), a.get('x').shape, { device });
    expect(avgPool2dBackward(load(a, 'dy'), a.get('x').shape, optionsOf(a), adx)).toBe(adx);
    expectClose(adx.toArray(), a.f64('dx'), AVG, 'avg dx into a dirty out');
  });

  test('1 thread and the default thread count give bit-identical results', () => {
    const addon = native();
    const threads = addon.numThreads();
    const c = cases.find((k) => k.name.startsWith('max/seed'))!;
    const x = load(c, 'x');
    const dy = load(c, 'dy');
    const run = () => {
      const { y, indices } = maxPool2d(x, { kernelSize: 2 });
      const options = { kernelSize: 3, stride: 2, padding: 1 };
      const avg = avgPool2d(x, options);
      return [y, indices, maxPool2dBackward(dy, indices, x.shape), avg, avgPool2dBackward(avg, x.shape, options)].map((t) => t.toArray());
    };
    const parallel = run();
    try {
      addon.setNumThreads(1);
      const serial = run();
      for (let i = 0; i < serial.length; i++) expect(Buffer.from(serial[i].buffer).equals(Buffer.from(parallel[i].buffer))).toBe(true);
    } finally {
      addon.setNumThreads(threads);
    }
  });

  // The binding checks argmax indices on the CPU; on the GPU it cannot read them without waiting for
  // the device, so the CUDA kernel skips any outside the plane (cuda/pool2d.cu).
  test.runIf(device === 'cuda')('argmax indices outside the plane on the GPU are skipped, never written through', () => {
    const dy = Tensor.from(Float32Array.from({ length: 9 }, (_, i) => i + 1), [1, 1, 3, 3], { device });
    for (const bad of [36, -1, 2 ** 31 - 1, -(2 ** 31)]) {
      const indices = Int32Array.from([0, 2, 4, 12, 14, 16, 24, 26, 28]);
      indices[4] = bad;
      indices[5] = 14; // element 14 also receives output 5: the only two-way sum, with 4 skipped
      const dx = maxPool2dBackward(dy, Tensor.from(indices, [1, 1, 3, 3], { device, dtype: 'int32' }), [1, 1, 6, 6]);
      const expected = new Array(36).fill(0);
      for (let o = 0; o < 9; o++) if (o !== 4) expected[indices[o]] += o + 1;
      expect(Array.from(dx.toArray())).toEqual(expected);
    }
  });

  test('stride defaults to the kernel size; pairs and numbers are accepted', () => {
    expect(pool2dOutputShape([2, 3, 24, 24], { kernelSize: 2 })).toEqual([2, 3, 12, 12]);
    expect(pool2dOutputShape([2, 3, 7, 10], { kernelSize: [2, 3] })).toEqual([2, 3, 3, 3]);
    expect(pool2dOutputShape([1, 1, 5, 5], { kernelSize: 3, stride: 1, padding: 1 })).toEqual([1, 1, 5, 5]);
    expect(pool2dOutputShape([1, 1, 9, 7], { kernelSize: [3, 2], stride: [2, 1], padding: [1, 1] })).toEqual([1, 1, 5, 8]);
  });

  test('rejects bad inputs and options with messages naming the argument', () => {
    const x = Tensor.zeros([1, 2, 6, 6], { device });
    expect(() => maxPool2d([1, 2] as never, { kernelSize: 2 })).toThrow('Expected a Tensor for x but received [1, 2]');
    expect(() => maxPool2d(Tensor.zeros([2, 6, 6], { device }), { kernelSize: 2 })).toThrow('Expected a tensor of rank 4 for x but received shape [2, 6, 6]');
    expect(() => avgPool2d(x, undefined as never)).toThrow('Expected an options object for options but received undefined');
    expect(() => maxPool2d(x, { kernelSize: 0 })).toThrow('Expected an integer ≥ 1 for options.kernelSize but received 0');
    expect(() => maxPool2d(x, { kernelSize: [2, 2.5] as never })).toThrow('Expected an integer for options.kernelSize[1] but received 2.5');
    expect(() => avgPool2d(x, { kernelSize: 2, stride: 0 })).toThrow('Expected an integer ≥ 1 for options.stride but received 0');
    expect(() => avgPool2d(x, { kernelSize: 2, padding: -1 })).toThrow('Expected an integer ≥ 0 for options.padding but received -1');
    expect(() => maxPool2d(x, { kernelSize: 3, padding: 2 })).toThrow(
      new RangeError('Expected padding at most half the kernel size (1 for kernel 3) for options.padding but received 2'),
    );
    expect(() => maxPool2d(x, { kernelSize: [2, 4], padding: [1, 3] })).toThrow('Expected padding at most half the kernel size (2 for kernel 4) for options.padding but received [1, 3]');
    expect(() => maxPool2d(x, { kernelSize: 7 })).toThrow(new RangeError('Expected an input at least as large as the kernel [7, 7] (with padding [0, 0]) for x but received [1, 2, 6, 6]'));
    expect(() => avgPool2d(x, { kernelSize: 2, countIncludePad: 'yes' as never })).toThrow('Expected a boolean for options.countIncludePad but received "yes"');
    expect(() => pool2dOutputShape([2, 6, 6], { kernelSize: 2 })).toThrow('Expected a shape of rank 4 ([N, C, H, W]) for inputShape but received [2, 6, 6]');

    const { y, indices } = maxPool2d(x, { kernelSize: 2 });
    expect(() => maxPool2dBackward(y, y, x.shape)).toThrow('Expected a int32 tensor for indices but received a float32 tensor');
    expect(() => maxPool2dBackward(y, Tensor.zeros([1, 2, 3, 2], { device, dtype: 'int32' }), x.shape)).toThrow('Expected shape [1, 2, 3, 3] for indices but received [1, 2, 3, 2]');
    expect(() => maxPool2dBackward(y, indices, [1, 3, 6, 6])).toThrow('Expected a shape [1, 2, H ≥ 1, W ≥ 1] matching dy for inputShape but received [1, 3, 6, 6]');
    expect(() => maxPool2dBackward(y, indices, x.shape, Tensor.zeros([1, 2, 6, 5], { device }))).toThrow('Expected shape [1, 2, 6, 6] for out but received [1, 2, 6, 5]');
    expect(() => maxPool2d(x, { kernelSize: 2 }, { indices: Tensor.zeros([1, 2, 3, 3], { device }) })).toThrow('Expected a int32 tensor for out.indices but received a float32 tensor');
    expect(() => avgPool2dBackward(y, x.shape, { kernelSize: 3 })).toThrow('Expected shape [1, 2, 2, 2] for dy but received [1, 2, 3, 3]');
  });
});

describe('pool2d native checks', () => {
  const addon = native();

  test('a buffer too small for the sizes given is a RangeError naming it', () => {
    const x = new Float32Array(2 * 6 * 6);
    expect(() => addon.maxPool2dForward(new Float32Array(17), new Int32Array(18), x, 1, 2, 6, 6, 2, 2, 2, 2, 0, 0)).toThrow(
      new RangeError('Expected at least 18 elements for y but received 17'),
    );
    expect(() => addon.maxPool2dForward(new Float32Array(18), new Int32Array(18), x, 2, 2, 6, 6, 2, 2, 2, 2, 0, 0)).toThrow('Expected at least 36 elements for y but received 18');
    expect(() => addon.avgPool2dBackward(new Float32Array(71), new Float32Array(18), 1, 2, 6, 6, 2, 2, 2, 2, 0, 0, true)).toThrow(
      new RangeError('Expected at least 72 elements for dx but received 71'),
    );
    expect(() => addon.maxPool2dBackward(x, new Float32Array(18), new Int32Array(17), 1, 2, 6, 6, 3, 3)).toThrow('Expected at least 18 elements for indices but received 17');
  });

  test('bad geometry and out-of-plane indices are RangeErrors, never out-of-bounds writes', () => {
    const x = new Float32Array(36);
    expect(() => addon.avgPool2dForward(new Float32Array(9), x, 1, 1, 6, 6, 3, 3, 2, 2, 2, 2, true)).toThrow('Expected an integer in [0, 1] for ph but received 2');
    expect(() => addon.avgPool2dForward(new Float32Array(9), x, 1, 1, 6, 6, 7, 7, 1, 1, 0, 0, true)).toThrow(RangeError);
    const indices = new Int32Array(9);
    indices[4] = 36;
    expect(() => addon.maxPool2dBackward(x, new Float32Array(9), indices, 1, 1, 6, 6, 3, 3)).toThrow(
      new RangeError('Expected argmax indices in [0, 36) for indices but received 36 at element 4'),
    );
    indices[4] = -1;
    expect(() => addon.maxPool2dBackward(x, new Float32Array(9), indices, 1, 1, 6, 6, 3, 3)).toThrow('but received -1 at element 4');
  });
});
