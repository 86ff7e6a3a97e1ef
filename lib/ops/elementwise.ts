/**
 * Elementwise tensor maths with broadcasting, and the copies that materialise views (permute,
 * expand, narrow, cat, stack). Non-differentiable building blocks for autograd: each call
 * validates, infers the output shape, and runs one strided kernel (native/kernels/elementwise,
 * cuda/elementwise.cu; formulas in native/kernels/op_math.h, each mirroring the torch op of the same
 * name). Test: test/elementwise.test.ts.
 *
 * Inputs are float32 tensors, strided views of them ({ tensor, view }, see views.ts), or numbers
 * (a scalar everywhere, as `x + 2` in PyTorch). They broadcast together (NumPy rules) to the output's
 * shape. Comparisons (eq, ne, lt, le, gt, ge) give a float32 mask of 0 and 1: napinet's tensors
 * are float32 or int32, and a float mask feeds straight into where() and mul(). `out` (a tensor or
 * a view of one, of the broadcast shape) receives the result instead of a new tensor;
 * `accumulate` adds into it. An input may share out's memory only as the identical view (in place).
 */
import { native } from '../native';
import { Tensor } from '../tensor';
import type { Device } from '../device';
import { expectBoolean, expectNumber, fail } from '../validate';
import { expectTensor } from './checks';
import {
  MAX_RANK, broadcastAll, contiguousView, failShape, expandView, narrowView, normalizeDim, permuteView,
  shapeText, transposeView, type StridedTensor, type View,
} from './views';

/** One-input ops: copy (materialise a view), neg, exp, log, sqrt, rsqrt, abs, sign, reciprocal, square, clamp(min, max). */
export type UnaryOp = 'copy' | 'neg' | 'exp' | 'log' | 'sqrt' | 'rsqrt' | 'abs' | 'sign' | 'reciprocal' | 'square' | 'clamp';
/**
 * Two-input ops: arithmetic, pow, maximum / minimum (NaN-propagating), comparisons (a 0/1 float32
 * mask), and clampBackward(dy, x; min, max) = dy where min ≤ x ≤ max, else 0 (clamp's gradient).
 */
export type BinaryOp =
  | 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum'
  | 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge' | 'clampBackward';
/**
 * Three-input ops: where(cond, a, b) (cond non-zero → a), and gradient helpers with PyTorch 2.13's
 * formulas: maximumBackward(dy, x, y) / minimumBackward(dy, x, y) give x's gradient (ties split
 * half and half; swap x and y for y's), powBackwardBase(dy, x, e) = dy·e·x^(e−1) (0 where e = 0),
 * powBackwardExponent(dy, x, e) = dy·x^e·log x (0 where x = 0 and e ≥ 0).
 */
export type TernaryOp = 'where' | 'maximumBackward' | 'minimumBackward' | 'powBackwardBase' | 'powBackwardExponent';

/** A tensor or a strided view of one. */
export type Operand = Tensor | StridedTensor;
/** An operand or a number (the same value everywhere). */
export type Input = Operand | number;

/** Where an element-wise op writes, and whether it adds into it. */
export interface ElementwiseOptions {
  /** Where the result goes (a tensor or a view of one, of the broadcast shape); default a new tensor. */
  out?: Operand;
  /** Add the result into out instead of overwriting it (needs out). */
  accumulate?: boolean;
}

/** Options of clamp: the bounds, and where the result goes. */
export interface ClampOptions extends ElementwiseOptions {
  /** Lower bound (default −Infinity). */
  min?: number;
  /** Upper bound (default +Infinity). */
  max?: number;
}

// ---- op numbers, looked up by name from the addon (its enum order is the only copy) ------------

type OpKind = 'unary' | 'binary' | 'ternary';
let opNumbers: Record<OpKind, Map<string, number>> | undefined;

function opNumber(kind: OpKind, op: unknown, name: string): number {
  if (!opNumbers) {
    const names = native().elementwiseOpNames();
    opNumbers = {
      unary: new Map(names.unary.map((n, i) => [n, i])),
      binary: new Map(names.binary.map((n, i) => [n, i])),
      ternary: new Map(names.ternary.map((n, i) => [n, i])),
    };
  }
  const table = opNumbers[kind];
  const number = typeof op === 'string' ? table.get(op) : undefined;
  if (number === undefined) fail(`one of ${[...table.keys()].map((k) => `'${k}'`).join(', ')}`, name, op);
  return number as number;
}

// ---- operands ------------------------------------------------------------------------------

/** An operand as (tensor, view), checked: float32, live, the view inside the tensor's storage. */
interface Resolved {
  tensor: Tensor;
  view: View;
}

function isStrided(value: unknown): value is StridedTensor {
  return typeof value === 'object' && value !== null && !(value instanceof Tensor) && 'tensor' in value && 'view' in value;
}

function resolve(value: unknown, name: string): Resolved {
  if (value instanceof Tensor) {
    expectTensor(value, name);
    return { tensor: value, view: contiguousView(value.shape) };
  }
  if (!isStrided(value)) fail('a Tensor or a { tensor, view } view of one', name, value);
  const { tensor, view } = value as StridedTensor;
  expectTensor(tensor, `${name}.tensor`);
  checkView(view, tensor.size, `${name}.view`);
  return { tensor, view };
}

/** A view whose every element lies inside `size` elements of storage. */
function checkView(view: View, size: number, name: string): void {
  if (typeof view !== 'object' || view === null) fail('a { shape, strides, offset } view', name, view);
  const { shape, strides, offset } = view;
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) fail('an array of non-negative integers', `${name}.shape`, shape);
  if (!Array.isArray(strides) || strides.length !== shape.length || !strides.every((s) => Number.isInteger(s) && s >= 0)) {
    fail(`an array of ${shape.length} non-negative integers`, `${name}.strides`, strides);
  }
  if (!Number.isInteger(offset) || offset < 0) fail('a non-negative integer', `${name}.offset`, offset);
  if (shape.length > MAX_RANK) failShape(`a view of rank ≤ ${MAX_RANK}`, name, shape);
  if (shape.some((d) => d === 0)) return;
  const last = offset + shape.reduce((sum, d, i) => sum + (d - 1) * strides[i], 0);
  if (last >= size) {
    throw new RangeError(`Expected a view inside the tensor's ${size} elements for ${name} but received one reaching element ${last}`);
  }
}

/**
 * `t` on the device of `ref`, or a TypeError naming both tensors:
 * "Expected a tensor on cpu (the device of a) for b but received a tensor on cuda".
 */
export function expectSameDevice(t: Tensor, name: string, ref: Tensor, refName: string): void {
  if (t.device !== ref.device) {
    throw new TypeError(`Expected a tensor on ${ref.device} (the device of ${refName}) for ${name} but received a tensor on ${t.device}`);
  }
}

/** The common device of the tensor operands, or a TypeError naming both sides of a mismatch. */
function commonDevice(operands: readonly (readonly [Resolved | undefined, string])[]): Device | undefined {
  let device: Device | undefined;
  let first = '';
  for (const [op, name] of operands) {
    if (!op) continue;
    if (device === undefined) {
      device = op.tensor.device;
      first = name;
    } else if (op.tensor.device !== device) {
      throw new TypeError(`Expected a tensor on ${device} (the device of ${first}) for ${name} but received a tensor on ${op.tensor.device}`);
    }
  }
  return device;
}

/** What the native call gets for an input: (buffer or number, offset, strides broadcast to shape). */
function nativeInput(input: Resolved | number, shape: readonly number[]): [Tensor['buffer'] | number, number, number[] | null] {
  if (typeof input === 'number') return [input, 0, null];
  const view = expandView(input.view, shape);
  return [input.tensor.buffer, view.offset, view.strides as number[]];
}

interface Prepared {
  out: Resolved;
  result: Tensor;
  inputs: (Resolved | number)[];
  shape: readonly number[];
  accumulate: boolean;
}

/** Reads inputs and options, broadcasts, checks devices and allocates (or checks) the output. */
function prepare(values: readonly unknown[], names: readonly string[], options: ElementwiseOptions | undefined): Prepared {
  const opts = (options ?? {}) as ElementwiseOptions & Record<string, unknown>;
  if (typeof opts !== 'object' || opts === null) fail('an options object', 'options', options);
  for (const key of Object.keys(opts)) {
    if (key !== 'out' && key !== 'accumulate') fail('one of the options out, accumulate', 'options', key);
  }
  const inputs = values.map((v, i) => (typeof v === 'number' ? v : resolve(v, names[i])));
  const tensors = inputs.flatMap((input, i) => (typeof input === 'number' ? [] : [{ shape: input.view.shape, name: names[i] }]));
  for (const t of tensors) {
    if (t.shape.length > MAX_RANK) failShape(`a tensor of rank ≤ ${MAX_RANK}`, t.name, t.shape);
  }
  let shape = broadcastAll(tensors.map((t) => t.shape), tensors.map((t) => t.name));
  const out = opts.out === undefined ? undefined : resolve(opts.out, 'options.out');
  const device = commonDevice([[out, 'options.out'], ...inputs.map((input, i) => [typeof input === 'number' ? undefined : input, names[i]] as const)]);
  if (device === undefined) fail('at least one tensor among the inputs (or options.out)', names.join(', '), values);
  const accumulate = expectBoolean(opts.accumulate ?? false, 'options.accumulate');
  if (out) {
    const outShape = out.view.shape;
    if (tensors.length === 0) shape = [...outShape];
    if (outShape.length !== shape.length || outShape.some((d, i) => d !== shape[i])) {
      throw new RangeError(`Expected a tensor of shape ${shapeText(shape)} (the inputs broadcast together) for options.out but received ${shapeText(outShape)}`);
    }
    out.tensor.markWritten(); // an in-place write: autograd's saved-tensor check sees it
    return { out, result: out.tensor, inputs, shape, accumulate };
  }
  if (accumulate) fail('options.out to accumulate into', 'options.accumulate', true);
  // Every element is written (no accumulate): the memory need not be zeroed.
  const result = Tensor.empty(shape, { device });
  return { out: { tensor: result, view: contiguousView(shape) }, result, inputs, shape, accumulate };
}

// ---- ops -----------------------------------------------------------------------------------

/**
 * A one-input op over x (a tensor or a view: 'copy' of a view materialises it). clamp takes
 * options.min / options.max (±Infinity for an open side; NaN stays NaN as in torch.clamp).
 */
export function unary(op: UnaryOp, x: Operand | number, options?: ClampOptions): Tensor {
  const code = opNumber('unary', op, 'op');
  const { min = -Infinity, max = Infinity, ...rest } = (options ?? {}) as ClampOptions;
  if (op !== 'clamp' && (options?.min !== undefined || options?.max !== undefined)) fail('no min / max (only clamp takes them)', 'options', options);
  expectNumber(min, 'options.min');
  expectNumber(max, 'options.max');
  const p = prepare([x], ['x'], rest);
  const [xb, xo, xs] = nativeInput(p.inputs[0], p.shape);
  native().elementwiseUnary(code, p.out.tensor.buffer, p.out.view.offset, p.out.view.strides, xb, xo, xs, p.shape, min, max, p.accumulate);
  return p.result;
}

/**
 * A two-input op with broadcasting: op(a, b). Either side may be a number. clampBackward takes
 * options.min / options.max (a = dy, b = x).
 */
export function binary(op: BinaryOp, a: Input, b: Input, options?: ClampOptions): Tensor {
  const code = opNumber('binary', op, 'op');
  const same = sameShapeBinary(code, a, b, options);
  if (same) return same;
  const { min = -Infinity, max = Infinity, ...rest } = (options ?? {}) as ClampOptions;
  if (op !== 'clampBackward' && (options?.min !== undefined || options?.max !== undefined)) fail('no min / max (only clampBackward takes them)', 'options', options);
  expectNumber(min, 'options.min');
  expectNumber(max, 'options.max');
  const p = prepare([a, b], ['a', 'b'], rest);
  const [ab, ao, as] = nativeInput(p.inputs[0], p.shape);
  const [bb, bo, bs] = nativeInput(p.inputs[1], p.shape);
  native().elementwiseBinary(code, p.out.tensor.buffer, p.out.view.offset, p.out.view.strides, ab, ao, as, bb, bo, bs, p.shape, min, max, p.accumulate);
  return p.result;
}

/**
 * binary() without the general path's planning, for the commonest call in a training step (a
 * gradient added into another, a loss statistic into its sum): two tensors of one shape, or a
 * tensor and a number, into a new tensor or options.out of that shape, on one device; the same
 * kernel call with contiguous strides. Anything else (views, broadcasting, clamp bounds, a device
 * mismatch to be named) returns undefined for the general path.
 */
function sameShapeBinary(code: number, a: Input, b: Input, options: ClampOptions | undefined): Tensor | undefined {
  if (!(a instanceof Tensor) || !(b instanceof Tensor || typeof b === 'number')) return undefined;
  let out: unknown;
  if (options !== undefined) {
    if (typeof options !== 'object' || options === null) return undefined;
    for (const key in options) if (key !== 'out') return undefined;
    out = (options as ElementwiseOptions).out;
    if (out !== undefined && !(out instanceof Tensor)) return undefined;
  }
  const shape = a.shape;
  const other = b instanceof Tensor ? b : undefined;
  const target = out as Tensor | undefined;
  if (shape.length > MAX_RANK || (other && !sameDims(other.shape, shape)) || (target && !sameDims(target.shape, shape))) return undefined;
  expectTensor(a, 'a');
  if (other) expectTensor(other, 'b');
  if (target) expectTensor(target, 'options.out');
  if ((other && other.device !== a.device) || (target && target.device !== a.device)) return undefined;
  const strides = contiguousView(shape).strides as number[];
  const result = target ?? Tensor.empty(shape, { device: a.device });
  if (target) target.markWritten(); // an in-place write: autograd's saved-tensor check sees it
  native().elementwiseBinary(code, result.buffer, 0, strides, a.buffer, 0, strides, other ? other.buffer : (b as number), 0, other ? strides : null, shape, -Infinity, Infinity, false);
  return result;
}

/** The shape, and the strides, of a 0-d tensor or view. */
const SCALAR: readonly number[] = [];

/**
 * x's element `index` (of its contiguous storage) times `factor` (any number, NaN included), as a
 * new 0-d tensor: binary('mul') of a 0-d view, without the general path's planning. A loss's value
 * is read out of its kernel's statistics this way every training step.
 */
export function scaledElement(x: Tensor, index: number, factor: number): Tensor {
  expectTensor(x, 'x');
  if (!Number.isInteger(index) || index < 0 || index >= x.size) fail(`an element index in [0, ${x.size - 1}]`, 'index', index, RangeError);
  if (typeof factor !== 'number') fail('a number', 'factor', factor);
  const result = Tensor.empty(SCALAR, { device: x.device });
  const none = SCALAR as number[];
  native().elementwiseBinary(opNumber('binary', 'mul', 'op'), result.buffer, 0, none, x.buffer, index, none, factor, 0, null, none, -Infinity, Infinity, false);
  return result;
}

function sameDims(x: readonly number[], y: readonly number[]): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** A three-input op with broadcasting (see TernaryOp). */
export function ternary(op: TernaryOp, a: Input, b: Input, c: Input, options?: ElementwiseOptions): Tensor {
  const code = opNumber('ternary', op, 'op');
  const names = op === 'where' ? ['condition', 'a', 'b'] : op.startsWith('pow') ? ['dy', 'x', 'exponent'] : ['dy', 'x', 'y'];
  const p = prepare([a, b, c], names, options);
  const [ab, ao, as] = nativeInput(p.inputs[0], p.shape);
  const [bb, bo, bs] = nativeInput(p.inputs[1], p.shape);
  const [cb, co, cs] = nativeInput(p.inputs[2], p.shape);
  native().elementwiseTernary(code, p.out.tensor.buffer, p.out.view.offset, p.out.view.strides, ab, ao, as, bb, bo, bs, cb, co, cs, p.shape, p.accumulate);
  return p.result;
}

/** torch.where(condition, a, b): a where condition ≠ 0 (a float32 mask; NaN counts as true), else b. */
export function where(condition: Input, a: Input, b: Input, options?: ElementwiseOptions): Tensor {
  return ternary('where', condition, a, b, options);
}

/** x (a tensor or a view) copied into a new contiguous tensor, or into (accumulated onto) options.out. */
export function copy(x: Operand | number, options?: ElementwiseOptions): Tensor {
  return unary('copy', x, options);
}

// ---- view ops, materialised -----------------------------------------------------------------

/** torch.permute, as a new contiguous tensor. */
export function permute(x: Operand, dims: readonly number[]): Tensor {
  const r = resolve(x, 'x');
  return copy({ tensor: r.tensor, view: permuteView(r.view, dims) });
}

/** torch.transpose(x, dim0, dim1), as a new contiguous tensor. */
export function transpose(x: Operand, dim0: number, dim1: number): Tensor {
  const r = resolve(x, 'x');
  return copy({ tensor: r.tensor, view: transposeView(r.view, dim0, dim1) });
}

/** torch.expand (−1 keeps a dimension), as a new contiguous tensor. */
export function expand(x: Operand, shape: readonly number[]): Tensor {
  const r = resolve(x, 'x');
  return copy({ tensor: r.tensor, view: expandView(r.view, shape) });
}

/** torch.narrow(x, dim, start, length) (x[…, start:start+length, …]), as a new contiguous tensor. */
export function narrow(x: Operand, dim: number, start: number, length: number): Tensor {
  const r = resolve(x, 'x');
  return copy({ tensor: r.tensor, view: narrowView(r.view, dim, start, length) });
}

/**
 * torch.cat(xs, dim): tensors of one rank that agree in every dimension but `dim`, joined along
 * it (one strided copy per input into its slice of the output).
 */
export function cat(xs: readonly Tensor[], dim = 0, out?: Tensor): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) fail('a non-empty array of tensors', 'xs', xs);
  xs.forEach((x, i) => {
    expectTensor(x, `xs[${i}]`);
    expectSameDevice(x, `xs[${i}]`, xs[0], 'xs[0]');
  });
  const first = xs[0].shape;
  if (first.length === 0) failShape('a tensor of rank ≥ 1', 'xs[0]', first);
  const d = normalizeDim(dim, first.length, 'dim');
  xs.forEach((x, i) => {
    if (x.shape.length !== first.length || x.shape.some((s, k) => k !== d && s !== first[k])) {
      throw new RangeError(
        `Expected shape [${first.map((s, k) => (k === d ? '*' : s)).join(', ')}] (all dimensions but ${d} equal to those of xs[0]) for xs[${i}] but received ${shapeText(x.shape)}`,
      );
    }
  });
  const shape = [...first];
  shape[d] = xs.reduce((sum, x) => sum + x.shape[d], 0);
  const result = out ?? Tensor.empty(shape, { device: xs[0].device });
  if (out) expectTensor(out, 'out', { shape, device: xs[0].device });
  let start = 0;
  const whole = contiguousView(shape);
  for (const x of xs) {
    if (x === result) fail('a tensor other than each input', 'out', out);
    copy(x, { out: { tensor: result, view: narrowView(whole, d, start, x.shape[d]) } });
    start += x.shape[d];
  }
  return result;
}

/** torch.stack(xs, dim): tensors of one shape joined along a new dimension `dim`. */
export function stack(xs: readonly Tensor[], dim = 0, out?: Tensor): Tensor {
  if (!Array.isArray(xs as unknown) || xs.length === 0) fail('a non-empty array of tensors', 'xs', xs);
  xs.forEach((x, i) => {
    expectTensor(x, `xs[${i}]`);
    expectSameDevice(x, `xs[${i}]`, xs[0], 'xs[0]');
  });
  const first = xs[0].shape;
  xs.forEach((x, i) => {
    if (x.shape.length !== first.length || x.shape.some((s, k) => s !== first[k])) {
      throw new RangeError(`Expected shape ${shapeText(first)} (that of xs[0]) for xs[${i}] but received ${shapeText(x.shape)}`);
    }
  });
  const rank = first.length + 1;
  if (rank > MAX_RANK) failShape(`tensors of rank < ${MAX_RANK} (the stack adds one)`, 'xs[0]', first);
  const d = normalizeDim(dim, rank, 'dim');
  const shape = [...first];
  shape.splice(d, 0, xs.length);
  const result = out ?? Tensor.empty(shape, { device: xs[0].device });
  if (out) expectTensor(out, 'out', { shape, device: xs[0].device });
  const whole = contiguousView(shape);
  xs.forEach((x, i) => {
    if (x === result) fail('a tensor other than each input', 'out', out);
    const slot = narrowView(whole, d, i, 1);
    // The slot without its size-1 dimension d: x's shape, read through the output's strides.
    const view: View = {
      shape: first,
      strides: slot.strides.filter((_, k) => k !== d),
      offset: slot.offset,
    };
    copy(x, { out: { tensor: result, view } });
  });
  return result;
}
