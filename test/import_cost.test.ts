// Import cost (issue 15): require('napinet') loads the addon and the library's own modules only;
// protobufjs (ONNX) and pngjs (PNG) load on first use, and the drawing libraries (@napi-rs/canvas,
// chart.js) only when the chapter draws. Checked in fresh processes on the dist build, as a user
// loads the package. The time it saves is measured by bench/import-time.mjs (bench/RESULTS.md).
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { expect, test } from 'vitest';
import { nodeCommand } from './helpers/node';

const root = path.join(__dirname, '..');
const OPTIONAL = ['protobufjs', 'pngjs', '@napi-rs/canvas', 'chart.js'];

/** The optional packages a fresh node has loaded after running `script` (CommonJS, cwd = repo). */
function loadedAfter(script: string): string[] {
  const probe = `${script}; const files = Object.keys(require.cache); console.log(JSON.stringify(${JSON.stringify(OPTIONAL)}.filter((m) => files.some((f) => f.includes('/node_modules/' + m + '/')))));`;
  const r = spawnSync(...nodeCommand('-e', probe), { cwd: root, encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test("require('napinet') and require('napinet/chapter') load none of the optional packages", () => {
  expect(loadedAfter("require('./dist/cjs/index.js')")).toEqual([]);
  expect(loadedAfter("require('./dist/cjs/chapter/index.js')")).toEqual([]);
});

test('protobufjs loads with the first ONNX call, pngjs with the first PNG call', () => {
  const onnx = "const n = require('./dist/cjs/index.js'); n.decodeOnnx(n.toOnnx(new n.nn.Sequential(new n.nn.Flatten()), { inputShape: [1, 2, 2] }))";
  expect(loadedAfter(onnx)).toEqual(['protobufjs']);
  const png = "const n = require('./dist/cjs/index.js'); n.decodePng(n.encodeGreyPng([0, 255, 0, 255], 2, 2))";
  expect(loadedAfter(png)).toEqual(['pngjs']);
});
