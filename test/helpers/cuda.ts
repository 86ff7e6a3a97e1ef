/**
 * Raw CudaBuffers for kernel-level CUDA tests (lib/native.ts directly): allocated, filled and read
 * back in one line each, and all disposed together (call disposeAll() in afterEach).
 */
import { type CudaBuffer, native } from '../../lib/native';

export function cudaBuffers() {
  const live: CudaBuffer[] = [];
  const alloc = (length: number, dtype: 'float32' | 'int32' = 'float32'): CudaBuffer => {
    const buffer = native().cudaAlloc!(length, dtype);
    live.push(buffer);
    return buffer;
  };
  return {
    alloc,
    /** A new buffer holding `values` (int32 for an Int32Array, else float32). */
    upload(values: Float32Array | Int32Array): CudaBuffer {
      const buffer = alloc(values.length, values instanceof Int32Array ? 'int32' : 'float32');
      buffer.upload(values);
      return buffer;
    },
    download(buffer: CudaBuffer): number[] {
      const out = buffer.dtype === 'float32' ? new Float32Array(buffer.length) : new Int32Array(buffer.length);
      buffer.download(out);
      return Array.from(out);
    },
    disposeAll(): void {
      for (const buffer of live.splice(0)) buffer.dispose();
    },
  };
}

/** What the CUDA emulator counted since its last reset (cuda/emu: launches per kernel, copies, waits, the allocator's calls). */
export interface EmuActivity {
  launches: Record<string, number>;
  hostToDevice: number;
  deviceToHost: number;
  deviceToDevice: number;
  memsets: number;
  synchronizations: number;
  deviceAllocations: number;
  deviceFrees: number;
  poolAllocations: number;
  poolReuses: number;
  poolFrees: number;
}

/** The emulator's counters (only on the emulated-CUDA build). */
export function emulatorCounters(): { activity(): EmuActivity; resetActivity(): void } {
  return native().cudaEmuSelftest!() as unknown as { activity(): EmuActivity; resetActivity(): void };
}

/** All launches in an activity. */
export function totalLaunches(a: EmuActivity): number {
  return Object.values(a.launches).reduce((s, n) => s + n, 0);
}
