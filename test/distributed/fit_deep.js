// The deep network (BatchNorm after every layer, Dropout 0) trained data-parallel with
// fit({ distributed: true }) under `mpirun -np 2`, against one process that takes each global batch
// as the two ranks do: its even positions, then its odd ones (the shards' rule), each half
// forwarded and backwarded alone from zero gradients (so BatchNorm normalises by the half's
// statistics, as on each rank), and the two gradients added and halved in float32: what the
// 2-rank all-reduce computes. Every rank reports its parameters and buffers; the reference its parameters.
//   mpirun -np 2 node test/distributed/fit_deep.js        node test/distributed/fit_deep.js --halves
'use strict';
const { parseArgs } = require('node:util');
const { napinet, chapter, report, bits } = require('./common');

const { values: args } = parseArgs({ options: { halves: { type: 'boolean', default: false }, steps: { type: 'string', default: '6' } } });
const { distributed: dist, Tensor, TensorDataset, Generator, nn, optim } = napinet;
const batch = 64;
const count = Number(args.steps) * batch;
const pixels = 28 * 28;
const mnist = napinet.loadMnist();
const images = Float32Array.from(mnist.train.images.subarray(0, count * pixels), (v) => (v / 255 - 0.1307) / 0.3081);
const labels = Int32Array.from(mnist.train.labels.subarray(0, count));
const data = new TensorDataset(Tensor.from(images, [count, 1, 28, 28]), Tensor.from(labels, [count], { dtype: 'int32' }));
napinet.setNumThreads(1);

async function main() {
  const { rank } = dist.init();
  // Each rank initialises differently: only the broadcast at fit()'s start makes them agree.
  const model = chapter.deepNetwork({ dropout: 0, generator: new Generator(args.halves ? 0 : rank) });
  const optimizer = new optim.Adam(model.parameters(), { lr: 0.002 });
  const shuffle = new Generator(7);
  const named = (list) => list.map(([name, t]) => [name, bits(t.toArray())]);
  if (!args.halves) {
    await napinet.fit(model, data, { optimizer, epochs: 1, batchSize: batch, generator: shuffle, distributed: true });
    report({ rank, parameters: named(model.namedParameters()), buffers: named(model.namedBuffers()) });
  } else {
    const loss = new nn.CrossEntropyLoss();
    model.train();
    for (const { indices } of napinet.batches(data, batch, { shuffle: true, generator: shuffle })) {
      const halves = [0, 1].map((parity) => {
        const rows = Array.from(indices).filter((_, i) => i % 2 === parity);
        const x = new Float32Array(rows.length * pixels);
        rows.forEach((row, i) => x.set(images.subarray(row * pixels, (row + 1) * pixels), i * pixels));
        const y = Int32Array.from(rows, (row) => labels[row]);
        optimizer.zeroGrad();
        napinet.explicit(() => loss.forward(model.forward(Tensor.from(x, [rows.length, 1, 28, 28])), Tensor.from(y, [rows.length], { dtype: 'int32' })));
        model.backward(loss.backward());
        return model.parameters().map((p) => Float32Array.from(p.grad.data));
      });
      // (a + b) / 2 in float32: what the all-reduce's 'mean' computes on both ranks
      model.parameters().forEach((p, k) => p.grad.data.forEach((_, i, grad) => (grad[i] = Math.fround(Math.fround(halves[0][k][i] + halves[1][k][i]) / 2))));
      optimizer.step();
    }
    report({ rank: 0, parameters: named(model.namedParameters()) });
  }
  dist.finalize();
}
main();
