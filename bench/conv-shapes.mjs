// The deep MNIST network's four 3×3 convolutions (no bias, padding 0, batch 128) in napinet and
// PyTorch CPU in the same run: forward, backward dW alone (what a first layer runs), and backward
// dx + dW (the other layers); dx is the difference of the two backward times. Median ms per call
// and GFLOP/s (2·N·K·C·9·OH·OW flops per pass), and napinet's share of the machine's float32 FMA
// peak for the threads used (bench/machine_peak.c, measured in the same run). With --clock cpu,
// both sides' calls are timed in the process's CPU time (for a machine shared with other jobs).
//
//   npm run build && node bench/conv-shapes.mjs [--threads N] [--algorithm auto|direct|im2col]
//                                               [--iters 20] [--no-torch] [--clock wall|cpu]
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import { machine, machinePeak, median, runPython, sampleMs, table } from './common.mjs';

const { Tensor, ops } = napinet;
const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: String(os.cpus().length) },
    algorithm: { type: 'string', default: 'auto' },
    iters: { type: 'string', default: '20' },
    'no-torch': { type: 'boolean', default: false },
    clock: { type: 'string', default: 'wall' },
  },
});
const threads = Number(values.threads);
const iters = Number(values.iters);
napinet.setNumThreads(threads);
const { native } = createRequire(import.meta.url)('../dist/cjs/native.js');
const rand = (shape) => Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() * 2 - 1), shape);

const N = 128;
// [C, K, H]: input channels, output channels, input size (square, 3×3 kernel, padding 0)
export const SHAPES = [
  [1, 32, 28],
  [32, 32, 26],
  [32, 64, 12],
  [64, 64, 10],
];

console.log(`deep-network convolutions, batch ${N}; ${machine()}; ${threads} threads; kernels ${native().conv2dIsa()}; algorithm ${values.algorithm}; ${new Date().toISOString().slice(0, 10)}`);
const torch = values['no-torch'] ? null : runPython('torch_conv_shapes.py', [String(threads), String(iters), values.clock]);
const peak = machinePeak(threads, [], { clock: values.clock }).fma;
console.log(`float32 FMA peak of ${threads} thread(s), measured: ${peak.toFixed(0)} GFLOP/s; clock: ${values.clock}`);
const timeMs = (fn, run) => median(sampleMs(fn, { ...run, clock: values.clock }));
const rows = [['shape', 'pass', 'napinet ms', 'GFLOP/s', '% of peak', torch ? `PyTorch ${torch.torch} ms` : 'PyTorch', 'GFLOP/s', 'speed-up']];
const options = { algorithm: values.algorithm };
for (const [C, K, H] of SHAPES) {
  const O = H - 2;
  const name = `${C}→${K} ${H}×${H}`;
  const flops = 2 * N * K * C * 9 * O * O;
  const x = rand([N, C, H, H]);
  const w = rand([K, C, 3, 3]);
  const y = Tensor.zeros([N, K, O, O]);
  const dy = rand([N, K, O, O]);
  const dx = Tensor.zeros([N, C, H, H]);
  const dw = Tensor.zeros([K, C, 3, 3]);
  const run = { iters, warmup: 3 };
  const ms = {
    forward: timeMs(() => ops.conv2d(x, w, null, options, y), run),
    dW: timeMs(() => ops.conv2dBackward(dy, x, w, { ...options, inputGrad: false, biasGrad: false, out: { dw } }), run),
  };
  if (C > 1) {
    ms['dx+dW'] = timeMs(() => ops.conv2dBackward(dy, x, w, { ...options, biasGrad: false, out: { dx, dw } }), run);
    ms.dx = ms['dx+dW'] - ms.dW;
  }
  for (const [pass, t] of Object.entries(ms)) {
    const f = pass === 'dx+dW' ? 2 * flops : flops;
    const ref = torch?.ms[`${name} ${pass}`];
    rows.push([name, pass, t.toFixed(3), (f / t / 1e6).toFixed(0), `${((100 * f) / t / 1e6 / peak).toFixed(0)}%`, ref?.toFixed(3) ?? 'n/a', ref ? (f / ref / 1e6).toFixed(0) : '', ref ? `${(ref / t).toFixed(2)}×` : '']);
  }
}
console.log(table(rows));
