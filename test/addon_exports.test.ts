// The loaded addon's exports against the NativeAddon interface of lib/native.ts, the one typed
// description of the native surface. The interface is read from the TypeScript source with the
// compiler API (typescript is a dev dependency), so no list kept here can drift from it.
//
// What is checked:
//   1. every export is a function, and a member of NativeAddon;
//   2. every required member is exported; an optional member is exported exactly when the build
//      has what it needs: those documented "emulator builds only" when buildInfo().cudaEmulated,
//      the others (the CUDA device, graph and batched-gemm functions) when buildInfo().cuda;
//   3. the parameters, as far as JavaScript can check them. A Node-API function's .length is
//      always 0, so arity is probed by calling. Every argument check of the binding names its
//      argument ("Expected … for NAME but received …"), so each function is called with the
//      sentinels 0.5, 1.5, 2.5, … (more than the declared count, to catch reads past it): the error
//      names an argument and, by the sentinel it received, its position, which must be the position
//      NativeAddon declares for that name. A value of the kind asked for replaces that sentinel and
//      the call is repeated, until it succeeds (buffers of zeros, sizes of 1, or 2) or stops at a
//      check that names no position or asks for a CudaBuffer. Where it succeeds, the binding must
//      accept exactly the declared count and name the last declared parameter when it is missing.
//      Not checkable this way: parameters for which any number is valid (learning rates, alphas),
//      which never fail, and the positions after a stop (the CUDA-only functions stop at their
//      first CudaBuffer). Functions declared without parameters are never called (cudaGraphBegin
//      would begin a capture).
import * as fs from 'node:fs';
import * as path from 'node:path';
import ts from 'typescript';
import { describe, expect, test } from 'vitest';
import { native } from '../lib/native';

interface Member {
  name: string;
  optional: boolean;
  params: string[];
  /** Whether the last parameter is optional (`device?: number`): leaving it out is no error. */
  lastParamOptional: boolean;
  /** The comments above the member (its doc, or the section comment it opens). */
  doc: string;
}

/** The members of `interface NativeAddon` in lib/native.ts, in source order. */
function nativeAddonMembers(): Member[] {
  const file = path.join(__dirname, '..', 'lib', 'native.ts');
  const text = fs.readFileSync(file, 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const declaration = source.statements.find((s): s is ts.InterfaceDeclaration => ts.isInterfaceDeclaration(s) && s.name.text === 'NativeAddon');
  if (!declaration) throw new Error('lib/native.ts declares no interface NativeAddon');
  return declaration.members.map((m) => {
    const name = m.name?.getText(source) ?? '(unnamed)';
    const signature = ts.isMethodSignature(m) ? m : ts.isPropertySignature(m) && m.type && ts.isFunctionTypeNode(m.type) ? m.type : null;
    if (!signature) throw new Error(`NativeAddon.${name} is not a function`);
    const doc = (ts.getLeadingCommentRanges(text, m.pos) ?? []).map((r) => text.slice(r.pos, r.end)).join('\n');
    const lastParamOptional = signature.parameters.length > 0 && signature.parameters[signature.parameters.length - 1].questionToken !== undefined;
    return { name, optional: m.questionToken !== undefined, params: signature.parameters.map((p) => p.name.getText(source)), lastParamOptional, doc };
  });
}

const MEMBERS = nativeAddonMembers();
const addon = native() as unknown as Record<string, unknown>;
const build = native().buildInfo();
const EXPORTS = Object.keys(addon).sort();
const emulatorOnly = (m: Member) => /emulator builds only/.test(m.doc);

describe('the addon exports exactly the NativeAddon interface of lib/native.ts', () => {
  test('the interface is read from the source', () => {
    // The parse found the interface, its parameters and the one doc line the build rule reads.
    expect(MEMBERS.length).toBeGreaterThan(50);
    expect(MEMBERS.filter((m) => m.params.length > 0).length).toBeGreaterThan(50);
    expect(MEMBERS.some(emulatorOnly)).toBe(true);
  });

  test('every export is a function declared in NativeAddon', () => {
    const declared = new Set(MEMBERS.map((m) => m.name));
    expect(EXPORTS.filter((name) => !declared.has(name))).toEqual([]);
    expect(EXPORTS.filter((name) => typeof addon[name] !== 'function')).toEqual([]);
  });

  test('every required member is exported', () => {
    expect(MEMBERS.filter((m) => !m.optional && !(m.name in addon)).map((m) => m.name)).toEqual([]);
  });

  test(`the optional members are exported exactly as this build has them (cuda: ${build.cuda}, emulated: ${build.cudaEmulated})`, () => {
    for (const m of MEMBERS.filter((member) => member.optional)) {
      const expected = emulatorOnly(m) ? build.cudaEmulated : build.cuda;
      expect(m.name in addon, `${m.name}: ${emulatorOnly(m) ? 'emulator' : 'CUDA'} builds only`).toBe(expected);
    }
  });
});

/** Buffers for the probe: sizes are 1, so these are always long enough. */
const BUFFER_LENGTH = 4096;

/** A valid value of the kind an error message asks for ("an integer in [0, 2]", "a Float32Array"), or undefined. */
function valueOfKind(kind: string, size: number): unknown {
  const range = /^an? (?:integer|number|finite number) in \[(-?[\d.]+),/.exec(kind);
  if (range) return Number(range[1]);
  if (/^an integer\b/.test(kind)) return size;
  if (kind === 'a Float32Array') return new Float32Array(BUFFER_LENGTH);
  if (kind === 'an Int32Array') return new Int32Array(BUFFER_LENGTH);
  if (kind === 'a boolean') return false;
  if (kind === 'an Array of tensors') return [new Float32Array(BUFFER_LENGTH)];
  return undefined;
}

const MESSAGE = /^Expected (.+?) for (\S+) but received (.+)$/;
const SENTINEL = /^(?:the number )?(\d+)\.5$/;

/**
 * Calls f with sentinels and replaces each one the binding complains about (see the header), with
 * `size` for every integer. Returns the positions the errors named, and the arguments of the call
 * that succeeded (null where it stopped first).
 */
function probe(m: Member, f: (...args: unknown[]) => unknown, size: number): { positions: Map<string, number>; accepted: unknown[] | null } {
  const args: unknown[] = Array.from({ length: m.params.length + 8 }, (_, i) => i + 0.5);
  const positions = new Map<string, number>();
  for (let attempt = 0; attempt < 4 * m.params.length; attempt++) {
    let message: string;
    try {
      f(...args);
      return { positions, accepted: args };
    } catch (error) {
      message = (error as Error).message;
    }
    const parsed = MESSAGE.exec(message);
    if (!parsed) break; // a check that names no argument (e.g. "N·L = 1")
    const [, kind, name, received] = parsed;
    const sentinel = SENTINEL.exec(received);
    const index = sentinel ? Number(sentinel[1]) : positions.get(name);
    if (index === undefined) break;
    expect(m.params[index], `the binding's argument ${index} is '${name}'`).toBe(name);
    positions.set(name, index);
    const value = valueOfKind(kind, size);
    if (value === undefined || Object.is(value, args[index])) break;
    args[index] = value;
  }
  return { positions, accepted: null };
}

describe('the parameters NativeAddon declares', () => {
  const probed = MEMBERS.filter((m) => m.params.length > 0 && m.name in addon);
  test.each(probed.map((m) => [`${m.name}(${m.params.join(', ')})`, m] as const))('%s: the binding reads each named argument at its declared position', (_, m) => {
    const call = addon[m.name] as (...args: unknown[]) => unknown;
    // A capture that a probe begins is ended at once (a second one would be refused).
    const f = m.name === 'cudaGraphBegin' ? (...args: unknown[]) => (call(...args), (addon.cudaGraphAbort as () => void)()) : call;
    // Sizes of 1 pass most checks; batch norm in training needs more than one value per channel.
    let result = probe(m, f, 1);
    if (!result.accepted) {
      const second = probe(m, f, 2);
      if (second.accepted || second.positions.size > result.positions.size) result = second;
    }
    expect(result.positions.size, `${m.name} names no argument when given bad ones`).toBeGreaterThan(0);
    const { accepted } = result;
    if (accepted) {
      expect(() => f(...accepted.slice(0, m.params.length)), 'the declared number of arguments').not.toThrow();
      const last = m.params[m.params.length - 1];
      if (m.lastParamOptional) expect(() => f(...accepted.slice(0, m.params.length - 1)), 'without the optional last argument').not.toThrow();
      else expect(() => f(...accepted.slice(0, m.params.length - 1)), 'without the last declared argument').toThrow(`for ${last} but received undefined`);
    }
  });
});
