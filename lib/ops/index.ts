/**
 * Functional ops (like torch.nn.functional): each validates, infers shapes and calls a kernel.
 *
 * @module
 */
export { relu, reluBackward } from './activation';
export { matmul, type MatmulOptions } from './gemm';
export { linear, linearBackward, type LinearBackwardOptions, type LinearGrads } from './linear';
export { conv2d, conv2dBackward, conv2dOutputShape, type Conv2dGrads, type Conv2dOptions } from './conv2d';
export { avgPool2d, avgPool2dBackward, maxPool2d, maxPool2dBackward, pool2dOutputShape, type AvgPool2dOptions, type Pool2dOptions } from './pool2d';
export { softmaxCrossEntropy, softmaxCrossEntropyBackward, type CrossEntropyOptions } from './loss';
export { adamStep, adamStepMany, sgdStep, type AdamHyper, type SgdHyper } from './optim';
export { fill, fillMany } from './fill';
export { softmax } from './softmax';
export { ternaryConv2d, type TernaryConv2dOptions } from './ternary_conv2d';
export { conv2dMaxPool2d, conv2dMaxPool2dBackward, type Conv2dMaxPool2dOptions, type Conv2dMaxPool2dResult } from './conv2d';
export {
  conv2dBatchNormRelu,
  conv2dBatchNormReluBackward,
  conv2dBatchNormReluRecomputes,
  conv2dRelu,
  type Conv2dBatchNormReluOptions,
  type Conv2dBatchNormReluResult,
  type Conv2dBatchNormReluBackwardOptions,
  type Conv2dBatchNormReluGrads,
} from './conv2d_batchnorm';
export { gatherBatch } from './gather';
export {
  sigmoid, sigmoidBackward, tanh, tanhBackward, leakyRelu, leakyReluBackward, elu, eluBackward,
  gelu, geluBackward, softplus, softplusBackward, type GeluApproximate, type SoftplusOptions,
} from './activation';
export { softmaxBackward, logSoftmax, logSoftmaxBackward } from './softmax';
export {
  batchNorm, batchNormBackward, batchNormDims, type BatchNormBackwardOptions, type BatchNormGrads,
  type BatchNormOptions, type BatchNormOutputs, type BatchNormResult, type BatchNormSaved,
} from './batchnorm';
export { dropout, dropoutBackward, drawDropoutSeed, type DropoutSeed } from './dropout';
export { addInto, concat, concatOutputShape, splitChannels } from './concat';
export { conv1d, conv1dBackward, conv1dOutputShape, type Conv1dGrads, type Conv1dOptions } from './conv1d';
export { avgPool1d, avgPool1dBackward, maxPool1d, maxPool1dBackward, pool1dOutputShape, type AvgPool1dOptions, type Pool1dOptions } from './pool1d';
export { bceWithLogits, bceWithLogitsBackward, mseLoss, mseLossBackward, type BceWithLogitsOptions, type PointwiseLossOut } from './pointwise_loss';
export {
  MAX_RANK, broadcastShapes, contiguousStrides, contiguousView, expandView, isContiguous, keepDimShape, narrowView,
  normalizeDim, normalizeDims, permuteView, shapeText, sizeOf, transposeView, unsqueezeView, type StridedTensor, type View,
} from './views';
export {
  binary, cat, copy, expand, narrow, permute, stack, ternary, transpose, unary, where,
  type BinaryOp, type ClampOptions, type ElementwiseOptions, type Input, type Operand, type TernaryOp, type UnaryOp,
} from './elementwise';
export { argmax, argmin, reduce, reduceWithIndices, sumToShape, type IndexedReduceOptions, type ReduceOp, type ReduceOptions } from './reduce';
export { batchMatmul, type BatchMatmulOptions } from './batch_matmul';
export { gather, indexAdd, indexSelect, scatterAdd } from './indexing';
