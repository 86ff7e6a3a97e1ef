/**
 * napinet.distributed: data-parallel training across processes and machines on MPI (CPU tensors)
 * and NCCL (CUDA tensors), both loaded at run time. Start the ranks with a launcher:
 *
 *   mpirun -np 2 node train.js
 *
 *   const dist = napinet.distributed;
 *   dist.init();                                   // rank 0 of 1 without mpirun
 *   dist.broadcastParameters(model);               // every rank starts from rank 0's weights
 *   for (each step) {
 *     forward/backward on this rank's share of the global batch
 *     dist.allReduceGradients(model.parameters());  // mean gradients over the ranks
 *     optimizer.step();
 *   }
 *   dist.finalize();
 *
 * docs/DISTRIBUTED.md: several machines (hostfile), several GPUs (one rank each), timeouts and
 * what happens when a rank dies.
 *
 * @module
 */
export {
  init, finalize, isInitialized, isMainProcess, rank, worldSize, localRank, localSize, worldInfo, backends, detectLauncher,
  DEFAULT_TIMEOUT_MS, type InitOptions, type WorldInfo, type BackendStatus,
} from './world';
export { allReduce, broadcast, allGather, barrier, type ReduceOp, type CollectiveOptions, type AllReduceOptions } from './collectives';
export {
  allReduceGradients, broadcastParameters, DEFAULT_BUCKET_BYTES,
  type HasGradient, type ParameterLike, type ModuleLike, type AllReduceGradientsOptions, type BroadcastParametersOptions,
} from './gradients';
