// The CLI's save/resume/predict/export paths end to end (dist build): `train --resume` ends with the
// weights of the uninterrupted run, byte for byte; Ctrl-C (SIGINT) during training saves a
// checkpoint, exits 130 and says how to resume, and the resumed run again equals the
// uninterrupted one; `predict` classifies PNG digits (inverted ones too); `export --onnx` writes a
// model; bad arguments exit 2 with the reason.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { describe, expect, test } from 'vitest';
import { loadMnist } from '../lib/data/mnist';
import { load } from '../lib/inference';
import { decodeOnnx } from '../lib/io/onnx';
import { encodeGreyPng } from '../lib/io/png';
import { cli, napinet, trainUntilInterrupted } from './helpers/cli';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'napinet-cli-'));

const same = (a: string, b: string) => fs.readFileSync(a).equals(fs.readFileSync(b));

describe.skipIf(!fs.existsSync(cli))('napinet CLI: resume, Ctrl-C, predict, export (dist build)', () => {
  const common = ['--limit', '4000', '--device', 'cpu', '--seed', '4'];
  let straight: string | undefined;
  const uninterrupted = () => {
    if (!straight) {
      straight = tmp();
      const r = napinet('train', ...common, '--epochs', '3', '--out', straight);
      expect(r.code).toBe(0);
    }
    return straight;
  };

  test('3 epochs straight = 1 epoch + `train --resume` to 3 (weights byte for byte)', () => {
    const out = tmp();
    let r = napinet('train', ...common, '--epochs', '1', '--out', out);
    expect(r.code).toBe(0);
    expect(fs.existsSync(path.join(out, 'checkpoints', 'epoch-0001', 'checkpoint.json'))).toBe(true);
    r = napinet('train', '--resume', out, '--epochs', '3', '--device', 'cpu');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`resuming from ${path.join(out, 'checkpoints', 'epoch-0001')}: after epoch 1, iteration 57`);
    expect(r.stdout).not.toMatch(/^epoch 0,/m);
    expect(r.stdout).toMatch(/^epoch 2, iteration 171,/m);
    const base = uninterrupted();
    expect(same(path.join(out, 'weights.safetensors'), path.join(base, 'weights.safetensors'))).toBe(true);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'history.json'), 'utf8')).map((e: any) => e.trainLoss)).toEqual(
      JSON.parse(fs.readFileSync(path.join(base, 'history.json'), 'utf8')).map((e: any) => e.trainLoss),
    );
    r = napinet('train', '--resume', out, '--lr', '0.5');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('cannot resume with lr 0.5');
    r = napinet('train', '--resume', path.join(out, 'nothing'));
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${path.join(out, 'nothing')} does not exist (expected a run folder, its checkpoints/ folder or a checkpoint folder)`);
  });

  test('Ctrl-C saves a checkpoint and exits 130 with the resume command; resuming completes the same run', async () => {
    const out = tmp();
    const { code, stdout, stderr } = await trainUntilInterrupted([...common, '--epochs', '3', '--out', out]);
    expect(code).toBe(130);
    expect(stderr).toContain('interrupted: saving a checkpoint after this step');
    expect(stdout).toMatch(/^interrupted at (epoch 1, step \d+|after epoch \d) \(iteration \d+\)$/m);
    expect(stdout).toContain(`resume with: napinet train --resume ${out}`);
    expect(stdout).not.toContain('test: loss');
    const latest = JSON.parse(fs.readFileSync(path.join(out, 'checkpoints', 'latest.json'), 'utf8'));
    expect(fs.existsSync(path.join(out, 'checkpoints', latest.checkpoint, 'weights.safetensors'))).toBe(true);
    expect(fs.existsSync(path.join(out, 'weights.safetensors'))).toBe(false); // the final model only when finished
    expect(load(out).dispose()).toBeUndefined(); // load() of an interrupted run: its latest checkpoint's model
    const r = napinet('train', '--resume', out, '--device', 'cpu');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^test: loss \d\.\d{4}, accu \d\.\d{4}$/m);
    expect(same(path.join(out, 'weights.safetensors'), path.join(uninterrupted(), 'weights.safetensors'))).toBe(true);
  });

  test('predict classifies PNG digits, inverted ones too; a broken file is reported', () => {
    const model = uninterrupted();
    const mnist = loadMnist();
    const dir = tmp();
    const files: string[] = [];
    const labels: number[] = [];
    for (const i of [0, 1, 2, 3, 4]) {
      const d = mnist.test.images.subarray(i * 784, (i + 1) * 784);
      const file = path.join(dir, `digit${i}.png`);
      fs.writeFileSync(file, encodeGreyPng(d, 28, 28));
      files.push(file);
      labels.push(mnist.test.labels[i]);
    }
    const inverted = path.join(dir, 'inverted.png');
    fs.writeFileSync(inverted, encodeGreyPng(Array.from(mnist.test.images.subarray(0, 784), (v) => 255 - v), 28, 28));
    let r = napinet('predict', model, ...files, inverted, '--json');
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const results = JSON.parse(r.stdout.trim().split('\n').at(-1)!);
    expect(results.map((x: any) => x.predicted)).toEqual([...labels, labels[0]]);
    expect(results.map((x: any) => x.inverted)).toEqual([false, false, false, false, false, true]);
    for (const x of results) expect(x.probabilities.reduce((a: number, b: number) => a + b, 0)).toBeCloseTo(1, 4);
    r = napinet('predict', model, files[0]);
    expect(r.stdout).toMatch(new RegExp(`^${files[0].replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}: ${labels[0]} \\(\\d+\\.\\d%\\)\\n  0: \\d\\.\\d{3}  1: `));
    const broken = path.join(dir, 'broken.png');
    fs.writeFileSync(broken, fs.readFileSync(files[1]).subarray(0, 50));
    r = napinet('predict', model, files[0], broken);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${broken}: truncated PNG: chunk "IDAT" at byte 33 declares`);
    expect(r.stdout).toContain(`${files[0]}: ${labels[0]}`);
    r = napinet('predict', model);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected a model folder and at least one PNG file');
    expect(r.stderr).toContain('usage: napinet predict');
  });

  test('export --onnx writes an ONNX model; bad arguments exit 2', () => {
    const model = uninterrupted();
    const file = path.join(tmp(), 'model.onnx');
    let r = napinet('export', '--onnx', model, file, '--softmax', '--preprocessing');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^wrote .*model\.onnx: ONNX opset 13, \d+ bytes; pixels \(raw 0–255\) \[N, 1, 28, 28\] → probabilities \[N, 10\]$/m);
    const onnx = decodeOnnx(fs.readFileSync(file));
    expect(onnx.graph.node.map((n: any) => n.op_type)).toEqual(['Sub', 'Div', 'Conv', 'MaxPool', 'Relu', 'Reshape', 'Gemm', 'Softmax']);
    r = napinet('export', model, file);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected --onnx');
    r = napinet('export', '--onnx', model);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected a model folder and one output file');
    r = napinet('train', '--checkpoint-every', 'often');
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('Expected an integer in [0, 100000] for --checkpoint-every but received "often"');
  });
});
