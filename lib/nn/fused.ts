/**
 * Fused steps of Sequential's execution plan: runs of built-in layers that one kernel computes in
 * one pass (each with the same values and gradients as its layers run one by one), and the
 * interface Sequential drives them through.
 *
 * ConvPoolStep: Conv2d → MaxPool2d(2) (→ ReLU) run as one step of Sequential's execution plan,
 * through the fused op (ops.conv2dMaxPool2d): on the CPU one pass over the convolution's output
 * instead of three, and a backward pass that writes the pooled gradient straight into the
 * convolution's weight gradient; on a GPU two launches instead of three forward and three instead
 * of four backward. Values and gradients are bit-identical to running the three layers on the same
 * device (test/conv2d_pool.test.ts). It uses the Conv2d's parameters and accumulates into their gradients
 * as Conv2d.backward does; its only state is the last forward's input, indices and output.
 */
import { isExplicitMode, isInferenceOnly } from '../autograd/grad_mode';
import { keep, type Storage } from '../memory';
import { conv2dMaxPool2d, conv2dMaxPool2dBackward, type Conv2dMaxPool2dOptions, conv2dOutputShape } from '../ops/conv2d';
import { type Conv2dBatchNormReluResult, conv2dBatchNormRelu, conv2dBatchNormReluBackward, conv2dBatchNormReluRecomputes, conv2dRelu } from '../ops/conv2d_batchnorm';
import { Tensor } from '../tensor';
import { ReLU } from './activation';
import { BatchNorm2d } from './batchnorm';
import { Conv2d } from './conv2d';
import * as F from './functional';
import { type Module, Workspace } from './module';
import { MaxPool2d } from './pool2d';

/** What Sequential needs of a fused step. */
export interface FusedStep {
  /** The layers the step stands for, in the order Sequential runs them when it does not fuse. */
  readonly layers: Module[];
  /** Whether the fused kernel can take `x` now (else Sequential runs the layers one by one). */
  accepts(x: Tensor): boolean;
  forward(x: Tensor): Tensor;
  /** Gradients of the layers' parameters (accumulated) and, when inputGrad, the input's (returned). */
  backward(dy: Tensor, inputGrad: boolean): Tensor | null;
  /** Frees the step's buffers. */
  release(): void;
}

/** Whether a MaxPool2d is the plain 2×2 window with stride 2 and no padding the fused kernels take. */
function isPool2x2(layer: Module | undefined): layer is MaxPool2d {
  if (!(layer instanceof MaxPool2d)) return false;
  const is = (pair: readonly number[], value: number) => pair[0] === value && pair[1] === value;
  return is(layer.kernelSize, 2) && is(layer.stride, 2) && is(layer.padding, 0);
}

/**
 * A convolution layer's output shape, and its 2×2-pooled shape, for the last input shape asked
 * about: a tensor's shape array is frozen, so the same array is the same shape, and a step called
 * on the same (reused) input again computes nothing.
 */
class ConvShapes {
  private input: readonly number[] | undefined;
  private convShape: number[] = [];
  private pooledShape: number[] | null = null;

  constructor(private readonly layer: Conv2d) {}

  /** [N, K, OH, OW] for an input of `shape` (throws for a shape the convolution cannot take). */
  conv(shape: readonly number[]): number[] {
    this.update(shape);
    return this.convShape;
  }

  /** [N, K, ⌊OH/2⌋, ⌊OW/2⌋], or null when the convolution's output is under 2×2. */
  pooled(shape: readonly number[]): number[] | null {
    this.update(shape);
    return this.pooledShape;
  }

  private update(shape: readonly number[]): void {
    if (shape === this.input) return;
    const { layer } = this;
    const [n, k, oh, ow] = conv2dOutputShape(shape, layer.weight.shape, { stride: layer.stride, padding: layer.padding });
    this.convShape = [n, k, oh, ow];
    this.pooledShape = oh >= 2 && ow >= 2 ? [n, k, Math.floor(oh / 2), Math.floor(ow / 2)] : null;
    this.input = shape;
  }
}

export class ConvPoolStep implements FusedStep {
  readonly conv: Conv2d;
  readonly pool: MaxPool2d;
  readonly relu: ReLU | null;
  private readonly workspace = new Workspace();
  private readonly shapes: ConvShapes;
  private input: Tensor | undefined;
  private indices: Tensor | undefined;
  private output: Tensor | undefined;

  private constructor(conv: Conv2d, pool: MaxPool2d, relu: ReLU | null) {
    this.conv = conv;
    this.pool = pool;
    this.relu = relu;
    this.fusedOptions = { stride: conv.stride, padding: conv.padding, relu: relu !== null };
    this.shapes = new ConvShapes(conv);
  }

  /**
   * The step for `layers[i..]` when they start with Conv2d, MaxPool2d with a 2×2 window, stride 2
   * and no padding, and optionally a ReLU; undefined otherwise.
   */
  static match(layers: readonly Module[], i: number): ConvPoolStep | undefined {
    const [conv, pool, relu] = [layers[i], layers[i + 1], layers[i + 2]];
    if (!(conv instanceof Conv2d) || !isPool2x2(pool)) return undefined;
    return new ConvPoolStep(conv, pool, relu instanceof ReLU ? relu : null);
  }

  /** The layers this step stands for, in execution order. */
  get layers(): Module[] {
    return this.relu ? [this.conv, this.pool, this.relu] : [this.conv, this.pool];
  }

  /** Whether the fused kernel can take `x`: a tensor whose convolution output is at least 2×2. */
  accepts(x: Tensor): boolean {
    if (x.shape.length !== 4 || x.dtype !== 'float32') return false;
    try {
      return this.shapes.pooled(x.shape) !== null;
    } catch {
      return false; // the layers themselves report the problem
    }
  }

  private get options() {
    return { stride: this.conv.stride, padding: this.conv.padding };
  }

  /** The fused op's options (the layers' settings are fixed at construction). */
  private readonly fusedOptions: Conv2dMaxPool2dOptions;

  forward(x: Tensor): Tensor {
    const fused = this.fusedOptions;
    if (!isExplicitMode()) {
      this.input = this.indices = this.output = undefined; // backward() must not differentiate an older explicit forward
      return F.conv2dMaxPool2d(x, this.conv.weight, this.conv.bias, fused);
    }
    const shape = this.shapes.pooled(x.shape);
    if (shape === null) return conv2dMaxPool2d(x, this.conv.weight, this.conv.bias, fused).y; // under 2×2: the op says why
    const out = { y: this.workspace.get('y', shape, x.device), indices: this.workspace.get('indices', shape, x.device, 'int32') };
    conv2dMaxPool2d(x, this.conv.weight, this.conv.bias, fused, out);
    this.input = x;
    this.indices = out.indices;
    this.output = out.y;
    return out.y;
  }

  /** Gradients for the conv's parameters (accumulated) and, when inputGrad, the input's (returned). */
  backward(dy: Tensor, inputGrad: boolean): Tensor | null {
    const x = this.input;
    if (x === undefined || this.indices === undefined || this.output === undefined) {
      throw new Error('ConvPoolStep.backward() needs a forward() first (no saved input)');
    }
    const grads = conv2dMaxPool2dBackward(dy, this.indices, this.relu ? this.output : null, x, this.conv.weight, {
      ...this.options,
      inputGrad,
      biasGrad: this.conv.bias !== null,
      accumulate: true,
      out: { dx: inputGrad ? this.workspace.get('dx', x.shape, x.device) : undefined, dw: this.conv.weight.grad, db: this.conv.bias?.grad ?? null },
    });
    return grads.dx;
  }

  release(): void {
    this.workspace.release();
    this.input = this.indices = this.output = undefined;
  }
}

/**
 * ConvBnReluStep: Conv2d → BatchNorm2d → ReLU (→ MaxPool2d(2)) in training, run through the fused
 * op (ops.conv2dBatchNormRelu) on the CPU in the explicit style: the batch norm's statistics are
 * gathered as the convolution writes its output, one pass then normalises, rectifies (and pools),
 * and the backward pass is one pass for the batch norm's sums plus the convolution's, which computes
 * each sample's gradient through the ReLU and the batch norm as it goes (no intermediate tensor but
 * the convolution's output z). Values, gradients and running statistics are bit-identical to the
 * layers run one by one (BatchNorm2d, MaxPool2d, ReLU: Sequential's order for a ReLU before a pool)
 * (test/conv2d_batchnorm.test.ts), but for a first layer's block (few input channels, no dx): there
 * z is not kept, and the weight gradients come from one read of dy and y with their sums regrouped
 * (equal to rounding; native/kernels/conv2d_batchnorm.h). In eval mode inside explicitInference() (Module.inference(), a
 * Predictor) the batch norm is folded into the convolution instead (FoldedConvBatchNorm), as
 * onnxruntime does. Anywhere else — a recorded (autograd) forward, eval mode in explicit(), a CUDA
 * tensor — Sequential runs the layers one by one.
 */
export class ConvBnReluStep implements FusedStep {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly relu: ReLU;
  readonly pool: MaxPool2d | null;
  private readonly workspace = new Workspace();
  private readonly shapes: ConvShapes;
  private readonly folded: FoldedConvBatchNorm;
  /** conv2dRelu's options with the pool. */
  private readonly poolOptions: { stride: [number, number]; padding: [number, number]; pool: boolean };
  private input: Tensor | undefined;
  private saved: Conv2dBatchNormReluResult | undefined;
  /** Whether the last forward was the folded (inference-only) one. */
  private foldedLast = false;
  /** Whether the last backward computed dx (the first is taken not to). */
  private inputGradLast = false;

  private constructor(conv: Conv2d, bn: BatchNorm2d, relu: ReLU, pool: MaxPool2d | null) {
    this.conv = conv;
    this.bn = bn;
    this.relu = relu;
    this.pool = pool;
    this.shapes = new ConvShapes(conv);
    this.folded = new FoldedConvBatchNorm(conv, bn);
    this.poolOptions = { stride: conv.stride, padding: conv.padding, pool: true };
  }

  /** The step for `layers[i..]` when they start with Conv2d, BatchNorm2d, ReLU (and a 2×2 MaxPool2d). */
  static match(layers: readonly Module[], i: number): ConvBnReluStep | undefined {
    const [conv, bn, relu, pool] = [layers[i], layers[i + 1], layers[i + 2], layers[i + 3]];
    if (!(conv instanceof Conv2d) || !(bn instanceof BatchNorm2d) || !(relu instanceof ReLU)) return undefined;
    return new ConvBnReluStep(conv, bn, relu, isPool2x2(pool) ? pool : null);
  }

  /** In the order the layers run unfused: a ReLU followed by a max-pool runs after it. */
  get layers(): Module[] {
    return this.pool ? [this.conv, this.bn, this.pool, this.relu] : [this.conv, this.bn, this.relu];
  }

  private get options() {
    return { stride: this.conv.stride, padding: this.conv.padding };
  }

  /**
   * A float32 CPU batch whose convolution output has the batch norm's channel count (and at least
   * 2×2 values for the pool), either in explicit() with the batch norm training (and at least 2
   * values per channel), or in explicitInference() with the batch norm in eval mode on its running
   * statistics (folded into the convolution).
   */
  accepts(x: Tensor): boolean {
    if (!isExplicitMode() || x.device !== 'cpu' || x.dtype !== 'float32' || x.shape.length !== 4) return false;
    const { bn } = this;
    const folds = !bn.training && bn.trackRunningStats && isInferenceOnly() && this.conv.weight.device === 'cpu';
    if (!bn.training && !folds) return false;
    try {
      const [n, k, oh, ow] = this.shapes.conv(x.shape);
      return k === bn.numFeatures && (folds || n * oh * ow >= 2) && (this.pool === null || this.shapes.pooled(x.shape) !== null);
    } catch {
      return false; // the layers themselves report the problem
    }
  }

  forward(x: Tensor): Tensor {
    if (!this.bn.training) return this.forwardFolded(x);
    this.foldedLast = false;
    const { conv, bn } = this;
    const update = bn.trackRunningStats;
    const [n, k, oh, ow] = this.shapes.conv(x.shape);
    const shape = this.pool ? this.shapes.pooled(x.shape)! : [n, k, oh, ow];
    const w = this.workspace;
    // The convolution's output z is kept for the backward pass, or not where the convolution is
    // cheap to recompute and the backward pass computes no dx (as the last one did not): it then
    // reads dy and y once (ops.conv2dBatchNormRelu's out.z). With dx it recomputes z twice, which
    // is slower than keeping it (measured on the deep network's first block).
    const recompute = !this.inputGradLast && conv2dBatchNormReluRecomputes(x, conv.weight, conv.bias, { ...this.options, pool: this.pool !== null });
    this.saved = conv2dBatchNormRelu(
      x,
      conv.weight,
      conv.bias,
      bn.weight,
      bn.bias,
      update ? bn.runningMean : null,
      update ? bn.runningVar : null,
      {
        ...this.options,
        pool: this.pool !== null,
        momentum: update ? bn.momentum : 0.1,
        eps: bn.eps,
        numBatchesTracked: update ? bn.numBatchesTracked : null,
      },
      {
        y: w.get('y', shape, x.device),
        indices: this.pool ? w.get('indices', shape, x.device, 'int32') : undefined,
        z: recompute ? null : w.get('z', [n, k, oh, ow], x.device),
        saveMean: w.get('saveMean', [k], x.device),
        saveInvstd: w.get('saveInvstd', [k], x.device),
        saveAffine: w.get('saveAffine', [4, k], x.device),
      },
    );
    this.input = x;
    return this.saved.y;
  }

  /**
   * Inference in eval mode: one convolution with the batch norm folded into its weights, the ReLU
   * (and the pool) applied to each sample as the convolution finishes it (ops.conv2dRelu). Equal
   * to the layers run one by one to float32 rounding (test/conv2d_batchnorm.test.ts). Not the
   * fused convolution → 2×2 max-pool kernel: on the deep network's layers (32 and 64 channels,
   * 3×3) the plain convolution followed by the pool is faster (a deep-network run, one thread:
   * batch 256 68.2 → 64.5 ms, batch 1 316 → 283 µs with the pool as a separate op; the pool and
   * ReLU done per sample in cache saved another 1–4 % at batch 256).
   */
  private forwardFolded(x: Tensor): Tensor {
    this.input = this.saved = undefined;
    this.foldedLast = true;
    const { weight, bias } = this.folded.current();
    const w = this.workspace;
    const pool = this.pool !== null;
    const out = {
      y: w.get('y', pool ? this.shapes.pooled(x.shape)! : this.shapes.conv(x.shape), x.device),
      z: pool ? w.get('z', this.shapes.conv(x.shape), x.device) : undefined,
    };
    return conv2dRelu(x, weight, bias, pool ? this.poolOptions : this.options, out);
  }

  backward(dy: Tensor, inputGrad: boolean): Tensor | null {
    const x = this.input;
    if (this.foldedLast) {
      throw new Error(
        'ConvBnReluStep.backward() cannot differentiate a forward run by inference() (its batch norm was folded into the convolution): ' +
          'run the forward inside explicit() to differentiate it',
      );
    }
    if (x === undefined || this.saved === undefined) throw new Error('ConvBnReluStep.backward() needs a forward() first (no saved input)');
    const { conv, bn } = this;
    this.inputGradLast = inputGrad;
    const grads = conv2dBatchNormReluBackward(dy, this.saved, x, conv.weight, bn.weight, {
      ...this.options,
      pool: this.pool !== null,
      inputGrad,
      convBiasGrad: conv.bias !== null,
      affineGrad: bn.affine,
      accumulate: true,
      out: {
        dx: inputGrad ? this.workspace.get('dx', x.shape, x.device) : undefined,
        dw: conv.weight.grad,
        convDb: conv.bias?.grad,
        dweight: bn.weight?.grad,
        dbias: bn.bias?.grad,
      },
    });
    return grads.dx;
  }

  release(): void {
    this.workspace.release();
    this.folded.release();
    this.input = this.saved = undefined;
  }
}

/**
 * An eval-mode BatchNorm2d folded into the convolution before it, as onnxruntime folds them: the
 * convolution with weight w·s and bias β + (b − μ)·s, where s = γ / √(σ² + ε) per output channel
 * (μ, σ² the running statistics), computed in double precision and rounded once to float32.
 * Refolded whenever one of the six tensors has been written (its version counter) or moved since.
 * CPU tensors only.
 */
class FoldedConvBatchNorm {
  private weight: Tensor | undefined;
  private bias: Tensor | undefined;
  /** Each source's storage and version when last folded. */
  private readonly stamp: (Storage | number | null)[] = [];

  constructor(
    private readonly conv: Conv2d,
    private readonly bn: BatchNorm2d,
  ) {}

  /** The folded weight and bias, refolded first when a source has changed. */
  current(): { weight: Tensor; bias: Tensor } {
    const { conv, bn } = this;
    const sources = [conv.weight, conv.bias, bn.weight, bn.bias, bn.runningMean, bn.runningVar];
    let fresh = this.weight !== undefined && this.stamp.length === 2 * sources.length;
    for (let i = 0; fresh && i < sources.length; i++) {
      const t = sources[i];
      fresh = this.stamp[2 * i] === (t?.storage ?? null) && this.stamp[2 * i + 1] === (t?.version ?? null);
    }
    if (!fresh) {
      this.fold();
      sources.forEach((t, i) => {
        this.stamp[2 * i] = t?.storage ?? null;
        this.stamp[2 * i + 1] = t?.version ?? null;
      });
    }
    return { weight: this.weight!, bias: this.bias! };
  }

  private fold(): void {
    const { conv, bn } = this;
    const k = conv.outChannels;
    this.weight ??= keep(Tensor.zeros(conv.weight.shape));
    this.bias ??= keep(Tensor.zeros([k]));
    const w = conv.weight.data as Float32Array;
    const b = conv.bias?.data;
    const gamma = bn.weight?.data;
    const beta = bn.bias?.data;
    const mean = bn.runningMean!.data;
    const variance = bn.runningVar!.data;
    const folded = this.weight.data as Float32Array;
    const foldedBias = this.bias.data as Float32Array;
    const per = w.length / k;
    for (let o = 0; o < k; o++) {
      const scale = (gamma ? gamma[o] : 1) / Math.sqrt(variance[o] + bn.eps);
      for (let j = o * per; j < (o + 1) * per; j++) folded[j] = w[j] * scale;
      foldedBias[o] = (beta ? beta[o] : 0) + ((b ? b[o] : 0) - mean[o]) * scale;
    }
    this.weight.markWritten();
    this.bias.markWritten();
  }

  release(): void {
    this.weight?.dispose();
    this.bias?.dispose();
    this.weight = this.bias = undefined;
    this.stamp.length = 0;
  }
}
