/**
 * The napinet CLI as the tests run it: the dist build, from the repo root, in a child process.
 * trainUntilInterrupted presses Ctrl-C (SIGINT) as soon as the first epoch's line is printed.
 */
import { spawn, spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { nodeCommand } from './node';

export const root = path.join(__dirname, '..', '..');
export const cli = path.join(root, 'dist', 'cjs', 'chapter', 'cli.js');

/** `napinet ...args` to completion: its exit code and output. */
export function napinet(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(...nodeCommand(cli, ...args), { cwd: root, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `napinet train ...args`, interrupted once "epoch 0," appears on stdout: its exit code and output. */
export async function trainUntilInterrupted(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(...nodeCommand(cli, 'train', ...args), { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const code = await new Promise<number | null>((resolve) => {
    child.stdout.on('data', (d) => {
      const first = !/^epoch 0,/m.test(stdout);
      stdout += d;
      if (first && /^epoch 0,/m.test(stdout)) child.kill('SIGINT');
    });
    child.on('exit', (c) => resolve(c));
  });
  return { code, stdout, stderr };
}
