// Weights between napinet and PyTorch (safetensors under the state_dict names, architecture in
// model.json), both ways:
// - fixture (no Python needed): weights PyTorch initialised, logits PyTorch computed in float64
//   (scripts/fixtures/roundtrip.py) — napinet loads them and gives the same logits;
// - live (when python3 has torch): a napinet model trained here is loaded by
//   scripts/torch_roundtrip.py into the same torch.nn.Sequential (load_state_dict strict) and
//   gives the same logits; a torch-initialised model saved by PyTorch loads with napinet.load.
// Tolerances: against the float64 reference atol 1e-5 + rtol 1e-5 (float32 sums of ≤ 1152
// products); napinet float32 vs torch float32 atol 1e-4 + rtol 1e-4, relative L2 1e-5 (two
// float32 summation orders over up to 1152 terms on logits of magnitude ≤ 30), and the same class.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { load } from '../lib/inference';
import { encodeSafetensors } from '../lib/io/safetensors';
import { loadStateDict, saveModel } from '../lib/io/model_io';
import { buildModule } from '../lib/nn/registry';
import type { Sequential } from '../lib/nn/sequential';
import { Tensor } from '../lib/tensor';
import { seedPreprocessing, trainSeedRecipe } from '../lib/chapter/recipe';
import { expectClose } from './helpers/compare';
import { loadFixtures } from './helpers/fixtures';
import { pythonMissing, readF32, runPythonScript, writeF32 } from './helpers/python';
import { decodeSafetensors } from '../lib/io/safetensors';

function argmax(rows: ArrayLike<number>, k: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < rows.length / k; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (rows[i * k + c] > rows[i * k + best]) best = c;
    out.push(best);
  }
  return out;
}

describe('PyTorch weights (fixture: scripts/fixtures/roundtrip.py)', () => {
  test.each(loadFixtures('roundtrip').map((c) => [c.name, c] as const))('%s: same logits as PyTorch', (_, c) => {
    const model = buildModule(c.params.architecture);
    // Through the file format: the state dict as safetensors bytes, read back.
    const weights = Object.fromEntries((c.params.weights as string[]).map((n) => [n, { shape: c.get(`weight.${n}`).shape, data: c.f32(`weight.${n}`) }]));
    loadStateDict(model, decodeSafetensors(encodeSafetensors(weights)).tensors);
    const x = c.get('x');
    const logits = model.eval().forward(Tensor.from(c.f32('x'), x.shape)).toArray();
    expectClose(logits, c.f64('logits'), { atol: 1e-5, rtol: 1e-5 }, `${c.name} logits`);
  });
});

const missing = pythonMissing('torch', 'numpy');

describe.skipIf(missing !== null)(`napinet ⇄ PyTorch, live${missing ? ` (skipped: ${missing})` : ''}`, () => {
  const mnist = loadMnist();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-torch-'));

  test('a napinet-trained model loads into torch.nn.Sequential and gives the same logits', async () => {
    const run = await trainSeedRecipe({ mnist, limit: 2000, epochs: 1, device: 'cpu', progress: 'none', seed: 5 });
    const modelDir = path.join(dir, 'napinet-model');
    saveModel(modelDir, run.model, seedPreprocessing(run.standardizer));
    const n = 64;
    const x = run.test.images.subarray(0, n * 784);
    writeF32(path.join(dir, 'x.f32'), x);
    const info = runPythonScript('torch_roundtrip.py', ['run', modelDir, path.join(dir, 'x.f32'), `${n},1,28,28`, path.join(dir, 'torch.f32')]);
    expect(info.shape).toEqual([n, 10]);
    const theirs = readF32(path.join(dir, 'torch.f32'));
    const ours = (run.model as Sequential).eval().forward(Tensor.from(x, [n, 1, 28, 28])).toArray();
    const c = expectClose(ours, theirs, { atol: 1e-4, rtol: 1e-4 }, 'napinet vs torch logits');
    expect(argmax(ours, 10)).toEqual(argmax(theirs, 10));
    console.log(`napinet → PyTorch (${info.weights}, torch ${info.torch}): max |Δlogit| ${c.maxAbs.toExponential(2)}, rel L2 ${c.relNorm.toExponential(2)}`);
  });

  test.each([
    ['seed network', { channels: 8, kernel: 5 }],
    ['16 channels, 3×3 kernel', { channels: 16, kernel: 3 }],
  ] as const)('a PyTorch-initialised %s saved by PyTorch loads with napinet.load and gives the same logits', (name, shape) => {
    const modelDir = path.join(dir, `torch-${shape.channels}-${shape.kernel}`);
    const pooled = Math.floor((28 - shape.kernel + 1) / 2);
    const architecture = {
      type: 'Sequential',
      layers: [
        { type: 'Conv2d', inChannels: 1, outChannels: shape.channels, kernelSize: [shape.kernel, shape.kernel], stride: [1, 1], padding: [0, 0], bias: true },
        { type: 'ReLU' },
        { type: 'MaxPool2d', kernelSize: [2, 2], stride: [2, 2], padding: [0, 0] },
        { type: 'Flatten' },
        { type: 'Linear', inFeatures: shape.channels * pooled * pooled, outFeatures: 10, bias: true },
      ],
    };
    fs.mkdirSync(modelDir, { recursive: true });
    fs.writeFileSync(
      path.join(modelDir, 'model.json'),
      JSON.stringify({ format: 'napinet-model', version: 1, architecture, preprocessing: { standardize: { mean: [33.3], std: [78.6] }, inputShape: [1, 28, 28] } }),
    );
    const n = 32;
    const pixels = mnist.test.images.subarray(0, n * 784);
    const x = Float32Array.from(pixels, (v) => (v - 33.3) / 78.6);
    writeF32(path.join(dir, 'x2.f32'), x);
    const info = runPythonScript('torch_roundtrip.py', ['make', modelDir, path.join(dir, 'x2.f32'), `${n},1,28,28`, path.join(dir, 'torch2.f32'), '11']);
    const theirs = readF32(path.join(dir, 'torch2.f32'));
    const model = load(modelDir);
    const ours = model.network.eval().forward(Tensor.from(x, [n, 1, 28, 28])).toArray();
    const c = expectClose(ours, theirs, { atol: 1e-4, rtol: 1e-4 }, `${name}: torch vs napinet logits`);
    expect(argmax(ours, 10)).toEqual(argmax(theirs, 10));
    // predict() on raw pixels applies the saved standardisation: the same classes.
    expect([...model.predict(pixels).predicted]).toEqual(argmax(theirs, 10));
    console.log(`PyTorch → napinet, ${name} (${info.weights}): max |Δlogit| ${c.maxAbs.toExponential(2)}, rel L2 ${c.relNorm.toExponential(2)}`);
  });
});
