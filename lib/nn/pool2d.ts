/**
 * MaxPool2d and AvgPool2d, after torch.nn. Ops: lib/ops/pool2d.ts.
 * MaxPoolLayer and AvgPoolLayer are the bodies they share with MaxPool1d and AvgPool1d
 * (nn/pool1d.ts); each names its ops and size type.
 */
import { isExplicitMode } from '../autograd/grad_mode';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, pool2dOutputShape } from '../ops/pool2d';
import type { Tensor } from '../tensor';
import { expectBoolean, expectPair } from '../validate';
import { type LayerSize, pyTuple } from './conv2d';
import * as F from './functional';
import { type LayerConfig, Module } from './module';

/** Options of MaxPool2d and AvgPool2d: stride (default the kernel size) and zero padding (default 0), each a number or [h, w]. */
export interface Pool2dLayerOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

interface Window<S extends LayerSize> {
  kernelSize: S;
  stride: S;
  padding: S;
  countIncludePad?: boolean;
}

/** What a pooling layer of one dimensionality runs: its functional ops and how it reads a size. */
export interface PoolOps<S extends LayerSize> {
  /** The layers' names end in it: MaxPool2d, AvgPool1d, … */
  dims: '1d' | '2d';
  size(value: unknown, name: string, min: number): S;
  outputShape(input: readonly number[], window: Window<S>): number[];
  max(x: Tensor, window: Window<S>, out: { y: Tensor; indices: Tensor }): { y: Tensor; indices: Tensor };
  maxBackward(dy: Tensor, indices: Tensor, inputShape: readonly number[], out: Tensor): Tensor;
  avg(x: Tensor, window: Window<S>, out: Tensor): Tensor;
  avgBackward(dy: Tensor, inputShape: readonly number[], window: Window<S>, out: Tensor): Tensor;
  /** The recorded forwards (nn/functional.ts), over the same kernels. */
  maxFunctional(x: Tensor, window: Window<S>): Tensor;
  avgFunctional(x: Tensor, window: Window<S>): Tensor;
}

abstract class PoolLayer<S extends LayerSize> extends Module {
  readonly kernelSize: S;
  readonly stride: S;
  readonly padding: S;
  protected inputShape: readonly number[] | undefined;

  constructor(
    protected readonly ops: PoolOps<S>,
    private readonly type: string,
    kernelSize: unknown,
    options: { stride?: unknown; padding?: unknown },
  ) {
    super();
    this.kernelSize = ops.size(kernelSize, 'kernelSize', 1);
    this.stride = ops.size(options.stride ?? this.kernelSize, 'stride', 1);
    this.padding = ops.size(options.padding ?? 0, 'padding', 0);
  }

  protected get options(): Window<S> {
    return { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding };
  }

  override outputShape(input: readonly number[]): number[] {
    return this.ops.outputShape(input, this.options);
  }

  override config(): LayerConfig {
    return { type: this.type, ...this.options };
  }

  override toString(): string {
    // torch prints a 1-D pool's sizes as integers, a 2-D pool's as tuples.
    const show = (size: S) => (typeof size === 'number' ? String(size) : pyTuple(size));
    return `${this.type}(kernel_size=${show(this.kernelSize)}, stride=${show(this.stride)}, padding=${show(this.padding)})`;
  }
}

/** Max pooling; backward sends each gradient to the argmax its forward recorded. */
export abstract class MaxPoolLayer<S extends LayerSize> extends PoolLayer<S> {
  private indices: Tensor | undefined;

  constructor(ops: PoolOps<S>, kernelSize: unknown, options: { stride?: unknown; padding?: unknown }) {
    super(ops, `MaxPool${ops.dims}`, kernelSize, options);
  }

  forward(x: Tensor): Tensor {
    if (!isExplicitMode()) return this.recordedForward(this.ops.maxFunctional(x, this.options));
    const shape = this.outputShape(x.shape);
    this.inputShape = x.shape;
    this.savedForBackward();
    const out = {
      y: this.workspace.get('y', shape, x.device),
      indices: this.workspace.get('indices', shape, x.device, 'int32'),
    };
    const { y, indices } = this.ops.max(x, this.options, out);
    this.indices = indices;
    return y;
  }

  override backward(dy: Tensor): Tensor | null {
    const shape = this.saved(this.inputShape, 'input shape');
    this.consumedByBackward();
    if (!this.inputGrad) return null;
    return this.ops.maxBackward(dy, this.saved(this.indices, 'indices'), shape, this.workspace.get('dx', shape, dy.device));
  }
}

/** Average pooling; the divisor counts the padding unless countIncludePad is false. */
export abstract class AvgPoolLayer<S extends LayerSize> extends PoolLayer<S> {
  readonly countIncludePad: boolean;

  constructor(ops: PoolOps<S>, kernelSize: unknown, options: { stride?: unknown; padding?: unknown; countIncludePad?: boolean }) {
    super(ops, `AvgPool${ops.dims}`, kernelSize, options);
    this.countIncludePad = expectBoolean(options.countIncludePad ?? true, 'countIncludePad');
  }

  protected override get options(): Window<S> {
    return { ...super.options, countIncludePad: this.countIncludePad };
  }

  forward(x: Tensor): Tensor {
    if (!isExplicitMode()) return this.recordedForward(this.ops.avgFunctional(x, this.options));
    this.inputShape = x.shape;
    this.savedForBackward();
    return this.ops.avg(x, this.options, this.workspace.get('y', this.outputShape(x.shape), x.device));
  }

  override backward(dy: Tensor): Tensor | null {
    const shape = this.saved(this.inputShape, 'input shape');
    this.consumedByBackward();
    if (!this.inputGrad) return null;
    return this.ops.avgBackward(dy, shape, this.options, this.workspace.get('dx', shape, dy.device));
  }
}

const POOL2D: PoolOps<[number, number]> = {
  dims: '2d',
  size: expectPair,
  outputShape: pool2dOutputShape,
  max: maxPool2d,
  maxBackward: maxPool2dBackward,
  avg: avgPool2d,
  avgBackward: avgPool2dBackward,
  maxFunctional: F.maxPool2d,
  avgFunctional: F.avgPool2d,
};

/** torch.nn.MaxPool2d: the maximum of each window over [N, C, H, W]. */
export class MaxPool2d extends MaxPoolLayer<[number, number]> {
  constructor(kernelSize: number | [number, number], options: Pool2dLayerOptions = {}) {
    super(POOL2D, kernelSize, options);
  }
}

/** torch.nn.AvgPool2d: the mean of each window over [N, C, H, W] (padding counted unless countIncludePad is false). */
export class AvgPool2d extends AvgPoolLayer<[number, number]> {
  constructor(kernelSize: number | [number, number], options: Pool2dLayerOptions & { countIncludePad?: boolean } = {}) {
    super(POOL2D, kernelSize, options);
  }
}
