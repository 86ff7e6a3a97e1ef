/**
 * One training step of a Sequential in the explicit style, as the fused-layer tests run it on a
 * fused and an unfused copy of a model: the optimizer's gradients cleared, forward, cross-entropy,
 * backward (no update: the test compares the gradients first, then steps).
 */
import { explicit } from '../../lib/autograd/grad_mode';
import { CrossEntropyLoss } from '../../lib/nn/loss';
import type { Sequential } from '../../lib/nn/sequential';
import type { Tensor } from '../../lib/tensor';

/** The step's logits (copied out) and the model's input gradient (null unless model.inputGrad). */
export function explicitStep(model: Sequential, optimizer: { zeroGrad(): void }, x: Tensor, labels: Tensor): { logits: Float32Array; dx: Tensor | null } {
  const loss = new CrossEntropyLoss();
  optimizer.zeroGrad();
  const logits = explicit(() => model.forward(x));
  const values = logits.toArray() as Float32Array;
  explicit(() => loss.forward(logits, labels));
  const dx = model.backward(loss.backward()) ?? null;
  return { logits: values, dx };
}
