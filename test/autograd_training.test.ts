// A model written with forward() only trains through fit() exactly as the equivalent Sequential
// of built-in layers: the autograd path runs the same kernels (its layer Functions are the
// hand-written forward/backward pairs, adding weight gradients straight into .grad), so after an
// epoch the weights are bit-identical and so is the test accuracy. Checked for the chapter's seed
// network written three ways: as a Sequential (explicit backward), as a module holding a
// Sequential block (fused conv + pool + ReLU under autograd), and as a module calling conv, relu
// and pool one by one (ReLU before the pool; the Sequential runs it after: the same values).
import { describe, expect, test } from 'vitest';
import { evaluate, fit, Generator, loadMnist, nn, optim, prepareMnist, type Tensor } from '../lib';
import { DEVICES } from './helpers/devices';

class Blocks extends nn.Module {
  features: nn.Sequential;
  classifier: nn.Linear;
  constructor(g: Generator) {
    super();
    this.features = new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator: g }), new nn.ReLU(), new nn.MaxPool2d(2));
    this.classifier = new nn.Linear(8 * 12 * 12, 10, { generator: g });
  }
  forward(x: Tensor): Tensor {
    return this.classifier.forward(this.features.forward(x).flatten(1));
  }
}

class OneByOne extends nn.Module {
  conv: nn.Conv2d;
  pool = new nn.MaxPool2d(2);
  fc: nn.Linear;
  constructor(g: Generator) {
    super();
    this.conv = new nn.Conv2d(1, 8, 5, { generator: g });
    this.fc = new nn.Linear(8 * 12 * 12, 10, { generator: g });
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(this.pool.forward(this.conv.forward(x).relu()).flatten(1));
  }
}

const mnist = loadMnist();

describe.each(DEVICES)('forward-only modules train as the Sequential on %s', (device) => {
  test('one epoch on 2,048 images: bit-identical weights, the same test accuracy', async () => {
    const makers: [string, (g: Generator) => nn.Module][] = [
      ['Sequential', (g) => new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator: g }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(1152, 10, { generator: g }))],
      ['Blocks', (g) => new Blocks(g)],
      ['OneByOne', (g) => new OneByOne(g)],
    ];
    const runs = [];
    for (const [name, make] of makers) {
      const generator = new Generator(0);
      const { train, test } = prepareMnist({ mnist, generator });
      const model = make(generator).to(device);
      expect(model.hasExplicitBackward).toBe(name === 'Sequential');
      const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
      await fit(model, train.head(2048), { optimizer, epochs: 1, batchSize: 64, generator, progress: 'none' });
      runs.push({ name, weights: model.parameters().map((p) => Array.from(p.toArray())), accuracy: evaluate(model, test.head(1000)).accuracy });
    }
    for (const run of runs.slice(1)) {
      expect(run.weights, run.name).toEqual(runs[0].weights);
      expect(run.accuracy, run.name).toBe(runs[0].accuracy);
    }
    expect(runs[0].accuracy).toBeGreaterThan(0.85);
  }, 120_000);
});
