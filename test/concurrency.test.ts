// Several trainings at once give what each gives alone, bit for bit (CPU):
// - two models trained concurrently in one process, their steps interleaved (each yields to the
//   event loop after every batch);
// - two worker threads plus the main thread training at the same time: the addon loads in worker
//   threads (Node-API, context-aware) and the kernels' shared thread pool runs the second caller's
//   kernel serially (native/kernels/parallel.cpp), which chunking makes give the same numbers.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { describe, expect, test } from 'vitest';
import { ImageDataset, Standardizer } from '../lib/data/dataset';
import { loadMnist } from '../lib/data/mnist';
import { stateDict } from '../lib/io/model_io';
import { encodeSafetensors } from '../lib/io/safetensors';
import { seedNetwork } from '../lib/chapter/models';
import { Adam } from '../lib/optim/adam';
import { Generator } from '../lib/random';
import { type Callbacks, fit } from '../lib/train/fit';

const mnist = loadMnist();
const COUNT = 800;
const EPOCHS = 8;

function dataset(offset: number): ImageDataset {
  const d = ImageDataset.fromBytes(
    mnist.train.images.subarray(offset * 784, (offset + COUNT) * 784),
    mnist.train.labels.subarray(offset, offset + COUNT),
    [1, 28, 28],
  );
  Standardizer.fit(d).apply(d);
  return d;
}

/** One training run; the weights as safetensors bytes. Mirrored by the worker script below. */
async function trainOne(seed: number, callbacks: Callbacks[] = []): Promise<Buffer> {
  const data = dataset(seed * 1000);
  const g = new Generator(seed);
  const model = seedNetwork({ generator: g });
  const optimizer = new Adam(model.parameters(), { lr: 0.01 });
  await fit(model, data, { optimizer, epochs: EPOCHS, batchSize: 32, generator: g, progress: 'none', callbacks });
  return Buffer.from(encodeSafetensors(stateDict(model)));
}

const WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const n = require(workerData.dist);
const { seedNetwork } = require(workerData.chapterDist);
(async () => {
  const { seed, count, epochs } = workerData;
  const m = n.loadMnist();
  const data = n.ImageDataset.fromBytes(m.train.images.subarray(seed * 1000 * 784, (seed * 1000 + count) * 784), m.train.labels.subarray(seed * 1000, seed * 1000 + count), [1, 28, 28]);
  n.Standardizer.fit(data).apply(data);
  const g = new n.Generator(seed);
  const model = seedNetwork({ generator: g });
  const optimizer = new n.optim.Adam(model.parameters(), { lr: 0.01 });
  const start = performance.timeOrigin + performance.now();
  await n.fit(model, data, { optimizer, epochs, batchSize: 32, generator: g, progress: 'none' });
  const end = performance.timeOrigin + performance.now();
  parentPort.postMessage({ weights: Buffer.from(n.encodeSafetensors(n.stateDict(model))), start, end });
})().catch((e) => parentPort.postMessage({ error: String(e && e.stack || e) }));
`;

const dist = path.join(__dirname, '..', 'dist', 'cjs', 'index.js');
const chapterDist = path.join(__dirname, '..', 'dist', 'cjs', 'chapter', 'index.js');

function inWorker(seed: number): Promise<{ weights: Buffer; start: number; end: number }> {
  return new Promise((resolve, reject) => {
    const w = new Worker(WORKER, { eval: true, workerData: { dist, chapterDist, seed, count: COUNT, epochs: EPOCHS } });
    w.once('message', (m) => (m.error ? reject(new Error(m.error)) : resolve({ ...m, weights: Buffer.from(m.weights) })));
    w.once('error', reject);
  });
}

describe('concurrent training gives the results of training alone', () => {
  const alone = new Map<number, Promise<Buffer>>();
  const aloneRun = (seed: number) => {
    if (!alone.has(seed)) alone.set(seed, trainOne(seed));
    return alone.get(seed)!;
  };

  test('two models interleaved step by step in one process', async () => {
    const a = await aloneRun(1);
    const b = await aloneRun(2);
    const order: number[] = [];
    const yieldEachStep = (id: number): Callbacks => ({
      async onBatchEnd() {
        order.push(id);
        await new Promise<void>((r) => setImmediate(r));
      },
    });
    const [a2, b2] = await Promise.all([trainOne(1, [yieldEachStep(1)]), trainOne(2, [yieldEachStep(2)])]);
    // The steps really alternated.
    expect(order.slice(0, 6)).toEqual([1, 2, 1, 2, 1, 2]);
    expect(a2.equals(a)).toBe(true);
    expect(b2.equals(b)).toBe(true);
    expect(a.equals(b)).toBe(false);
  });

  test.skipIf(!fs.existsSync(dist))('two worker threads and the main thread at once (dist build)', async () => {
    const expected = await Promise.all([aloneRun(1), aloneRun(2), aloneRun(3)]);
    const workers = [inWorker(1), inWorker(2)];
    const mainStart = performance.timeOrigin + performance.now();
    const main = await trainOne(3);
    const mainEnd = performance.timeOrigin + performance.now();
    const [w1, w2] = await Promise.all(workers);
    expect(w1.weights.equals(expected[0])).toBe(true);
    expect(w2.weights.equals(expected[1])).toBe(true);
    expect(main.equals(expected[2])).toBe(true);
    // The two workers trained at the same time (their training windows overlap).
    const overlap = Math.min(w1.end, w2.end) - Math.max(w1.start, w2.start);
    const withMain = Math.min(mainEnd, w1.end, w2.end) - Math.max(mainStart, w1.start, w2.start);
    console.log(`workers overlapped ${overlap.toFixed(0)} ms (of ${(w1.end - w1.start).toFixed(0)} and ${(w2.end - w2.start).toFixed(0)} ms); all three ${withMain.toFixed(0)} ms`);
    expect(overlap).toBeGreaterThan(0);
  });
});
