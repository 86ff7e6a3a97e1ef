/** CPU threads used by the kernels (the data-parallel workers of a step); default: every core. */
import { native } from './native';
import { expectInt } from './validate';

/** Sets the number of CPU threads the kernels use (1–1024). */
export function setNumThreads(threads: number): void {
  native().setNumThreads(expectInt(threads, 'threads', 1, 1024));
}

/** The number of CPU threads the kernels use. */
export function numThreads(): number {
  return native().numThreads();
}
