// The fused convolution → BatchNorm2d (training) → ReLU (→ 2×2 max-pool) (ops.conv2dBatchNormRelu,
// native/kernels/conv2d_batchnorm.h) and Sequential's use of it (nn/fused.ts ConvBnReluStep).
//
// 1. Against PyTorch in float64 (test/fixtures/conv2d_batchnorm.fixture,
//    scripts/fixtures/conv2d_batchnorm.py): y, dx, the convolution's dw (and db), the batch norm's
//    dweight and dbias, running_mean, running_var, num_batches_tracked after one step.
//    Tolerance: CONV's rule (test/helpers/tolerance.ts: atol 1e-5·rms(ref), rtol 1e-5, relNorm
//    1e-5) for y and every gradient: z carries the convolution's error, which the batch norm
//    rescales by 1/std(z) along with z itself, so y's error relative to rms(y) stays on z's scale
//    (plus the statistics' sums over M = N·OH·OW in double). Measured worst here: relative L2 error
//    3.6e-7, elementwise within 1.5e-6·rms(ref) (y of the deep layers; every gradient passes at a
//    bound 10× tighter). Where the batch norm's dz cancels (the smallest batch, M = 2; the
//    convolution's db = Σdz = 0) dx, dw and db get an absolute term on the scale of dz's operands
//    (cancellationTolerances, as test/batchnorm.test.ts's dx). The running statistics: a sum over M
//    of z (sumTolerance) on top of z's 1e-5; num_batches_tracked is exact.
// 2. Bit for bit against conv2d, batchNorm, (maxPool2d,) relu and their backward ops run one by one,
//    and Sequential with fuse = false (three SGD steps of a small network with the deep network's
//    block shapes): the fused kernels are built from the same per-plane building blocks and the same
//    convolution passes, so no tolerance. On CUDA (a GPU or the emulator) Sequential runs the
//    layers one by one (no fused CUDA kernel yet): checked to give the unfused bits too.
// 3. conv2dRelu (inference's convolution → ReLU (→ pool)) bit for bit against conv2d, maxPool2d, relu.
// 4. Inference (Module.inference(), eval mode): each batch norm folded into its convolution's
//    weight and bias (nn/fused.ts FoldedConvBatchNorm) against the layers run one by one in
//    explicit(). Not bit-identical: the folded weight w·s is rounded to float32 once per weight
//    instead of scaling each float32 sum, a relative error of about 2⁻²⁴ per product, so the
//    convolution's rule (stacked: atol 1e-5·rms(ref), rtol 1e-5, relNorm 1e-5) applies. Measured:
//    relative L2 error 1.4e-7 to 3.6e-7. CPU only: on CUDA the layers run one by one.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { ReLU } from '../lib/nn/activation';
import { BatchNorm2d } from '../lib/nn/batchnorm';
import { Conv2d } from '../lib/nn/conv2d';
import { Flatten } from '../lib/nn/flatten';
import { Linear } from '../lib/nn/linear';
import { MaxPool2d } from '../lib/nn/pool2d';
import { Sequential } from '../lib/nn/sequential';
import { relu, reluBackward } from '../lib/ops/activation';
import { batchNorm, batchNormBackward } from '../lib/ops/batchnorm';
import { conv2d, conv2dBackward } from '../lib/ops/conv2d';
import { conv2dBatchNormRelu, conv2dBatchNormReluBackward, conv2dBatchNormReluRecomputes, conv2dRelu } from '../lib/ops/conv2d_batchnorm';
import { maxPool2d, maxPool2dBackward } from '../lib/ops/pool2d';
import { SGD } from '../lib/optim/sgd';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import type { Tolerance } from './helpers/compare';
import { expectClose, expectIdentical, expectIdenticalParameters } from './helpers/compare';
import type { ConvCaseSizes } from './helpers/conv';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { explicitStep } from './helpers/explicit_step';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { EXACT, rms, sumTolerance, ULP } from './helpers/tolerance';

const CASES = loadFixtures('conv2d_batchnorm');

/** y and every gradient: the convolution's rule (see the header). */
const stacked = (ref: ArrayLike<number>): Tolerance => ({ atol: 1e-5 * rms(ref), rtol: 1e-5, relNorm: 1e-5 });
const expectStacked = (actual: ArrayLike<number>, expected: ArrayLike<number>, label: string) => expectClose(actual, expected, stacked(expected), label);

function valuesPerChannel(c: FixtureCase): number {
  const [n] = c.get('x').shape;
  const [, , kh, kw] = c.get('weight').shape;
  const [h, w] = c.get('x').shape.slice(2);
  const { stride, padding } = c.params;
  const out = (size: number, k: number) => Math.floor((size + 2 * padding - k) / stride) + 1;
  return n * out(h, kh) * out(w, kw);
}

/**
 * dx, dw and the convolution's db when the batch norm's dz = w·invstd·(g − mean(g) − x̂·mean(g·x̂))
 * cancels (the smallest batch: exactly 0 but for eps; db = Σdz = 0 always): their error scales with
 * dz's operands, not with the result (as test/batchnorm.test.ts's dx). dz's error is at most
 * 8·2⁻²⁴·√M·s with s = rms(w·invstd)·rms(dy); dx sums K·kh·kw of it times the weights, dw M of it
 * times x, db M of it. Added to the stacked bound's atol.
 */
function cancellationTolerances(c: FixtureCase, saveInvstd: Tensor, bnWeight: Tensor | null, m: number) {
  const invstd = saveInvstd.toArray();
  const w = bnWeight?.toArray() ?? invstd.map(() => 1);
  const s = rms(invstd.map((v, k) => v * w[k])) * rms(c.f64('dy'));
  const dz = 8 * ULP * Math.sqrt(m) * s;
  const [k, , kh, kw] = c.get('weight').shape;
  const plus = (extra: number) => (ref: ArrayLike<number>): Tolerance => {
    const base = stacked(ref);
    return { atol: base.atol + extra, rtol: base.rtol, relNorm: (base.relNorm ?? 0) + extra / Math.max(rms(ref), Number.MIN_VALUE) };
  };
  return {
    dx: plus(dz * rms(c.f64('weight')) * Math.sqrt(k * kh * kw)),
    dw: plus(dz * rms(c.f64('x')) * Math.sqrt(m)),
    db: plus(dz * Math.sqrt(m)),
  };
}

/** The running statistics: a sum over M of z, which itself carries the convolution's error. */
function statsTolerance(m: number) {
  return (ref: ArrayLike<number>): Tolerance => {
    const sum = sumTolerance(m, ref);
    return { atol: sum.atol + 1e-5 * rms(ref), rtol: sum.rtol + 1e-5, relNorm: (sum.relNorm ?? 0) + 1e-5 };
  };
}

describe('conv2dBatchNormRelu against PyTorch (float64)', () => {
  // Each case as the kernels' rule runs it (deep layer 1: the convolution recomputed, z null), and,
  // where the recomputed path applies (no pool, no convBias), with it forced (out.z null).
  const runs = CASES.flatMap((c) => [
    { c, z: undefined, label: '' },
    ...(c.params.pool || c.params.convBias ? [] : [{ c, z: null, label: ' (z recomputed)' }]),
  ]);
  for (const { c, z: outZ, label } of runs) {
    test(`${c.name}${label}: y, dx, dw, db, dweight, dbias, running statistics`, () => {
      const { stride, padding, pool, momentum, affine, convBias, inputGrad } = c.params;
      const k = c.get('weight').shape[0];
      const runningMean = Tensor.zeros([k]);
      const runningVar = Tensor.full([k], 1);
      const numBatchesTracked = Tensor.zeros([1]);
      const bnWeight = affine ? c.tensor('bn_weight') : null;
      const x = c.tensor('x');
      const weight = c.tensor('weight');
      const saved = conv2dBatchNormRelu(x, weight, convBias ? c.tensor('bias') : null, bnWeight, affine ? c.tensor('bn_bias') : null, runningMean, runningVar, {
        stride,
        padding,
        pool,
        momentum,
        numBatchesTracked,
      }, { z: outZ });
      if (outZ === null) expect(saved.z).toBeNull();
      const grads = conv2dBatchNormReluBackward(c.tensor('dy'), saved, x, weight, bnWeight, { stride, padding, pool, inputGrad, convBiasGrad: convBias });
      const m = valuesPerChannel(c);
      checkOp(
        c,
        {
          y: saved.y,
          dx: grads.dx,
          dw: grads.dw,
          db: grads.convDb,
          dweight: grads.dweight,
          dbias: grads.dbias,
          running_mean: runningMean,
          running_var: runningVar,
          num_batches_tracked: numBatchesTracked.toArray(),
        },
        {
          y: stacked,
          ...cancellationTolerances(c, saved.saveInvstd, bnWeight, m),
          dweight: stacked,
          dbias: stacked,
          running_mean: statsTolerance(m),
          running_var: statsTolerance(m),
          num_batches_tracked: EXACT,
        },
      );
    });
  }
});

interface Case extends ConvCaseSizes {
  kernel: number;
  stride?: number;
  padding?: number;
  convBias: boolean;
  pool: boolean;
  affine: boolean;
  /** Values of the input far from 0 (mean 3): the batch norm's centring matters. */
  offset?: number;
}

const BIT_CASES: Case[] = [
  { name: 'deep layer 2 (32→32, 26×26, pool), batch 8', n: 8, c: 32, h: 28, w: 28, k: 32, kernel: 3, convBias: false, pool: true, affine: true },
  { name: 'deep layer 3 (32→64, 12×12), batch 8', n: 8, c: 32, h: 14, w: 14, k: 64, kernel: 3, convBias: false, pool: false, affine: true },
  { name: 'deep layer 4 (64→64, 10×10, pool), batch 8', n: 8, c: 64, h: 10, w: 10, k: 64, kernel: 3, convBias: false, pool: true, affine: true },
  // ≥ 1,536 output positions: 'auto' takes Winograd's dW and (AVX-512) the channels-in-lanes dx
  { name: 'deep layer 3 (32→64, 12×12), batch 16', n: 16, c: 32, h: 14, w: 14, k: 64, kernel: 3, convBias: false, pool: false, affine: true },
  { name: 'deep layer 1 (1→32, 26×26), batch 16', n: 16, c: 1, h: 28, w: 28, k: 32, kernel: 3, convBias: false, pool: false, affine: true },
  // padding: Winograd's dx and dW, from dz made sample by sample (several samples a block), with db
  { name: '32→32 8×8, padding 1, conv bias, batch 32', n: 32, c: 32, h: 8, w: 8, k: 32, kernel: 3, padding: 1, convBias: true, pool: false, affine: true },
  { name: 'conv bias, padding 1, odd output + pool, offset input', n: 3, c: 3, h: 11, w: 9, k: 5, kernel: 3, padding: 1, convBias: true, pool: true, affine: true, offset: 3 },
  { name: 'odd output height, even width (9×10) + pool', n: 3, c: 2, h: 11, w: 12, k: 4, kernel: 3, convBias: false, pool: true, affine: true },
  { name: 'stride 2, 5×5, affine=False', n: 4, c: 2, h: 13, w: 13, k: 6, kernel: 5, stride: 2, padding: 2, convBias: false, pool: false, affine: false },
  { name: 'tiny output (2×2: the im2col path) + pool', n: 5, c: 4, h: 4, w: 4, k: 3, kernel: 3, convBias: true, pool: true, affine: true },
];

function random(shape: readonly number[], g: Generator, scale = 1, offset = 0): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(Float32Array.from({ length: size }, () => offset + scale * g.normal()), shape);
}

function inputs(c: Case, seed: number) {
  const g = new Generator(seed);
  return {
    x: random([c.n, c.c, c.h, c.w], g, 1, c.offset ?? 0),
    weight: random([c.k, c.c, c.kernel, c.kernel], g, 1 / Math.sqrt(c.c * c.kernel * c.kernel)),
    convBias: c.convBias ? random([c.k], g, 0.5) : null,
    bnWeight: c.affine ? random([c.k], g, 0.5, 1) : null,
    bnBias: c.affine ? random([c.k], g, 0.5) : null,
    g,
  };
}

describe('conv2dBatchNormRelu is bit-identical to the ops run one by one', () => {
  for (const c of BIT_CASES) {
    test(c.name, () => {
      const { x, weight, convBias, bnWeight, bnBias, g } = inputs(c, 11);
      const conv = { stride: c.stride, padding: c.padding };
      const running = () => ({ mean: Tensor.zeros([c.k]), variance: Tensor.full([c.k], 1) });
      const fusedStats = running();
      const plainStats = running();
      const saved = conv2dBatchNormRelu(x, weight, convBias, bnWeight, bnBias, fusedStats.mean, fusedStats.variance, { ...conv, pool: c.pool });
      const dy = random(saved.y.shape, g);

      // unfused, in Sequential's order (a ReLU before a pool runs after it)
      const z = conv2d(x, weight, convBias, conv);
      const bn = batchNorm(z, plainStats.mean, plainStats.variance, bnWeight, bnBias, { training: true });
      let y: Tensor;
      let dn: Tensor;
      let pooled: ReturnType<typeof maxPool2d> | null = null;
      if (c.pool) {
        pooled = maxPool2d(bn.y, { kernelSize: 2 });
        y = relu(pooled.y);
        dn = maxPool2dBackward(reluBackward(dy, y), pooled.indices, bn.y.shape);
      } else {
        y = relu(bn.y);
        dn = reluBackward(dy, y);
      }
      const bnGrads = batchNormBackward(dn, z, bnWeight, bn.saved, { weightGrad: c.affine, biasGrad: c.affine });

      expectIdentical(saved.y.toArray(), y.toArray(), 'y');
      if (c.pool) expectIdentical(saved.indices!.toArray(), pooled!.indices.toArray(), 'indices');
      // (the deep network's first layer recomputes z rather than keep it: the same bits)
      expect(saved.z === null).toBe(c.c === 1);
      if (saved.z !== null) expectIdentical(saved.z.toArray(), z.toArray(), 'z');
      expectIdentical(fusedStats.mean.toArray(), plainStats.mean.toArray(), 'running mean');
      expectIdentical(fusedStats.variance.toArray(), plainStats.variance.toArray(), 'running var');
      const run = (inputGrad: boolean) =>
        conv2dBatchNormReluBackward(dy, saved, x, weight, bnWeight, { ...conv, pool: c.pool, inputGrad, convBiasGrad: c.convBias });
      for (const inputGrad of [true, false]) {
        // (the convolution's backward pass may pick another algorithm without dx: compare like with like)
        const convGrads = conv2dBackward(bnGrads.dx!, x, weight, { ...conv, inputGrad, biasGrad: c.convBias });
        const grads = run(inputGrad);
        if (inputGrad) expectIdentical(grads.dx!.toArray(), convGrads.dx!.toArray(), 'dx');
        else expect(grads.dx).toBeNull();
        // (without dx and z, the one-pass weight gradient regroups the sums: equal to rounding)
        const same = saved.z === null && !inputGrad ? expectStacked : expectIdentical;
        same(grads.dw.toArray(), convGrads.dw.toArray(), `dw (inputGrad ${inputGrad})`);
        if (c.convBias) expectIdentical(grads.convDb!.toArray(), convGrads.db!.toArray(), 'conv db');
        if (c.affine) {
          same(grads.dweight!.toArray(), bnGrads.dweight!.toArray(), 'dweight');
          same(grads.dbias!.toArray(), bnGrads.dbias!.toArray(), 'dbias');
        }
      }
      // and the same bits with one thread as with the pool
      expectSameBitsAcrossThreads(() => {
        const again = conv2dBatchNormRelu(x, weight, convBias, bnWeight, bnBias, null, null, { ...conv, pool: c.pool });
        const grads = conv2dBatchNormReluBackward(dy, again, x, weight, bnWeight, { ...conv, pool: c.pool, convBiasGrad: c.convBias });
        return [again.y, grads.dx!, grads.dw, ...(grads.dweight ? [grads.dweight, grads.dbias!] : [])].map((t) => t.toArray());
      });
    });
  }

  // The Winograd layer's backward pass makes dz sample by sample and uses it for dx and dW at once;
  // where a value is not finite it takes the whole dz's path instead (the direct pass's NaN).
  test('a NaN or inf in dy on the Winograd layer (32→32 26×26): the same bits as the ops one by one', () => {
    const c = BIT_CASES[0];
    const { x, weight, bnWeight, bnBias, g } = inputs(c, 12);
    const saved = conv2dBatchNormRelu(x, weight, null, bnWeight, bnBias, null, null, { pool: true });
    const z = conv2d(x, weight, null);
    const bn = batchNorm(z, null, null, bnWeight, bnBias, { training: true });
    const pooled = maxPool2d(bn.y, { kernelSize: 2 });
    const y = relu(pooled.y);
    for (const bad of [NaN, Infinity]) {
      const values = random(saved.y.shape, g).toArray();
      // sample 5, channel 3: a pooled position whose ReLU passes the gradient
      const plane = saved.y.shape[2] * saved.y.shape[3];
      const at = Array.from({ length: plane }, (_, i) => (5 * c.k + 3) * plane + i).find((i) => y.toArray()[i] > 0)!;
      values[at] = bad;
      const dy = Tensor.from(Float32Array.from(values), saved.y.shape);
      const dn = maxPool2dBackward(reluBackward(dy, y), pooled.indices, bn.y.shape);
      const bnGrads = batchNormBackward(dn, z, bnWeight, bn.saved, { weightGrad: true, biasGrad: true });
      const convGrads = conv2dBackward(bnGrads.dx!, x, weight, { inputGrad: true, biasGrad: false });
      const grads = conv2dBatchNormReluBackward(dy, saved, x, weight, bnWeight, { pool: true, inputGrad: true });
      expect(grads.dx!.toArray().some((v) => !Number.isFinite(v)), `${bad}: dx not finite`).toBe(true);
      expectIdentical(grads.dx!.toArray(), convGrads.dx!.toArray(), `${bad}: dx`);
      expectIdentical(grads.dw.toArray(), convGrads.dw.toArray(), `${bad}: dw`);
    }
  });

  test('conv2dRelu (inference) equals conv2d, (maxPool2d,) relu in turn bit for bit', () => {
    const g = new Generator(8);
    const x = random([3, 5, 11, 10], g);
    const weight = random([7, 5, 3, 3], g, 0.3);
    const bias = random([7], g);
    for (const pool of [false, true]) {
      for (const geometry of [{ stride: 1, padding: 1 }, { stride: [2, 1] as [number, number], padding: 0 }]) {
        const z = conv2d(x, weight, bias, geometry);
        const expected = pool ? relu(maxPool2d(z, { kernelSize: 2, stride: 2, padding: 0 }).y) : relu(z);
        const y = conv2dRelu(x, weight, bias, { ...geometry, pool });
        expectIdentical(y.toArray(), expected.toArray(), `pool ${pool}, stride ${geometry.stride}`);
        expect(y.shape).toEqual(expected.shape);
      }
    }
    expect(() => conv2dRelu(x, weight, Tensor.zeros([6]))).toThrow('Expected shape [7] for bias but received [6]');
    expect(() => conv2dRelu(Tensor.zeros([1, 5, 3, 3]), weight, null, { pool: true })).toThrow('Expected a convolution output of at least 2×2');
  });

  test('bad arguments are named', () => {
    const x = Tensor.zeros([2, 3, 6, 6]);
    const weight = Tensor.zeros([4, 3, 3, 3]);
    expect(() => conv2dBatchNormRelu(x, weight, null, Tensor.zeros([5]), null, null, null)).toThrow('Expected shape [4] for bnWeight but received [5]');
    expect(() => conv2dBatchNormRelu(x, weight, null, null, null, Tensor.zeros([4]), null)).toThrow('runningVar');
    expect(() => conv2dBatchNormRelu(Tensor.zeros([1, 3, 3, 3]), weight, null, null, null, null, null)).toThrow(
      'Expected more than 1 value per channel when training for x',
    );
    expect(() => conv2dBatchNormRelu(Tensor.zeros([2, 3, 3, 3]), weight, null, null, null, null, null, { pool: true })).toThrow(
      'Expected a convolution output of at least 2×2',
    );
    const saved = conv2dBatchNormRelu(x, weight, null, null, null, null, null);
    expect(() => conv2dBatchNormReluBackward(Tensor.zeros([2, 4, 3, 3]), saved, x, weight, null)).toThrow('Expected shape [2, 4, 4, 4] for dy but received [2, 4, 3, 3]');
  });
});

/**
 * Shapes for the recomputed path (out.z null), forced where the kernels' rule would keep z. Its z is
 * the direct pass's (conv2d_direct_forward_samples), so it is compared bit for bit with the ops run
 * one by one on conv2d's direct forward (where 'auto' takes Winograd, as on 32→64 12×12 at batch
 * 16, the path that keeps z differs by rounding, and a ReLU mask flipped by it moves a whole
 * channel's dw).
 */
const RECOMPUTE_CASES: (Case & { dyOffset?: number })[] = [
  { name: 'deep layer 1 (1→32, 26×26), batch 16 (the rule\'s own case)', n: 16, c: 1, h: 28, w: 28, k: 32, kernel: 3, convBias: false, pool: false, affine: true },
  { name: 'odd sizes: 2→5, 11×9, padding 1, offset input', n: 3, c: 2, h: 11, w: 9, k: 5, kernel: 3, padding: 1, convBias: false, pool: false, affine: true, offset: 3 },
  { name: 'stride 2, 5×5, 3→17, affine=False', n: 5, c: 3, h: 13, w: 12, k: 17, kernel: 5, stride: 2, padding: 2, convBias: false, pool: false, affine: false },
  { name: 'tiny output (2×2: the im2col weight gradient)', n: 5, c: 4, h: 4, w: 4, k: 3, kernel: 3, convBias: false, pool: false, affine: true },
  // the one-pass weight gradient's regrouped sums where they would cancel most: an input far
  // from 0 (mean 3) and an upstream gradient with a mean (1) as large as its spread
  { name: 'offset input and gradient: 2→16, 10×12, no padding', n: 4, c: 2, h: 10, w: 12, k: 16, kernel: 3, convBias: false, pool: false, affine: true, offset: 3, dyOffset: 1 },
  { name: '32→64 12×12, batch 16 (Winograd\'s dW and the lanes dx)', n: 16, c: 32, h: 14, w: 14, k: 64, kernel: 3, convBias: false, pool: false, affine: true },
];

describe('conv2dBatchNormRelu without z (the convolution recomputed)', () => {
  for (const c of RECOMPUTE_CASES) {
    test(`${c.name}: bit-identical to the ops run one by one (direct forward); the same bits on any thread count`, () => {
      const { x, weight, bnWeight, bnBias, g } = inputs(c, 12);
      const conv = { stride: c.stride, padding: c.padding };
      const fusedStats = { mean: Tensor.zeros([c.k]), variance: Tensor.full([c.k], 1) };
      const plainStats = { mean: Tensor.zeros([c.k]), variance: Tensor.full([c.k], 1) };
      const saved = conv2dBatchNormRelu(x, weight, null, bnWeight, bnBias, fusedStats.mean, fusedStats.variance, conv, { z: null });
      expect(saved.z).toBeNull();
      const dy = random(saved.y.shape, g, 1, c.dyOffset ?? 0);

      const z = conv2d(x, weight, null, { ...conv, algorithm: 'direct' });
      const bn = batchNorm(z, plainStats.mean, plainStats.variance, bnWeight, bnBias, { training: true });
      const y = relu(bn.y);
      const bnGrads = batchNormBackward(reluBackward(dy, y), z, bnWeight, bn.saved, { weightGrad: c.affine, biasGrad: c.affine });
      expectIdentical(saved.y.toArray(), y.toArray(), 'y');
      if (bn.saved.training) expectIdentical(saved.saveMean.toArray(), bn.saved.saveMean.toArray(), 'saveMean');
      expectIdentical(fusedStats.mean.toArray(), plainStats.mean.toArray(), 'running mean');
      expectIdentical(fusedStats.variance.toArray(), plainStats.variance.toArray(), 'running var');
      for (const inputGrad of [false, true]) {
        const convGrads = conv2dBackward(bnGrads.dx!, x, weight, { ...conv, inputGrad, biasGrad: false });
        const grads = conv2dBatchNormReluBackward(dy, saved, x, weight, bnWeight, { ...conv, inputGrad });
        if (inputGrad) expectIdentical(grads.dx!.toArray(), convGrads.dx!.toArray(), 'dx');
        // without dx or padding: the one-pass weight gradient (sums regrouped, equal to rounding);
        // else the recomputing passes, bit for bit
        const same = !inputGrad && !c.padding ? expectStacked : expectIdentical;
        same(grads.dw.toArray(), convGrads.dw.toArray(), `dw (inputGrad ${inputGrad})`);
        if (c.affine) {
          same(grads.dweight!.toArray(), bnGrads.dweight!.toArray(), 'dweight');
          same(grads.dbias!.toArray(), bnGrads.dbias!.toArray(), 'dbias');
        }
      }
      expectSameBitsAcrossThreads(() => {
        const again = conv2dBatchNormRelu(x, weight, null, bnWeight, bnBias, null, null, conv, { z: null });
        const grads = conv2dBatchNormReluBackward(dy, again, x, weight, bnWeight, { ...conv, inputGrad: false });
        return [again.y, again.saveMean, again.saveInvstd, grads.dw, ...(grads.dweight ? [grads.dweight, grads.dbias!] : [])];
      });
    });
  }

  test('NaN and inf in x or the weights: the same bits as the path that keeps z', () => {
    const c = RECOMPUTE_CASES[0];
    for (const poison of ['x', 'weight'] as const) {
      const { x, weight, bnWeight, bnBias, g } = inputs({ ...c, n: 4 }, 13);
      const target = poison === 'x' ? x : weight;
      const values = target.toArray() as Float32Array;
      values[5] = Number.NaN;
      values[7] = Number.POSITIVE_INFINITY;
      const poisoned = Tensor.from(values, target.shape);
      const [xs, ws] = poison === 'x' ? [poisoned, weight] : [x, poisoned];
      const kept = conv2dBatchNormRelu(xs, ws, null, bnWeight, bnBias, null, null, {}, { z: Tensor.zeros([4, c.k, 26, 26]) });
      const recomputed = conv2dBatchNormRelu(xs, ws, null, bnWeight, bnBias, null, null);
      expect(recomputed.z).toBeNull();
      expectIdentical(recomputed.y.toArray(), kept.y.toArray(), `y (${poison})`);
      const dy = random(kept.y.shape, g);
      const grads = [recomputed, kept].map((saved) => conv2dBatchNormReluBackward(dy, saved, xs, ws, bnWeight, { inputGrad: false }));
      expectIdentical(grads[0].dw.toArray(), grads[1].dw.toArray(), `dw (${poison})`);
      expectIdentical(grads[0].dweight!.toArray(), grads[1].dweight!.toArray(), `dweight (${poison})`);
      expectIdentical(grads[0].dbias!.toArray(), grads[1].dbias!.toArray(), `dbias (${poison})`);
    }
  });

  test('the rule, and a null z where it cannot apply', () => {
    const x = Tensor.zeros([2, 1, 28, 28]);
    expect(conv2dBatchNormReluRecomputes(x, Tensor.zeros([32, 1, 3, 3]), null)).toBe(true);
    expect(conv2dBatchNormReluRecomputes(x, Tensor.zeros([32, 1, 3, 3]), null, { pool: true })).toBe(false);
    expect(conv2dBatchNormReluRecomputes(x, Tensor.zeros([32, 1, 3, 3]), Tensor.zeros([32]))).toBe(false);
    expect(conv2dBatchNormReluRecomputes(x, Tensor.zeros([8, 1, 3, 3]), null)).toBe(false); // too few output channels
    expect(conv2dBatchNormReluRecomputes(Tensor.zeros([2, 32, 28, 28]), Tensor.zeros([32, 32, 3, 3]), null)).toBe(false);
    const w = Tensor.zeros([32, 1, 3, 3]);
    expect(() => conv2dBatchNormRelu(x, w, null, null, null, null, null, { pool: true }, { z: null })).toThrow('for out.z but received null');
    expect(() => conv2dBatchNormRelu(x, w, Tensor.zeros([32]), null, null, null, null, {}, { z: null })).toThrow('for out.z but received null');
    const pooled = conv2dBatchNormRelu(x, w, null, null, null, null, null, { pool: true });
    expect(() => conv2dBatchNormReluBackward(Tensor.zeros(pooled.y.shape), { ...pooled, z: null }, x, w, null, { pool: true })).toThrow('for saved.z but received null');
  });
});

/** Whether the model's last forward() ran a fused step (Sequential's private record of it). */
function ranFused(model: Sequential): boolean {
  return (model as unknown as { fusedLast: boolean[] }).fusedLast.some(Boolean);
}

/**
 * The deep network's convolutional half, narrower: both block shapes (with and without the pool).
 * A first block of 16 or more channels recomputes its convolution (conv2dBatchNormReluRecomputes).
 */
function smallDeepNetwork(first = 4): Sequential {
  const g = new Generator(3);
  const block = (cin: number, cout: number) => [new Conv2d(cin, cout, 3, { bias: false, generator: g }), new BatchNorm2d(cout), new ReLU()];
  return new Sequential(...block(1, first), ...block(first, 6), new MaxPool2d(2), ...block(6, 8), new MaxPool2d(2), new Flatten(), new Linear(8 * 2 * 2, 3, { generator: g }));
}

describe.each(DEVICES)('Sequential runs Conv2d → BatchNorm2d → ReLU (→ MaxPool2d(2)), on %s', (device) => {
  test.each([4, 16])('values, gradients, running statistics and three SGD steps equal the layers run one by one (first block 1→%i)', (first) => {
    const fusedModel = smallDeepNetwork(first).to(device);
    const plain = smallDeepNetwork(first).to(device);
    plain.fuse = false;
    fusedModel.inputGrad = plain.inputGrad = true;
    const optimizers = [fusedModel, plain].map((m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 }));
    const g = new Generator(9);
    for (let step = 0; step < 3; step++) {
      const x = random([6, 1, 16, 16], g).to(device);
      const labels = Tensor.from(Int32Array.from({ length: 6 }, () => g.int(3)), [6], { dtype: 'int32', device });
      const outputs = [fusedModel, plain].map((model, i) => {
        const { logits, dx } = explicitStep(model, optimizers[i], x, labels);
        return [logits, dx!.toArray()];
      });
      expectIdentical(outputs[0][0], outputs[1][0], `logits, step ${step}`);
      expectIdentical(outputs[0][1], outputs[1][1], `dx, step ${step}`);
      // the fused kernel is CPU-only: on CUDA the step falls back to the layers
      expect(ranFused(fusedModel)).toBe(device === 'cpu');
      expect(ranFused(plain)).toBe(false);
      expectIdenticalParameters(fusedModel, plain, `at step ${step}`, 'grad');
      optimizers.forEach((o) => o.step());
    }
    const buffers = plain.namedBuffers();
    fusedModel.namedBuffers().forEach(([name, b], i) => expectIdentical(b.toArray(), buffers[i][1].toArray(), `${name} after 3 steps`));
    expectIdenticalParameters(fusedModel, plain, 'after 3 steps');
  });

  test('without dx, a first block of 16 channels (z not kept, the one-pass weight gradient): three SGD steps equal to the layers one by one to rounding', () => {
    const fusedModel = smallDeepNetwork(16).to(device);
    const plain = smallDeepNetwork(16).to(device);
    plain.fuse = false;
    const optimizers = [fusedModel, plain].map((m) => new SGD(m.parameters(), { lr: 0.1, momentum: 0.9 }));
    const g = new Generator(10);
    const close = (a: ArrayLike<number>, b: ArrayLike<number>, label: string) => expectClose(a, b, stacked(b), label);
    const named = (m: Sequential) => m.namedParameters().map(([name, p]) => [name, p] as const);
    for (let step = 0; step < 3; step++) {
      const x = random([6, 1, 16, 16], g).to(device);
      const labels = Tensor.from(Int32Array.from({ length: 6 }, () => g.int(3)), [6], { dtype: 'int32', device });
      const outputs = [fusedModel, plain].map((model, i) => explicitStep(model, optimizers[i], x, labels));
      expect(outputs[0].dx).toBeNull();
      expect(ranFused(fusedModel)).toBe(device === 'cpu');
      close(outputs[0].logits, outputs[1].logits, `logits, step ${step}`);
      const reference = named(plain);
      named(fusedModel).forEach(([name, p], i) => close(p.grad!.toArray(), reference[i][1].grad!.toArray(), `${name}.grad at step ${step}`));
      optimizers.forEach((o) => o.step());
    }
    const reference = named(plain);
    named(fusedModel).forEach(([name, p], i) => close(p.toArray(), reference[i][1].toArray(), `${name} after 3 steps`));
  });

  test('inference() in eval mode folds each batch norm into its convolution (CPU), refolded when a parameter or statistic changes', () => {
    const model = smallDeepNetwork().to(device);
    const g = new Generator(4);
    const x = random([3, 1, 16, 16], g).to(device);
    // Running statistics and affine parameters away from their defaults (ones, zeros).
    const perturb = () => {
      for (const layer of model.layers) {
        if (!(layer instanceof BatchNorm2d)) continue;
        const c = layer.numFeatures;
        layer.runningMean!.copyFrom(Float32Array.from({ length: c }, () => g.normal()));
        layer.runningVar!.copyFrom(Float32Array.from({ length: c }, () => g.uniform(0.2, 2.2)));
        layer.weight!.copyFrom(Float32Array.from({ length: c }, () => g.normal()));
        layer.bias!.copyFrom(Float32Array.from({ length: c }, () => g.normal()));
      }
    };
    perturb();
    model.eval();
    const compareFolded = (label: string) => {
      const unfolded = explicit(() => model.forward(x)).toArray();
      expect(ranFused(model)).toBe(false);
      const folded = model.inference(() => model.forward(x)).toArray();
      expect(ranFused(model)).toBe(device === 'cpu'); // folding is CPU-only: on CUDA the layers run one by one
      expectClose(folded, unfolded, stacked(unfolded), label);
    };
    compareFolded('folded vs unfolded');
    // New statistics and weights (version counters bumped by copyFrom, as by an optimizer step):
    // a stale fold would keep the old answer.
    perturb();
    (model.layers[0] as Conv2d).weight.copyFrom(random([4, 1, 3, 3], g));
    compareFolded('after new statistics and weights');
    if (device === 'cpu') expect(() => model.backward(Tensor.zeros([3, 3]))).toThrow('cannot differentiate a forward run by inference()');
  });

  test('eval mode and the recorded (autograd) forward run the layers one by one', () => {
    const model = smallDeepNetwork().to(device);
    const x = random([2, 1, 16, 16], new Generator(1)).to(device);
    model.eval();
    explicit(() => model.forward(x));
    expect(ranFused(model)).toBe(false);
    model.train();
    model.forward(x);
    expect(ranFused(model)).toBe(false);
  });
});
