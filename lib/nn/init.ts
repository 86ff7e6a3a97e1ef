/**
 * Weight initialisers, after torch.nn.init, drawing from napinet's seeded generator. Each fills a
 * tensor in place (through a host copy for CUDA tensors) and returns it.
 *
 * @module
 */
import { defaultGenerator, type Generator } from '../random';
import type { Tensor } from '../tensor';
import { expectOneOf } from '../validate';

/** The nonlinearity after a layer, which sets the gain of the Kaiming and Xavier initialisations (torch.nn.init.calculate_gain). */
export type Nonlinearity = 'linear' | 'relu' | 'leaky_relu' | 'tanh' | 'sigmoid';

function fillWith(t: Tensor, value: (i: number) => number): Tensor {
  const host = new Float32Array(t.size);
  for (let i = 0; i < host.length; i++) host[i] = value(i);
  t.copyFrom(host);
  return t;
}

/** fan_in and fan_out as torch computes them: dim 1 and dim 0 times the receptive field. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new RangeError(`Expected a tensor of rank ≥ 2 for fan computation but received shape [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

/** torch.nn.init.calculate_gain. */
export function gain(nonlinearity: Nonlinearity, negativeSlope = 0.01): number {
  expectOneOf(nonlinearity, 'nonlinearity', ['linear', 'relu', 'leaky_relu', 'tanh', 'sigmoid'] as const);
  switch (nonlinearity) {
    case 'relu':
      return Math.SQRT2;
    case 'leaky_relu':
      return Math.sqrt(2 / (1 + negativeSlope * negativeSlope));
    case 'tanh':
      return 5 / 3;
    default:
      return 1;
  }
}

/** Fills `t` in place with U(low, high) draws from `generator`; returns t (torch.nn.init.uniform_). */
export function uniform(t: Tensor, low = 0, high = 1, generator: Generator = defaultGenerator): Tensor {
  return fillWith(t, () => generator.uniform(low, high));
}

/** Fills `t` in place with N(mean, std²) draws from `generator`; returns t (torch.nn.init.normal_). */
export function normal(t: Tensor, mean = 0, std = 1, generator: Generator = defaultGenerator): Tensor {
  return fillWith(t, () => generator.normal(mean, std));
}

/** Fills `t` in place with `value`; returns t. */
export function constant(t: Tensor, value: number): Tensor {
  return fillWith(t, () => value);
}

/** Fills `t` in place with 0; returns t. */
export function zeros(t: Tensor): Tensor {
  return constant(t, 0);
}

/** Fills `t` in place with 1; returns t. */
export function ones(t: Tensor): Tensor {
  return constant(t, 1);
}

/** Options of the Kaiming initialisations: the rectifier's slope, the fan mode and the nonlinearity (torch's a, mode, nonlinearity). */
export interface KaimingOptions {
  /** Negative slope of the rectifier after this layer (torch's `a`). */
  a?: number;
  mode?: 'fan_in' | 'fan_out';
  nonlinearity?: Nonlinearity;
  generator?: Generator;
}

/** torch.nn.init.kaiming_uniform_: U(−b, b), b = gain·√(3 / fan). */
export function kaimingUniform(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const fan = (options.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  const bound = gain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) * Math.sqrt(3 / fan);
  return uniform(t, -bound, bound, options.generator);
}

/** torch.nn.init.kaiming_normal_: N(0, (gain / √fan)²). */
export function kaimingNormal(t: Tensor, options: KaimingOptions = {}): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const fan = (options.mode ?? 'fan_in') === 'fan_in' ? fanIn : fanOut;
  return normal(t, 0, gain(options.nonlinearity ?? 'leaky_relu', options.a ?? 0) / Math.sqrt(fan), options.generator);
}

/** torch.nn.init.xavier_uniform_: U(−b, b), b = gain·√(6 / (fan_in + fan_out)). */
export function xavierUniform(t: Tensor, gainValue = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const bound = gainValue * Math.sqrt(6 / (fanIn + fanOut));
  return uniform(t, -bound, bound, generator);
}

/** torch.nn.init.xavier_normal_: N(0, gain²·2 / (fan_in + fan_out)). */
export function xavierNormal(t: Tensor, gainValue = 1, generator?: Generator): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  return normal(t, 0, gainValue * Math.sqrt(2 / (fanIn + fanOut)), generator);
}

/**
 * The default initialisation of torch.nn.Conv*d and Linear: weight kaiming_uniform_(a=√5), which
 * is U(−1/√fan_in, 1/√fan_in), and bias U(−1/√fan_in, 1/√fan_in).
 */
export function defaultLayerInit(weight: Tensor, bias: Tensor | null, generator: Generator = defaultGenerator): void {
  kaimingUniform(weight, { a: Math.sqrt(5), generator });
  if (bias) {
    const bound = 1 / Math.sqrt(fans(weight.shape).fanIn);
    uniform(bias, -bound, bound, generator);
  }
}
