/**
 * Saving and loading models: model.json (architecture, preprocessing, anything extra) beside
 * weights.safetensors (parameters and buffers under PyTorch's state_dict names). Both are written
 * atomically. loadModel(dir) rebuilds the architecture and fills in the weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describedLayer, type LayerConfig, type Module } from '../nn/module';
import { buildModule } from '../nn/registry';
import { describe, expectModule, expectObject, fail } from '../validate';
import { checkArchitecture } from '../nn/architecture';
import { checkBudget, readJsonFile } from '../budget';
import { makeFolder, writeJsonAtomic } from './files';
import { type NamedArray, readSafetensors, writeSafetensors } from './safetensors';

export const MODEL_FILE = 'model.json';
export const WEIGHTS_FILE = 'weights.safetensors';

export interface ModelManifest {
  format: 'napinet-model';
  version: 1;
  architecture: LayerConfig;
  /** Free-form: preprocessing (standardisation), training settings, … */
  [key: string]: unknown;
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

export function saveModel(dir: string, model: Module, extra: Record<string, unknown> = {}): void {
  if (typeof dir !== 'string' || dir === '') fail('a folder path', 'dir', dir);
  expectModule(model, 'model');
  expectObject(extra, 'extra');
  makeFolder(dir);
  writeSafetensors(path.join(dir, WEIGHTS_FILE), stateDict(model), { format: 'pt', producer: 'napinet' });
  const manifest: ModelManifest = { format: 'napinet-model', version: 1, architecture: describedLayer(model, 'config').config!(), ...extra };
  writeJsonAtomic(path.join(dir, MODEL_FILE), manifest);
}

/** Reads and checks a model.json (format, version, architecture tree) without building anything. */
export function readModelManifest(file: string): ModelManifest {
  const manifest = readJsonFile(file, 'model manifest') as ModelManifest;
  if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest) || manifest.format !== 'napinet-model') {
    throw new Error(`${file}: not a napinet model manifest (expected "format": "napinet-model")`);
  }
  if (manifest.version !== 1) throw new Error(`${file}: model version ${describe(manifest.version)} is not supported (this napinet reads version 1)`);
  checkArchitecture(manifest.architecture, file);
  return manifest;
}

/**
 * Builds `manifest`'s architecture and fills in `weights`. The parameters the architecture
 * declares must be backed by the weights file (no more values than it holds) and fit the input
 * budget (a value and a gradient each) before anything is built.
 */
export function buildModel(manifest: ModelManifest, manifestFile: string, weights: Record<string, NamedArray>, weightsFile: string): Module {
  const { values } = checkArchitecture(manifest.architecture, manifestFile);
  const held = Object.values(weights).reduce((sum, t) => sum + t.data.length, 0);
  const count = Number.isFinite(values) ? values.toLocaleString('en-US') : 'more than 10^308';
  if (values > held) {
    throw new Error(`${manifestFile}: the architecture declares ${count} parameter and buffer values but ${weightsFile} holds ${held.toLocaleString('en-US')}`);
  }
  checkBudget(manifestFile, `building the architecture's ${count} values (value and gradient)`, 8 * values);
  let model: Module;
  try {
    model = buildModule(manifest.architecture);
  } catch (error) {
    throw new Error(`${manifestFile}: cannot rebuild the architecture: ${(error as Error).message}`);
  }
  try {
    loadStateDict(model, weights);
  } catch (error) {
    model.dispose();
    throw new Error(`${weightsFile}: ${(error as Error).message}`);
  }
  return model;
}

export function loadModel(dir: string): { model: Module; manifest: ModelManifest } {
  if (typeof dir !== 'string' || dir === '') fail('a model folder path', 'dir', dir);
  if (!fs.existsSync(dir)) throw new Error(`model folder ${dir} does not exist`);
  if (!fs.statSync(dir).isDirectory()) throw new Error(`${dir} is a file; expected a model folder holding ${MODEL_FILE} and ${WEIGHTS_FILE}`);
  const manifestFile = path.join(dir, MODEL_FILE);
  if (!fs.existsSync(manifestFile)) throw new Error(`${dir} holds no ${MODEL_FILE}: not a saved napinet model`);
  const manifest = readModelManifest(manifestFile);
  // Read the weights first: a truncated or corrupt weights file is reported before any building.
  const weightsFile = path.join(dir, WEIGHTS_FILE);
  const weights = readSafetensors(weightsFile).tensors;
  return { model: buildModel(manifest, manifestFile, weights, weightsFile), manifest };
}
