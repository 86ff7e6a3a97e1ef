/**
 * The only file that loads the native addon, and the typed description of everything it exports.
 *
 * Where the addon comes from, in order:
 *   1. NAPINET_ADDON=/path/to/napinet.node (an explicit override, e.g. the emulated-CUDA test build);
 *   2. a local build of this checkout (build/Release/napinet.node: cmake-js or node-gyp);
 *   3. the prebuilt binary shipped in prebuilds/<platform>-<arch>/ (found by node-gyp-build);
 * and otherwise an Error that says how to build one.
 *
 * Conventions of the native surface: outputs first, then inputs, then sizes; tensors are
 * Float32Array (CPU) or CudaBuffer (CUDA) and are used in place; Int32Array for labels/indices.
 * Sizes are validated by the TypeScript callers; the addon re-checks and throws, never aborts.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

/**
 * A buffer of float32 or int32 elements in GPU memory, owned by a JavaScript handle (CUDA builds;
 * made by cudaAlloc, zero-filled). A finalizer frees it if it is collected undisposed.
 */
export interface CudaBuffer {
  readonly length: number;
  readonly dtype: 'float32' | 'int32';
  /** The GPU holding it (the N of 'cuda:N'). */
  readonly device: number;
  /** Copies `source` (host; Float32Array for float32, Int32Array for int32) into this buffer starting at element `offset` (default 0). */
  upload(source: Float32Array | Int32Array, offset?: number): void;
  /** Copies elements [offset, offset + target.length) of this buffer into `target` (host), after the work queued before it. */
  download(target: Float32Array | Int32Array, offset?: number): void;
  /** Frees the device memory now; the handle is unusable afterwards (idempotent). */
  dispose(): void;
  readonly disposed: boolean;
}

/** An executable CUDA graph made by cudaGraphEnd (opaque; freed by cudaGraphDispose or a finalizer). */
export type CudaGraphHandle = { readonly __cudaGraph: unique symbol };

/** A tensor's storage as the addon sees it. */
export type NativeBuffer = Float32Array | CudaBuffer;

/** How the loaded addon was built (buildInfo()): with CUDA (or its CPU emulation) or not, its Node-API version and the SIMD instructions its kernels use. */
export interface BuildInfo {
  cuda: boolean;
  cudaEmulated: boolean;
  napiVersion: number;
  simd: string;
}

/**
 * What the CUDA runtime reports (CUDA builds); `reason` says why no GPU is usable. `emulated` is
 * true for the CPU emulation build (npm run build:emu), which reports itself as an available GPU.
 * Versions are CUDA's encoding, 1000·major + 10·minor (driverVersion 0: no driver).
 */
export interface CudaInfo {
  available: boolean;
  reason?: string;
  emulated: boolean;
  /** The device described (the N of 'cuda:N'). */
  index?: number;
  deviceCount?: number;
  name?: string;
  computeCapability?: string;
  multiprocessors?: number;
  totalMemory?: number;
  freeMemory?: number;
  driverVersion?: number;
  runtimeVersion?: number;
  /** What napinet's memory pool holds on this GPU (counted as used in freeMemory), and of it what napinet's live allocations use. */
  poolReservedMemory?: number;
  napinetMemory?: number;
}

/**
 * napinet's memory on one GPU, read fresh (cudaMemory): its live allocations (tensors and
 * workspaces), the stream-ordered memory pool (which keeps freed blocks for reuse, so the device's
 * free memory stays down after a dispose), and the device's free and total memory.
 */
export interface CudaMemory {
  device: number;
  liveBytes: number;
  liveAllocations: number;
  peakLiveBytes: number;
  poolReservedBytes: number;
  poolUsedBytes: number;
  freeBytes: number;
  totalBytes: number;
  /** Frees waiting for this thread's CUDA graph capture to end. */
  deferredFrees: number;
  /** cudaMallocAsync in use (false: cudaMalloc, as with NAPINET_CUDA_POOL=0). */
  streamOrdered: boolean;
}

/** What mpiInit reports: this process's place in the MPI world. */
export interface MpiWorld {
  rank: number;
  size: number;
  localRank: number;
  localSize: number;
  /** MPI_Init_thread's provided level (1: MPI_THREAD_FUNNELED). */
  threadLevel: number;
  library: string;
  version: string;
}

/** Whether libnccl can be loaded (CUDA builds), and which. */
export interface NcclInfo {
  available: boolean;
  reason?: string;
  library?: string;
  /** ncclGetVersion: 10000·major + 100·minor + patch. */
  version?: number;
}

export interface NativeAddon {
  buildInfo(): BuildInfo;
  numThreads(): number;
  setNumThreads(threads: number): void;

  // CUDA device and memory (present in CUDA builds only; see lib/device.ts)
  /** One GPU (default 0); never throws. */
  cudaInfo?(device?: number): CudaInfo;
  /** Every GPU the CUDA runtime sees ([] when none). */
  cudaDevices?(): CudaInfo[];
  /** napinet's memory on one GPU (default 0), read fresh. */
  cudaMemory?(device?: number): CudaMemory;
  /** Gives the memory pool's unused memory back to the GPU (waits for it first). */
  cudaReleaseCachedMemory?(device?: number): void;
  /** A zeroed buffer on GPU `device` (default 0). */
  cudaAlloc?(length: number, dtype: 'float32' | 'int32', device?: number): CudaBuffer;
  /** Waits for the work queued on one GPU, or on every GPU used. */
  cudaSynchronize?(device?: number): void;
  /** CUDA graphs (native/binding/cuda/graph.cc): record this thread's GPU work on `device` (default 0), replay it. */
  cudaGraphBegin?(device?: number): void;
  cudaGraphEnd?(): CudaGraphHandle;
  cudaGraphAbort?(): void;
  cudaGraphLaunch?(graph: CudaGraphHandle): void;
  cudaGraphDispose?(graph: CudaGraphHandle): void;
  /** The CUDA emulator's self-test kernels (emulator builds only; typed in test/cuda-emu.test.ts). */
  cudaEmuSelftest?(): unknown;

  // distributed, MPI backend (native/distributed/mpi.h; lib/distributed/): CPU tensors in place.
  // libmpi is opened at run time; every collective polls non-blocking MPI calls until timeoutMs.
  /** Loads libmpi (without initialising MPI) and returns its version line; throws naming what to install. */
  mpiLibraryVersion(): string;
  mpiInit(): MpiWorld;
  mpiFinalize(): void;
  /** MPI_Abort: the launcher ends every rank (no-op before init). */
  mpiAbort(code: number): void;
  /** Each buffer summed over the ranks (mean: then divided by the world size), in place. */
  mpiAllReduce(buffers: Float32Array[], mean: boolean, timeoutMs: number): void;
  /** Each buffer's bytes from rank `root`, in place. */
  mpiBroadcast(buffers: (Float32Array | Int32Array | Uint8Array)[], root: number, timeoutMs: number): void;
  /** out[r·n + i] = rank r's x[i] (out holds worldSize·n values). */
  mpiAllGather(out: Float32Array, x: Float32Array, timeoutMs: number): void;
  mpiBarrier(timeoutMs: number): void;

  // distributed, NCCL backend (cuda/nccl.h; CUDA builds): CUDA tensors, on napinet's stream.
  ncclInfo?(): NcclInfo;
  /** ncclGetUniqueId: made on rank 0 and broadcast to the others before ncclInit. */
  ncclUniqueId?(): Uint8Array;
  /** ncclCommInitRank on GPU `device` (default 0), which every later NCCL call must use. */
  ncclInit?(id: Uint8Array, worldSize: number, rank: number, device?: number): void;
  ncclFinalize?(): void;
  ncclAllReduce?(buffers: CudaBuffer[], mean: boolean, timeoutMs: number): void;
  ncclBroadcast?(buffers: CudaBuffer[], root: number, timeoutMs: number): void;
  ncclAllGather?(out: CudaBuffer, x: CudaBuffer, worldSize: number, timeoutMs: number): void;

  // activation (native/kernels/activation.h)
  reluForward(y: NativeBuffer, x: NativeBuffer, n: number): void;
  reluBackward(dx: NativeBuffer, dy: NativeBuffer, y: NativeBuffer, n: number): void;

  // gemm (native/kernels/gemm.h): c[m,n] = alpha·op(a)·op(b) + beta·c
  gemm(
    c: NativeBuffer, a: NativeBuffer, b: NativeBuffer, m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number,
  ): void;

  // linear (native/kernels/linear.h)
  linearForward(
    y: NativeBuffer, x: NativeBuffer, w: NativeBuffer, b: NativeBuffer | null,
    n: number, inFeatures: number, outFeatures: number,
  ): void;
  linearBackward(
    dx: NativeBuffer | null, dw: NativeBuffer, db: NativeBuffer | null, dy: NativeBuffer,
    x: NativeBuffer, w: NativeBuffer, n: number, inFeatures: number, outFeatures: number,
    accumulate: boolean,
  ): void;

  // conv2d (native/kernels/conv2d.h); algorithm: 0 auto, 1 direct, 2 im2col
  conv2dForward(
    y: NativeBuffer, x: NativeBuffer, w: NativeBuffer, b: NativeBuffer | null,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, algorithm: number,
  ): void;
  conv2dBackward(
    dx: NativeBuffer | null, dw: NativeBuffer, db: NativeBuffer | null, dy: NativeBuffer, x: NativeBuffer, w: NativeBuffer,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, accumulate: boolean, algorithm: number,
  ): void;

  // pooling (native/kernels/pool2d.h); indices are flat h·W + w offsets into each input plane
  maxPool2dForward(y: NativeBuffer, indices: Int32Array | CudaBuffer, x: NativeBuffer, N: number, C: number, H: number, W: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number): void;
  maxPool2dBackward(dx: NativeBuffer, dy: NativeBuffer, indices: Int32Array | CudaBuffer, N: number, C: number, H: number, W: number, OH: number, OW: number): void;
  avgPool2dForward(y: NativeBuffer, x: NativeBuffer, N: number, C: number, H: number, W: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, countIncludePad: boolean): void;
  avgPool2dBackward(dx: NativeBuffer, dy: NativeBuffer, N: number, C: number, H: number, W: number, kh: number, kw: number, sh: number, sw: number, ph: number, pw: number, countIncludePad: boolean): void;

  // softmax cross-entropy (native/kernels/loss.h); stats = [Σ per-sample loss, correct count]
  softmaxCrossEntropyForward(probs: NativeBuffer, stats: NativeBuffer, logits: NativeBuffer, labels: Int32Array | CudaBuffer, N: number, C: number, labelSmoothing: number, accumulate: boolean): void;
  softmaxCrossEntropyBackward(dlogits: NativeBuffer, probs: NativeBuffer, labels: Int32Array | CudaBuffer, N: number, C: number, labelSmoothing: number, scale: number): void;

  // optimizers (native/kernels/optim.h); step counts from 1
  /** Every tensor of an optimizer at once (each param's whole buffer); one GPU launch per 16 tensors. */
  adamStepMany(
    params: NativeBuffer[], grads: NativeBuffer[], expAvgs: NativeBuffer[], expAvgSqs: NativeBuffer[],
    lr: number, beta1: number, beta2: number, eps: number, weightDecay: number, step: number, decoupled: boolean,
  ): void;
  sgdStep(param: NativeBuffer, grad: NativeBuffer, momentumBuffer: NativeBuffer | null, n: number, lr: number, momentum: number, dampening: number, weightDecay: number, nesterov: boolean, firstStep: boolean): void;

  // softmax (native/kernels/softmax.h)
  softmaxForward(y: NativeBuffer, x: NativeBuffer, N: number, C: number): void;

  /** Asks for transparent huge pages behind a new host array's whole 2 MiB pages (Linux; native/binding/addon.cc); false where not given. */
  adviseHugePages(array: Float32Array | Int32Array): boolean;

  // fill (native/kernels/fill.h)
  fill(x: NativeBuffer, value: number, n: number): void;
  fillInt32(x: Int32Array | CudaBuffer, value: number, n: number): void;
  /** Each buffer whole; one GPU launch per 16 buffers. */
  fillMany(xs: NativeBuffer[], value: number): void;

  // batched gemm (cuda/api.h, cuda/gemm.cu; CUDA builds only, CudaBuffers only, no CPU kernel).
  // Item i: c + i·strideC, a + i·strideA, b + i·strideB (a stride of 0 shares one matrix).
  /** c_i = alpha·op(a_i)·op(b_i) + beta·c_i + bias (per row of c_i when biasPerRow, else per column). */
  cudaGemmStridedBatched?(
    c: CudaBuffer, a: CudaBuffer, b: CudaBuffer, bias: CudaBuffer | null, m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number, biasPerRow: boolean,
    batch: number, strideC: number, strideA: number, strideB: number,
  ): void;
  /** c = alpha·Σ_i op(a_i)·op(b_i) + beta·c, summed in a fixed order. */
  cudaGemmBatchSum?(
    c: CudaBuffer, a: CudaBuffer, b: CudaBuffer, m: number, n: number, k: number,
    transA: boolean, transB: boolean, alpha: number, beta: number,
    batch: number, strideA: number, strideB: number,
  ): void;

  // ternary convolution (native/kernels/ternary_conv2d.h); w: int32 codes -1, 0, +1
  ternaryConv2dForward(
    y: NativeBuffer, x: NativeBuffer, w: Int32Array | CudaBuffer, b: NativeBuffer | null,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number,
  ): void;

  // fused convolution + 2×2 max-pool (+ ReLU) (native/kernels/conv2d.h, cuda/conv2d.cu)
  conv2dMaxPool2dForward(
    y: NativeBuffer, indices: Int32Array | CudaBuffer, x: NativeBuffer, w: NativeBuffer, b: NativeBuffer | null,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, relu: boolean,
  ): void;
  conv2dMaxPool2dBackward(
    dx: NativeBuffer | null, dw: NativeBuffer, db: NativeBuffer | null, dy: NativeBuffer, indices: Int32Array | CudaBuffer,
    y: NativeBuffer | null, x: NativeBuffer, w: NativeBuffer,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, accumulate: boolean,
  ): void;
  /** The direct convolution kernels' instruction set: 'avx512', 'avx2', 'neon' (AArch64) or 'generic'. */
  conv2dIsa(): string;

  // fused convolution → batch norm (training) → ReLU (→ 2×2 max-pool), CPU only
  // (native/kernels/conv2d_batchnorm.h); indices (and y in backward) are used only with pool
  conv2dBatchNormReluForward(
    y: NativeBuffer, indices: Int32Array | CudaBuffer | null, z: NativeBuffer | null, saveMean: NativeBuffer, saveInvstd: NativeBuffer,
    saveAffine: NativeBuffer, runningMean: NativeBuffer | null, runningVar: NativeBuffer | null, numBatchesTracked: NativeBuffer | null,
    x: NativeBuffer, w: NativeBuffer, convBias: NativeBuffer | null, weight: NativeBuffer | null, bias: NativeBuffer | null,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, pool: boolean, momentum: number, cumulativeAverage: boolean, eps: number,
  ): void;
  /** Whether the fused block recomputes the convolution's output rather than keep z (z null then). */
  conv2dBatchNormReluRecomputes(
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, pool: boolean, convBias: boolean,
  ): boolean;
  /** Inference's convolution → ReLU (→ 2×2 max-pool without indices; z receives the convolution's output). */
  conv2dReluForward(
    y: NativeBuffer, z: NativeBuffer | null, x: NativeBuffer, w: NativeBuffer, b: NativeBuffer | null,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, pooled: boolean,
  ): void;
  conv2dBatchNormReluBackward(
    dx: NativeBuffer | null, dw: NativeBuffer, convDb: NativeBuffer | null, dweight: NativeBuffer | null, dbias: NativeBuffer | null,
    dy: NativeBuffer, indices: Int32Array | CudaBuffer | null, y: NativeBuffer | null, z: NativeBuffer | null, x: NativeBuffer, w: NativeBuffer,
    weight: NativeBuffer | null, saveMean: NativeBuffer, saveInvstd: NativeBuffer, saveAffine: NativeBuffer,
    N: number, C: number, H: number, W: number, K: number, kh: number, kw: number,
    sh: number, sw: number, ph: number, pw: number, pool: boolean, accumulate: boolean,
  ): void;

  // batch gather (native/kernels/gather.h, cuda/gather.cu): each tensor float32 or int32, moved as 32-bit words
  gatherBatch(
    x: NativeBuffer | Int32Array, y: NativeBuffer | Int32Array, inputs: NativeBuffer | Int32Array, targets: NativeBuffer | Int32Array,
    order: Int32Array | CudaBuffer, start: number, count: number, xRowLength: number, yRowLength: number,
  ): void;

  // more activations (native/kernels/activation.h); backward from the output y (sigmoid, tanh) or the input x
  sigmoidForward(y: NativeBuffer, x: NativeBuffer, n: number): void;
  sigmoidBackward(dx: NativeBuffer, dy: NativeBuffer, y: NativeBuffer, n: number): void;
  tanhForward(y: NativeBuffer, x: NativeBuffer, n: number): void;
  tanhBackward(dx: NativeBuffer, dy: NativeBuffer, y: NativeBuffer, n: number): void;
  leakyReluForward(y: NativeBuffer, x: NativeBuffer, negativeSlope: number, n: number): void;
  leakyReluBackward(dx: NativeBuffer, dy: NativeBuffer, x: NativeBuffer, negativeSlope: number, n: number): void;
  eluForward(y: NativeBuffer, x: NativeBuffer, alpha: number, n: number): void;
  eluBackward(dx: NativeBuffer, dy: NativeBuffer, x: NativeBuffer, alpha: number, n: number): void;
  geluForward(y: NativeBuffer, x: NativeBuffer, approximateTanh: boolean, n: number): void;
  geluBackward(dx: NativeBuffer, dy: NativeBuffer, x: NativeBuffer, approximateTanh: boolean, n: number): void;
  softplusForward(y: NativeBuffer, x: NativeBuffer, beta: number, threshold: number, n: number): void;
  softplusBackward(dx: NativeBuffer, dy: NativeBuffer, x: NativeBuffer, beta: number, threshold: number, n: number): void;

  // softmax backward and log-softmax (native/kernels/softmax.h), [N, C]
  softmaxBackward(dx: NativeBuffer, dy: NativeBuffer, y: NativeBuffer, N: number, C: number): void;
  logSoftmaxForward(y: NativeBuffer, x: NativeBuffer, N: number, C: number): void;
  logSoftmaxBackward(dx: NativeBuffer, dy: NativeBuffer, y: NativeBuffer, N: number, C: number): void;

  // batch normalisation (native/kernels/batchnorm.h): values [N, C, L], statistics and affine parameters [C]
  batchNormForwardTrain(
    y: NativeBuffer, saveMean: NativeBuffer, saveInvstd: NativeBuffer, runningMean: NativeBuffer | null,
    runningVar: NativeBuffer | null, numBatchesTracked: NativeBuffer | null, x: NativeBuffer,
    weight: NativeBuffer | null, bias: NativeBuffer | null, N: number, C: number, L: number,
    momentum: number, cumulativeAverage: boolean, eps: number,
  ): void;
  batchNormForwardEval(
    y: NativeBuffer, x: NativeBuffer, runningMean: NativeBuffer, runningVar: NativeBuffer,
    weight: NativeBuffer | null, bias: NativeBuffer | null, N: number, C: number, L: number, eps: number,
  ): void;
  batchNormBackwardTrain(
    dx: NativeBuffer | null, dweight: NativeBuffer | null, dbias: NativeBuffer | null, dy: NativeBuffer,
    x: NativeBuffer, saveMean: NativeBuffer, saveInvstd: NativeBuffer, weight: NativeBuffer | null,
    N: number, C: number, L: number, accumulate: boolean,
  ): void;
  batchNormBackwardEval(
    dx: NativeBuffer | null, dweight: NativeBuffer | null, dbias: NativeBuffer | null, dy: NativeBuffer,
    x: NativeBuffer, runningMean: NativeBuffer, runningVar: NativeBuffer, weight: NativeBuffer | null,
    N: number, C: number, L: number, eps: number, accumulate: boolean,
  ): void;

  // dropout (native/kernels/dropout.h): the 64-bit Philox seed as two unsigned 32-bit halves
  dropoutForward(y: NativeBuffer, x: NativeBuffer, seedLow: number, seedHigh: number, p: number, n: number): void;
  dropoutBackward(dx: NativeBuffer, dy: NativeBuffer, seedLow: number, seedHigh: number, p: number, n: number): void;

  // concat (native/kernels/concat.h): y[:, offset : offset + Cx] = x and back; y += x
  concatChannels(y: NativeBuffer, x: NativeBuffer, N: number, Cy: number, offset: number, Cx: number, inner: number): void;
  splitChannels(x: NativeBuffer, y: NativeBuffer, N: number, Cy: number, offset: number, Cx: number, inner: number): void;
  addInto(y: NativeBuffer, x: NativeBuffer, n: number): void;

  // BCE with logits and MSE, mean reduction (native/kernels/pointwise_loss.h); stats = [Σ_samples mean loss, Σ_samples accuracy]
  bceWithLogitsForward(stats: NativeBuffer, x: NativeBuffer, target: NativeBuffer, posWeight: NativeBuffer | null, N: number, M: number, P: number, accumulate: boolean): void;
  bceWithLogitsBackward(dx: NativeBuffer, x: NativeBuffer, target: NativeBuffer, posWeight: NativeBuffer | null, count: number, P: number, scale: number): void;
  mseForward(stats: NativeBuffer, x: NativeBuffer, target: NativeBuffer, N: number, M: number, accumulate: boolean): void;
  mseBackward(dx: NativeBuffer, x: NativeBuffer, target: NativeBuffer, count: number, scale: number): void;

  // strided elementwise ops (native/kernels/elementwise.h, op_math.h): every tensor is a view
  // (offset, strides) over `shape`; an input may be a number (a scalar everywhere; its offset and
  // strides are then ignored). accumulate: out += f(…). op: an index into elementwiseOpNames().
  elementwiseUnary(
    op: number, out: NativeBuffer, outOffset: number, outStrides: readonly number[],
    x: NativeBuffer | number, xOffset: number, xStrides: readonly number[] | null,
    shape: readonly number[], alpha: number, beta: number, accumulate: boolean,
  ): void;
  elementwiseBinary(
    op: number, out: NativeBuffer, outOffset: number, outStrides: readonly number[],
    a: NativeBuffer | number, aOffset: number, aStrides: readonly number[] | null,
    b: NativeBuffer | number, bOffset: number, bStrides: readonly number[] | null,
    shape: readonly number[], alpha: number, beta: number, accumulate: boolean,
  ): void;
  elementwiseTernary(
    op: number, out: NativeBuffer, outOffset: number, outStrides: readonly number[],
    a: NativeBuffer | number, aOffset: number, aStrides: readonly number[] | null,
    b: NativeBuffer | number, bOffset: number, bStrides: readonly number[] | null,
    c: NativeBuffer | number, cOffset: number, cStrides: readonly number[] | null,
    shape: readonly number[], accumulate: boolean,
  ): void;
  /** The op names of each arity, in op-number order. */
  elementwiseOpNames(): { unary: string[]; binary: string[]; ternary: string[] };

  // reductions (native/kernels/reduce.h): x contiguous of `shape`, the `dims` reduced; out in
  // keepdim layout; indices (int32) only for max / min; correction: var's.
  reduce(
    op: number, out: NativeBuffer, indices: Int32Array | CudaBuffer | null, x: NativeBuffer,
    shape: readonly number[], dims: readonly number[], correction: number,
  ): void;
  /** The reduction names, in op-number order. */
  reduceOpNames(): string[];

  // batched gemm (native/kernels/gemm.h gemm_batched, cuda/gemm.cu), both devices:
  // c_i = alpha·op(a_i)·op(b_i) + beta·c_i, item i at c + i·strideC, a + i·strideA, b + i·strideB
  gemmBatched(
    c: NativeBuffer, a: NativeBuffer, b: NativeBuffer, batch: number, m: number, n: number, k: number,
    transA: boolean, transB: boolean, strideA: number, strideB: number, strideC: number, alpha: number, beta: number,
  ): void;

  // indexing (native/kernels/indexing.h); indices int32, checked against the indexed dimension
  indexSelect(out: NativeBuffer, x: NativeBuffer, indices: Int32Array | CudaBuffer, outer: number, dimSize: number, inner: number, count: number): void;
  indexAdd(out: NativeBuffer, src: NativeBuffer, indices: Int32Array | CudaBuffer, outer: number, dimSize: number, inner: number, count: number): void;
  gather(out: NativeBuffer, x: NativeBuffer, index: Int32Array | CudaBuffer, xShape: readonly number[], indexShape: readonly number[], dim: number): void;
  scatterAdd(out: NativeBuffer, src: NativeBuffer, index: Int32Array | CudaBuffer, outShape: readonly number[], indexShape: readonly number[], dim: number): void;
}

/** Path of the package root (the folder holding package.json), from lib/ or dist/cjs/. */
export function packageRoot(): string {
  let dir = __dirname;
  for (;;) {
    const manifest = path.join(dir, 'package.json');
    if (fs.existsSync(manifest)) {
      try {
        if (JSON.parse(fs.readFileSync(manifest, 'utf8')).name === 'napinet') return dir;
      } catch {
        // not a readable manifest: keep looking upward
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('napinet: cannot find the package root above ' + __dirname);
    dir = parent;
  }
}

/** Which addon binary was loaded (addonSource()): an override (NAPINET_ADDON), a local build or a prebuilt one, and its path. */
export interface AddonSource {
  kind: 'override' | 'local build' | 'prebuilt';
  path: string;
}

function loadAddon(): { addon: NativeAddon; source: AddonSource } {
  const root = packageRoot();
  const tried: string[] = [];
  const override = process.env.NAPINET_ADDON;
  if (override) {
    const file = path.resolve(override);
    try {
      return { addon: require(file) as NativeAddon, source: { kind: 'override', path: file } };
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'MODULE_NOT_FOUND' ? 'no such file' : (error as Error).message.split('\n')[0];
      throw new Error(`napinet: cannot load the addon that NAPINET_ADDON names (${file}): ${reason}`);
    }
  }
  const local = path.join(root, 'build', 'Release', 'napinet.node');
  if (fs.existsSync(local)) {
    return { addon: require(local) as NativeAddon, source: { kind: 'local build', path: local } };
  }
  tried.push(local);
  try {
    // node-gyp-build picks prebuilds/<platform>-<arch>/*.node matching this runtime.
    const nodeGypBuild = require('node-gyp-build') as { path(dir: string): string };
    const prebuilt = nodeGypBuild.path(root);
    return { addon: require(prebuilt) as NativeAddon, source: { kind: 'prebuilt', path: prebuilt } };
  } catch (error) {
    tried.push(`prebuilds/${process.platform}-${process.arch}/ (${(error as Error).message.split('\n')[0]})`);
  }
  throw new Error(
    [
      `napinet: no native addon for ${process.platform}-${process.arch} (Node ${process.version}).`,
      `Looked for: ${tried.join('; ')}.`,
      `Build one from source in the napinet package folder (${root}):`,
      '  npx node-gyp rebuild          # CPU only; needs Python 3, make and a C++17 compiler',
      '  npx cmake-js compile          # CMake build; adds the CUDA kernels when nvcc is on PATH',
      'or point NAPINET_ADDON at a napinet.node you built.',
    ].join('\n'),
  );
}

let loaded: { addon: NativeAddon; source: AddonSource } | undefined;

/** The native addon, loaded on first use. */
export function native(): NativeAddon {
  loaded ??= loadAddon();
  return loaded.addon;
}

/** How the loaded addon was built: CUDA or not (or emulated), its Node-API version and SIMD level. */
export function buildInfo(): BuildInfo {
  return native().buildInfo();
}

/** Which file the addon was loaded from, and why. */
export function addonSource(): AddonSource {
  native();
  return loaded!.source;
}
