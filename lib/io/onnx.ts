/**
 * ONNX export by tracing, as torch.onnx.export traces: the model runs forward once on an example
 * batch inside autograd.tracing() (lib/autograd/grad_mode.ts), in eval mode, and the recorded graph
 * is walked from the output back to the input; every node becomes ONNX operators (opset 13) by its
 * name (the table OPS below: LinearFunction → Gemm, Conv2dFunction → Conv, AddBackward → Add, …).
 * Built-in layers and models written with tensor ops export alike: a layer's recorded forward is an
 * autograd.Function over its kernels, whose node keeps its arguments while tracing (Node.traced).
 *
 * What a trace fixes: tensors reached that are not computed from the input are constants — a
 * model's parameters and buffers become initializers under their state_dict names ("0.weight"),
 * others (a mask made in forward, a number) get their values baked in, as torch's tracer does.
 * Python-style control flow is fixed to the path the example took. Ops napinet does not record
 * (lib/ops kernels called directly, noGrad() inside forward, values read with toArray()) are not
 * seen: their results are baked in as constants too. So is Dropout (eval mode: the identity).
 *
 * The batch dimension is symbolic ("N") by default: the model is traced at two batch sizes, and a
 * shape-valued attribute (a Reshape target, an Expand shape, a Slice end) whose value changes with
 * the batch is written so that ONNX computes it (−1, a copied dimension, broadcasting); a constant
 * whose shape changes with the batch (zeros([x.shape[0], …]) in forward) is refused by name. An op
 * with no ONNX form is refused by name; registerOnnxOp(name, exporter) teaches one (a custom
 * autograd.Function's class name, say).
 *
 * The protobuf is encoded by protobufjs (loaded on first use) from the onnx.proto subset in
 * lib/io/onnx_proto.ts. Checked against onnxruntime: test/onnx.test.ts, test/onnx_trace.test.ts.
 */
import { tracing } from '../autograd/grad_mode';
import { type Node, nodeOf } from '../autograd/node';
import { checkBudget } from '../budget';
import { tidy } from '../memory';
import type { Module } from '../nn/module';
import { Generator } from '../random';
import { Tensor } from '../tensor';
import { describe, expectModule, expectObject, fail } from '../validate';
import { writeFileAtomic } from './files';
import { ONNX_PROTO } from './onnx_proto';

/** The ONNX opset the exporter writes (13: onnxruntime ≥ 1.6 and every current runtime read it). */
export const ONNX_OPSET = 13;
/** The IR version that goes with opset 13. */
export const ONNX_IR_VERSION = 7;

/** TensorProto.DataType values. */
const DATA_TYPE = { float32: 1, int32: 6, int64: 7, bool: 9 } as const;
const ATTR = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;
/** The largest int64: a Slice end meaning "to the end of the dimension". */
const INT64_MAX = 2n ** 63n - 1n;

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

interface OnnxInitializer {
  name: string;
  dims: number[];
  dataType: number;
  raw: Uint8Array;
}

export const attr = {
  int: (name: string, i: number): OnnxAttribute => ({ name, type: ATTR.INT, i }),
  ints: (name: string, ints: readonly number[]): OnnxAttribute => ({ name, type: ATTR.INTS, ints: [...ints] }),
  float: (name: string, f: number): OnnxAttribute => ({ name, type: ATTR.FLOAT, f }),
};

const bytesOf = (a: ArrayBufferView): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));

/** The graph being written: its nodes, its initializers, names made unique. */
export class OnnxGraph {
  readonly nodes: OnnxNode[] = [];
  readonly initializers: OnnxInitializer[] = [];
  private readonly taken = new Set<string>();
  private readonly constants = new Map<string, string>();
  private count = 0;

  /** `hint`, or hint_1, hint_2, … when taken. */
  unique(hint: string): string {
    let name = hint;
    for (let i = 1; this.taken.has(name); i++) name = `${hint}_${i}`;
    this.taken.add(name);
    return name;
  }

  /** Adds a node of `opType`; returns the names of its `outputs` outputs. An input '' is an omitted optional input. */
  add(opType: string, inputs: readonly string[], attributes: OnnxAttribute[] = [], outputs = 1): string[] {
    const id = this.count++;
    const names = Array.from({ length: outputs }, (_, k) => this.unique(`${opType}_${id}${outputs > 1 ? `_${k}` : ''}`));
    this.nodes.push({ opType, inputs: [...inputs], outputs: names, name: `/${opType}_${id}`, attributes });
    return names;
  }

  /** add() for an operator with one output. */
  op(opType: string, inputs: readonly string[], attributes: OnnxAttribute[] = []): string {
    return this.add(opType, inputs, attributes)[0];
  }

  /** An initializer holding `data` (float32, int32 or int64), under `name` made unique. */
  tensor(name: string, dims: readonly number[], data: Float32Array | Int32Array | BigInt64Array): string {
    const dataType = data instanceof Float32Array ? DATA_TYPE.float32 : data instanceof Int32Array ? DATA_TYPE.int32 : DATA_TYPE.int64;
    const unique = this.unique(name);
    this.initializers.push({ name: unique, dims: [...dims], dataType, raw: bytesOf(data) });
    return unique;
  }

  /** A 0-d float32 (or int32) constant; one initializer per distinct value. */
  scalar(value: number, dtype: 'float32' | 'int32' = 'float32'): string {
    const key = `${dtype}:${Object.is(value, -0) ? '-0' : value}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.tensor(`const.${dtype === 'int32' ? 'i' : 'f'}${String(value).replace(/[^\w.-]/g, '_')}`, [], dtype === 'int32' ? Int32Array.of(value) : Float32Array.of(value));
      this.constants.set(key, name);
    }
    return name;
  }

  /** A 1-D int64 constant (shapes, axes, Slice bounds); bigint for values beyond 2^53. */
  int64s(values: readonly (number | bigint)[], hint = 'const.shape'): string {
    const key = `int64:${values.join(',')}`;
    let name = this.constants.get(key);
    if (name === undefined) {
      name = this.tensor(hint, [values.length], BigInt64Array.from(values, (v) => BigInt(v)));
      this.constants.set(key, name);
    }
    return name;
  }
}

/** A shape as the two traces saw it: a number where both agree, null where it follows the batch. */
export type TracedShape = readonly (number | null)[];

/** What an op exporter gets for one recorded node. */
export interface OnnxOpContext {
  readonly graph: OnnxGraph;
  /** The node's name ("Conv2dFunction", "AddBackward", "ReluBackward"). */
  readonly op: string;
  /** Every operand of the op (tensors, numbers, option objects), as recorded. */
  readonly operands: readonly unknown[];
  /** The op's attributes (dims, keepDim, scalar, argument, …). */
  readonly attributes: Readonly<Record<string, any>>;
  /** The ONNX name of tensor operand i ('' for a null operand: an omitted optional input). */
  input(i: number): string;
  /** Operand i's shape, dims that follow the batch null (exact shapes when the batch is fixed). */
  inputShape(i: number): TracedShape;
  /** Output k's shape, likewise. */
  outputShape(k?: number): TracedShape;
  /** The dtype of tensor operand i. */
  dtype(i: number): Tensor['dtype'];
  /** Throws an error naming this op. */
  fail(message: string): never;
}

/** Emits the ONNX operators of one node; returns the names of its outputs (one per node output). */
export type OnnxOpExporter = (ctx: OnnxOpContext) => string | string[];

// ---------------------------------------------------------------------------------------------
// The ops: recorded node name → ONNX operators
// ---------------------------------------------------------------------------------------------

const asPair = (v: unknown, fallback: unknown): number[] => {
  const value = v ?? fallback;
  return Array.isArray(value) ? [...value] : [value as number, value as number];
};
const asSingle = (v: unknown, fallback: unknown): number[] => {
  const value = v ?? fallback;
  return Array.isArray(value) ? [value[0]] : [value as number];
};

/** kernel_shape, strides and pads of a window of `dims` dimensions (a pool's stride defaults to its kernel). */
function windowAttributes(dims: 1 | 2, kernel: unknown, stride: unknown, padding: unknown): OnnxAttribute[] {
  const read = dims === 2 ? asPair : asSingle;
  const k = read(kernel, undefined);
  const p = read(padding, 0);
  return [attr.ints('kernel_shape', k), attr.ints('strides', read(stride, k)), attr.ints('pads', [...p, ...p])];
}

/** Conv over operands (x, weight, bias, options): Conv2dFunction, Conv1dFunction, the fused step's first half. */
function conv(ctx: OnnxOpContext): string {
  const weight = ctx.inputShape(1) as number[];
  const dims = weight.length === 4 ? 2 : 1;
  const o = ctx.operands[3] as { stride?: unknown; padding?: unknown };
  const inputs = [ctx.input(0), ctx.input(1), ...(ctx.operands[2] ? [ctx.input(2)] : [])];
  return ctx.graph.op('Conv', inputs, [
    ...windowAttributes(dims, weight.slice(2), o.stride ?? 1, o.padding ?? 0),
    attr.ints('dilations', dims === 2 ? [1, 1] : [1]),
    attr.int('group', 1),
  ]);
}

function maxPool(ctx: OnnxOpContext, dims: 1 | 2): string {
  const o = ctx.operands[1] as { kernelSize: unknown; stride?: unknown; padding?: unknown };
  return ctx.graph.op('MaxPool', [ctx.input(0)], [...windowAttributes(dims, o.kernelSize, o.stride, o.padding), attr.int('ceil_mode', 0)]);
}

function avgPool(ctx: OnnxOpContext, dims: 1 | 2): string {
  const o = ctx.operands[1] as { kernelSize: unknown; stride?: unknown; padding?: unknown; countIncludePad?: boolean };
  return ctx.graph.op('AveragePool', [ctx.input(0)], [
    ...windowAttributes(dims, o.kernelSize, o.stride, o.padding),
    attr.int('ceil_mode', 0),
    attr.int('count_include_pad', o.countIncludePad === false ? 0 : 1),
  ]);
}

/** A broadcasting binary operator; `scalar` (and `reversed`) stand for a number operand. */
function binary(opType: string): OnnxOpExporter {
  return (ctx) => {
    const { scalar, reversed } = ctx.attributes;
    if (scalar === undefined) return ctx.graph.op(opType, [ctx.input(0), ctx.input(1)]);
    const c = ctx.graph.scalar(scalar, ctx.dtype(0) === 'int32' ? 'int32' : 'float32');
    return ctx.graph.op(opType, reversed ? [c, ctx.input(0)] : [ctx.input(0), c]);
  };
}

const unary = (opType: string): OnnxOpExporter => (ctx) => ctx.graph.op(opType, [ctx.input(0)]);

/** A reduction whose axes are an attribute in opset 13 (ReduceMean, ReduceMax, ReduceMin). */
const reduce = (opType: string): OnnxOpExporter => (ctx) => {
  const { dims, keepDim } = ctx.attributes;
  if (dims.length === 0) return ctx.graph.op('Identity', [ctx.input(0)]);
  return ctx.graph.op(opType, [ctx.input(0)], [attr.ints('axes', dims), attr.int('keepdims', keepDim ? 1 : 0)]);
};

/** Reshape to a target whose batch-dependent dims ONNX computes: 0 copies the input's, −1 infers one. */
function reshapeTarget(ctx: OnnxOpContext, from: TracedShape, to: TracedShape): string {
  let inferred = 0;
  const target = to.map((d, i) => {
    if (d !== null) {
      if (d === 0) ctx.fail('cannot reshape to a shape with a 0-sized dimension');
      return d;
    }
    if (i < from.length && from[i] === null) return 0;
    inferred++;
    return -1;
  });
  if (inferred > 1) ctx.fail(`reshapes to [${to.map((d) => d ?? 'N·…').join(', ')}], two dimensions that follow the batch: export with { dynamicBatch: false }`);
  return ctx.graph.int64s(target);
}

/** y = (x − mean)/√(var + ε) over the batch (and spatial) dimensions, per channel, then ·weight + bias. */
function batchStatisticsNorm(ctx: OnnxOpContext, eps: number): string {
  const g = ctx.graph;
  const rank = ctx.inputShape(0).length;
  const axes = [0, ...Array.from({ length: rank - 2 }, (_, i) => i + 2)];
  const x = ctx.input(0);
  const mean = g.op('ReduceMean', [x], [attr.ints('axes', axes), attr.int('keepdims', 1)]);
  const d = g.op('Sub', [x, mean]);
  const variance = g.op('ReduceMean', [g.op('Mul', [d, d])], [attr.ints('axes', axes), attr.int('keepdims', 1)]);
  let y = g.op('Div', [d, g.op('Sqrt', [g.op('Add', [variance, g.scalar(eps)])])]);
  const channels = ctx.inputShape(0)[1] as number;
  const perChannel = g.int64s([1, channels, ...Array.from({ length: rank - 2 }, () => 1)]);
  if (ctx.operands[3]) y = g.op('Mul', [y, g.op('Reshape', [ctx.input(3), perChannel])]);
  if (ctx.operands[4]) y = g.op('Add', [y, g.op('Reshape', [ctx.input(4), perChannel])]);
  return y;
}

const COMPARISONS: Record<string, [string, boolean]> = {
  eq: ['Equal', false],
  ne: ['Equal', true],
  lt: ['Less', false],
  le: ['LessOrEqual', false],
  gt: ['Greater', false],
  ge: ['GreaterOrEqual', false],
};

const OPS: Record<string, OnnxOpExporter> = {
  // Layers (nn/functional.ts: autograd.Functions over napinet's kernels)
  LinearFunction: (ctx) =>
    ctx.graph.op('Gemm', [ctx.input(0), ctx.input(1), ...(ctx.operands[2] ? [ctx.input(2)] : [])], [attr.float('alpha', 1), attr.float('beta', 1), attr.int('transB', 1)]),
  Conv2dFunction: conv,
  Conv1dFunction: conv,
  Conv2dMaxPool2dFunction: (ctx) => {
    const pooled = ctx.graph.op('MaxPool', [conv(ctx)], [attr.ints('kernel_shape', [2, 2]), attr.ints('strides', [2, 2]), attr.ints('pads', [0, 0, 0, 0]), attr.int('ceil_mode', 0)]);
    return (ctx.operands[3] as { relu?: boolean }).relu ? ctx.graph.op('Relu', [pooled]) : pooled;
  },
  MaxPool2dFunction: (ctx) => maxPool(ctx, 2),
  MaxPool1dFunction: (ctx) => maxPool(ctx, 1),
  AvgPool2dFunction: (ctx) => avgPool(ctx, 2),
  AvgPool1dFunction: (ctx) => avgPool(ctx, 1),
  BatchNormFunction: (ctx) => {
    const o = ctx.operands[5] as { training?: boolean; eps?: number };
    const eps = o.eps ?? 1e-5;
    if (o.training) return batchStatisticsNorm(ctx, eps);
    const g = ctx.graph;
    const c = ctx.inputShape(0)[1] as number;
    const scale = ctx.operands[3] ? ctx.input(3) : g.tensor('const.ones', [c], new Float32Array(c).fill(1));
    const bias = ctx.operands[4] ? ctx.input(4) : g.tensor('const.zeros', [c], new Float32Array(c));
    return g.op('BatchNormalization', [ctx.input(0), scale, bias, ctx.input(1), ctx.input(2)], [attr.float('epsilon', eps)]);
  },
  DropoutFunction: (ctx) => ctx.fail('is Dropout in training mode (a random mask): export runs the model in eval mode, where Dropout is the identity; this one was called with training = true'),
  // Activations (their node names are nn/functional.ts ACTIVATIONS' names)
  ReluBackward: unary('Relu'),
  SigmoidBackward: unary('Sigmoid'),
  TanhBackward: unary('Tanh'),
  LeakyReluBackward: (ctx) => ctx.graph.op('LeakyRelu', [ctx.input(0)], [attr.float('alpha', ctx.attributes.argument)]),
  EluBackward: (ctx) => ctx.graph.op('Elu', [ctx.input(0)], [attr.float('alpha', ctx.attributes.argument)]),
  GeluBackward: (ctx) => {
    // Opset 13 has no Gelu: x·Φ(x) = x·(1 + erf(x/√2))/2, or its tanh approximation.
    const g = ctx.graph;
    const x = ctx.input(0);
    let inner: string;
    if (ctx.attributes.argument === 'tanh') {
      const cube = g.op('Mul', [g.op('Mul', [x, x]), x]);
      const arg = g.op('Mul', [g.op('Add', [x, g.op('Mul', [cube, g.scalar(0.044715)])]), g.scalar(Math.sqrt(2 / Math.PI))]);
      inner = g.op('Tanh', [arg]);
    } else {
      inner = g.op('Erf', [g.op('Mul', [x, g.scalar(Math.SQRT1_2)])]);
    }
    return g.op('Mul', [g.op('Mul', [x, g.op('Add', [inner, g.scalar(1)])]), g.scalar(0.5)]);
  },
  SoftplusBackward: (ctx) => {
    // torch.nn.Softplus: log(1 + e^(βx))/β, and x itself where βx > threshold.
    const { beta = 1, threshold = 20 } = (ctx.attributes.argument ?? {}) as { beta?: number; threshold?: number };
    const g = ctx.graph;
    const x = ctx.input(0);
    const bx = beta === 1 ? x : g.op('Mul', [x, g.scalar(beta)]);
    const soft = beta === 1 ? g.op('Softplus', [bx]) : g.op('Div', [g.op('Softplus', [bx]), g.scalar(beta)]);
    return g.op('Where', [g.op('Greater', [bx, g.scalar(threshold)]), x, soft]);
  },
  SoftmaxBackward: (ctx) => ctx.graph.op('Softmax', [ctx.input(0)], [attr.int('axis', -1)]),
  LogSoftmaxBackward: (ctx) => ctx.graph.op('LogSoftmax', [ctx.input(0)], [attr.int('axis', -1)]),
  // Element-wise arithmetic (autograd/functional.ts)
  AddBackward: binary('Add'),
  SubBackward: binary('Sub'),
  MulBackward: binary('Mul'),
  DivBackward: binary('Div'),
  PowBackward: binary('Pow'),
  MaximumBackward: binary('Max'),
  MinimumBackward: binary('Min'),
  NegBackward: unary('Neg'),
  ExpBackward: unary('Exp'),
  LogBackward: unary('Log'),
  SqrtBackward: unary('Sqrt'),
  AbsBackward: unary('Abs'),
  SignBackward: unary('Sign'),
  SquareBackward: (ctx) => ctx.graph.op('Mul', [ctx.input(0), ctx.input(0)]),
  ClampBackward: (ctx) => {
    const { min, max } = ctx.attributes;
    const bound = (v: number) => (Number.isFinite(v) ? ctx.graph.scalar(v) : '');
    return ctx.graph.op('Clip', [ctx.input(0), bound(min), bound(max)]);
  },
  WhereBackward: (ctx) => ctx.graph.op('Where', [ctx.graph.op('Cast', [ctx.input(0)], [attr.int('to', DATA_TYPE.bool)]), ctx.input(1), ctx.input(2)]),
  CompareBackward: (ctx) => {
    const [opType, negate] = COMPARISONS[ctx.attributes.op];
    const g = ctx.graph;
    const other = ctx.attributes.scalar !== undefined ? g.scalar(ctx.attributes.scalar, ctx.dtype(0) === 'int32' ? 'int32' : 'float32') : ctx.input(1);
    let mask = g.op(opType, [ctx.input(0), other]);
    if (negate) mask = g.op('Not', [mask]);
    return g.op('Cast', [mask], [attr.int('to', DATA_TYPE.float32)]);
  },
  // Reductions
  SumBackward: (ctx) => {
    const { dims, keepDim } = ctx.attributes;
    if (dims.length === 0) return ctx.graph.op('Identity', [ctx.input(0)]);
    return ctx.graph.op('ReduceSum', [ctx.input(0), ctx.graph.int64s(dims, 'const.axes')], [attr.int('keepdims', keepDim ? 1 : 0)]);
  },
  MeanBackward: reduce('ReduceMean'),
  AmaxBackward: reduce('ReduceMax'),
  AminBackward: reduce('ReduceMin'),
  VarBackward: (ctx) => {
    const { dims, keepDim, correction } = ctx.attributes;
    const g = ctx.graph;
    const x = ctx.input(0);
    const shape = ctx.inputShape(0);
    if (dims.some((d: number) => shape[d] === null)) ctx.fail('takes the variance over the batch dimension: export with { dynamicBatch: false }');
    const count = dims.reduce((n: number, d: number) => n * (shape[d] as number), 1);
    const d = g.op('Sub', [x, g.op('ReduceMean', [x], [attr.ints('axes', dims), attr.int('keepdims', 1)])]);
    const sum = g.op('ReduceSum', [g.op('Mul', [d, d]), g.int64s(dims, 'const.axes')], [attr.int('keepdims', keepDim ? 1 : 0)]);
    return g.op('Div', [sum, g.scalar(count - correction)]);
  },
  ArgReduceBackward: (ctx) => {
    const { op, dim, keepDim } = ctx.attributes;
    const g = ctx.graph;
    const opType = op === 'argmax' ? 'ArgMax' : 'ArgMin';
    let index: string;
    if (dim === null) {
      const flat = g.op('Reshape', [ctx.input(0), g.int64s([-1])]);
      index = g.op('Reshape', [g.op(opType, [flat], [attr.int('axis', 0), attr.int('keepdims', 0)]), reshapeTarget(ctx, [], ctx.outputShape())]);
    } else {
      index = g.op(opType, [ctx.input(0)], [attr.int('axis', dim), attr.int('keepdims', keepDim ? 1 : 0)]);
    }
    return g.op('Cast', [index], [attr.int('to', DATA_TYPE.int32)]);
  },
  // Products, shapes and indexing
  MatmulBackward: (ctx) => ctx.graph.op('MatMul', [ctx.input(0), ctx.input(1)]),
  ViewBackward: (ctx) => ctx.graph.op('Reshape', [ctx.input(0), reshapeTarget(ctx, ctx.inputShape(0), ctx.outputShape())]),
  PermuteBackward: (ctx) => ctx.graph.op('Transpose', [ctx.input(0)], [attr.ints('perm', ctx.attributes.dims)]),
  ExpandBackward: (ctx) => {
    // ONNX's Expand broadcasts: a 1 keeps the input's own (batch-dependent) size.
    const from = ctx.inputShape(0);
    const to = ctx.outputShape();
    const lead = to.length - from.length;
    const target = to.map((d, i) => {
      if (d !== null) return d;
      if (i >= lead && from[i - lead] === null) return 1;
      return ctx.fail('expands a dimension to the batch size: export with { dynamicBatch: false }');
    });
    return ctx.graph.op('Expand', [ctx.input(0), ctx.graph.int64s(target)]);
  },
  SliceBackward: (ctx) => {
    const { dim, start, end, step } = ctx.attributes;
    const size = ctx.inputShape(0)[dim];
    let stop: number | bigint = end;
    if (size === null) {
      if (ctx.outputShape()[dim] !== null) ctx.fail('slices the batch dimension to a fixed length: export with { dynamicBatch: false }');
      stop = INT64_MAX; // to the end, whatever the batch
    }
    const g = ctx.graph;
    return g.op('Slice', [ctx.input(0), g.int64s([start], 'const.starts'), g.int64s([stop], 'const.ends'), g.int64s([dim], 'const.axes'), g.int64s([step], 'const.steps')]);
  },
  IndexSelectBackward: (ctx) => ctx.graph.op('Gather', [ctx.input(0), ctx.input(1)], [attr.int('axis', ctx.attributes.dim)]),
  GatherBackward: (ctx) => ctx.graph.op('GatherElements', [ctx.input(0), ctx.input(1)], [attr.int('axis', ctx.attributes.dim)]),
  CatBackward: (ctx) => ctx.graph.op('Concat', ctx.operands.map((_, i) => ctx.input(i)), [attr.int('axis', ctx.attributes.dim)]),
  CloneBackward: unary('Identity'),
  ToCopyBackward: unary('Identity'),
  ToDTypeBackward: (ctx) => ctx.graph.op('Cast', [ctx.input(0)], [attr.int('to', DATA_TYPE[ctx.attributes.dtype as 'float32' | 'int32'])]),
};

/**
 * Teaches the exporter the node named `op` (a custom autograd.Function's class name, or a built-in
 * op's node name to replace its form). The exporter emits operators into ctx.graph and returns the
 * names of the node's outputs.
 */
export function registerOnnxOp(op: string, exporter: OnnxOpExporter): void {
  if (typeof op !== 'string' || op === '') fail('an op name (a node name such as "MyFunction")', 'op', op);
  if (typeof exporter !== 'function') fail('a function (ctx) => output names', 'exporter', exporter);
  OPS[op] = exporter;
}

/** The node names the exporter knows (the ops a traced model may use). */
export function onnxOps(): string[] {
  return Object.keys(OPS);
}

// ---------------------------------------------------------------------------------------------
// Tracing
// ---------------------------------------------------------------------------------------------

/** Options of toOnnx() and exportOnnx(). */
export interface OnnxExportOptions {
  /** One sample's shape, without the batch dimension: [C, H, W] for images, [F] for features, … */
  inputShape: readonly number[];
  /** The batch to trace with (default: normal values from a fixed seed, batch 2). Its batch size is the fixed one with dynamicBatch false. */
  example?: Tensor;
  /** A symbolic batch dimension "N" (default true; the model is traced at two batch sizes). */
  dynamicBatch?: boolean;
  /** Append Softmax over dimension 1: the output is "probabilities". */
  softmax?: boolean;
  /** Put (x − mean) / std in front, per channel (dimension 1): the model then takes raw values, as "pixels". */
  standardize?: { mean: number[]; std: number[] } | null;
  /** The graph's input and output names (default "input", or "pixels" with standardize; "output", or "probabilities" with softmax). */
  inputName?: string;
  outputName?: string;
  /** Extra metadata_props (string values). */
  metadata?: Record<string, string>;
  graphName?: string;
}

interface Trace {
  input: Tensor;
  output: Tensor;
  /** The traced nodes reachable from the output, each after its operands' nodes. */
  order: Node[];
}

/** Runs `model` once on `input` inside tracing() and orders the nodes that lead to its output. */
function trace(model: Module, input: Tensor): Trace {
  const output = tracing(() => model.forward(input));
  if (!(output instanceof Tensor)) fail('a model whose forward() returns one Tensor', 'model', output);
  const order: Node[] = [];
  const visited = new Set<Node>();
  const traced = (t: unknown): Node | null => {
    const n = t instanceof Tensor && t !== input ? nodeOf(t) : null;
    return n && n.traced ? n : null; // a node recorded outside this trace is a constant here
  };
  const root = traced(output);
  if (root) {
    visited.add(root);
    const stack: { node: Node; next: number }[] = [{ node: root, next: 0 }];
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const operands = top.node.traced!.operands;
      if (top.next < operands.length) {
        const child = traced(operands[top.next++]);
        if (child && !visited.has(child)) {
          visited.add(child);
          stack.push({ node: child, next: 0 });
        }
      } else {
        order.push(top.node);
        stack.pop();
      }
    }
  }
  return { input, output, order };
}

function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

/** `a` (first trace) against `b` (second): null where they differ, which only the batch makes them do. */
function tracedShape(a: readonly number[], b: readonly number[] | undefined): TracedShape {
  if (!b) return a;
  return a.map((d, i) => (d === b[i] ? d : null));
}

/** Writes the ONNX graph of `first` (paired, node for node, with `second` for the batch-dependent dims). */
function writeGraph(graph: OnnxGraph, model: Module, first: Trace, second: Trace | null, inputName: string): string {
  const weightNames = new Map<Tensor, string>();
  for (const [name, p] of model.namedParameters()) weightNames.set(p, name);
  for (const [name, b] of model.namedBuffers()) if (!weightNames.has(b)) weightNames.set(b, name);
  const values = new Map<Tensor, string>([[first.input, inputName]]);
  const outputsOf = new Map<Node, string[]>();
  const describeNode = (node: Node) => {
    const shapes = node.traced!.operands.filter((t): t is Tensor => t instanceof Tensor).map((t) => `[${t.shape.join(', ')}]`);
    return `${node.name}${shapes.length ? ` (on ${shapes.join(', ')})` : ''}`;
  };
  if (second && (second.order.length !== first.order.length || second.order.some((n, i) => n.name !== first.order[i].name))) {
    throw new Error(
      `ONNX export: the model's recorded graph changes with the batch size (${first.order.length} ops at batch ${first.input.shape[0]}, ` +
        `${second.order.length} at ${second.input.shape[0]}): its forward depends on the batch; export with { dynamicBatch: false }`,
    );
  }
  const valueOf = (t: Tensor, twin: unknown, where: string): string => {
    const known = values.get(t);
    if (known !== undefined) return known;
    const node = nodeOf(t);
    if (node?.traced && t !== first.input) return outputsOf.get(node)![t.outputIndex];
    // A constant of this trace: a parameter or buffer by its state_dict name, anything else by value.
    if (twin instanceof Tensor && !sameShape(twin.shape, t.shape)) {
      throw new Error(
        `ONNX export: ${where} uses a tensor made in forward() whose shape follows the batch ([${t.shape.join(', ')}] at batch ${first.input.shape[0]}, ` +
          `[${twin.shape.join(', ')}] at ${second!.input.shape[0]}): ONNX would fix it. Compute it from the input, or export with { dynamicBatch: false }`,
      );
    }
    checkBudget('ONNX export', `a constant of shape [${t.shape.join(', ')}]`, 4 * t.size);
    const data = t.toArray();
    const name = graph.tensor(weightNames.get(t) ?? 'const.tensor', t.shape, data instanceof Int32Array ? data : (data as Float32Array));
    values.set(t, name);
    return name;
  };
  first.order.forEach((node, index) => {
    const twin = second?.order[index] ?? null;
    const traced = node.traced!;
    const ctx: OnnxOpContext = {
      graph,
      op: node.name,
      operands: traced.operands,
      attributes: traced.attributes,
      input(i) {
        const t = traced.operands[i];
        if (t === null || t === undefined) return '';
        if (!(t instanceof Tensor)) return ctx.fail(`operand ${i} is ${describe(t)}, not a tensor`);
        return valueOf(t, twin?.traced?.operands[i], describeNode(node));
      },
      inputShape(i) {
        const t = traced.operands[i];
        if (!(t instanceof Tensor)) return ctx.fail(`operand ${i} is ${describe(t)}, not a tensor`);
        const other = twin?.traced?.operands[i];
        return tracedShape(t.shape, other instanceof Tensor ? other.shape : undefined);
      },
      outputShape(k = 0) {
        return tracedShape(node.outputs[k].shape, twin?.outputs[k]?.shape);
      },
      dtype(i) {
        const t = traced.operands[i];
        return t instanceof Tensor ? t.dtype : 'float32';
      },
      fail(message: string): never {
        throw new Error(`ONNX export: ${describeNode(node)} ${message}`);
      },
    };
    const exporter = OPS[node.name];
    if (!exporter) {
      throw new Error(
        `ONNX export: ${describeNode(node)} has no ONNX form in napinet's exporter. ` +
          `Teach it one with registerOnnxOp('${node.name}', ctx => …), or keep the op out of the exported forward`,
      );
    }
    const out = exporter(ctx);
    const names = Array.isArray(out) ? out : [out];
    if (names.length !== node.outputs.length || !names.every((n) => typeof n === 'string' && n !== '')) {
      throw new Error(`ONNX export: the exporter of ${node.name} returned ${describe(out)}; expected ${node.outputs.length} output name(s)`);
    }
    outputsOf.set(node, names);
  });
  return valueOf(first.output, second?.output, 'the output');
}

/** An example batch of `batch` samples of `shape` on `device`: normal values from a fixed seed. */
function exampleBatch(batch: number, shape: readonly number[], device: Module['device']): Tensor {
  const size = batch * shape.reduce((a, b) => a * b, 1);
  const g = new Generator(20251);
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++) values[i] = g.normal();
  return Tensor.from(values, [batch, ...shape]).to(device);
}

function checkOptions(options: OnnxExportOptions): void {
  expectObject(options, 'options');
  const shape = options.inputShape as unknown;
  if (!Array.isArray(shape) || shape.length === 0 || !shape.every((d) => Number.isSafeInteger(d) && d >= 1)) {
    fail("a shape of positive integers (one sample's, without the batch dimension)", 'options.inputShape', shape);
  }
  if (options.example !== undefined) {
    const e = options.example as unknown;
    if (!(e instanceof Tensor) || e.shape.length !== shape.length + 1 || !sameShape(e.shape.slice(1), shape)) {
      fail(`a tensor of shape [N, ${shape.join(', ')}]`, 'options.example', e instanceof Tensor ? `a tensor of shape [${e.shape.join(', ')}]` : e);
    }
    if (e.dtype !== 'float32') fail('a float32 tensor', 'options.example', `an ${e.dtype} tensor`);
  }
  if (options.standardize) {
    const { mean, std } = options.standardize;
    if (!Array.isArray(mean) || !Array.isArray(std) || mean.length !== shape[0] || std.length !== shape[0]) {
      throw new RangeError(`Expected ${shape[0]} mean and std values (one per channel) for standardize but received ${describe(mean)} and ${describe(std)}`);
    }
  }
}

/**
 * The ONNX ModelProto (protobuf bytes) of `model`, traced on an example batch (see the file
 * comment): any model of built-in layers or tensor ops, in eval mode (restored afterwards).
 */
export function toOnnx(model: Module, options: OnnxExportOptions): Uint8Array {
  expectModule(model, 'model');
  checkOptions(options);
  const shape = [...options.inputShape];
  const dynamic = options.dynamicBatch ?? true;
  const inputName = options.standardize ? 'input' : (options.inputName ?? 'input');
  const graphInput = options.standardize ? (options.inputName ?? 'pixels') : inputName;
  const outputName = options.outputName ?? (options.softmax ? 'probabilities' : 'output');
  const wasTraining = model.training;
  model.eval();
  try {
    return tidy(() => {
      const firstInput = (options.example ?? exampleBatch(2, shape, model.device)).detach().requiresGrad_(true);
      const first = trace(model, firstInput);
      const second = dynamic ? trace(model, exampleBatch(firstInput.shape[0] + 1, shape, model.device).requiresGrad_(true)) : null;
      const graph = new OnnxGraph();
      graph.unique(inputName);
      graph.unique(graphInput);
      if (options.standardize) {
        const dims = [1, shape[0], ...shape.slice(1).map(() => 1)];
        const mean = graph.tensor('standardize.mean', dims, Float32Array.from(options.standardize.mean));
        const std = graph.tensor('standardize.std', dims, Float32Array.from(options.standardize.std));
        graph.nodes.push({ opType: 'Sub', inputs: [graphInput, mean], outputs: ['/standardize/Sub_output_0'], name: '/standardize/Sub' });
        graph.nodes.push({ opType: 'Div', inputs: ['/standardize/Sub_output_0', std], outputs: [inputName], name: '/standardize/Div' });
      }
      let result = writeGraph(graph, model, first, second, inputName);
      const outShape = tracedShape(first.output.shape, second?.output.shape);
      if (options.softmax) {
        if (outShape.length < 2) throw new RangeError(`Expected a model output of rank ≥ 2 for options.softmax (over dimension 1) but its shape is [${outShape.join(', ')}]`);
        result = graph.op('Softmax', [result], [attr.int('axis', 1)]);
      }
      renameOutput(graph, result, outputName);
      const batch = first.input.shape[0];
      const dims = (s: TracedShape, trace: Trace) => s.map((d, i) => (d !== null ? d : trace.output.shape[i] === batch ? 'N' : `d${i}`));
      const inputDims = [dynamic ? 'N' : batch, ...shape];
      return encode(graph, {
        graphName: options.graphName ?? 'napinet',
        input: { name: graphInput, dims: inputDims },
        output: { name: outputName, dims: dims(outShape, first), dtype: first.output.dtype },
        metadata: {
          ...(options.standardize ? { 'napinet.standardize': JSON.stringify(options.standardize) } : {}),
          'napinet.inputShape': JSON.stringify(shape),
          ...(options.metadata ?? {}),
        },
      });
    });
  } finally {
    model.train(wasTraining);
  }
}

/** Makes `name` the graph's output: renames the value `value` (an Identity when it is not a node's output). */
function renameOutput(graph: OnnxGraph, value: string, name: string): void {
  const producer = graph.nodes.find((n) => n.outputs.includes(value));
  const isInitializer = graph.initializers.some((t) => t.name === value);
  if (!producer || isInitializer || value === name) {
    graph.nodes.push({ opType: 'Identity', inputs: [value], outputs: [name], name: '/output/Identity' });
    return;
  }
  producer.outputs = producer.outputs.map((o) => (o === value ? name : o));
  for (const n of graph.nodes) n.inputs = n.inputs.map((i) => (i === value ? name : i));
}

type Protobuf = typeof import('protobufjs');
let cachedRoot: import('protobufjs').Root | undefined;
/** The onnx.proto types, with protobufjs loaded on first use: require('napinet') does not pay for it (bench/import-time.mjs). */
function onnxRoot(): import('protobufjs').Root {
  cachedRoot ??= (require('protobufjs') as Protobuf).parse(ONNX_PROTO, { keepCase: true }).root;
  return cachedRoot;
}

function encode(
  graph: OnnxGraph,
  io: { graphName: string; input: { name: string; dims: (number | string)[] }; output: { name: string; dims: (number | string)[]; dtype: Tensor['dtype'] }; metadata: Record<string, string> },
): Uint8Array {
  const valueInfo = (name: string, dims: (number | string)[], elemType: number) => ({
    name,
    type: { tensor_type: { elem_type: elemType, shape: { dim: dims.map((d) => (typeof d === 'string' ? { dim_param: d } : { dim_value: d })) } } },
  });
  const model = {
    ir_version: ONNX_IR_VERSION,
    opset_import: [{ domain: '', version: ONNX_OPSET }],
    producer_name: 'napinet',
    graph: {
      name: io.graphName,
      node: graph.nodes.map((n) => ({ input: n.inputs, output: n.outputs, name: n.name, op_type: n.opType, attribute: n.attributes ?? [] })),
      initializer: graph.initializers.map((t) => ({ name: t.name, dims: t.dims, data_type: t.dataType, raw_data: t.raw })),
      input: [valueInfo(io.input.name, io.input.dims, DATA_TYPE.float32)],
      output: [valueInfo(io.output.name, io.output.dims, DATA_TYPE[io.output.dtype])],
    },
    metadata_props: Object.entries(io.metadata).map(([key, value]) => ({ key, value })),
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

/** Writes `model` as an ONNX file (atomically). */
export function exportOnnx(model: Module, file: string, options: OnnxExportOptions): void {
  writeFileAtomic(file, toOnnx(model, options));
}
