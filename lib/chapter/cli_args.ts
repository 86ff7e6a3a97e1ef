/**
 * The napinet CLI's arguments (cli.ts, cli_io.ts): each command's flags parsed strictly by
 * node:util's parseArgs, --help/-h answered with the command's usage, and the flags' values
 * checked with "Expected X for --flag but received Y". A UsageError makes main() print the
 * command's usage and exit with code 2.
 */
import { type ParseArgsConfig, parseArgs } from 'node:util';

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

/** --name N: an integer ≥ min, or undefined when not given. */
export function intFlag(values: Flags, name: string, min: number): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new UsageError(`Expected an integer ≥ ${min} for --${name} but received ${JSON.stringify(raw)}`);
  return n;
}

/** --name X: a positive number, or undefined when not given. */
export function numberFlag(values: Flags, name: string): number | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`Expected a positive number for --${name} but received ${JSON.stringify(raw)}`);
  return n;
}

/** --name 2,4,8: integers ≥ 1 without repeats, or undefined when not given. */
export function listFlag(values: Flags, name: string): number[] | undefined {
  const raw = values[name];
  if (raw === undefined) return undefined;
  const items = String(raw).split(',').map((v) => v.trim());
  const numbers = items.map(Number);
  if (items.some((v) => v === '') || !numbers.every((n) => Number.isInteger(n) && n >= 1)) {
    throw new UsageError(`Expected a comma-separated list of integers ≥ 1 for --${name} but received ${JSON.stringify(raw)}`);
  }
  if (new Set(numbers).size !== numbers.length) throw new UsageError(`Expected no repeated values for --${name} but received ${JSON.stringify(raw)}`);
  return numbers;
}

export type DeviceFlag = 'auto' | 'cpu' | 'cuda';

/** --device: auto, cpu or cuda (`fallback` when not given). */
export function deviceFlag(values: Flags, fallback: DeviceFlag = 'auto'): DeviceFlag {
  const device = (values.device as string | undefined) ?? fallback;
  if (!['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`Expected auto, cpu or cuda for --device but received ${JSON.stringify(device)}`);
  return device as DeviceFlag;
}
