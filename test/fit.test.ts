// fit(), evaluate() and predict() beyond classification (lib/train): a linear regression on a
// tabular TensorDataset recovers known coefficients with MSELoss, through the explicit path (a
// Sequential of built-in layers) and through autograd (a forward-only Module); streams of samples
// (an async generator) and of batches train; a loss given as a function is differentiated by
// autograd exactly as a hand-written step; the metrics chosen are in the history and equal what
// evaluate() and a host computation give; schedulers step per epoch by default and per step on
// request; a loss that turns NaN stops training with a clear error (or not, on request); an empty set is
// an error. All on the CPU (test/fit_device.test.ts runs the device side on the emulator).
import { describe, expect, test } from 'vitest';
import { ImageDataset, TensorDataset } from '../lib/data/dataset';
import { DataLoader, IterableDataset } from '../lib/data/dataloader';
import { Linear } from '../lib/nn/linear';
import { CrossEntropyLoss, MSELoss } from '../lib/nn/loss';
import { Module } from '../lib/nn/module';
import { Sequential } from '../lib/nn/sequential';
import { ReLU } from '../lib/nn/activation';
import { Flatten } from '../lib/nn/flatten';
import { SGD } from '../lib/optim/sgd';
import { Adam } from '../lib/optim/adam';
import { StepLR } from '../lib/optim/lr_scheduler';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { fit, NonFiniteLossError } from '../lib/train/fit';
import { evaluate, evaluateAsync, predict, predictClasses, predictProbabilities } from '../lib/train/evaluate';

const TRUE_W = [1.5, -2, 0.5, 3, -0.75];
const TRUE_B = 0.25;
const NOISE = 0.1;

/** y = X·w + b + noise, X standard normal [n, 5], noise N(0, 0.1²); y as [n, 1] float32. */
function regressionData(n: number, g: Generator): { x: Float32Array; y: Float32Array } {
  const f = TRUE_W.length;
  const x = Float32Array.from({ length: n * f }, () => g.normal());
  const y = Float32Array.from({ length: n }, (_, i) => TRUE_W.reduce((s, w, k) => s + w * x[i * f + k], TRUE_B) + NOISE * g.normal());
  return { x, y };
}

/** The least-squares fit of y on [X, 1] in float64 (normal equations, Gauss-Jordan): what a converged fit reaches. */
function leastSquares(x: Float32Array, y: Float32Array, f: number): number[] {
  const n = y.length;
  const m = f + 1;
  const a = Array.from({ length: m }, () => new Array<number>(m + 1).fill(0));
  for (let i = 0; i < n; i++) {
    const row = [...Array.from(x.subarray(i * f, i * f + f)), 1];
    for (let r = 0; r < m; r++) {
      for (let c = 0; c < m; c++) a[r][c] += row[r] * row[c];
      a[r][m] += row[r] * y[i];
    }
  }
  for (let p = 0; p < m; p++) {
    for (let r = 0; r < m; r++) {
      if (r === p) continue;
      const k = a[r][p] / a[p][p];
      for (let c = p; c <= m; c++) a[r][c] -= k * a[p][c];
    }
  }
  return a.map((row, r) => row[m] / a[r][r]);
}

class LinearRegression extends Module {
  fc: Linear;
  constructor(features: number, generator: Generator) {
    super();
    this.fc = new Linear(features, 1, { generator });
  }
  forward(x: Tensor): Tensor {
    return this.fc.forward(x);
  }
}

const coefficients = (fc: Linear) => [...Array.from(fc.weight.toArray()), fc.bias!.toArray()[0]];
const maxDiff = (a: number[], b: number[]) => Math.max(...a.map((v, i) => Math.abs(v - b[i])));

describe('regression on a tabular TensorDataset', () => {
  const g = new Generator(42);
  const { x, y } = regressionData(2000, g);
  const data = new TensorDataset(Tensor.from(x, [2000, 5]), Tensor.from(y, [2000, 1]));
  const ols = leastSquares(x, y, 5);

  // The least-squares estimate is within a few standard errors (σ/√n ≈ 0.0022) of the true
  // coefficients (here 3.5e-3 at most); SGD whose learning rate has decayed (0.05 → 0.05·0.5⁵) ends
  // within its last steps' noise of that estimate (measured: 1.5e-4). Tolerances: 1e-3 from the
  // least-squares solution (what the optimisation must reach), 1.5e-2 from the true coefficients
  // (about 7 standard errors).
  test.each([
    ['a Sequential of built-in layers (explicit forward/backward)', (gen: Generator) => new Sequential(new Linear(5, 1, { generator: gen }))],
    ['a forward-only Module (autograd)', (gen: Generator) => new LinearRegression(5, gen)],
  ] as const)('%s recovers the coefficients with MSELoss', async (_, make) => {
    const model = make(new Generator(1));
    const fc = model instanceof Sequential ? (model.layers[0] as Linear) : (model as LinearRegression).fc;
    const optimizer = new SGD(model.parameters(), { lr: 0.05 });
    const scheduler = new StepLR(optimizer, { stepSize: 5, gamma: 0.5 });
    const history = await fit(model, data, {
      loss: new MSELoss(), optimizer, scheduler, epochs: 30, batchSize: 32, generator: new Generator(7), metrics: ['mae', 'mse'], progress: 'none',
    });
    const got = coefficients(fc);
    expect(maxDiff(got, ols), `fitted ${got} vs least squares ${ols}`).toBeLessThan(1e-3);
    expect(maxDiff(got, [...TRUE_W, TRUE_B])).toBeLessThan(1.5e-2);
    const last = history.epochs.at(-1)!;
    // The residual variance is the noise's: mse ≈ 0.01.
    expect(last.trainLoss).toBeGreaterThan(0.008);
    expect(last.trainLoss).toBeLessThan(0.012);
    expect(Object.keys(last.trainMetrics!)).toEqual(['mae', 'mse']);
    expect(last.trainAccuracy).toBeUndefined();
    // evaluate(): the loss is the mse, and 'mse' measures the same thing.
    const e = evaluate(model, data, { loss: new MSELoss(), metrics: ['mse', 'mae'] });
    expect(e.count).toBe(2000);
    expect(Math.abs(e.metrics.mse - e.loss)).toBeLessThan(1e-7);
    // predict() gives the outputs themselves: [n, 1], and their MAE on the host equals the metric.
    const out = predict(model, data.inputs);
    expect(out.shape).toEqual([2000, 1]);
    const mae = Array.from(out.data).reduce((s, v, i) => s + Math.abs(v - y[i]), 0) / 2000;
    expect(Math.abs(mae - e.metrics.mae) / mae).toBeLessThan(1e-5);
    expect(Math.abs(mae - Math.sqrt(2 / Math.PI) * NOISE)).toBeLessThan(0.01); // E|N(0, σ²)| = σ·√(2/π)
  }, 60_000);

  test('the default loss (cross-entropy) with float targets is refused with what to do instead', async () => {
    const model = new Sequential(new Linear(5, 1));
    await expect(fit(model, data, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 1 })).rejects.toThrow(
      'Expected int32 class labels of shape [N] as targets for CrossEntropyLoss (fit\'s default loss) but received a float32 target of shape [32, 1]: for regression pass loss: new nn.MSELoss()',
    );
    await expect(fit(model, data, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 1, loss: new MSELoss(), metrics: ['accuracy'] })).rejects.toThrow(
      "Expected int32 class labels of shape [N] as targets for the metric 'accuracy'",
    );
  });
});

/** A small 3-class problem: class = argmax of three linear scores of 4 features. */
function classification(n: number, g: Generator): TensorDataset {
  const x = Float32Array.from({ length: n * 4 }, () => g.normal());
  const labels = Int32Array.from({ length: n }, (_, i) => {
    const s = [x[i * 4] + x[i * 4 + 1], x[i * 4 + 2] - x[i * 4], x[i * 4 + 3] - x[i * 4 + 1]];
    return s.indexOf(Math.max(...s));
  });
  return new TensorDataset(Tensor.from(x, [n, 4]), Tensor.from(labels, [n], { dtype: 'int32' }));
}

describe('other forms of data', () => {
  test('a DataLoader shuffling with its own generator: the same seed gives the same weights, another seed others', async () => {
    const data = classification(300, new Generator(12));
    const train = async (seed: number) => {
      const model = new Sequential(new Linear(4, 3, { generator: new Generator(1) }));
      await fit(model, new DataLoader(data, { batchSize: 16, shuffle: true, generator: new Generator(seed) }), { optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 2, progress: 'none' });
      return Array.from((model.layers[0] as Linear).weight.toArray());
    };
    const [a, b, c] = [await train(5), await train(5), await train(6)];
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
  });

  test('a Dataset of plain samples (get(i) → { x, y } as Float32Arrays) trains through a DataLoader with a collate, or batched by fit()', async () => {
    const { x, y } = regressionData(256, new Generator(9));
    const plain = { length: 256, get: (i: number) => ({ x: x.subarray(i * 5, i * 5 + 5), y: Float32Array.of(y[i]) }) };
    const model = new Sequential(new Linear(5, 1, { generator: new Generator(2) }));
    const options = { loss: new MSELoss(), optimizer: new SGD(model.parameters(), { lr: 0.05 }), epochs: 10, progress: 'none' as const };
    const history = await fit(model, plain, { ...options, batchSize: 16 });
    expect(history.epochs[0].iteration).toBe(16);
    expect(history.epochs.at(-1)!.trainLoss).toBeLessThan(0.02);
    let collated = 0;
    const loader = new DataLoader(plain, {
      batchSize: 32,
      collate: (samples) => {
        collated++;
        return { x: Tensor.from(samples.flatMap((s) => Array.from(s.x)), [samples.length, 5]), y: Tensor.from(samples.flatMap((s) => Array.from(s.y)), [samples.length, 1]) };
      },
    });
    await fit(model, loader, { ...options, epochs: 1 });
    expect(collated).toBe(8);
  });

  test("a DataLoader batches by its own settings: fit's options may repeat them, not contradict them", async () => {
    const data = classification(40, new Generator(2));
    const model = new Sequential(new Linear(4, 3));
    const h = await fit(model, new DataLoader(data, { batchSize: 10 }), { optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 1, progress: 'none' });
    expect(h.epochs[0].iteration).toBe(4);
    await expect(fit(model, new DataLoader(data, { batchSize: 10 }), { optimizer: new SGD(model.parameters()), epochs: 1, batchSize: 20 })).rejects.toThrow(
      "Expected batchSize 10 (the DataLoader's own) or none in fit's options but received 20: set it on the DataLoader",
    );
    await expect(fit(model, () => [data.getBatch([0, 1])], { optimizer: new SGD(model.parameters()), epochs: 1, shuffle: false })).rejects.toThrow(
      "Expected no shuffle in fit's options for data streamed as batches (they come batched) but received false",
    );
  });

  test('an async generator of samples (IterableDataset) trains, batched by a DataLoader', async () => {
    const g = new Generator(5);
    const { x, y } = regressionData(512, g);
    let passes = 0;
    const stream = new IterableDataset(async function* () {
      passes++;
      for (let i = 0; i < 512; i++) {
        if (i % 64 === 0) await new Promise((r) => setImmediate(r)); // as a file read would
        yield { x: x.subarray(i * 5, i * 5 + 5), y: y.subarray(i, i + 1) };
      }
    });
    const model = new Sequential(new Linear(5, 1, { generator: new Generator(2) }));
    const history = await fit(model, new DataLoader(stream, { batchSize: 32 }), { loss: new MSELoss(), optimizer: new SGD(model.parameters(), { lr: 0.05 }), epochs: 8, progress: 'none' });
    expect(passes).toBe(8);
    expect(history.epochs).toHaveLength(8);
    expect(history.epochs[0].iteration).toBe(16);
    expect(history.epochs.at(-1)!.trainLoss).toBeLessThan(0.02); // from ~16 (Σw² + b²) to about the noise, 0.01
    expect(maxDiff(coefficients(model.layers[0] as Linear), [...TRUE_W, TRUE_B])).toBeLessThan(0.05);
    // fit() takes the IterableDataset itself too (batchSize from the options), and evaluateAsync reads it.
    const again = await fit(model, stream, { loss: new MSELoss(), optimizer: new SGD(model.parameters(), { lr: 0.01 }), epochs: 1, batchSize: 64, progress: 'none' });
    expect(again.epochs[0].iteration).toBe(8); // 512 samples in batches of 64
    const e = await evaluateAsync(model, stream, { loss: new MSELoss(), batchSize: 100 });
    expect(e.count).toBe(512);
    expect(e.loss).toBeLessThan(0.02);
    expect(() => evaluate(model, stream as never, { loss: new MSELoss() })).toThrow('use await evaluateAsync(model, data)');
  });

  test('a function returning an async generator of batches trains; a generator object read twice is an error that says why', async () => {
    const data = classification(600, new Generator(8));
    async function* batchesOf(size: number) {
      for (let start = 0; start < 600; start += size) {
        const rows = Array.from({ length: Math.min(size, 600 - start) }, (_, i) => start + i);
        yield data.getBatch(rows);
      }
    }
    const model = new Sequential(new Linear(4, 16, { generator: new Generator(1) }), new ReLU(), new Linear(16, 3, { generator: new Generator(2) }));
    const history = await fit(model, () => batchesOf(50), { optimizer: new Adam(model.parameters(), { lr: 0.02 }), epochs: 10, progress: 'none' });
    expect(history.epochs[0].trainAccuracy).toBeDefined();
    expect(history.epochs.at(-1)!.trainAccuracy!).toBeGreaterThan(0.9);
    expect(evaluate(model, data).accuracy!).toBeGreaterThan(0.9);
    const once = batchesOf(100);
    await expect(fit(model, once, { optimizer: new Adam(model.parameters()), epochs: 2, progress: 'none' })).rejects.toThrow(
      'Expected batches from data in epoch 1 but it yielded none: an iterator (a generator object) can be read only once; pass a function that returns a new one each epoch',
    );
  });
});

describe('losses and metrics', () => {
  test('a loss function is differentiated by autograd: one fit() step equals the same step written by hand', async () => {
    const data = classification(64, new Generator(3));
    const make = () => new Sequential(new Linear(4, 3, { generator: new Generator(9) }));
    // Mean absolute error against a one-hot target, written with tensor maths.
    const l1 = (out: Tensor, target: Tensor) => {
      const onehot = Tensor.from(Float32Array.from({ length: out.size }, (_, k) => (target.data[Math.floor(k / 3)] === k % 3 ? 1 : 0)), out.shape);
      return out.sub(onehot).abs().mean();
    };
    const a = make();
    const history = await fit(a, data, { loss: l1, optimizer: new SGD(a.parameters(), { lr: 0.5 }), epochs: 1, batchSize: 64, shuffle: false, progress: 'none' });
    const b = make();
    const opt = new SGD(b.parameters(), { lr: 0.5 });
    opt.zeroGrad();
    const loss = l1(b.forward(data.inputs), data.targets);
    loss.backward();
    opt.step();
    for (const [name, p] of a.namedParameters()) expect(Array.from(p.toArray()), name).toEqual(Array.from(b.stateDict()[name].toArray()));
    // The history's loss is the function's value on the batch (before the step).
    expect(history.epochs[0].trainLoss).toBeCloseTo(loss.item(), 6);
    expect(history.epochs[0].trainMetrics).toEqual({}); // no accuracy unless asked, with a loss function
  });

  test('the chosen metrics, functions included, are in the history for training and validation, and equal evaluate()', async () => {
    const g = new Generator(11);
    const [train, validation] = classification(500, g).split(0.2, g);
    const model = new Sequential(new Linear(4, 8, { generator: g }), new ReLU(), new Linear(8, 3, { generator: g }));
    function meanLogit(out: Tensor): Tensor {
      return out.mean();
    }
    const history = await fit(model, train, {
      optimizer: new Adam(model.parameters(), { lr: 0.01 }), epochs: 3, batchSize: 25, validation, metrics: ['accuracy', meanLogit], progress: 'none', generator: g,
    });
    const last = history.epochs.at(-1)!;
    expect(Object.keys(last.trainMetrics!)).toEqual(['accuracy', 'meanLogit']);
    expect(Object.keys(last.valMetrics!)).toEqual(['accuracy', 'meanLogit']);
    expect(last.trainAccuracy).toBe(last.trainMetrics!.accuracy);
    expect(last.valAccuracy).toBe(last.valMetrics!.accuracy);
    const e = evaluate(model, validation, { metrics: ['accuracy', meanLogit], batchSize: 256 });
    expect(e.loss).toBe(last.valLoss);
    expect(e.metrics).toEqual(last.valMetrics);
    // Host recomputation: accuracy from predictClasses, the mean logit from predict().
    const classes = predictClasses(model, validation);
    const correct = classes.reduce((n, c, i) => n + (c === validation.targets.data[i] ? 1 : 0), 0);
    expect(e.metrics.accuracy).toBeCloseTo(correct / validation.length, 12);
    const outputs = predict(model, validation).data;
    expect(e.metrics.meanLogit).toBeCloseTo(Array.from(outputs).reduce((s, v) => s + v, 0) / outputs.length, 5);
    // predictProbabilities: rows of the softmax.
    const p = predictProbabilities(model, validation);
    expect(p.shape).toEqual([validation.length, 3]);
    expect(p.data[0] + p.data[1] + p.data[2]).toBeCloseTo(1, 6);
  });

  test('evaluate() of an empty set is an error, not NaN; bad metrics are named', async () => {
    const empty = new ImageDataset(new Float32Array(0), new Int32Array(0), [1, 2, 2]);
    const model = new Sequential(new Flatten(), new Linear(4, 10));
    expect(() => evaluate(model, empty)).toThrow('Expected data with at least one sample for data but received none');
    await expect(fit(model, empty, { optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 1 })).rejects.toThrow(
      'Expected training data with at least one batch for data but received none',
    );
    const data = classification(10, new Generator(1));
    const m = new Sequential(new Linear(4, 3));
    expect(() => evaluate(m, data, { metrics: ['f1' as never] })).toThrow("Expected 'accuracy', 'mae', 'mse' or a function (output, target) => tensor for metrics[0] but received \"f1\"");
    expect(() => evaluate(m, data, { metrics: [() => Tensor.zeros([1])] })).toThrow('Expected a named function (its name names the metric in the history) for metrics[0]');
    await expect(fit(m, data, { optimizer: new SGD(m.parameters(), { lr: 0.1 }), epochs: 1, schedulerStep: 'epoch' } as never)).rejects.toThrow(
      "Expected schedulerInterval ('epoch' or 'step') for fit's options but received schedulerStep",
    );
    await expect(fit(m, data, { optimizer: new SGD(m.parameters(), { lr: 0.1 }), epochs: 1, loss: 'mse' as never })).rejects.toThrow(
      'Expected a napinet loss (nn.CrossEntropyLoss, nn.MSELoss, …) or a function (output, target) => loss tensor for loss but received "mse"',
    );
  });
});

describe('schedulers under fit()', () => {
  const data = classification(100, new Generator(2)); // 5 batches of 20
  const run = async (schedulerInterval?: 'epoch' | 'step') => {
    const model = new Sequential(new Linear(4, 3, { generator: new Generator(1) }));
    const optimizer = new SGD(model.parameters(), { lr: 0.1 });
    const scheduler = new StepLR(optimizer, { stepSize: 2, gamma: 0.5 });
    const history = await fit(model, data, { optimizer, scheduler, schedulerInterval, epochs: 4, batchSize: 20, progress: 'none' });
    return { lrs: history.epochs.map((e) => e.lr), final: optimizer.lr };
  };

  test('StepLR steps once an epoch by default: 0.1 → 0.025 over 4 epochs (stepSize 2, gamma 0.5)', async () => {
    const { lrs, final } = await run();
    expect(lrs).toEqual([0.1, 0.1, 0.05, 0.05]); // the rate each epoch trained with
    expect(final).toBe(0.025);
  });

  test("and every step with schedulerInterval 'step': 20 steps halve it 10 times", async () => {
    const { lrs, final } = await run('step');
    expect(final).toBeCloseTo(0.1 * 0.5 ** 10, 15);
    expect(lrs).toEqual([0.1 * 0.5 ** 2, 0.1 * 0.5 ** 5, 0.1 * 0.5 ** 7, 0.1 * 0.5 ** 10].map((v) => expect.closeTo(v, 15)));
  });
});

describe('a loss that is not finite', () => {
  const data = classification(200, new Generator(6)); // 10 steps an epoch
  const setup = () => {
    const model = new Sequential(new Linear(4, 3, { generator: new Generator(1) }));
    // A weight turned NaN after the 4th step of epoch 1: the 5th step's loss is NaN.
    const poison = { onBatchEnd: ({ epoch, iteration }: { epoch: number; iteration: number }) => {
      if (epoch === 1 && iteration === 14) (model.layers[0] as Linear).weight.data[0] = NaN;
    } };
    return { model, poison };
  };

  test('stops training with a NonFiniteLossError naming the epoch and step (the CPU checks every step, at no cost)', async () => {
    const { model, poison } = setup();
    let epochsEnded = 0;
    const error = await fit(model, data, {
      optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 3, batchSize: 20, callbacks: [poison, { onEpochEnd: () => void epochsEnded++ }], progress: 'none',
    }).catch((e) => e);
    expect(error).toBeInstanceOf(NonFiniteLossError);
    expect(error.message).toBe(
      "Training stopped: the training loss became NaN in epoch 1 by step 5; the weights are likely not finite either, so nothing more was trained or saved. Lower the learning rate, check the data for NaN or Inf, or pass onNonFiniteLoss: 'continue' to fit() to train on.",
    );
    expect(error.epoch).toBe(1);
    expect(error.step).toBe(5);
    expect(error.history.epochs).toHaveLength(1);
    expect(epochsEnded).toBe(1); // no callback saw the NaN epoch
  });

  test("with onNonFiniteLoss 'continue' training goes on and the history records the NaN", async () => {
    const { model, poison } = setup();
    const history = await fit(model, data, {
      optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 3, batchSize: 20, callbacks: [poison], onNonFiniteLoss: 'continue', progress: 'none',
    });
    expect(history.epochs.map((e) => Number.isNaN(e.trainLoss))).toEqual([false, true, true]);
  });

  test('a NaN in the data stops training as well', async () => {
    const x = Float32Array.from({ length: 40 }, (_, i) => i / 40);
    x[13] = NaN;
    const model = new Sequential(new Linear(4, 1));
    await expect(
      fit(model, new TensorDataset(Tensor.from(x, [10, 4]), Tensor.zeros([10, 1])), { loss: new MSELoss(), optimizer: new SGD(model.parameters(), { lr: 0.1 }), epochs: 1, batchSize: 5, shuffle: false, progress: 'none' }),
    ).rejects.toThrow('the training loss became NaN in epoch 0 by step 1');
  });
});

describe('predict()', () => {
  test('returns the outputs as they are (no softmax): a one-output regression gives its values', () => {
    const model = new Sequential(new Linear(2, 1));
    (model.layers[0] as Linear).weight.copyFrom([2, -1]);
    (model.layers[0] as Linear).bias!.copyFrom([0.5]);
    const out = predict(model, Tensor.from([[1, 1], [3, 0], [0, 2]]), { batchSize: 2 });
    expect(out.shape).toEqual([3, 1]);
    expect(Array.from(out.data)).toEqual([1.5, 6.5, -1.5]);
    expect(() => predictProbabilities(model, Tensor.from([[1, 1]]))).not.toThrow(); // a [N, 1] output is a one-class softmax
    expect(Array.from(predictClasses(model, Tensor.from([[1, 1]])))).toEqual([0]);
    const loss = new CrossEntropyLoss();
    expect(() => evaluate(model, new TensorDataset(Tensor.from([[1, 1]]), Tensor.from([0.5])), { loss })).toThrow('Expected int32 class labels');
  });

  test('predictClasses follows torch.argmax: the first of equal maxima, the first NaN of a row', () => {
    const model = new Sequential(new Linear(1, 4, { bias: false }));
    const weight = (model.layers[0] as Linear).weight;
    weight.copyFrom([1, 3, 3, 2]); // outputs x·[1, 3, 3, 2]
    expect(Array.from(predictClasses(model, Tensor.from([[1], [-1]])))).toEqual([1, 0]);
    weight.copyFrom([1, 3, NaN, NaN]); // torch.argmax(tensor([1., 3., nan, nan])) is 2
    expect(Array.from(predictClasses(model, Tensor.from([[1], [-1]])))).toEqual([2, 2]);
    weight.copyFrom([NaN, 3, 1, 1]);
    expect(Array.from(predictClasses(model, Tensor.from([[1]])))).toEqual([0]);
  });
});
