#!/usr/bin/env node
/**
 * Peak memory and time of napinet on the three hostile inputs of issue 16, each in its own child
 * process under a watchdog (killed when its resident memory passes --limit-mb, default 4096, so the
 * measurement cannot take the machine down):
 *   tall-png    `napinet predict` on a 196-byte PNG declaring 1×60000 pixels
 *   gzip-idx    loadMnist on a 4 MB gzip IDX file that unpacks to 4 GiB
 *   huge-model  `napinet predict` with a model.json whose inputShape is [1, 1e9, 1e9] (10^18 pixels)
 * Usage: node scripts/hostile-input-peaks.mjs [--limit-mb N]   (after npm run build:ts)
 * Prints one line per case: exit code or signal, peak RSS (MB), wall time (s), last stderr line.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';

const require = createRequire(import.meta.url);
const root = path.join(path.dirname(new URL(import.meta.url).pathname), '..');
const napinet = require(path.join(root, 'dist/cjs/index.js'));
const { seedNetwork } = require(path.join(root, 'dist/cjs/chapter/index.js'));
const { PNG } = require('pngjs');
const limitArg = process.argv.indexOf('--limit-mb');
const limitMb = limitArg > 0 ? Number(process.argv[limitArg + 1]) : 4096;
const cli = path.join(root, 'dist/cjs/chapter/cli.js');
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-peaks-'));

// tall-png: 1×60000 grey pixels, 196 bytes.
const tall = new PNG({ width: 1, height: 60000, colorType: 0, inputColorType: 0, inputHasAlpha: false, bitDepth: 8 });
tall.data = Buffer.alloc(60000);
fs.writeFileSync(path.join(dir, 'tall.png'), PNG.sync.write(tall, { colorType: 0, inputColorType: 0, inputHasAlpha: false, deflateLevel: 9 }));
fs.writeFileSync(path.join(dir, 'digit.png'), napinet.encodeGreyPng(new Uint8Array(784), 28, 28));
// gzip-idx: header [N, 28, 28] (N·784 ≈ 4 GiB) then zeros; one 1 MiB deflate block repeated.
const count = Math.floor(2 ** 32 / 784);
const header = Buffer.alloc(16);
header.writeUInt32BE(0x803, 0);
header.writeUInt32BE(count, 4);
header.writeUInt32BE(28, 8);
header.writeUInt32BE(28, 12);
const flush = { finishFlush: zlib.constants.Z_FULL_FLUSH };
const parts = [Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff]), zlib.deflateRawSync(header, flush)];
const block = zlib.deflateRawSync(Buffer.alloc(1 << 20), flush);
let left = count * 784;
for (; left >= 1 << 20; left -= 1 << 20) parts.push(block);
parts.push(zlib.deflateRawSync(Buffer.alloc(left), flush), zlib.deflateRawSync(Buffer.alloc(0)), Buffer.alloc(8));
fs.mkdirSync(path.join(dir, 'mnist'));
fs.writeFileSync(path.join(dir, 'mnist', 'train-images-idx3-ubyte.gz'), Buffer.concat(parts));
fs.writeFileSync(path.join(dir, 'mnist', 'train-labels-idx1-ubyte'), Buffer.from([0, 0, 8, 1, 0, 0, 0, 1, 7]));
// huge-model: the seed network saved with inputShape [1, 1e9, 1e9].
napinet.saveModel(path.join(dir, 'huge-model'), seedNetwork(), { preprocessing: { standardize: { mean: [33], std: [78] }, inputShape: [1, 1e9, 1e9] } });
const model = path.join(dir, 'model');
napinet.saveModel(model, seedNetwork(), { preprocessing: { standardize: { mean: [33], std: [78] }, inputShape: [1, 28, 28] } });

const cases = {
  'tall-png': [cli, 'predict', model, path.join(dir, 'tall.png')],
  'gzip-idx': [
    '-e',
    `try { require(${JSON.stringify(path.join(root, 'dist/cjs/index.js'))}).loadMnist(${JSON.stringify(path.join(dir, 'mnist'))}) } ` +
      'catch (e) { console.error(e.message); process.exitCode = 1 }',
  ],
  'huge-model': [cli, 'predict', path.join(dir, 'huge-model'), path.join(dir, 'digit.png')],
};

function vmHwmKb(pid) {
  try {
    return Number(/VmHWM:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0);
  } catch {
    return 0;
  }
}

for (const [name, args] of Object.entries(cases)) {
  const started = performance.now();
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  let peak = 0;
  let killed = false;
  child.stderr.on('data', (d) => (stderr += d));
  const timer = setInterval(() => {
    peak = Math.max(peak, vmHwmKb(child.pid));
    if (peak > limitMb * 1024 && !killed) {
      killed = true;
      child.kill('SIGKILL');
    }
  }, 10);
  const [code, signal] = await new Promise((resolve) => child.on('exit', (c, s) => resolve([c, s])));
  clearInterval(timer);
  const seconds = (performance.now() - started) / 1000;
  const last = stderr.trim().split('\n').at(-1) ?? '';
  const end = killed ? `killed by the watchdog at ${limitMb} MB` : signal ? `signal ${signal}` : `exit ${code}`;
  console.log(`${name.padEnd(10)} ${end}; peak RSS ≥ ${(peak / 1024).toFixed(0)} MB; ${seconds.toFixed(1)} s; ${last.slice(0, 160)}`);
}
fs.rmSync(dir, { recursive: true, force: true });
