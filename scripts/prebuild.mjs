#!/usr/bin/env node
// Makes the prebuilt binary that ships in the npm package (npm run build:prebuild):
//
//   linux-x64 with nvcc on PATH → the CUDA-enabled addon, built by cmake-js into build-prebuild/
//     (cudart static; SASS for sm_75…sm_90 + PTX, checked by scripts/check-cuda-binary.js) and
//     copied to prebuilds/linux-x64/napinet.napi.glibc.node;
//   anywhere else → a CPU-only addon from node-gyp via prebuildify (--napi: one binary for every
//     Node version with Node-API 8).
//
// node-gyp-build finds either one at require time; nothing runs at install.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const run = (cmd, args) => execFileSync(cmd, args, { cwd: root, stdio: 'inherit' });
const has = (cmd) => {
  try {
    execFileSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
};

if (process.platform === 'linux' && process.arch === 'x64' && has('nvcc') && process.env.NAPINET_PREBUILD_CPU !== '1') {
  run(process.execPath, [path.join(root, 'node_modules/cmake-js/bin/cmake-js'), 'compile', '--out', 'build-prebuild', '--CDNAPINET_CUDA=ON']);
  const built = path.join(root, 'build-prebuild/Release/napinet.node');
  run(process.execPath, [path.join(root, 'scripts/check-cuda-binary.js'), built]);
  const dir = path.join(root, 'prebuilds/linux-x64');
  fs.mkdirSync(dir, { recursive: true });
  for (const old of fs.readdirSync(dir)) fs.rmSync(path.join(dir, old));
  const target = path.join(dir, 'napinet.napi.glibc.node');
  run('strip', ['--strip-unneeded', '-o', target, built]);
  console.log(`${path.relative(root, target)}: ${(fs.statSync(target).size / 1e6).toFixed(1)} MB (CUDA + CPU)`);
} else {
  run(process.execPath, [path.join(root, 'node_modules/prebuildify/bin.js'), '--napi', '--strip', '--name', 'napinet']);
  console.log('prebuilds/: CPU-only addon built with node-gyp (no nvcc here, or NAPINET_PREBUILD_CPU=1)');
}
