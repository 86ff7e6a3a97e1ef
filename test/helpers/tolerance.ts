/**
 * The tolerances the parity tests share (each test file's header says which it uses and why).
 *
 * sumTolerance — a float32 sum of K products (GEMM, Linear, batch statistics) against a float64
 * reference loses about √K·2⁻²⁴ relative to the typical magnitude of the result (the rms of the
 * reference), plus the final rounding of each element:
 *   elementwise  |out − ref| ≤ 8·2⁻²⁴·√K·rms(ref) + 4·2⁻²⁴·|ref|
 *   whole tensor ‖out − ref‖₂/‖ref‖₂ ≤ 2·2⁻²⁴·√K
 * K = 0 (nothing summed) must be exact.
 *
 * rmsTolerance — the convolutions' form of the same idea, with the constants measured per output
 * (test/conv2d.test.ts): atol = scale·rms(ref), rtol 1e-5, relNorm 1e-5.
 */
import type { Tolerance } from './compare';
import type { ToleranceRule } from './op_check';

/** The float32 unit roundoff, 2⁻²⁴. */
export const ULP = 2 ** -24;

/** The reference's values exactly (see test/helpers/compare.ts: the same values, NaN and −0 included). */
export const EXACT: Tolerance = { atol: 0, rtol: 0, relNorm: 0 };

/** Root mean square of `values` (0 for none). */
export function rms(values: ArrayLike<number>): number {
  let sum2 = 0;
  for (let i = 0; i < values.length; i++) sum2 += values[i] * values[i];
  return Math.sqrt(sum2 / Math.max(1, values.length));
}

export function sumTolerance(k: number, ref: ArrayLike<number>): Tolerance {
  if (k === 0) return { atol: 0, rtol: 0, relNorm: 0 };
  const rootK = Math.sqrt(k);
  return { atol: 8 * ULP * rootK * rms(ref), rtol: 4 * ULP, relNorm: 2 * ULP * rootK };
}

/** atol `scale`·rms(ref), rtol 1e-5, relNorm 1e-5: a convolution's output (see the header). */
export function rmsTolerance(scale: number): (ref: ArrayLike<number>) => Tolerance {
  return (ref) => ({ atol: scale * rms(ref), rtol: 1e-5, relNorm: 1e-5 });
}

/**
 * A convolution's outputs (test/conv2d.test.ts, shared by conv1d): y and dx are sums of C·kh·kw or
 * K·kh·kw products, dw and db sums over N·OH·OW, hence the larger scale for the parameter gradients.
 */
export const CONV: Record<'y' | 'dx' | 'dw' | 'db', ToleranceRule> = {
  y: rmsTolerance(1e-5),
  dx: rmsTolerance(1e-5),
  dw: rmsTolerance(2e-5),
  db: rmsTolerance(2e-5),
};

/** sumTolerance for several outputs, each a sum of its own count of terms: { y: inFeatures, dw: N, … }. */
export function sumTolerances<K extends string>(terms: Record<K, number>): Record<K, ToleranceRule> {
  const rules = {} as Record<K, ToleranceRule>;
  for (const name of Object.keys(terms) as K[]) rules[name] = (ref) => sumTolerance(terms[name], ref);
  return rules;
}
