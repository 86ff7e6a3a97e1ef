// CudaBuffer, the handle on GPU memory (native/binding/cuda/buffer.cc), and CUDA tensors through
// the public Tensor API: copies, offsets, dtypes, disposal, errors naming the argument, worker
// threads. Runs where CUDA is usable: on a GPU, or with the emulator build
//   NAPINET_ADDON=$PWD/build-emu/Release/napinet.node npx vitest run test/cuda-buffer.test.ts
import { Worker } from 'node:worker_threads';
import { afterEach, describe, expect, test } from 'vitest';
import { cuda } from '../lib/device';
import { relu } from '../lib/ops/activation';
import { addonSource, native } from '../lib/native';
import { Tensor } from '../lib';
import { cudaBuffers } from './helpers/cuda';

describe.runIf(cuda.isAvailable())('CudaBuffer', () => {
  const addon = native();
  const { alloc, disposeAll } = cudaBuffers();
  afterEach(disposeAll);

  test('a new buffer holds zeros and round-trips float32 and int32 values', () => {
    const f = alloc(5);
    expect(f.length).toBe(5);
    expect(f.dtype).toBe('float32');
    expect(f.disposed).toBe(false);
    const zeros = new Float32Array(5).fill(7);
    f.download(zeros);
    expect(Array.from(zeros)).toEqual([0, 0, 0, 0, 0]);
    f.upload(new Float32Array([1.5, -2, 3e-8, Infinity, NaN]));
    const back = new Float32Array(5);
    f.download(back);
    expect(Array.from(back)).toEqual([1.5, -2, Math.fround(3e-8), Infinity, NaN]);

    const i = alloc(3, 'int32');
    expect(i.dtype).toBe('int32');
    i.upload(new Int32Array([-1, 2147483647, -2147483648]));
    const ints = new Int32Array(3);
    i.download(ints);
    expect(Array.from(ints)).toEqual([-1, 2147483647, -2147483648]);
  });

  test('upload and download take an element offset and typed-array views', () => {
    const b = alloc(6);
    b.upload(new Float32Array([1, 2, 3]), 2);
    const base = new Float32Array([9, 9, 9, 9, 9, 9, 9]);
    b.download(base.subarray(1, 5), 1);
    expect(Array.from(base)).toEqual([9, 0, 1, 2, 3, 9, 9]);
    b.upload(new Float32Array([5, 6, 7, 8]).subarray(2), 4);
    const all = new Float32Array(6);
    b.download(all);
    expect(Array.from(all)).toEqual([0, 0, 1, 2, 7, 8]);
  });

  test('copies that do not fit, or of the wrong element type, throw errors naming the argument', () => {
    const b = alloc(4);
    expect(() => b.upload(new Float32Array(3), 2)).toThrow(
      new RangeError('Expected at most 2 elements for source (a CudaBuffer of 4 from offset 2) but received 3'),
    );
    expect(() => b.download(new Float32Array(5))).toThrow('Expected at most 4 elements for target (a CudaBuffer of 4 from offset 0) but received 5');
    expect(() => b.upload(new Float32Array(1), 5)).toThrow('Expected an integer in [0, 4] for offset but received 5');
    expect(() => b.upload(new Int32Array(2))).toThrow(new TypeError('Expected a Float32Array for source but received an Int32Array'));
    expect(() => alloc(2, 'int32').download(new Float32Array(2))).toThrow('Expected an Int32Array for target but received a Float32Array');
    expect(() => b.upload([1, 2] as never)).toThrow('Expected a Float32Array for source but received an Array');
  });

  test('cudaAlloc checks its arguments', () => {
    expect(() => addon.cudaAlloc!(-1, 'float32')).toThrow(RangeError);
    expect(() => addon.cudaAlloc!(1.5, 'float32')).toThrow('Expected an integer for length but received the number 1.5');
    expect(() => addon.cudaAlloc!(4, 'float64' as never)).toThrow(new TypeError("Expected 'float32' or 'int32' for dtype but received a string"));
    const gpus = addon.cudaDevices!().length;
    expect(() => addon.cudaAlloc!(4, 'float32', gpus)).toThrow(
      new RangeError(`Expected a GPU of this machine (cuda:0 to cuda:${gpus - 1}) for device but received ${gpus}`),
    );
    expect(alloc(4).device).toBe(0);
    const constructor = Object.getPrototypeOf(alloc(1)).constructor;
    expect(() => new constructor(4, true)).toThrow('CudaBuffer cannot be constructed directly: use cudaAlloc(length, dtype)');
  });

  test('an allocation larger than the GPU is a clear out-of-memory Error', () => {
    const total = cuda.info().totalMemory!;
    const length = Math.ceil(total / 4) + 1024;
    expect(() => addon.cudaAlloc!(length, 'float32')).toThrow(
      new RegExp(`^CUDA out of memory allocating ${length * 4} bytes on device 0 \\(${cuda.info().name!.replace(/[()]/g, '\\$&')}\\): out of memory`),
    );
  });

  test('dispose frees the memory once; a disposed buffer is refused', () => {
    const b = alloc(4);
    b.dispose();
    b.dispose();
    expect(b.disposed).toBe(true);
    expect(() => b.upload(new Float32Array(4))).toThrow('This CudaBuffer was disposed');
    expect(() => addon.reluForward(alloc(4), b, 4)).toThrow(new TypeError('Expected a Float32Array for x but received a disposed CudaBuffer'));
  });

  test('kernels accept float32 CudaBuffers only, all on one device, long enough', () => {
    const y = alloc(4);
    const x = alloc(4);
    expect(() => addon.reluForward(y, new Float32Array(4), 4)).toThrow(new TypeError('Expected a tensor on cuda:0 for x but received a tensor on cpu'));
    expect(() => addon.reluForward(y, alloc(4, 'int32'), 4)).toThrow('Expected a Float32Array for x but received an int32 CudaBuffer');
    expect(() => addon.reluForward(y, x, 5)).toThrow(new RangeError('Expected at least 5 elements for y but received 4'));
    // An object dressed up as a CudaBuffer is not one.
    expect(() => addon.reluForward(y, Object.create(Object.getPrototypeOf(x)), 4)).toThrow('Expected a Float32Array for x but received an object');
    expect(() => addon.reluForward(y, x, 0)).not.toThrow();
  });

  test('tensors move to the GPU and back, float32 and int32', () => {
    const t = Tensor.from([-1, 0.5, -0, 2], [2, 2], { device: 'cuda' });
    expect(t.device).toBe('cuda:0');
    const y = relu(t);
    expect(Array.from(y.toArray())).toEqual([0, 0.5, -0, 2]); // relu(-0) is -0, as torch.relu
    expect(Array.from(y.to('cpu').data)).toEqual([0, 0.5, -0, 2]);
    const labels = Tensor.from(new Int32Array([3, 1, 4]), [3], { device: 'cuda' });
    expect(labels.dtype).toBe('int32');
    expect(Array.from(labels.toArray())).toEqual([3, 1, 4]);
    for (const tensor of [t, y, labels]) tensor.dispose();
    expect(t.disposed).toBe(true);
    expect(() => t.toArray()).toThrow('Tensor(shape=[2, 2], dtype=float32, device=cuda:0) was disposed');
  });

  test('buffers a worker thread leaves behind are freed when it exits', async () => {
    const liveBefore = addon.cudaMemory!().liveBytes;
    const code = `
      const { parentPort, workerData } = require('node:worker_threads');
      const addon = require(workerData);
      const n = 1 << 16;
      const x = addon.cudaAlloc(n, 'float32');
      const y = addon.cudaAlloc(n, 'float32');
      x.upload(Float32Array.from({ length: n }, (_, i) => i - n / 2));
      addon.reluForward(y, x, n);
      const out = new Float32Array(n);
      y.download(out);
      parentPort.postMessage(out.reduce((s, v) => s + v, 0));
      // x and y are neither disposed nor collected: the environment's cleanup hook frees them.`;
    const worker = new Worker(code, { eval: true, workerData: addonSource().path });
    // Listen for the exit before awaiting the message: a worker that ends right after posting has
    // its last message and its 'exit' delivered in one go, and a listener added later misses it.
    const exited = new Promise((resolve) => worker.once('exit', resolve));
    const sum = await new Promise((resolve, reject) => {
      worker.once('message', resolve);
      worker.once('error', reject);
    });
    expect(sum).toBe(((1 << 15) * ((1 << 15) - 1)) / 2);
    await exited;
    // napinet's live allocations are back where they were (the memory pool keeps the blocks for
    // reuse, so the device's free memory does not tell).
    expect(addon.cudaMemory!().liveBytes).toBe(liveBefore);
  });
});
