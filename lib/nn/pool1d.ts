/** MaxPool1d and AvgPool1d, after torch.nn, on [N, C, L]. Ops: lib/ops/pool1d.ts (pool2d's kernels). */
import { expectSingle } from '../ops/conv1d';
import { avgPool1d, avgPool1dBackward, maxPool1d, maxPool1dBackward, pool1dOutputShape } from '../ops/pool1d';
import * as F from './functional';
import { AvgPoolLayer, MaxPoolLayer, type PoolOps } from './pool2d';

export interface Pool1dLayerOptions {
  stride?: number | [number];
  padding?: number | [number];
}

const POOL1D: PoolOps<number> = {
  dims: '1d',
  size: expectSingle,
  outputShape: pool1dOutputShape,
  max: maxPool1d,
  maxBackward: maxPool1dBackward,
  avg: avgPool1d,
  avgBackward: avgPool1dBackward,
  maxFunctional: F.maxPool1d,
  avgFunctional: F.avgPool1d,
};

export class MaxPool1d extends MaxPoolLayer<number> {
  constructor(kernelSize: number | [number], options: Pool1dLayerOptions = {}) {
    super(POOL1D, kernelSize, options);
  }
}

export class AvgPool1d extends AvgPoolLayer<number> {
  constructor(kernelSize: number | [number], options: Pool1dLayerOptions & { countIncludePad?: boolean } = {}) {
    super(POOL1D, kernelSize, options);
  }
}
