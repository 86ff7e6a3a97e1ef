/**
 * The checkpoint glue every recipe (seed: recipe.ts, deep: deep_recipe.ts) shares: checking a
 * resumed checkpoint against the recipe and the options given, restoring it into the freshly built
 * training objects, the fit() options that continue it, the callback that saves every N epochs and
 * after the last, and the save of a run that shouldStop() ended (lib/io/checkpoint.ts writes them).
 * Tests: test/checkpoint.test.ts (seed), test/deep_resume.test.ts (deep).
 */
import {
  type Callbacks, type Checkpoint, type FitOptions, type FitPosition, type FitResult, type Generator, type History, type nn, type optim,
  distributed, restoreCheckpoint, saveCheckpoint, validate,
} from '../index';

const { expectInt } = validate;

/** The recipes; a checkpoint's settings.model names its recipe (none: seed, from before the deep one had checkpoints). */
export type RecipeName = 'seed' | 'deep';

/** Which recipe wrote `checkpoint`. */
export function checkpointRecipe(checkpoint: Checkpoint): RecipeName {
  const model = checkpoint.manifest.settings.model ?? 'seed';
  if (model !== 'seed' && model !== 'deep') throw new Error(`${checkpoint.dir}: settings.model ${JSON.stringify(model)} is not a napinet recipe (seed or deep)`);
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

/**
 * The settings record of a run (stored in every checkpoint and in the result): the recipe's name,
 * then epochs and each of `runSettings` that `o` (defaults, resumed settings and options merged) sets.
 */
export function recipeSettings(recipe: RecipeName, o: object, runSettings: readonly string[]): Record<string, unknown> {
  const given = o as Record<string, unknown>;
  return { model: recipe, ...Object.fromEntries(['epochs', ...runSettings].filter((k) => given[k] !== undefined).map((k) => [k, given[k]])) };
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
    restoreCheckpoint(resume, { model, optimizer, scheduler, generator });
    const p = resume.manifest.position;
    run.log?.(`resuming from ${resume.dir}: ${p ? `epoch ${p.epoch}, step ${p.step}` : `after epoch ${resume.manifest.epoch}`}, iteration ${resume.manifest.iteration}`);
  }
  const checkpointDir = run.checkpointDir ?? resume?.checkpointsDir;
  let last: string | undefined;
  let lastIteration = -1;
  const save = (epoch: number, iteration: number, epochs: History['epochs'], position?: FitPosition) => {
    if (!checkpointDir || !distributed.isMainProcess()) return; // in data-parallel training, rank 0 writes
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
