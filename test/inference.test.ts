// Inference (lib/inference.ts): napinet.load rebuilds a saved model with its preprocessing;
// predict() on raw pixels (Uint8Array, Uint8ClampedArray, Float32Array) gives exactly what the
// training pipeline's standardisation + forward + softmax give; the Predictor reuses its buffers and
// gives the same answers at every batch size; bad input is refused by name.
// Tolerance across batch sizes: 1e-6 absolute on probabilities (a batch's rows are independent,
// but the GEMM may block a batch of 1 differently from one of 256); classes must be equal.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { Classifier, load } from '../lib/inference';
import { saveModel } from '../lib/io/model_io';
import { Tensor } from '../lib/tensor';
import { predictProbabilities } from '../lib/train/evaluate';
import { type SeedRecipeResult, seedPreprocessing, trainSeedRecipe } from '../lib/chapter/recipe';
import { expectClose } from './helpers/compare';
import { explicit } from '../lib/autograd/grad_mode';
import { deepNetwork } from '../lib/chapter/models';
import { BatchNorm1d, BatchNorm2d } from '../lib/nn/batchnorm';
import { softmax } from '../lib/ops/softmax';
import { Generator } from '../lib/random';

const mnist = loadMnist();
const N = 300;
const raw = mnist.test.images.subarray(0, N * 784);
let run: SeedRecipeResult;
let dir: string;

beforeAll(async () => {
  run = await trainSeedRecipe({ mnist, limit: 2000, epochs: 1, device: 'cpu', progress: 'none', seed: 1 });
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-infer-'));
  saveModel(dir, run.model, seedPreprocessing(run.standardizer));
});

describe('napinet.load and predict', () => {
  test('load rebuilds architecture, weights and standardisation; predict on raw bytes = the training pipeline', () => {
    const model = load(dir);
    expect(model.inputShape).toEqual([1, 28, 28]);
    expect(model.standardizer?.mean).toEqual(run.standardizer.mean);
    expect(model.numClasses).toBe(10);
    const expected = predictProbabilities(run.model, run.test.head(N)).data; // standardised by the recipe
    const got = model.predict(raw);
    expect(got.count).toBe(N);
    expect(Buffer.from(got.probabilities.buffer).equals(Buffer.from(expected.buffer))).toBe(true);
    let correct = 0;
    for (let i = 0; i < N; i++) if (got.predicted[i] === mnist.test.labels[i]) correct++;
    expect(correct / N).toBeGreaterThan(0.85);
  });

  test('Uint8Array, Uint8ClampedArray and Float32Array pixels give the same result; a tensor is taken as standardised', () => {
    const model = load(dir);
    const a = model.predict(raw);
    for (const input of [new Uint8ClampedArray(raw), Float32Array.from(raw)]) {
      expect(Buffer.from(model.predict(input).probabilities.buffer).equals(Buffer.from(a.probabilities.buffer))).toBe(true);
    }
    const t = Tensor.from(run.test.images.subarray(0, N * 784), [N, 1, 28, 28]);
    expect([...model.predict(t).predicted]).toEqual([...a.predicted]);
    expect([...model.predict(run.test.images.subarray(0, N * 784), { standardized: true }).predicted]).toEqual([...a.predicted]);
  });

  test('every batch size gives the same classes (and probabilities within 1e-6)', () => {
    const model = load(dir);
    const reference = model.predict(raw, { batchSize: 256 });
    for (const batchSize of [1, 7, 64, 300, 512]) {
      const p = model.predict(raw, { batchSize });
      expect([...p.predicted]).toEqual([...reference.predicted]);
      expectClose(p.probabilities, reference.probabilities, { atol: 1e-6, rtol: 0 }, `batch ${batchSize}`);
    }
  });

  test('a Predictor reuses its tensors and the caller’s output arrays', () => {
    const model = load(dir);
    const predictor = model.predictor(32);
    const out = { probabilities: new Float32Array(N * 10), predicted: new Int32Array(N) };
    const first = predictor.run(raw, { out });
    expect(first.probabilities).toBe(out.probabilities);
    expect(first.predicted).toBe(out.predicted);
    const snapshot = out.probabilities.slice();
    const before = process.memoryUsage().arrayBuffers;
    for (let i = 0; i < 20; i++) predictor.run(raw, { out });
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(256 * 1024);
    expect(out.probabilities).toEqual(snapshot);
    expect([...first.predicted]).toEqual([...model.predict(raw).predicted]);
  });

  test('a Predictor on the deep network (batch norms folded into the convolutions) equals the unfolded eval forward', () => {
    const g = new Generator(5);
    const network = deepNetwork({ channels: [4, 4, 8, 8], hidden: [16, 8], generator: g });
    // Running statistics and affine parameters away from their defaults (ones, zeros).
    for (const layer of network.layers) {
      if (!(layer instanceof BatchNorm2d || layer instanceof BatchNorm1d)) continue;
      const c = layer.numFeatures;
      layer.runningMean!.copyFrom(Float32Array.from({ length: c }, () => g.normal(0, 0.5)));
      layer.runningVar!.copyFrom(Float32Array.from({ length: c }, () => g.uniform(0.2, 2.2)));
      layer.weight!.copyFrom(Float32Array.from({ length: c }, () => g.normal()));
      layer.bias!.copyFrom(Float32Array.from({ length: c }, () => g.normal()));
    }
    network.eval();
    const count = 37;
    const x = Float32Array.from(raw.subarray(0, count * 784), (v) => (v - 33) / 78);
    const unfolded = explicit(() => softmax(network.forward(Tensor.from(x, [count, 1, 28, 28])))).toArray();
    const classifier = new Classifier(network, { inputShape: [1, 28, 28] });
    for (const batchSize of [1, 16]) {
      const p = classifier.predictor(batchSize).run(x, { standardized: true });
      // The folded convolutions differ from the unfolded ones by float32 rounding (test/conv2d_batchnorm.test.ts):
      // probabilities within 1e-5 absolute.
      expectClose(p.probabilities, unfolded, { atol: 1e-5, rtol: 0 }, `batch ${batchSize}`);
    }
  });

  test('bad input is refused by name', () => {
    const model = load(dir);
    expect(() => model.predict(raw.subarray(0, 700))).toThrow('Expected a whole number of [1, 28, 28] images (a multiple of 784 values) for images but received 700 values');
    expect(() => model.predict([1, 2, 3] as never)).toThrow('Expected a Uint8Array, Uint8ClampedArray, Float32Array or Tensor for images but received [1, 2, 3]');
    expect(() => model.predict(Tensor.zeros([2, 1, 27, 27]))).toThrow('Expected a tensor of shape [N, 1, 28, 28] for images but received [2, 1, 27, 27]');
    expect(() => model.predictor(4).run(raw.subarray(0, 784), { out: { predicted: new Int32Array(0) } })).toThrow('Expected at least 1 values for out.predicted but received 0');
    expect(() => new Classifier(run.model, { inputShape: [28, 28] as never })).toThrow('Expected a [C, H, W] shape for inputShape but received [28, 28]');
    const bare = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-bare-'));
    saveModel(bare, run.model);
    expect(() => load(bare)).toThrow('model.json records no preprocessing.inputShape: pass load(dir, { inputShape: [C, H, W] })');
    expect(load(bare, { inputShape: [1, 28, 28] }).standardizer).toBeNull();
    expect(() => load(path.join(bare, 'missing'))).toThrow(`model folder ${path.join(bare, 'missing')} does not exist`);
    expect(() => load(os.tmpdir())).toThrow(`${os.tmpdir()} holds no model.json: not a saved napinet model`);
  });

  test('Classifier.save writes a folder load() reads back the same', () => {
    const model = load(dir);
    const again = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-again-'));
    model.save(again);
    const back = load(again);
    expect(back.standardizer?.std).toEqual(model.standardizer?.std);
    expect(Buffer.from(back.predict(raw).probabilities.buffer).equals(Buffer.from(model.predict(raw).probabilities.buffer))).toBe(true);
  });
});
