/**
 * DataLoader (torch.utils.data.DataLoader): mini-batches from a dataset, shuffled by a seeded
 * generator, with the last short batch kept or dropped, samples joined by a collate function; and
 * IterableDataset, a stream of samples (a sync or async generator: data read from disk or the
 * network, larger than memory) that a DataLoader batches in order.
 *
 *   const loader = new DataLoader(new TensorDataset(x, y), { batchSize: 32, shuffle: true, generator });
 *   for (const { x, y } of loader) …                  // map-style: for … of, or for await … of
 *   const stream = new IterableDataset(async function* () { for await (const row of rows()) yield { x: row.features, y: row.label }; });
 *   for await (const batch of new DataLoader(stream, { batchSize: 64 })) …
 *
 * A batch from a DataLoader is the caller's to keep: new tensors every time (fit() itself gathers a
 * TensorDataset's batches on the device into reused tensors: lib/data/device_dataset.ts).
 * Test: test/data_loader.test.ts.
 */
import { defaultGenerator, type Generator } from '../random';
import { Tensor } from '../tensor';
import { article, describe, expectBoolean, expectInt, fail } from '../validate';
import { type Batch, type Dataset, isDataset, type SampleLike, type SampleValue, TensorDataset } from './dataset';
import { epochOrder, expectShard, type Shard, shardLength } from './sampler';

/** What a collate function or a stream of batches gives: inputs and targets, samples along dim 0. */
export interface BatchLike {
  x: Tensor;
  y: Tensor;
  /** Samples (default x.shape[0]). */
  size?: number;
}

/** Joins samples into a batch (PyTorch's collate_fn). */
export type Collate<S> = (samples: S[]) => BatchLike;

/** A source of samples that has no length: read in order, once per epoch (torch IterableDataset). */
export class IterableDataset<S = SampleLike> implements AsyncIterable<S> {
  private readonly source: () => Iterable<S> | AsyncIterable<S>;

  /**
   * `source` returns a new iterator of samples each time it is called (once per epoch): a generator
   * function, sync or async, or any function returning an iterable.
   */
  constructor(source: () => Iterable<S> | AsyncIterable<S>) {
    if (typeof source !== 'function') fail('a function returning an iterable of samples (e.g. an async generator function)', 'source', source);
    this.source = source;
  }

  /** The samples of one pass (source() called anew). */
  samples(): Iterable<S> | AsyncIterable<S> {
    const it = this.source();
    if (!isIterable(it) && !isAsyncIterable(it)) fail('an iterable or async iterable of samples', 'the value returned by source()', it);
    return it;
  }

  /** The samples of one pass, in order (calls the generator function anew). */
  async *[Symbol.asyncIterator](): AsyncIterator<S> {
    yield* this.samples();
  }
}

/** The sample type of a dataset (what a collate function receives). */
export type SampleOf<D> = D extends Dataset<infer S> ? S : D extends IterableDataset<infer S> ? S : never;

/** Options of a DataLoader, as torch.utils.data.DataLoader's. */
export interface DataLoaderOptions<S> {
  /** Samples per batch (default 1, as PyTorch). */
  batchSize?: number;
  /** A new random order every epoch (map-style datasets only; default false). */
  shuffle?: boolean;
  /** Skip a last batch smaller than batchSize (default false). */
  dropLast?: boolean;
  /** Draws the shuffle (default: defaultGenerator; under fit(), fit's generator). */
  generator?: Generator;
  /** Joins samples into a batch (default: defaultCollate, which stacks x's and y's). */
  collate?: Collate<S>;
  /**
   * Only this rank's shard of each epoch's order (PyTorch's DistributedSampler; map-style datasets
   * only): every rank must draw the same order (the same generator state). lib/data/sampler.ts.
   */
  shard?: Shard;
}

/** A batch, and whether its tensors were made for it (so whoever consumes it may dispose them). */
export interface OwnedBatch {
  batch: Batch;
  owned: boolean;
}

/**
 * Mini-batches over a map-style Dataset (samples by index; shuffled when asked) or an
 * IterableDataset (samples in stream order). A map-style loader is iterable both ways (for … of and
 * for await … of); a stream's only with for await.
 */
export class DataLoader<D extends Dataset<any> | IterableDataset<any> = Dataset<SampleLike>> implements Iterable<Batch>, AsyncIterable<Batch> {
  readonly dataset: D;
  readonly batchSize: number;
  readonly shuffle: boolean;
  readonly dropLast: boolean;
  readonly generator: Generator | undefined;
  readonly collate: Collate<SampleOf<D>> | undefined;
  readonly shard: Shard | undefined;

  constructor(dataset: D, options: DataLoaderOptions<SampleOf<D>> = {}) {
    if (!(dataset instanceof IterableDataset) && !isDataset(dataset)) {
      fail('a Dataset (length and get(i)), a TensorDataset, an ImageDataset or an IterableDataset', 'dataset', dataset);
    }
    if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
    this.dataset = dataset;
    this.batchSize = expectInt(options.batchSize ?? 1, 'batchSize', 1);
    this.shuffle = expectBoolean(options.shuffle ?? false, 'shuffle');
    this.dropLast = expectBoolean(options.dropLast ?? false, 'dropLast');
    if (this.shuffle && dataset instanceof IterableDataset) {
      throw new TypeError('Expected shuffle false for an IterableDataset (a stream is read in its own order) but received true');
    }
    if (options.generator !== undefined && (typeof options.generator !== 'object' || typeof options.generator.permutation !== 'function')) {
      fail('a Generator', 'generator', options.generator);
    }
    if (options.collate !== undefined && typeof options.collate !== 'function') fail('a function (samples) => { x, y }', 'collate', options.collate);
    this.generator = options.generator;
    this.collate = options.collate;
    this.shard = expectShard(options.shard, 'shard');
    if (this.shard && dataset instanceof IterableDataset) {
      throw new TypeError('Expected no shard for an IterableDataset (a stream has no indices to share out: give each rank its own stream) but received one');
    }
  }

  /** Whether the dataset is read in a stream (an IterableDataset: async, no length). */
  get streamed(): boolean {
    return this.dataset instanceof IterableDataset;
  }

  /** Batches per epoch (undefined for a stream). */
  get length(): number | undefined {
    if (this.dataset instanceof IterableDataset) return undefined;
    const n = shardLength(this.dataset.length, this.shard);
    return this.dropLast ? Math.floor(n / this.batchSize) : Math.ceil(n / this.batchSize);
  }

  /** The batches of one epoch, for a map-style dataset (a stream needs `for await`). */
  [Symbol.iterator](): Iterator<Batch> {
    if (this.dataset instanceof IterableDataset) {
      throw new TypeError('Expected for await (… of loader) for a DataLoader over an IterableDataset (a stream is read asynchronously) but received for (… of loader)');
    }
    return batchesOnly(this.mapStyleBatches(this.generator ?? defaultGenerator));
  }

  /** The batches of one epoch, for any dataset (`for await (const batch of loader)`). */
  async *[Symbol.asyncIterator](): AsyncIterator<Batch> {
    const generator = this.generator ?? defaultGenerator;
    if (this.dataset instanceof IterableDataset) {
      for await (const { batch } of this.streamBatches()) yield batch;
    } else {
      yield* batchesOnly(this.mapStyleBatches(generator));
    }
  }

  /**
   * @internal One epoch's batches, each marked owned when this loader made its tensors (the
   * default collate, a TensorDataset's getBatch). `generator` draws the shuffle when the loader has
   * none of its own.
   */
  epoch(generator: Generator): Iterable<OwnedBatch> | AsyncIterable<OwnedBatch> {
    return this.dataset instanceof IterableDataset ? this.streamBatches() : this.mapStyleBatches(this.generator ?? generator);
  }

  /** A map-style dataset's batches: the order drawn when iteration starts, then getBatch or get + collate. */
  private *mapStyleBatches(generator: Generator): Generator_<OwnedBatch> {
    const dataset = this.dataset as Dataset<SampleOf<D>>;
    const order = epochOrder(dataset.length, { shuffle: this.shuffle, generator, shard: this.shard });
    const count = order.length;
    for (let start = 0; start < count; start += this.batchSize) {
      const indices = order.subarray(start, Math.min(count, start + this.batchSize));
      if (indices.length < this.batchSize && this.dropLast) break;
      if (!this.collate && typeof dataset.getBatch === 'function') {
        const batch = checkedBatch(dataset.getBatch(indices), 'the batch from dataset.getBatch()');
        // napinet's own datasets make new tensors for every getBatch() call.
        yield { batch: { ...batch, indices }, owned: dataset instanceof TensorDataset };
      } else {
        const { batch, owned } = this.collated(Array.from(indices, (i) => dataset.get(i)));
        yield { batch: { ...batch, indices }, owned };
      }
    }
  }

  /** A stream's samples, batchSize at a time, collated (the last short batch kept unless dropLast). */
  private async *streamBatches(): AsyncGenerator<OwnedBatch> {
    let samples: SampleOf<D>[] = [];
    for await (const sample of (this.dataset as IterableDataset<SampleOf<D>>).samples()) {
      samples.push(sample);
      if (samples.length === this.batchSize) {
        yield this.collated(samples);
        samples = [];
      }
    }
    if (samples.length > 0 && !this.dropLast) yield this.collated(samples);
  }

  private collated(samples: SampleOf<D>[]): OwnedBatch {
    if (this.collate) return { batch: checkedBatch(this.collate(samples), 'the batch from collate()'), owned: false };
    return { batch: defaultCollate(samples as SampleLike[]), owned: true };
  }
}

function* batchesOnly(owned: Iterable<OwnedBatch>): Generator_<Batch> {
  for (const { batch } of owned) yield batch;
}

/**
 * Stacks samples into a batch on the CPU: the x's (each a tensor, a typed array, an array of
 * numbers or a number, all of one shape and dtype) into x [n, ...shape], the y's likewise. A
 * Float32Array, number[] or number gives float32, an Int32Array int32, a tensor its own dtype.
 */
export function defaultCollate(samples: readonly SampleLike[]): Batch {
  if (!Array.isArray(samples) || samples.length === 0) fail('a non-empty array of samples', 'samples', samples);
  samples.forEach((s, i) => {
    if (typeof s !== 'object' || s === null || !('x' in s) || !('y' in s)) fail('a sample { x, y }', `samples[${i}]`, s);
  });
  return { x: stackValues(samples.map((s) => s.x), 'x'), y: stackValues(samples.map((s) => s.y), 'y'), size: samples.length };
}

interface HostValue {
  values: Float32Array | Int32Array;
  shape: readonly number[];
  dtype: 'float32' | 'int32';
}

function hostValue(value: SampleValue, name: string): HostValue {
  if (value instanceof Tensor) return { values: value.device === 'cpu' ? value.data : value.toArray(), shape: value.shape, dtype: value.dtype };
  if (typeof value === 'number') return { values: Float32Array.of(value), shape: [], dtype: 'float32' };
  if (value instanceof Int32Array) return { values: value, shape: [value.length], dtype: 'int32' };
  if (value instanceof Float32Array) return { values: value, shape: [value.length], dtype: 'float32' };
  if ((Array.isArray(value) || ArrayBuffer.isView(value)) && typeof (value as ArrayLike<number>).length === 'number') {
    const values = Float32Array.from(value as ArrayLike<number>);
    return { values, shape: [values.length], dtype: 'float32' };
  }
  return fail('a Tensor, a typed array, an array of numbers or a number', name, value);
}

function stackValues(values: readonly SampleValue[], key: 'x' | 'y'): Tensor {
  const first = hostValue(values[0], `samples[0].${key}`);
  const size = first.values.length;
  const out = first.dtype === 'float32' ? new Float32Array(values.length * size) : new Int32Array(values.length * size);
  values.forEach((v, i) => {
    const h = i === 0 ? first : hostValue(v, `samples[${i}].${key}`);
    if (h.dtype !== first.dtype || h.shape.length !== first.shape.length || h.shape.some((d, k) => d !== first.shape[k])) {
      throw new RangeError(
        `Expected ${article(first.dtype)} ${first.dtype} value of shape [${first.shape.join(', ')}] (as samples[0].${key}) for samples[${i}].${key} but received ${article(h.dtype)} ${h.dtype} value of shape [${h.shape.join(', ')}]`,
      );
    }
    out.set(h.values, i * size);
  });
  return Tensor.from(out, [values.length, ...first.shape], { dtype: first.dtype });
}

/** A batch from user code (collate, getBatch, a stream), checked: x and y tensors with one sample count. */
export function checkedBatch(value: unknown, name: string): Batch {
  const b = value as BatchLike;
  if (typeof b !== 'object' || b === null || !(b.x instanceof Tensor) || !(b.y instanceof Tensor)) {
    fail('a batch { x: Tensor, y: Tensor }', name, value);
  }
  if (b.x.shape.length === 0 || b.y.shape.length === 0 || b.x.shape[0] !== b.y.shape[0]) {
    throw new RangeError(`Expected x and y with the same number of samples (first dimension) for ${name} but received x [${b.x.shape.join(', ')}], y [${b.y.shape.join(', ')}]`);
  }
  const size = b.size ?? b.x.shape[0];
  if (size !== b.x.shape[0]) throw new RangeError(`Expected size ${b.x.shape[0]} (x's first dimension) for ${name}.size but received ${describe(b.size)}`);
  return { x: b.x, y: b.y, size, indices: (value as Batch).indices };
}

export function isIterable(value: unknown): value is Iterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function';
}

export function isAsyncIterable(value: unknown): value is AsyncIterable<unknown> {
  return typeof value === 'object' && value !== null && typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function';
}

type Generator_<T> = globalThis.Generator<T, void, unknown>;
