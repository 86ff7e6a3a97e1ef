/**
 * The NCCL communicator behind collectives on CUDA tensors: one per process, on its GPU, made on
 * the first CUDA collective. Rank 0 makes NCCL's unique id, MPI broadcasts it, and every rank
 * joins with it (ncclCommInitRank) — the usual way of bootstrapping NCCL from MPI.
 *
 * Each rank needs its own GPU: on a machine with several, start each rank with
 * CUDA_VISIBLE_DEVICES set to its local rank (docs/DISTRIBUTED.md); NCCL refuses two ranks on one.
 * The communicator is bound to the GPU of the tensors of the first CUDA collective ('cuda:N');
 * a later collective on another GPU's tensors is an error naming both.
 */
import { type CudaDevice, cudaIndex } from '../device';
import { native } from '../native';
import { currentWorld, onFinalize } from './world';

let communicator: 'none' | 'world' | 'local' = 'none';
let communicatorDevice: CudaDevice = 'cuda:0';

function unavailable(reason: string): Error {
  const error = new Error(`napinet.distributed: CUDA tensors are reduced with NCCL, which cannot be used here: ${reason}`);
  (error as Error & { code: string }).code = 'ERR_NAPINET_DISTRIBUTED_UNAVAILABLE';
  return error;
}

function loadedNccl(): void {
  const addon = native();
  if (!addon.ncclInfo) throw unavailable('this napinet addon was built without CUDA');
  const info = addon.ncclInfo();
  if (!info.available) throw unavailable(info.reason ?? 'unknown reason');
}

/**
 * The communicator of the MPI world on `device`, made on first use (a collective call: every rank
 * makes it); a communicator made for another GPU is an error.
 */
export function ensureNcclCommunicator(device: CudaDevice, timeoutMs: number): void {
  if (communicator !== 'none') {
    if (device !== communicatorDevice) {
      throw new Error(
        `napinet.distributed: this process's NCCL communicator is on ${communicatorDevice} (its first CUDA collective's GPU) but received tensors on ${device}: ` +
          'keep a rank on one GPU (start each rank with CUDA_VISIBLE_DEVICES set to its local rank)',
      );
    }
    return;
  }
  const { info } = currentWorld('a collective on CUDA tensors');
  loadedNccl();
  const addon = native();
  const id = info.rank === 0 ? addon.ncclUniqueId!() : new Uint8Array(128);
  addon.mpiBroadcast([id], 0, timeoutMs);
  addon.ncclInit!(id, info.worldSize, info.rank, cudaIndex(device));
  communicator = 'world';
  communicatorDevice = device;
  onFinalize(closeNcclCommunicator);
}

/**
 * A communicator of this process alone, in a world of one started without a launcher, so that
 * CUDA collectives really go through NCCL (scripts/gpu-distributed.mjs: the GPU check proves the
 * library loads and an all-reduce runs on the GPU without MPI). Not needed otherwise.
 */
export function createLocalNcclCommunicator(device: CudaDevice = 'cuda:0'): void {
  const { info } = currentWorld('createLocalNcclCommunicator()');
  if (info.worldSize !== 1) throw new Error('napinet.distributed: a local NCCL communicator is only for a world of one process');
  if (communicator !== 'none') return;
  loadedNccl();
  const addon = native();
  addon.ncclInit!(addon.ncclUniqueId!(), 1, 0, cudaIndex(device));
  communicator = 'local';
  communicatorDevice = device;
  onFinalize(closeNcclCommunicator);
}

/** Whether CUDA collectives in a world of one go through NCCL (createLocalNcclCommunicator). */
export function hasLocalNcclCommunicator(): boolean {
  return communicator === 'local';
}

function closeNcclCommunicator(): void {
  if (communicator === 'none') return;
  native().ncclFinalize!();
  communicator = 'none';
}
