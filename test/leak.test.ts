// Memory stays flat over thousands of training steps (and inference calls): the step reuses its
// buffers, so after a warm-up the process's resident memory, the JavaScript heap and the memory
// behind typed arrays must not grow with the number of steps. On a real GPU (not the emulator)
// the same run also keeps napinet's GPU allocations and the device's free memory flat.
// Bounds, over 8,000 steps after a 1,024-step warm-up, measured after a forced GC every 1,000 steps:
// typed-array memory grows < 1 MiB and the heap < 4 MiB in all (a leak of 128 bytes a step would
// show); RSS grows < 0.5 MiB a 1,000-step block in the median two-block window (a native leak of
// 512 bytes a step would show in every window) and < 32 MiB in all. RSS is judged per block because it rises in one-off
// steps while the process settles (measured: +6 MiB and +14 MiB jumps within the first 16,000
// steps, then flat to 60,000 — glibc's arenas and V8's code space growing once, not per step).
// The GPU figures are read fresh from the addon at each snapshot (cudaMemory: napinet's live
// allocations and the device's free memory); a last test leaks on purpose and checks that the GPU
// check catches it, so that branch can fail (it runs wherever 'cuda' does, the emulator included).
import * as v8 from 'node:v8';
import * as vm from 'node:vm';
import { describe, expect, test } from 'vitest';
import { ImageDataset, Standardizer } from '../lib/data/dataset';
import { loadMnist } from '../lib/data/mnist';
import { cuda, type Device } from '../lib/device';
import { native } from '../lib/native';
import { Classifier } from '../lib/inference';
import { seedNetwork } from '../lib/chapter/models';
import { Adam } from '../lib/optim/adam';
import { StepLR } from '../lib/optim/lr_scheduler';
import { Generator } from '../lib/random';
import { cudaBytesInUse, Tensor } from '../lib/tensor';
import { fit } from '../lib/train/fit';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

const mnist = loadMnist();
const data = ImageDataset.fromBytes(mnist.train.images.subarray(0, 256 * 784), mnist.train.labels.subarray(0, 256), [1, 28, 28]);
const standardizer = Standardizer.fit(data);
standardizer.apply(data);

const MiB = 1024 * 1024;

interface Snapshot {
  rss: number;
  heap: number;
  arrayBuffers: number;
  /** Bytes of live tensors (lib/tensor.ts's count) and of napinet's live GPU allocations (the addon's). */
  cuda: number;
  gpuLive: number;
  /** The device's free memory (napinet's memory pool counts as used). */
  free: number;
}

function snapshot(): Snapshot {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  const gpu = cuda.isAvailable() ? native().cudaMemory!() : undefined;
  return { rss: m.rss, heap: m.heapUsed, arrayBuffers: m.arrayBuffers, cuda: cudaBytesInUse(), gpuLive: gpu?.liveBytes ?? 0, free: gpu?.freeBytes ?? 0 };
}

/** What grew on the GPU between two snapshots, as messages (none: flat). */
function gpuGrowth(before: Snapshot, after: Snapshot): string[] {
  const problems: string[] = [];
  if (after.cuda !== before.cuda) problems.push(`live tensors hold ${after.cuda - before.cuda} bytes more`);
  if (after.gpuLive !== before.gpuLive) problems.push(`napinet's GPU allocations hold ${after.gpuLive - before.gpuLive} bytes more`);
  if (before.free - after.free >= 16 * MiB) problems.push(`the device has ${((before.free - after.free) / MiB).toFixed(1)} MiB less free memory`);
  return problems;
}

const onRealGpu = cuda.isAvailable() && !cuda.info().emulated;
const devices: Device[] = onRealGpu ? ['cpu', 'cuda:0'] : ['cpu'];

describe.each(devices)('memory over many steps on %s', (device) => {
  test('8,000 training steps after a warm-up: flat', async () => {
    const model = seedNetwork({ generator: new Generator(0) }).to(device);
    const optimizer = new Adam(model.parameters(), { lr: 1e-3 });
    const scheduler = new StepLR(optimizer, { stepSize: 500, gamma: 0.9 });
    const generator = new Generator(1);
    const train = (epochs: number) => fit(model, data, { optimizer, scheduler, epochs, batchSize: 16, progress: 'none', generator });
    await train(64); // 1,024 steps of warm-up (16 an epoch)
    const samples = [snapshot()];
    const started = performance.now();
    for (let block = 0; block < 8; block++) {
      await train(63 + (block % 2)); // 1,008 or 1,024 steps: about 8,000 in all
      samples.push(snapshot());
    }
    const before = samples[0];
    const after = samples.at(-1)!;
    // RSS per 1,000-step block, over windows of two consecutive blocks: after a forced GC the
    // resident size alternates by up to ±0.9 MiB from one block to the next (the heap's pages given
    // back and taken again), which a two-block window cancels; the median of the 7 windows ignores
    // the one-off jumps (each touches two windows).
    const windows = samples.slice(2).map((s, i) => (s.rss - samples[i].rss) / MiB / 2).sort((x, y) => x - y);
    const median = windows[3];
    const growth = { rss: (after.rss - before.rss) / MiB, heap: (after.heap - before.heap) / MiB, arrayBuffers: (after.arrayBuffers - before.arrayBuffers) / MiB };
    console.log(
      `${device}: 8,000 steps in ${((performance.now() - started) / 1000).toFixed(1)} s; growth: RSS ${growth.rss.toFixed(2)} MiB ` +
        `(median window ${median.toFixed(2)} MiB), heap ${growth.heap.toFixed(2)} MiB, typed arrays ${growth.arrayBuffers.toFixed(3)} MiB` +
        (device === 'cuda:0' ? `, napinet GPU bytes ${after.gpuLive - before.gpuLive}, device free ${((after.free - before.free) / MiB).toFixed(1)} MiB` : ''),
    );
    expect(growth.arrayBuffers).toBeLessThan(1);
    expect(growth.heap).toBeLessThan(4);
    expect(median).toBeLessThan(0.5);
    expect(growth.rss).toBeLessThan(32);
    if (device === 'cuda:0') expect(gpuGrowth(before, after)).toEqual([]);
    model.dispose();
  });

  test('5,000 predictions through one Predictor: flat', () => {
    const classifier = new Classifier(seedNetwork({ generator: new Generator(2) }).to(device), { inputShape: [1, 28, 28], standardizer });
    const predictor = classifier.predictor(8);
    const images = mnist.test.images.subarray(0, 8 * 784);
    const out = { probabilities: new Float32Array(80), predicted: new Int32Array(8) };
    for (let i = 0; i < 500; i++) predictor.run(images, { out });
    const before = snapshot();
    for (let i = 0; i < 5000; i++) predictor.run(images, { out });
    const after = snapshot();
    expect((after.arrayBuffers - before.arrayBuffers) / MiB).toBeLessThan(1);
    expect((after.rss - before.rss) / MiB).toBeLessThan(16);
    if (device === 'cuda:0') expect(gpuGrowth(before, after)).toEqual([]);
    predictor.dispose();
    classifier.dispose();
  });
});

describe.runIf(cuda.isAvailable())('the GPU check itself', () => {
  test('it fails when GPU memory leaks: buffers held outside tensors, and tensors never disposed', () => {
    const before = snapshot();
    const held = [native().cudaAlloc!(8 * MiB, 'float32'), native().cudaAlloc!(1024, 'float32')]; // 32 MiB and 4 KiB
    const leaked = snapshot();
    expect(gpuGrowth(before, leaked)).toEqual([
      `napinet's GPU allocations hold ${32 * MiB + 4096} bytes more`,
      'the device has 32.0 MiB less free memory',
    ]);
    for (const b of held) b.dispose();
    // Freed, but the memory pool keeps the blocks for reuse (a training loop allocates the same
    // sizes again): the device's free memory stays down until the pool gives it back.
    expect(gpuGrowth(before, snapshot())).toEqual(['the device has 32.0 MiB less free memory']);
    native().cudaReleaseCachedMemory!();
    expect(gpuGrowth(before, snapshot())).toEqual([]);
    const t = Tensor.zeros([256], { device: 'cuda' });
    expect(gpuGrowth(before, snapshot())).toEqual(['live tensors hold 1024 bytes more', "napinet's GPU allocations hold 1024 bytes more"]);
    t.dispose();
  });
});
