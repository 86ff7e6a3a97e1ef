/**
 * The order of one epoch's samples, and one rank's shard of it (torch.utils.data.DistributedSampler):
 * every rank draws the same order (the same generator state: fit() broadcasts rank 0's at the
 * start), pads it with its own first indices to a multiple of the world size, and takes every
 * worldSize-th index from its rank on. The shards are disjoint (but for the padding) and of equal
 * length, so every rank takes as many steps; and rank r's k-th batch of b = B/N samples holds
 * the positions of the one-process k-th batch of B that are ≡ r (mod N), so the N ranks' batches
 * together are the one-process batch. Test: test/sampler.test.ts.
 */
import type { Generator } from '../random';
import { expectInt } from '../validate';

/** This process's place among the ranks that share the data. */
export interface Shard {
  rank: number;
  worldSize: number;
}

/** `shard` checked (undefined stays undefined). */
export function expectShard(shard: Shard | undefined, name: string): Shard | undefined {
  if (shard === undefined) return undefined;
  const worldSize = expectInt(shard?.worldSize, `${name}.worldSize`, 1);
  return { worldSize, rank: expectInt(shard.rank, `${name}.rank`, 0, worldSize - 1) };
}

/** Samples per rank: ⌈count / worldSize⌉ (DistributedSampler's num_samples without drop_last). */
export function shardLength(count: number, shard: Shard | undefined): number {
  return shard ? Math.ceil(count / shard.worldSize) : count;
}

/**
 * One epoch's order of `count` samples: a permutation drawn from `generator` when `shuffle`, else
 * 0…count−1; with `shard`, this rank's part of it (see the file comment).
 */
export function epochOrder(count: number, options: { shuffle: boolean; generator: Generator; shard?: Shard }): Int32Array {
  const order = options.shuffle ? options.generator.permutation(count) : Int32Array.from({ length: count }, (_, i) => i);
  const shard = options.shard;
  if (!shard || shard.worldSize === 1) return order;
  const length = shardLength(count, shard);
  const mine = new Int32Array(length);
  for (let i = 0; i < length; i++) mine[i] = order[(i * shard.worldSize + shard.rank) % count];
  return mine;
}
