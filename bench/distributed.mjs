// Data parallelism on one machine, two ways, for the seed network (Conv2d 1→8 5×5 → ReLU →
// MaxPool2d 2 → Flatten → Linear 1152→10, Adam lr 0.01, global batch 64, 54,000 MNIST images an
// epoch): one process whose kernels share each batch over 2 threads, against 2 processes (ranks
// under mpirun, napinet.distributed) of 1 thread each, each taking half of every batch and
// averaging gradients with allReduceGradients before optimizer.step(). The same loop, written with
// today's explicit API (forward / backward / allReduceGradients / step), runs in every case, and
// PyTorch runs the same comparison in the same run (bench/torch_distributed.py: 2 threads, and
// DistributedDataParallel over gloo with 2 ranks of 1 thread). Then the same two ways through
// fit() and the command line: `napinet train --epochs 1 --workers 2` against
// `mpirun -np 2 napinet train --distributed --workers 1` (the seed recipe: its epoch also measures
// the 6,000 validation images, on every rank), epoch seconds from the --json summary.
//
//   npm run build && node bench/distributed.mjs [--epochs 3] [--skip-torch]
// Each worker prints one JSON line; the driver prints the table. A worker is this file with
// --worker (under mpirun, or alone).
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { machine, runPython, table } from './common.mjs';

const { values: args } = parseArgs({
  options: {
    worker: { type: 'boolean', default: false },
    epochs: { type: 'string', default: '3' },
    threads: { type: 'string', default: '1' },
    'skip-torch': { type: 'boolean', default: false },
  },
});
const epochs = Number(args.epochs);

if (args.worker) {
  worker();
} else {
  driver();
}

function worker() {
  const { distributed: dist, Tensor, Generator, nn, optim } = napinet;
  const { rank, worldSize } = dist.init();
  napinet.setNumThreads(Number(args.threads)); // after init, whose default gives each rank its bound cores
  const batch = 64;
  const share = batch / worldSize;
  // The seed recipe's data: 54,000 training images standardised with their scalar mean and std.
  const mnist = napinet.loadMnist();
  const count = 54_000;
  const pixels = 28 * 28;
  const raw = mnist.train.images.subarray(0, count * pixels);
  let mean = 0;
  for (const v of raw) mean += v;
  mean /= raw.length;
  let variance = 0;
  for (const v of raw) variance += (v - mean) ** 2;
  const std = Math.sqrt(variance / raw.length);
  const images = Float32Array.from(raw, (v) => (v - mean) / std);
  const labels = Int32Array.from(mnist.train.labels.subarray(0, count));

  const model = chapter.seedNetwork({ generator: new Generator(0) });
  dist.broadcastParameters(model);
  const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
  const loss = new nn.CrossEntropyLoss();
  const steps = Math.floor(count / batch);
  const epochSeconds = [];
  const reduceSeconds = [];
  let lastLosses = [];
  const x = new Float32Array(share * pixels);
  const y = new Int32Array(share);
  model.train();
  for (let epoch = 0; epoch < epochs; epoch++) {
    const order = new Generator(100 + epoch).permutation(count); // one shuffle, the same on every rank
    dist.barrier();
    let reducing = 0;
    lastLosses = [];
    const start = process.hrtime.bigint();
    for (let step = 0; step < steps; step++) {
      // This rank's rows of the global batch, gathered into the batch buffers.
      for (let i = 0; i < share; i++) {
        const row = order[step * batch + rank * share + i];
        x.set(images.subarray(row * pixels, (row + 1) * pixels), i * pixels);
        y[i] = labels[row];
      }
      optimizer.zeroGrad();
      const result = napinet.explicit(() => loss.forward(model.forward(Tensor.from(x, [share, 1, 28, 28])), Tensor.from(y, [share], { dtype: 'int32' })));
      model.backward(loss.backward());
      const t = process.hrtime.bigint();
      dist.allReduceGradients(model.parameters());
      reducing += Number(process.hrtime.bigint() - t);
      optimizer.step();
      if (step >= steps - 100) lastLosses.push(result.loss());
    }
    epochSeconds.push(Number(process.hrtime.bigint() - start) / 1e9);
    reduceSeconds.push(reducing / 1e9);
  }
  // The epoch lasts as long as the slowest rank: every rank's times, the largest kept.
  const times = Tensor.from([...epochSeconds, ...reduceSeconds]);
  const all = dist.allGather(times).toArray();
  const slowest = (i) => Math.max(...Array.from({ length: worldSize }, (_, r) => all[r * times.size + i]));
  const lossMean = dist.allReduce(Tensor.from([lastLosses.reduce((a, b) => a + b, 0) / lastLosses.length]), { op: 'mean' }).item();
  if (rank === 0) {
    console.log(JSON.stringify({
      worldSize, threads: napinet.numThreads(), steps,
      epochSeconds: epochSeconds.map((_, i) => slowest(i)),
      allReduceSeconds: reduceSeconds.map((_, i) => slowest(epochs + i)),
      lossLast100: lossMean,
    }));
  }
  dist.finalize();
}

function run(command, commandArgs) {
  const r = spawnSync(command, commandArgs, { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`${command} ${commandArgs.join(' ')} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

function driver() {
  const self = fileURLToPath(import.meta.url);
  const workerArgs = (threads) => [self, '--worker', '--epochs', String(epochs), '--threads', String(threads)];
  console.log(`data parallelism, seed network, ${epochs} epoch(s) of 843 steps; ${machine()}; load average ${os.loadavg()[0].toFixed(1)}; ${new Date().toISOString().slice(0, 10)}`);
  const runs = [
    ['napinet, 1 process × 2 threads', run(process.execPath, workerArgs(2))],
    ['napinet, 2 ranks × 1 thread (mpirun)', run('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, ...workerArgs(1)])],
    ['napinet, 1 process × 1 thread', run(process.execPath, workerArgs(1))],
  ];
  const cli = fileURLToPath(new URL('../dist/cjs/chapter/cli.js', import.meta.url));
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-bench-'));
  const trainArgs = (threads) => [cli, 'train', '--epochs', String(epochs), '--device', 'cpu', '--workers', String(threads), '--no-report', '--json', '--out', path.join(scratch, `run-${threads}`)];
  const fitRun = (summary) => ({ epochSeconds: summary.epochSeconds, lossLast100: NaN });
  runs.push(
    ['napinet train (fit), 1 process × 2 threads', fitRun(run(process.execPath, trainArgs(2)))],
    ['napinet train --distributed (fit), 2 ranks × 1 thread', fitRun(run('mpirun', ['--allow-run-as-root', '--oversubscribe', '-np', '2', process.execPath, ...trainArgs(1), '--distributed']))],
  );
  fs.rmSync(scratch, { recursive: true, force: true });
  const torch = args['skip-torch'] ? [] : [
    ['PyTorch, 1 process × 2 threads', runPython('torch_distributed.py', ['--epochs', String(epochs), '--world', '1', '--threads', '2'])],
    ['PyTorch DDP (gloo), 2 ranks × 1 thread', runPython('torch_distributed.py', ['--epochs', String(epochs), '--world', '2', '--threads', '1'])],
  ].filter(([, r]) => r);
  const best = (r) => Math.min(...r.epochSeconds);
  const base = best(runs[0][1]);
  const rows = [['run', 'epoch s (best)', 'all-reduce s in it', 'vs napinet 1×2', 'loss (last 100 steps)']];
  for (const [name, r] of [...runs, ...torch]) {
    const i = r.epochSeconds.indexOf(best(r));
    rows.push([name, best(r).toFixed(3), r.allReduceSeconds ? r.allReduceSeconds[i].toFixed(3) : '', `${(best(r) / base).toFixed(2)}×`, Number.isNaN(r.lossLast100) ? '' : r.lossLast100.toFixed(4)]);
  }
  console.log(table(rows));
  if (torch.length === 2) {
    console.log(`PyTorch ÷ napinet: 1 process × 2 threads ${(best(torch[0][1]) / base).toFixed(2)}×, 2 ranks × 1 thread ${(best(torch[1][1]) / best(runs[1][1])).toFixed(2)}×`);
  }
}
