// Softmax and log-softmax over dim 1 of [N, C] against PyTorch (scripts/fixtures/softmax.py):
// forward and input gradient through the ops, and the Softmax / LogSoftmax layers.
//
// Tolerances (ULP = 2⁻²⁴):
//   softmax y        atol 1e-7, rtol 2e-6: exp and one division per value, a sum of C terms.
//   log_softmax y    (x − max) − log Σ: rtol 4·ULP and atol 4·ULP·(1 + ln C), the rounding of
//                    log Σ (≤ ln C + 1 in size) carried into every value.
//   both dx          a row sum of C terms (Σ dy·y, Σ dy), then a difference that can cancel: the
//                    error of dx_i scales with the operands, not with dx_i. atol 4·ULP·max_i s_i with
//                    s_i = y_i·(|dy_i| + √C·Σ_k |dy_k|·y_k) for softmax and s_i = |dy_i| + √C·p_i·Σ_k |dy_k|
//                    for log-softmax (p = exp(log_y)): one rounding of each operand and a sum's √C
//                    growth; rtol 8·ULP; relative L2 error ≤ max(8·ULP, 2·ULP·√C).
import { describe, expect, test } from 'vitest';
import { explicit } from '../lib/autograd/grad_mode';
import { native } from '../lib/native';
import { LogSoftmax, Softmax } from '../lib/nn/softmax';
import { buildModule } from '../lib/nn/registry';
import { logSoftmax, logSoftmaxBackward, softmax, softmaxBackward } from '../lib/ops/softmax';
import { Tensor } from '../lib/tensor';
import { expectClose, type Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { ULP } from './helpers/tolerance';

const SOFTMAX_Y: Tolerance = { atol: 1e-7, rtol: 2e-6 };

/** The dx tolerance for a row-wise backward whose error scale per value is scale(i) (see the header). */
function gradTolerance(c: FixtureCase, scale: (i: number, row: number) => number): Tolerance {
  const [n, classes] = c.get('x').shape;
  let worst = 0;
  for (let row = 0; row < n; row++) {
    for (let k = 0; k < classes; k++) worst = Math.max(worst, scale(row * classes + k, row));
  }
  return { atol: 4 * ULP * worst, rtol: 8 * ULP, relNorm: Math.max(8 * ULP, 2 * ULP * Math.sqrt(classes)) };
}

/** Per-row Σ_k |dy_k|·w_k (w = 1 when omitted). */
function rowAbsSums(dy: Float64Array, classes: number, w?: Float64Array): Float64Array {
  const out = new Float64Array(dy.length / classes);
  for (let i = 0; i < dy.length; i++) out[Math.floor(i / classes)] += Math.abs(dy[i]) * (w ? w[i] : 1);
  return out;
}

function softmaxGradTolerance(c: FixtureCase): Tolerance {
  const classes = c.get('x').shape[1];
  const y = c.f64('y');
  const dy = c.f64('dy');
  const sums = rowAbsSums(dy, classes, y);
  return gradTolerance(c, (i, row) => y[i] * (Math.abs(dy[i]) + Math.sqrt(classes) * sums[row]));
}

function logSoftmaxGradTolerance(c: FixtureCase): Tolerance {
  const classes = c.get('x').shape[1];
  const p = c.f64('log_y').map(Math.exp);
  const dy = c.f64('dy');
  const sums = rowAbsSums(dy, classes);
  return gradTolerance(c, (i, row) => Math.abs(dy[i]) + Math.sqrt(classes) * p[i] * sums[row]);
}

describe.each(DEVICES)('softmax on %s', (device) => {
  for (const c of loadFixtures('softmax')) {
    const classes = c.get('x').shape[1];

    test(c.name, () => {
      checkOp(c, { y: softmax(c.tensor('x', device)) }, SOFTMAX_Y);
    });

    test(`${c.name}: softmax dx (from PyTorch's y as float32)`, () => {
      checkOp(c, { dx: softmaxBackward(c.tensor('dy', device), c.tensor('y', device)) }, softmaxGradTolerance(c));
    });

    test(`${c.name}: log-softmax forward and dx`, () => {
      const y = logSoftmax(c.tensor('x', device));
      const dx = logSoftmaxBackward(c.tensor('dy', device), y);
      checkOp(c, { log_y: y, log_dx: dx }, {
        log_y: { atol: 4 * ULP * (1 + Math.log(classes)), rtol: 4 * ULP, relNorm: 4 * ULP },
        log_dx: logSoftmaxGradTolerance(c),
      });
    });

    test(`${c.name}: Softmax and LogSoftmax layers`, () => {
      const x = c.tensor('x', device);
      const dy = c.tensor('dy', device);
      const soft = new Softmax(1).to(device);
      const y = explicit(() => soft.forward(x));
      checkOp(c, { y, dx: soft.backward(dy) }, { y: SOFTMAX_Y, dx: softmaxGradTolerance(c) }, { label: 'Softmax' });
      const logSoft = new LogSoftmax(-1).to(device);
      expect(Array.from(explicit(() => logSoft.forward(x)).toArray())).toEqual(Array.from(logSoftmax(x).toArray()));
      expect(Array.from(logSoft.backward(dy)!.toArray())).toEqual(Array.from(logSoftmaxBackward(dy, logSoftmax(x)).toArray()));
    });
  }
  // The fixtures have C ≤ 10 (one GPU lane per class). Rows wider than a warp: each lane adds
  // ⌈C/32⌉ ≤ 4 strided terms, then a 5-level butterfly, ≤ 8 roundings of positive terms (≲ 4.8e-7
  // relative) plus expf's 2 ulp: within rtol 2e-6. Reference: float64 in JS.
  test.runIf(device === 'cuda:0')('rows wider than a warp, and a single class, against a float64 reference', () => {
    for (const [n, classes] of [[37, 100], [9, 33], [4, 1]]) {
      const x = Float32Array.from({ length: n * classes }, (_, i) => 4 * Math.cos(i * 0.7071 + 0.25));
      const reference = new Float64Array(n * classes);
      for (let i = 0; i < n; i++) {
        const row = Array.from(x.subarray(i * classes, (i + 1) * classes));
        const max = Math.max(...row);
        const sum = row.reduce((a, v) => a + Math.exp(v - max), 0);
        for (let k = 0; k < classes; k++) reference[i * classes + k] = Math.exp(row[k] - max) / sum;
      }
      const y = softmax(Tensor.from(x, [n, classes], { device }));
      expectClose(y.toArray(), reference, SOFTMAX_Y, `N ${n}, C ${classes}`);
    }
  });

  test('results are bit-identical with 1 thread and with the default pool', () => {
    const n = 3000;
    const x = Tensor.from(Float32Array.from({ length: n * 10 }, (_, i) => 5 * Math.sin(i * 0.61)), [n, 10], { device });
    const dy = Tensor.from(Float32Array.from({ length: n * 10 }, (_, i) => Math.cos(i * 0.23)), [n, 10], { device });
    expectSameBitsAcrossThreads(() => {
      const y = logSoftmax(x);
      return [y, logSoftmaxBackward(dy, y), softmaxBackward(dy, y)];
    });
  });

  test('rejects bad input, naming it', () => {
    expect(() => softmax(Tensor.zeros([3], { device }))).toThrow('Expected a tensor of rank 2 for x but received shape [3]');
    expect(() => logSoftmax(Tensor.zeros([2, 3, 4], { device }))).toThrow('Expected a tensor of rank 2 for x but received shape [2, 3, 4]');
    const a = Tensor.zeros([2, 3], { device });
    expect(() => softmaxBackward(a, Tensor.zeros([3, 2], { device }))).toThrow('Expected shape [2, 3] for y but received [3, 2]');
    expect(() => logSoftmaxBackward([0] as never, a)).toThrow('Expected a Tensor for dy but received [0]');
    expect(() => new Softmax(0)).toThrow('Expected 1 or -1 (the class dimension of [N, C] scores) for dim but received 0');
    expect(() => new LogSoftmax().forward(Tensor.zeros([2, 3, 4], { device }))).toThrow(
      'Expected input of shape [N, C] for LogSoftmax but received [2, 3, 4]',
    );
    expect(() => new Softmax().backward(a)).toThrow('Softmax.backward() needs a forward() first (no saved output)');
    expect(new Softmax().toString()).toBe('Softmax(dim=1)');
    expect(buildModule(new LogSoftmax(-1).config()).toString()).toBe('LogSoftmax(dim=-1)');
    const short = device === 'cpu' ? new Float32Array(5) : Tensor.zeros([5], { device }).buffer;
    const long = device === 'cpu' ? new Float32Array(6) : Tensor.zeros([6], { device }).buffer;
    expect(() => native().logSoftmaxForward(long, short, 2, 3)).toThrow(RangeError);
  });
});
