/**
 * Tensor: a shape, a dtype, a device, the storage behind them, and what autograd records.
 *
 * float32 (activations, parameters) or int32 (labels, indices); contiguous, row-major (NCHW for
 * images). On the CPU the storage is a typed array used in place by the kernels; on a GPU it is a
 * CudaBuffer in that GPU's memory. `device` is 'cpu' or 'cuda:N' (lib/device.ts: 'cuda' is stored
 * as 'cuda:0'). Data moves between devices only through to(), copyFrom() and toArray(); an op
 * whose tensors are on different devices is an error naming both.
 *
 * Autograd (lib/autograd): a tensor with requiresGrad is a leaf whose gradient backward()
 * accumulates into .grad; a tensor computed from such tensors holds gradFn, the node that computed
 * it. The arithmetic methods (add, matmul, sum, …) are installed by lib/autograd/methods.ts.
 */
import { type CudaDevice, cudaAlloc, resolveDevice, type Device, type DeviceSpec } from './device';
import { adoptHostStorage, allocStorage, type DType, fillStorage, type GraphNode, type HostArray, keep, Storage, type Tracked } from './memory';
import type { NativeBuffer } from './native';
import { describe, expectShape, fail } from './validate';

export type { DType, HostArray } from './memory';
export { cudaBytesInUse } from './memory';

/** Options of tensor() and the creation functions: device (default the CPU), dtype (default float32) and requiresGrad. */
export interface TensorOptions {
  device?: DeviceSpec;
  dtype?: DType;
  /** Record operations on this tensor so backward() can compute its gradient (float32 only). */
  requiresGrad?: boolean;
}

/** Nested arrays of numbers ([[1, 2], [3, 4]]), as tensor() takes them. */
export type NestedArray = number | readonly NestedArray[];

/** An n-dimensional array of float32 (or int32) values, contiguous, on the CPU or a CUDA GPU, as torch.Tensor: create one with tensor(), zeros(), randn(), …; PyTorch's maths are its methods (x.add(y), x.matmul(w), x.sum(1)), recorded for backward() when an input requires grad. GPU memory is freed by dispose() or tidy(). */
export class Tensor implements Tracked {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly size: number;
  /** @internal The memory, shared with views (reshape). */
  storage: Storage;
  /**
   * The gradient accumulated by backward() (a leaf that requires grad, or a tensor that called
   * retainGrad()); null until the first backward.
   */
  grad: Tensor | null = null;
  /** The autograd node that computed this tensor (null for leaves and for untracked results). */
  gradFn: GraphNode | null = null;
  /** @internal Which output of gradFn this tensor is. */
  outputIndex = 0;
  /** @internal Whether backward() stores this non-leaf tensor's gradient in .grad. */
  retainsGrad = false;
  private requires = false;

  /** @internal Tensors are made by the static factories, tensor(), ops, or Parameter/Buffer. */
  constructor(shape: readonly number[], storage: Storage) {
    this.shape = Object.freeze([...shape]);
    this.dtype = storage.dtype;
    this.storage = storage;
    this.size = shapeSize(shape);
  }

  /** 'cpu' or 'cuda:N' (canonical: a tensor made with device 'cuda' reports 'cuda:0'). */
  get device(): Device {
    return this.storage.device;
  }

  /** Whether autograd records operations on this tensor (PyTorch's requires_grad). */
  get requiresGrad(): boolean {
    return this.requires || this.gradFn !== null;
  }

  /** Only a leaf (a tensor not computed by a recorded op) can be switched; float32 only. */
  set requiresGrad(value: boolean) {
    if (typeof value !== 'boolean') fail('a boolean', 'requiresGrad', value);
    if (this.gradFn !== null) {
      throw new Error(`Expected a leaf tensor for requiresGrad but received ${this}, which was computed by ${this.gradFn.name}: use detach() to get a leaf`);
    }
    if (value && this.dtype !== 'float32') throw new TypeError(`Expected a float32 tensor for requiresGrad but received an ${this.dtype} tensor`);
    this.requires = value;
  }

  /** Sets requiresGrad and returns the tensor (PyTorch's requires_grad_()). */
  requiresGrad_(value = true): this {
    this.requiresGrad = value;
    return this;
  }

  /** A leaf: not computed by a recorded op (PyTorch's is_leaf). */
  get isLeaf(): boolean {
    return this.gradFn === null;
  }

  /** Keep this non-leaf tensor's gradient in .grad during backward() (PyTorch's retain_grad()). */
  retainGrad(): this {
    if (!this.requiresGrad) throw new Error(`Expected a tensor that requires grad for retainGrad() but received ${this}`);
    this.retainsGrad = true;
    return this;
  }

  // -------------------------------------------------------------------------------------------
  // Construction
  // -------------------------------------------------------------------------------------------

  /** A tensor of zeros. */
  static zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return Tensor.alloc(shape, options, true);
  }

  /**
   * A tensor whose values are unspecified (memory reused from freed tensors): for outputs a
   * kernel overwrites completely.
   */
  static empty(shape: readonly number[], options: TensorOptions = {}): Tensor {
    return Tensor.alloc(shape, options, false);
  }

  /** A tensor with every element `value`. */
  static full(shape: readonly number[], value: number, options: TensorOptions = {}): Tensor {
    const t = Tensor.alloc(shape, { ...options, requiresGrad: false }, value === 0);
    if (typeof value !== 'number') fail('a number', 'value', value);
    if (value !== 0) fillStorage(t.storage, value);
    t.storage.uniform = value;
    if (options.requiresGrad) t.requiresGrad = true;
    return t;
  }

  private static alloc(shape: readonly number[], options: TensorOptions, zero: boolean): Tensor {
    expectShape(shape, 'shape');
    const dtype = expectDType(options.dtype ?? 'float32');
    const device = resolveDevice(options.device ?? 'cpu');
    const size = shapeSize(shape);
    const storage = allocStorage(device, dtype, size, zero, () => cudaAlloc(device as CudaDevice, size, dtype));
    const t = new Tensor(shape, storage);
    if (options.requiresGrad) t.requiresGrad = true;
    return t;
  }

  /**
   * A tensor holding `data`: nested arrays of numbers (the shape inferred, or checked against
   * `shape`), a flat array or typed array with `shape` (default: 1-D), or a number (a 0-d tensor).
   * A Float32Array / Int32Array of the right length on the CPU is used without a copy. Ragged or
   * non-numeric data is an error naming the position.
   */
  static from(data: NestedArray | ArrayLike<number> | HostArray, shape?: readonly number[], options: TensorOptions = {}): Tensor {
    const { values, inferred } = flattenData(data);
    const dims = shape ?? inferred;
    expectShape(dims, 'shape');
    const size = shapeSize(dims);
    if (size !== values.length) {
      throw new RangeError(`Expected ${size} values for data (shape [${dims.join(', ')}]) but received ${values.length}`);
    }
    const dtype = expectDType(options.dtype ?? (values instanceof Int32Array ? 'int32' : 'float32'));
    const device = resolveDevice(options.device ?? 'cpu');
    let host: HostArray;
    if (dtype === 'float32') host = values instanceof Float32Array ? values : Float32Array.from(values as ArrayLike<number>);
    else host = values instanceof Int32Array ? values : toInt32(values);
    let t = new Tensor(dims, adoptHostStorage(host));
    if (device !== 'cpu') t = t.copyToDevice(device);
    if (options.requiresGrad) t.requiresGrad = true;
    return t;
  }

  // -------------------------------------------------------------------------------------------
  // Storage access
  // -------------------------------------------------------------------------------------------

  /** The storage to hand to a native kernel. */
  get buffer(): NativeBuffer {
    const s = this.live();
    return (s.host as Float32Array | undefined) ?? s.cuda!;
  }

  /** The CPU storage itself (no copy; valid until the tensor is disposed). CUDA: use toArray(). */
  get data(): HostArray {
    if (this.device !== 'cpu') throw new Error('Tensor.data is only for CPU tensors: use toArray() to copy from the GPU');
    return this.live().host!;
  }

  /** A host copy of the values (for a CPU tensor: a copy too, so it is safe to keep). */
  toArray(): HostArray {
    const s = this.live();
    if (s.host) return s.host.slice();
    const out = this.dtype === 'float32' ? new Float32Array(this.size) : new Int32Array(this.size);
    s.cuda!.download(out);
    return out;
  }

  /** The values as nested arrays of numbers (a number for a 0-d tensor), like torch's tolist(). */
  toList(): NestedArray {
    const flat = Array.from(this.toArray());
    if (this.shape.length === 0) return flat[0];
    const build = (dim: number, offset: number): NestedArray[] => {
      const stride = shapeSize(this.shape.slice(dim + 1));
      return Array.from({ length: this.shape[dim] }, (_, i) =>
        dim === this.shape.length - 1 ? flat[offset + i] : build(dim + 1, offset + i * stride),
      );
    };
    return build(0, 0);
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`Expected a one-element tensor for item() but received shape [${this.shape.join(', ')}]`);
    return this.toArray()[0];
  }

  /**
   * @internal A copy on `device`, canonical (no autograd; Tensor.to() records). From one GPU to
   * another the values pass through host memory (the addon has no peer-to-peer copy).
   */
  copyToDevice(device: Device): Tensor {
    const s = this.live();
    const out = Tensor.empty(this.shape, { device, dtype: this.dtype });
    const target = out.storage;
    if (s.host && target.host) target.host.set(s.host);
    else if (s.host) target.cuda!.upload(s.host);
    else if (target.host) s.cuda!.download(target.host);
    else target.cuda!.upload(this.toArray());
    return out;
  }

  /** @internal A tensor sharing this one's storage with another shape of the same size (no autograd). */
  viewAs(shape: readonly number[]): Tensor {
    return new Tensor(shape, this.live());
  }

  /**
   * Copies `source` (same size and dtype, any device) into this tensor, in place. Not recorded by
   * autograd: it bumps the version, so a graph that saved this tensor refuses to backward through
   * the change (Module.loadStateDict loads parameters this way).
   */
  copyFrom(source: Tensor | HostArray | ArrayLike<number>): this {
    this.live();
    const size = source instanceof Tensor ? source.size : source.length;
    if (size !== this.size) throw new RangeError(`Expected ${this.size} values for source but received ${size}`);
    let host: HostArray;
    if (source instanceof Tensor) host = source.device === 'cpu' ? source.data : source.toArray();
    else if (source instanceof Float32Array || source instanceof Int32Array) host = source;
    else host = this.dtype === 'float32' ? Float32Array.from(source) : toInt32(source);
    const s = this.storage;
    if (s.host) s.host.set(host);
    else s.cuda!.upload(host);
    this.markWritten();
    return this;
  }

  /** @internal Records an in-place write (the version counter autograd checks). */
  markWritten(): void {
    this.storage.version++;
    this.storage.uniform = undefined;
  }

  /** @internal Every element's value when known to be one constant (see Storage.uniform). */
  get uniformValue(): number | undefined {
    return this.storage.uniform;
  }

  /** @internal The in-place version counter (shared with views). */
  get version(): number {
    return this.storage.version;
  }

  /** A tensor sharing this one's memory, cut from the autograd graph (requiresGrad false). */
  detach(): Tensor {
    return new Tensor(this.shape, this.live());
  }

  /** Marks this tensor's memory as long-lived: no tidy() scope frees it. */
  keep(): this {
    return keep(this);
  }

  /** @internal For tidy(): the tensors this one's graph still refers to. */
  graphReferences(): Iterable<Tracked> {
    return this.gradFn?.references() ?? [];
  }

  /**
   * Frees the memory now (into the pool, reused by later tensors). Views share memory: all of
   * them are disposed. Using a disposed tensor throws.
   */
  dispose(): void {
    this.storage.dispose();
  }

  get disposed(): boolean {
    return this.storage.disposed;
  }

  toString(): string {
    const grad = this.gradFn ? `, gradFn=${this.gradFn.name}` : this.requires ? ', requiresGrad=true' : '';
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device}${grad})`;
  }

  /**
   * Moves this tensor's values to `device` by giving it new storage there (Module.to moves
   * parameters and buffers in place so that references to them stay valid). Views of the old
   * storage are disposed with it.
   */
  protected replaceStorage(device: Device): void {
    const moved = this.copyToDevice(device).storage;
    moved.kept = this.storage.kept;
    this.storage.dispose();
    this.storage = moved;
  }

  /** The storage, after checking that it is still alive. */
  protected live(): Storage {
    if (this.storage.disposed) throw new Error(`${this} was disposed (by dispose() or at the end of a tidy() scope)`);
    return this.storage;
  }
}

export function shapeSize(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

function expectDType(value: unknown): DType {
  if (value !== 'float32' && value !== 'int32') fail("'float32' or 'int32'", 'dtype', value);
  return value;
}

function toInt32(values: ArrayLike<number>): Int32Array {
  const out = new Int32Array(values.length);
  for (let i = 0; i < values.length; i++) {
    const v = values[i];
    if (!Number.isInteger(v) || v < -(2 ** 31) || v >= 2 ** 31) fail('int32 values (integers)', `data[${i}]`, v, RangeError);
    out[i] = v;
  }
  return out;
}

/** Flattens nested arrays (checking that they are rectangular and numeric) and infers the shape. */
function flattenData(data: unknown): { values: ArrayLike<number>; inferred: number[] } {
  if (typeof data === 'number') return { values: [data], inferred: [] };
  if (ArrayBuffer.isView(data) && !(data instanceof DataView)) {
    if (data instanceof Float32Array || data instanceof Int32Array) return { values: data, inferred: [data.length] };
    return { values: Array.from(data as unknown as ArrayLike<number>, Number), inferred: [(data as unknown as ArrayLike<number>).length] };
  }
  if (!Array.isArray(data)) fail('a number, an array of numbers, nested arrays or a typed array', 'data', data);
  const shape: number[] = [];
  for (let level: unknown = data; Array.isArray(level); level = level[0]) {
    shape.push(level.length);
    if (level.length === 0) break;
  }
  const values: number[] = [];
  const walk = (value: unknown, dim: number, path: string): void => {
    if (dim === shape.length) {
      if (typeof value !== 'number') fail('a number', `data${path}`, value);
      values.push(value);
      return;
    }
    if (!Array.isArray(value)) fail(`an array of length ${shape[dim]} (the data is ragged)`, `data${path}`, value);
    if (value.length !== shape[dim]) {
      throw new RangeError(`Expected an array of length ${shape[dim]} for data${path} but received ${describe(value)} of length ${value.length} (the data is ragged)`);
    }
    value.forEach((v, i) => walk(v, dim + 1, `${path}[${i}]`));
  };
  walk(data, 0, '');
  return { values, inferred: shape };
}
