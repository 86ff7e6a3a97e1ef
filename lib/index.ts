/**
 * napinet: neural networks for Node.js on C++ and CUDA kernels.
 * The public surface; everything a user imports comes from here.
 */
export { Tensor, cudaBytesInUse, type DType, type TensorOptions } from './tensor';
export { cuda, type Device, type DeviceSpec } from './device';
export { CudaGraph, captureCudaGraph } from './cuda_graph';
export { addonSource, type CudaInfo } from './native';
export { Generator, manualSeed, defaultGenerator } from './random';
export * as ops from './ops';
export * as nn from './nn';
export * as optim from './optim';
export { DeviceDataset, ImageDataset, Standardizer, batches, type Batch } from './data/dataset';
export { loadMnist, defaultMnistDir, type Mnist } from './data/mnist';
export { readIdx, parseIdx } from './data/idx';
export { fit, evaluate, predict, formatEpoch, type FitOptions, type History, type EpochRecord, type Callbacks } from './train/fit';
export { trainSeedRecipe, prepareMnist, SEED_RECIPE, type SeedRecipeOptions, type SeedRecipeResult } from './train/recipe';
export { seedNetwork, type SeedNetworkOptions } from './models';
export { saveModel, loadModel, stateDict, loadStateDict } from './io/model_io';
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from './io/safetensors';
export { setNumThreads, numThreads } from './threads';
export * as viz from './viz';
// Save, resume, predict and export (lib/io, lib/inference.ts)
export { load, Classifier, Predictor, type Prediction, type PredictOptions, type ImageInput } from './inference';
export { saveCheckpoint, loadCheckpoint, restoreCheckpoint, findCheckpoint, type Checkpoint, type CheckpointManifest } from './io/checkpoint';
export { toOnnx, exportOnnx, decodeOnnx, registerOnnxLayer, ONNX_OPSET, type OnnxExportOptions } from './io/onnx';
export { decodePng, readPng, encodeGreyPng, toMnistDigit, toGrey, resizeArea, type RgbaImage, type GreyImage, type DigitImage } from './io/png';
export { writeFileAtomic, writeJsonAtomic } from './io/files';
export { type FitPosition, type FitResult } from './train/fit';
export { seedPreprocessing } from './train/recipe';
export { deepNetwork, type DeepNetworkOptions } from './models';
export { trainDeepRecipe, DEEP_RECIPE, type DeepRecipeOptions, type DeepRecipeResult } from './train/deep_recipe';
export { randomAffine, epochAugmentation, type RandomAffineOptions } from './data/augment';
// Data-parallel training across processes and machines: MPI and NCCL (lib/distributed)
export * as distributed from './distributed';
