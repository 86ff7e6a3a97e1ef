/**
 * Sequential, after torch.nn.Sequential: layers applied in order; backward in reverse.
 * Children are named "0", "1", … so parameter names match PyTorch's state_dict.
 *
 * At the top level a Sequential computes no gradient for its own input (inputGrad = false, as for
 * data that does not require grad in PyTorch), which spares the first convolution's dx.
 *
 * A ReLU directly followed by a MaxPool2d runs after it instead: max-pooling commutes with any
 * non-decreasing function, so relu(pool(z)) = pool(relu(z)) exactly, and the gradients agree too
 * (where the window's maximum is positive both pick the same first maximum; elsewhere ReLU's
 * gradient is 0 either way). The ReLU then touches a quarter of the values (2×2 pooling).
 *
 * Runs of layers that a fused kernel computes in one pass become one step (nn/fused.ts), with
 * bit-identical values and gradients:
 *   Conv2d → BatchNorm2d → ReLU (→ MaxPool2d(2)) in training, on the CPU (ConvBnReluStep: the
 *   batch norm's statistics gathered as the convolution writes its output; one backward pass);
 *   Conv2d → MaxPool2d(2) (→ ReLU) (ConvPoolStep): on the CPU one kernel for the three forward
 *   passes and one for the three backward passes, on a GPU two launches and three.
 * and, equal to float32 rounding, Conv2d → BatchNorm2d → ReLU (→ MaxPool2d(2)) in eval mode for
 * inference (Module.inference(), a Predictor), on the CPU: one convolution with the batch norm
 * folded into its weights (ConvBnReluStep).
 * A step runs its layers one by one where its kernel does not apply (ConvBnReluStep: outside
 * explicit(), in eval mode outside inference, on a GPU). `fuse = false` runs every layer one by one.
 */
import type { Tensor } from '../tensor';
import { ReLU } from './activation';
import { ConvBnReluStep, ConvPoolStep, type FusedStep } from './fused';
import { configOf, describedLayer, type LayerConfig, Module } from './module';
import { MaxPool2d } from './pool2d';

/** torch.nn.Sequential: layers applied in order. Children are named "0", "1", …, so parameter names match PyTorch's state_dict. */
export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    layers.forEach((layer, i) => {
      if (!(layer instanceof Module)) throw new TypeError(`Expected a Module for layers[${i}] but received ${typeof layer}`);
      this.registerModule(String(i), layer);
    });
    this.layers = layers;
    this.steps = executionPlan(layers);
    this.fusedLast = this.steps.map(() => false);
    this.inputGrad = false;
  }

  /** Run fusable layer runs (Conv2d → BatchNorm2d → ReLU, Conv2d → MaxPool2d(2)) as one step (default true). */
  fuse = true;

  /** The steps the layers run in: as given, ReLU, MaxPool2d pairs swapped, fusable groups joined. */
  private readonly steps: (Module | FusedStep)[];
  /** Which fusable steps the last forward() ran fused (backward() follows the same path). */
  private readonly fusedLast: boolean[];

  forward(x: Tensor): Tensor {
    let h = x;
    const steps = this.steps;
    const fusedLast = this.fusedLast;
    for (let i = 0; i < steps.length; i++) {
      const step = steps[i];
      fusedLast[i] = false;
      if (!isFused(step)) {
        h = step.forward(h);
      } else if (this.fuse && step.accepts(h)) {
        h = step.forward(h);
        fusedLast[i] = true;
      } else {
        for (const layer of step.layers) h = layer.forward(h);
      }
    }
    return h;
  }

  override backward(dy: Tensor): Tensor | null {
    let g: Tensor | null = dy;
    for (let i = this.steps.length - 1; i >= 0; i--) {
      const step = this.steps[i];
      const inputGrad = i > 0 || this.inputGrad;
      if (!isFused(step)) {
        step.inputGrad = inputGrad;
        g = step.backward(g!);
      } else if (this.fusedLast[i]) {
        g = step.backward(g!, inputGrad);
      } else {
        const layers = step.layers;
        for (let j = layers.length - 1; j >= 0; j--) {
          layers[j].inputGrad = j > 0 || inputGrad;
          g = layers[j].backward(g!);
        }
      }
    }
    return g;
  }

  protected override releaseWorkspace(): void {
    super.releaseWorkspace();
    for (const step of this.steps) if (isFused(step)) step.release();
  }

  override outputShape(input: readonly number[]): number[] {
    return this.layers.reduce<number[]>((shape, layer) => describedLayer(layer, 'outputShape').outputShape!(shape), [...input]);
  }

  override config(): LayerConfig {
    return { type: 'Sequential', layers: this.layers.map(configOf) };
  }

  /**
   * A readable table: each layer, its output shape for `inputShape` (batch dimension shown as N),
   * and its parameter count; totals last.
   */
  summary(inputShape: readonly number[]): string {
    const rows: string[][] = [['#', 'layer', 'output shape', 'parameters']];
    let shape = [...inputShape];
    this.layers.forEach((layer, i) => {
      shape = describedLayer(layer, 'outputShape').outputShape!(shape);
      rows.push([String(i), layer.toString(), `[N, ${shape.slice(1).join(', ')}]`, layer.parameterCount().toLocaleString('en-US')]);
    });
    const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => r[c].length)));
    const line = (r: string[]) => r.map((cell, c) => (c === 3 ? cell.padStart(widths[c]) : cell.padEnd(widths[c]))).join('  ');
    const rule = '-'.repeat(widths.reduce((a, b) => a + b + 2, -2));
    return [
      line(rows[0]),
      rule,
      ...rows.slice(1).map(line),
      rule,
      `input [N, ${inputShape.slice(1).join(', ')}]; ${this.parameterCount().toLocaleString('en-US')} trainable parameters`,
    ].join('\n');
  }

  override toString(): string {
    return `Sequential(\n${this.layers.map((l, i) => `  (${i}): ${l}`).join('\n')}\n)`;
  }
}

function isFused(step: Module | FusedStep): step is FusedStep {
  return step instanceof ConvPoolStep || step instanceof ConvBnReluStep;
}

function executionOrder(layers: Module[]): Module[] {
  const order = [...layers];
  for (let i = 0; i + 1 < order.length; i++) {
    if (order[i] instanceof ReLU && order[i + 1] instanceof MaxPool2d) {
      [order[i], order[i + 1]] = [order[i + 1], order[i]];
      i++;
    }
  }
  return order;
}

/**
 * The steps: each Conv2d, BatchNorm2d, ReLU (, MaxPool2d(2)) run of `layers` as a ConvBnReluStep;
 * between them, ReLU, MaxPool2d pairs swapped and each Conv2d, MaxPool2d(2) (, ReLU) run as a
 * ConvPoolStep.
 */
function executionPlan(layers: Module[]): (Module | FusedStep)[] {
  const steps: (Module | FusedStep)[] = [];
  let pending: Module[] = [];
  const flush = () => {
    const order = executionOrder(pending);
    for (let i = 0; i < order.length; ) {
      const fused = ConvPoolStep.match(order, i);
      steps.push(fused ?? order[i]);
      i += fused ? fused.layers.length : 1;
    }
    pending = [];
  };
  for (let i = 0; i < layers.length; ) {
    const fused = ConvBnReluStep.match(layers, i);
    if (fused) {
      flush();
      steps.push(fused);
      i += fused.layers.length;
    } else {
      pending.push(layers[i++]);
    }
  }
  flush();
  return steps;
}
