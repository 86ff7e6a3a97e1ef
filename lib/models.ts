/**
 * Ready-made networks. `seedNetwork` is the chapter's CNN (section 14.8.1, figure 14.8.1):
 * Conv2d(1, c, k) → ReLU → MaxPool2d(2) → Flatten → Linear(c·s·s, 10), s = (28 − k + 1) / 2.
 */
import { ReLU } from './nn/activation';
import { Conv2d } from './nn/conv2d';
import { Flatten } from './nn/flatten';
import { Linear } from './nn/linear';
import { MaxPool2d } from './nn/pool2d';
import { Sequential } from './nn/sequential';
import type { Generator } from './random';
import { expectInt } from './validate';

export interface SeedNetworkOptions {
  /** Convolution output channels (the chapter: 8; table 14.8.1 sweeps 2–64). */
  channels?: number;
  /** Convolution kernel size (the chapter: 5; table 14.8.2 sweeps 3–11). */
  kernel?: number;
  /** Input image side (MNIST: 28). */
  imageSize?: number;
  classes?: number;
  generator?: Generator;
}

export function seedNetwork(options: SeedNetworkOptions = {}): Sequential {
  const channels = expectInt(options.channels ?? 8, 'channels', 1, 4096);
  const imageSize = expectInt(options.imageSize ?? 28, 'imageSize', 2);
  const kernel = expectInt(options.kernel ?? 5, 'kernel', 1, imageSize - 1);
  const classes = expectInt(options.classes ?? 10, 'classes', 2);
  const pooled = Math.floor((imageSize - kernel + 1) / 2);
  const g = options.generator;
  return new Sequential(
    new Conv2d(1, channels, kernel, { generator: g }),
    new ReLU(),
    new MaxPool2d(2),
    new Flatten(),
    new Linear(channels * pooled * pooled, classes, { generator: g }),
  );
}
