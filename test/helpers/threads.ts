/**
 * Thread-count independence, as every CPU kernel promises it: the same inputs give the same bits
 * with one thread and with several (fixed chunking, partial sums combined in a fixed order).
 */
import { native } from '../../lib/native';
import { Tensor } from '../../lib/tensor';
import { expectIdentical } from './compare';

/** The addon's thread count when the tests start (its default: one per core). */
export const DEFAULT_THREADS = native().numThreads();

type Output = Tensor | ArrayLike<number>;

/**
 * Runs `run` with 1 thread and with `threads` (default: the default count, at least 2) and checks
 * that each output has the same bits in both runs; the thread count is restored afterwards.
 */
export function expectSameBitsAcrossThreads(run: () => Output[], label = '', threads = Math.max(2, DEFAULT_THREADS)): void {
  const before = native().numThreads();
  const outputsWith = (count: number) => {
    native().setNumThreads(count);
    return run().map((t) => (t instanceof Tensor ? t.toArray() : t));
  };
  try {
    const one = outputsWith(1);
    const many = outputsWith(threads);
    if (many.length !== one.length) throw new Error(`${label}${many.length} outputs with ${threads} threads, ${one.length} with 1`);
    one.forEach((values, i) => expectIdentical(many[i], values, `${label}output ${i}, ${threads} threads vs 1`));
  } finally {
    native().setNumThreads(before);
  }
}
