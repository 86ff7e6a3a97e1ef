/**
 * ONNX export of Sequential models (opset 13): Conv2d → Conv, Linear → Gemm (transB), ReLU →
 * Relu, MaxPool2d → MaxPool, AvgPool2d → AveragePool, Flatten → Flatten, BatchNorm1d/2d →
 * BatchNormalization (inference: the running statistics), Dropout → Identity; optionally the saved
 * standardisation in front (Sub, Div: the model then takes raw pixels) and a Softmax at the end.
 * Weights become initializers under their PyTorch state_dict names ("0.weight"), the batch
 * dimension is symbolic ("N"). The protobuf is encoded by protobufjs from the onnx.proto subset in
 * lib/io/onnx_proto.ts. A new layer type adds an entry with registerOnnxLayer.
 *
 * Checked against onnxruntime (same outputs as napinet): test/onnx.test.ts.
 */
import * as protobuf from 'protobufjs';
import { describedLayer, type LayerConfig, type Module } from '../nn/module';
import { Sequential } from '../nn/sequential';
import { describe, expectModule, expectObject, fail } from '../validate';
import { checkBudget } from '../budget';
import { writeFileAtomic } from './files';
import { ONNX_PROTO } from './onnx_proto';

export const ONNX_OPSET = 13;
/** The IR version that goes with opset 13. */
export const ONNX_IR_VERSION = 7;

const FLOAT = 1; // TensorProto.DataType.FLOAT
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

export interface OnnxAttribute {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface OnnxNode {
  opType: string;
  inputs: string[];
  outputs: string[];
  name: string;
  attributes?: OnnxAttribute[];
}

export interface OnnxInitializer {
  name: string;
  dims: number[];
  data: Float32Array;
}

/** What a layer exporter receives: the layer, its input name, a unique prefix, its weights. */
export interface OnnxLayerContext {
  layer: Module;
  config: LayerConfig;
  input: string;
  /** Output name to use ("/0/Conv_output_0" style). */
  output: string;
  /** The state_dict prefix of this layer's parameters ("0."). */
  prefix: string;
  /** Adds a float initializer holding the layer's parameter or buffer `name` (state_dict name), returns its name. */
  weight(name: string): string;
  /** Adds a float initializer from values. */
  constant(name: string, dims: number[], data: Float32Array): string;
}

type LayerExporter = (ctx: OnnxLayerContext) => OnnxNode[];

export const attr = {
  int: (name: string, i: number): OnnxAttribute => ({ name, type: ATTR.INT, i }),
  ints: (name: string, ints: number[]): OnnxAttribute => ({ name, type: ATTR.INTS, ints }),
  float: (name: string, f: number): OnnxAttribute => ({ name, type: ATTR.FLOAT, f }),
};

const pair = (v: unknown): [number, number] => (Array.isArray(v) ? [v[0], v[1]] : [v as number, v as number]);

/** kernel_shape, strides and pads of a 2-D window (Conv's, or a pool's, whose stride defaults to its kernel). */
function windowAttributes(c: LayerConfig, defaultStride: unknown): OnnxAttribute[] {
  const [kh, kw] = pair(c.kernelSize);
  const [sh, sw] = pair(c.stride ?? defaultStride);
  const [ph, pw] = pair(c.padding ?? 0);
  return [attr.ints('kernel_shape', [kh, kw]), attr.ints('strides', [sh, sw]), attr.ints('pads', [ph, pw, ph, pw])];
}

/** One node from the layer's input to its output. */
const node = (ctx: OnnxLayerContext, opType: string, attributes: OnnxAttribute[], inputs = [ctx.input]): OnnxNode[] => [
  { opType, inputs, outputs: [ctx.output], name: `${ctx.prefix}${opType}`, attributes },
];

/** The layer's input, its weight and, unless the layer has none, its bias. */
const withWeights = (ctx: OnnxLayerContext): string[] => [ctx.input, ctx.weight('weight'), ...(ctx.config.bias !== false ? [ctx.weight('bias')] : [])];

/**
 * BatchNormalization in inference mode, from the running statistics (a layer without them
 * normalises with each batch's own statistics even in eval mode, which ONNX's op cannot express).
 * Without affine parameters the scale is 1 and the shift 0.
 */
function batchNormExporter(ctx: OnnxLayerContext): OnnxNode[] {
  const { config } = ctx;
  if (config.trackRunningStats === false) {
    throw new TypeError(`ONNX export needs running statistics for ${config.type} (trackRunningStats is false: it normalises with each batch's statistics, which ONNX's BatchNormalization cannot express)`);
  }
  const c = config.numFeatures as number;
  const [scale, shift] = config.affine === false
    ? [ctx.constant('onnx_scale', [c], new Float32Array(c).fill(1)), ctx.constant('onnx_shift', [c], new Float32Array(c))]
    : [ctx.weight('weight'), ctx.weight('bias')];
  return node(ctx, 'BatchNormalization', [attr.float('epsilon', config.eps as number)], [ctx.input, scale, shift, ctx.weight('running_mean'), ctx.weight('running_var')]);
}

const EXPORTERS: Record<string, LayerExporter> = {
  Conv2d: (ctx) => node(ctx, 'Conv', [...windowAttributes(ctx.config, 1), attr.ints('dilations', [1, 1]), attr.int('group', 1)], withWeights(ctx)),
  Linear: (ctx) => node(ctx, 'Gemm', [attr.float('alpha', 1), attr.float('beta', 1), attr.int('transB', 1)], withWeights(ctx)),
  ReLU: (ctx) => [{ opType: 'Relu', inputs: [ctx.input], outputs: [ctx.output], name: `${ctx.prefix}Relu` }],
  Flatten: (ctx) => node(ctx, 'Flatten', [attr.int('axis', 1)]),
  MaxPool2d: (ctx) => node(ctx, 'MaxPool', [...windowAttributes(ctx.config, ctx.config.kernelSize), attr.int('ceil_mode', 0)]),
  AvgPool2d: (ctx) =>
    node(ctx, 'AveragePool', [
      ...windowAttributes(ctx.config, ctx.config.kernelSize),
      attr.int('ceil_mode', 0),
      attr.int('count_include_pad', ctx.config.countIncludePad === false ? 0 : 1),
    ]),
  BatchNorm1d: batchNormExporter,
  BatchNorm2d: batchNormExporter,
  Dropout: (ctx) => node(ctx, 'Identity', []), // inference: no dropout
};

/** Teaches the exporter a layer type (its config().type). */
export function registerOnnxLayer(type: string, exporter: LayerExporter): void {
  EXPORTERS[type] = exporter;
}

export interface OnnxExportOptions {
  /** One image's shape [C, H, W]. */
  inputShape: readonly [number, number, number];
  /** Append Softmax(axis 1): the output is "probabilities" instead of "logits". */
  softmax?: boolean;
  /** Put (x − mean) / std in front, per channel: the model then takes raw pixels. */
  standardize?: { mean: number[]; std: number[] } | null;
  /** Extra metadata_props (string values). */
  metadata?: Record<string, string>;
  graphName?: string;
}

let cachedRoot: protobuf.Root | undefined;
function onnxRoot(): protobuf.Root {
  cachedRoot ??= protobuf.parse(ONNX_PROTO, { keepCase: true }).root;
  return cachedRoot;
}

/** The ONNX ModelProto (protobuf bytes) of `network`, a Sequential of supported layers. */
export function toOnnx(network: Module, options: OnnxExportOptions): Uint8Array {
  expectModule(network, 'network');
  expectObject(options, 'options');
  const given = options.inputShape as unknown;
  if (!Array.isArray(given) || given.length !== 3 || !given.every((d) => Number.isSafeInteger(d) && d >= 1)) fail('a [C, H, W] shape of positive integers', 'options.inputShape', given);
  const layers = network instanceof Sequential ? network.layers : [network];
  const prefixes = network instanceof Sequential ? layers.map((_, i) => `${i}.`) : [''];
  const [c, h, w] = options.inputShape;
  const initializers: OnnxInitializer[] = [];
  const nodes: OnnxNode[] = [];
  const named = new Map<string, Float32Array>();
  for (const [name, p] of network.namedParameters()) named.set(name, p.toArray() as Float32Array);
  for (const [name, b] of network.namedBuffers()) named.set(name, b.toArray() as Float32Array);
  const shapes = new Map<string, number[]>();
  for (const [name, p] of network.namedParameters()) shapes.set(name, [...p.shape]);
  for (const [name, b] of network.namedBuffers()) shapes.set(name, [...b.shape]);

  let current = 'input';
  const graphInput = options.standardize ? 'pixels' : 'input';
  if (options.standardize) {
    const { mean, std } = options.standardize;
    if (mean.length !== c || std.length !== c) throw new RangeError(`Expected ${c} mean and std values for standardize but received ${mean.length} and ${std.length}`);
    initializers.push({ name: 'standardize.mean', dims: [1, c, 1, 1], data: Float32Array.from(mean) });
    initializers.push({ name: 'standardize.std', dims: [1, c, 1, 1], data: Float32Array.from(std) });
    nodes.push({ opType: 'Sub', inputs: ['pixels', 'standardize.mean'], outputs: ['/standardize/Sub_output_0'], name: '/standardize/Sub' });
    nodes.push({ opType: 'Div', inputs: ['/standardize/Sub_output_0', 'standardize.std'], outputs: ['input'], name: '/standardize/Div' });
  }
  let shape: number[] = [1, c, h, w];
  layers.forEach((layer, i) => {
    const config = describedLayer(layer, 'config').config!();
    const exporter = EXPORTERS[config.type];
    if (!exporter) {
      throw new TypeError(
        `ONNX export supports ${Object.keys(EXPORTERS).join(', ')} layers; layer ${i} is ${config.type} (teach it with registerOnnxLayer)`,
      );
    }
    shape = layer.outputShape!(shape);
    const prefix = prefixes[i];
    const output = `/${i}/${config.type}_output_0`;
    const ctx: OnnxLayerContext = {
      layer,
      config,
      input: current,
      output,
      prefix,
      weight(name) {
        const full = prefix + name;
        const data = named.get(full);
        if (!data) throw new Error(`layer ${i} (${config.type}) has no parameter ${full}`);
        if (!initializers.some((t) => t.name === full)) initializers.push({ name: full, dims: shapes.get(full)!, data });
        return full;
      },
      constant(name, dims, data) {
        const full = prefix + name;
        initializers.push({ name: full, dims, data });
        return full;
      },
    };
    nodes.push(...exporter(ctx));
    current = output;
  });
  if (shape.length !== 2) throw new RangeError(`Expected a network giving [N, classes] scores for ONNX export but its output shape is [${shape.join(', ')}]`);
  const outputName = options.softmax ? 'probabilities' : 'logits';
  if (options.softmax) nodes.push({ opType: 'Softmax', inputs: [current], outputs: [outputName], name: '/Softmax', attributes: [attr.int('axis', 1)] });
  else nodes[nodes.length - 1].outputs = [outputName];

  const valueInfo = (name: string, dims: (number | string)[]) => ({
    name,
    type: { tensor_type: { elem_type: FLOAT, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
  });
  const model = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'napinet',
    graph: {
      name: options.graphName ?? 'napinet',
      node: nodes.map((n) => ({
        input: n.inputs,
        output: n.outputs,
        name: n.name,
        op_type: n.opType,
        attribute: n.attributes ?? [],
      })),
      initializer: initializers.map((t) => ({
        name: t.name,
        dims: t.dims,
        data_type: FLOAT,
        raw_data: new Uint8Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength)),
      })),
      input: [valueInfo(graphInput, ['N', c, h, w])],
      output: [valueInfo(outputName, ['N', shape[1]])],
    },
    metadata_props: Object.entries({
      ...(options.standardize ? { 'napinet.standardize': JSON.stringify(options.standardize) } : {}),
      'napinet.inputShape': JSON.stringify([c, h, w]),
      ...(options.metadata ?? {}),
    }).map(([key, value]) => ({ key, value })),
  };
  const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
  const problem = ModelProto.verify(model);
  if (problem) throw new Error(`internal error building the ONNX model: ${problem}`);
  return ModelProto.encode(ModelProto.fromObject(model)).finish();
}

/**
 * Decodes ONNX bytes to a plain object (for inspection and tests; napinet itself reads no ONNX).
 * Byte fields become arrays of numbers (up to 8 bytes of memory each): the input budget
 * (lib/budget.ts) bounds 16 bytes per input byte. `source` names the origin in errors.
 */
export function decodeOnnx(bytes: Uint8Array, source = 'ONNX data'): Record<string, any> {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`Expected a Uint8Array for bytes but received ${describe(bytes)}`);
  checkBudget(source, `decoding ${bytes.length} bytes of ONNX`, 16 * bytes.length);
  const ModelProto = onnxRoot().lookupType('onnx.ModelProto');
  try {
    return ModelProto.toObject(ModelProto.decode(bytes), { longs: Number, bytes: Array, defaults: false, arrays: true });
  } catch (error) {
    throw new Error(`${source}: not a valid ONNX model (protobuf: ${(error as Error).message})`);
  }
}

/** Writes `network` as an ONNX file (atomically). */
export function exportOnnx(network: Module, file: string, options: OnnxExportOptions): void {
  writeFileAtomic(file, toOnnx(network, options));
}
