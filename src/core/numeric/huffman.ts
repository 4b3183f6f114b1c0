/**
 * Huffman code lengths for symbol counts, and the exact encoded size. Deep
 * Compression codes cluster indices this way; the size here is the sum of
 * code lengths, which is what an encoder writes (plus its table).
 */
export function huffmanCodeLengths(counts: ArrayLike<number>): Uint8Array {
  const n = counts.length;
  const lengths = new Uint8Array(n);
  const used: number[] = [];
  for (let i = 0; i < n; i++) if (counts[i]! > 0) used.push(i);
  if (used.length === 0) return lengths;
  if (used.length === 1) {
    lengths[used[0]!] = 1;
    return lengths;
  }
  // Nodes: leaves 0..n-1, internal nodes after; a binary heap keyed by weight (ties by id, deterministic).
  const weight: number[] = [];
  const parent: number[] = [];
  for (let i = 0; i < n; i++) {
    weight.push(counts[i]!);
    parent.push(-1);
  }
  const heap: number[] = [];
  const less = (a: number, b: number) => weight[a]! < weight[b]! || (weight[a] === weight[b] && a < b);
  const push = (x: number) => {
    heap.push(x);
    let i = heap.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (!less(heap[i]!, heap[p]!)) break;
      [heap[i], heap[p]] = [heap[p]!, heap[i]!];
      i = p;
    }
  };
  const pop = (): number => {
    const top = heap[0]!;
    const last = heap.pop()!;
    if (heap.length) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < heap.length && less(heap[l]!, heap[m]!)) m = l;
        if (r < heap.length && less(heap[r]!, heap[m]!)) m = r;
        if (m === i) break;
        [heap[i], heap[m]] = [heap[m]!, heap[i]!];
        i = m;
      }
    }
    return top;
  };
  for (const i of used) push(i);
  while (heap.length > 1) {
    const a = pop();
    const b = pop();
    const node = weight.length;
    weight.push(weight[a]! + weight[b]!);
    parent.push(-1);
    parent[a] = node;
    parent[b] = node;
    push(node);
  }
  for (const i of used) {
    let depth = 0;
    for (let x = i; parent[x]! >= 0; x = parent[x]!) depth++;
    lengths[i] = depth;
  }
  return lengths;
}

export interface HuffmanSize {
  /** Bits of the coded symbols: Σ count·length. */
  bits: number;
  /** Bytes of the coded stream, rounded up. */
  bytes: number;
  lengths: Uint8Array;
  /** Average bits per symbol. */
  bitsPerSymbol: number;
}

export function huffmanSize(counts: ArrayLike<number>): HuffmanSize {
  const lengths = huffmanCodeLengths(counts);
  let bits = 0;
  let total = 0;
  for (let i = 0; i < counts.length; i++) {
    bits += counts[i]! * lengths[i]!;
    total += counts[i]!;
  }
  return { bits, bytes: Math.ceil(bits / 8), lengths, bitsPerSymbol: total ? bits / total : 0 };
}

/** Canonical codes from lengths (for a real encoder): code values per symbol. */
export function canonicalCodes(lengths: Uint8Array): Uint32Array {
  const codes = new Uint32Array(lengths.length);
  const symbols = Array.from(lengths.keys()).filter((i) => lengths[i]! > 0).sort((a, b) => lengths[a]! - lengths[b]! || a - b);
  let code = 0;
  let prevLen = 0;
  for (const s of symbols) {
    const len = lengths[s]!;
    code <<= len - prevLen;
    codes[s] = code;
    code++;
    prevLen = len;
  }
  return codes;
}

/**
 * How often each symbol occurs in `symbols` (values < `alphabet`), as the
 * counts huffmanSize takes. Four interleaved tables keep consecutive equal
 * symbols from stalling on the same counter; they are summed at the end.
 */
export function symbolCounts(symbols: Uint8Array | Uint16Array, alphabet: number): Float64Array {
  const t0 = new Uint32Array(alphabet);
  const t1 = new Uint32Array(alphabet);
  const t2 = new Uint32Array(alphabet);
  const t3 = new Uint32Array(alphabet);
  const n = symbols.length;
  const end = n - (n % 4);
  for (let i = 0; i < end; i += 4) {
    t0[symbols[i]!]!++;
    t1[symbols[i + 1]!]!++;
    t2[symbols[i + 2]!]!++;
    t3[symbols[i + 3]!]!++;
  }
  for (let i = end; i < n; i++) t0[symbols[i]!]!++;
  const counts = new Float64Array(alphabet);
  for (let s = 0; s < alphabet; s++) counts[s] = t0[s]! + t1[s]! + t2[s]! + t3[s]!;
  return counts;
}
