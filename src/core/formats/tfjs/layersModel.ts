import {
  analyzeKerasTopology,
  flattenLayers,
  isNonTrainableWeightName,
  kerasVariableNames,
  WeightOwnerIndex,
  type KerasLayerNode,
} from '../../analysis/kerasLayers';
import type { FileAccess } from '../../io/fileAccess';
import type { LayerInfo, TensorInfo } from '../../model';
import { tensorInfo, type PlacedWeight } from './manifest';

/**
 * Maps TF.js/Keras weight names (`dense_1/kernel`, `model/dense/kernel`,
 * `lstm/lstm_cell/kernel`) to the layers of a Keras topology: a weight belongs
 * to the deepest path component that names a layer.
 */
export function layersFromTopology(
  topology: unknown,
  weights: PlacedWeight[],
  fs: FileAccess,
  maxDepth: number,
): { layers: LayerInfo[]; warnings: string[]; inputShape: (number | null)[] | null } {
  const topo = analyzeKerasTopology(topology, maxDepth);
  const leaves = flattenLayers(topo.layers);
  const tensorsByLayer = new Map<KerasLayerNode, TensorInfo[]>(leaves.map((l) => [l, []]));
  const owners = new WeightOwnerIndex(leaves);
  const orphans = new Map<string, TensorInfo[]>();
  const warnings = [...topo.warnings];

  for (const w of weights) {
    const name = w.spec.name.replace(/:\d+$/, '');
    const layer = owners.ownerOf(name);
    const lastPart = name.slice(name.lastIndexOf('/') + 1);
    let trainable = layer ? layer.trainable : true;
    if (isNonTrainableWeightName(name)) trainable = false;
    if (layer) {
      const names = kerasVariableNames(layer.className, layer.config);
      if (names?.some((v) => v.name === lastPart && !v.trainable)) trainable = false;
    }
    const info = tensorInfo(fs, w, w.spec.dtype !== 'string', trainable);
    if (layer) tensorsByLayer.get(layer)!.push(info);
    else {
      const prefix = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : name;
      orphans.set(prefix, [...(orphans.get(prefix) ?? []), info]);
    }
  }

  const layers: LayerInfo[] = leaves.map((l) => {
    const info: LayerInfo = {
      name: l.qualifiedName,
      type: l.className,
      tensors: tensorsByLayer.get(l)!,
      outputShape: l.outputShape,
      macs: l.macs,
      inputs: l.inbound,
      config: l.config,
    };
    if (!l.known) info.notes = [`unknown layer class '${l.className}': its weights are counted, its compute is not`];
    if (l.className === 'Lambda') info.notes = ['Lambda layer: reported, never run'];
    return info;
  });
  for (const [prefix, tensors] of orphans) {
    warnings.push(`weights under '${prefix}' match no layer in the topology; listed as a separate group`);
    layers.push({ name: prefix, type: 'tensor group', tensors, outputShape: null, macs: null });
  }
  return { layers, warnings, inputShape: topo.inputShape };
}
