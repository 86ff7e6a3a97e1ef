// The CUDA emulator itself (cuda/emu/), through the self-test kernels of cuda/emu/selftest.cu:
// barriers that really wait, thread orders that expose a missing barrier, warp shuffles and votes,
// atomics, dynamic shared memory, and the errors a GPU would hang or crash on instead.
// Runs only against the emulation builds, the exact one and the GPU-like one (concurrent blocks in a
// varying order, FMA contraction, libm within CUDA's error bounds; the last describe block):
//   npm run build:emu && NAPINET_ADDON=$PWD/build-emu/Release/napinet.node npx vitest run test/cuda-emu.test.ts
//   npm run build:emu-gpu && NAPINET_ADDON=$PWD/build-emu-gpu/Release/napinet.node npx vitest run test/cuda-emu.test.ts
// Values are small integers and halves, so float32 sums are exact and compared exactly.
import { afterEach, describe, expect, test } from 'vitest';
import { type CudaBuffer, native } from '../lib/native';
import { cudaBuffers } from './helpers/cuda';

type Buffer = CudaBuffer;
interface EmuSelftest {
  coordinates(out: Buffer, dims: Buffer): void;
  blockSums(sums: Buffer, x: Buffer, blocks: number, threads: number, barriers: boolean): void;
  normalize(y: Buffer, x: Buffer, n: number, barriers: boolean): void;
  warpSums(sums: Buffer, x: Buffer, n: number, block: number): void;
  warpScanMax(y: Buffer, m: Buffer, x: Buffer, n: number, width: number): void;
  votes(votes: Buffer, x: Buffer, n: number): void;
  atomics(counters: Buffer, total: Buffer, x: Buffer, v: Buffer, n: number): void;
  reverseBlocks(y: Buffer, x: Buffer, n: number, block: number): void;
  readUninitializedShared(y: Buffer, n: number): void;
  divergentBarrier(y: Buffer, threads: number): void;
  splitBarrier(y: Buffer, threads: number): void;
  incompleteShuffle(y: Buffer): void;
  invalidLaunch(y: Buffer): void;
  emptyGridLaunch(y: Buffer): void;
  hostPointerLaunch(): void;
  writePastEnd(y: Buffer, n: number): void;
  runtimeChecks(): string;
  mode(): { mode: 'gpu' | 'exact'; hostThreads: number };
  lastBlock(y: Buffer, blocks: number): void;
  racyCount(counter: Buffer, blocks: number, spin: number): void;
  contraction(y: Buffer, a: Buffer, b: Buffer, c: Buffer, n: number): void;
  libm(y: Buffer, z: Buffer, x: Buffer, n: number): void;
}

const addon = native();
const emulated = addon.buildInfo().cudaEmulated;

describe.runIf(emulated)('CUDA emulator', () => {
  // (describe.runIf still runs this body to collect the tests, so only ask emulator builds.)
  const t = (emulated ? addon.cudaEmuSelftest!() : {}) as EmuSelftest;
  const { alloc, upload, download, disposeAll } = cudaBuffers();
  afterEach(disposeAll);

  test('threadIdx, blockIdx, blockDim and gridDim cover a 3-D grid of 3-D blocks', () => {
    const out = alloc(12 * 24, 'int32');
    const dims = alloc(6, 'int32');
    t.coordinates(out, dims);
    expect(download(dims)).toEqual([2, 3, 2, 4, 2, 3]);
    expect(download(out)).toEqual(Array.from({ length: 12 * 24 }, (_, i) => 1000 * Math.floor(i / 24) + (i % 24)));
  });

  test('a shared-memory tree reduction is right with its barriers and wrong without them', () => {
    const blocks = 4;
    const threads = 256;
    const x = Float32Array.from({ length: blocks * threads }, (_, i) => (i * 7) % 11);
    const expected = Array.from({ length: blocks }, (_, b) => x.subarray(b * threads, (b + 1) * threads).reduce((s, v) => s + v, 0));
    const sums = alloc(blocks);
    t.blockSums(sums, upload(x), blocks, threads, true);
    expect(download(sums)).toEqual(expected);
    // Without barriers each thread runs its whole loop at once. Blocks alternate between highest-
    // and lowest-thread-first (block 3 highest-first); a tree reads from higher threads, so in the
    // lowest-first blocks (0 and 2) thread 0 reads slots no thread has written yet: fresh shared
    // memory, NaN. In both modes, whatever the order of the blocks and their host threads.
    t.blockSums(sums, upload(x), blocks, threads, false);
    const broken = download(sums);
    expect(broken[3]).toBe(expected[3]);
    expect(broken[1]).toBe(expected[1]);
    expect(broken[0]).toBeNaN();
    expect(broken[2]).toBeNaN();
  });

  test('a value broadcast through shared memory is wrong without the barrier before its read', () => {
    const n = 256;
    const x = Float32Array.from({ length: n }, (_, i) => (i % 5) + 1);
    const sum = x.reduce((s, v) => s + v, 0);
    const expected = Array.from(x, (v) => Math.fround(v / sum));
    const y = alloc(n);
    t.normalize(y, upload(x), n, true);
    expect(download(y)).toEqual(expected);
    // Highest thread first: threads 255…1 read partial[0] before thread 0 adds its last term.
    t.normalize(y, upload(x), n, false);
    const broken = download(y);
    expect(broken[0]).toBe(expected[0]);
    expect(broken.slice(1).every((v, i) => v !== expected[i + 1] || x[i + 1] === 0)).toBe(true);
  });

  test('__shfl_down_sync sums each warp; lanes past the end of the data add zeros', () => {
    const n = 100;
    const x = Float32Array.from({ length: n }, (_, i) => i);
    const sums = alloc(4);
    t.warpSums(sums, upload(x), n, 64);
    expect(download(sums)).toEqual([496, 1520, 2544, 96 + 97 + 98 + 99]);
  });

  test.each([32, 8, 1])('__shfl_up_sync scans and __shfl_xor_sync/__shfl_sync find the maximum in segments of %i lanes', (width) => {
    const n = 100;
    const x = Float32Array.from({ length: n }, (_, i) => (i * 13) % 17);
    const y = alloc(n);
    const m = alloc(n);
    t.warpScanMax(y, m, upload(x), n, width);
    const scan: number[] = [];
    const max: number[] = [];
    for (let i = 0; i < n; i++) {
      const start = i - (i % width); // segments restart at every width lanes (and every warp)
      const segment = Array.from(x.subarray(start, Math.min(start + width, n)));
      // lanes past n hold 0, which only matters for the maximum when every value is below it
      if (start + width > n) segment.push(0);
      scan.push(Array.from(x.subarray(start, i + 1)).reduce((s, v) => s + v, 0));
      max.push(Math.max(...segment));
    }
    expect(download(y)).toEqual(scan);
    expect(download(m)).toEqual(max);
  });

  test('__ballot_sync, __any_sync and __all_sync vote across each warp', () => {
    const n = 100; // two blocks of 64: warps 0..3, the last partly past the data
    const x = Float32Array.from({ length: n }, (_, i) => (i % 3 === 0 || i >= 64 ? 1 : -1));
    const votes = alloc(12, 'int32');
    t.votes(votes, upload(x), n);
    const out = download(votes);
    const ballot = (w: number) => {
      let bits = 0;
      for (let lane = 0; lane < 32; lane++) if (32 * w + lane < n && x[32 * w + lane] > 0) bits |= 1 << lane;
      return bits;
    };
    for (let w = 0; w < 4; w++) {
      expect(out[3 * w]).toBe(ballot(w));
      expect(out[3 * w + 1]).toBe(1);
    }
    expect(out[3 * 2]).toBe(-1); // all 32 lanes positive: 0xffffffff
    expect([out[2], out[5], out[8], out[11]]).toEqual([0, 0, 1, 0]);
  });

  test('atomics from many blocks add, take maxima and minima, and let exactly one thread win a CAS', () => {
    const n = 1000; // 16 blocks of 64
    const v = Int32Array.from({ length: n }, (_, i) => ((i * 37) % 501) - 250);
    const counters = upload(new Int32Array([0, -1000, 1000, 0, 0]));
    const total = alloc(1);
    t.atomics(counters, total, upload(new Float32Array(n).fill(0.5)), upload(v), n);
    expect(download(counters)).toEqual([n, 250, -250, 1, 1]);
    expect(download(total)).toEqual([n / 2]);
  });

  test('dynamic shared memory belongs to one block at a time and starts as NaN', () => {
    const y = alloc(10);
    t.reverseBlocks(y, upload(Float32Array.from({ length: 10 }, (_, i) => i)), 10, 4);
    expect(download(y)).toEqual([3, 2, 1, 0, 7, 6, 5, 4, 9, 8]);
    const raw = alloc(8);
    t.readUninitializedShared(raw, 8);
    expect(download(raw).every(Number.isNaN)).toBe(true);
  });

  test('a __syncthreads that only some threads reach is an error naming the kernel and launch', () => {
    const call = () => t.divergentBarrier(alloc(64), 64);
    expect(call).toThrow(/CUDA emulator: kernel divergent_barrier_kernel<<<\(1,1,1\), \(64,1,1\), 0>>> launched at cuda\/emu\/selftest\.cu:\d+/);
    expect(call).toThrow(/divergent __syncthreads .*32 thread\(s\) wait in __syncthreads at cuda\/emu\/selftest\.cu:\d+.*32 thread\(s\) exited without reaching it/);
  });

  test('threads waiting at two different __syncthreads are an error naming both', () => {
    expect(() => t.splitBarrier(alloc(64), 64)).toThrow(
      /divergent __syncthreads: thread \(\d+,0,0\) waits in __syncthreads at cuda\/emu\/selftest\.cu:(\d+) but thread \(\d+,0,0\) in __syncthreads at cuda\/emu\/selftest\.cu:(?!\1)\d+/,
    );
  });

  test('a shuffle whose mask names exited lanes is an error', () => {
    expect(() => t.incompleteShuffle(alloc(32))).toThrow(
      /warp operation never completed: 16 thread\(s\) wait in __shfl_down_sync at cuda\/emu\/selftest\.cu:\d+ \(warp 0, mask 0xffffffff\).*16 thread\(s\) exited/,
    );
  });

  test('an invalid launch configuration is CUDA\'s error, naming the kernel, file, line and device', () => {
    expect(() => t.invalidLaunch(alloc(2048))).toThrow(
      /CUDA error in fill_kernel<<<\(1,1,1\), \(2048,1,1\), 0>>> at cuda\/emu\/selftest\.cu:\d+ on device 0 \(napinet CUDA emulator \(CPU\)\): invalid configuration argument \(cudaErrorInvalidConfiguration\)/,
    );
    expect(() => t.emptyGridLaunch(alloc(32))).toThrow(/CUDA error in fill_kernel<<<\(0,1,1\), \(32,1,1\), 0>>> .*cudaErrorInvalidConfiguration/);
  });

  test('a host pointer passed to a kernel is an error', () => {
    expect(() => t.hostPointerLaunch()).toThrow(/host_pointer_kernel.*argument 1 \(0x[0-9a-f]+\) is not device memory/);
  });

  test('a write just past the end of a buffer is an error', () => {
    expect(() => t.writePastEnd(alloc(8), 8)).toThrow(/write_past_end_kernel.* wrote outside a buffer of 32 bytes at 0x[0-9a-f]+ \(byte offset 32\)/);
  });

  test('after a failed launch the emulator runs the next kernel normally', () => {
    expect(() => t.divergentBarrier(alloc(64), 64)).toThrow();
    const sums = alloc(1);
    t.blockSums(sums, upload(new Float32Array(64).fill(1)), 1, 64, true);
    expect(download(sums)).toEqual([64]);
  });

  test('the runtime API (copies, frees, streams, events, memory info, errors) behaves like CUDA', () => {
    expect(t.runtimeChecks()).toBe('');
  });
});

// The GPU-like mode against the exact one: each test states what each mode must show.
describe.runIf(emulated)('CUDA emulator: the GPU-like mode', () => {
  const t = (emulated ? addon.cudaEmuSelftest!() : {}) as EmuSelftest;
  const { mode, hostThreads } = emulated ? t.mode() : { mode: 'exact', hostThreads: 1 };
  const gpu = mode === 'gpu';
  const { alloc, upload, download, disposeAll } = cudaBuffers();
  afterEach(disposeAll);

  test(`a grid's blocks run in a different order at every launch (${mode} mode)`, () => {
    const y = alloc(1, 'int32');
    const last = new Set<number>();
    for (let launch = 0; launch < 20; launch++) {
      t.lastBlock(y, 64);
      last.add(download(y)[0]);
    }
    if (gpu) expect(last.size).toBeGreaterThan(1);
    else expect([...last]).toEqual([0]); // highest block first, so block 0 always writes last
  });

  test(`blocks run at the same time: a count without atomics across blocks loses increments (${mode} mode, ${hostThreads} host threads)`, () => {
    const counter = alloc(1, 'int32');
    const counts: number[] = [];
    for (let launch = 0; launch < 20 && !counts.some((c) => c < 256); launch++) {
      counter.upload(Int32Array.of(0));
      t.racyCount(counter, 256, 20_000);
      counts.push(download(counter)[0]);
    }
    if (gpu && hostThreads > 1) expect(Math.min(...counts)).toBeLessThan(256);
    else expect(counts.every((c) => c === 256)).toBe(true);
  });

  test(`a·b + c is contracted into an FMA as nvcc does, the _rn intrinsics never are (${mode} mode)`, () => {
    // a·b is not exact in float32, so the fused and the twice-rounded results differ.
    const a = Float32Array.of(1 + 2 ** -12, 3.3, 1 / 3);
    const b = Float32Array.of(1 - 2 ** -12, 7.7, 3);
    const c = Float32Array.of(-1, -25.41, -1);
    const y = alloc(6);
    t.contraction(y, upload(a), upload(b), upload(c), 3);
    const out = download(y);
    const twiceRounded = Array.from(a, (v, i) => Math.fround(Math.fround(v * b[i]) + c[i]));
    const fused = Array.from(a, (v, i) => Math.fround(v * b[i] + c[i])); // products of floats are exact in double
    expect(fused).not.toEqual(twiceRounded);
    expect(out.slice(3)).toEqual(twiceRounded);
    expect(out.slice(0, 3)).toEqual(gpu ? fused : twiceRounded);
  });

  test(`expf, logf, tanhf, … stay within CUDA's documented ulp bounds (${mode} mode; the GPU-like one is not exact)`, () => {
    const n = 256;
    const x = Float32Array.from({ length: n }, (_, i) => Math.fround(0.05 + (2.9 * i) / n));
    const y = alloc(7 * n);
    const z = alloc(6 * n, 'int32');
    t.libm(y, z, upload(x), n);
    const out = download(y);
    const doubles = new Float64Array(Int32Array.from(download(z)).buffer);
    const ulp = (v: number) => 2 ** (Math.floor(Math.log2(Math.abs(v))) - 23);
    // [name, CUDA's bound in ulps, the exact value]
    const functions: [string, number, (v: number) => number][] = [
      ['expf', 2, Math.exp],
      ['logf', 1, Math.log],
      ['log1pf', 1, Math.log1p],
      ['expm1f', 1, Math.expm1],
      ['tanhf', 2, Math.tanh],
      ['erff', 2, erf],
      ['powf', 4, (v) => Math.pow(v, Math.fround(1.7))],
    ];
    let inexact = 0;
    functions.forEach(([name, bound, exact], k) => {
      for (let i = 0; i < n; i++) {
        const want = exact(x[i]);
        const got = out[k * n + i];
        const error = Math.abs(got - want) / ulp(want);
        expect(error, `${name}(${x[i]})`).toBeLessThanOrEqual(bound);
        if (got !== Math.fround(want)) inexact++;
      }
    });
    ([['exp', Math.exp], ['log', Math.log], ['log1p', Math.log1p]] as const).forEach(([name, exact], k) => {
      for (let i = 0; i < n; i++) {
        const want = exact(x[i]);
        expect(Math.abs(doubles[k * n + i] - want), `${name}(${x[i]})`).toBeLessThanOrEqual(2 * Number.EPSILON * Math.abs(want));
      }
    });
    // Of the 7n results, the GPU-like mode gives most a value other than the nearest float (it picks
    // among the 2 to 8 allowed); the exact mode gives the C library's, nearly always the nearest.
    if (gpu) expect(inexact).toBeGreaterThan((7 * n) / 2);
    else expect(inexact).toBeLessThan((7 * n) / 10);
  });
});

/** erf(x) for |x| ≤ 3 by its Taylor series (relative error below 1e-12 there). */
function erf(x: number): number {
  let term = x;
  let sum = x;
  for (let k = 1; k < 80; k++) {
    term *= (-x * x) / k;
    sum += term / (2 * k + 1);
  }
  return (2 / Math.sqrt(Math.PI)) * sum;
}
