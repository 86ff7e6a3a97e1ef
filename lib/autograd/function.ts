/**
 * autograd.Function: an op written as a static forward/backward pair, after torch.autograd.Function.
 *
 *   class Exp extends autograd.Function {
 *     static forward(ctx: autograd.Context, x: Tensor): Tensor {
 *       const y = x.exp();
 *       ctx.saveForBackward(y);
 *       return y;
 *     }
 *     static backward(ctx: autograd.Context, dy: Tensor): Tensor {
 *       const [y] = ctx.savedTensors;
 *       return dy.mul(y!);
 *     }
 *   }
 *   const y = Exp.apply(x);   // recorded: y.gradFn is an Exp node
 *
 * forward runs with recording off (its own ops are not recorded); backward gets one gradient per
 * output and returns one per forward argument (null for arguments that are not tensors or need no
 * gradient; ctx.needsInputGrad says which are wanted). napinet's layers are Functions over their
 * hand-written kernels (lib/nn/functional.ts), so the chapter's forward/backward pairs are the
 * backward rules autograd runs.
 *
 * Export: inside tracing() a call's node keeps forward's arguments (Node.traced.operands) and the
 * class's static `attributes`, if it declares them (what the op is beyond its arguments, e.g. an
 * activation's slope); an exporter maps the node by its name (lib/io/onnx.ts, registerOnnxOp).
 */
import { Tensor } from '../tensor';
import { describe } from '../validate';
import { isGradEnabled, isTracing, setGradEnabled } from './grad_mode';
import { type InputGradient, Node } from './node';

/** What forward hands to backward: saved tensors, which inputs need a gradient, and any fields. */
export class Context {
  /** needsInputGrad[i]: whether forward's argument i is a tensor whose gradient is wanted. */
  readonly needsInputGrad: readonly boolean[];
  /** @internal */ saved: Tensor[] = NONE;
  /** @internal Made by the first markNonDifferentiable() (most ops have none). */ nonDifferentiable: Set<Tensor> | null = null;
  /** Anything else forward wants backward to have (shapes, options): ctx.stride = 2. */
  [field: string]: unknown;

  constructor(needsInputGrad: readonly boolean[]) {
    this.needsInputGrad = needsInputGrad;
  }

  /**
   * Keeps tensors for backward (inputs or outputs). Changing one of them in place before backward
   * is an error when backward runs, never a wrong gradient. null/undefined are kept as null.
   */
  saveForBackward(...tensors: (Tensor | null | undefined)[]): void {
    const slots: (Tensor | null)[] = [];
    const saved: Tensor[] = [];
    for (let i = 0; i < tensors.length; i++) {
      const t = tensors[i];
      if (t == null) {
        slots.push(null);
        continue;
      }
      if (!(t instanceof Tensor)) throw new TypeError(`Expected a Tensor or null for saveForBackward argument ${i} but received ${describe(t)}`);
      slots.push(t);
      saved.push(t);
    }
    this.savedSlots = slots;
    this.saved = saved;
  }

  /**
   * Where backward may add the gradient of argument i itself, returning autograd.ACCUMULATED for it
   * (the leaf's existing .grad, e.g. a Parameter's), or null: then return the gradient as usual.
   * An optimisation for kernels that can accumulate; the result is the same.
   */
  gradTarget(i: number): Tensor | null {
    return this.node?.gradTarget(i) ?? null;
  }

  /** @internal The node this call was recorded as (set after forward). */
  node: Node | undefined;

  /** The tensors given to saveForBackward, in order. */
  get savedTensors(): (Tensor | null)[] {
    return this.savedSlots.slice();
  }

  /** Outputs that have no gradient (indices, masks): they do not require grad. */
  markNonDifferentiable(...outputs: Tensor[]): void {
    const set = (this.nonDifferentiable ??= new Set());
    for (const t of outputs) set.add(t);
  }

  private savedSlots: (Tensor | null)[] = NONE;
}

/** The empty list a Context starts with (never written: saveForBackward replaces it). */
const NONE: never[] = [];

type ForwardResult = Tensor | Tensor[];
type GradResult = InputGradient | readonly InputGradient[];

/** The static side of a Function subclass, as apply() sees it. */
export interface FunctionClass<A extends unknown[], R extends ForwardResult> {
  readonly name: string;
  /** What an exporter needs beyond forward's arguments (kept on the node inside tracing()). */
  readonly attributes?: Readonly<Record<string, unknown>>;
  /** Computes the outputs from the arguments; saves what backward needs on `ctx`. */
  forward(ctx: Context, ...args: A): R;
  /** One gradient per forward argument (null where none), from one gradient per output. */
  backward(ctx: Context, ...gradOutputs: Tensor[]): GradResult;
}

/** A differentiable op written by hand, as torch.autograd.Function: subclass it with static forward(ctx, …args) and backward(ctx, …gradOutputs), and call it with `MyOp.apply(…args)`. */
export abstract class Function {
  /** Runs forward and, when an argument requires grad (and grad mode is on), records the op. */
  static apply<A extends unknown[], R extends ForwardResult>(this: FunctionClass<A, R>, ...args: A): R {
    const fn = this;
    if (fn.forward === Function.forward || fn.backward === Function.backward) {
      throw new TypeError(`Expected a Function subclass with static forward() and backward() for ${fn.name}.apply but one of them is missing`);
    }
    const recording = isGradEnabled();
    let anyNeeds = false;
    const needs: boolean[] = [];
    for (const a of args) {
      const need = recording && a instanceof Tensor && a.requiresGrad;
      needs.push(need);
      anyNeeds ||= need;
    }
    const ctx = new Context(needs);
    const result = withoutRecording(fn, ctx, args);
    const outputs: unknown[] = Array.isArray(result) ? [...result] : [result];
    for (let i = 0; i < outputs.length; i++) {
      const t = outputs[i];
      if (!(t instanceof Tensor)) throw new TypeError(`Expected ${fn.name}.forward to return a Tensor or an array of Tensors but output ${i} is ${describe(t)}`);
      // An input returned as it is gets a tensor of its own (sharing memory), so that setting its
      // gradFn does not rewrite the input's place in the graph.
      if (args.includes(t) || t.gradFn !== null) outputs[i] = t.detach();
    }
    if (!anyNeeds) return reshapeResult(result, outputs as Tensor[]);
    return recordApply(fn, ctx, args, result, outputs as Tensor[], needs);
  }

  /** Override: compute the outputs from the arguments (see the class comment). */
  static forward(_ctx: Context, ..._args: unknown[]): ForwardResult {
    throw new Error('Function.forward must be overridden');
  }

  /** Override: one gradient per forward argument from one gradient per output. */
  static backward(_ctx: Context, ..._gradOutputs: Tensor[]): GradResult {
    throw new Error('Function.backward must be overridden');
  }
}

function reshapeResult<R extends ForwardResult>(result: R, outputs: Tensor[]): R {
  return (Array.isArray(result) ? outputs : outputs[0]) as R;
}

/** Makes the node of one apply() and points the differentiable outputs at it. */
function recordApply<A extends unknown[], R extends ForwardResult>(
  fn: FunctionClass<A, R>, ctx: Context, args: A, result: R, outputs: Tensor[], needs: readonly boolean[],
): R {
  const inputs: (Tensor | null)[] = [];
  for (let i = 0; i < args.length; i++) inputs.push(needs[i] ? (args[i] as Tensor) : null);
  const node = new Node(fn.name, inputs, outputs, (grads) => backwardOf(fn, ctx, grads, args.length), ctx.saved);
  ctx.node = node;
  if (isTracing()) node.traced = { operands: args, attributes: fn.attributes ?? {} };
  const excluded = ctx.nonDifferentiable;
  for (let i = 0; i < outputs.length; i++) {
    if (excluded?.has(Array.isArray(result) ? result[i] : result)) continue;
    outputs[i].gradFn = node;
    outputs[i].outputIndex = i;
  }
  return reshapeResult(result, outputs);
}

/** Runs fn.forward with recording off (its own ops are not recorded). */
function withoutRecording<A extends unknown[], R extends ForwardResult>(fn: FunctionClass<A, R>, ctx: Context, args: A): R {
  const before = setGradEnabled(false);
  try {
    return fn.forward(ctx, ...args);
  } finally {
    setGradEnabled(before);
  }
}

/** A node's rule: fn.backward, its gradients checked against the forward arguments. */
function backwardOf<A extends unknown[], R extends ForwardResult>(fn: FunctionClass<A, R>, ctx: Context, grads: Tensor[], argCount: number): readonly InputGradient[] {
  const out = fn.backward(ctx, ...grads);
  const list = Array.isArray(out) ? out : [out as Tensor | null | undefined];
  if (list.length > argCount) {
    throw new RangeError(`Expected ${fn.name}.backward to return at most ${argCount} gradients (one per forward argument) but it returned ${list.length}`);
  }
  // Trailing arguments without a gradient (options, numbers) may be left out; one that requires grad may not.
  const missing = ctx.needsInputGrad.findIndex((need, i) => need && i >= list.length);
  if (missing >= 0) {
    throw new RangeError(
      `Expected ${fn.name}.backward to return a gradient (or null) for argument ${missing}, which requires grad, ` +
        `but it returned ${list.length} gradient${list.length === 1 ? '' : 's'}`,
    );
  }
  return list;
}
