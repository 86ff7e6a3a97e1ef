// The real CUDA build carries GPU code for every architecture napinet supports: SASS for sm_75,
// sm_80, sm_86, sm_89 and sm_90 and PTX for compute_90 (for newer GPUs), in every fatbin of the
// addon (scripts/check-cuda-binary.js; cuobjdump cross-checks when the toolkit has it). Runs only
// when the loaded addon is a real CUDA build (npx cmake-js compile --out build, nvcc found).
import { describe, expect, test } from 'vitest';
import { addonSource, native } from '../lib/native';

// eslint-disable-next-line @typescript-eslint/no-require-imports
const { checkCudaBinary, EXPECTED_SASS, EXPECTED_PTX } = require('../scripts/check-cuda-binary.js');

const build = native().buildInfo();

describe.runIf(build.cuda && !build.cudaEmulated)('CUDA binary', () => {
  test('every fatbin holds SASS for each target architecture and PTX for the newest', () => {
    const result = checkCudaBinary(addonSource().path);
    console.log(result.messages.join('\n'));
    expect(result.missing).toEqual([]);
    expect(result.fatbins.length).toBeGreaterThan(0);
    for (const fatbin of result.fatbins) {
      expect([...fatbin.sass].sort()).toEqual(EXPECTED_SASS);
      expect(fatbin.ptx).toEqual(EXPECTED_PTX);
    }
  });
});
