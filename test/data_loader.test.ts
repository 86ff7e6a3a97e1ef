// DataLoader (lib/data/dataloader.ts) as torch.utils.data.DataLoader: batch sizes with and without
// dropLast, an order that is the identity unless shuffled, a shuffle drawn from the generator (the
// same seed gives the same order, every sample once), collate functions, samples as tensors, typed
// arrays or numbers, getBatch preferred to get() + collate, streams of samples (IterableDataset,
// sync or async) batched in order; and the errors that name what is wrong.
import { describe, expect, test } from 'vitest';
import { type Dataset, ImageDataset, type SampleLike, TensorDataset } from '../lib/data/dataset';
import { DataLoader, defaultCollate, IterableDataset } from '../lib/data/dataloader';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';

/** n samples: x = [i, 10 i] (float32), y = i (int32), so a batch's rows name their samples. */
function numbered(n: number): TensorDataset {
  return new TensorDataset(
    Tensor.from(Float32Array.from({ length: 2 * n }, (_, k) => (k % 2 === 0 ? k / 2 : 5 * k - 5)), [n, 2]),
    Tensor.from(Int32Array.from({ length: n }, (_, i) => i), [n], { dtype: 'int32' }),
  );
}

const ids = (batch: { y: Tensor }) => Array.from(batch.y.toArray());

describe('DataLoader over a map-style dataset', () => {
  test('batch sizes: the last one partial, or dropped with dropLast; length counts them', () => {
    const data = numbered(10);
    const sizes = (loader: DataLoader<TensorDataset>) => [...loader].map((b) => b.size);
    expect(sizes(new DataLoader(data, { batchSize: 4 }))).toEqual([4, 4, 2]);
    expect(sizes(new DataLoader(data, { batchSize: 4, dropLast: true }))).toEqual([4, 4]);
    expect(new DataLoader(data, { batchSize: 4 }).length).toBe(3);
    expect(new DataLoader(data, { batchSize: 4, dropLast: true }).length).toBe(2);
    expect(sizes(new DataLoader(data))).toEqual(new Array(10).fill(1)); // PyTorch's default batch size 1
  });

  test('unshuffled: the dataset order, each batch holding its samples x and y', () => {
    const batches = [...new DataLoader(numbered(7), { batchSize: 3 })];
    expect(batches.map(ids)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(Array.from(batches[1].x.toArray())).toEqual([3, 30, 4, 40, 5, 50]);
    expect(batches[1].x.shape).toEqual([3, 2]);
    expect(Array.from(batches[1].indices!)).toEqual([3, 4, 5]);
  });

  test('shuffled by the generator: a permutation each epoch, the same for the same seed, another for another seed', () => {
    const data = numbered(50);
    const epoch = (loader: DataLoader<TensorDataset>) => [...loader].flatMap(ids);
    const a = new DataLoader(data, { batchSize: 8, shuffle: true, generator: new Generator(3) });
    const b = new DataLoader(data, { batchSize: 8, shuffle: true, generator: new Generator(3) });
    const c = new DataLoader(data, { batchSize: 8, shuffle: true, generator: new Generator(4) });
    const [a1, a2, b1, c1] = [epoch(a), epoch(a), epoch(b), epoch(c)];
    expect([...a1].sort((p, q) => p - q)).toEqual(Array.from({ length: 50 }, (_, i) => i));
    expect(a1).toEqual(b1);
    expect(a1).not.toEqual(a2); // a new draw every epoch
    expect(a1).not.toEqual(c1);
    expect(a1).not.toEqual(Array.from({ length: 50 }, (_, i) => i));
    // The order is the generator's permutation, as fit() and batches() draw it.
    expect(a1).toEqual(Array.from(new Generator(3).permutation(50)));
  });

  test('for await gives the same batches as for … of', async () => {
    const data = numbered(9);
    const sync = [...new DataLoader(data, { batchSize: 4, shuffle: true, generator: new Generator(1) })].map(ids);
    const got: number[][] = [];
    for await (const b of new DataLoader(data, { batchSize: 4, shuffle: true, generator: new Generator(1) })) got.push(ids(b));
    expect(got).toEqual(sync);
  });

  test('a collate function receives the samples of each batch and makes the batch', () => {
    const seen: number[] = [];
    const loader = new DataLoader(numbered(5), {
      batchSize: 2,
      collate: (samples) => {
        seen.push(samples.length);
        const x = Tensor.from(samples.flatMap((s) => Array.from(s.x.toArray()).map((v) => v + 1)), [samples.length, 2]);
        return { x, y: Tensor.from(samples.map((s) => s.y.item() * 2), [samples.length]) };
      },
    });
    const batches = [...loader];
    expect(seen).toEqual([2, 2, 1]);
    expect(Array.from(batches[0].x.toArray())).toEqual([1, 1, 2, 11]);
    expect(Array.from(batches[2].y.toArray())).toEqual([8]);
  });

  test('a Dataset of plain samples (typed arrays, numbers) is collated by defaultCollate; getBatch is preferred when there is one', () => {
    let gets = 0;
    const plain: Dataset = {
      length: 6,
      get(i) {
        gets++;
        return { x: Float32Array.of(i, -i), y: i / 2 };
      },
    };
    const batches = [...new DataLoader(plain, { batchSize: 4 })];
    expect(gets).toBe(6);
    expect(batches[0].x.shape).toEqual([4, 2]);
    expect(batches[0].x.dtype).toBe('float32');
    expect(batches[0].y.shape).toEqual([4]);
    expect(batches[0].y.dtype).toBe('float32');
    expect(Array.from(batches[1].y.toArray())).toEqual([2, 2.5]);
    let batchCalls = 0;
    const batched: Dataset = {
      ...plain,
      getBatch(indices) {
        batchCalls++;
        return { x: Tensor.from(Float32Array.from(indices), [indices.length, 1]), y: Tensor.from(Float32Array.from(indices), [indices.length]), size: indices.length };
      },
    };
    gets = 0;
    expect([...new DataLoader(batched, { batchSize: 4 })].map((b) => b.size)).toEqual([4, 2]);
    expect(batchCalls).toBe(2);
    expect(gets).toBe(0);
  });

  test('defaultCollate: dtypes follow the values, shapes must agree', () => {
    const b = defaultCollate([
      { x: Tensor.from([[1, 2], [3, 4]]), y: Int32Array.of(7) },
      { x: Tensor.from([[5, 6], [7, 8]]), y: Int32Array.of(9) },
    ]);
    expect(b.x.shape).toEqual([2, 2, 2]);
    expect(b.y.dtype).toBe('int32');
    expect(b.y.shape).toEqual([2, 1]);
    expect(defaultCollate([{ x: [1, 2, 3], y: 1 }]).x.shape).toEqual([1, 3]);
    expect(() => defaultCollate([{ x: [1, 2], y: 0 }, { x: [1, 2, 3], y: 0 }])).toThrow(
      'Expected a float32 value of shape [2] (as samples[0].x) for samples[1].x but received a float32 value of shape [3]',
    );
    expect(() => defaultCollate([{ x: [1], y: 0 }, { x: [1], y: Int32Array.of(0) }])).toThrow('Expected a float32 value of shape [] (as samples[0].y) for samples[1].y but received an int32 value of shape [1]');
    expect(() => defaultCollate([{ x: 'a' as never, y: 0 }])).toThrow('Expected a Tensor, a typed array, an array of numbers or a number for samples[0].x but received "a"');
    expect(() => defaultCollate([])).toThrow('Expected a non-empty array of samples for samples');
  });

  test('an ImageDataset batches as the TensorDataset it is', () => {
    const d = new ImageDataset(Float32Array.from({ length: 5 * 4 }, (_, i) => i), Int32Array.of(4, 3, 2, 1, 0), [1, 2, 2]);
    const [first] = new DataLoader(d, { batchSize: 2 });
    expect(first.x.shape).toEqual([2, 1, 2, 2]);
    expect(ids(first)).toEqual([4, 3]);
    expect(d.length).toBe(5);
    expect(Array.from(d.get(1).x.toArray())).toEqual([4, 5, 6, 7]);
    expect(d.get(1).y.item()).toBe(3);
  });

  test('bad arguments are named', () => {
    const data = numbered(3);
    expect(() => new DataLoader({} as never)).toThrow('Expected a Dataset (length and get(i)), a TensorDataset, an ImageDataset or an IterableDataset for dataset but received an object');
    expect(() => new DataLoader(data, { batchSize: 0 })).toThrow('Expected an integer ≥ 1 for batchSize but received 0');
    expect(() => new DataLoader(data, { shuffle: 'yes' as never })).toThrow('Expected a boolean for shuffle but received "yes"');
    expect(() => new DataLoader(data, { collate: 3 as never })).toThrow('Expected a function (samples) => { x, y } for collate but received 3');
    expect(() => [...new DataLoader(data, { collate: () => ({ x: 1 }) as never })]).toThrow('Expected a batch { x: Tensor, y: Tensor } for the batch from collate() but received an object');
  });
});

describe('DataLoader over a stream of samples (IterableDataset)', () => {
  const stream = (n: number) =>
    new IterableDataset<SampleLike>(async function* () {
      for (let i = 0; i < n; i++) {
        await Promise.resolve(); // as a read from a file or the network would
        yield { x: Float32Array.of(i, i * i), y: Int32Array.of(i) };
      }
    });

  test('batches the samples in stream order, the last one partial or dropped; a new pass each epoch', async () => {
    const loader = new DataLoader(stream(7), { batchSize: 3 });
    const read = async (l: DataLoader<IterableDataset<SampleLike>>) => {
      const out: number[][] = [];
      for await (const b of l) out.push(ids(b));
      return out;
    };
    expect(await read(loader)).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
    expect(await read(loader)).toEqual([[0, 1, 2], [3, 4, 5], [6]]); // the source function is called again
    expect(await read(new DataLoader(stream(7), { batchSize: 3, dropLast: true }))).toEqual([[0, 1, 2], [3, 4, 5]]);
    expect(loader.length).toBeUndefined();
  });

  test('a sync generator works as well, and the batch shapes follow the samples', async () => {
    const sync = new IterableDataset(function* () {
      for (let i = 0; i < 4; i++) yield { x: [i, i, i], y: i * 0.5 };
    });
    const out: Tensor[] = [];
    for await (const b of new DataLoader(sync, { batchSize: 4 })) out.push(b.x, b.y);
    expect(out[0].shape).toEqual([4, 3]);
    expect(Array.from(out[1].toArray())).toEqual([0, 0.5, 1, 1.5]);
  });

  test('shuffling a stream, or reading it without await, is refused with the reason', () => {
    expect(() => new DataLoader(stream(3), { shuffle: true })).toThrow('Expected shuffle false for an IterableDataset (a stream is read in its own order) but received true');
    expect(() => new IterableDataset(3 as never)).toThrow('Expected a function returning an iterable of samples (e.g. an async generator function) for source but received 3');
    expect(() => [...new DataLoader(stream(3))]).toThrow('Expected for await (… of loader) for a DataLoader over an IterableDataset (a stream is read asynchronously) but received for (… of loader)');
  });
});
