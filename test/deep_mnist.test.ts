// The deep network (lib/chapter/models.ts deepNetwork, lib/chapter/deep_recipe.ts) and `napinet train
// --model deep`: its layers and PyTorch state_dict names, a short seeded training run that is
// reproducible, the CLI's run folder, and Ctrl-C + `--resume` giving the uninterrupted run's weights
// (the recipe-level resume tests: test/deep_resume.test.ts). The full run (≥ 99.5%) is
// bench/deep-mnist.mjs.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { loadMnist } from '../lib/data/mnist';
import { loadModel } from '../lib/io/model_io';
import { deepNetwork } from '../lib/chapter/models';
import { CrossEntropyLoss } from '../lib/nn/loss';
import { buildModule } from '../lib/nn/registry';
import type { Sequential } from '../lib/nn/sequential';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { DEEP_RECIPE, trainDeepRecipe } from '../lib/chapter/deep_recipe';
import { DEVICES } from './helpers/devices';
import { cli, napinet, trainUntilInterrupted } from './helpers/cli';

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


describe.skipIf(!fs.existsSync(cli))('napinet train --model deep (dist build)', () => {

  test('writes the run folder; the model loads back', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-deep-'));
    const r = napinet('train', '--model', 'deep', '--limit', '600', '--epochs', '1', '--device', 'cpu', '--no-report', '--json', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
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
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--channels applies to --model seed only');
    r = napinet('train', '--no-augment');
    expect(r.stderr).toContain('--no-augment applies to --model deep only');
    r = napinet('train', '--model', 'resnet');
    expect(r.stderr).toContain('Expected seed or deep for --model but received "resnet"');
  });

  test('Ctrl-C saves a checkpoint and exits 130; `train --resume` (the model read from it) ends with the uninterrupted run\'s weights', async () => {
    // 540 training images at batch 8: 68 steps an epoch, so Ctrl-C after epoch 0 usually lands inside epoch 1.
    const common = ['--model', 'deep', '--limit', '600', '--batch-size', '8', '--device', 'cpu', '--seed', '1', '--no-report'];
    const straight = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-deep-'));
    let r = napinet('train', ...common, '--epochs', '3', '--out', straight);
    expect(r.code).toBe(0);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-deep-'));
    const { code, stdout, stderr } = await trainUntilInterrupted([...common, '--epochs', '3', '--out', out]);
    expect(code).toBe(130);
    expect(stderr).toContain('interrupted: saving a checkpoint after this step');
    expect(stdout).toMatch(/^interrupted at (epoch [12], step \d+|after epoch [12]) \(iteration \d+\)$/m);
    expect(stdout).toContain(`resume with: napinet train --resume ${out}`);
    expect(fs.existsSync(path.join(out, 'weights.safetensors'))).toBe(false);
    // Resuming as the seed model is refused; without --model the checkpoint's (deep) is used.
    r = napinet('train', '--model', 'seed', '--resume', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('with the seed model: it was trained with the deep model (--model deep)');
    r = napinet('train', '--resume', out, '--no-augment');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot resume with augment false');
    r = napinet('train', '--resume', out, '--device', 'cpu', '--no-report');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^resuming from .*checkpoints/m);
    expect(r.stdout).toMatch(/^test: loss \d\.\d{4}, accu \d\.\d{4}$/m);
    expect(fs.readFileSync(path.join(out, 'weights.safetensors')).equals(fs.readFileSync(path.join(straight, 'weights.safetensors')))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'result.json'), 'utf8')).settings).toMatchObject({ model: 'deep', epochs: 3, batchSize: 8 });
    fs.rmSync(out, { recursive: true });
    fs.rmSync(straight, { recursive: true });
  });
});
