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
    add(other: TensorLike): Tensor;
    sub(other: TensorLike): Tensor;
    mul(other: TensorLike): Tensor;
    div(other: TensorLike): Tensor;
    pow(exponent: TensorLike): Tensor;
    neg(): Tensor;
    exp(): Tensor;
    log(): Tensor;
    sqrt(): Tensor;
    abs(): Tensor;
    square(): Tensor;
    sign(): Tensor;
    clamp(min?: number | null, max?: number | null): Tensor;
    maximum(other: TensorLike): Tensor;
    minimum(other: TensorLike): Tensor;
    eq(other: TensorLike): Tensor;
    ne(other: TensorLike): Tensor;
    lt(other: TensorLike): Tensor;
    le(other: TensorLike): Tensor;
    gt(other: TensorLike): Tensor;
    ge(other: TensorLike): Tensor;
    sum(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    mean(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    max(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    min(dim?: number | readonly number[] | null, options?: ReduceOptions): Tensor;
    argmax(dim?: number | null, options?: ReduceOptions): Tensor;
    argmin(dim?: number | null, options?: ReduceOptions): Tensor;
    var(dim?: number | readonly number[] | null, options?: VarOptions): Tensor;
    matmul(other: Tensor): Tensor;
    reshape(shape: readonly number[]): Tensor;
    /** The same as reshape (napinet tensors are contiguous, so every reshape is a view). */
    view(shape: readonly number[]): Tensor;
    flatten(startDim?: number, endDim?: number): Tensor;
    permute(dims: readonly number[]): Tensor;
    transpose(dim0: number, dim1: number): Tensor;
    /** The transpose of a matrix (rank ≤ 2), as torch's .t(). */
    t(): Tensor;
    squeeze(dim?: number | readonly number[]): Tensor;
    unsqueeze(dim: number): Tensor;
    expand(shape: readonly number[]): Tensor;
    narrow(dim: number, start: number, length: number): Tensor;
    slice(dim: number, start?: number, end?: number, step?: number): Tensor;
    indexSelect(dim: number, index: Tensor): Tensor;
    gather(dim: number, index: Tensor): Tensor;
    clone(): Tensor;
    /** This tensor on `device` (itself when already there; recorded across devices). */
    to(device: DeviceSpec): Tensor;
    /** A copy as another dtype (not differentiable). */
    toDType(dtype: DType): Tensor;
    relu(): Tensor;
    sigmoid(): Tensor;
    tanh(): Tensor;
    gelu(approximate?: 'none' | 'tanh'): Tensor;
    softmax(dim?: number): Tensor;
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
