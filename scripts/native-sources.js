// Prints the C++ sources of the CPU build, one per line, relative to the repo root: every
// native/kernels/*.cpp, native/binding/*.cc and native/distributed/*.cpp. binding.gyp calls it;
// CMakeLists.txt globs the same folders. CUDA-only binding code lives in native/binding/cuda/, built
// by CMake alone, or behind #ifdef NAPINET_WITH_CUDA (the batched gemms in native/binding/gemm.cc).
'use strict';
const fs = require('fs');
const path = require('path');

function nativeSources(root) {
  const list = (dir, ext) =>
    fs.readdirSync(path.join(root, dir))
      .filter((f) => f.endsWith(ext))
      .sort()
      .map((f) => `${dir}/${f}`);
  return [...list('native/kernels', '.cpp'), ...list('native/binding', '.cc'), ...list('native/distributed', '.cpp')];
}

module.exports = { nativeSources };
if (require.main === module) console.log(nativeSources(path.join(__dirname, '..')).join('\n'));
