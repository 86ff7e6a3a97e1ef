/**
 * A training batch picked by index (torch.index_select along dim 0, a dataset's inputs and targets
 * at once): the training loop's batch gather, on the CPU or on a GPU holding the whole dataset, so
 * a GPU step uploads nothing. Inputs and targets may each be float32 or int32, of any shape
 * [rows, ...sample] (images and class labels, features and regression targets). Kernels:
 * native/kernels/gather, cuda/gather.cu. Test: test/gather.test.ts.
 */
import { type CudaBuffer, native } from '../native';
import { Tensor } from '../tensor';
import { expectInt } from '../validate';
import { expectTensor, tensorFits } from './checks';

/**
 * x[i] = inputs[order[start + i]] and y[i] = targets[order[start + i]] for i < x.shape[0], in
 * place. inputs [rows, ...a], targets [rows, ...b] (each float32 or int32), order 1-D int32,
 * x [n, ...a] with inputs' dtype, y [n, ...b] with targets' dtype, all on one device. On the CPU
 * every index is checked (RangeError); on a GPU an index outside [0, rows) gives a NaN input and
 * the target −1 (int32) or NaN (float32), so the loss becomes NaN.
 */
export function gatherBatch(x: Tensor, y: Tensor, inputs: Tensor, targets: Tensor, order: Tensor, start: number): void {
  // The named checks run only when the quick one fails: the training loop calls this every step,
  // which should allocate nothing.
  if (!batchFits(x, y, inputs, targets, order)) namedChecks(x, y, inputs, targets, order);
  expectInt(start, 'start', 0);
  const n = x.shape[0];
  if (start + n > order.size) {
    throw new RangeError(`Expected at least ${start + n} indices in order (start ${start}, batch ${n}) but received ${order.size}`);
  }
  native().gatherBatch(x.buffer, y.buffer, inputs.buffer, targets.buffer, order.buffer as Int32Array | CudaBuffer, start, n, rowLength(inputs), rowLength(targets));
}

/** Elements per row (per sample) of a [rows, ...sample] tensor. */
function rowLength(t: Tensor): number {
  let n = 1;
  for (let k = 1; k < t.shape.length; k++) n *= t.shape[k];
  return n;
}

/** x's and y's shapes follow inputs' and targets' past the first dimension, and their dtypes. */
function rowsMatch(out: Tensor, source: Tensor): boolean {
  const s = source.shape;
  const o = out.shape;
  if (o.length !== s.length || out.dtype !== source.dtype) return false;
  for (let k = 1; k < s.length; k++) if (o[k] !== s[k]) return false;
  return true;
}

function batchFits(x: Tensor, y: Tensor, inputs: Tensor, targets: Tensor, order: Tensor): boolean {
  if (!(inputs instanceof Tensor) || !(targets instanceof Tensor) || !(x instanceof Tensor) || !(y instanceof Tensor)) return false;
  if (inputs.shape.length < 1 || targets.shape.length < 1) return false;
  const device = inputs.device;
  return (
    tensorFits(inputs, inputs.dtype, device) && tensorFits(x, inputs.dtype, device) && rowsMatch(x, inputs) &&
    tensorFits(targets, targets.dtype, device) && tensorFits(y, targets.dtype, device) && rowsMatch(y, targets) &&
    targets.shape[0] === inputs.shape[0] && y.shape[0] === x.shape[0] && rowLength(targets) >= 1 &&
    tensorFits(order, 'int32', device) && order.shape.length === 1
  );
}

function namedChecks(x: Tensor, y: Tensor, inputs: Tensor, targets: Tensor, order: Tensor): void {
  for (const [t, name] of [[inputs, 'inputs'], [targets, 'targets']] as const) {
    if (!(t instanceof Tensor)) expectTensor(t, name);
    if (t.shape.length < 1) throw new RangeError(`Expected a tensor of rank ≥ 1 for ${name} but received a scalar`);
  }
  const device = inputs.device;
  expectTensor(inputs, 'inputs', { dtype: inputs.dtype });
  expectTensor(targets, 'targets', { dtype: targets.dtype, device });
  if (targets.shape[0] !== inputs.shape[0]) {
    throw new RangeError(`Expected ${inputs.shape[0]} rows (those of inputs) for targets but received shape [${targets.shape.join(', ')}]`);
  }
  if (rowLength(targets) === 0) throw new RangeError(`Expected targets with at least one element per row but received shape [${targets.shape.join(', ')}]`);
  if (!(x instanceof Tensor)) expectTensor(x, 'x');
  const n = x.shape[0];
  expectTensor(x, 'x', { dtype: inputs.dtype, device, shape: [n, ...inputs.shape.slice(1)] });
  expectTensor(y, 'y', { dtype: targets.dtype, device, shape: [n, ...targets.shape.slice(1)] });
  expectTensor(order, 'order', { dtype: 'int32', device, rank: 1 });
}
