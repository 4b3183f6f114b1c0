import type { GraphRecord, NodeRecord } from './proto';
import type { IntValues } from './shapes';

/**
 * A constant tensor that the file describes but does not store: the output of a
 * ConstantOfShape node whose shape input is itself a constant. Its shape and dtype
 * are fixed by the file; every element is the same fill value.
 *
 * Why this matters: weight-stripped models keep a real architecture but replace
 * every weight by `ConstantOfShape(shape_initializer)` (onnx's own "light" test
 * models: AlexNet, ResNet-50, VGG-19, … from the model zoo). Counting only stored
 * tensors would report AlexNet with 0 parameters and leave every Conv without a
 * weight shape, hence without MACs. Optimising exporters fold the same pattern into
 * an initializer, so counting it keeps both spellings of one model equal.
 */
export interface GeneratedConstant {
  node: NodeRecord;
  /** The node's output name (the value the weight consumer reads). */
  valueName: string;
  dims: number[];
  /** ONNX data type code of the fill value (FLOAT when the `value` attribute is absent). */
  dataType: number;
}

const ONNX_FLOAT = 1;
/** A shape vector longer than this is not a weight shape. */
const MAX_RANK = 8;

/**
 * The ConstantOfShape nodes of `graph` whose shape input has known values.
 * `intValues` returns the values of a constant integer tensor visible in this
 * graph (or null when the name is not one).
 */
export function generatedConstants(graph: GraphRecord, intValues: (name: string) => IntValues | null): GeneratedConstant[] {
  const out: GeneratedConstant[] = [];
  for (let i = 0; i < graph.nodes.length; i++) {
    const node = graph.nodes[i]!;
    if (node.opType !== 'ConstantOfShape' || (node.domain && node.domain !== 'ai.onnx')) continue;
    const input = node.inputs[0];
    const valueName = node.outputs[0];
    if (!input || !valueName) continue;
    const values = intValues(input);
    if (!values || values.length > MAX_RANK || !values.every((d): d is number => d !== null && Number.isSafeInteger(d) && d >= 0)) continue;
    const fill = node.attributes.find((a) => a.name === 'value')?.t;
    out.push({ node, valueName, dims: values, dataType: fill?.dataType ?? ONNX_FLOAT });
  }
  return out;
}
