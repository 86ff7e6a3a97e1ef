/**
 * The seeded random generator behind every random choice napinet makes (weight initialisation,
 * shuffling, the validation split, dropout masks' seeds, augmentation): xoshiro128** seeded by splitmix32.
 * One seed therefore reproduces a whole run on the CPU. Its state can be saved and restored
 * (checkpoints resume with the same stream).
 */
import { expectInt } from './validate';

export type GeneratorState = [number, number, number, number];

/** Everything a Generator's stream depends on (JSON-safe; checkpoints store it). */
export interface GeneratorSnapshot {
  words: GeneratorState;
  spareNormal: number | null;
}

/** A seeded random number generator (xoshiro128**): uniform and normal draws, shuffles, permutations. One seed gives the same run on the CPU; every random thing in napinet (initialisation, splits, shuffling, dropout, augmentation) takes one. */
export class Generator {
  private s0 = 0;
  private s1 = 0;
  private s2 = 0;
  private s3 = 0;
  private spareNormal: number | undefined;

  constructor(seed = 0) {
    this.seed(seed);
  }

  /** Restarts the stream from `seed` (an integer; like torch.manual_seed). */
  seed(seed: number): this {
    expectInt(seed, 'seed', 0, Number.MAX_SAFE_INTEGER);
    // splitmix32 over both halves of the seed fills the four state words (never all zero).
    let x = (seed >>> 0) ^ Math.floor(seed / 2 ** 32);
    const next = () => {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
    this.spareNormal = undefined;
    return this;
  }

  /** A uniformly distributed 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5), 7), 9) >>> 0;
    const t = this.s1 << 9;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1) with 32 bits of randomness. */
  random(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform in [low, high). */
  uniform(low: number, high: number): number {
    return low + (high - low) * this.random();
  }

  /** Standard normal (Box–Muller; pairs are used in turn). */
  normal(mean = 0, std = 1): number {
    if (this.spareNormal !== undefined) {
      const z = this.spareNormal;
      this.spareNormal = undefined;
      return mean + std * z;
    }
    let u = 0;
    while (u === 0) u = this.random();
    const v = this.random();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return mean + std * r * Math.cos(2 * Math.PI * v);
  }

  /** A uniform integer in [0, n), without modulo bias. */
  int(n: number): number {
    expectInt(n, 'n', 1, 2 ** 32);
    const limit = 4294967296 - (4294967296 % n);
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** Shuffles `items` in place (Fisher–Yates) and returns it. */
  shuffle<T extends { length: number; [i: number]: any }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /** [0, 1, …, n−1] in random order. */
  permutation(n: number): Int32Array {
    const out = new Int32Array(n);
    for (let i = 0; i < n; i++) out[i] = i;
    return this.shuffle(out);
  }

  /** The generator's state (JSON-safe), to resume its stream later with setState(). */
  getState(): GeneratorSnapshot {
    return { words: [this.s0 >>> 0, this.s1 >>> 0, this.s2 >>> 0, this.s3 >>> 0], spareNormal: this.spareNormal ?? null };
  }

  /** Restores a state from getState(): the stream continues from there. */
  setState(state: GeneratorSnapshot): void {
    [this.s0, this.s1, this.s2, this.s3] = state.words.map((w) => w >>> 0) as GeneratorState;
    this.spareNormal = state.spareNormal ?? undefined;
  }
}

function rotl(x: number, k: number): number {
  return (x << k) | (x >>> (32 - k));
}

/** The process-wide default generator (like torch's default generator); napinet.manualSeed(s). */
export const defaultGenerator = new Generator(0);

/** Seeds the default generator (torch.manual_seed): what functions use when given no generator. */
export function manualSeed(seed: number): void {
  defaultGenerator.seed(seed);
}
