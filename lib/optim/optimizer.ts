/**
 * Optimizer base, after torch.optim.Optimizer (one parameter group): step() updates every
 * parameter from its gradient; zeroGrad() clears the gradients; lr is what schedulers change.
 * State (moment estimates, momentum buffers) lives on the parameters' device.
 */
import type { Parameter } from '../nn/module';
import { fillMany } from '../ops/fill';
import { keep } from '../memory';
import { Tensor } from '../tensor';
import { expectNumber } from '../validate';

/** An optimizer's state as stateDict() gives it: its type, learning rates, step count and per-parameter buffers as host arrays. */
export interface OptimizerState {
  type: string;
  lr: number;
  initialLr: number;
  steps: number;
  /** Per-parameter state tensors, in the order of the parameters, as host arrays. */
  buffers: Record<string, Float32Array | null>[];
}

/** One device's share of a step: the parameters, their values and gradients, and state tensors. */
export interface StepList {
  device: Tensor['device'];
  params: Parameter[];
  values: Tensor[];
  grads: Tensor[];
  /** state[k][i]: the k-th state tensor asked for (e.g. expAvg) of params[i]. */
  state: Tensor[][];
}

/** The base of the optimizers, after torch.optim.Optimizer with one parameter group: step() updates every parameter from its .grad, zeroGrad() clears the gradients, stateDict() / loadStateDict() save and restore. */
export abstract class Optimizer {
  readonly params: Parameter[];
  /** The learning rate of the next step (schedulers set it). */
  lr: number;
  /** The learning rate given at construction (schedulers start from it). */
  readonly initialLr: number;
  /** Number of step() calls so far. */
  steps = 0;
  protected readonly state: Map<Parameter, Record<string, Tensor | null>> = new Map();

  constructor(params: Iterable<Parameter>, lr: number) {
    this.params = [...params];
    if (this.params.length === 0) throw new RangeError('Expected at least one parameter for params but received none');
    this.lr = expectNumber(lr, 'lr', 0);
    this.initialLr = lr;
  }

  /** Updates every parameter from its gradient. */
  abstract step(): void;

  /** Zeroes every gradient: one native call per device (one GPU launch per 16 tensors). */
  zeroGrad(): void {
    for (const list of this.stepLists(this.listStateNames)) fillMany(list.grads, 0);
  }

  /**
   * The tensors of a step as one list per device (normally one), so a step makes one native call
   * per device. Kept between steps, so a step allocates nothing; rebuilt when a parameter's
   * tensors were replaced (Module.to(), a state loaded) or other state names are asked for (pass
   * the same array every time).
   */
  protected stepLists(stateNames: readonly string[]): StepList[] {
    if (!this.listsValid(stateNames)) {
      const byDevice = new Map<string, StepList>();
      for (const p of this.params) {
        let list = byDevice.get(p.device);
        if (!list) byDevice.set(p.device, (list = { device: p.device, params: [], values: [], grads: [], state: stateNames.map(() => []) }));
        list.params.push(p);
        list.values.push(p);
        list.grads.push(p.grad);
        stateNames.forEach((name, k) => list.state[k].push(this.buffer(p, name)));
      }
      this.lists = [...byDevice.values()];
      this.listStateNames = stateNames;
    }
    return this.lists;
  }

  private lists: StepList[] = [];
  private listStateNames: readonly string[] = [];

  private listsValid(stateNames: readonly string[]): boolean {
    if (stateNames !== this.listStateNames || this.lists.length === 0) return false;
    for (const list of this.lists) {
      for (let i = 0; i < list.params.length; i++) {
        const p = list.params[i];
        if (p.device !== list.device || p.grad !== list.grads[i]) return false;
        const entry = this.state.get(p);
        for (let k = 0; k < stateNames.length; k++) {
          if (entry?.[stateNames[k]] !== list.state[k][i]) return false;
        }
      }
    }
    return true;
  }

  /** The state tensor `name` of `param`, created as zeros on first use. */
  protected buffer(param: Parameter, name: string): Tensor {
    let entry = this.state.get(param);
    if (!entry) this.state.set(param, (entry = {}));
    let t = entry[name];
    if (!t || t.device !== param.device) {
      const fresh = keep(Tensor.zeros(param.shape, { device: param.device }));
      if (t) fresh.copyFrom(t);
      t?.dispose();
      entry[name] = t = fresh;
    }
    return t;
  }

  /** The optimizer's state (lr, step count, per-parameter buffers such as Adam's moments) as host arrays, for a checkpoint. */
  stateDict(): OptimizerState {
    return {
      type: this.constructor.name,
      lr: this.lr,
      initialLr: this.initialLr,
      steps: this.steps,
      buffers: this.params.map((p) => {
        const entry = this.state.get(p) ?? {};
        return Object.fromEntries(Object.entries(entry).map(([k, t]) => [k, t ? (t.toArray() as Float32Array) : null]));
      }),
    };
  }

  /** Restores stateDict()'s values; refuses another optimizer's state or mismatched shapes. */
  loadStateDict(state: OptimizerState): void {
    if (state.type !== this.constructor.name) {
      throw new TypeError(`Expected a ${this.constructor.name} state for loadStateDict but received a ${state.type} state`);
    }
    if (state.buffers.length !== this.params.length) {
      throw new RangeError(`Expected state for ${this.params.length} parameters but received ${state.buffers.length}`);
    }
    this.lr = state.lr;
    this.steps = state.steps;
    state.buffers.forEach((entry, i) => {
      for (const [name, values] of Object.entries(entry)) {
        if (values) this.buffer(this.params[i], name).copyFrom(values);
      }
    });
  }
}
