import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

/**
 * Writes the example MLP (Dense 256 relu → Dense 128 relu → Dense 10 softmax)
 * again as a TF.js *graph* model: a hand-made GraphDef (Placeholder [-1, 784],
 * Const weights, MatMul/BiasAdd/Relu/Softmax), reusing the layers model's
 * weights.bin byte for byte. Returns the model.json path.
 */
export function mlpAsGraphModel(layersModelJson: string): string {
  const src = JSON.parse(readFileSync(layersModelJson, 'utf8')) as { weightsManifest: { paths: string[]; weights: { name: string; shape: number[]; dtype: string }[] }[] };
  const dir = mkdtempSync(path.join(os.tmpdir(), 'parsimony-graph-'));
  copyFileSync(path.join(path.dirname(layersModelJson), src.weightsManifest[0]!.paths[0]!), path.join(dir, 'weights.bin'));
  const weights = src.weightsManifest[0]!.weights;
  const dim = (shape: number[]) => ({ dim: shape.map((s) => ({ size: String(s) })) });
  const float = { type: 'DT_FLOAT' };
  const nodes: Record<string, unknown>[] = [{ name: 'input', op: 'Placeholder', attr: { dtype: float, shape: { shape: dim([-1, 784]) } } }];
  const names = weights.map((w) => w.name.replace(/\//g, '_'));
  weights.forEach((w, i) => nodes.push({ name: names[i], op: 'Const', attr: { dtype: float, value: { tensor: { dtype: 'DT_FLOAT', tensorShape: dim(w.shape) } } } }));
  let last = 'input';
  for (let l = 0; l < 3; l++) {
    const mm = `dense${l}/MatMul`;
    const ba = `dense${l}/BiasAdd`;
    nodes.push({ name: mm, op: 'MatMul', input: [last, names[2 * l]], attr: { T: float, transpose_a: { b: false }, transpose_b: { b: false } } });
    nodes.push({ name: ba, op: 'BiasAdd', input: [mm, names[2 * l + 1]], attr: { T: float, data_format: { s: Buffer.from('NHWC').toString('base64') } } });
    last = ba;
    if (l < 2) {
      nodes.push({ name: `dense${l}/Relu`, op: 'Relu', input: [ba], attr: { T: float } });
      last = `dense${l}/Relu`;
    }
  }
  nodes.push({ name: 'Identity', op: 'Softmax', input: [last], attr: { T: float } });
  const json = {
    format: 'graph-model',
    generatedBy: 'parsimony test helper',
    convertedBy: null,
    modelTopology: { node: nodes, library: {}, versions: { producer: 1 } },
    weightsManifest: [{ paths: ['weights.bin'], weights: weights.map((w, i) => ({ ...w, name: names[i] })) }],
  };
  const file = path.join(dir, 'model.json');
  writeFileSync(file, JSON.stringify(json));
  return file;
}
