/**
 * The devices a parity suite runs on: the CPU always, and GPU 0 when the loaded addon has a usable
 * GPU — a real one, or the emulated one of the CUDA-emulation build (NAPINET_ADDON=build-emu/...),
 * which is how CI runs every CUDA kernel without a GPU. Suites use describe.each(DEVICES). Devices
 * are in canonical form ('cuda:0', what Tensor.device reports; lib/device.ts): ask isCuda(device).
 */
import { cuda, type Device } from '../../lib/device';

export const DEVICES: Device[] = cuda.isAvailable() ? ['cpu', 'cuda:0'] : ['cpu'];
