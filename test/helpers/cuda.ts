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
