/**
 * The records and hooks of a training run, shared by the layers that fit() (lib/train/fit.ts) sits
 * on: io/checkpoint.ts saves EpochRecord and FitPosition, data/augment.ts returns Callbacks. They
 * live here, below all three, so no lower layer imports from train/.
 */
import type { GeneratorSnapshot } from './random';

export interface EpochRecord {
  epoch: number;
  /** Iterations completed at the end of this epoch (all epochs so far). */
  iteration: number;
  trainLoss: number;
  trainAccuracy: number;
  valLoss?: number;
  valAccuracy?: number;
  /** Wall-clock seconds of the training part of this epoch (validation excluded). */
  seconds: number;
  lr: number;
}

export interface History {
  epochs: EpochRecord[];
}

export interface StepInfo {
  epoch: number;
  iteration: number;
  batchSize: number;
}

export interface Callbacks {
  onEpochBegin?(epoch: number): void | Promise<void>;
  onBatchEnd?(info: StepInfo): void | Promise<void>;
  /** Return false to stop training after this epoch. */
  onEpochEnd?(record: EpochRecord, history: History): void | boolean | Promise<void | boolean>;
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
  /** This epoch's running [loss sum, correct count] (float32 values) and samples seen so far. */
  stats: [number, number];
  seen: number;
  /** Training seconds spent in this epoch so far. */
  seconds: number;
}
