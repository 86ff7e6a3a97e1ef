/** Functional ops (like torch.nn.functional): each validates, infers shapes and calls a kernel. */
export { relu, reluBackward } from './activation';
export { matmul, type MatmulOptions } from './gemm';
export { linear, linearBackward, type LinearBackwardOptions, type LinearGrads } from './linear';
export { conv2d, conv2dBackward, conv2dOutputShape, type Conv2dGrads, type Conv2dOptions } from './conv2d';
