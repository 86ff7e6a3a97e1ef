/**
 * The devices a parity suite runs on: the CPU always, and CUDA when the loaded addon has a usable
 * GPU — a real one, or the emulated one of the CUDA-emulation build (NAPINET_ADDON=build-emu/...),
 * which is how CI runs every CUDA kernel without a GPU. Suites use describe.each(DEVICES).
 */
import { cuda } from '../../lib/device';

export const DEVICES: ('cpu' | 'cuda')[] = cuda.isAvailable() ? ['cpu', 'cuda'] : ['cpu'];
