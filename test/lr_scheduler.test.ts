// Learning-rate schedulers against torch.optim.lr_scheduler (scripts/fixtures/lr_scheduler.py).
// Tolerance: rtol 1e-12 — both sides evaluate the same closed forms in double precision
// (napinet's OneCycleLR cycles the learning rate only, not momentum).
import { describe, expect, test } from 'vitest';
import { Parameter } from '../lib/nn/module';
import { SGD } from '../lib/optim/sgd';
import { CosineAnnealingLR, type LRScheduler, OneCycleLR, StepLR } from '../lib/optim/lr_scheduler';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { loadFixtures } from './helpers/fixtures';

function schedulerFor(params: Record<string, any>): LRScheduler {
  const opt = new SGD([new Parameter(Tensor.zeros([1]))], { lr: params.lr });
  switch (params.type) {
    case 'StepLR':
      return new StepLR(opt, { stepSize: params.stepSize, gamma: params.gamma });
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
      for (let i = 1; i < reference.length; i++) {
        scheduler.step();
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

  test('bad options name the argument', () => {
    const opt = new SGD([new Parameter(Tensor.zeros([1]))], { lr: 0.1 });
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow('Expected an integer ≥ 1 for stepSize but received 0');
    expect(() => new CosineAnnealingLR(opt, { tMax: 1.5 })).toThrow('Expected an integer for tMax but received 1.5');
  });
});
