/**
 * One optimizer step on one parameter tensor, in place: torch.optim.Adam / AdamW and torch.optim.SGD
 * (their single-tensor algorithms, foreach=False). Kernels: native/kernels/optim.
 * The optimizer classes (lib/optim/) own the state tensors and the step count and call these.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, expectInt, expectNumber, fail } from '../validate';
import { expectTensor } from './checks';

export interface AdamHyper {
  lr: number;
  beta1: number;
  beta2: number;
  /** Added outside the square root, as PyTorch. */
  eps: number;
  weightDecay: number;
  /** The step being taken, from 1 (for the bias corrections 1 − β^step). */
  step: number;
  /** AdamW: decay the parameter (param *= 1 − lr·weightDecay) instead of adding weightDecay·param to the gradient. */
  decoupled: boolean;
}

export interface SgdHyper {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  /** The first step with this buffer: it is set to the gradient (no dampening), as PyTorch does. */
  firstStep: boolean;
}

function expectHyper(h: unknown): Record<string, unknown> {
  if (typeof h !== 'object' || h === null || Array.isArray(h)) fail('an object of hyper-parameters', 'h', h);
  return h as Record<string, unknown>;
}

function finiteAtLeast0(value: unknown, name: string): number {
  expectNumber(value, name);
  if (!Number.isFinite(value) || (value as number) < 0) fail('a finite number ≥ 0', name, value, RangeError);
  return value as number;
}

function beta(value: unknown, name: string): number {
  expectNumber(value, name);
  if (!((value as number) >= 0 && (value as number) < 1)) fail('a number in [0, 1)', name, value, RangeError);
  return value as number;
}

function expectParamAndState(param: Tensor, tensors: [unknown, string][]): void {
  expectTensor(param, 'param');
  for (const [t, name] of tensors) expectTensor(t, name, { shape: param.shape, device: param.device });
}

/** One Adam (or AdamW, h.decoupled) step: updates param, expAvg and expAvgSq in place. */
export function adamStep(param: Tensor, grad: Tensor, expAvg: Tensor, expAvgSq: Tensor, h: AdamHyper): void {
  expectParamAndState(param, [
    [grad, 'grad'],
    [expAvg, 'expAvg'],
    [expAvgSq, 'expAvgSq'],
  ]);
  const o = expectHyper(h);
  const lr = finiteAtLeast0(o.lr, 'h.lr');
  const beta1 = beta(o.beta1, 'h.beta1');
  const beta2 = beta(o.beta2, 'h.beta2');
  const eps = finiteAtLeast0(o.eps, 'h.eps');
  const weightDecay = finiteAtLeast0(o.weightDecay, 'h.weightDecay');
  const step = expectInt(o.step, 'h.step', 1);
  const decoupled = expectBoolean(o.decoupled, 'h.decoupled');
  native().adamStep(param.buffer, grad.buffer, expAvg.buffer, expAvgSq.buffer, param.size, lr, beta1, beta2, eps, weightDecay, step, decoupled);
}

/**
 * One SGD step: updates param (and momentumBuffer, needed when h.momentum ≠ 0) in place. As
 * torch.optim.SGD, nesterov needs a positive momentum and zero dampening.
 */
export function sgdStep(param: Tensor, grad: Tensor, momentumBuffer: Tensor | null, h: SgdHyper): void {
  expectParamAndState(param, [[grad, 'grad']]);
  const o = expectHyper(h);
  const lr = finiteAtLeast0(o.lr, 'h.lr');
  const momentum = finiteAtLeast0(o.momentum, 'h.momentum');
  const dampening = expectNumber(o.dampening, 'h.dampening');
  if (!Number.isFinite(dampening)) fail('a finite number', 'h.dampening', dampening, RangeError);
  const weightDecay = finiteAtLeast0(o.weightDecay, 'h.weightDecay');
  const nesterov = expectBoolean(o.nesterov, 'h.nesterov');
  const firstStep = expectBoolean(o.firstStep, 'h.firstStep');
  if (nesterov && (momentum <= 0 || dampening !== 0)) {
    fail('momentum > 0 and dampening 0 with nesterov', 'h', `momentum ${momentum}, dampening ${dampening}`, RangeError);
  }
  if (momentum !== 0) {
    if (momentumBuffer === null || momentumBuffer === undefined) fail(`a Tensor (momentum is ${momentum})`, 'momentumBuffer', momentumBuffer);
    expectTensor(momentumBuffer, 'momentumBuffer', { shape: param.shape, device: param.device });
  } else if (momentumBuffer !== null && momentumBuffer !== undefined) {
    expectTensor(momentumBuffer, 'momentumBuffer', { shape: param.shape, device: param.device });
  }
  const buffer = momentum !== 0 ? momentumBuffer!.buffer : null;
  native().sgdStep(param.buffer, grad.buffer, buffer, param.size, lr, momentum, dampening, weightDecay, nesterov, firstStep);
}
