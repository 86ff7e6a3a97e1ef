/**
 * The kernels behind the differentiable ops, as the rules in functional.ts call them: thin
 * adapters over the tensor-maths wrappers in lib/ops (elementwise, reduce, batch_matmul, indexing;
 * kernels in native/kernels and cuda/). Nothing here records: these are the forward computations
 * and the pieces backward rules are built from. Every result is a new tensor unless `out` is given.
 */
import * as E from '../ops/elementwise';
import { batchMatmul } from '../ops/batch_matmul';
import * as I from '../ops/indexing';
import * as R from '../ops/reduce';
import { contiguousView, type View } from '../ops/views';
import { Tensor } from '../tensor';
import { fail } from '../validate';

export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
/** The comparison with its operands swapped: a < b ⇔ b > a. */
export const MIRRORED: Record<CompareOp, CompareOp> = { eq: 'eq', ne: 'ne', lt: 'gt', le: 'ge', gt: 'lt', ge: 'le' };

/** Element-wise ops on one tensor; the Scalar forms take the number `alpha` (x + alpha, alpha − x, …). */
export type UnaryOp =
  | E.UnaryOp
  | 'addScalar' | 'mulScalar' | 'divScalar' | 'rsubScalar' | 'rdivScalar' | 'powScalar' | 'rpowScalar'
  | `${CompareOp}Scalar`;
export type BinaryOp = Exclude<E.BinaryOp, 'clampBackward'>;

/** The binary op and operand order each Scalar form stands for. */
const SCALAR_FORMS: Record<string, [E.BinaryOp, 'x op s' | 's op x']> = {
  addScalar: ['add', 'x op s'],
  mulScalar: ['mul', 'x op s'],
  divScalar: ['div', 'x op s'],
  rsubScalar: ['sub', 's op x'],
  rdivScalar: ['div', 's op x'],
  powScalar: ['pow', 'x op s'],
  rpowScalar: ['pow', 's op x'],
  eqScalar: ['eq', 'x op s'],
  neScalar: ['ne', 'x op s'],
  ltScalar: ['lt', 'x op s'],
  leScalar: ['le', 'x op s'],
  gtScalar: ['gt', 'x op s'],
  geScalar: ['ge', 'x op s'],
};

/** op(x) (clamp: to [alpha, beta]; the Scalar forms: with the number alpha). */
export function unary(op: UnaryOp, x: Tensor, alpha = 0, beta = 0, out?: Tensor): Tensor {
  const scalar = SCALAR_FORMS[op];
  if (scalar) {
    const [binaryOp, order] = scalar;
    return order === 'x op s' ? E.binary(binaryOp, x, alpha, { out }) : E.binary(binaryOp, alpha, x, { out });
  }
  if (op === 'clamp') return E.unary('clamp', x, { min: alpha, max: beta, out });
  return E.unary(op as E.UnaryOp, x, { out });
}

/** op(a, b) with broadcasting (into `out`, whose shape must be the broadcast shape, when given). */
export function binary(op: BinaryOp, a: Tensor, b: Tensor, out?: Tensor): Tensor {
  return E.binary(op, a, b, { out });
}

/** cond ? a : b, broadcast. */
export function where(cond: Tensor, a: Tensor, b: Tensor): Tensor {
  return E.where(cond, a, b);
}

/** The gradient rules of maximum / minimum, as PyTorch 2.13 (ties split half and half): x's share of dy. */
export function extremumGradient(op: 'maximum' | 'minimum', dy: Tensor, x: Tensor, y: Tensor): Tensor {
  return E.ternary(op === 'maximum' ? 'maximumBackward' : 'minimumBackward', dy, x, y);
}

/** pow's gradients, as PyTorch 2.13: dy·e·x^(e−1) (0 where e = 0) and dy·x^e·log x (0 where x = 0, e ≥ 0). */
export function powGradient(which: 'base' | 'exponent', dy: Tensor, x: Tensor | number, e: Tensor | number): Tensor {
  return E.ternary(which === 'base' ? 'powBackwardBase' : 'powBackwardExponent', dy, x, e);
}

/** clamp's gradient: dy where min ≤ x ≤ max, else 0. */
export function clampGradient(dy: Tensor, x: Tensor, min: number, max: number): Tensor {
  return E.binary('clampBackward', dy, x, { min, max });
}

/** `op` over `dims` (non-empty), the reduced dims kept with size 1. */
export function reduce(op: 'sum' | 'mean' | 'max' | 'min', x: Tensor, dims: readonly number[], _keepDim: true): Tensor {
  return R.reduce(op, x, { dims: dims.length ? dims : undefined, keepDim: true });
}

/** Variance over `dims` (kept with size 1) with the divisor count − correction. */
export function variance(x: Tensor, dims: readonly number[], correction: number): Tensor {
  return R.reduce('var', x, { dims: dims.length ? dims : undefined, keepDim: true, correction });
}

/** Index (int32) of the first maximum / minimum along dim, or over the flattened tensor when dim is null. */
export function argReduce(op: 'argmax' | 'argmin', x: Tensor, dim: number | null, keepDim: boolean): Tensor {
  const options = dim === null ? { keepDim } : { dim, keepDim };
  return op === 'argmax' ? R.argmax(x, options) : R.argmin(x, options);
}

/** The same storage with another shape of the same size. */
export function view(x: Tensor, shape: readonly number[]): Tensor {
  return x.viewAs(shape);
}

export function expand(x: Tensor, shape: readonly number[]): Tensor {
  return E.expand(x, shape);
}

export function permute(x: Tensor, dims: readonly number[]): Tensor {
  return E.permute(x, dims);
}

/** The view of elements start, start+step, … (count of them) along `dim` of a contiguous tensor of `shape`. */
function sliceView(shape: readonly number[], dim: number, start: number, end: number, step: number): View {
  const whole = contiguousView(shape);
  const count = Math.max(0, Math.ceil((end - start) / step));
  return {
    shape: shape.map((d, i) => (i === dim ? count : d)),
    strides: whole.strides.map((s, i) => (i === dim ? s * step : s)),
    offset: count === 0 ? 0 : start * whole.strides[dim],
  };
}

/** element `index` of x times `factor`, as a new 0-d tensor (one kernel call, no copy first). */
export function scaledElement(x: Tensor, index: number, factor: number): Tensor {
  return E.scaledElement(x, index, factor);
}

/** x[..., start:end:step, ...] along dim (0 ≤ start ≤ end ≤ size), as a new tensor. */
export function slice(x: Tensor, dim: number, start: number, end: number, step: number): Tensor {
  return E.copy({ tensor: x, view: sliceView(x.shape, dim, start, end, step) });
}

/** slice's gradient: g placed at its positions in zeros of the input's `shape`. */
export function unslice(g: Tensor, shape: readonly number[], dim: number, start: number, step: number): Tensor {
  const out = Tensor.zeros(shape, { device: g.device });
  E.copy(g, { out: { tensor: out, view: sliceView(shape, dim, start, start + g.shape[dim] * step, step) } });
  return out;
}

export function cat(tensors: readonly Tensor[], dim: number): Tensor {
  return E.cat(tensors, dim);
}

/** a [..., m, k] · b [..., k, n] (batch dims broadcast), optionally with a's or b's last two dims transposed. */
export function matmul(a: Tensor, b: Tensor, transpose: { transA?: boolean; transB?: boolean } = {}): Tensor {
  return batchMatmul(a, b, transpose);
}

export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  return I.indexSelect(x, dim, index);
}

/** Zeros of `shape` with src's rows added at `index` along dim (indexSelect's gradient). */
export function indexAdd(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor {
  return I.indexAdd(Tensor.zeros(shape, { device: src.device }), dim, index, src);
}

export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  return I.gather(x, dim, index);
}

/** Zeros of `shape` with src scattered (added) at `index` along dim (gather's gradient). */
export function scatterAdd(shape: readonly number[], dim: number, index: Tensor, src: Tensor): Tensor {
  return I.scatterAdd(Tensor.zeros(shape, { device: src.device }), dim, index, src);
}

/** x as another dtype (float32 → int32 truncates toward zero, as PyTorch's .int()). */
export function cast(x: Tensor, dtype: Tensor['dtype']): Tensor {
  if (dtype !== 'float32' && dtype !== 'int32') fail("'float32' or 'int32'", 'dtype', dtype);
  const values = x.toArray();
  const converted = dtype === 'float32' ? Float32Array.from(values) : Int32Array.from(values, (v) => Math.trunc(v));
  return Tensor.from(converted, x.shape, { device: x.device });
}
