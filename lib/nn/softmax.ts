/**
 * Classifier outputs, after torch.nn.Softmax(dim=1) and torch.nn.LogSoftmax(dim=1), over the classes
 * of [N, C] scores. (For training, CrossEntropyLoss fuses the softmax with the loss; these layers
 * are for probabilities at inference, or a log-probability output feeding another loss.)
 * Ops: lib/ops/softmax.ts.
 */
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../ops/softmax';
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { type LayerConfig, Module } from './module';

abstract class RowSoftmax extends Module {
  /** The class dimension: 1 (or −1, the same for [N, C]). */
  readonly dim: number;
  private output: Tensor | undefined;
  protected abstract apply(x: Tensor, out: Tensor): Tensor;
  protected abstract gradient(dy: Tensor, y: Tensor, out: Tensor): Tensor;

  constructor(dim = 1) {
    super();
    if (dim !== 1 && dim !== -1) fail('1 or -1 (the class dimension of [N, C] scores)', 'dim', dim, RangeError);
    this.dim = dim;
  }

  forward(x: Tensor): Tensor {
    this.outputShape(x.shape);
    this.output = this.apply(x, this.workspace.get('y', x.shape, x.device));
    return this.output;
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const y = this.saved(this.output, 'output');
    return this.gradient(dy, y, this.workspace.get('dx', y.shape, y.device));
  }

  outputShape(input: readonly number[]): number[] {
    if (input.length !== 2) {
      throw new RangeError(`Expected input of shape [N, C] for ${this.constructor.name} but received [${input.join(', ')}]`);
    }
    return [...input];
  }
}

export class Softmax extends RowSoftmax {
  protected apply(x: Tensor, out: Tensor): Tensor {
    return softmax(x, out);
  }
  protected gradient(dy: Tensor, y: Tensor, out: Tensor): Tensor {
    return softmaxBackward(dy, y, out);
  }
  config(): LayerConfig {
    return { type: 'Softmax', dim: this.dim };
  }
  override toString(): string {
    return `Softmax(dim=${this.dim})`;
  }
}

export class LogSoftmax extends RowSoftmax {
  protected apply(x: Tensor, out: Tensor): Tensor {
    return logSoftmax(x, out);
  }
  protected gradient(dy: Tensor, y: Tensor, out: Tensor): Tensor {
    return logSoftmaxBackward(dy, y, out);
  }
  config(): LayerConfig {
    return { type: 'LogSoftmax', dim: this.dim };
  }
  override toString(): string {
    return `LogSoftmax(dim=${this.dim})`;
  }
}
