// Learning-rate schedulers against torch.optim.lr_scheduler (scripts/fixtures/lr_scheduler.py).
// Tolerance: rtol 1e-12 — both sides evaluate the same closed forms in double precision
// (napinet's OneCycleLR cycles the learning rate only, not momentum). ReduceLROnPlateau is fed the
// fixture's sequence of monitored values (a NaN among them) and must give PyTorch's rates: the
// same products of factors in double precision.
import { describe, expect, test } from 'vitest';
import { Parameter } from '../lib/nn/module';
import { SGD } from '../lib/optim/sgd';
import { CosineAnnealingLR, type LRScheduler, OneCycleLR, ReduceLROnPlateau, StepLR } from '../lib/optim/lr_scheduler';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { loadFixtures } from './helpers/fixtures';

function schedulerFor(params: Record<string, any>): LRScheduler {
  const opt = new SGD([new Parameter(Tensor.zeros([1]))], { lr: params.lr });
  switch (params.type) {
    case 'StepLR':
      return new StepLR(opt, { stepSize: params.stepSize, gamma: params.gamma });
    case 'ReduceLROnPlateau':
      return new ReduceLROnPlateau(opt, {
        mode: params.mode,
        factor: params.factor,
        patience: params.patience,
        threshold: params.threshold,
        thresholdMode: params.threshold_mode,
        cooldown: params.cooldown,
        minLr: params.min_lr,
        eps: params.eps,
      });
    case 'CosineAnnealingLR':
      return new CosineAnnealingLR(opt, { tMax: params.tMax, etaMin: params.etaMin });
    default:
      return new OneCycleLR(opt, { maxLr: params.maxLr, totalSteps: params.totalSteps });
  }
}

describe('learning-rate schedulers match PyTorch', () => {
  for (const c of loadFixtures('lr_scheduler')) {
    test(c.name, () => {
      const reference = c.f64('lr');
      const scheduler = schedulerFor(c.params);
      const rates = [scheduler.optimizer.lr];
      const metrics: (number | null)[] | undefined = c.params.metrics;
      for (let i = 1; i < reference.length; i++) {
        if (metrics) (scheduler as ReduceLROnPlateau).step(metrics[i - 1] ?? NaN);
        else scheduler.step();
        rates.push(scheduler.optimizer.lr);
      }
      expectClose(rates, reference, { atol: 0, rtol: 1e-12, relNorm: 1e-12 }, c.name);
    });
  }

  test('a restored scheduler continues with the same rates', () => {
    const a = schedulerFor({ type: 'StepLR', lr: 0.01, stepSize: 5, gamma: 0.5 });
    for (let i = 0; i < 12; i++) a.step();
    const b = schedulerFor({ type: 'StepLR', lr: 0.01, stepSize: 5, gamma: 0.5 });
    b.loadStateDict(a.stateDict());
    expect(b.optimizer.lr).toBe(a.optimizer.lr);
    a.step();
    b.step();
    expect(b.optimizer.lr).toBe(a.optimizer.lr);
  });

  test('ReduceLROnPlateau restored from its state continues with the same rates', () => {
    const values = [1, 0.9, 0.9, 0.9, 0.9, 0.95, 0.8, 0.8, 0.8, 0.8, 0.8];
    const make = () => new ReduceLROnPlateau(new SGD([new Parameter(Tensor.zeros([1]))], { lr: 0.1 }), { patience: 1, cooldown: 1 });
    const a = make();
    values.slice(0, 5).forEach((v) => a.step(v));
    const b = make();
    b.loadStateDict(JSON.parse(JSON.stringify(a.stateDict()))); // as a checkpoint stores it
    for (const v of values.slice(5)) {
      a.step(v);
      b.step(v);
      expect(b.optimizer.lr).toBe(a.optimizer.lr);
    }
    expect(a.optimizer.lr).toBeLessThan(0.1);
    expect(() => a.step()).toThrow('Expected a number (the monitored value) for ReduceLROnPlateau.step(value) but received undefined');
  });

  test('bad options name the argument', () => {
    const opt = new SGD([new Parameter(Tensor.zeros([1]))], { lr: 0.1 });
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow('Expected an integer ≥ 1 for stepSize but received 0');
    expect(() => new CosineAnnealingLR(opt, { tMax: 1.5 })).toThrow('Expected an integer for tMax but received 1.5');
    expect(() => new ReduceLROnPlateau(opt, { factor: 1 })).toThrow('Expected a factor < 1 for factor but received 1');
    expect(() => new ReduceLROnPlateau(opt, { mode: 'up' as 'min' })).toThrow("Expected one of 'min', 'max' for mode but received \"up\"");
  });
});
