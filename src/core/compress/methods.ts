import { binarize } from './binarize';
import { cluster } from './cluster';
import { huffman } from './huffman';
import { lowRank } from './lowRank';
import { prune } from './prune';
import { quantize } from './quantize';
import { structuredPrune } from './structuredPrune';
import type { CompressionMethod, MethodId } from './types';

export const METHODS: Record<MethodId, CompressionMethod> = {
  prune,
  'structured-prune': structuredPrune,
  quantize,
  cluster,
  huffman,
  binarize,
  'low-rank': lowRank,
};
