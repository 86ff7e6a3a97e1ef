/**
 * The records and hooks of a training run, shared by the layers that fit() (lib/train/fit.ts) sits
 * on: io/checkpoint.ts saves EpochRecord and FitPosition, data/augment.ts returns Callbacks. They
 * live here, below all three (and above nn/, whose Module the callbacks receive), so no lower
 * layer imports from train/.
 */
import type { Module } from './nn/module';
import type { GeneratorSnapshot } from './random';

/** What fit() records after each epoch: losses, metrics, learning rate and time. */
export interface EpochRecord {
  epoch: number;
  /** Iterations completed at the end of this epoch (all epochs so far). */
  iteration: number;
  /** The mean loss over the epoch's training batches (as the weights were at each step). */
  trainLoss: number;
  /** The mean loss on the validation data after the epoch (when fit() has validation data). */
  valLoss?: number;
  /** Each metric on the epoch's training batches, by name ('accuracy', 'mae', 'mse', a function's name). */
  trainMetrics?: Record<string, number>;
  /** Each metric on the validation data. */
  valMetrics?: Record<string, number>;
  /** trainMetrics.accuracy, when accuracy is measured (the chapter's figures read it). */
  trainAccuracy?: number;
  /** valMetrics.accuracy, when accuracy is measured on validation data. */
  valAccuracy?: number;
  /** Wall-clock seconds of the training part of this epoch (validation excluded). */
  seconds: number;
  /**
   * The learning rate at the end of the epoch's steps: with a scheduler stepped per epoch, the rate
   * this epoch trained with; per step, the rate after the last step.
   */
  lr: number;
}

/** The records of the epochs trained so far (fit()'s result extends it). */
export interface History {
  epochs: EpochRecord[];
}

/**
 * A number of an epoch's record, by name: 'trainLoss', 'valLoss', or a metric as 'train.mae' /
 * 'val.accuracy' ('trainAccuracy' and 'valAccuracy' also work). Undefined when the record has none
 * (no validation data, a metric not measured).
 */
export function recordValue(record: EpochRecord, name: string): number | undefined {
  if (name === 'trainLoss' || name === 'valLoss' || name === 'trainAccuracy' || name === 'valAccuracy') return record[name];
  const dot = name.indexOf('.');
  const side = name.slice(0, dot);
  if (dot > 0 && (side === 'train' || side === 'val')) return (side === 'train' ? record.trainMetrics : record.valMetrics)?.[name.slice(dot + 1)];
  return undefined;
}

/** Where a training step was: its epoch (from 0), the iteration count after it, and its batch size. */
export interface StepInfo {
  epoch: number;
  iteration: number;
  batchSize: number;
}

/** What a callback sees of the run when training begins. */
export interface TrainingContext {
  model: Module;
  /** The epoch training stops before (fit's epochs). */
  epochs: number;
  /** The history fit() extends (a resumed run's earlier epochs included). */
  history: History;
}

/** Hooks fit() calls; each may be async. (Built-in ones: EarlyStopping, ModelCheckpoint in lib/train/callbacks.ts.) */
export interface Callbacks {
  /** Before the first epoch (also of a resumed run). */
  onTrainBegin?(context: TrainingContext): void | Promise<void>;
  /** Before each epoch (`epoch` counts from 0). */
  onEpochBegin?(epoch: number): void | Promise<void>;
  /** After each training step. */
  onBatchEnd?(info: StepInfo): void | Promise<void>;
  /** Return false to stop training after this epoch. */
  onEpochEnd?(record: EpochRecord, history: History): void | boolean | Promise<void | boolean>;
  /** After the last epoch, or when a callback or shouldStop() ended training (not after an error). */
  onTrainEnd?(history: History): void | Promise<void>;
}

/** Where a run stands inside an epoch (a stopped fit() returns it; resume continues from it). */
export interface FitPosition {
  /** The epoch in progress. */
  epoch: number;
  /** Steps of this epoch already taken. */
  step: number;
  /** Iterations completed over all epochs. */
  iteration: number;
  /**
   * The generator's state when this epoch began: before the onEpochBegin callbacks (which may draw
   * from it, as a per-epoch augmentation does) and the shuffle, so a resume redraws both exactly.
   */
  generatorState: GeneratorSnapshot;
  /**
   * The generator's state when training stopped: after the draws the steps taken made (Dropout's
   * mask seeds). A resume restores it once the steps already taken are skipped. Absent in older
   * checkpoints (a model without such draws: the state after the shuffle, which the skip reaches).
   */
  stoppedGeneratorState?: GeneratorSnapshot;
  /**
   * This epoch's running sums (float32 values): [loss, the loss's second statistic (correct
   * predictions for the cross-entropy)], and samples seen so far.
   */
  stats: [number, number];
  /** The running sums of the metrics not read from the loss's statistics, in fit's metric order. */
  metricSums?: number[];
  seen: number;
  /** Training seconds spent in this epoch so far. */
  seconds: number;
}
