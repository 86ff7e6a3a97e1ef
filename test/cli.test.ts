// The command line: `napinet train` end to end (quick settings), its JSON line and run folder,
// and clear refusals of bad flags.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { cuda } from '../lib/device';
import { cli, napinet } from './helpers/cli';

describe.skipIf(!fs.existsSync(cli))('napinet CLI (dist build)', () => {
  test('train --limit 2000 --epochs 1 --json writes the run folder and a JSON last line', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-run-'));
    const r = napinet('train', '--limit', '2000', '--epochs', '1', '--device', 'cpu', '--json', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.trim().split('\n');
    expect(lines.some((l) => /^epoch 0, iteration 29, train: loss \d\.\d{4}, accu \d\.\d{4}, val: loss \d\.\d{4}, accu \d\.\d{4}$/.test(l))).toBe(true);
    expect(lines.some((l) => /^test: loss \d\.\d{4}, accu \d\.\d{4}$/.test(l))).toBe(true);
    const summary = JSON.parse(lines.at(-1)!);
    expect(summary.testAccuracy).toBeGreaterThan(0.85);
    expect(summary.epochSeconds).toHaveLength(1);
    expect(summary.device).toBe('cpu');
    expect(summary.parameters).toBe(8 * 25 + 8 + 1152 * 10 + 10);
    for (const f of ['model.json', 'weights.safetensors', 'history.json', 'result.json']) expect(fs.existsSync(path.join(out, f))).toBe(true);
    // The pictures and the report page (lib/chapter/viz/report.ts), announced before the run folder.
    for (const f of ['curves.png', 'confusion-matrix.png', 'misclassified.png', 'features.png', 'ternary.png', 'ternary.md', 'report.html']) {
      expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    }
    expect(lines.at(-3)).toBe(`report: ${path.join(out, 'report.html')}`);
    expect(lines.at(-2)).toBe(`run folder: ${out}`);

    // napinet report RUN_DIR draws them again from the saved run, with the report options.
    fs.rmSync(path.join(out, 'report.html'));
    const again = napinet('report', out, '--digit', '7', '--occurrence', '2', '--blur', '0.5', '--ternary-kernel', '3');
    expect(again.stderr).toBe('');
    expect(again.code).toBe(0);
    expect(again.stdout).toContain(`wrote ${path.join(out, 'features.png')}`);
    expect(again.stdout).toContain(`test: loss ${summary.testLoss.toFixed(4)}, accu ${summary.testAccuracy.toFixed(4)}`);
    expect(fs.existsSync(path.join(out, 'report.html'))).toBe(true);
    const report = JSON.parse(fs.readFileSync(path.join(out, 'report.json'), 'utf8'));
    expect(report.ternary.kernel).toBe(3);
    fs.rmSync(out, { recursive: true });
  });

  test('train --no-report writes no pictures', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-run-'));
    const r = napinet('train', '--limit', '500', '--epochs', '1', '--device', 'cpu', '--no-report', '--out', out);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(out, 'model.json'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'report.html'))).toBe(false);
    fs.rmSync(out, { recursive: true });
  });

  test('sweep: a progress line per run, the table, resumable', () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-sweep-'));
    let r = napinet('sweep', '--channels', '2,4', '--epochs', '1', '--limit', '1000', '--device', 'cpu', '--out', out);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[1\/2\] channels 2: test accuracy \d+\.\d\d%, loss \d\.\d{4}, 2,942 parameters, \d+\.\d s$/m);
    expect(r.stdout).toMatch(/^\[2\/2\] channels 4: test accuracy /m);
    expect(r.stdout).toContain('| output channels | test accuracy | test loss | parameters | seconds | chapter: accuracy | chapter: loss |');
    for (const f of ['sweep.json', 'sweep.md', 'sweep.png']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const first = JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8'));
    expect(first.runs.map((run: { value: number }) => run.value)).toEqual([2, 4]);
    // Started again with one more value: the finished runs are skipped, only 8 is trained.
    r = napinet('sweep', '--channels', '2,4,8', '--epochs', '1', '--limit', '1000', '--device', 'cpu', '--out', out);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^\[1\/3\] channels 2: done earlier \(test accuracy \d+\.\d\d%\), skipped$/m);
    expect(r.stdout).toMatch(/^\[3\/3\] channels 8: test accuracy /m);
    const second = JSON.parse(fs.readFileSync(path.join(out, 'sweep.json'), 'utf8'));
    expect(second.runs.slice(0, 2)).toEqual(first.runs);
    expect(fs.readFileSync(path.join(out, 'sweep.md'), 'utf8')).toContain('| 8 | ');
    // Other settings in the same folder are refused rather than mixed.
    r = napinet('sweep', '--channels', '2', '--epochs', '2', '--limit', '1000', '--out', out);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('holds a sweep of channels with other settings');
    fs.rmSync(out, { recursive: true });
  });

  test('report and sweep refuse bad arguments with the reason', () => {
    let r = napinet('report');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Expected one run folder for RUN_DIR but received none');
    r = napinet('report', '/nonexistent/run');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('model folder /nonexistent/run does not exist');
    r = napinet('sweep', '--channels', '2,x');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Expected a comma-separated list of at most 64 integers in [1, 4096] for --channels but received "2,x"');
    r = napinet('sweep', '--channels', '2', '--kernel', '3');
    expect(r.stderr).toContain('Expected exactly one of --channels LIST and --kernel LIST');
    r = napinet('train', '--ternary-kernel', '9');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Expected a kernel number in [1, 8] for --ternary-kernel but received 9');
    r = napinet('train', '--digit', '12');
    expect(r.stderr).toContain('Expected an integer in [0, 9] for --digit but received "12"');
  });

  test('unknown flags, bad values and unknown commands exit 2 with the reason', () => {
    let r = napinet('train', '--epoch', '3');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--epoch'");
    r = napinet('train', '--batch-size', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Expected an integer in [1, 65536] for --batch-size but received "0"');
    r = napinet('train', '--device', 'gpu');
    expect(r.stderr).toContain('Expected auto, cpu, cuda or cuda:N (N a GPU index) for --device but received "gpu"');
    r = napinet('fly');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "fly"');
  });

  test('a missing MNIST folder is a clear error', () => {
    const r = napinet('train', '--data', '/nonexistent/mnist', '--epochs', '1');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('MNIST directory /nonexistent/mnist does not exist');
  });

  test.skipIf(cuda.isAvailable())('--device cuda without a usable GPU says so', () => {
    const r = napinet('train', '--device', 'cuda', '--epochs', '1', '--limit', '100');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/device 'cuda' was requested but no GPU is usable: .+/);
  });
});
