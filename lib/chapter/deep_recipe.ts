/**
 * The deeper network's recipe (examples/deep-mnist, `napinet train --model deep`, issue: "99.5%
 * needs more convolution layers and three fully-connected layers"): models.ts deepNetwork() on
 * MNIST prepared as the seed recipe does (standardised with the training split's statistics, 10%
 * held out for validation), every training image randomly rotated (±10°) and shifted (±2 px) anew
 * each epoch, Adam at lr 0.002 × 0.7 after every epoch, batch 128, 12 epochs.
 * bench/deep-mnist.mjs runs it beside the same network in PyTorch (bench/torch_deep_mnist.py).
 *
 * Checkpoints, stopping and resuming work as for the seed recipe (recipe_checkpoints.ts): the
 * weights carry BatchNorm's running statistics, the generator state carries Dropout's seeds, and
 * a run resumed part-way through an epoch rebuilds that epoch's augmented images exactly, because
 * fit() saves the generator's state before the epoch-begin callback that draws them (FitPosition
 * generatorState) as well as at the stop. Test: test/deep_resume.test.ts.
 */
import { cuda, epochAugmentation, fit, Generator, numThreads, optim, prepareMnist, resolveDevice, setNumThreads, validate } from '../index';
import { deepNetwork } from './models';
import { concludeRun, type RecipeRunOptions, type SeedRecipeResult, seedPreprocessing } from './recipe';
import { recipeCheckpoints, recipeSettings, resumedSettings } from './recipe_checkpoints';

const { expectBoolean, expectInt, expectNumber } = validate;

export const DEEP_RECIPE = {
  epochs: 12,
  batchSize: 128,
  lr: 0.002,
  /** lr × lrGamma after every epoch. */
  lrGamma: 0.7,
  augment: true,
  /** Largest rotation (degrees) and shift (pixels) of the augmentation. */
  rotation: 10,
  shift: 2,
  dropout: 0.25,
  seed: 0,
  validationFraction: 0.1,
} as const;

export interface DeepRecipeOptions extends RecipeRunOptions {
  augment?: boolean;
  rotation?: number;
  shift?: number;
  dropout?: number;
}

/** Settings that shape a run: a resumed run must keep them (epochs may grow). */
const RUN_SETTINGS = ['batchSize', 'lr', 'lrGamma', 'augment', 'rotation', 'shift', 'dropout', 'seed', 'limit', 'validationFraction'] as const;

/** As the seed recipe's result. */
export interface DeepRecipeResult extends SeedRecipeResult {
  /** Host seconds spent augmenting before each epoch (not part of epochSeconds). */
  augmentSeconds: number[];
}

export async function trainDeepRecipe(options: DeepRecipeOptions = {}): Promise<DeepRecipeResult> {
  const saved = resumedSettings('deep', options, RUN_SETTINGS);
  const o = { ...DEEP_RECIPE, ...saved, ...options } as typeof DEEP_RECIPE & DeepRecipeOptions;
  const settings = recipeSettings('deep', o, RUN_SETTINGS);
  expectNumber(o.lr, 'lr', 0);
  expectNumber(o.lrGamma, 'lrGamma', 0);
  expectBoolean(o.augment, 'augment');
  const device = resolveDevice(o.device ?? 'auto');
  if (o.workers !== undefined) setNumThreads(expectInt(o.workers, 'workers', 1, 256));
  const generator = new Generator(expectInt(o.seed, 'seed', 0));
  const data = prepareMnist({ mnist: o.mnist, dataDir: o.dataDir, limit: o.limit, validationFraction: o.validationFraction, generator });
  const model = deepNetwork({ dropout: o.dropout, generator }).to(device);
  const optimizer = new optim.Adam(model.parameters(), { lr: o.lr });
  const scheduler = new optim.StepLR(optimizer, { stepSize: 1, gamma: o.lrGamma });
  const modelExtra = { ...seedPreprocessing(data.standardizer), settings };
  const checkpoints = recipeCheckpoints({ model, optimizer, scheduler, generator, settings, modelExtra }, o);
  const callbacks = [checkpoints.callback, ...(o.callbacks ?? [])];
  const augmentSeconds: number[] = [];
  let train = data.train;
  if (o.augment) {
    // Blank pixels brought in by a rotation or shift take the standardised value of a 0 pixel.
    const fill = (0 - data.standardizer.mean[0]) / data.standardizer.std[0];
    const augmentation = epochAugmentation(data.train, { rotation: o.rotation, shift: o.shift, fill, generator });
    train = augmentation.data;
    callbacks.unshift({
      onEpochBegin: (epoch) => {
        const started = performance.now();
        augmentation.callbacks.onEpochBegin!(epoch);
        augmentSeconds.push((performance.now() - started) / 1000);
      },
    });
  }
  o.log?.(
    `deep network, ${model.parameterCount().toLocaleString('en-US')} parameters; device ${device}` +
      `${device === 'cuda' ? ` (${cuda.info().name})` : ` (${numThreads()} threads)`}; ` +
      `train ${data.train.count}${o.augment ? ` (augmented: ±${o.rotation}°, ±${o.shift} px)` : ''}, validation ${data.validation.count}, test ${data.test.count}`,
  );
  const history = await fit(model, train, {
    optimizer,
    scheduler,
    schedulerStep: 'epoch',
    epochs: o.epochs,
    batchSize: o.batchSize,
    validation: data.validation,
    generator,
    log: o.log,
    progress: o.progress,
    callbacks,
    shouldStop: o.shouldStop,
    ...checkpoints.fit,
  });
  return { ...concludeRun({ data, model, history, device, settings, checkpoints, log: o.log }), augmentSeconds };
}
