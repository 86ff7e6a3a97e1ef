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
import { isExplicitMode } from '../autograd/grad_mode';
import { conv2dMaxPool2d, conv2dMaxPool2dBackward, conv2dOutputShape } from '../ops/conv2d';
import { type Conv2dBatchNormReluResult, conv2dBatchNormRelu, conv2dBatchNormReluBackward } from '../ops/conv2d_batchnorm';
import type { Tensor } from '../tensor';
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

export class ConvPoolStep implements FusedStep {
  readonly conv: Conv2d;
  readonly pool: MaxPool2d;
  readonly relu: ReLU | null;
  private readonly workspace = new Workspace();
  private input: Tensor | undefined;
  private indices: Tensor | undefined;
  private output: Tensor | undefined;

  private constructor(conv: Conv2d, pool: MaxPool2d, relu: ReLU | null) {
    this.conv = conv;
    this.pool = pool;
    this.relu = relu;
    this.fusedOptions = { stride: conv.stride, padding: conv.padding, relu: relu !== null };
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
      return this.pooledShape(x.shape) !== null;
    } catch {
      return false; // the layers themselves report the problem
    }
  }

  private get options() {
    return { stride: this.conv.stride, padding: this.conv.padding };
  }

  /** The fused op's options (the layers' settings are fixed at construction). */
  private readonly fusedOptions: { stride: [number, number]; padding: [number, number]; relu: boolean };
  /** pooledShape's last answer and the input shape it was for (a tensor's shape array is frozen: the same array, the same shape). */
  private pooled: { from: readonly number[]; to: number[] | null } | undefined;

  /** The pooled output shape for an input of `shape`, or null when the convolution's output is under 2×2; throws for a bad shape. */
  private pooledShape(shape: readonly number[]): number[] | null {
    if (this.pooled?.from !== shape) {
      const [n, k, oh, ow] = conv2dOutputShape(shape, this.conv.weight.shape, this.options);
      this.pooled = { from: shape, to: oh >= 2 && ow >= 2 ? [n, k, Math.floor(oh / 2), Math.floor(ow / 2)] : null };
    }
    return this.pooled.to;
  }

  forward(x: Tensor): Tensor {
    const fused = this.fusedOptions;
    if (!isExplicitMode()) {
      this.input = this.indices = this.output = undefined; // backward() must not differentiate an older explicit forward
      return F.conv2dMaxPool2d(x, this.conv.weight, this.conv.bias, fused);
    }
    const shape = this.pooledShape(x.shape);
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
 * (test/conv2d_batchnorm.test.ts). Anywhere else — a recorded (autograd) forward, eval mode, a CUDA
 * tensor — Sequential runs the layers one by one.
 */
export class ConvBnReluStep implements FusedStep {
  readonly conv: Conv2d;
  readonly bn: BatchNorm2d;
  readonly relu: ReLU;
  readonly pool: MaxPool2d | null;
  private readonly workspace = new Workspace();
  private input: Tensor | undefined;
  private saved: Conv2dBatchNormReluResult | undefined;

  private constructor(conv: Conv2d, bn: BatchNorm2d, relu: ReLU, pool: MaxPool2d | null) {
    this.conv = conv;
    this.bn = bn;
    this.relu = relu;
    this.pool = pool;
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
   * In explicit(), with the batch norm training: a float32 CPU batch whose convolution output has
   * at least 2 values per channel (2×2 for the pool) and the batch norm's channel count.
   */
  accepts(x: Tensor): boolean {
    if (!isExplicitMode() || !this.bn.training || x.device !== 'cpu' || x.dtype !== 'float32' || x.shape.length !== 4) return false;
    try {
      const [n, k, oh, ow] = conv2dOutputShape(x.shape, this.conv.weight.shape, this.options);
      return k === this.bn.numFeatures && n * oh * ow >= 2 && (this.pool === null || (oh >= 2 && ow >= 2));
    } catch {
      return false; // the layers themselves report the problem
    }
  }

  forward(x: Tensor): Tensor {
    const { conv, bn } = this;
    const update = bn.trackRunningStats;
    const [n, k, oh, ow] = conv2dOutputShape(x.shape, conv.weight.shape, this.options);
    const shape = this.pool ? [n, k, Math.floor(oh / 2), Math.floor(ow / 2)] : [n, k, oh, ow];
    const w = this.workspace;
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
        z: w.get('z', [n, k, oh, ow], x.device),
        saveMean: w.get('saveMean', [k], x.device),
        saveInvstd: w.get('saveInvstd', [k], x.device),
        saveAffine: w.get('saveAffine', [4, k], x.device),
      },
    );
    this.input = x;
    return this.saved.y;
  }

  backward(dy: Tensor, inputGrad: boolean): Tensor | null {
    const x = this.input;
    if (x === undefined || this.saved === undefined) throw new Error('ConvBnReluStep.backward() needs a forward() first (no saved input)');
    const { conv, bn } = this;
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
    this.input = this.saved = undefined;
  }
}
