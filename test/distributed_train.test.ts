// `mpirun -np 2 napinet train --distributed` (fit's distributed option, lib/train/data_parallel.ts)
// against one process with the same global batch, on the dist build: the seed recipe for one epoch
// on the first 6,000 training images (5,400 after the 10% validation split: 85 steps of 64, the
// last of 24); the deep network (BatchNorm) for 200 steps of fit() (test/distributed/fit_deep.js: the
// CLI's deep recipe would spend minutes measuring the test set on 2 loaded cores); a rank killed
// mid-training; and the CLI's errors (a batch that does not divide, resuming with another world size). Skipped without
// mpirun (.ci/run installs Open MPI).
//   npm run build:ts && npx vitest run test/distributed_train.test.ts
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { readSafetensors } from '../lib/io/safetensors';
import { cli, napinet, root } from './helpers/cli';

const hasMpirun = spawnSync('mpirun', ['--version'], { encoding: 'utf8' }).status === 0;
const skipReason = !hasMpirun
  ? ' (skipped: no mpirun; apt-get install openmpi-bin libopenmpi-dev, as .ci/run does)'
  : !fs.existsSync(cli) ? ' (skipped: no dist build; npm run build:ts)' : '';
const MPIRUN = ['--allow-run-as-root', '--oversubscribe'];

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-ddp-'));
afterAll(() => fs.rmSync(scratch, { recursive: true, force: true }));

/** `mpirun -np <np> napinet train ...args` to completion (a hard limit turns a hang into a failure). */
function mpirunTrain(np: number, args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync('mpirun', [...MPIRUN, '-np', String(np), process.execPath, cli, 'train', ...args], { cwd: root, encoding: 'utf8', timeout: 240_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

const summaryOf = (stdout: string) => JSON.parse(stdout.trim().split('\n').at(-1)!);
const weightsOf = (dir: string) => readSafetensors(path.join(dir, 'weights.safetensors')).tensors;

/** The largest absolute difference between two saved models' tensors (same names, same shapes). */
function largestDifference(a: string, b: string): number {
  const [x, y] = [weightsOf(a), weightsOf(b)];
  expect(Object.keys(x).sort()).toEqual(Object.keys(y).sort());
  let largest = 0;
  for (const name of Object.keys(x)) {
    const [p, q] = [x[name].data, y[name].data];
    for (let i = 0; i < p.length; i++) largest = Math.max(largest, Math.abs(p[i] - q[i]));
  }
  return largest;
}

describe.skipIf(!!skipReason)(`napinet train --distributed under mpirun${skipReason}`, () => {
  const common = ['--epochs', '1', '--device', 'cpu', '--workers', '1', '--no-report', '--json'];

  test('seed recipe, one epoch of 5,400 images on 2 ranks: the one-process weights within float rounding, the same accuracy', () => {
    const one = path.join(scratch, 'seed-1');
    const two = path.join(scratch, 'seed-2');
    const single = napinet('train', ...common, '--limit', '6000', '--out', one);
    expect(single.code).toBe(0);
    const ranks = mpirunTrain(2, [...common, '--limit', '6000', '--out', two, '--distributed']);
    expect(ranks.stderr).toBe('');
    expect(ranks.code).toBe(0);
    // rank 0 alone printed (one epoch line) and wrote the run folder
    expect(ranks.stdout.match(/^epoch 0,/gm)).toHaveLength(1);
    const [a, b] = [summaryOf(single.stdout), summaryOf(ranks.stdout)];
    expect([a.worldSize, b.worldSize]).toEqual([1, 2]);
    expect(b.settings).toMatchObject({ batchSize: 64, worldSize: 2 });
    // Each rank's gradient is its 32 images' mean; the all-reduce adds the two and halves the sum.
    // One process sums the 64 images' contributions in its kernels' chunk order instead, so the
    // gradients differ by a few ulps, and 85 Adam steps carry that on to the differences below
    // (measured: 4.3e-6 at most; the bound is ten times that). A gradient left out,
    // counted twice or taken from one rank only moves the weights by Adam steps (~1e-3 and more).
    const largest = largestDifference(one, two);
    console.log(`seed recipe, 85 steps: largest weight difference, 2 ranks vs 1 process: ${largest.toExponential(2)}; test accuracy ${a.testAccuracy} vs ${b.testAccuracy}`);
    expect(largest).toBeLessThan(5e-5);
    expect(b.testAccuracy).toBe(a.testAccuracy);
    expect(Math.abs(b.testLoss - a.testLoss)).toBeLessThan(1e-4);
  });

  test('deep network (BatchNorm), 200 steps of fit() on 2 ranks: the ranks agree bit for bit, and equal one process taking each batch as the two ranks do', () => {
    // Not the one-process run on whole batches: each rank's BatchNorm normalises by its own 32
    // images' statistics (PyTorch DDP without SyncBatchNorm), so the reference takes each global
    // batch as the two shards do (even positions, odd positions), each half alone through the
    // network from zero gradients, the two gradients added and halved: what the all-reduce computes.
    const out = fs.mkdtempSync(path.join(scratch, 'deep-'));
    const r = spawnSync('mpirun', [...MPIRUN, '-np', '2', process.execPath, path.join(root, 'test', 'distributed', 'fit_deep.js'), '--steps', '200'], {
      cwd: root, encoding: 'utf8', timeout: 240_000, env: { ...process.env, NAPINET_TEST_OUT: out },
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const [rank0, rank1] = [0, 1].map((rank) => JSON.parse(fs.readFileSync(path.join(out, `rank-${rank}.json`), 'utf8')));
    expect(rank1.parameters).toEqual(rank0.parameters);
    expect(rank1.buffers).toEqual(rank0.buffers); // BatchNorm's running statistics: rank 0's, taken at the epoch's end
    const reference = spawnSync(process.execPath, [path.join(root, 'test', 'distributed', 'fit_deep.js'), '--halves', '--steps', '200'], {
      cwd: root, encoding: 'utf8', timeout: 240_000, env: { ...process.env, NAPINET_TEST_OUT: out },
    });
    expect(reference.stderr).toBe('');
    expect(JSON.parse(fs.readFileSync(path.join(out, 'rank-0.json'), 'utf8')).parameters).toEqual(rank0.parameters);
  }, 300_000);

  test('killing one rank mid-training ends the other within seconds, saying why', async () => {
    const child = spawn('mpirun', [...MPIRUN, '-np', '2', process.execPath, cli, 'train', ...common, '--epochs', '200', '--limit', '20000', '--out', path.join(scratch, 'killed'), '--distributed'], { cwd: root });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    // Training has started once rank 0 has printed its first line (before fit()); give it a moment.
    // A job that ends (or never starts) first fails the test instead of waiting for it forever.
    let ended = false;
    void exited.then(() => (ended = true));
    const deadline = Date.now() + 120_000;
    while (!/^device cpu/m.test(stdout)) {
      if (ended || Date.now() > deadline) throw new Error(`the 2-rank job ended or stalled before training began:\n${stdout}\n${stderr}`);
      await new Promise((r) => setTimeout(r, 100));
    }
    await new Promise((r) => setTimeout(r, 1500));
    const rank1 = rankPid(child.pid!, 1);
    process.kill(rank1, 'SIGKILL');
    const killedAt = Date.now();
    const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 30_000))]);
    const seconds = (Date.now() - killedAt) / 1000;
    if (code === 'hung') child.kill('SIGKILL');
    console.log(`rank 1 killed: the job ended after ${seconds.toFixed(2)} s`);
    expect(code).not.toBe('hung');
    expect(code).not.toBe(0);
    expect(seconds).toBeLessThan(10);
    expect(stderr).toMatch(/napinet\.distributed: rank 0 of 2 \(pid \d+ on .+\) received SIGTERM\. mpirun sends it to every rank when one rank exits with an error/);
    expect(stdout + stderr).toMatch(/exited on signal 9/);
    expect(fs.existsSync(path.join(scratch, 'killed', 'result.json'))).toBe(false);
  });

  test('a global batch that does not divide among the ranks, and a resume with another world size, are errors naming both', () => {
    const odd = mpirunTrain(2, [...common, '--limit', '200', '--batch-size', '63', '--out', path.join(scratch, 'odd'), '--distributed']);
    expect(odd.code).not.toBe(0);
    expect(odd.stderr).toContain('napinet: Expected a global batch size divisible by the world size 2 for batchSize (each of the 2 ranks takes batchSize / 2) but received 63');
    // A checkpoint saved by 2 ranks (rank 0 wrote it) resumed by 1 process, and the other way round.
    const run = path.join(scratch, 'resume');
    expect(mpirunTrain(2, [...common, '--limit', '400', '--out', run, '--distributed']).code).toBe(0);
    const alone = napinet('train', '--resume', run, '--epochs', '2', '--device', 'cpu', '--no-report');
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain(`napinet: cannot resume the checkpoint in ${path.join(run, 'checkpoints')}`);
    expect(alone.stderr).toMatch(/with 1 process: it was trained with 2 \(start it with mpirun -np 2 … --distributed\)/);
    const three = mpirunTrain(3, ['--resume', run, '--epochs', '2', '--device', 'cpu', '--no-report', '--distributed']);
    expect(three.code).not.toBe(0);
    expect(three.stderr).toMatch(/with 3 processes: it was trained with 2/);
    const two = mpirunTrain(2, ['--resume', run, '--epochs', '2', '--device', 'cpu', '--no-report', '--json', '--distributed']);
    expect(two.code).toBe(0);
    expect(summaryOf(two.stdout)).toMatchObject({ worldSize: 2, settings: { epochs: 2, worldSize: 2 } });
  });
});

test.skipIf(!fs.existsSync(cli))('napinet train --distributed without a launcher says how to start the ranks', () => {
  const r = napinet('train', '--distributed', '--epochs', '1', '--limit', '100', '--no-report');
  expect(r.code).toBe(1);
  expect(r.stderr).toContain('napinet: napinet.distributed.init(): this process was not started by an MPI launcher');
  expect(r.stderr).toContain('`mpirun -np 2 node train.js`');
});

/** The pid of rank `rank` among mpirun's children (each rank's environment names its rank). */
function rankPid(mpirunPid: number, rank: number): number {
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'utf8');
      const parent = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      if (parent === mpirunPid && fs.readFileSync(`/proc/${entry}/environ`, 'utf8').split('\0').includes(`OMPI_COMM_WORLD_RANK=${rank}`)) return Number(entry);
    } catch {
      // a process that ended meanwhile
    }
  }
  throw new Error(`no rank ${rank} among mpirun's children`);
}
