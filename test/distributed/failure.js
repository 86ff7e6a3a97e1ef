// What the other ranks see when one fails, run under `mpirun -np 2`; the mode is argv[2]:
//   throw      rank 1 throws (exit code 1) while rank 0 waits in an allReduce
//   exit0      rank 1 exits with code 0 without finalize() while rank 0 waits
//   kill       rank 1 dies of SIGKILL while rank 0 waits
//   timeout    rank 1 computes for 5 s before its allReduce; rank 0 gives up after 1 s, reports the
//              error and the next call's, and exits with code 1
//   listener   rank 0 listens for SIGTERM (process.on) before init; rank 1 throws: rank 0's waiting
//              allReduce throws instead of the process ending, then its listener reports
// Rank 1 prints `EXITING <ms since epoch>` just before it goes, so the test can time the rest.
'use strict';
const { napinet, report } = require('./common');

const mode = process.argv[2];
const dist = napinet.distributed;
let caught;
if (mode === 'listener' && process.env.OMPI_COMM_WORLD_RANK === '0') {
  process.on('SIGTERM', () => {
    report({ rank: 0, listener: true, caught });
    process.exit(143);
  });
}
const { rank } = dist.init({ requireLauncher: true, timeoutMs: 30_000 });
dist.barrier(); // both ranks are up before anything fails
const x = napinet.Tensor.from([1, 2, 3]);

if (rank === 1 && mode !== 'timeout') {
  setTimeout(() => {
    process.stdout.write(`EXITING ${Date.now()}\n`);
    if (mode === 'throw' || mode === 'listener') throw new Error('rank 1 fails on purpose');
    if (mode === 'exit0') process.exit(0);
    if (mode === 'kill') process.kill(process.pid, 'SIGKILL');
  }, 200);
} else if (rank === 1) {
  const until = Date.now() + 5000;
  while (Date.now() < until) { /* a long step */ }
  dist.allReduce(x);
} else if (mode === 'timeout') {
  const start = Date.now();
  let first;
  let second;
  try { dist.allReduce(x, { timeoutMs: 1000 }); } catch (e) { first = { code: e.code, message: e.message, ms: Date.now() - start }; }
  try { dist.barrier(); } catch (e) { second = { code: e.code, message: e.message }; }
  report({ rank, first, second });
  process.exitCode = 1;
} else if (mode === 'listener') {
  try { dist.allReduce(x); } catch (e) { caught = { code: e.code, message: e.message }; }
  setTimeout(() => report({ rank, unexpected: 'the SIGTERM listener did not run' }), 5000);
} else {
  dist.allReduce(x);
  report({ rank, unexpected: 'allReduce returned' });
}
