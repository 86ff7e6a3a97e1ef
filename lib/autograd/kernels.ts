/**
 * The kernels the differentiable ops run (PLACEHOLDER until the tensor-maths kernels land):
 * thin calls into lib/ops' non-differentiable wrappers.
 */
import type { Tensor } from '../tensor';

export type UnaryOp =
  | 'copy' | 'neg' | 'exp' | 'log' | 'sqrt' | 'abs' | 'sign' | 'square'
  | 'addScalar' | 'mulScalar' | 'divScalar' | 'rsubScalar' | 'rdivScalar' | 'powScalar' | 'rpowScalar' | 'clamp'
  | 'eqScalar' | 'neScalar' | 'ltScalar' | 'leScalar' | 'gtScalar' | 'geScalar';
export type CompareOp = 'eq' | 'ne' | 'lt' | 'le' | 'gt' | 'ge';
export type BinaryOp = 'add' | 'sub' | 'mul' | 'div' | 'pow' | 'maximum' | 'minimum' | CompareOp;
export const MIRRORED: Record<CompareOp, CompareOp> = { eq: 'eq', ne: 'ne', lt: 'gt', le: 'ge', gt: 'lt', ge: 'le' };

const todo = (): never => {
  throw new Error('tensor-maths kernels not wired yet');
};
export function unary(_op: UnaryOp, _x: Tensor, _alpha?: number, _beta?: number, _out?: Tensor): Tensor { return todo(); }
export function binary(_op: BinaryOp, _a: Tensor, _b: Tensor, _out?: Tensor): Tensor { return todo(); }
export function where(_c: Tensor, _a: Tensor, _b: Tensor): Tensor { return todo(); }
export function reduce(_op: 'sum' | 'mean' | 'max' | 'min', _x: Tensor, _dims: readonly number[], _keepDim: true): Tensor { return todo(); }
export function variance(_x: Tensor, _dims: readonly number[], _correction: number): Tensor { return todo(); }
export function argReduce(_op: 'argmax' | 'argmin', _x: Tensor, _dim: number | null, _keepDim: boolean): Tensor { return todo(); }
export function view(x: Tensor, shape: readonly number[]): Tensor { return x.viewAs(shape); }
export function expand(_x: Tensor, _shape: readonly number[]): Tensor { return todo(); }
export function permute(_x: Tensor, _dims: readonly number[]): Tensor { return todo(); }
export function transposeLast(_x: Tensor): Tensor { return todo(); }
export function slice(_x: Tensor, _dim: number, _start: number, _end: number, _step: number): Tensor { return todo(); }
export function unslice(_g: Tensor, _shape: readonly number[], _dim: number, _start: number, _step: number): Tensor { return todo(); }
export function cat(_ts: readonly Tensor[], _dim: number): Tensor { return todo(); }
export function matmul(_a: Tensor, _b: Tensor): Tensor { return todo(); }
export function indexSelect(_x: Tensor, _dim: number, _index: Tensor): Tensor { return todo(); }
export function indexAdd(_shape: readonly number[], _dim: number, _index: Tensor, _src: Tensor): Tensor { return todo(); }
export function gather(_x: Tensor, _dim: number, _index: Tensor): Tensor { return todo(); }
export function scatterAdd(_shape: readonly number[], _dim: number, _index: Tensor, _src: Tensor): Tensor { return todo(); }
export function cast(_x: Tensor, _dtype: Tensor['dtype']): Tensor { return todo(); }
