/**
 * Matrix products with torch.matmul's semantics: 1-D operands (a vector is a row on the left and a
 * column on the right, and that dimension is dropped from the result), batches (every dimension
 * before the last two), and batch dimensions that broadcast against each other. A non-differentiable
 * building block for autograd: its backward is two more products (transA / transB spare the
 * transposing copies) and a sum over broadcast batch dimensions (reduce.sumToShape).
 * Kernels: gemm_batched in native/kernels/gemm (the existing GEMM, per batch item) and cuda/gemm.cu.
 * Test: test/batch_matmul.test.ts.
 *
 * The batch runs as one strided-batched product: an operand whose batch is the result's steps
 * through it; one without batch dimensions (or with all of size 1) is shared (stride 0); one that
 * broadcasts only partly (e.g. [2, 1, m, k] against [3, k, n]) is expanded into a contiguous copy
 * first. A batched a times a plain matrix b (no transA) is a single product of [batch·m, k] by b.
 */
import { native } from '../native';
import { Tensor } from '../tensor';
import { expectBoolean, fail } from '../validate';
import { expectTensor, output } from './checks';
import { expand, expectSameDevice } from './elementwise';
import { MAX_RANK, broadcastShapes, failShape, shapeText, sizeOf } from './views';

/** Options of batchMatmul: transposed operands and the output. */
export interface BatchMatmulOptions {
  /** Use the transpose of a's last two dimensions (a stored [..., k, m]); a must have rank ≥ 2. */
  transA?: boolean;
  /** Use the transpose of b's last two dimensions (b stored [..., n, k]); b must have rank ≥ 2. */
  transB?: boolean;
  /** Where the result goes; default a new tensor. */
  out?: Tensor;
  /** Add the product into out instead of overwriting it (needs out). */
  accumulate?: boolean;
}

function expectOperand(x: unknown, name: string, trans: boolean): Tensor {
  const t = expectTensor(x, name);
  const rank = t.shape.length;
  if (rank === 0) failShape('a tensor of rank ≥ 1', name, t.shape);
  if (rank > MAX_RANK) failShape(`a tensor of rank ≤ ${MAX_RANK}`, name, t.shape);
  if (trans && rank < 2) failShape(`a tensor of rank ≥ 2 (options.trans${name.toUpperCase()} transposes its last two dimensions)`, name, t.shape);
  return t;
}

/** torch.matmul(a, b) (with optional transposes of the matrices), as a new tensor or into options.out. */
export function batchMatmul(a: Tensor, b: Tensor, options?: BatchMatmulOptions): Tensor {
  const opts = (options ?? {}) as BatchMatmulOptions;
  if (typeof opts !== 'object' || opts === null) fail('an options object', 'options', options);
  for (const key of Object.keys(opts)) {
    if (!['transA', 'transB', 'out', 'accumulate'].includes(key)) fail('one of the options transA, transB, out, accumulate', 'options', key);
  }
  const transA = expectBoolean(opts.transA ?? false, 'options.transA');
  const transB = expectBoolean(opts.transB ?? false, 'options.transB');
  const accumulate = expectBoolean(opts.accumulate ?? false, 'options.accumulate');
  const ta = expectOperand(a, 'a', transA);
  const tb = expectOperand(b, 'b', transB);
  expectSameDevice(tb, 'b', ta, 'a');
  const ra = ta.shape.length;
  const rb = tb.shape.length;
  // a as [..., m, k] (stored [..., k, m] with transA); a vector is [1, k]. b as [..., k, n].
  const [m, ka] = ra === 1 ? [1, ta.shape[0]] : transA ? [ta.shape[ra - 1], ta.shape[ra - 2]] : [ta.shape[ra - 2], ta.shape[ra - 1]];
  const [kb, n] = rb === 1 ? [tb.shape[0], 1] : transB ? [tb.shape[rb - 1], tb.shape[rb - 2]] : [tb.shape[rb - 2], tb.shape[rb - 1]];
  if (ka !== kb) {
    throw new RangeError(
      `Expected shapes that can be multiplied (K of a ${ka} equal to K of b) for a and b but received ${shapeText(ta.shape)} and ${shapeText(tb.shape)}` +
        `${transA || transB ? ` (transA ${transA}, transB ${transB})` : ''}`,
    );
  }
  const aBatch = ta.shape.slice(0, Math.max(0, ra - 2));
  const bBatch = tb.shape.slice(0, Math.max(0, rb - 2));
  let batch: number[];
  try {
    batch = broadcastShapes(aBatch, bBatch);
  } catch {
    throw new RangeError(`Expected batch dimensions that broadcast together for a and b but received ${shapeText(ta.shape)} and ${shapeText(tb.shape)}`);
  }
  const shape = [...batch, ...(ra === 1 ? [] : [m]), ...(rb === 1 ? [] : [n])];
  if (shape.length > MAX_RANK) failShape(`operands whose product has rank ≤ ${MAX_RANK}`, 'a and b', shape);
  if (accumulate && opts.out === undefined) fail('options.out to accumulate into', 'options.accumulate', true);
  const out = output(opts.out, 'options.out', shape, ta.device);
  const count = sizeOf(batch);
  const beta = accumulate ? 1 : 0;
  if (sizeOf(bBatch) === 1 && !transA && ra >= 3) {
    // One product: a's batch rows stacked, [count·m, k] · [k, n].
    native().gemmBatched(out.buffer, ta.buffer, tb.buffer, 1, count * m, n, ka, false, transB, 0, 0, 0, 1, beta);
    return out;
  }
  // Each operand: stepped through (its batch is the result's), shared, or expanded first.
  const temporaries: Tensor[] = [];
  const batched = (t: Tensor, own: readonly number[], matrix: number[]): [Tensor, number] => {
    const items = sizeOf(own);
    const size = matrix[0] * matrix[1];
    if (items === 1) return [t, 0];
    if (items === count) return [t, size];
    const full = expand(t.viewAs([...own, ...matrix]), [...batch, ...matrix]);
    temporaries.push(full);
    return [full, size];
  };
  const matrixA = ra === 1 ? [1, ka] : ta.shape.slice(ra - 2);
  const matrixB = rb === 1 ? [kb, 1] : tb.shape.slice(rb - 2);
  const [sa, strideA] = batched(ta, aBatch, matrixA);
  const [sb, strideB] = batched(tb, bBatch, matrixB);
  native().gemmBatched(out.buffer, sa.buffer, sb.buffer, count, m, n, ka, transA, transB, strideA, strideB, m * n, 1, beta);
  for (const t of temporaries) t.dispose();
  return out;
}
