/**
 * The layers as differentiable functions (torch.nn.functional): each is an autograd.Function whose
 * forward and backward are napinet's hand-written kernels (lib/ops → native/kernels, cuda/), so the
 * chapter's forward/backward pairs are exactly the rules autograd runs. The nn layers call these
 * when their forward is recorded; user code can call them directly.
 *
 *   const h = F.relu(F.conv2d(x, this.conv.weight, this.conv.bias, { padding: 1 }));
 *
 * @module
 */
import { Context, Function } from '../autograd/function';
import { isGradEnabled } from '../autograd/grad_mode';
import { ACCUMULATED, type InputGradient } from '../autograd/node';
import { mul, neg, reshape, sub, transpose } from '../autograd/functional';
import { scaledElement } from '../autograd/kernels';
import { inPlace } from '../autograd/inplace';
import { batchNorm as batchNormKernel, batchNormBackward, type BatchNormSaved } from '../ops/batchnorm';
import * as act from '../ops/activation';
import { conv1d as conv1dKernel, conv1dBackward, type Conv1dOptions } from '../ops/conv1d';
import { conv2d as conv2dKernel, conv2dBackward, conv2dMaxPool2d as convPoolKernel, conv2dMaxPool2dBackward, type Conv2dMaxPool2dOptions, type Conv2dOptions } from '../ops/conv2d';
import { dropout as dropoutKernel, dropoutBackward, drawDropoutSeed } from '../ops/dropout';
import { linear as linearKernel, linearBackward } from '../ops/linear';
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../ops/loss';
import { bceWithLogits, bceWithLogitsBackward, mseLoss as mseKernel, mseLossBackward } from '../ops/pointwise_loss';
import { avgPool1d as avgPool1dKernel, avgPool1dBackward, type AvgPool1dOptions, maxPool1d as maxPool1dKernel, maxPool1dBackward, type Pool1dOptions } from '../ops/pool1d';
import { avgPool2d as avgPool2dKernel, avgPool2dBackward, type AvgPool2dOptions, maxPool2d as maxPool2dKernel, maxPool2dBackward, type Pool2dOptions } from '../ops/pool2d';
import { logSoftmax as logSoftmaxKernel, logSoftmaxBackward, softmax as softmaxKernel, softmaxBackward } from '../ops/softmax';
import { defaultGenerator, type Generator } from '../random';
import { Tensor } from '../tensor';
import { expectBoolean, expectNumber, expectOneOf, fail } from '../validate';
import { expectFinite } from '../ops/checks';

/** The saved tensors of ctx, as the forward saved them (non-null where it saved a tensor). */
function savedOf(ctx: Context): Tensor[] {
  return ctx.savedTensors as Tensor[];
}

// ---------------------------------------------------------------------------------------------
// Linear and convolutions
// ---------------------------------------------------------------------------------------------

/**
 * Where a layer kernel's weight and bias gradients (arguments 1 and 2) go: added straight into the
 * Parameters' .grad by the kernel (accumulate, as the explicit style does) when the engine offers
 * both targets, else into new tensors returned to the engine.
 */
function weightGradients(ctx: Context, bias: Tensor | null) {
  const [inputGrad, needW, needB] = ctx.needsInputGrad;
  const biasGrad = bias !== null && needB;
  const dw = needW ? ctx.gradTarget(1) : null;
  const db = biasGrad ? ctx.gradTarget(2) : null;
  const direct = dw !== null && (!biasGrad || db !== null);
  return {
    options: { inputGrad, biasGrad, accumulate: direct, out: direct ? { dw, db } : {} },
    /** The gradients to return for (x, weight, bias), given what the kernel produced. */
    result(g: { dx: Tensor | null; dw: Tensor; db: Tensor | null }): InputGradient[] {
      if (direct) return [g.dx, ACCUMULATED, biasGrad ? ACCUMULATED : null];
      return [g.dx, needW ? g.dw : null, biasGrad ? g.db : null];
    },
  };
}

class LinearFunction extends Function {
  static override forward(ctx: Context, x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
    ctx.saveForBackward(x, weight);
    ctx.hasBias = bias !== null;
    return linearKernel(x, weight, bias);
  }

  static override backward(ctx: Context, dy: Tensor): InputGradient[] {
    const [x, weight] = savedOf(ctx);
    const grads = weightGradients(ctx, ctx.hasBias ? weight : null);
    return grads.result(linearBackward(dy, x, weight, grads.options));
  }
}

/** y = x·Wᵀ + b for x [..., in] (any leading dimensions), weight [out, in], bias [out] or null. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null = null): Tensor {
  if (!(x instanceof Tensor)) fail('a Tensor', 'x', x);
  if (x.shape.length === 2) return LinearFunction.apply(x, weight, bias);
  if (x.shape.length === 0) fail('a tensor of rank ≥ 1', 'x', x, RangeError);
  const lead = x.shape.slice(0, -1);
  const y = LinearFunction.apply(reshape(x, [-1, x.shape[x.shape.length - 1]]), weight, bias);
  return reshape(y, [...lead, y.shape[1]]);
}

/**
 * A convolution as an autograd Function over its kernels (named as its layer's recorded node, e.g.
 * Conv2dFunction, which the ONNX export reads): forward saves x and the weight, backward gives the
 * gradients that are asked for (the weight's and bias's straight into their .grad, weightGradients).
 */
function convFunction<Options extends object>(
  name: string,
  kernel: (x: Tensor, weight: Tensor, bias: Tensor | null, options: Options) => Tensor,
  backwardKernel: typeof conv1dBackward | typeof conv2dBackward,
) {
  const fn = class extends Function {
    static override forward(ctx: Context, x: Tensor, weight: Tensor, bias: Tensor | null, options: Options): Tensor {
      ctx.saveForBackward(x, weight);
      ctx.options = options;
      ctx.hasBias = bias !== null;
      return kernel(x, weight, bias, options);
    }

    static override backward(ctx: Context, dy: Tensor): InputGradient[] {
      const [x, weight] = savedOf(ctx);
      const grads = weightGradients(ctx, ctx.hasBias ? weight : null);
      return grads.result(backwardKernel(dy, x, weight, { ...(ctx.options as Options), ...grads.options }));
    }
  };
  Object.defineProperty(fn, 'name', { value: name });
  return fn;
}

const Conv2dFunction = convFunction<Conv2dOptions>('Conv2dFunction', conv2dKernel, conv2dBackward);
const Conv1dFunction = convFunction<Conv1dOptions>('Conv1dFunction', conv1dKernel, conv1dBackward);

/** 2-D convolution of x [N, C, H, W] with weight [K, C, kH, kW] (torch.nn.functional.conv2d). */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dOptions = {}): Tensor {
  return Conv2dFunction.apply(x, weight, bias, options);
}

/** 1-D convolution of x [N, C, L] with weight [K, C, kL] (torch.nn.functional.conv1d). */
export function conv1d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv1dOptions = {}): Tensor {
  return Conv1dFunction.apply(x, weight, bias, options);
}

class Conv2dMaxPool2dFunction extends Function {
  static override forward(ctx: Context, x: Tensor, weight: Tensor, bias: Tensor | null, options: Conv2dMaxPool2dOptions): Tensor {
    const { y, indices } = convPoolKernel(x, weight, bias, options);
    ctx.saveForBackward(x, weight, indices, options.relu ? y : null);
    ctx.options = options;
    ctx.hasBias = bias !== null;
    return y;
  }

  static override backward(ctx: Context, dy: Tensor): InputGradient[] {
    const [x, weight, indices, y] = ctx.savedTensors;
    const { stride, padding } = ctx.options as Conv2dMaxPool2dOptions;
    const grads = weightGradients(ctx, ctx.hasBias ? weight : null);
    return grads.result(conv2dMaxPool2dBackward(dy, indices!, y, x!, weight!, { stride, padding, ...grads.options }));
  }
}

/**
 * Conv2d → MaxPool2d(2) (→ ReLU) as one step, with the fused kernels Sequential uses: values and
 * gradients bit-identical to the three ops (see lib/ops/conv2d.ts).
 */
export function conv2dMaxPool2d(x: Tensor, weight: Tensor, bias: Tensor | null = null, options: Conv2dMaxPool2dOptions = {}): Tensor {
  return Conv2dMaxPool2dFunction.apply(x, weight, bias, options);
}

// ---------------------------------------------------------------------------------------------
// Pooling
// ---------------------------------------------------------------------------------------------

/**
 * Max pooling as an autograd Function over its kernels (named as its layer's recorded node, e.g.
 * MaxPool2dFunction, which the ONNX export reads): forward saves the argmax indices, backward
 * scatters dy to them.
 */
function maxPoolFunction<Options>(
  name: string,
  kernel: (x: Tensor, options: Options) => { y: Tensor; indices: Tensor },
  backwardKernel: (dy: Tensor, indices: Tensor, inputShape: number[]) => Tensor,
) {
  const fn = class extends Function {
    static override forward(ctx: Context, x: Tensor, options: Options): Tensor {
      const { y, indices } = kernel(x, options);
      ctx.saveForBackward(indices);
      ctx.inputShape = x.shape;
      return y;
    }

    static override backward(ctx: Context, dy: Tensor): (Tensor | null)[] {
      return [backwardKernel(dy, savedOf(ctx)[0], ctx.inputShape as number[])];
    }
  };
  Object.defineProperty(fn, 'name', { value: name });
  return fn;
}

/** Average pooling as an autograd Function over its kernels (see maxPoolFunction): backward spreads dy over each window. */
function avgPoolFunction<Options>(
  name: string,
  kernel: (x: Tensor, options: Options) => Tensor,
  backwardKernel: (dy: Tensor, inputShape: number[], options: Options) => Tensor,
) {
  const fn = class extends Function {
    static override forward(ctx: Context, x: Tensor, options: Options): Tensor {
      ctx.inputShape = x.shape;
      ctx.options = options;
      return kernel(x, options);
    }

    static override backward(ctx: Context, dy: Tensor): (Tensor | null)[] {
      return [backwardKernel(dy, ctx.inputShape as number[], ctx.options as Options)];
    }
  };
  Object.defineProperty(fn, 'name', { value: name });
  return fn;
}

const MaxPool2dFunction = maxPoolFunction<Pool2dOptions>('MaxPool2dFunction', maxPool2dKernel, maxPool2dBackward);
const AvgPool2dFunction = avgPoolFunction<AvgPool2dOptions>('AvgPool2dFunction', avgPool2dKernel, avgPool2dBackward);
const MaxPool1dFunction = maxPoolFunction<Pool1dOptions>('MaxPool1dFunction', maxPool1dKernel, maxPool1dBackward);
const AvgPool1dFunction = avgPoolFunction<AvgPool1dOptions>('AvgPool1dFunction', avgPool1dKernel, avgPool1dBackward);

/** Max pooling over [N, C, H, W] (torch.nn.functional.max_pool2d); the gradient goes to the first maximum of each window. */
export function maxPool2d(x: Tensor, options: Pool2dOptions): Tensor {
  return MaxPool2dFunction.apply(x, options);
}

/** Average pooling over [N, C, H, W] (torch.nn.functional.avg_pool2d). */
export function avgPool2d(x: Tensor, options: AvgPool2dOptions): Tensor {
  return AvgPool2dFunction.apply(x, options);
}

/** Max pooling over [N, C, L] (torch.nn.functional.max_pool1d). */
export function maxPool1d(x: Tensor, options: Pool1dOptions): Tensor {
  return MaxPool1dFunction.apply(x, options);
}

/** Average pooling over [N, C, L] (torch.nn.functional.avg_pool1d). */
export function avgPool1d(x: Tensor, options: AvgPool1dOptions): Tensor {
  return AvgPool1dFunction.apply(x, options);
}

// ---------------------------------------------------------------------------------------------
// Normalisation and dropout
// ---------------------------------------------------------------------------------------------

/** Options of batchNorm(): training or evaluation statistics, momentum and eps. */
export interface BatchNormFunctionalOptions {
  /** Batch statistics (and running-statistics updates) when true; the running statistics when false. Default false, as PyTorch. */
  training?: boolean;
  /** Default 0.1; null: cumulative average (needs numBatchesTracked). */
  momentum?: number | null;
  eps?: number;
  /** BatchNorm's num_batches_tracked counter, incremented in training. */
  numBatchesTracked?: Tensor | null;
}

class BatchNormFunction extends Function {
  static override forward(
    ctx: Context, x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null, bias: Tensor | null, options: BatchNormFunctionalOptions,
  ): Tensor {
    const { y, saved } = batchNormKernel(x, runningMean, runningVar, weight, bias, options);
    ctx.saveForBackward(x, weight, ...(saved.training ? [saved.saveMean, saved.saveInvstd] : [saved.runningMean, saved.runningVar]));
    ctx.stats = saved;
    return y;
  }

  static override backward(ctx: Context, dy: Tensor): (Tensor | null)[] {
    const [x, weight] = ctx.savedTensors;
    const [needX, , , needW, needB] = ctx.needsInputGrad;
    const g = batchNormBackward(dy, x!, weight, ctx.stats as BatchNormSaved, { inputGrad: needX, weightGrad: needW && weight !== null, biasGrad: needB });
    return [g.dx, null, null, g.dweight, g.dbias];
  }
}

/**
 * Batch normalisation over the channels of x [N, C] or [N, C, …] (torch.nn.functional.batch_norm);
 * in training the running statistics (when given) are updated in place.
 */
export function batchNorm(
  x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null, weight: Tensor | null = null, bias: Tensor | null = null, options: BatchNormFunctionalOptions = {},
): Tensor {
  return BatchNormFunction.apply(x, runningMean, runningVar, weight, bias, options);
}

class DropoutFunction extends Function {
  static override forward(ctx: Context, x: Tensor, p: number, seed: bigint): Tensor {
    ctx.p = p;
    ctx.seed = seed;
    return dropoutKernel(x, p, seed);
  }

  static override backward(ctx: Context, dy: Tensor): (Tensor | null)[] {
    return [dropoutBackward(dy, ctx.p as number, ctx.seed as bigint)];
  }
}

/**
 * Dropout (torch.nn.functional.dropout): in training each element is zeroed with probability p
 * and the rest scaled by 1/(1 − p); the mask comes from a seed drawn from `generator`. Not in
 * training: x itself.
 */
export function dropout(x: Tensor, p = 0.5, training = true, generator: Generator = defaultGenerator): Tensor {
  expectNumber(p, 'p', 0, 1);
  if (!expectBoolean(training, 'training') || p === 0) return x;
  return DropoutFunction.apply(x, p, drawDropoutSeed(generator));
}

// ---------------------------------------------------------------------------------------------
// Activations (their kernels: native/kernels/activation) and softmax
// ---------------------------------------------------------------------------------------------

/** An activation's kernel pair (out optional: a new tensor when omitted), and what its backward differentiates from. */
export interface ActivationOps {
  /** Its node's name in the graph ("ReluBackward"), the same from a layer and from these functions. */
  name: string;
  /** Its argument (LeakyReLU's slope, ELU's alpha, GELU's approximation, Softplus's options), if any: exporters read it. */
  argument?: unknown;
  /** The activation of `x` (into `out` when given). */
  forward(x: Tensor, out?: Tensor): Tensor;
  /** dx from dy and the kept tensor (the input or the output, as `from` says). */
  backward(dy: Tensor, kept: Tensor, out?: Tensor): Tensor;
  /** The gradient is computed from the forward's input (x) or from its output (y). */
  from: 'input' | 'output';
}

/** The ops of an activation with an argument (LeakyReLU's slope, ELU's alpha, …), whose gradient needs x. */
function withArgument<A>(
  name: string,
  forward: (x: Tensor, argument: A, out?: Tensor) => Tensor,
  backward: (dy: Tensor, x: Tensor, argument: A, out?: Tensor) => Tensor,
): (argument: A) => ActivationOps {
  return (argument) => ({ name, argument, forward: (x, out) => forward(x, argument, out), backward: (dy, x, out) => backward(dy, x, argument, out), from: 'input' });
}

/** The activations' kernel pairs (native/kernels/activation), shared by these functions and the nn layers. */
export const ACTIVATIONS = {
  relu: { name: 'ReluBackward', forward: act.relu, backward: act.reluBackward, from: 'output' } as ActivationOps,
  sigmoid: { name: 'SigmoidBackward', forward: act.sigmoid, backward: act.sigmoidBackward, from: 'output' } as ActivationOps,
  tanh: { name: 'TanhBackward', forward: act.tanh, backward: act.tanhBackward, from: 'output' } as ActivationOps,
  /** LeakyReLU's kernels with its negative slope. */
  leakyRelu: withArgument('LeakyReluBackward', act.leakyRelu, act.leakyReluBackward),
  /** ELU's kernels with its alpha. */
  elu: withArgument('EluBackward', act.elu, act.eluBackward),
  /** GELU's kernels, exact or tanh-approximated. */
  gelu: withArgument('GeluBackward', act.gelu, act.geluBackward),
  /** Softplus's kernels with its beta and threshold. */
  softplus: withArgument(
    'SoftplusBackward',
    (x: Tensor, o: act.SoftplusOptions, out?: Tensor) => act.softplus(x, o, out),
    (dy: Tensor, x: Tensor, o: act.SoftplusOptions, out?: Tensor) => act.softplusBackward(dy, x, o, out),
  ),
  /** Row-wise over [rows, C] (softmax() and logSoftmax() move the dimension last). */
  softmax: { name: 'SoftmaxBackward', forward: softmaxKernel, backward: softmaxBackward, from: 'output' } as ActivationOps,
  logSoftmax: { name: 'LogSoftmaxBackward', forward: logSoftmaxKernel, backward: logSoftmaxBackward, from: 'output' } as ActivationOps,
};

/** An element-wise kernel pair as an autograd Function (named ops.name in the graph, its argument an attribute): x ↦ y. */
export function elementwiseFunction(ops: ActivationOps): (x: Tensor) => Tensor {
  const fn = class extends Function {
    static readonly attributes = { argument: ops.argument };

    static override forward(ctx: Context, x: Tensor): Tensor {
      const y = ops.forward(x);
      ctx.saveForBackward(ops.from === 'output' ? y : x);
      return y;
    }

    static override backward(ctx: Context, dy: Tensor): (Tensor | null)[] {
      return [ops.backward(dy, savedOf(ctx)[0])];
    }
  };
  Object.defineProperty(fn, 'name', { value: ops.name });
  return (x: Tensor) => fn.apply(x);
}

const reluFunction = elementwiseFunction(ACTIVATIONS.relu);
const sigmoidFunction = elementwiseFunction(ACTIVATIONS.sigmoid);
const tanhFunction = elementwiseFunction(ACTIVATIONS.tanh);

/** max(x, 0) (NaN stays NaN). */
export function relu(x: Tensor): Tensor {
  return reluFunction(x);
}

/** 1 / (1 + e^−x). */
export function sigmoid(x: Tensor): Tensor {
  return sigmoidFunction(x);
}

/** The hyperbolic tangent, element-wise. */
export function tanh(x: Tensor): Tensor {
  return tanhFunction(x);
}

/** x where x > 0, else negativeSlope·x (torch.nn.functional.leaky_relu). */
export function leakyRelu(x: Tensor, negativeSlope = 0.01): Tensor {
  return elementwiseFunction(ACTIVATIONS.leakyRelu(expectFinite(negativeSlope, 'negativeSlope')))(x);
}

/** x where x > 0, else alpha·(eˣ − 1) (torch.nn.functional.elu). */
export function elu(x: Tensor, alpha = 1): Tensor {
  return elementwiseFunction(ACTIVATIONS.elu(expectFinite(alpha, 'alpha')))(x);
}

/** x·Φ(x) ('none') or its tanh approximation (torch.nn.functional.gelu). */
export function gelu(x: Tensor, approximate: act.GeluApproximate = 'none'): Tensor {
  return elementwiseFunction(ACTIVATIONS.gelu(expectOneOf(approximate, 'approximate', ['none', 'tanh'] as const)))(x);
}

/** log(1 + e^(beta·x))/beta, linear above the threshold (torch.nn.functional.softplus). */
export function softplus(x: Tensor, options: act.SoftplusOptions = {}): Tensor {
  return elementwiseFunction(ACTIVATIONS.softplus(options))(x);
}

const rowSoftmax = elementwiseFunction(ACTIVATIONS.softmax);
const rowLogSoftmax = elementwiseFunction(ACTIVATIONS.logSoftmax);

/** softmax along `dim` (default the last), as torch.softmax. */
export function softmax(x: Tensor, dim = -1): Tensor {
  return alongLastDim(x, dim, rowSoftmax);
}

/** log(softmax(x)) along `dim` (default the last), computed stably, as torch.log_softmax. */
export function logSoftmax(x: Tensor, dim = -1): Tensor {
  return alongLastDim(x, dim, rowLogSoftmax);
}

/** Applies a row-wise kernel ([rows, C]) along dim: moving dim last when it is not already. */
function alongLastDim(x: Tensor, dim: number, rowOp: (rows: Tensor) => Tensor): Tensor {
  if (!(x instanceof Tensor)) fail('a Tensor', 'x', x);
  const rank = x.shape.length;
  if (rank === 0) fail('a tensor of rank ≥ 1', 'x', x, RangeError);
  if (!Number.isInteger(dim) || dim < -rank || dim >= rank) fail(`a dimension in [${-rank}, ${rank - 1}]`, 'dim', dim, RangeError);
  const d = dim < 0 ? dim + rank : dim;
  if (d === rank - 1) {
    const c = x.shape[rank - 1];
    return reshape(rowOp(reshape(x, [-1, c])), x.shape);
  }
  const moved = transpose(x, d, rank - 1);
  return transpose(alongLastDim(moved, -1, rowOp), d, rank - 1);
}

// ---------------------------------------------------------------------------------------------
// Losses
// ---------------------------------------------------------------------------------------------

/** How a loss reduces over the batch: the mean (default) or the sum. */
export type Reduction = 'mean' | 'sum';

/**
 * The scale of a loss's gradient: 1/count for the mean (1 for the sum) times dL/dloss, folded into
 * the kernel when dL/dloss is a known constant (the 1 that loss.backward() starts from), else
 * applied with one multiply.
 */
function lossGradient(dloss: Tensor, count: number, reduction: Reduction, kernel: (scale: number) => Tensor): Tensor {
  const base = reduction === 'mean' ? (count > 0 ? 1 / count : 0) : 1;
  const known = dloss.uniformValue;
  if (known !== undefined) return kernel(base * known);
  return mul(kernel(base), dloss);
}

/** A 0-d loss from a kernel's statistics [Σ loss, …]: stats[0] times `factor` (1/N for a mean, …). */
function lossFromStats(stats: Tensor, factor: number): Tensor {
  return scaledElement(stats, 0, factor);
}

/** Options of crossEntropy(): label smoothing and reduction. */
export interface CrossEntropyFunctionalOptions {
  /** ε in [0, 1] (PyTorch's label_smoothing). */
  labelSmoothing?: number;
  /** 'mean' (default) or 'sum' over the batch. */
  reduction?: Reduction;
  /** Add [Σ loss, correct count] of this batch into this float32 [2] tensor (on the device, no wait). */
  accumulateInto?: Tensor;
}

class CrossEntropyFunction extends Function {
  static override forward(ctx: Context, logits: Tensor, labels: Tensor, options: CrossEntropyFunctionalOptions): Tensor {
    const smoothing = { labelSmoothing: options.labelSmoothing ?? 0 };
    const { probs, stats } = softmaxCrossEntropy(logits, labels, smoothing);
    if (options.accumulateInto) inPlace('add', options.accumulateInto, stats);
    ctx.saveForBackward(probs, labels);
    ctx.options = options;
    const n = logits.shape[0];
    return lossFromStats(stats, (options.reduction ?? 'mean') === 'mean' ? (n > 0 ? 1 / n : NaN) : 1);
  }

  static override backward(ctx: Context, dloss: Tensor): (Tensor | null)[] {
    const [probs, labels] = savedOf(ctx);
    const options = ctx.options as CrossEntropyFunctionalOptions;
    const smoothing = options.labelSmoothing ?? 0;
    // A new tensor, not the probabilities overwritten: a retained graph's next backward reads them again.
    const dlogits = lossGradient(dloss, probs.shape[0], options.reduction ?? 'mean', (scale) =>
      softmaxCrossEntropyBackward(probs, labels, { labelSmoothing: smoothing, scale }),
    );
    return [dlogits, null, null];
  }
}

/**
 * Cross-entropy of logits [N, C] against int32 class labels [N], with the softmax fused in
 * (torch.nn.functional.cross_entropy). Returns a 0-d tensor.
 */
export function crossEntropy(logits: Tensor, labels: Tensor, options: CrossEntropyFunctionalOptions = {}): Tensor {
  if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
  expectOneOf(options.reduction ?? 'mean', 'options.reduction', ['mean', 'sum']);
  return CrossEntropyFunction.apply(logits, labels, options);
}

/**
 * A point-wise loss from its kernel's statistics, whose stats[0] is Σ over samples of the sample's
 * mean: the mean over every element is stats[0] / N, the sum stats[0] · (elements per sample).
 */
function pointwiseLoss(stats: Tensor, input: Tensor, reduction: Reduction): Tensor {
  const n = input.shape[0];
  return lossFromStats(stats, reduction === 'mean' ? (n > 0 ? 1 / n : NaN) : input.size / Math.max(n, 1));
}

/** Options of mseLoss() and bceWithLogits(): the reduction, and optional running sums for fit(). */
export interface PointwiseLossFunctionalOptions {
  reduction?: Reduction;
  /** Add [Σ loss, Σ accuracy] of this batch into this float32 [2] tensor (see nn.LossResult). */
  accumulateInto?: Tensor;
}

class MseLossFunction extends Function {
  static override forward(ctx: Context, input: Tensor, target: Tensor, options: PointwiseLossFunctionalOptions): Tensor {
    const stats = mseKernel(input, target);
    if (options.accumulateInto) inPlace('add', options.accumulateInto, stats);
    ctx.saveForBackward(input, target);
    ctx.options = options;
    return pointwiseLoss(stats, input, options.reduction ?? 'mean');
  }

  static override backward(ctx: Context, dloss: Tensor): (Tensor | null)[] {
    const [input, target] = savedOf(ctx);
    const [, needTarget] = ctx.needsInputGrad;
    const reduction = (ctx.options as PointwiseLossFunctionalOptions).reduction ?? 'mean';
    const dinput = lossGradient(dloss, input.size, reduction, (scale) => mseLossBackward(input, target, { scale }));
    return [dinput, needTarget ? neg(dinput) : null, null];
  }
}

/** Mean (or sum) of (input − target)² over every element (torch.nn.functional.mse_loss). */
export function mseLoss(input: Tensor, target: Tensor, options: PointwiseLossFunctionalOptions = {}): Tensor {
  expectOneOf(options.reduction ?? 'mean', 'options.reduction', ['mean', 'sum']);
  return MseLossFunction.apply(input, target, options);
}

class BceWithLogitsFunction extends Function {
  static override forward(ctx: Context, input: Tensor, target: Tensor, posWeight: Tensor | null, options: PointwiseLossFunctionalOptions): Tensor {
    const stats = bceWithLogits(input, target, { posWeight });
    if (options.accumulateInto) inPlace('add', options.accumulateInto, stats);
    ctx.saveForBackward(input, target, posWeight);
    ctx.options = options;
    return pointwiseLoss(stats, input, options.reduction ?? 'mean');
  }

  static override backward(ctx: Context, dloss: Tensor): (Tensor | null)[] {
    const [input, target, posWeight] = ctx.savedTensors;
    const [needInput, needTarget] = ctx.needsInputGrad;
    const reduction = (ctx.options as PointwiseLossFunctionalOptions).reduction ?? 'mean';
    const dinput = needInput ? lossGradient(dloss, input!.size, reduction, (scale) => bceWithLogitsBackward(input!, target!, { posWeight, scale })) : null;
    if (!needTarget) return [dinput, null, null, null];
    // Per element ℓ = w·t·softplus(−x) + (1 − t)·softplus(x), so ∂ℓ/∂t = w·softplus(−x) − softplus(x);
    // times dL/dloss, over the count for a mean.
    const belowZero = softplus(neg(input!));
    const dtarget = sub(posWeight ? mul(belowZero, posWeight) : belowZero, softplus(input!));
    return [dinput, mul(dtarget, mul(dloss, reduction === 'mean' ? 1 / input!.size : 1)), null, null];
  }
}

/**
 * Binary cross-entropy on logits, with the sigmoid fused in (torch.nn.functional
 * .binary_cross_entropy_with_logits); target probabilities of the input's shape. The target gets a
 * gradient too when it requires grad; posWeight cannot require grad (PyTorch does not differentiate it).
 */
export function binaryCrossEntropyWithLogits(input: Tensor, target: Tensor, options: PointwiseLossFunctionalOptions & { posWeight?: Tensor | null } = {}): Tensor {
  expectOneOf(options.reduction ?? 'mean', 'options.reduction', ['mean', 'sum']);
  if (options.posWeight?.requiresGrad && isGradEnabled()) {
    fail('a posWeight that does not require grad (binaryCrossEntropyWithLogits is not differentiable with respect to it)', 'options.posWeight', options.posWeight);
  }
  return BceWithLogitsFunction.apply(input, target, options.posWeight ?? null, options);
}
