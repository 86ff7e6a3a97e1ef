/**
 * Saving and loading models: one format, one pair of functions.
 *
 *   saveModel('out/mlp', model, { standardizer, inputShape: [4] });
 *   const { model, standardizer, inputShape } = loadModel('out/mlp');
 *
 * A model folder holds
 *   model.json           {"format": "napinet-model", "version": 1,
 *                         "architecture": {type, …constructor arguments; containers their children},
 *                         "preprocessing": {"standardize": {mean, std} | null, "inputShape": [...] | null},
 *                         …anything else the caller passed (settings, …)}
 *   weights.safetensors  parameters and persistent buffers under PyTorch's state_dict names
 * both written atomically. The architecture is configOf(model) (lib/nn/module.ts): built-in layers,
 * Sequential, Concat, ModuleList, ModuleDict and classes registered with registerModule
 * (lib/nn/registry.ts), which loadModel rebuilds before filling in the weights. Every reader checks
 * what the files declare against the bytes present and the input budget (lib/budget.ts) before
 * building. Tests: test/model_io.test.ts, test/hostile_input.test.ts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { checkBudget, readJsonFile } from '../budget';
import { Standardizer } from '../data/dataset';
import type { DeviceSpec } from '../device';
import { configOf, describedLayer, type LayerConfig, type Module } from '../nn/module';
import { buildModule, checkArchitecture } from '../nn/registry';
import { Sequential } from '../nn/sequential';
import { describe, expectModule, expectObject, fail } from '../validate';
import { makeFolder, writeJsonAtomic } from './files';
import { type NamedArray, readSafetensors, writeSafetensors } from './safetensors';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.safetensors';
/** Where a run folder keeps its checkpoints, and the file naming the newest (lib/io/checkpoint.ts). */
export const CHECKPOINTS_DIR = 'checkpoints';
export const LATEST_FILE = 'latest.json';

/** How inputs are prepared before the model sees them, as model.json stores it. */
export interface Preprocessing {
  /** Per-channel (dimension 0 of a sample) standardisation (x − mean) / std. */
  standardize?: { mean: number[]; std: number[] } | null;
  /** One sample's shape, without the batch dimension ([C, H, W], [F], …). */
  inputShape?: number[] | null;
}

/** The contents of model.json: the format, the architecture, the preprocessing and whatever else was saved. */
export interface ModelManifest {
  format: 'napinet-model';
  version: 1;
  /**
   * The module tree (configOf(model)). null only in a checkpoint of a model whose class is not
   * registered: such a model is rebuilt in code and its weights loaded with restoreCheckpoint.
   */
  architecture: LayerConfig | null;
  preprocessing?: Preprocessing;
  /** Anything else the caller saved (training settings, …). */
  [key: string]: unknown;
}

/** Options of saveModel(): the preprocessing to store with the model, and any extra JSON fields. */
export interface SaveModelOptions {
  /** The standardisation the model's inputs need (a Standardizer, or its {mean, std}). */
  standardizer?: Standardizer | { mean: number[]; std: number[] } | null;
  /** One sample's shape, without the batch dimension. */
  inputShape?: readonly number[] | null;
  /** The manifest's preprocessing field itself (what loadModel returns in manifest.preprocessing). */
  preprocessing?: Preprocessing;
  /** Anything else (JSON values): stored in model.json as given. */
  [key: string]: unknown;
}

/** What loadModel returns: the model, its preprocessing, and model.json as read. */
export interface LoadedModel {
  model: Module;
  /** The saved standardisation, or null. */
  standardizer: Standardizer | null;
  /** One sample's shape as saved (or as options.inputShape gave it), or null. */
  inputShape: number[] | null;
  manifest: ModelManifest;
  /** The folder read (a checkpoint's, when `dir` was a run folder without a final model). */
  dir: string;
}

/** The model's parameters and persistent buffers as host arrays, by state_dict name. */
export function stateDict(model: Module): Record<string, NamedArray> {
  expectModule(model, 'model');
  const out: Record<string, NamedArray> = {};
  for (const [name, t] of Object.entries(model.stateDict())) out[name] = { shape: [...t.shape], data: t.toArray() as Float32Array };
  return out;
}

/** Copies `state` into the model's parameters and buffers; names and shapes must match exactly (Module.loadStateDict). */
export function loadStateDict(model: Module, state: Record<string, NamedArray>): void {
  expectModule(model, 'model');
  expectObject(state, 'state');
  model.loadStateDict(state);
}

/**
 * Writes `model` into the folder `dir` (created if needed): model.json and weights.safetensors.
 * Any model whose modules loadModel can rebuild: built-in layers and containers, and classes
 * registered with registerModule (an unregistered class is refused here, saying how to register
 * it). options.standardizer and options.inputShape become model.json's preprocessing; other keys
 * are stored as given.
 */
export function saveModel(dir: string, model: Module, options: SaveModelOptions = {}): void {
  writeModelFolder(dir, model, options, { architecture: 'required' });
}

/**
 * saveModel's body; a checkpoint (lib/io/checkpoint.ts) passes architecture 'optional' so that a
 * model that cannot be described (an unregistered class) is still checkpointed, its architecture
 * null: the run that resumes it builds the model in code.
 * @internal
 */
export function writeModelFolder(dir: string, model: Module, options: SaveModelOptions, how: { architecture: 'required' | 'optional' }): void {
  if (typeof dir !== 'string' || dir === '') fail('a folder path', 'dir', dir);
  expectModule(model, 'model');
  expectObject(options, 'options');
  const { standardizer, inputShape, preprocessing, ...extra } = options;
  for (const reserved of ['format', 'version', 'architecture']) {
    if (reserved in extra) throw new TypeError(`Expected no options.${reserved} for saveModel (model.json's own field) but received ${describe(extra[reserved])}`);
  }
  let architecture: LayerConfig | null;
  try {
    architecture = configOf(model);
    checkJsonValues(architecture, 'architecture');
    checkArchitecture(architecture, 'saveModel', { path: 'architecture' });
  } catch (error) {
    if (how.architecture === 'required') throw error;
    architecture = null;
  }
  const manifest: ModelManifest = { format: 'napinet-model', version: 1, architecture, ...extra };
  const pre = preprocessingOf(standardizer, inputShape, preprocessing);
  if (pre) manifest.preprocessing = pre;
  checkJsonValues(extra, 'options');
  makeFolder(dir);
  writeSafetensors(path.join(dir, WEIGHTS_FILE), stateDict(model), { format: 'pt', producer: 'napinet' });
  writeJsonAtomic(path.join(dir, MODEL_FILE), manifest);
}

/** model.json's preprocessing from saveModel's options, checked as loadModel will check it. */
function preprocessingOf(standardizer: SaveModelOptions['standardizer'], inputShape: SaveModelOptions['inputShape'], given: Preprocessing | undefined): Preprocessing | undefined {
  if (given !== undefined && (standardizer !== undefined || inputShape !== undefined)) {
    throw new TypeError('Expected either options.preprocessing or options.standardizer / options.inputShape for saveModel but received both');
  }
  if (given !== undefined) expectObject(given, 'options.preprocessing');
  const pre: Preprocessing = given !== undefined ? { ...given } : {};
  if (standardizer != null) {
    const s = standardizer instanceof Standardizer ? standardizer.toJSON() : standardizer;
    pre.standardize = { mean: [...s.mean], std: [...s.std] };
  } else if (standardizer === null) pre.standardize = null;
  if (inputShape !== undefined) pre.inputShape = inputShape === null ? null : [...inputShape];
  if (Object.keys(pre).length === 0) return undefined;
  // The budget is a reader's check: a folder made for another machine may declare a larger input.
  const checked = readPreprocessing(pre, '', given !== undefined ? 'options.preprocessing' : 'options', { budget: false });
  checkStandardizerFits(checked.standardizer, checked.inputShape, '', 'options.standardizer');
  return pre;
}

/** Throws unless `value` is made of JSON values only (what model.json can hold without loss). */
function checkJsonValues(value: unknown, name: string, depth = 0): void {
  if (value === null || typeof value === 'string' || typeof value === 'boolean') return;
  if (typeof value === 'number') {
    if (!Number.isFinite(value)) fail('a finite number (JSON has no NaN or Infinity)', name, value);
    return;
  }
  if (depth > 32) fail('JSON values nested at most 32 deep', name, value);
  if (Array.isArray(value)) return value.forEach((v, i) => checkJsonValues(v, `${name}[${i}]`, depth + 1));
  const proto = typeof value === 'object' ? Object.getPrototypeOf(value) : undefined;
  if (proto !== Object.prototype && proto !== null) fail('JSON values (numbers, strings, booleans, null, arrays, plain objects)', name, value);
  for (const [k, v] of Object.entries(value as object)) {
    if (v !== undefined) checkJsonValues(v, `${name}.${k}`, depth + 1);
  }
}

/**
 * The standardisation and input shape of a manifest's preprocessing, checked: {mean, std} of one
 * finite number per channel each (std > 0), a shape of positive integers whose one sample fits the
 * input budget (unless options.budget is false). `prefix` starts error messages (the file), `name`
 * names the field.
 */
export function readPreprocessing(pre: unknown, prefix: string, name = 'preprocessing', options: { budget?: boolean } = {}): { standardizer: Standardizer | null; inputShape: number[] | null } {
  if (pre === undefined || pre === null) return { standardizer: null, inputShape: null };
  if (typeof pre !== 'object' || Array.isArray(pre)) throw new TypeError(`${prefix}Expected an object for ${name} but received ${describe(pre)}`);
  const { standardize, inputShape } = pre as { standardize?: unknown; inputShape?: unknown };
  let shape: number[] | null = null;
  if (inputShape !== undefined && inputShape !== null) {
    if (!Array.isArray(inputShape) || inputShape.length === 0 || !inputShape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
      throw new TypeError(`${prefix}Expected a shape of positive integers for ${name}.inputShape but received ${describe(inputShape)}`);
    }
    shape = inputShape as number[];
    if (options.budget ?? true) checkBudget(prefix.replace(/: $/, '') || 'input', `an input of shape [${shape.join(', ')}]`, 4 * shape.reduce((a, b) => a * b, 1));
  }
  const standardizer = standardize === undefined || standardize === null ? null : readStandardize(standardize, prefix, `${name}.standardize`);
  return { standardizer, inputShape: shape };
}

/** A Standardizer from {mean, std}: one finite number per channel each, std > 0 (`name` for the error). */
export function readStandardize(value: unknown, prefix: string, name: string): Standardizer {
  const s = value as { mean?: unknown; std?: unknown };
  const channels = Array.isArray(s?.mean) ? s.mean.length : 1;
  const numbers = (v: unknown, positive: boolean) =>
    Array.isArray(v) && v.length === channels && channels > 0 && v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0));
  if (typeof s !== 'object' || s === null || !numbers(s.mean, false) || !numbers(s.std, true)) {
    throw new TypeError(`${prefix}Expected {mean, std} with ${channels} finite numbers each (std > 0) for ${name} but received ${describe(value)}`);
  }
  return new Standardizer([...(s.mean as number[])], [...(s.std as number[])]);
}

/** Throws unless the standardizer has one mean and std per channel (the input shape's first dimension). */
export function checkStandardizerFits(standardizer: Standardizer | null, inputShape: readonly number[] | null, prefix: string, name: string): void {
  if (standardizer && inputShape && standardizer.mean.length !== inputShape[0]) {
    throw new RangeError(
      `${prefix}Expected a standardizer for ${inputShape[0]} channels (the input shape's first dimension) for ${name} but received one for ${standardizer.mean.length}`,
    );
  }
}

/** Reads and checks a model.json (format, version, the architecture tree's shape) without building anything. */
export function readModelManifest(file: string): ModelManifest {
  const manifest = readJsonFile(file, 'model manifest') as ModelManifest;
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest) || manifest.format !== 'napinet-model') {
    throw new Error(`${file}: not a napinet model manifest (expected "format": "napinet-model")`);
  }
  if (manifest.version !== 1) throw new Error(`${file}: model version ${describe(manifest.version)} is not supported (this napinet reads version 1)`);
  // Types are checked when building: a checkpoint's model may be one the caller builds in code.
  if (manifest.architecture !== null) checkArchitecture(manifest.architecture, file, { path: 'architecture', knownTypes: false });
  return manifest;
}

/**
 * Builds `manifest`'s architecture and fills in `weights`. The values the built-in layers declare
 * must be backed by the weights file (no more values than it holds) and fit the input budget (a
 * value and a gradient each) before anything is built; registered modules' values are counted
 * once built, against the same limits.
 */
export function buildModel(manifest: ModelManifest, manifestFile: string, weights: Record<string, NamedArray>, weightsFile: string): Module {
  if (manifest.architecture === null) {
    throw new Error(
      `${manifestFile} holds no architecture: the model's class was not registered when it was saved (a checkpoint). ` +
        'Build the model in code and load the weights with restoreCheckpoint() or loadStateDict(), or registerModule() its class before saving',
    );
  }
  const { values, customTypes } = checkArchitecture(manifest.architecture, manifestFile, { path: 'architecture' });
  const held = Object.values(weights).reduce((sum, t) => sum + t.data.length, 0);
  const checkValues = (count: number, what: string) => {
    const shown = Number.isFinite(count) ? count.toLocaleString('en-US') : 'more than 10^308';
    if (count > held) throw new Error(`${manifestFile}: ${what} ${shown} parameter and buffer values but ${weightsFile} holds ${held.toLocaleString('en-US')}`);
    checkBudget(manifestFile, `building the architecture's ${shown} values (value and gradient)`, 8 * count);
  };
  checkValues(values, 'the architecture declares');
  let model: Module;
  try {
    model = buildModule(manifest.architecture, { path: 'architecture' });
  } catch (error) {
    throw new Error(`${manifestFile}: cannot rebuild the architecture: ${(error as Error).message}`);
  }
  try {
    if (customTypes.length) checkValues(Object.values(model.stateDict()).reduce((n, t) => n + t.size, 0), `the architecture (with ${customTypes.join(', ')}) built`);
    loadStateDict(model, weights);
  } catch (error) {
    model.dispose();
    throw new Error(`${(error as Error).message.startsWith(manifestFile) ? '' : `${weightsFile}: `}${(error as Error).message}`);
  }
  return model;
}

/**
 * The model folder `dir` means: itself when it holds model.json, else, for a run folder with
 * checkpoints and no final model (an interrupted run), its latest checkpoint's folder.
 */
export function modelFolder(dir: string): string {
  if (typeof dir !== 'string' || dir === '') fail('a model folder path', 'dir', dir);
  if (!fs.existsSync(dir)) throw new Error(`model folder ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is a file; expected a model folder holding ${MODEL_FILE} and ${WEIGHTS_FILE}`);
  if (fs.existsSync(path.join(dir, MODEL_FILE))) return dir;
  const checkpointsDir = path.join(dir, CHECKPOINTS_DIR);
  if (!fs.existsSync(path.join(checkpointsDir, LATEST_FILE))) throw new Error(`${dir} holds no ${MODEL_FILE}: not a saved napinet model`);
  return latestCheckpoint(checkpointsDir);
}

/** The folder of the newest complete checkpoint in `checkpointsDir`, as its latest.json names it. */
export function latestCheckpoint(checkpointsDir: string): string {
  const pointerFile = path.join(checkpointsDir, LATEST_FILE);
  const pointer = readJsonFile(pointerFile, 'checkpoint pointer') as { checkpoint?: unknown };
  if (typeof pointer?.checkpoint !== 'string' || !/^epoch-\d{4,}(-step-\d{4,})?$/.test(pointer.checkpoint)) {
    throw new Error(`${pointerFile}: expected {"checkpoint": "epoch-NNNN"} but found ${JSON.stringify(pointer).slice(0, 100)}`);
  }
  return path.join(checkpointsDir, pointer.checkpoint);
}

/** Options of loadModel(): the device, and the input shape when model.json has none. */
export interface LoadModelOptions {
  /** Where the model goes ('cpu' default; 'cuda'; 'auto'). */
  device?: DeviceSpec;
  /** One sample's shape, for a model saved without one (or to override it). */
  inputShape?: readonly number[];
}

/**
 * Loads a model folder written by saveModel (or a checkpoint folder, or a run folder whose run
 * stopped before its final model: its latest checkpoint): rebuilds the architecture, fills in the
 * weights, and returns them with the saved preprocessing. Custom classes must be registered
 * (registerModule) first; the error for one that is not says so.
 */
export function loadModel(dir: string, options: LoadModelOptions = {}): LoadedModel {
  expectObject(options, 'options');
  const folder = modelFolder(dir);
  const manifestFile = path.join(folder, MODEL_FILE);
  const manifest = readModelManifest(manifestFile);
  // Read the weights first: a truncated or corrupt weights file is reported before any building.
  const weightsFile = path.join(folder, WEIGHTS_FILE);
  const weights = readSafetensors(weightsFile).tensors;
  const pre = readPreprocessing(manifest.preprocessing, `${manifestFile}: `);
  const given = options.inputShape !== undefined ? readPreprocessing({ inputShape: options.inputShape }, '', 'options').inputShape : null;
  const model = buildModel(manifest, manifestFile, weights, weightsFile);
  try {
    const inputShape = given ?? pre.inputShape;
    if (inputShape) checkInputFits(model, inputShape, given ? 'options.inputShape' : 'preprocessing.inputShape', manifestFile);
    checkStandardizerFits(pre.standardizer, inputShape, `${manifestFile}: `, 'preprocessing.standardize');
    if (options.device !== undefined) model.to(options.device);
    return { model, standardizer: pre.standardizer, inputShape, manifest, dir: folder };
  } catch (error) {
    model.dispose();
    throw error;
  }
}

/**
 * Checks, by shape inference and before anything is allocated, that one sample of `shape` fits
 * the network (each layer's outputShape, where the model has them) and that its forward pass (the
 * input and every layer's output) fits the input budget. Returns the output shape for a batch of
 * one, or null for a model that cannot tell it without running.
 */
export function checkInputFits(network: Module, shape: readonly number[], name: string, source: string): number[] | null {
  const layers = network instanceof Sequential ? network.layers : [network];
  let current = [1, ...shape];
  const size = (s: readonly number[]) => s.reduce((a, b) => a * b, 1);
  let bytes = 4 * size(current);
  for (const [i, layer] of layers.entries()) {
    if (typeof layer.outputShape !== 'function') return null;
    try {
      current = describedLayer(layer, 'outputShape').outputShape!(current);
    } catch (error) {
      const where = network instanceof Sequential ? ` at layer ${i} (${layer.constructor.name})` : '';
      throw new Error(`${source}: input shape [${shape.join(', ')}] does not fit the network${where} (${name}): ${(error as Error).message}`);
    }
    bytes += 4 * size(current);
  }
  checkBudget(source, `one input of shape [${shape.join(', ')}] through the network`, bytes);
  return current;
}
