/**
 * Rebuilding modules from their config() (the architecture saved beside the weights). The tree is
 * checked first (architecture.ts: layer objects, lists in containers, no cycles, a bounded depth),
 * so a bad config is an Error naming the field. A new layer type adds one entry here.
 */
import { checkArchitecture } from './architecture';
import { ReLU } from './activation';
import { Conv2d } from './conv2d';
import { Flatten } from './flatten';
import { Linear } from './linear';
import type { LayerConfig, Module } from './module';
import { AvgPool2d, MaxPool2d } from './pool2d';
import { Sequential } from './sequential';
import { ELU, GELU, LeakyReLU, Sigmoid, Softplus, Tanh } from './activation';
import { BatchNorm1d, BatchNorm2d } from './batchnorm';
import { Dropout } from './dropout';
import { LogSoftmax, Softmax } from './softmax';
import { Concat } from './concat';
import { Conv1d } from './conv1d';
import { AvgPool1d, MaxPool1d } from './pool1d';

type Builder = (c: any) => Module;

const BUILDERS: Record<string, Builder> = {
  Sequential: (c) => new Sequential(...(c.layers as LayerConfig[]).map(build)),
  Conv2d: (c) => new Conv2d(c.inChannels, c.outChannels, c.kernelSize, { stride: c.stride, padding: c.padding, bias: c.bias }),
  Linear: (c) => new Linear(c.inFeatures, c.outFeatures, { bias: c.bias }),
  MaxPool2d: (c) => new MaxPool2d(c.kernelSize, { stride: c.stride, padding: c.padding }),
  AvgPool2d: (c) => new AvgPool2d(c.kernelSize, { stride: c.stride, padding: c.padding, countIncludePad: c.countIncludePad }),
  ReLU: () => new ReLU(),
  Flatten: () => new Flatten(),
  BatchNorm1d: (c) => new BatchNorm1d(c.numFeatures, { eps: c.eps, momentum: c.momentum, affine: c.affine, trackRunningStats: c.trackRunningStats }),
  BatchNorm2d: (c) => new BatchNorm2d(c.numFeatures, { eps: c.eps, momentum: c.momentum, affine: c.affine, trackRunningStats: c.trackRunningStats }),
  Dropout: (c) => new Dropout(c.p),
  Sigmoid: () => new Sigmoid(),
  Tanh: () => new Tanh(),
  LeakyReLU: (c) => new LeakyReLU(c.negativeSlope),
  ELU: (c) => new ELU(c.alpha),
  GELU: (c) => new GELU(c.approximate),
  Softplus: (c) => new Softplus(c.beta, c.threshold),
  Softmax: (c) => new Softmax(c.dim),
  LogSoftmax: (c) => new LogSoftmax(c.dim),
  Conv1d: (c) => new Conv1d(c.inChannels, c.outChannels, c.kernelSize, { stride: c.stride, padding: c.padding, bias: c.bias }),
  MaxPool1d: (c) => new MaxPool1d(c.kernelSize, { stride: c.stride, padding: c.padding }),
  AvgPool1d: (c) => new AvgPool1d(c.kernelSize, { stride: c.stride, padding: c.padding, countIncludePad: c.countIncludePad }),
  Concat: (c) => new Concat(...(c.branches as LayerConfig[]).map(build)),
};

export function buildModule(config: LayerConfig): Module {
  checkArchitecture(config, 'buildModule', 'config');
  return build(config);
}

/** Builds a checked tree. */
function build(config: LayerConfig): Module {
  const builder = Object.hasOwn(BUILDERS, config.type) ? BUILDERS[config.type] : undefined; // not Object.prototype's 'constructor'
  if (!builder) throw new TypeError(`Expected a known layer type for config.type but received ${JSON.stringify(config?.type)}`);
  return builder(config);
}

export function registerLayer(type: string, builder: Builder): void {
  BUILDERS[type] = builder;
}
