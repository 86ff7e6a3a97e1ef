/**
 * CUDA graphs: GPU work recorded once and replayed with one call, which spares the host a launch
 * call per kernel. captureCudaGraph(fn) runs fn while the GPU records instead of running (none of
 * the work fn queues executes then) and returns the recording; graph.launch() queues all of it.
 *
 * A recording keeps every kernel's arguments as they were: the same buffers and the same scalars.
 * It suits work that repeats exactly on tensors that stay where they are, such as a training
 * step's forward and backward passes (fit's cudaGraph option); nothing JavaScript does inside fn
 * happens again on replay. While recording, nothing may wait for the GPU, allocate or copy to or
 * from the host (reading a tensor, a first call that creates a workspace): such a call throws and
 * the recording is dropped. Test: test/cuda-graph.test.ts.
 */
import { cuda } from './device';
import { type CudaGraphHandle, native } from './native';

/** A recorded sequence of GPU work (a CUDA graph) that launch() replays with one host call; made by captureCudaGraph. */
export class CudaGraph {
  private handle: CudaGraphHandle | undefined;

  /** @internal Made by captureCudaGraph. */
  constructor(handle: CudaGraphHandle) {
    this.handle = handle;
  }

  /** Queues the recorded work again, on the calling thread's stream. */
  launch(): void {
    if (!this.handle) throw new Error('This CUDA graph was disposed');
    native().cudaGraphLaunch!(this.handle);
  }

  /** Frees the graph now (after the GPU finished it); a finalizer does it otherwise. */
  dispose(): void {
    if (this.handle) native().cudaGraphDispose!(this.handle);
    this.handle = undefined;
  }

  /** Whether dispose() was called. */
  get disposed(): boolean {
    return this.handle === undefined;
  }
}

/** Records the GPU work `fn` queues as a CUDA graph (see the file comment); fn's work does not run. */
export function captureCudaGraph(fn: () => void): CudaGraph {
  if (typeof fn !== 'function') throw new TypeError(`Expected a function for fn but received ${typeof fn}`);
  if (!cuda.isAvailable()) throw new Error(`CUDA graphs need a usable GPU: ${cuda.info().reason ?? 'unknown reason'}`);
  const addon = native();
  addon.cudaGraphBegin!();
  try {
    fn();
  } catch (error) {
    addon.cudaGraphAbort!();
    throw error;
  }
  return new CudaGraph(addon.cudaGraphEnd!());
}
