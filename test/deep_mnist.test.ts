// The deep network (lib/models.ts deepNetwork, lib/train/deep_recipe.ts) and `napinet train
// --model deep`: its layers and PyTorch state_dict names, a short seeded training run that is
// reproducible, and the CLI's run folder. The full run (≥ 99.5%) is bench/deep-mnist.mjs.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { loadModel } from '../lib/io/model_io';
import { deepNetwork } from '../lib/models';
import { buildModule } from '../lib/nn/registry';
import type { Sequential } from '../lib/nn/sequential';
import { DEEP_RECIPE, trainDeepRecipe } from '../lib/train/deep_recipe';

describe('deepNetwork', () => {
  test('layers, output shapes and parameter count match the PyTorch network of bench/torch_deep_mnist.py', () => {
    const net = deepNetwork();
    expect(net.layers.map((l) => l.constructor.name)).toEqual([
      'Conv2d', 'BatchNorm2d', 'ReLU', 'Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d',
      'Conv2d', 'BatchNorm2d', 'ReLU', 'Conv2d', 'BatchNorm2d', 'ReLU', 'MaxPool2d',
      'Flatten',
      'Linear', 'BatchNorm1d', 'ReLU', 'Dropout',
      'Linear', 'BatchNorm1d', 'ReLU', 'Dropout',
      'Linear',
    ]);
    expect(net.outputShape([5, 1, 28, 28])).toEqual([5, 10]);
    // sum(p.numel() for p in deep_network().parameters()) in PyTorch
    expect(net.parameterCount()).toBe(362_154);
    const names = net.namedParameters().map(([n]) => n);
    expect(names.slice(0, 4)).toEqual(['0.weight', '1.weight', '1.bias', '3.weight']);
    expect(names.at(-2)).toBe('23.weight');
    expect(names.at(-1)).toBe('23.bias');
    expect(net.namedBuffers().map(([n]) => n)).toContain('1.running_mean');
    const rebuilt = buildModule(net.config()) as Sequential;
    expect(rebuilt.config()).toEqual(net.config());
    expect(rebuilt.parameterCount()).toBe(362_154);
  });

  test('options: channels, hidden widths, dropout, classes', () => {
    const net = deepNetwork({ channels: [4, 4, 8, 8], hidden: [16, 12], dropout: 0.5, classes: 3 });
    expect(net.outputShape([2, 1, 28, 28])).toEqual([2, 3]);
    expect(() => deepNetwork({ dropout: 1.5 })).toThrow('Expected a number in [0, 1] for dropout but received 1.5');
    expect(() => deepNetwork({ channels: [4, 0, 8, 8] })).toThrow('Expected an integer in [1, 4096] for channels[1] but received 0');
  });
});

describe('trainDeepRecipe', () => {
  const mnist = loadMnist();

  test('a short seeded run learns and is reproducible on the CPU', async () => {
    const run = () => trainDeepRecipe({ mnist, limit: 1200, epochs: 2, batchSize: 64, device: 'cpu', progress: 'none', seed: 3 });
    const a = await run();
    expect(a.history.epochs).toHaveLength(2);
    expect(a.augmentSeconds).toHaveLength(2);
    expect(a.testAccuracy).toBeGreaterThan(0.8);
    expect(a.parameters).toBe(362_154);
    const b = await run();
    expect(b.history.epochs.map((e) => [e.trainLoss, e.valLoss])).toEqual(a.history.epochs.map((e) => [e.trainLoss, e.valLoss]));
    expect(b.testAccuracy).toBe(a.testAccuracy);
  });

  test('recipe defaults', () => {
    expect(DEEP_RECIPE).toMatchObject({ epochs: 12, batchSize: 128, lr: 0.002, lrGamma: 0.7, augment: true, rotation: 10, shift: 2 });
  });
});

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cjs', 'cli.js');

describe.skipIf(!fs.existsSync(cli))('napinet train --model deep (dist build)', () => {
  const napinet = (...args: string[]) => spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8' });

  test('writes the run folder; the model loads back', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-deep-'));
    const r = napinet('train', '--model', 'deep', '--limit', '600', '--epochs', '1', '--device', 'cpu', '--no-report', '--json', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(summary.parameters).toBe(362_154);
    expect(summary.settings).toMatchObject({ model: 'deep', epochs: 1, augment: true, batchSize: 128 });
    const manifest = JSON.parse(fs.readFileSync(path.join(out, 'model.json'), 'utf8'));
    expect(manifest.architecture.layers[1].type).toBe('BatchNorm2d');
    const { model } = loadModel(out);
    expect(model.parameterCount()).toBe(362_154);
    expect(model.namedBuffers().map(([n]) => n)).toContain('20.running_var');
    fs.rmSync(out, { recursive: true });
  });

  test('flags of the other model are refused', () => {
    let r = napinet('train', '--model', 'deep', '--channels', '16');
    expect(r.status).toBe(2);
    expect(r.stderr).toContain('--channels applies to --model seed only');
    r = napinet('train', '--no-augment');
    expect(r.stderr).toContain('--no-augment applies to --model deep only');
    r = napinet('train', '--model', 'resnet');
    expect(r.stderr).toContain('Expected seed or deep for --model but received "resnet"');
  });
});
