/**
 * Training checkpoints: everything a run needs to continue exactly where it stopped — the model's
 * weights, the optimizer's state (step count, moment estimates), the scheduler's step, the random
 * generator's state, the epoch and iteration, the history so far and, for a run stopped part-way
 * through an epoch, its position in that epoch (FitPosition, lib/fit_types.ts).
 *
 * Layout (a run folder holds one `checkpoints/` folder):
 *
 *   checkpoints/latest.json            {"checkpoint": "epoch-0002"}: the newest complete checkpoint
 *   checkpoints/epoch-0002/            after 2 epochs (epoch-0002-step-0013: 13 steps into the 3rd)
 *     checkpoint.json                  epoch, iteration, position, generator, optimizer/scheduler
 *                                      scalars, history, settings
 *     model.json, weights.safetensors  the model, as saveModel writes it (loadModel reads it; a
 *                                      model whose class is not registered is saved with architecture
 *                                      null: the resuming run builds it in code)
 *     optimizer.safetensors            optimizer state tensors, named "<parameter>.<state>"
 *
 * Crash safety: a checkpoint is written into a temporary folder (every file fsynced), renamed to
 * its final name, and only then does latest.json (itself replaced atomically) point at it; older
 * checkpoints are removed last. A crash at any moment leaves latest.json naming a complete
 * checkpoint, never a half-written one — except while a checkpoint replaces one of the same name,
 * when the old one is moved aside first: repairCheckpoints() moves it back. What killed saves leave
 * (.tmp-* folders, half-written files) is removed by the next save into the folder and by
 * repairCheckpoints(). Test: test/checkpoint.test.ts,
 * test/run_integrity.test.ts (kill -9 during saves).
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Module } from '../nn/module';
import type { LRScheduler } from '../optim/lr_scheduler';
import type { Optimizer, OptimizerState } from '../optim/optimizer';
import type { Generator, GeneratorSnapshot } from '../random';
import type { EpochRecord, FitPosition } from '../fit_types';
import { makeFolder, TEMP_FILE, writeJsonAtomic, writerMayRun } from './files';
import { expectInt, expectModule, expectObject, fail } from '../validate';
import { fileError, readJsonFile } from '../budget';
import {
  CHECKPOINTS_DIR, LATEST_FILE, latestCheckpoint, loadStateDict, MODEL_FILE, type ModelManifest, readModelManifest, WEIGHTS_FILE, writeModelFolder,
} from './model_io';
import { type NamedArray, readSafetensors, writeSafetensors } from './safetensors';

export { CHECKPOINTS_DIR, LATEST_FILE };
export const CHECKPOINT_FILE = 'checkpoint.json';
export const OPTIMIZER_FILE = 'optimizer.safetensors';

/** A checkpoint's checkpoint.json: where training stood (epoch, iteration, history), the optimizer's and scheduler's state and the generator. */
export interface CheckpointManifest {
  format: 'napinet-checkpoint';
  version: 1;
  /** Epochs completed. */
  epoch: number;
  /** Iterations (optimizer steps) completed. */
  iteration: number;
  /** Set when the run stopped part-way through epoch `epoch`. */
  position: FitPosition | null;
  generator: GeneratorSnapshot;
  /** Scalars; the state tensors are in optimizer.safetensors as "<parameters[i]>.<buffers[i][k]>". */
  optimizer: { type: string; lr: number; initialLr: number; steps: number; parameters: string[]; buffers: string[][] };
  scheduler: { type: string; lastStep: number } | null;
  history: EpochRecord[];
  /** What the caller needs to rebuild the run (the recipe's settings). */
  settings: Record<string, unknown>;
  savedAt: string;
}

/** What loadCheckpoint returns: the manifest, the weights and optimizer tensors, and the checkpoint's folder. */
export interface Checkpoint {
  /** The checkpoint's own folder. */
  dir: string;
  /** The checkpoints/ folder holding it (its latest.json). */
  checkpointsDir: string;
  manifest: CheckpointManifest;
  /** The model manifest saved with it (architecture, preprocessing). */
  model: ModelManifest;
  weights: Record<string, NamedArray>;
  optimizer: OptimizerState;
}

/** What saveCheckpoint saves and restoreCheckpoint restores: the model, optimizer, optional scheduler, generator and where training stood. */
export interface CheckpointParts {
  model: Module;
  optimizer: Optimizer;
  scheduler?: LRScheduler | null;
  generator: Generator;
  /** Epochs completed. */
  epoch: number;
  iteration: number;
  position?: FitPosition | null;
  history: EpochRecord[];
  settings?: Record<string, unknown>;
  /** Extra fields for the checkpoint's model.json (preprocessing, …). */
  modelExtra?: Record<string, unknown>;
}

/** A checkpoint's folder name (epoch-0002; epoch-0002-step-0013: 13 steps into the 3rd epoch). */
const CHECKPOINT_NAME = /^epoch-(\d{4,})(?:-step-(\d{4,}))?$/;

function checkpointName(epoch: number, position: FitPosition | null | undefined): string {
  const e = `epoch-${String(epoch).padStart(4, '0')}`;
  return position ? `${e}-step-${String(position.step).padStart(4, '0')}` : e;
}

function fsyncDir(dir: string): void {
  try {
    const fd = fs.openSync(dir, 'r');
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch {
    // Some file systems refuse fsync on a directory; the renames are still atomic.
  }
}

/**
 * Writes a checkpoint into `checkpointsDir` (created if needed) and makes it the latest; removes
 * the older ones. Returns the new checkpoint's folder.
 */
export function saveCheckpoint(checkpointsDir: string, parts: CheckpointParts): string {
  if (typeof checkpointsDir !== 'string' || checkpointsDir === '') fail('a folder path', 'checkpointsDir', checkpointsDir);
  expectObject(parts, 'parts');
  expectModule(parts.model, 'parts.model');
  if (typeof parts.optimizer?.stateDict !== 'function') fail('an Optimizer', 'parts.optimizer', parts.optimizer);
  if (typeof parts.generator?.getState !== 'function') fail('a Generator', 'parts.generator', parts.generator);
  expectInt(parts.epoch, 'parts.epoch', 0);
  expectInt(parts.iteration, 'parts.iteration', 0);
  if (!Array.isArray(parts.history)) fail('a list of epoch records', 'parts.history', parts.history);
  makeFolder(checkpointsDir);
  removeDeadWritersTemps(checkpointsDir, []); // saves killed earlier leave nothing behind for long
  const name = checkpointName(parts.epoch, parts.position);
  const temp = path.join(checkpointsDir, `.tmp-${name}-${process.pid}-${Math.random().toString(36).slice(2)}`);
  const optimizerState = parts.optimizer.stateDict();
  const paramNames = parts.model.namedParameters().map(([n]) => n);
  if (paramNames.length !== optimizerState.buffers.length) {
    throw new RangeError(`Expected an optimizer over the model's ${paramNames.length} parameters but it holds ${optimizerState.buffers.length}`);
  }
  const optimizerTensors: Record<string, NamedArray> = {};
  const bufferNames = optimizerState.buffers.map((entry, i) =>
    Object.entries(entry)
      .filter(([, values]) => values !== null)
      .map(([key, values]) => {
        optimizerTensors[`${paramNames[i]}.${key}`] = { shape: [values!.length], data: values! };
        return key;
      }),
  );
  const manifest: CheckpointManifest = {
    format: 'napinet-checkpoint',
    version: 1,
    epoch: parts.epoch,
    iteration: parts.iteration,
    position: parts.position ?? null,
    generator: parts.generator.getState(),
    optimizer: {
      type: optimizerState.type,
      lr: optimizerState.lr,
      initialLr: optimizerState.initialLr,
      steps: optimizerState.steps,
      parameters: paramNames,
      buffers: bufferNames,
    },
    scheduler: parts.scheduler?.stateDict() ?? null,
    history: parts.history,
    settings: parts.settings ?? {},
    savedAt: new Date().toISOString(),
  };
  try {
    writeModelFolder(temp, parts.model, parts.modelExtra ?? {}, { architecture: 'optional' });
    writeSafetensors(path.join(temp, OPTIMIZER_FILE), optimizerTensors, { format: 'napinet-optimizer' });
    writeJsonAtomic(path.join(temp, CHECKPOINT_FILE), manifest);
    fsyncDir(temp);
    const final = path.join(checkpointsDir, name);
    if (fs.existsSync(final)) {
      // Same name again (a rerun from an older checkpoint): move the old one aside first.
      const aside = path.join(checkpointsDir, `.old-${name}-${process.pid}-${Math.random().toString(36).slice(2)}`);
      fs.renameSync(final, aside);
      fs.renameSync(temp, final);
      fs.rmSync(aside, { recursive: true, force: true });
    } else {
      fs.renameSync(temp, final);
    }
    fsyncDir(checkpointsDir);
  } catch (error) {
    try {
      fs.rmSync(temp, { recursive: true, force: true });
    } catch {
      // Nothing was made there: nothing to remove.
    }
    throw (error as NodeJS.ErrnoException).code ? fileError(path.join(checkpointsDir, name), 'write', error) : error;
  }
  writeJsonAtomic(path.join(checkpointsDir, LATEST_FILE), { format: 'napinet-checkpoint-pointer', checkpoint: name });
  for (const entry of fs.readdirSync(checkpointsDir)) {
    if (entry !== name && CHECKPOINT_NAME.test(entry)) fs.rmSync(path.join(checkpointsDir, entry), { recursive: true, force: true });
  }
  return path.join(checkpointsDir, name);
}

/** What saveCheckpoint leaves when interrupted: its temporary folder, a same-name checkpoint moved aside. */
const TEMP_CHECKPOINT = /^\.tmp-(epoch-\d{4,}(?:-step-\d{4,})?)-(\d+)-[a-z0-9]*$/;
const ASIDE_CHECKPOINT = /^\.old-(epoch-\d{4,}(?:-step-\d{4,})?)-(\d+)-[a-z0-9]*$/;

/** Removes what killed writers left in `checkpointsDir` (their .tmp-* folders and temporary files; a running writer's are kept). */
function removeDeadWritersTemps(checkpointsDir: string, done: string[]): void {
  for (const entry of fs.readdirSync(checkpointsDir).sort()) {
    const temp = TEMP_CHECKPOINT.exec(entry) ?? TEMP_FILE.exec(entry);
    if (!temp || writerMayRun(Number(temp.at(-1)))) continue;
    fs.rmSync(path.join(checkpointsDir, entry), { recursive: true, force: true });
    done.push(`removed ${path.join(checkpointsDir, entry)} (${entry.startsWith('.tmp-') ? 'an interrupted save' : 'an interrupted write'})`);
  }
}

/**
 * Puts `checkpointsDir` (a run's checkpoints/ folder) back in order after interrupted saves: a
 * checkpoint moved aside while being replaced goes back to its name if the replacement never
 * arrived (else it is removed), temporary folders and files are removed, and a latest.json that
 * names a missing checkpoint is pointed at the newest complete one. Only leftovers of processes
 * that no longer run are touched (their names hold the writer's pid). Returns what it did, one
 * line each (empty when there was nothing to do). The CLI calls it when it opens a run folder.
 */
export function repairCheckpoints(checkpointsDir: string): string[] {
  if (typeof checkpointsDir !== 'string' || checkpointsDir === '') fail('a folder path', 'checkpointsDir', checkpointsDir);
  if (!fs.existsSync(checkpointsDir) || !fs.statSync(checkpointsDir).isDirectory()) return [];
  const done: string[] = [];
  const remove = (entry: string, why: string) => {
    fs.rmSync(path.join(checkpointsDir, entry), { recursive: true, force: true });
    done.push(`removed ${path.join(checkpointsDir, entry)} (${why})`);
  };
  removeDeadWritersTemps(checkpointsDir, done);
  for (const entry of fs.readdirSync(checkpointsDir).sort()) {
    const aside = ASIDE_CHECKPOINT.exec(entry);
    if (aside && !writerMayRun(Number(aside[2]))) {
      const final = path.join(checkpointsDir, aside[1]);
      if (fs.existsSync(final)) {
        remove(entry, `replaced by ${aside[1]}`);
      } else {
        fs.renameSync(path.join(checkpointsDir, entry), final);
        done.push(`restored ${final} (an interrupted save had moved it aside)`);
      }
    }
  }
  const pointerFile = path.join(checkpointsDir, LATEST_FILE);
  let named: unknown;
  try {
    named = (readJsonFile(pointerFile, 'checkpoint pointer') as { checkpoint?: unknown })?.checkpoint;
  } catch {
    named = undefined;  // missing or unreadable: rewritten below when a checkpoint exists
  }
  // Oldest first: by epoch, then steps into the next one (epoch-0002 < epoch-0002-step-0013 < epoch-0003).
  const order = (name: string) => {
    const [, epoch, step] = CHECKPOINT_NAME.exec(name)!;
    return Number(epoch) * 1e9 + Number(step ?? 0);
  };
  const complete = fs.readdirSync(checkpointsDir)
    .filter((e) => CHECKPOINT_NAME.test(e) && fs.existsSync(path.join(checkpointsDir, e, CHECKPOINT_FILE)))
    .sort((a, b) => order(a) - order(b));
  const pointsAtComplete = typeof named === 'string' && complete.includes(named);
  if (!pointsAtComplete && complete.length > 0) {
    const newest = complete.at(-1)!;
    writeJsonAtomic(pointerFile, { format: 'napinet-checkpoint-pointer', checkpoint: newest });
    done.push(`${pointerFile} now names ${newest}${typeof named === 'string' ? ` (it named ${named}, which is missing or incomplete)` : ''}`);
  }
  return done;
}

/** Finds the checkpoint folder `location` means: a run folder, its checkpoints/ folder, or a checkpoint itself. */
export function findCheckpoint(location: string): { dir: string; checkpointsDir: string } {
  const fromPointer = (checkpointsDir: string) => ({ dir: latestCheckpoint(checkpointsDir), checkpointsDir });
  if (typeof location !== 'string' || location === '') fail('a run, checkpoints or checkpoint folder', 'location', location);
  const expected = `a run folder, its ${CHECKPOINTS_DIR}/ folder or a checkpoint folder`;
  if (!fs.existsSync(location)) throw new Error(`${location} does not exist (expected ${expected})`);
  if (!fs.statSync(location).isDirectory()) throw new Error(`${location} is a file; expected ${expected}`);
  if (fs.existsSync(path.join(location, CHECKPOINT_FILE))) return { dir: location, checkpointsDir: path.dirname(location) };
  if (fs.existsSync(path.join(location, LATEST_FILE))) return fromPointer(location);
  if (fs.existsSync(path.join(location, CHECKPOINTS_DIR, LATEST_FILE))) return fromPointer(path.join(location, CHECKPOINTS_DIR));
  throw new Error(`${location} holds no napinet checkpoint (looked for ${CHECKPOINTS_DIR}/${LATEST_FILE}, ${LATEST_FILE} and ${CHECKPOINT_FILE})`);
}

const isCount = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 0;
const isFiniteNumber = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);

function checkGenerator(g: any, what: string, bad: (m: string) => never): void {
  if (!g || !Array.isArray(g.words) || g.words.length !== 4 || !g.words.every((w: unknown) => Number.isInteger(w) && (w as number) >= 0 && (w as number) < 2 ** 32)) {
    bad(`${what} must hold four 32-bit words`);
  }
  if (g.words.every((w: number) => w === 0)) bad(`${what} words are all zero (not a state a generator reaches)`);
  if (g.spareNormal !== null && g.spareNormal !== undefined && !isFiniteNumber(g.spareNormal)) bad(`${what}.spareNormal must be a number or null`);
}

/** Checks a parsed checkpoint.json field by field; throws naming the file and the field. */
function checkManifest(m: any, file: string): asserts m is CheckpointManifest {
  const bad = (message: string): never => {
    throw new Error(`${file}: ${message}`);
  };
  if (typeof m !== 'object' || m === null || Array.isArray(m)) bad('not a JSON object');
  if (m.format !== 'napinet-checkpoint') bad(`not a napinet checkpoint (format ${JSON.stringify(m.format)})`);
  if (m.version !== 1) bad(`checkpoint version ${JSON.stringify(m.version)} is not supported (this napinet reads version 1)`);
  if (!isCount(m.epoch)) bad('epoch must be a non-negative integer');
  if (!isCount(m.iteration)) bad('iteration must be a non-negative integer');
  checkGenerator(m.generator, 'generator', bad);
  const o = m.optimizer;
  if (!o || typeof o.type !== 'string' || !isFiniteNumber(o.lr) || !isFiniteNumber(o.initialLr) || !isCount(o.steps)) {
    bad('optimizer must have type, lr, initialLr and steps');
  }
  if (!Array.isArray(o.parameters) || !o.parameters.every((n: unknown) => typeof n === 'string')) bad('optimizer.parameters must be a list of names');
  if (!Array.isArray(o.buffers) || o.buffers.length !== o.parameters.length || !o.buffers.every((b: unknown) => Array.isArray(b) && b.every((n) => typeof n === 'string'))) {
    bad('optimizer.buffers must be one list of names per parameter');
  }
  if (m.scheduler !== null && (typeof m.scheduler?.type !== 'string' || !isCount(m.scheduler?.lastStep))) bad('scheduler must be null or have type and lastStep');
  if (!Array.isArray(m.history) || !m.history.every((r: any) => r && isCount(r.epoch) && isCount(r.iteration))) bad('history must be a list of epoch records');
  if (typeof m.settings !== 'object' || m.settings === null) bad('settings must be an object');
  const p = m.position;
  if (p !== null) {
    if (typeof p !== 'object' || !isCount(p.epoch) || !isCount(p.step) || !isCount(p.iteration) || !isCount(p.seen) || !isFiniteNumber(p.seconds)) {
      bad('position must have epoch, step, iteration, seen and seconds');
    }
    if (!Array.isArray(p.stats) || p.stats.length !== 2 || !p.stats.every(isFiniteNumber)) bad('position.stats must be two numbers');
    checkGenerator(p.generatorState, 'position.generatorState', bad);
    if (p.stoppedGeneratorState !== undefined) checkGenerator(p.stoppedGeneratorState, 'position.stoppedGeneratorState', bad);
    if (p.epoch !== m.epoch) bad(`position.epoch ${p.epoch} does not match epoch ${m.epoch}`);
  }
}

/** Reads the checkpoint at `location` (a run folder, its checkpoints/ folder, or a checkpoint folder). */
export function loadCheckpoint(location: string): Checkpoint {
  const { dir, checkpointsDir } = findCheckpoint(location);
  const manifestFile = path.join(dir, CHECKPOINT_FILE);
  const manifest = readJsonFile(manifestFile, 'checkpoint manifest');
  checkManifest(manifest, manifestFile);
  const model = readModelManifest(path.join(dir, MODEL_FILE));
  const weights = readSafetensors(path.join(dir, WEIGHTS_FILE)).tensors;
  const optimizerFile = path.join(dir, OPTIMIZER_FILE);
  const tensors = readSafetensors(optimizerFile).tensors;
  const o = manifest.optimizer;
  const buffers = o.buffers.map((keys, i) =>
    Object.fromEntries(
      keys.map((key) => {
        const name = `${o.parameters[i]}.${key}`;
        if (!(name in tensors)) throw new Error(`${optimizerFile}: no tensor ${name} (the ${key} state of parameter ${o.parameters[i]})`);
        return [key, tensors[name].data];
      }),
    ),
  );
  return {
    dir,
    checkpointsDir,
    manifest,
    model,
    weights,
    optimizer: { type: o.type, lr: o.lr, initialLr: o.initialLr, steps: o.steps, buffers },
  };
}

/**
 * Puts a loaded checkpoint's state into freshly built training objects (same architecture and
 * optimizer type as when it was saved). Shapes and types are checked; nothing is half-applied to
 * the model when its weights do not match.
 */
export function restoreCheckpoint(
  checkpoint: Checkpoint,
  target: { model: Module; optimizer: Optimizer; scheduler?: LRScheduler | null; generator: Generator },
): void {
  if (typeof checkpoint?.manifest !== 'object' || checkpoint.manifest === null) fail('a Checkpoint (from loadCheckpoint)', 'checkpoint', checkpoint);
  expectObject(target, 'target');
  expectModule(target.model, 'target.model');
  if (typeof target.optimizer?.loadStateDict !== 'function') fail('an Optimizer', 'target.optimizer', target.optimizer);
  if (typeof target.generator?.setState !== 'function') fail('a Generator', 'target.generator', target.generator);
  const { manifest } = checkpoint;
  const params = target.model.namedParameters();
  const names = params.map(([n]) => n);
  if (names.join('\n') !== manifest.optimizer.parameters.join('\n')) {
    throw new Error(`${checkpoint.dir}: the optimizer state is for parameters [${manifest.optimizer.parameters.join(', ')}], the model has [${names.join(', ')}]`);
  }
  checkpoint.optimizer.buffers.forEach((entry, i) => {
    for (const [key, values] of Object.entries(entry)) {
      if (values && values.length !== params[i][1].size) {
        throw new RangeError(`Expected ${params[i][1].size} values for the ${key} state of ${names[i]} but ${checkpoint.dir} holds ${values.length}`);
      }
    }
  });
  loadStateDict(target.model, checkpoint.weights);
  target.optimizer.loadStateDict(checkpoint.optimizer);
  if (manifest.scheduler && target.scheduler) target.scheduler.loadStateDict(manifest.scheduler);
  else if (manifest.scheduler || target.scheduler) {
    throw new TypeError(`Expected ${target.scheduler ? 'a scheduler state' : 'no scheduler state'} in ${checkpoint.dir} but ${manifest.scheduler ? 'found one' : 'found none'}`);
  }
  target.generator.setState(manifest.generator);
}
