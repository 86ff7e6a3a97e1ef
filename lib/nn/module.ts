/**
 * Module: the base of every layer and model, after torch.nn.Module.
 *
 * A subclass needs only forward(). Child modules, parameters (nn.Parameter) and buffers
 * (nn.Buffer) kept in fields, in arrays of them (or nn.ModuleList) and in plain objects of them
 * (or nn.ModuleDict) are found without registration, under PyTorch's state_dict names: the field
 * name, then ".index" or ".key" ("fc1.weight", "blocks.0.conv.weight"). A module, parameter or
 * buffer reachable twice counts once, under its first name. registerModule / registerParameter /
 * registerBuffer name one explicitly (Sequential's "0", "1", …; BatchNorm's "running_mean").
 *
 * Gradients: recorded forward passes are differentiated by autograd (loss.backward()). Built-in
 * layers also keep the chapter's explicit style: forward(x) keeps what backward(dy) → dx needs,
 * and backward accumulates into each parameter's .grad as PyTorch does. Inside explicit() a
 * built-in layer writes its output into a buffer it reuses on its next forward (no allocation in
 * a training step): copy an output (toArray()) to keep it past the next call.
 */
import { currentExplicitPass, explicitInference, isExplicitMode, noGrad } from '../autograd/grad_mode';
import { resolveDevice, type Device, type DeviceSpec } from '../device';
import { keep, tidy } from '../memory';
import { fillMany } from '../ops/fill';
import type { Generator } from '../random';
import { Tensor } from '../tensor';
import { expectBoolean, fail } from '../validate';
import { defaultLayerInit } from './init';
import './methods';

/**
 * A tensor that is a module's learnable parameter: requiresGrad by default, found by the module's
 * parameters(), and never freed by a tidy() scope. Its .grad is allocated with it (zeros) and
 * accumulates until zeroGrad().
 */
export class Parameter extends Tensor {
  declare grad: Tensor;

  constructor(data: Tensor, requiresGrad = true) {
    if (!(data instanceof Tensor)) fail('a Tensor', 'data', data);
    super(data.shape, data.storage);
    keep(this);
    this.requiresGrad = requiresGrad;
    this.grad = keep(Tensor.zeros(data.shape, { device: data.device }));
  }

  /** @internal Moves value and gradient to `device` in place (Module.to). */
  moveTo(device: Device): void {
    if (this.device === device) return;
    this.replaceStorage(device);
    const grad = this.grad.copyToDevice(device);
    this.grad.dispose();
    this.grad = keep(grad);
  }
}

/**
 * A tensor that is part of a module's state but not learned (BatchNorm's running statistics),
 * after torch.nn.Buffer: found by buffers(), saved in the state dict (unless persistent is false),
 * moved by to(), never freed by a tidy() scope.
 */
export class Buffer extends Tensor {
  readonly persistent: boolean;

  constructor(data: Tensor, options: { persistent?: boolean } = {}) {
    if (!(data instanceof Tensor)) fail('a Tensor', 'data', data);
    super(data.shape, data.storage);
    keep(this);
    this.persistent = options.persistent ?? true;
  }

  /** @internal Moves the values to `device` in place (Module.to). */
  moveTo(device: Device): void {
    if (this.device !== device) this.replaceStorage(device);
  }
}

/**
 * A module's description for saving and rebuilding it (nn/registry.ts): its type name and its
 * constructor's arguments, JSON values only. Containers hold their children's configs.
 */
export interface LayerConfig {
  type: string;
  [key: string]: unknown;
}

/**
 * The static property naming the type a class is saved under: set by registerModule() (and for
 * the built-in layers by nn/registry.ts). A class has it as its own property only when it is
 * registered itself; a subclass inherits it but is not registered.
 */
export const MODULE_TYPE: unique symbol = Symbol('napinet module type');

/**
 * The saved description of `module`: {type, ...its config()}. A registered class is saved under
 * its registered name (its config() gives the constructor's arguments, with or without `type`);
 * a built-in layer's config() already names its type. Throws, saying how to fix it, for a class
 * loadModel could not rebuild: an unregistered one, including a subclass of a built-in layer
 * (saved as its parent, its own forward would be lost).
 */
export function configOf(module: Module): LayerConfig {
  const cls = module.constructor as { name: string; length: number; [MODULE_TYPE]?: string };
  const own = Object.prototype.hasOwnProperty.call(cls, MODULE_TYPE) ? cls[MODULE_TYPE] : undefined;
  const how = `call napinet.registerModule(${cls.name}) once before saving or loading (its config() returns its constructor's arguments)`;
  if (own === undefined && cls[MODULE_TYPE] !== undefined) {
    throw new TypeError(`Expected a registered module class for saving but ${cls.name} extends ${cls[MODULE_TYPE]} without being registered itself: ${how}`);
  }
  if (typeof module.config !== 'function') {
    if (own !== undefined && cls.length === 0) return { type: own };
    throw new TypeError(
      own !== undefined
        ? `Expected ${cls.name} to have config() (its constructor takes arguments) but it has none: return them from config()`
        : `Expected a registered module class for saving but ${cls.name} is not registered: ${how}`,
    );
  }
  const config = module.config() as LayerConfig;
  if (typeof config !== 'object' || config === null || Array.isArray(config)) fail('an object from config()', `${cls.name}.config()`, config);
  if (own === undefined) return config;
  const { type: _given, ...args } = config;
  return { type: own, ...args };
}

type Member = Module | Parameter | Buffer;

/** The base of every layer and model, as torch.nn.Module: subclass it and write forward(). Child modules, Parameters and Buffers kept in fields (or arrays, plain objects, ModuleList, ModuleDict) are found under PyTorch's state_dict names, for parameters(), to(device), train()/eval(), stateDict() and saveModel. */
export abstract class Module {
  training = true;
  /** Explicit style: whether backward() computes dx. Sequential sets it per child; the first layer needs none. */
  inputGrad = true;
  /** Outputs and saved tensors reused from one call to the next inside explicit(). */
  protected readonly workspace = new Workspace();
  private readonly registered = new Map<string, Member | null>();
  private currentDevice: Device = 'cpu';

  /** The computation. Inputs and outputs are whatever the subclass chooses (usually tensors). */
  abstract forward(...inputs: any[]): any;

  /**
   * The chapter's explicit backward: dL/dinput from dL/doutput of the last forward(), accumulating
   * parameter gradients. Built-in layers and Sequential have one; a module written with forward()
   * alone is differentiated by autograd instead (call backward() on the loss).
   */
  backward(_dy: Tensor): Tensor | null {
    throw new Error(
      `${this.constructor.name} has no explicit backward(dy): it is differentiated by autograd. ` +
        'Call backward() on the loss computed from its output (fit() does this).',
    );
  }

  /** Whether this module and every child has an explicit backward (fit() then trains it in explicit()). */
  get hasExplicitBackward(): boolean {
    if (Object.getPrototypeOf(this).backward === Module.prototype.backward) return false;
    return this.children().every((c) => c.hasExplicitBackward);
  }

  /**
   * Runs fn (forward passes of this module, no gradients) the cheapest way it allows: in
   * explicitInference() when every layer has an explicit backward (built-in layers reuse their
   * buffers: nothing is allocated; an eval-mode Conv2d → BatchNorm2d runs as one convolution),
   * else under noGrad() inside tidy() (the call's tensors are freed when it returns, except those
   * it returns). Its forwards cannot be differentiated with backward(dy).
   */
  inference<T>(fn: () => T): T {
    return this.inferenceScope()(fn);
  }

  /**
   * The scope inference() runs its function in, chosen from the module's structure as it is now
   * (a Predictor takes it once: choosing it walks every child).
   */
  inferenceScope(): <T>(fn: () => T) => T {
    return this.hasExplicitBackward ? explicitInference : inferenceThroughTape;
  }

  /** The output shape for an input of shape `input` (batch dimension included), where the module knows it. */
  outputShape?(input: readonly number[]): number[];

  /**
   * The constructor's arguments (JSON values), enough to rebuild this module with its parameters'
   * shapes (saveModel; see registerModule). Built-in layers include their `type`. Typed as
   * `object` so that a user's options interface (which has no index signature) can be returned.
   */
  config?(): object;

  get device(): Device {
    return this.currentDevice;
  }

  /**
   * Whether a training step through this module can be recorded once as a CUDA graph and replayed
   * (fit's cudaGraph option): true unless it, or a child, does host-side work that must change from
   * step to step (Dropout draws a new mask seed each training forward).
   */
  get capturable(): boolean {
    return this.children().every((c) => c.capturable);
  }

  // -------------------------------------------------------------------------------------------
  // Registration and discovery
  // -------------------------------------------------------------------------------------------

  /** Adds a child module under `name` (PyTorch's add_module / register_module). */
  registerModule(name: string, module: Module | null): void {
    if (module !== null && !(module instanceof Module)) fail('a Module or null', `module ${name}`, module);
    this.register(name, module);
  }

  /** Adds a parameter under `name` (PyTorch's register_parameter). */
  registerParameter(name: string, parameter: Parameter | null): void {
    if (parameter !== null && !(parameter instanceof Parameter)) fail('a Parameter or null', `parameter ${name}`, parameter);
    this.register(name, parameter);
  }

  /** Adds a buffer under `name` (PyTorch's register_buffer); a plain tensor is wrapped in a Buffer. */
  registerBuffer(name: string, tensor: Tensor | null, options: { persistent?: boolean } = {}): Buffer | null {
    if (tensor !== null && !(tensor instanceof Tensor)) fail('a Tensor or null', `buffer ${name}`, tensor);
    const b = tensor === null || tensor instanceof Buffer ? tensor : new Buffer(tensor, options);
    this.register(name, b);
    return b;
  }

  private register(name: string, member: Member | null): void {
    if (typeof name !== 'string' || name === '' || name.includes('.')) fail('a non-empty name without "."', 'name', name);
    this.registered.set(name, member);
  }

  /**
   * This module's own members by name, registered ones first, then those found in fields: a
   * Module, Parameter or Buffer, or arrays and plain objects holding them (named by index or key).
   */
  private *ownMembers(): IterableIterator<[string, Member]> {
    for (const [name, m] of this.registered) if (m) yield [name, m];
    for (const [field, value] of Object.entries(this)) {
      if (field === 'registered' || field === 'workspace') continue;
      yield* membersIn(field, value, 0);
    }
  }

  /** Direct children by name (each once). */
  namedChildren(): [string, Module][] {
    const seen = new Set<Module>();
    const out: [string, Module][] = [];
    for (const [name, m] of this.ownMembers()) {
      if (m instanceof Module && !seen.has(m) && m !== this) {
        seen.add(m);
        out.push([name, m]);
      }
    }
    return out;
  }

  /** Direct children (each once), in the order they were assigned. */
  children(): Module[] {
    return this.namedChildren().map(([, m]) => m);
  }

  /** This module and every descendant, by dotted name ('' for this one), each once. */
  namedModules(prefix = '', seen = new Set<Module>()): [string, Module][] {
    if (seen.has(this)) return [];
    seen.add(this);
    const out: [string, Module][] = [[prefix, this]];
    for (const [name, child] of this.namedChildren()) out.push(...child.namedModules(prefix ? `${prefix}.${name}` : name, seen));
    return out;
  }

  /** This module and every descendant, each once (see namedModules). */
  modules(): Module[] {
    return this.namedModules().map(([, m]) => m);
  }

  /** Parameters by their PyTorch state_dict names ("0.weight", "fc1.bias", …), each once. */
  namedParameters(prefix = ''): [string, Parameter][] {
    return this.namedMembers(prefix, (m): m is Parameter => m instanceof Parameter);
  }

  /** Every trainable parameter, each once (what an optimizer takes). */
  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Buffers (BatchNorm running statistics, …) by state_dict name, each once. */
  namedBuffers(prefix = ''): [string, Buffer][] {
    return this.namedMembers(prefix, (m): m is Buffer => m instanceof Buffer);
  }

  /** Every buffer (BatchNorm running statistics, …), each once. */
  buffers(): Buffer[] {
    return this.namedBuffers().map(([, b]) => b);
  }

  private namedMembers<T extends Member>(prefix: string, want: (m: Member) => m is T): [string, T][] {
    const seen = new Set<Member>();
    const out: [string, T][] = [];
    for (const [path, module] of this.namedModules(prefix.replace(/\.$/, ''))) {
      for (const [name, m] of module.ownMembers()) {
        if (want(m) && !seen.has(m)) {
          seen.add(m);
          out.push([path ? `${path}.${name}` : name, m]);
        }
      }
    }
    return out;
  }

  /**
   * PyTorch's repr: the class name, then each child as "(name): child" on its own line (built-in
   * layers print their arguments instead, as torch does).
   */
  toString(): string {
    const children = this.namedChildren();
    if (children.length === 0) return `${this.constructor.name}()`;
    const rows = children.map(([name, child]) => `  (${name}): ${String(child).split('\n').join('\n  ')}`);
    return `${this.constructor.name}(\n${rows.join('\n')}\n)`;
  }

  /** Number of trainable values. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.size, 0);
  }

  /**
   * The parameters and persistent buffers by state_dict name (the tensors themselves, as
   * PyTorch's state_dict(); copy them with toArray() to keep a snapshot).
   */
  stateDict(): Record<string, Tensor> {
    const out: Record<string, Tensor> = {};
    for (const [name, p] of this.namedParameters()) out[name] = p;
    for (const [name, b] of this.namedBuffers()) if (b.persistent) out[name] = b;
    return out;
  }

  /**
   * Copies `state` (tensors or host arrays by state_dict name) into the parameters and buffers, in
   * place. strict (default): the names must match exactly. Shapes must always match.
   */
  loadStateDict(state: Record<string, Tensor | Float32Array | { shape: readonly number[]; data: Float32Array }>, options: { strict?: boolean } = {}): void {
    if (typeof state !== 'object' || state === null) fail('an object of tensors by name', 'state', state);
    const targets = this.stateDict();
    const missing = Object.keys(targets).filter((k) => !(k in state));
    const unexpected = Object.keys(state).filter((k) => !(k in targets));
    if ((options.strict ?? true) && (missing.length || unexpected.length)) {
      throw new Error(`state dict does not match the model: missing [${missing.join(', ')}], unexpected [${unexpected.join(', ')}]`);
    }
    const loads: [Tensor, Tensor | Float32Array][] = [];
    for (const [name, target] of Object.entries(targets)) {
      const given: unknown = state[name];
      if (given === undefined) continue;
      const entry = `state[${JSON.stringify(name)}]`;
      let values: Tensor | Float32Array;
      let shape: readonly number[] | null;
      if (given instanceof Tensor) [values, shape] = [given, given.shape];
      else if (given instanceof Float32Array) [values, shape] = [given, null];
      else if (typeof given === 'object' && given !== null && Array.isArray((given as { shape?: unknown }).shape) && (given as { data?: unknown }).data instanceof Float32Array) {
        [values, shape] = [(given as { data: Float32Array }).data, (given as { shape: number[] }).shape];
      } else {
        fail('a Tensor, a Float32Array or {shape, data: Float32Array}', entry, given);
      }
      if (shape && (shape.length !== target.shape.length || shape.some((d, i) => d !== target.shape[i]))) {
        throw new RangeError(`Expected shape [${target.shape.join(', ')}] for ${name} but received [${shape.join(', ')}]`);
      }
      const count = values instanceof Tensor ? values.size : values.length;
      if (count !== target.size) throw new RangeError(`Expected ${target.size} values for ${name} but received ${count}`);
      loads.push([target, values]);
    }
    for (const [target, values] of loads) target.copyFrom(values);
  }

  // -------------------------------------------------------------------------------------------
  // Modes, devices, gradients
  // -------------------------------------------------------------------------------------------

  /** Sets training mode (Dropout active, BatchNorm on batch statistics) on this module and every child; returns this. */
  train(mode = true): this {
    this.training = mode;
    for (const child of this.children()) child.train(mode);
    return this;
  }

  /** Sets evaluation mode (Dropout the identity, BatchNorm on running statistics): train(false). */
  eval(): this {
    return this.train(false);
  }

  /** Moves parameters and buffers to `device` in place ('cuda' is cuda:0; 'auto' picks it when usable). */
  to(device: DeviceSpec): this {
    const target = resolveDevice(device);
    for (const m of this.modules()) {
      for (const [, member] of m.ownMembers()) if (!(member instanceof Module)) member.moveTo(target);
      m.releaseWorkspace();
      m.currentDevice = target;
    }
    return this;
  }

  /** Zeroes every parameter's gradient (one native call per device). */
  zeroGrad(): void {
    const grads = this.parameters().map((p) => p.grad);
    for (const device of new Set(grads.map((g) => g.device))) fillMany(grads.filter((g) => g.device === device), 0);
  }

  /** Frees GPU memory held by parameters, buffers and cached outputs. */
  dispose(): void {
    for (const m of this.modules()) {
      for (const [, member] of m.ownMembers()) {
        if (member instanceof Parameter) member.grad.dispose();
        if (!(member instanceof Module)) member.dispose();
      }
      m.releaseWorkspace();
    }
  }

  /** Drops cached outputs (they are reallocated on the next forward). */
  protected releaseWorkspace(): void {
    this.workspace.release();
  }

  /**
   * An output tensor for this call: inside explicit() the workspace's buffer `key` (reused from call
   * to call), otherwise new memory (autograd and callers may keep every result).
   */
  protected outputBuffer(key: string, shape: readonly number[], device: Device, dtype: 'float32' | 'int32' = 'float32'): Tensor {
    return isExplicitMode() ? this.workspace.get(key, shape, device, dtype) : Tensor.empty(shape, { device, dtype });
  }

  /**
   * Registers 'weight' (of `weightShape`, output features first) and, unless options.bias is false,
   * 'bias' [weightShape[0]], initialised as PyTorch initialises Linear and Conv layers
   * (init.defaultLayerInit: the weight first, then the bias, from options.generator).
   */
  protected addWeightAndBias(weightShape: number[], options: { bias?: boolean; generator?: Generator }): { weight: Parameter; bias: Parameter | null } {
    const hasBias = expectBoolean(options.bias ?? true, 'bias');
    const weight = Tensor.zeros(weightShape);
    const bias = hasBias ? Tensor.zeros([weightShape[0]]) : null;
    defaultLayerInit(weight, bias, options.generator);
    const parameters = { weight: new Parameter(weight), bias: bias ? new Parameter(bias) : null };
    this.registerParameter('weight', parameters.weight);
    this.registerParameter('bias', parameters.bias);
    return parameters;
  }

  /**
   * Where the explicit backward op of such a layer writes, given its saved input x: the weight and
   * bias gradients accumulate into their Parameter.grad (as PyTorch's), dx goes to an output
   * buffer when inputGrad is set, and is skipped otherwise.
   */
  protected weightGradients(x: Tensor, weight: Parameter, bias: Parameter | null) {
    const dx = this.inputGrad ? this.outputBuffer('dx', x.shape, x.device) : undefined;
    return { inputGrad: this.inputGrad, biasGrad: bias !== null, accumulate: true, out: { dx, dw: weight.grad, db: bias?.grad ?? null } };
  }

  // -------------------------------------------------------------------------------------------
  // The explicit style's saved state
  // -------------------------------------------------------------------------------------------

  private pendingForwards = 0;
  private lastPass = -1;
  /** Whether the last forward was recorded (not explicit): the explicit state is an older call's. */
  private explicitStateStale = false;

  /**
   * Called by a built-in layer's recorded forward (outside explicit()) with its result: the state
   * its explicit backward keeps belongs to an earlier forward, so backward(dy) must now refuse
   * rather than differentiate that one.
   */
  protected recordedForward<T>(result: T): T {
    this.explicitStateStale = true;
    this.pendingForwards = 0;
    return result;
  }

  /**
   * Called by a built-in layer's forward when it keeps state for backward(dy): counts the training
   * forwards of one explicit() pass, so that backward can refuse to differentiate a layer applied
   * twice in one computation (its state is the last call's only). Separate passes (calling the
   * model again) start the count anew: backward then differentiates the last one.
   */
  protected savedForBackward(): void {
    this.explicitStateStale = false;
    if (!this.training) return;
    const pass = currentExplicitPass();
    this.pendingForwards = pass === this.lastPass ? this.pendingForwards + 1 : 1;
    this.lastPass = pass;
  }

  /**
   * Throws unless a forward() has run since construction / the last device move, and unless the
   * layer was applied only once since its last backward; `value` is the saved state.
   */
  protected saved<T>(value: T | undefined, what: string): T {
    if (value === undefined || this.explicitStateStale) {
      const why = value === undefined ? `no saved ${what}` : 'the last forward() was recorded by autograd, not run inside explicit()';
      throw new Error(
        `${this.constructor.name}.backward() needs a forward() first (${why}): run the forward inside explicit() ` +
          '(the explicit style), or differentiate a recorded forward with backward() on the loss',
      );
    }
    if (this.pendingForwards > 1) {
      const n = this.pendingForwards;
      this.pendingForwards = 0;
      throw new Error(
        `${this.constructor.name}.backward(dy) differentiates the last forward() only, but the layer was applied ${n} times ` +
          'in one explicit() pass: its gradient would be wrong. Differentiate with autograd (loss.backward()) instead.',
      );
    }
    return value;
  }

  /** Called at the end of a built-in layer's backward: its forward is consumed. */
  protected consumedByBackward(): void {
    this.pendingForwards = 0;
  }
}

/**
 * Modules in a list, after torch.nn.ModuleList: children named "0", "1", … (a plain array field of
 * modules is found the same way; this class adds append() and PyTorch's name). No forward of its
 * own: a parent module iterates over it.
 */
export class ModuleList extends Module implements Iterable<Module> {
  private readonly items: Module[] = [];

  constructor(modules: Iterable<Module> = []) {
    super();
    for (const m of modules) this.append(m);
  }

  /** Adds `module` at the end; returns this. */
  append(module: Module): this {
    this.registerModule(String(this.items.length), module);
    this.items.push(module);
    return this;
  }

  get length(): number {
    return this.items.length;
  }

  /** The module at `index` (negative counts from the end). */
  at(index: number): Module | undefined {
    return this.items.at(index);
  }

  /** The modules in order. */
  [Symbol.iterator](): Iterator<Module> {
    return this.items[Symbol.iterator]();
  }

  forward(): never {
    throw new Error('ModuleList has no forward(): call its modules from the forward() of the module that holds it');
  }

  override config(): LayerConfig {
    return { type: 'ModuleList', modules: this.items.map(configOf) };
  }
}

/** Modules by name, after torch.nn.ModuleDict: children named by their keys. */
export class ModuleDict extends Module {
  private readonly items = new Map<string, Module>();

  constructor(modules: Record<string, Module> = {}) {
    super();
    for (const [key, m] of Object.entries(modules)) this.set(key, m);
  }

  /** Adds or replaces the module under `key`; returns this. */
  set(key: string, module: Module): this {
    this.registerModule(key, module);
    this.items.set(key, module);
    return this;
  }

  /** The module under `key`, or undefined. */
  get(key: string): Module | undefined {
    return this.items.get(key);
  }

  /** The keys, in insertion order. */
  keys(): string[] {
    return [...this.items.keys()];
  }

  /** [key, module] pairs, in insertion order. */
  entries(): [string, Module][] {
    return [...this.items.entries()];
  }

  forward(): never {
    throw new Error('ModuleDict has no forward(): call its modules from the forward() of the module that holds it');
  }

  override config(): LayerConfig {
    return { type: 'ModuleDict', modules: Object.fromEntries([...this.items].map(([key, m]) => [key, configOf(m)])) };
  }
}

/**
 * `module`, after checking it has the optional method outputShape(): composite layers that need
 * it of their children say which child lacks it.
 */
export function describedLayer(module: Module, what: 'outputShape'): Module {
  if (typeof module[what] !== 'function') {
    throw new TypeError(`Expected a module with ${what}() but received ${module.constructor.name}, which has none: give it outputShape(input) to describe it`);
  }
  return module;
}

function membersIn(name: string, value: unknown, depth: number): [string, Member][] {
  if (value instanceof Module || value instanceof Parameter || value instanceof Buffer) return [[name, value]];
  if (depth > 4 || value === null || typeof value !== 'object') return [];
  if (Array.isArray(value)) return value.flatMap((v, i) => membersIn(`${name}.${i}`, v, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return [];
  return Object.entries(value).flatMap(([k, v]) => membersIn(`${name}.${k}`, v, depth + 1));
}

/**
 * Tensors a module reuses between calls: get(key, shape, device) returns the same tensor while
 * shape and device stay the same, so steady-state explicit training allocates nothing. They are
 * long-lived: no tidy() scope frees them.
 */
export class Workspace {
  private readonly tensors = new Map<string, Tensor>();
  /** Views of other tensors' memory (not owned: release() forgets them without freeing). */
  private readonly views = new Map<string, Tensor>();

  /** The tensor kept under `key`, reallocated (zeros) only when its shape, device or dtype changes. */
  get(key: string, shape: readonly number[], device: Device, dtype: 'float32' | 'int32' = 'float32'): Tensor {
    const existing = this.tensors.get(key);
    if (existing && existing.device === device && existing.dtype === dtype && sameShape(existing.shape, shape)) return existing;
    existing?.dispose();
    const fresh = keep(Tensor.zeros(shape, { device, dtype }));
    this.tensors.set(key, fresh);
    return fresh;
  }

  /**
   * source.viewAs(shape), kept under `key` and returned again while it still views source's
   * memory with that shape: an explicit forward that reshapes its reused input (Flatten) then
   * makes no new tensor per call.
   */
  view(key: string, source: Tensor, shape: readonly number[]): Tensor {
    const existing = this.views.get(key);
    if (existing && existing.storage === source.storage && !existing.disposed && sameShape(existing.shape, shape)) return existing;
    const fresh = source.viewAs(shape);
    this.views.set(key, fresh);
    return fresh;
  }

  /** Frees every tensor kept here (and forgets the views). */
  release(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
    this.views.clear();
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** A forward pass of a module without explicit backward: no tape, its temporaries freed on return. */
function inferenceThroughTape<T>(fn: () => T): T {
  return noGrad(() => tidy(fn));
}
