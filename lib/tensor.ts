/**
 * Tensor: a shape, a dtype, a device and the storage behind them.
 *
 * float32 (activations, parameters) or int32 (labels, argmax indices); contiguous, row-major
 * (NCHW for images). On the CPU the storage is a typed array used in place by the kernels; on CUDA
 * it is a CudaBuffer in GPU memory. Data moves between devices only through to(), copyFrom() and
 * toArray().
 */
import { cudaDevice, resolveDevice, type Device, type DeviceSpec } from './device';
import type { CudaBuffer, NativeBuffer } from './native';
import { expectShape } from './validate';

export type DType = 'float32' | 'int32';
type HostArray = Float32Array | Int32Array;

export interface TensorOptions {
  device?: DeviceSpec;
  dtype?: DType;
}

let liveCudaBytes = 0;

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  readonly device: Device;
  readonly size: number;
  private host: HostArray | undefined;
  private cuda: CudaBuffer | undefined;

  private constructor(shape: readonly number[], dtype: DType, device: Device, host?: HostArray, cuda?: CudaBuffer) {
    this.shape = Object.freeze([...shape]);
    this.dtype = dtype;
    this.device = device;
    this.size = shape.reduce((a, b) => a * b, 1);
    this.host = host;
    this.cuda = cuda;
  }

  /** A tensor of zeros. */
  static zeros(shape: readonly number[], options: TensorOptions = {}): Tensor {
    expectShape(shape, 'shape');
    const dtype = options.dtype ?? 'float32';
    const device = resolveDevice(options.device ?? 'cpu');
    const size = shape.reduce((a, b) => a * b, 1);
    if (device === 'cpu') {
      return new Tensor(shape, dtype, device, dtype === 'float32' ? new Float32Array(size) : new Int32Array(size));
    }
    const buffer = cudaDevice().alloc(size, dtype);
    liveCudaBytes += size * 4;
    return new Tensor(shape, dtype, device, undefined, buffer);
  }

  /**
   * A tensor holding `data` (copied into a new buffer unless it is already a Float32Array or
   * Int32Array of the right length on the CPU, which is then used without a copy).
   */
  static from(data: ArrayLike<number> | HostArray, shape?: readonly number[], options: TensorOptions = {}): Tensor {
    const dims = shape ?? [data.length];
    expectShape(dims, 'shape');
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== data.length) {
      throw new RangeError(`Expected ${size} values for data (shape [${dims.join(', ')}]) but received ${data.length}`);
    }
    const dtype = options.dtype ?? (data instanceof Int32Array ? 'int32' : 'float32');
    const device = resolveDevice(options.device ?? 'cpu');
    const host: HostArray =
      dtype === 'float32'
        ? data instanceof Float32Array
          ? data
          : Float32Array.from(data as ArrayLike<number>)
        : data instanceof Int32Array
          ? data
          : Int32Array.from(data as ArrayLike<number>);
    const onCpu = new Tensor(dims, dtype, 'cpu', host);
    return device === 'cpu' ? onCpu : onCpu.to(device);
  }

  /** The storage to hand to a native kernel. */
  get buffer(): NativeBuffer {
    this.assertLive();
    return (this.host as Float32Array | undefined) ?? this.cuda!;
  }

  /** The CPU storage itself (no copy). Throws for CUDA tensors: use toArray() there. */
  get data(): HostArray {
    if (this.device !== 'cpu') throw new Error('Tensor.data is only for CPU tensors: use toArray() to copy from the GPU');
    return this.host!;
  }

  /** A host copy of the values (for a CPU tensor: a copy too, so it is safe to keep). */
  toArray(): HostArray {
    this.assertLive();
    if (this.host) return this.host.slice();
    const out = this.dtype === 'float32' ? new Float32Array(this.size) : new Int32Array(this.size);
    this.cuda!.download(out);
    return out;
  }

  /** This tensor on `device` (itself when already there). */
  to(device: DeviceSpec): Tensor {
    const target = resolveDevice(device);
    if (target === this.device) return this;
    this.assertLive();
    if (target === 'cpu') return new Tensor(this.shape, this.dtype, 'cpu', this.toArray());
    const out = Tensor.zeros(this.shape, { device: target, dtype: this.dtype });
    out.cuda!.upload(this.host!);
    return out;
  }

  /** Copies `source` (same size and dtype, any device) into this tensor. */
  copyFrom(source: Tensor | HostArray): void {
    this.assertLive();
    const size = source instanceof Tensor ? source.size : source.length;
    if (size !== this.size) throw new RangeError(`Expected ${this.size} values for source but received ${size}`);
    const hostSource = source instanceof Tensor ? (source.device === 'cpu' ? source.data : source.toArray()) : source;
    if (this.host) this.host.set(hostSource);
    else this.cuda!.upload(hostSource);
  }

  /** A tensor with the same storage and another shape of the same size (like torch's view). */
  reshape(shape: readonly number[]): Tensor {
    const dims = [...shape];
    const inferred = dims.indexOf(-1);
    if (inferred >= 0) {
      const known = dims.reduce((a, b, i) => (i === inferred ? a : a * b), 1);
      dims[inferred] = known === 0 ? 0 : this.size / known;
    }
    expectShape(dims, 'shape');
    const size = dims.reduce((a, b) => a * b, 1);
    if (size !== this.size) {
      throw new RangeError(`Expected a shape of ${this.size} elements for reshape but received [${shape.join(', ')}]`);
    }
    return new Tensor(dims, this.dtype, this.device, this.host, this.cuda);
  }

  /** Frees GPU memory now (CPU tensors are left to the garbage collector). Views share storage. */
  dispose(): void {
    if (this.cuda && !this.cuda.disposed) {
      liveCudaBytes -= this.cuda.length * 4;
      this.cuda.dispose();
    }
  }

  get disposed(): boolean {
    return this.cuda?.disposed ?? false;
  }

  /** The single value of a one-element tensor. */
  item(): number {
    if (this.size !== 1) throw new RangeError(`Expected a one-element tensor for item() but received shape [${this.shape.join(', ')}]`);
    return this.toArray()[0];
  }

  toString(): string {
    return `Tensor(shape=[${this.shape.join(', ')}], dtype=${this.dtype}, device=${this.device})`;
  }

  private assertLive(): void {
    if (this.cuda?.disposed) throw new Error(`${this} was disposed`);
  }
}

/** Bytes of GPU memory held by live tensors created through this module. */
export function cudaBytesInUse(): number {
  return liveCudaBytes;
}

