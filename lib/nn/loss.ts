/**
 * CrossEntropyLoss, after torch.nn.CrossEntropyLoss (mean over the batch, label smoothing), with
 * the softmax fused in; BCEWithLogitsLoss and MSELoss, after torch.nn (mean reduction). forward()
 * leaves the loss on the device: read it with result.loss(), which waits for the GPU, so a training
 * loop can sum many batches on the device and read once. All three share the LossFunction interface.
 */
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../ops/loss';
import { bceWithLogits, bceWithLogitsBackward, mseLoss, mseLossBackward } from '../ops/pointwise_loss';
import { Tensor } from '../tensor';
import { expectNumber, fail } from '../validate';
import * as F from './functional';
import { Workspace } from './module';

/**
 * A loss's statistics over `count` samples, left on the device: stats = [Σ over samples of the
 * sample's loss, Σ over samples of its accuracy] (float32 [2]).
 */
export class LossResult {
  readonly stats: Tensor;
  readonly count: number;

  constructor(stats: Tensor, count: number) {
    this.stats = stats;
    this.count = count;
  }

  /** Mean loss over the samples counted (reads from the device). */
  loss(): number {
    return this.stats.toArray()[0] / this.count;
  }

  /** Mean accuracy over the samples counted (reads from the device); 0 for MSELoss. */
  accuracy(): number {
    return this.stats.toArray()[1] / this.count;
  }
}

/**
 * What a training loop needs of a loss: forward(output, target) → statistics on the device (added
 * into options.accumulateInto, a float32 [2] tensor, when given), then backward() → the gradient of
 * the batch mean with respect to the output of that forward().
 */
export interface LossFunction {
  /** The explicit style (inside explicit()): statistics now, the gradient from backward(). */
  forward(output: Tensor, target: Tensor, options?: { accumulateInto?: Tensor; accumulatedCount?: number }): LossResult;
  /** The explicit style: the gradient of the last forward()'s batch mean with respect to its output. */
  backward(): Tensor;
  /**
   * The loss as a recorded 0-d tensor (its mean over the batch), for autograd: loss.backward().
   * With accumulateInto, the batch's statistics (as forward's) are added to that [2] tensor too.
   */
  apply(output: Tensor, target: Tensor, options?: { accumulateInto?: Tensor }): Tensor;
  /** Frees the tensors the loss keeps between forward() and backward(). */
  dispose(): void;
}

/** CrossEntropyLoss's statistics: the second sum counts the samples whose largest logit is the label. */
export class CrossEntropyResult extends LossResult {}

export class CrossEntropyLoss implements LossFunction {
  readonly labelSmoothing: number;
  private readonly workspace = new Workspace();
  private probs: Tensor | undefined;
  private labels: Tensor | undefined;

  constructor(options: { labelSmoothing?: number } = {}) {
    this.labelSmoothing = expectNumber(options.labelSmoothing ?? 0, 'labelSmoothing', 0, 1);
  }

  /**
   * Loss of `logits` [N, C] against int32 `labels` [N]. With `accumulateInto` (a [2] tensor from
   * statsTensor()), the batch's loss sum and correct count are added to it instead.
   */
  forward(logits: Tensor, labels: Tensor, options: { accumulateInto?: Tensor; accumulatedCount?: number } = {}): CrossEntropyResult {
    const probs = this.workspace.get('probs', logits.shape, logits.device);
    // dlogits is made here, not by backward(): an allocation between the loss's forward and
    // backward calls would keep the GPU binding from fusing them (native/binding/cuda/deferred.h).
    this.workspace.get('dlogits', logits.shape, logits.device);
    const stats = statsFor(this.workspace, logits.device, options.accumulateInto);
    softmaxCrossEntropy(logits, labels, { labelSmoothing: this.labelSmoothing }, { probs, stats, accumulate: options.accumulateInto !== undefined });
    this.probs = probs;
    this.labels = labels;
    return new CrossEntropyResult(stats, options.accumulatedCount ?? logits.shape[0]);
  }

  apply(logits: Tensor, labels: Tensor, options: { accumulateInto?: Tensor } = {}): Tensor {
    return F.crossEntropy(logits, labels, { labelSmoothing: this.labelSmoothing, accumulateInto: options.accumulateInto });
  }

  /** Gradient of the mean loss with respect to the logits of the last forward(). */
  backward(): Tensor {
    if (!this.probs || !this.labels) throw new Error('CrossEntropyLoss.backward() needs a forward() first');
    const dlogits = this.workspace.get('dlogits', this.probs.shape, this.probs.device);
    return softmaxCrossEntropyBackward(this.probs, this.labels, { labelSmoothing: this.labelSmoothing }, dlogits);
  }

  /** Releases cached buffers (GPU memory). */
  dispose(): void {
    this.workspace.release();
  }

  toString(): string {
    return `CrossEntropyLoss(label_smoothing=${this.labelSmoothing})`;
  }
}

/** The statistics tensor to use: options.accumulateInto, or the workspace's own [2] tensor. */
function statsFor(workspace: Workspace, device: Tensor['device'], accumulateInto: Tensor | undefined): Tensor {
  return accumulateInto ?? workspace.get('stats', [2], device);
}

/**
 * BCEWithLogitsLoss, after torch.nn.BCEWithLogitsLoss (reduction 'mean', optional pos_weight): a
 * sigmoid and binary cross-entropy in one numerically stable formula. The output holds logits of
 * any shape [N, …] and the target, of the same shape, probabilities in [0, 1]. result.accuracy() is
 * the mean fraction of elements with (logit > 0) = (target > 0.5).
 */
export class BCEWithLogitsLoss implements LossFunction {
  /** Weight of the positive term per class (the last dimension), or null. */
  readonly posWeight: Tensor | null;
  private readonly workspace = new Workspace();
  private devicePosWeight: Tensor | null = null;
  private input: Tensor | undefined;
  private target: Tensor | undefined;

  constructor(options: { posWeight?: Tensor | ArrayLike<number> | null } = {}) {
    const w = options.posWeight ?? null;
    if (w === null) {
      this.posWeight = null;
    } else if (w instanceof Tensor) {
      if (w.shape.length !== 1 || w.dtype !== 'float32') fail('a float32 tensor of rank 1', 'posWeight', w);
      this.posWeight = w;
    } else if (typeof (w as ArrayLike<number>).length === 'number') {
      this.posWeight = Tensor.from(Float32Array.from(w as ArrayLike<number>));
    } else {
      fail('a Tensor or an array of numbers', 'posWeight', w);
    }
  }

  /** posWeight on `device` (copied there once). */
  private posWeightOn(device: Tensor['device']): Tensor | null {
    if (this.posWeight === null) return null;
    if (this.posWeight.device === device) return this.posWeight;
    if (this.devicePosWeight?.device !== device) {
      this.devicePosWeight?.dispose();
      this.devicePosWeight = this.posWeight.to(device);
    }
    return this.devicePosWeight;
  }

  forward(logits: Tensor, target: Tensor, options: { accumulateInto?: Tensor; accumulatedCount?: number } = {}): LossResult {
    const stats = statsFor(this.workspace, logits.device, options.accumulateInto);
    bceWithLogits(logits, target, { posWeight: this.posWeightOn(logits.device) }, { stats, accumulate: options.accumulateInto !== undefined });
    this.input = logits;
    this.target = target;
    return new LossResult(stats, options.accumulatedCount ?? logits.shape[0]);
  }

  apply(logits: Tensor, target: Tensor, options: { accumulateInto?: Tensor } = {}): Tensor {
    return F.binaryCrossEntropyWithLogits(logits, target, { posWeight: this.posWeightOn(logits.device), accumulateInto: options.accumulateInto });
  }

  /** Gradient of the mean loss with respect to the logits of the last forward(). */
  backward(): Tensor {
    if (!this.input || !this.target) throw new Error('BCEWithLogitsLoss.backward() needs a forward() first');
    const dx = this.workspace.get('dlogits', this.input.shape, this.input.device);
    return bceWithLogitsBackward(this.input, this.target, { posWeight: this.posWeightOn(this.input.device) }, dx);
  }

  /** Releases cached buffers (GPU memory). */
  dispose(): void {
    this.workspace.release();
    this.devicePosWeight?.dispose();
    this.devicePosWeight = null;
  }

  toString(): string {
    return `BCEWithLogitsLoss(${this.posWeight ? 'pos_weight=[' + this.posWeight.toArray().join(', ') + ']' : ''})`;
  }
}

/** MSELoss, after torch.nn.MSELoss (reduction 'mean'): the mean of (output − target)² over all elements. */
export class MSELoss implements LossFunction {
  private readonly workspace = new Workspace();
  private input: Tensor | undefined;
  private target: Tensor | undefined;

  forward(output: Tensor, target: Tensor, options: { accumulateInto?: Tensor; accumulatedCount?: number } = {}): LossResult {
    const stats = statsFor(this.workspace, output.device, options.accumulateInto);
    mseLoss(output, target, { stats, accumulate: options.accumulateInto !== undefined });
    this.input = output;
    this.target = target;
    return new LossResult(stats, options.accumulatedCount ?? output.shape[0]);
  }

  apply(output: Tensor, target: Tensor, options: { accumulateInto?: Tensor } = {}): Tensor {
    return F.mseLoss(output, target, { accumulateInto: options.accumulateInto });
  }

  /** Gradient of the mean loss with respect to the output of the last forward(). */
  backward(): Tensor {
    if (!this.input || !this.target) throw new Error('MSELoss.backward() needs a forward() first');
    return mseLossBackward(this.input, this.target, {}, this.workspace.get('doutput', this.input.shape, this.input.device));
  }

  /** Releases cached buffers (GPU memory). */
  dispose(): void {
    this.workspace.release();
  }

  toString(): string {
    return 'MSELoss()';
  }
}
