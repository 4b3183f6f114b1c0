import * as assert from 'node:assert/strict';
import {
  findConstructorAt,
  findConstructors,
  type ConstructorFinding,
  type ConstructorLanguage,
} from '../../src/core/analysis/layerConstructors';

/** The single finding in `src` (asserts there is exactly one). */
function one(src: string, lang: ConstructorLanguage = 'python'): ConstructorFinding {
  const all = findConstructors(src, lang);
  assert.equal(all.length, 1, `expected one constructor in ${JSON.stringify(src)}, got ${all.length}`);
  return all[0]!;
}

/** Evaluates a numeric formula: drops "(bias)"-style notes, reads · as ×. */
function evalFormula(formula: string): number {
  const expr = formula.replace(/\s*\([a-z][a-z ,]*\)/g, '').replace(/·/g, '*');
  assert.match(expr, /^[\d+*\-/() ]+$/, `formula is not numeric: ${formula}`);
  return Function(`return (${expr});`)() as number;
}

describe('layerConstructors: PyTorch counts', () => {
  // Every number below was computed by PyTorch 1.13 (Debian /usr/bin/python3):
  //   sum(p.numel() for p in <module>.parameters())
  const cases: [string, number, string][] = [
    ['nn.Linear(784, 512)', 401920, '784·512 + 512 (bias)'], // torch: 401920
    ['nn.Linear(784, 512, bias=False)', 401408, '784·512'], // torch: 401408
    ['nn.Linear(28*28, 10)', 7850, '784·10 + 10 (bias)'], // torch: 7850
    ['nn.Conv2d(3, 64, 3)', 1792, '64·3·3·3 + 64 (bias)'], // torch: 1792
    ['nn.Conv2d(3, 64, (3,3), bias=False)', 1728, '64·3·3·3'], // torch: 1728
    ['nn.Conv2d(64, 128, 3)', 73856, '128·64·3·3 + 128 (bias)'], // torch: 73856
    ['nn.Conv2d(32, 32, 3, groups=32)', 320, '32·(32/32)·3·3 + 32 (bias)'], // torch: 320
    ['nn.Conv1d(16, 33, 3, stride=2)', 1617, '33·16·3 + 33 (bias)'], // torch: 1617
    ['nn.Conv3d(16, 33, (3, 5, 2))', 15873, '33·16·3·5·2 + 33 (bias)'], // torch: 15873
    ['nn.ConvTranspose2d(16, 8, 4, groups=2)', 1032, '16·(8/2)·4·4 + 8 (bias)'], // torch: 1032
    ['nn.ConvTranspose2d(16, 8, 4, 2, 1, 0, 1, False)', 2048, '16·8·4·4'], // torch: 2048 (bias is the 8th positional)
    ['nn.Embedding(1000, 64)', 64000, '1000·64'], // torch: 64000
    ['nn.EmbeddingBag(1000, 64)', 64000, '1000·64'], // torch: 64000
    ['nn.LSTM(10, 20)', 2560, '4·(20·10 + 20·20 + 2·20)'], // torch: 2560
    // torch: 15040 (the 15,360 in the brief is not what PyTorch reports)
    ['nn.LSTM(10, 20, num_layers=2, bidirectional=True)', 15040, '2·4·(20·10 + 20·20 + 2·20) + 2·4·(20·40 + 20·20 + 2·20)'],
    ['nn.LSTM(10, 20, 3, False)', 8800, '4·(20·10 + 20·20) + 2·4·(20·20 + 20·20)'], // torch: 8800
    // torch: 8760 (w_hh is 4h×proj, plus w_hr proj×h; deeper layers read proj·directions)
    ['nn.LSTM(10, 20, proj_size=5, num_layers=3, bidirectional=True)', 8760,
      '2·(4·(20·10 + 20·5 + 2·20) + 5·20) + 4·(4·(20·10 + 20·5 + 2·20) + 5·20)'],
    ['nn.GRU(10, 20)', 1920, '3·(20·10 + 20·20 + 2·20)'], // torch: 1920
    ['nn.GRU(10, 20, 2, bidirectional=True)', 11280, '2·3·(20·10 + 20·20 + 2·20) + 2·3·(20·40 + 20·20 + 2·20)'], // torch: 11280
  ];
  for (const [src, params, formula] of cases) {
    it(`${src} → ${params}`, () => {
      const f = one(src);
      assert.equal(f.framework, 'pytorch');
      assert.equal(f.params, params);
      assert.equal(f.formula, formula);
      assert.deepEqual(f.dependsOn, []);
      assert.equal(evalFormula(f.formula), params);
    });
  }

  it('reports kind, canonical layer name and bias', () => {
    assert.deepEqual(
      findConstructors('a = nn.Linear(4, 2, bias=False)\nb = torch.nn.Conv2d(8, 8, 3, groups=8)\nc = nn.ConvTranspose2d(4, 4, 2)\nd = nn.GRU(3, 3)', 'python')
        .map((f) => [f.layer, f.kind, f.bias]),
      [
        ['nn.Linear', 'linear', false],
        ['nn.Conv2d', 'depthwise-conv', true],
        ['nn.ConvTranspose2d', 'conv-transpose', true],
        ['nn.GRU', 'gru', true],
      ],
    );
  });

  it('accepts keyword arguments in any order', () => {
    const f = one('nn.Conv2d(kernel_size=(3, 3), out_channels=64, in_channels=3, bias=False)');
    assert.equal(f.params, 1728);
  });
});

describe('layerConstructors: PyTorch import forms', () => {
  it('finds nn.X, torch.nn.X and aliases of torch.nn', () => {
    const src = [
      'import torch',
      'import torch.nn as tnn',
      'a = nn.Linear(2, 3)',
      'b = torch.nn.Linear(2, 3)',
      'c = tnn.Linear(2, 3)',
    ].join('\n');
    assert.deepEqual(findConstructors(src, 'python').map((f) => [f.layer, f.params]), [
      ['nn.Linear', 9],
      ['nn.Linear', 9],
      ['nn.Linear', 9],
    ]);
  });

  it('finds bare names imported from torch.nn (with aliases and star imports)', () => {
    const src = 'from torch.nn import Linear, Conv2d as C\nx = Linear(10, 10)\ny = C(1, 2, 3)';
    assert.deepEqual(findConstructors(src, 'python').map((f) => [f.layer, f.params]), [
      ['nn.Linear', 110],
      ['nn.Conv2d', 20],
    ]);
    assert.equal(one('from torch.nn import *\nrnn = LSTM(10, 20)').layer, 'nn.LSTM');
  });

  it('ignores a bare Linear( that was not imported from torch.nn, and other libraries', () => {
    assert.deepEqual(findConstructors('x = Linear(10, 10)\ny = snt.Linear(10)\nz = self.nn.Linear(3, 3)', 'python'), []);
  });

  it('decides bare LSTM/GRU/Embedding by the import', () => {
    assert.equal(one('from torch.nn import LSTM\nLSTM(10, 20)').framework, 'pytorch');
    assert.equal(one('from keras.layers import LSTM\nLSTM(20, input_shape=(5, 10))').framework, 'keras');
    assert.equal(one('LSTM(20)').framework, 'keras');
  });

  it('does not take a def or class for a call', () => {
    assert.deepEqual(findConstructors('def Dense(units):\n  pass\nclass Dense(Layer):\n  pass', 'python'), []);
  });
});

describe('layerConstructors: non-literal arguments', () => {
  it('nn.Linear(hidden, 10) → null, symbolic formula, dependsOn names hidden', () => {
    const f = one('nn.Linear(hidden, 10)');
    assert.equal(f.params, null);
    assert.equal(f.formula, 'hidden·10 + 10 (bias)');
    assert.deepEqual(f.dependsOn, ['in_features = hidden (not a literal)']);
    assert.deepEqual(f.alternatives, []);
  });

  it('names expressions and attribute accesses as written', () => {
    const f = one('nn.Conv2d(self.in_ch, 2 * width, kernel_size=k)');
    assert.equal(f.params, null);
    assert.equal(f.formula, '(2 * width)·self.in_ch·k·k + (2 * width) (bias)');
    assert.deepEqual(f.dependsOn, [
      'in_channels = self.in_ch (not a literal)',
      'out_channels = 2 * width (not a literal)',
      'kernel_size = k (not a literal)',
    ]);
  });

  it('a non-literal bias or num_layers makes the count unknown', () => {
    assert.deepEqual(one('nn.Linear(4, 4, bias=use_bias)').dependsOn, ['bias = use_bias (not a literal)']);
    const lstm = one('nn.LSTM(10, 20, num_layers=n)');
    assert.equal(lstm.params, null);
    assert.deepEqual(lstm.dependsOn, ['num_layers = n (not a literal)']);
  });

  it('**kwargs and *args may set missing arguments', () => {
    const f = one('nn.Linear(784, 512, **cfg)');
    assert.equal(f.params, null);
    assert.deepEqual(f.dependsOn, ['bias (may be set by **cfg)']);
    assert.deepEqual(one('nn.Conv2d(3, *rest)').dependsOn, [
      'out_channels (may be set by *rest)',
      'kernel_size (may be set by *rest)',
      'groups (may be set by *rest)',
      'bias (may be set by *rest)',
    ]);
  });

  it('missing required arguments and bad values are named', () => {
    assert.deepEqual(one('nn.Linear(784)').dependsOn, ['out_features (argument missing)']);
    assert.deepEqual(one('nn.Conv2d(3, 64, (3, 3, 3))').dependsOn, ['kernel_size = (3, 3, 3) has 3 value(s); nn.Conv2d needs 2']);
    assert.deepEqual(one('nn.Conv2d(30, 64, 3, groups=4)').dependsOn, [
      'in_channels (30) is not divisible by groups (4); PyTorch rejects this layer',
    ]);
    assert.equal(one('nn.Linear(2.5, 3)').params, null);
  });

  it('LazyLinear infers in_features', () => {
    const f = one('nn.LazyLinear(10)');
    assert.equal(f.params, null);
    assert.equal(f.formula, 'in_features·10 + 10 (bias)');
    assert.deepEqual(f.dependsOn, ['in_features (inferred by LazyLinear from the first input)']);
  });
});

describe('layerConstructors: Keras', () => {
  // Weight shapes follow the Keras layers' build(); the TF.js numbers in the next
  // block were computed by @tensorflow/tfjs 4.22 model.countParams() and agree for
  // every layer both have (Dense, Conv, Depthwise, Separable, Embedding, LSTM).
  const cases: [string, number, string][] = [
    ['Dense(64, input_shape=(784,))', 50240, '784·64 + 64 (bias)'],
    ['layers.Dense(64, use_bias=False, input_dim=784)', 50176, '784·64'],
    ['keras.layers.Dense(units=10, input_shape=[28*28])', 7850, '784·10 + 10 (bias)'],
    ['Conv2D(32, (3,3), input_shape=(28,28,1))', 320, '3·3·1·32 + 32 (bias)'],
    ["tf.keras.layers.Conv2D(16, 5, data_format='channels_first', input_shape=(3, 32, 32))", 1216, '5·5·3·16 + 16 (bias)'],
    ['Conv2D(64, 3, groups=4, input_shape=(32, 32, 16))', 2368, '3·3·(16/4)·64 + 64 (bias)'],
    ['Conv1D(33, 3, input_shape=(50, 16))', 1617, '3·16·33 + 33 (bias)'],
    ['Conv2DTranspose(8, 4, input_shape=(7, 7, 16))', 2056, '4·4·8·16 + 8 (bias)'],
    ['DepthwiseConv2D(3, depth_multiplier=2, input_shape=(32, 32, 16))', 320, '3·3·16·2 + 16·2 (bias)'],
    ['DepthwiseConv2D((3, 3), input_shape=(28, 28, 8))', 80, '3·3·8·1 + 8·1 (bias)'],
    ['SeparableConv2D(64, 3, input_shape=(32, 32, 16))', 1232, '3·3·16·1 + 16·1·64 + 64 (bias)'],
    ['SeparableConv2D(32, 3, depth_multiplier=2, input_shape=(32, 32, 16))', 1344, '3·3·16·2 + 16·2·32 + 32 (bias)'],
    ['Embedding(1000, 64)', 64000, '1000·64'],
    ['LSTM(32, input_shape=(None, 10))', 5504, '4·(10·32 + 32·32 + 32)'],
    // Keras 2/3 GRU defaults to reset_after=True: two bias vectors of 3·units.
    ['GRU(32, input_shape=(None, 10))', 4224, '3·(10·32 + 32·32 + 2·32)'],
    ['GRU(32, reset_after=False, input_shape=(None, 10))', 4128, '3·(10·32 + 32·32 + 32)'],
  ];
  for (const [src, params, formula] of cases) {
    it(`${src} → ${params}`, () => {
      const f = one(src);
      assert.equal(f.framework, 'keras');
      assert.equal(f.params, params);
      assert.equal(f.formula, formula);
      assert.equal(evalFormula(f.formula), params);
    });
  }

  it('Dense(64) depends on the input features Keras infers', () => {
    const f = one('model.add(Dense(64))');
    assert.equal(f.params, null);
    assert.equal(f.formula, 'in·64 + 64 (bias)');
    assert.deepEqual(f.dependsOn, ['input features (inferred from the previous layer)']);
    assert.deepEqual(f.alternatives, []);
  });

  it('Conv2D / DepthwiseConv2D / SeparableConv2D without input_shape depend on input channels', () => {
    const src = 'Conv2D(32, (3, 3))\nDepthwiseConv2D(3)\nSeparableConv2D(64, 3, use_bias=False)';
    const all = findConstructors(src, 'python');
    assert.deepEqual(all.map((f) => [f.kind, f.params, f.formula]), [
      ['conv', null, '3·3·in·32 + 32 (bias)'],
      ['depthwise-conv', null, '3·3·in·1 + in·1 (bias)'],
      ['separable-conv', null, '3·3·in·1 + in·1·64'],
    ]);
    for (const f of all) assert.deepEqual(f.dependsOn, ['input channels (inferred from the previous layer)']);
  });

  it('accepts every common module path', () => {
    const src = [
      'import tensorflow as tf',
      'from tensorflow import keras',
      'from tensorflow.keras import layers as L',
      'a = tf.keras.layers.Dense(1, input_dim=3)',
      'b = keras.layers.Dense(1, input_dim=3)',
      'c = L.Dense(1, input_dim=3)',
      'd = layers.Dense(1, input_dim=3)',
      'e = other.Dense(1, input_dim=3)',
    ].join('\n');
    assert.deepEqual(findConstructors(src, 'python').map((f) => [f.layer, f.params]), [
      ['Dense', 4],
      ['Dense', 4],
      ['Dense', 4],
      ['Dense', 4],
    ]);
  });

  it('an input_shape whose axis is None or not literal is named', () => {
    assert.deepEqual(one('LSTM(8, input_shape=(10, None))').dependsOn, ['input features: input_shape[-1] is None']);
    assert.deepEqual(one('Dense(8, input_shape=shape)').dependsOn, ['input_shape = shape (not a literal)']);
  });
});

describe('layerConstructors: TF.js', () => {
  // Numbers computed by @tensorflow/tfjs 4.22: tf.sequential({layers: [...]}).countParams().
  const cases: [string, number, string][] = [
    ['tf.layers.dense({units: 10, inputShape: [784]})', 7850, '784·10 + 10 (bias)'], // tfjs: 7850
    ['tf.layers.dense({units: 64, inputShape: [784], useBias: false})', 50176, '784·64'], // tfjs: 50176
    ['tf.layers.dense({units: 10, inputDim: 28 * 28})', 7850, '784·10 + 10 (bias)'],
    ['tf.layers.conv2d({filters: 8, kernelSize: [3, 3], inputShape: [28, 28, 1]})', 80, '3·3·1·8 + 8 (bias)'], // tfjs: 80
    ["tf.layers.conv2d({filters: 16, kernelSize: 5, dataFormat: 'channelsFirst', inputShape: [3, 32, 32]})", 1216, '5·5·3·16 + 16 (bias)'], // tfjs: 1216
    ['tf.layers.conv1d({filters: 33, kernelSize: 3, inputShape: [50, 16]})', 1617, '3·16·33 + 33 (bias)'], // tfjs: 1617
    ['tf.layers.conv2dTranspose({filters: 8, kernelSize: 4, inputShape: [7, 7, 16]})', 2056, '4·4·8·16 + 8 (bias)'], // tfjs: 2056
    ['tf.layers.depthwiseConv2d({kernelSize: 3, depthMultiplier: 2, inputShape: [32, 32, 16]})', 320, '3·3·16·2 + 16·2 (bias)'], // tfjs: 320
    ['tf.layers.separableConv2d({filters: 64, kernelSize: 3, inputShape: [32, 32, 16]})', 1232, '3·3·16·1 + 16·1·64 + 64 (bias)'], // tfjs: 1232
    ['tf.layers.embedding({inputDim: 1000, outputDim: 64})', 64000, '1000·64'], // tfjs: 64000
    ['tf.layers.lstm({units: 32, inputShape: [null, 10]})', 5504, '4·(10·32 + 32·32 + 32)'], // tfjs: 5504
    // TF.js GRU has no reset_after: one bias vector (tfjs: 312 and 4128).
    ['tf.layers.gru({units: 8, inputShape: [5, 4]})', 312, '3·(4·8 + 8·8 + 8)'],
    ['tf.layers.gru({units: 32, inputShape: [5, 10]})', 4128, '3·(10·32 + 32·32 + 32)'],
  ];
  for (const [src, params, formula] of cases) {
    it(`${src} → ${params}`, () => {
      const f = one(src, 'typescript');
      assert.equal(f.framework, 'tfjs');
      assert.equal(f.params, params);
      assert.equal(f.formula, formula);
      assert.equal(evalFormula(f.formula), params);
    });
  }

  it('tf.layers.dense({units: 10}) depends on the inferred input', () => {
    const f = one('const d = tf.layers.dense({units: 10, activation: "relu"});', 'javascript');
    assert.equal(f.layer, 'tf.layers.dense');
    assert.equal(f.params, null);
    assert.equal(f.formula, 'in·10 + 10 (bias)');
    assert.deepEqual(f.dependsOn, ['input features (inferred from the previous layer)']);
  });

  it('shorthand, spread and non-literal configs are unknown', () => {
    assert.deepEqual(one('tf.layers.dense({units, inputShape: [4]})', 'typescript').dependsOn, ['units = units (not a literal)']);
    assert.deepEqual(one('tf.layers.dense({...base, units: 3})', 'typescript').dependsOn, [
      'useBias (may be set by ...base)',
      'inputShape (may be set by ...base)',
    ]);
    const f = one('tf.layers.embedding(cfg)', 'typescript');
    assert.equal(f.params, null);
    assert.deepEqual(f.dependsOn, ['inputDim = cfg.inputDim (not a literal)', 'outputDim = cfg.outputDim (not a literal)']);
  });

  it('resetAfter: true is flagged (TF.js GRU throws on it)', () => {
    assert.deepEqual(one('tf.layers.gru({units: 8, resetAfter: true, inputShape: [5, 4]})', 'typescript').dependsOn, [
      'resetAfter: true (TF.js GRU does not support it and throws)',
    ]);
  });

  it('reads string keys, `as` assertions and `layers.` without the tf prefix', () => {
    assert.equal(one("layers.dense({'units': 2, \"inputShape\": [3]} as DenseLayerArgs)", 'typescriptreact').params, 8);
  });

  it('skips comments, strings, template literals and regular expressions', () => {
    const src = [
      '// tf.layers.dense({units: 1, inputShape: [1]})',
      '/* tf.layers.dense({units: 2, inputShape: [2]}) ) */',
      'const s = "tf.layers.dense({units: 3, inputShape: [3]})";',
      'const t = `tf.layers.dense({units: 4}) ${ "(" } ) ${ {a: 1}.a }`;',
      'const re = /\\)(/g;',
      'const model = tf.sequential({layers: [',
      '  tf.layers.dense({units: 5, inputShape: [5] /* ) */}), // )',
      '  tf.layers.dense({units: 6}),',
      ']});',
    ].join('\n');
    assert.deepEqual(findConstructors(src, 'typescript').map((f) => [f.params, f.formula]), [
      [30, '5·5 + 5 (bias)'],
      [null, 'in·6 + 6 (bias)'],
    ]);
  });

  it('does not treat tf.layers calls as Python, nor nn.Linear as TF.js', () => {
    assert.deepEqual(findConstructors('tf.layers.dense({units: 1})', 'python'), []);
    assert.deepEqual(findConstructors('nn.Linear(1, 2)', 'typescript'), []);
  });
});

describe('layerConstructors: locating the call', () => {
  const src = [
    'import torch.nn as nn',
    '',
    'class Net(nn.Module):',
    '    def __init__(self):',
    '        super().__init__()',
    '        self.conv = nn.Conv2d(',
    '            in_channels=3,   # RGB (red, green, blue',
    '            out_channels=64,  # ")"',
    '            kernel_size=(3, 3),',
    '            padding=")",',
    '        )',
    '        self.head = nn.Sequential(nn.Flatten(), nn.Linear(28*28, 10))',
    '        """nn.Linear(1, 1) in a docstring ("""',
  ].join('\n');

  it('handles multi-line calls with comments and strings holding parentheses', () => {
    const all = findConstructors(src, 'python');
    assert.deepEqual(all.map((f) => [f.layer, f.params]), [
      ['nn.Conv2d', 1792],
      ['nn.Linear', 7850],
    ]);
    const conv = all[0]!;
    assert.equal(src.slice(conv.start, conv.end).split('\n').length, 6);
    assert.ok(src.slice(conv.start, conv.end).startsWith('nn.Conv2d('));
    assert.ok(src.slice(conv.start, conv.end).endsWith(')'));
  });

  it('finds the call with the cursor on the name or inside the arguments', () => {
    const name = src.indexOf('Conv2d');
    assert.equal(findConstructorAt(src, name, 'python')?.params, 1792);
    assert.equal(findConstructorAt(src, src.indexOf('nn.Conv2d'), 'python')?.params, 1792);
    assert.equal(findConstructorAt(src, src.indexOf('out_channels'), 'python')?.params, 1792);
    assert.equal(findConstructorAt(src, src.indexOf('# RGB') + 3, 'python')?.params, 1792);
    const lastParen = src.indexOf('        )') + 8;
    assert.equal(findConstructorAt(src, lastParen, 'python')?.params, 1792);
    assert.equal(findConstructorAt(src, lastParen + 1, 'python'), null);
  });

  it('returns null outside any call and for calls that are not layers', () => {
    assert.equal(findConstructorAt(src, src.indexOf('self.conv'), 'python'), null);
    assert.equal(findConstructorAt(src, src.indexOf('Flatten'), 'python'), null);
    assert.equal(findConstructorAt(src, src.indexOf('Sequential'), 'python'), null);
    assert.equal(findConstructorAt(src, src.indexOf('docstring'), 'python'), null);
    assert.equal(findConstructorAt('', 0, 'python'), null);
  });

  it('picks the innermost layer call when calls nest', () => {
    const f = findConstructorAt(src, src.indexOf('28*28'), 'python');
    assert.equal(f?.layer, 'nn.Linear');
    assert.equal(f?.params, 7850);
  });

  it('skips an unclosed call while typing and still finds later ones', () => {
    const text = 'a = nn.Linear(784, \nb = nn.Linear(2, 2)';
    assert.deepEqual(findConstructors(text, 'python').map((f) => f.params), [6]);
    assert.equal(findConstructorAt(text, 8, 'python'), null);
  });
});

describe('layerConstructors: alternatives', () => {
  it('nn.Linear(1024, 1024): ranks N/4, N/8 and the break-even rank 511', () => {
    const f = one('nn.Linear(1024, 1024)');
    assert.equal(f.params, 1049600); // torch: 1049600
    // torch: Linear(1024, K, bias=False) + Linear(K, 1024) → 525312, 263168, 1047552.
    assert.deepEqual(f.alternatives, [
      { name: 'rank-256 factorization', params: 525312, formula: '(1024+1024)·256 + 1024', saving: 524288 },
      { name: 'rank-128 factorization', params: 263168, formula: '(1024+1024)·128 + 1024', saving: 786432 },
      { name: 'rank-511 factorization (break-even rank)', params: 1047552, formula: '(1024+1024)·511 + 1024', saving: 2048 },
    ]);
  });

  it('nn.Conv2d(64, 128, 3): depthwise-separable and rank-32 channel factorization', () => {
    const f = one('nn.Conv2d(64, 128, 3)');
    assert.equal(f.params, 73856); // torch: 73856
    // torch: Conv2d(64, 64, 3, groups=64, bias=False) + Conv2d(64, 128, 1) → 8896;
    //        Conv2d(64, 32, 3, bias=False) + Conv2d(32, 128, 1) → 22656.
    assert.deepEqual(f.alternatives, [
      { name: 'depthwise-separable (depthwise k·k·I + pointwise I·O + O bias)', params: 8896, formula: '3·3·64 + 64·128 + 128', saving: 64960 },
      { name: 'rank-32 channel factorization (k·k·I·K conv + K·O pointwise)', params: 22656, formula: '3·3·64·32 + 32·128 + 128', saving: 51200 },
    ]);
  });

  it('Keras Dense and TF.js conv2d get the same alternatives once the input is known', () => {
    assert.deepEqual(one('Dense(1024, input_shape=(1024,))').alternatives.map((a) => a.params), [525312, 263168, 1047552]);
    assert.deepEqual(one('tf.layers.conv2d({filters: 128, kernelSize: 3, inputShape: [8, 8, 64]})', 'javascript').alternatives.map((a) => a.params), [
      8896, 22656,
    ]);
  });

  it('without bias the alternatives carry no bias either', () => {
    assert.deepEqual(one('nn.Linear(1024, 1024, bias=False)').alternatives[0], {
      name: 'rank-256 factorization', params: 524288, formula: '(1024+1024)·256', saving: 524288,
    });
  });

  it('drops alternatives that would not save parameters', () => {
    // 1×1 convolution: depthwise-separable (I + I·O + O) is larger than I·O + O.
    assert.deepEqual(one('nn.Conv2d(64, 128, 1)').alternatives.map((a) => a.name), ['rank-32 channel factorization (k·k·I·K conv + K·O pointwise)']);
    // Linear(2, 2): no rank ≥ 1 is below break-even.
    assert.deepEqual(one('nn.Linear(2, 2)').alternatives, []);
  });

  it('offers none for embeddings, recurrent, grouped, transposed, 1-D convs or unknown counts', () => {
    for (const src of ['nn.Embedding(1000, 64)', 'nn.LSTM(10, 20)', 'nn.GRU(10, 20)', 'nn.Conv2d(32, 32, 3, groups=32)',
      'nn.ConvTranspose2d(64, 128, 3)', 'nn.Conv1d(64, 128, 3)', 'Dense(64)', 'nn.Linear(n, 1024)']) {
      assert.deepEqual(one(src).alternatives, [], src);
    }
  });

  it('every alternative saves and its formula evaluates to its count', () => {
    const src = 'nn.Linear(784, 512)\nnn.Conv2d(3, 64, 3)\nDense(10, input_dim=100)\nnn.Conv2d(16, 16, (5, 3), bias=False)';
    for (const f of findConstructors(src, 'python')) {
      assert.ok(f.alternatives.length > 0, f.layer);
      for (const a of f.alternatives) {
        assert.ok(a.saving > 0);
        assert.equal(a.saving, f.params! - a.params);
        assert.equal(evalFormula(a.formula), a.params, a.formula);
      }
    }
  });
});

describe('layerConstructors: large files', () => {
  it('scans a 5,000-line file', () => {
    const block = [
      'class Block(nn.Module):',
      '    def __init__(self, width):',
      '        super().__init__()',
      '        self.a = nn.Linear(784, 512)  # (',
      '        self.b = nn.Conv2d(',
      '            3, 64, 3)',
      '        self.c = nn.Linear(width, 10)',
      '        s = "nn.Linear(1, 1)"',
      '        return None',
      '',
    ];
    const lines: string[] = [];
    while (lines.length < 5000) lines.push(...block);
    const text = lines.join('\n');
    const all = findConstructors(text, 'python');
    assert.equal(all.length, 1500);
    assert.deepEqual(all.slice(0, 3).map((f) => f.params), [401920, 1792, null]);
    const last = text.lastIndexOf('nn.Conv2d') + 3;
    assert.equal(findConstructorAt(text, last, 'python')?.params, 1792);
  });
});
