/**
 * BatchNorm1d and BatchNorm2d, after torch.nn: normalisation per channel with the batch's
 * statistics in training (updating running_mean/running_var with `momentum`, or their cumulative
 * average for momentum null) and the running statistics in eval mode; optional affine weight
 * (ones) and bias (zeros). Parameters and buffers carry PyTorch's state_dict names: weight, bias,
 * running_mean, running_var, num_batches_tracked (a one-element float32 tensor of shape [] here;
 * int64 in PyTorch, whose load_state_dict converts it). Op: lib/ops/batchnorm.ts.
 */
import { isExplicitMode } from '../autograd/grad_mode';
import { batchNorm, batchNormBackward, type BatchNormSaved } from '../ops/batchnorm';
import { expectFinite } from '../ops/checks';
import { Tensor } from '../tensor';
import { expectBoolean, expectInt, fail } from '../validate';
import { pyFloat } from './activation';
import * as F from './functional';
import { ones } from './init';
import { Buffer, type LayerConfig, Module, Parameter } from './module';

/** Options of BatchNorm1d and BatchNorm2d, as torch.nn's (eps, momentum, affine, track_running_stats). */
export interface BatchNormLayerOptions {
  /** Default 1e-5. */
  eps?: number;
  /** Default 0.1; null: cumulative moving average of the batch statistics. */
  momentum?: number | null;
  /** Learnable weight and bias (default true). */
  affine?: boolean;
  /** Keep running statistics for eval mode (default true); without them eval uses batch statistics. */
  trackRunningStats?: boolean;
}

abstract class BatchNorm extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number | null;
  readonly affine: boolean;
  readonly trackRunningStats: boolean;
  readonly weight: Parameter | null;
  readonly bias: Parameter | null;
  /** Running statistics (null without trackRunningStats); they change in place during training. */
  readonly runningMean: Buffer | null;
  readonly runningVar: Buffer | null;
  readonly numBatchesTracked: Buffer | null;
  private input: Tensor | undefined;
  private stats: BatchNormSaved | undefined;

  constructor(numFeatures: number, options: BatchNormLayerOptions = {}) {
    super();
    if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
    this.numFeatures = expectInt(numFeatures, 'numFeatures', 1);
    this.eps = expectFinite(options.eps ?? 1e-5, 'options.eps', 0);
    this.momentum = options.momentum === null ? null : expectFinite(options.momentum ?? 0.1, 'options.momentum', 0);
    this.affine = expectBoolean(options.affine ?? true, 'options.affine');
    this.trackRunningStats = expectBoolean(options.trackRunningStats ?? true, 'options.trackRunningStats');
    this.weight = this.affine ? new Parameter(ones(Tensor.zeros([numFeatures]))) : null;
    this.bias = this.affine ? new Parameter(Tensor.zeros([numFeatures])) : null;
    // PyTorch's state_dict names (the fields are camelCase).
    const track = this.trackRunningStats;
    this.runningMean = this.registerBuffer('running_mean', track ? Tensor.zeros([numFeatures]) : null);
    this.runningVar = this.registerBuffer('running_var', track ? ones(Tensor.zeros([numFeatures])) : null);
    this.numBatchesTracked = this.registerBuffer('num_batches_tracked', track ? Tensor.zeros([]) : null);
  }

  /** Throws unless `input` is a shape this layer accepts (rank and channel count). */
  protected abstract checkInput(input: readonly number[]): void;

  forward(x: Tensor): Tensor {
    this.checkInput(x.shape);
    // As torch: batch statistics in training, and in eval mode when no running statistics are kept.
    const useBatchStats = this.training || !this.trackRunningStats;
    const update = this.training && this.trackRunningStats;
    const c = this.numFeatures;
    const runningMean = update || !useBatchStats ? this.runningMean : null;
    const runningVar = update || !useBatchStats ? this.runningVar : null;
    const options = {
      training: useBatchStats,
      // Without running statistics to update the momentum is unused (null would ask for a counter).
      momentum: update ? this.momentum : 0.1,
      eps: this.eps,
      numBatchesTracked: update ? this.numBatchesTracked : null,
    };
    if (!isExplicitMode()) return this.recordedForward(F.batchNorm(x, runningMean, runningVar, this.weight, this.bias, options));
    const result = batchNorm(
      x,
      runningMean,
      runningVar,
      this.weight,
      this.bias,
      options,
      {
        y: this.workspace.get('y', x.shape, x.device),
        saveMean: useBatchStats ? this.workspace.get('saveMean', [c], x.device) : undefined,
        saveInvstd: useBatchStats ? this.workspace.get('saveInvstd', [c], x.device) : undefined,
      },
    );
    this.input = x;
    this.stats = result.saved;
    this.savedForBackward();
    return result.y;
  }

  override backward(dy: Tensor): Tensor | null {
    const x = this.saved(this.input, 'input');
    const stats = this.saved(this.stats, 'statistics');
    this.consumedByBackward();
    return batchNormBackward(dy, x, this.weight, stats, {
      inputGrad: this.inputGrad,
      weightGrad: this.affine,
      biasGrad: this.affine,
      accumulate: true,
      out: {
        dx: this.inputGrad ? this.workspace.get('dx', x.shape, x.device) : undefined,
        dweight: this.weight?.grad,
        dbias: this.bias?.grad,
      },
    }).dx;
  }

  override outputShape(input: readonly number[]): number[] {
    this.checkInput(input);
    return [...input];
  }

  protected configFields(type: string): LayerConfig {
    return {
      type,
      numFeatures: this.numFeatures,
      eps: this.eps,
      momentum: this.momentum,
      affine: this.affine,
      trackRunningStats: this.trackRunningStats,
    };
  }

  protected describe(type: string): string {
    const momentum = this.momentum === null ? 'None' : pyFloat(this.momentum);
    const py = (b: boolean) => (b ? 'True' : 'False');
    return `${type}(${this.numFeatures}, eps=${pyFloat(this.eps)}, momentum=${momentum}, affine=${py(this.affine)}, track_running_stats=${py(this.trackRunningStats)})`;
  }

  protected channelMismatch(input: readonly number[]): void {
    if (input[1] !== this.numFeatures) {
      throw new RangeError(
        `Expected input with ${this.numFeatures} channels (dimension 1) for ${this.constructor.name} but received shape [${input.join(', ')}]`,
      );
    }
  }
}

/** torch.nn.BatchNorm1d(numFeatures): input [N, C] or [N, C, L]. */
export class BatchNorm1d extends BatchNorm {
  protected checkInput(input: readonly number[]): void {
    if (input.length !== 2 && input.length !== 3) {
      throw new RangeError(`Expected input of shape [N, ${this.numFeatures}] or [N, ${this.numFeatures}, L] for BatchNorm1d but received [${input.join(', ')}]`);
    }
    this.channelMismatch(input);
  }
  override config(): LayerConfig {
    return this.configFields('BatchNorm1d');
  }
  override toString(): string {
    return this.describe('BatchNorm1d');
  }
}

/** torch.nn.BatchNorm2d(numFeatures): input [N, C, H, W]. */
export class BatchNorm2d extends BatchNorm {
  protected checkInput(input: readonly number[]): void {
    if (input.length !== 4) {
      throw new RangeError(`Expected input of shape [N, ${this.numFeatures}, H, W] for BatchNorm2d but received [${input.join(', ')}]`);
    }
    this.channelMismatch(input);
  }
  override config(): LayerConfig {
    return this.configFields('BatchNorm2d');
  }
  override toString(): string {
    return this.describe('BatchNorm2d');
  }
}
