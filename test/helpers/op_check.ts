/**
 * The op-check helper of the parity tests (tinygrad's helper_test_op, llm.c's validate_result):
 * an op's outputs — the forward result and every gradient — against the PyTorch references of a
 * fixture case, each with its own tolerance. For every output it checks the shape, then the values
 * (test/helpers/compare.ts: atol + rtol·|ref| per element, the relative L2 error of the whole
 * tensor, non-finite references exactly); a failure names the tensor and its first mismatching
 * elements with both values; NAPINET_VERBOSE=1 prints a "TENSOR OK, maxdiff = …" line per tensor.
 *
 * A test runs it once per device (describe.each(DEVICES), test/helpers/devices.ts):
 *   const g = conv2dBackward(dy, x, weight, options);
 *   checkOp(c, { y: conv2d(x, weight, bias, options), dx: g.dx, dw: g.dw, db: g.db }, CONV);
 */
import { Tensor } from '../../lib/tensor';
import { type Comparison, expectClose, type Tolerance } from './compare';
import type { FixtureCase } from './fixtures';

/** A tolerance, or one computed from the reference (e.g. relative to its RMS). */
export type ToleranceRule = Tolerance | ((reference: Float64Array) => Tolerance);

/** A reference: values, with the shape the result must have when given. */
export type Reference = ArrayLike<number> | { shape: readonly number[]; data: ArrayLike<number> };

/** One tolerance for every output, or one per output name. */
export type Tolerances = ToleranceRule | Record<string, ToleranceRule>;

export interface CheckOptions {
  /** Appended to the case name in each tensor's label (e.g. the algorithm or the API used). */
  label?: string;
  /**
   * Output name → the reference to use instead of the case's tensor of the same name: another
   * tensor name of the case ('log_y' for y), or the values themselves (old + new after accumulating).
   */
  references?: Record<string, string | Reference>;
}

const isRule = (t: Tolerances): t is ToleranceRule => typeof t === 'function' || 'atol' in t;

/** `actual` against `reference`: the shape (when both have one), then the values within `tol`. */
export function checkTensor(label: string, actual: Tensor | ArrayLike<number>, reference: Reference, tol: ToleranceRule): Comparison {
  const ref = 'data' in reference && 'shape' in reference ? reference : { shape: undefined, data: reference };
  const expected = Float64Array.from(ref.data);
  if (actual instanceof Tensor && ref.shape && actual.shape.join() !== ref.shape.join()) {
    throw new Error(`${label}: shape [${actual.shape.join(', ')}], reference [${ref.shape.join(', ')}]`);
  }
  const values = actual instanceof Tensor ? actual.toArray() : actual;
  return expectClose(values, expected, typeof tol === 'function' ? tol(expected) : tol, label, ref.shape);
}

/**
 * Each of an op's `outputs` against the fixture case `c`: output `name` is compared with the case's
 * tensor `name` (or options.references[name]) within its tolerance. Where the case has no such
 * reference the op must give none (null or undefined): no db without a bias, no dx where PyTorch's
 * input needed no gradient. Every output is checked; the error lists all that failed.
 */
export function checkOp(c: FixtureCase, outputs: Record<string, Tensor | ArrayLike<number> | null | undefined>, tolerances: Tolerances, options: CheckOptions = {}): void {
  const failures: string[] = [];
  for (const [name, actual] of Object.entries(outputs)) {
    const label = `${c.name}${options.label ? ` [${options.label}]` : ''} ${name}`;
    const given = options.references?.[name];
    const reference = typeof given === 'string' || given === undefined ? (c.has(given ?? name) ? c.get(given ?? name) : null) : given;
    try {
      if (reference === null) {
        if (actual !== null && actual !== undefined) throw new Error(`${label}: the case has no reference '${given ?? name}', so the op should give none, but it gave one`);
        continue;
      }
      if (actual === null || actual === undefined) throw new Error(`${label}: missing (the case has a reference for it)`);
      const tol = isRule(tolerances) ? tolerances : tolerances[name];
      if (!tol) throw new Error(`${label}: no tolerance given for '${name}'`);
      checkTensor(label, actual, reference, tol);
    } catch (error) {
      failures.push((error as Error).message);
    }
  }
  if (failures.length > 0) throw new Error(failures.join('\n'));
}
