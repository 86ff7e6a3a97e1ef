/** Softmax over classes (torch.softmax(x, dim=1)) for [N, C] scores. Kernel: native/kernels/softmax. */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectTensor, output } from './checks';

export function softmax(x: Tensor, out?: Tensor): Tensor {
  expectTensor(x, 'x', { rank: 2 });
  const y = output(out, 'out', x.shape, x.device);
  native().softmaxForward(y.buffer, x.buffer, x.shape[0], x.shape[1]);
  return y;
}
