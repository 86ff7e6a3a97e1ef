/**
 * Ready-made networks. `seedNetwork` is the chapter's CNN (section 14.8.1, figure 14.8.1):
 * Conv2d(1, c, k) → ReLU → MaxPool2d(2) → Flatten → Linear(c·s·s, 10), s = (28 − k + 1) / 2.
 */
import { type Generator, nn, validate } from '../index';

const { BatchNorm1d, BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential } = nn;
const { expectInt, expectNumber, fail } = validate;

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

export function seedNetwork(options: SeedNetworkOptions = {}): nn.Sequential {
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

export interface DeepNetworkOptions {
  /** Output channels of the four 3×3 convolutions (the chapter's "more convolution layers"). */
  channels?: [number, number, number, number];
  /** Widths of the two hidden fully-connected layers; a third maps to the classes. */
  hidden?: [number, number];
  /** Dropout probability after each hidden fully-connected layer. */
  dropout?: number;
  classes?: number;
  generator?: Generator;
}

/**
 * The deeper network for ≥ 99.5% on MNIST (examples/deep-mnist, `napinet train --model deep`):
 *
 *   [Conv2d 3×3 (no bias) → BatchNorm2d → ReLU] × 2 → MaxPool2d(2)      28 → 26 → 24 → 12
 *   [Conv2d 3×3 (no bias) → BatchNorm2d → ReLU] × 2 → MaxPool2d(2)      12 → 10 →  8 →  4
 *   Flatten → [Linear (no bias) → BatchNorm1d → ReLU → Dropout] × 2 → Linear(classes)
 *
 * Convolutions and hidden Linear layers have no bias: the BatchNorm after each supplies it.
 */
export function deepNetwork(options: DeepNetworkOptions = {}): nn.Sequential {
  const [c1, c2, c3, c4] = (options.channels ?? [32, 32, 64, 64]).map((c, i) => expectInt(c, `channels[${i}]`, 1, 4096));
  const [h1, h2] = (options.hidden ?? [256, 128]).map((h, i) => expectInt(h, `hidden[${i}]`, 1, 1 << 16));
  const p = expectNumber(options.dropout ?? 0.25, 'dropout', 0, 1);
  const classes = expectInt(options.classes ?? 10, 'classes', 2);
  const generator = options.generator;
  const conv = (cin: number, cout: number) => [new Conv2d(cin, cout, 3, { bias: false, generator }), new BatchNorm2d(cout), new ReLU()];
  const fc = (fin: number, fout: number) => [new Linear(fin, fout, { bias: false, generator }), new BatchNorm1d(fout), new ReLU(), new Dropout(p, { generator })];
  return new Sequential(
    ...conv(1, c1),
    ...conv(c1, c2),
    new MaxPool2d(2),
    ...conv(c2, c3),
    ...conv(c3, c4),
    new MaxPool2d(2),
    new Flatten(),
    ...fc(c4 * 4 * 4, h1),
    ...fc(h1, h2),
    new Linear(h2, classes, { generator }),
  );
}

export interface FastNetworkOptions {
  /** Output channels of the two convolutions. */
  channels?: [number, number];
  /** Kernel sizes of the two convolutions. */
  kernels?: [number, number];
  classes?: number;
  generator?: Generator;
}

/**
 * The fast recipe's network (`napinet train --recipe fast`, fast_recipe.ts), a LeNet-like CNN
 * sized for ≥ 99% in a few seconds on two CPU cores:
 *
 *   Conv2d 5×5 → ReLU → MaxPool2d(2)                    28 → 24 → 12
 *   Conv2d 3×3 → MaxPool2d(2) → BatchNorm2d → ReLU      12 → 10 →  5
 *   Flatten → Linear(classes)
 *
 * Each convolution runs fused with its pool (Sequential's Conv2d → MaxPool2d (→ ReLU) step).
 * BatchNorm normalises the second, pooled map only (a quarter of the convolution's output, 5×5):
 * after the first convolution too it cost a fifth more time for no better accuracy.
 */
export function fastNetwork(options: FastNetworkOptions = {}): nn.Sequential {
  const [c1, c2] = (options.channels ?? [12, 24]).map((c, i) => expectInt(c, `channels[${i}]`, 1, 4096));
  const [k1, k2] = (options.kernels ?? [5, 3]).map((k, i) => expectInt(k, `kernels[${i}]`, 1, 27));
  const classes = expectInt(options.classes ?? 10, 'classes', 2);
  const side1 = Math.floor((28 - k1 + 1) / 2);
  const side2 = Math.floor((side1 - k2 + 1) / 2);
  if (side2 < 1) fail('kernel sizes that leave a 28×28 image at least 1×1 after both convolutions and pools', 'kernels', [k1, k2], RangeError);
  const g = options.generator;
  return new Sequential(
    new Conv2d(1, c1, k1, { generator: g }),
    new ReLU(),
    new MaxPool2d(2),
    new Conv2d(c1, c2, k2, { generator: g }),
    new MaxPool2d(2),
    new BatchNorm2d(c2),
    new ReLU(),
    new Flatten(),
    new Linear(c2 * side2 * side2, classes, { generator: g }),
  );
}
