/** Functional ops (like torch.nn.functional): each validates, infers shapes and calls a kernel. */
export { relu, reluBackward } from './activation';
export { fill } from './fill';
