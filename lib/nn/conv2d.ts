/**
 * Conv2d, after torch.nn.Conv2d (groups 1, dilation 1). Op: lib/ops/conv2d.ts.
 * ConvLayer is the body Conv2d and Conv1d (nn/conv1d.ts) share; each names its ops and size type.
 */
import { isExplicitMode } from '../autograd/grad_mode';
import { conv2d, conv2dBackward, conv2dOutputShape } from '../ops/conv2d';
import type { Generator } from '../random';
import type { Tensor } from '../tensor';
import { expectInt, expectPair } from '../validate';
import * as F from './functional';
import { type LayerConfig, Module, type Parameter } from './module';

/** Options of Conv2d: stride (default 1), zero padding per side (default 0), each a number or [h, w]; bias (default true); the initialisation's generator. */
export interface Conv2dLayerOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  bias?: boolean;
  /** Generator for the default initialisation (default: napinet's default generator). */
  generator?: Generator;
}

/** A size of a convolution or pooling layer: one integer (1-D) or a pair (2-D). */
export type LayerSize = number | [number, number];

/** A size as Python prints a tuple: (2,) or (2, 2). */
export const pyTuple = (size: LayerSize): string => (typeof size === 'number' ? `(${size},)` : `(${size.join(', ')})`);

/** What a convolution layer of one dimensionality runs: its functional ops and how it reads a size. */
export interface ConvOps<S extends LayerSize> {
  type: string;
  size(value: unknown, name: string, min: number): S;
  outputShape(input: readonly number[], weightShape: readonly number[], options: { stride: S; padding: S }): number[];
  forward(x: Tensor, weight: Tensor, bias: Tensor | null, options: { stride: S; padding: S }, out: Tensor): Tensor;
  /** The recorded forward (nn/functional.ts), over the same kernels. */
  functional(x: Tensor, weight: Tensor, bias: Tensor | null, options: { stride: S; padding: S }): Tensor;
  backward(
    dy: Tensor,
    x: Tensor,
    weight: Tensor,
    options: { stride: S; padding: S; inputGrad: boolean; biasGrad: boolean; accumulate: boolean; out: { dx?: Tensor; dw: Tensor; db: Tensor | null } },
  ): { dx: Tensor | null };
}

/** The layer around a convolution op: parameters [out, in, ...kernel] (+ bias [out]), forward, backward, config. */
export abstract class ConvLayer<S extends LayerSize> extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: S;
  readonly stride: S;
  readonly padding: S;
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private input: Tensor | undefined;

  protected constructor(
    private readonly ops: ConvOps<S>,
    inChannels: number,
    outChannels: number,
    kernelSize: unknown,
    options: { stride?: unknown; padding?: unknown; bias?: boolean; generator?: Generator },
  ) {
    super();
    this.inChannels = expectInt(inChannels, 'inChannels', 1);
    this.outChannels = expectInt(outChannels, 'outChannels', 1);
    this.kernelSize = ops.size(kernelSize, 'kernelSize', 1);
    this.stride = ops.size(options.stride ?? 1, 'stride', 1);
    this.padding = ops.size(options.padding ?? 0, 'padding', 0);
    const { weight, bias } = this.addWeightAndBias([outChannels, inChannels, ...[this.kernelSize].flat()], options);
    this.weight = weight;
    this.bias = bias;
  }

  private get options() {
    return { stride: this.stride, padding: this.padding };
  }

  forward(x: Tensor): Tensor {
    const shape = this.ops.outputShape(x.shape, this.weight.shape, this.options);
    if (!isExplicitMode()) return this.recordedForward(this.ops.functional(x, this.weight, this.bias, this.options));
    this.input = x;
    this.savedForBackward();
    return this.ops.forward(x, this.weight, this.bias, this.options, this.workspace.get('y', shape, x.device));
  }

  override backward(dy: Tensor): Tensor | null {
    const x = this.saved(this.input, 'input');
    const dx = this.ops.backward(dy, x, this.weight, { ...this.options, ...this.weightGradients(x, this.weight, this.bias) }).dx;
    this.consumedByBackward();
    return dx;
  }

  override outputShape(input: readonly number[]): number[] {
    return this.ops.outputShape(input, this.weight.shape, this.options);
  }

  override config(): LayerConfig {
    return {
      type: this.ops.type,
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      bias: this.bias !== null,
    };
  }

  override toString(): string {
    const extra = [
      `stride=${pyTuple(this.stride)}`,
      [this.padding].flat().some((p) => p) ? `padding=${pyTuple(this.padding)}` : '',
      this.bias ? '' : 'bias=False',
    ].filter(Boolean);
    return `${this.ops.type}(${this.inChannels}, ${this.outChannels}, kernel_size=${pyTuple(this.kernelSize)}, ${extra.join(', ')})`;
  }
}

const CONV2D: ConvOps<[number, number]> = {
  type: 'Conv2d',
  size: expectPair,
  outputShape: conv2dOutputShape,
  forward: conv2d,
  backward: conv2dBackward,
  functional: F.conv2d,
};

/** torch.nn.Conv2d: a 2-D convolution over [N, inChannels, H, W] inputs, weight [outChannels, inChannels, kH, kW], bias [outChannels], initialised as PyTorch's (Kaiming-uniform). */
export class Conv2d extends ConvLayer<[number, number]> {
  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], options: Conv2dLayerOptions = {}) {
    super(CONV2D, inChannels, outChannels, kernelSize, options);
  }
}
