/**
 * Layers and models (like torch.nn).
 *
 * @module
 */
export { Module, Parameter, Buffer, ModuleList, ModuleDict, Workspace, configOf, type LayerConfig } from './module';
export * as functional from './functional';
export { Conv2d, type Conv2dLayerOptions } from './conv2d';
export { MaxPool2d, AvgPool2d, type Pool2dLayerOptions } from './pool2d';
export { Linear } from './linear';
export { ReLU } from './activation';
export { Flatten } from './flatten';
export { Sequential } from './sequential';
export { CrossEntropyLoss, CrossEntropyResult } from './loss';
export * as init from './init';
export { buildModule, registerModule, registeredModuleTypes, checkArchitecture, MAX_ARCHITECTURE_DEPTH, type ModuleClass } from './registry';
export { Sigmoid, Tanh, LeakyReLU, ELU, GELU, Softplus } from './activation';
export { BatchNorm1d, BatchNorm2d, type BatchNormLayerOptions } from './batchnorm';
export { Dropout } from './dropout';
export { Softmax, LogSoftmax } from './softmax';
export { Conv1d, type Conv1dLayerOptions } from './conv1d';
export { MaxPool1d, AvgPool1d, type Pool1dLayerOptions } from './pool1d';
export { Concat } from './concat';
export { BCEWithLogitsLoss, MSELoss, LossResult, type LossFunction } from './loss';
