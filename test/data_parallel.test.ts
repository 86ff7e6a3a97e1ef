// Data-parallel training on the CPU: `workers` threads share each batch (fit's and
// trainSeedRecipe's option, the CLI's --workers). Chunk boundaries depend only on the shapes and
// gradient partial sums are added in chunk order, so 1 and 2 workers must give bit-identical
// weights, losses and accuracies after a short run — asserted exactly, no tolerance.
import { afterEach, describe, expect, test } from 'vitest';
import { ImageDataset } from '../lib/data/dataset';
import { loadMnist } from '../lib/data/mnist';
import { native } from '../lib/native';
import { seedNetwork } from '../lib/chapter/models';
import { Adam } from '../lib/optim/adam';
import { Generator } from '../lib/random';
import { fit } from '../lib/train/fit';
import { trainSeedRecipe } from '../lib/chapter/recipe';

const mnist = loadMnist();

function bits(a: Float32Array): number[] {
  return Array.from(new Uint32Array(a.buffer, a.byteOffset, a.length));
}

describe('data-parallel workers', () => {
  const before = native().numThreads();
  afterEach(() => native().setNumThreads(before));

  test('trainSeedRecipe: 1 and 2 workers give bit-identical weights and figures', async () => {
    const run = (workers: number) => trainSeedRecipe({ mnist, limit: 1500, epochs: 2, device: 'cpu', progress: 'none', seed: 5, workers });
    const one = await run(1);
    expect(native().numThreads()).toBe(1);
    const two = await run(2);
    expect(native().numThreads()).toBe(2);
    const weights = (r: typeof one) => r.model.namedParameters().map(([name, p]) => [name, bits(p.toArray() as Float32Array)]);
    expect(weights(two)).toEqual(weights(one));
    const figures = (r: typeof one) => r.history.epochs.map((e) => [e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy]);
    expect(figures(two)).toEqual(figures(one));
    expect(two.testLoss).toBe(one.testLoss);
    expect(two.testAccuracy).toBe(one.testAccuracy);
  });

  test('fit({ workers }) sets the threads while it runs, restores them, and does not change the result', async () => {
    const g = new Generator(2);
    const count = 300;
    const images = Float32Array.from({ length: count * 784 }, () => g.normal());
    const labels = Int32Array.from({ length: count }, () => g.int(10));
    const data = new ImageDataset(images, labels, [1, 28, 28]);
    const train = async (workers: number) => {
      const model = seedNetwork({ generator: new Generator(1) });
      const seen: number[] = [];
      const history = await fit(model, data, {
        optimizer: new Adam(model.parameters(), { lr: 0.01 }),
        epochs: 2,
        batchSize: 64,
        generator: new Generator(4),
        workers,
        progress: 'none',
        callbacks: [{ onBatchEnd: () => void seen.push(native().numThreads()) }],
      });
      return { model, history, seen };
    };
    native().setNumThreads(2);
    const one = await train(1);
    expect(new Set(one.seen)).toEqual(new Set([1]));
    expect(native().numThreads()).toBe(2);
    const two = await train(2);
    expect(new Set(two.seen)).toEqual(new Set([2]));
    const weights = (m: typeof one.model) => m.parameters().map((p) => bits(p.toArray() as Float32Array));
    expect(weights(two.model)).toEqual(weights(one.model));
    expect(two.history.epochs.map((e) => e.trainLoss)).toEqual(one.history.epochs.map((e) => e.trainLoss));
    await expect(fit(one.model, data, { optimizer: new Adam(one.model.parameters()), epochs: 1, batchSize: 64, workers: 0 })).rejects.toThrow(
      'Expected an integer in [1, 1024] for workers but received 0',
    );
  });
});
