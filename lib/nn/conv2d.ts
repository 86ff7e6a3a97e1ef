/** Conv2d, after torch.nn.Conv2d (groups 1, dilation 1). Op: lib/ops/conv2d.ts. */
import { conv2d, conv2dBackward, conv2dOutputShape, type Conv2dOptions } from '../ops/conv2d';
import type { Generator } from '../random';
import { Tensor } from '../tensor';
import { expectBoolean, expectInt, expectPair } from '../validate';
import { defaultLayerInit } from './init';
import { type LayerConfig, Module, type Parameter } from './module';

export interface Conv2dLayerOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
  bias?: boolean;
  /** Generator for the default initialisation (default: napinet's default generator). */
  generator?: Generator;
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private input: Tensor | undefined;

  constructor(inChannels: number, outChannels: number, kernelSize: number | [number, number], options: Conv2dLayerOptions = {}) {
    super();
    this.inChannels = expectInt(inChannels, 'inChannels', 1);
    this.outChannels = expectInt(outChannels, 'outChannels', 1);
    this.kernelSize = expectPair(kernelSize, 'kernelSize', 1);
    this.stride = expectPair(options.stride ?? 1, 'stride', 1);
    this.padding = expectPair(options.padding ?? 0, 'padding', 0);
    const hasBias = expectBoolean(options.bias ?? true, 'bias');
    const weight = Tensor.zeros([outChannels, inChannels, ...this.kernelSize]);
    const bias = hasBias ? Tensor.zeros([outChannels]) : null;
    defaultLayerInit(weight, bias, options.generator);
    this.weight = this.addParameter('weight', weight);
    this.bias = bias ? this.addParameter('bias', bias) : null;
  }

  private get options(): Conv2dOptions {
    return { stride: this.stride, padding: this.padding };
  }

  forward(x: Tensor): Tensor {
    const shape = conv2dOutputShape(x.shape, this.weight.shape, this.options);
    this.input = x;
    const y = this.workspace.get('y', shape, x.device);
    return conv2d(x, this.weight.value, this.bias?.value ?? null, this.options, y);
  }

  backward(dy: Tensor): Tensor | null {
    const x = this.saved(this.input, 'input');
    const dx = this.inputGrad ? this.workspace.get('dx', x.shape, x.device) : undefined;
    const grads = conv2dBackward(dy, x, this.weight.value, {
      ...this.options,
      inputGrad: this.inputGrad,
      biasGrad: this.bias !== null,
      accumulate: true,
      out: { dx, dw: this.weight.grad, db: this.bias?.grad ?? null },
    });
    return grads.dx;
  }

  outputShape(input: readonly number[]): number[] {
    return conv2dOutputShape(input, this.weight.shape, this.options);
  }

  config(): LayerConfig {
    return {
      type: 'Conv2d',
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
      `stride=(${this.stride.join(', ')})`,
      this.padding.some((p) => p) ? `padding=(${this.padding.join(', ')})` : '',
      this.bias ? '' : 'bias=False',
    ].filter(Boolean);
    return `Conv2d(${this.inChannels}, ${this.outChannels}, kernel_size=(${this.kernelSize.join(', ')}), ${extra.join(', ')})`;
  }
}

