/**
 * Activation layers, after torch.nn: ReLU, Sigmoid, Tanh, LeakyReLU, ELU, GELU, Softplus.
 * Ops: lib/ops/activation.ts.
 */
import {
  elu, eluBackward, gelu, geluBackward, type GeluApproximate, leakyRelu, leakyReluBackward, relu,
  reluBackward, sigmoid, sigmoidBackward, softplus, softplusBackward, tanh, tanhBackward,
} from '../ops/activation';
import { expectFinite } from '../ops/checks';
import type { Tensor } from '../tensor';
import { expectOneOf, fail } from '../validate';
import { type LayerConfig, Module } from './module';

export class ReLU extends Module {
  private output: Tensor | undefined;

  forward(x: Tensor): Tensor {
    this.output = relu(x, this.workspace.get('y', x.shape, x.device));
    return this.output;
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const y = this.saved(this.output, 'output');
    return reluBackward(dy, y, this.workspace.get('dx', y.shape, y.device));
  }

  outputShape(input: readonly number[]): number[] {
    return [...input];
  }

  config(): LayerConfig {
    return { type: 'ReLU' };
  }

  override toString(): string {
    return 'ReLU()';
  }
}

/** A number as Python prints a float (1 → 1.0, 1e-5 → 1e-05), for torch-style toString(). */
export function pyFloat(v: number): string {
  if (Number.isInteger(v) && Math.abs(v) < 1e16) return v.toFixed(1);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-4 || a >= 1e16)) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}

/**
 * An element-wise activation whose backward needs the forward's output (`fromOutput`) or input:
 * forward(x) writes y into a reused buffer; backward(dy) writes dx into another.
 */
abstract class ElementwiseActivation extends Module {
  private kept: Tensor | undefined;
  protected abstract readonly fromOutput: boolean;
  protected abstract apply(x: Tensor, out: Tensor): Tensor;
  protected abstract gradient(dy: Tensor, kept: Tensor, out: Tensor): Tensor;

  forward(x: Tensor): Tensor {
    const y = this.apply(x, this.workspace.get('y', x.shape, x.device));
    this.kept = this.fromOutput ? y : x;
    return y;
  }

  backward(dy: Tensor): Tensor | null {
    if (!this.inputGrad) return null;
    const kept = this.saved(this.kept, this.fromOutput ? 'output' : 'input');
    return this.gradient(dy, kept, this.workspace.get('dx', kept.shape, kept.device));
  }

  outputShape(input: readonly number[]): number[] {
    return [...input];
  }
}

export class Sigmoid extends ElementwiseActivation {
  protected readonly fromOutput = true;
  protected apply(x: Tensor, out: Tensor): Tensor {
    return sigmoid(x, out);
  }
  protected gradient(dy: Tensor, y: Tensor, out: Tensor): Tensor {
    return sigmoidBackward(dy, y, out);
  }
  config(): LayerConfig {
    return { type: 'Sigmoid' };
  }
  override toString(): string {
    return 'Sigmoid()';
  }
}

export class Tanh extends ElementwiseActivation {
  protected readonly fromOutput = true;
  protected apply(x: Tensor, out: Tensor): Tensor {
    return tanh(x, out);
  }
  protected gradient(dy: Tensor, y: Tensor, out: Tensor): Tensor {
    return tanhBackward(dy, y, out);
  }
  config(): LayerConfig {
    return { type: 'Tanh' };
  }
  override toString(): string {
    return 'Tanh()';
  }
}

/** torch.nn.LeakyReLU(negative_slope=0.01). */
export class LeakyReLU extends ElementwiseActivation {
  readonly negativeSlope: number;
  protected readonly fromOutput = false;
  constructor(negativeSlope = 0.01) {
    super();
    this.negativeSlope = expectFinite(negativeSlope, 'negativeSlope');
  }
  protected apply(x: Tensor, out: Tensor): Tensor {
    return leakyRelu(x, this.negativeSlope, out);
  }
  protected gradient(dy: Tensor, x: Tensor, out: Tensor): Tensor {
    return leakyReluBackward(dy, x, this.negativeSlope, out);
  }
  config(): LayerConfig {
    return { type: 'LeakyReLU', negativeSlope: this.negativeSlope };
  }
  override toString(): string {
    return `LeakyReLU(negative_slope=${pyFloat(this.negativeSlope)})`;
  }
}

/** torch.nn.ELU(alpha=1.0). */
export class ELU extends ElementwiseActivation {
  readonly alpha: number;
  protected readonly fromOutput = false;
  constructor(alpha = 1) {
    super();
    this.alpha = expectFinite(alpha, 'alpha');
  }
  protected apply(x: Tensor, out: Tensor): Tensor {
    return elu(x, this.alpha, out);
  }
  protected gradient(dy: Tensor, x: Tensor, out: Tensor): Tensor {
    return eluBackward(dy, x, this.alpha, out);
  }
  config(): LayerConfig {
    return { type: 'ELU', alpha: this.alpha };
  }
  override toString(): string {
    return `ELU(alpha=${pyFloat(this.alpha)})`;
  }
}

/** torch.nn.GELU(approximate='none' | 'tanh'). */
export class GELU extends ElementwiseActivation {
  readonly approximate: GeluApproximate;
  protected readonly fromOutput = false;
  constructor(approximate: GeluApproximate = 'none') {
    super();
    this.approximate = expectOneOf(approximate, 'approximate', ['none', 'tanh'] as const);
  }
  protected apply(x: Tensor, out: Tensor): Tensor {
    return gelu(x, this.approximate, out);
  }
  protected gradient(dy: Tensor, x: Tensor, out: Tensor): Tensor {
    return geluBackward(dy, x, this.approximate, out);
  }
  config(): LayerConfig {
    return { type: 'GELU', approximate: this.approximate };
  }
  override toString(): string {
    return `GELU(approximate='${this.approximate}')`;
  }
}

/** torch.nn.Softplus(beta=1.0, threshold=20.0). */
export class Softplus extends ElementwiseActivation {
  readonly beta: number;
  readonly threshold: number;
  protected readonly fromOutput = false;
  constructor(beta = 1, threshold = 20) {
    super();
    this.beta = expectFinite(beta, 'beta');
    if (this.beta === 0) fail('a non-zero number', 'beta', beta, RangeError);
    this.threshold = expectFinite(threshold, 'threshold');
  }
  protected apply(x: Tensor, out: Tensor): Tensor {
    return softplus(x, { beta: this.beta, threshold: this.threshold }, out);
  }
  protected gradient(dy: Tensor, x: Tensor, out: Tensor): Tensor {
    return softplusBackward(dy, x, { beta: this.beta, threshold: this.threshold }, out);
  }
  config(): LayerConfig {
    return { type: 'Softplus', beta: this.beta, threshold: this.threshold };
  }
  override toString(): string {
    return `Softplus(beta=${pyFloat(this.beta)}, threshold=${pyFloat(this.threshold)})`;
  }
}
