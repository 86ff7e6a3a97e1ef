// The seed network's CPU kernels at batch 64 — conv2d 1→8 5×5 on 28×28 forward and backward (dw,
// db: a first layer needs no dx), max-pool 2×2 on 8×24×24 forward and backward, the fused
// conv2d → ReLU → max-pool forward and backward that training runs (on the CPU as measured here; a
// GPU runs its CUDA version, bench/gpu-step.mjs), Linear 1152→10 — in napinet and PyTorch CPU in
// the same run: median time per call, the ratio, napinet's GFLOP/s and, given the machine's FMA
// peak per core (--peak GFLOP/s), the share of it.
//
//   npm run build && node bench/kernels.mjs [--threads N] [--peak 280]     (npm run bench runs it)
import { createRequire } from 'node:module';
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import { machine, runPython, table, timeMs } from './common.mjs';

const { Tensor, ops } = napinet;
const { values } = parseArgs({ options: { threads: { type: 'string', default: String(os.cpus().length) }, peak: { type: 'string' } } });
const threads = Number(values.threads);
const peak = values.peak ? Number(values.peak) * threads : undefined; // GFLOP/s of `threads` cores
napinet.setNumThreads(threads);
const { native } = createRequire(import.meta.url)('../dist/cjs/native.js');
const rand = (shape) => Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() * 2 - 1), shape);

const x = rand([64, 1, 28, 28]);
const w = rand([8, 1, 5, 5]);
const b = rand([8]);
const y = Tensor.zeros([64, 8, 24, 24]);
const dy = rand([64, 8, 24, 24]);
const dw = Tensor.zeros([8, 1, 5, 5]);
const db = Tensor.zeros([8]);
const p = rand([64, 8, 24, 24]);
const pooled = { y: Tensor.zeros([64, 8, 12, 12]), indices: Tensor.zeros([64, 8, 12, 12], { dtype: 'int32' }) };
const dyp = rand([64, 8, 12, 12]);
const dxp = Tensor.zeros([64, 8, 24, 24]);
const xl = rand([64, 1152]);
const wl = rand([10, 1152]);
const bl = rand([10]);
const yl = Tensor.zeros([64, 10]);
const dyl = rand([64, 10]);
const dwl = Tensor.zeros([10, 1152]);
const dbl = Tensor.zeros([10]);
const dxl = Tensor.zeros([64, 1152]);
ops.maxPool2d(p, { kernelSize: 2 }, pooled);
const fused = { y: Tensor.zeros([64, 8, 12, 12]), indices: Tensor.zeros([64, 8, 12, 12], { dtype: 'int32' }) };
ops.conv2dMaxPool2d(x, w, b, { relu: true }, fused);

const convFlops = 2 * 64 * 8 * 576 * 25;
const cases = [
  ['conv2d forward', () => ops.conv2d(x, w, b, {}, y), convFlops],
  ['conv2d backward (dw, db)', () => ops.conv2dBackward(dy, x, w, { inputGrad: false, out: { dw, db } }), convFlops],
  ['max-pool forward', () => ops.maxPool2d(p, { kernelSize: 2 }, pooled), 0],
  ['max-pool backward', () => ops.maxPool2dBackward(dyp, pooled.indices, [64, 8, 24, 24], dxp), 0],
  ['linear forward+backward', () => {
    ops.linear(xl, wl, bl, yl);
    ops.linearBackward(dyl, xl, wl, { out: { dx: dxl, dw: dwl, db: dbl } });
  }, 3 * 2 * 64 * 1152 * 10],
  ['fused conv2d+ReLU+max-pool forward', () => ops.conv2dMaxPool2d(x, w, b, { relu: true }, fused), convFlops],
  ['fused conv2d+ReLU+max-pool backward (dw, db)', () => ops.conv2dMaxPool2dBackward(dyp, fused.indices, fused.y, x, w, { inputGrad: false, out: { dw, db } }), convFlops],
];
// The kernels of one training step, each way (the linear layer's dx included in both).
const steps = {
  'step kernels, unfused': ['conv2d forward', 'max-pool forward', 'conv2d backward (dw, db)', 'max-pool backward', 'linear forward+backward'],
  'step kernels, fused (what training runs)': ['fused conv2d+ReLU+max-pool forward', 'fused conv2d+ReLU+max-pool backward (dw, db)', 'linear forward+backward'],
};

console.log(`seed-network kernels, batch 64; ${machine()}; ${threads} threads; kernels ${native().conv2dIsa()}; ${new Date().toISOString().slice(0, 10)}`);
const torch = runPython('torch_kernels.py', [String(threads)]);
const head = ['kernel', 'napinet ms', 'GFLOP/s', ...(peak ? ['of peak'] : []), torch ? `PyTorch ${torch.torch} ms` : 'PyTorch', 'speed-up'];
const rows = [head];
const ms = {};
for (const [name, fn, flops] of cases) {
  ms[name] = timeMs(fn, { iters: 200, warmup: 20 });
  const ref = torch?.ms[name];
  const rate = flops ? flops / ms[name] / 1e6 : undefined;
  rows.push([name, ms[name].toFixed(4), rate ? rate.toFixed(1) : '', ...(peak ? [rate ? `${((100 * rate) / peak).toFixed(0)}%` : ''] : []), ref?.toFixed(4) ?? 'n/a', ref ? `${(ref / ms[name]).toFixed(2)}×` : '']);
}
for (const [name, parts] of Object.entries(steps)) {
  const mine = parts.reduce((sum, k) => sum + ms[k], 0);
  const ref = torch ? parts.reduce((sum, k) => sum + torch.ms[k], 0) : undefined;
  rows.push([name, mine.toFixed(4), '', ...(peak ? [''] : []), ref?.toFixed(4) ?? '', ref ? `${(ref / mine).toFixed(2)}×` : '']);
}
console.log(table(rows));
