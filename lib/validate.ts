/**
 * Argument checks for the public API. Every message has the form
 * "Expected <what> for <argument> but received <value>", so the user learns which argument is wrong.
 */

export function describe(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) return `[${value.slice(0, 8).map(describe).join(', ')}${value.length > 8 ? ', …' : ''}]`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<number>).length}`;
  if (typeof value === 'function') return 'a function';
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

export function fail(expected: string, name: string, value: unknown, ErrorType: new (m: string) => Error = TypeError): never {
  throw new ErrorType(`Expected ${expected} for ${name} but received ${describe(value)}`);
}

export function expectInt(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail('an integer', name, value);
  if (value < min || value > max) {
    const range = max === Infinity ? `an integer ≥ ${min}` : min === -Infinity ? `an integer ≤ ${max}` : `an integer in [${min}, ${max}]`;
    fail(range, name, value, RangeError);
  }
  return value;
}

export function expectNumber(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value)) fail('a number', name, value);
  if (value < min || value > max) fail(`a number in [${min}, ${max}]`, name, value, RangeError);
  return value;
}

export function expectBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') fail('a boolean', name, value);
  return value;
}

export function expectShape(shape: unknown, name: string): readonly number[] {
  if (!Array.isArray(shape) || !shape.every((d) => Number.isInteger(d) && d >= 0)) {
    fail('an array of non-negative integers', name, shape);
  }
  return shape;
}

/** A size given as one integer or a pair ([height, width]), as torch.nn accepts. */
export function expectPair(value: unknown, name: string, min: number): [number, number] {
  if (typeof value === 'number') {
    expectInt(value, name, min);
    return [value, value];
  }
  if (Array.isArray(value) && value.length === 2) {
    return [expectInt(value[0], `${name}[0]`, min), expectInt(value[1], `${name}[1]`, min)];
  }
  return fail('an integer or a pair of integers', name, value);
}

export function expectOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(`one of ${allowed.map((a) => `'${a}'`).join(', ')}`, name, value);
  }
  return value as T;
}
