// The table scripts/gpu-check prints last (and writes to $OUT/summary.md): each stage's outcome,
// the CUDA targets judged from the stages' JSON, the kernel checks. Exit status: 0 when every stage
// ran through (a dry run: when every stage started), 1 otherwise.
//
//   node scripts/gpu-check-summary.mjs WORK_DIR DRY(0|1)
import * as fs from 'node:fs';
import * as path from 'node:path';

const [work, dryFlag] = process.argv.slice(2);
const dry = dryFlag === '1';
const read = (file) => {
  try {
    return fs.readFileSync(path.join(work, file), 'utf8');
  } catch {
    return '';
  }
};
const json = (file) => {
  try {
    return JSON.parse(read(file));
  } catch {
    return null;
  }
};
/** The last line of a log that parses as JSON (the train CLI and the benchmarks print one). */
const lastJson = (file) => {
  for (const line of read(file).trim().split('\n').reverse()) {
    try {
      const value = JSON.parse(line);
      if (value && typeof value === 'object') return value;
    } catch {}
  }
  return null;
};
const fixed = (x, digits) => (Number.isFinite(x) ? x.toFixed(digits) : 'n/a');
/** The best epoch after the first (the first includes compilation and warm-up), and the median. */
const epochs = (run) => {
  const all = run?.epochSeconds ?? [];
  const later = all.length > 1 ? all.slice(1) : all;
  const sorted = [...later].sort((a, b) => a - b);
  return { best: sorted.length ? sorted[0] : NaN, median: sorted.length ? sorted[Math.floor(sorted.length / 2)] : NaN };
};

const stages = read('stages.tsv').trim().split('\n').filter(Boolean).map((line) => {
  const [name, outcome, seconds] = line.split('\t');
  return { name, outcome, seconds: Number(seconds) };
});
const stage = (name) => stages.find((s) => s.name === name) ?? { name, outcome: 'not run', seconds: 0 };
const info = json('info.json');
const card = info?.cuda?.name ?? info?.cuda?.reason ?? 'unknown';
const rows = [];
const row = (what, value, verdict = '') => rows.push(`| ${what} | ${value} | ${verdict} |`);

row('device', `${card}${info?.cuda?.driverVersion ? ` (driver CUDA ${info.cuda.driverVersion / 1000})` : ''}`, dry ? 'dry run: no target judged' : '');

// ---- the CUDA targets ----
const cudaRun = lastJson('seed-cuda.log');
const cpuRun = lastJson('seed-cpu.log');
const torchRun = lastJson('seed-torch.log');
const ours = epochs(cudaRun);
const torch = epochs(torchRun);
const verdict = (ok) => (dry ? '' : ok ? 'PASS' : 'FAIL');
const h200 = /H200/.test(card);
row('seed epoch on the GPU, best after the first (median), s', `${fixed(ours.best, 4)} (${fixed(ours.median, 4)})`,
  dry ? '' : `${verdict(ours.best <= 0.05)} (target ≤ 0.050 s on an H200${h200 ? '' : `; measured on ${card}`})`);
row('PyTorch eager epoch, same GPU, best after the first, s', `${fixed(torch.best, 4)}${torchRun?.torch ? ` (torch ${torchRun.torch})` : ''}`);
const speedup = torch.best / ours.best;
row('napinet speed-up over PyTorch eager', `${fixed(speedup, 2)}×`, dry ? '' : `${verdict(speedup >= 5)} (target ≥ 5×)`);
const gap = Math.abs((cudaRun?.testAccuracy ?? NaN) - (cpuRun?.testAccuracy ?? NaN)) * 100;
row('test accuracy: GPU / CPU / PyTorch GPU', `${fixed(cudaRun?.testAccuracy * 100, 2)}% / ${fixed(cpuRun?.testAccuracy * 100, 2)}% / ${fixed(torchRun?.testAccuracy * 100, 2)}%`,
  dry ? '' : `${verdict(gap <= 0.3)} (GPU within 0.3 points of the CPU: ${fixed(gap, 2)})`);

// ---- kernel checks ----
const parity = json('parity.json');
if (parity) {
  const failed = parity.filter((r) => r.error || !(r.maxRel < 1e-3));
  const worst = parity.reduce((w, r) => (r.maxRel > (w?.maxRel ?? -1) ? r : w), null);
  row('CUDA against the CPU, op by op', `${parity.length} outputs; worst ${worst ? `${worst.op} ${worst.output}: ${worst.maxRel.toExponential(2)}` : 'n/a'}`,
    failed.length ? `FAIL: ${failed.map((r) => `${r.op} ${r.output}`).join(', ')}` : 'PASS (max |Δ| / max |y| < 1e-3)');
} else {
  row('CUDA against the CPU, op by op', 'n/a (no parity.json)', 'FAIL');
}
const sanitizer = (name, pattern) => {
  const log = read(`${name}.log`);
  const match = pattern.exec(log);
  if (dry) return [log.split('\n').find((l) => /Compute Sanitizer|version/i.test(l))?.trim() ?? 'not installed here', ''];
  if (!match) return ['n/a (no summary line)', 'FAIL'];
  return [match[0], Number(match[1]) === 0 ? 'PASS' : 'FAIL'];
};
row('compute-sanitizer memcheck (parity --quick)', ...sanitizer('memcheck', /ERROR SUMMARY: (\d+) errors?/));
row('compute-sanitizer racecheck (parity --quick)', ...sanitizer('racecheck', /RACECHECK SUMMARY: (\d+) hazards? displayed[^\n]*/));

// ---- the rest ----
const graphRun = lastJson('seed-graph.log');
const graph = epochs(graphRun);
row('seed epoch with --cuda-graph, best after the first, s', fixed(graph.best, 4), graphRun ? `accuracy ${fixed(graphRun.testAccuracy * 100, 2)}%` : '');
for (const [label, file] of [['seed step: host issues / GPU finishes, µs', 'step.log'], ['seed step from a CUDA graph: host / GPU, µs', 'step-graph.log']]) {
  const p = lastJson(file);
  row(label, p ? `${fixed(p.hostMicrosPerStep, 1)} / ${fixed(p.microsPerStep, 1)}` : 'n/a');
}
const devices = json('devices.json');
const failedChecks = (r) => r.checks?.filter((c) => !c.ok).map((c) => `${c.name}${c.detail ? ` (${c.detail})` : ''}`).join('; ');
row('devices: cuda:N chosen, the GPU past the last refused', !devices ? 'n/a (no devices.json)' : devices.ok
  ? `passed (${devices.count} GPU${devices.count === 1 ? '' : 's'}, ${devices.checks.length} checks${devices.count >= 2 ? ', cross-GPU copies and a graph on cuda:1' : ''})`
  : `failed: ${String(devices.error ?? failedChecks(devices)).split('\n')[0].slice(0, 300)}`);
const nccl = json('nccl.json');
row('NCCL, one rank: collectives on CUDA tensors', !nccl ? 'n/a (no nccl.json)' : nccl.ok
  ? `passed (NCCL ${nccl.backends?.nccl?.version}; 64 MiB all-reduce ${fixed(nccl.allReduce64MiBMicros / 1000, 2)} ms)`
  : `failed: ${String(nccl.error ?? nccl.checks?.filter((c) => !c.ok).map((c) => c.name).join(', ')).split('\n')[0].slice(0, 200)}`);

// ---- the stages ----
const mayFailInDryRun = new Set(['memcheck', 'racecheck', 'nccl']); // no GPU, no NCCL in CI
const bad = stages.filter((s) => {
  if (s.outcome === 'ok') return false;
  if (!dry) return true;
  if (mayFailInDryRun.has(s.name)) return /timed out|skipped/.test(s.outcome);
  return true;
});
const total = stages.reduce((sum, s) => sum + s.seconds, 0);
console.log(`## napinet gpu-check${dry ? ' (dry run)' : ''}: ${card}, ${new Date().toISOString().slice(0, 16).replace('T', ' ')} UTC\n`);
console.log('| stage | outcome | s |\n|---|---|---|');
for (const s of stages) console.log(`| ${s.name} | ${s.outcome} | ${s.seconds} |`);
console.log(`| all | ${bad.length ? `${bad.length} not through: ${bad.map((s) => s.name).join(', ')}` : dry ? 'every stage started' : 'every stage ran through'} | ${total} |\n`);
console.log('| measure | value | verdict |\n|---|---|---|');
console.log(rows.join('\n'));
process.exitCode = bad.length ? 1 : 0;
