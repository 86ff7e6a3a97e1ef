// lib/chapter/viz: the numbers behind the pictures (confusion matrix, misclassified images, feature maps,
// the ternary rule and the ternary network), and the pictures drawn from known numbers (sizes,
// colours where they carry meaning). The pictures of a real run and report.html in a browser:
// test/report.test.ts.
import { describe, expect, test } from 'vitest';
import { ImageDataset } from '../lib/data/dataset';
import { seedNetwork } from '../lib/chapter/models';
import { relu } from '../lib/ops/activation';
import { conv2d } from '../lib/ops/conv2d';
import { maxPool2d } from '../lib/ops/pool2d';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { confusionMatrix, featureMaps, firstMisclassified, firstOfEachDigit, nthOfDigit, predictClasses } from '../lib/chapter/viz/analysis';
import { canvasLib, COLORMAPS, decodePng, gaussianBlur } from '../lib/chapter/viz/canvas';
import { confusionPng, curvesPng, misclassifiedPng, sweepPng } from '../lib/chapter/viz/figures';
import { escapeHtml } from '../lib/chapter/viz/html';
import { sweepTable } from '../lib/chapter/sweep';
import { quantizeKernel, ternaryNetwork } from '../lib/chapter/viz/ternary';
import { expectClose } from './helpers/compare';

/** The RGB of pixel (x, y) of a PNG. */
async function pixel(png: Uint8Array, x: number, y: number): Promise<[number, number, number]> {
  const image = await decodePng(png);
  const canvas = canvasLib().createCanvas(image.width, image.height);
  const ctx = canvas.getContext('2d');
  ctx.drawImage(image, 0, 0);
  const d = ctx.getImageData(x, y, 1, 1).data;
  return [d[0], d[1], d[2]];
}

function randomImages(count: number, seed: number): ImageDataset {
  const g = new Generator(seed);
  const images = Float32Array.from({ length: count * 28 * 28 }, () => g.normal());
  const labels = Int32Array.from({ length: count }, (_, i) => i % 10);
  return new ImageDataset(images, labels, [1, 28, 28]);
}

describe('analysis', () => {
  test('confusion matrix: rows true, columns predicted', () => {
    const m = confusionMatrix([0, 0, 1, 2, 2, 2], [0, 1, 1, 2, 0, 2], 3);
    expect(m).toEqual([
      [1, 1, 0],
      [0, 1, 0],
      [1, 0, 2],
    ]);
    expect(() => confusionMatrix([0, 1], [0], 3)).toThrow('Expected 2 predictions for predictions but received 1');
  });

  test('first misclassified, n-th of a digit, first of each digit', () => {
    const labels = [3, 0, 1, 0, 0, 2];
    const predictions = [3, 1, 1, 0, 2, 2];
    expect(firstMisclassified(labels, predictions, 10)).toEqual([1, 4]);
    expect(firstMisclassified(labels, predictions, 1)).toEqual([1]);
    expect(nthOfDigit(labels, 0, 1)).toBe(1);
    expect(nthOfDigit(labels, 0, 3)).toBe(4);
    expect(nthOfDigit(labels, 0, 4)).toBe(-1);
    expect(firstOfEachDigit(labels, 4)).toEqual([1, 2, 5, 0]);
  });

  test('predictions are the argmax of the logits', () => {
    const model = seedNetwork({ generator: new Generator(1) });
    const data = randomImages(37, 2);
    const classes = predictClasses(model, data, 16);
    const x = Tensor.from(data.images, [37, 1, 28, 28]);
    const logits = model.forward(x).toArray();
    for (let i = 0; i < 37; i++) {
      const row = Array.from(logits.subarray(i * 10, (i + 1) * 10));
      expect(classes[i]).toBe(row.indexOf(Math.max(...row)));
    }
  });

  test('feature maps are the conv, ReLU and max-pool outputs of the first layers', () => {
    const model = seedNetwork({ channels: 4, kernel: 7, generator: new Generator(3) });
    const image = randomImages(1, 4).images;
    const maps = featureMaps(model, image, [1, 28, 28]);
    const [conv] = model.layers as [import('../lib/nn/conv2d').Conv2d];
    const x = Tensor.from(image, [1, 1, 28, 28]);
    const y = conv2d(x, conv.weight, conv.bias!);
    expect(maps.channels).toBe(4);
    expect(maps.kernelSize).toEqual([7, 7]);
    expect(maps.convShape).toEqual([22, 22]);
    expect(maps.poolShape).toEqual([11, 11]);
    expect(Array.from(maps.kernels)).toEqual(Array.from(conv.weight.toArray()));
    expect(Array.from(maps.conv)).toEqual(Array.from(y.toArray()));
    const r = relu(y);
    expect(Array.from(maps.relu)).toEqual(Array.from(r.toArray()));
    expect(Array.from(maps.pool)).toEqual(Array.from(maxPool2d(r, { kernelSize: 2 }).y.toArray()));
  });
});

describe('ternary kernels', () => {
  // The 5×5 kernel printed in section 14.8.5 and the ternary kernel the chapter made from it by hand.
  const CHAPTER_WEIGHTS = [
    -0.371942, 0.960283, 1.361685, -1.013932, -0.5511, 1.072752, 0.427384, -0.766869, -1.136552, -0.949076, -0.782557, 0.176728, -1.801188,
    -1.576794, 2.168798, 0.176578, -0.786395, -1.605902, 0.941071, -0.318206, -0.720645, -0.029927, 1.378436, 0.74825, 0.774046,
  ];
  const CHAPTER_CODES = [0, 1, 1, -1, -1, 1, 0, -1, -1, -1, -1, 0, -1, -1, 0, 0, -1, -1, 1, 1, -1, 0, 1, 1, 1];

  test('t = 0.5·mean|w| reproduces the chapter\'s hand-made kernel but for its two exceptions', () => {
    const q = quantizeKernel(CHAPTER_WEIGHTS);
    const meanAbs = CHAPTER_WEIGHTS.reduce((s, w) => s + Math.abs(w), 0) / 25;
    expect(q.threshold).toBeCloseTo(0.5 * meanAbs, 12);
    const differ = CHAPTER_CODES.map((c, i) => (c === q.codes[i] ? -1 : i)).filter((i) => i >= 0);
    // 2.168798 → 0 and −0.318206 → +1 in the chapter: no threshold rule gives those.
    expect(differ).toEqual([14, 19]);
    expect(q.plus + q.minus + q.zeros).toBe(25);
    const kept = CHAPTER_WEIGHTS.filter((w) => Math.abs(w) > q.threshold);
    expect(q.scale).toBeCloseTo(kept.reduce((s, w) => s + Math.abs(w), 0) / kept.length, 12);
    expect(kept.length).toBe(q.plus + q.minus);
  });

  test('an all-zero kernel keeps nothing and has scale 0', () => {
    const q = quantizeKernel(new Float32Array(9));
    expect(Array.from(q.codes)).toEqual(new Array(9).fill(0));
    expect(q.scale).toBe(0);
    expect(q.zeros).toBe(9);
  });

  test('the ternary network equals the network with weights α·T (α folded into the Linear layer)', () => {
    const model = seedNetwork({ generator: new Generator(5) });
    const data = randomImages(20, 6);
    const x = Tensor.from(data.images, [20, 1, 28, 28]);
    const [conv, , , , linear] = model.layers as [import('../lib/nn/conv2d').Conv2d, unknown, unknown, unknown, import('../lib/nn/linear').Linear];
    for (const channels of [[2], [0, 1, 2, 3, 4, 5, 6, 7]]) {
      const { network, kernels } = ternaryNetwork(model, channels);
      const got = network.forward(x).toArray();
      // Reference: the ordinary network with each chosen kernel replaced by α·T.
      const reference = seedNetwork({ generator: new Generator(5) });
      const [rc] = reference.layers as [import('../lib/nn/conv2d').Conv2d];
      const w = conv.weight.toArray() as Float32Array;
      for (const ch of channels) {
        const q = kernels[ch];
        for (let i = 0; i < 25; i++) w[ch * 25 + i] = q.scale * q.codes[i];
      }
      rc.weight.copyFrom(w);
      const want = reference.forward(x).toArray();
      expectClose(got, Float64Array.from(want), { atol: 1e-5, rtol: 1e-5, relNorm: 1e-5 }, `ternary ${channels.join(',')}`);
    }
    // The original model is left unchanged.
    expect(Array.from(model.forward(x).toArray())).toEqual(Array.from(seedNetwork({ generator: new Generator(5) }).forward(x).toArray()));
    expect(linear.weight.shape).toEqual([10, 1152]);
  });
});

describe('drawing', () => {
  test('gaussian blur keeps a constant plane and spreads a point', () => {
    const flat = gaussianBlur(new Float64Array(25).fill(3), 5, 5, 1);
    for (const v of flat) expect(v).toBeCloseTo(3, 12);
    const point = new Float64Array(49);
    point[24] = 1;
    const blurred = gaussianBlur(point, 7, 7, 0.8);
    expect(blurred[24]).toBeLessThan(1);
    expect(blurred[23]).toBeGreaterThan(0);
    expect(blurred[23]).toBeCloseTo(blurred[25], 12);
  });

  test('confusion matrix: diagonal green, errors orange-red, zeros white; counts and legend fit', async () => {
    const counts = Array.from({ length: 10 }, (_, t) => Array.from({ length: 10 }, (_, p) => (t === p ? 900 + t : p === (t + 1) % 10 ? 5 + t : 0)));
    const png = confusionPng(counts);
    const image = await decodePng(png);
    expect(image.width).toBeGreaterThan(700);
    // Cell (t, p) spans x 96 + 54p, y 110 + 54t; sample near a corner, away from the text.
    const at = (t: number, p: number) => pixel(png, 96 + 54 * p + 5, 110 + 54 * t + 5);
    const [dr, dg, db] = await at(3, 3);
    expect(dg).toBeGreaterThan(dr);
    expect(dg).toBeGreaterThan(db);
    const [er, eg, eb] = await at(3, 4);
    expect(er).toBeGreaterThan(eg);
    expect(eg).toBeGreaterThan(eb);
    expect(await at(3, 7)).toEqual([255, 255, 255]);
  });

  test('curves, misclassified and sweep pictures are PNGs of sensible size', async () => {
    const history = [0, 1, 2].map((epoch) => ({
      epoch,
      iteration: 100 * (epoch + 1),
      trainLoss: 0.5 / (epoch + 1),
      trainAccuracy: 0.9 + 0.02 * epoch,
      valLoss: 0.6 / (epoch + 1),
      valAccuracy: 0.89 + 0.02 * epoch,
      seconds: 1,
      lr: 0.01,
    }));
    const curves = await decodePng(curvesPng(history, { loss: 0.2, accuracy: 0.95 }));
    expect([curves.width, curves.height]).toEqual([1240, 480]);
    const items = [0, 1, 2].map((i) => ({ image: new Float32Array(784).fill(i), label: i, prediction: 9 - i, index: 10 * i }));
    const wrong = await decodePng(misclassifiedPng(items, { shape: [28, 28], range: [0, 2] }));
    expect(wrong.width).toBeGreaterThan(500);
    const sweep = await decodePng(
      sweepPng({ title: 't', xTitle: 'x', labels: ['2', '4'], accuracy: [0.96, 0.97], loss: [0.1, 0.09], chapter: { accuracy: [0.9667, null], loss: [0.1089, null] } }),
    );
    expect(sweep.width).toBe(1240);
  });

  test('colour maps run from their first to their last stop', () => {
    expect(COLORMAPS.greyReversed(0)).toEqual([255, 255, 255]);
    expect(COLORMAPS.greyReversed(1)).toEqual([0, 0, 0]);
    expect(COLORMAPS.diverging(0.5)).toEqual([247, 247, 247]);
  });

  test('HTML text is escaped', () => {
    expect(escapeHtml('<a href="x">&\'</a>')).toBe('&lt;a href=&quot;x&quot;&gt;&amp;&#39;&lt;/a&gt;');
  });
});

describe('sweep table', () => {
  test('sorted by value, the chapter\'s numbers beside ours where it has them', () => {
    const run = (value: number, acc: number) => ({ value, channels: value, kernel: 5, testAccuracy: acc, testLoss: 0.08, parameters: 1000 * value, seconds: 12.34, trainSeconds: 10, device: 'cpu' });
    const table = sweepTable('channels', [run(8, 0.981), run(2, 0.96), run(6, 0.97)]);
    expect(table.split('\n')).toEqual([
      '| output channels | test accuracy | test loss | parameters | seconds | chapter: accuracy | chapter: loss |',
      '| :-: | --: | --: | --: | --: | --: | --: |',
      '| 2 | 96.00% | 0.0800 | 2,000 | 12.3 | 96.67% | 0.1089 |',
      '| 6 | 97.00% | 0.0800 | 6,000 | 12.3 | – | – |',
      '| 8 | 98.10% | 0.0800 | 8,000 | 12.3 | 98.23% | 0.0868 |',
    ]);
    expect(sweepTable('kernel', [{ ...run(11, 0.985), kernel: 11 }])).toContain('| 11×11 | 98.50% | 0.0800 | 11,000 | 12.3 | 98.54% | 0.0581 |');
  });
});
