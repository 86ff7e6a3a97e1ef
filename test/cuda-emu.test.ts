// The CUDA emulator itself (cuda/emu/), through the self-test kernels of cuda/emu/selftest.cu:
// barriers that really wait, thread orders that expose a missing barrier, warp shuffles and votes,
// atomics, dynamic shared memory, and the errors a GPU would hang or crash on instead.
// Runs only against the emulation build:
//   npm run build:emu && NAPINET_ADDON=$PWD/build-emu/Release/napinet.node npx vitest run test/cuda-emu.test.ts
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
    // and lowest-thread-first; a tree reads from higher threads, so the lowest-first blocks
    // (0 and 2: block 3 runs first) add partial sums that are not finished yet.
    t.blockSums(sums, upload(x), blocks, threads, false);
    const broken = download(sums);
    expect(broken[3]).toBe(expected[3]);
    expect(broken[1]).toBe(expected[1]);
    expect(broken[0]).not.toBe(expected[0]);
    expect(broken[2]).not.toBe(expected[2]);
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
