// Memory stays flat over 10,000 autograd steps: a forward-only module trained through fit() (each
// step recorded, differentiated by loss.backward() and freed by its tidy() scope) on the CPU, and a
// hand-written loop on every CUDA device the build has (the emulator in CI: its device memory is
// real host memory behind cudaMalloc, counted by napinet's tensors and by the memory pool).
// Bounds, measured after a forced GC once the steps are done, against a snapshot after a warm-up:
// typed-array memory grows < 1 MiB and the heap < 4 MiB (a 128-byte leak a step would show: 1.2 MiB);
// the memory pool makes no new allocation after the warm-up (every tensor a step needs is one the
// last step freed); GPU bytes held by tensors return exactly to their level before.
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { describe, expect, test } from 'vitest';
import { ImageDataset, Standardizer, Tensor, cuda, fit, loadMnist, memoryStats, nn, optim, randn, tensor, tidy, Generator } from '../lib';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;
const MiB = 1024 * 1024;

function snapshot() {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  const pool = memoryStats();
  return { heap: m.heapUsed, arrayBuffers: m.arrayBuffers, misses: pool.poolMisses, cuda: pool.cudaBytesInUse };
}

/** The chapter's network written as a forward-only module (differentiated by autograd). */
class SeedModule extends nn.Module {
  conv = new nn.Conv2d(1, 4, 5, { generator: new Generator(0) });
  pool = new nn.MaxPool2d(2);
  fc = new nn.Linear(4 * 12 * 12, 10, { generator: new Generator(1) });
  forward(x: Tensor): Tensor {
    return this.fc.forward(this.pool.forward(this.conv.forward(x).relu()).flatten(1));
  }
}

describe('autograd memory over 10,000 steps', () => {
  test('fit() of a forward-only module on the CPU: flat', async () => {
    const mnist = loadMnist();
    const data = ImageDataset.fromBytes(mnist.train.images.subarray(0, 64 * 784), mnist.train.labels.subarray(0, 64), [1, 28, 28]);
    Standardizer.fit(data).apply(data);
    const model = new SeedModule();
    const optimizer = new optim.Adam(model.parameters(), { lr: 1e-3 });
    const generator = new Generator(2);
    const train = (epochs: number) => fit(model, data, { optimizer, epochs, batchSize: 16, progress: 'none', generator });
    await train(25); // 100 steps of warm-up (4 an epoch)
    const before = snapshot();
    await train(2475); // 9,900 steps
    const after = snapshot();
    const growth = { heap: (after.heap - before.heap) / MiB, arrayBuffers: (after.arrayBuffers - before.arrayBuffers) / MiB, misses: after.misses - before.misses };
    console.log(`cpu: 10,000 autograd steps; growth: heap ${growth.heap.toFixed(2)} MiB, typed arrays ${growth.arrayBuffers.toFixed(3)} MiB, new pool allocations ${growth.misses}`);
    expect(growth.arrayBuffers).toBeLessThan(1);
    expect(growth.heap).toBeLessThan(4);
    expect(growth.misses).toBe(0);
  }, 120_000);

  test.skipIf(!cuda.isAvailable())('a loop of recorded steps on CUDA: GPU memory flat', () => {
    const model = new nn.Sequential(new nn.Linear(8, 16), new nn.ReLU(), new nn.Linear(16, 4)).to('cuda');
    const optimizer = new optim.SGD(model.parameters(), { lr: 0.01 });
    const x = randn([4, 8], { device: 'cuda', generator: new Generator(3) });
    const y = tensor(new Int32Array([0, 1, 2, 3]), [4], { dtype: 'int32', device: 'cuda' });
    const step = () => {
      optimizer.zeroGrad();
      // A tensor-maths loss (not the fused one) so the step records several kinds of nodes.
      tidy(() => model.forward(x).logSoftmax(1).gather(1, y.reshape([4, 1])).mean().neg().backward());
      optimizer.step();
    };
    for (let i = 0; i < 100; i++) step();
    const before = snapshot();
    for (let i = 0; i < 9900; i++) step();
    const after = snapshot();
    console.log(`cuda: 10,000 autograd steps; GPU bytes in tensors ${before.cuda} → ${after.cuda}; new pool allocations ${after.misses - before.misses}`);
    expect(after.cuda).toBe(before.cuda);
    expect(after.misses - before.misses).toBe(0);
    expect((after.heap - before.heap) / MiB).toBeLessThan(4);
  }, 300_000);
});
