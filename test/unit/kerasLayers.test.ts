import assert from 'node:assert/strict';
import {
  analyzeKerasTopology,
  flattenLayers,
  kerasVariableNames,
  layerShapeAndMacs,
  toSnakeCase,
  WeightOwnerIndex,
} from '../../src/core/analysis/kerasLayers';
import { ModelFormatError } from '../../src/core/errors';

const shape = (className: string, config: Record<string, unknown>, ...inputs: (number | null)[][]) =>
  layerShapeAndMacs(className, config, inputs);

describe('kerasLayers: per-layer shapes and MACs (hand-computed)', () => {
  it('Dense on rank 2 and rank 3 inputs', () => {
    assert.deepEqual(shape('Dense', { units: 10 }, [null, 784]), { outputShape: [null, 10], macs: 7840, known: true });
    // rank 3: the leading (time) dimension multiplies the cost: 5 · 16 · 4
    assert.deepEqual(shape('Dense', { units: 4 }, [null, 5, 16]), { outputShape: [null, 5, 4], macs: 320, known: true });
    assert.equal(shape('Dense', { units: 4 }, [null, null]).macs, null);
  });

  it('Conv2D valid/same, strides, dilation, groups, channels_first', () => {
    // 28x28x1 → 3x3 valid → 26x26x32; 26·26·3·3·1·32 = 194688
    assert.deepEqual(shape('Conv2D', { filters: 32, kernel_size: [3, 3] }, [null, 28, 28, 1]), {
      outputShape: [null, 26, 26, 32],
      macs: 194688,
      known: true,
    });
    // same padding, stride 2: ceil(28/2)=14; 14·14·5·5·3·8 = 117600
    assert.deepEqual(shape('Conv2D', { filters: 8, kernel_size: 5, strides: 2, padding: 'same' }, [null, 28, 28, 3]).outputShape, [null, 14, 14, 8]);
    assert.equal(shape('Conv2D', { filters: 8, kernel_size: 5, strides: 2, padding: 'same' }, [null, 28, 28, 3]).macs, 117600);
    // dilation 2: effective kernel 5 → 32-5+1 = 28
    assert.deepEqual(shape('Conv2D', { filters: 4, kernel_size: 3, dilation_rate: 2 }, [null, 32, 32, 2]).outputShape, [null, 28, 28, 4]);
    // groups 2: 10·10·3·3·(8/2)·16 = 57600
    assert.equal(shape('Conv2D', { filters: 16, kernel_size: 3, groups: 2, padding: 'same' }, [null, 10, 10, 8]).macs, 57600);
    // channels_first [N, C, H, W]
    assert.deepEqual(shape('Conv2D', { filters: 6, kernel_size: 3, data_format: 'channels_first' }, [null, 3, 8, 8]).outputShape, [null, 6, 6, 6]);
  });

  it('Conv1D (causal) and Conv3D', () => {
    // causal keeps the length: 100·3·16·32 = 153600
    assert.deepEqual(shape('Conv1D', { filters: 32, kernel_size: 3, padding: 'causal' }, [null, 100, 16]), {
      outputShape: [null, 100, 32],
      macs: 153600,
      known: true,
    });
    // 8x8x8x2 → k3 valid → 6x6x6x4: 216·27·2·4 = 46656
    assert.deepEqual(shape('Conv3D', { filters: 4, kernel_size: 3 }, [null, 8, 8, 8, 2]), {
      outputShape: [null, 6, 6, 6, 4],
      macs: 46656,
      known: true,
    });
  });

  it('DepthwiseConv2D, SeparableConv2D, Conv2DTranspose', () => {
    // 16x16x8, k3 same, multiplier 2: 16·16·9·8·2 = 36864
    assert.deepEqual(shape('DepthwiseConv2D', { kernel_size: 3, padding: 'same', depth_multiplier: 2 }, [null, 16, 16, 8]), {
      outputShape: [null, 16, 16, 16],
      macs: 36864,
      known: true,
    });
    // separable: depthwise 14·14·9·8 = 14112, pointwise 14·14·8·16 = 25088 → 39200
    assert.deepEqual(shape('SeparableConv2D', { filters: 16, kernel_size: 3 }, [null, 16, 16, 8]), {
      outputShape: [null, 14, 14, 16],
      macs: 39200,
      known: true,
    });
    // transpose: 7x7x16 → stride 2 same → 14x14x8; cost 7·7·3·3·16·8 = 56448
    assert.deepEqual(shape('Conv2DTranspose', { filters: 8, kernel_size: 3, strides: 2, padding: 'same' }, [null, 7, 7, 16]), {
      outputShape: [null, 14, 14, 8],
      macs: 56448,
      known: true,
    });
    // valid transpose: 7·2 + max(3-2, 0) = 15
    assert.deepEqual(shape('Conv2DTranspose', { filters: 8, kernel_size: 3, strides: 2, padding: 'valid' }, [null, 7, 7, 16]).outputShape, [null, 15, 15, 8]);
  });

  it('BatchNormalization counts one MAC per element; Embedding costs none', () => {
    assert.deepEqual(shape('BatchNormalization', {}, [null, 10, 10, 8]), { outputShape: [null, 10, 10, 8], macs: 800, known: true });
    assert.deepEqual(shape('Embedding', { input_dim: 1000, output_dim: 64 }, [null, 20]), { outputShape: [null, 20, 64], macs: 0, known: true });
  });

  it('LSTM / GRU / SimpleRNN per timestep × timesteps', () => {
    // LSTM: 4·(16·32 + 32·32) = 6144 per step · 10 steps = 61440
    assert.deepEqual(shape('LSTM', { units: 32 }, [null, 10, 16]), { outputShape: [null, 32], macs: 61440, known: true });
    assert.deepEqual(shape('LSTM', { units: 32, return_sequences: true }, [null, 10, 16]).outputShape, [null, 10, 32]);
    // GRU: 3·(16·32 + 32·32) · 10 = 46080
    assert.equal(shape('GRU', { units: 32 }, [null, 10, 16]).macs, 46080);
    // SimpleRNN: (16·32 + 32·32) · 10 = 15360
    assert.equal(shape('SimpleRNN', { units: 32 }, [null, 10, 16]).macs, 15360);
    assert.equal(shape('LSTM', { units: 32 }, [null, null, 16]).macs, null, 'unknown timesteps → unknown MACs');
    // Bidirectional concat doubles units and cost
    assert.deepEqual(shape('Bidirectional', { layer: { class_name: 'LSTM', config: { units: 8 } } }, [null, 5, 4]), {
      outputShape: [null, 16],
      macs: 2 * 5 * 4 * (4 * 8 + 8 * 8),
      known: true,
    });
  });

  it('shape-only layers', () => {
    assert.deepEqual(shape('Flatten', {}, [null, 5, 5, 8]).outputShape, [null, 200]);
    assert.deepEqual(shape('Reshape', { target_shape: [28, 28, 1] }, [null, 784]).outputShape, [null, 28, 28, 1]);
    assert.deepEqual(shape('Reshape', { target_shape: [-1, 4] }, [null, 8, 2]).outputShape, [null, 4, 4]);
    assert.deepEqual(shape('MaxPooling2D', { pool_size: [2, 2] }, [null, 26, 26, 32]).outputShape, [null, 13, 13, 32]);
    assert.deepEqual(shape('AveragePooling2D', { pool_size: 3, strides: 2, padding: 'same' }, [null, 15, 15, 4]).outputShape, [null, 8, 8, 4]);
    assert.deepEqual(shape('GlobalAveragePooling2D', {}, [null, 7, 7, 64]).outputShape, [null, 64]);
    assert.deepEqual(shape('Dropout', { rate: 0.5 }, [null, 10]), { outputShape: [null, 10], macs: 0, known: true });
    assert.deepEqual(shape('Activation', { activation: 'relu' }, [null, 3, 3]).outputShape, [null, 3, 3]);
    assert.deepEqual(shape('Add', {}, [null, 4, 4, 8], [null, 4, 4, 8]).outputShape, [null, 4, 4, 8]);
    assert.deepEqual(shape('Concatenate', { axis: -1 }, [null, 4, 4, 8], [null, 4, 4, 3]).outputShape, [null, 4, 4, 11]);
    assert.deepEqual(shape('ZeroPadding2D', { padding: [[1, 1], [2, 2]] }, [null, 4, 4, 3]).outputShape, [null, 6, 8, 3]);
    assert.deepEqual(shape('UpSampling2D', { size: [2, 2] }, [null, 4, 4, 3]).outputShape, [null, 8, 8, 3]);
    assert.deepEqual(shape('InputLayer', { batch_input_shape: [null, 28, 28, 1] }).outputShape, [null, 28, 28, 1]);
    assert.deepEqual(shape('InputLayer', { batch_shape: [null, 16] }).outputShape, [null, 16]);
  });

  it('unknown classes and Lambda give null, with a warning', () => {
    const warnings: string[] = [];
    const custom = layerShapeAndMacs('MyFancyLayer', {}, [[null, 4]], warnings);
    assert.deepEqual(custom, { outputShape: null, macs: null, known: false });
    const lambda = layerShapeAndMacs('Lambda', { function: 'lambda x: x' }, [[null, 4]], warnings);
    assert.equal(lambda.macs, null);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /MyFancyLayer/);
    assert.match(warnings[1]!, /never runs/);
  });
});

describe('kerasLayers: topologies', () => {
  it('Keras 2 Sequential with batch_input_shape (TF.js saver style)', () => {
    const topo = analyzeKerasTopology({
      class_name: 'Sequential',
      config: {
        name: 'seq',
        layers: [
          { class_name: 'Conv2D', config: { name: 'conv', filters: 4, kernel_size: [3, 3], batch_input_shape: [null, 8, 8, 1] } },
          { class_name: 'Flatten', config: { name: 'flat' } },
          { class_name: 'Dense', config: { name: 'out', units: 2 } },
        ],
      },
    });
    const layers = flattenLayers(topo.layers);
    assert.deepEqual(layers.map((l) => [l.name, l.outputShape, l.macs]), [
      ['conv', [null, 6, 6, 4], 6 * 6 * 9 * 4],
      ['flat', [null, 144], 0],
      ['out', [null, 2], 288],
    ]);
    assert.deepEqual(topo.inputShape, [null, 8, 8, 1]);
    assert.deepEqual(layers[2]!.inbound, ['flat']);
  });

  it('Keras ≤2.2 Sequential whose config is the bare layer list', () => {
    const topo = analyzeKerasTopology({ class_name: 'Sequential', config: [{ class_name: 'Dense', config: { name: 'd', units: 3, batch_input_shape: [null, 5] } }] });
    assert.equal(flattenLayers(topo.layers)[0]!.macs, 15);
  });

  it('Keras 2 functional with a shared layer, multi-input merge', () => {
    const topo = analyzeKerasTopology({
      class_name: 'Model',
      config: {
        name: 'm',
        layers: [
          { name: 'a', class_name: 'InputLayer', config: { name: 'a', batch_input_shape: [null, 4] }, inbound_nodes: [] },
          { name: 'b', class_name: 'InputLayer', config: { name: 'b', batch_input_shape: [null, 4] }, inbound_nodes: [] },
          { name: 'shared', class_name: 'Dense', config: { name: 'shared', units: 3 }, inbound_nodes: [[['a', 0, 0, {}]], [['b', 0, 0, {}]]] },
          { name: 'cat', class_name: 'Concatenate', config: { name: 'cat', axis: -1 }, inbound_nodes: [[['shared', 0, 0, {}], ['shared', 1, 0, {}]]] },
        ],
        input_layers: [['a', 0, 0], ['b', 0, 0]],
        output_layers: [['cat', 0, 0]],
      },
    });
    const byName = new Map(flattenLayers(topo.layers).map((l) => [l.name, l]));
    assert.equal(byName.get('shared')!.macs, 24, 'two calls of 4·3');
    assert.deepEqual(byName.get('cat')!.outputShape, [null, 6]);
    assert.deepEqual(byName.get('cat')!.inbound, ['shared', 'shared']);
    assert.deepEqual(topo.outputShape, [null, 6]);
  });

  it('Keras 3 functional (__keras_tensor__ inbound nodes) with a nested Sequential', () => {
    const kt = (layer: string) => ({ class_name: '__keras_tensor__', config: { shape: [null, 8], dtype: 'float32', keras_history: [layer, 0, 0] } });
    const topo = analyzeKerasTopology({
      module: 'keras.src.models.functional',
      class_name: 'Functional',
      config: {
        name: 'f',
        trainable: true,
        layers: [
          { module: 'keras.layers', class_name: 'InputLayer', name: 'input_layer', config: { batch_shape: [null, 8], name: 'input_layer' }, inbound_nodes: [] },
          {
            module: 'keras',
            class_name: 'Sequential',
            name: 'inner',
            config: {
              name: 'inner',
              trainable: false,
              layers: [
                { module: 'keras.layers', class_name: 'InputLayer', config: { batch_shape: [null, 8], name: 'inner_input' } },
                { module: 'keras.layers', class_name: 'Dense', config: { name: 'd1', units: 5 }, build_config: { input_shape: [null, 8] } },
              ],
            },
            inbound_nodes: [{ args: [kt('input_layer')], kwargs: {} }],
          },
          { module: 'keras.layers', class_name: 'Dense', name: 'head', config: { name: 'head', units: 2 }, inbound_nodes: [{ args: [kt('inner')], kwargs: {} }] },
        ],
        input_layers: ['input_layer', 0, 0],
        output_layers: ['head', 0, 0],
      },
    });
    const leaves = flattenLayers(topo.layers);
    assert.deepEqual(leaves.map((l) => l.qualifiedName), ['input_layer', 'inner/inner_input', 'inner/d1', 'head']);
    const d1 = leaves[2]!;
    assert.equal(d1.macs, 40);
    assert.equal(d1.trainable, false, 'inherits trainable: false from the nested model');
    assert.deepEqual(leaves[3]!.inbound, ['inner/d1']);
    assert.equal(leaves[3]!.macs, 10);
    assert.deepEqual(topo.outputShape, [null, 2]);
    const owners = new WeightOwnerIndex(leaves);
    assert.equal(owners.ownerOf('inner/d1/kernel')?.qualifiedName, 'inner/d1');
    assert.equal(owners.ownerOf('d1/kernel:0')?.qualifiedName, 'inner/d1');
    assert.equal(owners.ownerOf('head/bias')?.qualifiedName, 'head');
    assert.equal(owners.ownerOf('nowhere/bias'), undefined);
  });

  it('refuses configs without class_name and models nested too deep', () => {
    assert.throws(() => analyzeKerasTopology({ config: {} }), (e: unknown) => e instanceof ModelFormatError && e.code === 'not-a-model');
    let deep: Record<string, unknown> = { class_name: 'Dense', config: { name: 'x', units: 1 } };
    for (let i = 0; i < 30; i++) deep = { class_name: 'Sequential', config: { name: `s${i}`, layers: [deep] } };
    assert.throws(() => analyzeKerasTopology(deep, 10), (e: unknown) => e instanceof ModelFormatError && e.code === 'too-large');
  });
});

describe('kerasLayers: naming helpers', () => {
  it('to_snake_case matches Keras 3', () => {
    assert.equal(toSnakeCase('Conv2D'), 'conv2d');
    assert.equal(toSnakeCase('BatchNormalization'), 'batch_normalization');
    assert.equal(toSnakeCase('DepthwiseConv2D'), 'depthwise_conv2d');
    assert.equal(toSnakeCase('LSTM'), 'lstm');
    assert.equal(toSnakeCase('GlobalAveragePooling2D'), 'global_average_pooling2d');
  });
  it('variable names and trainability', () => {
    assert.deepEqual(kerasVariableNames('BatchNormalization', {})!.map((v) => `${v.name}:${v.trainable}`), [
      'gamma:true',
      'beta:true',
      'moving_mean:false',
      'moving_variance:false',
    ]);
    assert.deepEqual(kerasVariableNames('Dense', { use_bias: false })!.map((v) => v.name), ['kernel']);
    assert.equal(kerasVariableNames('MyLayer', {}), null);
  });
});
