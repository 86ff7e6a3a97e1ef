/**
 * 2-D max and average pooling (torch.nn.functional.max_pool2d with return_indices=True, and
 * avg_pool2d), NCHW, ceil_mode false, dilation 1. Kernels: native/kernels/pool2d.
 */
import { type CudaBuffer, native } from '../native';
import type { Tensor } from '../tensor';
import { describe, expectBoolean, expectPair, expectShape, fail } from '../validate';
import { expectTensor, output } from './checks';

/** Options of maxPool2d: kernel size, stride and padding (each a number or [h, w]). */
export interface Pool2dOptions {
  kernelSize: number | [number, number];
  /** Defaults to kernelSize. */
  stride?: number | [number, number];
  /** Implicit padding on both sides, at most half the kernel (as PyTorch requires). Default 0. */
  padding?: number | [number, number];
}

/** Options of avgPool2d: maxPool2d's, and whether padding counts in the mean. */
export interface AvgPool2dOptions extends Pool2dOptions {
  /** Divide by the whole window, padding included (PyTorch's default, true), or by the inputs it covers. */
  countIncludePad?: boolean;
}

interface Geometry {
  n: number;
  c: number;
  h: number;
  w: number;
  kernel: [number, number];
  stride: [number, number];
  padding: [number, number];
  oh: number;
  ow: number;
}

/** The input shape (of `layout`'s rank) and the options object of a pooling call, checked (pool1d's too). */
export function poolArguments<O>(inputShape: unknown, options: unknown, shapeName: string, layout: string[]): { shape: readonly number[]; o: O } {
  expectShape(inputShape, shapeName);
  const shape = inputShape as readonly number[];
  if (shape.length !== layout.length) fail(`a shape of rank ${layout.length} ([${layout.join(', ')}])`, shapeName, shape, RangeError);
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail('an options object', 'options', options);
  return { shape, o: options as O };
}

/** PyTorch's rule for a pooling window: padding at most half the kernel (`given`: the padding option as passed). */
export function expectPaddingInWindow(padding: number, kernel: number, given: unknown): void {
  if (padding > Math.floor(kernel / 2)) {
    throw new RangeError(`Expected padding at most half the kernel size (${Math.floor(kernel / 2)} for kernel ${kernel}) for options.padding but received ${describe(given)}`);
  }
}

function geometry(inputShape: unknown, options: unknown, shapeName: string): Geometry {
  const { shape, o } = poolArguments<Pool2dOptions>(inputShape, options, shapeName, ['N', 'C', 'H', 'W']);
  const kernel = expectPair(o.kernelSize, 'options.kernelSize', 1);
  const stride = o.stride === undefined ? kernel : expectPair(o.stride, 'options.stride', 1);
  const padding = o.padding === undefined ? ([0, 0] as [number, number]) : expectPair(o.padding, 'options.padding', 0);
  for (const axis of [0, 1]) expectPaddingInWindow(padding[axis], kernel[axis], o.padding);
  const [n, c, h, w] = shape;
  const oh = Math.floor((h + 2 * padding[0] - kernel[0]) / stride[0]) + 1;
  const ow = Math.floor((w + 2 * padding[1] - kernel[1]) / stride[1]) + 1;
  if (h < 1 || w < 1 || h + 2 * padding[0] < kernel[0] || w + 2 * padding[1] < kernel[1]) {
    throw new RangeError(
      `Expected an input at least as large as the kernel [${kernel.join(', ')}] (with padding [${padding.join(', ')}]) ` +
        `for ${shapeName} but received [${shape.join(', ')}]`,
    );
  }
  return { n, c, h, w, kernel, stride, padding, oh, ow };
}

/** [N, C, OH, OW] with OH = ⌊(H + 2·padding − kernel) / stride⌋ + 1, as PyTorch (ceil_mode false). */
export function pool2dOutputShape(inputShape: readonly number[], options: Pool2dOptions): number[] {
  const g = geometry(inputShape, options, 'inputShape');
  return [g.n, g.c, g.oh, g.ow];
}

function int32Storage(t: Tensor): Int32Array | CudaBuffer {
  return t.buffer as Int32Array | CudaBuffer;
}

/**
 * Max pooling. `indices` (int32, y's shape) holds each maximum's flat position h·W + w in its input
 * plane, as PyTorch's return_indices; ties go to the first maximum in row-major window order, and
 * a NaN counts as the maximum.
 */
export function maxPool2d(x: Tensor, options: Pool2dOptions, out?: { y?: Tensor; indices?: Tensor }): { y: Tensor; indices: Tensor } {
  expectTensor(x, 'x', { rank: 4 });
  const g = geometry(x.shape, options, 'x');
  if (out !== undefined && (typeof out !== 'object' || out === null)) fail('an object { y?, indices? }', 'out', out);
  const shape = [g.n, g.c, g.oh, g.ow];
  const y = output(out?.y, 'out.y', shape, x.device);
  const indices = output(out?.indices, 'out.indices', shape, x.device, 'int32');
  native().maxPool2dForward(y.buffer, int32Storage(indices), x.buffer, g.n, g.c, g.h, g.w, ...g.kernel, ...g.stride, ...g.padding);
  return { y, indices };
}

/** dx of max pooling: zeros, with each dy added at its argmax (overlapping windows accumulate). */
export function maxPool2dBackward(dy: Tensor, indices: Tensor, inputShape: readonly number[], out?: Tensor): Tensor {
  expectTensor(dy, 'dy', { rank: 4 });
  expectTensor(indices, 'indices', { dtype: 'int32', shape: dy.shape, device: dy.device });
  expectShape(inputShape, 'inputShape');
  if (inputShape.length !== 4 || inputShape[0] !== dy.shape[0] || inputShape[1] !== dy.shape[1] || inputShape[2] < 1 || inputShape[3] < 1) {
    fail(`a shape [${dy.shape[0]}, ${dy.shape[1]}, H ≥ 1, W ≥ 1] matching dy`, 'inputShape', inputShape, RangeError);
  }
  const [n, c, h, w] = inputShape;
  const dx = output(out, 'out', inputShape, dy.device);
  native().maxPool2dBackward(dx.buffer, dy.buffer, int32Storage(indices), n, c, h, w, dy.shape[2], dy.shape[3]);
  return dx;
}

function countIncludePad(options: AvgPool2dOptions): boolean {
  return options.countIncludePad === undefined ? true : expectBoolean(options.countIncludePad, 'options.countIncludePad');
}

/** Average pooling; the divisor counts padding unless options.countIncludePad is false. */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions, out?: Tensor): Tensor {
  expectTensor(x, 'x', { rank: 4 });
  const g = geometry(x.shape, options, 'x');
  const includePad = countIncludePad(options);
  const y = output(out, 'out', [g.n, g.c, g.oh, g.ow], x.device);
  native().avgPool2dForward(y.buffer, x.buffer, g.n, g.c, g.h, g.w, ...g.kernel, ...g.stride, ...g.padding, includePad);
  return y;
}

/** dx of average pooling: each dy spread evenly (÷ divisor) over its window. */
export function avgPool2dBackward(dy: Tensor, inputShape: readonly number[], options: AvgPool2dOptions, out?: Tensor): Tensor {
  expectTensor(dy, 'dy', { rank: 4 });
  const g = geometry(inputShape, options, 'inputShape');
  const includePad = countIncludePad(options);
  expectTensor(dy, 'dy', { shape: [g.n, g.c, g.oh, g.ow] });
  const dx = output(out, 'out', inputShape, dy.device);
  native().avgPool2dBackward(dx.buffer, dy.buffer, g.n, g.c, g.h, g.w, ...g.kernel, ...g.stride, ...g.padding, includePad);
  return dx;
}
