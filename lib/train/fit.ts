/**
 * The training loop: fit() trains a model on data for some epochs, validating after each, and
 * returns the history (Keras's fit, on PyTorch's objects: any nn.Module, loss, optimizer, scheduler).
 *
 * One step: batch in → forward → loss → backward → optimizer step (→ scheduler step, with
 * schedulerInterval 'step'). The loss and the metrics are summed on the model's device
 * (train/measures.ts) and read at the end of the epoch (and every 50 steps while a progress bar shows
 * them). A TensorDataset (an ImageDataset, or a DataLoader over one) is uploaded to the device once
 * per fit and each batch gathered there, so a GPU step has no host round trip at all.
 *
 * Two ways to differentiate: a model built of napinet's layers throughout (Sequential of built-in
 * layers, model.hasExplicitBackward) with a napinet loss trains in explicit(): the chapter's
 * forward/backward pairs writing into reused buffers, no allocation in a step (and CUDA graphs
 * possible); any other model, or a loss given as a function, is differentiated by autograd inside
 * tidy(), which returns the step's intermediates to the memory pool.
 *
 * A loss that is not finite stops training with a NonFiniteLossError (onNonFiniteLoss 'stop', the
 * default) before the epoch's callbacks run, so no checkpoint is written from a diverged model. It
 * is noticed where the loss is read anyway: after every step on the CPU (the sums live in host
 * memory: reading them costs nothing), at every progress-bar update and at the end of each epoch on
 * a GPU (a read there waits for the queued steps, so a per-step check would cost the GPU its lead),
 * and in the validation loss. 'continue' trains on and records the NaN.
 *
 * Data-parallel training on the CPU: every kernel of a step splits the batch into chunks whose
 * boundaries depend only on the shapes, `workers` threads process the chunks at once, and the
 * weight and bias gradients are the per-chunk partial sums added in chunk order; then one optimizer
 * update. So the gradient is the whole batch's, and any number of workers gives bit-identical
 * weights (test/data_parallel.test.ts).
 *
 * Data-parallel training across processes (the distributed option, under mpirun): each rank its
 * shard of every epoch, gradients averaged over the ranks between backward and the optimizer step,
 * the epoch's figures summed over the ranks (train/data_parallel.ts, docs/DISTRIBUTED.md).
 *
 * fit() in stages: fitSettings checks the options; then each epoch is trainEpoch (its steps, run by
 * StepPasses, which records and replays a CUDA graph when asked; the steps a resumed epoch had
 * taken skipped; showProgress; the position where shouldStop() ends it) and finishEpoch (the sums
 * read and checked, validation, the scheduler, the history, the epoch line and the end-of-epoch
 * callbacks). Tests: test/fit.test.ts, test/fit_callbacks.test.ts, test/checkpoint.test.ts.
 */
import { explicit } from '../autograd/grad_mode';
import { type CudaGraph, captureCudaGraph } from '../cuda_graph';
import { isCuda } from '../device';
import type { Batch } from '../data/dataset';
import { DataLoader, IterableDataset } from '../data/dataloader';
import { CrossEntropyLoss, type LossFunction } from '../nn/loss';
import type { Module } from '../nn/module';
import { type LRScheduler, ReduceLROnPlateau } from '../optim/lr_scheduler';
import type { Optimizer } from '../optim/optimizer';
import { defaultGenerator, type Generator } from '../random';
import { tidy } from '../memory';
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, expectInt, expectOneOf, fail } from '../validate';
import { type ProgressSink, progressFor, type TextStream } from './progress';
import { type Callbacks, type EpochRecord, type FitPosition, type History, recordValue } from '../fit_types';
import { type BatchSource, batchSource, type FitData, isBatchStream } from './data_source';
import { defaultMetrics, expectLoss, isLossObject, type LossSpec, Measures, type MetricSpec } from './measures';
import { evaluateSource } from './evaluate';
import { DataParallel, type DistributedFitOptions } from './data_parallel';

export type { Callbacks, EpochRecord, FitPosition, History, StepInfo, TrainingContext } from '../fit_types';

/** Options of fit(): the optimizer and epochs are required; everything else has PyTorch's or Keras's default. */
export interface FitOptions {
  optimizer: Optimizer;
  epochs: number;
  /** Samples per batch when `data` is a dataset (default 32); a DataLoader or a stream of batches brings its own. */
  batchSize?: number;
  /**
   * A napinet loss (nn.CrossEntropyLoss, the default; nn.MSELoss; nn.BCEWithLogitsLoss) or a
   * function (output, target) → the batch's mean loss as a one-element tensor, differentiated by
   * autograd.
   */
  loss?: LossSpec;
  /**
   * What to measure besides the loss, on the training batches and the validation data:
   * 'accuracy' (class labels), 'mae', 'mse' (regression) or functions (output, target) → the
   * batch's mean. Default: ['accuracy'] with a cross-entropy loss, else none.
   */
  metrics?: MetricSpec[];
  scheduler?: LRScheduler;
  /**
   * When the scheduler steps: after every epoch ('epoch', the default, as PyTorch users do) or
   * after every optimizer step ('step'). ReduceLROnPlateau steps per epoch with its monitored value.
   */
  schedulerInterval?: 'epoch' | 'step';
  /** Measured after every epoch (any form `data` takes). */
  validation?: FitData;
  /** Samples per validation batch for a dataset (default max(batchSize, 256)). */
  validationBatchSize?: number;
  /** Shuffle a dataset every epoch (default true; a DataLoader has its own setting). */
  shuffle?: boolean;
  /** Skip a dataset's last batch when it is smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Draws the shuffle (and whatever callbacks draw); default defaultGenerator. */
  generator?: Generator;
  callbacks?: Callbacks[];
  /** Receives the per-epoch lines (default: none). */
  log?: (line: string) => void;
  /** A progress bar on this stream when it is a terminal ('auto'), always ('bar') or never. */
  progress?: 'auto' | 'bar' | 'none';
  progressStream?: TextStream;
  /** Epoch to start from (resuming); the history given is extended. */
  initialEpoch?: number;
  history?: History;
  /** Called between iterations; when it returns true, fit() returns after the current step. */
  shouldStop?: () => boolean;
  /**
   * CPU threads that share each batch (data-parallel workers) while fit() runs; the previous count
   * is restored afterwards. Default: the current setting (every core unless setNumThreads changed
   * it). The result does not depend on it.
   */
  workers?: number;
  /**
   * On a GPU: record the step's zeroGrad, forward, loss and backward once an epoch as a CUDA graph
   * (after one ordinary step, which creates the workspaces) and replay it for the epoch's other
   * full-size batches: one launch instead of one per kernel. The batch gather, the optimizer step
   * and a smaller last batch run as usual, and the results are those of ordinary steps. Needs a
   * model whose step does no per-step work on the host (`model.capturable`; Dropout is not), a
   * napinet loss, and metrics that come from the loss (accuracy with the cross-entropy). Default false.
   */
  cudaGraph?: boolean;
  /**
   * Continue an epoch interrupted part-way (the `position` a stopped fit() returned, saved in a
   * checkpoint): its generator state is restored, the epoch-begin callbacks run and the shuffle is
   * redrawn, the steps already taken skipped (then the generator set to its state at the stop, so
   * draws inside steps such as Dropout's continue their stream) and the running sums carried on,
   * so the run goes on exactly as if it had never stopped. Overrides initialEpoch.
   */
  resume?: FitPosition;
  /** A training or validation loss that is NaN or ±Infinity: throw a NonFiniteLossError ('stop', default) or train on ('continue'). */
  onNonFiniteLoss?: 'stop' | 'continue';
  /**
   * Data-parallel training across the ranks of napinet.distributed (init() first, the same fit() on
   * every rank): rank 0's model and generator state broadcast at the start, each rank its shard of
   * every epoch in batches of batchSize / worldSize (batchSize stays the global batch), gradients
   * averaged over the ranks after backward, the epoch's figures those of the global batches,
   * BatchNorm's running statistics rank 0's, the epoch line from rank 0 only (train/data_parallel.ts).
   * Default false.
   */
  distributed?: boolean | DistributedFitOptions;
}

const FIT_OPTIONS: readonly (keyof FitOptions)[] = [
  'optimizer', 'epochs', 'batchSize', 'loss', 'metrics', 'scheduler', 'schedulerInterval', 'validation', 'validationBatchSize',
  'shuffle', 'dropLast', 'generator', 'callbacks', 'log', 'progress', 'progressStream', 'initialEpoch', 'history', 'shouldStop',
  'workers', 'cudaGraph', 'resume', 'onNonFiniteLoss', 'distributed',
];

/** What fit() returns: the history of every epoch, and whether a callback or shouldStop() stopped training early. */
export interface FitResult extends History {
  stopped: boolean;
  /** Where training stopped when shouldStop() ended it part-way through an epoch. */
  position?: FitPosition;
}

/** Training stopped because the loss became NaN or infinite (fit's onNonFiniteLoss 'stop'). */
export class NonFiniteLossError extends Error {
  /** Which loss: 'training loss' or 'validation loss'. */
  readonly what: string;
  /** Its value: NaN, Infinity or -Infinity. */
  readonly value: number;
  /** The epoch in which it happened. */
  readonly epoch: number;
  /** The step of that epoch by which it had happened, when known (the CPU checks every step). */
  readonly step: number | undefined;
  /** The epochs completed before it. */
  readonly history: History;

  constructor(what: string, value: number, epoch: number, step: number | undefined, history: History) {
    const where = step === undefined ? `in epoch ${epoch}` : `in epoch ${epoch} by step ${step}`;
    super(
      `Training stopped: the ${what} became ${value} ${where}; the weights are likely not finite either, so nothing more was trained or saved. ` +
        "Lower the learning rate, check the data for NaN or Inf, or pass onNonFiniteLoss: 'continue' to fit() to train on.",
    );
    this.name = 'NonFiniteLossError';
    this.what = what;
    this.value = value;
    this.epoch = epoch;
    this.step = step;
    this.history = history;
  }
}

/** How often (in iterations) the running loss is read back for the progress bar. */
const PROGRESS_EVERY = 50;

/** A metric's name in the epoch line ('accu' for accuracy, as the chapter prints it). */
function shortName(name: string): string {
  return name === 'accuracy' ? 'accu' : name;
}

function formatFigures(loss: number, metrics: Record<string, number> | undefined): string {
  return [`loss ${loss.toFixed(4)}`, ...Object.entries(metrics ?? {}).map(([k, v]) => `${shortName(k)} ${v.toFixed(4)}`)].join(', ');
}

/** The epoch line: "epoch 0, iteration 844, train: loss 0.2, accu 0.9, val: loss 0.1, accu 0.95". */
export function formatEpoch(r: EpochRecord): string {
  // Records from before per-metric history (checkpoints) hold only the accuracy fields.
  const trainMetrics = r.trainMetrics ?? (r.trainAccuracy === undefined ? {} : { accuracy: r.trainAccuracy });
  const valMetrics = r.valMetrics ?? (r.valAccuracy === undefined ? {} : { accuracy: r.valAccuracy });
  const val = r.valLoss === undefined ? '' : `, val: ${formatFigures(r.valLoss, valMetrics)}`;
  return `epoch ${r.epoch}, iteration ${r.iteration}, train: ${formatFigures(r.trainLoss, trainMetrics)}${val}`;
}

/** Whether fit() trains `model` with `loss` in the explicit style (no autograd, no allocation). */
function explicitStep(model: Module, loss: LossSpec): loss is LossFunction {
  return isLossObject(loss) && typeof loss.forward === 'function' && typeof loss.backward === 'function' && model.hasExplicitBackward;
}

/**
 * One training step's passes: zeroGrad, forward, loss (summed into the measures on the device) and
 * backward. With cudaGraph, an epoch's first full-size batch runs them (creating the workspaces a
 * capture must not allocate), the second records them as a CUDA graph (recording runs nothing, so
 * it is launched at once) and every later full-size batch replays the graph; a smaller last batch
 * runs them as usual. The graph refers to the epoch's batch tensors, so it lasts one epoch.
 */
class StepPasses {
  private graph: CudaGraph | undefined;
  private ordinaryFullSteps = 0;
  /** Built-in layers throughout and a napinet loss: the chapter's explicit forward/backward, allocation-free; else autograd. */
  private readonly explicit: boolean;

  constructor(
    private readonly model: Module,
    private readonly optimizer: Optimizer,
    private readonly loss: LossSpec,
    private readonly measures: Measures,
    private readonly useGraph: boolean,
    private readonly batchSize: number | undefined,
  ) {
    this.explicit = explicitStep(model, loss);
  }

  run(batch: Batch): void {
    if (!this.useGraph || batch.size !== this.batchSize) {
      this.passes(batch);
    } else if (this.graph) {
      this.graph.launch();
    } else if (this.ordinaryFullSteps++ === 0) {
      this.passes(batch);
    } else {
      this.graph = captureCudaGraph(() => this.passes(batch), { device: this.model.device });
      this.graph.launch();
    }
  }

  endEpoch(): void {
    this.graph?.dispose();
    this.graph = undefined;
    this.ordinaryFullSteps = 0;
  }

  private passes(batch: Batch): void {
    const { model, loss, measures } = this;
    this.optimizer.zeroGrad();
    if (this.explicit) {
      const lossFn = loss as LossFunction;
      explicit(() => {
        const output = model.forward(batch.x);
        lossFn.forward(output, batch.y, { accumulateInto: measures.lossStats });
        measures.addMetrics(output, batch.y);
        model.backward(lossFn.backward());
      });
    } else {
      // Autograd: the step's intermediates are freed (into the memory pool) when it ends.
      tidy(() => {
        const output: Tensor = model.forward(batch.x);
        const value = isLossObject(loss) ? loss.apply(output, batch.y, { accumulateInto: measures.lossStats }) : loss(output, batch.y);
        if (!isLossObject(loss)) measures.addLoss(value, batch.size);
        measures.addMetrics(output.detach(), batch.y);
        value.backward();
      });
    }
  }
}

/** A fit() call's settings (options checked, defaults filled in) and the state its epochs share. */
interface FitRun {
  model: Module;
  options: FitOptions;
  epochs: number;
  loss: LossSpec;
  metrics: MetricSpec[];
  measures: Measures;
  /** The validation data's own sums (the training sums stay intact while it runs). */
  validationMeasures: Measures | undefined;
  generator: Generator;
  history: History;
  callbacks: Callbacks[];
  progress: ProgressSink;
  train: BatchSource;
  validation: BatchSource | undefined;
  step: StepPasses;
  schedulerInterval: 'epoch' | 'step';
  stopOnNonFinite: boolean;
  /** Iterations completed over all epochs. */
  iteration: number;
  /** Data-parallel training across processes (the distributed option). */
  parallel: DataParallel | undefined;
  /** Receives the epoch lines (options.log; on rank 0 only when distributed). */
  log: ((line: string) => void) | undefined;
}

/**
 * Trains one epoch (or what remains of a resumed one): its begin callbacks, the shuffle, the steps
 * with the scheduler per step when asked, progress, and shouldStop() checked after every step.
 * Returns the samples seen and when the epoch's clock started, or the position where shouldStop()
 * ended it.
 */
async function trainEpoch(run: FitRun, epoch: number, resumed: FitPosition | undefined): Promise<{ seen: number; started: number } | { stoppedAt: FitPosition }> {
  const { options, generator, measures } = run;
  if (resumed) generator.setState(resumed.generatorState);
  const generatorState = generator.getState();
  for (const cb of run.callbacks) await cb.onEpochBegin?.(epoch);
  run.model.train();
  // Distributed, a resumed epoch's sums are every rank's together (epochSums): rank 0 carries them on.
  const carried = resumed && (run.parallel?.isMain ?? true) ? resumed : undefined;
  measures.reset(carried?.stats, carried?.metricSums);
  let seen = carried?.seen ?? 0;
  let step = resumed?.step ?? 0;
  let toSkip = resumed?.step ?? 0;
  let batchesSeen = 0;
  const started = performance.now() - (resumed?.seconds ?? 0) * 1000;
  const checkEveryStep = run.stopOnNonFinite && run.model.device === 'cpu';
  try {
    for await (const batch of run.train.epoch(generator)) {
      batchesSeen++;
      if (toSkip > 0) {
        // Taken before the interruption; after the last of them, the draws the steps made (Dropout's seeds) are restored.
        if (--toSkip === 0 && resumed?.stoppedGeneratorState) generator.setState(resumed.stoppedGeneratorState);
        continue;
      }
      measures.checkTargets(batch.y);
      run.step.run(batch);
      run.parallel?.reduceGradients(run.model);
      options.optimizer.step();
      if (run.schedulerInterval === 'step') options.scheduler?.step();
      seen += batch.size;
      step++;
      run.iteration++;
      if (checkEveryStep) checkFinite(run, 'training loss', measures.readLossStats()[0] / seen, epoch, step);
      for (const cb of run.callbacks) await cb.onBatchEnd?.({ epoch, iteration: run.iteration, batchSize: batch.size });
      if (step % PROGRESS_EVERY === 0 || step === run.train.steps) await showProgress(run, epoch, step, seen, started);
      if (stopRequested(run, step)) {
        const sums = epochSums(run, seen);
        const stoppedAt: FitPosition = {
          epoch,
          step,
          iteration: run.iteration,
          generatorState,
          stoppedGeneratorState: generator.getState(),
          stats: sums.stats,
          seen: sums.seen,
          seconds: (performance.now() - started) / 1000,
        };
        if (!measures.fromLossOnly) stoppedAt.metricSums = sums.metricSums;
        return { stoppedAt };
      }
    }
  } finally {
    run.step.endEpoch();
  }
  if (batchesSeen === 0) {
    throw new RangeError(
      epoch === (options.resume?.epoch ?? options.initialEpoch ?? 0)
        ? 'Expected training data with at least one batch for data but received none (an empty dataset, or dropLast with fewer samples than batchSize)'
        : `Expected batches from data in epoch ${epoch} but it yielded none: an iterator (a generator object) can be read only once; pass a function that returns a new one each epoch (() => batches())`,
    );
  }
  return { seen, started };
}

/** Whether shouldStop() asks to stop after `step`; across ranks, agreed every PROGRESS_EVERY steps (a collective). */
function stopRequested(run: FitRun, step: number): boolean {
  const { shouldStop } = run.options;
  if (!shouldStop) return false;
  if (!run.parallel) return shouldStop();
  return step % PROGRESS_EVERY === 0 && run.parallel.anyWantsToStop(shouldStop());
}

/** Throws a NonFiniteLossError when `value` is NaN or infinite and the run stops on it. */
function checkFinite(run: FitRun, what: string, value: number, epoch: number, step: number | undefined): void {
  if (run.stopOnNonFinite && !Number.isFinite(value)) throw new NonFiniteLossError(what, value, epoch, step, { epochs: [...run.history.epochs] });
}

/** The running figures on the progress bar (when one shows: a read from a GPU waits for the queued steps), then a pause for signals (Ctrl-C) and timers. */
async function showProgress(run: FitRun, epoch: number, step: number, seen: number, started: number): Promise<void> {
  if (run.progress.shown) {
    const [lossSum, second] = run.measures.readLossStats();
    checkFinite(run, 'training loss', lossSum / seen, epoch, step);
    const accuracy = run.measures.accuracyInLossStats ? second / seen : undefined;
    run.progress.update(epoch, run.epochs, step, run.train.steps, lossSum / seen, accuracy, (performance.now() - started) / 1000);
  }
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Closes a trained epoch: the sums read (and checked), validation, the scheduler per epoch, the
 * record into the history, the epoch line and the end callbacks. Returns whether a callback asked
 * to stop.
 */
async function finishEpoch(run: FitRun, epoch: number, trained: { seen: number; started: number }): Promise<boolean> {
  const { options } = run;
  const train = epochFigures(run, trained.seen);
  const seconds = (performance.now() - trained.started) / 1000; // after the read, which waits for a GPU's queued steps
  checkFinite(run, 'training loss', train.loss, epoch, undefined);
  const lr = options.optimizer.lr;
  run.parallel?.syncBuffers(run.model);
  const v = run.validation ? evaluateSource(run.model, run.validation, run.loss, run.validationMeasures!, 'validation') : undefined;
  if (v) checkFinite(run, 'validation loss', v.loss, epoch, undefined);
  const accuracy = (metrics: Record<string, number>, key: 'trainAccuracy' | 'valAccuracy') => ('accuracy' in metrics ? { [key]: metrics.accuracy } : {});
  const record: EpochRecord = {
    epoch,
    iteration: run.iteration,
    trainLoss: train.loss,
    ...accuracy(train.metrics, 'trainAccuracy'),
    ...(v ? { valLoss: v.loss, ...accuracy(v.metrics, 'valAccuracy') } : {}),
    trainMetrics: train.metrics,
    ...(v ? { valMetrics: v.metrics } : {}),
    seconds,
    lr,
  };
  if (run.schedulerInterval === 'epoch' && options.scheduler) stepSchedulerForEpoch(options.scheduler, record);
  run.history.epochs.push(record);
  run.progress.clear();
  run.log?.(formatEpoch(record));
  let stop = false;
  for (const cb of run.callbacks) {
    if ((await cb.onEpochEnd?.(record, run.history)) === false) stop = true;
  }
  return stop;
}

/** The epoch's sums so far and the samples they cover: this process's, or every rank's together when distributed (a collective). */
function epochSums(run: FitRun, seen: number): { stats: [number, number]; metricSums: number[]; seen: number } {
  const stats = run.measures.readLossStats();
  const metricSums = run.measures.readMetricSums();
  if (!run.parallel) return { stats, metricSums, seen };
  const total = run.parallel.sum([...stats, ...metricSums, seen]);
  return { stats: [total[0], total[1]], metricSums: total.slice(2, 2 + metricSums.length), seen: total[2 + metricSums.length] };
}

/** The epoch's training loss and metrics: the means of its sums (over every rank's samples when distributed). */
function epochFigures(run: FitRun, seen: number): { loss: number; metrics: Record<string, number> } {
  const sums = epochSums(run, seen);
  return run.measures.means(sums.seen, sums.stats, sums.metricSums);
}

/** The epoch's scheduler step: ReduceLROnPlateau with its monitored value, any other plainly. */
function stepSchedulerForEpoch(scheduler: LRScheduler, record: EpochRecord): void {
  if (!(scheduler instanceof ReduceLROnPlateau)) {
    scheduler.step();
    return;
  }
  const value = recordValue(record, scheduler.monitor);
  if (value === undefined) {
    throw new Error(`ReduceLROnPlateau monitors '${scheduler.monitor}', which the epoch record does not hold (it has ${Object.keys(record).join(', ')}): give fit() validation data or set the scheduler's monitor`);
  }
  scheduler.step(value);
}

/** Checks fit()'s arguments; what a run needs, before anything is allocated. */
function fitSettings(model: Module, options: FitOptions) {
  if (typeof options !== 'object' || options === null) fail('an options object { optimizer, epochs, … }', 'options', options);
  for (const key of Object.keys(options)) {
    if (key === 'schedulerStep') {
      throw new TypeError("Expected schedulerInterval ('epoch' or 'step') for fit's options but received schedulerStep: it was renamed, and the default is now 'epoch' (PyTorch's habit); pass schedulerInterval: 'step' to step every iteration");
    }
    if (!(FIT_OPTIONS as readonly string[]).includes(key)) fail(`one of the options ${FIT_OPTIONS.join(', ')}`, 'fit options', key);
  }
  if (typeof options.optimizer !== 'object' || options.optimizer === null || typeof options.optimizer.step !== 'function') fail('an optimizer', 'optimizer', options.optimizer);
  const epochs = expectInt(options.epochs, 'epochs', 0);
  const batchSize = expectInt(options.batchSize ?? 32, 'batchSize', 1);
  const workers = options.workers === undefined ? undefined : expectInt(options.workers, 'workers', 1, 1024);
  const loss = expectLoss(options.loss ?? new CrossEntropyLoss());
  const metrics = options.metrics ?? defaultMetrics(loss);
  const schedulerInterval = expectOneOf(options.schedulerInterval ?? 'epoch', 'schedulerInterval', ['epoch', 'step'] as const);
  if (options.scheduler instanceof ReduceLROnPlateau) {
    if (schedulerInterval === 'step') throw new TypeError("Expected schedulerInterval 'epoch' for ReduceLROnPlateau (it follows a value measured once an epoch) but received 'step'");
    if (options.scheduler.monitor.startsWith('val') && options.validation === undefined) {
      throw new TypeError(`Expected validation data for ReduceLROnPlateau, which monitors '${options.scheduler.monitor}': pass validation to fit(), or monitor 'trainLoss'`);
    }
  }
  const stopOnNonFinite = expectOneOf(options.onNonFiniteLoss ?? 'stop', 'onNonFiniteLoss', ['stop', 'continue'] as const) === 'stop';
  const useGraph = expectBoolean(options.cudaGraph ?? false, 'cudaGraph');
  if (useGraph && !isCuda(model.device)) fail('false for a model on the CPU (CUDA graphs record GPU work)', 'cudaGraph', true);
  if (useGraph && !explicitStep(model, loss)) {
    throw new Error('Expected a model built from napinet layers (explicit backward) and a napinet loss for cudaGraph but received one differentiated by autograd, whose step allocates');
  }
  if (useGraph && !model.capturable) {
    throw new Error('Expected a model whose step a CUDA graph can record for cudaGraph but received one that draws on the host every step (Dropout in training)');
  }
  return { epochs, batchSize, workers, useGraph, loss, metrics, schedulerInterval, stopOnNonFinite };
}

/**
 * Refuses batching options that `data` would ignore: a DataLoader batches by its own settings (an
 * equal value is fine), and batches streamed by user code come batched.
 */
function checkBatching(data: FitData, options: FitOptions): void {
  const given = { batchSize: options.batchSize, shuffle: options.shuffle, dropLast: options.dropLast };
  for (const [key, value] of Object.entries(given)) {
    if (value === undefined) continue;
    if (data instanceof DataLoader && value !== data[key as keyof typeof given]) {
      throw new TypeError(`Expected ${key} ${data[key as keyof typeof given]} (the DataLoader's own) or none in fit's options but received ${value}: set it on the DataLoader`);
    }
    if (isBatchStream(data)) throw new TypeError(`Expected no ${key} in fit's options for data streamed as batches (they come batched) but received ${value}`);
  }
}

/**
 * Trains `model` on `data` for options.epochs epochs. `data`: a TensorDataset or ImageDataset
 * (batched by batchSize, shuffled each epoch), any Dataset, an IterableDataset (a stream of samples),
 * a DataLoader, or batches { x, y } as an iterable, an async iterable or a function returning one
 * per epoch. Returns the history; throws a NonFiniteLossError when the loss diverges (see the file
 * comment).
 */
export async function fit(model: Module, data: FitData, options: FitOptions): Promise<FitResult> {
  const settings = fitSettings(model, options);
  const { epochs, batchSize, workers, useGraph, loss, metrics } = settings;
  const device = model.device;
  const history: History = options.history ?? { epochs: [] };
  const resume = options.resume;
  const generator = options.generator ?? defaultGenerator;
  const callbacks = options.callbacks ?? [];
  if (!Array.isArray(callbacks)) fail('an array of callbacks', 'callbacks', callbacks);
  checkBatching(data, options);
  // Datasets are shuffled unless told otherwise; a stream is read in its own order. On a GPU a
  // TensorDataset is uploaded once, and each batch is gathered there.
  const shuffle = options.shuffle ?? !(data instanceof IterableDataset);
  const parallel = DataParallel.from(options.distributed);
  const train = batchSource(data, device, { batchSize, shuffle, dropLast: options.dropLast ?? false, shard: parallel?.shard }, 'data');
  const cleanup: (() => void)[] = [() => train.dispose()];
  try {
    const validationBatchSize = expectInt(options.validationBatchSize ?? Math.max(batchSize, 256), 'validationBatchSize', 1);
    const validation = options.validation === undefined ? undefined : batchSource(options.validation, device, { batchSize: validationBatchSize }, 'validation');
    if (validation) cleanup.push(() => validation.dispose());
    const measures = new Measures(device, loss, metrics);
    cleanup.push(() => measures.dispose());
    if (useGraph && !train.reusesBatchTensors) {
      throw new Error('Expected a TensorDataset or an ImageDataset (or a DataLoader over one, without collate) as data for cudaGraph: the graph replays the same batch tensors, which only their on-device gather reuses');
    }
    if (useGraph && !measures.fromLossOnly) {
      throw new Error("Expected metrics that the loss counts itself (accuracy with the cross-entropy) for cudaGraph but received metrics that a step computes apart: drop them or cudaGraph");
    }
    const validationMeasures = validation ? new Measures(device, loss, metrics) : undefined;
    if (validationMeasures) cleanup.push(() => validationMeasures.dispose());
    const threadsBefore = native().numThreads();
    if (workers !== undefined) {
      native().setNumThreads(workers);
      cleanup.push(() => native().setNumThreads(threadsBefore));
    }
    const run: FitRun = {
      model,
      options,
      epochs,
      loss,
      metrics,
      measures,
      validationMeasures,
      generator,
      history,
      callbacks,
      progress: progressFor(options.progressStream ?? process.stderr, parallel && !parallel.isMain ? 'none' : (options.progress ?? 'auto')),
      train,
      validation,
      step: new StepPasses(model, options.optimizer, loss, measures, useGraph, train.batchSize),
      schedulerInterval: settings.schedulerInterval,
      stopOnNonFinite: settings.stopOnNonFinite,
      iteration: resume?.iteration ?? history.epochs.at(-1)?.iteration ?? 0,
      parallel,
      log: parallel && !parallel.isMain ? undefined : options.log,
    };
    parallel?.start(model, generator);
    cleanup.push(() => run.progress.clear());
    for (const cb of callbacks) await cb.onTrainBegin?.({ model, epochs, history });
    for (let epoch = resume?.epoch ?? options.initialEpoch ?? 0; epoch < epochs; epoch++) {
      const trained = await trainEpoch(run, epoch, resume?.epoch === epoch ? resume : undefined);
      if ('stoppedAt' in trained) return { ...history, stopped: true, position: trained.stoppedAt };
      if (await finishEpoch(run, epoch, trained)) {
        parallel?.checkReplicasAgree(model);
        for (const cb of callbacks) await cb.onTrainEnd?.(history);
        return { ...history, stopped: true };
      }
    }
    parallel?.checkReplicasAgree(model);
    for (const cb of callbacks) await cb.onTrainEnd?.(history);
    return { ...history, stopped: false };
  } finally {
    for (const release of cleanup.reverse()) release();
  }
}
