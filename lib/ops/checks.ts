/** Tensor argument checks shared by the functional ops (shapes are inferred and checked here, so
 * native code only receives integers it can trust). */
import type { Device } from '../device';
import { type DType, Tensor } from '../tensor';
import { article, fail } from '../validate';

/** An optional options object: {} when undefined, else an object (not an array). */
export function expectOptions(options: unknown): Record<string, unknown> {
  if (options === undefined) return {};
  if (typeof options !== 'object' || options === null || Array.isArray(options)) fail('an options object', 'options', options);
  return options as Record<string, unknown>;
}

export function expectTensor(
  value: unknown,
  name: string,
  want: { rank?: number; dtype?: DType; device?: Device; shape?: readonly number[] } = {},
): Tensor {
  if (!(value instanceof Tensor)) fail('a Tensor', name, value);
  const t = value as Tensor;
  if (want.rank !== undefined && t.shape.length !== want.rank) {
    throw new RangeError(`Expected a tensor of rank ${want.rank} for ${name} but received shape [${t.shape.join(', ')}]`);
  }
  const dtype = want.dtype ?? 'float32';
  if (t.dtype !== dtype) throw new TypeError(`Expected ${article(dtype)} ${dtype} tensor for ${name} but received ${article(t.dtype)} ${t.dtype} tensor`);
  if (want.device && t.device !== want.device) {
    throw new TypeError(`Expected a tensor on ${want.device} for ${name} but received a tensor on ${t.device}`);
  }
  if (want.shape && !sameDims(want.shape, t.shape)) {
    throw new RangeError(`Expected shape [${want.shape.join(', ')}] for ${name} but received [${t.shape.join(', ')}]`);
  }
  if (t.disposed) throw new Error(`Expected a live tensor for ${name} but it was disposed (by dispose() or at the end of a tidy() scope)`);
  return t;
}

/** Whether two shapes are equal (a loop: hot paths call it per op). */
function sameDims(a: readonly number[], b: readonly number[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * Whether `value` would pass expectTensor with this dtype, device and (when given) shape, without
 * building a message: hot paths (a training step's optimizer, zeroGrad, batch gather) test with it
 * first and call expectTensor, which names the argument, only when it fails.
 */
export function tensorFits(value: unknown, dtype: DType, device: Device | undefined, shape?: readonly number[]): boolean {
  if (!(value instanceof Tensor) || value.dtype !== dtype || value.device !== device || value.disposed) return false;
  return shape === undefined || sameDims(value.shape, shape);
}

/**
 * `out` when given (checked for shape and device; its version is bumped, as the kernel will write
 * it), otherwise a new tensor whose memory may be reused: the kernels write every element of their
 * outputs (they must: callers pass reused buffers), so nothing is zero-filled first.
 */
export function output(out: Tensor | undefined, name: string, shape: readonly number[], device: Device, dtype: DType = 'float32'): Tensor {
  if (out === undefined) return Tensor.empty(shape, { device, dtype });
  const t = expectTensor(out, name, { shape, device, dtype });
  t.markWritten();
  return t;
}

/** A finite number (hyperparameters such as a slope or eps). */
export function expectFinite(value: unknown, name: string, min = -Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value)) fail('a number', name, value);
  if (!Number.isFinite(value) || value < min) {
    fail(min === -Infinity ? 'a finite number' : `a finite number ≥ ${min}`, name, value, RangeError);
  }
  return value;
}

