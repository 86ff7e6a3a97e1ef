/** Activation layers, after torch.nn (ReLU; more in the layers issue). Ops: lib/ops/activation.ts. */
import { relu, reluBackward } from '../ops/activation';
import type { Tensor } from '../tensor';
import { type LayerConfig, Module } from './module';

export class ReLU extends Module {
  private output: Tensor | undefined;

  forward(x: Tensor): Tensor {
    this.output = relu(x, this.workspace.get('y', x.shape, x.device));
    return this.output;
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const y = this.saved(this.output, 'output');
    return reluBackward(dy, y, this.workspace.get('dx', y.shape, y.device));
  }

  outputShape(input: readonly number[]): number[] {
    return [...input];
  }

  config(): LayerConfig {
    return { type: 'ReLU' };
  }

  override toString(): string {
    return 'ReLU()';
  }
}
