// Every collective once, on CPU tensors (or CUDA ones with --device cuda: the emulator build with a
// stand-in NCCL), run under `mpirun -np N`; each rank reports what it received and
// test/distributed.test.ts checks it against the values the ranks put in.
'use strict';
const { napinet, report, bits } = require('./common');

const device = process.argv.includes('--device') ? process.argv[process.argv.indexOf('--device') + 1] : 'cpu';
const { distributed: dist, Tensor } = napinet;
const info = dist.init({ requireLauncher: true, timeoutMs: 20_000 });
const { rank, worldSize: size } = info;
const on = (t) => t.to(device);
const values = (t) => Array.from(t.toArray());

// allReduce: rank r holds [r + 1, (r + 1) / 4, -r, 1e-3·r]
const input = () => on(Tensor.from([rank + 1, (rank + 1) / 4, -rank, 1e-3 * rank]));
const sum = dist.allReduce(input());
const mean = dist.allReduce(input(), { op: 'mean' });
// broadcast: a float tensor from the last rank, an int32 tensor from rank 0
const fromLast = dist.broadcast(on(Tensor.from([rank, 10 * rank, 100 * rank])), size - 1);
const ints = dist.broadcast(on(Tensor.from(new Int32Array([rank === 0 ? 7 : -1, rank === 0 ? -9 : -1]))), 0);
// allGather: rank r's [2, 2] tensor holds 10r + i
const gathered = dist.allGather(on(Tensor.from([0, 1, 2, 3].map((i) => 10 * rank + i), [2, 2])));
dist.barrier();

// allReduceGradients with tiny buckets (8 bytes: a gradient of 3 values alone, the next two together,
// …) and with the default (one bucket); gradient i of rank r is (r + 1)·(i + 1)·[1, 2, …]
const parameters = (scale) =>
  [3, 1, 1, 4].map((n, i) => ({ grad: on(Tensor.from(Array.from({ length: n }, (_, j) => scale * (rank + 1) * (i + 1) * (j + 1)))) }));
const small = parameters(1);
dist.allReduceGradients(small, { bucketBytes: 8 });
const whole = parameters(1);
dist.allReduceGradients([...whole, { grad: null }]);
const summed = parameters(1);
dist.allReduceGradients(summed, { op: 'sum', bucketBytes: 8 });

// broadcastParameters: a module-like object whose values differ per rank; everyone takes rank 0's
const model = {
  params: [on(Tensor.from([rank, rank + 0.5])), on(Tensor.from([[rank]].flat()))],
  buffer: on(Tensor.from([-rank, 2 * rank])),
  parameters() { return this.params; },
  namedBuffers() { return [['running_mean', this.buffer]]; },
};
dist.broadcastParameters(model);

// argument checks
const errors = {};
try { dist.allReduce(Tensor.from(new Int32Array([1]))); } catch (e) { errors.int32 = e.message; }
try { dist.broadcast(Tensor.from([1]), size); } catch (e) { errors.root = e.message; }
try { dist.allReduce(Tensor.from([1]), { op: 'max' }); } catch (e) { errors.op = e.message; }

report({
  rank, size, localRank: info.localRank, localSize: info.localSize, backend: info.backend,
  threads: napinet.numThreads(), cpusAllowed: require('node:os').availableParallelism(), cpus: require('node:os').cpus().length,
  devices: [sum.device, fromLast.device, gathered.device, small[0].grad.device, model.buffer.device],
  envRank: Number(process.env.OMPI_COMM_WORLD_RANK),
  sum: values(sum), mean: values(mean), meanBits: bits(mean.toArray()), sumBits: bits(sum.toArray()),
  fromLast: values(fromLast), ints: values(ints), gatheredShape: gathered.shape, gathered: values(gathered),
  small: small.map((p) => values(p.grad)), whole: whole.map((p) => values(p.grad)), summed: summed.map((p) => values(p.grad)),
  model: [values(model.params[0]), values(model.params[1]), values(model.buffer)],
  errors,
});
dist.finalize();
