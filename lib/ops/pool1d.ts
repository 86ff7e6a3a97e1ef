/**
 * 1-D max and average pooling (torch.nn.functional.max_pool1d with return_indices=True, and
 * avg_pool1d) on [N, C, L] tensors, ceil_mode false, dilation 1. Test: test/pool1d.test.ts.
 *
 * No kernels of its own: x [N, C, L] is viewed (no copy) as [N, C, 1, L] and pooled by pool2d's
 * CPU and CUDA kernels with a window of height 1. A max-pool index h·W + w is then w, the position
 * along L that PyTorch's max_pool1d returns.
 */
import type { Tensor } from '../tensor';
import { expectBoolean, expectShape, fail } from '../validate';
import { expectTensor } from './checks';
import { expectSingle } from './conv1d';
import { avgPool2d, avgPool2dBackward, type AvgPool2dOptions, expectPaddingInWindow, maxPool2d, maxPool2dBackward, poolArguments } from './pool2d';

/** Options of maxPool1d: kernel size, stride and padding. */
export interface Pool1dOptions {
  kernelSize: number | [number];
  /** Defaults to kernelSize. */
  stride?: number | [number];
  /** Implicit padding on both ends, at most half the kernel (as PyTorch requires). Default 0. */
  padding?: number | [number];
}

/** Options of avgPool1d: maxPool1d's, and whether padding counts in the mean. */
export interface AvgPool1dOptions extends Pool1dOptions {
  /** Divide by the whole window, padding included (PyTorch's default, true), or by the inputs it covers. */
  countIncludePad?: boolean;
}

interface Geometry {
  n: number;
  c: number;
  l: number;
  ol: number;
  /** The same window as a pool2d one of height 1. */
  pool2d: AvgPool2dOptions;
}

function geometry(inputShape: unknown, options: unknown, shapeName: string): Geometry {
  const { shape, o } = poolArguments<AvgPool1dOptions>(inputShape, options, shapeName, ['N', 'C', 'L']);
  const kernel = expectSingle(o.kernelSize, 'options.kernelSize', 1);
  const stride = o.stride === undefined ? kernel : expectSingle(o.stride, 'options.stride', 1);
  const padding = o.padding === undefined ? 0 : expectSingle(o.padding, 'options.padding', 0);
  expectPaddingInWindow(padding, kernel, o.padding);
  const [n, c, l] = shape;
  if (l < 1 || l + 2 * padding < kernel) {
    throw new RangeError(`Expected an input at least as long as the kernel ${kernel} (with padding ${padding}) for ${shapeName} but received [${shape.join(', ')}]`);
  }
  const includePad = o.countIncludePad === undefined ? true : expectBoolean(o.countIncludePad, 'options.countIncludePad');
  const ol = Math.floor((l + 2 * padding - kernel) / stride) + 1;
  return { n, c, l, ol, pool2d: { kernelSize: [1, kernel], stride: [1, stride], padding: [0, padding], countIncludePad: includePad } };
}

/** [N, C, OL] with OL = ⌊(L + 2·padding − kernel) / stride⌋ + 1, as PyTorch (ceil_mode false). */
export function pool1dOutputShape(inputShape: readonly number[], options: Pool1dOptions): number[] {
  const g = geometry(inputShape, options, 'inputShape');
  return [g.n, g.c, g.ol];
}

const as2d = (t: Tensor): Tensor => t.viewAs([t.shape[0], t.shape[1], 1, t.shape[2]]);

/**
 * Max pooling. `indices` (int32, y's shape) holds each maximum's position along L, as PyTorch's
 * return_indices; ties go to the first maximum, and a NaN counts as the maximum.
 */
export function maxPool1d(x: Tensor, options: Pool1dOptions, out?: { y?: Tensor; indices?: Tensor }): { y: Tensor; indices: Tensor } {
  expectTensor(x, 'x', { rank: 3 });
  const g = geometry(x.shape, options, 'x');
  if (out !== undefined && (typeof out !== 'object' || out === null)) fail('an object { y?, indices? }', 'out', out);
  const shape = [g.n, g.c, g.ol];
  if (out?.y !== undefined) expectTensor(out.y, 'out.y', { shape, device: x.device });
  if (out?.indices !== undefined) expectTensor(out.indices, 'out.indices', { shape, device: x.device, dtype: 'int32' });
  const r = maxPool2d(as2d(x), g.pool2d, {
    y: out?.y === undefined ? undefined : as2d(out.y),
    indices: out?.indices === undefined ? undefined : as2d(out.indices),
  });
  return { y: out?.y ?? r.y.viewAs(shape), indices: out?.indices ?? r.indices.viewAs(shape) };
}

/** dx of max pooling: zeros, with each dy added at its argmax (overlapping windows accumulate). */
export function maxPool1dBackward(dy: Tensor, indices: Tensor, inputShape: readonly number[], out?: Tensor): Tensor {
  expectTensor(dy, 'dy', { rank: 3 });
  expectTensor(indices, 'indices', { dtype: 'int32', shape: dy.shape, device: dy.device });
  expectShape(inputShape, 'inputShape');
  if (inputShape.length !== 3 || inputShape[0] !== dy.shape[0] || inputShape[1] !== dy.shape[1] || inputShape[2] < 1) {
    fail(`a shape [${dy.shape[0]}, ${dy.shape[1]}, L ≥ 1] matching dy`, 'inputShape', inputShape, RangeError);
  }
  if (out !== undefined) expectTensor(out, 'out', { shape: inputShape, device: dy.device });
  const [n, c, l] = inputShape;
  const dx = maxPool2dBackward(as2d(dy), as2d(indices), [n, c, 1, l], out === undefined ? undefined : as2d(out));
  return out ?? dx.viewAs(inputShape);
}

/** Average pooling; the divisor counts padding unless options.countIncludePad is false. */
export function avgPool1d(x: Tensor, options: AvgPool1dOptions, out?: Tensor): Tensor {
  expectTensor(x, 'x', { rank: 3 });
  const g = geometry(x.shape, options, 'x');
  if (out !== undefined) expectTensor(out, 'out', { shape: [g.n, g.c, g.ol], device: x.device });
  const y = avgPool2d(as2d(x), g.pool2d, out === undefined ? undefined : as2d(out));
  return out ?? y.viewAs([g.n, g.c, g.ol]);
}

/** dx of average pooling: each dy spread evenly (÷ divisor) over its window. */
export function avgPool1dBackward(dy: Tensor, inputShape: readonly number[], options: AvgPool1dOptions, out?: Tensor): Tensor {
  expectTensor(dy, 'dy', { rank: 3 });
  const g = geometry(inputShape, options, 'inputShape');
  expectTensor(dy, 'dy', { shape: [g.n, g.c, g.ol] });
  if (out !== undefined) expectTensor(out, 'out', { shape: inputShape, device: dy.device });
  const dx = avgPool2dBackward(as2d(dy), [g.n, g.c, 1, g.l], g.pool2d, out === undefined ? undefined : as2d(out));
  return out ?? dx.viewAs(inputShape);
}
