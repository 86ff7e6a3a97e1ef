/**
 * What test/conv1d.test.ts and test/conv2d.test.ts share: conv1d runs conv2d's kernels on a plane
 * of height 1 and its ops have conv2d's signatures, so both read a fixture case's inputs and
 * options the same way and check every case on every algorithm the same way, with CONV's
 * tolerances (test/helpers/tolerance.ts).
 */
import { describe, expect, test } from 'vitest';
import type { Device } from '../../lib/device';
import type { Conv2dGrads } from '../../lib/ops/conv2d';
import type { Tensor } from '../../lib/tensor';
import type { FixtureCase } from './fixtures';
import { checkOp } from './op_check';
import { CONV } from './tolerance';

/** The sizes of a hand-written convolution case: batch, input channels, height and width, filters. */
export interface ConvCaseSizes {
  name: string;
  n: number;
  c: number;
  h: number;
  w: number;
  k: number;
}

export const ALGORITHMS = ['direct', 'im2col', 'auto'] as const;
export type Algorithm = (typeof ALGORITHMS)[number];

export interface ConvOptions {
  stride?: number | number[];
  padding?: number | number[];
  algorithm?: Algorithm | 'winograd';  // ('winograd': conv2d only, test/conv2d_winograd.test.ts)
}

export interface ConvGradOptions extends ConvOptions {
  inputGrad?: boolean;
  biasGrad?: boolean;
}

/** conv1d, conv1dBackward, conv1dOutputShape or their 2-D twins. */
export interface ConvOps {
  outputShape(inputShape: readonly number[], weightShape: readonly number[], options?: ConvOptions): number[];
  forward(x: Tensor, weight: Tensor, bias: Tensor | null, options?: ConvOptions): Tensor;
  backward(dy: Tensor, x: Tensor, weight: Tensor, options?: ConvGradOptions): Conv2dGrads;
}

/** The case's x, weight, bias (null without one) and dy on `device`. */
export function convInputs(c: FixtureCase, device: Device) {
  return {
    x: c.tensor('x', device),
    weight: c.tensor('weight', device),
    bias: c.params.bias ? c.tensor('bias', device) : null,
    dy: c.tensor('dy', device),
  };
}

/** The case's stride and padding, with `algorithm`. */
export function convOptions(c: FixtureCase, algorithm?: Algorithm): ConvOptions {
  return { stride: c.params.stride, padding: c.params.padding, algorithm };
}

/**
 * A describe block per algorithm with a test per fixture case: the output shape, then y, dx (or
 * none where PyTorch's input needed no gradient), dw and db (or none without a bias) against PyTorch.
 */
export function convCaseTests(cases: FixtureCase[], ops: ConvOps, device: Device): void {
  describe.each(ALGORITHMS)('algorithm %s', (algorithm) => {
    for (const c of cases) {
      test(c.name, () => {
        const { x, weight, bias, dy } = convInputs(c, device);
        const options = convOptions(c, algorithm);
        expect(ops.outputShape(x.shape, weight.shape, options)).toEqual(c.get('y').shape);
        const g = ops.backward(dy, x, weight, { ...options, inputGrad: c.has('dx'), biasGrad: bias !== null });
        checkOp(c, { y: ops.forward(x, weight, bias, options), ...g }, CONV, { label: algorithm });
      });
    }
  });
}
