// Inference throughput on the CPU, images/s at batch 1 and 256, in the same run: napinet's
// Predictor (preallocated batch tensors), onnxruntime-node (the Node binding, when installed:
// `npm install --no-save --ignore-scripts onnxruntime-node`) and Python's onnxruntime (CPU) on the
// model napinet exports, and PyTorch on the same weights. Every path does the same work: raw 0–255
// pixels in, standardisation, the network, softmax, argmax. Python side: bench/inference.py.
// --model deep runs the chapter's deep network (eval mode: BatchNorm from its running statistics,
// no dropout) instead of the seed network.
//
//   npm run build && node bench/inference.mjs [--threads N] [--train] [--model seed|deep]
//
// --train trains the seed recipe for one epoch first (the weights do not change the speed; by
// default the network keeps its seeded initialisation). Prints a Markdown table for
// bench/RESULTS.md.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { parseArgs } from 'node:util';
import { spawnSync } from 'node:child_process';
import napinet from '../dist/esm/index.mjs';
import chapter from '../dist/esm/chapter/index.mjs';
import { machine, root, table, timeMs } from './common.mjs';

const { values } = parseArgs({ options: { threads: { type: 'string' }, train: { type: 'boolean' }, model: { type: 'string', default: 'seed' } } });
if (!['seed', 'deep'].includes(values.model)) throw new Error(`Expected 'seed' or 'deep' for --model but received '${values.model}'`);
if (values.train && values.model !== 'seed') throw new Error('--train trains the seed recipe only');
const threads = Number(values.threads ?? os.cpus().length);
napinet.setNumThreads(threads);
const mnist = napinet.loadMnist();
const images = mnist.test.images;

let classifier;
if (values.train) {
  const run = await chapter.trainSeedRecipe({ mnist, epochs: 1, device: 'cpu', progress: 'none' });
  classifier = new napinet.Classifier(run.model, { inputShape: [1, 28, 28], standardizer: run.standardizer });
} else {
  const train = mnist.train.images;
  let sum = 0;
  let sumSq = 0;
  for (const v of train) {
    sum += v;
    sumSq += v * v;
  }
  const mean = sum / train.length;
  const std = Math.sqrt(sumSq / train.length - mean * mean);
  const network = values.model === 'deep' ? chapter.deepNetwork({ generator: new napinet.Generator(0) }) : chapter.seedNetwork({ generator: new napinet.Generator(0) });
  classifier = new napinet.Classifier(network, { inputShape: [1, 28, 28], standardizer: { mean: [mean], std: [std] } });
}

// A serving process runs the network in eval mode (a Predictor otherwise switches modes per call).
classifier.network.eval();

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-bench-'));
classifier.save(dir);
const onnxFile = path.join(dir, 'model.onnx');
classifier.exportOnnx(onnxFile, { softmax: true, preprocessing: true });
const imagesFile = path.join(dir, 'images.u8');
fs.writeFileSync(imagesFile, images);

// Calls timed per batch size, the same on every runtime: a long warm-up so that V8 has optimised
// napinet's JavaScript (the standardisation loop) before timing, as in a serving process.
// The deep network costs ~30× the seed network's work per image: fewer calls.
const COUNTS = values.model === 'deep' ? { 1: { warmup: 200, iters: 400 }, 256: { warmup: 2, iters: 10 } } : { 1: { warmup: 2000, iters: 4000 }, 256: { warmup: 20, iters: 100 } };

// napinet: a Predictor per batch size, reusing its tensors and our output arrays.
const results = {};
for (const batch of [1, 256]) {
  const predictor = classifier.predictor(batch);
  const out = { probabilities: new Float32Array(batch * 10), predicted: new Int32Array(batch) };
  let cursor = 0;
  const ms = timeMs(
    () => {
      const start = batch === 1 ? cursor++ % 10000 : 0;
      predictor.run(images.subarray(start * 784, (start + batch) * 784), { out });
    },
    COUNTS[batch],
  );
  results[batch] = (batch * 1000) / ms;
}

// onnxruntime-node: one session, the same thread counts as Python's (intra-op N, inter-op 1).
let ortNode = null;
try {
  const ort = (await import('onnxruntime-node')).default;
  const session = await ort.InferenceSession.create(onnxFile, { intraOpNumThreads: threads, interOpNumThreads: 1, executionMode: 'sequential', executionProviders: ['cpu'] });
  const version = JSON.parse(fs.readFileSync(path.join(root, 'node_modules', 'onnxruntime-node', 'package.json'), 'utf8')).version;
  const [input] = session.inputNames;
  const argmax = (p, batch) => {
    const out = new Int32Array(batch);
    for (let b = 0; b < batch; b++) {
      let best = 0;
      for (let j = 1; j < 10; j++) if (p[b * 10 + j] > p[b * 10 + best]) best = j;
      out[b] = best;
    }
    return out;
  };
  // Times an async call: warm-up, then the median of the calls' own durations.
  const timeAsync = async (fn, { warmup, iters }) => {
    for (let i = 0; i < warmup; i++) await fn();
    const times = [];
    for (let i = 0; i < iters; i++) {
      const t = performance.now();
      await fn();
      times.push(performance.now() - t);
    }
    times.sort((a, b) => a - b);
    return times[Math.floor(times.length / 2)];
  };
  const rates = {};
  for (const batch of [1, 256]) {
    let cursor = 0;
    const ms = await timeAsync(async () => {
      const start = batch === 1 ? cursor++ % 10000 : 0;
      const x = Float32Array.from(images.subarray(start * 784, (start + batch) * 784));
      const result = await session.run({ [input]: new ort.Tensor('float32', x, [batch, 1, 28, 28]) });
      argmax(result[session.outputNames[0]].data, batch);
    }, COUNTS[batch]);
    rates[batch] = (batch * 1000) / ms;
  }
  ortNode = { version, batch1: rates[1], batch256: rates[256] };
} catch (error) {
  console.log(`(onnxruntime-node not loaded: ${error.message.split('\n')[0]})`);
}

let peers = null;
const probe = spawnSync('python3', ['-c', 'import torch, onnxruntime'], { encoding: 'utf8' });
if (probe.status === 0) {
  const r = spawnSync('python3', [
    path.join(root, 'bench', 'inference.py'), dir, onnxFile, imagesFile, '--threads', String(threads),
    '--warmup1', String(COUNTS[1].warmup), '--iters1', String(COUNTS[1].iters),
    '--warmup256', String(COUNTS[256].warmup), '--iters256', String(COUNTS[256].iters),
  ], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`bench/inference.py failed:\n${r.stderr}`);
  peers = JSON.parse(r.stdout.trim().split('\n').at(-1));
} else {
  console.log('(python3 with torch and onnxruntime not found: napinet only)');
}

const fmt = (x) => Math.round(x).toLocaleString('en-US');
const rows = [['runtime', 'threads', 'batch 1 (images/s)', 'batch 256 (images/s)', 'napinet ÷ it, batch 1', 'napinet ÷ it, batch 256']];
rows.push([`napinet ${JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')).version} (Predictor)`, threads, fmt(results[1]), fmt(results[256]), '', '']);
const ratio = (ours, theirs) => `${(ours / theirs).toFixed(2)}×`;
if (ortNode) rows.push([`onnxruntime-node ${ortNode.version}`, threads, fmt(ortNode.batch1), fmt(ortNode.batch256), ratio(results[1], ortNode.batch1), ratio(results[256], ortNode.batch256)]);
if (peers) {
  for (const [name, key] of [['onnxruntime (Python)', 'onnxruntime'], ['PyTorch', 'pytorch']]) {
    const p = peers[key];
    rows.push([`${name} ${peers.versions[key]}`, threads, fmt(p.batch1), fmt(p.batch256), ratio(results[1], p.batch1), ratio(results[256], p.batch256)]);
  }
}
const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
const described = values.model === 'deep' ? 'deep network (4 × Conv 3×3 + BatchNorm2d + ReLU, 2 pools, 3 Linear + BatchNorm1d)' : 'seed network (Conv 1→8 5×5, ReLU, MaxPool 2, Linear 1152→10)';
console.log(`inference, ${described}, raw pixels → class; ${machine()}; load average ${load}; ${new Date().toISOString().slice(0, 10)}`);
console.log(table(rows));
fs.rmSync(dir, { recursive: true, force: true });
