/**
 * ONNX versions of the example networks, written with our own protobuf writer
 * (src/core/io/protobufWriter.ts) from the TF.js weights, so onnxruntime runs
 * the same network with the same weights. Also a large ONNX file of random
 * initializers for the analysis bench when Python's onnx package is missing.
 */
import { ProtoWriter } from '../../src/core/io/protobufWriter';
import type { ExampleModel } from './models';

const FLOAT = 1;
const INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

interface Node {
  op: string;
  inputs: string[];
  outputs: string[];
  ints?: Record<string, number[]>;
  int?: Record<string, number>;
}

interface Initializer {
  name: string;
  dims: number[];
  values: Float32Array | BigInt64Array;
}

function tensorProto(t: Initializer): ProtoWriter {
  const w = new ProtoWriter();
  w.repeatedVarint(1, t.dims);
  w.varint(2, t.values instanceof BigInt64Array ? INT64 : FLOAT);
  w.string(8, t.name);
  w.bytes(9, new Uint8Array(t.values.buffer, t.values.byteOffset, t.values.byteLength));
  return w;
}

function valueInfo(name: string, dims: (number | string)[]): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of dims) {
    const dim = new ProtoWriter();
    if (typeof d === 'number') dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensor = new ProtoWriter().varint(1, FLOAT).message(2, shape);
  const type = new ProtoWriter().message(1, tensor);
  return new ProtoWriter().string(1, name).message(2, type);
}

function nodeProto(n: Node, index: number): ProtoWriter {
  const w = new ProtoWriter();
  for (const i of n.inputs) w.string(1, i);
  for (const o of n.outputs) w.string(2, o);
  w.string(3, `${n.op.toLowerCase()}_${index}`);
  w.string(4, n.op);
  for (const [name, values] of Object.entries(n.ints ?? {})) {
    const a = new ProtoWriter().string(1, name).repeatedVarint(8, values).varint(20, ATTR_INTS);
    w.message(5, a);
  }
  for (const [name, value] of Object.entries(n.int ?? {})) {
    const a = new ProtoWriter().string(1, name).varint(3, value).varint(20, ATTR_INT);
    w.message(5, a);
  }
  return w;
}

export function onnxModelBytes(graphName: string, nodes: Node[], initializers: Initializer[], input: { name: string; dims: (number | string)[] }, output: { name: string; dims: (number | string)[] }): Uint8Array {
  const graph = new ProtoWriter();
  nodes.forEach((n, i) => graph.message(1, nodeProto(n, i)));
  graph.string(2, graphName);
  for (const t of initializers) graph.message(5, tensorProto(t));
  graph.message(11, valueInfo(input.name, input.dims));
  graph.message(12, valueInfo(output.name, output.dims));
  const model = new ProtoWriter();
  model.varint(1, 8); // ir_version
  model.string(2, 'parsimony-bench');
  model.message(7, graph);
  model.message(8, new ProtoWriter().string(1, '').varint(2, 17)); // opset 17
  return model.finish();
}

/** Keras [kh, kw, in, out] → ONNX [out, in, kh, kw]. */
function convKernel(values: Float32Array, [kh, kw, cin, cout]: number[]): Float32Array {
  const out = new Float32Array(values.length);
  for (let y = 0; y < kh!; y++)
    for (let x = 0; x < kw!; x++)
      for (let i = 0; i < cin!; i++)
        for (let o = 0; o < cout!; o++) out[((o * cin! + i) * kh! + y) * kw! + x] = values[((y * kw! + x) * cin! + i) * cout! + o]!;
  return out;
}

/**
 * The example TF.js network (Conv2D / MaxPooling2D / Flatten / Dense with
 * relu or softmax) as ONNX: NHWC input like TF.js, one Transpose to NCHW for
 * the convolutions and one back before Flatten, so the flattened order (and
 * the Dense weights) are the TF.js ones.
 */
export function exampleToOnnx(m: ExampleModel): Uint8Array {
  const nodes: Node[] = [];
  const inits: Initializer[] = [];
  const weights = new Map(m.weights.map((w) => [w.name, w]));
  let current = 'input';
  let nchw = false;
  let k = 0;
  const fresh = (base: string) => `${base}_${k++}`;
  const emit = (op: string, inputs: string[], extra: Partial<Node> = {}) => {
    const out = fresh(op.toLowerCase());
    nodes.push({ op, inputs, outputs: [out], ...extra });
    current = out;
  };
  const activation = (a: unknown) => {
    if (a === 'relu') emit('Relu', [current]);
    else if (a === 'softmax') emit('Softmax', [current], { int: { axis: -1 } });
    else if (a !== 'linear' && a !== undefined && a !== null) throw new Error(`activation ${String(a)} not supported by the bench's ONNX export`);
  };
  for (const layer of m.layers) {
    const name = String(layer.config['name']);
    const c = layer.config;
    if (layer.className === 'Conv2D') {
      if (c['padding'] !== 'valid') throw new Error('bench ONNX export: only valid padding');
      if (!nchw) {
        emit('Transpose', [current], { ints: { perm: [0, 3, 1, 2] } });
        nchw = true;
      }
      const kernel = weights.get(`${name}/kernel`)!;
      const bias = weights.get(`${name}/bias`);
      inits.push({ name: `${name}.weight`, dims: [kernel.shape[3]!, kernel.shape[2]!, kernel.shape[0]!, kernel.shape[1]!], values: convKernel(kernel.values, kernel.shape) });
      const inputs = [current, `${name}.weight`];
      if (bias) {
        inits.push({ name: `${name}.bias`, dims: bias.shape, values: bias.values });
        inputs.push(`${name}.bias`);
      }
      const strides = c['strides'] as number[];
      emit('Conv', inputs, { ints: { kernel_shape: [kernel.shape[0]!, kernel.shape[1]!], strides, pads: [0, 0, 0, 0] } });
      activation(c['activation']);
    } else if (layer.className === 'MaxPooling2D') {
      if (c['padding'] !== 'valid') throw new Error('bench ONNX export: only valid padding');
      if (!nchw) {
        emit('Transpose', [current], { ints: { perm: [0, 3, 1, 2] } });
        nchw = true;
      }
      emit('MaxPool', [current], { ints: { kernel_shape: c['pool_size'] as number[], strides: c['strides'] as number[] } });
    } else if (layer.className === 'Flatten') {
      if (nchw) {
        emit('Transpose', [current], { ints: { perm: [0, 2, 3, 1] } });
        nchw = false;
      }
      emit('Flatten', [current], { int: { axis: 1 } });
    } else if (layer.className === 'Dense') {
      const kernel = weights.get(`${name}/kernel`)!;
      const bias = weights.get(`${name}/bias`)!;
      inits.push({ name: `${name}.weight`, dims: kernel.shape, values: kernel.values });
      inits.push({ name: `${name}.bias`, dims: bias.shape, values: bias.values });
      emit('Gemm', [current, `${name}.weight`, `${name}.bias`]);
      activation(c['activation']);
    } else {
      throw new Error(`bench ONNX export: layer ${layer.className} not supported`);
    }
  }
  nodes[nodes.length - 1]!.outputs = ['output'];
  return onnxModelBytes(m.id, nodes, inits, { name: 'input', dims: ['N', 28, 28, 1] }, { name: 'output', dims: ['N', 10] });
}

/** A ~`bytes`-sized ONNX model: a chain of MatMul+Add layers with random initializers (analysis bench fallback). */
export function largeOnnx(bytes: number, width = 512): Uint8Array {
  const perLayer = (width * width + width) * 4;
  const layers = Math.max(1, Math.round(bytes / perLayer));
  const nodes: Node[] = [];
  const inits: Initializer[] = [];
  let current = 'input';
  let seed = 1;
  const rand = () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 4294967296 - 0.5;
  };
  for (let l = 0; l < layers; l++) {
    const w = new Float32Array(width * width);
    for (let i = 0; i < w.length; i++) w[i] = rand() * 0.1;
    const b = new Float32Array(width);
    for (let i = 0; i < b.length; i++) b[i] = rand() * 0.01;
    inits.push({ name: `layer${l}.weight`, dims: [width, width], values: w });
    inits.push({ name: `layer${l}.bias`, dims: [width], values: b });
    nodes.push({ op: 'MatMul', inputs: [current, `layer${l}.weight`], outputs: [`mm${l}`] });
    nodes.push({ op: 'Add', inputs: [`mm${l}`, `layer${l}.bias`], outputs: [`h${l}`] });
    current = `h${l}`;
  }
  nodes[nodes.length - 1]!.outputs = ['output'];
  return onnxModelBytes('large', nodes, inits, { name: 'input', dims: ['N', width] }, { name: 'output', dims: ['N', width] });
}
