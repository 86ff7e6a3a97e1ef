// Weight initialisers (lib/nn/init.ts) against torch.nn.init's formulas (test/fixtures/init.fixture,
// scripts/fixtures/init.py, which takes each expected bound and standard deviation from torch's own
// fan and gain functions and checks it against a tensor torch filled).
//
// Two checks per case: the formula (our fans() and gain() give torch's bound or std to 1e-12
// relative: both are closed forms in double), and the values our initialiser draws (seeded): every
// value of a uniform one inside ±bound and the largest within 1% of it (1 − 0.99ⁿ of n ≥ 1 152 draws
// is certain to 1e-5), and the sample standard deviation within 5 standard errors (≈ 5/√(2n) for a
// normal, 5·0.75/√n for a uniform) of the formula's. The default initialisation of Linear and
// Conv2d is checked the same way against torch's (kaiming_uniform with a = √5, and the bias bound).
import { describe, expect, test } from 'vitest';
import { Conv2d } from '../lib/nn/conv2d';
import * as init from '../lib/nn/init';
import { Linear } from '../lib/nn/linear';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { loadFixtures } from './helpers/fixtures';

function stats(values: ArrayLike<number>): { maxAbs: number; std: number; mean: number } {
  let sum = 0;
  let maxAbs = 0;
  for (let i = 0; i < values.length; i++) {
    sum += values[i];
    maxAbs = Math.max(maxAbs, Math.abs(values[i]));
  }
  const mean = sum / values.length;
  let sq = 0;
  for (let i = 0; i < values.length; i++) sq += (values[i] - mean) ** 2;
  return { maxAbs, mean, std: Math.sqrt(sq / (values.length - 1)) };
}

function expectUniform(values: ArrayLike<number>, bound: number, label: string): void {
  const s = stats(values);
  expect(s.maxAbs, `${label}: largest |value|`).toBeLessThanOrEqual(bound);
  expect(s.maxAbs, `${label}: largest |value|`).toBeGreaterThan(0.99 * bound);
  const std = bound / Math.sqrt(3);
  expect(Math.abs(s.std / std - 1), `${label}: std ${s.std} vs ${std}`).toBeLessThan((5 * 0.75) / Math.sqrt(values.length));
  expect(Math.abs(s.mean) / std, `${label}: mean`).toBeLessThan(5 / Math.sqrt(values.length));
}

function expectNormal(values: ArrayLike<number>, std: number, label: string): void {
  const s = stats(values);
  expect(Math.abs(s.std / std - 1), `${label}: std ${s.std} vs ${std}`).toBeLessThan(5 / Math.sqrt(2 * values.length));
  expect(Math.abs(s.mean) / std, `${label}: mean`).toBeLessThan(5 / Math.sqrt(values.length));
}

const close = (a: number, b: number) => expect(Math.abs(a / b - 1)).toBeLessThan(1e-12);

describe('init against torch.nn.init', () => {
  const generator = new Generator(31);
  for (const c of loadFixtures('init')) {
    const p = c.params;
    test(c.name, () => {
      if (p.fn === 'default') {
        const layer = p.layer === 'Linear' ? new Linear(p.args[0], p.args[1], { generator }) : new Conv2d(p.args[0], p.args[1], p.args[2], { generator });
        close(init.gain('leaky_relu', Math.sqrt(5)) * Math.sqrt(3 / init.fans(layer.weight.shape).fanIn), p.weightBound);
        expectUniform(layer.weight.toArray(), p.weightBound, `${c.name} weight`);
        // torch's own layer drew a weight whose std agrees with ours within sampling error.
        const torchStd = c.f64('torch_weight_std')[0];
        expect(Math.abs(stats(layer.weight.toArray()).std / torchStd - 1)).toBeLessThan((2 * 5 * 0.75) / Math.sqrt(layer.weight.size));
        const bias = stats(layer.bias!.toArray());
        expect(bias.maxAbs).toBeLessThanOrEqual(p.biasBound);
        return;
      }
      const t = Tensor.zeros(p.shape);
      const { fanIn, fanOut } = init.fans(p.shape);
      switch (p.fn) {
        case 'kaiming_uniform':
        case 'kaiming_normal': {
          const fan = p.mode === 'fan_in' ? fanIn : fanOut;
          const g = init.gain(p.nonlinearity, p.a);
          const options = { a: p.a, mode: p.mode, nonlinearity: p.nonlinearity, generator };
          if (p.fn === 'kaiming_uniform') {
            close(g * Math.sqrt(3 / fan), p.bound);
            expectUniform(init.kaimingUniform(t, options).toArray(), p.bound, c.name);
          } else {
            close(g / Math.sqrt(fan), p.std);
            expectNormal(init.kaimingNormal(t, options).toArray(), p.std, c.name);
          }
          break;
        }
        case 'xavier_uniform':
          close(p.gain * Math.sqrt(6 / (fanIn + fanOut)), p.bound);
          expectUniform(init.xavierUniform(t, p.gain, generator).toArray(), p.bound, c.name);
          break;
        case 'xavier_normal':
          close(p.gain * Math.sqrt(2 / (fanIn + fanOut)), p.std);
          expectNormal(init.xavierNormal(t, p.gain, generator).toArray(), p.std, c.name);
          break;
        default:
          throw new Error(`no test for ${p.fn}`);
      }
    });
  }

  test('gains and fans as torch computes them', () => {
    expect(init.gain('linear')).toBe(1);
    expect(init.gain('sigmoid')).toBe(1);
    expect(init.gain('tanh')).toBe(5 / 3);
    expect(init.gain('relu')).toBe(Math.SQRT2);
    expect(init.gain('leaky_relu')).toBe(Math.sqrt(2 / (1 + 0.01 ** 2)));
    expect(init.fans([32, 16, 5, 5])).toEqual({ fanIn: 400, fanOut: 800 });
    expect(() => init.fans([10])).toThrow('Expected a tensor of rank ≥ 2 for fan computation but received shape [10]');
    expect(() => init.gain('selu' as never)).toThrow("Expected one of 'linear', 'relu', 'leaky_relu', 'tanh', 'sigmoid' for nonlinearity but received \"selu\"");
  });

  test('the same generator seed gives the same initialisation', () => {
    const a = new Linear(20, 10, { generator: new Generator(5) });
    const b = new Linear(20, 10, { generator: new Generator(5) });
    expect(Array.from(a.weight.toArray())).toEqual(Array.from(b.weight.toArray()));
    expect(Array.from(a.bias!.toArray())).toEqual(Array.from(b.bias!.toArray()));
  });
});
