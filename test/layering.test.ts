// The direction of every import inside lib/ (docs/ARCHITECTURE.md, "Layers"): the library never
// imports the chapter's application (lib/chapter/); the application reaches the library only
// through its public entry (lib/index.ts), as a user's code would; the optional drawing libraries
// (@napi-rs/canvas, chart.js) stay out of the library's import graph; and inside the library every
// import points down the layers below. Imports are read with TypeScript's own scanner: static,
// type-only, re-exports, import() and require() alike.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as ts from 'typescript';
import { describe, expect, test } from 'vitest';

const lib = path.join(__dirname, '..', 'lib');
const app = path.join(lib, 'chapter');
const entry = path.join(lib, 'index.ts');

/**
 * The library's layers, lowest first: a file (or folder) may import only from a lower layer or from
 * its own folder. A new top-level file or folder takes its place here.
 */
const LAYERS: string[][] = [
  ['validate.ts'],
  ['native.ts', 'random.ts', 'budget.ts'],
  ['device.ts', 'threads.ts'],
  ['memory.ts'], // its pool is keyed by device ('cuda:1'), so it asks device.ts (isCuda)
  ['tensor.ts', 'cuda_graph.ts'],
  ['ops/', 'distributed/'],
  ['autograd/'],
  ['nn/'],
  ['fit_types.ts'],
  ['optim/', 'data/'],
  ['io/'],
  ['train/', 'inference.ts'],
  ['index.ts'],
];
const OPTIONAL_DRAWING = ['@napi-rs/canvas', 'chart.js'];

function tsFiles(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const full = path.join(dir, e.name);
    return e.isDirectory() ? tsFiles(full) : e.name.endsWith('.ts') ? [full] : [];
  });
}

/** What `file` imports: a relative import as the .ts file it resolves to, a package by its name. */
function importsOf(file: string): string[] {
  return ts.preProcessFile(fs.readFileSync(file, 'utf8'), true, true).importedFiles.map(({ fileName }) => {
    if (!fileName.startsWith('.')) return fileName;
    const target = path.resolve(path.dirname(file), fileName);
    for (const candidate of [`${target}.ts`, path.join(target, 'index.ts')]) if (fs.existsSync(candidate)) return candidate;
    throw new Error(`${path.relative(lib, file)}: cannot resolve the import ${fileName}`);
  });
}

const inApp = (file: string) => file.startsWith(app + path.sep);
const libraryFiles = tsFiles(lib).filter((f) => !inApp(f));
const appFiles = tsFiles(app);
const rel = (file: string) => path.relative(lib, file);

/** The layer group of a library file: its folder ('ops/') or its own name ('tensor.ts'). */
function group(file: string): string {
  const r = rel(file).split(path.sep);
  return r.length > 1 ? `${r[0]}/` : r[0];
}

function layerOf(file: string): number {
  const layer = LAYERS.findIndex((l) => l.includes(group(file)));
  if (layer < 0) throw new Error(`lib/${group(file)} has no place in LAYERS (test/layering.test.ts): add it to the layer it belongs to`);
  return layer;
}

describe('imports point one way', () => {
  test('the scan sees both halves', () => {
    expect(libraryFiles.length).toBeGreaterThan(40);
    expect(appFiles.map(rel)).toEqual(expect.arrayContaining(['chapter/index.ts', 'chapter/cli.ts', 'chapter/recipe.ts', path.join('chapter', 'viz', 'report.ts')]));
  });

  test('no library file imports from the application (lib/chapter/)', () => {
    const upward = libraryFiles.flatMap((f) => importsOf(f).filter(inApp).map((t) => `${rel(f)} → ${rel(t)}`));
    expect(upward).toEqual([]);
  });

  test('the application imports the library only through its public entry, lib/index.ts', () => {
    const internal = appFiles.flatMap((f) =>
      importsOf(f)
        .filter((t) => path.isAbsolute(t) && !inApp(t) && t !== entry)
        .map((t) => `${rel(f)} → ${rel(t)}`),
    );
    expect(internal).toEqual([]);
  });

  test('the optional drawing libraries are loaded by the application only', () => {
    const drawing = libraryFiles.flatMap((f) =>
      importsOf(f)
        .filter((t) => OPTIONAL_DRAWING.some((name) => t === name || t.startsWith(`${name}/`)))
        .map((t) => `${rel(f)} → ${t}`),
    );
    expect(drawing).toEqual([]);
    // The check looks where they are: the application's canvas module loads both.
    expect(importsOf(path.join(app, 'viz', 'canvas.ts'))).toEqual(expect.arrayContaining(['@napi-rs/canvas', 'chart.js/auto']));
  });

  test('inside the library every import points to a lower layer (or within its own folder)', () => {
    const wrong = libraryFiles.flatMap((f) =>
      importsOf(f)
        .filter((t) => path.isAbsolute(t) && !inApp(t) && group(t) !== group(f) && layerOf(t) >= layerOf(f))
        .map((t) => `${rel(f)} (layer ${layerOf(f)}) → ${rel(t)} (layer ${layerOf(t)})`),
    );
    expect(wrong).toEqual([]);
  });
});
