// The deep network (examples/deep-mnist, `napinet train --model deep`) in napinet and the same
// network, data preparation, augmentation, optimizer and schedule in PyTorch (bench/torch_deep_mnist.py),
// one after the other in the same run: epochs, seconds per epoch (training; augmentation on the host
// separately), test accuracy, and the time ratio. With --pairs N the two runs alternate N times
// (napinet, PyTorch, napinet, …), so that a shared machine's drift reaches both sides; the ratio of
// each pair and their median are printed.
//
//   npm run build && node bench/deep-mnist.mjs [--epochs 12] [--pairs 1] [--device cpu|cuda] [--limit N] [--seed 0] [--skip-torch]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { machine, median, runPython, table } from './common.mjs';

const { values } = parseArgs({
  options: {
    epochs: { type: 'string', default: String(chapter.DEEP_RECIPE.epochs) },
    device: { type: 'string', default: 'cpu' },
    limit: { type: 'string' },
    seed: { type: 'string', default: '0' },
    'skip-torch': { type: 'boolean', default: false },
    pairs: { type: 'string', default: '1' },
  },
});
const epochs = Number(values.epochs);
const threads = os.cpus().length;
const device = values.device;
const seed = Number(values.seed);
const limit = values.limit === undefined ? undefined : Number(values.limit);
const pairs = Number(values.pairs);

console.log(`deep MNIST network, ${epochs} epoch(s) × ${pairs} pair(s), ${device}; ${machine()}; ${new Date().toISOString().slice(0, 10)}`);
const torchArgs = ['--epochs', String(epochs), '--threads', String(threads), '--device', device, '--seed', String(seed)];
if (limit !== undefined) torchArgs.push('--limit', String(limit));

// One napinet run, then (unless skipped) the same recipe in PyTorch: a pair.
async function runPair() {
  const started = performance.now();
  const r = await chapter.trainDeepRecipe({ epochs, device, seed, limit, workers: threads, progress: 'none', log: (line) => console.log(`  napinet: ${line}`) });
  const pair = [{
    name: `napinet ${device}`,
    threads,
    epochSeconds: r.epochSeconds,
    augmentSeconds: r.augmentSeconds,
    testAccuracy: r.testAccuracy,
    wall: (performance.now() - started) / 1000,
  }];
  if (values['skip-torch']) return pair;
  const t0 = performance.now();
  const t = runPython('torch_deep_mnist.py', torchArgs);
  if (t) {
    pair.push({ name: `PyTorch ${t.torch} ${device}`, threads: t.threads, epochSeconds: t.epochSeconds, augmentSeconds: t.augmentSeconds, testAccuracy: t.testAccuracy, wall: (performance.now() - t0) / 1000 });
  }
  return pair;
}

const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const runs = [];
const ratios = [];
for (let i = 0; i < pairs; i++) {
  const pair = await runPair();
  runs.push(...pair);
  if (pair.length === 2) ratios.push(median(pair[1].epochSeconds) / median(pair[0].epochSeconds));
}
const rows = [['run', 'threads', 'epochs', 'train s/epoch (median)', 'best', 'augment s/epoch', 'total train s', 'test accuracy']];
for (const run of runs) {
  rows.push([
    run.name,
    run.threads,
    run.epochSeconds.length,
    median(run.epochSeconds).toFixed(1),
    Math.min(...run.epochSeconds).toFixed(1),
    run.augmentSeconds.length ? median(run.augmentSeconds).toFixed(2) : '—',
    sum(run.epochSeconds).toFixed(0),
    `${(100 * run.testAccuracy).toFixed(2)}%`,
  ]);
}
console.log(table(rows));
if (ratios.length > 0) {
  const each = ratios.map((r) => `${r.toFixed(2)}×`).join(', ');
  console.log(`PyTorch ÷ napinet, training time per epoch (median of each run): ${ratios.length > 1 ? `median ${median(ratios).toFixed(2)}× over ${ratios.length} pairs (${each})` : each}`);
}
console.log(JSON.stringify({ runs }));
