import { ModelFormatError } from '../../errors';
import { PickleGlobal, PickleObject } from './unpickler';
import { TorchTensor } from './torchObjects';

/**
 * Walks an unpickled checkpoint and names every tensor by its path:
 * `{'model': {'fc1.weight': t}}` → `model.fc1.weight`. Optimizer state
 * (a dict with 'state' and 'param_groups') is marked, because Adam moments are
 * copies-in-shape of the weights, not parameters of the model.
 */
export interface FoundTensor {
  name: string;
  tensor: TorchTensor;
  inOptimizer: boolean;
}

export interface Collected {
  tensors: FoundTensor[];
  /** Plain top-level values (epoch, step, best accuracy …) for the metadata. */
  scalars: Record<string, string>;
  /** Module classes met in a whole-model pickle. */
  moduleClasses: Set<string>;
}

/** Attribute names of nn.Module state that add nothing to a parameter name. */
const MODULE_CONTAINERS = new Set(['_parameters', '_buffers', '_modules']);

export function collectTensors(root: unknown, maxDepth: number): Collected {
  const out: Collected = { tensors: [], scalars: {}, moduleClasses: new Set() };
  const visited = new Set<object>();
  const names = new Set<string>();

  const emit = (path: string[], tensor: TorchTensor, inOptimizer: boolean) => {
    let name = path.join('.') || 'tensor';
    for (let i = 2; names.has(name); i++) name = `${path.join('.')}#${i}`;
    names.add(name);
    out.tensors.push({ name, tensor, inOptimizer });
  };

  const walk = (value: unknown, path: string[], depth: number, inOptimizer: boolean): void => {
    if (value instanceof TorchTensor) return emit(path, value, inOptimizer);
    if (value === null || typeof value !== 'object' || value instanceof Uint8Array || value instanceof PickleGlobal) return;
    if (visited.has(value)) return;
    visited.add(value);
    if (depth > maxDepth) {
      throw new ModelFormatError('too-large', `checkpoint nests deeper than ${maxDepth} levels at '${path.join('.')}'`);
    }
    if (value instanceof Map) {
      const optimizer = inOptimizer || (value.has('state') && value.has('param_groups'));
      for (const [key, child] of value) {
        const segment = keySegment(key);
        if (segment !== undefined) walk(child, [...path, segment], depth + 1, optimizer);
      }
    } else if (Array.isArray(value)) {
      value.forEach((child, i) => walk(child, [...path, String(i)], depth + 1, inOptimizer));
    } else if (value instanceof PickleObject) {
      const cls = value.callee.qualifiedName;
      const isModule = value.callee.module.startsWith('torch.nn.modules.') || value.callee.module.startsWith('__torch__');
      if (isModule) out.moduleClasses.add(cls);
      const state = value.state instanceof Map ? value.state : undefined;
      if (state) {
        for (const [key, child] of state) {
          const segment = keySegment(key);
          if (segment === undefined) continue;
          walk(child, isModule && MODULE_CONTAINERS.has(segment) ? path : [...path, segment], depth + 1, inOptimizer);
        }
      }
      if (value.dictItems) walk(value.dictItems, path, depth + 1, inOptimizer);
      if (value.listItems) walk(value.listItems, path, depth + 1, inOptimizer);
    }
  };

  if (root instanceof Map) {
    for (const [key, child] of root) {
      if (typeof key === 'string' && ['number', 'string', 'boolean'].includes(typeof child)) out.scalars[key] = String(child).slice(0, 200);
    }
  }
  walk(root, [], 0, false);
  return out;
}

function keySegment(key: unknown): string | undefined {
  if (typeof key === 'string') return key;
  if (typeof key === 'number' || typeof key === 'bigint' || typeof key === 'boolean') return String(key);
  return undefined;
}
