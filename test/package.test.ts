// `npm install napinet` as a new user meets it: the packed tarball installed into an empty project
// with --ignore-scripts and no compiler, CMake or nvcc on PATH, then used from TypeScript, from an
// ES module and from plain CommonJS: the chapter's recipe ('napinet/chapter') trains the seed network
// one epoch on 2,000 images and the library ('napinet') predicts with it. And the loader's message
// when no binary fits.
//
// Needs the prebuilt binary (npm run build:prebuild): CI makes it first; locally the suite skips
// with a message when it is missing.
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { defaultMnistDir } from '../lib/data/mnist';

const root = path.join(__dirname, '..');
const prebuilt = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
const havePrebuilt = fs.existsSync(prebuilt) && fs.readdirSync(prebuilt).some((f) => f.endsWith('.node'));
if (!havePrebuilt && process.env.CI) throw new Error('CI must run npm run build:prebuild before the package test');
if (!havePrebuilt) console.log('package test skipped: run npm run build:prebuild first');

let work: string;
let app: string;
let bin: string;
let tarballBytes = 0;
const mnistDir = defaultMnistDir()!;

/** Runs a command with PATH holding only node and npm: no compiler, make, cmake or nvcc. */
function bare(command: string, args: string[], cwd: string) {
  const r = spawnSync(command, args, {
    cwd,
    encoding: 'utf8',
    env: { HOME: process.env.HOME, PATH: bin, npm_config_cache: process.env.npm_config_cache ?? path.join(os.homedir(), '.npm') },
    timeout: 240_000,
  });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

describe.skipIf(!havePrebuilt)('the npm package, installed as a dependency', () => {
  beforeAll(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-pack-'));
    bin = path.join(work, 'bin');
    fs.mkdirSync(bin);
    fs.symlinkSync(process.execPath, path.join(bin, 'node'));
    fs.symlinkSync(fs.realpathSync(path.join(path.dirname(process.execPath), 'npm')), path.join(bin, 'npm'));
    for (const tool of ['cc', 'gcc', 'g++', 'make', 'cmake', 'nvcc', 'python3']) {
      expect(spawnSync('sh', ['-c', `command -v ${tool}`], { env: { PATH: bin } }).status).not.toBe(0);
    }
    const pack = spawnSync('npm', ['pack', '--ignore-scripts', '--pack-destination', work, '--json'], { cwd: root, encoding: 'utf8' });
    expect(pack.status).toBe(0);
    const tarball = path.join(work, JSON.parse(pack.stdout)[0].filename);
    tarballBytes = fs.statSync(tarball).size;
    app = path.join(work, 'app');
    fs.mkdirSync(app);
    fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true }));
    bare(path.join(bin, 'npm'), ['install', tarball, '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline'], app);
  }, 300_000);

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  test('the tarball stays within the size budget the README states (10 MB packed)', () => {
    expect(tarballBytes).toBeGreaterThan(0);
    expect(tarballBytes).toBeLessThan(10 * 1024 * 1024);
  });

  test('the tarball holds what users need and nothing else', () => {
    const pkg = path.join(app, 'node_modules', 'napinet');
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/index.js'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'dist/esm/index.mjs'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/chapter/index.js'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'dist/cjs/chapter/index.d.ts'))).toBe(true);
    expect(fs.existsSync(path.join(pkg, 'dist/esm/chapter/index.mjs'))).toBe(true);
    expect(fs.readdirSync(path.join(pkg, 'prebuilds', `${process.platform}-${process.arch}`)).some((f) => f.endsWith('.node'))).toBe(true);
    for (const absent of ['test', 'bench', 'scripts/gen_fixtures.py', 'build', 'lib', 'examples']) {
      expect(fs.existsSync(path.join(pkg, absent)), absent).toBe(false);
    }
  });

  const script = (lang: 'cjs' | 'esm' | 'ts') => {
    const imports = {
      cjs: "const napinet = require('napinet');\nconst chapter = require('napinet/chapter');",
      esm: "import * as napinet from 'napinet';\nimport * as chapter from 'napinet/chapter';",
      ts: "import * as napinet from 'napinet';\nimport * as chapter from 'napinet/chapter';",
    }[lang];
    const body = `
      const result = await chapter.trainSeedRecipe({ dataDir: ${JSON.stringify(mnistDir)}, limit: 2000, epochs: 1, device: 'cpu', progress: 'none' });
      const classes = Array.from(napinet.predictClasses(result.model, result.test.head(5)));
      console.log(JSON.stringify({ accuracy: result.testAccuracy, classes, labels: Array.from(result.test.labels.subarray(0, 5)), source: napinet.addonSource().kind, oneLibrary: result.model instanceof napinet.nn.Sequential }));`;
    return lang === 'cjs' ? `${imports}\n(async () => {${body}\n})();\n` : `${imports}\n${body}\n`;
  };

  const check = (stdout: string) => {
    const out = JSON.parse(stdout.trim().split('\n').at(-1)!);
    expect(out.source).toBe('prebuilt');
    expect(out.oneLibrary).toBe(true); // the chapter's entry runs on the same library instance as 'napinet'
    expect(out.accuracy).toBeGreaterThan(0.85);
    expect(out.classes.filter((c: number, i: number) => c === out.labels[i]).length).toBeGreaterThanOrEqual(4);
  };

  test('plain CommonJS: build, train one epoch on 2,000 images, predict', () => {
    fs.writeFileSync(path.join(app, 'train.cjs'), script('cjs'));
    check(bare(path.join(bin, 'node'), ['train.cjs'], app));
  }, 120_000);

  test('ES module: the same through import', () => {
    fs.writeFileSync(path.join(app, 'train.mjs'), script('esm'));
    check(bare(path.join(bin, 'node'), ['train.mjs'], app));
  }, 120_000);

  test('TypeScript: type-checks against the shipped types and runs', () => {
    fs.writeFileSync(path.join(app, 'train.mts'), script('ts'));
    fs.writeFileSync(
      path.join(app, 'tsconfig.json'),
      JSON.stringify({ compilerOptions: { module: 'nodenext', target: 'es2022', strict: true, types: [], skipLibCheck: false, declaration: false }, files: ['train.mts'] }),
    );
    bare(path.join(bin, 'node'), [path.join(root, 'node_modules/typescript/bin/tsc'), '-p', '.'], app);
    check(bare(path.join(bin, 'node'), ['train.mjs'], app));
  }, 120_000);

  test('with no binary that fits, the loader says what to run', () => {
    const pkg = path.join(app, 'node_modules', 'napinet');
    fs.renameSync(path.join(pkg, 'prebuilds'), path.join(pkg, 'prebuilds.off'));
    try {
      const r = spawnSync(path.join(bin, 'node'), ['-e', "require('napinet').cuda.isAvailable()"], { cwd: app, encoding: 'utf8', env: { PATH: bin } });
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`napinet: no native addon for ${process.platform}-${process.arch}`);
      expect(r.stderr).toContain('npx node-gyp rebuild');
      expect(r.stderr).toContain('npx cmake-js compile');
      expect(r.stderr).toContain('NAPINET_ADDON');
    } finally {
      fs.renameSync(path.join(pkg, 'prebuilds.off'), path.join(pkg, 'prebuilds'));
    }
  });
});
