// ONNX export by tracing (lib/io/onnx.ts) against onnxruntime: every built-in layer (BatchNorm1d/2d
// in eval with running statistics and without, Dropout as the identity, Conv1d/Conv2d with stride,
// padding and no bias, the pools 1d/2d, every activation, Concat, Softmax/LogSoftmax, Flatten,
// Linear, the fused Conv2d → MaxPool2d → ReLU step), the chapter's deep network, and models written
// with forward() and tensor ops (a residual MLP over most element-wise, reduction, shape and
// indexing ops; a small CNN through nn.functional). Each runs in onnxruntime on a batch of a size
// it was not traced at (the batch dimension is symbolic) and is compared with napinet's own output.
// Also: an op with no ONNX form is refused by name, registerOnnxOp teaches one, a constant whose
// shape follows the batch is refused unless the batch is fixed.
//
// Tolerance: |Δ| ≤ atol + rtol·|ref|, atol 1e-5 and rtol 1e-4 for the shallow models, atol 1e-4 for
// the deep network (float32 on both sides; different summation orders over up to 576 products per
// convolution output and 1024 per Linear output, through four BatchNorms that rescale by up to
// 1/√(var + ε)). Each test prints its max |Δ|.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { beforeAll, describe, expect, test } from 'vitest';
import { deepNetwork } from '../lib/chapter/models';
import { autograd, cat, decodeOnnx, div, Generator, nn, pow, registerOnnxOp, sub, type Tensor, tensor, toOnnx, where } from '../lib/index';
import { expectClose, type Tolerance } from './helpers/compare';
import { pythonMissing, readF32, runPythonScript, writeF32 } from './helpers/python';

const F = nn.functional;
const missing = pythonMissing('onnxruntime', 'numpy');

function randomTensor(shape: number[], seed: number, scale = 1, offset = 0): Tensor {
  const g = new Generator(seed);
  const size = shape.reduce((a, b) => a * b, 1);
  return tensor(Float32Array.from({ length: size }, () => offset + scale * g.normal()), shape);
}

/** Random running statistics (variances in [0.5, 2]) and affine parameters for every BatchNorm, so eval mode is not the identity. */
function randomizeBatchNorms(model: nn.Module, seed: number): void {
  const g = new Generator(seed);
  for (const m of model.modules()) {
    if (!(m instanceof nn.BatchNorm1d || m instanceof nn.BatchNorm2d)) continue;
    const n = m.numFeatures;
    m.runningMean?.copyFrom(Float32Array.from({ length: n }, () => 0.3 * g.normal()));
    m.runningVar?.copyFrom(Float32Array.from({ length: n }, () => 0.5 + 1.5 * g.random()));
    m.weight?.copyFrom(Float32Array.from({ length: n }, () => 1 + 0.2 * g.normal()));
    m.bias?.copyFrom(Float32Array.from({ length: n }, () => 0.1 * g.normal()));
  }
}

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-onnx-trace-'));
});

/** Exports `model`, runs the ONNX file in onnxruntime on `x`, compares with model.forward(x) in eval mode; returns max |Δ|. */
function checkAgainstOnnxRuntime(name: string, model: nn.Module, x: Tensor, tolerance: Tolerance): number {
  const file = path.join(dir, `${name.replace(/\W+/g, '-')}.onnx`);
  fs.writeFileSync(file, toOnnx(model, { inputShape: x.shape.slice(1) }));
  writeF32(path.join(dir, 'x.f32'), x.toArray() as Float32Array);
  const info = runPythonScript('onnx_check.py', [file, path.join(dir, 'x.f32'), x.shape.join(','), path.join(dir, 'y.f32')]);
  const ours = model.eval().inference(() => model.forward(x).toArray());
  const theirs = readF32(path.join(dir, 'y.f32'));
  // A comparison means something only on finite values that differ from sample to sample.
  expect([...(ours as Float32Array)].every(Number.isFinite), `${name}: napinet's outputs are finite`).toBe(true);
  expect(new Set(ours as Float32Array).size, `${name}: distinct outputs`).toBeGreaterThanOrEqual(x.shape[0]);
  expect(info.outputShape[0]).toBe(x.shape[0]);
  const c = expectClose(theirs, Float32Array.from(ours as ArrayLike<number>), tolerance, name);
  console.log(`${name}: onnxruntime ${info.onnxruntime}${info.checked ? ', onnx.checker (full) passed' : ''}: max |Δ| ${c.maxAbs.toExponential(2)}`);
  return c.maxAbs;
}

const SHALLOW: Tolerance = { atol: 1e-5, rtol: 1e-4 };

/** A model written with forward() and tensor ops: a residual MLP touching most of autograd's ops. */
class ResidualOps extends nn.Module {
  w1 = new nn.Parameter(randomTensor([6, 16], 11, 0.4));
  b1 = new nn.Parameter(randomTensor([16], 12, 0.1));
  w2 = new nn.Parameter(randomTensor([16, 6], 13, 0.3));
  scale = new nn.Parameter(randomTensor([1, 6], 14, 0.2, 1));
  norm = new nn.BatchNorm1d(6);
  head = new nn.Linear(3 + 3 + 4, 5);
  index = tensor([2, 0, 1], [3], { dtype: 'int32' });

  forward(x: Tensor): Tensor {
    const h = x.matmul(this.w1).add(this.b1).gelu('tanh'); // MatMul, Add, the tanh GELU
    const r = F.softplus(h, { beta: 2, threshold: 3 }).sub(F.elu(h, 0.7)).matmul(this.w2); // Softplus (β, threshold), ELU
    let y = x.add(r.mul(this.scale)).div(1.5).sub(0.25); // residual; scalars
    y = this.norm.forward(y); // BatchNorm1d over [N, 6]
    y = where(y.gt(0), y, F.leakyRelu(y, 0.05)); // a mask from the input: Greater, Cast, Where
    y = y.clamp(-2, 3).maximum(y.mul(0.9)).minimum(4); // Clip, Max, Min with a number
    const stats = cat([y.mean(1, { keepDim: true }), y.var(1, { keepDim: true }), y.max(1, { keepDim: true })], 1); // [N, 3]
    const picked = y.indexSelect(1, this.index).abs().sqrt().neg().exp(); // Gather, Abs, Sqrt, Neg, Exp
    const shaped = y.unsqueeze(2).expand([y.shape[0], 6, 2]).permute([0, 2, 1]).reshape([-1, 12]).narrow(1, 2, 8); // Expand, Transpose, Reshape, Slice
    const pooled = shaped.reshape([-1, 2, 4]).sum(1).add(y.abs().add(1).log().narrow(1, 0, 4)).pow(2); // ReduceSum, Log, Pow
    const mixed = cat([stats, picked.abs().add(0.5).mul(y.sign().narrow(1, 0, 3)), pooled.square().sqrt()], 1); // Sign, Mul, Concat
    return this.head.forward(mixed).logSoftmax(1).add(y.min(1, { keepDim: true }).sigmoid()).softmax(0).tanh(); // LogSoftmax, Softmax over dim 0 (transposes)
  }
}

/** The ops ResidualOps leaves out: reversed scalars, tensor powers, comparisons of tensors, gather, clone, one-sided clamp, argmax over everything. */
class MoreOps extends nn.Module {
  w = new nn.Parameter(randomTensor([4, 4], 91, 0.5));
  index = tensor([[3, 0, 2, 2]], [1, 4], { dtype: 'int32' });

  forward(x: Tensor): Tensor {
    const h = x.matmul(this.w).clone(); // Identity
    const positive = h.abs().add(0.5);
    const a = positive.pow(h.tanh()).add(pow2(h.clamp(null, 1))); // Pow of tensors; 2 ** x; Clip with one side
    const b = sub1(h.sigmoid()).mul(div1(positive)); // 1 − x, 1 / x
    const masks = h.eq(h.clamp(-0.5, 0.5)).add(h.ne(0)).add(h.le(b)).add(h.ge(a)).add(h.lt(a.neg())); // comparisons of tensors
    const picked = h.gather(1, this.index); // [1, 4]: GatherElements
    const whole = h.argmax().toDType('float32').mul(0.01); // ArgMax over the flattened tensor (0-d)
    return a.add(b).add(masks).add(picked).add(whole).sum(1, { keepDim: true }).mul(h.mean([0, 1]).add(1)); // ReduceSum keepdims, ReduceMean over the batch
  }
}
const pow2 = (x: Tensor) => pow(2, x);
const sub1 = (x: Tensor) => sub(1, x);
const div1 = (x: Tensor) => div(1, x);

/** A small CNN through nn.functional: conv, pools, flatten, linear. */
class TinyCnn extends nn.Module {
  conv1 = new nn.Conv2d(1, 4, 3, { padding: 1, generator: new Generator(21) });
  conv2 = new nn.Conv2d(4, 6, 3, { stride: 2, bias: false, generator: new Generator(22) });
  fc = new nn.Linear(6 * 3 * 3, 4, { generator: new Generator(23) });

  forward(x: Tensor): Tensor {
    let h = F.maxPool2d(F.relu(F.conv2d(x, this.conv1.weight, this.conv1.bias, { padding: 1 })), { kernelSize: 2 }); // [N, 4, 7, 7]
    h = F.avgPool2d(F.sigmoid(F.conv2d(h, this.conv2.weight, null, { stride: 2 })), { kernelSize: 2, stride: 1, padding: 1, countIncludePad: false }); // [N, 6, 4, 4]
    h = h.narrow(2, 1, 3).narrow(3, 0, 3).flatten(1);
    return this.fc.forward(h).argmax(1, { keepDim: true }).toDType('float32').add(F.linear(h, this.fc.weight, this.fc.bias).max(1, { keepDim: true }));
  }
}

describe.skipIf(missing !== null)(`ONNX export by tracing against onnxruntime${missing ? ` (skipped: ${missing})` : ''}`, () => {
  test('the deep network (conv + BatchNorm2d + ReLU, pools, BatchNorm1d, Dropout) in eval mode', () => {
    const net = deepNetwork({ generator: new Generator(31) });
    randomizeBatchNorms(net, 32);
    const x = randomTensor([5, 1, 28, 28], 33);
    const model = decodeOnnx(toOnnx(net, { inputShape: [1, 28, 28] }));
    const ops = model.graph.node.map((n: any) => n.op_type);
    expect(ops.filter((o: string) => o === 'BatchNormalization')).toHaveLength(6);
    expect(ops).not.toContain('Dropout');
    checkAgainstOnnxRuntime('deep network', net, x, { atol: 1e-4, rtol: 1e-4 });
  });

  test('every built-in 2-D layer: Conv2d (stride, padding, no bias), the fused Conv2d → MaxPool2d → ReLU, BatchNorm2d (affine, without running statistics), pools, Concat, activations, Flatten, Linear, Dropout, Softmax', () => {
    const g = new Generator(41);
    const net = new nn.Sequential(
      new nn.Conv2d(2, 4, 3, { padding: 1, generator: g }),
      new nn.MaxPool2d(2),
      new nn.ReLU(), // fused with the two before: Conv, MaxPool, Relu
      new nn.BatchNorm2d(4),
      new nn.Concat(
        new nn.Sequential(new nn.Conv2d(4, 3, 3, { stride: [1, 2], padding: [1, 0], bias: false, generator: g }), new nn.Tanh()),
        new nn.Sequential(new nn.AvgPool2d(3, { stride: [1, 2], padding: [1, 0], countIncludePad: false }), new nn.BatchNorm2d(4, { affine: false, trackRunningStats: false })),
        new nn.Sequential(new nn.MaxPool2d([3, 3], { stride: [1, 2], padding: [1, 0] }), new nn.AvgPool2d(1, { stride: 1 }), new nn.ELU(0.5)),
      ),
      new nn.GELU(),
      new nn.Dropout(0.4),
      new nn.Flatten(),
      new nn.Linear(11 * 4 * 2, 12, { generator: g }),
      new nn.LeakyReLU(0.1),
      new nn.Softplus(),
      new nn.Sigmoid(),
      new nn.Linear(12, 5, { bias: false, generator: g }),
      new nn.Softmax(1),
    );
    randomizeBatchNorms(net, 42);
    checkAgainstOnnxRuntime('2-D layers', net, randomTensor([3, 2, 8, 13], 43), SHALLOW);
  });

  test('every built-in 1-D layer: Conv1d, BatchNorm1d on [N, C, L] and [N, C], MaxPool1d, AvgPool1d, LogSoftmax', () => {
    const g = new Generator(51);
    const net = new nn.Sequential(
      new nn.Conv1d(3, 5, 3, { padding: 1, stride: 2, generator: g }),
      new nn.BatchNorm1d(5),
      new nn.ReLU(),
      new nn.MaxPool1d(2, { padding: 1 }),
      new nn.AvgPool1d(2, { stride: 1, padding: 1 }),
      new nn.Conv1d(5, 4, 2, { bias: false, generator: g }),
      new nn.Flatten(),
      new nn.BatchNorm1d(4 * 5, { momentum: null }),
      new nn.Linear(20, 6, { generator: g }),
      new nn.LogSoftmax(1),
    );
    randomizeBatchNorms(net, 52);
    checkAgainstOnnxRuntime('1-D layers', net, randomTensor([4, 3, 16], 53), SHALLOW);
  });

  test('a model traced from tensor ops: residual MLP (element-wise, reductions, shapes, indexing, masks)', () => {
    const net = new ResidualOps();
    randomizeBatchNorms(net, 61);
    checkAgainstOnnxRuntime('traced residual MLP', net, randomTensor([7, 6], 62), SHALLOW);
  });

  test('a model traced from tensor ops: the remaining element-wise, comparison and indexing ops', () => {
    checkAgainstOnnxRuntime('traced remaining ops', new MoreOps(), randomTensor([5, 4], 92), SHALLOW);
  });

  test('a model traced from tensor ops: a small CNN through nn.functional (with an argmax, cast to float)', () => {
    checkAgainstOnnxRuntime('traced small CNN', new TinyCnn(), randomTensor([6, 1, 14, 14], 71), SHALLOW);
  });

  test('a custom autograd.Function: refused by name, then exported once registerOnnxOp teaches it', () => {
    class Swish extends autograd.Function {
      static override forward(ctx: autograd.Context, x: Tensor): Tensor {
        ctx.saveForBackward(x);
        return x.mul(x.sigmoid());
      }
      static override backward(ctx: autograd.Context, dy: Tensor): Tensor {
        const [x] = ctx.savedTensors;
        const s = x!.sigmoid();
        return dy.mul(s.add(x!.mul(s).mul(s.neg().add(1))));
      }
    }
    class SwishNet extends nn.Module {
      fc = new nn.Linear(3, 4, { generator: new Generator(81) });
      forward(x: Tensor): Tensor {
        return Swish.apply(this.fc.forward(x));
      }
    }
    const net = new SwishNet();
    expect(() => toOnnx(net, { inputShape: [3] })).toThrow("ONNX export: Swish (on [2, 4]) has no ONNX form in napinet's exporter. Teach it one with registerOnnxOp('Swish', ctx => …)");
    registerOnnxOp('Swish', (ctx) => ctx.graph.op('Mul', [ctx.input(0), ctx.graph.op('Sigmoid', [ctx.input(0)])]));
    checkAgainstOnnxRuntime('custom Function (Swish)', net, randomTensor([5, 3], 82), SHALLOW);
  });
});

describe('ONNX export by tracing: refusals by name', () => {
  test('a loss inside forward, Dropout called in training mode: named', () => {
    class WithLoss extends nn.Module {
      fc = new nn.Linear(3, 2);
      forward(x: Tensor): Tensor {
        return F.mseLoss(this.fc.forward(x), tensor([[0, 1]]).expand([x.shape[0], 2]));
      }
    }
    expect(() => toOnnx(new WithLoss(), { inputShape: [3] })).toThrow("ONNX export: MseLossFunction (on [2, 2], [2, 2]) has no ONNX form in napinet's exporter");
    class AlwaysDropout extends nn.Module {
      fc = new nn.Linear(3, 2);
      forward(x: Tensor): Tensor {
        return F.dropout(this.fc.forward(x), 0.5, true);
      }
    }
    expect(() => toOnnx(new AlwaysDropout(), { inputShape: [3] })).toThrow('DropoutFunction (on [2, 2]) is Dropout in training mode');
  });

  test('a constant whose shape follows the batch is refused; with a fixed batch it exports', () => {
    class BatchConstant extends nn.Module {
      fc = new nn.Linear(3, 2);
      forward(x: Tensor): Tensor {
        return this.fc.forward(x).add(tensor(new Float32Array(x.shape[0] * 2).fill(1), [x.shape[0], 2]));
      }
    }
    expect(() => toOnnx(new BatchConstant(), { inputShape: [3] })).toThrow('uses a tensor made in forward() whose shape follows the batch ([2, 2] at batch 2, [3, 2] at 3)');
    const fixed = decodeOnnx(toOnnx(new BatchConstant(), { inputShape: [3], dynamicBatch: false, example: randomTensor([4, 3], 1) }));
    expect(fixed.graph.input[0].type.tensor_type.shape.dim).toEqual([{ dim_value: 4 }, { dim_value: 3 }]);
  });

  test('options are checked by name', () => {
    const net = new nn.Sequential(new nn.Linear(3, 2));
    expect(() => toOnnx(net, {} as never)).toThrow("Expected a shape of positive integers (one sample's, without the batch dimension) for options.inputShape but received undefined");
    expect(() => toOnnx(net, { inputShape: [3], example: tensor([1, 2, 3]) })).toThrow('Expected a tensor of shape [N, 3] for options.example but received "a tensor of shape [3]"');
    expect(() => toOnnx(net, { inputShape: [3], softmax: true, standardize: { mean: [0], std: [1, 2] } })).toThrow('Expected 3 mean and std values (one per channel) for standardize');
  });
});
