// The deep MNIST network's Linear layers (batch 128: 1024→256, 256→128) in napinet and PyTorch CPU
// in the same run: forward (y = x·Wᵀ + b, as torch.addmm), dx = dy·W and dW = dyᵀ·x (each one
// GEMM, as torch.mm), into preallocated outputs. Median ms per call and GFLOP/s (2·N·in·out flops
// per GEMM), and napinet's share of the machine's float32 FMA peak for the threads used
// (bench/machine_peak.c, measured in the same run). With --clock cpu both sides' calls are timed
// in the process's CPU time (for a machine shared with other jobs).
//
//   npm run build && node bench/linear-shapes.mjs [--threads N] [--iters 50] [--no-torch]
//                                                [--clock wall|cpu]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import { machine, machinePeak, median, runPython, sampleMs, table } from './common.mjs';

const { Tensor, ops } = napinet;
const { values } = parseArgs({
  options: {
    threads: { type: 'string', default: String(os.cpus().length) },
    iters: { type: 'string', default: '50' },
    'no-torch': { type: 'boolean', default: false },
    clock: { type: 'string', default: 'wall' },
  },
});
const threads = Number(values.threads);
const iters = Number(values.iters);
napinet.setNumThreads(threads);
const rand = (shape) => Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() * 2 - 1), shape);

const N = 128;
// [in, out] features
export const SHAPES = [
  [1024, 256],
  [256, 128],
];

console.log(`deep-network Linear layers, batch ${N}; ${machine()}; ${threads} threads; GEMM kernels ${process.env.NAPINET_GEMM_ISA ?? 'widest'}; ${new Date().toISOString().slice(0, 10)}`);
const torch = values['no-torch'] ? null : runPython('torch_linear_shapes.py', [String(threads), String(iters), values.clock]);
const peak = machinePeak(threads, [], { clock: values.clock }).fma;
console.log(`float32 FMA peak of ${threads} thread(s), measured: ${peak.toFixed(0)} GFLOP/s; clock: ${values.clock}`);
const timeMs = (fn) => median(sampleMs(fn, { iters, warmup: 5, clock: values.clock }));
const rows = [['shape', 'pass', 'napinet ms', 'GFLOP/s', '% of peak', torch ? `PyTorch ${torch.torch} ms` : 'PyTorch', 'GFLOP/s', 'speed-up']];
for (const [inF, outF] of SHAPES) {
  const name = `${inF}→${outF}`;
  const flops = 2 * N * inF * outF;
  const x = rand([N, inF]);
  const w = rand([outF, inF]);
  const b = rand([outF]);
  const dy = rand([N, outF]);
  const y = Tensor.zeros([N, outF]);
  const dx = Tensor.zeros([N, inF]);
  const dw = Tensor.zeros([outF, inF]);
  const db = Tensor.zeros([outF]);
  const ms = {
    forward: timeMs(() => ops.linear(x, w, b, y)),
    dW: timeMs(() => ops.linearBackward(dy, x, w, { inputGrad: false, biasGrad: false, out: { dw } })),
  };
  ms['dx+dW+db'] = timeMs(() => ops.linearBackward(dy, x, w, { out: { dx, dw, db } }));
  for (const [pass, t] of Object.entries(ms)) {
    const f = pass === 'dx+dW+db' ? 2 * flops : flops;
    const ref = torch?.ms[`${name} ${pass}`];
    rows.push([name, pass, t.toFixed(3), (f / t / 1e6).toFixed(0), `${((100 * f) / t / 1e6 / peak).toFixed(0)}%`, ref?.toFixed(3) ?? 'n/a', ref ? (f / ref / 1e6).toFixed(0) : '', ref ? `${(ref / t).toFixed(2)}×` : '']);
  }
}
console.log(table(rows));
