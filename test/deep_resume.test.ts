// Checkpoints and resuming for the deep recipe (trainDeepRecipe({ checkpointDir, resume }),
// lib/chapter/recipe_checkpoints.ts): a run stopped after epoch 1, and one stopped part-way through
// epoch 1 (shouldStop, as Ctrl-C does), resumed, end with exactly the weights, BatchNorm running
// statistics, optimizer state and history of the uninterrupted run (bit for bit, CPU). That needs
// the per-epoch augmentation redrawn from the generator state saved before the epoch began, the
// Dropout seeds drawn after the stop continuing from the generator state at the stop, and the
// per-epoch StepLR restored. Changed settings and the other recipe's checkpoints are refused.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { loadCheckpoint } from '../lib/io/checkpoint';
import { stateDict } from '../lib/io/model_io';
import { encodeSafetensors } from '../lib/io/safetensors';
import type { Module } from '../lib/nn/module';
import { type DeepRecipeResult, trainDeepRecipe } from '../lib/chapter/deep_recipe';
import { trainSeedRecipe } from '../lib/chapter/recipe';

const mnist = loadMnist();
// 400 images: 360 train → 12 steps an epoch at batch 32 (the last one of 8 images).
const base = { mnist, limit: 400, batchSize: 32, device: 'cpu', progress: 'none', seed: 6 } as const;
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-deep-ckpt-'));
const weightBytes = (m: Module) => Buffer.from(encodeSafetensors(stateDict(m)));
const figures = (r: DeepRecipeResult) => r.history.epochs.map((e) => [e.epoch, e.iteration, e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy, e.lr]);
const runningStats = (m: Module) => m.namedBuffers().map(([name, b]) => [name, Array.from(b.toArray())]);

let straightRun: Promise<DeepRecipeResult> | undefined;
const straight = () => (straightRun ??= trainDeepRecipe({ ...base, epochs: 3 }));

function expectSameRun(a: DeepRecipeResult, b: DeepRecipeResult): void {
  // stateDict holds the parameters and the buffers (running_mean, running_var, num_batches_tracked).
  expect(weightBytes(a.model).equals(weightBytes(b.model))).toBe(true);
  expect(runningStats(a.model)).toEqual(runningStats(b.model));
  expect(figures(a)).toEqual(figures(b));
  expect(a.testLoss).toBe(b.testLoss);
}

describe('deep recipe: resume equals the uninterrupted run (CPU, bit for bit)', () => {
  test('1 epoch, then resumed to 3', async () => {
    const dir = tmp();
    const first = await trainDeepRecipe({ ...base, epochs: 1, checkpointDir: dir });
    expect(first.checkpoint).toBe(path.join(dir, 'epoch-0001'));
    const ckpt = loadCheckpoint(dir);
    expect(ckpt.manifest).toMatchObject({ epoch: 1, iteration: 12, position: null, scheduler: { type: 'StepLR', lastStep: 1 } });
    expect(ckpt.manifest.settings).toMatchObject({ model: 'deep', epochs: 1, seed: 6, limit: 400, batchSize: 32, augment: true, dropout: 0.25 });
    // BatchNorm's running statistics are saved with the weights, and they have moved.
    expect(ckpt.weights['1.num_batches_tracked'].data[0]).toBe(12);
    expect(ckpt.weights['16.running_var']).toBeDefined();
    expect(Array.from(ckpt.weights['1.running_mean'].data).some((v) => v !== 0)).toBe(true);
    const logged: string[] = [];
    const resumed = await trainDeepRecipe({ mnist, device: 'cpu', progress: 'none', epochs: 3, resume: ckpt, log: (l) => logged.push(l) });
    expect(logged[0]).toBe(`resuming from ${ckpt.dir}: after epoch 1, iteration 12`);
    expect(resumed.augmentSeconds).toHaveLength(2);
    expectSameRun(resumed, await straight());
    expect(fs.readdirSync(dir).sort()).toEqual(['epoch-0003', 'latest.json']);
    expect(loadCheckpoint(dir).manifest.scheduler).toEqual({ type: 'StepLR', lastStep: 3 });
  });

  test('stopped part-way through epoch 1 (as Ctrl-C does), then resumed', async () => {
    const dir = tmp();
    let steps = 0;
    const stopped = await trainDeepRecipe({ ...base, epochs: 3, checkpointDir: dir, callbacks: [{ onBatchEnd: () => void steps++ }], shouldStop: () => steps === 17 });
    expect(stopped.stopped).toBe(true);
    expect(stopped.position).toMatchObject({ epoch: 1, step: 5, iteration: 17 });
    expect(Number.isNaN(stopped.testLoss)).toBe(true);
    expect(stopped.checkpoint).toBe(path.join(dir, 'epoch-0001-step-0005'));
    const ckpt = loadCheckpoint(dir);
    const p = ckpt.manifest.position!;
    // The state at the epoch's start (before its augmentation and shuffle) differs from the state
    // at the stop (after them and five steps of Dropout seeds); both are kept.
    expect(p.stoppedGeneratorState).toEqual(ckpt.manifest.generator);
    expect(p.generatorState).not.toEqual(p.stoppedGeneratorState);
    // The settings (3 epochs included) come from the checkpoint.
    const resumed = await trainDeepRecipe({ mnist, device: 'cpu', progress: 'none', resume: ckpt });
    expect(resumed.history.epochs).toHaveLength(3);
    expectSameRun(resumed, await straight());
  });

  test('settings that shape the run cannot change on resume; a seed checkpoint is not a deep one, nor the reverse', async () => {
    const dir = tmp();
    await trainDeepRecipe({ ...base, epochs: 1, checkpointDir: dir, checkpointEvery: 0, augment: false });
    const ckpt = loadCheckpoint(dir);
    await expect(trainDeepRecipe({ mnist, resume: ckpt, dropout: 0.5 })).rejects.toThrow(
      `cannot resume with dropout 0.5: the checkpoint in ${ckpt.dir} was trained with dropout 0.25`,
    );
    await expect(trainDeepRecipe({ mnist, resume: ckpt, augment: true })).rejects.toThrow('cannot resume with augment true: ');
    await expect(trainDeepRecipe({ mnist, resume: ckpt, lrGamma: 0.9 })).rejects.toThrow('cannot resume with lrGamma 0.9: ');
    await expect(trainDeepRecipe({ mnist, resume: ckpt, batchSize: 64 })).rejects.toThrow('cannot resume with batchSize 64: ');
    await expect(trainSeedRecipe({ mnist, resume: ckpt })).rejects.toThrow(
      `cannot resume the checkpoint in ${ckpt.dir} with the seed model: it was trained with the deep model (--model deep)`,
    );
    const seedDir = tmp();
    await trainSeedRecipe({ mnist, limit: 300, epochs: 1, device: 'cpu', progress: 'none', checkpointDir: seedDir });
    const seedCkpt = loadCheckpoint(seedDir);
    expect(seedCkpt.manifest.settings.model).toBe('seed');
    await expect(trainDeepRecipe({ mnist, resume: seedCkpt })).rejects.toThrow(
      `cannot resume the checkpoint in ${seedCkpt.dir} with the deep model: it was trained with the seed model (--model seed)`,
    );
    // A seed checkpoint from before settings.model existed is still a seed checkpoint.
    delete seedCkpt.manifest.settings.model;
    await expect(trainDeepRecipe({ mnist, resume: seedCkpt })).rejects.toThrow('it was trained with the seed model');
  });
});
