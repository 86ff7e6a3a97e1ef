/**
 * Devices: 'cpu' always; 'cuda' when the addon was built with CUDA and a usable GPU is present.
 * 'auto' means CUDA when usable, else the CPU. Asking for 'cuda' when it is not usable throws with
 * the reason: napinet never falls back to the CPU silently.
 *
 * The CUDA-emulation build (npm run build:emu, loaded with NAPINET_ADDON=build-emu/Release/napinet.node)
 * runs the same CUDA kernels on the CPU: there cuda.isAvailable() is true and cuda.info().emulated
 * is true, so every 'cuda' code path runs without a GPU (slowly; for tests).
 */
import { type CudaBuffer, type CudaInfo, native } from './native';
import { expectOneOf } from './validate';

/** Where a tensor lives: the CPU or the CUDA GPU. */
export type Device = 'cpu' | 'cuda';
/** A device, or 'auto': CUDA when a GPU is usable, else the CPU. */
export type DeviceSpec = Device | 'auto';

let cachedInfo: CudaInfo | undefined;

function cudaInfo(): CudaInfo {
  if (!cachedInfo) {
    const addon = native();
    cachedInfo = addon.cudaInfo
      ? addon.cudaInfo()
      : { available: false, emulated: false, reason: 'this napinet addon was built without CUDA (no nvcc at build time, or NAPINET_CUDA=OFF)' };
  }
  return cachedInfo;
}

/** CUDA status: whether a GPU is usable, and what it is. */
export const cuda = {
  /** Whether a CUDA GPU is usable (a CUDA build, a driver and a supported device). */
  isAvailable(): boolean {
    return cudaInfo().available;
  },
  /** The GPU's name, memory and compute capability, or the reason none is usable. */
  info(): CudaInfo {
    return { ...cudaInfo() };
  },
  /** Waits for all queued GPU work (for timing). */
  synchronize(): void {
    if (cudaInfo().available) native().cudaSynchronize!();
  },
};

/** The device `spec` means: 'auto' picks CUDA when usable; 'cuda' throws with the reason when no GPU is usable. */
export function resolveDevice(spec: DeviceSpec): Device {
  expectOneOf(spec, 'device', ['auto', 'cpu', 'cuda'] as const);
  if (spec === 'cpu') return 'cpu';
  if (spec === 'auto') return cuda.isAvailable() ? 'cuda' : 'cpu';
  const info = cudaInfo();
  if (!info.available) throw new Error(`device 'cuda' was requested but no GPU is usable: ${info.reason ?? 'unknown reason'}`);
  return 'cuda';
}

/** The CUDA allocator (only after resolveDevice('cuda') succeeded). */
export function cudaDevice(): { alloc(length: number, dtype: 'float32' | 'int32'): CudaBuffer } {
  const addon = native();
  return { alloc: (length, dtype) => addon.cudaAlloc!(length, dtype) };
}
