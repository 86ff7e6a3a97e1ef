/**
 * Autograd: the graph's nodes, backward(), user-written Functions, and the grad modes.
 *
 * @module
 */
export { backward, type BackwardOptions } from './engine';
export { Context, Function, type FunctionClass } from './function';
export { enableGrad, explicit, isExplicitMode, isGradEnabled, noGrad, setGradEnabled } from './grad_mode';
export { ACCUMULATED, Node, type BackwardRule, type InputGradient } from './node';
