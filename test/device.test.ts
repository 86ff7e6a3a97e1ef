// Device selection and what napinet says about the GPU (lib/device.ts, native/binding/cuda/device.cc,
// cuda/runtime.cu). Which tests run depends on the addon loaded: a CPU-only build, a CUDA build on
// a machine without a usable GPU (CI: nvcc but no driver), the emulator build, or a real GPU.
// In every case a request for 'cuda' that cannot be honoured throws with the reason, never falling
// back to the CPU silently.
import { describe, expect, test } from 'vitest';
import { cuda, cudaIndex, isCuda, parseDevice, resolveDevice } from '../lib/device';
import { native } from '../lib/native';
import { relu } from '../lib/ops/activation';
import { Tensor } from '../lib';

const build = native().buildInfo();
const info = cuda.info();
const count = cuda.deviceCount();

describe('devices', () => {
  test("'cpu' is always there and device names are checked", () => {
    expect(resolveDevice('cpu')).toBe('cpu');
    expect(() => resolveDevice('gpu' as never)).toThrow(
      new TypeError(`Expected 'cpu', 'cuda', 'cuda:N' (N a GPU index ≥ 0) or 'auto' for device but received "gpu"`),
    );
  });

  test("device strings are parsed in one place: 'cuda' is cuda:0, malformed ones name the argument", () => {
    expect(parseDevice('cpu')).toBe('cpu');
    expect(parseDevice('auto')).toBe('auto');
    expect(parseDevice('cuda')).toBe('cuda:0');
    expect(parseDevice('cuda:0')).toBe('cuda:0');
    expect(parseDevice('cuda:12')).toBe('cuda:12'); // spelling only: whether GPU 12 exists is resolveDevice's question
    for (const bad of ['gpu', 'cuda:x', 'cuda:-1', 'cuda:', 'cuda:01', 'cuda:1.5', 'CUDA', ' cuda', 'cuda:0 ', 'cpu:0', '', 1, null, undefined, {}]) {
      expect(() => parseDevice(bad), String(bad)).toThrow(TypeError);
      expect(() => parseDevice(bad, 'options.device'), String(bad)).toThrow(/^Expected 'cpu', 'cuda', 'cuda:N' \(N a GPU index ≥ 0\) or 'auto' for options\.device but received /);
    }
    expect(() => Tensor.zeros([2], { device: 'cuda:x' as never })).toThrow(`for device but received "cuda:x"`);
    expect(() => Tensor.from([1, 2]).to('cuda:-1' as never)).toThrow(`for device but received "cuda:-1"`);
    expect([isCuda('cpu'), isCuda('cuda'), isCuda('cuda:0'), isCuda('cuda:3')]).toEqual([false, true, true, true]);
    expect([cudaIndex('cuda'), cudaIndex('cuda:0'), cudaIndex('cuda:7')]).toEqual([0, 0, 7]);
    expect(() => cudaIndex('cpu')).toThrow(`Expected a CUDA device for device but received "cpu"`);
  });

  test("'auto' is cuda:0 exactly when CUDA is usable; 'cuda' is stored as cuda:0", () => {
    expect(resolveDevice('auto')).toBe(info.available ? 'cuda:0' : 'cpu');
    expect(Tensor.zeros([2], { device: 'auto' }).device).toBe(info.available ? 'cuda:0' : 'cpu');
    if (info.available) {
      expect(resolveDevice('cuda')).toBe('cuda:0');
      expect(Tensor.zeros([2], { device: 'cuda' }).device).toBe('cuda:0');
      expect(Tensor.from([1, 2], [2]).to('cuda').device).toBe('cuda:0');
    }
  });

  test('a GPU past the last is refused naming the device and how many there are; cuda.* check their argument', () => {
    expect(cuda.devices().length).toBe(count);
    expect(cuda.devices().map((d) => d.index)).toEqual([...Array(count).keys()]);
    const past = `cuda:${count}` as const;
    if (count > 0) {
      const seen = count === 1 ? '1 GPU (cuda:0)' : `${count} GPUs (cuda:0 to cuda:${count - 1})`;
      expect(() => resolveDevice(past)).toThrow(new RangeError(`device '${past}' was requested but the CUDA runtime sees ${seen}`));
      expect(() => Tensor.zeros([2], { device: past })).toThrow(`the CUDA runtime sees ${seen}`);
      expect(() => cuda.memory(count)).toThrow(new RangeError(`Expected a GPU of this machine for device but received ${past}: the CUDA runtime sees ${seen}`));
      expect(() => cuda.synchronize(past)).toThrow(`received ${past}: the CUDA runtime sees ${seen}`);
      expect(cuda.info(count)).toMatchObject({ available: false, index: count });
      expect(cuda.info(count).reason).toContain(`there is no GPU ${count}`);
    } else {
      expect(() => resolveDevice(past)).toThrow(`device '${past}' was requested but no GPU is usable: ${info.reason}`);
      expect(() => cuda.memory()).toThrow(`Expected a GPU of this machine for device but received cuda:0: no GPU is usable: ${info.reason}`);
      expect(() => cuda.synchronize()).not.toThrow(); // no device named: a no-op without a GPU
    }
    expect(() => cuda.info(-1)).toThrow(new TypeError('Expected a GPU index (an integer ≥ 0) for device but received -1'));
    expect(() => cuda.info('cpu')).toThrow(new TypeError(`Expected a GPU ('cuda', 'cuda:N' or an index) for device but received "cpu"`));
    expect(() => cuda.memory('cuda:y' as never)).toThrow(`for device but received "cuda:y"`);
  });

  test.runIf(info.available)("cuda.info, memory and synchronize take an index, 'cuda' or 'cuda:N'", () => {
    expect(cuda.info('cuda:0')).toEqual(cuda.info(0));
    expect(cuda.info('cuda').index).toBe(0);
    const before = cuda.memory('cuda:0').liveBytes;
    const t = Tensor.zeros([1024], { device: 'cuda:0' });
    expect(cuda.memory(0).liveBytes - before).toBeGreaterThanOrEqual(4096);
    cuda.synchronize('cuda');
    cuda.synchronize(0);
    t.dispose();
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
