/**
 * Activation layers, after torch.nn: ReLU, Sigmoid, Tanh, LeakyReLU, ELU, GELU, Softplus, on the
 * ActivationLayer body they share with Softmax and LogSoftmax (nn/softmax.ts).
 * Ops: lib/ops/activation.ts.
 */
import type { GeluApproximate } from '../ops/activation';
import { isExplicitMode } from '../autograd/grad_mode';
import { expectFinite } from '../ops/checks';
import type { Tensor } from '../tensor';
import { expectOneOf, fail } from '../validate';
import { ACTIVATIONS, type ActivationOps, elementwiseFunction } from './functional';
import { type LayerConfig, Module } from './module';

export type { ActivationOps } from './functional';

/**
 * A layer y = f(x) whose output has the input's shape and whose backward needs x or y (ops.from):
 * the activations, and the softmaxes. forward(x) writes y into a reused buffer; backward(dy)
 * writes dx into another.
 */
export abstract class ActivationLayer extends Module {
  private kept: Tensor | undefined;
  /** The recorded forward: an autograd Function over the same op pair. */
  private readonly recorded: (x: Tensor) => Tensor;

  protected constructor(
    protected readonly type: string,
    private readonly ops: ActivationOps,
    /** The constructor's arguments, as config() stores them and as torch prints them (toString). */
    private readonly args: { config: Record<string, unknown>; repr: string } = { config: {}, repr: '' },
  ) {
    super();
    this.recorded = elementwiseFunction(ops);
  }

  forward(x: Tensor): Tensor {
    if (!isExplicitMode()) return this.recordedForward(this.recorded(x));
    const y = this.ops.forward(x, this.workspace.get('y', x.shape, x.device));
    this.kept = this.ops.from === 'output' ? y : x;
    this.savedForBackward();
    return y;
  }

  override backward(dy: Tensor): Tensor | null {
    const kept = this.saved(this.kept, this.ops.from);
    this.consumedByBackward();
    if (!this.inputGrad) return null;
    return this.ops.backward(dy, kept, this.workspace.get('dx', kept.shape, kept.device));
  }

  override outputShape(input: readonly number[]): number[] {
    return [...input];
  }

  override config(): LayerConfig {
    return { type: this.type, ...this.args.config };
  }

  override toString(): string {
    return `${this.type}(${this.args.repr})`;
  }
}

/** torch.nn.ReLU: max(x, 0), element-wise. */
export class ReLU extends ActivationLayer {
  constructor() {
    super('ReLU', ACTIVATIONS.relu);
  }
}

/** torch.nn.Sigmoid: 1 / (1 + e^−x), element-wise. */
export class Sigmoid extends ActivationLayer {
  constructor() {
    super('Sigmoid', ACTIVATIONS.sigmoid);
  }
}

/** torch.nn.Tanh: the hyperbolic tangent, element-wise. */
export class Tanh extends ActivationLayer {
  constructor() {
    super('Tanh', ACTIVATIONS.tanh);
  }
}

/** torch.nn.LeakyReLU(negative_slope=0.01). */
export class LeakyReLU extends ActivationLayer {
  constructor(readonly negativeSlope = 0.01) {
    super('LeakyReLU', ACTIVATIONS.leakyRelu(expectFinite(negativeSlope, 'negativeSlope')), {
      config: { negativeSlope },
      repr: `negative_slope=${pyFloat(negativeSlope)}`,
    });
  }
}

/** torch.nn.ELU(alpha=1.0). */
export class ELU extends ActivationLayer {
  constructor(readonly alpha = 1) {
    super('ELU', ACTIVATIONS.elu(expectFinite(alpha, 'alpha')), { config: { alpha }, repr: `alpha=${pyFloat(alpha)}` });
  }
}

/** torch.nn.GELU(approximate='none' | 'tanh'). */
export class GELU extends ActivationLayer {
  constructor(readonly approximate: GeluApproximate = 'none') {
    super('GELU', ACTIVATIONS.gelu(expectOneOf(approximate, 'approximate', ['none', 'tanh'] as const)), {
      config: { approximate },
      repr: `approximate='${approximate}'`,
    });
  }
}

/** torch.nn.Softplus(beta=1.0, threshold=20.0). */
export class Softplus extends ActivationLayer {
  constructor(
    readonly beta = 1,
    readonly threshold = 20,
  ) {
    super('Softplus', ACTIVATIONS.softplus(softplusArguments(beta, threshold)), {
      config: { beta, threshold },
      repr: `beta=${pyFloat(beta)}, threshold=${pyFloat(threshold)}`,
    });
  }
}

function softplusArguments(beta: number, threshold: number): { beta: number; threshold: number } {
  expectFinite(beta, 'beta');
  if (beta === 0) fail('a non-zero number', 'beta', beta, RangeError);
  return { beta, threshold: expectFinite(threshold, 'threshold') };
}

/** A number as Python prints a float (1 → 1.0, 1e-5 → 1e-05), for torch-style toString(). */
export function pyFloat(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return v.toFixed(1);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}
