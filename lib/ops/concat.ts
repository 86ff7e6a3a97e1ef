/**
 * Joining tensors along the channel axis and splitting them again (torch.cat(tensors, dim=1) and
 * torch.split(t, sizes, dim=1), copied into contiguous tensors), and the in-place sum y += x.
 * Kernels: native/kernels/concat. Test: test/concat.test.ts.
 *
 * Tensors have rank ≥ 2 and agree in every dimension but dim 1: [N, C, H, W] images, [N, C, L]
 * sequences, [N, F] features.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectInt, fail } from '../validate';
import { expectTensor, output } from './checks';

/** The product of the dimensions after the channels. */
function inner(shape: readonly number[]): number {
  return shape.slice(2).reduce((a, b) => a * b, 1);
}

function expectRank2Plus(t: Tensor, name: string): void {
  if (t.shape.length < 2) {
    throw new RangeError(`Expected a tensor of rank ≥ 2 ([N, C, …]) for ${name} but received shape [${t.shape.join(', ')}]`);
  }
}

/** The shape of concat(tensors of these shapes): the first shape with the channels summed. */
export function concatOutputShape(shapes: readonly (readonly number[])[]): number[] {
  if (!Array.isArray(shapes) || shapes.length === 0) fail('a non-empty array of shapes', 'shapes', shapes);
  const first: readonly number[] = shapes[0];
  shapes.forEach((shape, i) => {
    if (!Array.isArray(shape) || shape.length < 2) fail('a shape of rank ≥ 2 ([N, C, …])', `shapes[${i}]`, shape, RangeError);
    if (shape.length !== first.length || shape.some((d, k) => k !== 1 && d !== first[k])) {
      throw new RangeError(
        `Expected shape [${first.map((d, k) => (k === 1 ? 'C' : d)).join(', ')}] (all dimensions but 1 equal to those of shapes[0]) ` +
          `for shapes[${i}] but received [${shape.join(', ')}]`,
      );
    }
  });
  return [first[0], shapes.reduce((c, s) => c + s[1], 0), ...first.slice(2)];
}

/** torch.cat(xs, dim=1): the tensors' channels one after another, written into `out` when given. */
export function concat(xs: readonly Tensor[], out?: Tensor): Tensor {
  if (!Array.isArray(xs) || xs.length === 0) fail('a non-empty array of tensors', 'xs', xs);
  const device = expectTensor(xs[0], 'xs[0]').device;
  xs.forEach((x, i) => {
    expectTensor(x, `xs[${i}]`, { device });
    expectRank2Plus(x, `xs[${i}]`);
  });
  const shapes = xs.map((x) => x.shape);
  const shape = concatOutputShape(shapes);
  const y = output(out, 'out', shape, device);
  const [n, cy] = shape;
  let offset = 0;
  for (const x of xs) {
    if (x === y || x.buffer === y.buffer) fail('a tensor other than each input', 'out', out);
    native().concatChannels(y.buffer, x.buffer, n, cy, offset, x.shape[1], inner(shape));
    offset += x.shape[1];
  }
  return y;
}

/**
 * Splits y along dim 1 into tensors of `sizes` channels (summing to y.shape[1]): torch.split(y,
 * sizes, dim=1) as contiguous copies; concat's backward. out[i] is used for part i when given.
 */
export function splitChannels(y: Tensor, sizes: readonly number[], out?: readonly (Tensor | undefined)[]): Tensor[] {
  expectTensor(y, 'y');
  expectRank2Plus(y, 'y');
  if (!Array.isArray(sizes) || sizes.length === 0) fail('a non-empty array of channel counts', 'sizes', sizes);
  sizes.forEach((c, i) => expectInt(c, `sizes[${i}]`, 1));
  const total = sizes.reduce((a, b) => a + b, 0);
  if (total !== y.shape[1]) {
    throw new RangeError(`Expected channel counts summing to ${y.shape[1]} (the channels of y) for sizes but received [${sizes.join(', ')}] (sum ${total})`);
  }
  if (out !== undefined && (!Array.isArray(out) || out.length !== sizes.length)) fail(`an array of ${sizes.length} tensors`, 'out', out);
  const [n, cy] = y.shape;
  let offset = 0;
  return sizes.map((c, i) => {
    const x = output(out?.[i], `out[${i}]`, [n, c, ...y.shape.slice(2)], y.device);
    native().splitChannels(x.buffer, y.buffer, n, cy, offset, c, inner(y.shape));
    offset += c;
    return x;
  });
}

/** y += x in place (same shape and device; x may not share y's storage). Returns y. */
export function addInto(y: Tensor, x: Tensor): Tensor {
  expectTensor(y, 'y');
  expectTensor(x, 'x', { shape: y.shape, device: y.device });
  native().addInto(y.buffer, x.buffer, y.size);
  y.markWritten();
  return y;
}
