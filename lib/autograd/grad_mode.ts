/**
 * Whether operations are recorded for backward (PyTorch's grad mode), and the chapter's explicit
 * mode, in which layers reuse their output buffers and keep what Module.backward(dy) needs.
 *
 * The three ways a forward pass runs:
 *   - recording (the default): every op on a tensor that requires grad adds a node to the graph,
 *     and each result is new memory (loss.backward() needs every intermediate intact);
 *   - noGrad(fn): nothing is recorded; results are new memory (evaluation, inference);
 *   - explicit(fn): nothing is recorded, and built-in layers write into buffers they reuse from
 *     call to call, so a step allocates nothing; a layer's output is then valid until its next
 *     forward. Module.backward(dy) differentiates (fit() trains Sequential models this way).
 *     explicitInference(fn) is the same for forwards that are never differentiated (inference()).
 * The modes apply to synchronous code: a callback that awaits leaves the mode at its first await.
 *
 * tracing(fn) is recording with one addition, for exporters (lib/io/onnx.ts): each node also keeps
 * every operand and the op's attributes (Node.traced), and ops without a gradient (comparisons,
 * sign, argmax, casts) are recorded too, so that the graph from the inputs to the outputs is whole.
 */

let gradEnabled = true;
let reuseBuffers = false;
/** Inside explicitInference(): no backward(dy) follows the forwards. */
let forwardOnly = false;
let tracingOps = false;
/** Counts outermost explicit() calls: a layer applied twice within one is a reused layer. */
let explicitPass = 0;

/** Whether ops on tensors that require grad are recorded now. */
export function isGradEnabled(): boolean {
  return gradEnabled;
}

/** Whether recorded ops keep their operands and attributes for an exporter now (inside tracing()). */
export function isTracing(): boolean {
  return tracingOps && gradEnabled;
}

/**
 * Runs fn recording every op with what an exporter needs (see the module comment): torch.jit.trace's
 * recording half. Nested noGrad() / explicit() still record nothing.
 */
export function tracing<T>(fn: () => T): T {
  const before = tracingOps;
  tracingOps = true;
  try {
    return withModes(true, false, fn);
  } finally {
    tracingOps = before;
  }
}

/** Whether built-in layers reuse their output buffers now (inside explicit()). */
export function isExplicitMode(): boolean {
  return reuseBuffers;
}

/**
 * Which outermost explicit() call is running (a new number each time one starts): a layer that
 * sees two forwards in the same pass was applied twice in one computation, and its explicit
 * backward, which keeps the last call's state only, refuses.
 */
export function currentExplicitPass(): number {
  return explicitPass;
}

/** Turns recording on or off; returns the previous setting. */
export function setGradEnabled(enabled: boolean): boolean {
  if (typeof enabled !== 'boolean') throw new TypeError(`Expected a boolean for enabled but received ${String(enabled)}`);
  const previous = gradEnabled;
  gradEnabled = enabled;
  return previous;
}

/** Runs fn with recording off (PyTorch's torch.no_grad()). */
export function noGrad<T>(fn: () => T): T {
  return withModes(false, reuseBuffers, fn);
}

/** Runs fn with recording on, e.g. inside noGrad (PyTorch's torch.enable_grad()). */
export function enableGrad<T>(fn: () => T): T {
  return withModes(true, false, fn);
}

/**
 * Runs fn in the explicit style: no recording, and built-in layers reuse their output buffers and
 * keep what their backward(dy) needs (see the module comment).
 */
export function explicit<T>(fn: () => T): T {
  return explicitPassOf(false, fn);
}

/**
 * Whether the explicit forwards running now are inference only (inside explicitInference()): no
 * backward(dy) follows, so a layer may compute its output in a way it could not differentiate
 * (ConvBnReluStep folds an eval-mode BatchNorm2d into the convolution's weights).
 */
export function isInferenceOnly(): boolean {
  return forwardOnly && reuseBuffers;
}

/**
 * explicit(fn) for forward passes that are never differentiated (Module.inference(), a
 * Predictor): layers reuse their buffers as in explicit(), and may take inference-only shortcuts;
 * a Module.backward(dy) after such a forward refuses.
 */
export function explicitInference<T>(fn: () => T): T {
  return explicitPassOf(true, fn);
}

function explicitPassOf<T>(inferenceOnly: boolean, fn: () => T): T {
  if (!reuseBuffers) explicitPass++;
  const before = forwardOnly;
  forwardOnly = inferenceOnly;
  try {
    return withModes(false, true, fn);
  } finally {
    forwardOnly = before;
  }
}

function withModes<T>(grad: boolean, reuse: boolean, fn: () => T): T {
  const before = [gradEnabled, reuseBuffers] as const;
  gradEnabled = grad;
  reuseBuffers = reuse;
  try {
    return fn();
  } finally {
    [gradEnabled, reuseBuffers] = before;
  }
}
