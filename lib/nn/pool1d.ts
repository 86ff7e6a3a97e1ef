/** MaxPool1d and AvgPool1d, after torch.nn, on [N, C, L]. Ops: lib/ops/pool1d.ts (pool2d's kernels). */
import { expectSingle } from '../ops/conv1d';
import { avgPool1d, avgPool1dBackward, maxPool1d, maxPool1dBackward, pool1dOutputShape } from '../ops/pool1d';
import type { Tensor } from '../tensor';
import { expectBoolean } from '../validate';
import { type LayerConfig, Module } from './module';

export interface Pool1dLayerOptions {
  stride?: number | [number];
  padding?: number | [number];
}

abstract class Pool1dBase extends Module {
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  protected inputShape: readonly number[] | undefined;

  constructor(kernelSize: number | [number], options: Pool1dLayerOptions) {
    super();
    this.kernelSize = expectSingle(kernelSize, 'kernelSize', 1);
    this.stride = expectSingle(options.stride ?? this.kernelSize, 'stride', 1);
    this.padding = expectSingle(options.padding ?? 0, 'padding', 0);
  }

  protected get options() {
    return { kernelSize: this.kernelSize, stride: this.stride, padding: this.padding };
  }

  outputShape(input: readonly number[]): number[] {
    return pool1dOutputShape(input, this.options);
  }

  protected describe(name: string): string {
    return `${name}(kernel_size=${this.kernelSize}, stride=${this.stride}, padding=${this.padding})`;
  }
}

export class MaxPool1d extends Pool1dBase {
  private indices: Tensor | undefined;

  constructor(kernelSize: number | [number], options: Pool1dLayerOptions = {}) {
    super(kernelSize, options);
  }

  forward(x: Tensor): Tensor {
    const shape = this.outputShape(x.shape);
    this.inputShape = x.shape;
    const { y, indices } = maxPool1d(x, this.options, {
      y: this.workspace.get('y', shape, x.device),
      indices: this.workspace.get('indices', shape, x.device, 'int32'),
    });
    this.indices = indices;
    return y;
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const shape = this.saved(this.inputShape, 'input shape');
    return maxPool1dBackward(dy, this.saved(this.indices, 'indices'), shape, this.workspace.get('dx', shape, dy.device));
  }

  config(): LayerConfig {
    return { type: 'MaxPool1d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding };
  }

  override toString(): string {
    return this.describe('MaxPool1d');
  }
}

export class AvgPool1d extends Pool1dBase {
  readonly countIncludePad: boolean;

  constructor(kernelSize: number | [number], options: Pool1dLayerOptions & { countIncludePad?: boolean } = {}) {
    super(kernelSize, options);
    this.countIncludePad = expectBoolean(options.countIncludePad ?? true, 'countIncludePad');
  }

  protected override get options() {
    return { ...super.options, countIncludePad: this.countIncludePad };
  }

  forward(x: Tensor): Tensor {
    this.inputShape = x.shape;
    return avgPool1d(x, this.options, this.workspace.get('y', this.outputShape(x.shape), x.device));
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const shape = this.saved(this.inputShape, 'input shape');
    return avgPool1dBackward(dy, shape, this.options, this.workspace.get('dx', shape, dy.device));
  }

  config(): LayerConfig {
    return { type: 'AvgPool1d', kernelSize: this.kernelSize, stride: this.stride, padding: this.padding, countIncludePad: this.countIncludePad };
  }

  override toString(): string {
    return this.describe('AvgPool1d');
  }
}
