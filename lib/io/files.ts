/**
 * Atomic file writes: data goes to a temporary file in the same folder, is flushed to disk, and
 * replaces the target by rename, so a crash leaves either the old file or the new one, never half.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { describe } from '../validate';
import { fileError } from '../budget';

/**
 * Creates `dir` (and its parents) if missing. An error names `target` (the file or folder being
 * written, `dir` by default) and the reason: for a path through a file, which part is the file.
 */
export function makeFolder(dir: string, target = dir): void {
  try {
    fs.mkdirSync(dir, { recursive: true });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST' || code === 'ENOTDIR') {
      let part = dir;
      while (path.dirname(part) !== part && !(fs.existsSync(part) && !fs.statSync(part).isDirectory())) part = path.dirname(part);
      if (path.dirname(part) !== part) throw new Error(`cannot write ${target}: ${part} is a file, not a folder`);
    }
    throw fileError(target, 'write', error);
  }
}

/** writeFileAtomic's temporary files: .NAME.PID.RANDOM.tmp (group 1: the writer's pid). */
export const TEMP_FILE = /^\..+\.(\d+)\.[a-z0-9]*\.tmp$/;

/**
 * Whether process `pid` (the writer named in a temporary file's name) may still be writing: this
 * process, or any that exists. Only a dead writer's leftovers are removed, so that cleaning up
 * never pulls a file from under another process's write.
 */
export function writerMayRun(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/** Writes `file` so that a reader (or a crash) sees the old file or the new one, never half of one: a temporary file renamed over it. Missing folders are created. */
export function writeFileAtomic(file: string, data: string | Uint8Array): void {
  if (typeof file !== 'string' || file === '') throw new TypeError(`Expected a file path for file but received ${describe(file)}`);
  if (typeof data !== 'string' && !(data instanceof Uint8Array)) throw new TypeError(`Expected a string or a Uint8Array for data but received ${describe(data)}`);
  const dir = path.dirname(file);
  const temp = path.join(dir, `.${path.basename(file)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`);
  makeFolder(dir, file);
  try {
    const fd = fs.openSync(temp, 'w');
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (error) {
    try {
      fs.rmSync(temp, { force: true });
    } catch {
      // The temporary file was never made (its folder is missing or a file): nothing to remove.
    }
    throw fileError(file, 'write', error);
  }
}

/** Writes `value` as indented JSON to `file`, atomically (see writeFileAtomic). */
export function writeJsonAtomic(file: string, value: unknown): void {
  let text: string;
  try {
    text = JSON.stringify(value, null, 2);
  } catch (error) {
    throw new TypeError(`Expected a value JSON can hold for ${file} but received ${describe(value)} (${(error as Error).message.split('\n')[0]})`);
  }
  if (text === undefined) throw new TypeError(`Expected a value JSON can hold for ${file} but received ${describe(value)}`);
  writeFileAtomic(file, text + '\n');
}
