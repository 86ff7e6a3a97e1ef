// Shared by the scripts test/distributed.test.ts runs under mpirun: the napinet build they use
// (dist/, as a user would, with NAPINET_ADDON choosing the addon) and one way of reporting.
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const napinet = require(path.join(__dirname, '..', '..', 'dist', 'cjs', 'index.js'));
// The chapter's application (its networks), as a user reaches it: 'napinet/chapter'.
const chapter = require(path.join(__dirname, '..', '..', 'dist', 'cjs', 'chapter', 'index.js'));

/**
 * A rank's result for the test: the file <NAPINET_TEST_OUT>/rank-<rank>.json (mpirun interleaves the
 * ranks' stdout, long lines included), or a line on stdout without that variable.
 */
function report(value) {
  const dir = process.env.NAPINET_TEST_OUT;
  if (dir) fs.writeFileSync(path.join(dir, `rank-${value.rank}.json`), JSON.stringify(value));
  else process.stdout.write(`RESULT ${JSON.stringify(value)}\n`);
}

/** Float32 values as base64, so results cross the process boundary bit for bit. */
function bits(array) {
  return Buffer.from(array.buffer, array.byteOffset, array.byteLength).toString('base64');
}

module.exports = { napinet, chapter, report, bits };
