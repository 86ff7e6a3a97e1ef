/**
 * A run folder's integrity, for the commands that write one (train, report, sweep): one process at
 * a time holds it (a lock file naming the process), what it holds decides whether a new run may
 * start there (empty, or --overwrite; an earlier run continues only with --resume), --overwrite
 * and resuming remove the files that would otherwise describe an older model, interrupted saves are
 * cleaned up, and no output may overwrite one of the command's inputs. docs/RELIABILITY.md lists
 * the messages; test/run_integrity.test.ts checks them, with kill -9 and concurrent runs.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { repairCheckpoints, TEMP_FILE, writeFileAtomic, writerMayRun } from '../index';

/** The lock file in a run (or sweep) folder. */
export const LOCK_FILE = '.napinet.lock';
/** What a finished run writes besides its checkpoints/ (train: the model and results; the report). */
export const RESULT_FILES = ['model.json', 'weights.safetensors', 'history.json', 'result.json'] as const;
export const REPORT_FILES = [
  'report.html', 'report.json', 'curves.png', 'confusion-matrix.png', 'misclassified.png', 'features.png', 'ternary.png', 'ternary.md',
] as const;
const CHECKPOINTS = 'checkpoints';
/** The lock's temporary files (see lockFolder); group 2: the pid of the process that made it. */
const STALE_LOCK = /^\.napinet\.lock\.(stale|new)-(\d+)-[a-z0-9]*$/;

// ---- the lock --------------------------------------------------------------------------------

/** What a lock file records about the process holding the folder. */
interface LockRecord {
  format: 'napinet-lock';
  pid: number;
  host: string;
  /** Linux: the boot this pid belongs to, and the process's start time (so a reused pid is not taken for the holder). */
  bootId?: string;
  startTime?: string;
  command: string;
  since: string;
}

export interface FolderLock {
  readonly dir: string;
  /** Removes the lock (once; also done at process exit). */
  release(): void;
}

const held = new Map<string, FolderLock>();

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

const bootId = () => readText('/proc/sys/kernel/random/boot_id');

/** Field 22 of /proc/PID/stat: the process's start time in clock ticks after boot (Linux). */
function startTime(pid: number): string | undefined {
  const stat = readText(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

/** Whether the recorded holder still runs: true, false, or undefined when it cannot be known (another host). */
function holderRuns(record: LockRecord): boolean | undefined {
  if (record.host !== os.hostname()) return undefined;
  const boot = bootId();
  if (record.bootId && boot && record.bootId !== boot) return false; // the machine restarted since
  try {
    process.kill(record.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ESRCH') return false;
  }
  if (record.startTime && process.platform === 'linux') {
    const now = startTime(record.pid);
    if (now === undefined || now !== record.startTime) return false; // the pid now belongs to another process
  }
  return true;
}

function parseLock(text: string | undefined): LockRecord | undefined {
  try {
    const r = JSON.parse(text ?? '');
    return r?.format === 'napinet-lock' && Number.isInteger(r.pid) && typeof r.host === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/** Creates `file` holding `text`, atomically, unless it exists (then false): a hard link of a complete temporary file. */
function createExclusive(dir: string, file: string, text: string): boolean {
  const temp = path.join(dir, `.napinet.lock.new-${process.pid}-${Math.random().toString(36).slice(2)}`);
  fs.writeFileSync(temp, text);
  try {
    fs.linkSync(temp, file);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  } finally {
    fs.rmSync(temp, { force: true });
  }
}

/**
 * Moves a dead holder's lock out of the way. Two processes may find the same dead lock at once: the
 * one whose rename takes a lock other than the dead one (the other process's fresh lock) puts it
 * back, so exactly one goes on.
 */
function removeDeadLock(dir: string, file: string, deadText: string): void {
  const aside = path.join(dir, `.napinet.lock.stale-${process.pid}-${Math.random().toString(36).slice(2)}`);
  try {
    fs.renameSync(file, aside);
  } catch {
    return; // already moved by another process
  }
  if (readText(aside) !== deadText) {
    try {
      fs.linkSync(aside, file);
    } catch {
      // A third lock is in place: it wins.
    }
  }
  fs.rmSync(aside, { force: true });
}

/**
 * Takes the lock of `dir` (created if missing, which also proves it writable) for `command`, or
 * throws naming the process that holds it. A lock whose process is gone (killed, the machine
 * restarted) is taken over. Re-entrant within one process.
 */
export function lockFolder(dir: string, command: string): FolderLock {
  const existing = held.get(dir);
  if (existing) return existing;
  makeWritableFolder(dir);
  const file = path.join(dir, LOCK_FILE);
  const record: LockRecord = {
    format: 'napinet-lock', pid: process.pid, host: os.hostname(), bootId: bootId(), startTime: startTime(process.pid),
    command, since: new Date().toISOString(),
  };
  const text = JSON.stringify(record);
  for (let attempt = 0; ; attempt++) {
    if (createExclusive(dir, file, text)) break;
    const current = readText(file);
    if (current === undefined) continue; // released meanwhile: try again
    const holder = parseLock(current);
    const runs = holder ? holderRuns(holder) : false;
    if (runs === undefined) {
      throw new Error(
        `${dir} is in use by napinet process ${holder!.pid} on ${holder!.host} (${holder!.command}, since ${holder!.since}); ` +
          `if that process no longer runs, delete ${file}`,
      );
    }
    if (runs) {
      throw new Error(`${dir} is in use by napinet process ${holder!.pid} (${holder!.command}, since ${holder!.since}); wait for it to finish, or stop it`);
    }
    if (attempt >= 5) throw new Error(`cannot take the lock ${file}: it keeps changing (other napinet processes are starting on ${dir})`);
    removeDeadLock(dir, file, current);
  }
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    held.delete(dir);
    process.off('exit', release);
    if (readText(file) === text) fs.rmSync(file, { force: true });
  };
  process.on('exit', release);
  const lock = { dir, release };
  held.set(dir, lock);
  return lock;
}

/** Runs `work` holding the locks of `dirs` (each once), releasing them however it ends. */
export async function withFolderLocks<T>(dirs: readonly string[], command: string, work: () => Promise<T>): Promise<T> {
  const locks: FolderLock[] = [];
  try {
    for (const dir of new Set(dirs)) locks.push(lockFolder(dir, command));
    return await work();
  } finally {
    for (const lock of locks.reverse()) lock.release();
  }
}

/** Creates `dir` if needed and checks that files can be written in it (before any work is done). */
function makeWritableFolder(dir: string): void {
  if (fs.existsSync(dir) && !fs.statSync(dir).isDirectory()) throw new Error(`cannot write ${dir}: it is a file, not a folder`);
  const probe = path.join(dir, `.napinet-probe.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  try {
    writeFileAtomic(probe, ''); // creates dir; its error says why not (a file in the path, no permission, a full disk)
  } catch (error) {
    throw new Error((error as Error).message.replace(probe, dir));
  }
  fs.rmSync(probe, { force: true });
}

// ---- what a folder holds ---------------------------------------------------------------------

/** Entries of `dir` that are not the lock or leftovers of interrupted writes. */
function contents(dir: string): string[] {
  if (!fs.existsSync(dir)) return [];
  if (!fs.statSync(dir).isDirectory()) throw new Error(`cannot write the run folder ${dir}: it is a file, not a folder`);
  return fs.readdirSync(dir).filter((e) => e !== LOCK_FILE && !TEMP_FILE.test(e) && !STALE_LOCK.test(e)).sort();
}

/** A new run may start in `dir` only when it is missing or empty; else the message says what to do. */
export function refuseEarlierRun(dir: string): void {
  const entries = contents(dir);
  if (entries.length === 0) return;
  if (entries.includes(CHECKPOINTS) || entries.includes('model.json')) {
    throw new Error(`${dir} already holds a run: continue it with napinet train --resume ${dir}, or start it again with --overwrite`);
  }
  const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? `, … (${entries.length} entries)` : '');
  throw new Error(`${dir} is not empty (it holds ${shown}): choose another --out, or --overwrite to replace the napinet files in it`);
}

/** Removes napinet's files of an earlier run from `dir` (--overwrite): its results, report and checkpoints. */
export function removeEarlierRun(dir: string): string[] {
  const removed = [...RESULT_FILES, ...REPORT_FILES, CHECKPOINTS].filter((name) => fs.existsSync(path.join(dir, name)));
  for (const name of removed) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  return removed;
}

/**
 * Before a run resumes in `dir`: its final model, results and report describe the model of the
 * last checkpoint, which the run now moves on from, so they are removed (that checkpoint keeps the
 * model). If the resumed run stops early, the folder is then an unfinished run, as it should be.
 */
export function removeFinishedResults(dir: string): string[] {
  const removed = [...RESULT_FILES, ...REPORT_FILES].filter((name) => fs.existsSync(path.join(dir, name)));
  for (const name of removed) fs.rmSync(path.join(dir, name), { force: true });
  return removed;
}

/** Removes the report files of `dir` (a run that finished without drawing a new report). */
export function removeReport(dir: string): string[] {
  const removed = REPORT_FILES.filter((name) => fs.existsSync(path.join(dir, name)));
  for (const name of removed) fs.rmSync(path.join(dir, name), { force: true });
  return removed;
}

/**
 * What interrupted saves left in a run folder (held locked): temporary files and folders removed,
 * a checkpoint moved aside restored, latest.json pointed at a complete checkpoint. One line each.
 */
export function cleanInterruptedSaves(dir: string): string[] {
  const done: string[] = [];
  if (!fs.existsSync(dir)) return done;
  for (const entry of fs.readdirSync(dir)) {
    const temp = TEMP_FILE.exec(entry) ?? STALE_LOCK.exec(entry);
    if (temp && !writerMayRun(Number(temp.at(-1)))) {
      fs.rmSync(path.join(dir, entry), { recursive: true, force: true });
      done.push(`removed ${path.join(dir, entry)} (an interrupted write)`);
    }
  }
  return [...done, ...repairCheckpoints(path.join(dir, CHECKPOINTS))];
}

// ---- outputs and inputs ------------------------------------------------------------------------

/** `p` with symbolic links resolved as far as it exists (the rest appended), so two spellings of one place compare equal. */
function realPath(p: string): string {
  const absolute = path.resolve(p);
  let existing = absolute;
  const rest: string[] = [];
  while (!fs.existsSync(existing) && path.dirname(existing) !== existing) {
    rest.unshift(path.basename(existing));
    existing = path.dirname(existing);
  }
  try {
    return path.join(fs.realpathSync(existing), ...rest);
  } catch {
    return absolute;
  }
}

const inside = (child: string, parent: string) => child === parent || child.startsWith(parent.endsWith(path.sep) ? parent : parent + path.sep);

/**
 * Refuses an output that is one of the command's inputs or lies inside one (`inputs`: what each
 * is, by path), or, for an output folder (`output.folder`), holds one. `output.what` names it for
 * the message.
 */
export function refuseOutputOverInput(output: { path: string; what: string; folder?: boolean }, inputs: readonly { path: string; what: string }[]): void {
  const out = realPath(output.path);
  for (const input of inputs) {
    const source = realPath(input.path);
    if (inside(out, source) || (output.folder === true && inside(source, out))) {
      const where = out === source ? `is ${input.what}` : `${inside(out, source) ? 'lies inside' : 'holds'} ${input.what} ${input.path}`;
      throw new Error(`${output.what} ${output.path} ${where}: writing there could destroy an input; choose another place`);
    }
  }
}
