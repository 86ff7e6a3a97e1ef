// The fast recipe (`napinet train --recipe fast`, lib/chapter/fast_recipe.ts) for several seeds,
// each run in napinet and then in PyTorch CPU (bench/torch_fast_recipe.py, the same network, data,
// optimizer, schedule and loss) before the next seed, so the two see the same machine load. Prints
// per seed the training seconds (the epochs' sum; the validation pass and the test are outside it)
// and the test accuracy, then the mean and the worst of each, and PyTorch's time ÷ napinet's.
// The load average is printed at the start and the end: on a shared machine the times are only
// comparable within one run.
//
// --channels, --lr, --pct-start and --label-smoothing override the recipe's settings on both sides (to try candidates).
//
//   npm run build && node bench/fast-recipe.mjs [--seeds 0,1,2,3,4] [--epochs 2] [--threads N] [--skip-torch]
//     [--channels 12,24] [--lr 0.02] [--pct-start 0.35] [--label-smoothing 0.05]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { machine, runPython, table } from './common.mjs';

const { values } = parseArgs({
  options: {
    seeds: { type: 'string', default: '0,1,2,3,4' },
    epochs: { type: 'string', default: String(chapter.FAST_RECIPE.epochs) },
    threads: { type: 'string', default: String(os.cpus().length) },
    'skip-torch': { type: 'boolean', default: false },
    channels: { type: 'string', default: chapter.FAST_RECIPE.channels.join(',') },
    lr: { type: 'string', default: String(chapter.FAST_RECIPE.lr) },
    'pct-start': { type: 'string', default: String(chapter.FAST_RECIPE.pctStart) },
    'label-smoothing': { type: 'string', default: String(chapter.FAST_RECIPE.labelSmoothing) },
  },
});
const seeds = values.seeds.split(',').map(Number);
const epochs = Number(values.epochs);
const threads = Number(values.threads);
const settings = { channels: values.channels.split(',').map(Number), lr: Number(values.lr), pctStart: Number(values['pct-start']), labelSmoothing: Number(values['label-smoothing']) };
const torchSettings = ['--channels', values.channels, '--lr', values.lr, '--pct-start', values['pct-start'], '--label-smoothing', values['label-smoothing']];
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const sum = (xs) => xs.reduce((a, b) => a + b, 0);
const mean = (xs) => sum(xs) / xs.length;

console.log(`fast recipe, ${epochs} epoch(s), channels ${settings.channels.join('→')}, lr ${settings.lr} (rising over ${settings.pctStart} of the run), label smoothing ${settings.labelSmoothing}, seeds ${seeds.join(', ')}; ${machine()}; ${new Date().toISOString().slice(0, 16)}`);
console.log(`load average at the start: ${load()}`);
const mnist = napinet.loadMnist();
const rows = [['seed', 'napinet train s', 'napinet test acc', 'PyTorch train s', 'PyTorch test acc', 'PyTorch ÷ napinet']];
const ours = [];
const theirs = [];
for (const seed of seeds) {
  const r = await chapter.trainFastRecipe({ mnist, epochs, seed, ...settings, device: 'cpu', workers: threads, progress: 'none' });
  const n = { seconds: sum(r.epochSeconds), accuracy: r.testAccuracy };
  ours.push(n);
  r.model.dispose();
  const t = values['skip-torch'] ? null : runPython('torch_fast_recipe.py', ['--epochs', String(epochs), '--threads', String(threads), '--seed', String(seed), ...torchSettings]);
  const p = t ? { seconds: sum(t.epochSeconds), accuracy: t.testAccuracy, torch: t.torch } : null;
  if (p) theirs.push(p);
  rows.push([seed, n.seconds.toFixed(2), (100 * n.accuracy).toFixed(2) + '%', p ? p.seconds.toFixed(2) : '—', p ? (100 * p.accuracy).toFixed(2) + '%' : '—', p ? (p.seconds / n.seconds).toFixed(2) + '×' : '—']);
  console.log(`seed ${seed}: ${rows.at(-1).slice(1).join(' | ')} (load ${load()})`); // as it goes: a slow machine takes minutes a seed
}
const summary = (runs) => [
  `${mean(runs.map((r) => r.seconds)).toFixed(2)} (max ${Math.max(...runs.map((r) => r.seconds)).toFixed(2)})`,
  `${(100 * mean(runs.map((r) => r.accuracy))).toFixed(2)}% (worst ${(100 * Math.min(...runs.map((r) => r.accuracy))).toFixed(2)}%)`,
];
const ratio = theirs.length ? `${(sum(theirs.map((r) => r.seconds)) / sum(ours.map((r) => r.seconds))).toFixed(2)}×` : '—';
rows.push(['mean', ...summary(ours), ...(theirs.length ? summary(theirs) : ['—', '—']), ratio]);
console.log(table(rows));
console.log(`napinet ${threads} threads; PyTorch ${theirs[0]?.torch ?? '(not run)'} ${threads} threads; load average at the end: ${load()}`);
