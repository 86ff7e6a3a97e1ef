// The command line: `napinet train` end to end (quick settings), its JSON line and run folder,
// and clear refusals of bad flags.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { cuda } from '../lib/device';

const root = path.join(__dirname, '..');
const cli = path.join(root, 'dist', 'cjs', 'cli.js');

function napinet(...args: string[]) {
  const r = spawnSync(process.execPath, [cli, ...args], { cwd: root, encoding: 'utf8', env: { ...process.env } });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

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
    fs.rmSync(out, { recursive: true });
  });

  test('unknown flags, bad values and unknown commands exit 2 with the reason', () => {
    let r = napinet('train', '--epoch', '3');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("Unknown option '--epoch'");
    r = napinet('train', '--batch-size', '0');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Expected an integer ≥ 1 for --batch-size but received "0"');
    r = napinet('train', '--device', 'gpu');
    expect(r.stderr).toContain('Expected auto, cpu or cuda for --device but received "gpu"');
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
