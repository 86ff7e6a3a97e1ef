/**
 * An architecture (a model.json's, or a config given to buildModule), checked before
 * buildModule (registry.ts) builds it: a tree of {type, …} objects at most MAX_ARCHITECTURE_DEPTH deep (no cycles, for configs
 * made in code), containers holding lists, and the parameters the built-in layers would allocate
 * counted from their sizes, so that a model.json asking for 10^12 weights is refused against the
 * weights file and the input budget (lib/budget.ts) instead of running out of memory.
 *
 * The counts follow the built-in layers (torch.nn shapes): Conv1d/Conv2d out·in·k(·k) + out,
 * Linear out·in + out, BatchNorm 2n (affine) + 2n + 1 (running statistics). A type registered with
 * registerLayer counts 0 here; loadStateDict still matches every tensor exactly after building.
 * Test: test/hostile_input.test.ts.
 */
import { describe } from '../validate';

export const MAX_ARCHITECTURE_DEPTH = 16;

/** Fields holding the children of container layers. */
const CONTAINERS: Record<string, string> = { Sequential: 'layers', Concat: 'branches' };

// Any whole number counts (1e30 too: its count is then refused by the budget, never built).
const isSize = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

/** Product of a kernel size given as an integer or a list of them; NaN when it is neither. */
function kernelArea(kernel: unknown, dims: number): number {
  if (isSize(kernel)) return kernel ** dims;
  if (Array.isArray(kernel) && kernel.length === dims && kernel.every(isSize)) return kernel.reduce((a, b) => a * b, 1);
  return NaN;
}

/** Values the built-in layer `c` allocates for its parameters and buffers; NaN when its sizes are not sizes (its constructor says why). */
function declaredValues(c: Record<string, unknown>): number {
  const bias = (n: unknown) => (c.bias === false ? 0 : (n as number));
  switch (c.type) {
    case 'Conv1d':
    case 'Conv2d': {
      const { inChannels: i, outChannels: o } = c;
      if (!isSize(i) || !isSize(o)) return NaN;
      return o * i * kernelArea(c.kernelSize, c.type === 'Conv2d' ? 2 : 1) + bias(o);
    }
    case 'Linear': {
      const { inFeatures: i, outFeatures: o } = c;
      return isSize(i) && isSize(o) ? o * i + bias(o) : NaN;
    }
    case 'BatchNorm1d':
    case 'BatchNorm2d': {
      const n = c.numFeatures;
      if (!isSize(n)) return NaN;
      return (c.affine === false ? 0 : 2 * n) + (c.trackRunningStats === false ? 0 : 2 * n + 1);
    }
    default:
      return 0;
  }
}

/**
 * Checks the shape of an architecture tree and returns the parameter and buffer values its
 * built-in layers declare. `where` names the file in errors ("run/model.json"), `root` the tree.
 */
export function checkArchitecture(config: unknown, where: string, root = 'architecture'): { values: number } {
  let values = 0;
  const ancestors = new Set<object>();
  const visit = (node: unknown, path: string, depth: number): void => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) {
      throw new TypeError(`${where}: Expected a layer object {type, …} for ${path} but received ${describe(node)}`);
    }
    if (ancestors.has(node)) throw new TypeError(`${where}: ${path} contains itself (a cycle)`);
    if (depth > MAX_ARCHITECTURE_DEPTH) throw new RangeError(`${where}: ${path} is nested ${depth} layers deep; napinet builds at most ${MAX_ARCHITECTURE_DEPTH}`);
    const c = node as Record<string, unknown>;
    if (typeof c.type !== 'string') throw new TypeError(`${where}: Expected a layer type name for ${path}.type but received ${describe(c.type)}`);
    const field = Object.hasOwn(CONTAINERS, c.type) ? CONTAINERS[c.type] : undefined;
    if (field) {
      const children = c[field];
      if (!Array.isArray(children)) throw new TypeError(`${where}: Expected a list of layers for ${path}.${field} but received ${describe(children)}`);
      ancestors.add(node);
      children.forEach((child, i) => visit(child, `${path}.${field}[${i}]`, depth + 1));
      ancestors.delete(node);
      return;
    }
    const own = declaredValues(c);
    if (!Number.isNaN(own)) values += own; // Infinity too: refused by the caller
  };
  visit(config, root, 1);
  return { values };
}
