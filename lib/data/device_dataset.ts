/**
 * A TensorDataset held on one device, and the mini-batches gathered there: on a GPU the dataset is
 * uploaded once, and every batch is picked on the device from an order uploaded once per epoch
 * (ops.gatherBatch), so a training step copies nothing between host and device. On the CPU the
 * tensors are the dataset's own (no copy). Test: test/gather.test.ts.
 */
import { resolveDevice, type Device, type DeviceSpec } from '../device';
import { gatherBatch } from '../ops/gather';
import { defaultGenerator, type Generator } from '../random';
import { keep } from '../memory';
import { Tensor } from '../tensor';
import { expectInt, fail } from '../validate';
import { type Batch, TensorDataset } from './dataset';
import { epochOrder, expectShard, type Shard } from './sampler';

/**
 * A dataset's inputs and targets as tensors on one device, from which batches are gathered there:
 * the dataset's own tensors when they already live there (on the CPU: its arrays), else copies
 * uploaded once. sync() uploads again after the dataset changed in place (markChanged(); an
 * epoch's augmentation does). dispose() frees the copies.
 */
export class DeviceDataset {
  readonly source: TensorDataset;
  readonly device: Device;
  private readonly inputs: Tensor;
  private readonly targets: Tensor;
  /** Whether inputs and targets are copies (else the source's own tensors). */
  private readonly copied: boolean;
  private version: number;

  constructor(source: TensorDataset, device: DeviceSpec = 'cpu') {
    if (!(source instanceof TensorDataset)) fail('a TensorDataset or an ImageDataset', 'source', source);
    this.source = source;
    this.device = resolveDevice(device);
    this.copied = source.inputs.device !== this.device || source.targets.device !== this.device;
    this.inputs = this.copied ? keep(source.inputs.copyToDevice(this.device)) : source.inputs;
    this.targets = this.copied ? keep(source.targets.copyToDevice(this.device)) : source.targets;
    this.version = source.version;
  }

  /** Samples. */
  get count(): number {
    return this.source.length;
  }

  /** Uploads the source again if it changed in place since the last upload (copies only). */
  sync(): void {
    if (this.version === this.source.version) return;
    this.version = this.source.version;
    if (!this.copied) return; // the tensors are the dataset's own
    this.inputs.copyFrom(this.source.inputs);
    this.targets.copyFrom(this.source.targets);
  }

  /** x[i] = inputs[order[start + i]], y[i] = targets[order[start + i]] (order on this device). */
  gather(x: Tensor, y: Tensor, order: Tensor, start: number): void {
    gatherBatch(x, y, this.inputs, this.targets, order, start);
  }

  /** Batch tensors of `size` samples for gather(). */
  batchTensors(size: number): { x: Tensor; y: Tensor } {
    const { device, inputs, targets } = this;
    return {
      x: Tensor.zeros([size, ...inputs.shape.slice(1)], { device, dtype: inputs.dtype }),
      y: Tensor.zeros([size, ...targets.shape.slice(1)], { device, dtype: targets.dtype }),
    };
  }

  /** Frees the copies (the source's own tensors are left alone). */
  dispose(): void {
    if (!this.copied) return;
    this.inputs.dispose();
    this.targets.dispose();
  }
}

/** Options of batches(): the order and where the batches go. */
export interface BatchesOptions {
  shuffle?: boolean;
  generator?: Generator;
  /** Where the batches go (default: a DeviceDataset's device, else the CPU). */
  device?: DeviceSpec;
  /** Skip a last batch smaller than batchSize (PyTorch's drop_last). */
  dropLast?: boolean;
  /** Only this rank's shard of each epoch's order (DistributedSampler: lib/data/sampler.ts). */
  shard?: Shard;
}

/**
 * Mini-batches over `data`, shuffled by `generator` when `shuffle` is set, gathered on the
 * requested device (on a GPU from a copy of the whole dataset there: pass a DeviceDataset to keep
 * one copy across epochs, otherwise the generator uploads the dataset and frees it at the end).
 * The batch tensors are reused from one batch to the next (one pair per batch size), so read a
 * batch before asking for the next (a DataLoader gives batches to keep). The last batch may be
 * smaller (as PyTorch's DataLoader with drop_last=False).
 */
export function* batches(data: TensorDataset | DeviceDataset, batchSize: number, options: BatchesOptions = {}): Generator_<Batch & { indices: Int32Array }> {
  expectInt(batchSize, 'batchSize', 1);
  const given = data instanceof DeviceDataset ? data : undefined;
  const device: Device = given && options.device === undefined ? given.device : resolveDevice(options.device ?? 'cpu');
  if (given && given.device !== device) {
    throw new TypeError(`Expected a DeviceDataset on ${device} for data but received one on ${given.device}`);
  }
  const source = given ? given.source : data;
  if (!(source instanceof TensorDataset)) fail('a TensorDataset, an ImageDataset or a DeviceDataset', 'data', data);
  const onDevice = given ?? new DeviceDataset(source, device);
  onDevice.sync();
  const order = epochOrder(source.length, { shuffle: options.shuffle ?? false, generator: options.generator ?? defaultGenerator, shard: expectShard(options.shard, 'shard') });
  const count = order.length;
  const orderTensor = Tensor.from(order, [order.length], { device });
  const cache = new Map<number, { x: Tensor; y: Tensor }>();
  try {
    for (let start = 0; start < count; start += batchSize) {
      const n = Math.min(batchSize, count - start);
      if (n < batchSize && options.dropLast) break;
      let slot = cache.get(n);
      if (!slot) {
        slot = onDevice.batchTensors(n);
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
