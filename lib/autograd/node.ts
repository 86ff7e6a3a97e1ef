/**
 * A node of the autograd graph: one recorded op. It holds the op's inputs (those that need a
 * gradient), the tensors its backward rule saved (with their versions, so an in-place change is
 * caught), and the rule: output gradients in, input gradients out. Results point at their node
 * (tensor.gradFn); the graph is nothing more (tinygrad's and micrograd's design).
 */
import type { Tensor } from '../tensor';
import { isGradEnabled, isTracing } from './grad_mode';

/**
 * What a rule returns for an input whose gradient it has already added into that leaf's .grad
 * itself (through gradTarget(): napinet's layer kernels accumulate weight gradients in place, as
 * the explicit style does, sparing a temporary and an addition).
 */
export const ACCUMULATED: unique symbol = Symbol('gradient accumulated into .grad');

/** A rule's gradient for one input: a tensor, none (null), or ACCUMULATED. */
export type InputGradient = Tensor | null | undefined | typeof ACCUMULATED;

/** Output gradients (one per output, in order) → one gradient per input (null where none). */
export type BackwardRule = (gradOutputs: Tensor[]) => readonly InputGradient[];

/**
 * What an exporter needs of a recorded op beyond its gradient: kept only while tracing()
 * (grad_mode.ts), so training pays nothing for it. The op is the node's name.
 */
export interface TracedOp {
  /**
   * Every operand in argument order, whether or not it needs a gradient: tensors, numbers, option
   * objects (an autograd.Function's forward arguments; record()'s inputs unless it names others).
   */
  readonly operands: readonly unknown[];
  /** What the op did beyond its operands: dimensions, keepDim, a scalar, an activation's argument. */
  readonly attributes: Readonly<Record<string, unknown>>;
}

/** One recorded op in the autograd graph (a tensor's gradFn, PyTorch's grad_fn): its name, its inputs and its backward rule. */
export class Node {
  /** The op's name as errors and toString() show it ("MatmulBackward", "Conv2dFunction"). */
  readonly name: string;
  /** The inputs whose gradients the rule returns, in the op's argument order; null: none needed. */
  readonly inputs: readonly (Tensor | null)[];
  /** Shape and device of each output (to make zero gradients for outputs nothing flowed into). */
  readonly outputs: readonly { shape: readonly number[]; device: Tensor['device'] }[];
  /** The operands and attributes, when the op was recorded inside tracing(); null otherwise. */
  traced: TracedOp | null = null;
  private rule: BackwardRule | null;
  private saved: readonly Tensor[];
  private readonly versions: number[];

  /**
   * @internal backward()'s bookkeeping (engine.ts): the number of the last pass that ordered this
   * node and its place in that pass's order, so that a pass needs no visited set nor map of its
   * own (a nested backward() inside a rule renumbers a node; the outer pass then finds it by search).
   */
  orderedIn = 0;
  /** @internal See orderedIn. */
  place = 0;

  constructor(name: string, inputs: readonly (Tensor | null)[], outputs: readonly Tensor[], rule: BackwardRule, saved: readonly Tensor[]) {
    this.name = name;
    this.inputs = inputs;
    const described: { shape: readonly number[]; device: Tensor['device'] }[] = [];
    for (const t of outputs) described.push({ shape: t.shape, device: t.device });
    this.outputs = described;
    this.rule = rule;
    this.saved = saved;
    const versions: number[] = [];
    for (const t of saved) versions.push(t.version);
    this.versions = versions;
  }

  /** Whether input i needs a gradient (the rule may skip computing the others). */
  needsGrad(i: number): boolean {
    return this.inputs[i] !== null && this.inputs[i] !== undefined;
  }

  /** Whether backward() has freed this node (a second backward needs retainGraph). */
  get released(): boolean {
    return this.rule === null;
  }

  /**
   * Where the rule may add input i's gradient itself (returning ACCUMULATED): the .grad of input i
   * when it is a leaf that requires grad and already has one of its shape and device (a
   * Parameter's, allocated with it), else null (the rule then returns the gradient).
   */
  gradTarget(i: number): Tensor | null {
    const input = this.inputs[i];
    if (!input || input.gradFn !== null || !input.requiresGrad) return null;
    const g = input.grad;
    if (!g || g.device !== input.device || g.dtype !== 'float32' || g.disposed || g.shape.length !== input.shape.length) return null;
    return g.shape.every((d, k) => d === input.shape[k]) ? g : null;
  }

  /** Runs the rule, after checking that no saved tensor was changed in place since it was saved. */
  apply(gradOutputs: Tensor[]): readonly InputGradient[] {
    if (!this.rule) {
      throw new Error(
        `Trying to run backward through ${this.name} a second time: its graph was freed by the first backward(). ` +
          'Pass { retainGraph: true } to the first backward() to keep it.',
      );
    }
    for (let i = 0; i < this.saved.length; i++) {
      const t = this.saved[i];
      if (t.version !== this.versions[i]) {
        throw new Error(
          `A tensor that ${this.name} saved for backward (${t}) was changed in place after it was saved ` +
            `(version ${t.version}, saved at version ${this.versions[i]}): its gradient would be wrong. ` +
            'Change a clone() instead, or change it after backward().',
        );
      }
    }
    return this.rule(gradOutputs);
  }

  /** Frees the rule and the saved tensors (after a backward without retainGraph). */
  release(): void {
    this.rule = null;
    this.saved = [];
  }

  /** The tensors this node keeps alive (for tidy()): its inputs, saved tensors and traced operands. */
  *references(): Iterable<Tensor> {
    for (const t of this.inputs) if (t) yield t;
    yield* this.saved;
    if (this.traced) for (const t of this.traced.operands) if (isTensorLike(t)) yield t;
  }

  /** The nodes of the inputs (PyTorch's next_functions), null for leaves and inputs without grad. */
  get nextFunctions(): (Node | null)[] {
    return this.inputs.map((t) => (t ? nodeOf(t) : null));
  }

  /** The op's name, as PyTorch prints a grad_fn ("<MatmulBackward>"). */
  toString(): string {
    return `<${this.name}>`;
  }
}

function isTensorLike(t: unknown): t is Tensor {
  return typeof t === 'object' && t !== null && typeof (t as Tensor).shape === 'object' && 'gradFn' in (t as object);
}

/** The node that computed `t` (null for a leaf). */
export function nodeOf(t: Tensor): Node | null {
  return t.gradFn as Node | null;
}

/**
 * Records an op: when grad mode is on and any input requires grad, makes a node for `outputs` and
 * returns them with gradFn set. `rule` gets one gradient per output and returns one per input
 * (tensors or numbers passed as inputs get none); `saved` lists the tensors the rule reads, whose
 * in-place change before backward is an error. `traced` is what an exporter needs (kept only inside
 * tracing()): the attributes, and the operands when they are not `inputs` (a mask, an index).
 */
export function record<T extends Tensor | Tensor[]>(
  name: string,
  inputs: readonly (Tensor | null | undefined)[],
  outputs: T,
  rule: BackwardRule,
  saved: readonly Tensor[] = [],
  traced: { operands?: readonly unknown[]; attributes?: Record<string, unknown> } = {},
): T {
  if (!isGradEnabled()) return outputs;
  let any = false;
  const needing: (Tensor | null)[] = [];
  for (const t of inputs) {
    const needs = t != null && t.requiresGrad;
    any ||= needs;
    needing.push(needs ? t : null);
  }
  if (!any) return outputs;
  const list: Tensor[] = Array.isArray(outputs) ? outputs : [outputs as Tensor];
  const node = new Node(name, needing, list, rule, saved);
  if (isTracing()) node.traced = { operands: traced.operands ?? inputs, attributes: traced.attributes ?? {} };
  for (let i = 0; i < list.length; i++) {
    list[i].gradFn = node;
    list[i].outputIndex = i;
  }
  return outputs;
}
