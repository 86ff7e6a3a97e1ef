/**
 * The loss and metrics of a training epoch (or an evaluation), summed on the model's device and
 * read once at the end: a training step adds to device tensors and never waits for the GPU.
 *
 *   lossStats [2]: Σ over samples of the loss, and the loss kernel's second statistic (the number of
 *     correct predictions for CrossEntropyLoss, the element accuracy for BCEWithLogitsLoss). A napinet
 *     loss adds both itself (forward/apply with accumulateInto); a loss function's batch mean is
 *     added times the batch size.
 *   metricSums [k]: Σ over samples of each metric not read from lossStats, one slot each (a 0-d view
 *     of the tensor, written by one accumulating kernel per batch).
 *
 * Metrics: 'accuracy' (class labels: int32 targets [N] against outputs [N, C], the first largest
 * output; with BCEWithLogitsLoss, (output > 0) = (target > 0.5) per element), 'mae' and 'mse' (float
 * targets of the output's shape, per sample the mean over its elements), or a function (output,
 * target) → the batch's mean as a one-element tensor. Every epoch figure is Σ / samples.
 */
import { noGrad } from '../autograd/grad_mode';
import type { Device } from '../device';
import { keep, tidy } from '../memory';
import { BCEWithLogitsLoss, CrossEntropyLoss, type LossFunction, MSELoss } from '../nn/loss';
import * as E from '../ops/elementwise';
import { softmaxCrossEntropy } from '../ops/loss';
import { mseLoss } from '../ops/pointwise_loss';
import { reduce } from '../ops/reduce';
import type { StridedTensor } from '../ops/views';
import { Tensor } from '../tensor';
import { describe, fail } from '../validate';

/** A loss: a napinet loss object, or a function (output, target) → the batch's mean loss (a one-element tensor), differentiated by autograd. */
export type LossSpec = LossFunction | ((output: Tensor, target: Tensor) => Tensor);

/** (output, target) → the batch's mean of the metric, as a one-element tensor. */
export type MetricFunction = (output: Tensor, target: Tensor) => Tensor;

/** A metric by name or as a function (named by the function's name). */
export type MetricSpec = 'accuracy' | 'mae' | 'mse' | MetricFunction;

/** Whether `loss` is a napinet loss object (else a function). */
export function isLossObject(loss: LossSpec): loss is LossFunction {
  return typeof loss !== 'function';
}

/** `loss` checked: a loss object with apply() or a function. */
export function expectLoss(loss: unknown): LossSpec {
  if (typeof loss === 'function') return loss as LossSpec;
  if (typeof loss === 'object' && loss !== null && typeof (loss as LossFunction).apply === 'function') return loss as LossFunction;
  return fail('a napinet loss (nn.CrossEntropyLoss, nn.MSELoss, …) or a function (output, target) => loss tensor', 'loss', loss);
}

/** The metrics measured when none are named: accuracy where the loss counts it, else none. */
export function defaultMetrics(loss: LossSpec): MetricSpec[] {
  return loss instanceof CrossEntropyLoss || loss instanceof BCEWithLogitsLoss ? ['accuracy'] : [];
}

/** A metric's name: the string, or the function's name. */
function metricName(spec: MetricSpec, index: number): string {
  if (spec === 'accuracy' || spec === 'mae' || spec === 'mse') return spec;
  if (typeof spec !== 'function') fail("'accuracy', 'mae', 'mse' or a function (output, target) => tensor", `metrics[${index}]`, spec);
  if (!spec.name) fail('a named function (its name names the metric in the history)', `metrics[${index}]`, spec);
  return spec.name;
}

/** Adds `n` × (the one-element tensor `value`) into `slot`, on the device. */
function addScaled(slot: StridedTensor, value: Tensor, n: number): void {
  E.binary('mul', { tensor: value, view: { shape: [], strides: [], offset: 0 } }, n, { out: slot, accumulate: true });
}

/** Element `index` of a tensor, as a 0-d view. */
function element(tensor: Tensor, index: number): StridedTensor {
  return { tensor, view: { shape: [], strides: [], offset: index } };
}

/** How one metric is summed: from the loss's statistics, or computed into its own slot. */
type Summing = { from: 'lossStats' } | { from: 'slot'; index: number; add(output: Tensor, target: Tensor, slot: StridedTensor): void };

export class Measures {
  /** Metric names, in the order given. */
  readonly names: string[];
  /** [Σ loss, the loss's second statistic], on the device. */
  readonly lossStats: Tensor;
  private readonly sums: Tensor | null;
  private readonly summing: Summing[];
  private readonly lossName: string;
  private checked = false;

  constructor(device: Device, private readonly loss: LossSpec, metrics: MetricSpec[]) {
    if (!Array.isArray(metrics)) fail("an array of metrics ('accuracy', 'mae', 'mse' or functions)", 'metrics', metrics);
    this.names = metrics.map(metricName);
    const duplicate = this.names.find((n, i) => this.names.indexOf(n) !== i);
    if (duplicate !== undefined) fail('metrics with distinct names', 'metrics', duplicate);
    this.lossName = isLossObject(loss) ? loss.constructor.name : 'the loss function';
    let slots = 0;
    this.summing = metrics.map((spec) => {
      if (spec === 'accuracy' && (loss instanceof CrossEntropyLoss || loss instanceof BCEWithLogitsLoss)) return { from: 'lossStats' };
      const index = slots++;
      if (spec === 'accuracy') return { from: 'slot', index, add: addAccuracy };
      if (spec === 'mse') return { from: 'slot', index, add: addMse };
      if (spec === 'mae') return { from: 'slot', index, add: addMae };
      return { from: 'slot', index, add: (output: Tensor, target: Tensor, slot: StridedTensor) => addFunctionMetric(spec, output, target, slot) };
    });
    this.lossStats = keep(Tensor.zeros([2], { device }));
    this.sums = slots > 0 ? keep(Tensor.zeros([slots], { device })) : null;
  }

  /** Whether every metric comes from the loss's own statistics (a step then computes nothing more). */
  get fromLossOnly(): boolean {
    return this.sums === null;
  }

  /** Zeroes the sums, or sets them to a resumed epoch's values. */
  reset(stats: readonly number[] = [0, 0], metricSums?: readonly number[]): void {
    this.lossStats.copyFrom(Float32Array.from(stats));
    if (this.sums) this.sums.copyFrom(metricSums && metricSums.length === this.sums.size ? Float32Array.from(metricSums) : new Float32Array(this.sums.size));
  }

  /**
   * Checks once, before the first step, that the targets suit the loss and the metrics (cheap: dtypes
   * and ranks, no read from the device), with a message that says what to change.
   */
  checkTargets(target: Tensor): void {
    if (this.checked) return;
    this.checked = true;
    const loss = this.loss;
    if (loss instanceof CrossEntropyLoss && (target.dtype !== 'int32' || target.shape.length !== 1)) {
      throw new TypeError(
        `Expected int32 class labels of shape [N] as targets for CrossEntropyLoss (fit's default loss) but received a ${target.dtype} target of shape [${target.shape.join(', ')}]: ` +
          'for regression pass loss: new nn.MSELoss() (and float32 targets of the output\'s shape), or give class labels as an Int32Array / int32 tensor',
      );
    }
    if ((loss instanceof MSELoss || loss instanceof BCEWithLogitsLoss) && target.dtype !== 'float32') {
      throw new TypeError(
        `Expected float32 targets for ${loss.constructor.name} but received ${target.dtype} targets: class labels go with CrossEntropyLoss; ` +
          'for regression give float32 targets of the output\'s shape',
      );
    }
    this.summing.forEach((s, i) => {
      if (s.from === 'slot' && this.names[i] === 'accuracy' && (target.dtype !== 'int32' || target.shape.length !== 1)) {
        throw new TypeError(
          `Expected int32 class labels of shape [N] as targets for the metric 'accuracy' (or BCEWithLogitsLoss as the loss) but received a ${target.dtype} target of shape [${target.shape.join(', ')}]: ` +
            "for regression use the metrics 'mae' or 'mse'",
        );
      }
      if (s.from === 'slot' && (this.names[i] === 'mae' || this.names[i] === 'mse') && target.dtype !== 'float32') {
        throw new TypeError(`Expected float32 targets for the metric '${this.names[i]}' but received ${target.dtype} targets (class labels?): use 'accuracy'`);
      }
    });
  }

  /** Adds a loss function's batch mean (a one-element tensor) times the batch size into lossStats[0]. */
  addLoss(loss: Tensor, n: number): void {
    if (!(loss instanceof Tensor) || loss.size !== 1 || loss.dtype !== 'float32') {
      throw new TypeError(`Expected a one-element float32 tensor (the batch's mean loss) from the loss function but received ${loss instanceof Tensor ? String(loss) : describe(loss)}`);
    }
    addScaled(element(this.lossStats, 0), loss, n);
  }

  /** Adds the batch's metrics that are not in lossStats (computed without recording, their temporaries freed). */
  addMetrics(output: Tensor, target: Tensor): void {
    if (!this.sums) return;
    const sums = this.sums;
    noGrad(() =>
      tidy(() => {
        for (const s of this.summing) if (s.from === 'slot') s.add(output, target, element(sums, s.index));
      }),
    );
  }

  /** [Σ loss, second statistic] (reads from the device: waits for a GPU's queued steps). */
  readLossStats(): [number, number] {
    const [a, b] = this.lossStats.device === 'cpu' ? this.lossStats.data : this.lossStats.toArray();
    return [a, b];
  }

  /** The metric sums (reads from the device). */
  readMetricSums(): number[] {
    return this.sums ? Array.from(this.sums.toArray()) : [];
  }

  /** The means over `count` samples: the loss, and each metric by name. */
  means(count: number, lossStats = this.readLossStats(), metricSums = this.readMetricSums()): { loss: number; metrics: Record<string, number> } {
    const metrics: Record<string, number> = {};
    this.summing.forEach((s, i) => {
      metrics[this.names[i]] = (s.from === 'lossStats' ? lossStats[1] : metricSums[s.index]) / count;
    });
    return { loss: lossStats[0] / count, metrics };
  }

  /** Whether accuracy is read from lossStats[1] (the progress bar shows it then, at no extra cost). */
  get accuracyInLossStats(): boolean {
    return this.summing.some((s, i) => s.from === 'lossStats' && this.names[i] === 'accuracy');
  }

  /** Describes the loss in messages. */
  get lossDescription(): string {
    return this.lossName;
  }

  dispose(): void {
    this.lossStats.dispose();
    this.sums?.dispose();
  }
}

/** Correct predictions (first largest output = label) of the batch, from the cross-entropy kernel's count. */
function addAccuracy(output: Tensor, target: Tensor, slot: StridedTensor): void {
  if (output.shape.length !== 2) throw new RangeError(`Expected outputs of shape [N, C] for the metric 'accuracy' but received [${output.shape.join(', ')}]`);
  const { stats } = softmaxCrossEntropy(output, target);
  E.copy(element(stats, 1), { out: slot, accumulate: true });
}

/** Σ over samples of the sample's mean squared error (the MSE kernel's first statistic). */
function addMse(output: Tensor, target: Tensor, slot: StridedTensor): void {
  E.copy(element(mseLoss(output, target), 0), { out: slot, accumulate: true });
}

/** Σ over samples of the sample's mean absolute error: Σ|output − target| × samples / elements. */
function addMae(output: Tensor, target: Tensor, slot: StridedTensor): void {
  if (output.shape.length !== target.shape.length || output.shape.some((d, i) => d !== target.shape[i])) {
    throw new RangeError(`Expected a target of the output's shape [${output.shape.join(', ')}] for the metric 'mae' but received [${target.shape.join(', ')}]`);
  }
  const total = reduce('sum', E.unary('abs', E.binary('sub', output, target)));
  addScaled(slot, total, output.size > 0 ? output.shape[0] / output.size : 0);
}

function addFunctionMetric(fn: MetricFunction, output: Tensor, target: Tensor, slot: StridedTensor): void {
  const value = fn(output, target);
  if (!(value instanceof Tensor) || value.size !== 1 || value.dtype !== 'float32' || value.device !== output.device) {
    throw new TypeError(`Expected a one-element float32 tensor on ${output.device} (the batch's mean) from the metric ${fn.name} but received ${value instanceof Tensor ? String(value) : describe(value)}`);
  }
  addScaled(slot, value, output.shape[0]);
}
