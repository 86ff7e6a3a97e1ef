/**
 * The training loop: fit() trains a model on a dataset for some epochs, validating after each, and
 * returns the history; evaluate() measures loss and accuracy; predict() gives class probabilities.
 *
 * One step: batch in → forward → softmax-cross-entropy → backward → optimizer step → scheduler
 * step. Loss and accuracy are summed on the model's device and read at the end of the epoch (and
 * every 50 steps while a progress bar shows them); the dataset is uploaded to the device once per
 * fit and each batch gathered there, so a GPU step has no host round trip at all.
 *
 * Data-parallel training on the CPU: every kernel of a step splits the batch into chunks whose
 * boundaries depend only on the shapes, `workers` threads process the chunks at once, and the
 * weight and bias gradients are the per-chunk partial sums added in chunk order; then one optimizer
 * update. So the gradient is the whole batch's, and any number of workers gives bit-identical
 * weights (test/data_parallel.test.ts).
 *
 * fit() in stages: fitSettings checks the options; then each epoch is trainEpoch (its steps, run by
 * StepPasses, which records and replays a CUDA graph when asked; remainingBatches, which skips the
 * steps a resumed epoch had taken; showProgress; the position where shouldStop() ends it) and
 * finishEpoch (validation, the history, the epoch line and the end-of-epoch callbacks).
 */
import { explicit } from '../autograd/grad_mode';
import { type CudaGraph, captureCudaGraph } from '../cuda_graph';
import { type Batch, batches, DeviceDataset, type ImageDataset } from '../data/dataset';
import { CrossEntropyLoss } from '../nn/loss';
import type { Module } from '../nn/module';
import { toDevice } from '../autograd/functional';
import { softmax } from '../ops/softmax';
import type { LRScheduler } from '../optim/lr_scheduler';
import type { Optimizer } from '../optim/optimizer';
import { defaultGenerator, type Generator } from '../random';
import { tidy } from '../memory';
import { Tensor } from '../tensor';
import { native } from '../native';
import { expectBoolean, expectInt, fail } from '../validate';
import { type ProgressSink, progressFor, type TextStream } from './progress';
import type { Callbacks, EpochRecord, FitPosition, History } from '../fit_types';

export type { Callbacks, EpochRecord, FitPosition, History, StepInfo } from '../fit_types';

export interface FitOptions {
  optimizer: Optimizer;
  epochs: number;
  batchSize: number;
  /** Stepped after every iteration ('iteration', the chapter's way) or every epoch. */
  scheduler?: LRScheduler;
  schedulerStep?: 'iteration' | 'epoch';
  loss?: CrossEntropyLoss;
  validation?: ImageDataset;
  shuffle?: boolean;
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
   * model whose step does no per-step work on the host (`model.capturable`; Dropout is not).
   * Default false.
   */
  cudaGraph?: boolean;
  /**
   * Continue an epoch interrupted part-way (the `position` a stopped fit() returned, saved in a
   * checkpoint): its generator state is restored, the epoch-begin callbacks run and the shuffle is
   * redrawn, the steps already taken skipped (then the generator set to its state at the stop, so
   * draws inside steps such as Dropout's continue their stream) and the running loss/accuracy
   * carried on, so the run goes on exactly as if it had never stopped. Overrides initialEpoch.
   */
  resume?: FitPosition;
}


export interface FitResult extends History {
  stopped: boolean;
  /** Where training stopped when shouldStop() ended it part-way through an epoch. */
  position?: FitPosition;
}

/** How often (in iterations) the running loss is read back for the progress bar. */
const PROGRESS_EVERY = 50;

export function formatEpoch(r: EpochRecord): string {
  const train = `train: loss ${r.trainLoss.toFixed(4)}, accu ${r.trainAccuracy.toFixed(4)}`;
  const val = r.valLoss === undefined ? '' : `, val: loss ${r.valLoss.toFixed(4)}, accu ${r.valAccuracy!.toFixed(4)}`;
  return `epoch ${r.epoch}, iteration ${r.iteration}, ${train}${val}`;
}

/**
 * One training step's passes: zeroGrad, forward, loss (summed into `stats` on the device) and
 * backward. With cudaGraph, an epoch's first full-size batch runs them (creating the workspaces a
 * capture must not allocate), the second records them as a CUDA graph (recording runs nothing, so
 * it is launched at once) and every later full-size batch replays the graph; a smaller last batch
 * runs them as usual. The graph refers to the epoch's batch tensors, so it lasts one epoch.
 */
class StepPasses {
  private graph: CudaGraph | undefined;
  private ordinaryFullSteps = 0;
  /** Built-in layers throughout: the chapter's explicit forward/backward, allocation-free; else autograd. */
  private readonly explicit: boolean;

  constructor(
    private readonly model: Module,
    private readonly optimizer: Optimizer,
    private readonly lossFn: CrossEntropyLoss,
    private readonly stats: Tensor,
    private readonly useGraph: boolean,
    private readonly batchSize: number,
  ) {
    this.explicit = model.hasExplicitBackward;
  }

  run(batch: Batch): void {
    if (!this.useGraph || batch.size !== this.batchSize) {
      this.passes(batch);
    } else if (this.graph) {
      this.graph.launch();
    } else if (this.ordinaryFullSteps++ === 0) {
      this.passes(batch);
    } else {
      this.graph = captureCudaGraph(() => this.passes(batch));
      this.graph.launch();
    }
  }

  endEpoch(): void {
    this.graph?.dispose();
    this.graph = undefined;
    this.ordinaryFullSteps = 0;
  }

  private passes(batch: Batch): void {
    this.optimizer.zeroGrad();
    if (this.explicit) {
      explicit(() => {
        const logits = this.model.forward(batch.x);
        this.lossFn.forward(logits, batch.y, { accumulateInto: this.stats });
        this.model.backward(this.lossFn.backward());
      });
    } else {
      // Autograd: the step's intermediates are freed (into the memory pool) when it ends.
      tidy(() => this.lossFn.apply(this.model.forward(batch.x), batch.y, { accumulateInto: this.stats }).backward());
    }
  }
}

/** A fit() call's settings (options checked, defaults filled in) and the state its epochs share. */
interface FitRun {
  model: Module;
  options: FitOptions;
  epochs: number;
  batchSize: number;
  stepsPerEpoch: number;
  lossFn: CrossEntropyLoss;
  generator: Generator;
  history: History;
  callbacks: Callbacks[];
  progress: ProgressSink;
  train: DeviceDataset;
  validation: DeviceDataset | undefined;
  /** This epoch's running [loss sum, correct count], on the model's device. */
  stats: Tensor;
  step: StepPasses;
  /** Iterations completed over all epochs. */
  iteration: number;
}

/** The batches of an epoch that remain: a resumed epoch skips the steps taken before the stop. */
function* remainingBatches(all: Iterable<Batch>, resumed: FitPosition | undefined, generator: Generator): Iterable<Batch> {
  let skipped = 0;
  for (const batch of all) {
    if (resumed && skipped < resumed.step) {
      // Taken before the interruption; after the last of them, the draws the steps made (Dropout's seeds) are restored.
      if (++skipped === resumed.step && resumed.stoppedGeneratorState) generator.setState(resumed.stoppedGeneratorState);
      continue;
    }
    yield batch;
  }
}

/**
 * Trains one epoch (or what remains of a resumed one): its begin callbacks, the shuffle, the steps
 * with the scheduler per iteration, progress, and shouldStop() checked after every step. Returns
 * the samples seen and when the epoch's clock started, or the position where shouldStop() ended it.
 */
async function trainEpoch(run: FitRun, epoch: number, resumed: FitPosition | undefined): Promise<{ seen: number; started: number } | { stoppedAt: FitPosition }> {
  const { options, generator, stats } = run;
  if (resumed) generator.setState(resumed.generatorState);
  const generatorState = generator.getState();
  for (const cb of run.callbacks) await cb.onEpochBegin?.(epoch);
  run.model.train();
  stats.copyFrom(resumed ? Float32Array.from(resumed.stats) : new Float32Array(2));
  let seen = resumed?.seen ?? 0;
  let step = resumed?.step ?? 0;
  const started = performance.now() - (resumed?.seconds ?? 0) * 1000;
  const shuffled = batches(run.train, run.batchSize, { shuffle: options.shuffle ?? true, generator });
  try {
    for (const batch of remainingBatches(shuffled, resumed, generator)) {
      run.step.run(batch);
      options.optimizer.step();
      if ((options.schedulerStep ?? 'iteration') === 'iteration') options.scheduler?.step();
      seen += batch.size;
      step++;
      run.iteration++;
      for (const cb of run.callbacks) await cb.onBatchEnd?.({ epoch, iteration: run.iteration, batchSize: batch.size });
      if (step % PROGRESS_EVERY === 0 || step === run.stepsPerEpoch) await showProgress(run, epoch, step, seen, started);
      if (options.shouldStop?.()) {
        const [lossSum, correct] = stats.toArray();
        const stoppedAt: FitPosition = {
          epoch,
          step,
          iteration: run.iteration,
          generatorState,
          stoppedGeneratorState: generator.getState(),
          stats: [lossSum, correct],
          seen,
          seconds: (performance.now() - started) / 1000,
        };
        return { stoppedAt };
      }
    }
  } finally {
    run.step.endEpoch();
  }
  return { seen, started };
}

/** The running figures on the progress bar (when one shows: a read from a GPU waits for the queued steps), then a pause for signals (Ctrl-C) and timers. */
async function showProgress(run: FitRun, epoch: number, step: number, seen: number, started: number): Promise<void> {
  if (run.progress.shown) {
    const [lossSum, correct] = run.stats.toArray();
    run.progress.update(epoch, run.epochs, step, run.stepsPerEpoch, lossSum / seen, correct / seen, (performance.now() - started) / 1000);
  }
  await new Promise<void>((resolve) => setImmediate(resolve));
}

/**
 * Closes a trained epoch: the scheduler per epoch, the record (with validation) into the history,
 * the epoch line and the end callbacks. Returns whether a callback asked to stop.
 */
async function finishEpoch(run: FitRun, epoch: number, trained: { seen: number; started: number }): Promise<boolean> {
  const { options } = run;
  const [lossSum, correct] = run.stats.toArray();
  const seconds = (performance.now() - trained.started) / 1000; // after the read, which waits for a GPU's queued steps
  if (options.schedulerStep === 'epoch') options.scheduler?.step();
  const record: EpochRecord = {
    epoch,
    iteration: run.iteration,
    trainLoss: lossSum / trained.seen,
    trainAccuracy: correct / trained.seen,
    seconds,
    lr: options.optimizer.lr,
  };
  if (run.validation) {
    const v = evaluate(run.model, run.validation, { batchSize: Math.max(run.batchSize, 256), loss: run.lossFn });
    record.valLoss = v.loss;
    record.valAccuracy = v.accuracy;
  }
  run.history.epochs.push(record);
  run.progress.clear();
  options.log?.(formatEpoch(record));
  let stop = false;
  for (const cb of run.callbacks) {
    if ((await cb.onEpochEnd?.(record, run.history)) === false) stop = true;
  }
  return stop;
}

/** Checks fit()'s arguments; what a run needs, before anything is allocated. */
function fitSettings(model: Module, data: ImageDataset, options: FitOptions) {
  const epochs = expectInt(options.epochs, 'epochs', 0);
  const batchSize = expectInt(options.batchSize, 'batchSize', 1);
  const workers = options.workers === undefined ? undefined : expectInt(options.workers, 'workers', 1, 1024);
  const useGraph = expectBoolean(options.cudaGraph ?? false, 'cudaGraph');
  if (useGraph && model.device !== 'cuda') fail('false for a model on the CPU (CUDA graphs record GPU work)', 'cudaGraph', true);
  if (useGraph && !model.hasExplicitBackward) {
    throw new Error('Expected a model built from napinet layers (explicit backward) for cudaGraph but received one differentiated by autograd, whose step allocates');
  }
  if (useGraph && !model.capturable) {
    throw new Error('Expected a model whose step a CUDA graph can record for cudaGraph but received one that draws on the host every step (Dropout in training)');
  }
  return { epochs, batchSize, workers, useGraph, stepsPerEpoch: Math.ceil(data.count / batchSize) };
}

export async function fit(model: Module, data: ImageDataset, options: FitOptions): Promise<FitResult> {
  const { epochs, batchSize, workers, useGraph, stepsPerEpoch } = fitSettings(model, data, options);
  const lossFn = options.loss ?? new CrossEntropyLoss();
  const device = model.device;
  const history: History = options.history ?? { epochs: [] };
  const resume = options.resume;
  const stats = Tensor.zeros([2], { device });
  const threadsBefore = native().numThreads();
  if (workers !== undefined) native().setNumThreads(workers);
  // On a GPU the datasets are uploaded once, and each batch is gathered there.
  const run: FitRun = {
    model,
    options,
    epochs,
    batchSize,
    stepsPerEpoch,
    lossFn,
    generator: options.generator ?? defaultGenerator,
    history,
    callbacks: options.callbacks ?? [],
    progress: progressFor(options.progressStream ?? process.stderr, options.progress ?? 'auto'),
    train: new DeviceDataset(data, device),
    validation: options.validation ? new DeviceDataset(options.validation, device) : undefined,
    stats,
    step: new StepPasses(model, options.optimizer, lossFn, stats, useGraph, batchSize),
    iteration: resume?.iteration ?? history.epochs.at(-1)?.iteration ?? 0,
  };
  try {
    for (let epoch = resume?.epoch ?? options.initialEpoch ?? 0; epoch < epochs; epoch++) {
      const trained = await trainEpoch(run, epoch, resume?.epoch === epoch ? resume : undefined);
      if ('stoppedAt' in trained) return { ...history, stopped: true, position: trained.stoppedAt };
      if (await finishEpoch(run, epoch, trained)) return { ...history, stopped: true };
    }
    return { ...history, stopped: false };
  } finally {
    run.progress.clear();
    stats.dispose();
    run.train.dispose();
    run.validation?.dispose();
    if (workers !== undefined) native().setNumThreads(threadsBefore);
  }
}

export interface EvaluateResult {
  loss: number;
  accuracy: number;
  count: number;
}

/**
 * Mean cross-entropy and accuracy of `model` on `data` (in eval mode; training mode restored). A
 * DeviceDataset on the model's device is used as it is (no upload).
 */
export function evaluate(model: Module, data: ImageDataset | DeviceDataset, options: { batchSize?: number; loss?: CrossEntropyLoss } = {}): EvaluateResult {
  const lossFn = options.loss ?? new CrossEntropyLoss();
  const wasTraining = model.training;
  model.eval();
  const stats = Tensor.zeros([2], { device: model.device });
  try {
    for (const batch of batches(data, options.batchSize ?? 256, { device: model.device })) {
      model.inference(() => {
        lossFn.apply(model.forward(batch.x), batch.y, { accumulateInto: stats });
      });
    }
    const [lossSum, correct] = stats.toArray();
    return { loss: lossSum / data.count, accuracy: correct / data.count, count: data.count };
  } finally {
    stats.dispose();
    model.train(wasTraining);
  }
}

/**
 * Class probabilities [count, classes] for the images of `data` (or a [N, C, H, W] tensor), in
 * eval mode. Returns a host Float32Array, row per sample.
 */
export function predict(model: Module, input: ImageDataset | Tensor, options: { batchSize?: number } = {}): Float32Array {
  const wasTraining = model.training;
  model.eval();
  const probabilities = (x: Tensor) => model.inference(() => softmax(model.forward(x)).toArray() as Float32Array);
  try {
    if (input instanceof Tensor) return probabilities(toDevice(input, model.device));
    const chunks: Float32Array[] = [];
    for (const batch of batches(input, options.batchSize ?? 256, { device: model.device })) chunks.push(probabilities(batch.x));
    const out = new Float32Array(chunks.reduce((n, c) => n + c.length, 0));
    let offset = 0;
    for (const c of chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  } finally {
    model.train(wasTraining);
  }
}
