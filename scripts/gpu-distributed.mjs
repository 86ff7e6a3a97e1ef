// NCCL on a real GPU, one rank: proves that libnccl loads at run time and that napinet's NCCL
// path (communicator, grouped collectives on napinet's stream, the wait) gives the right values.
// Part of scripts/gpu-check, which finds the libnccl.so.2 of the nvidia-nccl pip package and names
// it with NAPINET_NCCL_LIBRARY. No launcher or MPI is needed: the world of one gets a communicator
// of its own (createLocalNcclCommunicator), so collectives on CUDA tensors really call NCCL.
// Several GPUs would run test/distributed/collectives.js --device cuda under mpirun instead.
//
//   NAPINET_ADDON=… NAPINET_NCCL_LIBRARY=…/libnccl.so.2 node scripts/gpu-distributed.mjs [--json FILE]
import { createRequire } from 'node:module';
import napinet from '../dist/esm/index.mjs';
import { startStage } from './gpu-stage.mjs';

const require = createRequire(import.meta.url);
const { createLocalNcclCommunicator } = require('../dist/cjs/distributed/nccl.js');
const { Tensor, cuda, distributed: dist } = napinet;
const result = { backends: dist.backends(), checks: [], ok: false };
const { finish, check } = startStage(result, cuda);
result.device = cuda.info().name;
try {
  dist.init();
  createLocalNcclCommunicator();
  const values = Float32Array.from({ length: 1000 }, (_, i) => (i % 17) - 8.25);
  const onGpu = () => Tensor.from(values, [10, 100], { device: 'cuda' });
  const same = (t, expected) => {
    const got = t.toArray();
    return got.length === expected.length && got.every((v, i) => Object.is(v, expected[i]));
  };
  check('allReduce sum (one rank: the identity)', same(dist.allReduce(onGpu()), values));
  check('allReduce mean', same(dist.allReduce(onGpu(), { op: 'mean' }), values));
  check('broadcast', same(dist.broadcast(onGpu(), 0), values));
  const gathered = dist.allGather(onGpu());
  check('allGather shape [1, 10, 100]', gathered.shape.join() === '1,10,100' && same(gathered, values));
  const grads = [3, 1000, 7].map((n) => ({ grad: Tensor.from(values.subarray(0, n), [n], { device: 'cuda' }) }));
  dist.allReduceGradients(grads, { bucketBytes: 4000 }); // three buckets, one NCCL group each
  check('allReduceGradients in 3 buckets', grads.every(({ grad }) => same(grad, values.subarray(0, grad.size))));
  // Timing: 2^24 floats (64 MiB) in place; one rank's all-reduce is a copy on the GPU.
  const big = Tensor.zeros([1 << 24], { device: 'cuda' });
  dist.allReduce(big);
  const start = process.hrtime.bigint();
  const repeats = 20;
  for (let i = 0; i < repeats; i++) dist.allReduce(big); // each call waits for its result
  result.allReduce64MiBMicros = Number(process.hrtime.bigint() - start) / 1e3 / repeats;
  dist.finalize();
  result.ok = result.checks.every((c) => c.ok);
} catch (error) {
  result.error = `${error.code ?? ''} ${error.message}`.trim();
}
finish(result.ok ? 0 : 1);
