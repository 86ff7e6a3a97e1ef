// CUDA graphs (lib/cuda_graph.ts, native/binding/cuda/graph.cc): work recorded, not run, during a
// capture and run by each launch with the buffers' contents at that time; calls that would wait,
// allocate or copy to the host during a capture throw and drop it; fit({ cudaGraph: true }) gives
// the same weights, bit for bit, as ordinary steps, with three host calls to the GPU per step.
// Runs on 'cuda' (a GPU, or the emulator build, which records and replays as the CUDA runtime does
// and enforces a thread-local capture's rules); elsewhere only the error without a GPU.
import { describe, expect, test } from 'vitest';
import { ImageDataset } from '../lib/data/dataset';
import { cuda } from '../lib/device';
import { captureCudaGraph } from '../lib/cuda_graph';
import { deepNetwork, seedNetwork } from '../lib/chapter/models';
import { native } from '../lib/native';
import { relu } from '../lib/ops/activation';
import { fill } from '../lib/ops/fill';
import { Adam } from '../lib/optim/adam';
import { StepLR } from '../lib/optim/lr_scheduler';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';
import { fit } from '../lib/train/fit';

const device = 'cuda';
const emulated = cuda.isAvailable() && cuda.info().emulated;

describe.runIf(cuda.isAvailable())('CUDA graphs', () => {
  test('capture records without running; each launch runs on the buffers as they are then', () => {
    const x = Tensor.from(Float32Array.of(-1, 2, -3, 4), [4], { device });
    const y = Tensor.zeros([4], { device });
    const graph = captureCudaGraph(() => {
      relu(x, y);
      fill(x, 5);
    });
    expect(Array.from(y.toArray())).toEqual([0, 0, 0, 0]); // nothing ran
    expect(Array.from(x.toArray())).toEqual([-1, 2, -3, 4]);
    graph.launch();
    expect(Array.from(y.toArray())).toEqual([0, 2, 0, 4]);
    expect(Array.from(x.toArray())).toEqual([5, 5, 5, 5]);
    x.copyFrom(Float32Array.of(7, -8, 9, -10));
    graph.launch();
    expect(Array.from(y.toArray())).toEqual([7, 0, 9, 0]);
    graph.dispose();
    expect(graph.disposed).toBe(true);
    expect(() => graph.launch()).toThrow('This CUDA graph was disposed');
    for (const t of [x, y]) t.dispose();
  });

  test('reading, allocating or throwing during a capture drops it, and work runs normally after', () => {
    const x = Tensor.from(Float32Array.of(-1, 2), [2], { device });
    expect(() => captureCudaGraph(() => x.toArray())).toThrow(/cudaErrorStreamCapture/);
    expect(() => captureCudaGraph(() => Tensor.zeros([8], { device }))).toThrow(/cudaErrorStreamCapture/);
    expect(() =>
      captureCudaGraph(() => {
        throw new RangeError('from inside');
      }),
    ).toThrow('from inside');
    expect(Array.from(relu(x).toArray())).toEqual([0, 2]); // not captured: runs
    const y = Tensor.zeros([2], { device });
    const graph = captureCudaGraph(() => relu(x, y)); // a new capture works
    graph.launch();
    expect(Array.from(y.toArray())).toEqual([0, 2]);
    graph.dispose();
  });

  test('fit({ cudaGraph: true }) trains exactly as ordinary steps, with 3 host calls to the GPU per replayed step', async () => {
    const g = new Generator(3);
    const data = new ImageDataset(
      Float32Array.from({ length: (5 * 32 + 12) * 784 }, () => g.normal()), // 5 full batches and a smaller last one
      Int32Array.from({ length: 5 * 32 + 12 }, () => g.int(10)),
      [1, 28, 28],
    );
    const train = async (cudaGraph: boolean) => {
      const model = seedNetwork({ generator: new Generator(7) }).to(device);
      const optimizer = new Adam(model.parameters(), { lr: 0.01 });
      const scheduler = new StepLR(optimizer, { stepSize: 2, gamma: 0.5 }); // lr changes between steps
      const history = await fit(model, data, { optimizer, scheduler, epochs: 2, batchSize: 32, progress: 'none', generator: new Generator(1), cudaGraph });
      const weights = model.parameters().map((p) => Buffer.from(p.toArray().buffer));
      model.dispose();
      return { weights, loss: history.epochs.map((e) => e.trainLoss) };
    };
    const emu = emulated ? (native().cudaEmuSelftest!() as unknown as { resetActivity(): void; activity(): Record<string, unknown> }) : undefined;
    const ordinary = await train(false);
    emu?.resetActivity();
    const graphed = await train(true);
    ordinary.weights.forEach((w, i) => expect(graphed.weights[i].equals(w), `parameter ${i}`).toBe(true));
    expect(graphed.loss).toEqual(ordinary.loss);
    if (emu) {
      const a = emu.activity() as { graphLaunches: number; launches: Record<string, number> };
      // Per epoch: 6 steps, of which the first full one runs ordinarily, the second is captured,
      // the second to fifth replay the graph and the last (12 samples) runs ordinarily.
      expect(a.graphLaunches).toBe(2 * 4);
      expect(a.launches.adam_step_kernel).toBe(2 * 6);
      expect(a.launches.gather_batch_kernel).toBe(2 * 6);
      expect(a.launches['(conv2d_forward_direct_kernel<8>)']).toBe(2 * 2); // ordinary steps only
    }
  }, 120_000);

  test('fit refuses cudaGraph for a CPU model and for a model with Dropout in training', async () => {
    const data = new ImageDataset(new Float32Array(4 * 784), new Int32Array(4), [1, 28, 28]);
    const optimizerFor = (m: { parameters(): never[] }) => new Adam(m.parameters(), { lr: 0.01 });
    const cpuModel = seedNetwork();
    await expect(fit(cpuModel, data, { optimizer: optimizerFor(cpuModel as never), epochs: 1, batchSize: 4, progress: 'none', cudaGraph: true })).rejects.toThrow(
      'Expected false for a model on the CPU (CUDA graphs record GPU work) for cudaGraph but received true',
    );
    const deep = deepNetwork();
    expect(deep.capturable).toBe(false);
    deep.eval();
    expect(deep.capturable).toBe(true); // Dropout draws nothing in eval mode
  });
});

test.runIf(!cuda.isAvailable())('without a usable GPU captureCudaGraph says why', () => {
  expect(() => captureCudaGraph(() => undefined)).toThrow('CUDA graphs need a usable GPU');
});
