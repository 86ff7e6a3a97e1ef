// Autograd parity: every differentiable op of the public API (import from '../lib'), called as a
// user calls it and differentiated by tensor.backward(), against torch.autograd in float64 on the
// same float32 values (test/fixtures/autograd.fixture, scripts/fixtures/autograd.py): the forward
// result and the gradient of EACH input, broadcasting included; comparisons and argmax / argmin
// forward only. Inputs that do not require grad must get no .grad, outputs of non-differentiable
// ops must not require grad. Layer cases run twice: with plain leaves (the rule returns the weight
// gradient) and with nn.Parameters (the kernel adds it straight into Parameter.grad: ACCUMULATED).
// On 'cpu' and, with a GPU or the emulator build (NAPINET_ADDON=build-emu/...), 'cuda'.
//
// The kernels' own precision is tested in their files (elementwise, reduce, batch_matmul, activation,
// softmax, conv2d, batchnorm, loss, …); these tolerances are the same bounds, applied to what the
// autograd layer composes from them. What they catch: a gradient sent to the wrong input, summed
// over the wrong dims, scaled wrongly, or missing — errors of order 1, far beyond any bound below.
// u = 2⁻²⁴ (float32 unit roundoff); K = the number of terms summed into one output element.
//   rounded(n)      atol 2⁻¹²⁶ (subnormals), rtol n·u: a chain of n roundings of exact float32 inputs.
//                   Element-wise forward: + − × ÷ √ neg abs square clamp maximum minimum where are
//                   correctly rounded, n = 1; exp, log n = 4 (CUDA's expf is within 2 ulp); pow
//                   n = 16 (CUDA's powf: a few ulp; test/elementwise's 2⁻²⁰); leakyRelu n = 2 (the
//                   slope rounded to float32, then the product). Shape ops, comparisons, argmax, max /
//                   min forward: exact (n = 0: the same values).
//   element-wise gradients: input x's gradient adds up K terms t (one per output element x
//                   broadcasts to, per use of x: K = dy.size / x.size · uses), each a chain of n
//                   roundings (GRAD_ROUNDINGS: mul's g·y 1, div's −g·(out/y) 4, exp's g·out 6, pow's
//                   20, …). Recursive summation gives |err_i| ≤ (n + K − 1)·u·Σ|t| (first order),
//                   and Σ|t| — scale_<x> in the fixture — not |grad| is the right size: the terms
//                   cancel (x / x, a 0-d divisor), leaving the gradient far smaller than its error.
//   summed(K)       sumTolerance's atol 8u·√K·rms(ref), rtol 4u — a float32 sum of K terms — for sum /
//                   mean (K = reduced count), matmul (y: K = the contracted size; dA, dB: K =
//                   contracted size × broadcast batch count × uses), repeated indices of indexSelect /
//                   gather (K = the most repeats), expand's gradient, linear (y K = in, dx K = out, dW,
//                   db K = rows), avgPool (K = window), pools with overlapping windows, batchNorm
//                   statistics (K = values per channel). A rounding of the rule on top (mean's ·1/K,
//                   max's ·1/ties) stays within rtol 4u.
//   variance        y: a sum of K positive squares, rtol (2·log₂K + 52)·u as test/reduce; the
//                   gradient 2·dy·(x − mean)/(K − c) carries mean's error (≈ √K·u·max|x|), so
//                   atol 8u·√K·max|x|·max|2·dy/(K − c)|, rtol 4u.
//   activations     as test/activation: sigmoid, tanh, elu, gelu, softplus y and dx atol
//                   16u·max(1, max|x|)·max(1, max|dy|) (the library function's couple of ulp of 1,
//                   exposed where 1 ± y cancels, times |x| for gelu), rtol 8u.
//   softmax         as test/softmax: y atol 1e-7, rtol 2e-6; logSoftmax y atol 4u·(1 + ln C)·max(1, max|x|),
//                   rtol 4u; dx atol 4u·(1 + C·√C)·max|dy| (a row sum of C products that cancels), rtol 8u.
//   convolutions    helpers/tolerance.ts CONV (rms-relative, measured in test/conv2d).
//   batchNorm       test/batchnorm's bound: summed(M = N·L values per channel); dx in training cancels,
//                   so its atol uses rms(w·invstd·dy) instead of rms(ref).
//   losses          as test/loss and test/pointwise_loss: the loss atol 1e-6, rtol 1e-6; the input
//                   gradient atol 1e-6·scale (crossEntropy) or 4e-7·scale·max(1, posWeight) (MSE, BCE),
//                   rtol 2e-6, with scale = |dL|/N (mean) or |dL| (sum).
// The relative L2 error of a whole tensor is bounded by what these element bounds imply (atol/rms(ref)
// + rtol): with the few dozen elements of a case there is no averaging to make it tighter.
import { describe, expect, test } from 'vitest';
import * as napinet from '../lib';
import { nn, Tensor, tensor } from '../lib';
import type { Tolerance } from './helpers/compare';
import type { Device } from '../lib/device';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp, checkTensor, type ToleranceRule } from './helpers/op_check';
import { CONV, rms, sumTolerance, ULP as U } from './helpers/tolerance';

const TINY = 2 ** -126;
const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => (Number.isFinite(v) ? Math.max(m, Math.abs(v)) : m), 0);

const rounded = (n: number): Tolerance => (n === 0 ? { atol: 0, rtol: 0, relNorm: 0 } : { atol: TINY, rtol: n * U, relNorm: n * U });

/** The relative L2 error the element bounds allow: ‖atol + perElement + rtol·|ref|‖ / ‖ref‖. */
function impliedRelNorm(tol: Tolerance, ref: ArrayLike<number>): number {
  let allowed2 = 0;
  let ref2 = 0;
  for (let i = 0; i < ref.length; i++) {
    if (!Number.isFinite(ref[i])) continue;
    allowed2 += (tol.atol + (tol.perElement?.[i] ?? 0) + tol.rtol * Math.abs(ref[i])) ** 2;
    ref2 += ref[i] ** 2;
  }
  return ref2 === 0 ? Math.sqrt(allowed2) : Math.sqrt(allowed2 / ref2);
}

/** A tolerance whose relNorm is the one its element bounds imply. */
const withImpliedRelNorm = (rule: (ref: ArrayLike<number>) => Tolerance): ToleranceRule => (ref) => {
  const tol = rule(ref);
  return { ...tol, relNorm: impliedRelNorm(tol, ref) };
};

const summed = (k: number): ToleranceRule => withImpliedRelNorm((ref) => sumTolerance(Math.max(1, k), ref));

/** Roundings of each element-wise op's forward (see the header). */
const FORWARD_ROUNDINGS: Record<string, number> = { exp: 4, log: 4, pow: 16 };
/** Roundings of each element-wise op's gradient rule, the forward's included where the rule reads the output. */
const GRAD_ROUNDINGS: Record<string, number> = {
  add: 1, sub: 1, neg: 1, mul: 1, div: 4, pow: 20, exp: 6, log: 1, sqrt: 3, abs: 1, square: 2, clamp: 1,
  maximum: 1, minimum: 1, where: 1,
};

type Spec = { tensor: string } | { tensors: string[] } | { object: Record<string, Spec> } | { value: unknown };

/** The public function a case names: napinet.add, nn.functional.linear, or a Tensor method ("method:var"). */
function resolve(fn: string): (...args: any[]) => unknown {
  if (fn.startsWith('method:')) {
    const name = fn.slice('method:'.length);
    return (self: any, ...rest: unknown[]) => self[name](...rest);
  }
  if (fn.startsWith('nn.functional.')) return (nn.functional as any)[fn.slice('nn.functional.'.length)];
  const f = (napinet as any)[fn];
  if (typeof f !== 'function') throw new Error(`no public function '${fn}'`);
  return f;
}

/** How many times input `name` appears among the case's arguments (a tensor used twice gets two contributions). */
function occurrences(c: FixtureCase, name: string): number {
  const count = (s: Spec): number => {
    if ('tensor' in s) return s.tensor === name ? 1 : 0;
    if ('tensors' in s) return s.tensors.filter((t) => t === name).length;
    if ('object' in s) return Object.values(s.object).reduce((n, v) => n + count(v), 0);
    return 0;
  };
  return (c.params.args as Spec[]).reduce((n, s) => n + count(s), 0);
}

const sizeOf = (c: FixtureCase, name: string): number => c.get(name).shape.reduce((a, b) => a * b, 1);
const lastDim = (shape: readonly number[]): number => shape[shape.length - 1];
/** dy's values (1 for a loss differentiated with backward()). */
const dyOf = (c: FixtureCase): Float64Array => (c.has('dy') ? c.f64('dy') : Float64Array.of(1));
const fnName = (c: FixtureCase): string => (c.params.fn as string).replace(/^(method:|nn\.functional\.)/, '');
const inputNames = (c: FixtureCase): string[] => Object.keys(c.tensors).filter((n) => /^x\d+$/.test(n));

/** The tolerance of output `name` ('y', 'grad_x0', 'after_x1') of case c (see the header). */
function toleranceOf(c: FixtureCase, name: string): ToleranceRule {
  const fn = fnName(c);
  const family = c.params.family as string;
  const input = name.replace(/^(grad|after)_/, '');
  const isGrad = name.startsWith('grad_');
  // Terms summed into one gradient element by broadcasting or by using the input several times.
  const fanIn = isGrad ? Math.max(1, sizeOf(c, 'y') / sizeOf(c, input)) * occurrences(c, input) : 1;
  switch (family) {
    case 'comparison':
      return rounded(0);
    case 'elementwise': {
      if (!isGrad) return rounded(FORWARD_ROUNDINGS[fn] ?? 1);
      const n = GRAD_ROUNDINGS[fn];
      if (n === undefined) throw new Error(`no gradient tolerance for ${fn}`);
      const perElement = c.f64(`scale_${input}`).map((s) => (n + fanIn - 1) * U * s);
      return withImpliedRelNorm(() => ({ atol: TINY, rtol: 0, perElement }));
    }
    case 'reduction': {
      const count = sizeOf(c, 'x0') / sizeOf(c, 'y');
      if (fn === 'max' || fn === 'min' || fn === 'argmax' || fn === 'argmin') return isGrad ? rounded(2) : rounded(0);
      if (fn === 'variance' || fn === 'var') {
        if (!isGrad) return { atol: TINY, rtol: (2 * Math.log2(Math.max(count, 2)) + 52) * U };
        const correction = ((c.params.args[2] as { value?: { correction?: number } })?.value?.correction) ?? 1;
        const scale = maxAbs(c.f64('x0')) * maxAbs(dyOf(c)) * (2 / (count - correction));
        return withImpliedRelNorm(() => ({ atol: 8 * U * Math.sqrt(count) * scale, rtol: 4 * U }));
      }
      return isGrad ? rounded(2) : summed(count);
    }
    case 'matmul': {
      const k = lastDim(c.get('x0').shape);
      return isGrad ? summed(k * fanIn) : summed(k);
    }
    case 'shape': {
      if (!isGrad) return rounded(0);
      if (fn === 'indexSelect' || fn === 'gather') return summed(mostRepeats(c.i32('i0')));
      return fanIn > 1 ? summed(fanIn) : rounded(0);
    }
    case 'activation':
      return activationTolerance(c, fn, isGrad);
    case 'layer':
      return layerTolerance(c, fn, name, input, isGrad);
    default:
      throw new Error(`no tolerance for family ${family}`);
  }
}

function mostRepeats(index: Int32Array): number {
  const counts = new Map<number, number>();
  for (const i of index) counts.set(i, (counts.get(i) ?? 0) + 1);
  return Math.max(...counts.values());
}

function activationTolerance(c: FixtureCase, fn: string, isGrad: boolean): ToleranceRule {
  const x = c.f64('x0');
  const dy = dyOf(c);
  if (fn === 'relu') return rounded(1);
  if (fn === 'leakyRelu') return rounded(2);
  if (fn === 'softmax' || fn === 'logSoftmax') {
    const dim = (c.params.args[1] as { value?: number } | undefined)?.value ?? -1;
    const shape = c.get('x0').shape;
    const classes = shape[dim < 0 ? dim + shape.length : dim];
    if (isGrad) return { atol: 4 * U * (1 + classes * Math.sqrt(classes)) * maxAbs(dy), rtol: 8 * U, relNorm: Math.max(8 * U, 2 * U * Math.sqrt(classes)) };
    if (fn === 'softmax') return { atol: 1e-7, rtol: 2e-6 };
    return { atol: 4 * U * (1 + Math.log(classes)) * Math.max(1, maxAbs(x)), rtol: 4 * U };
  }
  const scale = Math.max(1, maxAbs(x)) * (isGrad ? Math.max(1, maxAbs(dy)) : 1);
  return { atol: 16 * U * scale, rtol: 8 * U, relNorm: 16 * U };
}

function layerTolerance(c: FixtureCase, fn: string, name: string, input: string, isGrad: boolean): ToleranceRule {
  const shapeOf = (n: string) => c.get(n).shape;
  switch (fn) {
    case 'linear': {
      const x = shapeOf('x0');
      const rows = sizeOf(c, 'x0') / lastDim(x);
      if (!isGrad) return summed(lastDim(x));
      return summed(input === 'x0' ? shapeOf('x1')[0] : rows);
    }
    case 'conv1d':
    case 'conv2d':
    case 'conv2dMaxPool2d':
      return !isGrad ? CONV.y : input === 'x0' ? CONV.dx : input === 'x1' ? CONV.dw : CONV.db;
    case 'maxPool2d':
    case 'maxPool1d':
      // Overlapping windows (stride < kernel) add up to ⌈k/s⌉ per dim of gradients into one input.
      return isGrad ? summed(4) : rounded(0);
    case 'avgPool2d':
    case 'avgPool1d': {
      const k = (c.params.args[1] as { value: { kernelSize: number } }).value.kernelSize;
      return summed(fn === 'avgPool2d' ? k * k : k);
    }
    case 'batchNorm':
      return batchNormTolerance(c, name, input, isGrad);
    case 'crossEntropy':
    case 'mseLoss':
    case 'binaryCrossEntropyWithLogits': {
      if (!isGrad) return { atol: 1e-6, rtol: 1e-6 };
      const options = (c.params.args[2] as { value?: { reduction?: string } } | undefined)?.value ?? {};
      const count = fn === 'crossEntropy' ? shapeOf('x0')[0] : sizeOf(c, 'x0');
      const scale = maxAbs(dyOf(c)) / ((options.reduction ?? 'mean') === 'mean' ? count : 1);
      if (fn === 'crossEntropy') return { atol: 1e-6 * scale, rtol: 2e-6, relNorm: 1e-6 };
      const posWeight = (c.params.args[2] as { object?: Record<string, { tensor: string }> } | undefined)?.object?.posWeight;
      const weight = posWeight ? Math.max(1, maxAbs(c.f64(posWeight.tensor))) : 1;
      return { atol: 4e-7 * scale * weight, rtol: 2e-6, relNorm: 2e-7 * weight };
    }
    default:
      throw new Error(`no tolerance for layer ${fn}`);
  }
}

/** batchNorm: summed over the M = N·L values of a channel; training dx against rms(w·invstd·dy). */
function batchNormTolerance(c: FixtureCase, name: string, input: string, isGrad: boolean): ToleranceRule {
  const shape = c.get('x0').shape;
  const channels = shape[1];
  const perSample = shape.slice(2).reduce((a, b) => a * b, 1);
  const m = shape[0] * perSample;
  const training = (c.params.args[5] as { value: { training?: boolean } }).value.training ?? false;
  if (!(name === 'grad_x0' && training)) return summed(name.startsWith('after_') || isGrad || training ? m : 1);
  // w·invstd·dy per element, invstd from the batch's variance (float64 here).
  const x = c.f64('x0');
  const dy = dyOf(c);
  const weightSpec = c.params.args[3] as Spec;
  const w = 'tensor' in weightSpec ? c.f64(weightSpec.tensor) : null;
  const scaled = new Float64Array(x.length);
  for (let ch = 0; ch < channels; ch++) {
    const at = (j: number) => Math.floor(j / perSample) * channels * perSample + ch * perSample + (j % perSample);
    let mean = 0;
    for (let j = 0; j < m; j++) mean += x[at(j)] / m;
    let variance = 0;
    for (let j = 0; j < m; j++) variance += (x[at(j)] - mean) ** 2 / m;
    const factor = (w ? w[ch] : 1) / Math.sqrt(variance + 1e-5);
    for (let j = 0; j < m; j++) scaled[at(j)] = factor * dy[at(j)];
  }
  return (ref) => ({ atol: 8 * U * Math.sqrt(m) * rms(scaled), rtol: 4 * U, relNorm: (2 * U * Math.sqrt(m) * rms(scaled) * Math.sqrt(ref.length)) / Math.max(TINY, rms(ref) * Math.sqrt(ref.length)) });
}

/** v, or ±Infinity where float32 rounding overflows. */
const inFloat32Range = (v: number): number => (Number.isFinite(Math.fround(v)) ? v : Math.fround(v));

/**
 * The one helper of this file: builds the case's inputs on `device` (float32 inputs listed in
 * params.grad with requiresGrad, as nn.Parameters when asParameters and not the first input), runs
 * the op, backward() (with dy unless the case is a loss differentiated from 1), and checks y, every
 * input's .grad (none where PyTorch gives none) and the inputs the op changes in place.
 */
function checkAutograd(c: FixtureCase, device: Device, asParameters = false): void {
  const grad = new Set<string>(c.params.grad);
  const inputs = new Map<string, Tensor>();
  const make = (name: string): Tensor => {
    let t = inputs.get(name);
    if (t) return t;
    const { data, shape } = c.get(name);
    if (data instanceof Int32Array) {
      t = tensor(Int32Array.from(data), shape, { device, dtype: 'int32' });
    } else {
      t = tensor(Float32Array.from(data), shape, { device, requiresGrad: grad.has(name) });
      if (asParameters && grad.has(name) && name !== 'x0') t = new nn.Parameter(t);
    }
    inputs.set(name, t);
    return t;
  };
  const decode = (s: Spec): unknown => {
    if ('tensor' in s) return make(s.tensor);
    if ('tensors' in s) return s.tensors.map(make);
    if ('object' in s) return Object.fromEntries(Object.entries(s.object).map(([k, v]) => [k, decode(v)]));
    return s.value;
  };
  const args = (c.params.args as Spec[]).map(decode);
  const y = resolve(c.params.fn)(...args) as Tensor;
  expect(y).toBeInstanceOf(Tensor);
  const differentiable = c.has('dy') || c.params.implicit;
  expect(y.requiresGrad, `${c.name}: y.requiresGrad`).toBe(Boolean(differentiable));
  if (differentiable) {
    if (c.params.implicit) y.backward();
    else y.backward(tensor(c.f32('dy'), c.get('dy').shape, { device }));
  }
  const outputs: Record<string, Tensor | null> = { y };
  for (const name of inputNames(c)) outputs[`grad_${name}`] = inputs.get(name)?.grad ?? null;
  for (const name of c.params.mutated as string[]) outputs[`after_${name}`] = inputs.get(name)!;
  const tolerances = Object.fromEntries(Object.keys(outputs).map((n) => [n, c.has(n) ? toleranceOf(c, n) : rounded(0)]));
  // A reference beyond float32's range is ±Infinity, as float32 arithmetic gives it (exp(100)).
  const references = Object.fromEntries(Object.keys(outputs).filter((n) => c.has(n)).map((n) => [n, { shape: c.get(n).shape, data: c.f64(n).map(inFloat32Range) }]));
  checkOp(c, outputs, tolerances, { label: `${device}${asParameters ? ', as Parameters' : ''}`, references });
}

const cases = loadFixtures('autograd').filter((c) => !c.name.startsWith('graph/'));

describe.each(DEVICES)('autograd ops on %s', (device) => {
  for (const c of cases) {
    test(c.name, () => checkAutograd(c, device));
    if (c.params.family === 'layer' && c.params.grad.length > 1) {
      test(`${c.name} [as Parameters]`, () => checkAutograd(c, device, true));
    }
  }
});

// Dropout has no PyTorch reference (its mask comes from napinet's Philox seed, not torch's
// generator): its gradient is checked against its own forward instead — dy·(1/(1 − p)) where the
// element was kept, 0 where it was dropped (one product: rounded(1) as float32 arithmetic gives it).
describe.each(DEVICES)('dropout through autograd on %s', (device) => {
  test('the gradient is dy scaled where the forward kept the element, 0 where it dropped it', () => {
    const n = 400;
    const x = tensor(Float32Array.from({ length: n }, (_, i) => 1 + (i % 7)), [20, 20], { device, requiresGrad: true });
    const dy = Float32Array.from({ length: n }, (_, i) => Math.sin(i));
    const p = 0.3;
    const y = nn.functional.dropout(x, p, true, new napinet.Generator(7));
    y.backward(tensor(dy, [20, 20], { device }));
    const kept = Array.from(y.toArray(), (v) => v !== 0);
    expect(kept.filter(Boolean).length).toBeGreaterThan(n * 0.5);
    expect(kept.filter(Boolean).length).toBeLessThan(n * 0.9);
    const scale = Math.fround(1 / (1 - p));
    const expected = dy.map((g, i) => (kept[i] ? Math.fround(g * scale) : 0));
    checkTensor(`dropout [${device}] dx`, x.grad!, { shape: [20, 20], data: expected }, { atol: TINY, rtol: U, relNorm: U });
  });

  test('not in training (or p = 0) it is the identity, and the gradient passes unchanged', () => {
    const x = tensor([1, 2, 3], { device, requiresGrad: true });
    expect(nn.functional.dropout(x, 0.5, false)).toBe(x);
    expect(nn.functional.dropout(x, 0)).toBe(x);
  });
});
