/**
 * Fully connected layer (torch.nn.functional.linear): y = x·Wᵀ + b, and its gradients
 * dx = dy·W, dW = dyᵀ·x, db = Σ over the batch of dy. Kernels: native/kernels/linear.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, fail } from '../validate';
import { expectTensor, output } from './checks';
import { expectOptions } from './gemm';

/** x [N, in], weight [out, in], bias [out] or null → y [N, out]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null, out?: Tensor): Tensor {
  expectTensor(x, 'x', { rank: 2 });
  expectTensor(weight, 'weight', { rank: 2, device: x.device });
  const [n, inFeatures] = x.shape;
  const outFeatures = weight.shape[0];
  if (weight.shape[1] !== inFeatures) {
    throw new RangeError(
      `Expected a weight with ${inFeatures} columns (x's in_features) for weight but received shape [${weight.shape.join(', ')}]`,
    );
  }
  if (bias !== null) expectTensor(bias, 'bias', { shape: [outFeatures], device: x.device });
  const y = output(out, 'out', [n, outFeatures], x.device);
  native().linearForward(y.buffer, x.buffer, weight.buffer, bias === null ? null : bias.buffer, n, inFeatures, outFeatures);
  return y;
}

/** linearBackward's gradients. */
export interface LinearGrads {
  /** dL/dx [N, in]; null when options.inputGrad is false. */
  dx: Tensor | null;
  /** dL/dweight [out, in]. */
  dw: Tensor;
  /** dL/dbias [out]; null when options.biasGrad is false. */
  db: Tensor | null;
}

/** Which gradients linearBackward computes, whether it accumulates, and where they go. */
export interface LinearBackwardOptions {
  /** Compute dx (default true; false for a first layer, whose input needs no gradient). */
  inputGrad?: boolean;
  /** Compute db (default true; false for a layer without bias). */
  biasGrad?: boolean;
  /** Add dw and db into out.dw and out.db (PyTorch's .grad accumulation) instead of overwriting. */
  accumulate?: boolean;
  /** Preallocated gradients (required for the ones accumulated into). */
  out?: Partial<LinearGrads>;
}

/** Gradients of linear(x, weight, bias) given dy = dL/dy [N, out]. */
export function linearBackward(dy: Tensor, x: Tensor, weight: Tensor, options?: LinearBackwardOptions): LinearGrads {
  expectTensor(dy, 'dy', { rank: 2 });
  const [n, outFeatures] = dy.shape;
  expectTensor(x, 'x', { rank: 2, device: dy.device });
  const inFeatures = x.shape[1];
  if (x.shape[0] !== n) {
    throw new RangeError(`Expected a tensor with ${n} rows (dy's batch) for x but received shape [${x.shape.join(', ')}]`);
  }
  expectTensor(weight, 'weight', { shape: [outFeatures, inFeatures], device: dy.device });
  const opts = expectOptions<LinearBackwardOptions>(options, 'options', ['inputGrad', 'biasGrad', 'accumulate', 'out']);
  const inputGrad = expectBoolean(opts.inputGrad ?? true, 'options.inputGrad');
  const biasGrad = expectBoolean(opts.biasGrad ?? true, 'options.biasGrad');
  const accumulate = expectBoolean(opts.accumulate ?? false, 'options.accumulate');
  const outs = expectOptions<Partial<LinearGrads>>(opts.out, 'options.out', ['dx', 'dw', 'db']);
  if (accumulate && outs.dw == null) fail('the gradient to accumulate into', 'options.out.dw', outs.dw);
  if (accumulate && biasGrad && outs.db == null) fail('the gradient to accumulate into', 'options.out.db', outs.db);
  const dx = inputGrad ? output(outs.dx ?? undefined, 'options.out.dx', [n, inFeatures], dy.device) : null;
  const dw = output(outs.dw ?? undefined, 'options.out.dw', [outFeatures, inFeatures], dy.device);
  const db = biasGrad ? output(outs.db ?? undefined, 'options.out.db', [outFeatures], dy.device) : null;
  native().linearBackward(
    dx === null ? null : dx.buffer, dw.buffer, db === null ? null : db.buffer,
    dy.buffer, x.buffer, weight.buffer, n, inFeatures, outFeatures, accumulate,
  );
  return { dx, dw, db };
}
