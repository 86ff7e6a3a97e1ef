/** Flatten, after torch.nn.Flatten (start_dim 1): [N, ...] → [N, product]. A view, no copy. */
import { isExplicitMode } from '../autograd/grad_mode';
import { reshape } from '../autograd/functional';
import type { Tensor } from '../tensor';
import { type LayerConfig, Module } from './module';

/** torch.nn.Flatten(): [N, ...] → [N, product of the rest]; a view, no copy. */
export class Flatten extends Module {
  private inputShape: readonly number[] | undefined;
  /** The last output shape, for the input shape it was computed from (shapes are frozen: the same array is the same shape). */
  private flattened: { from: readonly number[]; to: number[] } | undefined;

  forward(x: Tensor): Tensor {
    if (this.flattened?.from !== x.shape) this.flattened = { from: x.shape, to: this.outputShape(x.shape) };
    const shape = this.flattened.to;
    if (!isExplicitMode()) return this.recordedForward(reshape(x, shape));
    this.inputShape = x.shape;
    this.savedForBackward();
    return this.workspace.view('y', x, shape);
  }

  override backward(dy: Tensor): Tensor | null {
    const shape = this.saved(this.inputShape, 'input shape');
    this.consumedByBackward();
    return this.inputGrad ? dy.viewAs(shape) : null;
  }

  override outputShape(input: readonly number[]): number[] {
    if (input.length < 1) throw new RangeError('Expected an input with a batch dimension for Flatten but received a scalar shape');
    return [input[0], input.slice(1).reduce((a, b) => a * b, 1)];
  }

  override config(): LayerConfig {
    return { type: 'Flatten' };
  }

  override toString(): string {
    return 'Flatten(start_dim=1, end_dim=-1)';
  }
}
