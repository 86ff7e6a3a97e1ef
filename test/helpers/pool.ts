/**
 * The parity tests test/pool1d.test.ts and test/pool2d.test.ts share: pool1d runs pool2d's kernels
 * with a window of height 1, its ops have pool2d's signatures, and so the fixture cases
 * (scripts/fixtures/pool1d.py, pool2d.py) are checked the same way, with the same tolerances:
 *   max-pool y and indices: exact (selection only; indices equal PyTorch's return_indices, ties,
 *     -inf and NaN windows included).
 *   max-pool dx: atol 1e-6, rtol 1e-6, relNorm 5e-7. Overlapping windows add up to ⌈k/s⌉ per
 *     dimension float32 values (≤ 9 here: ≲ 8·2⁻²⁴ ≈ 4.8e-7 relative; atol covers cancellation).
 *   avg-pool y and dx: atol 1e-6, rtol 1e-6, relNorm 1e-6. A float32 sum of at most 16 terms and
 *     one division (≲ 16·2⁻²⁴ ≈ 1e-6 relative).
 */
import { expect, test } from 'vitest';
import type { Device } from '../../lib/device';
import { Tensor } from '../../lib/tensor';
import type { Tolerance } from './compare';
import { caseNamed, type FixtureCase } from './fixtures';
import { checkOp } from './op_check';
import { EXACT } from './tolerance';

export const MAX_DX: Tolerance = { atol: 1e-6, rtol: 1e-6, relNorm: 5e-7 };
export const AVG: Tolerance = { atol: 1e-6, rtol: 1e-6, relNorm: 1e-6 };

export interface PoolOptions {
  kernelSize: number | number[];
  stride?: number | number[];
  padding?: number | number[];
  countIncludePad?: boolean;
}

/** maxPool1d, maxPool1dBackward, … or their 2-D twins. */
export interface PoolOps {
  outputShape(inputShape: readonly number[], options: PoolOptions): number[];
  max(x: Tensor, options: PoolOptions, out?: { y?: Tensor; indices?: Tensor }): { y: Tensor; indices: Tensor };
  maxBackward(dy: Tensor, indices: Tensor, inputShape: readonly number[], out?: Tensor): Tensor;
  avg(x: Tensor, options: PoolOptions, out?: Tensor): Tensor;
  avgBackward(dy: Tensor, inputShape: readonly number[], options: PoolOptions, out?: Tensor): Tensor;
}

/** The case's pooling options (kernelSize, stride, padding, countIncludePad). */
export function poolOptions(c: FixtureCase): PoolOptions {
  const p = c.params;
  return { kernelSize: p.kernelSize, stride: p.stride, padding: p.padding, countIncludePad: p.countIncludePad };
}

/**
 * PyTorch's max-pool dx where the fixture stores only its indices (pool2d's seed case): dy added
 * at each index of its plane (scripts/fixtures/pool2d.py asserts this equals autograd's dx).
 */
function scatterReference(c: FixtureCase): { shape: number[]; data: Float64Array } {
  const shape = c.get('x').shape;
  const planeSize = shape.slice(2).reduce((a, b) => a * b, 1);
  const dy = c.f64('dy');
  const indices = c.i32('indices');
  const perPlane = dy.length / (shape[0] * shape[1]);
  const dx = new Float64Array(shape.reduce((a, b) => a * b, 1));
  for (let i = 0; i < dy.length; i++) dx[Math.floor(i / perPlane) * planeSize + indices[i]] += dy[i];
  return { shape, data: dx };
}

/** One test per fixture case: the output shape, y (and the argmax indices) and dx against PyTorch. */
export function poolCaseTests(cases: FixtureCase[], ops: PoolOps, device: Device): void {
  for (const c of cases) {
    test(c.name, () => {
      const x = c.tensor('x', device);
      const dy = c.tensor('dy', device);
      const options = poolOptions(c);
      expect(ops.outputShape(x.shape, options)).toEqual(c.get('y').shape);
      if (c.params.op === 'max') {
        const { y, indices } = ops.max(x, options);
        expect(indices.dtype).toBe('int32');
        const dx = ops.maxBackward(dy, indices, x.shape);
        const references = c.has('dx') ? undefined : { dx: scatterReference(c) };
        checkOp(c, { y, indices, dx }, { y: EXACT, indices: EXACT, dx: MAX_DX }, { references });
      } else {
        checkOp(c, { y: ops.avg(x, options), dx: ops.avgBackward(dy, x.shape, options) }, AVG);
      }
    });
  }
}

/**
 * The test that given outputs are used and dx is overwritten, not added to: max-pool through the
 * case `maxCase`, average pooling through `avgCase`, each into outputs holding other values.
 */
export function poolOutTest(cases: FixtureCase[], ops: PoolOps, device: Device, maxCase: string, avgCase: string): void {
  test('preallocated outputs are used, and dx is overwritten, not added to', () => {
    const filled = (shape: readonly number[], value: number) => Tensor.from(new Float32Array(shape.reduce((a, b) => a * b, 1)).fill(value), shape, { device });
    const c = caseNamed(cases, maxCase);
    const x = c.tensor('x', device);
    const out = { y: filled(c.get('y').shape, 5), indices: Tensor.zeros(c.get('y').shape, { device, dtype: 'int32' }) };
    const result = ops.max(x, poolOptions(c), out);
    expect(result.y).toBe(out.y);
    expect(result.indices).toBe(out.indices);
    const dx = filled(x.shape, 123);
    expect(ops.maxBackward(c.tensor('dy', device), out.indices, x.shape, dx)).toBe(dx);
    checkOp(c, { ...out, dx }, { y: EXACT, indices: EXACT, dx: MAX_DX }, { label: 'into dirty outs' });

    const a = caseNamed(cases, avgCase);
    const y = filled(a.get('y').shape, -7);
    expect(ops.avg(a.tensor('x', device), poolOptions(a), y)).toBe(y);
    const adx = filled(a.get('x').shape, 9);
    expect(ops.avgBackward(a.tensor('dy', device), a.get('x').shape, poolOptions(a), adx)).toBe(adx);
    checkOp(a, { y, dx: adx }, AVG, { label: 'into dirty outs' });
  });
}
