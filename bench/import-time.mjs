// Import cost of napinet: the wall time of a fresh `node` that loads the package (CommonJS
// require and the ES-module entry), median of N runs each, beside a bare `node -e 0`; and which
// optional dependencies the import loaded (protobufjs, pngjs, @napi-rs/canvas, chart.js).
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

function time(args) {
  const ms = [];
  for (let i = 0; i < runs; i++) {
    const start = process.hrtime.bigint();
    const r = spawnSync(process.execPath, args, { cwd: root, stdio: ['ignore', 'ignore', 'inherit'] });
    if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited with ${r.status}`);
    ms.push(Number(process.hrtime.bigint() - start) / 1e6);
  }
  return median(ms);
}

const bare = time(['-e', '0']);
const required = time(['-e', `require(${JSON.stringify(cjs)})`]);
const imported = time(['--input-type=module', '-e', `await import(${JSON.stringify(esm)})`]);
const probe = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(cjs)}); console.log(JSON.stringify(['protobufjs', 'pngjs', '@napi-rs/canvas', 'chart.js'].filter((m) => Object.keys(require.cache).some((f) => f.includes('/node_modules/' + m + '/')))))`], { cwd: root, encoding: 'utf8' });
console.log(`${path.relative(root, dist)}: node ${process.version}, ${runs} runs each, median wall time of a fresh process:`);
console.log(`  node -e 0                      ${bare.toFixed(1)} ms`);
console.log(`  require('napinet') (CommonJS)  ${required.toFixed(1)} ms  (+${(required - bare).toFixed(1)} ms over bare node)`);
console.log(`  import('napinet') (ES module)  ${imported.toFixed(1)} ms  (+${(imported - bare).toFixed(1)} ms over bare node)`);
console.log(`  optional packages loaded by the import: ${probe.stdout.trim()}`);
