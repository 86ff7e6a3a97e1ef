// Devices on a real GPU machine (scripts/gpu-check, stage devices): napinet.cuda.devices() lists
// what the CUDA runtime sees, 'cuda' is stored as cuda:0 and allocates on GPU 0, and a GPU past
// the last ('cuda:1' on a one-GPU machine) is refused, before anything is allocated, with an
// error naming it and how many GPUs there are — for tensors, CUDA graphs and cuda.memory. With
// two GPUs or more it also copies cuda:0 → cuda:1 → CPU, checks that an op mixing them is refused
// naming both, and records a CUDA graph on cuda:1. test/multi_device.test.ts does all of it on
// two emulated GPUs in CI; this is the same on the lent card.
//
//   NAPINET_ADDON=… node scripts/gpu-devices.mjs [--json FILE]
import napinet from '../dist/esm/index.mjs';
import { startStage } from './gpu-stage.mjs';

const { Tensor, cuda, captureCudaGraph } = napinet;
const result = { count: 0, devices: [], checks: [], ok: false };
const { finish, check } = startStage(result, cuda);

/** The message `fn` throws ('' when it does not). */
const thrown = (fn) => {
  try {
    fn();
    return '';
  } catch (error) {
    return String(error.message);
  }
};
const same = (t, expected) => {
  const got = Array.from(t.toArray());
  return got.length === expected.length && got.every((v, i) => v === expected[i]);
};

try {
  const count = cuda.deviceCount();
  result.count = count;
  result.devices = cuda.devices().map((d) => ({ index: d.index, name: d.name, available: d.available, reason: d.reason }));
  check('cuda.devices() lists every GPU, indexed 0…N-1', count >= 1 && result.devices.every((d, i) => d.index === i));

  const t = Tensor.zeros([1024], { device: 'cuda' });
  check("'cuda' is stored as cuda:0 and allocates on GPU 0", t.device === 'cuda:0' && t.buffer.device === 0, `${t.device}, buffer on ${t.buffer.device}`);
  t.dispose();

  const past = `cuda:${count}`;
  const seen = count === 1 ? '1 GPU (cuda:0)' : `${count} GPUs (cuda:0 to cuda:${count - 1})`;
  const live = cuda.memory(0).liveBytes;
  const refused = thrown(() => Tensor.zeros([4], { device: past }));
  check(`${past} is refused naming it and the GPU count`, refused === `device '${past}' was requested but the CUDA runtime sees ${seen}`, refused);
  check(`nothing was allocated for ${past}`, cuda.memory(0).liveBytes === live);
  const graph = thrown(() => captureCudaGraph(() => undefined, { device: past }));
  check(`a CUDA graph on ${past} is refused`, graph.includes(`sees ${seen}`), graph);
  const memory = thrown(() => cuda.memory(count));
  check(`cuda.memory(${count}) is refused`, memory.includes(`received ${past}: the CUDA runtime sees ${seen}`), memory);
  const malformed = thrown(() => Tensor.zeros([4], { device: 'cuda:x' }));
  check("'cuda:x' is refused naming the argument", malformed.startsWith("Expected 'cpu', 'cuda', 'cuda:N'") && malformed.includes('for device'), malformed);

  if (count >= 2) {
    const values = [-1, 2, -3, 4];
    const a = Tensor.from(values, [4], { device: 'cuda:0' });
    const b = a.to('cuda:1');
    check('to(cuda:1) copies across', b.device === 'cuda:1' && b.buffer.device === 1 && same(b, values));
    check('and back to the CPU', same(b.to('cpu'), values));
    const mixed = thrown(() => a.add(b));
    check('an op mixing cuda:0 and cuda:1 is refused naming both', /cuda:0/.test(mixed) && /cuda:1/.test(mixed), mixed);
    const y = Tensor.zeros([4], { device: 'cuda:1' });
    b.relu(); // workspaces (if any) before the capture
    const g = captureCudaGraph(() => napinet.ops.relu(b, y), { device: 'cuda:1' });
    g.launch();
    check('a CUDA graph records and replays on cuda:1', same(y, [0, 2, 0, 4]));
    g.dispose();
    cuda.synchronize();
  }
  result.ok = result.checks.every((c) => c.ok);
} catch (error) {
  result.error = String(error.stack ?? error);
}
finish(result.ok ? 0 : 1);
