/**
 * Datasets, after torch.utils.data: the Dataset interface (samples by index), TensorDataset (an
 * input tensor and a target tensor of any shapes and dtypes: tabular [N, F] features with float
 * targets, images with int32 class labels, …), ImageDataset (float32 images [N, C, H, W] with int32
 * labels: a TensorDataset with the chapter's helpers), and per-channel standardisation.
 *
 * A TensorDataset is what fit() trains on without copies: on a GPU it is uploaded once and every
 * batch is gathered there (lib/data/device_dataset.ts). Other datasets and streams of samples go
 * through a DataLoader (lib/data/dataloader.ts). Tests: test/dataset.test.ts, test/data_loader.test.ts.
 */
import { gatherBatch } from '../ops/gather';
import { defaultGenerator, type Generator } from '../random';
import { keep } from '../memory';
import { shapeSize, Tensor } from '../tensor';
import { expectInt, expectNumber, fail } from '../validate';

/** One sample: the model's input and its target (fit() computes loss(model(x), y)). */
export interface Sample<X = Tensor, Y = Tensor> {
  x: X;
  y: Y;
}

/**
 * What a sample may hold before collation: a tensor, a typed array or array of numbers (a 1-D
 * sample: a Float32Array or number[] gives float32, an Int32Array int32) or a number (a 0-d float32
 * sample; use an Int32Array or an int32 tensor for class labels).
 */
export type SampleValue = Tensor | ArrayLike<number> | number;

/** A sample as a dataset's get() or a stream may give it (see SampleValue). */
export type SampleLike = Sample<SampleValue, SampleValue>;

/** A batch: inputs x [size, ...] and targets y [size, ...] on one device. */
export interface Batch {
  x: Tensor;
  y: Tensor;
  size: number;
  /** The samples' indices in their dataset (absent for streamed batches). */
  indices?: Int32Array;
}

/**
 * A map-style dataset (torch.utils.data.Dataset): `length` samples, sample i from get(i). A
 * dataset may also give a whole batch at once (getBatch), which a DataLoader then prefers to
 * get() and collation.
 */
export interface Dataset<S = SampleLike> {
  readonly length: number;
  /** The sample at `index` (0 ≤ index < length). */
  get(index: number): S;
  /** Optional: the samples at `indices` as one batch, faster than get() one by one (TensorDataset gathers rows). */
  getBatch?(indices: Int32Array): Batch;
}

/** Whether `value` is a map-style dataset (has get() and an integer length). */
export function isDataset(value: unknown): value is Dataset<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Dataset).get === 'function' && Number.isInteger((value as Dataset).length);
}

/**
 * Samples held as two tensors (torch.utils.data.TensorDataset, restricted to an input and a target):
 * inputs [N, ...] and targets [N, ...], each float32 or int32, on one device each. fit() uploads a
 * TensorDataset to the model's device once and gathers every batch there. The tensors are the
 * dataset's (not copied): after changing their values in place from the host, call markChanged()
 * so copies of the dataset on a GPU are refreshed.
 */
export class TensorDataset implements Dataset<Sample> {
  readonly inputs: Tensor;
  readonly targets: Tensor;
  private changes = 0;

  constructor(inputs: Tensor, targets: Tensor) {
    for (const [t, name] of [[inputs, 'inputs'], [targets, 'targets']] as const) {
      if (!(t instanceof Tensor)) fail('a Tensor (make one with tensor() or Tensor.from())', name, t);
      if (t.shape.length < 1) fail('a tensor of rank ≥ 1 (samples along the first dimension)', name, t, RangeError);
    }
    if (inputs.shape[0] !== targets.shape[0]) {
      throw new RangeError(`Expected ${inputs.shape[0]} samples (the first dimension of inputs) for targets but received shape [${targets.shape.join(', ')}]`);
    }
    if (shapeSize(targets.shape.slice(1)) === 0) fail('targets with at least one value per sample', 'targets', targets, RangeError);
    this.inputs = inputs;
    this.targets = targets;
  }

  get length(): number {
    return this.inputs.shape[0];
  }

  /** The shape of one input (inputs.shape without the first dimension). */
  get inputShape(): readonly number[] {
    return this.inputs.shape.slice(1);
  }

  /** The shape of one target (targets.shape without the first dimension). */
  get targetShape(): readonly number[] {
    return this.targets.shape.slice(1);
  }

  /** Counts in-place changes (markChanged), so device copies know when to upload again. */
  get version(): number {
    return this.changes;
  }

  /** Records that the inputs or targets were changed in place (the library's own writers call it). */
  markChanged(): void {
    this.changes++;
  }

  /** Sample `index` (copied, on the dataset's device). */
  get(index: number): Sample {
    expectInt(index, 'index', 0, this.length - 1);
    const batch = this.getBatch(Int32Array.of(index));
    return { x: batch.x.viewAs(this.inputShape), y: batch.y.viewAs(this.targetShape) };
  }

  /** The samples at `indices` as one batch (new tensors, gathered on the dataset's device). */
  getBatch(indices: Int32Array | readonly number[]): Batch {
    const rows = indices instanceof Int32Array ? indices : Int32Array.from(indices);
    const bad = rows.findIndex((i) => !(i >= 0 && i < this.length));
    if (bad >= 0) throw new RangeError(`Expected sample indices in [0, ${this.length - 1}] for indices but received ${rows[bad]} at position ${bad}`);
    const device = this.inputs.device;
    const x = Tensor.empty([rows.length, ...this.inputShape], { device, dtype: this.inputs.dtype });
    const y = Tensor.empty([rows.length, ...this.targetShape], { device: this.targets.device, dtype: this.targets.dtype });
    if (this.targets.device !== device) {
      throw new TypeError(`Expected targets on ${device} (the device of inputs) but they are on ${this.targets.device}: move both with to()`);
    }
    const order = Tensor.from(rows, [rows.length], { device });
    try {
      gatherBatch(x, y, this.inputs, this.targets, order, 0);
    } finally {
      order.dispose();
    }
    return { x, y, size: rows.length, indices: rows };
  }

  /** A new dataset of the samples at `indices`, copied (on the host). */
  subset(indices: ArrayLike<number>): TensorDataset {
    const { x, y } = hostRows(this, indices);
    return new TensorDataset(x, y);
  }

  /**
   * Splits off a random `fraction` for validation: [train, validation]. The generator decides
   * which samples go where, so a seed reproduces the split.
   */
  split(fraction: number, generator: Generator = defaultGenerator): [TensorDataset, TensorDataset] {
    const [train, held] = splitIndices(this.length, fraction, generator);
    return [this.subset(train), this.subset(held)];
  }

  toString(): string {
    return `TensorDataset(${this.length} samples, inputs [${this.inputShape.join(', ')}] ${this.inputs.dtype}, targets [${this.targetShape.join(', ')}] ${this.targets.dtype})`;
  }
}

/** The rows `indices` of a dataset's inputs and targets, copied into new host tensors. */
function hostRows(data: TensorDataset, indices: ArrayLike<number>): { x: Tensor; y: Tensor } {
  const copy = (t: Tensor) => {
    const values = t.device === 'cpu' ? t.data : t.toArray();
    const row = shapeSize(t.shape.slice(1));
    const out = t.dtype === 'float32' ? new Float32Array(indices.length * row) : new Int32Array(indices.length * row);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      if (!(Number.isInteger(j) && j >= 0 && j < data.length)) fail(`sample indices in [0, ${data.length - 1}]`, `indices[${i}]`, j, RangeError);
      out.set(values.subarray(j * row, (j + 1) * row), i * row);
    }
    return Tensor.from(out, [indices.length, ...t.shape.slice(1)], { dtype: t.dtype });
  };
  return { x: copy(data.inputs), y: copy(data.targets) };
}

/** A seeded random split of `count` samples: [kept, held out], each in ascending order. */
function splitIndices(count: number, fraction: number, generator: Generator): [Int32Array, Int32Array] {
  expectNumber(fraction, 'validationFraction', 0, 1);
  const order = generator.permutation(count);
  const held = Math.round(count * fraction);
  if (held === 0 || held === count) {
    throw new RangeError(`Expected a validation fraction leaving samples on both sides for validationFraction but received ${fraction} of ${count} samples`);
  }
  return [order.slice(held).sort(), order.slice(0, held).sort()];
}

/**
 * In-memory images: float32 [count, C, H, W] with int32 class labels [count] in [0, numClasses).
 * A TensorDataset whose tensors are these two arrays (no copy), with the chapter's helpers.
 */
export class ImageDataset extends TensorDataset {
  /**
   * [count, C, H, W], row-major. After changing images or labels in place, call markChanged() so
   * that copies of the dataset on a GPU (DeviceDataset) are refreshed before they are used.
   */
  readonly images: Float32Array;
  readonly labels: Int32Array;
  /** [C, H, W] */
  readonly sampleShape: readonly [number, number, number];
  readonly count: number;
  readonly numClasses: number;

  constructor(images: Float32Array, labels: Int32Array, sampleShape: readonly [number, number, number], numClasses = 10) {
    if (!(images instanceof Float32Array)) fail('a Float32Array', 'images', images);
    if (!(labels instanceof Int32Array)) fail('an Int32Array', 'labels', labels);
    if (!Array.isArray(sampleShape) || sampleShape.length !== 3) fail('a sample shape [C, H, W]', 'sampleShape', sampleShape);
    const [c, h, w] = sampleShape;
    [c, h, w].forEach((d, i) => expectInt(d, `sampleShape[${i}]`, 1));
    const sampleSize = c * h * w;
    if (images.length !== labels.length * sampleSize) {
      throw new RangeError(
        `Expected ${labels.length} images of shape [${sampleShape.join(', ')}] (${labels.length * sampleSize} values) for images but received ${images.length} values`,
      );
    }
    expectInt(numClasses, 'numClasses', 1);
    const bad = labels.findIndex((l) => l < 0 || l >= numClasses);
    if (bad >= 0) {
      throw new RangeError(
        `Expected labels in [0, ${numClasses - 1}] for labels but received ${labels[bad]} at index ${bad}` +
          ` (pass numClasses, the constructor's fourth argument, for more than ${numClasses} classes)`,
      );
    }
    // The tensors wrap the arrays themselves (no copy) and live as long as the dataset.
    super(keep(Tensor.from(images, [labels.length, c, h, w])), keep(Tensor.from(labels, [labels.length], { dtype: 'int32' })));
    this.numClasses = numClasses;
    this.images = images;
    this.labels = labels;
    this.sampleShape = [c, h, w];
    this.count = labels.length;
  }

  /** From 8-bit pixels (e.g. an IDX file): values kept as 0–255 floats until standardised. */
  static fromBytes(images: Uint8Array, labels: Uint8Array, sampleShape: readonly [number, number, number], numClasses = 10): ImageDataset {
    return new ImageDataset(Float32Array.from(images), Int32Array.from(labels), sampleShape, numClasses);
  }

  get sampleSize(): number {
    return this.sampleShape[0] * this.sampleShape[1] * this.sampleShape[2];
  }

  /** A new dataset of the samples at `indices` (copied). */
  override subset(indices: ArrayLike<number>): ImageDataset {
    const size = this.sampleSize;
    const images = new Float32Array(indices.length * size);
    const labels = new Int32Array(indices.length);
    for (let i = 0; i < indices.length; i++) {
      const j = indices[i];
      images.set(this.images.subarray(j * size, (j + 1) * size), i * size);
      labels[i] = this.labels[j];
    }
    return new ImageDataset(images, labels, this.sampleShape, this.numClasses);
  }

  /** The first n samples. */
  head(n: number): ImageDataset {
    expectInt(n, 'limit', 1);
    return n >= this.count ? this : this.subset(Array.from({ length: n }, (_, i) => i));
  }

  /**
   * Splits off a random `fraction` for validation: [train, validation]. The generator decides
   * which samples go where, so a seed reproduces the split.
   */
  override split(fraction: number, generator: Generator = defaultGenerator): [ImageDataset, ImageDataset] {
    const [train, held] = splitIndices(this.count, fraction, generator);
    return [this.subset(train), this.subset(held)];
  }

  override toString(): string {
    return `ImageDataset(${this.count} images [${this.sampleShape.join(', ')}], ${this.numClasses} classes)`;
  }
}

/**
 * Per-channel standardisation (x − mean) / std, fitted on the training set and applied unchanged
 * to validation and test data: the chapter's StandardScaler_X(is_image=True).
 */
export class Standardizer {
  readonly mean: number[];
  readonly std: number[];

  constructor(mean: number[], std: number[]) {
    if (mean.length !== std.length) throw new RangeError(`Expected ${mean.length} std values for std but received ${std.length}`);
    std.forEach((s, i) => {
      if (!(s > 0)) throw new RangeError(`Expected a positive std for channel ${i} but received ${s}`);
    });
    this.mean = mean;
    this.std = std;
  }

  /** Fits the per-channel mean and standard deviation of `data`'s images (a std of 0 becomes 1). */
  static fit(data: ImageDataset): Standardizer {
    if (!(data instanceof ImageDataset)) fail('an ImageDataset', 'data', data);
    const [c, h, w] = data.sampleShape;
    const plane = h * w;
    const mean: number[] = [];
    const std: number[] = [];
    for (let ch = 0; ch < c; ch++) {
      let sum = 0;
      let sumSq = 0;
      for (let n = 0; n < data.count; n++) {
        const base = (n * c + ch) * plane;
        for (let i = 0; i < plane; i++) {
          const v = data.images[base + i];
          sum += v;
          sumSq += v * v;
        }
      }
      const count = data.count * plane;
      const m = sum / count;
      mean.push(m);
      std.push(Math.sqrt(Math.max(sumSq / count - m * m, 0)) || 1);
    }
    return new Standardizer(mean, std);
  }

  /** Standardises `data`'s images in place and returns it. */
  apply(data: ImageDataset): ImageDataset {
    const [c, h, w] = data.sampleShape;
    if (c !== this.mean.length) throw new RangeError(`Expected images with ${this.mean.length} channels for apply but received ${c}`);
    const plane = h * w;
    for (let n = 0; n < data.count; n++) {
      for (let ch = 0; ch < c; ch++) {
        const base = (n * c + ch) * plane;
        const m = this.mean[ch];
        const inv = 1 / this.std[ch];
        for (let i = 0; i < plane; i++) data.images[base + i] = (data.images[base + i] - m) * inv;
      }
    }
    data.markChanged();
    return data;
  }

  /** Standardises raw pixel values (one image or a batch, [.., C, H, W]) into a new array. */
  transform(pixels: ArrayLike<number>, sampleShape: readonly [number, number, number]): Float32Array {
    const [c, h, w] = sampleShape;
    const plane = h * w;
    const out = new Float32Array(pixels.length);
    for (let i = 0; i < pixels.length; i++) {
      const ch = Math.floor(i / plane) % c;
      out[i] = (pixels[i] - this.mean[ch]) / this.std[ch];
    }
    return out;
  }

  /** { mean, std }, as model.json stores it. */
  toJSON(): { mean: number[]; std: number[] } {
    return { mean: this.mean, std: this.std };
  }
}
