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
 */
import { type CudaGraph, captureCudaGraph } from '../cuda_graph';
import { batches, DeviceDataset, type ImageDataset } from '../data/dataset';
import { CrossEntropyLoss } from '../nn/loss';
import type { Module } from '../nn/module';
import { softmax } from '../ops/softmax';
import type { LRScheduler } from '../optim/lr_scheduler';
import type { Optimizer } from '../optim/optimizer';
import { defaultGenerator, type Generator } from '../random';
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

export async function fit(model: Module, data: ImageDataset, options: FitOptions): Promise<FitResult> {
  const epochs = expectInt(options.epochs, 'epochs', 0);
  const batchSize = expectInt(options.batchSize, 'batchSize', 1);
  const workers = options.workers === undefined ? undefined : expectInt(options.workers, 'workers', 1, 1024);
  const lossFn = options.loss ?? new CrossEntropyLoss();
  const generator = options.generator ?? defaultGenerator;
  const history: History = options.history ?? { epochs: [] };
  const callbacks = options.callbacks ?? [];
  const progress: ProgressSink = progressFor(options.progressStream ?? process.stderr, options.progress ?? 'auto');
  const device = model.device;
  const stepsPerEpoch = Math.ceil(data.count / batchSize);
  const resume = options.resume;
  let iteration = resume?.iteration ?? history.epochs.at(-1)?.iteration ?? 0;
  const useGraph = expectBoolean(options.cudaGraph ?? false, 'cudaGraph');
  if (useGraph && device !== 'cuda') fail('false for a model on the CPU (CUDA graphs record GPU work)', 'cudaGraph', true);
  if (useGraph && !model.capturable) {
    throw new Error('Expected a model whose step a CUDA graph can record for cudaGraph but received one that draws on the host every step (Dropout in training)');
  }
  const stats = Tensor.zeros([2], { device });
  // The step's passes, replayed from a CUDA graph when options.cudaGraph is set.
  const passes = (x: Tensor, y: Tensor) => {
    options.optimizer.zeroGrad();
    const logits = model.forward(x);
    lossFn.forward(logits, y, { accumulateInto: stats });
    model.backward(lossFn.backward());
  };
  let graph: CudaGraph | undefined;
  let stopped = false;
  let position: FitPosition | undefined;
  const threadsBefore = native().numThreads();
  if (workers !== undefined) native().setNumThreads(workers);
  // On a GPU the datasets are uploaded once, and each batch is gathered there.
  const trainOnDevice = new DeviceDataset(data, device);
  const validationOnDevice = options.validation ? new DeviceDataset(options.validation, device) : undefined;

  try {
    for (let epoch = resume?.epoch ?? options.initialEpoch ?? 0; epoch < epochs && !stopped; epoch++) {
      const resumed = resume?.epoch === epoch ? resume : undefined;
      if (resumed) generator.setState(resumed.generatorState);
      const generatorState = generator.getState();
      for (const cb of callbacks) await cb.onEpochBegin?.(epoch);
      model.train();
      stats.copyFrom(resumed ? Float32Array.from(resumed.stats) : new Float32Array(2));
      let seen = resumed?.seen ?? 0;
      let step = 0;
      let ordinaryFullSteps = 0;
      const started = performance.now() - (resumed?.seconds ?? 0) * 1000;
      for (const batch of batches(trainOnDevice, batchSize, { shuffle: options.shuffle ?? true, generator })) {
        if (resumed && step < resumed.step) {
          step++; // taken before the interruption
          if (step === resumed.step && resumed.stoppedGeneratorState) generator.setState(resumed.stoppedGeneratorState);
          continue;
        }
        if (!useGraph || batch.size !== batchSize) {
          passes(batch.x, batch.y);
        } else if (graph) {
          graph.launch();
        } else if (ordinaryFullSteps++ === 0) {
          passes(batch.x, batch.y); // creates the workspaces a capture must not allocate
        } else {
          graph = captureCudaGraph(() => passes(batch.x, batch.y)); // records without running
          graph.launch();
        }
        options.optimizer.step();
        if ((options.schedulerStep ?? 'iteration') === 'iteration') options.scheduler?.step();
        seen += batch.size;
        step++;
        iteration++;
        for (const cb of callbacks) await cb.onBatchEnd?.({ epoch, iteration, batchSize: batch.size });
        if (step % PROGRESS_EVERY === 0 || step === stepsPerEpoch) {
          if (progress.shown) {
            // A read from a GPU waits for the queued steps: only when a bar shows the figures.
            const [lossSum, correct] = stats.toArray();
            progress.update(epoch, epochs, step, stepsPerEpoch, lossSum / seen, correct / seen, (performance.now() - started) / 1000);
          }
          // Let signals (Ctrl-C) and timers run between steps.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        if (options.shouldStop?.()) {
          stopped = true;
          const [lossSum, correct] = stats.toArray();
          position = {
            epoch,
            step,
            iteration,
            generatorState,
            stoppedGeneratorState: generator.getState(),
            stats: [lossSum, correct],
            seen,
            seconds: (performance.now() - started) / 1000,
          };
          break;
        }
      }
      graph?.dispose(); // it refers to this epoch's batch tensors
      graph = undefined;
      if (stopped) break;
      const [lossSum, correct] = stats.toArray();
      const seconds = (performance.now() - started) / 1000;
      if (options.schedulerStep === 'epoch') options.scheduler?.step();
      const record: EpochRecord = { epoch, iteration, trainLoss: lossSum / seen, trainAccuracy: correct / seen, seconds, lr: options.optimizer.lr };
      if (validationOnDevice) {
        const v = evaluate(model, validationOnDevice, { batchSize: Math.max(batchSize, 256), loss: lossFn });
        record.valLoss = v.loss;
        record.valAccuracy = v.accuracy;
      }
      history.epochs.push(record);
      progress.clear();
      options.log?.(formatEpoch(record));
      for (const cb of callbacks) {
        if ((await cb.onEpochEnd?.(record, history)) === false) stopped = true;
      }
    }
  } finally {
    graph?.dispose();
    progress.clear();
    stats.dispose();
    trainOnDevice.dispose();
    validationOnDevice?.dispose();
    if (workers !== undefined) native().setNumThreads(threadsBefore);
  }
  return position ? { ...history, stopped, position } : { ...history, stopped };
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
      lossFn.forward(model.forward(batch.x), batch.y, { accumulateInto: stats });
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
  try {
    if (input instanceof Tensor) return softmax(model.forward(input.to(model.device))).toArray() as Float32Array;
    const chunks: Float32Array[] = [];
    for (const batch of batches(input, options.batchSize ?? 256, { device: model.device })) {
      chunks.push(softmax(model.forward(batch.x)).toArray() as Float32Array);
    }
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
