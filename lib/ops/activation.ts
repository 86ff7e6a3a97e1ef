/** Element-wise activations (torch.nn.functional.relu). Kernels: native/kernels/activation. */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectTensor, output } from './checks';

/** y = max(x, 0). */
export function relu(x: Tensor, out?: Tensor): Tensor {
  expectTensor(x, 'x');
  const y = output(out, 'out', x.shape, x.device);
  native().reluForward(y.buffer, x.buffer, x.size);
  return y;
}

/** dx = dy where y > 0, else 0 (the gradient at exactly 0 is 0, as in PyTorch). */
export function reluBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  expectTensor(dy, 'dy');
  expectTensor(y, 'y', { shape: dy.shape, device: dy.device });
  const dx = output(out, 'out', dy.shape, dy.device);
  native().reluBackward(dx.buffer, dy.buffer, y.buffer, dy.size);
  return dx;
}
