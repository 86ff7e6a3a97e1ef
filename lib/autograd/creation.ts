/**
 * Making tensors, PyTorch's way: tensor(data, …) from nested arrays or typed arrays, zeros, ones,
 * full, rand, randn, arange, eye, and the *Like forms. Random tensors draw from a Generator
 * (default: napinet's default generator) on the host, so a seed gives the same values on every
 * device.
 */
import { type DeviceSpec } from '../device';
import { defaultGenerator, Generator } from '../random';
import { type DType, type HostArray, type NestedArray, Tensor, type TensorOptions } from '../tensor';
import { expectInt, expectNumber, fail } from '../validate';

/**
 * A tensor holding `data`: nested arrays of numbers (shape inferred), a flat array or typed array
 * with `shape`, or a number (a 0-d tensor), as torch.tensor. Ragged or non-numeric data is an
 * error naming the position. options.requiresGrad makes it a leaf that autograd differentiates.
 */
export function tensor(data: NestedArray | ArrayLike<number> | HostArray, shape?: readonly number[] | TensorOptions, options: TensorOptions = {}): Tensor {
  if (shape !== undefined && !Array.isArray(shape)) return Tensor.from(data, undefined, shape as TensorOptions);
  return Tensor.from(data, shape as readonly number[] | undefined, options);
}

/** A tensor of `shape` filled with 0 (float32 unless `dtype` says int32), on `device` (default the CPU). */
export function zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return Tensor.zeros(shape, options);
}

/** A tensor of `shape` filled with 1. */
export function ones(shape: readonly number[], options: TensorOptions = {}): Tensor {
  return Tensor.full(shape, 1, options);
}

/** A tensor of `shape` filled with `value`. */
export function full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
  return Tensor.full(shape, value, options);
}

/** Options of the like forms: the model tensor's dtype and device unless given. */
function like(t: Tensor, options: TensorOptions): TensorOptions {
  if (!(t instanceof Tensor)) fail('a Tensor', 'input', t);
  return { dtype: t.dtype, device: t.device, ...options };
}

/** Zeros with `t`'s shape, dtype and device (unless `options` say otherwise). */
export const zerosLike = (t: Tensor, options: TensorOptions = {}): Tensor => zeros(t.shape, like(t, options));
/** Ones with `t`'s shape, dtype and device (unless `options` say otherwise). */
export const onesLike = (t: Tensor, options: TensorOptions = {}): Tensor => ones(t.shape, like(t, options));
/** `value` everywhere, with `t`'s shape, dtype and device (unless `options` say otherwise). */
export const fullLike = (t: Tensor, value: number, options: TensorOptions = {}): Tensor => full(t.shape, value, like(t, options));

/** Options of rand() and randn(): where the tensor lives, whether it requires grad, and the generator to draw from. */
export interface RandomOptions {
  device?: DeviceSpec;
  requiresGrad?: boolean;
  generator?: Generator;
}

function randomTensor(shape: readonly number[], options: RandomOptions, draw: (g: Generator) => number): Tensor {
  const g = options.generator ?? defaultGenerator;
  if (!(g instanceof Generator)) fail('a Generator', 'options.generator', g);
  const size = shape.reduce((n, d) => n * d, 1);
  if (!Number.isSafeInteger(size)) fail('a shape of at most 2^53 elements', 'shape', shape, RangeError);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = draw(g);
  return Tensor.from(values, shape, { device: options.device, requiresGrad: options.requiresGrad });
}

/** Uniform on [0, 1) (torch.rand). */
export function rand(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return randomTensor(shape, options, (g) => g.random());
}

/** Standard normal (torch.randn). */
export function randn(shape: readonly number[], options: RandomOptions = {}): Tensor {
  return randomTensor(shape, options, (g) => g.normal());
}

/** start, start + step, … below end (torch.arange); float32 unless options.dtype is 'int32'. */
export function arange(start: number, end?: number, step = 1, options: TensorOptions = {}): Tensor {
  const [lo, hi] = end === undefined ? [0, start] : [start, end];
  expectNumber(lo, 'start');
  expectNumber(hi, 'end');
  expectNumber(step, 'step');
  if (step === 0 || !Number.isFinite(step)) fail('a finite non-zero number', 'step', step, RangeError);
  const count = Math.max(0, Math.ceil((hi - lo) / step));
  const values = Array.from({ length: count }, (_, i) => lo + i * step);
  const dtype: DType = options.dtype ?? 'float32';
  return Tensor.from(dtype === 'int32' ? Int32Array.from(values) : Float32Array.from(values), [count], options);
}

/** The n×m identity (torch.eye; m defaults to n). */
export function eye(n: number, m: number = n, options: TensorOptions = {}): Tensor {
  expectInt(n, 'n', 0);
  expectInt(m, 'm', 0);
  const values = new Float32Array(n * m);
  for (let i = 0; i < Math.min(n, m); i++) values[i * m + i] = 1;
  return Tensor.from(values, [n, m], options);
}
