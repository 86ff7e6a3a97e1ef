/**
 * What the pictures show, computed (no drawing here): predictions and the confusion matrix on the
 * test set, the first misclassified images, the first conv layer's kernels and what conv, ReLU and
 * max-pool make of one image (section 14.8.5). Runs on the CPU (models are moved there).
 */
import { type ImageDataset, nn, predictClasses as classesOf, Tensor, validate } from '../../index';

const { Conv2d, MaxPool2d, ReLU, Sequential } = nn;
type Module = nn.Module;

/** Predicted class (argmax of the logits: the first on ties, the first NaN if any) of every image of `data` (the library's predictClasses). */
export function predictClasses(model: Module, data: ImageDataset, batchSize = 500): Int32Array {
  return classesOf(model, data, { batchSize });
}

/** counts[t][p]: images of true class t predicted as p (rows true, columns predicted). */
export function confusionMatrix(labels: ArrayLike<number>, predictions: ArrayLike<number>, classes = 10): number[][] {
  if (labels.length !== predictions.length) {
    throw new RangeError(`Expected ${labels.length} predictions for predictions but received ${predictions.length}`);
  }
  const counts = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < labels.length; i++) counts[labels[i]][predictions[i]]++;
  return counts;
}

/** Indices of the first `count` images whose prediction differs from the label, in test-set order. */
export function firstMisclassified(labels: ArrayLike<number>, predictions: ArrayLike<number>, count = 10): number[] {
  const out: number[] = [];
  for (let i = 0; i < labels.length && out.length < count; i++) if (labels[i] !== predictions[i]) out.push(i);
  return out;
}

/** Index of the `occurrence`-th (1-based) image labelled `digit`, or −1 when there is none. */
export function nthOfDigit(labels: ArrayLike<number>, digit: number, occurrence = 1): number {
  validate.expectInt(occurrence, 'occurrence', 1);
  let seen = 0;
  for (let i = 0; i < labels.length; i++) if (labels[i] === digit && ++seen === occurrence) return i;
  return -1;
}

/** The first image of each digit 0–9 (−1 for a digit that does not occur). */
export function firstOfEachDigit(labels: ArrayLike<number>, classes = 10): number[] {
  return Array.from({ length: classes }, (_, d) => nthOfDigit(labels, d, 1));
}

/** One image of `data` as a plane (copy). */
export function imageAt(data: ImageDataset, index: number): Float32Array {
  const size = data.sampleSize;
  return data.images.slice(index * size, (index + 1) * size);
}

/** The chapter's network shape: Conv2d → ReLU → MaxPool2d first (what features.png draws). */
export function convStem(model: Module): { conv: nn.Conv2d; relu: nn.ReLU; pool: nn.MaxPool2d } | string {
  if (!(model instanceof Sequential)) return 'the model is not a Sequential';
  const [conv, relu, pool] = model.layers;
  if (!(conv instanceof Conv2d) || !(relu instanceof ReLU) || !(pool instanceof MaxPool2d)) {
    return 'the model does not start with Conv2d → ReLU → MaxPool2d';
  }
  if (conv.inChannels !== 1) return `the first convolution has ${conv.inChannels} input channels (pictures are drawn for 1)`;
  return { conv, relu, pool };
}

export interface FeatureMaps {
  /** Kernels [K, kh, kw] (input channel 0) and the bias [K]. */
  kernels: Float32Array;
  bias: Float32Array | null;
  kernelSize: [number, number];
  channels: number;
  /** The input image [H, W] (standardised values). */
  image: Float32Array;
  imageShape: [number, number];
  /** Outputs [K, h, w] of each stage for that image. */
  conv: Float32Array;
  relu: Float32Array;
  pool: Float32Array;
  convShape: [number, number];
  poolShape: [number, number];
}

/** The first layer's kernels and the conv, ReLU and pool outputs of `image` ([1, H, W]). */
export function featureMaps(model: Module, image: Float32Array, imageShape: readonly [number, number, number]): FeatureMaps {
  const stem = convStem(model);
  if (typeof stem === 'string') throw new Error(`featureMaps: ${stem}`);
  const { conv, relu, pool } = stem;
  const x = Tensor.from(image, [1, ...imageShape], { device: model.device });
  const wasTraining = model.training;
  model.eval();
  try {
    const y1 = conv.forward(x);
    const convOut = y1.toArray() as Float32Array;
    const y2 = relu.forward(y1);
    const reluOut = y2.toArray() as Float32Array;
    const y3 = pool.forward(y2);
    const poolOut = y3.toArray() as Float32Array;
    const [k, , kh, kw] = conv.weight.shape;
    return {
      kernels: conv.weight.toArray() as Float32Array,
      bias: conv.bias ? (conv.bias.toArray() as Float32Array) : null,
      kernelSize: [kh, kw],
      channels: k,
      image: image.slice(),
      imageShape: [imageShape[1], imageShape[2]],
      conv: convOut,
      relu: reluOut,
      pool: poolOut,
      convShape: [y1.shape[2], y1.shape[3]],
      poolShape: [y3.shape[2], y3.shape[3]],
    };
  } finally {
    model.train(wasTraining);
  }
}
