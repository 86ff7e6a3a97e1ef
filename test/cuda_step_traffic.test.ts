// What a training step asks of the GPU, counted by the CUDA emulator (cuda/emu/activity.h): a step
// of the seed network under fit() adds kernel launches only — no copy in either direction, no
// memset, no synchronisation (the batch is gathered from the dataset uploaded once per fit, the
// loss and accuracy are summed on the device and read once an epoch when no progress bar shows
// them) — and at most 11
// launches (14 before the binding deferred the gradients' zeroing and fused the loss forward,
// backward and the Linear bias gradient into one kernel: native/binding/cuda/deferred.h; the step
// now launches gather, conv + pool, Linear, the fused loss, the Linear's dx and dw gemms, the
// conv + pool backward's three kernels and Adam). Launches are what a small network's GPU step
// costs (a few µs each), so this guards the GPU epoch-time target (issue 4) on every CI run without
// a GPU. Emulator builds only:
//   npm run build:emu && NAPINET_ADDON=$PWD/build-emu/Release/napinet.node npx vitest run test/cuda_step_traffic.test.ts
import { expect, test } from 'vitest';
import { ImageDataset } from '../lib/data/dataset';
import { seedNetwork } from '../lib/chapter/models';
import { native } from '../lib/native';
import { Adam } from '../lib/optim/adam';
import { StepLR } from '../lib/optim/lr_scheduler';
import { Generator } from '../lib/random';
import { fit } from '../lib/train/fit';
import { type EmuActivity, emulatorCounters, totalLaunches } from './helpers/cuda';


const addon = native();
const emulated = addon.buildInfo().cudaEmulated;
const MAX_LAUNCHES_PER_STEP = 11;

test.runIf(emulated)(`a seed-network training step on CUDA adds only kernel launches, at most ${MAX_LAUNCHES_PER_STEP}`, async () => {
  const emu = emulatorCounters();
  const g = new Generator(1);
  const batch = 64;
  const model = seedNetwork({ generator: g }).to('cuda');
  const optimizer = new Adam(model.parameters(), { lr: 0.01 });
  const scheduler = new StepLR(optimizer, { stepSize: 2, gamma: 0.5 }); // the lr changes between steps
  const dataset = (steps: number) =>
    new ImageDataset(
      Float32Array.from({ length: steps * batch * 784 }, () => g.normal()),
      Int32Array.from({ length: steps * batch }, () => g.int(10)),
      [1, 28, 28],
    );
  const run = async (steps: number): Promise<EmuActivity> => {
    const data = dataset(steps);
    emu.resetActivity();
    await fit(model, data, { optimizer, scheduler, epochs: 1, batchSize: batch, progress: 'none', generator: g });
    return emu.activity();
  };
  await run(2); // first calls: workspaces, scratch buffers
  const short = await run(3);
  const long = await run(53); // past the every-50-steps progress point, which reads nothing without a bar
  const total = totalLaunches;
  // Fifty more steps: the same copies, memsets and waits (those of a fit: the dataset's upload,
  // the shuffled order, the stats read at the end) ...
  for (const key of ['hostToDevice', 'deviceToHost', 'deviceToDevice', 'memsets', 'synchronizations'] as const) {
    expect(long[key], key).toBe(short[key]);
  }
  // ... and the same launches per step.
  const perStep = (total(long) - total(short)) / 50;
  expect(Number.isInteger(perStep)).toBe(true);
  expect(perStep, JSON.stringify(long.launches)).toBeLessThanOrEqual(MAX_LAUNCHES_PER_STEP);
  // What the deferred work saves, step for step: no zero fill, loss backward or bias sum in any step
  // (fit() zeroes its epoch sums once a run: the same in the short and the long run).
  for (const kernel of ['fill_many_kernel', '(fill_kernel<float>)', '(softmax_ce_backward_kernel<std::int32_t>)', 'bias_grad_kernel']) {
    expect((long.launches[kernel] ?? 0) - (short.launches[kernel] ?? 0), kernel).toBe(0);
    expect(long.launches[kernel] ?? 0, kernel).toBeLessThanOrEqual(2);
  }
  expect(long.deviceToHost).toBe(1); // the epoch's loss and accuracy sums
  model.dispose();
}, 120_000);
