// One rank's shard of an epoch (lib/data/sampler.ts, PyTorch's DistributedSampler) and how the
// batching takes it (batches(), DataLoader, fit's batch sources): disjoint, equal shards that
// together are the epoch, rank r's k-th batch being the one-process k-th batch's positions ≡ r
// (mod N), and fit's distributed option in a world of one (no launcher) training as without it.
//   npx vitest run test/sampler.test.ts
import { describe, expect, test } from 'vitest';
import { DataLoader, fit, Generator, nn, optim, Tensor, TensorDataset } from '../lib';
import * as dist from '../lib/distributed';
import { batches } from '../lib/data/device_dataset';
import { epochOrder, shardLength } from '../lib/data/sampler';
import { batchSource, rankBatchSize } from '../lib/train/data_source';

const ids = (n: number) => new TensorDataset(Tensor.from(Float32Array.from({ length: n }, (_, i) => i), [n, 1]), Tensor.from(Int32Array.from({ length: n }, (_, i) => i), [n], { dtype: 'int32' }));

describe('epochOrder with a shard', () => {
  test('the shards of one order are disjoint, of equal length, and together the order', () => {
    for (const [count, worldSize] of [[12, 2], [12, 3], [10, 4], [7, 1]]) {
      const whole = epochOrder(count, { shuffle: true, generator: new Generator(5) });
      const shards = Array.from({ length: worldSize }, (_, rank) => epochOrder(count, { shuffle: true, generator: new Generator(5), shard: { rank, worldSize } }));
      const length = Math.ceil(count / worldSize);
      expect(shards.map((s) => s.length)).toEqual(Array(worldSize).fill(length));
      expect(shardLength(count, { rank: 0, worldSize })).toBe(length);
      // Position p of the padded order goes to rank p mod N; the padding repeats the order's first indices.
      const padded = Array.from({ length: length * worldSize }, (_, p) => whole[p % count]);
      shards.forEach((shard, rank) => expect(Array.from(shard)).toEqual(padded.filter((_, p) => p % worldSize === rank)));
      if (count % worldSize === 0) expect(shards.flatMap((s) => Array.from(s)).sort((a, b) => a - b)).toEqual([...Array(count).keys()]);
    }
  });

  test('rank r\'s k-th batch of B/N is the one-process k-th batch of B, positions ≡ r (mod N)', () => {
    const data = ids(20); // 20 = 2 ranks × 10; batches of 8 globally, 4 per rank: 3 steps, the last 4 + 2 per rank
    const global = [...batches(data, 8, { shuffle: true, generator: new Generator(1) })].map((b) => Array.from(b.indices));
    const perRank = [0, 1].map((rank) => [...batches(data, 4, { shuffle: true, generator: new Generator(1), shard: { rank, worldSize: 2 } })].map((b) => Array.from(b.indices)));
    expect(perRank[0].length).toBe(3);
    global.forEach((batch, k) => {
      expect(perRank[0][k]).toEqual(batch.filter((_, i) => i % 2 === 0));
      expect(perRank[1][k]).toEqual(batch.filter((_, i) => i % 2 === 1));
    });
  });

  test('a DataLoader with a shard batches its rank\'s part; a stream cannot be sharded', () => {
    const loader = new DataLoader(ids(10), { batchSize: 2, shard: { rank: 1, worldSize: 2 } });
    expect(loader.length).toBe(3);
    expect([...loader].map((b) => Array.from(b.y.toArray()))).toEqual([[1, 3], [5, 7], [9]]);
    expect(() => new DataLoader(ids(4), { shard: { rank: 2, worldSize: 2 } })).toThrow('Expected an integer in [0, 1] for shard.rank but received 2');
  });
});

describe('fit\'s batch sources with a shard', () => {
  test('the global batch size is divided among the ranks, and must divide', () => {
    expect(rankBatchSize(64, { rank: 0, worldSize: 2 }, 'batchSize')).toBe(32);
    expect(() => rankBatchSize(63, { rank: 0, worldSize: 2 }, 'batchSize')).toThrow(
      'Expected a global batch size divisible by the world size 2 for batchSize (each of the 2 ranks takes batchSize / 2) but received 63',
    );
    const source = batchSource(ids(10), 'cpu', { batchSize: 4, shuffle: false, shard: { rank: 0, worldSize: 2 } }, 'data');
    expect([source.steps, source.samples, source.batchSize]).toEqual([3, 5, 2]);
    source.dispose();
    const fromLoader = batchSource(new DataLoader(ids(10), { batchSize: 4 }), 'cpu', { batchSize: 1, shard: { rank: 1, worldSize: 2 } }, 'data');
    expect([fromLoader.steps, fromLoader.batchSize]).toEqual([3, 2]);
    expect(() => batchSource(() => [], 'cpu', { batchSize: 1, shard: { rank: 0, worldSize: 2 } }, 'data')).toThrow(
      'Expected a dataset or a DataLoader over one as data for data-parallel training',
    );
  });

  test('fit({ distributed: true }) in a world of one (no launcher) trains exactly as without it', async () => {
    dist.init();
    const train = async (distributed: boolean) => {
      const generator = new Generator(3);
      const model = new nn.Sequential(new nn.Linear(4, 8, { generator }), new nn.ReLU(), new nn.Linear(8, 3, { generator }));
      const x = Tensor.from(Float32Array.from({ length: 40 * 4 }, (_, i) => Math.sin(i)), [40, 4]);
      const y = Tensor.from(Int32Array.from({ length: 40 }, (_, i) => i % 3), [40], { dtype: 'int32' });
      const history = await fit(model, new TensorDataset(x, y), { optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }), epochs: 2, batchSize: 8, generator, distributed });
      return { weights: model.parameters().map((p) => Array.from(p.toArray())), losses: history.epochs.map((e) => e.trainLoss) };
    };
    expect(await train(true)).toEqual(await train(false));
  });
});
