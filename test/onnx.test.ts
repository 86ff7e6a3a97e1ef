// ONNX export (lib/io/onnx.ts): the file's structure (decoded here, always), and — when python3 has
// onnxruntime — the same outputs as napinet on the seed network and on a variant with stride,
// padding, no-bias layers, padded max pooling and average pooling without padded zeros; with the
// standardisation and Softmax in the graph too (the Classifier's export). onnx.checker (full_check)
// runs when onnx is here. Every other layer, the deep network and traced models: onnx_trace.test.ts.
// Tolerance: atol 1e-5 + rtol 1e-4 on logits, 1e-6 on probabilities (float32 both sides, different
// summation orders over ≤ 1152 terms).
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { Classifier } from '../lib/inference';
import { decodeOnnx, ONNX_OPSET, toOnnx } from '../lib/io/onnx';
import { seedNetwork } from '../lib/chapter/models';
import { Generator } from '../lib/random';
import { Sequential } from '../lib/nn/sequential';
import { Conv2d } from '../lib/nn/conv2d';
import { ReLU } from '../lib/nn/activation';
import { AvgPool2d, MaxPool2d } from '../lib/nn/pool2d';
import { Flatten } from '../lib/nn/flatten';
import { Linear } from '../lib/nn/linear';
import { BatchNorm1d, BatchNorm2d } from '../lib/nn/batchnorm';
import { Dropout } from '../lib/nn/dropout';
import type { LayerConfig, Module } from '../lib/nn/module';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { pythonMissing, readF32, runPythonScript, writeF32 } from './helpers/python';

/** The deep network's layer kinds, smaller: BatchNorm2d (affine and not), BatchNorm1d, Dropout. */
function batchNormVariant(g: Generator): Sequential {
  const net = new Sequential(
    new Conv2d(1, 4, 3, { bias: false, generator: g }),
    new BatchNorm2d(4),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(4, 6, 3, { generator: g }),
    new BatchNorm2d(6, { affine: false }),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(6 * 5 * 5, 16, { bias: false, generator: g }),
    new BatchNorm1d(16),
    new ReLU(),
    new Dropout(0.25, { generator: g }),
    new Linear(16, 10, { generator: g }),
  );
  // Running statistics and affine parameters away from their initial 0, 1 (a trained network's).
  for (const [, t] of [...net.namedBuffers(), ...net.namedParameters()]) {
    if (t.dtype !== 'float32' || t.shape.length !== 1) continue;
    const values = Float32Array.from({ length: t.size }, () => g.uniform(0.5, 1.5));
    if (t.size > 1) t.copyFrom(values);
  }
  return net;
}

function variant(g: Generator): Sequential {
  return new Sequential(
    new Conv2d(1, 4, 3, { stride: 2, padding: 1, bias: false, generator: g }),
    new ReLU(),
    new AvgPool2d(2, { stride: 2, padding: 1, countIncludePad: false }),
    new Conv2d(4, 6, 3, { padding: 1, generator: g }),
    new ReLU(),
    new MaxPool2d(3, { stride: 2, padding: 1 }),
    new AvgPool2d(2, { stride: 1, padding: 1 }),
    new Flatten(),
    new Linear(6 * 5 * 5, 10, { bias: false, generator: g }),
  );
}

const mnist = loadMnist();
const N = 16;
const pixels = mnist.test.images.subarray(0, N * 784);
const standardize = { mean: [33.3], std: [78.6] };
const standardized = Float32Array.from(pixels, (v) => (v - 33.3) / 78.6);

describe('ONNX export: structure', () => {
  test('opset, IR version, the traced nodes (the fused conv + pool step too), initializers under state_dict names, symbolic batch', () => {
    const model = decodeOnnx(toOnnx(seedNetwork({ generator: new Generator(1) }), { inputShape: [1, 28, 28] }));
    expect(model.ir_version).toBe(7);
    expect(model.opset_import).toEqual([{ domain: '', version: ONNX_OPSET }]);
    expect(model.producer_name).toBe('napinet');
    const g = model.graph;
    // Sequential runs Conv2d → ReLU → MaxPool2d(2) as one fused step (pool, then ReLU: the same values).
    expect(g.node.map((n: any) => n.op_type)).toEqual(['Conv', 'MaxPool', 'Relu', 'Reshape', 'Gemm']);
    expect(g.initializer.map((t: any) => [t.name, t.dims])).toEqual([
      ['0.weight', [8, 1, 5, 5]],
      ['0.bias', [8]],
      ['const.shape', [2]],
      ['4.weight', [10, 1152]],
      ['4.bias', [10]],
    ]);
    // Flatten's Reshape copies the batch dimension (0) and fixes the rest.
    expect(Array.from(new BigInt64Array(Uint8Array.from(g.initializer[2].raw_data).buffer), Number)).toEqual([0, 1152]);
    expect(g.input[0].name).toBe('input');
    expect(g.input[0].type.tensor_type.shape.dim).toEqual([{ dim_param: 'N' }, { dim_value: 1 }, { dim_value: 28 }, { dim_value: 28 }]);
    expect(g.output[0].name).toBe('output');
    expect(g.output[0].type.tensor_type.shape.dim).toEqual([{ dim_param: 'N' }, { dim_value: 10 }]);
    const gemm = g.node[4];
    expect(gemm.attribute.find((a: any) => a.name === 'transB').i).toBe(1);
    const bytes = Buffer.from(g.initializer[0].raw_data);
    expect(bytes.length).toBe(8 * 25 * 4);
  });

  test('softmax and preprocessing add nodes; any module exports (no config() needed: it is traced)', () => {
    const net = seedNetwork({ generator: new Generator(1) });
    const model = decodeOnnx(toOnnx(net, { inputShape: [1, 28, 28], softmax: true, standardize }));
    expect(model.graph.node.map((n: any) => n.op_type)).toEqual(['Sub', 'Div', 'Conv', 'MaxPool', 'Relu', 'Reshape', 'Gemm', 'Softmax']);
    expect(model.graph.input[0].name).toBe('pixels');
    expect(model.graph.output[0].name).toBe('probabilities');
    expect(model.metadata_props).toContainEqual({ key: 'napinet.standardize', value: JSON.stringify(standardize) });
    class Odd extends ReLU {
      override config(): LayerConfig {
        return { type: 'Odd' };
      }
    }
    const odd = decodeOnnx(toOnnx(new Sequential(new Flatten(), new Odd()), { inputShape: [1, 2, 2] }));
    expect(odd.graph.node.map((n: any) => n.op_type)).toEqual(['Reshape', 'Relu']);
    const identity = decodeOnnx(toOnnx(new Sequential(), { inputShape: [3] }));
    expect(identity.graph.node.map((n: any) => [n.op_type, n.input, n.output])).toEqual([['Identity', ['input'], ['output']]]);
  });
});

const missing = pythonMissing('onnxruntime', 'numpy');

describe.skipIf(missing !== null)(`ONNX export against onnxruntime${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-onnx-'));

  function ort(file: string, x: Float32Array): { y: Float32Array; info: any } {
    writeF32(path.join(dir, 'x.f32'), x);
    const info = runPythonScript('onnx_check.py', [file, path.join(dir, 'x.f32'), `${x.length / 784},1,28,28`, path.join(dir, 'y.f32')]);
    return { y: readF32(path.join(dir, 'y.f32')), info };
  }

  test.each([
    ['seed network', (g: Generator) => seedNetwork({ generator: g }) as Module],
    ['stride/padding/pooling variant', (g: Generator) => variant(g) as Module],
    ['BatchNorm2d/BatchNorm1d/Dropout variant (eval: running statistics)', (g: Generator) => batchNormVariant(g) as Module],
  ])('%s: onnxruntime gives napinet’s logits', (name, make) => {
    const net = make(new Generator(3));
    const file = path.join(dir, `${name.replace(/\W+/g, '-')}.onnx`);
    fs.writeFileSync(file, toOnnx(net, { inputShape: [1, 28, 28] }));
    const { y, info } = ort(file, standardized);
    const ours = net.eval().forward(Tensor.from(standardized, [N, 1, 28, 28])).toArray();
    const c = expectClose(y, ours, { atol: 1e-5, rtol: 1e-4 }, `${name} logits`);
    expect(info.outputShape).toEqual([N, 10]);
    console.log(`${name}: onnxruntime ${info.onnxruntime}${info.checked ? ', onnx.checker passed' : ''}: max |Δ| ${c.maxAbs.toExponential(2)}`);
  });

  test('with preprocessing and softmax: raw pixels in, the Classifier’s probabilities out', () => {
    const classifier = new Classifier(seedNetwork({ generator: new Generator(4) }), { inputShape: [1, 28, 28], standardizer: standardize });
    const file = path.join(dir, 'full.onnx');
    classifier.exportOnnx(file, { softmax: true, preprocessing: true });
    const { y, info } = ort(file, Float32Array.from(pixels));
    expect(info.input).toBe('pixels');
    expect(info.output).toBe('probabilities');
    const ours = classifier.predict(pixels);
    const c = expectClose(y, ours.probabilities, { atol: 1e-6, rtol: 1e-4 }, 'probabilities');
    console.log(`preprocessing + softmax: max |Δp| ${c.maxAbs.toExponential(2)}`);
  });
});
