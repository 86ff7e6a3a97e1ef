// A few data-parallel training steps with today's explicit API, to compare with one process:
// the seed network on MNIST, global batch B split evenly over the ranks, gradients averaged with
// allReduceGradients before optimizer.step(). Run with `node` (one process, whole batches) or under
// `mpirun -np N` (each rank its share of every batch); every rank reports its final weights.
// With --micro-batches M (one process only) each global batch is taken in M equal parts whose
// gradients accumulate (as the layers do: grad += part) before they are divided by M: the same
// additions as M ranks' all-reduce, when M = 2.
//   node test/distributed/train.js [--steps 12] [--batch 64] [--optimizer adam|sgd] [--micro-batches 1] [--threads 1]
'use strict';
const { parseArgs } = require('node:util');
const { napinet, chapter, report, bits } = require('./common');

const { values: args } = parseArgs({
  options: {
    steps: { type: 'string', default: '12' },
    batch: { type: 'string', default: '64' },
    optimizer: { type: 'string', default: 'adam' },
    threads: { type: 'string', default: '1' },
    'micro-batches': { type: 'string', default: '1' },
  },
});
const steps = Number(args.steps);
const batch = Number(args.batch);
const { distributed: dist, Tensor, Generator, nn, optim } = napinet;
const { rank, worldSize } = dist.init();
napinet.setNumThreads(Number(args.threads));
const micro = Number(args['micro-batches']);
if (micro > 1 && worldSize > 1) throw new Error('--micro-batches is for the one-process reference');
const parts = worldSize * micro;
if (batch % parts !== 0) throw new Error(`--batch ${batch} is not a multiple of ${parts}`);
const share = batch / parts; // rows per forward/backward

// Rank r initialises with seed r, so the ranks only agree after broadcastParameters.
const model = chapter.seedNetwork({ generator: new Generator(rank) });
const weights = () => model.namedParameters().map(([name, p]) => [name, bits(p.toArray())]);
const before = JSON.stringify(weights());
dist.broadcastParameters(model);
const broadcastChanged = JSON.stringify(weights()) !== before;

const mnist = napinet.loadMnist();
const pixels = 28 * 28;
const images = Float32Array.from(mnist.train.images.subarray(0, steps * batch * pixels), (v) => (v / 255 - 0.1307) / 0.3081);
const labels = Int32Array.from(mnist.train.labels.subarray(0, steps * batch));

const optimizer = args.optimizer === 'sgd'
  ? new optim.SGD(model.parameters(), { lr: 0.05, momentum: 0.9 })
  : new optim.Adam(model.parameters(), { lr: 0.01 });
const loss = new nn.CrossEntropyLoss();
const losses = [];
const start = process.hrtime.bigint();
model.train();
for (let step = 0; step < steps; step++) {
  optimizer.zeroGrad();
  let stepLoss = 0;
  for (let part = 0; part < micro; part++) {
    const first = step * batch + (rank * micro + part) * share; // this rank's (part's) rows of the global batch
    const x = Tensor.from(images.subarray(first * pixels, (first + share) * pixels), [share, 1, 28, 28]);
    const y = Tensor.from(labels.subarray(first, first + share), [share], { dtype: 'int32' });
    const result = napinet.explicit(() => loss.forward(model.forward(x), y));
    model.backward(loss.backward());
    stepLoss += result.loss() / micro;
  }
  if (micro > 1) for (const p of model.parameters()) p.grad.data.forEach((g, i, grad) => (grad[i] = g / micro));
  dist.allReduceGradients(model.parameters());
  optimizer.step();
  losses.push(stepLoss);
}
const seconds = Number(process.hrtime.bigint() - start) / 1e9;
report({ rank, worldSize, broadcastChanged, weights: weights(), losses, seconds });
dist.finalize();
