import { readFileSync, readdirSync, statSync } from 'node:fs';
import * as path from 'node:path';

/**
 * The seed corpus: fixtures of every format (generated, real, corrupt), plus
 * small synthetic TF.js models built here, since the repository's TF.js files
 * are either large third-party models or already broken on purpose.
 */

export const FORMATS = ['tfjs', 'keras', 'onnx', 'safetensors', 'tflite', 'gguf', 'pytorch'] as const;
export type FuzzFormat = (typeof FORMATS)[number];

export interface Seed {
  format: FuzzFormat;
  /** Where it came from, e.g. generated/onnx/mlp.onnx or synthetic/tfjs-layers-cnn. */
  name: string;
  /** The file opened (relative to the case folder). */
  main: string;
  /** Every file of the case, relative path → bytes. */
  files: Map<string, Uint8Array>;
  weight: number;
}

export const ROOT = path.resolve(__dirname, '../..');
const FIXTURES = path.join(ROOT, 'test/fixtures');

function fileSeed(format: FuzzFormat, rel: string, weight?: number, siblings: string[] = []): Seed {
  const abs = path.join(FIXTURES, rel);
  const files = new Map<string, Uint8Array>();
  const main = path.basename(abs);
  files.set(main, new Uint8Array(readFileSync(abs)));
  for (const s of siblings) files.set(s, new Uint8Array(readFileSync(path.join(path.dirname(abs), s))));
  const size = [...files.values()].reduce((n, b) => n + b.length, 0);
  return { format, name: rel, main, files, weight: weight ?? (size > 400_000 ? 1 : size > 60_000 ? 2 : 4) };
}

function dirSeed(format: FuzzFormat, relDir: string, main: string, weight?: number): Seed {
  const abs = path.join(FIXTURES, relDir);
  const files = new Map<string, Uint8Array>();
  for (const f of readdirSync(abs)) if (statSync(path.join(abs, f)).isFile()) files.set(f, new Uint8Array(readFileSync(path.join(abs, f))));
  const size = [...files.values()].reduce((n, b) => n + b.length, 0);
  return { format, name: `${relDir}/${main}`, main, files, weight: weight ?? (size > 400_000 ? 1 : size > 60_000 ? 2 : 4) };
}

function listDir(rel: string, ext: RegExp): string[] {
  const abs = path.join(FIXTURES, rel);
  try {
    return readdirSync(abs).filter((f) => ext.test(f) && statSync(path.join(abs, f)).isFile()).map((f) => `${rel}/${f}`);
  } catch {
    return [];
  }
}

let cache: Map<FuzzFormat, Seed[]> | undefined;

export function seedsFor(format: FuzzFormat): Seed[] {
  cache ??= buildSeeds();
  return cache.get(format) ?? [];
}

function buildSeeds(): Map<FuzzFormat, Seed[]> {
  const seeds = new Map<FuzzFormat, Seed[]>();
  const add = (s: Seed) => {
    const list = seeds.get(s.format) ?? [];
    list.push(s);
    seeds.set(s.format, list);
  };
  // safetensors
  for (const f of listDir('generated/safetensors', /\.safetensors$/)) add(fileSeed('safetensors', f));
  add(dirSeed('safetensors', 'generated/safetensors/sharded', 'model.safetensors.index.json', 3));
  add(fileSeed('safetensors', 'generated/safetensors/sharded/model-00001-of-00002.safetensors', 2));
  for (const f of listDir('corrupt/safetensors', /\.safetensors$/)) add(fileSeed('safetensors', f, 1));
  // gguf
  for (const f of listDir('generated/gguf', /\.gguf$/)) add(fileSeed('gguf', f, 5));
  for (const f of listDir('corrupt/gguf', /\.gguf$/)) add(fileSeed('gguf', f, 1));
  // onnx
  for (const f of listDir('generated/onnx', /\.onnx$/)) add(fileSeed('onnx', f));
  add(dirSeed('onnx', 'generated/onnx/external', 'model.onnx', 3));
  add(fileSeed('onnx', 'real/onnx/silero_vad.onnx', 1));
  for (const f of ['corrupt/onnx/external_data_traversal.onnx', 'corrupt/onnx/huge_dims.onnx', 'corrupt/onnx/truncated_raw_data.onnx']) add(fileSeed('onnx', f, 1));
  // tflite
  for (const f of listDir('generated/tflite', /\.tflite$/)) add(fileSeed('tflite', f, 5));
  add(fileSeed('tflite', 'real/tflite/face_detection_short_range.tflite', 1));
  for (const f of listDir('corrupt/tflite', /\.tflite$/)) add(fileSeed('tflite', f, 1));
  // keras
  for (const f of listDir('generated/keras', /\.(h5|keras)$/)) add(fileSeed('keras', f, 4));
  // pytorch
  for (const f of listDir('generated/pytorch', /\.(pt|pth)$/)) add(fileSeed('pytorch', f, f.endsWith('lenet.pt') ? 1 : 4));
  add(fileSeed('pytorch', 'generated/pytorch/hf/pytorch_model.bin', 2));
  for (const f of listDir('generated/pytorch/bad', /\.pt$/)) add(fileSeed('pytorch', f, 1));
  for (const f of ['corrupt/pytorch/inst_in_state_dict.pt', 'corrupt/pytorch/stack_global.pt']) add(fileSeed('pytorch', f, 1));
  // tfjs
  for (const s of syntheticTfjs()) add(s);
  add(fileSeed('tfjs', 'real/tfjs-weights/face_landmark_68_tiny/face_landmark_68_tiny_model-weights_manifest.json', 2, ['face_landmark_68_tiny_model.bin']));
  add(dirSeed('tfjs', 'real/tfjs-graph/blazeface', 'blazeface.json', 1));
  for (const d of ['corrupt/tfjs/complex128', 'corrupt/tfjs/short_shard', 'corrupt/tfjs/missing_shard']) add(dirSeed('tfjs', d, 'model.json', 1));
  return seeds;
}

/** Deterministic pseudo-random float32 bytes (values don't matter to readers, sizes do). */
function floats(count: number, salt: number): Uint8Array {
  const out = new Float32Array(count);
  let x = salt >>> 0 || 1;
  for (let i = 0; i < count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = ((x >>> 0) / 4294967296 - 0.5) * 0.2;
  }
  return new Uint8Array(out.buffer);
}

interface W {
  name: string;
  shape: number[];
  dtype: string;
  quantization?: Record<string, unknown>;
}

function bytesFor(w: W, salt: number): Uint8Array {
  const count = w.shape.reduce((a, b) => a * b, 1);
  const q = w.quantization?.dtype as string | undefined;
  if (q === 'uint8') return floats(Math.ceil(count / 4), salt).subarray(0, count);
  if (q === 'uint16' || q === 'float16') return floats(Math.ceil(count / 2), salt).subarray(0, count * 2);
  if (w.dtype === 'bool') return new Uint8Array(count).fill(1);
  return floats(count, salt);
}

function tfjsSeed(name: string, json: Record<string, unknown>, weights: W[], shard = 'group1-shard1of1.bin'): Seed {
  const parts = weights.map((w, i) => bytesFor(w, i + 1));
  const total = parts.reduce((n, p) => n + p.length, 0);
  const bin = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    bin.set(p, at);
    at += p.length;
  }
  const doc = { ...json, weightsManifest: [{ paths: [shard], weights }] };
  const files = new Map<string, Uint8Array>([
    ['model.json', new TextEncoder().encode(JSON.stringify(doc))],
    [shard, bin],
  ]);
  return { format: 'tfjs', name: `synthetic/${name}`, main: 'model.json', files, weight: 6 };
}

function syntheticTfjs(): Seed[] {
  const layer = (class_name: string, config: Record<string, unknown>) => ({ class_name, config });
  const cnn = tfjsSeed(
    'tfjs-layers-cnn',
    {
      format: 'layers-model',
      generatedBy: 'parsimony fuzz seed',
      convertedBy: null,
      modelTopology: {
        class_name: 'Sequential',
        keras_version: 'tfjs-layers 4.22.0',
        backend: 'tensor_flow.js',
        config: {
          name: 'cnn',
          layers: [
            layer('Conv2D', { name: 'conv', filters: 4, kernel_size: [3, 3], strides: [1, 1], padding: 'same', data_format: 'channels_last', dilation_rate: [1, 1], use_bias: true, activation: 'relu', batch_input_shape: [null, 8, 8, 1], dtype: 'float32' }),
            layer('BatchNormalization', { name: 'bn', axis: -1, center: true, scale: true }),
            layer('DepthwiseConv2D', { name: 'dw', kernel_size: [3, 3], depth_multiplier: 1, strides: [2, 2], padding: 'valid', use_bias: false }),
            layer('MaxPooling2D', { name: 'pool', pool_size: [2, 2], strides: [2, 2], padding: 'valid' }),
            layer('Flatten', { name: 'flat' }),
            layer('Dense', { name: 'fc', units: 5, use_bias: true, activation: 'softmax' }),
            layer('Lambda', { name: 'lambda', function: ['YmFkIGNvZGU=', null, null], function_type: 'lambda', module: 'builtins', output_shape: null, arguments: {} }),
          ],
        },
      },
    },
    [
      { name: 'conv/kernel', shape: [3, 3, 1, 4], dtype: 'float32' },
      { name: 'conv/bias', shape: [4], dtype: 'float32', quantization: { dtype: 'float16', original_dtype: 'float32' } },
      { name: 'bn/gamma', shape: [4], dtype: 'float32' },
      { name: 'bn/beta', shape: [4], dtype: 'float32' },
      { name: 'bn/moving_mean', shape: [4], dtype: 'float32' },
      { name: 'bn/moving_variance', shape: [4], dtype: 'float32' },
      { name: 'dw/depthwise_kernel', shape: [3, 3, 4, 1], dtype: 'float32', quantization: { dtype: 'uint8', min: -0.1, scale: 0.001, original_dtype: 'float32' } },
      { name: 'fc/kernel', shape: [16, 5], dtype: 'float32', quantization: { dtype: 'uint16', min: -0.1, scale: 0.0001, original_dtype: 'float32' } },
      { name: 'fc/bias', shape: [5], dtype: 'float32' },
    ],
  );
  const functional = tfjsSeed(
    'tfjs-layers-functional',
    {
      format: 'layers-model',
      modelTopology: {
        class_name: 'Model',
        config: {
          name: 'functional',
          layers: [
            { class_name: 'InputLayer', name: 'in', config: { name: 'in', batch_input_shape: [null, 6], dtype: 'float32', sparse: false }, inbound_nodes: [] },
            { class_name: 'Dense', name: 'a', config: { name: 'a', units: 4, use_bias: true }, inbound_nodes: [[['in', 0, 0, {}]]] },
            { class_name: 'Dense', name: 'b', config: { name: 'b', units: 4, use_bias: false }, inbound_nodes: [[['in', 0, 0, {}]]] },
            { class_name: 'Add', name: 'add', config: { name: 'add' }, inbound_nodes: [[['a', 0, 0, {}], ['b', 0, 0, {}]]] },
            { class_name: 'Concatenate', name: 'cat', config: { name: 'cat', axis: -1 }, inbound_nodes: [[['add', 0, 0, {}], ['a', 0, 0, {}]]] },
            { class_name: 'Embedding', name: 'emb', config: { name: 'emb', input_dim: 10, output_dim: 3 }, inbound_nodes: [[['cat', 0, 0, {}]]] },
            { class_name: 'MyCustomLayer', name: 'custom', config: { name: 'custom' }, inbound_nodes: [[['emb', 0, 0, {}]]] },
          ],
          input_layers: [['in', 0, 0]],
          output_layers: [['custom', 0, 0]],
        },
      },
    },
    [
      { name: 'a/kernel', shape: [6, 4], dtype: 'float32' },
      { name: 'a/bias', shape: [4], dtype: 'float32' },
      { name: 'b/kernel', shape: [6, 4], dtype: 'float32' },
      { name: 'emb/embeddings', shape: [10, 3], dtype: 'float32' },
      { name: 'custom/alpha', shape: [3], dtype: 'float32' },
    ],
  );
  const graph = tfjsSeed(
    'tfjs-graph',
    {
      format: 'graph-model',
      modelTopology: {
        node: [
          { name: 'x', op: 'Placeholder', attr: { shape: { shape: { dim: [{ size: '-1' }, { size: '4' }] } }, dtype: { type: 'DT_FLOAT' } } },
          { name: 'dense/kernel', op: 'Const', attr: { value: { tensor: { dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '4' }, { size: '3' }] } } }, dtype: { type: 'DT_FLOAT' } } },
          { name: 'dense/bias', op: 'Const', attr: {} },
          { name: 'dense/MatMul', op: 'MatMul', input: ['x', 'dense/kernel'], attr: {} },
          { name: 'dense/BiasAdd', op: 'BiasAdd', input: ['dense/MatMul', 'dense/bias'], attr: {} },
          { name: 'conv/filter', op: 'Const', attr: {} },
          { name: 'shape', op: 'Const', attr: {} },
          { name: 'reshape', op: 'Reshape', input: ['dense/BiasAdd', 'shape'], attr: {} },
          { name: 'conv', op: 'Conv2D', input: ['reshape', 'conv/filter'], attr: { strides: { list: { i: ['1', '1', '1', '1'] } }, padding: { s: 'U0FNRQ==' } } },
          { name: 'fused', op: '_FusedConv2D', input: ['conv', 'conv/filter', 'dense/bias'], attr: { num_args: { i: '1' } } },
        ],
        library: {},
        versions: { producer: 1 },
      },
      signature: { inputs: { 'x:0': { name: 'x:0', dtype: 'DT_FLOAT', tensorShape: { dim: [{ size: '-1' }, { size: '4' }] } } } },
    },
    [
      { name: 'dense/kernel', shape: [4, 3], dtype: 'float32' },
      { name: 'dense/bias', shape: [3], dtype: 'float32' },
      { name: 'conv/filter', shape: [1, 1, 1, 3], dtype: 'float32' },
      { name: 'shape', shape: [4], dtype: 'int32' },
    ],
  );
  // Reshape target [-1, 1, 3, 1]: fix the int32 constant's bytes.
  {
    const bin = graph.files.get('group1-shard1of1.bin')!;
    const dv = new DataView(bin.buffer, bin.byteOffset, bin.byteLength);
    [-1, 1, 3, 1].forEach((v, i) => dv.setInt32((12 + 3 + 3 + i) * 4, v, true));
  }
  const weightsOnly: Seed = (() => {
    const weights: W[] = [
      { name: 'net/conv0/filters', shape: [3, 3, 3, 2], dtype: 'float32' },
      { name: 'net/conv0/bias', shape: [2], dtype: 'float32' },
      { name: 'net/fc/weights', shape: [2, 2], dtype: 'float32', quantization: { dtype: 'uint8', min: -1, scale: 0.01 } },
      { name: 'net/flags', shape: [3], dtype: 'bool' },
    ];
    const s = tfjsSeed('tfjs-weights-manifest', {}, weights, 'net.bin');
    const manifest = JSON.parse(new TextDecoder().decode(s.files.get('model.json')!)).weightsManifest;
    s.files.delete('model.json');
    s.files.set('net-weights_manifest.json', new TextEncoder().encode(JSON.stringify(manifest)));
    s.main = 'net-weights_manifest.json';
    return s;
  })();
  return [cnn, functional, graph, weightsOnly];
}
