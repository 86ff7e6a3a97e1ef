/**
 * The `predict` and `export` commands of the napinet CLI (lib/chapter/cli.ts dispatches to them).
 *
 *   napinet predict MODEL_DIR image.png … [--json] [--device D]
 *   napinet export --onnx MODEL_DIR out.onnx [--softmax] [--preprocessing]
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { deviceFlag, parseCommand, UsageError } from './cli_args';
import { findCheckpoint, load, readPng, stateDict, toMnistDigit } from '../index';
import { nonFiniteTensor } from './recipe_checkpoints';
import { refuseOutputOverInput } from './run_folder';

export const PREDICT_USAGE = `usage: napinet predict MODEL_DIR image.png … [options]

  Classifies pictures of digits with a saved model (a run folder or a checkpoint folder). Each
  PNG is made grey, inverted when its background is light (MNIST digits are white on black),
  padded to a square and resized to the model's input size; then the saved standardisation.

  --json              print one JSON line: [{file, predicted, probabilities, inverted}, …]
  --device D          auto | cpu | cuda (default cpu)`;

export const EXPORT_USAGE = `usage: napinet export --onnx MODEL_DIR out.onnx [options]

  Writes a saved Sequential model as ONNX (opset 13; input "input" [N, C, H, W], standardised;
  output "logits" [N, classes]).

  --softmax           end with Softmax: the output is "probabilities"
  --preprocessing     put the saved standardisation in front: the input is "pixels" (raw 0–255)`;

export async function predictCommand(args: string[]): Promise<number> {
  const parsed = parseCommand(args, { json: { type: 'boolean' }, device: { type: 'string' } }, PREDICT_USAGE, { positionals: true });
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  const [modelDir, ...images] = positionals;
  if (!modelDir || images.length === 0) throw new UsageError('expected a model folder and at least one PNG file');
  const model = load(modelDir, { device: deviceFlag(values, 'cpu') });
  // PyTorch loads such weights too, but every prediction would be NaN (or a confident guess).
  const bad = nonFiniteTensor(stateDict(model.network));
  if (bad) throw new Error(`${modelDir}: the model's ${bad}: it cannot predict (a run that diverged?)`);
  const [channels, height, width] = model.inputShape;
  if (channels !== 1 || height !== width) throw new Error(`${modelDir}: predict reads grey square images; this model takes [${model.inputShape.join(', ')}]`);
  const results: { file: string; predicted: number; probabilities: number[]; inverted: boolean }[] = [];
  let failures = 0;
  for (const file of images) {
    let digit;
    try {
      digit = toMnistDigit(readPng(file), width);
    } catch (error) {
      // The readers name the file; the resize after them (an image too large for the budget) does not.
      const message = (error as Error).message;
      console.error(`napinet: ${message.includes(file) ? message : `${file}: ${message}`}`);
      failures++;
      continue;
    }
    const p = model.predict(digit.pixels);
    const probabilities = [...p.probabilities].map((v) => Number(v.toFixed(6)));
    results.push({ file, predicted: p.predicted[0], probabilities, inverted: digit.inverted });
    if (!values.json) {
      const best = p.probabilities[p.predicted[0]];
      const list = [...p.probabilities].map((v, c) => `${c}: ${v.toFixed(3)}`).join('  ');
      console.log(`${file}: ${p.predicted[0]} (${(best * 100).toFixed(1)}%)${digit.inverted ? ', inverted' : ''}\n  ${list}`);
    }
  }
  if (values.json) console.log(JSON.stringify(results));
  model.dispose();
  return failures > 0 ? 1 : 0;
}

/** The files load(modelDir) reads: the folder's model.json and weights, or those of its latest checkpoint (the whole checkpoint folder). */
function modelInputs(modelDir: string): { path: string; what: string }[] {
  if (fs.existsSync(path.join(modelDir, 'model.json'))) {
    return ['model.json', 'weights.safetensors'].map((name) => ({ path: path.join(modelDir, name), what: `the model's ${name}` }));
  }
  return [{ path: findCheckpoint(modelDir).dir, what: 'the checkpoint folder holding the model' }];
}

export async function exportCommand(args: string[]): Promise<number> {
  const options = { onnx: { type: 'boolean' }, softmax: { type: 'boolean' }, preprocessing: { type: 'boolean' } } as const;
  const parsed = parseCommand(args, options, EXPORT_USAGE, { positionals: true });
  if (!parsed) return 0;
  const { values, positionals } = parsed;
  if (!values.onnx) throw new UsageError('expected --onnx (the one export format so far)');
  const [modelDir, out, ...extra] = positionals;
  if (!modelDir || !out || extra.length > 0) throw new UsageError('expected a model folder and one output file');
  const model = load(modelDir);
  refuseOutputOverInput({ path: out, what: 'the output file' }, modelInputs(modelDir));
  if (values.preprocessing && !model.standardizer) throw new Error(`${modelDir}: the model records no standardisation for --preprocessing`);
  model.exportOnnx(out, { softmax: values.softmax === true, preprocessing: values.preprocessing === true });
  const io = values.preprocessing ? 'pixels (raw 0–255)' : 'input (standardised)';
  console.log(
    `wrote ${out}: ONNX opset 13, ${fs.statSync(out).size} bytes; ${io} [N, ${model.inputShape.join(', ')}] → ${values.softmax ? 'probabilities' : 'logits'} [N, ${model.numClasses}]`,
  );
  return 0;
}
