/**
 * The pictures, as PNG bytes (Uint8Array): training curves, confusion matrix, misclassified digits, kernels and
 * feature maps, the ternary kernel, and the sweep chart. Line charts are Chart.js; the rest is drawn
 * with the canvas API (viz/canvas.ts). Each function takes computed data (viz/analysis.ts,
 * viz/ternary.ts) and draws nothing else, so a picture can be tested from known numbers.
 */
import type { Canvas, SKRSContext2D } from '@napi-rs/canvas';
import type { ChartConfiguration } from 'chart.js';
import type { EpochRecord } from '../../index';
import type { FeatureMaps } from './analysis';
import {
  chartLib,
  colorBar,
  COLORMAPS,
  cssColor,
  drawPlane,
  extent,
  frame,
  type PlaneStyle,
  png,
  symmetricExtent,
  text,
  textOn,
  whiteCanvas,
} from './canvas';
import type { TernaryKernel } from './ternary';

const BLUE = '#1f77b4';
const ORANGE = '#ff7f0e';
const GREEN = '#2ca02c';
const GREY = '#7f7f7f';

const percent = (v: number, digits = 2) => `${(100 * v).toFixed(digits)}%`;

/** Renders a Chart.js configuration on a white canvas of width×height. */
function chartCanvas(config: ChartConfiguration, width: number, height: number): Canvas {
  const { Chart } = chartLib();
  const { canvas, ctx } = whiteCanvas(width, height);
  const chart = new Chart(ctx as never, config);
  // destroy() clears the canvas it drew on: keep a copy of the picture first.
  const copy = whiteCanvas(width, height);
  copy.ctx.drawImage(canvas, 0, 0);
  chart.destroy();
  return copy.canvas;
}

/** Panels side by side under an optional title line. */
function besideEachOther(panels: Canvas[], title?: string): Uint8Array {
  const top = title ? 40 : 0;
  const width = panels.reduce((w, p) => w + p.width, 0);
  const height = Math.max(...panels.map((p) => p.height)) + top;
  const { canvas, ctx } = whiteCanvas(width, height);
  if (title) text(ctx, title, width / 2, 27, { size: 18, weight: 'bold', align: 'center' });
  let x = 0;
  for (const p of panels) {
    ctx.drawImage(p, x, top);
    x += p.width;
  }
  return png(canvas);
}

interface Series {
  label: string;
  data: (number | null)[];
  color: string;
  dashed?: boolean;
}

function lineChart(options: { title: string; labels: string[]; xTitle: string; yTitle: string; series: Series[]; yFormat?: (v: number) => string; width?: number; height?: number }): Canvas {
  const config: ChartConfiguration = {
    type: 'line',
    data: {
      labels: options.labels,
      datasets: options.series.map((s) => ({
        label: s.label,
        data: s.data,
        borderColor: s.color,
        backgroundColor: s.color,
        borderDash: s.dashed ? [8, 5] : [],
        borderWidth: 2.5,
        // A dashed reference line is marked at its last point only (so one epoch still shows it).
        pointRadius: s.dashed ? s.data.map((_, i) => (i === s.data.length - 1 ? 6 : 0)) : 4,
        pointStyle: s.dashed ? 'rectRot' : 'circle',
        pointHoverRadius: 0,
        tension: 0,
        spanGaps: true,
      })),
    },
    options: {
      responsive: false,
      animation: false,
      layout: { padding: 12 },
      plugins: {
        title: { display: true, text: options.title, font: { size: 17, weight: 'bold' } },
        legend: { position: 'bottom', labels: { boxWidth: 28, boxHeight: 3, padding: 16 } },
      },
      scales: {
        x: { title: { display: true, text: options.xTitle }, grid: { color: '#e6e6e6' } },
        y: {
          title: { display: true, text: options.yTitle },
          grid: { color: '#e6e6e6' },
          ticks: options.yFormat ? { callback: (v) => options.yFormat!(Number(v)) } : {},
        },
      },
    },
  };
  return chartCanvas(config, options.width ?? 620, options.height ?? 440);
}

/** curves.png: loss and accuracy per epoch, training vs validation, with the final test result. */
export function curvesPng(history: readonly EpochRecord[], test?: { loss: number; accuracy: number }): Uint8Array {
  const labels = history.map((r) => String(r.epoch + 1));
  const flat = (v: number | undefined) => history.map(() => (v === undefined ? null : v));
  const loss: Series[] = [
    { label: 'training', data: history.map((r) => r.trainLoss), color: BLUE },
    { label: 'validation', data: history.map((r) => r.valLoss ?? null), color: ORANGE },
  ];
  const accuracy: Series[] = [
    { label: 'training', data: history.map((r) => (r.trainAccuracy === undefined ? null : 100 * r.trainAccuracy)), color: BLUE },
    { label: 'validation', data: history.map((r) => (r.valAccuracy === undefined ? null : 100 * r.valAccuracy)), color: ORANGE },
  ];
  if (test) {
    loss.push({ label: `test, after training (${test.loss.toFixed(4)})`, data: flat(test.loss), color: GREEN, dashed: true });
    accuracy.push({ label: `test, after training (${percent(test.accuracy)})`, data: flat(100 * test.accuracy), color: GREEN, dashed: true });
  }
  const panels = [
    lineChart({ title: 'Loss per epoch', labels, xTitle: 'epoch', yTitle: 'cross-entropy loss', series: loss, yFormat: (v) => v.toFixed(3) }),
    lineChart({ title: 'Accuracy per epoch', labels, xTitle: 'epoch', yTitle: 'accuracy', series: accuracy, yFormat: (v) => `${v.toFixed(1)}%` }),
  ];
  const note = history.length === 1 ? ' (one epoch: one point per line)' : '';
  return besideEachOther(panels, `Training curves${note}`);
}

/**
 * confusion-matrix.png: counts of (true, predicted) pairs; the diagonal (correct) in greens, errors
 * in oranges/reds, zero cells white; row totals and per-class accuracy on the right, a legend below.
 */
export function confusionPng(counts: number[][], options: { title?: string } = {}): Uint8Array {
  const n = counts.length;
  const cell = 54;
  const left = 96;
  const top = 110;
  const grid = n * cell;
  const right = 170;
  const bottom = 110;
  const { canvas, ctx } = whiteCanvas(left + grid + right, top + grid + bottom);
  const total = counts.flat().reduce((a, b) => a + b, 0);
  const correct = counts.reduce((s, row, i) => s + row[i], 0);
  const maxDiagonal = Math.max(1, ...counts.map((row, i) => row[i]));
  const maxError = Math.max(1, ...counts.flatMap((row, i) => row.filter((_, j) => j !== i)));
  text(ctx, options.title ?? `Confusion matrix: ${correct.toLocaleString('en-US')} of ${total.toLocaleString('en-US')} correct (${percent(correct / (total || 1))})`, (left + grid + right) / 2, 30, {
    size: 19,
    weight: 'bold',
    align: 'center',
  });
  text(ctx, 'predicted class', left + grid / 2, 68, { size: 15, weight: 'bold', align: 'center' });
  text(ctx, 'true class', 30, top + grid / 2, { size: 15, weight: 'bold', align: 'center', rotate: -Math.PI / 2 });
  for (let i = 0; i < n; i++) {
    text(ctx, String(i), left + i * cell + cell / 2, top - 12, { size: 16, weight: 'bold', align: 'center' });
    text(ctx, String(i), left - 16, top + i * cell + cell / 2, { size: 16, weight: 'bold', align: 'right', baseline: 'middle' });
  }
  for (let t = 0; t < n; t++) {
    for (let p = 0; p < n; p++) {
      const v = counts[t][p];
      const color = v === 0 ? ([255, 255, 255] as [number, number, number]) : t === p ? COLORMAPS.greens(0.25 + 0.75 * (v / maxDiagonal)) : COLORMAPS.oranges(0.15 + 0.85 * Math.sqrt(v / maxError));
      const x = left + p * cell;
      const y = top + t * cell;
      ctx.fillStyle = cssColor(color);
      ctx.fillRect(x, y, cell, cell);
      const label = String(v);
      text(ctx, label, x + cell / 2, y + cell / 2 + 1, {
        size: label.length > 3 ? 13 : 15,
        weight: t === p ? 'bold' : 'normal',
        align: 'center',
        baseline: 'middle',
        color: v === 0 ? '#c8c8c8' : textOn(color),
      });
    }
  }
  ctx.strokeStyle = '#bbbbbb';
  ctx.lineWidth = 1;
  for (let i = 0; i <= n; i++) {
    ctx.beginPath();
    ctx.moveTo(left + i * cell + 0.5, top);
    ctx.lineTo(left + i * cell + 0.5, top + grid);
    ctx.moveTo(left, top + i * cell + 0.5);
    ctx.lineTo(left + grid, top + i * cell + 0.5);
    ctx.stroke();
  }
  // Row totals and per-class accuracy (recall).
  text(ctx, 'images', left + grid + 48, top - 12, { size: 13, weight: 'bold', align: 'center' });
  text(ctx, 'correct', left + grid + 125, top - 12, { size: 13, weight: 'bold', align: 'center' });
  for (let t = 0; t < n; t++) {
    const rowTotal = counts[t].reduce((a, b) => a + b, 0);
    const y = top + t * cell + cell / 2;
    text(ctx, rowTotal.toLocaleString('en-US'), left + grid + 48, y, { size: 14, align: 'center', baseline: 'middle' });
    text(ctx, rowTotal ? percent(counts[t][t] / rowTotal, 1) : '–', left + grid + 125, y, { size: 14, align: 'center', baseline: 'middle' });
  }
  const barY = top + grid + 52;
  colorBar(ctx, (t) => COLORMAPS.greens(0.25 + 0.75 * t), left, barY, 220, 16, { title: 'correct (diagonal): count', low: '1', high: String(maxDiagonal) });
  colorBar(ctx, (t) => COLORMAPS.oranges(0.15 + 0.85 * Math.sqrt(t)), left + 290, barY, 220, 16, { title: 'errors (off the diagonal): count', low: '1', high: String(maxError) });
  return png(canvas);
}

export interface LabelledImage {
  /** [H, W] values (standardised pixels). */
  image: Float32Array;
  label: number;
  prediction: number;
  /** Index in the test set. */
  index: number;
}

/**
 * misclassified.png: images in a grid of `columns` (2×5 for 10), each titled "label (prediction)",
 * drawn in reversed grey (ink dark on white) over `range` (the standardised values of pixels 0 and 255).
 */
export function misclassifiedPng(items: readonly LabelledImage[], options: { shape: [number, number]; range: [number, number]; columns?: number; title?: string }): Uint8Array {
  const [h, w] = options.shape;
  const columns = options.columns ?? 5;
  const rows = Math.max(1, Math.ceil(items.length / columns));
  const scale = 5;
  const cellW = w * scale + 36;
  const cellH = h * scale + 62;
  const top = 76;
  const { canvas, ctx } = whiteCanvas(Math.max(columns * cellW + 24, 560), top + rows * cellH + 8);
  text(ctx, options.title ?? `The first ${items.length} misclassified test images`, canvas.width / 2, 30, { size: 19, weight: 'bold', align: 'center' });
  text(ctx, 'each titled: label (prediction)', canvas.width / 2, 56, { size: 15, align: 'center', color: '#444444' });
  if (items.length === 0) text(ctx, 'no test image is misclassified', canvas.width / 2, top + 60, { size: 16, align: 'center' });
  items.forEach((item, i) => {
    const x = 12 + (i % columns) * cellW + 18;
    const y = top + Math.floor(i / columns) * cellH;
    text(ctx, `${item.label} (${item.prediction})`, x + (w * scale) / 2, y + 22, { size: 21, weight: 'bold', align: 'center' });
    drawPlane(ctx, item.image, h, w, x, y + 32, scale, { colormap: COLORMAPS.greyReversed, range: options.range });
    frame(ctx, x, y + 32, w * scale, h * scale);
    text(ctx, `test #${item.index}`, x + (w * scale) / 2, y + 32 + h * scale + 18, { size: 12, align: 'center', color: '#666666' });
  });
  return png(canvas);
}

/** Largest integer scale that fits `size` pixels into `box` (at least 1). */
const fit = (size: number, box: number) => Math.max(1, Math.floor(box / size));

/** An h×w plane drawn as large as fits, centred in the box×box square at (x, y), and framed. */
function drawInBox(ctx: SKRSContext2D, values: ArrayLike<number>, h: number, w: number, x: number, y: number, box: number, style: PlaneStyle): void {
  const s = fit(w, box);
  const left = x + (box - w * s) / 2;
  const top = y + (box - h * s) / 2;
  drawPlane(ctx, values, h, w, left, top, s, style);
  frame(ctx, left, top, w * s, h * s);
}

/**
 * features.png (figure 14.8.5): the first layer's kernels (grey, min-max over all kernels,
 * optionally Gaussian-blurred), then for one image the conv, ReLU and max-pool output of each
 * kernel. Shows at most `maxKernels` kernels.
 */
export function featuresPng(
  maps: FeatureMaps,
  options: { imageRange: [number, number]; caption: string; blur?: number; maxKernels?: number },
): Uint8Array {
  const shown = Math.min(maps.channels, options.maxKernels ?? 16);
  const [kh, kw] = maps.kernelSize;
  const [ih, iw] = maps.imageShape;
  const [ch, cw] = maps.convShape;
  const [ph, pw] = maps.poolShape;
  const box = 96;
  const gap = 16;
  const labelWidth = 150;
  const header = 170;
  const rowTitle = 24;
  const rowH = box + rowTitle + 8;
  const width = labelWidth + shown * (box + gap) + gap;
  // At least as wide as the three legends below.
  const { canvas, ctx } = whiteCanvas(Math.max(width, labelWidth + gap + 460 + 180 + 24), header + 4 * rowH + 90);
  // Header: the input image and what the picture shows.
  const inScale = fit(iw, 120);
  drawPlane(ctx, maps.image, ih, iw, 20, 20, inScale, { colormap: COLORMAPS.greyReversed, range: options.imageRange });
  frame(ctx, 20, 20, iw * inScale, ih * inScale);
  const tx = 40 + iw * inScale;
  text(ctx, 'What the first convolution sees', tx, 44, { size: 19, weight: 'bold' });
  text(ctx, options.caption, tx, 74, { size: 15 });
  const more = maps.channels > shown ? ` (the first ${shown} of ${maps.channels})` : '';
  text(ctx, `${maps.channels} kernels of ${kh}×${kw}${more}; conv ${ch}×${cw}, pool ${ph}×${pw}`, tx, 100, { size: 15, color: '#444444' });
  if (options.blur) text(ctx, `kernels drawn with a Gaussian blur of σ = ${options.blur} pixel (as the chapter's figure)`, tx, 124, { size: 14, color: '#444444' });

  // ReLU and pool outputs: white 0 → black at the map's maximum.
  const drawActivations = (plane: Float32Array, h: number, w: number, x: number, y: number) =>
    drawInBox(ctx, plane, h, w, x, y, box, { colormap: COLORMAPS.greyReversed, range: [0, extent(plane)[1]] });
  const kernelPlanes = maps.kernels.subarray(0, maps.channels * kh * kw);
  const kernelRange = extent(kernelPlanes);
  const rows: { title: string; note: string; draw: (k: number, x: number, y: number) => void }[] = [
    {
      title: 'kernel',
      note: 'grey: min → max\nover all kernels',
      draw: (k, x, y) =>
        drawInBox(ctx, maps.kernels.subarray(k * kh * kw, (k + 1) * kh * kw), kh, kw, x, y, box, { colormap: COLORMAPS.grey, range: kernelRange, blur: options.blur }),
    },
    {
      title: 'convolution',
      note: 'blue −, white 0, red +\n(per map)',
      draw: (k, x, y) => {
        const plane = maps.conv.subarray(k * ch * cw, (k + 1) * ch * cw);
        drawInBox(ctx, plane, ch, cw, x, y, box, { colormap: COLORMAPS.diverging, range: symmetricExtent(plane) });
      },
    },
    {
      title: 'ReLU',
      note: 'white 0 → black max\n(per map)',
      draw: (k, x, y) => drawActivations(maps.relu.subarray(k * ch * cw, (k + 1) * ch * cw), ch, cw, x, y),
    },
    {
      title: 'max-pool 2×2',
      note: 'white 0 → black max\n(per map)',
      draw: (k, x, y) => drawActivations(maps.pool.subarray(k * ph * pw, (k + 1) * ph * pw), ph, pw, x, y),
    },
  ];
  rows.forEach((row, r) => {
    const y = header + r * rowH;
    text(ctx, row.title, 16, y + rowTitle + box / 2 - 8, { size: 16, weight: 'bold' });
    row.note.split('\n').forEach((line, i) => text(ctx, line, 16, y + rowTitle + box / 2 + 12 + 16 * i, { size: 12, color: '#555555' }));
    for (let k = 0; k < shown; k++) {
      const x = labelWidth + gap + k * (box + gap);
      if (r === 0) text(ctx, `kernel ${k + 1}`, x + box / 2, y + 16, { size: 14, weight: 'bold', align: 'center' });
      row.draw(k, x, y + rowTitle);
    }
  });
  const legendY = header + 4 * rowH + 34;
  colorBar(ctx, COLORMAPS.grey, labelWidth + gap, legendY, 180, 14, { title: 'kernel weights', low: kernelRange[0].toFixed(2), high: kernelRange[1].toFixed(2) });
  colorBar(ctx, COLORMAPS.diverging, labelWidth + gap + 230, legendY, 180, 14, { title: 'convolution', low: '−max', middle: '0', high: '+max' });
  colorBar(ctx, COLORMAPS.greyReversed, labelWidth + gap + 460, legendY, 180, 14, { title: 'ReLU, max-pool', low: '0', high: 'max' });
  return png(canvas);
}

export interface TernaryFigure {
  kernelIndex: number;
  /** The kernel's float weights [kh, kw] and its ternary version. */
  weights: Float32Array;
  ternary: TernaryKernel;
  kernelSize: [number, number];
  thresholdFactor: number;
  /** One image per digit, with the ReLU(conv) map of the original and of the ternary kernel. */
  digits: { digit: number; index: number; image: Float32Array; original: Float32Array; ternary: Float32Array }[];
  imageShape: [number, number];
  mapShape: [number, number];
  imageRange: [number, number];
  accuracy?: { original: number; oneTernary: number; allTernary: number };
}

/** ternary.png (figure 14.8.6): a kernel and its ternary version, and what each makes of 10 digits. */
export function ternaryPng(f: TernaryFigure): Uint8Array {
  const [kh, kw] = f.kernelSize;
  const [ih, iw] = f.imageShape;
  const [mh, mw] = f.mapShape;
  const box = 84;
  const gap = 12;
  const cellSize = Math.max(8, Math.floor(170 / Math.max(kh, kw)));
  const left = Math.max(330, 2 * kw * cellSize + 60);
  const top = 122;
  const rowTitle = 22;
  const rowH = box + rowTitle + 6;
  const cols = f.digits.length;
  const { canvas, ctx } = whiteCanvas(Math.max(left + cols * (box + gap) + 20, 900), top + 3 * rowH + 40);
  const q = f.ternary;
  text(ctx, `Kernel ${f.kernelIndex + 1} made ternary: weights −1, 0, +1, convolved by additions and subtractions only`, 20, 32, { size: 18, weight: 'bold' });
  text(
    ctx,
    `rule: t = ${f.thresholdFactor}·mean|w| = ${q.threshold.toFixed(3)}; |w| ≤ t → 0, else sign(w); α = mean|w| of the kept taps = ${q.scale.toFixed(3)}  ` +
      `(+1: ${q.plus}, −1: ${q.minus}, 0: ${q.zeros})`,
    20,
    60,
    { size: 14, color: '#333333' },
  );
  if (f.accuracy) {
    text(
      ctx,
      `test accuracy: original ${percent(f.accuracy.original)}; this kernel ternary ${percent(f.accuracy.oneTernary)}; all kernels ternary ${percent(f.accuracy.allTernary)}`,
      20,
      84,
      { size: 14, color: '#333333' },
    );
  }
  // The two kernels, diverging colours on a symmetric range, values written in the cells.
  const ky = top + rowTitle;
  const wRange = symmetricExtent(f.weights);
  const drawKernel = (values: ArrayLike<number>, x: number, title: string, range: [number, number], label: (v: number) => string) => {
    text(ctx, title, x + (kw * cellSize) / 2, ky - 8, { size: 14, weight: 'bold', align: 'center' });
    drawPlane(ctx, values, kh, kw, x, ky, cellSize, { colormap: COLORMAPS.diverging, range });
    frame(ctx, x, ky, kw * cellSize, kh * cellSize);
    if (cellSize >= 26) {
      for (let i = 0; i < kh; i++) {
        for (let j = 0; j < kw; j++) {
          const v = values[i * kw + j];
          const bg = COLORMAPS.diverging((v - range[0]) / (range[1] - range[0]));
          text(ctx, label(v), x + j * cellSize + cellSize / 2, ky + i * cellSize + cellSize / 2 + 1, { size: cellSize >= 34 ? 11 : 10, align: 'center', baseline: 'middle', color: textOn(bg) });
        }
      }
    }
  };
  // Weights written compactly: .12, −.05, 1.4.
  const short = (v: number) =>
    Math.abs(v) < 0.005 ? '0' : (Math.abs(v) < 0.995 ? v.toFixed(2).replace(/^(-?)0\./, '$1.') : v.toFixed(1)).replace('-', '−');
  drawKernel(f.weights, 20, 'trained kernel', wRange, short);
  drawKernel(Float32Array.from(q.codes), 40 + kw * cellSize, 'ternary kernel', [-1, 1], (v) => (v > 0 ? '+1' : v < 0 ? '−1' : '0'));
  colorBar(ctx, COLORMAPS.diverging, 20, ky + kh * cellSize + 30, 2 * kw * cellSize + 20, 12, { low: '−', middle: '0', high: '+' });

  const rows = [
    { title: 'test image (first of each digit)', values: (d: TernaryFigure['digits'][number]) => d.image, shape: [ih, iw] as const, image: true },
    { title: 'trained kernel: ReLU(conv)', values: (d: TernaryFigure['digits'][number]) => d.original, shape: [mh, mw] as const, image: false },
    { title: 'ternary kernel: ReLU(conv), adds and subtracts only', values: (d: TernaryFigure['digits'][number]) => d.ternary, shape: [mh, mw] as const, image: false },
  ];
  rows.forEach((row, r) => {
    const y = top + r * rowH;
    text(ctx, row.title, left, y + 14, { size: 14, weight: 'bold' });
    f.digits.forEach((d, c) => {
      const x = left + c * (box + gap);
      const plane = row.values(d);
      const range: [number, number] = row.image ? f.imageRange : [0, extent(plane)[1]];
      drawInBox(ctx, plane, row.shape[0], row.shape[1], x, y + rowTitle, box, { colormap: COLORMAPS.greyReversed, range });
    });
  });
  f.digits.forEach((d, c) => text(ctx, `${d.digit}  (#${d.index})`, left + c * (box + gap) + box / 2, top + 3 * rowH + 18, { size: 12, align: 'center', color: '#555555' }));
  text(ctx, 'feature maps: white 0 → black max, per map', left, top + 3 * rowH + 36, { size: 12, color: '#555555' });
  return png(canvas);
}

/** sweep.png: test accuracy and loss against the swept setting, napinet beside the chapter's numbers. */
export function sweepPng(options: {
  title: string;
  xTitle: string;
  labels: string[];
  accuracy: (number | null)[];
  loss: (number | null)[];
  chapter?: { accuracy: (number | null)[]; loss: (number | null)[] };
}): Uint8Array {
  const acc: Series[] = [{ label: 'napinet', data: options.accuracy.map((v) => (v === null ? null : 100 * v)), color: BLUE }];
  const loss: Series[] = [{ label: 'napinet', data: options.loss, color: BLUE }];
  if (options.chapter) {
    acc.push({ label: 'the chapter', data: options.chapter.accuracy.map((v) => (v === null ? null : 100 * v)), color: GREY });
    loss.push({ label: 'the chapter', data: options.chapter.loss, color: GREY });
  }
  const panels = [
    lineChart({ title: 'Test accuracy', labels: options.labels, xTitle: options.xTitle, yTitle: 'accuracy', series: acc, yFormat: (v) => `${v.toFixed(2)}%` }),
    lineChart({ title: 'Test loss', labels: options.labels, xTitle: options.xTitle, yTitle: 'cross-entropy loss', series: loss, yFormat: (v) => v.toFixed(3) }),
  ];
  return besideEachOther(panels, options.title);
}
