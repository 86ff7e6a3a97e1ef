// One list of native sources: CMakeLists.txt globs native/kernels/*.cpp and native/binding/*.cc,
// binding.gyp asks scripts/native-sources.js for the same folders. This test keeps them in step.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { expect, test } from 'vitest';

const root = path.join(__dirname, '..');
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { nativeSources } = require('../scripts/native-sources.js');

test('binding.gyp builds exactly the CPU sources CMake builds', () => {
  const cmake = fs.readFileSync(path.join(root, 'CMakeLists.txt'), 'utf8');
  expect(cmake).toContain('"${CMAKE_SOURCE_DIR}/native/kernels/*.cpp"');
  expect(cmake).toContain('"${CMAKE_SOURCE_DIR}/native/binding/*.cc"');
  expect(cmake).toContain('"${CMAKE_SOURCE_DIR}/native/distributed/*.cpp"');
  const gyp = fs.readFileSync(path.join(root, 'binding.gyp'), 'utf8');
  expect(gyp).toContain('<!@(node scripts/native-sources.js)');
  const globbed = [
    ...fs.readdirSync(path.join(root, 'native/kernels')).filter((f) => f.endsWith('.cpp')).map((f) => `native/kernels/${f}`),
    ...fs.readdirSync(path.join(root, 'native/binding')).filter((f) => f.endsWith('.cc')).map((f) => `native/binding/${f}`),
    ...fs.readdirSync(path.join(root, 'native/distributed')).filter((f) => f.endsWith('.cpp')).map((f) => `native/distributed/${f}`),
  ].sort();
  expect([...nativeSources(root)].sort()).toEqual(globbed);
});
