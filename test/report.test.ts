// The report of a quick real run (2,000 training images, one epoch): every picture is written and
// decodes, the numbers in report.json agree with the model, a saved run gives the same report, and
// report.html opens in a real headless browser (Debian's chromium driven by playwright-core) with
// no console errors, no request beyond the file itself, every picture decoded, and a screenshot.
// .ci/run installs chromium; elsewhere the browser test is skipped when /usr/bin/chromium is missing.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { saveModel } from '../lib/io/model_io';
import { loadMnist } from '../lib/data/mnist';
import { trainSeedRecipe, type SeedRecipeResult } from '../lib/chapter/recipe';
import { confusionMatrix, predictClasses } from '../lib/chapter/viz/analysis';
import { decodePng } from '../lib/chapter/viz/canvas';
import { reportRun, type ReportResult, writeReport } from '../lib/chapter/viz/report';

const CHROMIUM = '/usr/bin/chromium';
const PICTURES = ['curves.png', 'confusion-matrix.png', 'misclassified.png', 'features.png', 'ternary.png'];

let dir: string;
let run: SeedRecipeResult;
let report: ReportResult;

beforeAll(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-report-'));
  run = await trainSeedRecipe({ limit: 2000, epochs: 1, device: 'cpu', progress: 'none' });
  report = await writeReport(
    { dir, model: run.model, test: run.test, standardizer: run.standardizer, history: run.history.epochs, summary: { settings: { limit: 2000, epochs: 1 } } },
    { occurrence: 3, ternaryKernel: 4 },
  );
});

afterAll(() => {
  if (dir && !process.env.NAPINET_KEEP_REPORT) fs.rmSync(dir, { recursive: true, force: true });
});

describe('report of a quick run', () => {
  test('writes every picture, the ternary table, report.json and report.html', async () => {
    expect(report.skipped).toEqual([]);
    expect(new Set(report.files)).toEqual(new Set([...PICTURES, 'ternary.md', 'report.json', 'report.html']));
    for (const name of PICTURES) {
      const image = await decodePng(fs.readFileSync(path.join(dir, name)));
      expect(image.width, name).toBeGreaterThan(500);
      expect(image.height, name).toBeGreaterThan(300);
    }
  });

  test('the numbers agree with the model', () => {
    expect(report.testAccuracy).toBeCloseTo(run.testAccuracy, 12);
    expect(report.testLoss).toBeCloseTo(run.testLoss, 6);
    const predictions = predictClasses(run.model, run.test);
    expect(report.confusion).toEqual(confusionMatrix(run.test.labels, predictions));
    expect(report.confusion.flat().reduce((a, b) => a + b, 0)).toBe(10_000);
    expect(report.confusion.reduce((s, row, i) => s + row[i], 0)).toBe(Math.round(run.testAccuracy * 10_000));
    expect(report.misclassified).toHaveLength(10);
    for (const i of report.misclassified) expect(predictions[i]).not.toBe(run.test.labels[i]);
    // The first ten: every image before the last one listed is either correct or listed.
    const listed = new Set(report.misclassified);
    for (let i = 0; i < report.misclassified.at(-1)!; i++) expect(listed.has(i) || predictions[i] === run.test.labels[i]).toBe(true);
    // The 3rd "0" of the test set (the chapter's figure 14.8.5).
    const zeros = [...run.test.labels.keys()].filter((i) => run.test.labels[i] === 0);
    expect(report.featureImage).toBe(zeros[2]);
  });

  test('the ternary table: one row per kernel and one for all; ternary.md states the rule', () => {
    const t = report.ternary!;
    expect(t.thresholdFactor).toBe(0.5);
    expect(t.kernel).toBe(4);
    expect(t.rows.map((r) => r.kernel)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 'all']);
    for (const r of t.rows) {
      expect(r.accuracy).toBeGreaterThan(0.5);
      if (r.kernel !== 'all') expect(r.plus! + r.minus! + r.zeros!).toBe(25);
    }
    const md = fs.readFileSync(path.join(dir, 'ternary.md'), 'utf8');
    expect(md).toContain('t = 0.5·mean|w|');
    expect(md).toContain('| all |');
  });

  test('report.html is self-contained: pictures inlined, no external reference', () => {
    const html = fs.readFileSync(path.join(dir, 'report.html'), 'utf8');
    expect(html.match(/<img src="data:image\/png;base64,/g)).toHaveLength(PICTURES.length);
    expect(html).not.toMatch(/(src|href)="(https?:)?\/\//);
    expect(html).not.toMatch(/<script|<link/);
    for (const heading of ['Settings and results', 'Training curves', 'Confusion matrix', 'Misclassified digits', 'Kernels and feature maps', 'Ternary kernels']) {
      expect(html).toContain(`<h2>${heading}</h2>`);
    }
    expect(html).toContain((100 * run.testAccuracy).toFixed(2) + '%');
  });

  test('a saved run folder gives the same report', async () => {
    const saved = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-saved-'));
    try {
      saveModel(saved, run.model, { preprocessing: { standardize: run.standardizer.toJSON(), inputShape: [1, 28, 28] } });
      fs.writeFileSync(path.join(saved, 'history.json'), JSON.stringify(run.history.epochs));
      const again = await reportRun(saved, { occurrence: 3, ternaryKernel: 4, mnist: loadMnist() });
      expect(again.testAccuracy).toBe(report.testAccuracy);
      expect(again.confusion).toEqual(report.confusion);
      expect(again.misclassified).toEqual(report.misclassified);
      expect(again.ternary).toEqual(report.ternary);
      expect(fs.existsSync(path.join(saved, 'report.html'))).toBe(true);
    } finally {
      fs.rmSync(saved, { recursive: true, force: true });
    }
  });

  test('bad options are refused by name', async () => {
    const input = { dir, model: run.model, test: run.test, standardizer: run.standardizer, history: [] };
    await expect(writeReport(input, { digit: 10 })).rejects.toThrow('Expected an integer in [0, 9] for digit but received 10');
    await expect(writeReport(input, { ternaryKernel: 9 })).rejects.toThrow('Expected a kernel number in [1, 8] for ternaryKernel but received 9');
    await expect(reportRun(path.join(dir, 'nothing'))).rejects.toThrow('does not exist');
    const empty = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-empty-'));
    await expect(reportRun(empty)).rejects.toThrow(`${empty} holds no model.json`);
  });
});

describe.skipIf(!fs.existsSync(CHROMIUM) && !process.env.CI)('report.html in headless chromium', () => {
  test('loads with no errors, decodes every picture, and is screenshotted', async () => {
    const { chromium } = await import('playwright-core');
    const profile = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      const page = await context.newPage();
      const problems: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('requestfailed', (r) => problems.push(`request failed: ${r.url().slice(0, 80)}`));
      page.on('request', (r) => requests.push(r.url()));
      const url = `file://${path.join(dir, 'report.html')}`;
      await page.goto(url, { waitUntil: 'load' });
      const images = await page.$$eval('img', (list) => list.map((img) => ({ alt: img.alt, complete: img.complete, width: img.naturalWidth, height: img.naturalHeight })));
      expect(images).toHaveLength(PICTURES.length);
      for (const img of images) {
        expect(img.complete, img.alt).toBe(true);
        expect(img.width, img.alt).toBeGreaterThan(0);
        expect(img.height, img.alt).toBeGreaterThan(0);
      }
      expect(await page.title()).toBe('napinet: what the network learned');
      expect(problems).toEqual([]);
      expect(requests.filter((r) => r !== url && !r.startsWith('data:'))).toEqual([]);
      const shot = path.join(dir, 'report-screenshot.png');
      await page.screenshot({ path: shot, fullPage: true });
      const image = await decodePng(fs.readFileSync(shot));
      expect(image.width).toBe(1400);
      expect(image.height).toBeGreaterThan(3000);
    } finally {
      await context.close();
      fs.rmSync(profile, { recursive: true, force: true });
    }
  });
});
