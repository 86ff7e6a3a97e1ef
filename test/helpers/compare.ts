/**
 * Comparison of a float32 result with a float64 reference, as the parity tests state it:
 *   elementwise |out − ref| ≤ atol + rtol·|ref|   and   ‖out − ref‖₂ / ‖ref‖₂ ≤ relNorm.
 * On failure the message lists the first mismatching elements; on success a TENSOR OK line with
 * the largest differences is printed when NAPINET_VERBOSE is set.
 */
export interface Tolerance {
  atol: number;
  rtol: number;
  /** Bound on the relative L2 error of the whole tensor (default 1e-5). */
  relNorm?: number;
}

export interface Comparison {
  maxAbs: number;
  maxRel: number;
  relNorm: number;
}

export function compare(actual: ArrayLike<number>, reference: ArrayLike<number>): Comparison {
  let maxAbs = 0;
  let maxRel = 0;
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < reference.length; i++) {
    const d = Math.abs(actual[i] - reference[i]);
    maxAbs = Math.max(maxAbs, d);
    if (reference[i] !== 0) maxRel = Math.max(maxRel, d / Math.abs(reference[i]));
    diff2 += d * d;
    ref2 += reference[i] * reference[i];
  }
  return { maxAbs, maxRel, relNorm: ref2 === 0 ? Math.sqrt(diff2) : Math.sqrt(diff2 / ref2) };
}

export function expectClose(actual: ArrayLike<number>, reference: ArrayLike<number>, tol: Tolerance, label: string): Comparison {
  if (actual.length !== reference.length) {
    throw new Error(`${label}: ${actual.length} values, reference has ${reference.length}`);
  }
  const bad: string[] = [];
  let badCount = 0;
  for (let i = 0; i < reference.length; i++) {
    const limit = tol.atol + tol.rtol * Math.abs(reference[i]);
    const d = Math.abs(actual[i] - reference[i]);
    if (!(d <= limit)) {
      badCount++;
      if (bad.length < 5) bad.push(`[${i}] ${actual[i]} vs ${reference[i]} (|diff| ${d.toExponential(2)} > ${limit.toExponential(2)})`);
    }
  }
  const c = compare(actual, reference);
  const relNorm = tol.relNorm ?? 1e-5;
  if (badCount > 0 || !(c.relNorm <= relNorm)) {
    throw new Error(
      `${label}: TENSOR NOT OK: ${badCount} of ${reference.length} elements outside atol ${tol.atol} + rtol ${tol.rtol}·|ref|, ` +
        `relative L2 error ${c.relNorm.toExponential(2)} (limit ${relNorm.toExponential(1)}); first: ${bad.join('; ')}`,
    );
  }
  if (process.env.NAPINET_VERBOSE) console.log(`${label}: TENSOR OK, maxdiff ${c.maxAbs.toExponential(2)}, rel L2 ${c.relNorm.toExponential(2)}`);
  return c;
}
