/**
 * What fit(), evaluate() and predict() accept as data, brought to one form: a BatchSource gives
 * one epoch's batches at a time, on the model's device, each valid until the next is asked for.
 *
 *   TensorDataset / ImageDataset (or a DataLoader over one, without collate): uploaded to the
 *     device once, every batch gathered there into reused tensors: no copy in a step.
 *   any other Dataset, an IterableDataset, a DataLoader: its batches (getBatch, or get + collate;
 *     a stream's samples in order), moved to the device when they are elsewhere.
 *   a stream of batches: an iterable or async iterable of { x, y }, or a function returning a new
 *     one per epoch (a generator function): each batch as it comes.
 *
 * Tensors the library made for a batch (the default collate, a TensorDataset's getBatch, copies to
 * the device) are disposed when the next batch is asked for; tensors from user code (a collate
 * function, a custom getBatch, a stream) are left to their owner.
 */
import type { Device } from '../device';
import { type Batch, type Dataset, isDataset, TensorDataset } from '../data/dataset';
import { batches, DeviceDataset } from '../data/device_dataset';
import { type BatchLike, checkedBatch, DataLoader, isAsyncIterable, isIterable, IterableDataset, type OwnedBatch } from '../data/dataloader';
import { type Shard, shardLength } from '../data/sampler';
import type { Generator } from '../random';
import type { Tensor } from '../tensor';
import { expectBoolean, expectInt, fail } from '../validate';

/** Batches as a stream: an iterable or async iterable of { x, y }, or a function returning one per epoch. */
export type BatchStream = Iterable<BatchLike> | AsyncIterable<BatchLike> | (() => Iterable<BatchLike> | AsyncIterable<BatchLike>);

/** Every form of data fit() and evaluateAsync() accept. */
export type FitData = Dataset<any> | DeviceDataset | IterableDataset<any> | DataLoader<any> | BatchStream;

/** The forms that can be read without waiting (evaluate(), predict()). */
export type SyncData = Dataset<any> | DeviceDataset | DataLoader<any> | Iterable<BatchLike> | (() => Iterable<BatchLike>);

/** How a dataset is batched when it comes without a DataLoader. */
export interface BatchSettings {
  batchSize: number;
  shuffle: boolean;
  dropLast: boolean;
  /**
   * Data-parallel training: only this rank's shard of every epoch (DistributedSampler,
   * lib/data/sampler.ts), in batches of batchSize / worldSize: the batch sizes given (batchSize, a
   * DataLoader's) are the global batch, which must divide evenly.
   */
  shard?: Shard;
}

/** A rank's share of the global batch `batchSize` (`name` names it in the error). */
export function rankBatchSize(batchSize: number, shard: Shard | undefined, name: string): number {
  if (!shard || shard.worldSize === 1) return batchSize;
  if (batchSize % shard.worldSize !== 0) {
    throw new RangeError(
      `Expected a global batch size divisible by the world size ${shard.worldSize} for ${name} (each of the ${shard.worldSize} ranks takes ${name} / ${shard.worldSize}) but received ${batchSize}`,
    );
  }
  return batchSize / shard.worldSize;
}

export interface BatchSource {
  /** Batches per epoch, when known in advance. */
  readonly steps: number | undefined;
  /** Samples per epoch, when known in advance. */
  readonly samples: number | undefined;
  /** Samples in a full batch, when known in advance. */
  readonly batchSize: number | undefined;
  /** Whether every batch lives in the same tensors (one pair per batch size): the on-device gather. */
  readonly reusesBatchTensors: boolean;
  /**
   * One epoch's batches on the device (sync when the data is, else async). `generator` draws a
   * shuffle (a DataLoader's own generator comes first).
   */
  epoch(generator: Generator): Iterable<Batch> | AsyncIterable<Batch>;
  dispose(): void;
}

/**
 * `data` as a BatchSource on `device`; `name` names it in messages ('data', 'validation').
 * `settings` batch a dataset given without a DataLoader; a DataLoader or a stream brings its own.
 */
export function batchSource(data: unknown, device: Device, settings: Partial<BatchSettings> & { batchSize: number }, name: string): BatchSource {
  const batchSize = expectInt(settings.batchSize, 'batchSize', 1);
  const shuffle = expectBoolean(settings.shuffle ?? false, 'shuffle');
  const dropLast = expectBoolean(settings.dropLast ?? false, 'dropLast');
  const shard = settings.shard;
  if (shard && (data instanceof IterableDataset || (data instanceof DataLoader && data.streamed) || isBatchStream(data))) {
    throw new TypeError(
      `Expected a dataset or a DataLoader over one as ${name} for data-parallel training (its indices are shared out among the ranks) but received a stream: give each rank its own share of the stream instead`,
    );
  }
  if (data instanceof DataLoader) {
    const local = { batchSize: rankBatchSize(data.batchSize, shard, `the DataLoader's batchSize (${name})`), shuffle: data.shuffle, dropLast: data.dropLast, shard };
    if (data.dataset instanceof TensorDataset && !data.collate) return new DeviceBatches(data.dataset, device, local, data.generator);
    return new LoaderBatches(shard ? new DataLoader(data.dataset, { ...local, generator: data.generator, collate: data.collate }) : data, device);
  }
  const local = { batchSize: rankBatchSize(batchSize, shard, 'batchSize'), shuffle, dropLast, shard };
  if (data instanceof TensorDataset || data instanceof DeviceDataset) return new DeviceBatches(data, device, local, undefined);
  if (data instanceof IterableDataset || isDataset(data)) {
    if (shuffle && data instanceof IterableDataset) {
      throw new TypeError(`Expected shuffle false for an IterableDataset as ${name} (a stream is read in its own order) but received true`);
    }
    return new LoaderBatches(new DataLoader(data as IterableDataset<any>, local), device);
  }
  if (typeof data === 'function' || isIterable(data) || isAsyncIterable(data)) return new StreamBatches(data as BatchStream, device, name);
  return fail(
    'a TensorDataset, an ImageDataset, a Dataset (length, get(i)), an IterableDataset, a DataLoader, or batches { x, y } (an iterable, an async iterable or a function returning one)',
    name,
    data,
  );
}

/** Whether `data` is a stream of batches from user code (not a dataset or a DataLoader). */
export function isBatchStream(data: unknown): boolean {
  if (data instanceof DataLoader || data instanceof IterableDataset || data instanceof TensorDataset || data instanceof DeviceDataset || isDataset(data)) return false;
  return typeof data === 'function' || isIterable(data) || isAsyncIterable(data);
}

/** Whether `data` can be read without waiting (everything but streams that are async). */
export function isSyncData(data: unknown): boolean {
  if (data instanceof DataLoader) return !data.streamed;
  if (data instanceof IterableDataset) return false;
  if (data instanceof TensorDataset || data instanceof DeviceDataset || isDataset(data)) return true;
  return isIterable(data) || typeof data === 'function';
}

/**
 * A TensorDataset on the device: uploaded once, every batch gathered there into reused tensors. A
 * DeviceDataset given is used as it is (on its device, which must be the model's) and left alive.
 */
class DeviceBatches implements BatchSource {
  private readonly onDevice: DeviceDataset;
  private readonly ownsDeviceCopy: boolean;
  readonly steps: number;
  readonly samples: number;
  readonly batchSize: number;
  readonly reusesBatchTensors = true;

  constructor(
    dataset: TensorDataset | DeviceDataset,
    device: Device,
    private readonly settings: BatchSettings,
    private readonly generator: Generator | undefined,
  ) {
    this.ownsDeviceCopy = !(dataset instanceof DeviceDataset);
    if (dataset instanceof DeviceDataset && dataset.device !== device) {
      throw new TypeError(`Expected a DeviceDataset on ${device} (the model's device) but received one on ${dataset.device}`);
    }
    this.onDevice = dataset instanceof DeviceDataset ? dataset : new DeviceDataset(dataset, device);
    const n = shardLength(this.onDevice.count, settings.shard);
    this.steps = settings.dropLast ? Math.floor(n / settings.batchSize) : Math.ceil(n / settings.batchSize);
    this.samples = settings.dropLast ? this.steps * settings.batchSize : n;
    this.batchSize = settings.batchSize;
  }

  epoch(generator: Generator): Iterable<Batch> {
    const { batchSize, shuffle, dropLast, shard } = this.settings;
    return batches(this.onDevice, batchSize, { shuffle, dropLast, shard, generator: this.generator ?? generator });
  }

  dispose(): void {
    if (this.ownsDeviceCopy) this.onDevice.dispose();
  }
}

/** A DataLoader's batches, moved to the device. */
class LoaderBatches implements BatchSource {
  readonly steps: number | undefined;
  readonly samples: number | undefined;
  readonly batchSize: number;
  readonly reusesBatchTensors = false;

  constructor(
    private readonly loader: DataLoader<any>,
    private readonly device: Device,
  ) {
    this.steps = loader.length;
    this.batchSize = loader.batchSize;
    this.samples = loader.streamed ? undefined : loader.dropLast ? loader.length! * loader.batchSize : shardLength((loader.dataset as { length: number }).length, loader.shard);
  }

  epoch(generator: Generator): Iterable<Batch> | AsyncIterable<Batch> {
    const owned = this.loader.epoch(generator);
    return isIterable(owned) ? placedSync(owned, this.device) : placedAsync(owned, this.device);
  }

  dispose(): void {}
}

/** Batches streamed by user code. */
class StreamBatches implements BatchSource {
  readonly steps = undefined;
  readonly samples = undefined;
  readonly batchSize = undefined;
  readonly reusesBatchTensors = false;

  constructor(
    private readonly stream: BatchStream,
    private readonly device: Device,
    private readonly name: string,
  ) {}

  epoch(): Iterable<Batch> | AsyncIterable<Batch> {
    const it = typeof this.stream === 'function' ? this.stream() : this.stream;
    if (!isIterable(it) && !isAsyncIterable(it)) fail('an iterable or async iterable of batches { x, y }', `the value returned by ${this.name}()`, it);
    const name = `a batch of ${this.name}`;
    const owned = (b: unknown): OwnedBatch => ({ batch: checkedBatch(b, name), owned: false });
    if (isIterable(it)) return placedSync(mapIterable(it, owned), this.device);
    return placedAsync(mapAsyncIterable(it, owned), this.device);
  }

  dispose(): void {}
}

function* mapIterable<T, U>(it: Iterable<T>, f: (t: T) => U): Generator_<U> {
  for (const t of it) yield f(t);
}

async function* mapAsyncIterable<T, U>(it: AsyncIterable<T>, f: (t: T) => U): AsyncGenerator<U> {
  for await (const t of it) yield f(t);
}

/** A batch on `device`, and what to free once it has been used. */
function place({ batch, owned }: OwnedBatch, device: Device): { batch: Batch; release(): void } {
  const move = (t: Tensor) => (t.device === device ? t : t.copyToDevice(device));
  const x = move(batch.x);
  const y = move(batch.y);
  return {
    batch: { ...batch, x, y },
    release() {
      for (const [placed, original] of [[x, batch.x], [y, batch.y]] as const) {
        if (placed !== original) placed.dispose();
        if (owned) original.dispose();
      }
    },
  };
}

function* placedSync(owned: Iterable<OwnedBatch>, device: Device): Generator_<Batch> {
  for (const b of owned) {
    const { batch, release } = place(b, device);
    try {
      yield batch;
    } finally {
      release();
    }
  }
}

async function* placedAsync(owned: AsyncIterable<OwnedBatch>, device: Device): AsyncGenerator<Batch> {
  for await (const b of owned) {
    const { batch, release } = place(b, device);
    try {
      yield batch;
    } finally {
      release();
    }
  }
}

type Generator_<T> = globalThis.Generator<T, void, unknown>;
