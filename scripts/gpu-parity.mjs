// CUDA against the CPU, op by op, on the same random inputs: the largest absolute difference and
// the largest difference relative to the output's largest magnitude. Part of scripts/gpu-check
// (a real GPU; --quick, a batch of 4 instead of 64, is what it runs under compute-sanitizer's
// memcheck and racecheck); with the emulated addon it checks the same thing on the CPU.
//
//   NAPINET_ADDON=… node scripts/gpu-parity.mjs [--quick] [--json FILE]
import * as fs from 'node:fs';
import napinet from '../dist/esm/index.mjs';

const { Tensor, ops, Generator, cuda } = napinet;
if (!cuda.isAvailable()) {
  console.error(`gpu-parity: no usable GPU: ${cuda.info().reason}`);
  process.exit(2);
}

const quick = process.argv.includes('--quick');
const B = quick ? 4 : 64; // the batch of the seed network's shapes
const g = new Generator(123);
const data = (n, scale = 1) => Float32Array.from({ length: n }, () => g.normal() * scale);
const size = (shape) => shape.reduce((a, b) => a * b, 1);

/** Each case builds host inputs once and runs on a device, returning host outputs by name. */
function makeCases() {
  const cases = [];
  const add = (name, inputs, run) => cases.push({ name, inputs, run });
  // A copy: a CPU tensor uses its typed array in place, and the optimizers update in place, so the
  // CPU run would otherwise change the inputs the CUDA run starts from.
  const T = (device, host, shape, dtype) => Tensor.from(host.slice(), shape, { device, dtype });

  add('relu forward/backward', { x: data(B * 8 * 24 * 24), dy: data(B * 8 * 24 * 24) }, (d, i) => {
    const x = T(d, i.x, [B, 8, 24, 24]);
    const y = ops.relu(x);
    return { y: y.toArray(), dx: ops.reluBackward(T(d, i.dy, [B, 8, 24, 24]), y).toArray() };
  });
  for (const [label, n, c, h, w, k, kh, opt] of [
    ['conv2d seed 1→8 5×5', B, 1, 28, 28, 8, 5, {}],
    ['conv2d 16→32 3×3 s2 p1', 8, 16, 17, 15, 32, 3, { stride: 2, padding: 1 }],
  ]) {
    const oshape = ops.conv2dOutputShape([n, c, h, w], [k, c, kh, kh], opt);
    add(label, { x: data(n * c * h * w), w: data(k * c * kh * kh, 0.2), b: data(k), dy: data(size(oshape)) }, (d, i) => {
      const x = T(d, i.x, [n, c, h, w]);
      const wt = T(d, i.w, [k, c, kh, kh]);
      const y = ops.conv2d(x, wt, T(d, i.b, [k]), opt);
      const gr = ops.conv2dBackward(T(d, i.dy, oshape), x, wt, opt);
      return { y: y.toArray(), dx: gr.dx.toArray(), dw: gr.dw.toArray(), db: gr.db.toArray() };
    });
  }
  add('max-pool 2×2 forward/backward', { x: data(B * 8 * 24 * 24), dy: data(B * 8 * 12 * 12) }, (d, i) => {
    const r = ops.maxPool2d(T(d, i.x, [B, 8, 24, 24]), { kernelSize: 2 });
    const dx = ops.maxPool2dBackward(T(d, i.dy, [B, 8, 12, 12]), r.indices, [B, 8, 24, 24]);
    return { y: r.y.toArray(), indices: r.indices.toArray(), dx: dx.toArray() };
  });
  add('avg-pool 3×3 s2 p1 forward/backward', { x: data(4 * 6 * 13 * 13), dy: data(4 * 6 * 7 * 7) }, (d, i) => {
    const opt = { kernelSize: 3, stride: 2, padding: 1 };
    const y = ops.avgPool2d(T(d, i.x, [4, 6, 13, 13]), opt);
    return { y: y.toArray(), dx: ops.avgPool2dBackward(T(d, i.dy, [4, 6, 7, 7]), [4, 6, 13, 13], opt).toArray() };
  });
  add('linear 1152→10 forward/backward', { x: data(B * 1152), w: data(10 * 1152, 0.03), b: data(10), dy: data(B * 10) }, (d, i) => {
    const x = T(d, i.x, [B, 1152]);
    const w = T(d, i.w, [10, 1152]);
    const y = ops.linear(x, w, T(d, i.b, [10]));
    const gr = ops.linearBackward(T(d, i.dy, [B, 10]), x, w);
    return { y: y.toArray(), dx: gr.dx.toArray(), dw: gr.dw.toArray(), db: gr.db.toArray() };
  });
  const [m, kk, nn] = quick ? [30, 20, 25] : [300, 200, 250];
  add(`matmul ${m}×${kk}ᵀ·${m}×${nn}`, { a: data(m * kk), b: data(m * nn) }, (d, i) => ({
    c: ops.matmul(T(d, i.a, [m, kk]), T(d, i.b, [m, nn]), { transA: true }).toArray(),
  }));
  const labels = Int32Array.from({ length: B }, () => g.int(10));
  add('softmax cross-entropy', { z: data(B * 10, 4), labels }, (d, i) => {
    const y = T(d, i.labels, [B], 'int32');
    const r = ops.softmaxCrossEntropy(T(d, i.z, [B, 10]), y, { labelSmoothing: 0.1 });
    return { probs: r.probs.toArray(), stats: r.stats.toArray(), dz: ops.softmaxCrossEntropyBackward(r.probs, y, { labelSmoothing: 0.1 }).toArray() };
  });
  // The seed step's fused kernel (loss forward + backward + the Linear bias gradient, one launch
  // on the GPU: native/binding/cuda/deferred.h) against the same three calls on the CPU.
  add('fused loss + Linear backward', { z: data(B * 10, 4), labels, x: data(B * 1152), w: data(10 * 1152, 0.03) }, (d, i) => {
    const y = T(d, i.labels, [B], 'int32');
    const x = T(d, i.x, [B, 1152]);
    const w = T(d, i.w, [10, 1152]);
    const dw = Tensor.zeros([10, 1152], { device: d });
    const db = Tensor.zeros([10], { device: d });
    ops.fillMany([dw, db], 0);
    const r = ops.softmaxCrossEntropy(T(d, i.z, [B, 10]), y);
    const dz = ops.softmaxCrossEntropyBackward(r.probs, y);
    const gr = ops.linearBackward(dz, x, w, { accumulate: true, out: { dw, db } });
    return { stats: r.stats.toArray(), dz: dz.toArray(), dx: gr.dx.toArray(), dw: dw.toArray(), db: db.toArray() };
  });
  add('softmax', { z: data(B * 10, 4) }, (d, i) => ({ y: ops.softmax(T(d, i.z, [B, 10])).toArray() }));
  add('adam (3 steps)', { p: data(11530), g: data(11530, 0.01) }, (d, i) => {
    const p = T(d, i.p, [11530]);
    const m = Tensor.zeros([11530], { device: d });
    const v = Tensor.zeros([11530], { device: d });
    for (let step = 1; step <= 3; step++) ops.adamStep(p, T(d, i.g, [11530]), m, v, { lr: 0.01, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0, step, decoupled: false });
    return { param: p.toArray(), expAvgSq: v.toArray() };
  });
  add('sgd momentum (3 steps)', { p: data(11530), g: data(11530, 0.01) }, (d, i) => {
    const p = T(d, i.p, [11530]);
    const buf = Tensor.zeros([11530], { device: d });
    for (let s = 0; s < 3; s++) ops.sgdStep(p, T(d, i.g, [11530]), buf, { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 1e-4, nesterov: true, firstStep: s === 0 });
    return { param: p.toArray() };
  });
  return cases;
}

const rows = [];
for (const c of makeCases()) {
  let cpu;
  let gpu;
  try {
    cpu = c.run('cpu', c.inputs);
    gpu = c.run('cuda', c.inputs);
  } catch (error) {
    rows.push({ op: c.name, output: '-', maxAbs: NaN, maxRel: NaN, error: String(error.message ?? error).split('\n')[0] });
    continue;
  }
  for (const name of Object.keys(cpu)) {
    const a = cpu[name];
    const b = gpu[name];
    let maxAbs = 0;
    let scale = 0;
    for (let i = 0; i < a.length; i++) {
      maxAbs = Math.max(maxAbs, Math.abs(a[i] - b[i]) || (Number.isNaN(a[i]) !== Number.isNaN(b[i]) ? Infinity : 0));
      scale = Math.max(scale, Math.abs(a[i]));
    }
    rows.push({ op: c.name, output: name, maxAbs, maxRel: scale ? maxAbs / scale : maxAbs });
  }
}
const fmt = (x) => (Number.isFinite(x) ? x.toExponential(2) : String(x));
console.log('| op | output | max abs diff | max diff / max abs | ');
console.log('|---|---|---|---|');
for (const r of rows) console.log(`| ${r.op} | ${r.output} | ${fmt(r.maxAbs)} | ${r.error ? `FAILED: ${r.error}` : fmt(r.maxRel)} |`);
const jsonAt = process.argv.indexOf('--json');
if (jsonAt > 0) fs.writeFileSync(process.argv[jsonAt + 1], JSON.stringify(rows, null, 2));
process.exitCode = rows.some((r) => r.error || !(r.maxRel < 1e-3)) ? 1 : 0;
