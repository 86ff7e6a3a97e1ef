/**
 * The distributed world: which process this is among how many, as the launcher (mpirun) started
 * them. After torch.distributed's init_process_group / get_rank / get_world_size and Horovod's
 * init / rank / size / local_rank: the launcher owns process start-up, napinet joins the world it
 * made.
 *
 * init() outside a launcher gives a world of one process (rank 0 of 1): every collective is then
 * the identity, so one script runs with and without mpirun. With `{ requireLauncher: true }` (what
 * a `--distributed` flag should pass) it throws instead. Under a launcher it opens libmpi (at run
 * time: napinet links no MPI) and initialises it; a missing library throws an Error whose code is
 * ERR_NAPINET_DISTRIBUTED_UNAVAILABLE and whose message says what to install.
 *
 * Every rank must call finalize() at the end. A rank that exits without it, or with an error, makes
 * mpirun end the others (SIGTERM, which napinet explains on stderr): that is how one failing rank
 * stops the job within seconds instead of leaving the others waiting.
 */
import * as os from 'node:os';
import { type MpiWorld, native } from '../native';
import { expectBoolean, expectInt, fail } from '../validate';

/** Options of init(): whether a launcher is required, the time limit of collectives, and the CPU threads each rank uses. */
export interface InitOptions {
  /**
   * Throw when the process was not started by a launcher, instead of forming a world of one
   * (default false).
   */
  requireLauncher?: boolean;
  /** Default limit of every collective, in milliseconds (default 60 000). */
  timeoutMs?: number;
  /**
   * Kernel threads of this rank, under a launcher: 'auto' (default) gives each rank the CPUs it may
   * run on (mpirun binds each rank to its own cores), shared evenly by the ranks on the machine;
   * 'keep' leaves napinet's setting alone; a number sets it.
   */
  threadsPerRank?: number | 'auto' | 'keep';
}

/** Where this process stands in the world: its rank, the world size, and its rank and count on this machine. */
export interface WorldInfo {
  rank: number;
  worldSize: number;
  /** Rank among the processes on this machine (use it to pick a GPU). */
  localRank: number;
  localSize: number;
  /** 'mpi' under a launcher; 'none' for the world of one outside it. */
  backend: 'mpi' | 'none';
  /** The launcher's variable that was found (e.g. OMPI_COMM_WORLD_SIZE), if any. */
  launcher?: string;
  /** The MPI library and its version line (backend 'mpi'). */
  mpiLibrary?: string;
  mpiVersion?: string;
}

/** The default time limit of a collective: 60 s. */
export const DEFAULT_TIMEOUT_MS = 60_000;

/**
 * Variables a launcher sets in each process it starts: Open MPI's mpirun (OMPI_COMM_WORLD_*),
 * PMIx-based launchers (prterun, srun --mpi=pmix), and PMI ones (MPICH's hydra, srun --mpi=pmi2;
 * their libmpi is refused at load with a message, napinet speaking Open MPI's ABI).
 */
const LAUNCHER_VARIABLES = ['OMPI_COMM_WORLD_SIZE', 'PMIX_RANK', 'PMI_SIZE'] as const;

interface State {
  info: WorldInfo;
  timeoutMs: number;
  finalized: boolean;
}

let state: State | undefined;

/** The launcher variable present in `env`, if any. */
export function detectLauncher(env: Record<string, string | undefined> = process.env): string | undefined {
  return LAUNCHER_VARIABLES.find((name) => env[name] !== undefined && env[name] !== '');
}

/**
 * Joins the world the launcher made (see the file header). Idempotent: later calls return the same
 * info (their timeoutMs is ignored).
 */
export function init(options: InitOptions = {}): WorldInfo {
  if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
  const requireLauncher = options.requireLauncher === undefined ? false : expectBoolean(options.requireLauncher, 'options.requireLauncher');
  const timeoutMs = options.timeoutMs === undefined ? DEFAULT_TIMEOUT_MS : expectInt(options.timeoutMs, 'options.timeoutMs', 1, 2 ** 31 - 1);
  const threads = options.threadsPerRank ?? 'auto';
  if (threads !== 'auto' && threads !== 'keep') expectInt(threads, 'options.threadsPerRank', 1, 1024);
  if (state?.finalized) throw new Error('napinet.distributed.init() after finalize(): a process joins the world once');
  const launcher = detectLauncher();
  if (!launcher && requireLauncher) {
    throw new Error(
      'napinet.distributed.init(): this process was not started by an MPI launcher (none of ' +
        `${LAUNCHER_VARIABLES.join(', ')} is set). Start every rank with it, e.g. ` +
        '`mpirun -np 2 node train.js` (docs/DISTRIBUTED.md)',
    );
  }
  if (state) return { ...state.info };
  if (!launcher) {
    state = { info: { rank: 0, worldSize: 1, localRank: 0, localSize: 1, backend: 'none' }, timeoutMs, finalized: false };
    return { ...state.info };
  }
  const world: MpiWorld = native().mpiInit();
  state = {
    info: {
      rank: world.rank,
      worldSize: world.size,
      localRank: world.localRank,
      localSize: world.localSize,
      backend: 'mpi',
      launcher,
      mpiLibrary: world.library,
      mpiVersion: world.version,
    },
    timeoutMs,
    finalized: false,
  };
  process.once('exit', warnIfNotFinalized);
  if (threads !== 'keep') native().setNumThreads(threads === 'auto' ? autoThreads(world.localSize) : threads);
  return { ...state.info };
}

/**
 * The CPUs this rank may run on (its affinity: mpirun binds each rank to a core by default, or to
 * what --map-by/--bind-to say), at most its even share of the machine's, at least 1.
 */
export function autoThreads(localSize: number): number {
  const share = Math.floor(os.cpus().length / Math.max(1, localSize));
  return Math.max(1, Math.min(os.availableParallelism(), share));
}

function warnIfNotFinalized(code: number): void {
  if (code === 0 && state && !state.finalized && state.info.backend === 'mpi') {
    process.stderr.write(
      `napinet.distributed: rank ${state.info.rank} of ${state.info.worldSize} exits without finalize(): ` +
        'mpirun treats that as a failure and ends the job. Call napinet.distributed.finalize() at the end on every rank.\n',
    );
  }
}

/** Called by finalize() before MPI goes away (the NCCL communicator registers one). */
const finalizeHooks: (() => void)[] = [];
export function onFinalize(hook: () => void): void {
  finalizeHooks.push(hook);
}

/** Leaves the world (MPI_Finalize, and the NCCL communicator if one was made); idempotent. */
export function finalize(): void {
  if (!state || state.finalized) return;
  for (const hook of finalizeHooks) hook();
  state.finalized = true;
  if (state.info.backend === 'mpi') native().mpiFinalize();
}

/** Whether init() was called (and finalize() not yet). */
export function isInitialized(): boolean {
  return state !== undefined && !state.finalized;
}

/** The world, or an Error naming what is missing (`what`: the caller, for the message). */
export function currentWorld(what: string): { info: WorldInfo; timeoutMs: number } {
  if (!state) throw new Error(`napinet.distributed.${what}: call napinet.distributed.init() first`);
  if (state.finalized) throw new Error(`napinet.distributed.${what} after finalize()`);
  return state;
}

/**
 * Whether this process writes the files and logs of a data-parallel run: rank 0, or a process that
 * has not joined a world (so single-process code needs no check).
 */
export function isMainProcess(): boolean {
  return state === undefined || state.info.rank === 0;
}

/** This process's rank, 0 … worldSize() − 1 (after init()). */
export function rank(): number {
  return currentWorld('rank()').info.rank;
}

/** The number of processes in the world (after init()). */
export function worldSize(): number {
  return currentWorld('worldSize()').info.worldSize;
}

/** This process's rank among those on this machine: use it to pick a GPU. */
export function localRank(): number {
  return currentWorld('localRank()').info.localRank;
}

/** The number of processes on this machine. */
export function localSize(): number {
  return currentWorld('localSize()').info.localSize;
}

/** A copy of what init() returned. */
export function worldInfo(): WorldInfo {
  return { ...currentWorld('worldInfo()').info };
}

/** Whether a collective backend (MPI or NCCL) can be loaded, and if not, why. */
export interface BackendStatus {
  available: boolean;
  /** Why not (what to install). */
  reason?: string;
  version?: string;
  library?: string;
}

/**
 * Whether each backend's library can be loaded here, without initialising anything: MPI (CPU
 * tensors) and NCCL (CUDA tensors; never in a build without CUDA).
 */
export function backends(): { mpi: BackendStatus; nccl: BackendStatus } {
  const addon = native();
  let mpi: BackendStatus;
  try {
    mpi = { available: true, version: addon.mpiLibraryVersion() };
  } catch (error) {
    mpi = { available: false, reason: (error as Error).message };
  }
  let nccl: BackendStatus;
  if (!addon.ncclInfo) {
    nccl = { available: false, reason: 'this napinet addon was built without CUDA, so it has no NCCL backend' };
  } else {
    const info = addon.ncclInfo();
    nccl = info.available
      ? { available: true, library: info.library, version: ncclVersionText(info.version ?? 0) }
      : { available: false, reason: info.reason };
  }
  return { mpi, nccl };
}

export function ncclVersionText(code: number): string {
  return `${Math.floor(code / 10000)}.${Math.floor(code / 100) % 100}.${code % 100}`;
}
