/**
 * Collectives on tensors, after torch.distributed's all_reduce / broadcast / all_gather / barrier:
 * every rank calls the same collectives in the same order, with tensors of the same shapes. CPU
 * tensors go through MPI, CUDA tensors through NCCL (on napinet's stream); both wait for the result
 * with a timeout (init's timeoutMs, or the call's), so a collective that not every rank reaches
 * throws instead of hanging. In a world of one every collective is the identity.
 *
 * Rounding: a sum over two ranks is a + b on both, whatever the algorithm (float addition is
 * commutative). Over more ranks the association (((a + b) + c) + d or (a + b) + (c + d)) is the
 * library's choice for the message size and rank count: the same on every rank and from run to
 * run with the same world size, but not the order of a one-process sum. 'mean' divides the sum by
 * the world size (exact when it is a power of two); NCCL's ncclAvg may round differently.
 */
import { type CudaDevice, type Device, isCuda } from '../device';
import { type CudaBuffer, type NativeBuffer, native } from '../native';
import { Tensor } from '../tensor';
import { expectInt, expectOneOf, fail } from '../validate';
import { ensureNcclCommunicator, hasLocalNcclCommunicator } from './nccl';
import { currentWorld } from './world';

/** How a collective combines the ranks' values: their sum, or their mean. */
export type ReduceOp = 'sum' | 'mean';

/** Options every collective takes: its time limit. */
export interface CollectiveOptions {
  /** Limit in milliseconds (default: init's timeoutMs, 60 000 unless set there). */
  timeoutMs?: number;
}

/** Options of allReduce: the time limit and the reduction. */
export interface AllReduceOptions extends CollectiveOptions {
  /** 'sum' (default) or 'mean' (the sum divided by the world size). */
  op?: ReduceOp;
}

/** The timeout of a call: its own option, else the world's. */
export function timeoutOf(options: CollectiveOptions, worldTimeoutMs: number, name = 'options.timeoutMs'): number {
  if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
  return options.timeoutMs === undefined ? worldTimeoutMs : expectInt(options.timeoutMs, name, 1, 2 ** 31 - 1);
}

/** A live tensor (float32 unless `anyDtype`), or a TypeError naming the argument. */
export function expectTensor(value: unknown, name: string, anyDtype = false): Tensor {
  if (!(value instanceof Tensor)) fail('a Tensor', name, value);
  if (value.disposed) throw new TypeError(`Expected a live tensor for ${name} but received a disposed tensor`);
  if (!anyDtype && value.dtype !== 'float32') throw new TypeError(`Expected a float32 tensor for ${name} but received an ${value.dtype} tensor`);
  return value;
}

/** Whether collectives on `device` do anything (false: the identity of a world of one). */
export function communicates(device: Device, backend: 'mpi' | 'none'): boolean {
  return backend === 'mpi' || (isCuda(device) && hasLocalNcclCommunicator());
}

/**
 * In place over the ranks: each buffer summed (mean: then divided by the world size). All buffers
 * on `device`; started together, waited for together.
 */
export function allReduceBuffers(device: Device, buffers: NativeBuffer[], mean: boolean, timeoutMs: number): void {
  const { info } = currentWorld('allReduce()');
  if (buffers.length === 0 || !communicates(device, info.backend)) return;
  if (device === 'cpu') {
    native().mpiAllReduce(buffers as Float32Array[], mean, timeoutMs);
  } else {
    ensureNcclCommunicator(device, timeoutMs);
    native().ncclAllReduce!(buffers as CudaBuffer[], mean, timeoutMs);
  }
}

/** In place: each buffer's bytes (any dtype) from rank `root`. */
export function broadcastBuffers(device: Device, buffers: (NativeBuffer | Int32Array)[], root: number, timeoutMs: number): void {
  const { info } = currentWorld('broadcast()');
  if (buffers.length === 0 || !communicates(device, info.backend)) return;
  if (device === 'cpu') {
    native().mpiBroadcast(buffers as (Float32Array | Int32Array)[], root, timeoutMs);
  } else {
    ensureNcclCommunicator(device, timeoutMs);
    native().ncclBroadcast!(buffers as CudaBuffer[], root, timeoutMs);
  }
}

/**
 * Sums (op 'sum', default) or averages (op 'mean') a float32 tensor over all ranks, in place, and
 * returns it. Every rank ends with the same values.
 */
export function allReduce(tensor: Tensor, options: AllReduceOptions = {}): Tensor {
  const world = currentWorld('allReduce()');
  const x = expectTensor(tensor, 'tensor');
  const timeoutMs = timeoutOf(options, world.timeoutMs);
  const op = options.op === undefined ? 'sum' : expectOneOf(options.op, 'options.op', ['sum', 'mean'] as const);
  allReduceBuffers(x.device, [x.buffer], op === 'mean', timeoutMs);
  return x;
}

/** Copies rank `root`'s tensor (default 0) into the tensor of every other rank, in place; any dtype. */
export function broadcast(tensor: Tensor, root = 0, options: CollectiveOptions = {}): Tensor {
  const world = currentWorld('broadcast()');
  const x = expectTensor(tensor, 'tensor', true);
  expectInt(root, 'root', 0, world.info.worldSize - 1);
  const timeoutMs = timeoutOf(options, world.timeoutMs);
  broadcastBuffers(x.device, [x.buffer as NativeBuffer | Int32Array], root, timeoutMs);
  return x;
}

/**
 * Every rank's float32 tensor, stacked: a new tensor of shape [worldSize, ...tensor.shape] on the
 * tensor's device whose row r is rank r's tensor (torch's all_gather_into_tensor, stacked).
 */
export function allGather(tensor: Tensor, options: CollectiveOptions = {}): Tensor {
  const world = currentWorld('allGather()');
  const x = expectTensor(tensor, 'tensor');
  const timeoutMs = timeoutOf(options, world.timeoutMs);
  const size = world.info.worldSize;
  const out = Tensor.zeros([size, ...x.shape], { device: x.device });
  if (!communicates(x.device, world.info.backend)) {
    out.copyFrom(x);
  } else if (x.device === 'cpu') {
    native().mpiAllGather(out.data as Float32Array, x.data as Float32Array, timeoutMs);
  } else {
    ensureNcclCommunicator(x.device as CudaDevice, timeoutMs);
    native().ncclAllGather!(out.buffer as CudaBuffer, x.buffer as CudaBuffer, size, timeoutMs);
  }
  return out;
}

/**
 * Returns once every rank has called barrier() (a host-side barrier: GPU work queued before it may
 * still be running).
 */
export function barrier(options: CollectiveOptions = {}): void {
  const world = currentWorld('barrier()');
  const timeoutMs = timeoutOf(options, world.timeoutMs);
  if (world.info.backend === 'mpi') native().mpiBarrier(timeoutMs);
}

/**
 * Checks that every rank passes the same number of tensors and values to a collective over a list
 * (a mismatch would otherwise surface as a timeout or garbage): one all-gather of two numbers.
 */
export function expectSameLayoutOnEveryRank(what: string, tensors: number, values: number, timeoutMs: number): void {
  const { info } = currentWorld(what);
  if (info.backend !== 'mpi' || info.worldSize === 1) return;
  // float32 holds integers exactly up to 2^24: the value count travels in two parts.
  const split = 2 ** 24;
  const mine = new Float32Array([tensors, Math.floor(values / split), values % split]);
  const all = new Float32Array(3 * info.worldSize);
  native().mpiAllGather(all, mine, timeoutMs);
  for (let r = 0; r < info.worldSize; r++) {
    const [theirTensors, high, low] = all.subarray(3 * r, 3 * r + 3);
    if (theirTensors !== tensors || high * split + low !== values) {
      throw new Error(
        `napinet.distributed.${what}: rank ${info.rank} has ${tensors} tensors (${values} values) but rank ${r} has ` +
          `${theirTensors} (${high * split + low} values): every rank must pass the same tensors in the same order`,
      );
    }
  }
}
