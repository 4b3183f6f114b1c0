"""Writes a large ONNX model with onnx.helper for the analysis bench:
a chain of MatMul + Add layers whose initializers are random float32.

    python3 make_onnx.py <out.onnx> <megabytes> [width]
"""
import sys

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def main():
    out, megabytes = sys.argv[1], float(sys.argv[2])
    width = int(sys.argv[3]) if len(sys.argv) > 3 else 256
    per_layer = (width * width + width) * 4
    layers = max(1, round(megabytes * 1e6 / per_layer))
    rng = np.random.default_rng(1)
    nodes, inits = [], []
    current = 'input'
    for i in range(layers):
        w = (rng.standard_normal((width, width), dtype=np.float32) * 0.05)
        b = (rng.standard_normal((width,), dtype=np.float32) * 0.01)
        inits.append(numpy_helper.from_array(w, f'layer{i}.weight'))
        inits.append(numpy_helper.from_array(b, f'layer{i}.bias'))
        nodes.append(helper.make_node('MatMul', [current, f'layer{i}.weight'], [f'mm{i}'], name=f'matmul{i}'))
        nodes.append(helper.make_node('Add', [f'mm{i}', f'layer{i}.bias'], [f'h{i}'], name=f'add{i}'))
        current = f'h{i}'
    nodes[-1].output[0] = 'output'
    graph = helper.make_graph(
        nodes, 'bench_large', [helper.make_tensor_value_info('input', TensorProto.FLOAT, ['N', width])],
        [helper.make_tensor_value_info('output', TensorProto.FLOAT, ['N', width])], inits)
    model = helper.make_model(graph, producer_name='parsimony-bench', opset_imports=[helper.make_opsetid('', 17)])
    onnx.save(model, out)
    print('{"layers": %d, "initializers": %d}' % (layers, len(inits)))


if __name__ == '__main__':
    main()
