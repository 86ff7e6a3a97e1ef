/**
 * Rows of a host matrix picked by index (torch.index_select along dim 0): the training loop's batch
 * gather. Kernel: native/kernels/gather. Test: test/gather.test.ts.
 */
import { native } from '../native';
import { expectInt, fail } from '../validate';

/**
 * dst[i, :] = src[rows[i], :] for every i, rows of `rowLength` floats, into the host array `dst`
 * (at least rows.length·rowLength long). Returns dst.
 */
export function gatherRows(dst: Float32Array, src: Float32Array, rows: Int32Array, rowLength: number): Float32Array {
  if (!(dst instanceof Float32Array)) fail('a Float32Array', 'dst', dst);
  if (!(src instanceof Float32Array)) fail('a Float32Array', 'src', src);
  if (!(rows instanceof Int32Array)) fail('an Int32Array', 'rows', rows);
  expectInt(rowLength, 'rowLength', 1);
  const srcRows = Math.floor(src.length / rowLength);
  for (let i = 0; i < rows.length; i++) {
    if (!(rows[i] >= 0 && rows[i] < srcRows)) throw new RangeError(`Expected row indices in [0, ${srcRows}) for rows but received ${rows[i]} at index ${i}`);
  }
  if (dst.length < rows.length * rowLength) {
    throw new RangeError(`Expected at least ${rows.length * rowLength} elements for dst but received ${dst.length}`);
  }
  native().gatherRows(dst, src, rows, rowLength);
  return dst;
}
