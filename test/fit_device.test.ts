// fit() on a GPU with any TensorDataset (lib/train/fit.ts, lib/train/data_source.ts): the dataset is
// uploaded once and every batch gathered on the device, so a step of a regression (float targets
// [N, 1], MSELoss, the metric 'mae' computed on the device) adds kernel launches only: no copy, no
// memset, no synchronisation, counted by the CUDA emulator (cuda/emu/activity.h) as
// test/cuda_step_traffic.test.ts does for the chapter's network; a DataLoader over the dataset takes
// the same path. The GPU run reaches the CPU run's coefficients, and a NaN loss stops training at
// the end of the epoch (where the sums are read anyway), or at a progress-bar update.
// Runs where a GPU is usable (a real one, or the emulator build):
//   npm run build:emu && NAPINET_ADDON=$PWD/build-emu/Release/napinet.node npx vitest run test/fit_device.test.ts
import { describe, expect, test } from 'vitest';
import { TensorDataset } from '../lib/data/dataset';
import { DataLoader } from '../lib/data/dataloader';
import { cuda } from '../lib/device';
import { Linear } from '../lib/nn/linear';
import { MSELoss } from '../lib/nn/loss';
import { Sequential } from '../lib/nn/sequential';
import { native } from '../lib/native';
import { SGD } from '../lib/optim/sgd';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { fit, type FitOptions, NonFiniteLossError } from '../lib/train/fit';
import { evaluate } from '../lib/train/evaluate';
import { emulatorCounters, totalLaunches } from './helpers/cuda';

const emulated = native().buildInfo().cudaEmulated;

function regression(n: number, g: Generator): TensorDataset {
  const w = [0.5, -1, 2, 0.25];
  const x = Float32Array.from({ length: n * 4 }, () => g.normal());
  const y = Float32Array.from({ length: n }, (_, i) => w.reduce((s, v, k) => s + v * x[i * 4 + k], -0.5) + 0.05 * g.normal());
  return new TensorDataset(Tensor.from(x, [n, 4]), Tensor.from(y, [n, 1]));
}

describe.runIf(cuda.isAvailable())('fit() on the GPU with a TensorDataset', () => {
  test.runIf(emulated)("a regression step (MSELoss, the metric 'mae') adds only kernel launches, from a dataset or a DataLoader over it", async () => {
    const emu = emulatorCounters();
    const g = new Generator(3);
    const model = new Sequential(new Linear(4, 1, { generator: g })).to('cuda');
    const options: FitOptions = { loss: new MSELoss(), metrics: ['mae'], optimizer: new SGD(model.parameters(), { lr: 0.05 }), epochs: 1, batchSize: 16, progress: 'none', generator: g };
    for (const wrap of [(d: TensorDataset) => d, (d: TensorDataset) => new DataLoader(d, { batchSize: 16, shuffle: true })]) {
      const run = async (steps: number) => {
        const data = regression(steps * 16, g);
        emu.resetActivity();
        await fit(model, wrap(data), options);
        return emu.activity();
      };
      await run(2); // first calls: workspaces
      const short = await run(3);
      const long = await run(23);
      // Twenty more steps: the same copies, memsets and waits (those of a fit: the dataset's upload,
      // the shuffled order, the sums read at the end of the epoch) ...
      for (const key of ['hostToDevice', 'deviceToHost', 'deviceToDevice', 'memsets', 'synchronizations'] as const) expect(long[key], key).toBe(short[key]);
      // ... and launches only: the same number every step.
      const total = totalLaunches;
      expect(Number.isInteger((total(long) - total(short)) / 20)).toBe(true);
      expect(long.launches.gather_batch_kernel - short.launches.gather_batch_kernel).toBe(20);
      expect(long.deviceToHost).toBe(2); // the epoch's loss sums and metric sums, read once
    }
    model.dispose();
  }, 120_000);

  test('the GPU run reaches the CPU run (same seed, same batches); evaluate() on the device agrees', async () => {
    const data = regression(512, new Generator(5));
    const train = async (device: 'cpu' | 'cuda') => {
      const model = new Sequential(new Linear(4, 1, { generator: new Generator(1) })).to(device);
      const history = await fit(model, data, { loss: new MSELoss(), optimizer: new SGD(model.parameters(), { lr: 0.05 }), epochs: 5, batchSize: 32, generator: new Generator(2), progress: 'none' });
      return { model, history };
    };
    const cpu = await train('cpu');
    const gpu = await train('cuda');
    const weights = (m: Sequential) => Array.from((m.layers[0] as Linear).weight.toArray());
    // Float32 sums in another order on each device: 1e-4 after 80 steps of SGD on values of order 1.
    weights(gpu.model).forEach((v, i) => expect(Math.abs(v - weights(cpu.model)[i])).toBeLessThan(1e-4));
    expect(Math.abs(gpu.history.epochs[4].trainLoss - cpu.history.epochs[4].trainLoss)).toBeLessThan(1e-5);
    const e = evaluate(gpu.model, data, { loss: new MSELoss(), metrics: ['mae'] });
    expect(e.count).toBe(512);
    expect(Math.abs(e.loss - evaluate(cpu.model, data, { loss: new MSELoss() }).loss)).toBeLessThan(1e-5);
    gpu.model.dispose();
  });

  test('a NaN loss stops training at the end of the epoch (no read per step), or at a progress-bar update', async () => {
    const data = regression(160, new Generator(4)); // 10 steps of 16
    const run = (progress: Partial<FitOptions>) => {
      const model = new Sequential(new Linear(4, 1)).to('cuda');
      const poison = { onBatchEnd: ({ iteration }: { iteration: number }) => {
        if (iteration === 3) (model.layers[0] as Linear).weight.copyFrom([NaN, 0, 0, 0]);
      } };
      return fit(model, data, { loss: new MSELoss(), optimizer: new SGD(model.parameters(), { lr: 0.01 }), epochs: 2, batchSize: 16, callbacks: [poison], progress: 'none', ...progress }).catch((e) => e);
    };
    const atEnd = await run({});
    expect(atEnd).toBeInstanceOf(NonFiniteLossError);
    expect([atEnd.epoch, atEnd.step]).toEqual([0, undefined]);
    expect(atEnd.message).toContain('the training loss became NaN in epoch 0;');
    const stream = { isTTY: true, write: () => true };
    const withBar = await run({ progress: 'bar', progressStream: stream });
    expect([withBar.epoch, withBar.step]).toEqual([0, 10]); // the bar reads at the epoch's last step (and every 50)
  });
});
