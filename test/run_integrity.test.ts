// Run folders stay whole (issue 16, "work is lost or mislabelled"), through the CLI (dist build):
// the data folder recorded in the run and used by report and --resume, an existing run refused
// unless --overwrite, the lock (a live holder refused, a dead one's lock taken over, two runs at
// once), --out checked before training, outputs over inputs refused, interrupted saves cleaned,
// a diverged run saving nothing, an empty test set and BatchNorm's last batch of one refused.
// lib/chapter/run_folder.ts holds the logic; docs/RELIABILITY.md lists the messages.
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { loadMnist } from '../lib';
import { cli, napinet, root } from './helpers/cli';
import { idxHeader } from './helpers/hostile';
import { nodeCommand } from './helpers/node';

const QUICK = ['--epochs', '1', '--device', 'cpu', '--no-report'];
let dir: string;
let dataDir: string;
const mnist = loadMnist();

/** An MNIST folder holding the first `train` training and `test` test images of the packaged MNIST. */
function writeMnist(folder: string, train: number, test: number): string {
  fs.mkdirSync(folder, { recursive: true });
  const put = (name: string, shape: number[], bytes: Uint8Array) => fs.writeFileSync(path.join(folder, name), Buffer.concat([idxHeader(shape), bytes]));
  put('train-images-idx3-ubyte', [train, 28, 28], mnist.train.images.subarray(0, train * 784));
  put('train-labels-idx1-ubyte', [train], mnist.train.labels.subarray(0, train));
  put('t10k-images-idx3-ubyte', [test, 28, 28], mnist.test.images.subarray(0, test * 784));
  put('t10k-labels-idx1-ubyte', [test], mnist.test.labels.subarray(0, test));
  return folder;
}

const fresh = (name: string) => path.join(dir, name);
const runFiles = (run: string) => (fs.existsSync(run) ? fs.readdirSync(run).sort() : []);
const settingsOf = (run: string) => JSON.parse(fs.readFileSync(path.join(run, 'result.json'), 'utf8')).settings;

/** `napinet ...args` without waiting: resolves with its exit code and output. */
function napinetAsync(...args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const child = spawn(...nodeCommand(cli, ...args), { cwd: root });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve) => child.on('exit', (code) => resolve({ code, stdout, stderr })));
}

describe.skipIf(!fs.existsSync(cli))('run folders stay whole (CLI, dist build)', () => {
  beforeAll(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-runs-'));
    dataDir = writeMnist(path.join(dir, 'data'), 600, 200);
  });
  afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('the data folder is recorded; report and --resume use it; other data on resume is refused unless --force-data', () => {
    const run = fresh('data-run');
    let r = napinet('train', ...QUICK, '--data', dataDir, '--out', run, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(settingsOf(run).dataDir).toBe(dataDir);
    expect(JSON.parse(fs.readFileSync(path.join(run, 'model.json'), 'utf8')).settings.dataDir).toBe(dataDir);

    // report without --data measures the recorded 200 test images, so it agrees with result.json.
    r = napinet('report', run);
    expect(r.stderr).toBe('');
    expect(r.stdout).toContain(`test: loss ${summary.testLoss.toFixed(4)}, accu ${summary.testAccuracy.toFixed(4)}`);

    // --resume with other data: refused, naming both; without --data: continues on the run's.
    const other = writeMnist(fresh('other-data'), 600, 100);
    r = napinet('train', '--resume', run, '--epochs', '2', '--device', 'cpu', '--no-report', '--data', other);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot resume on ${other}: the run in ${run} was trained on ${dataDir}`);
    expect(r.stderr).toContain('--force-data');
    expect(fs.existsSync(path.join(run, 'model.json'))).toBe(true); // nothing was removed
    r = napinet('train', '--resume', run, '--epochs', '2', '--device', 'cpu', '--no-report', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(settingsOf(run).dataDir).toBe(dataDir);
    expect(r.stdout).toMatch(/^epoch 1, /m);
    // With --force-data the other data is used, and said.
    r = napinet('train', '--resume', run, '--epochs', '3', '--device', 'cpu', '--no-report', '--data', other, '--force-data');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`note: continuing on ${other}, not the run's ${dataDir} (--force-data)`);
  }, 120_000);

  test('an existing run is refused unless --overwrite, which removes its files first; a non-empty folder too', () => {
    const run = fresh('twice');
    expect(napinet('train', ...QUICK, '--data', dataDir, '--out', run).code).toBe(0);
    fs.writeFileSync(path.join(run, 'report.html'), 'an old report');
    let r = napinet('train', ...QUICK, '--data', dataDir, '--out', run);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${run} already holds a run: continue it with napinet train --resume ${run}, or start it again with --overwrite`);
    expect(r.stdout).not.toMatch(/^epoch 0,/m); // refused before training

    fs.writeFileSync(path.join(run, 'notes.txt'), 'mine');
    r = napinet('train', ...QUICK, '--data', dataDir, '--out', run, '--overwrite', '--seed', '2');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`--overwrite: removed the earlier run's`);
    expect(fs.existsSync(path.join(run, 'report.html'))).toBe(false); // the old report does not sit beside the new model
    expect(fs.readFileSync(path.join(run, 'notes.txt'), 'utf8')).toBe('mine'); // not napinet's: kept
    expect(settingsOf(run).seed).toBe(2);

    const busy = fresh('not-empty');
    fs.mkdirSync(busy);
    fs.writeFileSync(path.join(busy, 'thesis.tex'), 'x');
    r = napinet('train', ...QUICK, '--data', dataDir, '--out', busy);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${busy} is not empty (it holds thesis.tex): choose another --out, or --overwrite`);
    expect(napinet('train', ...QUICK, '--resume', fresh('twice'), '--overwrite').stderr).toContain('--overwrite would remove the checkpoints that --resume continues from');
  }, 120_000);

  test('the lock: a live holder is refused, a dead holder\'s lock is taken over, two runs at once: one runs, one is refused', async () => {
    const run = fresh('locked');
    fs.mkdirSync(run);
    const lock = (pid: number) => JSON.stringify({ format: 'napinet-lock', pid, host: os.hostname(), command: 'napinet train', since: '2026-01-01T00:00:00.000Z' });
    fs.writeFileSync(path.join(run, '.napinet.lock'), lock(process.pid));
    let r = napinet('train', ...QUICK, '--data', dataDir, '--out', run);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${run} is in use by napinet process ${process.pid} (napinet train, since 2026-01-01T00:00:00.000Z)`);

    const dead = spawnSync(process.execPath, ['-e', '0']).pid!; // exited: its lock is stale
    fs.writeFileSync(path.join(run, '.napinet.lock'), lock(dead));
    r = napinet('train', ...QUICK, '--data', dataDir, '--out', run);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(run, '.napinet.lock'))).toBe(false); // released at the end

    const race = fresh('race');
    const both = await Promise.all([0, 1].map(() => napinetAsync('train', ...QUICK, '--data', dataDir, '--out', race)));
    const codes = both.map((b) => b.code).sort();
    expect(codes).toEqual([0, 1]);
    const loser = both.find((b) => b.code === 1)!;
    expect(loser.stderr).toMatch(/is in use by napinet process \d+|already holds a run/);
    // The winner's run is whole: it resumes.
    r = napinet('train', '--resume', race, '--epochs', '2', '--device', 'cpu', '--no-report');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
  }, 120_000);

  test('kill -9 during a run, twice: the next train --resume takes the dead lock over and finishes the run', async () => {
    const run = fresh('killed');
    /** Runs `napinet train ...args`, killed (SIGKILL) once a line matching `when` is printed. */
    const killWhen = async (when: RegExp, args: string[]) => {
      const child = spawn(...nodeCommand(cli, 'train', ...args), { cwd: root });
      let stdout = '';
      await new Promise<void>((resolve) => {
        child.stdout.on('data', (d) => {
          stdout += d;
          if (when.test(stdout)) child.kill('SIGKILL');
        });
        child.on('exit', () => resolve());
      });
    };
    // Killed as epoch 0 ends (its line comes just before its checkpoint is saved): maybe no checkpoint yet.
    await killWhen(/^epoch 0,/m, [...QUICK, '--epochs', '4', '--data', dataDir, '--out', run]);
    expect(fs.existsSync(path.join(run, '.napinet.lock'))).toBe(true); // left by the killed process
    let r: ReturnType<typeof napinet>;
    if (!fs.existsSync(path.join(run, 'checkpoints', 'latest.json'))) {
      r = napinet('train', '--resume', run, '--device', 'cpu', '--no-report');
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`the run stopped before its first checkpoint was saved; start it again with napinet train --out ${run} --overwrite`);
      await killWhen(/^epoch 1,/m, [...QUICK, '--epochs', '4', '--data', dataDir, '--out', run, '--overwrite']);
    }
    // Killed again after epoch 1's line: checkpoint epoch-0001 exists, epoch-0002's save may be cut.
    await killWhen(/^epoch 2,/m, ['--resume', run, '--device', 'cpu', '--no-report']);
    expect(fs.existsSync(path.join(run, 'model.json'))).toBe(false); // not finished
    r = napinet('train', '--resume', run, '--device', 'cpu', '--no-report', '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!).settings.epochs).toBe(4);
    expect(fs.readdirSync(run).filter((f) => f.startsWith('.'))).toEqual([]);
  }, 120_000);

  test('--out that is a file, an output over an input: refused before training', () => {
    const file = fresh('a-file');
    fs.writeFileSync(file, 'x');
    let r = napinet('train', ...QUICK, '--data', dataDir, '--out', file);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}: it is a file, not a folder`);
    expect(r.stdout).not.toMatch(/^epoch 0,/m);
    r = napinet('train', ...QUICK, '--data', dataDir, '--out', path.join(file, 'run'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file} is a file, not a folder`);

    r = napinet('train', ...QUICK, '--data', dataDir, '--out', path.join(dataDir, 'run'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the run folder ${path.join(dataDir, 'run')} lies inside the data folder ${dataDir}: writing there could destroy an input`);
    r = napinet('train', ...QUICK, '--data', dataDir, '--out', dir);
    expect(r.stderr).toContain(`the run folder ${dir} holds the data folder ${dataDir}`);

    const model = fresh('twice');
    r = napinet('export', '--onnx', model, path.join(model, 'model.json'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`the output file ${path.join(model, 'model.json')} is the model's model.json`);
    expect(JSON.parse(fs.readFileSync(path.join(model, 'model.json'), 'utf8')).format).toBeDefined(); // untouched
  }, 60_000);

  // Root writes anywhere: there is nothing to check.
  test.skipIf(process.getuid?.() === 0)('an unwritable --out fails before training', () => {
    const locked = fresh('read-only');
    fs.mkdirSync(locked);
    fs.chmodSync(locked, 0o555);
    const r = napinet('train', ...QUICK, '--data', dataDir, '--out', path.join(locked, 'run'));
    fs.chmodSync(locked, 0o755);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`cannot write ${path.join(locked, 'run')}`);
    expect(r.stdout).not.toMatch(/^epoch 0,/m);
  });

  test('interrupted saves: .tmp-* folders and files are cleaned when the run is opened again; a checkpoint moved aside is restored', () => {
    const run = fresh('interrupted');
    expect(napinet('train', ...QUICK, '--data', dataDir, '--out', run).code).toBe(0);
    const checkpoints = path.join(run, 'checkpoints');
    // What saveCheckpoint leaves when killed: its temporary folder, a half-written file; and the
    // moment between moving a same-name checkpoint aside and putting the new one in place.
    // Their names hold the writer's pid: a process that has exited.
    const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
    fs.mkdirSync(path.join(checkpoints, `.tmp-epoch-0002-${dead}-abc`));
    fs.writeFileSync(path.join(checkpoints, `.latest.json.${dead}.xyz.tmp`), '{"che');
    fs.writeFileSync(path.join(run, `.result.json.${dead}.xyz.tmp`), '{"te');
    fs.renameSync(path.join(checkpoints, 'epoch-0001'), path.join(checkpoints, `.old-epoch-0001-${dead}-def`));
    const r = napinet('train', '--resume', run, '--epochs', '2', '--device', 'cpu', '--no-report');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`removed ${path.join(checkpoints, `.tmp-epoch-0002-${dead}-abc`)} (an interrupted save)`);
    expect(r.stdout).toContain(`removed ${path.join(run, `.result.json.${dead}.xyz.tmp`)} (an interrupted write)`);
    expect(r.stdout).toContain(`restored ${path.join(checkpoints, 'epoch-0001')} (an interrupted save had moved it aside)`);
    expect(fs.readdirSync(checkpoints).sort()).toEqual(['epoch-0002', 'latest.json']);
  }, 60_000);

  test('a diverged run (--lr 1e308) saves no model and exits 1 with a sentence', () => {
    const run = fresh('diverged');
    const r = napinet('train', ...QUICK, '--epochs', '2', '--data', dataDir, '--out', run, '--lr', '1e308');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^napinet: training diverged: the training loss became (NaN|-?Infinity) in epoch 0 by step \d+; training stopped without saving the model \(no checkpoint had been saved yet\)\. Is the learning rate \(1e\+308\) too high\?$/m);
    expect(runFiles(run).filter((f) => f !== 'checkpoints')).toEqual([]);
    expect(runFiles(path.join(run, 'checkpoints')).filter((f) => /^epoch-/.test(f))).toEqual([]);
  }, 60_000);

  test('an empty test set is an error before training, not "accu NaN"', () => {
    const empty = writeMnist(fresh('no-test'), 600, 0);
    const r = napinet('train', ...QUICK, '--data', empty, '--out', fresh('no-test-run'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${empty}: the test set (t10k images) holds no images; a run needs at least one to be measured`);
    expect(r.stdout).not.toMatch(/^epoch 0,|accu NaN/m);
  });

  test('the deep model with a last batch of one image: refused before training (BatchNorm1d cannot train on one value per channel)', () => {
    // 600 images, 10% held out: 540 to train; 540 = 2 × 269 + 2, 540 = 1 × 539 + 1.
    const r = napinet('train', '--model', 'deep', ...QUICK, '--data', dataDir, '--batch-size', '539', '--out', fresh('deep-one'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('batch size 539 leaves a last batch of 1 image (540 training images = 1 × 539 + 1)');
    expect(r.stderr).toContain("the model's BatchNorm1d cannot train on one value per channel");
    expect(r.stdout).not.toMatch(/^epoch 0,/m);
  });
});
