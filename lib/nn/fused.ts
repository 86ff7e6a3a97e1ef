/**
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
import type { Tensor } from '../tensor';
import { ReLU } from './activation';
import { Conv2d } from './conv2d';
import * as F from './functional';
import { type Module, Workspace } from './module';
import { MaxPool2d } from './pool2d';

export class ConvPoolStep {
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
  }

  /**
   * The step for `layers[i..]` when they start with Conv2d, MaxPool2d with a 2×2 window, stride 2
   * and no padding, and optionally a ReLU; undefined otherwise.
   */
  static match(layers: readonly Module[], i: number): ConvPoolStep | undefined {
    const [conv, pool, relu] = [layers[i], layers[i + 1], layers[i + 2]];
    if (!(conv instanceof Conv2d) || !(pool instanceof MaxPool2d)) return undefined;
    const is = (pair: readonly number[], value: number) => pair[0] === value && pair[1] === value;
    if (!is(pool.kernelSize, 2) || !is(pool.stride, 2) || !is(pool.padding, 0)) return undefined;
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
      const [, , oh, ow] = conv2dOutputShape(x.shape, this.conv.weight.shape, this.options);
      return oh >= 2 && ow >= 2;
    } catch {
      return false; // the layers themselves report the problem
    }
  }

  private get options() {
    return { stride: this.conv.stride, padding: this.conv.padding };
  }

  forward(x: Tensor): Tensor {
    const fused = { ...this.options, relu: this.relu !== null };
    if (!isExplicitMode()) {
      this.input = this.indices = this.output = undefined; // backward() must not differentiate an older explicit forward
      return F.conv2dMaxPool2d(x, this.conv.weight, this.conv.bias, fused);
    }
    const [n, k, oh, ow] = conv2dOutputShape(x.shape, this.conv.weight.shape, this.options);
    const shape = [n, k, Math.floor(oh / 2), Math.floor(ow / 2)];
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
