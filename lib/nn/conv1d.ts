/** Conv1d, after torch.nn.Conv1d (groups 1, dilation 1) on [N, C, L]. Op: lib/ops/conv1d.ts (conv2d's kernels). */
import { conv1d, conv1dBackward, conv1dOutputShape, expectSingle, type Conv1dOptions } from '../ops/conv1d';
import type { Generator } from '../random';
import { Tensor } from '../tensor';
import { expectBoolean, expectInt } from '../validate';
import { defaultLayerInit } from './init';
import { type LayerConfig, Module, type Parameter } from './module';

export interface Conv1dLayerOptions {
  stride?: number | [number];
  padding?: number | [number];
  bias?: boolean;
  /** Generator for the default initialisation (default: napinet's default generator). */
  generator?: Generator;
}

export class Conv1d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  /** [outChannels, inChannels, kernelSize], as torch.nn.Conv1d. */
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private input: Tensor | undefined;

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number], options: Conv1dLayerOptions = {}) {
    super();
    this.inChannels = expectInt(inChannels, 'inChannels', 1);
    this.outChannels = expectInt(outChannels, 'outChannels', 1);
    this.kernelSize = expectSingle(kernelSize, 'kernelSize', 1);
    this.stride = expectSingle(options.stride ?? 1, 'stride', 1);
    this.padding = expectSingle(options.padding ?? 0, 'padding', 0);
    const hasBias = expectBoolean(options.bias ?? true, 'bias');
    const weight = Tensor.zeros([outChannels, inChannels, this.kernelSize]);
    const bias = hasBias ? Tensor.zeros([outChannels]) : null;
    defaultLayerInit(weight, bias, options.generator);
    this.weight = this.addParameter('weight', weight);
    this.bias = bias ? this.addParameter('bias', bias) : null;
  }

  private get options(): Conv1dOptions {
    return { stride: this.stride, padding: this.padding };
  }

  forward(x: Tensor): Tensor {
    const shape = conv1dOutputShape(x.shape, this.weight.shape, this.options);
    this.input = x;
    return conv1d(x, this.weight.value, this.bias?.value ?? null, this.options, this.workspace.get('y', shape, x.device));
  }

  backward(dy: Tensor): Tensor | null {
    const x = this.saved(this.input, 'input');
    const dx = this.inputGrad ? this.workspace.get('dx', x.shape, x.device) : undefined;
    return conv1dBackward(dy, x, this.weight.value, {
      ...this.options,
      inputGrad: this.inputGrad,
      biasGrad: this.bias !== null,
      accumulate: true,
      out: { dx, dw: this.weight.grad, db: this.bias?.grad ?? null },
    }).dx;
  }

  outputShape(input: readonly number[]): number[] {
    return conv1dOutputShape(input, this.weight.shape, this.options);
  }

  config(): LayerConfig {
    return {
      type: 'Conv1d',
      inChannels: this.inChannels,
      outChannels: this.outChannels,
      kernelSize: this.kernelSize,
      stride: this.stride,
      padding: this.padding,
      bias: this.bias !== null,
    };
  }

  override toString(): string {
    const extra = [`stride=(${this.stride},)`, this.padding ? `padding=(${this.padding},)` : '', this.bias ? '' : 'bias=False'].filter(Boolean);
    return `Conv1d(${this.inChannels}, ${this.outChannels}, kernel_size=(${this.kernelSize},), ${extra.join(', ')})`;
  }
}
