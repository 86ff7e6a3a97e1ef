/**
 * backward(): reverse-mode differentiation over the recorded graph (PyTorch's autograd engine in
 * miniature). The nodes reachable from the roots are ordered topologically, then each rule runs
 * once, after every consumer of its outputs has contributed: gradients arriving at one output from
 * several consumers are summed first, so a tensor used twice gets both contributions. Leaves that
 * require grad accumulate into .grad (added to what is there, as PyTorch); afterwards the graph is
 * freed unless retainGraph is set.
 */
import { Tensor } from '../tensor';
import { describe } from '../validate';
import { setGradEnabled } from './grad_mode';
import { ACCUMULATED, type Node, nodeOf } from './node';

/** Options of backward(). */
export interface BackwardOptions {
  /** Keep the graph so backward() can run through it again (default false: freed). */
  retainGraph?: boolean;
}

/** The operations the engine needs on gradients (lib/autograd/functional.ts provides them). */
export interface GradientArithmetic {
  /** a + b, as a new tensor (same shape). */
  add(a: Tensor, b: Tensor): Tensor;
  /** target += g, in place. */
  addInPlace(target: Tensor, g: Tensor): void;
  /** A copy of g (a leaf's first gradient must not alias a gradient flowing elsewhere). */
  clone(g: Tensor): Tensor;
}

let arithmetic: GradientArithmetic | undefined;

/** @internal Called once by lib/autograd/functional.ts. */
export function setGradientArithmetic(a: GradientArithmetic): void {
  arithmetic = a;
}

/** Numbers backward() passes (see Node.orderedIn). */
let passes = 0;

/**
 * Computes the gradients of `roots` with respect to every leaf that requires grad. `grads` gives
 * dL/droot per root; it may be omitted for a root with one element (then 1).
 */
export function backward(roots: readonly Tensor[], grads: readonly (Tensor | undefined)[] = [], options: BackwardOptions = {}): void {
  if (typeof options !== 'object' || options === null) throw new TypeError(`Expected an options object for options but received ${describe(options)}`);
  const retainGraph = options.retainGraph ?? false;
  const math = arithmetic!;
  const wasRecording = setGradEnabled(false);
  try {
    // The roots computed by recorded ops: their tensors, nodes and starting gradients.
    const rootTensors: Tensor[] = [];
    const rootNodes: Node[] = [];
    const rootGrads: Tensor[] = [];
    for (let i = 0; i < roots.length; i++) {
      const root = roots[i];
      const name = roots.length === 1 ? 'tensor' : `tensors[${i}]`;
      if (!(root instanceof Tensor)) throw new TypeError(`Expected a Tensor for ${name} but received ${describe(root)}`);
      if (!root.requiresGrad) {
        throw new Error(`Expected a tensor that requires grad for backward() but received ${root}: nothing recorded leads to it (set requiresGrad on a leaf, and do not run the ops under noGrad)`);
      }
      const grad = rootGradient(root, grads[i], name);
      const node = nodeOf(root);
      if (node === null) {
        accumulate(root, grad, math);
        continue;
      }
      // A root that retains its gradient gets the one it starts from (PyTorch: y.grad is dy).
      if (root.retainsGrad) accumulate(root, grad, math);
      rootTensors.push(root);
      rootNodes.push(node);
      rootGrads.push(grad);
    }
    const pass = ++passes;
    const order = topologicalOrder(rootNodes, pass);
    // pending[k]: the gradients arrived so far at each output of order[k] (summed per output).
    const pending: ((Tensor | null)[] | undefined)[] = new Array(order.length);
    const arrive = (node: Node, tensor: Tensor, g: Tensor): void => {
      const k = node.orderedIn === pass ? node.place : order.indexOf(node);
      const slots = (pending[k] ??= new Array(node.outputs.length).fill(null));
      const previous = slots[tensor.outputIndex];
      slots[tensor.outputIndex] = previous ? math.add(previous, g) : g;
    };
    for (let i = 0; i < rootNodes.length; i++) arrive(rootNodes[i], rootTensors[i], rootGrads[i]);
    for (let k = 0; k < order.length; k++) {
      const node = order[k];
      const gradOutputs = pending[k];
      pending[k] = undefined;
      if (!gradOutputs) {
        // Every consumer returned no gradient for it: nothing flows further up this branch.
        if (!retainGraph) node.release();
        continue;
      }
      for (let j = 0; j < gradOutputs.length; j++) {
        if (!gradOutputs[j]) gradOutputs[j] = Tensor.zeros(node.outputs[j].shape, { device: node.outputs[j].device });
      }
      const gradInputs = node.apply(gradOutputs as Tensor[]);
      if (!retainGraph) node.release();
      const inputs = node.inputs;
      for (let i = 0; i < inputs.length; i++) {
        const input = inputs[i];
        const g = gradInputs[i];
        if (!input || g == null || g === ACCUMULATED) continue;
        checkGradient(node, i, input, g);
        const producer = nodeOf(input);
        if (producer === null) {
          accumulate(input, g, math);
        } else {
          if (input.retainsGrad) accumulate(input, g, math);
          arrive(producer, input, g);
        }
      }
    }
  } finally {
    setGradEnabled(wasRecording);
  }
}

function rootGradient(root: Tensor, grad: Tensor | undefined, name: string): Tensor {
  if (grad === undefined) {
    if (root.size !== 1) {
      throw new Error(
        `Expected a gradient for backward() on ${name} of shape [${root.shape.join(', ')}]: only a one-element tensor (a loss) ` +
          'gets the implicit gradient 1. Pass one of the same shape: t.backward(gradient).',
      );
    }
    return Tensor.full(root.shape, 1, { device: root.device });
  }
  if (!(grad instanceof Tensor)) throw new TypeError(`Expected a Tensor for the gradient of ${name} but received ${describe(grad)}`);
  if (grad.shape.length !== root.shape.length || grad.shape.some((d, k) => d !== root.shape[k])) {
    throw new RangeError(`Expected a gradient of shape [${root.shape.join(', ')}] for ${name} but received shape [${grad.shape.join(', ')}]`);
  }
  if (grad.device !== root.device) throw new TypeError(`Expected a gradient on ${root.device} for ${name} but received one on ${grad.device}`);
  if (grad.dtype !== 'float32') throw new TypeError(`Expected a float32 gradient for ${name} but received a ${grad.dtype} tensor`);
  return grad;
}

/** Adds g into t.grad, making a new gradient tensor (kept past tidy scopes) the first time. */
function accumulate(t: Tensor, g: Tensor, math: GradientArithmetic): void {
  if (t.grad === null) {
    t.grad = math.clone(g).keep();
  } else {
    if (t.grad.device !== g.device) throw new TypeError(`Expected the gradient of ${t} on ${t.device} but received one on ${g.device}`);
    math.addInPlace(t.grad, g);
  }
}

function checkGradient(node: Node, i: number, input: Tensor, g: Tensor): void {
  if (!(g instanceof Tensor)) {
    throw new TypeError(`Expected a Tensor (or null) from the backward of ${node.name} for input ${i} but received ${describe(g)}`);
  }
  if (!sameShape(g.shape, input.shape)) {
    throw new RangeError(
      `Expected a gradient of shape [${input.shape.join(', ')}] (the input's shape) from the backward of ${node.name} ` +
        `for input ${i} but received shape [${g.shape.join(', ')}]`,
    );
  }
  if (g.device !== input.device) {
    throw new TypeError(`Expected a gradient on ${input.device} from the backward of ${node.name} for input ${i} but received one on ${g.device}`);
  }
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

/**
 * The nodes reachable from `roots`, each after every node that consumes one of its outputs
 * (reverse post-order of a depth-first walk; iterative, so deep graphs do not overflow the stack).
 * Marks each node with the pass and its place in the order (Node.orderedIn, Node.place).
 */
function topologicalOrder(roots: readonly Node[], pass: number): Node[] {
  const postOrder: Node[] = [];
  const stack: Node[] = [];
  const next: number[] = []; // next[d]: the input of stack[d] to visit next
  for (const root of roots) {
    if (root.orderedIn === pass) continue;
    root.orderedIn = pass;
    stack.push(root);
    next.push(0);
    while (stack.length > 0) {
      const top = stack.length - 1;
      const inputs = stack[top].inputs;
      if (next[top] < inputs.length) {
        const input = inputs[next[top]++];
        const child = input ? nodeOf(input) : null;
        if (child && child.orderedIn !== pass) {
          child.orderedIn = pass;
          stack.push(child);
          next.push(0);
        }
      } else {
        postOrder.push(stack.pop()!);
        next.pop();
      }
    }
  }
  const order = postOrder.reverse();
  for (let k = 0; k < order.length; k++) order[k].place = k;
  return order;
}
