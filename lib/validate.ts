/**
 * Argument checks for the public API. Every message has the form
 * "Expected <what> for <argument> but received <value>", so the user learns which argument is wrong.
 *
 * @module
 */

/** A value as a message shows it: short (strings to 100 characters, lists to 8 items and 3 levels, so cyclic or deep ones too). */
export function describe(value: unknown, depth = 0): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  if (typeof value === 'string') return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return String(value);
  if (Array.isArray(value)) {
    if (depth >= 3) return value.length ? '[…]' : '[]';
    return `[${value.slice(0, 8).map((v) => describe(v, depth + 1)).join(', ')}${value.length > 8 ? ', …' : ''}]`;
  }
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name} of length ${(value as unknown as ArrayLike<number>).length}`;
  if (typeof value === 'function') return 'a function';
  const name = (value as object).constructor?.name;
  return name && name !== 'Object' ? `a ${name}` : 'an object';
}

/** Throws `ErrorType` (default TypeError) with napinet's message: "Expected {expected} for {name} but received {a description of value}". */
export function fail(expected: string, name: string, value: unknown, ErrorType: new (m: string) => Error = TypeError): never {
  throw new ErrorType(`Expected ${expected} for ${name} but received ${describe(value)}`);
}

/** `value` if it is an integer in [min, max], else a TypeError or RangeError naming `name`. */
export function expectInt(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || !Number.isInteger(value)) fail('an integer', name, value);
  if (value < min || value > max) {
    const range = max === Infinity ? `an integer ≥ ${min}` : min === -Infinity ? `an integer ≤ ${max}` : `an integer in [${min}, ${max}]`;
    fail(range, name, value, RangeError);
  }
  return value;
}

/** `value` if it is a number (not NaN) in [min, max], else a TypeError or RangeError naming `name`. */
export function expectNumber(value: unknown, name: string, min = -Infinity, max = Infinity): number {
  if (typeof value !== 'number' || Number.isNaN(value)) fail('a number', name, value);
  if (value < min || value > max) fail(`a number in [${min}, ${max}]`, name, value, RangeError);
  return value;
}

/** `value` if it is a boolean, else a TypeError naming `name`. */
export function expectBoolean(value: unknown, name: string): boolean {
  if (typeof value !== 'boolean') fail('a boolean', name, value);
  return value;
}

/** `shape` if it is an array of non-negative integers, else a TypeError naming `name`. */
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

/** A model or layer: anything with namedParameters() and namedBuffers(), as nn.Module has. */
export function expectModule<T>(value: T, name: string): T {
  const m = value as { namedParameters?: unknown; namedBuffers?: unknown } | null;
  if (typeof m?.namedParameters !== 'function' || typeof m?.namedBuffers !== 'function') fail('a Module', name, value);
  return value;
}

/** A plain object (not null, not a list). */
export function expectObject<T>(value: T, name: string): T {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('an object', name, value);
  return value;
}

/** `value` if it is one of the `allowed` strings, else a TypeError naming `name` and listing them. */
export function expectOneOf<T extends string>(value: unknown, name: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(`one of ${allowed.map((a) => `'${a}'`).join(', ')}`, name, value);
  }
  return value as T;
}

/** "an" before int32, "a" before float32: for messages that name a dtype. */
export function article(word: string): string {
  return /^[aeiou]/.test(word) ? 'an' : 'a';
}
