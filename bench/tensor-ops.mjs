// The tensor-maths kernels against PyTorch CPU in the same run: elementwise add with broadcasting,
// sums over dimensions (last dim, first dim, dims 0 and 2 of a conv-shaped tensor, everything), and
// batched matmuls (same batch, a batch times one matrix, broadcast batches) at a few sizes. Median
// time per call, and PyTorch's time ÷ napinet's (> 1: napinet faster). Not part of CI.
//
//   npm run build && node bench/tensor-ops.mjs [--threads N]
import * as os from 'node:os';
import { parseArgs } from 'node:util';
import napinet from '../dist/esm/index.mjs';
import { machine, runPython, table, timeMs } from './common.mjs';

const { Tensor, ops } = napinet;
const { values } = parseArgs({ options: { threads: { type: 'string', default: String(os.cpus().length) } } });
const threads = Number(values.threads);
napinet.setNumThreads(threads);

const rand = (shape) => Tensor.from(Float32Array.from({ length: shape.reduce((a, b) => a * b, 1) }, () => Math.random() * 2 - 1), shape);

const cases = [
  { name: 'add [64, 1024] + [1024]', kind: 'add', a: [64, 1024], b: [1024], iters: 200 },
  { name: 'add [256, 4096] + [4096]', kind: 'add', a: [256, 4096], b: [4096], iters: 50 },
  { name: 'add [32, 64, 32, 32] + [64, 1, 1]', kind: 'add', a: [32, 64, 32, 32], b: [64, 1, 1], iters: 50 },
  { name: 'add [1024, 1024] + [1024, 1]', kind: 'add', a: [1024, 1024], b: [1024, 1], iters: 50 },
  { name: 'sum [1024, 1024] over dim 1', kind: 'sum', a: [1024, 1024], dims: [1], iters: 50 },
  { name: 'sum [1024, 1024] over dim 0', kind: 'sum', a: [1024, 1024], dims: [0], iters: 50 },
  { name: 'sum [64, 1024] over dim 0 (bias grad)', kind: 'sum', a: [64, 1024], dims: [0], iters: 200 },
  { name: 'sum [32, 64, 1024] over dims 0, 2', kind: 'sum', a: [32, 64, 1024], dims: [0, 2], iters: 50 },
  { name: 'sum [4194304] over everything', kind: 'sum', a: [4194304], dims: [0], iters: 50 },
  { name: 'matmul [64, 32, 32] · [64, 32, 32]', kind: 'matmul', a: [64, 32, 32], b: [64, 32, 32], iters: 200 },
  { name: 'matmul [16, 256, 256] · [16, 256, 256]', kind: 'matmul', a: [16, 256, 256], b: [16, 256, 256], iters: 20 },
  { name: 'matmul [8, 128, 512] · [512, 128]', kind: 'matmul', a: [8, 128, 512], b: [512, 128], iters: 50 },
  { name: 'matmul [4, 1, 64, 64] · [8, 64, 64]', kind: 'matmul', a: [4, 1, 64, 64], b: [8, 64, 64], iters: 100 },
];

console.log(`tensor-maths kernels; ${machine()}; ${threads} threads; ${new Date().toISOString().slice(0, 10)}`);
const torch = runPython('torch_tensor_ops.py', [String(threads), JSON.stringify(cases)]);
const rows = [['case', 'napinet ms', torch ? `PyTorch ${torch.torch} ms` : 'PyTorch', 'PyTorch ÷ napinet']];
for (const c of cases) {
  const a = rand(c.a);
  let fn;
  if (c.kind === 'add') {
    const b = rand(c.b);
    const out = Tensor.zeros(ops.broadcastShapes(c.a, c.b));
    fn = () => ops.binary('add', a, b, { out });
  } else if (c.kind === 'sum') {
    fn = () => ops.reduce('sum', a, { dims: c.dims });
  } else {
    const b = rand(c.b);
    fn = () => ops.batchMatmul(a, b);
  }
  const ms = timeMs(fn, { iters: c.iters, warmup: 5 });
  const ref = torch?.ms[c.name];
  rows.push([c.name, ms.toFixed(4), ref?.toFixed(4) ?? 'n/a', ref ? `${(ref / ms).toFixed(2)}×` : '']);
}
console.log(table(rows));
