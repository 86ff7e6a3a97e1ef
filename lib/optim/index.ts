/**
 * Optimizers and learning-rate schedulers (like torch.optim).
 *
 * @module
 */
export { Optimizer, type OptimizerState } from './optimizer';
export { Adam, AdamW, type AdamOptions } from './adam';
export { SGD, type SGDOptions } from './sgd';
export { LRScheduler, StepLR, CosineAnnealingLR, OneCycleLR, ReduceLROnPlateau, type PlateauState } from './lr_scheduler';
