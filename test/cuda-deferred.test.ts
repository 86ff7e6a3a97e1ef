// Work the CUDA binding holds back to save launches (native/binding/cuda/deferred.h): zeros from
// fillMany (an optimizer's zeroGrad) that the next backward pass writes instead of adding into, and
// the loss forward + backward + last Linear layer's bias gradient in one kernel. Both must be
// invisible: the same bits as eager calls (the eager path is forced by a call in between, which
// runs what is held), zeros wherever a held-zero buffer is read, and the right order in graphs.
// Runs on 'cuda' (a GPU, or the emulator build; the launch counts are the emulator's).
import { describe, expect, test } from 'vitest';
import { captureCudaGraph } from '../lib/cuda_graph';
import { cuda } from '../lib/device';
import { native } from '../lib/native';
import { relu } from '../lib/ops/activation';
import { fill, fillMany } from '../lib/ops/fill';
import { linearBackward } from '../lib/ops/linear';
import { softmaxCrossEntropy, softmaxCrossEntropyBackward } from '../lib/ops/loss';
import { Generator } from '../lib/random';
import { Tensor } from '../lib/tensor';

const device = 'cuda';
const addon = native();
const emulated = cuda.isAvailable() && cuda.info().emulated;
const emu = emulated ? (addon.cudaEmuSelftest!() as unknown as { activity(): { launches: Record<string, number> }; resetActivity(): void }) : undefined;
/** A call that runs whatever the binding holds (any export but the two that take it over). */
const runHeld = () => addon.cudaMemory!();
const bits = (t: Tensor) => Array.from(new Uint32Array(Float32Array.from(t.toArray()).buffer));

describe.runIf(cuda.isAvailable())('deferred CUDA work', () => {
  // [N, C, in]: one block with the bias sum fused (the seed step), one block with C too large
  // for the fused bias sum, and several blocks (a second launch adds their statistics).
  test.each([
    [64, 10, 32],
    [4, 2000, 8],
    [1000, 10, 16],
  ])('a step\'s loss, its gradient and the bias gradient: fused, the bits of eager calls (N=%i, C=%i)', (n, c, inFeatures) => {
    const g = new Generator(n + c);
    const logits = Tensor.from(Float32Array.from({ length: n * c }, () => 3 * g.normal()), [n, c], { device });
    const labels = Tensor.from(Int32Array.from({ length: n }, () => g.int(c)), [n], { device, dtype: 'int32' });
    const x = Tensor.from(Float32Array.from({ length: n * inFeatures }, () => g.normal()), [n, inFeatures], { device });
    const w = Tensor.from(Float32Array.from({ length: c * inFeatures }, () => g.normal()), [c, inFeatures], { device });
    const run = (eager: boolean) => {
      const probs = Tensor.zeros([n, c], { device });
      const stats = Tensor.from(Float32Array.of(5, 7), [2], { device }); // accumulated into
      const dlogits = Tensor.zeros([n, c], { device });
      const dx = Tensor.zeros([n, inFeatures], { device });
      const dw = Tensor.from(Float32Array.from({ length: c * inFeatures }, () => 9), [c, inFeatures], { device });
      const db = Tensor.from(new Float32Array(c).fill(9), [c], { device });
      emu?.resetActivity();
      if (eager) {
        fill(dw, 0);
        fill(db, 0);
      } else {
        fillMany([dw, db], 0);
      }
      softmaxCrossEntropy(logits, labels, {}, { probs, stats, accumulate: true });
      if (eager) runHeld();
      softmaxCrossEntropyBackward(probs, labels, {}, dlogits);
      if (eager) runHeld();
      linearBackward(dlogits, x, w, { accumulate: true, out: { dx, dw, db } });
      runHeld();
      const launches = emu ? Object.values(emu.activity().launches).reduce((s, k) => s + k, 0) : 0;
      return { launches, results: [probs, stats, dlogits, dx, dw, db].map(bits) };
    };
    const eager = run(true);
    const fused = run(false);
    expect(fused.results).toEqual(eager.results);
    if (emu) {
      // Eager: 2 fills, the loss forward (+1 for several blocks), its backward, 2 gemms (more when
      // split), the bias sum. Fused: the same less the fills, the backward and (one block, C small
      // enough) the bias sum.
      const saved = n * 16 <= 4096 && c <= 1024 ? 4 : 3;
      expect(eager.launches - fused.launches).toBe(saved);
    }
  });

  test('a buffer whose zeroing is held reads as zeros everywhere: downloads, kernels, graphs', () => {
    const a = Tensor.from(Float32Array.of(1, -2, 3), [3], { device });
    const b = Tensor.from(Float32Array.of(4, 5, 6), [3], { device });
    fillMany([a, b], 0);
    expect(Array.from(a.toArray())).toEqual([0, 0, 0]);
    const y = relu(b);
    expect(Array.from(y.toArray())).toEqual([0, 0, 0]);
    // Zeroing asked for during a capture is part of the graph: each launch zeroes again.
    const c = Tensor.from(Float32Array.of(7, 8, 9), [3], { device });
    const graph = captureCudaGraph(() => fillMany([c], 0));
    expect(Array.from(c.toArray())).toEqual([7, 8, 9]); // captured, not run
    graph.launch();
    expect(Array.from(c.toArray())).toEqual([0, 0, 0]);
    c.copyFrom(Float32Array.of(1, 1, 1));
    graph.launch();
    expect(Array.from(c.toArray())).toEqual([0, 0, 0]);
    // Zeroing asked for before a launch happens before the graph's kernels read the buffer.
    const d = Tensor.from(Float32Array.of(-1, 2, -3), [3], { device });
    const e = Tensor.zeros([3], { device });
    const reluGraph = captureCudaGraph(() => relu(d, e));
    fillMany([d], 0);
    reluGraph.launch();
    expect(Array.from(e.toArray())).toEqual([0, 0, 0]);
    for (const t of [a, b, c, d, e, y]) t.dispose();
    graph.dispose();
    reluGraph.dispose();
  });

  test('a held loss forward runs before anything that reads its results, and alone when no backward follows', () => {
    const logits = Tensor.from(Float32Array.of(1, 2, 3, 0, 0, 5), [2, 3], { device });
    const labels = Tensor.from(Int32Array.of(2, 0), [2], { device, dtype: 'int32' });
    const { probs, stats } = softmaxCrossEntropy(logits, labels);
    const loss = stats.toArray()[0]; // the download runs the held forward
    expect(loss).toBeCloseTo(-Math.log(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3))) - Math.log(1 / (2 + Math.exp(5))), 5);
    expect(probs.toArray()[2]).toBeCloseTo(Math.exp(3) / (Math.exp(1) + Math.exp(2) + Math.exp(3)), 6);
    for (const t of [logits, labels, probs, stats]) t.dispose();
  });
});
