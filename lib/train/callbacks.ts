/**
 * Built-in fit() callbacks, after Keras's: EarlyStopping (stop when a monitored figure stops
 * improving, optionally restoring the best epoch's weights) and ModelCheckpoint (save the model
 * after every epoch, or only when the figure improves, written so that a crash never leaves a
 * partial model, and never from a model whose loss or weights are not finite). In data-parallel
 * training (fit's distributed option) every rank runs them alike, and ModelCheckpoint writes on
 * rank 0 only.
 *
 * The monitored figure is a number of the epoch record (fit_types.ts recordValue): 'valLoss' (the
 * default), 'trainLoss', or a metric as 'val.accuracy', 'train.mae'. mode 'auto' maximises names
 * that contain 'accuracy' and minimises the rest. Test: test/fit_callbacks.test.ts.
 */
import { type Callbacks, type EpochRecord, type History, recordValue, type TrainingContext } from '../fit_types';
import type { Module } from '../nn/module';
import type { LRScheduler } from '../optim/lr_scheduler';
import type { Optimizer } from '../optim/optimizer';
import type { Generator } from '../random';
import { saveCheckpoint } from '../io/checkpoint';
import { saveModel } from '../io/model_io';
import { isMainProcess } from '../distributed';
import { expectBoolean, expectInt, expectNumber, expectOneOf, fail } from '../validate';

type Mode = 'min' | 'max' | 'auto';

/** Whether a monitored figure improves on the best so far by more than minDelta (NaN never does). */
class Improvement {
  readonly monitor: string;
  readonly sign: 1 | -1;
  readonly minDelta: number;
  best: number;
  bestEpoch = -1;

  constructor(monitor: unknown, mode: unknown, minDelta: unknown) {
    if (typeof monitor !== 'string' || monitor === '') fail("a figure of the epoch record ('valLoss', 'trainLoss', 'val.accuracy', …)", 'monitor', monitor);
    this.monitor = monitor;
    const m = expectOneOf(mode ?? 'auto', 'mode', ['min', 'max', 'auto'] as const) as Mode;
    this.sign = m === 'max' || (m === 'auto' && monitor.toLowerCase().includes('accuracy')) ? 1 : -1;
    this.minDelta = expectNumber(minDelta ?? 0, 'minDelta', 0);
    this.best = -this.sign * Infinity;
  }

  reset(): void {
    this.best = -this.sign * Infinity;
    this.bestEpoch = -1;
  }

  /** The record's monitored value, or an error that says what the record holds. */
  value(record: EpochRecord, who: string): number {
    const value = recordValue(record, this.monitor);
    if (value === undefined) {
      const hint = this.monitor.startsWith('val') ? ': give fit() validation data, or monitor a training figure' : '';
      throw new Error(`${who} monitors '${this.monitor}', which the epoch record does not hold${hint}`);
    }
    return value;
  }

  /** Records `value` of `epoch` if it improves on the best; returns whether it did. */
  offer(value: number, epoch: number): boolean {
    if (!(this.sign * (value - this.best) > this.minDelta)) return false;
    this.best = value;
    this.bestEpoch = epoch;
    return true;
  }
}

/** Options of EarlyStopping (Keras's names): what to watch, how long to wait, and whether to restore the best weights. */
export interface EarlyStoppingOptions {
  /** The figure watched (default 'valLoss'). */
  monitor?: string;
  /** 'min', 'max' or 'auto' (default). */
  mode?: Mode;
  /** Epochs without improvement before stopping (default 0: the first one stops). */
  patience?: number;
  /** The smallest change that counts as an improvement (default 0). */
  minDelta?: number;
  /** When training ends, put back the weights (and buffers) of the best epoch (default false). */
  restoreBest?: boolean;
  /** Where it reports what it did (default: nothing). */
  log?: (line: string) => void;
}

/**
 * Stops fit() at an epoch that does not improve the monitored figure when the epochs since the
 * last improvement reach `patience` (Keras's EarlyStopping: patience 0 stops at the first epoch
 * without improvement, 2 at the second in a row; never after the first epoch). With restoreBest, the weights of the best epoch are
 * kept in host memory and loaded back when training ends. A resumed run replays the earlier epochs'
 * figures from the history to know its best and its patience (their weights are not kept).
 */
export class EarlyStopping implements Callbacks {
  readonly patience: number;
  readonly restoreBest: boolean;
  /** The epoch at which training was stopped, if it was. */
  stoppedEpoch: number | undefined;
  private readonly improvement: Improvement;
  private readonly log: ((line: string) => void) | undefined;
  private wait = 0;
  private model: Module | undefined;
  private bestWeights: Record<string, Float32Array> | undefined;

  constructor(options: EarlyStoppingOptions = {}) {
    this.improvement = new Improvement(options.monitor ?? 'valLoss', options.mode, options.minDelta);
    this.patience = expectInt(options.patience ?? 0, 'patience', 0);
    this.restoreBest = expectBoolean(options.restoreBest ?? false, 'restoreBest');
    this.log = options.log;
  }

  /** The best value seen and its epoch (-1 before any). */
  get best(): { value: number; epoch: number } {
    return { value: this.improvement.best, epoch: this.improvement.bestEpoch };
  }

  onTrainBegin({ model, history }: TrainingContext): void {
    this.model = model;
    this.improvement.reset();
    this.wait = 0;
    this.stoppedEpoch = undefined;
    this.bestWeights = undefined;
    for (const record of history.epochs) {
      const value = recordValue(record, this.improvement.monitor);
      if (value !== undefined) this.wait = this.improvement.offer(value, record.epoch) ? 0 : this.wait + 1;
    }
  }

  onEpochEnd(record: EpochRecord): boolean {
    const value = this.improvement.value(record, 'EarlyStopping');
    if (this.improvement.offer(value, record.epoch)) {
      this.wait = 0;
      if (this.restoreBest && this.model) this.bestWeights = snapshot(this.model);
      return true;
    }
    this.wait++;
    if (this.wait >= this.patience && record.epoch > 0) {
      this.stoppedEpoch = record.epoch;
      this.log?.(`early stopping after epoch ${record.epoch}: ${this.improvement.monitor} has not improved for ${this.wait} epoch${this.wait === 1 ? '' : 's'} (best ${this.improvement.best} in epoch ${this.improvement.bestEpoch})`);
      return false;
    }
    return true;
  }

  onTrainEnd(): void {
    if (!this.restoreBest || !this.bestWeights || !this.model) return;
    this.model.loadStateDict(this.bestWeights);
    this.log?.(`restored the weights of epoch ${this.improvement.bestEpoch} (${this.improvement.monitor} ${this.improvement.best})`);
  }
}

/** The model's parameters and persistent buffers copied to host memory, by state_dict name. */
function snapshot(model: Module): Record<string, Float32Array> {
  return Object.fromEntries(Object.entries(model.stateDict()).map(([name, t]) => [name, t.toArray() as Float32Array]));
}

/** Whether every value of `state` is finite, or the first name that is not. */
function firstNonFinite(state: Record<string, Float32Array>): string | undefined {
  for (const [name, values] of Object.entries(state)) {
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return name;
  }
  return undefined;
}

/** Options of ModelCheckpoint: when to save, what decides the best epoch, and whether to save a resumable checkpoint. */
export interface ModelCheckpointOptions {
  /** 'best' (default): save when the monitored figure improves; 'every': after every epoch. */
  save?: 'best' | 'every';
  /** The figure that decides 'best' (default 'valLoss'). */
  monitor?: string;
  mode?: Mode;
  minDelta?: number;
  /** Extra fields for model.json (e.g. the preprocessing that napinet.load applies). */
  extra?: Record<string, unknown>;
  /**
   * Save a resumable checkpoint (saveCheckpoint: weights, optimizer and scheduler state, generator,
   * history) into the folder instead of the model alone (saveModel).
   */
  training?: { optimizer: Optimizer; scheduler?: LRScheduler | null; generator: Generator; settings?: Record<string, unknown> };
  /** Where it reports each save (default: nothing). */
  log?: (line: string) => void;
}

/**
 * Saves the model after an epoch (Keras's ModelCheckpoint): into the folder `dir` ('{epoch}' in it
 * becomes the number of epochs completed, so every epoch can have its own folder). The model alone
 * is written by saveModel, whose two files are each replaced atomically (written to a temporary
 * file, flushed, renamed over the old one): a crash leaves the previous weights or the new ones,
 * never part of a file, and model.json (the architecture and `extra`) is the same every epoch.
 * With `training` it is a checkpoint folder written by saveCheckpoint (a whole folder renamed into
 * place, then a latest.json pointer).
 *
 * Never from a diverged model: an epoch whose loss, monitored figure or weights are not finite is
 * not saved (the last good model stays), and a message says so.
 */
export class ModelCheckpoint implements Callbacks {
  readonly dir: string;
  readonly save: 'best' | 'every';
  /** The folder last written. */
  last: string | undefined;
  private readonly improvement: Improvement;
  private readonly options: ModelCheckpointOptions;
  private model: Module | undefined;

  constructor(dir: string, options: ModelCheckpointOptions = {}) {
    if (typeof dir !== 'string' || dir === '') fail('a folder path', 'dir', dir);
    if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
    this.dir = dir;
    this.save = expectOneOf(options.save ?? 'best', 'save', ['best', 'every'] as const);
    this.improvement = new Improvement(options.monitor ?? 'valLoss', options.mode, options.minDelta);
    this.options = options;
  }

  onTrainBegin({ model, history }: TrainingContext): void {
    this.model = model;
    this.improvement.reset();
    // A resumed run keeps the best of its earlier epochs (a worse epoch must not replace that model).
    for (const record of history.epochs) {
      const value = recordValue(record, this.improvement.monitor);
      if (value !== undefined && Number.isFinite(value)) this.improvement.offer(value, record.epoch);
    }
  }

  onEpochEnd(record: EpochRecord, history: History): void {
    if (!this.model) throw new Error('ModelCheckpoint needs fit() to call onTrainBegin first (pass it in fit\'s callbacks)');
    const value = this.save === 'best' ? this.improvement.value(record, 'ModelCheckpoint') : recordValue(record, this.improvement.monitor);
    const notFinite = [['trainLoss', record.trainLoss], ['valLoss', record.valLoss], [this.improvement.monitor, value]].find(
      ([, v]) => v !== undefined && !Number.isFinite(v as number),
    );
    if (notFinite) {
      this.options.log?.(`ModelCheckpoint: epoch ${record.epoch} not saved: ${notFinite[0]} is ${notFinite[1]} (the last good model stays)`);
      return;
    }
    if (this.save === 'best' && !this.improvement.offer(value!, record.epoch)) return;
    if (!isMainProcess()) return; // the ranks hold the same model: rank 0 writes it
    const weights = snapshot(this.model);
    const bad = firstNonFinite(weights);
    if (bad !== undefined) {
      this.options.log?.(`ModelCheckpoint: epoch ${record.epoch} not saved: ${bad} holds values that are not finite (the last good model stays)`);
      return;
    }
    const dir = this.dir.replaceAll('{epoch}', String(record.epoch + 1));
    const training = this.options.training;
    if (training) {
      this.last = saveCheckpoint(dir, {
        model: this.model,
        optimizer: training.optimizer,
        scheduler: training.scheduler ?? null,
        generator: training.generator,
        epoch: record.epoch + 1,
        iteration: record.iteration,
        history: history.epochs,
        settings: training.settings,
        modelExtra: this.options.extra,
      });
    } else {
      saveModel(dir, this.model, this.options.extra ?? {});
      this.last = dir;
    }
    const why = this.save === 'best' ? ` (${this.improvement.monitor} ${value})` : '';
    this.options.log?.(`ModelCheckpoint: saved epoch ${record.epoch} into ${this.last}${why}`);
  }
}
