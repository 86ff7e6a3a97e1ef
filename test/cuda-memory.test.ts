// napinet's GPU memory (cuda/memory.cu): stream-ordered allocation from the device's memory pool
// (a dispose or a finalizer never waits for the GPU, and the pool hands the memory out again),
// frees deferred while a CUDA graph is captured, workspaces kept alive by the graphs that use them
// (a replay after a workspace grew writes into live memory and gives the captured results), and
// several GPUs ('cuda:N': the emulator with NAPINET_CUDA_EMU_DEVICES=2, in a child process).
// Runs on 'cuda' (a GPU, or the emulator build; the activity counts are the emulator's).
//   NAPINET_ADDON=$PWD/build-emu/Release/napinet.node npx vitest run test/cuda-memory.test.ts
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { captureCudaGraph } from '../lib/cuda_graph';
import { cuda } from '../lib/device';
import { addonSource, native } from '../lib/native';
import { relu } from '../lib/ops/activation';
import { conv2dBackward } from '../lib/ops/conv2d';
import { matmul } from '../lib/ops/gemm';
import { reduce } from '../lib/ops/reduce';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { emulatorCounters } from './helpers/cuda';

const addon = native();
const emulated = cuda.isAvailable() && cuda.info().emulated;
const emu = emulated ? emulatorCounters() : undefined;
const memory = () => addon.cudaMemory!(0);
const device = 'cuda';

function randomTensor(shape: number[], g: Generator): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(Float32Array.from({ length: size }, () => g.normal()), shape, { device });
}

describe.runIf(cuda.isAvailable())('GPU memory', () => {
  test('dispose frees without waiting for the GPU; the pool keeps the memory and hands it out again', () => {
    const first = memory();
    expect(first.streamOrdered).toBe(true);
    emu?.resetActivity();
    const a = addon.cudaAlloc!(1 << 20, 'float32');
    expect(memory().liveBytes - first.liveBytes).toBe(4 << 20);
    a.dispose();
    const afterDispose = memory();
    expect(afterDispose.liveBytes).toBe(first.liveBytes);
    expect(afterDispose.poolReservedBytes).toBeGreaterThanOrEqual(4 << 20); // kept for reuse ...
    expect(afterDispose.freeBytes).toBeLessThanOrEqual(afterDispose.totalBytes - afterDispose.poolReservedBytes); // ... and counted as used
    const b = addon.cudaAlloc!(1 << 20, 'float32');
    const out = new Float32Array(4);
    b.download(out);
    expect(Array.from(out)).toEqual([0, 0, 0, 0]); // a reused block is zeroed like a new one
    b.dispose();
    if (emu) {
      const activity = emu.activity();
      expect(activity.synchronizations).toBe(1); // the download's wait, nothing for the frees
      expect(activity.poolAllocations).toBe(2);
      expect(activity.poolFrees).toBe(2);
      expect(activity.poolReuses).toBe(1); // the second buffer got the first one's block
      expect(activity.deviceFrees).toBe(0);
    }
  });

  test('a buffer freed while a graph is captured (a finalizer, a dispose) is freed when the capture ends', () => {
    const x = Tensor.from(Float32Array.of(-1, 2, -3, 4), [4], { device });
    const y = Tensor.zeros([4], { device });
    const doomed = addon.cudaAlloc!(1024, 'float32'); // the native buffer itself (a tensor's dispose() would return it to the JS pool)
    const live = memory().liveBytes;
    let during = -1;
    const graph = captureCudaGraph(() => {
      relu(x, y);
      doomed.dispose();
      during = memory().deferredFrees;
    });
    expect(during).toBe(1);
    expect(memory().deferredFrees).toBe(0);
    expect(memory().liveBytes).toBe(live - 4096);
    graph.launch();
    expect(Array.from(y.toArray())).toEqual([0, 2, 0, 4]);
    graph.dispose();
    x.dispose();
    y.dispose();
  });

  // Each op first runs once (creating its workspace), is captured, then runs on a larger problem
  // (which grows the workspace: the old block is freed unless the graph holds it), and the graph is
  // replayed: it must give what the small problem gives when run directly. Were the old block
  // freed, the emulator would refuse the replay's kernel (its pointer no longer device memory) and
  // a GPU would write into memory the pool may have handed out again.
  const g = new Generator(17);
  const cases: { name: string; small: () => () => Tensor[]; large: () => Tensor[] }[] = [
    {
      name: 'conv2d backward (the weight-gradient partials)',
      small: () => {
        const x = randomTensor([2, 3, 8, 8], g), w = randomTensor([4, 3, 3, 3], g), dy = randomTensor([2, 4, 6, 6], g);
        const dw = Tensor.zeros([4, 3, 3, 3], { device }), db = Tensor.zeros([4], { device });
        return () => {
          conv2dBackward(dy, x, w, { inputGrad: false, out: { dw, db } });
          return [dw, db];
        };
      },
      large: () => {
        const x = randomTensor([16, 8, 24, 24], g), w = randomTensor([16, 8, 5, 5], g), dy = randomTensor([16, 16, 20, 20], g);
        const { dw, db } = conv2dBackward(dy, x, w, { inputGrad: false });
        return [x, w, dy, dw, db!];
      },
    },
    {
      name: 'gemm (the split-K workspace)',
      small: () => {
        const a = randomTensor([4, 4096], g), b = randomTensor([4096, 4], g), c = Tensor.zeros([4, 4], { device });
        return () => [matmul(a, b, {}, c)];
      },
      large: () => {
        const a = randomTensor([64, 8192], g), b = randomTensor([8192, 64], g);
        return [a, b, matmul(a, b)];
      },
    },
    {
      name: 'sum (the reduction workspace)',
      small: () => {
        const x = randomTensor([100_000], g), out = Tensor.zeros([], { device });
        return () => [reduce('sum', x, { out })];
      },
      large: () => {
        const x = randomTensor([256, 8192], g);
        return [x, reduce('sum', x, { dims: [0] })];
      },
    },
  ];
  test.each(cases)('a captured graph keeps the workspace it uses when a later call grows it: $name', ({ small, large }) => {
    const run = small();
    const outs = run(); // creates the workspace (a capture cannot allocate)
    const expected = outs.map((t) => Array.from(t.toArray()));
    const captured = captureCudaGraph(() => void run());
    for (const t of outs) t.copyFrom(new Float32Array(t.size).fill(NaN));
    const before = memory().liveBytes;
    for (const t of large()) t.dispose(); // grows the workspace
    const grown = memory().liveBytes;
    expect(grown).toBeGreaterThan(before);
    captured.launch();
    expect(outs.map((t) => Array.from(t.toArray()))).toEqual(expected);
    captured.dispose(); // lets the old workspace go
    expect(memory().liveBytes).toBeLessThan(grown);
  });

  test('several GPUs: buffers live on the GPU asked for, kernels run there, and GPUs are not mixed in a call', () => {
    if (!emulated) return; // needs the emulator's NAPINET_CUDA_EMU_DEVICES (one GPU here is all a test can count on)
    const script = `
      const addon = require(${JSON.stringify(addonSource().path)});
      const out = {};
      out.devices = addon.cudaDevices().map((d) => d.index + ':' + d.available);
      const x = addon.cudaAlloc(4, 'float32', 1), y = addon.cudaAlloc(4, 'float32', 1);
      out.device = x.device;
      x.upload(Float32Array.of(-1, 2, -3, 4));
      addon.reluForward(y, x, 4);  // runs on GPU 1 (the emulator refuses another GPU's memory)
      const r = new Float32Array(4); y.download(r); out.relu = Array.from(r);
      out.live1 = addon.cudaMemory(1).liveBytes;
      const z = addon.cudaAlloc(4, 'float32', 0);
      try { addon.reluForward(z, x, 4); } catch (e) { out.mixed = e.message; }
      try { addon.cudaAlloc(4, 'float32', 2); } catch (e) { out.missing = e.message; }
      out.info2 = addon.cudaInfo(2).reason;
      console.log(JSON.stringify(out));`;
    const child = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, NAPINET_CUDA_EMU_DEVICES: '2' }, encoding: 'utf8' });
    expect(child.stderr).toBe('');
    const out = JSON.parse(child.stdout);
    expect(out.devices).toEqual(['0:true', '1:true']);
    expect(out.device).toBe(1);
    expect(out.relu).toEqual([0, 2, 0, 4]);
    expect(out.live1).toBe(32);
    expect(out.mixed).toBe('Expected a tensor on cuda:0 for x but received a tensor on cuda:1');
    expect(out.missing).toBe('Expected a GPU of this machine (cuda:0 to cuda:1) for device but received 2');
    expect(out.info2).toBe('there is no GPU 2: the CUDA runtime sees 2 (cuda:0 to cuda:1)');
  });
});
