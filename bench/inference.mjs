// Inference throughput on the CPU, images/s at batch 1 and 256, in the same run: napinet's
// Predictor (preallocated batch tensors), onnxruntime (CPU) on the model napinet exports, and
// PyTorch on the same weights. Every path does the same work: raw 0–255 pixels in,
// standardisation, the chapter's network, softmax, argmax. Python side: bench/inference.py.
//
//   npm run build && node bench/inference.mjs [--threads N] [--train]
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

const { values } = parseArgs({ options: { threads: { type: 'string' }, train: { type: 'boolean' } } });
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
  classifier = new napinet.Classifier(chapter.seedNetwork({ generator: new napinet.Generator(0) }), { inputShape: [1, 28, 28], standardizer: { mean: [mean], std: [std] } });
}

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-bench-'));
classifier.save(dir);
const onnxFile = path.join(dir, 'model.onnx');
classifier.exportOnnx(onnxFile, { softmax: true, preprocessing: true });
const imagesFile = path.join(dir, 'images.u8');
fs.writeFileSync(imagesFile, images);

// Calls timed per batch size, the same on every runtime: a long warm-up so that V8 has optimised
// napinet's JavaScript (the standardisation loop) before timing, as in a serving process.
const COUNTS = { 1: { warmup: 2000, iters: 4000 }, 256: { warmup: 20, iters: 100 } };

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
if (peers) {
  for (const [name, key] of [['onnxruntime', 'onnxruntime'], ['PyTorch', 'pytorch']]) {
    const p = peers[key];
    rows.push([`${name} ${peers.versions[key]}`, threads, fmt(p.batch1), fmt(p.batch256), `${(results[1] / p.batch1).toFixed(2)}×`, `${(results[256] / p.batch256).toFixed(2)}×`]);
  }
}
const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
console.log(`inference, seed network (Conv 1→8 5×5, ReLU, MaxPool 2, Linear 1152→10), raw pixels → class; ${machine()}; load average ${load}; ${new Date().toISOString().slice(0, 10)}`);
console.log(table(rows));
fs.rmSync(dir, { recursive: true, force: true });
