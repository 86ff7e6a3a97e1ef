/**
 * napinet: neural networks for Node.js on C++ and CUDA kernels.
 * The public surface; everything a user imports comes from here.
 */
export { Tensor, cudaBytesInUse, type DType, type TensorOptions } from './tensor';
export { cuda, type Device, type DeviceSpec } from './device';
export { addonSource, type CudaInfo } from './native';
export { Generator, manualSeed, defaultGenerator } from './random';
export * as ops from './ops';
export * as nn from './nn';
export * as optim from './optim';
export { ImageDataset, Standardizer, batches, type Batch } from './data/dataset';
export { loadMnist, defaultMnistDir, type Mnist } from './data/mnist';
export { readIdx, parseIdx } from './data/idx';
export { fit, evaluate, predict, formatEpoch, type FitOptions, type History, type EpochRecord, type Callbacks } from './train/fit';
export { trainSeedRecipe, prepareMnist, SEED_RECIPE, type SeedRecipeOptions, type SeedRecipeResult } from './train/recipe';
export { seedNetwork, type SeedNetworkOptions } from './models';
export { saveModel, loadModel, stateDict, loadStateDict } from './io/model_io';
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from './io/safetensors';
export { setNumThreads, numThreads } from './threads';
export * as viz from './viz';
