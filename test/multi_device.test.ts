// Several GPUs ('cuda:N', lib/device.ts): tensors allocate on their GPU, ops run there, an op
// mixing GPUs is an error naming both, to() copies across, the memory pool keeps each GPU's
// buffers apart, CUDA graphs record on the GPU asked for, fit() trains on any of them.
//
// Needs two GPUs. The emulator presents them cheaply (NAPINET_CUDA_EMU_DEVICES=2): with the
// one-GPU emulator build loaded (npm run test:emu) the last test reruns this file in a child
// vitest with two emulated GPUs and checks that every test passed there. A real machine with
// several GPUs runs the tests directly; with one GPU or none only the rerun's skip shows.
//   NAPINET_ADDON=$PWD/build-emu/Release/napinet.node npx vitest run test/multi_device.test.ts
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { captureCudaGraph } from '../lib/cuda_graph';
import { cuda, resolveDevice } from '../lib/device';
import { emptyMemoryPool, memoryStats } from '../lib/memory';
import type { CudaBuffer } from '../lib/native';
import { fit, Generator, nn, optim, Tensor, TensorDataset } from '../lib';
import { relu } from '../lib/ops/activation';

const gpus = cuda.deviceCount();
const gpuOf = (t: Tensor) => (t.buffer as CudaBuffer).device;
const values = (t: Tensor) => Array.from(t.toArray());

describe.runIf(gpus >= 2)('two GPUs', () => {
  test('a tensor lives on the GPU it was made for, and says so', () => {
    const before = [cuda.memory(0).liveBytes, cuda.memory(1).liveBytes];
    const t = Tensor.zeros([256], { device: 'cuda:1' });
    expect(t.device).toBe('cuda:1');
    expect(gpuOf(t)).toBe(1);
    expect(String(t)).toBe('Tensor(shape=[256], dtype=float32, device=cuda:1)');
    expect(cuda.memory(1).liveBytes - before[1]).toBeGreaterThanOrEqual(1024);
    expect(cuda.memory(0).liveBytes).toBe(before[0]);
    expect(Tensor.from([1, 2, 3], [3], { device: 'cuda:1' }).device).toBe('cuda:1');
    expect(Tensor.from(new Int32Array([4, 5]), [2], { device: 'cuda:1' }).toList()).toEqual([4, 5]);
    expect(resolveDevice('cuda:1')).toBe('cuda:1');
    expect(() => resolveDevice(`cuda:${gpus}`)).toThrow(`device 'cuda:${gpus}' was requested but the CUDA runtime sees ${gpus} GPUs (cuda:0 to cuda:${gpus - 1})`);
    expect(cuda.devices().map((d) => [d.index, d.available])).toEqual([...Array(gpus).keys()].map((i) => [i, true]));
    expect(cuda.info(1).index).toBe(1);
    cuda.synchronize('cuda:1');
    cuda.synchronize();
    t.dispose();
  });

  test('to() copies between GPUs (both ways, through the host), and the gradient flows back', () => {
    const x = Tensor.from([-1, 2, -3, 4], [4], { device: 'cuda:0', requiresGrad: true });
    const y = x.to('cuda:1');
    expect([y.device, gpuOf(y)]).toEqual(['cuda:1', 1]);
    expect(values(y)).toEqual([-1, 2, -3, 4]);
    const z = y.mul(y).sum(); // on cuda:1
    expect(z.device).toBe('cuda:1');
    z.backward();
    expect(x.grad!.device).toBe('cuda:0');
    expect(values(x.grad!)).toEqual([-2, 4, -6, 8]);
    const back = y.detach().to('cuda:0');
    expect([back.device, gpuOf(back)]).toEqual(['cuda:0', 0]);
    expect(values(back)).toEqual([-1, 2, -3, 4]);
    expect(y.to('cuda:1')).toBe(y); // already there: itself
    expect(values(y.to('cpu'))).toEqual([-1, 2, -3, 4]);
  });

  test('an op whose tensors are on different GPUs is an error naming both', () => {
    const a = Tensor.from([1, 2], [2], { device: 'cuda:0' });
    const b = Tensor.from([3, 4], [2], { device: 'cuda:1' });
    expect(() => a.add(b)).toThrow(new TypeError('Expected a tensor on cuda:0 (the device of a) for b but received a tensor on cuda:1'));
    expect(() => b.matmul(a.reshape([2, 1]))).toThrow(/cuda:1.*cuda:0/s);
    const out = Tensor.zeros([2], { device: 'cuda:0' });
    expect(() => relu(b, out)).toThrow(/cuda:0.*cuda:1|cuda:1.*cuda:0/s);
    const linear = new nn.Linear(2, 2).to('cuda:1');
    expect(() => linear.forward(Tensor.zeros([1, 2], { device: 'cuda:0' }))).toThrow(/cuda:1.*cuda:0|cuda:0.*cuda:1/s);
    expect(values(b.add(b))).toEqual([6, 8]); // one GPU: fine
  });

  test('kernels on cuda:1 give what the CPU gives', () => {
    const g = new Generator(3);
    const x = Tensor.from(Float32Array.from({ length: 64 }, () => g.normal()), [8, 8]);
    const w = Tensor.from(Float32Array.from({ length: 64 }, () => g.normal()), [8, 8]);
    const onCpu = x.matmul(w).relu().sum([1]);
    const onGpu = x.to('cuda:1').matmul(w.to('cuda:1')).relu().sum([1]);
    expect(onGpu.device).toBe('cuda:1');
    const want = values(onCpu);
    // float32 sums of 8 products in another order: 1e-5 relative.
    values(onGpu).forEach((v, i) => expect(Math.abs(v - want[i])).toBeLessThanOrEqual(1e-5 * (1 + Math.abs(want[i]))));
  });

  test("the memory pool keeps each GPU's freed buffers for that GPU", () => {
    emptyMemoryPool();
    Tensor.zeros([1000], { device: 'cuda:1' }).dispose();
    expect(memoryStats().pooledBytes['cuda:1']).toBe(4000);
    expect(memoryStats().pooledBytes['cuda:0'] ?? 0).toBe(0);
    const on0 = Tensor.zeros([1000], { device: 'cuda:0' }); // same size, other GPU: not the pooled buffer
    expect(gpuOf(on0)).toBe(0);
    expect(memoryStats().pooledBytes['cuda:1']).toBe(4000);
    const on1 = Tensor.zeros([1000], { device: 'cuda:1' }); // reuses it, zeroed
    expect(gpuOf(on1)).toBe(1);
    expect(memoryStats().pooledBytes['cuda:1']).toBe(0);
    expect(values(on1).every((v) => v === 0)).toBe(true);
    on0.dispose();
    on1.dispose();
  });

  test('a CUDA graph records on the GPU asked for, replays there, and refuses another GPU’s tensors', () => {
    const x = Tensor.from([-1, 2, -3, 4], [4], { device: 'cuda:1' });
    const y = Tensor.zeros([4], { device: 'cuda:1' });
    relu(x, y); // first call outside the capture (nothing to create inside it)
    y.copyFrom([9, 9, 9, 9]);
    const graph = captureCudaGraph(() => relu(x, y), { device: 'cuda:1' });
    expect(graph.device).toBe('cuda:1');
    expect(values(y)).toEqual([9, 9, 9, 9]); // recorded, not run
    graph.launch();
    expect(values(y)).toEqual([0, 2, 0, 4]);
    graph.dispose();
    // A kernel on another GPU's tensors would run there at once, unrecorded: the binding refuses it.
    const refused = new TypeError('Expected a tensor on cuda:0 (the GPU the CUDA graph records) for y but received a tensor on cuda:1');
    expect(() => captureCudaGraph(() => relu(x, y), { device: 'cuda:0' })).toThrow(refused);
    expect(() => captureCudaGraph(() => relu(x, y))).toThrow(refused); // the default is 'cuda': cuda:0
    expect(() => captureCudaGraph(() => undefined, { device: 'cpu' })).toThrow(`Expected a GPU ('cuda' or 'cuda:N'; CUDA graphs record GPU work) for options.device but received "cpu"`);
    expect(() => captureCudaGraph(() => undefined, { device: `cuda:${gpus}` })).toThrow(`device 'cuda:${gpus}' was requested but the CUDA runtime sees ${gpus} GPUs`);
    // The refused captures were dropped whole: a new one on either GPU works, and outside a capture
    // nothing is refused.
    y.copyFrom([9, 9, 9, 9]);
    const again = captureCudaGraph(() => relu(x, y), { device: 'cuda:1' });
    again.launch();
    expect(values(y)).toEqual([0, 2, 0, 4]);
    again.dispose();
    const on0 = Tensor.from([-5, 5], [2], { device: 'cuda:0' });
    const graph0 = captureCudaGraph(() => relu(on0, on0));
    expect(graph0.device).toBe('cuda:0');
    graph0.launch();
    expect(values(on0)).toEqual([0, 5]);
    graph0.dispose();
  });

  test('fit() trains on cuda:1 (with a CUDA graph) exactly as on cuda:0', async () => {
    const g = new Generator(5);
    const x = Tensor.from(Float32Array.from({ length: 256 * 4 }, () => g.normal()), [256, 4]);
    const y = x.sum(1, { keepDim: true }).mul(0.5);
    const train = async (device: 'cuda:0' | 'cuda:1') => {
      const model = new nn.Sequential(new nn.Linear(4, 8, { generator: new Generator(1) }), new nn.ReLU(), new nn.Linear(8, 1, { generator: new Generator(2) })).to(device);
      const history = await fit(model, new TensorDataset(x, y), {
        loss: new nn.MSELoss(), optimizer: new optim.SGD(model.parameters(), { lr: 0.05 }), epochs: 2, batchSize: 32, generator: new Generator(3), progress: 'none', cudaGraph: true,
      });
      expect(model.parameters().every((p) => p.device === device && p.grad.device === device && gpuOf(p) === Number(device.slice(5)))).toBe(true);
      const weights = model.parameters().map((p) => values(p));
      model.dispose();
      return { weights, loss: history.epochs[1].trainLoss };
    };
    const first = await train('cuda:0');
    const second = await train('cuda:1');
    expect(second.weights).toEqual(first.weights); // the same kernels on alike GPUs: bit for bit
    expect(second.loss).toBe(first.loss);
  }, 120_000);
});

const emulatedOneGpu = cuda.isAvailable() && cuda.info().emulated && gpus === 1;

test.runIf(emulatedOneGpu)('the tests above pass with two emulated GPUs (a child vitest, NAPINET_CUDA_EMU_DEVICES=2)', () => {
  const root = path.resolve(__dirname, '..');
  const child = spawnSync(process.execPath, [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', 'test/multi_device.test.ts'], {
    cwd: root,
    env: { ...process.env, NAPINET_CUDA_EMU_DEVICES: '2' },
    encoding: 'utf8',
    timeout: 300_000,
  });
  const output = `${child.stdout}\n${child.stderr}`;
  expect(child.status, output).toBe(0);
  // eslint-disable-next-line no-control-regex
  const plain = output.replace(/\u001b\[[0-9;]*m/g, '');
  expect(plain, output).toMatch(/Tests\s+7 passed \| 1 skipped \(8\)/);
}, 320_000);
