/**
 * Concat: branches run on the same input, their outputs joined along the channels (dim 1), as the
 * chapter's Concat layer (an Inception-style block). In PyTorch terms it is a module holding
 * `self.branches = nn.ModuleList([...])` whose forward is torch.cat([b(x) for b in self.branches],
 * dim=1); parameters are therefore named "branches.0.weight", "branches.1.0.bias", … as in that
 * module's state_dict. Ops: lib/ops/concat.ts.
 *
 * backward(dy) splits dy along the channels, runs each branch's backward on its part (every
 * branch's parameter gradients accumulate), and returns the SUM of the branches' input gradients,
 * since every branch saw the same input. All on the device: channel copies and one addition.
 */
import { cat } from '../autograd/functional';
import { isExplicitMode } from '../autograd/grad_mode';
import { addInto, concat, concatOutputShape, splitChannels } from '../ops/concat';
import type { Tensor } from '../tensor';
import { configOf, describedLayer, type LayerConfig, Module } from './module';

/** Branches run on the same input, their outputs joined along the channels (dim 1): an Inception-style block, as torch.cat([b(x) for b in branches], 1). Parameters are named "branches.0.weight", …. */
export class Concat extends Module {
  readonly branches: readonly Module[];
  private outputChannels: number[] | undefined;

  constructor(...branches: Module[]) {
    super();
    if (branches.length === 0) throw new TypeError('Expected at least one Module for branches but received none');
    branches.forEach((branch, i) => {
      if (!(branch instanceof Module)) throw new TypeError(`Expected a Module for branches[${i}] but received ${typeof branch}`);
    });
    this.branches = branches;
  }

  forward(x: Tensor): Tensor {
    const outputs = this.branches.map((branch) => branch.forward(x));
    const shape = concatOutputShape(outputs.map((o) => o.shape));
    if (!isExplicitMode()) return this.recordedForward(cat(outputs, 1));
    this.outputChannels = outputs.map((o) => o.shape[1]);
    this.savedForBackward();
    return concat(outputs, this.workspace.get('y', shape, x.device));
  }

  override backward(dy: Tensor): Tensor | null {
    const channels = this.saved(this.outputChannels, 'output channels');
    this.consumedByBackward();
    const parts = splitChannels(
      dy,
      channels,
      channels.map((c, i) => this.workspace.get(`dy.${i}`, [dy.shape[0], c, ...dy.shape.slice(2)], dy.device)),
    );
    let dx: Tensor | null = null;
    this.branches.forEach((branch, i) => {
      branch.inputGrad = this.inputGrad;
      const g = branch.backward(parts[i]);
      if (!this.inputGrad || g === null) return;
      if (dx === null) {
        // A copy of the first branch's dx: the branch may return a view of its dy (e.g. Flatten).
        dx = this.workspace.get('dx', g.shape, g.device);
        splitChannels(g, [g.shape[1]], [dx]);
      } else {
        addInto(dx, g);
      }
    });
    return dx;
  }

  override outputShape(input: readonly number[]): number[] {
    return concatOutputShape(this.branches.map((branch) => describedLayer(branch, 'outputShape').outputShape!(input)));
  }

  override config(): LayerConfig {
    return { type: 'Concat', branches: this.branches.map(configOf) };
  }

  override toString(): string {
    const lines = this.branches.map((b, i) => `    (${i}): ${String(b).replace(/\n/g, '\n    ')}`);
    return `Concat(\n  (branches): ModuleList(\n${lines.join('\n')}\n  )\n)`;
  }
}
