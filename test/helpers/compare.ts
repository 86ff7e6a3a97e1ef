/**
 * Comparison of a float32 result with a float64 reference, as the parity tests state it (llm.c's
 * validate_result):
 *   elementwise |out − ref| ≤ atol + rtol·|ref| (+ an optional allowance per element)
 *   and   ‖out − ref‖₂ / ‖ref‖₂ ≤ relNorm,
 * where a non-finite reference (±Infinity, NaN) must be matched exactly, and a tolerance of
 * atol = rtol = 0 means the same values (Object.is: NaN equals NaN, −0 differs from +0).
 * On failure the message names the tensor and lists the first mismatching elements (at most 10,
 * with their indices in the given shape) and both values; on success a
 * "label: TENSOR OK, maxdiff = …" line is printed when NAPINET_VERBOSE is set.
 * test/helpers/op_check.ts applies this to an op's outputs against a fixture case.
 */
export interface Tolerance {
  atol: number;
  rtol: number;
  /** Bound on the relative L2 error of the whole tensor (default 1e-5). */
  relNorm?: number;
  /**
   * An allowance per element added to atol (element i: atol + perElement[i] + rtol·|ref_i|), for
   * results whose error scales with their operands rather than with themselves (a sum that cancels).
   */
  perElement?: ArrayLike<number>;
}

export interface Comparison {
  maxAbs: number;
  maxRel: number;
  relNorm: number;
}

/** How many mismatching elements a failure lists. */
const MISMATCHES_SHOWN = 10;

/** Largest differences and the relative L2 error over the elements whose reference is finite. */
export function compare(actual: ArrayLike<number>, reference: ArrayLike<number>): Comparison {
  let maxAbs = 0;
  let maxRel = 0;
  let diff2 = 0;
  let ref2 = 0;
  for (let i = 0; i < reference.length; i++) {
    if (!Number.isFinite(reference[i])) continue;
    const d = Math.abs(actual[i] - reference[i]);
    maxAbs = Math.max(maxAbs, d);
    if (reference[i] !== 0) maxRel = Math.max(maxRel, d / Math.abs(reference[i]));
    diff2 += d * d;
    ref2 += reference[i] * reference[i];
  }
  return { maxAbs, maxRel, relNorm: ref2 === 0 ? Math.sqrt(diff2) : Math.sqrt(diff2 / ref2) };
}

/** Element `flat` of a row-major `shape` as "[i, j, …]" (just "[flat]" without a shape). */
function indexIn(flat: number, shape?: readonly number[]): string {
  if (!shape || shape.length < 2) return `[${flat}]`;
  const index: number[] = [];
  for (let d = shape.length - 1; d >= 0; d--) {
    index.unshift(flat % shape[d]);
    flat = Math.floor(flat / shape[d]);
  }
  return `[${index.join(', ')}]`;
}

/**
 * Checks `actual` against `reference` within `tol` (see the header); throws naming `label` and the
 * first mismatches otherwise. `shape` (optional) only makes the mismatch indices multi-dimensional.
 */
export function expectClose(
  actual: ArrayLike<number>,
  reference: ArrayLike<number>,
  tol: Tolerance,
  label: string,
  shape?: readonly number[],
): Comparison {
  if (actual.length !== reference.length) {
    throw new Error(`${label}: ${actual.length} values, reference has ${reference.length}`);
  }
  const exact = tol.atol === 0 && tol.rtol === 0;
  const shown: string[] = [];
  let badCount = 0;
  for (let i = 0; i < reference.length; i++) {
    const ref = reference[i];
    const limit = tol.atol + (tol.perElement?.[i] ?? 0) + tol.rtol * Math.abs(ref);
    const d = Math.abs(actual[i] - ref);
    const sameValueOnly = exact || !Number.isFinite(ref);
    if (sameValueOnly ? Object.is(actual[i], ref) : d <= limit) continue;
    badCount++;
    if (shown.length < MISMATCHES_SHOWN) {
      const why = sameValueOnly ? 'not the same value' : `|diff| ${d.toExponential(2)} > ${limit.toExponential(2)}`;
      shown.push(`  ${indexIn(i, shape)} ${actual[i]} vs reference ${ref} (${why})`);
    }
  }
  const c = compare(actual, reference);
  const relNorm = tol.relNorm ?? 1e-5;
  if (badCount > 0 || !(c.relNorm <= relNorm)) {
    const rule = exact ? 'not the same value' : `outside atol ${tol.atol.toPrecision(3)} + rtol ${tol.rtol.toPrecision(3)}·|ref|`;
    throw new Error(
      `${label}: TENSOR NOT OK: ${badCount} of ${reference.length} elements ${rule}, ` +
        `relative L2 error ${c.relNorm.toExponential(2)} (limit ${relNorm.toExponential(1)})` +
        (shown.length > 0 ? `; first ${shown.length}:\n${shown.join('\n')}` : ''),
    );
  }
  if (process.env.NAPINET_VERBOSE) {
    console.log(`${label}: TENSOR OK, maxdiff = ${c.maxAbs.toExponential(2)}, rel L2 = ${c.relNorm.toExponential(2)}`);
  }
  return c;
}

/** Bit-for-bit equality of two float32 (or two int32) arrays, naming the first element that differs. */
export function expectIdentical(actual: ArrayLike<number>, expected: ArrayLike<number>, label: string): void {
  if (actual.length !== expected.length) throw new Error(`${label}: ${actual.length} values, expected ${expected.length}`);
  const bits = (a: ArrayLike<number>) => (a instanceof Int32Array ? a : new Uint32Array(Float32Array.from(a).buffer));
  const a = bits(actual);
  const b = bits(expected);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== b[i]) throw new Error(`${label}: element ${i} differs: ${actual[i]} vs ${expected[i]}`);
  }
}

/**
 * Two models' parameters (or, with `of: 'grad'`, their gradients), matched by position, bit-identical;
 * a difference names the parameter and `when` ("after 3 steps").
 */
export function expectIdenticalParameters(
  actual: { namedParameters(): [string, { toArray(): ArrayLike<number>; grad: { toArray(): ArrayLike<number> } | null }][] },
  expected: typeof actual,
  when: string,
  of: 'value' | 'grad' = 'value',
): void {
  const pick = (p: { toArray(): ArrayLike<number>; grad: { toArray(): ArrayLike<number> } | null }) => (of === 'grad' ? p.grad!.toArray() : p.toArray());
  const reference = expected.namedParameters();
  actual.namedParameters().forEach(([name, p], i) => expectIdentical(pick(p), pick(reference[i][1]), `${name}${of === 'grad' ? '.grad' : ''} ${when}`));
}
