// What a compiled binary is, read from its header (so the checks need no `file` command):
// format, architecture and kind, e.g. { format: 'ELF', arch: 'arm64', kind: 'shared object' }.
// ELF (Linux), Mach-O 64-bit (macOS) and PE32+ (Windows); throws on anything else.
import * as fs from 'node:fs';

const ELF_MACHINES = { 62: 'x64', 183: 'arm64' };
const MACHO_CPUS = { 0x01000007: 'x64', 0x0100000c: 'arm64' };
const MACHO_KINDS = { 6: 'dylib', 8: 'bundle' };
const PE_MACHINES = { 0x8664: 'x64', 0xaa64: 'arm64' };

export function binaryKind(file) {
  const b = fs.readFileSync(file);
  if (b.readUInt32BE(0) === 0x7f454c46) {
    const type = b.readUInt16LE(16);
    return { format: 'ELF', arch: ELF_MACHINES[b.readUInt16LE(18)] ?? `machine ${b.readUInt16LE(18)}`, kind: type === 3 ? 'shared object' : `type ${type}` };
  }
  if (b.readUInt32LE(0) === 0xfeedfacf) {
    const cpu = b.readUInt32LE(4), type = b.readUInt32LE(12);
    return { format: 'Mach-O', arch: MACHO_CPUS[cpu] ?? `cpu ${cpu}`, kind: MACHO_KINDS[type] ?? `filetype ${type}` };
  }
  if (b.toString('latin1', 0, 2) === 'MZ') {
    const pe = b.readUInt32LE(0x3c);
    if (b.toString('latin1', pe, pe + 4) === 'PE\0\0') {
      const machine = b.readUInt16LE(pe + 4), flags = b.readUInt16LE(pe + 22);
      return { format: 'PE32+', arch: PE_MACHINES[machine] ?? `machine ${machine}`, kind: flags & 0x2000 ? 'DLL' : 'executable' };
    }
  }
  throw new Error(`Expected an ELF, Mach-O or PE binary for ${file} but received something else`);
}

export const describeBinary = (file) => {
  const k = binaryKind(file);
  return `${k.format} ${k.arch} ${k.kind}`;
};
