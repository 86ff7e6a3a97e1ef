// The deep network (examples/deep-mnist, `napinet train --model deep`) in napinet and the same
// network, data preparation, augmentation, optimizer and schedule in PyTorch (bench/torch_deep_mnist.py),
// one after the other in the same run: epochs, seconds per epoch (training; augmentation on the host
// separately), test accuracy, and the time ratio.
//
//   npm run build && node bench/deep-mnist.mjs [--epochs 12] [--device cpu|cuda] [--limit N] [--seed 0] [--skip-torch]
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
  },
});
const epochs = Number(values.epochs);
const threads = os.cpus().length;
const device = values.device;
const seed = Number(values.seed);
const limit = values.limit === undefined ? undefined : Number(values.limit);

console.log(`deep MNIST network, ${epochs} epoch(s), ${device}; ${machine()}; ${new Date().toISOString().slice(0, 10)}`);
const started = performance.now();
const r = await chapter.trainDeepRecipe({ epochs, device, seed, limit, workers: threads, progress: 'none', log: (line) => console.log(`  napinet: ${line}`) });
const napinetRun = {
  name: `napinet ${device}`,
  threads,
  epochSeconds: r.epochSeconds,
  augmentSeconds: r.augmentSeconds,
  testAccuracy: r.testAccuracy,
  wall: (performance.now() - started) / 1000,
};
const runs = [napinetRun];
if (!values['skip-torch']) {
  const args = ['--epochs', String(epochs), '--threads', String(threads), '--device', device, '--seed', String(seed)];
  if (limit !== undefined) args.push('--limit', String(limit));
  const t0 = performance.now();
  const t = runPython('torch_deep_mnist.py', args);
  if (t) {
    runs.push({ name: `PyTorch ${t.torch} ${device}`, threads: t.threads, epochSeconds: t.epochSeconds, augmentSeconds: t.augmentSeconds, testAccuracy: t.testAccuracy, wall: (performance.now() - t0) / 1000 });
  }
}
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
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
if (runs.length === 2) {
  console.log(`napinet / PyTorch training time per epoch (median): ${(median(runs[0].epochSeconds) / median(runs[1].epochSeconds)).toFixed(2)}×`);
}
console.log(JSON.stringify({ runs }));
