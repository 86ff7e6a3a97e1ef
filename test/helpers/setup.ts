// Loaded before every test file (vitest.config.ts setupFiles): the Tensor methods (x.add(y),
// x.reshape(…), x.to(…)), which lib/index.ts installs for users, for tests that import library
// modules directly.
import '../../lib/nn/methods';
