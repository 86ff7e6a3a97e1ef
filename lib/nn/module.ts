/**
 * Module: the base of every layer and model, after torch.nn.Module.
 *
 * A module has forward(x) and backward(dy) → dx, and owns its parameters and their gradients.
 * Gradients accumulate into Parameter.grad as in PyTorch (optimizer.zeroGrad() clears them).
 * backward() must follow the forward() whose input it differentiates; a module keeps what backward
 * needs (its input, argmax indices, …) from that forward.
 *
 * Output tensors are reused by the next forward call of the same module (no allocation in a
 * training step): copy an output (toArray()) to keep it past the next call.
 */
import { resolveDevice, type Device, type DeviceSpec } from '../device';
import { fill } from '../ops/fill';
import type { Generator } from '../random';
import { Tensor } from '../tensor';
import { expectBoolean } from '../validate';
import { defaultLayerInit } from './init';

export class Parameter {
  value: Tensor;
  grad: Tensor;

  constructor(value: Tensor) {
    this.value = value;
    this.grad = Tensor.zeros(value.shape, { device: value.device });
  }

  get shape(): readonly number[] {
    return this.value.shape;
  }

  /** Moves value and gradient to `device`. */
  to(device: Device): void {
    if (this.value.device === device) return;
    const value = this.value.to(device);
    const grad = this.grad.to(device);
    this.value.dispose();
    this.grad.dispose();
    this.value = value;
    this.grad = grad;
  }
}

/** A layer's description for saving and rebuilding the architecture (see nn/registry.ts). */
export interface LayerConfig {
  type: string;
  [key: string]: unknown;
}

export abstract class Module {
  training = true;
  /** Whether backward() computes dx. Sequential sets it per child; the first layer needs none. */
  inputGrad = true;
  protected readonly ownParameters = new Map<string, Parameter>();
  protected readonly ownBuffers = new Map<string, Tensor>();
  protected readonly children = new Map<string, Module>();
  /** Outputs and saved tensors reused from one call to the next. */
  protected readonly workspace = new Workspace();
  private currentDevice: Device = 'cpu';

  abstract forward(x: Tensor): Tensor;
  abstract backward(dy: Tensor): Tensor | null;
  /** The output shape for an input of shape `input` (batch dimension included). */
  abstract outputShape(input: readonly number[]): number[];
  /** Constructor arguments, enough to rebuild this module (parameters excluded). */
  abstract config(): LayerConfig;

  get device(): Device {
    return this.currentDevice;
  }

  /**
   * Whether a training step through this module can be recorded once as a CUDA graph and replayed
   * (fit's cudaGraph option): true unless it, or a child, does host-side work that must change from
   * step to step (Dropout draws a new mask seed each training forward).
   */
  get capturable(): boolean {
    for (const child of this.children.values()) if (!child.capturable) return false;
    return true;
  }

  /** Parameters by their PyTorch state_dict names ("0.weight", "3.bias", …). */
  namedParameters(prefix = ''): [string, Parameter][] {
    const out: [string, Parameter][] = [];
    for (const [name, p] of this.ownParameters) out.push([prefix + name, p]);
    for (const [name, child] of this.children) out.push(...child.namedParameters(`${prefix}${name}.`));
    return out;
  }

  parameters(): Parameter[] {
    return this.namedParameters().map(([, p]) => p);
  }

  /** Non-trainable state (BatchNorm running statistics) by state_dict name. */
  namedBuffers(prefix = ''): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [name, b] of this.ownBuffers) out.push([prefix + name, b]);
    for (const [name, child] of this.children) out.push(...child.namedBuffers(`${prefix}${name}.`));
    return out;
  }

  /** Number of trainable values. */
  parameterCount(): number {
    return this.parameters().reduce((n, p) => n + p.value.size, 0);
  }

  train(mode = true): this {
    this.training = mode;
    for (const child of this.children.values()) child.train(mode);
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Moves parameters and buffers to `device` ('auto' picks CUDA when usable). */
  to(device: DeviceSpec): this {
    const target = resolveDevice(device);
    for (const p of this.ownParameters.values()) p.to(target);
    for (const [name, b] of this.ownBuffers) {
      if (b.device !== target) {
        this.ownBuffers.set(name, b.to(target));
        b.dispose();
      }
    }
    for (const child of this.children.values()) child.to(target);
    this.releaseWorkspace();
    this.currentDevice = target;
    return this;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) fill(p.grad, 0);
  }

  /** Frees GPU memory held by parameters, buffers and cached outputs. */
  dispose(): void {
    for (const p of this.ownParameters.values()) {
      p.value.dispose();
      p.grad.dispose();
    }
    for (const b of this.ownBuffers.values()) b.dispose();
    for (const child of this.children.values()) child.dispose();
    this.releaseWorkspace();
  }

  /** Drops cached outputs (they are reallocated on the next forward). */
  protected releaseWorkspace(): void {
    this.workspace.release();
  }

  protected addParameter(name: string, value: Tensor): Parameter {
    const p = new Parameter(value);
    this.ownParameters.set(name, p);
    return p;
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
    return { weight: this.addParameter('weight', weight), bias: bias ? this.addParameter('bias', bias) : null };
  }

  /**
   * Where the backward op of such a layer writes, given its saved input x: the weight and bias
   * gradients accumulate into their Parameter.grad (as PyTorch's), dx goes to the workspace when
   * inputGrad is set, and is skipped otherwise.
   */
  protected weightGradients(x: Tensor, weight: Parameter, bias: Parameter | null) {
    const dx = this.inputGrad ? this.workspace.get('dx', x.shape, x.device) : undefined;
    return { inputGrad: this.inputGrad, biasGrad: bias !== null, accumulate: true, out: { dx, dw: weight.grad, db: bias?.grad ?? null } };
  }

  protected addBuffer(name: string, value: Tensor): void {
    this.ownBuffers.set(name, value);
  }

  protected buffer(name: string): Tensor {
    return this.ownBuffers.get(name)!;
  }

  protected addChild(name: string, module: Module): void {
    this.children.set(name, module);
  }

  /** Throws unless a forward() has run since construction / the last device move. */
  protected saved<T>(value: T | undefined, what: string): T {
    if (value === undefined) throw new Error(`${this.constructor.name}.backward() needs a forward() first (no saved ${what})`);
    return value;
  }
}

/**
 * Tensors a module reuses between calls: get(key, shape, device) returns the same tensor while
 * shape and device stay the same, so steady-state training allocates nothing.
 */
export class Workspace {
  private readonly tensors = new Map<string, Tensor>();

  get(key: string, shape: readonly number[], device: Device, dtype: 'float32' | 'int32' = 'float32'): Tensor {
    const existing = this.tensors.get(key);
    if (existing && existing.device === device && existing.dtype === dtype && sameShape(existing.shape, shape)) return existing;
    existing?.dispose();
    const fresh = Tensor.zeros(shape, { device, dtype });
    this.tensors.set(key, fresh);
    return fresh;
  }

  release(): void {
    for (const t of this.tensors.values()) t.dispose();
    this.tensors.clear();
  }
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}
