/**
 * Saving and loading models: model.json (architecture, preprocessing, anything extra) beside
 * weights.safetensors (parameters and buffers under PyTorch's state_dict names). Both are written
 * atomically. loadModel(dir) rebuilds the architecture and fills in the weights.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describedLayer, type LayerConfig, type Module } from '../nn/module';
import { buildModule } from '../nn/registry';
import { writeJsonAtomic } from './files';
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
  const out: Record<string, NamedArray> = {};
  for (const [name, t] of Object.entries(model.stateDict())) out[name] = { shape: [...t.shape], data: t.toArray() as Float32Array };
  return out;
}

/** Copies `state` into the model's parameters and buffers; names and shapes must match exactly (Module.loadStateDict). */
export function loadStateDict(model: Module, state: Record<string, NamedArray>): void {
  model.loadStateDict(state);
}

export function saveModel(dir: string, model: Module, extra: Record<string, unknown> = {}): void {
  fs.mkdirSync(dir, { recursive: true });
  writeSafetensors(path.join(dir, WEIGHTS_FILE), stateDict(model), { format: 'pt', producer: 'napinet' });
  const manifest: ModelManifest = { format: 'napinet-model', version: 1, architecture: describedLayer(model, 'config').config!(), ...extra };
  writeJsonAtomic(path.join(dir, MODEL_FILE), manifest);
}

export function loadModel(dir: string): { model: Module; manifest: ModelManifest } {
  const manifestFile = path.join(dir, MODEL_FILE);
  if (!fs.existsSync(manifestFile)) throw new Error(`${dir} holds no ${MODEL_FILE}: not a saved napinet model`);
  let manifest: ModelManifest;
  try {
    manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8')) as ModelManifest;
  } catch (error) {
    throw new Error(`${manifestFile} is not valid JSON (${(error as Error).message})`);
  }
  if (typeof manifest !== 'object' || manifest === null || manifest.format !== 'napinet-model') throw new Error(`${manifestFile}: not a napinet model manifest`);
  if (typeof manifest.architecture !== 'object' || manifest.architecture === null) throw new Error(`${manifestFile}: no architecture object`);
  // Read the weights first: a truncated or corrupt weights file is reported before any building.
  const weights = readSafetensors(path.join(dir, WEIGHTS_FILE)).tensors;
  let model: Module;
  try {
    model = buildModule(manifest.architecture);
  } catch (error) {
    throw new Error(`${manifestFile}: cannot rebuild the architecture: ${(error as Error).message}`);
  }
  try {
    loadStateDict(model, weights);
  } catch (error) {
    throw new Error(`${path.join(dir, WEIGHTS_FILE)}: ${(error as Error).message}`);
  }
  return { model, manifest };
}
