/**
 * Element-wise activations (torch.nn.functional.relu, sigmoid, tanh, leaky_relu, elu, gelu,
 * softplus) and their gradients. Kernels: native/kernels/activation.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { expectFinite, expectTensor, output } from './checks';

/** y = max(x, 0). */
export function relu(x: Tensor, out?: Tensor): Tensor {
  expectTensor(x, 'x');
  const y = output(out, 'out', x.shape, x.device);
  native().reluForward(y.buffer, x.buffer, x.size);
  return y;
}

/** dx = dy where y > 0, else 0 (the gradient at exactly 0 is 0, as in PyTorch). */
export function reluBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  expectTensor(dy, 'dy');
  expectTensor(y, 'y', { shape: dy.shape, device: dy.device });
  const dx = output(out, 'out', dy.shape, dy.device);
  native().reluBackward(dx.buffer, dy.buffer, y.buffer, dy.size);
  return dx;
}

/** Checks dy and the saved tensor (same shape and device) and picks the output for dx. */
function gradArgs(dy: Tensor, saved: Tensor, savedName: string, out: Tensor | undefined): Tensor {
  expectTensor(dy, 'dy');
  expectTensor(saved, savedName, { shape: dy.shape, device: dy.device });
  return output(out, 'out', dy.shape, dy.device);
}

function forwardArgs(x: Tensor, out: Tensor | undefined): Tensor {
  expectTensor(x, 'x');
  return output(out, 'out', x.shape, x.device);
}

/** y = 1 / (1 + exp(−x)). */
export function sigmoid(x: Tensor, out?: Tensor): Tensor {
  const y = forwardArgs(x, out);
  native().sigmoidForward(y.buffer, x.buffer, x.size);
  return y;
}

/** dx = dy·y·(1 − y), from sigmoid's output y. */
export function sigmoidBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  const dx = gradArgs(dy, y, 'y', out);
  native().sigmoidBackward(dx.buffer, dy.buffer, y.buffer, dy.size);
  return dx;
}

/** y = tanh(x). */
export function tanh(x: Tensor, out?: Tensor): Tensor {
  const y = forwardArgs(x, out);
  native().tanhForward(y.buffer, x.buffer, x.size);
  return y;
}

/** dx = dy·(1 − y²), from tanh's output y. */
export function tanhBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  const dx = gradArgs(dy, y, 'y', out);
  native().tanhBackward(dx.buffer, dy.buffer, y.buffer, dy.size);
  return dx;
}

/** y = x where x > 0, else negativeSlope·x (torch default 0.01). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01, out?: Tensor): Tensor {
  expectFinite(negativeSlope, 'negativeSlope');
  const y = forwardArgs(x, out);
  native().leakyReluForward(y.buffer, x.buffer, negativeSlope, x.size);
  return y;
}

/** dx = dy where x > 0, else negativeSlope·dy (from the input x, as PyTorch). */
export function leakyReluBackward(dy: Tensor, x: Tensor, negativeSlope = 0.01, out?: Tensor): Tensor {
  expectFinite(negativeSlope, 'negativeSlope');
  const dx = gradArgs(dy, x, 'x', out);
  native().leakyReluBackward(dx.buffer, dy.buffer, x.buffer, negativeSlope, dy.size);
  return dx;
}

/** y = x where x > 0, else alpha·(exp(x) − 1) (torch default alpha 1). */
export function elu(x: Tensor, alpha = 1, out?: Tensor): Tensor {
  expectFinite(alpha, 'alpha');
  const y = forwardArgs(x, out);
  native().eluForward(y.buffer, x.buffer, alpha, x.size);
  return y;
}

/** dx = dy where x > 0, else dy·alpha·exp(x) (from the input x). */
export function eluBackward(dy: Tensor, x: Tensor, alpha = 1, out?: Tensor): Tensor {
  expectFinite(alpha, 'alpha');
  const dx = gradArgs(dy, x, 'x', out);
  native().eluBackward(dx.buffer, dy.buffer, x.buffer, alpha, dy.size);
  return dx;
}

export type GeluApproximate = 'none' | 'tanh';

function expectApproximate(value: unknown): boolean {
  if (value !== 'none' && value !== 'tanh') fail("one of 'none', 'tanh'", 'approximate', value);
  return value === 'tanh';
}

/** y = x·Φ(x) ('none', erf) or its tanh approximation ('tanh'), as torch.nn.functional.gelu. */
export function gelu(x: Tensor, approximate: GeluApproximate = 'none', out?: Tensor): Tensor {
  const approximateTanh = expectApproximate(approximate);
  const y = forwardArgs(x, out);
  native().geluForward(y.buffer, x.buffer, approximateTanh, x.size);
  return y;
}

/** Gradient of gelu(x, approximate) (from the input x). */
export function geluBackward(dy: Tensor, x: Tensor, approximate: GeluApproximate = 'none', out?: Tensor): Tensor {
  const approximateTanh = expectApproximate(approximate);
  const dx = gradArgs(dy, x, 'x', out);
  native().geluBackward(dx.buffer, dy.buffer, x.buffer, approximateTanh, dy.size);
  return dx;
}

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
  const y = forwardArgs(x, out);
  native().softplusForward(y.buffer, x.buffer, beta, threshold, x.size);
  return y;
}

/** dx = dy·sigmoid(beta·x), or dy where beta·x > threshold (from the input x). */
export function softplusBackward(dy: Tensor, x: Tensor, options: SoftplusOptions = {}, out?: Tensor): Tensor {
  const { beta, threshold } = softplusOptions(options);
  const dx = gradArgs(dy, x, 'x', out);
  native().softplusBackward(dx.buffer, dy.buffer, x.buffer, beta, threshold, dy.size);
  return dx;
}
