/**
 * Tensor memory: the storage behind tensors, a pool that reuses freed storage, and tidy() scopes
 * that free a block's intermediate tensors deterministically (after tfjs-core's engine).
 *
 * Why a pool: an autograd step allocates every output and gradient afresh. A new Float32Array is
 * zero-filled by V8 and a new GPU buffer costs a cudaMalloc; a freed one is reused instead, so a
 * training step inside tidy() allocates no new memory once warm (the pool hands back the buffers
 * the last step freed).
 *
 * Safety: a disposed storage is marked, and every tensor that shares it throws on use ("was
 * disposed"), so a tensor kept past its tidy() fails loudly instead of reading reused memory.
 * Storage adopted from the user (Tensor.from(someFloat32Array)) is never pooled.
 */
import { type Device, isCuda } from './device';
import { type CudaBuffer, native } from './native';
import { formatBytes } from './budget';

/** A tensor's element type: float32 for values, int32 for labels and indices. */
export type DType = 'float32' | 'int32';
export type HostArray = Float32Array | Int32Array;

/** The memory behind one or more tensors (views share it) and its in-place version counter. */
export class Storage {
  readonly device: Device;
  readonly dtype: DType;
  /** Elements. */
  readonly length: number;
  host: HostArray | undefined;
  cuda: CudaBuffer | undefined;
  /**
   * Incremented by every in-place write (an op's `out`, fill, copyFrom, an optimizer step):
   * autograd compares it with the value seen when a tensor was saved for backward.
   */
  version = 0;
  /**
   * Every element's value when known to be one constant (Tensor.full, until the next write): lets a
   * backward rule fold the 1 that loss.backward() starts from into a kernel's scale.
   */
  uniform: number | undefined = undefined;
  /** Whether dispose() may hand the memory to the pool (false for arrays adopted from the user). */
  readonly poolable: boolean;
  /** Never freed by a tidy() scope: parameters, buffers, workspaces, optimizer state. */
  kept = false;
  disposed = false;

  constructor(device: Device, dtype: DType, length: number, host: HostArray | undefined, cuda: CudaBuffer | undefined, poolable: boolean) {
    this.device = device;
    this.dtype = dtype;
    this.length = length;
    this.host = host;
    this.cuda = cuda;
    this.poolable = poolable;
  }

  /** Frees the memory (into the pool when allowed). Idempotent. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.cuda) countLiveCuda(this.device, -this.length * 4);
    if (this.poolable) pool.put(this);
    else this.cuda?.dispose();
    this.host = undefined;
    this.cuda = undefined;
  }
}

// Bytes of GPU memory held by live tensors, per GPU ('cuda:N') and in all.
const liveCudaBytes = new Map<Device, number>();
let liveCudaTotal = 0;

function countLiveCuda(device: Device, bytes: number): void {
  liveCudaBytes.set(device, (liveCudaBytes.get(device) ?? 0) + bytes);
  liveCudaTotal += bytes;
}

/**
 * Bytes of GPU memory held by live tensors (the pool's idle buffers not included): on one GPU
 * ('cuda:N', canonical), or on all of them.
 */
export function cudaBytesInUse(device?: Device): number {
  return device === undefined ? liveCudaTotal : (liveCudaBytes.get(device) ?? 0);
}

// ---------------------------------------------------------------------------------------------
// The pool: freed buffers by device ('cpu', 'cuda:N'), dtype and exact length, up to a byte limit
// per device (one limit for the CPU, one that each GPU has).
// ---------------------------------------------------------------------------------------------

type Memory = HostArray | CudaBuffer;

class Pool {
  private readonly free = new Map<string, Memory[]>();
  private readonly bytes = new Map<Device, number>();
  limit: PoolLimits = { cpu: 256 * 2 ** 20, cuda: 1024 * 2 ** 20 };
  hits = 0;
  misses = 0;

  take(device: Device, dtype: DType, length: number): Memory | undefined {
    const list = this.free.get(key(device, dtype, length));
    const memory = list?.pop();
    if (memory) {
      this.bytes.set(device, this.bytes.get(device)! - length * 4);
      this.hits++;
    } else {
      this.misses++;
    }
    return memory;
  }

  put(storage: Storage): void {
    const memory = storage.host ?? storage.cuda;
    if (!memory) return;
    const bytes = storage.length * 4;
    const held = this.bytes.get(storage.device) ?? 0;
    if (bytes === 0 || held + bytes > this.limit[isCuda(storage.device) ? 'cuda' : 'cpu']) {
      storage.cuda?.dispose();
      return;
    }
    const k = key(storage.device, storage.dtype, storage.length);
    let list = this.free.get(k);
    if (!list) this.free.set(k, (list = []));
    list.push(memory);
    this.bytes.set(storage.device, held + bytes);
  }

  /** Frees every idle buffer (GPU memory back to the driver). */
  clear(): void {
    for (const list of this.free.values()) for (const m of list) if (!(m instanceof Float32Array || m instanceof Int32Array)) m.dispose();
    this.free.clear();
    this.bytes.clear();
  }

  stats(): MemoryStats {
    const pooledBytes: Record<string, number> = { cpu: 0 };
    for (const [device, bytes] of this.bytes) pooledBytes[device] = bytes;
    return { pooledBytes, poolLimit: { ...this.limit }, poolHits: this.hits, poolMisses: this.misses, cudaBytesInUse: liveCudaTotal };
  }
}

function key(device: Device, dtype: DType, length: number): string {
  return `${device}/${dtype}/${length}`;
}

const pool = new Pool();

/** The most bytes the pool keeps idle: on the CPU, and on each GPU. */
export interface PoolLimits {
  cpu: number;
  cuda: number;
}

/** What memoryStats() reports: the bytes pooled and in use, per device. */
export interface MemoryStats {
  /** Bytes held idle in the pool, per device: 'cpu' always, and each GPU that pooled ('cuda:0', …). */
  pooledBytes: Record<string, number>;
  poolLimit: PoolLimits;
  /** Allocations served from the pool, and those that needed new memory, since start. */
  poolHits: number;
  poolMisses: number;
  cudaBytesInUse: number;
}

/** The pool's figures (for tests and benchmarks: a warm training step should only hit). */
export function memoryStats(): MemoryStats {
  return pool.stats();
}

/** Caps the bytes the pool keeps idle on the CPU and on each GPU (0 turns pooling off); returns the old caps. */
export function setMemoryPoolLimit(limits: Partial<PoolLimits>): PoolLimits {
  const old = { ...pool.limit };
  pool.limit = { ...pool.limit, ...limits };
  return old;
}

/** Frees the pool's idle buffers. */
export function emptyMemoryPool(): void {
  pool.clear();
}

/**
 * Host arrays of at least this many bytes get transparent huge pages (native adviseHugePages): a
 * training step streams such tensors from memory, and with 4 KiB pages every 4 KiB costs a page
 * walk. Smaller ones hold no whole 2 MiB page worth the call.
 */
const HUGE_PAGE_MIN_BYTES = 4 << 20;

/** A zeroed host array, or an Error saying how large it was (not V8's "Invalid typed array length"). */
function newHostArray(dtype: DType, length: number): HostArray {
  try {
    const array = dtype === 'float32' ? new Float32Array(length) : new Int32Array(length);
    if (array.byteLength >= HUGE_PAGE_MIN_BYTES) native().adviseHugePages(array);
    return array;
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    throw new RangeError(
      `cannot allocate a tensor of ${length.toLocaleString('en-US')} ${dtype} values (${formatBytes(length * 4)}) in host memory: ${error.message.startsWith('Invalid') ? 'more than a JavaScript typed array holds' : 'more than the memory available'}`,
    );
  }
}

/**
 * New storage of `length` elements. `zero`: filled with zeros; otherwise its contents are
 * unspecified (the caller overwrites every element). `allocCuda` makes a new GPU buffer
 * (zero-filled) when the pool has none.
 */
export function allocStorage(device: Device, dtype: DType, length: number, zero: boolean, allocCuda: () => CudaBuffer): Storage {
  const reused = pool.take(device, dtype, length);
  let storage: Storage;
  if (!isCuda(device)) {
    const host = (reused as HostArray | undefined) ?? newHostArray(dtype, length);
    if (reused && zero) host.fill(0);
    storage = new Storage(device, dtype, length, host, undefined, true);
  } else {
    const buffer = (reused as CudaBuffer | undefined) ?? allocCuda();
    countLiveCuda(device, length * 4);
    storage = new Storage(device, dtype, length, undefined, buffer, true);
    if (reused && zero) fillStorage(storage, 0);
  }
  track(storage);
  return storage;
}

/** Sets every element of `storage` to `value` (one native fill; a float32 value is rounded, an int32 one must be an int32). */
export function fillStorage(storage: Storage, value: number): void {
  const memory = storage.host ?? storage.cuda!;
  if (storage.dtype === 'float32') native().fill(memory as Float32Array, value, storage.length);
  else native().fillInt32(memory as Int32Array, value, storage.length);
}

/** Storage around an existing host array (not pooled: the caller may still hold the array). */
export function adoptHostStorage(host: HostArray): Storage {
  const storage = new Storage('cpu', host instanceof Int32Array ? 'int32' : 'float32', host.length, host, undefined, false);
  track(storage);
  return storage;
}

// ---------------------------------------------------------------------------------------------
// tidy() scopes
// ---------------------------------------------------------------------------------------------

/** What tidy() needs to know of a tensor (lib/tensor.ts implements it). */
export interface Tracked {
  readonly storage: Storage;
  /** The autograd node that computed the tensor (lib/autograd/node.ts), null for leaves. */
  readonly gradFn: GraphNode | null;
  /** The tensors a tensor's autograd graph still refers to (its node's inputs and saved tensors). */
  graphReferences(): Iterable<Tracked>;
}

/** What memory needs of an autograd node (lib/autograd/node.ts implements it). */
export interface GraphNode {
  readonly name: string;
  /** The tensors the node keeps alive: its inputs and the tensors its backward saved. */
  references(): Iterable<Tracked>;
}

const scopes: Storage[][] = [];

function track(storage: Storage): void {
  scopes.at(-1)?.push(storage);
}

/** Marks a tensor's storage as long-lived: no tidy() scope frees it. Returns the tensor. */
export function keep<T extends Tracked>(tensor: T): T {
  tensor.storage.kept = true;
  return tensor;
}

/**
 * Runs `fn` and frees the memory of every tensor created inside it, except the tensors in its
 * result (a tensor, or arrays and plain objects holding tensors), what their autograd graphs still
 * need, and storage marked with keep() (parameters, gradients, buffers, optimizer state). A freed
 * tensor throws if used afterwards. Scopes nest: what survives an inner scope belongs to the outer
 * one. `fn` must be synchronous (an async function's later part would run outside the scope).
 */
export function tidy<T>(fn: () => T): T {
  const created: Storage[] = [];
  scopes.push(created);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    release(created, new Set());
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) throw new TypeError('Expected a synchronous function for tidy() but received one that returned a Promise');
  const survivors = new Set<Storage>();
  if (typeof result === 'object' && result !== null) collectReachable(result, survivors, new Set());
  release(created, survivors);
  const outer = scopes.at(-1);
  if (outer) for (const s of created) if (!s.disposed) outer.push(s);
  return result;
}

/**
 * Frees what the scope created, last first: the pool hands back the last buffer freed first, so
 * the same code run again (a training step) gets each tensor the very buffer it had the last time,
 * still warm in the cache, rather than another of its size.
 */
function release(created: Storage[], survivors: Set<Storage>): void {
  for (let i = created.length - 1; i >= 0; i--) {
    const s = created[i];
    if (!s.kept && !survivors.has(s)) s.dispose();
  }
}

function collectReachable(value: unknown, out: Set<Storage>, seen: Set<unknown>): void {
  if (value === null || typeof value !== 'object' || seen.has(value)) return;
  seen.add(value);
  if (isTracked(value)) {
    out.add(value.storage);
    const grad = (value as { grad?: unknown }).grad;
    if (grad) collectReachable(grad, out, seen);
    for (const t of value.graphReferences()) collectReachable(t, out, seen);
    return;
  }
  if (Array.isArray(value)) {
    for (const v of value) collectReachable(v, out, seen);
    return;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto === Object.prototype || proto === null) for (const v of Object.values(value)) collectReachable(v, out, seen);
}

function isTracked(value: object): value is Tracked {
  return (value as Tracked).storage instanceof Storage && typeof (value as Tracked).graphReferences === 'function';
}
