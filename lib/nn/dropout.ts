/**
 * Dropout, after torch.nn.Dropout(p=0.5): in training each element is zeroed with probability p and
 * the others scaled by 1/(1 − p); in eval mode (and for p = 0) the input passes through unchanged.
 * Each training forward draws a fresh 64-bit seed from the layer's generator (default: napinet's
 * default generator), so a seeded run is reproducible; the mask itself is made on the tensor's
 * device from that seed (the same mask on the CPU and on CUDA). Op: lib/ops/dropout.ts.
 */
import { isExplicitMode } from '../autograd/grad_mode';
import { dropout, dropoutBackward, drawDropoutSeed } from '../ops/dropout';
import { defaultGenerator, Generator } from '../random';
import type { Tensor } from '../tensor';
import { fail } from '../validate';
import { pyFloat } from './activation';
import * as F from './functional';
import { type LayerConfig, Module } from './module';

/** torch.nn.Dropout(p = 0.5): in training each element is zeroed with probability p and the others scaled by 1/(1 − p); the identity in eval mode. Its masks come from its generator, so a seeded run is reproducible. */
export class Dropout extends Module {
  readonly p: number;
  private readonly generator: Generator;
  /** The last forward's seed, or null when it passed its input through. */
  private seed: bigint | null | undefined;

  constructor(p = 0.5, options: { generator?: Generator } = {}) {
    super();
    if (typeof p !== 'number' || Number.isNaN(p)) fail('a number', 'p', p);
    if (p < 0 || p > 1) fail('a probability in [0, 1]', 'p', p, RangeError);
    this.p = p;
    const generator = options.generator ?? defaultGenerator;
    if (!(generator instanceof Generator)) fail('a Generator', 'options.generator', generator);
    this.generator = generator;
  }

  /** The seed of the last training forward's mask (null: no mask; undefined: no forward yet). */
  get lastSeed(): bigint | null | undefined {
    return this.seed;
  }

  /** A training forward draws a new seed on the host, which a recorded CUDA graph would freeze. */
  override get capturable(): boolean {
    return !this.training || this.p === 0;
  }

  forward(x: Tensor): Tensor {
    if (!isExplicitMode()) return this.recordedForward(F.dropout(x, this.p, this.training, this.generator));
    this.savedForBackward();
    if (!this.training || this.p === 0) {
      this.seed = null;
      return x;
    }
    this.seed = drawDropoutSeed(this.generator);
    return dropout(x, this.p, this.seed, this.workspace.get('y', x.shape, x.device));
  }

  override backward(dy: Tensor): Tensor | null {
    const seed = this.saved(this.seed, 'mask seed');
    this.consumedByBackward();
    if (!this.inputGrad) return null;
    if (seed === null) return dy;
    return dropoutBackward(dy, this.p, seed, this.workspace.get('dx', dy.shape, dy.device));
  }

  override outputShape(input: readonly number[]): number[] {
    return [...input];
  }

  override config(): LayerConfig {
    return { type: 'Dropout', p: this.p };
  }

  override toString(): string {
    return `Dropout(p=${pyFloat(this.p)}, inplace=False)`;
  }
}
