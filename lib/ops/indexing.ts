/**
 * Indexing along one dimension and the gradients of it: indexSelect (torch.index_select) with
 * indexAdd (Tensor.index_add_), gather (torch.gather) with scatterAdd (Tensor.scatter_add_).
 * Non-differentiable building blocks for autograd. Kernels: native/kernels/indexing,
 * cuda/indexing.cu. Test: test/indexing.test.ts.
 *
 * Indices are int32 tensors on the tensor's device, each in [0, size of the indexed dimension):
 * the addon checks every one before a kernel runs and names the first bad value and its position.
 * For CUDA tensors that check reads the indices back to the host (a wait for the queued work and a
 * copy of 4 bytes per index). indexAdd and scatterAdd add repeated indices' contributions in a
 * fixed order (source order), without atomics: the same bits on every run and device thread count.
 */
import { native } from '../native';
import type { CudaBuffer } from '../native';
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { expectTensor, output } from './checks';
import { expectSameDevice } from './elementwise';
import { MAX_RANK, failShape, normalizeDim, shapeText, sizeOf } from './views';

function ints(t: Tensor): Int32Array | CudaBuffer {
  return t.buffer as Int32Array | CudaBuffer;
}

function expectRanked(x: unknown, name: string, dtype: 'float32' | 'int32' = 'float32'): Tensor {
  const t = expectTensor(x, name, { dtype });
  if (t.shape.length > MAX_RANK) failShape(`a tensor of rank ≤ ${MAX_RANK}`, name, t.shape);
  return t;
}

/** A 1-D (or 0-d) int32 index tensor on `ref`'s device. */
function expectIndexVector(indices: unknown, ref: Tensor, refName: string): Tensor {
  const t = expectRanked(indices, 'indices', 'int32');
  if (t.shape.length > 1) failShape('a 1-D int32 tensor', 'indices', t.shape);
  expectSameDevice(t, 'indices', ref, refName);
  return t;
}

/** [outer, size of dim, inner] for a dimension of a shape. */
function split(shape: readonly number[], dim: number): [number, number, number] {
  return [sizeOf(shape.slice(0, dim)), shape.length === 0 ? 1 : shape[dim], sizeOf(shape.slice(dim + 1))];
}

/** torch.index_select(x, dim, indices): the slices of x at `indices` along dim, in that order. */
export function indexSelect(x: Tensor, dim: number, indices: Tensor, out?: Tensor): Tensor {
  const t = expectRanked(x, 'x');
  const d = normalizeDim(dim, t.shape.length, 'dim');
  const idx = expectIndexVector(indices, t, 'x');
  const [outer, size, inner] = split(t.shape, d);
  const shape = t.shape.length === 0 ? [...idx.shape] : t.shape.map((s, k) => (k === d ? idx.size : s));
  const result = output(out, 'out', shape, t.device);
  native().indexSelect(result.buffer, t.buffer, ints(idx), outer, size, inner, idx.size);
  return result;
}

/**
 * Tensor.index_add_(dim, indices, src): out[…, indices[i], …] += src[…, i, …] along dim, in place
 * (index_select's gradient when out starts at zero). src has out's shape with `indices.size` along
 * dim. Returns out.
 */
export function indexAdd(out: Tensor, dim: number, indices: Tensor, src: Tensor): Tensor {
  const t = expectRanked(out, 'out');
  const d = normalizeDim(dim, t.shape.length, 'dim');
  const idx = expectIndexVector(indices, t, 'out');
  const s = expectRanked(src, 'src');
  expectSameDevice(s, 'src', t, 'out');
  const want = t.shape.length === 0 ? [...idx.shape] : t.shape.map((v, k) => (k === d ? idx.size : v));
  expectTensor(s, 'src', { shape: want });
  const [outer, size, inner] = split(t.shape, d);
  native().indexAdd(t.buffer, s.buffer, ints(idx), outer, size, inner, idx.size);
  return t;
}

/** index's checks for gather / scatterAdd: int32, x's rank, no larger than x off dim. */
function expectIndex(index: unknown, ref: Tensor, refName: string, dim: number): Tensor {
  const idx = expectRanked(index, 'index', 'int32');
  expectSameDevice(idx, 'index', ref, refName);
  const rank = ref.shape.length;
  if (idx.shape.length !== rank || idx.shape.some((s, k) => k !== dim && s > ref.shape[k])) {
    throw new RangeError(
      `Expected an index of rank ${rank} no larger than ${refName} ${shapeText(ref.shape)} in every dimension but ${dim} for index but received shape ${shapeText(idx.shape)}`,
    );
  }
  return idx;
}

/** torch.gather(x, dim, index): out (index's shape) at e is x at e with its dim coordinate replaced by index[e]. */
export function gather(x: Tensor, dim: number, index: Tensor, out?: Tensor): Tensor {
  const t = expectRanked(x, 'x');
  if (t.shape.length === 0) failShape('a tensor of rank ≥ 1', 'x', t.shape);
  const d = normalizeDim(dim, t.shape.length, 'dim');
  const idx = expectIndex(index, t, 'x', d);
  const result = output(out, 'out', idx.shape, t.device);
  native().gather(result.buffer, t.buffer, ints(idx), t.shape, idx.shape, d);
  return result;
}

/**
 * Tensor.scatter_add_(dim, index, src) with src of index's shape: out at e with its dim coordinate
 * replaced by index[e] += src[e], in place (gather's gradient when out starts at zero). Returns out.
 */
export function scatterAdd(out: Tensor, dim: number, index: Tensor, src: Tensor): Tensor {
  const t = expectRanked(out, 'out');
  if (t.shape.length === 0) failShape('a tensor of rank ≥ 1', 'out', t.shape);
  const d = normalizeDim(dim, t.shape.length, 'dim');
  const idx = expectIndex(index, t, 'out', d);
  const s = expectRanked(src, 'src');
  expectSameDevice(s, 'src', t, 'out');
  expectTensor(s, 'src', { shape: idx.shape });
  native().scatterAdd(t.buffer, s.buffer, ints(idx), t.shape, idx.shape, d);
  return t;
}
