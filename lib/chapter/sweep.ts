/**
 * The chapter's sweeps (tables 14.8.1 and 14.8.2): the seed recipe trained once per value of one
 * setting — output channels or kernel size — everything else unchanged, and the test results
 * tabulated beside the chapter's numbers.
 *
 * The sweep folder holds sweep.json (the settings and every finished run), sweep.md (the table)
 * and sweep.png (the chart), all rewritten after each run. A sweep started again in the same folder
 * with the same settings skips the runs already there, so an interrupted sweep resumes.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { type DeviceSpec, loadMnist, type Mnist, readJsonFile, validate, writeFileAtomic, writeJsonAtomic } from '../index';
import { SEED_RECIPE, trainSeedRecipe } from './recipe';
import { sweepPng } from './viz/figures';

const { expectInt, expectOneOf, fail } = validate;

export type SweepParameter = 'channels' | 'kernel';

/** The chapter's results (test accuracy, test loss), tables 14.8.1 (5×5 kernels) and 14.8.2 (8 channels). */
export const CHAPTER_RESULTS: Record<SweepParameter, Record<number, { accuracy: number; loss: number }>> = {
  channels: {
    2: { accuracy: 0.9667, loss: 0.1089 },
    4: { accuracy: 0.9772, loss: 0.0891 },
    8: { accuracy: 0.9823, loss: 0.0868 },
    12: { accuracy: 0.9835, loss: 0.0681 },
    16: { accuracy: 0.9852, loss: 0.0859 },
    20: { accuracy: 0.9855, loss: 0.0815 },
    24: { accuracy: 0.9862, loss: 0.0785 },
    28: { accuracy: 0.9863, loss: 0.0941 },
    32: { accuracy: 0.9834, loss: 0.1164 },
    64: { accuracy: 0.9855, loss: 0.1047 },
  },
  kernel: {
    3: { accuracy: 0.9752, loss: 0.0988 },
    5: { accuracy: 0.9821, loss: 0.0897 },
    7: { accuracy: 0.983, loss: 0.0787 },
    9: { accuracy: 0.9832, loss: 0.0728 },
    11: { accuracy: 0.9854, loss: 0.0581 },
  },
};

export interface SweepOptions {
  parameter: SweepParameter;
  values: number[];
  /** The sweep folder (sweep.json, sweep.md, sweep.png). */
  out: string;
  epochs?: number;
  seed?: number;
  limit?: number;
  batchSize?: number;
  lr?: number;
  device?: DeviceSpec;
  workers?: number;
  dataDir?: string;
  mnist?: Mnist;
  /** One line per run (and per skipped run). */
  log?: (line: string) => void;
  /** Each training run's own lines (epochs, test), e.g. for --verbose. */
  runLog?: (line: string) => void;
  /** Checked between steps: when true the current run is abandoned and the sweep returns. */
  shouldStop?: () => boolean;
}

export interface SweepRun {
  value: number;
  channels: number;
  kernel: number;
  testAccuracy: number;
  testLoss: number;
  parameters: number;
  /** Wall-clock seconds of the run (data split, training, validation and test). */
  seconds: number;
  /** Seconds of training alone (the epochs' sums). */
  trainSeconds: number;
  device: string;
}

interface SweepFile {
  format: 'napinet-sweep';
  version: 1;
  parameter: SweepParameter;
  settings: Record<string, unknown>;
  runs: SweepRun[];
}

export interface SweepResult {
  runs: SweepRun[];
  /** True when shouldStop() ended the sweep before every value was run. */
  stopped: boolean;
  files: { json: string; markdown: string; chart: string };
  table: string;
}

const percent = (v: number) => `${(100 * v).toFixed(2)}%`;

/** The Markdown table of a sweep, with the chapter's numbers where the chapter has that value. */
export function sweepTable(parameter: SweepParameter, runs: readonly SweepRun[]): string {
  const chapter = CHAPTER_RESULTS[parameter];
  const name = parameter === 'channels' ? 'output channels' : 'kernel size';
  const head = [name, 'test accuracy', 'test loss', 'parameters', 'seconds', 'chapter: accuracy', 'chapter: loss'];
  const rows = [...runs]
    .sort((a, b) => a.value - b.value)
    .map((r) => [
      parameter === 'kernel' ? `${r.value}×${r.value}` : String(r.value),
      percent(r.testAccuracy),
      r.testLoss.toFixed(4),
      r.parameters.toLocaleString('en-US'),
      r.seconds.toFixed(1),
      chapter[r.value] ? percent(chapter[r.value].accuracy) : '–',
      chapter[r.value] ? chapter[r.value].loss.toFixed(4) : '–',
    ]);
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`;
  return [line(head), line(head.map((_, i) => (i === 0 ? ':-:' : '--:'))), ...rows.map(line)].join('\n');
}

function describeSettings(parameter: SweepParameter, s: Record<string, unknown>): string {
  const fixed = parameter === 'channels' ? `kernel ${s.kernel}×${s.kernel}` : `${s.channels} output channels`;
  const data = s.limit === undefined ? 'all 60,000 training images' : `the first ${s.limit} training images`;
  return `${fixed}, ${s.epochs} epochs, batch ${s.batchSize}, Adam lr ${s.lr} (×${SEED_RECIPE.lrGamma} every ${SEED_RECIPE.lrStep} iterations), seed ${s.seed}, ${data} (10% held out for validation)`;
}

function writeOutputs(file: SweepFile, out: string): SweepResult['files'] & { table: string } {
  const json = path.join(out, 'sweep.json');
  const markdown = path.join(out, 'sweep.md');
  const chart = path.join(out, 'sweep.png');
  writeJsonAtomic(json, file);
  const table = sweepTable(file.parameter, file.runs);
  const title = file.parameter === 'channels' ? 'Output channels (the chapter\'s table 14.8.1)' : 'Kernel size (the chapter\'s table 14.8.2)';
  writeFileAtomic(
    markdown,
    [`# Sweep: ${title}`, '', `Settings: ${describeSettings(file.parameter, file.settings)}.`, '', table, ''].join('\n'),
  );
  const runs = [...file.runs].sort((a, b) => a.value - b.value);
  if (runs.length > 0) {
    const chapter = CHAPTER_RESULTS[file.parameter];
    const hasChapter = runs.some((r) => chapter[r.value]);
    writeFileAtomic(
      chart,
      sweepPng({
        title: `${title}: ${file.settings.epochs} epochs${file.settings.limit === undefined ? '' : `, first ${file.settings.limit} images`}`,
        xTitle: file.parameter === 'channels' ? 'output channels (kernel 5×5)' : `kernel size (${file.settings.channels} channels)`,
        labels: runs.map((r) => (file.parameter === 'kernel' ? `${r.value}×${r.value}` : String(r.value))),
        accuracy: runs.map((r) => r.testAccuracy),
        loss: runs.map((r) => r.testLoss),
        chapter: hasChapter
          ? { accuracy: runs.map((r) => chapter[r.value]?.accuracy ?? null), loss: runs.map((r) => chapter[r.value]?.loss ?? null) }
          : undefined,
      }),
    );
  }
  return { json, markdown, chart, table };
}

/** Runs (or resumes) a sweep; see the file header. */
export async function runSweep(options: SweepOptions): Promise<SweepResult> {
  const parameter = expectOneOf(options.parameter, 'parameter', ['channels', 'kernel'] as const);
  if (!Array.isArray(options.values) || options.values.length === 0) fail('a non-empty array of integers', 'values', options.values);
  const values = options.values.map((v, i) => expectInt(v, `values[${i}]`, 1, parameter === 'kernel' ? 27 : 4096));
  if (new Set(values).size !== values.length) fail('values without repeats', 'values', values);
  const out = path.resolve(options.out);
  const settings: Record<string, unknown> = {
    epochs: expectInt(options.epochs ?? SEED_RECIPE.epochs, 'epochs', 1),
    batchSize: expectInt(options.batchSize ?? SEED_RECIPE.batchSize, 'batchSize', 1),
    lr: options.lr ?? SEED_RECIPE.lr,
    seed: expectInt(options.seed ?? SEED_RECIPE.seed, 'seed', 0),
    channels: SEED_RECIPE.channels,
    kernel: SEED_RECIPE.kernel,
    ...(options.limit === undefined ? {} : { limit: expectInt(options.limit, 'limit', 2) }),
  };
  delete settings[parameter];
  const log = options.log ?? (() => {});
  const jsonFile = path.join(out, 'sweep.json');
  let file: SweepFile = { format: 'napinet-sweep', version: 1, parameter, settings, runs: [] };
  if (fs.existsSync(jsonFile)) {
    const previous = readJsonFile(jsonFile, 'sweep file') as SweepFile;
    checkSweepFile(previous, jsonFile);
    const same = previous.parameter === parameter && JSON.stringify(sortKeys(previous.settings)) === JSON.stringify(sortKeys(settings));
    if (!same) {
      throw new Error(
        `${out} holds a sweep of ${previous.parameter} with other settings (${JSON.stringify(previous.settings)}); ` +
          `resume it with those settings or choose another --out`,
      );
    }
    file = previous;
  }
  const mnist = options.mnist ?? loadMnist(options.dataDir);
  let stopped = false;
  for (const [i, value] of values.entries()) {
    const tag = `[${i + 1}/${values.length}] ${parameter} ${value}`;
    const done = file.runs.find((r) => r.value === value);
    if (done) {
      log(`${tag}: done earlier (test accuracy ${percent(done.testAccuracy)}), skipped`);
      continue;
    }
    const started = performance.now();
    const result = await trainSeedRecipe({
      epochs: settings.epochs as number,
      batchSize: settings.batchSize as number,
      lr: settings.lr as number,
      seed: settings.seed as number,
      limit: settings.limit as number | undefined,
      channels: parameter === 'channels' ? value : SEED_RECIPE.channels,
      kernel: parameter === 'kernel' ? value : SEED_RECIPE.kernel,
      device: options.device,
      workers: options.workers,
      mnist,
      dataDir: options.dataDir,
      log: options.runLog,
      progress: 'none',
      shouldStop: options.shouldStop,
    });
    result.model.dispose();
    if (result.stopped) {
      log(`${tag}: interrupted; the finished runs are kept in ${jsonFile}`);
      stopped = true;
      break;
    }
    const run: SweepRun = {
      value,
      channels: parameter === 'channels' ? value : SEED_RECIPE.channels,
      kernel: parameter === 'kernel' ? value : SEED_RECIPE.kernel,
      testAccuracy: result.testAccuracy,
      testLoss: result.testLoss,
      parameters: result.parameters,
      seconds: (performance.now() - started) / 1000,
      trainSeconds: result.epochSeconds.reduce((a, b) => a + b, 0),
      device: result.device,
    };
    file.runs.push(run);
    writeOutputs(file, out);
    log(
      `${tag}: test accuracy ${percent(run.testAccuracy)}, loss ${run.testLoss.toFixed(4)}, ` +
        `${run.parameters.toLocaleString('en-US')} parameters, ${run.seconds.toFixed(1)} s`,
    );
  }
  const written = writeOutputs(file, out);
  const wanted = new Set(values);
  return {
    runs: file.runs.filter((r) => wanted.has(r.value)).sort((a, b) => a.value - b.value),
    stopped,
    files: { json: written.json, markdown: written.markdown, chart: written.chart },
    table: written.table,
  };
}

/** A sweep.json read back: its settings an object, each run's numbers numbers (the table and chart use them). */
function checkSweepFile(f: SweepFile, file: string): void {
  if (typeof f !== 'object' || f === null || f.format !== 'napinet-sweep') throw new Error(`${file} is not a napinet sweep file (expected "format": "napinet-sweep")`);
  if (typeof f.settings !== 'object' || f.settings === null || Array.isArray(f.settings)) throw new Error(`${file}: Expected an object for settings but received ${validate.describe(f.settings)}`);
  if (!Array.isArray(f.runs)) throw new Error(`${file}: Expected a list for runs but received ${validate.describe(f.runs)}`);
  const numbers: (keyof SweepRun)[] = ['value', 'channels', 'kernel', 'testAccuracy', 'testLoss', 'parameters', 'seconds', 'trainSeconds'];
  f.runs.forEach((r, i) => {
    if (typeof r !== 'object' || r === null || !numbers.every((k) => typeof r[k] === 'number') || typeof r.device !== 'string') {
      throw new Error(`${file}: Expected {${numbers.join(', ')}} numbers and a device for runs[${i}] but received ${JSON.stringify(r)?.slice(0, 200)}`);
    }
  });
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => a.localeCompare(b)));
}
