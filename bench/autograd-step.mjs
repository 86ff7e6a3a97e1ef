// The seed network two ways, in the same run: the Sequential of built-in layers that fit() trains in
// the explicit style (hand-written backward, buffers reused), and the same network written as a
// forward-only Module that fit() trains through autograd (loss.backward(), each step in tidy()).
// Prints each epoch's median time, their ratio, and what an autograd step allocates (the memory
// pool's misses, which must be 0 once warm, and the JS heap growth).
//   node bench/autograd-step.mjs [--epochs 3] [--limit 60000] [--threads N]
import { parseArgs } from 'node:util';
import { createRequire } from 'node:module';
import { machine, median } from './common.mjs';

const require = createRequire(import.meta.url);
const napinet = require('../dist/cjs/index.js');
const { nn, optim, fit, Generator, loadMnist, prepareMnist, memoryStats, setNumThreads } = napinet;

const { values } = parseArgs({ options: { epochs: { type: 'string', default: '3' }, limit: { type: 'string' }, threads: { type: 'string' } } });
if (values.threads) setNumThreads(Number(values.threads));
const epochs = Number(values.epochs);

class SeedModule extends nn.Module {
  constructor(generator) {
    super();
    this.conv = new nn.Conv2d(1, 8, 5, { generator });
    this.pool = new nn.MaxPool2d(2);
    this.fc = new nn.Linear(8 * 12 * 12, 10, { generator });
  }
  forward(x) {
    return this.fc.forward(this.pool.forward(this.conv.forward(x).relu()).flatten(1));
  }
}

function sequential(generator) {
  return new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(8 * 12 * 12, 10, { generator }));
}

async function run(make) {
  const generator = new Generator(0);
  let { train } = prepareMnist({ mnist: loadMnist(), generator });
  if (values.limit) train = train.head(Number(values.limit));
  const model = make(generator);
  const optimizer = new optim.Adam(model.parameters(), { lr: 0.01 });
  const before = memoryStats();
  const heap = process.memoryUsage().heapUsed;
  const history = await fit(model, train, { optimizer, epochs, batchSize: 64, generator, progress: 'none' });
  const after = memoryStats();
  return {
    seconds: median(history.epochs.slice(1).map((e) => e.seconds)),
    accuracy: history.epochs.at(-1).trainAccuracy,
    misses: after.poolMisses - before.poolMisses,
    hits: after.poolHits - before.poolHits,
    heapMB: (process.memoryUsage().heapUsed - heap) / 2 ** 20,
  };
}

console.log(machine());
const explicitRun = await run(sequential);
const autogradRun = await run((g) => new SeedModule(g));
const explicitAgain = await run(sequential);
const base = Math.min(explicitRun.seconds, explicitAgain.seconds);
console.log(`Sequential (explicit)   epoch ${base.toFixed(3)} s  (runs: ${explicitRun.seconds.toFixed(3)}, ${explicitAgain.seconds.toFixed(3)})  train accu ${explicitRun.accuracy.toFixed(4)}`);
console.log(`Module (autograd)       epoch ${autogradRun.seconds.toFixed(3)} s  train accu ${autogradRun.accuracy.toFixed(4)}`);
console.log(`autograd / explicit: ${(autogradRun.seconds / base).toFixed(3)}×`);
console.log(`autograd steps: pool hits ${autogradRun.hits}, misses ${autogradRun.misses} over ${epochs} epochs; heap growth ${autogradRun.heapMB.toFixed(1)} MB`);
