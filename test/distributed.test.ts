// napinet.distributed under a real launcher: the scripts in test/distributed/ run under
// `mpirun --allow-run-as-root --oversubscribe -np N` (Open MPI, which .ci/run installs) against
// the dist build, and each rank writes what it saw to a file this test checks. Covered: every
// collective on 2 and 3 ranks; a rank that throws, exits without finalize() or is killed ends the
// others within seconds with an explanation; a collective that not every rank reaches times out;
// init() outside a launcher; a missing or foreign libmpi; the addon's independence from libmpi;
// and data-parallel training against one process. On the CUDA-emulator build the collectives also
// run on CUDA tensors through the NCCL path, with a CPU stand-in for libnccl (distributed/fake_nccl.c).
//   npm run build:ts && npx vitest run test/distributed.test.ts
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import * as dist from '../lib/distributed';
import { addonSource, native } from '../lib/native';
import { Tensor } from '../lib';

const root = path.join(__dirname, '..');
const scripts = path.join(__dirname, 'distributed');
const distBuild = path.join(root, 'dist', 'cjs', 'index.js');
const hasMpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).status === 0;
const canRun = hasMpirun && fs.existsSync(distBuild);
const skipReason = !hasMpirun
  ? ' (skipped: no mpirun; apt-get install openmpi-bin libopenmpi-dev, as .ci/run does)'
  : !fs.existsSync(distBuild) ? ' (skipped: no dist build; npm run build:ts)' : '';

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** When mpirun had exited (ms since the epoch). */
  endedAt: number;
  /** The rank-<r>.json files the ranks wrote, by rank. */
  results: Record<string, unknown>[];
}

/** `mpirun -np <np> node <script> ...args`, with a hard limit so that a hang fails instead of blocking. */
function mpirun(np: number, script: string, args: string[] = [], env: NodeJS.ProcessEnv = {}): Run {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-mpi-'));
  const r = spawnSync(
    'mpirun',
    ['--allow-run-as-root', '--oversubscribe', '-np', String(np), process.execPath, path.join(scripts, script), ...args],
    { cwd: root, encoding: 'utf8', timeout: 90_000, env: { ...process.env, ...env, NAPINET_TEST_OUT: out } },
  );
  const endedAt = Date.now();
  const results = fs.readdirSync(out).sort().map((f) => JSON.parse(fs.readFileSync(path.join(out, f), 'utf8')));
  fs.rmSync(out, { recursive: true, force: true });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr, endedAt, results };
}

/** The same script in one process without a launcher. */
function single(script: string, args: string[] = []): Record<string, unknown> {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-one-'));
  const r = spawnSync(process.execPath, [path.join(scripts, script), ...args], { cwd: root, encoding: 'utf8', env: { ...process.env, NAPINET_TEST_OUT: out } });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  const result = JSON.parse(fs.readFileSync(path.join(out, 'rank-0.json'), 'utf8'));
  fs.rmSync(out, { recursive: true, force: true });
  return result;
}

const float32 = (base64: string) => {
  const bytes = Buffer.from(base64, 'base64');
  return new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
};

/** What collectives.js must report on every rank of a world of `size` (its inputs are in the script). */
function checkCollectives(run: Run, size: number, device: 'cpu' | 'cuda'): void {
  expect(run.stderr).toBe('');
  expect(run.code).toBe(0);
  expect(run.results).toHaveLength(size);
  const ranks = [...Array(size).keys()];
  const f = (x: number) => Math.fround(x);
  // The sums are exact in float32 except the 1e-3·r column, compared within one rounding.
  const sum = [ranks.reduce((s, r) => s + r + 1, 0), ranks.reduce((s, r) => s + f((r + 1) / 4), 0), -ranks.reduce((s, r) => s + r, 0)];
  const small = ranks.reduce((s, r) => s + f(1e-3 * r), 0);
  const grads = [3, 1, 1, 4].map((n, i) => Array.from({ length: n }, (_, j) => ranks.reduce((s, r) => s + (r + 1) * (i + 1) * (j + 1), 0)));
  for (const [r, result] of run.results.entries()) {
    expect(result.rank).toBe(r);
    expect(result.envRank).toBe(r);
    expect(result).toMatchObject({ size, localRank: r, localSize: size, backend: 'mpi' });
    expect(result.devices).toEqual(Array(5).fill(device === 'cuda' ? 'cuda:0' : device)); // canonical: 'cuda' is cuda:0
    // init() gave the rank the CPUs it may run on (mpirun binds ranks to cores), its share at most
    const { threads, cpusAllowed, cpus } = result as { threads: number; cpusAllowed: number; cpus: number };
    expect(threads).toBe(Math.max(1, Math.min(cpusAllowed, Math.floor(cpus / size))));
    const resultSum = result.sum as number[];
    expect(resultSum.slice(0, 3)).toEqual(sum);
    expect(Math.abs(resultSum[3] - small)).toBeLessThanOrEqual(small * 2 ** -23);
    const resultMean = result.mean as number[];
    expect(resultMean.slice(0, 3)).toEqual(sum.map((s) => f(s / size)));
    expect(resultMean[3]).toBe(f(resultSum[3] / size)); // the mean is the sum divided by the world size
    expect(result.fromLast).toEqual([size - 1, 10 * (size - 1), 100 * (size - 1)]);
    expect(result.ints).toEqual([7, -9]);
    expect(result.gatheredShape).toEqual([size, 2, 2]);
    expect(result.gathered).toEqual(ranks.flatMap((q) => [0, 1, 2, 3].map((i) => 10 * q + i)));
    expect(result.small).toEqual(grads.map((g) => g.map((v) => f(v / size))));
    expect(result.whole).toEqual(result.small);
    expect(result.summed).toEqual(grads);
    expect(result.model).toEqual([[0, 0.5], [0], [0, 0]]); // rank 0's (JSON writes its -0 as 0)
    expect(result.errors).toEqual({
      int32: 'Expected a float32 tensor for tensor but received an int32 tensor',
      root: `Expected an integer in [0, ${size - 1}] for root but received ${size}`,
      op: "Expected one of 'sum', 'mean' for options.op but received \"max\"",
    });
    // Every rank ends with the same bits, whatever the reduction order MPI chose.
    expect(result.sumBits).toBe(run.results[0].sumBits);
    expect(result.meanBits).toBe(run.results[0].meanBits);
  }
}

describe.skipIf(!canRun)(`collectives under mpirun${skipReason}`, () => {
  test.each([2, 3])('%i ranks: allReduce (sum, mean), broadcast, allGather, barrier, allReduceGradients, broadcastParameters', (size) => {
    checkCollectives(mpirun(size, 'collectives.js'), size, 'cpu');
  });
});

// CUDA tensors take the NCCL path. Without a GPU it runs on the emulator build only, with
// fake_nccl.c standing in for libnccl (its collectives are MPI's): this checks napinet's side of
// NCCL (loading, the unique id over MPI, the communicator, grouped calls, the wait), not NCCL.
const emulated = native().buildInfo().cudaEmulated;
const hasCc = spawnSync('cc', ['--version']).status === 0;
describe.skipIf(!canRun || !emulated || !hasCc)(`CUDA tensors through the NCCL path (emulator build, CPU stand-in for libnccl)${skipReason}`, () => {
  test('2 ranks: every collective on CUDA tensors', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-fake-nccl-'));
    const library = path.join(dir, 'libnccl.so.2');
    const cc = spawnSync('cc', ['-shared', '-fPIC', '-o', library, path.join(scripts, 'fake_nccl.c'), '-ldl'], { encoding: 'utf8' });
    expect(cc.stderr).toBe('');
    checkCollectives(mpirun(2, 'collectives.js', ['--device', 'cuda'], { NAPINET_NCCL_LIBRARY: library }), 2, 'cuda');
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe.skipIf(!canRun)(`a failing rank ends the job within seconds, with an explanation${skipReason}`, () => {
  const sigtermMessage = /napinet\.distributed: rank 0 of 2 \(pid \d+ on .+\) received SIGTERM\. mpirun sends it to every rank when one rank exits with an error or without finalize\(\) \(or when mpirun itself is interrupted\).*It was waiting in allReduce of 1 tensor \(3 values\) on rank 0 of 2\./;

  test.each([
    ['throws', 'throw', /Error: rank 1 fails on purpose/],
    ['exits without finalize()', 'exit0', /rank 1 of 2 exits without finalize\(\)/],
    ['is killed (SIGKILL)', 'kill', /exited on signal 9/],
  ])('rank 1 %s while rank 0 waits in allReduce', (_, mode, rank1Evidence) => {
    const run = mpirun(2, 'failure.js', [mode]);
    expect(run.code).not.toBe(0);
    expect(run.signal).toBeNull(); // mpirun ended by itself, not by the test's time limit
    expect(run.stdout + run.stderr).toMatch(rank1Evidence);
    expect(run.stderr).toMatch(sigtermMessage);
    expect(run.results).toEqual([]); // rank 0 never got past its allReduce
    const exitedAt = Number(/EXITING (\d+)/.exec(run.stdout)?.[1]);
    const seconds = (run.endedAt - exitedAt) / 1000;
    console.log(`rank 1 ${mode}: the job ended ${seconds.toFixed(2)} s after rank 1 went`);
    expect(seconds).toBeGreaterThan(0);
    expect(seconds).toBeLessThan(10);
  });

  test('with a SIGTERM listener of its own, the waiting rank gets an Error instead, then its listener runs', () => {
    const run = mpirun(2, 'failure.js', ['listener']);
    expect(run.code).not.toBe(0);
    expect(run.stderr).toMatch(sigtermMessage);
    expect(run.results).toEqual([
      {
        rank: 0,
        listener: true,
        caught: {
          code: 'ERR_NAPINET_DISTRIBUTED_TERMINATED',
          message:
            'napinet.distributed: allReduce of 1 tensor (3 values) on rank 0 of 2 was interrupted: this process received SIGTERM ' +
            '(mpirun sends it to every rank when one rank fails)',
        },
      },
    ]);
  });

  test('a collective that not every rank reaches times out, and the world refuses further use', () => {
    const run = mpirun(2, 'failure.js', ['timeout']);
    expect(run.code).not.toBe(0);
    expect(run.results).toHaveLength(1);
    const { first, second } = run.results[0] as { first: { code: string; message: string; ms: number }; second: { code: string; message: string } };
    expect(first.code).toBe('ERR_NAPINET_DISTRIBUTED_TIMEOUT');
    expect(first.message).toBe(
      'napinet.distributed: allReduce of 1 tensor (3 values) on rank 0 of 2 timed out after 1 s: not every rank reached it ' +
        '(a rank may be stuck or much slower, dead without the launcher noticing, or calling a different collective); ' +
        'napinet.distributed.init({ timeoutMs }) or the call\'s { timeoutMs } sets the limit',
    );
    expect(first.ms).toBeGreaterThanOrEqual(1000);
    expect(first.ms).toBeLessThan(3000);
    expect(second.code).toBe('ERR_NAPINET_DISTRIBUTED_USAGE');
    expect(second.message).toMatch(/^napinet\.distributed: barrier after an earlier failure left the world unusable \(.*timed out after 1 s.*\); end this process$/);
    // Rank 0's error exit made mpirun end rank 1 (computing, not in a collective).
    expect(run.stderr).toMatch(/napinet\.distributed: rank 1 of 2 \(pid \d+ on .+\) received SIGTERM\./);
  });
});

describe.skipIf(!canRun)(`data-parallel training: 2 ranks against one process${skipReason}`, () => {
  // The seed network, 12 Adam steps on global batches of 64 MNIST images (train.js). Each rank's
  // loss is the mean over its 32 images, so its gradient is twice its half of the global one; the
  // all-reduce adds the two (a + b: one rounding) and halves the sum (exact).
  test('12 Adam steps: bit-identical to one process accumulating the two halves; within rounding of whole batches', () => {
    const run = mpirun(2, 'train.js', ['--steps', '12', '--batch', '64']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const [rank0, rank1] = run.results as { weights: [string, string][]; broadcastChanged: boolean; losses: number[] }[];
    expect(rank0.broadcastChanged).toBe(false); // rank 0's own initialisation…
    expect(rank1.broadcastChanged).toBe(true); //  …replaced rank 1's
    expect(rank1.weights).toEqual(rank0.weights); // the ranks agree bit for bit
    // One process, each batch as two halves whose gradients the layers accumulate (grad += half)
    // and that are then halved: the same additions as the all-reduce, hence the same bits.
    const halves = single('train.js', ['--steps', '12', '--batch', '64', '--micro-batches', '2']) as typeof rank0;
    expect(rank0.weights).toEqual(halves.weights);
    // One process on whole batches: the kernels add the 64 images' contributions in their own chunk
    // order, not as (first 32) + (last 32), so the gradients differ by float rounding (a few ulps)
    // and the weights after 12 steps by the measured amounts below. The bound is ten times the
    // largest difference measured (1.2e-6, one Adam-normalised weight); a missing, doubled or
    // one-sided gradient moves weights by about an Adam step (1e-2) and fails it.
    const whole = single('train.js', ['--steps', '12', '--batch', '64']) as typeof rank0;
    let largest = 0;
    whole.weights.forEach(([name, bits], i) => {
      expect(rank0.weights[i][0]).toBe(name);
      const a = float32(bits);
      const b = float32(rank0.weights[i][1]);
      for (let j = 0; j < a.length; j++) largest = Math.max(largest, Math.abs(a[j] - b[j]));
    });
    console.log(`2 ranks vs one process on whole batches, 12 Adam steps: largest weight difference ${largest.toExponential(2)}`);
    expect(largest).toBeLessThan(1.2e-5);
    // The step's loss on one process is the mean of the two ranks' losses (one rounding).
    whole.losses.forEach((loss, s) => expect(Math.abs(loss - (rank0.losses[s] + rank1.losses[s]) / 2)).toBeLessThan(1e-5 * loss));
  });
});

describe('outside a launcher', () => {
  test('init() forms a world of one where every collective is the identity', () => {
    const info = dist.init();
    expect(info).toEqual({ rank: 0, worldSize: 1, localRank: 0, localSize: 1, backend: 'none' });
    expect([dist.rank(), dist.worldSize(), dist.localRank(), dist.localSize(), dist.isInitialized()]).toEqual([0, 1, 0, 1, true]);
    const x = Tensor.from([1, 2, 3]);
    expect(Array.from(dist.allReduce(x).toArray())).toEqual([1, 2, 3]);
    expect(Array.from(dist.allReduce(x, { op: 'mean' }).toArray())).toEqual([1, 2, 3]);
    expect(Array.from(dist.broadcast(x, 0).toArray())).toEqual([1, 2, 3]);
    const gathered = dist.allGather(x.reshape([3, 1]));
    expect(gathered.shape).toEqual([1, 3, 1]);
    expect(Array.from(gathered.toArray())).toEqual([1, 2, 3]);
    dist.barrier();
    const p = Tensor.from([4]);
    p.grad = Tensor.from([5]);
    dist.allReduceGradients([p]);
    dist.broadcastParameters([p]);
    expect([p.item(), p.grad.item()]).toEqual([4, 5]);
    // argument checks hold in a world of one too
    expect(() => dist.broadcast(x, 1)).toThrow('Expected an integer in [0, 0] for root but received 1');
    expect(() => dist.allReduce(x, { timeoutMs: 0 })).toThrow('Expected an integer in [1, 2147483647] for options.timeoutMs but received 0');
    expect(() => dist.allReduceGradients([{ grad: Tensor.from([1]) }, { grad: Tensor.from(new Int32Array([1])) }])).toThrow(
      'Expected a float32 tensor for parameters[1].grad but received an int32 tensor',
    );
    expect(() => dist.allReduceGradients(5 as never)).toThrow('Expected an iterable of parameters (objects with .grad) or gradient tensors for parameters but received 5');
  });

  test('init({ requireLauncher: true }) says how to start the ranks', () => {
    expect(() => dist.init({ requireLauncher: true })).toThrow(
      'napinet.distributed.init(): this process was not started by an MPI launcher (none of OMPI_COMM_WORLD_SIZE, PMIX_RANK, PMI_SIZE is set). ' +
        'Start every rank with it, e.g. `mpirun -np 2 node train.js` (docs/DISTRIBUTED.md)',
    );
  });

  test('allReduceGradients plans buckets in order, a large gradient alone', async () => {
    const { planBuckets } = await import('../lib/distributed/gradients');
    expect(planBuckets([2, 2, 2, 10, 1], 16)).toEqual([[0, 1], [2], [3], [4]]);
    expect(planBuckets([2, 2, 2], 24)).toEqual([[0, 1, 2]]);
    expect(planBuckets([], 24)).toEqual([]);
  });
});

describe('loading MPI', () => {
  /** A child process that looks launched (OMPI_COMM_WORLD_SIZE set) but opens `library` as libmpi. */
  function initWith(library: string): { code: string; message: string; backends: unknown } {
    const script = `
      const { distributed } = require(${JSON.stringify(distBuild)});
      let error;
      try { distributed.init(); } catch (e) { error = e; }
      console.log(JSON.stringify({ code: error?.code, message: error?.message, backends: distributed.backends().mpi }));`;
    const r = spawnSync(process.execPath, ['-e', script], {
      encoding: 'utf8',
      env: { ...process.env, OMPI_COMM_WORLD_SIZE: '2', NAPINET_MPI_LIBRARY: library },
    });
    return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? 'null');
  }

  test.skipIf(!fs.existsSync(distBuild))('a missing libmpi is an Error that says what to install', () => {
    const r = initWith('/nonexistent/libmpi.so.40');
    expect(r.code).toBe('ERR_NAPINET_DISTRIBUTED_UNAVAILABLE');
    expect(r.message).toMatch(/^napinet\.distributed: cannot load the MPI library named by NAPINET_MPI_LIBRARY\. Tried:\n {2}\/nonexistent\/libmpi\.so\.40: .*No such file or directory\n/);
    expect(r.message).toContain('Install it: Debian/Ubuntu: apt-get install openmpi-bin libopenmpi-dev');
    expect(r.backends).toEqual({ available: false, reason: r.message });
  });

  test.skipIf(!fs.existsSync(distBuild))('a libmpi that is not Open MPI is refused by name', () => {
    const r = initWith('libc.so.6');
    expect(r.code).toBe('ERR_NAPINET_DISTRIBUTED_UNAVAILABLE');
    expect(r.message).toContain('the MPI library libc.so.6 is not Open MPI (it has no ompi_mpi_comm_world)');
  });

  test.skipIf(!fs.existsSync(distBuild))('a missing libnccl is an Error that says what to install (CUDA builds), or no NCCL at all', () => {
    const script = `
      const { distributed } = require(${JSON.stringify(distBuild)});
      distributed.init();
      let error;
      try { require(${JSON.stringify(path.join(root, 'dist', 'cjs', 'distributed', 'nccl.js'))}).createLocalNcclCommunicator(); } catch (e) { error = e; }
      console.log(JSON.stringify({ code: error?.code, message: error?.message, nccl: distributed.backends().nccl }));`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8', env: { ...process.env, NAPINET_NCCL_LIBRARY: '/nonexistent/libnccl.so.2' } });
    const { code, message, nccl } = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? 'null');
    expect(code).toBe('ERR_NAPINET_DISTRIBUTED_UNAVAILABLE');
    expect(nccl.available).toBe(false);
    if (native().ncclInfo) {
      expect(message).toMatch(/^napinet\.distributed: CUDA tensors are reduced with NCCL, which cannot be used here: cannot load the NCCL library named by NAPINET_NCCL_LIBRARY\. Tried:\n {2}\/nonexistent\/libnccl\.so\.2: /);
      expect(message).toContain('pip install nvidia-nccl-cu13');
      expect(nccl.reason).toBe(message.replace('napinet.distributed: CUDA tensors are reduced with NCCL, which cannot be used here: ', ''));
    } else {
      expect(message).toBe('napinet.distributed: CUDA tensors are reduced with NCCL, which cannot be used here: this napinet addon was built without CUDA');
    }
  });

  test.skipIf(process.platform !== 'linux')('the addon links no MPI or NCCL (ldd), so it loads where they are absent', () => {
    const r = spawnSync('ldd', [addonSource().path], { encoding: 'utf8' });
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/libc\.so/);
    expect(r.stdout).not.toMatch(/libmpi|libopen-|libnccl|libpmix/);
  });

  test.skipIf(!hasMpirun)('backends() reports Open MPI when it is installed', () => {
    const { mpi } = dist.backends();
    expect(mpi.available).toBe(true);
    expect(mpi.version).toMatch(/^Open MPI v\d+\.\d+/);
  });
});
