/**
 * How the tests start a Node child process: this process's own binary, or under emulation the
 * command in NAPINET_TEST_NODE, a JSON array such as ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu",
 * "/path/to/arm64/node"] (npm run test:arm64 sets it: without binfmt_misc an emulated process
 * cannot start another emulated binary itself, but it can start qemu, which runs natively).
 */
export function nodeCommand(...args: string[]): [string, string[]] {
  const launcher = process.env.NAPINET_TEST_NODE;
  const prefix: string[] = launcher ? JSON.parse(launcher) : [process.execPath];
  return [prefix[0], [...prefix.slice(1), ...args]];
}
