// Checks that a CUDA build of the addon carries GPU code for every architecture napinet targets:
// real code (SASS) for sm_75, sm_80, sm_86, sm_89, sm_90 and PTX for compute_90, in every fatbin
// (one per .cu file with kernels). Reads the ELF's .nv_fatbin section itself, and cross-checks
// with `cuobjdump --list-elf/--list-ptx` when the CUDA toolkit has it.
//
//   node scripts/check-cuda-binary.js [build/Release/napinet.node]     (npm run check:cuda)
//   node scripts/check-cuda-binary.js FILE --arch sm_90                 (one architecture's SASS
//                                                                        only: scripts/gpu-prepare)
//
// Exit status 0 when everything is there, 1 otherwise. test/cuda-build.test.ts runs the same check.
'use strict';
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');

const EXPECTED_SASS = ['sm_75', 'sm_80', 'sm_86', 'sm_89', 'sm_90'];
const EXPECTED_PTX = ['compute_90'];

const FATBIN_MAGIC = 0xba55ed50;
const KIND_PTX = 1;
const KIND_ELF = 2;

// The bytes of the named section of a little-endian ELF64 file, or undefined.
function elfSection(file, name) {
  if (file.readUInt32BE(0) !== 0x7f454c46 || file[4] !== 2 || file[5] !== 1) {
    throw new Error('not a little-endian 64-bit ELF file');
  }
  const shoff = Number(file.readBigUInt64LE(0x28));
  const shentsize = file.readUInt16LE(0x3a);
  const shnum = file.readUInt16LE(0x3c);
  const shstrndx = file.readUInt16LE(0x3e);
  const header = (i) => shoff + i * shentsize;
  const strtab = Number(file.readBigUInt64LE(header(shstrndx) + 0x18));
  for (let i = 0; i < shnum; i++) {
    const h = header(i);
    const nameOffset = strtab + file.readUInt32LE(h);
    const end = file.indexOf(0, nameOffset);
    if (file.toString('latin1', nameOffset, end) === name) {
      const offset = Number(file.readBigUInt64LE(h + 0x18));
      const size = Number(file.readBigUInt64LE(h + 0x20));
      return file.subarray(offset, offset + size);
    }
  }
  return undefined;
}

// Each fatbin in the section: the architectures of its ELF (SASS) and PTX entries.
// Layout: a 16-byte header (u32 magic, u16 version, u16 header size, u64 size of the entries),
// then entries, each with a header (u16 kind, u16 version, u32 header size, u64 payload size,
// …, u32 architecture at byte 28) followed by its payload.
function readFatbins(section) {
  const fatbins = [];
  let at = 0;
  while (at + 16 <= section.length) {
    if (section.readUInt32LE(at) !== FATBIN_MAGIC) {
      at += 8; // fatbins are 8-byte aligned; skip padding
      continue;
    }
    const headerSize = section.readUInt16LE(at + 6);
    const size = Number(section.readBigUInt64LE(at + 8));
    const fatbin = { sass: [], ptx: [] };
    let entry = at + headerSize;
    const end = entry + size;
    while (entry + 32 <= end) {
      const kind = section.readUInt16LE(entry);
      const entryHeader = section.readUInt32LE(entry + 4);
      const payload = Number(section.readBigUInt64LE(entry + 8));
      const arch = section.readUInt32LE(entry + 28);
      if (kind === KIND_ELF) fatbin.sass.push(`sm_${arch}`);
      else if (kind === KIND_PTX) fatbin.ptx.push(`compute_${arch}`);
      entry += entryHeader + payload;
    }
    fatbins.push(fatbin);
    at = end;
  }
  return fatbins;
}

function which(tool) {
  const dirs = (process.env.PATH || '').split(path.delimiter);
  if (process.env.CUDA_PATH) dirs.push(path.join(process.env.CUDA_PATH, 'bin'));
  dirs.push('/usr/local/cuda/bin');
  for (const dir of dirs) {
    const candidate = path.join(dir, tool);
    if (fs.existsSync(candidate)) return candidate;
  }
  return undefined;
}

// What cuobjdump lists, as sorted unique architecture names, or undefined without cuobjdump.
function cuobjdumpListing(binary) {
  const tool = which('cuobjdump');
  if (!tool) return undefined;
  const list = (flag, pattern) => {
    const out = execFileSync(tool, [flag, binary], { encoding: 'utf8' });
    return [...new Set([...out.matchAll(pattern)].map((m) => m[1]))].sort();
  };
  return {
    tool,
    sass: list('--list-elf', /\.(sm_\d+)\.cubin/g),
    ptx: list('--list-ptx', /\.(sm_\d+)\.ptx/g).map((a) => a.replace('sm_', 'compute_')),
  };
}

/**
 * Checks `binary`; returns { ok, fatbins, missing: string[], cuobjdump, messages: string[] }.
 * `expected` overrides the architectures looked for ({ sass: [...], ptx: [...] }).
 */
function checkCudaBinary(binary, expected = { sass: EXPECTED_SASS, ptx: EXPECTED_PTX }) {
  const { sass: EXPECTED_SASS_, ptx: EXPECTED_PTX_ } = expected;
  const file = fs.readFileSync(binary);
  const section = elfSection(file, '.nv_fatbin');
  const messages = [];
  const missing = [];
  if (!section) {
    return { ok: false, fatbins: [], missing: ['.nv_fatbin section'], messages: [`${binary}: no .nv_fatbin section (not a CUDA build?)`] };
  }
  const fatbins = readFatbins(section);
  fatbins.forEach((f, i) => {
    messages.push(`fatbin ${i + 1}: SASS ${f.sass.join(' ')}; PTX ${f.ptx.join(' ')}`);
    for (const arch of EXPECTED_SASS_) if (!f.sass.includes(arch)) missing.push(`fatbin ${i + 1}: SASS ${arch}`);
    for (const arch of EXPECTED_PTX_) if (!f.ptx.includes(arch)) missing.push(`fatbin ${i + 1}: PTX ${arch}`);
  });
  if (fatbins.length === 0) missing.push('any fatbin');
  const cuobjdump = cuobjdumpListing(binary);
  if (cuobjdump) {
    messages.push(`cuobjdump (${cuobjdump.tool}): ELF ${cuobjdump.sass.join(' ')}; PTX ${cuobjdump.ptx.join(' ')}`);
    for (const arch of EXPECTED_SASS_) if (!cuobjdump.sass.includes(arch)) missing.push(`cuobjdump --list-elf: ${arch}`);
    for (const arch of EXPECTED_PTX_) if (!cuobjdump.ptx.includes(arch)) missing.push(`cuobjdump --list-ptx: ${arch}`);
  } else {
    messages.push('cuobjdump not found (it ships with the full CUDA toolkit): skipped the cross-check');
  }
  return { ok: missing.length === 0, fatbins, missing, cuobjdump, messages };
}

module.exports = { checkCudaBinary, readFatbins, elfSection, EXPECTED_SASS, EXPECTED_PTX };

if (require.main === module) {
  const args = process.argv.slice(2);
  const archAt = args.indexOf('--arch');
  const arch = archAt >= 0 ? args.splice(archAt, 2)[1] : undefined;
  const expected = arch ? { sass: [arch], ptx: [] } : { sass: EXPECTED_SASS, ptx: EXPECTED_PTX };
  const binary = args[0] || path.join(__dirname, '..', 'build', 'Release', 'napinet.node');
  const result = checkCudaBinary(binary, expected);
  console.log(`${binary}:`);
  for (const line of result.messages) console.log(`  ${line}`);
  if (result.ok) {
    console.log(`OK: SASS for ${expected.sass.join(', ')}${expected.ptx.length ? ` and PTX for ${expected.ptx.join(', ')}` : ''}`);
  } else {
    console.log(`MISSING: ${result.missing.join('; ')}`);
    process.exitCode = 1;
  }
}
