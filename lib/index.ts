/**
 * napinet: neural networks for Node.js on C++ and CUDA kernels.
 * The public surface of the library; everything a user imports comes from here. The chapter's
 * application (CLI, recipes, ready-made networks, pictures, sweeps) is a separate entry,
 * 'napinet/chapter' (lib/chapter/index.ts), built on this one alone.
 */
import './nn/methods'; // Tensor methods (x.add(y), x.sum(), x.backward(), …)
export { Tensor, cudaBytesInUse, type DType, type TensorOptions, type NestedArray } from './tensor';
export { tidy, keep, memoryStats, emptyMemoryPool, setMemoryPoolLimit, type MemoryStats } from './memory';
// Autograd and tensor maths (lib/autograd): differentiable functions, also Tensor methods
export * as autograd from './autograd';
export { noGrad, enableGrad, explicit, isGradEnabled } from './autograd/grad_mode';
export { tensor, zeros, ones, full, zerosLike, onesLike, fullLike, rand, randn, arange, eye, type RandomOptions } from './autograd/creation';
export {
  add, sub, mul, div, pow, neg, exp, log, sqrt, abs, square, sign, clamp, maximum, minimum, where,
  eq, ne, lt, le, gt, ge, sum, mean, max, min, argmax, argmin, variance, matmul, reshape, flatten,
  permute, transpose, squeeze, unsqueeze, expand, narrow, slice, indexSelect, gather, cat, stack, clone,
  toDType, type TensorLike, type ReduceOptions, type VarOptions,
} from './autograd/functional';
export { relu, sigmoid, tanh, gelu, softmax, logSoftmax } from './nn/functional';
export { cuda, cudaIndex, isCuda, parseDevice, resolveDevice, type CudaDevice, type Device, type DeviceSpec } from './device';
export { CudaGraph, captureCudaGraph } from './cuda_graph';
export { addonSource, buildInfo, type AddonSource, type BuildInfo, type CudaInfo } from './native';
export { Generator, manualSeed, defaultGenerator, type GeneratorSnapshot } from './random';
export { setNumThreads, numThreads } from './threads';
export * as validate from './validate';
export * as ops from './ops';
export * as nn from './nn';
export * as optim from './optim';
// Data
export {
  TensorDataset, ImageDataset, Standardizer, type Dataset, type Batch, type Sample, type SampleLike, type SampleValue,
} from './data/dataset';
export { DataLoader, IterableDataset, defaultCollate, type DataLoaderOptions, type BatchLike, type Collate } from './data/dataloader';
export { DeviceDataset, batches, type BatchesOptions } from './data/device_dataset';
export { loadMnist, defaultMnistDir, prepareMnist, type Mnist, type MnistSplit, type PreparedMnist } from './data/mnist';
export { readIdx, parseIdx } from './data/idx';
export { randomAffine, epochAugmentation, type RandomAffineOptions } from './data/augment';
// Training
export { fit, formatEpoch, NonFiniteLossError, type FitOptions, type FitResult } from './train/fit';
export {
  evaluate, evaluateAsync, predict, predictProbabilities, predictClasses, type EvaluateOptions, type EvaluateResult, type PredictInput,
} from './train/evaluate';
export type { LossSpec, MetricSpec, MetricFunction } from './train/measures';
export type { FitData, SyncData, BatchStream } from './train/data_source';
export { EarlyStopping, ModelCheckpoint, type EarlyStoppingOptions, type ModelCheckpointOptions } from './train/callbacks';
export { recordValue, type Callbacks, type EpochRecord, type FitPosition, type History, type StepInfo, type TrainingContext } from './fit_types';
// Save, resume, predict and export (lib/io, lib/inference.ts)
export {
  saveModel, loadModel, stateDict, loadStateDict, type ModelManifest, type SaveModelOptions, type LoadModelOptions, type LoadedModel, type Preprocessing,
} from './io/model_io';
export { registerModule, type ModuleClass } from './nn/registry';
export { readSafetensors, writeSafetensors, encodeSafetensors, decodeSafetensors } from './io/safetensors';
export { load, loadClassifier, outputShapeOf, Classifier, Predictor, type Prediction, type PredictOptions, type ImageInput } from './inference';
export {
  saveCheckpoint, loadCheckpoint, restoreCheckpoint, findCheckpoint, repairCheckpoints, type Checkpoint, type CheckpointManifest, type CheckpointParts,
} from './io/checkpoint';
export {
  toOnnx, exportOnnx, decodeOnnx, registerOnnxOp, onnxOps, ONNX_OPSET, OnnxGraph, type OnnxExportOptions, type OnnxOpContext, type OnnxOpExporter, type TracedShape,
} from './io/onnx';
export { decodePng, readPng, encodeGreyPng, toMnistDigit, toGrey, resizeArea, type RgbaImage, type GreyImage, type DigitImage } from './io/png';
export { writeFileAtomic, writeJsonAtomic, TEMP_FILE, writerMayRun } from './io/files';
export { inputBudget, readJsonFile, DEFAULT_INPUT_BUDGET } from './budget';
// Data-parallel training across processes and machines: MPI and NCCL (lib/distributed)
export * as distributed from './distributed';
