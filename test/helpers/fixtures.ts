/**
 * Reader for the PyTorch reference fixtures written by scripts/gen_fixtures.py (format described
 * there). Inputs are float32, references float64, labels/indices int32.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Device } from '../../lib/device';
import { Tensor } from '../../lib/tensor';

export const FIXTURE_VERSION = 1;
const FIXTURE_DIR = path.join(__dirname, '..', 'fixtures');

export type FixtureArray = Float32Array | Float64Array | Int32Array;

export interface FixtureTensor {
  shape: number[];
  data: FixtureArray;
}

export interface FixtureCase {
  name: string;
  params: Record<string, any>;
  tensors: Record<string, FixtureTensor>;
  /** The tensor `name` (throws naming the case when missing). */
  get(name: string): FixtureTensor;
  /** The float32 input `name` as a Float32Array. */
  f32(name: string): Float32Array;
  /** The reference `name` as a Float64Array. */
  f64(name: string): Float64Array;
  i32(name: string): Int32Array;
  has(name: string): boolean;
  /** The tensor `name` as a napinet Tensor on `device`: int32 data as int32, anything else as float32. */
  tensor(name: string, device?: Device): Tensor;
}

const ARRAYS = { float32: Float32Array, float64: Float64Array, int32: Int32Array } as const;

export function loadFixtures(op: string): FixtureCase[] {
  const file = path.join(FIXTURE_DIR, `${op}.fixture`);
  const bytes = fs.readFileSync(file);
  if (bytes.subarray(0, 8).toString('latin1') !== 'NAPINETF') throw new Error(`${file}: not a napinet fixture file`);
  const version = bytes.readUInt32LE(8);
  if (version !== FIXTURE_VERSION) {
    throw new Error(`${file}: fixture format ${version}, this test reads ${FIXTURE_VERSION}; re-run python3 scripts/gen_fixtures.py ${op}`);
  }
  const headerLength = bytes.readUInt32LE(12);
  const header = JSON.parse(bytes.subarray(16, 16 + headerLength).toString('utf8'));
  const payloadStart = 16 + headerLength;
  return header.cases.map((c: any) => {
    const tensors: Record<string, FixtureTensor> = {};
    for (const [name, t] of Object.entries<any>(c.tensors)) {
      const Array_ = ARRAYS[t.dtype as keyof typeof ARRAYS];
      const count = t.shape.reduce((a: number, b: number) => a * b, 1);
      const start = payloadStart + t.offset;
      // Copy into an aligned buffer of its own (the payload offset need not be aligned in memory).
      const raw = bytes.buffer.slice(bytes.byteOffset + start, bytes.byteOffset + start + count * Array_.BYTES_PER_ELEMENT);
      tensors[name] = { shape: t.shape, data: new Array_(raw) };
    }
    const get = (name: string): FixtureTensor => {
      const t = tensors[name];
      if (!t) throw new Error(`fixture ${op}/${c.name} has no tensor '${name}'`);
      return t;
    };
    return {
      name: c.name,
      params: c.params,
      tensors,
      get,
      has: (name: string) => name in tensors,
      f32: (name: string) => Float32Array.from(get(name).data),
      f64: (name: string) => Float64Array.from(get(name).data),
      i32: (name: string) => Int32Array.from(get(name).data),
      tensor: (name: string, device: Device = 'cpu') => {
        const { shape, data } = get(name);
        return Tensor.from(data instanceof Int32Array ? Int32Array.from(data) : Float32Array.from(data), shape, { device });
      },
    };
  });
}

/** The case called `name` among `cases` (throws naming the file's cases when there is none). */
export function caseNamed(cases: FixtureCase[], name: string): FixtureCase {
  const found = cases.find((c) => c.name === name);
  if (!found) throw new Error(`no fixture case '${name}' (the cases are: ${cases.map((c) => c.name).join(', ')})`);
  return found;
}
