/**
 * Inference: a trained network with its preprocessing, as saved in a model folder.
 *
 *   const model = napinet.load('runs/2024-…');          // model.json + weights.safetensors
 *   const { predicted, probabilities } = model.predict(pixels);  // raw 0–255 pixels, any count
 *
 * Classifier.predict standardises raw pixels (Uint8Array, Uint8ClampedArray or Float32Array) with
 * the standardizer saved beside the weights and returns class probabilities and the predicted class
 * per image. A Predictor is the throughput path: it holds the batch tensors for one batch size and
 * reuses them (and caller-given output arrays) call after call, so steady-state inference allocates
 * nothing on the JavaScript side. Test: test/inference.test.ts.
 */
import * as path from 'node:path';
import { Standardizer } from './data/dataset';
import type { Device, DeviceSpec } from './device';
import { checkStandardizerFits, loadModel, MODEL_FILE, type ModelManifest, readStandardize, saveModel } from './io/model_io';
import { exportOnnx, type OnnxExportOptions, toOnnx } from './io/onnx';
import type { CudaBuffer } from './native';
import type { Module } from './nn/module';
import { softmax } from './ops/softmax';
import { Tensor } from './tensor';
import { checkBudget } from './budget';
import { describe, expectInt, expectModule, expectObject, fail } from './validate';

/** Pixels for a Classifier: bytes 0–255 (Uint8Array, a canvas's Uint8ClampedArray) or float values, [count, C, H, W] flattened. */
export type ImageInput = Uint8Array | Uint8ClampedArray | Float32Array;

/** A Classifier's answer for a batch of images: the probabilities and the most probable class of each. */
export interface Prediction {
  count: number;
  numClasses: number;
  /** [count, numClasses] softmax probabilities, row per image. */
  probabilities: Float32Array;
  /** [count] the most probable class of each image (the first on ties). */
  predicted: Int32Array;
}

/** Options of Classifier.predict(). */
export interface PredictOptions {
  /** Images per forward pass (default 256). */
  batchSize?: number;
  /** The values are already standardised (skip the saved standardizer). */
  standardized?: boolean;
}

/**
 * Index of the largest of values[start, start + count), by torch.argmax's rule: the first maximum,
 * or the first NaN (a row of NaN probabilities, from NaN or inf logits, predicts class 0).
 */
function argmaxRow(values: Float32Array, start: number, count: number): number {
  let best = 0;
  for (let c = 0; c < count; c++) {
    const v = values[start + c];
    if (v !== v) return c;
    if (v > values[start + best]) best = c;
  }
  return best;
}

function isImageInput(x: unknown): x is ImageInput {
  return x instanceof Uint8Array || x instanceof Uint8ClampedArray || x instanceof Float32Array;
}

/**
 * Runs one network on batches of up to `batchSize` images with preallocated tensors. A smaller
 * final batch is zero-padded to the full size (the padding rows are computed and dropped), so the
 * layers' cached outputs keep their shape and nothing is reallocated. The network runs in eval
 * mode; one left in training mode is switched to eval and back on every run(), which walks its
 * module tree: for serving, call network.eval() once.
 */
export class Predictor {
  readonly network: Module;
  readonly batchSize: number;
  readonly inputShape: readonly [number, number, number];
  readonly numClasses: number;
  private readonly standardizer: Standardizer | null;
  private readonly input: Tensor;
  private readonly probs: Tensor;
  private readonly hostInput: Float32Array;
  private readonly hostProbs: Float32Array;
  private readonly offsets: Float64Array;
  private readonly scales: Float64Array;
  /** network.inferenceScope(), taken once: the network's structure is fixed for the predictor's life. */
  private readonly forwardScope: <T>(fn: () => T) => T;
  /** One batch through the network and the softmax, into probs (made once: no closure per call). */
  private readonly forwardPass = (): Tensor => softmax(this.network.forward(this.input), this.probs);

  constructor(network: Module, batchSize: number, options: { inputShape: readonly [number, number, number]; standardizer?: Standardizer | null }) {
    this.network = expectModule(network, 'network');
    this.batchSize = expectInt(batchSize, 'batchSize', 1);
    expectObject(options, 'options');
    const shape = options.inputShape;
    if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) fail('a [C, H, W] shape of positive integers', 'options.inputShape', shape);
    // The batch's input and probabilities (its activations are the layers' own): refused here
    // rather than as a failed allocation.
    checkBudget('Predictor', `a batch of ${this.batchSize} inputs of shape [${shape.join(', ')}]`, 4 * this.batchSize * shape[0] * shape[1] * shape[2]);
    this.inputShape = options.inputShape;
    this.standardizer = options.standardizer ?? null;
    const [c] = this.inputShape;
    const outShape = outputShapeOf(network, [this.batchSize, ...this.inputShape]);
    if (outShape.length !== 2) throw new RangeError(`Expected a network giving [N, classes] scores for network but its output shape is [${outShape.join(', ')}]`);
    this.numClasses = outShape[1];
    const device = network.device;
    this.input = Tensor.zeros([this.batchSize, ...this.inputShape], { device });
    this.probs = Tensor.zeros([this.batchSize, this.numClasses], { device });
    this.hostInput = device === 'cpu' ? (this.input.data as Float32Array) : new Float32Array(this.input.size);
    this.hostProbs = device === 'cpu' ? (this.probs.data as Float32Array) : new Float32Array(this.probs.size);
    const mean = this.standardizer?.mean ?? new Array(c).fill(0);
    const std = this.standardizer?.std ?? new Array(c).fill(1);
    if (mean.length !== c) throw new RangeError(`Expected a standardizer for ${c} channels for standardizer but received ${mean.length} channels`);
    // In double precision, as Standardizer.apply: the same float32 inputs as training saw.
    this.offsets = Float64Array.from(mean);
    this.scales = Float64Array.from(std, (s) => 1 / s);
    this.forwardScope = network.inferenceScope();
  }

  get sampleSize(): number {
    return this.inputShape[0] * this.inputShape[1] * this.inputShape[2];
  }

  /**
   * Probabilities and classes of `images` (raw pixels, [count, C, H, W] flattened; any count).
   * Pass `out` arrays (sized for count) to reuse them instead of allocating new ones.
   */
  run(images: ImageInput, options: { standardized?: boolean; out?: { probabilities?: Float32Array; predicted?: Int32Array } } = {}): Prediction {
    if (!isImageInput(images)) fail('a Uint8Array, Uint8ClampedArray or Float32Array of pixels', 'images', images);
    const size = this.sampleSize;
    if (images.length % size !== 0 || images.length === 0) {
      throw new RangeError(
        `Expected a whole number of [${this.inputShape.join(', ')}] images (a multiple of ${size} values) for images but received ${images.length} values`,
      );
    }
    const count = images.length / size;
    const k = this.numClasses;
    const probabilities = options.out?.probabilities ?? new Float32Array(count * k);
    const predicted = options.out?.predicted ?? new Int32Array(count);
    if (probabilities.length < count * k) throw new RangeError(`Expected at least ${count * k} values for out.probabilities but received ${probabilities.length}`);
    if (predicted.length < count) throw new RangeError(`Expected at least ${count} values for out.predicted but received ${predicted.length}`);
    const standardize = options.standardized !== true && this.standardizer !== null;
    const plane = this.inputShape[1] * this.inputShape[2];
    const channels = this.inputShape[0];
    // Switching modes walks the module tree: done only when the network is in training mode.
    const wasTraining = this.network.training;
    if (wasTraining) this.network.eval();
    try {
      for (let start = 0; start < count; start += this.batchSize) {
        const n = Math.min(this.batchSize, count - start);
        const x = this.hostInput;
        const base = start * size;
        if (standardize) {
          for (let i = 0; i < n; i++) {
            for (let ch = 0; ch < channels; ch++) {
              const offset = this.offsets[ch];
              const scale = this.scales[ch];
              const o = i * size + ch * plane;
              for (let p = 0; p < plane; p++) x[o + p] = (images[base + o + p] - offset) * scale;
            }
          }
        } else {
          for (let i = 0; i < n * size; i++) x[i] = images[base + i];
        }
        if (n < this.batchSize) x.fill(0, n * size);
        if (this.input.device !== 'cpu') this.input.copyFrom(x);
        this.forwardScope(this.forwardPass);
        if (this.probs.device !== 'cpu') (this.probs.buffer as CudaBuffer).download(this.hostProbs);
        probabilities.set(this.hostProbs.subarray(0, n * k), start * k);
        for (let i = 0; i < n; i++) predicted[start + i] = argmaxRow(this.hostProbs, i * k, k);
      }
    } finally {
      if (wasTraining) this.network.train(true);
    }
    return {
      count,
      numClasses: k,
      probabilities: probabilities.length === count * k ? probabilities : probabilities.subarray(0, count * k),
      predicted: predicted.length === count ? predicted : predicted.subarray(0, count),
    };
  }

  /** Frees the batch tensors (GPU memory). */
  dispose(): void {
    this.input.dispose();
    this.probs.dispose();
  }
}

/** A network with the preprocessing it was trained with: what napinet.load returns. */
export class Classifier {
  readonly network: Module;
  readonly standardizer: Standardizer | null;
  /** One image's shape [C, H, W]. */
  readonly inputShape: readonly [number, number, number];
  /** What model.json held (settings, …); empty for a classifier made in code. */
  readonly manifest: Partial<ModelManifest>;
  private readonly predictors = new Map<number, Predictor>();

  constructor(
    network: Module,
    options: { inputShape: readonly [number, number, number]; standardizer?: Standardizer | { mean: number[]; std: number[] } | null; manifest?: Partial<ModelManifest> },
  ) {
    this.network = expectModule(network, 'network');
    expectObject(options, 'options');
    const shape = options?.inputShape;
    if (!Array.isArray(shape) || shape.length !== 3) fail('a [C, H, W] shape', 'inputShape', shape);
    shape.forEach((d, i) => expectInt(d, `inputShape[${i}]`, 1));
    this.inputShape = [shape[0], shape[1], shape[2]];
    const s = options.standardizer ?? null;
    this.standardizer = s === null || s instanceof Standardizer ? s : readStandardize(s, '', 'options.standardizer');
    checkStandardizerFits(this.standardizer, this.inputShape, '', 'options.standardizer');
    this.manifest = options.manifest ?? {};
  }

  get device(): Device {
    return this.network.device;
  }

  get numClasses(): number {
    return outputShapeOf(this.network, [1, ...this.inputShape])[1];
  }

  /** Moves the network to `device` (cached batch buffers are rebuilt there). */
  to(device: DeviceSpec): this {
    this.releasePredictors();
    this.network.to(device);
    return this;
  }

  /** A Predictor for batches of `batchSize` images (the caller owns it: dispose() it on the GPU). */
  predictor(batchSize: number): Predictor {
    return new Predictor(this.network, batchSize, { inputShape: this.inputShape, standardizer: this.standardizer });
  }

  /**
   * Class probabilities and predicted classes of raw images ([count, C, H, W] pixels flattened),
   * or of an already standardised [N, C, H, W] tensor.
   */
  predict(images: ImageInput | Tensor, options: PredictOptions = {}): Prediction {
    const batchSize = expectInt(options.batchSize ?? 256, 'batchSize', 1);
    if (images instanceof Tensor) {
      const [n, ...rest] = images.shape;
      if (images.shape.length !== 4 || rest.some((d, i) => d !== this.inputShape[i])) {
        throw new RangeError(`Expected a tensor of shape [N, ${this.inputShape.join(', ')}] for images but received [${images.shape.join(', ')}]`);
      }
      const host = images.toArray() as Float32Array;
      return this.predictorFor(Math.min(batchSize, n)).run(host, { standardized: true });
    }
    if (!isImageInput(images)) fail('a Uint8Array, Uint8ClampedArray, Float32Array or Tensor', 'images', images);
    const size = this.inputShape[0] * this.inputShape[1] * this.inputShape[2];
    const count = Math.floor(images.length / size);
    return this.predictorFor(Math.max(1, Math.min(batchSize, count))).run(images, { standardized: options.standardized });
  }

  /** Writes model.json (with the preprocessing) and weights.safetensors into `dir` (saveModel). */
  save(dir: string, extra: Record<string, unknown> = {}): void {
    const { format: _f, version: _v, architecture: _a, preprocessing: _p, ...rest } = this.manifest;
    saveModel(dir, this.network, { ...rest, ...extra, standardizer: this.standardizer, inputShape: this.inputShape });
  }

  /**
   * The network as ONNX bytes (lib/io/onnx.ts); `preprocessing` puts the standardisation in front
   * (raw pixels in), `softmax` a Softmax at the end (probabilities out).
   */
  toOnnx(options: { softmax?: boolean; preprocessing?: boolean } = {}): Uint8Array {
    if (options.preprocessing && !this.standardizer) throw new Error('Expected a classifier with a standardizer for preprocessing but it has none');
    return toOnnx(this.network, this.onnxOptions(options));
  }

  /** Writes toOnnx(options) to `file` (atomically). */
  exportOnnx(file: string, options: { softmax?: boolean; preprocessing?: boolean } = {}): void {
    if (options.preprocessing && !this.standardizer) throw new Error('Expected a classifier with a standardizer for preprocessing but it has none');
    exportOnnx(this.network, file, this.onnxOptions(options));
  }

  /** Frees the network's and the predictor's tensors (GPU memory); the classifier cannot be used afterwards. */
  dispose(): void {
    this.releasePredictors();
    this.network.dispose();
  }

  /** The export options of toOnnx/exportOnnx: "pixels" or "input" in, "probabilities" or "logits" out. */
  private onnxOptions(options: { softmax?: boolean; preprocessing?: boolean }): OnnxExportOptions {
    return {
      inputShape: this.inputShape,
      softmax: options.softmax,
      standardize: options.preprocessing ? this.standardizer!.toJSON() : null,
      outputName: options.softmax ? 'probabilities' : 'logits',
    };
  }

  private predictorFor(batchSize: number): Predictor {
    let p = this.predictors.get(batchSize);
    if (!p) {
      if (this.predictors.size >= 4) this.releasePredictors();
      p = this.predictor(batchSize);
      this.predictors.set(batchSize, p);
    }
    return p;
  }

  private releasePredictors(): void {
    for (const p of this.predictors.values()) p.dispose();
    this.predictors.clear();
  }
}

/** A [C, H, W] input shape, or the error naming `name`. */
function imageShape(shape: unknown, name: string, prefix: string): [number, number, number] {
  if (!Array.isArray(shape) || shape.length !== 3 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    throw new TypeError(`${prefix}Expected a [C, H, W] shape of positive integers for ${name} but received ${describe(shape)}`);
  }
  return [shape[0], shape[1], shape[2]];
}

/**
 * Loads a saved model folder (as saveModel and `napinet train` write it, a checkpoint folder, or a
 * run folder whose run stopped before its final model) as a Classifier with its preprocessing:
 * loadModel (lib/io/model_io.ts, the one reader of model folders) plus the classifier's checks
 * (an image input shape, [N, classes] outputs). `load` is this function under its older name.
 */
export function loadClassifier(dir: string, options: { device?: DeviceSpec; inputShape?: [number, number, number] } = {}): Classifier {
  if (typeof dir !== 'string' || dir === '') fail('a model folder path', 'dir', dir);
  expectObject(options, 'options');
  const given = options.inputShape !== undefined;
  if (given) imageShape(options.inputShape, 'options.inputShape', '');
  const { model, standardizer, inputShape, manifest, dir: folder } = loadModel(dir, { inputShape: options.inputShape });
  const manifestFile = path.join(folder, MODEL_FILE);
  try {
    if (inputShape === null) throw new Error(`${manifestFile} records no preprocessing.inputShape: pass load(dir, { inputShape: [C, H, W] })`);
    const shape = imageShape(inputShape, given ? 'options.inputShape' : 'preprocessing.inputShape', given ? '' : `${manifestFile}: `);
    const out = outputShapeOf(model, [1, ...shape]);
    if (out.length !== 2) throw new Error(`${manifestFile}: the network gives an output of shape [${out.join(', ')}] for input [1, ${shape.join(', ')}]; a classifier gives [N, classes]`);
    const classifier = new Classifier(model, { inputShape: shape, standardizer, manifest });
    if (options.device) classifier.to(options.device);
    return classifier;
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/** The older name of loadClassifier (kept: the README and scripts use it). */
export const load = loadClassifier;

/**
 * The output shape of `network` for an input of `shape`: from outputShape() where the network has
 * it, else from one forward pass of zeros (a module written with forward() alone).
 */
export function outputShapeOf(network: Module, shape: readonly number[]): number[] {
  if (typeof network.outputShape === 'function') return network.outputShape(shape);
  const wasTraining = network.training;
  network.eval();
  try {
    return network.inference(() => {
      const y = network.forward(Tensor.zeros(shape, { device: network.device }));
      if (!(y instanceof Tensor)) throw new TypeError(`Expected ${network.constructor.name}.forward to return a Tensor but it returned ${describe(y)}`);
      return [...y.shape];
    });
  } finally {
    network.train(wasTraining);
  }
}
