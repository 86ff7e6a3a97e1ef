// The seed network's kernels at batch 64 — conv2d 1→8 5×5 on 28×28 forward and backward (dw, db:
// a first layer needs no dx), max-pool 2×2 on 8×24×24 forward and backward, Linear 1152→10 — in
// napinet and PyTorch CPU in the same run: median time per call, the ratio, and napinet's GFLOP/s.
//
//   npm run build && node bench/kernels.mjs
import * as os from 'node:os';
import napinet from '../dist/esm/index.mjs';
import { machine, runPython, table, timeMs } from './common.mjs';

const { Tensor, ops } = napinet;
const threads = os.cpus().length;
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
ops.maxPool2d(p, { kernelSize: 2 }, pooled);

const convFlops = 2 * 64 * 8 * 576 * 25;
const cases = [
  ['conv2d forward', () => ops.conv2d(x, w, b, {}, y), convFlops],
  ['conv2d backward (dw, db)', () => ops.conv2dBackward(dy, x, w, { inputGrad: false, out: { dw, db } }), convFlops],
  ['max-pool forward', () => ops.maxPool2d(p, { kernelSize: 2 }, pooled), 0],
  ['max-pool backward', () => ops.maxPool2dBackward(dyp, pooled.indices, [64, 8, 24, 24], dxp), 0],
  ['linear forward+backward', () => {
    ops.linear(xl, wl, bl, yl);
    ops.linearBackward(dyl, xl, wl, { inputGrad: false, out: { dw: dwl, db: dbl } });
  }, 2 * 2 * 64 * 1152 * 10],
];

console.log(`seed-network kernels, batch 64; ${machine()}; ${threads} threads; ${new Date().toISOString().slice(0, 10)}`);
const torch = runPython('torch_kernels.py', [String(threads)]);
const rows = [['kernel', 'napinet ms', 'GFLOP/s', torch ? `PyTorch ${torch.torch} ms` : 'PyTorch', 'speed-up']];
let napinetStep = 0;
let torchStep = 0;
for (const [name, fn, flops] of cases) {
  const ms = timeMs(fn, { iters: 200, warmup: 20 });
  const ref = torch?.ms[name];
  napinetStep += ms;
  torchStep += ref ?? 0;
  rows.push([name, ms.toFixed(4), flops ? (flops / ms / 1e6).toFixed(1) : '', ref?.toFixed(4) ?? 'n/a', ref ? `${(ref / ms).toFixed(2)}×` : '']);
}
rows.push(['sum', napinetStep.toFixed(4), '', torch ? torchStep.toFixed(4) : '', torch ? `${(torchStep / napinetStep).toFixed(2)}×` : '']);
console.log(table(rows));
