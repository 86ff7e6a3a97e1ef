// Is the seed recipe's training step on a GPU bound by the host (JavaScript, Node-API and the
// launch calls) or by the GPU? Kernels run asynchronously, so the time to issue N steps is the
// host's share and the time until a synchronisation after them is the whole; when the two are
// close the step is host-bound (fewer launches or CUDA graphs would help), when the second is much
// larger it is GPU-bound (the kernels themselves). Batch 64, as the recipe; the dataset lives on
// the device and every batch is gathered there, as in fit(). With --graph the passes are replayed
// from a CUDA graph, as fit({ cudaGraph: true }) does (gather, graph, Adam: three host calls).
//
//   npm run build && node bench/gpu-step.mjs [--steps 2000] [--device cuda] [--graph]
// (scripts/gpu-check runs it on a lent GPU; on the emulator build it runs too, slowly: --steps 20)
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { machine, table } from './common.mjs';

const { values } = parseArgs({
  options: { steps: { type: 'string', default: '2000' }, device: { type: 'string', default: 'cuda' }, graph: { type: 'boolean', default: false } },
});
const steps = Number(values.steps);
const device = values.device;
const batchSize = 64;

const generator = new napinet.Generator(0);
const data = napinet.prepareMnist({ mnist: napinet.loadMnist(), generator });
const train = new napinet.DeviceDataset(data.train, device);
const model = chapter.seedNetwork({ generator }).to(device);
const optimizer = new napinet.optim.Adam(model.parameters(), { lr: 0.01 });
const lossFn = new napinet.nn.CrossEntropyLoss();
const stats = napinet.Tensor.zeros([2], { device });

// Full batches only (dropLast), so one pair of batch tensors serves every step and a graph.
let it = napinet.batches(train, batchSize, { shuffle: true, generator, dropLast: true });
let graph;
// The explicit style, as fit() runs a Sequential: no graph, buffers reused from step to step.
const passes = (batch) =>
  napinet.explicit(() => {
    optimizer.zeroGrad();
    lossFn.forward(model.forward(batch.x), batch.y, { accumulateInto: stats });
    model.backward(lossFn.backward());
  });
function step() {
  let r = it.next();
  if (r.done) {
    it = napinet.batches(train, batchSize, { shuffle: true, generator, dropLast: true });
    r = it.next();
    graph?.dispose(); // the new epoch's batch tensors are new buffers
    graph = undefined;
  }
  if (!values.graph) passes(r.value);
  else if (graph) graph.launch();
  else {
    passes(r.value); // workspaces first, then record
    graph = napinet.captureCudaGraph(() => passes(r.value));
  }
  optimizer.step();
}

const warmUp = Math.min(200, steps);
for (let s = 0; s < warmUp; s++) step();
stats.toArray(); // waits for the warm-up
const t0 = performance.now();
for (let s = 0; s < steps; s++) step();
const issued = performance.now();
stats.toArray(); // waits for the GPU to finish the timed steps
const done = performance.now();

const perStep = (t) => ((t - t0) * 1000) / steps;
const stepsPerEpoch = Math.ceil(data.train.count / batchSize);
console.log(`seed training step on ${device}${values.graph ? ' from a CUDA graph' : ''} (${napinet.cuda.isAvailable() ? napinet.cuda.info().name : 'no GPU'}), batch ${batchSize}, ${steps} steps; ${machine()}; ${new Date().toISOString().slice(0, 10)}`);
console.log(
  table([
    ['figure', 'µs per step', `epoch of ${stepsPerEpoch} steps (s)`],
    ['host: steps issued', perStep(issued).toFixed(1), ((perStep(issued) * stepsPerEpoch) / 1e6).toFixed(4)],
    ['whole: steps finished on the device', perStep(done).toFixed(1), ((perStep(done) * stepsPerEpoch) / 1e6).toFixed(4)],
  ]),
);
console.log(JSON.stringify({ device, graph: values.graph, steps, hostMicrosPerStep: perStep(issued), microsPerStep: perStep(done) }));
train.dispose();
model.dispose();
