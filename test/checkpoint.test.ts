// Checkpoints (lib/io/checkpoint.ts) and resuming (trainSeedRecipe({ resume })): a run stopped at
// an epoch boundary or part-way through an epoch and resumed ends with exactly the weights,
// optimizer state and history of the uninterrupted run (bit for bit, CPU); crash safety (a
// half-written checkpoint is never picked up, a killed writer leaves a loadable one); and the
// loader refuses truncated, corrupt and random files with an Error that names the file.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { loadCheckpoint, restoreCheckpoint, saveCheckpoint } from '../lib/io/checkpoint';
import { loadModel, stateDict } from '../lib/io/model_io';
import { encodeSafetensors } from '../lib/io/safetensors';
import { seedNetwork } from '../lib/chapter/models';
import type { Module } from '../lib/nn/module';
import { Adam } from '../lib/optim/adam';
import { StepLR } from '../lib/optim/lr_scheduler';
import { Generator } from '../lib/random';
import { type SeedRecipeResult, trainSeedRecipe } from '../lib/chapter/recipe';

const mnist = loadMnist();
// 1,500 images: 1,350 train → 22 steps an epoch (the last one of 6 images).
const base = { mnist, limit: 1500, device: 'cpu', progress: 'none', seed: 2 } as const;
const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-ckpt-'));
const weightBytes = (m: Module) => Buffer.from(encodeSafetensors(stateDict(m)));
const figures = (r: SeedRecipeResult) => r.history.epochs.map((e) => [e.epoch, e.iteration, e.trainLoss, e.trainAccuracy, e.valLoss, e.valAccuracy, e.lr]);

let straightRun: Promise<SeedRecipeResult> | undefined;
const straight = () => (straightRun ??= trainSeedRecipe({ ...base, epochs: 3 }));

function expectSameRun(a: SeedRecipeResult, b: SeedRecipeResult): void {
  expect(weightBytes(a.model).equals(weightBytes(b.model))).toBe(true);
  expect(figures(a)).toEqual(figures(b));
  expect(a.testLoss).toBe(b.testLoss);
}

describe('resume equals the uninterrupted run (CPU, bit for bit)', () => {
  test('1 epoch, then resumed to 3', async () => {
    const dir = tmp();
    const first = await trainSeedRecipe({ ...base, epochs: 1, checkpointDir: dir });
    expect(first.checkpoint).toBe(path.join(dir, 'epoch-0001'));
    const ckpt = loadCheckpoint(dir);
    expect(ckpt.manifest.epoch).toBe(1);
    expect(ckpt.manifest.iteration).toBe(22);
    expect(ckpt.manifest.position).toBeNull();
    expect(ckpt.manifest.settings).toMatchObject({ epochs: 1, seed: 2, limit: 1500, batchSize: 64 });
    const resumed = await trainSeedRecipe({ mnist, device: 'cpu', progress: 'none', epochs: 3, resume: ckpt });
    expectSameRun(resumed, await straight());
    expect(loadCheckpoint(dir).manifest.epoch).toBe(3);
    expect(fs.readdirSync(dir).sort()).toEqual(['epoch-0003', 'latest.json']); // older ones removed
  });

  test('stopped part-way through epoch 1 (as Ctrl-C does), then resumed', async () => {
    const dir = tmp();
    let steps = 0;
    const stopped = await trainSeedRecipe({ ...base, epochs: 3, checkpointDir: dir, callbacks: [{ onBatchEnd: () => void steps++ }], shouldStop: () => steps === 30 });
    expect(stopped.stopped).toBe(true);
    expect(stopped.position).toMatchObject({ epoch: 1, step: 8, iteration: 30 });
    expect(Number.isNaN(stopped.testLoss)).toBe(true);
    expect(stopped.checkpoint).toBe(path.join(dir, 'epoch-0001-step-0008'));
    const ckpt = loadCheckpoint(dir);
    expect(ckpt.manifest.position?.step).toBe(8);
    // The settings (3 epochs included) come from the checkpoint.
    const resumed = await trainSeedRecipe({ mnist, device: 'cpu', progress: 'none', resume: ckpt });
    expectSameRun(resumed, await straight());
  });

  test('stopped on the last step of an epoch, resumed: the epoch is closed as usual', async () => {
    const dir = tmp();
    let steps = 0;
    await trainSeedRecipe({ ...base, epochs: 3, checkpointDir: dir, callbacks: [{ onBatchEnd: () => void steps++ }], shouldStop: () => steps === 44 });
    expect(loadCheckpoint(dir).manifest.position).toMatchObject({ epoch: 1, step: 22 });
    const resumed = await trainSeedRecipe({ mnist, device: 'cpu', progress: 'none', resume: loadCheckpoint(dir) });
    expectSameRun(resumed, await straight());
  });

  test('settings that shape the run cannot change on resume; epochs can', async () => {
    const dir = tmp();
    await trainSeedRecipe({ ...base, epochs: 1, checkpointDir: dir, checkpointEvery: 0 });
    const ckpt = loadCheckpoint(dir);
    await expect(trainSeedRecipe({ mnist, resume: ckpt, lr: 0.1 })).rejects.toThrow(`cannot resume with lr 0.1: the checkpoint in ${ckpt.dir} was trained with lr 0.01`);
    await expect(trainSeedRecipe({ mnist, resume: ckpt, limit: 3000 })).rejects.toThrow('cannot resume with limit 3000');
    await expect(trainSeedRecipe({ mnist, resume: ckpt, seed: 2, batchSize: 64, progress: 'none', epochs: 1, device: 'cpu' })).resolves.toBeDefined();
  });

  test('checkpointEvery 2 saves after epochs 2 and 3 (the last)', async () => {
    const dir = tmp();
    const saved: number[] = [];
    await trainSeedRecipe({
      ...base,
      epochs: 3,
      checkpointDir: dir,
      checkpointEvery: 2,
      callbacks: [{ onEpochEnd: () => void saved.push(fs.existsSync(path.join(dir, 'latest.json')) ? loadCheckpoint(dir).manifest.epoch : 0) }],
    });
    // The recipe's own callback runs first, so each entry shows the checkpoint after that epoch.
    expect(saved).toEqual([0, 2, 3]);
  });
});

function objects(seed = 0) {
  const model = seedNetwork({ channels: 2, generator: new Generator(seed) });
  const optimizer = new Adam(model.parameters(), { lr: 0.01 });
  const scheduler = new StepLR(optimizer, { stepSize: 5, gamma: 0.5 });
  return { model, optimizer, scheduler, generator: new Generator(seed) };
}

function writeOne(dir: string, epoch: number) {
  const o = objects(epoch);
  for (const p of o.model.parameters()) p.copyFrom(new Float32Array(p.size).fill(epoch));
  o.optimizer.step(); // zero gradients: the weights stay, the moment buffers exist
  return saveCheckpoint(dir, { ...o, epoch, iteration: epoch * 10, history: [], settings: { epoch } });
}

describe('crash safety', () => {
  test('a leftover temporary folder or a complete checkpoint not yet named in latest.json is not picked up', () => {
    const dir = tmp();
    writeOne(dir, 1);
    // What a crash while writing epoch 2 leaves: a partial temporary folder…
    fs.mkdirSync(path.join(dir, '.tmp-epoch-0002-999-x'));
    fs.writeFileSync(path.join(dir, '.tmp-epoch-0002-999-x', 'weights.safetensors'), 'partial');
    // …or the renamed folder before latest.json was replaced.
    fs.cpSync(path.join(dir, 'epoch-0001'), path.join(dir, 'epoch-0002'), { recursive: true });
    fs.rmSync(path.join(dir, 'epoch-0002', 'optimizer.safetensors'));
    const c = loadCheckpoint(dir);
    expect(c.manifest.epoch).toBe(1);
    expect(c.weights['0.weight'].data[0]).toBe(1);
    // The next save cleans up the stale folder.
    writeOne(dir, 3);
    expect(fs.readdirSync(dir).filter((f) => f.startsWith('epoch-'))).toEqual(['epoch-0003']);
  });

  test('saving over an existing checkpoint of the same name replaces it whole', () => {
    const dir = tmp();
    writeOne(dir, 2);
    const again = objects(5);
    for (const p of again.model.parameters()) p.copyFrom(new Float32Array(p.size).fill(7));
    saveCheckpoint(dir, { ...again, epoch: 2, iteration: 20, history: [] });
    expect(loadCheckpoint(dir).weights['0.weight'].data[0]).toBe(7);
    expect(fs.readdirSync(dir).sort()).toEqual(['epoch-0002', 'latest.json']);
  });

  const dist = path.join(__dirname, '..', 'dist', 'cjs', 'index.js');
  const chapterDist = path.join(__dirname, '..', 'dist', 'cjs', 'chapter', 'index.js');
  test.skipIf(!fs.existsSync(dist))('a writer killed (SIGKILL) at random moments always leaves a complete, consistent checkpoint', async () => {
    const dir = tmp();
    // Each checkpoint k holds weights equal to k and iteration 10·k, so consistency is checkable.
    const script = `
      const n = require(${JSON.stringify(dist)});
      const { seedNetwork } = require(${JSON.stringify(chapterDist)});
      const dir = ${JSON.stringify(dir)};
      const start = n.loadCheckpoint(dir).manifest.epoch + 1;
      for (let k = start; ; k++) {
        const model = seedNetwork({ channels: 2 });
        for (const p of model.parameters()) p.copyFrom(new Float32Array(p.size).fill(k));
        const optimizer = new n.optim.Adam(model.parameters());
        n.saveCheckpoint(dir, { model, optimizer, generator: new n.Generator(k), epoch: k, iteration: 10 * k, history: [] });
      }`;
    writeOne(dir, 1);
    let seed = 17;
    for (let trial = 0; trial < 6; trial++) {
      const child = spawn(process.execPath, ['-e', script], { stdio: 'ignore' });
      seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
      await new Promise((r) => setTimeout(r, 250 + (seed % 400)));
      child.kill('SIGKILL');
      await new Promise((r) => child.on('exit', r));
      const c = loadCheckpoint(dir);
      const k = c.manifest.epoch;
      expect(c.manifest.iteration).toBe(10 * k);
      expect(c.weights['4.weight'].data.every((v) => v === k)).toBe(true);
    }
    const last = loadCheckpoint(dir).manifest.epoch;
    expect(last).toBeGreaterThan(1);
    // The next save removes what the killed writers left (.tmp-* folders, temporary files).
    writeOne(dir, last + 1);
    expect(fs.readdirSync(dir).sort()).toEqual([`epoch-${String(last + 1).padStart(4, '0')}`, 'latest.json']);
  });

  test('a save removes a dead writer\'s .tmp-* folder and temporary file, not a running writer\'s', () => {
    const dir = tmp();
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    const deadTemps = [`.tmp-epoch-0003-${dead}-abc`, `.latest.json.${dead}.xyz.tmp`];
    const liveTemp = `.tmp-epoch-0003-${process.pid}-live`;
    for (const name of [...deadTemps, liveTemp]) fs.mkdirSync(path.join(dir, name), { recursive: true });
    writeOne(dir, 1);
    expect(fs.readdirSync(dir).sort()).toEqual([liveTemp, 'epoch-0001', 'latest.json'].sort());
  });
});

describe('the loader refuses broken checkpoints and model folders with a clear Error', () => {
  function fresh() {
    const dir = tmp();
    const ckptDir = writeOne(dir, 1);
    return { dir, ckptDir };
  }

  function tryLoad(dir: string): Error | null {
    try {
      const c = loadCheckpoint(dir);
      restoreCheckpoint(c, objects());
      return null;
    } catch (error) {
      expect(error).toBeInstanceOf(Error);
      expect((error as Error).message.length).toBeGreaterThan(10);
      return error as Error;
    }
  }

  test('named problems', () => {
    const { dir, ckptDir } = fresh();
    const manifestFile = path.join(ckptDir, 'checkpoint.json');
    const good = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    const withManifest = (m: unknown) => fs.writeFileSync(manifestFile, JSON.stringify(m));
    expect(() => loadCheckpoint(path.join(dir, 'nowhere'))).toThrow(`${path.join(dir, 'nowhere')} does not exist`);
    expect(() => loadCheckpoint(manifestFile)).toThrow(`${manifestFile} is a file; expected a run folder`);
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-empty-'));
    expect(() => loadCheckpoint(empty)).toThrow(`${empty} holds no napinet checkpoint`);
    withManifest({ ...good, version: 9 });
    expect(() => loadCheckpoint(dir)).toThrow(`${manifestFile}: checkpoint version 9 is not supported`);
    withManifest({ ...good, generator: { words: [0, 0, 0, 0], spareNormal: null } });
    expect(() => loadCheckpoint(dir)).toThrow('generator words are all zero');
    withManifest({ ...good, iteration: -1 });
    expect(() => loadCheckpoint(dir)).toThrow('iteration must be a non-negative integer');
    withManifest({ ...good, optimizer: { ...good.optimizer, parameters: ['a', 'b', 'c', 'd'] } });
    expect(() => loadCheckpoint(dir)).toThrow('no tensor a.expAvg');
    withManifest(good);
    expect(() => restoreCheckpoint(loadCheckpoint(dir), { ...objects(), model: seedNetwork({ channels: 3 }) })).toThrow(/Expected 75 values for the expAvg state of 0.weight but .* holds 50/);
    fs.writeFileSync(manifestFile, '{"format": "napinet-checkpoint", ');
    expect(() => loadCheckpoint(dir)).toThrow(`${manifestFile} is not valid JSON`);
    fs.writeFileSync(path.join(dir, 'latest.json'), '{"checkpoint": "../../etc"}');
    expect(() => loadCheckpoint(dir)).toThrow('latest.json: expected {"checkpoint": "epoch-NNNN"}');
    fs.writeFileSync(path.join(ckptDir, 'model.json'), '{"format": "napinet-model", "version": 1, "architecture": {"type": "Sequential", "layers": [{"type": "Conv9d"}]}}');
    expect(() => loadModel(ckptDir)).toThrow(
      `${path.join(ckptDir, 'model.json')}: Expected a registered module type for architecture.layers[0].type but "Conv9d" is not a registered module type`,
    );
    fs.writeFileSync(path.join(ckptDir, 'model.json'), '[');
    expect(() => loadModel(ckptDir)).toThrow('model.json is not valid JSON');
  });

  test('every truncation and 300 random corruptions of each file: an Error or a checkpoint that loads, never a crash', () => {
    const { dir, ckptDir } = fresh();
    const files = ['checkpoint.json', 'model.json', 'weights.safetensors', 'optimizer.safetensors'].map((f) => path.join(ckptDir, f));
    files.push(path.join(dir, 'latest.json'));
    let seed = 4242;
    const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    let refused = 0;
    for (const file of files) {
      const good = fs.readFileSync(file);
      const step = Math.max(1, Math.floor(good.length / 60));
      for (let cut = 0; cut < good.length; cut += step) {
        fs.writeFileSync(file, good.subarray(0, cut));
        if (tryLoad(dir)) refused++;
      }
      for (let trial = 0; trial < 300; trial++) {
        const bytes = Buffer.from(good);
        const flips = 1 + (rand() % 4);
        for (let k = 0; k < flips; k++) bytes[rand() % bytes.length] = rand() & 0xff;
        fs.writeFileSync(file, bytes);
        if (tryLoad(dir)) refused++;
      }
      fs.writeFileSync(file, good);
      expect(tryLoad(dir)).toBeNull();
    }
    expect(refused).toBeGreaterThan(300);
  });
});
