/**
 * Learning-rate schedulers, after torch.optim.lr_scheduler. Each step() advances one unit (an
 * epoch under fit() by default, as PyTorch's habit; an iteration with fit's schedulerInterval
 * 'step') and sets optimizer.lr from the closed form, so a scheduler restored at step k gives the
 * same rates as one that ran k steps. ReduceLROnPlateau has no closed form: it follows a monitored
 * value (fit() passes it the value each epoch) and keeps its counters in its state.
 *
 * The chapter's LRScheduler.step_lrs(0.01, 0.9, 500) is StepLR(opt, {stepSize: 500, gamma: 0.9})
 * stepped every iteration. Test: test/lr_scheduler.test.ts (fixtures: scripts/fixtures/lr_scheduler.py).
 */
import type { Optimizer } from './optimizer';
import { expectInt, expectNumber, expectOneOf, fail } from '../validate';

/** A learning-rate schedule, after torch.optim.lr_scheduler: sets its optimizer's lr on every step(). fit() steps it once an epoch (or every step with schedulerInterval 'step'). */
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

  /** Advances one step and sets the optimizer's learning rate for the next. */
  step(): void {
    this.lastStep++;
    this.optimizer.lr = this.rateAt(this.lastStep);
  }

  /** The learning rate the optimizer has now (torch's get_last_lr()[0]). */
  getLastLr(): number {
    return this.optimizer.lr;
  }

  /** The schedule's position, for a checkpoint. */
  stateDict(): { type: string; lastStep: number } {
    return { type: this.constructor.name, lastStep: this.lastStep };
  }

  /** Restores stateDict()'s position (and the optimizer's rate there); refuses another scheduler's state. */
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

/** ReduceLROnPlateau's state (stateDict): the counters with the step, for checkpoints. */
export interface PlateauState {
  type: string;
  lastStep: number;
  lr: number;
  /** The best value so far (null before the first step, or when it was ±Infinity). */
  best: number | null;
  badEpochs: number;
  cooldownCounter: number;
}

/**
 * Lowers the learning rate by `factor` when a monitored value has stopped improving for
 * `patience` steps (torch.optim.lr_scheduler.ReduceLROnPlateau: mode, factor, patience,
 * threshold with thresholdMode 'rel' or 'abs', cooldown, minLr, eps). step(value) takes the value,
 * once an epoch: fit() passes the record's `monitor` ('valLoss' by default; 'trainLoss' or a
 * metric as 'val.mae' / 'train.accuracy'). A NaN value never counts as an improvement.
 */
export class ReduceLROnPlateau extends LRScheduler {
  readonly mode: 'min' | 'max';
  readonly factor: number;
  readonly patience: number;
  readonly threshold: number;
  readonly thresholdMode: 'rel' | 'abs';
  readonly cooldown: number;
  readonly minLr: number;
  readonly eps: number;
  /** What fit() passes to step(): a number of the epoch record (see the class comment). */
  readonly monitor: string;
  best: number;
  /** Steps since the last improvement (torch's num_bad_epochs). */
  badEpochs = 0;
  cooldownCounter = 0;

  constructor(
    optimizer: Optimizer,
    options: {
      mode?: 'min' | 'max';
      factor?: number;
      patience?: number;
      threshold?: number;
      thresholdMode?: 'rel' | 'abs';
      cooldown?: number;
      minLr?: number;
      eps?: number;
      monitor?: string;
    } = {},
  ) {
    super(optimizer);
    this.mode = expectOneOf(options.mode ?? 'min', 'mode', ['min', 'max'] as const);
    this.factor = expectNumber(options.factor ?? 0.1, 'factor', 0, 1);
    if (this.factor >= 1) fail('a factor < 1', 'factor', this.factor, RangeError);
    this.patience = expectInt(options.patience ?? 10, 'patience', 0);
    this.threshold = expectNumber(options.threshold ?? 1e-4, 'threshold', 0);
    this.thresholdMode = expectOneOf(options.thresholdMode ?? 'rel', 'thresholdMode', ['rel', 'abs'] as const);
    this.cooldown = expectInt(options.cooldown ?? 0, 'cooldown', 0);
    this.minLr = expectNumber(options.minLr ?? 0, 'minLr', 0);
    this.eps = expectNumber(options.eps ?? 1e-8, 'eps', 0);
    if (options.monitor !== undefined && typeof options.monitor !== 'string') fail('a string', 'monitor', options.monitor);
    this.monitor = options.monitor ?? 'valLoss';
    this.best = this.worst();
  }

  /** No closed form: the rate is whatever the plateaus so far made it. */
  rateAt(_step: number): number {
    return this.optimizer.lr;
  }

  /** One step with the monitored value (an epoch's validation loss, say). */
  override step(value?: number): void {
    if (typeof value !== 'number') fail('a number (the monitored value)', 'ReduceLROnPlateau.step(value)', value);
    this.lastStep++;
    if (this.isBetter(value, this.best)) {
      this.best = value;
      this.badEpochs = 0;
    } else {
      this.badEpochs++;
    }
    if (this.cooldownCounter > 0) {
      this.cooldownCounter--;
      this.badEpochs = 0; // no bad epochs counted while cooling down
    }
    if (this.badEpochs > this.patience) {
      const reduced = Math.max(this.optimizer.lr * this.factor, this.minLr);
      if (this.optimizer.lr - reduced > this.eps) this.optimizer.lr = reduced;
      this.cooldownCounter = this.cooldown;
      this.badEpochs = 0;
    }
  }

  /** Whether `value` improves on `best` by more than the threshold (NaN never does). */
  isBetter(value: number, best: number): boolean {
    const t = this.threshold;
    if (this.mode === 'min') return this.thresholdMode === 'rel' ? value < best * (1 - t) : value < best - t;
    return this.thresholdMode === 'rel' ? value > best * (1 + t) : value > best + t;
  }

  private worst(): number {
    return this.mode === 'min' ? Infinity : -Infinity;
  }

  override stateDict(): PlateauState {
    return {
      ...super.stateDict(),
      lr: this.optimizer.lr,
      best: Number.isFinite(this.best) ? this.best : null,
      badEpochs: this.badEpochs,
      cooldownCounter: this.cooldownCounter,
    };
  }

  override loadStateDict(state: { type: string; lastStep: number } & Partial<PlateauState>): void {
    super.loadStateDict(state);
    if (typeof state.lr !== 'number' || !Number.isInteger(state.badEpochs) || !Number.isInteger(state.cooldownCounter)) {
      fail('a ReduceLROnPlateau state with lr, best, badEpochs and cooldownCounter', 'state', state);
    }
    this.optimizer.lr = state.lr;
    this.best = typeof state.best === 'number' ? state.best : this.worst();
    this.badEpochs = state.badEpochs!;
    this.cooldownCounter = state.cooldownCounter!;
  }
}
