// The CPU's Winograd F(2×2, 3×3) convolution (native/kernels/conv2d_winograd.h), asked for with
// algorithm 'winograd', against PyTorch (test/fixtures/conv2d_winograd.fixture,
// scripts/fixtures/conv2d_winograd.py): y, dx and the weight gradient dw, db (the latter against
// PyTorch on the cases whose fixture has them: padding, odd outputs, K ≠ C). conv2d's
// 'auto' takes it for 3×3, stride-1 layers with 32–192 channels in and out (forward, and both
// gradients), and for the weight gradient alone from 16 channels in and 8 out, on batches of at
// least 1,536 output positions (the last describe block; conv2d.cpp use_winograd).
//
// Tolerance: the same as the direct and im2col passes' (CONV, test/conv2d.test.ts: atol
// 1e-5·rms(ref), rtol 1e-5, relNorm 1e-5). Winograd's transforms add and subtract up to 4 input
// values, 9 products and scale the weights by ½ and ¼, so each output carries a few more roundings
// of the size of its terms than the direct sum, but its GEMMs sum over C (not C·9) products.
// Measured max |out − ref| / rms(ref) on these cases (AVX-512, AVX2 and portable kernels alike):
// y 6.1e-7–1.5e-6 against the direct pass's 2.9e-6–5.2e-6; dx, where Winograd computes it (64
// channels), 1.3e-6–1.8e-6 against 3.2e-6–4.0e-6; dw 6.5e-7–1.1e-6 against 9.2e-7–2.0e-6 (its
// GEMMs sum over N·tiles products, a quarter of the direct pass's N·OH·OW, after transforms of up
// to 4 inputs and 4 dy values and a Gᵀ du G of 9 terms; printed with NAPINET_VERBOSE=1). Winograd's
// error is below the direct pass's for y and dx and about the same for dw (1.2× it on one case,
// a third on the other), so the shared bound (a margin of 5× or more) is kept rather than loosened
// or given a separate value.
import { spawnSync } from 'node:child_process';
import { describe, expect, test } from 'vitest';
import { addonSource, native } from '../lib/native';
import { conv2d, conv2dBackward, type Conv2dOptions } from '../lib/ops/conv2d';
import { Tensor } from '../lib/tensor';
import { expectIdentical } from './helpers/compare';
import { convInputs, convOptions } from './helpers/conv';
import { loadFixtures } from './helpers/fixtures';
import { checkOp, checkTensor } from './helpers/op_check';
import { nodeCommand } from './helpers/node';
import { expectSameBitsAcrossThreads } from './helpers/threads';
import { CONV, rms } from './helpers/tolerance';

const CASES = loadFixtures('conv2d_winograd');

/** max |a − ref| / rms(ref) */
function relativeMax(a: ArrayLike<number>, ref: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(a[i] - ref[i]));
  return worst / rms(ref);
}

/** dw and db to check where the case has references for them (a few cases, to keep the fixture small). */
const weightGrads = (c: (typeof CASES)[number], dw: Tensor, db: Tensor | Float32Array | null) =>
  c.has('dw') ? { dw, db } : {};

/** The case's stride and padding with algorithm 'winograd'. */
const winogradOptions = (c: (typeof CASES)[number]) => ({ ...convOptions(c), algorithm: 'winograd' }) as Conv2dOptions;

describe('conv2d (Winograd) against PyTorch', () => {
  for (const c of CASES) {
    test(c.name, () => {
      const { x, weight, bias, dy } = convInputs(c, 'cpu');
      const winograd = winogradOptions(c);
      const direct = convOptions(c, 'direct') as Conv2dOptions;
      const y = conv2d(x, weight, bias, winograd);
      const g = conv2dBackward(dy, x, weight, { ...winograd, inputGrad: true, biasGrad: bias !== null });
      checkOp(c, { y, dx: g.dx, ...weightGrads(c, g.dw, g.db) }, CONV, { label: 'winograd' });
      // Winograd ran: its rounding differs from the direct pass's
      const yDirect = conv2d(x, weight, bias, direct);
      expect(y.toArray()).not.toEqual(yDirect.toArray());
      const gDirect = conv2dBackward(dy, x, weight, { ...direct, inputGrad: true, biasGrad: bias !== null });
      expect(g.dx!.toArray()).not.toEqual(gDirect.dx!.toArray());
      expect(g.dw.toArray()).not.toEqual(gDirect.dw.toArray());
      if (process.env.NAPINET_VERBOSE) {
        const [yRef, dxRef] = [c.f64('y'), c.f64('dx')];
        const dwErrors = c.has('dw')
          ? `; dw winograd ${relativeMax(g.dw.toArray(), c.f64('dw')).toExponential(1)}, direct ${relativeMax(gDirect.dw.toArray(), c.f64('dw')).toExponential(1)}`
          : '';
        console.log(
          `${c.name}: max |err|/rms y winograd ${relativeMax(y.toArray(), yRef).toExponential(1)}, direct ${relativeMax(yDirect.toArray(), yRef).toExponential(1)}; ` +
            `dx winograd ${relativeMax(g.dx!.toArray(), dxRef).toExponential(1)}, direct ${relativeMax(gDirect.dx!.toArray(), dxRef).toExponential(1)}${dwErrors}`,
        );
      }
    });
  }

  test('1 and 2 threads give bit-identical results', () => {
    for (const c of CASES) {
      const { x, weight, bias, dy } = convInputs(c, 'cpu');
      const options = winogradOptions(c);
      expectSameBitsAcrossThreads(() => {
        const g = conv2dBackward(dy, x, weight, { ...options, inputGrad: true, biasGrad: bias !== null });
        const dwOnly = conv2dBackward(dy, x, weight, { ...options, inputGrad: false, biasGrad: bias !== null });
        return [conv2d(x, weight, bias, options), g.dx!, g.dw, ...(g.db ? [g.db] : []), dwOnly.dw];
      }, `${c.name}: `);
    }
  });

  test('accumulate adds the Winograd dw and db into out.dw and out.db (like .grad)', () => {
    const c = CASES.find((k) => k.has('dw') && k.params.bias)!;
    const { x, weight, bias, dy } = convInputs(c, 'cpu');
    for (const inputGrad of [false, true]) {
      const options = { ...winogradOptions(c), inputGrad, biasGrad: bias !== null };
      const fresh = conv2dBackward(dy, x, weight, options);
      const dw0 = Float32Array.from(c.f32('weight'), (v) => v * 0.5 + 1);
      const db0 = Float32Array.from({ length: weight.shape[0] }, (_, i) => i - 1.5);
      const out = { dw: Tensor.from(dw0.slice(), weight.shape), db: Tensor.from(db0.slice(), [weight.shape[0]]) };
      conv2dBackward(dy, x, weight, { ...options, accumulate: true, out });
      const [dw, db] = [fresh.dw.toArray(), fresh.db!.toArray()];
      expect(out.dw.toArray()).toEqual(dw0.map((v, i) => v + dw[i]));
      expect(out.db.toArray()).toEqual(db0.map((v, i) => v + db[i]));
    }
  });

  test('a NaN or inf in the output sends the pass back to the direct sum (NaN only where its terms have one)', () => {
    const c = CASES[0];
    const { x: cleanX, weight, dy: cleanDy } = convInputs(c, 'cpu');
    const xs = cleanX.toArray() as Float32Array;
    xs[5] = NaN;  // sample 0, channel 0, row 0, column 5
    xs[xs.length - 1] = Infinity;
    const x = Tensor.from(xs, cleanX.shape);
    const auto = winogradOptions(c);
    const direct = convOptions(c, 'direct') as Conv2dOptions;
    // the forward pass: the direct pass's bits (Winograd would spread the NaN over whole tiles)
    expectIdentical(conv2d(x, weight, null, auto).toArray(), conv2d(x, weight, null, direct).toArray(), 'y');
    // the input gradient from a dy with a NaN: NaN exactly where the direct pass puts one
    const dys = cleanDy.toArray() as Float32Array;
    dys[9] = NaN;
    const dy = Tensor.from(dys, cleanDy.shape);
    const nanAt = (t: Tensor) => Array.from(t.toArray(), Number.isNaN);
    const dxAuto = conv2dBackward(dy, cleanX, weight, { ...auto, inputGrad: true, biasGrad: false }).dx!;
    const dxDirect = conv2dBackward(dy, cleanX, weight, { ...direct, inputGrad: true, biasGrad: false }).dx!;
    expect(nanAt(dxAuto)).toEqual(nanAt(dxDirect));
    // dy's NaN at sample 0, channel 0, output (1, 1) reaches the 3×3 input window under it in each
    // of the 64 input channels
    expect(nanAt(dxAuto).filter(Boolean).length).toBe(9 * 64);
  });

  test('a NaN or inf in x or dy sends the weight gradient back to the direct pass (NaN only where its terms have one)', () => {
    const c = CASES[0];
    const { x: cleanX, weight, dy: cleanDy } = convInputs(c, 'cpu');
    const winograd = winogradOptions(c);
    const direct = convOptions(c, 'direct') as Conv2dOptions;
    const nanAt = (t: Tensor) => Array.from(t.toArray(), Number.isNaN);
    const dw = (dy: Tensor, x: Tensor, options: Conv2dOptions, inputGrad: boolean) =>
      conv2dBackward(dy, x, weight, { ...options, inputGrad, biasGrad: true });
    // dy's NaN at sample 0, channel 0, output (1, 1): dw[0, c, i, j] for every c, i, j (all 9 taps
    // meet x there), db[0]; Winograd would spread it over the whole 4×4 tile's transform
    const dys = cleanDy.toArray() as Float32Array;
    dys[9] = NaN;
    const dy = Tensor.from(dys, cleanDy.shape);
    for (const inputGrad of [false, true]) {
      const w = dw(dy, cleanX, winograd, inputGrad), d = dw(dy, cleanX, direct, inputGrad);
      expect(nanAt(w.dw)).toEqual(nanAt(d.dw));
      expect(nanAt(w.dw).filter(Boolean).length).toBe(64 * 9);
      expect(nanAt(w.db!)).toEqual(nanAt(d.db!));
    }
    // an inf in x at sample 1's last element: only the taps that reach it (dw[k, 63, 2, 2]) are
    // non-finite; the rest is the direct pass's bits
    const xs = cleanX.toArray() as Float32Array;
    xs[xs.length - 1] = Infinity;
    const x = Tensor.from(xs, cleanX.shape);
    const w = dw(cleanDy, x, winograd, false).dw.toArray(), d = dw(cleanDy, x, direct, false).dw.toArray();
    expect(Array.from(w, (v) => !Number.isFinite(v))).toEqual(Array.from(d, (v) => !Number.isFinite(v)));
    expect(Array.from(w, (v) => !Number.isFinite(v)).filter(Boolean).length).toBe(64);
    expectIdentical(w.map((v) => (Number.isFinite(v) ? v : 0)), d.map((v) => (Number.isFinite(v) ? v : 0)), 'finite dw');
  });
});

describe('the AVX2 and portable Winograd kernels (child processes with NAPINET_CONV_ISA)', () => {
  // The kernel set is chosen once per process: each case's inputs go to a child through stdin,
  // its y and dx (algorithm 3, 'winograd') come back, and are checked here against PyTorch.
  const script = `
    const addon = require(process.env.ADDON);
    const input = JSON.parse(require('fs').readFileSync(0, 'utf8'));
    const out = input.map(({ sizes, x, w, b, dy }) => {
      const [n, c, h, wd, k, ph, pw, oh, ow] = sizes;
      const y = new Float32Array(n * k * oh * ow), dx = new Float32Array(n * c * h * wd);
      const dw = new Float32Array(k * c * 9), db = b ? new Float32Array(k) : null;
      const f = (a) => Float32Array.from(a);
      addon.conv2dForward(y, f(x), f(w), b ? f(b) : null, n, c, h, wd, k, 3, 3, 1, 1, ph, pw, 3);
      addon.conv2dBackward(dx, dw, db, f(dy), f(x), f(w), n, c, h, wd, k, 3, 3, 1, 1, ph, pw, false, 3);
      return { y: Array.from(y), dx: Array.from(dx), dw: Array.from(dw), db: db ? Array.from(db) : null };
    });
    console.log(JSON.stringify({ isa: addon.conv2dIsa(), out }));
  `;
  test.each(['avx2', 'generic'])('%s', (isa) => {
    const input = CASES.map((c) => {
      const [n, ch, h, w] = c.get('x').shape;
      const [k] = c.get('weight').shape;
      const [, , oh, ow] = c.get('y').shape;
      const [ph, pw] = c.params.padding as number[];
      return {
        sizes: [n, ch, h, w, k, ph, pw, oh, ow],
        x: Array.from(c.f32('x')),
        w: Array.from(c.f32('weight')),
        b: c.params.bias ? Array.from(c.f32('bias')) : null,
        dy: Array.from(c.f32('dy')),
      };
    });
    const env: NodeJS.ProcessEnv = { ...process.env, ADDON: addonSource().path, NAPINET_CONV_ISA: isa };
    const r = spawnSync(...nodeCommand('-e', script), { env, input: JSON.stringify(input), encoding: 'utf8', maxBuffer: 1 << 28 });
    expect(r.status, r.stderr).toBe(0);
    const result = JSON.parse(r.stdout) as { isa: string; out: { y: number[]; dx: number[]; dw: number[]; db: number[] | null }[] };
    expect(['generic', isa]).toContain(result.isa);  // (generic where the CPU lacks AVX2)
    CASES.forEach((c, i) => {
      const y = Tensor.from(Float32Array.from(result.out[i].y), c.get('y').shape);
      const dx = Tensor.from(Float32Array.from(result.out[i].dx), c.get('x').shape);
      const dw = Tensor.from(Float32Array.from(result.out[i].dw), c.get('weight').shape);
      const db = result.out[i].db ? Float32Array.from(result.out[i].db!) : null;
      checkOp(c, { y, dx, ...weightGrads(c, dw, db) }, CONV, { label: isa });
    });
  });
});

describe("'auto' and 'winograd'", () => {
  const values = (n: number, seed: number, scale = 1) => Float32Array.from({ length: n }, (_, i) => scale * Math.sin(i * 0.37 + seed));
  // 32→32 on 10×10 inputs: 64 output positions a sample, so 24 samples make 1,536
  const layer = (n: number) => ({
    x: Tensor.from(values(n * 32 * 100, 1), [n, 32, 10, 10]),
    weight: Tensor.from(values(32 * 32 * 9, 2, 1 / 17), [32, 32, 3, 3]),
  });

  test("'auto' takes Winograd's forward pass from 1,536 output positions a call, the direct pass below", () => {
    for (const [n, winogradExpected] of [[24, true], [23, false]] as const) {
      const { x, weight } = layer(n);
      const auto = conv2d(x, weight, null, { algorithm: 'auto' }).toArray();
      const direct = conv2d(x, weight, null, { algorithm: 'direct' }).toArray();
      const winograd = conv2d(x, weight, null, { algorithm: 'winograd' }).toArray();
      expect(winograd).not.toEqual(direct);
      expectIdentical(auto, winogradExpected ? winograd : direct, `N = ${n}`);
    }
  });

  test("'auto' takes Winograd's weight gradient from 1,536 output positions a call, with or without dx (from 16 channels in and 8 out), the direct pass below", () => {
    // padding 1 (10×10 outputs, so 16 samples make 1,600 positions): with dx, dx by Winograd too
    for (const [n, winogradExpected] of [[16, true], [15, false]] as const) {
      const { x, weight } = layer(n);
      const dy = Tensor.from(values(n * 32 * 100, 3), [n, 32, 10, 10]);
      for (const inputGrad of [false, true]) {
        const grads = (algorithm: Conv2dOptions['algorithm']) => conv2dBackward(dy, x, weight, { algorithm, padding: 1, inputGrad, biasGrad: true });
        const [auto, direct, winograd] = [grads('auto'), grads('direct'), grads('winograd')];
        expect(winograd.dw.toArray()).not.toEqual(direct.dw.toArray());
        expectIdentical(auto.dw.toArray(), (winogradExpected ? winograd : direct).dw.toArray(), `N = ${n} dw`);
        expectIdentical(auto.db!.toArray(), (winogradExpected ? winograd : direct).db!.toArray(), `N = ${n} db`);
        // (below, 'auto' picks its own dx method within the direct pass: only dw, db compared)
        if (inputGrad && winogradExpected) expectIdentical(auto.dx!.toArray(), winograd.dx!.toArray(), `N = ${n} dx`);
      }
    }
    // no padding, 32 → 32 channels: dW by Winograd with and without dx (the same bits); dx, where
    // the kernels have the channels-in-lanes dx (AVX-512), by it, else by Winograd
    // (conv2d.cpp backward_plan)
    {
      const { x, weight } = layer(24);
      const dy = Tensor.from(values(24 * 32 * 64, 3), [24, 32, 8, 8]);
      const grads = (algorithm: Conv2dOptions['algorithm'], inputGrad: boolean) => conv2dBackward(dy, x, weight, { algorithm, inputGrad, biasGrad: false });
      const winogradDw = grads('winograd', false).dw.toArray();
      expectIdentical(grads('auto', false).dw.toArray(), winogradDw, 'no padding, without dx');
      const auto = grads('auto', true);
      expectIdentical(auto.dw.toArray(), winogradDw, 'no padding, with dx');
      const winogradDx = grads('winograd', true).dx!.toArray();
      if (native().conv2dIsa() === 'avx512') expect(auto.dx!.toArray()).not.toEqual(winogradDx);
      else expectIdentical(auto.dx!.toArray(), winogradDx, 'no padding, dx');
    }
    // 16 → 8 channels: the weight gradient by Winograd with and without dx; dx by the direct pass
    // (Winograd's dx takes 32 channels and more)
    const x = Tensor.from(values(24 * 16 * 100, 4), [24, 16, 10, 10]);
    const weight = Tensor.from(values(8 * 16 * 9, 5, 1 / 12), [8, 16, 3, 3]);
    const dy = Tensor.from(values(24 * 8 * 64, 6), [24, 8, 8, 8]);
    const grads = (algorithm: Conv2dOptions['algorithm'], inputGrad: boolean) => conv2dBackward(dy, x, weight, { algorithm, inputGrad, biasGrad: true });
    const winogradDw = grads('winograd', false);
    for (const inputGrad of [false, true]) {
      const auto = grads('auto', inputGrad);
      expectIdentical(auto.dw.toArray(), winogradDw.dw.toArray(), `16 → 8, inputGrad ${inputGrad}`);
      expectIdentical(auto.db!.toArray(), winogradDw.db!.toArray(), `16 → 8 db, inputGrad ${inputGrad}`);
    }
    expect(grads('auto', true).dx!.toArray()).not.toEqual(grads('winograd', true).dx!.toArray());
  });

  // The pairs 'auto' takes with dx (conv2d.cpp backward_plan), on fixture cases whose samples are
  // repeated into a batch of at least 1,536 output positions: each repeated sample's dx is the
  // case's dx, and dw, db are `repeats` times the case's (float64 references, scaled exactly).
  // 64 → 64 10×10: the channels-in-lanes dx alone (AVX-512; elsewhere Winograd's) + Winograd's dW;
  // 20 → 12 padding 1: the direct pass's dx alone + Winograd's dW (checked against PyTorch's dw, db).
  test.each(['deep layer 64 to 64 10x10', '20 to 12 padding 1, odd output 9x7, bias'])(
    "'auto' with dx on a repeated batch of %s: against PyTorch, dW with the bits of dW alone, the same bits on 1 and 2 threads",
    (name) => {
      const c = CASES.find((k) => k.name === `conv2d_winograd/${name}`)!;
      const [n, ch, h, w] = c.get('x').shape;
      const [, k, oh, ow] = c.get('y').shape;
      const repeats = Math.ceil(1536 / (n * oh * ow));
      const repeat = (a: Float32Array) => Float32Array.from({ length: a.length * repeats }, (_, i) => a[i % a.length]);
      const repeatRef = (a: Float64Array) => Float64Array.from({ length: a.length * repeats }, (_, i) => a[i % a.length]);
      const x = Tensor.from(repeat(c.f32('x')), [n * repeats, ch, h, w]);
      const dy = Tensor.from(repeat(c.f32('dy')), [n * repeats, k, oh, ow]);
      const weight = c.tensor('weight', 'cpu');
      const bias = Boolean(c.params.bias);
      const options = { ...convOptions(c, 'auto'), biasGrad: bias } as Conv2dOptions & { biasGrad: boolean };
      const g = conv2dBackward(dy, x, weight, { ...options, inputGrad: true });
      checkTensor(`${c.name} x${repeats} [auto] dx`, g.dx!, { shape: [n * repeats, ch, h, w], data: repeatRef(c.f64('dx')) }, CONV.dx);
      if (c.has('dw')) {
        checkTensor(`${c.name} x${repeats} [auto] dw`, g.dw, { shape: c.get('dw').shape, data: c.f64('dw').map((v) => v * repeats) }, CONV.dw);
        checkTensor(`${c.name} x${repeats} [auto] db`, g.db!, { shape: c.get('db').shape, data: c.f64('db').map((v) => v * repeats) }, CONV.db);
      }
      const alone = conv2dBackward(dy, x, weight, { ...options, inputGrad: false });
      expectIdentical(g.dw.toArray(), alone.dw.toArray(), 'dw with and without dx');
      expectIdentical(g.dw.toArray(), conv2dBackward(dy, x, weight, { ...options, algorithm: 'winograd', inputGrad: false }).dw.toArray(), "dw: Winograd's");
      expectSameBitsAcrossThreads(() => {
        const r = conv2dBackward(dy, x, weight, { ...options, inputGrad: true });
        return [r.dx!, r.dw, ...(r.db ? [r.db] : [])];
      }, `${c.name} x${repeats}: `);
    },
  );

  test("'auto' with dx, where it pairs another dx with Winograd's dW: a NaN in dy puts NaN where the direct pass does", () => {
    // 64 → 64 10×10, 24 samples (1,536 output positions): Winograd's dW meets the NaN and
    // declines, so the direct pass computes dx and dW (then im2col, its own partials not finite)
    const x = Tensor.from(values(24 * 64 * 100, 1), [24, 64, 10, 10]);
    const weight = Tensor.from(values(64 * 64 * 9, 2, 1 / 24), [64, 64, 3, 3]);
    const dys = values(24 * 64 * 64, 3);
    dys[9] = NaN;  // sample 0, channel 0, output (1, 1)
    const dy = Tensor.from(dys, [24, 64, 8, 8]);
    const nanAt = (t: Tensor) => Array.from(t.toArray(), Number.isNaN);
    const grads = (algorithm: Conv2dOptions['algorithm']) => conv2dBackward(dy, x, weight, { algorithm, inputGrad: true, biasGrad: true });
    const [auto, direct] = [grads('auto'), grads('direct')];
    for (const name of ['dx', 'dw', 'db'] as const) expect(nanAt(auto[name]!), name).toEqual(nanAt(direct[name]!));
    expect(nanAt(auto.dx!).filter(Boolean).length).toBe(9 * 64);
    expect(nanAt(auto.dw).filter(Boolean).length).toBe(64 * 9);
  });

  test("'winograd' is refused for other kernels and strides, naming options.algorithm", () => {
    const x = Tensor.zeros([1, 2, 8, 8]);
    expect(() => conv2d(x, Tensor.zeros([2, 2, 5, 5]), null, { algorithm: 'winograd' })).toThrow(/options\.algorithm 'winograd'.*5×5 kernel/);
    expect(() => conv2d(x, Tensor.zeros([2, 2, 3, 3]), null, { algorithm: 'winograd', stride: 2 })).toThrow(/options\.algorithm 'winograd'.*stride \[2, 2\]/);
  });
});
