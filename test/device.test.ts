// Device selection and what napinet says about the GPU (lib/device.ts, native/binding/cuda/device.cc,
// cuda/runtime.cu). Which tests run depends on the addon loaded: a CPU-only build, a CUDA build on
// a machine without a usable GPU (CI: nvcc but no driver), the emulator build, or a real GPU.
// In every case a request for 'cuda' that cannot be honoured throws with the reason, never falling
// back to the CPU silently.
import { describe, expect, test } from 'vitest';
import { cuda, resolveDevice } from '../lib/device';
import { native } from '../lib/native';
import { relu } from '../lib/ops/activation';
import { Tensor } from '../lib';

const build = native().buildInfo();
const info = cuda.info();

describe('devices', () => {
  test("'cpu' is always there and device names are checked", () => {
    expect(resolveDevice('cpu')).toBe('cpu');
    expect(() => resolveDevice('gpu' as never)).toThrow(`Expected one of 'auto', 'cpu', 'cuda' for device but received "gpu"`);
  });

  test("'auto' is CUDA exactly when CUDA is usable", () => {
    expect(resolveDevice('auto')).toBe(info.available ? 'cuda' : 'cpu');
    expect(Tensor.zeros([2], { device: 'auto' }).device).toBe(info.available ? 'cuda' : 'cpu');
  });

  test.runIf(!info.available)("an unusable GPU: 'cuda' throws with the reason", () => {
    expect(info.reason).toBeTruthy();
    const message = `device 'cuda' was requested but no GPU is usable: ${info.reason}`;
    expect(() => resolveDevice('cuda')).toThrow(new Error(message));
    expect(() => Tensor.zeros([2, 2], { device: 'cuda' })).toThrow(message);
    expect(() => Tensor.from([1, 2], [2]).to('cuda')).toThrow(message);
  });

  test.runIf(!build.cuda)('a CPU-only build says it was built without CUDA', () => {
    expect(info).toEqual({
      available: false,
      emulated: false,
      reason: 'this napinet addon was built without CUDA (no nvcc at build time, or NAPINET_CUDA=OFF)',
    });
  });

  test.runIf(build.cuda && !build.cudaEmulated && !info.available)(
    'a CUDA build without a usable GPU loads, reports the runtime and the reason, and runs on the CPU',
    () => {
      expect(info.emulated).toBe(false);
      expect(info.runtimeVersion).toBeGreaterThanOrEqual(13000);
      expect(info.reason).toMatch(/driver|GPU|compute capability/);
      if (info.driverVersion === 0) {
        expect(info.reason).toBe(
          'no NVIDIA driver was found (the CUDA runtime could not load libcuda.so.1): install the NVIDIA driver to use a GPU',
        );
      }
      expect(() => cuda.synchronize()).not.toThrow(); // a no-op without a GPU
      expect(Array.from(relu(Tensor.from([-1, 1])).toArray())).toEqual([0, 1]);
    },
  );

  test.runIf(build.cudaEmulated)('the emulator build reports an available, emulated GPU', () => {
    expect(info).toMatchObject({
      available: true,
      emulated: true,
      deviceCount: 1,
      name: 'napinet CUDA emulator (CPU)',
      computeCapability: '7.5',
      runtimeVersion: 13000,
    });
    expect(info.reason).toBeUndefined();
    expect(info.totalMemory).toBeGreaterThan(0);
    expect(info.freeMemory).toBeLessThanOrEqual(info.totalMemory!);
    cuda.synchronize();
  });

  test.runIf(build.cuda && !build.cudaEmulated && info.available)('a real GPU reports its name, capability and memory', () => {
    expect(info.emulated).toBe(false);
    expect(info.name).toBeTruthy();
    expect(info.computeCapability).toMatch(/^\d+\.\d+$/);
    expect(Number(info.computeCapability)).toBeGreaterThanOrEqual(7.5);
    expect(info.totalMemory).toBeGreaterThan(0);
    expect(info.driverVersion).toBeGreaterThan(0);
    cuda.synchronize();
  });
});
