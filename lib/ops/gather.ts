/**
 * A training batch picked by index (torch.index_select along dim 0, images and labels at once):
 * the training loop's batch gather, on the CPU or on a GPU holding the whole dataset, so a GPU step
 * uploads nothing. Kernels: native/kernels/gather, cuda/gather.cu. Test: test/gather.test.ts.
 */
import { type CudaBuffer, native } from '../native';
import { Tensor } from '../tensor';
import { expectInt } from '../validate';
import { expectTensor, tensorFits } from './checks';

/**
 * x[i] = images[order[start + i]] and y[i] = labels[order[start + i]] for i < x.shape[0], in place.
 * images [rows, ...sample] (float32), labels [rows] (int32), order 1-D int32, x [n, ...sample],
 * y [n] (int32), all on one device. On the CPU every index is checked (RangeError); on a GPU an
 * index outside [0, rows) gives a NaN image and the label −1, so the loss becomes NaN.
 */
export function gatherBatch(x: Tensor, y: Tensor, images: Tensor, labels: Tensor, order: Tensor, start: number): void {
  // The named checks run only when the quick one fails: the training loop calls this every step,
  // which should allocate nothing.
  if (!batchFits(x, y, images, labels, order)) namedChecks(x, y, images, labels, order);
  expectInt(start, 'start', 0);
  const n = x.shape[0];
  if (start + n > order.size) {
    throw new RangeError(`Expected at least ${start + n} indices in order (start ${start}, batch ${n}) but received ${order.size}`);
  }
  native().gatherBatch(x.buffer, ints(y), images.buffer, ints(labels), ints(order), start, n, images.size / Math.max(1, images.shape[0]));
}

function ints(t: Tensor): Int32Array | CudaBuffer {
  return t.buffer as Int32Array | CudaBuffer;
}

function batchFits(x: Tensor, y: Tensor, images: Tensor, labels: Tensor, order: Tensor): boolean {
  if (!(images instanceof Tensor) || images.shape.length < 1 || !(x instanceof Tensor)) return false;
  const device = images.device;
  const is = images.shape;
  const xs = x.shape;
  if (xs.length !== is.length || !tensorFits(images, 'float32', device) || !tensorFits(x, 'float32', device)) return false;
  for (let k = 1; k < is.length; k++) if (xs[k] !== is[k]) return false;
  return (
    tensorFits(labels, 'int32', device) && labels.shape.length === 1 && labels.shape[0] === is[0] &&
    tensorFits(y, 'int32', device) && y.shape.length === 1 && y.shape[0] === xs[0] &&
    tensorFits(order, 'int32', device) && order.shape.length === 1
  );
}

function namedChecks(x: Tensor, y: Tensor, images: Tensor, labels: Tensor, order: Tensor): void {
  expectTensor(images, 'images');
  if (images.shape.length < 1) throw new RangeError('Expected a tensor of rank ≥ 1 for images but received a scalar');
  const device = images.device;
  const sample = images.shape.slice(1);
  expectTensor(labels, 'labels', { dtype: 'int32', device, shape: [images.shape[0]] });
  expectTensor(x, 'x', { device, rank: images.shape.length });
  const n = x.shape[0];
  expectTensor(x, 'x', { device, shape: [n, ...sample] });
  expectTensor(y, 'y', { dtype: 'int32', device, shape: [n] });
  expectTensor(order, 'order', { dtype: 'int32', device, rank: 1 });
}
