/**
 * Tolerance of a float32 sum of K products (GEMM, Linear) against a float64 reference: such a sum
 * loses about √K·2⁻²⁴ relative to the typical magnitude of the result (the rms of the reference),
 * plus the final rounding of each element:
 *   elementwise  |out − ref| ≤ 8·2⁻²⁴·√K·rms(ref) + 4·2⁻²⁴·|ref|
 *   whole tensor ‖out − ref‖₂/‖ref‖₂ ≤ 2·2⁻²⁴·√K
 * K = 0 (nothing summed) must be exact.
 */
import type { Tolerance } from './compare';

const ULP = 2 ** -24;

export function sumTolerance(k: number, ref: ArrayLike<number>): Tolerance {
  if (k === 0) return { atol: 0, rtol: 0, relNorm: 0 };
  let sum2 = 0;
  for (let i = 0; i < ref.length; i++) sum2 += ref[i] * ref[i];
  const rms = Math.sqrt(sum2 / Math.max(1, ref.length));
  const rootK = Math.sqrt(k);
  return { atol: 8 * ULP * rootK * rms, rtol: 4 * ULP, relNorm: 2 * ULP * rootK };
}
