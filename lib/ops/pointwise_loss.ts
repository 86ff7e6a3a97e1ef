/**
 * Element-wise losses with a mean reduction: binary cross-entropy on logits
 * (torch.nn.functional.binary_cross_entropy_with_logits, optional pos_weight) and the mean squared
 * error (torch.nn.functional.mse_loss). Kernels: native/kernels/pointwise_loss.
 * Test: test/pointwise_loss.test.ts.
 *
 * input and target have the same shape [N, …] (rank ≥ 1; dim 0 is the batch). Like
 * softmaxCrossEntropy, the forward pass leaves the loss on the device as statistics (float32 [2]),
 * so a training loop can sum many batches and read once:
 *   stats[0] = Σ over samples of the sample's mean loss; the batch mean is stats[0] / N;
 *   stats[1] = for BCE, Σ over samples of the fraction of elements with (input > 0) = (target > 0.5);
 *              for MSE, 0.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, expectNumber, fail } from '../validate';
import { expectOptions, expectTensor, output } from './checks';

/** Options of bceWithLogits: the positive class weight. */
export interface BceWithLogitsOptions {
  /**
   * Weight of the positive term, as PyTorch's pos_weight: float32 [P] with P the input's last
   * dimension (one per class) or 1, on the input's device. Default: none (1).
   */
  posWeight?: Tensor | null;
}

/** Where a pointwise loss writes its batch statistics [Σ loss, Σ accuracy]. */
export interface PointwiseLossOut {
  stats?: Tensor;
  /** Add this batch's statistics into out.stats instead of overwriting them. */
  accumulate?: boolean;
}

/** Checks input and target; returns [N, M], M = elements per sample. */
function samples(input: unknown, target: unknown): [number, number] {
  const x = expectTensor(input, 'input');
  if (x.shape.length < 1) throw new RangeError('Expected a tensor of rank ≥ 1 ([N, …]) for input but received shape []');
  expectTensor(target, 'target', { shape: x.shape, device: x.device });
  const m = x.shape.slice(1).reduce((a, b) => a * b, 1);
  if (m === 0) throw new RangeError(`Expected at least one element per sample for input but received shape [${x.shape.join(', ')}]`);
  return [x.shape[0], m];
}

/** pos_weight's tensor and length P (0 without one), checked against the input's last dimension. */
function posWeight(options: Record<string, unknown>, input: Tensor): [Tensor | null, number] {
  const w = options.posWeight;
  if (w === undefined || w === null) return [null, 0];
  const t = expectTensor(w, 'options.posWeight', { rank: 1, device: input.device });
  const last = input.shape.at(-1)!;
  if (t.shape[0] !== last && t.shape[0] !== 1) {
    throw new RangeError(`Expected shape [${last}] (the last dimension of input) or [1] for options.posWeight but received [${t.shape.join(', ')}]`);
  }
  return [t, t.shape[0]];
}

function statsOut(out: unknown, device: Tensor['device']): { stats: Tensor; accumulate: boolean } {
  if (out !== undefined && (typeof out !== 'object' || out === null || Array.isArray(out))) fail('an object { stats?, accumulate? }', 'out', out);
  const o = (out ?? {}) as PointwiseLossOut;
  const accumulate = expectBoolean(o.accumulate ?? false, 'out.accumulate');
  if (accumulate && o.stats === undefined) fail('a tensor to accumulate into (out.accumulate is true)', 'out.stats', o.stats);
  return { stats: output(o.stats, 'out.stats', [2], device), accumulate };
}

function scaleOf(options: Record<string, unknown>, count: number): number {
  if (options.scale === undefined) return count > 0 ? 1 / count : 0;
  const scale = expectNumber(options.scale, 'options.scale');
  if (!Number.isFinite(scale)) fail('a finite number', 'options.scale', scale, RangeError);
  return scale;
}

/** Statistics of BCE with logits over the batch (see the file header): the mean is stats[0] / N. */
export function bceWithLogits(input: Tensor, target: Tensor, options?: BceWithLogitsOptions, out?: PointwiseLossOut): Tensor {
  const [n, m] = samples(input, target);
  const [w, p] = posWeight(expectOptions(options), input);
  const { stats, accumulate } = statsOut(out, input.device);
  native().bceWithLogitsForward(stats.buffer, input.buffer, target.buffer, w === null ? null : w.buffer, n, m, p, accumulate);
  return stats;
}

/**
 * d loss / d input = scale · (ℓ·σ(x) − pos_weight·t), ℓ = 1 + (pos_weight − 1)·t; scale defaults to
 * 1/(number of elements), the gradient of the mean. out may be input or target itself.
 */
export function bceWithLogitsBackward(input: Tensor, target: Tensor, options?: BceWithLogitsOptions & { scale?: number }, out?: Tensor): Tensor {
  samples(input, target);
  const opts = expectOptions(options);
  const [w, p] = posWeight(opts, input);
  const scale = scaleOf(opts, input.size);
  const dx = output(out, 'out', input.shape, input.device);
  native().bceWithLogitsBackward(dx.buffer, input.buffer, target.buffer, w === null ? null : w.buffer, input.size, p, scale);
  return dx;
}

/** Statistics of the squared error over the batch (see the file header): the mean is stats[0] / N. */
export function mseLoss(input: Tensor, target: Tensor, out?: PointwiseLossOut): Tensor {
  const [n, m] = samples(input, target);
  const { stats, accumulate } = statsOut(out, input.device);
  native().mseForward(stats.buffer, input.buffer, target.buffer, n, m, accumulate);
  return stats;
}

/** d loss / d input = scale · 2·(input − target); scale defaults to 1/(number of elements). */
export function mseLossBackward(input: Tensor, target: Tensor, options?: { scale?: number }, out?: Tensor): Tensor {
  samples(input, target);
  const scale = scaleOf(expectOptions(options), input.size);
  const dx = output(out, 'out', input.shape, input.device);
  native().mseBackward(dx.buffer, input.buffer, target.buffer, input.size, scale);
  return dx;
}
