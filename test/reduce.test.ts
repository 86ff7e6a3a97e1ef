// Reductions against PyTorch (test/fixtures/reduce.fixture, made by scripts/fixtures/reduce.py):
// sum, mean, prod, amax, amin, var over single / multiple / all dims with keepDim, empty dims,
// NaN / ±inf, long reductions (several chunks on either device), max / min with indices, argmax /
// argmin, sumToShape; on 'cpu' and, with a GPU or the emulator build, 'cuda'. Then the summation
// contract (1 and N CPU threads give the same bits; a GPU run repeats bit for bit), and bad input.
//
// Tolerances (u = 2⁻²⁴; the float64 reference rounded to float32, NaN and ±inf exact):
//   max, min, their indices, argmax, argmin: exact (no arithmetic).
//   sum, mean, sumToShape of K mixed-sign values: helpers/tolerance.ts sumTolerance(K): atol
//     8u·√K·rms(ref) + rtol 4u (a float32 sum loses about √K·u relative to its typical size).
//   sums of K positive values (the million values near 0.1, var's squared deviations): relative
//     error at most u times the depth of the summation tree: on the CPU 3 (a leaf lane's running
//     sum) + 5 (lanes) + log₂(K/128) (leaves pairwise), 16 for a column leaf; on the GPU 24 (16 in
//     a lane + 8 tree levels)
//     per launch, one launch per factor of 4096 → rtol (2·log₂K + 48)·u, plus 4u for mean's
//     division and var's subtraction, square and division. A running float32 sum misses this by
//     far (checked below: 6.5e-4 relative on the million values).
//   prod of K values: every multiplication rounds once whatever the order → rtol K·u.
import { afterEach, describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { argmax, argmin, reduce, reduceWithIndices, sumToShape, type ReduceOp } from '../lib/ops/reduce';
import { Tensor } from '../lib/tensor';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { EXACT, expectFloat32Match, type Float32Tolerance } from './helpers/float32_reference';
import { sumTolerance } from './helpers/tolerance';

const U = 2 ** -24;

/** The inputs scripts/fixtures/reduce.py generates instead of storing: pattern(n, seed, low, high). */
function pattern(n: number, seed: number, low: number, high: number): Float32Array {
  return Float32Array.from({ length: n }, (_, i) => Math.fround(low + (high - low) * (((i * 1103515245 + 12345 + seed) % 2 ** 31) / 2 ** 31)));
}

function finite(values: Float64Array): Float64Array {
  return values.filter((v) => Number.isFinite(v));
}

function positiveSumTolerance(count: number): Float32Tolerance {
  return { atol: 0, rtol: (2 * Math.log2(Math.max(count, 2)) + 48 + 4) * U };
}

/** The tolerance of one case: its op and the count K of values reduced into each output. */
function toleranceOf(op: string, count: number, reference: Float64Array, allPositive: boolean): Float32Tolerance {
  if (op === 'max' || op === 'min') return EXACT;
  if (op === 'prod') return { atol: 0, rtol: Math.max(count, 1) * U };
  if (op === 'var' || allPositive) return positiveSumTolerance(count);
  const t = sumTolerance(count, finite(reference));
  return { atol: t.atol, rtol: t.rtol };
}

const cases = loadFixtures('reduce');

describe.each(DEVICES)('reductions on %s', (device) => {
  const live: Tensor[] = [];
  const keep = <T extends Tensor>(t: T): T => {
    live.push(t);
    return t;
  };
  afterEach(() => {
    for (const t of live.splice(0)) t.dispose();
  });

  const input = (c: FixtureCase): Tensor => {
    const g = c.params.generated;
    const data = g ? pattern(g.n, g.seed, g.low, g.high) : c.f32('x');
    return keep(Tensor.from(data, c.params.shape ?? c.get('x').shape, { device }));
  };

  for (const c of cases.filter((k) => k.params.kind === 'reduce')) {
    test(c.name, () => {
      const { op, dims, keepDim, correction } = c.params;
      const x = input(c);
      const y = keep(reduce(op as ReduceOp, x, { dims: dims ?? undefined, keepDim, ...(correction !== undefined ? { correction } : {}) }));
      expect(y.shape).toEqual(c.params.outShape);
      const count = x.size / Math.max(1, y.size);
      const positive = c.params.generated?.low > 0;
      expectFloat32Match(y.toArray(), c.f64('y'), toleranceOf(op, count, c.f64('y'), positive), `${device} ${c.name}`);
    });
  }

  for (const c of cases.filter((k) => k.params.kind === 'indexed')) {
    test(c.name, () => {
      const x = input(c);
      const { values, indices } = reduceWithIndices(c.params.op, x, c.params.dim);
      keep(values);
      keep(indices);
      expect(values.shape).toEqual(c.get('values').shape);
      expect(indices.dtype).toBe('int32');
      expectFloat32Match(values.toArray(), c.f64('values'), EXACT, `${device} ${c.name} values`);
      expect(Array.from(indices.toArray())).toEqual(Array.from(c.i32('indices')));
    });
  }

  for (const c of cases.filter((k) => k.params.kind === 'arg')) {
    test(c.name, () => {
      const x = input(c);
      const fn = c.params.op === 'argmax' ? argmax : argmin;
      const indices = keep(fn(x, { ...(c.params.dim !== null ? { dim: c.params.dim } : {}), keepDim: c.params.keepDim }));
      expect(indices.shape).toEqual(c.params.outShape);
      expect(Array.from(indices.toArray())).toEqual(Array.from(c.i32('indices')));
    });
  }

  for (const c of cases.filter((k) => k.params.kind === 'sumToShape')) {
    test(c.name, () => {
      const x = input(c);
      const y = keep(sumToShape(x, c.params.target));
      expect(y.shape).toEqual(c.params.target);
      const count = x.size / Math.max(1, y.size);
      expectFloat32Match(y.toArray(), c.f64('y'), toleranceOf('sum', count, c.f64('y'), false), `${device} ${c.name}`);
    });
  }

  test('a running float32 sum would fail the million-value case (the tolerance has teeth)', () => {
    const c = cases.find((k) => k.name === 'sum/a million values')!;
    const g = c.params.generated;
    const data = pattern(g.n, g.seed, g.low, g.high);
    let running = 0;
    for (const v of data) running = Math.fround(running + v);
    const ref = c.f64('y')[0];
    const tol = positiveSumTolerance(g.n);
    expect(Math.abs(running - ref)).toBeGreaterThan(100 * tol.rtol * ref);
    const y = keep(reduce('sum', keep(Tensor.from(data, [g.n], { device }))));
    expect(Math.abs(y.item() - ref)).toBeLessThanOrEqual(tol.rtol * ref);
  });

  test('repeated runs give the same bits', () => {
    const shapes: [number[], number[] | undefined][] = [[[3, 50000], [1]], [[9000, 7], [0]], [[40, 30, 50], [0, 2]], [[200000], undefined]];
    for (const [shape, dims] of shapes) {
      const x = keep(Tensor.from(pattern(shape.reduce((a, b) => a * b, 1), 11, -2, 3), shape, { device }));
      for (const op of ['sum', 'var', 'max'] as const) {
        const a = keep(reduce(op, x, { dims })).toArray();
        const b = keep(reduce(op, x, { dims })).toArray();
        expect(b).toEqual(a);
      }
    }
  });

  test('rejects bad input with messages naming the arguments', () => {
    const x = keep(Tensor.zeros([2, 3], { device }));
    expect(() => reduce('max', keep(Tensor.zeros([3, 0], { device })), { dims: 1 })).toThrow(
      new RangeError('Expected a non-empty reduction for max but received shape [3, 0] reducing dims [1]'),
    );
    expect(() => reduce('sum', x, { dims: [0, -2] })).toThrow('Expected distinct dimensions for options.dims but received [0, -2]');
    expect(() => reduce('sum', x, { dims: 2 })).toThrow('Expected an integer in [-2, 1] for options.dims[0] but received 2');
    expect(() => reduce('median' as ReduceOp, x)).toThrow("Expected one of 'sum', 'mean', 'prod', 'max', 'min', 'var' for op but received \"median\"");
    expect(() => reduce('sum', x, { correction: 0 })).toThrow('Expected no correction (only var takes one) for options.correction but received 0');
    expect(() => reduce('sum', x, { out: keep(Tensor.zeros([3], { device })) })).toThrow('Expected shape [] for options.out but received [3]');
    expect(() => reduceWithIndices('max', x, 2)).toThrow('Expected an integer in [-2, 1] for dim but received 2');
    expect(() => sumToShape(x, [2, 2])).toThrow(new RangeError('Expected a shape that broadcasts to [2, 3] (the shape of x) for shape but received [2, 2]'));
    expect(() => argmax(keep(Tensor.zeros([2], { device, dtype: 'int32' })))).toThrow('Expected a float32 tensor for x but received an int32 tensor');
  });
});

describe('reduction summation contract (CPU)', () => {
  test('1 and N threads give bit-identical results', () => {
    const addon = native();
    const threads = addon.numThreads();
    const shapes: [number[], number[] | undefined][] = [
      [[3, 70000], [1]], [[1, 300000], [1]], [[20000, 5], [0]], [[9000, 70], [0]], [[30, 40, 50], [0, 2]], [[400000], undefined],
    ];
    const results = (n: number) => {
      addon.setNumThreads(n);
      return shapes.flatMap(([shape, dims]) => {
        const x = Tensor.from(pattern(shape.reduce((a, b) => a * b, 1), 5, -1, 2), shape);
        return (['sum', 'mean', 'var', 'prod', 'max'] as const).map((op) => reduce(op, x, { dims }).toArray());
      });
    };
    try {
      const one = results(1);
      const many = results(Math.max(4, threads));
      expect(many).toEqual(one);
    } finally {
      addon.setNumThreads(threads);
    }
  });
});

describe('reduce native surface', () => {
  const addon = native();
  test('op names and binding checks', () => {
    expect(addon.reduceOpNames()).toEqual(['sum', 'mean', 'prod', 'max', 'min', 'var']);
    const x = new Float32Array(6);
    expect(() => addon.reduce(0, new Float32Array(2), null, x, [2, 3], [1, 1], 1)).toThrow('Expected an Array of distinct dimensions in [0, 2) for dims but received the number 1 at index 1');
    expect(() => addon.reduce(0, new Float32Array(1), null, x, [2, 3], [1], 1)).toThrow('Expected at least 2 elements for out but received 1');
    expect(() => addon.reduce(0, new Float32Array(2), new Int32Array(2), x, [2, 3], [1], 1)).toThrow('Expected null (only max and min give indices) for sum for indices but received an Int32Array');
    expect(() => addon.reduce(3, new Float32Array(2), null, new Float32Array(5), [2, 3], [1], 1)).toThrow('Expected at least 6 elements for x but received 5');
    expect(() => addon.reduce(3, new Float32Array(3), null, new Float32Array(0), [3, 0], [1], 1)).toThrow(
      'Expected a non-empty reduction for max but received shape [3, 0] with a reduced dimension of size 0',
    );
    expect(() => addon.reduce(0, x.subarray(0, 2), null, x, [2, 3], [1], 1)).toThrow('Expected out not to overlap x for out but received overlapping buffers');
  });
});
