/**
 * Element-wise activations (torch.nn.functional.relu, sigmoid, tanh, leaky_relu, elu, gelu,
 * softplus) and their gradients. Kernels: native/kernels/activation.
 */
import { type NativeBuffer, native } from '../native';
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { expectFinite, expectTensor, output } from './checks';

/** Checks x and out (x's shape and device), then lets `kernel` write y = f(x) element by element. */
function elementwise(x: Tensor, out: Tensor | undefined, kernel: (y: NativeBuffer, x: NativeBuffer, size: number) => void): Tensor {
  expectTensor(x, 'x');
  const y = output(out, 'out', x.shape, x.device);
  kernel(y.buffer, x.buffer, x.size);
  return y;
}

/**
 * Checks dy, the tensor the gradient is computed from (`saved`: the forward's input x or its
 * output y; same shape and device as dy) and out, then lets `kernel` write dx.
 */
function elementwiseGrad(
  dy: Tensor,
  saved: Tensor,
  savedName: 'x' | 'y',
  out: Tensor | undefined,
  kernel: (dx: NativeBuffer, dy: NativeBuffer, saved: NativeBuffer, size: number) => void,
): Tensor {
  expectTensor(dy, 'dy');
  expectTensor(saved, savedName, { shape: dy.shape, device: dy.device });
  const dx = output(out, 'out', dy.shape, dy.device);
  kernel(dx.buffer, dy.buffer, saved.buffer, dy.size);
  return dx;
}

/** y = max(x, 0). */
export function relu(x: Tensor, out?: Tensor): Tensor {
  return elementwise(x, out, (y, xb, n) => native().reluForward(y, xb, n));
}

/** dx = dy where y > 0, else 0 (the gradient at exactly 0 is 0, as in PyTorch). */
export function reluBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  return elementwiseGrad(dy, y, 'y', out, (dx, dyb, yb, n) => native().reluBackward(dx, dyb, yb, n));
}

/** y = 1 / (1 + exp(−x)). */
export function sigmoid(x: Tensor, out?: Tensor): Tensor {
  return elementwise(x, out, (y, xb, n) => native().sigmoidForward(y, xb, n));
}

/** dx = dy·y·(1 − y), from sigmoid's output y. */
export function sigmoidBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  return elementwiseGrad(dy, y, 'y', out, (dx, dyb, yb, n) => native().sigmoidBackward(dx, dyb, yb, n));
}

/** y = tanh(x). */
export function tanh(x: Tensor, out?: Tensor): Tensor {
  return elementwise(x, out, (y, xb, n) => native().tanhForward(y, xb, n));
}

/** dx = dy·(1 − y²), from tanh's output y. */
export function tanhBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  return elementwiseGrad(dy, y, 'y', out, (dx, dyb, yb, n) => native().tanhBackward(dx, dyb, yb, n));
}

/** y = x where x > 0, else negativeSlope·x (torch default 0.01). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01, out?: Tensor): Tensor {
  expectFinite(negativeSlope, 'negativeSlope');
  return elementwise(x, out, (y, xb, n) => native().leakyReluForward(y, xb, negativeSlope, n));
}

/** dx = dy where x > 0, else negativeSlope·dy (from the input x, as PyTorch). */
export function leakyReluBackward(dy: Tensor, x: Tensor, negativeSlope = 0.01, out?: Tensor): Tensor {
  expectFinite(negativeSlope, 'negativeSlope');
  return elementwiseGrad(dy, x, 'x', out, (dx, dyb, xb, n) => native().leakyReluBackward(dx, dyb, xb, negativeSlope, n));
}

/** y = x where x > 0, else alpha·(exp(x) − 1) (torch default alpha 1). */
export function elu(x: Tensor, alpha = 1, out?: Tensor): Tensor {
  expectFinite(alpha, 'alpha');
  return elementwise(x, out, (y, xb, n) => native().eluForward(y, xb, alpha, n));
}

/** dx = dy where x > 0, else dy·alpha·exp(x) (from the input x). */
export function eluBackward(dy: Tensor, x: Tensor, alpha = 1, out?: Tensor): Tensor {
  expectFinite(alpha, 'alpha');
  return elementwiseGrad(dy, x, 'x', out, (dx, dyb, xb, n) => native().eluBackward(dx, dyb, xb, alpha, n));
}

/** GELU's form: exact ('none', with erf) or the tanh approximation. */
export type GeluApproximate = 'none' | 'tanh';

function expectApproximate(value: unknown): boolean {
  if (value !== 'none' && value !== 'tanh') fail("one of 'none', 'tanh'", 'approximate', value);
  return value === 'tanh';
}

/** y = x·Φ(x) ('none', erf) or its tanh approximation ('tanh'), as torch.nn.functional.gelu. */
export function gelu(x: Tensor, approximate: GeluApproximate = 'none', out?: Tensor): Tensor {
  const approximateTanh = expectApproximate(approximate);
  return elementwise(x, out, (y, xb, n) => native().geluForward(y, xb, approximateTanh, n));
}

/** Gradient of gelu(x, approximate) (from the input x). */
export function geluBackward(dy: Tensor, x: Tensor, approximate: GeluApproximate = 'none', out?: Tensor): Tensor {
  const approximateTanh = expectApproximate(approximate);
  return elementwiseGrad(dy, x, 'x', out, (dx, dyb, xb, n) => native().geluBackward(dx, dyb, xb, approximateTanh, n));
}

/** Softplus's beta and threshold, as torch.nn.functional.softplus. */
export interface SoftplusOptions {
  /** Default 1; must not be 0. */
  beta?: number;
  /** Above beta·x > threshold the function is taken as linear (default 20). */
  threshold?: number;
}

function softplusOptions(options: SoftplusOptions): { beta: number; threshold: number } {
  if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
  const beta = expectFinite(options.beta ?? 1, 'options.beta');
  if (beta === 0) fail('a non-zero number', 'options.beta', beta, RangeError);
  return { beta, threshold: expectFinite(options.threshold ?? 20, 'options.threshold') };
}

/** y = log(1 + exp(beta·x))/beta, or x where beta·x > threshold (torch.nn.functional.softplus). */
export function softplus(x: Tensor, options: SoftplusOptions = {}, out?: Tensor): Tensor {
  const { beta, threshold } = softplusOptions(options);
  return elementwise(x, out, (y, xb, n) => native().softplusForward(y, xb, beta, threshold, n));
}

/** dx = dy·sigmoid(beta·x), or dy where beta·x > threshold (from the input x). */
export function softplusBackward(dy: Tensor, x: Tensor, options: SoftplusOptions = {}, out?: Tensor): Tensor {
  const { beta, threshold } = softplusOptions(options);
  return elementwiseGrad(dy, x, 'x', out, (dx, dyb, xb, n) => native().softplusBackward(dx, dyb, xb, beta, threshold, n));
}
