/** MaxPool1d and AvgPool1d, after torch.nn, on [N, C, L]. Ops: lib/ops/pool1d.ts (pool2d's kernels). */
import { expectSingle } from '../ops/conv1d';
import { avgPool1d, avgPool1dBackward, maxPool1d, maxPool1dBackward, pool1dOutputShape } from '../ops/pool1d';
import * as F from './functional';
import { AvgPoolLayer, MaxPoolLayer, type PoolOps } from './pool2d';

/** Options of MaxPool1d and AvgPool1d: stride (default the kernel size) and zero padding (default 0). */
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

/** torch.nn.MaxPool1d: the maximum of each window over [N, C, L]. */
export class MaxPool1d extends MaxPoolLayer<number> {
  constructor(kernelSize: number | [number], options: Pool1dLayerOptions = {}) {
    super(POOL1D, kernelSize, options);
  }
}

/** torch.nn.AvgPool1d: the mean of each window over [N, C, L] (padding counted unless countIncludePad is false). */
export class AvgPool1d extends AvgPoolLayer<number> {
  constructor(kernelSize: number | [number], options: Pool1dLayerOptions & { countIncludePad?: boolean } = {}) {
    super(POOL1D, kernelSize, options);
  }
}
