/**
 * Python from the tests: whether python3 with some modules is here (the PyTorch round trip and the
 * onnxruntime check skip with the reason otherwise), and running one of scripts/*.py.
 */
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';

const root = path.join(__dirname, '..', '..');

/** null when `python3 -c "import m1, m2"` works, else why not (for the skip message). */
export function pythonMissing(...modules: string[]): string | null {
  const r = spawnSync('python3', ['-c', `import ${modules.join(', ')}`], { encoding: 'utf8' });
  if (r.error) return `python3 not found (${r.error.message})`;
  if (r.status !== 0) return `python3 lacks ${modules.join(' / ')}: ${r.stderr.trim().split('\n').at(-1)}`;
  return null;
}

/** Runs scripts/<script> with `args`; returns its last stdout line parsed as JSON. */
export function runPythonScript(script: string, args: string[]): any {
  const r = spawnSync('python3', [path.join(root, 'scripts', script), ...args], { encoding: 'utf8', cwd: root });
  if (r.status !== 0) throw new Error(`python3 scripts/${script} failed (${r.status}):\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1)!);
}

export function writeF32(file: string, data: Float32Array): void {
  fs.writeFileSync(file, Buffer.from(data.buffer, data.byteOffset, data.byteLength));
}

export function readF32(file: string): Float32Array {
  const b = fs.readFileSync(file);
  return new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
}
