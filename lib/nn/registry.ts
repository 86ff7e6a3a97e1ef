/**
 * The module registry: the class each saved type name rebuilds, how it is built from its config,
 * and, for the built-in layers, how many parameter and buffer values it allocates — read from the
 * config before anything is built, so a model.json asking for 10^12 weights is refused against the
 * weights file and the input budget (lib/io/model_io.ts, lib/budget.ts) instead of running out of
 * memory.
 *
 * Custom modules: registerModule(Class) (exported from 'napinet'), keyed by the class's name as a
 * PyTorch user would expect (or `{ name }`, e.g. for minified code). Saving stores
 * {type: name, ...config()}; loading calls Class.fromConfig(args) when the class defines that static
 * method, else `new Class(args)` (`new Class()` for a class whose constructor takes no arguments
 * and that has no config()). The module's children and parameters are whatever that constructor
 * makes; the weights file fills them in by state_dict name. Keras's get_config / from_config is the
 * same contract.
 *
 * buildModule checks the whole tree first (checkArchitecture): a {type, …} object at every node,
 * known types, lists (ModuleDict: objects) in container fields, at most MAX_ARCHITECTURE_DEPTH
 * levels, no cycles (for configs made in code); every error names the path
 * ("architecture.layers[2].layers"). Tests: test/model_registry.test.ts, test/hostile_input.test.ts.
 */
import { describe, fail } from '../validate';
import { ELU, GELU, LeakyReLU, ReLU, Sigmoid, Softplus, Tanh } from './activation';
import { BatchNorm1d, BatchNorm2d } from './batchnorm';
import { Concat } from './concat';
import { Conv1d } from './conv1d';
import { Conv2d } from './conv2d';
import { Dropout } from './dropout';
import { Flatten } from './flatten';
import { Linear } from './linear';
import { type LayerConfig, Module, MODULE_TYPE, ModuleDict, ModuleList } from './module';
import { AvgPool1d, MaxPool1d } from './pool1d';
import { AvgPool2d, MaxPool2d } from './pool2d';
import { Sequential } from './sequential';
import { LogSoftmax, Softmax } from './softmax';

/** The deepest nesting of containers a model.json may describe (a bound against hostile files). */
export const MAX_ARCHITECTURE_DEPTH = 16;

/** A Module class registerModule accepts; `fromConfig`, when present, rebuilds it from config(). */
export type ModuleClass<T extends Module = Module> = (new (...args: any[]) => T) & {
  /** Rebuilds an instance from what its config() returned (for constructors that take positional arguments). */
  fromConfig?(config: Record<string, unknown>): T;
};

/** Builds the child config `config` found under `key` of the container being built. */
type BuildChild = (config: unknown, key: string | number) => Module;

interface ModuleType {
  readonly name: string;
  readonly cls: Function;
  /** Builds the module from its (checked) config; a container builds its children through `child`. */
  build(config: any, child: BuildChild): Module;
  /**
   * The parameter and buffer values the module allocates, from its config alone; NaN when a size
   * is not a whole number (its constructor then names it). Absent for registered modules: their
   * constructors are the user's, so their weights are counted after building.
   */
  values?(config: Record<string, unknown>): number;
  /** For containers: the config field holding the children, a list, or (keyed) an object by name. */
  children?: { field: string; keyed: boolean };
}

// Any whole number counts (1e30 too: its count is then refused by the budget, never built).
const isSize = (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1;

/** Product of a kernel size given as an integer or a list of `dims` integers; NaN when it is neither. */
function kernelArea(kernel: unknown, dims: number): number {
  if (isSize(kernel)) return kernel ** dims;
  if (Array.isArray(kernel) && kernel.length === dims && kernel.every(isSize)) return kernel.reduce((a, b) => a * b, 1);
  return NaN;
}

/** Weight [out, in, …kernel] plus bias [out] unless bias is false (torch.nn's Linear and Conv shapes). */
function weightAndBias(c: Record<string, unknown>, inKey: string, outKey: string, kernel: number): number {
  const [i, o] = [c[inKey], c[outKey]];
  if (!isSize(i) || !isSize(o)) return NaN;
  return o * i * kernel + (c.bias === false ? 0 : o);
}

/** BatchNorm: weight and bias (affine) and running mean, variance and num_batches_tracked. */
function batchNormValues(c: Record<string, unknown>): number {
  const n = c.numFeatures;
  if (!isSize(n)) return NaN;
  return (c.affine === false ? 0 : 2 * n) + (c.trackRunningStats === false ? 0 : 2 * n + 1);
}

const none = (): number => 0;
const convOptions = (c: any) => ({ stride: c.stride, padding: c.padding, bias: c.bias });
const poolOptions = (c: any) => ({ stride: c.stride, padding: c.padding });
const batchNormOptions = (c: any) => ({ eps: c.eps, momentum: c.momentum, affine: c.affine, trackRunningStats: c.trackRunningStats });
const list = (c: any, field: string, child: BuildChild): Module[] => (c[field] as unknown[]).map((l, i) => child(l, i));

/** The built-in layers: name → class, builder, parameter count. A new layer type adds one line. */
const BUILT_IN: ModuleType[] = [
  { name: 'Sequential', cls: Sequential, build: (c, child) => new Sequential(...list(c, 'layers', child)), values: none, children: { field: 'layers', keyed: false } },
  { name: 'Concat', cls: Concat, build: (c, child) => new Concat(...list(c, 'branches', child)), values: none, children: { field: 'branches', keyed: false } },
  { name: 'ModuleList', cls: ModuleList, build: (c, child) => new ModuleList(list(c, 'modules', child)), values: none, children: { field: 'modules', keyed: false } },
  {
    name: 'ModuleDict',
    cls: ModuleDict,
    build: (c, child) => new ModuleDict(Object.fromEntries(Object.entries(c.modules as object).map(([k, v]) => [k, child(v, k)]))),
    values: none,
    children: { field: 'modules', keyed: true },
  },
  { name: 'Linear', cls: Linear, build: (c) => new Linear(c.inFeatures, c.outFeatures, { bias: c.bias }), values: (c) => weightAndBias(c, 'inFeatures', 'outFeatures', 1) },
  { name: 'Conv2d', cls: Conv2d, build: (c) => new Conv2d(c.inChannels, c.outChannels, c.kernelSize, convOptions(c)), values: (c) => weightAndBias(c, 'inChannels', 'outChannels', kernelArea(c.kernelSize, 2)) },
  { name: 'Conv1d', cls: Conv1d, build: (c) => new Conv1d(c.inChannels, c.outChannels, c.kernelSize, convOptions(c)), values: (c) => weightAndBias(c, 'inChannels', 'outChannels', kernelArea(c.kernelSize, 1)) },
  { name: 'BatchNorm1d', cls: BatchNorm1d, build: (c) => new BatchNorm1d(c.numFeatures, batchNormOptions(c)), values: batchNormValues },
  { name: 'BatchNorm2d', cls: BatchNorm2d, build: (c) => new BatchNorm2d(c.numFeatures, batchNormOptions(c)), values: batchNormValues },
  { name: 'MaxPool2d', cls: MaxPool2d, build: (c) => new MaxPool2d(c.kernelSize, poolOptions(c)), values: none },
  { name: 'AvgPool2d', cls: AvgPool2d, build: (c) => new AvgPool2d(c.kernelSize, { ...poolOptions(c), countIncludePad: c.countIncludePad }), values: none },
  { name: 'MaxPool1d', cls: MaxPool1d, build: (c) => new MaxPool1d(c.kernelSize, poolOptions(c)), values: none },
  { name: 'AvgPool1d', cls: AvgPool1d, build: (c) => new AvgPool1d(c.kernelSize, { ...poolOptions(c), countIncludePad: c.countIncludePad }), values: none },
  { name: 'Flatten', cls: Flatten, build: () => new Flatten(), values: none },
  { name: 'Dropout', cls: Dropout, build: (c) => new Dropout(c.p), values: none },
  { name: 'ReLU', cls: ReLU, build: () => new ReLU(), values: none },
  { name: 'Sigmoid', cls: Sigmoid, build: () => new Sigmoid(), values: none },
  { name: 'Tanh', cls: Tanh, build: () => new Tanh(), values: none },
  { name: 'LeakyReLU', cls: LeakyReLU, build: (c) => new LeakyReLU(c.negativeSlope), values: none },
  { name: 'ELU', cls: ELU, build: (c) => new ELU(c.alpha), values: none },
  { name: 'GELU', cls: GELU, build: (c) => new GELU(c.approximate), values: none },
  { name: 'Softplus', cls: Softplus, build: (c) => new Softplus(c.beta, c.threshold), values: none },
  { name: 'Softmax', cls: Softmax, build: (c) => new Softmax(c.dim), values: none },
  { name: 'LogSoftmax', cls: LogSoftmax, build: (c) => new LogSoftmax(c.dim), values: none },
];

const TYPES = new Map<string, ModuleType>();
for (const type of BUILT_IN) {
  TYPES.set(type.name, type);
  Object.defineProperty(type.cls, MODULE_TYPE, { value: type.name });
}

/**
 * Registers a Module class so that saveModel can save it and loadModel rebuild it, under its
 * class name (or options.name). Its config() returns the constructor's arguments as JSON values
 * (an object; a `type` key in it is ignored); loading calls `Class.fromConfig(args)` when the class
 * has that static method (for a constructor with positional arguments), else `new Class(args)`.
 * A class whose constructor takes no arguments needs no config(). Registering the same class again
 * is a no-op; another class under a taken name is an error. Returns the class.
 *
 *   class MLP extends nn.Module {
 *     constructor(readonly sizes: { inputs: number; hidden: number; outputs: number }) { … }
 *     config() { return this.sizes; }
 *     forward(x: Tensor) { … }
 *   }
 *   registerModule(MLP);
 */
export function registerModule<C extends ModuleClass>(cls: C, options: { name?: string } = {}): C {
  if (typeof cls !== 'function' || !(cls.prototype instanceof Module)) fail('a class extending nn.Module', 'cls', cls);
  if (typeof options !== 'object' || options === null) fail('an options object', 'options', options);
  const name = options.name ?? cls.name;
  if (typeof name !== 'string' || !/^[A-Za-z_$][\w$.]*$/.test(name)) fail('a type name (letters, digits, _, $ and .)', 'options.name', name);
  const taken = TYPES.get(name);
  if (taken?.cls === cls) return cls;
  if (taken) {
    const what = BUILT_IN.includes(taken) ? 'a built-in layer' : `another class (${taken.cls.name})`;
    throw new Error(`Expected a free type name for registerModule(${cls.name}) but "${name}" names ${what}: pass { name } to register it under another name`);
  }
  if (Object.prototype.hasOwnProperty.call(cls, MODULE_TYPE)) {
    throw new Error(`Expected an unregistered class for registerModule but ${cls.name} is registered already, as "${(cls as any)[MODULE_TYPE]}"`);
  }
  Object.defineProperty(cls, MODULE_TYPE, { value: name });
  TYPES.set(name, {
    name,
    cls,
    build(config: Record<string, unknown>) {
      const { type: _type, ...args } = config;
      const built = typeof cls.fromConfig === 'function' ? cls.fromConfig(args) : Object.keys(args).length === 0 && cls.length === 0 ? new cls() : new cls(args);
      if (!(built instanceof cls)) throw new TypeError(`Expected ${name}.fromConfig to return a ${cls.name} but it returned ${describe(built)}`);
      return built;
    },
  });
  return cls;
}

/** The registered type names (built-in layers first). */
export function registeredModuleTypes(): string[] {
  return [...TYPES.keys()];
}

function unknownType(type: string): string {
  const custom = [...TYPES.keys()].filter((name) => !BUILT_IN.some((t) => t.name === name));
  return (
    `"${type}" is not a registered module type: a custom Module class must be registered before loading, ` +
    `with napinet.registerModule(${type}) (its config() gives its constructor's arguments). ` +
    `Registered: the built-in layers${custom.length ? ` and ${custom.join(', ')}` : ''}`
  );
}

export interface ArchitectureCheck {
  /** Parameter and buffer values the built-in layers of the tree declare (Infinity when overflowing). */
  values: number;
  /** Registered (custom) types in the tree, whose values are known only once built. */
  customTypes: string[];
}

/**
 * Checks an architecture tree without building anything: an object {type, …} at every node,
 * container fields that hold lists (ModuleDict: objects), at most MAX_ARCHITECTURE_DEPTH levels, no
 * cycles and, unless options.knownTypes is false, only registered types. Returns the values its
 * built-in layers declare. `where` prefixes errors (a file name); `path` names the root.
 */
export function checkArchitecture(config: unknown, where = '', options: { path?: string; knownTypes?: boolean } = {}): ArchitectureCheck {
  const prefix = where ? `${where}: ` : '';
  const knownTypes = options.knownTypes ?? true;
  const customTypes = new Set<string>();
  let values = 0;
  const ancestors = new Set<object>();
  const visit = (node: unknown, path: string, depth: number): void => {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) {
      throw new TypeError(`${prefix}Expected a layer object {type, …} for ${path} but received ${describe(node)}`);
    }
    if (ancestors.has(node)) throw new TypeError(`${prefix}${path} contains itself (a cycle)`);
    if (depth > MAX_ARCHITECTURE_DEPTH) throw new RangeError(`${prefix}${path} is nested ${depth} layers deep; napinet builds at most ${MAX_ARCHITECTURE_DEPTH}`);
    const c = node as Record<string, unknown>;
    if (typeof c.type !== 'string') throw new TypeError(`${prefix}Expected a layer type name for ${path}.type but received ${describe(c.type)}`);
    const type = TYPES.get(c.type);
    if (!type) {
      if (knownTypes) throw new TypeError(`${prefix}Expected a registered module type for ${path}.type but ${unknownType(c.type)}`);
      return;
    }
    if (!type.values) customTypes.add(type.name);
    else {
      const own = type.values(c);
      if (!Number.isNaN(own)) values += own; // Infinity too: refused by the caller
    }
    if (!type.children) return;
    const { field, keyed } = type.children;
    const children = c[field];
    const isRecord = typeof children === 'object' && children !== null && !Array.isArray(children);
    if (keyed ? !isRecord : !Array.isArray(children)) {
      throw new TypeError(`${prefix}Expected ${keyed ? 'an object of layers by name' : 'a list of layers'} for ${path}.${field} but received ${describe(children)}`);
    }
    ancestors.add(node);
    if (keyed) for (const [key, child] of Object.entries(children as object)) visit(child, `${path}.${field}.${key}`, depth + 1);
    else (children as unknown[]).forEach((child, i) => visit(child, `${path}.${field}[${i}]`, depth + 1));
    ancestors.delete(node);
  };
  visit(config, options.path ?? 'config', 1);
  return { values, customTypes: [...customTypes] };
}

/**
 * Builds the module `config` describes (configOf(module) / module.config() for built-in layers, as
 * saveModel stores it). The tree is checked first (checkArchitecture); an error while building names
 * the layer's path and type ("config.layers[1] (Linear): Expected an integer ≥ 1 for inFeatures …").
 */
export function buildModule(config: LayerConfig | Record<string, unknown>, options: { path?: string } = {}): Module {
  const root = options.path ?? 'config';
  checkArchitecture(config, '', { path: root });
  const build = (node: Record<string, unknown>, path: string): Module => {
    const type = TYPES.get(node.type as string)!;
    const field = type.children?.field;
    const child: BuildChild = (c, key) => build(c as Record<string, unknown>, typeof key === 'number' ? `${path}.${field}[${key}]` : `${path}.${field}.${key}`);
    try {
      return type.build(node, child);
    } catch (error) {
      if ((error as { builtAt?: string }).builtAt) throw error; // a child's error, already named
      const message = `${path} (${type.name}): ${(error as Error).message}`;
      throw Object.assign(new (error instanceof RangeError ? RangeError : TypeError)(message), { builtAt: path });
    }
  };
  return build(config as Record<string, unknown>, root);
}
