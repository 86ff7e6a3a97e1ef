/**
 * Ternary 2-D convolution: conv2d with a weight whose values are −1, 0 and +1, run by a native
 * kernel that only adds and subtracts (section 14.8.5). Kernel: native/kernels/ternary_conv2d.
 * Test: test/ternary_conv2d.test.ts.
 *
 * x (N, C, H, W) float32, weight (K, C, kh, kw) int32 codes in {−1, 0, +1}, bias (K) or null →
 * y (N, K, OH, OW), equal to conv2d(x, float(weight), bias) with the same stride and padding.
 */
import { type CudaBuffer, native } from '../native';
import type { Tensor } from '../tensor';
import { expectPair } from '../validate';
import { expectOptions, expectTensor, output } from './checks';
import { conv2dOutputShape } from './conv2d';

/** Options of ternaryConv2d: stride and padding. */
export interface TernaryConv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

/** y = Σ_{w=+1} x − Σ_{w=−1} x (+ bias), written into `out` when given. */
export function ternaryConv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options: TernaryConv2dOptions = {}, out?: Tensor): Tensor {
  expectOptions(options);
  expectTensor(x, 'x', { rank: 4 });
  expectTensor(weight, 'weight', { rank: 4, dtype: 'int32', device: x.device });
  const stride = expectPair(options.stride ?? 1, 'options.stride', 1);
  const padding = expectPair(options.padding ?? 0, 'options.padding', 0);
  const [n, c, h, w] = x.shape;
  const [k, wc, kh, kw] = weight.shape;
  if (c === 0 || h === 0 || w === 0) throw new RangeError(`Expected non-zero channels, height and width for x but received shape [${x.shape.join(', ')}]`);
  if (k === 0 || kh === 0 || kw === 0) throw new RangeError(`Expected non-zero output channels and kernel size for weight but received shape [${weight.shape.join(', ')}]`);
  if (wc !== c) throw new RangeError(`Expected weight.shape[1] = ${c} (the channels of x) for weight but received shape [${weight.shape.join(', ')}]`);
  if (kh > h + 2 * padding[0] || kw > w + 2 * padding[1]) {
    throw new RangeError(`Expected a kernel no larger than the padded input (${h + 2 * padding[0]}×${w + 2 * padding[1]}) for weight but received a ${kh}×${kw} kernel`);
  }
  const shape = conv2dOutputShape(x.shape, weight.shape, { stride, padding });
  if (bias !== null) expectTensor(bias, 'bias', { shape: [k], device: x.device });
  if (weight.device === 'cpu') {
    const codes = weight.data;
    const bad = codes.findIndex((v) => v !== -1 && v !== 0 && v !== 1);
    if (bad >= 0) throw new RangeError(`Expected values -1, 0 or +1 for weight but received ${codes[bad]} at index ${bad}`);
  }
  const y = output(out, 'out', shape, x.device);
  native().ternaryConv2dForward(
    y.buffer, x.buffer, weight.buffer as Int32Array | CudaBuffer, bias === null ? null : bias.buffer,
    n, c, h, w, k, kh, kw, stride[0], stride[1], padding[0], padding[1],
  );
  return y;
}
