// One step of the whole seed network against PyTorch (scripts/fixtures/seed_step.py): the same
// initial weights and batch give the same logits, loss and gradients, and the same weights after
// three Adam steps on three batches.
// Tolerances: logits and loss atol 1e-5 + rtol 1e-5 (sums of ≤1152 float32 products);
// gradients atol 2e-6 + rtol 1e-4, relative L2 1e-5 (batch sums over 64 samples, small values);
// weights after Adam atol 1e-5: each step moves a weight by ≈ lr·m̂/√v̂ ≤ 0.01 and float32 rounding
// of the gradient changes that ratio only where the gradient is near zero.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { loadStateDict, stateDict } from '../lib/io/model_io';
import { seedNetwork } from '../lib/chapter/models';
import { CrossEntropyLoss } from '../lib/nn/loss';
import { Adam } from '../lib/optim/adam';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';

const [c] = loadFixtures('seed_step');
const NAMES = ['0.weight', '0.bias', '4.weight', '4.bias'];

describe.each(DEVICES)('seed network, one step against PyTorch, on %s', (device) => {
  test('logits, loss, gradients and three Adam steps', () => {
    const model = seedNetwork();
    loadStateDict(model, Object.fromEntries(NAMES.map((n) => [n, { shape: c.get(`init.${n}`).shape, data: c.f32(`init.${n}`) }])));
    model.to(device);
    const lossFn = new CrossEntropyLoss();
    const optimizer = new Adam(model.parameters(), { lr: 0.01 });
    const x = c.f32('x');
    const y = c.i32('y');
    for (let step = 0; step < 3; step++) {
      const xb = Tensor.from(x.subarray(step * 64 * 784, (step + 1) * 64 * 784), [64, 1, 28, 28], { device });
      const yb = Tensor.from(y.subarray(step * 64, (step + 1) * 64), [64], { device, dtype: 'int32' });
      optimizer.zeroGrad();
      const logits = explicit(() => model.forward(xb));
      const result = explicit(() => lossFn.forward(logits, yb));
      model.backward(lossFn.backward());
      if (step === 0) {
        const grads = model.namedParameters().map(([name, p]) => [`grad0.${name}`, p.grad] as const);
        checkOp(c, { logits0: logits, loss0: [result.loss()], ...Object.fromEntries(grads) }, {
          logits0: { atol: 1e-5, rtol: 1e-5 },
          loss0: { atol: 1e-6, rtol: 1e-5 },
          ...Object.fromEntries(grads.map(([name]) => [name, { atol: 2e-6, rtol: 1e-4 }])),
        });
      }
      optimizer.step();
      const state = stateDict(model);
      const weights = NAMES.map((name) => [`after${step}.${name}`, Tensor.from(state[name].data, state[name].shape)] as const);
      checkOp(c, Object.fromEntries(weights), { atol: 1e-5, rtol: 0, relNorm: 1e-4 });
    }
    expect(optimizer.steps).toBe(3);
  });
});
