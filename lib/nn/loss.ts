/**
 * CrossEntropyLoss, after torch.nn.CrossEntropyLoss (mean over the batch, label smoothing), with
 * the softmax fused in. forward() leaves the loss on the device: read it with result.loss(), which
 * waits for the GPU, so a training loop can sum many batches on the device and read once.
 */
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../ops/loss';
import type { Tensor } from '../tensor';
import { expectNumber } from '../validate';
import { Workspace } from './module';

export class CrossEntropyResult {
  /** [sum of per-sample losses, correctly classified count] over `count` samples. */
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

  /** Fraction of samples whose largest logit is the label (reads from the device). */
  accuracy(): number {
    return this.stats.toArray()[1] / this.count;
  }
}

export class CrossEntropyLoss {
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
    const stats = options.accumulateInto ?? this.workspace.get('stats', [2], logits.device);
    softmaxCrossEntropy(logits, labels, { labelSmoothing: this.labelSmoothing }, { probs, stats, accumulate: options.accumulateInto !== undefined });
    this.probs = probs;
    this.labels = labels;
    return new CrossEntropyResult(stats, options.accumulatedCount ?? logits.shape[0]);
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
