// Softmax + cross-entropy against PyTorch (test/fixtures/loss.fixture, scripts/fixtures/loss.py).
//
// Tolerances (float32 result vs float64 reference):
//   probs: atol 1e-12, rtol 2e-6, relNorm 1e-6. expf is within an ulp and the row is normalised by a
//     float32 sum of C ≤ 10 terms (≲ C·2⁻²⁴ ≈ 6e-7 relative); atol only admits probabilities below
//     float32's range (e^-160 ≈ 3e-70 flushes to 0). Measured: max rel 7.1e-7 (refs > 1e-30).
//     On CUDA, expf is within 2 ulp (CUDA math API, no fast math) and Σ is a butterfly over ≤ 32
//     lanes (≤ 5 roundings for C ≤ 32): the same bound holds. Measured (emulator): as on the CPU.
//   loss (stats[0] / N against the mean; stats[0] against Σ per-sample): atol 1e-6, rtol 1e-6. Each
//     row's loss is formed in double from max-shifted logits; only log(Σ exp) carries the float32
//     sum's ≲ C·2⁻²⁴ error, and stats[0] is rounded to float32 once. Measured: max rel 5.5e-8.
//   correct count: exact (first maximum, as torch.argmax), computed here from the fixture logits.
//   dlogits: atol 1e-6·scale, rtol 2e-6, relNorm 1e-6. scale·(p − t) carries p's absolute error
//     (≲ C·2⁻²⁴·p ≤ 6e-7) plus t's rounding, undiminished when p ≈ t cancels. Measured: max
//     |diff|/scale 2.6e-7, rel L2 9.0e-8.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../lib/ops/loss';
import { Tensor } from '../lib/tensor';
import { expectClose, type Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { caseNamed, type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp, checkTensor } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';

const PROBS: Tolerance = { atol: 1e-12, rtol: 2e-6, relNorm: 1e-6 };
const LOSS: Tolerance = { atol: 1e-6, rtol: 1e-6, relNorm: 1e-6 };
const dlogitsTolerance = (scale: number): Tolerance => ({ atol: 1e-6 * scale, rtol: 2e-6, relNorm: 1e-6 });

const cases = loadFixtures('loss');

/** Samples whose first maximal logit is the label (torch.argmax's rule). */
function expectedCorrect(logits: Float32Array, labels: Int32Array, c: number): number {
  let correct = 0;
  for (let i = 0; i < labels.length; i++) {
    let best = 0;
    for (let k = 1; k < c; k++) if (logits[i * c + k] > logits[i * c + best]) best = k;
    if (best === labels[i]) correct++;
  }
  return correct;
}

describe.each(DEVICES)('softmax cross-entropy on %s', (device) => {
  const inputs = (c: FixtureCase) => ({ logits: c.tensor('logits', device), labels: c.tensor('labels', device) });

  for (const c of cases) {
    test(c.name, () => {
      const { logits, labels } = inputs(c);
      const [n, classes] = logits.shape;
      const options = { labelSmoothing: c.params.labelSmoothing as number };
      const { probs, stats } = softmaxCrossEntropy(logits, labels, options);
      const [lossSum, correct] = stats.toArray();
      const dlogits = softmaxCrossEntropyBackward(probs, labels, options);
      checkOp(c, { probs, loss: [lossSum / n], dlogits }, { probs: PROBS, loss: LOSS, dlogits: dlogitsTolerance(1 / n) });
      checkTensor(`${c.name} Σ loss`, [lossSum], [c.f64('losses').reduce((a, b) => a + b, 0)], LOSS);
      expect(correct).toBe(expectedCorrect(c.f32('logits'), c.i32('labels'), classes));
      // In place: the gradient may overwrite the probabilities.
      expect(softmaxCrossEntropyBackward(probs, labels, options, probs)).toBe(probs);
      checkOp(c, { dlogits: probs }, dlogitsTolerance(1 / n), { label: 'in place' });
    });
  }

  test('stats are overwritten, or accumulated over batches when asked', () => {
    const c = caseNamed(cases, 'n16_c10/ls0.1');
    const { logits, labels } = inputs(c);
    const reference = c.f64('losses').reduce((a, b) => a + b, 0);
    const correct = expectedCorrect(c.f32('logits'), c.i32('labels'), 10);
    const stats = Tensor.from([100, 7], [2], { device });
    const probs = Tensor.zeros([16, 10], { device });
    const result = softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }, { probs, stats, accumulate: true });
    expect(result.probs).toBe(probs);
    expect(result.stats).toBe(stats);
    softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }, { probs, stats, accumulate: true });
    const [sum, count] = stats.toArray();
    expectClose([sum], [100 + 2 * reference], LOSS, 'accumulated Σ loss');
    expect(count).toBe(7 + 2 * correct);
    softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 }, { stats });
    expectClose([stats.toArray()[0]], [reference], LOSS, 'overwritten Σ loss');
    expect(stats.toArray()[1]).toBe(correct);
  });

  // The fixtures have C ≤ 10, one lane per class on the GPU. These rows are wider than a warp
  // (each lane adds ⌈C/32⌉ ≤ 4 strided terms, then a 5-level butterfly: ≤ 8 roundings of positive
  // terms, ≲ 8·2⁻²⁴ ≈ 4.8e-7 relative, plus expf's 2 ulp: within PROBS and LOSS as derived above),
  // 33 classes (one lane with two terms) and a single class; 300 rows × 32 lanes > 4096 takes the
  // multi-block reduction. Reference: float64 in JS from the same float32 logits.
  test.runIf(device === 'cuda:0')('rows wider than a warp, and a single class, against a float64 reference', () => {
    for (const [n, classes, smoothing] of [[300, 100, 0.1], [37, 33, 0], [5, 1, 0.2]]) {
      const logits = Float32Array.from({ length: n * classes }, (_, i) => 3 * Math.sin(i * 1.618 + 0.5));
      const labels = Int32Array.from({ length: n }, (_, i) => (i * 7) % classes);
      const probsRef = new Float64Array(n * classes);
      const dRef = new Float64Array(n * classes);
      let lossRef = 0;
      for (let i = 0; i < n; i++) {
        const z = Array.from(logits.subarray(i * classes, (i + 1) * classes));
        const max = Math.max(...z);
        const sum = z.reduce((a, v) => a + Math.exp(v - max), 0);
        const shifted = z.reduce((a, v) => a + (max - v), 0);
        lossRef += (1 - smoothing) * (Math.log(sum) - (z[labels[i]] - max)) + smoothing * (Math.log(sum) + shifted / classes);
        for (let k = 0; k < classes; k++) {
          probsRef[i * classes + k] = Math.exp(z[k] - max) / sum;
          const target = smoothing / classes + (k === labels[i] ? 1 - smoothing : 0);
          dRef[i * classes + k] = (probsRef[i * classes + k] - target) / n;
        }
      }
      const { probs, stats } = softmaxCrossEntropy(Tensor.from(logits, [n, classes], { device }), Tensor.from(labels, [n], { device, dtype: 'int32' }), {
        labelSmoothing: smoothing,
      });
      const label = `N ${n}, C ${classes}`;
      expectClose(probs.toArray(), probsRef, PROBS, `${label} probs`);
      const [lossSum, correct] = stats.toArray();
      expectClose([lossSum], [lossRef], LOSS, `${label} Σ loss`);
      expect(correct).toBe(expectedCorrect(logits, labels, classes));
      const dlogits = softmaxCrossEntropyBackward(probs, Tensor.from(labels, [n], { device, dtype: 'int32' }), { labelSmoothing: smoothing });
      expectClose(dlogits.toArray(), dRef, dlogitsTolerance(1 / n), `${label} dlogits`);
    }
  });

  test('an empty batch: stats are zeroed, or left as they are when accumulating', () => {
    const logits = Tensor.zeros([0, 10], { device });
    const labels = Tensor.zeros([0], { device, dtype: 'int32' });
    const stats = Tensor.from([3, 2], [2], { device });
    softmaxCrossEntropy(logits, labels, {}, { stats, accumulate: true });
    expect(Array.from(stats.toArray())).toEqual([3, 2]);
    const { probs } = softmaxCrossEntropy(logits, labels, {}, { stats });
    expect(Array.from(stats.toArray())).toEqual([0, 0]);
    expect(softmaxCrossEntropyBackward(probs, labels).shape).toEqual([0, 10]);
  });

  test('scale multiplies the gradient (1/N by default: the batch mean)', () => {
    const c = caseNamed(cases, 'n8_c2/ls0.0');
    const { logits, labels } = inputs(c);
    const { probs } = softmaxCrossEntropy(logits, labels);
    const sum = softmaxCrossEntropyBackward(probs, labels, { scale: 1 });
    expectClose(sum.toArray(), c.f64('dlogits').map((v) => v * 8), dlogitsTolerance(1), 'dlogits, scale 1');
  });

  test('1 thread and the default thread count give bit-identical results', () => {
    const { logits, labels } = inputs(caseNamed(cases, 'n2000_c10/ls0.1'));
    expectSameBitsAcrossThreads(() => {
      const { probs, stats } = softmaxCrossEntropy(logits, labels, { labelSmoothing: 0.1 });
      const dlogits = softmaxCrossEntropyBackward(probs, labels, { labelSmoothing: 0.1 });
      return [probs, stats, dlogits];
    });
  });

  // Labels on the CPU are checked by the binding; labels on the GPU cannot be read without waiting for
  // the device, so the CUDA kernels turn a bad label into NaN in its row instead (cuda/loss.cu).
  test.runIf(device === 'cpu')('a label outside [0, C) is a RangeError naming labels and the value', () => {
    const logits = Tensor.zeros([4, 10], { device });
    const bad = Tensor.from(new Int32Array([1, 2, 9, 10]), [4], { device });
    expect(() => softmaxCrossEntropy(logits, bad)).toThrow(new RangeError('Expected class indices in [0, 10) for labels but received 10 at index 3'));
    const negative = Tensor.from(new Int32Array([-1, 2, 9, 0]), [4], { device });
    expect(() => softmaxCrossEntropy(logits, negative)).toThrow('Expected class indices in [0, 10) for labels but received -1 at index 0');
    expect(() => softmaxCrossEntropyBackward(logits, bad)).toThrow('Expected class indices in [0, 10) for labels but received 10 at index 3');
  });

  test.runIf(device === 'cuda:0')('a label outside [0, C) on the GPU makes its row NaN and is never used as an index', () => {
    const c = caseNamed(cases, 'n16_c10/ls0.1');
    const logits = Tensor.from(c.f32('logits').subarray(0, 40), [4, 10], { device });
    const good = c.i32('labels').subarray(0, 4);
    for (const badLabel of [10, -1, 2 ** 31 - 1, -(2 ** 31)]) {
      const labels = Int32Array.from(good);
      labels[2] = badLabel;
      const onDevice = Tensor.from(labels, [4], { device, dtype: 'int32' });
      const { probs, stats } = softmaxCrossEntropy(logits, onDevice, { labelSmoothing: 0.1 });
      const [lossSum, correct] = stats.toArray();
      expect(lossSum).toBeNaN();
      // Row 2 is never counted correct; the others are as usual.
      const rest = [0, 1, 3];
      const expected = rest.filter((i) => expectedCorrect(c.f32('logits').subarray(i * 10, i * 10 + 10), good.subarray(i, i + 1), 10) === 1).length;
      expect(correct).toBe(expected);
      // The probabilities do not depend on the labels.
      expectClose(probs.toArray(), c.f64('probs').subarray(0, 40), PROBS, `label ${badLabel}: probs`);
      const dlogits = softmaxCrossEntropyBackward(probs, onDevice, { labelSmoothing: 0.1, scale: 1 / 16 }).toArray();
      for (let i = 0; i < 4; i++) {
        const row = Array.from(dlogits.subarray(i * 10, i * 10 + 10));
        if (i === 2) expect(row.every((v) => Number.isNaN(v))).toBe(true);
        else expectClose(row, c.f64('dlogits').subarray(i * 10, i * 10 + 10), dlogitsTolerance(1 / 16), `label ${badLabel}: dlogits row ${i}`);
      }
      // Accumulated into running stats, the NaN shows there too.
      const running = Tensor.from([5, 1], [2], { device });
      softmaxCrossEntropy(logits, onDevice, {}, { stats: running, accumulate: true });
      expect(running.toArray()[0]).toBeNaN();
    }
  });

  test('rejects bad inputs and options with messages naming the argument', () => {
    const logits = Tensor.zeros([4, 10], { device });
    const labels = Tensor.zeros([4], { device, dtype: 'int32' });
    expect(() => softmaxCrossEntropy([1] as never, labels)).toThrow('Expected a Tensor for logits but received [1]');
    expect(() => softmaxCrossEntropy(Tensor.zeros([4, 10, 1], { device }), labels)).toThrow('Expected a tensor of rank 2 for logits but received shape [4, 10, 1]');
    expect(() => softmaxCrossEntropy(Tensor.zeros([4, 0], { device }), labels)).toThrow('Expected at least one class for logits but received shape [4, 0]');
    expect(() => softmaxCrossEntropy(logits, Tensor.zeros([4], { device }))).toThrow('Expected an int32 tensor for labels but received a float32 tensor');
    expect(() => softmaxCrossEntropy(logits, Tensor.zeros([5], { device, dtype: 'int32' }))).toThrow('Expected shape [4] for labels but received [5]');
    expect(() => softmaxCrossEntropy(logits, labels, { labelSmoothing: 1.5 })).toThrow(new RangeError('Expected a number in [0, 1] for options.labelSmoothing but received 1.5'));
    expect(() => softmaxCrossEntropy(logits, labels, { labelSmoothing: '0.1' as never })).toThrow('Expected a number for options.labelSmoothing but received "0.1"');
    expect(() => softmaxCrossEntropy(logits, labels, 0.1 as never)).toThrow('Expected an options object for options but received 0.1');
    expect(() => softmaxCrossEntropy(logits, labels, {}, { stats: Tensor.zeros([3], { device }) })).toThrow('Expected shape [2] for out.stats but received [3]');
    expect(() => softmaxCrossEntropy(logits, labels, {}, { accumulate: 1 as never })).toThrow('Expected a boolean for out.accumulate but received 1');
    expect(() => softmaxCrossEntropyBackward(logits, labels, { scale: Number.NaN })).toThrow('Expected a number for options.scale but received NaN');
    expect(() => softmaxCrossEntropyBackward(logits, labels, { scale: Infinity })).toThrow('Expected a finite number for options.scale but received Infinity');
    expect(() => softmaxCrossEntropyBackward(logits, labels, {}, Tensor.zeros([10, 4], { device }))).toThrow('Expected shape [4, 10] for out but received [10, 4]');
  });
});

describe('softmax cross-entropy native checks', () => {
  const addon = native();
  const logits = new Float32Array(20);
  const labels = new Int32Array(2);

  test('a buffer too small for the sizes given is a RangeError naming it', () => {
    expect(() => addon.softmaxCrossEntropyForward(new Float32Array(20), new Float32Array(1), logits, labels, 2, 10, 0, false)).toThrow(
      new RangeError('Expected at least 2 elements for stats but received 1'),
    );
    expect(() => addon.softmaxCrossEntropyForward(new Float32Array(20), new Float32Array(2), logits, new Int32Array(1), 2, 10, 0, false)).toThrow(
      'Expected at least 2 elements for labels but received 1',
    );
    expect(() => addon.softmaxCrossEntropyBackward(new Float32Array(19), logits, labels, 2, 10, 0, 0.5)).toThrow('Expected at least 20 elements for dlogits but received 19');
  });

  test('labels and label smoothing are checked before the kernel runs', () => {
    expect(() => addon.softmaxCrossEntropyForward(new Float32Array(20), new Float32Array(2), logits, new Int32Array([0, 10]), 2, 10, 0, false)).toThrow(
      new RangeError('Expected class indices in [0, 10) for labels but received 10 at index 1'),
    );
    expect(() => addon.softmaxCrossEntropyForward(new Float32Array(20), new Float32Array(2), logits, labels, 2, 10, -0.5, false)).toThrow(
      new RangeError('Expected a number in [0, 1] for labelSmoothing but received -0.5'),
    );
    expect(() => addon.softmaxCrossEntropyForward(new Float32Array(20), new Float32Array(2), logits, new Float32Array(2) as never, 2, 10, 0, false)).toThrow(
      new TypeError('Expected an Int32Array for labels but received a Float32Array'),
    );
  });
});
