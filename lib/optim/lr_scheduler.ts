/**
 * Learning-rate schedulers, after torch.optim.lr_scheduler. Each step() advances one unit (an
 * iteration or an epoch, as the caller decides) and sets optimizer.lr from the closed form, so a
 * scheduler restored at step k gives the same rates as one that ran k steps.
 *
 * The chapter's LRScheduler.step_lrs(0.01, 0.9, 500) is StepLR(opt, {stepSize: 500, gamma: 0.9})
 * stepped every iteration.
 */
import type { Optimizer } from './optimizer';
import { expectInt, expectNumber, expectOneOf } from '../validate';

export abstract class LRScheduler {
  readonly optimizer: Optimizer;
  /** Steps taken so far (torch's last_epoch). */
  lastStep = 0;

  /** Subclasses call start() at the end of their constructors, once rateAt() can run. */
  constructor(optimizer: Optimizer) {
    this.optimizer = optimizer;
  }

  protected start(): void {
    this.optimizer.lr = this.rateAt(0);
  }

  /** The learning rate after `step` scheduler steps. */
  abstract rateAt(step: number): number;

  step(): void {
    this.lastStep++;
    this.optimizer.lr = this.rateAt(this.lastStep);
  }

  getLastLr(): number {
    return this.optimizer.lr;
  }

  stateDict(): { type: string; lastStep: number } {
    return { type: this.constructor.name, lastStep: this.lastStep };
  }

  loadStateDict(state: { type: string; lastStep: number }): void {
    if (state.type !== this.constructor.name) {
      throw new TypeError(`Expected a ${this.constructor.name} state for loadStateDict but received a ${state.type} state`);
    }
    this.lastStep = state.lastStep;
    this.optimizer.lr = this.rateAt(this.lastStep);
  }
}

/** lr = initial · gamma^⌊step / stepSize⌋ (torch.optim.lr_scheduler.StepLR). */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: Optimizer, options: { stepSize: number; gamma?: number }) {
    super(optimizer);
    this.stepSize = expectInt(options?.stepSize, 'stepSize', 1);
    this.gamma = expectNumber(options.gamma ?? 0.1, 'gamma', 0);
    this.start();
  }

  rateAt(step: number): number {
    return this.optimizer.initialLr * this.gamma ** Math.floor(step / this.stepSize);
  }
}

/** Cosine from the initial rate to etaMin over tMax steps (torch's CosineAnnealingLR, closed form). */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: Optimizer, options: { tMax: number; etaMin?: number }) {
    super(optimizer);
    this.tMax = expectInt(options?.tMax, 'tMax', 1);
    this.etaMin = expectNumber(options.etaMin ?? 0, 'etaMin', 0);
    this.start();
  }

  rateAt(step: number): number {
    const base = this.optimizer.initialLr;
    return this.etaMin + ((base - this.etaMin) * (1 + Math.cos((Math.PI * step) / this.tMax))) / 2;
  }
}

/**
 * One-cycle (torch's OneCycleLR with cosine annealing, three-phase false): from maxLr/divFactor up
 * to maxLr over pctStart of totalSteps, then down to maxLr/(divFactor·finalDivFactor).
 */
export class OneCycleLR extends LRScheduler {
  readonly maxLr: number;
  readonly totalSteps: number;
  readonly pctStart: number;
  readonly divFactor: number;
  readonly finalDivFactor: number;

  constructor(
    optimizer: Optimizer,
    options: { maxLr: number; totalSteps: number; pctStart?: number; divFactor?: number; finalDivFactor?: number; annealStrategy?: 'cos' },
  ) {
    super(optimizer);
    this.maxLr = expectNumber(options?.maxLr, 'maxLr', 0);
    this.totalSteps = expectInt(options.totalSteps, 'totalSteps', 2);
    this.pctStart = expectNumber(options.pctStart ?? 0.3, 'pctStart', 0, 1);
    this.divFactor = expectNumber(options.divFactor ?? 25, 'divFactor', 1);
    this.finalDivFactor = expectNumber(options.finalDivFactor ?? 1e4, 'finalDivFactor', 1);
    expectOneOf(options.annealStrategy ?? 'cos', 'annealStrategy', ['cos'] as const);
    this.start();
  }

  rateAt(step: number): number {
    const initial = this.maxLr / this.divFactor;
    const final = initial / this.finalDivFactor;
    const peakStep = this.pctStart * this.totalSteps - 1;
    const lastStep = this.totalSteps - 1;
    const cos = (from: number, to: number, pct: number) => to + ((from - to) / 2) * (1 + Math.cos(Math.PI * pct));
    if (step <= peakStep) return cos(initial, this.maxLr, step / peakStep);
    return cos(this.maxLr, final, Math.min(1, (step - peakStep) / (lastStep - peakStep)));
  }
}
