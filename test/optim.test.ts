// Optimizer steps against PyTorch (test/fixtures/optim.fixture, scripts/fixtures/optim.py):
// torch.optim.Adam / AdamW / SGD (foreach=False) run in float64 for 3 steps with fixed float32
// gradients; napinet takes the same 3 steps in float32 and is compared after every step: the
// parameter and the optimizer state (exp_avg, exp_avg_sq, momentum_buffer).
//
// Tolerance: per gradient-magnitude group (the fixture's gradients are ~1e-8, 0, ~1e3 and ~1 in four
// slices), |out − ref| ≤ 2e-6 · max|ref in the group| + 2e-6·|ref|, and relNorm 1e-6 per group.
// Every value is a handful of float32 operations per step (≲ 10 over three steps, including the
// update's lerp/addcmul/sqrt/div and the parameter's add), each rounding by 2⁻²⁴ of terms no larger
// than the group's scale; cancellations (a lerp towards an opposite gradient, param + update ≈ 0)
// make the error relative to that scale, not to the result. Measured: max |diff| / group scale
// 2.1e-7, max rel L2 1.1e-7.
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { adamStep, adamStepMany, sgdStep, type AdamHyper, type SgdHyper } from '../lib/ops/optim';
import { Tensor } from '../lib/tensor';
import { expectClose, expectIdentical } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { expectSameBitsAcrossThreads } from './helpers/threads';

const cases = loadFixtures('optim');
const STEPS = 3;
const RTOL = 2e-6;
const REL_NORM = 1e-6;

// Slices of the parameter whose gradients share a magnitude (scripts/fixtures/optim.py).
const GROUPS: [number, number, string][] = [
  [0, 50, 'grads ~1e-8'],
  [50, 100, 'zero grads'],
  [100, 150, 'grads ~1e3'],
  [150, 1000, 'grads ~1'],
];

function expectCloseByGroup(actual: ArrayLike<number>, reference: Float64Array, label: string): void {
  expect(actual.length).toBe(reference.length);
  for (const [begin, end, name] of GROUPS) {
    const ref = reference.subarray(begin, end);
    const scale = ref.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    expectClose(Array.prototype.slice.call(actual, begin, end), ref, { atol: RTOL * scale, rtol: RTOL, relNorm: REL_NORM }, `${label} (${name})`);
  }
}

function atStep(c: FixtureCase, name: string, step: number, n: number): Float64Array {
  return c.f64(name).slice(step * n, (step + 1) * n);
}

function adamHyper(c: FixtureCase, step: number): AdamHyper {
  const p = c.params;
  return { lr: p.lr, beta1: p.beta1, beta2: p.beta2, eps: p.eps, weightDecay: p.weightDecay, step, decoupled: p.decoupled };
}

function sgdHyper(c: FixtureCase, firstStep: boolean): SgdHyper {
  const p = c.params;
  return { lr: p.lr, momentum: p.momentum, dampening: p.dampening, weightDecay: p.weightDecay, nesterov: p.nesterov, firstStep };
}

describe.each(DEVICES)('optimizers on %s', (device) => {
  /** Runs the case's 3 steps; calls check(step, tensors) after each. */
  function run(c: FixtureCase, check?: (step: number, t: { param: Tensor; a: Tensor; b: Tensor; grad: Tensor }) => void) {
    const n = c.get('param0').shape[0];
    const param = Tensor.from(c.f32('param0'), [n], { device });
    const grads = c.f32('grads');
    const a = Tensor.zeros([n], { device }); // exp_avg or momentum buffer
    const b = Tensor.zeros([n], { device }); // exp_avg_sq
    for (let step = 0; step < STEPS; step++) {
      const grad = Tensor.from(grads.slice(step * n, (step + 1) * n), [n], { device });
      if (c.params.kind === 'adam') adamStep(param, grad, a, b, adamHyper(c, step + 1));
      else sgdStep(param, grad, c.params.momentum !== 0 ? a : null, sgdHyper(c, step === 0));
      check?.(step, { param, a, b, grad });
    }
    return { param, a, b };
  }

  for (const c of cases) {
    test(c.name, () => {
      const n = c.get('param0').shape[0];
      run(c, (step, t) => {
        const label = `${c.name} step ${step + 1}`;
        expectCloseByGroup(t.param.toArray(), atStep(c, 'params', step, n), `${label} param`);
        if (c.params.kind === 'adam') {
          expectCloseByGroup(t.a.toArray(), atStep(c, 'exp_avg', step, n), `${label} exp_avg`);
          expectCloseByGroup(t.b.toArray(), atStep(c, 'exp_avg_sq', step, n), `${label} exp_avg_sq`);
        } else if (c.has('momentum_buffer')) {
          expectCloseByGroup(t.a.toArray(), atStep(c, 'momentum_buffer', step, n), `${label} momentum_buffer`);
        }
        // The gradient is read, never written.
        expect(t.grad.toArray()).toEqual(c.f32('grads').slice(step * n, (step + 1) * n));
      });
    });
  }

  test('1 thread and the default thread count give bit-identical results', () => {
    const big = 300_000; // several parallel chunks
    const make = () => ({
      param: Tensor.from(Float32Array.from({ length: big }, (_, i) => Math.sin(i)), [big], { device }),
      grad: Tensor.from(Float32Array.from({ length: big }, (_, i) => Math.cos(i * 0.7)), [big], { device }),
      a: Tensor.zeros([big], { device }),
      b: Tensor.zeros([big], { device }),
    });
    expectSameBitsAcrossThreads(() => {
      const t = make();
      for (let step = 1; step <= 2; step++) adamStep(t.param, t.grad, t.a, t.b, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.01, step, decoupled: true });
      const s = make();
      for (let step = 1; step <= 2; step++) sgdStep(s.param, s.grad, s.a, { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true, firstStep: step === 1 });
      return [t.param, t.a, t.b, s.param, s.a];
    });
  });

  test('adamStepMany equals adamStep on each tensor, bit for bit (37 tensors: three GPU launches; empty ones skipped)', () => {
    const sizes = Array.from({ length: 37 }, (_, i) => (i % 9 === 4 ? 0 : 1 + ((i * 977) % 3000)));
    const make = (i: number, n: number) => ({
      param: Tensor.from(Float32Array.from({ length: n }, (_, k) => Math.sin(k + i)), [n], { device }),
      grad: Tensor.from(Float32Array.from({ length: n }, (_, k) => Math.cos(k * 0.7 - i)), [n], { device }),
      a: Tensor.zeros([n], { device }),
      b: Tensor.zeros([n], { device }),
    });
    const one = sizes.map((n, i) => make(i, n));
    const many = sizes.map((n, i) => make(i, n));
    for (let step = 1; step <= 3; step++) {
      const h = { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: step === 2 ? 0.01 : 0, step, decoupled: step === 3 };
      for (const t of one) adamStep(t.param, t.grad, t.a, t.b, h);
      adamStepMany(many.map((t) => t.param), many.map((t) => t.grad), many.map((t) => t.a), many.map((t) => t.b), h);
    }
    one.forEach((t, i) => {
      for (const key of ['param', 'a', 'b'] as const) expectIdentical(many[i][key].toArray(), t[key].toArray(), `tensor ${i} ${key}`);
    });
  });

  test('adamStepMany over a network-sized list (the CPU splits the values laid end to end) equals adamStep on each tensor, with 1 thread and several', () => {
    // The deep network's parameter sizes, some odd: chunks of the flat total start inside tensors
    // and span several, unaligned with each tensor's own start.
    const sizes = [288, 32, 32, 9216, 32, 32, 18_432, 64, 64, 36_864, 64, 64, 262_144, 256, 256, 32_768, 128, 128, 1290, 10, 7, 0, 4099];
    const make = () =>
      sizes.map((n, i) => ({
        param: Tensor.from(Float32Array.from({ length: n }, (_, k) => Math.sin(k * 1.3 + i)), [n], { device }),
        grad: Tensor.from(Float32Array.from({ length: n }, (_, k) => Math.cos(k * 0.7 - i)), [n], { device }),
        a: Tensor.zeros([n], { device }),
        b: Tensor.zeros([n], { device }),
      }));
    const hyper = (step: number) => ({ lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: step === 2 ? 0.01 : 0, step, decoupled: step === 3 });
    const batched = () => {
      const many = make();
      for (let step = 1; step <= 3; step++) adamStepMany(many.map((t) => t.param), many.map((t) => t.grad), many.map((t) => t.a), many.map((t) => t.b), hyper(step));
      return many.flatMap((t) => [t.param, t.a, t.b]);
    };
    const one = make();
    for (let step = 1; step <= 3; step++) for (const t of one) adamStep(t.param, t.grad, t.a, t.b, hyper(step));
    const many = batched();
    one.forEach((t, i) => {
      ['param', 'a', 'b'].forEach((key, j) => expectIdentical(many[3 * i + j].toArray(), t[key as 'param' | 'a' | 'b'].toArray(), `tensor ${i} ${key}`));
    });
    expectSameBitsAcrossThreads(batched);
  });

  test('adamStepMany rejects mismatched lists, naming the element', () => {
    const p = [Tensor.zeros([4], { device }), Tensor.zeros([2], { device })];
    const like = () => p.map((t) => Tensor.zeros(t.shape, { device }));
    const h = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1, decoupled: false };
    expect(() => adamStepMany(p, like().slice(1), like(), like(), h)).toThrow(new RangeError('Expected 2 tensors (one per param) for grads but received 1'));
    expect(() => adamStepMany(p, like(), [p[0], Tensor.zeros([3], { device })], like(), h)).toThrow('Expected shape [2] for expAvgs[1] but received [3]');
    expect(() => adamStepMany(p, like(), like(), 'x' as never, h)).toThrow('Expected an Array of tensors for expAvgSqs but received "x"');
    if (device === 'cuda:0') {
      expect(() => adamStepMany([p[0], Tensor.zeros([2])], like(), like(), like(), h)).toThrow('Expected a tensor on cuda:0 for params[1] but received a tensor on cpu');
    }
  });

  test('rejects bad tensors and hyper-parameters with messages naming the argument', () => {
    const p = Tensor.zeros([4], { device });
    const g = Tensor.zeros([4], { device });
    const m = Tensor.zeros([4], { device });
    const v = Tensor.zeros([4], { device });
    const h: AdamHyper = { lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step: 1, decoupled: false };
    expect(() => adamStep([1] as never, g, m, v, h)).toThrow('Expected a Tensor for param but received [1]');
    expect(() => adamStep(p, Tensor.zeros([5], { device }), m, v, h)).toThrow('Expected shape [4] for grad but received [5]');
    expect(() => adamStep(p, g, m, Tensor.zeros([2, 2], { device }), h)).toThrow('Expected shape [4] for expAvgSq but received [2, 2]');
    expect(() => adamStep(p, g, m, v, undefined as never)).toThrow('Expected an object of hyper-parameters for h but received undefined');
    expect(() => adamStep(p, g, m, v, { ...h, lr: -1 })).toThrow(new RangeError('Expected a finite number ≥ 0 for h.lr but received -1'));
    expect(() => adamStep(p, g, m, v, { ...h, beta1: 1 })).toThrow(new RangeError('Expected a number in [0, 1) for h.beta1 but received 1'));
    expect(() => adamStep(p, g, m, v, { ...h, beta2: Number.NaN })).toThrow('Expected a number for h.beta2 but received NaN');
    expect(() => adamStep(p, g, m, v, { ...h, step: 0 })).toThrow(new RangeError('Expected an integer ≥ 1 for h.step but received 0'));
    expect(() => adamStep(p, g, m, v, { ...h, step: 1.5 })).toThrow('Expected an integer for h.step but received 1.5');
    expect(() => adamStep(p, g, m, v, { ...h, decoupled: 'yes' as never })).toThrow('Expected a boolean for h.decoupled but received "yes"');

    const s: SgdHyper = { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0, nesterov: false, firstStep: true };
    expect(() => sgdStep(p, g, null, s)).toThrow(new TypeError('Expected a Tensor (momentum is 0.9) for momentumBuffer but received null'));
    expect(() => sgdStep(p, g, Tensor.zeros([3], { device }), s)).toThrow('Expected shape [4] for momentumBuffer but received [3]');
    expect(() => sgdStep(p, g, m, { ...s, momentum: -0.5 })).toThrow('Expected a finite number ≥ 0 for h.momentum but received -0.5');
    expect(() => sgdStep(p, g, m, { ...s, nesterov: true, dampening: 0.1 })).toThrow(
      new RangeError('Expected momentum > 0 and dampening 0 with nesterov for h but received "momentum 0.9, dampening 0.1"'),
    );
    expect(() => sgdStep(p, g, null, { ...s, momentum: 0, nesterov: true })).toThrow('Expected momentum > 0 and dampening 0 with nesterov for h');
    expect(() => sgdStep(p, g, null, { ...s, firstStep: undefined as never })).toThrow('Expected a boolean for h.firstStep but received undefined');
    // momentum 0 needs no buffer
    expect(() => sgdStep(p, g, null, { ...s, momentum: 0 })).not.toThrow();
  });
});

describe('optimizer native checks', () => {
  const addon = native();
  const b4 = () => new Float32Array(4);

  test('a buffer too small for n is a RangeError naming it', () => {
    expect(() => addon.adamStepMany([b4()], [b4()], [new Float32Array(3)], [b4()], 1e-3, 0.9, 0.999, 1e-8, 0, 1, false)).toThrow(
      new RangeError('Expected at least 4 elements for expAvgs[0] but received 3'),
    );
    expect(() => addon.sgdStep(b4(), b4(), new Float32Array(2), 4, 0.1, 0.9, 0, 0, false, true)).toThrow('Expected at least 4 elements for momentumBuffer but received 2');
  });

  test('hyper-parameters are re-checked, and momentum needs a buffer', () => {
    expect(() => addon.adamStepMany([b4()], [b4()], [b4()], [b4()], 1e-3, 0.9, 0.999, 1e-8, 0, 0, false)).toThrow('Expected an integer in [1, ');
    expect(() => addon.adamStepMany([b4()], [b4()], [b4()], [b4()], 1e-3, 1, 0.999, 1e-8, 0, 1, false)).toThrow(new RangeError('Expected a number in [0, 1) for beta1 but received 1'));
    expect(() => addon.adamStepMany([b4(), b4()], [b4()], [b4()], [b4()], 1e-3, 0.9, 0.999, 1e-8, 0, 1, false)).toThrow(
      new RangeError('Expected 2 tensors (one per param) for grads but received 1'),
    );
    expect(() => addon.adamStepMany(b4() as never, [b4()], [b4()], [b4()], 1e-3, 0.9, 0.999, 1e-8, 0, 1, false)).toThrow(
      new TypeError('Expected an Array of tensors for params but received a Float32Array'),
    );
    expect(() => addon.sgdStep(b4(), b4(), null, 4, 0.1, 0.9, 0, 0, false, true)).toThrow(new TypeError('Expected a Float32Array for momentumBuffer but received null'));
    const param = new Float32Array([1, 2, 3, 4]);
    addon.sgdStep(param, new Float32Array([1, 1, 1, 1]), null, 4, 0.5, 0, 0, 0, false, true);
    expect(Array.from(param)).toEqual([0.5, 1.5, 2.5, 3.5]);
  });
});
