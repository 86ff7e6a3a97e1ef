/**
 * fit()'s data-parallel training across processes (its `distributed` option), after PyTorch's
 * DistributedDataParallel with a DistributedSampler: start every rank with `mpirun -np N`, call
 * napinet.distributed.init(), then the same fit() on every rank.
 *
 *   at the start  rank 0's parameters, buffers and generator state are broadcast, so every rank
 *                 holds the same model and draws the same shuffle (the one seed of the sampler)
 *   every epoch   each rank trains on its shard of the epoch's order (lib/data/sampler.ts) in
 *                 batches of batchSize / N: batchSize stays the global batch
 *   every step    after backward, the gradients are averaged over the ranks in buckets
 *                 (allReduceGradients) before optimizer.step(); not overlapped with backward (the
 *                 explicit backward is one pass through the layers that JavaScript does not see
 *                 into, and on 2 cores a second thread would take the compute's core)
 *   every epoch's end  the training figures summed over the ranks (the epoch line is the global
 *                 batch's), BatchNorm's running statistics taken from rank 0, as PyTorch DDP's
 *                 broadcast_buffers does before each forward (the batch statistics of a step are
 *                 each rank's own: no SyncBatchNorm), so validation, callbacks and checkpoints see
 *                 the same model on every rank
 *   at the end    the ranks' weights and buffers checked to agree bit for bit
 *
 * The epoch line and the progress bar come from rank 0 only; callbacks run on every rank (they may
 * draw from the generator or stop training: every rank must do alike), and those that write files
 * (ModelCheckpoint, the recipes' checkpoints) write on rank 0 only. shouldStop() is agreed among the
 * ranks every 50 steps. Tests: test/distributed_train.test.ts (under mpirun), test/sampler.test.ts.
 */
import * as dist from '../distributed';
import type { Shard } from '../data/sampler';
import type { Module } from '../nn/module';
import type { Generator } from '../random';
import { Tensor } from '../tensor';
import { expectInt, fail } from '../validate';

/** fit()'s `distributed` option: true, or settings. */
export interface DistributedFitOptions {
  /** Most bytes per gradient bucket (allReduceGradients; default 25 MiB). */
  bucketBytes?: number;
}

/** The ranks' shared work in one fit() call. */
export class DataParallel {
  readonly shard: Shard;
  private readonly bucketBytes: number | undefined;

  private constructor(options: DistributedFitOptions) {
    const world = dist.worldInfo();
    this.shard = { rank: world.rank, worldSize: world.worldSize };
    this.bucketBytes = options.bucketBytes === undefined ? undefined : expectInt(options.bucketBytes, 'distributed.bucketBytes', 4);
  }

  /** fit()'s `distributed` option checked: undefined when training in this process alone. */
  static from(option: boolean | DistributedFitOptions | undefined): DataParallel | undefined {
    if (option === undefined || option === false) return undefined;
    if (option !== true && (typeof option !== 'object' || option === null)) fail('true, false or { bucketBytes }', 'distributed', option);
    if (!dist.isInitialized()) {
      throw new Error('Expected napinet.distributed.init() to have been called on every rank for fit\'s distributed option but it was not (docs/DISTRIBUTED.md)');
    }
    return new DataParallel(option === true ? {} : option);
  }

  get isMain(): boolean {
    return this.shard.rank === 0;
  }

  /** Every rank takes rank 0's parameters, buffers and generator state. */
  start(model: Module, generator: Generator): void {
    dist.broadcastParameters(model);
    const state = generator.getState();
    const spare = new Float64Array([state.spareNormal ?? NaN]);
    const packed = Int32Array.from([...state.words, ...new Int32Array(spare.buffer)]);
    const words = collective(Tensor.from(packed, [packed.length], { dtype: 'int32' }), (t) => dist.broadcast(t)) as Int32Array;
    const spareNormal = new Float64Array(words.slice(4).buffer)[0];
    generator.setState({ words: [...words.slice(0, 4)].map((w) => w >>> 0) as typeof state.words, spareNormal: Number.isNaN(spareNormal) ? null : spareNormal });
  }

  /** After backward: every gradient replaced by its mean over the ranks. */
  reduceGradients(model: Module): void {
    dist.allReduceGradients(model.parameters(), { bucketBytes: this.bucketBytes });
  }

  /** `values` summed over the ranks (float32: the epoch's loss and metric sums, the samples seen). */
  sum(values: readonly number[]): number[] {
    return Array.from(collective(Tensor.from(Float32Array.from(values)), (t) => dist.allReduce(t)));
  }

  /** BatchNorm's running statistics (every buffer) from rank 0. */
  syncBuffers(model: Module): void {
    const buffers = model.buffers();
    if (buffers.length > 0) dist.broadcastParameters(buffers);
  }

  /** Whether any rank asks to stop (every rank must call it at the same step). */
  anyWantsToStop(mine: boolean): boolean {
    return this.sum([mine ? 1 : 0])[0] > 0;
  }

  /** Throws on every rank when the ranks' parameters and buffers are not bit for bit rank 0's. */
  checkReplicasAgree(model: Module): void {
    const mine = fingerprint(model);
    const differs = collective(Tensor.from(Int32Array.of(mine), [1], { dtype: 'int32' }), (t) => dist.broadcast(t))[0] !== mine;
    const ranksThatDiffer = this.sum([differs ? 1 : 0])[0];
    if (ranksThatDiffer > 0) {
      throw new Error(
        `napinet fit(distributed): after training, the weights of ${ranksThatDiffer} of the ${this.shard.worldSize} ranks differ from rank 0's` +
          `${differs ? ' (this rank\'s among them)' : ''}: the ranks did not train alike (a model or callback that differs between ranks, or state changed outside fit())`,
      );
    }
  }
}

/** `tensor`'s values after `operation` (a collective in place), the tensor freed. */
function collective(tensor: Tensor, operation: (t: Tensor) => Tensor): Float32Array | Int32Array {
  try {
    return operation(tensor).toArray();
  } finally {
    tensor.dispose();
  }
}

/** FNV-1a over the bytes of every parameter and buffer, in order (as an int32). */
function fingerprint(model: Module): number {
  let hash = 0x811c9dc5;
  for (const tensor of [...model.parameters(), ...model.buffers()]) {
    const values = tensor.device === 'cpu' ? tensor.data : tensor.toArray();
    const bytes = new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    for (let i = 0; i < bytes.length; i++) hash = Math.imul(hash ^ bytes[i], 0x01000193);
  }
  return hash | 0;
}
