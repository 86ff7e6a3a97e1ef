/**
 * Batch normalisation over channels (torch.nn.functional.batch_norm) for x of shape [N, C],
 * [N, C, L] or [N, C, H, W], and its gradients. Kernels: native/kernels/batchnorm.
 *
 * With training: true the batch's statistics normalise x (biased variance) and, when running
 * statistics are given, update them in place: running ← (1 − momentum)·running + momentum·batch,
 * with the unbiased variance for running_var; momentum null takes the cumulative average
 * (momentum = 1/numBatchesTracked, after incrementing it). numBatchesTracked, a one-element
 * float32 tensor, is incremented on its device whenever given in training. With training: false
 * the running statistics normalise x and nothing is updated.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, fail } from '../validate';
import { expectFinite, expectTensor, output } from './checks';
import { expectOptions } from './gemm';

/** Options of batchNorm: batch or running statistics, momentum, eps, and the num_batches_tracked counter. */
export interface BatchNormOptions {
  /** Use (and update) batch statistics (default false, as F.batch_norm). */
  training?: boolean;
  /** Default 0.1; null: cumulative moving average (needs numBatchesTracked). */
  momentum?: number | null;
  /** Added to the variance (default 1e-5). */
  eps?: number;
  /** PyTorch's num_batches_tracked buffer: one float32 value, incremented in training. */
  numBatchesTracked?: Tensor | null;
}

/** What backward needs from the forward: its statistics. */
export type BatchNormSaved =
  | { training: true; saveMean: Tensor; saveInvstd: Tensor }
  | { training: false; runningMean: Tensor; runningVar: Tensor; eps: number };

/** batchNorm's output and the statistics its backward needs. */
export interface BatchNormResult {
  y: Tensor;
  saved: BatchNormSaved;
}

/** Preallocated outputs for batchNorm (each optional). */
export interface BatchNormOutputs {
  y?: Tensor;
  /** [C] batch means and 1/√(var + eps), written in training. */
  saveMean?: Tensor;
  saveInvstd?: Tensor;
}

/** N, C and L (the product of the dimensions after C) of a rank ≥ 2 tensor. */
export function batchNormDims(x: Tensor, name = 'x'): [number, number, number] {
  if (x.shape.length < 2) {
    throw new RangeError(`Expected a tensor of rank 2, 3 or 4 ([N, C, …]) for ${name} but received shape [${x.shape.join(', ')}]`);
  }
  return [x.shape[0], x.shape[1], x.shape.slice(2).reduce((a, b) => a * b, 1)];
}

function channelTensor(t: Tensor | null | undefined, name: string, c: number, x: Tensor, required: boolean): Tensor | null {
  if (t === null || t === undefined) {
    if (required) fail(`a [${c}] tensor`, name, t);
    return null;
  }
  return expectTensor(t, name, { shape: [c], device: x.device });
}

/**
 * y = (x − mean)/√(var + eps)·weight + bias per channel; weight and bias null for affine=False.
 * Running statistics (both or neither) are required when not training.
 */
export function batchNorm(
  x: Tensor,
  runningMean: Tensor | null,
  runningVar: Tensor | null,
  weight: Tensor | null,
  bias: Tensor | null,
  options?: BatchNormOptions,
  out: BatchNormOutputs = {},
): BatchNormResult {
  expectTensor(x, 'x');
  const [n, c, l] = batchNormDims(x);
  const opts = expectOptions<BatchNormOptions>(options, 'options', ['training', 'momentum', 'eps', 'numBatchesTracked']);
  const training = expectBoolean(opts.training ?? false, 'options.training');
  const momentum = opts.momentum === null ? null : expectFinite(opts.momentum ?? 0.1, 'options.momentum', 0);
  const eps = expectFinite(opts.eps ?? 1e-5, 'options.eps', 0);
  const mean = channelTensor(runningMean, 'runningMean', c, x, !training || runningVar != null);
  const variance = channelTensor(runningVar, 'runningVar', c, x, !training || mean !== null);
  const w = channelTensor(weight, 'weight', c, x, false);
  const b = channelTensor(bias, 'bias', c, x, false);
  const outs = expectOptions<BatchNormOutputs>(out, 'out', ['y', 'saveMean', 'saveInvstd']);
  const y = output(outs.y, 'out.y', x.shape, x.device);

  if (!training) {
    native().batchNormForwardEval(y.buffer, x.buffer, mean!.buffer, variance!.buffer, w?.buffer ?? null, b?.buffer ?? null, n, c, l, eps);
    return { y, saved: { training: false, runningMean: mean!, runningVar: variance!, eps } };
  }
  if (n * l < 2) {
    throw new RangeError(`Expected more than 1 value per channel when training for x but received shape [${x.shape.join(', ')}]`);
  }
  const tracked = opts.numBatchesTracked == null ? null : expectTensor(opts.numBatchesTracked, 'options.numBatchesTracked', { device: x.device });
  if (tracked !== null && tracked.size !== 1) {
    throw new RangeError(`Expected a one-element tensor for options.numBatchesTracked but received shape [${tracked.shape.join(', ')}]`);
  }
  if (momentum === null && (tracked === null || mean === null)) {
    fail('running statistics and options.numBatchesTracked (momentum null is the cumulative average)', 'options.numBatchesTracked', opts.numBatchesTracked);
  }
  const saveMean = output(outs.saveMean, 'out.saveMean', [c], x.device);
  const saveInvstd = output(outs.saveInvstd, 'out.saveInvstd', [c], x.device);
  native().batchNormForwardTrain(
    y.buffer, saveMean.buffer, saveInvstd.buffer, mean?.buffer ?? null, variance?.buffer ?? null,
    tracked?.buffer ?? null, x.buffer, w?.buffer ?? null, b?.buffer ?? null, n, c, l,
    momentum ?? 0, momentum === null, eps,
  );
  for (const state of [mean, variance, tracked]) state?.markWritten();
  return { y, saved: { training: true, saveMean, saveInvstd } };
}

/** batchNormBackward's gradients (null where not asked for). */
export interface BatchNormGrads {
  dx: Tensor | null;
  dweight: Tensor | null;
  dbias: Tensor | null;
}

/** Which gradients batchNormBackward computes, and where they go. */
export interface BatchNormBackwardOptions {
  /** Compute dx (default true). */
  inputGrad?: boolean;
  /** Compute dweight (default: weight is not null). */
  weightGrad?: boolean;
  /** Compute dbias (default: weight is not null, i.e. affine). */
  biasGrad?: boolean;
  /** Add dweight and dbias into out.dweight and out.dbias instead of overwriting. */
  accumulate?: boolean;
  out?: Partial<BatchNormGrads>;
}

/** Gradients of batchNorm given dy, the forward's input x, weight (or null) and its `saved` statistics. */
export function batchNormBackward(
  dy: Tensor,
  x: Tensor,
  weight: Tensor | null,
  saved: BatchNormSaved,
  options?: BatchNormBackwardOptions,
): BatchNormGrads {
  expectTensor(dy, 'dy');
  const [n, c, l] = batchNormDims(dy, 'dy');
  expectTensor(x, 'x', { shape: dy.shape, device: dy.device });
  const w = channelTensor(weight, 'weight', c, dy, false);
  if (typeof saved !== 'object' || saved === null) fail('the saved statistics of batchNorm', 'saved', saved);
  const opts = expectOptions<BatchNormBackwardOptions>(options, 'options', ['inputGrad', 'weightGrad', 'biasGrad', 'accumulate', 'out']);
  const inputGrad = expectBoolean(opts.inputGrad ?? true, 'options.inputGrad');
  const weightGrad = expectBoolean(opts.weightGrad ?? w !== null, 'options.weightGrad');
  const biasGrad = expectBoolean(opts.biasGrad ?? w !== null, 'options.biasGrad');
  const accumulate = expectBoolean(opts.accumulate ?? false, 'options.accumulate');
  const outs = expectOptions<Partial<BatchNormGrads>>(opts.out, 'options.out', ['dx', 'dweight', 'dbias']);
  if (accumulate && weightGrad && outs.dweight == null) fail('the gradient to accumulate into', 'options.out.dweight', outs.dweight);
  if (accumulate && biasGrad && outs.dbias == null) fail('the gradient to accumulate into', 'options.out.dbias', outs.dbias);
  const dx = inputGrad ? output(outs.dx ?? undefined, 'options.out.dx', dy.shape, dy.device) : null;
  const dweight = weightGrad ? output(outs.dweight ?? undefined, 'options.out.dweight', [c], dy.device) : null;
  const dbias = biasGrad ? output(outs.dbias ?? undefined, 'options.out.dbias', [c], dy.device) : null;
  if (saved.training === true) {
    const mean = expectTensor(saved.saveMean, 'saved.saveMean', { shape: [c], device: dy.device });
    const invstd = expectTensor(saved.saveInvstd, 'saved.saveInvstd', { shape: [c], device: dy.device });
    native().batchNormBackwardTrain(
      dx?.buffer ?? null, dweight?.buffer ?? null, dbias?.buffer ?? null, dy.buffer, x.buffer,
      mean.buffer, invstd.buffer, w?.buffer ?? null, n, c, l, accumulate,
    );
  } else if (saved.training === false) {
    const mean = expectTensor(saved.runningMean, 'saved.runningMean', { shape: [c], device: dy.device });
    const variance = expectTensor(saved.runningVar, 'saved.runningVar', { shape: [c], device: dy.device });
    const eps = expectFinite(saved.eps, 'saved.eps', 0);
    native().batchNormBackwardEval(
      dx?.buffer ?? null, dweight?.buffer ?? null, dbias?.buffer ?? null, dy.buffer, x.buffer,
      mean.buffer, variance.buffer, w?.buffer ?? null, n, c, l, eps, accumulate,
    );
  } else {
    fail('saved statistics with training true or false', 'saved.training', (saved as { training: unknown }).training);
  }
  return { dx, dweight, dbias };
}
