/** SGD with momentum, after torch.optim.SGD. Kernel: native/kernels/optim. */
import type { Parameter } from '../nn/module';
import { sgdStep } from '../ops/optim';
import { expectBoolean, expectNumber } from '../validate';
import { Optimizer } from './optimizer';

/** Options of SGD, as torch.optim.SGD's: lr (default 1e-3), momentum, dampening, weightDecay (default 0), nesterov (default false). */
export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weightDecay?: number;
  nesterov?: boolean;
}

/** torch.optim.SGD: stochastic gradient descent with optional momentum, dampening, Nesterov momentum and weight decay. */
export class SGD extends Optimizer {
  readonly momentum: number;
  readonly dampening: number;
  readonly weightDecay: number;
  readonly nesterov: boolean;

  constructor(params: Iterable<Parameter>, options: SGDOptions = {}) {
    super(params, options.lr ?? 1e-3);
    this.momentum = expectNumber(options.momentum ?? 0, 'momentum', 0);
    this.dampening = expectNumber(options.dampening ?? 0, 'dampening', 0);
    this.weightDecay = expectNumber(options.weightDecay ?? 0, 'weightDecay', 0);
    this.nesterov = expectBoolean(options.nesterov ?? false, 'nesterov');
    if (this.nesterov && (this.momentum <= 0 || this.dampening !== 0)) {
      throw new RangeError('Expected momentum > 0 and dampening 0 for nesterov but received momentum ' + this.momentum + ', dampening ' + this.dampening);
    }
  }

  /** Updates every parameter from its gradient (one native call per device); parameters without a gradient are skipped. */
  step(): void {
    const firstStep = this.steps === 0;
    this.steps++;
    for (const p of this.params) {
      sgdStep(p, p.grad, this.momentum > 0 ? this.buffer(p, 'momentumBuffer') : null, {
        lr: this.lr,
        momentum: this.momentum,
        dampening: this.dampening,
        weightDecay: this.weightDecay,
        nesterov: this.nesterov,
        firstStep,
      });
    }
  }
}
