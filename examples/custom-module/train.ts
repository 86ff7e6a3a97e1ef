/**
 * A model written the PyTorch way — a Module subclass with forward() only, its layers kept in
 * fields — trained on MNIST through fit(), which differentiates it with autograd. Beside it, the
 * same network as an nn.Sequential (the chapter's explicit forward/backward path), trained with the
 * same seed: the two reach the same accuracy.
 *
 *   npm run build && npm run example:custom-module       (then node build-examples/custom-module/train.js [epochs])
 */
import { evaluate, fit, Generator, loadMnist, nn, optim, prepareMnist, type Tensor } from 'napinet';

/**
 * conv 1→8 5×5 → ReLU → max-pool 2, then a residual pair of fully-connected layers over the
 * flattened features: h + fc2(relu(fc1(h))), then the classifier. Parameters are found in the
 * fields ("features.0.weight", "fc1.weight", …) with no registration call.
 */
class ResidualCNN extends nn.Module {
  features: nn.Sequential;
  fc1: nn.Linear;
  fc2: nn.Linear;
  classifier: nn.Linear;

  constructor(generator: Generator) {
    super();
    this.features = new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator }), new nn.ReLU(), new nn.MaxPool2d(2));
    this.fc1 = new nn.Linear(8 * 12 * 12, 64, { generator });
    this.fc2 = new nn.Linear(64, 8 * 12 * 12, { generator });
    this.classifier = new nn.Linear(8 * 12 * 12, 10, { generator });
  }

  forward(x: Tensor): Tensor {
    const h = this.features.forward(x).flatten(1);
    const r = h.add(this.fc2.forward(this.fc1.forward(h).relu()));
    return this.classifier.forward(r);
  }
}

/** The chapter's seed network as a forward-only module (no residual branch): the Sequential's twin. */
class SeedNet extends nn.Module {
  features: nn.Sequential;
  classifier: nn.Linear;

  constructor(generator: Generator) {
    super();
    this.features = new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator }), new nn.ReLU(), new nn.MaxPool2d(2));
    this.classifier = new nn.Linear(8 * 12 * 12, 10, { generator });
  }

  forward(x: Tensor): Tensor {
    return this.classifier.forward(this.features.forward(x).flatten(1));
  }
}

async function main(): Promise<void> {
  const epochs = Number(process.argv[2] ?? 3);
  const mnist = loadMnist();
  const models: [string, (g: Generator) => nn.Module][] = [
    ['Sequential (explicit backward)', (g) => new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator: g }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(1152, 10, { generator: g }))],
    ['SeedNet (forward only, autograd)', (g) => new SeedNet(g)],
    ['ResidualCNN (forward only, autograd)', (g) => new ResidualCNN(g)],
  ];
  for (const [name, make] of models) {
    const generator = new Generator(0); // the same seed: the same split, shuffles and initial weights
    const { train, validation, test } = prepareMnist({ mnist, generator });
    const model = make(generator).to('auto');
    const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
    const history = await fit(model, train, { optimizer, epochs, batchSize: 64, validation, generator, progress: 'none' });
    const result = evaluate(model, test);
    const seconds = history.epochs.map((e) => e.seconds.toFixed(2)).join(', ');
    console.log(`${name}: ${model.parameterCount()} parameters, epochs ${seconds} s, test accuracy ${(100 * result.metrics.accuracy).toFixed(2)}%`);
  }
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
