// Saving and loading any model (lib/io/model_io.ts, lib/nn/registry.ts): saveModel / loadModel
// round-trip built-in layers, Sequential, Concat, ModuleList, ModuleDict and custom Modules
// registered with registerModule (constructor from an options object, or static fromConfig for
// positional arguments), with the preprocessing (Standardizer); outputs after loading are
// bit-identical (same weights, same kernels: tolerance 0). An unregistered class is refused when
// saving and when loading, each saying how to register it; buildModule names the path of bad
// configs; a custom module saved by one process loads in another (the built package, dist/);
// checkpoints keep working for any model (an unregistered one is checkpointed with
// architecture null and resumed by building it in code).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { nodeCommand } from './helpers/node';
import {
  Generator, load, loadCheckpoint, loadModel, nn, optim, registerModule, restoreCheckpoint, saveCheckpoint, saveModel, Standardizer, type Tensor, tensor,
} from '../lib/index';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-model-io-'));

/** A residual MLP written PyTorch's way: an options-object constructor, forward() of tensor ops. */
class ResidualMLP extends nn.Module {
  readonly options: { inputs: number; hidden: number; outputs: number; blocks: number };
  stem: nn.Linear;
  blocks: nn.ModuleList;
  head: nn.Linear;

  constructor(options: { inputs: number; hidden: number; outputs: number; blocks: number }) {
    super();
    this.options = options;
    this.stem = new nn.Linear(options.inputs, options.hidden);
    this.blocks = new nn.ModuleList(Array.from({ length: options.blocks }, () => new nn.Sequential(new nn.Linear(options.hidden, options.hidden), new nn.Tanh())));
    this.head = new nn.Linear(options.hidden, options.outputs);
  }

  override config() {
    return this.options;
  }

  forward(x: Tensor): Tensor {
    let h = this.stem.forward(x).relu();
    for (const block of this.blocks) h = h.add(block.forward(h));
    return this.head.forward(h);
  }
}

/** A module with positional constructor arguments: rebuilt by its static fromConfig. */
class Scaled extends nn.Module {
  weight: nn.Parameter;

  constructor(
    readonly features: number,
    readonly factor: number,
  ) {
    super();
    this.weight = new nn.Parameter(tensor(Array.from({ length: features }, (_, i) => 1 + i / 10)));
  }

  static fromConfig(c: Record<string, unknown>): Scaled {
    return new Scaled(c.features as number, c.factor as number);
  }

  override config() {
    return { features: this.features, factor: this.factor };
  }

  forward(x: Tensor): Tensor {
    return x.mul(this.weight).mul(this.factor);
  }
}

/** A module whose constructor takes no arguments needs no config(). */
class Halve extends nn.Module {
  forward(x: Tensor): Tensor {
    return x.mul(0.5);
  }
}

/** A classifier over [1, H, W] images written with forward() alone (no outputShape()). */
class FlatClassifier extends nn.Module {
  fc: nn.Linear;
  constructor(readonly sizes: { pixels: number; classes: number }) {
    super();
    this.fc = new nn.Linear(sizes.pixels, sizes.classes);
  }
  override config() {
    return this.sizes;
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(x.flatten(1));
  }
}

class Unregistered extends nn.Module {
  lin = new nn.Linear(2, 2);
  forward(x: Tensor): Tensor {
    return this.lin.forward(x);
  }
}

registerModule(ResidualMLP);
registerModule(Scaled);
registerModule(Halve);
registerModule(FlatClassifier);

function same(a: Tensor, b: Tensor): void {
  expect(b.shape).toEqual(a.shape);
  expect(Buffer.from((b.toArray() as Float32Array).buffer).equals(Buffer.from((a.toArray() as Float32Array).buffer))).toBe(true);
}

function randomInput(shape: number[], seed: number): Tensor {
  return nn.init.normal(tensor(new Float32Array(shape.reduce((a, b) => a * b, 1)), shape), 0, 1, new Generator(seed));
}

describe('saveModel / loadModel', () => {
  test('a registered custom Module (options constructor, ModuleList of Sequentials) and its Standardizer round-trip', () => {
    const dir = tmp();
    const model = new ResidualMLP({ inputs: 4, hidden: 8, outputs: 3, blocks: 2 });
    const standardizer = new Standardizer([1, 2, 3, 4], [0.5, 1, 2, 4]);
    saveModel(dir, model, { standardizer, inputShape: [4], settings: { epochs: 3 } });
    const manifest = JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8'));
    expect(manifest.architecture).toEqual({ type: 'ResidualMLP', inputs: 4, hidden: 8, outputs: 3, blocks: 2 });
    expect(manifest.preprocessing).toEqual({ standardize: { mean: [1, 2, 3, 4], std: [0.5, 1, 2, 4] }, inputShape: [4] });
    expect(manifest.settings).toEqual({ epochs: 3 });
    const loaded = loadModel(dir);
    expect(loaded.model).toBeInstanceOf(ResidualMLP);
    // A custom module prints as PyTorch's repr, its children nested (Module.toString).
    expect(String(loaded.model)).toBe(String(model));
    expect(String(model)).toMatch(/^ResidualMLP\(\n  \(stem\): Linear\(in_features=4, out_features=8, bias=True\)\n  \(blocks\): ModuleList\(\n    \(0\): Sequential\(\n      \(0\): Linear/);
    expect(loaded.standardizer).toBeInstanceOf(Standardizer);
    expect(loaded.standardizer?.toJSON()).toEqual(standardizer.toJSON());
    expect(loaded.inputShape).toEqual([4]);
    expect(Object.keys(loaded.model.stateDict())).toEqual(Object.keys(model.stateDict()));
    const x = randomInput([5, 4], 1);
    same(model.eval().forward(x), loaded.model.eval().forward(x));
  });

  test('positional constructors (static fromConfig), constructors without arguments, and custom modules inside built-in containers', () => {
    const dir = tmp();
    const model = new nn.Sequential(
      new nn.Linear(3, 6),
      new Scaled(6, 2.5),
      new Halve(),
      new nn.Concat(new nn.Sequential(new nn.Linear(6, 2), new nn.ReLU()), new ResidualMLP({ inputs: 6, hidden: 4, outputs: 3, blocks: 1 })),
    );
    saveModel(dir, model);
    const { model: back } = loadModel(dir);
    expect((back as nn.Sequential).layers.map((l) => l.constructor.name)).toEqual(['Linear', 'Scaled', 'Halve', 'Concat']);
    const x = randomInput([4, 3], 2);
    same(model.forward(x), back.forward(x));
  });

  test('every built-in layer, ModuleList and ModuleDict round-trip (config and weights)', () => {
    const convs = new nn.Sequential(
      new nn.Conv2d(2, 4, 3, { padding: 1, stride: [1, 2] }),
      new nn.BatchNorm2d(4, { momentum: 0.2 }),
      new nn.LeakyReLU(0.2),
      new nn.MaxPool2d(2),
      new nn.AvgPool2d(2, { stride: 1, padding: 1, countIncludePad: false }),
      new nn.Flatten(),
      new nn.Dropout(0.3),
      new nn.ELU(0.5),
      new nn.GELU('tanh'),
      new nn.Softplus(2, 10),
      new nn.Sigmoid(),
      new nn.Tanh(),
    );
    const seq1d = new nn.Sequential(
      new nn.Conv1d(3, 5, 3, { bias: false }),
      new nn.BatchNorm1d(5, { affine: false }),
      new nn.MaxPool1d(2),
      new nn.AvgPool1d(2, { countIncludePad: false }),
      new nn.Flatten(),
      new nn.Linear(5, 4),
      new nn.LogSoftmax(1),
      new nn.Softmax(-1),
    );
    for (const model of [convs, seq1d, new nn.ModuleList([new nn.Linear(2, 3), convs]), new nn.ModuleDict({ a: new nn.Linear(2, 3), b: new nn.ReLU() })]) {
      const dir = tmp();
      saveModel(dir, model);
      const { model: back } = loadModel(dir);
      expect(back.constructor).toBe(model.constructor);
      expect(nn.configOf(back)).toEqual(nn.configOf(model));
      const a = model.stateDict();
      const b = back.stateDict();
      expect(Object.keys(b)).toEqual(Object.keys(a));
      for (const k of Object.keys(a)) same(a[k], b[k]);
    }
    const x = randomInput([2, 3, 8], 3);
    const back = loadModel((() => {
      const d = tmp();
      saveModel(d, seq1d);
      return d;
    })()).model;
    same(seq1d.eval().forward(x), back.eval().forward(x));
  });

  test('load() (the Classifier) and loadModel read the same preprocessing: a standardizer saved by saveModel is not lost', () => {
    const dir = tmp();
    const net = new nn.Sequential(new nn.Flatten(), new nn.Linear(4, 3));
    saveModel(dir, net, { standardizer: new Standardizer([10], [2]), inputShape: [1, 2, 2] });
    const classifier = load(dir);
    expect(classifier.standardizer?.toJSON()).toEqual({ mean: [10], std: [2] });
    expect(loadModel(dir).standardizer?.toJSON()).toEqual({ mean: [10], std: [2] });
    // A Classifier over a registered custom model (no outputShape(): its output shape comes from one forward).
    const custom = tmp();
    const mlp = new ResidualMLP({ inputs: 4, hidden: 4, outputs: 3, blocks: 1 });
    saveModel(custom, mlp, { inputShape: [4], standardizer: new Standardizer([1, 1, 1, 1], [2, 2, 2, 2]) });
    expect(() => load(custom)).toThrow('Expected a [C, H, W] shape of positive integers for preprocessing.inputShape but received [4]');
    const flat = new FlatClassifier({ pixels: 4, classes: 3 });
    saveModel(custom, flat, { inputShape: [1, 2, 2], standardizer: new Standardizer([1], [2]) });
    const c = load(custom);
    expect(c.numClasses).toBe(3);
    const pixels = Float32Array.from([3, 5, 7, 9, 1, 1, 1, 1]);
    const expected = flat.forward(tensor(Float32Array.from(pixels, (v) => (v - 1) / 2), [2, 1, 2, 2])).softmax(1);
    expect([...c.predict(pixels).probabilities].map((p) => Math.fround(p))).toEqual([...(expected.toArray() as Float32Array)]);
  });
});

describe('in a fresh process', () => {
  // The built package (dist/, made by npm ci / npm run build:ts), as a user's program would load it.
  const dist = path.join(__dirname, '..', 'dist', 'cjs', 'index.js');

  test.skipIf(!fs.existsSync(dist))('a custom Module saved by one process is loaded by another with identical outputs and preprocessing', () => {
    const dir = tmp();
    // The user's module file: the class and its registration, imported by both programs.
    const moduleFile = path.join(dir, 'gated.js');
    fs.writeFileSync(moduleFile, `
      const { nn, registerModule } = require(${JSON.stringify(dist)});
      class GatedMLP extends nn.Module {
        constructor(options) {
          super();
          this.options = options;
          this.inner = new nn.Linear(options.inputs, options.hidden);
          this.gate = new nn.Linear(options.inputs, options.hidden);
          this.norm = new nn.BatchNorm1d(options.hidden);
          this.out = new nn.Linear(options.hidden, options.outputs);
        }
        config() { return this.options; }
        forward(x) { return this.out.forward(this.norm.forward(this.inner.forward(x).mul(this.gate.forward(x).sigmoid()))); }
      }
      registerModule(GatedMLP);
      module.exports = { GatedMLP };`);
    const input = `Float32Array.from({ length: 20 }, (_, i) => Math.sin(i * 1.7) * 3)`;
    const saver = `
      const n = require(${JSON.stringify(dist)});
      const { GatedMLP } = require(${JSON.stringify(moduleFile)});
      n.manualSeed(3);
      const model = new GatedMLP({ inputs: 4, hidden: 6, outputs: 2 });
      const standardizer = new n.Standardizer([1, 2, 3, 4], [2, 2, 4, 4]);
      const x = n.tensor(standardizer.transform(${input}, [4, 1, 1]), [5, 4]);
      for (let i = 0; i < 3; i++) model.forward(x); // training mode: the running statistics move away from 0 / 1
      n.saveModel(${JSON.stringify(path.join(dir, 'model'))}, model, { standardizer, inputShape: [4] });
      const y = model.eval().forward(x);
      process.stdout.write(JSON.stringify([...y.toArray()]));`;
    const loader = `
      const n = require(${JSON.stringify(dist)});
      require(${JSON.stringify(moduleFile)});
      const { model, standardizer, inputShape } = n.loadModel(${JSON.stringify(path.join(dir, 'model'))});
      const x = n.tensor(standardizer.transform(${input}, [4, 1, 1]), [5, 4]);
      const y = model.eval().forward(x);
      process.stdout.write(JSON.stringify({ type: model.constructor.name, inputShape, standardizer: standardizer.toJSON(), y: [...y.toArray()] }));`;
    const run = (script: string) => execFileSync(...nodeCommand('-e', script), { encoding: 'utf8' });
    const saved = JSON.parse(run(saver)) as number[];
    const loaded = JSON.parse(run(loader));
    expect(loaded.type).toBe('GatedMLP');
    expect(loaded.inputShape).toEqual([4]);
    expect(loaded.standardizer).toEqual({ mean: [1, 2, 3, 4], std: [2, 2, 4, 4] });
    expect(saved).toHaveLength(10);
    expect(new Set(saved).size).toBe(10);
    expect(loaded.y).toEqual(saved); // the same weights, statistics and kernels: bit-identical
    // A program that forgot to import the module file is told how to register it.
    expect(() => execFileSync(...nodeCommand('-e', `require(${JSON.stringify(dist)}).loadModel(${JSON.stringify(path.join(dir, 'model'))})`), { encoding: 'utf8', stdio: 'pipe' })).toThrow(/GatedMLP[\s\S]*registerModule/);
  });
});

describe('unregistered and bad input, by name', () => {
  test('saving an unregistered class, or a subclass of a built-in layer, says how to register it', () => {
    expect(() => saveModel(tmp(), new Unregistered())).toThrow(
      'Expected a registered module class for saving but Unregistered is not registered: call napinet.registerModule(Unregistered) once before saving or loading',
    );
    class MyReLU extends nn.ReLU {}
    expect(() => saveModel(tmp(), new nn.Sequential(new nn.Linear(2, 2), new MyReLU()))).toThrow('MyReLU extends ReLU without being registered itself');
    class OldStyle extends nn.Module {
      forward(x: Tensor) {
        return x;
      }
      override config() {
        return { type: 'OldStyle' };
      }
    }
    expect(() => saveModel(tmp(), new OldStyle())).toThrow('"OldStyle" is not a registered module type: a custom Module class must be registered before loading, with napinet.registerModule(OldStyle)');
    class WithGenerator extends nn.Module {
      forward(x: Tensor) {
        return x;
      }
      override config() {
        return { generator: new Generator(1) };
      }
    }
    registerModule(WithGenerator);
    expect(() => saveModel(tmp(), new WithGenerator())).toThrow('Expected JSON values (numbers, strings, booleans, null, arrays, plain objects) for architecture.generator but received a Generator');
  });

  test('loading a type that is not registered names it and says how to register it', () => {
    const dir = tmp();
    saveModel(dir, new ResidualMLP({ inputs: 2, hidden: 2, outputs: 2, blocks: 0 }));
    const manifestFile = path.join(dir, 'model.json');
    const manifest = JSON.parse(fs.readFileSync(manifestFile, 'utf8'));
    fs.writeFileSync(manifestFile, JSON.stringify({ ...manifest, architecture: { ...manifest.architecture, type: 'MLP' } }));
    expect(() => loadModel(dir)).toThrow(
      `${manifestFile}: Expected a registered module type for architecture.type but "MLP" is not a registered module type: a custom Module class must be registered before loading, with napinet.registerModule(MLP) (its config() gives its constructor's arguments). Registered: the built-in layers and ResidualMLP, Scaled, Halve, FlatClassifier`,
    );
    // A registered module built bigger than its weights: refused (its values are counted once built).
    fs.writeFileSync(manifestFile, JSON.stringify({ ...manifest, architecture: { ...manifest.architecture, hidden: 64 } }));
    expect(() => loadModel(dir)).toThrow('the architecture (with ResidualMLP) built 322 parameter and buffer values but');
  });

  test('registerModule refuses taken names and non-Module classes', () => {
    expect(() => registerModule(class Linear extends nn.Module {
      forward(x: Tensor) {
        return x;
      }
    })).toThrow('Expected a free type name for registerModule(Linear) but "Linear" names a built-in layer: pass { name } to register it under another name');
    const Other = class ResidualMLP extends nn.Module {
      forward(x: Tensor) {
        return x;
      }
    };
    expect(() => registerModule(Other)).toThrow('"ResidualMLP" names another class (ResidualMLP)');
    expect(registerModule(Other, { name: 'other.ResidualMLP' })).toBe(Other);
    expect(registerModule(ResidualMLP)).toBe(ResidualMLP); // again: a no-op
    expect(() => registerModule(ResidualMLP, { name: 'Again' })).toThrow('ResidualMLP is registered already, as "ResidualMLP"');
    expect(() => registerModule(class NotAModule {} as never)).toThrow('Expected a class extending nn.Module for cls but received a function');
  });

  test('buildModule: named errors for bad configs, a depth limit, cycles', () => {
    expect(() => nn.buildModule({ type: 'Sequential', layers: 5 })).toThrow('Expected a list of layers for config.layers but received 5');
    expect(() => nn.buildModule({ type: 'Sequential', layers: [{ type: 'Linear', inFeatures: 2, outFeatures: 2 }, { kind: 'ReLU' }] })).toThrow(
      'Expected a layer type name for config.layers[1].type but received undefined',
    );
    expect(() => nn.buildModule({ type: 'Sequential', layers: [{ type: 'ReLU' }, { type: 'Linear', inFeatures: -3, outFeatures: 2 }] })).toThrow(
      'config.layers[1] (Linear): Expected an integer ≥ 1 for inFeatures but received -3',
    );
    expect(() => nn.buildModule({ type: 'Concat', branches: [{ type: 'Sequential', layers: [{ type: 'Conv2d', inChannels: 1, outChannels: 2, kernelSize: 'x' }] }] })).toThrow(
      'config.branches[0].layers[0] (Conv2d): Expected an integer or a pair of integers for kernelSize but received "x"',
    );
    expect(() => nn.buildModule(null as never)).toThrow('Expected a layer object {type, …} for config but received null');
    let deep: Record<string, unknown> = { type: 'ReLU' };
    for (let i = 0; i < 16; i++) deep = { type: 'Sequential', layers: [deep] };
    expect(() => nn.buildModule(deep)).toThrow('is nested 17 layers deep; napinet builds at most 16');
    const cyclic: { type: string; layers: unknown[] } = { type: 'Sequential', layers: [] };
    cyclic.layers.push(cyclic);
    expect(() => nn.buildModule(cyclic)).toThrow('config.layers[0] contains itself (a cycle)');
    expect(nn.checkArchitecture({ type: 'Sequential', layers: [{ type: 'Linear', inFeatures: 3, outFeatures: 2 }, { type: 'BatchNorm1d', numFeatures: 2 }] }).values).toBe(8 + 4 + 5);
  });
});

describe('checkpoints of any model', () => {
  test('an unregistered custom model is checkpointed (architecture null) and resumed by building it in code', () => {
    const run = tmp();
    const g = new Generator(5);
    const model = new Unregistered();
    const optimizer = new optim.Adam(model.parameters(), { lr: 0.1 });
    const x = randomInput([3, 2], 6);
    model.forward(x).square().sum().backward();
    optimizer.step();
    const dir = saveCheckpoint(path.join(run, 'checkpoints'), { model, optimizer, generator: g, epoch: 1, iteration: 1, history: [] });
    expect(JSON.parse(fs.readFileSync(path.join(dir, 'model.json'), 'utf8')).architecture).toBeNull();
    expect(() => loadModel(run)).toThrow('holds no architecture: the model\'s class was not registered when it was saved (a checkpoint)');
    const fresh = new Unregistered();
    const freshOptimizer = new optim.Adam(fresh.parameters(), { lr: 0.1 });
    restoreCheckpoint(loadCheckpoint(run), { model: fresh, optimizer: freshOptimizer, generator: new Generator(0) });
    same(model.forward(x), fresh.forward(x));
  });

  test('a registered custom model’s checkpoint loads with loadModel (run folder → latest checkpoint)', () => {
    const run = tmp();
    const model = new ResidualMLP({ inputs: 3, hidden: 5, outputs: 2, blocks: 1 });
    saveCheckpoint(path.join(run, 'checkpoints'), { model, optimizer: new optim.SGD(model.parameters(), { lr: 0.1 }), generator: new Generator(1), epoch: 2, iteration: 4, history: [], modelExtra: { standardizer: new Standardizer([0, 0, 0], [1, 2, 3]) } });
    const loaded = loadModel(run);
    expect(loaded.dir).toBe(path.join(run, 'checkpoints', 'epoch-0002'));
    expect(loaded.standardizer?.std).toEqual([1, 2, 3]);
    const x = randomInput([2, 3], 7);
    same(model.forward(x), loaded.model.forward(x));
  });
});
