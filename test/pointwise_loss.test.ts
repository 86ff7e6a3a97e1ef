// BCE with logits and MSE against PyTorch (test/fixtures/pointwise_loss.fixture,
// scripts/fixtures/pointwise_loss.py): the functional ops and the BCEWithLogitsLoss / MSELoss
// classes, mean reduction.
//
// Tolerances (float32 result vs float64 reference):
//   loss (stats[0] / N against the mean): atol 1e-7, rtol 1e-6. Element losses are formed and
//     summed in double from the float32 inputs, so the only rounding that matters is stats[0]'s
//     conversion to float32 (2⁻²⁴ ≈ 6e-8 relative); atol admits a mean of exactly 0.
//   dx: atol 4e-7·scale·max(1, pos_weight), rtol 4e-7, relNorm 2e-7. BCE: scale·((1 − t)·σ(x) −
//     w·t·σ(−x)) in float32, each σ from expf and one division (≲ 3·2⁻²⁴ ≈ 2e-7 relative); the two
//     terms cancel for soft targets, which exposes that error absolutely (up to w·2e-7·scale); hard
//     targets do not cancel, so even saturated gradients (logits ±20, ±100) keep their relative
//     precision. MSE: scale·2·(x − t), two roundings (≲ 2·2⁻²⁴ relative).
//   BCE accuracy statistic: exact (computed here from the inputs).
// Measured on CPU and emulated CUDA: loss max rel 3.6e-8; dx max |diff|/scale 3.1e-7 (soft targets),
// max rel 3.3e-6 where soft targets cancel, rel L2 ≤ 7.2e-8.
import { describe, expect, test } from 'vitest';
import { BCEWithLogitsLoss, MSELoss, type LossFunction } from '../lib/nn/loss';
import { native } from '../lib/native';
import { bceWithLogits, bceWithLogitsBackward, mseLoss, mseLossBackward } from '../lib/ops/pointwise_loss';
import { Tensor } from '../lib/tensor';
import { expectClose, type Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { caseNamed, type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp, checkTensor } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';

const LOSS: Tolerance = { atol: 1e-7, rtol: 1e-6, relNorm: 1e-6 };
const dxTolerance = (scale: number, posWeight = 1): Tolerance => ({ atol: 4e-7 * scale * Math.max(1, posWeight), rtol: 4e-7, relNorm: 2e-7 });

const cases = loadFixtures('pointwise_loss');
const named = (name: string) => caseNamed(cases, name);

/** Σ over samples of the fraction of elements with (x > 0) = (t > 0.5). */
function expectedAccuracySum(c: FixtureCase): number {
  const x = c.f32('x');
  const t = c.f32('target');
  const n = c.get('x').shape[0];
  const m = x.length / n;
  let right = 0;
  for (let i = 0; i < x.length; i++) if (x[i] > 0 === t[i] > 0.5) right++;
  return right / m;
}

describe.each(DEVICES)('pointwise losses on %s', (device) => {
  const load = (c: FixtureCase, name: string) => c.tensor(name, device);

  for (const c of cases) {
    test(c.name, () => {
      const x = load(c, 'x');
      const target = load(c, 'target');
      const n = x.shape[0];
      const scale = 1 / x.size;
      if (c.params.op === 'bce') {
        const options = { posWeight: c.has('posWeight') ? load(c, 'posWeight') : null };
        const largestWeight = c.has('posWeight') ? Math.max(...c.f32('posWeight')) : 1;
        const tolerances = { loss: LOSS, dx: dxTolerance(scale, largestWeight) };
        const [lossSum, accuracySum] = bceWithLogits(x, target, options).toArray();
        checkOp(c, { loss: [lossSum / n], dx: bceWithLogitsBackward(x, target, options) }, tolerances);
        checkTensor(`${c.name} accuracy`, [accuracySum], [expectedAccuracySum(c)], { atol: 2e-6 * n, rtol: 1e-6 });
        // The loss class: same statistics, same gradient.
        const lossFn = new BCEWithLogitsLoss(options);
        checkOp(c, { loss: [lossFn.forward(x, target).loss()], dx: lossFn.backward() }, tolerances, { label: 'BCEWithLogitsLoss' });
        lossFn.dispose();
      } else {
        const tolerances = { loss: LOSS, dx: dxTolerance(scale) };
        const [lossSum, unused] = mseLoss(x, target).toArray();
        expect(unused).toBe(0);
        checkOp(c, { loss: [lossSum / n], dx: mseLossBackward(x, target) }, tolerances);
        const lossFn = new MSELoss();
        const result = lossFn.forward(x, target);
        expect(result.accuracy()).toBe(0);
        checkOp(c, { loss: [result.loss()], dx: lossFn.backward() }, tolerances, { label: 'MSELoss' });
      }
    });
  }

  test('BCE at logits of ±100: finite losses, exact saturated gradients', () => {
    const c = named('bce/logits pm100');
    const dx = bceWithLogitsBackward(load(c, 'x'), load(c, 'target')).toArray();
    // (x, t) = (100, 1) and (−100, 0): the gradient is −σ(−100)/12 ≈ −3e-45, i.e. 0 in float32.
    expect(Math.abs(dx[0])).toBeLessThan(1e-44);
    expect(Math.abs(dx[1])).toBeLessThan(1e-44);
    expect(dx[2]).toBe(Math.fround(1 / 12)); // (100, 0): σ(100) − 0 = 1 in float32
    expect(dx[3]).toBe(-Math.fround(1 / 12)); // (−100, 1): −σ(100)
    const stats = bceWithLogits(load(c, 'x'), load(c, 'target')).toArray();
    expect(Number.isFinite(stats[0])).toBe(true);
  });

  test('statistics accumulate over batches into a given tensor; scale multiplies the gradient', () => {
    const c = named('bce/n16_c10 soft targets');
    const x = load(c, 'x');
    const target = load(c, 'target');
    const stats = Tensor.from([10, 2], [2], { device });
    expect(bceWithLogits(x, target, {}, { stats, accumulate: true })).toBe(stats);
    bceWithLogits(x, target, {}, { stats, accumulate: true });
    const mean = c.f64('loss')[0];
    expectClose([stats.toArray()[0]], [10 + 2 * 16 * mean], LOSS, 'accumulated BCE');
    expectClose([stats.toArray()[1]], [2 + 2 * expectedAccuracySum(c)], { atol: 1e-5, rtol: 1e-6 }, 'accumulated accuracy');
    const m = named('mse/n16_c10');
    const mseStats = Tensor.from([1, 7], [2], { device });
    mseLoss(load(m, 'x'), load(m, 'target'), { stats: mseStats, accumulate: true });
    expectClose(Array.from(mseStats.toArray()), [1 + 16 * m.f64('loss')[0], 7], LOSS, 'accumulated MSE (stats[1] unchanged)');
    const full = bceWithLogitsBackward(x, target, { scale: 1 });
    expectClose(full.toArray(), c.f64('dx').map((v) => v * 160), dxTolerance(1), 'BCE dx, scale 1');
    // out may be the input itself
    const copy = load(m, 'x');
    expect(mseLossBackward(copy, load(m, 'target'), {}, copy)).toBe(copy);
    expectClose(copy.toArray(), m.f64('dx'), dxTolerance(1 / 160), 'MSE dx in place');
  });

  test('the LossFunction interface: accumulateInto and accumulatedCount, as CrossEntropyLoss', () => {
    const c = named('bce/pos_weight per class');
    const losses: LossFunction[] = [new BCEWithLogitsLoss({ posWeight: Array.from(c.f32('posWeight')) }), new MSELoss()];
    const x = load(c, 'x');
    const target = load(c, 'target');
    for (const lossFn of losses) {
      const stats = Tensor.zeros([2], { device });
      lossFn.forward(x, target, { accumulateInto: stats });
      const result = lossFn.forward(x, target, { accumulateInto: stats, accumulatedCount: 16 });
      expect(result.stats).toBe(stats);
      expect(result.count).toBe(16);
      const single = lossFn.forward(x, target).loss();
      expect(result.loss()).toBeCloseTo(single, 6);
      lossFn.dispose();
    }
    // posWeight given as a host array is moved to the input's device.
    const bce = new BCEWithLogitsLoss({ posWeight: c.f32('posWeight') });
    expectClose([bce.forward(x, target).loss()], c.f64('loss'), LOSS, 'posWeight from an array');
    expect(String(bce)).toMatch(/^BCEWithLogitsLoss\(pos_weight=\[/);
    expect(() => new BCEWithLogitsLoss().backward()).toThrow('BCEWithLogitsLoss.backward() needs a forward() first');
    expect(() => new MSELoss().backward()).toThrow('MSELoss.backward() needs a forward() first');
  });

  test('1 thread and the default thread count give bit-identical results', () => {
    const b = named('bce/n5000_c10');
    const m = named('mse/n5000_c10');
    expectSameBitsAcrossThreads(() => [
      bceWithLogits(load(b, 'x'), load(b, 'target')),
      bceWithLogitsBackward(load(b, 'x'), load(b, 'target')),
      mseLoss(load(m, 'x'), load(m, 'target')),
      mseLossBackward(load(m, 'x'), load(m, 'target')),
    ]);
  });

  test('an empty batch gives zero statistics', () => {
    const x = Tensor.zeros([0, 3], { device });
    const stats = Tensor.from([5, 5], [2], { device });
    expect(Array.from(bceWithLogits(x, x, {}, { stats }).toArray())).toEqual([0, 0]);
    expect(Array.from(mseLoss(x, Tensor.zeros([0, 3], { device })).toArray())).toEqual([0, 0]);
    expect(bceWithLogitsBackward(x, Tensor.zeros([0, 3], { device })).shape).toEqual([0, 3]);
  });

  test('rejects bad inputs and options with messages naming the argument', () => {
    const x = Tensor.zeros([4, 3], { device });
    const t = Tensor.zeros([4, 3], { device });
    expect(() => bceWithLogits('x' as never, t)).toThrow('Expected a Tensor for input but received "x"');
    expect(() => bceWithLogits(x, Tensor.zeros([4, 2], { device }))).toThrow(new RangeError('Expected shape [4, 3] for target but received [4, 2]'));
    expect(() => bceWithLogits(x, Tensor.zeros([4, 3], { device, dtype: 'int32' }))).toThrow('Expected a float32 tensor for target but received an int32 tensor');
    expect(() => bceWithLogits(Tensor.zeros([], { device }), Tensor.zeros([], { device }))).toThrow('Expected a tensor of rank ≥ 1 ([N, …]) for input but received shape []');
    expect(() => mseLoss(Tensor.zeros([4, 0], { device }), Tensor.zeros([4, 0], { device }))).toThrow(
      'Expected at least one element per sample for input but received shape [4, 0]',
    );
    expect(() => bceWithLogits(x, t, { posWeight: Tensor.zeros([2], { device }) })).toThrow(
      new RangeError('Expected shape [3] (the last dimension of input) or [1] for options.posWeight but received [2]'),
    );
    expect(() => bceWithLogits(x, t, { posWeight: [1, 2, 3] as never })).toThrow('Expected a Tensor for options.posWeight but received [1, 2, 3]');
    expect(() => bceWithLogits(x, t, 'none' as never)).toThrow('Expected an options object for options but received "none"');
    expect(() => bceWithLogits(x, t, {}, { stats: Tensor.zeros([1], { device }) })).toThrow('Expected shape [2] for out.stats but received [1]');
    expect(() => mseLoss(x, t, { accumulate: true })).toThrow('Expected a tensor to accumulate into (out.accumulate is true) for out.stats but received undefined');
    expect(() => mseLoss(x, t, { accumulate: 'yes' as never })).toThrow('Expected a boolean for out.accumulate but received "yes"');
    expect(() => mseLossBackward(x, t, { scale: Infinity })).toThrow(new RangeError('Expected a finite number for options.scale but received Infinity'));
    expect(() => bceWithLogitsBackward(x, t, {}, Tensor.zeros([3, 4], { device }))).toThrow('Expected shape [4, 3] for out but received [3, 4]');
    expect(() => new BCEWithLogitsLoss({ posWeight: 2 as never })).toThrow('Expected a Tensor or an array of numbers for posWeight but received 2');
    expect(() => new BCEWithLogitsLoss({ posWeight: Tensor.zeros([2, 2]) })).toThrow('Expected a float32 tensor of rank 1 for posWeight but received a Tensor');
  });
});

describe('pointwise loss native checks', () => {
  const addon = native();

  test('a buffer too small for the sizes given is a RangeError naming it', () => {
    const x = new Float32Array(12);
    expect(() => addon.bceWithLogitsForward(new Float32Array(1), x, x, null, 4, 3, 0, false)).toThrow(new RangeError('Expected at least 2 elements for stats but received 1'));
    expect(() => addon.bceWithLogitsForward(new Float32Array(2), x, new Float32Array(11), null, 4, 3, 0, false)).toThrow('Expected at least 12 elements for target but received 11');
    expect(() => addon.bceWithLogitsForward(new Float32Array(2), x, x, new Float32Array(2), 4, 3, 3, false)).toThrow('Expected at least 3 elements for posWeight but received 2');
    expect(() => addon.bceWithLogitsBackward(new Float32Array(11), x, x, null, 12, 0, 1)).toThrow('Expected at least 12 elements for dx but received 11');
    expect(() => addon.mseForward(new Float32Array(2), new Float32Array(8), x, 4, 3, false)).toThrow('Expected at least 12 elements for x but received 8');
    expect(() => addon.mseBackward(x, x, x, 12, Number.NaN)).toThrow('Expected a finite number for scale but received NaN');
    expect(() => addon.bceWithLogitsForward(new Float32Array(2), x, x, new Float32Array(3), 4, 3, 0, false)).toThrow('Expected an integer in [1, 2147483647] for P but received 0');
  });
});
