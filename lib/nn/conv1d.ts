/** Conv1d, after torch.nn.Conv1d (groups 1, dilation 1) on [N, C, L]. Op: lib/ops/conv1d.ts (conv2d's kernels). */
import { conv1d, conv1dBackward, conv1dOutputShape, expectSingle } from '../ops/conv1d';
import type { Generator } from '../random';
import { ConvLayer, type ConvOps } from './conv2d';
import * as F from './functional';

/** Options of Conv1d: stride (default 1), zero padding on both sides (default 0), bias (default true), and the initialisation's generator. */
export interface Conv1dLayerOptions {
  stride?: number | [number];
  padding?: number | [number];
  bias?: boolean;
  /** Generator for the default initialisation (default: napinet's default generator). */
  generator?: Generator;
}

const CONV1D: ConvOps<number> = {
  type: 'Conv1d',
  size: expectSingle,
  outputShape: conv1dOutputShape,
  forward: conv1d,
  backward: conv1dBackward,
  functional: F.conv1d,
};

/** Weight [outChannels, inChannels, kernelSize], as torch.nn.Conv1d. */
export class Conv1d extends ConvLayer<number> {
  constructor(inChannels: number, outChannels: number, kernelSize: number | [number], options: Conv1dLayerOptions = {}) {
    super(CONV1D, inChannels, outChannels, kernelSize, options);
  }
}
