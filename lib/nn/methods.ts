/**
 * Tensor methods for the differentiable ops (x.add(y), x.matmul(w), x.sum(1, { keepDim: true })),
 * each calling its function in lib/autograd/functional.ts or lib/nn/functional.ts, installed on
 * Tensor.prototype when this module loads (tfjs-core's chained ops do the same). lib/index.ts and
 * nn/module.ts load it, so the methods exist wherever napinet is used; the library's own code calls
 * the functions, never the methods, so it does not depend on the order modules load in.
 */
import { type DeviceSpec, resolveDevice } from '../device';
import { type BackwardOptions, backward } from '../autograd/engine';
import * as F from '../autograd/functional';
import type { ReduceOptions, TensorLike, VarOptions } from '../autograd/functional';
import { inPlace } from '../autograd/inplace';
import { fill } from '../ops/fill';
import { Tensor, type DType } from '../tensor';
import * as NF from './functional';

declare module '../tensor' {
  interface Tensor {
    /** Computes the gradients of this tensor (a one-element loss, or give `gradient`) into the leaves' .grad. */
    backward(gradient?: Tensor, options?: BackwardOptions): void;
    /** this + other, element-wise with broadcasting (torch.add); see {@link add}. */
    add(other: TensorLike): Tensor;
    /** this − other, element-wise with broadcasting (torch.sub). */
    sub(other: TensorLike): Tensor;
    /** this · other, element-wise with broadcasting (torch.mul). */
    mul(other: TensorLike): Tensor;
    /** this / other, element-wise with broadcasting (torch.div). */
    div(other: TensorLike): Tensor;
    /** this raised to `exponent` (a number or a tensor), element-wise (torch.pow). */
    pow(exponent: TensorLike): Tensor;
    /** −this, element-wise. */
    neg(): Tensor;
    /** e^this, element-wise. */
    exp(): Tensor;
    /** The natural logarithm, element-wise. */
    log(): Tensor;
    /** The square root, element-wise. */
    sqrt(): Tensor;
    /** |this|, element-wise. */
    abs(): Tensor;
    /** this², element-wise. */
    square(): Tensor;
    /** −1, 0 or 1 by the sign of each element (gradient 0). */
    sign(): Tensor;
    /** Each element limited to [min, max] (either may be null: no limit), as torch.clamp. */
    clamp(min?: number | null, max?: number | null): Tensor;
    /** The larger of this and `other`, element-wise (torch.maximum). */
    maximum(other: TensorLike): Tensor;
    /** The smaller of this and `other`, element-wise (torch.minimum). */
    minimum(other: TensorLike): Tensor;
    /** 1 where this == other, else 0 (a float32 mask; not differentiable). */
    eq(other: TensorLike): Tensor;
    /** 1 where this ≠ other, else 0 (a float32 mask). */
    ne(other: TensorLike): Tensor;
    /** 1 where this < other, else 0 (a float32 mask). */
    lt(other: TensorLike): Tensor;
    /** 1 where this ≤ other, else 0 (a float32 mask). */
    le(other: TensorLike): Tensor;
    /** 1 where this > other, else 0 (a float32 mask). */
    gt(other: TensorLike): Tensor;
    /** 1 where this ≥ other, else 0 (a float32 mask). */
    ge(other: TensorLike): Tensor;
    /** The sum over `dim` (a dimension, several, or all when omitted); `keepDim` keeps them as size 1 (torch.sum). */
    sum(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    /** The mean over `dim` (a dimension, several, or all when omitted), as torch.mean. */
    mean(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    /** The largest value over `dim` (or all), as torch.amax; ties share the gradient evenly. */
    max(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    /** The smallest value over `dim` (or all), as torch.amin. */
    min(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    /** The int32 index of the largest value along `dim` (of the flattened tensor when omitted); the first on ties. */
    argmax(dim?: number | null, options?: ReduceOptions): Tensor;
    /** The int32 index of the smallest value along `dim` (of the flattened tensor when omitted); the first on ties. */
    argmin(dim?: number | null, options?: ReduceOptions): Tensor;
    /** The variance over `dim` (or all); `correction` 1 (default, unbiased) or 0, as torch.var. */
    var(dim?: number | readonly number[] | null, options?: VarOptions): Tensor;
    /** The matrix product (torch.matmul): 1-D and 2-D operands, and batched [..., n, k] · [..., k, m] with broadcast batch dimensions. */
    matmul(other: Tensor): Tensor;
    /** The same values in `shape` (one dimension may be −1: inferred); a view, no copy. */
    reshape(shape: readonly number[]): Tensor;
    /** The same as reshape (napinet tensors are contiguous, so every reshape is a view). */
    view(shape: readonly number[]): Tensor;
    /** Dimensions `startDim`..`endDim` (default 0..−1) merged into one, as torch.flatten. */
    flatten(startDim?: number, endDim?: number): Tensor;
    /** The dimensions reordered as `dims` (torch.permute); a copy. */
    permute(dims: readonly number[]): Tensor;
    /** Dimensions `dim0` and `dim1` swapped (torch.transpose). */
    transpose(dim0: number, dim1: number): Tensor;
    /** The transpose of a matrix (rank ≤ 2), as torch's .t(). */
    t(): Tensor;
    /** Size-1 dimensions removed (all, or those in `dim`). */
    squeeze(dim?: number | readonly number[]): Tensor;
    /** A size-1 dimension inserted at `dim`. */
    unsqueeze(dim: number): Tensor;
    /** Size-1 dimensions repeated to `shape` (−1 keeps a dimension), as torch.expand. */
    expand(shape: readonly number[]): Tensor;
    /** `length` elements along `dim` from `start` (torch.narrow). */
    narrow(dim: number, start: number, length: number): Tensor;
    /** Elements `start`..`end` (exclusive) along `dim` every `step`, as Python's x[start:end:step] on that dimension. */
    slice(dim: number, start?: number, end?: number, step?: number): Tensor;
    /** The entries along `dim` at the int32 positions in the 1-D `index` (torch.index_select). */
    indexSelect(dim: number, index: Tensor): Tensor;
    /** Values picked along `dim` at the int32 positions in `index` (same rank; torch.gather). */
    gather(dim: number, index: Tensor): Tensor;
    /** A copy that autograd records (its gradient flows back to this). */
    clone(): Tensor;
    /** This tensor on `device` (itself when already there; recorded across devices). */
    to(device: DeviceSpec): Tensor;
    /** A copy as another dtype (not differentiable). */
    toDType(dtype: DType): Tensor;
    /** max(this, 0), element-wise. */
    relu(): Tensor;
    /** 1 / (1 + e^−this), element-wise. */
    sigmoid(): Tensor;
    /** The hyperbolic tangent, element-wise. */
    tanh(): Tensor;
    /** GELU, exact (default) or with the tanh approximation, as torch.nn.functional.gelu. */
    gelu(approximate?: 'none' | 'tanh'): Tensor;
    /** Softmax along `dim` (default the last). */
    softmax(dim?: number): Tensor;
    /** log(softmax) along `dim` (default the last), computed stably. */
    logSoftmax(dim?: number): Tensor;
    /** Sets every element to `value`, in place (PyTorch's fill_). */
    fill_(value: number): Tensor;
    /** Sets every element to 0, in place. */
    zero_(): Tensor;
    /** this += other, in place (not recorded; refused on a leaf that requires grad while recording). */
    add_(other: TensorLike): Tensor;
    /** this −= other, in place. */
    sub_(other: TensorLike): Tensor;
    /** this *= other, in place. */
    mul_(other: TensorLike): Tensor;
    /** this /= other, in place. */
    div_(other: TensorLike): Tensor;
  }
}

installTensorMethods(Tensor.prototype);

function installTensorMethods(proto: Tensor): void {
  const f = { ...F, ...NF, backward };
  const methods: Partial<Record<keyof Tensor, (this: Tensor, ...args: any[]) => unknown>> = {
    backward(gradient?: Tensor, options?: BackwardOptions) {
      f.backward([this], [gradient], options);
    },
    add(o: TensorLike) { return f.add(this, o); },
    sub(o: TensorLike) { return f.sub(this, o); },
    mul(o: TensorLike) { return f.mul(this, o); },
    div(o: TensorLike) { return f.div(this, o); },
    pow(o: TensorLike) { return f.pow(this, o); },
    neg() { return f.neg(this); },
    exp() { return f.exp(this); },
    log() { return f.log(this); },
    sqrt() { return f.sqrt(this); },
    abs() { return f.abs(this); },
    square() { return f.square(this); },
    sign() { return f.sign(this); },
    clamp(min?: number | null, max?: number | null) { return f.clamp(this, min, max); },
    maximum(o: TensorLike) { return f.maximum(this, o); },
    minimum(o: TensorLike) { return f.minimum(this, o); },
    eq(o: TensorLike) { return f.eq(this, o); },
    ne(o: TensorLike) { return f.ne(this, o); },
    lt(o: TensorLike) { return f.lt(this, o); },
    le(o: TensorLike) { return f.le(this, o); },
    gt(o: TensorLike) { return f.gt(this, o); },
    ge(o: TensorLike) { return f.ge(this, o); },
    sum(dim?: number | number[] | null, o?: ReduceOptions) { return f.sum(this, dim, o); },
    mean(dim?: number | number[] | null, o?: ReduceOptions) { return f.mean(this, dim, o); },
    max(dim?: number | number[] | null, o?: ReduceOptions) { return f.max(this, dim, o); },
    min(dim?: number | number[] | null, o?: ReduceOptions) { return f.min(this, dim, o); },
    argmax(dim?: number | null, o?: ReduceOptions) { return f.argmax(this, dim, o); },
    argmin(dim?: number | null, o?: ReduceOptions) { return f.argmin(this, dim, o); },
    var(dim?: number | number[] | null, o?: VarOptions) { return f.variance(this, dim, o); },
    matmul(o: Tensor) { return f.matmul(this, o); },
    reshape(shape: number[]) { return f.reshape(this, shape); },
    view(shape: number[]) { return f.reshape(this, shape); },
    flatten(s?: number, e?: number) { return f.flatten(this, s, e); },
    permute(dims: number[]) { return f.permute(this, dims); },
    transpose(a: number, b: number) { return f.transpose(this, a, b); },
    t() {
      if (this.shape.length > 2) throw new RangeError(`Expected a tensor of rank ≤ 2 for t() but received shape [${this.shape.join(', ')}]: use transpose(dim0, dim1)`);
      return this.shape.length < 2 ? this : f.transpose(this, 0, 1);
    },
    squeeze(dim?: number | number[]) { return f.squeeze(this, dim); },
    unsqueeze(dim: number) { return f.unsqueeze(this, dim); },
    expand(shape: number[]) { return f.expand(this, shape); },
    narrow(dim: number, start: number, length: number) { return f.narrow(this, dim, start, length); },
    slice(dim: number, start?: number, end?: number, step?: number) { return f.slice(this, dim, start, end, step); },
    indexSelect(dim: number, index: Tensor) { return f.indexSelect(this, dim, index); },
    gather(dim: number, index: Tensor) { return f.gather(this, dim, index); },
    clone() { return f.clone(this); },
    to(device: DeviceSpec) { return f.toDevice(this, resolveDevice(device)); },
    toDType(dtype: DType) { return f.toDType(this, dtype); },
    relu() { return f.relu(this); },
    sigmoid() { return f.sigmoid(this); },
    tanh() { return f.tanh(this); },
    gelu(approximate?: 'none' | 'tanh') { return f.gelu(this, approximate); },
    softmax(dim?: number) { return f.softmax(this, dim); },
    logSoftmax(dim?: number) { return f.logSoftmax(this, dim); },
    fill_(value: number) { return fill(this, value); },
    zero_() { return fill(this, 0); },
    add_(o: TensorLike) { return inPlace('add', this, o); },
    sub_(o: TensorLike) { return inPlace('sub', this, o); },
    mul_(o: TensorLike) { return inPlace('mul', this, o); },
    div_(o: TensorLike) { return inPlace('div', this, o); },
  };
  for (const [name, fn] of Object.entries(methods)) {
    Object.defineProperty(proto, name, { value: fn, writable: true, configurable: true, enumerable: false });
  }
}
