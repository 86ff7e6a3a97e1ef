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
import { epochAugmentation, validate } from '../index';
import { deepNetwork } from './models';
import { describeDevice, type Recipe, type RecipeRunOptions, runRecipe, type SeedRecipeResult } from './recipe';

const { expectBoolean, expectNumber } = validate;

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
  const augmentSeconds: number[] = [];
  const result = await runRecipe(deepRecipe(augmentSeconds), DEEP_RECIPE, options);
  return { ...result, augmentSeconds };
}

type DeepSettings = typeof DEEP_RECIPE & DeepRecipeOptions;

/** The deep recipe; the host seconds of each epoch's augmentation go into `augmentSeconds`. */
function deepRecipe(augmentSeconds: number[]): Recipe<DeepSettings> {
  return {
    name: 'deep',
    runSettings: RUN_SETTINGS,
    check: (o) => {
      expectNumber(o.lrGamma, 'lrGamma', 0);
      expectBoolean(o.augment, 'augment');
    },
    network: (o, generator) => deepNetwork({ dropout: o.dropout, generator }),
    schedule: (o) => ({ stepSize: 1, gamma: o.lrGamma, interval: 'epoch' }),
    training: (o, data, generator) => {
      if (!o.augment) return { train: data.train, callbacks: [] };
      // Blank pixels brought in by a rotation or shift take the standardised value of a 0 pixel.
      const fill = (0 - data.standardizer.mean[0]) / data.standardizer.std[0];
      const augmentation = epochAugmentation(data.train, { rotation: o.rotation, shift: o.shift, fill, generator });
      const timed = {
        onEpochBegin: (epoch: number) => {
          const started = performance.now();
          augmentation.callbacks.onEpochBegin!(epoch);
          augmentSeconds.push((performance.now() - started) / 1000);
        },
      };
      return { train: augmentation.data, callbacks: [timed] };
    },
    describe: (o, { device, data, model }) =>
      `deep network, ${model.parameterCount().toLocaleString('en-US')} parameters; ${describeDevice(device)}; ` +
      `train ${data.train.count}${o.augment ? ` (augmented: ±${o.rotation}°, ±${o.shift} px)` : ''}, validation ${data.validation.count}, test ${data.test.count}`,
  };
}
