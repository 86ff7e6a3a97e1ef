// Helpers shared by the benchmarks: machine description, PyTorch runs, timing, table printing.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

export const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

export function machine() {
  const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, Node ${process.version}`;
}

/** Runs a Python benchmark script that prints one JSON line; null (with the reason) if PyTorch is absent. */
export function runPython(script, args = []) {
  const probe = spawnSync('python3', ['-c', 'import torch'], { encoding: 'utf8' });
  if (probe.status !== 0) {
    console.log(`(PyTorch not installed: skipping the PyTorch side; pip install torch)`);
    return null;
  }
  const r = spawnSync('python3', [path.join(root, 'bench', script), ...args], { encoding: 'utf8', cwd: root, maxBuffer: 1 << 26 });
  if (r.status !== 0) throw new Error(`${script} failed:\n${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').at(-1));
}

/**
 * Starts a Python benchmark script as a child that answers one JSON line per request line, so that
 * napinet and PyTorch can be timed in alternating blocks under the same load. Its first line is
 * { torch: version }. ask(line) sends a request and resolves to the parsed answer.
 */
export async function pythonChild(script, args = []) {
  const child = spawn('python3', [path.join(root, 'bench', script), ...args], { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const read = async () => {
    const { value, done } = await lines.next();
    if (done) throw new Error(`${script} ended early`);
    return JSON.parse(value);
  };
  const ready = await read();
  return {
    version: ready.torch,
    ask(line) {
      child.stdin.write(`${line}\n`);
      return read();
    },
    quit: () => child.stdin.end('quit\n'),
  };
}

export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

/** Median milliseconds per call of fn over `iters` calls after `warmup` calls. */
export function timeMs(fn, { iters = 50, warmup = 5 } = {}) {
  return median(sampleMs(fn, { iters, warmup }));
}

/**
 * Milliseconds of each of `iters` calls of fn after `warmup` calls: wall-clock time, or with
 * clock 'cpu' the process's CPU time (user + system, all threads: on a machine shared with other
 * jobs it does not count the time the process waits for a core, which wall-clock time does).
 */
export function sampleMs(fn, { iters = 50, warmup = 5, clock = 'wall' } = {}) {
  for (let i = 0; i < warmup; i++) fn();
  const now = clock === 'cpu' ? cpuMs : () => performance.now();
  const times = [];
  for (let i = 0; i < iters; i++) {
    const t = now();
    fn();
    times.push(now() - t);
  }
  return times;
}

/** The process's CPU time so far (user + system, every thread), in ms. */
export function cpuMs() {
  const { user, system } = process.cpuUsage();
  return (user + system) / 1000;
}

export function table(rows) {
  const widths = rows[0].map((_, c) => Math.max(...rows.map((r) => String(r[c]).length)));
  const line = (r) => `| ${r.map((x, c) => String(x).padEnd(widths[c])).join(' | ')} |`;
  return [line(rows[0]), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.slice(1).map(line)].join('\n');
}

/**
 * The machine's yardsticks, measured now (bench/machine_peak.c, compiled on first use into
 * build-bench/): fma, the float32 FMA peak of `threads` threads in GFLOP/s (with clock 'cpu', per
 * second of those threads' CPU time: a shared machine's load does not lower it); copy[bytes], a
 * STREAM-like copy's GB/s (read + write) on arrays of each size in `sizes`, best of 20.
 */
export function machinePeak(threads, sizes = [], { clock = 'wall' } = {}) {
  const source = path.join(root, 'bench', 'machine_peak.c');
  const binary = path.join(root, 'build-bench', 'machine_peak');
  if (!fs.existsSync(binary) || fs.statSync(binary).mtimeMs < fs.statSync(source).mtimeMs) {
    fs.mkdirSync(path.dirname(binary), { recursive: true });
    execFileSync('cc', ['-O2', '-march=native', '-pthread', source, '-o', binary]);
  }
  const run = (...args) => Number(execFileSync(binary, args.map(String), { encoding: 'utf8' }).trim());
  const copy = {};
  for (const bytes of sizes) copy[bytes] = run('copy', threads, bytes, 20);
  return { fma: clock === 'cpu' ? run('fma', threads, 300, 'cpu') : run('fma', threads, 300), copy };
}
