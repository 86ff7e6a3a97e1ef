/**
 * napinet: neural networks for Node.js on C++ and CUDA kernels.
 * The public surface; everything a user imports comes from here.
 */
export { Tensor, cudaBytesInUse, type DType, type TensorOptions } from './tensor';
export { cuda, type Device, type DeviceSpec } from './device';
export { addonSource, type CudaInfo } from './native';
export * as ops from './ops';
