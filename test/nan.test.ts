// NaN and ±inf through every op, against PyTorch 2.13's CPU float32 kernels
// (test/fixtures/nan.fixture, scripts/fixtures/nan.py), on every device (the CPU and CUDA, emulated
// in CI: NAPINET_ADDON=build-emu/Release/napinet.node).
//
// What is checked: every output and gradient has NaN, +inf and −inf exactly where PyTorch has them
// (compare.ts matches non-finite references exactly), argmax-style indices are identical, and the
// finite values are close. Tolerance for finite values: rtol 1e-4, atol 1e-5·scale (scale: the
// largest finite reference magnitude, at least 1), relative L2 1e-4. The references are PyTorch's
// float32 results, whose own rounding (summation order, vectorised exp) differs from napinet's by
// a few ulps; each op's precision against float64 references is its own test's concern
// (test/<op>.test.ts), this file's is where NaN and inf go.
//
// Not from fixtures: dropout's masks come from napinet's own generator, so its rule is checked
// directly (a dropped element is x·0: NaN for NaN and ±inf, as PyTorch's input·mask/(1 − p)).
import { describe, expect, test } from 'vitest';
import { elu, eluBackward, gelu, geluBackward, leakyRelu, leakyReluBackward, relu, reluBackward, sigmoid, sigmoidBackward, softplus, softplusBackward, tanh, tanhBackward } from '../lib/ops/activation';
import { batchMatmul } from '../lib/ops/batch_matmul';
import { batchNorm, batchNormBackward } from '../lib/ops/batchnorm';
import { conv2d, conv2dBackward, conv2dMaxPool2d, conv2dMaxPool2dBackward } from '../lib/ops/conv2d';
import { dropout, dropoutBackward } from '../lib/ops/dropout';
import { matmul } from '../lib/ops/gemm';
import { linear, linearBackward } from '../lib/ops/linear';
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../lib/ops/loss';
import { adamStep, sgdStep } from '../lib/ops/optim';
import { bceWithLogits, bceWithLogitsBackward, mseLoss, mseLossBackward } from '../lib/ops/pointwise_loss';
import { avgPool1d, avgPool1dBackward, maxPool1d, maxPool1dBackward } from '../lib/ops/pool1d';
import { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward } from '../lib/ops/pool2d';
import { argmax, argmin, reduce, type ReduceOp } from '../lib/ops/reduce';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../lib/ops/softmax';
import { Tensor } from '../lib/tensor';
import type { Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';

/** Finite values within rtol 1e-4 and atol 1e-5 of the reference's largest finite magnitude. */
const CLOSE = (reference: Float64Array): Tolerance => {
  let scale = 1;
  for (const v of reference) if (Number.isFinite(v)) scale = Math.max(scale, Math.abs(v));
  return { atol: 1e-5 * scale, rtol: 1e-4, relNorm: 1e-4 };
};
const SAME: Tolerance = { atol: 0, rtol: 0 };

const cases = loadFixtures('nan');
const family = (name: string) => cases.filter((c) => c.params.family === name);

/** The functional op and its backward for an activation case. */
function activation(c: FixtureCase): { forward: (x: Tensor) => Tensor; backward: (dy: Tensor, x: Tensor, y: Tensor) => Tensor } {
  const p = c.params;
  switch (p.op) {
    case 'relu': return { forward: (x) => relu(x), backward: (dy, _x, y) => reluBackward(dy, y) };
    case 'sigmoid': return { forward: (x) => sigmoid(x), backward: (dy, _x, y) => sigmoidBackward(dy, y) };
    case 'tanh': return { forward: (x) => tanh(x), backward: (dy, _x, y) => tanhBackward(dy, y) };
    case 'leaky_relu': return { forward: (x) => leakyRelu(x, p.negativeSlope), backward: (dy, x) => leakyReluBackward(dy, x, p.negativeSlope) };
    case 'elu': return { forward: (x) => elu(x, p.alpha), backward: (dy, x) => eluBackward(dy, x, p.alpha) };
    case 'gelu':
    case 'gelu_tanh': return { forward: (x) => gelu(x, p.approximate), backward: (dy, x) => geluBackward(dy, x, p.approximate) };
    case 'softplus': {
      const o = { beta: p.beta, threshold: p.threshold };
      return { forward: (x) => softplus(x, o), backward: (dy, x) => softplusBackward(dy, x, o) };
    }
    default: throw new Error(`${c.name}: unknown activation ${p.op}`);
  }
}

/**
 * Where napinet knowingly differs from PyTorch's CPU float32 result: case name → output → element
 * index → the value napinet gives, with the reason. The test checks napinet gives exactly that.
 */
const KNOWN_DIFFERENCES: Record<string, Record<string, Record<number, number>>> = {
  // gelu(+inf) (erf form): PyTorch's vectorised CPU erf gives NaN; the formula x·Φ(x) = inf·1 gives
  // +inf, which is what PyTorch's CUDA kernel and its scalar path return. napinet keeps the formula.
  'activation/gelu': { y: { 1: Infinity, 65: Infinity } },
};

/** The case's reference `name`, with napinet's known differences (above) applied. */
function reference(c: FixtureCase, name: string): Float64Array {
  const values = c.f64(name);
  for (const [index, value] of Object.entries(KNOWN_DIFFERENCES[c.name]?.[name] ?? {})) values[Number(index)] = value;
  return values;
}

describe.each(DEVICES)('NaN and inf as PyTorch, on %s', (device) => {
  const t = (c: FixtureCase, name: string) => c.tensor(name, device);

  test.each(family('activation').map((c) => [c.name, c]))('%s', (_name, c) => {
    const op = activation(c);
    const x = t(c, 'x');
    const y = op.forward(x);
    // The backward takes PyTorch's y as the saved output (the same NaN positions, checked above).
    const dx = op.backward(t(c, 'dy'), x, t(c, 'y'));
    checkOp(c, { y, dx }, CLOSE, { references: { y: { shape: c.get('y').shape, data: reference(c, 'y') } } });
  });

  test.each(family('softmax').map((c) => [c.name, c]))('%s', (_name, c) => {
    const log = c.params.op === 'log_softmax';
    const x = t(c, 'x');
    const y = log ? logSoftmax(x) : softmax(x);
    const dx = log ? logSoftmaxBackward(t(c, 'dy'), t(c, 'y')) : softmaxBackward(t(c, 'dy'), t(c, 'y'));
    checkOp(c, { y, dx }, CLOSE);
  });

  test.each(family('cross_entropy').map((c) => [c.name, c]))('%s', (_name, c) => {
    const options = { labelSmoothing: c.params.labelSmoothing };
    const labels = t(c, 'labels');
    const { probs, stats } = softmaxCrossEntropy(t(c, 'logits'), labels, options);
    // The correct count (stats[1]) is exact: argmax with PyTorch's NaN rule, compared with the label.
    const [lossSum, correct] = stats.toArray();
    checkOp(c, { probs, dlogits: softmaxCrossEntropyBackward(probs, labels, options) }, CLOSE);
    checkOp(c, { lossSum: [lossSum], correct: [correct] }, { lossSum: CLOSE, correct: SAME }, {
      references: { lossSum: [c.f64('stats')[0]], correct: [c.f64('stats')[1]] },
    });
  });

  test.each(family('max_pool2d').map((c) => [c.name, c]))('%s', (_name, c) => {
    const options = { kernelSize: c.params.kernelSize, stride: c.params.stride, padding: c.params.padding };
    const x = t(c, 'x');
    const { y, indices } = maxPool2d(x, options);
    checkOp(c, { y, indices, dx: maxPool2dBackward(t(c, 'dy'), indices, x.shape) }, { y: CLOSE, indices: SAME, dx: CLOSE });
  });

  test.each(family('avg_pool2d').map((c) => [c.name, c]))('%s', (_name, c) => {
    const options = { kernelSize: c.params.kernelSize, stride: c.params.stride, padding: c.params.padding };
    const x = t(c, 'x');
    checkOp(c, { y: avgPool2d(x, options), dx: avgPool2dBackward(t(c, 'dy'), x.shape, options) }, CLOSE);
  });

  test.each(family('max_pool1d').map((c) => [c.name, c]))('%s', (_name, c) => {
    const options = { kernelSize: c.params.kernelSize, stride: c.params.stride, padding: c.params.padding };
    const x = t(c, 'x');
    const { y, indices } = maxPool1d(x, options);
    checkOp(c, { y, indices, dx: maxPool1dBackward(t(c, 'dy'), indices, x.shape) }, { y: CLOSE, indices: SAME, dx: CLOSE });
  });

  test.each(family('avg_pool1d').map((c) => [c.name, c]))('%s', (_name, c) => {
    const options = { kernelSize: c.params.kernelSize, stride: c.params.stride, padding: c.params.padding };
    const x = t(c, 'x');
    checkOp(c, { y: avgPool1d(x, options), dx: avgPool1dBackward(t(c, 'dy'), x.shape, options) }, CLOSE);
  });

  test.each(family('conv2d').map((c) => [c.name, c]))('%s', (_name, c) => {
    const x = t(c, 'x');
    const weight = t(c, 'weight');
    for (const algorithm of ['direct', 'im2col'] as const) {
      const options = { stride: c.params.stride, padding: c.params.padding, algorithm };
      const y = conv2d(x, weight, t(c, 'bias'), options);
      const g = conv2dBackward(t(c, 'dy'), x, weight, options);
      checkOp(c, { y, dx: g.dx, dw: g.dw, db: g.db }, CLOSE, { label: algorithm });
      if (device !== 'cpu') break;  // one algorithm on a GPU
    }
    // The default choice (the CPU's GEMM dx for ≥ 16 filters, im2col's weight gradient alone).
    const options = { stride: c.params.stride, padding: c.params.padding };
    const dw = conv2dBackward(t(c, 'dy'), x, weight, { ...options, inputGrad: false }).dw;
    checkOp(c, { y: conv2d(x, weight, t(c, 'bias'), options), dx: conv2dBackward(t(c, 'dy'), x, weight, options).dx, dw }, CLOSE, { label: 'auto' });
  });

  test.each(family('conv2d_max_pool2d').map((c) => [c.name, c]))('%s', (_name, c) => {
    const relu = c.params.relu as boolean;
    const x = t(c, 'x');
    const weight = t(c, 'weight');
    const { y, indices } = conv2dMaxPool2d(x, weight, t(c, 'bias'), { relu });
    const g = conv2dMaxPool2dBackward(t(c, 'dy'), indices, relu ? y : null, x, weight);
    checkOp(c, { y, indices, dx: g.dx, dw: g.dw, db: g.db }, { y: CLOSE, indices: SAME, dx: CLOSE, dw: CLOSE, db: CLOSE });
  });

  test.each(family('linear').map((c) => [c.name, c]))('%s', (_name, c) => {
    const x = t(c, 'x');
    const weight = t(c, 'weight');
    const g = linearBackward(t(c, 'dy'), x, weight);
    checkOp(c, { y: linear(x, weight, t(c, 'bias')), dx: g.dx, dw: g.dw, db: g.db }, CLOSE);
  });

  test.each(family('matmul').map((c) => [c.name, c]))('%s', (_name, c) => {
    checkOp(c, { c: matmul(t(c, 'a'), t(c, 'b')) }, CLOSE);
  });

  test.each(family('batch_matmul').map((c) => [c.name, c]))('%s', (_name, c) => {
    checkOp(c, { c: batchMatmul(t(c, 'a'), t(c, 'b')) }, CLOSE);
  });

  test.each(family('batchnorm').map((c) => [c.name, c]))('%s', (_name, c) => {
    const training = c.params.training as boolean;
    const x = t(c, 'x');
    const weight = t(c, 'weight');
    const runningMean = t(c, 'running_mean0');
    const runningVar = t(c, 'running_var0');
    const { y, saved } = batchNorm(x, runningMean, runningVar, weight, t(c, 'bias'), { training });
    const g = batchNormBackward(t(c, 'dy'), x, weight, saved);
    checkOp(c, { y, dx: g.dx, dweight: g.dweight, dbias: g.dbias, running_mean1: runningMean, running_var1: runningVar }, CLOSE);
  });

  test.each([...family('mse'), ...family('bce')].map((c) => [c.name, c]))('%s', (_name, c) => {
    const x = t(c, 'x');
    const target = t(c, 'target');
    const n = x.shape[0];
    const bce = c.params.family === 'bce';
    const stats = bce ? bceWithLogits(x, target) : mseLoss(x, target);
    const dx = bce ? bceWithLogitsBackward(x, target) : mseLossBackward(x, target);
    checkOp(c, { loss: [stats.toArray()[0] / n], dx }, CLOSE);
  });

  test.each(family('reduce').map((c) => [c.name, c]))('%s', (_name, c) => {
    const x = t(c, 'x');
    const dim: number | null = c.params.dim;
    const dims = dim === null ? undefined : [dim];
    const outputs: Record<string, Tensor> = {};
    for (const op of ['sum', 'mean', 'max', 'min', 'var'] as ReduceOp[]) outputs[op] = reduce(op, x, { dims });
    const argOptions = dim === null ? {} : { dim };
    outputs.argmax = argmax(x, argOptions);
    outputs.argmin = argmin(x, argOptions);
    checkOp(c, outputs, { sum: CLOSE, mean: CLOSE, max: SAME, min: SAME, var: CLOSE, argmax: SAME, argmin: SAME });
  });

  test.each(family('adam').map((c) => [c.name, c]))('%s', (_name, c) => {
    const param = t(c, 'param0');
    const expAvg = Tensor.zeros(param.shape, { device });
    const expAvgSq = Tensor.zeros(param.shape, { device });
    adamStep(param, t(c, 'grad'), expAvg, expAvgSq, { lr: c.params.lr, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1, decoupled: false });
    checkOp(c, { param1: param, exp_avg: expAvg, exp_avg_sq: expAvgSq }, CLOSE);
  });

  test.each(family('sgd').map((c) => [c.name, c]))('%s', (_name, c) => {
    const param = t(c, 'param0');
    const buffer = Tensor.zeros(param.shape, { device });
    sgdStep(param, t(c, 'grad'), buffer, { lr: c.params.lr, momentum: c.params.momentum, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true });
    checkOp(c, { param1: param, momentum_buffer: buffer }, CLOSE);
  });

  test('dropout: a dropped NaN or ±inf is x·0 = NaN, a kept one is scaled', () => {
    const n = 4096;
    const specials = [NaN, Infinity, -Infinity];
    const values = Float32Array.from({ length: n }, (_, i) => specials[i % 3]);
    const seed = 1234n;
    // The mask, from finite values: 0 where dropped.
    const mask = dropout(Tensor.from(new Float32Array(n).fill(1), [n]).to(device), 0.5, seed).toArray();
    const y = dropout(Tensor.from(values, [n]).to(device), 0.5, seed).toArray();
    const dx = dropoutBackward(Tensor.from(values, [n]).to(device), 0.5, seed).toArray();
    let dropped = 0;
    for (let i = 0; i < n; i++) {
      const expected = mask[i] === 0 ? NaN : values[i] * 2;
      if (mask[i] === 0) dropped++;
      if (!Object.is(y[i], expected)) throw new Error(`dropout y[${i}] = ${y[i]}, expected ${expected}`);
      if (!Object.is(dx[i], expected)) throw new Error(`dropout dx[${i}] = ${dx[i]}, expected ${expected}`);
    }
    expect(dropped).toBeGreaterThan(n / 4);
    expect(dropped).toBeLessThan((3 * n) / 4);
  });
});
