/**
 * Shapes, strides and strided views for the tensor-maths ops (elementwise, reduce, batchMatmul,
 * indexing). Pure TypeScript: nothing here touches a kernel.
 *
 * napinet tensors are contiguous and row-major. A View describes other ways of reading the same
 * storage — a permutation, a broadcast (stride 0), a slice — without copying: element
 * (i0, …, i{r−1}) is at storage[offset + Σ i_d·strides[d]]. The elementwise kernels read (and write)
 * through views, and copy() materialises one into a contiguous tensor. Broadcasting follows NumPy
 * and PyTorch: shapes are aligned at their last dimension, and a dimension of size 1 (or a missing
 * leading one) stretches to the other's size.
 * Test: test/elementwise.test.ts
 */
import type { Tensor } from '../tensor';
import { expectInt, fail } from '../validate';

/** The largest rank the strided kernels take. */
export const MAX_RANK = 8;

/** Element (i0, …) of a view is at storage[offset + Σ i_d·strides[d]]. */
export interface View {
  readonly shape: readonly number[];
  readonly strides: readonly number[];
  readonly offset: number;
}

/** A view of a tensor's storage (the tensor's own shape only bounds it). */
export interface StridedTensor {
  readonly tensor: Tensor;
  readonly view: View;
}

/** "[2, 3]" */
export function shapeText(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

/** The number of elements of a tensor of `shape` (1 for a 0-d shape). */
export function sizeOf(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** Row-major strides of a contiguous tensor of this shape. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let step = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = step;
    step *= shape[d];
  }
  return strides;
}

/** Throws "Expected <expected> for <name> but received shape [2, 3]" (a RangeError). */
export function failShape(expected: string, name: string, shape: readonly number[]): never {
  throw new RangeError(`Expected ${expected} for ${name} but received shape ${shapeText(shape)}`);
}

/** The view of a whole contiguous tensor of this shape. */
export function contiguousView(shape: readonly number[]): View {
  return { shape, strides: contiguousStrides(shape), offset: 0 };
}

/** Whether the view reads its elements in storage order without gaps (size-1 dimensions aside). */
export function isContiguous(view: View): boolean {
  let step = 1;
  for (let d = view.shape.length - 1; d >= 0; d--) {
    if (view.shape[d] === 1) continue;
    if (view.strides[d] !== step) return false;
    step *= view.shape[d];
  }
  return true;
}

/** A dimension index in [−rank, rank) as one in [0, rank) (−1 is the last), or a RangeError. */
export function normalizeDim(dim: unknown, rank: number, name: string): number {
  const lo = -Math.max(rank, 1);
  const hi = Math.max(rank, 1) - 1;
  expectInt(dim, name, lo, hi);
  return (dim as number) < 0 ? (dim as number) + Math.max(rank, 1) : (dim as number);
}

/** A list of distinct dimensions (negative ones counted from the end), sorted. */
export function normalizeDims(dims: unknown, rank: number, name: string): number[] {
  const list = typeof dims === 'number' ? [dims] : dims;
  if (!Array.isArray(list)) fail('a dimension or an array of dimensions', name, dims);
  const out = (list as unknown[]).map((d, i) => normalizeDim(d, rank, `${name}[${i}]`));
  const sorted = [...out].sort((a, b) => a - b);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i] === sorted[i - 1]) fail('distinct dimensions', name, dims, RangeError);
  }
  return sorted;
}

/** "a", "a and b", "a, b and c" */
function listText(items: readonly string[]): string {
  return items.length <= 1 ? items.join('') : `${items.slice(0, -1).join(', ')} and ${items[items.length - 1]}`;
}

/**
 * The shape two shapes broadcast to (NumPy / PyTorch rules), or a RangeError naming both:
 * "Expected shapes that broadcast together (…) for a and b but received [2, 3] and [4]".
 */
export function broadcastShapes(a: readonly number[], b: readonly number[], names: readonly [string, string] = ['a', 'b']): number[] {
  return broadcastAll([a, b], names);
}

/** The shape several shapes broadcast to, or a RangeError naming every one of them. */
export function broadcastAll(shapes: readonly (readonly number[])[], names: readonly string[]): number[] {
  const rank = Math.max(0, ...shapes.map((s) => s.length));
  const out = new Array<number>(rank).fill(1);
  for (const shape of shapes) {
    for (let i = 1; i <= shape.length; i++) {
      const size = shape[shape.length - i];
      const have = out[rank - i];
      if (size !== have && size !== 1 && have !== 1) {
        throw new RangeError(
          `Expected shapes that broadcast together (each trailing dimension equal, or 1) for ${listText(names)} ` +
            `but received ${listText(shapes.map(shapeText))}`,
        );
      }
      if (have === 1) out[rank - i] = size;
    }
  }
  return out;
}

/** The view with its dimensions reordered: new dimension i is old dimension dims[i] (torch.permute). */
export function permuteView(view: View, dims: readonly number[]): View {
  const rank = view.shape.length;
  if (!Array.isArray(dims) || dims.length !== rank) fail(`an array of ${rank} dimensions`, 'dims', dims, RangeError);
  const d = dims.map((x, i) => normalizeDim(x, rank, `dims[${i}]`));
  if (new Set(d).size !== rank) fail(`a permutation of the ${rank} dimensions`, 'dims', dims, RangeError);
  return { shape: d.map((i) => view.shape[i]), strides: d.map((i) => view.strides[i]), offset: view.offset };
}

/** Dimensions d0 and d1 swapped (torch.transpose). */
export function transposeView(view: View, d0: number, d1: number): View {
  const rank = view.shape.length;
  const a = normalizeDim(d0, rank, 'dim0');
  const b = normalizeDim(d1, rank, 'dim1');
  const dims = view.shape.map((_, i) => (i === a ? b : i === b ? a : i));
  return permuteView(view, dims);
}

/**
 * The view broadcast to `shape` (torch.expand): new leading dimensions and dimensions of size 1
 * read with stride 0; −1 keeps a dimension's size.
 */
export function expandView(view: View, shape: readonly number[]): View {
  if (!Array.isArray(shape) || shape.length < view.shape.length) {
    fail(`a shape of rank ≥ ${view.shape.length}`, 'shape', shape, RangeError);
  }
  const lead = shape.length - view.shape.length;
  const outShape: number[] = [];
  const strides: number[] = [];
  shape.forEach((size, i) => {
    const old = i < lead ? undefined : view.shape[i - lead];
    const want = size === -1 && old !== undefined ? old : size;
    if (!Number.isInteger(want) || want < 0) fail('a shape of non-negative integers (or −1 to keep a dimension)', 'shape', shape, RangeError);
    if (old !== undefined && old !== want && old !== 1) {
      throw new RangeError(`Expected a shape that ${shapeText(view.shape)} expands to (each dimension equal, or expanding a 1) for shape but received ${shapeText(shape)}`);
    }
    outShape.push(want);
    strides.push(old === undefined || (old === 1 && want !== 1) ? 0 : view.strides[i - lead]);
  });
  return { shape: outShape, strides, offset: view.offset };
}

/** `length` elements of dimension `dim` from `start` (torch.narrow; a slice with step 1). */
export function narrowView(view: View, dim: number, start: number, length: number): View {
  const rank = view.shape.length;
  const d = normalizeDim(dim, rank, 'dim');
  const size = view.shape[d];
  expectInt(start, 'start', -size, size);
  const begin = start < 0 ? start + size : start;
  expectInt(length, 'length', 0, size - begin);
  const shape = [...view.shape];
  shape[d] = length;
  return { shape, strides: view.strides, offset: view.offset + begin * view.strides[d] };
}

/** A dimension of size 1 inserted at `dim` (torch.unsqueeze). */
export function unsqueezeView(view: View, dim: number): View {
  const rank = view.shape.length;
  expectInt(dim, 'dim', -rank - 1, rank);
  const d = dim < 0 ? dim + rank + 1 : dim;
  const shape = [...view.shape];
  const strides = [...view.strides];
  shape.splice(d, 0, 1);
  strides.splice(d, 0, d < rank ? view.strides[d] * view.shape[d] : 1);
  return { shape, strides, offset: view.offset };
}

/** The shape with every dimension in `dims` set to 1 (a reduction's keepdim shape). */
export function keepDimShape(shape: readonly number[], dims: readonly number[]): number[] {
  return shape.map((s, d) => (dims.includes(d) ? 1 : s));
}
