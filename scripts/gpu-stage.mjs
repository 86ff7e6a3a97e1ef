// What the GPU check's stage scripts share (scripts/gpu-devices.mjs, scripts/gpu-distributed.mjs):
// their result object, written to --json FILE and printed as one JSON line when the stage ends; the
// exit code (0 every check passed, 1 one failed, 2 no usable GPU); and the list of named checks.
import * as fs from 'node:fs';

/** Starts a stage on `result` (which must hold `checks: []`); ends it at once, code 2, without a usable GPU. */
export function startStage(result, cuda) {
  const jsonPath = process.argv.includes('--json') ? process.argv[process.argv.indexOf('--json') + 1] : undefined;
  const finish = (code) => {
    if (jsonPath) fs.writeFileSync(jsonPath, JSON.stringify(result, null, 2));
    console.log(JSON.stringify(result));
    process.exit(code);
  };
  if (!cuda.isAvailable()) {
    result.error = `no usable GPU: ${cuda.info().reason}`;
    finish(2);
  }
  const check = (name, ok, detail) => result.checks.push({ name, ok: Boolean(ok), ...(detail === undefined ? {} : { detail }) });
  return { finish, check };
}
