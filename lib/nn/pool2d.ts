/** MaxPool2d and AvgPool2d, after torch.nn. Ops: lib/ops/pool2d.ts. */
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, pool2dOutputShape } from '../ops/pool2d';
import type { Tensor } from '../tensor';
import { expectBoolean, expectPair } from '../validate';
import { type LayerConfig, Module } from './module';

export interface Pool2dLayerOptions {
  stride?: number | [number, number];
  padding?: number | [number, number];
}

abstract class Pool2dBase extends Module {
  readonly kernelSize: [number, number];
  readonly stride: [number, number];
  readonly padding: [number, number];
  protected inputShape: readonly number[] | undefined;

  constructor(kernelSize: number | [number, number], options: Pool2dLayerOptions) {
    super();
    this.kernelSize = expectPair(kernelSize, 'kernelSize', 1);
    this.stride = expectPair(options.stride ?? this.kernelSize, 'stride', 1);
    this.padding = expectPair(options.padding ?? 0, 'padding', 0);
  }

  protected get options() {
    return { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding };
  }

  outputShape(input: readonly number[]): number[] {
    return pool2dOutputShape(input, this.options);
  }

  protected describe(name: string): string {
    return `${name}(kernel_size=(${this.kernelSize.join(', ')}), stride=(${this.stride.join(', ')}), padding=(${this.padding.join(', ')}))`;
  }
}

export class MaxPool2d extends Pool2dBase {
  private indices: Tensor | undefined;

  constructor(kernelSize: number | [number, number], options: Pool2dLayerOptions = {}) {
    super(kernelSize, options);
  }

  forward(x: Tensor): Tensor {
    const shape = this.outputShape(x.shape);
    this.inputShape = x.shape;
    const out = {
      y: this.workspace.get('y', shape, x.device),
      indices: this.workspace.get('indices', shape, x.device, 'int32'),
    };
    const { y, indices } = maxPool2d(x, this.options, out);
    this.indices = indices;
    return y;
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const shape = this.saved(this.inputShape, 'input shape');
    return maxPool2dBackward(dy, this.saved(this.indices, 'indices'), shape, this.workspace.get('dx', shape, dy.device));
  }

  config(): LayerConfig {
    return { type: 'MaxPool2d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding };
  }

  override toString(): string {
    return this.describe('MaxPool2d');
  }
}

export class AvgPool2d extends Pool2dBase {
  readonly countIncludePad: boolean;

  constructor(kernelSize: number | [number, number], options: Pool2dLayerOptions & { countIncludePad?: boolean } = {}) {
    super(kernelSize, options);
    this.countIncludePad = expectBoolean(options.countIncludePad ?? true, 'countIncludePad');
  }

  protected override get options() {
    return { ...super.options, countIncludePad: this.countIncludePad };
  }

  forward(x: Tensor): Tensor {
    this.inputShape = x.shape;
    return avgPool2d(x, this.options, this.workspace.get('y', this.outputShape(x.shape), x.device));
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const shape = this.saved(this.inputShape, 'input shape');
    return avgPool2dBackward(dy, shape, this.options, this.workspace.get('dx', shape, dy.device));
  }

  config(): LayerConfig {
    return { type: 'AvgPool2d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, countIncludePad: this.countIncludePad };
  }

  override toString(): string {
    return this.describe('AvgPool2d');
  }
}
