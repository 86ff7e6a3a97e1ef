/**
 * Ternary kernels (section 14.8.5): a trained kernel w quantised to T ∈ {−1, 0, +1} and a scale α,
 * w ≈ α·T, convolved by the add/subtract-only kernel (lib/ops/ternary_conv2d.ts).
 *
 * Threshold rule, per kernel: t = 0.5·mean|w|; T = sign(w) where |w| > t, else 0; α = mean of |w|
 * over the kept taps (for a fixed pattern T this α minimises ‖w − α·T‖²). The factor 0.5 reproduces
 * the chapter's hand-made ternary kernel: on the 25 weights it prints, the rule gives its codes at
 * 23 places, and the 2 others are the chapter's own exceptions (2.17 → 0, −0.32 → +1) that no
 * threshold gives. TWN's 0.7·mean|w| (Li & Liu, 2016) matches 22.
 *
 * In a network, conv(x, α·T) + b = α·(conv(x, T) + b/α), and ReLU and max-pool commute with a
 * positive scale, so α is folded into the next Linear layer's weights: the convolution itself runs
 * with no multiplication at all.
 */
import { evaluate, type ImageDataset, nn, ops, Tensor, validate } from '../../index';

const { buildModule, Conv2d, Flatten, Linear, MaxPool2d, Module, ReLU, Sequential } = nn;
const { conv2d, conv2dOutputShape, ternaryConv2d } = ops;
const { expectInt, expectNumber } = validate;
type Conv2d = nn.Conv2d;
type Linear = nn.Linear;
type Module = nn.Module;
type Sequential = nn.Sequential;

/** The default threshold factor: t = 0.5·mean|w| (see the file header). */
export const TERNARY_THRESHOLD = 0.5;

export interface TernaryKernel {
  /** Codes −1, 0, +1, in the kernel's layout [C, kh, kw]. */
  codes: Int32Array;
  /** t: weights with |w| ≤ t become 0. */
  threshold: number;
  /** α: mean |w| of the non-zero taps (0 when none is kept). */
  scale: number;
  plus: number;
  minus: number;
  zeros: number;
}

/** Quantises one kernel's weights with t = factor·mean|w|. */
export function quantizeKernel(weights: ArrayLike<number>, factor = TERNARY_THRESHOLD): TernaryKernel {
  expectNumber(factor, 'factor', 0);
  const n = weights.length;
  let meanAbs = 0;
  for (let i = 0; i < n; i++) meanAbs += Math.abs(weights[i]);
  meanAbs /= n || 1;
  const threshold = factor * meanAbs;
  const codes = new Int32Array(n);
  let kept = 0;
  let sumKept = 0;
  let plus = 0;
  let minus = 0;
  for (let i = 0; i < n; i++) {
    const w = weights[i];
    if (Math.abs(w) > threshold) {
      codes[i] = w > 0 ? 1 : -1;
      if (w > 0) plus++;
      else minus++;
      kept++;
      sumKept += Math.abs(w);
    }
  }
  return { codes, threshold, scale: kept ? sumKept / kept : 0, plus, minus, zeros: n - kept };
}

/**
 * The first convolution of a ternary network: output channels listed in `ternary` come from the
 * add/subtract-only kernel (codes T, bias b/α), the others from the ordinary convolution. Inference
 * only (no backward). The α of each ternary channel is folded into the next layer by
 * ternaryNetwork().
 */
export class TernaryConv2d extends Module {
  /**
   * The convolution's geometry and config (a plain record, not the Conv2d: a Module kept in a field
   * would become this module's child, sharing, saving and disposing the original's parameters).
   */
  readonly conv: { stride: [number, number]; padding: [number, number]; weightShape: readonly number[]; config: nn.LayerConfig };
  readonly channels: number[];
  private readonly codes: Tensor;
  private readonly ternaryBias: Tensor;
  private readonly floatWeight: Tensor;
  private readonly floatBias: Tensor | null;
  private readonly isTernary: boolean[];

  constructor(conv: Conv2d, kernels: TernaryKernel[], channels: number[]) {
    super();
    if (conv.device !== 'cpu') throw new Error('TernaryConv2d: move the model to the CPU first (model.to("cpu"))');
    this.conv = { stride: conv.stride, padding: conv.padding, weightShape: conv.weight.shape, config: conv.config() };
    this.channels = channels;
    const [k, c, kh, kw] = conv.weight.shape;
    const per = c * kh * kw;
    const weight = conv.weight.toArray() as Float32Array;
    const bias = conv.bias ? (conv.bias.toArray() as Float32Array) : new Float32Array(k);
    const codes = new Int32Array(k * per);
    const tBias = new Float32Array(k);
    this.isTernary = new Array<boolean>(k).fill(false);
    channels.forEach((ch, i) => {
      expectInt(ch, `channels[${i}]`, 0, k - 1);
      const q = kernels[ch];
      codes.set(q.codes, ch * per);
      // conv(x, αT) + b = α·(conv(x, T) + b/α); a kernel with no taps left outputs 0.
      tBias[ch] = q.scale > 0 ? bias[ch] / q.scale : 0;
      weight.fill(0, ch * per, (ch + 1) * per);
      bias[ch] = 0;
      this.isTernary[ch] = true;
    });
    this.codes = Tensor.from(codes, [k, c, kh, kw]);
    this.ternaryBias = Tensor.from(tBias, [k]);
    this.floatWeight = Tensor.from(weight, [k, c, kh, kw]);
    this.floatBias = conv.bias ? Tensor.from(bias, [k]) : null;
  }

  forward(x: Tensor): Tensor {
    const options = { stride: this.conv.stride, padding: this.conv.padding };
    const shape = this.outputShape(x.shape);
    const y = this.outputBuffer('y', shape, x.device);
    const t = this.outputBuffer('t', shape, x.device);
    ternaryConv2d(x, this.codes, this.ternaryBias, options, t);
    if (this.channels.length < this.isTernary.length) {
      conv2d(x, this.floatWeight, this.floatBias, options, y);
    }
    // Each output plane is taken whole from one of the two convolutions.
    const plane = shape[2] * shape[3];
    const yd = y.data as Float32Array;
    const td = t.data as Float32Array;
    for (let n = 0; n < shape[0]; n++) {
      for (let k = 0; k < shape[1]; k++) {
        if (!this.isTernary[k]) continue;
        const start = (n * shape[1] + k) * plane;
        yd.set(td.subarray(start, start + plane), start);
      }
    }
    return y;
  }

  override backward(): Tensor | null {
    throw new Error('TernaryConv2d is for inference only (no backward)');
  }

  override outputShape(input: readonly number[]): number[] {
    return conv2dOutputShape(input, this.conv.weightShape, { stride: this.conv.stride, padding: this.conv.padding });
  }

  override config(): nn.LayerConfig {
    return { type: 'TernaryConv2d', conv: this.conv.config, channels: this.channels };
  }
}

/** Whether `model` is the chapter's network (Conv2d → ReLU → MaxPool2d → Flatten → Linear). */
export function isSeedNetwork(model: Module): model is Sequential {
  if (!(model instanceof Sequential) || model.layers.length !== 5) return false;
  const [a, b, c, d, e] = model.layers;
  return a instanceof Conv2d && b instanceof ReLU && c instanceof MaxPool2d && d instanceof Flatten && e instanceof Linear;
}

/**
 * The chapter's network with the first layer's kernels `channels` made ternary: their convolution
 * runs on the add/subtract kernel and their α is folded into the Linear layer's weights. The model
 * must be on the CPU; it is not changed.
 */
export function ternaryNetwork(model: Module, channels: number[], factor = TERNARY_THRESHOLD): { network: Sequential; kernels: TernaryKernel[] } {
  if (!isSeedNetwork(model)) throw new Error('ternaryNetwork: expected the chapter\'s network (Conv2d → ReLU → MaxPool2d → Flatten → Linear)');
  const [conv, , pool, , linear] = model.layers as [Conv2d, nn.ReLU, nn.MaxPool2d, nn.Flatten, Linear];
  const kernels = quantizeKernels(conv, factor);
  const first = new TernaryConv2d(conv, kernels, channels);
  // Features after Flatten are channel-major: channel k owns columns [k·s, (k+1)·s).
  const [k] = conv.weight.shape;
  const per = linear.inFeatures / k;
  if (!Number.isInteger(per)) throw new Error('ternaryNetwork: the Linear layer does not take whole channels');
  const folded = buildModule(linear.config()) as Linear;
  const w = linear.weight.toArray() as Float32Array;
  for (const ch of channels) {
    const alpha = kernels[ch].scale;
    for (let o = 0; o < linear.outFeatures; o++) {
      const row = o * linear.inFeatures + ch * per;
      for (let j = 0; j < per; j++) w[row + j] *= alpha;
    }
  }
  folded.weight.copyFrom(w);
  if (linear.bias && folded.bias) folded.bias.copyFrom(linear.bias);
  const network = new Sequential(first, new ReLU(), buildModule(pool.config()), new Flatten(), folded);
  return { network, kernels };
}

/** Every kernel of a Conv2d quantised (output channel order). */
export function quantizeKernels(conv: Conv2d, factor = TERNARY_THRESHOLD): TernaryKernel[] {
  const [k, c, kh, kw] = conv.weight.shape;
  const per = c * kh * kw;
  const w = conv.weight.toArray() as Float32Array;
  return Array.from({ length: k }, (_, ch) => quantizeKernel(w.subarray(ch * per, (ch + 1) * per), factor));
}

export interface TernaryAccuracy {
  /** Kernel indices (0-based) made ternary. */
  channels: number[];
  accuracy: number;
  loss: number;
}

/** Test accuracy and loss of the network with `channels` ternary. */
export function ternaryAccuracy(model: Module, test: ImageDataset, channels: number[], factor = TERNARY_THRESHOLD): TernaryAccuracy {
  const { network } = ternaryNetwork(model, channels, factor);
  const r = evaluate(network, test, { batchSize: 500 });
  network.dispose();
  return { channels, accuracy: r.metrics.accuracy, loss: r.loss };
}
