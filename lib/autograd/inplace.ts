/**
 * In-place arithmetic (x.add_(y), …): writes into x's memory and bumps its version, so a graph
 * that saved x refuses to backward through the change. Not recorded: while gradients are recorded,
 * a tensor that requires grad cannot be changed in place (use the out-of-place form), as PyTorch
 * refuses it for leaves.
 */
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { isGradEnabled } from './grad_mode';
import * as K from './kernels';

export function inPlace(op: 'add' | 'sub' | 'mul' | 'div', target: Tensor, other: Tensor | number): Tensor {
  if (isGradEnabled() && target.requiresGrad) {
    throw new Error(
      `Expected a tensor that does not require grad for ${op}_() while gradients are recorded but received ${target}: ` +
        `use ${op}() (out of place), or change it inside noGrad() (as an optimizer does)`,
    );
  }
  if (typeof other === 'number') {
    const scalarOps = { add: ['addScalar', other], sub: ['addScalar', -other], mul: ['mulScalar', other], div: ['divScalar', other] } as const;
    const [unary, value] = scalarOps[op];
    K.unary(unary, target, value, undefined, target);
  } else {
    if (typeof other !== 'object' || other === null) fail('a Tensor or a number', 'other', other);
    K.binary(op, target, other, target);
  }
  return target;
}
