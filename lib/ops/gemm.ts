/**
 * Matrix multiply of rank-2 tensors (torch.matmul, and torch.addmm's alpha/beta):
 * C[M,N] = alpha·op(a)·op(b) + beta·C, op(X) = X or Xᵀ. Kernels: native/kernels/gemm.
 */
import { native } from '../native';
import type { Tensor } from '../tensor';
import { expectBoolean, expectNumber, fail } from '../validate';
import { expectTensor, output } from './checks';

/** Options of matmul: transposed operands and the scaling out = alpha·a·b + beta·out. */
export interface MatmulOptions {
  /** Use aᵀ: a is stored [K, M]. */
  transA?: boolean;
  /** Use bᵀ: b is stored [N, K]. */
  transB?: boolean;
  /** Scale of the product (default 1). */
  alpha?: number;
  /** Scale of out's previous contents (default 0: out is overwritten, NaN in it ignored). */
  beta?: number;
}

/** True when two tensors' storage overlaps (a product must not write over its inputs). */
export function sharesMemory(x: Tensor, y: Tensor): boolean {
  if (x.device !== y.device) return false;
  if (x.device !== 'cpu') return x.buffer === y.buffer;
  const p = x.data;
  const q = y.data;
  if (p.buffer !== q.buffer) return false;
  return p.byteOffset < q.byteOffset + q.byteLength && q.byteOffset < p.byteOffset + p.byteLength;
}

export function expectOptions<T extends object>(value: unknown, name: string, keys: readonly string[]): T {
  if (value === undefined) return {} as T;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail('an options object', name, value);
  for (const key of Object.keys(value as object)) {
    if (!keys.includes(key)) fail(`one of the options ${keys.join(', ')}`, name, key);
  }
  return value as T;
}

/**
 * alpha·op(a)·op(b) + beta·out, as a new [M, N] tensor or in `out`.
 * a is [M, K] ([K, M] with transA); b is [K, N] ([N, K] with transB). beta ≠ 0 needs `out`.
 */
export function matmul(a: Tensor, b: Tensor, options?: MatmulOptions, out?: Tensor): Tensor {
  expectTensor(a, 'a', { rank: 2 });
  expectTensor(b, 'b', { rank: 2, device: a.device });
  const opts = expectOptions<MatmulOptions>(options, 'options', ['transA', 'transB', 'alpha', 'beta']);
  const transA = expectBoolean(opts.transA ?? false, 'options.transA');
  const transB = expectBoolean(opts.transB ?? false, 'options.transB');
  const alpha = expectNumber(opts.alpha ?? 1, 'options.alpha');
  const beta = expectNumber(opts.beta ?? 0, 'options.beta');
  const [m, k] = transA ? [a.shape[1], a.shape[0]] : [a.shape[0], a.shape[1]];
  const [kb, n] = transB ? [b.shape[1], b.shape[0]] : [b.shape[0], b.shape[1]];
  if (kb !== k) {
    throw new RangeError(
      `Expected a tensor with ${k} ${transB ? 'columns' : 'rows'} (K of ${transA ? 'aᵀ' : 'a'}) for b but received shape [${b.shape.join(', ')}]`,
    );
  }
  if (beta !== 0 && out === undefined) fail('a tensor to accumulate into (options.beta is not 0)', 'out', out);
  const c = output(out, 'out', [m, n], a.device);
  for (const [input, name] of [[a, 'a'], [b, 'b']] as const) {
    if (out !== undefined && sharesMemory(c, input)) {
      throw new RangeError(`Expected a tensor that does not share memory with ${name} for out but received one that does`);
    }
  }
  native().gemm(c.buffer, a.buffer, b.buffer, m, n, k, transA, transB, alpha, beta);
  return c;
}
