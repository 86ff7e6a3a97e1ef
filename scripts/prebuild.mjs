#!/usr/bin/env node
// Makes the prebuilt binaries that ship in the npm package (npm run build:prebuild):
//
//   linux-x64 with nvcc on PATH → the CUDA-enabled addon, built by cmake-js into build-prebuild/
//     (cudart static; SASS for sm_75…sm_90 + PTX, checked by scripts/check-cuda-binary.js) and
//     copied to prebuilds/linux-x64/napinet.napi.glibc.node;
//   --arch arm64 on linux-x64 → the CPU addon for linux-arm64 (glibc), cross-compiled by cmake-js
//     with Debian's g++-aarch64-linux-gnu (cmake/aarch64-linux-gnu.cmake) into
//     build-prebuild-arm64/ and copied to prebuilds/linux-arm64/napinet.napi.glibc.node
//     (npm run test:arm64 runs the suite on it under qemu);
//   other Linux machines (arm64, Alpine, x64 without nvcc) → the same CPU build of cmake-js, into
//     prebuilds/linux-<arch>/napinet.napi.<glibc|musl>.node;
//   macOS and Windows, or NAPINET_PREBUILD_CPU=1 → a CPU-only addon from node-gyp via prebuildify
//     (--napi: one binary for every Node version with Node-API 8).
// The release workflow (.github/workflows/release.yml) runs it natively on each platform.
//
// node-gyp-build finds any of them at require time (by platform, architecture and libc); nothing
// runs at install.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { binaryKind, describeBinary } from './binary-kind.mjs';

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

// Targets built on another architecture than this machine's: node's name → how.
const CROSS = {
  'linux-x64→arm64': {
    toolchain: 'cmake/aarch64-linux-gnu.cmake',
    compiler: 'aarch64-linux-gnu-g++',
    strip: 'aarch64-linux-gnu-strip',
    hint: 'apt-get install g++-aarch64-linux-gnu',
  },
};

const archFlag = process.argv.indexOf('--arch');
const arch = archFlag >= 0 ? process.argv[archFlag + 1] : process.arch;
if (!arch) throw new Error('Expected an architecture after --arch (e.g. --arch arm64) but received nothing');

// Alpine's musl, else glibc: the tag node-gyp-build matches against the running system's.
const libc = fs.existsSync('/etc/alpine-release') ? 'musl' : 'glibc';

/**
 * cmake-js into `out` with `defines`; `check(built)` (may throw); then the addon stripped into
 * prebuilds/linux-<arch>/napinet.napi.<libc>.node, replacing what was there.
 */
function cmakePrebuild(out, targetArch, defines, strip, check = () => {}) {
  run(process.execPath, [path.join(root, 'node_modules/cmake-js/bin/cmake-js'), 'compile', '--out', out, '--arch', targetArch, ...defines]);
  const built = path.join(root, out, 'Release/napinet.node');
  check(built);
  const dir = path.join(root, `prebuilds/linux-${targetArch}`);
  fs.mkdirSync(dir, { recursive: true });
  for (const old of fs.readdirSync(dir)) fs.rmSync(path.join(dir, old));
  const target = path.join(dir, `napinet.napi.${libc}.node`);
  run(strip, ['--strip-unneeded', '-o', target, built]);
  return target;
}

const size = (file) => `${(fs.statSync(file).size / 1e6).toFixed(1)} MB`;

if (arch !== process.arch) {
  const cross = CROSS[`${process.platform}-${process.arch}→${arch}`];
  if (!cross) {
    throw new Error(`Expected --arch ${Object.keys(CROSS).map((k) => k.split('→')[1]).join(' or ')} on ${Object.keys(CROSS).map((k) => k.split('→')[0]).join(', ')} but received --arch ${arch} on ${process.platform}-${process.arch}`);
  }
  if (!has(cross.compiler)) throw new Error(`${cross.compiler} is not on PATH: ${cross.hint}`);
  const target = cmakePrebuild(`build-prebuild-${arch}`, arch, [
    `--CDCMAKE_TOOLCHAIN_FILE=${path.join(root, cross.toolchain)}`,
    '--CDNAPINET_CUDA=OFF',
  ], cross.strip, (built) => {
    const kind = binaryKind(built);
    if (kind.format !== 'ELF' || kind.arch !== arch) throw new Error(`Expected an ELF ${arch} binary from the cross build but received ${describeBinary(built)}`);
  });
  console.log(`${path.relative(root, target)}: ${size(target)}, ${describeBinary(target)} (CPU, cross-compiled)`);
} else if (process.platform === 'linux' && process.arch === 'x64' && has('nvcc') && process.env.NAPINET_PREBUILD_CPU !== '1') {
  const target = cmakePrebuild('build-prebuild', 'x64', ['--CDNAPINET_CUDA=ON'], 'strip', (built) =>
    run(process.execPath, [path.join(root, 'scripts/check-cuda-binary.js'), built]));
  console.log(`${path.relative(root, target)}: ${size(target)} (CUDA + CPU)`);
} else if (process.platform === 'linux' && process.env.NAPINET_PREBUILD_CPU !== '1') {
  const target = cmakePrebuild('build-prebuild', arch, ['--CDNAPINET_CUDA=OFF'], 'strip');
  console.log(`${path.relative(root, target)}: ${size(target)} (CPU)`);
} else {
  const tagLibc = process.platform === 'linux' ? ['--tag-libc'] : [];
  run(process.execPath, [path.join(root, 'node_modules/prebuildify/bin.js'), '--napi', '--strip', ...tagLibc, '--name', 'napinet']);
  console.log('prebuilds/: CPU-only addon built with node-gyp (macOS or Windows, or NAPINET_PREBUILD_CPU=1)');
}
