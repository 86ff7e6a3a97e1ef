// Strided elementwise ops against PyTorch (test/fixtures/elementwise.fixture, made by
// scripts/fixtures/elementwise.py): every unary / binary / ternary op with broadcasting, inputs
// read through views and given as numbers, NaN / ±inf / ±0, the backward helpers against PyTorch's
// gradients, and the copies (permute, expand, narrow, cat, stack, accumulate into a slice); on
// 'cpu' and, with a GPU or the emulator build, 'cuda'. Then large tensors (parallel chunks, many
// blocks), out / accumulate / in-place, and bad input.
//
// Tolerances (test/helpers/float32_reference.ts: the float64 reference rounded to float32; NaN and
// ±inf must match exactly):
//   exact (atol = rtol = 0): copies, neg, abs, sign, clamp, maximum, minimum, comparisons, where,
//     clampBackward, maximum/minimumBackward (dy, dy/2 or 0) — no rounding at all — and the
//     correctly rounded add, sub, mul, div, square, reciprocal, sqrt (one IEEE rounding, which the
//     float64 reference rounded to float32 reproduces).
//   rsqrt = 1/√x: two roundings → rtol 2⁻²³.
//   exp, log: glibc's expf/logf are within 1 ulp, CUDA's expf 2 ulp and logf 1 ulp → rtol 2⁻²²
//     (2 ulp are at most 2·2⁻²³ relative).
//   pow and the pow gradients (pow, then one or two multiplications, or pow·log): CUDA's powf is
//     documented within a few ulp → rtol 2⁻²⁰ (16 units of 2⁻²⁴).
//   Approximate ops also take atol 2⁻¹²⁶ (the smallest normal float32): a result in the subnormal
//   range has no relative precision to keep.
import { afterEach, describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import {
  binary, cat, copy, expand, narrow, permute, stack, ternary, transpose, unary, where,
  type BinaryOp, type Input, type TernaryOp, type UnaryOp,
} from '../lib/ops/elementwise';
import { contiguousView, expandView, narrowView, permuteView, type View } from '../lib/ops/views';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { EXACT, expectFloat32Match, type Float32Tolerance } from './helpers/float32_reference';

const SMALLEST_NORMAL = 2 ** -126;
const approx = (rtol: number): Float32Tolerance => ({ atol: SMALLEST_NORMAL, rtol });
const TOLERANCE: Record<string, Float32Tolerance> = {
  rsqrt: approx(2 ** -23),
  exp: approx(2 ** -22),
  log: approx(2 ** -22),
  pow: approx(2 ** -20),
  powBackwardBase: approx(2 ** -20),
  powBackwardExponent: approx(2 ** -20),
};
const toleranceOf = (op: string): Float32Tolerance => TOLERANCE[op] ?? EXACT;

const cases = loadFixtures('elementwise');
const opCases = cases.filter((c) => c.params.kind !== 'copy');
const copyCases = cases.filter((c) => c.params.kind === 'copy');

describe.each(DEVICES)('elementwise ops on %s', (device) => {
  const live: Tensor[] = [];
  const load = (c: FixtureCase, name: string): Tensor => {
    const t = Tensor.from(c.f32(name), c.get(name).shape, { device });
    live.push(t);
    return t;
  };
  afterEach(() => {
    for (const t of live.splice(0)) t.dispose();
  });

  /** Input i of an op case: a number, a tensor, or a view of one, as the fixture describes it. */
  const inputOf = (c: FixtureCase, i: number): Input => {
    const spec = c.params.inputs[i];
    if (spec.type === 'number') return spec.value;
    const t = load(c, `in${i}`);
    const whole = contiguousView(t.shape);
    let view: View;
    switch (spec.type) {
      case 'tensor': return t;
      case 'permute': view = permuteView(whole, spec.dims); break;
      case 'expand': view = expandView(whole, spec.shape); break;
      case 'narrow': view = narrowView(whole, spec.dim, spec.start, spec.length); break;
      default: throw new Error(`unknown input spec ${spec.type}`);
    }
    return { tensor: t, view };
  };

  for (const c of opCases) {
    test(c.name, () => {
      const { kind, op, options } = c.params;
      const inputs = c.params.inputs.map((_: unknown, i: number) => inputOf(c, i));
      let y: Tensor;
      if (kind === 'unary') y = unary(op as UnaryOp, inputs[0], options);
      else if (kind === 'binary') y = binary(op as BinaryOp, inputs[0], inputs[1], options);
      else y = ternary(op as TernaryOp, inputs[0], inputs[1], inputs[2]);
      live.push(y);
      expect(y.shape).toEqual(c.get('y').shape);
      expectFloat32Match(y.toArray(), c.f64('y'), toleranceOf(op), `${device} ${c.name}`);
    });
  }

  for (const c of copyCases) {
    test(c.name, () => {
      const p = c.params;
      let y: Tensor;
      switch (p.fn) {
        case 'permute': y = permute(load(c, 'x'), p.dims); break;
        case 'transpose': y = transpose(load(c, 'x'), p.dims[0], p.dims[1]); break;
        case 'expand': y = expand(load(c, 'x'), p.shape); break;
        case 'narrow': y = narrow(load(c, 'x'), p.dim, p.start, p.length); break;
        case 'cat': y = cat(Array.from({ length: p.parts }, (_, i) => load(c, `x${i}`)), p.dim); break;
        case 'stack': y = stack(Array.from({ length: p.parts }, (_, i) => load(c, `x${i}`)), p.dim); break;
        case 'accumulate': {
          y = load(c, 'base');
          const slot = { tensor: y, view: narrowView(contiguousView(y.shape), p.dim, p.start, p.length) };
          expect(copy(load(c, 'x'), { out: slot, accumulate: true })).toBe(y);
          break;
        }
        default: throw new Error(`unknown copy ${p.fn}`);
      }
      live.push(y);
      expect(y.shape).toEqual(c.get('y').shape);
      expectFloat32Match(y.toArray(), c.f64('y'), EXACT, `${device} ${c.name}`);
    });
  }

  // ---- sizes beyond one parallel chunk / one block, checked exactly against float32 arithmetic ----

  const pattern = (n: number, seed: number): Float32Array => Float32Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * 0.37 + seed) * 8));

  test('large broadcast add and strided neg are exact (several CPU chunks, many GPU blocks)', () => {
    const rows = 70;
    const cols = 1001;  // 70 070 elements: three CPU chunks of 2^15
    const a = Tensor.from(pattern(rows * cols, 1), [rows, cols], { device });
    const b = Tensor.from(pattern(cols, 2), [cols], { device });
    live.push(a, b);
    const sum = binary('add', a, b);
    const neg = unary('neg', { tensor: a, view: permuteView(contiguousView(a.shape), [1, 0]) });
    live.push(sum, neg);
    const av = a.toArray();
    const bv = b.toArray();
    const want = Float32Array.from(av, (v, i) => Math.fround(v + bv[i % cols]));
    expect(sum.toArray()).toEqual(want);
    const negWant = new Float32Array(rows * cols);
    for (let i = 0; i < rows; i++) for (let j = 0; j < cols; j++) negWant[j * rows + i] = -av[i * cols + j];
    expect(neg.shape).toEqual([cols, rows]);
    expect(neg.toArray()).toEqual(negWant);
  });

  test('out, accumulate and in place', () => {
    const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3], { device });
    const out = Tensor.from([10, 20, 30, 40, 50, 60], [2, 3], { device });
    live.push(x, out);
    expect(binary('mul', x, 2, { out, accumulate: true })).toBe(out);
    expect(Array.from(out.toArray())).toEqual([12, 24, 36, 48, 60, 72]);
    expect(binary('sub', out, x, { out })).toBe(out);  // in place: out is also the identical view of a
    expect(Array.from(out.toArray())).toEqual([11, 22, 33, 44, 55, 66]);
    // A transposed write: out viewed as [3, 2] receives x transposed.
    const outT = { tensor: out, view: permuteView(contiguousView([2, 3]), [1, 0]) };
    unary('neg', { tensor: x, view: permuteView(contiguousView([2, 3]), [1, 0]) }, { out: outT });
    expect(Array.from(out.toArray())).toEqual([-1, -2, -3, -4, -5, -6]);
    // Numbers only, into a given out: a fill.
    copy(7, { out });
    expect(Array.from(out.toArray())).toEqual([7, 7, 7, 7, 7, 7]);
    const mask = binary('gt', x, 3);
    live.push(mask);
    const picked = where(mask, x, 0);
    live.push(picked);
    expect(Array.from(picked.toArray())).toEqual([0, 0, 0, 4, 5, 6]);
    const rank0 = binary('add', Tensor.from([2], [], { device }), 3);
    live.push(rank0);
    expect(rank0.shape).toEqual([]);
    expect(rank0.item()).toBe(5);
    const empty = binary('add', Tensor.zeros([0, 3], { device }), Tensor.zeros([3], { device }));
    expect(empty.shape).toEqual([0, 3]);
  });

  test('rejects bad input with messages naming the arguments', () => {
    const a = Tensor.zeros([2, 3], { device });
    live.push(a);
    expect(() => binary('add', a, Tensor.zeros([4], { device }))).toThrow(
      new RangeError('Expected shapes that broadcast together (each trailing dimension equal, or 1) for a and b but received [2, 3] and [4]'),
    );
    expect(() => ternary('where', a, Tensor.zeros([3], { device }), Tensor.zeros([2, 1, 2], { device }))).toThrow(
      new RangeError('Expected shapes that broadcast together (each trailing dimension equal, or 1) for condition, a and b but received [2, 3], [3] and [2, 1, 2]'),
    );
    expect(() => unary('exp' as UnaryOp, Tensor.zeros([1, 1, 1, 1, 1, 1, 1, 1, 2], { device }))).toThrow(
      new RangeError('Expected a tensor of rank ≤ 8 for x but received shape [1, 1, 1, 1, 1, 1, 1, 1, 2]'),
    );
    expect(() => binary('plus' as BinaryOp, a, a)).toThrow("Expected one of 'add', 'sub'");
    expect(() => unary('exp', Tensor.zeros([2], { device, dtype: 'int32' }))).toThrow('Expected a float32 tensor for x but received an int32 tensor');
    expect(() => binary('add', a, 'b' as never)).toThrow('Expected a Tensor or a { tensor, view } view of one for b but received "b"');
    expect(() => binary('add', 1, 2)).toThrow('Expected at least one tensor among the inputs (or options.out) for a, b');
    expect(() => binary('add', a, a, { out: Tensor.zeros([3, 2], { device }) })).toThrow(
      'Expected a tensor of shape [2, 3] (the inputs broadcast together) for options.out but received [3, 2]',
    );
    expect(() => binary('add', a, a, { accumulate: true })).toThrow('Expected options.out to accumulate into for options.accumulate but received true');
    expect(() => unary('neg', a, { min: 0 })).toThrow('Expected no min / max (only clamp takes them)');
    expect(() => unary('neg', { tensor: a, view: { shape: [3, 3], strides: [3, 1], offset: 0 } })).toThrow(
      "Expected a view inside the tensor's 6 elements for x.view but received one reaching element 8",
    );
    // out overlapping an input other than as the identical view (x[0:2] → x[1:3]).
    const x = Tensor.from([1, 2, 3], [3], { device });
    live.push(x);
    const whole = contiguousView([3]);
    expect(() => unary('neg', { tensor: x, view: narrowView(whole, 0, 0, 2) }, { out: { tensor: x, view: narrowView(whole, 0, 1, 2) } })).toThrow(
      'Expected x not to overlap out (other than as the same view, in place) for x but received overlapping buffers',
    );
    // An out view that writes one element twice.
    expect(() => copy(Tensor.zeros([2, 3], { device }), { out: { tensor: x, view: { shape: [2, 3], strides: [0, 1], offset: 0 } } })).toThrow(
      'Expected a view whose elements do not overlap for out but received strides [0, 1] over shape [2, 3]',
    );
    expect(() => cat([a, Tensor.zeros([2, 4, 1], { device })], 1)).toThrow('Expected shape [2, *] (all dimensions but 1 equal to those of xs[0]) for xs[1] but received [2, 4, 1]');
    expect(() => stack([a, Tensor.zeros([3, 2], { device })])).toThrow('Expected shape [2, 3] (that of xs[0]) for xs[1] but received [3, 2]');
    expect(() => narrow(a, 1, 2, 2)).toThrow('Expected an integer in [0, 1] for length but received 2');
    expect(() => permute(a, [0, 0])).toThrow('Expected a permutation of the 2 dimensions for dims but received [0, 0]');
    expect(() => expand(a, [2, 4])).toThrow('Expected a shape that [2, 3] expands to (each dimension equal, or expanding a 1) for shape but received [2, 4]');
  });
});

describe.each(DEVICES.filter((d) => d !== 'cpu'))('elementwise ops across devices (%s)', (device) => {
  test('tensors on different devices are refused, naming both', () => {
    const a = Tensor.zeros([2], { device });
    const b = Tensor.zeros([2]);
    expect(() => binary('add', a, b)).toThrow(new TypeError(`Expected a tensor on ${device} (the device of a) for b but received a tensor on cpu`));
    expect(() => cat([b, a])).toThrow(`Expected a tensor on cpu (the device of xs[0]) for xs[1] but received a tensor on ${device}`);
    a.dispose();
  });
});

describe('elementwise native surface', () => {
  const addon = native();

  test('the op names the TypeScript types list are the addon\'s, in its order', () => {
    expect(addon.elementwiseOpNames()).toEqual({
      unary: ['copy', 'neg', 'exp', 'log', 'sqrt', 'rsqrt', 'abs', 'sign', 'reciprocal', 'square', 'clamp'],
      binary: ['add', 'sub', 'mul', 'div', 'pow', 'maximum', 'minimum', 'eq', 'ne', 'lt', 'le', 'gt', 'ge', 'clampBackward'],
      ternary: ['where', 'maximumBackward', 'minimumBackward', 'powBackwardBase', 'powBackwardExponent'],
    });
  });

  test('the binding re-checks ops, shapes, views and buffers', () => {
    const out = new Float32Array(6);
    const x = new Float32Array(6);
    const call = (overrides: Partial<Record<string, unknown>>) => {
      const a = { op: 1, out, outOffset: 0, outStrides: [3, 1], x, xOffset: 0, xStrides: [3, 1], shape: [2, 3], ...overrides };
      addon.elementwiseUnary(a.op as number, a.out as Float32Array, a.outOffset as number, a.outStrides as number[], a.x as Float32Array,
        a.xOffset as number, a.xStrides as number[], a.shape as number[], 0, 0, false);
    };
    call({});
    expect(() => call({ op: 11 })).toThrow('Expected an integer in [0, 10] for op but received 11');
    expect(() => call({ shape: [1, 1, 1, 1, 1, 1, 1, 1, 1] })).toThrow(new RangeError('Expected a shape of rank ≤ 8 for shape but received [1, 1, 1, 1, 1, 1, 1, 1, 1]'));
    expect(() => call({ xStrides: [3] })).toThrow('Expected an Array of 2 non-negative integers for xStrides but received an Array of length 1');
    expect(() => call({ xStrides: [3, -1] })).toThrow('Expected an Array of 2 non-negative integers for xStrides but received an Array holding the number -1 at index 1');
    expect(() => call({ xOffset: 1 })).toThrow(
      'Expected a view inside the 6 elements of x but received offset 1, strides [3, 1] over shape [2, 3] (reaching element 6)',
    );
    expect(() => call({ x: new Float32Array(5) })).toThrow('Expected a view inside the 5 elements of x');
    expect(() => call({ outStrides: [1, 1] })).toThrow('Expected a view whose elements do not overlap for out but received strides [1, 1] over shape [2, 3]');
    expect(() => call({ x: out, xStrides: [1, 2] })).toThrow('Expected x not to overlap out (other than as the same view, in place) for x but received overlapping buffers');
    expect(() => call({ x: new Int32Array(6) })).toThrow('Expected a Float32Array for x but received an Int32Array');
  });
});
