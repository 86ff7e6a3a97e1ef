/** Flatten, after torch.nn.Flatten (start_dim 1): [N, ...] → [N, product]. A view, no copy. */
import type { Tensor } from '../tensor';
import { type LayerConfig, Module } from './module';

export class Flatten extends Module {
  private inputShape: readonly number[] | undefined;

  forward(x: Tensor): Tensor {
    this.inputShape = x.shape;
    return x.reshape(this.outputShape(x.shape));
  }

  backward(dy: Tensor): Tensor | null {
    return this.inputGrad ? dy.reshape(this.saved(this.inputShape, 'input shape')) : null;
  }

  outputShape(input: readonly number[]): number[] {
    if (input.length < 1) throw new RangeError('Expected an input with a batch dimension for Flatten but received a scalar shape');
    return [input[0], input.slice(1).reduce((a, b) => a * b, 1)];
  }

  config(): LayerConfig {
    return { type: 'Flatten' };
  }

  override toString(): string {
    return 'Flatten(start_dim=1, end_dim=-1)';
  }
}
