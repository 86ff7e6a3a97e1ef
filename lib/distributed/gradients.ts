/**
 * Data-parallel helpers over plain lists, so they do not depend on the nn classes: what a training
 * loop (or a DistributedDataParallel wrapper) calls around each step.
 *
 *   broadcastParameters(model)     once at the start: every rank takes rank 0's parameters and
 *                                  buffers (BatchNorm's running statistics), as PyTorch DDP does
 *   allReduceGradients(params)     after backward, before optimizer.step(): every rank's
 *                                  gradients replaced by their mean over the ranks
 *
 * Gradients travel in buckets of about 25 MB (PyTorch DDP's bucket_cap_mb), filled in the order
 * given (the same on every rank): on the CPU each bucket is one flat buffer and one MPI all-reduce
 * (a gradient alone in its bucket is reduced in place), all buckets started before any is waited
 * for; on the GPU each bucket is one NCCL group of in-place all-reduces.
 *
 * With mean gradients the optimizer sees, on every rank, the gradient of the loss averaged over
 * the global batch, when each rank's loss is the mean over its equal share of that batch; so
 * N ranks with batch B/N each follow the trajectory of one process with batch B, up to rounding
 * (test/distributed.test.ts trains both and compares).
 */
import { type Device, isCuda } from '../device';
import { type NativeBuffer } from '../native';
import { Tensor } from '../tensor';
import { expectInt, expectOneOf, fail } from '../validate';
import {
  type CollectiveOptions, type ReduceOp, allReduceBuffers, broadcastBuffers, communicates, expectSameLayoutOnEveryRank, expectTensor, timeoutOf,
} from './collectives';
import { currentWorld } from './world';

/** Anything with a gradient: an nn.Parameter, or any tensor-like object with .grad. */
export interface HasGradient {
  readonly grad: Tensor | null | undefined;
}

/** A parameter: a Tensor (nn.Parameter is one). */
export type ParameterLike = Tensor;

/** A module as broadcastParameters reads it: its parameters and, if it has them, its buffers. */
export interface ModuleLike {
  /** The parameters whose values the root broadcasts. */
  parameters(): Iterable<ParameterLike>;
  /** Optional: buffers (BatchNorm statistics) broadcast with them. */
  namedBuffers?(): Iterable<readonly [string, Tensor]>;
}

/** Options of allReduceGradients: bucket size, reduction and time limit. */
export interface AllReduceGradientsOptions extends CollectiveOptions {
  /** Most bytes per bucket (default 25 MiB); a larger gradient has a bucket of its own. */
  bucketBytes?: number;
  /** 'mean' (default: data-parallel averaging) or 'sum'. */
  op?: ReduceOp;
}

/** The default bucket size of allReduceGradients: 25 MiB, PyTorch DDP's. */
export const DEFAULT_BUCKET_BYTES = 25 * 1024 * 1024;

/** Flat buffers of the CPU buckets, reused from call to call (index → buffer). */
const flatBuffers: Float32Array[] = [];
let layoutChecked = false;

/** The gradient tensors of `parameters`, in order; a parameter without one (null) is skipped. */
function gradientsOf(parameters: Iterable<HasGradient | Tensor>): Tensor[] {
  if (parameters === null || typeof (parameters as Iterable<unknown>)?.[Symbol.iterator] !== 'function') {
    fail('an iterable of parameters (objects with .grad) or gradient tensors', 'parameters', parameters);
  }
  const grads: Tensor[] = [];
  let i = 0;
  for (const item of parameters) {
    const name = `parameters[${i++}]`;
    if (item !== null && typeof item === 'object' && 'grad' in item) {
      if (item.grad === null || item.grad === undefined) continue;
      grads.push(expectTensor(item.grad, `${name}.grad`));
    } else {
      grads.push(expectTensor(item, name));
    }
  }
  return grads;
}

function commonDevice(tensors: Tensor[], what: string): Device {
  const device = tensors[0].device;
  tensors.forEach((t, i) => {
    if (t.device !== device) fail(`a tensor on ${device} like ${what}[0]`, `${what}[${i}]`, `a tensor on ${t.device}`);
  });
  return device;
}

/** Consecutive runs of tensors of at most bucketBytes together (at least one each). */
export function planBuckets(sizes: readonly number[], bucketBytes: number): number[][] {
  const buckets: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, i) => {
    if (current.length > 0 && bytes + 4 * size > bucketBytes) {
      buckets.push(current);
      current = [];
      bytes = 0;
    }
    current.push(i);
    bytes += 4 * size;
  });
  if (current.length > 0) buckets.push(current);
  return buckets;
}

/**
 * Replaces each gradient by its mean (or sum) over the ranks, in place. `parameters`: objects with
 * a `grad` tensor (null/undefined grads are skipped: every rank must skip the same ones) or the
 * gradient tensors themselves, in the same order on every rank. The first call checks that every
 * rank passes as many gradients of as many values.
 */
export function allReduceGradients(parameters: Iterable<HasGradient | Tensor>, options: AllReduceGradientsOptions = {}): void {
  const world = currentWorld('allReduceGradients()');
  const timeoutMs = timeoutOf(options, world.timeoutMs);
  const bucketBytes = options.bucketBytes === undefined ? DEFAULT_BUCKET_BYTES : expectInt(options.bucketBytes, 'options.bucketBytes', 4);
  const op = options.op === undefined ? 'mean' : expectOneOf(options.op, 'options.op', ['sum', 'mean'] as const);
  const grads = gradientsOf(parameters);
  if (grads.length === 0) return;
  const device = commonDevice(grads, 'gradients');
  if (!communicates(device, world.info.backend)) return; // a world of one: the mean is the gradient
  if (!layoutChecked) {
    expectSameLayoutOnEveryRank('allReduceGradients()', grads.length, grads.reduce((n, g) => n + g.size, 0), timeoutMs);
    layoutChecked = true;
  }
  const buckets = planBuckets(grads.map((g) => g.size), bucketBytes);
  const mean = op === 'mean';
  if (isCuda(device)) {
    for (const bucket of buckets) allReduceBuffers(device, bucket.map((i) => grads[i].buffer), mean, timeoutMs);
    return;
  }
  // CPU: one flat buffer per bucket (a lone gradient is its own), all reduced in one call.
  const flats = buckets.map((bucket, b) => {
    if (bucket.length === 1) return grads[bucket[0]].data as Float32Array;
    const length = bucket.reduce((n, i) => n + grads[i].size, 0);
    if (flatBuffers[b]?.length !== length) flatBuffers[b] = new Float32Array(length);
    const flat = flatBuffers[b];
    let offset = 0;
    for (const i of bucket) {
      flat.set(grads[i].data as Float32Array, offset);
      offset += grads[i].size;
    }
    return flat;
  });
  allReduceBuffers('cpu', flats, mean, timeoutMs);
  buckets.forEach((bucket, b) => {
    if (bucket.length === 1) return;
    let offset = 0;
    for (const i of bucket) {
      (grads[i].data as Float32Array).set(flats[b].subarray(offset, offset + grads[i].size));
      offset += grads[i].size;
    }
  });
}

/** Options of broadcastParameters: the root rank and the time limit. */
export interface BroadcastParametersOptions extends CollectiveOptions {
  /** The rank whose values everyone takes (default 0). */
  root?: number;
}

function isModuleLike(source: unknown): source is ModuleLike {
  return typeof source === 'object' && source !== null && typeof (source as ModuleLike).parameters === 'function';
}

/** The tensors broadcastParameters moves: parameters, then buffers, in order. */
function stateTensors(source: ModuleLike | Iterable<ParameterLike>): Tensor[] {
  const items: ParameterLike[] = [];
  let buffers: Tensor[] = [];
  if (isModuleLike(source)) {
    items.push(...source.parameters());
    if (typeof source.namedBuffers === 'function') buffers = [...source.namedBuffers()].map(([, b]) => b);
  } else if (source !== null && typeof (source as Iterable<ParameterLike>)?.[Symbol.iterator] === 'function') {
    items.push(...(source as Iterable<ParameterLike>));
  } else {
    fail('a module (with parameters()) or an iterable of tensors or parameters', 'source', source);
  }
  const tensors = items.map((item, i) => expectTensor(item, `parameters[${i}]`, true));
  return [...tensors, ...buffers.map((b, i) => expectTensor(b, `buffers[${i}]`, true))];
}

/**
 * Copies rank `root`'s (default 0) parameters and buffers into every rank's, in place: a module
 * (its parameters() and namedBuffers()) or an iterable of tensors / parameters. Call it once after
 * building the model on every rank, before training, so that all ranks start from the same weights
 * whatever their random initialisation.
 */
export function broadcastParameters(source: ModuleLike | Iterable<ParameterLike>, options: BroadcastParametersOptions = {}): void {
  const world = currentWorld('broadcastParameters()');
  const timeoutMs = timeoutOf(options, world.timeoutMs);
  const root = options.root === undefined ? 0 : expectInt(options.root, 'options.root', 0, world.info.worldSize - 1);
  const tensors = stateTensors(source);
  if (tensors.length === 0) return;
  expectSameLayoutOnEveryRank('broadcastParameters()', tensors.length, tensors.reduce((n, t) => n + t.size, 0), timeoutMs);
  for (const device of new Set(tensors.map((t) => t.device))) {
    const onDevice = tensors.filter((t) => t.device === device).map((t) => t.buffer as NativeBuffer | Int32Array);
    broadcastBuffers(device, onDevice, root, timeoutMs);
  }
}
