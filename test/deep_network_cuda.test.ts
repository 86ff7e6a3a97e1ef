// The deep network (lib/chapter/models.ts deepNetwork: conv + BatchNorm + ReLU blocks, pools,
// BatchNorm1d, Dropout) on CUDA against the CPU, one training step. In a file of its own so the
// emulator's CI run, which leaves out the CLI and recipe files (test/deep_mnist.test.ts), keeps it.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { deepNetwork } from '../lib/chapter/models';
import { CrossEntropyLoss } from '../lib/nn/loss';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import type { Device } from '../lib/device';
import { DEVICES } from './helpers/devices';

describe.skipIf(!DEVICES.includes('cuda:0'))('deepNetwork on CUDA', () => {
  // One training step (BatchNorm in training mode, Dropout with the same Philox masks on both
  // devices) on CUDA against the CPU: the same logits and parameter gradients up to the float32
  // reassociation of the two devices' sums (relative L2 ≤ 1e-4 over each tensor; measured on the
  // emulator: logits 2.8e-6, worst parameter gradient 1.3e-5).
  test('a training step matches the CPU', () => {
    const run = (device: Device) => {
      const net = deepNetwork({ generator: new Generator(5) }).to(device);
      const g = new Generator(9);
      const x = Tensor.from(Float32Array.from({ length: 4 * 784 }, () => g.normal()), [4, 1, 28, 28], { device });
      const labels = Tensor.from(Int32Array.from([3, 1, 4, 1]), [4], { device, dtype: 'int32' });
      const loss = new CrossEntropyLoss();
      const y = explicit(() => net.forward(x));
      const logits = y.toArray();
      explicit(() => loss.forward(y, labels));
      net.backward(loss.backward());
      return { logits, grads: net.namedParameters().map(([name, p]) => [name, p.grad.toArray()] as const) };
    };
    const cpu = run('cpu');
    const gpu = run('cuda:0');
    const relL2 = (a: ArrayLike<number>, b: ArrayLike<number>) => {
      let d = 0;
      let r = 0;
      for (let i = 0; i < b.length; i++) {
        d += (a[i] - b[i]) ** 2;
        r += b[i] ** 2;
      }
      return Math.sqrt(d / Math.max(r, 1e-30));
    };
    expect(relL2(gpu.logits, cpu.logits)).toBeLessThan(1e-4);
    gpu.grads.forEach(([name, grad], i) => expect(relL2(grad, cpu.grads[i][1]), name).toBeLessThan(1e-4));
  });
});
