// One epoch of the seed recipe (54,000 MNIST images, batch 64, Adam + StepLR) in napinet and in
// PyTorch CPU in the same run; prints both times and the ratios. napinet runs with 1 and with
// every core (data-parallel scaling); PyTorch with the same thread count, two ways of batching.
//
//   npm run build && node bench/seed-recipe.mjs [--epochs 1]                 (npm run bench runs it)
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { machine, runPython, table } from './common.mjs';

const { values } = parseArgs({ options: { epochs: { type: 'string', default: '1' } } });
const epochs = Number(values.epochs);
const cores = os.cpus().length;
const mnist = napinet.loadMnist();

console.log(`seed recipe, ${epochs} epoch(s); ${machine()}; ${new Date().toISOString().slice(0, 10)}`);
const rows = [['run', 'threads', 'epoch s (best)', 'test accuracy', 'vs PyTorch (lean)', 'vs PyTorch (DataLoader)']];
const results = [];
for (const workers of [...new Set([1, cores])]) {
  const r = await chapter.trainSeedRecipe({ mnist, epochs, device: 'cpu', workers, progress: 'none' });
  results.push({ name: 'napinet', workers, seconds: Math.min(...r.epochSeconds), accuracy: r.testAccuracy });
}
const lean = runPython('torch_seed_recipe.py', ['--epochs', String(epochs), '--threads', String(cores), '--loader', 'tensor']);
const loader = runPython('torch_seed_recipe.py', ['--epochs', String(epochs), '--threads', String(cores), '--loader', 'dataloader']);
for (const r of results) {
  const ratio = (t) => (t ? `${(Math.min(...t.epochSeconds) / r.seconds).toFixed(2)}×` : 'n/a');
  rows.push([`napinet`, r.workers, r.seconds.toFixed(3), r.accuracy.toFixed(4), ratio(lean), ratio(loader)]);
}
for (const [name, t] of [['PyTorch, indexed tensors', lean], ['PyTorch, DataLoader', loader]]) {
  if (t) rows.push([`${name} ${t.torch}`, t.threads, Math.min(...t.epochSeconds).toFixed(3), t.testAccuracy.toFixed(4), '', '']);
}
console.log(table(rows));
if (results.length > 1) console.log(`napinet scaling 1 → ${cores} threads: ${(results[0].seconds / results[1].seconds).toFixed(2)}×`);
