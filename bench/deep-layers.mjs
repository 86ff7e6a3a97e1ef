// The deep network's convolution blocks and batch norms (batch 128) in napinet and PyTorch CPU,
// interleaved in the same run (for each round and case: napinet's median over --iters calls, then
// PyTorch's), with the machine's yardsticks measured in the same run (bench/machine_peak.c: the
// float32 FMA peak of the threads used, and a STREAM-like copy's bandwidth at the tensors' size).
//   BatchNorm2d forward / backward (training): GB/s over the least traffic a pass needs (forward:
//     read x twice — statistics, then normalise — and write y; backward: read dy and x twice and
//     write dx) and its share of the copy bandwidth.
//   Block = Conv2d 3×3 (no bias) → BatchNorm2d → ReLU (→ MaxPool2d 2), as the deep network's layers,
//     forward and backward (dx except for the first block) through the layers' explicit
//     forward/backward (what training runs; Sequential fuses them unless --fuse false): GFLOP/s of
//     the convolution (2·N·K·C·9·OH·OW per pass; backward with dx twice that) and its share of the
//     FMA peak.
// Each side's figure is the median (and the fastest) of all its calls; "PyTorch ÷ napinet" is the
// median of the per-round ratios of medians, and the ratio of the fastest calls beside it (on a
// loaded machine the fastest call is the one least disturbed).
//
// With --clock cpu both sides report the process's CPU time instead of wall-clock time (all threads
// together: the work done, which a shared machine's other jobs disturb far less).
//
//   npm run build && node bench/deep-layers.mjs [--rounds 5] [--iters 10] [--threads N] [--fuse false]
//                                               [--clock wall|cpu] [--no-torch]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import { machine, machinePeak, median, pythonChild, sampleMs, table } from './common.mjs';

const { Tensor, nn, ops } = napinet;
const { values } = parseArgs({
  options: {
    rounds: { type: 'string', default: '5' },
    iters: { type: 'string', default: '10' },
    threads: { type: 'string', default: String(os.cpus().length) },
    fuse: { type: 'string', default: 'true' },
    clock: { type: 'string', default: 'wall' },
    'no-torch': { type: 'boolean', default: false },
  },
});
const rounds = Number(values.rounds);
const iters = Number(values.iters);
const threads = Number(values.threads);
napinet.setNumThreads(threads);
const N = 128;
const load = () => os.loadavg().map((l) => l.toFixed(1)).join(' ');
const loadBefore = load();
const rand = (shape) => Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() * 2 - 1), shape);

// ---- napinet cases: name → { run, bytes | flops } ----
const cases = [];
for (const [c, h] of [[32, 26], [32, 24], [64, 10], [64, 8]]) {
  const shape = [N, c, h, h];
  const x = rand(shape);
  const dy = rand(shape);
  const y = Tensor.zeros(shape);
  const dx = Tensor.zeros(shape);
  const weight = rand([c]);
  const bias = rand([c]);
  const rm = Tensor.zeros([c]);
  const rv = Tensor.from(new Float32Array(c).fill(1), [c]);
  const dweight = Tensor.zeros([c]);
  const dbias = Tensor.zeros([c]);
  const saveMean = Tensor.zeros([c]);
  const saveInvstd = Tensor.zeros([c]);
  const forward = () => ops.batchNorm(x, rm, rv, weight, bias, { training: true }, { y, saveMean, saveInvstd });
  const { saved } = forward();
  const size = 4 * N * c * h * h;
  cases.push({ name: `bn-forward ${c} ${h}`, label: `BatchNorm2d ${c}×${h}×${h} forward`, run: forward, bytes: 3 * size, size });
  cases.push({
    name: `bn-backward ${c} ${h}`,
    label: `BatchNorm2d ${c}×${h}×${h} backward`,
    run: () => ops.batchNormBackward(dy, x, weight, saved, { out: { dx, dweight, dbias } }),
    bytes: 5 * size,
    size,
  });
}
for (const [c, k, h, pool] of [[1, 32, 28, 0], [32, 32, 26, 1], [32, 64, 12, 0], [64, 64, 10, 1]]) {
  const layers = [new nn.Conv2d(c, k, 3, { bias: false }), new nn.BatchNorm2d(k), new nn.ReLU()];
  if (pool) layers.push(new nn.MaxPool2d(2));
  const block = new nn.Sequential(...layers);
  block.fuse = values.fuse !== 'false';
  block.train();
  block.inputGrad = c > 1;
  const x = rand([N, c, h, h]);
  const out = napinet.explicit(() => block.forward(x));
  const dy = rand(out.shape);
  const o = h - 2;
  const flops = 2 * N * k * c * 9 * o * o;
  const label = `Conv ${c}→${k} ${h}×${h} + BN + ReLU${pool ? ' + pool' : ''}`;
  const key = `${c} ${k} ${h} ${pool}`;
  cases.push({ name: `block-forward ${key}`, label: `${label} forward`, run: () => napinet.explicit(() => block.forward(x)), flops });
  cases.push({
    name: `block-backward ${key}`,
    label: `${label} backward`,
    run: () => {
      napinet.explicit(() => block.forward(x));
      block.backward(dy);
    },
    subtractForward: true,
    flops: c > 1 ? 2 * flops : flops,
  });
}

// ---- PyTorch, a child process answering one case at a time ----
async function startTorch() {
  const child = await pythonChild('torch_layers.py', ['--threads', String(threads), '--clock', values.clock]);
  return { version: child.version, ms: async (name) => (await child.ask(`${name} ${iters}`)).ms, quit: child.quit };
}
const torch = values['no-torch'] ? null : await startTorch();

const peak = machinePeak(threads, [...new Set(cases.filter((c) => c.size).map((c) => c.size))], { clock: values.clock });
// Per case: every call's ms (a backward case's calls minus its forward's median of the round).
const ours = new Map(cases.map((c) => [c.name, []]));
const theirs = new Map(cases.map((c) => [c.name, []]));
const ratios = new Map(cases.map((c) => [c.name, []]));
const lastMedian = new Map();
const record = (into, c, samples, side) => {
  const forward = c.subtractForward ? lastMedian.get(`${side} ${c.name.replace('backward', 'forward')}`) : 0;
  const ms = samples.map((t) => t - forward);
  lastMedian.set(`${side} ${c.name}`, median(ms));
  into.get(c.name).push(...ms);
  return median(ms);
};
for (let r = 0; r < rounds; r++) {
  for (const c of cases) {
    const a = record(ours, c, sampleMs(c.run, { iters, warmup: 2, clock: values.clock }), 'napinet');
    if (torch) ratios.get(c.name).push(record(theirs, c, await torch.ms(c.name), 'torch') / a);
  }
}
torch?.quit();

console.log(`deep-network layers, batch ${N}; ${machine()}; ${threads} threads; fuse ${values.fuse}; ${values.clock}-clock ms; ${new Date().toISOString().slice(0, 10)}`);
console.log(`load average before: ${loadBefore}; after: ${load()}`);
console.log(`yardsticks (same run): FMA peak ${peak.fma.toFixed(0)} GFLOP/s on ${threads} threads; copy ${Object.entries(peak.copy).map(([bytes, gbs]) => `${(bytes / 2 ** 20).toFixed(1)} MiB ${gbs.toFixed(1)} GB/s`).join(', ')}`);
const rows = [['case', 'napinet ms (fastest)', 'rate', 'of peak', torch ? `PyTorch ${torch.version} ms (fastest)` : 'PyTorch', 'rate', 'PyTorch ÷ napinet (fastest)']];
for (const c of cases) {
  const a = median(ours.get(c.name));
  const aMin = Math.min(...ours.get(c.name));
  const b = torch ? median(theirs.get(c.name)) : NaN;
  const bMin = torch ? Math.min(...theirs.get(c.name)) : NaN;
  const rate = (ms) => (c.bytes ? `${(c.bytes / ms / 1e6).toFixed(1)} GB/s` : `${(c.flops / ms / 1e6).toFixed(0)} GFLOP/s`);
  const share = c.bytes ? (c.bytes / a / 1e6) / peak.copy[c.size] : c.flops / a / 1e6 / peak.fma;
  rows.push([
    c.label,
    `${a.toFixed(3)} (${aMin.toFixed(3)})`,
    rate(a),
    `${(100 * share).toFixed(0)}%`,
    torch ? `${b.toFixed(3)} (${bMin.toFixed(3)})` : '',
    torch ? rate(b) : '',
    torch ? `${median(ratios.get(c.name)).toFixed(2)}× (${(bMin / aMin).toFixed(2)}×)` : '',
  ]);
}
console.log(table(rows));
console.log(JSON.stringify({ loadBefore, loadAfter: load(), peak, napinet: Object.fromEntries([...ours].map(([k, v]) => [k, [median(v), Math.min(...v)]])), torch: torch ? Object.fromEntries([...theirs].map(([k, v]) => [k, [median(v), Math.min(...v)]])) : null }));
