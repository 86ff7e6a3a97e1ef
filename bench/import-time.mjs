// Import cost of napinet: the wall time of a fresh `node` that loads the package (CommonJS
// require and the ES-module entry), median of N runs each, beside a bare `node -e 0`; the CPU time
// (user + system) the same processes report at exit, which a busy shared machine disturbs far less
// than the wall time; and which optional dependencies the import loaded (protobufjs, pngjs,
// @napi-rs/canvas, chart.js).
//
//   npm run build && node bench/import-time.mjs [runs] [dist folder, default dist/]
// (A second build's folder, e.g. an older commit's dist copied to build-dist-before/, is measured
// the same way: run both on the same machine, in the same minute, and compare.)
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const runs = Number(process.argv[2] ?? 15);
const dist = path.resolve(root, process.argv[3] ?? 'dist');
const cjs = path.join(dist, 'cjs/index.js');
const esm = pathToFileURL(path.join(dist, 'esm/index.mjs')).href;

function median(values) {
  const s = [...values].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
}

// Printed by each child as it exits: its CPU time (user + system) in ms, startup included.
const reportCpu = `process.on('exit', () => { const u = process.cpuUsage(); process.stdout.write(String((u.user + u.system) / 1000)); });`;

/** Median wall time and median CPU time (ms) of `runs` fresh processes running `code`. */
function time(code, esModule = false) {
  const wall = [];
  const cpu = [];
  const args = [...(esModule ? ['--input-type=module'] : []), '-e', `${reportCpu}\n${code}`];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}`);
    wall.push(Number(process.hrtime.bigint() - start) / 1e6);
    cpu.push(Number(r.stdout));
  }
  return { wall: median(wall), cpu: median(cpu) };
}

const bare = time('0');
const required = time(`require(${JSON.stringify(cjs)})`);
const imported = time(`await import(${JSON.stringify(esm)})`, true);
const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(cjs)}); console.log(JSON.stringify(['protobufjs', 'pngjs', '@napi-rs/canvas', 'chart.js'].filter((m) => Object.keys(require.cache).some((f) => f.includes('/node_modules/' + m + '/')))))`], { cwd: root, encoding: 'utf8' });
console.log(`${path.relative(root, dist)}: node ${process.version}, ${runs} runs each, median of fresh processes:`);
const row = (name, t) => `  ${name.padEnd(30)} wall ${t.wall.toFixed(1).padStart(6)} ms (+${(t.wall - bare.wall).toFixed(1)})   CPU ${t.cpu.toFixed(1).padStart(6)} ms (+${(t.cpu - bare.cpu).toFixed(1)} over bare node)`;
console.log(`  node -e 0                      wall ${bare.wall.toFixed(1).padStart(6)} ms          CPU ${bare.cpu.toFixed(1).padStart(6)} ms`);
console.log(row("require('napinet') (CommonJS)", required));
console.log(row("import('napinet') (ES module)", imported));
console.log(`  optional packages loaded by the import: ${probe.stdout.trim()}`);
