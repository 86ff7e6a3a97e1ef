/** Fills a tensor with one value (torch.Tensor.fill_), e.g. to zero gradients. Kernels: native/kernels/fill. */
import { type CudaBuffer, native } from '../native';
import { Tensor } from '../tensor';
import { expectInt, fail } from '../validate';
import { expectTensor } from './checks';

/**
 * Sets every element of t to value, in place, and returns t. float32: any number (rounded to
 * float32; NaN and ±Infinity allowed); int32: an integer in the int32 range.
 */
export function fill(t: Tensor, value: number): Tensor {
  expectTensor(t, 't', { dtype: t instanceof Tensor && t.dtype === 'int32' ? 'int32' : 'float32' });
  if (t.dtype === 'int32') {
    native().fillInt32(t.buffer as Int32Array | CudaBuffer, expectInt(value, 'value', -(2 ** 31), 2 ** 31 - 1), t.size);
  } else {
    if (typeof value !== 'number') fail('a number', 'value', value);
    native().fill(t.buffer, value, t.size);
  }
  return t;
}
