/**
 * 1-D convolution (torch.nn.functional.conv1d with groups=1, dilation=1) and its gradients, on
 * [N, C, L] tensors. Test: test/conv1d.test.ts.
 *
 * No kernels of its own: a 1-D convolution is the 2-D one on a plane of height 1 with a kernel of
 * height 1, so x [N, C, L] and weight [K, C, k] are viewed (no copy) as [N, C, 1, L] and
 * [K, C, 1, k] and run through conv2d's CPU and CUDA kernels, which then never stride over rows.
 *
 * x (N, C, L), weight (K, C, k), bias (K) or null → y (N, K, OL), OL = ⌊(L + 2·padding − k) / stride⌋ + 1.
 */
import type { Tensor } from '../tensor';
import { expectInt, expectOneOf, expectShape, fail } from '../validate';
import { expectOptions, expectTensor } from './checks';
import { conv2d, conv2dBackward, type Conv2dGrads, type Conv2dOptions } from './conv2d';

/** Options of conv1d: stride, padding and the algorithm. */
export interface Conv1dOptions {
  stride?: number | [number];
  padding?: number | [number];
  /** As conv2d's: 'auto' (default) picks by shape; 'direct' and 'im2col' force one. */
  algorithm?: 'auto' | 'direct' | 'im2col';
}

/** conv1dBackward's gradients: dx, dw, db (as conv2d's). */
export type Conv1dGrads = Conv2dGrads;

/** A size given as one integer or a one-element array, as torch.nn.Conv1d accepts. */
export function expectSingle(value: unknown, name: string, min: number): number {
  if (Array.isArray(value) && value.length === 1) return expectInt(value[0], `${name}[0]`, min);
  if (typeof value === 'number') return expectInt(value, name, min);
  return fail('an integer or a one-element array of integers', name, value);
}

interface Geometry {
  n: number;
  c: number;
  l: number;
  k: number;
  kl: number;
  stride: number;
  padding: number;
  ol: number;
  conv2d: Conv2dOptions;
}

function geometry(xShape: readonly number[], wShape: readonly number[], options: Record<string, unknown>, xName: string, wName: string): Geometry {
  const [n, c, l] = xShape;
  const [k, wc, kl] = wShape;
  if (c === 0 || l === 0) throw new RangeError(`Expected non-zero channels and length for ${xName} but received shape [${xShape.join(', ')}]`);
  if (k === 0 || kl === 0) throw new RangeError(`Expected non-zero output channels and kernel size for ${wName} but received shape [${wShape.join(', ')}]`);
  if (wc !== c) {
    throw new RangeError(`Expected ${wName}.shape[1] = ${c} (the channels of ${xName}) for ${wName} but received shape [${wShape.join(', ')}]`);
  }
  const stride = expectSingle(options.stride ?? 1, 'options.stride', 1);
  const padding = expectSingle(options.padding ?? 0, 'options.padding', 0);
  const algorithm = expectOneOf(options.algorithm ?? 'auto', 'options.algorithm', ['auto', 'direct', 'im2col'] as const);
  if (kl > l + 2 * padding) {
    throw new RangeError(`Expected a kernel no longer than the padded input (${l + 2 * padding}) for ${wName} but received a kernel of ${kl}`);
  }
  const ol = Math.floor((l + 2 * padding - kl) / stride) + 1;
  return { n, c, l, k, kl, stride, padding, ol, conv2d: { stride: [1, stride], padding: [0, padding], algorithm } };
}

function expectRank3Shape(shape: unknown, name: string): readonly number[] {
  expectShape(shape, name);
  const dims = shape as readonly number[];
  if (dims.length !== 3) throw new RangeError(`Expected a shape of rank 3 for ${name} but received [${dims.join(', ')}]`);
  return dims;
}

/** The shape of conv1d's output: [N, K, OL]. */
export function conv1dOutputShape(inputShape: readonly number[], weightShape: readonly number[], options?: Conv1dOptions): number[] {
  const g = geometry(expectRank3Shape(inputShape, 'inputShape'), expectRank3Shape(weightShape, 'weightShape'), expectOptions(options), 'inputShape', 'weightShape');
  return [g.n, g.k, g.ol];
}

function tensorGeometry(x: Tensor, weight: Tensor, options: Record<string, unknown>): Geometry {
  expectTensor(x, 'x', { rank: 3 });
  expectTensor(weight, 'weight', { rank: 3, device: x.device });
  return geometry(x.shape, weight.shape, options, 'x', 'weight');
}

/** [N, C, L] → the same storage as [N, C, 1, L]. */
const as2d = (t: Tensor): Tensor => t.viewAs([t.shape[0], t.shape[1], 1, t.shape[2]]);

/** y = conv1d(x, weight) + bias, written into `out` ([N, K, OL]) when given. */
export function conv1d(x: Tensor, weight: Tensor, bias: Tensor | null, options?: Conv1dOptions, out?: Tensor): Tensor {
  const opts = expectOptions(options);
  const g = tensorGeometry(x, weight, opts);
  if (bias !== null) expectTensor(bias, 'bias', { shape: [g.k], device: x.device });
  if (out !== undefined) expectTensor(out, 'out', { shape: [g.n, g.k, g.ol], device: x.device });
  const y = conv2d(as2d(x), as2d(weight), bias, g.conv2d, out === undefined ? undefined : as2d(out));
  return out ?? y.viewAs([g.n, g.k, g.ol]);
}

/**
 * Gradients of conv1d for dy (N, K, OL): dx (unless inputGrad is false), dw, and db (unless
 * biasGrad is false), with conv2dBackward's out and accumulate semantics (accumulate adds into
 * out.dw and out.db, as PyTorch accumulates .grad; dx is always overwritten).
 */
export function conv1dBackward(
  dy: Tensor,
  x: Tensor,
  weight: Tensor,
  options?: Conv1dOptions & { inputGrad?: boolean; biasGrad?: boolean; accumulate?: boolean; out?: Partial<Conv1dGrads> },
): Conv1dGrads {
  const opts = expectOptions(options);
  const g = tensorGeometry(x, weight, opts);
  expectTensor(dy, 'dy', { shape: [g.n, g.k, g.ol], device: x.device });
  const given = opts.out === undefined ? {} : opts.out;
  if (typeof given !== 'object' || given === null || Array.isArray(given)) fail('an object of output tensors', 'options.out', given);
  const out = given as Partial<Conv1dGrads>;
  if (out.dx != null) expectTensor(out.dx, 'options.out.dx', { shape: x.shape, device: x.device });
  if (out.dw != null) expectTensor(out.dw, 'options.out.dw', { shape: weight.shape, device: x.device });
  const grads = conv2dBackward(as2d(dy), as2d(x), as2d(weight), {
    ...g.conv2d,
    inputGrad: opts.inputGrad as boolean | undefined,
    biasGrad: opts.biasGrad as boolean | undefined,
    accumulate: opts.accumulate as boolean | undefined,
    out: { dx: out.dx == null ? out.dx : as2d(out.dx), dw: out.dw == null ? out.dw : as2d(out.dw), db: out.db },
  });
  return {
    dx: grads.dx === null ? null : (out.dx ?? grads.dx.viewAs(x.shape)),
    dw: out.dw ?? grads.dw.viewAs(weight.shape),
    db: grads.db,
  };
}
