/** Adam and AdamW, after torch.optim.Adam / AdamW (no amsgrad). Kernel: native/kernels/optim. */
import type { Parameter } from '../nn/module';
import { type AdamHyper, adamStepMany } from '../ops/optim';
import { expectNumber } from '../validate';
import { Optimizer } from './optimizer';

/** Options of Adam and AdamW, as torch.optim.Adam's: lr (default 1e-3), betas (0.9, 0.999), eps (1e-8), weightDecay (0; AdamW's default 0.01). */
export interface AdamOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weightDecay?: number;
}

/** torch.optim.Adam (without amsgrad): adaptive moments of the gradients, with PyTorch's defaults and bias corrections. */
export class Adam extends Optimizer {
  readonly betas: [number, number];
  readonly eps: number;
  readonly weightDecay: number;
  protected readonly decoupled: boolean = false;

  constructor(params: Iterable<Parameter>, options: AdamOptions = {}) {
    super(params, options.lr ?? 1e-3);
    const [b1, b2] = options.betas ?? [0.9, 0.999];
    this.betas = [expectNumber(b1, 'betas[0]', 0, 0.999999), expectNumber(b2, 'betas[1]', 0, 0.999999)];
    this.eps = expectNumber(options.eps ?? 1e-8, 'eps', 0);
    this.weightDecay = expectNumber(options.weightDecay ?? 0, 'weightDecay', 0);
    this.hyper = { lr: this.lr, beta1: this.betas[0], beta2: this.betas[1], eps: this.eps, weightDecay: this.weightDecay, step: 0, decoupled: false };
  }

  /** Updates every parameter from its gradient (one native call per device); parameters without a gradient are skipped. */
  step(): void {
    this.steps++;
    const h = this.hyper;
    h.lr = this.lr;
    h.step = this.steps;
    h.decoupled = this.decoupled; // AdamW's value is set after Adam's constructor has run
    for (const list of this.stepLists(ADAM_STATE)) adamStepMany(list.values, list.grads, list.state[0], list.state[1], h);
  }

  /** The hyper-parameters handed to each step (one object, updated in place). */
  private readonly hyper: AdamHyper;
}

/** Adam's state tensors per parameter, in the order adamStepMany takes them. */
const ADAM_STATE = ['expAvg', 'expAvgSq'] as const;

/** AdamW: weight decay applied to the parameters directly (decoupled), default 0.01 as torch. */
export class AdamW extends Adam {
  protected override readonly decoupled: boolean = true;

  constructor(params: Iterable<Parameter>, options: AdamOptions = {}) {
    super(params, { weightDecay: 0.01, ...options });
  }
}
