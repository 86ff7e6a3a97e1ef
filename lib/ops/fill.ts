/**
 * Fills tensors with one value (torch.Tensor.fill_), e.g. to zero gradients: one tensor, or a list
 * in one native call (fillMany; one GPU launch per 16 tensors). Kernels: native/kernels/fill.
 */
import { type CudaBuffer, type NativeBuffer, native } from '../native';
import { Tensor } from '../tensor';
import { expectInt, fail } from '../validate';
import { expectTensor, tensorFits } from './checks';

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
  t.markWritten();
  return t;
}

/** Sets every element of each float32 tensor in `tensors` (all on one device) to value, in place. */
export function fillMany(tensors: readonly Tensor[], value: number): void {
  if (!Array.isArray(tensors)) fail('an Array of tensors', 'tensors', tensors);
  if (typeof value !== 'number') fail('a number', 'value', value);
  const device = (tensors[0] as Tensor | undefined)?.device;
  for (let i = 0; i < tensors.length; i++) {
    const t = tensors[i];
    // Named checks only when the quick one fails: zeroGrad calls this every step.
    if (!tensorFits(t, 'float32', device)) expectTensor(t, `tensors[${i}]`, { device });
  }
  bufferList.length = tensors.length;
  for (let i = 0; i < tensors.length; i++) bufferList[i] = tensors[i].buffer;
  native().fillMany(bufferList, value);
  for (let i = 0; i < tensors.length; i++) tensors[i].markWritten();
}

// Reused from call to call (the native call is synchronous), so zeroGrad allocates nothing.
const bufferList: NativeBuffer[] = [];
