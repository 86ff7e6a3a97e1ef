/** Functional ops (like torch.nn.functional): each validates, infers shapes and calls a kernel. */
export { relu, reluBackward } from './activation';
export { matmul, type MatmulOptions } from './gemm';
export { linear, linearBackward, type LinearBackwardOptions, type LinearGrads } from './linear';
