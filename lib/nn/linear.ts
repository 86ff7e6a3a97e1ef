/** Linear, after torch.nn.Linear: y = x·Wᵀ + b. Op: lib/ops/linear.ts. */
import { linear, linearBackward } from '../ops/linear';
import type { Generator } from '../random';
import type { Tensor } from '../tensor';
import { expectInt } from '../validate';
import { type LayerConfig, Module, type Parameter } from './module';

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private input: Tensor | undefined;

  constructor(inFeatures: number, outFeatures: number, options: { bias?: boolean; generator?: Generator } = {}) {
    super();
    this.inFeatures = expectInt(inFeatures, 'inFeatures', 1);
    this.outFeatures = expectInt(outFeatures, 'outFeatures', 1);
    const { weight, bias } = this.addWeightAndBias([outFeatures, inFeatures], options);
    this.weight = weight;
    this.bias = bias;
  }

  forward(x: Tensor): Tensor {
    this.input = x;
    const y = this.workspace.get('y', this.outputShape(x.shape), x.device);
    return linear(x, this.weight.value, this.bias?.value ?? null, y);
  }

  backward(dy: Tensor): Tensor | null {
    const x = this.saved(this.input, 'input');
    return linearBackward(dy, x, this.weight.value, this.weightGradients(x, this.weight, this.bias)).dx;
  }

  outputShape(input: readonly number[]): number[] {
    if (input.length !== 2 || input[1] !== this.inFeatures) {
      throw new RangeError(`Expected input of shape [N, ${this.inFeatures}] for Linear but received [${input.join(', ')}]`);
    }
    return [input[0], this.outFeatures];
  }

  config(): LayerConfig {
    return { type: 'Linear', inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias !== null };
  }

  override toString(): string {
    return `Linear(in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'})`;
  }
}
