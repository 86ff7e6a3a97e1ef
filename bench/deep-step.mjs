// The deep network's training step (lib/chapter/models.ts deepNetwork, batch 128, Adam) in napinet
// and PyTorch CPU, interleaved in the same run: blocks of --block steps alternate (napinet,
// PyTorch, napinet, …) for --rounds rounds, so that a shared machine's load slows both alike. Prints
// each side's median step, the ratio of the medians and the median of the per-round ratios, and
// the load average before and after. With --profile, napinet's step is also broken down layer by
// layer (each layer's and each fused step's forward and backward timed around its call). With
// --clock cpu both sides report the process's CPU time (all threads) instead of wall-clock time.
//
//   npm run build && node bench/deep-step.mjs [--rounds 8] [--block 20] [--threads N] [--profile]
//                                             [--no-torch] [--fuse false] [--clock wall|cpu]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { cpuMs, machine, median, pythonChild, sampleMs, table } from './common.mjs';

const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '8' },
    block: { type: 'string', default: '20' },
    threads: { type: 'string', default: String(os.cpus().length) },
    profile: { type: 'boolean', default: false },
    'no-torch': { type: 'boolean', default: false },
    fuse: { type: 'string', default: 'true' },
    clock: { type: 'string', default: 'wall' },
  },
});
const rounds = Number(values.rounds);
const block = Number(values.block);
const threads = Number(values.threads);
napinet.setNumThreads(threads);
const now = values.clock === 'cpu' ? cpuMs : () => performance.now();
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const loadBefore = load();

// ---- napinet ----
const generator = new napinet.Generator(0);
const data = napinet.prepareMnist({ mnist: napinet.loadMnist(), generator });
const model = chapter.deepNetwork({ generator });
model.fuse = values.fuse !== 'false';
model.train();
const optimizer = new napinet.optim.Adam(model.parameters(), { lr: 0.002 });
const lossFn = new napinet.nn.CrossEntropyLoss();
const stats = napinet.Tensor.zeros([2]);
let batchIterator = napinet.batches(data.train, 128, { shuffle: true, generator, dropLast: true });
const nextBatch = () => {
  let r = batchIterator.next();
  if (r.done) {
    batchIterator = napinet.batches(data.train, 128, { shuffle: true, generator, dropLast: true });
    r = batchIterator.next();
  }
  return r.value;
};

// Optional per-part probes (the step-profile approach: each call timed around itself).
const parts = new Map();
let recording = false;
const timed = (name, fn) => {
  if (!recording) return fn();
  const t0 = now();
  const r = fn();
  if (!parts.has(name)) parts.set(name, []);
  parts.get(name).push((now() - t0) * 1000);
  return r;
};
const undo = [];
const probe = (object, label) => {
  for (const method of ['forward', 'backward']) {
    const original = object[method];
    undo.push(() => (object[method] = original));
    object[method] = (...args) => timed(`${label} ${method}`, () => original.apply(object, args));
  }
};
if (values.profile) {
  // Sequential's fused steps (a private field): Conv2d → BatchNorm2d → ReLU (→ MaxPool2d) and friends.
  for (const step of model.steps ?? []) {
    if (step.constructor.name.endsWith('Step')) {
      const names = step.layers.map((l) => `${model.layers.indexOf(l)} ${l.constructor.name}`);
      probe(step, `fused ${names.join(' + ')}`);
    }
  }
  model.layers.forEach((layer, i) => probe(layer, `${i} ${layer.constructor.name}`));
}

function napinetStep() {
  const batch = timed('batch gather', nextBatch);
  timed('zeroGrad', () => optimizer.zeroGrad());
  napinet.explicit(() => {
    const logits = model.forward(batch.x);
    timed('loss', () => lossFn.forward(logits, batch.y, { accumulateInto: stats }));
    model.backward(timed('loss', () => lossFn.backward()));
  });
  timed('optimizer step', () => optimizer.step());
}

/** Milliseconds of each of `steps` napinet steps (on --clock). */
const napinetBlock = (steps) => sampleMs(napinetStep, { iters: steps, warmup: 0, clock: values.clock });

// ---- PyTorch, as a child process driven block by block ----
async function startTorch() {
  const child = await pythonChild('torch_deep_step.py', ['--threads', String(threads), '--clock', values.clock]);
  return { version: child.version, run: async (steps) => (await child.ask(`run ${steps}`)).ms, quit: child.quit };
}
const torch = values['no-torch'] ? null : await startTorch();
const pause = () => new Promise((r) => setTimeout(r, 50)); // lets the other side's spinning threads sleep

// Warm-up: one block each.
napinetBlock(block);
if (torch) await torch.run(block);

const ours = [];
const theirs = [];
const roundRatios = [];
for (let r = 0; r < rounds; r++) {
  await pause();
  recording = values.profile;
  const a = napinetBlock(block);
  recording = false;
  ours.push(...a);
  if (torch) {
    await pause();
    const b = await torch.run(block);
    theirs.push(...b);
    roundRatios.push(median(b) / median(a));
  }
}
torch?.quit();
for (const u of undo) u();

console.log(`deep network training step, batch 128; ${machine()}; ${threads} threads; fuse ${model.fuse}; ${values.clock}-clock ms; ${new Date().toISOString().slice(0, 10)}`);
console.log(`load average before: ${loadBefore}; after: ${load()}`);
const rows = [['run', 'steps', 'median ms', 'min ms']];
rows.push([`napinet${values.profile ? ' (probed)' : ''}`, ours.length, median(ours).toFixed(2), Math.min(...ours).toFixed(2)]);
if (torch) rows.push([`PyTorch ${torch.version}`, theirs.length, median(theirs).toFixed(2), Math.min(...theirs).toFixed(2)]);
console.log(table(rows));
if (torch) {
  console.log(`PyTorch ÷ napinet, median step: ${(median(theirs) / median(ours)).toFixed(2)}×; median of ${rounds} per-round ratios: ${median(roundRatios).toFixed(2)}× (range ${Math.min(...roundRatios).toFixed(2)}–${Math.max(...roundRatios).toFixed(2)})`);
}
if (values.profile) {
  const profile = [['part', 'ms (median)']];
  for (const [name, xs] of parts) profile.push([name, (median(xs) / 1000).toFixed(3)]);
  console.log(table(profile));
}
console.log(JSON.stringify({ napinetMs: median(ours), torchMs: torch ? median(theirs) : null, roundRatios, loadBefore, loadAfter: load() }));
