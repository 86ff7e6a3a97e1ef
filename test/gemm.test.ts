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
// CUDA (cuda/gemm.cu; a GPU or the emulator build) sums in other orders (per-thread k order within
// split-K slices, or 32 lanes and a shuffle tree) under the same bounds; measured on the emulator:
// largest elementwise error the same as the CPU's (K = 1 cases, output rounding), relative L2 error
// ≤ 1.0·2⁻²⁴·√K. NAPINET_CUDA_GEMM=large|medium|small|dot forces one CUDA path for every shape.
// The 1×1×1000 cases are one output whose terms cancel (|C| ≈ 1.6 while Σ|a·b| ≈ 650), so their
// relative L2 error is that one element's relative error: an order can miss 2·2⁻²⁴·√K there by
// chance, and the forced 32×32-tile path (split-K slices of 64 terms) does for NT and TT (2.2 and
// 3.1·2⁻²⁴·√K); by default those products take the dot path (1.0).
import { afterEach, describe, expect, test } from 'vitest';
import { cuda } from '../lib/device';
import { matmul } from '../lib/ops/gemm';
import { native } from '../lib/native';
import { Tensor } from '../lib';
import { expectClose } from './helpers/compare';
import type { Device } from '../lib/device';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';
import { cudaBuffers } from './helpers/cuda';
import { checkOp } from './helpers/op_check';
import { randomArray } from './helpers/random_values';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { sumTolerance } from './helpers/tolerance';

/** C = beta·C with NaN, inf and −inf (beta = 0 must ignore them all). */
function poisoned(m: number, n: number, device: Device): Tensor {
  const values = new Float32Array(m * n);
  for (let i = 0; i < values.length; i++) values[i] = [NaN, Infinity, -Infinity, 1e30][i % 4];
  return Tensor.from(values, [m, n], { device });
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

describe.each(DEVICES)('matmul on %s', (device) => {
  for (const c of loadFixtures('gemm')) {
    test(c.name, () => {
      const { m, n, k, transA, transB, alpha, beta } = c.params;
      const a = c.tensor('a', device);
      const b = c.tensor('b', device);
      const out = c.has('c') ? c.tensor('c', device) : poisoned(m, n, device);
      const y = matmul(a, b, { transA, transB, alpha, beta }, out);
      expect(y).toBe(out);
      expect(y.shape).toEqual([m, n]);
      checkOp(c, { C: y }, (ref) => sumTolerance(k, ref), { references: { C: 'ref' } });
      if (beta === 0) {
        // Without out: a new tensor, the same values exactly.
        const fresh = matmul(a, b, { transA, transB, alpha });
        expect(fresh.toArray()).toEqual(y.toArray());
      }
    });
  }

  // Shapes that cross the blocked path's boundaries (K blocks of 256, row groups of 128, 2048
  // columns and 2048 rows packed at once, the in-place and dot paths), every transpose. On CUDA
  // (cuda/gemm.cu) they take: 32×32 tiles with partial tiles (33×2100, 2100×40, 40×33), split-K over
  // uneven slices (130×70×600, 9×300×520, 300×9×520), the warp-per-output dot kernel (1×1×1000,
  // and for the K-contiguous layouts 1×700×130 and 250×1×333, whose other layouts split K);
  // 64×64 tiles (1000×600×40) and 128×128 tiles (1500×1300×9, with a partial last K step).
  // On the CPU, products whose op(A) is at most 256K values and whose B is not transposed take the
  // panel path (native/kernels/gemm.cpp), the others the blocked path: 520×45×530 (a partial row
  // panel and column panel, three depth blocks) and 127×97×1030 (Linear's batch-128 shape with odd
  // edges and five depth blocks; NN and TN on the panel path, NT and TT blocked).
  const shapes: [number, number, number][] = [
    [33, 2100, 5], [2100, 40, 3], [130, 70, 600], [9, 300, 520], [300, 9, 520], [1, 1, 1000], [40, 33, 1],
    [1, 700, 130], [250, 1, 333], [1000, 600, 40], [1500, 1300, 9], [520, 45, 530], [127, 97, 1030],
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
      [127, 97, 1030, true, false], [520, 45, 530, true, false], [128, 1024, 256, false, false],
    ];
    for (const [m, n, k, transA, transB] of cases) {
      const a = Tensor.from(randomArray(m * k, 1), transA ? [k, m] : [m, k], { device });
      const b = Tensor.from(randomArray(k * n, 2), transB ? [n, k] : [k, n], { device });
      const c0 = randomArray(m * n, 3);
      expectSameBitsAcrossThreads(() => [matmul(a, b, { transA, transB, alpha: 0.5, beta: 1 }, Tensor.from(c0.slice(), [m, n], { device }))], `${m}x${n}x${k} `);
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
    expect(() => matmul(a, b, {}, Tensor.zeros([2, 4], { device, dtype: 'int32' }))).toThrow('Expected a float32 tensor for out but received an int32 tensor');
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

// The batched launchers of cuda/api.h (cuda/gemm.cu), which the CUDA side of other ops builds on
// and which have no CPU kernel: against float64 references, with the same √K tolerance (K = the
// number of products summed per element: k, or batch·k for the batch sum).
describe.runIf(cuda.isAvailable())('CUDA batched gemm launchers', () => {
  const addon = native();
  const { alloc, upload, download, disposeAll } = cudaBuffers();
  afterEach(disposeAll);

  const item = (x: Float32Array, i: number, stride: number, size: number) => x.subarray(i * stride, i * stride + size);

  interface Strided {
    m: number; n: number; k: number; transA: boolean; transB: boolean; alpha: number; beta: number;
    batch: number; strideC: number; strideA: number; strideB: number; bias: 'row' | 'column' | null;
  }
  const stridedCases: [string, Strided][] = [
    // Weights shared (strideA = 0), gaps between the output items, bias per row, beta = 0 over NaN.
    ['shared A, row bias, gaps in C', { m: 40, n: 70, k: 90, transA: false, transB: false, alpha: 1, beta: 0, batch: 3, strideC: 40 * 70 + 5, strideA: 0, strideB: 90 * 70, bias: 'row' }],
    // 9×8 items with K = 700: split-K, each item with its own slices and reduction.
    ['split-K per item, column bias, beta', { m: 9, n: 8, k: 700, transA: true, transB: true, alpha: 0.5, beta: -1, batch: 4, strideC: 72, strideA: 9 * 700, strideB: 8 * 700, bias: 'column' }],
    // Few outputs, K contiguous: the dot kernel over the batch.
    ['dot kernel over the batch', { m: 1, n: 300, k: 200, transA: false, transB: true, alpha: 1, beta: 0, batch: 2, strideC: 300, strideA: 200, strideB: 300 * 200, bias: 'column' }],
    // 40 items of 2×2 tiles of 128×128 (enough blocks for the large tiles), B shared.
    ['many items, B shared', { m: 130, n: 129, k: 20, transA: true, transB: false, alpha: 1, beta: 0.5, batch: 40, strideC: 130 * 129, strideA: 20 * 130, strideB: 0, bias: null }],
    // A and B not read; beta·C is exact, + bias one float32 rounding (checked exactly below).
    ['alpha = 0: beta·C + bias only', { m: 5, n: 6, k: 7, transA: false, transB: false, alpha: 0, beta: 2, batch: 2, strideC: 30, strideA: 35, strideB: 42, bias: 'column' }],
  ];
  for (const [name, p] of stridedCases) {
    test(`strided batched: ${name}`, () => {
      const { m, n, k, batch, strideC, strideA, strideB } = p;
      const spanOf = (stride: number, size: number) => (batch - 1) * stride + size;
      const a = randomArray(spanOf(strideA, m * k), 11);
      const b = randomArray(spanOf(strideB, k * n), 12);
      const c0 = randomArray(spanOf(strideC, m * n), 13);
      if (p.beta === 0) c0.fill(NaN);
      const bias = p.bias ? randomArray(p.bias === 'row' ? m : n, 14) : null;
      const c = upload(c0);
      const run = () => {
        c.upload(c0);
        addon.cudaGemmStridedBatched!(c, upload(a), upload(b), bias ? upload(bias) : null, m, n, k, p.transA, p.transB,
          p.alpha, p.beta, p.bias === 'row', batch, strideC, strideA, strideB);
        return Float32Array.from(download(c));
      };
      const out = run();
      for (let i = 0; i < batch; i++) {
        const ref = reference(item(a, i, strideA, m * k), item(b, i, strideB, k * n), item(c0, i, strideC, m * n), m, n, k,
          p.transA, p.transB, p.alpha, p.beta);
        if (bias) {
          for (let e = 0; e < m * n; e++) {
            const add = bias[p.bias === 'row' ? Math.floor(e / n) : e % n];
            ref[e] = p.alpha === 0 ? Math.fround(ref[e] + add) : ref[e] + add;
          }
        }
        expectClose(item(out, i, strideC, m * n), ref, sumTolerance(p.alpha === 0 ? 0 : k, ref), `${name} item ${i}`);
        // The gap after each item is left alone.
        for (let e = i * strideC + m * n; e < Math.min((i + 1) * strideC, out.length); e++) expect(Object.is(out[e], c0[e])).toBe(true);
      }
      // The same bits on a second run.
      expect(Buffer.from(run().buffer).equals(Buffer.from(out.buffer))).toBe(true);
    });
  }

  interface Summed {
    m: number; n: number; k: number; transA: boolean; transB: boolean; alpha: number; beta: number;
    batch: number; strideA: number; strideB: number;
  }
  const sumCases: [string, Summed][] = [
    // 3 K steps per item, 6 items: split-K slices that cross item boundaries.
    ['slices across items, beta = 0 over NaN', { m: 20, n: 30, k: 70, transA: false, transB: false, alpha: 1, beta: 0, batch: 6, strideA: 20 * 70, strideB: 70 * 30 }],
    // A convolution's weight gradient: dW (K_out, C·KH·KW) += Σ_i dy_i (K_out, P) · cols_iᵀ.
    ['weight-gradient form, accumulating', { m: 16, n: 75, k: 49, transA: false, transB: true, alpha: 1, beta: 1, batch: 3, strideA: 16 * 49, strideB: 75 * 49 }],
    ['200 small items', { m: 4, n: 4, k: 3, transA: true, transB: false, alpha: 0.25, beta: 0, batch: 200, strideA: 12, strideB: 12 }],
    ['large tiles, no split', { m: 1500, n: 1400, k: 5, transA: false, transB: false, alpha: 1, beta: 0, batch: 2, strideA: 1500 * 5, strideB: 5 * 1400 }],
  ];
  for (const [name, p] of sumCases) {
    test(`batch sum: ${name}`, () => {
      const { m, n, k, batch, strideA, strideB } = p;
      const a = randomArray((batch - 1) * strideA + m * k, 21);
      const b = randomArray((batch - 1) * strideB + k * n, 22);
      const c0 = randomArray(m * n, 23);
      if (p.beta === 0) c0.fill(NaN);
      const c = upload(c0);
      addon.cudaGemmBatchSum!(c, upload(a), upload(b), m, n, k, p.transA, p.transB, p.alpha, p.beta, batch, strideA, strideB);
      const ref = new Float64Array(m * n);
      for (let i = 0; i < batch; i++) {
        const part = reference(item(a, i, strideA, m * k), item(b, i, strideB, k * n), null, m, n, k, p.transA, p.transB, p.alpha, 0);
        for (let e = 0; e < m * n; e++) ref[e] += part[e];
      }
      if (p.beta !== 0) for (let e = 0; e < m * n; e++) ref[e] += p.beta * c0[e];
      expectClose(download(c), ref, sumTolerance(batch * k, ref), name);
    });
  }

  test('an empty batch or empty sum leaves C alone or gives beta·C', () => {
    const c = upload(new Float32Array([1, 2, 3, 4]));
    addon.cudaGemmStridedBatched!(c, alloc(4), alloc(4), null, 2, 2, 2, false, false, 1, 0, false, 0, 4, 4, 4);
    expect(download(c)).toEqual([1, 2, 3, 4]);
    addon.cudaGemmBatchSum!(c, alloc(4), alloc(4), 2, 2, 2, false, false, 1, 3, 0, 4, 4);
    expect(download(c)).toEqual([3, 6, 9, 12]);
  });

  test('rejects host buffers, overlapping outputs and short buffers, naming them', () => {
    const c = alloc(8);
    const a = alloc(8);
    const b = alloc(8);
    expect(() => addon.cudaGemmStridedBatched!(new Float32Array(8) as never, a, b, null, 2, 2, 2, false, false, 1, 0, false, 2, 4, 4, 4))
      .toThrow(new TypeError('Expected a CudaBuffer for c but received a Float32Array'));
    expect(() => addon.cudaGemmStridedBatched!(c, a, b, null, 2, 2, 2, false, false, 1, 0, false, 2, 3, 4, 4))
      .toThrow(new RangeError('Expected at least m·n = 4 (output items must not overlap) for strideC but received 3'));
    expect(() => addon.cudaGemmStridedBatched!(c, a, b, alloc(1), 2, 2, 2, false, false, 1, 0, true, 2, 4, 4, 4))
      .toThrow('Expected at least 2 elements for bias but received 1');
    expect(() => addon.cudaGemmBatchSum!(c, a, alloc(7), 2, 2, 2, false, false, 1, 0, 2, 4, 4))
      .toThrow(new RangeError('Expected at least 8 elements for b but received 7'));
    expect(() => addon.cudaGemmBatchSum!(c, a, new Float32Array(8) as never, 2, 2, 2, false, false, 1, 0, 2, 4, 4))
      .toThrow('Expected a CudaBuffer for b but received a Float32Array');
  });
});
