/**
 * Softmax and log-softmax over classes (torch.softmax / torch.log_softmax with dim=1) for [N, C]
 * scores, and their gradients. Kernels: native/kernels/softmax.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectTensor, output } from './checks';

/** Softmax of each row of a [rows, C] tensor (into `out` when given), computed stably. */
export function softmax(x: Tensor, out?: Tensor): Tensor {
  expectTensor(x, 'x', { rank: 2 });
  const y = output(out, 'out', x.shape, x.device);
  native().softmaxForward(y.buffer, x.buffer, x.shape[0], x.shape[1]);
  return y;
}

/** Checks dy [N, C] and the forward's output y (same shape and device); the output for dx. */
function rowGradArgs(dy: Tensor, y: Tensor, out: Tensor | undefined): Tensor {
  expectTensor(dy, 'dy', { rank: 2 });
  expectTensor(y, 'y', { shape: dy.shape, device: dy.device });
  return output(out, 'out', dy.shape, dy.device);
}

/** dx = y ⊙ (dy − Σ_row dy ⊙ y), from softmax's output y. */
export function softmaxBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  const dx = rowGradArgs(dy, y, out);
  native().softmaxBackward(dx.buffer, dy.buffer, y.buffer, dy.shape[0], dy.shape[1]);
  return dx;
}

/** y = x − max − log Σ exp(x − max), per row of x [N, C]. */
export function logSoftmax(x: Tensor, out?: Tensor): Tensor {
  expectTensor(x, 'x', { rank: 2 });
  const y = output(out, 'out', x.shape, x.device);
  native().logSoftmaxForward(y.buffer, x.buffer, x.shape[0], x.shape[1]);
  return y;
}

/** dx = dy − exp(y) ⊙ Σ_row dy, from log-softmax's output y. */
export function logSoftmaxBackward(dy: Tensor, y: Tensor, out?: Tensor): Tensor {
  const dx = rowGradArgs(dy, y, out);
  native().logSoftmaxBackward(dx.buffer, dy.buffer, y.buffer, dy.shape[0], dy.shape[1]);
  return dx;
}
