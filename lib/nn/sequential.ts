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
 */
import type { Tensor } from '../tensor';
import { ReLU } from './activation';
import { type LayerConfig, Module } from './module';
import { MaxPool2d } from './pool2d';

export class Sequential extends Module {
  readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    layers.forEach((layer, i) => {
      if (!(layer instanceof Module)) throw new TypeError(`Expected a Module for layers[${i}] but received ${typeof layer}`);
      this.addChild(String(i), layer);
    });
    this.layers = layers;
    this.order = executionOrder(layers);
    this.inputGrad = false;
  }

  /** The order the layers run in: as given, but with ReLU, MaxPool2d pairs swapped. */
  private readonly order: Module[];

  forward(x: Tensor): Tensor {
    let h = x;
    for (const layer of this.order) h = layer.forward(h);
    return h;
  }

  backward(dy: Tensor): Tensor | null {
    let g: Tensor | null = dy;
    for (let i = this.order.length - 1; i >= 0; i--) {
      const layer = this.order[i];
      layer.inputGrad = i > 0 || this.inputGrad;
      g = layer.backward(g!);
    }
    return g;
  }

  outputShape(input: readonly number[]): number[] {
    return this.layers.reduce<number[]>((shape, layer) => layer.outputShape(shape), [...input]);
  }

  config(): LayerConfig {
    return { type: 'Sequential', layers: this.layers.map((l) => l.config()) };
  }

  /**
   * A readable table: each layer, its output shape for `inputShape` (batch dimension shown as N),
   * and its parameter count; totals last.
   */
  summary(inputShape: readonly number[]): string {
    const rows: string[][] = [['#', 'layer', 'output shape', 'parameters']];
    let shape = [...inputShape];
    this.layers.forEach((layer, i) => {
      shape = layer.outputShape(shape);
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
