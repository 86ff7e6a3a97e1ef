// The README's and the guides' (docs/guides/*.md) ```ts examples compile under tsc --strict against
// the package's shipped types (dist/, as `npm ci` builds it), the way a user's program would import
// them: each block is its own ES module (top-level await allowed) in a scratch project whose
// node_modules/napinet links to this checkout, so 'napinet' and 'napinet/chapter' resolve through
// package.json's "exports". A block must stand alone (its own imports and data). tsc reports each
// error as file(line): the file name says which document and block it came from.
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const root = path.join(__dirname, '..');
const shippedTypes = path.join(root, 'dist', 'cjs', 'index.d.ts');

/** The ```ts blocks of a markdown file, each with the line it starts on. */
export function typescriptBlocks(markdown: string): { code: string; line: number }[] {
  const blocks: { code: string; line: number }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (!/^```(ts|typescript)\s*$/.test(lines[i])) continue;
    const start = i + 1;
    let end = start;
    while (end < lines.length && !lines[end].startsWith('```')) end++;
    blocks.push({ code: lines.slice(start, end).join('\n'), line: start + 1 });
    i = end;
  }
  return blocks;
}

function documents(): string[] {
  const guides = path.join(root, 'docs', 'guides');
  return ['README.md', ...fs.readdirSync(guides).filter((f) => f.endsWith('.md')).sort().map((f) => path.join('docs', 'guides', f))];
}

test('the extractor finds each ```ts block and no other', () => {
  const md = 'text\n```ts\nconst a = 1;\n```\n```sh\nls\n```\n```typescript\nconst b: number = 2;\nconst c = b;\n```\n';
  expect(typescriptBlocks(md)).toEqual([
    { code: 'const a = 1;', line: 3 },
    { code: 'const b: number = 2;\nconst c = b;', line: 9 },
  ]);
});

test.skipIf(!fs.existsSync(shippedTypes))('the README and every guide have ```ts examples, and they compile under tsc --strict against the shipped types', () => {
  const project = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-doc-examples-'));
  fs.mkdirSync(path.join(project, 'node_modules'));
  fs.symlinkSync(root, path.join(project, 'node_modules', 'napinet'), 'dir');
  const files: string[] = [];
  for (const doc of documents()) {
    const blocks = typescriptBlocks(fs.readFileSync(path.join(root, doc), 'utf8'));
    expect(blocks.length, `${doc} has TypeScript examples`).toBeGreaterThan(0);
    blocks.forEach((b, i) => {
      // e.g. docs-guides-saving.md.block2.line40.mts: an error's file name points at the source.
      const name = `${doc.replace(/[\\/]/g, '-')}.block${i + 1}.line${b.line}.mts`;
      fs.writeFileSync(path.join(project, name), `${b.code}\nexport {};\n`);
      files.push(name);
    });
  }
  fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      strict: true, noEmit: true, target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext', lib: ['ES2022'],
      types: ['node'], typeRoots: [path.join(root, 'node_modules', '@types')], skipLibCheck: false,
    },
    files,
  }));
  let output = '';
  try {
    execFileSync(process.execPath, [path.join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', project], { cwd: project, encoding: 'utf8', stdio: 'pipe' });
  } catch (e) {
    output = String((e as { stdout?: string }).stdout ?? e);
  }
  expect(output, 'tsc --strict errors in the documentation examples').toBe('');
  fs.rmSync(project, { recursive: true, force: true });
}, 120_000);
