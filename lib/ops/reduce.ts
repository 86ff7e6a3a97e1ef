/**
 * Reductions over dimensions: sum, mean, prod, max, min, var (torch.sum / mean / prod / amax /
 * amin / var), max and min with the winners' indices (torch.max(x, dim) / min), argmax / argmin,
 * and sumToShape (the gradient of a broadcast). Non-differentiable building blocks for autograd.
 * Kernels: native/kernels/reduce (order of summation and NaN rules in its header), cuda/reduce.cu.
 * Test: test/reduce.test.ts.
 *
 * Inputs are float32 tensors; dims are dimension indices (negative ones count from the end), and
 * leaving them out reduces every dimension — so does an empty list, as in PyTorch 2.13 (x.sum([])
 * is the sum of everything; NumPy would reduce nothing). keepDim keeps each reduced
 * dimension with size 1, as PyTorch's keepdim. Indices are int32: the position along the reduced
 * dimension (for several dimensions, in row-major order over them; for all, the flat index).
 */
import { native } from '../native';
import type { CudaBuffer } from '../native';
import { Tensor } from '../tensor';
import { expectBoolean, expectNumber, fail } from '../validate';
import { expectTensor, output } from './checks';
import { copy } from './elementwise';
import { MAX_RANK, failShape, keepDimShape, normalizeDim, normalizeDims, shapeText } from './views';

/** The reductions reduce() computes. */
export type ReduceOp = 'sum' | 'mean' | 'prod' | 'max' | 'min' | 'var';

/** Options of reduce: dimensions, keepDim, var's correction, the output. */
export interface ReduceOptions {
  /** The dimensions to reduce (one, or a list; default, or an empty list: all, as PyTorch). */
  dims?: number | readonly number[];
  /** Keep reduced dimensions with size 1 (default false). */
  keepDim?: boolean;
  /** var only: divide by count − correction (default 1, the unbiased estimate, as torch.var). */
  correction?: number;
  /** Where the result goes (its shape: the result's); default a new tensor. */
  out?: Tensor;
}

/** Options of reduceWithIndices (max or min along a dimension, with the int32 positions): keepDim and the outputs. */
export interface IndexedReduceOptions {
  keepDim?: boolean;
  /** Where values and indices (int32) go. */
  out?: { values?: Tensor; indices?: Tensor };
}

let opNumbers: Map<string, number> | undefined;

function opNumber(op: unknown): number {
  opNumbers ??= new Map(native().reduceOpNames().map((n, i) => [n, i]));
  const number = typeof op === 'string' ? opNumbers.get(op) : undefined;
  if (number === undefined) fail(`one of ${[...opNumbers.keys()].map((k) => `'${k}'`).join(', ')}`, 'op', op);
  return number as number;
}

function expectOptions(options: unknown, keys: readonly string[]): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail('an options object', 'options', options);
  for (const key of Object.keys(options as object)) {
    if (!keys.includes(key)) fail(`one of the options ${keys.join(', ')}`, 'options', key);
  }
  return options as Record<string, unknown>;
}

function expectInput(x: unknown): Tensor {
  const t = expectTensor(x, 'x');
  if (t.shape.length > MAX_RANK) failShape(`a tensor of rank ≤ ${MAX_RANK}`, 'x', t.shape);
  return t;
}

/** The reduced dims (sorted) and the output shape. */
function plan(x: Tensor, dims: unknown, keepDim: boolean): { dims: number[]; shape: number[] } {
  const rank = x.shape.length;
  let reduced = dims === undefined ? [] : normalizeDims(dims, rank, 'options.dims');
  if (reduced.length === 0 || rank === 0) reduced = x.shape.map((_, d) => d);  // all (a scalar: none)
  const kept = keepDimShape(x.shape, reduced);
  return { dims: reduced, shape: keepDim ? kept : x.shape.filter((_, d) => !reduced.includes(d)) };
}

/**
 * `op` over options.dims of x. max / min on an empty reduction throw (as PyTorch); sum of nothing
 * is 0, prod 1, mean and var NaN.
 */
export function reduce(op: ReduceOp, x: Tensor, options?: ReduceOptions): Tensor {
  const code = opNumber(op);
  const t = expectInput(x);
  const opts = expectOptions(options, ['dims', 'keepDim', 'correction', 'out']);
  const keepDim = expectBoolean(opts.keepDim ?? false, 'options.keepDim');
  if (opts.correction !== undefined && op !== 'var') fail('no correction (only var takes one)', 'options.correction', opts.correction);
  const correction = expectNumber(opts.correction ?? 1, 'options.correction');
  if (!Number.isFinite(correction)) fail('a finite number', 'options.correction', correction, RangeError);
  const p = plan(t, opts.dims, keepDim);
  checkNonEmpty(op, t, p.dims);
  const out = output(opts.out as Tensor | undefined, 'options.out', p.shape, t.device);
  if (out === t) fail('a tensor other than x', 'options.out', out);
  native().reduce(code, out.buffer, null, t.buffer, t.shape, p.dims, correction);
  return out;
}

function checkNonEmpty(op: string, x: Tensor, dims: readonly number[]): void {
  if ((op === 'max' || op === 'min') && x.size === 0 && keepDimShape(x.shape, dims).every((d) => d > 0)) {
    throw new RangeError(`Expected a non-empty reduction for ${op} but received shape ${shapeText(x.shape)} reducing dims [${dims.join(', ')}]`);
  }
}

function int32Storage(t: Tensor): Int32Array | CudaBuffer {
  return t.buffer as Int32Array | CudaBuffer;
}

/**
 * torch.max(x, dim) / torch.min(x, dim): the values and the int32 indices of the first maximum
 * (minimum) along dim; NaN counts as the largest (smallest) value and its first index wins.
 */
export function reduceWithIndices(op: 'max' | 'min', x: Tensor, dim: number, options?: IndexedReduceOptions): { values: Tensor; indices: Tensor } {
  if (op !== 'max' && op !== 'min') fail("'max' or 'min'", 'op', op);
  const t = expectInput(x);
  const opts = expectOptions(options, ['keepDim', 'out']);
  const keepDim = expectBoolean(opts.keepDim ?? false, 'options.keepDim');
  const d = normalizeDim(dim, t.shape.length, 'dim');
  const p = plan(t, t.shape.length === 0 ? [] : [d], keepDim);
  checkNonEmpty(op, t, p.dims);
  const given = (opts.out ?? {}) as { values?: Tensor; indices?: Tensor };
  const values = output(given.values, 'options.out.values', p.shape, t.device);
  const indices = output(given.indices, 'options.out.indices', p.shape, t.device, 'int32');
  native().reduce(opNumber(op), values.buffer, int32Storage(indices), t.buffer, t.shape, p.dims, 0);
  return { values, indices };
}

function argReduce(op: 'max' | 'min', x: Tensor, options: unknown): Tensor {
  const t = expectInput(x);
  const opts = expectOptions(options, ['dim', 'keepDim']);
  const keepDim = expectBoolean(opts.keepDim ?? false, 'options.keepDim');
  const dims = opts.dim === undefined ? undefined : [normalizeDim(opts.dim, t.shape.length, 'options.dim')];
  const p = plan(t, t.shape.length === 0 ? [] : dims, keepDim);
  checkNonEmpty(op, t, p.dims);
  if (t.size / Math.max(1, p.shape.reduce((a, b) => a * b, 1)) > 2 ** 31 - 1) {
    fail('at most 2^31 − 1 elements per reduction (int32 indices)', 'x', t, RangeError);
  }
  const values = Tensor.empty(p.shape, { device: t.device });
  const indices = Tensor.empty(p.shape, { device: t.device, dtype: 'int32' });
  native().reduce(opNumber(op), values.buffer, int32Storage(indices), t.buffer, t.shape, p.dims, 0);
  values.dispose();
  return indices;
}

/**
 * torch.argmax(x, dim?, keepdim?): int32 indices of the first maximum; without a dim, the flat
 * index (shape [], or all ones with keepDim, as PyTorch 2.13).
 */
export function argmax(x: Tensor, options?: { dim?: number; keepDim?: boolean }): Tensor {
  return argReduce('max', x, options);
}

/** torch.argmin, as argmax. */
export function argmin(x: Tensor, options?: { dim?: number; keepDim?: boolean }): Tensor {
  return argReduce('min', x, options);
}

/**
 * x summed down to `shape` (a shape that broadcasts to x's: the gradient of broadcasting an input
 * of that shape): the leading dimensions x has in excess and the dimensions where `shape` has 1
 * are summed. Returns a new tensor of `shape` (x itself is never returned).
 */
export function sumToShape(x: Tensor, shape: readonly number[]): Tensor {
  const t = expectInput(x);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail('an array of non-negative integers', 'shape', shape);
  const lead = t.shape.length - shape.length;
  const fits = lead >= 0 && shape.every((d, i) => d === t.shape[lead + i] || d === 1);
  if (!fits) {
    throw new RangeError(`Expected a shape that broadcasts to ${shapeText(t.shape)} (the shape of x) for shape but received ${shapeText(shape)}`);
  }
  const dims = t.shape.map((_, d) => d).filter((d) => d < lead || (shape[d - lead] === 1 && t.shape[d] !== 1));
  if (dims.length === 0) return copy(t).viewAs(shape);  // (an empty dims list would reduce everything)
  return reduce('sum', t, { dims, keepDim: true }).viewAs(shape);
}
