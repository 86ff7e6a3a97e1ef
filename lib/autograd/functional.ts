/**
 * Differentiable tensor maths: each op computes its result with a kernel (lib/autograd/kernels.ts
 * → native/kernels/{elementwise,reduce,index}, gemm; CUDA in cuda/) and records its backward rule,
 * written with these same ops (tinygrad's table of rules, one line or a few each). Broadcasting
 * follows NumPy; a number is accepted wherever a tensor is. Tensor methods (x.add(y), x.sum(1))
 * call these functions (lib/autograd/methods.ts).
 */
import { Tensor } from '../tensor';
import { fail } from '../validate';
import { setGradientArithmetic } from './engine';
import { isTracing } from './grad_mode';
import * as K from './kernels';
import { record } from './node';

/** A tensor, or a number standing for a 0-d tensor. */
export type TensorLike = Tensor | number;

function expectTensorArg(value: unknown, name: string): Tensor {
  if (!(value instanceof Tensor)) fail('a Tensor', name, value);
  return value;
}

function expectNumeric(value: unknown, name: string): TensorLike {
  if (value instanceof Tensor) return value;
  if (typeof value !== 'number') fail('a Tensor or a number', name, value);
  return value;
}

/** A 0-d tensor holding `value` on `like`'s device. */
function scalarLike(value: number, like: Tensor): Tensor {
  return Tensor.full([], value, { device: like.device });
}

// ---------------------------------------------------------------------------------------------
// Shapes
// ---------------------------------------------------------------------------------------------

/** A dimension index in [−rank, rank) made non-negative; `name` for the error. */
export function normalizeDim(dim: unknown, rank: number, name = 'dim'): number {
  const r = Math.max(rank, 1);
  if (typeof dim !== 'number' || !Number.isInteger(dim) || dim < -r || dim >= r) fail(`a dimension in [${-r}, ${r - 1}]`, name, dim, RangeError);
  return dim < 0 ? dim + r : dim;
}

/** Sorted, distinct, non-negative dims from a dim, a list of dims, or undefined (all dims). */
export function normalizeDims(dims: number | readonly number[] | undefined | null, rank: number): number[] {
  if (dims === undefined || dims === null) return Array.from({ length: rank }, (_, i) => i);
  const list = typeof dims === 'number' ? [dims] : dims;
  if (!Array.isArray(list)) fail('a dimension or an array of dimensions', 'dim', dims);
  const out = [...new Set(list.map((d, i) => normalizeDim(d, rank, Array.isArray(dims) ? `dim[${i}]` : 'dim')))].sort((a, b) => a - b);
  if (out.length !== list.length) fail('distinct dimensions', 'dim', dims, RangeError);
  return out;
}

/** The dims a reduction reduces: `dim` normalised; omitted, null or [] mean all of them (as PyTorch's dim=[]). */
function reductionDims(dim: number | readonly number[] | undefined | null, rank: number): number[] {
  return Array.isArray(dim) && dim.length === 0 ? normalizeDims(undefined, rank) : normalizeDims(dim, rank);
}

/** The shape after reducing `dims` (kept as 1 with keepDim). */
function reducedShape(shape: readonly number[], dims: readonly number[], keepDim: boolean): number[] {
  return keepDim ? shape.map((d, i) => (dims.includes(i) ? 1 : d)) : shape.filter((_, i) => !dims.includes(i));
}

/** Reduces a broadcast gradient back to `shape`: sums the dims broadcasting added or stretched. */
export function sumToShape(g: Tensor, shape: readonly number[]): Tensor {
  if (sameShape(g.shape, shape)) return g;
  const lead = g.shape.length - shape.length;
  const dims: number[] = [];
  g.shape.forEach((d, i) => {
    if (i < lead || (shape[i - lead] === 1 && d !== 1)) dims.push(i);
  });
  const summed = dims.length ? K.reduce('sum', g, dims, true) : g;
  return K.view(summed, shape);
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// ---------------------------------------------------------------------------------------------
// Element-wise arithmetic
// ---------------------------------------------------------------------------------------------

/** a + b. */
export function add(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [expectNumeric(a, 'a'), expectNumeric(b, 'b')];
  if (typeof y === 'number') return record('AddBackward', [x as Tensor], K.unary('addScalar', expectTensorArg(x, 'a'), y), ([g]) => [g], [], { attributes: { scalar: y } });
  if (typeof x === 'number') return add(y, x);
  const out = K.binary('add', x, y);
  return record('AddBackward', [x, y], out, ([g]) => [sumToShape(g, x.shape), sumToShape(g, y.shape)]);
}

/** a − b. */
export function sub(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [expectNumeric(a, 'a'), expectNumeric(b, 'b')];
  if (typeof y === 'number') return record('SubBackward', [x as Tensor], K.unary('addScalar', expectTensorArg(x, 'a'), -y), ([g]) => [g], [], { attributes: { scalar: y } });
  if (typeof x === 'number') return record('SubBackward', [y], K.unary('rsubScalar', y, x), ([g]) => [neg(g)], [], { attributes: { scalar: x, reversed: true } });
  const out = K.binary('sub', x, y);
  return record('SubBackward', [x, y], out, ([g]) => [sumToShape(g, x.shape), sumToShape(neg(g), y.shape)]);
}

/** a · b (element-wise). */
export function mul(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [expectNumeric(a, 'a'), expectNumeric(b, 'b')];
  if (typeof y === 'number') return record('MulBackward', [x as Tensor], K.unary('mulScalar', expectTensorArg(x, 'a'), y), ([g]) => [mul(g, y)], [], { attributes: { scalar: y } });
  if (typeof x === 'number') return mul(y, x);
  const out = K.binary('mul', x, y);
  return record('MulBackward', [x, y], out, ([g]) => [sumToShape(mul(g, y), x.shape), sumToShape(mul(g, x), y.shape)], [x, y]);
}

/** a / b. */
export function div(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [expectNumeric(a, 'a'), expectNumeric(b, 'b')];
  if (typeof y === 'number') return record('DivBackward', [x as Tensor], K.unary('divScalar', expectTensorArg(x, 'a'), y), ([g]) => [div(g, y)], [], { attributes: { scalar: y } });
  if (typeof x === 'number') {
    const out = K.unary('rdivScalar', y, x);
    return record('DivBackward', [y], out, ([g]) => [neg(mul(g, div(out, y)))], [y, out], { attributes: { scalar: x, reversed: true } });
  }
  const out = K.binary('div', x, y);
  return record('DivBackward', [x, y], out, ([g]) => [sumToShape(div(g, y), x.shape), sumToShape(neg(mul(g, div(out, y))), y.shape)], [y, out]);
}

/** a ** b (gradients as PyTorch 2.13: 0 for the base where the exponent is 0, 0 for the exponent where the base is 0). */
export function pow(a: TensorLike, b: TensorLike): Tensor {
  const [x, y] = [expectNumeric(a, 'a'), expectNumeric(b, 'b')];
  if (typeof y === 'number') {
    const base = expectTensorArg(x, 'a');
    return record('PowBackward', [base], K.unary('powScalar', base, y), ([g]) => [K.powGradient('base', g, base, y)], [base], { attributes: { scalar: y } });
  }
  if (typeof x === 'number') {
    return record('PowBackward', [y], K.unary('rpowScalar', y, x), ([g]) => [K.powGradient('exponent', g, x, y)], [y], { attributes: { scalar: x, reversed: true } });
  }
  const out = K.binary('pow', x, y);
  return record(
    'PowBackward',
    [x, y],
    out,
    ([g]) => [sumToShape(K.powGradient('base', g, x, y), x.shape), sumToShape(K.powGradient('exponent', g, x, y), y.shape)],
    [x, y],
  );
}

/** −x. */
export function neg(x: Tensor): Tensor {
  return record('NegBackward', [x], K.unary('neg', expectTensorArg(x, 'x')), ([g]) => [neg(g)]);
}

/** eˣ. */
export function exp(x: Tensor): Tensor {
  const out = K.unary('exp', expectTensorArg(x, 'x'));
  return record('ExpBackward', [x], out, ([g]) => [mul(g, out)], [out]);
}

/** Natural logarithm. */
export function log(x: Tensor): Tensor {
  const out = K.unary('log', expectTensorArg(x, 'x'));
  return record('LogBackward', [x], out, ([g]) => [div(g, x)], [x]);
}

/** √x. */
export function sqrt(x: Tensor): Tensor {
  const out = K.unary('sqrt', expectTensorArg(x, 'x'));
  return record('SqrtBackward', [x], out, ([g]) => [div(g, mul(out, 2))], [out]);
}

/** |x| (gradient sign(x): 0 at 0, as PyTorch). */
export function abs(x: Tensor): Tensor {
  const out = K.unary('abs', expectTensorArg(x, 'x'));
  return record('AbsBackward', [x], out, ([g]) => [mul(g, K.unary('sign', x))], [x]);
}

/** x². */
export function square(x: Tensor): Tensor {
  const out = K.unary('square', expectTensorArg(x, 'x'));
  return record('SquareBackward', [x], out, ([g]) => [mul(g, mul(x, 2))], [x]);
}

/** sign(x) ∈ {−1, 0, 1} (NaN stays NaN); no gradient (zero almost everywhere). */
export function sign(x: Tensor): Tensor {
  return withoutGradient('SignBackward', [x], K.unary('sign', expectTensorArg(x, 'x')));
}

/**
 * x limited to [min, max] (either may be omitted or ±Infinity), as torch.clamp; the gradient
 * passes where min ≤ x ≤ max.
 */
export function clamp(x: Tensor, min?: number | null, max?: number | null): Tensor {
  expectTensorArg(x, 'x');
  const lo = min ?? -Infinity;
  const hi = max ?? Infinity;
  if (typeof lo !== 'number' || Number.isNaN(lo)) fail('a number', 'min', min);
  if (typeof hi !== 'number' || Number.isNaN(hi)) fail('a number', 'max', max);
  const out = K.unary('clamp', x, lo, hi);
  return record('ClampBackward', [x], out, ([g]) => [K.clampGradient(g, x, lo, hi)], [x], { attributes: { min: lo, max: hi } });
}

/**
 * Element-wise maximum (NaN wins, as torch.maximum); a tie sends half the gradient to each
 * side, as PyTorch.
 */
export function maximum(a: TensorLike, b: TensorLike): Tensor {
  return extremum('maximum', a, b);
}

/** Element-wise minimum (see maximum). */
export function minimum(a: TensorLike, b: TensorLike): Tensor {
  return extremum('minimum', a, b);
}

function extremum(op: 'maximum' | 'minimum', a: TensorLike, b: TensorLike): Tensor {
  const x0 = expectNumeric(a, 'a');
  const y0 = expectNumeric(b, 'b');
  const like = x0 instanceof Tensor ? x0 : y0 instanceof Tensor ? y0 : fail('at least one Tensor', 'a', a);
  const x = typeof x0 === 'number' ? scalarLike(x0, like) : x0;
  const y = typeof y0 === 'number' ? scalarLike(y0, like) : y0;
  const out = K.binary(op, x, y);
  return record(
    op === 'maximum' ? 'MaximumBackward' : 'MinimumBackward',
    [x, y],
    out,
    ([g]) => [sumToShape(K.extremumGradient(op, g, x, y), x.shape), sumToShape(K.extremumGradient(op, g, y, x), y.shape)],
    [x, y],
  );
}

/** cond ? a : b element-wise (cond: a mask, non-zero = true; broadcast together). */
export function where(cond: Tensor, a: TensorLike, b: TensorLike): Tensor {
  expectTensorArg(cond, 'cond');
  const x = typeof a === 'number' ? scalarLike(a, cond) : expectTensorArg(a, 'a');
  const y = typeof b === 'number' ? scalarLike(b, cond) : expectTensorArg(b, 'b');
  const out = K.where(cond, x, y);
  return record(
    'WhereBackward',
    [null, x, y],
    out,
    ([g]) => {
      const zero = scalarLike(0, g);
      return [null, sumToShape(K.where(cond, g, zero), x.shape), sumToShape(K.where(cond, zero, g), y.shape)];
    },
    [cond],
    { operands: [cond, x, y] },
  );
}

/**
 * The result of an op without a gradient: returned as it is, except inside tracing(), where it is
 * recorded (its rule gives no gradient) so that an exporter sees how it was computed.
 */
function withoutGradient(name: string, operands: readonly Tensor[], out: Tensor, attributes: Record<string, unknown> = {}): Tensor {
  return isTracing() ? record(name, operands, out, () => operands.map(() => null), [], { attributes }) : out;
}

// Comparisons: float32 masks of 0 and 1 (napinet's dtypes are float32 and int32), no gradient.
function compare(op: K.CompareOp, a: TensorLike, b: TensorLike): Tensor {
  const x = expectNumeric(a, 'a');
  const y = expectNumeric(b, 'b');
  if (x instanceof Tensor && typeof y === 'number') return withoutGradient('CompareBackward', [x], K.unary(`${op}Scalar`, x, y), { op, scalar: y });
  if (typeof x === 'number' && y instanceof Tensor) return withoutGradient('CompareBackward', [y], K.unary(`${K.MIRRORED[op]}Scalar`, y, x), { op: K.MIRRORED[op], scalar: x });
  if (x instanceof Tensor && y instanceof Tensor) return withoutGradient('CompareBackward', [x, y], K.binary(op, x, y), { op });
  return fail('at least one Tensor', 'a', a);
}

/** a = b, as a float32 mask of 0 and 1. */
export const eq = (a: TensorLike, b: TensorLike): Tensor => compare('eq', a, b);
/** a ≠ b (NaN ≠ anything), as a float32 mask. */
export const ne = (a: TensorLike, b: TensorLike): Tensor => compare('ne', a, b);
/** a < b, as a float32 mask. */
export const lt = (a: TensorLike, b: TensorLike): Tensor => compare('lt', a, b);
/** a ≤ b, as a float32 mask. */
export const le = (a: TensorLike, b: TensorLike): Tensor => compare('le', a, b);
/** a > b, as a float32 mask. */
export const gt = (a: TensorLike, b: TensorLike): Tensor => compare('gt', a, b);
/** a ≥ b, as a float32 mask. */
export const ge = (a: TensorLike, b: TensorLike): Tensor => compare('ge', a, b);

// ---------------------------------------------------------------------------------------------
// Reductions
// ---------------------------------------------------------------------------------------------

/** Options of the reductions (sum, mean, max, min, argmax, argmin). */
export interface ReduceOptions {
  /** Keep the reduced dimensions as size 1 (PyTorch's keepdim). Default false. */
  keepDim?: boolean;
}

/** The gradient of a reduction over `dims` spread back to `shape` (undoing keepDim first). */
function spread(g: Tensor, shape: readonly number[], dims: readonly number[]): Tensor {
  return K.expand(K.view(g, reducedShape(shape, dims, true)), shape);
}

/** Σ over `dim` (all dims when omitted). */
export function sum(x: Tensor, dim?: number | readonly number[] | null, options: ReduceOptions = {}): Tensor {
  expectTensorArg(x, 'x');
  const dims = reductionDims(dim, x.shape.length);
  const keepDim = options.keepDim ?? false;
  const out = K.view(K.reduce('sum', x, dims, true), reducedShape(x.shape, dims, keepDim));
  return record('SumBackward', [x], out, ([g]) => [spread(g, x.shape, dims)], [], { attributes: { dims, keepDim } });
}

/** Mean over `dim` (all dims when omitted). */
export function mean(x: Tensor, dim?: number | readonly number[] | null, options: ReduceOptions = {}): Tensor {
  expectTensorArg(x, 'x');
  const dims = reductionDims(dim, x.shape.length);
  const count = dims.reduce((n, d) => n * x.shape[d], 1);
  const keepDim = options.keepDim ?? false;
  const out = K.view(K.reduce('mean', x, dims, true), reducedShape(x.shape, dims, keepDim));
  return record('MeanBackward', [x], out, ([g]) => [mul(spread(g, x.shape, dims), count > 0 ? 1 / count : NaN)], [], { attributes: { dims, keepDim } });
}

/**
 * Maximum over `dim` (all dims when omitted), as torch.amax: the gradient is shared evenly among
 * elements tied for the maximum. NaN propagates.
 */
export function max(x: Tensor, dim?: number | readonly number[] | null, options: ReduceOptions = {}): Tensor {
  return extremeOver('max', x, dim, options);
}

/** Minimum over `dim` (see max). */
export function min(x: Tensor, dim?: number | readonly number[] | null, options: ReduceOptions = {}): Tensor {
  return extremeOver('min', x, dim, options);
}

function extremeOver(op: 'max' | 'min', x: Tensor, dim: number | readonly number[] | null | undefined, options: ReduceOptions): Tensor {
  expectTensorArg(x, 'x');
  const dims = reductionDims(dim, x.shape.length);
  if (dims.some((d) => x.shape[d] === 0)) fail(`a non-empty dimension to take the ${op} over`, 'dim', dim, RangeError);
  const kept = K.reduce(op, x, dims, true);
  const keepDim = options.keepDim ?? false;
  const out = K.view(kept, reducedShape(x.shape, dims, keepDim));
  return record(
    op === 'max' ? 'AmaxBackward' : 'AminBackward',
    [x],
    out,
    ([g]) => {
      const hits = K.binary('eq', x, kept);
      const count = K.reduce('sum', hits, dims, true);
      return [mul(spread(g, x.shape, dims), div(hits, count))];
    },
    [x, kept],
    { attributes: { dims, keepDim } },
  );
}

/** Index of the maximum along `dim` (over the flattened tensor when omitted), int32; the first on ties; NaN counts as the maximum. */
export function argmax(x: Tensor, dim?: number | null, options: ReduceOptions = {}): Tensor {
  return argReduce('argmax', x, dim, options);
}

/** Index of the minimum along `dim` (see argmax). */
export function argmin(x: Tensor, dim?: number | null, options: ReduceOptions = {}): Tensor {
  return argReduce('argmin', x, dim, options);
}

function argReduce(op: 'argmax' | 'argmin', x: Tensor, dim: number | null | undefined, options: ReduceOptions): Tensor {
  const keepDim = options.keepDim ?? false;
  return withoutGradient('ArgReduceBackward', [x], K.argReduce(op, expectTensorArg(x, 'x'), dim ?? null, keepDim), { op, dim: dim ?? null, keepDim });
}

/** Options of var(): keepDim, and the correction (1: unbiased, the default; 0: the population variance). */
export interface VarOptions extends ReduceOptions {
  /** Subtracted from the count in the divisor: 1 (default) the unbiased estimate, 0 the population variance. */
  correction?: number;
}

/** Variance over `dim` (all dims when omitted), as torch.var. */
export function variance(x: Tensor, dim?: number | readonly number[] | null, options: VarOptions = {}): Tensor {
  expectTensorArg(x, 'x');
  const dims = reductionDims(dim, x.shape.length);
  const correction = options.correction ?? 1;
  if (typeof correction !== 'number' || !Number.isFinite(correction) || correction < 0) fail('a finite number ≥ 0', 'options.correction', correction, RangeError);
  const count = dims.reduce((n, d) => n * x.shape[d], 1);
  const keepDim = options.keepDim ?? false;
  const out = K.view(K.variance(x, dims, correction), reducedShape(x.shape, dims, keepDim));
  return record(
    'VarBackward',
    [x],
    out,
    ([g]) => {
      const centred = sub(x, K.reduce('mean', x, dims, true));
      return [mul(spread(g, x.shape, dims), mul(centred, 2 / Math.max(count - correction, 0)))];
    },
    [x],
    { attributes: { dims, keepDim, correction } },
  );
}

// ---------------------------------------------------------------------------------------------
// Products
// ---------------------------------------------------------------------------------------------

/**
 * Matrix product with torch.matmul's rules: 1-D operands are promoted (and the added dimension
 * removed), and batch dimensions broadcast.
 */
export function matmul(a: Tensor, b: Tensor): Tensor {
  expectTensorArg(a, 'a');
  expectTensorArg(b, 'b');
  if (a.shape.length === 0 || b.shape.length === 0) {
    throw new RangeError(`Expected tensors of rank ≥ 1 for matmul but received shapes [${a.shape.join(', ')}] and [${b.shape.join(', ')}]`);
  }
  const a2 = a.shape.length === 1 ? reshape(a, [1, a.shape[0]]) : a;
  const b2 = b.shape.length === 1 ? reshape(b, [b.shape[0], 1]) : b;
  const out = batchedMatmul(a2, b2);
  let shape = out.shape;
  if (a.shape.length === 1) shape = [...shape.slice(0, -2), shape[shape.length - 1]];
  if (b.shape.length === 1) shape = shape.slice(0, -1);
  return shape.length === out.shape.length ? out : reshape(out, shape);
}

/** a [..., m, k] · b [..., k, n] with broadcast batch dimensions. */
function batchedMatmul(a: Tensor, b: Tensor): Tensor {
  const out = K.matmul(a, b);
  return record(
    'MatmulBackward',
    [a, b],
    out,
    ([g]) => [sumToShape(K.matmul(g, b, { transB: true }), a.shape), sumToShape(K.matmul(a, g, { transA: true }), b.shape)],
    [a, b],
  );
}

// ---------------------------------------------------------------------------------------------
// Shape and layout
// ---------------------------------------------------------------------------------------------

/** The same values with another shape (one dimension may be −1: inferred). Shares memory. */
export function reshape(x: Tensor, shape: readonly number[]): Tensor {
  expectTensorArg(x, 'x');
  const out = K.view(x, inferShape(x, shape));
  return record('ViewBackward', [x], out, ([g]) => [K.view(g, x.shape)]);
}

function inferShape(x: Tensor, shape: readonly number[]): number[] {
  if (!Array.isArray(shape)) fail('an array of integers', 'shape', shape);
  const dims = [...shape];
  const inferred = dims.indexOf(-1);
  if (inferred >= 0) {
    if (dims.indexOf(-1, inferred + 1) >= 0) fail('a shape with at most one −1', 'shape', shape, RangeError);
    const known = dims.reduce((p, d, i) => (i === inferred ? p : p * d), 1);
    if (known === 0 || x.size % known !== 0) {
      throw new RangeError(`Expected a shape that ${x.size} elements fill for reshape but received [${shape.join(', ')}]`);
    }
    dims[inferred] = x.size / known;
  }
  if (!dims.every((d) => Number.isInteger(d) && d >= 0)) fail('an array of non-negative integers (and at most one −1)', 'shape', shape, RangeError);
  const size = dims.reduce((p, d) => p * d, 1);
  if (size !== x.size) throw new RangeError(`Expected a shape of ${x.size} elements for reshape of [${x.shape.join(', ')}] but received [${shape.join(', ')}]`);
  return dims;
}

/** Dimensions startDim…endDim merged into one (torch.flatten; default all). */
export function flatten(x: Tensor, startDim = 0, endDim = -1): Tensor {
  expectTensorArg(x, 'x');
  if (x.shape.length === 0) return reshape(x, [1]);
  const s = normalizeDim(startDim, x.shape.length, 'startDim');
  const e = normalizeDim(endDim, x.shape.length, 'endDim');
  if (e < s) fail(`an endDim ≥ startDim (${s})`, 'endDim', endDim, RangeError);
  const merged = x.shape.slice(s, e + 1).reduce((p, d) => p * d, 1);
  return reshape(x, [...x.shape.slice(0, s), merged, ...x.shape.slice(e + 1)]);
}

/** Dimensions reordered: output dim i is input dim dims[i] (torch.permute). A copy. */
export function permute(x: Tensor, dims: readonly number[]): Tensor {
  expectTensorArg(x, 'x');
  const rank = x.shape.length;
  if (!Array.isArray(dims) || dims.length !== rank) fail(`an array of ${rank} dimensions`, 'dims', dims);
  const order = dims.map((d, i) => normalizeDim(d, rank, `dims[${i}]`));
  if (new Set(order).size !== rank) fail('a permutation of the dimensions', 'dims', dims, RangeError);
  const inverse = order.map((_, i) => order.indexOf(i));
  return record('PermuteBackward', [x], K.permute(x, order), ([g]) => [K.permute(g, inverse)], [], { attributes: { dims: order } });
}

/** dim0 and dim1 swapped (torch.transpose). A copy. */
export function transpose(x: Tensor, dim0: number, dim1: number): Tensor {
  expectTensorArg(x, 'x');
  const rank = x.shape.length;
  const a = normalizeDim(dim0, rank, 'dim0');
  const b = normalizeDim(dim1, rank, 'dim1');
  if (a === b) return reshape(x, x.shape);
  const order = Array.from({ length: rank }, (_, i) => (i === a ? b : i === b ? a : i));
  return permute(x, order);
}

/** Size-1 dimensions removed: `dim` only, or all of them. */
export function squeeze(x: Tensor, dim?: number | readonly number[]): Tensor {
  expectTensorArg(x, 'x');
  const dims = dim === undefined ? x.shape.map((_, i) => i) : normalizeDims(dim, x.shape.length);
  return reshape(x, x.shape.filter((d, i) => !(d === 1 && dims.includes(i))));
}

/** A size-1 dimension inserted at `dim` (in [−rank−1, rank]). */
export function unsqueeze(x: Tensor, dim: number): Tensor {
  expectTensorArg(x, 'x');
  const d = normalizeDim(dim, x.shape.length + 1);
  return reshape(x, [...x.shape.slice(0, d), 1, ...x.shape.slice(d)]);
}

/** Size-1 dimensions repeated to `shape` (−1 keeps a size; new leading dims allowed), as torch.expand. A copy. */
export function expand(x: Tensor, shape: readonly number[]): Tensor {
  expectTensorArg(x, 'x');
  if (!Array.isArray(shape)) fail('an array of integers', 'shape', shape);
  const lead = shape.length - x.shape.length;
  if (lead < 0) fail(`a shape of rank ≥ ${x.shape.length}`, 'shape', shape, RangeError);
  const target = shape.map((d, i) => {
    const own = i >= lead ? x.shape[i - lead] : undefined;
    if (d === -1 && own !== undefined) return own;
    if (!Number.isInteger(d) || d < 0 || (own !== undefined && own !== 1 && own !== d)) {
      throw new RangeError(`Expected a shape that [${x.shape.join(', ')}] expands to for shape but received [${shape.join(', ')}] (dimension ${i})`);
    }
    return d;
  });
  return record('ExpandBackward', [x], K.expand(x, target), ([g]) => [sumToShape(g, x.shape)]);
}

/** Elements start…start+length−1 along `dim` (torch.narrow). A copy. */
export function narrow(x: Tensor, dim: number, start: number, length: number): Tensor {
  expectTensorArg(x, 'x');
  const d = normalizeDim(dim, x.shape.length);
  const size = x.shape[d];
  const s = start < 0 ? start + size : start;
  if (!Number.isInteger(s) || s < 0 || s > size) fail(`a start in [${-size}, ${size}]`, 'start', start, RangeError);
  if (!Number.isInteger(length) || length < 0 || s + length > size) fail(`a length in [0, ${size - s}]`, 'length', length, RangeError);
  return sliceAlong(x, d, s, s + length, 1);
}

/**
 * Elements start, start+step, … before end along `dim`, as x[..., start:end:step] in Python:
 * negative start/end count from the end and are clamped to the dimension. A copy.
 */
export function slice(x: Tensor, dim: number, start = 0, end: number = Infinity, step = 1): Tensor {
  expectTensorArg(x, 'x');
  const d = normalizeDim(dim, x.shape.length);
  if (!Number.isInteger(step) || step < 1) fail('a positive integer', 'step', step, RangeError);
  const size = x.shape[d];
  const clampIndex = (i: number, name: string): number => {
    if (i !== Infinity && !Number.isInteger(i)) fail('an integer', name, i);
    const j = i < 0 ? i + size : i;
    return Math.min(Math.max(j, 0), size);
  };
  const s = clampIndex(start, 'start');
  const e = Math.max(clampIndex(end, 'end'), s);
  return sliceAlong(x, d, s, e, step);
}

function sliceAlong(x: Tensor, dim: number, start: number, end: number, step: number): Tensor {
  const out = K.slice(x, dim, start, end, step);
  return record('SliceBackward', [x], out, ([g]) => [K.unslice(g, x.shape, dim, start, step)], [], { attributes: { dim, start, end, step } });
}

/** Rows of x along `dim` picked by int32 `index` (1-D), as torch.index_select. */
export function indexSelect(x: Tensor, dim: number, index: Tensor): Tensor {
  expectTensorArg(x, 'x');
  expectTensorArg(index, 'index');
  const d = normalizeDim(dim, x.shape.length);
  const out = K.indexSelect(x, d, index);
  return record('IndexSelectBackward', [x, null], out, ([g]) => [K.indexAdd(x.shape, d, index, g), null], [index], { operands: [x, index], attributes: { dim: d } });
}

/** out[i][j][k] = x[i][index[i][j][k]][k] for dim 1 (any dim likewise), as torch.gather. */
export function gather(x: Tensor, dim: number, index: Tensor): Tensor {
  expectTensorArg(x, 'x');
  expectTensorArg(index, 'index');
  const d = normalizeDim(dim, x.shape.length);
  const out = K.gather(x, d, index);
  return record('GatherBackward', [x, null], out, ([g]) => [K.scatterAdd(x.shape, d, index, g), null], [index], { operands: [x, index], attributes: { dim: d } });
}

/** Tensors joined along `dim` (torch.cat); all shapes equal but along dim. */
export function cat(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) fail('a non-empty array of tensors', 'tensors', tensors);
  tensors.forEach((t, i) => expectTensorArg(t, `tensors[${i}]`));
  const d = normalizeDim(dim, tensors[0].shape.length);
  const out = K.cat(tensors, d);
  return record(
    'CatBackward',
    tensors,
    out,
    ([g]) => {
      let offset = 0;
      return tensors.map((t) => {
        const part = K.slice(g, d, offset, offset + t.shape[d], 1);
        offset += t.shape[d];
        return part;
      });
    },
    [],
    { attributes: { dim: d } },
  );
}

/** Tensors of one shape stacked along a new dimension `dim` (torch.stack). */
export function stack(tensors: readonly Tensor[], dim = 0): Tensor {
  if (!Array.isArray(tensors) || tensors.length === 0) fail('a non-empty array of tensors', 'tensors', tensors);
  tensors.forEach((t, i) => {
    expectTensorArg(t, `tensors[${i}]`);
    if (!sameShape(t.shape, tensors[0].shape)) {
      throw new RangeError(`Expected shape [${tensors[0].shape.join(', ')}] (that of tensors[0]) for tensors[${i}] but received [${t.shape.join(', ')}]`);
    }
  });
  const d = normalizeDim(dim, tensors[0].shape.length + 1);
  return cat(tensors.map((t) => unsqueeze(t, d)), d);
}

/** A copy with its own memory (recorded: the gradient passes through). */
export function clone(x: Tensor): Tensor {
  return record('CloneBackward', [x], K.unary('copy', expectTensorArg(x, 'x')), ([g]) => [g]);
}

/** x on `device` (x itself when already there); recorded, so gradients flow back across devices. */
export function toDevice(x: Tensor, device: Tensor['device']): Tensor {
  expectTensorArg(x, 'x');
  if (x.device === device) return x;
  return record('ToCopyBackward', [x], x.copyToDevice(device), ([g]) => [g.copyToDevice(x.device)]);
}

/** x converted to `dtype` (float32 ↔ int32; float → int truncates toward zero). Not differentiable. */
export function toDType(x: Tensor, dtype: Tensor['dtype']): Tensor {
  expectTensorArg(x, 'x');
  return x.dtype === dtype ? x : withoutGradient('ToDTypeBackward', [x], K.cast(x, dtype), { dtype });
}

setGradientArithmetic({
  add: (a, b) => K.binary('add', a, b),
  addInPlace: (target, g) => {
    K.binary('add', target, g, target);
  },
  clone: (g) => K.unary('copy', g),
});

