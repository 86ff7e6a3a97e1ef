/**
 * Comparison of a float32 result with a float64 PyTorch reference where special values matter:
 * the reference is first rounded to float32 (Math.fround, so a value beyond float32's range is
 * ±Infinity and a tiny one 0, as float32 arithmetic gives), NaN must meet NaN and an infinity the
 * same infinity, and the other elements must satisfy |out − ref32| ≤ atol + rtol·|ref32|.
 *
 * For + − × ÷ and √ of float32 inputs the float64 result rounded to float32 is the correctly
 * rounded float32 result (53 ≥ 2·24 + 2 bits, so double rounding is harmless), so such ops are
 * checked with atol = rtol = 0: bit for bit.
 */
export interface Float32Tolerance {
  atol: number;
  rtol: number;
}

export const EXACT: Float32Tolerance = { atol: 0, rtol: 0 };

export function expectFloat32Match(actual: ArrayLike<number>, reference: ArrayLike<number>, tol: Float32Tolerance, label: string): number {
  if (actual.length !== reference.length) throw new Error(`${label}: ${actual.length} values, reference has ${reference.length}`);
  const bad: string[] = [];
  let badCount = 0;
  let maxDiff = 0;
  for (let i = 0; i < reference.length; i++) {
    const ref = Math.fround(reference[i]);
    const out = actual[i];
    let ok: boolean;
    if (Number.isNaN(ref)) ok = Number.isNaN(out);
    else if (!Number.isFinite(ref)) ok = out === ref;
    else {
      const d = Math.abs(out - ref);
      ok = d <= tol.atol + tol.rtol * Math.abs(ref);
      if (ok) maxDiff = Math.max(maxDiff, d);
    }
    if (!ok) {
      badCount++;
      if (bad.length < 5) bad.push(`[${i}] ${out} vs ${ref} (float64 ${reference[i]})`);
    }
  }
  if (badCount > 0) {
    throw new Error(`${label}: TENSOR NOT OK: ${badCount} of ${reference.length} elements outside atol ${tol.atol} + rtol ${tol.rtol}·|ref| (NaN and ±inf exact); first: ${bad.join('; ')}`);
  }
  if (process.env.NAPINET_VERBOSE) console.log(`${label}: TENSOR OK, maxdiff ${maxDiff.toExponential(2)}`);
  return maxDiff;
}
