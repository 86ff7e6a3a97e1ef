/**
 * Softmax + cross-entropy with the fused gradient (torch.nn.functional.cross_entropy with class
 * indices, reduction 'mean', label_smoothing). Kernels: native/kernels/loss.
 *
 * The forward pass returns the probabilities (what backward needs) and two running statistics,
 * [Σ per-sample loss, number correct], which a training loop can accumulate on the device over many
 * batches and read once: the mean loss of a batch is stats[0] / N.
 */
import { type CudaBuffer, native } from '../native';
import type { Tensor } from '../tensor';
import { expectNumber, fail } from '../validate';
import { expectOptions, expectTensor, output } from './checks';

/** Options of softmaxCrossEntropy: label smoothing. */
export interface CrossEntropyOptions {
  /** ε in [0, 1]: the target is (1 − ε)·one-hot + ε/C, as PyTorch's label_smoothing. Default 0. */
  labelSmoothing?: number;
}

function labelSmoothing(options: unknown): number {
  const value = (expectOptions(options) as CrossEntropyOptions).labelSmoothing;
  return value === undefined ? 0 : expectNumber(value, 'options.labelSmoothing', 0, 1);
}

function checkInputs(scores: unknown, scoresName: string, labels: unknown): [number, number] {
  const s = expectTensor(scores, scoresName, { rank: 2 });
  const [n, c] = s.shape;
  if (c < 1) throw new RangeError(`Expected at least one class for ${scoresName} but received shape [${s.shape.join(', ')}]`);
  expectTensor(labels, 'labels', { dtype: 'int32', shape: [n], device: s.device });
  return [n, c];
}

/**
 * probs = softmax(logits) per row (logits [N, C]; labels int32 [N] in [0, C)), and stats = [Σ loss,
 * correct count] (float32 [2]), written into out.stats or added to it when out.accumulate is true.
 * A label outside [0, C) throws a RangeError naming labels and the value when the labels are on the
 * CPU; labels on a GPU cannot be checked without waiting for it, so there such a row's loss is NaN
 * (stats[0] becomes NaN) and it is never counted correct (cuda/loss.cu).
 */
export function softmaxCrossEntropy(
  logits: Tensor,
  labels: Tensor,
  options?: CrossEntropyOptions,
  out?: { probs?: Tensor; stats?: Tensor; accumulate?: boolean },
): { probs: Tensor; stats: Tensor } {
  const [n, c] = checkInputs(logits, 'logits', labels);
  const smoothing = labelSmoothing(options);
  if (out !== undefined && (typeof out !== 'object' || out === null)) fail('an object { probs?, stats?, accumulate? }', 'out', out);
  const accumulate = out?.accumulate ?? false;
  if (typeof accumulate !== 'boolean') fail('a boolean', 'out.accumulate', accumulate);
  const probs = output(out?.probs, 'out.probs', logits.shape, logits.device);
  const stats = output(out?.stats, 'out.stats', [2], logits.device);
  native().softmaxCrossEntropyForward(probs.buffer, stats.buffer, logits.buffer, labels.buffer as Int32Array | CudaBuffer, n, c, smoothing, accumulate);
  return { probs, stats };
}

/**
 * dlogits = scale · (probs − target); scale defaults to 1/N (the gradient of the batch mean).
 * out may be probs itself (the gradient then overwrites the probabilities). On a GPU, the row of a
 * label outside [0, C) becomes NaN (on the CPU that throws, as in the forward pass).
 */
export function softmaxCrossEntropyBackward(probs: Tensor, labels: Tensor, options?: CrossEntropyOptions & { scale?: number }, out?: Tensor): Tensor {
  const [n, c] = checkInputs(probs, 'probs', labels);
  const smoothing = labelSmoothing(options);
  const scale = options?.scale === undefined ? (n > 0 ? 1 / n : 0) : expectNumber(options.scale, 'options.scale');
  if (!Number.isFinite(scale)) fail('a finite number', 'options.scale', scale, RangeError);
  const dlogits = output(out, 'out', probs.shape, probs.device);
  native().softmaxCrossEntropyBackward(dlogits.buffer, probs.buffer, labels.buffer as Int32Array | CudaBuffer, n, c, smoothing, scale);
  return dlogits;
}

