// matmul (native/kernels/gemm) against PyTorch (test/fixtures/gemm.fixture, scripts/fixtures/gemm.py)
// and against a float64 reference computed here, for shapes that cross the kernel's block sizes.
//
// Tolerance (test/helpers/tolerance.ts), from the arithmetic: a float32 sum of K products loses
// about √K·2⁻²⁴ relative to the typical magnitude of the result (rms of the reference), plus the
// final rounding of each element:
//   elementwise  |out − ref| ≤ 8·2⁻²⁴·√K·rms(ref) + 4·2⁻²⁴·|ref|
//   whole tensor ‖out − ref‖₂/‖ref‖₂ ≤ 2·2⁻²⁴·√K
// Measured on the fixtures (AVX-512 kernels): largest elementwise error 4.9·2⁻²⁴·√K·rms(ref) (K = 10,
// where the output rounding dominates), relative L2 error ≤ 0.7·2⁻²⁴·√K.
// K = 0 (C = beta·C) is exact. The AVX2 and portable kernels are run by the same suite with
// NAPINET_GEMM_ISA=avx2 or NAPINET_GEMM_ISA=generic in the environment.
import { afterEach, describe, expect, test } from 'vitest';
import { matmul } from '../lib/ops/gemm';
import { native } from '../lib/native';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';
import { sumTolerance } from './helpers/tolerance';

/** C = beta·C with NaN, inf and −inf (beta = 0 must ignore them all). */
function poisoned(m: number, n: number, device: 'cpu' | 'cuda'): Tensor {
  const values = new Float32Array(m * n);
  for (let i = 0; i < values.length; i++) values[i] = [NaN, Infinity, -Infinity, 1e30][i % 4];
  return Tensor.from(values, [m, n], { device });
}

/** A deterministic pseudo-random array of standard-normal-ish values. */
function randomArray(size: number, seed: number): Float32Array {
  let state = seed >>> 0 || 1;
  const next = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  const out = new Float32Array(size);
  for (let i = 0; i < size; i++) out[i] = (next() + next() + next() - 1.5) * 2;
  return out;
}

/** alpha·op(A)·op(B) + beta·C in float64. */
function reference(a: Float32Array, b: Float32Array, c: Float32Array | null, m: number, n: number, k: number, transA: boolean, transB: boolean, alpha: number, beta: number): Float64Array {
  const out = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) s += (transA ? a[p * m + i] : a[i * k + p]) * (transB ? b[j * k + p] : b[p * n + j]);
      out[i * n + j] = alpha * s + (beta !== 0 && c ? beta * c[i * n + j] : 0);
    }
  }
  return out;
}

const defaultThreads = native().numThreads();
afterEach(() => native().setNumThreads(defaultThreads));

describe.each(DEVICES)('matmul on %s', (device) => {
  for (const c of loadFixtures('gemm')) {
    test(c.name, () => {
      const { m, n, k, transA, transB, alpha, beta } = c.params;
      const a = Tensor.from(c.f32('a'), c.get('a').shape, { device });
      const b = Tensor.from(c.f32('b'), c.get('b').shape, { device });
      const out = c.has('c') ? Tensor.from(c.f32('c'), c.get('c').shape, { device }) : poisoned(m, n, device);
      const y = matmul(a, b, { transA, transB, alpha, beta }, out);
      expect(y).toBe(out);
      expect(y.shape).toEqual([m, n]);
      const ref = c.f64('ref');
      expectClose(y.toArray(), ref, sumTolerance(k, ref), `${c.name} C`);
      if (beta === 0) {
        // Without out: a new tensor, the same values exactly.
        const fresh = matmul(a, b, { transA, transB, alpha });
        expect(fresh.toArray()).toEqual(y.toArray());
      }
    });
  }

  // Shapes that cross the blocked path's boundaries (K blocks of 256, row groups of 128, 2048
  // columns and 2048 rows packed at once, the in-place and dot paths), every transpose.
  const shapes: [number, number, number][] = [
    [33, 2100, 5], [2100, 40, 3], [130, 70, 600], [9, 300, 520], [300, 9, 520], [1, 1, 1000], [40, 33, 1],
  ];
  for (const [m, n, k] of shapes) {
    for (const [transA, transB] of [[false, false], [false, true], [true, false], [true, true]] as const) {
      const alpha = transA ? 0.75 : 1;
      const beta = transB ? -0.5 : 0;
      test(`${m}x${n}x${k} ${transA ? 'T' : 'N'}${transB ? 'T' : 'N'} against a float64 reference`, () => {
        const a = randomArray(m * k, m * 7 + k), b = randomArray(k * n, n * 13 + k), c0 = randomArray(m * n, m + n);
        const out = beta === 0 ? poisoned(m, n, device) : Tensor.from(c0.slice(), [m, n], { device });
        const at = Tensor.from(a, transA ? [k, m] : [m, k], { device });
        const bt = Tensor.from(b, transB ? [n, k] : [k, n], { device });
        matmul(at, bt, { transA, transB, alpha, beta }, out);
        const ref = reference(a, b, c0, m, n, k, transA, transB, alpha, beta);
        expectClose(out.toArray(), ref, sumTolerance(k, ref), `${m}x${n}x${k}`);
      });
    }
  }

  test('empty shapes: M or N of 0 give an empty result; K of 0 gives beta·C', () => {
    expect(matmul(Tensor.zeros([0, 5], { device }), Tensor.zeros([5, 3], { device })).shape).toEqual([0, 3]);
    expect(matmul(Tensor.zeros([4, 5], { device }), Tensor.zeros([5, 0], { device })).shape).toEqual([4, 0]);
    const zeros = matmul(Tensor.zeros([3, 0], { device }), Tensor.zeros([0, 2], { device }), {}, poisoned(3, 2, device));
    expect(Array.from(zeros.toArray())).toEqual([0, 0, 0, 0, 0, 0]);
    const scaled = matmul(Tensor.zeros([2, 0], { device }), Tensor.zeros([0, 2], { device }), { beta: 2 },
      Tensor.from([1, 2, 3, 4], [2, 2], { device }));
    expect(Array.from(scaled.toArray())).toEqual([2, 4, 6, 8]);
  });

  test('results are bit-identical with 1 thread and with the default pool', () => {
    const cases: [number, number, number, boolean, boolean][] = [
      [64, 10, 1152, false, true], [10, 1152, 64, true, false], [64, 1152, 10, false, false],
      [300, 257, 513, true, true], [130, 70, 600, false, true], [8, 25, 576, false, true],
    ];
    for (const [m, n, k, transA, transB] of cases) {
      const a = Tensor.from(randomArray(m * k, 1), transA ? [k, m] : [m, k], { device });
      const b = Tensor.from(randomArray(k * n, 2), transB ? [n, k] : [k, n], { device });
      const c0 = randomArray(m * n, 3);
      const run = (threads: number) => {
        native().setNumThreads(threads);
        return matmul(a, b, { transA, transB, alpha: 0.5, beta: 1 }, Tensor.from(c0.slice(), [m, n], { device })).toArray();
      };
      const one = run(1);
      const many = run(Math.max(2, defaultThreads));
      expect(Buffer.from(many.buffer).equals(Buffer.from(one.buffer)), `${m}x${n}x${k}`).toBe(true);
    }
  });

  test('rejects bad arguments, naming them', () => {
    const a = Tensor.zeros([2, 3], { device });
    const b = Tensor.zeros([3, 4], { device });
    expect(() => matmul([1, 2] as never, b)).toThrow('Expected a Tensor for a but received [1, 2]');
    expect(() => matmul(a, null as never)).toThrow('Expected a Tensor for b but received null');
    expect(() => matmul(Tensor.zeros([2, 3, 1], { device }), b)).toThrow('Expected a tensor of rank 2 for a but received shape [2, 3, 1]');
    expect(() => matmul(a, Tensor.zeros([4, 4], { device }))).toThrow('Expected a tensor with 3 rows (K of a) for b but received shape [4, 4]');
    expect(() => matmul(a, b, { transB: true })).toThrow('Expected a tensor with 3 columns (K of a) for b but received shape [3, 4]');
    expect(() => matmul(a, b, { transA: 1 as never })).toThrow('Expected a boolean for options.transA but received 1');
    expect(() => matmul(a, b, { alpha: NaN })).toThrow('Expected a number for options.alpha but received NaN');
    expect(() => matmul(a, b, { transpose: true } as never)).toThrow('Expected one of the options transA, transB, alpha, beta for options but received "transpose"');
    expect(() => matmul(a, b, 'T' as never)).toThrow('Expected an options object for options but received "T"');
    expect(() => matmul(a, b, { beta: 1 })).toThrow('Expected a tensor to accumulate into (options.beta is not 0) for out but received undefined');
    expect(() => matmul(a, b, {}, Tensor.zeros([4, 2], { device }))).toThrow('Expected shape [2, 4] for out but received [4, 2]');
    expect(() => matmul(a, b, {}, Tensor.zeros([2, 4], { device, dtype: 'int32' }))).toThrow('Expected a float32 tensor for out but received a int32 tensor');
    if (device === 'cpu') {
      const square = Tensor.zeros([3, 3]);
      expect(() => matmul(square, square, {}, square)).toThrow('Expected a tensor that does not share memory with a for out but received one that does');
      expect(() => matmul(Tensor.zeros([3, 3]), square, {}, square.reshape([3, 3]))).toThrow('does not share memory with b for out');
    }
  });
});

describe('gemm native surface', () => {
  test('a buffer too small for the sizes is a RangeError naming it', () => {
    const addon = native();
    const c = new Float32Array(6);
    const a = new Float32Array(6);
    const b = new Float32Array(9);
    expect(() => addon.gemm(c, a, new Float32Array(8), 2, 3, 3, false, false, 1, 0)).toThrow(new RangeError('Expected at least 9 elements for b but received 8'));
    expect(() => addon.gemm(new Float32Array(5), a, b, 2, 3, 3, false, false, 1, 0)).toThrow('Expected at least 6 elements for c but received 5');
    expect(() => addon.gemm(c, a, b, -1, 3, 3, false, false, 1, 0)).toThrow(RangeError);
    expect(() => addon.gemm(c, a, b, 2, 3, 3, 'no' as never, false, 1, 0)).toThrow('Expected a boolean for transA but received a string');
  });
});
