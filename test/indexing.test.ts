// Indexing against PyTorch (test/fixtures/indexing.fixture, made by scripts/fixtures/indexing.py):
// indexSelect and its gradient through indexAdd (torch.autograd.grad of index_select), gather and
// its gradient through scatterAdd, both adds on non-zero tensors; on 'cpu' and, with a GPU or the
// emulator build, 'cuda'. Then determinism with many repeated indices, and bad indices (named with
// their value and position on both devices: CUDA indices are read back and checked before launch).
//
// Tolerances: indexSelect and gather copy values: exact. indexAdd / scatterAdd sum the R
// contributions of a repeated index (plus the tensor's own value) in float32, in source order:
// helpers/tolerance.ts sumTolerance(R + 1), the tolerance of a float32 sum of R + 1 terms.
import { afterEach, describe, expect, test } from 'vitest';
import { native } from '../lib/native';
import { gather, indexAdd, indexSelect, scatterAdd } from '../lib/ops/indexing';
import { Tensor } from '../lib/tensor';
import { expectClose } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { type FixtureCase, loadFixtures } from './helpers/fixtures';
import { sumTolerance } from './helpers/tolerance';

const EXACT = { atol: 0, rtol: 0, relNorm: 0 };
const cases = loadFixtures('indexing');

describe.each(DEVICES)('indexing on %s', (device) => {
  const live: Tensor[] = [];
  afterEach(() => {
    for (const t of live.splice(0)) t.dispose();
  });
  const track = (t: Tensor): Tensor => {
    live.push(t);
    return t;
  };
  const f32 = (c: FixtureCase, name: string) => track(Tensor.from(c.f32(name), c.get(name).shape, { device }));
  const i32 = (c: FixtureCase, name: string) => track(Tensor.from(c.i32(name), c.get(name).shape, { device, dtype: 'int32' }));

  for (const c of cases) {
    test(c.name, () => {
      const { kind, dim, repeats } = c.params;
      const addTolerance = (ref: Float64Array) => sumTolerance(repeats + 1, ref);
      if (kind === 'indexSelect') {
        const x = f32(c, 'x');
        const indices = i32(c, 'indices');
        const y = track(indexSelect(x, dim, indices));
        expect(y.shape).toEqual(c.get('y').shape);
        expectClose(y.toArray(), c.f64('y'), EXACT, `${device} ${c.name} y`);
        const dx = track(Tensor.zeros(x.shape, { device }));
        expect(indexAdd(dx, dim, indices, f32(c, 'dy'))).toBe(dx);
        expectClose(dx.toArray(), c.f64('dx'), addTolerance(c.f64('dx')), `${device} ${c.name} dx`);
      } else if (kind === 'gather') {
        const x = f32(c, 'x');
        const index = i32(c, 'index');
        const y = track(gather(x, dim, index));
        expect(y.shape).toEqual(c.get('y').shape);
        expectClose(y.toArray(), c.f64('y'), EXACT, `${device} ${c.name} y`);
        const dx = track(Tensor.zeros(x.shape, { device }));
        expect(scatterAdd(dx, dim, index, f32(c, 'dy'))).toBe(dx);
        expectClose(dx.toArray(), c.f64('dx'), addTolerance(c.f64('dx')), `${device} ${c.name} dx`);
      } else {
        const base = f32(c, 'base');
        const y = kind === 'indexAdd' ? indexAdd(base, dim, i32(c, 'indices'), f32(c, 'src')) : scatterAdd(base, dim, i32(c, 'index'), f32(c, 'src'));
        expectClose(y.toArray(), c.f64('y'), addTolerance(c.f64('y')), `${device} ${c.name}`);
      }
    });
  }

  test('many repeated indices: the same bits on every run, and equal to adding in index order', () => {
    const rows = 40;
    const width = 70;
    const count = 3000;
    const src = Float32Array.from({ length: count * width }, (_, i) => Math.fround(Math.sin(i) * 3));
    const idx = Int32Array.from({ length: count }, (_, i) => (i * 7) % rows);
    const run = () => {
      const out = track(Tensor.zeros([rows, width], { device }));
      indexAdd(out, 0, track(Tensor.from(idx, [count], { device, dtype: 'int32' })), track(Tensor.from(src, [count, width], { device })));
      return out.toArray();
    };
    const first = run();
    expect(run()).toEqual(first);
    const want = new Float32Array(rows * width);
    for (let i = 0; i < count; i++) for (let j = 0; j < width; j++) want[idx[i] * width + j] = Math.fround(want[idx[i] * width + j] + src[i * width + j]);
    expect(first).toEqual(want);
  });

  test('bad indices and shapes are refused with the value and its position', () => {
    const x = track(Tensor.zeros([3, 4], { device }));
    const ints = (values: number[], shape = [values.length]) => track(Tensor.from(Int32Array.from(values), shape, { device, dtype: 'int32' }));
    expect(() => indexSelect(x, 0, ints([0, 3, 1]))).toThrow(new RangeError('Expected indices in [0, 3) for indices but received 3 at position 1'));
    expect(() => indexSelect(x, 1, ints([-1]))).toThrow('Expected indices in [0, 4) for indices but received -1 at position 0');
    expect(() => indexAdd(x, 0, ints([0, 5]), track(Tensor.zeros([2, 4], { device })))).toThrow('Expected indices in [0, 3) for indices but received 5 at position 1');
    expect(() => gather(x, 1, ints([0, 1, 4, 2], [2, 2]))).toThrow('Expected indices in [0, 4) for index but received 4 at position 2');
    expect(() => scatterAdd(x, 0, ints([0, 9], [1, 2]), track(Tensor.zeros([1, 2], { device })))).toThrow('Expected indices in [0, 3) for index but received 9 at position 1');
    expect(() => indexSelect(x, 0, track(Tensor.zeros([2], { device })))).toThrow('Expected an int32 tensor for indices but received a float32 tensor');
    expect(() => indexSelect(x, 0, ints([0, 1], [1, 2]))).toThrow(new RangeError('Expected a 1-D int32 tensor for indices but received shape [1, 2]'));
    expect(() => indexSelect(x, 2, ints([0]))).toThrow('Expected an integer in [-2, 1] for dim but received 2');
    expect(() => indexAdd(x, 0, ints([0]), track(Tensor.zeros([2, 4], { device })))).toThrow('Expected shape [1, 4] for src but received [2, 4]');
    expect(() => gather(x, 0, ints([0, 0, 0, 0, 0], [1, 5]))).toThrow(
      'Expected an index of rank 2 no larger than x [3, 4] in every dimension but 0 for index but received shape [1, 5]',
    );
    expect(() => scatterAdd(x, 1, ints([0], [1, 1]), track(Tensor.zeros([2], { device })))).toThrow('Expected shape [1, 1] for src but received [2]');
  });
});

describe.each(DEVICES.filter((d) => d !== 'cpu'))('indexing across devices (%s)', (device) => {
  test('indices on another device are refused, naming both', () => {
    const x = Tensor.zeros([3, 4], { device });
    expect(() => indexSelect(x, 0, Tensor.from(Int32Array.from([0]), [1], { dtype: 'int32' }))).toThrow(
      `Expected a tensor on ${device} (the device of x) for indices but received a tensor on cpu`,
    );
    x.dispose();
  });
});

describe('indexing native checks', () => {
  const addon = native();
  test('sizes and overlaps are re-checked', () => {
    const x = new Float32Array(12);
    expect(() => addon.indexSelect(new Float32Array(7), x, Int32Array.from([0, 1]), 1, 3, 4, 2)).toThrow('Expected at least 8 elements for out but received 7');
    expect(() => addon.indexSelect(new Float32Array(8), x, Int32Array.from([0]), 1, 3, 4, 2)).toThrow('Expected at least 2 elements for indices but received 1');
    expect(() => addon.indexAdd(x, x, Int32Array.from([0, 1, 2]), 1, 3, 4, 3)).toThrow('Expected out not to overlap src for out but received overlapping buffers');
    expect(() => addon.gather(new Float32Array(4), x, new Int32Array(4), [3, 4], [2, 2, 1], 0)).toThrow('Expected a shape of rank 2 (that of xShape, at least 1) for indexShape but received [2, 2, 1]');
    expect(() => addon.gather(new Float32Array(5), x, new Int32Array(5), [3, 4], [1, 5], 0)).toThrow('Expected indexShape[1] ≤ xShape[1] = 4 for indexShape but received [1, 5]');
    expect(() => addon.scatterAdd(x, new Float32Array(4), new Int32Array(4), [3, 4], [2, 2], 2)).toThrow('Expected an integer in [0, 1] for dim but received 2');
  });
});
