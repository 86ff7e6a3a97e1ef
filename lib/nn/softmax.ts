/**
 * Classifier outputs, after torch.nn.Softmax(dim=1) and torch.nn.LogSoftmax(dim=1), over the classes
 * of [N, C] scores. (For training, CrossEntropyLoss fuses the softmax with the loss; these layers
 * are for probabilities at inference, or a log-probability output feeding another loss.)
 * Ops: lib/ops/softmax.ts.
 */
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { ActivationLayer } from './activation';
import { ACTIVATIONS, type ActivationOps } from './functional';

/** Softmax or LogSoftmax over the classes of [N, C] scores; the gradient comes from the output. */
abstract class RowSoftmax extends ActivationLayer {
  /** The class dimension: 1 (or −1, the same for [N, C]). */
  readonly dim: number;

  protected constructor(type: string, ops: ActivationOps, dim: number) {
    if (dim !== 1 && dim !== -1) fail('1 or -1 (the class dimension of [N, C] scores)', 'dim', dim, RangeError);
    super(type, ops, { config: { dim }, repr: `dim=${dim}` });
    this.dim = dim;
  }

  /** Softmax (or its log) of each row of [N, C] scores. */
  override forward(x: Tensor): Tensor {
    this.outputShape(x.shape);
    return super.forward(x);
  }

  /** The input's shape: [N, C] only. */
  override outputShape(input: readonly number[]): number[] {
    if (input.length !== 2) {
      throw new RangeError(`Expected input of shape [N, C] for ${this.type} but received [${input.join(', ')}]`);
    }
    return [...input];
  }
}

/** torch.nn.Softmax(dim=1) over [N, C] scores. */
export class Softmax extends RowSoftmax {
  constructor(dim = 1) {
    super('Softmax', ACTIVATIONS.softmax, dim);
  }
}

/** torch.nn.LogSoftmax(dim=1) over [N, C] scores, computed stably. */
export class LogSoftmax extends RowSoftmax {
  constructor(dim = 1) {
    super('LogSoftmax', ACTIVATIONS.logSoftmax, dim);
  }
}
