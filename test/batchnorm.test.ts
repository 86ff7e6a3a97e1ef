// BatchNorm1d / BatchNorm2d against PyTorch in float64 (test/fixtures/batchnorm.fixture,
// scripts/fixtures/batchnorm.py): forward, dx, dweight and dbias of a step in training or eval mode,
// running_mean / running_var / num_batches_tracked after that step and after a second one, for
// momentum 0.1, 0.3 and None (cumulative average), affine=False, track_running_stats=False, the
// smallest batch, an offset input (mean 30, std 0.5) and shapes spread over several CPU chunks or with
// 2 048 values per channel for one GPU block.
//
// Tolerance (test/helpers/tolerance.ts, K = M = N·L values per channel): every training-mode result
// goes through per-channel sums of M values (mean, variance, Σdy, Σdy·x̂) — in double on the CPU,
// in float32 on the GPU (per-thread partial sums, then a fixed tree) — so
//   elementwise |out − ref| ≤ 8·2⁻²⁴·√M·rms(ref) + 4·2⁻²⁴·|ref|,  ‖out − ref‖₂/‖ref‖₂ ≤ 2·2⁻²⁴·√M;
// eval-mode results (no sums: a few roundings per value) use the same bound with K = 1, except dweight
// and dbias, which are sums over M in both modes. num_batches_tracked is exact.
// The training-mode dx = w·invstd·(dy − mean(dy) − x̂·mean(dy·x̂)) cancels (for M = 2 it is exactly
// 0 but for eps), so its error scales with its operands, not with dx: the same bound with rms(ref)
// replaced by rms(w·invstd·dy), and the relative L2 bound by 2·2⁻²⁴·√M·‖w·invstd·dy‖/‖ref‖.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadModel, saveModel, stateDict } from '../lib/io/model_io';
import { native } from '../lib/native';
import { BatchNorm1d, BatchNorm2d } from '../lib/nn/batchnorm';
import { Linear } from '../lib/nn/linear';
import { buildModule } from '../lib/nn/registry';
import { Sequential } from '../lib/nn/sequential';
import { batchNorm, batchNormBackward } from '../lib/ops/batchnorm';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import type { Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { caseNamed, type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { EXACT, sumTolerance, sumTolerances, ULP } from './helpers/tolerance';

const cases = loadFixtures('batchnorm');

type Device = import('../lib/device').Device;

function layerFor(c: FixtureCase, device: Device): BatchNorm1d | BatchNorm2d {
  const { layer, C, momentum, affine, track } = c.params;
  const Layer = layer === 'BatchNorm1d' ? BatchNorm1d : BatchNorm2d;
  const bn = new Layer(C, { momentum, affine, trackRunningStats: track });
  if (affine) {
    bn.weight!.copyFrom(c.f32('weight'));
    bn.bias!.copyFrom(c.f32('bias'));
  }
  if (c.has('running_mean0')) {
    bn.runningMean!.copyFrom(c.f32('running_mean0'));
    bn.runningVar!.copyFrom(c.f32('running_var0'));
  }
  if (c.params.eval) bn.eval();
  return bn.to(device);
}

/** The training-mode dx bound (see the header): sumTolerance's, on the scale of w·invstd·dy. */
function dxTolerance(c: FixtureCase): Tolerance {
  const [n, channels] = c.get('x').shape;
  const m = valuesPerChannel(c);
  const l = m / n;
  const x = c.f64('x');
  const dy = c.f64('dy');
  const w = c.has('weight') ? c.f64('weight') : new Float64Array(channels).fill(1);
  const channelOf = (i: number) => Math.floor(i / l) % channels;
  const mean = new Float64Array(channels);
  const sq = new Float64Array(channels);
  for (let i = 0; i < x.length; i++) mean[channelOf(i)] += x[i] / m;
  for (let i = 0; i < x.length; i++) sq[channelOf(i)] += (x[i] - mean[channelOf(i)]) ** 2;
  let scaled2 = 0;
  for (let i = 0; i < dy.length; i++) {
    const ch = channelOf(i);
    scaled2 += (w[ch] * dy[i]) ** 2 / (sq[ch] / m + 1e-5);
  }
  const ref2 = c.f64('dx').reduce((a, v) => a + v * v, 0);
  const rootM = Math.sqrt(m);
  return {
    atol: 8 * ULP * rootM * Math.sqrt(scaled2 / dy.length),
    rtol: 4 * ULP,
    relNorm: Math.max(2 * ULP * rootM, 2 * ULP * rootM * Math.sqrt(scaled2 / ref2)),
  };
}

function valuesPerChannel(c: FixtureCase): number {
  const shape = c.get('x').shape;
  return shape[0] * shape.slice(2).reduce((a, b) => a * b, 1);
}

describe.each(DEVICES)('batchnorm on %s', (device) => {
  for (const c of cases) {
    test(`${c.name}: forward, dx, dweight, dbias, running statistics after one and two steps`, () => {
      const m = valuesPerChannel(c);
      const useBatchStats = !c.params.eval || !c.params.track;
      const bn = layerFor(c, device);
      const y = explicit(() => bn.forward(c.tensor('x', device)));
      // A new layer: its gradients start at zero.
      const dx = bn.backward(c.tensor('dy', device))!;
      const stats = (step: number) => ({
        [`running_mean${step}`]: bn.runningMean,
        [`running_var${step}`]: bn.runningVar,
        [`num_batches_tracked${step}`]: bn.numBatchesTracked,
      });
      const statsTolerances = (step: number) => ({
        ...sumTolerances({ [`running_mean${step}`]: m, [`running_var${step}`]: m }),
        [`num_batches_tracked${step}`]: EXACT,
      });
      checkOp(c, { y, dx, dweight: bn.weight?.grad, dbias: bn.bias?.grad, ...stats(1) }, {
        // eval with running statistics: no sums
        ...sumTolerances({ y: useBatchStats ? m : 1, dweight: m, dbias: m }),
        dx: useBatchStats ? dxTolerance(c) : (ref) => sumTolerance(1, ref),
        ...statsTolerances(1),
      });
      if (!c.params.affine) expect(bn.parameters()).toEqual([]);
      if (!c.params.track) expect(bn.namedBuffers()).toEqual([]);
      if (!c.params.eval) {
        const y2 = explicit(() => bn.forward(c.tensor('x2', device)));
        checkOp(c, { y2, ...stats(2) }, { y2: (ref) => sumTolerance(m, ref), ...statsTolerances(2) });
      }
    });
  }

  test('parameter gradients accumulate over backward calls; dx is overwritten', () => {
    const c = caseNamed(cases, '2d/N-C-H-W');
    const m = valuesPerChannel(c);
    const bn = layerFor(c, device);
    const dy = c.tensor('dy', device);
    explicit(() => bn.forward(c.tensor('x', device)));
    bn.backward(dy);
    const dx = bn.backward(dy)!;
    const twice = (name: string) => ({ shape: c.get(name).shape, data: c.f64(name).map((v) => 2 * v) });
    checkOp(c, { dx, dweight: bn.weight!.grad, dbias: bn.bias!.grad }, { dx: dxTolerance(c), ...sumTolerances({ dweight: m, dbias: m }) }, {
      label: 'parameter gradients accumulated',
      references: { dweight: twice('dweight'), dbias: twice('dbias') },
    });
  });

  test('results are bit-identical with 1 thread and with the default pool', () => {
    for (const name of ['1d/many-channels', '2d/many-values', '1d/N-C-L']) {
      const c = caseNamed(cases, name);
      expectSameBitsAcrossThreads(() => {
        const bn = layerFor(c, device);
        const y = explicit(() => bn.forward(c.tensor('x', device)));
        const dx = bn.backward(c.tensor('dy', device))!;
        return [y, dx, bn.weight!.grad, bn.bias!.grad, bn.runningMean!, bn.runningVar!];
      }, `${name} `);
    }
  });

  test('the functional op: eval-mode gradients, and gradients without dx or affine parameters', () => {
    const c = caseNamed(cases, '1d/eval');
    const m = valuesPerChannel(c);
    const x = c.tensor('x', device);
    const rm = c.tensor('running_mean0', device);
    const rv = c.tensor('running_var0', device);
    const w = c.tensor('weight', device);
    const b = c.tensor('bias', device);
    const tolerances = sumTolerances({ y: 1, dx: 1, dweight: m, dbias: m });
    const { y, saved } = batchNorm(x, rm, rv, w, b);
    expect(saved.training).toBe(false);
    const g = batchNormBackward(c.tensor('dy', device), x, w, saved, { inputGrad: false });
    expect(g.dx).toBeNull();
    checkOp(c, { y, dweight: g.dweight, dbias: g.dbias }, tolerances, { label: 'functional' });
    const onlyDx = batchNormBackward(c.tensor('dy', device), x, w, saved, { weightGrad: false, biasGrad: false });
    expect(onlyDx.dweight).toBeNull();
    checkOp(c, { dx: onlyDx.dx }, tolerances, { label: 'functional, dx only' });
    // Running statistics stay as given in eval mode.
    expect(Array.from(rm.toArray())).toEqual(Array.from(c.f32('running_mean0')));
  });

  test('buffers and parameters carry PyTorch state_dict names and shapes; config rebuilds the layer', () => {
    const model = new Sequential(new Linear(4, 3), new BatchNorm1d(3, { momentum: null }));
    model.to(device);
    const names = Object.entries(stateDict(model)).map(([name, t]) => `${name} [${t.shape.join(', ')}]`);
    expect(names).toEqual([
      '0.weight [3, 4]', '0.bias [3]', '1.weight [3]', '1.bias [3]',
      '1.running_mean [3]', '1.running_var [3]', '1.num_batches_tracked []',
    ]);
    const bn = new BatchNorm2d(8, { eps: 1e-3, momentum: null, affine: false });
    expect(bn.toString()).toBe('BatchNorm2d(8, eps=0.001, momentum=None, affine=False, track_running_stats=True)');
    expect(new BatchNorm1d(16).toString()).toBe('BatchNorm1d(16, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)');
    expect(buildModule(JSON.parse(JSON.stringify(bn.config()))).toString()).toBe(bn.toString());
    expect(Array.from(new BatchNorm1d(2).runningVar!.toArray())).toEqual([1, 1]);
  });

  test('a saved model reloads with its running statistics and gives the same eval output', () => {
    const c = caseNamed(cases, '2d/N-C-H-W');
    const model = new Sequential(layerFor(c, device));
    model.forward(c.tensor('x', device));
    model.forward(c.tensor('x2', device));
    model.eval();
    const expected = model.forward(c.tensor('x', device)).toArray();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-bn-'));
    try {
      saveModel(dir, model);
      const { model: loaded } = loadModel(dir);
      expect(Object.keys(stateDict(loaded))).toEqual(['0.weight', '0.bias', '0.running_mean', '0.running_var', '0.num_batches_tracked']);
      expect(Array.from(stateDict(loaded)['0.num_batches_tracked'].data)).toEqual([2]);
      loaded.eval().to(device);
      expect(Array.from(loaded.forward(c.tensor('x', device)).toArray())).toEqual(Array.from(expected));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('rejects bad input and options, naming them', () => {
    const bn1 = new BatchNorm1d(3).to(device);
    const bn2 = new BatchNorm2d(3).to(device);
    expect(() => bn1.forward(Tensor.zeros([2, 3, 4, 5], { device }))).toThrow(
      'Expected input of shape [N, 3] or [N, 3, L] for BatchNorm1d but received [2, 3, 4, 5]',
    );
    expect(() => bn2.forward(Tensor.zeros([2, 3, 4], { device }))).toThrow('Expected input of shape [N, 3, H, W] for BatchNorm2d but received [2, 3, 4]');
    expect(() => bn2.forward(Tensor.zeros([2, 4, 1, 1], { device }))).toThrow(
      'Expected input with 3 channels (dimension 1) for BatchNorm2d but received shape [2, 4, 1, 1]',
    );
    expect(() => bn1.forward(Tensor.zeros([1, 3], { device }))).toThrow(
      'Expected more than 1 value per channel when training for x but received shape [1, 3]',
    );
    expect(() => bn1.backward(Tensor.zeros([2, 3], { device }))).toThrow('BatchNorm1d.backward() needs a forward() first (no saved input)');
    expect(() => new BatchNorm1d(0)).toThrow('Expected an integer ≥ 1 for numFeatures but received 0');
    expect(() => new BatchNorm1d(3, { eps: -1 })).toThrow('Expected a finite number ≥ 0 for options.eps but received -1');
    expect(() => new BatchNorm1d(3, { affine: 1 as never })).toThrow('Expected a boolean for options.affine but received 1');

    const x = Tensor.zeros([4, 3], { device });
    const c3 = Tensor.zeros([3], { device });
    expect(() => batchNorm(x, null, null, null, null)).toThrow('Expected a [3] tensor for runningMean but received null');
    expect(() => batchNorm(x, c3, null, null, null, { training: true })).toThrow('Expected a [3] tensor for runningVar but received null');
    expect(() => batchNorm(x, c3, c3, Tensor.zeros([4], { device }), null)).toThrow('Expected shape [3] for weight but received [4]');
    expect(() => batchNorm(Tensor.zeros([4], { device }), c3, c3, null, null)).toThrow(
      'Expected a tensor of rank 2, 3 or 4 ([N, C, …]) for x but received shape [4]',
    );
    expect(() => batchNorm(x, c3, c3, null, null, { training: true, momentum: null })).toThrow(
      'for options.numBatchesTracked but received undefined',
    );
    expect(() => batchNorm(x, c3, c3, null, null, { eps: NaN })).toThrow('Expected a number for options.eps but received NaN');
    expect(() => batchNorm(x, c3, c3, null, null, { train: true } as never)).toThrow(
      'Expected one of the options training, momentum, eps, numBatchesTracked for options but received "train"',
    );
    const { saved } = batchNorm(x, c3, c3, null, null, { training: true });
    expect(() => batchNormBackward(Tensor.zeros([4, 2], { device }), x, null, saved)).toThrow('Expected shape [4, 2] for x but received [4, 3]');
    expect(() => batchNormBackward(x, x, null, saved, { accumulate: true, weightGrad: true })).toThrow(
      'Expected the gradient to accumulate into for options.out.dweight but received undefined',
    );

    const short = device === 'cpu' ? new Float32Array(11) : Tensor.zeros([11], { device }).buffer;
    expect(() => native().batchNormForwardEval(x.buffer, short, c3.buffer, c3.buffer, null, null, 4, 3, 1, 1e-5)).toThrow(RangeError);
    expect(() => native().batchNormForwardTrain(x.buffer, c3.buffer, c3.buffer, null, null, null, x.buffer, null, null, 1, 3, 1, 0.1, false, 1e-5)).toThrow(
      'Expected more than 1 value per channel when training for x but received N·L = 1',
    );
  });
});

// The CPU kernels sum each plane in float vector lanes (at most 16 values a lane, into double every
// 1024 values) around a pivot near the mean, in one pass (Σ(x − p), Σ(x − p)²) or, where the pivot
// lies over a standard deviation from the mean, two (then around the mean): a channel whose mean
// is large next to its spread, or whose first value is far from the rest, must lose nothing to
// cancellation, and long planes (128×128: four 4 096-value blocks of four float runs each) must
// add up as accurately as short ones (5×5: a first-value pivot and masked tails). Reference:
// float64 over the same float32 inputs. Bounds: the lanes' float sums carry at most
// 16·2⁻²⁴ ≈ 1e-6 of the magnitudes summed, which are the spread's, so invstd, y and the gradients
// hold to 1e-6 relative (measured at 128×128: 3e-8 for invstd, up to 2.3e-7 for the others);
// summing x in float without a pivot gave invstd 5e-6 off for channel 0.
describe('batchnorm statistics accuracy (CPU)', () => {
  test.each([
    [2, 4, 128, 128],
    [64, 4, 5, 5],
  ])('large mean with a small spread and an outlier first value, against float64: [%i, %i, %i, %i]', (n, c, h, w) => {
    const l = h * w;
    const g = new Generator(7);
    // channel 0: mean 1e4, std 0.1; 1: mean −3, std 2; 2: mean 0, std 1e-3; 3: N(0, 1) with each
    // plane's first value 1e3
    const means = [1e4, -3, 0, 0];
    const stds = [0.1, 2, 1e-3, 1];
    const xs = new Float32Array(n * c * l);
    const dys = new Float32Array(n * c * l);
    for (let p = 0; p < n * c; p++) {
      const ch = p % c;
      for (let j = 0; j < l; j++) {
        xs[p * l + j] = means[ch] + stds[ch] * g.normal();
        dys[p * l + j] = g.normal();
      }
      if (ch === 3) xs[p * l] = 1e3;
    }
    const x = Tensor.from(xs, [n, c, h, w]);
    const dy = Tensor.from(dys, [n, c, h, w]);
    const weight = Tensor.from(new Float32Array([1.5, -0.5, 2, 1]), [c]);
    const eps = 1e-5;
    const { y, saved } = batchNorm(x, null, null, weight, null, { training: true, eps });
    const grads = batchNormBackward(dy, x, weight, saved);
    const yv = y.toArray() as Float32Array;
    const invstd = (saved as { saveInvstd: Tensor }).saveInvstd.toArray() as Float32Array;
    const dx = grads.dx!.toArray() as Float32Array;
    const dweight = grads.dweight!.toArray() as Float32Array;
    const dbias = grads.dbias!.toArray() as Float32Array;
    const m = n * l;
    const weights = weight.toArray() as Float32Array;
    for (let ch = 0; ch < c; ch++) {
      const at = (i: number, j: number) => (i * c + ch) * l + j;
      let mean = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < l; j++) mean += xs[at(i, j)];
      mean /= m;
      let sq = 0;
      for (let i = 0; i < n; i++) for (let j = 0; j < l; j++) sq += (xs[at(i, j)] - mean) ** 2;
      const refInvstd = 1 / Math.sqrt(sq / m + eps);
      expect(Math.abs(invstd[ch] - refInvstd) / refInvstd, `invstd, channel ${ch}`).toBeLessThan(1e-6);
      let sumDy = 0;
      let sumDyXhat = 0;
      let worstY = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < l; j++) {
          const xhat = (xs[at(i, j)] - mean) * refInvstd;
          sumDy += dys[at(i, j)];
          sumDyXhat += dys[at(i, j)] * xhat;
          worstY = Math.max(worstY, Math.abs(yv[at(i, j)] - xhat * weights[ch]) / (1 + Math.abs(xhat)));
        }
      }
      expect(worstY, `y, channel ${ch}`).toBeLessThan(1e-6 * Math.abs(weights[ch]));
      // dweight = Σ dy·x̂ is a sum of M terms of either sign: its bound is on their root-sum-square
      expect(Math.abs(dweight[ch] - sumDyXhat), `dweight, channel ${ch}`).toBeLessThan(1e-6 * Math.sqrt(m) + 1e-6 * Math.abs(sumDyXhat));
      expect(Math.abs(dbias[ch] - sumDy), `dbias, channel ${ch}`).toBeLessThan(1e-6 * Math.sqrt(m));
      const wk = weights[ch];
      let worstDx = 0;
      for (let i = 0; i < n; i++) {
        for (let j = 0; j < l; j++) {
          const xhat = (xs[at(i, j)] - mean) * refInvstd;
          const ref = wk * refInvstd * (dys[at(i, j)] - sumDy / m - xhat * (sumDyXhat / m));
          worstDx = Math.max(worstDx, Math.abs(dx[at(i, j)] - ref) / (Math.abs(wk * refInvstd) * (1 + Math.abs(dys[at(i, j)]))));
        }
      }
      expect(worstDx, `dx, channel ${ch}`).toBeLessThan(1e-6);
    }
  });
});
