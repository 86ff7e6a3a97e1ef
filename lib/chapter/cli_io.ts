/**
 * The `predict` and `export` commands of the napinet CLI (lib/chapter/cli.ts dispatches to them).
 *
 *   napinet predict MODEL_DIR image.png … [--json] [--device D]
 *   napinet export --onnx MODEL_DIR out.onnx [--softmax] [--preprocessing]
 */
import * as fs from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import { load, readPng, toMnistDigit } from '../index';

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

class UsageError extends Error {
  override name = 'UsageError';
}

function parse(args: string[], options: ParseArgsConfig['options']) {
  try {
    const { values, positionals } = parseArgs({ args, options, strict: true, allowPositionals: true });
    return { values: values as Record<string, unknown>, positionals };
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
}

export async function predictCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    json: { type: 'boolean' },
    device: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(PREDICT_USAGE);
    return 0;
  }
  const [modelDir, ...images] = positionals;
  if (!modelDir || images.length === 0) throw new UsageError('expected a model folder and at least one PNG file');
  const device = (values.device as string | undefined) ?? 'cpu';
  if (!['auto', 'cpu', 'cuda'].includes(device)) throw new UsageError(`Expected auto, cpu or cuda for --device but received ${JSON.stringify(device)}`);
  const model = load(modelDir, { device: device as 'auto' | 'cpu' | 'cuda' });
  const [channels, height, width] = model.inputShape;
  if (channels !== 1 || height !== width) throw new Error(`${modelDir}: predict reads grey square images; this model takes [${model.inputShape.join(', ')}]`);
  const results: { file: string; predicted: number; probabilities: number[]; inverted: boolean }[] = [];
  let failures = 0;
  for (const file of images) {
    let digit;
    try {
      digit = toMnistDigit(readPng(file), width);
    } catch (error) {
      console.error(`napinet: ${(error as Error).message}`);
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

export async function exportCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, {
    onnx: { type: 'boolean' },
    softmax: { type: 'boolean' },
    preprocessing: { type: 'boolean' },
    help: { type: 'boolean', short: 'h' },
  });
  if (values.help) {
    console.log(EXPORT_USAGE);
    return 0;
  }
  if (!values.onnx) throw new UsageError('expected --onnx (the one export format so far)');
  const [modelDir, out, ...extra] = positionals;
  if (!modelDir || !out || extra.length > 0) throw new UsageError('expected a model folder and one output file');
  const model = load(modelDir);
  if (values.preprocessing && !model.standardizer) throw new Error(`${modelDir}: the model records no standardisation for --preprocessing`);
  model.exportOnnx(out, { softmax: values.softmax === true, preprocessing: values.preprocessing === true });
  const io = values.preprocessing ? 'pixels (raw 0–255)' : 'input (standardised)';
  console.log(
    `wrote ${out}: ONNX opset 13, ${fs.statSync(out).size} bytes; ${io} [N, ${model.inputShape.join(', ')}] → ${values.softmax ? 'probabilities' : 'logits'} [N, ${model.numClasses}]`,
  );
  return 0;
}
