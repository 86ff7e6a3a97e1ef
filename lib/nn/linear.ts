/**
 * Linear, after torch.nn.Linear: y = x·Wᵀ + b for x [..., in]. Op: lib/ops/linear.ts; recorded
 * forward: F.linear (nn/functional.ts), over the same kernels.
 */
import { isExplicitMode } from '../autograd/grad_mode';
import { linear, linearBackward } from '../ops/linear';
import type { Generator } from '../random';
import type { Tensor } from '../tensor';
import { expectInt } from '../validate';
import * as F from './functional';
import { type LayerConfig, Module, type Parameter } from './module';

/** torch.nn.Linear(inFeatures, outFeatures): y = x·Wᵀ + b for x [..., inFeatures], weight [outFeatures, inFeatures], bias [outFeatures], initialised as PyTorch's. */
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
    // A batch of rows [N, in] is the common case: it needs no views.
    const isRows = x.shape.length === 2 && x.shape[1] === this.inFeatures;
    const shape = isRows ? null : this.outputShape(x.shape);
    if (!isExplicitMode()) return this.recordedForward(F.linear(x, this.weight, this.bias));
    // Explicit style: rows [N, in] (leading dimensions merged), output in the reused buffer.
    const rows = isRows ? x : x.viewAs([x.size / this.inFeatures, this.inFeatures]);
    this.input = rows;
    this.savedForBackward();
    const y = linear(rows, this.weight, this.bias, this.workspace.get('y', [rows.shape[0], this.outFeatures], x.device));
    return shape === null ? y : y.viewAs(shape);
  }

  override backward(dy: Tensor): Tensor | null {
    const x = this.saved(this.input, 'input');
    const dx = linearBackward(dy.viewAs([x.shape[0], this.outFeatures]), x, this.weight, this.weightGradients(x, this.weight, this.bias)).dx;
    this.consumedByBackward();
    return dx && dx.viewAs([...dy.shape.slice(0, -1), this.inFeatures]);
  }

  override outputShape(input: readonly number[]): number[] {
    if (input.length < 1 || input[input.length - 1] !== this.inFeatures) {
      throw new RangeError(`Expected input of shape [..., ${this.inFeatures}] for Linear but received [${input.join(', ')}]`);
    }
    return [...input.slice(0, -1), this.outFeatures];
  }

  override config(): LayerConfig {
    return { type: 'Linear', inFeatures: this.inFeatures, outFeatures: this.outFeatures, bias: this.bias !== null };
  }

  override toString(): string {
    return `Linear(in_features=${this.inFeatures}, out_features=${this.outFeatures}, bias=${this.bias ? 'True' : 'False'})`;
  }
}
