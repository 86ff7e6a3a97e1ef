// Composite autograd graphs against PyTorch's gradients (the "graph/…" cases of
// test/fixtures/autograd.fixture, scripts/fixtures/autograd.py), written as a user writes them
// (import from '../lib'): an MLP whose hidden Linear is applied twice, a residual block (conv → BN →
// relu → conv, + x), softmax attention softmax(QKᵀ/√d)·V with Q, K, V from Linear layers, a custom
// autograd.Function used twice, a tensor used by two branches, detach() and noGrad() cutting the
// graph, retainGrad() on a non-leaf; then what the engine does between backward() calls: retainGraph
// and a second backward (the gradients double), the graph freed after a backward, accumulation across
// two graphs. On 'cpu' and, with a GPU or the emulator build, 'cuda'.
//
// Tolerance (u = 2⁻²⁴): each gradient is a composition of the ops of test/autograd_ops, so its
// error is that of its longest chain of float32 sums. graphTolerance(depth, K) = sumTolerance(K)
// (atol 8u·√K·rms(ref), rtol 4u, relNorm 2u·√K; K the largest sum of the graph) scaled by the
// number of such sums a gradient passes through (depth). The BatchNorm of the residual block
// cancels (its dx is small against its operands), hence its depth: its atol follows rms(ref) of
// the gradients around it, as test/batchnorm's bound (against rms(w·invstd·dy)) does.
import { describe, expect, test } from 'vitest';
import { autograd, matmul, nn, noGrad, Tensor, tensor } from '../lib';
import type { Tolerance } from './helpers/compare';
import { DEVICES } from './helpers/devices';
import { caseNamed, type FixtureCase, loadFixtures } from './helpers/fixtures';
import { checkOp } from './helpers/op_check';
import { rms, ULP as U } from './helpers/tolerance';

const F = nn.functional;

function graphTolerance(depth: number, k: number): (ref: ArrayLike<number>) => Tolerance {
  return (ref) => ({ atol: depth * 8 * U * Math.sqrt(k) * rms(ref), rtol: depth * 4 * U, relNorm: depth * 2 * U * Math.sqrt(k) });
}

/**
 * graphTolerance for each output, except gradients that are zero by construction (a bias before
 * BatchNorm, the key's bias under softmax): only the rounding of terms that cancel remains, so
 * their bound is the same relative error of Σ|terms| (scale_<name> in the fixture), element by element.
 */
function graphTolerances(c: FixtureCase, outputs: Record<string, unknown>, depth: number, k: number): Record<string, (ref: ArrayLike<number>) => Tolerance> {
  const rules: Record<string, (ref: ArrayLike<number>) => Tolerance> = {};
  for (const name of Object.keys(outputs)) {
    const scale = `scale_${name.replace(/^grad_/, '')}`;
    if (!c.has(scale)) {
      rules[name] = graphTolerance(depth, k);
      continue;
    }
    const perElement = c.f64(scale).map((s) => depth * 8 * U * Math.sqrt(k) * s);
    // (atol 2⁻¹²⁶: a zero atol and rtol would ask for the same values)
    rules[name] = () => ({ atol: 2 ** -126, rtol: 0, perElement, relNorm: Infinity });
  }
  return rules;
}

const cases = loadFixtures('autograd');
const graph = (name: string): FixtureCase => caseNamed(cases, `graph/${name}`);

/** x³ with a hand-written backward 3x²·dy (torch.autograd.Function's own example, cubed). */
class Cube extends autograd.Function {
  static override forward(ctx: autograd.Context, x: Tensor): Tensor {
    ctx.saveForBackward(x);
    return x.mul(x).mul(x);
  }

  static override backward(ctx: autograd.Context, dy: Tensor): Tensor {
    const [x] = ctx.savedTensors;
    return dy.mul(x!.square().mul(3));
  }
}

/** Loads a case's tensors into a module's parameters by state_dict name. */
function loadInto(module: nn.Module, c: FixtureCase): void {
  const state: Record<string, { shape: readonly number[]; data: Float32Array }> = {};
  for (const [name] of module.namedParameters()) state[name] = { shape: c.get(name).shape, data: c.f32(name) };
  noGrad(() => module.loadStateDict(state, { strict: false }));
}

/** Every gradient the case has, from the named tensors (grad_<name> ↔ tensors[name].grad). */
function gradsOf(c: FixtureCase, tensors: Record<string, Tensor>): Record<string, Tensor | null> {
  const out: Record<string, Tensor | null> = {};
  for (const [name, t] of Object.entries(tensors)) out[`grad_${name}`] = t.grad;
  return out;
}

describe.each(DEVICES)('autograd graphs on %s', (device) => {
  const leaf = (c: FixtureCase, name: string): Tensor => tensor(c.f32(name), c.get(name).shape, { device, requiresGrad: true });
  const dyOf = (c: FixtureCase): Tensor => tensor(c.f32('dy'), c.get('dy').shape, { device });

  test('an MLP whose hidden Linear is applied twice: both contributions', () => {
    const c = graph('mlp with a reused layer');
    class Mlp extends nn.Module {
      fc1 = new nn.Linear(5, 6);
      hidden = new nn.Linear(6, 6);
      fc2 = new nn.Linear(6, 3);
      forward(x: Tensor): Tensor {
        let h = this.fc1.forward(x).relu();
        h = this.hidden.forward(h).tanh();
        h = this.hidden.forward(h).relu();
        return this.fc2.forward(h);
      }
    }
    const model = new Mlp();
    loadInto(model, c);
    model.to(device);
    const x = leaf(c, 'x');
    const labels = tensor(c.i32('labels'), c.get('labels').shape, { device, dtype: 'int32' });
    const loss = F.crossEntropy(model.forward(x), labels);
    loss.backward();
    const params = Object.fromEntries(model.namedParameters());
    checkOp(c, { y: loss, ...gradsOf(c, { x, ...params }) }, graphTolerance(4, 6), { label: device });
  });

  test('retainGraph through the MLP\'s crossEntropy: a second backward doubles every gradient', () => {
    const c = graph('mlp with a reused layer');
    const model = new nn.Sequential(new nn.Linear(5, 6), new nn.ReLU());
    const fc1 = model.layers[0] as nn.Linear;
    const hidden = new nn.Linear(6, 6);
    const fc2 = new nn.Linear(6, 3);
    const load = (layer: nn.Linear, prefix: string) => noGrad(() => {
      layer.weight.copyFrom(c.f32(`${prefix}.weight`));
      layer.bias!.copyFrom(c.f32(`${prefix}.bias`));
    });
    load(fc1, 'fc1');
    load(hidden, 'hidden');
    load(fc2, 'fc2');
    for (const m of [model, hidden, fc2]) m.to(device);
    const x = leaf(c, 'x');
    const labels = tensor(c.i32('labels'), c.get('labels').shape, { device, dtype: 'int32' });
    const h = hidden.forward(hidden.forward(model.forward(x)).tanh()).relu();
    const loss = F.crossEntropy(fc2.forward(h), labels);
    loss.backward(undefined, { retainGraph: true });
    loss.backward();
    const grads = { grad_x: x.grad, 'grad_fc1.weight': fc1.weight.grad, 'grad_hidden.weight': hidden.weight.grad, 'grad_fc2.bias': fc2.bias!.grad };
    const doubled = Object.fromEntries(Object.keys(grads).map((n) => [n, { shape: c.get(n).shape, data: c.f64(n).map((v) => 2 * v) }]));
    checkOp(c, grads, graphTolerance(5, 6), { label: `${device}, twice`, references: doubled });
  });

  test('a residual block: conv → BatchNorm → relu → conv, + x (non-scalar backward with a given gradient)', () => {
    const c = graph('residual block');
    class Residual extends nn.Module {
      conv1 = new nn.Conv2d(3, 3, 3, { padding: 1 });
      bn = new nn.BatchNorm2d(3);
      conv2 = new nn.Conv2d(3, 3, 3, { padding: 1, bias: false });
      forward(x: Tensor): Tensor {
        return this.conv2.forward(this.bn.forward(this.conv1.forward(x)).relu()).add(x);
      }
    }
    const block = new Residual();
    loadInto(block, c);
    block.to(device);
    const x = leaf(c, 'x');
    const y = block.forward(x);
    y.backward(dyOf(c));
    const params = Object.fromEntries(block.namedParameters());
    const outputs = { y, ...gradsOf(c, { x, ...params }), 'bn.running_mean': block.bn.runningMean, 'bn.running_var': block.bn.runningVar };
    checkOp(c, outputs, graphTolerances(c, outputs, 4, 72), { label: device });
  });

  test('softmax attention softmax(QKᵀ/√d)·V, Q, K and V from Linear layers', () => {
    const c = graph('softmax attention');
    const d = 8;
    class Attention extends nn.Module {
      q = new nn.Linear(d, d);
      k = new nn.Linear(d, d);
      v = new nn.Linear(d, d);
      forward(x: Tensor): Tensor {
        const scores = matmul(this.q.forward(x), this.k.forward(x).transpose(-2, -1)).div(Math.sqrt(d));
        return scores.softmax(-1).matmul(this.v.forward(x));
      }
    }
    const attention = new Attention();
    loadInto(attention, c);
    attention.to(device);
    const x = leaf(c, 'x');
    const y = attention.forward(x);
    y.backward(dyOf(c));
    const outputs = { y, ...gradsOf(c, { x, ...Object.fromEntries(attention.namedParameters()) }) };
    checkOp(c, outputs, graphTolerances(c, outputs, 5, 10), { label: device });
  });

  test('a custom autograd.Function used twice', () => {
    const c = graph('custom function used twice');
    const x = leaf(c, 'x');
    const w = leaf(c, 'w');
    const y = Cube.apply(x).mul(w).add(Cube.apply(x.mul(w)));
    expect(y.gradFn?.name).toBe('AddBackward');
    y.backward(dyOf(c));
    checkOp(c, { y, ...gradsOf(c, { x, w }) }, graphTolerance(2, 2), { label: device });
  });

  test('a tensor used by two branches gets both gradients', () => {
    const c = graph('tensor used by two branches');
    const x = leaf(c, 'x');
    const w = leaf(c, 'w');
    const h = x.matmul(w);
    const y = h.sigmoid().mul(h.tanh()).add(h.square());
    y.backward(dyOf(c));
    checkOp(c, { y, ...gradsOf(c, { x, w }) }, graphTolerance(3, 4), { label: device });
  });

  test('retainGraph: a second backward through the same graph doubles the gradients', () => {
    const c = graph('tensor used by two branches');
    const x = leaf(c, 'x');
    const w = leaf(c, 'w');
    const h = x.matmul(w);
    const y = h.sigmoid().mul(h.tanh()).add(h.square());
    const dy = dyOf(c);
    y.backward(dy, { retainGraph: true });
    y.backward(dy);
    const doubled = (name: string) => ({ shape: c.get(name).shape, data: c.f64(name).map((v) => 2 * v) });
    checkOp(c, { grad_x: x.grad, grad_w: w.grad }, graphTolerance(4, 4), { label: `${device}, twice`, references: { grad_x: doubled('grad_x'), grad_w: doubled('grad_w') } });
    // Without retainGraph the second backward freed the graph: a third is refused.
    expect(() => y.backward(dy)).toThrow(/second time.*retainGraph/s);
  });

  test('gradients accumulate across two graphs into the same leaves (as PyTorch), until cleared', () => {
    const c = graph('tensor used by two branches');
    const x = leaf(c, 'x');
    const w = leaf(c, 'w');
    for (let i = 0; i < 2; i++) {
      const h = x.matmul(w);
      h.sigmoid().mul(h.tanh()).add(h.square()).backward(dyOf(c));
    }
    const doubled = (name: string) => ({ shape: c.get(name).shape, data: c.f64(name).map((v) => 2 * v) });
    checkOp(c, { grad_x: x.grad, grad_w: w.grad }, graphTolerance(4, 4), { label: `${device}, two graphs`, references: { grad_x: doubled('grad_x'), grad_w: doubled('grad_w') } });
  });

  test('detach() and noGrad() cut the graph', () => {
    const c = graph('detach and noGrad cut the graph');
    const x = leaf(c, 'x');
    const w = leaf(c, 'w');
    const v = leaf(c, 'v');
    const a = x.mul(w);
    const b = a.detach().mul(v);
    const e = noGrad(() => x.exp());
    expect(a.detach().requiresGrad).toBe(false);
    expect(e.requiresGrad).toBe(false);
    expect(e.gradFn).toBeNull();
    const y = a.add(b).add(e.mul(v));
    y.backward(dyOf(c));
    checkOp(c, { y, ...gradsOf(c, { x, w, v }) }, graphTolerance(2, 2), { label: device });
  });

  test.skipIf(device === 'cpu' || !DEVICES.includes('cuda:0'))('to(): a gradient flows back across devices', () => {
    const c = graph('tensor used by two branches');
    const x = tensor(c.f32('x'), c.get('x').shape, { requiresGrad: true });
    const w = leaf(c, 'w');
    const h = x.to(device).matmul(w);
    expect(h.device).toBe(device);
    h.sigmoid().mul(h.tanh()).add(h.square()).backward(dyOf(c));
    expect(x.grad!.device).toBe('cpu');
    checkOp(c, { grad_x: x.grad, grad_w: w.grad }, graphTolerance(3, 4), { label: `${device}, x on the cpu` });
  });

  test('retainGrad() keeps a non-leaf gradient, and the root\'s', () => {
    const c = graph('retainGrad on a non-leaf');
    const x = leaf(c, 'x');
    const w = leaf(c, 'w');
    const h = x.mul(w).retainGrad();
    const y = h.tanh().mul(h).retainGrad();
    const dy = dyOf(c);
    y.backward(dy);
    checkOp(c, { y, grad_h: h.grad, grad_x: x.grad, grad_w: w.grad }, graphTolerance(2, 2), { label: device });
    // The root's own gradient is the one given (PyTorch's y.grad after y.backward(dy) with retain_grad).
    checkOp(c, { y_grad: y.grad }, { atol: 0, rtol: 0, relNorm: 0 }, { label: device, references: { y_grad: { shape: c.get('dy').shape, data: c.f32('dy') } } });
    // A tensor that does not retain its gradient keeps none.
    expect(x.mul(w).grad).toBeNull();
  });
});
