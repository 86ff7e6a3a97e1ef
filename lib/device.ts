/**
 * Devices: where a tensor lives, named by a string parsed here and nowhere else.
 *
 *   'cpu'      the host; always there.
 *   'cuda:N'   GPU N (N = 0, 1, …, as the CUDA runtime numbers them, CUDA_VISIBLE_DEVICES applied).
 *   'cuda'     GPU 0: accepted wherever a device is asked for, and stored as 'cuda:0'.
 *   'auto'     'cuda:0' when that GPU is usable, else 'cpu'.
 *
 * The canonical spelling, what Tensor.device, Module.device and Storage.device hold, is 'cpu' or
 * 'cuda:N' with its index (as PyTorch's torch.device('cuda') prints as cuda:0 once on a tensor), so
 * two devices are the same exactly when their strings are equal, and isCuda(device) is how code
 * asks whether a device is a GPU. Asking for a GPU that is not usable throws with the reason, and
 * one past the last throws naming how many there are: napinet never falls back to the CPU silently.
 *
 * The CUDA-emulation build (npm run build:emu, loaded with NAPINET_ADDON=build-emu/Release/napinet.node)
 * runs the same CUDA kernels on the CPU: there cuda.isAvailable() is true and cuda.info().emulated
 * is true, so every GPU code path runs without a GPU (slowly; for tests). It presents
 * NAPINET_CUDA_EMU_DEVICES GPUs (default 1) to test several. Test: test/device.test.ts,
 * test/multi_device.test.ts.
 */
import { type CudaBuffer, type CudaInfo, type CudaMemory, native } from './native';
import { describe } from './validate';

/** A GPU in canonical form: 'cuda:0', 'cuda:1', … */
export type CudaDevice = `cuda:${number}`;
/** A device in canonical form, as tensors and modules report it. */
export type Device = 'cpu' | CudaDevice;
/** What a device argument accepts: a Device, 'cuda' (GPU 0) or 'auto'. */
export type DeviceSpec = Device | 'cuda' | 'auto';

const SPEC = /^(?:auto|cpu|cuda(?::(0|[1-9][0-9]*))?)$/;
const SPELLINGS = "'cpu', 'cuda', 'cuda:N' (N a GPU index ≥ 0) or 'auto'";

/**
 * Checks a device string's spelling without asking whether the device exists: 'cuda' becomes
 * 'cuda:0'; 'auto' stays 'auto'. A malformed one ('gpu', 'cuda:x', 'cuda:-1') is a TypeError
 * naming the argument. For CLI flags and options read before a device is used.
 */
export function parseDevice(spec: unknown, name = 'device'): Device | 'auto' {
  const match = typeof spec === 'string' ? SPEC.exec(spec) : null;
  if (!match) throw new TypeError(`Expected ${SPELLINGS} for ${name} but received ${describe(spec)}`);
  if (spec === 'auto' || spec === 'cpu') return spec;
  return `cuda:${Number(match[1] ?? 0)}`;
}

/** Whether `device` (canonical, or 'cuda') is a GPU. */
export function isCuda(device: DeviceSpec | string): device is CudaDevice | 'cuda' {
  return device === 'cuda' || device.startsWith('cuda:');
}

/** The N of 'cuda:N' (0 for 'cuda'); a TypeError for 'cpu'. */
export function cudaIndex(device: DeviceSpec | string): number {
  if (device === 'cuda') return 0;
  if (!device.startsWith('cuda:')) throw new TypeError(`Expected a CUDA device for device but received ${describe(device)}`);
  return Number(device.slice(5));
}

// The canonical GPUs resolveDevice accepted (whether a GPU is usable does not change while running).
const usableGpus = new Set<string>();

/**
 * The canonical device for `spec`, after checking that it is usable: 'cuda:N' past the last GPU
 * is a RangeError naming the device and how many GPUs there are; an unusable GPU an Error with
 * the runtime's reason. `name` is the argument that gave it, for messages about spelling.
 */
export function resolveDevice(spec: DeviceSpec, name = 'device'): Device {
  if (spec === 'cpu') return 'cpu';
  if (usableGpus.has(spec)) return spec as CudaDevice; // every new tensor asks: a GPU once checked is a Set lookup
  const device = parseDevice(spec, name);
  if (device === 'cpu') return 'cpu';
  if (device === 'auto') return cuda.isAvailable() ? 'cuda:0' : 'cpu';
  const index = cudaIndex(device);
  const count = cuda.deviceCount();
  if (index >= count && count > 0) {
    throw new RangeError(`device '${spec}' was requested but the CUDA runtime sees ${gpus(count)}`);
  }
  const info = cudaInfo(count === 0 ? 0 : index); // no GPU at all: GPU 0's reason says why
  if (!info.available) {
    const what = count > 1 ? `${device} is not usable` : 'no GPU is usable';
    throw new Error(`device '${spec}' was requested but ${what}: ${info.reason ?? 'unknown reason'}`);
  }
  usableGpus.add(device);
  return device;
}

/** "1 GPU (cuda:0)", "2 GPUs (cuda:0 to cuda:1)". */
function gpus(count: number): string {
  return count === 1 ? '1 GPU (cuda:0)' : `${count} GPUs (cuda:0 to cuda:${count - 1})`;
}

// Per GPU, what the runtime said when first asked (availability and its reason do not change).
const cachedInfo = new Map<number, CudaInfo>();

function cudaInfo(index: number): CudaInfo {
  let info = cachedInfo.get(index);
  if (!info) {
    const addon = native();
    info = addon.cudaInfo
      ? addon.cudaInfo(index)
      : { available: false, emulated: false, reason: 'this napinet addon was built without CUDA (no nvcc at build time, or NAPINET_CUDA=OFF)' };
    cachedInfo.set(index, info);
  }
  return info;
}

let cachedCount: number | undefined;

/** The index a GPU argument of the cuda functions names: an integer ≥ 0, 'cuda' or 'cuda:N' (not checked to exist). */
function gpuIndex(device: number | DeviceSpec, name: string): number {
  if (typeof device === 'number') {
    if (!Number.isInteger(device) || device < 0) throw new TypeError(`Expected a GPU index (an integer ≥ 0) for ${name} but received ${describe(device)}`);
    return device;
  }
  const parsed = parseDevice(device, name);
  if (!isCuda(parsed)) throw new TypeError(`Expected a GPU ('cuda', 'cuda:N' or an index) for ${name} but received ${describe(device)}`);
  return cudaIndex(parsed);
}

/** gpuIndex, checked to be a GPU of this machine. */
function existingGpu(device: number | DeviceSpec, name: string): number {
  const index = gpuIndex(device, name);
  const count = cuda.deviceCount();
  if (index >= count) {
    const there = count === 0 ? `no GPU is usable: ${cudaInfo(0).reason ?? 'unknown reason'}` : `the CUDA runtime sees ${gpus(count)}`;
    throw new RangeError(`Expected a GPU of this machine for ${name} but received cuda:${index}: ${there}`);
  }
  return index;
}

/** CUDA status per GPU: whether it is usable, what it is, napinet's memory on it. */
export const cuda = {
  /** Whether GPU 0 is usable (what 'auto' and 'cuda' pick). */
  isAvailable(): boolean {
    return cudaInfo(0).available;
  },
  /** How many GPUs the CUDA runtime sees (0 without CUDA, a driver or a GPU). */
  deviceCount(): number {
    cachedCount ??= native().cudaDevices?.().length ?? 0;
    return cachedCount;
  },
  /**
   * GPU `device` (default 0): usable or why not, name, capability, memory (as first read; a GPU
   * that does not exist comes back unavailable, with the reason).
   */
  info(device: number | DeviceSpec = 0): CudaInfo {
    return { ...cudaInfo(gpuIndex(device, 'device')) };
  },
  /** Every GPU the CUDA runtime sees, read now ([] when none). */
  devices(): CudaInfo[] {
    return native().cudaDevices?.() ?? [];
  },
  /** napinet's memory on GPU `device` (default 0), read now: live allocations, the pool, free and total. */
  memory(device: number | DeviceSpec = 0): CudaMemory {
    const index = existingGpu(device, 'device');
    return native().cudaMemory!(index);
  },
  /**
   * Waits for the work queued on GPU `device`, or, without an argument, on every GPU napinet used
   * (for timing). A no-op without a usable GPU when no device is named.
   */
  synchronize(device?: number | DeviceSpec): void {
    if (device === undefined) {
      if (cuda.isAvailable()) native().cudaSynchronize!();
      return;
    }
    native().cudaSynchronize!(existingGpu(device, 'device'));
  },
};

/** A new zero-filled buffer on `device` (a GPU resolveDevice accepted). */
export function cudaAlloc(device: CudaDevice, length: number, dtype: 'float32' | 'int32'): CudaBuffer {
  return native().cudaAlloc!(length, dtype, cudaIndex(device));
}
