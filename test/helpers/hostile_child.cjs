/**
 * The child process of test/hostile_input.test.ts: runs one job of hostile inputs through one
 * napinet reader (the dist build, as a user runs it) and reports, as one JSON line per case,
 * whether it ended in an Error (its message) or an answer, how long it took, and the process's
 * peak resident memory so far; then a last line with the peak of the whole job.
 *
 *   node test/helpers/hostile_child.cjs JOB.json
 *
 * JOB: { reader, cases: [{ name, input }], mutations?: { base, seed, count } }. `input` is what
 * the reader takes (a file, a folder, or CLI arguments). With `mutations`, the job also runs
 * `count` seeded random mutations of `base` (a file, or a folder whose files are mutated one at a
 * time): the same seed gives the same inputs, so a failure can be replayed from its case name.
 */
'use strict';
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const napinet = require(path.join(root, 'dist', 'cjs', 'index.js'));

/** Each reader as a user calls it; what it returns is the "answer". */
const READERS = {
  png: (file) => napinet.toMnistDigit(napinet.readPng(file), 28),
  idx: (file) => napinet.readIdx(file),
  mnist: (dir) => napinet.loadMnist(dir),
  safetensors: (file) => napinet.readSafetensors(file),
  model: (dir) => napinet.load(dir),
  checkpoint: (dir) => napinet.loadCheckpoint(dir),
  onnx: (file) => napinet.decodeOnnx(fs.readFileSync(file), file),
  cli: async (args) => {
    const { main } = require(path.join(root, 'dist', 'cjs', 'chapter', 'cli.js'));
    const lines = [];
    const [log, error] = [console.log, console.error];
    console.log = () => {};
    console.error = (line) => lines.push(String(line));
    let code;
    try {
      code = await main(args);
    } finally {
      [console.log, console.error] = [log, error];
    }
    // The CLI turns errors into exit codes: a non-zero code with its message is this job's Error.
    if (code !== 0) throw Object.assign(new Error(lines.join('\n').split('\n\n')[0]), { exitCode: code });
    return code;
  },
};

/** xorshift32: the mutations' only source of randomness. */
function generator(seed) {
  let s = seed >>> 0 || 0x9e3779b9;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const EXTREMES = [0, 1, 0x7f, 0x80, 0xff, 0x100, 0x7fff, 0xffff, 0x10000, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];

/** One random change of `bytes`: flipped bytes, a cut, an extreme 32-bit field, an insertion, a deletion or a copied range. */
function mutateBytes(bytes, random) {
  const pick = (n) => Math.floor(random() * n);
  const b = Buffer.from(bytes);
  if (b.length === 0) return Buffer.from([pick(256)]);
  switch (pick(6)) {
    case 0: {
      for (let k = 1 + pick(8); k > 0; k--) b[pick(b.length)] = pick(256);
      return b;
    }
    case 1:
      return b.subarray(0, pick(b.length));
    case 2: {
      const at = pick(Math.max(1, b.length - 3));
      const value = EXTREMES[pick(EXTREMES.length)];
      if (at + 4 <= b.length) random() < 0.5 ? b.writeUInt32BE(value, at) : b.writeUInt32LE(value, at);
      return b;
    }
    case 3: {
      const at = pick(b.length + 1);
      const extra = Buffer.from(Array.from({ length: 1 + pick(64) }, () => pick(256)));
      return Buffer.concat([b.subarray(0, at), extra, b.subarray(at)]);
    }
    case 4: {
      const at = pick(b.length);
      return Buffer.concat([b.subarray(0, at), b.subarray(at + 1 + pick(64))]);
    }
    default: {
      const from = pick(b.length);
      const piece = b.subarray(from, from + 1 + pick(256));
      const at = pick(b.length);
      return Buffer.concat([b.subarray(0, at), piece, b.subarray(at)]);
    }
  }
}

const DEEP = 'DEEP-NESTING-';

/** JSON text of `value`, with each DEEP marker expanded to that many nested lists. */
function jsonText(value) {
  return JSON.stringify(value).replace(new RegExp(`"${DEEP}(\\d+)"`, 'g'), (_, n) => '['.repeat(Number(n)) + ']'.repeat(Number(n)));
}

/** Values a hostile JSON file puts where a number, a list or an object belongs. */
function hostileValue(random) {
  const values = [
    null, true, -1, 0, 0.5, 1e9, 1e18, 1e308, -1e308, 2 ** 53, 2 ** 32, '', 'x', 'NaN', [], {}, [1e9, 1e9, 1e9], [1, 2], [-1, 28, 28],
    { type: 'Sequential', layers: {} }, { type: 'Linear', inFeatures: 1e9, outFeatures: 1e9 }, { type: 'Conv2d', inChannels: 1e9, outChannels: 1e9, kernelSize: 5 },
    { type: 'Nope' }, 'x'.repeat(100000),
  ];
  // Deeply nested lists, 100 to 100,000 levels: a marker that jsonText() expands (JSON.stringify
  // itself overflows the stack on such values).
  if (random() < 0.1) return `${DEEP}${10 ** (2 + Math.floor(random() * 4))}`;
  return values[Math.floor(random() * values.length)];
}

/** One random change of a parsed JSON value: a node replaced by a hostile value, or a key removed. */
function mutateJson(value, random) {
  const copy = JSON.parse(JSON.stringify(value));
  const nodes = [];
  (function walk(node, depth) {
    if (typeof node !== 'object' || node === null || depth > 20) return;
    for (const key of Object.keys(node)) {
      nodes.push([node, key]);
      walk(node[key], depth + 1);
    }
  })(copy, 0);
  if (nodes.length === 0) return hostileValue(random);
  const [parent, key] = nodes[Math.floor(random() * nodes.length)];
  if (random() < 0.2 && !Array.isArray(parent)) delete parent[key];
  else parent[key] = hostileValue(random);
  return copy;
}

/** A mutated copy of `base` written to `target`: a JSON file changed as JSON (or as bytes), any other file as bytes. */
function writeMutated(base, target, random) {
  const bytes = fs.readFileSync(base);
  if (base.endsWith('.json') && random() < 0.7) {
    let parsed;
    try {
      parsed = JSON.parse(bytes.toString('utf8'));
    } catch {
      parsed = undefined;
    }
    if (parsed !== undefined) {
      fs.writeFileSync(target, jsonText(mutateJson(parsed, random)));
      return;
    }
  }
  fs.writeFileSync(target, mutateBytes(bytes, random));
}

/** The files of a folder, recursively (relative paths). */
function filesIn(dir) {
  return fs.readdirSync(dir, { recursive: true }).filter((f) => fs.statSync(path.join(dir, f)).isFile()).sort();
}

/** The mutated inputs of `job.mutations`, one at a time: [name, input, restore]. */
function* mutations(job, scratch) {
  const { base, seed, count } = job.mutations;
  const random = generator(seed);
  if (fs.statSync(base).isFile()) {
    const target = path.join(scratch, path.basename(base));
    for (let i = 0; i < count; i++) {
      writeMutated(base, target, random);
      yield [`mutation ${seed}/${i}`, target];
    }
    return;
  }
  const copy = path.join(scratch, path.basename(base));
  fs.cpSync(base, copy, { recursive: true });
  const files = filesIn(base);
  for (let i = 0; i < count; i++) {
    const file = files[Math.floor(random() * files.length)];
    writeMutated(path.join(base, file), path.join(copy, file), random);
    yield [`mutation ${seed}/${i} (${file})`, copy];
    fs.copyFileSync(path.join(base, file), path.join(copy, file));
  }
}

function report(line) {
  process.stdout.write(JSON.stringify(line) + '\n');
}

async function runCase(reader, name, input) {
  const started = performance.now();
  let outcome;
  try {
    await reader(input);
    outcome = { outcome: 'answer' };
  } catch (error) {
    outcome = error instanceof Error ? { outcome: 'error', type: error.name, message: error.message } : { outcome: 'thrown', message: String(error) };
  }
  report({ name, input, ...outcome, ms: performance.now() - started, maxRssKb: process.resourceUsage().maxRSS });
}

async function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const reader = READERS[job.reader];
  if (!reader) throw new Error(`unknown reader ${job.reader}`);
  for (const c of job.cases ?? []) await runCase(reader, c.name, c.input);
  if (job.mutations) {
    const scratch = fs.mkdtempSync(path.join(job.mutations.scratch, 'mutations-'));
    for (const [name, input] of mutations(job, scratch)) await runCase(reader, name, input);
  }
  report({ done: true, maxRssKb: process.resourceUsage().maxRSS });
}

main().catch((error) => {
  report({ fatal: String(error?.stack ?? error) });
  process.exitCode = 3;
});
