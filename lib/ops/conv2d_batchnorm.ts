/**
 * The fused convolution → batch norm (training: batch statistics) → ReLU (→ 2×2 max-pool, stride 2)
 * that nn/fused.ts runs for Conv2d → BatchNorm2d → ReLU (→ MaxPool2d(2)) in training on the CPU,
 * and its gradients. Values and gradients are bit-identical to conv2d, batchNorm (training), then
 * relu, or batchNorm, maxPool2d and relu (the order Sequential runs a ReLU and a pool in), and their
 * backward ops (native/kernels/conv2d_batchnorm.h says how), except without z (out.z null) and
 * without dx, where dw, dweight and dbias come from one read of dy and y, equal to rounding.
 * CPU only: a CUDA tensor is an error.
 * Test: test/conv2d_batchnorm.test.ts.
 */
import { type CudaBuffer, native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, fail } from '../validate';
import { expectFinite, expectOptions, expectTensor, output } from './checks';
import { type Conv2dGeometry, tensorGeometry } from './conv2d';

/** Options of conv2dBatchNormRelu: the convolution's stride and padding, the pool, and batchNorm's momentum and eps. */
export interface Conv2dBatchNormReluOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  /** 2×2 max-pool with stride 2 after the ReLU (default false). */
  pool?: boolean;
  /** As batchNorm's: default 0.1; null the cumulative average (needs numBatchesTracked). */
  momentum?: number | null;
  eps?: number;
  numBatchesTracked?: Tensor | null;
}

/** The forward's outputs; z and the statistics are what the backward pass needs besides y. */
export interface Conv2dBatchNormReluResult {
  /** (N, K, OH, OW), or (N, K, ⌊OH/2⌋, ⌊OW/2⌋) with pool. */
  y: Tensor;
  /** int32 argmax indices within each convolution output plane (with pool), else null. */
  indices: Tensor | null;
  /**
   * (N, K, OH, OW): the convolution's output, or null where the fused kernels recompute it rather
   * than store it (a cheap first-layer convolution: see conv2dBatchNormRelu's out.z).
   */
  z: Tensor | null;
  /** (K) batch mean and 1/√(var + eps). */
  saveMean: Tensor;
  saveInvstd: Tensor;
  /** (4, K) the normalisation's coefficients, from which backward recomputes the ReLU's mask. */
  saveAffine: Tensor;
}

interface Sizes extends Conv2dGeometry {
  pool: boolean;
}

/** Checks x, weight and the convolution options; the sizes every call passes to the addon. */
function sizes(x: Tensor, weight: Tensor, opts: Record<string, unknown>): Sizes {
  expectTensor(x, 'x', { rank: 4 });
  if (x.device !== 'cpu') throw new TypeError(`Expected a tensor on cpu for x but received a tensor on ${x.device} (the fused conv2dBatchNormRelu is CPU-only; run the layers one by one)`);
  const g = tensorGeometry(x, weight, { stride: opts.stride, padding: opts.padding });
  const pool = expectBoolean(opts.pool ?? false, 'options.pool');
  if (pool && (g.oh < 2 || g.ow < 2)) throw new RangeError(`Expected a convolution output of at least 2×2 (for 2×2 pooling) for x but received ${g.oh}×${g.ow}`);
  if (g.n * g.oh * g.ow < 2) throw new RangeError(`Expected more than 1 value per channel when training for x but received a convolution output of shape [${[g.n, g.k, g.oh, g.ow].join(', ')}]`);
  return { ...g, pool };
}

function outputShape(s: Sizes): number[] {
  return s.pool ? [s.n, s.k, Math.floor(s.oh / 2), Math.floor(s.ow / 2)] : [s.n, s.k, s.oh, s.ow];
}

function channelTensor(t: Tensor | null | undefined, name: string, k: number): Tensor | null {
  return t == null ? null : expectTensor(t, name, { shape: [k], device: 'cpu' });
}

function recomputes(s: Sizes, convBias: boolean): boolean {
  return native().conv2dBatchNormReluRecomputes(s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.pool, convBias);
}

/**
 * Whether conv2dBatchNormRelu, with out.z left out, recomputes the convolution's output rather than
 * keep it (its result's z is then null): where the convolution is cheaper to run again than its
 * output to store and read back (no pool, no convBias, few input channels and taps).
 */
export function conv2dBatchNormReluRecomputes(
  x: Tensor,
  weight: Tensor,
  convBias: Tensor | null,
  options?: Pick<Conv2dBatchNormReluOptions, 'stride' | 'padding' | 'pool'>,
): boolean {
  return recomputes(sizes(x, weight, expectOptions(options)), convBias != null);
}

/**
 * relu(batchNorm(conv2d(x, weight) + convBias)) with the batch's statistics (then maxPool2d 2 with
 * options.pool), updating runningMean and runningVar (both or neither) in place as batchNorm does.
 * bnWeight and bnBias are the batch norm's affine parameters (null: affine=False).
 * out.z: a tensor keeps the convolution's output for the backward pass; null recomputes it instead
 * (forward and backward, from x and weight, which must then be unchanged until the backward pass,
 * as must y, whose signs the backward pass takes for the ReLU's mask;
 * no pool, no convBias); left out, the kernels' rule picks (null for a convolution cheap to
 * recompute: few input channels and taps, as a network's first layer).
 */
export function conv2dBatchNormRelu(
  x: Tensor,
  weight: Tensor,
  convBias: Tensor | null,
  bnWeight: Tensor | null,
  bnBias: Tensor | null,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  options?: Conv2dBatchNormReluOptions,
  out: Partial<Conv2dBatchNormReluResult> = {},
): Conv2dBatchNormReluResult {
  const opts = expectOptions(options);
  const s = sizes(x, weight, opts);
  const momentum = opts.momentum === null ? null : expectFinite(opts.momentum ?? 0.1, 'options.momentum', 0);
  const eps = expectFinite(opts.eps ?? 1e-5, 'options.eps', 0);
  const cb = channelTensor(convBias, 'convBias', s.k);
  const bw = channelTensor(bnWeight, 'bnWeight', s.k);
  const bb = channelTensor(bnBias, 'bnBias', s.k);
  const rm = channelTensor(runningMean, 'runningMean', s.k);
  const rv = channelTensor(runningVar, 'runningVar', s.k);
  if ((rm === null) !== (rv === null)) fail('a tensor when the other running statistic is given', rm === null ? 'runningMean' : 'runningVar', null);
  const tracked = opts.numBatchesTracked == null ? null : expectTensor(opts.numBatchesTracked, 'options.numBatchesTracked', { device: 'cpu' });
  if (tracked !== null && tracked.size !== 1) {
    throw new RangeError(`Expected a one-element tensor for options.numBatchesTracked but received shape [${tracked.shape.join(', ')}]`);
  }
  if (momentum === null && (tracked === null || rm === null)) {
    fail('running statistics and options.numBatchesTracked (momentum null is the cumulative average)', 'options.numBatchesTracked', opts.numBatchesTracked);
  }
  const shape = outputShape(s);
  const y = output(out.y, 'out.y', shape, 'cpu');
  const indices = s.pool ? output(out.indices ?? undefined, 'out.indices', shape, 'cpu', 'int32') : null;
  if (out.z === null && (s.pool || cb !== null)) fail(`a tensor (the recomputed convolution takes no ${s.pool ? 'pool' : 'convBias'})`, 'out.z', null);
  const recompute = out.z === null || (out.z === undefined && recomputes(s, cb !== null));
  const z = recompute ? null : output(out.z ?? undefined, 'out.z', [s.n, s.k, s.oh, s.ow], 'cpu');
  const saveMean = output(out.saveMean, 'out.saveMean', [s.k], 'cpu');
  const saveInvstd = output(out.saveInvstd, 'out.saveInvstd', [s.k], 'cpu');
  const saveAffine = output(out.saveAffine, 'out.saveAffine', [4, s.k], 'cpu');
  native().conv2dBatchNormReluForward(
    y.buffer, (indices?.buffer as Int32Array | CudaBuffer | undefined) ?? null, z?.buffer ?? null, saveMean.buffer, saveInvstd.buffer, saveAffine.buffer,
    rm?.buffer ?? null, rv?.buffer ?? null, tracked?.buffer ?? null,
    x.buffer, weight.buffer, cb?.buffer ?? null, bw?.buffer ?? null, bb?.buffer ?? null,
    s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.pool, momentum ?? 0, momentum === null, eps,
  );
  for (const state of [rm, rv, tracked]) state?.markWritten();
  return { y, indices, z, saveMean, saveInvstd, saveAffine };
}

/**
 * Inference: relu(conv2d(x, weight) + bias), or with options.pool relu(maxPool2d(…, 2)) (its values
 * only, no indices; out.z receives the convolution's output), the ReLU (and pool) applied to each
 * sample as the convolution finishes it. Bit-identical to conv2d, (maxPool2d,) relu in turn. What
 * nn/fused.ts ConvBnReluStep runs in eval mode with the batch norm folded into weight and bias.
 * CPU only.
 */
export function conv2dRelu(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | null,
  options?: { stride?: number | [number, number]; padding?: number | [number, number]; pool?: boolean },
  out: { y?: Tensor; z?: Tensor } = {},
): Tensor {
  const opts = expectOptions(options);
  expectTensor(x, 'x', { rank: 4 });
  if (x.device !== 'cpu') throw new TypeError(`Expected a tensor on cpu for x but received a tensor on ${x.device} (conv2dRelu is CPU-only)`);
  const g = tensorGeometry(x, weight, { stride: opts.stride, padding: opts.padding });
  const pool = expectBoolean(opts.pool ?? false, 'options.pool');
  if (pool && (g.oh < 2 || g.ow < 2)) throw new RangeError(`Expected a convolution output of at least 2×2 (for 2×2 pooling) for x but received ${g.oh}×${g.ow}`);
  const b = channelTensor(bias, 'bias', g.k);
  const y = output(out.y, 'out.y', outputShape({ ...g, pool }), 'cpu');
  const z = pool ? output(out.z, 'out.z', [g.n, g.k, g.oh, g.ow], 'cpu') : null;
  native().conv2dReluForward(
    y.buffer, z?.buffer ?? null, x.buffer, weight.buffer, b?.buffer ?? null,
    g.n, g.c, g.h, g.w, g.k, g.kh, g.kw, g.sh, g.sw, g.ph, g.pw, pool,
  );
  return y;
}

/** What conv2dBatchNormReluBackward returns: the input gradient and the parameters' gradients. */
export interface Conv2dBatchNormReluGrads {
  dx: Tensor | null;
  dw: Tensor;
  convDb: Tensor | null;
  dweight: Tensor | null;
  dbias: Tensor | null;
}

/** Options of conv2dBatchNormReluBackward: the forward's geometry, which gradients to compute, and whether they add into existing ones. */
export interface Conv2dBatchNormReluBackwardOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  pool?: boolean;
  /** Compute dx (default true). */
  inputGrad?: boolean;
  /** Compute the convolution bias's gradient (default false). */
  convBiasGrad?: boolean;
  /** Compute dweight and dbias of the batch norm (default: bnWeight is not null). */
  affineGrad?: boolean;
  /** Add dw, convDb, dweight, dbias into out's tensors (all required then) instead of overwriting. */
  accumulate?: boolean;
  out?: Partial<Conv2dBatchNormReluGrads>;
}

/**
 * Gradients of conv2dBatchNormRelu for the upstream gradient dy of its y, given the forward's
 * result (`saved`), its x, weight and bnWeight (null: affine=False).
 */
export function conv2dBatchNormReluBackward(
  dy: Tensor,
  saved: Conv2dBatchNormReluResult,
  x: Tensor,
  weight: Tensor,
  bnWeight: Tensor | null,
  options?: Conv2dBatchNormReluBackwardOptions,
): Conv2dBatchNormReluGrads {
  const opts = expectOptions(options);
  const s = sizes(x, weight, opts);
  const shape = outputShape(s);
  expectTensor(dy, 'dy', { shape, device: 'cpu' });
  if (typeof saved !== 'object' || saved === null) fail('the result of conv2dBatchNormRelu', 'saved', saved);
  expectTensor(saved.y, 'saved.y', { shape, device: 'cpu' });
  if (s.pool) expectTensor(saved.indices, 'saved.indices', { shape, device: 'cpu', dtype: 'int32' });
  if (saved.z === null) {
    if (s.pool) fail('a tensor (the recomputed convolution takes no pool)', 'saved.z', null);
  } else {
    expectTensor(saved.z, 'saved.z', { shape: [s.n, s.k, s.oh, s.ow], device: 'cpu' });
  }
  expectTensor(saved.saveMean, 'saved.saveMean', { shape: [s.k], device: 'cpu' });
  expectTensor(saved.saveInvstd, 'saved.saveInvstd', { shape: [s.k], device: 'cpu' });
  expectTensor(saved.saveAffine, 'saved.saveAffine', { shape: [4, s.k], device: 'cpu' });
  const bw = channelTensor(bnWeight, 'bnWeight', s.k);
  const inputGrad = expectBoolean(opts.inputGrad ?? true, 'options.inputGrad');
  const convBiasGrad = expectBoolean(opts.convBiasGrad ?? false, 'options.convBiasGrad');
  const affineGrad = expectBoolean(opts.affineGrad ?? bw !== null, 'options.affineGrad');
  const accumulate = expectBoolean(opts.accumulate ?? false, 'options.accumulate');
  const outs = expectOptions(opts.out) as Partial<Conv2dBatchNormReluGrads>;
  if (accumulate) {
    const needed: [string, boolean][] = [['dw', true], ['convDb', convBiasGrad], ['dweight', affineGrad], ['dbias', affineGrad]];
    for (const [name, want] of needed) {
      if (want && outs[name as keyof Conv2dBatchNormReluGrads] == null) fail('a tensor to accumulate into (accumulate is true)', `options.out.${name}`, outs[name as keyof Conv2dBatchNormReluGrads]);
    }
  }
  const dx = inputGrad ? output(outs.dx ?? undefined, 'options.out.dx', x.shape, 'cpu') : null;
  const dw = output(outs.dw ?? undefined, 'options.out.dw', weight.shape, 'cpu');
  const convDb = convBiasGrad ? output(outs.convDb ?? undefined, 'options.out.convDb', [s.k], 'cpu') : null;
  const dweight = affineGrad ? output(outs.dweight ?? undefined, 'options.out.dweight', [s.k], 'cpu') : null;
  const dbias = affineGrad ? output(outs.dbias ?? undefined, 'options.out.dbias', [s.k], 'cpu') : null;
  native().conv2dBatchNormReluBackward(
    dx?.buffer ?? null, dw.buffer, convDb?.buffer ?? null, dweight?.buffer ?? null, dbias?.buffer ?? null,
    dy.buffer, s.pool ? (saved.indices!.buffer as Int32Array | CudaBuffer) : null, s.pool || saved.z === null ? saved.y.buffer : null, saved.z?.buffer ?? null, x.buffer, weight.buffer,
    bw?.buffer ?? null, saved.saveMean.buffer, saved.saveInvstd.buffer, saved.saveAffine.buffer,
    s.n, s.c, s.h, s.w, s.k, s.kh, s.kw, s.sh, s.sw, s.ph, s.pw, s.pool, accumulate,
  );
  return { dx, dw, convDb, dweight, dbias };
}
