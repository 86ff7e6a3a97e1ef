/**
 * Dropout in training mode (torch.nn.functional.dropout(x, p, training=True)): each element is
 * kept with probability 1 − p and scaled by 1/(1 − p), else zeroed. Kernels: native/kernels/dropout.
 *
 * The mask is a pure function of a 64-bit seed and the element index (Philox4x32-10, drawn on the
 * tensor's device: the CPU and CUDA kernels give the same mask for the same seed), so backward
 * recomputes the forward's mask from the same seed and nothing is stored. Masks are not PyTorch's
 * (its generator differs): only their statistics can be compared.
 */
import { native } from '../native';
import { defaultGenerator, type Generator } from '../random';
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { expectTensor, output } from './checks';

/** A Philox seed: an integer in [0, 2⁶⁴). */
export type DropoutSeed = bigint | number;

/** A fresh 64-bit seed from `generator` (two 32-bit draws: low word first). */
export function drawDropoutSeed(generator: Generator = defaultGenerator): bigint {
  const low = BigInt(generator.nextUint32());
  const high = BigInt(generator.nextUint32());
  return (high << 32n) | low;
}

function seedWords(seed: unknown): [number, number] {
  if (typeof seed === 'number') {
    if (!Number.isSafeInteger(seed) || seed < 0) fail('an integer in [0, 2^64) (a bigint, or a safe integer)', 'seed', seed, RangeError);
    return [seed % 2 ** 32, Math.floor(seed / 2 ** 32)];
  }
  if (typeof seed !== 'bigint') fail('a bigint or an integer', 'seed', seed);
  if (seed < 0n || seed >= 1n << 64n) fail('an integer in [0, 2^64)', 'seed', seed, RangeError);
  return [Number(seed & 0xffffffffn), Number(seed >> 32n)];
}

function expectP(p: unknown): number {
  if (typeof p !== 'number' || Number.isNaN(p)) fail('a number', 'p', p);
  if (p < 0 || p > 1) fail('a probability in [0, 1]', 'p', p, RangeError);
  return p;
}

/** Checks the tensor, p and the seed, and picks the output: what dropout and its backward share. */
function dropoutArgs(t: Tensor, name: 'x' | 'dy', p: number, seed: DropoutSeed, out: Tensor | undefined) {
  expectTensor(t, name);
  const prob = expectP(p);
  const [low, high] = seedWords(seed);
  return { prob, low, high, result: output(out, 'out', t.shape, t.device) };
}

/** y = x ⊙ m, m_i = 1/(1 − p) for kept elements and 0 for dropped ones (a dropped inf gives NaN, as x·0). */
export function dropout(x: Tensor, p: number, seed: DropoutSeed, out?: Tensor): Tensor {
  const { prob, low, high, result: y } = dropoutArgs(x, 'x', p, seed, out);
  native().dropoutForward(y.buffer, x.buffer, low, high, prob, x.size);
  return y;
}

/** dx = dy ⊙ m with the mask of dropout(x, p, seed). */
export function dropoutBackward(dy: Tensor, p: number, seed: DropoutSeed, out?: Tensor): Tensor {
  const { prob, low, high, result: dx } = dropoutArgs(dy, 'dy', p, seed, out);
  native().dropoutBackward(dx.buffer, dy.buffer, low, high, prob, dy.size);
  return dx;
}
