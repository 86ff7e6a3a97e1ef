// Where one training step of the seed recipe (or, with --network fast, the fast recipe's:
// batch 128, label smoothing 0.05, OneCycleLR stepped every step) spends its time: the batch
// gather, each layer's forward and backward (in the order Sequential runs them), the loss, zeroGrad
// and the optimizer step, in µs per step (median over the timed steps), on the CPU at batch 64 (128).
// With --clock cpu the figures are the process's CPU time (all threads), which a shared machine's
// load inflates less than wall-clock time.
//
//   npm run build && node bench/step-profile.mjs [--steps 400] [--threads N] [--network seed|fast] [--clock wall|cpu]
//                                            [--channels 12,24 (the fast network's two convolutions)]
//
// Each part is timed around its own call, so the figures include the JavaScript and Node-API cost
// of that call and the thread pool's wake-up; "step (untimed)" is a plain step without the probes.
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { cpuMs, machine, median, table } from './common.mjs';

const { values } = parseArgs({
  options: {
    steps: { type: 'string', default: '400' },
    threads: { type: 'string', default: String(os.cpus().length) },
    batch: { type: 'string' },
    network: { type: 'string', default: 'seed' },
    clock: { type: 'string', default: 'wall' },
    channels: { type: 'string' },
  },
});
const fast = values.network === 'fast';
const steps = Number(values.steps);
const batchSize = Number(values.batch ?? (fast ? chapter.FAST_RECIPE.batchSize : 64));
napinet.setNumThreads(Number(values.threads));
const now = values.clock === 'cpu' ? cpuMs : () => performance.now();

const generator = new napinet.Generator(0);
const data = napinet.prepareMnist({ mnist: napinet.loadMnist(), generator });
const model = fast ? chapter.fastNetwork({ generator, channels: values.channels?.split(',').map(Number) }) : chapter.seedNetwork({ generator });
model.train();
const optimizer = new napinet.optim.Adam(model.parameters(), { lr: 0.01 });
const scheduler = fast ? new napinet.optim.OneCycleLR(optimizer, { maxLr: chapter.FAST_RECIPE.lr, totalSteps: 2 * (steps + 20) + 2, pctStart: chapter.FAST_RECIPE.pctStart }) : null;
const lossFn = new napinet.nn.CrossEntropyLoss(fast ? { labelSmoothing: chapter.FAST_RECIPE.labelSmoothing } : {});
const stats = napinet.Tensor.zeros([2]);

const times = new Map(); // part → µs samples
let recording = false;
const record = (name, t0) => {
  if (!recording) return;
  if (!times.has(name)) times.set(name, []);
  times.get(name).push((now() - t0) * 1000);
};
const timed = (name, fn) => {
  const t0 = now();
  const r = fn();
  record(name, t0);
  return r;
};

// Probe every layer's forward and backward (Sequential calls them through the instance), and the
// fused steps of its execution plan (Conv2d → MaxPool2d(2) → ReLU on the CPU; a private field).
const probes = [];
const probe = (object, label) => {
  for (const method of ['forward', 'backward']) {
    const original = object[method].bind(object);
    probes.push(() => (object[method] = original));
    object[method] = (...args) => timed(`${label} ${method}`, () => original(...args));
  }
};
model.layers.forEach((layer, i) => probe(layer, `${i} ${layer.constructor.name}`));
for (const step of model.steps ?? []) {
  if (step.constructor.name.endsWith('Step')) {
    const names = step.layers.map((l) => `${model.layers.indexOf(l)} ${l.constructor.name}`);
    probe(step, `fused ${names.join(' + ')}`);
  }
}

function run(probed) {
  let it = napinet.batches(data.train, batchSize, { shuffle: true, generator });
  const next = () => {
    let r = it.next();
    if (r.done) {
      it = napinet.batches(data.train, batchSize, { shuffle: true, generator });
      r = it.next();
    }
    return r.value;
  };
  const stepTimes = [];
  for (let s = 0; s < steps + 20; s++) {
    recording = probed && s >= 20;
    const t0 = now();
    const batch = timed('batch gather', next);
    timed('zeroGrad', () => optimizer.zeroGrad());
    napinet.explicit(() => {
      const logits = timed('model forward (sum of layers)', () => model.forward(batch.x));
      timed('loss forward', () => lossFn.forward(logits, batch.y, { accumulateInto: stats }));
      const dlogits = timed('loss backward', () => lossFn.backward());
      timed('model backward (sum of layers)', () => model.backward(dlogits));
    });
    timed('optimizer step', () => optimizer.step());
    if (scheduler) timed('scheduler step', () => scheduler.step());
    if (s >= 20) stepTimes.push((now() - t0) * 1000);
  }
  return median(stepTimes);
}

const probedStep = run(true);
for (const undo of probes) undo();
const plainStep = run(false);

console.log(`${values.network}-recipe training step, batch ${batchSize}; ${machine()}; ${napinet.numThreads()} threads; ${values.clock}-clock; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ${new Date().toISOString().slice(0, 10)}`);
const rows = [['part', 'µs (median)']];
for (const [name, xs] of times) rows.push([name, median(xs).toFixed(1)]);
rows.push(['step (probed)', probedStep.toFixed(1)]);
rows.push(['step (untimed)', plainStep.toFixed(1)]);
const stepsPerEpoch = Math.ceil(data.train.count / batchSize);
rows.push([`→ epoch of ${stepsPerEpoch} steps (s)`, ((plainStep * stepsPerEpoch) / 1e6).toFixed(3)]);
console.log(table(rows));
