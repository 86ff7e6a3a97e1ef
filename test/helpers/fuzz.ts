/**
 * Robustness of the file readers (IDX, safetensors): every byte string handed to a reader must
 * parse or throw an Error (never anything else; a crash in native code would end the run).
 */
import { expect } from 'vitest';

export function expectParsesOrThrowsError(read: (bytes: Uint8Array) => unknown, inputs: Iterable<Uint8Array>): void {
  for (const bytes of inputs) {
    try {
      read(bytes);
    } catch (error) {
      expect(error).toBeInstanceOf(Error);
    }
  }
}
