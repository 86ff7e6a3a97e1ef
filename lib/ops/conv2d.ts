/**
 * 2-D convolution (torch.nn.functional.conv2d with groups=1, dilation=1) and its gradients, and
 * the fused conv2d → max-pool 2×2 (→ ReLU) that nn/fused.ts runs (conv2dMaxPool2d, on the CPU and
 * on CUDA). Kernels: native/kernels/conv2d, cuda/conv2d.cu. Tests: test/conv2d.test.ts,
 * test/conv2d_pool.test.ts.
 *
 * x (N, C, H, W), weight (K, C, kh, kw), bias (K) or null → y (N, K, OH, OW) with
 * OH = ⌊(H + 2·padding[0] − kh) / stride[0]⌋ + 1 (OW likewise), zero padding.
 */
import { type CudaBuffer, native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, expectOneOf, expectPair, expectShape, fail } from '../validate';
import { expectOptions, expectTensor, output } from './checks';

/** Options of conv2d: stride and zero padding (a number or [h, w]), and the algorithm. */
export interface Conv2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  /**
   * 'auto' (default) picks by shape; 'direct' and 'im2col' force one implementation; 'winograd'
   * forces Winograd F(2×2, 3×3) (3×3 kernels, stride 1, on the CPU: the forward pass and the input
   * gradient, which 'auto' takes on large batches only; the weight gradient stays direct).
   */
  algorithm?: 'auto' | 'direct' | 'im2col' | 'winograd';
}

/** conv2dBackward's gradients: dx (null when not asked for), dw, db (null without bias). */
export interface Conv2dGrads {
  dx: Tensor | null;
  dw: Tensor;
  db: Tensor | null;
}

const ALGORITHMS = { auto: 0, direct: 1, im2col: 2, winograd: 3 } as const;
const ALGORITHM_NAMES = Object.keys(ALGORITHMS) as (keyof typeof ALGORITHMS)[];

/** Every size the kernels take, checked (the fused conv ops of conv2d_batchnorm.ts take them too). */
export interface Conv2dGeometry {
  n: number;
  c: number;
  h: number;
  w: number;
  k: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  ph: number;
  pw: number;
  oh: number;
  ow: number;
  algorithm: number;
}

/** Validates the shapes of x and weight (named xName, wName in messages) and the options. */
function geometry(xShape: readonly number[], wShape: readonly number[], options: Record<string, unknown>, xName: string, wName: string): Conv2dGeometry {
  const [n, c, h, w] = xShape;
  const [k, wc, kh, kw] = wShape;
  if (c === 0 || h === 0 || w === 0) {
    throw new RangeError(`Expected non-zero channels, height and width for ${xName} but received shape [${xShape.join(', ')}]`);
  }
  if (k === 0 || kh === 0 || kw === 0) {
    throw new RangeError(`Expected non-zero output channels and kernel size for ${wName} but received shape [${wShape.join(', ')}]`);
  }
  if (wc !== c) {
    throw new RangeError(`Expected ${wName}.shape[1] = ${c} (the channels of ${xName}) for ${wName} but received shape [${wShape.join(', ')}]`);
  }
  const [sh, sw] = expectPair(options.stride ?? 1, 'options.stride', 1);
  const [ph, pw] = expectPair(options.padding ?? 0, 'options.padding', 0);
  const algorithm = ALGORITHMS[expectOneOf(options.algorithm ?? 'auto', 'options.algorithm', ALGORITHM_NAMES)];
  if (kh > h + 2 * ph || kw > w + 2 * pw) {
    throw new RangeError(
      `Expected a kernel no larger than the padded input (${h + 2 * ph}×${w + 2 * pw}) for ${wName} but received a ${kh}×${kw} kernel`,
    );
  }
  if (algorithm === ALGORITHMS.winograd && (kh !== 3 || kw !== 3 || sh !== 1 || sw !== 1)) {
    throw new RangeError(
      `Expected a 3×3 kernel with stride 1 for options.algorithm 'winograd' but received a ${kh}×${kw} kernel with stride [${sh}, ${sw}]`,
    );
  }
  const oh = Math.floor((h + 2 * ph - kh) / sh) + 1;
  const ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
  return { n, c, h, w, k, kh, kw, sh, sw, ph, pw, oh, ow, algorithm };
}

function expectRank4Shape(shape: unknown, name: string): readonly number[] {
  expectShape(shape, name);
  const dims = shape as readonly number[];
  if (dims.length !== 4) throw new RangeError(`Expected a shape of rank 4 for ${name} but received [${dims.join(', ')}]`);
  return dims;
}

/** The shape of conv2d's output: [N, K, OH, OW]. */
export function conv2dOutputShape(inputShape: readonly number[], weightShape: readonly number[], options?: Conv2dOptions): number[] {
  const g = geometry(
    expectRank4Shape(inputShape, 'inputShape'),
    expectRank4Shape(weightShape, 'weightShape'),
    expectOptions(options),
    'inputShape',
    'weightShape',
  );
  return [g.n, g.k, g.oh, g.ow];
}

/** Checks x and weight as tensors (rank 4, float32, weight on x's device) and the options. */
export function tensorGeometry(x: Tensor, weight: Tensor, options: Record<string, unknown>): Conv2dGeometry {
  expectTensor(x, 'x', { rank: 4 });
  expectTensor(weight, 'weight', { rank: 4, device: x.device });
  const g = geometry(x.shape, weight.shape, options, 'x', 'weight');
  if (g.algorithm === ALGORITHMS.winograd && x.device !== 'cpu') {
    throw new RangeError(`Expected x on the CPU for options.algorithm 'winograd' (a CPU kernel) but received x on ${x.device}`);
  }
  return g;
}

/** y = conv2d(x, weight) + bias, written into `out` when given. */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, options?: Conv2dOptions, out?: Tensor): Tensor {
  const opts = expectOptions(options);
  const g = tensorGeometry(x, weight, opts);
  if (bias !== null) expectTensor(bias, 'bias', { shape: [g.k], device: x.device });
  const y = output(out, 'out', [g.n, g.k, g.oh, g.ow], x.device);
  native().conv2dForward(
    y.buffer, x.buffer, weight.buffer, bias === null ? null : bias.buffer,
    g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, g.algorithm,
  );
  return y;
}

/** The backward options every convolution backward shares. */
export interface Conv2dGradOptions {
  inputGrad?: boolean;
  biasGrad?: boolean;
  accumulate?: boolean;
  out?: Partial<Conv2dGrads>;
}

/**
 * Checks a backward call's gradient options and resolves its outputs: the caller's tensors from
 * options.out or new ones; dx null when inputGrad is false, db null when biasGrad is false.
 */
function gradOutputs(opts: Conv2dGradOptions, x: Tensor, weight: Tensor, outChannels: number): Conv2dGrads & { accumulate: boolean } {
  const inputGrad = expectBoolean(opts.inputGrad ?? true, 'options.inputGrad');
  const biasGrad = expectBoolean(opts.biasGrad ?? true, 'options.biasGrad');
  const accumulate = expectBoolean(opts.accumulate ?? false, 'options.accumulate');
  const out = opts.out === undefined ? {} : opts.out;
  if (typeof out !== 'object' || out === null || Array.isArray(out)) fail('an object of output tensors', 'options.out', out);
  const given = out as Partial<Conv2dGrads>;
  if (accumulate) {
    if (given.dw == null) fail('a tensor to accumulate into (accumulate is true)', 'options.out.dw', given.dw);
    if (biasGrad && given.db == null) fail('a tensor to accumulate into (accumulate is true)', 'options.out.db', given.db);
  }
  const dx = inputGrad ? output(given.dx ?? undefined, 'options.out.dx', x.shape, x.device) : null;
  const dw = output(given.dw ?? undefined, 'options.out.dw', weight.shape, x.device);
  const db = biasGrad ? output(given.db ?? undefined, 'options.out.db', [outChannels], x.device) : null;
  return { dx, dw, db, accumulate };
}

/**
 * Gradients of conv2d for the upstream gradient dy (N, K, OH, OW): dx (unless inputGrad is false),
 * dw, and db (unless biasGrad is false). Results go into options.out's tensors when given; with
 * accumulate they are added into out.dw and out.db (both required then), as PyTorch accumulates
 * .grad, while dx is always overwritten.
 */
export function conv2dBackward(
  dy: Tensor,
  x: Tensor,
  weight: Tensor,
  options?: Conv2dOptions & Conv2dGradOptions,
): Conv2dGrads {
  const opts = expectOptions(options);
  const g = tensorGeometry(x, weight, opts);
  expectTensor(dy, 'dy', { shape: [g.n, g.k, g.oh, g.ow], device: x.device });
  const { dx, dw, db, accumulate } = gradOutputs(opts, x, weight, g.k);
  native().conv2dBackward(
    dx === null ? null : dx.buffer, dw.buffer, db === null ? null : db.buffer, dy.buffer, x.buffer, weight.buffer,
    g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, accumulate, g.algorithm,
  );
  return { dx, dw, db };
}

// ---------------------------------------------------------------------------------------------
// Fused convolution + 2×2 max-pool (+ ReLU): what Sequential runs for Conv2d → MaxPool2d(2)
// (→ ReLU). Bit-identical to conv2d, maxPool2d (kernel 2, stride 2) and relu in turn on the same
// device, and so are the gradients. On the CPU one pass over the convolution's output; on a GPU
// fewer launches (forward 2 instead of 3, backward 3 instead of 4). Test: test/conv2d_pool.test.ts.

/** Options of the fused conv2d → maxPool2d(2) (→ ReLU). */
export interface Conv2dMaxPool2dOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** Apply a ReLU to the pooled values (default false). */
  relu?: boolean;
}

/** The fused op's pooled output and the positions of each window's maximum. */
export interface Conv2dMaxPool2dResult {
  /** (N, K, ⌊OH/2⌋, ⌊OW/2⌋) */
  y: Tensor;
  /** int32, like maxPool2d's: h·OW + w of each window's maximum within the convolution's output plane. */
  indices: Tensor;
}

/** Checks the tensors for the fused op: a convolution output of at least 2×2. */
function fusedGeometry(x: Tensor, weight: Tensor, options: Record<string, unknown>): Conv2dGeometry {
  if (options.algorithm !== undefined) fail('no algorithm option (the fused op always runs the direct algorithm)', 'options.algorithm', options.algorithm);
  const g = tensorGeometry(x, weight, options);
  if (g.oh < 2 || g.ow < 2) {
    throw new RangeError(`Expected a convolution output of at least 2×2 (for 2×2 pooling) for x but received ${g.oh}×${g.ow}`);
  }
  return g;
}

/**
 * maxPool2d(conv2d(x, weight) + bias, 2), then relu when options.relu, in one pass: y and the
 * argmax indices, written into `out` when given.
 */
export function conv2dMaxPool2d(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  options?: Conv2dMaxPool2dOptions,
  out?: { y?: Tensor; indices?: Tensor },
): Conv2dMaxPool2dResult {
  const opts = expectOptions(options);
  const g = fusedGeometry(x, weight, opts);
  const relu = expectBoolean(opts.relu ?? false, 'options.relu');
  if (bias !== null) expectTensor(bias, 'bias', { shape: [g.k], device: x.device });
  const shape = [g.n, g.k, Math.floor(g.oh / 2), Math.floor(g.ow / 2)];
  const y = output(out?.y, 'out.y', shape, x.device);
  const indices = output(out?.indices, 'out.indices', shape, x.device, 'int32');
  native().conv2dMaxPool2dForward(
    y.buffer, indices.buffer as Int32Array | CudaBuffer, x.buffer, weight.buffer, bias === null ? null : bias.buffer,
    g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, relu,
  );
  return { y, indices };
}

/**
 * Gradients of conv2dMaxPool2d for the upstream gradient dy of its output, given its indices and,
 * when it ran with relu, its output y (the ReLU's mask; null otherwise). dx (unless inputGrad is
 * false), dw and db (unless biasGrad is false), as conv2dBackward, including accumulate and out.
 */
export function conv2dMaxPool2dBackward(
  dy: Tensor,
  indices: Tensor,
  y: Tensor | null,
  x: Tensor,
  weight: Tensor,
  options?: Omit<Conv2dMaxPool2dOptions, 'relu'> & Conv2dGradOptions,
): Conv2dGrads {
  const opts = expectOptions(options);
  const g = fusedGeometry(x, weight, opts);
  const shape = [g.n, g.k, Math.floor(g.oh / 2), Math.floor(g.ow / 2)];
  expectTensor(dy, 'dy', { shape, device: x.device });
  expectTensor(indices, 'indices', { shape, device: x.device, dtype: 'int32' });
  if (y !== null) expectTensor(y, 'y', { shape, device: x.device });
  const { dx, dw, db, accumulate } = gradOutputs(opts, x, weight, g.k);
  native().conv2dMaxPool2dBackward(
    dx === null ? null : dx.buffer, dw.buffer, db === null ? null : db.buffer, dy.buffer, indices.buffer as Int32Array | CudaBuffer,
    y === null ? null : y.buffer, x.buffer, weight.buffer,
    g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, accumulate,
  );
  return { dx, dw, db };
}
