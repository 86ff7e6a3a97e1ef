/**
 * One optimizer step, in place: torch.optim.Adam / AdamW and torch.optim.SGD (their single-tensor
 * algorithms, foreach=False, applied to each tensor). Adam takes a whole list of tensors in one
 * native call (on a GPU, one launch per 16 tensors). Kernels: native/kernels/optim.
 * The optimizer classes (lib/optim/) own the state tensors and the step count and call these.
 */
import { type NativeBuffer, native } from '../native';
import { Tensor } from '../tensor';
import { expectBoolean, expectInt, expectNumber, fail } from '../validate';
import { expectTensor, tensorFits } from './checks';

/** Adam's (and AdamW's) hyperparameters for one step. */
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

/** SGD's hyperparameters for one step, as torch.optim.SGD. */
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
  callAdam([param], [grad], [expAvg], [expAvgSq], h);
}

/**
 * One Adam (or AdamW) step on every parameter of a list at once, with the same hyper-parameters:
 * the same update as adamStep on each, in one native call. All tensors on one device; grads[i],
 * expAvgs[i] and expAvgSqs[i] have params[i]'s shape.
 */
export function adamStepMany(params: readonly Tensor[], grads: readonly Tensor[], expAvgs: readonly Tensor[], expAvgSqs: readonly Tensor[], h: AdamHyper): void {
  const lists: [readonly Tensor[], string][] = [
    [params, 'params'],
    [grads, 'grads'],
    [expAvgs, 'expAvgs'],
    [expAvgSqs, 'expAvgSqs'],
  ];
  for (const [list, name] of lists) {
    if (!Array.isArray(list)) fail('an Array of tensors', name, list);
    if (list.length !== params.length) throw new RangeError(`Expected ${params.length} tensors (one per param) for ${name} but received ${list.length}`);
  }
  const device = params[0]?.device;
  for (let i = 0; i < params.length; i++) {
    const param = params[i];
    // The checks below name the element; run them only when the quick test fails (a training
    // step calls this every iteration, and should allocate nothing).
    const shape = param instanceof Tensor ? param.shape : undefined;
    if (
      shape &&
      tensorFits(param, 'float32', device) &&
      tensorFits(grads[i], 'float32', device, shape) &&
      tensorFits(expAvgs[i], 'float32', device, shape) &&
      tensorFits(expAvgSqs[i], 'float32', device, shape)
    ) {
      continue;
    }
    expectTensor(param, `params[${i}]`, { device });
    expectParamAndState(param, [
      [grads[i], `grads[${i}]`],
      [expAvgs[i], `expAvgs[${i}]`],
      [expAvgSqs[i], `expAvgSqs[${i}]`],
    ]);
  }
  callAdam(params, grads, expAvgs, expAvgSqs, h);
}

// The buffer lists handed to the addon, reused from call to call (the call is synchronous), so an
// optimizer step allocates nothing (they keep the last call's buffers, the parameters' own, until the next).
const bufferLists: NativeBuffer[][] = [[], [], [], []];

function buffersOf(tensors: readonly Tensor[], slot: number): NativeBuffer[] {
  const list = bufferLists[slot];
  list.length = tensors.length;
  for (let i = 0; i < tensors.length; i++) list[i] = tensors[i].buffer;
  return list;
}

function callAdam(params: readonly Tensor[], grads: readonly Tensor[], expAvgs: readonly Tensor[], expAvgSqs: readonly Tensor[], h: AdamHyper): void {
  const o = expectHyper(h);
  const lr = finiteAtLeast0(o.lr, 'h.lr');
  const beta1 = beta(o.beta1, 'h.beta1');
  const beta2 = beta(o.beta2, 'h.beta2');
  const eps = finiteAtLeast0(o.eps, 'h.eps');
  const weightDecay = finiteAtLeast0(o.weightDecay, 'h.weightDecay');
  const step = expectInt(o.step, 'h.step', 1);
  const decoupled = expectBoolean(o.decoupled, 'h.decoupled');
  native().adamStepMany(
    buffersOf(params, 0), buffersOf(grads, 1), buffersOf(expAvgs, 2), buffersOf(expAvgSqs, 3),
    lr, beta1, beta2, eps, weightDecay, step, decoupled,
  );
  for (const p of params) p.markWritten();
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
  param.markWritten();
}
