/**
 * In-memory image datasets: float32 images [count, C, H, W] with int32 labels; the validation
 * split, per-channel standardisation and shuffled mini-batches the training loop consumes. A
 * DeviceDataset holds a dataset on one device (on a GPU, uploaded once), and batches are gathered
 * there (ops.gatherBatch).
 */
import { resolveDevice, type Device, type DeviceSpec } from '../device';
import { gatherBatch } from '../ops/gather';
import { defaultGenerator, type Generator } from '../random';
import { keep } from '../memory';
import { Tensor } from '../tensor';
import { expectInt, expectNumber, fail } from '../validate';

export class ImageDataset {
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
    const [c, h, w] = sampleShape;
    [c, h, w].forEach((d, i) => expectInt(d, `sampleShape[${i}]`, 1));
    const sampleSize = c * h * w;
    if (images.length !== labels.length * sampleSize) {
      throw new RangeError(
        `Expected ${labels.length} images of shape [${sampleShape.join(', ')}] (${labels.length * sampleSize} values) for images but received ${images.length} values`,
      );
    }
    this.numClasses = expectInt(numClasses, 'numClasses', 1);
    const bad = labels.findIndex((l) => l < 0 || l >= numClasses);
    if (bad >= 0) throw new RangeError(`Expected labels in [0, ${numClasses - 1}] for labels but received ${labels[bad]} at index ${bad}`);
    this.images = images;
    this.labels = labels;
    this.sampleShape = [c, h, w];
    this.count = labels.length;
  }

  /** From 8-bit pixels (e.g. an IDX file): values kept as 0–255 floats until standardised. */
  static fromBytes(images: Uint8Array, labels: Uint8Array, sampleShape: readonly [number, number, number], numClasses = 10): ImageDataset {
    return new ImageDataset(Float32Array.from(images), Int32Array.from(labels), sampleShape, numClasses);
  }

  /** Counts in-place changes (markChanged), so device copies know when to upload again. */
  get version(): number {
    return this.changes;
  }

  /** Records that images or labels were changed in place (the library's own writers call it). */
  markChanged(): void {
    this.changes++;
  }

  private changes = 0;

  get sampleSize(): number {
    return this.sampleShape[0] * this.sampleShape[1] * this.sampleShape[2];
  }

  /** A new dataset of the samples at `indices` (copied). */
  subset(indices: ArrayLike<number>): ImageDataset {
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
  split(fraction: number, generator: Generator = defaultGenerator): [ImageDataset, ImageDataset] {
    expectNumber(fraction, 'validationFraction', 0, 1);
    const order = generator.permutation(this.count);
    const held = Math.round(this.count * fraction);
    if (held === 0 || held === this.count) {
      throw new RangeError(`Expected a validation fraction leaving samples on both sides for validationFraction but received ${fraction} of ${this.count} samples`);
    }
    const validation = order.slice(0, held).sort();
    const train = order.slice(held).sort();
    return [this.subset(train), this.subset(validation)];
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

  static fit(data: ImageDataset): Standardizer {
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

  toJSON(): { mean: number[]; std: number[] } {
    return { mean: this.mean, std: this.std };
  }
}

export interface Batch {
  /** [size, C, H, W] on the requested device. */
  x: Tensor;
  /** int32 [size] */
  y: Tensor;
  size: number;
  /** Sample indices of this batch in the dataset. */
  indices: Int32Array;
}

/**
 * A dataset's images and labels as tensors on one device, from which batches are gathered there:
 * on a GPU the whole dataset is uploaded once, so a training step uploads nothing; on the CPU the
 * tensors are the dataset's own arrays (no copy). sync() uploads again after the dataset changed
 * in place (ImageDataset.markChanged; an epoch's augmentation does). dispose() frees GPU memory.
 */
export class DeviceDataset {
  readonly source: ImageDataset;
  readonly device: Device;
  private readonly images: Tensor;
  private readonly labels: Tensor;
  private version: number;

  constructor(source: ImageDataset, device: DeviceSpec = 'cpu') {
    if (!(source instanceof ImageDataset)) fail('an ImageDataset', 'source', source);
    this.source = source;
    this.device = resolveDevice(device);
    this.images = keep(Tensor.from(source.images, [source.count, ...source.sampleShape], { device: this.device }));
    this.labels = keep(Tensor.from(source.labels, [source.count], { dtype: 'int32', device: this.device }));
    this.version = source.version;
  }

  get count(): number {
    return this.source.count;
  }

  /** Uploads the source again if it changed in place since the last upload (GPU only). */
  sync(): void {
    if (this.version === this.source.version) return;
    this.version = this.source.version;
    if (this.device === 'cpu') return; // the tensors are the arrays themselves
    this.images.copyFrom(this.source.images);
    this.labels.copyFrom(this.source.labels);
  }

  /** x[i] = images[order[start + i]], y[i] = labels[order[start + i]] (order on this device). */
  gather(x: Tensor, y: Tensor, order: Tensor, start: number): void {
    gatherBatch(x, y, this.images, this.labels, order, start);
  }

  /** Frees the GPU copy (nothing to free on the CPU). */
  dispose(): void {
    this.images.dispose();
    this.labels.dispose();
  }
}

/**
 * Mini-batches over `data`, shuffled by `generator` when `shuffle` is set, gathered on the
 * requested device (on a GPU from a copy of the whole dataset there: pass a DeviceDataset to keep
 * one copy across epochs, otherwise the generator uploads the dataset and frees it at the end).
 * The batch tensors are reused from one batch to the next (one pair per batch size), so read a
 * batch before asking for the next. The last batch may be smaller (as PyTorch's DataLoader with
 * drop_last=False).
 */
export function* batches(
  data: ImageDataset | DeviceDataset,
  batchSize: number,
  options: { shuffle?: boolean; generator?: Generator; device?: DeviceSpec; dropLast?: boolean } = {},
): Generator_<Batch> {
  expectInt(batchSize, 'batchSize', 1);
  const given = data instanceof DeviceDataset ? data : undefined;
  const device: Device = given && options.device === undefined ? given.device : resolveDevice(options.device ?? 'cpu');
  if (given && given.device !== device) {
    throw new TypeError(`Expected a DeviceDataset on ${device} for data but received one on ${given.device}`);
  }
  const source = given ? given.source : data;
  if (!(source instanceof ImageDataset)) fail('an ImageDataset or a DeviceDataset', 'data', data);
  const onDevice = given ?? new DeviceDataset(source, device);
  onDevice.sync();
  const order = options.shuffle ? (options.generator ?? defaultGenerator).permutation(source.count) : Int32Array.from({ length: source.count }, (_, i) => i);
  const orderTensor = Tensor.from(order, [order.length], { device });
  const cache = new Map<number, { x: Tensor; y: Tensor }>();
  try {
    for (let start = 0; start < source.count; start += batchSize) {
      const n = Math.min(batchSize, source.count - start);
      if (n < batchSize && options.dropLast) break;
      let slot = cache.get(n);
      if (!slot) {
        slot = { x: Tensor.zeros([n, ...source.sampleShape], { device }), y: Tensor.zeros([n], { device, dtype: 'int32' }) };
        cache.set(n, slot);
      }
      onDevice.gather(slot.x, slot.y, orderTensor, start);
      yield { x: slot.x, y: slot.y, size: n, indices: order.subarray(start, start + n) };
    }
  } finally {
    for (const slot of cache.values()) {
      slot.x.dispose();
      slot.y.dispose();
    }
    orderTensor.dispose();
    if (!given) onDevice.dispose();
  }
}

type Generator_<T> = globalThis.Generator<T, void, unknown>;
