/**
 * The napinet CLI's arguments (cli.ts, cli_io.ts): each command's flags parsed strictly by
 * node:util's parseArgs, --help/-h answered with the command's usage, and the flags' values
 * checked with "Expected X for --flag but received Y". A UsageError makes main() print the
 * command's usage and exit with code 2.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { type DeviceSpec, parseDevice } from '../index';

export class UsageError extends Error {
  override name = 'UsageError';
}

/** Parsed flag values by name (strings for valued flags, true for switches). */
export type Flags = Record<string, unknown>;

/**
 * A command's flags and positional arguments; undefined after printing `usage` for --help or -h.
 * Unknown flags, missing values and (unless allowed) positionals are UsageErrors.
 */
export function parseCommand(
  args: string[],
  options: ParseArgsConfig['options'],
  usage: string,
  { positionals = false } = {},
): { values: Flags; positionals: string[] } | undefined {
  let parsed;
  try {
    parsed = parseArgs({ args, options: { ...options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: positionals });
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  if (parsed.values.help) {
    console.log(usage);
    return undefined;
  }
  return { values: parsed.values as Flags, positionals: parsed.positionals };
}

/** A decimal number as people type it ("12", "0.5", "1e-3"); not "", "0x10" or "Infinity", which Number() also takes. */
const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i;

function parseDecimal(raw: unknown): number {
  return typeof raw === 'string' && DECIMAL.test(raw.trim()) ? Number(raw) : NaN;
}

/** --name N: an integer in [min, max], or undefined when not given. */
export function intFlag(values: Flags, name: string, min: number, max = Number.MAX_SAFE_INTEGER): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = parseDecimal(raw);
  if (!Number.isInteger(n) || n < min || n > max) {
    const range = max === Number.MAX_SAFE_INTEGER ? `an integer in [${min}, 2^53 - 1]` : `an integer in [${min}, ${max}]`;
    throw new UsageError(`Expected ${range} for --${name} but received ${JSON.stringify(raw)}`);
  }
  return n;
}

/** --name X: a positive finite number (at most `max`), or undefined when not given. */
export function numberFlag(values: Flags, name: string, max = Number.MAX_VALUE): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = parseDecimal(raw);
  if (!Number.isFinite(n) || n <= 0 || n > max) {
    const range = max === Number.MAX_VALUE ? 'a positive number' : `a number in (0, ${max}]`;
    throw new UsageError(`Expected ${range} for --${name} but received ${JSON.stringify(raw)}`);
  }
  return n;
}

/** --name X: a number in [min, max], or undefined when not given. */
export function rangeFlag(values: Flags, name: string, min: number, max: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = parseDecimal(raw);
  if (!(n >= min && n <= max)) throw new UsageError(`Expected a number in [${min}, ${max}] for --${name} but received ${JSON.stringify(raw)}`);
  return n;
}

/** --name 2,4,8: at most `max` integers in [1, maxValue] without repeats, or undefined when not given. */
export function listFlag(values: Flags, name: string, maxValue: number, max = 64): number[] | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const items = String(raw).split(',').map((v) => v.trim());
  const numbers = items.map(parseDecimal);
  if (items.length > max || !numbers.every((n) => Number.isInteger(n) && n >= 1 && n <= maxValue)) {
    throw new UsageError(`Expected a comma-separated list of at most ${max} integers in [1, ${maxValue}] for --${name} but received ${JSON.stringify(raw)}`);
  }
  if (new Set(numbers).size !== numbers.length) throw new UsageError(`Expected no repeated values for --${name} but received ${JSON.stringify(raw)}`);
  return numbers;
}

export type DeviceFlag = DeviceSpec;

/** --device: auto, cpu, cuda or cuda:N (`fallback` when not given); spelling only (the run checks the GPU). */
export function deviceFlag(values: Flags, fallback: DeviceFlag = 'auto'): DeviceFlag {
  const device = (values.device as string | undefined) ?? fallback;
  try {
    parseDevice(device);
  } catch {
    throw new UsageError(`Expected auto, cpu, cuda or cuda:N (N a GPU index) for --device but received ${JSON.stringify(device)}`);
  }
  return device as DeviceFlag;
}
