// The seed network three ways, trained by fit() in the same run, epochs interleaved (A B C A B C …)
// so that the machine's load falls on all alike:
//   Sequential  the chapter's layers: fit() runs them in explicit() (hand-written backward, buffers
//               reused, nothing allocated);
//   Blocks      a forward-only Module holding an nn.Sequential block (conv → ReLU → pool, fused)
//               and a Linear: differentiated by autograd, each step in tidy();
//   OneByOne    a forward-only Module calling conv, relu, pool and linear one by one (no fusion);
//   Unfused     the Sequential with fuse = false: the same kernels as OneByOne, in explicit().
// Prints each variant's median epoch time and its ratio to the Sequential's, and what an autograd
// step allocates: new memory-pool allocations after the first epoch (0 means every tensor a step
// needs reuses one the previous step freed) and the JS heap's growth.
//   node bench/autograd-step.mjs [--rounds 3] [--limit 60000] [--threads N]
import { createRequire } from 'node:module';
import { parseArgs } from 'node:util';
import { machine, median } from './common.mjs';

const require = createRequire(import.meta.url);
const napinet = require('../dist/cjs/index.js');
const { nn, optim, fit, Generator, loadMnist, prepareMnist, memoryStats, setNumThreads } = napinet;

const { values } = parseArgs({ options: { rounds: { type: 'string', default: '3' }, limit: { type: 'string' }, threads: { type: 'string' } } });
if (values.threads) setNumThreads(Number(values.threads));

class Blocks extends nn.Module {
  constructor(generator) {
    super();
    this.features = new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator }), new nn.ReLU(), new nn.MaxPool2d(2));
    this.classifier = new nn.Linear(8 * 12 * 12, 10, { generator });
  }
  forward(x) {
    return this.classifier.forward(this.features.forward(x).flatten(1));
  }
}

class OneByOne extends nn.Module {
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

const variants = {
  Sequential: (g) => new nn.Sequential(new nn.Conv2d(1, 8, 5, { generator: g }), new nn.ReLU(), new nn.MaxPool2d(2), new nn.Flatten(), new nn.Linear(1152, 10, { generator: g })),
  Blocks: (g) => new Blocks(g),
  OneByOne: (g) => new OneByOne(g),
  Unfused: (g) => Object.assign(variants.Sequential(g), { fuse: false }),
};

const mnist = loadMnist();
const runs = Object.fromEntries(
  Object.entries(variants).map(([name, make]) => {
    const generator = new Generator(0);
    let { train } = prepareMnist({ mnist, generator });
    if (values.limit) train = train.head(Number(values.limit));
    const model = make(generator);
    return [name, { model, train, generator, optimizer: new optim.Adam(model.parameters(), { lr: 0.01 }), seconds: [], accuracy: 0, misses: 0, heap: 0 }];
  }),
);

console.log(machine());
const rounds = Number(values.rounds);
for (let round = 0; round <= rounds; round++) {
  for (const run of Object.values(runs)) {
    const pool = memoryStats().poolMisses;
    const heap = process.memoryUsage().heapUsed;
    const history = await fit(run.model, run.train, { optimizer: run.optimizer, epochs: 1, batchSize: 64, generator: run.generator, progress: 'none' });
    if (round === 0) continue; // the warm-up epoch (JIT, pool filling)
    run.seconds.push(history.epochs[0].seconds);
    run.accuracy = history.epochs[0].trainAccuracy;
    run.misses += memoryStats().poolMisses - pool;
    run.heap = Math.max(run.heap, process.memoryUsage().heapUsed - heap);
  }
}
const base = median(runs.Sequential.seconds);
for (const [name, run] of Object.entries(runs)) {
  const m = median(run.seconds);
  console.log(
    `${name.padEnd(11)} epoch ${m.toFixed(3)} s (${run.seconds.map((s) => s.toFixed(3)).join(', ')})  ${(m / base).toFixed(3)}× Sequential  ` +
      `train accu ${run.accuracy.toFixed(4)}  new pool allocations ${run.misses}`,
  );
}
