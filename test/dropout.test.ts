// Dropout (training) against PyTorch's semantics (scripts/fixtures/dropout.py) and napinet's own mask
// generator.
//
// PyTorch's masks come from its generator and cannot be reproduced, so parity is not elementwise:
// the tests check the kept fraction (≈ 1 − p, within 5 standard deviations of a binomial count),
// the scale of kept elements (exactly PyTorch's float32 1/(1 − p)), p = 0 (identity) and p = 1
// (x·0, bit for bit as PyTorch: NaN for ±inf, −0 for negatives), and that backward applies the
// forward's mask. The masks themselves are Philox4x32-10 words (native/kernels/philox.h): checked
// bit for bit against a TypeScript Philox that reproduces Random123's known-answer vectors, on the
// CPU and on CUDA, which therefore draw the same mask for the same seed.
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { native } from '../lib/native';
import { Dropout } from '../lib/nn/dropout';
import { buildModule } from '../lib/nn/registry';
import { dropout, dropoutBackward, drawDropoutSeed } from '../lib/ops/dropout';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';
import { loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { EXACT } from './helpers/tolerance';

// ---- a reference Philox4x32-10 (Salmon et al. 2011), in BigInt arithmetic ----
const M32 = 0xffffffffn;
function philox(counter: [number, number, number, number], key: [number, number]): number[] {
  let [c0, c1, c2, c3] = counter.map(BigInt);
  let [k0, k1] = key.map(BigInt);
  for (let round = 0; round < 10; round++) {
    if (round > 0) {
      k0 = (k0 + 0x9e3779b9n) & M32;
      k1 = (k1 + 0xbb67ae85n) & M32;
    }
    const p0 = 0xd2511f53n * c0;
    const p1 = 0xcd9e8d57n * c2;
    [c0, c1, c2, c3] = [(p1 >> 32n) ^ c1 ^ k0, p1 & M32, (p0 >> 32n) ^ c3 ^ k1, p0 & M32];
  }
  return [c0, c1, c2, c3].map(Number);
}

/** Element i's keep decision for `seed` and p, as native/kernels/dropout.h defines it. */
function referenceMask(seed: bigint, p: number, n: number): boolean[] {
  const threshold = Math.round((1 - p) * 2 ** 24);
  const key: [number, number] = [Number(seed & M32), Number(seed >> 32n)];
  const keep: boolean[] = [];
  for (let g = 0; g * 4 < n; g++) {
    const words = philox([g % 2 ** 32, Math.floor(g / 2 ** 32), 0, 0], key);
    for (let j = 0; j < 4 && g * 4 + j < n; j++) keep.push(words[j] >>> 8 < threshold);
  }
  return keep;
}

test('the reference Philox reproduces Random123 known-answer vectors', () => {
  const hex = (words: number[]) => words.map((w) => w.toString(16).padStart(8, '0')).join(' ');
  expect(hex(philox([0, 0, 0, 0], [0, 0]))).toBe('6627e8d5 e169c58d bc57ac4c 9b00dbd8');
  expect(hex(philox([0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff]))).toBe(
    '408f276d 41c83b0e a20bc7c6 6d5451fd',
  );
  expect(hex(philox([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0]))).toBe(
    'd16cfe09 94fdcceb 5001e420 24126ea1',
  );
});

describe.each(DEVICES)('dropout on %s', (device) => {
  const ones = (n: number) => Tensor.from(new Float32Array(n).fill(1), [n], { device });

  test('masks are the Philox words of the seed, bit for bit (odd sizes, 64-bit seeds)', () => {
    for (const [seed, p, n] of [[0n, 0.5, 1003], [0x123456789abcdefn, 0.3, 257], [2n ** 64n - 1n, 0.9, 64], [42n, 0.1, 1]] as const) {
      const y = dropout(ones(n), p, seed).toArray();
      const scale = Math.fround(1 / (1 - p));
      const expected = referenceMask(seed, p, n).map((keep) => (keep ? scale : 0));
      expect(Array.from(y), `seed ${seed}, p ${p}`).toEqual(expected);
    }
  });

  for (const c of loadFixtures('dropout').filter((f) => f.name.startsWith('scale/'))) {
    const p = c.params.p as number;
    test(`p = ${p}: kept fraction ≈ 1 − p, kept values scaled exactly as PyTorch`, () => {
      const n = 1 << 18;
      const y = dropout(ones(n), p, drawDropoutSeed(new Generator(7))).toArray();
      const torchScale = c.f32('scale')[0];
      let kept = 0;
      let otherValues = 0;
      const perLane = [0, 0, 0, 0];
      for (let i = 0; i < n; i++) {
        if (y[i] === 0) continue;
        if (y[i] !== torchScale) otherValues++;
        kept++;
        perLane[i % 4]++;
      }
      expect(otherValues, `kept values other than PyTorch's scale ${torchScale}`).toBe(0);
      const sigma = Math.sqrt((p * (1 - p)) / n);
      expect(Math.abs(kept / n - (1 - p))).toBeLessThan(5 * sigma);
      // Each of a Philox block's four words is used: every lane keeps ≈ 1 − p too.
      for (const lane of perLane) expect(Math.abs(lane / (n / 4) - (1 - p))).toBeLessThan(5 * 2 * sigma);
      // PyTorch's own kept fraction on 100 000 values, for comparison.
      expect(Math.abs(c.f64('kept_fraction')[0] - (1 - p))).toBeLessThan(5 * Math.sqrt((p * (1 - p)) / 100000));
      // Masks of different seeds are independent: both keep ≈ (1 − p)² of the values.
      const other = dropout(ones(n), p, drawDropoutSeed(new Generator(8))).toArray();
      let both = 0;
      for (let i = 0; i < n; i++) if (y[i] !== 0 && other[i] !== 0) both++;
      const q = (1 - p) ** 2;
      expect(Math.abs(both / n - q)).toBeLessThan(5 * Math.sqrt((q * (1 - q)) / n));
    });
  }

  test('backward applies the forward mask', () => {
    const n = 5000;
    const x = Tensor.from(Float32Array.from({ length: n }, (_, i) => 1 + (i % 13)), [n], { device });
    const dy = Tensor.from(Float32Array.from({ length: n }, (_, i) => Math.sin(i) + 2), [n], { device });
    const seed = 987654321987654321n;
    const y = dropout(x, 0.4, seed).toArray();
    const dx = dropoutBackward(dy, 0.4, seed).toArray();
    const scale = Math.fround(1 / 0.6);
    const xs = x.toArray();
    const dys = dy.toArray();
    let kept = 0;
    const wrong: string[] = [];
    for (let i = 0; i < n; i++) {
      const m = y[i] === 0 ? 0 : scale;
      kept += m === 0 ? 0 : 1;
      if (y[i] !== Math.fround(xs[i] * m) || dx[i] !== Math.fround(dys[i] * m)) wrong.push(`[${i}] y ${y[i]} dx ${dx[i]}`);
    }
    expect(wrong.slice(0, 5)).toEqual([]);
    expect(kept).toBeGreaterThan(0.5 * n);
  });

  for (const c of loadFixtures('dropout').filter((f) => f.name.startsWith('edge/'))) {
    test(`${c.name}: bit for bit as PyTorch (inf, NaN, −0)`, () => {
      const y = dropout(c.tensor('x', device), c.params.p, 3n);
      const dx = dropoutBackward(c.tensor('dy', device), c.params.p, 3n);
      checkOp(c, { y, dx }, EXACT);
      expect(Object.is(y.toArray()[1], -0)).toBe(Object.is(c.f32('y')[1], -0));
    });
  }

  test('the layer: fresh seed per training forward from its generator, reproducible, identity in eval', () => {
    const x = Tensor.from(Float32Array.from({ length: 4096 }, (_, i) => (i % 7) - 3), [64, 64], { device });
    const a = new Dropout(0.5, { generator: new Generator(123) }).to(device);
    const b = new Dropout(0.5, { generator: new Generator(123) }).to(device);
    const a1 = explicit(() => a.forward(x)).toArray();
    const seed1 = a.lastSeed;
    const a2 = explicit(() => a.forward(x)).toArray();
    expect(a.lastSeed).not.toBe(seed1);
    expect(Array.from(a2)).not.toEqual(Array.from(a1));
    expect(Array.from(explicit(() => b.forward(x)).toArray())).toEqual(Array.from(a1));
    expect(Array.from(explicit(() => b.forward(x)).toArray())).toEqual(Array.from(a2));
    // The seed is the generator's next 64 bits, and backward uses the last forward's mask.
    expect(seed1).toBe(drawDropoutSeed(new Generator(123)));
    expect(Array.from(a.backward(x)!.toArray())).toEqual(Array.from(a2));

    a.eval();
    expect(explicit(() => a.forward(x))).toBe(x);
    const dy = Tensor.zeros([64, 64], { device });
    expect(a.backward(dy)).toBe(dy);
    const zero = new Dropout(0).to(device);
    expect(explicit(() => zero.forward(x))).toBe(x);
    expect(zero.lastSeed).toBeNull();

    const rebuilt = buildModule(JSON.parse(JSON.stringify(new Dropout(0.25).config())));
    expect(rebuilt.toString()).toBe('Dropout(p=0.25, inplace=False)');
    expect(new Dropout().toString()).toBe('Dropout(p=0.5, inplace=False)');
  });

  test('results are bit-identical with 1 thread and with the default pool', () => {
    const n = 300_001;
    const x = Tensor.from(Float32Array.from({ length: n }, (_, i) => Math.cos(i)), [n], { device });
    expectSameBitsAcrossThreads(() => [dropout(x, 0.35, 77n)]);
  });

  test('rejects bad arguments, naming them', () => {
    const x = ones(8);
    expect(() => dropout(x, 1.5, 1n)).toThrow('Expected a probability in [0, 1] for p but received 1.5');
    expect(() => dropout(x, NaN, 1n)).toThrow('Expected a number for p but received NaN');
    expect(() => dropout(x, 0.5, -1n)).toThrow('Expected an integer in [0, 2^64) for seed but received -1');
    expect(() => dropout(x, 0.5, 2n ** 64n)).toThrow('Expected an integer in [0, 2^64) for seed but received 18446744073709551616');
    expect(() => dropout(x, 0.5, 1.5)).toThrow('for seed but received 1.5');
    expect(() => dropout(x, 0.5, '1' as never)).toThrow('Expected a bigint or an integer for seed but received "1"');
    expect(() => dropoutBackward({} as never, 0.5, 1n)).toThrow('Expected a Tensor for dy but received an object');
    expect(() => new Dropout(-0.1)).toThrow('Expected a probability in [0, 1] for p but received -0.1');
    expect(() => new Dropout(0.5, { generator: {} as never })).toThrow('Expected a Generator for options.generator but received an object');
    expect(() => new Dropout().backward(x)).toThrow('Dropout.backward() needs a forward() first (no saved mask seed)');
    const short = device === 'cpu' ? new Float32Array(7) : Tensor.zeros([7], { device }).buffer;
    expect(() => native().dropoutForward(x.buffer, short, 0, 0, 0.5, 8)).toThrow(RangeError);
    expect(() => native().dropoutForward(x.buffer, x.buffer, 2 ** 32, 0, 0.5, 8)).toThrow(RangeError);
    expect(() => native().dropoutForward(x.buffer, x.buffer, 0, 0, 2, 8)).toThrow('Expected a number in [0, 1] for p but received 2');
  });
});

describe.runIf(DEVICES.includes('cuda:0'))('dropout: CPU and CUDA', () => {
  test('draw the same mask for the same seed', () => {
    const n = 100_003;
    const values = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const seed = drawDropoutSeed(new Generator(2024));
    const cpu = dropout(Tensor.from(values, [n]), 0.5, seed).toArray();
    const gpu = dropout(Tensor.from(values, [n], { device: 'cuda' }), 0.5, seed).toArray();
    expect(Buffer.from(gpu.buffer).equals(Buffer.from(cpu.buffer))).toBe(true);
  });
});
