// Element-wise activations against PyTorch (test/fixtures/activation.fixture,
// scripts/fixtures/activation.py): forward and input gradient of ReLU, Sigmoid, Tanh, LeakyReLU,
// ELU, GELU (erf and tanh) and Softplus, through the functional ops and the layers, on every device.
//
// Tolerances (ULP = 2⁻²⁴; inputs are float32 and exact in both computations):
//   relu, leaky_relu   exact / rtol 2·ULP: a selection, or one product (the slope as float32).
//   sigmoid, tanh, elu y: rtol 8·ULP: a library function (≤ 2 ulp on CUDA, ≤ 1 in glibc) and two or
//                      three roundings. atol 2⁻¹²⁶: sigmoid(−100) underflows to 0 in float32.
//   sigmoid/tanh dx    atol 8·ULP·max|dy|: 1 − y (1 − y²) cancels where y ≈ ±1, leaving the
//                      absolute error of y (a few ulp of 1) times dy.
//   gelu y, dx         atol 16·ULP·max(1, |dy|): 1 + erf(x/√2) (1 + tanh(…)) cancels for negative x,
//                      an absolute error of ~2 ulp of 1 times |x| ≤ 6 (beyond, Φ rounds to 0 and the
//                      true value is < 1e-9).
//   gelu-tanh dx       atol 64·ULP·max(1, |dy|), relative L2 32·ULP: its derivative's 1 − t² cancels
//                      where t = tanh(…) ≈ ±1 and is multiplied by ½·|x|·√(2/π)·(1 + 3·0.044715·x²)
//                      (up to 14 for |x| ≤ 6), so tanhf's error — up to 2 ulp on a GPU (CUDA's
//                      bound; glibc's is under 1) — becomes up to 2·14·2⁻²³·|dy| ≈ 57·ULP·|dy|. The
//                      emulator's GPU-like mode (libm within CUDA's bounds, FMA contraction) gave
//                      7.9e-6 against the 3.1e-6 of the erf form's bound.
//   softplus y, dx     rtol 8·ULP, atol 2⁻¹²⁶ (exp of a very negative value is subnormal).
//   all: relative L2 error ≤ 8·ULP.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import {
  elu, eluBackward, gelu, geluBackward, leakyRelu, leakyReluBackward, relu, reluBackward, sigmoid,
  sigmoidBackward, softplus, softplusBackward, tanh, tanhBackward,
} from '../lib/ops/activation';
import { native } from '../lib/native';
import { ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh } from '../lib/nn/activation';
import type { Module } from '../lib/nn/module';
import { buildModule } from '../lib/nn/registry';
import { Tensor } from '../lib/tensor';
import type { Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { EXACT, ULP } from './helpers/tolerance';

const TINY = 2 ** -126;

const maxAbs = (a: ArrayLike<number>) => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

interface OpUnderTest {
  forward(x: Tensor): Tensor;
  /** dx from dy and the saved tensor (the output y, or the input x). */
  backward(dy: Tensor, saved: Tensor): Tensor;
  fromOutput: boolean;
  layer(): Module;
  tolerance(c: FixtureCase): { y: Tolerance; dx: Tolerance };
}

function opFor(c: FixtureCase): OpUnderTest {
  const p = c.params;
  const maxDy = maxAbs(c.f64('dy'));
  const rel = (rtol: number, atol = 0) => ({ atol, rtol, relNorm: 8 * ULP });
  switch (p.op) {
    case 'relu':
      return { forward: (x) => relu(x), backward: reluBackward, fromOutput: true, layer: () => new ReLU(), tolerance: () => ({ y: EXACT, dx: EXACT }) };
    case 'sigmoid':
      return {
        forward: (x) => sigmoid(x), backward: sigmoidBackward, fromOutput: true, layer: () => new Sigmoid(),
        tolerance: () => ({ y: rel(8 * ULP, TINY), dx: rel(8 * ULP, 8 * ULP * maxDy) }),
      };
    case 'tanh':
      return {
        forward: (x) => tanh(x), backward: tanhBackward, fromOutput: true, layer: () => new Tanh(),
        tolerance: () => ({ y: rel(8 * ULP), dx: rel(8 * ULP, 8 * ULP * maxDy) }),
      };
    case 'leaky_relu':
      return {
        forward: (x) => leakyRelu(x, p.negativeSlope), backward: (dy, x) => leakyReluBackward(dy, x, p.negativeSlope),
        fromOutput: false, layer: () => new LeakyReLU(p.negativeSlope), tolerance: () => ({ y: rel(2 * ULP), dx: rel(2 * ULP) }),
      };
    case 'elu':
      return {
        forward: (x) => elu(x, p.alpha), backward: (dy, x) => eluBackward(dy, x, p.alpha),
        fromOutput: false, layer: () => new ELU(p.alpha), tolerance: () => ({ y: rel(8 * ULP), dx: rel(8 * ULP, TINY) }),
      };
    case 'gelu':
      return {
        forward: (x) => gelu(x, p.approximate), backward: (dy, x) => geluBackward(dy, x, p.approximate),
        fromOutput: false, layer: () => new GELU(p.approximate),
        tolerance: () => ({
          y: rel(8 * ULP, 16 * ULP),
          dx: p.approximate === 'tanh'
            ? { atol: 64 * ULP * Math.max(1, maxDy), rtol: 8 * ULP, relNorm: 32 * ULP }
            : rel(8 * ULP, 16 * ULP * Math.max(1, maxDy)),
        }),
      };
    case 'softplus': {
      const options = { beta: p.beta, threshold: p.threshold };
      return {
        forward: (x) => softplus(x, options), backward: (dy, x) => softplusBackward(dy, x, options),
        fromOutput: false, layer: () => new Softplus(p.beta, p.threshold), tolerance: () => ({ y: rel(8 * ULP, TINY), dx: rel(8 * ULP, TINY) }),
      };
    }
    default:
      throw new Error(`no test for activation ${p.op}`);
  }
}

describe.each(DEVICES)('activations on %s', (device) => {
  for (const c of loadFixtures('activation')) {
    test(`${c.name}: forward and dx (op and layer)`, () => {
      const op = opFor(c);
      const x = c.tensor('x', device);
      const dy = c.tensor('dy', device);
      const y = op.forward(x);
      const dx = op.backward(dy, op.fromOutput ? y : x);
      checkOp(c, { y, dx }, op.tolerance(c));

      const layer = op.layer().to(device);
      expect(Array.from(explicit(() => layer.forward(x)).toArray())).toEqual(Array.from(y.toArray()));
      expect(Array.from(layer.backward(dy)!.toArray())).toEqual(Array.from(dx.toArray()));
      const rebuilt = buildModule(JSON.parse(JSON.stringify(layer.config!())));
      expect(rebuilt.toString()).toBe(layer.toString());
    });
  }

  test('results are bit-identical with 1 thread and with the default pool, and in place (out = x)', () => {
    const n = 300_000; // several parallel chunks
    const values = Float32Array.from({ length: n }, (_, i) => 6 * Math.sin(i * 0.37));
    for (const c of loadFixtures('activation').filter((f) => f.name !== 'relu/small')) {
      const op = opFor(c);
      const x = Tensor.from(values, [n], { device });
      expectSameBitsAcrossThreads(() => {
        const y = op.forward(x);
        return [y, op.backward(x, op.fromOutput ? y : x)];
      }, `${c.name} `);
    }
    const x = Tensor.from(values.slice(0, 1000), [1000], { device });
    const expected = sigmoid(x).toArray();
    expect(Array.from(sigmoid(x, x).toArray())).toEqual(Array.from(expected));
  });

  test('layers print like torch.nn', () => {
    expect(new Sigmoid().toString()).toBe('Sigmoid()');
    expect(new Tanh().toString()).toBe('Tanh()');
    expect(new LeakyReLU().toString()).toBe('LeakyReLU(negative_slope=0.01)');
    expect(new ELU().toString()).toBe('ELU(alpha=1.0)');
    expect(new GELU('tanh').toString()).toBe("GELU(approximate='tanh')");
    expect(new Softplus().toString()).toBe('Softplus(beta=1.0, threshold=20.0)');
  });

  test('rejects a non-tensor, mismatched shapes and bad parameters, naming them', () => {
    expect(() => relu([1, 2] as never)).toThrow('Expected a Tensor for x but received [1, 2]');
    const a = Tensor.zeros([2, 3], { device });
    const b = Tensor.zeros([3, 2], { device });
    expect(() => reluBackward(a, b)).toThrow('Expected shape [2, 3] for y but received [3, 2]');
    expect(() => sigmoidBackward(a, b)).toThrow('Expected shape [2, 3] for y but received [3, 2]');
    expect(() => leakyReluBackward(a, b)).toThrow('Expected shape [2, 3] for x but received [3, 2]');
    expect(() => tanh({} as never)).toThrow('Expected a Tensor for x but received an object');
    expect(() => leakyRelu(a, NaN)).toThrow('Expected a number for negativeSlope but received NaN');
    expect(() => elu(a, Infinity)).toThrow('Expected a finite number for alpha but received Infinity');
    expect(() => gelu(a, 'exact' as never)).toThrow(`Expected one of 'none', 'tanh' for approximate but received "exact"`);
    expect(() => softplus(a, { beta: 0 })).toThrow('Expected a non-zero number for options.beta but received 0');
    expect(() => softplus(a, { threshold: '20' as never })).toThrow('Expected a number for options.threshold but received "20"');
    expect(() => sigmoid(a, Tensor.zeros([3, 3], { device }))).toThrow('Expected shape [2, 3] for out but received [3, 3]');
    expect(() => new GELU('fast' as never)).toThrow(`Expected one of 'none', 'tanh' for approximate but received "fast"`);
    expect(() => new Softplus(0)).toThrow('Expected a non-zero number for beta but received 0');
    expect(() => new Sigmoid().backward(a)).toThrow('Sigmoid.backward() needs a forward() first (no saved output)');
    expect(() => new GELU().backward(a)).toThrow('GELU.backward() needs a forward() first (no saved input)');
  });

  test('the addon refuses a buffer shorter than n', () => {
    const short = device === 'cpu' ? new Float32Array(3) : Tensor.zeros([3], { device }).buffer;
    const long = device === 'cpu' ? new Float32Array(4) : Tensor.zeros([4], { device }).buffer;
    expect(() => native().geluForward(long, short, false, 4)).toThrow(RangeError);
    expect(() => native().geluForward(long, short, false, 4)).toThrow(/for x/);
    expect(() => native().softplusBackward(long, long, long, 0, 20, 4)).toThrow('Expected a non-zero number for beta but received 0');
  });
});
