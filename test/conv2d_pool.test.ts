// The fused convolution + 2×2 max-pool (+ ReLU) (native/kernels/conv2d.h, ops.conv2dMaxPool2d) and
// Sequential's use of it. No tolerance: the fused kernels are built to give the same bits as
// conv2d, maxPool2d and relu run in turn (same sums in the same order, the same first-maximum rule,
// the same dense dy rows in the backward pass), so every value, index and gradient is compared bit
// for bit — on random inputs, on integer inputs full of ties and exact zeros, with NaNs in the
// forward pass, for strides, padding, odd output sizes, with and without bias and ReLU, with 1 and
// 2 threads, on CUDA (a GPU or the emulator) against CUDA's own three ops, and (in child processes,
// NAPINET_CONV_ISA) for the AVX2, NEON and portable kernels too.
// Values against PyTorch are test/conv2d.test.ts's and test/pool2d.test.ts's business: equal bits
// to those ops carry their parity over.
import { spawnSync } from 'node:child_process';
import { afterEach, describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { seedNetwork } from '../lib/chapter/models';
import { addonSource, native } from '../lib/native';
import { ReLU } from '../lib/nn/activation';
import { Conv2d } from '../lib/nn/conv2d';
import { Flatten } from '../lib/nn/flatten';
import { Linear } from '../lib/nn/linear';
import { MaxPool2d } from '../lib/nn/pool2d';
import { Sequential } from '../lib/nn/sequential';
import { relu, reluBackward } from '../lib/ops/activation';
import { conv2d, conv2dBackward, conv2dMaxPool2d, conv2dMaxPool2dBackward } from '../lib/ops/conv2d';
import { maxPool2d, maxPool2dBackward } from '../lib/ops/pool2d';
import { Adam } from '../lib/optim/adam';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { expectIdentical, expectIdenticalParameters } from './helpers/compare';
import type { ConvCaseSizes } from './helpers/conv';
import { DEVICES } from './helpers/devices';
import { explicitStep } from './helpers/explicit_step';
import { nodeCommand } from './helpers/node';

interface Case extends ConvCaseSizes {
  kernel: [number, number];
  stride?: [number, number];
  padding?: [number, number];
  bias: boolean;
  relu: boolean;
  /** 'normal' random values, 'integer' values in {-1, 0, 1} (ties, exact zeros). */
  values: 'normal' | 'integer';
}

const CASES: Case[] = [
  { name: 'seed layer, batch 64', n: 64, c: 1, h: 28, w: 28, k: 8, kernel: [5, 5], bias: true, relu: true, values: 'normal' },
  { name: 'seed layer, ties and zeros', n: 5, c: 1, h: 28, w: 28, k: 8, kernel: [5, 5], bias: true, relu: true, values: 'integer' },
  { name: 'no ReLU, no bias', n: 3, c: 2, h: 12, w: 13, k: 3, kernel: [3, 3], bias: false, relu: false, values: 'normal' },
  { name: 'odd output (dropped row and column)', n: 4, c: 3, h: 11, w: 9, k: 5, kernel: [3, 3], bias: true, relu: true, values: 'normal' },
  { name: 'padding 1', n: 3, c: 2, h: 10, w: 10, k: 4, kernel: [3, 3], padding: [1, 1], bias: true, relu: true, values: 'integer' },
  { name: 'stride 2, padding 2, 5×4 kernel', n: 2, c: 2, h: 17, w: 15, k: 6, kernel: [5, 4], stride: [2, 2], padding: [2, 2], bias: true, relu: false, values: 'normal' },
  { name: 'stride 3 × 1, 1×1 kernel', n: 2, c: 4, h: 13, w: 7, k: 3, kernel: [1, 1], stride: [3, 1], bias: true, relu: true, values: 'normal' },
  { name: 'many channels, 12 rows of 17 outputs', n: 3, c: 16, h: 14, w: 19, k: 20, kernel: [3, 3], bias: true, relu: true, values: 'normal' },
  { name: '2×2 output (one window per plane)', n: 6, c: 3, h: 4, w: 4, k: 5, kernel: [3, 3], bias: true, relu: true, values: 'normal' },
  { name: 'one input channel, 16 output channels (the dense-column forward, the pooled dy)', n: 5, c: 1, h: 12, w: 11, k: 16, kernel: [3, 3], bias: true, relu: true, values: 'integer' },
  { name: 'wide rows (pooled row over 32 columns)', n: 2, c: 1, h: 9, w: 75, k: 3, kernel: [3, 3], bias: true, relu: true, values: 'normal' },
  // Small pooled maps run with the batch in the vector lanes (whole groups of 8 or 16 samples; the rest per sample).
  { name: 'fast network layer 2, batch in the lanes and a remainder', n: 37, c: 12, h: 12, w: 12, k: 24, kernel: [3, 3], bias: true, relu: false, values: 'normal' },
  { name: 'batch in the lanes, padding 1, ties and zeros', n: 18, c: 3, h: 10, w: 10, k: 6, kernel: [3, 3], padding: [1, 1], bias: true, relu: true, values: 'integer' },
  // Shapes where conv2d's 'auto' takes Winograd on the CPU (conv2d_winograd.h; batches of ≥ 1,536
  // output positions): the fused layer then runs the ops in turn (64→64: Winograd's dW, and dx by
  // the channels-in-lanes GEMM on AVX-512, else by Winograd; conv2d.cpp backward_plan).
  { name: 'Winograd forward (32→40 channels), odd output', n: 18, c: 32, h: 10, w: 13, k: 40, kernel: [3, 3], bias: true, relu: true, values: 'normal' },
  { name: 'Winograd dW from the dense dy (16→24 channels), odd output height, ties and zeros', n: 16, c: 16, h: 13, w: 12, k: 24, kernel: [3, 3], bias: true, relu: true, values: 'integer' },
  { name: 'Winograd forward and gradients (64→64 channels)', n: 24, c: 64, h: 10, w: 10, k: 64, kernel: [3, 3], bias: false, relu: false, values: 'normal' },
];

type Device = import('../lib/device').Device;

function random(shape: number[], values: Case['values'], g: Generator, device: Device = 'cpu'): Tensor {
  const size = shape.reduce((a, b) => a * b, 1);
  return Tensor.from(Float32Array.from({ length: size }, () => (values === 'integer' ? g.int(3) - 1 : g.normal())), shape, { device });
}

function tensors(c: Case, g: Generator, device: Device = 'cpu') {
  const x = random([c.n, c.c, c.h, c.w], c.values, g, device);
  const weight = random([c.k, c.c, ...c.kernel], c.values, g, device);
  const bias = c.bias ? random([c.k], c.values, g, device) : null;
  return { x, weight, bias };
}

/** The three ops in turn: y (after the ReLU when c.relu), indices, and gradients for dy. */
function unfused(c: Case, x: Tensor, weight: Tensor, bias: Tensor | null, dy: Tensor, inputGrad: boolean) {
  const options = { stride: c.stride, padding: c.padding };
  const z = conv2d(x, weight, bias, options);
  const pooled = maxPool2d(z, { kernelSize: 2 });
  const y = c.relu ? relu(pooled.y) : pooled.y;
  const dPooled = c.relu ? reluBackward(dy, y) : dy;
  const dz = maxPool2dBackward(dPooled, pooled.indices, z.shape);
  const grads = conv2dBackward(dz, x, weight, { ...options, inputGrad, biasGrad: bias !== null });
  return { y, indices: pooled.indices, ...grads };
}

function fused(c: Case, x: Tensor, weight: Tensor, bias: Tensor | null, dy: Tensor, inputGrad: boolean) {
  const options = { stride: c.stride, padding: c.padding };
  const { y, indices } = conv2dMaxPool2d(x, weight, bias, { ...options, relu: c.relu });
  const grads = conv2dMaxPool2dBackward(dy, indices, c.relu ? y : null, x, weight, { ...options, inputGrad, biasGrad: bias !== null });
  return { y, indices, ...grads };
}

describe.each(DEVICES)('conv2dMaxPool2d (fused) equals conv2d → maxPool2d → relu bit for bit, on %s', (device) => {
  const before = native().numThreads();
  afterEach(() => native().setNumThreads(before));

  test.each(CASES)('$name', (c) => {
    const g = new Generator(7);
    const { x, weight, bias } = tensors(c, g, device);
    const pooledShape = conv2dMaxPool2d(x, weight, bias, { stride: c.stride, padding: c.padding }).y.shape;
    const dy = random([...pooledShape], 'normal', g, device);
    for (const threads of device === 'cpu' ? [1, 2] : [1]) {
      native().setNumThreads(threads);
      for (const inputGrad of [false, true]) {
        const a = fused(c, x, weight, bias, dy, inputGrad);
        const b = unfused(c, x, weight, bias, dy, inputGrad);
        const at = `${threads} thread(s), inputGrad ${inputGrad}`;
        expectIdentical(a.y.toArray(), b.y.toArray(), `y, ${at}`);
        expectIdentical(a.indices.toArray(), b.indices.toArray(), `indices, ${at}`);
        expectIdentical(a.dw.toArray(), b.dw.toArray(), `dw, ${at}`);
        if (c.bias) expectIdentical(a.db!.toArray(), b.db!.toArray(), `db, ${at}`);
        if (inputGrad) expectIdentical(a.dx!.toArray(), b.dx!.toArray(), `dx, ${at}`);
      }
    }
  });

  test('NaN inputs: the same values and argmax indices (a NaN wins its window)', () => {
    const c = CASES[3];
    const g = new Generator(3);
    const { x: hostX, weight, bias } = tensors(c, g, device);
    const data = hostX.toArray() as Float32Array;
    for (let i = 0; i < data.length; i += 37) data[i] = NaN;
    const x = Tensor.from(data, hostX.shape, { device });
    const a = conv2dMaxPool2d(x, weight, bias, { relu: true });
    const z = conv2d(x, weight, bias);
    const pooled = maxPool2d(z, { kernelSize: 2 });
    expectIdentical(a.y.toArray(), relu(pooled.y).toArray(), 'y');
    expectIdentical(a.indices.toArray(), pooled.indices.toArray(), 'indices');
  });

  test('accumulate adds into dw and db; dx and outputs given in out are used', () => {
    const c = CASES[2];
    const g = new Generator(5);
    const { x, weight } = tensors(c, g, device);
    const bias = random([c.k], 'normal', g, device);
    const out = { y: Tensor.zeros([3, 3, 5, 5], { device }), indices: Tensor.zeros([3, 3, 5, 5], { dtype: 'int32', device }) };
    const r = conv2dMaxPool2d(x, weight, bias, { relu: true }, out);
    expect(r.y).toBe(out.y);
    expect(r.indices).toBe(out.indices);
    const dy = random([3, 3, 5, 5], 'normal', g, device);
    const fresh = conv2dMaxPool2dBackward(dy, r.indices, r.y, x, weight);
    const dw = random([...weight.shape], 'normal', g, device);
    const db = random([c.k], 'normal', g, device);
    const [dw0, db0] = [dw.toArray(), db.toArray()];
    const dx = Tensor.zeros(x.shape, { device });
    const acc = conv2dMaxPool2dBackward(dy, r.indices, r.y, x, weight, { accumulate: true, out: { dx, dw, db } });
    expect(acc.dx).toBe(dx);
    expectIdentical(acc.dx!.toArray(), fresh.dx!.toArray(), 'dx');
    expectIdentical(acc.dw.toArray(), dw0.map((v, i) => v + fresh.dw.toArray()[i]), 'dw');
    expectIdentical(acc.db!.toArray(), db0.map((v, i) => v + fresh.db!.toArray()[i]), 'db');
  });

  test.runIf(device === 'cpu')('bad input throws, naming the argument', () => {
    const x = Tensor.zeros([2, 1, 8, 8]);
    const w = Tensor.zeros([3, 1, 3, 3]);
    expect(() => conv2dMaxPool2d(x, Tensor.zeros([3, 2, 3, 3]), null)).toThrow('Expected weight.shape[1] = 1 (the channels of x) for weight but received shape [3, 2, 3, 3]');
    expect(() => conv2dMaxPool2d(Tensor.zeros([2, 1, 3, 3]), w, null)).toThrow('Expected a convolution output of at least 2×2 (for 2×2 pooling) for x but received 1×1');
    expect(() => conv2dMaxPool2d(x, w, null, { relu: 1 as unknown as boolean })).toThrow('Expected a boolean for options.relu but received 1');
    expect(() => conv2dMaxPool2d(x, w, Tensor.zeros([2]))).toThrow('Expected shape [3] for bias but received [2]');
    expect(() => conv2dMaxPool2d(x, w, null, { algorithm: 'im2col' } as never)).toThrow('for options.algorithm');
    const { y, indices } = conv2dMaxPool2d(x, w, null);
    expect(() => conv2dMaxPool2dBackward(Tensor.zeros([2, 3, 2, 2]), indices, y, x, w)).toThrow('Expected shape [2, 3, 3, 3] for dy but received [2, 3, 2, 2]');
    expect(() => conv2dMaxPool2dBackward(y, y, y, x, w)).toThrow('Expected an int32 tensor for indices but received a float32 tensor');
    const bad = Tensor.from(new Int32Array(indices.size).fill(2), indices.shape, { dtype: 'int32' });
    expect(() => conv2dMaxPool2dBackward(y, bad, y, x, w)).toThrow(
      'Expected each pooling window\'s own argmax (as conv2dMaxPool2dForward gives) for indices but received an index outside its 2×2 window',
    );
    // 73,728 indices (the check runs in chunks on the pool): valid, then one bad index in the last plane.
    const xs = Tensor.zeros([64, 1, 26, 26]);
    const ws = Tensor.zeros([8, 1, 3, 3]);
    const large = conv2dMaxPool2d(xs, ws, null);
    expect(() => conv2dMaxPool2dBackward(large.y, large.indices, large.y, xs, ws)).not.toThrow();
    const lastBad = Int32Array.from(large.indices.toArray());
    lastBad[lastBad.length - 1] = 0; // the last window starts at 2·11·24 + 22
    expect(() => conv2dMaxPool2dBackward(large.y, Tensor.from(lastBad, large.indices.shape, { dtype: 'int32' }), large.y, xs, ws)).toThrow('an index outside its 2×2 window');
  });

  test.runIf(device === 'cpu')('the native call checks buffer sizes', () => {
    const y = new Float32Array(2 * 3 * 3 * 3);
    const indices = new Int32Array(y.length);
    const x = new Float32Array(2 * 8 * 8);
    const w = new Float32Array(3 * 9);
    expect(() => native().conv2dMaxPool2dForward(y, indices, x.subarray(1), w, null, 2, 1, 8, 8, 3, 3, 3, 1, 1, 0, 0, false)).toThrow(RangeError);
    expect(() => native().conv2dMaxPool2dForward(y, indices.subarray(1), x, w, null, 2, 1, 8, 8, 3, 3, 3, 1, 1, 0, 0, false)).toThrow(RangeError);
    expect(() =>
      native().conv2dMaxPool2dBackward(null, w, null, y, indices, null, x, w.subarray(1), 2, 1, 8, 8, 3, 3, 3, 1, 1, 0, 0, false),
    ).toThrow(RangeError);
  });
});

/** Whether the model's last forward() ran a fused step (Sequential's private record of it). */
function ranFused(model: Sequential): boolean {
  return (model as unknown as { fusedLast: boolean[] }).fusedLast.some(Boolean);
}

describe.each(DEVICES)('Sequential runs Conv2d → MaxPool2d(2) (→ ReLU) fused, on %s', (device) => {
  const layouts: [string, number[], () => Sequential][] = [
    ['the seed network (ReLU before the pool)', [6, 1, 28, 28], () => seedNetwork({ generator: new Generator(4) })],
    [
      'ReLU after the pool, padding 1',
      [6, 2, 10, 10],
      () => {
        const g = new Generator(5);
        return new Sequential(new Conv2d(2, 4, 3, { padding: 1, generator: g }), new MaxPool2d(2), new ReLU(), new Flatten(), new Linear(4 * 5 * 5, 3, { generator: g }));
      },
    ],
    [
      'no ReLU, two fused blocks, no bias',
      [6, 2, 10, 10],
      () => {
        const g = new Generator(6);
        return new Sequential(
          new Conv2d(2, 4, 3, { padding: 1, bias: false, generator: g }),
          new MaxPool2d(2),
          new Conv2d(4, 6, 3, { padding: 1, generator: g }),
          new ReLU(),
          new MaxPool2d(2),
          new Flatten(),
          new Linear(6 * 2 * 2, 3, { generator: g }),
        );
      },
    ],
  ];

  test.each(layouts)('%s: values, gradients and three Adam steps equal the unfused run', (_, shape, build) => {
    const fusedModel = build().to(device);
    const plain = build().to(device);
    plain.fuse = false;
    const g = new Generator(9);
    const optimizers = [new Adam(fusedModel.parameters(), { lr: 0.01 }), new Adam(plain.parameters(), { lr: 0.01 })];
    for (let step = 0; step < 3; step++) {
      const x = random(shape, step === 1 ? 'integer' : 'normal', g, device);
      const labels = Tensor.from(Int32Array.from({ length: 6 }, () => g.int(3)), [6], { dtype: 'int32', device });
      const outputs = [fusedModel, plain].map((model, i) => explicitStep(model, optimizers[i], x, labels).logits);
      expectIdentical(outputs[0], outputs[1], `logits, step ${step}`);
      expect(ranFused(fusedModel)).toBe(true);
      expect(ranFused(plain)).toBe(false);
      expectIdenticalParameters(fusedModel, plain, `at step ${step}`, 'grad');
      optimizers.forEach((o) => o.step());
    }
    expectIdenticalParameters(fusedModel, plain, 'after 3 steps');
  });

  test('the input gradient of a fused first block (inputGrad = true)', () => {
    const a = seedNetwork({ generator: new Generator(8) }).to(device);
    const b = seedNetwork({ generator: new Generator(8) }).to(device);
    b.fuse = false;
    a.inputGrad = b.inputGrad = true;
    const g = new Generator(1);
    const x = random([3, 1, 28, 28], 'normal', g, device);
    const dy = random([3, 10], 'normal', g, device);
    explicit(() => a.forward(x));
    explicit(() => b.forward(x));
    expectIdentical(a.backward(dy)!.toArray(), b.backward(dy)!.toArray(), 'dx');
  });
});

describe.runIf(DEVICES.includes('cuda:0'))('on CUDA', () => {
  test('an index outside its window (device indices are not checked) passes no gradient and reads nothing out of bounds', () => {
    const g = new Generator(2);
    const x = random([2, 1, 8, 8], 'normal', g, 'cuda:0');
    const w = random([3, 1, 3, 3], 'normal', g, 'cuda:0');
    const { y, indices } = conv2dMaxPool2d(x, w, null);
    const bad = Tensor.from(new Int32Array(indices.size).fill(-5), indices.shape, { device: 'cuda' });
    const grads = conv2dMaxPool2dBackward(random([...y.shape], 'normal', g, 'cuda:0'), bad, null, x, w);
    expect(Array.from(grads.dw.toArray()).every((v) => v === 0)).toBe(true);
  });
});

describe('the AVX2, NEON and portable kernels (child processes with NAPINET_CONV_ISA)', () => {
  // The kernel set is chosen once per process, so each runs in its own: fused against unfused for
  // the seed layer and a padded, strided layer, straight through the addon.
  const script = `
    const addon = require(process.env.ADDON);
    const rand = (n, seed) => { const a = new Float32Array(n); let s = seed; for (let i = 0; i < n; i++) { s = (s * 1103515245 + 12345) % 2147483648; a[i] = s / 1073741824 - 1; } return a; };
    const same = (a, b) => Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
    const results = [];
    for (const [n, c, h, w, k, kh, kw, sh, sw, ph, pw] of [[9, 1, 28, 28, 8, 5, 5, 1, 1, 0, 0], [3, 3, 15, 13, 5, 3, 3, 2, 1, 1, 1]]) {
      const oh = Math.floor((h + 2 * ph - kh) / sh) + 1, ow = Math.floor((w + 2 * pw - kw) / sw) + 1;
      const x = rand(n * c * h * w, 1), wt = rand(k * c * kh * kw, 2), b = rand(k, 3);
      const P = n * k * Math.floor(oh / 2) * Math.floor(ow / 2);
      const z = new Float32Array(n * k * oh * ow), py = new Float32Array(P), pi = new Int32Array(P), ry = new Float32Array(P);
      addon.conv2dForward(z, x, wt, b, n, c, h, w, k, kh, kw, sh, sw, ph, pw, 0);
      addon.maxPool2dForward(py, pi, z, n, k, oh, ow, 2, 2, 2, 2, 0, 0);
      addon.reluForward(ry, py, P);
      const fy = new Float32Array(P), fi = new Int32Array(P);
      addon.conv2dMaxPool2dForward(fy, fi, x, wt, b, n, c, h, w, k, kh, kw, sh, sw, ph, pw, true);
      const dy = rand(P, 4), dp = new Float32Array(P), dz = new Float32Array(z.length);
      addon.reluBackward(dp, dy, ry, P);
      addon.maxPool2dBackward(dz, dp, pi, n, k, oh, ow, Math.floor(oh / 2), Math.floor(ow / 2));
      const dx = new Float32Array(x.length), dw = new Float32Array(wt.length), db = new Float32Array(k);
      addon.conv2dBackward(dx, dw, db, dz, x, wt, n, c, h, w, k, kh, kw, sh, sw, ph, pw, false, 0);
      const fdx = new Float32Array(x.length), fdw = new Float32Array(wt.length), fdb = new Float32Array(k);
      addon.conv2dMaxPool2dBackward(fdx, fdw, fdb, dy, fi, fy, x, wt, n, c, h, w, k, kh, kw, sh, sw, ph, pw, false);
      results.push({ y: same(fy, ry), indices: same(fi, pi), dx: same(fdx, dx), dw: same(fdw, dw), db: same(fdb, db) });
    }
    console.log(JSON.stringify({ isa: addon.conv2dIsa(), results }));
  `;
  const all = { y: true, indices: true, dx: true, dw: true, db: true };
  const run = (code: string, isa?: string) => {
    const env: NodeJS.ProcessEnv = { ...process.env, ADDON: addonSource().path, NAPINET_CONV_ISA: isa };
    if (isa === undefined) delete env.NAPINET_CONV_ISA;
    const r = spawnSync(...nodeCommand('-e', code), { env, encoding: 'utf8' });
    expect(r.status, r.stderr).toBe(0);
    return r.stdout.trim();
  };
  test.each(['avx2', 'neon', 'generic'])('%s', (isa) => {
    const out = JSON.parse(run(script, isa));
    // A set the CPU lacks (AVX2 on AArch64 or without AVX2, NEON on x86-64) falls back to the
    // portable one; any set the CPU has must be the one that ran.
    const widest = run('console.log(require(process.env.ADDON).conv2dIsa())');
    const supported = isa === 'generic' || (isa === 'neon' ? widest === 'neon' : widest === 'avx2' || widest === 'avx512');
    expect(out.isa).toBe(supported ? isa : 'generic');
    expect(out.results).toEqual([all, all]);
  });
});
