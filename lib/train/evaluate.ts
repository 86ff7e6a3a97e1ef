/**
 * Measuring and using a trained model: evaluate() (the loss and metrics on data, in eval mode),
 * predict() (the model's outputs, as they are: logits for a classifier, values for a regression),
 * and the classification helpers predictProbabilities() (softmax of the outputs) and
 * predictClasses() (the first largest output per sample).
 *
 * Data takes the forms fit() takes; evaluate() and predict() read synchronous data (datasets,
 * DataLoaders over them, iterables, a Tensor of inputs for predict), evaluateAsync() any form
 * (streams included). An empty set is an error, not NaN. Tests: test/fit.test.ts.
 */
import type { Batch } from '../data/dataset';
import { CrossEntropyLoss } from '../nn/loss';
import type { Module } from '../nn/module';
import { tidy } from '../memory';
import { narrow } from '../ops/elementwise';
import { softmax } from '../ops/softmax';
import { defaultGenerator } from '../random';
import { Tensor } from '../tensor';
import { expectInt, fail } from '../validate';
import { type BatchSource, batchSource, type FitData, isSyncData, type SyncData } from './data_source';
import { defaultMetrics, expectLoss, isLossObject, type LossSpec, Measures, type MetricSpec } from './measures';
import { toDevice } from '../autograd/functional';

/** Options of evaluate() and evaluateAsync(). */
export interface EvaluateOptions {
  /** Samples per batch for a dataset (default 256). */
  batchSize?: number;
  /** The loss (default nn.CrossEntropyLoss), as fit() takes it. */
  loss?: LossSpec;
  /** The metrics, as fit() takes them (default: accuracy with a cross-entropy loss, else none). */
  metrics?: MetricSpec[];
}

/** What evaluate() measures: the mean loss, each metric, and the number of samples. */
export interface EvaluateResult {
  /** The mean loss over the samples. */
  loss: number;
  /** Each metric's mean, by name. */
  metrics: Record<string, number>;
  /** metrics.accuracy, when measured. */
  accuracy?: number;
  /** Samples measured. */
  count: number;
}

/** One batch's loss and metrics added to the measures, in eval mode without gradients. */
function measureBatch(model: Module, batch: Batch, loss: LossSpec, measures: Measures): void {
  measures.checkTargets(batch.y);
  model.inference(() =>
    tidy(() => {
      const output = model.forward(batch.x);
      if (isLossObject(loss)) loss.apply(output, batch.y, { accumulateInto: measures.lossStats });
      else measures.addLoss(loss(output, batch.y), batch.size);
      measures.addMetrics(output, batch.y);
    }),
  );
}

function result(measures: Measures, count: number, name: string): EvaluateResult {
  if (count === 0) throw new RangeError(`Expected data with at least one sample for ${name} but received none`);
  const { loss, metrics } = measures.means(count);
  return { loss, metrics, ...('accuracy' in metrics ? { accuracy: metrics.accuracy } : {}), count };
}

/** Runs `fn` with the model in eval mode, restoring its mode after. */
function inEvalMode<T>(model: Module, fn: () => T): T {
  const wasTraining = model.training;
  model.eval();
  try {
    return fn();
  } finally {
    model.train(wasTraining);
  }
}

/**
 * The loss and metrics of `model` on a prepared source (fit's validation): `measures` is reset
 * and left holding the sums. Synchronous sources only.
 */
export function evaluateSource(model: Module, source: BatchSource, loss: LossSpec, measures: Measures, name: string): EvaluateResult {
  const epoch = source.epoch(defaultGenerator);
  if (!(Symbol.iterator in epoch)) {
    throw new TypeError(`Expected synchronous data for ${name} (a dataset, a DataLoader over one, an iterable) but received an async stream`);
  }
  measures.reset();
  let count = 0;
  inEvalMode(model, () => {
    for (const batch of epoch) {
      measureBatch(model, batch, loss, measures);
      count += batch.size;
    }
  });
  return result(measures, count, name);
}

async function evaluateSourceAsync(model: Module, source: BatchSource, loss: LossSpec, measures: Measures): Promise<EvaluateResult> {
  measures.reset();
  let count = 0;
  const wasTraining = model.training;
  model.eval();
  try {
    for await (const batch of source.epoch(defaultGenerator)) {
      measureBatch(model, batch, loss, measures);
      count += batch.size;
    }
  } finally {
    model.train(wasTraining);
  }
  return result(measures, count, 'data');
}

/** The source and measures of an evaluation, disposed after `fn`. */
function withEvaluation<T>(model: Module, data: unknown, options: EvaluateOptions, fn: (source: BatchSource, loss: LossSpec, measures: Measures) => T): T {
  if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
  const loss = expectLoss(options.loss ?? new CrossEntropyLoss());
  const batchSize = expectInt(options.batchSize ?? 256, 'batchSize', 1);
  const source = batchSource(data, model.device, { batchSize }, 'data');
  const measures = new Measures(model.device, loss, options.metrics ?? defaultMetrics(loss));
  const release = () => {
    measures.dispose();
    source.dispose();
  };
  let value: T;
  try {
    value = fn(source, loss, measures);
  } catch (error) {
    release();
    throw error;
  }
  if (value instanceof Promise) return value.finally(release) as T;
  release();
  return value;
}

/**
 * The mean loss and metrics of `model` on `data` (in eval mode; its mode restored), e.g.
 * `{ loss, metrics: { accuracy }, accuracy, count }` with the default cross-entropy. For data that
 * streams asynchronously use evaluateAsync().
 */
export function evaluate(model: Module, data: SyncData, options: EvaluateOptions = {}): EvaluateResult {
  if (!isSyncData(data)) {
    throw new TypeError('Expected synchronous data for evaluate() (a dataset, a DataLoader over one, an iterable of batches) but received an async stream: use await evaluateAsync(model, data)');
  }
  return withEvaluation(model, data, options, (source, loss, measures) => evaluateSource(model, source, loss, measures, 'data'));
}

/** evaluate() for any data, streams (IterableDataset, async generators) included. */
export async function evaluateAsync(model: Module, data: FitData, options: EvaluateOptions = {}): Promise<EvaluateResult> {
  return withEvaluation(model, data, options, (source, loss, measures) => evaluateSourceAsync(model, source, loss, measures));
}

/** What predict() and its helpers take: inputs as one tensor [N, ...], or data as evaluate() takes it (the targets unused). */
export type PredictInput = Tensor | SyncData;

/**
 * The model's outputs for every sample of `input`, in order, in eval mode: a CPU tensor
 * [N, ...output shape], as the model returns them (no softmax: see predictProbabilities and
 * predictClasses for classifiers). A tensor input runs in batches of options.batchSize rows.
 */
export function predict(model: Module, input: PredictInput, options: { batchSize?: number } = {}): Tensor {
  return collectOutputs(model, input, options.batchSize, (y) => y, 'predict()');
}

/** Class probabilities [N, C] (softmax of a classifier's outputs [N, C]), on the CPU. */
export function predictProbabilities(model: Module, input: PredictInput, options: { batchSize?: number } = {}): Tensor {
  return collectOutputs(model, input, options.batchSize, (y) => {
    if (y.shape.length !== 2) throw new RangeError(`Expected a classifier's outputs of shape [N, C] for predictProbabilities() but received [${y.shape.join(', ')}]`);
    return softmax(y);
  }, 'predictProbabilities()');
}

/** The predicted class of every sample (the first largest of a classifier's outputs [N, C]; as torch.argmax, the first NaN of a row wins). */
export function predictClasses(model: Module, input: PredictInput, options: { batchSize?: number } = {}): Int32Array {
  const scores = predict(model, input, options);
  if (scores.shape.length !== 2) throw new RangeError(`Expected a classifier's outputs of shape [N, C] for predictClasses() but received [${scores.shape.join(', ')}]`);
  const [n, c] = scores.shape;
  const values = scores.data;
  const classes = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let k = 1; k < c && !Number.isNaN(values[i * c + best]); k++) {
      if (Number.isNaN(values[i * c + k]) || values[i * c + k] > values[i * c + best]) best = k;
    }
    classes[i] = best;
  }
  return classes;
}

/** Every batch's outputs (through `transform`, on the device) copied to the host and joined. */
function collectOutputs(model: Module, input: PredictInput, batchSize: number | undefined, transform: (y: Tensor) => Tensor, name: string): Tensor {
  const size = expectInt(batchSize ?? 256, 'batchSize', 1);
  const chunks: { values: Float32Array; shape: readonly number[] }[] = [];
  const run = (x: Tensor) =>
    model.inference(() =>
      tidy(() => {
        const y = transform(model.forward(x));
        chunks.push({ values: y.toArray() as Float32Array, shape: y.shape });
      }),
    );
  inEvalMode(model, () => {
    if (input instanceof Tensor) {
      if (input.shape.length === 0) fail('a tensor of inputs [N, ...]', 'input', input, RangeError);
      for (let start = 0; start < input.shape[0]; start += size) {
        tidy(() => run(toDevice(rows(input, start, Math.min(size, input.shape[0] - start)), model.device)));
      }
      return;
    }
    if (!isSyncData(input)) throw new TypeError(`Expected a tensor or synchronous data for ${name} but received an async stream`);
    const source = batchSource(input, model.device, { batchSize: size }, 'input');
    try {
      for (const batch of source.epoch(defaultGenerator) as Iterable<Batch>) run(batch.x);
    } finally {
      source.dispose();
    }
  });
  if (chunks.length === 0) throw new RangeError(`Expected at least one sample for ${name} but received none`);
  const rowShape = chunks[0].shape.slice(1);
  const count = chunks.reduce((n, c) => n + c.shape[0], 0);
  const out = new Float32Array(chunks.reduce((n, c) => n + c.values.length, 0));
  let offset = 0;
  for (const c of chunks) {
    out.set(c.values, offset);
    offset += c.values.length;
  }
  return Tensor.from(out, [count, ...rowShape]);
}

/** Rows [start, start + n) of x: a view of the array on the CPU, a copy on the device otherwise. */
function rows(x: Tensor, start: number, n: number): Tensor {
  if (start === 0 && n === x.shape[0]) return x;
  const row = x.size / x.shape[0];
  if (x.device === 'cpu') return Tensor.from(x.data.subarray(start * row, (start + n) * row), [n, ...x.shape.slice(1)], { dtype: x.dtype });
  if (x.dtype === 'float32') return narrow(x, 0, start, n);
  return Tensor.from(x.toArray().subarray(start * row, (start + n) * row), [n, ...x.shape.slice(1)], { dtype: x.dtype, device: x.device });
}
